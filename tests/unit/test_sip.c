/* Unit tests for the SIP parser and writer (lib/proto/sip_*.c):
 * RFC 3261 example messages, RFC 4475 torture cases, limits, AORs,
 * responses and forwarding edits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "omasec/buf.h"
#include "omasec/error.h"
#include "omasec/sip.h"

static struct osec_sip_msg *m;   /* parsed message under test (~20 KiB) */
static struct osec_sip_msg *m2;  /* re-parsed writer output */
static char text[80000];         /* message assembled from lines */

static int setup(void **state)
{
    (void)state;
    m = calloc(1, sizeof(*m));
    m2 = calloc(1, sizeof(*m2));
    return m && m2 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(m);
    free(m2);
    return 0;
}

/* Join lines with CRLF, end the header section, append body.  Lines that
 * start with skip (when not NULL) are left out. */
static const char *build(const char *const *lines, const char *skip, const char *body)
{
    size_t n = 0;

    for (size_t i = 0; lines[i]; i++) {
        if (skip && strncmp(lines[i], skip, strlen(skip)) == 0)
            continue;
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%s\r\n", lines[i]);
    }
    snprintf(text + n, sizeof(text) - n, "\r\n%s", body ? body : "");
    return text;
}

static int parse(const char *s)
{
    return osec_sip_parse(osec_slice_cstr(s), 0, 0, m);
}

static int parse_stream(const char *s, size_t len)
{
    return osec_sip_parse(osec_slice_make(s, len), OSEC_SIP_STREAM, 0, m);
}

#define assert_slice(sl, str) assert_true(osec_slice_eq_cstr((sl), (str)))

static void assert_fails(int rc, int code, unsigned status, const char *reason)
{
    assert_int_equal(rc, code);
    assert_int_equal(m->err_status, status);
    if (reason)
        assert_string_equal(m->err_reason, reason);
    assert_false(m->valid);
}

static const char *const reg_lines[] = {
    "REGISTER sip:registrar.example.com SIP/2.0",
    "Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bKnashds7;rport",
    "Max-Forwards: 70",
    "To: Alice <sip:alice@example.com>",
    "From: \"Alice Liddell\" <sip:alice@example.com>;tag=456248",
    "Call-ID: 843817637684230@998sdasdh09",
    "CSeq: 1826 REGISTER",
    "Contact: <sip:alice@192.0.2.4:5060;transport=tcp>;expires=3600",
    "Expires: 7200",
    "Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"abc\", "
    "uri=\"sip:registrar.example.com\", response=\"0123456789abcdef0123456789abcdef\"",
    "Content-Length: 0",
    NULL,
};

/* ---- parsing well-formed messages --------------------------------------- */

static void register_with_authorization(void **state)
{
    const char *s = build(reg_lines, NULL, NULL);
    (void)state;

    assert_int_equal(parse(s), 0);
    assert_true(m->valid && m->framed && m->is_request);
    assert_int_equal(m->method_id, OSEC_SIP_M_REGISTER);
    assert_slice(m->method, "REGISTER");
    assert_int_equal(m->ruri.scheme, OSEC_SIP_SCHEME_SIP);
    assert_slice(m->ruri.host, "registrar.example.com");
    assert_int_equal(m->n_via, 1);
    assert_slice(m->via[0].transport, "UDP");
    assert_slice(m->via[0].host, "192.0.2.4");
    assert_int_equal(m->via[0].port, 5060);
    assert_slice(m->via[0].branch, "z9hG4bKnashds7");
    assert_true(m->via[0].has_rport);
    assert_int_equal(m->via[0].rport.len, 0);
    assert_int_equal(m->max_forwards, 70);
    assert_slice(m->to.display, "Alice");
    assert_slice(m->to.uri, "sip:alice@example.com");
    assert_int_equal(m->to.tag.len, 0);
    assert_slice(m->from.display, "Alice Liddell");
    assert_slice(m->from.tag, "456248");
    assert_slice(m->call_id, "843817637684230@998sdasdh09");
    assert_int_equal(m->cseq, 1826);
    assert_slice(m->cseq_method, "REGISTER");
    assert_int_equal(m->n_contact, 1);
    assert_slice(m->contact[0].uri, "sip:alice@192.0.2.4:5060;transport=tcp");
    assert_true(m->contact[0].has_expires);
    assert_int_equal(m->contact[0].expires, 3600);
    assert_true(m->has_expires);
    assert_int_equal(m->expires, 7200);
    assert_int_equal(m->n_authorization, 1);
    assert_true(osec_slice_starts_ci(m->authorization[0], "Digest username=\"alice\""));
    assert_true(m->has_content_length);
    assert_int_equal(m->body.len, 0);
    assert_int_equal(m->consumed, strlen(s));
    assert_int_equal(m->n_headers, 10);
}

static const char *const sdp =
    "v=0\r\no=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com\r\n"
    "s=-\r\nc=IN IP4 192.0.2.101\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n";

static const char *invite(void)
{
    static char lenline[64];
    static const char *lines[] = {
        "INVITE sip:bob@biloxi.example.com SIP/2.0",
        "Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9",
        "Max-Forwards: 70",
        "Route: <sip:edge.example.net;lr>, <sip:cs.example.net;lr>",
        "Record-Route: <sip:p1.example.com;lr>",
        "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl",
        "To: Bob <sip:bob@biloxi.example.com>",
        "Call-ID: 3848276298220188511@atlanta.example.com",
        "CSeq: 1 INVITE",
        "Contact: <sip:alice@client.atlanta.example.com;transport=tcp>",
        "P-Asserted-Identity: \"Mallory\" <sip:ceo@example.com>",
        "p-asserted-identity: <tel:+15551234567>",
        "P-Preferred-Identity: <sip:alice@atlanta.example.com>",
        "Subject: lunch",
        "Content-Type: application/sdp",
        lenline,
        NULL,
    };

    snprintf(lenline, sizeof(lenline), "Content-Length: %zu", strlen(sdp));
    return build(lines, NULL, sdp);
}

static void invite_with_sdp(void **state)
{
    (void)state;
    assert_int_equal(parse(invite()), 0);
    assert_int_equal(m->method_id, OSEC_SIP_M_INVITE);
    assert_int_equal(m->n_route, 2);
    assert_slice(m->route[0].uri, "sip:edge.example.net;lr");
    assert_slice(m->route[1].uri, "sip:cs.example.net;lr");
    assert_int_equal(m->n_record_route, 1);
    assert_int_equal(m->n_pai, 2);
    assert_slice(m->pai[0].display, "Mallory");
    assert_slice(m->pai[1].uri, "tel:+15551234567");
    assert_int_equal(m->n_ppi, 1);
    assert_slice(m->content_type, "application/sdp");
    assert_int_equal(m->content_length, strlen(sdp));
    assert_slice(m->body, sdp);
    assert_int_equal(osec_sip_header_find(m, "subject", 0), 12);
    assert_int_equal(osec_sip_header_find(m, "s", 0), 12);
    assert_int_equal(osec_sip_header_find(m, "Subject", 13), -1);
}

static void message_with_body(void **state)
{
    static const char *const lines[] = {
        "MESSAGE sip:bob@example.com SIP/2.0",
        "Via: SIP/2.0/TLS 198.51.100.3:5061;branch=z9hG4bK776sgdkse",
        "Max-Forwards: 69",
        "From: sip:alice@example.com;tag=49583",
        "To: sip:bob@example.com",
        "Call-ID: asd88asd77a@1.2.3.4",
        "CSeq: 1 MESSAGE",
        "Content-Type: text/plain",
        "Content-Length: 18",
        NULL,
    };
    (void)state;

    assert_int_equal(parse(build(lines, NULL, "Watson, come here.")), 0);
    assert_int_equal(m->method_id, OSEC_SIP_M_MESSAGE);
    /* addr-spec form: the ;tag is a header parameter, not a URI parameter */
    assert_slice(m->from.uri, "sip:alice@example.com");
    assert_slice(m->from.tag, "49583");
    assert_slice(m->to.uri, "sip:bob@example.com");
    assert_slice(m->body, "Watson, come here.");
    assert_int_equal(m->max_forwards, 69);
}

static void responses_200_and_401(void **state)
{
    static const char *const r401[] = {
        "SIP/2.0 401 Unauthorized",
        "Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bKnashds7;received=192.0.2.4;rport=5060",
        "From: <sip:alice@example.com>;tag=456248",
        "To: <sip:alice@example.com>;tag=2493k59kd",
        "Call-ID: 843817637684230@998sdasdh09",
        "CSeq: 1826 REGISTER",
        "WWW-Authenticate: Digest realm=\"example.com\", qop=\"auth\", nonce=\"ea9c8e88df\", "
        "algorithm=SHA-256",
        "Content-Length: 0",
        NULL,
    };
    static const char *const r200[] = {
        "SIP/2.0 200 OK",
        "Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bKnashds8",
        "From: <sip:alice@example.com>;tag=456248",
        "To: <sip:alice@example.com>;tag=2493k59kd",
        "Call-ID: 843817637684230@998sdasdh09",
        "CSeq: 1827 REGISTER",
        "Contact: <sip:alice@192.0.2.4>;expires=3600",
        "Content-Length: 0",
        NULL,
    };
    (void)state;

    assert_int_equal(parse(build(r401, NULL, NULL)), 0);
    assert_false(m->is_request);
    assert_int_equal(m->status, 401);
    assert_slice(m->reason, "Unauthorized");
    assert_slice(m->via[0].received, "192.0.2.4");
    assert_slice(m->via[0].rport, "5060");
    assert_int_equal(m->headers[5].kind, OSEC_SIP_H_OTHER);
    assert_true(osec_slice_starts_ci(m->headers[5].value, "Digest realm="));
    assert_slice(m->to.tag, "2493k59kd");
    assert_int_equal(parse(build(r200, NULL, NULL)), 0);
    assert_int_equal(m->status, 200);
    assert_int_equal(m->contact[0].expires, 3600);
    /* a response's CSeq method is not compared with anything */
    assert_slice(m->cseq_method, "REGISTER");
}

static void compact_forms(void **state)
{
    static const char *const lines[] = {
        "MESSAGE sip:bob@example.com SIP/2.0",
        "v: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1",
        "f: <sip:alice@example.com>;tag=1",
        "T: <sip:bob@example.com>",
        "i: abc@host",
        "CSEQ: 2 MESSAGE",
        "m: <sip:alice@192.0.2.1>",
        "k: path",
        "s: hi",
        "c: text/plain",
        "l: 2",
        NULL,
    };
    (void)state;

    assert_int_equal(parse(build(lines, NULL, "hi")), 0);
    assert_int_equal(m->n_via, 1);
    assert_slice(m->from.tag, "1");
    assert_slice(m->to.uri, "sip:bob@example.com");
    assert_slice(m->call_id, "abc@host");
    assert_int_equal(m->cseq, 2);
    assert_int_equal(m->n_contact, 1);
    assert_slice(m->content_type, "text/plain");
    assert_int_equal(m->content_length, 2);
    assert_int_equal(m->headers[6].kind, OSEC_SIP_H_OTHER);
    assert_string_equal(m->headers[6].canon, "Supported");
    assert_string_equal(m->headers[7].canon, "Subject");
    assert_string_equal(m->headers[0].canon, "Via");
}

static void vias_in_one_line_and_across_lines(void **state)
{
    static const char *const lines[] = {
        "OPTIONS sip:carol@chicago.example.com SIP/2.0",
        "Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bK1, SIP/2.0/TCP p2.example.com:5061 ;"
        "branch=z9hG4bK2",
        "Via: SIP  /   2.0 /  TLS [2001:db8::9]:5062;branch=z9hG4bK3;received=2001:db8::1;"
        "rport=5070",
        "v: SIP/2.0/SCTP c.example.com;branch=z9hG4bK4",
        "From: <sip:a@example.com>;tag=1",
        "To: <sip:carol@chicago.example.com>",
        "Call-ID: x",
        "CSeq: 1 OPTIONS",
        NULL,
    };
    (void)state;

    assert_int_equal(parse(build(lines, NULL, NULL)), 0);
    assert_int_equal(m->n_via, 4);
    assert_slice(m->via[0].host, "p1.example.com");
    assert_int_equal(m->via[0].port, 0);
    assert_slice(m->via[1].transport, "TCP");
    assert_int_equal(m->via[1].port, 5061);
    assert_slice(m->via[1].branch, "z9hG4bK2");
    assert_slice(m->via[2].host, "[2001:db8::9]");
    assert_int_equal(m->via[2].port, 5062);
    assert_slice(m->via[2].received, "2001:db8::1");
    assert_slice(m->via[2].rport, "5070");
    assert_slice(m->via[3].transport, "SCTP");
    assert_false(m->has_content_length); /* datagram: the rest is the body */
    assert_int_equal(m->max_forwards, -1);
}

static void quoted_display_names(void **state)
{
    static const char *lines[] = {
        "REGISTER sip:example.com SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1",
        "From: \"<sip:evil@x>, \\\"boss\\\"\" <sip:alice@example.com>;tag=a,b",
        "To: \"Doe, John\" <sip:alice@example.com>",
        "Call-ID: x",
        "CSeq: 1 REGISTER",
        "Contact: \"Doe, John <x>\" <sip:j@192.0.2.1>;expires=5, <sip:k,1@192.0.2.2>;"
        "+sip.instance=\"<urn:uuid:0,1>\", sip:l@192.0.2.3;expires=0",
        NULL,
    };
    (void)state;

    /* "tag=a,b" is not a token: the comma does not split a From */
    assert_fails(parse(build(lines, NULL, NULL)), OSEC_EPARSE, 400, "Bad From");
    lines[2] = "From: \"<sip:evil@x>, \\\"boss\\\"\" <sip:alice@example.com>;tag=a";
    assert_int_equal(parse(build(lines, NULL, NULL)), 0);
    assert_slice(m->from.display, "<sip:evil@x>, \\\"boss\\\"");
    assert_slice(m->from.uri, "sip:alice@example.com");
    assert_slice(m->to.display, "Doe, John");
    assert_int_equal(m->n_contact, 3);
    assert_slice(m->contact[0].display, "Doe, John <x>");
    assert_slice(m->contact[0].uri, "sip:j@192.0.2.1");
    assert_int_equal(m->contact[0].expires, 5);
    assert_slice(m->contact[1].uri, "sip:k,1@192.0.2.2");
    assert_false(m->contact[1].has_expires);
    assert_slice(m->contact[2].uri, "sip:l@192.0.2.3");
    assert_true(m->contact[2].has_expires);
    assert_int_equal(m->contact[2].expires, 0);
}

static void contact_star(void **state)
{
    static const char *lines[] = {
        "REGISTER sip:example.com SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1",
        "From: <sip:alice@example.com>;tag=1",
        "To: <sip:alice@example.com>",
        "Call-ID: x",
        "CSeq: 9 REGISTER",
        "Contact: *",
        "Expires: 0",
        NULL,
    };
    (void)state;

    assert_int_equal(parse(build(lines, NULL, NULL)), 0);
    assert_int_equal(m->n_contact, 1);
    assert_true(m->contact[0].star);
    assert_int_equal(m->expires, 0);
    lines[6] = "Contact: *, <sip:a@b>";
    assert_fails(parse(build(lines, NULL, NULL)), OSEC_EPARSE, 400, "Bad Contact");
    lines[6] = "Route: *";
    assert_fails(parse(build(lines, NULL, NULL)), OSEC_EPARSE, 400, "Bad Route");
}

/* ---- malformed messages --------------------------------------------------- */

static void missing_mandatory_headers(void **state)
{
    static const struct {
        const char *skip, *reason;
    } cases[] = {
        { "Call-ID", "Missing Call-ID" }, { "CSeq", "Missing CSeq" },
        { "From", "Missing From" },       { "To", "Missing To" },
        { "Via", "Missing Via" },
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_fails(parse(build(reg_lines, cases[i].skip, NULL)), OSEC_EPARSE, 400,
                     cases[i].reason);
        assert_true(m->framed); /* answerable */
    }
}

static void cseq_checks(void **state)
{
    static const char *lines[] = {
        "OPTIONS sip:a@example.com SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1",
        "From: <sip:b@example.com>;tag=1",
        "To: <sip:a@example.com>",
        "Call-ID: x",
        "CSeq: 1 INVITE",
        NULL,
    };
    (void)state;

    assert_fails(parse(build(lines, NULL, NULL)), OSEC_EPARSE, 400, "CSeq Method Mismatch");
    lines[5] = "CSeq: 1 options"; /* methods are case-sensitive */
    assert_fails(parse(build(lines, NULL, NULL)), OSEC_EPARSE, 400, "CSeq Method Mismatch");
    lines[5] = "CSeq: 2147483648 OPTIONS";
    assert_fails(parse(build(lines, NULL, NULL)), OSEC_EPARSE, 400, "Bad CSeq");
    lines[5] = "CSeq: 36893488147419103232 OPTIONS"; /* RFC 4475 3.1.2.4 scalar02 */
    assert_fails(parse(build(lines, NULL, NULL)), OSEC_EPARSE, 400, "Bad CSeq");
    lines[5] = "CSeq: -1 OPTIONS";
    assert_fails(parse(build(lines, NULL, NULL)), OSEC_EPARSE, 400, "Bad CSeq");
    lines[5] = "CSeq: 1OPTIONS";
    assert_fails(parse(build(lines, NULL, NULL)), OSEC_EPARSE, 400, "Bad CSeq");
    lines[5] = "CSeq: 2147483647   OPTIONS";
    assert_int_equal(parse(build(lines, NULL, NULL)), 0);
    assert_int_equal(m->cseq, 2147483647u);
}

static void bad_version(void **state)
{
    struct osec_buf out = OSEC_BUF_INIT(4096);
    struct osec_sip_reply r = { .status = 505, .to_tag = "t1", .via_fix = { "192.0.2.5", 0 } };
    static const char *lines[] = {
        "OPTIONS sip:t.watson@example.org SIP/7.0",
        "Via:     SIP/2.0/UDP c.example.com;branch=z9hG4bKkdjuw",
        "Max-Forwards:     70",
        "From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe",
        "To:      T. Watson <sip:t.watson@example.org>",
        "Call-ID: 31417@c.example.com",
        "CSeq:    1 OPTIONS",
        "l: 0",
        NULL,
    };
    (void)state;

    /* RFC 4475 3.1.2.16 badvers */
    assert_fails(parse(build(lines, NULL, NULL)), OSEC_EPOLICY, 505, "Version Not Supported");
    assert_true(m->framed);
    assert_int_equal(osec_sip_reply(m, &r, &out), 0);
    assert_true(osec_slice_starts_ci(osec_buf_slice(&out),
                                     "SIP/2.0 505 Version Not Supported\r\n"));
    assert_non_null(strstr(osec_buf_cstr(&out),
                           "\r\nTo: T. Watson <sip:t.watson@example.org>;tag=t1\r\n"));
    /* the Via was never parsed (505 comes first), received is still set */
    assert_non_null(strstr(osec_buf_cstr(&out),
                           "\r\nVia: SIP/2.0/UDP c.example.com;branch=z9hG4bKkdjuw;"
                           "received=192.0.2.5\r\n"));
    lines[0] = "OPTIONS sip:t.watson@example.org SIP/2";
    assert_fails(parse(build(lines, NULL, NULL)), OSEC_EPARSE, 400, "Bad Start Line");
    assert_false(m->framed);
    assert_int_equal(osec_sip_reply(m, &r, &out), OSEC_EINVAL);
    osec_buf_free(&out);
}

static void content_length_checks(void **state)
{
    static const char *lines[] = {
        "MESSAGE sip:bob@example.com SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1",
        "From: <sip:alice@example.com>;tag=1",
        "To: <sip:bob@example.com>",
        "Call-ID: x",
        "CSeq: 1 MESSAGE",
        "Content-Type: text/plain",
        "Content-Length: 9999",
        NULL,
        NULL,
    };
    (void)state;

    /* RFC 4475 3.1.2.7 clerr: larger than the datagram */
    assert_fails(parse(build(lines, NULL, "short")), OSEC_EPARSE, 400, "Bad Content-Length");
    lines[7] = "Content-Length: -999"; /* RFC 4475 3.1.2.8 ncl */
    assert_fails(parse(build(lines, NULL, "short")), OSEC_EPARSE, 400, "Bad Content-Length");
    lines[7] = "Content-Length: 5";
    lines[8] = "l: 5"; /* RFC 4475 3.1.2.x mcl01: two Content-Length values */
    assert_fails(parse(build(lines, NULL, "short")), OSEC_EPARSE, 400, "Duplicate Header");
    lines[8] = NULL;
    lines[7] = "Content-Length: 3"; /* shorter: the rest of the datagram is ignored */
    assert_int_equal(parse(build(lines, NULL, "short")), 0);
    assert_slice(m->body, "sho");
    assert_int_equal(m->consumed, strlen(text) - 2);
    lines[7] = "Content-Length: 99999"; /* more than the 64 KiB message limit */
    assert_fails(parse(build(lines, NULL, "short")), OSEC_EBOUNDS, 413, NULL);
}

static void stream_framing(void **state)
{
    const char *one = build(reg_lines, NULL, NULL);
    char buf[4096];
    size_t n1 = strlen(one), total;
    (void)state;

    /* keep-alive CRLFs, then two messages back to back */
    memcpy(buf, "\r\n\r\n", 4);
    memcpy(buf + 4, one, n1);
    memcpy(buf + 4 + n1, one, n1);
    total = 4 + 2 * n1;
    assert_int_equal(parse_stream(buf, 2), OSEC_SIP_NEED_MORE);
    assert_int_equal(m->consumed, 2);
    assert_int_equal(parse_stream(buf, 40), OSEC_SIP_NEED_MORE);
    assert_int_equal(m->need, 41);
    assert_int_equal(m->consumed, 4);
    assert_int_equal(parse_stream(buf, total), 0);
    assert_int_equal(m->consumed, 4 + n1);
    assert_slice(m->call_id, "843817637684230@998sdasdh09");
    assert_int_equal(parse_stream(buf + m->consumed, total - (4 + n1)), 0);
    assert_int_equal(m->consumed, n1);
    assert_int_equal(m->cseq, 1826);
}

static void stream_body_and_content_length(void **state)
{
    const char *s = invite();
    size_t n = strlen(s), hdr = (size_t)(strstr(s, "\r\n\r\n") - s) + 4;
    static const char *const nocl[] = {
        "OPTIONS sip:a@example.com SIP/2.0",
        "Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1",
        "From: <sip:b@example.com>;tag=1",
        "To: <sip:a@example.com>",
        "Call-ID: x",
        "CSeq: 1 OPTIONS",
        NULL,
    };
    (void)state;

    assert_int_equal(parse_stream(s, hdr + 10), OSEC_SIP_NEED_MORE);
    assert_int_equal(m->need, n);
    assert_int_equal(parse_stream(s, n - 1), OSEC_SIP_NEED_MORE);
    assert_int_equal(parse_stream(s, n), 0);
    assert_slice(m->body, sdp);
    assert_fails(parse_stream(build(nocl, NULL, NULL), strlen(text)), OSEC_EPARSE, 400,
                 "Missing Content-Length");
    /* datagram: the same message is fine */
    assert_int_equal(parse(text), 0);
    /* stream without end of headers before the limit */
    memset(text, 'a', 2000);
    assert_int_equal(osec_sip_parse(osec_slice_make(text, 1000), OSEC_SIP_STREAM, 1024, m),
                     OSEC_SIP_NEED_MORE);
    assert_fails(osec_sip_parse(osec_slice_make(text, 2000), OSEC_SIP_STREAM, 1024, m),
                 OSEC_EBOUNDS, 413, NULL);
    assert_false(m->framed);
}

static void max_forwards_bounds(void **state)
{
    static const char *lines[] = {
        "OPTIONS sip:a@example.com SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1",
        "From: <sip:b@example.com>;tag=1",
        "To: <sip:a@example.com>",
        "Call-ID: x",
        "CSeq: 1 OPTIONS",
        "Max-Forwards: 0",
        NULL,
        NULL,
    };
    static const char *const bad[] = { "Max-Forwards: 256", "Max-Forwards: -1",
                                       "Max-Forwards: 1a", "Max-Forwards:", "Max-Forwards: 300" };
    (void)state;

    assert_int_equal(parse(build(lines, NULL, NULL)), 0); /* RFC 4475 zeromf: parses */
    assert_int_equal(m->max_forwards, 0);
    lines[6] = "Max-Forwards: 255";
    assert_int_equal(parse(build(lines, NULL, NULL)), 0);
    assert_int_equal(m->max_forwards, 255);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lines[6] = bad[i];
        assert_fails(parse(build(lines, NULL, NULL)), OSEC_EPARSE, 400, "Bad Max-Forwards");
    }
    lines[6] = "Max-Forwards: 70";
    lines[7] = "Max-Forwards: 70";
    assert_fails(parse(build(lines, NULL, NULL)), OSEC_EPARSE, 400, "Duplicate Header");
    lines[7] = NULL;
}

static void limits(void **state)
{
    static char big[70000];
    size_t n = 0;
    (void)state;

    /* 101 header lines */
    n += (size_t)snprintf(big + n, sizeof(big) - n, "OPTIONS sip:a@b SIP/2.0\r\n");
    for (int i = 0; i < 101; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "X-H%d: v\r\n", i);
    snprintf(big + n, sizeof(big) - n, "\r\n");
    assert_fails(parse(big), OSEC_EBOUNDS, 400, "Too Many Headers");
    /* a header line of 8192 bytes is fine, 8193 is not */
    n = (size_t)snprintf(big, sizeof(big), "%s", build(reg_lines, NULL, NULL));
    n -= 2; /* before the empty line */
    n += (size_t)snprintf(big + n, sizeof(big) - n, "X-Long: ");
    memset(big + n, 'x', 8192 - 8);
    n += 8192 - 8;
    snprintf(big + n, sizeof(big) - n, "\r\n\r\n");
    assert_int_equal(parse(big), 0);
    assert_int_equal(m->headers[m->n_headers - 1].value.len, 8192 - 8);
    memmove(big + n + 1, big + n, 5);
    big[n] = 'x';
    assert_fails(parse(big), OSEC_EBOUNDS, 400, "Header Too Long");
    /* 33 Vias */
    n = (size_t)snprintf(big, sizeof(big), "OPTIONS sip:a@b SIP/2.0\r\n");
    for (int i = 0; i < 33; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "Via: SIP/2.0/UDP h%d;branch=z9hG4bK%d\r\n",
                              i, i);
    snprintf(big + n, sizeof(big) - n, "\r\n");
    assert_fails(parse(big), OSEC_EBOUNDS, 400, "Too Many Via Headers");
    /* a Request-URI of 5000 bytes */
    n = (size_t)snprintf(big, sizeof(big), "OPTIONS sip:");
    memset(big + n, 'a', 5000);
    n += 5000;
    snprintf(big + n, sizeof(big) - n, "@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n");
    assert_fails(parse(big), OSEC_EBOUNDS, 414, "Request-URI Too Long");
    assert_true(m->framed);
    /* exactly 4096 bytes of Request-URI: parses up to the missing headers */
    n = (size_t)snprintf(big, sizeof(big), "OPTIONS sip:");
    memset(big + n, 'a', 4096 - 6);
    n += 4096 - 6;
    snprintf(big + n, sizeof(big) - n, "@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n");
    assert_fails(parse(big), OSEC_EPARSE, 400, "Missing From");
    assert_int_equal(m->ruri_raw.len, 4096);
    /* a datagram larger than a configured 1 KiB limit */
    n = strlen(build(reg_lines, "Content-Length", NULL));
    memset(text + n, 'b', 2000);
    assert_fails(osec_sip_parse(osec_slice_make(text, n + 2000), 0, 1024, m), OSEC_EBOUNDS, 413,
                 NULL);
    assert_true(m->framed);
}

static void line_syntax(void **state)
{
    static const char *lines[] = {
        "OPTIONS sip:a@example.com SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1",
        "From: <sip:b@example.com>;tag=1",
        "To: <sip:a@example.com>",
        "Call-ID \t:  x",
        "CSeq\t:\t1 OPTIONS",
        "Subject:",
        NULL,
        NULL,
    };
    char nul[256];
    size_t n;
    (void)state;

    /* white space around the colon (HCOLON), an empty Subject */
    assert_int_equal(parse(build(lines, NULL, NULL)), 0);
    assert_slice(m->call_id, "x");
    assert_int_equal(m->headers[6].value.len, 0);
    /* RFC 4475 3.1.1.1 wsinv folds lines: we reject folding */
    lines[7] = " continued";
    assert_fails(parse(build(lines, NULL, NULL)), OSEC_EPOLICY, 400, "Line Folding Not Supported");
    lines[7] = "Bad Name: x";
    assert_fails(parse(build(lines, NULL, NULL)), OSEC_EPARSE, 400, "Bad Header");
    lines[7] = "NoColon";
    assert_fails(parse(build(lines, NULL, NULL)), OSEC_EPARSE, 400, "Bad Header");
    lines[7] = "X-Bare: a\nb";
    assert_fails(parse(build(lines, NULL, NULL)), OSEC_EPARSE, 400, "Bad Line Ending");
    lines[7] = "X-Bell: \a";
    assert_fails(parse(build(lines, NULL, NULL)), OSEC_EPARSE, 400, "Bad Header");
    lines[7] = NULL;
    /* NUL inside a header value */
    n = strlen(build(lines, NULL, NULL));
    memcpy(nul, text, n);
    nul[n - 10] = '\0';
    assert_fails(osec_sip_parse(osec_slice_make(nul, n), 0, 0, m), OSEC_EPARSE, 400, "Bad Header");
    assert_fails(parse(""), OSEC_EPARSE, 400, "Incomplete Message");
    assert_fails(parse("OPTIONS sip:a@b SIP/2.0\r\n"), OSEC_EPARSE, 400, "Incomplete Message");
}

/* ---- RFC 4475 torture tests --------------------------------------------- */

static const char *opts(const char *start_line, const char *extra)
{
    static char line0[512], line1[512];
    static const char *lines[] = {
        line0,
        "Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw",
        "Max-Forwards: 70",
        "From: <sip:caller@example.org>;tag=323",
        "To: <sip:user@example.com>",
        "Call-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423",
        "CSeq: 2130706432 OPTIONS",
        line1,
        NULL,
    };

    snprintf(line0, sizeof(line0), "%s", start_line);
    snprintf(line1, sizeof(line1), "%s", extra ? extra : "Content-Length: 0");
    return build(lines, NULL, NULL);
}

static void rfc4475_request_uris(void **state)
{
    (void)state;
    /* 3.3.13 unkscm / 3.3.14 novelsc: unknown schemes -> 416 */
    assert_fails(parse(opts("OPTIONS nobodyknowsthisscheme:totallyopaquecontent SIP/2.0", NULL)),
                 OSEC_EPOLICY, 416, "Unsupported URI Scheme");
    assert_fails(parse(opts("OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0", NULL)), OSEC_EPOLICY,
                 416, "Unsupported URI Scheme");
    /* 3.1.2.11 ltgtruri: <> around the Request-URI */
    assert_fails(parse(opts("OPTIONS <sip:user@example.com> SIP/2.0", NULL)), OSEC_EPARSE, 400,
                 "Bad Request-URI");
    /* 3.1.2.12 lwsruri: white space inside the Request-URI */
    assert_fails(parse(opts("OPTIONS sip:user@example.com; lr SIP/2.0", NULL)), OSEC_EPARSE, 400,
                 "Bad Start Line");
    /* 3.1.2.13 lwsstart: extra space */
    assert_fails(parse(opts("OPTIONS  sip:user@example.com SIP/2.0", NULL)), OSEC_EPARSE, 400,
                 "Bad Start Line");
    /* 3.1.1.9 semiuri: ';' in the user part */
    assert_int_equal(parse(opts("OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0", NULL)),
                     0);
    assert_slice(m->ruri.user, "user;par=u%40example.net");
    assert_slice(m->ruri.host, "example.com");
    /* 3.1.1.4 escnull: escaped NULs in the user part are legal */
    assert_int_equal(parse(opts("OPTIONS sip:null-%00-null@example.com SIP/2.0", NULL)), 0);
    assert_slice(m->ruri.user, "null-%00-null");
    /* 3.1.1.3 escruri style: escaped characters */
    assert_int_equal(parse(opts("OPTIONS sip:sips%3Auser%40example.com@example.net SIP/2.0", NULL)),
                     0);
    assert_slice(m->ruri.user, "sips%3Auser%40example.com");
    assert_slice(m->ruri.host, "example.net");
    assert_fails(parse(opts("OPTIONS sip:a%4@example.com SIP/2.0", NULL)), OSEC_EPARSE, 400,
                 "Bad Request-URI");
}

static void rfc4475_headers(void **state)
{
    (void)state;
    /* 3.1.2.6 quotbal: unterminated quote */
    assert_fails(parse(opts("OPTIONS sip:user@example.com SIP/2.0",
                            "Contact: \"Joe <sip:joe@example.org>")),
                 OSEC_EPARSE, 400, "Bad Contact");
    /* 3.1.1.6 lwsdisp: no white space between display name and '<' */
    assert_int_equal(parse(opts("OPTIONS sip:user@example.com SIP/2.0",
                                "Contact: caller<sip:caller@example.com>;tag=323")),
                     0);
    assert_slice(m->contact[0].display, "caller");
    assert_slice(m->contact[0].uri, "sip:caller@example.com");
    /* 3.1.1.10 transports: unknown transports are fine */
    assert_int_equal(parse(opts("OPTIONS sip:user@example.com SIP/2.0",
                                "Via: SIP/2.0/UNKNOWN t.example.com;branch=z9hG4bKx")),
                     0);
    assert_slice(m->via[1].transport, "UNKNOWN");
    /* addr-spec that would need <> (contains '?') */
    assert_fails(parse(opts("OPTIONS sip:user@example.com SIP/2.0",
                            "Contact: sip:user@example.com?Route=%3Csip:x%3E")),
                 OSEC_EPARSE, 400, "Bad Contact");
}

static void rfc4475_status_lines(void **state)
{
    static const char *lines[] = {
        "SIP/2.0 200 = 2**3 * 5**2 \xd0\xbd\xd0\xbe \xd1\x81\xd1\x82\xd0\xbe",
        "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923",
        "Call-ID: unreason.1234ksdfak3j2erwedfsASdf",
        "CSeq: 35 INVITE",
        "From: sip:user@example.com;tag=11141343",
        "To: sip:user@example.edu;tag=2229",
        "Content-Length: 0",
        NULL,
    };
    (void)state;

    /* 3.1.1.12 unreason: UTF-8 reason phrase */
    assert_int_equal(parse(build(lines, NULL, NULL)), 0);
    assert_int_equal(m->status, 200);
    /* 3.1.1.13 noreason: empty reason phrase after the space */
    lines[0] = "SIP/2.0 100 ";
    assert_int_equal(parse(build(lines, NULL, NULL)), 0);
    assert_int_equal(m->reason.len, 0);
    /* 3.1.2.19 scalarlg: overlarge status code */
    lines[0] = "SIP/2.0 4294967301 better not break the receiver";
    assert_fails(parse(build(lines, NULL, NULL)), OSEC_EPARSE, 400, "Bad Start Line");
    lines[0] = "SIP/2.0 099 x";
    assert_fails(parse(build(lines, NULL, NULL)), OSEC_EPARSE, 400, "Bad Start Line");
}

static void rfc4475_dblreq(void **state)
{
    static const char *const lines[] = {
        "REGISTER sip:example.com SIP/2.0",
        "To: sip:j.user@example.com",
        "From: sip:j.user@example.com;tag=43251j3j324",
        "Max-Forwards: 8",
        "I: dblreq.0ha0isndaksdj99sdfafnl3lk233412",
        "Contact: sip:j.user@host.example.com",
        "CSeq: 8 REGISTER",
        "Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKon23ijsd",
        "Content-Length: 0",
        NULL,
    };
    const char *second = "INVITE sip:joe@example.com SIP/2.0\r\nt: sip:joe@example.com\r\n\r\n";
    size_t n;
    (void)state;

    /* 3.1.1.11 dblreq: only the first message of the datagram counts */
    n = strlen(build(lines, NULL, second));
    assert_int_equal(parse(text), 0);
    assert_int_equal(m->method_id, OSEC_SIP_M_REGISTER);
    assert_int_equal(m->body.len, 0);
    assert_int_equal(m->consumed, n - strlen(second));
    assert_slice(m->call_id, "dblreq.0ha0isndaksdj99sdfafnl3lk233412");
}

/* ---- helpers: name-addr, params, URIs, AORs ------------------------------- */

static void nameaddr_and_params(void **state)
{
    struct osec_sip_nameaddr na;
    struct osec_slice v;
    (void)state;

    assert_int_equal(osec_sip_nameaddr_parse(osec_slice_cstr(
                         " \"Display\" <sip:user@host;transport=tcp>;tag=x ; expires = 60 "),
                                             &na),
                     0);
    assert_slice(na.display, "Display");
    assert_slice(na.uri, "sip:user@host;transport=tcp");
    assert_slice(na.tag, "x");
    assert_int_equal(na.expires, 60);
    assert_int_equal(osec_sip_param_find(na.params, "EXPIRES", &v), 0);
    assert_slice(v, "60");
    assert_int_equal(osec_sip_param_find(na.params, "lr", &v), OSEC_ENOTFOUND);
    assert_int_equal(osec_sip_param_find(osec_slice_cstr(";lr;q=\"a;b\""), "q", &v), 0);
    assert_slice(v, "\"a;b\"");
    assert_int_equal(osec_sip_param_find(osec_slice_cstr(";lr"), "lr", &v), 0);
    assert_int_equal(v.len, 0);
    assert_int_equal(osec_sip_param_find(osec_slice_cstr(";=x"), "lr", &v), OSEC_EPARSE);
    /* expires beyond 2**32-1 is clamped (RFC 3261 20.19) */
    assert_int_equal(osec_sip_nameaddr_parse(osec_slice_cstr("<sip:a@b>;expires=99999999999"),
                                             &na),
                     0);
    assert_int_equal(na.expires, UINT32_MAX);
    assert_int_equal(osec_sip_nameaddr_parse(osec_slice_cstr("<sip:a@b"), &na), OSEC_EPARSE);
    assert_int_equal(osec_sip_nameaddr_parse(osec_slice_cstr("\"x <sip:a@b>"), &na), OSEC_EPARSE);
    assert_int_equal(osec_sip_nameaddr_parse(osec_slice_cstr("<sip:a@b>x"), &na), OSEC_EPARSE);
    assert_int_equal(osec_sip_nameaddr_parse(osec_slice_cstr("<sip:a@b>;tag=1;tag=2"), &na),
                     OSEC_EPARSE);
    assert_int_equal(osec_sip_nameaddr_parse(osec_slice_cstr("<noscheme>"), &na), OSEC_EPARSE);
}

static void uri_parsing(void **state)
{
    struct osec_sip_uri u;
    (void)state;

    assert_int_equal(osec_sip_uri_parse(osec_slice_cstr(
                         "sips:alice:pw@[2001:db8::1]:5061;transport=tls;lr;user=phone?x=y"),
                                        &u),
                     0);
    assert_int_equal(u.scheme, OSEC_SIP_SCHEME_SIPS);
    assert_slice(u.user, "alice");
    assert_slice(u.password, "pw");
    assert_slice(u.host, "[2001:db8::1]");
    assert_int_equal(u.port, 5061);
    assert_slice(u.transport, "tls");
    assert_slice(u.user_param, "phone");
    assert_true(u.lr);
    assert_slice(u.headers, "x=y");
    assert_int_equal(osec_sip_uri_parse(osec_slice_cstr("http://example.com/"), &u), OSEC_EPOLICY);
    assert_int_equal(osec_sip_uri_parse(osec_slice_cstr("sip:"), &u), OSEC_EPARSE);
    assert_int_equal(osec_sip_uri_parse(osec_slice_cstr("sip:a@"), &u), OSEC_EPARSE);
    assert_int_equal(osec_sip_uri_parse(osec_slice_cstr("sip:a b@x"), &u), OSEC_EPARSE);
    assert_int_equal(osec_sip_uri_parse(osec_slice_cstr("sip:x:65536"), &u), OSEC_EPARSE);
    assert_int_equal(osec_sip_uri_parse(osec_slice_cstr("sip:x:0"), &u), OSEC_EPARSE);
    assert_int_equal(osec_sip_uri_parse(osec_slice_cstr("sip:x;"), &u), OSEC_EPARSE);
    assert_int_equal(osec_sip_uri_parse(osec_slice_cstr("sip:@x"), &u), OSEC_EPARSE);
    assert_int_equal(osec_sip_uri_parse(osec_slice_cstr("1sip:x"), &u), OSEC_EPARSE);
    assert_int_equal(osec_sip_uri_parse(osec_slice_cstr("tel:+1-201-555-0123"), &u), 0);
    assert_int_equal(u.scheme, OSEC_SIP_SCHEME_TEL);
    assert_int_equal(osec_sip_uri_parse(osec_slice_cstr("tel:+"), &u), OSEC_EPARSE);
    assert_int_equal(osec_sip_uri_parse(osec_slice_cstr("tel:+12a"), &u), OSEC_EPARSE);
}

static void expect_aor(const char *uri, const char *aor)
{
    struct osec_sip_uri u;
    struct osec_buf b = OSEC_BUF_INIT(1024);

    assert_int_equal(osec_sip_uri_parse(osec_slice_cstr(uri), &u), 0);
    assert_int_equal(osec_sip_uri_aor(&u, &b), 0);
    assert_string_equal(osec_buf_cstr(&b), aor);
    osec_buf_free(&b);
}

static void aor_canonicalisation(void **state)
{
    struct osec_sip_uri u;
    struct osec_buf b = OSEC_BUF_INIT(1024);
    (void)state;

    expect_aor("SIP:Alice@EXAMPLE.COM:5061;transport=tcp?subject=x", "sip:Alice@example.com");
    expect_aor("sip:alice@example.com", "sip:alice@example.com");
    expect_aor("sips:alice@Example.com", "sip:alice@example.com");
    expect_aor("sip:alice:secret@example.com", "sip:alice@example.com");
    expect_aor("sip:%61lice@example.com", "sip:alice@example.com");
    expect_aor("sip:a%40b%3a@example.com", "sip:a%40b%3A@example.com");
    expect_aor("sip:null-%00-null@example.com", "sip:null-%00-null@example.com");
    expect_aor("sip:EXAMPLE.com;lr", "sip:example.com");
    expect_aor("sip:bob@[2001:DB8::1]:5060", "sip:bob@[2001:db8::1]");
    expect_aor("sip:+1-212-555-1212@gw.example.com;user=phone",
               "sip:+1-212-555-1212@gw.example.com");
    expect_aor("tel:+1-201-555-0123", "tel:+12015550123");
    expect_aor("TEL:+1(201)555.0123;ext=1", "tel:+12015550123");
    expect_aor("tel:7042;phone-context=EXAMPLE.com", "tel:7042;phone-context=example.com");
    expect_aor("tel:86-3A;phone-context=+1-201", "tel:863a;phone-context=+1201");
    /* the user part stays case-sensitive */
    assert_int_equal(osec_sip_uri_parse(osec_slice_cstr("sip:ALICE@example.com"), &u), 0);
    assert_int_equal(osec_sip_uri_aor(&u, &b), 0);
    assert_string_not_equal(osec_buf_cstr(&b), "sip:alice@example.com");
    assert_int_equal(osec_sip_uri_parse(osec_slice_cstr("tel:7042"), &u), 0);
    assert_int_equal(osec_sip_uri_aor(&u, &b), OSEC_EPARSE);
    osec_buf_free(&b);
}

/* ---- writers -------------------------------------------------------------- */

static void reply_401(void **state)
{
    static const struct osec_sip_field www[] = {
        { "WWW-Authenticate", "Digest realm=\"example.com\", nonce=\"n1\", algorithm=SHA-256" },
    };
    struct osec_sip_reply r = { .status = 401, .to_tag = "srv1", .add = www, .n_add = 1,
                                .via_fix = { "192.0.2.99", 40000 } };
    struct osec_buf out = OSEC_BUF_INIT(8192);
    const char *s = build(reg_lines, NULL, NULL);
    (void)state;

    assert_int_equal(parse(s), 0);
    assert_int_equal(osec_sip_reply(m, &r, &out), 0);
    assert_int_equal(osec_sip_parse(osec_buf_slice(&out), 0, 0, m2), 0);
    assert_false(m2->is_request);
    assert_int_equal(m2->status, 401);
    assert_slice(m2->reason, "Unauthorized");
    assert_int_equal(m2->n_via, 1);
    assert_slice(m2->via[0].branch, "z9hG4bKnashds7");
    assert_slice(m2->via[0].received, "192.0.2.99");
    assert_slice(m2->via[0].rport, "40000");
    assert_slice(m2->to.tag, "srv1");
    assert_slice(m2->from.tag, "456248");
    assert_slice(m2->call_id, "843817637684230@998sdasdh09");
    assert_int_equal(m2->cseq, 1826);
    assert_int_equal(osec_sip_header_find(m2, "www-authenticate", 0), 5);
    assert_int_equal(m2->content_length, 0);
    /* random tag when none is given; none added for 100 */
    r.to_tag = NULL;
    assert_int_equal(osec_sip_reply(m, &r, &out), 0);
    assert_int_equal(osec_sip_parse(osec_buf_slice(&out), 0, 0, m2), 0);
    assert_int_equal(m2->to.tag.len, 16);
    r.status = 100;
    assert_int_equal(osec_sip_reply(m, &r, &out), 0);
    assert_int_equal(osec_sip_parse(osec_buf_slice(&out), 0, 0, m2), 0);
    assert_int_equal(m2->to.tag.len, 0);
    assert_slice(m2->reason, "Trying");
    osec_buf_free(&out);
}

static void reply_refuses_injection(void **state)
{
    static const struct osec_sip_field evil[] = {
        { "X-A", "ok\r\nP-Asserted-Identity: <sip:x@y>" },
    };
    static const struct osec_sip_field evil_name[] = { { "X-A: b\r\nX", "v" } };
    static const struct osec_sip_field cl[] = { { "l", "5" } };
    struct osec_sip_reply r = { .status = 403 };
    struct osec_buf out = OSEC_BUF_INIT(8192);
    (void)state;

    assert_int_equal(parse(build(reg_lines, NULL, NULL)), 0);
    r.reason = "Forbidden\r\nX: y";
    assert_int_equal(osec_sip_reply(m, &r, &out), OSEC_EINVAL);
    r.reason = NULL;
    r.add = evil;
    r.n_add = 1;
    assert_int_equal(osec_sip_reply(m, &r, &out), OSEC_EINVAL);
    r.add = evil_name;
    assert_int_equal(osec_sip_reply(m, &r, &out), OSEC_EINVAL);
    r.add = cl;
    assert_int_equal(osec_sip_reply(m, &r, &out), OSEC_EINVAL);
    r.add = NULL;
    r.n_add = 0;
    r.to_tag = "a;b";
    assert_int_equal(osec_sip_reply(m, &r, &out), OSEC_EINVAL);
    r.to_tag = NULL;
    r.via_fix.received = "1.2.3.4\r\n";
    assert_int_equal(osec_sip_reply(m, &r, &out), OSEC_EINVAL);
    r.via_fix.received = NULL;
    r.body = osec_slice_cstr("x");
    assert_int_equal(osec_sip_reply(m, &r, &out), OSEC_EINVAL); /* body without type */
    r.body = osec_slice_cstr("");
    r.status = 700;
    assert_int_equal(osec_sip_reply(m, &r, &out), OSEC_EINVAL);
    /* a response cannot be answered */
    r.status = 400;
    assert_int_equal(parse("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                           "From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\n"
                           "CSeq: 1 OPTIONS\r\n\r\n"),
                     0);
    assert_int_equal(osec_sip_reply(m, &r, &out), OSEC_EINVAL);
    osec_buf_free(&out);
}

static void reply_to_malformed_request(void **state)
{
    static const char *lines[] = {
        "OPTIONS sip:a@example.com SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1, SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK2",
        "From: <sip:b@example.com>;tag=1",
        "To: <sip:a@example.com>;tag=abc",
        "Call-ID: x",
        "CSeq: 99999999999 OPTIONS",
        NULL,
    };
    struct osec_sip_reply r = { 0 };
    struct osec_buf out = OSEC_BUF_INIT(8192);
    (void)state;

    assert_fails(parse(build(lines, NULL, NULL)), OSEC_EPARSE, 400, "Bad CSeq");
    r.status = m->err_status;
    r.reason = m->err_reason;
    assert_int_equal(osec_sip_reply(m, &r, &out), 0);
    assert_string_equal(osec_buf_cstr(&out),
                        "SIP/2.0 400 Bad CSeq\r\n"
                        "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1, SIP/2.0/UDP "
                        "192.0.2.2;branch=z9hG4bK2\r\n"
                        "From: <sip:b@example.com>;tag=1\r\n"
                        "To: <sip:a@example.com>;tag=abc\r\n"
                        "Call-ID: x\r\n"
                        "CSeq: 99999999999 OPTIONS\r\n"
                        "Content-Length: 0\r\n\r\n");
    osec_buf_free(&out);
}

static void forward_edits(void **state)
{
    static const char *const strip[] = { "P-Asserted-Identity", "P-Preferred-Identity", NULL };
    static const struct osec_sip_field add[] = {
        { "P-Asserted-Identity", "<sip:alice@atlanta.example.com>" },
        { "Record-Route", "<sip:edge.example.net;lr>" },
    };
    struct osec_sip_edit e = {
        .via = "SIP/2.0/TCP edge.example.net;branch=z9hG4bKedge1",
        .pop_route = true,
        .via_fix = { "192.0.2.77", 5071 },
        .remove = strip,
        .add = add,
        .n_add = 2,
    };
    struct osec_buf out = OSEC_BUF_INIT(65536);
    (void)state;

    assert_int_equal(parse(invite()), 0);
    assert_int_equal(osec_sip_forward(m, &e, &out), 0);
    assert_int_equal(osec_sip_parse(osec_buf_slice(&out), OSEC_SIP_STREAM, 0, m2), 0);
    assert_int_equal(m2->consumed, out.len);
    assert_int_equal(m2->n_pai, 1);
    assert_slice(m2->pai[0].uri, "sip:alice@atlanta.example.com");
    assert_int_equal(m2->n_ppi, 0);
    assert_int_equal(m2->max_forwards, 69);
    assert_int_equal(m2->n_via, 2);
    assert_slice(m2->via[0].branch, "z9hG4bKedge1");
    assert_slice(m2->via[1].branch, "z9hG4bK74bf9");
    /* the client did not ask for rport: only received is added */
    assert_slice(m2->via[1].received, "192.0.2.77");
    assert_false(m2->via[1].has_rport);
    assert_int_equal(m2->n_route, 1);
    assert_slice(m2->route[0].uri, "sip:cs.example.net;lr");
    assert_int_equal(m2->n_record_route, 2);
    assert_slice(m2->record_route[0].uri, "sip:edge.example.net;lr");
    assert_slice(m2->record_route[1].uri, "sip:p1.example.com;lr");
    assert_slice(m2->body, sdp);
    assert_int_equal(m2->content_length, strlen(sdp));
    assert_int_equal(osec_sip_header_find(m2, "Subject", 0) >= 0, 1);
    assert_slice(m2->ruri_raw, "sip:bob@biloxi.example.com");
    assert_slice(m2->call_id, "3848276298220188511@atlanta.example.com");
    osec_buf_free(&out);
}

static void forward_max_forwards_and_retarget(void **state)
{
    static const char *lines[] = {
        "MESSAGE sip:bob@example.com SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport;received=10.0.0.1",
        "From: <sip:alice@example.com>;tag=1",
        "To: <sip:bob@example.com>",
        "Call-ID: x",
        "CSeq: 1 MESSAGE",
        NULL,
        NULL,
    };
    struct osec_sip_edit e = { .via = "SIP/2.0/UDP edge;branch=z9hG4bKe",
                               .request_uri = "sip:bob@192.0.2.50:5062",
                               .via_fix = { "192.0.2.1", 5999 } };
    struct osec_buf out = OSEC_BUF_INIT(65536);
    (void)state;

    /* no Max-Forwards and no Content-Length (datagram): 70 and the length are added */
    assert_int_equal(parse(build(lines, NULL, "hello")), 0);
    assert_int_equal(osec_sip_forward(m, &e, &out), 0);
    assert_int_equal(osec_sip_parse(osec_buf_slice(&out), OSEC_SIP_STREAM, 0, m2), 0);
    assert_int_equal(m2->max_forwards, 70);
    assert_slice(m2->body, "hello");
    assert_slice(m2->ruri_raw, "sip:bob@192.0.2.50:5062");
    assert_slice(m2->via[1].received, "192.0.2.1");
    assert_slice(m2->via[1].rport, "5999");
    assert_non_null(strstr(osec_buf_cstr(&out),
                           "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;received=192.0.2.1;"
                           "rport=5999\r\n"));
    lines[6] = "Max-Forwards: 0";
    assert_int_equal(parse(build(lines, NULL, "hello")), 0);
    assert_int_equal(osec_sip_forward(m, &e, &out), OSEC_EPOLICY);
    lines[6] = "Max-Forwards: 1";
    assert_int_equal(parse(build(lines, NULL, "hello")), 0);
    assert_int_equal(osec_sip_forward(m, &e, &out), 0);
    assert_int_equal(osec_sip_parse(osec_buf_slice(&out), 0, 0, m2), 0);
    assert_int_equal(m2->max_forwards, 0);
    lines[6] = NULL;
    osec_buf_free(&out);
}

static void forward_refuses_bad_edits(void **state)
{
    static const char *const rm_via[] = { "v", NULL };
    static const char *const rm_cl[] = { "content-length", NULL };
    static const char *const rm_bad[] = { "X-A\r\n", NULL };
    static const struct osec_sip_field inj[] = { { "P-Asserted-Identity", "<sip:a@b>\r\nX: y" } };
    static const struct osec_sip_field mf[] = { { "Max-Forwards", "99" } };
    struct osec_sip_edit e = { .via = "SIP/2.0/UDP edge;branch=z9hG4bKe" };
    struct osec_buf out = OSEC_BUF_INIT(65536);
    (void)state;

    assert_int_equal(parse(invite()), 0);
    e.remove = rm_via;
    assert_int_equal(osec_sip_forward(m, &e, &out), OSEC_EINVAL);
    e.remove = rm_cl;
    assert_int_equal(osec_sip_forward(m, &e, &out), OSEC_EINVAL);
    e.remove = rm_bad;
    assert_int_equal(osec_sip_forward(m, &e, &out), OSEC_EINVAL);
    e.remove = NULL;
    e.add = inj;
    e.n_add = 1;
    assert_int_equal(osec_sip_forward(m, &e, &out), OSEC_EINVAL);
    e.add = mf;
    assert_int_equal(osec_sip_forward(m, &e, &out), OSEC_EINVAL);
    e.add = NULL;
    e.n_add = 0;
    e.via = "SIP/2.0/UDP x\r\nP-Asserted-Identity: <sip:boss@x>";
    assert_int_equal(osec_sip_forward(m, &e, &out), OSEC_EINVAL);
    e.via = NULL;
    assert_int_equal(osec_sip_forward(m, &e, &out), OSEC_EINVAL);
    e.via = "SIP/2.0/UDP edge;branch=z9hG4bKe";
    e.request_uri = "sip:a@b SIP/2.0";
    assert_int_equal(osec_sip_forward(m, &e, &out), OSEC_EINVAL);
    e.request_uri = NULL;
    assert_int_equal(osec_sip_forward(m, &e, &out), 0);
    /* a failed parse cannot be forwarded */
    assert_int_equal(parse("OPTIONS sip:a@b SIP/2.0\r\n\r\n"), OSEC_EPARSE);
    assert_int_equal(osec_sip_forward(m, &e, &out), OSEC_EINVAL);
    osec_buf_free(&out);
}

static void forward_response_pops_via(void **state)
{
    static const char *lines[] = {
        "SIP/2.0 180 Ringing",
        "Via: SIP/2.0/TCP edge.example.net;branch=z9hG4bKedge1, SIP/2.0/UDP 192.0.2.4;"
        "branch=z9hG4bK74bf9;received=192.0.2.4",
        "From: <sip:alice@example.com>;tag=1",
        "To: <sip:bob@example.com>;tag=2",
        "Call-ID: x",
        "CSeq: 1 INVITE",
        "P-Asserted-Identity: <sip:bob@example.com>",
        "Content-Length: 0",
        NULL,
    };
    static const char *const strip[] = { "P-Asserted-Identity", NULL };
    struct osec_sip_edit e = { .pop_via = true, .remove = strip };
    struct osec_buf out = OSEC_BUF_INIT(65536);
    (void)state;

    assert_int_equal(parse(build(lines, NULL, NULL)), 0);
    assert_int_equal(osec_sip_forward(m, &e, &out), 0);
    assert_string_equal(osec_buf_cstr(&out),
                        "SIP/2.0 180 Ringing\r\n"
                        "Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK74bf9;received=192.0.2.4\r\n"
                        "From: <sip:alice@example.com>;tag=1\r\n"
                        "To: <sip:bob@example.com>;tag=2\r\n"
                        "Call-ID: x\r\n"
                        "CSeq: 1 INVITE\r\n"
                        "Content-Length: 0\r\n\r\n");
    /* popping the only Via: the response was for us */
    lines[1] = "Via: SIP/2.0/TCP edge.example.net;branch=z9hG4bKedge1";
    assert_int_equal(parse(build(lines, NULL, NULL)), 0);
    assert_int_equal(osec_sip_forward(m, &e, &out), OSEC_EPOLICY);
    e.via = "SIP/2.0/UDP x;branch=z9hG4bKx";
    assert_int_equal(osec_sip_forward(m, &e, &out), OSEC_EINVAL);
    osec_buf_free(&out);
}

/* The fuzz seeds are realistic messages: each must parse (both framings). */
static void corpus_seeds_parse(void **state)
{
    static const char *const seeds[] = { "register", "invite", "message", "401", "200",
                                         "options", "subscribe", "pai" };
    const char *src = getenv("OSEC_SRC");
    static char buf[65536];
    char path[1024];
    (void)state;

    if (!src)
        skip();
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        FILE *f;
        size_t n;

        snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/sip/%s.sip", src, seeds[i]);
        f = fopen(path, "rb");
        assert_non_null(f);
        n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        assert_int_equal(osec_sip_parse(osec_slice_make(buf, n), 0, 0, m), 0);
        assert_int_equal(osec_sip_parse(osec_slice_make(buf, n), OSEC_SIP_STREAM, 0, m), 0);
        assert_int_equal(m->consumed, n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(register_with_authorization),
        cmocka_unit_test(invite_with_sdp),
        cmocka_unit_test(message_with_body),
        cmocka_unit_test(responses_200_and_401),
        cmocka_unit_test(compact_forms),
        cmocka_unit_test(vias_in_one_line_and_across_lines),
        cmocka_unit_test(quoted_display_names),
        cmocka_unit_test(contact_star),
        cmocka_unit_test(missing_mandatory_headers),
        cmocka_unit_test(cseq_checks),
        cmocka_unit_test(bad_version),
        cmocka_unit_test(content_length_checks),
        cmocka_unit_test(stream_framing),
        cmocka_unit_test(stream_body_and_content_length),
        cmocka_unit_test(max_forwards_bounds),
        cmocka_unit_test(limits),
        cmocka_unit_test(line_syntax),
        cmocka_unit_test(rfc4475_request_uris),
        cmocka_unit_test(rfc4475_headers),
        cmocka_unit_test(rfc4475_status_lines),
        cmocka_unit_test(rfc4475_dblreq),
        cmocka_unit_test(nameaddr_and_params),
        cmocka_unit_test(uri_parsing),
        cmocka_unit_test(aor_canonicalisation),
        cmocka_unit_test(reply_401),
        cmocka_unit_test(reply_refuses_injection),
        cmocka_unit_test(reply_to_malformed_request),
        cmocka_unit_test(forward_edits),
        cmocka_unit_test(forward_max_forwards_and_retarget),
        cmocka_unit_test(forward_refuses_bad_edits),
        cmocka_unit_test(forward_response_pops_via),
        cmocka_unit_test(corpus_seeds_parse),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
