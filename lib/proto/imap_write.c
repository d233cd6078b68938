/* IMAP response writer.  Everything it writes re-parses with our own
 * character classes; text that must stay on one line is checked so that
 * no caller can inject a CRLF (a forged tagged response) into the stream. */
#include <string.h>

#include "omasec/error.h"
#include "proto/imap_int.h"

#define QUOTED_MAX 1024 /* longer strings go out as literals */

static const char *const status_names[] = { "OK", "NO", "BAD", "BYE", "PREAUTH" };

/* Undo a partial write: out as it was at start. */
static int restore(struct osec_buf *out, size_t start, int rc)
{
    out->len = start;
    if (out->data)
        out->data[start] = '\0';
    return rc;
}

static bool text_ok(const char *s, bool allow_empty, bool code)
{
    struct osec_slice t = osec_slice_cstr(s);

    if (t.len == 0)
        return allow_empty;
    return osec_imap_all(t, IC_TEXT) && !(code && osec_slice_find(t, ']') >= 0);
}

/* [ "[" code "]" SP ] text CRLF */
static int resp_text(struct osec_buf *out, const char *code, const char *text)
{
    if (code) {
        OSEC_GUARD(osec_buf_putc(out, '['));
        OSEC_GUARD(osec_buf_append_str(out, code));
        OSEC_GUARD(osec_buf_append_str(out, "] "));
    }
    OSEC_GUARD(osec_buf_append_str(out, text));
    return osec_buf_append_str(out, "\r\n");
}

static int cond(struct osec_buf *out, const char *prefix, struct osec_slice tag,
                enum osec_imap_status st, const char *code, const char *text)
{
    size_t start = out->len;
    int rc;

    OSEC_ENSURE(text && text_ok(text, false, false) && (!code || text_ok(code, false, true)),
                OSEC_EINVAL, "imap: response text must be one line of 7-bit text");
    if ((rc = osec_buf_append_str(out, prefix)) != 0 ||
        (rc = osec_buf_append_slice(out, tag)) != 0 || (rc = osec_buf_putc(out, ' ')) != 0 ||
        (rc = osec_buf_append_str(out, status_names[st])) != 0 ||
        (rc = osec_buf_putc(out, ' ')) != 0 || (rc = resp_text(out, code, text)) != 0)
        return restore(out, start, rc);
    return 0;
}

int osec_imap_write_tagged(struct osec_buf *out, struct osec_slice tag, enum osec_imap_status st,
                           const char *code, const char *text)
{
    OSEC_ENSURE(osec_imap_all(tag, IC_TAG), OSEC_EINVAL, "imap: invalid tag");
    OSEC_ENSURE(st == OSEC_IMAP_OK || st == OSEC_IMAP_NO || st == OSEC_IMAP_BAD, OSEC_EINVAL,
                "imap: tagged status must be OK, NO or BAD");
    return cond(out, "", tag, st, code, text);
}

int osec_imap_write_status(struct osec_buf *out, enum osec_imap_status st, const char *code,
                           const char *text)
{
    OSEC_ENSURE((unsigned)st <= OSEC_IMAP_PREAUTH, OSEC_EINVAL, "imap: bad status");
    return cond(out, "", osec_slice_cstr("*"), st, code, text);
}

static int line(struct osec_buf *out, const char *prefix, const char *text, bool allow_empty)
{
    size_t start = out->len;
    int rc;

    OSEC_ENSURE(text && text_ok(text, allow_empty, false), OSEC_EINVAL,
                "imap: response line must be one line of 7-bit text");
    if ((rc = osec_buf_append_str(out, prefix)) != 0 ||
        (rc = osec_buf_append_str(out, text)) != 0 ||
        (rc = osec_buf_append_str(out, "\r\n")) != 0)
        return restore(out, start, rc);
    return 0;
}

int osec_imap_write_untagged(struct osec_buf *out, const char *text)
{
    return line(out, "* ", text, false);
}

int osec_imap_write_continue(struct osec_buf *out, const char *text)
{
    return line(out, "+ ", text, true);
}

/* ---- values ------------------------------------------------------------------ */

static int string_raw(struct osec_buf *out, struct osec_slice s)
{
    if (s.len <= QUOTED_MAX && (s.len == 0 || osec_imap_all(s, IC_TEXT))) {
        OSEC_GUARD(osec_buf_putc(out, '"'));
        for (size_t i = 0; i < s.len; i++) {
            if (s.ptr[i] == '"' || s.ptr[i] == '\\')
                OSEC_GUARD(osec_buf_putc(out, '\\'));
            OSEC_GUARD(osec_buf_append_u8(out, s.ptr[i]));
        }
        return osec_buf_putc(out, '"');
    }
    OSEC_GUARD(osec_buf_appendf(out, "{%zu}\r\n", s.len));
    return osec_buf_append_slice(out, s);
}

int osec_imap_write_string(struct osec_buf *out, struct osec_slice s)
{
    size_t start = out->len;
    int rc = string_raw(out, s);

    return rc ? restore(out, start, rc) : 0;
}

int osec_imap_write_astring(struct osec_buf *out, struct osec_slice s)
{
    if (osec_imap_all(s, IC_ASTR) && !osec_imap_ci(s, "NIL"))
        return osec_buf_append_slice(out, s);
    return osec_imap_write_string(out, s);
}

int osec_imap_write_nstring(struct osec_buf *out, const struct osec_slice *s)
{
    return s ? osec_imap_write_string(out, *s) : osec_buf_append_str(out, "NIL");
}

int osec_imap_write_mailbox(struct osec_buf *out, struct osec_slice utf8)
{
    struct osec_buf enc = OSEC_BUF_INIT(8 * OSEC_IMAP_MAILBOX_MAX);
    int rc = osec_imap_mailbox_encode(utf8, &enc);

    if (rc == 0)
        rc = osec_imap_write_astring(out, osec_buf_slice(&enc));
    osec_buf_free(&enc);
    return rc;
}

static const char *const flag_names[] = { "\\Answered", "\\Flagged", "\\Deleted",
                                          "\\Seen",     "\\Draft",   "\\Recent" };

static int flags_raw(struct osec_buf *out, const struct osec_imap_flags *f)
{
    bool sp = false;

    OSEC_GUARD(osec_buf_putc(out, '('));
    for (size_t i = 0; i < 6; i++) {
        if (!(f->system & (1u << i)))
            continue;
        if (sp)
            OSEC_GUARD(osec_buf_putc(out, ' '));
        OSEC_GUARD(osec_buf_append_str(out, flag_names[i]));
        sp = true;
    }
    for (size_t i = 0; i < f->nkeywords; i++) {
        OSEC_ENSURE(osec_imap_all(f->keyword[i], IC_ATOM), OSEC_EINVAL, "imap: invalid keyword");
        if (sp)
            OSEC_GUARD(osec_buf_putc(out, ' '));
        OSEC_GUARD(osec_buf_append_slice(out, f->keyword[i]));
        sp = true;
    }
    return osec_buf_putc(out, ')');
}

int osec_imap_write_flags(struct osec_buf *out, const struct osec_imap_flags *f)
{
    size_t start = out->len;
    int rc;

    OSEC_ENSURE(f->nkeywords <= OSEC_IMAP_KEYWORDS_MAX, OSEC_EINVAL, "imap: bad flags");
    rc = flags_raw(out, f);
    return rc ? restore(out, start, rc) : 0;
}

/* Civil date of day number z (days since 1970-01-01), H. Hinnant. */
static void civil(int64_t z, int *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

int osec_imap_write_datetime(struct osec_buf *out, int64_t t)
{
    int y, m, d;
    int64_t s;

    OSEC_ENSURE(t >= 0 && t < (int64_t)253402300800LL, OSEC_EINVAL, "imap: date out of range");
    civil(t / 86400, &y, &m, &d);
    s = t % 86400;
    return osec_buf_appendf(out, "\"%02d-%s-%04d %02d:%02d:%02d +0000\"", d,
                            osec_imap_months[m - 1], y, (int)(s / 3600), (int)(s / 60 % 60),
                            (int)(s % 60));
}

/* ---- LIST --------------------------------------------------------------------- */

/* "\flag" or "atom" words separated by single spaces. */
static bool list_flags_ok(const char *flags)
{
    struct osec_slice f = osec_slice_cstr(flags);
    size_t i = 0;

    while (i < f.len) {
        size_t s = i + (f.ptr[i] == '\\'), j = s;

        while (j < f.len && ic_is(f.ptr[j], IC_ATOM))
            j++;
        if (j == s || (j < f.len && (f.ptr[j] != ' ' || j + 1 == f.len)))
            return false;
        i = j + (j < f.len);
    }
    return true;
}

static int list_raw(struct osec_buf *out, const char *kind, const char *flags, char delim,
                    struct osec_slice name)
{
    OSEC_GUARD(osec_buf_appendf(out, "* %s (%s) ", kind, flags ? flags : ""));
    if (delim == 0)
        OSEC_GUARD(osec_buf_append_str(out, "NIL"));
    else if (delim == '"' || delim == '\\')
        OSEC_GUARD(osec_buf_appendf(out, "\"\\%c\"", delim));
    else
        OSEC_GUARD(osec_buf_appendf(out, "\"%c\"", delim));
    OSEC_GUARD(osec_buf_putc(out, ' '));
    OSEC_GUARD(osec_imap_write_mailbox(out, name));
    return osec_buf_append_str(out, "\r\n");
}

int osec_imap_write_list(struct osec_buf *out, const char *kind, const char *flags, char delim,
                         struct osec_slice utf8_name)
{
    size_t start = out->len;
    int rc;

    OSEC_ENSURE(kind && (strcmp(kind, "LIST") == 0 || strcmp(kind, "LSUB") == 0), OSEC_EINVAL,
                "imap: LIST or LSUB");
    OSEC_ENSURE(!flags || list_flags_ok(flags), OSEC_EINVAL, "imap: invalid mailbox flags");
    OSEC_ENSURE(delim == 0 || (delim > 0x20 && delim < 0x7f), OSEC_EINVAL,
                "imap: invalid hierarchy delimiter");
    rc = list_raw(out, kind, flags, delim, utf8_name);
    return rc ? restore(out, start, rc) : 0;
}

/* ---- FETCH -------------------------------------------------------------------- */

int osec_imap_fetchw_begin(struct osec_imap_fetchw *w, struct osec_buf *out, uint32_t seq)
{
    w->out = out;
    w->start = out->len;
    w->first = true;
    w->failed = true;
    OSEC_ENSURE(seq > 0, OSEC_EINVAL, "imap: message numbers start at 1");
    OSEC_GUARD(osec_buf_appendf(out, "* %u FETCH (", seq));
    w->failed = false;
    return 0;
}

/* Separator and item name; the caller writes the value. */
static int item(struct osec_imap_fetchw *w, const char *name)
{
    OSEC_ENSURE(!w->failed, OSEC_EINVAL, "imap: FETCH response already failed");
    OSEC_ENSURE(osec_imap_all(osec_slice_cstr(name), IC_ATOM), OSEC_EINVAL,
                "imap: invalid FETCH item name");
    if (!w->first)
        OSEC_GUARD(osec_buf_putc(w->out, ' '));
    w->first = false;
    OSEC_GUARD(osec_buf_append_str(w->out, name));
    return osec_buf_putc(w->out, ' ');
}

/* Every item writer ends here: on failure the whole response goes. */
static int item_done(struct osec_imap_fetchw *w, int rc)
{
    if (rc != 0 && !w->failed) {
        w->failed = true;
        restore(w->out, w->start, rc);
    }
    return rc;
}

int osec_imap_fetchw_number(struct osec_imap_fetchw *w, const char *name, uint64_t v)
{
    int rc = item(w, name);

    if (rc == 0 && strcmp(name, "MODSEQ") == 0)
        rc = osec_buf_appendf(w->out, "(%llu)", (unsigned long long)v);
    else if (rc == 0)
        rc = osec_buf_appendf(w->out, "%llu", (unsigned long long)v);
    return item_done(w, rc);
}

int osec_imap_fetchw_flags(struct osec_imap_fetchw *w, const struct osec_imap_flags *f)
{
    int rc = item(w, "FLAGS");

    return item_done(w, rc ? rc : osec_imap_write_flags(w->out, f));
}

int osec_imap_fetchw_internaldate(struct osec_imap_fetchw *w, int64_t t)
{
    int rc = item(w, "INTERNALDATE");

    return item_done(w, rc ? rc : osec_imap_write_datetime(w->out, t));
}

int osec_imap_fetchw_string(struct osec_imap_fetchw *w, const char *name, struct osec_slice data)
{
    int rc = item(w, name);

    return item_done(w, rc ? rc : osec_imap_write_string(w->out, data));
}

static int section_name(struct osec_buf *out, const struct osec_imap_section *s)
{
    OSEC_ENSURE(s->spec.len == 0 ||
                    (osec_imap_all(s->spec, IC_TEXT) && osec_slice_find(s->spec, ']') < 0),
                OSEC_EINVAL, "imap: invalid section");
    OSEC_GUARD(osec_buf_append_str(out, "BODY["));
    OSEC_GUARD(osec_buf_append_slice(out, s->spec));
    OSEC_GUARD(osec_buf_putc(out, ']'));
    if (s->partial)
        OSEC_GUARD(osec_buf_appendf(out, "<%u>", s->offset));
    return osec_buf_putc(out, ' ');
}

int osec_imap_fetchw_section(struct osec_imap_fetchw *w, const struct osec_imap_section *sect,
                             struct osec_slice data)
{
    int rc = w->failed ? osec_error_set(OSEC_EINVAL, __FILE__, __LINE__,
                                        "imap: FETCH response already failed")
                       : 0;

    if (rc == 0 && !w->first)
        rc = osec_buf_putc(w->out, ' ');
    w->first = false;
    if (rc == 0)
        rc = section_name(w->out, sect);
    if (rc == 0)
        rc = osec_imap_write_string(w->out, data);
    return item_done(w, rc);
}

int osec_imap_fetchw_raw(struct osec_imap_fetchw *w, const char *name, struct osec_slice raw)
{
    int rc = item(w, name);

    return item_done(w, rc ? rc : osec_buf_append_slice(w->out, raw));
}

int osec_imap_fetchw_end(struct osec_imap_fetchw *w)
{
    int rc = w->failed ? osec_error_set(OSEC_EINVAL, __FILE__, __LINE__,
                                        "imap: FETCH response already failed")
                       : osec_buf_append_str(w->out, ")\r\n");

    if (w->failed)
        return rc;
    return item_done(w, rc);
}
