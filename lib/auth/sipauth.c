/* SIP Digest authentication of CPM users at the edge (see sip_policy.h). */
#include <string.h>

#include "omasec/error.h"
#include "omasec/sip_policy.h"
#include "omasec/util.h"

#define KEY_LEN (OSEC_STORE_NAME_MAX + 8)

static void rl_key(char *out, size_t len, const char *kind, const char *v)
{
    if (osec_snprintf(out, len, "%s:%s", kind, v) < 0)
        (void)osec_strlcpy(out, "long", len);
}

static int result(struct osec_sipauth_result *res, unsigned status, const char *reason)
{
    res->status = status;
    res->reason = reason;
    return 0;
}

/* RFC 8760 2.4: a UA answers each realm once; take the value for ours.
 * 1 found, 0 none for our realm, -1 malformed. */
static int pick(const struct osec_sipauth_req *req, struct osec_sipauth_result *res)
{
    for (size_t i = 0; i < req->n_credentials; i++) {
        struct osec_slice v = osec_slice_trim(req->credentials[i]);

        if (!osec_slice_starts_ci(v, "Digest ") && !osec_slice_eq_ci(v, "Digest"))
            continue; /* another scheme: not ours to judge */
        if (osec_digest_parse_credentials(v, res->scratch, sizeof(res->scratch),
                                          &res->creds) < 0)
            return -1;
        if (osec_slice_eq_cstr(res->creds.realm, req->realm))
            return 1;
    }
    return 0;
}

static int verify(const struct osec_sipauth *a, struct osec_lookup *l,
                  const struct osec_sipauth_req *req, struct osec_sipauth_result *res)
{
    struct osec_digest_request dr = { req->method, req->uri, req->body, { NULL, 0 } };
    struct osec_sip_cached_lookup cl = { l, req->cache };
    int rc = osec_digest_server_verify(a->digest, &dr, &res->creds, osec_sip_cache_lookup,
                                       &cl, &res->dres);

    switch (rc) {
    case 0:
        OSEC_GUARD(osec_strlcpy(res->user, res->dres.username, sizeof(res->user)));
        return result(res, 0, NULL);
    case OSEC_ESTALE:
        res->stale = true;
        return result(res, 401, "Stale Nonce");
    case OSEC_EAUTH: case OSEC_EREPLAY: case OSEC_EPOLICY: case OSEC_ENOTFOUND:
        return result(res, 401, "Authentication Failed");
    case OSEC_EPARSE:
        return result(res, 400, "Bad Authorization Header");
    default:
        return rc;
    }
}

static void count(const struct osec_sipauth *a, const struct osec_sipauth_result *res,
                  const char *ipkey, const char *idkey, int64_t now)
{
    if (res->status == 0 || res->stale)
        return;
    osec_ratelimit_fail(a->rl, ipkey, now);
    if (idkey[0])
        osec_ratelimit_fail(a->rl, idkey, now);
}

int osec_sipauth_check(const struct osec_sipauth *a, struct osec_lookup *l,
                       const struct osec_sipauth_req *req, struct osec_sipauth_result *res)
{
    char ipkey[KEY_LEN], idkey[KEY_LEN] = "", name[OSEC_STORE_NAME_MAX + 1] = "";
    int64_t now = osec_time_now();
    unsigned ra = 0;
    int rc;

    res->status = 0;
    res->stale = false;
    res->retry_after = 0;
    res->reason = NULL;
    res->user[0] = '\0';
    memset(&res->creds, 0, sizeof(res->creds));
    rl_key(ipkey, sizeof(ipkey), "ip", req->peer_ip ? req->peer_ip : "?");
    if (a->rl && osec_ratelimit_check(a->rl, ipkey, now, &ra) == OSEC_EBUSY) {
        res->retry_after = ra;
        return result(res, 403, "Too Many Failed Authentications");
    }
    rc = pick(req, res);
    if (rc < 0)
        (void)result(res, 400, "Bad Authorization Header");
    else if (rc == 0)
        return result(res, 401, "Unauthorized");
    else
        OSEC_GUARD(verify(a, l, req, res));
    if (osec_slice_to_cstr(res->creds.username, name, sizeof(name)) == 0 && name[0])
        rl_key(idkey, sizeof(idkey), "id", name);
    if (!a->rl)
        return 0;
    if (res->status == 0 && osec_ratelimit_check(a->rl, idkey, now, &ra) == OSEC_EBUSY) {
        /* right secret, but the identity is under attack: refuse for now */
        osec_sipauth_done(res);
        res->retry_after = ra;
        return result(res, 403, "Too Many Failed Authentications");
    }
    if (res->status == 0)
        osec_ratelimit_success(a->rl, idkey);
    count(a, res, ipkey, idkey, now);
    return 0;
}

void osec_sipauth_done(struct osec_sipauth_result *res)
{
    /* the scratch holds decoded credential fields, none secret (the
     * response is a hash sent in the clear): only the session key goes */
    osec_digest_result_wipe(&res->dres);
}
