/* cpns-gw: the PN Gateway half of the CPNS security function. */
#ifndef CPNS_GW_H
#define CPNS_GW_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "omasec/buf.h"
#include "omasec/cpns_client.h"
#include "omasec/devstate.h"
#include "omasec/digest.h"
#include "omasec/http.h"
#include "omasec/metrics.h"
#include "omasec/net.h"
#include "omasec/pn.h"

struct gw {
    struct osec_devstate *ds;
    struct osec_pn_identity id;
    /* upstream: the GW's own secure session to the CPNS Server (TLS-PSK with
     * its EUKey), opened on demand, reused, re-opened with backoff */
    pthread_mutex_t up_mu;
    struct osec_cpns_client *up;
    uint64_t up_retry_at;     /* monotonic ms; 0 = may try now */
    unsigned up_backoff_ms;
    /* PNE-facing side */
    struct osec_digest_server *digest;  /* seed-literal mode: Digest with the onetime key */
    SSL_CTX *tls, *dtls;
    char listen_host[64], udp_host[64];
    uint16_t listen_port, udp_port;
    struct osec_net_server *net;
    atomic_bool stop;
    pthread_t dtls_thread;
    bool dtls_running;
    struct osec_net_server *tunnel;     /* enrolment tunnel (CONNECT), or NULL */
    pthread_t tunnel_thread;
    struct osec_metrics *metrics;       /* --metrics, or NULL */
    struct gw_pskcache *pskc;           /* PN session credentials in memory */
};

/* metrics.c: all NULL (no-ops) unless --metrics is given */
struct gw_metrics {
    struct osec_metric *established[3];  /* tls-psk, dtls-psk, digest */
    struct osec_metric *resumed, *rejected, *auth_failed, *sessions, *psk_unknown;
    struct osec_metric *relay[4], *relay_failed, *relay_latency;
    struct osec_metric *upstream_up, *upstream_down;
};
extern struct gw_metrics gw_m;
int gw_metrics_init(struct osec_metrics *r);
int gw_mode_index(const char *mode);

/* A PN session (one TLS connection or one DTLS association). */
struct gw_session {
    struct gw *gw;
    bool authenticated;
    char peer[OSEC_STORE_NAME_MAX + 1];   /* the authenticated peer entity */
    char mode[16];                        /* "tls-psk", "dtls-psk", "digest" */
    char where[80];                       /* peer address, for logs */
};

/* pskcache.c: the PSK and peer of PN session credential id ("pn-..."),
 * from memory while its record file is unchanged, else from the record
 * (OSEC_ENOTFOUND absent, OSEC_ESTALE expired, ...).  checked: the file was
 * checked by this connection's handshake a moment ago, a cached entry is
 * taken without checking it again.  psk or peer may be NULL. */
struct gw_pskcache;
int gw_pskcache_new(struct gw_pskcache **out);
void gw_pskcache_free(struct gw_pskcache **c);
int gw_session_cred(struct gw *gw, const char *id, bool checked, uint8_t psk[OSEC_KEY_LEN],
                    char *peer, size_t peer_len);

/* session.c: PN establishment and request handling (shared by TLS and DTLS) */
int gw_psk_lookup(void *arg, const char *identity, uint8_t *psk, size_t psk_max,
                  size_t *psk_len);
/* After a handshake: bind the session to the PSK identity (consuming a
 * onetime key); false if the connection must be dropped. */
bool gw_session_start(struct gw_session *s, SSL *ssl, const char *mode);
/* One parsed request -> one response appended to out; *close when the
 * connection must end after it. */
void gw_session_handle(struct gw_session *s, const struct osec_http_request *req,
                       struct osec_buf *out, bool *close);

/* upstream.c */
int gw_upstream_relay(struct gw *gw, const char *method, const char *target,
                      struct osec_slice body, const char *authorization, const char *relayed_for,
                      struct osec_cpns_response *resp);
int gw_upstream_request(struct gw *gw, const char *method, const char *path,
                        struct osec_slice body, struct osec_cpns_response *resp);

/* conn.c (TLS listener) and dtls.c (UDP listener) */
extern const struct osec_net_handlers gw_tls_handlers;
int gw_dtls_start(struct gw *gw);
int gw_tunnel_start(struct gw *gw, const char *listen, unsigned per_source);
void gw_tunnel_stop(struct gw *gw);
void gw_dtls_stop(struct gw *gw);

#endif
