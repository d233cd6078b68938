/* SIP message parser: framing (datagram / stream), start line, header
 * lines, the headers the edge uses, body.  See include/omasec/sip.h for the
 * contract (need-more convention, error codes, deliberate strictness). */
#include <string.h>

#include "omasec/error.h"
#include "proto/sip_int.h"

struct pctx {
    struct osec_sip_msg *m;
    struct osec_slice in;
    unsigned flags;
    size_t max_msg;
    size_t skip;      /* leading CRLFs */
    size_t hdr_len;   /* start line + headers + empty line, from skip */
    struct osec_slice version;
};

/* ---- framing ---------------------------------------------------------- */

static int frame(struct pctx *x)
{
    struct osec_sip_msg *m = x->m;
    const uint8_t *p = x->in.ptr, *end;
    size_t avail, window;

    while (x->skip + 1 < x->in.len && p[x->skip] == '\r' && p[x->skip + 1] == '\n')
        x->skip += 2; /* RFC 3261 7.5 / RFC 5626 keep-alives */
    m->consumed = x->skip;
    avail = x->in.len - x->skip;
    window = avail < x->max_msg ? avail : x->max_msg;
    end = window >= 4 ? memmem(p + x->skip, window, "\r\n\r\n", 4) : NULL;
    if (end == NULL) {
        if ((x->flags & OSEC_SIP_STREAM) && avail < x->max_msg) {
            m->need = x->in.len + 1;
            return OSEC_SIP_NEED_MORE;
        }
        if (avail >= x->max_msg)
            OSEC_SIP_ERR(m, OSEC_EBOUNDS, 413, "Request Entity Too Large");
        OSEC_SIP_BAD(m, "Incomplete Message");
    }
    x->hdr_len = (size_t)(end - (p + x->skip)) + 4;
    return 0;
}

static bool no_ctl(struct osec_slice s)
{
    for (size_t i = 0; i < s.len; i++)
        if (osec_sip_is_ctl(s.ptr[i]))
            return false;
    return true;
}

/* "SIP/" 1*DIGIT "." 1*DIGIT (RFC 3261 7.1: case-insensitive) */
static bool version_ok(struct osec_slice v)
{
    size_t i = 4, d1 = 0, d2 = 0;

    if (!osec_slice_starts_ci(v, "SIP/"))
        return false;
    for (; i < v.len && osec_sip_is_digit(v.ptr[i]); i++)
        d1++;
    if (i >= v.len || v.ptr[i++] != '.')
        return false;
    for (; i < v.len && osec_sip_is_digit(v.ptr[i]); i++)
        d2++;
    return d1 > 0 && d2 > 0 && i == v.len;
}

static int status_line(struct pctx *x, struct osec_slice line)
{
    struct osec_sip_msg *m = x->m;
    long sp = osec_slice_find(line, ' ');
    struct osec_slice code;
    uint64_t v;

    OSEC_ENSURE(sp > 0, OSEC_EPARSE, "bad Status-Line");
    x->version = osec_slice_sub(line, 0, (size_t)sp);
    code = osec_slice_sub(line, (size_t)sp + 1, 3);
    OSEC_ENSURE(version_ok(x->version) && code.len == 3 &&
                    osec_slice_to_u64(code, 699, &v) == 0 && v >= 100 &&
                    line.len > (size_t)sp + 4 && line.ptr[sp + 4] == ' ',
                OSEC_EPARSE, "bad Status-Line");
    m->status = (unsigned)v;
    m->reason = osec_slice_sub(line, (size_t)sp + 5, line.len);
    return 0;
}

/* Method SP Request-URI SP SIP-Version: the URI is what lies between the
 * first and the last space, and may not hold white space itself. */
static int request_line(struct pctx *x, struct osec_slice line)
{
    struct osec_sip_msg *m = x->m;
    long first = osec_slice_find(line, ' '), last = -1;

    for (size_t i = line.len; i > 0; i--)
        if (line.ptr[i - 1] == ' ') {
            last = (long)i - 1;
            break;
        }
    OSEC_ENSURE(first > 0 && last > first + 1, OSEC_EPARSE, "bad Request-Line");
    m->method = osec_slice_sub(line, 0, (size_t)first);
    m->ruri_raw = osec_slice_sub(line, (size_t)first + 1, (size_t)(last - first - 1));
    x->version = osec_slice_sub(line, (size_t)last + 1, line.len);
    OSEC_ENSURE(osec_sip_all_token(m->method) && version_ok(x->version), OSEC_EPARSE,
                "bad Request-Line");
    for (size_t i = 0; i < m->ruri_raw.len; i++)
        OSEC_ENSURE(!osec_sip_is_ws(m->ruri_raw.ptr[i]), OSEC_EPARSE, "bad Request-Line");
    m->method_id = osec_sip_method_from(m->method);
    m->is_request = true;
    return 0;
}

static int start_line(struct pctx *x, struct osec_slice line)
{
    struct osec_sip_msg *m = x->m;
    int rc;

    if (!no_ctl(line))
        OSEC_SIP_BAD(m, "Bad Start Line");
    if (osec_slice_starts_ci(line, "SIP/"))
        rc = status_line(x, line);
    else
        rc = request_line(x, line);
    if (rc < 0)
        return osec_sip_msg_fail(m, rc, 400, "Bad Start Line");
    /* a long Request-URI is answered with 414 once the headers are split */
    if (line.len > OSEC_SIP_LINE_MAX && m->ruri_raw.len <= OSEC_SIP_URI_MAX)
        OSEC_SIP_ERR(m, OSEC_EBOUNDS, 400, "Start Line Too Long");
    return 0;
}

static int header_line(struct pctx *x, struct osec_slice line)
{
    struct osec_sip_msg *m = x->m;
    struct osec_sip_header *h;
    struct osec_cursor c;

    if (osec_sip_is_ws(line.ptr[0]))
        OSEC_SIP_ERR(m, OSEC_EPOLICY, 400, "Line Folding Not Supported");
    if (line.len > OSEC_SIP_LINE_MAX)
        OSEC_SIP_ERR(m, OSEC_EBOUNDS, 400, "Header Too Long");
    if (m->n_headers >= OSEC_SIP_HEADERS_MAX)
        OSEC_SIP_ERR(m, OSEC_EBOUNDS, 400, "Too Many Headers");
    if (!no_ctl(line))
        OSEC_SIP_BAD(m, "Bad Header");
    h = &m->headers[m->n_headers];
    osec_cursor_init(&c, line.ptr, line.len);
    h->name = osec_cursor_span(&c, osec_sip_is_token);
    osec_cursor_skip_ws(&c); /* HCOLON = *( SP / HTAB ) ":" SWS */
    if (h->name.len == 0 || !osec_cursor_eat(&c, ':'))
        OSEC_SIP_BAD(m, "Bad Header");
    h->value = osec_slice_trim(osec_slice_make(c.ptr + c.pos, c.len - c.pos));
    h->kind = osec_sip_hdr_lookup(h->name, &h->canon);
    m->n_headers++;
    return 0;
}

/* Split the lines between the start line and the empty line. */
static int split_lines(struct pctx *x)
{
    const uint8_t *p = x->in.ptr + x->skip;
    size_t end = x->hdr_len - 2, pos = 0; /* end: just after the last CRLF */
    bool first = true;

    while (pos < end) {
        const uint8_t *nl = memchr(p + pos, '\n', end - pos);
        struct osec_slice line;
        size_t n;

        if (nl == NULL || nl == p + pos || nl[-1] != '\r')
            OSEC_SIP_BAD(x->m, "Bad Line Ending");
        n = (size_t)(nl - (p + pos)) + 1;
        line = osec_slice_make(p + pos, n - 2);
        if (line.len == 0)
            OSEC_SIP_BAD(x->m, "Bad Line Ending");
        OSEC_GUARD(first ? start_line(x, line) : header_line(x, line));
        first = false;
        pos += n;
    }
    return 0;
}

/* Checks that need the headers framed, so the error can be answered. */
static int start_line_semantics(struct pctx *x)
{
    struct osec_sip_msg *m = x->m;
    int rc;

    if (!osec_slice_eq_ci(x->version, "SIP/2.0"))
        OSEC_SIP_ERR(m, OSEC_EPOLICY, 505, "Version Not Supported");
    if (!m->is_request)
        return 0;
    if (m->ruri_raw.len > OSEC_SIP_URI_MAX)
        OSEC_SIP_ERR(m, OSEC_EBOUNDS, 414, "Request-URI Too Long");
    rc = osec_sip_uri_parse(m->ruri_raw, &m->ruri);
    if (rc == OSEC_EPOLICY)
        return osec_sip_msg_fail(m, rc, 416, "Unsupported URI Scheme");
    if (rc < 0)
        return osec_sip_msg_fail(m, rc, 400, "Bad Request-URI");
    return 0;
}

static int body(struct pctx *x)
{
    struct osec_sip_msg *m = x->m;
    size_t start = x->skip + x->hdr_len, rest = x->in.len - start;
    size_t blen = rest;

    if (m->has_content_length) {
        blen = m->content_length;
        if (blen > x->max_msg - x->hdr_len)
            OSEC_SIP_ERR(m, OSEC_EBOUNDS, 413, "Request Entity Too Large");
        if (blen > rest && (x->flags & OSEC_SIP_STREAM)) {
            m->need = start + blen;
            return OSEC_SIP_NEED_MORE;
        }
        if (blen > rest)
            OSEC_SIP_BAD(m, "Bad Content-Length");
    } else if (x->flags & OSEC_SIP_STREAM) {
        OSEC_SIP_BAD(m, "Missing Content-Length");
    } else if (blen > x->max_msg - x->hdr_len) {
        OSEC_SIP_ERR(m, OSEC_EBOUNDS, 413, "Request Entity Too Large");
    }
    m->body = osec_slice_make(x->in.ptr + start, blen);
    m->consumed = start + blen;
    return 0;
}

int osec_sip_parse(struct osec_slice in, unsigned flags, size_t max_msg, struct osec_sip_msg *msg)
{
    struct pctx x;
    int rc;

    OSEC_ENSURE(msg != NULL && (in.ptr != NULL || in.len == 0), OSEC_EINVAL, "bad arguments");
    memset(msg, 0, sizeof(*msg));
    memset(&x, 0, sizeof(x));
    msg->max_forwards = -1;
    x.m = msg;
    x.in = in;
    x.flags = flags;
    x.max_msg = max_msg ? max_msg : OSEC_SIP_MSG_MAX_DEFAULT;
    rc = frame(&x);
    if (rc != 0)
        return rc;
    OSEC_GUARD(split_lines(&x));
    msg->framed = true;
    OSEC_GUARD(start_line_semantics(&x));
    OSEC_GUARD(osec_sip_fields_parse(msg));
    rc = body(&x);
    if (rc != 0)
        return rc;
    msg->valid = true;
    return 0;
}
