/* SIP lexical helpers: character classes, the header-name table (with
 * compact forms), comma lists, header parameters, methods, reason phrases. */
#include <string.h>

#include "omasec/error.h"
#include "proto/sip_int.h"

bool osec_sip_is_alnum(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool osec_sip_is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

bool osec_sip_is_hex(uint8_t c)
{
    return osec_sip_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool osec_sip_is_token(uint8_t c)
{
    return osec_sip_is_alnum(c) || (c != 0 && strchr("-.!%*_+`'~", c) != NULL);
}

bool osec_sip_is_ws(uint8_t c)
{
    return c == ' ' || c == '\t';
}

bool osec_sip_is_ctl(uint8_t c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

bool osec_sip_all_token(struct osec_slice s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!osec_sip_is_token(s.ptr[i]))
            return false;
    return true;
}

uint8_t osec_sip_lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* ---- header names ---------------------------------------------------- */

struct hdr_name {
    const char *full;
    const char *compact; /* RFC 3261 7.3.3 and later RFCs, or NULL */
    enum osec_sip_hdr kind;
};

static const struct hdr_name hdr_names[] = {
    { "Via", "v", OSEC_SIP_H_VIA },
    { "From", "f", OSEC_SIP_H_FROM },
    { "To", "t", OSEC_SIP_H_TO },
    { "Call-ID", "i", OSEC_SIP_H_CALL_ID },
    { "CSeq", NULL, OSEC_SIP_H_CSEQ },
    { "Contact", "m", OSEC_SIP_H_CONTACT },
    { "Expires", NULL, OSEC_SIP_H_EXPIRES },
    { "Max-Forwards", NULL, OSEC_SIP_H_MAX_FORWARDS },
    { "Route", NULL, OSEC_SIP_H_ROUTE },
    { "Record-Route", NULL, OSEC_SIP_H_RECORD_ROUTE },
    { "Authorization", NULL, OSEC_SIP_H_AUTHORIZATION },
    { "Proxy-Authorization", NULL, OSEC_SIP_H_PROXY_AUTHORIZATION },
    { "P-Asserted-Identity", NULL, OSEC_SIP_H_P_ASSERTED_IDENTITY },
    { "P-Preferred-Identity", NULL, OSEC_SIP_H_P_PREFERRED_IDENTITY },
    { "Content-Length", "l", OSEC_SIP_H_CONTENT_LENGTH },
    { "Content-Type", "c", OSEC_SIP_H_CONTENT_TYPE },
    /* compact forms of headers we only pass along */
    { "Content-Encoding", "e", OSEC_SIP_H_OTHER },
    { "Subject", "s", OSEC_SIP_H_OTHER },
    { "Supported", "k", OSEC_SIP_H_OTHER },
    { "Event", "o", OSEC_SIP_H_OTHER },              /* RFC 6665 */
    { "Allow-Events", "u", OSEC_SIP_H_OTHER },       /* RFC 6665 */
    { "Refer-To", "r", OSEC_SIP_H_OTHER },           /* RFC 3515 */
    { "Referred-By", "b", OSEC_SIP_H_OTHER },        /* RFC 3892 */
    { "Session-Expires", "x", OSEC_SIP_H_OTHER },    /* RFC 4028 */
    { "Accept-Contact", "a", OSEC_SIP_H_OTHER },     /* RFC 3841 */
    { "Reject-Contact", "j", OSEC_SIP_H_OTHER },     /* RFC 3841 */
    { "Request-Disposition", "d", OSEC_SIP_H_OTHER },/* RFC 3841 */
    { "Identity", "y", OSEC_SIP_H_OTHER },           /* RFC 8224 */
    { "Identity-Info", "n", OSEC_SIP_H_OTHER },      /* RFC 4474 */
};

enum osec_sip_hdr osec_sip_hdr_lookup(struct osec_slice name, const char **canon)
{
    for (size_t i = 0; i < sizeof(hdr_names) / sizeof(hdr_names[0]); i++) {
        const struct hdr_name *h = &hdr_names[i];

        if (osec_slice_eq_ci(name, h->full) ||
            (h->compact && osec_slice_eq_ci(name, h->compact))) {
            *canon = h->full;
            return h->kind;
        }
    }
    *canon = NULL;
    return OSEC_SIP_H_OTHER;
}

const char *osec_sip_hdr_target(const char *name)
{
    const char *canon;

    (void)osec_sip_hdr_lookup(osec_slice_cstr(name), &canon);
    return canon ? canon : name;
}

bool osec_sip_hdr_is(const struct osec_sip_header *h, const char *target)
{
    if (h->canon)
        return osec_slice_eq_ci(osec_slice_cstr(h->canon), target);
    return osec_slice_eq_ci(h->name, target);
}

long osec_sip_header_find(const struct osec_sip_msg *msg, const char *name, size_t start)
{
    const char *target = osec_sip_hdr_target(name);

    for (size_t i = start; i < msg->n_headers; i++)
        if (osec_sip_hdr_is(&msg->headers[i], target))
            return (long)i;
    return -1;
}

/* ---- lists and parameters -------------------------------------------- */

int osec_sip_skip_quoted(struct osec_cursor *c)
{
    OSEC_ENSURE(osec_cursor_eat(c, '"'), OSEC_EPARSE, "expected quoted-string");
    while (!osec_cursor_eof(c)) {
        uint8_t ch = c->ptr[c->pos++];

        if (ch == '"')
            return 0;
        if (ch == '\\') {
            OSEC_ENSURE(!osec_cursor_eof(c), OSEC_EPARSE, "unterminated quoted-pair");
            c->pos++;
        }
    }
    OSEC_BAIL(OSEC_EPARSE, "unterminated quoted-string");
}

/* Advance to the next top-level comma (or the end). */
static int scan_element(struct osec_cursor *c)
{
    bool angle = false;

    while (!osec_cursor_eof(c)) {
        uint8_t ch = c->ptr[c->pos];

        if (angle) {
            angle = ch != '>';
        } else if (ch == '"') {
            OSEC_GUARD(osec_sip_skip_quoted(c));
            continue;
        } else if (ch == '<') {
            angle = true;
        } else if (ch == '>') {
            OSEC_BAIL(OSEC_EPARSE, "unbalanced '>'");
        } else if (ch == ',') {
            return 0;
        }
        c->pos++;
    }
    OSEC_ENSURE(!angle, OSEC_EPARSE, "unterminated '<'");
    return 0;
}

int osec_sip_list_next(struct osec_cursor *c, struct osec_slice *item)
{
    size_t start;

    if (osec_cursor_eof(c))
        return 0;
    start = c->pos;
    OSEC_GUARD(scan_element(c));
    *item = osec_slice_trim(osec_slice_make(c->ptr + start, c->pos - start));
    OSEC_ENSURE(item->len > 0, OSEC_EPARSE, "empty list element");
    if (osec_cursor_eat(c, ',')) {
        osec_cursor_skip_ws(c);
        OSEC_ENSURE(!osec_cursor_eof(c), OSEC_EPARSE, "empty list element");
    }
    return 1;
}

static bool is_param_value(uint8_t c)
{
    return osec_sip_is_token(c) || (c != 0 && strchr(":[]/&$()", c) != NULL);
}

int osec_sip_param_next(struct osec_cursor *c, struct osec_sip_param *p)
{
    size_t start;

    osec_cursor_skip_ws(c);
    if (osec_cursor_eof(c))
        return 0;
    start = c->pos;
    OSEC_ENSURE(osec_cursor_eat(c, ';'), OSEC_EPARSE, "expected ';'");
    osec_cursor_skip_ws(c);
    p->name = osec_cursor_span(c, osec_sip_is_token);
    OSEC_ENSURE(p->name.len > 0, OSEC_EPARSE, "empty parameter name");
    p->value = osec_slice_make(c->ptr + c->pos, 0);
    p->has_value = false;
    osec_cursor_skip_ws(c);
    if (osec_cursor_eat(c, '=')) {
        size_t vstart;

        osec_cursor_skip_ws(c);
        vstart = c->pos;
        if (osec_cursor_peek(c) == '"')
            OSEC_GUARD(osec_sip_skip_quoted(c));
        else
            (void)osec_cursor_span(c, is_param_value);
        p->value = osec_slice_make(c->ptr + vstart, c->pos - vstart);
        OSEC_ENSURE(p->value.len > 0, OSEC_EPARSE, "empty parameter value");
        p->has_value = true;
    }
    p->whole = osec_slice_make(c->ptr + start, c->pos - start);
    return 1;
}

int osec_sip_param_find(struct osec_slice params, const char *name, struct osec_slice *value)
{
    struct osec_cursor c;
    struct osec_sip_param p;
    int rc;

    osec_cursor_init(&c, params.ptr, params.len);
    while ((rc = osec_sip_param_next(&c, &p)) > 0) {
        if (osec_slice_eq_ci(p.name, name)) {
            *value = p.value;
            return 0;
        }
    }
    if (rc < 0)
        return rc;
    return OSEC_ENOTFOUND; /* an expected outcome: no error message recorded */
}

/* ---- numbers and hosts ----------------------------------------------- */

int osec_sip_delta_seconds(struct osec_slice s, uint32_t *out)
{
    uint64_t v = 0;

    OSEC_ENSURE(s.len > 0, OSEC_EPARSE, "empty number");
    for (size_t i = 0; i < s.len; i++) {
        OSEC_ENSURE(osec_sip_is_digit(s.ptr[i]), OSEC_EPARSE, "not a decimal number");
        v = v * 10 + (uint64_t)(s.ptr[i] - '0');
        if (v > UINT32_MAX)
            v = UINT32_MAX + (uint64_t)1; /* RFC 3261 20.19: clamp, keep scanning */
    }
    *out = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    return 0;
}

static bool ipv6_ok(struct osec_slice s)
{
    if (s.len < 4 || s.ptr[0] != '[' || s.ptr[s.len - 1] != ']')
        return false;
    for (size_t i = 1; i + 1 < s.len; i++)
        if (!osec_sip_is_hex(s.ptr[i]) && s.ptr[i] != ':' && s.ptr[i] != '.')
            return false;
    return true;
}

bool osec_sip_host_ok(struct osec_slice host)
{
    if (host.len == 0)
        return false;
    if (host.ptr[0] == '[')
        return ipv6_ok(host);
    if (!osec_sip_is_alnum(host.ptr[0]))
        return false;
    for (size_t i = 0; i < host.len; i++)
        if (!osec_sip_is_alnum(host.ptr[i]) && host.ptr[i] != '-' && host.ptr[i] != '.')
            return false;
    return true;
}

int osec_sip_hostport(struct osec_slice s, struct osec_slice *host, uint16_t *port)
{
    long colon = -1;
    uint64_t v;

    if (s.len > 0 && s.ptr[0] == '[') {
        long close = osec_slice_find(s, ']');

        OSEC_ENSURE(close > 0, OSEC_EPARSE, "bad IPv6 reference");
        if ((size_t)close + 1 < s.len) {
            OSEC_ENSURE(s.ptr[close + 1] == ':', OSEC_EPARSE, "bad host:port");
            colon = close + 1;
        }
    } else {
        colon = osec_slice_find(s, ':');
    }
    *host = colon < 0 ? s : osec_slice_sub(s, 0, (size_t)colon);
    *port = 0;
    OSEC_ENSURE(osec_sip_host_ok(*host), OSEC_EPARSE, "bad host");
    if (colon >= 0) {
        struct osec_slice p = osec_slice_sub(s, (size_t)colon + 1, s.len);

        OSEC_ENSURE(p.len <= 5, OSEC_EPARSE, "bad port");
        OSEC_GUARD(osec_slice_to_u64(p, 65535, &v));
        OSEC_ENSURE(v > 0, OSEC_EPARSE, "bad port");
        *port = (uint16_t)v;
    }
    return 0;
}

/* ---- methods and reason phrases -------------------------------------- */

static const char *const method_names[] = {
    NULL, "REGISTER", "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "MESSAGE",
    "SUBSCRIBE", "NOTIFY", "PUBLISH", "INFO", "PRACK", "UPDATE", "REFER",
};

enum osec_sip_method osec_sip_method_from(struct osec_slice token)
{
    for (size_t i = 1; i < sizeof(method_names) / sizeof(method_names[0]); i++)
        if (osec_slice_eq_cstr(token, method_names[i]))
            return (enum osec_sip_method)i;
    return OSEC_SIP_M_OTHER;
}

struct reason {
    unsigned code;
    const char *text;
};

static const struct reason reasons[] = {
    { 100, "Trying" }, { 180, "Ringing" }, { 183, "Session Progress" },
    { 200, "OK" }, { 202, "Accepted" }, { 302, "Moved Temporarily" },
    { 400, "Bad Request" }, { 401, "Unauthorized" }, { 403, "Forbidden" },
    { 404, "Not Found" }, { 405, "Method Not Allowed" }, { 407, "Proxy Authentication Required" },
    { 408, "Request Timeout" }, { 413, "Request Entity Too Large" },
    { 414, "Request-URI Too Long" }, { 415, "Unsupported Media Type" },
    { 416, "Unsupported URI Scheme" }, { 420, "Bad Extension" }, { 421, "Extension Required" },
    { 423, "Interval Too Brief" }, { 429, "Too Many Requests" },
    { 480, "Temporarily Unavailable" }, { 481, "Call/Transaction Does Not Exist" },
    { 482, "Loop Detected" }, { 483, "Too Many Hops" }, { 486, "Busy Here" },
    { 487, "Request Terminated" }, { 488, "Not Acceptable Here" },
    { 489, "Bad Event" }, { 491, "Request Pending" }, { 500, "Server Internal Error" },
    { 501, "Not Implemented" }, { 502, "Bad Gateway" }, { 503, "Service Unavailable" },
    { 504, "Server Time-out" }, { 505, "Version Not Supported" }, { 513, "Message Too Large" },
    { 603, "Decline" },
};

const char *osec_sip_reason_phrase(unsigned status)
{
    static const char *const generic[] = { "Unknown", "Provisional", "Success", "Redirection",
                                           "Client Error", "Server Error", "Global Failure" };

    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].code == status)
            return reasons[i].text;
    return (status >= 100 && status < 700) ? generic[status / 100] : generic[0];
}
