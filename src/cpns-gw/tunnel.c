/* cpns-gw: the enrolment tunnel.  A PNE that has no EUKey yet (so no PN
 * session) and no route to the CPNS Server asks the GW to CONNECT it to the
 * server; it then runs TLS end to end with the server, verifying the
 * server's certificate, and sends its owner's credentials inside.  The GW
 * only moves ciphertext and only ever connects to its own CPNS Server. */
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "omasec/error.h"
#include "omasec/log.h"

struct tconn {
    struct gw *gw;
    bool spliced;
};

static void *t_worker(int index, void *arg)
{
    (void)index;
    return arg;
}

static void *t_open(struct osec_net_conn *c, void *worker)
{
    struct tconn *t = calloc(1, sizeof(*t));

    (void)c;
    if (t)
        t->gw = worker;
    return t;
}

static void t_close(struct osec_net_conn *c, void *state)
{
    (void)c;
    free(state);
}

static ssize_t t_data(struct osec_net_conn *c, void *state, const uint8_t *data, size_t len)
{
    static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    struct tconn *t = state;
    struct gw *gw = t->gw;
    struct osec_http_request req;
    struct osec_buf out;
    char want[300];
    size_t used = 0;
    int rc = osec_http_request_parse(data, len, NULL, NULL, &req, &used);

    if (rc == OSEC_HTTP_INCOMPLETE)
        return 0;
    (void)osec_snprintf(want, sizeof(want), "%s:%u", gw->id.server_host,
                        (unsigned)gw->id.server_port);
    if (rc == OSEC_OK && osec_slice_eq_cstr(req.method, "CONNECT") &&
        osec_slice_eq_cstr(req.target, want)) {
        if (osec_net_conn_write(c, ok, sizeof(ok) - 1) == 0 &&
            osec_net_conn_splice(c, gw->id.server_host, gw->id.server_port) == 0) {
            osec_info("tunnel.open", "peer=%s to=%s", osec_net_conn_peer(c), want);
            return (ssize_t)used;
        }
        return -1;
    }
    osec_info("tunnel.refused", "peer=%s", osec_net_conn_peer(c));
    osec_buf_init(&out, 1024);
    (void)osec_http_write_response(&out, rc == OSEC_OK ? 403 : 400, NULL, 0,
                                   osec_slice_cstr("only CONNECT to this GW's CPNS Server"), -1);
    (void)osec_net_conn_write(c, out.data, out.len);
    osec_buf_free(&out);
    osec_net_conn_close_after_write(c);
    return (ssize_t)len;
}

const struct osec_net_handlers gw_tunnel_handlers = {
    .worker_start = t_worker,
    .conn_open = t_open,
    .conn_data = t_data,
    .conn_close = t_close,
};

static void *tunnel_main(void *arg)
{
    struct gw *gw = arg;

    (void)osec_net_server_run(gw->tunnel);
    return NULL;
}

int gw_tunnel_start(struct gw *gw, const char *listen, unsigned per_source)
{
    struct osec_net_config nc;
    char host[64];

    memset(&nc, 0, sizeof(nc));
    OSEC_GUARD(osec_net_parse_hostport(listen, host, sizeof(host), &nc.port));
    nc.host = host;
    nc.workers = 1;
    nc.idle_ms = 60000;
    nc.max_conns_per_source = per_source; /* as the PNE listener's */
    nc.h = &gw_tunnel_handlers;
    nc.arg = gw;
    OSEC_GUARD(osec_net_server_new(&nc, &gw->tunnel));
    OSEC_ENSURE(pthread_create(&gw->tunnel_thread, NULL, tunnel_main, gw) == 0, OSEC_EINTERNAL,
                "cannot start the tunnel thread");
    osec_info("tunnel.listening", "addr=%s to=%s:%u", listen, gw->id.server_host,
              (unsigned)gw->id.server_port);
    return 0;
}

void gw_tunnel_stop(struct gw *gw)
{
    if (!gw->tunnel)
        return;
    osec_net_server_stop(gw->tunnel);
    (void)pthread_join(gw->tunnel_thread, NULL);
    osec_net_server_free(&gw->tunnel);
}
