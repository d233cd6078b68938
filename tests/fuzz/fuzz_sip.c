/* libFuzzer harness: the SIP parser (datagram and stream framing), and on
 * success the URI / AOR helpers, the response writer and the forwarding
 * writer.  A forwarded valid message must parse again (checked). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "omasec/buf.h"
#include "omasec/sip.h"

static struct osec_sip_msg msg, again;

static void aor_of(struct osec_slice s, struct osec_buf *b)
{
    struct osec_sip_uri u;

    if (osec_sip_uri_parse(s, &u) == 0)
        (void)osec_sip_uri_aor(&u, b);
}

static void exercise_helpers(const struct osec_sip_msg *m, struct osec_buf *b)
{
    struct osec_slice v;

    if (m->is_request)
        (void)osec_sip_uri_aor(&m->ruri, b);
    aor_of(m->from.uri, b);
    aor_of(m->to.uri, b);
    for (size_t i = 0; i < m->n_contact; i++)
        aor_of(m->contact[i].uri, b);
    for (size_t i = 0; i < m->n_pai; i++)
        aor_of(m->pai[i].uri, b);
    (void)osec_sip_param_find(m->from.params, "tag", &v);
    (void)osec_sip_header_find(m, "Supported", 0);
}

static void reply(const struct osec_sip_msg *m, struct osec_buf *b)
{
    static const struct osec_sip_field www[] = { { "WWW-Authenticate", "Digest realm=\"x\"" } };
    struct osec_sip_reply r = { .status = m->err_status ? m->err_status : 401,
                                .reason = m->err_reason, .to_tag = "fz", .add = www,
                                .n_add = 1, .via_fix = { "192.0.2.1", 5060 } };

    if (m->framed && m->is_request)
        (void)osec_sip_reply(m, &r, b);
}

/* Forward with the edge's usual edits; the result must parse again. */
static void forward(const struct osec_sip_msg *m, struct osec_buf *b)
{
    static const char *const strip[] = { "P-Asserted-Identity", "P-Preferred-Identity", NULL };
    static const struct osec_sip_field add[] = {
        { "P-Asserted-Identity", "<sip:alice@example.com>" },
        { "Record-Route", "<sip:edge.example.net;lr>" },
    };
    struct osec_sip_edit e = { .remove = strip, .add = add, .n_add = 2,
                               .via_fix = { "2001:db8::1", 5061 } };

    if (m->is_request) {
        e.via = "SIP/2.0/TLS edge.example.net;branch=z9hG4bKfuzz";
        e.pop_route = m->n_route > 0;
    } else {
        e.pop_via = true;
        e.n_add = 1;
    }
    if (osec_sip_forward(m, &e, b) != 0)
        return;
    /* room for what we add: Via, P-Asserted-Identity, Record-Route,
     * Max-Forwards, Content-Length, and received/rport on the top Via */
    if (m->n_headers + 5 > OSEC_SIP_HEADERS_MAX || m->n_via >= OSEC_SIP_VIA_MAX ||
        m->n_record_route >= OSEC_SIP_ROUTE_MAX)
        return;
    for (size_t i = 0; i < m->n_headers; i++)
        if (m->headers[i].name.len + m->headers[i].value.len + 64 > OSEC_SIP_LINE_MAX)
            return;
    if (osec_sip_parse(osec_buf_slice(b), OSEC_SIP_STREAM, 1u << 20, &again) != 0 ||
        again.consumed != b->len || again.body.len != m->body.len || again.n_ppi != 0 ||
        again.n_pai != 1)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct osec_buf b = OSEC_BUF_INIT(1u << 20);
    struct osec_slice in = osec_slice_make(data, size);

    for (unsigned flags = 0; flags <= OSEC_SIP_STREAM; flags++) {
        for (int n = 0; n < 4; n++) {
            int rc = osec_sip_parse(in, flags, 0, &msg);

            if (rc < 0)
                reply(&msg, &b);
            if (rc != 0)
                break;
            exercise_helpers(&msg, &b);
            reply(&msg, &b);
            forward(&msg, &b);
            if (!(flags & OSEC_SIP_STREAM) || msg.consumed == 0 || msg.consumed > in.len)
                break;
            in = osec_slice_sub(in, msg.consumed, in.len - msg.consumed);
        }
        in = osec_slice_make(data, size);
    }
    osec_buf_free(&b);
    return 0;
}
