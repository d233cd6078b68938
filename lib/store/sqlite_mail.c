/* Message store (IMAP mailboxes, messages, METADATA, subscriptions) on the
 * SQLite backend; the tables come from schema step 3 (sqlite_schema.c).
 *
 * The statements here are prepared per call rather than kept in the
 * backend's catalogue: this module owns none of the shared backend state,
 * and preparing a short statement costs a few microseconds next to sealing
 * or unsealing a message.  Arguments were checked, and multi-statement
 * changes composed into transactions, by the generic layer (store_mail.c).
 */
#include <inttypes.h>
#include <pthread.h>
#include <string.h>

#include "omasec/error.h"
#include "omasec/util.h"
#include "store/sqlite_int.h"

#define MB_COLS "id, owner, name, uidvalidity, uidnext, modseq, created"
#define MSG_COLS "mailbox_id, uid, modseq, flags, keywords, internaldate, size"

/* ---- statement cache --------------------------------------------------------
 * The backend's own catalogue (sqlite_int.h) belongs to the store; this
 * module keeps its prepared statements beside it, per connection, keyed by
 * the SQL literal's address.  A slot remembers the sqlite3 handle too: when
 * a store is closed, sqlite3_close_v2() leaves the connection a zombie until
 * our statements are finalized, so its address cannot be reused meanwhile,
 * and a slot whose handle no longer matches (a new store at the old struct
 * address) is flushed, which also lets the zombie go.  A slot is used only
 * by the thread that uses its store handle (store.h: one thread at a time);
 * the table itself is under a mutex. */
#define CACHE_SLOTS 64
#define CACHE_STMTS 32

struct stmt_cache {
    struct sq *sq;
    sqlite3 *db;
    int n;
    const char *sql[CACHE_STMTS];
    sqlite3_stmt *st[CACHE_STMTS];
};

static struct stmt_cache caches[CACHE_SLOTS];
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;

static void cache_flush(struct stmt_cache *c)
{
    for (int i = 0; i < c->n; i++)
        (void)sqlite3_finalize(c->st[i]); /* results of old steps, already handled */
    memset(c, 0, sizeof(*c));
}

static struct stmt_cache *cache_of(struct sq *sq)
{
    struct stmt_cache *c = NULL, *free_slot = NULL;

    if (pthread_mutex_lock(&cache_mu) != 0)
        return NULL;
    for (int i = 0; i < CACHE_SLOTS && !c; i++) {
        if (caches[i].sq == sq)
            c = &caches[i];
        else if (!caches[i].sq && !free_slot)
            free_slot = &caches[i];
    }
    if (c && c->db != sq->db)
        cache_flush(c); /* a new store where a closed one was */
    if (!c)
        c = free_slot; /* NULL when full: statements are then prepared per call */
    if (c && !c->sq) {
        c->sq = sq;
        c->db = sq->db;
    }
    (void)pthread_mutex_unlock(&cache_mu);
    return c;
}

static int prep(struct sq *sq, const char *sql, sqlite3_stmt **s)
{
    struct stmt_cache *c = cache_of(sq);
    int rc;

    for (int i = 0; c && i < c->n; i++) {
        if (c->sql[i] != sql)
            continue;
        if (!sqlite3_stmt_busy(c->st[i])) {
            *s = c->st[i];
            return 0;
        }
        c = NULL; /* in use by an outer listing: a private one this time */
    }
    rc = sqlite3_prepare_v3(sq->db, sql, -1, c ? SQLITE_PREPARE_PERSISTENT : 0, s, NULL);
    if (rc != SQLITE_OK)
        return SQ_ERR(sq, rc, "preparing a message store statement");
    if (c && c->n < CACHE_STMTS) {
        c->sql[c->n] = sql;
        c->st[c->n++] = *s;
    }
    return 0;
}

/* Done with a statement: cached ones are reset for the next call (which
 * also ends their read transaction), others finalized. */
static void fin(struct sq *sq, sqlite3_stmt *s)
{
    struct stmt_cache *c;

    if (!s)
        return;
    c = cache_of(sq);
    for (int i = 0; c && i < c->n; i++) {
        if (c->st[i] == s) {
            (void)sqlite3_reset(s); /* repeats the last step's result, already handled */
            (void)sqlite3_clear_bindings(s);
            return;
        }
    }
    (void)sqlite3_finalize(s); /* likewise */
}

static int col_u32(sqlite3_stmt *s, int col, uint32_t *out)
{
    int64_t v = sqlite3_column_int64(s, col);

    OSEC_ENSURE(v >= 0 && v <= UINT32_MAX, OSEC_ESTORE, "stored value out of range");
    *out = (uint32_t)v;
    return 0;
}

static int col_u64(sqlite3_stmt *s, int col, uint64_t *out)
{
    int64_t v = sqlite3_column_int64(s, col);

    OSEC_ENSURE(v >= 0, OSEC_ESTORE, "stored value out of range");
    *out = (uint64_t)v;
    return 0;
}

/* ---- mailboxes ------------------------------------------------------------ */

static int read_mailbox(sqlite3_stmt *s, struct osec_store_mailbox *mb)
{
    memset(mb, 0, sizeof(*mb));
    mb->id = sqlite3_column_int64(s, 0);
    OSEC_GUARD(osec_sq_col_text(s, 1, mb->owner, sizeof(mb->owner)));
    OSEC_GUARD(osec_sq_col_text(s, 2, mb->name, sizeof(mb->name)));
    OSEC_GUARD(col_u32(s, 3, &mb->uidvalidity));
    OSEC_GUARD(col_u32(s, 4, &mb->uidnext));
    OSEC_GUARD(col_u64(s, 5, &mb->modseq));
    mb->created = sqlite3_column_int64(s, 6);
    return 0;
}

static int mailbox_one(struct sq *sq, sqlite3_stmt *s, struct osec_store_mailbox *out)
{
    struct osec_store_mailbox tmp;

    OSEC_GUARD(osec_sq_one(sq, s, "mailbox"));
    return read_mailbox(s, out ? out : &tmp);
}


static int mb_create(struct osec_store *st, const char *owner, const char *name,
                     uint32_t uidvalidity, int64_t created, struct osec_store_mailbox *out)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, prep(sq, "INSERT INTO mailboxes (owner, name, uidvalidity, uidnext, modseq,"
                            " created) VALUES (?1, ?2, ?3, 1, 1, ?4) RETURNING " MB_COLS, &s));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 1, owner));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 2, name));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 3, uidvalidity));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 4, created));
    rc = mailbox_one(sq, s, out);
out:
    fin(sq, s);
    return rc;
}

static int mb_get(struct osec_store *st, const char *owner, const char *name,
                  struct osec_store_mailbox *out)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, prep(sq, "SELECT " MB_COLS " FROM mailboxes WHERE owner = ?1 AND name = ?2",
                        &s));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 1, owner));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 2, name));
    rc = mailbox_one(sq, s, out);
out:
    fin(sq, s);
    return rc;
}

static int mb_get_id(struct osec_store *st, int64_t id, struct osec_store_mailbox *out)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, prep(sq, "SELECT " MB_COLS " FROM mailboxes WHERE id = ?1", &s));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 1, id));
    rc = mailbox_one(sq, s, out);
out:
    fin(sq, s);
    return rc;
}

/* Run a statement binding (?1 int64, ?2 text or NULL); *changes rows. */
static int run_id_text(struct sq *sq, const char *sql, int64_t id, const char *text,
                       const char *what, int64_t *changes)
{
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, prep(sq, sql, &s));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 1, id));
    if (text)
        OSEC_CHECK(rc, osec_sq_text(sq, s, 2, text));
    rc = osec_sq_run(sq, s, what, changes);
out:
    fin(sq, s);
    return rc;
}

static int mb_rename(struct osec_store *st, int64_t id, const char *new_name, int64_t *changes)
{
    return run_id_text(sq_of(st), "UPDATE mailboxes SET name = ?2, modseq = modseq + 1"
                                  " WHERE id = ?1", id, new_name, "mailbox", changes);
}

static int mb_delete(struct osec_store *st, int64_t id, const char *acl_key, int64_t *changes)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, run_id_text(sq, "DELETE FROM mail_metadata WHERE mailbox_id = ?1", id, NULL,
                               "mailbox metadata", NULL));
    OSEC_CHECK(rc, prep(sq, "DELETE FROM acl WHERE mailbox = ?1", &s));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 1, acl_key));
    OSEC_CHECK(rc, osec_sq_run(sq, s, "mailbox ACL", NULL));
    /* messages go with the mailbox (ON DELETE CASCADE) */
    rc = run_id_text(sq, "DELETE FROM mailboxes WHERE id = ?1", id, NULL, "mailbox", changes);
out:
    fin(sq, s);
    return rc;
}

struct mb_iter {
    osec_store_mailbox_cb cb;
    void *arg;
};

static int mailbox_row(sqlite3_stmt *s, void *ctx)
{
    struct mb_iter *it = ctx;
    struct osec_store_mailbox mb;

    OSEC_GUARD(read_mailbox(s, &mb));
    return it->cb(&mb, it->arg);
}

static int mb_list(struct osec_store *st, const char *user, bool shared,
                   osec_store_mailbox_cb cb, void *arg)
{
    struct mb_iter it = { cb, arg };
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, prep(sq, shared ? "SELECT DISTINCT m.id, m.owner, m.name, m.uidvalidity,"
                                     " m.uidnext, m.modseq, m.created FROM mailboxes m"
                                     " JOIN acl a ON a.mailbox = 'mbox:' || m.id"
                                     " WHERE a.identifier IN (?1, 'anyone', 'authenticated')"
                                     " AND m.owner <> ?1 ORDER BY m.owner, m.name"
                                   : "SELECT " MB_COLS " FROM mailboxes WHERE owner = ?1"
                                     " ORDER BY name", &s));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 1, user));
    rc = osec_sq_each(sq, s, "mailbox list", mailbox_row, &it);
out:
    fin(sq, s);
    return rc;
}

static int mb_counts(struct osec_store *st, int64_t id, uint32_t seen_flag, uint64_t *messages,
                     uint64_t *unseen)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    /* without unseen: an index-only count, no message row is read */
    OSEC_CHECK(rc, prep(sq, unseen ? "SELECT count(*), coalesce(sum((flags & ?2) = 0), 0)"
                                     " FROM messages WHERE mailbox_id = ?1"
                                   : "SELECT count(*), ?2 FROM messages WHERE mailbox_id = ?1",
                        &s));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 1, id));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 2, seen_flag));
    OSEC_CHECK(rc, osec_sq_one(sq, s, "message count"));
    OSEC_CHECK(rc, col_u64(s, 0, messages));
    if (unseen)
        rc = col_u64(s, 1, unseen);
out:
    fin(sq, s);
    return rc;
}

/* ---- messages -------------------------------------------------------------- */

static int mb_bump(struct osec_store *st, int64_t id, bool take_uid, int64_t *uidnext,
                   uint64_t *modseq)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, prep(sq, take_uid ? "UPDATE mailboxes SET uidnext = uidnext + 1,"
                                       " modseq = modseq + 1 WHERE id = ?1"
                                       " RETURNING uidnext, modseq"
                                     : "UPDATE mailboxes SET modseq = modseq + 1"
                                       " WHERE id = ?1 RETURNING uidnext, modseq", &s));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 1, id));
    OSEC_CHECK(rc, osec_sq_one(sq, s, "mailbox"));
    OSEC_CHECK(rc, col_u64(s, 1, modseq));
    *uidnext = sqlite3_column_int64(s, 0);
    /* the row is done: step to the end so the UPDATE completes */
    if (osec_sq_step(sq, s, "mailbox") < 0)
        rc = osec_error_code();
out:
    fin(sq, s);
    return rc;
}

static int bind_msg(struct sq *sq, sqlite3_stmt *s, const struct osec_store_msg *m)
{
    OSEC_GUARD(osec_sq_i64(sq, s, 1, m->mailbox_id));
    OSEC_GUARD(osec_sq_i64(sq, s, 2, m->uid));
    OSEC_GUARD(osec_sq_i64(sq, s, 3, (int64_t)m->modseq));
    OSEC_GUARD(osec_sq_i64(sq, s, 4, m->flags));
    OSEC_GUARD(osec_sq_text(sq, s, 5, m->keywords));
    OSEC_GUARD(osec_sq_i64(sq, s, 6, m->internaldate));
    return osec_sq_i64(sq, s, 7, (int64_t)m->size);
}

static int insert_body(struct sq *sq, const struct osec_store_msg *m)
{
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, prep(sq, "INSERT INTO message_bodies (mailbox_id, uid, body)"
                            " VALUES (?1, ?2, ?3)", &s));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 1, m->mailbox_id));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 2, m->uid));
    OSEC_CHECK(rc, osec_sq_blob(sq, s, 3, m->body.data, m->body.len));
    rc = osec_sq_run(sq, s, "message body", NULL);
out:
    fin(sq, s);
    return rc;
}

static int msg_insert(struct osec_store *st, const struct osec_store_msg *m)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, prep(sq, "INSERT INTO messages (" MSG_COLS ")"
                            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", &s));
    OSEC_CHECK(rc, bind_msg(sq, s, m));
    OSEC_CHECK(rc, osec_sq_run(sq, s, "message", NULL));
    rc = insert_body(sq, m);
out:
    fin(sq, s);
    return rc;
}

struct msg_iter {
    osec_store_msg_cb cb;
    void *arg;
    bool body;
};

static int msg_row(sqlite3_stmt *s, void *ctx)
{
    struct msg_iter *it = ctx;
    struct osec_store_msg m;

    memset(&m, 0, sizeof(m));
    m.mailbox_id = sqlite3_column_int64(s, 0);
    OSEC_GUARD(col_u32(s, 1, &m.uid));
    OSEC_GUARD(col_u64(s, 2, &m.modseq));
    OSEC_GUARD(col_u32(s, 3, &m.flags));
    OSEC_GUARD(osec_sq_col_text(s, 4, m.keywords, sizeof(m.keywords)));
    m.internaldate = sqlite3_column_int64(s, 5);
    OSEC_GUARD(col_u64(s, 6, &m.size));
    if (it->body) {
        /* points into the row: valid until the next step (zero-copy FETCH) */
        const void *p = sqlite3_column_blob(s, 7);
        int n = sqlite3_column_bytes(s, 7);

        OSEC_ENSURE(p != NULL || n == 0, OSEC_ENOMEM, "out of memory reading a message");
        m.body.data = (uint8_t *)(uintptr_t)p;
        m.body.len = (size_t)n;
    }
    return it->cb(&m, it->arg);
}

/* Changes since a mod-sequence go through the modseq index (a session
 * polling for changes must not walk its whole mailbox); bodies come from
 * their own table only when asked for. */
static const char *list_sql(const struct osec_store_msg_query *q)
{
#define MSG_M "m.mailbox_id, m.uid, m.modseq, m.flags, m.keywords, m.internaldate, m.size"
#define LIST_WHERE " WHERE m.mailbox_id = ?1 AND m.uid BETWEEN ?2 AND ?3 AND m.modseq > ?4" \
                   " ORDER BY m.uid"
    if (q->with_body)
        return "SELECT " MSG_M ", b.body FROM messages m JOIN message_bodies b"
               " ON b.mailbox_id = m.mailbox_id AND b.uid = m.uid" LIST_WHERE;
    if (q->changedsince)
        return "SELECT " MSG_M " FROM messages m INDEXED BY messages_modseq" LIST_WHERE;
    return "SELECT " MSG_M " FROM messages m" LIST_WHERE;
#undef LIST_WHERE
#undef MSG_M
}

static int msg_list(struct osec_store *st, int64_t mailbox_id,
                    const struct osec_store_msg_query *q, osec_store_msg_cb cb, void *arg)
{
    struct msg_iter it = { cb, arg, q->with_body };
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, prep(sq, list_sql(q), &s));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 1, mailbox_id));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 2, q->lo));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 3, q->hi));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 4, (int64_t)q->changedsince));
    rc = osec_sq_each(sq, s, "message list", msg_row, &it);
out:
    fin(sq, s);
    return rc;
}

static int msg_set_flags(struct osec_store *st, int64_t mailbox_id, uint32_t uid,
                         uint32_t flags, const char *keywords, uint64_t unchangedsince,
                         uint64_t modseq, int64_t *changes)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, prep(sq, "UPDATE messages SET flags = ?3, keywords = ?4, modseq = ?5"
                            " WHERE mailbox_id = ?1 AND uid = ?2 AND (?6 = 0 OR modseq <= ?6)",
                        &s));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 1, mailbox_id));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 2, uid));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 3, flags));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 4, keywords));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 5, (int64_t)modseq));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 6, (int64_t)unchangedsince));
    rc = osec_sq_run(sq, s, "message", changes);
out:
    fin(sq, s);
    return rc;
}

/* Binds (?1 mailbox id, ?2 uid) and runs sql as a query (exists) or not. */
static int msg_keyed(struct sq *sq, const char *sql, int64_t mailbox_id, uint32_t uid,
                     bool query, int64_t *changes)
{
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, prep(sq, sql, &s));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 1, mailbox_id));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 2, uid));
    rc = query ? osec_sq_one(sq, s, "message") : osec_sq_run(sq, s, "message", changes);
out:
    fin(sq, s);
    return rc;
}

static int msg_exists(struct osec_store *st, int64_t mailbox_id, uint32_t uid)
{
    return msg_keyed(sq_of(st), "SELECT 1 FROM messages WHERE mailbox_id = ?1 AND uid = ?2",
                     mailbox_id, uid, true, NULL);
}

static int msg_delete(struct osec_store *st, int64_t mailbox_id, uint32_t uid,
                      int64_t *changes)
{
    return msg_keyed(sq_of(st), "DELETE FROM messages WHERE mailbox_id = ?1 AND uid = ?2",
                     mailbox_id, uid, false, changes);
}

/* ---- METADATA and subscriptions ------------------------------------------------ */

static int meta_set(struct osec_store *st, int64_t mailbox_id, const char *user,
                    const char *entry, const uint8_t *value, size_t len)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, prep(sq, value ? "INSERT INTO mail_metadata (mailbox_id, user_name, entry,"
                                    " value) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (mailbox_id,"
                                    " user_name, entry) DO UPDATE SET value = excluded.value"
                                  : "DELETE FROM mail_metadata WHERE mailbox_id = ?1 AND"
                                    " user_name = ?2 AND entry = ?3", &s));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 1, mailbox_id));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 2, user));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 3, entry));
    if (value)
        OSEC_CHECK(rc, osec_sq_blob(sq, s, 4, value, len));
    rc = osec_sq_run(sq, s, "metadata entry", NULL);
out:
    fin(sq, s);
    return rc;
}

static int meta_get(struct osec_store *st, int64_t mailbox_id, const char *user,
                    const char *entry, struct osec_store_blob *out)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, prep(sq, "SELECT value FROM mail_metadata WHERE mailbox_id = ?1 AND"
                            " user_name = ?2 AND entry = ?3", &s));
    OSEC_CHECK(rc, osec_sq_i64(sq, s, 1, mailbox_id));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 2, user));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 3, entry));
    OSEC_CHECK(rc, osec_sq_one(sq, s, "metadata entry"));
    rc = osec_sq_col_blob(s, 0, out);
out:
    fin(sq, s);
    return rc;
}

static int sub_set(struct osec_store *st, const char *user, const char *name, bool on)
{
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, prep(sq, on ? "INSERT INTO mail_subscriptions (user_name, name)"
                                 " VALUES (?1, ?2) ON CONFLICT (user_name, name) DO NOTHING"
                               : "DELETE FROM mail_subscriptions WHERE user_name = ?1"
                                 " AND name = ?2", &s));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 1, user));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 2, name));
    rc = osec_sq_run(sq, s, "subscription", NULL);
out:
    fin(sq, s);
    return rc;
}

struct name_iter {
    osec_store_name_cb cb;
    void *arg;
};

static int name_row(sqlite3_stmt *s, void *ctx)
{
    struct name_iter *it = ctx;
    char name[OSEC_STORE_MAILBOX_MAX + 1];

    OSEC_GUARD(osec_sq_col_text(s, 0, name, sizeof(name)));
    return it->cb(name, it->arg);
}

static int sub_list(struct osec_store *st, const char *user, osec_store_name_cb cb, void *arg)
{
    struct name_iter it = { cb, arg };
    struct sq *sq = sq_of(st);
    sqlite3_stmt *s = NULL;
    int rc;

    OSEC_CHECK(rc, prep(sq, "SELECT name FROM mail_subscriptions WHERE user_name = ?1"
                            " ORDER BY name", &s));
    OSEC_CHECK(rc, osec_sq_text(sq, s, 1, user));
    rc = osec_sq_each(sq, s, "subscription list", name_row, &it);
out:
    fin(sq, s);
    return rc;
}

const struct osec_store_mail_ops osec_sq_mail_ops = {
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
