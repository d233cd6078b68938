/* cpns-gw: the GW's secure session to the CPNS Server (seed 004): opened
 * when there is something to send and none exists, kept alive and reused,
 * re-established with exponential backoff after the server drops. */
#include <string.h>

#include "gw.h"
#include "omasec/error.h"
#include "omasec/log.h"
#include "omasec/util.h"

#define BACKOFF_MIN_MS 500u
#define BACKOFF_MAX_MS 30000u

static int ensure(struct gw *gw)
{
    uint64_t now = osec_time_mono_ms();
    int rc;

    if (!gw->up)
        OSEC_GUARD(osec_pn_server_client(&gw->id, &gw->up));
    if (osec_cpns_client_connected(gw->up))
        return 0;
    OSEC_ENSURE(now >= gw->up_retry_at, OSEC_EBUSY, "server unreachable; retrying in %llu ms",
                (unsigned long long)(gw->up_retry_at - now));
    rc = osec_cpns_client_connect(gw->up);
    if (rc < 0) {
        osec_metric_inc(gw_m.upstream_down);
        gw->up_backoff_ms = gw->up_backoff_ms ? gw->up_backoff_ms * 2 : BACKOFF_MIN_MS;
        if (gw->up_backoff_ms > BACKOFF_MAX_MS)
            gw->up_backoff_ms = BACKOFF_MAX_MS;
        gw->up_retry_at = now + gw->up_backoff_ms;
        osec_warn("upstream.down", "server=%s:%u retry_ms=%u error=\"%s\"", gw->id.server_host,
                  (unsigned)gw->id.server_port, gw->up_backoff_ms, osec_error_msg());
        return rc;
    }
    osec_metric_inc(gw_m.upstream_up);
    gw->up_backoff_ms = 0;
    gw->up_retry_at = 0;
    osec_info("upstream.up", "server=%s:%u entity=%s auth=tls-psk", gw->id.server_host,
              (unsigned)gw->id.server_port, gw->id.entity_id);
    return 0;
}

int gw_upstream_relay(struct gw *gw, const char *method, const char *target,
                      struct osec_slice body, const char *authorization, const char *relayed_for,
                      struct osec_cpns_response *resp)
{
    int rc;

    (void)pthread_mutex_lock(&gw->up_mu);
    rc = ensure(gw);
    if (rc == 0)
        rc = osec_cpns_client_relay(gw->up, method, target, body, authorization, relayed_for,
                                    resp);
    if (rc < 0 && !osec_cpns_client_connected(gw->up) && gw->up_retry_at == 0)
        gw->up_retry_at = osec_time_mono_ms() + BACKOFF_MIN_MS;
    (void)pthread_mutex_unlock(&gw->up_mu);
    return rc;
}

int gw_upstream_request(struct gw *gw, const char *method, const char *path,
                        struct osec_slice body, struct osec_cpns_response *resp)
{
    int rc;

    (void)pthread_mutex_lock(&gw->up_mu);
    rc = ensure(gw);
    if (rc == 0)
        rc = osec_cpns_client_request(gw->up, method, path, body, NULL, resp);
    (void)pthread_mutex_unlock(&gw->up_mu);
    return rc;
}
