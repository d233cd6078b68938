/* Digest server: challenges, verification, Authentication-Info.
 * Every authentication decision of the Digest server side is in this file. */
#include <stdlib.h>
#include <string.h>

#include "auth/digest_internal.h"
#include "omasec/crypto.h"
#include "omasec/error.h"
#include "omasec/util.h"

/* A nonce stamped this far in the future is accepted as stale, not as fresh:
 * the clock went backwards. */
#define FUTURE_SKEW 60
#define LIFETIME_MAX 86400

struct osec_digest_server {
    char *realm;
    char *opaque;
    uint8_t secret[OSEC_DIGEST_SECRET_LEN];
    int64_t lifetime, margin;
    enum osec_digest_alg algs[OSEC_DIGEST_ALG_COUNT];
    size_t nalgs;
    unsigned allowed;
    unsigned qop;
    bool allow_no_qop, userhash, charset_utf8;
    osec_digest_clock_fn now;
    void *now_arg;
    osec_digest_replay_fn replay;
    void *replay_arg;
    struct osec_digest_replay_mem *own_replay;
};

static int64_t default_now(void *arg)
{
    (void)arg;
    return osec_time_now();
}

static void rollback(struct osec_buf *b, size_t len)
{
    if (b->data && b->len > len) {
        b->len = len;
        b->data[len] = '\0';
    }
}

/* A configured string that goes into quoted header values. */
static int dup_text(const char *what, const char *v, char **out)
{
    size_t n = strlen(v);

    OSEC_ENSURE(n <= OSEC_DIGEST_VALUE_MAX, OSEC_ECONFIG, "%s too long", what);
    for (size_t i = 0; i < n; i++)
        OSEC_ENSURE((uint8_t)v[i] >= 0x20 && v[i] != 0x7f, OSEC_ECONFIG,
                    "control character in %s", what);
    *out = strdup(v);
    OSEC_ENSURE(*out != NULL, OSEC_ENOMEM, "out of memory");
    return 0;
}

static int set_algs(struct osec_digest_server *s, const struct osec_digest_server_config *cfg)
{
    static const enum osec_digest_alg def[] = { OSEC_DIGEST_SHA256, OSEC_DIGEST_SHA512_256 };
    bool dflt = cfg->algs[0] == OSEC_DIGEST_ALG_UNKNOWN;

    for (size_t i = 0; i < OSEC_DIGEST_ALG_COUNT; i++) {
        enum osec_digest_alg a = dflt ? (i < 2 ? def[i] : OSEC_DIGEST_ALG_UNKNOWN) : cfg->algs[i];

        if (a == OSEC_DIGEST_ALG_UNKNOWN)
            break;
        OSEC_ENSURE(osec_digest_alg_name(a)[0] != '\0', OSEC_ECONFIG, "unknown algorithm %d",
                    (int)a);
        OSEC_ENSURE(!(s->allowed & OSEC_DIGEST_ALG_BIT(a)), OSEC_ECONFIG,
                    "algorithm %s listed twice", osec_digest_alg_name(a));
        OSEC_ENSURE(cfg->allow_md5 || osec_digest_alg_hash(a) != OSEC_HASH_MD5, OSEC_ECONFIG,
                    "%s refused by policy (allow_md5 is off)", osec_digest_alg_name(a));
        s->algs[s->nalgs++] = a;
        s->allowed |= OSEC_DIGEST_ALG_BIT(a);
    }
    return 0;
}

static int configure(struct osec_digest_server *s, const struct osec_digest_server_config *cfg)
{
    static const uint8_t zero[OSEC_DIGEST_SECRET_LEN];

    OSEC_ENSURE(cfg->realm != NULL, OSEC_ECONFIG, "Digest realm not set");
    OSEC_ENSURE(!osec_ct_eq(cfg->secret, zero, sizeof(zero)), OSEC_ECONFIG,
                "Digest nonce secret not set");
    OSEC_GUARD(dup_text("realm", cfg->realm, &s->realm));
    if (cfg->opaque)
        OSEC_GUARD(dup_text("opaque", cfg->opaque, &s->opaque));
    memcpy(s->secret, cfg->secret, sizeof(s->secret));
    s->lifetime = cfg->nonce_lifetime ? cfg->nonce_lifetime : OSEC_DIGEST_LIFETIME_DEFAULT;
    OSEC_ENSURE(s->lifetime > 0 && s->lifetime <= LIFETIME_MAX, OSEC_ECONFIG,
                "nonce lifetime must be 1..%d s", LIFETIME_MAX);
    s->margin = cfg->nextnonce_margin ? cfg->nextnonce_margin : s->lifetime / 5;
    OSEC_ENSURE(s->margin >= 0 && s->margin < s->lifetime, OSEC_ECONFIG,
                "nextnonce margin must be below the nonce lifetime");
    s->qop = cfg->qop ? cfg->qop : OSEC_DIGEST_QOP_AUTH;
    OSEC_ENSURE((s->qop & ~(unsigned)(OSEC_DIGEST_QOP_AUTH | OSEC_DIGEST_QOP_AUTH_INT)) == 0,
                OSEC_ECONFIG, "unknown qop flags");
    s->allow_no_qop = cfg->allow_no_qop;
    s->userhash = cfg->userhash;
    s->charset_utf8 = cfg->charset_utf8;
    s->now = cfg->now ? cfg->now : default_now;
    s->now_arg = cfg->now_arg;
    OSEC_GUARD(set_algs(s, cfg));
    if (cfg->replay) {
        s->replay = cfg->replay;
        s->replay_arg = cfg->replay_arg;
        return 0;
    }
    OSEC_GUARD(osec_digest_replay_mem_new(cfg->replay_capacity, s->now, s->now_arg,
                                          &s->own_replay));
    s->replay = osec_digest_replay_mem_check;
    s->replay_arg = s->own_replay;
    return 0;
}

int osec_digest_server_new(const struct osec_digest_server_config *cfg,
                           struct osec_digest_server **out)
{
    struct osec_digest_server *s;
    int rc;

    OSEC_ENSURE(cfg != NULL && out != NULL, OSEC_EINVAL, "NULL argument");
    *out = NULL;
    s = calloc(1, sizeof(*s));
    OSEC_ENSURE(s != NULL, OSEC_ENOMEM, "out of memory");
    rc = configure(s, cfg);
    if (rc < 0) {
        osec_digest_server_free(&s);
        return rc;
    }
    *out = s;
    return 0;
}

void osec_digest_server_free(struct osec_digest_server **ps)
{
    struct osec_digest_server *s = ps ? *ps : NULL;

    if (!s)
        return;
    osec_digest_replay_mem_free(&s->own_replay);
    free(s->realm);
    free(s->opaque);
    osec_wipe(s->secret, sizeof(s->secret));
    free(s);
    *ps = NULL;
}

/* ---- challenges -------------------------------------------------------- */

int osec_digest_server_nonce(struct osec_digest_server *s, struct osec_slice binding,
                             struct osec_buf *out)
{
    OSEC_ENSURE(s != NULL && out != NULL, OSEC_EINVAL, "NULL argument");
    return dg_nonce_make(s->secret, s->now(s->now_arg), binding, out);
}

size_t osec_digest_server_alg_count(const struct osec_digest_server *s)
{
    return s ? s->nalgs : 0;
}

static const char *qop_options(unsigned qop)
{
    if (qop == (OSEC_DIGEST_QOP_AUTH | OSEC_DIGEST_QOP_AUTH_INT))
        return "auth, auth-int";
    return qop == OSEC_DIGEST_QOP_AUTH_INT ? "auth-int" : "auth";
}

static int put_challenge(struct osec_digest_server *s, size_t idx, struct osec_slice nonce,
                         bool stale, struct osec_buf *out)
{
    bool first = true;

    OSEC_GUARD(osec_buf_append_str(out, "Digest "));
    OSEC_GUARD(dg_put_quoted(out, &first, "realm", osec_slice_cstr(s->realm)));
    OSEC_GUARD(dg_put_quoted(out, &first, "qop", osec_slice_cstr(qop_options(s->qop))));
    OSEC_GUARD(dg_put_token(out, &first, "algorithm",
                            osec_slice_cstr(osec_digest_alg_name(s->algs[idx]))));
    OSEC_GUARD(dg_put_quoted(out, &first, "nonce", nonce));
    if (s->opaque)
        OSEC_GUARD(dg_put_quoted(out, &first, "opaque", osec_slice_cstr(s->opaque)));
    if (stale)
        OSEC_GUARD(dg_put_token(out, &first, "stale", osec_slice_cstr("true")));
    if (s->charset_utf8)
        OSEC_GUARD(dg_put_token(out, &first, "charset", osec_slice_cstr("UTF-8")));
    if (s->userhash)
        OSEC_GUARD(dg_put_token(out, &first, "userhash", osec_slice_cstr("true")));
    return 0;
}

int osec_digest_server_challenge_one(struct osec_digest_server *s, size_t idx,
                                     struct osec_slice nonce, bool stale, struct osec_buf *out)
{
    size_t start;
    int rc;

    OSEC_ENSURE(s != NULL && out != NULL, OSEC_EINVAL, "NULL argument");
    OSEC_ENSURE(idx < s->nalgs, OSEC_EINVAL, "no challenge number %zu", idx);
    start = out->len;
    rc = put_challenge(s, idx, nonce, stale, out);
    if (rc < 0)
        rollback(out, start);
    return rc;
}

int osec_digest_server_challenge(struct osec_digest_server *s, struct osec_slice binding,
                                 bool stale, struct osec_buf *out)
{
    struct osec_buf nonce = OSEC_BUF_INIT(2 * OSEC_DIGEST_NONCE_LEN);
    size_t start;
    int rc;

    OSEC_ENSURE(s != NULL && out != NULL, OSEC_EINVAL, "NULL argument");
    start = out->len;
    OSEC_CHECK(rc, osec_digest_server_nonce(s, binding, &nonce));
    for (size_t i = 0; i < s->nalgs; i++) {
        if (i > 0)
            OSEC_CHECK(rc, osec_buf_append_str(out, ", "));
        OSEC_CHECK(rc, put_challenge(s, i, osec_buf_slice(&nonce), stale, out));
    }
out:
    if (rc < 0)
        rollback(out, start);
    osec_buf_free(&nonce);
    return rc;
}

/* ---- verification ------------------------------------------------------ */

static int check_policy(const struct osec_digest_server *s, const struct osec_digest_creds *c)
{
    OSEC_ENSURE(c->alg != OSEC_DIGEST_ALG_UNKNOWN && (s->allowed & OSEC_DIGEST_ALG_BIT(c->alg)),
                OSEC_EPOLICY, "algorithm '%.*s' not allowed",
                (int)(c->algorithm.len ? c->algorithm.len : 3),
                c->algorithm.len ? (const char *)c->algorithm.ptr : "MD5");
    if (c->qop == OSEC_DIGEST_QOP_NONE)
        OSEC_ENSURE(s->allow_no_qop, OSEC_EPOLICY, "credentials without qop refused");
    else
        OSEC_ENSURE(s->qop & (unsigned)c->qop, OSEC_EPOLICY, "qop '%s' not offered",
                    dg_qop_name(c->qop));
    OSEC_ENSURE(!c->userhash || s->userhash, OSEC_EPOLICY, "userhash not enabled");
    return 0;
}

static int check_fields(const struct osec_digest_server *s, const struct osec_digest_request *req,
                        const struct osec_digest_creds *c)
{
    size_t hexlen = dg_hex_len(c->alg);

    OSEC_ENSURE(osec_slice_eq_cstr(c->realm, s->realm), OSEC_EAUTH, "realm does not match");
    OSEC_ENSURE(!s->opaque || osec_slice_eq_cstr(c->opaque, s->opaque), OSEC_EAUTH,
                "opaque does not match");
    /* RFC 7616 3.4.6: the uri parameter must name the request's resource; we
     * compare bytes exactly (no normalisation) and answer 400 */
    OSEC_ENSURE(osec_slice_eq(c->uri, req->uri), OSEC_EPARSE,
                "uri parameter does not match the request-uri");
    OSEC_ENSURE(c->response.len == hexlen, OSEC_EPARSE, "response length does not fit %s",
                osec_digest_alg_name(c->alg));
    OSEC_ENSURE(!c->userhash || c->username.len == hexlen, OSEC_EPARSE,
                "userhash length does not fit %s", osec_digest_alg_name(c->alg));
    OSEC_ENSURE(c->userhash || c->username.len <= OSEC_DIGEST_USERNAME_MAX, OSEC_EAUTH,
                "username too long");
    return 0;
}

/* HA1 from what the lookup returned; *known false for an unknown user (a
 * dummy HA1 keeps the work the same). */
static int secret_ha1(const struct osec_digest_creds *c, enum osec_hash_alg hash,
                      const struct osec_digest_secret *sec, bool known, uint8_t *ha1)
{
    struct osec_slice user = c->userhash ? osec_slice_cstr(sec->username) : c->username;

    if (!known) {
        memset(ha1, 0, osec_hash_len(hash));
        return 0;
    }
    OSEC_ENSURE(!c->userhash || sec->username[0] != '\0', OSEC_EINVAL,
                "lookup did not resolve the userhash to a user name");
    if (sec->kind == OSEC_DIGEST_SECRET_HA1) {
        OSEC_ENSURE(sec->ha1_len == osec_hash_len(hash), OSEC_EINVAL,
                    "lookup returned an HA1 of the wrong length");
        memcpy(ha1, sec->ha1, sec->ha1_len);
        return 0;
    }
    OSEC_ENSURE(sec->kind == OSEC_DIGEST_SECRET_PASSWORD &&
                sec->password_len <= sizeof(sec->password), OSEC_EINVAL,
                "lookup returned no usable secret");
    return osec_digest_ha1(hash, user, c->realm,
                           osec_slice_make(sec->password, sec->password_len), ha1);
}

/* With userhash the lookup resolved the hash to a name: make sure it did so right. */
static int check_userhash(const struct osec_digest_creds *c, const char *user)
{
    struct osec_buf h = OSEC_BUF_INIT(OSEC_DIGEST_HEX_MAX);
    bool ok;
    int rc;

    rc = osec_digest_userhash(c->alg, osec_slice_cstr(user), c->realm, &h);
    ok = rc == 0 && h.len == c->username.len &&
         osec_ct_eq(h.data, c->username.ptr, h.len);
    osec_buf_free(&h);
    OSEC_GUARD(rc);
    OSEC_ENSURE(ok, OSEC_EAUTH, "userhash does not match the resolved user");
    return 0;
}

static int set_username(struct osec_digest_result *res, const struct osec_digest_creds *c,
                        const struct osec_digest_secret *sec)
{
    if (c->userhash)
        return osec_strlcpy(res->username, sec->username, sizeof(res->username));
    /* a NUL inside the name would make the C string name someone else */
    OSEC_ENSURE(memchr(c->username.ptr, 0, c->username.len) == NULL, OSEC_EAUTH,
                "NUL in username");
    return osec_slice_to_cstr(c->username, res->username, sizeof(res->username));
}

/* Look the user up and derive the session key into res->key_hex. */
static int derive_key(const struct osec_digest_creds *c, osec_digest_lookup_fn lookup, void *arg,
                      struct osec_digest_result *res, bool *known)
{
    enum osec_hash_alg hash = osec_digest_alg_hash(c->alg);
    struct osec_digest_lookup who = { c->username, c->realm, c->alg, hash, c->userhash };
    struct osec_digest_secret *sec = calloc(1, sizeof(*sec));
    uint8_t ha1[OSEC_HASH_MAX] = { 0 };
    int rc;

    OSEC_ENSURE(sec != NULL, OSEC_ENOMEM, "out of memory");
    rc = lookup(arg, &who, sec);
    *known = rc == 0;
    if (rc == OSEC_ENOTFOUND)
        rc = 0; /* go on with a dummy HA1: same work, same answer as a wrong password */
    if (rc < 0)
        goto out;
    OSEC_CHECK(rc, secret_ha1(c, hash, sec, *known, ha1));
    OSEC_CHECK(rc, dg_session_key(c->alg, ha1, osec_hash_len(hash), c->nonce, c->cnonce,
                                  res->key_hex));
    if (*known && c->userhash)
        OSEC_CHECK(rc, check_userhash(c, sec->username));
    if (*known)
        OSEC_CHECK(rc, set_username(res, c, sec));
out:
    osec_wipe(ha1, sizeof(ha1));
    osec_wipe(sec, sizeof(*sec));
    free(sec);
    return rc;
}

static int check_response(const struct osec_digest_creds *c, const struct osec_digest_request *req,
                          const struct osec_digest_result *res, bool known)
{
    const struct osec_digest_input in = {
        .alg = c->alg, .nonce = c->nonce, .cnonce = c->cnonce, .nc = c->nc,
        .qop = c->qop_text, .method = req->method, .uri = c->uri, .body = req->body,
    };
    char want[OSEC_DIGEST_HEX_MAX + 1], got[OSEC_DIGEST_HEX_MAX];
    bool ok;

    OSEC_GUARD(dg_response_from_key(&in, osec_slice_cstr(res->key_hex), want));
    /* hex digits may come in upper case; lower them (the response is public) */
    for (size_t i = 0; i < c->response.len; i++) {
        uint8_t ch = c->response.ptr[i];
        got[i] = (char)(ch >= 'A' && ch <= 'F' ? ch + 32 : ch);
    }
    ok = osec_ct_eq(want, got, c->response.len);
    osec_wipe(want, sizeof(want));
    OSEC_ENSURE(known, OSEC_EAUTH, "unknown user");
    OSEC_ENSURE(ok, OSEC_EAUTH, "wrong response");
    return 0;
}

static int check_fresh(struct osec_digest_server *s, const struct osec_digest_creds *c,
                       int64_t issued, struct osec_digest_result *res)
{
    int64_t now = s->now(s->now_arg), expires = issued + s->lifetime;

    OSEC_ENSURE(now <= expires && issued <= now + FUTURE_SKEW, OSEC_ESTALE, "nonce expired");
    OSEC_GUARD(s->replay(s->replay_arg, c->nonce, c->qop ? c->nc_value : 0, expires));
    res->nonce_expires = expires;
    res->nonce_near_expiry = expires - now < s->margin;
    return 0;
}

int osec_digest_server_verify(struct osec_digest_server *s, const struct osec_digest_request *req,
                              const struct osec_digest_creds *creds, osec_digest_lookup_fn lookup,
                              void *lookup_arg, struct osec_digest_result *res)
{
    int64_t issued = 0;
    bool known = false;
    int rc;

    OSEC_ENSURE(s && req && creds && lookup && res, OSEC_EINVAL, "NULL argument");
    memset(res, 0, sizeof(*res));
    OSEC_GUARD(check_policy(s, creds));
    OSEC_GUARD(check_fields(s, req, creds));
    OSEC_GUARD(dg_nonce_check(s->secret, creds->nonce, req->binding, &issued));
    OSEC_CHECK(rc, derive_key(creds, lookup, lookup_arg, res, &known));
    OSEC_CHECK(rc, check_response(creds, req, res, known));
    OSEC_CHECK(rc, check_fresh(s, creds, issued, res));
    res->alg = creds->alg;
    res->qop = creds->qop;
    res->nc = creds->nc_value;
out:
    if (rc < 0)
        osec_digest_result_wipe(res);
    return rc;
}

void osec_digest_result_wipe(struct osec_digest_result *res)
{
    if (res)
        osec_wipe(res->key_hex, sizeof(res->key_hex));
}

/* ---- Authentication-Info ----------------------------------------------- */

static int put_auth_info(struct osec_digest_server *s, const struct osec_digest_result *res,
                         const struct osec_digest_creds *c, const struct osec_digest_request *req,
                         const char *rspauth, struct osec_buf *out)
{
    struct osec_buf nonce = OSEC_BUF_INIT(2 * OSEC_DIGEST_NONCE_LEN);
    bool first = true;
    int rc = 0;

    if (res->qop)
        OSEC_CHECK(rc, dg_put_token(out, &first, "qop", osec_slice_cstr(dg_qop_name(res->qop))));
    OSEC_CHECK(rc, dg_put_quoted(out, &first, "rspauth", osec_slice_cstr(rspauth)));
    if (res->qop) {
        OSEC_CHECK(rc, dg_put_quoted(out, &first, "cnonce", c->cnonce));
        OSEC_CHECK(rc, dg_put_token(out, &first, "nc", c->nc));
    }
    if (res->nonce_near_expiry) {
        OSEC_CHECK(rc, osec_digest_server_nonce(s, req->binding, &nonce));
        OSEC_CHECK(rc, dg_put_quoted(out, &first, "nextnonce", osec_buf_slice(&nonce)));
    }
out:
    osec_buf_free(&nonce);
    return rc;
}

int osec_digest_server_auth_info(struct osec_digest_server *s, struct osec_digest_result *res,
                                 const struct osec_digest_creds *creds,
                                 const struct osec_digest_request *req,
                                 struct osec_slice response_body, struct osec_buf *out)
{
    struct osec_digest_input in = { .method = { NULL, 0 } };
    char rspauth[OSEC_DIGEST_HEX_MAX + 1];
    size_t start;
    int rc;

    OSEC_ENSURE(s && res && creds && req && out, OSEC_EINVAL, "NULL argument");
    OSEC_ENSURE(res->key_hex[0] != '\0', OSEC_EINVAL, "no verified credentials");
    /* RFC 7616 3.5: rspauth is the response with an empty method */
    in.alg = res->alg;
    in.nonce = creds->nonce;
    in.cnonce = creds->cnonce;
    in.nc = creds->nc;
    in.qop = creds->qop_text;
    in.uri = creds->uri;
    in.body = response_body;
    start = out->len;
    OSEC_CHECK(rc, dg_response_from_key(&in, osec_slice_cstr(res->key_hex), rspauth));
    OSEC_CHECK(rc, put_auth_info(s, res, creds, req, rspauth, out));
out:
    if (rc < 0)
        rollback(out, start);
    osec_digest_result_wipe(res);
    return rc;
}
