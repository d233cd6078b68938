/* Secret lookups that connect Digest / TLS-PSK to the store.
 *
 * These are the only places where a stored secret becomes an
 * authentication secret, so they are the places to review:
 * - users authenticate with Digest against their sealed HA1 values;
 * - entities (PNEs, PN GWs) authenticate with Digest where the "password"
 *   is the text form of their EUKey (base64url), and with TLS-PSK where the
 *   identity is the Entity ID and the PSK is HKDF(EUKey) (osec_eukey_psk).
 * A revoked or expired entity, or an unknown name, is "not found": the
 * caller answers exactly as for a wrong secret.
 */
#ifndef OMASEC_LOOKUP_H
#define OMASEC_LOOKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "omasec/digest.h"
#include "omasec/seal.h"
#include "omasec/store.h"

struct osec_lookup {
    struct osec_store *st;
    const struct osec_master *m;
    const char *realm;
};

/* The entity record the last successful osec_lookup_entity_digest on this
 * thread read (without its sealed key), so that the request that follows
 * need not read it again: true if it was entity_id.  Cleared by
 * osec_lookup_forget(). */
bool osec_lookup_last_entity(const char *entity_id, struct osec_store_entity *out);
void osec_lookup_forget(void);

/* A Digest nonce secret shared through the store (meta record `name`,
 * sealed under the master key), created by whichever instance comes first:
 * every daemon instance on one store accepts the others' nonces.
 *
 * this_process_only: mix a random value drawn once per process into it, so
 * that nonces do not survive a restart.  Use it whenever the nonce-count
 * replay state is kept in memory: otherwise a request accepted before a
 * restart could be replayed once after it while its nonce lives.  (With the
 * replay state in a shared store, several instances and restarts are safe
 * with the plain shared secret.) */
int osec_lookup_nonce_secret(struct osec_store *st, const struct osec_master *m,
                             const char *name, bool this_process_only,
                             uint8_t out[OSEC_DIGEST_SECRET_LEN]);

/* osec_digest_lookup_fn for users (arg: struct osec_lookup). */
int osec_lookup_user_digest(void *arg, const struct osec_digest_lookup *who,
                            struct osec_digest_secret *out);
/* osec_digest_lookup_fn for entities (arg: struct osec_lookup). */
int osec_lookup_entity_digest(void *arg, const struct osec_digest_lookup *who,
                              struct osec_digest_secret *out);
/* TLS-PSK for an entity identity (an osec_psk_lookup_fn body). */
int osec_lookup_entity_psk(struct osec_store *st, const struct osec_master *m,
                           const char *identity, uint8_t *psk, size_t psk_max, size_t *psk_len);

#endif
