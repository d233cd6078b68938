/* Blocking HTTP/1.1 over TLS / DTLS client with Digest (cpns_client.h). */
#include "omasec/cpns_client.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "omasec/digest.h"
#include "omasec/error.h"
#include "omasec/http.h"
#include "omasec/net.h"
#include "omasec/tls.h"
#include "omasec/util.h"

#define RESP_MAX (1024 * 1024)
#define IDLE_RECONNECT_MS 50000u

struct osec_cpns_client {
    char host[256];
    uint16_t port;
    char tunnel_host[256];
    uint16_t tunnel_port;
    bool dtls, verify;
    unsigned timeout_ms;
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
    uint64_t last_used;
    struct osec_digest_client *dc;
    bool have_challenge;
    struct osec_buf in;
};

int osec_cpns_client_new(const struct osec_cpns_client_opts *o, struct osec_cpns_client **out)
{
    struct osec_tls_client_opts to;
    struct osec_cpns_client *c;
    int rc = 0;

    *out = NULL;
    OSEC_ENSURE(o->host && (o->ca_file || o->psk), OSEC_EINVAL,
                "a CA file or a PSK is required to authenticate the peer");
    OSEC_ENSURE(!o->dtls || o->psk, OSEC_EINVAL, "DTLS needs a PSK");
    c = calloc(1, sizeof(*c));
    OSEC_ENSURE(c != NULL, OSEC_ENOMEM, "out of memory");
    c->fd = -1;
    c->port = o->port;
    c->dtls = o->dtls;
    c->verify = o->ca_file != NULL;
    c->timeout_ms = o->timeout_ms ? o->timeout_ms : 10000;
    osec_buf_init_secret(&c->in, RESP_MAX + 65536);
    OSEC_CHECK(rc, osec_strlcpy(c->host, o->host, sizeof(c->host)));
    if (o->tunnel_host) {
        OSEC_ENSURE(!o->dtls, OSEC_EINVAL, "tunnels carry TCP only");
        OSEC_CHECK(rc, osec_strlcpy(c->tunnel_host, o->tunnel_host, sizeof(c->tunnel_host)));
        c->tunnel_port = o->tunnel_port;
    }
    memset(&to, 0, sizeof(to));
    to.ca_file = o->ca_file;
    to.psk_identity = o->psk_identity;
    to.psk = o->psk;
    to.psk_len = o->psk_len;
    c->ctx = o->dtls ? osec_tls_dtls_client_ctx(&to) : osec_tls_client_ctx(&to);
    if (!c->ctx)
        rc = osec_error_code() < 0 ? osec_error_code() : OSEC_ETLS;
out:
    if (rc < 0)
        osec_cpns_client_free(&c);
    *out = c;
    return rc;
}

void osec_cpns_client_close(struct osec_cpns_client *c)
{
    if (c->ssl) {
        (void)SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0)
        (void)close(c->fd);
    c->fd = -1;
    osec_buf_reset(&c->in);
}

void osec_cpns_client_free(struct osec_cpns_client **pc)
{
    struct osec_cpns_client *c = *pc;

    if (!c)
        return;
    osec_cpns_client_close(c);
    osec_tls_ctx_free(&c->ctx);
    osec_digest_client_free(&c->dc);
    osec_buf_free(&c->in);
    free(c);
    *pc = NULL;
}

int osec_cpns_client_set_digest(struct osec_cpns_client *c, const char *username,
                                const char *password, unsigned allowed_algs)
{
    struct osec_digest_client_config cfg;

    osec_digest_client_free(&c->dc);
    c->have_challenge = false;
    if (!username)
        return 0;
    memset(&cfg, 0, sizeof(cfg));
    cfg.username = osec_slice_cstr(username);
    cfg.password = osec_slice_cstr(password);
    cfg.allowed_algs = allowed_algs;
    return osec_digest_client_new(&cfg, &c->dc);
}

static void set_timeouts(int fd, unsigned ms)
{
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };

    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* CONNECT through the GW's tunnel; read the answer byte by byte so that
 * nothing of the TLS stream that follows is swallowed. */
static int open_tunnel(struct osec_cpns_client *c)
{
    char req[600], resp[1024];
    size_t n = 0;
    ssize_t w;

    OSEC_GUARD(osec_snprintf(req, sizeof(req), "CONNECT %s:%u HTTP/1.1\r\nHost: %s:%u\r\n\r\n",
                             c->host, (unsigned)c->port, c->host, (unsigned)c->port));
    w = send(c->fd, req, strlen(req), MSG_NOSIGNAL);
    OSEC_ENSURE(w == (ssize_t)strlen(req), OSEC_EIO, "cannot write to the tunnel");
    while (n < sizeof(resp) - 1) {
        if (recv(c->fd, resp + n, 1, 0) != 1)
            OSEC_BAIL(OSEC_EIO, "the tunnel closed");
        n++;
        if (n >= 4 && memcmp(resp + n - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    resp[n] = '\0';
    OSEC_ENSURE(strncmp(resp, "HTTP/1.1 200", 12) == 0 || strncmp(resp, "HTTP/1.0 200", 12) == 0,
                OSEC_EPERM, "the GW refused the tunnel");
    return 0;
}

static int open_socket(struct osec_cpns_client *c)
{
    struct addrinfo hints, *res = NULL, *ai;
    const char *host = c->tunnel_host[0] ? c->tunnel_host : c->host;
    char port[8];
    int fd = -1, e;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = c->dtls ? SOCK_DGRAM : SOCK_STREAM;
    (void)osec_snprintf(port, sizeof(port), "%u",
                        (unsigned)(c->tunnel_host[0] ? c->tunnel_port : c->port));
    e = getaddrinfo(host, port, &hints, &res);
    OSEC_ENSURE(e == 0, OSEC_EIO, "cannot resolve %s: %s", host, gai_strerror(e));
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        set_timeouts(fd, c->timeout_ms);
        if (!c->dtls) { /* requests are small and answered at once: no Nagle */
            int one = 1;

            (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            e = errno;
            (void)close(fd);
            fd = -1;
            errno = e;
        }
    }
    freeaddrinfo(res);
    OSEC_ENSURE(fd >= 0, OSEC_EIO, "cannot connect to %s:%s: %s", host, port, strerror(errno));
    c->fd = fd;
    return c->tunnel_host[0] ? open_tunnel(c) : 0;
}

static int tls_fail(struct osec_cpns_client *c, const char *what)
{
    int rc = osec_error_ossl(OSEC_ETLS, __FILE__, __LINE__, "%s with %s:%u failed", what,
                             c->host, (unsigned)c->port);

    osec_cpns_client_close(c);
    return rc;
}

/* DTLS over a blocking datagram BIO returns WANT_READ whenever its
 * retransmission timer fires: retransmit and go on until the deadline. */
static int handshake(struct osec_cpns_client *c)
{
    uint64_t deadline = osec_time_mono_ms() + c->timeout_ms;
    int r;

    for (;;) {
        r = SSL_connect(c->ssl);
        if (r == 1 || !c->dtls || SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ ||
            osec_time_mono_ms() > deadline)
            return r;
        (void)DTLSv1_handle_timeout(c->ssl);
    }
}

int osec_cpns_client_connect(struct osec_cpns_client *c)
{
    BIO *bio;

    int rc;

    if (c->ssl)
        return 0;
    rc = open_socket(c);
    if (rc < 0) {
        osec_cpns_client_close(c);
        return rc;
    }
    c->ssl = osec_tls_client_ssl(c->ctx, c->verify ? c->host : NULL);
    if (!c->ssl) {
        osec_cpns_client_close(c);
        return osec_error_code() < 0 ? osec_error_code() : OSEC_ETLS;
    }
    if (c->dtls) {
        bio = BIO_new_dgram(c->fd, BIO_NOCLOSE);
        if (!bio)
            return tls_fail(c, "DTLS setup");
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);

        if (getpeername(c->fd, (struct sockaddr *)&peer, &plen) != 0) {
            BIO_free(bio);
            return tls_fail(c, "DTLS setup");
        }
        /* the BIO sends with send() only when told the peer (the socket is connected) */
        (void)BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, &peer);
        SSL_set_bio(c->ssl, bio, bio);
    } else if (SSL_set_fd(c->ssl, c->fd) != 1) {
        return tls_fail(c, "TLS setup");
    }
    if (handshake(c) != 1)
        return tls_fail(c, c->dtls ? "DTLS handshake" : "TLS handshake");
    c->last_used = osec_time_mono_ms();
    return 0;
}

bool osec_cpns_client_connected(const struct osec_cpns_client *c)
{
    return c->ssl != NULL;
}

SSL *osec_cpns_client_ssl(struct osec_cpns_client *c)
{
    return c->ssl;
}

void osec_cpns_response_init(struct osec_cpns_response *r)
{
    memset(r, 0, sizeof(*r));
    osec_buf_init_secret(&r->body, RESP_MAX);
}

void osec_cpns_response_free(struct osec_cpns_response *r)
{
    osec_buf_free(&r->body);
}

static int send_all(struct osec_cpns_client *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        int w = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);

        if (w <= 0)
            return tls_fail(c, "write");
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void copy_header(const struct osec_http_fields *f, const char *name, char *dst, size_t len)
{
    struct osec_slice v;

    dst[0] = '\0';
    if (osec_http_header_get(f, name, &v) && osec_slice_to_cstr(v, dst, len) < 0)
        dst[0] = '\0';
}

/* Read until one whole final response is buffered; fill resp. */
static int recv_response(struct osec_cpns_client *c, const char *method,
                         struct osec_cpns_response *resp)
{
    struct osec_http_limits lim = OSEC_HTTP_LIMITS_DEFAULT;
    struct osec_http_scan scan = OSEC_HTTP_SCAN_INIT;
    struct osec_http_response r;
    uint8_t chunk[16384];
    size_t used = 0;
    int rc, n;

    lim.max_body = RESP_MAX;
    for (;;) {
        rc = osec_http_response_parse(c->in.data, c->in.len, &lim, &scan, method, &r, &used);
        if (rc == OSEC_OK && r.status >= 200)
            break;
        if (rc == OSEC_OK) { /* 1xx: drop it, read on */
            memmove(c->in.data, c->in.data + used, c->in.len - used);
            c->in.len -= used;
            continue;
        }
        if (rc != OSEC_HTTP_INCOMPLETE) {
            osec_cpns_client_close(c);
            return rc;
        }
        n = SSL_read(c->ssl, chunk, sizeof(chunk));
        if (n <= 0)
            return tls_fail(c, "read");
        OSEC_GUARD(osec_buf_append(&c->in, chunk, (size_t)n));
    }
    resp->status = r.status;
    osec_buf_reset(&resp->body);
    OSEC_GUARD(osec_buf_append_slice(&resp->body, r.body));
    copy_header(&r.headers, "WWW-Authenticate", resp->www_authenticate,
                sizeof(resp->www_authenticate));
    copy_header(&r.headers, "Authentication-Info", resp->auth_info, sizeof(resp->auth_info));
    osec_buf_reset(&c->in); /* no pipelining: anything after is stale */
    if (!r.keep_alive)
        osec_cpns_client_close(c);
    return 0;
}

static int exchange2(struct osec_cpns_client *c, const char *method, const char *path,
                     struct osec_slice body, const char *authz, const char *relayed_for,
                     struct osec_cpns_response *resp)
{
    struct osec_http_field f[3];
    struct osec_buf req;
    size_t n = 0;
    int rc;

    if (c->ssl && osec_time_mono_ms() - c->last_used > IDLE_RECONNECT_MS)
        osec_cpns_client_close(c); /* the server may have closed it meanwhile */
    OSEC_GUARD(osec_cpns_client_connect(c));
    if (authz)
        f[n++] = (struct osec_http_field){ "Authorization", osec_slice_cstr(authz) };
    if (body.len)
        f[n++] = (struct osec_http_field){ "Content-Type", osec_slice_cstr("application/json") };
    if (relayed_for)
        f[n++] = (struct osec_http_field){ "CPNS-Relayed-For", osec_slice_cstr(relayed_for) };
    osec_buf_init_secret(&req, RESP_MAX + 65536);
    rc = osec_http_write_request(&req, method, osec_slice_cstr(path), c->host, f, n, body);
    if (rc == 0)
        rc = send_all(c, req.data, req.len);
    osec_buf_free(&req);
    if (rc == 0)
        rc = recv_response(c, method, resp);
    c->last_used = osec_time_mono_ms();
    return rc;
}

static int exchange(struct osec_cpns_client *c, const char *method, const char *path,
                    struct osec_slice body, const char *authz, struct osec_cpns_response *resp)
{
    return exchange2(c, method, path, body, authz, NULL, resp);
}

int osec_cpns_client_relay(struct osec_cpns_client *c, const char *method, const char *path,
                           struct osec_slice body, const char *authorization,
                           const char *relayed_for, struct osec_cpns_response *resp)
{
    int rc;

    resp->status = 0;
    resp->www_authenticate[0] = resp->auth_info[0] = '\0';
    rc = exchange2(c, method, path, body, authorization, relayed_for, resp);
    if (rc < 0 && (rc == OSEC_ETLS || rc == OSEC_EIO) && resp->status == 0)
        rc = exchange2(c, method, path, body, authorization, relayed_for, resp); /* reconnect */
    return rc;
}

static int with_digest(struct osec_cpns_client *c, const char *method, const char *path,
                       struct osec_slice body, struct osec_cpns_response *resp)
{
    struct osec_digest_request dr = { osec_slice_cstr(method), osec_slice_cstr(path), body,
                                      { NULL, 0 } };
    struct osec_slice ch;
    struct osec_buf authz;
    int rc = 0;

    osec_buf_init(&authz, 4096);
    for (int attempt = 0; attempt < 2; attempt++) {
        osec_buf_reset(&authz);
        if (c->have_challenge)
            OSEC_CHECK(rc, osec_digest_client_authorize(c->dc, &dr, &authz));
        OSEC_CHECK(rc, exchange(c, method, path, body,
                                c->have_challenge ? osec_buf_cstr(&authz) : NULL, resp));
        if (resp->status != 401 || !resp->www_authenticate[0])
            break;
        ch = osec_slice_cstr(resp->www_authenticate);
        OSEC_CHECK(rc, osec_digest_client_challenge(c->dc, &ch, 1));
        c->have_challenge = true;
    }
    if (resp->status != 401 && authz.len > 0) {
        /* mutual authentication: the server must prove the secret too */
        if (!resp->auth_info[0])
            OSEC_FAIL(rc, OSEC_EAUTH, "response lacks Authentication-Info (rspauth)");
        OSEC_CHECK(rc, osec_digest_client_verify_info(c->dc, osec_slice_cstr(resp->auth_info),
                                                     osec_buf_slice(&resp->body)));
    }
out:
    osec_buf_free(&authz);
    return rc;
}

int osec_cpns_client_request(struct osec_cpns_client *c, const char *method, const char *path,
                             struct osec_slice body, const char *authorization,
                             struct osec_cpns_response *resp)
{
    int rc;

    resp->status = 0;
    resp->www_authenticate[0] = resp->auth_info[0] = '\0';
    if (c->dc && !authorization)
        return with_digest(c, method, path, body, resp);
    rc = exchange(c, method, path, body, authorization, resp);
    if (rc < 0 && (rc == OSEC_ETLS || rc == OSEC_EIO) && strcmp(method, "GET") == 0)
        rc = exchange(c, method, path, body, authorization, resp); /* one retry, idempotent */
    return rc;
}

int osec_cpns_parse_url(const char *url, char *host, size_t hostlen, uint16_t *port)
{
    struct osec_slice u = osec_slice_cstr(url);
    char hp[300];
    long slash;

    if (osec_slice_starts_ci(u, "https://"))
        u = osec_slice_sub(u, 8, u.len);
    slash = osec_slice_find(u, '/');
    if (slash >= 0)
        u = osec_slice_sub(u, 0, (size_t)slash);
    OSEC_GUARD(osec_slice_to_cstr(u, hp, sizeof(hp)));
    return osec_net_parse_hostport(hp, host, hostlen, port);
}
