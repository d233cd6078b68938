/* The IMAP command line lexer.
 *
 * One complete line (CRLF excluded) at a time, left to right, no
 * recursion: parentheses only move a depth counter (and, when building the
 * tree, an explicit stack of open list nodes bounded by max_depth).  The
 * same code runs twice per command: while framing, counting nodes and
 * arena bytes so every limit fails at the same byte whatever the delivery;
 * then once more, on the complete command, writing the tree.
 */
#include <string.h>

#include "omasec/error.h"
#include "proto/imap_int.h"

#define NONE UINT32_MAX

struct line {
    const uint8_t *p;
    size_t off; /* of p[0] from the command start */
    size_t n;
    size_t i;
};

static int lfail(struct imap_lex *lx, int code, const char *why, const char *file, int lineno)
{
    lx->code = code;
    lx->why = why;
    return osec_error_set(code, file, lineno, "imap: %s", why);
}

#define LFAIL(lx, code, why) return lfail((lx), (code), (why), __FILE__, __LINE__)

void osec_imap_lex_init(struct imap_lex *lx, const uint8_t *base, struct osec_imap_cmd *cmd,
                        const struct osec_imap_limits *lim, bool build)
{
    memset(lx, 0, sizeof(*lx));
    lx->base = base;
    lx->out = build ? cmd : NULL;
    lx->max_nodes = lim->max_args < cmd->nodes_cap ? lim->max_args : cmd->nodes_cap;
    if (lx->max_nodes > UINT32_MAX - 1)
        lx->max_nodes = UINT32_MAX - 1;
    lx->arena_cap = cmd->arena ? cmd->arena_cap : 0;
    lx->max_depth = lim->max_depth;
    lx->last[0] = NONE;
}

/* ---- tree output ---------------------------------------------------------- */

static enum osec_imap_type classify(struct osec_slice s, uint64_t *num)
{
    if (osec_imap_ci(s, "NIL"))
        return OSEC_IMAP_NIL;
    if (osec_imap_all(s, IC_DIGIT) && osec_imap_num(s, INT64_MAX, num))
        return OSEC_IMAP_NUMBER;
    if (osec_imap_all(s, IC_SEQ) && osec_imap_seq_valid(s, OSEC_IMAP_SEQ_DOLLAR))
        return OSEC_IMAP_SEQSET;
    return OSEC_IMAP_ATOM;
}

/* Count a node; when building, append it to the list open at this depth. */
static int node_add(struct imap_lex *lx, enum osec_imap_type t, struct osec_slice val,
                    struct osec_imap_arg **out)
{
    struct osec_imap_arg *a, *nodes;
    uint32_t i;

    if (lx->nodes >= lx->max_nodes)
        LFAIL(lx, OSEC_EBOUNDS, "Too many arguments");
    i = (uint32_t)lx->nodes++;
    *out = NULL;
    if (!lx->out)
        return 0;
    nodes = lx->out->nodes;
    a = &nodes[i];
    memset(a, 0, sizeof(*a));
    a->type = t;
    a->val = val;
    if (t == OSEC_IMAP_ATOM)
        a->type = classify(val, &a->num);
    if (lx->last[lx->depth] != NONE)
        nodes[lx->last[lx->depth]].next = i;
    lx->last[lx->depth] = i;
    if (lx->depth > 0)
        nodes[lx->open[lx->depth - 1]].count++;
    else
        lx->out->argc++;
    lx->out->nnodes = lx->nodes;
    *out = a;
    return 0;
}

/* ---- tokens ----------------------------------------------------------------- */

static int open_list(struct imap_lex *lx)
{
    struct osec_imap_arg *a;

    if (lx->depth >= lx->max_depth)
        LFAIL(lx, OSEC_EBOUNDS, "Too deeply nested parentheses");
    OSEC_GUARD(node_add(lx, OSEC_IMAP_LIST, osec_slice_make(NULL, 0), &a));
    if (lx->out) {
        lx->open[lx->depth] = lx->last[lx->depth];
        lx->last[lx->depth + 1] = NONE;
    }
    lx->depth++;
    lx->state = IMAP_S_OPEN;
    return 0;
}

static int close_list(struct imap_lex *lx)
{
    if (lx->depth == 0)
        LFAIL(lx, OSEC_EPARSE, "Unexpected ')'");
    if (lx->state == IMAP_S_NEED)
        LFAIL(lx, OSEC_EPARSE, "Unexpected space before ')'");
    lx->depth--;
    lx->state = IMAP_S_AFTER;
    return 0;
}

/* Copy a quoted string's contents without its escapes into the arena. */
static struct osec_slice unescape(struct imap_lex *lx, const uint8_t *p, size_t n, size_t dec)
{
    uint8_t *dst = lx->out->arena + lx->out->arena_used;
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\')
            i++;
        dst[k++] = p[i];
    }
    lx->out->arena_used += dec;
    return osec_slice_make(dst, dec);
}

static int lex_quoted(struct imap_lex *lx, struct line *ln)
{
    size_t s = ln->i + 1, i, esc = 0;
    struct osec_slice val;
    struct osec_imap_arg *a;

    for (i = s; i < ln->n && ln->p[i] != '"'; i++) {
        uint8_t c = ln->p[i];

        if (c == 0)
            LFAIL(lx, OSEC_EPARSE, "NUL in quoted string");
        if (c == '\r')
            LFAIL(lx, OSEC_EPARSE, "CR in quoted string");
        if (c == '\\') {
            if (i + 1 >= ln->n || (ln->p[i + 1] != '"' && ln->p[i + 1] != '\\'))
                LFAIL(lx, OSEC_EPARSE, "Invalid escape in quoted string");
            esc++;
            i++;
        }
    }
    if (i >= ln->n)
        LFAIL(lx, OSEC_EPARSE, "Unterminated quoted string");
    if (esc > 0 && i - s - esc > lx->arena_cap - lx->arena)
        LFAIL(lx, OSEC_EBOUNDS, "Command too long");
    if (esc > 0)
        lx->arena += i - s - esc;
    val = osec_slice_make(ln->p + s, i - s);
    OSEC_GUARD(node_add(lx, OSEC_IMAP_QUOTED, val, &a));
    if (a && esc > 0)
        a->val = unescape(lx, ln->p + s, i - s, i - s - esc);
    ln->i = i + 1;
    lx->state = IMAP_S_AFTER;
    return 0;
}

/* "{" number ["+"] "}" and then the end of the line. */
static int lex_literal(struct imap_lex *lx, struct line *ln)
{
    size_t s = ln->i + 1, i = s;
    struct osec_imap_arg *a;
    bool nonsync;
    uint64_t n;

    while (i < ln->n && ic_is(ln->p[i], IC_DIGIT))
        i++;
    if (!osec_imap_num(osec_slice_make(ln->p + s, i - s), INT64_MAX, &n))
        LFAIL(lx, OSEC_EPARSE, "Invalid literal size");
    nonsync = i < ln->n && ln->p[i] == '+';
    i += nonsync;
    if (i >= ln->n || ln->p[i] != '}')
        LFAIL(lx, OSEC_EPARSE, "Invalid literal");
    if (i + 1 != ln->n)
        LFAIL(lx, OSEC_EPARSE, "Literal not at end of line");
    /* the data follows this line's CRLF; it is present when building */
    OSEC_GUARD(node_add(lx, OSEC_IMAP_LITERAL,
                        osec_slice_make(lx->base + ln->off + ln->n + 2, (size_t)n), &a));
    if (a)
        a->nonsync = nonsync;
    lx->lit = true;
    lx->lit_nonsync = nonsync;
    lx->lit_len = n;
    ln->i = ln->n;
    lx->state = IMAP_S_AFTER;
    return 0;
}

/* "[" ... "]" inside an atom: a FETCH section (spaces, one level of
 * parentheses and quoted header names allowed). */
static int lex_section(struct imap_lex *lx, struct line *ln, size_t *pi)
{
    bool paren = false;

    for (size_t j = *pi + 1; j < ln->n; j++) {
        uint8_t c = ln->p[j];

        if (c == ']' && !paren) {
            *pi = j + 1;
            return 0;
        }
        if (c == '(' && !paren) {
            paren = true;
        } else if (c == ')' && paren) {
            paren = false;
        } else if (c == '"') {
            for (j++; j < ln->n && ln->p[j] != '"'; j++)
                if (!ic_is(ln->p[j], IC_TEXT) || ln->p[j] == '\\')
                    LFAIL(lx, OSEC_EPARSE, "Invalid characters in section");
            if (j >= ln->n)
                break;
        } else if (c == '[' || (c != ' ' && !ic_is(c, IC_ATOM))) {
            LFAIL(lx, OSEC_EPARSE, "Invalid characters in section");
        }
    }
    LFAIL(lx, OSEC_EPARSE, "Unterminated section");
}

static int lex_atom(struct imap_lex *lx, struct line *ln)
{
    size_t s = ln->i, i = s + (ln->p[s] == '\\');
    struct osec_imap_arg *a;

    for (;;) {
        if (i < ln->n && ln->p[i] == '[')
            OSEC_GUARD(lex_section(lx, ln, &i));
        else if (i < ln->n && ic_is(ln->p[i], IC_LIST))
            i++;
        else
            break;
    }
    if (i == s + (ln->p[s] == '\\'))
        LFAIL(lx, OSEC_EPARSE, "Invalid characters in atom");
    if (i < ln->n && ln->p[i] != ' ' && ln->p[i] != ')')
        LFAIL(lx, OSEC_EPARSE, "Invalid characters in atom");
    OSEC_GUARD(node_add(lx, OSEC_IMAP_ATOM, osec_slice_make(ln->p + s, i - s), &a));
    ln->i = i;
    lx->state = IMAP_S_AFTER;
    return 0;
}

/* One token or separator at ln->i. */
static int lex_step(struct imap_lex *lx, struct line *ln)
{
    uint8_t c = ln->p[ln->i];

    if (lx->state == IMAP_S_AFTER) {
        if (c == ' ') {
            lx->state = IMAP_S_NEED;
            ln->i++;
            return 0;
        }
        if (c != ')')
            LFAIL(lx, OSEC_EPARSE, "Missing space between arguments");
    }
    switch (c) {
    case ')':
        ln->i++;
        return close_list(lx);
    case '(':
        ln->i++;
        return open_list(lx);
    case '"':
        return lex_quoted(lx, ln);
    case '{':
        return lex_literal(lx, ln);
    case ' ':
        LFAIL(lx, OSEC_EPARSE, "Double space");
    default:
        return lex_atom(lx, ln);
    }
}

/* ---- tag and command name ----------------------------------------------------- */

static const struct {
    const char *s;
    uint8_t v;
} names[] = {
    { "CAPABILITY", OSEC_IMAP_CMD_CAPABILITY }, { "NOOP", OSEC_IMAP_CMD_NOOP },
    { "LOGOUT", OSEC_IMAP_CMD_LOGOUT }, { "STARTTLS", OSEC_IMAP_CMD_STARTTLS },
    { "AUTHENTICATE", OSEC_IMAP_CMD_AUTHENTICATE }, { "LOGIN", OSEC_IMAP_CMD_LOGIN },
    { "SELECT", OSEC_IMAP_CMD_SELECT }, { "EXAMINE", OSEC_IMAP_CMD_EXAMINE },
    { "CREATE", OSEC_IMAP_CMD_CREATE }, { "DELETE", OSEC_IMAP_CMD_DELETE },
    { "RENAME", OSEC_IMAP_CMD_RENAME }, { "SUBSCRIBE", OSEC_IMAP_CMD_SUBSCRIBE },
    { "UNSUBSCRIBE", OSEC_IMAP_CMD_UNSUBSCRIBE }, { "LIST", OSEC_IMAP_CMD_LIST },
    { "LSUB", OSEC_IMAP_CMD_LSUB }, { "STATUS", OSEC_IMAP_CMD_STATUS },
    { "APPEND", OSEC_IMAP_CMD_APPEND }, { "CHECK", OSEC_IMAP_CMD_CHECK },
    { "CLOSE", OSEC_IMAP_CMD_CLOSE }, { "EXPUNGE", OSEC_IMAP_CMD_EXPUNGE },
    { "SEARCH", OSEC_IMAP_CMD_SEARCH }, { "FETCH", OSEC_IMAP_CMD_FETCH },
    { "STORE", OSEC_IMAP_CMD_STORE }, { "COPY", OSEC_IMAP_CMD_COPY },
    { "NAMESPACE", OSEC_IMAP_CMD_NAMESPACE }, { "IDLE", OSEC_IMAP_CMD_IDLE },
    { "UNSELECT", OSEC_IMAP_CMD_UNSELECT }, { "GETACL", OSEC_IMAP_CMD_GETACL },
    { "SETACL", OSEC_IMAP_CMD_SETACL }, { "DELETEACL", OSEC_IMAP_CMD_DELETEACL },
    { "LISTRIGHTS", OSEC_IMAP_CMD_LISTRIGHTS }, { "MYRIGHTS", OSEC_IMAP_CMD_MYRIGHTS },
    { "GETMETADATA", OSEC_IMAP_CMD_GETMETADATA }, { "SETMETADATA", OSEC_IMAP_CMD_SETMETADATA },
    { "ENABLE", OSEC_IMAP_CMD_ENABLE }, { "ID", OSEC_IMAP_CMD_ID },
};

static uint8_t lookup(struct osec_slice s, bool uid)
{
    if (uid) {
        if (osec_imap_ci(s, "FETCH"))
            return OSEC_IMAP_CMD_UID_FETCH;
        if (osec_imap_ci(s, "STORE"))
            return OSEC_IMAP_CMD_UID_STORE;
        if (osec_imap_ci(s, "COPY"))
            return OSEC_IMAP_CMD_UID_COPY;
        if (osec_imap_ci(s, "SEARCH"))
            return OSEC_IMAP_CMD_UID_SEARCH;
        if (osec_imap_ci(s, "EXPUNGE"))
            return OSEC_IMAP_CMD_UID_EXPUNGE;
        return OSEC_IMAP_CMD_UNKNOWN;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (osec_imap_ci(s, names[i].s))
            return names[i].v;
    return OSEC_IMAP_CMD_UNKNOWN;
}

static int lex_tag(struct imap_lex *lx, struct line *ln)
{
    size_t i = 0;

    if (ln->n == 0)
        LFAIL(lx, OSEC_EPARSE, "Empty command line");
    while (i < ln->n && ic_is(ln->p[i], IC_TAG))
        i++;
    if (i == 0 || (i < ln->n && ln->p[i] != ' '))
        LFAIL(lx, OSEC_EPARSE, "Invalid tag");
    lx->tag_len = i;
    if (i + 1 >= ln->n)
        LFAIL(lx, OSEC_EPARSE, "Missing command name");
    ln->i = i + 1;
    lx->phase = IMAP_P_NAME;
    return 0;
}

/* An atom at ln->i, ending at SP or the end of the line. */
static int name_word(struct imap_lex *lx, struct line *ln, struct osec_slice *w)
{
    size_t s = ln->i, i = s;

    while (i < ln->n && ic_is(ln->p[i], IC_ATOM))
        i++;
    if (i == s)
        LFAIL(lx, OSEC_EPARSE, "Missing command name");
    if (i < ln->n && ln->p[i] != ' ')
        LFAIL(lx, OSEC_EPARSE, "Invalid command name");
    *w = osec_slice_make(ln->p + s, i - s);
    ln->i = i;
    return 0;
}

static int lex_name(struct imap_lex *lx, struct line *ln)
{
    size_t start = ln->i;
    struct osec_slice w;

    OSEC_GUARD(name_word(lx, ln, &w));
    if (osec_imap_ci(w, "UID")) {
        lx->uid = 1;
        if (ln->i + 1 >= ln->n)
            LFAIL(lx, OSEC_EPARSE, "Missing UID command");
        ln->i++;
        OSEC_GUARD(name_word(lx, ln, &w));
    }
    lx->name = lookup(w, lx->uid);
    lx->name_len = ln->i - start;
    lx->phase = IMAP_P_ARGS;
    lx->state = IMAP_S_AFTER;
    return 0;
}

int osec_imap_lex_line(struct imap_lex *lx, size_t off, size_t n)
{
    struct line ln = { lx->base + off, off, n, 0 };

    lx->lit = false;
    if (lx->phase == IMAP_P_TAG)
        OSEC_GUARD(lex_tag(lx, &ln));
    if (lx->phase == IMAP_P_NAME)
        OSEC_GUARD(lex_name(lx, &ln));
    while (ln.i < ln.n)
        OSEC_GUARD(lex_step(lx, &ln));
    if (lx->state == IMAP_S_NEED)
        LFAIL(lx, OSEC_EPARSE, "Trailing space");
    return 0;
}
