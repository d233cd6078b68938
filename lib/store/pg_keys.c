/* PostgreSQL backend: CPNS entities (EUKeys) and onetime security keys (as
 * sqlite_keys.c). */
#include <string.h>

#include "omasec/error.h"

#ifdef OSEC_HAVE_LIBPQ

#include "store/pg_int.h"

/* ---- entities --------------------------------------------------------- */

static int read_entity(const PGresult *r, int i, struct osec_store_entity *e)
{
    int rc;

    memset(e, 0, sizeof(*e));
    OSEC_CHECK(rc, osec_pg_col_text(r, i, 0, e->entity_id, sizeof(e->entity_id)));
    OSEC_CHECK(rc, osec_pg_col_text(r, i, 1, e->type, sizeof(e->type)));
    OSEC_CHECK(rc, osec_pg_col_text(r, i, 2, e->user, sizeof(e->user)));
    OSEC_CHECK(rc, osec_pg_col_blob(r, i, 3, &e->eukey_sealed));
    OSEC_CHECK(rc, osec_pg_col_i64(r, i, 4, &e->created));
    OSEC_CHECK(rc, osec_pg_col_i64(r, i, 5, &e->expires));
    OSEC_CHECK(rc, osec_pg_col_i64(r, i, 6, &e->revoked));
out:
    if (rc < 0)
        osec_store_entity_clear(e);
    return rc;
}

static struct pg_params key(const char *k)
{
    struct pg_params p = { .n = 0 };

    osec_pg_text(&p, k);
    return p;
}

int osec_pg_entity_put(struct osec_store *st, const struct osec_store_entity *e)
{
    struct pg_params p = { .n = 0 };
    int64_t n = 0;

    osec_pg_text(&p, e->entity_id);
    osec_pg_text(&p, e->type);
    osec_pg_text(&p, e->user);
    osec_pg_blob(&p, e->eukey_sealed.data, e->eukey_sealed.len);
    osec_pg_i64(&p, e->created);
    osec_pg_i64(&p, e->expires);
    OSEC_GUARD(osec_pg_run(pg_of(st), PG_ENT_PUT, &p, "entity", &n));
    OSEC_ENSURE(n > 0, OSEC_EPERM, "entity %s belongs to another user", e->entity_id);
    return 0;
}

int osec_pg_entity_get(struct osec_store *st, const char *id, struct osec_store_entity *out)
{
    struct pg_params p = key(id);
    PGresult *r = NULL;
    int rc;

    OSEC_GUARD(osec_pg_one(pg_of(st), PG_ENT_GET, &p, "entity", &r));
    rc = read_entity(r, 0, out);
    PQclear(r);
    return rc;
}

struct entity_iter {
    osec_store_entity_cb cb;
    void *arg;
};

static int entity_row(const PGresult *r, int i, void *ctx)
{
    struct entity_iter *it = ctx;
    struct osec_store_entity e;
    int rc = read_entity(r, i, &e);

    if (rc == 0)
        rc = it->cb(&e, it->arg);
    osec_store_entity_clear(&e);
    return rc;
}

int osec_pg_entity_list(struct osec_store *st, const char *user, osec_store_entity_cb cb,
                        void *arg)
{
    struct entity_iter it = { cb, arg };
    struct pg_params p = { .n = 0 };

    if (user)
        osec_pg_text(&p, user);
    return osec_pg_each(pg_of(st), user ? PG_ENT_LIST_USER : PG_ENT_LIST_ALL, &p,
                        "listing entities", entity_row, &it);
}

/* Runs inside a transaction (store.c). */
int osec_pg_entity_revoke(struct osec_store *st, const char *id, int64_t when)
{
    struct pg *pg = pg_of(st);
    struct pg_params p = key(id), k = key(id);
    int64_t n = 0;
    int rc;

    osec_pg_i64(&p, when);
    OSEC_GUARD(osec_pg_run(pg, PG_ENT_REVOKE, &p, "entity", &n));
    /* No change: either absent or already revoked (keep the first time). */
    if (n == 0) {
        rc = osec_pg_exists(pg, PG_ENT_EXISTS, &k, "entity");
        OSEC_GUARD(rc);
        OSEC_ENSURE(rc == 1, OSEC_ENOTFOUND, "entity not found");
    }
    return osec_pg_run(pg, PG_OTK_DEL_ENTITY, &k, "onetime keys of the entity", NULL);
}

int osec_pg_entity_delete(struct osec_store *st, const char *id)
{
    struct pg_params p = key(id);
    int64_t n = 0;

    OSEC_GUARD(osec_pg_run(pg_of(st), PG_ENT_DEL, &p, "entity", &n));
    OSEC_ENSURE(n > 0, OSEC_ENOTFOUND, "entity not found");
    return 0;
}

/* ---- onetime keys ----------------------------------------------------- */

static int read_otk(const PGresult *r, int i, struct osec_store_otk *k)
{
    int rc;

    memset(k, 0, sizeof(*k));
    OSEC_CHECK(rc, osec_pg_col_text(r, i, 0, k->key_id, sizeof(k->key_id)));
    OSEC_CHECK(rc, osec_pg_col_text(r, i, 1, k->creator, sizeof(k->creator)));
    OSEC_CHECK(rc, osec_pg_col_text(r, i, 2, k->peer, sizeof(k->peer)));
    OSEC_CHECK(rc, osec_pg_col_blob(r, i, 3, &k->sealed));
    OSEC_CHECK(rc, osec_pg_col_i64(r, i, 4, &k->created));
    OSEC_CHECK(rc, osec_pg_col_i64(r, i, 5, &k->expires));
out:
    if (rc < 0)
        osec_store_otk_clear(k);
    return rc;
}

int osec_pg_otk_add(struct osec_store *st, const struct osec_store_otk *k)
{
    struct pg_params p = key(k->key_id);

    osec_pg_text(&p, k->creator);
    osec_pg_text(&p, k->peer);
    osec_pg_blob(&p, k->sealed.data, k->sealed.len);
    osec_pg_i64(&p, k->created);
    osec_pg_i64(&p, k->expires);
    return osec_pg_run(pg_of(st), PG_OTK_ADD, &p, "onetime key", NULL);
}

int osec_pg_otk_get(struct osec_store *st, const char *key_id, struct osec_store_otk *out)
{
    struct pg_params p = key(key_id);
    PGresult *r = NULL;
    int rc;

    OSEC_GUARD(osec_pg_one(pg_of(st), PG_OTK_GET, &p, "onetime key", &r));
    rc = read_otk(r, 0, out);
    PQclear(r);
    return rc;
}

struct otk_iter {
    osec_store_otk_cb cb;
    void *arg;
};

static int otk_row(const PGresult *r, int i, void *ctx)
{
    struct otk_iter *it = ctx;
    struct osec_store_otk k;
    int rc = read_otk(r, i, &k);

    if (rc == 0)
        rc = it->cb(&k, it->arg);
    osec_store_otk_clear(&k);
    return rc;
}

int osec_pg_otk_list_for(struct osec_store *st, const char *peer, int64_t now,
                         osec_store_otk_cb cb, void *arg)
{
    struct otk_iter it = { cb, arg };
    struct pg_params p = key(peer);

    osec_pg_i64(&p, now);
    return osec_pg_each(pg_of(st), PG_OTK_LIST_FOR, &p, "listing onetime keys", otk_row, &it);
}

/* One DELETE ... RETURNING: whichever connection deletes the row gets the
 * key, on any instance. */
int osec_pg_otk_take(struct osec_store *st, const char *key_id, const char *caller,
                     struct osec_store_otk *out)
{
    struct pg *pg = pg_of(st);
    struct pg_params p = key(key_id), k = key(key_id);
    PGresult *r = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    osec_pg_text(&p, caller);
    OSEC_GUARD(osec_pg_exec(pg, PG_OTK_TAKE, &p, "consuming a onetime key", &r));
    if (PQntuples(r) == 1) {
        rc = read_otk(r, 0, out);
        PQclear(r);
        return rc;
    }
    PQclear(r);
    rc = osec_pg_exists(pg, PG_OTK_EXISTS, &k, "onetime key");
    OSEC_GUARD(rc);
    /* Present but not ours: say so, and leave it for its owners. */
    OSEC_ENSURE(rc == 0, OSEC_EPERM, "onetime key belongs to other entities");
    OSEC_BAIL(OSEC_ENOTFOUND, "onetime key not found");
}

int osec_pg_otk_purge(struct osec_store *st, int64_t now, uint64_t *count)
{
    struct pg_params p = { .n = 0 };
    int64_t n = 0;

    osec_pg_i64(&p, now);
    OSEC_GUARD(osec_pg_run(pg_of(st), PG_OTK_PURGE, &p, "purging onetime keys", &n));
    if (count)
        *count = (uint64_t)n;
    return 0;
}

#endif
