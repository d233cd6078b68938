/* cpns-server: Prometheus metrics (--metrics HOST:PORT). */
#include "cpns.h"

struct cpns_metrics cpns_m;

int cpns_metrics_init(struct osec_metrics *r)
{
    static const char *const cls[] = { "status=\"2xx\"", "status=\"3xx\"", "status=\"4xx\"",
                                       "status=\"5xx\"" };
    const char *h = "HTTP requests answered, by status class";

    for (int i = 0; i < 4; i++)
        cpns_m.requests[i] = osec_metrics_counter(r, "cpns_requests_total", h, cls[i]);
    h = "Authentications, by result and method or reason";
    cpns_m.auth_digest = osec_metrics_counter(r, "cpns_auth_total", h, "result=\"ok\",via=\"digest\"");
    cpns_m.auth_psk = osec_metrics_counter(r, "cpns_auth_total", h, "result=\"ok\",via=\"tls-psk\"");
    cpns_m.auth_basic = osec_metrics_counter(r, "cpns_auth_total", h, "result=\"ok\",via=\"basic\"");
    cpns_m.auth_failed = osec_metrics_counter(r, "cpns_auth_total", h, "result=\"failed\",reason=\"credentials\"");
    cpns_m.auth_stale = osec_metrics_counter(r, "cpns_auth_total", h, "result=\"failed\",reason=\"stale_nonce\"");
    cpns_m.auth_malformed = osec_metrics_counter(r, "cpns_auth_total", h, "result=\"failed\",reason=\"malformed\"");
    cpns_m.auth_limited = osec_metrics_counter(r, "cpns_auth_total", h, "result=\"failed\",reason=\"rate_limited\"");
    cpns_m.auth_challenged = osec_metrics_counter(r, "cpns_auth_total", h, "result=\"challenged\",reason=\"no_credentials\"");
    h = "TLS handshakes completed, by mode";
    cpns_m.hs_cert = osec_metrics_counter(r, "cpns_handshakes_total", h, "mode=\"certificate\"");
    cpns_m.hs_psk = osec_metrics_counter(r, "cpns_handshakes_total", h, "mode=\"psk\"");
    cpns_m.sessions = osec_metrics_gauge(r, "cpns_sessions_active", "Open TLS sessions", NULL);
    h = "Onetime key events";
    cpns_m.otk_issued = osec_metrics_counter(r, "cpns_onetime_keys_total", h, "event=\"issued\"");
    cpns_m.otk_consumed = osec_metrics_counter(r, "cpns_onetime_keys_total", h, "event=\"consumed\"");
    cpns_m.otk_expired = osec_metrics_counter(r, "cpns_onetime_keys_total", h, "event=\"expired\"");
    h = "EUKey events";
    cpns_m.eukey_assigned = osec_metrics_counter(r, "cpns_eukeys_total", h, "event=\"assigned\"");
    cpns_m.eukey_rotated = osec_metrics_counter(r, "cpns_eukeys_total", h, "event=\"rotated\"");
    cpns_m.eukey_revoked = osec_metrics_counter(r, "cpns_eukeys_total", h, "event=\"revoked\"");
    cpns_m.denied = osec_metrics_counter(r, "cpns_authz_denied_total", "Authorization denials", NULL);
    cpns_m.latency = osec_metrics_histogram(r, "cpns_request_duration_seconds",
                                            "Time to answer a request", NULL);
    return cpns_m.latency ? 0 : -1;
}
