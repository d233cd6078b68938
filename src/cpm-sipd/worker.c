/* cpm-sipd worker threads: UDP sockets, TCP/TLS connections, mailboxes. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/thread.h>
#include <openssl/err.h>

#include "omasec/net.h"
#include "omasec/error.h"
#include "omasec/log.h"
#include "omasec/tls.h"
#include "omasec/util.h"
#include "sipd.h"

#define UDP_BURST 64                /* datagrams per readiness event */
#define RX_BATCH SIPD_RX_BATCH      /* datagrams per recvmmsg */
#define OUTPUT_MAX (4u << 20)       /* unsent bytes per connection before we give up */
#define CONN_BUCKETS 1024
#define WORKER_CONNS 4096           /* stream connections per worker */

enum phase { PH_HANDSHAKE, PH_OPEN, PH_CLOSING };

struct sipd_conn {
    struct sipd_conn *hnext;
    uint64_t id;
    struct sipd_worker *w;
    struct bufferevent *bev;
    struct event *deadline;
    struct sipd_src src;
    enum phase phase;
    bool partial, registered;
    bool counted;                             /* in srv->srclimit (by src.flow.addr) */
    uint64_t peer_gen;                        /* peer set the connection is published in */
    char principal[OSEC_STORE_NAME_MAX + 1];  /* IWF: the peer's certificate principal */
};

struct sipd_post {
    struct sipd_post *next;
    uint64_t conn;
    size_t len;
    uint8_t data[];
};

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;

static void init_evthreads(void)
{
    (void)evthread_use_pthreads();
}

const char *sipd_tp_name(enum sipd_tp tp)
{
    return tp == TP_UDP ? "UDP" : tp == TP_TCP ? "TCP" : "TLS";
}

const struct sipd_listen *sipd_listen_of(const struct sipd *srv, const struct sipd_flow *f)
{
    return &srv->listen[f->listen < srv->n_listen ? f->listen : 0];
}

/* ---- connections --------------------------------------------------------- */

static struct sipd_conn **conn_slot(struct sipd_worker *w, uint64_t id)
{
    struct sipd_conn **pp = &w->conns[id % CONN_BUCKETS];

    while (*pp && (*pp)->id != id)
        pp = &(*pp)->hnext;
    return pp;
}

static void arm(struct sipd_conn *c, unsigned ms)
{
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };

    (void)event_add(c->deadline, &tv);
}

/* No longer the way to reach its peer (if it still is). */
static void peer_unpublish(struct sipd_conn *c)
{
    struct sipd_peerset *ps = sipd_peers(c->w->srv);
    const struct osec_sip_peer *p = osec_sip_peer_find(ps->p, ps->n, c->principal);
    uint64_t id = c->id;

    if (p)
        (void)atomic_compare_exchange_strong(&ps->conn[p - ps->p], &id, 0);
}

static void conn_free(struct sipd_conn *c)
{
    struct sipd_worker *w = c->w;
    struct sipd_conn **pp = conn_slot(w, c->id);

    if (*pp == c)
        *pp = c->hnext;
    w->n_conns--;
    osec_metric_add(sipd_m.conns[c->src.flow.tp], -1);
    if (c->src.flow.tp >= TP_TLS && c->phase == PH_HANDSHAKE)
        osec_metric_inc(sipd_m.handshakes[c->src.flow.tp == TP_IWF][SIPD_HS_FAILED]);
    if (c->registered && w->srv->shared)
        sipd_sreg_flow_gone(w, &c->src.flow);
    else if (c->registered)
        osec_metric_add(sipd_m.bindings, -(int64_t)sipd_reg_flow_gone(w->srv->reg, c->id));
    if (c->principal[0])
        peer_unpublish(c);
    if (c->deadline)
        event_free(c->deadline);
    if (c->bev) {
        SSL *ssl = c->src.flow.tp >= TP_TLS ? bufferevent_openssl_get_ssl(c->bev) : NULL;

        if (ssl && c->phase == PH_CLOSING)
            (void)SSL_shutdown(ssl); /* best effort close_notify */
        bufferevent_free(c->bev);
    }
    if (c->counted)
        osec_net_srclimit_release(w->srv->srclimit,
                                  (const struct sockaddr *)&c->src.flow.addr.ss);
    osec_debug("conn.closed", "peer=%s:%u id=%llx", c->src.ip, (unsigned)c->src.port,
               (unsigned long long)c->id);
    free(c);
}

static void close_after_write(struct sipd_conn *c)
{
    c->phase = PH_CLOSING;
    (void)bufferevent_disable(c->bev, EV_READ);
    arm(c, 2000);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        conn_free(c);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct sipd_conn *c = arg;
    static const char *const names[] = { "handshake", "open", "closing" };

    (void)fd;
    (void)what;
    osec_info("conn.timeout", "peer=%s:%u phase=%s partial=%s", c->src.ip,
              (unsigned)c->src.port, names[c->phase], c->partial ? "yes" : "no");
    conn_free(c);
}

/* The connection's peer in the peer set in force (NULL: no longer
 * configured), published there as the way to reach that peer. */
static const struct osec_sip_peer *peer_resolve(struct sipd_conn *c)
{
    struct sipd_peerset *ps = sipd_peers(c->w->srv);
    const struct osec_sip_peer *p = osec_sip_peer_find(ps->p, ps->n, c->principal);

    if (p && c->peer_gen != ps->gen) {
        atomic_store(&ps->conn[p - ps->p], c->id);
        c->peer_gen = ps->gen;
    }
    return p;
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct sipd_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len;

    /* resolved per event: a reload may have changed or removed the peer */
    if (c->src.flow.tp == TP_IWF && c->phase == PH_OPEN &&
        !(c->src.peer = peer_resolve(c))) {
        osec_warn("iwf.peer_removed", "peer=%s:%u principal=\"%s\"", c->src.ip,
                  (unsigned)c->src.port, c->principal);
        conn_free(c);
        return;
    }
    while (c->phase == PH_OPEN && (len = evbuffer_get_length(in)) > 0) {
        uint8_t *data = evbuffer_pullup(in, (ev_ssize_t)len);
        ssize_t n = data ? sipd_on_stream(c->w, &c->src, data, len) : -1;

        if (n < 0) {
            close_after_write(c);
            return;
        }
        if (n == 0) {
            if (!c->partial) { /* the clock runs from the first byte of a message */
                c->partial = true;
                arm(c, c->w->srv->message_ms);
            }
            return;
        }
        (void)evbuffer_drain(in, (size_t)n);
        c->partial = false;
        arm(c, c->w->srv->idle_ms);
    }
}

static void on_write(struct bufferevent *bev, void *arg)
{
    struct sipd_conn *c = arg;

    if (c->phase == PH_CLOSING && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        conn_free(c);
}

/* An IWF connection must present a certificate of a configured peer. */
static int admit_peer(struct sipd_conn *c)
{
    struct sipd *srv = c->w->srv;
    char principal[OSEC_STORE_NAME_MAX + 1];
    SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
    const struct osec_sip_peer *p = NULL;

    if (ssl && osec_tls_peer_principal(ssl, principal, sizeof(principal)) == 0) {
        memcpy(c->principal, principal, sizeof(c->principal));
        p = peer_resolve(c);
        /* published in a set a reload just replaced: publish in the new one */
        if (p && sipd_peers(srv)->gen != c->peer_gen)
            p = peer_resolve(c);
    } else {
        (void)osec_strlcpy(principal, "?", sizeof(principal));
    }
    if (!p) {
        c->principal[0] = '\0';
        osec_metric_inc(sipd_m.handshakes[1][SIPD_HS_UNLISTED_PEER]);
        osec_warn("iwf.peer_refused", "peer=%s:%u principal=\"%s\"", c->src.ip,
                  (unsigned)c->src.port, principal);
        sipd_audit(srv, "sip.peer.refused", principal, c->src.ip,
                   "certificate principal is not a configured peer");
        return -1;
    }
    c->src.peer = p;
    osec_metric_inc(sipd_m.handshakes[1][SIPD_HS_OK]);
    osec_info("iwf.peer_connected", "peer=%s:%u name=\"%s\" trusted=%s", c->src.ip,
              (unsigned)c->src.port, p->name, p->trusted ? "yes" : "no");
    return 0;
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct sipd_conn *c = arg;

    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        if (c->src.flow.tp == TP_IWF && admit_peer(c) < 0) {
            c->phase = PH_CLOSING; /* counted as refused, not as a failed handshake */
            conn_free(c);
            return;
        }
        if (c->src.flow.tp == TP_TLS)
            osec_metric_inc(sipd_m.handshakes[0][SIPD_HS_OK]);
        c->phase = PH_OPEN;
        arm(c, c->w->srv->idle_ms);
        on_read(c->bev, c);
        return;
    }
    if ((what & BEV_EVENT_ERROR) && c->src.flow.tp >= TP_TLS) {
        unsigned long e = bufferevent_get_openssl_error(c->bev);

        if (e && c->phase == PH_HANDSHAKE)
            osec_info("tls.handshake_failed", "peer=%s:%u reason=\"%s\"", c->src.ip,
                      (unsigned)c->src.port,
                      ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "?");
        while (bufferevent_get_openssl_error(c->bev))
            ;
    }
    conn_free(c);
}

static struct bufferevent *make_bev(struct sipd_worker *w, enum sipd_tp tp, evutil_socket_t fd)
{
    struct bufferevent *bev;
    SSL *ssl;

    if (tp < TP_TLS)
        return bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!(ssl = sipd_ssl_new(w->srv, tp)))
        return NULL;
    bev = bufferevent_openssl_socket_new(w->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        SSL_free(ssl);
    else
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

static void fill_src(struct sipd_conn *c, int listen, const struct sockaddr *sa, int salen)
{
    c->src.flow.tp = c->w->srv->listen[listen].tp;
    c->src.flow.listen = (uint8_t)listen;
    c->src.flow.conn = c->id;
    if (salen > 0 && (size_t)salen <= sizeof(c->src.flow.addr.ss)) {
        memcpy(&c->src.flow.addr.ss, sa, (size_t)salen);
        c->src.flow.addr.len = (socklen_t)salen;
    }
    if (osec_udp_addr_ip(&c->src.flow.addr, c->src.ip, sizeof(c->src.ip), &c->src.port) < 0)
        (void)osec_strlcpy(c->src.ip, "?", sizeof(c->src.ip));
}

/* A refused connection is reset rather than closed (as lib/net does):
 * nothing was read or written, and a flood must not leave our side in
 * TIME_WAIT. */
static void reset(evutil_socket_t fd)
{
    struct linger lg = { 1, 0 };

    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    (void)close(fd);
}

/* The limits, before anything is spent on the connection (no TLS yet): the
 * worker's own count, then the source's across all workers.  true: the
 * source is counted and fd is the caller's; false: fd is closed. */
static bool admit(struct sipd_worker *w, evutil_socket_t fd, const struct sockaddr *sa,
                  int salen)
{
    if (w->n_conns >= w->max_conns) {
        osec_metric_inc(sipd_m.refused_limit);
        if (sipd_once_a_second(&w->srv->refused_log))
            osec_warn("conn.refused", "reason=limit conns=%u", w->n_conns);
        reset(fd);
        return false;
    }
    /* the address is kept in the connection, to release the same source */
    if (salen <= 0 || (size_t)salen > sizeof(struct sockaddr_storage)) {
        (void)close(fd);
        return false;
    }
    if (!osec_net_srclimit_acquire(w->srv->srclimit, sa)) {
        reset(fd);
        return false;
    }
    return true;
}

static void accept_conn(struct sipd_worker *w, int listen, evutil_socket_t fd,
                        struct sockaddr *sa, int salen)
{
    struct sipd_conn *c;
    int one = 1;

    if (!admit(w, fd, sa, salen))
        return;
    if (!(c = calloc(1, sizeof(*c)))) {
        osec_net_srclimit_release(w->srv->srclimit, sa);
        osec_warn("conn.refused", "reason=memory conns=%u", w->n_conns);
        (void)close(fd);
        return;
    }
    c->w = w;
    c->peer_gen = UINT64_MAX;
    c->id = ((uint64_t)w->index << 48) | (++w->next_serial & 0xffffffffffffULL);
    c->hnext = w->conns[c->id % CONN_BUCKETS];
    w->conns[c->id % CONN_BUCKETS] = c;
    w->n_conns++;
    fill_src(c, listen, sa, salen);
    c->counted = true;
    osec_metric_add(sipd_m.conns[c->src.flow.tp], 1);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->deadline = evtimer_new(w->base, on_deadline, c);
    c->bev = make_bev(w, c->src.flow.tp, fd);
    if (!c->deadline || !c->bev) {
        if (!c->bev)
            (void)close(fd);
        conn_free(c);
        return;
    }
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    (void)bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (c->src.flow.tp == TP_TCP) {
        c->phase = PH_OPEN;
        arm(c, w->srv->idle_ms);
    } else {
        c->phase = PH_HANDSHAKE;
        arm(c, w->srv->handshake_ms);
    }
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    struct sipd_worker *w = arg;
    int listen = -1;

    for (int i = 0; i < (int)w->srv->n_listen; i++)
        if (w->lst[i] == l)
            listen = i;
    if (listen < 0) {
        (void)close(fd);
        return;
    }
    accept_conn(w, listen, fd, sa, salen);
}

void sipd_conn_mark_registered(struct sipd_worker *w, uint64_t id)
{
    struct sipd_conn *c = *conn_slot(w, id);

    if (c)
        c->registered = true;
}

static int conn_write(struct sipd_worker *w, uint64_t id, const void *data, size_t len)
{
    struct sipd_conn *c = *conn_slot(w, id);

    OSEC_ENSURE(c && c->phase == PH_OPEN, OSEC_ENOTFOUND, "connection gone");
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) > OUTPUT_MAX) {
        osec_warn("conn.output_limit", "peer=%s:%u", c->src.ip, (unsigned)c->src.port);
        close_after_write(c); /* not freed here: output is pending */
        OSEC_BAIL(OSEC_EBUSY, "peer does not read");
    }
    OSEC_ENSURE(bufferevent_write(c->bev, data, len) == 0, OSEC_EIO, "write failed");
    return 0;
}

/* ---- mailboxes: bytes for a connection of another worker ---------------- */

static int post(struct sipd_worker *to, uint64_t id, const void *data, size_t len)
{
    struct sipd_post *p = malloc(sizeof(*p) + len);
    uint64_t one = 1;

    OSEC_ENSURE(p != NULL, OSEC_ENOMEM, "out of memory");
    p->next = NULL;
    p->conn = id;
    p->len = len;
    memcpy(p->data, data, len);
    (void)pthread_mutex_lock(&to->mbox_lock);
    if (to->mbox_tail)
        to->mbox_tail->next = p;
    else
        to->mbox_head = p;
    to->mbox_tail = p;
    (void)pthread_mutex_unlock(&to->mbox_lock);
    OSEC_ENSURE(write(to->mbox_fd, &one, sizeof(one)) == (ssize_t)sizeof(one) || errno == EAGAIN,
                OSEC_EIO, "mailbox: %s", strerror(errno));
    return 0;
}

static void on_mbox(evutil_socket_t fd, short what, void *arg)
{
    struct sipd_worker *w = arg;
    struct sipd_post *list;
    uint64_t v;

    (void)what;
    (void)!read(fd, &v, sizeof(v)); /* reset the eventfd counter; empty is fine */
    if (atomic_load(&w->srv->stopping)) {
        (void)event_base_loopbreak(w->base);
        return;
    }
    (void)pthread_mutex_lock(&w->mbox_lock);
    list = w->mbox_head;
    w->mbox_head = w->mbox_tail = NULL;
    (void)pthread_mutex_unlock(&w->mbox_lock);
    while (list) {
        struct sipd_post *p = list;

        list = p->next;
        if (conn_write(w, p->conn, p->data, p->len) < 0)
            osec_debug("mailbox.undeliverable", "conn=%llx", (unsigned long long)p->conn);
        free(p);
    }
}

int sipd_send(struct sipd_worker *w, const struct sipd_flow *flow, const void *data, size_t len)
{
    int owner;

    if (flow->tp == TP_UDP) {
        OSEC_ENSURE(flow->listen < w->srv->n_listen && w->udp_fd[flow->listen] >= 0,
                    OSEC_EINVAL, "no UDP socket for the flow");
        return osec_udp_send(w->udp_fd[flow->listen], data, len, &flow->addr);
    }
    owner = (int)(flow->conn >> 48);
    OSEC_ENSURE(owner >= 0 && owner < w->srv->workers, OSEC_ENOTFOUND, "bad connection id");
    if (owner == w->index)
        return conn_write(w, flow->conn, data, len);
    return post(w->srv->w[owner], flow->conn, data, len);
}

/* ---- UDP ------------------------------------------------------------------ */

static void on_udp(evutil_socket_t fd, short what, void *arg)
{
    struct sipd_udp_ctx *u = arg;
    struct sipd_worker *w = u->w;
    struct osec_udp_addr from[RX_BATCH];
    size_t lens[RX_BATCH];
    struct sipd_src src;
    int n;

    (void)what;
    for (int round = 0; round < UDP_BURST / RX_BATCH; round++) {
        n = osec_udp_recv_many(fd, w->rx, w->srv->max_msg, lens, from, RX_BATCH);
        if (n <= 0)
            return;
        for (int i = 0; i < n; i++) {
            if (lens[i] == 0)
                continue; /* truncated (larger than max_message) or empty */
            memset(&src.flow, 0, sizeof(src.flow));
            src.flow.tp = TP_UDP;
            src.flow.listen = (uint8_t)u->listen;
            src.flow.addr = from[i];
            src.peer = NULL;
            if (osec_udp_addr_ip(&src.flow.addr, src.ip, sizeof(src.ip), &src.port) == 0)
                sipd_on_datagram(w, &src, w->rx[i], lens[i]);
        }
        if (n < RX_BATCH)
            return;
    }
}

/* ---- setup and teardown ---------------------------------------------------- */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct sipd_worker *w = arg;
    size_t n;

    (void)fd;
    (void)what;
    /* between events: nothing of an earlier configuration is held here */
    atomic_store(&w->quiet, atomic_load(&w->srv->epoch));
    if (w->index != 0)
        return;
    if (w->srv->shared) {
        sipd_sreg_tick(w, osec_time_now());
        return;
    }
    n = sipd_reg_expire(w->srv->reg, osec_time_now());
    osec_metric_add(sipd_m.bindings, -(int64_t)n);
    if (n)
        osec_info("registrar.expired", "bindings=%zu left=%zu", n,
                  sipd_reg_count(w->srv->reg));
}

static int add_udp(struct sipd_worker *w, int i, struct sipd_udp_ctx *ctx)
{
    const struct sipd_listen *l = &w->srv->listen[i];

    OSEC_GUARD(osec_udp_bind(l->host, l->port, true, 4 << 20, &w->udp_fd[i], NULL));
    ctx->w = w;
    ctx->listen = i;
    w->udp_ev[i] = event_new(w->base, w->udp_fd[i], EV_READ | EV_PERSIST, on_udp, ctx);
    OSEC_ENSURE(w->udp_ev[i] && event_add(w->udp_ev[i], NULL) == 0, OSEC_ENOMEM,
                "cannot watch the UDP socket");
    return 0;
}

static int add_stream(struct sipd_worker *w, int i)
{
    const struct sipd_listen *l = &w->srv->listen[i];
    struct osec_udp_addr a;

    OSEC_GUARD(osec_udp_addr_make(l->host, l->port, &a));
    w->lst[i] = evconnlistener_new_bind(w->base, on_accept, w,
                                        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                            LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_EXEC,
                                        1024, (struct sockaddr *)&a.ss, (int)a.len);
    OSEC_ENSURE(w->lst[i] != NULL, OSEC_EIO, "cannot listen on %s %s:%u: %s",
                sipd_tp_name(l->tp), l->host, (unsigned)l->port, strerror(errno));
    return 0;
}

static int worker_init(struct sipd *srv, struct sipd_worker *w, int index)
{
    struct timeval sec = { 1, 0 };

    w->srv = srv;
    w->index = index;
    w->mbox_fd = -1;
    w->max_conns = WORKER_CONNS;
    for (int i = 0; i < SIPD_LISTEN_MAX; i++)
        w->udp_fd[i] = -1;
    (void)pthread_mutex_init(&w->mbox_lock, NULL);
    osec_buf_init(&w->out, srv->max_msg + 4096);
    osec_buf_init(&w->tmp, srv->max_msg + 4096);
    osec_buf_init(&w->key, 2 * OSEC_SIP_LINE_MAX);
    w->msg = calloc(1, sizeof(*w->msg));
    w->rxbuf = malloc((srv->max_msg + 1) * RX_BATCH);
    for (int i = 0; w->rxbuf && i < RX_BATCH; i++)
        w->rx[i] = w->rxbuf + (size_t)i * (srv->max_msg + 1);
    w->base = event_base_new();
    OSEC_ENSURE(w->msg && w->rxbuf && w->base, OSEC_ENOMEM, "out of memory");
    OSEC_GUARD(osec_store_open(srv->store_url, &w->st));
    w->lookup.st = w->st;
    w->lookup.m = srv->m;
    w->lookup.realm = srv->realm;
    OSEC_GUARD(sipd_txns_new(srv->txn_cache, &w->txns));
    OSEC_GUARD(osec_sip_cache_new(65536, srv->auth_cache_ms, &w->cache));
    w->db.st = w->st;
    w->db.cache = w->cache;
    OSEC_GUARD(osec_rand_bytes(&w->tag_prefix, sizeof(w->tag_prefix)));
    w->mbox_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    OSEC_ENSURE(w->mbox_fd >= 0, OSEC_EIO, "eventfd: %s", strerror(errno));
    w->mbox_ev = event_new(w->base, w->mbox_fd, EV_READ | EV_PERSIST, on_mbox, w);
    w->tick = event_new(w->base, -1, EV_PERSIST, on_tick, w);
    OSEC_ENSURE(w->mbox_ev && w->tick && event_add(w->mbox_ev, NULL) == 0 &&
                    event_add(w->tick, &sec) == 0,
                OSEC_ENOMEM, "cannot set up worker events");
    for (int i = 0; i < (int)srv->n_listen; i++)
        OSEC_GUARD(srv->listen[i].tp == TP_UDP ? add_udp(w, i, &w->udp_ctx[i])
                                               : add_stream(w, i));
    return 0;
}

int sipd_workers_start(struct sipd *srv)
{
    (void)pthread_once(&evthread_once, init_evthreads);
    OSEC_ENSURE(srv->workers >= 1 && srv->workers <= 256, OSEC_EINVAL, "bad worker count");
    OSEC_GUARD(osec_net_srclimit_new((size_t)srv->workers * WORKER_CONNS, srv->per_source,
                                     sipd_m.refused_source, &srv->srclimit));
    srv->w = calloc((size_t)srv->workers, sizeof(*srv->w));
    OSEC_ENSURE(srv->w != NULL, OSEC_ENOMEM, "out of memory");
    for (int i = 0; i < srv->workers; i++) {
        srv->w[i] = calloc(1, sizeof(*srv->w[i]));
        OSEC_ENSURE(srv->w[i] != NULL, OSEC_ENOMEM, "out of memory");
        OSEC_GUARD(worker_init(srv, srv->w[i], i));
    }
    return 0;
}

static void worker_free(struct sipd_worker *w)
{
    for (size_t b = 0; b < CONN_BUCKETS; b++)
        while (w->conns[b])
            conn_free(w->conns[b]);
    for (int i = 0; i < SIPD_LISTEN_MAX; i++) {
        if (w->lst[i])
            evconnlistener_free(w->lst[i]);
        if (w->udp_ev[i])
            event_free(w->udp_ev[i]);
        if (w->udp_fd[i] >= 0)
            (void)close(w->udp_fd[i]);
    }
    while (w->mbox_head) {
        struct sipd_post *p = w->mbox_head;

        w->mbox_head = p->next;
        free(p);
    }
    if (w->mbox_ev)
        event_free(w->mbox_ev);
    if (w->tick)
        event_free(w->tick);
    if (w->mbox_fd >= 0)
        (void)close(w->mbox_fd);
    if (w->base)
        event_base_free(w->base);
    (void)pthread_mutex_destroy(&w->mbox_lock);
    osec_store_close(&w->st);
    sipd_txns_free(&w->txns);
    osec_sip_cache_free(&w->cache);
    free(w->msg);
    free(w->rxbuf);
    osec_buf_free(&w->out);
    osec_buf_free(&w->tmp);
    osec_buf_free(&w->key);
    free(w);
}

void sipd_workers_free(struct sipd *srv)
{
    /* connections first everywhere: closing one touches the registrar */
    for (int i = 0; srv->w && i < srv->workers; i++)
        if (srv->w[i])
            worker_free(srv->w[i]);
    free(srv->w);
    srv->w = NULL;
    osec_net_srclimit_free(&srv->srclimit); /* conn.source_leak if a close path forgot */
}

/* ---- running ---------------------------------------------------------------- */

static void *worker_main(void *arg)
{
    struct sipd_worker *w = arg;

    (void)event_base_dispatch(w->base);
    return NULL;
}

/* Through the mailboxes: a loopbreak sent before a loop starts would be lost,
 * an eventfd stays readable until the worker looks. */
void sipd_stop(struct sipd *srv)
{
    uint64_t one = 1;

    atomic_store(&srv->stopping, true);
    for (int i = 0; srv->w && i < srv->workers; i++)
        if (srv->w[i] && srv->w[i]->mbox_fd >= 0)
            (void)!write(srv->w[i]->mbox_fd, &one, sizeof(one));
}

static void stop_cb(void *arg)
{
    sipd_stop(arg);
}

int sipd_run(struct sipd *srv, void (*on_hup)(void *))
{
    struct osec_signals *sc;
    int started = 0;

    OSEC_GUARD(osec_signals_start(stop_cb, on_hup, srv, &sc));
    for (int i = 0; i < srv->workers; i++) {
        if (pthread_create(&srv->w[i]->thread, NULL, worker_main, srv->w[i]) != 0)
            break;
        started++;
    }
    if (started < srv->workers)
        sipd_stop(srv);
    for (int i = 0; i < started; i++)
        (void)pthread_join(srv->w[i]->thread, NULL);
    osec_signals_stop(&sc);
    OSEC_ENSURE(started == srv->workers, OSEC_EINTERNAL, "could not start worker threads");
    return 0;
}
