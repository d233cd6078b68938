/* Secrets at rest: the master key file and sealed values.
 *
 * The master key file (DIR/master.key, mode 0600) holds one or more
 * versioned 256-bit keys; the highest version seals, every version opens, so
 * the master key can be rotated without re-sealing everything at once.
 * Per-purpose keys are derived with HKDF-SHA256 (info = "omasec/v1/" purpose),
 * so a key for EUKeys never equals the key for HA1 values or messages.
 *
 * Sealed value layout (all integers big endian):
 *   'O' 'S'  | u8 format=1 | u32 master key version | u8 aead alg |
 *   12-byte nonce | ciphertext || 16-byte tag
 * AAD = header bytes || u16 len(purpose) || purpose || caller's aad,
 * where "header bytes" are the 20 bytes before the ciphertext (magic through
 * nonce).  A purpose is 1..255 bytes.
 *
 * Master key file: text, one line per version, versions strictly increasing:
 *   "<decimal version> <64 lower-case hex chars>\n"
 * It must be a regular file (not a symlink) with no group/other permission
 * bits, else load/rotate fail with OSEC_EPERM naming the file and its mode.
 */
#ifndef OMASEC_SEAL_H
#define OMASEC_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "omasec/buf.h"
#include "omasec/crypto.h"

struct osec_master;

#define OSEC_SEAL_OVERHEAD (2 + 1 + 4 + 1 + OSEC_AEAD_NONCE_LEN + OSEC_AEAD_TAG_LEN)

/* Create a new master key file with version 1 (O_EXCL, mode 0600). EEXISTS if present. */
int osec_master_create(const char *path);
/* Load; refuses symlinks (O_NOFOLLOW), group/world-readable files and bad syntax. */
int osec_master_load(const char *path, struct osec_master **out);
/* Append a new highest version to the file (atomically: temp, fsync, rename). */
int osec_master_rotate(const char *path);
void osec_master_free(struct osec_master **m);
/* A single-version master from raw key bytes (key_len == OSEC_KEY_LEN), for
 * tests, fuzzing and tools that keep the key elsewhere. */
int osec_master_from_bytes(const uint8_t *key, size_t key_len, uint32_t version,
                           struct osec_master **out);
uint32_t osec_master_current_version(const struct osec_master *m);
/* Derive the purpose key of the current version. */
int osec_master_derive(const struct osec_master *m, const char *purpose,
                       uint8_t out[OSEC_KEY_LEN]);

/* Seal pt under the purpose key; appends the sealed value to out. */
int osec_seal(const struct osec_master *m, const char *purpose, const uint8_t *aad,
              size_t aad_len, const uint8_t *pt, size_t pt_len, struct osec_buf *out);
/* Open a sealed value; appends plaintext to out (use a secret buffer).
 * OSEC_EINTEGRITY if tampered, wrong purpose/aad, or unknown key version. */
int osec_unseal(const struct osec_master *m, const char *purpose, const uint8_t *aad,
                size_t aad_len, const uint8_t *sealed, size_t sealed_len,
                struct osec_buf *out);
/* Master key version a sealed value was made with (for re-seal after rotation).
 * OSEC_EINTEGRITY if the header is malformed. */
int osec_sealed_version(const uint8_t *sealed, size_t sealed_len, uint32_t *version);

#endif
