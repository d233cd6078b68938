/* cpm-msgstored: APPEND and COPY.  A message is sealed under its mailbox
 * owner's key with its (mailbox, UID) binding, inside the transaction that
 * takes the UID, so an acknowledged APPEND is durable (synchronous=FULL)
 * and a crash leaves no half-stored message. */
#include <stdlib.h>
#include <string.h>

#include "msgstored.h"
#include "omasec/error.h"
#include "omasec/log.h"
#include "omasec/mail.h"
#include "omasec/util.h"

/* Flags the user may set on a new message (RFC 4314 4: without the right,
 * a flag is not set). */
static uint32_t allowed_flags(uint32_t flags, uint32_t rights, bool *keywords)
{
    if (!(rights & OSEC_IMAP_RIGHT_S))
        flags &= ~OSEC_IMAP_FLAG_SEEN;
    if (!(rights & OSEC_IMAP_RIGHT_T))
        flags &= ~OSEC_IMAP_FLAG_DELETED;
    if (!(rights & OSEC_IMAP_RIGHT_W)) {
        flags &= OSEC_IMAP_FLAG_SEEN | OSEC_IMAP_FLAG_DELETED;
        *keywords = false;
    }
    return flags;
}

/* Inside a transaction: new UID, seal, insert.  *uid gets the UID. */
static int store_message(struct ms_session *s, const struct osec_store_mailbox *mb,
                         struct osec_store_msg *m, struct osec_slice text, uint32_t *uid)
{
    struct osec_buf *sealed = &s->w->tmp2;

    OSEC_GUARD(osec_store_msg_next_uid(s->w->st, mb->id, &m->uid, &m->modseq));
    osec_buf_reset(sealed);
    OSEC_GUARD(osec_mail_seal(s->w->srv->m, mb->owner, mb->id, m->uid, text.ptr, text.len,
                              sealed));
    m->mailbox_id = mb->id;
    m->size = text.len;
    m->body.data = sealed->data;
    m->body.len = sealed->len;
    OSEC_GUARD(osec_store_msg_insert(s->w->st, m));
    *uid = m->uid;
    return 0;
}

static int cpm_rule(struct ms_req *r, const struct ms_ref *ref, struct osec_slice text)
{
    struct osec_mail_cpm ids;
    char reason[128] = "";

    if (!r->s->w->srv->cpm_layout)
        return 0;
    OSEC_GUARD(osec_mail_cpm_parse(text, &ids));
    if (osec_mail_cpm_check(ref->name, &ids, reason, sizeof(reason)) == 0)
        return 0;
    ms_tagged(r, OSEC_IMAP_NO, "CANNOT", reason);
    return OSEC_EPOLICY;
}

/* The job for the committer: everything it needs, copied out of the
 * input buffer (which moves on once this command is consumed). */
static struct ms_job *append_job(struct ms_req *r, const struct osec_imap_append *a,
                                 const struct osec_store_mailbox *mb, uint32_t rights)
{
    struct ms_job *j = calloc(1, sizeof(*j));
    bool kw = true;

    if (!j || !(j->msg = malloc(a->message.len ? a->message.len : 1))) {
        free(j);
        return NULL;
    }
    memcpy(j->msg, a->message.ptr, a->message.len);
    j->len = a->message.len;
    j->s = r->s;
    j->w = r->s->w;
    j->mb = *mb;
    j->m.flags = allowed_flags(a->flags.system, rights, &kw);
    if (kw && ms_keywords_join(&a->flags, j->m.keywords, sizeof(j->m.keywords)) < 0) {
        ms_job_free(j);
        return NULL;
    }
    j->m.internaldate = a->has_date ? a->date : osec_time_now();
    return j;
}

void ms_cmd_append(struct ms_req *r)
{
    struct ms_session *s = r->s;
    struct osec_imap_append a;
    struct osec_store_mailbox mb;
    struct ms_ref ref;
    struct ms_job *j;
    uint32_t rights = 0;

    if (osec_imap_append_parse(r->cmd, &a) < 0) {
        ms_tagged(r, OSEC_IMAP_BAD, NULL, "invalid APPEND arguments");
        return;
    }
    if (ms_open(r, a.mailbox, OSEC_IMAP_OP_APPEND, &ref, &mb, &rights) < 0 ||
        cpm_rule(r, &ref, a.message) < 0)
        return;
    if (osec_slice_to_cstr(r->cmd->tag, s->tag, sizeof(s->tag)) < 0) {
        ms_tagged(r, OSEC_IMAP_BAD, NULL, "tag too long");
        return;
    }
    if (!(j = append_job(r, &a, &mb, rights))) {
        ms_tagged(r, OSEC_IMAP_NO, "LIMIT", "cannot take this message");
        return;
    }
    /* answered when the committer has made it durable (commit.c) */
    s->inflight = true;
    osec_net_conn_pause(s->c);
    ms_committer_submit(s->w->srv->commit, j);
}

/* ---- COPY ------------------------------------------------------------------------ */

struct copy_ctx {
    struct ms_req *r;
    const struct osec_store_mailbox *dst;
    const char *dst_name;    /* owner-relative, for the CPM layout rule */
    uint32_t dst_rights;
    uint32_t *src, *out; /* UIDs */
    size_t n, cap;
    struct osec_store_msg m; /* the source message being copied */
    bool found;
    int rc;
};

static int copy_uid_cb(const struct osec_store_msg *m, void *arg)
{
    struct copy_ctx *x = arg;

    if (ms_seq_of(&x->r->s->sel, m->uid) == 0)
        return 0;
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 16;
        uint32_t *p = realloc(x->src, cap * sizeof(*p)), *q;

        OSEC_ENSURE(p != NULL, OSEC_ENOMEM, "out of memory");
        x->src = p;
        q = realloc(x->out, cap * sizeof(*q));
        OSEC_ENSURE(q != NULL, OSEC_ENOMEM, "out of memory");
        x->out = q;
        x->cap = cap;
    }
    x->src[x->n++] = m->uid;
    return 0;
}

static int copy_range(uint32_t lo, uint32_t hi, void *arg)
{
    struct copy_ctx *x = arg;
    struct osec_store_msg_query q = { lo, hi, 0, false };

    return osec_store_msg_list(x->r->s->w->st, x->r->s->sel.mb.id, &q, copy_uid_cb, x);
}

/* One source message, unsealed into the worker's text buffer. */
static int load_cb(const struct osec_store_msg *m, void *arg)
{
    struct copy_ctx *x = arg;

    x->found = true;
    x->m = *m;
    x->m.body.data = NULL;
    x->m.body.len = 0;
    return ms_unseal(x->r->s, &x->r->s->sel.mb, m, &x->r->s->w->tmp);
}

static int copy_one(struct copy_ctx *x, size_t i)
{
    struct ms_session *s = x->r->s;
    struct osec_store_msg_query q = { x->src[i], x->src[i], 0, true };
    bool kw = true;

    x->found = false;
    OSEC_GUARD(osec_store_msg_list(s->w->st, s->sel.mb.id, &q, load_cb, x));
    OSEC_ENSURE(x->found, OSEC_ENOTFOUND, "message vanished");
    if (s->w->srv->cpm_layout) {
        struct osec_mail_cpm ids;

        OSEC_GUARD(osec_mail_cpm_parse(osec_buf_slice(&s->w->tmp), &ids));
        OSEC_GUARD(osec_mail_cpm_check(x->dst_name, &ids, NULL, 0));
    }
    x->m.flags = allowed_flags(x->m.flags, x->dst_rights, &kw);
    if (!kw)
        x->m.keywords[0] = '\0';
    /* re-sealed for the target: its owner's key, its (mailbox, UID) */
    return store_message(s, x->dst, &x->m, osec_buf_slice(&s->w->tmp), &x->out[i]);
}

static int copy_all(struct copy_ctx *x)
{
    struct osec_store *st = x->r->s->w->st;
    int rc = 0;

    OSEC_GUARD(osec_store_begin(st));
    for (size_t i = 0; i < x->n; i++)
        OSEC_CHECK(rc, copy_one(x, i));
    return osec_store_commit(st);
out:
    (void)osec_store_rollback(st); /* all or nothing */
    return rc;
}

static void uid_list(struct osec_buf *b, const uint32_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        (void)osec_buf_appendf(b, "%s%u", i ? "," : "", v[i]);
}

static void copy_done(struct copy_ctx *x, int rc)
{
    struct ms_req *r = x->r;
    struct osec_buf code;

    if (rc == OSEC_EINTEGRITY) {
        ms_audit(r->s, "msg.integrity_failed", r->s->sel.display, "during COPY");
        ms_tagged(r, OSEC_IMAP_NO, "CORRUPTION", "a message failed its integrity check: nothing copied");
        return;
    }
    if (rc == OSEC_EPOLICY) {
        ms_tagged(r, OSEC_IMAP_NO, "CANNOT", "the target folder's CPM layout refuses a message");
        return;
    }
    if (rc < 0) {
        ms_tagged(r, rc == OSEC_EPARSE ? OSEC_IMAP_BAD : OSEC_IMAP_NO, NULL, "COPY failed");
        return;
    }
    osec_buf_init(&code, 200000);
    (void)osec_buf_appendf(&code, "COPYUID %u ", x->dst->uidvalidity);
    uid_list(&code, x->src, x->n);
    (void)osec_buf_putc(&code, ' ');
    uid_list(&code, x->out, x->n);
    ms_tagged(r, OSEC_IMAP_OK, x->n && code.len < 190000 ? osec_buf_cstr(&code) : NULL,
              "COPY completed");
    osec_buf_free(&code);
}

void ms_cmd_copy(struct ms_req *r)
{
    struct ms_session *s = r->s;
    struct osec_store_mailbox dst;
    struct osec_slice set, raw;
    struct copy_ctx x;
    struct ms_ref ref;
    int rc;

    memset(&x, 0, sizeof(x));
    x.r = r;
    x.dst = &dst;
    (void)osec_imap_arg_atom(osec_imap_arg_at(r->cmd, 0), &set);
    (void)osec_imap_arg_astring(osec_imap_arg_at(r->cmd, 1), &raw);
    if (ms_sel_check(r, OSEC_IMAP_OP_FETCH) < 0)
        return;
    if (ms_open(r, raw, OSEC_IMAP_OP_APPEND, &ref, &dst, &x.dst_rights) < 0)
        return;
    x.dst_name = ref.name;
    rc = ms_seqset_uids(&s->sel, set, r->cmd->uid, copy_range, &x);
    if (rc == 0)
        rc = copy_all(&x);
    if (rc == 0 && s->sel.mb.id == dst.id)
        (void)ms_sync(s, r->out, false);
    copy_done(&x, rc);
    free(x.src);
    free(x.out);
}
