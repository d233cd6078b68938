/* PostgreSQL backend: IMAP ACLs, policy, meta values and the audit log (as
 * sqlite_misc.c). */
#include <string.h>

#include "omasec/error.h"

#ifdef OSEC_HAVE_LIBPQ

#include "store/pg_int.h"

static struct pg_params two(const char *a, const char *b)
{
    struct pg_params p = { .n = 0 };

    osec_pg_text(&p, a);
    if (b)
        osec_pg_text(&p, b);
    return p;
}

/* Run a keyed DELETE; *count (may be NULL) gets the number of rows, and
 * none at all is ENOTFOUND when must_exist. */
static int delete_rows(struct pg *pg, enum pg_id id, const char *a, const char *b,
                       const char *what, bool must_exist, uint64_t *count)
{
    struct pg_params p = two(a, b);
    int64_t n = 0;

    OSEC_GUARD(osec_pg_run(pg, id, &p, what, &n));
    if (count)
        *count = (uint64_t)n;
    OSEC_ENSURE(!must_exist || n > 0, OSEC_ENOTFOUND, "%s not found", what);
    return 0;
}

/* ---- ACL ---------------------------------------------------------------- */

static int read_acl(const PGresult *r, int i, struct osec_store_acl *a)
{
    memset(a, 0, sizeof(*a));
    OSEC_GUARD(osec_pg_col_text(r, i, 0, a->mailbox, sizeof(a->mailbox)));
    OSEC_GUARD(osec_pg_col_text(r, i, 1, a->identifier, sizeof(a->identifier)));
    return osec_pg_col_text(r, i, 2, a->rights, sizeof(a->rights));
}

int osec_pg_acl_set(struct osec_store *st, const struct osec_store_acl *a)
{
    struct pg_params p = two(a->mailbox, a->identifier);

    osec_pg_text(&p, a->rights);
    return osec_pg_run(pg_of(st), PG_ACL_SET, &p, "ACL entry", NULL);
}

int osec_pg_acl_get(struct osec_store *st, const char *mailbox, const char *ident,
                    struct osec_store_acl *out)
{
    struct pg_params p = two(mailbox, ident);
    PGresult *r = NULL;
    int rc;

    OSEC_GUARD(osec_pg_one(pg_of(st), PG_ACL_GET, &p, "ACL entry", &r));
    rc = read_acl(r, 0, out);
    PQclear(r);
    return rc;
}

int osec_pg_acl_delete(struct osec_store *st, const char *mailbox, const char *ident)
{
    return delete_rows(pg_of(st), PG_ACL_DEL, mailbox, ident, "ACL entry", true, NULL);
}

int osec_pg_acl_delete_mailbox(struct osec_store *st, const char *mailbox, uint64_t *count)
{
    return delete_rows(pg_of(st), PG_ACL_DEL_MAILBOX, mailbox, NULL, "ACL entries", false,
                       count);
}

struct acl_iter {
    osec_store_acl_cb cb;
    void *arg;
};

static int acl_row(const PGresult *r, int i, void *ctx)
{
    struct acl_iter *it = ctx;
    struct osec_store_acl a;

    OSEC_GUARD(read_acl(r, i, &a));
    return it->cb(&a, it->arg);
}

int osec_pg_acl_list(struct osec_store *st, const char *mailbox, osec_store_acl_cb cb,
                     void *arg)
{
    struct acl_iter it = { cb, arg };
    struct pg_params p = two(mailbox, NULL);

    return osec_pg_each(pg_of(st), PG_ACL_LIST, &p, "listing ACL entries", acl_row, &it);
}

/* ---- policy ------------------------------------------------------------- */

static int read_policy(const PGresult *r, int i, struct osec_store_policy *p)
{
    memset(p, 0, sizeof(*p));
    OSEC_GUARD(osec_pg_col_text(r, i, 0, p->name, sizeof(p->name)));
    return osec_pg_col_text(r, i, 1, p->value, sizeof(p->value));
}

int osec_pg_policy_set(struct osec_store *st, const char *name, const char *value)
{
    struct pg_params p = two(name, value);

    return osec_pg_run(pg_of(st), PG_POL_SET, &p, "policy", NULL);
}

int osec_pg_policy_get(struct osec_store *st, const char *name, struct osec_store_policy *out)
{
    struct pg_params p = two(name, NULL);
    PGresult *r = NULL;
    int rc;

    OSEC_GUARD(osec_pg_one(pg_of(st), PG_POL_GET, &p, "policy", &r));
    rc = read_policy(r, 0, out);
    PQclear(r);
    return rc;
}

int osec_pg_policy_del(struct osec_store *st, const char *name)
{
    return delete_rows(pg_of(st), PG_POL_DEL, name, NULL, "policy", true, NULL);
}

struct policy_iter {
    osec_store_policy_cb cb;
    void *arg;
};

static int policy_row(const PGresult *r, int i, void *ctx)
{
    struct policy_iter *it = ctx;
    struct osec_store_policy p;

    OSEC_GUARD(read_policy(r, i, &p));
    return it->cb(&p, it->arg);
}

int osec_pg_policy_list(struct osec_store *st, osec_store_policy_cb cb, void *arg)
{
    struct policy_iter it = { cb, arg };

    return osec_pg_each(pg_of(st), PG_POL_LIST, NULL, "listing policy", policy_row, &it);
}

/* ---- meta --------------------------------------------------------------- */

int osec_pg_meta_get(struct osec_store *st, const char *name, struct osec_store_blob *out)
{
    struct pg_params p = two(name, NULL);
    PGresult *r = NULL;
    int rc;

    out->data = NULL;
    out->len = 0;
    OSEC_GUARD(osec_pg_one(pg_of(st), PG_META_GET, &p, "meta value", &r));
    rc = osec_pg_col_blob(r, 0, 0, out);
    PQclear(r);
    return rc;
}

static int meta_write(struct pg *pg, enum pg_id id, const char *name, const uint8_t *v,
                      size_t len)
{
    struct pg_params p = two(name, NULL);

    osec_pg_blob(&p, v, len);
    return osec_pg_run(pg, id, &p, "meta value", NULL);
}

int osec_pg_meta_set(struct osec_store *st, const char *name, const uint8_t *v, size_t len)
{
    return meta_write(pg_of(st), PG_META_SET, name, v, len);
}

/* INSERT ... ON CONFLICT DO NOTHING: of instances racing to create a value
 * the first insert wins, and every one reads that value back. */
int osec_pg_meta_add(struct osec_store *st, const char *name, const uint8_t *v, size_t len)
{
    return meta_write(pg_of(st), PG_META_ADD, name, v, len);
}

/* ---- audit -------------------------------------------------------------- */

int osec_pg_audit_add(struct osec_store *st, const struct osec_store_audit *a)
{
    struct pg_params p = { .n = 0 };

    osec_pg_i64(&p, a->ts);
    osec_pg_text(&p, a->event);
    osec_pg_text(&p, a->actor);
    osec_pg_text(&p, a->subject);
    osec_pg_text(&p, a->detail);
    return osec_pg_run(pg_of(st), PG_AUDIT_ADD, &p, "audit record", NULL);
}

struct audit_iter {
    osec_store_audit_cb cb;
    void *arg;
};

static int audit_row(const PGresult *r, int i, void *ctx)
{
    struct audit_iter *it = ctx;
    struct osec_store_audit a;

    memset(&a, 0, sizeof(a));
    OSEC_GUARD(osec_pg_col_i64(r, i, 0, &a.id));
    OSEC_GUARD(osec_pg_col_i64(r, i, 1, &a.ts));
    OSEC_GUARD(osec_pg_col_text(r, i, 2, a.event, sizeof(a.event)));
    OSEC_GUARD(osec_pg_col_text(r, i, 3, a.actor, sizeof(a.actor)));
    OSEC_GUARD(osec_pg_col_text(r, i, 4, a.subject, sizeof(a.subject)));
    OSEC_GUARD(osec_pg_col_text(r, i, 5, a.detail, sizeof(a.detail)));
    return it->cb(&a, it->arg);
}

int osec_pg_audit_list(struct osec_store *st, unsigned limit, osec_store_audit_cb cb,
                       void *arg)
{
    struct audit_iter it = { cb, arg };
    struct pg_params p = { .n = 0 };

    osec_pg_i64(&p, limit);
    return osec_pg_each(pg_of(st), PG_AUDIT_LIST, &p, "listing the audit log", audit_row, &it);
}

/* ---- Digest nonce-count replay state ------------------------------------ */

int osec_pg_nonce_mark(struct osec_store *st, const uint8_t *nonce, size_t len, uint32_t nc,
                       int64_t expires)
{
    struct pg_params p = { .n = 0 };
    int64_t n = 0;

    osec_pg_blob(&p, nonce, len);
    osec_pg_i64(&p, nc);
    osec_pg_i64(&p, expires);
    OSEC_GUARD(osec_pg_run(pg_of(st), PG_NONCE_MARK, &p, "nonce use", &n));
    OSEC_ENSURE(n > 0, OSEC_EREPLAY, "nonce-count already used");
    return 0;
}

int osec_pg_nonce_purge(struct osec_store *st, int64_t now, uint64_t *count)
{
    struct pg_params p = { .n = 0 };
    int64_t n = 0;

    osec_pg_i64(&p, now);
    OSEC_GUARD(osec_pg_run(pg_of(st), PG_NONCE_PURGE, &p, "purging nonce uses", &n));
    if (count)
        *count = (uint64_t)n;
    return 0;
}

#endif
