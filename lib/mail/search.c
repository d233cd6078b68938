/* SEARCH evaluation (RFC 3501 6.4.4) over a parsed key tree.  The tree
 * holds at most OSEC_IMAP_SEARCH_MAX nodes, which bounds the recursion. */
#include <string.h>

#include "omasec/buf.h"
#include "omasec/mail.h"

static bool kw_has(struct osec_slice kws, struct osec_slice kw)
{
    struct osec_cursor c;
    struct osec_slice item;

    osec_cursor_init(&c, kws.ptr, kws.len);
    while (osec_cursor_next_item(&c, ' ', &item))
        if (item.len == kw.len && item.len && osec_mail_contains(item, kw))
            return true;
    return false;
}

static int64_t day_of(int64_t t)
{
    return (t >= 0 ? t : t - 86399) / 86400;
}

static bool date_cmp(enum osec_imap_skey k, int64_t t, int64_t day_start)
{
    int64_t d = day_of(t), want = day_of(day_start);

    if (k == OSEC_IMAP_SK_BEFORE || k == OSEC_IMAP_SK_SENTBEFORE)
        return d < want;
    if (k == OSEC_IMAP_SK_ON || k == OSEC_IMAP_SK_SENTON)
        return d == want;
    return d >= want;
}

/* Folded values are matched as the unfolded text the user sees. */
static bool value_has(struct osec_slice v, struct osec_slice needle)
{
    struct osec_buf u;
    bool hit;

    if (osec_slice_find(v, '\n') < 0 || osec_slice_find(v, '\n') == (long)v.len - 1)
        return osec_mail_contains(v, needle);
    osec_buf_init(&u, v.len);
    hit = osec_mail_unfold(v, &u) == 0 ? osec_mail_contains(osec_buf_slice(&u), needle)
                                       : osec_mail_contains(v, needle);
    osec_buf_free(&u);
    return hit;
}

static bool header_has(const struct osec_mail_search_msg *m, struct osec_slice name,
                       struct osec_slice needle)
{
    struct osec_slice hdr, body, n, v, f;
    size_t pos = 0;

    osec_mail_split(m->text, &hdr, &body);
    while (osec_mail_field_next(hdr, &pos, &n, &v, &f) == 1)
        if (n.len == name.len && osec_mail_contains(n, name) && value_has(v, needle))
            return true;
    return false;
}

static bool text_key(const struct osec_imap_snode *n, const struct osec_mail_search_msg *m)
{
    static const char *const fields[] = { "From", "To", "Cc", "Bcc", "Subject" };
    struct osec_slice hdr, body, v;
    int64_t t;

    if (!m->has_text)
        return false;
    switch (n->key) {
    case OSEC_IMAP_SK_FROM: case OSEC_IMAP_SK_TO: case OSEC_IMAP_SK_CC:
    case OSEC_IMAP_SK_BCC: case OSEC_IMAP_SK_SUBJECT:
        return header_has(m, osec_slice_cstr(fields[n->key - OSEC_IMAP_SK_FROM]), n->s1);
    case OSEC_IMAP_SK_HEADER:
        return header_has(m, n->s1, n->s2);
    case OSEC_IMAP_SK_BODY:
        osec_mail_split(m->text, &hdr, &body);
        return osec_mail_contains(body, n->s1);
    case OSEC_IMAP_SK_TEXT:
        return osec_mail_contains(m->text, n->s1);
    default: /* SENTBEFORE / SENTON / SENTSINCE */
        osec_mail_split(m->text, &hdr, &body);
        return osec_mail_header_get(hdr, "Date", &v) == 1 && osec_mail_date_parse(v, &t) == 0 &&
               date_cmp(n->key, t, n->date);
    }
}

static bool flag_key(enum osec_imap_skey k, uint32_t f)
{
    switch (k) {
    case OSEC_IMAP_SK_ANSWERED: return f & OSEC_IMAP_FLAG_ANSWERED;
    case OSEC_IMAP_SK_DELETED: return f & OSEC_IMAP_FLAG_DELETED;
    case OSEC_IMAP_SK_FLAGGED: return f & OSEC_IMAP_FLAG_FLAGGED;
    case OSEC_IMAP_SK_SEEN: return f & OSEC_IMAP_FLAG_SEEN;
    case OSEC_IMAP_SK_DRAFT: return f & OSEC_IMAP_FLAG_DRAFT;
    case OSEC_IMAP_SK_RECENT: return f & OSEC_IMAP_FLAG_RECENT;
    case OSEC_IMAP_SK_UNANSWERED: return !(f & OSEC_IMAP_FLAG_ANSWERED);
    case OSEC_IMAP_SK_UNDELETED: return !(f & OSEC_IMAP_FLAG_DELETED);
    case OSEC_IMAP_SK_UNFLAGGED: return !(f & OSEC_IMAP_FLAG_FLAGGED);
    case OSEC_IMAP_SK_UNSEEN: return !(f & OSEC_IMAP_FLAG_SEEN);
    case OSEC_IMAP_SK_UNDRAFT: return !(f & OSEC_IMAP_FLAG_DRAFT);
    case OSEC_IMAP_SK_NEW: return (f & OSEC_IMAP_FLAG_RECENT) && !(f & OSEC_IMAP_FLAG_SEEN);
    case OSEC_IMAP_SK_OLD: return !(f & OSEC_IMAP_FLAG_RECENT);
    default: return false;
    }
}

static bool eval(const struct osec_imap_search *s, uint32_t idx,
                 const struct osec_mail_search_msg *m, unsigned depth);

static bool eval_and(const struct osec_imap_search *s, uint32_t first,
                     const struct osec_mail_search_msg *m, unsigned depth)
{
    /* node 0 is the root, so a child index of 0 means "no children" */
    for (uint32_t c = first; c != 0 && c < s->count; c = s->node[c].next)
        if (!eval(s, c, m, depth + 1))
            return false;
    return true;
}

static bool eval(const struct osec_imap_search *s, uint32_t idx,
                 const struct osec_mail_search_msg *m, unsigned depth)
{
    const struct osec_imap_snode *n = &s->node[idx];
    uint32_t c = n->first;

    if (depth > OSEC_IMAP_SEARCH_MAX || idx >= s->count)
        return false;
    switch (n->key) {
    case OSEC_IMAP_SK_AND:
        return eval_and(s, n->first, m, depth);
    case OSEC_IMAP_SK_OR:
        return (c != 0 && eval(s, c, m, depth + 1)) ||
               (c != 0 && s->node[c].next != 0 && eval(s, s->node[c].next, m, depth + 1));
    case OSEC_IMAP_SK_NOT:
        return c != 0 && !eval(s, c, m, depth + 1);
    case OSEC_IMAP_SK_ALL:
        return true;
    case OSEC_IMAP_SK_KEYWORD:
        return kw_has(m->keywords, n->s1);
    case OSEC_IMAP_SK_UNKEYWORD:
        return !kw_has(m->keywords, n->s1);
    case OSEC_IMAP_SK_BEFORE: case OSEC_IMAP_SK_ON: case OSEC_IMAP_SK_SINCE:
        return date_cmp(n->key, m->internaldate, n->date);
    case OSEC_IMAP_SK_LARGER:
        return m->size > n->num;
    case OSEC_IMAP_SK_SMALLER:
        return m->size < n->num;
    case OSEC_IMAP_SK_UID:
        return osec_imap_seqset_contains(n->s1, m->max_uid, m->uid);
    case OSEC_IMAP_SK_SEQSET:
        return osec_imap_seqset_contains(n->s1, m->max_seq, m->seq);
    case OSEC_IMAP_SK_MODSEQ:
        return m->modseq >= n->num;
    case OSEC_IMAP_SK_FROM: case OSEC_IMAP_SK_TO: case OSEC_IMAP_SK_CC: case OSEC_IMAP_SK_BCC:
    case OSEC_IMAP_SK_SUBJECT: case OSEC_IMAP_SK_BODY: case OSEC_IMAP_SK_TEXT:
    case OSEC_IMAP_SK_HEADER: case OSEC_IMAP_SK_SENTBEFORE: case OSEC_IMAP_SK_SENTON:
    case OSEC_IMAP_SK_SENTSINCE:
        return text_key(n, m);
    default:
        return flag_key(n->key, m->flags);
    }
}

bool osec_mail_search_match(const struct osec_imap_search *s, const struct osec_mail_search_msg *m)
{
    return s->count > 0 && eval(s, 0, m, 0);
}

bool osec_mail_search_needs_text(const struct osec_imap_search *s)
{
    for (size_t i = 0; i < s->count; i++) {
        switch (s->node[i].key) {
        case OSEC_IMAP_SK_FROM: case OSEC_IMAP_SK_TO: case OSEC_IMAP_SK_CC: case OSEC_IMAP_SK_BCC:
        case OSEC_IMAP_SK_SUBJECT: case OSEC_IMAP_SK_BODY: case OSEC_IMAP_SK_TEXT:
        case OSEC_IMAP_SK_HEADER: case OSEC_IMAP_SK_SENTBEFORE: case OSEC_IMAP_SK_SENTON:
        case OSEC_IMAP_SK_SENTSINCE:
            return true;
        default:
            break;
        }
    }
    return false;
}
