/* PostgreSQL backend: the message store (as sqlite_mail.c), which several
 * cpm-msgstored instances share.  The generic layer (store_mail.c) checks
 * the arguments and wraps multi-statement changes in a transaction; the
 * mailbox row's lock, taken by the UPDATE that hands out a UID or a
 * mod-sequence, serialises concurrent changes of one mailbox across
 * instances until that transaction ends.
 */
#include <string.h>

#include "omasec/error.h"

#ifdef OSEC_HAVE_LIBPQ

#include "store/pg_int.h"

/* Rows per round trip of a message listing: a FETCH of a large mailbox
 * holds one page of bodies in memory, not the whole mailbox. */
#define PAGE_ROWS 256
#define PAGE_ROWS_BODY 32

static int col_u32(const PGresult *r, int i, int col, uint32_t *out)
{
    int64_t v = 0;

    OSEC_GUARD(osec_pg_col_i64(r, i, col, &v));
    OSEC_ENSURE(v >= 0 && v <= UINT32_MAX, OSEC_ESTORE, "stored value out of range");
    *out = (uint32_t)v;
    return 0;
}

static int col_u64(const PGresult *r, int i, int col, uint64_t *out)
{
    int64_t v = 0;

    OSEC_GUARD(osec_pg_col_i64(r, i, col, &v));
    OSEC_ENSURE(v >= 0, OSEC_ESTORE, "stored value out of range");
    *out = (uint64_t)v;
    return 0;
}

/* ---- mailboxes ------------------------------------------------------------ */

static int read_mailbox(const PGresult *r, int i, struct osec_store_mailbox *mb)
{
    memset(mb, 0, sizeof(*mb));
    OSEC_GUARD(osec_pg_col_i64(r, i, 0, &mb->id));
    OSEC_GUARD(osec_pg_col_text(r, i, 1, mb->owner, sizeof(mb->owner)));
    OSEC_GUARD(osec_pg_col_text(r, i, 2, mb->name, sizeof(mb->name)));
    OSEC_GUARD(col_u32(r, i, 3, &mb->uidvalidity));
    OSEC_GUARD(col_u32(r, i, 4, &mb->uidnext));
    OSEC_GUARD(col_u64(r, i, 5, &mb->modseq));
    return osec_pg_col_i64(r, i, 6, &mb->created);
}

static int mailbox_one(struct osec_store *st, enum pg_id id, const struct pg_params *p,
                       struct osec_store_mailbox *out)
{
    PGresult *r = NULL;
    int rc;

    OSEC_GUARD(osec_pg_one(pg_of(st), id, p, "mailbox", &r));
    rc = read_mailbox(r, 0, out);
    PQclear(r);
    return rc;
}

static int mb_create(struct osec_store *st, const char *owner, const char *name,
                     uint32_t uidvalidity, int64_t created, struct osec_store_mailbox *out)
{
    struct pg_params p = { .n = 0 };

    osec_pg_text(&p, owner);
    osec_pg_text(&p, name);
    osec_pg_i64(&p, uidvalidity);
    osec_pg_i64(&p, created);
    return mailbox_one(st, PG_MB_CREATE, &p, out);
}

static int mb_get(struct osec_store *st, const char *owner, const char *name,
                  struct osec_store_mailbox *out)
{
    struct pg_params p = { .n = 0 };

    osec_pg_text(&p, owner);
    osec_pg_text(&p, name);
    return mailbox_one(st, PG_MB_GET, &p, out);
}

static int mb_get_id(struct osec_store *st, int64_t id, struct osec_store_mailbox *out)
{
    struct pg_params p = { .n = 0 };

    osec_pg_i64(&p, id);
    return mailbox_one(st, PG_MB_GET_ID, &p, out);
}

/* Runs statement id with ($1 int64[, $2 text]); *changes rows. */
static int run_id_text(struct osec_store *st, enum pg_id id, int64_t key, const char *text,
                       const char *what, int64_t *changes)
{
    struct pg_params p = { .n = 0 };

    osec_pg_i64(&p, key);
    if (text)
        osec_pg_text(&p, text);
    return osec_pg_run(pg_of(st), id, &p, what, changes);
}

static int mb_rename(struct osec_store *st, int64_t id, const char *new_name, int64_t *changes)
{
    return run_id_text(st, PG_MB_RENAME, id, new_name, "mailbox", changes);
}

static int mb_delete(struct osec_store *st, int64_t id, const char *acl_key, int64_t *changes)
{
    struct pg_params p = { .n = 0 };

    OSEC_GUARD(run_id_text(st, PG_MB_DEL_META, id, NULL, "mailbox metadata", NULL));
    osec_pg_text(&p, acl_key);
    OSEC_GUARD(osec_pg_run(pg_of(st), PG_ACL_DEL_MAILBOX, &p, "mailbox ACL", NULL));
    /* messages and bodies go with the mailbox (ON DELETE CASCADE) */
    return run_id_text(st, PG_MB_DEL, id, NULL, "mailbox", changes);
}

struct mb_iter {
    osec_store_mailbox_cb cb;
    void *arg;
};

static int mailbox_row(const PGresult *r, int i, void *ctx)
{
    struct mb_iter *it = ctx;
    struct osec_store_mailbox mb;

    OSEC_GUARD(read_mailbox(r, i, &mb));
    return it->cb(&mb, it->arg);
}

static int mb_list(struct osec_store *st, const char *user, bool shared,
                   osec_store_mailbox_cb cb, void *arg)
{
    struct mb_iter it = { cb, arg };
    struct pg_params p = { .n = 0 };

    osec_pg_text(&p, user);
    return osec_pg_each(pg_of(st), shared ? PG_MB_LIST_SHARED : PG_MB_LIST, &p, "mailbox list",
                        mailbox_row, &it);
}

static int mb_counts(struct osec_store *st, int64_t id, uint32_t seen_flag, uint64_t *messages,
                     uint64_t *unseen)
{
    struct pg_params p = { .n = 0 };
    PGresult *r = NULL;
    int rc;

    osec_pg_i64(&p, id);
    if (unseen)
        osec_pg_i64(&p, seen_flag);
    OSEC_GUARD(osec_pg_one(pg_of(st), unseen ? PG_MB_COUNT_UNSEEN : PG_MB_COUNT, &p,
                           "message count", &r));
    rc = col_u64(r, 0, 0, messages);
    if (rc == 0 && unseen)
        rc = col_u64(r, 0, 1, unseen);
    PQclear(r);
    return rc;
}

static int mb_bump(struct osec_store *st, int64_t id, bool take_uid, int64_t *uidnext,
                   uint64_t *modseq)
{
    struct pg_params p = { .n = 0 };
    PGresult *r = NULL;
    int rc;

    osec_pg_i64(&p, id);
    OSEC_GUARD(osec_pg_one(pg_of(st), take_uid ? PG_MB_BUMP_UID : PG_MB_BUMP, &p, "mailbox",
                           &r));
    rc = osec_pg_col_i64(r, 0, 0, uidnext);
    if (rc == 0)
        rc = col_u64(r, 0, 1, modseq);
    PQclear(r);
    return rc;
}

/* ---- messages -------------------------------------------------------------- */

static int msg_insert(struct osec_store *st, const struct osec_store_msg *m)
{
    struct pg_params p = { .n = 0 };

    osec_pg_i64(&p, m->mailbox_id);
    osec_pg_i64(&p, m->uid);
    osec_pg_i64(&p, (int64_t)m->modseq);
    osec_pg_i64(&p, m->flags);
    osec_pg_text(&p, m->keywords);
    osec_pg_i64(&p, m->internaldate);
    osec_pg_i64(&p, (int64_t)m->size);
    OSEC_GUARD(osec_pg_run(pg_of(st), PG_MSG_INSERT, &p, "message", NULL));
    p.n = 0;
    osec_pg_i64(&p, m->mailbox_id);
    osec_pg_i64(&p, m->uid);
    osec_pg_blob(&p, m->body.data, m->body.len);
    return osec_pg_run(pg_of(st), PG_MSG_INSERT_BODY, &p, "message body", NULL);
}

static int read_msg(const PGresult *r, int i, bool body, struct osec_store_msg *m)
{
    memset(m, 0, sizeof(*m));
    OSEC_GUARD(osec_pg_col_i64(r, i, 0, &m->mailbox_id));
    OSEC_GUARD(col_u32(r, i, 1, &m->uid));
    OSEC_GUARD(col_u64(r, i, 2, &m->modseq));
    OSEC_GUARD(col_u32(r, i, 3, &m->flags));
    OSEC_GUARD(osec_pg_col_text(r, i, 4, m->keywords, sizeof(m->keywords)));
    OSEC_GUARD(osec_pg_col_i64(r, i, 5, &m->internaldate));
    OSEC_GUARD(col_u64(r, i, 6, &m->size));
    if (body) {
        /* points into the result: valid during the callback (no copy) */
        OSEC_ENSURE(PQgetisnull(r, i, 7) == 0, OSEC_ESTORE, "message without body");
        m->body.data = (uint8_t *)PQgetvalue(r, i, 7);
        m->body.len = (size_t)PQgetlength(r, i, 7);
    }
    return 0;
}

/* One page from UID lo on: calls cb per row; *last the last UID seen, *rows
 * how many; > 0 when a callback stopped the listing. */
static int msg_page(struct pg *pg, int64_t mailbox_id, const struct osec_store_msg_query *q,
                    uint32_t lo, osec_store_msg_cb cb, void *arg, uint32_t *last, int *rows)
{
    enum pg_id id = q->with_body ? PG_MSG_LIST_BODY : PG_MSG_LIST;
    struct pg_params p = { .n = 0 };
    struct osec_store_msg m;
    PGresult *r = NULL;
    int rc = 0;

    osec_pg_i64(&p, mailbox_id);
    osec_pg_i64(&p, lo);
    osec_pg_i64(&p, q->hi);
    osec_pg_i64(&p, (int64_t)q->changedsince);
    osec_pg_i64(&p, q->with_body ? PAGE_ROWS_BODY : PAGE_ROWS);
    OSEC_GUARD(osec_pg_exec(pg, id, &p, "message list", &r));
    *rows = PQntuples(r);
    pg->busy[id] = true; /* the callback must not start this listing again */
    for (int i = 0; i < *rows && rc == 0; i++) {
        rc = read_msg(r, i, q->with_body, &m);
        if (rc == 0) {
            *last = m.uid;
            rc = cb(&m, arg);
        }
    }
    pg->busy[id] = false;
    PQclear(r);
    return rc;
}

static int msg_list(struct osec_store *st, int64_t mailbox_id,
                    const struct osec_store_msg_query *q, osec_store_msg_cb cb, void *arg)
{
    int page = q->with_body ? PAGE_ROWS_BODY : PAGE_ROWS;
    uint32_t lo = q->lo, last = 0;
    int rows = 0, rc;

    for (;;) {
        rc = msg_page(pg_of(st), mailbox_id, q, lo, cb, arg, &last, &rows);
        if (rc != 0 || rows < page || last >= q->hi)
            break;
        lo = last + 1;
    }
    return rc < 0 ? rc : 0;
}

static int msg_set_flags(struct osec_store *st, int64_t mailbox_id, uint32_t uid,
                         uint32_t flags, const char *keywords, uint64_t unchangedsince,
                         uint64_t modseq, int64_t *changes)
{
    struct pg_params p = { .n = 0 };

    osec_pg_i64(&p, mailbox_id);
    osec_pg_i64(&p, uid);
    osec_pg_i64(&p, flags);
    osec_pg_text(&p, keywords);
    osec_pg_i64(&p, (int64_t)modseq);
    osec_pg_i64(&p, (int64_t)unchangedsince);
    return osec_pg_run(pg_of(st), PG_MSG_SET_FLAGS, &p, "message", changes);
}

static struct pg_params msg_key(int64_t mailbox_id, uint32_t uid)
{
    struct pg_params p = { .n = 0 };

    osec_pg_i64(&p, mailbox_id);
    osec_pg_i64(&p, uid);
    return p;
}

static int msg_exists(struct osec_store *st, int64_t mailbox_id, uint32_t uid)
{
    struct pg_params p = msg_key(mailbox_id, uid);
    int n = osec_pg_exists(pg_of(st), PG_MSG_EXISTS, &p, "message");

    if (n < 0)
        return n;
    OSEC_ENSURE(n > 0, OSEC_ENOTFOUND, "message not found");
    return 0;
}

static int msg_delete(struct osec_store *st, int64_t mailbox_id, uint32_t uid,
                      int64_t *changes)
{
    struct pg_params p = msg_key(mailbox_id, uid);

    return osec_pg_run(pg_of(st), PG_MSG_DEL, &p, "message", changes);
}

/* ---- METADATA and subscriptions ------------------------------------------------ */

static struct pg_params meta_key(int64_t mailbox_id, const char *user, const char *entry)
{
    struct pg_params p = { .n = 0 };

    osec_pg_i64(&p, mailbox_id);
    osec_pg_text(&p, user);
    osec_pg_text(&p, entry);
    return p;
}

static int meta_set(struct osec_store *st, int64_t mailbox_id, const char *user,
                    const char *entry, const uint8_t *value, size_t len)
{
    struct pg_params p = meta_key(mailbox_id, user, entry);

    if (!value)
        return osec_pg_run(pg_of(st), PG_MMETA_DEL, &p, "metadata entry", NULL);
    osec_pg_blob(&p, value, len);
    return osec_pg_run(pg_of(st), PG_MMETA_SET, &p, "metadata entry", NULL);
}

static int meta_get(struct osec_store *st, int64_t mailbox_id, const char *user,
                    const char *entry, struct osec_store_blob *out)
{
    struct pg_params p = meta_key(mailbox_id, user, entry);
    PGresult *r = NULL;
    int rc;

    OSEC_GUARD(osec_pg_one(pg_of(st), PG_MMETA_GET, &p, "metadata entry", &r));
    rc = osec_pg_col_blob(r, 0, 0, out);
    PQclear(r);
    return rc;
}

static int sub_set(struct osec_store *st, const char *user, const char *name, bool on)
{
    struct pg_params p = { .n = 0 };

    osec_pg_text(&p, user);
    osec_pg_text(&p, name);
    return osec_pg_run(pg_of(st), on ? PG_SUB_ADD : PG_SUB_DEL, &p, "subscription", NULL);
}

struct name_iter {
    osec_store_name_cb cb;
    void *arg;
};

static int name_row(const PGresult *r, int i, void *ctx)
{
    struct name_iter *it = ctx;
    char name[OSEC_STORE_MAILBOX_MAX + 1];

    OSEC_GUARD(osec_pg_col_text(r, i, 0, name, sizeof(name)));
    return it->cb(name, it->arg);
}

static int sub_list(struct osec_store *st, const char *user, osec_store_name_cb cb, void *arg)
{
    struct name_iter it = { cb, arg };
    struct pg_params p = { .n = 0 };

    osec_pg_text(&p, user);
    return osec_pg_each(pg_of(st), PG_SUB_LIST, &p, "subscription list", name_row, &it);
}

const struct osec_store_mail_ops osec_pg_mail_ops = {
    .mailbox_create = mb_create,
    .mailbox_get = mb_get,
    .mailbox_get_id = mb_get_id,
    .mailbox_rename = mb_rename,
    .mailbox_delete = mb_delete,
    .mailbox_list = mb_list,
    .mailbox_counts = mb_counts,
    .mailbox_bump = mb_bump,
    .msg_insert = msg_insert,
    .msg_list = msg_list,
    .msg_set_flags = msg_set_flags,
    .msg_exists = msg_exists,
    .msg_delete = msg_delete,
    .meta_set = meta_set,
    .meta_get = meta_get,
    .sub_set = sub_set,
    .sub_list = sub_list,
};

#endif
