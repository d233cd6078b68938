/* Unit tests for lib/proto/http_*: strict HTTP/1.1 parser, route matcher, writer. */
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
#include "omasec/http.h"

#define H11 "Host: cpns.example.com\r\n"

static const char digest_post[] =
    "POST /cpns/v1/onetime-keys HTTP/1.1\r\n"
    "Host: cpns.example.com:7443\r\n"
    "Authorization: Digest username=\"gw-0001\", realm=\"cpns@example.com\", "
    "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", uri=\"/cpns/v1/onetime-keys\", "
    "algorithm=SHA-256, qop=auth, nc=00000001, "
    "cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", "
    "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\"\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 52\r\n"
    "\r\n"
    "{\"peer\":\"pne-42\",\"key_id\":\"k1\",\"lifetime\":300,\"x\":1}";

static int preq_lim(const char *s, size_t len, const struct osec_http_limits *lim,
                    struct osec_http_request *r, size_t *used)
{
    return osec_http_request_parse((const uint8_t *)s, len, lim, NULL, r, used);
}

static int preq(const char *s, struct osec_http_request *r, size_t *used)
{
    return preq_lim(s, strlen(s), NULL, r, used);
}

static void expect_reject_lim(const char *s, const struct osec_http_limits *lim, int code,
                              int status)
{
    struct osec_http_request r;
    size_t used = 99;
    int rc = preq_lim(s, strlen(s), lim, &r, &used);

    if (rc != code || r.error_status != status)
        fail_msg("request %.60s...: rc=%d status=%d, want %d/%d", s, rc, r.error_status, code,
                 status);
    assert_int_equal(used, 0);
    assert_non_null(r.error_reason);
    assert_int_equal(osec_error_code(), code);
}

static void expect_reject(const char *s, int code, int status)
{
    expect_reject_lim(s, NULL, code, status);
}

/* The reason names the rule that fired, so a test cannot pass by accident. */
static void expect_reject_why(const char *s, int code, int status, const char *why)
{
    struct osec_http_request r;
    size_t used;

    assert_int_equal(preq(s, &r, &used), code);
    assert_int_equal(r.error_status, status);
    assert_string_equal(r.error_reason, why);
}

static void rejection_reasons(void **state)
{
    (void)state;
    expect_reject_why("GET / HTTP/1.1\r\n" H11 "X: 1\r\n 2\r\n\r\n", OSEC_EPARSE, 400,
                      "obsolete line folding");
    expect_reject_why("GET / HTTP/1.1\r\nHost : a\r\n\r\n", OSEC_EPARSE, 400,
                      "whitespace before colon");
    expect_reject_why("GET / HTTP/1.1\r\nHost: a\n", OSEC_EPARSE, 400, "bare LF in head");
    expect_reject_why("GET / HTTP/1.1\r\n" H11 "X: a\rb\r\n\r\n", OSEC_EPARSE, 400,
                      "control character in field value");
    expect_reject_why("GET http://h/ HTTP/1.1\r\n" H11 "\r\n", OSEC_EPARSE, 400,
                      "request target is not origin-form");
    expect_reject_why("GE@T / HTTP/1.1\r\n" H11 "\r\n", OSEC_EPARSE, 400, "bad method");
    expect_reject_why("POST / HTTP/1.1\r\n" H11 "Content-Length: 1\r\nContent-Length: 2\r\n\r\n",
                      OSEC_EPARSE, 400, "conflicting Content-Length");
    expect_reject_why("POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: chunked\r\n\r\n",
                      OSEC_EPOLICY, 501, "Transfer-Encoding not supported");
    expect_reject_why("GET / HTTP/1.1\r\n\r\n", OSEC_EPARSE, 400, "missing Host");
    expect_reject_why("GET / HTTP/1.1\r\n" H11 H11 "\r\n", OSEC_EPARSE, 400, "repeated Host");
}

static void simple_get(void **state)
{
    const char *s = "GET /cpns/v1/status?x=1&y=%20 HTTP/1.1\r\n" H11
                    "User-Agent: t/1\r\nAccept: \t application/json  \r\nX-Empty:\r\n\r\n";
    struct osec_http_request r;
    size_t used;
    struct osec_slice v;
    (void)state;

    assert_int_equal(preq(s, &r, &used), OSEC_OK);
    assert_int_equal(used, strlen(s));
    assert_int_equal(r.header_len, strlen(s));
    assert_true(osec_slice_eq_cstr(r.method, "GET"));
    assert_true(osec_slice_eq_cstr(r.target, "/cpns/v1/status?x=1&y=%20"));
    assert_true(osec_slice_eq_cstr(r.path, "/cpns/v1/status"));
    assert_true(osec_slice_eq_cstr(r.query, "x=1&y=%20"));
    assert_int_equal(r.form, OSEC_HTTP_TARGET_ORIGIN);
    assert_int_equal(r.version_minor, 1);
    assert_int_equal(r.headers.count, 4);
    assert_true(osec_slice_eq_cstr(r.headers.list[2].name, "Accept"));
    assert_true(osec_slice_eq_cstr(r.headers.list[2].value, "application/json"));
    assert_true(osec_slice_eq_cstr(r.headers.list[3].value, ""));
    assert_true(osec_http_header_get(&r.headers, "user-agent", &v));
    assert_true(osec_slice_eq_cstr(v, "t/1"));
    assert_false(osec_http_header_get(&r.headers, "user-agen", &v));
    assert_false(r.has_content_length);
    assert_int_equal(r.body.len, 0);
    assert_true(r.keep_alive);
    assert_false(r.expect_continue);
    /* zero-copy: slices point into the input */
    assert_ptr_equal(r.method.ptr, s);
    assert_ptr_equal(r.path.ptr, s + 4);
}

static void post_with_body(void **state)
{
    struct osec_http_request r;
    size_t used;
    struct osec_slice v;
    (void)state;

    assert_int_equal(preq(digest_post, &r, &used), OSEC_OK);
    assert_int_equal(used, strlen(digest_post));
    assert_true(osec_slice_eq_cstr(r.method, "POST"));
    assert_true(r.has_content_length);
    assert_int_equal(r.content_length, 52);
    assert_int_equal(r.body.len, 52);
    assert_int_equal(r.header_len + 52, used);
    assert_memory_equal(r.body.ptr, "{\"peer\":\"pne-42\"", 16);
    assert_int_equal(osec_http_header_get_single(&r.headers, "AUTHORIZATION", &v), 0);
    assert_true(osec_slice_starts_ci(v, "digest username=\"gw-0001\""));
    assert_int_equal(osec_http_header_get_single(&r.headers, "host", &v), 0);
    assert_true(osec_slice_eq_cstr(v, "cpns.example.com:7443"));
    assert_int_equal(osec_http_header_get_single(&r.headers, "cookie", &v), OSEC_ENOTFOUND);
}

static void pipelined(void **state)
{
    /* one ignored empty line before the second request (RFC 9112 2.2) */
    const char *s = "POST /a HTTP/1.1\r\n" H11 "Content-Length: 3\r\n\r\nabc"
                    "\r\nGET /b HTTP/1.1\r\n" H11 "\r\n"
                    "GET /c HTTP/1.1\r\n";
    size_t first = strlen("POST /a HTTP/1.1\r\n" H11 "Content-Length: 3\r\n\r\nabc");
    size_t second = strlen("\r\nGET /b HTTP/1.1\r\n" H11 "\r\n");
    struct osec_http_request r;
    size_t used;
    (void)state;

    assert_int_equal(preq(s, &r, &used), OSEC_OK);
    assert_int_equal(used, first);
    assert_true(osec_slice_eq_cstr(r.body, "abc"));
    assert_int_equal(preq(s + first, &r, &used), OSEC_OK);
    assert_int_equal(used, second);
    assert_true(osec_slice_eq_cstr(r.path, "/b"));
    assert_int_equal(preq(s + first + second, &r, &used), OSEC_HTTP_INCOMPLETE);
    assert_int_equal(used, 0);
    /* only one empty line is forgiven */
    expect_reject("\r\n\r\nGET / HTTP/1.1\r\n" H11 "\r\n", OSEC_EPARSE, 400);
}

static void same_request(const struct osec_http_request *a, const struct osec_http_request *b)
{
    assert_true(osec_slice_eq(a->method, b->method));
    assert_true(osec_slice_eq(a->target, b->target));
    assert_true(osec_slice_eq(a->body, b->body));
    assert_int_equal(a->headers.count, b->headers.count);
    for (size_t i = 0; i < a->headers.count; i++) {
        assert_true(osec_slice_eq(a->headers.list[i].name, b->headers.list[i].name));
        assert_true(osec_slice_eq(a->headers.list[i].value, b->headers.list[i].value));
    }
    assert_int_equal(a->header_len, b->header_len);
    assert_int_equal(a->keep_alive, b->keep_alive);
}

static void incremental_bytes(void **state)
{
    size_t len = strlen(digest_post), used;
    struct osec_http_request whole, r;
    struct osec_http_scan scan = OSEC_HTTP_SCAN_INIT;
    (void)state;

    assert_int_equal(preq(digest_post, &whole, &used), OSEC_OK);
    for (size_t i = 0; i < len; i++) {
        used = 7;
        assert_int_equal(preq_lim(digest_post, i, NULL, &r, &used), OSEC_HTTP_INCOMPLETE);
        assert_int_equal(used, 0);
        assert_int_equal(osec_http_request_parse((const uint8_t *)digest_post, i, NULL, &scan,
                                                 &r, &used),
                         OSEC_HTTP_INCOMPLETE);
        assert_true(scan.need > i && scan.need <= len);
        if (i >= whole.header_len) {
            /* head known: fields valid, and the caller may wait for the body */
            assert_int_equal(scan.head_end, whole.header_len);
            assert_int_equal(scan.need, len);
            assert_int_equal(r.content_length, 52);
        }
    }
    assert_int_equal(osec_http_request_parse((const uint8_t *)digest_post, len, NULL, &scan, &r,
                                             &used),
                     OSEC_OK);
    assert_int_equal(used, len);
    same_request(&whole, &r);
    assert_int_equal(scan.scanned, 0); /* reset for the next message */
    assert_int_equal(scan.head_end, 0);
}

static void expect_continue_head_first(void **state)
{
    const char *s = "PUT /x HTTP/1.1\r\n" H11 "Expect: 100-Continue\r\nContent-Length: 5\r\n\r\n";
    struct osec_http_scan scan = OSEC_HTTP_SCAN_INIT;
    struct osec_http_request r;
    size_t used;
    (void)state;

    assert_int_equal(osec_http_request_parse((const uint8_t *)s, strlen(s), NULL, &scan, &r,
                                             &used),
                     OSEC_HTTP_INCOMPLETE);
    assert_true(r.expect_continue);
    assert_int_equal(scan.head_end, strlen(s));
    assert_int_equal(scan.need, strlen(s) + 5);
}

static void keep_alive_rules(void **state)
{
    static const struct {
        const char *req;
        bool ka;
    } cases[] = {
        { "GET / HTTP/1.1\r\n" H11 "\r\n", true },
        { "GET / HTTP/1.1\r\n" H11 "Connection: close\r\n\r\n", false },
        { "GET / HTTP/1.1\r\n" H11 "Connection: keep-alive, CLOSE\r\n\r\n", false },
        { "GET / HTTP/1.1\r\n" H11 "Connection: upgrade\r\nConnection: Close\r\n\r\n", false },
        { "GET / HTTP/1.1\r\n" H11 "Connection: closed\r\n\r\n", true },
        { "GET / HTTP/1.0\r\n\r\n", false },
        { "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true },
        { "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false },
    };
    struct osec_http_request r;
    size_t used;
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(preq(cases[i].req, &r, &used), OSEC_OK);
        if (r.keep_alive != cases[i].ka)
            fail_msg("case %zu: keep_alive=%d", i, r.keep_alive);
    }
    assert_int_equal(preq("GET / HTTP/1.0\r\n\r\n", &r, &used), OSEC_OK);
    assert_int_equal(r.version_minor, 0);
}

static void rejects_syntax(void **state)
{
    (void)state;
    expect_reject("GE(T / HTTP/1.1\r\n" H11 "\r\n", OSEC_EPARSE, 400);
    expect_reject("G\x80T / HTTP/1.1\r\n" H11 "\r\n", OSEC_EPARSE, 400);
    expect_reject(" GET / HTTP/1.1\r\n" H11 "\r\n", OSEC_EPARSE, 400);
    expect_reject("GET  / HTTP/1.1\r\n" H11 "\r\n", OSEC_EPARSE, 400);
    expect_reject("GET / HTTP/1.1 \r\n" H11 "\r\n", OSEC_EPARSE, 400);
    expect_reject("GET /\r\n" H11 "\r\n", OSEC_EPARSE, 400);
    expect_reject("GET / HTTP/1.1\r\nHost : a\r\n\r\n", OSEC_EPARSE, 400);
    expect_reject("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", OSEC_EPARSE, 400);
    expect_reject("GET / HTTP/1.1\r\n" H11 "X-A: 1\r\n 2\r\n\r\n", OSEC_EPARSE, 400);
    expect_reject("GET / HTTP/1.1\r\n" H11 "X-A: 1\r\n\t2\r\n\r\n", OSEC_EPARSE, 400);
    expect_reject("GET / HTTP/1.1\r\n" H11 "X-A: 1\rX-B: 2\r\n\r\n", OSEC_EPARSE, 400);
    expect_reject("GET /\r HTTP/1.1\r\n" H11 "\r\n", OSEC_EPARSE, 400);
    expect_reject("GET / HTTP/1.1\r\n" H11 "X-A: a\x01" "b\r\n\r\n", OSEC_EPARSE, 400);
    expect_reject("GET / HTTP/1.1\r\n" H11 "X-A: a\x7f\r\n\r\n", OSEC_EPARSE, 400);
    expect_reject("GET / HTTP/1.1\r\n" H11 ": a\r\n\r\n", OSEC_EPARSE, 400);
    expect_reject("GET / HTTP/1.1\r\n" H11 "X(A): a\r\n\r\n", OSEC_EPARSE, 400);
    expect_reject("GET / HTTP/1.1\r\n" H11 "no-colon\r\n\r\n", OSEC_EPARSE, 400);
    /* bare LF is refused as soon as it is seen, without waiting for more */
    expect_reject("GET / HTTP/1.1\n", OSEC_EPARSE, 400);
    expect_reject("GET / HTTP/1.1\r\nHost: a\n\n", OSEC_EPARSE, 400);
    expect_reject("\n", OSEC_EPARSE, 400);
}

static void accepts_value_bytes(void **state)
{
    const char *s = "GET / HTTP/1.1\r\n" H11 "X-A: a\tb \xc3\xa9\r\n\r\n";
    struct osec_http_request r;
    size_t used;
    struct osec_slice v;
    (void)state;

    assert_int_equal(preq(s, &r, &used), OSEC_OK);
    assert_true(osec_http_header_get(&r.headers, "x-a", &v));
    assert_true(osec_slice_eq_cstr(v, "a\tb \xc3\xa9"));
}

static void rejects_targets(void **state)
{
    struct osec_http_request r;
    size_t used;
    (void)state;

    expect_reject("GET http://cpns.example.com/ HTTP/1.1\r\n" H11 "\r\n", OSEC_EPARSE, 400);
    expect_reject("GET cpns.example.com:443 HTTP/1.1\r\n" H11 "\r\n", OSEC_EPARSE, 400);
    expect_reject("GET * HTTP/1.1\r\n" H11 "\r\n", OSEC_EPARSE, 400);
    expect_reject("GET /a\x01 HTTP/1.1\r\n" H11 "\r\n", OSEC_EPARSE, 400);
    expect_reject("GET /a#frag HTTP/1.1\r\n" H11 "\r\n", OSEC_EPARSE, 400);
    expect_reject("GET /a%zz HTTP/1.1\r\n" H11 "\r\n", OSEC_EPARSE, 400);
    expect_reject("GET /a%4 HTTP/1.1\r\n" H11 "\r\n", OSEC_EPARSE, 400);
    expect_reject("GET /a\"b HTTP/1.1\r\n" H11 "\r\n", OSEC_EPARSE, 400);
    expect_reject("GET /a b HTTP/1.1\r\n" H11 "\r\n", OSEC_EPARSE, 400);
    expect_reject("CONNECT / HTTP/1.1\r\n" H11 "\r\n", OSEC_EPARSE, 400);
    expect_reject("CONNECT cpns.example.com HTTP/1.1\r\n" H11 "\r\n", OSEC_EPARSE, 400);
    expect_reject("CONNECT u@h:443 HTTP/1.1\r\n" H11 "\r\n", OSEC_EPARSE, 400);
    expect_reject("CONNECT h:65536 HTTP/1.1\r\n" H11 "\r\n", OSEC_EPARSE, 400);
    assert_int_equal(preq("OPTIONS * HTTP/1.1\r\n" H11 "\r\n", &r, &used), OSEC_OK);
    assert_int_equal(r.form, OSEC_HTTP_TARGET_ASTERISK);
    assert_true(osec_slice_eq_cstr(r.path, "*"));
    assert_int_equal(preq("CONNECT [::1]:7443 HTTP/1.1\r\nHost: [::1]:7443\r\n\r\n", &r, &used),
                     OSEC_OK);
    assert_int_equal(r.form, OSEC_HTTP_TARGET_AUTHORITY);
    assert_true(osec_slice_eq_cstr(r.target, "[::1]:7443"));
    assert_int_equal(r.path.len, 0);
    assert_int_equal(preq("CONNECT cpns.example.com:443 HTTP/1.1\r\n" H11 "\r\n", &r, &used),
                     OSEC_OK);
    assert_int_equal(preq("GET /a/b;p=1/c:d@e?q=/?x HTTP/1.1\r\n" H11 "\r\n", &r, &used),
                     OSEC_OK);
    assert_true(osec_slice_eq_cstr(r.query, "q=/?x"));
}

static void rejects_versions(void **state)
{
    (void)state;
    expect_reject("GET / HTTP/2.0\r\n" H11 "\r\n", OSEC_EPARSE, 505);
    expect_reject("GET / HTTP/1.2\r\n" H11 "\r\n", OSEC_EPARSE, 505);
    expect_reject("GET / HTTP/0.9\r\n\r\n", OSEC_EPARSE, 505);
    expect_reject("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", OSEC_EPARSE, 505);
    expect_reject("GET / HTTP/1.10\r\n" H11 "\r\n", OSEC_EPARSE, 400);
    expect_reject("GET / http/1.1\r\n" H11 "\r\n", OSEC_EPARSE, 400);
    expect_reject("GET / HTTP/1\r\n" H11 "\r\n", OSEC_EPARSE, 400);
}

static void host_rules(void **state)
{
    (void)state;
    expect_reject("GET / HTTP/1.1\r\n\r\n", OSEC_EPARSE, 400);
    expect_reject("GET / HTTP/1.1\r\n" H11 H11 "\r\n", OSEC_EPARSE, 400);
    expect_reject("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", OSEC_EPARSE, 400);
    expect_reject("GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n", OSEC_EPARSE, 400);
    expect_reject("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", OSEC_EPARSE, 400);
    expect_reject("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", OSEC_EPARSE, 400);
}

static void content_length_rules(void **state)
{
    struct osec_http_limits lim = OSEC_HTTP_LIMITS_DEFAULT;
    struct osec_http_request r;
    size_t used;
    (void)state;

#define P(cl) "POST / HTTP/1.1\r\n" H11 cl "\r\n"
    expect_reject(P("Content-Length: 3\r\nContent-Length: 4\r\n") "abcd", OSEC_EPARSE, 400);
    expect_reject(P("Content-Length: -1\r\n"), OSEC_EPARSE, 400);
    expect_reject(P("Content-Length: +1\r\n") "a", OSEC_EPARSE, 400);
    expect_reject(P("Content-Length: 1a\r\n") "a", OSEC_EPARSE, 400);
    expect_reject(P("Content-Length: 0x1\r\n") "a", OSEC_EPARSE, 400);
    expect_reject(P("Content-Length: 1 1\r\n") "a", OSEC_EPARSE, 400);
    expect_reject(P("Content-Length: 1,1\r\n") "a", OSEC_EPARSE, 400);
    expect_reject(P("Content-Length:\r\n"), OSEC_EPARSE, 400);
    expect_reject(P("Content-Length: 18446744073709551616\r\n"), OSEC_EPARSE, 400);
    expect_reject(P("Content-Length: 99999999999999999999999\r\n"), OSEC_EPARSE, 400);
    expect_reject(P("Content-Length: 18446744073709551615\r\n"), OSEC_EBOUNDS, 413);
    lim.max_body = 10;
    expect_reject_lim(P("Content-Length: 11\r\n") "01234567890", &lim, OSEC_EBOUNDS, 413);
    {
        const char *ok = P("Content-Length: 10\r\n") "0123456789";

        assert_int_equal(preq_lim(ok, strlen(ok), &lim, &r, &used), OSEC_OK);
        assert_int_equal(used, strlen(ok));
    }
    assert_int_equal(preq(P("Content-Length: 2\r\ncontent-length:  2 \r\n") "ab", &r, &used),
                     OSEC_OK);
    assert_true(osec_slice_eq_cstr(r.body, "ab"));
    assert_int_equal(osec_http_header_get_single(&r.headers, "Content-Length", &r.body),
                     OSEC_EPARSE);
    assert_int_equal(preq(P("Content-Length: 007\r\n") "abcdefg", &r, &used), OSEC_OK);
    assert_int_equal(r.content_length, 7);
    /* Transfer-Encoding of any kind: 501, with or without Content-Length */
    expect_reject(P("Transfer-Encoding: chunked\r\n") "0\r\n\r\n", OSEC_EPOLICY, 501);
    expect_reject(P("Content-Length: 5\r\nTransfer-Encoding: identity\r\n") "0\r\n\r\n",
                  OSEC_EPOLICY, 501);
    expect_reject(P("transfer-encoding: gzip, chunked\r\n"), OSEC_EPOLICY, 501);
#undef P
}

static void limits_enforced(void **state)
{
    struct osec_http_limits lim = OSEC_HTTP_LIMITS_DEFAULT;
    struct osec_buf b = OSEC_BUF_INIT(1 << 20);
    struct osec_http_request r;
    size_t used;
    (void)state;

    /* 64 fields pass, 65 do not */
    assert_int_equal(osec_buf_append_str(&b, "GET / HTTP/1.1\r\n" H11), 0);
    for (int i = 1; i < 64; i++)
        assert_int_equal(osec_buf_appendf(&b, "X-%d: %d\r\n", i, i), 0);
    assert_int_equal(osec_buf_append_str(&b, "\r\n"), 0);
    assert_int_equal(preq(osec_buf_cstr(&b), &r, &used), OSEC_OK);
    assert_int_equal(r.headers.count, 64);
    b.len -= 2;
    assert_int_equal(osec_buf_append_str(&b, "X-64: 64\r\n\r\n"), 0);
    expect_reject(osec_buf_cstr(&b), OSEC_EBOUNDS, 431);
    lim.max_headers = 2;
    expect_reject_lim("GET / HTTP/1.1\r\n" H11 "A: 1\r\nB: 2\r\n\r\n", &lim, OSEC_EBOUNDS, 431);
    lim.max_headers = 1000; /* clamped to OSEC_HTTP_MAX_HEADERS */
    expect_reject_lim(osec_buf_cstr(&b), &lim, OSEC_EBOUNDS, 431);

    /* request line over 8 KiB: 414, complete or not */
    osec_buf_reset(&b);
    assert_int_equal(osec_buf_append_str(&b, "GET /"), 0);
    for (int i = 0; i < 8200; i++)
        assert_int_equal(osec_buf_putc(&b, 'a'), 0);
    expect_reject(osec_buf_cstr(&b), OSEC_EBOUNDS, 414);
    assert_int_equal(osec_buf_append_str(&b, " HTTP/1.1\r\n" H11 "\r\n"), 0);
    expect_reject(osec_buf_cstr(&b), OSEC_EBOUNDS, 414);

    /* head over max_head: 431, complete or not */
    lim = (struct osec_http_limits)OSEC_HTTP_LIMITS_DEFAULT;
    lim.max_head = 64;
    expect_reject_lim("GET / HTTP/1.1\r\n" H11 "X-Long: 0123456789012345678901234\r\n\r\n", &lim,
                      OSEC_EBOUNDS, 431);
    expect_reject_lim("GET / HTTP/1.1\r\n" H11 "X-Long: 01234567890123456789012345", &lim,
                      OSEC_EBOUNDS, 431);
    assert_int_equal(preq_lim("GET / HTTP/1.1\r\n" H11 "X: 0123456789012\r\n\r\n", 64, &lim, &r,
                              &used),
                     OSEC_OK);
    osec_buf_free(&b);
}

static void field_lookup(void **state)
{
    const char *s = "GET / HTTP/1.1\r\n" H11 "Authorization: Digest a\r\nAUTHORIZATION: Basic b\r\n"
                    "Accept-Encoding: gzip,  br ,identity\r\nX-A^: 1\r\n\r\n";
    struct osec_http_request r;
    size_t used;
    struct osec_slice v = { NULL, 0 };
    (void)state;

    assert_int_equal(preq(s, &r, &used), OSEC_OK);
    assert_true(osec_http_header_get(&r.headers, "authorization", &v));
    assert_true(osec_slice_eq_cstr(v, "Digest a"));
    assert_int_equal(osec_http_header_get_single(&r.headers, "Authorization", &v), OSEC_EPARSE);
    assert_true(osec_http_header_has_token(&r.headers, "accept-encoding", "BR"));
    assert_true(osec_http_header_has_token(&r.headers, "accept-encoding", "identity"));
    assert_false(osec_http_header_has_token(&r.headers, "accept-encoding", "deflate"));
    /* case folding is ASCII letters only: '^' is not '~' */
    assert_false(osec_http_header_get(&r.headers, "x-a~", &v));
    assert_true(osec_http_header_get(&r.headers, "x-a^", &v));
}

static void route_matcher(void **state)
{
    const char *pat = "/cpns/v1/entities/*/eukey";
    struct osec_slice caps[2];
    char id[16];
    size_t n;
    (void)state;

#define M(p) osec_http_path_match(osec_slice_cstr(p), pat, caps, 1)
    assert_int_equal(M("/cpns/v1/entities/pne%2D1%40home/eukey"), 0);
    assert_true(osec_slice_eq_cstr(caps[0], "pne%2D1%40home"));
    assert_int_equal(osec_http_pct_decode(caps[0], OSEC_HTTP_PCT_SEGMENT, id, sizeof(id), &n), 0);
    assert_string_equal(id, "pne-1@home");
    assert_int_equal(n, 10);
    assert_int_equal(osec_http_pct_decode(caps[0], OSEC_HTTP_PCT_SEGMENT, id, 10, &n),
                     OSEC_EBOUNDS);
    assert_int_equal(M("/cpns/v1/entities/gw-1/eukey"), 0);
    assert_true(osec_slice_eq_cstr(caps[0], "gw-1"));
    assert_int_equal(M("/cpns/v1/entities/a%2Fb/eukey"), OSEC_EPARSE);
    assert_int_equal(M("/cpns/v1/entities/a%2fb/eukey"), OSEC_EPARSE);
    assert_int_equal(M("/cpns/v1/entities/a%00b/eukey"), OSEC_EPARSE);
    assert_int_equal(M("/cpns/v1/entities/a%zzb/eukey"), OSEC_EPARSE);
    assert_int_equal(M("/cpns/v1/entities/a%4/eukey"), OSEC_EPARSE);
    assert_int_equal(M("/cpns/v1/entities/a%/eukey"), OSEC_EPARSE);
    assert_int_equal(M("/cpns/v1/entities/../eukey"), OSEC_EPARSE);
    assert_int_equal(M("/cpns/v1/entities/%2e%2E/eukey"), OSEC_EPARSE);
    assert_int_equal(M("/cpns/v1/entities/./eukey"), OSEC_EPARSE);
    assert_int_equal(M("/cpns/v1/entities/a b/eukey"), OSEC_EPARSE);
    assert_int_equal(M("/cpns/v1/entities/.../eukey"), 0);
    assert_int_equal(M("/cpns/v1/entities//eukey"), OSEC_ENOTFOUND);
    assert_int_equal(M("/cpns/v1/entities/x/eukey/"), OSEC_ENOTFOUND);
    assert_int_equal(M("/cpns/v1/entities/x"), OSEC_ENOTFOUND);
    assert_int_equal(M("/cpns/v1/entities/x/y/eukey"), OSEC_ENOTFOUND);
    assert_int_equal(M("/cpns/v1/Entities/x/eukey"), OSEC_ENOTFOUND);
    assert_int_equal(M("cpns/v1/entities/x/eukey"), OSEC_ENOTFOUND);
    assert_int_equal(M(""), OSEC_ENOTFOUND);
    /* a miss is reported as a miss even when the capture is malformed */
    assert_int_equal(M("/cpns/v1/entities/%00/other"), OSEC_ENOTFOUND);
#undef M
    assert_int_equal(osec_http_path_match(osec_slice_cstr("/a/x/b/y"), "/a/*/b/*", caps, 2), 0);
    assert_true(osec_slice_eq_cstr(caps[1], "y"));
    assert_int_equal(osec_http_path_match(osec_slice_cstr("/a/x/b/y"), "/a/*/b/*", caps, 1),
                     OSEC_EINVAL);
    assert_int_equal(osec_http_path_match(osec_slice_cstr("/a"), "a", caps, 1), OSEC_EINVAL);
    assert_int_equal(osec_http_path_match(osec_slice_cstr("/"), "/", NULL, 0), 0);
    assert_int_equal(osec_http_path_match(osec_slice_cstr("/a*b"), "/a*b", NULL, 0), 0);
    /* decoding without the segment flag keeps '/' but never NUL */
    assert_int_equal(osec_http_pct_decode(osec_slice_cstr("a%2Fb+c"), 0, id, sizeof(id), &n), 0);
    assert_string_equal(id, "a/b+c");
    assert_int_equal(osec_http_pct_decode(osec_slice_cstr("a%00"), 0, id, sizeof(id), &n),
                     OSEC_EPARSE);
    assert_int_equal(osec_http_pct_decode(osec_slice_cstr("a/b"), OSEC_HTTP_PCT_SEGMENT, id,
                                          sizeof(id), &n),
                     OSEC_EPARSE);
}

static void segment_encoding(void **state)
{
    struct osec_buf b = OSEC_BUF_INIT(64);
    char out[32];
    size_t n;
    struct osec_slice cap;
    (void)state;

    assert_int_equal(osec_http_pct_encode_segment(&b, osec_slice_cstr("pne 1/x~y%\xff")), 0);
    assert_string_equal(osec_buf_cstr(&b), "pne%201%2Fx~y%25%FF");
    assert_int_equal(osec_http_pct_decode(osec_buf_slice(&b), 0, out, sizeof(out), &n), 0);
    assert_string_equal(out, "pne 1/x~y%\xff");
    osec_buf_free(&b);
    osec_buf_init(&b, 8);
    assert_int_equal(osec_buf_append_str(&b, "/e/"), 0);
    assert_int_equal(osec_http_pct_encode_segment(&b, osec_slice_cstr("a b c")), OSEC_EBOUNDS);
    assert_string_equal(osec_buf_cstr(&b), "/e/");
    assert_int_equal(osec_http_pct_encode_segment(&b, osec_slice_cstr("ab")), 0);
    assert_int_equal(osec_http_path_match(osec_buf_slice(&b), "/e/*", &cap, 1), 0);
    osec_buf_free(&b);
}

static void writer_response_exact(void **state)
{
    struct osec_buf b = OSEC_BUF_INIT(4096);
    const struct osec_http_field f[] = {
        { "Content-Type", osec_slice_cstr("application/json") },
        { "Cache-Control", osec_slice_cstr("no-store") },
    };
    (void)state;

    /* RFC 9110 5.6.7's example date */
    assert_int_equal(osec_http_write_response(&b, 200, f, 2, osec_slice_cstr("{}"), 784111777), 0);
    assert_string_equal(osec_buf_cstr(&b), "HTTP/1.1 200 OK\r\n"
                                           "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                                           "Content-Type: application/json\r\n"
                                           "Cache-Control: no-store\r\n"
                                           "Content-Length: 2\r\n\r\n{}");
    osec_buf_reset(&b);
    assert_int_equal(osec_http_write_response(&b, 204, NULL, 0, osec_slice_cstr(""), -1), 0);
    assert_string_equal(osec_buf_cstr(&b), "HTTP/1.1 204 No Content\r\n\r\n");
    osec_buf_reset(&b);
    assert_int_equal(osec_http_write_response(&b, 404, NULL, 0, osec_slice_cstr(""), -1), 0);
    assert_string_equal(osec_buf_cstr(&b), "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    osec_buf_reset(&b);
    assert_int_equal(osec_http_write_response(&b, 299, NULL, 0, osec_slice_cstr("x"), -1), 0);
    assert_string_equal(osec_buf_cstr(&b), "HTTP/1.1 299 \r\nContent-Length: 1\r\n\r\nx");
    assert_string_equal(osec_http_reason(431), "Request Header Fields Too Large");
    assert_null(osec_http_reason(299));
    osec_buf_free(&b);
}

static void expect_write_refused(const char *name, const char *value)
{
    struct osec_buf b = OSEC_BUF_INIT(4096);
    const struct osec_http_field f[] = { { "X-Ok", osec_slice_cstr("1") },
                                         { name, osec_slice_cstr(value) } };

    assert_int_equal(osec_buf_append_str(&b, "keep"), 0);
    assert_int_equal(osec_http_write_response(&b, 200, f, 2, osec_slice_cstr("x"), -1),
                     OSEC_EINVAL);
    assert_int_equal(osec_http_write_request(&b, "GET", osec_slice_cstr("/"), "h", f, 2,
                                             osec_slice_cstr("")),
                     OSEC_EINVAL);
    assert_string_equal(osec_buf_cstr(&b), "keep");
    osec_buf_free(&b);
}

static void writer_refuses_injection(void **state)
{
    struct osec_buf b = OSEC_BUF_INIT(4096);
    struct osec_http_field host = { "Host", osec_slice_cstr("evil") };
    (void)state;

    expect_write_refused("X-A", "a\r\nSet-Cookie: s=1");
    expect_write_refused("X-A", "a\nb");
    expect_write_refused("X-A", "a\rb");
    expect_write_refused("X-A", "a\x01");
    expect_write_refused("X-A", " a");
    expect_write_refused("X-A", "a\t");
    expect_write_refused("X-A\r\nSet-Cookie", "1");
    expect_write_refused("X A", "1");
    expect_write_refused("X-A:", "1");
    expect_write_refused("", "1");
    expect_write_refused(NULL, "1");
    expect_write_refused("Content-Length", "5");
    expect_write_refused("transfer-encoding", "chunked");
    /* NUL inside a value slice */
    {
        const struct osec_http_field f = { "X-A", osec_slice_make("a\0b", 3) };
        assert_int_equal(osec_http_write_response(&b, 200, &f, 1, osec_slice_cstr(""), -1),
                         OSEC_EINVAL);
    }
    assert_int_equal(osec_http_write_request(&b, "GET", osec_slice_cstr("/"), "h", &host, 1,
                                             osec_slice_cstr("")),
                     OSEC_EINVAL);
    assert_int_equal(osec_http_write_request(&b, "GET", osec_slice_cstr("/a b"), "h", NULL, 0,
                                             osec_slice_cstr("")),
                     OSEC_EINVAL);
    assert_int_equal(osec_http_write_request(&b, "GET", osec_slice_cstr("/\r\nX: y"), "h", NULL,
                                             0, osec_slice_cstr("")),
                     OSEC_EINVAL);
    assert_int_equal(osec_http_write_request(&b, "GET", osec_slice_cstr("/"), "h\r\nX: y", NULL,
                                             0, osec_slice_cstr("")),
                     OSEC_EINVAL);
    assert_int_equal(osec_http_write_request(&b, "G T", osec_slice_cstr("/"), "h", NULL, 0,
                                             osec_slice_cstr("")),
                     OSEC_EINVAL);
    assert_int_equal(osec_http_write_response(&b, 99, NULL, 0, osec_slice_cstr(""), -1),
                     OSEC_EINVAL);
    assert_int_equal(osec_http_write_response(&b, 600, NULL, 0, osec_slice_cstr(""), -1),
                     OSEC_EINVAL);
    assert_int_equal(osec_http_write_response(&b, 204, NULL, 0, osec_slice_cstr("x"), -1),
                     OSEC_EINVAL);
    assert_int_equal(b.len, 0);
    osec_buf_free(&b);
}

static void writer_bounded_rollback(void **state)
{
    struct osec_buf b = OSEC_BUF_INIT(40);
    (void)state;

    assert_int_equal(osec_buf_append_str(&b, "prev"), 0);
    assert_int_equal(osec_http_write_response(&b, 200, NULL, 0, osec_slice_cstr("0123456789"),
                                              -1),
                     OSEC_EBOUNDS);
    assert_string_equal(osec_buf_cstr(&b), "prev");
    osec_buf_free(&b);
}

static void request_round_trip(void **state)
{
    struct osec_buf b = OSEC_BUF_INIT(4096);
    const struct osec_http_field f[] = {
        { "Authorization", osec_slice_cstr("Digest username=\"pne-1\", qop=auth") },
        { "Content-Type", osec_slice_cstr("application/json") },
    };
    struct osec_http_request r;
    struct osec_slice v;
    size_t used;
    (void)state;

    assert_int_equal(osec_http_write_request(&b, "GET", osec_slice_cstr("/cpns/v1/keys?id=1"),
                                             "cpns.example.com:7443", NULL, 0,
                                             osec_slice_cstr("")),
                     0);
    assert_string_equal(osec_buf_cstr(&b), "GET /cpns/v1/keys?id=1 HTTP/1.1\r\n"
                                           "Host: cpns.example.com:7443\r\n\r\n");
    osec_buf_reset(&b);
    assert_int_equal(osec_http_write_request(&b, "POST", osec_slice_cstr("/cpns/v1/onetime-keys"),
                                             "cpns.example.com", f, 2,
                                             osec_slice_cstr("{\"a\":1}")),
                     0);
    assert_int_equal(preq(osec_buf_cstr(&b), &r, &used), OSEC_OK);
    assert_int_equal(used, b.len);
    assert_true(osec_slice_eq_cstr(r.method, "POST"));
    assert_true(osec_slice_eq_cstr(r.path, "/cpns/v1/onetime-keys"));
    assert_true(osec_slice_eq_cstr(r.body, "{\"a\":1}"));
    assert_int_equal(osec_http_header_get_single(&r.headers, "authorization", &v), 0);
    assert_true(osec_slice_eq_cstr(v, "Digest username=\"pne-1\", qop=auth"));
    assert_int_equal(osec_http_header_get_single(&r.headers, "content-length", &v), 0);
    assert_true(osec_slice_eq_cstr(v, "7"));
    osec_buf_reset(&b);
    assert_int_equal(osec_http_write_request(&b, "DELETE", osec_slice_cstr("/k/1"), "h", NULL, 0,
                                             osec_slice_cstr("")),
                     0);
    assert_string_equal(osec_buf_cstr(&b), "DELETE /k/1 HTTP/1.1\r\nHost: h\r\n"
                                           "Content-Length: 0\r\n\r\n");
    osec_buf_free(&b);
}

static int presp(const char *s, size_t len, const char *method, struct osec_http_response *r,
                 size_t *used)
{
    return osec_http_response_parse((const uint8_t *)s, len, NULL, NULL, method, r, used);
}

static void response_round_trip(void **state)
{
    struct osec_buf b = OSEC_BUF_INIT(4096);
    const char *chal = "Digest realm=\"cpns@example.com\", qop=\"auth, auth-int\", "
                       "algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
                       "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
    const struct osec_http_field f[] = {
        { "WWW-Authenticate", osec_slice_cstr(chal) },
        { "Content-Type", osec_slice_cstr("application/json") },
    };
    const char *body = "{\"error\":\"unauthorized\"}";
    struct osec_http_response r, r2;
    struct osec_http_scan scan = OSEC_HTTP_SCAN_INIT;
    struct osec_slice v;
    size_t used;
    (void)state;

    assert_int_equal(osec_http_write_response(&b, 401, f, 2, osec_slice_cstr(body), 1700000000),
                     0);
    assert_int_equal(presp(osec_buf_cstr(&b), b.len, "POST", &r, &used), OSEC_OK);
    assert_int_equal(used, b.len);
    assert_int_equal(r.status, 401);
    assert_int_equal(r.version_minor, 1);
    assert_true(osec_slice_eq_cstr(r.reason, "Unauthorized"));
    assert_true(osec_slice_eq_cstr(r.body, body));
    assert_true(r.keep_alive);
    assert_int_equal(osec_http_header_get_single(&r.headers, "www-authenticate", &v), 0);
    assert_true(osec_slice_eq_cstr(v, chal));
    assert_true(osec_http_header_get(&r.headers, "date", &v));
    assert_true(osec_slice_eq_cstr(v, "Tue, 14 Nov 2023 22:13:20 GMT"));
    /* byte by byte with a scan state: INCOMPLETE until the last byte */
    for (size_t i = 0; i < b.len; i++)
        assert_int_equal(osec_http_response_parse(b.data, i, NULL, &scan, "POST", &r2, &used),
                         OSEC_HTTP_INCOMPLETE);
    assert_int_equal(osec_http_response_parse(b.data, b.len, NULL, &scan, "POST", &r2, &used),
                     OSEC_OK);
    assert_int_equal(used, b.len);
    assert_true(osec_slice_eq(r2.body, r.body));
    osec_buf_free(&b);
}

static void response_framing(void **state)
{
    struct osec_http_response r;
    size_t used;
    const char *s;
    (void)state;

    s = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n";
    assert_int_equal(presp(s, strlen(s), "PUT", &r, &used), OSEC_OK);
    assert_int_equal(r.status, 100);
    assert_int_equal(used, 25);
    assert_int_equal(presp(s + used, strlen(s + used), "PUT", &r, &used), OSEC_OK);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.body.len, 0);
    s = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
    assert_int_equal(presp(s, strlen(s), "HEAD", &r, &used), OSEC_OK);
    assert_int_equal(used, strlen(s));
    assert_int_equal(r.body.len, 0);
    assert_int_equal(presp(s, strlen(s), "GET", &r, &used), OSEC_HTTP_INCOMPLETE);
    s = "HTTP/1.1 200 Connection established\r\n\r\n";
    assert_int_equal(presp(s, strlen(s), "CONNECT", &r, &used), OSEC_OK);
    s = "HTTP/1.0 200\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(presp(s, strlen(s), NULL, &r, &used), OSEC_OK);
    assert_int_equal(r.reason.len, 0);
    assert_false(r.keep_alive);
    s = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    assert_int_equal(presp(s, strlen(s), NULL, &r, &used), OSEC_OK);
    assert_false(r.keep_alive);
}

static void expect_resp_reject(const char *s, int code)
{
    struct osec_http_response r;
    size_t used = 9;

    if (presp(s, strlen(s), "GET", &r, &used) != code)
        fail_msg("response %.40s: want %d", s, code);
    assert_int_equal(r.error_status, 502);
    assert_non_null(r.error_reason);
    assert_int_equal(used, 0);
}

static void response_rejects(void **state)
{
    (void)state;
    expect_resp_reject("HTTP/1.1 200 OK\r\n\r\n", OSEC_EPARSE); /* no Content-Length */
    expect_resp_reject("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                       OSEC_EPOLICY);
    expect_resp_reject("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                       OSEC_EPARSE);
    expect_resp_reject("HTTP/1.1 200 OK\nContent-Length: 0\n\n", OSEC_EPARSE);
    expect_resp_reject("HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", OSEC_EPARSE);
    expect_resp_reject("HTTP/1.1 99 OK\r\nContent-Length: 0\r\n\r\n", OSEC_EPARSE);
    expect_resp_reject("HTTP/1.1 600 OK\r\nContent-Length: 0\r\n\r\n", OSEC_EPARSE);
    expect_resp_reject("HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", OSEC_EPARSE);
    expect_resp_reject("HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n", OSEC_EPARSE);
    expect_resp_reject("HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n", OSEC_EPARSE);
    expect_resp_reject("HTTP/1.1 200 OK\r\nX : 1\r\nContent-Length: 0\r\n\r\n", OSEC_EPARSE);
    expect_resp_reject("HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n", OSEC_EBOUNDS);
    expect_resp_reject("\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", OSEC_EPARSE);
}

static void bad_arguments(void **state)
{
    struct osec_http_request r;
    size_t used;
    struct osec_http_scan scan = { 100, 50, 0 }; /* state of some other buffer */
    (void)state;

    assert_int_equal(osec_http_request_parse(NULL, 5, NULL, NULL, &r, &used), OSEC_EINVAL);
    assert_int_equal(osec_http_request_parse(NULL, 0, NULL, NULL, &r, &used),
                     OSEC_HTTP_INCOMPLETE);
    assert_int_equal(osec_http_request_parse((const uint8_t *)"GET / HTTP/1.0\r\n\r\n", 18, NULL,
                                             &scan, &r, &used),
                     OSEC_OK);
    assert_int_equal(used, 18);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(simple_get),
        cmocka_unit_test(rejection_reasons),
        cmocka_unit_test(post_with_body),
        cmocka_unit_test(pipelined),
        cmocka_unit_test(incremental_bytes),
        cmocka_unit_test(expect_continue_head_first),
        cmocka_unit_test(keep_alive_rules),
        cmocka_unit_test(rejects_syntax),
        cmocka_unit_test(accepts_value_bytes),
        cmocka_unit_test(rejects_targets),
        cmocka_unit_test(rejects_versions),
        cmocka_unit_test(host_rules),
        cmocka_unit_test(content_length_rules),
        cmocka_unit_test(limits_enforced),
        cmocka_unit_test(field_lookup),
        cmocka_unit_test(route_matcher),
        cmocka_unit_test(segment_encoding),
        cmocka_unit_test(writer_response_exact),
        cmocka_unit_test(writer_refuses_injection),
        cmocka_unit_test(writer_bounded_rollback),
        cmocka_unit_test(request_round_trip),
        cmocka_unit_test(response_round_trip),
        cmocka_unit_test(response_framing),
        cmocka_unit_test(response_rejects),
        cmocka_unit_test(bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
