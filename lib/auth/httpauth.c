#include "omasec/httpauth.h"

#include <string.h>

#include "omasec/account.h"
#include "omasec/error.h"
#include "omasec/log.h"
#include "omasec/util.h"

#define KEY_LEN (OSEC_STORE_NAME_MAX + 8)

static void rl_key(char *out, size_t len, const char *kind, const char *v)
{
    if (osec_snprintf(out, len, "%s:%s", kind, v) < 0)
        (void)osec_strlcpy(out, "long", len);
}

static int result(struct osec_httpauth_result *res, int status, const char *reason)
{
    res->status = status;
    res->reason = reason;
    return 0;
}

static void take(struct osec_principal *who, int64_t *expires, const struct osec_store_entity *e)
{
    (void)osec_strlcpy(who->entity_id, e->entity_id, sizeof(who->entity_id));
    (void)osec_strlcpy(who->user, e->user, sizeof(who->user));
    (void)osec_strlcpy(who->type, e->type, sizeof(who->type));
    *expires = e->expires;
}

/* Fill who from the entity record of an authenticated Entity ID (the one
 * the Digest lookup just read, when it is that entity: one store read). */
static int entity_principal(struct osec_lookup *l, const char *id, struct osec_principal *who,
                            int64_t *expires)
{
    struct osec_store_entity e;
    int rc;

    memset(&e, 0, sizeof(e));
    if (osec_lookup_last_entity(id, &e) && e.revoked == 0) {
        take(who, expires, &e);
        return 0;
    }
    rc = osec_store_entity_get(l->st, id, &e);
    if (rc == 0 && e.revoked == 0)
        take(who, expires, &e);
    else if (rc == 0 || rc == OSEC_ENOTFOUND)
        rc = OSEC_ENOTFOUND;
    osec_store_entity_clear(&e);
    return rc;
}

static int basic(struct osec_lookup *l, struct osec_slice cred, struct osec_httpauth_result *res,
                 char *name, size_t namelen)
{
    struct osec_buf dec;
    long colon;
    int rc;

    osec_buf_init_secret(&dec, 2048);
    rc = osec_b64_decode(osec_slice_trim(cred), &dec);
    colon = rc == 0 ? osec_slice_find(osec_buf_slice(&dec), ':') : -1;
    if (colon <= 0 ||
        osec_slice_to_cstr(osec_slice_make(dec.data, (size_t)colon), name, namelen) < 0) {
        osec_buf_free(&dec);
        return result(res, 400, "malformed Basic credentials");
    }
    rc = osec_account_verify_password(l->st, name, (const char *)dec.data + colon + 1,
                                      dec.len - (size_t)colon - 1);
    osec_buf_free(&dec);
    if (rc == OSEC_EAUTH)
        return result(res, 401, "authentication failed");
    OSEC_GUARD(rc);
    (void)osec_strlcpy(res->who.user, name, sizeof(res->who.user));
    return result(res, 0, NULL);
}

static int digest(const struct osec_httpauth *a, struct osec_lookup *l,
                  enum osec_httpauth_kind kind, const struct osec_httpauth_req *req,
                  struct osec_httpauth_result *res, char *name, size_t namelen)
{
    struct osec_digest_request dr = { req->method, req->uri, req->body, { NULL, 0 } };
    int rc;

    rc = osec_digest_parse_credentials(req->authorization, res->scratch, sizeof(res->scratch),
                                       &res->creds);
    if (rc < 0)
        return result(res, 400, "malformed Authorization header");
    (void)osec_slice_to_cstr(res->creds.username, name, namelen); /* for rate limiting */
    rc = osec_digest_server_verify(a->digest, &dr, &res->creds,
                                   kind == OSEC_HTTPAUTH_USER ? osec_lookup_user_digest
                                                              : osec_lookup_entity_digest,
                                   l, &res->dres);
    switch (rc) {
    case 0:
        res->via_digest = true;
        break;
    case OSEC_ESTALE:
        res->stale = true;
        return result(res, 401, "nonce expired");
    case OSEC_EAUTH: case OSEC_EREPLAY: case OSEC_EPOLICY: case OSEC_ENOTFOUND:
        return result(res, 401, "authentication failed");
    case OSEC_EPARSE:
        return result(res, 400, "malformed Authorization header");
    default:
        return rc;
    }
    if (kind == OSEC_HTTPAUTH_USER) {
        (void)osec_strlcpy(res->who.user, res->dres.username, sizeof(res->who.user));
        return result(res, 0, NULL);
    }
    rc = entity_principal(l, res->dres.username, &res->who, &res->entity_expires);
    if (rc == OSEC_ENOTFOUND)
        return result(res, 401, "authentication failed"); /* revoked meanwhile */
    OSEC_GUARD(rc);
    return result(res, 0, NULL);
}

static int authenticate(const struct osec_httpauth *a, struct osec_lookup *l,
                        enum osec_httpauth_kind kind, const struct osec_httpauth_req *req,
                        struct osec_httpauth_result *res, char *name, size_t namelen)
{
    struct osec_slice auth = osec_slice_trim(req->authorization);
    int rc;

    /* Credentials in the request win over the connection's PSK identity:
     * a PN GW relays its PNEs' own Digest-authenticated requests over its
     * PSK session, and each is authorized as the PNE that signed it. */
    if (req->relayed_for.len && kind != OSEC_HTTPAUTH_ENTITY)
        return result(res, 403, "only entity requests can be relayed");
    if (kind == OSEC_HTTPAUTH_ENTITY && req->psk_identity && auth.len == 0 &&
        req->relayed_for.len == 0) {
        (void)osec_strlcpy(name, req->psk_identity, namelen);
        rc = entity_principal(l, req->psk_identity, &res->who, &res->entity_expires);
        if (rc == OSEC_ENOTFOUND)
            return result(res, 401, "authentication failed");
        OSEC_GUARD(rc);
        res->via_psk = true;
        return result(res, 0, NULL);
    }
    if (auth.len == 0)
        return result(res, 401, "authentication required");
    if (osec_slice_starts_ci(auth, "Digest ") || osec_slice_eq_ci(auth, "Digest")) {
        rc = digest(a, l, kind, req, res, name, namelen);
        if (rc == 0 && res->status == 0 && req->relayed_for.len &&
            !osec_slice_eq_cstr(req->relayed_for, res->who.entity_id)) {
            osec_httpauth_done(res);
            return result(res, 401, "relayed for another entity");
        }
        if (rc == 0 && res->status == 0 && req->relayed_for.len && req->psk_identity)
            (void)osec_strlcpy(res->relayed_by, req->psk_identity, sizeof(res->relayed_by));
        return rc;
    }
    if (kind == OSEC_HTTPAUTH_USER && a->allow_basic && req->tls &&
        osec_slice_starts_ci(auth, "Basic "))
        return basic(l, osec_slice_sub(auth, 6, auth.len), res, name, namelen);
    return result(res, 401, "unsupported authentication scheme");
}

int osec_httpauth_check(const struct osec_httpauth *a, struct osec_lookup *l,
                        enum osec_httpauth_kind kind, const struct osec_httpauth_req *req,
                        struct osec_httpauth_result *res)
{
    char ipkey[KEY_LEN], idkey[KEY_LEN], name[OSEC_STORE_NAME_MAX + 1] = "";
    int64_t now = osec_time_now();
    unsigned ra = 0;
    int rc;

    memset(&res->who, 0, sizeof(res->who));
    res->entity_expires = 0;
    osec_lookup_forget();
    res->relayed_by[0] = '\0';
    res->status = 0;
    res->stale = res->via_psk = res->via_digest = false;
    res->reason = NULL;
    rl_key(ipkey, sizeof(ipkey), "ip", req->peer_ip ? req->peer_ip : "?");
    if (a->rl && osec_ratelimit_check(a->rl, ipkey, now, &ra) == OSEC_EBUSY) {
        res->retry_after = ra;
        return result(res, 429, "too many failed authentications");
    }
    rc = authenticate(a, l, kind, req, res, name, sizeof(name));
    if (rc < 0 || !a->rl)
        return rc;
    rl_key(idkey, sizeof(idkey), "id", name);
    if (res->status == 0 && osec_ratelimit_check(a->rl, idkey, now, &ra) == OSEC_EBUSY) {
        /* right secret, but the identity is under attack: refuse for now */
        osec_httpauth_done(res);
        res->retry_after = ra;
        return result(res, 429, "too many failed authentications");
    }
    if (res->status == 0) {
        osec_ratelimit_success(a->rl, idkey);
    } else if (res->status != 401 || req->authorization.len > 0) {
        if (!res->stale) {
            osec_ratelimit_fail(a->rl, ipkey, now);
            if (name[0])
                osec_ratelimit_fail(a->rl, idkey, now);
        }
    }
    return 0;
}

int osec_httpauth_challenge(const struct osec_httpauth *a, const struct osec_httpauth_req *req,
                            bool stale, struct osec_buf *out)
{
    (void)req;
    return osec_digest_server_challenge(a->digest, osec_slice_make(NULL, 0), stale, out);
}

int osec_httpauth_info(const struct osec_httpauth *a, struct osec_httpauth_result *res,
                       const struct osec_httpauth_req *req, struct osec_slice resp_body,
                       struct osec_buf *out)
{
    struct osec_digest_request dr = { req->method, req->uri, req->body, { NULL, 0 } };

    if (!res->via_digest)
        return 0;
    res->via_digest = false;
    return osec_digest_server_auth_info(a->digest, &res->dres, &res->creds, &dr, resp_body, out);
}

void osec_httpauth_done(struct osec_httpauth_result *res)
{
    if (res->via_digest)
        osec_digest_result_wipe(&res->dres);
    res->via_digest = false;
}
