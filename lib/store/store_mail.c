/* Generic store layer: the message store of cpm-msgstored (store.h
 * "Message store").  Arguments are checked here, and the multi-statement
 * changes (delete a mailbox with its parts, a flag change or expunge that
 * moves the mailbox's mod-sequence on) are composed here inside one
 * transaction, so that every backend gets the same semantics; a backend
 * (sqlite_mail.c, pg_mail.c) runs single statements.
 */
#include <inttypes.h>
#include <string.h>

#include "omasec/error.h"
#include "omasec/util.h"
#include "store/store_int.h"

#define text_ok osec_store_check_text

/* The backend's message store operations; write: not from a list callback. */
static int mail_ops(struct osec_store *st, bool write, const struct osec_store_mail_ops **out)
{
    OSEC_GUARD(write ? osec_store_check_writable(st) : osec_store_check_cb(st, true));
    OSEC_ENSURE(st->ops->mail != NULL, OSEC_EINVAL, "backend %s has no message store",
                st->ops->name);
    *out = st->ops->mail;
    return 0;
}

static int owner_name(const char *owner, const char *name)
{
    OSEC_GUARD(text_ok(owner, OSEC_STORE_NAME_MAX, false, "mailbox owner"));
    return text_ok(name, OSEC_STORE_MAILBOX_MAX, false, "mailbox name");
}

/* ---- mailboxes ------------------------------------------------------------ */

int osec_store_mailbox_acl_key(int64_t id, char *out, size_t outlen)
{
    OSEC_ENSURE(id > 0, OSEC_EINVAL, "bad mailbox id");
    return osec_snprintf(out, outlen, "mbox:%" PRId64, id);
}

int osec_store_mailbox_create(struct osec_store *st, const char *owner, const char *name,
                              uint32_t uidvalidity, struct osec_store_mailbox *out)
{
    const struct osec_store_mail_ops *m = NULL;
    struct osec_store_mailbox tmp;

    OSEC_GUARD(mail_ops(st, true, &m));
    OSEC_GUARD(owner_name(owner, name));
    OSEC_ENSURE(uidvalidity != 0, OSEC_EINVAL, "UIDVALIDITY must not be 0");
    return m->mailbox_create(st, owner, name, uidvalidity, osec_time_now(), out ? out : &tmp);
}

int osec_store_mailbox_get(struct osec_store *st, const char *owner, const char *name,
                           struct osec_store_mailbox *out)
{
    const struct osec_store_mail_ops *m = NULL;
    struct osec_store_mailbox tmp;

    OSEC_GUARD(mail_ops(st, false, &m));
    OSEC_GUARD(owner_name(owner, name));
    return m->mailbox_get(st, owner, name, out ? out : &tmp); /* NULL: does it exist? */
}

int osec_store_mailbox_get_id(struct osec_store *st, int64_t id, struct osec_store_mailbox *out)
{
    const struct osec_store_mail_ops *m = NULL;
    struct osec_store_mailbox tmp;

    OSEC_GUARD(mail_ops(st, false, &m));
    return m->mailbox_get_id(st, id, out ? out : &tmp);
}

int osec_store_mailbox_rename(struct osec_store *st, int64_t id, const char *new_name)
{
    const struct osec_store_mail_ops *m = NULL;
    int64_t n = 0;

    OSEC_GUARD(mail_ops(st, true, &m));
    OSEC_GUARD(text_ok(new_name, OSEC_STORE_MAILBOX_MAX, false, "mailbox name"));
    OSEC_GUARD(m->mailbox_rename(st, id, new_name, &n));
    OSEC_ENSURE(n == 1, OSEC_ENOTFOUND, "mailbox not found");
    return 0;
}

static int delete_mailbox(struct osec_store *st, const struct osec_store_mail_ops *m,
                          int64_t id)
{
    char key[OSEC_STORE_ACLKEY_MAX];
    int64_t n = 0;

    OSEC_GUARD(osec_store_mailbox_acl_key(id, key, sizeof(key)));
    OSEC_GUARD(m->mailbox_delete(st, id, key, &n));
    OSEC_ENSURE(n == 1, OSEC_ENOTFOUND, "mailbox not found");
    return 0;
}

int osec_store_mailbox_delete(struct osec_store *st, int64_t id)
{
    const struct osec_store_mail_ops *m = NULL;

    OSEC_GUARD(mail_ops(st, true, &m));
    OSEC_GUARD(osec_store_begin(st));
    return osec_store_tx_end(st, delete_mailbox(st, m, id));
}

static int mailbox_each(struct osec_store *st, const char *user, bool shared,
                        osec_store_mailbox_cb cb, void *arg)
{
    const struct osec_store_mail_ops *m = NULL;

    OSEC_GUARD(mail_ops(st, false, &m));
    OSEC_GUARD(osec_store_check_cb(st, cb != NULL));
    OSEC_GUARD(text_ok(user, OSEC_STORE_NAME_MAX, false, "user"));
    OSEC_STORE_LISTING(st, m->mailbox_list(st, user, shared, cb, arg));
}

int osec_store_mailbox_list(struct osec_store *st, const char *owner, osec_store_mailbox_cb cb,
                            void *arg)
{
    return mailbox_each(st, owner, false, cb, arg);
}

int osec_store_mailbox_list_shared(struct osec_store *st, const char *user,
                                   osec_store_mailbox_cb cb, void *arg)
{
    return mailbox_each(st, user, true, cb, arg);
}

int osec_store_mailbox_counts(struct osec_store *st, int64_t id, uint32_t seen_flag,
                              uint64_t *messages, uint64_t *unseen)
{
    const struct osec_store_mail_ops *m = NULL;

    OSEC_GUARD(mail_ops(st, false, &m));
    OSEC_ENSURE(messages != NULL, OSEC_EINVAL, "no message count");
    return m->mailbox_counts(st, id, seen_flag, messages, unseen);
}

/* ---- messages -------------------------------------------------------------- */

int osec_store_msg_next_uid(struct osec_store *st, int64_t mailbox_id, uint32_t *uid,
                            uint64_t *modseq)
{
    const struct osec_store_mail_ops *m = NULL;
    int64_t next = 0;

    OSEC_GUARD(mail_ops(st, true, &m));
    OSEC_ENSURE(st->depth > 0, OSEC_EINVAL, "reserve a UID inside a transaction");
    OSEC_GUARD(m->mailbox_bump(st, mailbox_id, true, &next, modseq));
    /* UIDs are 32-bit; the RFC has no way to continue past the last */
    OSEC_ENSURE(next >= 2 && next - 1 <= (int64_t)UINT32_MAX, OSEC_EBOUNDS,
                "mailbox has used up its UIDs");
    *uid = (uint32_t)(next - 1);
    return 0;
}

int osec_store_msg_insert(struct osec_store *st, const struct osec_store_msg *msg)
{
    const struct osec_store_mail_ops *m = NULL;

    OSEC_GUARD(mail_ops(st, true, &m));
    OSEC_ENSURE(msg != NULL, OSEC_EINVAL, "message missing");
    OSEC_GUARD(text_ok(msg->keywords, OSEC_STORE_KEYWORDS_MAX, true, "keywords"));
    OSEC_ENSURE(msg->uid != 0 && msg->modseq > 0 && msg->modseq <= INT64_MAX &&
                    msg->size <= INT64_MAX, OSEC_EINVAL, "bad message numbers");
    OSEC_ENSURE(msg->body.len <= OSEC_STORE_MSG_MAX && (msg->body.data || !msg->body.len),
                OSEC_EBOUNDS, "message body too large");
    OSEC_GUARD(osec_store_begin(st));
    return osec_store_tx_end(st, m->msg_insert(st, msg));
}

int osec_store_msg_list(struct osec_store *st, int64_t mailbox_id,
                        const struct osec_store_msg_query *q, osec_store_msg_cb cb, void *arg)
{
    const struct osec_store_mail_ops *m = NULL;

    OSEC_GUARD(mail_ops(st, false, &m));
    OSEC_GUARD(osec_store_check_cb(st, cb != NULL && q != NULL));
    OSEC_ENSURE(q->changedsince <= INT64_MAX, OSEC_EINVAL, "bad CHANGEDSINCE");
    OSEC_STORE_LISTING(st, m->msg_list(st, mailbox_id, q, cb, arg));
}

static int set_flags(struct osec_store *st, const struct osec_store_mail_ops *m,
                     int64_t mailbox_id, uint32_t uid, uint32_t flags, const char *keywords,
                     uint64_t unchangedsince, uint64_t *modseq)
{
    int64_t next = 0, n = 0;
    uint64_t ms = 0;

    OSEC_GUARD(m->mailbox_bump(st, mailbox_id, false, &next, &ms));
    OSEC_GUARD(m->msg_set_flags(st, mailbox_id, uid, flags, keywords, unchangedsince, ms, &n));
    if (n == 0) {
        /* a missing message (ENOTFOUND) or one changed since */
        OSEC_GUARD(m->msg_exists(st, mailbox_id, uid));
        OSEC_BAIL(OSEC_ESTALE, "message changed since %" PRIu64, unchangedsince);
    }
    if (modseq)
        *modseq = ms;
    return 0;
}

int osec_store_msg_set_flags(struct osec_store *st, int64_t mailbox_id, uint32_t uid,
                             uint32_t flags, const char *keywords, uint64_t unchangedsince,
                             uint64_t *modseq)
{
    const struct osec_store_mail_ops *m = NULL;

    OSEC_GUARD(mail_ops(st, true, &m));
    OSEC_GUARD(text_ok(keywords, OSEC_STORE_KEYWORDS_MAX, true, "keywords"));
    OSEC_ENSURE(unchangedsince <= INT64_MAX, OSEC_EINVAL, "bad UNCHANGEDSINCE");
    OSEC_GUARD(osec_store_begin(st));
    return osec_store_tx_end(st, set_flags(st, m, mailbox_id, uid, flags, keywords,
                                           unchangedsince, modseq));
}

static int delete_msg(struct osec_store *st, const struct osec_store_mail_ops *m,
                      int64_t mailbox_id, uint32_t uid)
{
    int64_t n = 0, next = 0;
    uint64_t ms = 0;

    OSEC_GUARD(m->msg_delete(st, mailbox_id, uid, &n));
    OSEC_ENSURE(n > 0, OSEC_ENOTFOUND, "message not found");
    return m->mailbox_bump(st, mailbox_id, false, &next, &ms);
}

int osec_store_msg_delete(struct osec_store *st, int64_t mailbox_id, uint32_t uid)
{
    const struct osec_store_mail_ops *m = NULL;

    OSEC_GUARD(mail_ops(st, true, &m));
    OSEC_GUARD(osec_store_begin(st));
    return osec_store_tx_end(st, delete_msg(st, m, mailbox_id, uid));
}

/* ---- METADATA and subscriptions ------------------------------------------------ */

static int meta_args(const char *user, const char *entry)
{
    OSEC_GUARD(text_ok(user, OSEC_STORE_NAME_MAX, true, "metadata user"));
    return text_ok(entry, OSEC_STORE_ENTRY_MAX, false, "metadata entry");
}

int osec_store_mailmeta_set(struct osec_store *st, int64_t mailbox_id, const char *user,
                            const char *entry, const uint8_t *value, size_t len)
{
    const struct osec_store_mail_ops *m = NULL;

    OSEC_GUARD(mail_ops(st, true, &m));
    OSEC_GUARD(meta_args(user, entry));
    OSEC_ENSURE(len <= OSEC_STORE_BLOB_MAX, OSEC_EBOUNDS, "metadata value too large");
    return m->meta_set(st, mailbox_id, user, entry, value, len);
}

int osec_store_mailmeta_get(struct osec_store *st, int64_t mailbox_id, const char *user,
                            const char *entry, struct osec_store_blob *out)
{
    const struct osec_store_mail_ops *m = NULL;

    out->data = NULL;
    out->len = 0;
    OSEC_GUARD(mail_ops(st, false, &m));
    OSEC_GUARD(meta_args(user, entry));
    return m->meta_get(st, mailbox_id, user, entry, out);
}

int osec_store_mailsub_set(struct osec_store *st, const char *user, const char *name, bool on)
{
    const struct osec_store_mail_ops *m = NULL;

    OSEC_GUARD(mail_ops(st, true, &m));
    OSEC_GUARD(text_ok(user, OSEC_STORE_NAME_MAX, false, "user"));
    OSEC_GUARD(text_ok(name, OSEC_STORE_MAILBOX_MAX, false, "mailbox name"));
    return m->sub_set(st, user, name, on);
}

int osec_store_mailsub_list(struct osec_store *st, const char *user, osec_store_name_cb cb,
                            void *arg)
{
    const struct osec_store_mail_ops *m = NULL;

    OSEC_GUARD(mail_ops(st, false, &m));
    OSEC_GUARD(osec_store_check_cb(st, cb != NULL));
    OSEC_GUARD(text_ok(user, OSEC_STORE_NAME_MAX, false, "user"));
    OSEC_STORE_LISTING(st, m->sub_list(st, user, cb, arg));
}
