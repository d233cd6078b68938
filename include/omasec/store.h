/* The omasec storage interface.
 *
 * One opaque handle, one API, two backends: SQLite (embedded, the default)
 * and PostgreSQL (shared by several instances), behind the same functions
 * and the same test suite.  See docs/store.md for the schema and the
 * concurrency model.
 *
 * Threads: a store handle is used by one thread at a time.  Daemons open one
 * handle per worker thread; several handles (in one or several processes)
 * may share one database.
 *
 * Conventions shared by every call:
 * - Returns 0 or a negative OSEC_E* code with a message (osec_error_msg()).
 * - Text arguments are C strings that must be non-empty (unless noted),
 *   at most the OSEC_STORE_*_MAX bytes given below (else OSEC_EBOUNDS) and
 *   free of control characters (bytes < 0x20 and 0x7f: else OSEC_EINVAL).
 *   Names are compared byte for byte; normalising them is the caller's job.
 * - Times are int64 Unix seconds.  A `created` (or audit `ts`) of 0 means
 *   "now" (osec_time_now()).
 * - Blobs (sealed values) are opaque to the store.  In records passed *to*
 *   the store they point at the caller's bytes; records filled *by* the store
 *   own a malloc'd copy that osec_store_*_clear() wipes and frees.  Records
 *   handed to list callbacks are valid only during the callback.
 * - List callbacks return 0 to continue, > 0 to stop early (the list call
 *   then returns 0) or < 0 to stop with that error.  A callback may read
 *   through the same handle but must not modify the store through it, nor
 *   start the same kind of listing again (OSEC_EBUSY).
 * - Missing objects: OSEC_ENOTFOUND; duplicates: OSEC_EEXISTS; a reference to
 *   an unknown user or entity: OSEC_ENOTFOUND; database failures (disk full,
 *   I/O error, read-only file, corruption, lock timeout): OSEC_ESTORE.
 */
#ifndef OMASEC_STORE_H
#define OMASEC_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "omasec/buf.h"

/* Limits in bytes, excluding the terminating NUL. */
#define OSEC_STORE_NAME_MAX 128     /* user, entity id, key id, policy/meta name */
#define OSEC_STORE_URI_MAX 256      /* CPM Address (public identity) */
#define OSEC_STORE_HASH_MAX 256     /* PHC password hash string */
#define OSEC_STORE_TYPE_MAX 7       /* entity type: "pne" or "gw" */
#define OSEC_STORE_MAILBOX_MAX 1024 /* IMAP mailbox name */
#define OSEC_STORE_IDENT_MAX 256    /* RFC 4314 identifier, incl. "-name" */
#define OSEC_STORE_RIGHTS_MAX 64    /* RFC 4314 rights letters/digits */
#define OSEC_STORE_VALUE_MAX 1024   /* policy value */
#define OSEC_STORE_EVENT_MAX 64     /* audit event name */
#define OSEC_STORE_ACTOR_MAX 256    /* audit actor / subject */
#define OSEC_STORE_DETAIL_MAX 1024  /* audit detail */
#define OSEC_STORE_BLOB_MAX 65536   /* any sealed blob / meta value */
#define OSEC_STORE_PATH_MAX 4096    /* SQLite file path */

struct osec_store;

/* ---- open / close / transactions ------------------------------------- */

/* url: "sqlite:PATH", a plain PATH (SQLite), "sqlite::memory:" (private,
 * non-durable: for tests), or a libpq URI "postgresql://..." /
 * "postgres://..." (OSEC_EINVAL if built without libpq; a server that
 * cannot be reached is OSEC_ESTORE).  Creates the database (SQLite: file
 * mode 0600) and brings the schema to the current version.  An existing
 * SQLite file that is world-accessible is refused (OSEC_EPERM).  A path in
 * a missing directory or an unreadable file is OSEC_ESTORE. */
int osec_store_open(const char *url, struct osec_store **out);
/* url with any password replaced by "***" (user:password@ and password=
 * in a query or key/value string), for printing and logging. */
int osec_store_url_redact(const char *url, char *out, size_t outlen);
/* Rolls back an open transaction; *st becomes NULL.  NULL-safe. */
void osec_store_close(struct osec_store **st);
/* "sqlite" (or "postgresql"). */
const char *osec_store_backend(const struct osec_store *st);

/* Multi-call atomicity.  begin/commit nest: the outermost pair is the
 * transaction, inner pairs are savepoints (an inner rollback undoes only
 * the work since its begin).  commit/rollback without begin: OSEC_EINVAL.
 * A failed outermost commit rolls everything back. */
int osec_store_begin(struct osec_store *st);
int osec_store_commit(struct osec_store *st);
int osec_store_rollback(struct osec_store *st);
/* Current nesting depth (0 = no transaction). */
int osec_store_tx_depth(const struct osec_store *st);

/* Database self-check (SQLite: PRAGMA integrity_check): 0 or OSEC_ESTORE. */
int osec_store_check(struct osec_store *st);

/* ---- blobs ------------------------------------------------------------ */

struct osec_store_blob {
    uint8_t *data;
    size_t len;
};

/* Wipes and frees a blob filled by the store; NULL-safe, idempotent. */
void osec_store_blob_free(struct osec_store_blob *b);

/* ---- users ------------------------------------------------------------ */

enum osec_user_flags {
    OSEC_USER_REQUIRE_TLS = 1u,  /* refuse this user outside TLS */
    OSEC_USER_ENCRYPT_MSGS = 2u, /* store this user's messages encrypted */
    OSEC_USER_DISABLED = 4u      /* authentication refused */
};

struct osec_store_user {
    char name[OSEC_STORE_NAME_MAX + 1];
    char password_hash[OSEC_STORE_HASH_MAX + 1]; /* PHC string; may be empty */
    struct osec_store_blob ha1_sealed;           /* sealed Digest HA1 values */
    uint32_t flags;                              /* enum osec_user_flags */
    int64_t created;
};

typedef int (*osec_store_user_cb)(const struct osec_store_user *u, void *arg);

int osec_store_user_add(struct osec_store *st, const struct osec_store_user *u);
int osec_store_user_get(struct osec_store *st, const char *name, struct osec_store_user *out);
int osec_store_user_set_password(struct osec_store *st, const char *name,
                                 const char *password_hash, const uint8_t *ha1_sealed,
                                 size_t ha1_len);
int osec_store_user_set_flags(struct osec_store *st, const char *name, uint32_t flags);
/* Deletes the user, its addresses, its entities (and so their onetime
 * keys) and every ACL entry naming it ("name" and "-name"), atomically. */
int osec_store_user_del(struct osec_store *st, const char *name);
int osec_store_user_list(struct osec_store *st, osec_store_user_cb cb, void *arg);
void osec_store_user_clear(struct osec_store_user *u);

/* ---- CPM Addresses (public identities allocated to users) ------------- */

struct osec_store_address {
    char uri[OSEC_STORE_URI_MAX + 1];
    char user[OSEC_STORE_NAME_MAX + 1];
    int64_t created;
};

typedef int (*osec_store_address_cb)(const struct osec_store_address *a, void *arg);

/* OSEC_EEXISTS if the address is allocated to anyone; ENOTFOUND if no such user. */
int osec_store_address_add(struct osec_store *st, const struct osec_store_address *a);
int osec_store_address_del(struct osec_store *st, const char *uri);
/* Owner of uri into user[OSEC_STORE_NAME_MAX + 1]. */
int osec_store_address_owner(struct osec_store *st, const char *uri, char *user, size_t userlen);
/* user NULL: every address.  Ordered by uri. */
int osec_store_address_list(struct osec_store *st, const char *user, osec_store_address_cb cb,
                            void *arg);

/* ---- CPNS entities (PNEs and PN Gateways) ----------------------------- */

struct osec_store_entity {
    char entity_id[OSEC_STORE_NAME_MAX + 1];
    char type[OSEC_STORE_TYPE_MAX + 1]; /* "pne" or "gw" */
    char user[OSEC_STORE_NAME_MAX + 1];
    struct osec_store_blob eukey_sealed;
    int64_t created;
    int64_t expires;                    /* 0: no expiry */
    int64_t revoked;                    /* 0, or when it was revoked */
};

typedef int (*osec_store_entity_cb)(const struct osec_store_entity *e, void *arg);

/* Insert, or replace (new key, times, type; revoked cleared) when the entity
 * already belongs to the same user; another user's entity: OSEC_EPERM. */
int osec_store_entity_put(struct osec_store *st, const struct osec_store_entity *e);
int osec_store_entity_get(struct osec_store *st, const char *entity_id,
                          struct osec_store_entity *out);
/* user NULL: every entity.  Ordered by entity id. */
int osec_store_entity_list(struct osec_store *st, const char *user, osec_store_entity_cb cb,
                           void *arg);
/* Marks the entity revoked at `when` (0: now) and deletes the onetime keys
 * it created or may fetch.  Revoking a revoked entity keeps the first time. */
int osec_store_entity_revoke(struct osec_store *st, const char *entity_id, int64_t when);
/* Deletes the entity and its onetime keys. */
int osec_store_entity_delete(struct osec_store *st, const char *entity_id);
void osec_store_entity_clear(struct osec_store_entity *e);

/* ---- onetime security keys -------------------------------------------- */

struct osec_store_otk {
    char key_id[OSEC_STORE_NAME_MAX + 1];
    char creator[OSEC_STORE_NAME_MAX + 1]; /* entity id */
    char peer[OSEC_STORE_NAME_MAX + 1];    /* entity id the key is sealed for */
    struct osec_store_blob sealed;
    int64_t created;
    int64_t expires;                       /* > 0; valid while now < expires */
};

typedef int (*osec_store_otk_cb)(const struct osec_store_otk *k, void *arg);

/* ENOTFOUND if creator or peer is not a known entity. */
int osec_store_otk_add(struct osec_store *st, const struct osec_store_otk *k);
int osec_store_otk_get(struct osec_store *st, const char *key_id, struct osec_store_otk *out);
/* Unexpired keys waiting for peer, oldest first. */
int osec_store_otk_list_for(struct osec_store *st, const char *peer, int64_t now,
                            osec_store_otk_cb cb, void *arg);
/* Deletes the key and returns it, exactly once across every handle and
 * process.  caller must be the creator or the peer (else OSEC_EPERM, key
 * kept).  An expired key is deleted and OSEC_ESTALE returned (out cleared). */
int osec_store_otk_consume(struct osec_store *st, const char *key_id, const char *caller,
                           int64_t now, struct osec_store_otk *out);
/* Deletes keys with expires <= now; *count (may be NULL) gets how many. */
int osec_store_otk_purge_expired(struct osec_store *st, int64_t now, uint64_t *count);
void osec_store_otk_clear(struct osec_store_otk *k);

/* ---- IMAP ACL (RFC 4314) ---------------------------------------------- */

struct osec_store_acl {
    char mailbox[OSEC_STORE_MAILBOX_MAX + 1];
    char identifier[OSEC_STORE_IDENT_MAX + 1];
    char rights[OSEC_STORE_RIGHTS_MAX + 1]; /* ASCII letters/digits; may be empty */
};

typedef int (*osec_store_acl_cb)(const struct osec_store_acl *a, void *arg);

/* Insert or replace the rights of (mailbox, identifier). */
int osec_store_acl_set(struct osec_store *st, const struct osec_store_acl *a);
int osec_store_acl_get(struct osec_store *st, const char *mailbox, const char *identifier,
                       struct osec_store_acl *out);
int osec_store_acl_delete(struct osec_store *st, const char *mailbox, const char *identifier);
/* Removes every entry of a mailbox (when the mailbox is deleted, so a new
 * mailbox of that name does not inherit them); *count may be NULL. */
int osec_store_acl_delete_mailbox(struct osec_store *st, const char *mailbox, uint64_t *count);
/* Ordered by identifier. */
int osec_store_acl_list(struct osec_store *st, const char *mailbox, osec_store_acl_cb cb,
                        void *arg);

/* ---- policy (key/value text) ------------------------------------------ */

struct osec_store_policy {
    char name[OSEC_STORE_NAME_MAX + 1];
    char value[OSEC_STORE_VALUE_MAX + 1]; /* may be empty */
};

typedef int (*osec_store_policy_cb)(const struct osec_store_policy *p, void *arg);

int osec_store_policy_set(struct osec_store *st, const char *name, const char *value);
int osec_store_policy_get(struct osec_store *st, const char *name, struct osec_store_policy *out);
int osec_store_policy_del(struct osec_store *st, const char *name);
int osec_store_policy_list(struct osec_store *st, osec_store_policy_cb cb, void *arg);

/* ---- meta (daemon secrets and state, key/blob) ------------------------ */

/* Appends a fresh value to out (a secret buffer of max OSEC_STORE_BLOB_MAX). */
typedef int (*osec_store_meta_gen)(void *arg, struct osec_buf *out);

int osec_store_meta_get(struct osec_store *st, const char *name, struct osec_store_blob *out);
int osec_store_meta_set(struct osec_store *st, const char *name, const uint8_t *value,
                        size_t len);
/* Returns the stored value; if there is none, stores gen's value unless
 * another handle stored one first.  Every caller gets the same value. */
int osec_store_meta_get_or_create(struct osec_store *st, const char *name,
                                  osec_store_meta_gen gen, void *arg,
                                  struct osec_store_blob *out);

/* ---- audit log -------------------------------------------------------- */

struct osec_store_audit {
    int64_t id;                              /* set by the store */
    int64_t ts;
    char event[OSEC_STORE_EVENT_MAX + 1];    /* e.g. "eukey.assign" */
    char actor[OSEC_STORE_ACTOR_MAX + 1];    /* may be empty */
    char subject[OSEC_STORE_ACTOR_MAX + 1];  /* may be empty */
    char detail[OSEC_STORE_DETAIL_MAX + 1];  /* may be empty; never secrets */
};

typedef int (*osec_store_audit_cb)(const struct osec_store_audit *a, void *arg);

/* Control characters in detail are replaced by '?' (it often quotes
 * untrusted input, and an audit record must not be lost over it). */
int osec_store_audit_add(struct osec_store *st, const struct osec_store_audit *a);
/* Newest first (by ts, then insertion), at most limit records (>= 1). */
int osec_store_audit_list(struct osec_store *st, unsigned limit, osec_store_audit_cb cb,
                          void *arg);

/* ---- Digest nonce-count replay state ---------------------------------- */
/* What lets several daemon instances behind a load balancer share replay
 * detection (lib/auth/digest_store_replay.c): a used (nonce, nc) pair is
 * recorded once for all of them.  nc 0 is a single-use nonce (no qop). */

#define OSEC_STORE_NONCE_MAX 128 /* nonce bytes */

/* Marks (nonce, nc) used until `expires` (> 0): 0 if it was unused (it is
 * now marked, exactly once across every handle and process), OSEC_EREPLAY
 * if it was used already or, for nc != 0, if the nonce was used single-use
 * (nc 0), and for nc 0 if the nonce was used at all. */
int osec_store_nonce_mark(struct osec_store *st, const uint8_t *nonce, size_t len, uint32_t nc,
                          int64_t expires);
/* Forgets marks with expires <= now (their nonces are refused as stale
 * anyway); *count (may be NULL) gets how many. */
int osec_store_nonce_purge(struct osec_store *st, int64_t now, uint64_t *count);

/* ---- SIP registrations (cpm-sipd, docs/cpm-sip.md) ---------------------- */
/* The bindings cpm-sipd instances share when the store is shared
 * (PostgreSQL): an instance routes toward a user registered through another
 * one.  One row per (aor, contact); `instance` names the cpm-sipd instance
 * that holds the flow and `flow` how it reaches the UA (an opaque token of
 * that instance), so a binding tied to a connection can be removed when the
 * connection closes, and a request for it can be sent to that instance.
 * Soft state: rows past `expires` are never returned and purged. */

#define OSEC_STORE_SIPREG_URI_MAX 512   /* AOR, Contact URI, Path */
#define OSEC_STORE_SIPREG_CALLID_MAX 255
#define OSEC_STORE_SIPREG_FLOW_MAX 256  /* instance flow token */

struct osec_store_sipreg {
    char aor[OSEC_STORE_SIPREG_URI_MAX + 1];
    char contact[OSEC_STORE_SIPREG_URI_MAX + 1];
    char path[OSEC_STORE_SIPREG_URI_MAX + 1];        /* may be empty */
    char call_id[OSEC_STORE_SIPREG_CALLID_MAX + 1];
    uint32_t cseq;
    int64_t expires;                                 /* > 0, Unix seconds */
    char user[OSEC_STORE_NAME_MAX + 1];              /* authenticated user */
    char instance[OSEC_STORE_NAME_MAX + 1];          /* cpm-sipd instance name */
    char flow[OSEC_STORE_SIPREG_FLOW_MAX + 1];       /* may be empty */
    int64_t updated;                                 /* 0 on put: now; orders lists */
};

typedef int (*osec_store_sipreg_cb)(const struct osec_store_sipreg *b, void *arg);

/* Insert or replace the binding (aor, contact).  The user must exist
 * (ENOTFOUND; deleting the user deletes its bindings). */
int osec_store_sipreg_put(struct osec_store *st, const struct osec_store_sipreg *b);
/* ENOTFOUND if there is no such binding. */
int osec_store_sipreg_del(struct osec_store *st, const char *aor, const char *contact);
/* Every binding of aor; *count (may be NULL) gets how many. */
int osec_store_sipreg_del_aor(struct osec_store *st, const char *aor, uint64_t *count);
/* Every binding instance holds on flow (a connection closed); flow "" with
 * all = true: every binding of the instance (it restarted: its connections
 * and flow tokens are gone). */
int osec_store_sipreg_del_flow(struct osec_store *st, const char *instance, const char *flow,
                               bool all, uint64_t *count);
/* The bindings of aor with expires > now, newest (updated) first. */
int osec_store_sipreg_list(struct osec_store *st, const char *aor, int64_t now,
                           osec_store_sipreg_cb cb, void *arg);
/* Inside a transaction (osec_store_begin): waits until no other handle,
 * in any process, holds the lock of aor, and holds it until the
 * transaction ends, so that read-check-write sequences on one AOR's
 * bindings (a REGISTER) run one at a time across instances. */
int osec_store_sipreg_lock(struct osec_store *st, const char *aor);
/* Forgets bindings with expires <= now; *count (may be NULL). */
int osec_store_sipreg_purge(struct osec_store *st, int64_t now, uint64_t *count);
/* true when several processes may share this store's rows concurrently
 * (PostgreSQL): cpm-sipd then keeps its bindings in the store too. */
bool osec_store_is_shared(const struct osec_store *st);

/* ---- Message store (cpm-msgstored, docs/message-store.md) -------------- */
/* IMAP mailboxes and messages.  A mailbox belongs to an owner (a user:
 * deleting the user deletes its mailboxes and their messages) and has a
 * name unique per owner (UTF-8, "/" as the hierarchy delimiter, "INBOX"
 * canonical).  Its id never changes (RENAME keeps it) and is never reused,
 * so sealed bodies bind it and its ACL entries live in the ACL table under
 * the key "mbox:<id>" (osec_store_mailbox_acl_key).  Bodies are opaque
 * sealed blobs.  Multi-step changes (APPEND: reserve a UID, seal with it,
 * insert) run inside the caller's transaction (osec_store_begin).
 * Both backends; on PostgreSQL several instances share one store. */

#include <stdbool.h>

#define OSEC_STORE_MSG_MAX ((size_t)1 << 30) /* sealed body bytes */
#define OSEC_STORE_KEYWORDS_MAX 1024         /* space-separated keywords */
#define OSEC_STORE_ENTRY_MAX 1024            /* METADATA entry name */
#define OSEC_STORE_ACLKEY_MAX 32

struct osec_store_mailbox {
    int64_t id;
    char owner[OSEC_STORE_NAME_MAX + 1];
    char name[OSEC_STORE_MAILBOX_MAX + 1];
    uint32_t uidvalidity;
    uint32_t uidnext;
    uint64_t modseq; /* highest mod-sequence (RFC 7162); every change bumps it */
    int64_t created;
};

typedef int (*osec_store_mailbox_cb)(const struct osec_store_mailbox *mb, void *arg);

/* EEXISTS if owner has a mailbox of that name; ENOTFOUND if no such user.
 * uidvalidity must be non-zero.  out (may be NULL) gets the new row. */
int osec_store_mailbox_create(struct osec_store *st, const char *owner, const char *name,
                              uint32_t uidvalidity, struct osec_store_mailbox *out);
int osec_store_mailbox_get(struct osec_store *st, const char *owner, const char *name,
                           struct osec_store_mailbox *out);
int osec_store_mailbox_get_id(struct osec_store *st, int64_t id, struct osec_store_mailbox *out);
/* One mailbox (children are the caller's: rename them in the same
 * transaction).  EEXISTS if the owner already has new_name. */
int osec_store_mailbox_rename(struct osec_store *st, int64_t id, const char *new_name);
/* Deletes the mailbox with its messages, metadata and ACL entries. */
int osec_store_mailbox_delete(struct osec_store *st, int64_t id);
/* owner's mailboxes, ordered by name. */
int osec_store_mailbox_list(struct osec_store *st, const char *owner, osec_store_mailbox_cb cb,
                            void *arg);
/* Mailboxes of other owners with a (non-negative) ACL entry for user,
 * "anyone" or "authenticated": candidates for the "other users" namespace
 * (the caller still evaluates the rights).  Ordered by owner, name. */
int osec_store_mailbox_list_shared(struct osec_store *st, const char *user,
                                   osec_store_mailbox_cb cb, void *arg);
/* Number of messages, and of those without seen_flag among flags (unseen
 * may be NULL: then only the count, from the index alone). */
int osec_store_mailbox_counts(struct osec_store *st, int64_t id, uint32_t seen_flag,
                              uint64_t *messages, uint64_t *unseen);
/* "mbox:<id>" */
int osec_store_mailbox_acl_key(int64_t id, char *out, size_t outlen);

struct osec_store_msg {
    int64_t mailbox_id;
    uint32_t uid;
    uint64_t modseq;
    uint32_t flags;                              /* bit set, opaque to the store */
    char keywords[OSEC_STORE_KEYWORDS_MAX + 1];  /* space-separated; may be empty */
    int64_t internaldate;
    uint64_t size;                               /* plaintext size */
    struct osec_store_blob body;                 /* sealed; see osec_store_msg_list */
};

typedef int (*osec_store_msg_cb)(const struct osec_store_msg *m, void *arg);

/* Inside a transaction: take the mailbox's next UID and a new mod-sequence
 * for a message about to be inserted.  EBOUNDS when UIDs are exhausted. */
int osec_store_msg_next_uid(struct osec_store *st, int64_t mailbox_id, uint32_t *uid,
                            uint64_t *modseq);
/* EEXISTS for a used UID, ENOTFOUND for an unknown mailbox. */
int osec_store_msg_insert(struct osec_store *st, const struct osec_store_msg *m);

struct osec_store_msg_query {
    uint32_t lo, hi;         /* UID range, inclusive */
    uint64_t changedsince;   /* only messages with modseq > this (0: all) */
    bool with_body;          /* else body is empty */
};

/* Messages of a mailbox in the range, by ascending UID.  The record (and
 * its body, which points into the database row: no copy) is valid only
 * during the callback. */
int osec_store_msg_list(struct osec_store *st, int64_t mailbox_id,
                        const struct osec_store_msg_query *q, osec_store_msg_cb cb, void *arg);
/* New flags and keywords for one message, with a new mod-sequence (*modseq,
 * may be NULL).  unchangedsince != 0: only if the message's mod-sequence is
 * <= it, else OSEC_ESTALE (RFC 7162 UNCHANGEDSINCE).  ENOTFOUND: no such
 * message. */
int osec_store_msg_set_flags(struct osec_store *st, int64_t mailbox_id, uint32_t uid,
                             uint32_t flags, const char *keywords, uint64_t unchangedsince,
                             uint64_t *modseq);
/* Removes one message (the mailbox's mod-sequence moves on). */
int osec_store_msg_delete(struct osec_store *st, int64_t mailbox_id, uint32_t uid);

/* METADATA (RFC 5464) values: mailbox_id 0 = server entries; user "" for
 * /shared entries, the user's name for its /private ones.  value NULL
 * deletes (no error when absent). */
int osec_store_mailmeta_set(struct osec_store *st, int64_t mailbox_id, const char *user,
                            const char *entry, const uint8_t *value, size_t len);
int osec_store_mailmeta_get(struct osec_store *st, int64_t mailbox_id, const char *user,
                            const char *entry, struct osec_store_blob *out);

/* Subscriptions (LSUB) of user: names as the user sees them. */
int osec_store_mailsub_set(struct osec_store *st, const char *user, const char *name, bool on);
typedef int (*osec_store_name_cb)(const char *name, void *arg);
int osec_store_mailsub_list(struct osec_store *st, const char *user, osec_store_name_cb cb,
                            void *arg);

#endif
