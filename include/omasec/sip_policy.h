/* Security decisions of the CPM SIP edge (cpm-sipd; DESIGN 5, seed 000
 * 4.3.1 and 4.3.4).  The daemon is protocol glue; every answer to "who is
 * this", "may they claim that identity", "is this peer trusted" is made
 * here, in one place.
 *
 * Principals.  A request reaching the edge comes from exactly one of:
 *   USER  a CPM Client, authenticated by SIP Digest (RFC 3261 22, RFC 8760)
 *         against the user's sealed HA1 (osec_sipauth_check);
 *   PEER  an Interworking Function peer of a non-CPM network, authenticated
 *         by its TLS client certificate (mutual TLS) and listed in the
 *         configuration (osec_sip_peer_find);
 *   CORE  the Conversation Server, i.e. the trust domain behind the edge.
 * Users and peers get exactly the same identity check (seed 000 4.3.4): an
 * identity they claim (From, P-Preferred-Identity, and a peer's
 * P-Asserted-Identity unless the peer is trusted) must be allocated to them.
 *
 * Identities are compared as canonical addresses-of-record
 * (osec_sip_uri_aor): "sip:user@host" with the host lower-cased, no port or
 * parameters; a sips: URI names the same AOR as sip:.  CPM Addresses are
 * allocated with `omasecctl address add USER URI` in that canonical form
 * (an allocation written as sips:user@host is accepted too).
 */
#ifndef OMASEC_SIP_POLICY_H
#define OMASEC_SIP_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "omasec/digest.h"
#include "omasec/lookup.h"
#include "omasec/ratelimit.h"
#include "omasec/sip.h"
#include "omasec/store.h"

#define OSEC_SIP_PEER_DOMAINS_MAX 8
#define OSEC_SIP_DOMAIN_MAX 253
#define OSEC_SIP_PEERS_MAX 64
#define OSEC_SIP_REASON_MAX 128

enum osec_sip_principal_kind {
    OSEC_SIP_PRINCIPAL_NONE = 0,
    OSEC_SIP_PRINCIPAL_USER = 1,
    OSEC_SIP_PRINCIPAL_PEER = 2,
    OSEC_SIP_PRINCIPAL_CORE = 3
};

/* An Interworking Function peer (non-CPM network). */
struct osec_sip_peer {
    char name[OSEC_STORE_NAME_MAX + 1]; /* = its certificate principal */
    char domains[OSEC_SIP_PEER_DOMAINS_MAX][OSEC_SIP_DOMAIN_MAX + 1];
    size_t n_domains;
    bool trusted; /* inside our trust domain: its P-Asserted-Identity is kept */
};

struct osec_sip_principal {
    enum osec_sip_principal_kind kind;
    char name[OSEC_STORE_NAME_MAX + 1]; /* user name or peer name; "" for CORE */
    const struct osec_sip_peer *peer;   /* PEER only */
};

/* ---- where allocations and credentials are read ------------------------- */

/* A per-thread cache of store answers: a user's HA1 values (the store holds
 * them sealed: one read and one AEAD open each time) and the owner of an
 * AOR.  A registration refresh asks the same questions every time; with the
 * cache a worker answers them from memory for ttl_ms.  Consequence, by
 * design: disabling a user, changing a password or releasing an address
 * takes effect after at most ttl_ms.  Only positive answers are kept (a user
 * added a moment ago can register at once).  Direct-mapped and bounded: a
 * colliding entry replaces the old one, so no input can make it grow.  HA1
 * values are wiped when replaced and when the cache is freed.  Not
 * thread-safe: one per worker. */
struct osec_sip_cache;
int osec_sip_cache_new(size_t capacity, unsigned ttl_ms, struct osec_sip_cache **out);
void osec_sip_cache_free(struct osec_sip_cache **c);

struct osec_sip_db {
    struct osec_store *st;
    struct osec_sip_cache *cache; /* NULL: ask the store every time */
};

/* Owner of a canonical AOR (an allocation written as sips: counts too). */
int osec_sip_db_owner(const struct osec_sip_db *db, const char *aor, char *user, size_t userlen);

/* osec_digest_lookup_fn for users through the cache: arg is a struct
 * osec_sip_cached_lookup; a miss asks osec_lookup_user_digest. */
struct osec_sip_cached_lookup {
    struct osec_lookup *l;
    struct osec_sip_cache *cache;
};
int osec_sip_cache_lookup(void *arg, const struct osec_digest_lookup *who,
                          struct osec_digest_secret *out);

/* ---- peers ------------------------------------------------------------- */

/* Parse a --peer argument "NAME" or "NAME=DOMAIN[,DOMAIN...]".  NAME is the
 * principal its certificate must carry (osec_tls_peer_principal: first SAN
 * URI or email, else the CN); without domains the peer may claim identities
 * in the domain NAME itself.  Domains are lower-cased.  EINVAL when
 * malformed. */
int osec_sip_peer_parse(const char *spec, struct osec_sip_peer *out);
/* The configured peer whose name equals the certificate principal exactly,
 * or NULL: an unlisted certificate is not a peer, even if the CA signed it. */
const struct osec_sip_peer *osec_sip_peer_find(const struct osec_sip_peer *peers, size_t n,
                                               const char *principal);
/* The peer whose domains include the host of aor ("sip:u@host"), or NULL. */
const struct osec_sip_peer *osec_sip_peer_for_aor(const struct osec_sip_peer *peers, size_t n,
                                                  const char *aor);

/* ---- identities ---------------------------------------------------------- */

/* Canonical AOR of a URI text (a Request-URI, a name-addr's URI) into out.
 * EPARSE / EPOLICY as osec_sip_uri_parse; EBOUNDS if it does not fit. */
int osec_sip_policy_aor(struct osec_slice uri, char *out, size_t outlen);

/* May who claim the identity uri?  0 when allowed, with the canonical AOR in
 * aor; OSEC_EPERM with a reason (never secrets) when not; other negative
 * codes on store errors.  USER: the AOR is allocated to that user.  PEER:
 * the AOR's host is one of the peer's domains and the AOR is not allocated
 * to any local user (a peer cannot speak for our users).  CORE: always. */
int osec_sip_policy_identity(const struct osec_sip_db *db, const struct osec_sip_principal *who,
                             struct osec_slice uri, char *aor, size_t aorlen, char *reason,
                             size_t reasonlen);

/* May who register bindings for the AOR in To?  Only USERs, and only for
 * addresses allocated to them (seed 000 4.3.1). */
int osec_sip_policy_register(const struct osec_sip_db *db, const struct osec_sip_principal *who,
                             struct osec_slice to_uri, char *aor, size_t aorlen, char *reason,
                             size_t reasonlen);

/* Is a P-Asserted-Identity received from who to be kept (RFC 3325 trust
 * domain)?  Only from the CORE and from peers configured as trusted. */
bool osec_sip_policy_trusts_pai(const struct osec_sip_principal *who);

/* The identity to assert for a request of who (USER or untrusted PEER):
 * checks From and every P-Preferred-Identity with osec_sip_policy_identity
 * and returns in pai the AOR to put in P-Asserted-Identity: the first
 * P-Preferred-Identity, else From.  A From of "anonymous.invalid" (RFC 3323)
 * is allowed when a P-Preferred-Identity names the caller, or (users) when
 * the user has an allocated address, which is then asserted.  EPERM with a
 * reason when anything claimed is not the caller's. */
int osec_sip_policy_assert(const struct osec_sip_db *db, const struct osec_sip_principal *who,
                           const struct osec_sip_msg *req, char *pai, size_t pailen,
                           char *reason, size_t reasonlen);

/* ---- Digest authentication of users ------------------------------------- */

struct osec_sipauth {
    struct osec_digest_server *digest;
    struct osec_ratelimit *rl; /* may be NULL: no rate limiting */
};

struct osec_sipauth_req {
    struct osec_slice method, uri, body; /* uri: Request-URI exactly as received */
    const struct osec_slice *credentials; /* Authorization or Proxy-Authorization values */
    size_t n_credentials;
    const char *realm;                    /* ours: credentials for other realms are ignored */
    const char *peer_ip;                  /* rate limiting key */
    struct osec_sip_cache *cache;         /* optional: HA1 values from memory */
};

struct osec_sipauth_result {
    unsigned status;     /* 0 authenticated; else 400, 401 (challenge: the caller
                            answers 401 or 407), 403 (blocked, retry_after set) */
    bool stale;          /* challenge with stale=true */
    unsigned retry_after;
    const char *reason;  /* static text for the reason phrase / log */
    char user[OSEC_STORE_NAME_MAX + 1];
    struct osec_digest_creds creds;
    struct osec_digest_result dres; /* wiped by osec_sipauth_done */
    uint8_t scratch[OSEC_DIGEST_HEADER_MAX];
};

/* Authenticate a request: picks the credentials for our realm (RFC 8760: one
 * per realm), verifies them (nonce, response, nonce-count replay) and applies
 * failed-authentication rate limiting per source address and per user name.
 * Returns 0 with res->status set, or a negative code on internal failure
 * (store down: answer 500).  The caller must absorb transport
 * retransmissions before calling: a retransmitted request repeats its
 * nonce-count and is refused as a replay. */
int osec_sipauth_check(const struct osec_sipauth *a, struct osec_lookup *l,
                       const struct osec_sipauth_req *req, struct osec_sipauth_result *res);
void osec_sipauth_done(struct osec_sipauth_result *res);

#endif
