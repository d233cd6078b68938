#include "crypto/fetch.h"

#include <pthread.h>

static struct osec_fetched f;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void fetch_all(void)
{
    f.md5 = EVP_MD_fetch(NULL, "MD5", NULL);
    f.sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    f.sha512_256 = EVP_MD_fetch(NULL, "SHA512-256", NULL);
    f.sha512 = EVP_MD_fetch(NULL, "SHA512", NULL);
    f.aes256gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    f.chacha20poly1305 = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
    f.hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    f.hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* Process-lifetime objects: never freed (LeakSanitizer sees them through
 * the static struct). */
const struct osec_fetched *osec_fetched(void)
{
    (void)pthread_once(&once, fetch_all);
    return &f;
}
