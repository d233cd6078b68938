/* SEARCH keys into a bounded AST, without recursion.
 *
 * Keys are prefix expressions (NOT k, OR k1 k2, (k k ...)) over a tree of
 * parsed arguments.  An explicit stack holds the open lists (each with its
 * iterator) and the operators still waiting for operands; a finished key
 * is attached to the top of the stack, which may finish an operator in
 * turn.  The stack never holds more frames than there are AST nodes.
 */
#include <string.h>

#include "omasec/error.h"
#include "proto/imap_int.h"

#define NONE UINT32_MAX

enum argk { K_NONE = 0, K_FLAG, K_DATE, K_STRING, K_HEADER, K_NUMBER, K_SEQ, K_MODSEQ, K_OP };

static const struct {
    const char *name;
    enum osec_imap_skey key;
    enum argk arg;
} keys[] = {
    { "ALL", OSEC_IMAP_SK_ALL, K_NONE },
    { "ANSWERED", OSEC_IMAP_SK_ANSWERED, K_NONE },
    { "DELETED", OSEC_IMAP_SK_DELETED, K_NONE },
    { "FLAGGED", OSEC_IMAP_SK_FLAGGED, K_NONE },
    { "SEEN", OSEC_IMAP_SK_SEEN, K_NONE },
    { "UNSEEN", OSEC_IMAP_SK_UNSEEN, K_NONE },
    { "NEW", OSEC_IMAP_SK_NEW, K_NONE },
    { "OLD", OSEC_IMAP_SK_OLD, K_NONE },
    { "RECENT", OSEC_IMAP_SK_RECENT, K_NONE },
    { "DRAFT", OSEC_IMAP_SK_DRAFT, K_NONE },
    { "UNDELETED", OSEC_IMAP_SK_UNDELETED, K_NONE },
    { "UNANSWERED", OSEC_IMAP_SK_UNANSWERED, K_NONE },
    { "UNFLAGGED", OSEC_IMAP_SK_UNFLAGGED, K_NONE },
    { "UNDRAFT", OSEC_IMAP_SK_UNDRAFT, K_NONE },
    { "KEYWORD", OSEC_IMAP_SK_KEYWORD, K_FLAG },
    { "UNKEYWORD", OSEC_IMAP_SK_UNKEYWORD, K_FLAG },
    { "BEFORE", OSEC_IMAP_SK_BEFORE, K_DATE },
    { "ON", OSEC_IMAP_SK_ON, K_DATE },
    { "SINCE", OSEC_IMAP_SK_SINCE, K_DATE },
    { "SENTBEFORE", OSEC_IMAP_SK_SENTBEFORE, K_DATE },
    { "SENTON", OSEC_IMAP_SK_SENTON, K_DATE },
    { "SENTSINCE", OSEC_IMAP_SK_SENTSINCE, K_DATE },
    { "FROM", OSEC_IMAP_SK_FROM, K_STRING },
    { "TO", OSEC_IMAP_SK_TO, K_STRING },
    { "CC", OSEC_IMAP_SK_CC, K_STRING },
    { "BCC", OSEC_IMAP_SK_BCC, K_STRING },
    { "SUBJECT", OSEC_IMAP_SK_SUBJECT, K_STRING },
    { "BODY", OSEC_IMAP_SK_BODY, K_STRING },
    { "TEXT", OSEC_IMAP_SK_TEXT, K_STRING },
    { "HEADER", OSEC_IMAP_SK_HEADER, K_HEADER },
    { "LARGER", OSEC_IMAP_SK_LARGER, K_NUMBER },
    { "SMALLER", OSEC_IMAP_SK_SMALLER, K_NUMBER },
    { "UID", OSEC_IMAP_SK_UID, K_SEQ },
    { "MODSEQ", OSEC_IMAP_SK_MODSEQ, K_MODSEQ },
    { "NOT", OSEC_IMAP_SK_NOT, K_OP },
    { "OR", OSEC_IMAP_SK_OR, K_OP },
};

struct sframe {
    struct osec_imap_iter it; /* lists only */
    uint32_t node;
    uint32_t last;            /* last attached child */
    uint32_t prev_list;       /* frame index of the enclosing list */
    uint8_t need;             /* operators: operands still missing; lists: 0 */
    bool list;
};

struct sstate {
    const struct osec_imap_cmd *cmd;
    struct osec_imap_search *out;
    struct sframe st[OSEC_IMAP_SEARCH_MAX + 1];
    uint32_t sp;       /* frames in use */
    uint32_t cur_list; /* index of the innermost list frame */
};

static int new_node(struct sstate *s, enum osec_imap_skey key, uint32_t *idx)
{
    struct osec_imap_snode *n;

    OSEC_ENSURE(s->out->count < OSEC_IMAP_SEARCH_MAX, OSEC_EBOUNDS, "imap: search too complex");
    *idx = (uint32_t)s->out->count++;
    n = &s->out->node[*idx];
    memset(n, 0, sizeof(*n));
    n->key = key;
    return 0;
}

static void push(struct sstate *s, uint32_t node, uint8_t need, const struct osec_imap_arg *list)
{
    struct sframe *f = &s->st[s->sp];

    memset(f, 0, sizeof(*f));
    f->node = node;
    f->last = NONE;
    f->need = need;
    f->list = need == 0;
    if (f->list) {
        osec_imap_iter_init(&f->it, s->cmd, list);
        f->prev_list = s->cur_list;
        s->cur_list = s->sp;
    }
    s->sp++;
}

/* A finished key becomes the next child of the top frame; finished
 * operators are popped and attached in turn. */
static void attach(struct sstate *s, uint32_t child)
{
    while (s->sp > 0) {
        struct sframe *f = &s->st[s->sp - 1];

        if (f->last == NONE)
            s->out->node[f->node].first = child;
        else
            s->out->node[f->last].next = child;
        f->last = child;
        if (f->list || --f->need > 0)
            return;
        child = f->node;
        s->sp--;
    }
}

static int date_arg(const struct osec_imap_arg *a, int64_t *t)
{
    if (!a || (a->type != OSEC_IMAP_QUOTED && a->type != OSEC_IMAP_ATOM))
        IMAP_BAD("invalid search date");
    return osec_imap_date_parse(a->val, t);
}

/* MODSEQ ["entry" ("priv" / "shared" / "all")] number (RFC 7162) */
static int modseq_arg(struct osec_imap_iter *it, struct osec_imap_snode *n)
{
    const struct osec_imap_arg *a = osec_imap_iter_next(it);

    if (a && (a->type == OSEC_IMAP_QUOTED || a->type == OSEC_IMAP_LITERAL)) {
        n->s1 = a->val;
        a = osec_imap_iter_next(it);
        if (!osec_imap_arg_is(a, "priv") && !osec_imap_arg_is(a, "shared") &&
            !osec_imap_arg_is(a, "all"))
            IMAP_BAD("invalid MODSEQ entry type");
        n->s2 = a->val;
        a = osec_imap_iter_next(it);
    }
    return osec_imap_arg_number(a, INT64_MAX, &n->num);
}

static int leaf_args(struct osec_imap_iter *it, enum argk k, struct osec_imap_snode *n)
{
    switch (k) {
    case K_FLAG:
        return osec_imap_arg_atom(osec_imap_iter_next(it), &n->s1);
    case K_DATE:
        return date_arg(osec_imap_iter_next(it), &n->date);
    case K_STRING:
        return osec_imap_arg_astring(osec_imap_iter_next(it), &n->s1);
    case K_HEADER:
        OSEC_GUARD(osec_imap_arg_astring(osec_imap_iter_next(it), &n->s1));
        if (n->s1.len == 0)
            IMAP_BAD("empty header name");
        return osec_imap_arg_astring(osec_imap_iter_next(it), &n->s2);
    case K_NUMBER:
        return osec_imap_arg_number(osec_imap_iter_next(it), UINT32_MAX, &n->num);
    case K_SEQ: {
        const struct osec_imap_arg *a = osec_imap_iter_next(it);

        if (!osec_imap_atomish(a) || !osec_imap_seq_valid(a->val, OSEC_IMAP_SEQ_DOLLAR))
            IMAP_BAD("invalid sequence set");
        n->s1 = a->val;
        return 0;
    }
    case K_MODSEQ:
        return modseq_arg(it, n);
    default:
        return 0;
    }
}

/* One key starting with atom a, its arguments read from it. */
static int key(struct sstate *s, const struct osec_imap_arg *a, struct osec_imap_iter *it)
{
    uint32_t idx;

    if (osec_imap_atomish(a) && osec_imap_seq_valid(a->val, OSEC_IMAP_SEQ_DOLLAR)) {
        OSEC_GUARD(new_node(s, OSEC_IMAP_SK_SEQSET, &idx));
        s->out->node[idx].s1 = a->val;
        attach(s, idx);
        return 0;
    }
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (!osec_imap_arg_is(a, keys[i].name))
            continue;
        OSEC_GUARD(new_node(s, keys[i].key, &idx));
        if (keys[i].arg == K_OP) {
            push(s, idx, keys[i].key == OSEC_IMAP_SK_OR ? 2 : 1, NULL);
            return 0;
        }
        OSEC_GUARD(leaf_args(it, keys[i].arg, &s->out->node[idx]));
        attach(s, idx);
        return 0;
    }
    IMAP_BAD("unknown search key");
}

/* The innermost list ran out: it must be complete and non-empty. */
static int end_list(struct sstate *s)
{
    struct sframe *f = &s->st[s->sp - 1];
    uint32_t node = f->node;

    if (!f->list)
        IMAP_BAD("missing search key operand");
    if (f->last == NONE)
        IMAP_BAD("empty search key list");
    s->cur_list = f->prev_list;
    s->sp--;
    if (s->sp > 0)
        attach(s, node);
    return 0;
}

static int run(struct sstate *s)
{
    while (s->sp > 0) {
        struct osec_imap_iter *it = &s->st[s->cur_list].it;
        const struct osec_imap_arg *a = osec_imap_iter_next(it);
        uint32_t idx;

        if (!a) {
            OSEC_GUARD(end_list(s));
        } else if (a->type == OSEC_IMAP_LIST) {
            OSEC_GUARD(new_node(s, OSEC_IMAP_SK_AND, &idx));
            push(s, idx, 0, a);
        } else {
            OSEC_GUARD(key(s, a, it));
        }
    }
    return 0;
}

int osec_imap_search_parse(const struct osec_imap_cmd *cmd, struct osec_imap_search *out)
{
    struct sstate *s, local;
    uint32_t root;

    memset(out, 0, sizeof(*out));
    s = &local;
    memset(s, 0, sizeof(*s));
    s->cmd = cmd;
    s->out = out;
    OSEC_GUARD(new_node(s, OSEC_IMAP_SK_AND, &root));
    push(s, root, 0, NULL);
    if (osec_imap_arg_is(osec_imap_iter_peek(&s->st[0].it), "CHARSET")) {
        (void)osec_imap_iter_next(&s->st[0].it);
        OSEC_GUARD(osec_imap_arg_astring(osec_imap_iter_next(&s->st[0].it), &out->charset));
        if (out->charset.len == 0)
            IMAP_BAD("empty charset");
    }
    return run(s);
}
