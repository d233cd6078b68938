/* SQLite backend: users and CPM Addresses. */
#include <string.h>

#include "omasec/error.h"
#include "store/sqlite_int.h"

/* ---- users ------------------------------------------------------------ */

static int read_user(sqlite3_stmt *s, struct osec_store_user *u)
{
    int64_t flags = sqlite3_column_int64(s, 3);
    int rc;

    memset(u, 0, sizeof(*u));
    OSEC_CHECK(rc, osec_sq_col_text(s, 0, u->name, sizeof(u->name)));
    OSEC_CHECK(rc, osec_sq_col_text(s, 1, u->password_hash, sizeof(u->password_hash)));
    OSEC_CHECK(rc, osec_sq_col_blob(s, 2, &u->ha1_sealed));
    if (flags < 0 || flags > (int64_t)UINT32_MAX)
        OSEC_FAIL(rc, OSEC_ESTORE, "user %s: flags out of range", u->name);
    u->flags = (uint32_t)flags;
    u->created = sqlite3_column_int64(s, 4);
out:
    if (rc < 0)
        osec_store_user_clear(u);
    return rc;
}

int osec_sq_user_add(struct osec_store *st, const struct osec_store_user *u)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_GUARD(osec_sq_stmt(sq, SQ_USER_ADD, &s));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 1, u->name));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 2, u->password_hash));
    OSEC_CHECK(rc, osec_sq_blob(sq, s, 3, u->ha1_sealed.data, u->ha1_sealed.len));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 4, u->flags));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 5, u->created));
    rc = osec_sq_run(sq, s, "user", NULL);
out:
    osec_sq_done(s);
    return rc;
}

int osec_sq_user_get(struct osec_store *st, const char *name, struct osec_store_user *out)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_GUARD(osec_sq_stmt(sq, SQ_USER_GET, &s));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 1, name));
    OSEC_CHECK(rc, osec_sq_one(sq, s, "user"));
    rc = read_user(s, out);
out:
    osec_sq_done(s);
    return rc;
}

/* Run an UPDATE/DELETE keyed by its ?1 = key; no row changed: ENOTFOUND. */
static int expect_change(struct sq *sq, sqlite3_stmt *s, const char *what)
{
    int64_t n = 0;

    OSEC_GUARD(osec_sq_run(sq, s, what, &n));
    OSEC_ENSURE(n > 0, OSEC_ENOTFOUND, "%s not found", what);
    return 0;
}

int osec_sq_user_set_password(struct osec_store *st, const char *name, const char *hash,
                              const uint8_t *ha1, size_t ha1_len)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_GUARD(osec_sq_stmt(sq, SQ_USER_SET_PW, &s));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 1, name));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 2, hash));
    OSEC_CHECK(rc, osec_sq_blob(sq, s, 3, ha1, ha1_len));
    rc = expect_change(sq, s, "user");
out:
    osec_sq_done(s);
    return rc;
}

int osec_sq_user_set_flags(struct osec_store *st, const char *name, uint32_t flags)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_GUARD(osec_sq_stmt(sq, SQ_USER_SET_FLAGS, &s));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 1, name));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 2, flags));
    rc = expect_change(sq, s, "user");
out:
    osec_sq_done(s);
    return rc;
}

int osec_sq_user_del(struct osec_store *st, const char *name, const char *nega)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    /* ACL identifiers are free text (no foreign key), so a user of the same
     * name created later would inherit them: delete them explicitly. */
    OSEC_GUARD(osec_sq_stmt(sq, SQ_USER_DEL_ACL, &s));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 1, name));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 2, nega));
    OSEC_CHECK(rc, osec_sq_run(sq, s, "user ACL entries", NULL));
    osec_sq_done(s);
    /* Addresses, entities and (through them) onetime keys cascade. */
    OSEC_GUARD(osec_sq_stmt(sq, SQ_USER_DEL, &s));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 1, name));
    rc = expect_change(sq, s, "user");
out:
    osec_sq_done(s);
    return rc;
}

struct user_iter {
    osec_store_user_cb cb;
    void *arg;
};

static int user_row(sqlite3_stmt *s, void *ctx)
{
    struct user_iter *it = ctx;
    struct osec_store_user u;
    int rc = read_user(s, &u);

    if (rc == 0)
        rc = it->cb(&u, it->arg);
    osec_store_user_clear(&u);
    return rc;
}

int osec_sq_user_list(struct osec_store *st, osec_store_user_cb cb, void *arg)
{
    struct sq *sq = sq_of(st);
    struct user_iter it = { cb, arg };
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_GUARD(osec_sq_stmt(sq, SQ_USER_LIST, &s));
    rc = osec_sq_each(sq, s, "listing users", user_row, &it);
    osec_sq_done(s);
    return rc;
}

/* ---- addresses -------------------------------------------------------- */

static int read_address(sqlite3_stmt *s, struct osec_store_address *a)
{
    memset(a, 0, sizeof(*a));
    OSEC_GUARD(osec_sq_col_text(s, 0, a->uri, sizeof(a->uri)));
    OSEC_GUARD(osec_sq_col_text(s, 1, a->user, sizeof(a->user)));
    a->created = sqlite3_column_int64(s, 2);
    return 0;
}

int osec_sq_address_add(struct osec_store *st, const struct osec_store_address *a)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_GUARD(osec_sq_stmt(sq, SQ_ADDR_ADD, &s));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 1, a->uri));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 2, a->user));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 3, a->created));
    rc = osec_sq_run(sq, s, "address", NULL);
out:
    osec_sq_done(s);
    return rc;
}

int osec_sq_address_del(struct osec_store *st, const char *uri)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_GUARD(osec_sq_stmt(sq, SQ_ADDR_DEL, &s));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 1, uri));
    rc = expect_change(sq, s, "address");
out:
    osec_sq_done(s);
    return rc;
}

int osec_sq_address_owner(struct osec_store *st, const char *uri, char *user, size_t len)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_GUARD(osec_sq_stmt(sq, SQ_ADDR_OWNER, &s));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 1, uri));
    OSEC_CHECK(rc, osec_sq_one(sq, s, "address"));
    rc = osec_sq_col_text(s, 0, user, len);
out:
    osec_sq_done(s);
    return rc;
}

struct address_iter {
    osec_store_address_cb cb;
    void *arg;
};

static int address_row(sqlite3_stmt *s, void *ctx)
{
    struct address_iter *it = ctx;
    struct osec_store_address a;

    OSEC_GUARD(read_address(s, &a));
    return it->cb(&a, it->arg);
}

int osec_sq_address_list(struct osec_store *st, const char *user, osec_store_address_cb cb,
                         void *arg)
{
    struct sq *sq = sq_of(st);
    struct address_iter it = { cb, arg };
    sqlite3_stmt *s = NULL;
    int rc = 0;

    OSEC_GUARD(osec_sq_stmt(sq, user ? SQ_ADDR_LIST_USER : SQ_ADDR_LIST_ALL, &s));
    if (user)
        OSEC_CHECK(rc, osec_sq_text(sq, s, 1, user));
    rc = osec_sq_each(sq, s, "listing addresses", address_row, &it);
out:
    osec_sq_done(s);
    return rc;
}
