/* SIP writers for the edge proxy: responses to a parsed request, and
 * re-serialisation of a parsed message with edits for forwarding.  Every
 * caller-supplied name or value is checked so no CR/LF (or other control
 * character) can inject a header. */
#include <string.h>

#include "omasec/error.h"
#include "omasec/util.h"
#include "proto/sip_int.h"

#define SIP_MAX_FORWARDS_DEFAULT 70 /* RFC 3261 16.6 step 3 */

static bool text_ok(const char *s)
{
    for (; *s; s++)
        if (osec_sip_is_ctl((uint8_t)*s))
            return false;
    return true;
}

static bool received_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 64)
        return false;
    for (; *s; s++)
        if (!osec_sip_is_hex((uint8_t)*s) && *s != '.' && *s != ':')
            return false;
    return true;
}

static int line(struct osec_buf *out, struct osec_slice name, struct osec_slice value)
{
    OSEC_GUARD(osec_buf_append_slice(out, name));
    OSEC_GUARD(osec_buf_append(out, ": ", value.len ? 2 : 1));
    OSEC_GUARD(osec_buf_append_slice(out, value));
    return osec_buf_append(out, "\r\n", 2);
}

static int line_cstr(struct osec_buf *out, const char *name, const char *value)
{
    return line(out, osec_slice_cstr(name), osec_slice_cstr(value));
}

static int check_fields(const struct osec_sip_field *add, size_t n)
{
    static const char *const managed[] = { "Via", "Max-Forwards", "Content-Length" };

    OSEC_ENSURE(n == 0 || add != NULL, OSEC_EINVAL, "no fields");
    for (size_t i = 0; i < n; i++) {
        const char *target;

        OSEC_ENSURE(add[i].name && add[i].value, OSEC_EINVAL, "field without name or value");
        OSEC_ENSURE(osec_sip_all_token(osec_slice_cstr(add[i].name)) && text_ok(add[i].value),
                    OSEC_EINVAL, "bad characters in an added field");
        target = osec_sip_hdr_target(add[i].name);
        for (size_t j = 0; j < sizeof(managed) / sizeof(managed[0]); j++)
            OSEC_ENSURE(strcmp(target, managed[j]) != 0, OSEC_EINVAL,
                        "this field is written by the SIP writer itself");
    }
    return 0;
}

static int write_fields(struct osec_buf *out, const struct osec_sip_field *add, size_t n)
{
    for (size_t i = 0; i < n; i++)
        OSEC_GUARD(line_cstr(out, add[i].name, add[i].value));
    return 0;
}

static int check_via_fix(const struct osec_sip_via_fix *fix)
{
    OSEC_ENSURE(fix->received == NULL || received_ok(fix->received), OSEC_EINVAL,
                "received must be an IP address literal");
    return 0;
}

/* ---- Via handling ------------------------------------------------------ */

static bool fix_applies(const struct osec_sip_via *v, const struct osec_sip_via_fix *fix)
{
    return fix->received != NULL || (fix->rport != 0 && v->has_rport);
}

/* The top Via with received/rport set by us (RFC 3261 18.2.1, RFC 3581 4). */
static int fixed_via(struct osec_buf *out, const struct osec_sip_via *v,
                     const struct osec_sip_via_fix *fix)
{
    struct osec_cursor c;
    struct osec_sip_param p;
    bool set_rport = fix->rport != 0 && v->has_rport;
    int rc;

    OSEC_GUARD(osec_buf_append_slice(out, osec_slice_trim(osec_slice_make(
                                              v->raw.ptr, (size_t)(v->params.ptr - v->raw.ptr)))));
    osec_cursor_init(&c, v->params.ptr, v->params.len);
    while ((rc = osec_sip_param_next(&c, &p)) > 0) {
        if ((fix->received && osec_slice_eq_ci(p.name, "received")) ||
            (set_rport && osec_slice_eq_ci(p.name, "rport")))
            continue;
        OSEC_GUARD(osec_buf_append_slice(out, p.whole));
    }
    OSEC_GUARD(rc);
    if (fix->received)
        OSEC_GUARD(osec_buf_appendf(out, ";received=%s", fix->received));
    if (set_rport)
        OSEC_GUARD(osec_buf_appendf(out, ";rport=%u", (unsigned)fix->rport));
    return 0;
}

static bool inside(struct osec_slice outer, struct osec_slice inner)
{
    return inner.ptr >= outer.ptr && inner.ptr + inner.len <= outer.ptr + outer.len;
}

/* Header line h whose first value v is rewritten by fixed_via. */
static int via_line_fixed(struct osec_buf *out, const struct osec_sip_header *h,
                          const struct osec_sip_via *v, const struct osec_sip_via_fix *fix)
{
    const uint8_t *end = h->value.ptr + h->value.len, *vend = v->raw.ptr + v->raw.len;

    OSEC_GUARD(osec_buf_append_slice(out, h->name));
    OSEC_GUARD(osec_buf_append(out, ": ", 2));
    OSEC_GUARD(fixed_via(out, v, fix));
    OSEC_GUARD(osec_buf_append(out, vend, (size_t)(end - vend)));
    return osec_buf_append(out, "\r\n", 2);
}

/* Header line h without its first value first; nothing if none is left. */
static int line_popped(struct osec_buf *out, const struct osec_sip_header *h,
                       struct osec_slice first)
{
    const uint8_t *end = h->value.ptr + h->value.len;
    struct osec_slice rest = osec_slice_make(first.ptr + first.len,
                                             (size_t)(end - (first.ptr + first.len)));

    rest = osec_slice_trim(rest);
    if (rest.len > 0 && rest.ptr[0] == ',')
        rest = osec_slice_trim(osec_slice_sub(rest, 1, rest.len));
    if (rest.len == 0)
        return 0;
    return line(out, h->name, rest);
}

static long first_of_kind(const struct osec_sip_msg *m, enum osec_sip_hdr kind)
{
    for (size_t i = 0; i < m->n_headers; i++)
        if (m->headers[i].kind == kind)
            return (long)i;
    return -1;
}

/* ---- responses --------------------------------------------------------- */

/* The top Via of line h; parsed here when the request failed before its
 * Via was (e.g. 505), so the answer still gets received/rport. */
static int top_via(const struct osec_sip_msg *req, const struct osec_sip_header *h,
                   struct osec_sip_via *v)
{
    struct osec_cursor c;
    struct osec_slice item;

    if (req->n_via > 0 && inside(h->value, req->via[0].raw)) {
        *v = req->via[0];
        return 0;
    }
    osec_cursor_init(&c, h->value.ptr, h->value.len);
    if (osec_sip_list_next(&c, &item) != 1)
        return OSEC_EPARSE;
    return osec_sip_via_parse(item, v);
}

static int reply_vias(const struct osec_sip_msg *req, const struct osec_sip_via_fix *fix,
                      struct osec_buf *out)
{
    long top = first_of_kind(req, OSEC_SIP_H_VIA);
    struct osec_sip_via v;

    OSEC_ENSURE(top >= 0, OSEC_EINVAL, "request has no Via");
    for (size_t i = (size_t)top; i < req->n_headers; i++) {
        const struct osec_sip_header *h = &req->headers[i];

        if (h->kind != OSEC_SIP_H_VIA)
            continue;
        if (i == (size_t)top && top_via(req, h, &v) == 0 && fix_applies(&v, fix))
            OSEC_GUARD(via_line_fixed(out, h, &v, fix));
        else
            OSEC_GUARD(line(out, osec_slice_cstr("Via"), h->value));
    }
    return 0;
}

static int copy_one(const struct osec_sip_msg *req, enum osec_sip_hdr kind, const char *name,
                    struct osec_buf *out)
{
    long i = first_of_kind(req, kind);

    OSEC_ENSURE(i >= 0, OSEC_EINVAL, "request lacks %s", name);
    return line(out, osec_slice_cstr(name), req->headers[i].value);
}

/* To, with our tag when the request had none (RFC 3261 8.2.6.2). */
static int reply_to(const struct osec_sip_msg *req, const struct osec_sip_reply *r,
                    struct osec_buf *out)
{
    long i = first_of_kind(req, OSEC_SIP_H_TO);
    struct osec_sip_nameaddr to;
    uint8_t rnd[8];

    OSEC_ENSURE(i >= 0, OSEC_EINVAL, "request lacks To");
    OSEC_GUARD(osec_buf_append_str(out, "To: "));
    OSEC_GUARD(osec_buf_append_slice(out, req->headers[i].value));
    if (r->status > 100 && osec_sip_nameaddr_parse(req->headers[i].value, &to) == 0 &&
        to.tag.len == 0) {
        OSEC_GUARD(osec_buf_append_str(out, ";tag="));
        if (r->to_tag) {
            OSEC_GUARD(osec_buf_append_str(out, r->to_tag));
        } else {
            OSEC_GUARD(osec_rand_bytes(rnd, sizeof(rnd)));
            OSEC_GUARD(osec_buf_append_hex(out, rnd, sizeof(rnd)));
        }
    }
    return osec_buf_append(out, "\r\n", 2);
}

static int check_reply(const struct osec_sip_msg *req, const struct osec_sip_reply *r)
{
    OSEC_ENSURE(req && r, OSEC_EINVAL, "bad arguments");
    OSEC_ENSURE(req->framed && req->is_request, OSEC_EINVAL, "not a framed request");
    OSEC_ENSURE(r->status >= 100 && r->status <= 699, OSEC_EINVAL, "bad status code");
    OSEC_ENSURE(r->reason == NULL || text_ok(r->reason), OSEC_EINVAL, "bad reason phrase");
    OSEC_ENSURE(r->to_tag == NULL || osec_sip_all_token(osec_slice_cstr(r->to_tag)),
                OSEC_EINVAL, "bad To tag");
    OSEC_ENSURE(r->content_type ? *r->content_type && text_ok(r->content_type)
                                : r->body.len == 0,
                OSEC_EINVAL, "a body needs a valid Content-Type");
    OSEC_GUARD(check_via_fix(&r->via_fix));
    return check_fields(r->add, r->n_add);
}

static int body_tail(struct osec_buf *out, const char *ctype, struct osec_slice body)
{
    if (ctype)
        OSEC_GUARD(line_cstr(out, "Content-Type", ctype));
    OSEC_GUARD(osec_buf_appendf(out, "Content-Length: %zu\r\n\r\n", body.len));
    return osec_buf_append_slice(out, body);
}

int osec_sip_reply(const struct osec_sip_msg *req, const struct osec_sip_reply *r,
                   struct osec_buf *out)
{
    const char *reason;

    OSEC_ENSURE(out != NULL, OSEC_EINVAL, "no output buffer");
    osec_buf_reset(out);
    OSEC_GUARD(check_reply(req, r));
    reason = r->reason ? r->reason : osec_sip_reason_phrase(r->status);
    OSEC_GUARD(osec_buf_appendf(out, "SIP/2.0 %u %s\r\n", r->status, reason));
    OSEC_GUARD(reply_vias(req, &r->via_fix, out));
    OSEC_GUARD(copy_one(req, OSEC_SIP_H_FROM, "From", out));
    OSEC_GUARD(reply_to(req, r, out));
    OSEC_GUARD(copy_one(req, OSEC_SIP_H_CALL_ID, "Call-ID", out));
    OSEC_GUARD(copy_one(req, OSEC_SIP_H_CSEQ, "CSeq", out));
    OSEC_GUARD(write_fields(out, r->add, r->n_add));
    return body_tail(out, r->content_type, r->body);
}

/* ---- forwarding -------------------------------------------------------- */

static int check_removals(const char *const *remove)
{
    static const char *const kept[] = { "Via", "From", "To", "Call-ID", "CSeq",
                                        "Max-Forwards", "Content-Length" };

    for (size_t i = 0; remove && remove[i]; i++) {
        const char *target = osec_sip_hdr_target(remove[i]);

        OSEC_ENSURE(osec_sip_all_token(osec_slice_cstr(remove[i])), OSEC_EINVAL,
                    "bad header name to remove");
        for (size_t j = 0; j < sizeof(kept) / sizeof(kept[0]); j++)
            OSEC_ENSURE(strcmp(target, kept[j]) != 0, OSEC_EINVAL,
                        "this header cannot be removed");
    }
    return 0;
}

static int check_edit(const struct osec_sip_msg *m, const struct osec_sip_edit *e)
{
    OSEC_ENSURE(m->valid, OSEC_EINVAL, "message not parsed");
    if (m->is_request) {
        OSEC_ENSURE(e->via && text_ok(e->via) && *e->via, OSEC_EINVAL, "bad or missing Via");
        OSEC_ENSURE(!e->pop_via, OSEC_EINVAL, "pop_via is for responses");
        OSEC_ENSURE(!e->pop_route || m->n_route > 0, OSEC_EINVAL, "no Route to pop");
        if (e->request_uri) {
            struct osec_slice u = osec_slice_cstr(e->request_uri);

            OSEC_ENSURE(u.len > 0 && u.len <= OSEC_SIP_URI_MAX, OSEC_EINVAL, "bad Request-URI");
            for (size_t i = 0; i < u.len; i++)
                OSEC_ENSURE(u.ptr[i] > 0x20 && u.ptr[i] < 0x7f, OSEC_EINVAL, "bad Request-URI");
        }
        OSEC_ENSURE(m->max_forwards != 0, OSEC_EPOLICY, "Max-Forwards is 0 (answer 483)");
    } else {
        OSEC_ENSURE(!e->via && !e->request_uri && !e->pop_route, OSEC_EINVAL,
                    "request edits on a response");
        OSEC_ENSURE(!e->pop_via || m->n_via > 1, OSEC_EPOLICY,
                    "response has no Via left for forwarding");
    }
    OSEC_GUARD(check_via_fix(&e->via_fix));
    OSEC_GUARD(check_removals(e->remove));
    return check_fields(e->add, e->n_add);
}

static bool removed(const struct osec_sip_header *h, const char *const *remove)
{
    for (size_t i = 0; remove && remove[i]; i++)
        if (osec_sip_hdr_is(h, osec_sip_hdr_target(remove[i])))
            return true;
    return false;
}

static int forward_start(const struct osec_sip_msg *m, const struct osec_sip_edit *e,
                         struct osec_buf *out)
{
    if (!m->is_request)
        return osec_buf_appendf(out, "SIP/2.0 %u %.*s\r\n", m->status, (int)m->reason.len,
                                (const char *)m->reason.ptr);
    OSEC_GUARD(osec_buf_append_slice(out, m->method));
    OSEC_GUARD(osec_buf_putc(out, ' '));
    if (e->request_uri)
        OSEC_GUARD(osec_buf_append_str(out, e->request_uri));
    else
        OSEC_GUARD(osec_buf_append_slice(out, m->ruri_raw));
    OSEC_GUARD(osec_buf_append_str(out, " SIP/2.0\r\n"));
    OSEC_GUARD(line_cstr(out, "Via", e->via));
    if (m->max_forwards < 0)
        OSEC_GUARD(osec_buf_appendf(out, "Max-Forwards: %d\r\n", SIP_MAX_FORWARDS_DEFAULT));
    return 0;
}

/* One original header line, edited as needed. */
static int forward_line(const struct osec_sip_msg *m, const struct osec_sip_edit *e, size_t i,
                        long top_via, long top_route, struct osec_buf *out)
{
    const struct osec_sip_header *h = &m->headers[i];

    if (removed(h, e->remove))
        return 0;
    switch (h->kind) {
    case OSEC_SIP_H_CONTENT_LENGTH:
        return 0; /* rewritten from the body */
    case OSEC_SIP_H_MAX_FORWARDS:
        if (!m->is_request)
            break;
        return osec_buf_appendf(out, "%.*s: %d\r\n", (int)h->name.len,
                                (const char *)h->name.ptr, m->max_forwards - 1);
    case OSEC_SIP_H_VIA:
        if ((long)i != top_via)
            break;
        if (e->pop_via)
            return line_popped(out, h, m->via[0].raw);
        if (m->is_request && fix_applies(&m->via[0], &e->via_fix))
            return via_line_fixed(out, h, &m->via[0], &e->via_fix);
        break;
    case OSEC_SIP_H_ROUTE:
        if ((long)i == top_route && e->pop_route)
            return line_popped(out, h, m->route[0].raw);
        break;
    default:
        break;
    }
    return line(out, h->name, h->value);
}

int osec_sip_forward(const struct osec_sip_msg *msg, const struct osec_sip_edit *edit,
                     struct osec_buf *out)
{
    long top_via, top_route;

    OSEC_ENSURE(msg && edit && out, OSEC_EINVAL, "bad arguments");
    osec_buf_reset(out);
    OSEC_GUARD(check_edit(msg, edit));
    top_via = first_of_kind(msg, OSEC_SIP_H_VIA);
    top_route = first_of_kind(msg, OSEC_SIP_H_ROUTE);
    OSEC_GUARD(forward_start(msg, edit, out));
    OSEC_GUARD(write_fields(out, edit->add, edit->n_add));
    for (size_t i = 0; i < msg->n_headers; i++)
        OSEC_GUARD(forward_line(msg, edit, i, top_via, top_route, out));
    OSEC_GUARD(osec_buf_appendf(out, "Content-Length: %zu\r\n\r\n", msg->body.len));
    return osec_buf_append_slice(out, msg->body);
}
