/* cpm-msgstored: connections, command framing, dispatch, responses. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "msgstored.h"
#include "omasec/error.h"
#include "omasec/log.h"
#include "omasec/tls.h"
#include "omasec/util.h"

static _Thread_local struct ms_worker *tl_worker;

struct ms_worker *ms_current_worker(void)
{
    return tl_worker;
}

/* ---- workers ------------------------------------------------------------- */

static void worker_free(struct ms_worker *w)
{
    ms_worker_notify_free(w);
    osec_store_close(&w->st);
    osec_buf_free(&w->out);
    osec_buf_free(&w->tmp);
    osec_buf_free(&w->tmp2);
    free(w->nodes);
    free(w->arena);
    free(w);
}

static void *worker_start(int index, void *arg)
{
    struct ms *srv = arg;
    struct ms_worker *w = calloc(1, sizeof(*w));
    size_t msg = (size_t)srv->lim.max_literal;

    if (!w)
        return NULL;
    w->srv = srv;
    w->lim = srv->lim;
    w->nodes = calloc(srv->lim.max_args, sizeof(*w->nodes));
    w->arena = malloc(srv->lim.max_line);
    /* responses hold at most a message or two plus framing; protected
     * messages grow by base64 and CMS overhead */
    osec_buf_init(&w->out, 2 * msg + MS_OUT_FLUSH + 65536);
    osec_buf_init(&w->tmp, msg + 65536);
    osec_buf_init(&w->tmp2, 2 * msg + 65536);
    if (!w->nodes || !w->arena || osec_store_open(srv->store_url, &w->st) < 0 ||
        ms_worker_notify_init(w) < 0) {
        osec_error("store.open_failed", "worker=%d error=\"%s\"", index, osec_error_msg());
        worker_free(w);
        return NULL;
    }
    osec_imap_cmd_init(&w->cmd, w->nodes, srv->lim.max_args, w->arena, srv->lim.max_line);
    tl_worker = w;
    return w;
}

static void worker_stop(void *arg)
{
    worker_free(arg);
}

/* ---- responses --------------------------------------------------------------- */

bool ms_tls(struct ms_session *s)
{
    return osec_net_conn_ssl(s->c) != NULL;
}

/* A failed command's response code (RFC 5530) from the error last recorded:
 * the store failing (database down, disk full) is UNAVAILABLE, a temporary
 * condition the client may retry; anything else is SERVERBUG. */
const char *ms_fail_code(void)
{
    return osec_error_code() == OSEC_ESTORE ? "UNAVAILABLE" : "SERVERBUG";
}

void ms_tagged(struct ms_req *r, enum osec_imap_status st, const char *code, const char *text)
{
    ms_metric_status(st);
    if (osec_imap_write_tagged(r->out, r->cmd->tag, st, code, text) < 0)
        (void)osec_imap_write_tagged(r->out, r->cmd->tag, st, NULL, "(response text withheld)");
}

void ms_untagged(struct ms_req *r, const char *fmt, ...)
{
    va_list ap;
    size_t start = r->out->len;

    va_start(ap, fmt);
    if (osec_buf_append_str(r->out, "* ") < 0 || osec_buf_vappendf(r->out, fmt, ap) < 0 ||
        osec_buf_append_str(r->out, "\r\n") < 0) {
        r->out->len = start; /* dropped whole, never half a line */
        if (r->out->data)
            r->out->data[start] = '\0';
    }
    va_end(ap);
}

int ms_flush(struct ms_session *s, struct osec_buf *out)
{
    int rc = 0;

    if (out->len)
        rc = osec_net_conn_write(s->c, out->data, out->len);
    osec_buf_reset(out);
    return rc;
}

void ms_audit(struct ms_session *s, const char *event, const char *subject, const char *detail)
{
    struct osec_store_audit a;

    memset(&a, 0, sizeof(a));
    (void)osec_strlcpy(a.event, event, sizeof(a.event));
    if (osec_snprintf(a.actor, sizeof(a.actor), "%s@%s", s->user[0] ? s->user : "-",
                      osec_net_conn_peer_ip(s->c)) < 0)
        a.actor[0] = '\0';
    if (subject)
        (void)osec_strlcpy(a.subject, subject, sizeof(a.subject)); /* truncation is fine */
    if (detail)
        (void)osec_strlcpy(a.detail, detail, sizeof(a.detail));
    if (strcmp(event, "imap.acl_deny") == 0)
        osec_metric_inc(ms_m.acl_denied);
    if (osec_store_audit_add(s->w->st, &a) < 0)
        osec_error("audit.failed", "event=%s error=\"%s\"", event, osec_error_msg());
    osec_info(event, "user=%s peer=%s subject=\"%s\" detail=\"%s\"", s->user[0] ? s->user : "-",
              osec_net_conn_peer(s->c), a.subject, a.detail);
}

static bool ext_auth_possible(struct ms_session *s)
{
    SSL *ssl = osec_net_conn_ssl(s->c);
    char who[OSEC_STORE_URI_MAX + 1];

    if (!ssl)
        return false;
    return osec_tls_psk_identity(ssl, who, sizeof(who)) == 0 ||
           osec_tls_peer_principal(ssl, who, sizeof(who)) == 0;
}

int ms_capability(struct ms_session *s, struct osec_buf *out)
{
    const struct ms *srv = s->w->srv;
    bool tls = ms_tls(s);

    OSEC_GUARD(osec_buf_append_str(out, "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE"
                                        " UIDPLUS UNSELECT CHILDREN ACL RIGHTS=texk METADATA"
                                        " CONDSTORE"));
    if (s->state != MS_NOAUTH)
        return 0;
    if (!tls && !s->implicit_tls && osec_msgpolicy_starttls_offered(srv->tls_policy))
        OSEC_GUARD(osec_buf_append_str(out, " STARTTLS"));
    if (osec_msgpolicy_password_offered(srv->tls_policy, tls))
        OSEC_GUARD(osec_buf_append_str(out, " AUTH=PLAIN"));
    else
        OSEC_GUARD(osec_buf_append_str(out, " LOGINDISABLED"));
    if (ext_auth_possible(s))
        OSEC_GUARD(osec_buf_append_str(out, " AUTH=EXTERNAL"));
    return 0;
}

/* ---- commands ------------------------------------------------------------------ */

#define S_NOAUTH (1u << MS_NOAUTH)
#define S_AUTH (1u << MS_AUTH)
#define S_SEL (1u << MS_SELECTED)
#define S_ANY (S_NOAUTH | S_AUTH | S_SEL)
#define S_IN (S_AUTH | S_SEL)

static void cmd_capability(struct ms_req *r)
{
    size_t start = r->out->len;

    if (osec_buf_append_str(r->out, "* CAPABILITY ") < 0 || ms_capability(r->s, r->out) < 0 ||
        osec_buf_append_str(r->out, "\r\n") < 0) {
        r->out->len = start;
        ms_tagged(r, OSEC_IMAP_NO, NULL, "CAPABILITY failed");
        return;
    }
    ms_tagged(r, OSEC_IMAP_OK, NULL, "CAPABILITY completed");
}

static void cmd_logout(struct ms_req *r)
{
    ms_untagged(r, "BYE cpm-msgstored logging out");
    ms_tagged(r, OSEC_IMAP_OK, NULL, "LOGOUT completed");
    r->s->state = MS_LOGOUT;
}

static void cmd_id(struct ms_req *r)
{
    ms_untagged(r, "ID (\"name\" \"cpm-msgstored\" \"vendor\" \"omasec\")");
    ms_tagged(r, OSEC_IMAP_OK, NULL, "ID completed");
}

static void cmd_enable(struct ms_req *r)
{
    struct osec_imap_iter it;
    const struct osec_imap_arg *a;
    bool cs = false;

    osec_imap_iter_init(&it, r->cmd, NULL);
    while ((a = osec_imap_iter_next(&it)) != NULL)
        cs |= osec_imap_arg_is(a, "CONDSTORE");
    if (cs && !r->s->condstore) {
        r->s->condstore = true;
        ms_untagged(r, "ENABLED CONDSTORE");
    } else {
        ms_untagged(r, "ENABLED");
    }
    ms_tagged(r, OSEC_IMAP_OK, NULL, "ENABLE completed");
}

static void cmd_select(struct ms_req *r) { ms_cmd_select(r, false); }
static void cmd_examine(struct ms_req *r) { ms_cmd_select(r, true); }
static void cmd_subscribe(struct ms_req *r) { ms_cmd_subscribe(r, true); }
static void cmd_unsubscribe(struct ms_req *r) { ms_cmd_subscribe(r, false); }
static void cmd_list(struct ms_req *r) { ms_cmd_list(r, false); }
static void cmd_lsub(struct ms_req *r) { ms_cmd_list(r, true); }
static void cmd_close(struct ms_req *r) { ms_cmd_close(r, true); }
static void cmd_unselect(struct ms_req *r) { ms_cmd_close(r, false); }
static void cmd_expunge(struct ms_req *r) { ms_cmd_expunge(r, false); }
static void cmd_uid_expunge(struct ms_req *r) { ms_cmd_expunge(r, true); }

static const struct {
    void (*fn)(struct ms_req *r);
    unsigned states;
} commands[OSEC_IMAP_CMD_COUNT_] = {
    [OSEC_IMAP_CMD_CAPABILITY] = { cmd_capability, S_ANY },
    [OSEC_IMAP_CMD_NOOP] = { ms_cmd_noop, S_ANY },
    [OSEC_IMAP_CMD_LOGOUT] = { cmd_logout, S_ANY },
    [OSEC_IMAP_CMD_ID] = { cmd_id, S_ANY },
    [OSEC_IMAP_CMD_STARTTLS] = { ms_cmd_starttls, S_NOAUTH },
    [OSEC_IMAP_CMD_LOGIN] = { ms_cmd_login, S_NOAUTH },
    [OSEC_IMAP_CMD_AUTHENTICATE] = { ms_cmd_authenticate, S_NOAUTH },
    [OSEC_IMAP_CMD_ENABLE] = { cmd_enable, S_IN },
    [OSEC_IMAP_CMD_SELECT] = { cmd_select, S_IN },
    [OSEC_IMAP_CMD_EXAMINE] = { cmd_examine, S_IN },
    [OSEC_IMAP_CMD_CREATE] = { ms_cmd_create, S_IN },
    [OSEC_IMAP_CMD_DELETE] = { ms_cmd_delete, S_IN },
    [OSEC_IMAP_CMD_RENAME] = { ms_cmd_rename, S_IN },
    [OSEC_IMAP_CMD_SUBSCRIBE] = { cmd_subscribe, S_IN },
    [OSEC_IMAP_CMD_UNSUBSCRIBE] = { cmd_unsubscribe, S_IN },
    [OSEC_IMAP_CMD_LIST] = { cmd_list, S_IN },
    [OSEC_IMAP_CMD_LSUB] = { cmd_lsub, S_IN },
    [OSEC_IMAP_CMD_STATUS] = { ms_cmd_status, S_IN },
    [OSEC_IMAP_CMD_APPEND] = { ms_cmd_append, S_IN },
    [OSEC_IMAP_CMD_NAMESPACE] = { ms_cmd_namespace, S_IN },
    [OSEC_IMAP_CMD_IDLE] = { ms_cmd_idle, S_IN },
    [OSEC_IMAP_CMD_GETACL] = { ms_cmd_acl, S_IN },
    [OSEC_IMAP_CMD_SETACL] = { ms_cmd_acl, S_IN },
    [OSEC_IMAP_CMD_DELETEACL] = { ms_cmd_acl, S_IN },
    [OSEC_IMAP_CMD_LISTRIGHTS] = { ms_cmd_acl, S_IN },
    [OSEC_IMAP_CMD_MYRIGHTS] = { ms_cmd_acl, S_IN },
    [OSEC_IMAP_CMD_GETMETADATA] = { ms_cmd_getmetadata, S_IN },
    [OSEC_IMAP_CMD_SETMETADATA] = { ms_cmd_setmetadata, S_IN },
    [OSEC_IMAP_CMD_CHECK] = { ms_cmd_noop, S_SEL },
    [OSEC_IMAP_CMD_CLOSE] = { cmd_close, S_SEL },
    [OSEC_IMAP_CMD_UNSELECT] = { cmd_unselect, S_SEL },
    [OSEC_IMAP_CMD_EXPUNGE] = { cmd_expunge, S_SEL },
    [OSEC_IMAP_CMD_UID_EXPUNGE] = { cmd_uid_expunge, S_SEL },
    [OSEC_IMAP_CMD_SEARCH] = { ms_cmd_search, S_SEL },
    [OSEC_IMAP_CMD_UID_SEARCH] = { ms_cmd_search, S_SEL },
    [OSEC_IMAP_CMD_FETCH] = { ms_cmd_fetch, S_SEL },
    [OSEC_IMAP_CMD_UID_FETCH] = { ms_cmd_fetch, S_SEL },
    [OSEC_IMAP_CMD_STORE] = { ms_cmd_store, S_SEL },
    [OSEC_IMAP_CMD_UID_STORE] = { ms_cmd_store, S_SEL },
    [OSEC_IMAP_CMD_COPY] = { ms_cmd_copy, S_SEL },
    [OSEC_IMAP_CMD_UID_COPY] = { ms_cmd_copy, S_SEL },
};

/* Before TLS under "tls = required" only these may run (RFC 3501 6.2.1,
 * RFC 8314): nothing but the way into TLS. */
static bool clear_ok(enum osec_imap_cmd_name n)
{
    return n == OSEC_IMAP_CMD_CAPABILITY || n == OSEC_IMAP_CMD_NOOP ||
           n == OSEC_IMAP_CMD_LOGOUT || n == OSEC_IMAP_CMD_STARTTLS || n == OSEC_IMAP_CMD_ID;
}

static void dispatch(struct ms_req *r)
{
    struct ms_session *s = r->s;
    enum osec_imap_cmd_name n = r->cmd->name;

    ms_metric_command(n);
    if ((unsigned)n >= OSEC_IMAP_CMD_COUNT_ || !commands[n].fn) {
        ms_tagged(r, OSEC_IMAP_BAD, NULL, "unknown command");
        return;
    }
    if (!(commands[n].states & (1u << s->state))) {
        ms_tagged(r, OSEC_IMAP_BAD, NULL,
                  s->state == MS_NOAUTH ? "authenticate first" : "command not valid in this state");
        return;
    }
    if (osec_imap_cmd_check(r->cmd) < 0) {
        ms_tagged(r, OSEC_IMAP_BAD, NULL, "invalid arguments");
        return;
    }
    if (s->state == MS_NOAUTH && !clear_ok(n) &&
        !osec_msgpolicy_clear_allowed(s->w->srv->tls_policy, ms_tls(s))) {
        if (n == OSEC_IMAP_CMD_LOGIN || n == OSEC_IMAP_CMD_AUTHENTICATE)
            ms_metric_login(n == OSEC_IMAP_CMD_LOGIN ? MS_MECH_LOGIN
                            : osec_imap_arg_is(osec_imap_arg_at(r->cmd, 0), "EXTERNAL")
                                ? MS_MECH_EXTERNAL
                                : MS_MECH_PLAIN,
                            MS_LOGIN_TLS_REQUIRED);
        ms_tagged(r, OSEC_IMAP_NO, "PRIVACYREQUIRED", "TLS is required: use STARTTLS first");
        ms_audit(s, "imap.login_refused", osec_imap_cmd_str(n), "reason=tls-required");
        return;
    }
    commands[n].fn(r);
}

/* A synchronizing literal is announced: say go, or refuse it before a
 * single byte of it is sent. */
static ssize_t literal_cont(struct ms_session *s, struct osec_buf *out)
{
    struct osec_imap_cmd *cmd = &s->w->cmd;
    const char *why = NULL;

    if (cmd->name == OSEC_IMAP_CMD_APPEND && s->state == MS_NOAUTH)
        why = "authenticate first";
    else if (s->state == MS_NOAUTH &&
             !osec_msgpolicy_password_offered(s->w->srv->tls_policy, ms_tls(s)))
        why = "[PRIVACYREQUIRED] no literals before TLS";
    if (!why) {
        (void)osec_imap_write_continue(out, "Ready for literal data");
        return 0;
    }
    if (cmd->tag.len) {
        ms_metric_status(OSEC_IMAP_NO);
        (void)osec_imap_write_tagged(out, cmd->tag, OSEC_IMAP_NO, NULL, why);
    }
    else
        (void)osec_imap_write_status(out, OSEC_IMAP_NO, NULL, why);
    return (ssize_t)osec_imap_scan_abort(&s->scan);
}

static ssize_t parse_error(struct ms_session *s, struct osec_buf *out, size_t len)
{
    const struct osec_imap_cmd *cmd = &s->w->cmd;
    enum osec_imap_status st = cmd->err_bad ? OSEC_IMAP_BAD : OSEC_IMAP_NO;
    const char *text = cmd->err_text ? cmd->err_text : "invalid command";

    if (cmd->tag.len) {
        ms_metric_status(st);
        (void)osec_imap_write_tagged(out, cmd->tag, st, cmd->err_code, text);
    }
    else
        (void)osec_imap_write_status(out, st, cmd->err_code, text);
    if (cmd->err_skip > 0 && cmd->err_skip <= len)
        return (ssize_t)cmd->err_skip;
    /* framing is lost: say goodbye and close */
    (void)osec_imap_write_status(out, OSEC_IMAP_BYE, NULL, "command framing lost");
    s->state = MS_LOGOUT;
    return (ssize_t)len;
}

static ssize_t command(struct ms_session *s, const uint8_t *data, size_t len,
                       struct osec_buf *out)
{
    struct ms_worker *w = s->w;
    struct ms_req r = { s, &w->cmd, out };
    size_t used = 0;
    uint64_t t0;
    int rc;

    /* the limits in force: a reload may have lowered them */
    w->lim.max_literal = atomic_load(&w->srv->max_literal);
    w->lim.max_line = atomic_load(&w->srv->max_line);
    rc = osec_imap_parse(data, len, &w->lim, &s->scan, &w->cmd, &used);

    if (rc == OSEC_IMAP_INCOMPLETE) {
        if (s->state == MS_NOAUTH && len > MS_PREAUTH_MAX) {
            (void)osec_imap_write_status(out, OSEC_IMAP_BYE, NULL, "command too long");
            s->state = MS_LOGOUT;
            return (ssize_t)len;
        }
        return 0;
    }
    if (rc == OSEC_IMAP_NEED_CONT)
        return literal_cont(s, out);
    if (rc != OSEC_OK)
        return parse_error(s, out, len);
    t0 = osec_time_mono_us();
    dispatch(&r);
    osec_metric_observe_us(ms_m.latency, osec_time_mono_us() - t0);
    return (ssize_t)used;
}

/* ---- net handlers -------------------------------------------------------------------- */

static void greet(struct ms_session *s)
{
    struct osec_buf *out = &s->w->out;
    bool preauth = s->implicit_tls && ms_psk_preauth(s) == 0;

    osec_buf_reset(out);
    if (osec_buf_append_str(out, preauth ? "* PREAUTH [CAPABILITY " : "* OK [CAPABILITY ") < 0 ||
        ms_capability(s, out) < 0 ||
        osec_buf_append_str(out, preauth ? "] cpm-msgstored: authenticated by TLS-PSK\r\n"
                                         : "] cpm-msgstored ready\r\n") < 0)
        osec_buf_reset(out);
    (void)ms_flush(s, out);
}

/* A completed handshake, once per connection: implicit TLS when the
 * connection opens, STARTTLS at the first bytes read over it. */
static void count_handshake(struct ms_session *s)
{
    SSL *ssl = osec_net_conn_ssl(s->c);
    char id[OSEC_STORE_URI_MAX + 1];

    if (s->hs_counted || !ssl || !SSL_is_init_finished(ssl))
        return;
    s->hs_counted = true;
    if (osec_tls_psk_identity(ssl, id, sizeof(id)) == 0)
        osec_metric_inc(ms_m.hs[MS_HS_PSK]);
    else
        osec_metric_inc(ms_m.hs[s->implicit_tls ? MS_HS_IMAPS : MS_HS_STARTTLS]);
}

static void *open_session(struct osec_net_conn *c, void *worker, bool tls)
{
    struct ms_session *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->w = worker;
    s->c = c;
    s->implicit_tls = tls;
    osec_metric_add(ms_m.conns, 1);
    count_handshake(s);
    greet(s);
    return s;
}

static void *conn_open_plain(struct osec_net_conn *c, void *worker)
{
    return open_session(c, worker, false);
}

static void *conn_open_tls(struct osec_net_conn *c, void *worker)
{
    return open_session(c, worker, true);
}

static ssize_t conn_data(struct osec_net_conn *c, void *state, const uint8_t *data, size_t len)
{
    struct ms_session *s = state;
    struct osec_buf *out = &s->w->out;
    ssize_t n;

    osec_buf_reset(out);
    if (s->tls_done)
        count_handshake(s);
    if (s->state == MS_LOGOUT)
        return (ssize_t)len;
    if (s->mode == MS_SASL)
        n = ms_sasl_line(s, data, len, out);
    else if (s->mode == MS_IDLE)
        n = ms_idle_line(s, data, len, out);
    else
        n = command(s, data, len, out);
    if (ms_flush(s, out) < 0)
        return -1;
    if (s->state == MS_LOGOUT) {
        osec_net_conn_close_after_write(c);
        return n > 0 ? n : (ssize_t)len;
    }
    return n;
}

static int conn_timer(struct osec_net_conn *c, void *state)
{
    struct ms_session *s = state;
    struct osec_buf *out = &s->w->out;

    (void)c;
    if (s->mode != MS_IDLE)
        return 0;
    osec_buf_reset(out);
    if (ms_idle_tick(s, out) < 0 || ms_flush(s, out) < 0)
        return -1;
    return osec_net_conn_timer(s->c, s->w->srv->idle_poll_ms);
}

void ms_session_free(struct ms_session *s)
{
    ms_unselect(s);
    X509_free(s->protect_cert);
    SSL_CTX_free(s->starttls_ctx);
    free(s);
}

static void conn_close(struct osec_net_conn *c, void *state)
{
    struct ms_session *s = state;

    (void)c;
    s->c = NULL;
    osec_metric_add(ms_m.conns, -1);
    if (s->inflight) { /* the committer still holds it: it frees it */
        s->orphan = true;
        return;
    }
    ms_session_free(s);
}

const struct osec_net_handlers ms_handlers_plain = {
    .worker_start = worker_start,
    .worker_stop = worker_stop,
    .conn_open = conn_open_plain,
    .conn_data = conn_data,
    .conn_close = conn_close,
    .conn_timer = conn_timer,
};

const struct osec_net_handlers ms_handlers_tls = {
    .worker_start = worker_start,
    .worker_stop = worker_stop,
    .conn_open = conn_open_tls,
    .conn_data = conn_data,
    .conn_close = conn_close,
    .conn_timer = conn_timer,
};
