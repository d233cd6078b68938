/* cpm-msgstored: the selected mailbox (SELECT, EXAMINE, CLOSE, UNSELECT,
 * EXPUNGE, NOOP, CHECK, IDLE) and the session's view of it: sequence
 * numbers map to UIDs through sel.uids, changes made by other sessions are
 * reported when RFC 3501 7.4.1 allows. */
#include <stdlib.h>
#include <string.h>

#include "msgstored.h"
#include "omasec/error.h"
#include "omasec/log.h"

#define SYSTEM_FLAGS "\\Answered \\Flagged \\Deleted \\Seen \\Draft"

void ms_unselect(struct ms_session *s)
{
    free(s->sel.uids);
    memset(&s->sel, 0, sizeof(s->sel));
    if (s->state == MS_SELECTED)
        s->state = MS_AUTH;
}

uint32_t ms_seq_of(const struct ms_selected *sel, uint32_t uid)
{
    size_t lo = 0, hi = sel->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (sel->uids[mid] == uid)
            return (uint32_t)(mid + 1);
        if (sel->uids[mid] < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static int uid_push(struct ms_selected *sel, uint32_t uid)
{
    if (sel->n == sel->cap) {
        size_t cap = sel->cap ? sel->cap * 2 : 64;
        uint32_t *p = realloc(sel->uids, cap * sizeof(*p));

        OSEC_ENSURE(p != NULL, OSEC_ENOMEM, "out of memory");
        sel->uids = p;
        sel->cap = cap;
    }
    sel->uids[sel->n++] = uid;
    return 0;
}

static int uid_cb(const struct osec_store_msg *m, void *arg)
{
    return uid_push(arg, m->uid);
}

/* UIDs of the mailbox above `after`, appended to sel (ascending). */
static int load_uids(struct osec_store *st, struct ms_selected *sel, uint32_t after)
{
    struct osec_store_msg_query q = { after + 1, UINT32_MAX, 0, false };

    if (after == UINT32_MAX)
        return 0;
    return osec_store_msg_list(st, sel->mb.id, &q, uid_cb, sel);
}

static void select_responses(struct ms_req *r, const struct ms_selected *sel)
{
    ms_untagged(r, "FLAGS (" SYSTEM_FLAGS ")");
    ms_untagged(r, sel->readonly ? "OK [PERMANENTFLAGS ()] read-only"
                                 : "OK [PERMANENTFLAGS (" SYSTEM_FLAGS " \\*)] flags allowed");
    ms_untagged(r, "%zu EXISTS", sel->n);
    ms_untagged(r, "0 RECENT");
    ms_untagged(r, "OK [UIDVALIDITY %u] UIDs valid", sel->mb.uidvalidity);
    ms_untagged(r, "OK [UIDNEXT %u] predicted next UID", sel->mb.uidnext);
    ms_untagged(r, "OK [HIGHESTMODSEQ %llu] highest", (unsigned long long)sel->mb.modseq);
}

/* SELECT mailbox [(CONDSTORE)] */
static bool wants_condstore(const struct osec_imap_cmd *cmd)
{
    const struct osec_imap_arg *list = osec_imap_arg_at(cmd, 1);
    struct osec_imap_iter it;
    const struct osec_imap_arg *a;

    if (!list)
        return false;
    osec_imap_iter_init(&it, cmd, list);
    while ((a = osec_imap_iter_next(&it)) != NULL)
        if (osec_imap_arg_is(a, "CONDSTORE"))
            return true;
    return false;
}

void ms_cmd_select(struct ms_req *r, bool examine)
{
    struct ms_session *s = r->s;
    struct ms_selected *sel = &s->sel;
    struct osec_slice raw;
    struct ms_ref ref;
    uint32_t rights = 0;
    const uint32_t rw = OSEC_IMAP_RIGHT_S | OSEC_IMAP_RIGHT_W | OSEC_IMAP_RIGHT_T |
                        OSEC_IMAP_RIGHT_E | OSEC_IMAP_RIGHT_I;

    ms_unselect(s); /* RFC 3501 6.3.1: even when this SELECT fails */
    (void)osec_imap_arg_astring(osec_imap_arg_at(r->cmd, 0), &raw);
    if (ms_open(r, raw, OSEC_IMAP_OP_SELECT, &ref, &sel->mb, &rights) < 0)
        return;
    if (load_uids(s->w->st, sel, 0) < 0) {
        ms_unselect(s);
        ms_tagged(r, OSEC_IMAP_NO, ms_fail_code(), "cannot read the mailbox");
        return;
    }
    (void)osec_strlcpy(sel->display, ref.display, sizeof(sel->display));
    sel->rights = rights;
    sel->readonly = examine || !(rights & rw);
    sel->examined = examine;
    sel->modseq = sel->mb.modseq;
    sel->uidnext = sel->mb.uidnext;
    s->state = MS_SELECTED;
    if (wants_condstore(r->cmd))
        s->condstore = true;
    select_responses(r, sel);
    ms_tagged(r, OSEC_IMAP_OK, sel->readonly ? "READ-ONLY" : "READ-WRITE",
              examine ? "EXAMINE completed" : "SELECT completed");
}

int ms_sel_check(struct ms_req *r, enum osec_imap_acl_op op)
{
    struct ms_session *s = r->s;
    char reason[OSEC_IMAP_ACL_REASON_MAX] = "", detail[200];
    int rc = 0;

    if (strcmp(s->sel.mb.owner, s->user) != 0)
        rc = osec_imap_acl_myrights(s->w->st, &s->sel.mb, s->user, &s->sel.rights);
    if (rc < 0) {
        ms_tagged(r, OSEC_IMAP_NO, ms_fail_code(), "store error");
        return rc;
    }
    rc = osec_imap_acl_check(s->sel.rights, op, reason, sizeof(reason), NULL);
    if (rc < 0) {
        (void)osec_snprintf(detail, sizeof(detail), "op=%s %s", osec_imap_cmd_str(r->cmd->name),
                            rc == OSEC_ENOTFOUND ? "visible=no" : reason);
        ms_audit(s, "imap.acl_deny", s->sel.display, detail);
        if (rc == OSEC_ENOTFOUND)
            ms_tagged(r, OSEC_IMAP_NO, "NONEXISTENT", "no such mailbox");
        else
            ms_tagged(r, OSEC_IMAP_NO, "NOPERM", reason);
    }
    return rc;
}

/* ---- changes made elsewhere ---------------------------------------------------------- */

struct flag_report {
    struct ms_session *s;
    struct osec_buf *out;
    uint32_t known; /* highest UID the client knew before: newer ones come as EXISTS */
};

static int report_flags(const struct osec_store_msg *m, void *arg)
{
    struct flag_report *fr = arg;
    struct osec_imap_flags f;
    struct osec_imap_fetchw w;
    uint32_t seq = ms_seq_of(&fr->s->sel, m->uid);

    if (seq == 0 || m->uid > fr->known || ms_keywords_parse(m->keywords, &f) < 0)
        return 0;
    f.system = m->flags;
    if (osec_imap_fetchw_begin(&w, fr->out, seq) < 0)
        return 0;
    (void)osec_imap_fetchw_number(&w, "UID", m->uid);
    (void)osec_imap_fetchw_flags(&w, &f);
    if (fr->s->condstore)
        (void)osec_imap_fetchw_number(&w, "MODSEQ", m->modseq);
    (void)osec_imap_fetchw_end(&w);
    return 0;
}

/* Drop from the view every UID no longer stored; EXPUNGE responses. */
static int report_expunges(struct ms_session *s, struct osec_buf *out)
{
    struct ms_selected fresh;
    size_t j = 0, removed = 0;

    memset(&fresh, 0, sizeof(fresh));
    fresh.mb = s->sel.mb;
    if (load_uids(s->w->st, &fresh, 0) < 0) {
        free(fresh.uids);
        return osec_error_code();
    }
    for (size_t i = 0; i < s->sel.n; i++) {
        while (j < fresh.n && fresh.uids[j] < s->sel.uids[i])
            j++;
        if (j < fresh.n && fresh.uids[j] == s->sel.uids[i])
            continue;
        /* sequence numbers shift down with every expunge reported */
        (void)osec_buf_appendf(out, "* %zu EXPUNGE\r\n", i + 1 - removed);
        removed++;
    }
    free(s->sel.uids);
    s->sel.uids = fresh.uids;
    s->sel.n = fresh.n;
    s->sel.cap = fresh.cap;
    return 0;
}

int ms_sync(struct ms_session *s, struct osec_buf *out, bool expunge_ok)
{
    struct ms_selected *sel = &s->sel;
    struct osec_store_mailbox mb;
    struct flag_report fr = { s, out, sel->n ? sel->uids[sel->n - 1] : 0 };
    struct osec_store_msg_query q = { 1, fr.known, sel->modseq, false };
    size_t before = sel->n;
    uint64_t count = 0;

    if (s->state != MS_SELECTED)
        return 0;
    OSEC_GUARD(osec_store_mailbox_get_id(s->w->st, sel->mb.id, &mb));
    if (mb.modseq == sel->modseq)
        return 0;
    OSEC_GUARD(load_uids(s->w->st, sel, sel->n ? sel->uids[sel->n - 1] : 0));
    if (expunge_ok) {
        OSEC_GUARD(osec_store_mailbox_counts(s->w->st, sel->mb.id, 0, &count, NULL));
        if (count < sel->n)
            OSEC_GUARD(report_expunges(s, out));
    }
    if (sel->n != before || expunge_ok)
        OSEC_GUARD(osec_buf_appendf(out, "* %zu EXISTS\r\n", sel->n));
    OSEC_GUARD(osec_store_msg_list(s->w->st, sel->mb.id, &q, report_flags, &fr));
    sel->mb = mb;
    if (expunge_ok) /* otherwise look again next time, expunges included */
        sel->modseq = mb.modseq;
    return 0;
}

void ms_cmd_noop(struct ms_req *r)
{
    if (ms_sync(r->s, r->out, true) < 0)
        osec_warn("imap.sync_failed", "user=%s error=\"%s\"", r->s->user, osec_error_msg());
    ms_tagged(r, OSEC_IMAP_OK, NULL, r->cmd->name == OSEC_IMAP_CMD_CHECK ? "CHECK completed"
                                                                         : "NOOP completed");
}

/* ---- EXPUNGE, CLOSE ------------------------------------------------------------------------- */

struct doomed {
    struct osec_slice uidset; /* UID EXPUNGE: only these */
    bool limit;
    uint32_t star;
    uint32_t *uids;
    size_t n, cap;
};

static int doomed_cb(const struct osec_store_msg *m, void *arg)
{
    struct doomed *d = arg;

    if (!(m->flags & OSEC_IMAP_FLAG_DELETED) ||
        (d->limit && !osec_imap_seqset_contains(d->uidset, d->star, m->uid)))
        return 0;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        uint32_t *p = realloc(d->uids, cap * sizeof(*p));

        OSEC_ENSURE(p != NULL, OSEC_ENOMEM, "out of memory");
        d->uids = p;
        d->cap = cap;
    }
    d->uids[d->n++] = m->uid;
    return 0;
}

/* Remove \Deleted messages (of uidset when limit); with out, report them. */
static int expunge(struct ms_session *s, struct doomed *d, struct osec_buf *out)
{
    struct osec_store_msg_query q = { 1, UINT32_MAX, 0, false };
    struct osec_store *st = s->w->st;
    int rc;

    d->star = s->sel.n ? s->sel.uids[s->sel.n - 1] : 0;
    OSEC_GUARD(osec_store_msg_list(st, s->sel.mb.id, &q, doomed_cb, d));
    OSEC_GUARD(osec_store_begin(st));
    for (size_t i = 0; i < d->n; i++) {
        rc = osec_store_msg_delete(st, s->sel.mb.id, d->uids[i]);
        if (rc < 0 && rc != OSEC_ENOTFOUND) { /* gone already: fine */
            (void)osec_store_rollback(st);
            return rc;
        }
    }
    OSEC_GUARD(osec_store_commit(st));
    for (size_t i = d->n; out && i-- > 0;) { /* from the top: numbers stay valid */
        uint32_t seq = ms_seq_of(&s->sel, d->uids[i]);

        if (seq == 0)
            continue;
        (void)osec_buf_appendf(out, "* %u EXPUNGE\r\n", seq);
        memmove(&s->sel.uids[seq - 1], &s->sel.uids[seq], (s->sel.n - seq) * sizeof(uint32_t));
        s->sel.n--;
    }
    return 0;
}

void ms_cmd_expunge(struct ms_req *r, bool uid)
{
    struct ms_session *s = r->s;
    struct doomed d;
    int rc;

    memset(&d, 0, sizeof(d));
    if (s->sel.examined) {
        ms_tagged(r, OSEC_IMAP_NO, "READ-ONLY", "mailbox is read-only");
        return;
    }
    if (ms_sel_check(r, OSEC_IMAP_OP_EXPUNGE) < 0)
        return;
    if (uid) {
        (void)osec_imap_arg_atom(osec_imap_arg_at(r->cmd, 0), &d.uidset);
        d.limit = true;
    }
    rc = expunge(s, &d, r->out);
    free(d.uids);
    if (rc == 0)
        rc = ms_sync(s, r->out, true);
    if (rc < 0)
        ms_tagged(r, OSEC_IMAP_NO, ms_fail_code(), "EXPUNGE failed");
    else
        ms_tagged(r, OSEC_IMAP_OK, NULL, "EXPUNGE completed");
}

void ms_cmd_close(struct ms_req *r, bool do_expunge)
{
    struct ms_session *s = r->s;
    struct doomed d;

    memset(&d, 0, sizeof(d));
    /* CLOSE expunges silently, and only where the user may */
    if (do_expunge && !s->sel.readonly && (s->sel.rights & OSEC_IMAP_RIGHT_E) &&
        expunge(s, &d, NULL) < 0)
        osec_warn("imap.close_expunge", "user=%s error=\"%s\"", s->user, osec_error_msg());
    free(d.uids);
    ms_unselect(s);
    ms_tagged(r, OSEC_IMAP_OK, NULL, do_expunge ? "CLOSE completed" : "UNSELECT completed");
}

/* ---- IDLE (RFC 2177) -------------------------------------------------------------------------- */

void ms_cmd_idle(struct ms_req *r)
{
    struct ms_session *s = r->s;

    if (osec_slice_to_cstr(r->cmd->tag, s->tag, sizeof(s->tag)) < 0) {
        ms_tagged(r, OSEC_IMAP_BAD, NULL, "tag too long");
        return;
    }
    (void)ms_sync(s, r->out, true);
    (void)osec_imap_write_continue(r->out, "idling");
    s->mode = MS_IDLE;
    if (osec_net_conn_timer(s->c, s->w->srv->idle_poll_ms) < 0)
        osec_warn("imap.idle_timer", "user=%s", s->user);
}

int ms_idle_tick(struct ms_session *s, struct osec_buf *out)
{
    if (ms_sync(s, out, true) < 0)
        osec_warn("imap.sync_failed", "user=%s error=\"%s\"", s->user, osec_error_msg());
    return 0;
}

int ms_idle_line(struct ms_session *s, const uint8_t *data, size_t len, struct osec_buf *out)
{
    struct osec_slice line;
    size_t used = 0;
    int rc = osec_imap_line_parse(data, len, 64, &line, &used);

    if (rc == OSEC_IMAP_INCOMPLETE)
        return 0;
    s->mode = MS_CMD;
    (void)osec_net_conn_timer(s->c, 0);
    if (rc < 0) {
        ms_metric_status(OSEC_IMAP_BAD);
        (void)osec_imap_write_tagged(out, osec_slice_cstr(s->tag), OSEC_IMAP_BAD, NULL,
                                     "expected DONE");
        s->state = MS_LOGOUT;
        return (int)len;
    }
    if (osec_imap_idle_done(line) < 0) {
        ms_metric_status(OSEC_IMAP_BAD);
        (void)osec_imap_write_tagged(out, osec_slice_cstr(s->tag), OSEC_IMAP_BAD, NULL,
                                     "expected DONE");
        return (int)used;
    }
    (void)ms_sync(s, out, true);
    ms_metric_status(OSEC_IMAP_OK);
    (void)osec_imap_write_tagged(out, osec_slice_cstr(s->tag), OSEC_IMAP_OK, NULL,
                                 "IDLE terminated");
    return (int)used;
}
