/* Strict, zero-copy, incremental HTTP/1.1 request and response parser.
 *
 * Two stages.  A cheap scan (memchr over the bytes not yet seen) finds the
 * end of the head, so a client that trickles bytes costs linear CPU; only
 * then is the complete head parsed once, line by line, with one table
 * lookup per byte.  No stage ever needs "more input" in the middle of a
 * line, which keeps the line parsers simple.
 */
#include <string.h>

#include "omasec/error.h"
#include "omasec/http.h"
#include "proto/http_int.h"

/* What the parse of one head learns, and its error (status, reason). */
struct hstate {
    const uint8_t *d;
    size_t end; /* head bytes known to be present */
    size_t pos;
    const struct osec_http_limits *lim;
    struct osec_http_fields *f;
    bool request;
    unsigned hosts;
    bool has_cl, te, close, keep_alive, expect;
    uint64_t cl;
    int status;
    const char *reason;
};

static int hfail(struct hstate *h, int code, int status, const char *why, const char *file,
                 int line)
{
    h->status = status;
    h->reason = why;
    return osec_error_set(code, file, line, "http: %s", why);
}

#define HFAIL(h, code, st, why) return hfail((h), (code), (st), (why), __FILE__, __LINE__)

static uint8_t lc(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

static bool ci_eq(struct osec_slice a, const char *s, size_t n)
{
    if (a.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lc(a.ptr[i]) != lc((uint8_t)s[i]))
            return false;
    return true;
}

/* "n > max" without overflow for the "len - slack > max" comparisons. */
static bool exceeds(size_t n, size_t slack, size_t max)
{
    return n > slack && n - slack > max;
}

/* ---- stage 1: find the end of the head ------------------------------------ */

static int find_end(struct hstate *h, size_t len, struct osec_http_scan *sc, size_t *end)
{
    const struct osec_http_limits *lim = h->lim;
    size_t from = sc->scanned, stop = len < lim->max_head ? len : lim->max_head;
    const uint8_t *d = h->d;

    while (from < stop) {
        const uint8_t *p = memchr(d + from, '\n', stop - from);
        size_t k;

        if (!p)
            break;
        k = (size_t)(p - d);
        if (k == 0 || d[k - 1] != '\r')
            HFAIL(h, OSEC_EPARSE, 400, "bare LF in head");
        if (k >= 3 && d[k - 2] == '\n' && d[k - 3] == '\r') {
            *end = k + 1;
            return 0;
        }
        from = k + 1;
    }
    if (len >= lim->max_head)
        HFAIL(h, OSEC_EBOUNDS, 431, "header section too large");
    /* A start line that cannot end within the limit fails now, not at
     * max_head.  Checked once, when the buffer first grows past it. */
    if (exceeds(len, 4, lim->max_line) && !exceeds(sc->scanned, 4, lim->max_line) &&
        !memchr(d, '\n', lim->max_line + 4))
        HFAIL(h, OSEC_EBOUNDS, 414, "start line too long");
    sc->scanned = len;
    sc->need = len + 1;
    return OSEC_HTTP_INCOMPLETE;
}

/* ---- stage 2: parse the complete head ------------------------------------- */

/* Next CRLF-terminated line, without the CRLF. */
static int next_line(struct hstate *h, struct osec_slice *line)
{
    const uint8_t *p = h->pos < h->end ? memchr(h->d + h->pos, '\n', h->end - h->pos) : NULL;
    size_t k;

    if (!p) /* only with a scan state that does not match the input */
        HFAIL(h, OSEC_EPARSE, 400, "truncated head");
    k = (size_t)(p - h->d);
    if (k == h->pos || h->d[k - 1] != '\r')
        HFAIL(h, OSEC_EPARSE, 400, "bare LF in head");
    *line = osec_slice_make(h->d + h->pos, k - 1 - h->pos);
    h->pos = k + 1;
    return 0;
}

/* "HTTP/" DIGIT "." DIGIT; only 1.0 and 1.1 are served. */
static int parse_version(struct hstate *h, struct osec_slice v, int *minor)
{
    const uint8_t *p = v.ptr;

    if (v.len != 8 || memcmp(p, "HTTP/", 5) != 0 || p[5] < '0' || p[5] > '9' || p[6] != '.' ||
        p[7] < '0' || p[7] > '9')
        HFAIL(h, OSEC_EPARSE, 400, "bad HTTP version");
    if (p[5] != '1' || p[7] > '1')
        HFAIL(h, OSEC_EPARSE, 505, "HTTP version not supported");
    *minor = p[7] - '0';
    return 0;
}

static bool list_has(struct osec_slice v, const char *tok, size_t n)
{
    while (v.len > 0) {
        long c = osec_slice_find(v, ',');
        size_t el = c < 0 ? v.len : (size_t)c;

        if (ci_eq(osec_slice_trim(osec_slice_make(v.ptr, el)), tok, n))
            return true;
        v = osec_slice_sub(v, el + (c >= 0), v.len);
    }
    return false;
}

static int field_cl(struct hstate *h, struct osec_slice v)
{
    uint64_t n = 0;

    if (v.len == 0)
        HFAIL(h, OSEC_EPARSE, 400, "bad Content-Length");
    for (size_t i = 0; i < v.len; i++) {
        uint8_t c = v.ptr[i];

        if (c < '0' || c > '9')
            HFAIL(h, OSEC_EPARSE, 400, "bad Content-Length");
        if (n > (UINT64_MAX - (uint64_t)(c - '0')) / 10)
            HFAIL(h, OSEC_EPARSE, 400, "Content-Length overflows");
        n = n * 10 + (uint64_t)(c - '0');
    }
    if (h->has_cl && h->cl != n)
        HFAIL(h, OSEC_EPARSE, 400, "conflicting Content-Length");
    h->has_cl = true;
    h->cl = n;
    return 0;
}

/* Fields the parser itself must understand, dispatched on name length. */
static int field_special(struct hstate *h, struct osec_slice name, struct osec_slice v)
{
    switch (name.len) {
    case 4:
        if (h->request && ci_eq(name, "host", 4)) {
            if (++h->hosts > 1)
                HFAIL(h, OSEC_EPARSE, 400, "repeated Host");
            if (!osec_http_is_authority(v, false))
                HFAIL(h, OSEC_EPARSE, 400, "bad Host");
        }
        return 0;
    case 6:
        if (ci_eq(name, "expect", 6) && ci_eq(v, "100-continue", 12))
            h->expect = true;
        return 0;
    case 10:
        if (ci_eq(name, "connection", 10)) {
            h->close |= list_has(v, "close", 5);
            h->keep_alive |= list_has(v, "keep-alive", 10);
        }
        return 0;
    case 14:
        return ci_eq(name, "content-length", 14) ? field_cl(h, v) : 0;
    case 17:
        h->te |= ci_eq(name, "transfer-encoding", 17);
        return 0;
    default:
        return 0;
    }
}

static int parse_field(struct hstate *h, struct osec_slice line)
{
    const uint8_t *p = line.ptr;
    size_t n = line.len, i = 0, j;
    struct osec_http_header *hd;

    if (p[0] == ' ' || p[0] == '\t')
        HFAIL(h, OSEC_EPARSE, 400, "obsolete line folding");
    while (i < n && hc_is(p[i], HC_TOKEN))
        i++;
    if (i < n && (p[i] == ' ' || p[i] == '\t'))
        HFAIL(h, OSEC_EPARSE, 400, "whitespace before colon");
    if (i == 0 || i == n || p[i] != ':')
        HFAIL(h, OSEC_EPARSE, 400, "bad field name");
    for (j = i + 1; j < n; j++)
        if (!hc_is(p[j], HC_VALUE))
            HFAIL(h, OSEC_EPARSE, 400, "control character in field value");
    if (h->f->count >= h->lim->max_headers)
        HFAIL(h, OSEC_EBOUNDS, 431, "too many header fields");
    hd = &h->f->list[h->f->count++];
    hd->name = osec_slice_make(p, i);
    hd->value = osec_slice_trim(osec_slice_make(p + i + 1, n - i - 1));
    return field_special(h, hd->name, hd->value);
}

/* Field lines up to the empty line; leaves pos after the head. */
static int parse_fields(struct hstate *h)
{
    struct osec_slice line = { NULL, 0 };

    h->f->count = 0;
    for (;;) {
        OSEC_GUARD(next_line(h, &line));
        if (line.len == 0)
            return 0;
        OSEC_GUARD(parse_field(h, line));
    }
}

/* ---- requests ------------------------------------------------------------- */

static int split_target(struct hstate *h, struct osec_http_request *r)
{
    int form = 0;
    const char *why = osec_http_target_error(r->method, r->target, &form);
    long q;

    if (why)
        HFAIL(h, OSEC_EPARSE, 400, why);
    r->form = (enum osec_http_target_form)form;
    r->path = form == OSEC_HTTP_TARGET_AUTHORITY ? osec_slice_make(r->target.ptr, 0) : r->target;
    r->query = osec_slice_make(r->target.ptr + r->target.len, 0);
    q = form == OSEC_HTTP_TARGET_ORIGIN ? osec_slice_find(r->target, '?') : -1;
    if (q >= 0) {
        r->path = osec_slice_make(r->target.ptr, (size_t)q);
        r->query = osec_slice_sub(r->target, (size_t)q + 1, r->target.len);
    }
    return 0;
}

/* method SP request-target SP HTTP-version, single spaces. */
static int parse_request_line(struct hstate *h, struct osec_http_request *r)
{
    struct osec_slice line = { NULL, 0 }, rest;
    long sp1, sp2;

    /* RFC 9112 2.2: ignore one empty line before the request line */
    if (h->end >= 2 && h->d[0] == '\r' && h->d[1] == '\n')
        h->pos = 2;
    OSEC_GUARD(next_line(h, &line));
    if (line.len > h->lim->max_line)
        HFAIL(h, OSEC_EBOUNDS, 414, "request line too long");
    sp1 = osec_slice_find(line, ' ');
    if (sp1 <= 0)
        HFAIL(h, OSEC_EPARSE, 400, "bad request line");
    r->method = osec_slice_make(line.ptr, (size_t)sp1);
    if (!osec_http_is_token(r->method))
        HFAIL(h, OSEC_EPARSE, 400, "bad method");
    rest = osec_slice_sub(line, (size_t)sp1 + 1, line.len);
    sp2 = osec_slice_find(rest, ' ');
    if (sp2 < 0)
        HFAIL(h, OSEC_EPARSE, 400, "bad request line");
    r->target = osec_slice_make(rest.ptr, (size_t)sp2);
    OSEC_GUARD(parse_version(h, osec_slice_sub(rest, (size_t)sp2 + 1, rest.len),
                             &r->version_minor));
    return split_target(h, r);
}

static void request_reset(struct osec_http_request *r)
{
    struct osec_slice none = { NULL, 0 };

    r->method = r->target = r->path = r->query = r->body = none;
    r->form = OSEC_HTTP_TARGET_ORIGIN;
    r->version_minor = 1;
    r->headers.count = 0;
    r->header_len = 0;
    r->has_content_length = false;
    r->content_length = 0;
    r->keep_alive = false;
    r->expect_continue = false;
    r->error_status = 0;
    r->error_reason = NULL;
}

static int request_head(struct hstate *h, struct osec_http_request *r)
{
    OSEC_GUARD(parse_request_line(h, r));
    OSEC_GUARD(parse_fields(h));
    if (h->te)
        HFAIL(h, OSEC_EPOLICY, 501, "Transfer-Encoding not supported");
    if (r->version_minor == 1 && h->hosts == 0)
        HFAIL(h, OSEC_EPARSE, 400, "missing Host");
    /* the second test keeps header_len + content_length inside size_t */
    if (h->has_cl && (h->cl > h->lim->max_body || h->cl > SIZE_MAX - h->pos))
        HFAIL(h, OSEC_EBOUNDS, 413, "request body too large");
    r->header_len = h->pos;
    r->has_content_length = h->has_cl;
    r->content_length = h->has_cl ? h->cl : 0;
    r->keep_alive = r->version_minor == 1 ? !h->close : h->keep_alive && !h->close;
    r->expect_continue = h->expect;
    return 0;
}

/* ---- shared driver -------------------------------------------------------- */

static void limits_norm(const struct osec_http_limits *in, struct osec_http_limits *out)
{
    static const struct osec_http_limits def = OSEC_HTTP_LIMITS_DEFAULT;

    *out = in ? *in : def;
    if (out->max_headers > OSEC_HTTP_MAX_HEADERS)
        out->max_headers = OSEC_HTTP_MAX_HEADERS;
}

static void hstate_init(struct hstate *h, const uint8_t *d, const struct osec_http_limits *lim,
                        struct osec_http_fields *f, bool request)
{
    *h = (struct hstate){ .d = d, .lim = lim, .f = f, .request = request };
}

/* Stage 1 unless the scan state already knows the head's end. */
static int locate_head(struct hstate *h, size_t len, struct osec_http_scan *sc)
{
    if (sc->scanned > len || sc->head_end > len) /* state of another buffer */
        *sc = (struct osec_http_scan)OSEC_HTTP_SCAN_INIT;
    if (len == 0 || !h->d) {
        sc->need = 1;
        return OSEC_HTTP_INCOMPLETE;
    }
    h->end = sc->head_end;
    if (h->end == 0)
        return find_end(h, len, sc, &h->end);
    return 0;
}

/* After a valid head: the whole message, or INCOMPLETE until the body is in. */
static int frame_body(size_t len, size_t head_len, uint64_t cl, struct osec_http_scan *sc,
                      size_t *total)
{
    *total = head_len + (size_t)cl; /* the head parsers bounded cl */
    if (len < *total) {
        sc->head_end = head_len;
        sc->need = *total;
        return OSEC_HTTP_INCOMPLETE;
    }
    return 0;
}

int osec_http_request_parse(const uint8_t *data, size_t len, const struct osec_http_limits *lim,
                            struct osec_http_scan *scan, struct osec_http_request *req,
                            size_t *consumed)
{
    struct osec_http_scan local = OSEC_HTTP_SCAN_INIT;
    struct osec_http_limits l;
    struct hstate h;
    size_t total = 0;
    int rc;

    OSEC_ENSURE(req && consumed && (data || len == 0), OSEC_EINVAL, "http: bad arguments");
    *consumed = 0;
    request_reset(req);
    limits_norm(lim, &l);
    hstate_init(&h, data, &l, &req->headers, true);
    scan = scan ? scan : &local;
    OSEC_CHECK(rc, locate_head(&h, len, scan));
    if (rc == OSEC_HTTP_INCOMPLETE)
        return rc;
    OSEC_CHECK(rc, request_head(&h, req));
    rc = frame_body(len, req->header_len, req->content_length, scan, &total);
    if (rc != 0)
        goto out;
    req->body = osec_slice_make(data + req->header_len, (size_t)req->content_length);
    *consumed = total;
out:
    if (rc != OSEC_HTTP_INCOMPLETE)
        *scan = (struct osec_http_scan)OSEC_HTTP_SCAN_INIT;
    if (rc < 0) {
        req->error_status = h.status ? h.status : 400;
        req->error_reason = h.reason ? h.reason : "bad request";
    }
    return rc;
}

/* ---- responses ------------------------------------------------------------ */

/* HTTP-version SP 3DIGIT [SP reason-phrase] */
static int parse_status_line(struct hstate *h, struct osec_http_response *r)
{
    struct osec_slice line = { NULL, 0 };
    const uint8_t *p;

    OSEC_GUARD(next_line(h, &line));
    if (line.len > h->lim->max_line)
        HFAIL(h, OSEC_EBOUNDS, 414, "status line too long");
    if (line.len < 12 || line.ptr[8] != ' ')
        HFAIL(h, OSEC_EPARSE, 400, "bad status line");
    OSEC_GUARD(parse_version(h, osec_slice_make(line.ptr, 8), &r->version_minor));
    p = line.ptr + 9;
    if (p[0] < '1' || p[0] > '5' || p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9')
        HFAIL(h, OSEC_EPARSE, 400, "bad status code");
    r->status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
    if (line.len > 12 && line.ptr[12] != ' ')
        HFAIL(h, OSEC_EPARSE, 400, "bad status line");
    r->reason = osec_slice_sub(line, 13, line.len);
    for (size_t i = 0; i < r->reason.len; i++)
        if (!hc_is(r->reason.ptr[i], HC_VALUE))
            HFAIL(h, OSEC_EPARSE, 400, "control character in reason phrase");
    return 0;
}

static bool response_has_body(int status, const char *method)
{
    if (status < 200 || status == 204 || status == 304)
        return false;
    if (method && strcmp(method, "HEAD") == 0)
        return false;
    return !(method && strcmp(method, "CONNECT") == 0 && status < 300);
}

static void response_reset(struct osec_http_response *r)
{
    struct osec_slice none = { NULL, 0 };

    r->version_minor = 1;
    r->status = 0;
    r->reason = r->body = none;
    r->headers.count = 0;
    r->header_len = 0;
    r->has_content_length = false;
    r->content_length = 0;
    r->keep_alive = false;
    r->error_status = 0;
    r->error_reason = NULL;
}

static int response_head(struct hstate *h, const char *method, struct osec_http_response *r)
{
    bool body;

    OSEC_GUARD(parse_status_line(h, r));
    OSEC_GUARD(parse_fields(h));
    body = response_has_body(r->status, method);
    if (body && h->te)
        HFAIL(h, OSEC_EPOLICY, 501, "Transfer-Encoding not supported");
    if (body && !h->has_cl)
        HFAIL(h, OSEC_EPARSE, 400, "response without Content-Length");
    if (body && (h->cl > h->lim->max_body || h->cl > SIZE_MAX - h->pos))
        HFAIL(h, OSEC_EBOUNDS, 413, "response body too large");
    r->header_len = h->pos;
    r->has_content_length = h->has_cl;
    r->content_length = body ? h->cl : 0;
    r->keep_alive = r->version_minor == 1 ? !h->close : h->keep_alive && !h->close;
    return 0;
}

int osec_http_response_parse(const uint8_t *data, size_t len, const struct osec_http_limits *lim,
                             struct osec_http_scan *scan, const char *method,
                             struct osec_http_response *resp, size_t *consumed)
{
    struct osec_http_scan local = OSEC_HTTP_SCAN_INIT;
    struct osec_http_limits l;
    struct hstate h;
    size_t total = 0;
    int rc;

    OSEC_ENSURE(resp && consumed && (data || len == 0), OSEC_EINVAL, "http: bad arguments");
    *consumed = 0;
    response_reset(resp);
    limits_norm(lim, &l);
    hstate_init(&h, data, &l, &resp->headers, false);
    scan = scan ? scan : &local;
    OSEC_CHECK(rc, locate_head(&h, len, scan));
    if (rc == OSEC_HTTP_INCOMPLETE)
        return rc;
    OSEC_CHECK(rc, response_head(&h, method, resp));
    rc = frame_body(len, resp->header_len, resp->content_length, scan, &total);
    if (rc != 0)
        goto out;
    resp->body = osec_slice_make(data + resp->header_len, (size_t)resp->content_length);
    *consumed = total;
out:
    if (rc != OSEC_HTTP_INCOMPLETE)
        *scan = (struct osec_http_scan)OSEC_HTTP_SCAN_INIT;
    if (rc < 0) {
        resp->error_status = 502; /* what a relaying gateway answers */
        resp->error_reason = h.reason ? h.reason : "bad response";
    }
    return rc;
}

/* ---- field access --------------------------------------------------------- */

bool osec_http_header_get(const struct osec_http_fields *f, const char *name,
                          struct osec_slice *value)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < f->count; i++) {
        if (ci_eq(f->list[i].name, name, n)) {
            *value = f->list[i].value;
            return true;
        }
    }
    return false;
}

int osec_http_header_get_single(const struct osec_http_fields *f, const char *name,
                                struct osec_slice *value)
{
    size_t n = strlen(name), hits = 0;

    for (size_t i = 0; i < f->count; i++) {
        if (ci_eq(f->list[i].name, name, n)) {
            if (hits++ == 0)
                *value = f->list[i].value;
        }
    }
    OSEC_ENSURE(hits > 0, OSEC_ENOTFOUND, "http: no %s field", name);
    OSEC_ENSURE(hits == 1, OSEC_EPARSE, "http: repeated %s field", name);
    return 0;
}

bool osec_http_header_has_token(const struct osec_http_fields *f, const char *name,
                                const char *token)
{
    size_t n = strlen(name), tn = strlen(token);

    for (size_t i = 0; i < f->count; i++)
        if (ci_eq(f->list[i].name, name, n) && list_has(f->list[i].value, token, tn))
            return true;
    return false;
}
