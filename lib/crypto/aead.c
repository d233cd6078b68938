/* AEAD: AES-256-GCM and ChaCha20-Poly1305 (96-bit nonce, 128-bit tag). */
#include "omasec/crypto.h"

#include <limits.h>
#include "crypto/fetch.h"
#include <openssl/evp.h>

#include "omasec/error.h"

/* OSEC_FAIL that also drains the OpenSSL error queue into the message. */
#define FAIL_OSSL(rcvar, code, msg)                                      \
    do {                                                                 \
        (rcvar) = osec_error_ossl((code), __FILE__, __LINE__, "%s", msg); \
        goto out;                                                        \
    } while (0)

static const EVP_CIPHER *aead_cipher(enum osec_aead_alg alg)
{
    switch (alg) {
    case OSEC_AEAD_AES256GCM:
        return osec_fetched()->aes256gcm;
    case OSEC_AEAD_CHACHA20POLY1305:
        return osec_fetched()->chacha20poly1305;
    }
    return NULL;
}

/* Set up ctx for alg/key/nonce and feed the AAD; enc = 1 seal, 0 open. */
static int aead_init(EVP_CIPHER_CTX *ctx, enum osec_aead_alg alg, const uint8_t *key,
                     const uint8_t *nonce, const uint8_t *aad, size_t aad_len, int enc)
{
    const EVP_CIPHER *c = aead_cipher(alg);
    int outl = 0;

    OSEC_ENSURE(c != NULL, OSEC_EINVAL, "unknown AEAD algorithm %d", (int)alg);
    OSEC_ENSURE(key != NULL && nonce != NULL, OSEC_EINVAL, "AEAD: NULL key or nonce");
    OSEC_ENSURE(aad != NULL || aad_len == 0, OSEC_EINVAL, "AEAD: NULL aad");
    OSEC_ENSURE(aad_len <= INT_MAX, OSEC_EBOUNDS, "AEAD: aad too long");
    OSEC_GUARD_OSSL(EVP_CipherInit_ex(ctx, c, NULL, NULL, NULL, enc), "AEAD init failed");
    OSEC_GUARD_OSSL(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, OSEC_AEAD_NONCE_LEN,
                                        NULL),
                    "AEAD set nonce length failed");
    OSEC_GUARD_OSSL(EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc), "AEAD key failed");
    if (aad_len)
        OSEC_GUARD_OSSL(EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)aad_len),
                        "AEAD aad failed");
    return 0;
}

int osec_aead_seal(enum osec_aead_alg alg, const uint8_t key[OSEC_KEY_LEN],
                   const uint8_t nonce[OSEC_AEAD_NONCE_LEN], const uint8_t *aad,
                   size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t *out)
{
    EVP_CIPHER_CTX *ctx = NULL;
    int rc, outl = 0, finl = 0;

    OSEC_ENSURE(pt_len <= INT_MAX - OSEC_AEAD_TAG_LEN, OSEC_EBOUNDS, "AEAD: input too long");
    OSEC_ENSURE((pt != NULL || pt_len == 0) && out != NULL, OSEC_EINVAL, "AEAD: NULL buffer");
    ctx = EVP_CIPHER_CTX_new();
    OSEC_ENSURE(ctx != NULL, OSEC_ENOMEM, "EVP_CIPHER_CTX_new failed");
    OSEC_CHECK(rc, aead_init(ctx, alg, key, nonce, aad, aad_len, 1));
    if (pt_len && EVP_EncryptUpdate(ctx, out, &outl, pt, (int)pt_len) != 1)
        FAIL_OSSL(rc, OSEC_ECRYPTO, "AEAD encrypt failed");
    if (EVP_EncryptFinal_ex(ctx, out + outl, &finl) != 1 ||
        (size_t)outl + (size_t)finl != pt_len)
        FAIL_OSSL(rc, OSEC_ECRYPTO, "AEAD encrypt final failed");
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, OSEC_AEAD_TAG_LEN, out + pt_len) != 1)
        FAIL_OSSL(rc, OSEC_ECRYPTO, "AEAD get tag failed");
    rc = 0;
out:
    if (rc < 0)
        osec_wipe(out, pt_len + OSEC_AEAD_TAG_LEN);
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

int osec_aead_open(enum osec_aead_alg alg, const uint8_t key[OSEC_KEY_LEN],
                   const uint8_t nonce[OSEC_AEAD_NONCE_LEN], const uint8_t *aad,
                   size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t *out)
{
    EVP_CIPHER_CTX *ctx = NULL;
    uint8_t dummy[16];
    size_t pt_len;
    int rc, outl = 0, finl = 0;

    OSEC_ENSURE(ct != NULL || ct_len == 0, OSEC_EINVAL, "AEAD: NULL input");
    OSEC_ENSURE(ct_len >= OSEC_AEAD_TAG_LEN, OSEC_EINTEGRITY, "AEAD: input shorter than tag");
    OSEC_ENSURE(ct_len <= INT_MAX, OSEC_EBOUNDS, "AEAD: input too long");
    OSEC_ENSURE(out != NULL || ct_len == OSEC_AEAD_TAG_LEN, OSEC_EINVAL, "AEAD: NULL output");
    pt_len = ct_len - OSEC_AEAD_TAG_LEN;
    ctx = EVP_CIPHER_CTX_new();
    OSEC_ENSURE(ctx != NULL, OSEC_ENOMEM, "EVP_CIPHER_CTX_new failed");
    OSEC_CHECK(rc, aead_init(ctx, alg, key, nonce, aad, aad_len, 0));
    if (pt_len && EVP_DecryptUpdate(ctx, out, &outl, ct, (int)pt_len) != 1)
        FAIL_OSSL(rc, OSEC_ECRYPTO, "AEAD decrypt failed");
    /* the tag is copied by OpenSSL, so in-place use (out == ct) is fine */
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, OSEC_AEAD_TAG_LEN,
                            (void *)(ct + pt_len)) != 1)
        FAIL_OSSL(rc, OSEC_ECRYPTO, "AEAD set tag failed");
    if (EVP_DecryptFinal_ex(ctx, pt_len ? out + outl : dummy, &finl) != 1 ||
        (size_t)outl + (size_t)finl != pt_len)
        FAIL_OSSL(rc, OSEC_EINTEGRITY, "AEAD: authentication tag mismatch");
    rc = 0;
out:
    if (rc < 0 && out)
        osec_wipe(out, pt_len);
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}
