/* Cryptographic primitives (thin, checked wrappers over OpenSSL 3).
 *
 * Every function returns 0 or a negative OSEC_E* code.  Output buffers are
 * sized by the caller as documented; nothing here allocates key material on
 * the heap without cleansing it.
 */
#ifndef OMASEC_CRYPTO_H
#define OMASEC_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "omasec/buf.h"

#define OSEC_KEY_LEN 32      /* every symmetric key in omasec is 256 bit */
#define OSEC_AEAD_NONCE_LEN 12
#define OSEC_AEAD_TAG_LEN 16
#define OSEC_HASH_MAX 64

/* Secure wipe (OPENSSL_cleanse) and constant-time equality (CRYPTO_memcmp). */
void osec_wipe(void *p, size_t n);
bool osec_ct_eq(const void *a, const void *b, size_t n);
/* Constant-time equality of two strings of possibly different length
 * (the length difference itself is not hidden). */
bool osec_ct_streq(const char *a, const char *b);

enum osec_hash_alg {
    OSEC_HASH_MD5 = 1,
    OSEC_HASH_SHA256 = 2,
    OSEC_HASH_SHA512_256 = 3,
    OSEC_HASH_SHA512 = 4
};
size_t osec_hash_len(enum osec_hash_alg alg);
/* One-shot hash of several parts (NULL-terminated list is awkward in C, so
 * parts come as an array of slices). out must hold osec_hash_len(alg). */
int osec_hash(enum osec_hash_alg alg, const struct osec_slice *parts, size_t nparts,
              uint8_t *out);

/* HMAC-SHA256, out[32]. */
int osec_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data,
                     size_t data_len, uint8_t out[32]);

/* HKDF-SHA256 (RFC 5869) extract+expand; out_len <= 255*32. */
int osec_hkdf_sha256(const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
                     size_t ikm_len, const uint8_t *info, size_t info_len,
                     uint8_t *out, size_t out_len);

enum osec_aead_alg {
    OSEC_AEAD_AES256GCM = 1,
    OSEC_AEAD_CHACHA20POLY1305 = 2
};
/* out must hold pt_len + OSEC_AEAD_TAG_LEN (ciphertext || tag). */
int osec_aead_seal(enum osec_aead_alg alg, const uint8_t key[OSEC_KEY_LEN],
                   const uint8_t nonce[OSEC_AEAD_NONCE_LEN], const uint8_t *aad,
                   size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t *out);
/* ct includes the trailing tag; out must hold ct_len - OSEC_AEAD_TAG_LEN.
 * Returns OSEC_EINTEGRITY when the tag does not verify (out is wiped). */
int osec_aead_open(enum osec_aead_alg alg, const uint8_t key[OSEC_KEY_LEN],
                   const uint8_t nonce[OSEC_AEAD_NONCE_LEN], const uint8_t *aad,
                   size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t *out);

/* scrypt password hashing, PHC-style string:
 *   $scrypt$ln=15,r=8,p=1$<base64 salt>$<base64 hash>
 * (unpadded standard base64, 16-byte salt, 32-byte hash). */
struct osec_scrypt_params {
    unsigned ln;  /* log2(N) */
    unsigned r;
    unsigned p;
};
#define OSEC_SCRYPT_DEFAULT ((struct osec_scrypt_params){ 15, 8, 1 })
#define OSEC_SCRYPT_HASH_MAX 160
int osec_scrypt_hash(const char *password, size_t pw_len, struct osec_scrypt_params prm,
                     char *out, size_t out_len);
/* 0 on match, OSEC_EAUTH on mismatch, OSEC_EPARSE on a malformed encoding,
 * OSEC_EPOLICY when parameters are out of the accepted range (ln 10..20,
 * r 1..32, p 1..16, and a working set of at most ~1 GiB, i.e. ln=20 needs
 * r <= 8).  osec_scrypt_hash enforces the same range. */
int osec_scrypt_verify(const char *password, size_t pw_len, const char *encoded);
/* Raw scrypt (RFC 7914) for test vectors; OSEC_EPOLICY past the memory cap. */
int osec_scrypt_raw(const uint8_t *pw, size_t pw_len, const uint8_t *salt, size_t salt_len,
                    uint64_t N, uint64_t r, uint64_t p, uint8_t *out, size_t out_len);

/* base64 (RFC 4648 section 4, padded) and base64url (section 5, unpadded).
 * All four append to out.  Decoders accept only canonical input (no
 * whitespace, no non-zero trailing bits, padding correct if present) and
 * return OSEC_EPARSE otherwise, leaving out's contents unchanged. */
int osec_b64_encode(const uint8_t *in, size_t len, struct osec_buf *out);
int osec_b64_decode(struct osec_slice in, struct osec_buf *out);   /* strict, padding optional */
int osec_b64url_encode(const uint8_t *in, size_t len, struct osec_buf *out);
int osec_b64url_decode(struct osec_slice in, struct osec_buf *out); /* strict, no padding */

#endif
