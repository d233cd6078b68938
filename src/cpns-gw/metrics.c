/* cpns-gw: Prometheus metrics (--metrics HOST:PORT). */
#include <string.h>

#include "gw.h"

struct gw_metrics gw_m;

int gw_mode_index(const char *mode)
{
    return strcmp(mode, "dtls-psk") == 0 ? 1 : strcmp(mode, "digest") == 0 ? 2 : 0;
}

int gw_metrics_init(struct osec_metrics *r)
{
    static const char *const modes[] = { "mode=\"tls-psk\"", "mode=\"dtls-psk\"",
                                         "mode=\"digest\"" };
    static const char *const cls[] = { "status=\"2xx\"", "status=\"3xx\"", "status=\"4xx\"",
                                       "status=\"5xx\"" };
    const char *h = "PN establishments with a onetime key, by mode";

    for (int i = 0; i < 3; i++)
        gw_m.established[i] = osec_metrics_counter(r, "cpnsgw_pn_established_total", h, modes[i]);
    gw_m.resumed = osec_metrics_counter(r, "cpnsgw_pn_resumed_total",
                                        "PN sessions re-opened with a session credential", NULL);
    gw_m.rejected = osec_metrics_counter(r, "cpnsgw_pn_rejected_total",
                                         "Handshakes refused after the TLS layer (used keys...)",
                                         NULL);
    gw_m.psk_unknown = osec_metrics_counter(r, "cpnsgw_psk_unknown_total",
                                            "PSK identities unknown, used or expired", NULL);
    gw_m.auth_failed = osec_metrics_counter(r, "cpnsgw_auth_failed_total",
                                            "Failed Digest proofs of a onetime key", NULL);
    gw_m.sessions = osec_metrics_gauge(r, "cpnsgw_sessions_active", "Open PN sessions (TLS)",
                                       NULL);
    h = "Requests relayed to the CPNS Server, by status class";
    for (int i = 0; i < 4; i++)
        gw_m.relay[i] = osec_metrics_counter(r, "cpnsgw_relayed_total", h, cls[i]);
    gw_m.relay_failed = osec_metrics_counter(r, "cpnsgw_relay_failed_total",
                                             "Relays that found the server unreachable", NULL);
    gw_m.relay_latency = osec_metrics_histogram(r, "cpnsgw_relay_duration_seconds",
                                                "Round trip of a relayed request", NULL);
    gw_m.upstream_up = osec_metrics_counter(r, "cpnsgw_upstream_connects_total",
                                            "Upstream sessions opened", NULL);
    gw_m.upstream_down = osec_metrics_counter(r, "cpnsgw_upstream_failures_total",
                                              "Failed upstream connection attempts", NULL);
    return gw_m.upstream_down ? 0 : -1;
}
