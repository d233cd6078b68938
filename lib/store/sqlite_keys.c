/* SQLite backend: CPNS entities (EUKeys) and onetime security keys. */
#include <string.h>

#include "omasec/error.h"
#include "store/sqlite_int.h"

/* ---- entities --------------------------------------------------------- */

static int read_entity(sqlite3_stmt *s, struct osec_store_entity *e)
{
    int rc;

    memset(e, 0, sizeof(*e));
    OSEC_CHECK(rc, osec_sq_col_text(s, 0, e->entity_id, sizeof(e->entity_id)));
    OSEC_CHECK(rc, osec_sq_col_text(s, 1, e->type, sizeof(e->type)));
    OSEC_CHECK(rc, osec_sq_col_text(s, 2, e->user, sizeof(e->user)));
    OSEC_CHECK(rc, osec_sq_col_blob(s, 3, &e->eukey_sealed));
    e->created = sqlite3_column_int64(s, 4);
    e->expires = sqlite3_column_int64(s, 5);
    e->revoked = sqlite3_column_int64(s, 6);
out:
    if (rc < 0)
        osec_store_entity_clear(e);
    return rc;
}

static int bind_key(struct sq *sq, enum sq_id id, const char *key, sqlite3_stmt **s)
{
    OSEC_GUARD(osec_sq_stmt(sq, id, s));
    return osec_sq_text(sq, *s, 1, key);
}

/* Does a row with this key exist? 1 / 0 / error. */
static int exists(struct sq *sq, enum sq_id id, const char *key, const char *what)
{
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_GUARD(osec_sq_stmt(sq, id, &s));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 1, key));
    rc = osec_sq_step(sq, s, what);
out:
    osec_sq_done(s);
    return rc;
}

int osec_sq_entity_put(struct osec_store *st, const struct osec_store_entity *e)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int64_t n = 0;
    int rc;

    OSEC_GUARD(osec_sq_stmt(sq, SQ_ENT_PUT, &s));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 1, e->entity_id));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 2, e->type));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 3, e->user));
    OSEC_CHECK(rc, osec_sq_blob(sq, s, 4, e->eukey_sealed.data, e->eukey_sealed.len));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 5, e->created));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 6, e->expires));
    OSEC_CHECK(rc, osec_sq_run(sq, s, "entity", &n));
    if (n == 0)
        OSEC_FAIL(rc, OSEC_EPERM, "entity %s belongs to another user", e->entity_id);
out:
    osec_sq_done(s);
    return rc;
}

int osec_sq_entity_get(struct osec_store *st, const char *id, struct osec_store_entity *out)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, bind_key(sq, SQ_ENT_GET, id, &s));
    OSEC_CHECK(rc, osec_sq_one(sq, s, "entity"));
    rc = read_entity(s, out);
out:
    osec_sq_done(s);
    return rc;
}

struct entity_iter {
    osec_store_entity_cb cb;
    void *arg;
};

static int entity_row(sqlite3_stmt *s, void *ctx)
{
    struct entity_iter *it = ctx;
    struct osec_store_entity e;
    int rc = read_entity(s, &e);

    if (rc == 0)
        rc = it->cb(&e, it->arg);
    osec_store_entity_clear(&e);
    return rc;
}

int osec_sq_entity_list(struct osec_store *st, const char *user, osec_store_entity_cb cb,
                        void *arg)
{
    struct sq *sq = sq_of(st);
    struct entity_iter it = { cb, arg };
    sqlite3_stmt *s = NULL;
    int rc = 0;

    OSEC_GUARD(osec_sq_stmt(sq, user ? SQ_ENT_LIST_USER : SQ_ENT_LIST_ALL, &s));
    if (user)
        OSEC_CHECK(rc, osec_sq_text(sq, s, 1, user));
    rc = osec_sq_each(sq, s, "listing entities", entity_row, &it);
out:
    osec_sq_done(s);
    return rc;
}

static int delete_entity_otks(struct sq *sq, const char *id)
{
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, bind_key(sq, SQ_OTK_DEL_ENTITY, id, &s));
    rc = osec_sq_run(sq, s, "onetime keys of the entity", NULL);
out:
    osec_sq_done(s);
    return rc;
}

/* Runs inside a transaction (store.c). */
int osec_sq_entity_revoke(struct osec_store *st, const char *id, int64_t when)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int64_t n = 0;
    int rc;

    OSEC_CHECK(rc, bind_key(sq, SQ_ENT_REVOKE, id, &s));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 2, when));
    OSEC_CHECK(rc, osec_sq_run(sq, s, "entity", &n));
    osec_sq_done(s);
    /* No change: either absent or already revoked (keep the first time). */
    if (n == 0) {
        rc = exists(sq, SQ_ENT_EXISTS, id, "entity");
        if (rc < 0)
            return rc;
        OSEC_ENSURE(rc == 1, OSEC_ENOTFOUND, "entity not found");
    }
    return delete_entity_otks(sq, id);
out:
    osec_sq_done(s);
    return rc;
}

int osec_sq_entity_delete(struct osec_store *st, const char *id)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int64_t n = 0;
    int rc;

    OSEC_CHECK(rc, bind_key(sq, SQ_ENT_DEL, id, &s));
    OSEC_CHECK(rc, osec_sq_run(sq, s, "entity", &n));
    if (n == 0)
        OSEC_FAIL(rc, OSEC_ENOTFOUND, "entity not found");
out:
    osec_sq_done(s);
    return rc;
}

/* ---- onetime keys ----------------------------------------------------- */

static int read_otk(sqlite3_stmt *s, struct osec_store_otk *k)
{
    int rc;

    memset(k, 0, sizeof(*k));
    OSEC_CHECK(rc, osec_sq_col_text(s, 0, k->key_id, sizeof(k->key_id)));
    OSEC_CHECK(rc, osec_sq_col_text(s, 1, k->creator, sizeof(k->creator)));
    OSEC_CHECK(rc, osec_sq_col_text(s, 2, k->peer, sizeof(k->peer)));
    OSEC_CHECK(rc, osec_sq_col_blob(s, 3, &k->sealed));
    k->created = sqlite3_column_int64(s, 4);
    k->expires = sqlite3_column_int64(s, 5);
out:
    if (rc < 0)
        osec_store_otk_clear(k);
    return rc;
}

int osec_sq_otk_add(struct osec_store *st, const struct osec_store_otk *k)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, bind_key(sq, SQ_OTK_ADD, k->key_id, &s));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 2, k->creator));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 3, k->peer));
    OSEC_CHECK(rc, osec_sq_blob(sq, s, 4, k->sealed.data, k->sealed.len));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 5, k->created));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 6, k->expires));
    rc = osec_sq_run(sq, s, "onetime key", NULL);
out:
    osec_sq_done(s);
    return rc;
}

int osec_sq_otk_get(struct osec_store *st, const char *key_id, struct osec_store_otk *out)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, bind_key(sq, SQ_OTK_GET, key_id, &s));
    OSEC_CHECK(rc, osec_sq_one(sq, s, "onetime key"));
    rc = read_otk(s, out);
out:
    osec_sq_done(s);
    return rc;
}

struct otk_iter {
    osec_store_otk_cb cb;
    void *arg;
};

static int otk_row(sqlite3_stmt *s, void *ctx)
{
    struct otk_iter *it = ctx;
    struct osec_store_otk k;
    int rc = read_otk(s, &k);

    if (rc == 0)
        rc = it->cb(&k, it->arg);
    osec_store_otk_clear(&k);
    return rc;
}

int osec_sq_otk_list_for(struct osec_store *st, const char *peer, int64_t now,
                         osec_store_otk_cb cb, void *arg)
{
    struct sq *sq = sq_of(st);
    struct otk_iter it = { cb, arg };
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, bind_key(sq, SQ_OTK_LIST_FOR, peer, &s));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 2, now));
    rc = osec_sq_each(sq, s, "listing onetime keys", otk_row, &it);
out:
    osec_sq_done(s);
    return rc;
}

/* DELETE ... RETURNING takes the row away from every other connection in
 * one step; the statement commits when it is stepped to its end. */
int osec_sq_otk_take(struct osec_store *st, const char *key_id, const char *caller,
                     struct osec_store_otk *out)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    OSEC_CHECK(rc, bind_key(sq, SQ_OTK_TAKE, key_id, &s));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 2, caller));
    OSEC_CHECK(rc, osec_sq_step(sq, s, "consuming a onetime key"));
    if (rc == 1) {
        OSEC_CHECK(rc, read_otk(s, out));
        OSEC_CHECK(rc, osec_sq_run(sq, s, "consuming a onetime key", NULL));
        goto out;
    }
    osec_sq_done(s);
    rc = exists(sq, SQ_OTK_EXISTS, key_id, "onetime key");
    if (rc < 0)
        return rc;
    /* Present but not ours: say so, and leave it for its owners. */
    OSEC_ENSURE(rc == 0, OSEC_EPERM, "onetime key belongs to other entities");
    OSEC_BAIL(OSEC_ENOTFOUND, "onetime key not found");
out:
    osec_sq_done(s);
    if (rc < 0)
        osec_store_otk_clear(out);
    return rc;
}

int osec_sq_otk_purge(struct osec_store *st, int64_t now, uint64_t *count)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int64_t n = 0;
    int rc;

    OSEC_GUARD(osec_sq_stmt(sq, SQ_OTK_PURGE, &s));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 1, now));
    OSEC_CHECK(rc, osec_sq_run(sq, s, "purging onetime keys", &n));
    if (count)
        *count = (uint64_t)n;
out:
    osec_sq_done(s);
    return rc;
}
