/* A small blocking HTTP/1.1-over-(D)TLS client for the CPNS protocol.
 *
 * Used by cpns-pne and cpns-gw (and the benchmarks): to the CPNS Server
 * (certificate-verified TLS, or TLS-PSK with the EUKey) and over a PN
 * session to a PN Gateway (TLS-PSK / DTLS-PSK with a onetime or session
 * key, or certificate-verified TLS).  One connection, kept alive, reopened
 * on demand after a failure (the next request reconnects).
 *
 * Digest: with credentials set, a 401 is answered once with an
 * Authorization computed by libomasec's Digest client (strongest allowed
 * algorithm; MD5 refused unless allowed), later requests reuse the nonce
 * with an increasing nonce-count, and every authenticated response must
 * carry an Authentication-Info whose rspauth verifies (the server proves the
 * same secret): otherwise the request fails with OSEC_EAUTH.
 */
#ifndef OMASEC_CPNS_CLIENT_H
#define OMASEC_CPNS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "omasec/buf.h"
#include "omasec/crypto.h"

struct osec_cpns_client_opts {
    const char *host;             /* numeric address or name */
    uint16_t port;
    const char *ca_file;          /* verify the server's certificate (name = host) */
    const char *psk_identity;     /* or authenticate with a PSK (both sides) */
    const uint8_t *psk;
    size_t psk_len;
    bool dtls;                    /* DTLS 1.2 over UDP (PSK only) */
    unsigned timeout_ms;          /* per connect / request; 0: 10000 */
    const char *tunnel_host;      /* reach host:port through a PN GW's CONNECT */
    uint16_t tunnel_port;         /* tunnel (TLS stays end to end); NULL: direct */
};

#define OSEC_CPNS_HDR_MAX 2048

struct osec_cpns_response {
    int status;
    struct osec_buf body;                       /* secret buffer (may hold keys) */
    char www_authenticate[OSEC_CPNS_HDR_MAX];   /* first WWW-Authenticate, "" if none */
    char auth_info[OSEC_CPNS_HDR_MAX];          /* Authentication-Info, "" if none */
};

struct osec_cpns_client;

int osec_cpns_client_new(const struct osec_cpns_client_opts *o, struct osec_cpns_client **out);
void osec_cpns_client_free(struct osec_cpns_client **c);

/* Digest credentials (copied; wiped on free).  allowed_algs: OSEC_DIGEST_ALG_BIT
 * mask, 0 = SHA-256 / SHA-512-256 family. */
int osec_cpns_client_set_digest(struct osec_cpns_client *c, const char *username,
                                const char *password, unsigned allowed_algs);

/* Open the connection now (it is otherwise opened by the first request). */
int osec_cpns_client_connect(struct osec_cpns_client *c);
void osec_cpns_client_close(struct osec_cpns_client *c);
bool osec_cpns_client_connected(const struct osec_cpns_client *c);
/* The live SSL (NULL when not connected). */
SSL *osec_cpns_client_ssl(struct osec_cpns_client *c);

void osec_cpns_response_init(struct osec_cpns_response *r);
void osec_cpns_response_free(struct osec_cpns_response *r);

/* One request.  authorization: an Authorization value to send as is (a
 * relayed request), or NULL to use the client's own Digest credentials (if
 * any).  The response is filled for every HTTP status; a negative return
 * means no valid response (I/O, TLS, parse, or a failed rspauth check). */
int osec_cpns_client_request(struct osec_cpns_client *c, const char *method, const char *path,
                             struct osec_slice body, const char *authorization,
                             struct osec_cpns_response *resp);

/* A request relayed by a PN GW for entity relayed_for (sent as
 * CPNS-Relayed-For) with the entity's own Authorization (may be NULL). */
int osec_cpns_client_relay(struct osec_cpns_client *c, const char *method, const char *path,
                           struct osec_slice body, const char *authorization,
                           const char *relayed_for, struct osec_cpns_response *resp);

/* Parse "https://HOST:PORT" (or "HOST:PORT") into host and port. */
int osec_cpns_parse_url(const char *url, char *host, size_t hostlen, uint16_t *port);

#endif
