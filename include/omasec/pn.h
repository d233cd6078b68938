/* Personal-network side of the CPNS security function (PNE and PN GW):
 * identity and EUKey storage, EUKey enrolment, onetime keys, PN session
 * credentials.  Built on devstate.h (sealed records) and cpns_client.h.
 *
 * PN establishment (DESIGN 4.4, docs/cpns-protocol.md "PN establishment"):
 *   1. the GW creates a onetime key for the peer and registers it at the
 *      server (osec_pn_pair), keeping its own copy as record <key_id>;
 *   2. the peer fetches it from the server over its EUKey-authenticated
 *      session, consumes it there and unwraps it (osec_pn_fetch_otk);
 *   3. they run TLS-PSK (identity = key_id, PSK = osec_otk_psk) or TLS +
 *      Digest (username = key_id, password = key text); the GW deletes its
 *      copy when the handshake succeeds, so the key works once;
 *   4. both derive a PN session credential (identity "pn-" + peer entity,
 *      key = HKDF(onetime key, "omasec/v1/pn-session/" + key_id)) that lets
 *      the peer re-open its PN session later without a new onetime key,
 *      until the GW forgets it or it expires (24 h by default).
 */
#ifndef OMASEC_PN_H
#define OMASEC_PN_H

#include <stdbool.h>
#include <stdint.h>

#include "omasec/crypto.h"
#include "omasec/devstate.h"
#include "omasec/store.h"

#define OSEC_PN_SESSION_TTL (24 * 3600)
#define OSEC_PN_SESSION_PREFIX "pn-"

struct osec_pn_identity {
    char entity_id[OSEC_STORE_NAME_MAX + 1];
    char user[OSEC_STORE_NAME_MAX + 1];
    char type[OSEC_STORE_TYPE_MAX + 1];
    uint8_t eukey[OSEC_KEY_LEN];
    int64_t expires;
    char server_host[256];
    uint16_t server_port;
    char cafile[1024];          /* "" when none */
};

/* A onetime key or PN session credential held by a device. */
struct osec_pn_key {
    char id[OSEC_STORE_NAME_MAX + 1];     /* key_id, or "pn-<entity>" */
    char peer[OSEC_STORE_NAME_MAX + 1];   /* the other side's entity id */
    uint8_t key[OSEC_KEY_LEN];
    int64_t expires;
};

int osec_pn_identity_save(struct osec_devstate *ds, const struct osec_pn_identity *id);
int osec_pn_identity_load(struct osec_devstate *ds, struct osec_pn_identity *id);
void osec_pn_identity_wipe(struct osec_pn_identity *id);

/* EUKey assignment over server-authenticated TLS with the user's password;
 * fills id (entity, user, type, eukey, expires, server, cafile).  With
 * via_host (a PN GW's enrolment tunnel) the TLS session to the server runs
 * through the GW's CONNECT tunnel, still end to end. */
struct osec_pn_enroll_opts {
    const char *host;
    uint16_t port;
    const char *cafile;
    const char *entity_id, *type, *user, *password;
    const char *via_host;
    uint16_t via_port;
};
int osec_pn_enroll(const struct osec_pn_enroll_opts *o, struct osec_pn_identity *id);

/* A client to the CPNS Server authenticated with the identity's EUKey:
 * TLS-PSK (identity = entity id) — mutual, no certificate needed. */
struct osec_cpns_client;
int osec_pn_server_client(const struct osec_pn_identity *id, struct osec_cpns_client **out);

/* GW: create + register a onetime key for peer, keep it as record key->id. */
int osec_pn_pair(struct osec_devstate *ds, struct osec_cpns_client *server, const char *peer,
                 int64_t ttl, struct osec_pn_key *key);
/* Peer: fetch a pending onetime key (from creator, or the newest when NULL),
 * consume it at the server and unwrap it with the EUKey. */
int osec_pn_fetch_otk(struct osec_cpns_client *server, const struct osec_pn_identity *id,
                      const char *creator, struct osec_pn_key *key);

/* Records of keys (onetime keys by key_id, PN sessions by "pn-" entity). */
int osec_pn_key_save(struct osec_devstate *ds, const struct osec_pn_key *key);
/* OSEC_ENOTFOUND absent, OSEC_ESTALE expired (and deleted). */
int osec_pn_key_load(struct osec_devstate *ds, const char *id, struct osec_pn_key *key);
/* The PN session credential both sides derive from a used onetime key. */
int osec_pn_session_derive(const struct osec_pn_key *otk, const char *pne_entity,
                           struct osec_pn_key *session);
/* The TLS PSK for a key record: onetime keys use osec_otk_psk(key, id),
 * session credentials their key as is. */
int osec_pn_key_psk(const struct osec_pn_key *key, uint8_t psk[OSEC_KEY_LEN]);

/* ---- joining a PN GW (PNE join, and GW<->GW link) ------------------------ */

enum osec_pn_mode {
    OSEC_PN_MODE_PSK = 1,    /* TLS 1.3/1.2 PSK, or DTLS 1.2 PSK with udp */
    OSEC_PN_MODE_DIGEST = 2  /* TLS with the GW's certificate + HTTP Digest */
};

struct osec_pn_join_opts {
    const char *gw_host;
    uint16_t gw_port;
    bool udp;
    enum osec_pn_mode mode;
    const char *gw_cafile;   /* DIGEST mode: trust anchors for the GW certificate */
    const char *creator;     /* take the onetime key from this GW (NULL: newest) */
};

/* Fetch + unwrap the onetime key, establish the PN session with the GW,
 * check (over the session) that the GW is the key's creator, and keep the
 * derived PN session credential as record "pn-<own entity id>".  gw gets the
 * GW's entity id.  Any failure is an error with the reason recorded. */
int osec_pn_join(struct osec_devstate *ds, const struct osec_pn_identity *id,
                 const struct osec_pn_join_opts *o, char gw[OSEC_STORE_NAME_MAX + 1]);
/* A client for an established PN session (record "pn-<own entity id>"),
 * with the entity's own Digest credentials for relayed server requests. */
int osec_pn_session_client(struct osec_devstate *ds, const struct osec_pn_identity *id,
                           const char *gw_host, uint16_t gw_port, bool udp,
                           struct osec_cpns_client **out);

#endif
