/* PostgreSQL backend: users and CPM Addresses (as sqlite_users.c). */
#include <string.h>

#include "omasec/error.h"

#ifdef OSEC_HAVE_LIBPQ

#include "store/pg_int.h"

/* ---- users ------------------------------------------------------------ */

static int read_user(const PGresult *r, int i, struct osec_store_user *u)
{
    int64_t flags = 0;
    int rc;

    memset(u, 0, sizeof(*u));
    OSEC_CHECK(rc, osec_pg_col_text(r, i, 0, u->name, sizeof(u->name)));
    OSEC_CHECK(rc, osec_pg_col_text(r, i, 1, u->password_hash, sizeof(u->password_hash)));
    OSEC_CHECK(rc, osec_pg_col_blob(r, i, 2, &u->ha1_sealed));
    OSEC_CHECK(rc, osec_pg_col_i64(r, i, 3, &flags));
    if (flags < 0 || flags > (int64_t)UINT32_MAX)
        OSEC_FAIL(rc, OSEC_ESTORE, "user %s: flags out of range", u->name);
    u->flags = (uint32_t)flags;
    OSEC_CHECK(rc, osec_pg_col_i64(r, i, 4, &u->created));
out:
    if (rc < 0)
        osec_store_user_clear(u);
    return rc;
}

int osec_pg_user_add(struct osec_store *st, const struct osec_store_user *u)
{
    struct pg_params p = { .n = 0 };

    osec_pg_text(&p, u->name);
    osec_pg_text(&p, u->password_hash);
    osec_pg_blob(&p, u->ha1_sealed.data, u->ha1_sealed.len);
    osec_pg_i64(&p, u->flags);
    osec_pg_i64(&p, u->created);
    return osec_pg_run(pg_of(st), PG_USER_ADD, &p, "user", NULL);
}

int osec_pg_user_get(struct osec_store *st, const char *name, struct osec_store_user *out)
{
    struct pg_params p = { .n = 0 };
    PGresult *r = NULL;
    int rc;

    osec_pg_text(&p, name);
    OSEC_GUARD(osec_pg_one(pg_of(st), PG_USER_GET, &p, "user", &r));
    rc = read_user(r, 0, out);
    PQclear(r);
    return rc;
}

/* Run an UPDATE/DELETE keyed by $1; no row changed: ENOTFOUND. */
static int expect_change(struct pg *pg, enum pg_id id, const struct pg_params *p,
                         const char *what)
{
    int64_t n = 0;

    OSEC_GUARD(osec_pg_run(pg, id, p, what, &n));
    OSEC_ENSURE(n > 0, OSEC_ENOTFOUND, "%s not found", what);
    return 0;
}

int osec_pg_user_set_password(struct osec_store *st, const char *name, const char *hash,
                              const uint8_t *ha1, size_t ha1_len)
{
    struct pg_params p = { .n = 0 };

    osec_pg_text(&p, name);
    osec_pg_text(&p, hash);
    osec_pg_blob(&p, ha1, ha1_len);
    return expect_change(pg_of(st), PG_USER_SET_PW, &p, "user");
}

int osec_pg_user_set_flags(struct osec_store *st, const char *name, uint32_t flags)
{
    struct pg_params p = { .n = 0 };

    osec_pg_text(&p, name);
    osec_pg_i64(&p, flags);
    return expect_change(pg_of(st), PG_USER_SET_FLAGS, &p, "user");
}

/* Runs inside a transaction (store.c). */
int osec_pg_user_del(struct osec_store *st, const char *name, const char *nega)
{
    struct pg_params acl = { .n = 0 }, user = { .n = 0 };

    /* ACL identifiers are free text (no foreign key), so a user of the same
     * name created later would inherit them: delete them explicitly. */
    osec_pg_text(&acl, name);
    osec_pg_text(&acl, nega);
    OSEC_GUARD(osec_pg_run(pg_of(st), PG_USER_DEL_ACL, &acl, "user ACL entries", NULL));
    /* Addresses, entities and (through them) onetime keys cascade. */
    osec_pg_text(&user, name);
    return expect_change(pg_of(st), PG_USER_DEL, &user, "user");
}

struct user_iter {
    osec_store_user_cb cb;
    void *arg;
};

static int user_row(const PGresult *r, int i, void *ctx)
{
    struct user_iter *it = ctx;
    struct osec_store_user u;
    int rc = read_user(r, i, &u);

    if (rc == 0)
        rc = it->cb(&u, it->arg);
    osec_store_user_clear(&u);
    return rc;
}

int osec_pg_user_list(struct osec_store *st, osec_store_user_cb cb, void *arg)
{
    struct user_iter it = { cb, arg };

    return osec_pg_each(pg_of(st), PG_USER_LIST, NULL, "listing users", user_row, &it);
}

/* ---- addresses -------------------------------------------------------- */

static int read_address(const PGresult *r, int i, struct osec_store_address *a)
{
    memset(a, 0, sizeof(*a));
    OSEC_GUARD(osec_pg_col_text(r, i, 0, a->uri, sizeof(a->uri)));
    OSEC_GUARD(osec_pg_col_text(r, i, 1, a->user, sizeof(a->user)));
    return osec_pg_col_i64(r, i, 2, &a->created);
}

int osec_pg_address_add(struct osec_store *st, const struct osec_store_address *a)
{
    struct pg_params p = { .n = 0 };

    osec_pg_text(&p, a->uri);
    osec_pg_text(&p, a->user);
    osec_pg_i64(&p, a->created);
    return osec_pg_run(pg_of(st), PG_ADDR_ADD, &p, "address", NULL);
}

int osec_pg_address_del(struct osec_store *st, const char *uri)
{
    struct pg_params p = { .n = 0 };

    osec_pg_text(&p, uri);
    return expect_change(pg_of(st), PG_ADDR_DEL, &p, "address");
}

int osec_pg_address_owner(struct osec_store *st, const char *uri, char *user, size_t len)
{
    struct pg_params p = { .n = 0 };
    PGresult *r = NULL;
    int rc;

    osec_pg_text(&p, uri);
    OSEC_GUARD(osec_pg_one(pg_of(st), PG_ADDR_OWNER, &p, "address", &r));
    rc = osec_pg_col_text(r, 0, 0, user, len);
    PQclear(r);
    return rc;
}

struct address_iter {
    osec_store_address_cb cb;
    void *arg;
};

static int address_row(const PGresult *r, int i, void *ctx)
{
    struct address_iter *it = ctx;
    struct osec_store_address a;

    OSEC_GUARD(read_address(r, i, &a));
    return it->cb(&a, it->arg);
}

int osec_pg_address_list(struct osec_store *st, const char *user, osec_store_address_cb cb,
                         void *arg)
{
    struct address_iter it = { cb, arg };
    struct pg_params p = { .n = 0 };

    if (user)
        osec_pg_text(&p, user);
    return osec_pg_each(pg_of(st), user ? PG_ADDR_LIST_USER : PG_ADDR_LIST_ALL, &p,
                        "listing addresses", address_row, &it);
}

#endif
