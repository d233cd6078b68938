/* cpns-gw: PN establishment (seed 003: onetime key, mutual authentication)
 * and the requests of an established PN session: /pn/v1/hello, and
 * /cpns/v1/... relayed to the CPNS Server over the GW's own session with
 * the PNE's own Digest credentials (sessions are hop by hop, seed 004;
 * authentication of the PNE to the server is end to end). */
#include <string.h>

#include "gw.h"
#include "omasec/error.h"
#include "omasec/keys.h"
#include "omasec/log.h"
#include "omasec/tls.h"
#include "omasec/util.h"

static bool is_session_id(const char *identity)
{
    return strncmp(identity, OSEC_PN_SESSION_PREFIX, strlen(OSEC_PN_SESSION_PREFIX)) == 0;
}

/* Onetime keys come from their record (they are consumed from it); PN
 * session credentials through the cache (pskcache.c). */
static int otk_psk(struct gw *gw, const char *identity, uint8_t psk[OSEC_KEY_LEN])
{
    struct osec_pn_key k;
    int rc = osec_pn_key_load(gw->ds, identity, &k);

    if (rc == 0)
        rc = osec_pn_key_psk(&k, psk);
    osec_wipe(&k, sizeof(k));
    return rc;
}

int gw_psk_lookup(void *arg, const char *identity, uint8_t *psk, size_t psk_max,
                  size_t *psk_len)
{
    struct gw *gw = arg;
    int rc;

    OSEC_ENSURE(psk_max >= OSEC_KEY_LEN, OSEC_EBOUNDS, "PSK buffer too small");
    if (strncmp(identity, OSEC_OTK_ID_PREFIX, strlen(OSEC_OTK_ID_PREFIX)) != 0 &&
        !is_session_id(identity))
        OSEC_BAIL(OSEC_ENOTFOUND, "unknown identity");
    rc = is_session_id(identity) ? gw_session_cred(gw, identity, false, psk, NULL, 0)
                                 : otk_psk(gw, identity, psk);
    if (rc == OSEC_ESTALE || rc == OSEC_EINVAL || rc == OSEC_EPARSE)
        rc = osec_error_set(OSEC_ENOTFOUND, __FILE__, __LINE__, "unknown or expired identity");
    if (rc == OSEC_ENOTFOUND)
        osec_metric_inc(gw_m.psk_unknown);
    if (rc == 0)
        *psk_len = OSEC_KEY_LEN;
    else
        osec_wipe(psk, OSEC_KEY_LEN);
    return rc;
}

/* A onetime key has just been proven: consume it (exactly once: the unlink
 * of its record succeeds once) and keep the PN session credential. */
static bool establish(struct gw_session *s, const struct osec_pn_key *otk)
{
    struct osec_pn_key session;
    int rc;

    if (osec_devstate_del(s->gw->ds, otk->id) < 0) {
        osec_metric_inc(gw_m.rejected);
        osec_warn("pn.rejected", "peer=%s key_id=%s reason=\"onetime key already used\"",
                  s->where, otk->id);
        return false;
    }
    rc = osec_pn_session_derive(otk, otk->peer, &session);
    if (rc == 0)
        rc = osec_strlcpy(session.peer, otk->peer, sizeof(session.peer));
    if (rc == 0)
        rc = osec_pn_key_save(s->gw->ds, &session);
    osec_wipe(&session, sizeof(session));
    if (rc < 0) {
        osec_error("pn.session_save_failed", "error=\"%s\"", osec_error_msg());
        return false;
    }
    (void)osec_strlcpy(s->peer, otk->peer, sizeof(s->peer));
    s->authenticated = true;
    osec_metric_inc(gw_m.established[gw_mode_index(s->mode)]);
    osec_info("pn.established", "peer_entity=%s key_id=%s mode=%s addr=%s", s->peer, otk->id,
              s->mode, s->where);
    return true;
}

/* A PN session re-opened with its session credential. */
static bool resume(struct gw_session *s, const char *ident)
{
    /* the handshake's PSK lookup checked the record a moment ago */
    if (gw_session_cred(s->gw, ident, true, NULL, s->peer, sizeof(s->peer)) < 0)
        return false; /* deleted or expired since the handshake looked it up */
    s->authenticated = true;
    osec_metric_inc(gw_m.resumed);
    /* routine (devices reconnect all the time) and counted by the metric:
     * debug, like cpns-server's successful handshakes; an establishment,
     * which consumes a key and saves a credential, stays at info.  At info
     * this line cost 8% of a TLS 1.2 PSK re-establishment (bench/pn). */
    osec_debug("pn.resumed", "peer_entity=%s mode=%s addr=%s", s->peer, s->mode, s->where);
    return true;
}

bool gw_session_start(struct gw_session *s, SSL *ssl, const char *mode)
{
    char ident[OSEC_STORE_NAME_MAX + 1];
    struct osec_pn_key k;
    bool ok;

    if (osec_tls_psk_identity(ssl, ident, sizeof(ident)) < 0) {
        (void)osec_strlcpy(s->mode, "digest", sizeof(s->mode));
        return true; /* certificate TLS: the peer authenticates with Digest */
    }
    (void)osec_strlcpy(s->mode, mode, sizeof(s->mode));
    if (is_session_id(ident))
        return resume(s, ident);
    if (osec_pn_key_load(s->gw->ds, ident, &k) < 0)
        return false; /* consumed or expired since the handshake looked it up */
    ok = establish(s, &k);
    osec_wipe(&k, sizeof(k));
    return ok;
}

static void reply(struct osec_buf *out, int status, const char *json, const char *www,
                  const char *info, bool close)
{
    struct osec_http_field f[4];
    size_t n = 0;

    if (json && json[0])
        f[n++] = (struct osec_http_field){ "Content-Type", osec_slice_cstr("application/json") };
    if (www && www[0])
        f[n++] = (struct osec_http_field){ "WWW-Authenticate", osec_slice_cstr(www) };
    if (info && info[0])
        f[n++] = (struct osec_http_field){ "Authentication-Info", osec_slice_cstr(info) };
    if (close)
        f[n++] = (struct osec_http_field){ "Connection", osec_slice_cstr("close") };
    if (osec_http_write_response(out, status, f, n, osec_slice_cstr(json ? json : ""), -1) < 0)
        (void)osec_http_write_response(out, 500, NULL, 0, osec_slice_make(NULL, 0), -1);
}

static void hello(struct gw_session *s, struct osec_buf *out, const char *info)
{
    char json[512];

    (void)osec_snprintf(json, sizeof(json), "{\"gw\":\"%s\",\"peer\":\"%s\",\"mode\":\"%s\"}",
                        s->gw->id.entity_id, s->peer, s->mode);
    reply(out, 200, json, NULL, info, false);
}

struct lookup_ctx {
    struct gw_session *s;
    struct osec_pn_key key;
    bool found;
};

/* Digest secret for username = key_id: the onetime key's text form. */
static int otk_secret(void *arg, const struct osec_digest_lookup *who,
                      struct osec_digest_secret *out)
{
    struct lookup_ctx *l = arg;
    char id[OSEC_STORE_NAME_MAX + 1], text[OSEC_KEY_TEXT_LEN + 1];
    int rc;

    if (who->userhash || osec_slice_to_cstr(who->username, id, sizeof(id)) < 0 ||
        strncmp(id, OSEC_OTK_ID_PREFIX, strlen(OSEC_OTK_ID_PREFIX)) != 0)
        OSEC_BAIL(OSEC_ENOTFOUND, "unknown key");
    rc = osec_pn_key_load(l->s->gw->ds, id, &l->key);
    if (rc < 0)
        OSEC_BAIL(OSEC_ENOTFOUND, "unknown or expired key");
    OSEC_GUARD(osec_key_to_text(l->key.key, text));
    memcpy(out->password, text, OSEC_KEY_TEXT_LEN);
    out->password_len = OSEC_KEY_TEXT_LEN;
    out->kind = OSEC_DIGEST_SECRET_PASSWORD;
    osec_wipe(text, sizeof(text));
    l->found = true;
    return osec_strlcpy(out->username, id, sizeof(out->username));
}

static void challenge(struct gw_session *s, struct osec_buf *out, bool stale)
{
    struct osec_buf ch;

    osec_buf_init(&ch, 2048);
    (void)osec_digest_server_challenge(s->gw->digest, osec_slice_make(NULL, 0), stale, &ch);
    reply(out, 401, "{\"error\":\"unauthorized\",\"message\":\"prove the onetime key\"}",
          osec_buf_cstr(&ch), NULL, false);
    osec_buf_free(&ch);
}

/* Seed-literal PN establishment: TLS with the GW's certificate, then HTTP
 * Digest with username = key_id and the onetime key as the secret; the
 * Authentication-Info rspauth proves to the PNE that the GW holds it too. */
static void digest_hello(struct gw_session *s, const struct osec_http_request *req,
                         struct osec_buf *out)
{
    static _Thread_local uint8_t scratch[OSEC_DIGEST_HEADER_MAX];
    struct osec_digest_request dr = { req->method, req->target, req->body, { NULL, 0 } };
    struct osec_digest_creds creds;
    struct osec_digest_result res;
    struct lookup_ctx l;
    struct osec_slice authz;
    struct osec_buf info;
    int rc;

    if (osec_http_header_get_single(&req->headers, "Authorization", &authz) != 0) {
        challenge(s, out, false);
        return;
    }
    memset(&l, 0, sizeof(l));
    l.s = s;
    rc = osec_digest_parse_credentials(authz, scratch, sizeof(scratch), &creds);
    if (rc == 0)
        rc = osec_digest_server_verify(s->gw->digest, &dr, &creds, otk_secret, &l, &res);
    if (rc == OSEC_ESTALE || rc < 0) {
        if (rc != OSEC_ESTALE && authz.len)
            osec_metric_inc(gw_m.auth_failed);
        osec_info("pn.auth_failed", "addr=%s mode=digest reason=%s", s->where, osec_strerror(rc));
        osec_wipe(&l.key, sizeof(l.key));
        challenge(s, out, rc == OSEC_ESTALE);
        return;
    }
    if (!establish(s, &l.key)) {
        osec_digest_result_wipe(&res);
        osec_wipe(&l.key, sizeof(l.key));
        reply(out, 403, "{\"error\":\"forbidden\",\"message\":\"onetime key already used\"}", NULL,
              NULL, true);
        return;
    }
    osec_wipe(&l.key, sizeof(l.key));
    osec_buf_init(&info, 1024);
    (void)osec_digest_server_auth_info(s->gw->digest, &res, &creds, &dr, osec_slice_make(NULL, 0),
                                       &info);
    hello(s, out, osec_buf_cstr(&info));
    osec_buf_free(&info);
}

static void relay(struct gw_session *s, const struct osec_http_request *req, struct osec_buf *out)
{
    struct osec_cpns_response r;
    struct osec_slice a = { NULL, 0 };
    char method[16], target[2048], authz[4096] = "";
    uint64_t t0;
    int rc;

    if (osec_slice_to_cstr(req->method, method, sizeof(method)) < 0 ||
        osec_slice_to_cstr(req->target, target, sizeof(target)) < 0 ||
        osec_http_header_get_single(&req->headers, "Authorization", &a) == OSEC_EPARSE ||
        (a.len && osec_slice_to_cstr(a, authz, sizeof(authz)) < 0)) {
        reply(out, 400, "{\"error\":\"bad_request\",\"message\":\"cannot relay this request\"}",
              NULL, NULL, false);
        return;
    }
    osec_cpns_response_init(&r);
    t0 = osec_time_mono_us();
    rc = gw_upstream_relay(s->gw, method, target, req->body, authz[0] ? authz : NULL, s->peer, &r);
    osec_metric_observe_us(gw_m.relay_latency, osec_time_mono_us() - t0);
    if (rc == 0 && r.status >= 200 && r.status < 600)
        osec_metric_inc(gw_m.relay[r.status / 100 - 2]);
    if (rc < 0) {
        osec_metric_inc(gw_m.relay_failed);
        reply(out, 503, "{\"error\":\"unavailable\",\"message\":\"CPNS Server unreachable\"}",
              NULL, NULL, false);
    } else {
        reply(out, r.status, osec_buf_cstr(&r.body), r.www_authenticate, r.auth_info, false);
        osec_info("pn.relay", "peer_entity=%s method=%s path=%s status=%d", s->peer, method,
                  target, r.status);
    }
    osec_cpns_response_free(&r);
}

void gw_session_handle(struct gw_session *s, const struct osec_http_request *req,
                       struct osec_buf *out, bool *close)
{
    bool is_hello = osec_slice_eq_cstr(req->path, "/pn/v1/hello");

    *close = !req->keep_alive;
    if (!s->authenticated) {
        if (is_hello && strcmp(s->mode, "digest") == 0) {
            digest_hello(s, req, out);
            return;
        }
        reply(out, 403, "{\"error\":\"forbidden\",\"message\":\"no PN session\"}", NULL, NULL, true);
        *close = true;
        return;
    }
    if (is_hello)
        hello(s, out, NULL);
    else if (osec_slice_starts_ci(req->path, "/cpns/v1/"))
        relay(s, req, out);
    else
        reply(out, 404, "{\"error\":\"not_found\",\"message\":\"no such resource\"}", NULL, NULL,
              false);
}
