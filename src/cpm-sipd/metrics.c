/* cpm-sipd: Prometheus metrics (--metrics HOST:PORT).  Counts only: no user
 * names, addresses or peer names appear in a label. */
#include "omasec/error.h"
#include "omasec/util.h"
#include "sipd.h"

struct sipd_metrics sipd_m;

static const char *const method_label[SIPD_METHODS] = {
    [OSEC_SIP_M_OTHER] = "method=\"other\"",         [OSEC_SIP_M_REGISTER] = "method=\"REGISTER\"",
    [OSEC_SIP_M_INVITE] = "method=\"INVITE\"",       [OSEC_SIP_M_ACK] = "method=\"ACK\"",
    [OSEC_SIP_M_BYE] = "method=\"BYE\"",             [OSEC_SIP_M_CANCEL] = "method=\"CANCEL\"",
    [OSEC_SIP_M_OPTIONS] = "method=\"OPTIONS\"",     [OSEC_SIP_M_MESSAGE] = "method=\"MESSAGE\"",
    [OSEC_SIP_M_SUBSCRIBE] = "method=\"SUBSCRIBE\"", [OSEC_SIP_M_NOTIFY] = "method=\"NOTIFY\"",
    [OSEC_SIP_M_PUBLISH] = "method=\"PUBLISH\"",     [OSEC_SIP_M_INFO] = "method=\"INFO\"",
    [OSEC_SIP_M_PRACK] = "method=\"PRACK\"",         [OSEC_SIP_M_UPDATE] = "method=\"UPDATE\"",
    [OSEC_SIP_M_REFER] = "method=\"REFER\"",
};

static const char *const auth_label[SIPD_AUTH_N] = {
    [SIPD_AUTH_OK] = "result=\"ok\"",
    [SIPD_AUTH_CHALLENGED] = "result=\"challenged\",reason=\"no_credentials\"",
    [SIPD_AUTH_BAD_CREDENTIALS] = "result=\"failed\",reason=\"bad_credentials\"",
    [SIPD_AUTH_STALE] = "result=\"failed\",reason=\"stale_nonce\"",
    [SIPD_AUTH_REPLAY] = "result=\"failed\",reason=\"replay\"",
    [SIPD_AUTH_RATE_LIMITED] = "result=\"failed\",reason=\"rate_limited\"",
    [SIPD_AUTH_MALFORMED] = "result=\"failed\",reason=\"malformed\"",
    [SIPD_AUTH_ERROR] = "result=\"error\"",
};

static const char *const reg_label[SIPD_REG_N] = {
    [SIPD_REG_AOR_NOT_ALLOCATED] = "result=\"refused\",reason=\"aor_not_allocated\"",
    [SIPD_REG_NOT_A_USER] = "result=\"refused\",reason=\"not_a_user\"",
    [SIPD_REG_BAD_REQUEST] = "result=\"refused\",reason=\"bad_request\"",
    [SIPD_REG_INTERVAL_TOO_BRIEF] = "result=\"refused\",reason=\"interval_too_brief\"",
    [SIPD_REG_OUT_OF_ORDER] = "result=\"refused\",reason=\"out_of_order\"",
    [SIPD_REG_TOO_MANY_CONTACTS] = "result=\"refused\",reason=\"too_many_contacts\"",
    [SIPD_REG_ERROR] = "result=\"error\"",
};

static const char *const hs_label[2][SIPD_HS_N] = {
    { "mode=\"tls\",result=\"ok\"", "mode=\"tls\",result=\"failed\"", NULL },
    { "mode=\"mutual-tls\",result=\"ok\"", "mode=\"mutual-tls\",result=\"failed\"",
      "mode=\"mutual-tls\",result=\"unlisted_peer\"" },
};

static void traffic(struct osec_metrics *r)
{
    static const char *const cls[6] = { "1xx", "2xx", "3xx", "4xx", "5xx", "6xx" };
    const char *h = "SIP requests received, by method";
    char lab[64];

    for (int i = 0; i < SIPD_METHODS; i++)
        sipd_m.requests[i] = osec_metrics_counter(r, "cpmsip_requests_total", h, method_label[i]);
    h = "SIP responses sent: answered here (local) or relayed, by status class";
    for (int o = 0; o < 2; o++) {
        for (int c = 0; c < 6; c++) {
            if (osec_snprintf(lab, sizeof(lab), "origin=\"%s\",status=\"%s\"",
                              o ? "relayed" : "local", cls[c]) == 0)
                sipd_m.responses[o][c] = osec_metrics_counter(r, "cpmsip_responses_total", h,
                                                              lab);
        }
    }
    sipd_m.retransmissions = osec_metrics_counter(
        r, "cpmsip_retransmissions_total",
        "UDP request retransmissions answered from the transaction cache", NULL);
    sipd_m.malformed = osec_metrics_counter(r, "cpmsip_malformed_total",
                                            "Messages refused or dropped as malformed", NULL);
    sipd_m.latency = osec_metrics_histogram(r, "cpmsip_request_duration_seconds",
                                            "Time to parse and handle a request", NULL);
}

static void security(struct osec_metrics *r)
{
    const char *h = "Digest authentications, by result and reason";

    for (int i = 0; i < SIPD_AUTH_N; i++)
        sipd_m.auth[i] = osec_metrics_counter(r, "cpmsip_auth_total", h, auth_label[i]);
    h = "TLS handshakes, by mode (tls: users, mutual-tls: IWF peers) and result";
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < SIPD_HS_N; i++)
            if (hs_label[t][i])
                sipd_m.handshakes[t][i] =
                    osec_metrics_counter(r, "cpmsip_handshakes_total", h, hs_label[t][i]);
    h = "Requests refused because an identity claimed is not the sender's";
    sipd_m.spoof[0] = osec_metrics_counter(r, "cpmsip_antispoof_rejections_total", h,
                                           "from=\"user\"");
    sipd_m.spoof[1] = osec_metrics_counter(r, "cpmsip_antispoof_rejections_total", h,
                                           "from=\"peer\"");
    sipd_m.pai_stripped = osec_metrics_counter(
        r, "cpmsip_pai_stripped_total",
        "Messages whose P-Asserted-Identity from an untrusted sender was removed", NULL);
}

static void state(struct osec_metrics *r)
{
    static const char *const tp[4] = { NULL, "transport=\"tcp\"", "transport=\"tls\"",
                                       "transport=\"iwf\"" };
    const char *h = "REGISTER requests of authenticated users, by result";

    for (int i = 1; i < 4; i++)
        sipd_m.conns[i] = osec_metrics_gauge(r, "cpmsip_connections_active",
                                             "Open TCP/TLS connections, by listener kind", tp[i]);
    sipd_m.reg_accepted = osec_metrics_counter(r, "cpmsip_registrations_total", h,
                                               "result=\"accepted\"");
    for (int i = 0; i < SIPD_REG_N; i++)
        sipd_m.reg_refused[i] = osec_metrics_counter(r, "cpmsip_registrations_total", h,
                                                     reg_label[i]);
    sipd_m.bindings = osec_metrics_gauge(r, "cpmsip_bindings", "Current registrar bindings",
                                         NULL);
    sipd_m.refused_source = osec_metrics_counter(
        r, "cpmsip_connections_refused_total",
        "TCP/TLS connections refused at accept, by reason", "reason=\"per_source\"");
    sipd_m.refused_limit = osec_metrics_counter(
        r, "cpmsip_connections_refused_total",
        "TCP/TLS connections refused at accept, by reason", "reason=\"limit\"");
    h = "Configuration reloads (SIGHUP), by result";
    sipd_m.reload_ok = osec_metrics_counter(r, "cpmsip_config_reloads_total", h,
                                            "result=\"ok\"");
    sipd_m.reload_failed = osec_metrics_counter(r, "cpmsip_config_reloads_total", h,
                                                "result=\"failed\"");
}

int sipd_metrics_init(struct osec_metrics *r)
{
    traffic(r);
    security(r);
    state(r);
    /* the registry refuses only when full or on a bad name: either is a bug */
    OSEC_ENSURE(sipd_m.reload_failed && sipd_m.latency && sipd_m.pai_stripped &&
                    sipd_m.refused_source, OSEC_EINTERNAL,
                "cannot register the metrics");
    return 0;
}

void sipd_metric_response(bool relayed, unsigned status)
{
    if (status >= 100 && status < 700)
        osec_metric_inc(sipd_m.responses[relayed ? 1 : 0][status / 100 - 1]);
}
