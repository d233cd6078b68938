/* Generic store layer: URL dispatch, transactions, argument checks.
 *
 * Every public call is validated here before a backend sees it, so all
 * backends refuse the same input with the same code, and a backend only
 * ever binds bounded, control-character-free text.
 */
#include "omasec/store.h"

#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "omasec/error.h"
#include "omasec/util.h"
#include "store/store_int.h"

/* ---- argument checks ---------------------------------------------------- */

int osec_store_check_text(const char *s, size_t max, bool may_be_empty, const char *what)
{
    size_t n;

    OSEC_ENSURE(s != NULL, OSEC_EINVAL, "%s missing", what);
    n = strnlen(s, max + 1);
    OSEC_ENSURE(n <= max, OSEC_EBOUNDS, "%s longer than %zu bytes", what, max);
    OSEC_ENSURE(n > 0 || may_be_empty, OSEC_EINVAL, "%s is empty", what);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        OSEC_ENSURE(c >= 0x20 && c != 0x7f, OSEC_EINVAL, "%s contains a control character",
                    what);
    }
    return 0;
}

#define check_text osec_store_check_text
#define NAME(s, what) check_text((s), OSEC_STORE_NAME_MAX, false, (what))

static int check_blob(const uint8_t *p, size_t n, const char *what)
{
    OSEC_ENSURE(n <= OSEC_STORE_BLOB_MAX, OSEC_EBOUNDS, "%s larger than %d bytes", what,
                OSEC_STORE_BLOB_MAX);
    OSEC_ENSURE(p != NULL || n == 0, OSEC_EINVAL, "%s missing", what);
    return 0;
}

static int check_time(int64_t t, const char *what)
{
    OSEC_ENSURE(t >= 0, OSEC_EINVAL, "%s is negative", what);
    return 0;
}

static int64_t or_now(int64_t t)
{
    return t ? t : osec_time_now();
}

/* RFC 4314: rights = 1*right, right = ALPHA / digit (empty: no rights). */
static int check_rights(const char *r)
{
    OSEC_GUARD(check_text(r, OSEC_STORE_RIGHTS_MAX, true, "ACL rights"));
    for (const char *p = r; *p; p++) {
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9');

        OSEC_ENSURE(ok, OSEC_EINVAL, "ACL rights must be letters or digits");
    }
    return 0;
}

static int check_handle(const struct osec_store *st)
{
    OSEC_ENSURE(st != NULL && st->ops != NULL, OSEC_EINVAL, "no store handle");
    return 0;
}

/* Writes while a list call is stepping through rows would change what the
 * listing sees (and for some backends cannot run at all): refuse them. */
int osec_store_check_writable(const struct osec_store *st)
{
    OSEC_GUARD(check_handle(st));
    OSEC_ENSURE(st->listing == 0, OSEC_EBUSY, "store modified from inside a list callback");
    return 0;
}

int osec_store_check_cb(const struct osec_store *st, bool have_cb)
{
    OSEC_GUARD(check_handle(st));
    OSEC_ENSURE(have_cb, OSEC_EINVAL, "no callback");
    return 0;
}

#define check_writable osec_store_check_writable
#define check_cb osec_store_check_cb

/* ---- blobs --------------------------------------------------------------- */

void osec_store_blob_free(struct osec_store_blob *b)
{
    if (b == NULL)
        return;
    if (b->data) {
        OPENSSL_cleanse(b->data, b->len);
        free(b->data);
    }
    b->data = NULL;
    b->len = 0;
}

int osec_store_blob_dup(struct osec_store_blob *b, const void *p, size_t n)
{
    b->data = NULL;
    b->len = 0;
    if (n == 0)
        return 0;
    b->data = malloc(n);
    OSEC_ENSURE(b->data != NULL, OSEC_ENOMEM, "out of memory");
    memcpy(b->data, p, n);
    b->len = n;
    return 0;
}

void osec_store_user_clear(struct osec_store_user *u)
{
    if (u)
        osec_store_blob_free(&u->ha1_sealed);
}

void osec_store_entity_clear(struct osec_store_entity *e)
{
    if (e)
        osec_store_blob_free(&e->eukey_sealed);
}

void osec_store_otk_clear(struct osec_store_otk *k)
{
    if (k)
        osec_store_blob_free(&k->sealed);
}

/* ---- open / close --------------------------------------------------------- */

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int osec_store_open(const char *url, struct osec_store **out)
{
    const char *path = url;

    OSEC_ENSURE(out != NULL, OSEC_EINVAL, "no output handle");
    *out = NULL;
    OSEC_GUARD(check_text(url, OSEC_STORE_PATH_MAX + 16, false, "store URL"));
    if (has_prefix(url, "postgresql://") || has_prefix(url, "postgres://"))
        return osec_store_pg_open(url, out);
    if (has_prefix(url, "sqlite:"))
        path = url + strlen("sqlite:");
    else if (strstr(url, "://") != NULL)
        OSEC_BAIL(OSEC_EINVAL, "unknown store URL scheme (use sqlite:PATH)");
    OSEC_GUARD(check_text(path, OSEC_STORE_PATH_MAX, false, "store path"));
    return osec_store_sqlite_open(path, out);
}

void osec_store_close(struct osec_store **st)
{
    if (st == NULL || *st == NULL)
        return;
    (*st)->ops->close(*st);
    *st = NULL;
}

const char *osec_store_backend(const struct osec_store *st)
{
    return st && st->ops ? st->ops->name : "none";
}

bool osec_store_is_shared(const struct osec_store *st)
{
    return st && st->ops && st->ops->shared;
}

int osec_store_check(struct osec_store *st)
{
    OSEC_GUARD(check_handle(st));
    return st->ops->check(st);
}

/* ---- transactions --------------------------------------------------------- */

int osec_store_begin(struct osec_store *st)
{
    OSEC_GUARD(check_writable(st));
    OSEC_GUARD(st->ops->tx(st, st->depth == 0 ? OSEC_TX_BEGIN : OSEC_TX_SAVEPOINT));
    st->depth++;
    return 0;
}

int osec_store_commit(struct osec_store *st)
{
    int rc;

    OSEC_GUARD(check_writable(st));
    OSEC_ENSURE(st->depth > 0, OSEC_EINVAL, "commit without begin");
    rc = st->ops->tx(st, st->depth == 1 ? OSEC_TX_COMMIT : OSEC_TX_RELEASE);
    if (rc < 0) /* undo this level; the error already recorded stays */
        (void)st->ops->tx(st, st->depth == 1 ? OSEC_TX_ROLLBACK : OSEC_TX_ROLLBACK_TO);
    st->depth--;
    return rc;
}

int osec_store_rollback(struct osec_store *st)
{
    int rc;

    OSEC_GUARD(check_writable(st));
    OSEC_ENSURE(st->depth > 0, OSEC_EINVAL, "rollback without begin");
    rc = st->ops->tx(st, st->depth == 1 ? OSEC_TX_ROLLBACK : OSEC_TX_ROLLBACK_TO);
    st->depth--;
    return rc;
}

int osec_store_tx_depth(const struct osec_store *st)
{
    return st ? st->depth : 0;
}

/* Ends a transaction begun by an operation of this file: commit on
 * success, else roll back and return the operation's own error. */
int osec_store_tx_end(struct osec_store *st, int rc)
{
    char msg[512];
    int code;

    if (rc >= 0)
        return osec_store_commit(st);
    code = osec_error_code();
    (void)osec_strlcpy(msg, osec_error_msg(), sizeof(msg)); /* may truncate */
    if (osec_store_rollback(st) < 0)
        (void)osec_error_set(code, __FILE__, __LINE__, "%s", msg);
    return rc;
}

#define LISTING OSEC_STORE_LISTING
#define tx_end osec_store_tx_end

/* ---- users ------------------------------------------------------------------ */

#define USER_FLAGS_ALL (OSEC_USER_REQUIRE_TLS | OSEC_USER_ENCRYPT_MSGS | OSEC_USER_DISABLED)

static int check_password(const char *hash, const uint8_t *ha1, size_t ha1_len)
{
    OSEC_GUARD(check_text(hash, OSEC_STORE_HASH_MAX, true, "password hash"));
    return check_blob(ha1, ha1_len, "sealed HA1");
}

int osec_store_user_add(struct osec_store *st, const struct osec_store_user *u)
{
    struct osec_store_user v;

    OSEC_GUARD(check_writable(st));
    OSEC_ENSURE(u != NULL, OSEC_EINVAL, "no user");
    OSEC_GUARD(NAME(u->name, "user name"));
    OSEC_GUARD(check_password(u->password_hash, u->ha1_sealed.data, u->ha1_sealed.len));
    OSEC_ENSURE((u->flags & ~(uint32_t)USER_FLAGS_ALL) == 0, OSEC_EINVAL, "unknown user flags");
    OSEC_GUARD(check_time(u->created, "creation time"));
    v = *u;
    v.created = or_now(u->created);
    return st->ops->user_add(st, &v);
}

int osec_store_user_get(struct osec_store *st, const char *name, struct osec_store_user *out)
{
    OSEC_GUARD(check_handle(st));
    OSEC_ENSURE(out != NULL, OSEC_EINVAL, "no output");
    memset(out, 0, sizeof(*out));
    OSEC_GUARD(NAME(name, "user name"));
    return st->ops->user_get(st, name, out);
}

int osec_store_user_set_password(struct osec_store *st, const char *name,
                                 const char *password_hash, const uint8_t *ha1_sealed,
                                 size_t ha1_len)
{
    OSEC_GUARD(check_writable(st));
    OSEC_GUARD(NAME(name, "user name"));
    OSEC_GUARD(check_password(password_hash, ha1_sealed, ha1_len));
    return st->ops->user_set_password(st, name, password_hash, ha1_sealed, ha1_len);
}

int osec_store_user_set_flags(struct osec_store *st, const char *name, uint32_t flags)
{
    OSEC_GUARD(check_writable(st));
    OSEC_GUARD(NAME(name, "user name"));
    OSEC_ENSURE((flags & ~(uint32_t)USER_FLAGS_ALL) == 0, OSEC_EINVAL, "unknown user flags");
    return st->ops->user_set_flags(st, name, flags);
}

int osec_store_user_del(struct osec_store *st, const char *name)
{
    char nega[OSEC_STORE_NAME_MAX + 2];

    OSEC_GUARD(check_writable(st));
    OSEC_GUARD(NAME(name, "user name"));
    OSEC_GUARD(osec_snprintf(nega, sizeof(nega), "-%s", name));
    OSEC_GUARD(osec_store_begin(st));
    return tx_end(st, st->ops->user_del(st, name, nega));
}

int osec_store_user_list(struct osec_store *st, osec_store_user_cb cb, void *arg)
{
    OSEC_GUARD(check_cb(st, cb != NULL));
    LISTING(st, st->ops->user_list(st, cb, arg));
}

/* ---- addresses -------------------------------------------------------------- */

int osec_store_address_add(struct osec_store *st, const struct osec_store_address *a)
{
    struct osec_store_address v;

    OSEC_GUARD(check_writable(st));
    OSEC_ENSURE(a != NULL, OSEC_EINVAL, "no address");
    OSEC_GUARD(check_text(a->uri, OSEC_STORE_URI_MAX, false, "address"));
    OSEC_GUARD(NAME(a->user, "user name"));
    OSEC_GUARD(check_time(a->created, "creation time"));
    v = *a;
    v.created = or_now(a->created);
    return st->ops->address_add(st, &v);
}

int osec_store_address_del(struct osec_store *st, const char *uri)
{
    OSEC_GUARD(check_writable(st));
    OSEC_GUARD(check_text(uri, OSEC_STORE_URI_MAX, false, "address"));
    return st->ops->address_del(st, uri);
}

int osec_store_address_owner(struct osec_store *st, const char *uri, char *user, size_t userlen)
{
    OSEC_GUARD(check_handle(st));
    OSEC_ENSURE(user != NULL && userlen > 0, OSEC_EINVAL, "no output");
    user[0] = '\0';
    OSEC_GUARD(check_text(uri, OSEC_STORE_URI_MAX, false, "address"));
    return st->ops->address_owner(st, uri, user, userlen);
}

int osec_store_address_list(struct osec_store *st, const char *user, osec_store_address_cb cb,
                            void *arg)
{
    OSEC_GUARD(check_cb(st, cb != NULL));
    if (user)
        OSEC_GUARD(NAME(user, "user name"));
    LISTING(st, st->ops->address_list(st, user, cb, arg));
}

/* ---- entities --------------------------------------------------------------- */

int osec_store_entity_put(struct osec_store *st, const struct osec_store_entity *e)
{
    struct osec_store_entity v;

    OSEC_GUARD(check_writable(st));
    OSEC_ENSURE(e != NULL, OSEC_EINVAL, "no entity");
    OSEC_GUARD(NAME(e->entity_id, "entity id"));
    OSEC_GUARD(check_text(e->type, OSEC_STORE_TYPE_MAX, false, "entity type"));
    OSEC_ENSURE(strcmp(e->type, "pne") == 0 || strcmp(e->type, "gw") == 0, OSEC_EINVAL,
                "entity type must be pne or gw");
    OSEC_GUARD(NAME(e->user, "user name"));
    OSEC_GUARD(check_blob(e->eukey_sealed.data, e->eukey_sealed.len, "sealed EUKey"));
    OSEC_GUARD(check_time(e->created, "creation time"));
    OSEC_GUARD(check_time(e->expires, "expiry time"));
    v = *e;
    v.created = or_now(e->created);
    v.revoked = 0;
    return st->ops->entity_put(st, &v);
}

int osec_store_entity_get(struct osec_store *st, const char *entity_id,
                          struct osec_store_entity *out)
{
    OSEC_GUARD(check_handle(st));
    OSEC_ENSURE(out != NULL, OSEC_EINVAL, "no output");
    memset(out, 0, sizeof(*out));
    OSEC_GUARD(NAME(entity_id, "entity id"));
    return st->ops->entity_get(st, entity_id, out);
}

int osec_store_entity_list(struct osec_store *st, const char *user, osec_store_entity_cb cb,
                           void *arg)
{
    OSEC_GUARD(check_cb(st, cb != NULL));
    if (user)
        OSEC_GUARD(NAME(user, "user name"));
    LISTING(st, st->ops->entity_list(st, user, cb, arg));
}

int osec_store_entity_revoke(struct osec_store *st, const char *entity_id, int64_t when)
{
    OSEC_GUARD(check_writable(st));
    OSEC_GUARD(NAME(entity_id, "entity id"));
    OSEC_GUARD(check_time(when, "revocation time"));
    OSEC_GUARD(osec_store_begin(st));
    return tx_end(st, st->ops->entity_revoke(st, entity_id, or_now(when)));
}

int osec_store_entity_delete(struct osec_store *st, const char *entity_id)
{
    OSEC_GUARD(check_writable(st));
    OSEC_GUARD(NAME(entity_id, "entity id"));
    return st->ops->entity_delete(st, entity_id);
}

/* ---- onetime keys ----------------------------------------------------------- */

int osec_store_otk_add(struct osec_store *st, const struct osec_store_otk *k)
{
    struct osec_store_otk v;

    OSEC_GUARD(check_writable(st));
    OSEC_ENSURE(k != NULL, OSEC_EINVAL, "no onetime key");
    OSEC_GUARD(NAME(k->key_id, "key id"));
    OSEC_GUARD(NAME(k->creator, "creator entity id"));
    OSEC_GUARD(NAME(k->peer, "peer entity id"));
    OSEC_GUARD(check_blob(k->sealed.data, k->sealed.len, "sealed onetime key"));
    OSEC_GUARD(check_time(k->created, "creation time"));
    OSEC_ENSURE(k->expires > 0, OSEC_EINVAL, "onetime key without expiry");
    v = *k;
    v.created = or_now(k->created);
    return st->ops->otk_add(st, &v);
}

int osec_store_otk_get(struct osec_store *st, const char *key_id, struct osec_store_otk *out)
{
    OSEC_GUARD(check_handle(st));
    OSEC_ENSURE(out != NULL, OSEC_EINVAL, "no output");
    memset(out, 0, sizeof(*out));
    OSEC_GUARD(NAME(key_id, "key id"));
    return st->ops->otk_get(st, key_id, out);
}

int osec_store_otk_list_for(struct osec_store *st, const char *peer, int64_t now,
                            osec_store_otk_cb cb, void *arg)
{
    OSEC_GUARD(check_cb(st, cb != NULL));
    OSEC_GUARD(NAME(peer, "peer entity id"));
    OSEC_GUARD(check_time(now, "current time"));
    LISTING(st, st->ops->otk_list_for(st, peer, now, cb, arg));
}

int osec_store_otk_consume(struct osec_store *st, const char *key_id, const char *caller,
                           int64_t now, struct osec_store_otk *out)
{
    OSEC_GUARD(check_writable(st));
    OSEC_ENSURE(out != NULL, OSEC_EINVAL, "no output");
    memset(out, 0, sizeof(*out));
    OSEC_GUARD(NAME(key_id, "key id"));
    OSEC_GUARD(NAME(caller, "caller entity id"));
    OSEC_GUARD(check_time(now, "current time"));
    OSEC_GUARD(st->ops->otk_take(st, key_id, caller, out));
    /* Taken either way: an expired key must not survive its first use. */
    if (out->expires <= now) {
        osec_store_otk_clear(out);
        memset(out, 0, sizeof(*out));
        OSEC_BAIL(OSEC_ESTALE, "onetime key expired");
    }
    return 0;
}

int osec_store_otk_purge_expired(struct osec_store *st, int64_t now, uint64_t *count)
{
    uint64_t n = 0;

    if (count)
        *count = 0;
    OSEC_GUARD(check_writable(st));
    OSEC_GUARD(check_time(now, "current time"));
    OSEC_GUARD(st->ops->otk_purge(st, now, &n));
    if (count)
        *count = n;
    return 0;
}

/* ---- ACL -------------------------------------------------------------------- */

static int check_acl_key(const char *mailbox, const char *ident)
{
    OSEC_GUARD(check_text(mailbox, OSEC_STORE_MAILBOX_MAX, false, "mailbox"));
    return ident ? check_text(ident, OSEC_STORE_IDENT_MAX, false, "ACL identifier") : 0;
}

int osec_store_acl_set(struct osec_store *st, const struct osec_store_acl *a)
{
    OSEC_GUARD(check_writable(st));
    OSEC_ENSURE(a != NULL, OSEC_EINVAL, "no ACL entry");
    OSEC_GUARD(check_acl_key(a->mailbox, a->identifier));
    OSEC_GUARD(check_rights(a->rights));
    return st->ops->acl_set(st, a);
}

int osec_store_acl_get(struct osec_store *st, const char *mailbox, const char *identifier,
                       struct osec_store_acl *out)
{
    OSEC_GUARD(check_handle(st));
    OSEC_ENSURE(out != NULL && identifier != NULL, OSEC_EINVAL, "missing argument");
    memset(out, 0, sizeof(*out));
    OSEC_GUARD(check_acl_key(mailbox, identifier));
    return st->ops->acl_get(st, mailbox, identifier, out);
}

int osec_store_acl_delete(struct osec_store *st, const char *mailbox, const char *identifier)
{
    OSEC_GUARD(check_writable(st));
    OSEC_ENSURE(identifier != NULL, OSEC_EINVAL, "ACL identifier missing");
    OSEC_GUARD(check_acl_key(mailbox, identifier));
    return st->ops->acl_delete(st, mailbox, identifier);
}

int osec_store_acl_delete_mailbox(struct osec_store *st, const char *mailbox, uint64_t *count)
{
    uint64_t n = 0;

    if (count)
        *count = 0;
    OSEC_GUARD(check_writable(st));
    OSEC_GUARD(check_acl_key(mailbox, NULL));
    OSEC_GUARD(st->ops->acl_delete_mailbox(st, mailbox, &n));
    if (count)
        *count = n;
    return 0;
}

int osec_store_acl_list(struct osec_store *st, const char *mailbox, osec_store_acl_cb cb,
                        void *arg)
{
    OSEC_GUARD(check_cb(st, cb != NULL));
    OSEC_GUARD(check_acl_key(mailbox, NULL));
    LISTING(st, st->ops->acl_list(st, mailbox, cb, arg));
}

/* ---- policy ----------------------------------------------------------------- */

int osec_store_policy_set(struct osec_store *st, const char *name, const char *value)
{
    OSEC_GUARD(check_writable(st));
    OSEC_GUARD(NAME(name, "policy name"));
    OSEC_GUARD(check_text(value, OSEC_STORE_VALUE_MAX, true, "policy value"));
    return st->ops->policy_set(st, name, value);
}

int osec_store_policy_get(struct osec_store *st, const char *name, struct osec_store_policy *out)
{
    OSEC_GUARD(check_handle(st));
    OSEC_ENSURE(out != NULL, OSEC_EINVAL, "no output");
    memset(out, 0, sizeof(*out));
    OSEC_GUARD(NAME(name, "policy name"));
    return st->ops->policy_get(st, name, out);
}

int osec_store_policy_del(struct osec_store *st, const char *name)
{
    OSEC_GUARD(check_writable(st));
    OSEC_GUARD(NAME(name, "policy name"));
    return st->ops->policy_del(st, name);
}

int osec_store_policy_list(struct osec_store *st, osec_store_policy_cb cb, void *arg)
{
    OSEC_GUARD(check_cb(st, cb != NULL));
    LISTING(st, st->ops->policy_list(st, cb, arg));
}

/* ---- meta ------------------------------------------------------------------- */

int osec_store_meta_get(struct osec_store *st, const char *name, struct osec_store_blob *out)
{
    OSEC_GUARD(check_handle(st));
    OSEC_ENSURE(out != NULL, OSEC_EINVAL, "no output");
    out->data = NULL;
    out->len = 0;
    OSEC_GUARD(NAME(name, "meta name"));
    return st->ops->meta_get(st, name, out);
}

int osec_store_meta_set(struct osec_store *st, const char *name, const uint8_t *value,
                        size_t len)
{
    OSEC_GUARD(check_writable(st));
    OSEC_GUARD(NAME(name, "meta name"));
    OSEC_GUARD(check_blob(value, len, "meta value"));
    return st->ops->meta_set(st, name, value, len);
}

/* Insert-if-absent then read back: whichever handle inserts first wins and
 * every handle returns that value, without holding a lock while gen runs. */
int osec_store_meta_get_or_create(struct osec_store *st, const char *name,
                                  osec_store_meta_gen gen, void *arg,
                                  struct osec_store_blob *out)
{
    struct osec_buf fresh;
    int rc = osec_store_meta_get(st, name, out);

    if (rc != OSEC_ENOTFOUND)
        return rc;
    OSEC_GUARD(check_writable(st));
    OSEC_ENSURE(gen != NULL, OSEC_EINVAL, "no generator");
    osec_buf_init_secret(&fresh, OSEC_STORE_BLOB_MAX);
    OSEC_CHECK(rc, gen(arg, &fresh));
    OSEC_CHECK(rc, st->ops->meta_add(st, name, fresh.data, fresh.len));
    rc = st->ops->meta_get(st, name, out);
out:
    osec_buf_free(&fresh);
    return rc;
}

/* ---- audit ------------------------------------------------------------------ */

int osec_store_audit_add(struct osec_store *st, const struct osec_store_audit *a)
{
    struct osec_store_audit v;

    OSEC_GUARD(check_writable(st));
    OSEC_ENSURE(a != NULL, OSEC_EINVAL, "no audit record");
    OSEC_GUARD(check_text(a->event, OSEC_STORE_EVENT_MAX, false, "audit event"));
    OSEC_GUARD(check_text(a->actor, OSEC_STORE_ACTOR_MAX, true, "audit actor"));
    OSEC_GUARD(check_text(a->subject, OSEC_STORE_ACTOR_MAX, true, "audit subject"));
    OSEC_GUARD(check_time(a->ts, "audit time"));
    v = *a;
    OSEC_ENSURE(strnlen(v.detail, sizeof(v.detail)) <= OSEC_STORE_DETAIL_MAX, OSEC_EBOUNDS,
                "audit detail longer than %d bytes", OSEC_STORE_DETAIL_MAX);
    for (char *p = v.detail; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    v.ts = or_now(a->ts);
    return st->ops->audit_add(st, &v);
}

int osec_store_audit_list(struct osec_store *st, unsigned limit, osec_store_audit_cb cb,
                          void *arg)
{
    OSEC_GUARD(check_cb(st, cb != NULL));
    OSEC_ENSURE(limit > 0, OSEC_EINVAL, "audit list limit must be at least 1");
    LISTING(st, st->ops->audit_list(st, limit, cb, arg));
}

/* ---- Digest nonce-count replay state ------------------------------------------ */

int osec_store_nonce_mark(struct osec_store *st, const uint8_t *nonce, size_t len, uint32_t nc,
                          int64_t expires)
{
    OSEC_GUARD(check_writable(st));
    OSEC_ENSURE(nonce != NULL && len > 0, OSEC_EINVAL, "nonce missing");
    OSEC_ENSURE(len <= OSEC_STORE_NONCE_MAX, OSEC_EBOUNDS, "nonce longer than %d bytes",
                OSEC_STORE_NONCE_MAX);
    OSEC_ENSURE(expires > 0, OSEC_EINVAL, "nonce without expiry");
    return st->ops->nonce_mark(st, nonce, len, nc, expires);
}

int osec_store_nonce_purge(struct osec_store *st, int64_t now, uint64_t *count)
{
    uint64_t n = 0;

    if (count)
        *count = 0;
    OSEC_GUARD(check_writable(st));
    OSEC_GUARD(check_time(now, "current time"));
    OSEC_GUARD(st->ops->nonce_purge(st, now, &n));
    if (count)
        *count = n;
    return 0;
}

/* ---- printing a URL without its password ---------------------------------- */

static int redact_param(struct osec_buf *b, const char *url)
{
    const char *p = url;

    while (*p) {
        const char *hit = strstr(p, "password=");
        size_t n;

        if (!hit) {
            return osec_buf_append_str(b, p);
        }
        n = (size_t)(hit - p) + 9;
        OSEC_GUARD(osec_buf_append(b, p, n));
        OSEC_GUARD(osec_buf_append_str(b, "***"));
        p = hit + 9;
        while (*p && *p != '&' && *p != ' ')
            p++;
    }
    return 0;
}

int osec_store_url_redact(const char *url, char *out, size_t outlen)
{
    const char *scheme = strstr(url, "://"), *at, *colon;
    struct osec_buf b, tmp;
    int rc;

    osec_buf_init(&b, OSEC_STORE_PATH_MAX);
    osec_buf_init(&tmp, OSEC_STORE_PATH_MAX);
    at = scheme ? strchr(scheme + 3, '@') : NULL;
    colon = at ? memchr(scheme + 3, ':', (size_t)(at - (scheme + 3))) : NULL;
    if (colon) {
        rc = osec_buf_append(&tmp, url, (size_t)(colon - url) + 1);
        if (rc == 0)
            rc = osec_buf_append_str(&tmp, "***");
        if (rc == 0)
            rc = osec_buf_append_str(&tmp, at);
    } else {
        rc = osec_buf_append_str(&tmp, url);
    }
    if (rc == 0)
        rc = redact_param(&b, osec_buf_cstr(&tmp));
    if (rc == 0)
        rc = osec_strlcpy(out, osec_buf_cstr(&b), outlen);
    osec_buf_free(&b);
    osec_buf_free(&tmp);
    return rc;
}
