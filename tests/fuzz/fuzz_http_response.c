/* libFuzzer harness: the HTTP/1.1 response parser (as used by the CPNS
 * client and the gateway), for each request method that changes framing;
 * oracles: incremental == one-shot, and writer output re-parses the same. */
#include <stdlib.h>
#include <string.h>

#include "omasec/error.h"
#include "omasec/http.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static void incremental(const uint8_t *data, size_t size, const char *method)
{
    static struct osec_http_response a, b;
    struct osec_http_scan scan = OSEC_HTTP_SCAN_INIT;
    size_t cuts[4] = { size / 4, size / 2, size - size / 8, size }, ua, ub;

    for (size_t i = 0; i < 4; i++) {
        int ra = osec_http_response_parse(data, cuts[i], NULL, &scan, method, &a, &ua);
        int rb = osec_http_response_parse(data, cuts[i], NULL, NULL, method, &b, &ub);

        CHECK(ra == rb && ua == ub);
        if (ra != OSEC_HTTP_INCOMPLETE)
            return;
    }
}

static void round_trip(const struct osec_http_response *r)
{
    static struct osec_http_response back;
    struct osec_http_field f[OSEC_HTTP_MAX_HEADERS];
    struct osec_buf out = OSEC_BUF_INIT(1 << 20);
    size_t nf = 0, used;

    for (size_t i = 0; i < r->headers.count; i++) {
        struct osec_slice name = r->headers.list[i].name;
        char *nm;

        if (osec_slice_eq_ci(name, "content-length"))
            continue;
        nm = malloc(name.len + 1);
        CHECK(nm && osec_slice_to_cstr(name, nm, name.len + 1) == 0);
        f[nf].name = nm;
        f[nf++].value = r->headers.list[i].value;
    }
    CHECK(osec_http_write_response(&out, r->status, f, nf, r->body, -1) == 0);
    if (nf < OSEC_HTTP_MAX_HEADERS) {
        CHECK(osec_http_response_parse(out.data, out.len, NULL, NULL, "GET", &back, &used) == 0);
        CHECK(used == out.len && back.status == r->status && osec_slice_eq(back.body, r->body));
    }
    for (size_t i = 0; i < nf; i++)
        free((void *)f[i].name);
    osec_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = { "GET", "HEAD", "CONNECT", NULL };
    static struct osec_http_response r;
    size_t used;

    for (size_t m = 0; m < 4; m++) {
        int rc = osec_http_response_parse(data, size, NULL, NULL, methods[m], &r, &used);

        if (rc == OSEC_OK) {
            CHECK(used > 0 && used <= size && r.header_len + r.body.len == used);
            CHECK(r.status >= 100 && r.status <= 599);
            (void)osec_http_header_get_single(&r.headers, "www-authenticate", &r.reason);
            if (m == 0 && r.status >= 200 && r.status != 204 && r.status != 304)
                round_trip(&r);
        } else {
            CHECK(used == 0 && (rc == OSEC_HTTP_INCOMPLETE || r.error_status == 502));
        }
        incremental(data, size, methods[m]);
    }
    return 0;
}
