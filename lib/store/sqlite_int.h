/* SQLite backend internals shared by lib/store/sqlite*.c. */
#ifndef OSEC_STORE_SQLITE_INT_H
#define OSEC_STORE_SQLITE_INT_H

#include <sqlite3.h>

#include "store/store_int.h"

/* Every statement the backend runs, prepared once per connection. */
enum sq_id {
    SQ_BEGIN, SQ_COMMIT, SQ_ROLLBACK, SQ_SAVEPOINT, SQ_RELEASE, SQ_ROLLBACK_TO,
    SQ_USER_ADD, SQ_USER_GET, SQ_USER_SET_PW, SQ_USER_SET_FLAGS, SQ_USER_DEL,
    SQ_USER_DEL_ACL, SQ_USER_LIST,
    SQ_ADDR_ADD, SQ_ADDR_DEL, SQ_ADDR_OWNER, SQ_ADDR_LIST_USER, SQ_ADDR_LIST_ALL,
    SQ_ENT_PUT, SQ_ENT_EXISTS, SQ_ENT_GET, SQ_ENT_LIST_USER, SQ_ENT_LIST_ALL,
    SQ_ENT_REVOKE, SQ_ENT_DEL, SQ_OTK_DEL_ENTITY,
    SQ_OTK_ADD, SQ_OTK_GET, SQ_OTK_LIST_FOR, SQ_OTK_TAKE, SQ_OTK_EXISTS, SQ_OTK_PURGE,
    SQ_ACL_SET, SQ_ACL_GET, SQ_ACL_DEL, SQ_ACL_DEL_MAILBOX, SQ_ACL_LIST,
    SQ_POL_SET, SQ_POL_GET, SQ_POL_DEL, SQ_POL_LIST,
    SQ_META_GET, SQ_META_SET, SQ_META_ADD,
    SQ_AUDIT_ADD, SQ_AUDIT_LIST,
    SQ_COUNT
};

struct sq {
    struct osec_store base; /* first: struct osec_store * casts to struct sq * */
    sqlite3 *db;
    sqlite3_stmt *stmt[SQ_COUNT];
};

static inline struct sq *sq_of(struct osec_store *st)
{
    return (struct sq *)st;
}

/* sqlite_schema.c: prepare the statement catalogue; bring the schema up to date. */
int osec_sq_prepare_all(struct sq *sq);
int osec_sq_migrate(struct sq *sq);

/* Maps a SQLite result code to an OSEC_E* code with a message naming `what`. */
int osec_sq_error(struct sq *sq, int rc, const char *what, const char *file, int line);
#define SQ_ERR(sq, rc, what) osec_sq_error((sq), (rc), (what), __FILE__, __LINE__)

/* The cached statement id, ready to bind (OSEC_EBUSY if it is mid-listing). */
int osec_sq_stmt(struct sq *sq, enum sq_id id, sqlite3_stmt **out);
/* Reset and unbind; always call after osec_sq_stmt succeeded. */
void osec_sq_done(sqlite3_stmt *s);

int osec_sq_text(struct sq *sq, sqlite3_stmt *s, int idx, const char *v);
int osec_sq_blob(struct sq *sq, sqlite3_stmt *s, int idx, const uint8_t *p, size_t n);
int osec_sq_i64(struct sq *sq, sqlite3_stmt *s, int idx, int64_t v);

/* Step a statement that returns no rows; *changes (may be NULL) gets the
 * number of rows it changed. */
int osec_sq_run(struct sq *sq, sqlite3_stmt *s, const char *what, int64_t *changes);
/* Step once: 1 = a row is ready, 0 = no (more) rows, < 0 error. */
int osec_sq_step(struct sq *sq, sqlite3_stmt *s, const char *what);
/* Step a one-row query: 0 with the row ready, ENOTFOUND "<what> not found". */
int osec_sq_one(struct sq *sq, sqlite3_stmt *s, const char *what);

/* For each row call row(s, ctx): > 0 stops (returns 0), < 0 stops with it. */
int osec_sq_each(struct sq *sq, sqlite3_stmt *s, const char *what,
                 int (*row)(sqlite3_stmt *s, void *ctx), void *ctx);

int osec_sq_col_text(sqlite3_stmt *s, int col, char *dst, size_t dstlen);
int osec_sq_col_blob(sqlite3_stmt *s, int col, struct osec_store_blob *out);

/* Operations, by table (sqlite_users.c, sqlite_keys.c, sqlite_misc.c). */
int osec_sq_user_add(struct osec_store *st, const struct osec_store_user *u);
int osec_sq_user_get(struct osec_store *st, const char *name, struct osec_store_user *out);
int osec_sq_user_set_password(struct osec_store *st, const char *name, const char *hash,
                              const uint8_t *ha1, size_t ha1_len);
int osec_sq_user_set_flags(struct osec_store *st, const char *name, uint32_t flags);
int osec_sq_user_del(struct osec_store *st, const char *name, const char *nega);
int osec_sq_user_list(struct osec_store *st, osec_store_user_cb cb, void *arg);
int osec_sq_address_add(struct osec_store *st, const struct osec_store_address *a);
int osec_sq_address_del(struct osec_store *st, const char *uri);
int osec_sq_address_owner(struct osec_store *st, const char *uri, char *user, size_t len);
int osec_sq_address_list(struct osec_store *st, const char *user, osec_store_address_cb cb,
                         void *arg);

int osec_sq_entity_put(struct osec_store *st, const struct osec_store_entity *e);
int osec_sq_entity_get(struct osec_store *st, const char *id, struct osec_store_entity *out);
int osec_sq_entity_list(struct osec_store *st, const char *user, osec_store_entity_cb cb,
                        void *arg);
int osec_sq_entity_revoke(struct osec_store *st, const char *id, int64_t when);
int osec_sq_entity_delete(struct osec_store *st, const char *id);
int osec_sq_otk_add(struct osec_store *st, const struct osec_store_otk *k);
int osec_sq_otk_get(struct osec_store *st, const char *key_id, struct osec_store_otk *out);
int osec_sq_otk_list_for(struct osec_store *st, const char *peer, int64_t now,
                         osec_store_otk_cb cb, void *arg);
int osec_sq_otk_take(struct osec_store *st, const char *key_id, const char *caller,
                     struct osec_store_otk *out);
int osec_sq_otk_purge(struct osec_store *st, int64_t now, uint64_t *count);

int osec_sq_acl_set(struct osec_store *st, const struct osec_store_acl *a);
int osec_sq_acl_get(struct osec_store *st, const char *mailbox, const char *ident,
                    struct osec_store_acl *out);
int osec_sq_acl_delete(struct osec_store *st, const char *mailbox, const char *ident);
int osec_sq_acl_delete_mailbox(struct osec_store *st, const char *mailbox, uint64_t *count);
int osec_sq_acl_list(struct osec_store *st, const char *mailbox, osec_store_acl_cb cb,
                     void *arg);
int osec_sq_policy_set(struct osec_store *st, const char *name, const char *value);
int osec_sq_policy_get(struct osec_store *st, const char *name, struct osec_store_policy *out);
int osec_sq_policy_del(struct osec_store *st, const char *name);
int osec_sq_policy_list(struct osec_store *st, osec_store_policy_cb cb, void *arg);
int osec_sq_meta_get(struct osec_store *st, const char *name, struct osec_store_blob *out);
int osec_sq_meta_set(struct osec_store *st, const char *name, const uint8_t *v, size_t len);
int osec_sq_meta_add(struct osec_store *st, const char *name, const uint8_t *v, size_t len);
int osec_sq_audit_add(struct osec_store *st, const struct osec_store_audit *a);
int osec_sq_audit_list(struct osec_store *st, unsigned limit, osec_store_audit_cb cb,
                       void *arg);
/* sqlite_nonce.c */
int osec_sq_nonce_mark(struct osec_store *st, const uint8_t *nonce, size_t len, uint32_t nc,
                       int64_t expires);
int osec_sq_nonce_purge(struct osec_store *st, int64_t now, uint64_t *count);
/* sqlite_mail.c, sqlite_sipreg.c */
extern const struct osec_store_mail_ops osec_sq_mail_ops;
extern const struct osec_store_sipreg_ops osec_sq_sipreg_ops;

#endif
