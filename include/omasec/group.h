/* CPNS Service Groups (seed 004, DESIGN 4.6): group keys distributed over
 * the secure sessions, and integrity-protected group messages that travel
 * outside them (UDP unicast, broadcast or multicast on the PAN).
 *
 * Server side.  A group (id, creator = a PN GW, members, epoch, 256-bit group
 * key) is kept in the store's meta table as one value sealed under the master
 * key (name "group/<id>", purpose "group", AAD = the name), plus a per-member
 * index of group ids ("gm/" + base64url(SHA-256(entity id))[0..16], sealed,
 * AAD = the entity id) so a member's groups can be listed and a revoked
 * entity removed from all of them.  Every change is one store transaction.
 * A member fetches the current key wrapped for it: AES-256-GCM under
 * HKDF-SHA256(IKM = its EUKey, info "omasec/v1/group-wrap"), AAD binding
 * group id, epoch, creator, the member and the whole member list.  Removing a
 * member starts a new epoch with a fresh key, so the removed member can
 * neither read the new key nor produce messages the others accept.
 *
 * Message (all integers big endian; docs/cpns-protocol.md "Service Groups"):
 *   "OG" | u8 version=1 | u8 flags=0 | u8 glen | group id | u32 epoch |
 *   u8 slen | sender entity id | u64 seq | u16 plen | payload |
 *   MAC = HMAC-SHA256(K_mac, every byte before the MAC), first 16 bytes
 * K_mac = HKDF-SHA256(IKM = group key, info "omasec/v1/group-mac" |
 * u8 glen | group id | u32 epoch).  Integrity only (payload in the clear): a
 * reused sequence number then costs one dropped message, never the key.
 *
 * The MAC proves "a member of this epoch sent this"; it does not prove which
 * member (every member holds the key): the sender field is a member's claim.
 */
#ifndef OMASEC_GROUP_H
#define OMASEC_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "omasec/authz.h"
#include "omasec/buf.h"
#include "omasec/crypto.h"
#include "omasec/seal.h"
#include "omasec/store.h"

#define OSEC_GROUP_ID_MAX 64          /* group id: 1..64 of [A-Za-z0-9._@+-] */
#define OSEC_GROUP_MEMBERS_MAX 64     /* members per group, creator included */
#define OSEC_GROUP_PER_ENTITY_MAX 64  /* groups one entity may belong to */
#define OSEC_GROUP_PAYLOAD_MAX 1024
#define OSEC_GROUP_MAC_LEN 16
#define OSEC_GROUP_VERSION 1
#define OSEC_GROUP_WINDOW 64          /* replay window, in sequence numbers */
#define OSEC_GROUP_MSG_MIN (4 + 1 + 1 + 4 + 1 + 1 + 8 + 2 + OSEC_GROUP_MAC_LEN)
#define OSEC_GROUP_MSG_MAX (4 + 1 + OSEC_GROUP_ID_MAX + 4 + 1 + OSEC_STORE_NAME_MAX + 8 + 2 + \
                            OSEC_GROUP_PAYLOAD_MAX + OSEC_GROUP_MAC_LEN)
#define OSEC_GROUP_WRAP_LEN (OSEC_AEAD_NONCE_LEN + OSEC_KEY_LEN + OSEC_AEAD_TAG_LEN)

/* One epoch of a group.  members is sorted, without duplicates, and holds
 * the creator (unless the creator was revoked: osec_group_purge_entity).
 * key is secret: osec_group_clear wipes it. */
struct osec_group {
    char id[OSEC_GROUP_ID_MAX + 1];
    char creator[OSEC_STORE_NAME_MAX + 1];
    uint32_t epoch;                 /* 1 at creation, +1 per rotation */
    int64_t created, updated;       /* updated: when this epoch began */
    uint8_t key[OSEC_KEY_LEN];
    size_t nmembers;
    char members[OSEC_GROUP_MEMBERS_MAX][OSEC_STORE_NAME_MAX + 1];
};

void osec_group_clear(struct osec_group *g);
/* 0 if id is a valid group id, else OSEC_EINVAL. */
int osec_group_id_valid(const char *id);
bool osec_group_is_member(const struct osec_group *g, const char *entity);
/* Canonical binary form (the sealed record's plaintext, also the device
 * record): strict parser, OSEC_EPARSE on anything else. */
int osec_group_encode(const struct osec_group *g, struct osec_buf *out);
int osec_group_decode(struct osec_slice in, struct osec_group *g);

/* ---- server side ------------------------------------------------------ */

/* Create group id with creator who (must be a PN GW) and members (the
 * creator is added; listing it is allowed, any other duplicate is
 * OSEC_EINVAL).  Each member must pass osec_authz_check
 * OSEC_AUTHZ_GROUP_ADD, else OSEC_EPERM with the reason in reason.  Existing
 * id: OSEC_EEXISTS; too many members, or a member in too many groups:
 * OSEC_EBOUNDS.  out (may be NULL) gets the new group. */
int osec_group_create(struct osec_store *st, const struct osec_master *m,
                      const struct osec_principal *who, const char *id,
                      const char *const *members, size_t nmembers, struct osec_group *out,
                      char *reason, size_t reasonlen);
/* The current epoch: OSEC_ENOTFOUND, OSEC_EINTEGRITY (record does not open). */
int osec_group_load(struct osec_store *st, const struct osec_master *m, const char *id,
                    struct osec_group *out);
/* For member: the group (out) and its key wrapped for the member
 * (appended to wrapped).  Not a member: OSEC_EPERM; member without a usable
 * EUKey: the osec_eukey_get code. */
int osec_group_key_for(struct osec_store *st, const struct osec_master *m, const char *id,
                       const char *member, struct osec_group *out, struct osec_buf *wrapped);
/* Remove member (by the creator, or by the member itself), new epoch and
 * fresh key.  OSEC_EPERM (reason set): not allowed, or the creator leaving;
 * OSEC_ENOTFOUND: no such group or not a member.  out may be NULL. */
int osec_group_remove(struct osec_store *st, const struct osec_master *m,
                      const struct osec_principal *who, const char *id, const char *member,
                      struct osec_group *out, char *reason, size_t reasonlen);
/* Remove entity from every group it belongs to (it was revoked); groups it
 * created are rotated too (their creator can no longer act).  *count (may be
 * NULL) gets how many groups changed. */
int osec_group_purge_entity(struct osec_store *st, const struct osec_master *m,
                            const char *entity, unsigned *count);
/* The groups entity belongs to, by id; g->key is zeroed before the call. */
typedef int (*osec_group_cb)(const struct osec_group *g, void *arg);
int osec_group_list(struct osec_store *st, const struct osec_master *m, const char *entity,
                    osec_group_cb cb, void *arg);
/* POST body {"group":ID,"members":[ID,...]}: fills out->id and members
 * (unsorted, as given: osec_group_create checks them).  Strict: OSEC_EPARSE. */
int osec_group_parse_create(struct osec_slice body, struct osec_group *out);

/* Key wrap for one member (both sides).  unwrap fills g->key. */
int osec_group_wrap(const uint8_t eukey[OSEC_KEY_LEN], const struct osec_group *g,
                    const char *member, struct osec_buf *out);
int osec_group_unwrap(const uint8_t eukey[OSEC_KEY_LEN], struct osec_group *g,
                      const char *member, const uint8_t *wrapped, size_t len);

/* ---- messages --------------------------------------------------------- */

/* A parsed message; the slices point into the datagram. */
struct osec_group_msg {
    char group[OSEC_GROUP_ID_MAX + 1];
    char sender[OSEC_STORE_NAME_MAX + 1];
    uint32_t epoch;
    uint64_t seq;
    struct osec_slice payload;
    struct osec_slice authed;       /* the bytes the MAC covers */
    struct osec_slice mac;
};

/* Strict parse (no MAC check): OSEC_EPARSE on a bad magic/version/flags,
 * invalid ids, epoch 0, seq 0, lengths that do not add up, trailing bytes. */
int osec_group_msg_parse(const uint8_t *data, size_t len, struct osec_group_msg *out);
/* Build a message of sender (must be a member: else OSEC_EPERM); seq >= 1. */
int osec_group_msg_build(const struct osec_group *g, const char *sender, uint64_t seq,
                         struct osec_slice payload, struct osec_buf *out);
/* The MAC key of an epoch. */
int osec_group_mac_key(const struct osec_group *g, uint8_t kmac[OSEC_KEY_LEN]);

/* ---- receiver --------------------------------------------------------- */

struct osec_group_counters {
    uint64_t accepted, forged, replayed, nonmember, malformed;
};

struct osec_group_rx;

int osec_group_rx_new(const struct osec_group *g, struct osec_group_rx **out);
void osec_group_rx_free(struct osec_group_rx **rx);
/* Install a newer epoch of the same group (windows start afresh); the same
 * epoch is a no-op; an older one OSEC_ESTALE; another group OSEC_EINVAL. */
int osec_group_rx_rekey(struct osec_group_rx *rx, const struct osec_group *g);
uint32_t osec_group_rx_epoch(const struct osec_group_rx *rx);
/* Verdict on one datagram, checked in this order and counted:
 *   OSEC_EPARSE    malformed
 *   OSEC_EAUTH     forged: another group, an older (retired) epoch
 *   OSEC_ESTALE    epoch newer than ours: NOT counted; fetch the key, rekey
 *                  and verify again, or count it as forged (osec_group_rx_count)
 *   OSEC_EPERM     sender not a member of this epoch (before the MAC: no
 *                  crypto is spent on senders we would drop anyway)
 *   OSEC_EAUTH     forged: the MAC does not verify
 *   OSEC_EREPLAY   replayed: seq seen, or older than the window
 *   0              accepted (only now does the sender's window move)
 * out (may be NULL) is filled from 0 and EPERM/EAUTH/EREPLAY/ESTALE. */
int osec_group_rx_verify(struct osec_group_rx *rx, const uint8_t *data, size_t len,
                         struct osec_group_msg *out);
/* Count a verdict decided by the caller (0 or one of the codes above). */
void osec_group_rx_count(struct osec_group_rx *rx, int verdict);
struct osec_group_counters osec_group_rx_counters(const struct osec_group_rx *rx);
/* Replay state (epoch, per sender highest seq + window) so a restarted
 * receiver keeps refusing replays.  load: OSEC_EPARSE malformed; a state of
 * another group or epoch is ignored (returns OSEC_ESTALE, nothing changes). */
int osec_group_rx_save(const struct osec_group_rx *rx, struct osec_buf *out);
int osec_group_rx_load(struct osec_group_rx *rx, struct osec_slice state);

/* ---- device side (PNE / PN GW) ---------------------------------------- */

struct osec_cpns_client;
struct osec_devstate;
struct osec_pn_identity;

/* Requests to the CPNS Server over the entity's authenticated session. */
int osec_group_request_create(struct osec_cpns_client *server, const char *id,
                              const char *const *members, size_t n, uint32_t *epoch);
int osec_group_request_remove(struct osec_cpns_client *server, const char *id,
                              const char *member, uint32_t *epoch);
/* GET the key, check the response names the group, unwrap with the EUKey.
 * 403: OSEC_EPERM, 404: OSEC_ENOTFOUND. */
int osec_group_fetch(struct osec_cpns_client *server, const struct osec_pn_identity *id,
                     const char *group, struct osec_group *out);
/* Device records: "grpkey-<id>" (the group), "grptx-<id>" (last sequence
 * number sent), "grprx-<id>" (receiver replay state). */
int osec_group_save(struct osec_devstate *ds, const struct osec_group *g);
int osec_group_restore(struct osec_devstate *ds, const char *id, struct osec_group *g);
/* Reserve the next sequence number: persisted before it is returned, so a
 * crash after sending never reuses it. */
int osec_group_next_seq(struct osec_devstate *ds, const char *id, uint64_t *seq);
int osec_group_rx_store(struct osec_devstate *ds, const struct osec_group_rx *rx);
/* Missing or stale state: 0, nothing loaded. */
int osec_group_rx_restore(struct osec_devstate *ds, struct osec_group_rx *rx);

#endif
