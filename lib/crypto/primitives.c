/* Wipe, constant-time compare, hashes, HMAC and base64. */
#include "omasec/crypto.h"

#include <limits.h>
#include "crypto/fetch.h"
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "omasec/error.h"

void osec_wipe(void *p, size_t n)
{
    if (p && n)
        OPENSSL_cleanse(p, n);
}

bool osec_ct_eq(const void *a, const void *b, size_t n)
{
    if (n == 0)
        return true;
    return CRYPTO_memcmp(a, b, n) == 0;
}

bool osec_ct_streq(const char *a, const char *b)
{
    size_t la, lb;

    if (a == NULL || b == NULL)
        return false;
    la = strlen(a);
    lb = strlen(b);
    if (la != lb)
        return false;
    return osec_ct_eq(a, b, la);
}

/* ---- hashes ----------------------------------------------------------- */

static const EVP_MD *hash_md(enum osec_hash_alg alg)
{
    const struct osec_fetched *f = osec_fetched();

    switch (alg) {
    case OSEC_HASH_MD5:
        return f->md5;
    case OSEC_HASH_SHA256:
        return f->sha256;
    case OSEC_HASH_SHA512_256:
        return f->sha512_256;
    case OSEC_HASH_SHA512:
        return f->sha512;
    }
    return NULL;
}

size_t osec_hash_len(enum osec_hash_alg alg)
{
    switch (alg) {
    case OSEC_HASH_MD5:
        return 16;
    case OSEC_HASH_SHA256:
    case OSEC_HASH_SHA512_256:
        return 32;
    case OSEC_HASH_SHA512:
        return 64;
    }
    return 0;
}

int osec_hash(enum osec_hash_alg alg, const struct osec_slice *parts, size_t nparts,
              uint8_t *out)
{
    const EVP_MD *md = hash_md(alg);
    EVP_MD_CTX *ctx = NULL;
    unsigned int olen = 0;
    int rc = 0;

    OSEC_ENSURE(md != NULL, OSEC_EINVAL, "unknown hash algorithm %d", (int)alg);
    OSEC_ENSURE(nparts == 0 || parts != NULL, OSEC_EINVAL, "no parts");
    ctx = EVP_MD_CTX_new();
    OSEC_ENSURE(ctx != NULL, OSEC_ENOMEM, "EVP_MD_CTX_new failed");
    if (EVP_DigestInit_ex(ctx, md, NULL) != 1) {
        rc = osec_error_ossl(OSEC_ECRYPTO, __FILE__, __LINE__, "digest init failed");
        goto out;
    }
    for (size_t i = 0; i < nparts; i++) {
        if (parts[i].len == 0)
            continue;
        if (EVP_DigestUpdate(ctx, parts[i].ptr, parts[i].len) != 1) {
            rc = osec_error_ossl(OSEC_ECRYPTO, __FILE__, __LINE__, "digest update failed");
            goto out;
        }
    }
    if (EVP_DigestFinal_ex(ctx, out, &olen) != 1 || olen != osec_hash_len(alg)) {
        rc = osec_error_ossl(OSEC_ECRYPTO, __FILE__, __LINE__, "digest final failed");
        goto out;
    }
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

int osec_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data,
                     size_t data_len, uint8_t out[32])
{
    static const uint8_t empty[1] = { 0 };
    OSSL_PARAM params[2];
    EVP_MAC_CTX *ctx;
    size_t olen = 0;
    int ok;

    OSEC_ENSURE(key_len <= INT_MAX, OSEC_EINVAL, "HMAC key too long");
    OSEC_ENSURE(key != NULL || key_len == 0, OSEC_EINVAL, "NULL HMAC key");
    OSEC_ENSURE(data != NULL || data_len == 0, OSEC_EINVAL, "NULL HMAC data");
    ctx = osec_fetched()->hmac ? EVP_MAC_CTX_new(osec_fetched()->hmac) : NULL;
    if (!ctx)
        return osec_error_ossl(OSEC_ECRYPTO, __FILE__, __LINE__, "HMAC unavailable");
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    /* never pass a NULL key: OpenSSL would reuse the previous one */
    ok = EVP_MAC_init(ctx, key_len ? key : empty, key_len, params) == 1 &&
         EVP_MAC_update(ctx, data_len ? data : empty, data_len) == 1 &&
         EVP_MAC_final(ctx, out, &olen, 32) == 1 && olen == 32;
    EVP_MAC_CTX_free(ctx);
    if (!ok)
        return osec_error_ossl(OSEC_ECRYPTO, __FILE__, __LINE__, "HMAC-SHA256 failed");
    return 0;
}

/* ---- base64 (RFC 4648) ---------------------------------------------------
 * Branch-free character mapping (after libsodium's sodium_bin2base64) so that
 * decoding a key from a config file does not leak it through table lookups. */

static unsigned ct_eq8(unsigned x, unsigned y)
{
    return (((0u - (x ^ y)) >> 8) & 0xFFu) ^ 0xFFu;
}

static unsigned ct_gt8(unsigned x, unsigned y)
{
    return ((y - x) >> 8) & 0xFFu;
}

static unsigned ct_ge8(unsigned x, unsigned y)
{
    return ct_gt8(y, x) ^ 0xFFu;
}

static unsigned ct_lt8(unsigned x, unsigned y)
{
    return ct_gt8(y, x);
}

static unsigned ct_le8(unsigned x, unsigned y)
{
    return ct_ge8(y, x);
}

static uint8_t b64_char(unsigned x, unsigned c62, unsigned c63)
{
    return (uint8_t)((ct_lt8(x, 26) & (x + 'A')) |
                     (ct_ge8(x, 26) & ct_lt8(x, 52) & (x + ('a' - 26))) |
                     (ct_ge8(x, 52) & ct_lt8(x, 62) & (x + '0' - 52)) |
                     (ct_eq8(x, 62) & c62) | (ct_eq8(x, 63) & c63));
}

/* 6-bit value of c, or 0xFF when c is not in the alphabet. */
static unsigned b64_val(unsigned c, unsigned c62, unsigned c63)
{
    unsigned x = (ct_ge8(c, 'A') & ct_le8(c, 'Z') & (c - 'A')) |
                 (ct_ge8(c, 'a') & ct_le8(c, 'z') & (c - ('a' - 26))) |
                 (ct_ge8(c, '0') & ct_le8(c, '9') & (c + 52 - '0')) |
                 (ct_eq8(c, c62) & 62) | (ct_eq8(c, c63) & 63);

    return x | (ct_eq8(x, 0) & (ct_eq8(c, 'A') ^ 0xFFu));
}

static int b64_encode(const uint8_t *in, size_t len, struct osec_buf *out, unsigned c62,
                      unsigned c63, bool pad)
{
    size_t full = len / 3, rem = len % 3, olen;
    uint8_t *o;

    OSEC_ENSURE(in != NULL || len == 0, OSEC_EINVAL, "NULL input");
    OSEC_ENSURE(len / 3 < SIZE_MAX / 4 - 1, OSEC_EBOUNDS, "input too long");
    olen = full * 4 + (rem ? (pad ? 4 : rem + 1) : 0);
    OSEC_GUARD(osec_buf_reserve(out, olen));
    o = out->data + out->len;
    for (size_t i = 0; i < full; i++, in += 3) {
        unsigned v = (unsigned)in[0] << 16 | (unsigned)in[1] << 8 | in[2];

        *o++ = b64_char(v >> 18, c62, c63);
        *o++ = b64_char((v >> 12) & 63, c62, c63);
        *o++ = b64_char((v >> 6) & 63, c62, c63);
        *o++ = b64_char(v & 63, c62, c63);
    }
    if (rem) {
        unsigned v = (unsigned)in[0] << 16 | (rem == 2 ? (unsigned)in[1] << 8 : 0);

        *o++ = b64_char(v >> 18, c62, c63);
        *o++ = b64_char((v >> 12) & 63, c62, c63);
        if (rem == 2)
            *o++ = b64_char((v >> 6) & 63, c62, c63);
        else if (pad)
            *o++ = '=';
        if (pad)
            *o++ = '=';
    }
    out->len += olen;
    out->data[out->len] = '\0';
    return 0;
}

/* Decode n chars (no padding) into o.  Returns false on a bad character or
 * non-zero trailing bits (a non-canonical encoding). */
static bool b64_decode_chars(const uint8_t *in, size_t n, uint8_t *o, unsigned c62,
                             unsigned c63)
{
    unsigned bad = 0, acc = 0, bits = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned v = b64_val(in[i], c62, c63);

        bad |= ct_eq8(v, 0xFF);
        acc = ((acc << 6) | (v & 63)) & 0xFFFFFFu;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *o++ = (uint8_t)(acc >> bits);
        }
    }
    /* leftover bits (2 or 4) must be zero */
    bad |= acc & ((1u << bits) - 1);
    return bad == 0;
}

static int b64_decode(struct osec_slice in, struct osec_buf *out, unsigned c62,
                      unsigned c63, bool allow_pad)
{
    size_t n = in.len, olen, start = out->len;

    if (allow_pad && n > 0 && in.ptr[n - 1] == '=') {
        OSEC_ENSURE(n % 4 == 0, OSEC_EPARSE, "base64: bad padding");
        n--;
        if (in.ptr[n - 1] == '=')
            n--;
    }
    OSEC_ENSURE(n % 4 != 1, OSEC_EPARSE, "base64: bad length");
    olen = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    OSEC_GUARD(osec_buf_reserve(out, olen));
    if (!b64_decode_chars(in.ptr, n, out->data + start, c62, c63)) {
        osec_wipe(out->data + start, olen);
        out->data[start] = '\0';
        OSEC_BAIL(OSEC_EPARSE, "base64: bad character or non-canonical encoding");
    }
    out->len += olen;
    out->data[out->len] = '\0';
    return 0;
}

int osec_b64_encode(const uint8_t *in, size_t len, struct osec_buf *out)
{
    return b64_encode(in, len, out, '+', '/', true);
}

int osec_b64_decode(struct osec_slice in, struct osec_buf *out)
{
    return b64_decode(in, out, '+', '/', true);
}

int osec_b64url_encode(const uint8_t *in, size_t len, struct osec_buf *out)
{
    return b64_encode(in, len, out, '-', '_', false);
}

int osec_b64url_decode(struct osec_slice in, struct osec_buf *out)
{
    return b64_decode(in, out, '-', '_', false);
}
