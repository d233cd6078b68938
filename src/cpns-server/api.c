/* cpns-server: the CPNS protocol (docs/cpns-protocol.md).  Security
 * decisions are made by libomasec (httpauth, authz, keys); this file maps
 * them to HTTP. */
#include <stdlib.h>
#include <string.h>

#include "cpns.h"
#include "omasec/account.h"
#include "omasec/authz.h"
#include "omasec/cpns_msg.h"
#include "omasec/error.h"
#include "omasec/group.h"
#include "omasec/keys.h"
#include "omasec/log.h"
#include "omasec/util.h"

struct ctx {
    struct cpns_req *req;
    struct cpns_resp *resp;
    struct cpns_worker *w;
    struct osec_httpauth_result *auth;
    struct osec_slice caps[2];
    char arg[OSEC_STORE_NAME_MAX + 1];   /* decoded path capture */
    char arg2[OSEC_STORE_NAME_MAX + 1];  /* second capture (group member routes) */
};

typedef void (*handler_fn)(struct ctx *x);

/* ---- responses ------------------------------------------------------ */

static void json_str(struct osec_buf *b, const char *s)
{
    (void)osec_buf_putc(b, '"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch == '"' || ch == '\\')
            (void)osec_buf_appendf(b, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            (void)osec_buf_appendf(b, "\\u%04x", ch);
        else
            (void)osec_buf_putc(b, (char)ch);
    }
    (void)osec_buf_putc(b, '"');
}

void cpns_error(struct cpns_resp *resp, int status, const char *code, const char *msg)
{
    resp->status = status;
    osec_buf_reset(&resp->body);
    (void)osec_buf_appendf(&resp->body, "{\"error\":\"%s\",\"message\":", code);
    json_str(&resp->body, msg ? msg : "");
    (void)osec_buf_putc(&resp->body, '}');
}

static void internal(struct ctx *x, int rc, const char *what)
{
    osec_error("request.failed", "what=%s code=%s error=\"%s\"", what, osec_strerror(rc),
               osec_error_msg());
    cpns_error(x->resp, rc == OSEC_ESTORE ? 503 : 500, "internal", "internal error");
    if (rc == OSEC_ESTORE)
        x->resp->retry_after = 1; /* the store is down or full: try again shortly */
}

static void audit(struct ctx *x, const char *event, const char *subject, const char *detail)
{
    struct osec_store_audit a;
    const struct osec_principal *who = &x->auth->who;

    memset(&a, 0, sizeof(a));
    (void)osec_strlcpy(a.event, event, sizeof(a.event));
    (void)osec_snprintf(a.actor, sizeof(a.actor), "%s%s%s", who->entity_id[0] ? "entity:" : "user:",
                        who->entity_id[0] ? who->entity_id : who->user, "");
    (void)osec_strlcpy(a.subject, subject ? subject : "", sizeof(a.subject));
    (void)osec_snprintf(a.detail, sizeof(a.detail), "%s%speer=%s%s%s", detail ? detail : "",
                        detail ? " " : "", x->req->auth.peer_ip,
                        x->auth->relayed_by[0] ? " via=" : "", x->auth->relayed_by);
    if (osec_store_audit_add(x->w->st, &a) < 0)
        osec_error("audit.failed", "event=%s error=\"%s\"", event, osec_error_msg());
    osec_info(event, "actor=\"%s\" subject=\"%s\" peer=%s", a.actor, a.subject,
              x->req->auth.peer_ip);
}

static void deny(struct ctx *x, const char *subject, const char *reason)
{
    osec_metric_inc(cpns_m.denied);
    audit(x, "authz.deny", subject, reason);
    cpns_error(x->resp, 403, "forbidden", reason);
}

static bool arg_entity(struct ctx *x)
{
    size_t n;

    if (osec_http_pct_decode(x->caps[0], OSEC_HTTP_PCT_SEGMENT, x->arg, sizeof(x->arg), &n) < 0 ||
        osec_account_name_valid(x->arg) < 0) {
        cpns_error(x->resp, 400, "bad_request", "invalid entity id in path");
        return false;
    }
    return true;
}

/* ---- handlers --------------------------------------------------------- */

static void eukey_assign(struct ctx *x)
{
    struct osec_cpns_eukey_req body;
    char why[OSEC_AUTHZ_REASON_MAX], text[OSEC_KEY_TEXT_LEN + 1];
    uint8_t key[OSEC_KEY_LEN];
    int64_t expires;
    int rc;

    if (!arg_entity(x))
        return;
    if (osec_cpns_parse_eukey_req(x->req->http->body, &body) < 0) {
        cpns_error(x->resp, 400, "bad_request", osec_error_msg());
        return;
    }
    rc = osec_authz_check(x->w->st, &x->auth->who, OSEC_AUTHZ_EUKEY_ASSIGN, x->arg, why,
                          sizeof(why));
    if (rc == OSEC_EPERM)
        { deny(x, x->arg, why); return; }
    if (rc == 0)
        rc = osec_eukey_assign(x->w->st, x->w->srv->m, x->arg, body.type, x->auth->who.user,
                               x->w->srv->eukey_ttl, key, &expires);
    if (rc == OSEC_EPERM)
        { deny(x, x->arg, "entity belongs to another user"); return; }
    if (rc < 0)
        { internal(x, rc, "eukey.assign"); return; }
    rc = osec_key_to_text(key, text);
    osec_wipe(key, sizeof(key));
    if (rc < 0)
        { internal(x, rc, "eukey.assign"); return; }
    x->resp->status = 201;
    (void)osec_buf_appendf(&x->resp->body,
                           "{\"entity_id\":\"%s\",\"user_id\":\"%s\",\"type\":\"%s\","
                           "\"eukey\":\"%s\",\"expires\":%lld}",
                           x->arg, x->auth->who.user, body.type, text, (long long)expires);
    osec_wipe(text, sizeof(text));
    osec_metric_inc(cpns_m.eukey_assigned);
    audit(x, "eukey.assign", x->arg, body.type);
}

static void whoami(struct ctx *x)
{
    const struct osec_principal *who = &x->auth->who;

    x->resp->status = 200;
    (void)osec_buf_appendf(&x->resp->body,
                           "{\"entity_id\":\"%s\",\"user_id\":\"%s\",\"type\":\"%s\","
                           "\"eukey_expires\":%lld,\"auth\":\"%s\"}",
                           who->entity_id, who->user, who->type,
                           (long long)x->auth->entity_expires,
                           x->auth->via_psk ? "tls-psk" : "digest");
}

static void eukey_rotate(struct ctx *x)
{
    const struct osec_principal *who = &x->auth->who;
    char text[OSEC_KEY_TEXT_LEN + 1];
    uint8_t key[OSEC_KEY_LEN];
    int64_t expires;
    int rc;

    if (x->req->http->body.len) {
        cpns_error(x->resp, 400, "bad_request", "rotate takes no body");
        return;
    }
    rc = osec_eukey_assign(x->w->st, x->w->srv->m, who->entity_id, who->type, who->user,
                           x->w->srv->eukey_ttl, key, &expires);
    if (rc == 0) {
        rc = osec_key_to_text(key, text);
        osec_wipe(key, sizeof(key));
    }
    if (rc < 0)
        { internal(x, rc, "eukey.rotate"); return; }
    x->resp->status = 200;
    (void)osec_buf_appendf(&x->resp->body,
                           "{\"entity_id\":\"%s\",\"user_id\":\"%s\",\"type\":\"%s\","
                           "\"eukey\":\"%s\",\"expires\":%lld}",
                           who->entity_id, who->user, who->type, text, (long long)expires);
    osec_wipe(text, sizeof(text));
    osec_metric_inc(cpns_m.eukey_rotated);
    audit(x, "eukey.rotate", who->entity_id, NULL);
}

static void otk_create(struct ctx *x)
{
    const struct osec_principal *who = &x->auth->who;
    struct osec_cpns_otk_req body;
    char why[OSEC_AUTHZ_REASON_MAX], id[OSEC_STORE_NAME_MAX + 1], detail[256];
    int64_t expires;
    int rc;

    if (osec_cpns_parse_otk_req(x->req->http->body, &body) < 0) {
        cpns_error(x->resp, 400, "bad_request", osec_error_msg());
        return;
    }
    rc = osec_authz_check(x->w->st, who, OSEC_AUTHZ_OTK_CREATE, body.peer, why, sizeof(why));
    if (rc == 0)
        rc = osec_otk_register(x->w->st, x->w->srv->m, who->entity_id, body.peer, body.key,
                               body.ttl, id, &expires);
    osec_wipe(body.key, sizeof(body.key));
    if (rc == OSEC_EPERM) {
        deny(x, body.peer, why[0] ? why : "peer cannot receive keys");
        return;
    }
    if (rc == OSEC_ENOTFOUND || rc == OSEC_ESTALE) {
        deny(x, body.peer, "peer entity has no usable EUKey");
        return;
    }
    if (rc < 0) {
        internal(x, rc, "otk.create");
        return;
    }
    x->resp->status = 201;
    (void)osec_buf_appendf(&x->resp->body, "{\"key_id\":\"%s\",\"peer\":\"%s\",\"expires\":%lld}",
                           id, body.peer, (long long)expires);
    (void)osec_snprintf(detail, sizeof(detail), "key_id=%s ttl=%lld", id, (long long)body.ttl);
    osec_metric_inc(cpns_m.otk_issued);
    audit(x, "otk.create", body.peer, detail);
}

static void purge_expired(struct ctx *x)
{
    uint64_t n = 0;
    char detail[64];

    if (osec_store_otk_purge_expired(x->w->st, osec_time_now(), &n) == 0 && n > 0) {
        (void)osec_snprintf(detail, sizeof(detail), "count=%llu", (unsigned long long)n);
        osec_metric_add(cpns_m.otk_expired, (int64_t)n);
        audit(x, "otk.expire", "", detail);
    }
}

struct list_ctx {
    struct osec_buf *b;
    int n;
};

static int otk_item(const struct osec_store_otk *k, void *arg)
{
    struct list_ctx *l = arg;

    if (l->n++)
        OSEC_GUARD(osec_buf_putc(l->b, ','));
    OSEC_GUARD(osec_buf_appendf(l->b, "{\"key_id\":\"%s\",\"creator\":\"%s\",\"expires\":%lld,"
                                "\"sealed\":\"", k->key_id, k->creator, (long long)k->expires));
    OSEC_GUARD(osec_b64url_encode(k->sealed.data, k->sealed.len, l->b));
    return osec_buf_append_str(l->b, "\"}");
}

static void otk_list(struct ctx *x)
{
    struct list_ctx l = { &x->resp->body, 0 };
    int rc;

    purge_expired(x);
    (void)osec_buf_putc(l.b, '[');
    rc = osec_store_otk_list_for(x->w->st, x->auth->who.entity_id, osec_time_now(), otk_item, &l);
    if (rc < 0) {
        internal(x, rc, "otk.list");
        return;
    }
    (void)osec_buf_putc(l.b, ']');
    x->resp->status = 200;
}

static void otk_consume(struct ctx *x)
{
    struct osec_store_otk k;
    struct list_ctx l = { &x->resp->body, 0 };
    int rc;

    if (!arg_entity(x))
        return;
    memset(&k, 0, sizeof(k));
    rc = osec_store_otk_consume(x->w->st, x->arg, x->auth->who.entity_id, osec_time_now(), &k);
    if (rc == OSEC_EPERM) {
        deny(x, x->arg, "not the creator or peer of this key");
        return;
    }
    if (rc == OSEC_ENOTFOUND || rc == OSEC_ESTALE) {
        if (rc == OSEC_ESTALE)
            osec_metric_inc(cpns_m.otk_expired);
        audit(x, rc == OSEC_ESTALE ? "otk.expire" : "otk.unknown", x->arg, NULL);
        cpns_error(x->resp, rc == OSEC_ESTALE ? 410 : 404, rc == OSEC_ESTALE ? "expired" : "not_found",
                   rc == OSEC_ESTALE ? "onetime key expired" : "no such onetime key (used, expired or never issued)");
        return;
    }
    if (rc < 0) {
        internal(x, rc, "otk.consume");
        return;
    }
    rc = otk_item(&k, &l);
    if (rc == 0)
        rc = osec_buf_appendf(&x->resp->body, "%s", "");
    x->resp->status = 200;
    /* the object carries the peer too */
    if (rc == 0 && x->resp->body.len > 2) {
        x->resp->body.len -= 1; /* drop '}' */
        (void)osec_buf_appendf(&x->resp->body, ",\"peer\":\"%s\"}", k.peer);
    }
    osec_metric_inc(cpns_m.otk_consumed);
    audit(x, "otk.consume", k.key_id, k.peer);
    osec_store_otk_clear(&k);
}

static int entity_item(const struct osec_store_entity *e, void *arg)
{
    struct list_ctx *l = arg;

    if (l->n++)
        OSEC_GUARD(osec_buf_putc(l->b, ','));
    return osec_buf_appendf(l->b, "{\"entity_id\":\"%s\",\"type\":\"%s\",\"created\":%lld,"
                            "\"expires\":%lld,\"revoked\":%lld}", e->entity_id, e->type,
                            (long long)e->created, (long long)e->expires, (long long)e->revoked);
}

static void entity_list(struct ctx *x)
{
    struct list_ctx l = { &x->resp->body, 0 };
    struct osec_slice q = x->req->http->query;
    char user[OSEC_STORE_NAME_MAX + 1], why[OSEC_AUTHZ_REASON_MAX];
    size_t n;
    int rc;

    (void)osec_strlcpy(user, x->auth->who.user, sizeof(user));
    if (q.len) {
        if (!osec_slice_starts_ci(q, "user=") ||
            osec_http_pct_decode(osec_slice_sub(q, 5, q.len), OSEC_HTTP_PCT_SEGMENT, user,
                                 sizeof(user), &n) < 0) {
            cpns_error(x->resp, 400, "bad_request", "the only query parameter is user=ID");
            return;
        }
    }
    rc = osec_authz_check(x->w->st, &x->auth->who, OSEC_AUTHZ_ENTITY_LIST, user, why, sizeof(why));
    if (rc == OSEC_EPERM) {
        deny(x, user, why);
        return;
    }
    (void)osec_buf_appendf(l.b, "{\"user_id\":\"%s\",\"entities\":[", x->auth->who.user);
    if (rc == 0)
        rc = osec_store_entity_list(x->w->st, user, entity_item, &l);
    if (rc < 0) {
        internal(x, rc, "entity.list");
        return;
    }
    (void)osec_buf_append_str(l.b, "]}");
    x->resp->status = 200;
}


static void entity_revoke(struct ctx *x)
{
    char why[OSEC_AUTHZ_REASON_MAX], detail[64];
    unsigned groups = 0;
    int rc;

    if (!arg_entity(x))
        return;
    rc = osec_authz_check(x->w->st, &x->auth->who, OSEC_AUTHZ_ENTITY_REVOKE, x->arg, why,
                          sizeof(why));
    if (rc == OSEC_EPERM) {
        deny(x, x->arg, why);
        return;
    }
    if (rc == 0)
        rc = osec_eukey_revoke(x->w->st, x->w->srv->m, x->arg, &groups);
    if (rc == OSEC_ENOTFOUND) {
        cpns_error(x->resp, 404, "not_found", "no such entity");
        return;
    }
    if (rc < 0) {
        internal(x, rc, "entity.revoke");
        return;
    }
    x->resp->status = 200;
    (void)osec_buf_appendf(&x->resp->body, "{\"entity_id\":\"%s\",\"revoked\":true}", x->arg);
    osec_metric_inc(cpns_m.eukey_revoked);
    audit(x, "entity.revoke", x->arg, "by owner");
    if (groups) {
        (void)osec_snprintf(detail, sizeof(detail), "revoked groups=%u", groups);
        audit(x, "group.leave", x->arg, detail);
    }
}

/* ---- Service Groups --------------------------------------------------- */

static bool arg_group(struct ctx *x)
{
    size_t n;

    if (osec_http_pct_decode(x->caps[0], OSEC_HTTP_PCT_SEGMENT, x->arg, sizeof(x->arg), &n) < 0 ||
        osec_group_id_valid(x->arg) < 0) {
        cpns_error(x->resp, 400, "bad_request", "invalid group id in path");
        return false;
    }
    return true;
}

static void group_json(struct osec_buf *b, const struct osec_group *g)
{
    (void)osec_buf_appendf(b, "{\"group\":\"%s\",\"creator\":\"%s\",\"epoch\":%u,\"members\":[",
                           g->id, g->creator, (unsigned)g->epoch);
    for (size_t i = 0; i < g->nmembers; i++)
        (void)osec_buf_appendf(b, "%s\"%s\"", i ? "," : "", g->members[i]);
    (void)osec_buf_putc(b, ']');
}

/* Map a refused group operation to HTTP; false when rc is none of them. */
static bool group_refused(struct ctx *x, int rc, const char *subject, const char *why)
{
    if (rc == OSEC_EPERM)
        deny(x, subject, why[0] ? why : "not allowed");
    else if (rc == OSEC_EEXISTS)
        cpns_error(x->resp, 409, "conflict", why);
    else if (rc == OSEC_EINVAL || rc == OSEC_EBOUNDS)
        cpns_error(x->resp, 400, "bad_request", osec_error_msg());
    else if (rc == OSEC_ENOTFOUND)
        cpns_error(x->resp, 404, "not_found", "no such group, or not a member of it");
    else
        return false;
    return true;
}

static void group_created(struct ctx *x, const struct osec_group *g)
{
    char detail[64];

    x->resp->status = 201;
    group_json(&x->resp->body, g);
    (void)osec_buf_putc(&x->resp->body, '}');
    (void)osec_snprintf(detail, sizeof(detail), "epoch=%u members=%zu", (unsigned)g->epoch,
                        g->nmembers);
    audit(x, "group.create", g->id, detail);
}

static void group_create(struct ctx *x)
{
    struct osec_group *g = calloc(1, sizeof(*g));
    const char *members[OSEC_GROUP_MEMBERS_MAX];
    char why[OSEC_AUTHZ_REASON_MAX * 2];
    int rc;

    if (!g)
        { internal(x, OSEC_ENOMEM, "group.create"); return; }
    rc = osec_group_parse_create(x->req->http->body, g);
    if (rc < 0) {
        cpns_error(x->resp, 400, "bad_request", osec_error_msg());
        free(g);
        return;
    }
    for (size_t i = 0; i < g->nmembers; i++)
        members[i] = g->members[i];
    rc = osec_group_create(x->w->st, x->w->srv->m, &x->auth->who, g->id, members, g->nmembers,
                           g, why, sizeof(why));
    if (rc == 0)
        group_created(x, g);
    else if (!group_refused(x, rc, g->id, why))
        internal(x, rc, "group.create");
    osec_group_clear(g);
    free(g);
}

static void group_key_reply(struct ctx *x, const struct osec_group *g,
                            const struct osec_buf *wrapped)
{
    char detail[64];

    x->resp->status = 200;
    group_json(&x->resp->body, g);
    (void)osec_buf_append_str(&x->resp->body, ",\"sealed\":\"");
    (void)osec_b64url_encode(wrapped->data, wrapped->len, &x->resp->body);
    (void)osec_buf_append_str(&x->resp->body, "\"}");
    (void)osec_snprintf(detail, sizeof(detail), "epoch=%u", (unsigned)g->epoch);
    audit(x, "group.key", g->id, detail);
}

static void group_key(struct ctx *x)
{
    struct osec_group *g;
    struct osec_buf wrapped;
    int rc;

    if (!arg_group(x))
        return;
    g = calloc(1, sizeof(*g));
    if (!g)
        { internal(x, OSEC_ENOMEM, "group.key"); return; }
    osec_buf_init(&wrapped, 256);
    rc = osec_group_key_for(x->w->st, x->w->srv->m, x->arg, x->auth->who.entity_id, g, &wrapped);
    if (rc == OSEC_EPERM)
        deny(x, x->arg, "not a member of this group");
    else if (rc == OSEC_ENOTFOUND)
        cpns_error(x->resp, 404, "not_found", "no such group");
    else if (rc < 0)
        internal(x, rc, "group.key");
    else
        group_key_reply(x, g, &wrapped);
    osec_buf_free(&wrapped);
    osec_group_clear(g);
    free(g);
}

static void group_left(struct ctx *x, const struct osec_group *g)
{
    char detail[OSEC_STORE_NAME_MAX + 96];

    x->resp->status = 200;
    group_json(&x->resp->body, g);
    (void)osec_buf_putc(&x->resp->body, '}');
    (void)osec_snprintf(detail, sizeof(detail), "group=%s epoch=%u by=%s", g->id,
                        (unsigned)g->epoch,
                        strcmp(x->auth->who.entity_id, x->arg2) == 0 ? "self" : "creator");
    audit(x, "group.leave", x->arg2, detail);
}

static void group_leave(struct ctx *x)
{
    char why[OSEC_AUTHZ_REASON_MAX * 2];
    struct osec_group *g;
    size_t n;
    int rc;

    if (!arg_group(x))
        return;
    if (osec_http_pct_decode(x->caps[1], OSEC_HTTP_PCT_SEGMENT, x->arg2, sizeof(x->arg2), &n) < 0 ||
        osec_account_name_valid(x->arg2) < 0) {
        cpns_error(x->resp, 400, "bad_request", "invalid entity id in path");
        return;
    }
    g = calloc(1, sizeof(*g));
    if (!g)
        { internal(x, OSEC_ENOMEM, "group.leave"); return; }
    rc = osec_group_remove(x->w->st, x->w->srv->m, &x->auth->who, x->arg, x->arg2, g, why,
                           sizeof(why));
    if (rc == 0)
        group_left(x, g);
    else if (!group_refused(x, rc, x->arg2, why))
        internal(x, rc, "group.leave");
    osec_group_clear(g);
    free(g);
}

static int group_item(const struct osec_group *g, void *arg)
{
    struct list_ctx *l = arg;

    if (l->n++)
        OSEC_GUARD(osec_buf_putc(l->b, ','));
    group_json(l->b, g);
    return osec_buf_putc(l->b, '}');
}

static void group_list(struct ctx *x)
{
    struct list_ctx l = { &x->resp->body, 0 };
    int rc;

    if (x->req->http->query.len) {
        cpns_error(x->resp, 400, "bad_request", "no query parameters here");
        return;
    }
    (void)osec_buf_appendf(l.b, "{\"entity_id\":\"%s\",\"groups\":[", x->auth->who.entity_id);
    rc = osec_group_list(x->w->st, x->w->srv->m, x->auth->who.entity_id, group_item, &l);
    if (rc < 0) {
        internal(x, rc, "group.list");
        return;
    }
    (void)osec_buf_append_str(l.b, "]}");
    x->resp->status = 200;
}

/* ---- routing ---------------------------------------------------------- */

static const struct route {
    const char *method;
    const char *pattern;
    enum osec_httpauth_kind kind;
    handler_fn fn;
} routes[] = {
    { "POST", "/cpns/v1/entities/*/eukey", OSEC_HTTPAUTH_USER, eukey_assign },
    { "DELETE", "/cpns/v1/entities/*", OSEC_HTTPAUTH_USER, entity_revoke },
    { "GET", "/cpns/v1/entities", OSEC_HTTPAUTH_ENTITY, entity_list },
    { "GET", "/cpns/v1/whoami", OSEC_HTTPAUTH_ENTITY, whoami },
    { "POST", "/cpns/v1/eukey/rotate", OSEC_HTTPAUTH_ENTITY, eukey_rotate },
    { "POST", "/cpns/v1/onetime-keys", OSEC_HTTPAUTH_ENTITY, otk_create },
    { "GET", "/cpns/v1/onetime-keys", OSEC_HTTPAUTH_ENTITY, otk_list },
    { "DELETE", "/cpns/v1/onetime-keys/*", OSEC_HTTPAUTH_ENTITY, otk_consume },
    { "POST", "/cpns/v1/groups", OSEC_HTTPAUTH_ENTITY, group_create },
    { "GET", "/cpns/v1/groups", OSEC_HTTPAUTH_ENTITY, group_list },
    { "GET", "/cpns/v1/groups/*/key", OSEC_HTTPAUTH_ENTITY, group_key },
    { "DELETE", "/cpns/v1/groups/*/members/*", OSEC_HTTPAUTH_ENTITY, group_leave },
};

static const struct route *find_route(struct ctx *x, bool *path_known, bool *bad)
{
    const struct osec_http_request *h = x->req->http;
    int rc;

    *path_known = *bad = false;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        rc = osec_http_path_match(h->path, routes[i].pattern, x->caps, 2);
        if (rc == OSEC_EPARSE) {
            *bad = true;
            return NULL;
        }
        if (rc != 0)
            continue;
        *path_known = true;
        if (osec_slice_eq_cstr(h->method, routes[i].method))
            return &routes[i];
    }
    return NULL;
}

static bool authenticate(struct ctx *x, enum osec_httpauth_kind kind)
{
    struct osec_httpauth au;
    struct osec_buf ch;
    int rc;

    cpns_auth(x->w->srv, &au);
    rc = osec_httpauth_check(&au, &x->w->lookup, kind, &x->req->auth, x->auth);
    if (rc < 0) {
        internal(x, rc, "authenticate");
        return false;
    }
    if (x->auth->status == 0) {
        osec_metric_inc(x->auth->via_psk ? cpns_m.auth_psk
                        : x->auth->via_digest ? cpns_m.auth_digest : cpns_m.auth_basic);
        return true;
    }
    osec_metric_inc(x->auth->status == 429 ? cpns_m.auth_limited
                    : x->auth->status == 400 ? cpns_m.auth_malformed
                    : x->auth->stale ? cpns_m.auth_stale
                    : x->req->auth.authorization.len == 0 && !x->req->auth.psk_identity
                        ? cpns_m.auth_challenged : cpns_m.auth_failed);
    if (x->auth->status == 401 || x->auth->status == 400)
        osec_info("auth.failed", "peer=%s status=%d reason=\"%s\"", x->req->auth.peer_ip,
                  x->auth->status, x->auth->reason);
    cpns_error(x->resp, x->auth->status,
               x->auth->status == 429 ? "rate_limited" : x->auth->status == 400 ? "bad_request"
                                                                               : "unauthorized",
               x->auth->reason);
    x->resp->retry_after = x->auth->retry_after;
    if (x->auth->status == 401) {
        osec_buf_init(&ch, sizeof(x->resp->www_auth) - 1);
        if (osec_httpauth_challenge(&au, &x->req->auth, x->auth->stale, &ch) == 0)
            (void)osec_strlcpy(x->resp->www_auth, osec_buf_cstr(&ch), sizeof(x->resp->www_auth));
        osec_buf_free(&ch);
    }
    return false;
}

static void auth_info(struct ctx *x)
{
    struct osec_buf ai;
    struct osec_httpauth au;

    cpns_auth(x->w->srv, &au);
    osec_buf_init(&ai, sizeof(x->resp->auth_info) - 1);
    if (osec_httpauth_info(&au, x->auth, &x->req->auth,
                           osec_buf_slice(&x->resp->body), &ai) == 0)
        (void)osec_strlcpy(x->resp->auth_info, osec_buf_cstr(&ai), sizeof(x->resp->auth_info));
    osec_buf_free(&ai);
}

void cpns_api_dispatch(struct cpns_req *req, struct cpns_resp *resp)
{
    static _Thread_local struct osec_httpauth_result auth; /* 8 KiB scratch: not on the stack */
    struct ctx x;
    const struct route *r;
    bool known, bad;

    memset(&x, 0, sizeof(x));
    x.req = req;
    x.resp = resp;
    x.w = req->conn->w;
    x.auth = &auth;
    r = find_route(&x, &known, &bad);
    if (!r) {
        if (bad)
            cpns_error(resp, 400, "bad_request", "malformed path segment");
        else if (known)
            cpns_error(resp, 405, "method_not_allowed", "method not allowed for this path");
        else
            cpns_error(resp, 404, "not_found", "no such resource");
        return;
    }
    if (!authenticate(&x, r->kind))
        return;
    r->fn(&x);
    auth_info(&x);
    osec_httpauth_done(&auth);
}
