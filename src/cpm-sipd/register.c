/* cpm-sipd registrar: REGISTER (RFC 3261 10.3, RFC 3327 Path).  Accepted
 * only from an authenticated user, for an AOR allocated to that user
 * (seed 000 4.3.1; the decision is osec_sip_policy_register). */
#include <string.h>

#include "omasec/error.h"
#include "omasec/log.h"
#include "omasec/util.h"
#include "sipd.h"

int sipd_challenge(struct sipd_worker *w, const struct sipd_src *src,
                   const struct osec_sip_msg *req, bool proxy, bool stale)
{
    struct osec_digest_server *d = sipd_digest(w->srv);
    struct osec_buf nonce = OSEC_BUF_INIT(2 * OSEC_DIGEST_NONCE_LEN);
    struct osec_sip_field f[OSEC_DIGEST_ALG_COUNT];
    size_t off[OSEC_DIGEST_ALG_COUNT], n = osec_digest_server_alg_count(d);
    int rc;

    osec_buf_reset(&w->tmp);
    /* one nonce, one header field per algorithm in preference order (RFC 8760 2.4) */
    OSEC_CHECK(rc, osec_digest_server_nonce(d, osec_slice_make(NULL, 0), &nonce));
    for (size_t i = 0; i < n && i < OSEC_DIGEST_ALG_COUNT; i++) {
        off[i] = w->tmp.len;
        OSEC_CHECK(rc, osec_digest_server_challenge_one(d, i, osec_buf_slice(&nonce), stale,
                                                        &w->tmp));
        OSEC_CHECK(rc, osec_buf_putc(&w->tmp, '\0'));
    }
    for (size_t i = 0; i < n && i < OSEC_DIGEST_ALG_COUNT; i++) {
        f[i].name = proxy ? "Proxy-Authenticate" : "WWW-Authenticate";
        f[i].value = (const char *)w->tmp.data + off[i];
    }
    rc = sipd_reply(w, src, req, proxy ? 407 : 401, NULL, f,
                    n < OSEC_DIGEST_ALG_COUNT ? n : OSEC_DIGEST_ALG_COUNT);
out:
    osec_buf_free(&nonce);
    return rc;
}

/* RFC 3261 10.3 steps 6-7: expiry of one contact; 423 when too brief. */
static unsigned contact_expires(const struct sipd *srv, const struct osec_sip_msg *m,
                                const struct osec_sip_nameaddr *c, uint32_t *out)
{
    uint32_t e = c->has_expires ? c->expires : m->has_expires ? m->expires
                                                              : srv->default_expires;

    if (e > srv->max_expires)
        e = srv->max_expires;
    if (e > 0 && e < srv->min_expires)
        return 423;
    *out = e;
    return 0;
}

static unsigned parse_contacts(const struct sipd *srv, const struct osec_sip_msg *m,
                               struct sipd_contacts *c)
{
    struct osec_sip_uri u;
    unsigned st;

    c->n = 0;
    c->star = m->n_contact == 1 && m->contact[0].star;
    if (c->star)
        return m->has_expires && m->expires == 0 ? 0 : 400;
    for (size_t i = 0; i < m->n_contact; i++) {
        if (m->contact[i].star || osec_sip_uri_parse(m->contact[i].uri, &u) < 0 ||
            osec_slice_to_cstr(m->contact[i].uri, c->uri[i], sizeof(c->uri[i])) < 0)
            return 400;
        if ((st = contact_expires(srv, m, &m->contact[i], &c->u[i].expires)) != 0)
            return st;
        c->u[i].contact = c->uri[i];
        c->n++;
    }
    return 0;
}

/* Path header values (RFC 3327), joined. */
static int path_of(const struct osec_sip_msg *m, char *out, size_t outlen)
{
    struct osec_buf b = OSEC_BUF_INIT(SIPD_PATH_HDR_MAX);
    int rc = 0;

    out[0] = '\0';
    for (long i = osec_sip_header_find(m, "Path", 0); i >= 0 && rc == 0;
         i = osec_sip_header_find(m, "Path", (size_t)i + 1)) {
        if (b.len)
            rc = osec_buf_append_str(&b, ", ");
        if (rc == 0)
            rc = osec_buf_append_slice(&b, m->headers[i].value);
    }
    if (rc == 0 && b.len)
        rc = osec_strlcpy(out, osec_buf_cstr(&b), outlen);
    osec_buf_free(&b);
    return rc;
}

static int proto_binding(struct sipd_worker *w, const struct sipd_src *src,
                         const struct osec_sip_msg *m, const char *user, struct sipd_binding *b)
{
    memset(b, 0, sizeof(*b));
    OSEC_GUARD(osec_slice_to_cstr(m->call_id, b->call_id, sizeof(b->call_id)));
    OSEC_GUARD(path_of(m, b->path, sizeof(b->path)));
    OSEC_GUARD(osec_strlcpy(b->user, user, sizeof(b->user)));
    b->cseq = m->cseq;
    b->flow = src->flow;
    (void)w;
    return 0;
}

/* 200 OK listing every current binding (list, n) with its remaining time. */
static void ok(struct sipd_worker *w, const struct sipd_src *src, const struct osec_sip_msg *m,
               const struct sipd_binding *list, size_t n, const char *path)
{
    struct osec_sip_field f[OSEC_SIP_CONTACT_MAX + 1];
    size_t off[OSEC_SIP_CONTACT_MAX + 1], k = 0;
    int64_t now = osec_time_now();
    int rc = 0;

    osec_buf_reset(&w->tmp);
    for (size_t i = 0; i < n && i < OSEC_SIP_CONTACT_MAX && rc == 0; i++) {
        off[k] = w->tmp.len;
        f[k++].name = "Contact";
        rc = osec_buf_appendf(&w->tmp, "<%s>;expires=%lld%c", list[i].contact,
                              (long long)(list[i].expires - now), '\0');
    }
    if (path[0] && rc == 0) {
        off[k] = w->tmp.len;
        f[k++].name = "Path";
        rc = osec_buf_appendf(&w->tmp, "%s%c", path, '\0');
    }
    for (size_t i = 0; i < k; i++)
        f[i].value = (const char *)w->tmp.data + off[i];
    if (rc < 0 || sipd_reply(w, src, m, 200, NULL, f, k) < 0)
        osec_warn("sip.reply_failed", "status=200 error=\"%s\"", osec_error_msg());
}

static void simple(struct sipd_worker *w, const struct sipd_src *src,
                   const struct osec_sip_msg *m, unsigned status, const char *reason)
{
    struct osec_sip_field f = { "Min-Expires", NULL };
    char v[16];

    if (status == 423) {
        (void)osec_snprintf(v, sizeof(v), "%u", (unsigned)w->srv->min_expires);
        f.value = v;
    }
    if (sipd_reply(w, src, m, status, reason, f.value ? &f : NULL, f.value ? 1 : 0) < 0)
        osec_debug("sip.reply_failed", "status=%u error=\"%s\"", status, osec_error_msg());
}

static void audit_change(struct sipd_worker *w, const struct sipd_src *src, const char *user,
                         const char *aor, const struct sipd_contacts *c, unsigned added,
                         unsigned removed)
{
    const char *first = c->n ? c->uri[0] : "*";

    if (added)
        sipd_audit(w->srv, "sip.register", user, aor, "added=%u contact=%s transport=%s source=%s:%u",
                   added, first, sipd_tp_name(src->flow.tp), src->ip, (unsigned)src->port);
    if (removed)
        sipd_audit(w->srv, "sip.unregister", user, aor, "removed=%u contact=%s source=%s:%u",
                   removed, first, src->ip, (unsigned)src->port);
    if (added || removed)
        osec_info("sip.register", "user=%s aor=%s added=%u removed=%u peer=%s:%u", user, aor,
                  added, removed, src->ip, (unsigned)src->port);
}

/* Why a change of the bindings failed, answered. */
static void apply_failed(struct sipd_worker *w, const struct sipd_src *src,
                         const struct osec_sip_msg *m, const char *user, const char *aor, int rc)
{
    static const struct osec_sip_field retry = { "Retry-After", "5" };

    if (rc == OSEC_EREPLAY) {
        osec_metric_inc(sipd_m.reg_refused[SIPD_REG_OUT_OF_ORDER]);
        simple(w, src, m, 500, "Out Of Order CSeq");
        return;
    }
    osec_metric_inc(sipd_m.reg_refused[rc == OSEC_EBOUNDS ? SIPD_REG_TOO_MANY_CONTACTS
                                                          : SIPD_REG_ERROR]);
    osec_warn("sip.register_failed", "user=%s aor=%s error=\"%s\"", user, aor, osec_error_msg());
    if (rc == OSEC_EBOUNDS)
        simple(w, src, m, 403, "Too Many Contacts");
    else if (rc == OSEC_ENOTFOUND && w->srv->shared)
        simple(w, src, m, 403, "Unknown User"); /* deleted since authenticated */
    else if (!w->srv->shared)
        simple(w, src, m, 500, NULL);
    else if (sipd_reply(w, src, m, 503, "Registrar Store Unavailable", &retry, 1) < 0)
        osec_debug("sip.reply_failed", "status=503 error=\"%s\"", osec_error_msg());
}

/* The contacts into the registrar: memory, or the shared store (whose
 * writes are done before the 200, and leave memory untouched). */
static int change(struct sipd_worker *w, const char *aor, const struct sipd_contacts *c,
                  unsigned *added, unsigned *removed, size_t *n_list)
{
    int64_t now = osec_time_now();
    int rc;

    if (w->srv->shared)
        return sipd_sreg_apply(w, aor, &w->binding, c->u, c->n, c->star, now, added, removed,
                               n_list);
    rc = sipd_reg_apply(w->srv->reg, aor, &w->binding, c->u, c->n, c->star, now, added,
                        removed);
    if (rc == 0)
        *n_list = sipd_reg_get(w->srv->reg, aor, now, w->reg_list, OSEC_SIP_CONTACT_MAX);
    return rc;
}

static bool binds(const struct sipd_contacts *c)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->u[i].expires > 0)
            return true;
    return false;
}

static void apply(struct sipd_worker *w, const struct sipd_src *src, const struct osec_sip_msg *m,
                  const struct osec_sip_principal *who, const char *aor, struct sipd_contacts *c)
{
    unsigned added = 0, removed = 0;
    size_t n_list = 0;
    int rc;

    if (proto_binding(w, src, m, who->name, &w->binding) < 0) {
        osec_metric_inc(sipd_m.reg_refused[SIPD_REG_BAD_REQUEST]);
        simple(w, src, m, 400, "Bad Call-ID Or Path");
        return;
    }
    rc = change(w, aor, c, &added, &removed, &n_list);
    if (rc < 0) {
        apply_failed(w, src, m, who->name, aor, rc);
        return;
    }
    osec_metric_inc(sipd_m.reg_accepted);
    if (!w->srv->shared)
        osec_metric_add(sipd_m.bindings, (int64_t)added - (int64_t)removed);
    /* a refresh over a new connection moves the binding onto it too */
    if (src->flow.tp != TP_UDP && binds(c))
        sipd_conn_mark_registered(w, src->flow.conn);
    audit_change(w, src, who->name, aor, c, added, removed);
    ok(w, src, m, w->reg_list, n_list, w->binding.path);
}

/* A query: the current bindings. */
static void query(struct sipd_worker *w, const struct sipd_src *src, const struct osec_sip_msg *m,
                  const char *aor)
{
    int64_t now = osec_time_now();
    int n;

    if (w->srv->shared)
        n = sipd_sreg_get(w, aor, now, w->reg_list, OSEC_SIP_CONTACT_MAX);
    else
        n = (int)sipd_reg_get(w->srv->reg, aor, now, w->reg_list, OSEC_SIP_CONTACT_MAX);
    if (n < 0) {
        apply_failed(w, src, m, "-", aor, n);
        return;
    }
    osec_metric_inc(sipd_m.reg_accepted);
    ok(w, src, m, w->reg_list, (size_t)n, "");
}

static void registrar(struct sipd_worker *w, const struct sipd_src *src,
                      const struct osec_sip_msg *m, const struct osec_sip_principal *who)
{
    char aor[SIPD_AOR_MAX], reason[OSEC_SIP_REASON_MAX] = "";
    struct sipd_contacts *c = &w->contacts;
    unsigned st;
    int rc;

    rc = osec_sip_policy_register(&w->db, who, m->to.uri, aor, sizeof(aor), reason,
                                  sizeof(reason));
    if (rc == OSEC_EPERM) {
        osec_metric_inc(sipd_m.reg_refused[SIPD_REG_AOR_NOT_ALLOCATED]);
        sipd_audit(w->srv, "sip.register.refused", who->name, src->ip, "to=%.*s reason=%s",
                   (int)(m->to.uri.len > 256 ? 256 : m->to.uri.len),
                   (const char *)m->to.uri.ptr, reason);
        osec_info("sip.register_refused", "user=%s peer=%s reason=\"%s\"", who->name, src->ip,
                  reason);
        simple(w, src, m, 403, reason);
        return;
    }
    if (rc < 0) {
        osec_metric_inc(sipd_m.reg_refused[SIPD_REG_ERROR]);
        sipd_reply_failure(w, src, m, rc, "sip.register_error");
        return;
    }
    if (m->n_contact == 0) {
        query(w, src, m, aor);
        return;
    }
    if ((st = parse_contacts(w->srv, m, c)) != 0) {
        osec_metric_inc(sipd_m.reg_refused[st == 423 ? SIPD_REG_INTERVAL_TOO_BRIEF
                                                     : SIPD_REG_BAD_REQUEST]);
        simple(w, src, m, st, st == 400 ? "Bad Contact" : NULL);
        return;
    }
    apply(w, src, m, who, aor, c);
}

void sipd_register(struct sipd_worker *w, const struct sipd_src *src,
                   const struct osec_sip_msg *m)
{
    struct osec_sip_principal who;

    memset(&who, 0, sizeof(who));
    if (sipd_authenticate(w, src, m, false, &w->auth_res, &who) != 1)
        return;
    registrar(w, src, m, &who);
    osec_sipauth_done(&w->auth_res);
}
