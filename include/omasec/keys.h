/* CPNS key management: EUKeys and onetime security keys (seed 003, DESIGN 4).
 *
 * EUKey: a 256-bit key the CPNS Server assigns to a PNE or PN Gateway after
 * authenticating the owning user; stored sealed under the master key
 * (purpose "eukey", AAD = entity id NUL user id).  Its textual form, the
 * Digest "password" of the entity, is base64url (43 characters).
 *
 * Onetime key: a 256-bit key a PN GW creates for one peer (a PNE or another
 * GW).  The server stores it wrapped for the peer under a key derived from
 * the peer's EUKey, so only the peer (and nobody reading the store without
 * the master key) can unwrap it; AAD binds key id, creator, peer and expiry.
 * Single use, short-lived.
 */
#ifndef OMASEC_KEYS_H
#define OMASEC_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "omasec/buf.h"
#include "omasec/crypto.h"
#include "omasec/seal.h"
#include "omasec/store.h"

#define OSEC_EUKEY_TTL_DEFAULT (365 * 86400)
#define OSEC_OTK_TTL_DEFAULT 300
#define OSEC_OTK_TTL_MAX 3600
#define OSEC_KEY_TEXT_LEN 43          /* base64url of 32 bytes */
#define OSEC_OTK_ID_PREFIX "otk-"

/* ---- EUKeys (server side) ------------------------------------------------ */

/* Fresh EUKey for entity_id owned by user; replaces the old key when the
 * entity belongs to the same user (old key stops working at once); another
 * user's entity: OSEC_EPERM.  type: "pne" or "gw".  ttl seconds (> 0). */
int osec_eukey_assign(struct osec_store *st, const struct osec_master *m,
                      const char *entity_id, const char *type, const char *user,
                      int64_t ttl, uint8_t key[OSEC_KEY_LEN], int64_t *expires);
/* The usable EUKey of an entity (and its record when ent != NULL; clear it
 * with osec_store_entity_clear).  OSEC_ENOTFOUND unknown, OSEC_EPERM revoked,
 * OSEC_ESTALE expired, OSEC_EINTEGRITY when the sealed key does not open. */
int osec_eukey_get(struct osec_store *st, const struct osec_master *m, const char *entity_id,
                   uint8_t key[OSEC_KEY_LEN], struct osec_store_entity *ent);
/* Revoke an entity: its EUKey and onetime keys stop working and it leaves
 * every Service Group it belongs to (new epochs), in one transaction.
 * *groups (may be NULL) gets how many groups were rotated. */
int osec_eukey_revoke(struct osec_store *st, const struct osec_master *m, const char *entity_id,
                      unsigned *groups);
/* Delete a user with everything it owns: its entities first leave their
 * groups, then the user, addresses, entities and ACL entries go (one
 * transaction). */
int osec_user_delete(struct osec_store *st, const struct osec_master *m, const char *user);
/* Text form (Digest password) of a key: 43 base64url chars + NUL. */
int osec_key_to_text(const uint8_t key[OSEC_KEY_LEN], char out[OSEC_KEY_TEXT_LEN + 1]);
int osec_key_from_text(struct osec_slice text, uint8_t key[OSEC_KEY_LEN]);
/* HKDF-SHA256(ikm = key, salt = none, info = label || id): every per-use key
 * omasec derives from a 256-bit key goes through here. */
int osec_key_derive(const uint8_t key[OSEC_KEY_LEN], const char *label, const char *id,
                    uint8_t out[OSEC_KEY_LEN]);
/* TLS-PSK of an entity (LwM2M style): HKDF(EUKey, info "omasec/v1/psk/eukey/" id). */
int osec_eukey_psk(const uint8_t eukey[OSEC_KEY_LEN], const char *entity_id,
                   uint8_t psk[OSEC_KEY_LEN]);

/* ---- onetime keys -------------------------------------------------------- */

/* Wrap / unwrap a onetime key for peer (both sides use these). */
int osec_otk_wrap(const uint8_t peer_eukey[OSEC_KEY_LEN], const char *key_id,
                  const char *creator, const char *peer, int64_t expires,
                  const uint8_t key[OSEC_KEY_LEN], struct osec_buf *out);
int osec_otk_unwrap(const uint8_t peer_eukey[OSEC_KEY_LEN], const char *key_id,
                    const char *creator, const char *peer, int64_t expires,
                    const uint8_t *wrapped, size_t len, uint8_t key[OSEC_KEY_LEN]);
/* Server: register key created by creator for peer: checks the peer is a
 * live entity, wraps the key for it, stores it; key_id gets a fresh id
 * ("otk-" + 22 base64url chars). ttl in 1..OSEC_OTK_TTL_MAX. */
int osec_otk_register(struct osec_store *st, const struct osec_master *m, const char *creator,
                      const char *peer, const uint8_t key[OSEC_KEY_LEN], int64_t ttl,
                      char key_id[OSEC_STORE_NAME_MAX + 1], int64_t *expires);
/* TLS-PSK from a onetime key: HKDF(key, info "omasec/v1/psk/otk/" key_id). */
int osec_otk_psk(const uint8_t key[OSEC_KEY_LEN], const char *key_id,
                 uint8_t psk[OSEC_KEY_LEN]);

#endif
