/* bench: blocking TLS connections and just enough HTTP/1.1 response parsing
 * for the load client (Content-Length framed responses, as cpns-server
 * sends them). */
#define _GNU_SOURCE
#include "load_http.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

int load_tcp_connect(const char *host, const char *port)
{
    struct addrinfo hints, *ai = NULL;
    int fd = -1, one = 1, rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "cpns_load: %s:%s: %s\n", host, port, gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
        fprintf(stderr, "cpns_load: connect %s:%s: %s\n", host, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static void tls_error(const char *what, SSL *ssl, int ret)
{
    unsigned long e = ERR_get_error();
    char msg[256] = "";

    if (e)
        ERR_error_string_n(e, msg, sizeof(msg));
    fprintf(stderr, "cpns_load: %s failed: SSL error %d %s\n", what, SSL_get_error(ssl, ret),
            msg);
    ERR_clear_error();
}

int load_tls_connect(struct load_conn *c, SSL *ssl, const char *host, const char *port)
{
    int ret;

    c->ssl = ssl;
    c->in_len = 0;
    c->fd = load_tcp_connect(host, port);
    if (c->fd < 0)
        return -1;
    if (SSL_set_fd(ssl, c->fd) != 1) {
        tls_error("SSL_set_fd", ssl, 0);
        return -1;
    }
    ret = SSL_connect(ssl);
    if (ret != 1) {
        tls_error("handshake", ssl, ret);
        return -1;
    }
    return 0;
}

void load_close(struct load_conn *c)
{
    if (c->ssl) {
        /* like s_time: no close_notify, the server sees EOF */
        SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->in_len = 0;
}

int load_write(struct load_conn *c, const void *p, size_t n)
{
    size_t done = 0;
    int ret;

    while (done < n) {
        ret = SSL_write(c->ssl, (const uint8_t *)p + done, (int)(n - done));
        if (ret <= 0) {
            tls_error("SSL_write", c->ssl, ret);
            return -1;
        }
        done += (size_t)ret;
    }
    return 0;
}

static void header(struct load_resp *r, struct osec_slice line, uint64_t *clen)
{
    long colon = osec_slice_find(line, ':');
    struct osec_slice name, value;

    if (colon < 0)
        return;
    name = osec_slice_sub(line, 0, (size_t)colon);
    value = osec_slice_trim(osec_slice_sub(line, (size_t)colon + 1, line.len));
    if (osec_slice_eq_ci(name, "WWW-Authenticate"))
        r->www_auth = value;
    else if (osec_slice_eq_ci(name, "Authentication-Info"))
        r->auth_info = value;
    else if (osec_slice_eq_ci(name, "Content-Length"))
        (void)osec_slice_to_u64(value, LOAD_IN_MAX, clen);
    else if (osec_slice_eq_ci(name, "Connection") && osec_slice_eq_ci(value, "close"))
        r->close = true;
}

/* Head parsed -> 1 and r filled (body may still be missing: r->size says how
 * much must be buffered), 0 when the head is incomplete, -1 when malformed. */
static int parse_head(const uint8_t *p, size_t n, struct load_resp *r)
{
    const uint8_t *end = memmem(p, n, "\r\n\r\n", 4);
    struct osec_cursor cur;
    struct osec_slice line;
    uint64_t status = 0, clen = 0;

    if (!end)
        return 0;
    memset(r, 0, sizeof(*r));
    osec_cursor_init(&cur, p, (size_t)(end - p) + 2);
    if (osec_cursor_until(&cur, '\n', &line) < 0 || line.len < 13 ||
        !osec_slice_starts_ci(line, "HTTP/1.1 ") ||
        osec_slice_to_u64(osec_slice_sub(line, 9, 3), 999, &status) < 0)
        return -1;
    (void)osec_cursor_eat(&cur, '\n');
    r->status = (int)status;
    while (!osec_cursor_eof(&cur) && osec_cursor_until(&cur, '\n', &line) == 0) {
        (void)osec_cursor_eat(&cur, '\n');
        if (line.len && line.ptr[line.len - 1] == '\r')
            line.len--;
        header(r, line, &clen);
    }
    r->body = osec_slice_make(end + 4, (size_t)clen);
    r->size = (size_t)(end + 4 - p) + (size_t)clen;
    return r->size <= LOAD_IN_MAX ? 1 : -1;
}

int load_read_response(struct load_conn *c, struct load_resp *r)
{
    int ret, got;

    for (;;) {
        got = parse_head(c->in, c->in_len, r);
        if (got < 0) {
            fputs("cpns_load: malformed response\n", stderr);
            return -1;
        }
        if (got == 1 && c->in_len >= r->size)
            return 0;
        ret = SSL_read(c->ssl, c->in + c->in_len, (int)(sizeof(c->in) - c->in_len));
        if (ret <= 0) {
            tls_error("SSL_read", c->ssl, ret);
            return -1;
        }
        c->in_len += (size_t)ret;
    }
}

void load_consume(struct load_conn *c, const struct load_resp *r)
{
    memmove(c->in, c->in + r->size, c->in_len - r->size);
    c->in_len -= r->size;
}
