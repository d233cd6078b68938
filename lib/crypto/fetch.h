/* OpenSSL 3 algorithm objects fetched once per process.
 *
 * EVP_sha256(), EVP_aes_256_gcm() and friends make OpenSSL 3 look the
 * implementation up in its provider store on every init, and one-shot
 * helpers (HMAC(), EVP_KDF_fetch per call) do the same: a measurable share
 * of a Digest verification or a sealed-value open.  These are fetched once
 * and shared (OpenSSL objects are thread-safe for this use). */
#ifndef OSEC_CRYPTO_FETCH_H
#define OSEC_CRYPTO_FETCH_H

#include <openssl/evp.h>
#include <openssl/kdf.h>

struct osec_fetched {
    EVP_MD *md5, *sha256, *sha512_256, *sha512;
    EVP_CIPHER *aes256gcm, *chacha20poly1305;
    EVP_KDF *hkdf;
    EVP_MAC *hmac;
};

/* NULL members when an algorithm is unavailable (callers report it). */
const struct osec_fetched *osec_fetched(void);

#endif
