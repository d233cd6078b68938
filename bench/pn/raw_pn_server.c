/* raw_pn_server: the handshake ceiling of the PN establishment benchmark
 * (bench/pn/run).  A copy of bench/raw_psk_server.c (which the cpns-server
 * benchmark keeps using, unchanged) with what the PN benchmark needs:
 *   - many PSK identities, read from a Mosquitto-style psk_file
 *     ("identity:hexkey" lines), looked up in an in-memory hash table (the
 *     least a server holding many PNE credentials has to do),
 *   - no certificate (the PN GW's TLS-PSK listener needs none),
 *   - a DTLS 1.2 PSK listener (--udp-port) on its own thread: stateless
 *     HMAC cookies (DTLSv1_listen), one connected UDP socket per
 *     association, associations served one after the other.
 * The TLS side is unchanged: one thread, one level-triggered epoll loop over
 * non-blocking sockets, accept, handshake, read one request head if the
 * client sends one, a fixed small HTTP response, close.  It offers what
 * cpns-gw offers, with the same cipher lists, groups and options (the
 * strings come from omasec/tls.h); no tickets, no session cache.  Only
 * OpenSSL is linked: nothing of libomasec.
 *
 * usage: raw_pn_server --port P --psk-file F [--udp-port U]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "omasec/tls.h" /* cipher strings only (macros): nothing is linked */

/* The credentials: an open-addressing hash table (FNV-1a), read once. */
struct rcred {
    char id[OSEC_PSK_IDENTITY_MAX + 1];
    unsigned char key[OSEC_PSK_MAX];
    size_t len;
};

static struct rcred *table;
static size_t table_cap; /* a power of two, at least twice the credentials */

static const char response[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
    "Connection: close\r\n\r\n{}";

static void die(const char *what)
{
    fprintf(stderr, "raw_pn_server: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static size_t id_hash(const unsigned char *id, size_t len)
{
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < len; i++)
        h = (h ^ id[i]) * 1099511628211ull;
    return (size_t)h;
}

static struct rcred *slot_for(const unsigned char *id, size_t len)
{
    size_t i = id_hash(id, len) & (table_cap - 1);

    while (table[i].len && !(strlen(table[i].id) == len && memcmp(table[i].id, id, len) == 0))
        i = (i + 1) & (table_cap - 1);
    return &table[i];
}

static const struct rcred *find(const unsigned char *id, size_t len)
{
    const struct rcred *c;

    if (len == 0 || len > OSEC_PSK_IDENTITY_MAX)
        return NULL;
    c = slot_for(id, len);
    return c->len ? c : NULL;
}

/* TLS 1.2 PSK. */
static unsigned int psk_cb12(SSL *ssl, const char *identity, unsigned char *psk,
                             unsigned int max)
{
    const struct rcred *c = identity ? find((const unsigned char *)identity, strlen(identity))
                                     : NULL;

    (void)ssl;
    if (!c || c->len > max)
        return 0;
    memcpy(psk, c->key, c->len);
    return (unsigned int)c->len;
}

/* TLS 1.3 external PSK: a session holding the key, bound to SHA-256. */
static int psk_cb13(SSL *ssl, const unsigned char *id, size_t id_len, SSL_SESSION **sess)
{
    static const unsigned char aes128gcm[] = { 0x13, 0x01 };
    const SSL_CIPHER *c = SSL_CIPHER_find(ssl, aes128gcm);
    const struct rcred *cr = find(id, id_len);
    SSL_SESSION *s;

    *sess = NULL;
    if (!cr)
        return 1; /* unknown identity: no PSK, not an error */
    s = SSL_SESSION_new();
    if (!c || !s || SSL_SESSION_set1_master_key(s, cr->key, cr->len) != 1 ||
        SSL_SESSION_set_cipher(s, c) != 1 ||
        SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION) != 1) {
        SSL_SESSION_free(s);
        return 0;
    }
    *sess = s;
    return 1;
}

static SSL_CTX *make_ctx(bool dtls)
{
    SSL_CTX *ctx = SSL_CTX_new(dtls ? DTLS_server_method() : TLS_server_method());
    int lo = dtls ? DTLS1_2_VERSION : TLS1_2_VERSION, hi = dtls ? DTLS1_2_VERSION : TLS1_3_VERSION;

    if (!ctx || SSL_CTX_set_min_proto_version(ctx, lo) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, hi) != 1)
        die("context");
    (void)SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                       SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
    SSL_CTX_set_security_level(ctx, OSEC_TLS_SECURITY_LEVEL);
    if (SSL_CTX_set_cipher_list(ctx, OSEC_TLS12_PSK_CIPHERS) != 1 ||
        (!dtls && SSL_CTX_set_ciphersuites(ctx, OSEC_TLS13_PSK_CIPHERSUITES) != 1) ||
        SSL_CTX_set1_groups_list(ctx, OSEC_TLS_GROUPS) != 1 || SSL_CTX_set_dh_auto(ctx, 1) != 1 ||
        SSL_CTX_set_num_tickets(ctx, 0) != 1)
        die("policy");
    (void)SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    (void)SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_psk_server_callback(ctx, psk_cb12);
    if (!dtls)
        SSL_CTX_set_psk_find_session_callback(ctx, psk_cb13);
    return ctx;
}

static int listen_on(const char *host, int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (fd < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1024) < 0) {
        perror("raw_psk_server: listen");
        exit(1);
    }
    return fd;
}

/* One connection: non-blocking SSL driven by level-triggered epoll. */
struct rconn {
    int fd;
    SSL *ssl;
    bool accepted;
    uint32_t interest;
    size_t have;
    char buf[4096];
};

static int epfd;

static void rconn_close(struct rconn *c)
{
    ERR_clear_error();
    SSL_free(c->ssl);
    close(c->fd); /* also leaves the epoll set */
    free(c);
}

/* Wait for what OpenSSL asked for; false when the connection is done. */
static bool rconn_wait(struct rconn *c, int ret)
{
    int err = SSL_get_error(c->ssl, ret);
    uint32_t want = err == SSL_ERROR_WANT_READ ? EPOLLIN : err == SSL_ERROR_WANT_WRITE ? EPOLLOUT : 0;
    struct epoll_event ev = { .events = want, .data.ptr = c };

    if (!want)
        return false; /* EOF (a handshake-only client), error, or alert */
    if (want != c->interest && epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        return false;
    c->interest = want;
    return true;
}

/* Handshake, then read one request head and answer it; closes when done. */
static void rconn_step(struct rconn *c)
{
    int n;

    if (!c->accepted) {
        n = SSL_do_handshake(c->ssl);
        if (n != 1) {
            if (!rconn_wait(c, n))
                rconn_close(c);
            return;
        }
        c->accepted = true;
    }
    while (c->have < sizeof(c->buf)) {
        n = SSL_read(c->ssl, c->buf + c->have, (int)(sizeof(c->buf) - c->have));
        if (n <= 0) {
            if (!rconn_wait(c, n))
                rconn_close(c);
            return;
        }
        c->have += (size_t)n;
        if (memmem(c->buf, c->have, "\r\n\r\n", 4)) {
            /* a small response on a fresh socket: the write completes */
            if (SSL_write(c->ssl, response, (int)sizeof(response) - 1) > 0)
                (void)SSL_shutdown(c->ssl);
            break;
        }
    }
    rconn_close(c);
}

static void accept_all(SSL_CTX *ctx, int lfd)
{
    int fd, one = 1;

    while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
        struct rconn *c = calloc(1, sizeof(*c));
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (!c || !(c->ssl = SSL_new(ctx)) || SSL_set_fd(c->ssl, fd) != 1 ||
            epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            if (c)
                SSL_free(c->ssl);
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->interest = EPOLLIN;
        SSL_set_accept_state(c->ssl);
        rconn_step(c);
    }
    if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
        die("accept");
}

static void serve(SSL_CTX *ctx, int lfd)
{
    struct epoll_event evs[64], lev = { .events = EPOLLIN, .data.ptr = NULL };
    int n;

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) < 0)
        die("epoll");
    for (;;) {
        n = epoll_wait(epfd, evs, 64, -1);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr)
                rconn_step(evs[i].data.ptr);
            else
                accept_all(ctx, lfd);
        }
    }
}

/* ---- DTLS 1.2 ---------------------------------------------------------------- */

static unsigned char cookie_secret[32];

/* HMAC-SHA256(secret, peer address and port), as stateless as cpns-gw's. */
static int cookie_calc(SSL *ssl, unsigned char *out, unsigned int *len)
{
    BIO_ADDR *peer = BIO_ADDR_new();
    unsigned char in[64];
    size_t n = 0;
    unsigned short port;

    if (!peer || BIO_dgram_get_peer(SSL_get_rbio(ssl), peer) <= 0 ||
        BIO_ADDR_rawaddress(peer, in, &n) != 1 || n > sizeof(in) - 2) {
        BIO_ADDR_free(peer);
        return 0;
    }
    port = BIO_ADDR_rawport(peer);
    memcpy(in + n, &port, 2);
    BIO_ADDR_free(peer);
    return HMAC(EVP_sha256(), cookie_secret, sizeof(cookie_secret), in, n + 2, out, len) != NULL;
}

static int cookie_gen(SSL *ssl, unsigned char *cookie, unsigned int *len)
{
    return cookie_calc(ssl, cookie, len);
}

static int cookie_verify(SSL *ssl, const unsigned char *cookie, unsigned int len)
{
    unsigned char want[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    return cookie_calc(ssl, want, &n) && n == len && CRYPTO_memcmp(want, cookie, n) == 0;
}

static int udp_socket(const struct sockaddr_in *local, const struct sockaddr_in *peer)
{
    int one = 1, fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct timeval tv = { 2, 0 };

    if (fd < 0)
        return -1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (bind(fd, (const struct sockaddr *)local, sizeof(*local)) != 0 ||
        (peer && connect(fd, (const struct sockaddr *)peer, sizeof(*peer)) != 0)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One association on its own connected socket: handshake, one request if
 * one comes (a fixed answer), until the client's close_notify. */
static void dtls_assoc(SSL *ssl, const struct sockaddr_in *local, const BIO_ADDR *from)
{
    struct sockaddr_in peer;
    size_t alen = sizeof(peer.sin_addr);
    char buf[4096];
    int fd, n;

    memset(&peer, 0, sizeof(peer));
    peer.sin_family = AF_INET;
    peer.sin_port = BIO_ADDR_rawport(from);
    if (BIO_ADDR_rawaddress(from, &peer.sin_addr, &alen) != 1 || alen != 4 ||
        (fd = udp_socket(local, &peer)) < 0)
        return;
    BIO_set_fd(SSL_get_rbio(ssl), fd, BIO_NOCLOSE);
    (void)BIO_ctrl(SSL_get_rbio(ssl), BIO_CTRL_DGRAM_SET_CONNECTED, 0, (void *)from);
    if (SSL_accept(ssl) == 1) {
        while ((n = SSL_read(ssl, buf, sizeof(buf))) > 0)
            if (SSL_write(ssl, response, (int)sizeof(response) - 1) <= 0)
                break;
        (void)SSL_shutdown(ssl);
    }
    ERR_clear_error();
    close(fd);
}

static void *dtls_main(void *arg)
{
    int port = *(int *)arg, fd;
    SSL_CTX *ctx = make_ctx(true);
    BIO_ADDR *from = BIO_ADDR_new();
    struct sockaddr_in local;

    memset(&local, 0, sizeof(local));
    local.sin_family = AF_INET;
    local.sin_port = htons((uint16_t)port);
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (RAND_bytes(cookie_secret, sizeof(cookie_secret)) != 1 || !from ||
        (fd = udp_socket(&local, NULL)) < 0)
        die("DTLS listener");
    SSL_CTX_set_cookie_generate_cb(ctx, cookie_gen);
    SSL_CTX_set_cookie_verify_cb(ctx, cookie_verify);
    for (;;) {
        SSL *ssl = SSL_new(ctx);
        BIO *bio = ssl ? BIO_new_dgram(fd, BIO_NOCLOSE) : NULL;

        if (!bio)
            die("DTLS SSL");
        SSL_set_bio(ssl, bio, bio);
        SSL_set_options(ssl, SSL_OP_COOKIE_EXCHANGE);
        if (DTLSv1_listen(ssl, from) > 0)
            dtls_assoc(ssl, &local, from);
        ERR_clear_error();
        SSL_free(ssl);
    }
    return NULL;
}

/* ---- credentials ------------------------------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void add_cred(const char *line)
{
    const char *colon = strchr(line, ':');
    size_t idlen = colon ? (size_t)(colon - line) : 0, n = colon ? strcspn(colon + 1, "\r\n") : 0;
    struct rcred *c;

    if (!idlen || idlen > OSEC_PSK_IDENTITY_MAX || n % 2 || n / 2 < 16 || n / 2 > OSEC_PSK_MAX)
        die("psk file: bad line");
    c = slot_for((const unsigned char *)line, idlen);
    memcpy(c->id, line, idlen);
    c->id[idlen] = '\0';
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(colon[1 + 2 * i]), lo = hexval(colon[2 + 2 * i]);

        if (hi < 0 || lo < 0)
            die("psk file: not hex");
        c->key[i] = (unsigned char)(hi << 4 | lo);
    }
    c->len = n / 2;
}

static void load_psk_file(const char *file)
{
    char line[512];
    size_t lines = 0;
    FILE *f = fopen(file, "r");

    if (!f)
        die("cannot open the psk file");
    while (fgets(line, sizeof(line), f))
        lines++;
    for (table_cap = 16; table_cap < 2 * lines; table_cap *= 2)
        ;
    if (!(table = calloc(table_cap, sizeof(*table))))
        die("out of memory");
    rewind(f);
    while (fgets(line, sizeof(line), f))
        if (line[0] != '\n' && line[0] != '#')
            add_cred(line);
    fclose(f);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "host", required_argument, NULL, 'H' }, { "port", required_argument, NULL, 'p' },
        { "udp-port", required_argument, NULL, 'u' }, { "psk-file", required_argument, NULL, 'f' },
        { NULL, 0, NULL, 0 },
    };
    const char *host = "127.0.0.1", *file = NULL;
    static int udp_port;
    int ch, port = 0, lfd;
    pthread_t th;

    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'H': host = optarg; break;
        case 'p': port = (int)strtol(optarg, NULL, 10); break;
        case 'u': udp_port = (int)strtol(optarg, NULL, 10); break;
        case 'f': file = optarg; break;
        default: die("usage: --port P --psk-file F [--udp-port U]");
        }
    }
    if (port <= 0 || port > 65535 || udp_port < 0 || udp_port > 65535 || !file)
        die("usage: --port P --psk-file F [--udp-port U]");
    signal(SIGPIPE, SIG_IGN);
    load_psk_file(file);
    if (udp_port && pthread_create(&th, NULL, dtls_main, &udp_port) != 0)
        die("DTLS thread");
    lfd = listen_on(host, port);
    fprintf(stderr, "raw_pn_server: listening on %s:%d (udp %d), %zu slots\n", host, port,
            udp_port, table_cap);
    serve(make_ctx(false), lfd);
    return 0;
}
