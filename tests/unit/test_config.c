/* Unit tests for the strict INI parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "omasec/config.h"
#include "omasec/error.h"

static int parse(const char *text, struct osec_config **cfg)
{
    return osec_config_parse("t.conf", text, strlen(text), cfg);
}

static void parses_sections_and_types(void **state)
{
    struct osec_config *cfg;
    int64_t n;
    bool b;
    int e;
    static const char *const modes[] = { "required", "optional", "off", NULL };
    (void)state;

    assert_int_equal(parse("# top\nlog_level = debug\n\n[cpns-server]\n"
                           "listen = 127.0.0.1:7443 ; not a comment\n"
                           "  workers=4\r\nmd5 = yes\ntls = \"optional\"\n[empty]\n", &cfg), 0);
    assert_string_equal(osec_config_get(cfg, "", "log_level"), "debug");
    assert_string_equal(osec_config_get(cfg, "cpns-server", "listen"),
                        "127.0.0.1:7443 ; not a comment");
    assert_null(osec_config_get(cfg, "cpns-server", "nope"));
    assert_int_equal(osec_config_get_int(cfg, "cpns-server", "workers", 1, 64, 2, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(osec_config_get_int(cfg, "cpns-server", "absent", 1, 64, 2, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(osec_config_get_bool(cfg, "cpns-server", "md5", false, &b), 0);
    assert_true(b);
    assert_int_equal(osec_config_get_enum(cfg, "cpns-server", "tls", modes, 0, &e), 0);
    assert_int_equal(e, 1);
    assert_int_equal(osec_config_section_count(cfg), 2);
    assert_string_equal(osec_config_section_name(cfg, 1), "empty");
    osec_config_free(&cfg);
    assert_null(cfg);
}

static void expect_error(const char *text, const char *needle)
{
    struct osec_config *cfg = (struct osec_config *)1;

    assert_int_equal(parse(text, &cfg), OSEC_ECONFIG);
    assert_null(cfg);
    if (!strstr(osec_error_msg(), needle))
        fail_msg("message '%s' lacks '%s'", osec_error_msg(), needle);
}

static void rejects_bad_files_with_line(void **state)
{
    (void)state;
    expect_error("a = 1\na = 2\n", "t.conf:2: duplicate key 'a'");
    expect_error("[x]\n[x]\n", "t.conf:2: duplicate section");
    expect_error("[x\n", "t.conf:1: expected ']'");
    expect_error("\n\njust words\n", "t.conf:3: expected 'key = value'");
    expect_error("k\x01y = 1\n", "t.conf:1: control character");
    expect_error("b@d = 1\n", "bad character in key");
    expect_error("k = \"open\n", "unterminated quoted value");
    expect_error(" = v\n", "bad key length");
    expect_error("[]\n", "bad section name length");
}

static void typed_getters_reject_bad_values(void **state)
{
    struct osec_config *cfg;
    int64_t n;
    bool b;
    static const char *const allowed[] = { "workers", NULL };
    (void)state;

    assert_int_equal(parse("[s]\nworkers = 99\nflag = maybe\nother = 1\n", &cfg), 0);
    assert_int_equal(osec_config_get_int(cfg, "s", "workers", 1, 64, 2, &n), OSEC_ECONFIG);
    assert_non_null(strstr(osec_error_msg(), "t.conf:2: workers"));
    assert_int_equal(osec_config_get_bool(cfg, "s", "flag", false, &b), OSEC_ECONFIG);
    assert_int_equal(osec_config_check_keys(cfg, "s", allowed), OSEC_ECONFIG);
    assert_non_null(strstr(osec_error_msg(), "unknown key 'flag'"));
    osec_config_free(&cfg);
}

static void nul_and_size_limits(void **state)
{
    struct osec_config *cfg;
    static char big[OSEC_CONFIG_MAX_LINE + 16];
    (void)state;

    assert_int_equal(osec_config_parse("t.conf", "a=1\0b=2", 7, &cfg), OSEC_ECONFIG);
    memset(big, 'x', sizeof(big) - 1);
    big[0] = 'k';
    big[1] = '=';
    big[sizeof(big) - 1] = '\0';
    expect_error(big, "line too long");
    assert_int_equal(osec_config_load("/nonexistent/omasec.conf", &cfg), OSEC_ECONFIG);
    assert_non_null(strstr(osec_error_msg(), "/nonexistent/omasec.conf"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_sections_and_types),
        cmocka_unit_test(rejects_bad_files_with_line),
        cmocka_unit_test(typed_getters_reject_bad_values),
        cmocka_unit_test(nul_and_size_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
