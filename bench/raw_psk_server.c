/* raw_psk_server: the handshake ceiling for the cpns-server benchmark.
 *
 * A minimal single-threaded OpenSSL TLS server (non-blocking sockets, one
 * level-triggered epoll loop, so that concurrent handshakes interleave as in
 * cpns-server): accept, handshake, read one request head if the client sends
 * one, answer a fixed small HTTP response, close.  A client that closes right
 * after the handshake (s_time style) is simply closed.  It offers what cpns-server offers, with the same cipher
 * lists, groups and options (the strings come from omasec/tls.h), so the
 * ratio measures what omasec adds on top of OpenSSL (libevent, the PSK store
 * lookup, HTTP, logging), not a different key exchange:
 *   - the certificate (ECDSA P-256 dev server certificate),
 *   - TLS 1.2 PSK (RFC 4279 & co.) and TLS 1.3 external PSK for one fixed
 *     identity and key,
 *   - no session tickets, no session cache (every handshake is full).
 * Only OpenSSL is linked: nothing of libomasec.
 *
 * usage: raw_psk_server --port P --cert F --key F --psk-identity ID --psk-hex HEX
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "omasec/tls.h" /* cipher strings only (macros): nothing is linked */

static char psk_identity[OSEC_PSK_IDENTITY_MAX + 1];
static unsigned char psk_key[OSEC_PSK_MAX];
static size_t psk_len;

static const char response[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
    "Connection: close\r\n\r\n{}";

static void die(const char *what)
{
    fprintf(stderr, "raw_psk_server: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static bool id_matches(const unsigned char *id, size_t len)
{
    return len == strlen(psk_identity) && memcmp(id, psk_identity, len) == 0;
}

/* TLS 1.2 PSK. */
static unsigned int psk_cb12(SSL *ssl, const char *identity, unsigned char *psk,
                             unsigned int max)
{
    (void)ssl;
    if (!identity || !id_matches((const unsigned char *)identity, strlen(identity)) ||
        psk_len > max)
        return 0;
    memcpy(psk, psk_key, psk_len);
    return (unsigned int)psk_len;
}

/* TLS 1.3 external PSK: a session holding the key, bound to SHA-256. */
static int psk_cb13(SSL *ssl, const unsigned char *id, size_t id_len, SSL_SESSION **sess)
{
    static const unsigned char aes128gcm[] = { 0x13, 0x01 };
    const SSL_CIPHER *c = SSL_CIPHER_find(ssl, aes128gcm);
    SSL_SESSION *s;

    *sess = NULL;
    if (!id_matches(id, id_len))
        return 1; /* unknown identity: no PSK, not an error */
    s = SSL_SESSION_new();
    if (!c || !s || SSL_SESSION_set1_master_key(s, psk_key, psk_len) != 1 ||
        SSL_SESSION_set_cipher(s, c) != 1 ||
        SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION) != 1) {
        SSL_SESSION_free(s);
        return 0;
    }
    *sess = s;
    return 1;
}

static SSL_CTX *make_ctx(const char *cert, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1)
        die("context");
    (void)SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                       SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
    SSL_CTX_set_security_level(ctx, OSEC_TLS_SECURITY_LEVEL);
    if (SSL_CTX_set_cipher_list(ctx, OSEC_TLS12_PSK_CIPHERS ":" OSEC_TLS12_CERT_CIPHERS) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, OSEC_TLS13_PSK_CIPHERSUITES) != 1 ||
        SSL_CTX_set1_groups_list(ctx, OSEC_TLS_GROUPS) != 1 || SSL_CTX_set_dh_auto(ctx, 1) != 1 ||
        SSL_CTX_set_num_tickets(ctx, 0) != 1)
        die("policy");
    (void)SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1)
        die("certificate/key");
    SSL_CTX_set_psk_server_callback(ctx, psk_cb12);
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

static void set_psk(const char *hex)
{
    size_t n = strlen(hex);

    if (n % 2 || n / 2 < 16 || n / 2 > sizeof(psk_key))
        die("--psk-hex must be 32..128 hex digits");
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

        if (hi < 0 || lo < 0)
            die("--psk-hex: not hex");
        psk_key[i] = (unsigned char)(hi << 4 | lo);
    }
    psk_len = n / 2;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "host", required_argument, NULL, 'H' }, { "port", required_argument, NULL, 'p' },
        { "cert", required_argument, NULL, 'c' }, { "key", required_argument, NULL, 'k' },
        { "psk-identity", required_argument, NULL, 'i' }, { "psk-hex", required_argument, NULL, 'x' },
        { NULL, 0, NULL, 0 },
    };
    const char *host = "127.0.0.1", *cert = NULL, *key = NULL;
    int ch, port = 0, lfd;
    SSL_CTX *ctx;

    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'H': host = optarg; break;
        case 'p': port = (int)strtol(optarg, NULL, 10); break;
        case 'c': cert = optarg; break;
        case 'k': key = optarg; break;
        case 'i':
            if (strlen(optarg) >= sizeof(psk_identity))
                die("identity too long");
            memcpy(psk_identity, optarg, strlen(optarg) + 1);
            break;
        case 'x': set_psk(optarg); break;
        default: die("usage: --port P --cert F --key F --psk-identity ID --psk-hex HEX");
        }
    }
    if (port <= 0 || port > 65535 || !cert || !key || !psk_identity[0] || !psk_len)
        die("usage: --port P --cert F --key F --psk-identity ID --psk-hex HEX");
    signal(SIGPIPE, SIG_IGN);
    ctx = make_ctx(cert, key);
    lfd = listen_on(host, port);
    fprintf(stderr, "raw_psk_server: listening on %s:%d\n", host, port);
    serve(ctx, lfd);
    return 0;
}
