/* cpm-msgstored: STARTTLS and authentication (LOGIN, AUTHENTICATE PLAIN and
 * EXTERNAL, TLS-PSK).  The decisions (which mechanism may run over which
 * connection for which user) are osec_msgpolicy_*; this file only wires
 * them to the protocol. */
#include <string.h>

#include "msgstored.h"
#include "omasec/account.h"
#include "omasec/crypto.h"
#include "omasec/error.h"
#include "omasec/log.h"
#include "omasec/lookup.h"
#include "omasec/tls.h"
#include "omasec/util.h"

#define MECH_PLAIN 1
#define MECH_EXTERNAL 2
#define SASL_LINE_MAX 8192

static void tagged(struct osec_buf *out, const char *tag, enum osec_imap_status st,
                   const char *code, const char *text)
{
    ms_metric_status(st);
    (void)osec_imap_write_tagged(out, osec_slice_cstr(tag), st, code, text);
}

/* "LOGIN", "PLAIN", "EXTERNAL", "EXTERNAL/PSK" (EXTERNAL over TLS-PSK), "PSK" */
static enum ms_mech mech_of(const char *mech)
{
    if (strncmp(mech, "EXTERNAL", 8) == 0)
        return MS_MECH_EXTERNAL;
    if (strcmp(mech, "PSK") == 0)
        return MS_MECH_PSK;
    return strcmp(mech, "PLAIN") == 0 ? MS_MECH_PLAIN : MS_MECH_LOGIN;
}

/* ---- STARTTLS ---------------------------------------------------------------- */

void ms_cmd_starttls(struct ms_req *r)
{
    struct ms_session *s = r->s;
    SSL_CTX *ctx;

    if (ms_tls(s) || s->implicit_tls || s->tls_done) {
        ms_tagged(r, OSEC_IMAP_BAD, NULL, "TLS is already active");
        return;
    }
    if (!osec_msgpolicy_starttls_offered(s->w->srv->tls_policy)) {
        ms_tagged(r, OSEC_IMAP_NO, NULL, "TLS is not offered by service provider policy");
        return;
    }
    /* the context in force now; the session keeps a reference until the
     * net layer has made its SSL from it, so a reload may swap it meanwhile */
    ctx = ms_ssl_ref(s->w->srv);
    if (!ctx || osec_net_conn_starttls(s->c, ctx) < 0) {
        SSL_CTX_free(ctx);
        ms_tagged(r, OSEC_IMAP_NO, NULL, "cannot start TLS");
        return;
    }
    SSL_CTX_free(s->starttls_ctx);
    s->starttls_ctx = ctx;
    /* the answer goes out in the clear; everything after it is TLS, and
     * whatever the client pipelined behind STARTTLS is dropped (net layer) */
    s->tls_done = true;
    ms_tagged(r, OSEC_IMAP_OK, NULL, "Begin TLS negotiation now");
}

/* ---- the common end of every authentication ---------------------------------- */

/* Principal of a certificate or a PSK identity -> user: a user of that
 * name, else the owner of that CPM Address. */
static int principal_user(struct osec_store *st, const char *principal, char *user, size_t len)
{
    struct osec_store_user u;

    if (osec_account_name_valid(principal) == 0 && osec_store_user_get(st, principal, &u) == 0) {
        osec_store_user_clear(&u);
        return osec_strlcpy(user, principal, len);
    }
    return osec_store_address_owner(st, principal, user, len);
}

/* Policy check and session setup; writes the tagged answer. */
static int finish(struct ms_session *s, struct osec_buf *out, const char *tag, const char *user,
                  enum osec_msgauth how, const char *mech)
{
    struct osec_store_user u;
    char reason[OSEC_MSGPOLICY_REASON_MAX] = "", detail[200];
    int rc = osec_store_user_get(s->w->st, user, &u);

    if (rc == 0) {
        rc = osec_msgpolicy_session(s->w->srv->tls_policy, how, ms_tls(s), u.flags, reason,
                                    sizeof(reason));
        s->user_flags = u.flags;
        osec_store_user_clear(&u);
    }
    if (rc < 0) {
        (void)osec_snprintf(detail, sizeof(detail), "mech=%s tls=%s reason=%s", mech,
                            ms_tls(s) ? "yes" : "no", reason[0] ? reason : "no such user");
        ms_audit(s, "imap.login_denied", user, detail);
        ms_metric_login(mech_of(mech), rc == OSEC_EPOLICY ? MS_LOGIN_TLS_REQUIRED : MS_LOGIN_DENIED);
        tagged(out, tag, OSEC_IMAP_NO, rc == OSEC_EPOLICY ? "PRIVACYREQUIRED" : "AUTHORIZATIONFAILED",
               reason[0] ? reason : "authorization failed");
        return rc;
    }
    (void)osec_strlcpy(s->user, user, sizeof(s->user)); /* both bounded by the store limit */
    s->how = how;
    s->state = MS_AUTH;
    if (ms_default_folders(s) < 0)
        osec_warn("imap.default_folders", "user=%s error=\"%s\"", user, osec_error_msg());
    (void)ms_protect_setup(s);
    osec_info("imap.login", "user=%s mech=%s peer=%s tls=%s", user, mech,
              osec_net_conn_peer(s->c), osec_tls_version_name(osec_net_conn_ssl(s->c)));
    ms_metric_login(mech_of(mech), MS_LOGIN_OK);
    tagged(out, tag, OSEC_IMAP_OK, NULL, "authenticated");
    return 0;
}

/* ---- passwords ------------------------------------------------------------------ */

static bool rate_limited(struct ms_session *s, const char *ipkey, const char *idkey)
{
    unsigned retry = 0;
    int64_t now = osec_time_now();

    return osec_ratelimit_check(s->w->srv->rl, ipkey, now, &retry) < 0 ||
           osec_ratelimit_check(s->w->srv->rl, idkey, now, &retry) < 0;
}

static int check_password(struct ms_session *s, const char *user, struct osec_slice pw)
{
    struct ms *srv = s->w->srv;
    int64_t now = osec_time_now();

    if (osec_credcache_check(srv->cache, user, pw.ptr, pw.len, now))
        return 0;
    OSEC_GUARD(osec_account_verify_password(s->w->st, user, (const char *)pw.ptr, pw.len));
    osec_credcache_put(srv->cache, user, pw.ptr, pw.len, now);
    return 0;
}

static void password_login(struct ms_session *s, struct osec_buf *out, const char *tag,
                           struct osec_slice user, struct osec_slice pw, const char *mech)
{
    char name[OSEC_STORE_NAME_MAX + 1] = "", ipkey[80], idkey[OSEC_STORE_NAME_MAX + 8];
    bool name_ok = osec_slice_to_cstr(user, name, sizeof(name)) == 0 &&
                   osec_account_name_valid(name) == 0;

    if (!osec_msgpolicy_password_offered(s->w->srv->tls_policy, ms_tls(s))) {
        ms_audit(s, "imap.login_refused", name_ok ? name : "?", "reason=password-without-tls");
        ms_metric_login(mech_of(mech), MS_LOGIN_TLS_REQUIRED);
        tagged(out, tag, OSEC_IMAP_NO, "PRIVACYREQUIRED", "passwords need TLS: use STARTTLS");
        return;
    }
    (void)osec_snprintf(ipkey, sizeof(ipkey), "ip:%s", osec_net_conn_peer_ip(s->c));
    (void)osec_snprintf(idkey, sizeof(idkey), "id:%s", name_ok ? name : "?");
    if (rate_limited(s, ipkey, idkey)) {
        ms_audit(s, "imap.login_blocked", name_ok ? name : "?", "reason=rate-limit");
        ms_metric_login(mech_of(mech), MS_LOGIN_RATE_LIMITED);
        tagged(out, tag, OSEC_IMAP_NO, "UNAVAILABLE", "too many failed attempts, try later");
        return;
    }
    if (!name_ok || check_password(s, name, pw) < 0) {
        osec_ratelimit_fail(s->w->srv->rl, ipkey, osec_time_now());
        osec_ratelimit_fail(s->w->srv->rl, idkey, osec_time_now());
        ms_audit(s, "imap.login_failed", name_ok ? name : "?", mech);
        ms_metric_login(mech_of(mech), MS_LOGIN_CREDENTIALS);
        tagged(out, tag, OSEC_IMAP_NO, "AUTHENTICATIONFAILED", "authentication failed");
        return;
    }
    osec_ratelimit_success(s->w->srv->rl, idkey);
    (void)finish(s, out, tag, name, OSEC_MSGAUTH_PASSWORD, mech);
}

static int copy_tag(struct ms_session *s, struct osec_slice tag)
{
    return osec_slice_to_cstr(tag, s->tag, sizeof(s->tag));
}

void ms_cmd_login(struct ms_req *r)
{
    struct osec_slice user, pw;

    if (copy_tag(r->s, r->cmd->tag) < 0) {
        ms_tagged(r, OSEC_IMAP_BAD, NULL, "tag too long");
        return;
    }
    if (osec_imap_arg_astring(osec_imap_arg_at(r->cmd, 0), &user) < 0 ||
        osec_imap_arg_astring(osec_imap_arg_at(r->cmd, 1), &pw) < 0) {
        ms_tagged(r, OSEC_IMAP_BAD, NULL, "LOGIN needs a user and a password");
        return;
    }
    password_login(r->s, r->out, r->s->tag, user, pw, "LOGIN");
}

/* PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd */
static void sasl_plain(struct ms_session *s, struct osec_buf *out, struct osec_slice msg)
{
    struct osec_slice authz, authc, pw;
    long a = osec_slice_find(msg, 0), b;

    if (a < 0 || (b = osec_slice_find(osec_slice_sub(msg, (size_t)a + 1, msg.len), 0)) < 0) {
        ms_metric_login(MS_MECH_PLAIN, MS_LOGIN_MALFORMED);
        tagged(out, s->tag, OSEC_IMAP_BAD, NULL, "malformed PLAIN response");
        return;
    }
    authz = osec_slice_sub(msg, 0, (size_t)a);
    authc = osec_slice_sub(msg, (size_t)a + 1, (size_t)b);
    pw = osec_slice_sub(msg, (size_t)a + 2 + (size_t)b, msg.len);
    if (authz.len && !osec_slice_eq(authz, authc)) {
        ms_metric_login(MS_MECH_PLAIN, MS_LOGIN_DENIED);
        tagged(out, s->tag, OSEC_IMAP_NO, "AUTHORIZATIONFAILED", "proxy authorization is not allowed");
        return;
    }
    password_login(s, out, s->tag, authc, pw, "PLAIN");
}

/* ---- EXTERNAL: certificate or PSK ---------------------------------------------------- */

static int psk_user(struct ms_session *s, const char *id, char *user, size_t len)
{
    struct osec_store_entity e;
    int rc;

    /* the PSK identity is a CPNS entity (the key is HKDF of its EUKey):
     * the principal is the user owning that entity */
    OSEC_GUARD(osec_store_entity_get(s->w->st, id, &e));
    rc = osec_strlcpy(user, e.user, len);
    osec_store_entity_clear(&e);
    return rc;
}

static int tls_principal(struct ms_session *s, char *user, size_t len, enum osec_msgauth *how)
{
    SSL *ssl = osec_net_conn_ssl(s->c);
    char id[OSEC_STORE_URI_MAX + 1];

    OSEC_ENSURE(ssl != NULL, OSEC_EAUTH, "no TLS");
    if (osec_tls_psk_identity(ssl, id, sizeof(id)) == 0) {
        *how = OSEC_MSGAUTH_PSK;
        return psk_user(s, id, user, len);
    }
    *how = OSEC_MSGAUTH_CERT;
    OSEC_GUARD(osec_tls_peer_principal(ssl, id, sizeof(id)));
    return principal_user(s->w->st, id, user, len);
}

static void sasl_external(struct ms_session *s, struct osec_buf *out, struct osec_slice authz)
{
    char user[OSEC_STORE_NAME_MAX + 1];
    enum osec_msgauth how = OSEC_MSGAUTH_CERT;

    if (tls_principal(s, user, sizeof(user), &how) < 0) {
        ms_audit(s, "imap.login_failed", "?", "EXTERNAL: no usable certificate or PSK");
        ms_metric_login(MS_MECH_EXTERNAL, MS_LOGIN_CREDENTIALS);
        tagged(out, s->tag, OSEC_IMAP_NO, "AUTHENTICATIONFAILED",
               "no verified client certificate or PSK for a known user");
        return;
    }
    if (authz.len && !osec_slice_eq_cstr(authz, user)) {
        ms_audit(s, "imap.login_denied", user, "EXTERNAL: authorization identity mismatch");
        ms_metric_login(MS_MECH_EXTERNAL, MS_LOGIN_DENIED);
        tagged(out, s->tag, OSEC_IMAP_NO, "AUTHORIZATIONFAILED", "not authorized as that user");
        return;
    }
    (void)finish(s, out, s->tag, user, how, how == OSEC_MSGAUTH_PSK ? "EXTERNAL/PSK" : "EXTERNAL");
}

static void sasl_step(struct ms_session *s, struct osec_buf *out, struct osec_slice msg)
{
    s->mode = MS_CMD;
    if (s->sasl_mech == MECH_PLAIN)
        sasl_plain(s, out, msg);
    else
        sasl_external(s, out, msg);
}

void ms_cmd_authenticate(struct ms_req *r)
{
    struct ms_session *s = r->s;
    const struct osec_imap_arg *ir = osec_imap_arg_at(r->cmd, 1);
    struct osec_buf dec;
    bool cancel = false;

    if (copy_tag(s, r->cmd->tag) < 0) {
        ms_tagged(r, OSEC_IMAP_BAD, NULL, "tag too long");
        return;
    }
    if (osec_imap_arg_is(osec_imap_arg_at(r->cmd, 0), "PLAIN"))
        s->sasl_mech = MECH_PLAIN;
    else if (osec_imap_arg_is(osec_imap_arg_at(r->cmd, 0), "EXTERNAL"))
        s->sasl_mech = MECH_EXTERNAL;
    else {
        ms_tagged(r, OSEC_IMAP_NO, NULL, "unsupported mechanism (PLAIN, EXTERNAL)");
        return;
    }
    if (s->sasl_mech == MECH_PLAIN &&
        !osec_msgpolicy_password_offered(s->w->srv->tls_policy, ms_tls(s))) {
        ms_audit(s, "imap.login_refused", "?", "reason=password-without-tls");
        ms_metric_login(MS_MECH_PLAIN, MS_LOGIN_TLS_REQUIRED);
        ms_tagged(r, OSEC_IMAP_NO, "PRIVACYREQUIRED", "PLAIN needs TLS: use STARTTLS");
        return;
    }
    if (!ir) { /* no initial response: ask for it */
        (void)osec_imap_write_continue(r->out, "");
        s->mode = MS_SASL;
        return;
    }
    osec_buf_init_secret(&dec, SASL_LINE_MAX);
    if (ir->val.len == 1 && ir->val.ptr[0] == '=') /* RFC 4959: empty response */
        sasl_step(s, r->out, osec_slice_make(NULL, 0));
    else if (osec_imap_auth_response(ir->val, &dec, &cancel) < 0 || cancel)
        ms_tagged(r, OSEC_IMAP_BAD, NULL, "bad initial response");
    else
        sasl_step(s, r->out, osec_buf_slice(&dec));
    osec_buf_free(&dec);
}

int ms_sasl_line(struct ms_session *s, const uint8_t *data, size_t len, struct osec_buf *out)
{
    struct osec_slice line;
    struct osec_buf dec;
    size_t used = 0;
    bool cancel = false;
    int rc = osec_imap_line_parse(data, len, SASL_LINE_MAX, &line, &used);

    if (rc == OSEC_IMAP_INCOMPLETE)
        return 0;
    if (rc < 0) {
        tagged(out, s->tag, OSEC_IMAP_BAD, NULL, "bad AUTHENTICATE response");
        s->state = MS_LOGOUT; /* the line cannot be framed: give up */
        return (int)len;
    }
    osec_buf_init_secret(&dec, SASL_LINE_MAX);
    if (osec_imap_auth_response(line, &dec, &cancel) < 0) {
        s->mode = MS_CMD;
        tagged(out, s->tag, OSEC_IMAP_BAD, NULL, "bad base64");
    } else if (cancel) {
        s->mode = MS_CMD;
        tagged(out, s->tag, OSEC_IMAP_BAD, NULL, "AUTHENTICATE cancelled");
    } else {
        sasl_step(s, out, osec_buf_slice(&dec));
    }
    osec_buf_free(&dec);
    return (int)used;
}

/* ---- TLS-PSK ------------------------------------------------------------------------ */

int ms_psk_lookup(void *arg, const char *identity, uint8_t *psk, size_t psk_max,
                  size_t *psk_len)
{
    struct ms *srv = arg;
    struct ms_worker *w = ms_current_worker();

    OSEC_ENSURE(w != NULL, OSEC_EINTERNAL, "PSK lookup outside a worker");
    return osec_lookup_entity_psk(w->st, srv->m, identity, psk, psk_max, psk_len);
}

int ms_psk_preauth(struct ms_session *s)
{
    char user[OSEC_STORE_NAME_MAX + 1];
    enum osec_msgauth how = OSEC_MSGAUTH_PSK;
    struct osec_buf out;
    SSL *ssl = osec_net_conn_ssl(s->c);
    char id[OSEC_STORE_URI_MAX + 1];
    int rc;

    if (!atomic_load(&s->w->srv->psk_preauth) || !ssl || osec_tls_psk_identity(ssl, id, sizeof(id)) < 0)
        return OSEC_ENOTFOUND;
    OSEC_GUARD(tls_principal(s, user, sizeof(user), &how));
    /* finish() answers with a tagged line: keep it out of the greeting */
    osec_buf_init(&out, 1024);
    (void)osec_strlcpy(s->tag, "*", sizeof(s->tag));
    rc = finish(s, &out, "preauth", user, how, "PSK");
    osec_buf_free(&out);
    return rc;
}
