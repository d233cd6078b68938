/* PostgreSQL backend internals shared by lib/store/pg*.c.
 *
 * One libpq connection per handle.  Every statement is prepared once per
 * connection (lazily, on first use: a reconnect starts a new session, so
 * the flags are cleared then) and run with PQexecPrepared: text parameters
 * for text and integers, binary ones for blobs, and binary results, so that
 * blobs never go through bytea hex encoding and integers come back as
 * 8-byte big-endian values.
 */
#ifndef OSEC_STORE_PG_INT_H
#define OSEC_STORE_PG_INT_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "store/store_int.h"

/* Every statement the backend runs; SQL text in pg_schema.c. */
enum pg_id {
    PG_BEGIN, PG_COMMIT, PG_ROLLBACK, PG_SAVEPOINT, PG_RELEASE, PG_ROLLBACK_TO,
    PG_STMT_SP, PG_STMT_RELEASE, PG_STMT_ROLLBACK,
    PG_USER_ADD, PG_USER_GET, PG_USER_SET_PW, PG_USER_SET_FLAGS, PG_USER_DEL,
    PG_USER_DEL_ACL, PG_USER_LIST,
    PG_ADDR_ADD, PG_ADDR_DEL, PG_ADDR_OWNER, PG_ADDR_LIST_USER, PG_ADDR_LIST_ALL,
    PG_ENT_PUT, PG_ENT_EXISTS, PG_ENT_GET, PG_ENT_LIST_USER, PG_ENT_LIST_ALL,
    PG_ENT_REVOKE, PG_ENT_DEL, PG_OTK_DEL_ENTITY,
    PG_OTK_ADD, PG_OTK_GET, PG_OTK_LIST_FOR, PG_OTK_TAKE, PG_OTK_EXISTS, PG_OTK_PURGE,
    PG_ACL_SET, PG_ACL_GET, PG_ACL_DEL, PG_ACL_DEL_MAILBOX, PG_ACL_LIST,
    PG_POL_SET, PG_POL_GET, PG_POL_DEL, PG_POL_LIST,
    PG_META_GET, PG_META_SET, PG_META_ADD,
    PG_AUDIT_ADD, PG_AUDIT_LIST,
    PG_NONCE_MARK, PG_NONCE_PURGE,
    PG_SIPREG_PUT, PG_SIPREG_DEL, PG_SIPREG_DEL_AOR, PG_SIPREG_DEL_FLOW, PG_SIPREG_DEL_INST,
    PG_SIPREG_LIST, PG_SIPREG_PURGE, PG_SIPREG_LOCK,
    PG_MB_CREATE, PG_MB_GET, PG_MB_GET_ID, PG_MB_RENAME, PG_MB_DEL_META, PG_MB_DEL,
    PG_MB_LIST, PG_MB_LIST_SHARED, PG_MB_COUNT, PG_MB_COUNT_UNSEEN, PG_MB_BUMP, PG_MB_BUMP_UID,
    PG_MSG_INSERT, PG_MSG_INSERT_BODY, PG_MSG_LIST, PG_MSG_LIST_BODY, PG_MSG_SET_FLAGS,
    PG_MSG_EXISTS, PG_MSG_DEL,
    PG_MMETA_SET, PG_MMETA_DEL, PG_MMETA_GET, PG_SUB_ADD, PG_SUB_DEL, PG_SUB_LIST,
    PG_COUNT
};

struct pg {
    struct osec_store base; /* first: struct osec_store * casts to struct pg * */
    PGconn *c;
    bool prepared[PG_COUNT];
    bool busy[PG_COUNT];    /* a listing is running its callbacks */
    bool tx_lost;           /* the connection broke inside a transaction */
};

static inline struct pg *pg_of(struct osec_store *st)
{
    return (struct pg *)st;
}

/* Parameters of one statement. */
#define PG_PARAMS_MAX 10

struct pg_params {
    int n;
    const char *v[PG_PARAMS_MAX];
    int len[PG_PARAMS_MAX];
    int fmt[PG_PARAMS_MAX];
    char num[PG_PARAMS_MAX][24];
};

void osec_pg_text(struct pg_params *p, const char *s);
void osec_pg_i64(struct pg_params *p, int64_t v);
void osec_pg_blob(struct pg_params *p, const uint8_t *d, size_t n);

/* pg_schema.c: the SQL of statement id; bring the schema up to date. */
const char *osec_pg_sql(enum pg_id id);
int osec_pg_migrate(struct pg *pg);
int osec_pg_schema_check(struct pg *pg);

/* Runs statement id.  On success *res (NULL: discarded) holds the result,
 * which the caller PQclear()s.  Errors are mapped to OSEC_E* codes naming
 * `what`.  Outside a transaction a broken connection is re-opened, and a
 * statement cut off in flight is run once more only if running it twice
 * cannot change the outcome (pg.c: replayable()); inside a transaction,
 * the transaction is lost: ESTORE. */
int osec_pg_exec(struct pg *pg, enum pg_id id, const struct pg_params *p, const char *what,
                 PGresult **res);
/* A statement returning no rows; *changes (may be NULL) gets the row count. */
int osec_pg_run(struct pg *pg, enum pg_id id, const struct pg_params *p, const char *what,
                int64_t *changes);
/* A one-row query: 0 with *res holding the row, ENOTFOUND "<what> not found". */
int osec_pg_one(struct pg *pg, enum pg_id id, const struct pg_params *p, const char *what,
                PGresult **res);
/* 1 if the query returns a row, 0 if not, < 0 on error. */
int osec_pg_exists(struct pg *pg, enum pg_id id, const struct pg_params *p, const char *what);
/* For each row call row(r, i, ctx): > 0 stops (returns 0), < 0 stops with
 * it.  The whole result is fetched first (libpq runs one query at a time
 * per connection), so callbacks may read through the same handle. */
int osec_pg_each(struct pg *pg, enum pg_id id, const struct pg_params *p, const char *what,
                 int (*row)(const PGresult *r, int i, void *ctx), void *ctx);

int osec_pg_col_text(const PGresult *r, int row, int col, char *dst, size_t dstlen);
int osec_pg_col_blob(const PGresult *r, int row, int col, struct osec_store_blob *out);
int osec_pg_col_i64(const PGresult *r, int row, int col, int64_t *out);

/* Operations, by table (pg_users.c, pg_keys.c, pg_misc.c). */
int osec_pg_user_add(struct osec_store *st, const struct osec_store_user *u);
int osec_pg_user_get(struct osec_store *st, const char *name, struct osec_store_user *out);
int osec_pg_user_set_password(struct osec_store *st, const char *name, const char *hash,
                              const uint8_t *ha1, size_t ha1_len);
int osec_pg_user_set_flags(struct osec_store *st, const char *name, uint32_t flags);
int osec_pg_user_del(struct osec_store *st, const char *name, const char *nega);
int osec_pg_user_list(struct osec_store *st, osec_store_user_cb cb, void *arg);
int osec_pg_address_add(struct osec_store *st, const struct osec_store_address *a);
int osec_pg_address_del(struct osec_store *st, const char *uri);
int osec_pg_address_owner(struct osec_store *st, const char *uri, char *user, size_t len);
int osec_pg_address_list(struct osec_store *st, const char *user, osec_store_address_cb cb,
                         void *arg);

int osec_pg_entity_put(struct osec_store *st, const struct osec_store_entity *e);
int osec_pg_entity_get(struct osec_store *st, const char *id, struct osec_store_entity *out);
int osec_pg_entity_list(struct osec_store *st, const char *user, osec_store_entity_cb cb,
                        void *arg);
int osec_pg_entity_revoke(struct osec_store *st, const char *id, int64_t when);
int osec_pg_entity_delete(struct osec_store *st, const char *id);
int osec_pg_otk_add(struct osec_store *st, const struct osec_store_otk *k);
int osec_pg_otk_get(struct osec_store *st, const char *key_id, struct osec_store_otk *out);
int osec_pg_otk_list_for(struct osec_store *st, const char *peer, int64_t now,
                         osec_store_otk_cb cb, void *arg);
int osec_pg_otk_take(struct osec_store *st, const char *key_id, const char *caller,
                     struct osec_store_otk *out);
int osec_pg_otk_purge(struct osec_store *st, int64_t now, uint64_t *count);

int osec_pg_acl_set(struct osec_store *st, const struct osec_store_acl *a);
int osec_pg_acl_get(struct osec_store *st, const char *mailbox, const char *ident,
                    struct osec_store_acl *out);
int osec_pg_acl_delete(struct osec_store *st, const char *mailbox, const char *ident);
int osec_pg_acl_delete_mailbox(struct osec_store *st, const char *mailbox, uint64_t *count);
int osec_pg_acl_list(struct osec_store *st, const char *mailbox, osec_store_acl_cb cb,
                     void *arg);
int osec_pg_policy_set(struct osec_store *st, const char *name, const char *value);
int osec_pg_policy_get(struct osec_store *st, const char *name, struct osec_store_policy *out);
int osec_pg_policy_del(struct osec_store *st, const char *name);
int osec_pg_policy_list(struct osec_store *st, osec_store_policy_cb cb, void *arg);
int osec_pg_meta_get(struct osec_store *st, const char *name, struct osec_store_blob *out);
int osec_pg_meta_set(struct osec_store *st, const char *name, const uint8_t *v, size_t len);
int osec_pg_meta_add(struct osec_store *st, const char *name, const uint8_t *v, size_t len);
int osec_pg_audit_add(struct osec_store *st, const struct osec_store_audit *a);
int osec_pg_audit_list(struct osec_store *st, unsigned limit, osec_store_audit_cb cb,
                       void *arg);
int osec_pg_nonce_mark(struct osec_store *st, const uint8_t *nonce, size_t len, uint32_t nc,
                       int64_t expires);
int osec_pg_nonce_purge(struct osec_store *st, int64_t now, uint64_t *count);
/* pg_sipreg.c, pg_mail.c */
extern const struct osec_store_sipreg_ops osec_pg_sipreg_ops;
extern const struct osec_store_mail_ops osec_pg_mail_ops;

#endif
