/* CPNS/CPM user accounts: password hashes and sealed Digest HA1 values.
 *
 * A user's password is kept only as (1) an scrypt PHC hash, used for
 * password logins (IMAP LOGIN, Basic inside TLS, EUKey assignment) and
 * (2) the Digest HA1 values H(user:realm:password) for MD5, SHA-256 and
 * SHA-512-256, sealed under the master key (purpose "digest-ha1", AAD binds
 * user and realm) so that a stolen database gives neither the password nor
 * a usable Digest secret.  HA1 depends on the realm: changing the realm
 * requires every user to set the password again (documented in
 * docs/security-model.md).
 */
#ifndef OMASEC_ACCOUNT_H
#define OMASEC_ACCOUNT_H

#include <stddef.h>
#include <stdint.h>

#include "omasec/crypto.h"
#include "omasec/seal.h"
#include "omasec/store.h"

#define OSEC_ACCOUNT_PASSWORD_MAX 1024
#define OSEC_DEFAULT_REALM "omasec"
/* Policy key holding the deployment's Digest realm (set by omasecctl init). */
#define OSEC_POLICY_REALM "digest.realm"

/* Valid user / entity name: 1..128 bytes of [A-Za-z0-9._@+-]. */
int osec_account_name_valid(const char *name);
/* Valid password: 1..1024 bytes, no NUL, CR or LF. */
int osec_account_password_valid(const char *pw, size_t len);

/* The realm in force: policy digest.realm, else OSEC_DEFAULT_REALM. */
int osec_account_realm(struct osec_store *st, char *out, size_t outlen);

int osec_account_add(struct osec_store *st, const struct osec_master *m, const char *realm,
                     const char *name, const char *pw, size_t pw_len,
                     struct osec_scrypt_params prm);
int osec_account_set_password(struct osec_store *st, const struct osec_master *m,
                              const char *realm, const char *name, const char *pw,
                              size_t pw_len, struct osec_scrypt_params prm);
/* 0 if the password is right; OSEC_EAUTH for a wrong password, an unknown
 * user or a disabled account (the same code and roughly the same time, so
 * a caller cannot tell which). */
int osec_account_verify_password(struct osec_store *st, const char *name, const char *pw,
                                 size_t pw_len);
/* The HA1 of name for alg (MD5, SHA256 or SHA512_256) into out
 * (>= osec_hash_len(alg)).  OSEC_ENOTFOUND: no such user;
 * OSEC_EINTEGRITY: the sealed value does not open (tampered, or sealed
 * for another realm). */
int osec_account_ha1(struct osec_store *st, const struct osec_master *m, const char *realm,
                     const char *name, enum osec_hash_alg alg, uint8_t *out);

#endif
