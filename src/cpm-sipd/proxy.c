/* cpm-sipd: what happens to one SIP message.
 *
 *   from a user  REGISTER -> registrar; ACK/CANCEL -> CS unauthenticated
 *                (they cannot be challenged, and carry no asserted
 *                identity); anything else -> 407 until Proxy-Authorization
 *                verifies, then From/P-Preferred-Identity must be the
 *                user's, P-Asserted-Identity is replaced by ours -> CS
 *   from a peer  (IWF, mutual TLS) the same identity checks, identity from
 *                the certificate; its P-Asserted-Identity only if trusted
 *   from the CS  (trust domain) routed to a registered user's binding, to a
 *                flow named in our Record-Route, or to a connected peer; on a
 *                shared store a binding whose connection another instance
 *                holds is reached through that instance (cluster.c)
 *   from another instance  (shared store, Route MAC'd under the cluster
 *                key) delivered over our connection it names, as the CS's
 *   responses    back along the flow named in our Via branch (MAC'd)
 */
#include <stdatomic.h>
#include <string.h>

#include "omasec/error.h"
#include "omasec/log.h"
#include "omasec/util.h"
#include "sipd.h"

#define TXN_TTL_MS 32000 /* 64*T1: Timer J / H */
#define FIELDS_MAX (OSEC_SIP_ROUTE_MAX + 8)
#define BRANCH_COOKIE "z9hG4bK"

struct fwd {
    struct osec_sip_field add[FIELDS_MAX];
    size_t n_add;
    const char *remove[6];
    size_t n_remove;
    char via[SIPD_HOST_MAX + SIPD_TOKEN_MAX + 64];
    char branch[SIPD_TOKEN_MAX + 8];  /* our Via's branch */
    char croute[SIPD_CLUSTER_TOKEN_MAX + OSEC_STORE_NAME_MAX + 16]; /* to another instance */
    char rr[2][SIPD_HOST_MAX + SIPD_TOKEN_MAX + 64];
    char pai[SIPD_AOR_MAX + 2];
    size_t pop;                 /* our Route values on top */
    struct osec_slice token;    /* flow token found in them */
};

static uint64_t now_ms(void)
{
    return osec_time_mono_ms();
}

static void remember(struct sipd_worker *w, const struct sipd_src *src, bool local,
                     const struct osec_buf *bytes, const struct sipd_flow *to)
{
    if (src->flow.tp == TP_UDP && w->key.len)
        sipd_txn_put(w->txns, osec_buf_slice(&w->key), local, bytes->data, bytes->len, to,
                     now_ms(), TXN_TTL_MS);
}

int sipd_reply(struct sipd_worker *w, const struct sipd_src *src, const struct osec_sip_msg *req,
               unsigned status, const char *reason, const struct osec_sip_field *add,
               size_t n_add)
{
    struct osec_sip_reply r;
    char tag[24];

    /* unique without a CSPRNG call per response: random prefix + counter */
    (void)osec_snprintf(tag, sizeof(tag), "%08x%x", (unsigned)w->tag_prefix,
                        (unsigned)++w->tag_seq);
    memset(&r, 0, sizeof(r));
    r.to_tag = tag;
    r.status = status;
    r.reason = reason;
    r.add = add;
    r.n_add = n_add;
    r.via_fix.received = src->ip;
    r.via_fix.rport = src->port;
    OSEC_GUARD(osec_sip_reply(req, &r, &w->out));
    remember(w, src, true, &w->out, &src->flow);
    sipd_metric_response(false, status);
    return sipd_send(w, &src->flow, w->out.data, w->out.len);
}

static void reply(struct sipd_worker *w, const struct sipd_src *src,
                  const struct osec_sip_msg *req, unsigned status, const char *reason)
{
    if (sipd_reply(w, src, req, status, reason, NULL, 0) < 0)
        osec_debug("sip.reply_failed", "peer=%s status=%u error=\"%s\"", src->ip, status,
                   osec_error_msg());
}

/* A request that failed on our side: 503 + Retry-After when the store
 * failed (database down, unreachable or full: temporary, RFC 3261 21.5.4),
 * else 500.  Logged at most once a second with the number of failures
 * not logged since: an outage must not flood the log with a line per
 * request. */
bool sipd_once_a_second(_Atomic int64_t *last)
{
    int64_t now = osec_time_now(), prev = atomic_load(last);

    return now != prev && atomic_compare_exchange_strong(last, &prev, now);
}

void sipd_reply_failure(struct sipd_worker *w, const struct sipd_src *src,
                        const struct osec_sip_msg *m, int rc, const char *event)
{
    static const struct osec_sip_field retry = { "Retry-After", "5" };
    static _Atomic int64_t last_log;
    static atomic_uint_fast64_t quiet;
    bool store = rc == OSEC_ESTORE || osec_error_code() == OSEC_ESTORE;

    if (sipd_once_a_second(&last_log))
        osec_error(event, "peer=%s error=\"%s\" not_logged=%llu", src->ip, osec_error_msg(),
                   (unsigned long long)atomic_exchange(&quiet, 0));
    else
        (void)atomic_fetch_add(&quiet, 1);
    if (!store)
        reply(w, src, m, 500, NULL);
    else if (sipd_reply(w, src, m, 503, "Service Unavailable", &retry, 1) < 0)
        osec_debug("sip.reply_failed", "peer=%s status=503 error=\"%s\"", src->ip,
                   osec_error_msg());
}

/* ---- who sent it ----------------------------------------------------------- */

static void classify(const struct sipd *srv, const struct sipd_src *src,
                     struct osec_sip_principal *who)
{
    memset(who, 0, sizeof(*who));
    if (src->flow.tp == TP_UDP && osec_udp_addr_eq(&src->flow.addr, &srv->cs_addr)) {
        who->kind = OSEC_SIP_PRINCIPAL_CORE;
    } else if (src->peer) {
        who->kind = OSEC_SIP_PRINCIPAL_PEER;
        who->peer = src->peer;
        (void)osec_strlcpy(who->name, src->peer->name, sizeof(who->name));
    } else {
        who->kind = OSEC_SIP_PRINCIPAL_NONE; /* a user, until Digest says which */
    }
}

/* Is this URI one of our listeners (host and port, default port by transport)? */
static bool names_us(const struct sipd *srv, const struct osec_sip_uri *u)
{
    struct osec_slice host = u->host;

    if (host.len > 2 && host.ptr[0] == '[')
        host = osec_slice_sub(host, 1, host.len - 2);
    for (size_t i = 0; i < srv->n_listen; i++) {
        const struct sipd_listen *l = &srv->listen[i];
        uint16_t port = u->port ? u->port
                      : (u->scheme == OSEC_SIP_SCHEME_SIPS || l->tp >= TP_TLS) ? 5061 : 5060;

        if (port == l->port && osec_slice_eq_ci(host, l->host))
            return true;
    }
    /* the instance name, when a wildcard listener stands for it */
    return u->port == srv->inst_port && osec_slice_eq_ci(host, srv->inst_host);
}

/* Our Route values on top (a request record-routed through two of our
 * listeners carries two), and the token of the first that has one: a flow
 * token ("o", ours) or a cluster route ("c", from another instance). */
static void our_routes(const struct sipd *srv, const struct osec_sip_msg *m, struct fwd *f)
{
    struct osec_sip_uri u;

    f->pop = 0;
    f->token = osec_slice_make(NULL, 0);
    while (f->pop < m->n_route && f->pop < 2 &&
           osec_sip_uri_parse(m->route[f->pop].uri, &u) == 0 && names_us(srv, &u)) {
        if (!f->token.len && u.user.len && (u.user.ptr[0] == 'o' || u.user.ptr[0] == 'c'))
            f->token = u.user;
        f->pop++;
    }
}

/* ---- building the forwarded request ------------------------------------------ */

static int add_field(struct fwd *f, const char *name, const char *value)
{
    OSEC_ENSURE(f->n_add < FIELDS_MAX, OSEC_EBOUNDS, "too many added header fields");
    f->add[f->n_add].name = name;
    f->add[f->n_add].value = value;
    f->n_add++;
    return 0;
}

static int make_via(struct sipd_worker *w, const struct sipd_flow *out, const struct sipd_flow *back,
                    struct osec_slice salt, struct fwd *f)
{
    const struct sipd_listen *l = sipd_listen_of(w->srv, out);
    char tok[SIPD_TOKEN_MAX];

    OSEC_GUARD(sipd_flow_token(w->srv, back, salt, tok, sizeof(tok)));
    OSEC_GUARD(osec_snprintf(f->branch, sizeof(f->branch), BRANCH_COOKIE "%s", tok));
    return osec_snprintf(f->via, sizeof(f->via), "SIP/2.0/%s %s%s%s:%u;branch=%s",
                         sipd_tp_name(l->tp), strchr(l->host, ':') ? "[" : "", l->host,
                         strchr(l->host, ':') ? "]" : "", (unsigned)l->port, f->branch);
}

static int make_rr(struct sipd_worker *w, int listen, const struct sipd_flow *flow, char *out,
                   size_t outlen)
{
    const struct sipd_listen *l = &w->srv->listen[listen];
    static const char *const tp[] = { "udp", "tcp", "tls", "tls" };
    char tok[SIPD_TOKEN_MAX];

    OSEC_GUARD(sipd_flow_token(w->srv, flow, osec_slice_make(NULL, 0), tok, sizeof(tok)));
    return osec_snprintf(out, outlen, "<sip:%s@%s%s%s:%u;transport=%s;lr>", tok,
                         strchr(l->host, ':') ? "[" : "", l->host,
                         strchr(l->host, ':') ? "]" : "", (unsigned)l->port, tp[l->tp]);
}

static bool dialog_forming(const struct osec_sip_msg *m)
{
    return m->to.tag.len == 0 &&
           (m->method_id == OSEC_SIP_M_INVITE || m->method_id == OSEC_SIP_M_SUBSCRIBE ||
            m->method_id == OSEC_SIP_M_REFER);
}

/* Record-Route through the listener facing each side (RFC 5658 double
 * record-routing when they differ); both name the user-side flow, so the
 * CS's in-dialog requests find their way back without a registrar lookup. */
static int record_route(struct sipd_worker *w, const struct osec_sip_msg *m, int in_listen,
                        int out_listen, const struct sipd_flow *user_flow, struct fwd *f)
{
    if (!dialog_forming(m))
        return 0;
    OSEC_GUARD(make_rr(w, out_listen, user_flow, f->rr[0], sizeof(f->rr[0])));
    OSEC_GUARD(add_field(f, "Record-Route", f->rr[0]));
    if (in_listen == out_listen)
        return 0;
    OSEC_GUARD(make_rr(w, in_listen, user_flow, f->rr[1], sizeof(f->rr[1])));
    return add_field(f, "Record-Route", f->rr[1]);
}

/* Drop our Route values: remove every Route line and put the others back
 * (as separate lines, same order) from w->tmp. */
static int keep_other_routes(struct sipd_worker *w, const struct osec_sip_msg *m, struct fwd *f)
{
    size_t off[OSEC_SIP_ROUTE_MAX], n = 0;

    if (f->pop == 0)
        return 0;
    f->remove[f->n_remove++] = "Route";
    osec_buf_reset(&w->tmp);
    for (size_t i = f->pop; i < m->n_route; i++) {
        off[n++] = w->tmp.len;
        OSEC_GUARD(osec_buf_append_slice(&w->tmp, m->route[i].raw));
        OSEC_GUARD(osec_buf_putc(&w->tmp, '\0'));
    }
    for (size_t i = 0; i < n; i++)
        OSEC_GUARD(add_field(f, "Route", (const char *)w->tmp.data + off[i]));
    return 0;
}

static int forward(struct sipd_worker *w, const struct sipd_src *src,
                   const struct osec_sip_msg *m, struct fwd *f, const char *ruri,
                   const struct sipd_flow *dest)
{
    struct osec_sip_edit e;
    int rc;

    f->remove[f->n_remove] = NULL;
    memset(&e, 0, sizeof(e));
    e.request_uri = ruri;
    e.via = f->via;
    e.via_fix.received = src->ip;
    e.via_fix.rport = src->port;
    e.remove = f->remove;
    e.add = f->add;
    e.n_add = f->n_add;
    rc = osec_sip_forward(m, &e, &w->out);
    if (rc == OSEC_EPOLICY) {
        reply(w, src, m, 483, NULL);
        return 0;
    }
    OSEC_GUARD(rc);
    remember(w, src, false, &w->out, dest);
    rc = sipd_send(w, dest, w->out.data, w->out.len);
    if (rc < 0 && m->method_id != OSEC_SIP_M_ACK) {
        osec_info("sip.forward_failed", "peer=%s method=%.*s error=\"%s\"", src->ip,
                  (int)m->method.len, (const char *)m->method.ptr, osec_error_msg());
        reply(w, src, m, 430, "Flow Failed");
    }
    return 0;
}

/* ---- toward the Conversation Server ---------------------------------------- */

static int to_cs(struct sipd_worker *w, const struct sipd_src *src, const struct osec_sip_msg *m,
                 const char *pai, bool keep_pai)
{
    struct sipd *srv = w->srv;
    struct sipd_flow cs;
    struct fwd f;

    memset(&cs, 0, sizeof(cs));
    cs.tp = TP_UDP;
    cs.listen = (uint8_t)srv->cs_listen;
    cs.addr = srv->cs_addr;
    memset(&f, 0, sizeof(f));
    our_routes(srv, m, &f);
    if (!keep_pai) {
        f.remove[f.n_remove++] = "P-Asserted-Identity";
        if (m->n_pai)
            osec_metric_inc(sipd_m.pai_stripped);
    }
    f.remove[f.n_remove++] = "P-Preferred-Identity";
    f.remove[f.n_remove++] = "Proxy-Authorization";
    OSEC_GUARD(make_via(w, &cs, &src->flow, m->via[0].branch, &f));
    if (pai) {
        OSEC_GUARD(osec_snprintf(f.pai, sizeof(f.pai), "<%s>", pai));
        OSEC_GUARD(add_field(&f, "P-Asserted-Identity", f.pai));
    }
    OSEC_GUARD(record_route(w, m, src->flow.listen, srv->cs_listen, &src->flow, &f));
    OSEC_GUARD(keep_other_routes(w, m, &f));
    return forward(w, src, m, &f, NULL, &cs);
}

static void refuse(struct sipd_worker *w, const struct sipd_src *src,
                   const struct osec_sip_msg *m, const struct osec_sip_principal *who,
                   const char *reason)
{
    sipd_audit(w->srv, "sip.reject", who->name, src->ip, "method=%.*s status=403 reason=%s",
               (int)m->method.len, (const char *)m->method.ptr, reason);
    osec_info("sip.reject", "peer=%s who=\"%s\" method=%.*s reason=\"%s\"", src->ip, who->name,
              (int)m->method.len, (const char *)m->method.ptr, reason);
    reply(w, src, m, 403, reason);
}

/* A user's or a peer's request: assert its identity, then to the CS. */
static int asserted_to_cs(struct sipd_worker *w, const struct sipd_src *src,
                          const struct osec_sip_msg *m, const struct osec_sip_principal *who)
{
    char pai[SIPD_AOR_MAX], reason[OSEC_SIP_REASON_MAX] = "";
    int rc;

    if (osec_sip_policy_trusts_pai(who) && m->n_pai > 0)
        return to_cs(w, src, m, NULL, true);
    rc = osec_sip_policy_assert(&w->db, who, m, pai, sizeof(pai), reason, sizeof(reason));
    if (rc == OSEC_EPERM) {
        osec_metric_inc(sipd_m.spoof[who->kind == OSEC_SIP_PRINCIPAL_PEER]);
        refuse(w, src, m, who, reason[0] ? reason : "Identity Not Allowed");
        return 0;
    }
    if (rc < 0) {
        sipd_reply_failure(w, src, m, rc, "sip.assert_error");
        return rc;
    }
    return to_cs(w, src, m, pai, false);
}

static void auth_failed(struct sipd_worker *w, const struct sipd_src *src,
                        const struct osec_sip_msg *m, struct osec_sipauth_result *res,
                        bool proxy)
{
    struct osec_sip_field f = { "Retry-After", NULL };
    char ra[16];

    if (res->status == 401) {
        if (res->creds.username.len)
            sipd_audit(w->srv, "sip.auth.failed", "", src->ip, "method=%.*s user=%.*s",
                       (int)m->method.len, (const char *)m->method.ptr,
                       (int)(res->creds.username.len > 128 ? 128 : res->creds.username.len),
                       (const char *)res->creds.username.ptr);
        (void)sipd_challenge(w, src, m, proxy, res->stale);
    } else if (res->status == 403 && res->retry_after) {
        (void)osec_snprintf(ra, sizeof(ra), "%u", res->retry_after);
        f.value = ra;
        (void)sipd_reply(w, src, m, 403, res->reason, &f, 1);
    } else {
        reply(w, src, m, res->status, res->reason);
    }
}

/* What became of an authentication, for the metrics.  A replayed
 * nonce-count and wrong credentials get the same answer (401); the code the
 * Digest server recorded tells them apart. */
static enum sipd_auth_outcome outcome(const struct osec_sipauth_result *res)
{
    if (res->status == 0)
        return SIPD_AUTH_OK;
    if (res->status == 400)
        return SIPD_AUTH_MALFORMED;
    if (res->status == 403)
        return SIPD_AUTH_RATE_LIMITED;
    if (res->stale)
        return SIPD_AUTH_STALE;
    if (res->creds.username.len == 0)
        return SIPD_AUTH_CHALLENGED;
    return osec_error_code() == OSEC_EREPLAY ? SIPD_AUTH_REPLAY : SIPD_AUTH_BAD_CREDENTIALS;
}

/* Digest of a request; 1 when authenticated (who filled), 0 when answered. */
int sipd_authenticate(struct sipd_worker *w, const struct sipd_src *src,
                      const struct osec_sip_msg *m, bool proxy, struct osec_sipauth_result *res,
                      struct osec_sip_principal *who)
{
    struct osec_sipauth a = { sipd_digest(w->srv), w->srv->rl };
    struct osec_sipauth_req ar;
    int rc;

    memset(&ar, 0, sizeof(ar));
    ar.method = m->method;
    ar.uri = m->ruri_raw;
    ar.body = m->body;
    ar.credentials = proxy ? m->proxy_authorization : m->authorization;
    ar.n_credentials = proxy ? m->n_proxy_authorization : m->n_authorization;
    ar.realm = w->srv->realm;
    ar.peer_ip = src->ip;
    ar.cache = w->cache;
    osec_error_clear();
    rc = osec_sipauth_check(&a, &w->lookup, &ar, res);
    if (rc < 0) {
        osec_metric_inc(sipd_m.auth[SIPD_AUTH_ERROR]);
        sipd_reply_failure(w, src, m, rc, "sip.auth_error");
        return 0;
    }
    osec_metric_inc(sipd_m.auth[outcome(res)]);
    if (res->status != 0) {
        auth_failed(w, src, m, res, proxy);
        return 0;
    }
    who->kind = OSEC_SIP_PRINCIPAL_USER;
    (void)osec_strlcpy(who->name, res->user, sizeof(who->name));
    return 1;
}

static bool options_to_us(const struct sipd *srv, const struct osec_sip_msg *m)
{
    return m->method_id == OSEC_SIP_M_OPTIONS && m->ruri.user.len == 0 &&
           m->ruri.scheme != OSEC_SIP_SCHEME_TEL && names_us(srv, &m->ruri);
}

static void from_user(struct sipd_worker *w, const struct sipd_src *src,
                      const struct osec_sip_msg *m, struct osec_sip_principal *who)
{
    struct osec_sipauth_result *res = &w->auth_res;

    if (m->method_id == OSEC_SIP_M_REGISTER) {
        sipd_register(w, src, m);
        return;
    }
    if (m->method_id == OSEC_SIP_M_ACK || m->method_id == OSEC_SIP_M_CANCEL) {
        (void)to_cs(w, src, m, NULL, false);
        return;
    }
    if (sipd_authenticate(w, src, m, true, res, who) == 1) {
        (void)asserted_to_cs(w, src, m, who);
        osec_sipauth_done(res);
    }
}

static void from_peer(struct sipd_worker *w, const struct sipd_src *src,
                      const struct osec_sip_msg *m, const struct osec_sip_principal *who)
{
    if (m->method_id == OSEC_SIP_M_REGISTER) {
        osec_metric_inc(sipd_m.reg_refused[SIPD_REG_NOT_A_USER]);
        refuse(w, src, m, who, "Peers Do Not Register");
        return;
    }
    if (m->method_id == OSEC_SIP_M_ACK || m->method_id == OSEC_SIP_M_CANCEL) {
        (void)to_cs(w, src, m, NULL, osec_sip_policy_trusts_pai(who));
        return;
    }
    (void)asserted_to_cs(w, src, m, who);
}

/* ---- from the Conversation Server -------------------------------------------- */

static int peer_flow(struct sipd_worker *w, const char *aor, struct sipd_flow *dest)
{
    struct sipd *srv = w->srv;
    struct sipd_peerset *ps = sipd_peers(srv);
    const struct osec_sip_peer *p = osec_sip_peer_for_aor(ps->p, ps->n, aor);
    uint64_t id = p ? atomic_load(&ps->conn[p - ps->p]) : 0;

    if (!id)
        return OSEC_ENOTFOUND;
    memset(dest, 0, sizeof(*dest));
    dest->tp = TP_IWF;
    dest->conn = id;
    for (size_t i = 0; i < srv->n_listen; i++)
        if (srv->listen[i].tp == TP_IWF)
            dest->listen = (uint8_t)i;
    return 0;
}

/* A binding we found but cannot reach, or a store that did not answer. */
static unsigned unreachable(const char *aor, int rc)
{
    osec_warn(rc == OSEC_EPOLICY ? "sip.binding_unreachable" : "sip.registrar_error",
              "aor=%s error=\"%s\"", aor, osec_error_msg());
    return rc == OSEC_EPOLICY ? 480 : 500;
}

/* Where a request of the CS for aor goes: 0 with dest (and ruri/path for a
 * binding; rem->via when through another instance), or the status to answer. */
static unsigned locate(struct sipd_worker *w, const char *aor, struct sipd_flow *dest,
                       struct sipd_binding *b, struct sipd_remote *rem)
{
    char owner[OSEC_STORE_NAME_MAX + 1];
    int rc;

    rem->via = false;
    if (w->srv->shared) {
        /* the store, not memory: another instance may have changed the AOR */
        rc = sipd_sreg_route(w, aor, osec_time_now(), b, dest, rem);
        if (rc < 0)
            return unreachable(aor, rc);
        if (rc == 1)
            return 0;
    } else if (sipd_reg_get(w->srv->reg, aor, osec_time_now(), b, 1) == 1) {
        *dest = b->flow;
        return 0;
    }
    b->contact[0] = b->path[0] = '\0';
    if (peer_flow(w, aor, dest) == 0)
        return 0;
    rc = strlen(aor) > OSEC_STORE_URI_MAX ? OSEC_ENOTFOUND
         : osec_sip_db_owner(&w->db, aor, owner, sizeof(owner));
    return rc == 0 ? 480 : rc == OSEC_ENOTFOUND ? 404 : 500;
}

/* The Route that takes a request to the instance holding the connection,
 * naming the connection there (cluster.c). */
static int cluster_route(struct sipd_worker *w, const struct osec_sip_msg *m,
                         const struct sipd_remote *rem, struct fwd *f)
{
    char tok[SIPD_CLUSTER_TOKEN_MAX];

    OSEC_GUARD(sipd_cluster_token(w->srv, rem->instance, &rem->flow, osec_slice_cstr(f->branch),
                                  m, osec_time_now(), tok, sizeof(tok)));
    OSEC_GUARD(osec_snprintf(f->croute, sizeof(f->croute), "<sip:%s@%s;lr>", tok,
                             rem->instance));
    return add_field(f, "Route", f->croute);
}

static void from_core(struct sipd_worker *w, const struct sipd_src *src,
                      const struct osec_sip_msg *m)
{
    struct sipd *srv = w->srv;
    struct sipd_binding *b = &w->binding;
    char aor[SIPD_AOR_MAX];
    struct sipd_remote rem;
    struct sipd_flow dest;
    unsigned status = 0;
    struct fwd f;

    memset(&f, 0, sizeof(f));
    our_routes(srv, m, &f);
    rem.via = false;
    b->contact[0] = b->path[0] = '\0';
    if (f.token.len) {
        if (sipd_flow_parse(srv, f.token, osec_slice_make(NULL, 0), &dest) < 0)
            status = 404;
    } else if (m->n_route > f.pop) {
        status = 404; /* we route to our users and peers only, not where Route says */
    } else if (osec_sip_policy_aor(m->ruri_raw, aor, sizeof(aor)) < 0) {
        status = 404;
    } else {
        status = locate(w, aor, &dest, b, &rem);
    }
    if (status) {
        reply(w, src, m, status, NULL);
        return;
    }
    /* through another instance: it record-routes, being the one the UA's
     * connection reaches */
    if (make_via(w, &dest, &src->flow, m->via[0].branch, &f) < 0 ||
        (rem.via && cluster_route(w, m, &rem, &f) < 0) ||
        (b->path[0] && add_field(&f, "Route", b->path) < 0) ||
        (!rem.via && record_route(w, m, src->flow.listen, dest.listen, &dest, &f) < 0) ||
        keep_other_routes(w, m, &f) < 0 ||
        forward(w, src, m, &f, b->contact[0] ? b->contact : NULL, &dest) < 0) {
        osec_warn("sip.forward_error", "error=\"%s\"", osec_error_msg());
        reply(w, src, m, 500, NULL);
    }
}

/* A request another instance sent on for one of our connections: the CS's
 * request, if the cluster route verifies (cluster.c). */
static void from_cluster(struct sipd_worker *w, const struct sipd_src *src,
                         const struct osec_sip_msg *m, struct fwd *f)
{
    struct sipd_flow dest;

    if (sipd_cluster_verify(w->srv, f->token, m, osec_time_now(), &dest) < 0) {
        osec_warn("cluster.route_refused", "peer=%s:%u error=\"%s\"", src->ip,
                  (unsigned)src->port, osec_error_msg());
        sipd_audit(w->srv, "sip.reject", "", src->ip, "method=%.*s status=403 reason=%s",
                   (int)m->method.len, (const char *)m->method.ptr, "bad cluster route");
        reply(w, src, m, 403, "Bad Cluster Route");
        return;
    }
    if (make_via(w, &dest, &src->flow, m->via[0].branch, f) < 0 ||
        record_route(w, m, src->flow.listen, dest.listen, &dest, f) < 0 ||
        keep_other_routes(w, m, f) < 0 || forward(w, src, m, f, NULL, &dest) < 0) {
        osec_warn("sip.forward_error", "error=\"%s\"", osec_error_msg());
        reply(w, src, m, 500, NULL);
    }
}

/* Does the request carry a cluster route to us (UDP, shared store only)? */
static bool cluster_routed(const struct sipd *srv, const struct sipd_src *src,
                           const struct osec_sip_msg *m, struct fwd *f)
{
    if (!srv->shared || src->flow.tp != TP_UDP)
        return false;
    memset(f, 0, sizeof(*f));
    our_routes(srv, m, f);
    return f->token.len > 0 && f->token.ptr[0] == 'c';
}

/* ---- entry points ----------------------------------------------------------- */

/* 1 when the request is a retransmission (handled here).  Only requests
 * with credentials are remembered: running any other one again does no
 * harm (a new challenge; the same stateless forwarding), while verifying
 * the same Digest twice is a nonce-count replay. */
static int retransmission(struct sipd_worker *w, const struct sipd_src *src,
                          const struct osec_sip_msg *m)
{
    struct sipd_txn_hit hit;

    osec_buf_reset(&w->key);
    if (m->n_authorization == 0 && m->n_proxy_authorization == 0 &&
        m->method_id != OSEC_SIP_M_INVITE && m->method_id != OSEC_SIP_M_ACK)
        return 0; /* an INVITE's 407 is kept so that its ACK is absorbed */
    if (src->flow.tp != TP_UDP || !sipd_txn_key(m, src, &w->key) ||
        sipd_txn_find(w->txns, osec_buf_slice(&w->key), now_ms(), &hit) == 0)
        return 0;
    if (m->method_id != OSEC_SIP_M_ACK || hit.local)
        osec_metric_inc(sipd_m.retransmissions);
    if (m->method_id == OSEC_SIP_M_ACK) {
        if (!hit.local)
            return 0; /* ACK of a forwarded INVITE's failure: goes on, hop by hop */
        return 1;     /* ACK of our own final response: absorbed */
    }
    if (sipd_send(w, &hit.to, hit.bytes, hit.len) < 0)
        osec_debug("sip.retransmit_failed", "error=\"%s\"", osec_error_msg());
    return 1;
}

static void on_request(struct sipd_worker *w, const struct sipd_src *src,
                       const struct osec_sip_msg *m)
{
    struct osec_sip_principal who;
    struct fwd f;

    if (!osec_slice_starts_ci(m->via[0].branch, BRANCH_COOKIE)) {
        osec_buf_reset(&w->key);
        if (m->method_id != OSEC_SIP_M_ACK)
            reply(w, src, m, 400, "Missing RFC 3261 Branch");
        return;
    }
    if (retransmission(w, src, m))
        return;
    classify(w->srv, src, &who);
    if (m->max_forwards == 0 && m->method_id != OSEC_SIP_M_ACK) {
        reply(w, src, m, 483, NULL);
        return;
    }
    if (options_to_us(w->srv, m)) {
        reply(w, src, m, 200, NULL);
        return;
    }
    if (who.kind == OSEC_SIP_PRINCIPAL_CORE)
        from_core(w, src, m);
    else if (cluster_routed(w->srv, src, m, &f))
        from_cluster(w, src, m, &f);
    else if (who.kind == OSEC_SIP_PRINCIPAL_PEER)
        from_peer(w, src, m, &who);
    else
        from_user(w, src, m, &who);
}

static void on_response(struct sipd_worker *w, const struct sipd_src *src,
                        const struct osec_sip_msg *m)
{
    static const char *const strip[] = { "P-Asserted-Identity", NULL };
    struct osec_sip_principal who;
    struct osec_sip_edit e;
    struct sipd_flow back;
    struct osec_slice b = m->via[0].branch;

    if (m->n_via < 2 || !osec_slice_starts_ci(b, BRANCH_COOKIE) ||
        sipd_flow_parse(w->srv, osec_slice_sub(b, 7, b.len), m->via[1].branch, &back) < 0) {
        osec_debug("sip.response_dropped", "peer=%s status=%u reason=not-ours", src->ip,
                   m->status);
        return;
    }
    classify(w->srv, src, &who);
    memset(&e, 0, sizeof(e));
    e.pop_via = true;
    if (!osec_sip_policy_trusts_pai(&who))
        e.remove = strip;
    if (osec_sip_forward(m, &e, &w->out) < 0 ||
        sipd_send(w, &back, w->out.data, w->out.len) < 0) {
        osec_debug("sip.response_undeliverable", "peer=%s status=%u error=\"%s\"", src->ip,
                   m->status, osec_error_msg());
        return;
    }
    if (e.remove && m->n_pai)
        osec_metric_inc(sipd_m.pai_stripped);
    sipd_metric_response(true, m->status);
}

static void handle(struct sipd_worker *w, const struct sipd_src *src,
                   const struct osec_sip_msg *m, uint64_t t0)
{
    if (!m->is_request) {
        on_response(w, src, m);
        return;
    }
    osec_metric_inc(sipd_m.requests[m->method_id < SIPD_METHODS ? m->method_id : 0]);
    on_request(w, src, m);
    if (sipd_m.latency)
        osec_metric_observe_us(sipd_m.latency, osec_time_mono_us() - t0);
}

static void bad_message(struct sipd_worker *w, const struct sipd_src *src,
                        const struct osec_sip_msg *m)
{
    osec_info("sip.bad_message", "peer=%s:%u status=%u reason=\"%s\"", src->ip,
              (unsigned)src->port, m->err_status, m->err_reason ? m->err_reason : "");
    osec_buf_reset(&w->key);
    osec_metric_inc(sipd_m.malformed);
    if (m->framed && m->is_request && m->err_status)
        reply(w, src, m, m->err_status, m->err_reason);
}

void sipd_on_datagram(struct sipd_worker *w, const struct sipd_src *src, const uint8_t *data,
                      size_t len)
{
    struct osec_sip_msg *m = w->msg;
    uint64_t t0;

    if (len <= 4 && (len == 0 || data[0] == '\r' || data[0] == '\n'))
        return; /* keep-alive (RFC 5626 4.4.1 uses STUN; plain CRLFs are common) */
    t0 = sipd_m.latency ? osec_time_mono_us() : 0;
    if (osec_sip_parse(osec_slice_make(data, len), 0, w->srv->max_msg, m) < 0) {
        bad_message(w, src, m);
        return;
    }
    handle(w, src, m, t0);
}

ssize_t sipd_on_stream(struct sipd_worker *w, const struct sipd_src *src, const uint8_t *data,
                       size_t len)
{
    struct osec_sip_msg *m = w->msg;
    uint64_t t0 = sipd_m.latency ? osec_time_mono_us() : 0;
    int rc = osec_sip_parse(osec_slice_make(data, len), OSEC_SIP_STREAM, w->srv->max_msg, m);

    if (rc == OSEC_SIP_NEED_MORE)
        return (ssize_t)m->consumed; /* leading CRLFs (keep-alives) may go */
    if (rc < 0) {
        bad_message(w, src, m);
        return -1; /* framing lost */
    }
    handle(w, src, m, t0);
    return (ssize_t)m->consumed;
}
