/* cpm-msgstored: FETCH, STORE and SEARCH over the selected mailbox.
 *
 * Message bodies are unsealed per message into the worker's buffer; one
 * that fails its integrity check is reported (log, audit, NO [CORRUPTION])
 * and never served.  Writes a list callback would need (\Seen set by
 * FETCH, audit records) are collected and done after the listing. */
#include <stdlib.h>
#include <string.h>

#include "msgstored.h"
#include "omasec/error.h"
#include "omasec/log.h"
#include "omasec/mail.h"

/* ---- keywords -------------------------------------------------------------- */

int ms_keywords_parse(const char *kw, struct osec_imap_flags *f)
{
    struct osec_cursor c;
    struct osec_slice item;

    memset(f, 0, sizeof(*f));
    osec_cursor_init(&c, kw, strlen(kw));
    while (osec_cursor_next_item(&c, ' ', &item)) {
        if (item.len == 0)
            continue;
        OSEC_ENSURE(f->nkeywords < OSEC_IMAP_KEYWORDS_MAX, OSEC_EBOUNDS, "too many keywords");
        f->keyword[f->nkeywords++] = item;
    }
    return 0;
}

int ms_keywords_join(const struct osec_imap_flags *f, char *out, size_t outlen)
{
    struct osec_buf b;
    int rc = 0;

    osec_buf_init(&b, outlen - 1);
    for (size_t i = 0; i < f->nkeywords && rc == 0; i++) {
        if (i)
            rc = osec_buf_putc(&b, ' ');
        if (rc == 0)
            rc = osec_buf_append_slice(&b, f->keyword[i]);
    }
    if (rc == 0)
        rc = osec_strlcpy(out, osec_buf_cstr(&b), outlen);
    osec_buf_free(&b);
    return rc;
}

static long kw_find(const struct osec_imap_flags *f, struct osec_slice k)
{
    for (size_t i = 0; i < f->nkeywords; i++)
        if (f->keyword[i].len == k.len && osec_mail_contains(f->keyword[i], k))
            return (long)i;
    return -1;
}

/* ---- sequence sets ------------------------------------------------------------------ */

int ms_seqset_uids(const struct ms_selected *sel, struct osec_slice set, bool uid,
                   ms_range_fn fn, void *arg)
{
    struct osec_imap_seqiter it;
    uint32_t lo, hi;
    int rc;

    osec_imap_seqiter_init(&it, set);
    while ((rc = osec_imap_seqiter_next(&it, uid ? (sel->n ? sel->uids[sel->n - 1] : 0)
                                                 : (uint32_t)sel->n, &lo, &hi)) == 1) {
        if (uid) {
            OSEC_GUARD(fn(lo, hi, arg));
            continue;
        }
        /* RFC 3501 9: a message number beyond the mailbox is an error */
        OSEC_ENSURE(lo >= 1 && hi <= sel->n, OSEC_EPARSE, "invalid message sequence number");
        OSEC_GUARD(fn(sel->uids[lo - 1], sel->uids[hi - 1], arg));
    }
    return rc;
}

int ms_unseal(struct ms_session *s, const struct osec_store_mailbox *mb,
              const struct osec_store_msg *m, struct osec_buf *out)
{
    int rc;

    osec_buf_reset(out);
    rc = osec_mail_unseal(s->w->srv->m, mb->owner, mb->id, m->uid, m->body.data, m->body.len,
                          out);
    if (rc == OSEC_EINTEGRITY)
        osec_metric_inc(ms_m.integrity);
    if (rc == OSEC_EINTEGRITY)
        osec_error("msg.integrity_failed", "user=%s owner=%s mailbox=%lld uid=%u", s->user,
                   mb->owner, (long long)mb->id, m->uid);
    return rc;
}

/* ---- FETCH --------------------------------------------------------------------------------- */

struct seen_rec {
    uint32_t uid, flags;
    char *kw;
};

struct fetch_ctx {
    struct ms_req *r;
    struct osec_imap_fetch f;
    bool uid_cmd, need_text, set_seen;
    struct osec_buf scratch;
    uint32_t bad, bad_uid;      /* integrity failures */
    struct seen_rec *seen;      /* to mark \Seen afterwards */
    size_t nseen, capseen;
    int err;
};

static bool needs_text(const struct osec_imap_fetch *f, bool protect)
{
    uint32_t text = OSEC_IMAP_FETCH_ENVELOPE | OSEC_IMAP_FETCH_BODY | OSEC_IMAP_FETCH_BODYSTRUCTURE |
                    OSEC_IMAP_FETCH_RFC822 | OSEC_IMAP_FETCH_RFC822_HEADER |
                    OSEC_IMAP_FETCH_RFC822_TEXT;

    if (protect) /* the protected object's size differs from the stored one */
        text |= OSEC_IMAP_FETCH_RFC822_SIZE;
    return (f->items & text) || f->nsections > 0;
}

static bool sets_seen(const struct osec_imap_fetch *f)
{
    if (f->items & (OSEC_IMAP_FETCH_RFC822 | OSEC_IMAP_FETCH_RFC822_TEXT))
        return true;
    for (size_t i = 0; i < f->nsections; i++)
        if (!f->section[i].peek)
            return true;
    return false;
}

static int remember_seen(struct fetch_ctx *x, const struct osec_store_msg *m)
{
    if (x->nseen == x->capseen) {
        size_t cap = x->capseen ? x->capseen * 2 : 16;
        struct seen_rec *p = realloc(x->seen, cap * sizeof(*p));

        OSEC_ENSURE(p != NULL, OSEC_ENOMEM, "out of memory");
        x->seen = p;
        x->capseen = cap;
    }
    x->seen[x->nseen].uid = m->uid;
    x->seen[x->nseen].flags = m->flags;
    x->seen[x->nseen].kw = strdup(m->keywords);
    OSEC_ENSURE(x->seen[x->nseen].kw != NULL, OSEC_ENOMEM, "out of memory");
    x->nseen++;
    return 0;
}

static struct osec_slice partial(const struct osec_imap_section *sect, struct osec_slice d)
{
    if (!sect->partial)
        return d;
    if (sect->offset >= d.len)
        return osec_slice_make(d.ptr, 0);
    return osec_slice_sub(d, sect->offset, sect->length);
}

static int fetch_sections(struct fetch_ctx *x, struct osec_imap_fetchw *w, struct osec_slice text)
{
    for (size_t i = 0; i < x->f.nsections; i++) {
        const struct osec_imap_section *sect = &x->f.section[i];
        struct osec_slice d;

        osec_buf_reset(&x->scratch);
        OSEC_GUARD(osec_mail_section(text, sect, &d, &x->scratch));
        OSEC_GUARD(osec_imap_fetchw_section(w, sect, partial(sect, d)));
    }
    return 0;
}

static int fetch_text_items(struct fetch_ctx *x, struct osec_imap_fetchw *w, struct osec_slice text)
{
    uint32_t it = x->f.items;
    struct osec_slice hdr, body;

    osec_mail_split(text, &hdr, &body);
    if (it & OSEC_IMAP_FETCH_ENVELOPE) {
        osec_buf_reset(&x->scratch);
        OSEC_GUARD(osec_mail_envelope(hdr, &x->scratch));
        OSEC_GUARD(osec_imap_fetchw_raw(w, "ENVELOPE", osec_buf_slice(&x->scratch)));
    }
    if (it & (OSEC_IMAP_FETCH_BODY | OSEC_IMAP_FETCH_BODYSTRUCTURE)) {
        bool ext = (it & OSEC_IMAP_FETCH_BODYSTRUCTURE) != 0;

        osec_buf_reset(&x->scratch);
        OSEC_GUARD(osec_mail_bodystructure(text, ext, &x->scratch));
        OSEC_GUARD(osec_imap_fetchw_raw(w, ext ? "BODYSTRUCTURE" : "BODY",
                                        osec_buf_slice(&x->scratch)));
    }
    if (it & OSEC_IMAP_FETCH_RFC822)
        OSEC_GUARD(osec_imap_fetchw_string(w, "RFC822", text));
    if (it & OSEC_IMAP_FETCH_RFC822_HEADER)
        OSEC_GUARD(osec_imap_fetchw_string(w, "RFC822.HEADER", hdr));
    if (it & OSEC_IMAP_FETCH_RFC822_TEXT)
        OSEC_GUARD(osec_imap_fetchw_string(w, "RFC822.TEXT", body));
    return fetch_sections(x, w, text);
}

static int fetch_items(struct fetch_ctx *x, const struct osec_store_msg *m, uint32_t seq,
                       const struct osec_slice *text)
{
    struct osec_imap_fetchw w;
    struct osec_imap_flags fl;
    uint32_t it = x->f.items;

    OSEC_GUARD(osec_imap_fetchw_begin(&w, x->r->out, seq));
    if (it & OSEC_IMAP_FETCH_UID)
        OSEC_GUARD(osec_imap_fetchw_number(&w, "UID", m->uid));
    if (it & OSEC_IMAP_FETCH_FLAGS) {
        OSEC_GUARD(ms_keywords_parse(m->keywords, &fl));
        fl.system = m->flags;
        OSEC_GUARD(osec_imap_fetchw_flags(&w, &fl));
    }
    if (it & OSEC_IMAP_FETCH_INTERNALDATE)
        OSEC_GUARD(osec_imap_fetchw_internaldate(&w, m->internaldate));
    if (it & OSEC_IMAP_FETCH_RFC822_SIZE)
        OSEC_GUARD(osec_imap_fetchw_number(&w, "RFC822.SIZE", text ? text->len : m->size));
    if ((it & OSEC_IMAP_FETCH_MODSEQ) || x->r->s->condstore)
        OSEC_GUARD(osec_imap_fetchw_number(&w, "MODSEQ", m->modseq));
    if (text)
        OSEC_GUARD(fetch_text_items(x, &w, *text));
    return osec_imap_fetchw_end(&w);
}

/* The message as this session gets it: stored text, or S/MIME-protected. */
static int message_text(struct fetch_ctx *x, const struct osec_store_msg *m,
                        struct osec_slice *text)
{
    struct ms_session *s = x->r->s;
    struct ms_worker *wk = s->w;

    OSEC_GUARD(ms_unseal(s, &s->sel.mb, m, &wk->tmp));
    *text = osec_buf_slice(&wk->tmp);
    if (!s->protect)
        return 0;
    osec_buf_reset(&wk->tmp2);
    OSEC_GUARD(osec_mail_smime_protect(*text, s->protect_cert, wk->srv->sign_cert,
                                       wk->srv->sign_key, true, &wk->tmp2));
    osec_metric_inc(ms_m.smime);
    *text = osec_buf_slice(&wk->tmp2);
    return 0;
}

static int fetch_cb(const struct osec_store_msg *m, void *arg)
{
    struct fetch_ctx *x = arg;
    struct ms_session *s = x->r->s;
    uint32_t seq = ms_seq_of(&s->sel, m->uid);
    struct osec_slice text;
    int rc;

    if (seq == 0)
        return 0; /* not (yet) in this session's view */
    if (x->need_text) {
        rc = message_text(x, m, &text);
        if (rc == OSEC_EINTEGRITY) {
            x->bad++;
            x->bad_uid = m->uid; /* reported after the listing; never served */
            return 0;
        }
        OSEC_GUARD(rc);
    }
    OSEC_GUARD(fetch_items(x, m, seq, x->need_text ? &text : NULL));
    if (x->set_seen && !(m->flags & OSEC_IMAP_FLAG_SEEN))
        OSEC_GUARD(remember_seen(x, m));
    if (x->r->out->len > MS_OUT_FLUSH)
        OSEC_GUARD(ms_flush(s, x->r->out));
    return 0;
}

static int fetch_range(uint32_t lo, uint32_t hi, void *arg)
{
    struct fetch_ctx *x = arg;
    struct osec_store_msg_query q = { lo, hi, x->f.changedsince, x->need_text };

    return osec_store_msg_list(x->r->s->w->st, x->r->s->sel.mb.id, &q, fetch_cb, x);
}

/* \Seen for what was read (RFC 3501 6.4.5), with the new FLAGS reported. */
static void mark_seen(struct fetch_ctx *x)
{
    struct ms_session *s = x->r->s;

    for (size_t i = 0; i < x->nseen; i++) {
        struct seen_rec *sr = &x->seen[i];
        struct osec_imap_flags fl;
        uint64_t ms = 0;
        uint32_t seq = ms_seq_of(&s->sel, sr->uid);

        if (osec_store_msg_set_flags(s->w->st, s->sel.mb.id, sr->uid,
                                     sr->flags | OSEC_IMAP_FLAG_SEEN, sr->kw, 0, &ms) == 0 &&
            seq && ms_keywords_parse(sr->kw, &fl) == 0) {
            struct osec_imap_fetchw w;

            fl.system = sr->flags | OSEC_IMAP_FLAG_SEEN;
            if (osec_imap_fetchw_begin(&w, x->r->out, seq) == 0) {
                (void)osec_imap_fetchw_flags(&w, &fl);
                if (x->uid_cmd)
                    (void)osec_imap_fetchw_number(&w, "UID", sr->uid);
                (void)osec_imap_fetchw_end(&w);
            }
        }
        free(sr->kw);
    }
    free(x->seen);
}

static void fetch_done(struct fetch_ctx *x, int rc)
{
    struct ms_req *r = x->r;
    char detail[128];

    mark_seen(x);
    osec_buf_free(&x->scratch);
    if (x->bad) {
        (void)osec_snprintf(detail, sizeof(detail), "mailbox=%lld uid=%u count=%u",
                            (long long)r->s->sel.mb.id, x->bad_uid, x->bad);
        ms_audit(r->s, "msg.integrity_failed", r->s->sel.display, detail);
        ms_tagged(r, OSEC_IMAP_NO, "CORRUPTION",
                  "a stored message failed its integrity check and was not served");
        return;
    }
    if (rc == OSEC_EPARSE)
        ms_tagged(r, OSEC_IMAP_BAD, NULL, "invalid message set");
    else if (rc < 0)
        ms_tagged(r, OSEC_IMAP_NO, ms_fail_code(), "FETCH failed");
    else
        ms_tagged(r, OSEC_IMAP_OK, NULL, "FETCH completed");
}

void ms_cmd_fetch(struct ms_req *r)
{
    struct ms_session *s = r->s;
    struct fetch_ctx *x = calloc(1, sizeof(*x));
    int rc;

    if (!x) {
        ms_tagged(r, OSEC_IMAP_NO, "SERVERBUG", "out of memory");
        return;
    }
    x->r = r;
    x->uid_cmd = r->cmd->uid;
    if (ms_sel_check(r, OSEC_IMAP_OP_FETCH) < 0) {
        free(x);
        return;
    }
    if (osec_imap_fetch_parse(r->cmd, &x->f) < 0) {
        ms_tagged(r, OSEC_IMAP_BAD, NULL, "invalid FETCH arguments");
        free(x);
        return;
    }
    if (s->protect_blocked && needs_text(&x->f, false)) {
        /* the principal asked for protection we cannot apply: no clear text */
        ms_tagged(r, OSEC_IMAP_NO, "CANNOT",
                  "message protection was requested but is unavailable (certificate or policy)");
        free(x);
        return;
    }
    if (x->f.has_changedsince)
        s->condstore = true;
    x->need_text = needs_text(&x->f, s->protect);
    x->set_seen = sets_seen(&x->f) && !s->sel.readonly && (s->sel.rights & OSEC_IMAP_RIGHT_S);
    osec_buf_init(&x->scratch, s->w->tmp.max);
    rc = ms_seqset_uids(&s->sel, x->f.seqset, x->uid_cmd, fetch_range, x);
    fetch_done(x, rc);
    free(x);
}

/* ---- STORE ---------------------------------------------------------------------------------- */

struct store_rec {
    uint32_t uid, flags, newflags;
    char *kw;
    char newkw[OSEC_STORE_KEYWORDS_MAX + 1];
    uint64_t modseq;
    bool modified;
};

struct store_ctx {
    struct ms_req *r;
    struct osec_imap_store st;
    struct store_rec *v;
    size_t n, cap;
    uint32_t need;
};

static int apply_keywords(const struct osec_imap_store *op, const char *cur, char *out,
                          size_t outlen)
{
    struct osec_imap_flags have;

    if (op->op == OSEC_IMAP_STORE_SET)
        return ms_keywords_join(&op->flags, out, outlen);
    OSEC_GUARD(ms_keywords_parse(cur, &have));
    for (size_t i = 0; i < op->flags.nkeywords; i++) {
        long at = kw_find(&have, op->flags.keyword[i]);

        if (op->op == OSEC_IMAP_STORE_ADD && at < 0) {
            OSEC_ENSURE(have.nkeywords < OSEC_IMAP_KEYWORDS_MAX, OSEC_EBOUNDS, "too many keywords");
            have.keyword[have.nkeywords++] = op->flags.keyword[i];
        } else if (op->op == OSEC_IMAP_STORE_REMOVE && at >= 0) {
            have.keyword[at] = have.keyword[--have.nkeywords];
        }
    }
    return ms_keywords_join(&have, out, outlen);
}

static int store_collect(const struct osec_store_msg *m, void *arg)
{
    struct store_ctx *x = arg;
    struct store_rec *rec;
    uint32_t f = x->st.flags.system;

    if (ms_seq_of(&x->r->s->sel, m->uid) == 0)
        return 0;
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 16;
        struct store_rec *p = realloc(x->v, cap * sizeof(*p));

        OSEC_ENSURE(p != NULL, OSEC_ENOMEM, "out of memory");
        x->v = p;
        x->cap = cap;
    }
    rec = &x->v[x->n];
    memset(rec, 0, sizeof(*rec));
    rec->uid = m->uid;
    rec->flags = m->flags;
    rec->newflags = x->st.op == OSEC_IMAP_STORE_SET ? f
                  : x->st.op == OSEC_IMAP_STORE_ADD ? (m->flags | f) : (m->flags & ~f);
    rec->kw = strdup(m->keywords);
    OSEC_ENSURE(rec->kw != NULL, OSEC_ENOMEM, "out of memory");
    x->n++;
    OSEC_GUARD(apply_keywords(&x->st, m->keywords, rec->newkw, sizeof(rec->newkw)));
    x->need |= osec_imap_acl_need_store(m->flags, rec->newflags, strcmp(m->keywords, rec->newkw) != 0);
    return 0;
}

static int store_range(uint32_t lo, uint32_t hi, void *arg)
{
    struct store_ctx *x = arg;
    struct osec_store_msg_query q = { lo, hi, 0, false };

    return osec_store_msg_list(x->r->s->w->st, x->r->s->sel.mb.id, &q, store_collect, x);
}

static int store_apply(struct store_ctx *x)
{
    struct osec_store *st = x->r->s->w->st;
    int rc = 0;

    OSEC_GUARD(osec_store_begin(st));
    for (size_t i = 0; i < x->n; i++) {
        struct store_rec *rec = &x->v[i];

        rc = osec_store_msg_set_flags(st, x->r->s->sel.mb.id, rec->uid, rec->newflags, rec->newkw,
                                      x->st.unchangedsince, &rec->modseq);
        if (rc == OSEC_ESTALE || rc == OSEC_ENOTFOUND) {
            rec->modified = rc == OSEC_ESTALE;
            rec->newflags = rec->flags;
            rc = 0;
            continue;
        }
        OSEC_CHECK(rc, rc);
    }
    return osec_store_commit(st);
out:
    (void)osec_store_rollback(st); /* keep the first error */
    return rc;
}

static void store_report(struct store_ctx *x)
{
    struct ms_req *r = x->r;
    struct osec_buf modified;

    osec_buf_init(&modified, 1 << 20);
    for (size_t i = 0; i < x->n; i++) {
        struct store_rec *rec = &x->v[i];
        uint32_t seq = ms_seq_of(&r->s->sel, rec->uid);
        struct osec_imap_fetchw w;
        struct osec_imap_flags fl;

        if (rec->modified) {
            (void)osec_buf_appendf(&modified, "%s%u", modified.len ? "," : "",
                                   r->cmd->uid ? rec->uid : seq);
            continue;
        }
        if (x->st.silent || seq == 0 || ms_keywords_parse(rec->newkw, &fl) < 0 ||
            osec_imap_fetchw_begin(&w, r->out, seq) < 0)
            continue;
        fl.system = rec->newflags;
        (void)osec_imap_fetchw_flags(&w, &fl);
        if (r->cmd->uid)
            (void)osec_imap_fetchw_number(&w, "UID", rec->uid);
        if (r->s->condstore && rec->modseq)
            (void)osec_imap_fetchw_number(&w, "MODSEQ", rec->modseq);
        (void)osec_imap_fetchw_end(&w);
    }
    if (modified.len) {
        char code[64];

        if (osec_snprintf(code, sizeof(code), "MODIFIED %s", osec_buf_cstr(&modified)) < 0)
            (void)osec_strlcpy(code, "MODIFIED", sizeof(code));
        ms_tagged(r, OSEC_IMAP_OK, code, "conditional STORE failed for some messages");
    } else {
        ms_tagged(r, OSEC_IMAP_OK, NULL, "STORE completed");
    }
    osec_buf_free(&modified);
}

static void store_free(struct store_ctx *x)
{
    for (size_t i = 0; i < x->n; i++)
        free(x->v[i].kw);
    free(x->v);
    free(x);
}

void ms_cmd_store(struct ms_req *r)
{
    struct ms_session *s = r->s;
    struct store_ctx *x = calloc(1, sizeof(*x));
    char reason[OSEC_IMAP_ACL_REASON_MAX] = "";
    int rc;

    if (!x) {
        ms_tagged(r, OSEC_IMAP_NO, "SERVERBUG", "out of memory");
        return;
    }
    x->r = r;
    if (ms_sel_check(r, OSEC_IMAP_OP_LIST) < 0) {
        /* answered; STORE's own rights are checked per flag below */
    } else if (osec_imap_store_parse(r->cmd, &x->st) < 0) {
        ms_tagged(r, OSEC_IMAP_BAD, NULL, "invalid STORE arguments");
    } else if (s->sel.examined) {
        ms_tagged(r, OSEC_IMAP_NO, "READ-ONLY", "mailbox is read-only");
    } else if ((rc = ms_seqset_uids(&s->sel, x->st.seqset, r->cmd->uid, store_range, x)) < 0) {
        ms_tagged(r, rc == OSEC_EPARSE ? OSEC_IMAP_BAD : OSEC_IMAP_NO, NULL, "STORE failed");
    } else if (osec_imap_acl_check_rights(s->sel.rights, x->need, reason, sizeof(reason), NULL) < 0) {
        ms_audit(s, "imap.acl_deny", s->sel.display, "op=store");
        ms_tagged(r, OSEC_IMAP_NO, "NOPERM", reason);
    } else if (store_apply(x) < 0) {
        ms_tagged(r, OSEC_IMAP_NO, ms_fail_code(), "STORE failed");
    } else {
        if (x->st.has_unchangedsince)
            s->condstore = true;
        store_report(x);
    }
    store_free(x);
}

/* ---- SEARCH ------------------------------------------------------------------------------------ */

struct search_ctx {
    struct ms_req *r;
    struct osec_imap_search q;
    bool text;
    uint32_t bad;
    uint64_t maxmodseq;
};

static int search_cb(const struct osec_store_msg *m, void *arg)
{
    struct search_ctx *x = arg;
    struct ms_session *s = x->r->s;
    struct osec_mail_search_msg sm;
    int rc;

    memset(&sm, 0, sizeof(sm));
    sm.seq = ms_seq_of(&s->sel, m->uid);
    if (sm.seq == 0)
        return 0;
    sm.uid = m->uid;
    sm.flags = m->flags;
    sm.keywords = osec_slice_cstr(m->keywords);
    sm.internaldate = m->internaldate;
    sm.size = m->size;
    sm.modseq = m->modseq;
    sm.max_seq = (uint32_t)s->sel.n;
    sm.max_uid = s->sel.n ? s->sel.uids[s->sel.n - 1] : 0;
    if (x->text) {
        rc = ms_unseal(s, &s->sel.mb, m, &s->w->tmp);
        if (rc == OSEC_EINTEGRITY) {
            x->bad++;
            return 0;
        }
        OSEC_GUARD(rc);
        sm.has_text = true;
        sm.text = osec_buf_slice(&s->w->tmp);
    }
    if (!osec_mail_search_match(&x->q, &sm))
        return 0;
    if (m->modseq > x->maxmodseq)
        x->maxmodseq = m->modseq;
    OSEC_GUARD(osec_buf_appendf(x->r->out, " %u", x->r->cmd->uid ? m->uid : sm.seq));
    return x->r->out->len > MS_OUT_FLUSH ? ms_flush(s, x->r->out) : 0;
}

static bool charset_ok(struct osec_slice cs)
{
    return cs.len == 0 || osec_slice_eq_ci(cs, "UTF-8") || osec_slice_eq_ci(cs, "US-ASCII");
}

static bool uses_modseq(const struct osec_imap_search *q)
{
    for (size_t i = 0; i < q->count; i++)
        if (q->node[i].key == OSEC_IMAP_SK_MODSEQ)
            return true;
    return false;
}

void ms_cmd_search(struct ms_req *r)
{
    struct search_ctx *x = calloc(1, sizeof(*x));
    struct osec_store_msg_query all = { 1, UINT32_MAX, 0, false };
    int rc;

    if (!x) {
        ms_tagged(r, OSEC_IMAP_NO, "SERVERBUG", "out of memory");
        return;
    }
    x->r = r;
    if (ms_sel_check(r, OSEC_IMAP_OP_SEARCH) < 0) {
        /* answered */
    } else if (osec_imap_search_parse(r->cmd, &x->q) < 0) {
        ms_tagged(r, OSEC_IMAP_BAD, NULL, "invalid SEARCH keys");
    } else if (!charset_ok(x->q.charset)) {
        ms_tagged(r, OSEC_IMAP_NO, "BADCHARSET (US-ASCII UTF-8)", "unsupported charset");
    } else {
        x->text = osec_mail_search_needs_text(&x->q);
        all.with_body = x->text;
        (void)osec_buf_append_str(r->out, "* SEARCH");
        rc = osec_store_msg_list(r->s->w->st, r->s->sel.mb.id, &all, search_cb, x);
        if (rc == 0 && uses_modseq(&x->q) && x->maxmodseq)
            rc = osec_buf_appendf(r->out, " (MODSEQ %llu)", (unsigned long long)x->maxmodseq);
        (void)osec_buf_append_str(r->out, "\r\n");
        if (x->bad)
            ms_audit(r->s, "msg.integrity_failed", r->s->sel.display, "during SEARCH");
        if (rc < 0)
            ms_tagged(r, OSEC_IMAP_NO, ms_fail_code(), "SEARCH failed");
        else if (x->bad)
            ms_tagged(r, OSEC_IMAP_NO, "CORRUPTION", "messages failing their integrity check were skipped");
        else
            ms_tagged(r, OSEC_IMAP_OK, NULL, "SEARCH completed");
    }
    free(x);
}
