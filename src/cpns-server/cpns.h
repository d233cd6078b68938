/* cpns-server: the CPNS Server's security function (seeds 002-004). */
#ifndef CPNS_SERVER_H
#define CPNS_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "omasec/buf.h"
#include "omasec/config.h"
#include "omasec/digest.h"
#include "omasec/http.h"
#include "omasec/httpauth.h"
#include "omasec/lookup.h"
#include "omasec/metrics.h"
#include "omasec/net.h"
#include "omasec/ratelimit.h"
#include "omasec/seal.h"
#include "omasec/store.h"

#define CPNS_PATH_MAX 4200

struct cpns {
    /* command line and configuration */
    const char *data;
    const char *config_path;
    char store_url[CPNS_PATH_MAX];
    char master_path[CPNS_PATH_MAX];
    char cert[CPNS_PATH_MAX], key[CPNS_PATH_MAX];
    char host[64];
    uint16_t port;
    int workers;
    bool psk;                   /* TLS-PSK with EUKey-derived keys */
    _Atomic int64_t eukey_ttl;  /* reloadable */
    unsigned handshake_ms, request_ms, idle_ms;
    struct osec_http_limits lim;
    char realm[OSEC_STORE_VALUE_MAX + 1];
    /* security state shared by the workers */
    struct osec_master *m;
    /* reloadable on SIGHUP: readers take the current pointer; old Digest
     * servers are retired, not freed, until exit (all share one replay cache
     * so a reload never forgets a used nonce-count) */
    _Atomic(struct osec_digest_server *) digest;
    struct osec_digest_server *retired[32];
    size_t nretired;
    struct osec_digest_replay_mem *replay;
    /* PostgreSQL store: replay state shared by every instance instead */
    struct osec_digest_replay_store *shared_replay;
    atomic_bool allow_basic;
    struct osec_ratelimit *rl;
    SSL_CTX *ssl;
    struct osec_net_server *net;
    atomic_bool reload;
    const char *metrics_addr;   /* --metrics HOST:PORT, or NULL */
    struct osec_metrics *metrics;
};

struct cpns_worker {
    struct cpns *srv;
    struct osec_store *st;
    struct osec_lookup lookup;
};

struct cpns_conn {
    struct cpns_worker *w;
    struct osec_net_conn *c;
    struct osec_http_scan scan;
    bool tls_checked;
    char psk_id[OSEC_STORE_NAME_MAX + 1]; /* "" unless TLS-PSK */
};

/* A request as the handlers see it. */
struct cpns_req {
    struct cpns_conn *conn;
    const struct osec_http_request *http;
    struct osec_httpauth_req auth;
};

/* What a handler answers: status, JSON body, extra headers. */
struct cpns_resp {
    int status;
    struct osec_buf body;
    char www_auth[2048];
    char auth_info[1024];
    unsigned retry_after;
    bool close;
};

/* metrics.c: all NULL (no-ops) unless --metrics is given */
struct cpns_metrics {
    struct osec_metric *requests[4];
    struct osec_metric *auth_digest, *auth_psk, *auth_basic, *auth_failed, *auth_stale,
        *auth_malformed, *auth_limited, *auth_challenged;
    struct osec_metric *hs_cert, *hs_psk, *sessions;
    struct osec_metric *otk_issued, *otk_consumed, *otk_expired;
    struct osec_metric *eukey_assigned, *eukey_rotated, *eukey_revoked, *denied;
    struct osec_metric *latency;
};
extern struct cpns_metrics cpns_m;
int cpns_metrics_init(struct osec_metrics *r);

/* The authentication settings in force now. */
void cpns_auth(struct cpns *srv, struct osec_httpauth *a);

/* conn.c: network handlers */
extern const struct osec_net_handlers cpns_handlers;
/* The worker of the calling thread (for the TLS-PSK lookup). */
struct cpns_worker *cpns_current_worker(void);

/* api.c: route one parsed request. */
void cpns_api_dispatch(struct cpns_req *req, struct cpns_resp *resp);
/* Set an error response {"error":code,"message":msg}. */
void cpns_error(struct cpns_resp *resp, int status, const char *code, const char *msg);

#endif
