/* Unit tests for lib/crypto/seal.c: master key file and sealed values. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "omasec/buf.h"
#include "omasec/crypto.h"
#include "omasec/error.h"
#include "omasec/seal.h"

struct ctx {
    char dir[64];
    char key[128];
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    snprintf(c->dir, sizeof(c->dir), "/tmp/osec-seal-XXXXXX");
    assert_non_null(mkdtemp(c->dir));
    snprintf(c->key, sizeof(c->key), "%s/master.key", c->dir);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    DIR *d = opendir(c->dir);
    struct dirent *e;
    char p[512];

    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", c->dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(c->dir);
    free(c);
    return 0;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static size_t read_text(const char *path, char *buf, size_t max)
{
    FILE *f = fopen(path, "r");
    size_t n;

    assert_non_null(f);
    n = fread(buf, 1, max - 1, f);
    buf[n] = '\0';
    fclose(f);
    return n;
}

static size_t count_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void create_and_load(const char *path, struct osec_master **m)
{
    assert_int_equal(osec_master_create(path), 0);
    assert_int_equal(osec_master_load(path, m), 0);
    assert_non_null(*m);
}

static void seal_roundtrip(void **state)
{
    struct ctx *c = *state;
    struct osec_master *m = NULL;
    struct osec_buf s1 = OSEC_BUF_INIT(1024), s2 = OSEC_BUF_INIT(1024), pt;
    const char *secret = "the EUKey of urn:dev:watch-1";
    struct stat st;
    char text[256];
    uint32_t v = 0;

    create_and_load(c->key, &m);
    assert_int_equal(stat(c->key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(read_text(c->key, text, sizeof(text)), 2 + 64 + 1);
    assert_true(strncmp(text, "1 ", 2) == 0 && text[66] == '\n');
    assert_int_equal(osec_master_current_version(m), 1);

    assert_int_equal(osec_seal(m, "eukey", (const uint8_t *)"dev1", 4,
                               (const uint8_t *)secret, strlen(secret), &s1), 0);
    assert_int_equal(s1.len, OSEC_SEAL_OVERHEAD + strlen(secret));
    assert_memory_equal(s1.data, "OS\x01\x00\x00\x00\x01\x01", 8);
    assert_int_equal(osec_sealed_version(s1.data, s1.len, &v), 0);
    assert_int_equal(v, 1);
    /* a fresh nonce every time */
    assert_int_equal(osec_seal(m, "eukey", (const uint8_t *)"dev1", 4,
                               (const uint8_t *)secret, strlen(secret), &s2), 0);
    assert_memory_not_equal(s1.data, s2.data, s1.len);

    osec_buf_init_secret(&pt, 1024);
    assert_int_equal(osec_unseal(m, "eukey", (const uint8_t *)"dev1", 4, s1.data, s1.len,
                                 &pt), 0);
    assert_string_equal(osec_buf_cstr(&pt), secret);
    /* empty plaintext, no aad */
    osec_buf_reset(&s1);
    osec_buf_reset(&pt);
    assert_int_equal(osec_seal(m, "x", NULL, 0, NULL, 0, &s1), 0);
    assert_int_equal(s1.len, OSEC_SEAL_OVERHEAD);
    assert_int_equal(osec_unseal(m, "x", NULL, 0, s1.data, s1.len, &pt), 0);
    assert_int_equal(pt.len, 0);

    osec_buf_free(&s1);
    osec_buf_free(&s2);
    osec_buf_free(&pt);
    osec_master_free(&m);
    assert_null(m);
    osec_master_free(&m); /* idempotent */
}

static void seal_binds_purpose_and_aad(void **state)
{
    struct ctx *c = *state;
    struct osec_master *m = NULL, *other = NULL;
    struct osec_buf s = OSEC_BUF_INIT(1024), pt = OSEC_BUF_INIT(1024);
    uint8_t zero[OSEC_KEY_LEN] = { 0 };

    create_and_load(c->key, &m);
    assert_int_equal(osec_seal(m, "eukey", (const uint8_t *)"aad", 3,
                               (const uint8_t *)"k", 1, &s), 0);
    assert_int_equal(osec_buf_append_str(&pt, "keep"), 0);
    assert_int_equal(osec_unseal(m, "ha1", (const uint8_t *)"aad", 3, s.data, s.len, &pt),
                     OSEC_EINTEGRITY);
    assert_int_equal(osec_unseal(m, "eukey", (const uint8_t *)"aae", 3, s.data, s.len, &pt),
                     OSEC_EINTEGRITY);
    assert_int_equal(osec_unseal(m, "eukey", (const uint8_t *)"aa", 2, s.data, s.len, &pt),
                     OSEC_EINTEGRITY);
    assert_int_equal(osec_unseal(m, "eukey", NULL, 0, s.data, s.len, &pt), OSEC_EINTEGRITY);
    /* purpose and aad are length-delimited: moving a byte between them fails */
    assert_int_equal(osec_unseal(m, "eukeya", (const uint8_t *)"ad", 2, s.data, s.len, &pt),
                     OSEC_EINTEGRITY);
    assert_string_equal(osec_buf_cstr(&pt), "keep");
    /* another master key with the same version number */
    assert_int_equal(osec_master_from_bytes(zero, sizeof(zero), 1, &other), 0);
    assert_int_equal(osec_unseal(other, "eukey", (const uint8_t *)"aad", 3, s.data, s.len,
                                 &pt), OSEC_EINTEGRITY);
    /* bad purposes are caller bugs */
    assert_int_equal(osec_seal(m, "", NULL, 0, (const uint8_t *)"k", 1, &s), OSEC_EINVAL);
    assert_int_equal(osec_unseal(m, "eukey", (const uint8_t *)"aad", 3, s.data, s.len, &pt),
                     0);
    assert_string_equal(osec_buf_cstr(&pt), "keepk");
    osec_master_free(&other);
    osec_master_free(&m);
    osec_buf_free(&s);
    osec_buf_free(&pt);
}

static void seal_every_bit_flip_rejected(void **state)
{
    uint8_t key[OSEC_KEY_LEN];
    struct osec_master *m = NULL;
    struct osec_buf s = OSEC_BUF_INIT(256), pt = OSEC_BUF_INIT(256);
    (void)state;

    memset(key, 0x5a, sizeof(key));
    assert_int_equal(osec_master_from_bytes(key, sizeof(key), 7, &m), 0);
    assert_int_equal(osec_seal(m, "msg", (const uint8_t *)"a", 1,
                               (const uint8_t *)"0123456789abcdef", 16, &s), 0);
    for (size_t i = 0; i < s.len * 8; i++) {
        s.data[i / 8] ^= (uint8_t)(1u << (i % 8));
        if (osec_unseal(m, "msg", (const uint8_t *)"a", 1, s.data, s.len, &pt) !=
            OSEC_EINTEGRITY)
            fail_msg("bit %zu flip not rejected", i);
        s.data[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    for (size_t n = 0; n < s.len; n++)
        assert_int_equal(osec_unseal(m, "msg", (const uint8_t *)"a", 1, s.data, n, &pt),
                         OSEC_EINTEGRITY);
    assert_int_equal(pt.len, 0);
    assert_int_equal(osec_unseal(m, "msg", (const uint8_t *)"a", 1, s.data, s.len, &pt), 0);
    assert_int_equal(pt.len, 16);
    assert_int_equal(osec_sealed_version(s.data, 5, &(uint32_t){ 0 }), OSEC_EINTEGRITY);
    osec_master_free(&m);
    osec_buf_free(&s);
    osec_buf_free(&pt);
}

/* The documented layout, rebuilt from primitives: a second implementation
 * must be able to open our values (and we theirs). */
static void seal_layout_matches_doc(void **state)
{
    static const char purpose[] = "eukey";
    uint8_t mk[OSEC_KEY_LEN], pk[OSEC_KEY_LEN], pk2[OSEC_KEY_LEN], sealed[64], ad[64];
    struct osec_master *m = NULL;
    struct osec_buf pt = OSEC_BUF_INIT(64);
    size_t adl = 0;
    (void)state;

    for (size_t i = 0; i < sizeof(mk); i++)
        mk[i] = (uint8_t)i;
    assert_int_equal(osec_master_from_bytes(mk, sizeof(mk), 3, &m), 0);
    assert_int_equal(osec_hkdf_sha256(NULL, 0, mk, sizeof(mk),
                                      (const uint8_t *)"omasec/v1/eukey", 15, pk, sizeof(pk)),
                     0);
    assert_int_equal(osec_master_derive(m, purpose, pk2), 0);
    assert_memory_equal(pk, pk2, sizeof(pk));

    memcpy(sealed, "OS\x01\x00\x00\x00\x03\x02", 8); /* v3, ChaCha20-Poly1305 */
    memset(sealed + 8, 0x11, OSEC_AEAD_NONCE_LEN);
    memcpy(ad, sealed, 20);
    adl = 20;
    ad[adl++] = 0;
    ad[adl++] = 5;
    memcpy(ad + adl, purpose, 5);
    adl += 5;
    memcpy(ad + adl, "ctx", 3);
    adl += 3;
    assert_int_equal(osec_aead_seal(OSEC_AEAD_CHACHA20POLY1305, pk, sealed + 8, ad, adl,
                                    (const uint8_t *)"hello", 5, sealed + 20), 0);
    assert_int_equal(osec_unseal(m, purpose, (const uint8_t *)"ctx", 3, sealed,
                                 20 + 5 + OSEC_AEAD_TAG_LEN, &pt), 0);
    assert_string_equal(osec_buf_cstr(&pt), "hello");
    osec_master_free(&m);
    osec_buf_free(&pt);
}

static void load_refuses_unsafe_files(void **state)
{
    struct ctx *c = *state;
    struct osec_master *m = NULL;
    char link[160], sub[160];

    assert_int_equal(osec_master_create(c->key), 0);
    assert_int_equal(chmod(c->key, 0644), 0);
    assert_int_equal(osec_master_load(c->key, &m), OSEC_EPERM);
    assert_null(m);
    assert_non_null(strstr(osec_error_msg(), c->key));
    assert_non_null(strstr(osec_error_msg(), "0644"));
    assert_int_equal(chmod(c->key, 0640), 0);
    assert_int_equal(osec_master_load(c->key, &m), OSEC_EPERM);
    assert_int_equal(chmod(c->key, 0604), 0);
    assert_int_equal(osec_master_rotate(c->key), OSEC_EPERM);
    assert_int_equal(chmod(c->key, 0400), 0);
    assert_int_equal(osec_master_load(c->key, &m), 0);
    osec_master_free(&m);
    assert_int_equal(chmod(c->key, 0600), 0);

    snprintf(link, sizeof(link), "%s/link.key", c->dir);
    assert_int_equal(symlink(c->key, link), 0);
    assert_int_equal(osec_master_load(link, &m), OSEC_EPERM);
    assert_non_null(strstr(osec_error_msg(), "symlink"));
    assert_int_equal(osec_master_rotate(link), OSEC_EPERM);

    snprintf(sub, sizeof(sub), "%s/subdir", c->dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(osec_master_load(sub, &m), OSEC_EPERM);
    rmdir(sub);
    snprintf(sub, sizeof(sub), "%s/fifo", c->dir);
    assert_int_equal(mkfifo(sub, 0600), 0);
    assert_int_equal(osec_master_load(sub, &m), OSEC_EPERM);

    snprintf(sub, sizeof(sub), "%s/missing.key", c->dir);
    assert_int_equal(osec_master_load(sub, &m), OSEC_ENOTFOUND);
    assert_null(m);
}

/* Copy tmpl into out with every "%s" replaced by rep. */
static void subst(char *out, size_t max, const char *tmpl, const char *rep)
{
    size_t n = 0, rl = strlen(rep);

    for (; *tmpl; tmpl++) {
        if (tmpl[0] == '%' && tmpl[1] == 's') {
            assert_true(n + rl < max);
            memcpy(out + n, rep, rl);
            n += rl;
            tmpl++;
            continue;
        }
        assert_true(n + 1 < max);
        out[n++] = *tmpl;
    }
    out[n] = '\0';
}

static void load_rejects_malformed(void **state)
{
    static const char h[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    static const char *const bad[] = {
        "",
        "\n",
        "1 00\n",
        "0 %s\n",
        "01 %s\n",
        "-1 %s\n",
        "1  %s\n",
        "1 %s",
        "1 %s\r\n",
        "1 %s\n2 %s",
        "2 %s\n1 %s\n",
        "1 %s\n1 %s\n",
        "4294967296 %s\n",
        "1 %s\n#comment\n",
        "1 %sab\n",
    };
    struct ctx *c = *state;
    struct osec_master *m = NULL;
    char text[512];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        subst(text, sizeof(text), bad[i], h);
        write_file(c->key, text, 0600);
        if (osec_master_load(c->key, &m) != OSEC_EPARSE)
            fail_msg("bad[%zu] not rejected as EPARSE: %s", i, osec_error_msg());
        assert_null(m);
        /* key material never appears in messages */
        assert_null(strstr(osec_error_msg(), "0a0b0c"));
    }
    snprintf(text, sizeof(text), "1 %s\n4294967295 %s\n", h, h);
    write_file(c->key, text, 0600);
    assert_int_equal(osec_master_load(c->key, &m), 0);
    assert_int_equal(osec_master_current_version(m), 4294967295u);
    osec_master_free(&m);
    /* no room for another version */
    assert_int_equal(osec_master_rotate(c->key), OSEC_EBOUNDS);
}

static void rotate_keeps_old_versions(void **state)
{
    struct ctx *c = *state;
    struct osec_master *m = NULL;
    struct osec_buf s1 = OSEC_BUF_INIT(256), s2 = OSEC_BUF_INIT(256), pt = OSEC_BUF_INIT(256);
    char before[256], after[512];
    struct stat st;
    uint32_t v;

    create_and_load(c->key, &m);
    assert_int_equal(osec_seal(m, "msg", NULL, 0, (const uint8_t *)"old", 3, &s1), 0);
    osec_master_free(&m);
    read_text(c->key, before, sizeof(before));

    assert_int_equal(osec_master_rotate(c->key), 0);
    assert_int_equal(stat(c->key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(count_files(c->dir), 1); /* no temp file left behind */
    read_text(c->key, after, sizeof(after));
    assert_int_equal(strlen(after), 2 * 67);
    assert_memory_equal(after, before, 67); /* version 1 unchanged */
    assert_true(strncmp(after + 67, "2 ", 2) == 0);

    assert_int_equal(osec_master_load(c->key, &m), 0);
    assert_int_equal(osec_master_current_version(m), 2);
    assert_int_equal(osec_unseal(m, "msg", NULL, 0, s1.data, s1.len, &pt), 0);
    assert_string_equal(osec_buf_cstr(&pt), "old");
    assert_int_equal(osec_seal(m, "msg", NULL, 0, (const uint8_t *)"new", 3, &s2), 0);
    assert_int_equal(osec_sealed_version(s2.data, s2.len, &v), 0);
    assert_int_equal(v, 2);
    osec_master_free(&m);

    assert_int_equal(osec_master_rotate(c->key), 0);
    assert_int_equal(osec_master_load(c->key, &m), 0);
    assert_int_equal(osec_master_current_version(m), 3);
    osec_buf_reset(&pt);
    assert_int_equal(osec_unseal(m, "msg", NULL, 0, s2.data, s2.len, &pt), 0);
    assert_string_equal(osec_buf_cstr(&pt), "new");
    osec_master_free(&m);
    osec_buf_free(&s1);
    osec_buf_free(&s2);
    osec_buf_free(&pt);
}

static void unknown_version_rejected(void **state)
{
    struct ctx *c = *state;
    struct osec_master *m1 = NULL, *m2 = NULL;
    struct osec_buf s = OSEC_BUF_INIT(256), pt = OSEC_BUF_INIT(256);

    create_and_load(c->key, &m1);
    assert_int_equal(osec_master_rotate(c->key), 0);
    assert_int_equal(osec_master_load(c->key, &m2), 0);
    assert_int_equal(osec_seal(m2, "msg", NULL, 0, (const uint8_t *)"v2", 2, &s), 0);
    /* a daemon still holding only version 1 cannot open it */
    assert_int_equal(osec_unseal(m1, "msg", NULL, 0, s.data, s.len, &pt), OSEC_EINTEGRITY);
    assert_non_null(strstr(osec_error_msg(), "version"));
    osec_master_free(&m1);
    osec_master_free(&m2);
    osec_buf_free(&s);
    osec_buf_free(&pt);
}

static void create_refuses_existing(void **state)
{
    struct ctx *c = *state;
    char link[160], target[160];
    char before[256], after[256];
    struct stat st;

    assert_int_equal(osec_master_create(c->key), 0);
    read_text(c->key, before, sizeof(before));
    assert_int_equal(osec_master_create(c->key), OSEC_EEXISTS);
    read_text(c->key, after, sizeof(after));
    assert_string_equal(before, after);
    /* a dangling symlink must not be followed to create its target */
    snprintf(link, sizeof(link), "%s/dangling.key", c->dir);
    snprintf(target, sizeof(target), "%s/target.key", c->dir);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(osec_master_create(link), OSEC_EEXISTS);
    assert_int_not_equal(lstat(target, &st), 0);
    assert_int_equal(osec_master_create("/nonexistent-dir/master.key"), OSEC_EIO);
    assert_int_equal(osec_master_from_bytes((const uint8_t *)"short", 5, 1,
                                            &(struct osec_master *){ NULL }),
                     OSEC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(seal_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(seal_binds_purpose_and_aad, setup, teardown),
        cmocka_unit_test(seal_every_bit_flip_rejected),
        cmocka_unit_test(seal_layout_matches_doc),
        cmocka_unit_test_setup_teardown(load_refuses_unsafe_files, setup, teardown),
        cmocka_unit_test_setup_teardown(load_rejects_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(rotate_keeps_old_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_version_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(create_refuses_existing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
