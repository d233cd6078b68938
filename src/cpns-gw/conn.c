/* cpns-gw: the TLS listener for PNEs and peer GWs (TLS-PSK, or certificate
 * TLS + Digest). */
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "omasec/error.h"
#include "omasec/log.h"

struct tls_conn {
    struct gw_session s;
    struct osec_http_scan scan;
};

static void *worker_start(int index, void *arg)
{
    (void)index;
    return arg; /* the gw: all state is shared and thread-safe */
}

static void *conn_open(struct osec_net_conn *c, void *worker)
{
    struct tls_conn *tc = calloc(1, sizeof(*tc));

    if (!tc)
        return NULL;
    tc->s.gw = worker;
    (void)osec_strlcpy(tc->s.where, osec_net_conn_peer(c), sizeof(tc->s.where));
    if (!gw_session_start(&tc->s, osec_net_conn_ssl(c), "tls-psk")) {
        free(tc);
        return NULL;
    }
    osec_metric_add(gw_m.sessions, 1);
    return tc;
}

static void conn_close(struct osec_net_conn *c, void *state)
{
    (void)c;
    osec_metric_add(gw_m.sessions, -1);
    free(state);
}

static ssize_t conn_data(struct osec_net_conn *c, void *state, const uint8_t *data, size_t len)
{
    struct tls_conn *tc = state;
    struct osec_http_request req;
    struct osec_buf out;
    size_t used = 0;
    bool close = false;
    int rc;

    rc = osec_http_request_parse(data, len, NULL, &tc->scan, &req, &used);
    if (rc == OSEC_HTTP_INCOMPLETE)
        return 0;
    osec_buf_init_secret(&out, 2 * 1024 * 1024);
    if (rc != OSEC_OK) {
        (void)osec_http_write_response(&out, req.error_status, NULL, 0,
                                       osec_slice_cstr(req.error_reason), -1);
        close = true;
        used = len;
    } else {
        gw_session_handle(&tc->s, &req, &out, &close);
    }
    if (osec_net_conn_write(c, out.data, out.len) < 0)
        close = true;
    osec_buf_free(&out);
    if (close)
        osec_net_conn_close_after_write(c);
    return (ssize_t)used;
}

const struct osec_net_handlers gw_tls_handlers = {
    .worker_start = worker_start,
    .conn_open = conn_open,
    .conn_data = conn_data,
    .conn_close = conn_close,
};
