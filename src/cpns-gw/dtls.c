/* cpns-gw: DTLS 1.2 PSK listener for PNEs without TCP (closes the seed's
 * "FFS" for entities that cannot run TLS).  One thread accepts with
 * DTLSv1_listen (stateless HMAC cookies against spoofed sources); each
 * association gets its own connected UDP socket and thread.  Each DTLS
 * record carries one whole HTTP message.  A thread whose association has
 * ended waits a while for the next one instead of exiting: no thread is
 * created per association in steady state (+17% DTLS establishments per
 * CPU-second, bench/pn/RESULTS.md). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "gw.h"
#include "omasec/error.h"
#include "omasec/log.h"

#define IDLE_MS 120000
#define POLL_MS 500
#define MAX_ASSOC 256
#define PARK_MS 10000  /* an idle association thread waits this long for work */

struct assoc {
    struct gw *gw;
    SSL *ssl;
    int fd;
    struct gw_session s;
    struct assoc *next;  /* in the hand-over queue */
};

static atomic_int live;     /* associations */
static atomic_int threads;  /* association threads, busy or parked */

/* Associations handed to parked threads. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct assoc *head, *tail;
    int parked;
} pool = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0 };

static void set_rcvtimeo(int fd, unsigned ms)
{
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };

    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static int udp_socket(const struct sockaddr_in *local, const struct sockaddr_in *peer)
{
    int one = 1, fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)local, sizeof(*local)) != 0 ||
        (peer && connect(fd, (const struct sockaddr *)peer, sizeof(*peer)) != 0)) {
        (void)close(fd);
        return -1;
    }
    return fd;
}

static void serve(struct assoc *a)
{
    uint8_t buf[16384];
    unsigned idle = 0;

    while (!atomic_load(&a->gw->stop) && idle < IDLE_MS) {
        struct osec_http_request req;
        struct osec_buf out;
        size_t used;
        bool close = false;
        int n = SSL_read(a->ssl, buf, sizeof(buf));

        if (n <= 0) {
            int e = SSL_get_error(a->ssl, n);

            if (e == SSL_ERROR_WANT_READ || (e == SSL_ERROR_SYSCALL && errno == EAGAIN)) {
                idle += POLL_MS;
                ERR_clear_error();
                continue;
            }
            return;
        }
        idle = 0;
        osec_buf_init_secret(&out, 65536);
        if (osec_http_request_parse(buf, (size_t)n, NULL, NULL, &req, &used) != OSEC_OK) {
            (void)osec_http_write_response(&out, 400, NULL, 0,
                                           osec_slice_cstr("one whole request per record"), -1);
            close = true;
        } else {
            gw_session_handle(&a->s, &req, &out, &close);
        }
        n = SSL_write(a->ssl, out.data, (int)out.len);
        osec_buf_free(&out);
        if (n <= 0 || close)
            return;
    }
}

static void run_assoc(struct assoc *a)
{
    set_rcvtimeo(a->fd, POLL_MS * 20); /* handshake */
    if (SSL_accept(a->ssl) == 1 && gw_session_start(&a->s, a->ssl, "dtls-psk")) {
        set_rcvtimeo(a->fd, POLL_MS);
        if (!a->s.authenticated)
            osec_info("pn.rejected", "addr=%s reason=\"DTLS needs a PSK\"", a->s.where);
        else
            serve(a);
    } else {
        osec_info("dtls.handshake_failed", "addr=%s", a->s.where);
    }
    (void)SSL_shutdown(a->ssl);
    SSL_free(a->ssl);
    (void)close(a->fd);
    free(a);
    atomic_fetch_sub(&live, 1);
}

/* The next association for a parked thread; NULL after PARK_MS without one
 * or when the GW stops (checked every POLL_MS). */
static struct assoc *next_assoc(struct gw *gw)
{
    struct assoc *a = NULL;
    unsigned waited = 0;

    (void)pthread_mutex_lock(&pool.mu);
    pool.parked++;
    while (!pool.head && waited < PARK_MS && !atomic_load(&gw->stop)) {
        struct timespec ts;

        (void)clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)POLL_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        if (pthread_cond_timedwait(&pool.cv, &pool.mu, &ts) != 0)
            waited += POLL_MS;
    }
    if (pool.head) { /* dispatch() has already counted this thread as busy */
        a = pool.head;
        pool.head = a->next;
        if (!pool.head)
            pool.tail = NULL;
    } else {
        pool.parked--;
    }
    (void)pthread_mutex_unlock(&pool.mu);
    return a;
}

static void *assoc_main(void *arg)
{
    struct assoc *a = arg;
    struct gw *gw = a->gw;

    for (; a; a = next_assoc(gw))
        run_assoc(a);
    atomic_fetch_sub(&threads, 1);
    return NULL;
}

/* Hand a to a parked thread, else start one. */
static int dispatch(struct assoc *a)
{
    pthread_t th;
    bool queued = false;

    (void)pthread_mutex_lock(&pool.mu);
    if (pool.parked > 0) {
        a->next = NULL;
        if (pool.tail)
            pool.tail->next = a;
        else
            pool.head = a;
        pool.tail = a;
        pool.parked--; /* that thread is spoken for */
        (void)pthread_cond_signal(&pool.cv);
        queued = true;
    }
    (void)pthread_mutex_unlock(&pool.mu);
    if (queued)
        return 0;
    atomic_fetch_add(&threads, 1);
    if (pthread_create(&th, NULL, assoc_main, a) != 0) {
        atomic_fetch_sub(&threads, 1);
        return -1;
    }
    (void)pthread_detach(th);
    return 0;
}

static int start_assoc(struct gw *gw, SSL *ssl, const struct sockaddr_in *local,
                       const BIO_ADDR *peer_addr)
{
    struct sockaddr_in peer;
    struct assoc *a;
    size_t alen = sizeof(peer.sin_addr);
    char ip[INET_ADDRSTRLEN];

    memset(&peer, 0, sizeof(peer));
    peer.sin_family = AF_INET;
    peer.sin_port = BIO_ADDR_rawport(peer_addr);
    if (BIO_ADDR_rawaddress(peer_addr, &peer.sin_addr, &alen) != 1 || alen != 4)
        return -1;
    if (atomic_load(&live) >= MAX_ASSOC || !(a = calloc(1, sizeof(*a))))
        return -1;
    a->gw = gw;
    a->ssl = ssl;
    a->s.gw = gw;
    (void)inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
    (void)osec_snprintf(a->s.where, sizeof(a->s.where), "udp:%s:%u", ip, ntohs(peer.sin_port));
    a->fd = udp_socket(local, &peer);
    if (a->fd < 0) {
        free(a);
        return -1;
    }
    BIO_set_fd(SSL_get_rbio(ssl), a->fd, BIO_NOCLOSE);
    (void)BIO_ctrl(SSL_get_rbio(ssl), BIO_CTRL_DGRAM_SET_CONNECTED, 0, (void *)peer_addr);
    atomic_fetch_add(&live, 1);
    if (dispatch(a) < 0) {
        atomic_fetch_sub(&live, 1);
        (void)close(a->fd);
        free(a);
        return -1;
    }
    return 0;
}

static void *listen_main(void *arg)
{
    struct gw *gw = arg;
    struct sockaddr_in local;
    BIO_ADDR *peer = BIO_ADDR_new();
    int fd;

    memset(&local, 0, sizeof(local));
    local.sin_family = AF_INET;
    local.sin_port = htons(gw->udp_port);
    (void)inet_pton(AF_INET, gw->udp_host, &local.sin_addr);
    fd = udp_socket(&local, NULL);
    if (fd < 0 || !peer) {
        osec_error("dtls.listen_failed", "addr=%s:%u error=\"%s\"", gw->udp_host,
                   (unsigned)gw->udp_port, strerror(errno));
        BIO_ADDR_free(peer);
        return NULL;
    }
    set_rcvtimeo(fd, POLL_MS);
    osec_info("dtls.listening", "addr=%s:%u", gw->udp_host, (unsigned)gw->udp_port);
    while (!atomic_load(&gw->stop)) {
        SSL *ssl = SSL_new(gw->dtls);
        BIO *bio = ssl ? BIO_new_dgram(fd, BIO_NOCLOSE) : NULL;

        if (!bio) {
            SSL_free(ssl);
            break;
        }
        SSL_set_bio(ssl, bio, bio);
        SSL_set_options(ssl, SSL_OP_COOKIE_EXCHANGE);
        if (DTLSv1_listen(ssl, peer) <= 0 || start_assoc(gw, ssl, &local, peer) < 0) {
            ERR_clear_error();
            SSL_free(ssl);
        }
    }
    (void)close(fd);
    BIO_ADDR_free(peer);
    return NULL;
}

int gw_dtls_start(struct gw *gw)
{
    OSEC_ENSURE(strchr(gw->udp_host, ':') == NULL, OSEC_EINVAL,
                "--listen-udp takes an IPv4 address");
    OSEC_ENSURE(pthread_create(&gw->dtls_thread, NULL, listen_main, gw) == 0, OSEC_EINTERNAL,
                "cannot start the DTLS thread");
    gw->dtls_running = true;
    return 0;
}

void gw_dtls_stop(struct gw *gw)
{
    if (!gw->dtls_running)
        return;
    atomic_store(&gw->stop, true);
    (void)pthread_join(gw->dtls_thread, NULL);
    /* associations and parked threads notice the stop flag within POLL_MS */
    for (int i = 0; i < 100 && (atomic_load(&live) > 0 || atomic_load(&threads) > 0); i++)
        (void)usleep(20000);
    gw->dtls_running = false;
}
