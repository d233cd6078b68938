#include "omasec/pn.h"

#include <jansson.h>
#include <string.h>

#include "omasec/account.h"
#include "omasec/config.h"
#include "omasec/cpns_client.h"
#include "omasec/error.h"
#include "omasec/keys.h"
#include "omasec/util.h"

#define REC_IDENTITY "identity"
#define SESSION_INFO "omasec/v1/pn-session/"

/* ---- records are small INI texts, parsed by the strict config parser ---- */

static int line(struct osec_buf *b, const char *k, const char *v)
{
    for (const char *p = v; *p; p++)
        OSEC_ENSURE((unsigned char)*p >= 0x20 && *p != 0x7f && *p != '"', OSEC_EINVAL,
                    "value of %s holds a control character or quote", k);
    return osec_buf_appendf(b, "%s = \"%s\"\n", k, v);
}

static int save_record(struct osec_devstate *ds, const char *name, struct osec_buf *text)
{
    int rc = osec_devstate_put(ds, name, text->data, text->len);

    osec_buf_free(text);
    return rc;
}

static int load_record(struct osec_devstate *ds, const char *name, struct osec_config **cfg)
{
    struct osec_buf text;
    int rc;

    osec_buf_init_secret(&text, 8192);
    rc = osec_devstate_get(ds, name, &text);
    if (rc == 0)
        rc = osec_config_parse(name, (const char *)text.data, text.len, cfg);
    osec_buf_free(&text);
    return rc;
}

static int get_str(const struct osec_config *cfg, const char *k, char *out, size_t len)
{
    const char *v = osec_config_get(cfg, "", k);

    OSEC_ENSURE(v != NULL, OSEC_EINTEGRITY, "record lacks %s", k);
    return osec_strlcpy(out, v, len);
}

static int get_key(const struct osec_config *cfg, const char *k, uint8_t key[OSEC_KEY_LEN])
{
    const char *v = osec_config_get(cfg, "", k);

    OSEC_ENSURE(v != NULL, OSEC_EINTEGRITY, "record lacks %s", k);
    return osec_key_from_text(osec_slice_cstr(v), key);
}

int osec_pn_identity_save(struct osec_devstate *ds, const struct osec_pn_identity *id)
{
    char key[OSEC_KEY_TEXT_LEN + 1], num[32];
    struct osec_buf b;
    int rc;

    osec_buf_init_secret(&b, 8192);
    OSEC_CHECK(rc, osec_key_to_text(id->eukey, key));
    OSEC_CHECK(rc, line(&b, "entity_id", id->entity_id));
    OSEC_CHECK(rc, line(&b, "user", id->user));
    OSEC_CHECK(rc, line(&b, "type", id->type));
    OSEC_CHECK(rc, line(&b, "eukey", key));
    OSEC_CHECK(rc, osec_snprintf(num, sizeof(num), "%lld", (long long)id->expires));
    OSEC_CHECK(rc, line(&b, "expires", num));
    OSEC_CHECK(rc, line(&b, "server_host", id->server_host));
    OSEC_CHECK(rc, osec_snprintf(num, sizeof(num), "%u", (unsigned)id->server_port));
    OSEC_CHECK(rc, line(&b, "server_port", num));
    OSEC_CHECK(rc, line(&b, "cafile", id->cafile));
out:
    osec_wipe(key, sizeof(key));
    return rc < 0 ? (osec_buf_free(&b), rc) : save_record(ds, REC_IDENTITY, &b);
}

int osec_pn_identity_load(struct osec_devstate *ds, struct osec_pn_identity *id)
{
    struct osec_config *cfg = NULL;
    int64_t v;
    int rc;

    memset(id, 0, sizeof(*id));
    OSEC_GUARD(load_record(ds, REC_IDENTITY, &cfg));
    OSEC_CHECK(rc, get_str(cfg, "entity_id", id->entity_id, sizeof(id->entity_id)));
    OSEC_CHECK(rc, get_str(cfg, "user", id->user, sizeof(id->user)));
    OSEC_CHECK(rc, get_str(cfg, "type", id->type, sizeof(id->type)));
    OSEC_CHECK(rc, get_key(cfg, "eukey", id->eukey));
    OSEC_CHECK(rc, osec_config_get_int(cfg, "", "expires", 0, INT64_MAX, 0, &id->expires));
    OSEC_CHECK(rc, get_str(cfg, "server_host", id->server_host, sizeof(id->server_host)));
    OSEC_CHECK(rc, osec_config_get_int(cfg, "", "server_port", 1, 65535, 7443, &v));
    id->server_port = (uint16_t)v;
    rc = get_str(cfg, "cafile", id->cafile, sizeof(id->cafile));
out:
    osec_config_free(&cfg); /* cleanses the values */
    if (rc < 0)
        osec_pn_identity_wipe(id);
    return rc;
}

void osec_pn_identity_wipe(struct osec_pn_identity *id)
{
    osec_wipe(id, sizeof(*id));
}

int osec_pn_key_save(struct osec_devstate *ds, const struct osec_pn_key *k)
{
    char key[OSEC_KEY_TEXT_LEN + 1], num[32];
    struct osec_buf b;
    int rc;

    osec_buf_init_secret(&b, 4096);
    OSEC_CHECK(rc, osec_key_to_text(k->key, key));
    OSEC_CHECK(rc, line(&b, "peer", k->peer));
    OSEC_CHECK(rc, line(&b, "key", key));
    OSEC_CHECK(rc, osec_snprintf(num, sizeof(num), "%lld", (long long)k->expires));
    OSEC_CHECK(rc, line(&b, "expires", num));
out:
    osec_wipe(key, sizeof(key));
    return rc < 0 ? (osec_buf_free(&b), rc) : save_record(ds, k->id, &b);
}

int osec_pn_key_load(struct osec_devstate *ds, const char *id, struct osec_pn_key *k)
{
    struct osec_config *cfg = NULL;
    int rc;

    memset(k, 0, sizeof(*k));
    OSEC_GUARD(load_record(ds, id, &cfg));
    OSEC_CHECK(rc, osec_strlcpy(k->id, id, sizeof(k->id)));
    OSEC_CHECK(rc, get_str(cfg, "peer", k->peer, sizeof(k->peer)));
    OSEC_CHECK(rc, get_key(cfg, "key", k->key));
    OSEC_CHECK(rc, osec_config_get_int(cfg, "", "expires", 1, INT64_MAX, 1, &k->expires));
    if (k->expires <= osec_time_now()) {
        (void)osec_devstate_del(ds, id);
        OSEC_FAIL(rc, OSEC_ESTALE, "key %s has expired", id);
    }
out:
    osec_config_free(&cfg);
    if (rc < 0)
        osec_wipe(k, sizeof(*k));
    return rc;
}

/* ---- talking to the server ------------------------------------------- */

static int parse_json(const struct osec_cpns_response *r, json_t **out)
{
    json_error_t err;

    *out = json_loadb((const char *)r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &err);
    OSEC_ENSURE(*out != NULL, OSEC_EPARSE, "server sent invalid JSON");
    return 0;
}

static int expect(const struct osec_cpns_response *r, int status, const char *what)
{
    json_t *j = NULL;
    const char *msg = NULL;

    if (r->status == status)
        return 0;
    if (parse_json(r, &j) == 0)
        msg = json_string_value(json_object_get(j, "message"));
    (void)osec_error_set(r->status == 401 ? OSEC_EAUTH : r->status == 403 ? OSEC_EPERM
                         : r->status == 404 ? OSEC_ENOTFOUND : OSEC_EIO,
                         __FILE__, __LINE__, "%s: server answered %d%s%s", what, r->status,
                         msg ? ": " : "", msg ? msg : "");
    json_decref(j);
    return osec_error_code();
}

static int json_str(json_t *j, const char *k, char *out, size_t len)
{
    const char *v = json_string_value(json_object_get(j, k));

    OSEC_ENSURE(v != NULL, OSEC_EPARSE, "server response lacks %s", k);
    return osec_strlcpy(out, v, len);
}

static int take_eukey(json_t *j, struct osec_pn_identity *id)
{
    const char *k = json_string_value(json_object_get(j, "eukey"));
    json_t *e = json_object_get(j, "expires");

    OSEC_ENSURE(k && json_is_integer(e), OSEC_EPARSE, "server response lacks eukey/expires");
    OSEC_GUARD(osec_key_from_text(osec_slice_cstr(k), id->eukey));
    id->expires = json_integer_value(e);
    OSEC_GUARD(json_str(j, "user_id", id->user, sizeof(id->user)));
    return json_str(j, "type", id->type, sizeof(id->type));
}

int osec_pn_enroll(const struct osec_pn_enroll_opts *eo, struct osec_pn_identity *id)
{
    const char *host = eo->host, *cafile = eo->cafile, *entity_id = eo->entity_id;
    uint16_t port = eo->port;
    struct osec_cpns_client_opts o;
    struct osec_cpns_client *c = NULL;
    struct osec_cpns_response r;
    char path[256], body[64];
    json_t *j = NULL;
    int rc;

    memset(id, 0, sizeof(*id));
    memset(&o, 0, sizeof(o));
    o.host = host;
    o.port = port;
    o.ca_file = cafile;
    o.tunnel_host = eo->via_host;
    o.tunnel_port = eo->via_port;
    osec_cpns_response_init(&r);
    OSEC_CHECK(rc, osec_account_name_valid(entity_id));
    OSEC_CHECK(rc, osec_snprintf(path, sizeof(path), "/cpns/v1/entities/%s/eukey", entity_id));
    OSEC_CHECK(rc, osec_snprintf(body, sizeof(body), "{\"type\":\"%s\"}", eo->type));
    OSEC_CHECK(rc, osec_cpns_client_new(&o, &c));
    OSEC_CHECK(rc, osec_cpns_client_set_digest(c, eo->user, eo->password, 0));
    OSEC_CHECK(rc, osec_cpns_client_request(c, "POST", path, osec_slice_cstr(body), NULL, &r));
    OSEC_CHECK(rc, expect(&r, 201, "EUKey assignment"));
    OSEC_CHECK(rc, parse_json(&r, &j));
    OSEC_CHECK(rc, take_eukey(j, id));
    OSEC_CHECK(rc, osec_strlcpy(id->entity_id, entity_id, sizeof(id->entity_id)));
    OSEC_CHECK(rc, osec_strlcpy(id->server_host, host, sizeof(id->server_host)));
    id->server_port = port;
    rc = osec_strlcpy(id->cafile, cafile ? cafile : "", sizeof(id->cafile));
out:
    json_decref(j);
    osec_cpns_response_free(&r);
    osec_cpns_client_free(&c);
    if (rc < 0)
        osec_pn_identity_wipe(id);
    return rc;
}

int osec_pn_server_client(const struct osec_pn_identity *id, struct osec_cpns_client **out)
{
    struct osec_cpns_client_opts o;
    uint8_t psk[OSEC_KEY_LEN];
    int rc;

    memset(&o, 0, sizeof(o));
    o.host = id->server_host;
    o.port = id->server_port;
    o.psk_identity = id->entity_id;
    o.psk = psk;
    o.psk_len = sizeof(psk);
    rc = osec_eukey_psk(id->eukey, id->entity_id, psk);
    if (rc == 0)
        rc = osec_cpns_client_new(&o, out); /* copies the PSK */
    osec_wipe(psk, sizeof(psk));
    return rc;
}

int osec_pn_pair(struct osec_devstate *ds, struct osec_cpns_client *server, const char *peer,
                 int64_t ttl, struct osec_pn_key *key)
{
    char text[OSEC_KEY_TEXT_LEN + 1], body[256];
    struct osec_cpns_response r;
    json_t *j = NULL;
    int rc;

    memset(key, 0, sizeof(*key));
    osec_cpns_response_init(&r);
    OSEC_CHECK(rc, osec_account_name_valid(peer));
    OSEC_CHECK(rc, osec_rand_bytes(key->key, OSEC_KEY_LEN));
    OSEC_CHECK(rc, osec_key_to_text(key->key, text));
    OSEC_CHECK(rc, osec_snprintf(body, sizeof(body), "{\"peer\":\"%s\",\"key\":\"%s\",\"ttl\":%lld}",
                                 peer, text, (long long)ttl));
    rc = osec_cpns_client_request(server, "POST", "/cpns/v1/onetime-keys",
                                  osec_slice_cstr(body), NULL, &r);
    osec_wipe(body, sizeof(body));
    if (rc < 0)
        goto out;
    OSEC_CHECK(rc, expect(&r, 201, "onetime key registration"));
    OSEC_CHECK(rc, parse_json(&r, &j));
    OSEC_CHECK(rc, json_str(j, "key_id", key->id, sizeof(key->id)));
    if (!json_is_integer(json_object_get(j, "expires")))
        OSEC_FAIL(rc, OSEC_EPARSE, "server response lacks expires");
    key->expires = json_integer_value(json_object_get(j, "expires"));
    OSEC_CHECK(rc, osec_strlcpy(key->peer, peer, sizeof(key->peer)));
    rc = osec_pn_key_save(ds, key);
out:
    osec_wipe(text, sizeof(text));
    json_decref(j);
    osec_cpns_response_free(&r);
    if (rc < 0)
        osec_wipe(key->key, sizeof(key->key));
    return rc;
}

/* The newest pending key (from creator when given). */
static json_t *pick(json_t *list, const char *creator)
{
    json_t *best = NULL, *it;
    size_t i;

    json_array_foreach(list, i, it) {
        const char *cr = json_string_value(json_object_get(it, "creator"));

        if (!cr || (creator && strcmp(cr, creator) != 0))
            continue;
        if (!best || json_integer_value(json_object_get(it, "expires")) >=
                         json_integer_value(json_object_get(best, "expires")))
            best = it;
    }
    return best;
}

static int unwrap(json_t *it, const struct osec_pn_identity *id, struct osec_pn_key *key)
{
    const char *sealed = json_string_value(json_object_get(it, "sealed"));
    json_t *exp = json_object_get(it, "expires");
    struct osec_buf raw;
    int rc;

    OSEC_ENSURE(sealed && json_is_integer(exp), OSEC_EPARSE, "bad onetime key record");
    OSEC_GUARD(json_str(it, "key_id", key->id, sizeof(key->id)));
    OSEC_GUARD(json_str(it, "creator", key->peer, sizeof(key->peer)));
    key->expires = json_integer_value(exp);
    osec_buf_init(&raw, 256);
    rc = osec_b64url_decode(osec_slice_cstr(sealed), &raw);
    if (rc == 0)
        rc = osec_otk_unwrap(id->eukey, key->id, key->peer, id->entity_id, key->expires,
                             raw.data, raw.len, key->key);
    osec_buf_free(&raw);
    return rc;
}

static int consume(struct osec_cpns_client *server, const char *key_id, struct osec_pn_key *key,
                   const struct osec_pn_identity *id)
{
    struct osec_cpns_response r;
    char path[256];
    json_t *j = NULL;
    int rc;

    osec_cpns_response_init(&r);
    OSEC_CHECK(rc, osec_snprintf(path, sizeof(path), "/cpns/v1/onetime-keys/%s", key_id));
    OSEC_CHECK(rc, osec_cpns_client_request(server, "DELETE", path, osec_slice_make(NULL, 0),
                                            NULL, &r));
    OSEC_CHECK(rc, expect(&r, 200, "onetime key consumption"));
    OSEC_CHECK(rc, parse_json(&r, &j));
    rc = unwrap(j, id, key);
out:
    json_decref(j);
    osec_cpns_response_free(&r);
    return rc;
}

int osec_pn_fetch_otk(struct osec_cpns_client *server, const struct osec_pn_identity *id,
                      const char *creator, struct osec_pn_key *key)
{
    struct osec_cpns_response r;
    char key_id[OSEC_STORE_NAME_MAX + 1];
    json_t *j = NULL, *it;
    int rc;

    memset(key, 0, sizeof(*key));
    osec_cpns_response_init(&r);
    OSEC_CHECK(rc, osec_cpns_client_request(server, "GET", "/cpns/v1/onetime-keys",
                                            osec_slice_make(NULL, 0), NULL, &r));
    OSEC_CHECK(rc, expect(&r, 200, "onetime key list"));
    OSEC_CHECK(rc, parse_json(&r, &j));
    it = json_is_array(j) ? pick(j, creator) : NULL;
    if (!it)
        OSEC_FAIL(rc, OSEC_ENOTFOUND, "no onetime key is waiting%s%s", creator ? " from " : "",
                  creator ? creator : "");
    OSEC_CHECK(rc, json_str(it, "key_id", key_id, sizeof(key_id)));
    /* consume first: the server hands a key out exactly once */
    rc = consume(server, key_id, key, id);
out:
    json_decref(j);
    osec_cpns_response_free(&r);
    if (rc < 0)
        osec_wipe(key, sizeof(*key));
    return rc;
}

int osec_pn_session_derive(const struct osec_pn_key *otk, const char *pne_entity,
                           struct osec_pn_key *session)
{
    memset(session, 0, sizeof(*session));
    OSEC_GUARD(osec_snprintf(session->id, sizeof(session->id), "%s%s", OSEC_PN_SESSION_PREFIX,
                             pne_entity));
    session->expires = osec_time_now() + OSEC_PN_SESSION_TTL;
    return osec_key_derive(otk->key, SESSION_INFO, otk->id, session->key);
}

int osec_pn_key_psk(const struct osec_pn_key *key, uint8_t psk[OSEC_KEY_LEN])
{
    if (strncmp(key->id, OSEC_OTK_ID_PREFIX, strlen(OSEC_OTK_ID_PREFIX)) == 0)
        return osec_otk_psk(key->key, key->id, psk);
    return osec_key_derive(key->key, "omasec/v1/psk/pn/", key->id, psk);
}

/* ---- joining a PN GW ------------------------------------------------------ */

static int gw_client(const struct osec_pn_join_opts *o, const struct osec_pn_key *key,
                     struct osec_cpns_client **out)
{
    struct osec_cpns_client_opts co;
    char text[OSEC_KEY_TEXT_LEN + 1];
    uint8_t psk[OSEC_KEY_LEN];
    int rc;

    memset(&co, 0, sizeof(co));
    co.host = o->gw_host;
    co.port = o->gw_port;
    co.dtls = o->udp;
    if (o->mode == OSEC_PN_MODE_DIGEST) {
        OSEC_ENSURE(!o->udp, OSEC_EINVAL, "digest mode runs over TCP");
        OSEC_ENSURE(o->gw_cafile && o->gw_cafile[0], OSEC_EINVAL,
                    "digest mode needs the CA of the GW certificate");
        co.ca_file = o->gw_cafile;
        OSEC_GUARD(osec_cpns_client_new(&co, out));
        rc = osec_key_to_text(key->key, text);
        if (rc == 0)
            rc = osec_cpns_client_set_digest(*out, key->id, text, 0);
        osec_wipe(text, sizeof(text));
        return rc;
    }
    co.psk_identity = key->id;
    co.psk = psk;
    co.psk_len = sizeof(psk);
    rc = osec_pn_key_psk(key, psk);
    if (rc == 0)
        rc = osec_cpns_client_new(&co, out);
    osec_wipe(psk, sizeof(psk));
    return rc;
}

/* Ask the GW who it is over the new session: its answer must name the
 * key's creator (the PSK handshake or the rspauth already proved that the
 * GW holds the key; this binds the name too). */
static int hello(struct osec_cpns_client *c, const char *expect_gw, const char *self,
                 char gw[OSEC_STORE_NAME_MAX + 1])
{
    struct osec_cpns_response r;
    json_t *j = NULL;
    char peer[OSEC_STORE_NAME_MAX + 1];
    int rc;

    osec_cpns_response_init(&r);
    OSEC_CHECK(rc, osec_cpns_client_request(c, "GET", "/pn/v1/hello", osec_slice_make(NULL, 0),
                                            NULL, &r));
    OSEC_CHECK(rc, expect(&r, 200, "PN establishment"));
    OSEC_CHECK(rc, parse_json(&r, &j));
    OSEC_CHECK(rc, json_str(j, "gw", gw, OSEC_STORE_NAME_MAX + 1));
    OSEC_CHECK(rc, json_str(j, "peer", peer, sizeof(peer)));
    if (expect_gw && strcmp(gw, expect_gw) != 0)
        OSEC_FAIL(rc, OSEC_EAUTH, "the GW calls itself %s but the key came from %s", gw,
                  expect_gw);
    if (strcmp(peer, self) != 0)
        OSEC_FAIL(rc, OSEC_EAUTH, "the GW authenticated us as %s", peer);
out:
    json_decref(j);
    osec_cpns_response_free(&r);
    return rc;
}

int osec_pn_join(struct osec_devstate *ds, const struct osec_pn_identity *id,
                 const struct osec_pn_join_opts *o, char gw[OSEC_STORE_NAME_MAX + 1])
{
    struct osec_cpns_client *server = NULL, *c = NULL;
    struct osec_pn_key otk, session;
    int rc;

    memset(&otk, 0, sizeof(otk));
    memset(&session, 0, sizeof(session));
    OSEC_CHECK(rc, osec_pn_server_client(id, &server));
    OSEC_CHECK(rc, osec_pn_fetch_otk(server, id, o->creator, &otk));
    OSEC_CHECK(rc, gw_client(o, &otk, &c));
    OSEC_CHECK(rc, hello(c, otk.peer, id->entity_id, gw));
    OSEC_CHECK(rc, osec_pn_session_derive(&otk, id->entity_id, &session));
    OSEC_CHECK(rc, osec_strlcpy(session.peer, gw, sizeof(session.peer)));
    rc = osec_pn_key_save(ds, &session);
out:
    osec_wipe(&otk, sizeof(otk));
    osec_wipe(&session, sizeof(session));
    osec_cpns_client_free(&c);
    osec_cpns_client_free(&server);
    return rc;
}

int osec_pn_session_client(struct osec_devstate *ds, const struct osec_pn_identity *id,
                           const char *gw_host, uint16_t gw_port, bool udp,
                           struct osec_cpns_client **out)
{
    struct osec_pn_join_opts o = { gw_host, gw_port, udp, OSEC_PN_MODE_PSK, NULL, NULL };
    struct osec_pn_key session;
    char name[OSEC_STORE_NAME_MAX + 1], text[OSEC_KEY_TEXT_LEN + 1];
    int rc;

    *out = NULL;
    OSEC_GUARD(osec_snprintf(name, sizeof(name), "%s%s", OSEC_PN_SESSION_PREFIX, id->entity_id));
    rc = osec_pn_key_load(ds, name, &session);
    if (rc == OSEC_ENOTFOUND)
        OSEC_BAIL(rc, "no PN session: join a GW first");
    OSEC_GUARD(rc);
    rc = gw_client(&o, &session, out);
    if (rc == 0)
        rc = osec_key_to_text(id->eukey, text);
    if (rc == 0)
        rc = osec_cpns_client_set_digest(*out, id->entity_id, text, 0);
    osec_wipe(text, sizeof(text));
    osec_wipe(&session, sizeof(session));
    if (rc < 0)
        osec_cpns_client_free(out);
    return rc;
}
