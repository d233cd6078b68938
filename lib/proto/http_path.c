/* Route matching and strict percent-decoding of path segments.
 *
 * Captured segments name things (entity IDs, key IDs) that are looked up in
 * the store, so decoding is strict: an encoded '/', NUL or dot-segment in a
 * capture is an attack on whoever interprets the name next, never a name.
 */
#include <string.h>

#include "omasec/error.h"
#include "omasec/http.h"
#include "proto/http_int.h"

/* Decode raw (dst may be NULL: validate only).  *dots tells whether the
 * result is "." or "..". */
static int pct_walk(struct osec_slice raw, unsigned flags, char *dst, size_t dstlen,
                    size_t *outlen, bool *dots)
{
    size_t o = 0, ndot = 0;

    for (size_t i = 0; i < raw.len; i++) {
        uint8_t c = raw.ptr[i];

        if (c == '%') {
            OSEC_ENSURE(raw.len - i >= 3 && hc_is(raw.ptr[i + 1], HC_HEX) &&
                            hc_is(raw.ptr[i + 2], HC_HEX),
                        OSEC_EPARSE, "http: bad percent-encoding");
            c = (uint8_t)(hc_hexval(raw.ptr[i + 1]) << 4 | hc_hexval(raw.ptr[i + 2]));
            i += 2;
        }
        OSEC_ENSURE(c != 0, OSEC_EPARSE, "http: NUL in path");
        OSEC_ENSURE(c != '/' || !(flags & OSEC_HTTP_PCT_SEGMENT), OSEC_EPARSE,
                    "http: '/' inside a path segment");
        if (dst) {
            OSEC_ENSURE(o + 1 < dstlen, OSEC_EBOUNDS, "http: decoded segment too long");
            dst[o] = (char)c;
        }
        ndot += c == '.';
        o++;
    }
    if (dst)
        dst[o] = '\0';
    if (outlen)
        *outlen = o;
    if (dots)
        *dots = (o == 1 || o == 2) && ndot == o;
    return 0;
}

int osec_http_pct_decode(struct osec_slice raw, unsigned flags, char *dst, size_t dstlen,
                         size_t *outlen)
{
    OSEC_ENSURE(dst && dstlen > 0, OSEC_EINVAL, "http: no room to decode into");
    dst[0] = '\0';
    return pct_walk(raw, flags, dst, dstlen, outlen, NULL);
}

int osec_http_pct_encode_segment(struct osec_buf *out, struct osec_slice raw)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t start = out->len;
    int rc = 0;

    for (size_t i = 0; i < raw.len && rc == 0; i++) {
        uint8_t c = raw.ptr[i];
        char esc[3] = { '%', hex[c >> 4], hex[c & 15] };

        rc = hc_is(c, HC_UNRES) ? osec_buf_append(out, &c, 1) : osec_buf_append(out, esc, 3);
    }
    if (rc < 0) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return rc;
}

/* A captured segment: pchar bytes, decodable as one segment, not a dot-segment. */
static int check_capture(struct osec_slice seg)
{
    bool dots = false;

    for (size_t i = 0; i < seg.len; i++)
        OSEC_ENSURE(hc_is(seg.ptr[i], HC_PCHAR), OSEC_EPARSE, "http: bad byte in path segment");
    OSEC_GUARD(pct_walk(seg, OSEC_HTTP_PCT_SEGMENT, NULL, 0, NULL, &dots));
    OSEC_ENSURE(!dots, OSEC_EPARSE, "http: dot-segment in path");
    return 0;
}

static size_t seg_end(const uint8_t *p, size_t from, size_t len)
{
    const uint8_t *s = from < len ? memchr(p + from, '/', len - from) : NULL;

    return s ? (size_t)(s - p) : len;
}

static size_t count_stars(const char *pat, size_t plen)
{
    size_t n = 0;

    for (size_t i = 1; i <= plen; i = seg_end((const uint8_t *)pat, i, plen) + 1)
        n += seg_end((const uint8_t *)pat, i, plen) == i + 1 && pat[i] == '*';
    return n;
}

int osec_http_path_match(struct osec_slice path, const char *pattern, struct osec_slice *caps,
                         size_t ncap)
{
    const uint8_t *pat = (const uint8_t *)pattern;
    size_t plen, pi = 1, si = 1, nc = 0;

    OSEC_ENSURE(pattern && pattern[0] == '/', OSEC_EINVAL, "http: pattern must start with '/'");
    plen = strlen(pattern);
    OSEC_ENSURE(count_stars(pattern, plen) <= ncap, OSEC_EINVAL, "http: too few captures");
    if (path.len == 0 || path.ptr[0] != '/')
        return OSEC_ENOTFOUND;
    for (;;) {
        size_t pe = seg_end(pat, pi, plen), se = seg_end(path.ptr, si, path.len);
        struct osec_slice ps = osec_slice_make(pat + pi, pe - pi);
        struct osec_slice ss = osec_slice_make(path.ptr + si, se - si);

        if (osec_slice_eq_cstr(ps, "*")) {
            if (ss.len == 0)
                return OSEC_ENOTFOUND;
            caps[nc++] = ss;
        } else if (!osec_slice_eq(ps, ss)) {
            return OSEC_ENOTFOUND;
        }
        if ((pe == plen) != (se == path.len))
            return OSEC_ENOTFOUND;
        if (pe == plen)
            break;
        pi = pe + 1;
        si = se + 1;
    }
    /* validated only once the shape matches, so a miss stays a miss */
    for (size_t i = 0; i < nc; i++)
        OSEC_GUARD(check_capture(caps[i]));
    return 0;
}
