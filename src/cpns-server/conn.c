/* cpns-server: connections, HTTP framing, responses. */
#include <stdlib.h>
#include <string.h>

#include "cpns.h"
#include "omasec/error.h"
#include "omasec/log.h"
#include "omasec/tls.h"
#include "omasec/util.h"

#define RESP_MAX (OSEC_CPNS_RESP_MAX)
#define OSEC_CPNS_RESP_MAX (256 * 1024)

static _Thread_local struct cpns_worker *tl_worker;

struct cpns_worker *cpns_current_worker(void)
{
    return tl_worker;
}

static void *worker_start(int index, void *arg)
{
    struct cpns *srv = arg;
    struct cpns_worker *w = calloc(1, sizeof(*w));

    if (!w)
        return NULL;
    if (osec_store_open(srv->store_url, &w->st) < 0) {
        osec_error("store.open_failed", "worker=%d error=\"%s\"", index, osec_error_msg());
        free(w);
        return NULL;
    }
    w->srv = srv;
    w->lookup.st = w->st;
    w->lookup.m = srv->m;
    w->lookup.realm = srv->realm;
    tl_worker = w;
    return w;
}

static void worker_stop(void *arg)
{
    struct cpns_worker *w = arg;

    osec_store_close(&w->st);
    free(w);
}

static void *conn_open(struct osec_net_conn *c, void *worker)
{
    struct cpns_conn *cc = calloc(1, sizeof(*cc));

    if (cc) {
        SSL *ssl = osec_net_conn_ssl(c);
        char id[8];

        cc->w = worker;
        cc->c = c;
        osec_metric_inc(ssl && osec_tls_psk_identity(ssl, id, sizeof(id)) != OSEC_ENOTFOUND
                            ? cpns_m.hs_psk : cpns_m.hs_cert);
        osec_metric_add(cpns_m.sessions, 1);
    }
    return cc;
}

static void conn_close(struct osec_net_conn *c, void *state)
{
    (void)c;
    osec_metric_add(cpns_m.sessions, -1);
    free(state);
}

static int add_field(struct osec_http_field *f, size_t *n, const char *name, const char *value)
{
    if (!value || !value[0])
        return 0;
    f[*n].name = name;
    f[*n].value = osec_slice_cstr(value);
    (*n)++;
    return 0;
}

static void send_response(struct cpns_conn *cc, struct cpns_resp *r)
{
    struct osec_http_field f[8];
    struct osec_buf out;
    char retry[24] = "";
    size_t n = 0;

    if (r->retry_after)
        (void)osec_snprintf(retry, sizeof(retry), "%u", r->retry_after);
    (void)add_field(f, &n, "Content-Type", r->body.len ? "application/json" : NULL);
    (void)add_field(f, &n, "Cache-Control", "no-store");
    (void)add_field(f, &n, "WWW-Authenticate", r->www_auth);
    (void)add_field(f, &n, "Authentication-Info", r->auth_info);
    (void)add_field(f, &n, "Retry-After", retry);
    (void)add_field(f, &n, "Connection", r->close ? "close" : NULL);
    osec_buf_init_secret(&out, RESP_MAX); /* bodies may hold keys */
    if (osec_http_write_response(&out, r->status, f, n, osec_buf_slice(&r->body),
                                 osec_time_now()) < 0 ||
        osec_net_conn_write(cc->c, out.data, out.len) < 0) {
        osec_error("http.write_failed", "peer=%s error=\"%s\"", osec_net_conn_peer(cc->c),
                   osec_error_msg());
        r->close = true;
    }
    osec_buf_free(&out);
    if (r->close)
        osec_net_conn_close_after_write(cc->c);
}

static void note_psk(struct cpns_conn *cc)
{
    SSL *ssl = osec_net_conn_ssl(cc->c);

    if (cc->tls_checked)
        return;
    cc->tls_checked = true;
    if (ssl && osec_tls_psk_identity(ssl, cc->psk_id, sizeof(cc->psk_id)) < 0)
        cc->psk_id[0] = '\0';
}

static void handle(struct cpns_conn *cc, const struct osec_http_request *http,
                   struct cpns_resp *resp)
{
    struct cpns_req req;
    struct osec_slice authz = { NULL, 0 };
    int rc;

    note_psk(cc);
    memset(&req, 0, sizeof(req));
    req.conn = cc;
    req.http = http;
    rc = osec_http_header_get_single(&http->headers, "Authorization", &authz);
    if (rc == OSEC_EPARSE) {
        cpns_error(resp, 400, "bad_request", "repeated Authorization header");
        return;
    }
    req.auth.method = http->method;
    req.auth.uri = http->target;
    req.auth.body = http->body;
    req.auth.authorization = authz;
    req.auth.peer_ip = osec_net_conn_peer_ip(cc->c);
    req.auth.psk_identity = cc->psk_id[0] ? cc->psk_id : NULL;
    req.auth.tls = osec_net_conn_ssl(cc->c) != NULL;
    if (osec_http_header_get_single(&http->headers, "CPNS-Relayed-For", &req.auth.relayed_for) ==
        OSEC_EPARSE) {
        cpns_error(resp, 400, "bad_request", "repeated CPNS-Relayed-For header");
        return;
    }
    cpns_api_dispatch(&req, resp);
}

static ssize_t conn_data(struct osec_net_conn *c, void *state, const uint8_t *data, size_t len)
{
    struct cpns_conn *cc = state;
    struct osec_http_request req;
    struct cpns_resp resp;
    uint64_t t0 = osec_time_mono_us();
    size_t used = 0;
    int rc;

    (void)c;
    rc = osec_http_request_parse(data, len, &cc->w->srv->lim, &cc->scan, &req, &used);
    if (rc == OSEC_HTTP_INCOMPLETE)
        return 0;
    memset(&resp, 0, sizeof(resp));
    osec_buf_init_secret(&resp.body, RESP_MAX);
    if (rc != OSEC_OK) {
        osec_info("http.bad_request", "peer=%s status=%d reason=\"%s\"",
                  osec_net_conn_peer(cc->c), req.error_status, req.error_reason);
        cpns_error(&resp, req.error_status, "bad_request", req.error_reason);
        resp.close = true;
        used = len;
    } else {
        handle(cc, &req, &resp);
        if (!req.keep_alive)
            resp.close = true;
    }
    send_response(cc, &resp);
    osec_buf_free(&resp.body);
    if (resp.status >= 200 && resp.status < 600)
        osec_metric_inc(cpns_m.requests[resp.status / 100 - 2]);
    osec_metric_observe_us(cpns_m.latency, osec_time_mono_us() - t0);
    return (ssize_t)used;
}

const struct osec_net_handlers cpns_handlers = {
    .worker_start = worker_start,
    .worker_stop = worker_stop,
    .conn_open = conn_open,
    .conn_data = conn_data,
    .conn_close = conn_close,
};
