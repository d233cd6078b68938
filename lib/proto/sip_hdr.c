/* Structured SIP header values: name-addr / addr-spec with header
 * parameters (From, To, Contact, Route, P-Asserted-Identity) and Via. */
#include <string.h>

#include "omasec/error.h"
#include "proto/sip_int.h"

static bool display_char(uint8_t c)
{
    return osec_sip_is_token(c) || osec_sip_is_ws(c);
}

/* A URI inside <> or an addr-spec: no white space, quotes or brackets, and
 * "scheme:" in front.  The scheme itself is checked by whoever parses it. */
static int uri_shape(struct osec_slice uri, const char *forbidden)
{
    long colon = osec_slice_find(uri, ':');

    OSEC_ENSURE(colon > 0, OSEC_EPARSE, "URI without scheme");
    for (size_t i = 0; i < uri.len; i++)
        OSEC_ENSURE(uri.ptr[i] > 0x20 && strchr(forbidden, uri.ptr[i]) == NULL, OSEC_EPARSE,
                    "bad character in URI");
    return 0;
}

static int nameaddr_params(struct osec_sip_nameaddr *na)
{
    struct osec_cursor c;
    struct osec_sip_param p;
    int rc;

    osec_cursor_init(&c, na->params.ptr, na->params.len);
    while ((rc = osec_sip_param_next(&c, &p)) > 0) {
        if (osec_slice_eq_ci(p.name, "tag")) {
            OSEC_ENSURE(na->tag.len == 0 && osec_sip_all_token(p.value), OSEC_EPARSE,
                        "bad tag parameter");
            na->tag = p.value;
        } else if (osec_slice_eq_ci(p.name, "expires")) {
            OSEC_ENSURE(!na->has_expires, OSEC_EPARSE, "duplicate expires parameter");
            OSEC_GUARD(osec_sip_delta_seconds(p.value, &na->expires));
            na->has_expires = true;
        }
    }
    return rc;
}

/* [display] <uri> : the cursor is on the '<' or the opening quote. */
static int name_addr(struct osec_cursor *c, struct osec_sip_nameaddr *na)
{
    if (osec_cursor_peek(c) == '"') {
        size_t start = c->pos;

        OSEC_GUARD(osec_sip_skip_quoted(c));
        na->display = osec_slice_make(c->ptr + start + 1, c->pos - start - 2);
        osec_cursor_skip_ws(c);
    }
    OSEC_ENSURE(osec_cursor_eat(c, '<'), OSEC_EPARSE, "expected '<'");
    OSEC_GUARD(osec_cursor_until(c, '>', &na->uri));
    (void)osec_cursor_eat(c, '>');
    return uri_shape(na->uri, "<\"");
}

int osec_sip_nameaddr_parse(struct osec_slice s, struct osec_sip_nameaddr *na)
{
    struct osec_cursor c;
    struct osec_slice disp;

    memset(na, 0, sizeof(*na));
    s = osec_slice_trim(s);
    na->raw = s;
    if (osec_slice_eq_cstr(s, "*")) {
        na->star = true;
        return 0;
    }
    osec_cursor_init(&c, s.ptr, s.len);
    disp = osec_cursor_span(&c, display_char);
    if (osec_cursor_peek(&c) == '<') {
        na->display = osec_slice_trim(disp);
        OSEC_GUARD(name_addr(&c, na));
    } else if (disp.len == 0 && osec_cursor_peek(&c) == '"') {
        OSEC_GUARD(name_addr(&c, na));
    } else {
        /* addr-spec: parameters after it belong to the header (RFC 3261 20) */
        long semi = osec_slice_find(s, ';');

        c.pos = semi < 0 ? s.len : (size_t)semi;
        na->uri = osec_slice_trim(osec_slice_sub(s, 0, c.pos));
        OSEC_GUARD(uri_shape(na->uri, "<>\",?"));
    }
    na->params = osec_slice_make(c.ptr + c.pos, c.len - c.pos);
    osec_cursor_skip_ws(&c);
    OSEC_ENSURE(osec_cursor_eof(&c) || osec_cursor_peek(&c) == ';', OSEC_EPARSE,
                "junk after URI");
    na->params = osec_slice_trim(na->params);
    return nameaddr_params(na);
}

/* ---- Via -------------------------------------------------------------- */

static bool sent_by_char(uint8_t c)
{
    return osec_sip_is_alnum(c) || c == '-' || c == '.' || c == ':' || c == '[' || c == ']';
}

static bool received_ok(struct osec_slice v)
{
    if (v.len == 0)
        return false;
    for (size_t i = 0; i < v.len; i++)
        if (!osec_sip_is_hex(v.ptr[i]) && v.ptr[i] != '.' && v.ptr[i] != ':' &&
            v.ptr[i] != '[' && v.ptr[i] != ']')
            return false;
    return true;
}

/* "SIP / 2.0 / UDP" with optional white space around the slashes. */
static int sent_protocol(struct osec_cursor *c, struct osec_sip_via *v)
{
    struct osec_slice name, version;

    name = osec_cursor_span(c, osec_sip_is_token);
    osec_cursor_skip_ws(c);
    OSEC_ENSURE(osec_slice_eq_ci(name, "SIP") && osec_cursor_eat(c, '/'), OSEC_EPARSE,
                "bad Via protocol");
    osec_cursor_skip_ws(c);
    version = osec_cursor_span(c, osec_sip_is_token);
    osec_cursor_skip_ws(c);
    OSEC_ENSURE(osec_slice_eq_cstr(version, "2.0") && osec_cursor_eat(c, '/'), OSEC_EPARSE,
                "bad Via version");
    osec_cursor_skip_ws(c);
    v->transport = osec_cursor_span(c, osec_sip_is_token);
    OSEC_ENSURE(v->transport.len > 0 && osec_sip_is_ws((uint8_t)osec_cursor_peek(c)),
                OSEC_EPARSE, "bad Via transport");
    osec_cursor_skip_ws(c);
    return 0;
}

static int via_param(struct osec_sip_via *v, const struct osec_sip_param *p)
{
    uint64_t port;

    if (osec_slice_eq_ci(p->name, "branch")) {
        OSEC_ENSURE(v->branch.len == 0 && osec_sip_all_token(p->value), OSEC_EPARSE,
                    "bad Via branch");
        v->branch = p->value;
    } else if (osec_slice_eq_ci(p->name, "received")) {
        OSEC_ENSURE(v->received.len == 0 && received_ok(p->value), OSEC_EPARSE,
                    "bad Via received");
        v->received = p->value;
    } else if (osec_slice_eq_ci(p->name, "rport")) {
        OSEC_ENSURE(!v->has_rport, OSEC_EPARSE, "duplicate Via rport");
        if (p->has_value)
            OSEC_GUARD(osec_slice_to_u64(p->value, 65535, &port));
        v->rport = p->value;
        v->has_rport = true;
    }
    return 0;
}

int osec_sip_via_parse(struct osec_slice s, struct osec_sip_via *v)
{
    struct osec_cursor c;
    struct osec_sip_param p;
    struct osec_slice sent_by;
    int rc;

    memset(v, 0, sizeof(*v));
    v->raw = s = osec_slice_trim(s);
    osec_cursor_init(&c, s.ptr, s.len);
    OSEC_GUARD(sent_protocol(&c, v));
    sent_by = osec_cursor_span(&c, sent_by_char);
    OSEC_GUARD(osec_sip_hostport(sent_by, &v->host, &v->port));
    osec_cursor_skip_ws(&c);
    v->params = osec_slice_make(c.ptr + c.pos, c.len - c.pos);
    while ((rc = osec_sip_param_next(&c, &p)) > 0)
        OSEC_GUARD(via_param(v, &p));
    return rc;
}
