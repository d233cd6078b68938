/* MIME structure of stored messages: BODY[section] parts, BODYSTRUCTURE
 * and ENVELOPE (RFC 3501 7.4.2).  Recursion is bounded by
 * OSEC_MAIL_DEPTH_MAX and the number of parts looked at by
 * OSEC_MAIL_PARTS_MAX, so a hostile message costs bounded work. */
#include <string.h>

#include "omasec/error.h"
#include "omasec/mail.h"

#define BOUNDARY_MAX 70 /* RFC 2046 5.1.1 */

struct entity {
    struct osec_slice hdr, body;
};

/* ---- Content-Type ------------------------------------------------------------ */

struct ctype {
    struct osec_slice type, subtype, params; /* params: text after the first ';' */
};

/* RFC 2045 5.1: a token ends at a tspecial, a blank or a control */
static bool tspecial_end(uint8_t c)
{
    return c <= ' ' || c >= 0x7f || strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static struct osec_slice token(struct osec_cursor *c)
{
    size_t start = c->pos;

    while (!osec_cursor_eof(c) && !tspecial_end(c->ptr[c->pos]))
        c->pos++;
    return osec_slice_make(c->ptr + start, c->pos - start);
}

static void skip_ws(struct osec_cursor *c)
{
    while (!osec_cursor_eof(c) && (c->ptr[c->pos] == ' ' || c->ptr[c->pos] == '\t' ||
                                   c->ptr[c->pos] == '\r' || c->ptr[c->pos] == '\n'))
        c->pos++;
}

/* Defaults (RFC 2045 5.2): text/plain; charset=us-ascii. */
static void content_type(struct osec_slice hdr, struct ctype *ct)
{
    struct osec_slice v;
    struct osec_cursor c;

    ct->type = osec_slice_cstr("text");
    ct->subtype = osec_slice_cstr("plain");
    ct->params = osec_slice_make(NULL, 0);
    if (osec_mail_header_get(hdr, "Content-Type", &v) != 1)
        return;
    osec_cursor_init(&c, v.ptr, v.len);
    skip_ws(&c);
    v = token(&c);
    if (v.len == 0 || !osec_cursor_eat(&c, '/'))
        return;
    ct->type = v;
    ct->subtype = token(&c);
    while (!osec_cursor_eof(&c) && c.ptr[c.pos] != ';')
        c.pos++;
    if (osec_cursor_eat(&c, ';'))
        ct->params = osec_slice_make(c.ptr + c.pos, c.len - c.pos);
}

/* Next parameter of a "; a=b; c="d"" list: 1 with name and value (quotes
 * removed, escapes kept), 0 at the end. */
static int param_next(struct osec_cursor *c, struct osec_slice *name, struct osec_slice *value)
{
    for (;;) {
        skip_ws(c);
        while (osec_cursor_eat(c, ';'))
            skip_ws(c);
        if (osec_cursor_eof(c))
            return 0;
        *name = token(c);
        skip_ws(c);
        if (name->len == 0 || !osec_cursor_eat(c, '=')) {
            while (!osec_cursor_eof(c) && c->ptr[c->pos] != ';')
                c->pos++; /* junk: skip to the next parameter */
            continue;
        }
        skip_ws(c);
        if (osec_cursor_eat(c, '"')) {
            size_t start = c->pos;

            while (!osec_cursor_eof(c) && c->ptr[c->pos] != '"')
                c->pos += c->ptr[c->pos] == '\\' && c->pos + 1 < c->len ? 2 : 1;
            *value = osec_slice_make(c->ptr + start, c->pos - start);
            (void)osec_cursor_eat(c, '"');
        } else {
            *value = token(c);
        }
        return 1;
    }
}

static int param_get(struct osec_slice params, const char *want, struct osec_slice *value)
{
    struct osec_cursor c;
    struct osec_slice n, v;

    osec_cursor_init(&c, params.ptr, params.len);
    while (param_next(&c, &n, &v) == 1) {
        if (osec_slice_eq_ci(n, want)) {
            *value = v;
            return 1;
        }
    }
    return 0;
}

/* ---- multipart ------------------------------------------------------------------ */

/* Does the line at i start with "--boundary"? */
static bool delimiter_at(struct osec_slice body, size_t i, struct osec_slice b)
{
    return i + 2 + b.len <= body.len && body.ptr[i] == '-' && body.ptr[i + 1] == '-' &&
           memcmp(body.ptr + i + 2, b.ptr, b.len) == 0;
}

static size_t next_line(struct osec_slice s, size_t i)
{
    while (i < s.len && s.ptr[i] != '\n')
        i++;
    return i < s.len ? i + 1 : s.len;
}

/* The n-th (1-based) part of a multipart body: its whole entity text. */
static int multipart_part(struct osec_slice body, struct osec_slice boundary, uint32_t n,
                          struct osec_slice *out)
{
    size_t i = 0, start = 0;
    uint32_t seen = 0;

    for (; i <= body.len && seen <= OSEC_MAIL_PARTS_MAX; i = next_line(body, i)) {
        if (delimiter_at(body, i, boundary)) {
            if (seen == n) {
                size_t end = i;

                /* the CRLF before a delimiter belongs to the delimiter */
                if (end > start && body.ptr[end - 1] == '\n')
                    end--;
                if (end > start && body.ptr[end - 1] == '\r')
                    end--;
                *out = osec_slice_sub(body, start, end - start);
                return 1;
            }
            seen++;
            if (i + 4 + boundary.len <= body.len && body.ptr[i + 2 + boundary.len] == '-' &&
                body.ptr[i + 3 + boundary.len] == '-')
                return 0; /* close delimiter */
            start = next_line(body, i);
        }
        if (i == body.len)
            break;
    }
    return 0;
}

static bool is_multipart(const struct ctype *ct, struct osec_slice *boundary)
{
    return osec_slice_eq_ci(ct->type, "multipart") &&
           param_get(ct->params, "boundary", boundary) == 1 && boundary->len > 0 &&
           boundary->len <= BOUNDARY_MAX;
}

static bool is_rfc822(const struct ctype *ct)
{
    return osec_slice_eq_ci(ct->type, "message") &&
           (osec_slice_eq_ci(ct->subtype, "rfc822") || osec_slice_eq_ci(ct->subtype, "global"));
}

static struct entity entity_of(struct osec_slice text)
{
    struct entity e;

    osec_mail_split(text, &e.hdr, &e.body);
    return e;
}

/* Part n of entity e (RFC 3501 6.4.5 part numbering). */
static int child(const struct entity *e, uint32_t n, unsigned depth, struct entity *out)
{
    struct ctype ct;
    struct osec_slice b, part;

    if (depth > OSEC_MAIL_DEPTH_MAX)
        return 0; /* nested messages: bounded like everything else */
    content_type(e->hdr, &ct);
    if (is_multipart(&ct, &b)) {
        if (multipart_part(e->body, b, n, &part) != 1)
            return 0;
        *out = entity_of(part);
        return 1;
    }
    if (is_rfc822(&ct)) { /* numbering continues inside the message */
        struct entity inner = entity_of(e->body);

        return child(&inner, n, depth + 1, out);
    }
    if (n != 1)
        return 0;
    *out = *e; /* a non-multipart entity is its own part 1 */
    return 1;
}

int osec_mail_section(struct osec_slice msg, const struct osec_imap_section *sect,
                      struct osec_slice *data, struct osec_buf *tmp)
{
    struct entity e = entity_of(msg), msgent = e;
    struct ctype ct;

    *data = osec_slice_make(msg.ptr, 0);
    OSEC_ENSURE(sect->nparts <= OSEC_MAIL_DEPTH_MAX, OSEC_EBOUNDS, "mail: section too deep");
    for (size_t i = 0; i < sect->nparts; i++)
        if (child(&e, sect->part[i], 0, &e) != 1)
            return 0;
    if (sect->nparts > 0 && sect->text != OSEC_IMAP_SECT_MIME &&
        sect->text != OSEC_IMAP_SECT_WHOLE) {
        content_type(e.hdr, &ct);
        if (!is_rfc822(&ct))
            return 0; /* HEADER/TEXT exist only for message parts */
        msgent = entity_of(e.body);
    } else {
        msgent = e;
    }
    switch (sect->text) {
    case OSEC_IMAP_SECT_WHOLE:
        *data = sect->nparts ? e.body : msg;
        return 0;
    case OSEC_IMAP_SECT_MIME:
        *data = e.hdr;
        return 0;
    case OSEC_IMAP_SECT_HEADER:
        *data = msgent.hdr;
        return 0;
    case OSEC_IMAP_SECT_TEXT:
        *data = msgent.body;
        return 0;
    case OSEC_IMAP_SECT_HEADER_FIELDS:
    case OSEC_IMAP_SECT_HEADER_FIELDS_NOT:
        OSEC_GUARD(osec_mail_header_filter(msgent.hdr, sect,
                                           sect->text == OSEC_IMAP_SECT_HEADER_FIELDS_NOT, tmp));
        *data = osec_buf_slice(tmp);
        return 0;
    }
    OSEC_BAIL(OSEC_EINVAL, "mail: bad section");
}

/* ---- ENVELOPE ------------------------------------------------------------------------- */

static int nstring_unfolded(struct osec_buf *out, const struct osec_slice *v, struct osec_buf *tmp)
{
    struct osec_slice s;

    if (!v)
        return osec_buf_append_str(out, "NIL");
    osec_buf_reset(tmp);
    OSEC_GUARD(osec_mail_unfold(*v, tmp));
    s = osec_buf_slice(tmp);
    return osec_imap_write_nstring(out, &s);
}

static struct osec_slice trim_all(struct osec_slice s)
{
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t' || s.ptr[0] == '\r' || s.ptr[0] == '\n'))
        s = osec_slice_sub(s, 1, s.len);
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t' ||
                     s.ptr[s.len - 1] == '\r' || s.ptr[s.len - 1] == '\n'))
        s.len--;
    return s;
}

static struct osec_slice unquote(struct osec_slice s)
{
    s = trim_all(s);
    if (s.len >= 2 && s.ptr[0] == '"' && s.ptr[s.len - 1] == '"')
        s = osec_slice_sub(s, 1, s.len - 2);
    return s;
}

/* Strip (comments) from an addr-spec into tmp (bounded nesting). */
static struct osec_slice no_comments(struct osec_slice s, struct osec_buf *tmp)
{
    int depth = 0;

    osec_buf_reset(tmp);
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] == '(' && depth < 64)
            depth++;
        else if (s.ptr[i] == ')' && depth > 0)
            depth--;
        else if (depth == 0 && s.ptr[i] != ' ' && s.ptr[i] != '\t' && s.ptr[i] != '\r' &&
                 s.ptr[i] != '\n' && osec_buf_putc(tmp, (char)s.ptr[i]) < 0)
            break;
    }
    return osec_buf_slice(tmp);
}

/* One mailbox: [name] <local@domain> or local@domain. */
static int write_mailbox(struct osec_buf *out, struct osec_slice m, struct osec_buf *tmp)
{
    struct osec_slice name = osec_slice_make(NULL, 0), spec = m, local, domain;
    long lt = osec_slice_find(m, '<');
    long at;

    if (lt >= 0) {
        struct osec_slice rest = osec_slice_sub(m, (size_t)lt + 1, m.len);
        long gt = osec_slice_find(rest, '>');

        name = unquote(osec_slice_sub(m, 0, (size_t)lt));
        spec = osec_slice_sub(rest, 0, gt >= 0 ? (size_t)gt : rest.len);
    }
    spec = no_comments(spec, tmp);
    at = -1;
    for (size_t i = 0; i < spec.len; i++)
        if (spec.ptr[i] == '@')
            at = (long)i;
    local = at >= 0 ? osec_slice_sub(spec, 0, (size_t)at) : spec;
    domain = at >= 0 ? osec_slice_sub(spec, (size_t)at + 1, spec.len) : osec_slice_make(NULL, 0);
    OSEC_GUARD(osec_buf_putc(out, '('));
    OSEC_GUARD(osec_imap_write_nstring(out, name.len ? &name : NULL));
    OSEC_GUARD(osec_buf_append_str(out, " NIL "));
    OSEC_GUARD(osec_imap_write_nstring(out, &local));
    OSEC_GUARD(osec_buf_putc(out, ' '));
    OSEC_GUARD(osec_imap_write_nstring(out, &domain));
    return osec_buf_putc(out, ')');
}

/* Items of an address list split at top-level "," (and ":"/";" for
 * groups, written as RFC 3501 group markers). */
static int write_addresses(struct osec_buf *out, struct osec_slice v, struct osec_buf *tmp)
{
    size_t start = 0, n = 0;
    int depth = 0;
    bool quote = false, angle = false;

    OSEC_GUARD(osec_buf_putc(out, '('));
    for (size_t i = 0; i <= v.len && n < 256; i++) {
        uint8_t c = i < v.len ? v.ptr[i] : ',';
        struct osec_slice item;

        if (quote) {
            quote = !(c == '"' && v.ptr[i - 1] != '\\');
            continue;
        }
        if (c == '"' && depth == 0)
            quote = true;
        else if (c == '(' && depth < 64)
            depth++;
        else if (c == ')' && depth > 0)
            depth--;
        else if (depth == 0 && (c == '<' || c == '>'))
            angle = c == '<';
        if (depth || angle || (c != ',' && c != ':' && c != ';'))
            continue;
        item = trim_all(osec_slice_sub(v, start, i - start));
        start = i + 1;
        if (c == ':') { /* group start: (NIL NIL "name" NIL) */
            OSEC_GUARD(osec_buf_append_str(out, "(NIL NIL "));
            OSEC_GUARD(osec_imap_write_nstring(out, &item));
            OSEC_GUARD(osec_buf_append_str(out, " NIL)"));
            n++;
            continue;
        }
        if (item.len) {
            OSEC_GUARD(write_mailbox(out, item, tmp));
            n++;
        }
        if (c == ';') { /* group end */
            OSEC_GUARD(osec_buf_append_str(out, "(NIL NIL NIL NIL)"));
            n++;
        }
    }
    if (n == 0) { /* an empty list is NIL */
        out->len--;
        out->data[out->len] = '\0';
        return osec_buf_append_str(out, "NIL");
    }
    return osec_buf_putc(out, ')');
}

static int envelope_addr(struct osec_buf *out, struct osec_slice hdr, const char *name,
                         const char *fallback, struct osec_buf *tmp)
{
    struct osec_slice v;

    OSEC_GUARD(osec_buf_putc(out, ' '));
    if (osec_mail_header_get(hdr, name, &v) != 1 &&
        (!fallback || osec_mail_header_get(hdr, fallback, &v) != 1))
        return osec_buf_append_str(out, "NIL");
    return write_addresses(out, v, tmp);
}

static int envelope_str(struct osec_buf *out, struct osec_slice hdr, const char *name, bool sp,
                        struct osec_buf *tmp)
{
    struct osec_slice v;
    bool have = osec_mail_header_get(hdr, name, &v) == 1;

    if (sp)
        OSEC_GUARD(osec_buf_putc(out, ' '));
    return nstring_unfolded(out, have ? &v : NULL, tmp);
}

static int envelope_body(struct osec_slice hdr, struct osec_buf *out, struct osec_buf *tmp)
{
    OSEC_GUARD(osec_buf_putc(out, '('));
    OSEC_GUARD(envelope_str(out, hdr, "Date", false, tmp));
    OSEC_GUARD(envelope_str(out, hdr, "Subject", true, tmp));
    OSEC_GUARD(envelope_addr(out, hdr, "From", NULL, tmp));
    OSEC_GUARD(envelope_addr(out, hdr, "Sender", "From", tmp));   /* RFC 3501: default From */
    OSEC_GUARD(envelope_addr(out, hdr, "Reply-To", "From", tmp));
    OSEC_GUARD(envelope_addr(out, hdr, "To", NULL, tmp));
    OSEC_GUARD(envelope_addr(out, hdr, "Cc", NULL, tmp));
    OSEC_GUARD(envelope_addr(out, hdr, "Bcc", NULL, tmp));
    OSEC_GUARD(envelope_str(out, hdr, "In-Reply-To", true, tmp));
    OSEC_GUARD(envelope_str(out, hdr, "Message-ID", true, tmp));
    return osec_buf_putc(out, ')');
}

int osec_mail_envelope(struct osec_slice header, struct osec_buf *out)
{
    struct osec_buf tmp;
    size_t start = out->len;
    int rc;

    osec_buf_init(&tmp, (size_t)1 << 20);
    rc = envelope_body(header, out, &tmp);
    osec_buf_free(&tmp);
    if (rc < 0) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return rc;
}

/* ---- BODYSTRUCTURE ---------------------------------------------------------------------- */

static int write_upper_str(struct osec_buf *out, struct osec_slice s)
{
    char tmp[128];
    size_t n = s.len < sizeof(tmp) ? s.len : sizeof(tmp) - 1;

    for (size_t i = 0; i < n; i++)
        tmp[i] = (char)(s.ptr[i] >= 'a' && s.ptr[i] <= 'z' ? s.ptr[i] - 32 : s.ptr[i]);
    return osec_imap_write_string(out, osec_slice_make(tmp, n));
}

static int write_params(struct osec_buf *out, struct osec_slice params)
{
    struct osec_cursor c;
    struct osec_slice n, v;
    size_t count = 0;

    osec_cursor_init(&c, params.ptr, params.len);
    while (count < 32 && param_next(&c, &n, &v) == 1) {
        OSEC_GUARD(osec_buf_append_str(out, count ? " " : "("));
        OSEC_GUARD(write_upper_str(out, n));
        OSEC_GUARD(osec_buf_putc(out, ' '));
        OSEC_GUARD(osec_imap_write_string(out, v));
        count++;
    }
    return osec_buf_append_str(out, count ? ")" : "NIL");
}

static int field_nstring(struct osec_buf *out, struct osec_slice hdr, const char *name,
                         struct osec_buf *tmp)
{
    struct osec_slice v;

    OSEC_GUARD(osec_buf_putc(out, ' '));
    return nstring_unfolded(out, osec_mail_header_get(hdr, name, &v) == 1 ? &v : NULL, tmp);
}

static uint64_t count_lines(struct osec_slice s)
{
    uint64_t n = 0;

    for (size_t i = 0; i < s.len; i++)
        n += s.ptr[i] == '\n';
    return n;
}

static int bodystruct(const struct entity *e, bool ext, unsigned depth, struct osec_buf *out,
                      struct osec_buf *tmp);

static int multipart_struct(const struct entity *e, const struct ctype *ct,
                            struct osec_slice boundary, bool ext, unsigned depth,
                            struct osec_buf *out, struct osec_buf *tmp)
{
    struct osec_slice part;
    uint32_t n = 0;

    OSEC_GUARD(osec_buf_putc(out, '('));
    while (n < OSEC_MAIL_PARTS_MAX && multipart_part(e->body, boundary, n + 1, &part) == 1) {
        struct entity pe = entity_of(part);

        OSEC_GUARD(bodystruct(&pe, ext, depth + 1, out, tmp));
        n++;
    }
    if (n == 0) /* a multipart without parts: describe an empty text part */
        OSEC_GUARD(osec_buf_append_str(out, "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)"));
    OSEC_GUARD(osec_buf_putc(out, ' '));
    OSEC_GUARD(write_upper_str(out, ct->subtype));
    if (ext) {
        OSEC_GUARD(osec_buf_putc(out, ' '));
        OSEC_GUARD(write_params(out, ct->params));
        OSEC_GUARD(osec_buf_append_str(out, " NIL NIL NIL"));
    }
    return osec_buf_putc(out, ')');
}

static int single_struct(const struct entity *e, const struct ctype *ct, bool ext,
                         unsigned depth, struct osec_buf *out, struct osec_buf *tmp)
{
    struct osec_slice enc;

    OSEC_GUARD(osec_buf_putc(out, '('));
    OSEC_GUARD(write_upper_str(out, ct->type));
    OSEC_GUARD(osec_buf_putc(out, ' '));
    OSEC_GUARD(write_upper_str(out, ct->subtype));
    OSEC_GUARD(osec_buf_putc(out, ' '));
    OSEC_GUARD(write_params(out, ct->params));
    OSEC_GUARD(field_nstring(out, e->hdr, "Content-ID", tmp));
    OSEC_GUARD(field_nstring(out, e->hdr, "Content-Description", tmp));
    OSEC_GUARD(osec_buf_putc(out, ' '));
    if (osec_mail_header_get(e->hdr, "Content-Transfer-Encoding", &enc) == 1)
        OSEC_GUARD(write_upper_str(out, trim_all(enc)));
    else
        OSEC_GUARD(osec_buf_append_str(out, "\"7BIT\""));
    OSEC_GUARD(osec_buf_appendf(out, " %zu", e->body.len));
    if (is_rfc822(ct) && depth < OSEC_MAIL_DEPTH_MAX) {
        struct entity inner = entity_of(e->body);

        OSEC_GUARD(osec_buf_putc(out, ' '));
        OSEC_GUARD(envelope_body(inner.hdr, out, tmp));
        OSEC_GUARD(osec_buf_putc(out, ' '));
        OSEC_GUARD(bodystruct(&inner, ext, depth + 1, out, tmp));
        OSEC_GUARD(osec_buf_appendf(out, " %llu", (unsigned long long)count_lines(e->body)));
    } else if (osec_slice_eq_ci(ct->type, "text")) {
        OSEC_GUARD(osec_buf_appendf(out, " %llu", (unsigned long long)count_lines(e->body)));
    }
    if (ext)
        OSEC_GUARD(osec_buf_append_str(out, " NIL NIL NIL NIL"));
    return osec_buf_putc(out, ')');
}

static int bodystruct(const struct entity *e, bool ext, unsigned depth, struct osec_buf *out,
                      struct osec_buf *tmp)
{
    struct ctype ct;
    struct osec_slice boundary;

    content_type(e->hdr, &ct);
    if (depth < OSEC_MAIL_DEPTH_MAX && is_multipart(&ct, &boundary))
        return multipart_struct(e, &ct, boundary, ext, depth, out, tmp);
    if (osec_slice_eq_ci(ct.type, "multipart")) { /* too deep or no boundary */
        ct.type = osec_slice_cstr("application");
        ct.subtype = osec_slice_cstr("octet-stream");
        ct.params = osec_slice_make(NULL, 0);
    }
    return single_struct(e, &ct, ext, depth, out, tmp);
}

int osec_mail_bodystructure(struct osec_slice msg, bool extensible, struct osec_buf *out)
{
    struct entity e = entity_of(msg);
    struct osec_buf tmp;
    size_t start = out->len;
    int rc;

    osec_buf_init(&tmp, (size_t)1 << 20);
    rc = bodystruct(&e, extensible, 0, out, &tmp);
    osec_buf_free(&tmp);
    if (rc < 0) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return rc;
}
