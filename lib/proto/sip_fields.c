/* The header fields the edge uses: parse each framed header line into
 * struct osec_sip_msg and check the mandatory ones (RFC 3261 8.1.1). */
#include <string.h>

#include "omasec/error.h"
#include "proto/sip_int.h"

struct fctx {
    struct osec_sip_msg *m;
    uint32_t seen; /* single-valued headers met, one bit per kind */
};

static const char *const bad_reason[] = {
    [OSEC_SIP_H_OTHER] = "Bad Header",
    [OSEC_SIP_H_VIA] = "Bad Via",
    [OSEC_SIP_H_FROM] = "Bad From",
    [OSEC_SIP_H_TO] = "Bad To",
    [OSEC_SIP_H_CALL_ID] = "Bad Call-ID",
    [OSEC_SIP_H_CSEQ] = "Bad CSeq",
    [OSEC_SIP_H_CONTACT] = "Bad Contact",
    [OSEC_SIP_H_EXPIRES] = "Bad Expires",
    [OSEC_SIP_H_MAX_FORWARDS] = "Bad Max-Forwards",
    [OSEC_SIP_H_ROUTE] = "Bad Route",
    [OSEC_SIP_H_RECORD_ROUTE] = "Bad Record-Route",
    [OSEC_SIP_H_AUTHORIZATION] = "Bad Authorization",
    [OSEC_SIP_H_PROXY_AUTHORIZATION] = "Bad Proxy-Authorization",
    [OSEC_SIP_H_P_ASSERTED_IDENTITY] = "Bad P-Asserted-Identity",
    [OSEC_SIP_H_P_PREFERRED_IDENTITY] = "Bad P-Preferred-Identity",
    [OSEC_SIP_H_CONTENT_LENGTH] = "Bad Content-Length",
    [OSEC_SIP_H_CONTENT_TYPE] = "Bad Content-Type",
};

int osec_sip_msg_fail(struct osec_sip_msg *m, int rc, unsigned status, const char *reason)
{
    m->err_status = status;
    m->err_reason = reason;
    return rc;
}

static int once(struct fctx *f, enum osec_sip_hdr kind)
{
    uint32_t bit = 1u << (unsigned)kind;

    if (f->seen & bit)
        OSEC_SIP_BAD(f->m, "Duplicate Header");
    f->seen |= bit;
    return 0;
}

/* Comma list of name-addrs appended to arr[*n]; an empty value is an error. */
static int nameaddr_list(struct osec_slice v, struct osec_sip_nameaddr *arr, size_t *n,
                         size_t max, bool star_ok)
{
    struct osec_cursor c;
    struct osec_slice item;
    size_t before = *n;
    int rc;

    osec_cursor_init(&c, v.ptr, v.len);
    while ((rc = osec_sip_list_next(&c, &item)) > 0) {
        OSEC_ENSURE(*n < max, OSEC_EBOUNDS, "too many header values");
        OSEC_GUARD(osec_sip_nameaddr_parse(item, &arr[*n]));
        OSEC_ENSURE(star_ok || !arr[*n].star, OSEC_EPARSE, "'*' outside Contact");
        (*n)++;
    }
    OSEC_GUARD(rc);
    OSEC_ENSURE(*n > before, OSEC_EPARSE, "empty header value");
    return 0;
}

static int via_list(struct osec_sip_msg *m, struct osec_slice v)
{
    struct osec_cursor c;
    struct osec_slice item;
    size_t before = m->n_via;
    int rc;

    osec_cursor_init(&c, v.ptr, v.len);
    while ((rc = osec_sip_list_next(&c, &item)) > 0) {
        OSEC_ENSURE(m->n_via < OSEC_SIP_VIA_MAX, OSEC_EBOUNDS, "too many Via values");
        OSEC_GUARD(osec_sip_via_parse(item, &m->via[m->n_via]));
        m->n_via++;
    }
    OSEC_GUARD(rc);
    OSEC_ENSURE(m->n_via > before, OSEC_EPARSE, "empty Via");
    return 0;
}

/* CSeq = 1*DIGIT LWS Method, number < 2**31 */
static int cseq(struct osec_sip_msg *m, struct osec_slice v)
{
    struct osec_cursor c;
    struct osec_slice num;
    uint64_t n;

    osec_cursor_init(&c, v.ptr, v.len);
    num = osec_cursor_span(&c, osec_sip_is_digit);
    OSEC_ENSURE(num.len > 0 && num.len <= 10 && osec_sip_is_ws((uint8_t)osec_cursor_peek(&c)),
                OSEC_EPARSE, "bad CSeq number");
    OSEC_GUARD(osec_slice_to_u64(num, OSEC_SIP_CSEQ_MAX, &n));
    osec_cursor_skip_ws(&c);
    m->cseq_method = osec_cursor_span(&c, osec_sip_is_token);
    OSEC_ENSURE(m->cseq_method.len > 0 && osec_cursor_eof(&c), OSEC_EPARSE, "bad CSeq method");
    m->cseq = (uint32_t)n;
    return 0;
}

static int simple_value(struct osec_slice v, bool spaces_ok)
{
    OSEC_ENSURE(v.len > 0, OSEC_EPARSE, "empty header value");
    if (!spaces_ok)
        for (size_t i = 0; i < v.len; i++)
            OSEC_ENSURE(!osec_sip_is_ws(v.ptr[i]), OSEC_EPARSE, "white space in value");
    return 0;
}

static int raw_value(struct osec_slice v, struct osec_slice *arr, size_t *n)
{
    OSEC_ENSURE(*n < OSEC_SIP_AUTH_MAX, OSEC_EBOUNDS, "too many credentials");
    OSEC_GUARD(simple_value(v, true));
    arr[(*n)++] = v;
    return 0;
}

static int numeric(struct osec_sip_msg *m, enum osec_sip_hdr kind, struct osec_slice v)
{
    uint64_t n;

    switch (kind) {
    case OSEC_SIP_H_EXPIRES:
        m->has_expires = true;
        return osec_sip_delta_seconds(v, &m->expires);
    case OSEC_SIP_H_MAX_FORWARDS:
        OSEC_GUARD(osec_slice_to_u64(v, 255, &n));
        m->max_forwards = (int)n;
        return 0;
    default: /* Content-Length; the size limit is applied with the body */
        OSEC_GUARD(osec_slice_to_u64(v, SIZE_MAX, &n));
        m->content_length = (size_t)n;
        m->has_content_length = true;
        return 0;
    }
}

static int single(struct osec_sip_msg *m, enum osec_sip_hdr kind, struct osec_slice v)
{
    switch (kind) {
    case OSEC_SIP_H_FROM:
        OSEC_GUARD(osec_sip_nameaddr_parse(v, &m->from));
        OSEC_ENSURE(!m->from.star, OSEC_EPARSE, "'*' in From");
        return 0;
    case OSEC_SIP_H_TO:
        OSEC_GUARD(osec_sip_nameaddr_parse(v, &m->to));
        OSEC_ENSURE(!m->to.star, OSEC_EPARSE, "'*' in To");
        return 0;
    case OSEC_SIP_H_CALL_ID:
        OSEC_GUARD(simple_value(v, false));
        m->call_id = v;
        return 0;
    case OSEC_SIP_H_CSEQ:
        return cseq(m, v);
    case OSEC_SIP_H_CONTENT_TYPE:
        OSEC_GUARD(simple_value(v, true));
        OSEC_ENSURE(osec_slice_find(v, '/') > 0, OSEC_EPARSE, "bad media type");
        m->content_type = v;
        return 0;
    default:
        return numeric(m, kind, v);
    }
}

static int field(struct fctx *f, const struct osec_sip_header *h)
{
    struct osec_sip_msg *m = f->m;

    switch (h->kind) {
    case OSEC_SIP_H_OTHER:
        return 0;
    case OSEC_SIP_H_VIA:
        return via_list(m, h->value);
    case OSEC_SIP_H_CONTACT:
        return nameaddr_list(h->value, m->contact, &m->n_contact, OSEC_SIP_CONTACT_MAX,
                             true);
    case OSEC_SIP_H_ROUTE:
        return nameaddr_list(h->value, m->route, &m->n_route, OSEC_SIP_ROUTE_MAX, false);
    case OSEC_SIP_H_RECORD_ROUTE:
        return nameaddr_list(h->value, m->record_route, &m->n_record_route,
                             OSEC_SIP_ROUTE_MAX, false);
    case OSEC_SIP_H_P_ASSERTED_IDENTITY:
        return nameaddr_list(h->value, m->pai, &m->n_pai, OSEC_SIP_IDENTITY_MAX, false);
    case OSEC_SIP_H_P_PREFERRED_IDENTITY:
        return nameaddr_list(h->value, m->ppi, &m->n_ppi, OSEC_SIP_IDENTITY_MAX, false);
    case OSEC_SIP_H_AUTHORIZATION:
        return raw_value(h->value, m->authorization, &m->n_authorization);
    case OSEC_SIP_H_PROXY_AUTHORIZATION:
        return raw_value(h->value, m->proxy_authorization, &m->n_proxy_authorization);
    default:
        OSEC_GUARD(once(f, h->kind));
        return single(m, h->kind, h->value);
    }
}

static int required(struct osec_sip_msg *m)
{
    if (m->n_via == 0)
        OSEC_SIP_BAD(m, "Missing Via");
    if (m->from.raw.len == 0)
        OSEC_SIP_BAD(m, "Missing From");
    if (m->to.raw.len == 0)
        OSEC_SIP_BAD(m, "Missing To");
    if (m->call_id.len == 0)
        OSEC_SIP_BAD(m, "Missing Call-ID");
    if (m->cseq_method.len == 0)
        OSEC_SIP_BAD(m, "Missing CSeq");
    if (m->is_request && !osec_slice_eq(m->cseq_method, m->method))
        OSEC_SIP_BAD(m, "CSeq Method Mismatch");
    for (size_t i = 0; i < m->n_contact; i++)
        if (m->contact[i].star && m->n_contact > 1)
            OSEC_SIP_BAD(m, "Bad Contact");
    return 0;
}

int osec_sip_fields_parse(struct osec_sip_msg *m)
{
    struct fctx f = { m, 0 };

    for (size_t i = 0; i < m->n_headers; i++) {
        const struct osec_sip_header *h = &m->headers[i];
        int rc = field(&f, h);

        if (rc < 0 && m->err_status == 0) {
            if (rc == OSEC_EBOUNDS)
                return osec_sip_msg_fail(m, rc, 400,
                                         h->kind == OSEC_SIP_H_VIA ? "Too Many Via Headers"
                                                                   : "Too Many Header Values");
            return osec_sip_msg_fail(m, OSEC_EPARSE, 400, bad_reason[h->kind]);
        }
        if (rc < 0)
            return rc;
    }
    return required(m);
}
