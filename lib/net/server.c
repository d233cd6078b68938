/* Multi-threaded libevent server: one event_base + SO_REUSEPORT listener per
 * worker thread; plain or TLS bufferevents; handshake/request/idle deadlines;
 * per-worker and per-source connection limits. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net_int.h"
#include "omasec/buf.h"
#include "omasec/error.h"
#include "omasec/log.h"
#include "omasec/metrics.h"
#include "omasec/net.h"
#include "omasec/util.h"

enum conn_phase { PH_HANDSHAKE, PH_IDLE, PH_REQUEST, PH_CLOSING };

struct worker {
    struct osec_net_server *srv;
    int index;
    struct event_base *base;
    struct evconnlistener *lst;
    pthread_t thread;
    void *state;
    unsigned conns;
    int fd;
    struct osec_net_conn *head; /* live connections, freed at shutdown */
};

struct osec_net_server {
    struct osec_net_config cfg;
    struct osec_net_handlers h;
    char host[64];
    uint16_t port;
    int nworkers;
    struct worker *w;
    atomic_bool stopping;
    pthread_mutex_t ctx_mu;   /* guards cfg.ssl_ctx against a swap */
    bool ctx_owned;           /* a swapped-in context is ours to free */
    struct net_src_table *src; /* connections per source, all workers */
    atomic_uint per_source;   /* max_conns_per_source (reloadable) */
    struct net_refusals ref_source, ref_limit;
};

struct osec_net_conn {
    struct worker *w;
    uint64_t idle_since_ms;   /* last activity while idle (0: timer is exact) */
    struct bufferevent *tunnel; /* spliced to this upstream, or NULL */
    struct osec_net_conn *prev, *next;
    struct bufferevent *bev;
    struct event *deadline;
    struct event *timer;        /* osec_net_conn_timer, created on first use */
    void *state;
    enum conn_phase phase;
    bool opened;
    SSL_CTX *starttls;          /* STARTTLS asked for, filter not yet installed */
    bool upgraded;              /* bev is an OpenSSL filter over plain */
    struct bufferevent *plain;  /* after STARTTLS: the socket bufferevent */
    SSL *filter_ssl;            /* after STARTTLS: owned here, not by the filter */
    struct evbuffer_cb_entry *plain_cb; /* watches plain's output while closing */
    bool drained;               /* closing and everything written: free now */
    bool paused;                /* osec_net_conn_pause: conn_data not called */
    char peer_ip[INET6_ADDRSTRLEN];
    char peer[INET6_ADDRSTRLEN + 8];
    struct net_src_key src;     /* counted in the server's per-source table */
};

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static _Thread_local struct event_base *tl_base; /* of the calling worker thread */

static void init_evthreads(void)
{
    (void)evthread_use_pthreads();
}

static unsigned phase_ms(const struct osec_net_conn *c, enum conn_phase ph)
{
    const struct osec_net_config *cfg = &c->w->srv->cfg;

    return ph == PH_HANDSHAKE ? cfg->handshake_ms
         : ph == PH_REQUEST ? cfg->request_ms : cfg->idle_ms;
}

static void arm_ms(struct osec_net_conn *c, unsigned ms)
{
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };

    (void)event_add(c->deadline, &tv);
}

/* Re-arming the timer on every request costs a heap operation; an idle
 * connection that stays idle only notes the time, and on_deadline re-arms
 * for what is left. */
static void arm(struct osec_net_conn *c, enum conn_phase ph)
{
    struct timeval now;

    if (ph == PH_IDLE && c->phase == PH_IDLE &&
        event_base_gettimeofday_cached(c->w->base, &now) == 0) {
        c->idle_since_ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_usec / 1000u;
        return;
    }
    c->phase = ph;
    c->idle_since_ms = 0;
    arm_ms(c, phase_ms(c, ph));
}

/* An idle connection that was active since the timer was set gets the
 * rest of its idle time. */
static bool extend_idle(struct osec_net_conn *c)
{
    struct timeval now;
    uint64_t t, limit = phase_ms(c, PH_IDLE);

    if (c->phase != PH_IDLE || !c->idle_since_ms ||
        event_base_gettimeofday_cached(c->w->base, &now) != 0)
        return false;
    t = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_usec / 1000u;
    if (t >= c->idle_since_ms + limit)
        return false;
    arm_ms(c, (unsigned)(c->idle_since_ms + limit - t));
    c->idle_since_ms = 0;
    return true;
}

static void conn_free(struct osec_net_conn *c)
{
    if (c->opened && c->w->srv->h.conn_close)
        c->w->srv->h.conn_close(c, c->state);
    if (c->deadline)
        event_free(c->deadline);
    if (c->timer)
        event_free(c->timer);
    if (c->plain_cb)
        (void)evbuffer_remove_cb_entry(bufferevent_get_output(c->plain), c->plain_cb);
    if (c->tunnel)
        bufferevent_free(c->tunnel);
    if (c->bev) {
        SSL *ssl = c->w->srv->cfg.ssl_ctx || c->upgraded ? bufferevent_openssl_get_ssl(c->bev)
                                                         : NULL;

        if (ssl && c->phase == PH_CLOSING)
            (void)SSL_shutdown(ssl); /* best effort close_notify */
        bufferevent_free(c->bev); /* closes the fd and frees the SSL */
    }
    /* A STARTTLS filter is made without CLOSE_ON_FREE (so a failed
     * upgrade cannot free what we still hold): free its parts here. */
    SSL_free(c->filter_ssl);
    if (c->plain)
        bufferevent_free(c->plain);
    if (c->prev)
        c->prev->next = c->next;
    else
        c->w->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->w->conns--;
    net_src_release(c->w->srv->src, &c->src);
    free(c);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct osec_net_conn *c = arg;
    static const char *const names[] = { "handshake", "idle", "request", "closing" };

    (void)fd;
    (void)what;
    if (extend_idle(c))
        return;
    if (!c->drained)
        osec_info("conn.timeout", "peer=%s phase=%s", c->peer, names[c->phase]);
    conn_free(c);
}

/* Bytes still to be sent: after STARTTLS the filter hands its records to
 * the plain bufferevent, which may still hold some when the filter's own
 * output is empty. */
static size_t pending_out(struct osec_net_conn *c)
{
    return evbuffer_get_length(bufferevent_get_output(c->bev)) +
           (c->plain ? evbuffer_get_length(bufferevent_get_output(c->plain)) : 0);
}

/* Closing an upgraded connection waits for plain's output too; freeing
 * happens from the deadline event, outside libevent's write path. */
static void plain_out_cb(struct evbuffer *b, const struct evbuffer_cb_info *info, void *arg)
{
    struct osec_net_conn *c = arg;

    (void)b;
    (void)info;
    if (c->phase == PH_CLOSING && !c->drained && pending_out(c) == 0) {
        c->drained = true;
        event_active(c->deadline, EV_TIMEOUT, 0);
    }
}

static void on_read(struct bufferevent *bev, void *arg);
static void on_write(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);

/* STARTTLS (RFC 2595 3.1, RFC 3207 4.2 command injection): whatever the
 * peer sent after the STARTTLS command arrived in the clear and must not be
 * taken as TLS-protected, so it is thrown away before the filter goes on.
 * The answer to STARTTLS is already queued on the plain bufferevent, ahead
 * of anything the filter writes. */
static void upgrade(struct osec_net_conn *c, struct evbuffer *in)
{
    SSL_CTX *ctx = c->starttls;
    size_t stale = evbuffer_get_length(in);
    struct bufferevent *tls;
    SSL *ssl;

    c->starttls = NULL;
    if (stale) {
        osec_warn("tls.starttls_injection", "peer=%s bytes=%zu action=discarded", c->peer, stale);
        (void)evbuffer_drain(in, stale);
    }
    ssl = SSL_new(ctx);
    c->filter_ssl = ssl;
    tls = ssl ? bufferevent_openssl_filter_new(c->w->base, c->bev, ssl,
                                               BUFFEREVENT_SSL_ACCEPTING, 0)
              : NULL;
    if (!tls) {
        osec_warn("tls.starttls_failed", "peer=%s", c->peer);
        conn_free(c);
        return;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
    c->plain = c->bev;
    c->bev = tls;
    c->upgraded = true;
    c->plain_cb = evbuffer_add_cb(bufferevent_get_output(c->plain), plain_out_cb, c);
    bufferevent_setcb(tls, on_read, on_write, on_event, c);
    (void)bufferevent_enable(tls, EV_READ | EV_WRITE);
    arm(c, PH_HANDSHAKE);
}

static void process_input(struct osec_net_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    const struct osec_net_server *s = c->w->srv;
    size_t len;

    if (!c->opened)
        return; /* on_open() comes back here once the state exists */
    while (c->phase != PH_CLOSING && !c->paused && (len = evbuffer_get_length(in)) > 0) {
        uint8_t *data;

        if (c->tunnel) { /* a tunnel: bytes go through untouched */
            (void)evbuffer_add_buffer(bufferevent_get_output(c->tunnel), in);
            arm(c, PH_IDLE);
            return;
        }
        data = evbuffer_pullup(in, (ev_ssize_t)len);
        ssize_t n;

        if (!data) {
            conn_free(c);
            return;
        }
        n = s->h.conn_data(c, c->state, data, len);
        if (n < 0 || (size_t)n > len) {
            conn_free(c);
            return;
        }
        if (n == 0) {
            if (len > s->cfg.max_input) {
                osec_warn("conn.input_limit", "peer=%s bytes=%zu", c->peer, len);
                conn_free(c);
                return;
            }
            if (c->phase == PH_IDLE)
                arm(c, PH_REQUEST); /* the clock runs from the first byte */
            return;
        }
        (void)evbuffer_drain(in, (size_t)n);
        if (c->starttls) {
            upgrade(c, in);
            return;
        }
        if (c->phase != PH_CLOSING)
            arm(c, PH_IDLE);
    }
    if (c->phase == PH_CLOSING && pending_out(c) == 0)
        conn_free(c);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    process_input(arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    struct osec_net_conn *c = arg;

    (void)bev;
    if (c->phase == PH_CLOSING && pending_out(c) == 0)
        conn_free(c);
}

static void on_open(struct osec_net_conn *c)
{
    const struct osec_net_server *s = c->w->srv;

    c->state = s->h.conn_open ? s->h.conn_open(c, c->w->state) : NULL;
    if (s->h.conn_open && !c->state) {
        conn_free(c);
        return;
    }
    c->opened = true;
    arm(c, PH_IDLE);
    process_input(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct osec_net_conn *c = arg;

    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        if (c->opened) { /* STARTTLS handshake done: the protocol goes on */
            /* decrypted input may have been handled (up to a LOGOUT) before
             * this event arrived: only a connection still waiting for its
             * handshake moves on to idle */
            if (c->phase == PH_HANDSHAKE)
                arm(c, PH_IDLE);
            process_input(c);
            return;
        }
        on_open(c);
        return;
    }
    if (what & BEV_EVENT_ERROR) {
        unsigned long e = bufferevent_get_openssl_error(c->bev);

        if (e && c->phase == PH_HANDSHAKE)
            osec_info("tls.handshake_failed", "peer=%s reason=\"%s\"", c->peer,
                      ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "?");
        while (bufferevent_get_openssl_error(c->bev))
            ;
    }
    conn_free(c);
}

static void peer_name(struct osec_net_conn *c, const struct sockaddr *sa)
{
    uint16_t port = 0;

    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)sa;

        (void)inet_ntop(AF_INET6, &a->sin6_addr, c->peer_ip, sizeof(c->peer_ip));
        port = ntohs(a->sin6_port);
    } else if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)sa;

        (void)inet_ntop(AF_INET, &a->sin_addr, c->peer_ip, sizeof(c->peer_ip));
        port = ntohs(a->sin_port);
    }
    (void)osec_snprintf(c->peer, sizeof(c->peer), "%s:%u", c->peer_ip, port);
}

static struct bufferevent *make_bev(struct worker *w, evutil_socket_t fd)
{
    SSL *ssl;
    struct bufferevent *bev;

    if (!w->srv->cfg.ssl_ctx)
        return bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
    (void)pthread_mutex_lock(&w->srv->ctx_mu); /* the context may be swapped (SIGHUP) */
    ssl = SSL_new(w->srv->cfg.ssl_ctx);
    (void)pthread_mutex_unlock(&w->srv->ctx_mu);
    if (!ssl)
        return NULL;
    bev = bufferevent_openssl_socket_new(w->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        SSL_free(ssl);
    else
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

/* A refused connection is reset rather than closed: nothing was read or
 * written, and a flood must not leave the server's side in TIME_WAIT. */
static void drop(evutil_socket_t fd)
{
    struct linger lg = { 1, 0 };

    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    (void)close(fd);
}

/* k: refused by the per-source limit; NULL: by the worker's max_conns. */
static void refuse(struct worker *w, evutil_socket_t fd, const struct net_src_key *k)
{
    struct osec_net_server *s = w->srv;
    uint64_t n;

    drop(fd);
    osec_metric_inc(k ? s->cfg.refused_source : s->cfg.refused_limit);
    if (!net_refusal_due(k ? &s->ref_source : &s->ref_limit, &n))
        return;
    if (!k) {
        osec_warn("conn.refused", "reason=limit conns=%u refused=%llu", w->conns,
                  (unsigned long long)n);
        return;
    }
    net_src_log_refused(k, atomic_load(&s->per_source), n);
}

/* The limits, checked before anything is spent on the connection: the
 * worker's own count, then the source's count across all workers.  A
 * connection let in is counted and linked; NULL when fd was closed. */
static struct osec_net_conn *admit(struct worker *w, evutil_socket_t fd, const struct sockaddr *sa)
{
    struct osec_net_server *s = w->srv;
    struct osec_net_conn *c;
    struct net_src_key k;

    if (w->conns >= s->cfg.max_conns) {
        refuse(w, fd, NULL);
        return NULL;
    }
    net_src_key_of(sa, &k);
    if (!net_src_acquire(s->src, &k, atomic_load(&s->per_source))) {
        refuse(w, fd, &k);
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        net_src_release(s->src, &k);
        (void)close(fd);
        return NULL;
    }
    c->src = k;
    w->conns++;
    c->w = w;
    c->next = w->head;
    if (w->head)
        w->head->prev = c;
    w->head = c;
    return c;
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    struct worker *w = arg;
    struct osec_net_conn *c;
    int one = 1;

    (void)l;
    (void)salen;
    if (!(c = admit(w, fd, sa)))
        return;
    peer_name(c, sa);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->deadline = evtimer_new(w->base, on_deadline, c);
    c->bev = make_bev(w, fd);
    if (!c->deadline || !c->bev) {
        if (!c->bev)
            (void)close(fd);
        conn_free(c);
        return;
    }
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    (void)bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (w->srv->cfg.ssl_ctx)
        arm(c, PH_HANDSHAKE);
    else
        on_open(c);
}

static int bind_socket(struct osec_net_server *s, bool first, int *out)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int fd, one = 1;

    memset(&ss, 0, sizeof(ss));
    if (strchr(s->host, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

        a->sin6_family = AF_INET6;
        a->sin6_port = htons(s->port);
        OSEC_ENSURE(inet_pton(AF_INET6, s->host, &a->sin6_addr) == 1, OSEC_EINVAL,
                    "bad listen address '%s'", s->host);
        sl = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;

        a->sin_family = AF_INET;
        a->sin_port = htons(s->port);
        OSEC_ENSURE(inet_pton(AF_INET, s->host, &a->sin_addr) == 1, OSEC_EINVAL,
                    "bad listen address '%s'", s->host);
        sl = sizeof(*a);
    }
    if (s->port != 0 && first) {
        /* SO_REUSEPORT would let us share a port another daemon already
         * listens on: probe without it so that is an error, as it should be */
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        OSEC_ENSURE(fd >= 0, OSEC_EIO, "socket: %s", strerror(errno));
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&ss, sl) != 0) {
            int e = errno;

            (void)close(fd);
            OSEC_BAIL(OSEC_EIO, "cannot listen on %s:%u: %s", s->host, s->port, strerror(e));
        }
        (void)close(fd);
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    OSEC_ENSURE(fd >= 0, OSEC_EIO, "socket: %s", strerror(errno));
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 1024) != 0) {
        int e = errno;

        (void)close(fd);
        OSEC_BAIL(OSEC_EIO, "cannot listen on %s:%u: %s", s->host, s->port, strerror(e));
    }
    if (s->port == 0) {
        sl = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
            s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                     : ((struct sockaddr_in *)&ss)->sin_port);
    }
    *out = fd;
    return 0;
}

/* A daemon holding thousands of sessions needs the descriptors it is
 * allowed: raise the soft limit to the hard one. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* EPOLL_USE_CHANGELIST folds the enable/disable calls a TLS handshake
 * makes into one epoll_ctl per descriptor per loop iteration. */
static struct event_base *new_base(void)
{
    struct event_config *cfg = event_config_new();
    struct event_base *b;

    if (!cfg)
        return NULL;
    (void)event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    b = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return b;
}

static void defaults(struct osec_net_config *c)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    if (c->workers <= 0)
        c->workers = n > 0 ? (int)(n > 64 ? 64 : n) : 1;
    if (!c->handshake_ms)
        c->handshake_ms = 10000;
    if (!c->request_ms)
        c->request_ms = 30000;
    if (!c->idle_ms)
        c->idle_ms = 120000;
    if (!c->max_input)
        c->max_input = 1024 * 1024;
    if (!c->max_conns)
        c->max_conns = 4096;
}

/* The most connections the server can hold at once: the per-source table
 * is sized from it. */
static size_t conn_ceiling(const struct osec_net_config *c)
{
    struct rlimit rl;
    size_t n = (size_t)c->workers * c->max_conns;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < n)
        n = (size_t)rl.rlim_cur;
    return n;
}

int osec_net_server_new(const struct osec_net_config *cfg, struct osec_net_server **out)
{
    struct osec_net_server *s;
    int rc = 0;

    *out = NULL;
    OSEC_ENSURE(cfg->h && cfg->h->conn_data, OSEC_EINVAL, "no connection handler");
    (void)pthread_once(&evthread_once, init_evthreads);
    raise_nofile();
    s = calloc(1, sizeof(*s));
    OSEC_ENSURE(s != NULL, OSEC_ENOMEM, "out of memory");
    s->cfg = *cfg;
    s->h = *cfg->h;
    (void)pthread_mutex_init(&s->ctx_mu, NULL);
    defaults(&s->cfg);
    atomic_init(&s->per_source, s->cfg.max_conns_per_source);
    OSEC_CHECK(rc, net_src_new(conn_ceiling(&s->cfg), &s->src));
    s->port = cfg->port;
    OSEC_CHECK(rc, osec_strlcpy(s->host, cfg->host ? cfg->host : "127.0.0.1", sizeof(s->host)));
    s->nworkers = s->cfg.workers;
    s->w = calloc((size_t)s->nworkers, sizeof(*s->w));
    if (!s->w)
        OSEC_FAIL(rc, OSEC_ENOMEM, "out of memory");
    for (int i = 0; i < s->nworkers; i++) {
        struct worker *w = &s->w[i];

        w->srv = s;
        w->index = i;
        w->fd = -1;
        OSEC_CHECK(rc, bind_socket(s, i == 0, &w->fd));
        w->base = new_base();
        if (!w->base)
            OSEC_FAIL(rc, OSEC_ENOMEM, "event_base_new failed");
        w->lst = evconnlistener_new(w->base, on_accept, w, LEV_OPT_CLOSE_ON_FREE, -1, w->fd);
        if (!w->lst)
            OSEC_FAIL(rc, OSEC_EIO, "evconnlistener_new failed");
        w->fd = -1; /* owned by the listener now */
    }
out:
    if (rc < 0)
        osec_net_server_free(&s);
    *out = s;
    return rc;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    const struct osec_net_handlers *h = &w->srv->h;

    tl_base = w->base;
    if (h->worker_start) {
        w->state = h->worker_start(w->index, w->srv->cfg.arg);
        if (!w->state) {
            osec_error("worker.start_failed", "worker=%d", w->index);
            osec_net_server_stop(w->srv);
            return NULL;
        }
    }
    (void)event_base_dispatch(w->base);
    return NULL;
}

int osec_net_server_run(struct osec_net_server *s)
{
    int started = 0;

    for (int i = 0; i < s->nworkers; i++) {
        if (pthread_create(&s->w[i].thread, NULL, worker_main, &s->w[i]) != 0)
            break;
        started++;
    }
    if (started < s->nworkers)
        osec_net_server_stop(s);
    for (int i = 0; i < started; i++)
        (void)pthread_join(s->w[i].thread, NULL);
    OSEC_ENSURE(started == s->nworkers, OSEC_EINTERNAL, "could not start worker threads");
    return 0;
}

void osec_net_server_stop(struct osec_net_server *s)
{
    atomic_store(&s->stopping, true);
    for (int i = 0; i < s->nworkers; i++)
        if (s->w[i].base)
            (void)event_base_loopbreak(s->w[i].base);
}

uint16_t osec_net_server_port(const struct osec_net_server *s)
{
    return s->port;
}

/* Every connection is gone: a count left in the table is a close path
 * that forgot its source (which would slowly lock that source out). */
static void check_sources(struct osec_net_server *s)
{
    size_t sources = 0, conns = 0;

    if (s->src)
        net_src_totals(s->src, &sources, &conns);
    if (sources || conns)
        osec_error("conn.source_leak", "sources=%zu conns=%zu", sources, conns);
}

void osec_net_server_set_max_conns_per_source(struct osec_net_server *s, unsigned n)
{
    atomic_store(&s->per_source, n);
}

void osec_net_server_stats(struct osec_net_server *s, struct osec_net_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->refused_source = atomic_load(&s->ref_source.n);
    out->refused_limit = atomic_load(&s->ref_limit.n);
    net_src_totals(s->src, &out->sources, &out->source_conns);
}

void osec_net_server_free(struct osec_net_server **ps)
{
    struct osec_net_server *s = *ps;

    if (!s)
        return;
    for (int i = 0; s->w && i < s->nworkers; i++) {
        struct worker *w = &s->w[i];

        if (w->lst)
            evconnlistener_free(w->lst);
        while (w->head)
            conn_free(w->head);
        /* bufferevents with a deferred callback pending are released by the
         * loop, not by bufferevent_free: let it run once (nothing else can
         * fire now: the listener and every connection are gone) */
        if (w->base)
            (void)event_base_loop(w->base, EVLOOP_NONBLOCK);
        if (w->fd >= 0)
            (void)close(w->fd);
        if (w->state && s->h.worker_stop)
            s->h.worker_stop(w->state);
        if (w->base)
            event_base_free(w->base);
    }
    free(s->w);
    check_sources(s);
    net_src_free(&s->src);
    if (s->ctx_owned)
        SSL_CTX_free(s->cfg.ssl_ctx);
    (void)pthread_mutex_destroy(&s->ctx_mu);
    free(s);
    *ps = NULL;
}

int osec_net_conn_write(struct osec_net_conn *c, const void *data, size_t len)
{
    OSEC_ENSURE(bufferevent_write(c->bev, data, len) == 0, OSEC_EIO, "write failed");
    return 0;
}

void osec_net_conn_close_after_write(struct osec_net_conn *c)
{
    c->phase = PH_CLOSING;
    (void)bufferevent_disable(c->bev, EV_READ);
    arm(c, PH_CLOSING); /* flush deadline: idle_ms */
}

SSL *osec_net_conn_ssl(struct osec_net_conn *c)
{
    return c->w->srv->cfg.ssl_ctx || c->upgraded ? bufferevent_openssl_get_ssl(c->bev) : NULL;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct osec_net_conn *c = arg;
    const struct osec_net_server *s = c->w->srv;

    (void)fd;
    (void)what;
    if (c->phase == PH_CLOSING || !c->opened || !s->h.conn_timer)
        return;
    if (s->h.conn_timer(c, c->state) < 0)
        conn_free(c);
}

int osec_net_conn_timer(struct osec_net_conn *c, unsigned ms)
{
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };

    if (ms == 0) {
        if (c->timer)
            (void)event_del(c->timer);
        return 0;
    }
    if (!c->timer)
        c->timer = evtimer_new(c->w->base, on_timer, c);
    OSEC_ENSURE(c->timer != NULL, OSEC_ENOMEM, "out of memory");
    OSEC_ENSURE(event_add(c->timer, &tv) == 0, OSEC_EIO, "cannot arm the timer");
    return 0;
}

int osec_net_conn_starttls(struct osec_net_conn *c, SSL_CTX *ctx)
{
    OSEC_ENSURE(ctx != NULL, OSEC_EINVAL, "no TLS context");
    OSEC_ENSURE(!c->w->srv->cfg.ssl_ctx && !c->upgraded && !c->starttls && !c->tunnel,
                OSEC_EINVAL, "connection is already TLS");
    c->starttls = ctx;
    return 0;
}

const char *osec_net_conn_peer_ip(const struct osec_net_conn *c)
{
    return c->peer_ip;
}

const char *osec_net_conn_peer(const struct osec_net_conn *c)
{
    return c->peer;
}

void osec_net_conn_pause(struct osec_net_conn *c)
{
    c->paused = true;
}

void osec_net_conn_resume(struct osec_net_conn *c)
{
    c->paused = false;
    process_input(c);
}

struct event_base *osec_net_worker_base(void)
{
    return tl_base;
}

void *osec_net_conn_worker(struct osec_net_conn *c)
{
    return c->w->state;
}

int osec_net_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port)
{
    struct osec_slice in = osec_slice_cstr(s), h, p;
    uint64_t v;
    long colon;

    if (in.len > 0 && in.ptr[0] == '[') {
        long end = osec_slice_find(in, ']');

        OSEC_ENSURE(end > 1 && (size_t)end + 1 < in.len && in.ptr[end + 1] == ':', OSEC_EINVAL,
                    "bad address '%s' (expected [V6]:PORT)", s);
        h = osec_slice_sub(in, 1, (size_t)end - 1);
        p = osec_slice_sub(in, (size_t)end + 2, in.len);
    } else {
        colon = -1;
        for (size_t i = 0; i < in.len; i++)
            if (in.ptr[i] == ':')
                colon = (long)i;
        OSEC_ENSURE(colon > 0, OSEC_EINVAL, "bad address '%s' (expected HOST:PORT)", s);
        h = osec_slice_sub(in, 0, (size_t)colon);
        p = osec_slice_sub(in, (size_t)colon + 1, in.len);
    }
    OSEC_ENSURE(osec_slice_to_u64(p, 65535, &v) == 0, OSEC_EINVAL, "bad port in '%s'", s);
    OSEC_GUARD(osec_slice_to_cstr(h, host, hostlen));
    *port = (uint16_t)v;
    return 0;
}

/* ---- signals ----------------------------------------------------------- */

struct osec_signals {
    void (*on_stop)(void *);
    void (*on_hup)(void *);
    void *arg;
    sigset_t set;
    pthread_t thread;
};

static void *signal_main(void *p)
{
    struct osec_signals *sc = p;
    int sig;

    for (;;) {
        if (sigwait(&sc->set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            if (sc->on_hup)
                sc->on_hup(sc->arg);
            continue;
        }
        if (sig != SIGUSR2) /* SIGUSR2: our own wake-up after the workers ended */
            osec_info("server.stopping", "signal=%d", sig);
        sc->on_stop(sc->arg);
        return NULL;
    }
}

static void daemon_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGUSR2);
}

void osec_net_block_signals(void)
{
    sigset_t set;

    daemon_signals(&set);
    (void)pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by every thread */
    (void)signal(SIGPIPE, SIG_IGN);
    (void)signal(SIGXFSZ, SIG_IGN); /* a file-size limit is a write error, not death */
}

int osec_signals_start(void (*on_stop)(void *), void (*on_hup)(void *), void *arg,
                       struct osec_signals **out)
{
    struct osec_signals *sc = calloc(1, sizeof(*sc));

    *out = NULL;
    OSEC_ENSURE(sc != NULL, OSEC_ENOMEM, "out of memory");
    sc->on_stop = on_stop;
    sc->on_hup = on_hup;
    sc->arg = arg;
    daemon_signals(&sc->set);
    osec_net_block_signals();
    if (pthread_create(&sc->thread, NULL, signal_main, sc) != 0) {
        free(sc);
        OSEC_BAIL(OSEC_EINTERNAL, "cannot start the signal thread");
    }
    *out = sc;
    return 0;
}

void osec_signals_stop(struct osec_signals **psc)
{
    if (!*psc)
        return;
    (void)pthread_kill((*psc)->thread, SIGUSR2);
    (void)pthread_join((*psc)->thread, NULL);
    free(*psc);
    *psc = NULL;
}

struct server_sig {
    struct osec_net_server *s;
    void (*on_hup)(void *);
    void *arg;
};

static void sig_stop(void *p)
{
    osec_net_server_stop(((struct server_sig *)p)->s);
}

static void sig_hup(void *p)
{
    struct server_sig *ss = p;

    if (ss->on_hup)
        ss->on_hup(ss->arg);
}

int osec_net_server_run_signals(struct osec_net_server *s, void (*on_hup)(void *), void *arg)
{
    struct server_sig ss = { s, on_hup, arg };
    struct osec_signals *sc;
    int rc;

    OSEC_GUARD(osec_signals_start(sig_stop, sig_hup, &ss, &sc));
    rc = osec_net_server_run(s);
    osec_signals_stop(&sc);
    return rc;
}

/* ---- tunnels ------------------------------------------------------------ */

static void peer_read(struct bufferevent *bev, void *arg)
{
    struct osec_net_conn *c = arg;

    (void)evbuffer_add_buffer(bufferevent_get_output(c->bev), bufferevent_get_input(bev));
    arm(c, PH_IDLE);
}

static void peer_event(struct bufferevent *bev, short what, void *arg)
{
    struct osec_net_conn *c = arg;

    (void)bev;
    if (what & BEV_EVENT_CONNECTED)
        return;
    osec_info("tunnel.closed", "peer=%s", c->peer);
    osec_net_conn_close_after_write(c);
}

int osec_net_conn_splice(struct osec_net_conn *c, const char *host, uint16_t port)
{
    struct sockaddr_storage ss;
    int sl = (int)sizeof(ss);
    char addr[300];

    OSEC_ENSURE(c->tunnel == NULL, OSEC_EINVAL, "already spliced");
    OSEC_GUARD(osec_snprintf(addr, sizeof(addr), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
                             (unsigned)port));
    memset(&ss, 0, sizeof(ss));
    OSEC_ENSURE(evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &sl) == 0, OSEC_EINVAL,
                "tunnel target must be a numeric address");
    c->tunnel = bufferevent_socket_new(c->w->base, -1, BEV_OPT_CLOSE_ON_FREE);
    OSEC_ENSURE(c->tunnel != NULL, OSEC_ENOMEM, "out of memory");
    bufferevent_setcb(c->tunnel, peer_read, NULL, peer_event, c);
    if (bufferevent_socket_connect(c->tunnel, (struct sockaddr *)&ss, sl) != 0) {
        bufferevent_free(c->tunnel);
        c->tunnel = NULL;
        OSEC_BAIL(OSEC_EIO, "cannot connect to %s", addr);
    }
    (void)bufferevent_enable(c->tunnel, EV_READ | EV_WRITE);
    return 0;
}

/* ---- certificate reload ------------------------------------------------- */

int osec_net_server_set_ssl_ctx(struct osec_net_server *s, SSL_CTX *ctx)
{
    SSL_CTX *old;
    bool owned;

    OSEC_ENSURE(s->cfg.ssl_ctx != NULL && ctx != NULL, OSEC_EINVAL,
                "only a TLS server can change its context");
    (void)pthread_mutex_lock(&s->ctx_mu);
    old = s->cfg.ssl_ctx;
    owned = s->ctx_owned;
    s->cfg.ssl_ctx = ctx;
    s->ctx_owned = true;
    (void)pthread_mutex_unlock(&s->ctx_mu);
    /* sessions made from the old context hold their own references */
    if (owned)
        SSL_CTX_free(old);
    return 0;
}
