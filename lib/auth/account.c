#include "omasec/account.h"

#include <string.h>

#include "omasec/digest.h"
#include "omasec/error.h"

#define HA1_PURPOSE "digest-ha1"

static const enum osec_hash_alg ha1_algs[] = { OSEC_HASH_MD5, OSEC_HASH_SHA256,
                                               OSEC_HASH_SHA512_256 };
#define N_ALGS (sizeof(ha1_algs) / sizeof(ha1_algs[0]))

int osec_account_name_valid(const char *name)
{
    size_t n = strlen(name);

    OSEC_ENSURE(n >= 1 && n <= OSEC_STORE_NAME_MAX, OSEC_EINVAL,
                "name must be 1..%d bytes", OSEC_STORE_NAME_MAX);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '@' || c == '+' || c == '-';

        OSEC_ENSURE(ok, OSEC_EINVAL, "name may only contain letters, digits and . _ @ + -");
    }
    return 0;
}

int osec_account_password_valid(const char *pw, size_t len)
{
    OSEC_ENSURE(len >= 1 && len <= OSEC_ACCOUNT_PASSWORD_MAX, OSEC_EINVAL,
                "password must be 1..%d bytes", OSEC_ACCOUNT_PASSWORD_MAX);
    for (size_t i = 0; i < len; i++)
        OSEC_ENSURE(pw[i] != '\0' && pw[i] != '\r' && pw[i] != '\n', OSEC_EINVAL,
                    "password must not contain NUL, CR or LF");
    return 0;
}

int osec_account_realm(struct osec_store *st, char *out, size_t outlen)
{
    struct osec_store_policy p;
    int rc = osec_store_policy_get(st, OSEC_POLICY_REALM, &p);

    if (rc == OSEC_ENOTFOUND)
        return osec_strlcpy(out, OSEC_DEFAULT_REALM, outlen);
    OSEC_GUARD(rc);
    return osec_strlcpy(out, p.value, outlen);
}

static int aad_for(const char *name, const char *realm, struct osec_buf *aad)
{
    OSEC_GUARD(osec_buf_append_str(aad, name));
    OSEC_GUARD(osec_buf_putc(aad, '\0'));
    return osec_buf_append_str(aad, realm);
}

/* Plaintext: for each algorithm u8 alg, u8 len, digest. */
static int seal_ha1s(const struct osec_master *m, const char *realm, const char *name,
                     const char *pw, size_t pw_len, struct osec_buf *sealed)
{
    struct osec_buf pt, aad;
    uint8_t h[OSEC_HASH_MAX];
    int rc = 0;

    osec_buf_init_secret(&pt, 512);
    osec_buf_init(&aad, 2 * OSEC_STORE_NAME_MAX + 2 + OSEC_STORE_VALUE_MAX);
    for (size_t i = 0; i < N_ALGS; i++) {
        size_t hl = osec_hash_len(ha1_algs[i]);

        OSEC_CHECK(rc, osec_digest_ha1(ha1_algs[i], osec_slice_cstr(name), osec_slice_cstr(realm),
                                       osec_slice_make(pw, pw_len), h));
        OSEC_CHECK(rc, osec_buf_append_u8(&pt, (uint8_t)ha1_algs[i]));
        OSEC_CHECK(rc, osec_buf_append_u8(&pt, (uint8_t)hl));
        OSEC_CHECK(rc, osec_buf_append(&pt, h, hl));
    }
    OSEC_CHECK(rc, aad_for(name, realm, &aad));
    rc = osec_seal(m, HA1_PURPOSE, aad.data, aad.len, pt.data, pt.len, sealed);
out:
    osec_wipe(h, sizeof(h));
    osec_buf_free(&pt);
    osec_buf_free(&aad);
    return rc;
}

static int prepare(const struct osec_master *m, const char *realm, const char *name,
                   const char *pw, size_t pw_len, struct osec_scrypt_params prm,
                   char *phc, size_t phclen, struct osec_buf *sealed)
{
    OSEC_GUARD(osec_account_name_valid(name));
    OSEC_GUARD(osec_account_password_valid(pw, pw_len));
    OSEC_GUARD(osec_scrypt_hash(pw, pw_len, prm, phc, phclen));
    return seal_ha1s(m, realm, name, pw, pw_len, sealed);
}

int osec_account_add(struct osec_store *st, const struct osec_master *m, const char *realm,
                     const char *name, const char *pw, size_t pw_len,
                     struct osec_scrypt_params prm)
{
    struct osec_store_user u;
    struct osec_buf sealed;
    int rc;

    memset(&u, 0, sizeof(u));
    osec_buf_init(&sealed, OSEC_STORE_BLOB_MAX);
    OSEC_CHECK(rc, prepare(m, realm, name, pw, pw_len, prm, u.password_hash,
                           sizeof(u.password_hash), &sealed));
    OSEC_CHECK(rc, osec_strlcpy(u.name, name, sizeof(u.name)));
    u.ha1_sealed.data = sealed.data;
    u.ha1_sealed.len = sealed.len;
    rc = osec_store_user_add(st, &u);
out:
    osec_buf_free(&sealed);
    return rc;
}

int osec_account_set_password(struct osec_store *st, const struct osec_master *m,
                              const char *realm, const char *name, const char *pw,
                              size_t pw_len, struct osec_scrypt_params prm)
{
    char phc[OSEC_STORE_HASH_MAX + 1];
    struct osec_buf sealed;
    int rc;

    osec_buf_init(&sealed, OSEC_STORE_BLOB_MAX);
    OSEC_CHECK(rc, prepare(m, realm, name, pw, pw_len, prm, phc, sizeof(phc), &sealed));
    rc = osec_store_user_set_password(st, name, phc, sealed.data, sealed.len);
out:
    osec_buf_free(&sealed);
    return rc;
}

int osec_account_verify_password(struct osec_store *st, const char *name, const char *pw,
                                 size_t pw_len)
{
    /* A fixed hash to verify against when the user is unknown, so that the
     * answer takes as long as for a real user (default scrypt parameters). */
    static const char dummy[] =
        "$scrypt$ln=15,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
        "2L5R5/mxbyfaY3ZA/1j3U4FN7Vwhmh5PjK42BzSd7mo";
    struct osec_store_user u;
    int rc;

    memset(&u, 0, sizeof(u));
    rc = osec_store_user_get(st, name, &u);
    if (rc < 0 && rc != OSEC_ENOTFOUND)
        return rc;
    if (rc == OSEC_ENOTFOUND || u.password_hash[0] == '\0' || (u.flags & OSEC_USER_DISABLED)) {
        (void)osec_scrypt_verify(pw, pw_len, dummy);
        osec_store_user_clear(&u);
        OSEC_BAIL(OSEC_EAUTH, "authentication failed");
    }
    rc = osec_scrypt_verify(pw, pw_len, u.password_hash);
    osec_store_user_clear(&u);
    if (rc == OSEC_EAUTH)
        OSEC_BAIL(OSEC_EAUTH, "authentication failed");
    return rc;
}

static int find_ha1(struct osec_slice pt, enum osec_hash_alg alg, uint8_t *out)
{
    struct osec_cursor c;

    osec_cursor_init(&c, pt.ptr, pt.len);
    while (!osec_cursor_eof(&c)) {
        uint8_t a, l;
        struct osec_slice h;

        OSEC_GUARD(osec_cursor_read_u8(&c, &a));
        OSEC_GUARD(osec_cursor_read_u8(&c, &l));
        OSEC_GUARD(osec_cursor_read_bytes(&c, l, &h));
        if (a == (uint8_t)alg && l == osec_hash_len(alg)) {
            memcpy(out, h.ptr, l);
            return 0;
        }
    }
    OSEC_BAIL(OSEC_ENOTFOUND, "no HA1 stored for this algorithm");
}

int osec_account_ha1(struct osec_store *st, const struct osec_master *m, const char *realm,
                     const char *name, enum osec_hash_alg alg, uint8_t *out)
{
    struct osec_store_user u;
    struct osec_buf pt, aad;
    int rc;

    memset(&u, 0, sizeof(u));
    osec_buf_init_secret(&pt, 512);
    osec_buf_init(&aad, 2 * OSEC_STORE_NAME_MAX + 2 + OSEC_STORE_VALUE_MAX);
    OSEC_CHECK(rc, osec_store_user_get(st, name, &u));
    OSEC_CHECK(rc, aad_for(name, realm, &aad));
    OSEC_CHECK(rc, osec_unseal(m, HA1_PURPOSE, aad.data, aad.len, u.ha1_sealed.data,
                               u.ha1_sealed.len, &pt));
    rc = find_ha1(osec_buf_slice(&pt), alg, out);
out:
    osec_store_user_clear(&u);
    osec_buf_free(&pt);
    osec_buf_free(&aad);
    return rc;
}
