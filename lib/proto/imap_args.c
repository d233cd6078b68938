/* Access to parsed IMAP arguments: iteration, typed views, sequence sets,
 * dates, flag lists, and the argument shape of each known command. */
#include <string.h>

#include "omasec/error.h"
#include "proto/imap_int.h"

/* ---- iteration -------------------------------------------------------------- */

void osec_imap_iter_init(struct osec_imap_iter *it, const struct osec_imap_cmd *cmd,
                         const struct osec_imap_arg *list)
{
    it->nodes = cmd->nodes;
    if (list && list->type == OSEC_IMAP_LIST) {
        it->idx = (size_t)(list - cmd->nodes) + 1;
        it->left = list->count;
    } else {
        it->idx = 0;
        it->left = list ? 0 : cmd->argc;
    }
}

const struct osec_imap_arg *osec_imap_iter_peek(const struct osec_imap_iter *it)
{
    return it->left > 0 ? &it->nodes[it->idx] : NULL;
}

const struct osec_imap_arg *osec_imap_iter_next(struct osec_imap_iter *it)
{
    const struct osec_imap_arg *a = osec_imap_iter_peek(it);

    if (a) {
        it->left--;
        it->idx = a->next;
    }
    return a;
}

const struct osec_imap_arg *osec_imap_arg_at(const struct osec_imap_cmd *cmd, size_t i)
{
    struct osec_imap_iter it;
    const struct osec_imap_arg *a;

    osec_imap_iter_init(&it, cmd, NULL);
    do
        a = osec_imap_iter_next(&it);
    while (a && i-- > 0);
    return a;
}

/* ---- typed views -------------------------------------------------------------- */

bool osec_imap_atomish(const struct osec_imap_arg *a)
{
    return a && (a->type == OSEC_IMAP_ATOM || a->type == OSEC_IMAP_NUMBER ||
                 a->type == OSEC_IMAP_SEQSET || a->type == OSEC_IMAP_NIL);
}

static bool stringish(const struct osec_imap_arg *a)
{
    return a && (a->type == OSEC_IMAP_QUOTED || a->type == OSEC_IMAP_LITERAL);
}

int osec_imap_arg_string(const struct osec_imap_arg *a, struct osec_slice *out)
{
    if (!stringish(a))
        IMAP_BAD("expected a string");
    *out = a->val;
    return 0;
}

int osec_imap_arg_astring(const struct osec_imap_arg *a, struct osec_slice *out)
{
    if (stringish(a))
        return osec_imap_arg_string(a, out);
    if (!osec_imap_atomish(a) || !osec_imap_all(a->val, IC_ASTR))
        IMAP_BAD("expected an astring");
    *out = a->val;
    return 0;
}

int osec_imap_arg_nstring(const struct osec_imap_arg *a, struct osec_slice *out, bool *nil)
{
    *nil = a && a->type == OSEC_IMAP_NIL;
    if (*nil) {
        *out = osec_slice_make(NULL, 0);
        return 0;
    }
    return osec_imap_arg_string(a, out);
}

int osec_imap_arg_atom(const struct osec_imap_arg *a, struct osec_slice *out)
{
    if (!osec_imap_atomish(a) || !osec_imap_all(a->val, IC_ATOM))
        IMAP_BAD("expected an atom");
    *out = a->val;
    return 0;
}

int osec_imap_arg_pattern(const struct osec_imap_arg *a, struct osec_slice *out)
{
    if (stringish(a))
        return osec_imap_arg_string(a, out);
    if (!osec_imap_atomish(a) || !osec_imap_all(a->val, IC_LIST))
        IMAP_BAD("expected a mailbox pattern");
    *out = a->val;
    return 0;
}

int osec_imap_arg_number(const struct osec_imap_arg *a, uint64_t max, uint64_t *out)
{
    if (!a || a->type != OSEC_IMAP_NUMBER || a->num > max)
        IMAP_BAD("expected a number");
    *out = a->num;
    return 0;
}

bool osec_imap_arg_is(const struct osec_imap_arg *a, const char *word)
{
    return osec_imap_atomish(a) && osec_imap_ci(a->val, word);
}

/* ---- sequence sets ---------------------------------------------------------------- */

/* seq-number at s[*i]: nz-number (no leading zero, <= 2^32-1) or "*" (0). */
static bool seq_number(struct osec_slice s, size_t *i, uint32_t *v)
{
    size_t j = *i;
    uint64_t n;

    if (j < s.len && s.ptr[j] == '*') {
        *i = j + 1;
        *v = 0;
        return true;
    }
    while (j < s.len && ic_is(s.ptr[j], IC_DIGIT))
        j++;
    if (j == *i || s.ptr[*i] == '0' ||
        !osec_imap_num(osec_slice_make(s.ptr + *i, j - *i), UINT32_MAX, &n))
        return false;
    *i = j;
    *v = (uint32_t)n;
    return true;
}

/* One element (number or range) at *i; raw values, 0 meaning "*". */
static bool seq_elem(struct osec_slice s, size_t *i, uint32_t *a, uint32_t *b)
{
    if (!seq_number(s, i, a))
        return false;
    *b = *a;
    if (*i < s.len && s.ptr[*i] == ':') {
        (*i)++;
        return seq_number(s, i, b);
    }
    return true;
}

bool osec_imap_seq_valid(struct osec_slice s, unsigned flags)
{
    size_t i = 0;
    uint32_t a, b;

    if (s.len == 1 && s.ptr[0] == '$')
        return (flags & OSEC_IMAP_SEQ_DOLLAR) != 0;
    for (;;) {
        if (!seq_elem(s, &i, &a, &b))
            return false;
        if (i == s.len)
            return true;
        if (s.ptr[i++] != ',')
            return false;
    }
}

int osec_imap_seqset_check(struct osec_slice s, unsigned flags)
{
    if (!osec_imap_seq_valid(s, flags))
        IMAP_BAD("invalid sequence set");
    return 0;
}

void osec_imap_seqiter_init(struct osec_imap_seqiter *it, struct osec_slice s)
{
    it->s = s;
    it->pos = 0;
}

int osec_imap_seqiter_next(struct osec_imap_seqiter *it, uint32_t star, uint32_t *lo, uint32_t *hi)
{
    uint32_t a, b;

    if (it->pos >= it->s.len)
        return 0;
    if (it->pos > 0 && it->s.ptr[it->pos++] != ',')
        IMAP_BAD("invalid sequence set");
    if (!seq_elem(it->s, &it->pos, &a, &b) ||
        (it->pos < it->s.len && it->s.ptr[it->pos] != ','))
        IMAP_BAD("invalid sequence set");
    a = a ? a : star;
    b = b ? b : star;
    *lo = a < b ? a : b;
    *hi = a < b ? b : a;
    return 1;
}

bool osec_imap_seqset_contains(struct osec_slice s, uint32_t star, uint32_t n)
{
    struct osec_imap_seqiter it;
    uint32_t lo, hi;

    osec_imap_seqiter_init(&it, s);
    while (osec_imap_seqiter_next(&it, star, &lo, &hi) == 1)
        if (n >= lo && n <= hi)
            return true;
    return false;
}

/* ---- dates ------------------------------------------------------------------------ */

static int mdays(int y, int m)
{
    static const int d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : d[m - 1];
}

static bool digits(const uint8_t *p, size_t n, int *v)
{
    uint64_t x;

    if (!osec_imap_all(osec_slice_make(p, n), IC_DIGIT) ||
        !osec_imap_num(osec_slice_make(p, n), 9999, &x))
        return false;
    *v = (int)x;
    return true;
}

/* "d-Mon-yyyy" with 1 or 2 day digits (day given as its digits). */
static int ymd(struct osec_slice day, struct osec_slice rest, int64_t *t)
{
    int d, m, y;

    if (day.len < 1 || day.len > 2 || !digits(day.ptr, day.len, &d) || rest.len != 9 ||
        rest.ptr[0] != '-' || rest.ptr[4] != '-')
        IMAP_BAD("invalid date");
    m = osec_imap_month(osec_slice_make(rest.ptr + 1, 3));
    if (m == 0 || !digits(rest.ptr + 5, 4, &y) || y < 1900 || d < 1 || d > mdays(y, m))
        IMAP_BAD("invalid date");
    *t = osec_imap_days(y, m, d);
    return 0;
}

int osec_imap_date_parse(struct osec_slice s, int64_t *t)
{
    long dash = osec_slice_find(s, '-');

    if (dash < 0)
        IMAP_BAD("invalid date");
    return ymd(osec_slice_make(s.ptr, (size_t)dash), osec_slice_sub(s, (size_t)dash, s.len), t);
}

/* "hh:mm:ss +zzzz" */
static int hms_zone(const uint8_t *p, int64_t *secs)
{
    int h, mi, se, zh, zm;

    if (p[2] != ':' || p[5] != ':' || p[8] != ' ' || (p[9] != '+' && p[9] != '-') ||
        !digits(p, 2, &h) || !digits(p + 3, 2, &mi) || !digits(p + 6, 2, &se) ||
        !digits(p + 10, 2, &zh) || !digits(p + 12, 2, &zm) || h > 23 || mi > 59 || se > 60 ||
        zh > 23 || zm > 59)
        IMAP_BAD("invalid date-time");
    *secs = (int64_t)h * 3600 + mi * 60 + se - (p[9] == '+' ? 1 : -1) * (zh * 3600 + zm * 60);
    return 0;
}

int osec_imap_datetime_parse(struct osec_slice s, int64_t *t)
{
    struct osec_slice day;
    int64_t secs = 0;

    if (s.len != 26 || s.ptr[11] != ' ')
        IMAP_BAD("invalid date-time");
    day = s.ptr[0] == ' ' ? osec_slice_make(s.ptr + 1, 1) : osec_slice_make(s.ptr, 2);
    OSEC_GUARD(ymd(day, osec_slice_make(s.ptr + 2, 9), t));
    OSEC_GUARD(hms_zone(s.ptr + 12, &secs));
    *t += secs;
    return 0;
}

/* ---- flags ---------------------------------------------------------------------- */

static const struct {
    const char *name;
    uint32_t bit;
} sysflags[] = {
    { "\\Answered", OSEC_IMAP_FLAG_ANSWERED }, { "\\Flagged", OSEC_IMAP_FLAG_FLAGGED },
    { "\\Deleted", OSEC_IMAP_FLAG_DELETED },   { "\\Seen", OSEC_IMAP_FLAG_SEEN },
    { "\\Draft", OSEC_IMAP_FLAG_DRAFT },
};

int osec_imap_flag_add(const struct osec_imap_arg *a, struct osec_imap_flags *f)
{
    if (!osec_imap_atomish(a))
        IMAP_BAD("invalid flag");
    if (a->val.len > 0 && a->val.ptr[0] == '\\') {
        for (size_t i = 0; i < sizeof(sysflags) / sizeof(sysflags[0]); i++) {
            if (osec_imap_ci(a->val, sysflags[i].name)) {
                f->system |= sysflags[i].bit;
                return 0;
            }
        }
        IMAP_BAD("invalid system flag");
    }
    if (!osec_imap_all(a->val, IC_ATOM))
        IMAP_BAD("invalid keyword");
    for (size_t i = 0; i < f->nkeywords; i++)
        if (osec_slice_eq(f->keyword[i], a->val))
            return 0;
    OSEC_ENSURE(f->nkeywords < OSEC_IMAP_KEYWORDS_MAX, OSEC_EBOUNDS, "imap: too many keywords");
    f->keyword[f->nkeywords++] = a->val;
    return 0;
}

int osec_imap_flags_parse(const struct osec_imap_cmd *cmd, const struct osec_imap_arg *list,
                          struct osec_imap_flags *out)
{
    struct osec_imap_iter it;
    const struct osec_imap_arg *a;

    memset(out, 0, sizeof(*out));
    if (!list || list->type != OSEC_IMAP_LIST)
        IMAP_BAD("expected a flag list");
    osec_imap_iter_init(&it, cmd, list);
    while ((a = osec_imap_iter_next(&it)) != NULL)
        OSEC_GUARD(osec_imap_flag_add(a, out));
    return 0;
}

/* ---- command shapes ----------------------------------------------------------------- */

/* Per argument: a astring, p pattern, s sequence set, l list, t atom, x
 * anything; "?" starts the optional tail; "*" accepts any further args. */
static const char *const shapes[OSEC_IMAP_CMD_COUNT_] = {
    [OSEC_IMAP_CMD_CAPABILITY] = "", [OSEC_IMAP_CMD_NOOP] = "", [OSEC_IMAP_CMD_LOGOUT] = "",
    [OSEC_IMAP_CMD_STARTTLS] = "", [OSEC_IMAP_CMD_AUTHENTICATE] = "t?t",
    [OSEC_IMAP_CMD_LOGIN] = "aa", [OSEC_IMAP_CMD_SELECT] = "a?l", [OSEC_IMAP_CMD_EXAMINE] = "a?l",
    [OSEC_IMAP_CMD_CREATE] = "a?l", [OSEC_IMAP_CMD_DELETE] = "a", [OSEC_IMAP_CMD_RENAME] = "aa",
    [OSEC_IMAP_CMD_SUBSCRIBE] = "a", [OSEC_IMAP_CMD_UNSUBSCRIBE] = "a",
    [OSEC_IMAP_CMD_LIST] = "xx?xxx", [OSEC_IMAP_CMD_LSUB] = "ap", [OSEC_IMAP_CMD_STATUS] = "al",
    [OSEC_IMAP_CMD_APPEND] = "ax?xx", [OSEC_IMAP_CMD_CHECK] = "", [OSEC_IMAP_CMD_CLOSE] = "",
    [OSEC_IMAP_CMD_EXPUNGE] = "", [OSEC_IMAP_CMD_SEARCH] = "x*", [OSEC_IMAP_CMD_FETCH] = "sx?l",
    [OSEC_IMAP_CMD_STORE] = "sxx*", [OSEC_IMAP_CMD_COPY] = "sa",
    [OSEC_IMAP_CMD_UID_FETCH] = "sx?l", [OSEC_IMAP_CMD_UID_STORE] = "sxx*",
    [OSEC_IMAP_CMD_UID_COPY] = "sa", [OSEC_IMAP_CMD_UID_SEARCH] = "x*",
    [OSEC_IMAP_CMD_UID_EXPUNGE] = "s", [OSEC_IMAP_CMD_NAMESPACE] = "", [OSEC_IMAP_CMD_IDLE] = "",
    [OSEC_IMAP_CMD_UNSELECT] = "", [OSEC_IMAP_CMD_GETACL] = "a", [OSEC_IMAP_CMD_SETACL] = "aaa",
    [OSEC_IMAP_CMD_DELETEACL] = "aa", [OSEC_IMAP_CMD_LISTRIGHTS] = "aa",
    [OSEC_IMAP_CMD_MYRIGHTS] = "a", [OSEC_IMAP_CMD_GETMETADATA] = "xx?x",
    [OSEC_IMAP_CMD_SETMETADATA] = "al", [OSEC_IMAP_CMD_ENABLE] = "t*", [OSEC_IMAP_CMD_ID] = "x",
};

static bool shape_ok(char k, const struct osec_imap_arg *a)
{
    struct osec_slice v;

    switch (k) {
    case 'a':
        return osec_imap_arg_astring(a, &v) == 0;
    case 'p':
        return osec_imap_arg_pattern(a, &v) == 0;
    case 's':
        return osec_imap_atomish(a) && osec_imap_seq_valid(a->val, OSEC_IMAP_SEQ_DOLLAR);
    case 'l':
        return a->type == OSEC_IMAP_LIST;
    case 't':
        return osec_imap_arg_atom(a, &v) == 0;
    default:
        return true;
    }
}

int osec_imap_cmd_check(const struct osec_imap_cmd *cmd)
{
    const char *k = (unsigned)cmd->name < OSEC_IMAP_CMD_COUNT_ ? shapes[cmd->name] : NULL;
    struct osec_imap_iter it;
    const struct osec_imap_arg *a;
    bool optional = false;

    OSEC_ENSURE(k != NULL, OSEC_EPARSE, "imap: unknown command");
    osec_imap_iter_init(&it, cmd, NULL);
    for (; *k; k++) {
        if (*k == '?' || *k == '*') {
            optional = true;
            if (*k == '*')
                return 0;
            continue;
        }
        a = osec_imap_iter_next(&it);
        if (!a && optional)
            return 0;
        OSEC_ENSURE(a != NULL, OSEC_EPARSE, "imap: missing argument");
        OSEC_ENSURE(shape_ok(*k, a), OSEC_EPARSE, "imap: invalid argument");
    }
    OSEC_ENSURE(osec_imap_iter_peek(&it) == NULL, OSEC_EPARSE, "imap: too many arguments");
    return 0;
}
