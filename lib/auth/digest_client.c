/* Digest client: choose a challenge (with downgrade protection), build
 * Authorization values, check the server's rspauth (mutual authentication).
 *
 * One client handle follows one server/realm and one request at a time:
 * verify_info checks the Authentication-Info of the last authorize. */
#include <stdlib.h>
#include <string.h>

#include "auth/digest_internal.h"
#include "omasec/crypto.h"
#include "omasec/error.h"
#include "omasec/util.h"

#define CNONCE_BYTES 18      /* 24 base64url characters */
#define CNONCE_MAX 64

struct osec_digest_client {
    struct osec_buf username, password;
    uint8_t ha1[OSEC_HASH_MAX];
    size_t ha1_len;
    enum osec_hash_alg ha1_hash;
    unsigned allowed;
    bool allow_no_qop, prefer_auth_int;
    /* the challenge taken */
    enum osec_digest_alg alg;
    enum osec_digest_qop qop;
    bool userhash, stale;
    struct osec_buf realm, nonce, opaque;
    bool have_opaque;
    uint32_t nc;
    /* the last request, for verify_info */
    struct osec_buf uri, cnonce, fixed_cnonce;
    char nc_text[9];
    bool sent;
};

static void free_bufs(struct osec_digest_client *c)
{
    struct osec_buf *all[] = { &c->username, &c->password, &c->realm, &c->nonce,
                               &c->opaque, &c->uri, &c->cnonce, &c->fixed_cnonce };

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        osec_buf_free(all[i]);
}

static int configure(struct osec_digest_client *c, const struct osec_digest_client_config *cfg)
{
    const unsigned strong = OSEC_DIGEST_ALG_BIT(OSEC_DIGEST_SHA256) |
                            OSEC_DIGEST_ALG_BIT(OSEC_DIGEST_SHA256_SESS) |
                            OSEC_DIGEST_ALG_BIT(OSEC_DIGEST_SHA512_256) |
                            OSEC_DIGEST_ALG_BIT(OSEC_DIGEST_SHA512_256_SESS);

    OSEC_ENSURE(cfg->username.len > 0, OSEC_EINVAL, "no user name");
    OSEC_GUARD(osec_buf_append_slice(&c->username, cfg->username));
    c->allowed = cfg->allowed_algs ? cfg->allowed_algs : strong;
    if (cfg->ha1) {
        OSEC_ENSURE(cfg->ha1_len > 0 && cfg->ha1_len == osec_hash_len(cfg->ha1_hash), OSEC_EINVAL,
                    "HA1 length does not fit its hash");
        memcpy(c->ha1, cfg->ha1, cfg->ha1_len);
        c->ha1_len = cfg->ha1_len;
        c->ha1_hash = cfg->ha1_hash;
        /* a stored HA1 only serves the algorithms of its hash */
        for (int a = 1; a <= OSEC_DIGEST_ALG_COUNT; a++)
            if (osec_digest_alg_hash((enum osec_digest_alg)a) != cfg->ha1_hash)
                c->allowed &= ~OSEC_DIGEST_ALG_BIT(a);
    } else {
        OSEC_GUARD(osec_buf_append_slice(&c->password, cfg->password));
    }
    c->allow_no_qop = cfg->allow_no_qop;
    c->prefer_auth_int = cfg->prefer_auth_int;
    return 0;
}

int osec_digest_client_new(const struct osec_digest_client_config *cfg,
                           struct osec_digest_client **out)
{
    struct osec_digest_client *c;
    int rc;

    OSEC_ENSURE(cfg != NULL && out != NULL, OSEC_EINVAL, "NULL argument");
    *out = NULL;
    c = calloc(1, sizeof(*c));
    OSEC_ENSURE(c != NULL, OSEC_ENOMEM, "out of memory");
    osec_buf_init(&c->username, OSEC_DIGEST_VALUE_MAX);
    osec_buf_init_secret(&c->password, OSEC_DIGEST_PASSWORD_MAX);
    osec_buf_init(&c->realm, OSEC_DIGEST_VALUE_MAX);
    osec_buf_init(&c->nonce, OSEC_DIGEST_VALUE_MAX);
    osec_buf_init(&c->opaque, OSEC_DIGEST_VALUE_MAX);
    osec_buf_init(&c->uri, OSEC_DIGEST_HEADER_MAX);
    osec_buf_init(&c->cnonce, CNONCE_MAX);
    osec_buf_init(&c->fixed_cnonce, CNONCE_MAX);
    rc = configure(c, cfg);
    if (rc < 0) {
        osec_digest_client_free(&c);
        return rc;
    }
    *out = c;
    return 0;
}

void osec_digest_client_free(struct osec_digest_client **pc)
{
    struct osec_digest_client *c = pc ? *pc : NULL;

    if (!c)
        return;
    free_bufs(c);
    osec_wipe(c, sizeof(*c));
    free(c);
    *pc = NULL;
}

enum osec_digest_alg osec_digest_client_alg(const struct osec_digest_client *c)
{
    return c ? c->alg : OSEC_DIGEST_ALG_UNKNOWN;
}

bool osec_digest_client_stale(const struct osec_digest_client *c)
{
    return c && c->stale;
}

int osec_digest_client_set_cnonce(struct osec_digest_client *c, struct osec_slice cnonce)
{
    OSEC_ENSURE(c != NULL && cnonce.len > 0, OSEC_EINVAL, "bad argument");
    osec_buf_reset(&c->fixed_cnonce);
    return osec_buf_append_slice(&c->fixed_cnonce, cnonce);
}

/* ---- choosing a challenge ---------------------------------------------- */

static int strength(enum osec_digest_alg a)
{
    switch (osec_digest_alg_hash(a)) {
    case OSEC_HASH_SHA512_256:
        return 3;
    case OSEC_HASH_SHA256:
        return 2;
    case OSEC_HASH_MD5:
        return 1;
    default:
        return 0;
    }
}

static bool acceptable(const struct osec_digest_client *c, const struct osec_digest_challenge *ch)
{
    unsigned known = OSEC_DIGEST_QOP_AUTH | OSEC_DIGEST_QOP_AUTH_INT;

    if (strength(ch->alg) == 0 || !(c->allowed & OSEC_DIGEST_ALG_BIT(ch->alg)))
        return false;
    return (ch->qop & known) != 0 || c->allow_no_qop;
}

static enum osec_digest_qop pick_qop(const struct osec_digest_client *c, unsigned offered)
{
    if ((offered & OSEC_DIGEST_QOP_AUTH_INT) &&
        (c->prefer_auth_int || !(offered & OSEC_DIGEST_QOP_AUTH)))
        return OSEC_DIGEST_QOP_AUTH_INT;
    return (offered & OSEC_DIGEST_QOP_AUTH) ? OSEC_DIGEST_QOP_AUTH : OSEC_DIGEST_QOP_NONE;
}

static int take(struct osec_digest_client *c, const struct osec_digest_challenge *ch)
{
    if (!osec_slice_eq(ch->nonce, osec_buf_slice(&c->nonce)))
        c->nc = 0;
    osec_buf_reset(&c->realm);
    osec_buf_reset(&c->nonce);
    osec_buf_reset(&c->opaque);
    OSEC_GUARD(osec_buf_append_slice(&c->realm, ch->realm));
    OSEC_GUARD(osec_buf_append_slice(&c->nonce, ch->nonce));
    OSEC_GUARD(osec_buf_append_slice(&c->opaque, ch->opaque));
    c->have_opaque = ch->opaque.ptr != NULL;
    c->alg = ch->alg;
    c->qop = pick_qop(c, ch->qop);
    c->userhash = ch->userhash;
    c->stale = ch->stale;
    c->sent = false;
    return 0;
}

/* Parse one header value and take its best challenge if it beats *best. */
static int consider(struct osec_digest_client *c, struct osec_slice value, int *best,
                    size_t *offered)
{
    struct osec_digest_challenges *set = malloc(sizeof(*set));
    uint8_t *scratch = malloc(value.len + 1);
    int rc = 0;

    if (!set || !scratch)
        OSEC_FAIL(rc, OSEC_ENOMEM, "out of memory");
    OSEC_CHECK(rc, osec_digest_parse_challenges(value, scratch, value.len, set));
    *offered += set->count;
    for (size_t i = 0; i < set->count; i++) {
        /* strictly stronger only: among equals the server's order wins */
        if (acceptable(c, &set->item[i]) && strength(set->item[i].alg) > *best) {
            OSEC_CHECK(rc, take(c, &set->item[i]));
            *best = strength(set->item[i].alg);
        }
    }
out:
    free(set);
    free(scratch);
    return rc;
}

int osec_digest_client_challenge(struct osec_digest_client *c, const struct osec_slice *values,
                                 size_t nvalues)
{
    size_t offered = 0;
    int best = 0, rc = 0;

    OSEC_ENSURE(c != NULL && (values != NULL || nvalues == 0), OSEC_EINVAL, "NULL argument");
    c->alg = OSEC_DIGEST_ALG_UNKNOWN;
    for (size_t i = 0; i < nvalues && rc == 0; i++)
        rc = consider(c, values[i], &best, &offered);
    if (rc < 0) {
        c->alg = OSEC_DIGEST_ALG_UNKNOWN;
        return rc;
    }
    OSEC_ENSURE(offered > 0, OSEC_EPOLICY, "no Digest challenge offered");
    OSEC_ENSURE(best > 0, OSEC_EPOLICY,
                "no acceptable Digest challenge (algorithm or qop refused by policy)");
    return 0;
}

/* ---- Authorization ------------------------------------------------------ */

/* HA1 from the password or the stored value; out holds osec_hash_len. */
static int client_ha1(const struct osec_digest_client *c, uint8_t *out)
{
    enum osec_hash_alg hash = osec_digest_alg_hash(c->alg);

    if (c->ha1_len) {
        memcpy(out, c->ha1, c->ha1_len);
        return 0;
    }
    return osec_digest_ha1(hash, osec_buf_slice(&c->username), osec_buf_slice(&c->realm),
                           osec_buf_slice(&c->password), out);
}

/* Response (or rspauth with an empty method) for the current state. */
static int client_digest(const struct osec_digest_client *c, struct osec_slice method,
                         struct osec_slice uri, struct osec_slice body,
                         char hex[OSEC_DIGEST_HEX_MAX + 1])
{
    struct osec_digest_input in = { .alg = c->alg, .method = method, .uri = uri, .body = body };
    uint8_t ha1[OSEC_HASH_MAX];
    int rc;

    in.nonce = osec_buf_slice(&c->nonce);
    if (c->qop) {
        in.cnonce = osec_buf_slice(&c->cnonce);
        in.nc = osec_slice_make(c->nc_text, 8);
        in.qop = osec_slice_cstr(dg_qop_name(c->qop));
    }
    in.ha1 = ha1;
    in.ha1_len = osec_hash_len(osec_digest_alg_hash(c->alg));
    rc = client_ha1(c, ha1);
    if (rc == 0)
        rc = osec_digest_response(&in, hex);
    osec_wipe(ha1, sizeof(ha1));
    return rc;
}

static int new_cnonce(struct osec_digest_client *c)
{
    uint8_t raw[CNONCE_BYTES];

    osec_buf_reset(&c->cnonce);
    if (c->fixed_cnonce.len) {
        OSEC_GUARD(osec_buf_append_slice(&c->cnonce, osec_buf_slice(&c->fixed_cnonce)));
        osec_buf_reset(&c->fixed_cnonce);
        return 0;
    }
    OSEC_GUARD(osec_rand_bytes(raw, sizeof(raw)));
    return osec_b64url_encode(raw, sizeof(raw), &c->cnonce);
}

static bool ext_attr_char(uint8_t ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return ch != 0 && strchr("!#$&+-.^_`|~", ch) != NULL;
}

/* username, username* (non-ASCII names, RFC 5987) or the userhash. */
static int put_username(const struct osec_digest_client *c, struct osec_buf *out, bool *first)
{
    struct osec_slice u = osec_buf_slice(&c->username);
    struct osec_buf h = OSEC_BUF_INIT(OSEC_DIGEST_HEX_MAX);
    bool ascii = true;
    int rc;

    if (c->userhash) {
        rc = osec_digest_userhash(c->alg, u, osec_buf_slice(&c->realm), &h);
        if (rc == 0)
            rc = dg_put_quoted(out, first, "username", osec_buf_slice(&h));
        osec_buf_free(&h);
        return rc;
    }
    for (size_t i = 0; i < u.len; i++)
        ascii = ascii && u.ptr[i] < 0x80;
    if (ascii)
        return dg_put_quoted(out, first, "username", u);
    OSEC_GUARD(dg_put_token(out, first, "username*", osec_slice_cstr("UTF-8''")));
    for (size_t i = 0; i < u.len; i++) {
        if (ext_attr_char(u.ptr[i]))
            OSEC_GUARD(osec_buf_putc(out, (char)u.ptr[i]));
        else
            OSEC_GUARD(osec_buf_appendf(out, "%%%02X", (unsigned)u.ptr[i]));
    }
    return 0;
}

static int put_authorization(struct osec_digest_client *c, const struct osec_digest_request *req,
                             const char *response, struct osec_buf *out)
{
    bool first = true;

    OSEC_GUARD(osec_buf_append_str(out, "Digest "));
    OSEC_GUARD(put_username(c, out, &first));
    OSEC_GUARD(dg_put_quoted(out, &first, "realm", osec_buf_slice(&c->realm)));
    OSEC_GUARD(dg_put_quoted(out, &first, "uri", req->uri));
    OSEC_GUARD(dg_put_token(out, &first, "algorithm",
                            osec_slice_cstr(osec_digest_alg_name(c->alg))));
    OSEC_GUARD(dg_put_quoted(out, &first, "nonce", osec_buf_slice(&c->nonce)));
    if (c->qop) {
        OSEC_GUARD(dg_put_token(out, &first, "nc", osec_slice_make(c->nc_text, 8)));
        OSEC_GUARD(dg_put_quoted(out, &first, "cnonce", osec_buf_slice(&c->cnonce)));
        OSEC_GUARD(dg_put_token(out, &first, "qop", osec_slice_cstr(dg_qop_name(c->qop))));
    }
    OSEC_GUARD(dg_put_quoted(out, &first, "response", osec_slice_cstr(response)));
    if (c->have_opaque)
        OSEC_GUARD(dg_put_quoted(out, &first, "opaque", osec_buf_slice(&c->opaque)));
    if (c->userhash)
        OSEC_GUARD(dg_put_token(out, &first, "userhash", osec_slice_cstr("true")));
    return 0;
}

/* Advance nc and the cnonce for a new request. */
static int next_request(struct osec_digest_client *c, struct osec_slice uri)
{
    if (c->qop) {
        OSEC_ENSURE(c->nc < UINT32_MAX, OSEC_ESTALE, "nonce-count exhausted");
        c->nc++;
        OSEC_GUARD(osec_snprintf(c->nc_text, sizeof(c->nc_text), "%08x", c->nc));
        OSEC_GUARD(new_cnonce(c));
    } else {
        /* without qop a nonce is good for one request only */
        OSEC_ENSURE(!c->sent, OSEC_ESTALE, "nonce already used (no qop)");
    }
    osec_buf_reset(&c->uri);
    return osec_buf_append_slice(&c->uri, uri);
}

int osec_digest_client_authorize(struct osec_digest_client *c, const struct osec_digest_request *req,
                                 struct osec_buf *out)
{
    char response[OSEC_DIGEST_HEX_MAX + 1];
    size_t start;
    int rc;

    OSEC_ENSURE(c != NULL && req != NULL && out != NULL, OSEC_EINVAL, "NULL argument");
    OSEC_ENSURE(c->alg != OSEC_DIGEST_ALG_UNKNOWN, OSEC_EINVAL, "no challenge taken");
    OSEC_ENSURE(req->uri.len > 0, OSEC_EINVAL, "empty request uri");
    start = out->len;
    OSEC_CHECK(rc, next_request(c, req->uri));
    OSEC_CHECK(rc, client_digest(c, req->method, req->uri, req->body, response));
    OSEC_CHECK(rc, put_authorization(c, req, response, out));
    c->sent = true;
out:
    if (rc < 0 && out->data && out->len > start) {
        out->len = start;
        out->data[start] = '\0';
    }
    return rc;
}

/* ---- Authentication-Info ----------------------------------------------- */

static int check_info(struct osec_digest_client *c, const struct osec_digest_auth_info *ai,
                      struct osec_slice body)
{
    char want[OSEC_DIGEST_HEX_MAX + 1], got[OSEC_DIGEST_HEX_MAX];
    bool ok;

    OSEC_ENSURE(ai->rspauth.len > 0, OSEC_EAUTH, "Authentication-Info without rspauth");
    if (c->qop) {
        OSEC_ENSURE(osec_slice_eq(ai->cnonce, osec_buf_slice(&c->cnonce)) &&
                    osec_slice_eq(ai->nc, osec_slice_make(c->nc_text, 8)), OSEC_EAUTH,
                    "Authentication-Info is for another request (cnonce/nc)");
        OSEC_ENSURE(ai->qop == OSEC_DIGEST_QOP_NONE || ai->qop == c->qop, OSEC_EAUTH,
                    "Authentication-Info qop differs");
    }
    OSEC_GUARD(client_digest(c, osec_slice_make(NULL, 0), osec_buf_slice(&c->uri), body, want));
    OSEC_ENSURE(ai->rspauth.len == strlen(want), OSEC_EAUTH, "rspauth has the wrong length");
    for (size_t i = 0; i < ai->rspauth.len; i++) {
        uint8_t ch = ai->rspauth.ptr[i];
        got[i] = (char)(ch >= 'A' && ch <= 'F' ? ch + 32 : ch);
    }
    ok = osec_ct_eq(want, got, ai->rspauth.len);
    osec_wipe(want, sizeof(want));
    OSEC_ENSURE(ok, OSEC_EAUTH, "rspauth does not match: server not authenticated");
    return 0;
}

int osec_digest_client_verify_info(struct osec_digest_client *c, struct osec_slice value,
                                   struct osec_slice response_body)
{
    struct osec_digest_auth_info ai;
    uint8_t *scratch = NULL;
    int rc;

    OSEC_ENSURE(c != NULL, OSEC_EINVAL, "NULL argument");
    OSEC_ENSURE(c->sent, OSEC_EINVAL, "no request sent");
    scratch = malloc(value.len + 1);
    OSEC_ENSURE(scratch != NULL, OSEC_ENOMEM, "out of memory");
    OSEC_CHECK(rc, osec_digest_parse_auth_info(value, scratch, value.len, &ai));
    OSEC_CHECK(rc, check_info(c, &ai, response_body));
    if (ai.nextnonce.len > 0) {
        osec_buf_reset(&c->nonce);
        OSEC_CHECK(rc, osec_buf_append_slice(&c->nonce, ai.nextnonce));
        c->nc = 0;
        c->sent = false;
    }
out:
    free(scratch);
    return rc;
}
