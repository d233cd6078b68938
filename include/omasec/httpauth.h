/* Authentication of one HTTP request to a CPNS Server (DESIGN 4.1, 4.2).
 *
 * The decision is made here, not in the daemon:
 * - an ENTITY request is authenticated by HTTP Digest with username =
 *   Entity ID and password = the EUKey's text form when it carries an
 *   Authorization header, else by the TLS-PSK identity of its connection
 *   (identity = Entity ID, PSK = HKDF(EUKey), checked during the handshake).
 *   Request credentials win so that a PN GW can relay a PNE's own
 *   Digest-authenticated request over the GW's PSK session;
 * - a USER request (EUKey assignment, revocation by the owner) is
 *   authenticated by Digest with the user's password (sealed HA1), or by
 *   Basic inside TLS when policy allows it;
 * - failed attempts are counted per source address and per identity and
 *   answered with 429 + Retry-After once over the limit.
 */
#ifndef OMASEC_HTTPAUTH_H
#define OMASEC_HTTPAUTH_H

#include <stdbool.h>

#include "omasec/authz.h"
#include "omasec/digest.h"
#include "omasec/lookup.h"
#include "omasec/ratelimit.h"

enum osec_httpauth_kind {
    OSEC_HTTPAUTH_ENTITY = 1,
    OSEC_HTTPAUTH_USER = 2
};

struct osec_httpauth {
    struct osec_digest_server *digest;
    struct osec_ratelimit *rl;   /* may be NULL: no rate limiting */
    bool allow_basic;            /* Basic for USER requests (inside TLS only) */
};

struct osec_httpauth_req {
    struct osec_slice method, uri, body;
    struct osec_slice authorization; /* header value; empty when absent */
    const char *peer_ip;
    const char *psk_identity;        /* NULL unless the connection is TLS-PSK */
    bool tls;
    /* CPNS-Relayed-For: the entity a PN GW relays this request for (empty
     * when not relayed).  A relayed request is never authenticated by the
     * connection's PSK identity: it needs the entity's own Digest, and the
     * Digest username must equal this value. */
    struct osec_slice relayed_for;
};

struct osec_httpauth_result {
    int status;                      /* 0 ok, else 400, 401, 429 */
    bool stale;                      /* 401 with stale=true */
    unsigned retry_after;            /* 429 */
    const char *reason;              /* static text for the error body */
    bool via_psk, via_digest;
    struct osec_principal who;
    int64_t entity_expires;          /* EUKey expiry of an authenticated entity */
    char relayed_by[OSEC_STORE_NAME_MAX + 1]; /* PSK identity of the relaying GW, or "" */
    struct osec_digest_creds creds;  /* valid while the request is */
    struct osec_digest_result dres;  /* wiped by osec_httpauth_info / _done */
    uint8_t scratch[OSEC_DIGEST_HEADER_MAX];
};

/* 0 with res->status set (0: authenticated); negative only on internal
 * failures (store down...), which the caller answers with 500/503. */
int osec_httpauth_check(const struct osec_httpauth *a, struct osec_lookup *l,
                        enum osec_httpauth_kind kind, const struct osec_httpauth_req *req,
                        struct osec_httpauth_result *res);
/* WWW-Authenticate value(s) for a 401 (comma-separated challenges). */
int osec_httpauth_challenge(const struct osec_httpauth *a, const struct osec_httpauth_req *req,
                            bool stale, struct osec_buf *out);
/* Authentication-Info value for a Digest-authenticated response (nothing
 * appended for PSK/Basic); wipes the session key. */
int osec_httpauth_info(const struct osec_httpauth *a, struct osec_httpauth_result *res,
                       const struct osec_httpauth_req *req, struct osec_slice resp_body,
                       struct osec_buf *out);
void osec_httpauth_done(struct osec_httpauth_result *res);

#endif
