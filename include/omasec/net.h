/* Event-loop glue for omasec's stream daemons (libevent 2.1 + OpenSSL).
 *
 * A server is N worker threads, each with its own event_base and its own
 * listening socket bound with SO_REUSEPORT to the same address, so the
 * kernel spreads connections and no lock is shared on the hot path.  A
 * connection is a bufferevent (plain, or OpenSSL in accepting state); the
 * protocol layer sees the bytes received so far as one contiguous range and
 * says how many it consumed.
 *
 * Timeouts defend against slowloris and idle floods: a connection must
 * complete its TLS handshake within handshake_ms, a started request must be
 * complete within request_ms, and an idle connection is closed after idle_ms.
 * A per-source limit (max_conns_per_source) keeps one address from holding
 * every slot until those timeouts cut it: across all workers of a server,
 * connections are counted per IPv4 address and per IPv6 /64 (what one
 * subscriber can fill with addresses at will), and one over the limit is
 * reset at accept, before any TLS work.
 */
#ifndef OMASEC_NET_H
#define OMASEC_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

struct osec_net_server;
struct osec_net_conn;
struct event_base;
struct osec_config;
struct osec_metric;
struct osec_metrics;

struct osec_net_handlers {
    /* Per worker thread: returns the worker's state (e.g. its store handle). */
    void *(*worker_start)(int index, void *arg);
    void (*worker_stop)(void *worker);
    /* A new connection (after the TLS handshake when TLS is on): returns
     * per-connection state or NULL to refuse the connection. */
    void *(*conn_open)(struct osec_net_conn *c, void *worker);
    /* Bytes received so far.  Return the number consumed (> 0), 0 when
     * more input is needed, or < 0 to close the connection now. */
    ssize_t (*conn_data)(struct osec_net_conn *c, void *state, const uint8_t *data,
                         size_t len);
    void (*conn_close)(struct osec_net_conn *c, void *state);
    /* Optional: the timer set with osec_net_conn_timer() expired (on the
     * connection's worker thread).  Return < 0 to close the connection. */
    int (*conn_timer)(struct osec_net_conn *c, void *state);
};

struct osec_net_config {
    const char *host;          /* numeric IPv4/IPv6 address */
    uint16_t port;             /* 0: pick one (read back with osec_net_server_port) */
    int workers;               /* threads; <= 0: one per core */
    SSL_CTX *ssl_ctx;          /* NULL: plain TCP */
    unsigned handshake_ms;     /* 0: 10000 */
    unsigned request_ms;       /* 0: 30000 */
    unsigned idle_ms;          /* 0: 120000 */
    size_t max_input;          /* largest pending input per connection; 0: 1 MiB */
    unsigned max_conns;        /* per worker; 0: 4096 */
    /* Concurrent connections from one source (IPv4 address, IPv6 /64)
     * across all workers; 0: no limit.  Daemons default to
     * OSEC_NET_PER_SOURCE_DEFAULT (osec_net_config_per_source). */
    unsigned max_conns_per_source;
    /* Optional counters (NULL: none) of connections refused at accept by
     * max_conns_per_source and by max_conns; they may be shared. */
    struct osec_metric *refused_source;
    struct osec_metric *refused_limit;
    const struct osec_net_handlers *h;
    void *arg;                 /* passed to worker_start */
};

/* Counts since the server was made (refused_*), and now (sources: source
 * addresses / prefixes with a connection, source_conns: their connections;
 * both 0 once every connection is closed). */
struct osec_net_stats {
    uint64_t refused_source;
    uint64_t refused_limit;
    size_t sources;
    size_t source_conns;
};

#define OSEC_NET_PER_SOURCE_DEFAULT 256u
#define OSEC_NET_PER_SOURCE_MAX 1000000u

int osec_net_server_new(const struct osec_net_config *cfg, struct osec_net_server **out);
/* Runs the workers until osec_net_server_stop(); returns after they exit. */
int osec_net_server_run(struct osec_net_server *s);
/* Like osec_net_server_run, with signal handling for daemons: SIGTERM and
 * SIGINT stop the server, SIGHUP calls on_hup(arg) (may be NULL), SIGPIPE
 * is ignored.  Blocks the signals in every thread it starts. */
int osec_net_server_run_signals(struct osec_net_server *s, void (*on_hup)(void *), void *arg);
/* A daemon's signal thread: SIGTERM/SIGINT call on_stop(arg) (once, then
 * the thread ends), SIGHUP calls on_hup(arg) (may be NULL).  Blocks the
 * signals in the caller first (call before starting other threads);
 * osec_signals_stop ends and frees the thread. */
struct osec_signals;
int osec_signals_start(void (*on_stop)(void *), void (*on_hup)(void *), void *arg,
                       struct osec_signals **out);
void osec_signals_stop(struct osec_signals **sc);
/* Block the daemon signals in the calling thread (and so in every thread it
 * starts afterwards): call before starting any thread of your own. */
void osec_net_block_signals(void);
/* Thread- and signal-safe: asks every worker to finish. */
void osec_net_server_stop(struct osec_net_server *s);
uint16_t osec_net_server_port(const struct osec_net_server *s);
/* Use ctx for new connections from now on (certificate reload on SIGHUP);
 * established sessions keep theirs.  The server takes ownership of ctx; the
 * context given at creation stays the caller's. */
int osec_net_server_set_ssl_ctx(struct osec_net_server *s, SSL_CTX *ctx);
void osec_net_server_free(struct osec_net_server **s);
/* A new max_conns_per_source (configuration reload; 0: no limit) for new
 * connections; those open above it stay. */
void osec_net_server_set_max_conns_per_source(struct osec_net_server *s, unsigned n);
void osec_net_server_stats(struct osec_net_server *s, struct osec_net_stats *out);
/* The key max_conns_per_source of a daemon's section (cfg may be NULL):
 * 0..OSEC_NET_PER_SOURCE_MAX, default OSEC_NET_PER_SOURCE_DEFAULT, so that
 * every daemon reads it alike. */
int osec_net_config_per_source(const struct osec_config *cfg, const char *section,
                               unsigned *out);
/* The per-source limit of osec_net servers, for a daemon that runs its own
 * accept loop (cpm-sipd): the same table (IPv4 address, IPv6 /64), the same
 * refusal counter and the same rate-limited "conn.refused
 * reason=per_source" log line.  Thread-safe: one per daemon, shared by its
 * workers. */
struct osec_net_srclimit;
struct sockaddr;
/* max_conns: the most connections the daemon holds at once (sizes the
 * table); limit: concurrent connections per source (0: none); refused:
 * counter of refusals (NULL: none). */
int osec_net_srclimit_new(size_t max_conns, unsigned limit, struct osec_metric *refused,
                          struct osec_net_srclimit **out);
/* A new limit (configuration reload) for new connections; those open stay. */
void osec_net_srclimit_set(struct osec_net_srclimit *t, unsigned limit);
/* A connection from sa was accepted: counted (true), or refused because its
 * source has limit already (false: nothing counted; counted as refused and
 * logged; the caller resets the connection before any TLS work). */
bool osec_net_srclimit_acquire(struct osec_net_srclimit *t, const struct sockaddr *sa);
/* A connection counted by osec_net_srclimit_acquire(t, sa) closed (the
 * same address). */
void osec_net_srclimit_release(struct osec_net_srclimit *t, const struct sockaddr *sa);
/* refused_source, sources and source_conns as for a server (refused_limit 0). */
void osec_net_srclimit_stats(struct osec_net_srclimit *t, struct osec_net_stats *out);
/* Logs conn.source_leak when a connection is still counted (a close path
 * that forgot to release), then frees. */
void osec_net_srclimit_free(struct osec_net_srclimit **t);
/* Register the counters name{reason="per_source"} and name{reason="limit"}
 * in m (NULL: nothing to do) and point nc->refused_source / refused_limit
 * at them.  Once per name: servers that share the counters copy the
 * pointers. */
void osec_net_refusal_metrics(struct osec_metrics *m, const char *name,
                              struct osec_net_config *nc);

/* Queue bytes for the peer. */
int osec_net_conn_write(struct osec_net_conn *c, const void *data, size_t len);
/* Close once everything queued has been written. */
void osec_net_conn_close_after_write(struct osec_net_conn *c);
/* Turn the connection into a byte tunnel to host:port (numeric): from now
 * on everything received is forwarded untouched, and everything the target
 * sends comes back; conn_data is no longer called.  The caller writes its
 * own "200" first.  Either side closing closes both. */
int osec_net_conn_splice(struct osec_net_conn *c, const char *host, uint16_t port);
/* STARTTLS (RFC 2595, RFC 3207) on a plain connection, called from
 * conn_data while handling the STARTTLS command, after queueing its answer.
 * Once conn_data returns the command's length, every byte still buffered
 * (received in the clear after the command) is discarded, never handed to
 * conn_data, and a TLS server handshake with ctx starts on the same socket
 * (handshake_ms applies); conn_data sees only decrypted bytes from then on.
 * EINVAL on a connection that is already TLS (or upgrading, or spliced).
 * ctx must outlive the connection. */
int osec_net_conn_starttls(struct osec_net_conn *c, SSL_CTX *ctx);
/* One-shot per-connection timer: conn_timer is called after ms
 * milliseconds (0 cancels).  Setting it again re-arms it.  Does not touch
 * the handshake/request/idle deadlines. */
int osec_net_conn_timer(struct osec_net_conn *c, unsigned ms);
/* The connection's SSL (NULL for plain TCP, and before a STARTTLS handshake
 * has begun). */
SSL *osec_net_conn_ssl(struct osec_net_conn *c);
/* Peer address "IP" (no port) and "IP:port". */
const char *osec_net_conn_peer_ip(const struct osec_net_conn *c);
const char *osec_net_conn_peer(const struct osec_net_conn *c);
/* Stop calling conn_data for c (input is still buffered, up to
 * max_input) until osec_net_conn_resume().  For a reply that another
 * thread is computing: later pipelined commands must wait for it. */
void osec_net_conn_pause(struct osec_net_conn *c);
/* On c's worker thread: handle the input buffered meanwhile.  c may be
 * closed (and freed) by this call: do not use it afterwards. */
void osec_net_conn_resume(struct osec_net_conn *c);
/* The event_base of the calling worker thread (during worker_start and the
 * conn_* handlers), else NULL: a daemon can create events on it and fire
 * them from its own threads with event_active(), which is thread-safe. */
struct event_base *osec_net_worker_base(void);
/* The worker state of the thread serving c. */
void *osec_net_conn_worker(struct osec_net_conn *c);

/* Parse "HOST:PORT" / "[V6]:PORT" into a numeric host string and port. */
int osec_net_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port);

#endif
