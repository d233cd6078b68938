/* cpm-msgstored: Prometheus metrics (--metrics HOST:PORT).  Counts only: no
 * user, mailbox or peer names appear in a label; command names come from a
 * fixed set (the commands the parser knows, everything else is "other"). */
#include "msgstored.h"
#include "omasec/error.h"
#include "omasec/util.h"

struct ms_metrics ms_m;

static const char *const mech_name[MS_MECH_N] = {
    [MS_MECH_LOGIN] = "LOGIN", [MS_MECH_PLAIN] = "PLAIN",
    [MS_MECH_EXTERNAL] = "EXTERNAL", [MS_MECH_PSK] = "PSK",
};

static const char *const login_reason[MS_LOGIN_N] = {
    [MS_LOGIN_OK] = NULL, [MS_LOGIN_CREDENTIALS] = "credentials",
    [MS_LOGIN_RATE_LIMITED] = "rate_limited", [MS_LOGIN_TLS_REQUIRED] = "tls_required",
    [MS_LOGIN_DENIED] = "denied", [MS_LOGIN_MALFORMED] = "malformed",
};

static void traffic(struct osec_metrics *r)
{
    static const char *const st[3] = { "status=\"OK\"", "status=\"NO\"", "status=\"BAD\"" };
    const char *h = "IMAP commands received, by command";
    char lab[64];

    for (int i = 0; i < OSEC_IMAP_CMD_COUNT_; i++) {
        const char *n = i == OSEC_IMAP_CMD_UNKNOWN ? "other"
                                                   : osec_imap_cmd_str((enum osec_imap_cmd_name)i);

        if (osec_snprintf(lab, sizeof(lab), "command=\"%s\"", n ? n : "other") == 0)
            ms_m.commands[i] = osec_metrics_counter(r, "cpmstore_commands_total", h, lab);
    }
    h = "Tagged responses sent, by status";
    for (int i = 0; i < 3; i++)
        ms_m.responses[i] = osec_metrics_counter(r, "cpmstore_responses_total", h, st[i]);
    ms_m.latency = osec_metrics_histogram(r, "cpmstore_command_duration_seconds",
                                          "Time to parse and handle a command", NULL);
    ms_m.conns = osec_metrics_gauge(r, "cpmstore_connections_active",
                                    "Open IMAP connections (both listeners)", NULL);
}

static void security(struct osec_metrics *r)
{
    const char *h = "Logins, by result, reason and SASL mechanism";
    char lab[96];

    for (int m = 0; m < MS_MECH_N; m++) {
        for (int i = 0; i < MS_LOGIN_N; i++) {
            int rc = i == MS_LOGIN_OK
                         ? osec_snprintf(lab, sizeof(lab), "result=\"ok\",mech=\"%s\"",
                                         mech_name[m])
                         : osec_snprintf(lab, sizeof(lab),
                                         "result=\"failed\",reason=\"%s\",mech=\"%s\"",
                                         login_reason[i], mech_name[m]);

            if (rc == 0)
                ms_m.logins[m][i] = osec_metrics_counter(r, "cpmstore_logins_total", h, lab);
        }
    }
    h = "TLS handshakes completed, by mode";
    ms_m.hs[MS_HS_STARTTLS] = osec_metrics_counter(r, "cpmstore_handshakes_total", h,
                                                   "mode=\"starttls\"");
    ms_m.hs[MS_HS_IMAPS] = osec_metrics_counter(r, "cpmstore_handshakes_total", h,
                                                "mode=\"imaps\"");
    ms_m.hs[MS_HS_PSK] = osec_metrics_counter(r, "cpmstore_handshakes_total", h, "mode=\"psk\"");
    ms_m.acl_denied = osec_metrics_counter(r, "cpmstore_acl_denied_total",
                                           "Operations refused by the mailbox ACL", NULL);
    ms_m.integrity = osec_metrics_counter(
        r, "cpmstore_integrity_failures_total",
        "Stored messages that failed authentication when unsealed (tampered rows)", NULL);
}

static void storage(struct osec_metrics *r)
{
    const char *h = "APPENDs (and COPYs) through the group committer, by result";

    ms_m.appends[0] = osec_metrics_counter(r, "cpmstore_appends_total", h, "result=\"ok\"");
    ms_m.appends[1] = osec_metrics_counter(r, "cpmstore_appends_total", h, "result=\"failed\"");
    ms_m.batches = osec_metrics_counter(r, "cpmstore_append_batches_total",
                                        "Group-commit batches (one fsync each)", NULL);
    ms_m.smime = osec_metrics_counter(r, "cpmstore_smime_protected_total",
                                      "Messages served S/MIME-protected by FETCH", NULL);
    h = "Configuration reloads (SIGHUP), by result";
    ms_m.reload_ok = osec_metrics_counter(r, "cpmstore_config_reloads_total", h,
                                          "result=\"ok\"");
    ms_m.reload_failed = osec_metrics_counter(r, "cpmstore_config_reloads_total", h,
                                              "result=\"failed\"");
}

int ms_metrics_init(struct osec_metrics *r)
{
    traffic(r);
    security(r);
    storage(r);
    /* the registry refuses only when full or on a bad name: either is a bug */
    OSEC_ENSURE(ms_m.reload_failed && ms_m.latency && ms_m.integrity &&
                    ms_m.logins[MS_MECH_N - 1][MS_LOGIN_N - 1] &&
                    ms_m.commands[OSEC_IMAP_CMD_COUNT_ - 1],
                OSEC_EINTERNAL, "cannot register the metrics");
    return 0;
}

void ms_metric_status(enum osec_imap_status st)
{
    if ((unsigned)st < 3)
        osec_metric_inc(ms_m.responses[st]);
}

void ms_metric_command(enum osec_imap_cmd_name n)
{
    osec_metric_inc(ms_m.commands[(unsigned)n < OSEC_IMAP_CMD_COUNT_ ? n : 0]);
}

void ms_metric_login(enum ms_mech mech, enum ms_login result)
{
    if ((unsigned)mech < MS_MECH_N && (unsigned)result < MS_LOGIN_N)
        osec_metric_inc(ms_m.logins[mech][result]);
}
