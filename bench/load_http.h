/* bench: blocking TLS connections and HTTP/1.1 responses for cpns_load. */
#ifndef BENCH_LOAD_HTTP_H
#define BENCH_LOAD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "omasec/buf.h"

#define LOAD_IN_MAX (256 * 1024)

struct load_conn {
    int fd;
    SSL *ssl;
    uint8_t in[LOAD_IN_MAX];
    size_t in_len;
};

/* One response, its slices pointing into conn->in until load_consume(). */
struct load_resp {
    int status;
    struct osec_slice www_auth, auth_info, body;
    bool close;
    size_t size; /* bytes of conn->in it occupies */
};

/* TCP connect to a numeric host (TCP_NODELAY); -1 with a message on stderr. */
int load_tcp_connect(const char *host, const char *port);
/* TLS client handshake over a new TCP connection; ssl is taken over. */
int load_tls_connect(struct load_conn *c, SSL *ssl, const char *host, const char *port);
/* Close without close_notify (as openssl s_time does). */
void load_close(struct load_conn *c);
/* Write everything; 0 or -1. */
int load_write(struct load_conn *c, const void *p, size_t n);
/* Read until one complete response is buffered and parse it; 0 or -1. */
int load_read_response(struct load_conn *c, struct load_resp *r);
/* Drop the response's bytes from the input buffer. */
void load_consume(struct load_conn *c, const struct load_resp *r);

#endif
