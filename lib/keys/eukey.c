#include <stdlib.h>
#include <string.h>

#include "omasec/error.h"
#include "omasec/group.h"
#include "omasec/keys.h"
#include "omasec/util.h"

#define EUKEY_PURPOSE "eukey"

static int entity_aad(const char *entity_id, const char *user, struct osec_buf *aad)
{
    OSEC_GUARD(osec_buf_append_str(aad, entity_id));
    OSEC_GUARD(osec_buf_putc(aad, '\0'));
    return osec_buf_append_str(aad, user);
}

int osec_eukey_assign(struct osec_store *st, const struct osec_master *m,
                      const char *entity_id, const char *type, const char *user,
                      int64_t ttl, uint8_t key[OSEC_KEY_LEN], int64_t *expires)
{
    struct osec_store_entity e;
    struct osec_buf aad, sealed;
    int64_t now = osec_time_now();
    int rc;

    OSEC_ENSURE(strcmp(type, "pne") == 0 || strcmp(type, "gw") == 0, OSEC_EINVAL,
                "entity type must be pne or gw");
    OSEC_ENSURE(ttl > 0 && ttl <= INT64_MAX - now, OSEC_EINVAL, "bad key lifetime");
    memset(&e, 0, sizeof(e));
    osec_buf_init(&aad, 2 * OSEC_STORE_NAME_MAX + 2);
    osec_buf_init(&sealed, 256);
    OSEC_CHECK(rc, osec_rand_bytes(key, OSEC_KEY_LEN));
    OSEC_CHECK(rc, entity_aad(entity_id, user, &aad));
    OSEC_CHECK(rc, osec_seal(m, EUKEY_PURPOSE, aad.data, aad.len, key, OSEC_KEY_LEN, &sealed));
    OSEC_CHECK(rc, osec_strlcpy(e.entity_id, entity_id, sizeof(e.entity_id)));
    OSEC_CHECK(rc, osec_strlcpy(e.type, type, sizeof(e.type)));
    OSEC_CHECK(rc, osec_strlcpy(e.user, user, sizeof(e.user)));
    e.eukey_sealed.data = sealed.data;
    e.eukey_sealed.len = sealed.len;
    e.created = now;
    e.expires = now + ttl;
    OSEC_CHECK(rc, osec_store_entity_put(st, &e));
    *expires = e.expires;
out:
    if (rc < 0)
        osec_wipe(key, OSEC_KEY_LEN);
    osec_buf_free(&aad);
    osec_buf_free(&sealed);
    return rc;
}

int osec_eukey_get(struct osec_store *st, const struct osec_master *m, const char *entity_id,
                   uint8_t key[OSEC_KEY_LEN], struct osec_store_entity *ent)
{
    struct osec_store_entity e;
    struct osec_buf aad, pt;
    int rc;

    memset(&e, 0, sizeof(e));
    osec_buf_init(&aad, 2 * OSEC_STORE_NAME_MAX + 2);
    osec_buf_init_secret(&pt, 64);
    OSEC_CHECK(rc, osec_store_entity_get(st, entity_id, &e));
    if (e.revoked != 0)
        OSEC_FAIL(rc, OSEC_EPERM, "entity is revoked");
    if (e.expires != 0 && e.expires <= osec_time_now())
        OSEC_FAIL(rc, OSEC_ESTALE, "EUKey has expired");
    OSEC_CHECK(rc, entity_aad(e.entity_id, e.user, &aad));
    OSEC_CHECK(rc, osec_unseal(m, EUKEY_PURPOSE, aad.data, aad.len, e.eukey_sealed.data,
                               e.eukey_sealed.len, &pt));
    if (pt.len != OSEC_KEY_LEN)
        OSEC_FAIL(rc, OSEC_EINTEGRITY, "sealed EUKey has a bad length");
    memcpy(key, pt.data, OSEC_KEY_LEN);
out:
    if (rc == 0 && ent)
        *ent = e; /* hands over the blob */
    else
        osec_store_entity_clear(&e);
    osec_buf_free(&aad);
    osec_buf_free(&pt);
    return rc;
}

int osec_key_to_text(const uint8_t key[OSEC_KEY_LEN], char out[OSEC_KEY_TEXT_LEN + 1])
{
    struct osec_buf b;
    int rc;

    osec_buf_init_secret(&b, 64);
    rc = osec_b64url_encode(key, OSEC_KEY_LEN, &b);
    if (rc == 0)
        rc = osec_strlcpy(out, osec_buf_cstr(&b), OSEC_KEY_TEXT_LEN + 1);
    osec_buf_free(&b);
    return rc;
}

int osec_key_from_text(struct osec_slice text, uint8_t key[OSEC_KEY_LEN])
{
    struct osec_buf b;
    int rc;

    OSEC_ENSURE(text.len == OSEC_KEY_TEXT_LEN, OSEC_EPARSE, "a key is 43 base64url characters");
    osec_buf_init_secret(&b, 64);
    rc = osec_b64url_decode(text, &b);
    if (rc == 0 && b.len != OSEC_KEY_LEN)
        rc = osec_error_set(OSEC_EPARSE, __FILE__, __LINE__, "a key is 256 bits");
    if (rc == 0)
        memcpy(key, b.data, OSEC_KEY_LEN);
    osec_buf_free(&b);
    return rc;
}

int osec_key_derive(const uint8_t key[OSEC_KEY_LEN], const char *label, const char *id,
                    uint8_t psk[OSEC_KEY_LEN])
{
    struct osec_buf info;
    int rc;

    osec_buf_init(&info, 64 + OSEC_STORE_NAME_MAX);
    rc = osec_buf_append_str(&info, label);
    if (rc == 0)
        rc = osec_buf_append_str(&info, id);
    if (rc == 0)
        rc = osec_hkdf_sha256(NULL, 0, key, OSEC_KEY_LEN, info.data, info.len, psk, OSEC_KEY_LEN);
    osec_buf_free(&info);
    return rc;
}

int osec_eukey_psk(const uint8_t eukey[OSEC_KEY_LEN], const char *entity_id,
                   uint8_t psk[OSEC_KEY_LEN])
{
    return osec_key_derive(eukey, "omasec/v1/psk/eukey/", entity_id, psk);
}

int osec_otk_psk(const uint8_t key[OSEC_KEY_LEN], const char *key_id, uint8_t psk[OSEC_KEY_LEN])
{
    return osec_key_derive(key, "omasec/v1/psk/otk/", key_id, psk);
}

int osec_eukey_revoke(struct osec_store *st, const struct osec_master *m, const char *entity_id,
                      unsigned *groups)
{
    int rc;

    OSEC_GUARD(osec_store_begin(st));
    rc = osec_store_entity_revoke(st, entity_id, 0);
    if (rc == 0)
        rc = osec_group_purge_entity(st, m, entity_id, groups);
    if (rc < 0) {
        (void)osec_store_rollback(st);
        return rc;
    }
    return osec_store_commit(st);
}

struct purge_ctx {
    struct osec_store *st;
    const struct osec_master *m;
    char (*ids)[OSEC_STORE_NAME_MAX + 1];
    size_t n, cap;
};

static int collect(const struct osec_store_entity *e, void *arg)
{
    struct purge_ctx *p = arg;

    if (p->n == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 16;
        void *n = realloc(p->ids, ncap * sizeof(*p->ids));

        OSEC_ENSURE(n != NULL, OSEC_ENOMEM, "out of memory");
        p->ids = n;
        p->cap = ncap;
    }
    return osec_strlcpy(p->ids[p->n++], e->entity_id, sizeof(p->ids[0]));
}

int osec_user_delete(struct osec_store *st, const struct osec_master *m, const char *user)
{
    struct purge_ctx p = { st, m, NULL, 0, 0 };
    int rc;

    OSEC_GUARD(osec_store_begin(st));
    rc = osec_store_entity_list(st, user, collect, &p);
    for (size_t i = 0; rc == 0 && i < p.n; i++)
        rc = osec_group_purge_entity(st, m, p.ids[i], NULL);
    if (rc == 0)
        rc = osec_store_user_del(st, user);
    free(p.ids);
    if (rc < 0) {
        (void)osec_store_rollback(st);
        return rc;
    }
    return osec_store_commit(st);
}
