/* FETCH arguments: attributes, macros, BODY[section]<partial>, and the
 * CONDSTORE CHANGEDSINCE modifier (RFC 3501 6.4.5, RFC 7162 3.1.4). */
#include <string.h>

#include "omasec/error.h"
#include "proto/imap_int.h"

static const struct {
    const char *name;
    uint32_t bits;
} atts[] = {
    { "FLAGS", OSEC_IMAP_FETCH_FLAGS },
    { "UID", OSEC_IMAP_FETCH_UID },
    { "INTERNALDATE", OSEC_IMAP_FETCH_INTERNALDATE },
    { "RFC822.SIZE", OSEC_IMAP_FETCH_RFC822_SIZE },
    { "ENVELOPE", OSEC_IMAP_FETCH_ENVELOPE },
    { "BODY", OSEC_IMAP_FETCH_BODY },
    { "BODYSTRUCTURE", OSEC_IMAP_FETCH_BODYSTRUCTURE },
    { "RFC822", OSEC_IMAP_FETCH_RFC822 },
    { "RFC822.HEADER", OSEC_IMAP_FETCH_RFC822_HEADER },
    { "RFC822.TEXT", OSEC_IMAP_FETCH_RFC822_TEXT },
    { "MODSEQ", OSEC_IMAP_FETCH_MODSEQ },
};

#define FAST (OSEC_IMAP_FETCH_FLAGS | OSEC_IMAP_FETCH_INTERNALDATE | OSEC_IMAP_FETCH_RFC822_SIZE)

static const struct {
    const char *name;
    uint32_t bits;
} macros[] = {
    { "ALL", FAST | OSEC_IMAP_FETCH_ENVELOPE },
    { "FAST", FAST },
    { "FULL", FAST | OSEC_IMAP_FETCH_ENVELOPE | OSEC_IMAP_FETCH_BODY },
};

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* nz-number at s[*i] (digits up to a non-digit). */
static bool nz_number(struct osec_slice s, size_t *i, uint32_t *v)
{
    size_t j = *i;
    uint64_t n;

    while (j < s.len && is_digit(s.ptr[j]))
        j++;
    if (j == *i || s.ptr[*i] == '0' ||
        !osec_imap_num(osec_slice_make(s.ptr + *i, j - *i), UINT32_MAX, &n))
        return false;
    *i = j;
    *v = (uint32_t)n;
    return true;
}

/* section-part: nz-number *("." nz-number), then "." before any text. */
static int section_parts(struct osec_slice spec, struct osec_imap_section *s, size_t *pi)
{
    size_t i = 0;

    while (i < spec.len && is_digit(spec.ptr[i])) {
        if (s->nparts >= OSEC_IMAP_PART_MAX)
            IMAP_BAD("section part too deep");
        if (!nz_number(spec, &i, &s->part[s->nparts++]))
            IMAP_BAD("invalid section part");
        if (i == spec.len)
            break;
        if (spec.ptr[i++] != '.' || i == spec.len)
            IMAP_BAD("invalid section part");
    }
    *pi = i;
    return 0;
}

/* RFC 5322 field name: printable ASCII except ":"; as an atom also only
 * ASTRING-CHARs, quoted also no DQUOTE. */
static bool field_name_ok(struct osec_slice n, bool quoted)
{
    if (n.len == 0)
        return false;
    for (size_t i = 0; i < n.len; i++) {
        uint8_t c = n.ptr[i];

        if (c < 33 || c > 126 || c == ':' || c == '"' || (!quoted && !ic_is(c, IC_ASTR)))
            return false;
    }
    return true;
}

/* "(" name *(SP name) ")" and nothing after; names atoms or quoted. */
static int header_list(struct osec_slice l, struct osec_imap_section *s)
{
    struct osec_slice name;
    size_t pos = 0;
    int rc;

    if (l.len < 3 || l.ptr[0] != '(' || l.ptr[l.len - 1] != ')')
        IMAP_BAD("invalid header list");
    s->fields = osec_slice_make(l.ptr + 1, l.len - 2);
    for (size_t i = 0; i < s->fields.len; i++)
        if (s->fields.ptr[i] == ' ' &&
            (i == 0 || i + 1 == s->fields.len || s->fields.ptr[i + 1] == ' '))
            IMAP_BAD("invalid header list");
    while ((rc = osec_imap_section_field_next(s, &pos, &name)) == 1)
        ;
    return rc;
}

static int section_text(struct osec_slice t, struct osec_imap_section *s)
{
    if (t.len == 0)
        s->text = OSEC_IMAP_SECT_WHOLE;
    else if (osec_imap_ci(t, "HEADER"))
        s->text = OSEC_IMAP_SECT_HEADER;
    else if (osec_imap_ci(t, "TEXT"))
        s->text = OSEC_IMAP_SECT_TEXT;
    else if (osec_imap_ci(t, "MIME") && s->nparts > 0)
        s->text = OSEC_IMAP_SECT_MIME;
    else if (osec_slice_starts_ci(t, "HEADER.FIELDS.NOT ")) {
        s->text = OSEC_IMAP_SECT_HEADER_FIELDS_NOT;
        return header_list(osec_slice_sub(t, 18, t.len), s);
    } else if (osec_slice_starts_ci(t, "HEADER.FIELDS ")) {
        s->text = OSEC_IMAP_SECT_HEADER_FIELDS;
        return header_list(osec_slice_sub(t, 14, t.len), s);
    } else
        IMAP_BAD("invalid section");
    return 0;
}

/* "<" number "." nz-number ">" */
static int partial(struct osec_slice p, struct osec_imap_section *s)
{
    size_t i = 1, j;
    uint64_t off;

    if (p.len == 0)
        return 0;
    if (p.len < 5 || p.ptr[0] != '<' || p.ptr[p.len - 1] != '>')
        IMAP_BAD("invalid partial");
    for (j = i; j < p.len && is_digit(p.ptr[j]); j++)
        ;
    if (!osec_imap_num(osec_slice_make(p.ptr + i, j - i), UINT32_MAX, &off) || j >= p.len ||
        p.ptr[j] != '.')
        IMAP_BAD("invalid partial");
    i = j + 1;
    if (!nz_number(p, &i, &s->length) || i != p.len - 1)
        IMAP_BAD("invalid partial");
    s->offset = (uint32_t)off;
    s->partial = true;
    return 0;
}

/* BODY[...]<...> or BODY.PEEK[...]<...> */
static int section_att(struct osec_slice v, struct osec_imap_fetch *out)
{
    long open = osec_slice_find(v, '[');
    struct osec_slice pre = osec_slice_make(v.ptr, (size_t)open), rest;
    struct osec_imap_section *s;
    long close;
    size_t i = 0;

    if (out->nsections >= OSEC_IMAP_SECTIONS_MAX)
        OSEC_BAIL(OSEC_EBOUNDS, "imap: too many sections");
    s = &out->section[out->nsections];
    memset(s, 0, sizeof(*s));
    s->peek = osec_imap_ci(pre, "BODY.PEEK");
    if (!s->peek && !osec_imap_ci(pre, "BODY"))
        IMAP_BAD("invalid fetch attribute");
    rest = osec_slice_sub(v, (size_t)open + 1, v.len);
    close = osec_slice_find(rest, ']');
    if (close < 0)
        IMAP_BAD("invalid section");
    s->spec = osec_slice_make(rest.ptr, (size_t)close);
    OSEC_GUARD(section_parts(s->spec, s, &i));
    OSEC_GUARD(section_text(osec_slice_sub(s->spec, i, s->spec.len), s));
    OSEC_GUARD(partial(osec_slice_sub(rest, (size_t)close + 1, rest.len), s));
    out->nsections++;
    return 0;
}

static int fetch_att(const struct osec_imap_arg *a, struct osec_imap_fetch *out)
{
    if (!osec_imap_atomish(a))
        IMAP_BAD("invalid fetch attribute");
    if (osec_slice_find(a->val, '[') >= 0)
        return section_att(a->val, out);
    for (size_t i = 0; i < sizeof(atts) / sizeof(atts[0]); i++) {
        if (osec_imap_ci(a->val, atts[i].name)) {
            out->items |= atts[i].bits;
            return 0;
        }
    }
    IMAP_BAD("invalid fetch attribute");
}

static int fetch_atts(const struct osec_imap_cmd *cmd, const struct osec_imap_arg *a,
                      struct osec_imap_fetch *out)
{
    struct osec_imap_iter it;
    const struct osec_imap_arg *e;

    if (a && a->type != OSEC_IMAP_LIST) {
        for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++) {
            if (osec_imap_arg_is(a, macros[i].name)) {
                out->items |= macros[i].bits;
                return 0;
            }
        }
        return fetch_att(a, out);
    }
    if (!a || a->count == 0)
        IMAP_BAD("missing fetch attributes");
    osec_imap_iter_init(&it, cmd, a);
    while ((e = osec_imap_iter_next(&it)) != NULL)
        OSEC_GUARD(fetch_att(e, out));
    return 0;
}

static int fetch_modifiers(const struct osec_imap_cmd *cmd, const struct osec_imap_arg *list,
                           struct osec_imap_fetch *out)
{
    struct osec_imap_iter it;

    if (list->type != OSEC_IMAP_LIST || list->count != 2)
        IMAP_BAD("invalid FETCH modifier");
    osec_imap_iter_init(&it, cmd, list);
    if (!osec_imap_arg_is(osec_imap_iter_next(&it), "CHANGEDSINCE"))
        IMAP_BAD("invalid FETCH modifier");
    OSEC_GUARD(osec_imap_arg_number(osec_imap_iter_next(&it), INT64_MAX, &out->changedsince));
    out->has_changedsince = true;
    out->items |= OSEC_IMAP_FETCH_MODSEQ;
    return 0;
}

int osec_imap_fetch_parse(const struct osec_imap_cmd *cmd, struct osec_imap_fetch *out)
{
    const struct osec_imap_arg *a = osec_imap_arg_at(cmd, 0);

    memset(out, 0, sizeof(*out));
    if (cmd->argc < 2 || cmd->argc > 3)
        IMAP_BAD("FETCH needs a sequence set and attributes");
    if (!osec_imap_atomish(a) || !osec_imap_seq_valid(a->val, OSEC_IMAP_SEQ_DOLLAR))
        IMAP_BAD("invalid sequence set");
    out->seqset = a->val;
    OSEC_GUARD(fetch_atts(cmd, osec_imap_arg_at(cmd, 1), out));
    if (cmd->argc == 3)
        OSEC_GUARD(fetch_modifiers(cmd, osec_imap_arg_at(cmd, 2), out));
    if (cmd->uid)
        out->items |= OSEC_IMAP_FETCH_UID;
    return 0;
}

int osec_imap_section_field_next(const struct osec_imap_section *sect, size_t *pos,
                                 struct osec_slice *name)
{
    struct osec_slice f = sect->fields;
    size_t i = *pos, s;
    bool quoted;

    while (i < f.len && f.ptr[i] == ' ')
        i++;
    if (i >= f.len)
        return 0;
    quoted = f.ptr[i] == '"';
    s = i + quoted;
    for (i = s; i < f.len && f.ptr[i] != (quoted ? '"' : ' '); i++)
        ;
    *name = osec_slice_make(f.ptr + s, i - s);
    if (quoted && i++ >= f.len)
        IMAP_BAD("unterminated header name");
    if ((i < f.len && f.ptr[i] != ' ') || !field_name_ok(*name, quoted))
        IMAP_BAD("invalid header field name");
    *pos = i;
    return 1;
}
