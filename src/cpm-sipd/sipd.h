/* cpm-sipd: the CPM SIP signalling security edge (DESIGN 5, docs/cpm-sip.md).
 *
 * Threads: N workers, each with its own event_base serving every listener
 * (one SO_REUSEPORT socket per listener per worker), its own store handle,
 * transaction cache and scratch buffers; an audit writer; a signal thread
 * (which also runs SIGHUP reloads); the metrics listener (opt-in).
 * Shared, locked state: the registrar (bindings), the Digest server and the
 * rate limiter (both thread-safe).  On a shared store (PostgreSQL) the
 * bindings are in the store instead, and instances forward to each other
 * (shared.c, cluster.c).  A stream connection belongs to the
 * worker that accepted it; other workers hand it bytes through that
 * worker's mailbox.
 *
 * Reload (reload.c): what SIGHUP can change is published by pointer swap.
 * TLS contexts are swapped under ctx_mu (an SSL holds its own reference to
 * the context it was made from); the Digest server and the peer set are
 * swapped atomically and the old ones freed once every worker has passed
 * its 1-second tick since (epoch): workers never keep them across events.
 */
#ifndef CPM_SIPD_H
#define CPM_SIPD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "omasec/buf.h"
#include "omasec/config.h"
#include "omasec/digest.h"
#include "omasec/log.h"
#include "omasec/lookup.h"
#include "omasec/metrics.h"
#include "omasec/net.h"
#include "omasec/ratelimit.h"
#include "omasec/seal.h"
#include "omasec/sip.h"
#include "omasec/sip_policy.h"
#include "omasec/store.h"
#include "omasec/udp.h"

#define SIPD_PATH_MAX 4200
#define SIPD_LISTEN_MAX 8
#define SIPD_HOST_MAX 64
#define SIPD_TOKEN_MAX 96   /* flow token text */
#define SIPD_AOR_MAX (OSEC_SIP_URI_MAX + 1)
#define SIPD_RX_BATCH 16    /* datagrams per recvmmsg */

enum sipd_tp { TP_UDP = 0, TP_TCP = 1, TP_TLS = 2, TP_IWF = 3 };

struct sipd_listen {
    enum sipd_tp tp;
    char host[SIPD_HOST_MAX]; /* numeric; also written in Via / Record-Route */
    uint16_t port;
};

/* Where a message goes back to: a UDP address reached from one of our UDP
 * listeners, or a stream connection. */
struct sipd_flow {
    enum sipd_tp tp;
    uint8_t listen;              /* index into sipd.listen */
    struct osec_udp_addr addr;   /* UDP; for streams the peer (informative) */
    uint64_t conn;               /* streams: connection id (worker << 48 | serial) */
};

#define SIPD_CONTACT_MAX 512
#define SIPD_PATH_HDR_MAX 512
#define SIPD_CALLID_MAX 255

struct sipd_binding {
    char contact[SIPD_CONTACT_MAX + 1];   /* the Contact URI */
    char path[SIPD_PATH_HDR_MAX + 1];     /* Path header values, "" when none */
    char call_id[SIPD_CALLID_MAX + 1];
    uint32_t cseq;
    int64_t expires;                      /* epoch seconds */
    struct sipd_flow flow;
    char user[OSEC_STORE_NAME_MAX + 1];
};

/* The Contact values of one REGISTER. */
struct sipd_reg_update {
    const char *contact;       /* the Contact URI */
    uint32_t expires;          /* seconds; 0 removes */
};
struct sipd_contacts {
    char uri[OSEC_SIP_CONTACT_MAX][SIPD_CONTACT_MAX + 1];
    struct sipd_reg_update u[OSEC_SIP_CONTACT_MAX];
    size_t n;
    bool star;
};

struct sipd_worker;
struct sipd_reg;
struct sipd_audit;
struct sipd_opts; /* the command line (main.c) */

/* The IWF peers in force: immutable once published, replaced whole on
 * reload.  conn: the latest IWF connection of each peer (0: none). */
struct sipd_peerset {
    struct osec_sip_peer p[OSEC_SIP_PEERS_MAX];
    size_t n;
    uint64_t gen;
    _Atomic uint64_t conn[OSEC_SIP_PEERS_MAX];
};

#define SIPD_RETIRED_MAX 16
struct sipd_retired {
    void *p;
    bool peerset; /* else a Digest server */
    uint64_t epoch;
};

struct sipd {
    /* command line and configuration */
    const char *data;
    const char *config_path;
    const struct sipd_opts *opts;
    char metrics[SIPD_HOST_MAX + 8];    /* HOST:PORT of the metrics listener, "" off */
    char instance[OSEC_STORE_NAME_MAX + 1]; /* HOST:PORT naming us in the shared store */
    char inst_host[SIPD_HOST_MAX];      /* ... parsed */
    uint16_t inst_port;
    enum osec_log_level log_level;
    bool has_log_level;
    char store_url[SIPD_PATH_MAX];
    char master_path[SIPD_PATH_MAX];
    char cert[SIPD_PATH_MAX], key[SIPD_PATH_MAX], peer_ca[SIPD_PATH_MAX];
    struct sipd_listen listen[SIPD_LISTEN_MAX];
    size_t n_listen;
    int cs_listen;                      /* UDP listener used toward the CS */
    struct osec_udp_addr cs_addr;
    char cs_text[SIPD_HOST_MAX + 8];
    struct osec_sip_peer peers[OSEC_SIP_PEERS_MAX]; /* as configured; workers use peerset */
    size_t n_peers;
    int workers;
    size_t max_msg;
    size_t max_contacts, max_bindings, txn_cache;
    /* reloadable limits */
    _Atomic unsigned handshake_ms, message_ms, idle_ms;
    _Atomic uint32_t min_expires, max_expires, default_expires;
    unsigned auth_cache_ms;             /* 0: no cache of store answers */
    unsigned per_source;                /* max_conns_per_source (reloaded into srclimit) */
    char realm[OSEC_STORE_VALUE_MAX + 1];
    /* security state shared by the workers */
    struct osec_master *m;
    _Atomic(struct osec_digest_server *) digest;
    struct osec_digest_replay_mem *replay; /* shared by every Digest server made */
    struct osec_digest_replay_store *shared_replay; /* instead, on a shared store */
    bool shared;                        /* the store is shared: bindings live there */
    uint8_t cluster_key[32];            /* MACs routes between instances (shared) */
    struct osec_ratelimit *rl;
    pthread_mutex_t ctx_mu;             /* tls, iwf: swapped on reload */
    SSL_CTX *tls, *iwf;
    _Atomic(struct sipd_peerset *) peerset;
    uint8_t flow_key[32];               /* MACs flow tokens (branch, Record-Route) */
    /* runtime */
    struct sipd_worker **w;
    struct osec_net_srclimit *srclimit; /* stream connections per source, all workers */
    _Atomic int64_t refused_log;        /* last "conn.refused reason=limit" line */
    struct sipd_reg *reg;
    struct sipd_audit *audit;
    struct osec_metrics *metrics_reg;
    atomic_bool stopping;
    /* reload (signal thread only, and exit) */
    _Atomic uint64_t epoch;
    struct sipd_retired retired[SIPD_RETIRED_MAX];
    size_t n_retired;
};

/* Source of a received message. */
struct sipd_src {
    struct sipd_flow flow;
    char ip[OSEC_UDP_IP_MAX];
    uint16_t port;
    const struct osec_sip_peer *peer;   /* IWF connection with a listed certificate
                                           (valid for the current message only) */
};

/* ---- worker.c: event loops, sockets, connections, mailboxes ---------- */
struct sipd_udp_ctx {
    struct sipd_worker *w;
    int listen;
};

struct sipd_worker {
    struct sipd *srv;
    int index;
    pthread_t thread;
    struct event_base *base;
    int udp_fd[SIPD_LISTEN_MAX];
    struct event *udp_ev[SIPD_LISTEN_MAX];
    struct sipd_udp_ctx udp_ctx[SIPD_LISTEN_MAX];
    struct evconnlistener *lst[SIPD_LISTEN_MAX];
    int mbox_fd;
    struct event *mbox_ev;
    pthread_mutex_t mbox_lock;
    struct sipd_post *mbox_head, *mbox_tail;
    struct sipd_conn *conns[1024]; /* by id, chained */
    unsigned n_conns, max_conns;
    uint64_t next_serial;
    struct event *tick;
    struct osec_store *st;
    struct osec_lookup lookup;
    struct osec_sip_cache *cache;
    struct osec_sip_db db;      /* st + cache, for the policy */
    uint32_t tag_prefix, tag_seq; /* To tags of our responses */
    struct sipd_txns *txns;
    struct osec_sip_msg *msg;   /* parser output (about 20 KiB) */
    struct osec_buf out, tmp, key; /* key: the current request's transaction key */
    struct osec_sipauth_result auth_res;
    struct sipd_binding binding;
    struct sipd_binding reg_list[OSEC_SIP_CONTACT_MAX];
    int64_t next_purge;         /* shared store: when expired rows go next */
    struct sipd_contacts contacts;
    uint8_t *rxbuf;             /* SIPD_RX_BATCH datagram buffers */
    uint8_t *rx[SIPD_RX_BATCH];
    _Atomic uint64_t quiet;     /* srv->epoch seen between two events */
};

int sipd_workers_start(struct sipd *srv);
/* Runs until sipd_stop() (SIGTERM/SIGINT); SIGHUP calls on_hup(srv).
 * Blocks the process signals; joins the workers. */
int sipd_run(struct sipd *srv, void (*on_hup)(void *));
void sipd_stop(struct sipd *srv);
void sipd_workers_free(struct sipd *srv);
/* Send data along flow (any thread). */
int sipd_send(struct sipd_worker *w, const struct sipd_flow *flow, const void *data, size_t len);
const struct sipd_listen *sipd_listen_of(const struct sipd *srv, const struct sipd_flow *f);
const char *sipd_tp_name(enum sipd_tp tp); /* "UDP", "TCP", "TLS" (IWF is TLS) */
/* The connection (of this worker) now carries bindings: drop them when it closes. */
void sipd_conn_mark_registered(struct sipd_worker *w, uint64_t id);

/* ---- proxy.c: one parsed message -------------------------------------- */
/* Handle data holding one message (datagram) or the stream's next bytes.
 * Stream: returns bytes consumed (0: need more), < 0 to close. */
ssize_t sipd_on_stream(struct sipd_worker *w, const struct sipd_src *src, const uint8_t *data,
                       size_t len);
void sipd_on_datagram(struct sipd_worker *w, const struct sipd_src *src, const uint8_t *data,
                      size_t len);
/* Reply to a request locally (and remember it for retransmissions). */
int sipd_reply(struct sipd_worker *w, const struct sipd_src *src, const struct osec_sip_msg *req,
               unsigned status, const char *reason, const struct osec_sip_field *add,
               size_t n_add);
/* true at most once a second per *last (any thread): for log lines that a
 * flood would otherwise repeat per request. */
bool sipd_once_a_second(_Atomic int64_t *last);
/* 503 + Retry-After for a store failure, else 500; logged rate-limited. */
void sipd_reply_failure(struct sipd_worker *w, const struct sipd_src *src,
                        const struct osec_sip_msg *m, int rc, const char *event);

/* Digest-authenticate a request (proxy: Proxy-Authorization / 407);
 * 1 when authenticated (who is the USER, res must be osec_sipauth_done),
 * 0 when it was answered (challenge, 400, 403, 500). */
int sipd_authenticate(struct sipd_worker *w, const struct sipd_src *src,
                      const struct osec_sip_msg *m, bool proxy, struct osec_sipauth_result *res,
                      struct osec_sip_principal *who);

/* ---- register.c: REGISTER --------------------------------------------- */
void sipd_register(struct sipd_worker *w, const struct sipd_src *src,
                   const struct osec_sip_msg *req);
/* 401/407 with one challenge header per algorithm (RFC 8760). */
int sipd_challenge(struct sipd_worker *w, const struct sipd_src *src,
                   const struct osec_sip_msg *req, bool proxy, bool stale);

/* ---- flow.c: flow tokens ---------------------------------------------- */
/* Text token naming flow, MAC'd under srv->flow_key together with salt
 * (e.g. the client's branch, making the token unique per transaction). */
int sipd_flow_token(const struct sipd *srv, const struct sipd_flow *flow, struct osec_slice salt,
                    char *out, size_t outlen);
/* OSEC_EAUTH when the token is not ours or does not verify. */
int sipd_flow_parse(const struct sipd *srv, struct osec_slice token, struct osec_slice salt,
                    struct sipd_flow *out);
/* 64-bit keyed hash (SipHash-2-4) for the hash tables. */
uint64_t sipd_hash(const uint8_t key[16], const void *data, size_t len);

/* ---- reg.c: bindings (in memory; see docs/cpm-sip.md) ----------------- */
int sipd_reg_new(size_t max_bindings, size_t max_contacts, struct sipd_reg **out);
void sipd_reg_free(struct sipd_reg **r);
/* Apply the contacts of one REGISTER atomically.  OSEC_EREPLAY when Call-ID
 * matches a binding with a CSeq not lower (RFC 3261 10.3 step 7: 500);
 * OSEC_EBOUNDS over max_contacts / max_bindings.  *added / *removed count
 * bindings that appeared / went (refreshes are neither). */
int sipd_reg_apply(struct sipd_reg *r, const char *aor, const struct sipd_binding *proto,
                   const struct sipd_reg_update *u, size_t n, bool star, int64_t now,
                   unsigned *added, unsigned *removed);
/* Current bindings of aor (copies), newest first; returns how many (<= max). */
size_t sipd_reg_get(struct sipd_reg *r, const char *aor, int64_t now, struct sipd_binding *out,
                    size_t max);
/* Remove expired bindings; returns how many. */
size_t sipd_reg_expire(struct sipd_reg *r, int64_t now);
/* Remove the bindings that use a closed connection. */
size_t sipd_reg_flow_gone(struct sipd_reg *r, uint64_t conn);
size_t sipd_reg_count(struct sipd_reg *r);

/* ---- shared.c: bindings in a shared store (PostgreSQL) ---------------- */
/* Used instead of reg.c when srv->shared; the store is then the registrar
 * of every instance (docs/cpm-sip.md, "Bindings").  Each call uses w->st. */
#define SIPD_FLOW_TEXT_MAX 96
/* Instance-neutral text of a flow: "udp:L:IP:PORT" ("udp:L:[V6]:PORT"),
 * "tcp:L:ID" or "tls:L:ID" (L: listener index, ID: connection id, decimal). */
int sipd_flow_text(const struct sipd_flow *f, char *out, size_t outlen);
/* The flow of text; OSEC_EPARSE when it is not one.  For UDP, addr is set
 * and listen is the index written by the instance that holds the flow. */
int sipd_flow_from_text(const char *text, struct sipd_flow *out);
/* As sipd_reg_apply, in the store: checked against the bindings every
 * instance made, then written one by one.  list/n_list: the bindings after
 * the change (for the 200).  Store errors are returned as they are. */
int sipd_sreg_apply(struct sipd_worker *w, const char *aor, const struct sipd_binding *proto,
                    const struct sipd_reg_update *u, size_t n, bool star, int64_t now,
                    unsigned *added, unsigned *removed, size_t *n_list);
/* The current bindings of aor into out (newest first); count or < 0. */
int sipd_sreg_get(struct sipd_worker *w, const char *aor, int64_t now, struct sipd_binding *out,
                  size_t max);
/* A binding whose connection another instance holds. */
struct sipd_remote {
    bool via;                               /* reach it through that instance */
    char instance[OSEC_STORE_NAME_MAX + 1]; /* its name (HOST:PORT) */
    struct sipd_flow flow;                  /* the connection there */
};
/* Where a request for aor goes: 1 with b (contact, path) and dest (when
 * rem->via, the UDP address of the instance holding the connection); 0
 * when there is no binding; OSEC_EPOLICY for a binding that cannot be
 * reached from here, other codes for store errors. */
int sipd_sreg_route(struct sipd_worker *w, const char *aor, int64_t now, struct sipd_binding *b,
                    struct sipd_flow *dest, struct sipd_remote *rem);
/* A connection that carried registrations closed: forget them. */
void sipd_sreg_flow_gone(struct sipd_worker *w, const struct sipd_flow *flow);
/* The expiry tick: forget expired rows now and then. */
void sipd_sreg_tick(struct sipd_worker *w, int64_t now);
/* At start, on a shared store: the instance name, the cluster key, and the
 * rows of our previous life removed (its connections and listeners are gone). */
int sipd_sreg_start(struct sipd *srv, struct osec_store *st);
/* 0.0.0.0 or :: */
bool sipd_host_unspecified(const char *host);
/* The UDP listener to send from toward addr (its address family), or -1. */
int sipd_udp_listener_for(const struct sipd *srv, const struct osec_udp_addr *addr);

/* ---- cluster.c: requests between instances (shared store) -------------- */
/* A request the CS sent to us for a binding whose connection another
 * instance holds goes to that instance over UDP with a Route naming the
 * flow there, MAC'd under the cluster key (shared through the store). */
#define SIPD_CLUSTER_TOKEN_MAX 80
/* Token for instance `to` naming its flow `remote`, bound to the request
 * (our Via branch, Call-ID, CSeq) and valid until now + 32 s. */
int sipd_cluster_token(const struct sipd *srv, const char *to, const struct sipd_flow *remote,
                       struct osec_slice branch, const struct osec_sip_msg *m, int64_t now,
                       char *out, size_t outlen);
/* OSEC_EAUTH unless token was made for us, for m (top Via branch, Call-ID,
 * CSeq), and has not expired; else out is the flow it names. */
int sipd_cluster_verify(const struct sipd *srv, struct osec_slice token,
                        const struct osec_sip_msg *m, int64_t now, struct sipd_flow *out);
/* The cluster key, from the sealed secret shared through the store. */
int sipd_cluster_key(struct sipd *srv, struct osec_store *st);

/* ---- txn.c: per-worker server transaction cache (UDP) ----------------- */
struct sipd_txns;
struct sipd_txn_hit {
    bool local;        /* answered here: resend resp */
    const uint8_t *bytes;
    size_t len;
    struct sipd_flow to;
};
int sipd_txns_new(size_t cap, struct sipd_txns **out);
void sipd_txns_free(struct sipd_txns **t);
/* Key of a request's server transaction (RFC 3261 17.2.3; an ACK matches
 * its INVITE) into key; false when the request has no RFC 3261 branch. */
bool sipd_txn_key(const struct osec_sip_msg *m, const struct sipd_src *src, struct osec_buf *key);
/* 1 with hit filled when known, 0 when not. */
int sipd_txn_find(struct sipd_txns *t, struct osec_slice key, uint64_t now_ms,
                  struct sipd_txn_hit *hit);
/* Remember what was sent for key (a local response, or the forwarded request
 * and where it went); lives for ttl_ms. */
void sipd_txn_put(struct sipd_txns *t, struct osec_slice key, bool local, const uint8_t *bytes,
                  size_t len, const struct sipd_flow *to, uint64_t now_ms, uint64_t ttl_ms);

/* ---- main.c: configuration ------------------------------------------- */
#define SIPD_CFG_ERRORS 16
struct sipd_cfgerrs {
    const char *file;
    char msg[SIPD_CFG_ERRORS][400];
    unsigned n;               /* may exceed SIPD_CFG_ERRORS: only those are kept */
    int rc;                   /* the first error */
};
/* Read the configuration (cfg may be NULL; the command line srv->opts wins)
 * into srv, dc and rl.  Every problem goes into e, naming file:line when it
 * comes from the file; returns the first error code. */
int sipd_config_read(struct sipd *srv, const struct osec_config *cfg,
                     struct osec_digest_server_config *dc, struct osec_ratelimit_config *rl,
                     struct sipd_cfgerrs *e);

/* ---- reload.c: security state and SIGHUP ------------------------------ */
int sipd_security_setup(struct sipd *srv, struct osec_digest_server_config *dc);
void sipd_security_free(struct sipd *srv);
/* SIGHUP: certificates, Digest policy, peers, limits and the log level from
 * the configuration file; any error keeps the running configuration. */
void sipd_reload(void *srv);
/* A new SSL for an accepted connection of a tls or iwf listener. */
SSL *sipd_ssl_new(struct sipd *srv, enum sipd_tp tp);
static inline struct sipd_peerset *sipd_peers(struct sipd *srv)
{
    return atomic_load(&srv->peerset);
}
static inline struct osec_digest_server *sipd_digest(struct sipd *srv)
{
    return atomic_load(&srv->digest);
}

/* ---- metrics.c: Prometheus counters (all NULL without --metrics) ------ */
enum sipd_auth_outcome {
    SIPD_AUTH_OK, SIPD_AUTH_CHALLENGED, SIPD_AUTH_BAD_CREDENTIALS, SIPD_AUTH_STALE,
    SIPD_AUTH_REPLAY, SIPD_AUTH_RATE_LIMITED, SIPD_AUTH_MALFORMED, SIPD_AUTH_ERROR,
    SIPD_AUTH_N
};
enum sipd_reg_refusal {
    SIPD_REG_AOR_NOT_ALLOCATED, SIPD_REG_NOT_A_USER, SIPD_REG_BAD_REQUEST,
    SIPD_REG_INTERVAL_TOO_BRIEF, SIPD_REG_OUT_OF_ORDER, SIPD_REG_TOO_MANY_CONTACTS,
    SIPD_REG_ERROR, SIPD_REG_N
};
enum sipd_hs { SIPD_HS_OK, SIPD_HS_FAILED, SIPD_HS_UNLISTED_PEER, SIPD_HS_N };
#define SIPD_METHODS (OSEC_SIP_M_REFER + 1)
struct sipd_metrics {
    struct osec_metric *requests[SIPD_METHODS];
    struct osec_metric *responses[2][6];        /* [relayed][class 1..6 - 1] */
    struct osec_metric *auth[SIPD_AUTH_N];
    struct osec_metric *handshakes[2][SIPD_HS_N]; /* [iwf] */
    struct osec_metric *conns[4];               /* by transport (UDP unused) */
    struct osec_metric *reg_accepted, *reg_refused[SIPD_REG_N], *bindings;
    struct osec_metric *spoof[2];               /* [peer] */
    struct osec_metric *pai_stripped, *retransmissions, *malformed, *latency;
    struct osec_metric *reload_ok, *reload_failed;
    struct osec_metric *refused_source;         /* connections refused: per-source limit */
    struct osec_metric *refused_limit;          /* connections refused: worker full */
};
extern struct sipd_metrics sipd_m;
int sipd_metrics_init(struct osec_metrics *r);
void sipd_metric_response(bool relayed, unsigned status);

/* ---- audit.c: asynchronous, batched audit log ------------------------- */
int sipd_audit_start(struct sipd *srv);
void sipd_audit_stop(struct sipd *srv);
void sipd_audit(struct sipd *srv, const char *event, const char *actor, const char *subject,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
