/* SQLite backend: IMAP ACLs, policy, meta values and the audit log. */
#include <string.h>

#include "omasec/error.h"
#include "store/sqlite_int.h"

/* Bind ?1 (and ?2 if b) of statement id. */
static int bind2(struct sq *sq, enum sq_id id, const char *a, const char *b, sqlite3_stmt **s)
{
    OSEC_GUARD(osec_sq_stmt(sq, id, s));
    OSEC_GUARD(osec_sq_text(sq, *s, 1, a));
    return b ? osec_sq_text(sq, *s, 2, b) : 0;
}

/* Run a keyed DELETE; *count (may be NULL) gets the number of rows, and
 * none at all is ENOTFOUND when must_exist. */
static int delete_rows(struct sq *sq, enum sq_id id, const char *a, const char *b,
                       const char *what, bool must_exist, uint64_t *count)
{
    sqlite3_stmt *s = NULL;
    int64_t n = 0;
    int rc;

    OSEC_CHECK(rc, bind2(sq, id, a, b, &s));
    OSEC_CHECK(rc, osec_sq_run(sq, s, what, &n));
    if (count)
        *count = (uint64_t)n;
    if (must_exist && n == 0)
        OSEC_FAIL(rc, OSEC_ENOTFOUND, "%s not found", what);
out:
    osec_sq_done(s);
    return rc;
}

/* ---- ACL ---------------------------------------------------------------- */

static int read_acl(sqlite3_stmt *s, struct osec_store_acl *a)
{
    memset(a, 0, sizeof(*a));
    OSEC_GUARD(osec_sq_col_text(s, 0, a->mailbox, sizeof(a->mailbox)));
    OSEC_GUARD(osec_sq_col_text(s, 1, a->identifier, sizeof(a->identifier)));
    return osec_sq_col_text(s, 2, a->rights, sizeof(a->rights));
}

int osec_sq_acl_set(struct osec_store *st, const struct osec_store_acl *a)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, bind2(sq, SQ_ACL_SET, a->mailbox, a->identifier, &s));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 3, a->rights));
    rc = osec_sq_run(sq, s, "ACL entry", NULL);
out:
    osec_sq_done(s);
    return rc;
}

int osec_sq_acl_get(struct osec_store *st, const char *mailbox, const char *ident,
                    struct osec_store_acl *out)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, bind2(sq, SQ_ACL_GET, mailbox, ident, &s));
    OSEC_CHECK(rc, osec_sq_one(sq, s, "ACL entry"));
    rc = read_acl(s, out);
out:
    osec_sq_done(s);
    return rc;
}

int osec_sq_acl_delete(struct osec_store *st, const char *mailbox, const char *ident)
{
    return delete_rows(sq_of(st), SQ_ACL_DEL, mailbox, ident, "ACL entry", true, NULL);
}

int osec_sq_acl_delete_mailbox(struct osec_store *st, const char *mailbox, uint64_t *count)
{
    return delete_rows(sq_of(st), SQ_ACL_DEL_MAILBOX, mailbox, NULL, "ACL entries", false,
                       count);
}

struct acl_iter {
    osec_store_acl_cb cb;
    void *arg;
};

static int acl_row(sqlite3_stmt *s, void *ctx)
{
    struct acl_iter *it = ctx;
    struct osec_store_acl a;

    OSEC_GUARD(read_acl(s, &a));
    return it->cb(&a, it->arg);
}

int osec_sq_acl_list(struct osec_store *st, const char *mailbox, osec_store_acl_cb cb,
                     void *arg)
{
    struct sq *sq = sq_of(st);
    struct acl_iter it = { cb, arg };
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, bind2(sq, SQ_ACL_LIST, mailbox, NULL, &s));
    rc = osec_sq_each(sq, s, "listing ACL entries", acl_row, &it);
out:
    osec_sq_done(s);
    return rc;
}

/* ---- policy ------------------------------------------------------------- */

static int read_policy(sqlite3_stmt *s, struct osec_store_policy *p)
{
    memset(p, 0, sizeof(*p));
    OSEC_GUARD(osec_sq_col_text(s, 0, p->name, sizeof(p->name)));
    return osec_sq_col_text(s, 1, p->value, sizeof(p->value));
}

int osec_sq_policy_set(struct osec_store *st, const char *name, const char *value)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, bind2(sq, SQ_POL_SET, name, value, &s));
    rc = osec_sq_run(sq, s, "policy", NULL);
out:
    osec_sq_done(s);
    return rc;
}

int osec_sq_policy_get(struct osec_store *st, const char *name, struct osec_store_policy *out)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, bind2(sq, SQ_POL_GET, name, NULL, &s));
    OSEC_CHECK(rc, osec_sq_one(sq, s, "policy"));
    rc = read_policy(s, out);
out:
    osec_sq_done(s);
    return rc;
}

int osec_sq_policy_del(struct osec_store *st, const char *name)
{
    return delete_rows(sq_of(st), SQ_POL_DEL, name, NULL, "policy", true, NULL);
}

struct policy_iter {
    osec_store_policy_cb cb;
    void *arg;
};

static int policy_row(sqlite3_stmt *s, void *ctx)
{
    struct policy_iter *it = ctx;
    struct osec_store_policy p;

    OSEC_GUARD(read_policy(s, &p));
    return it->cb(&p, it->arg);
}

int osec_sq_policy_list(struct osec_store *st, osec_store_policy_cb cb, void *arg)
{
    struct sq *sq = sq_of(st);
    struct policy_iter it = { cb, arg };
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_GUARD(osec_sq_stmt(sq, SQ_POL_LIST, &s));
    rc = osec_sq_each(sq, s, "listing policy", policy_row, &it);
    osec_sq_done(s);
    return rc;
}

/* ---- meta --------------------------------------------------------------- */

int osec_sq_meta_get(struct osec_store *st, const char *name, struct osec_store_blob *out)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    out->data = NULL;
    out->len = 0;
    OSEC_CHECK(rc, bind2(sq, SQ_META_GET, name, NULL, &s));
    OSEC_CHECK(rc, osec_sq_one(sq, s, "meta value"));
    rc = osec_sq_col_blob(s, 0, out);
out:
    osec_sq_done(s);
    return rc;
}

static int meta_write(struct sq *sq, enum sq_id id, const char *name, const uint8_t *v,
                      size_t len)
{
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, bind2(sq, id, name, NULL, &s));
    OSEC_CHECK(rc, osec_sq_blob(sq, s, 2, v, len));
    rc = osec_sq_run(sq, s, "meta value", NULL);
out:
    osec_sq_done(s);
    return rc;
}

int osec_sq_meta_set(struct osec_store *st, const char *name, const uint8_t *v, size_t len)
{
    return meta_write(sq_of(st), SQ_META_SET, name, v, len);
}

int osec_sq_meta_add(struct osec_store *st, const char *name, const uint8_t *v, size_t len)
{
    return meta_write(sq_of(st), SQ_META_ADD, name, v, len);
}

/* ---- audit -------------------------------------------------------------- */

int osec_sq_audit_add(struct osec_store *st, const struct osec_store_audit *a)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_GUARD(osec_sq_stmt(sq, SQ_AUDIT_ADD, &s));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 1, a->ts));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 2, a->event));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 3, a->actor));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 4, a->subject));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 5, a->detail));
    rc = osec_sq_run(sq, s, "audit record", NULL);
out:
    osec_sq_done(s);
    return rc;
}

struct audit_iter {
    osec_store_audit_cb cb;
    void *arg;
};

static int audit_row(sqlite3_stmt *s, void *ctx)
{
    struct audit_iter *it = ctx;
    struct osec_store_audit a;

    memset(&a, 0, sizeof(a));
    a.id = sqlite3_column_int64(s, 0);
    a.ts = sqlite3_column_int64(s, 1);
    OSEC_GUARD(osec_sq_col_text(s, 2, a.event, sizeof(a.event)));
    OSEC_GUARD(osec_sq_col_text(s, 3, a.actor, sizeof(a.actor)));
    OSEC_GUARD(osec_sq_col_text(s, 4, a.subject, sizeof(a.subject)));
    OSEC_GUARD(osec_sq_col_text(s, 5, a.detail, sizeof(a.detail)));
    return it->cb(&a, it->arg);
}

int osec_sq_audit_list(struct osec_store *st, unsigned limit, osec_store_audit_cb cb,
                       void *arg)
{
    struct sq *sq = sq_of(st);
    struct audit_iter it = { cb, arg };
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_GUARD(osec_sq_stmt(sq, SQ_AUDIT_LIST, &s));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 1, limit));
    rc = osec_sq_each(sq, s, "listing the audit log", audit_row, &it);
out:
    osec_sq_done(s);
    return rc;
}
