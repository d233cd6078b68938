/* Internal interface between the generic store layer (store.c) and its
 * backends.  store.c validates every argument and owns the transaction
 * depth, so each backend sees only well-formed, bounded input and gets the
 * same semantics for free; a backend implements the operations below with
 * prepared statements and maps its errors to OSEC_E* codes.
 */
#ifndef OSEC_STORE_INT_H
#define OSEC_STORE_INT_H

#include "omasec/store.h"

enum osec_tx_op {
    OSEC_TX_BEGIN,        /* outermost: start a write transaction */
    OSEC_TX_COMMIT,
    OSEC_TX_ROLLBACK,
    OSEC_TX_SAVEPOINT,    /* nested begin */
    OSEC_TX_RELEASE,      /* nested commit */
    OSEC_TX_ROLLBACK_TO   /* nested rollback (the savepoint is released too) */
};

struct osec_store_ops {
    const char *name;
    void (*close)(struct osec_store *st);
    int (*tx)(struct osec_store *st, enum osec_tx_op op);
    int (*check)(struct osec_store *st);

    int (*user_add)(struct osec_store *st, const struct osec_store_user *u);
    int (*user_get)(struct osec_store *st, const char *name, struct osec_store_user *out);
    int (*user_set_password)(struct osec_store *st, const char *name, const char *hash,
                             const uint8_t *ha1, size_t ha1_len);
    int (*user_set_flags)(struct osec_store *st, const char *name, uint32_t flags);
    /* Called inside a transaction; nega is "-name". */
    int (*user_del)(struct osec_store *st, const char *name, const char *nega);
    int (*user_list)(struct osec_store *st, osec_store_user_cb cb, void *arg);

    int (*address_add)(struct osec_store *st, const struct osec_store_address *a);
    int (*address_del)(struct osec_store *st, const char *uri);
    int (*address_owner)(struct osec_store *st, const char *uri, char *user, size_t len);
    int (*address_list)(struct osec_store *st, const char *user, osec_store_address_cb cb,
                        void *arg);

    /* One atomic statement or a transaction of its own. */
    int (*entity_put)(struct osec_store *st, const struct osec_store_entity *e);
    int (*entity_get)(struct osec_store *st, const char *id, struct osec_store_entity *out);
    int (*entity_list)(struct osec_store *st, const char *user, osec_store_entity_cb cb,
                       void *arg);
    /* Called inside a transaction. */
    int (*entity_revoke)(struct osec_store *st, const char *id, int64_t when);
    int (*entity_delete)(struct osec_store *st, const char *id);

    int (*otk_add)(struct osec_store *st, const struct osec_store_otk *k);
    int (*otk_get)(struct osec_store *st, const char *key_id, struct osec_store_otk *out);
    int (*otk_list_for)(struct osec_store *st, const char *peer, int64_t now,
                        osec_store_otk_cb cb, void *arg);
    /* Atomically delete and return the key if caller is creator or peer;
     * ENOTFOUND / EPERM otherwise.  Expiry is judged by store.c. */
    int (*otk_take)(struct osec_store *st, const char *key_id, const char *caller,
                    struct osec_store_otk *out);
    int (*otk_purge)(struct osec_store *st, int64_t now, uint64_t *count);

    int (*acl_set)(struct osec_store *st, const struct osec_store_acl *a);
    int (*acl_get)(struct osec_store *st, const char *mailbox, const char *ident,
                   struct osec_store_acl *out);
    int (*acl_delete)(struct osec_store *st, const char *mailbox, const char *ident);
    int (*acl_delete_mailbox)(struct osec_store *st, const char *mailbox, uint64_t *count);
    int (*acl_list)(struct osec_store *st, const char *mailbox, osec_store_acl_cb cb,
                    void *arg);

    int (*policy_set)(struct osec_store *st, const char *name, const char *value);
    int (*policy_get)(struct osec_store *st, const char *name, struct osec_store_policy *out);
    int (*policy_del)(struct osec_store *st, const char *name);
    int (*policy_list)(struct osec_store *st, osec_store_policy_cb cb, void *arg);

    int (*meta_get)(struct osec_store *st, const char *name, struct osec_store_blob *out);
    int (*meta_set)(struct osec_store *st, const char *name, const uint8_t *v, size_t len);
    /* Insert only if absent (no error when present). */
    int (*meta_add)(struct osec_store *st, const char *name, const uint8_t *v, size_t len);

    int (*audit_add)(struct osec_store *st, const struct osec_store_audit *a);
    int (*audit_list)(struct osec_store *st, unsigned limit, osec_store_audit_cb cb,
                      void *arg);

    /* One insert-unless-used statement: 0, or OSEC_EREPLAY. */
    int (*nonce_mark)(struct osec_store *st, const uint8_t *nonce, size_t len, uint32_t nc,
                      int64_t expires);
    int (*nonce_purge)(struct osec_store *st, int64_t now, uint64_t *count);

    /* Several processes may share the rows (osec_store_is_shared). */
    bool shared;
    const struct osec_store_mail_ops *mail;
    const struct osec_store_sipreg_ops *sipreg;
};

/* The message store (store_mail.c validates and composes transactions).
 * "In a transaction" operations are called with depth > 0. */
struct osec_store_mail_ops {
    int (*mailbox_create)(struct osec_store *st, const char *owner, const char *name,
                          uint32_t uidvalidity, int64_t created, struct osec_store_mailbox *out);
    int (*mailbox_get)(struct osec_store *st, const char *owner, const char *name,
                       struct osec_store_mailbox *out);
    int (*mailbox_get_id)(struct osec_store *st, int64_t id, struct osec_store_mailbox *out);
    /* Renames and moves the mod-sequence on; *changes rows. */
    int (*mailbox_rename)(struct osec_store *st, int64_t id, const char *new_name,
                          int64_t *changes);
    /* In a transaction: metadata, the ACL entries under acl_key, messages
     * and the mailbox row; *changes mailbox rows deleted. */
    int (*mailbox_delete)(struct osec_store *st, int64_t id, const char *acl_key,
                          int64_t *changes);
    /* The owner's mailboxes by name, or (shared) the mailboxes of others
     * that have an ACL entry for user, 'anyone' or 'authenticated', by
     * owner and name. */
    int (*mailbox_list)(struct osec_store *st, const char *user, bool shared,
                        osec_store_mailbox_cb cb, void *arg);
    int (*mailbox_counts)(struct osec_store *st, int64_t id, uint32_t seen_flag,
                          uint64_t *messages, uint64_t *unseen);
    /* In a transaction: modseq + 1 (and uidnext + 1 when take_uid); the
     * new values.  ENOTFOUND for an unknown mailbox. */
    int (*mailbox_bump)(struct osec_store *st, int64_t id, bool take_uid, int64_t *uidnext,
                        uint64_t *modseq);
    /* In a transaction: the message row and its body. */
    int (*msg_insert)(struct osec_store *st, const struct osec_store_msg *m);
    /* Bodies (with_body) may point into backend memory valid during cb. */
    int (*msg_list)(struct osec_store *st, int64_t mailbox_id,
                    const struct osec_store_msg_query *q, osec_store_msg_cb cb, void *arg);
    /* Sets flags, keywords and modseq unless the row changed after
     * unchangedsince (0: unconditional); *changes rows. */
    int (*msg_set_flags)(struct osec_store *st, int64_t mailbox_id, uint32_t uid,
                         uint32_t flags, const char *keywords, uint64_t unchangedsince,
                         uint64_t modseq, int64_t *changes);
    /* 0 or ENOTFOUND. */
    int (*msg_exists)(struct osec_store *st, int64_t mailbox_id, uint32_t uid);
    int (*msg_delete)(struct osec_store *st, int64_t mailbox_id, uint32_t uid,
                      int64_t *changes);
    /* value NULL deletes. */
    int (*meta_set)(struct osec_store *st, int64_t mailbox_id, const char *user,
                    const char *entry, const uint8_t *value, size_t len);
    int (*meta_get)(struct osec_store *st, int64_t mailbox_id, const char *user,
                    const char *entry, struct osec_store_blob *out);
    int (*sub_set)(struct osec_store *st, const char *user, const char *name, bool on);
    int (*sub_list)(struct osec_store *st, const char *user, osec_store_name_cb cb, void *arg);
};

/* SIP registrations (store_sipreg.c validates). */
struct osec_store_sipreg_ops {
    int (*put)(struct osec_store *st, const struct osec_store_sipreg *b);
    int (*del)(struct osec_store *st, const char *aor, const char *contact, int64_t *changes);
    int (*del_aor)(struct osec_store *st, const char *aor, int64_t *changes);
    /* all: flow is ignored. */
    int (*del_flow)(struct osec_store *st, const char *instance, const char *flow, bool all,
                    int64_t *changes);
    int (*list)(struct osec_store *st, const char *aor, int64_t now, osec_store_sipreg_cb cb,
                void *arg);
    int (*purge)(struct osec_store *st, int64_t now, int64_t *changes);
    /* In a transaction; NULL: the backend's write transaction already
     * serialises writers (SQLite). */
    int (*lock)(struct osec_store *st, const char *aor);
};

/* Every backend handle starts with this. */
struct osec_store {
    const struct osec_store_ops *ops;
    int depth;   /* transaction nesting, managed by store.c */
    int listing; /* list calls in progress: writes are refused meanwhile */
};

/* Backend constructors: parse nothing, just open. */
int osec_store_sqlite_open(const char *path, struct osec_store **out);
/* url: "postgresql://..." or "postgres://..." (libpq connection URI). */
int osec_store_pg_open(const char *url, struct osec_store **out);

/* Copies n bytes into a fresh blob (n may be 0). */
int osec_store_blob_dup(struct osec_store_blob *b, const void *p, size_t n);

/* Argument checks of the generic layer (store.c), for store_mail.c and
 * store_sipreg.c: text as the header's conventions say; a handle that may
 * be written (not inside a list callback); a handle and a callback. */
int osec_store_check_text(const char *s, size_t max, bool may_be_empty, const char *what);
int osec_store_check_writable(const struct osec_store *st);
int osec_store_check_cb(const struct osec_store *st, bool have_cb);
/* Ends a transaction begun by the caller: commit when rc >= 0, else roll
 * back and return rc with its own message. */
int osec_store_tx_end(struct osec_store *st, int rc);

/* Runs a list call with writes through this handle locked out. */
#define OSEC_STORE_LISTING(st, call)                                        \
    do {                                                                    \
        int list_rc_;                                                       \
        (st)->listing++;                                                    \
        list_rc_ = (call);                                                  \
        (st)->listing--;                                                    \
        return list_rc_;                                                    \
    } while (0)

#endif
