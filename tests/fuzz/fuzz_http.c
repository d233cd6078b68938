/* libFuzzer harness: the HTTP/1.1 request parser, field access, the route
 * matcher and percent-decoding on the parsed path; plus two oracles:
 * incremental parsing (with a scan state) must agree with one-shot
 * parsing on every prefix, and writer output must re-parse to the same
 * request. */
#include <stdlib.h>
#include <string.h>

#include "omasec/error.h"
#include "omasec/http.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static void use_request(const struct osec_http_request *r)
{
    static const struct {
        const char *pattern;
        size_t ncap;
    } routes[] = { { "/cpns/v1/entities/*/eukey", 1 }, { "/cpns/v1/onetime-keys", 0 },
                   { "/cpns/v1/onetime-keys/*", 1 }, { "/*/*/*/*", 4 }, { "/", 0 } };
    struct osec_slice v, caps[4];
    char dec[64];
    size_t n;

    (void)osec_http_header_get(&r->headers, "authorization", &v);
    (void)osec_http_header_get_single(&r->headers, "host", &v);
    (void)osec_http_header_get_single(&r->headers, "content-length", &v);
    (void)osec_http_header_has_token(&r->headers, "connection", "close");
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (osec_http_path_match(r->path, routes[i].pattern, caps, routes[i].ncap) != 0)
            continue;
        for (size_t j = 0; j < routes[i].ncap; j++)
            CHECK(osec_http_pct_decode(caps[j], OSEC_HTTP_PCT_SEGMENT, dec, sizeof(dec), &n) !=
                  OSEC_EPARSE);
        break;
    }
    (void)osec_http_pct_decode(r->query, 0, dec, sizeof(dec), &n);
}

/* Feed growing prefixes with a scan state; each answer must match a fresh
 * one-shot parse of the same prefix. */
static void incremental(const uint8_t *data, size_t size)
{
    static struct osec_http_request a, b;
    struct osec_http_scan scan = OSEC_HTTP_SCAN_INIT;
    size_t cuts[5] = { size / 5, size / 3, size / 2, size - size / 8, size }, ua, ub;

    for (size_t i = 0; i < 5; i++) {
        int ra = osec_http_request_parse(data, cuts[i], NULL, &scan, &a, &ua);
        int rb = osec_http_request_parse(data, cuts[i], NULL, NULL, &b, &ub);

        CHECK(ra == rb && ua == ub);
        CHECK(ra >= 0 || a.error_status == b.error_status);
        if (ra != OSEC_HTTP_INCOMPLETE)
            return;
    }
}

static void round_trip(const struct osec_http_request *r)
{
    static struct osec_http_request back;
    struct osec_http_field f[OSEC_HTTP_MAX_HEADERS];
    struct osec_buf out = OSEC_BUF_INIT(1 << 20);
    char method[64], host[512] = "h";
    struct osec_slice v;
    size_t nf = 0, used;

    if (osec_slice_to_cstr(r->method, method, sizeof(method)) != 0)
        return;
    if (osec_http_header_get(&r->headers, "host", &v) && osec_slice_to_cstr(v, host, sizeof(host)))
        return;
    for (size_t i = 0; i < r->headers.count; i++) {
        struct osec_slice name = r->headers.list[i].name;
        char *nm;

        if (osec_slice_eq_ci(name, "host") || osec_slice_eq_ci(name, "content-length"))
            continue;
        nm = malloc(name.len + 1);
        CHECK(nm && osec_slice_to_cstr(name, nm, name.len + 1) == 0);
        f[nf].name = nm;
        f[nf++].value = r->headers.list[i].value;
    }
    CHECK(osec_http_write_request(&out, method, r->target, host, f, nf, r->body) == 0);
    if (nf <= 60) {
        CHECK(osec_http_request_parse(out.data, out.len, NULL, NULL, &back, &used) == 0);
        CHECK(used == out.len && osec_slice_eq(back.target, r->target));
        CHECK(osec_slice_eq(back.body, r->body) && back.headers.count >= nf);
    }
    for (size_t i = 0; i < nf; i++)
        free((void *)f[i].name);
    osec_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct osec_http_request r;
    static const struct osec_http_limits small = { 64, 256, 4, 32 };
    size_t used;
    int rc = osec_http_request_parse(data, size, NULL, NULL, &r, &used);

    if (rc == OSEC_OK) {
        CHECK(used > 0 && used <= size && r.header_len + r.body.len == used);
        use_request(&r);
        round_trip(&r);
    } else {
        CHECK(used == 0);
        CHECK(rc == OSEC_HTTP_INCOMPLETE || r.error_status >= 400);
    }
    incremental(data, size);
    (void)osec_http_request_parse(data, size, &small, NULL, &r, &used);
    return 0;
}
