#include "omasec/cpns_msg.h"

#include <jansson.h>
#include <string.h>

#include "omasec/account.h"
#include "omasec/error.h"
#include "omasec/keys.h"

static int load(struct osec_slice body, json_t **out)
{
    json_error_t err;
    json_t *j;

    OSEC_ENSURE(body.len > 0, OSEC_EPARSE, "a JSON body is required");
    OSEC_ENSURE(body.len <= OSEC_CPNS_BODY_MAX, OSEC_EPARSE, "body too large");
    j = json_loadb((const char *)body.ptr, body.len, JSON_REJECT_DUPLICATES, &err);
    OSEC_ENSURE(j != NULL, OSEC_EPARSE, "invalid JSON at line %d column %d", err.line,
                err.column);
    if (!json_is_object(j)) {
        json_decref(j);
        OSEC_BAIL(OSEC_EPARSE, "the body must be a JSON object");
    }
    *out = j;
    return 0;
}

/* Every member of j must be one of allowed (NULL-terminated). */
static int only(json_t *j, const char *const *allowed)
{
    const char *k;
    json_t *v;

    json_object_foreach(j, k, v) {
        bool ok = false;

        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(k, allowed[i]) == 0;
        OSEC_ENSURE(ok, OSEC_EPARSE, "unknown member in body");
    }
    return 0;
}

static int get_str(json_t *j, const char *name, const char **out, size_t *len)
{
    json_t *v = json_object_get(j, name);

    OSEC_ENSURE(v != NULL, OSEC_EPARSE, "member '%s' is required", name);
    OSEC_ENSURE(json_is_string(v), OSEC_EPARSE, "member '%s' must be a string", name);
    *out = json_string_value(v);
    *len = json_string_length(v);
    OSEC_ENSURE(strlen(*out) == *len, OSEC_EPARSE, "member '%s' holds a NUL", name);
    return 0;
}

int osec_cpns_parse_eukey_req(struct osec_slice body, struct osec_cpns_eukey_req *out)
{
    static const char *const allowed[] = { "type", NULL };
    const char *type;
    size_t len;
    json_t *j;
    int rc;

    OSEC_GUARD(load(body, &j));
    OSEC_CHECK(rc, only(j, allowed));
    OSEC_CHECK(rc, get_str(j, "type", &type, &len));
    if (strcmp(type, "pne") != 0 && strcmp(type, "gw") != 0)
        OSEC_FAIL(rc, OSEC_EPARSE, "type must be \"pne\" or \"gw\"");
    rc = osec_strlcpy(out->type, type, sizeof(out->type));
out:
    json_decref(j);
    return rc;
}

static int get_ttl(json_t *j, int64_t *ttl)
{
    json_t *v = json_object_get(j, "ttl");

    *ttl = OSEC_OTK_TTL_DEFAULT;
    if (!v)
        return 0;
    OSEC_ENSURE(json_is_integer(v), OSEC_EPARSE, "ttl must be an integer");
    *ttl = json_integer_value(v);
    OSEC_ENSURE(*ttl >= 1 && *ttl <= OSEC_OTK_TTL_MAX, OSEC_EPARSE,
                "ttl must be 1..%d seconds", OSEC_OTK_TTL_MAX);
    return 0;
}

int osec_cpns_parse_otk_req(struct osec_slice body, struct osec_cpns_otk_req *out)
{
    static const char *const allowed[] = { "peer", "key", "ttl", NULL };
    const char *peer, *key;
    size_t plen, klen;
    json_t *j;
    int rc;

    OSEC_GUARD(load(body, &j));
    OSEC_CHECK(rc, only(j, allowed));
    OSEC_CHECK(rc, get_str(j, "peer", &peer, &plen));
    if (osec_account_name_valid(peer) < 0)
        OSEC_FAIL(rc, OSEC_EPARSE, "peer is not a valid entity id");
    OSEC_CHECK(rc, osec_strlcpy(out->peer, peer, sizeof(out->peer)));
    OSEC_CHECK(rc, get_str(j, "key", &key, &klen));
    if (osec_key_from_text(osec_slice_make(key, klen), out->key) < 0)
        OSEC_FAIL(rc, OSEC_EPARSE, "key must be 256 bits in base64url (43 characters)");
    rc = get_ttl(j, &out->ttl);
out:
    if (rc < 0)
        osec_wipe(out->key, sizeof(out->key));
    json_decref(j);
    return rc;
}
