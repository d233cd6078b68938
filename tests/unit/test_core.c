/* Unit tests for lib/core: buffers, cursors, errors, strings, time, rand. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "omasec/buf.h"
#include "omasec/error.h"
#include "omasec/log.h"
#include "omasec/util.h"

static void cursor_reads_bounded(void **state)
{
    static const uint8_t in[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07 };
    struct osec_cursor c;
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    (void)state;

    osec_cursor_init(&c, in, sizeof(in));
    assert_int_equal(osec_cursor_read_u8(&c, &u8), 0);
    assert_int_equal(u8, 1);
    assert_int_equal(osec_cursor_read_u16be(&c, &u16), 0);
    assert_int_equal(u16, 0x0203);
    assert_int_equal(osec_cursor_read_u32be(&c, &u32), 0);
    assert_int_equal(u32, 0x04050607);
    assert_true(osec_cursor_eof(&c));
    assert_int_equal(osec_cursor_read_u8(&c, &u8), OSEC_EBOUNDS);
    assert_int_equal(osec_error_code(), OSEC_EBOUNDS);
    osec_cursor_init(&c, in, 3);
    assert_int_equal(osec_cursor_read_u64be(&c, &u64), OSEC_EBOUNDS);
    assert_int_equal(c.pos, 0); /* a failed read consumes nothing */
}

static void cursor_until_and_eat(void **state)
{
    const char *in = "key=value;rest";
    struct osec_cursor c;
    struct osec_slice s;
    (void)state;

    osec_cursor_init(&c, in, strlen(in));
    assert_int_equal(osec_cursor_until(&c, '=', &s), 0);
    assert_true(osec_slice_eq_cstr(s, "key"));
    assert_true(osec_cursor_eat(&c, '='));
    assert_false(osec_cursor_eat(&c, '='));
    assert_int_equal(osec_cursor_until(&c, ';', &s), 0);
    assert_true(osec_slice_eq_cstr(s, "value"));
    assert_int_equal(osec_cursor_until(&c, '#', &s), OSEC_EPARSE);
}

static void buf_enforces_max(void **state)
{
    struct osec_buf b;
    (void)state;

    osec_buf_init(&b, 8);
    assert_int_equal(osec_buf_append_str(&b, "12345678"), 0);
    assert_string_equal(osec_buf_cstr(&b), "12345678");
    assert_int_equal(osec_buf_putc(&b, '9'), OSEC_EBOUNDS);
    assert_int_equal(b.len, 8);
    osec_buf_reset(&b);
    assert_int_equal(osec_buf_appendf(&b, "%d-%s", 42, "ab"), 0);
    assert_string_equal(osec_buf_cstr(&b), "42-ab");
    assert_int_equal(osec_buf_appendf(&b, "%s", "toolong"), OSEC_EBOUNDS);
    assert_string_equal(osec_buf_cstr(&b), "42-ab");
    osec_buf_free(&b);
    assert_null(b.data);
}

static void buf_binary_and_hex(void **state)
{
    struct osec_buf b;
    uint8_t out[4];
    (void)state;

    osec_buf_init_secret(&b, 1024);
    assert_int_equal(osec_buf_append_u16be(&b, 0xa1b2), 0);
    assert_int_equal(osec_buf_append_u32be(&b, 0xdeadbeef), 0);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, "\xa1\xb2\xde\xad\xbe\xef", 6);
    osec_buf_reset(&b);
    assert_int_equal(osec_buf_append_hex(&b, "\x00\xff\x10", 3), 0);
    assert_string_equal(osec_buf_cstr(&b), "00ff10");
    assert_int_equal(osec_hex_decode(osec_slice_cstr("00FF10ab"), out, 4), 0);
    assert_memory_equal(out, "\x00\xff\x10\xab", 4);
    assert_int_equal(osec_hex_decode(osec_slice_cstr("0g"), out, 1), OSEC_EPARSE);
    assert_int_equal(osec_hex_decode(osec_slice_cstr("000"), out, 1), OSEC_EPARSE);
    osec_buf_free(&b);
}

static void numbers_are_strict(void **state)
{
    uint64_t v;
    int64_t i;
    (void)state;

    assert_int_equal(osec_slice_to_u64(osec_slice_cstr("12345"), 99999, &v), 0);
    assert_int_equal(v, 12345);
    assert_int_equal(osec_slice_to_u64(osec_slice_cstr("100000"), 99999, &v), OSEC_EPARSE);
    assert_int_equal(osec_slice_to_u64(osec_slice_cstr(""), 10, &v), OSEC_EPARSE);
    assert_int_equal(osec_slice_to_u64(osec_slice_cstr(" 1"), 10, &v), OSEC_EPARSE);
    assert_int_equal(osec_slice_to_u64(osec_slice_cstr("+1"), 10, &v), OSEC_EPARSE);
    assert_int_equal(osec_slice_to_u64(osec_slice_cstr("18446744073709551616"), UINT64_MAX, &v),
                     OSEC_EPARSE);
    assert_int_equal(osec_slice_to_u64(osec_slice_cstr("18446744073709551615"), UINT64_MAX, &v),
                     0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(osec_parse_i64("-5", -10, 10, &i), 0);
    assert_int_equal(i, -5);
    assert_int_equal(osec_parse_i64("11", -10, 10, &i), OSEC_EPARSE);
    assert_int_equal(osec_parse_i64("-9223372036854775808", INT64_MIN, 0, &i), 0);
    assert_true(i == INT64_MIN);
    assert_int_equal(osec_parse_i64("12abc", 0, 100, &i), OSEC_EPARSE);
}

static void strings_are_bounded(void **state)
{
    char small[4];
    (void)state;

    assert_int_equal(osec_strlcpy(small, "abc", sizeof(small)), 0);
    assert_string_equal(small, "abc");
    assert_int_equal(osec_strlcpy(small, "abcd", sizeof(small)), OSEC_EBOUNDS);
    assert_int_equal(osec_snprintf(small, sizeof(small), "%d", 123), 0);
    assert_int_equal(osec_snprintf(small, sizeof(small), "%d", 1234), OSEC_EBOUNDS);
    assert_int_equal(osec_slice_to_cstr(osec_slice_make("a\0b", 3), small, sizeof(small)),
                     OSEC_EPARSE);
    assert_true(osec_slice_eq_ci(osec_slice_cstr("SHA-256"), "sha-256"));
    assert_false(osec_slice_eq_ci(osec_slice_cstr("SHA-256-sess"), "sha-256"));
    assert_true(osec_slice_eq_cstr(osec_slice_trim(osec_slice_cstr(" \tx y\t ")), "x y"));
}

static void errors_have_names_and_location(void **state)
{
    (void)state;
    assert_string_equal(osec_strerror(OSEC_EAUTH), "EAUTH");
    assert_string_equal(osec_strerror(OSEC_EINTERNAL), "EINTERNAL");
    assert_string_equal(osec_strerror(-1000), "EUNKNOWN");
    assert_int_equal(osec_error_set(OSEC_EPOLICY, "x/y.c", 7, "no %s", "md5"), OSEC_EPOLICY);
    assert_string_equal(osec_error_msg(), "no md5");
    assert_string_equal(osec_error_where(), "y.c:7");
    osec_error_clear();
    assert_int_equal(osec_error_code(), 0);
}

static void time_and_rand(void **state)
{
    char ts[32];
    uint8_t a[32] = { 0 }, b[32] = { 0 };
    uint32_t u;
    (void)state;

    assert_int_equal(osec_time_fmt(0, ts, sizeof(ts)), 0);
    assert_string_equal(ts, "1970-01-01T00:00:00Z");
    assert_int_equal(osec_time_fmt(0, ts, 5), OSEC_EBOUNDS);
    assert_true(osec_time_now() > 1700000000);
    assert_int_equal(osec_rand_bytes(a, sizeof(a)), 0);
    assert_int_equal(osec_rand_bytes(b, sizeof(b)), 0);
    assert_memory_not_equal(a, b, sizeof(a));
    for (int i = 0; i < 100; i++) {
        assert_int_equal(osec_rand_uniform(7, &u), 0);
        assert_true(u < 7);
    }
    assert_int_equal(osec_rand_uniform(0, &u), OSEC_EINVAL);
}

static void list_items(void **state)
{
    const char *in = " a, b ,,c ";
    struct osec_cursor c;
    struct osec_slice it;
    const char *want[] = { "a", "b", "", "c" };
    size_t n = 0;
    (void)state;

    osec_cursor_init(&c, in, strlen(in));
    while (osec_cursor_next_item(&c, ',', &it)) {
        assert_true(n < 4);
        assert_true(osec_slice_eq_cstr(it, want[n]));
        n++;
    }
    assert_int_equal(n, 4);
    osec_cursor_init(&c, "", 0);
    assert_false(osec_cursor_next_item(&c, ',', &it));
}

static void log_levels_parse(void **state)
{
    enum osec_log_level l;
    (void)state;
    assert_int_equal(osec_log_parse_level("warn", &l), 0);
    assert_int_equal(l, OSEC_LOG_WARN);
    assert_int_not_equal(osec_log_parse_level("loud", &l), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cursor_reads_bounded),
        cmocka_unit_test(cursor_until_and_eat),
        cmocka_unit_test(buf_enforces_max),
        cmocka_unit_test(buf_binary_and_hex),
        cmocka_unit_test(numbers_are_strict),
        cmocka_unit_test(strings_are_bounded),
        cmocka_unit_test(errors_have_names_and_location),
        cmocka_unit_test(time_and_rand),
        cmocka_unit_test(log_levels_parse),
        cmocka_unit_test(list_items),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
