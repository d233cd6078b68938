/* HKDF-SHA256 and scrypt (raw, and PHC-string password hashes). */
#include "omasec/crypto.h"

#include "crypto/fetch.h"
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <string.h>

#include "omasec/error.h"
#include "omasec/util.h"

/* Largest scrypt working set we allow: ln=20, r=8 (1 GiB) plus slack for p.
 * Anything above is a policy violation, not an allocation attempt: a stored
 * hash with absurd parameters must not be able to exhaust the server. */
#define SCRYPT_MAXMEM ((uint64_t)1 << 30 | (uint64_t)1 << 24)
#define SCRYPT_SALT_LEN 16
#define SCRYPT_HASH_LEN 32
#define SCRYPT_LN_MIN 10
#define SCRYPT_LN_MAX 20
#define SCRYPT_R_MAX 32
#define SCRYPT_P_MAX 16

int osec_hkdf_sha256(const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
                     size_t ikm_len, const uint8_t *info, size_t info_len,
                     uint8_t *out, size_t out_len)
{
    EVP_KDF *kdf = osec_fetched()->hkdf;
    EVP_KDF_CTX *kctx = NULL;
    OSSL_PARAM params[5], *p = params;
    int rc = 0;

    OSEC_ENSURE(ikm != NULL && ikm_len > 0, OSEC_EINVAL, "HKDF: empty input key");
    OSEC_ENSURE(salt != NULL || salt_len == 0, OSEC_EINVAL, "HKDF: NULL salt");
    OSEC_ENSURE(info != NULL || info_len == 0, OSEC_EINVAL, "HKDF: NULL info");
    OSEC_ENSURE(out_len > 0 && out_len <= 255 * 32, OSEC_EINVAL, "HKDF: bad output length");
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
    /* RFC 5869: no salt means HashLen zero bytes, which OpenSSL does by default */
    if (salt_len)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
                                                 salt_len);
    if (info_len)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info,
                                                 info_len);
    *p = OSSL_PARAM_construct_end();
    if (kdf == NULL || (kctx = EVP_KDF_CTX_new(kdf)) == NULL) {
        rc = osec_error_ossl(OSEC_ECRYPTO, __FILE__, __LINE__, "HKDF unavailable");
        goto out;
    }
    if (EVP_KDF_derive(kctx, out, out_len, params) != 1) {
        osec_wipe(out, out_len);
        rc = osec_error_ossl(OSEC_ECRYPTO, __FILE__, __LINE__, "HKDF derive failed");
    }
out:
    EVP_KDF_CTX_free(kctx);
    return rc;
}

/* Bytes OpenSSL's scrypt needs: B = 128*r*p, V = 128*r*(N+2). */
static int scrypt_mem_ok(uint64_t N, uint64_t r, uint64_t p)
{
    uint64_t per = 128 * r;

    if (r == 0 || p == 0 || N < 2 || (N & (N - 1)) != 0)
        return 0;
    if (r > SCRYPT_MAXMEM / 128 || p > SCRYPT_MAXMEM / per || N > SCRYPT_MAXMEM / per)
        return 0;
    return per * p + per * (N + 2) <= SCRYPT_MAXMEM;
}

int osec_scrypt_raw(const uint8_t *pw, size_t pw_len, const uint8_t *salt, size_t salt_len,
                    uint64_t N, uint64_t r, uint64_t p, uint8_t *out, size_t out_len)
{
    static const uint8_t empty[1] = { 0 };

    OSEC_ENSURE(pw != NULL || pw_len == 0, OSEC_EINVAL, "scrypt: NULL password");
    OSEC_ENSURE(salt != NULL || salt_len == 0, OSEC_EINVAL, "scrypt: NULL salt");
    OSEC_ENSURE(out_len > 0, OSEC_EINVAL, "scrypt: empty output");
    OSEC_ENSURE(scrypt_mem_ok(N, r, p), OSEC_EPOLICY,
                "scrypt: parameters N=%llu r=%llu p=%llu refused", (unsigned long long)N,
                (unsigned long long)r, (unsigned long long)p);
    if (EVP_PBE_scrypt((const char *)(pw_len ? pw : empty), pw_len,
                       salt_len ? salt : empty, salt_len, N, r, p, SCRYPT_MAXMEM, out,
                       out_len) != 1) {
        osec_wipe(out, out_len);
        return osec_error_ossl(OSEC_ECRYPTO, __FILE__, __LINE__, "scrypt failed");
    }
    return 0;
}

static bool prm_in_policy(struct osec_scrypt_params prm)
{
    return prm.ln >= SCRYPT_LN_MIN && prm.ln <= SCRYPT_LN_MAX && prm.r >= 1 &&
           prm.r <= SCRYPT_R_MAX && prm.p >= 1 && prm.p <= SCRYPT_P_MAX;
}

/* Append unpadded standard base64 (PHC strings omit '='). */
static int b64_nopad(struct osec_buf *b, const uint8_t *in, size_t len)
{
    OSEC_GUARD(osec_b64_encode(in, len, b));
    while (b->len > 0 && b->data[b->len - 1] == '=')
        b->data[--b->len] = '\0';
    return 0;
}

int osec_scrypt_hash(const char *password, size_t pw_len, struct osec_scrypt_params prm,
                     char *out, size_t out_len)
{
    uint8_t salt[SCRYPT_SALT_LEN], hash[SCRYPT_HASH_LEN];
    struct osec_buf b = OSEC_BUF_INIT(OSEC_SCRYPT_HASH_MAX);
    int rc;

    OSEC_ENSURE(prm_in_policy(prm), OSEC_EPOLICY, "scrypt: parameters out of range");
    OSEC_ENSURE(out != NULL && out_len > 0, OSEC_EINVAL, "scrypt: no output buffer");
    OSEC_CHECK(rc, osec_rand_bytes(salt, sizeof(salt)));
    OSEC_CHECK(rc, osec_scrypt_raw((const uint8_t *)password, pw_len, salt, sizeof(salt),
                                   (uint64_t)1 << prm.ln, prm.r, prm.p, hash, sizeof(hash)));
    OSEC_CHECK(rc, osec_buf_appendf(&b, "$scrypt$ln=%u,r=%u,p=%u$", prm.ln, prm.r, prm.p));
    OSEC_CHECK(rc, b64_nopad(&b, salt, sizeof(salt)));
    OSEC_CHECK(rc, osec_buf_putc(&b, '$'));
    OSEC_CHECK(rc, b64_nopad(&b, hash, sizeof(hash)));
    OSEC_CHECK(rc, osec_strlcpy(out, osec_buf_cstr(&b), out_len));
out:
    osec_wipe(hash, sizeof(hash));
    osec_buf_free(&b);
    return rc;
}

/* "name=<decimal>" with no leading zeros, value <= max. */
static int parse_param(struct osec_cursor *c, const char *name, uint8_t end, unsigned max,
                       unsigned *out)
{
    struct osec_slice s;
    uint64_t v;
    size_t n = strlen(name);

    OSEC_GUARD(osec_cursor_read_bytes(c, n, &s));
    OSEC_ENSURE(osec_slice_eq_cstr(s, name) && osec_cursor_eat(c, '='), OSEC_EPARSE,
                "scrypt: expected %s=", name);
    OSEC_GUARD(osec_cursor_until(c, end, &s));
    OSEC_ENSURE(s.len <= 1 || s.ptr[0] != '0', OSEC_EPARSE, "scrypt: leading zero");
    OSEC_GUARD(osec_slice_to_u64(s, UINT32_MAX, &v));
    (void)osec_cursor_eat(c, end);
    /* syntactically fine but huge: let the policy check say so */
    *out = v > max ? max + 1 : (unsigned)v;
    return 0;
}

struct phc {
    struct osec_scrypt_params prm;
    struct osec_slice salt, hash;
};

static int parse_phc(const char *encoded, struct phc *ph)
{
    struct osec_cursor c;
    struct osec_slice s;
    int rc;

    osec_cursor_init(&c, encoded, strlen(encoded));
    OSEC_CHECK(rc, osec_cursor_read_bytes(&c, 8, &s));
    OSEC_ENSURE(osec_slice_eq_cstr(s, "$scrypt$"), OSEC_EPARSE, "not an scrypt hash");
    OSEC_CHECK(rc, parse_param(&c, "ln", ',', 64, &ph->prm.ln));
    OSEC_CHECK(rc, parse_param(&c, "r", ',', SCRYPT_R_MAX, &ph->prm.r));
    OSEC_CHECK(rc, parse_param(&c, "p", '$', SCRYPT_P_MAX, &ph->prm.p));
    OSEC_CHECK(rc, osec_cursor_until(&c, '$', &ph->salt));
    (void)osec_cursor_eat(&c, '$');
    OSEC_CHECK(rc, osec_cursor_read_bytes(&c, osec_cursor_remaining(&c), &ph->hash));
    return 0;
out:
    /* truncation is a malformed string, not a caller's buffer problem */
    OSEC_BAIL(OSEC_EPARSE, "scrypt: malformed hash string (%s)", osec_error_msg());
}

static int decode_field(struct osec_slice s, struct osec_buf *b, size_t min, size_t max)
{
    /* '=' is never part of a PHC base64 field */
    OSEC_ENSURE(osec_slice_find(s, '=') < 0, OSEC_EPARSE, "scrypt: padded base64");
    OSEC_ENSURE(osec_b64_decode(s, b) == 0, OSEC_EPARSE, "scrypt: bad base64");
    OSEC_ENSURE(b->len >= min && b->len <= max, OSEC_EPARSE, "scrypt: bad field length");
    return 0;
}

int osec_scrypt_verify(const char *password, size_t pw_len, const char *encoded)
{
    struct phc ph;
    struct osec_buf salt = OSEC_BUF_INIT(64), want = OSEC_BUF_INIT(64);
    uint8_t got[64];
    int rc;

    OSEC_ENSURE(encoded != NULL, OSEC_EINVAL, "scrypt: NULL hash");
    OSEC_CHECK(rc, parse_phc(encoded, &ph));
    OSEC_CHECK(rc, decode_field(ph.salt, &salt, 8, 64));
    OSEC_CHECK(rc, decode_field(ph.hash, &want, 16, 64));
    if (!prm_in_policy(ph.prm))
        OSEC_FAIL(rc, OSEC_EPOLICY, "scrypt: parameters out of accepted range");
    OSEC_CHECK(rc, osec_scrypt_raw((const uint8_t *)password, pw_len, salt.data, salt.len,
                                   (uint64_t)1 << ph.prm.ln, ph.prm.r, ph.prm.p, got,
                                   want.len));
    if (!osec_ct_eq(got, want.data, want.len))
        OSEC_FAIL(rc, OSEC_EAUTH, "password mismatch");
out:
    osec_wipe(got, sizeof(got));
    osec_buf_free(&salt);
    osec_buf_free(&want);
    return rc;
}
