#include "omasec/buf.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omasec/error.h"

/* ---- slices ---------------------------------------------------------- */

struct osec_slice osec_slice_make(const void *ptr, size_t len)
{
    struct osec_slice s = { ptr, ptr ? len : 0 };
    return s;
}

struct osec_slice osec_slice_cstr(const char *s)
{
    return osec_slice_make(s, s ? strlen(s) : 0);
}

bool osec_slice_eq(struct osec_slice a, struct osec_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool osec_slice_eq_cstr(struct osec_slice a, const char *s)
{
    return osec_slice_eq(a, osec_slice_cstr(s));
}

static uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

bool osec_slice_starts_ci(struct osec_slice a, const char *prefix)
{
    size_t n = strlen(prefix);

    if (a.len < n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower(a.ptr[i]) != lower((uint8_t)prefix[i]))
            return false;
    return true;
}

bool osec_slice_eq_ci(struct osec_slice a, const char *s)
{
    return a.len == strlen(s) && osec_slice_starts_ci(a, s);
}

struct osec_slice osec_slice_trim(struct osec_slice s)
{
    while (s.len > 0 && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

struct osec_slice osec_slice_sub(struct osec_slice s, size_t off, size_t len)
{
    if (off > s.len)
        off = s.len;
    if (len > s.len - off)
        len = s.len - off;
    return osec_slice_make(s.ptr + off, len);
}

long osec_slice_find(struct osec_slice s, uint8_t c)
{
    const uint8_t *p = s.len ? memchr(s.ptr, c, s.len) : NULL;

    return p ? (long)(p - s.ptr) : -1;
}

int osec_slice_to_u64(struct osec_slice s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    OSEC_ENSURE(s.len > 0 && s.len <= 20, OSEC_EPARSE, "bad number length");
    for (size_t i = 0; i < s.len; i++) {
        uint8_t c = s.ptr[i];

        OSEC_ENSURE(c >= '0' && c <= '9', OSEC_EPARSE, "not a decimal number");
        OSEC_ENSURE(v <= (UINT64_MAX - (uint64_t)(c - '0')) / 10, OSEC_EPARSE,
                    "number overflows");
        v = v * 10 + (uint64_t)(c - '0');
    }
    OSEC_ENSURE(v <= max, OSEC_EPARSE, "number out of range");
    *out = v;
    return 0;
}

int osec_slice_to_cstr(struct osec_slice s, char *dst, size_t dstlen)
{
    OSEC_ENSURE(dstlen > 0 && s.len < dstlen, OSEC_EBOUNDS, "string too long");
    OSEC_ENSURE(s.len == 0 || memchr(s.ptr, 0, s.len) == NULL, OSEC_EPARSE,
                "string contains NUL");
    if (s.len)
        memcpy(dst, s.ptr, s.len);
    dst[s.len] = '\0';
    return 0;
}

/* ---- cursors --------------------------------------------------------- */

void osec_cursor_init(struct osec_cursor *c, const void *ptr, size_t len)
{
    c->ptr = ptr;
    c->len = ptr ? len : 0;
    c->pos = 0;
}

size_t osec_cursor_remaining(const struct osec_cursor *c)
{
    return c->len - c->pos;
}

bool osec_cursor_eof(const struct osec_cursor *c)
{
    return c->pos >= c->len;
}

int osec_cursor_peek(const struct osec_cursor *c)
{
    return c->pos < c->len ? c->ptr[c->pos] : -1;
}

int osec_cursor_read_bytes(struct osec_cursor *c, size_t n, struct osec_slice *out)
{
    OSEC_ENSURE(n <= osec_cursor_remaining(c), OSEC_EBOUNDS, "input truncated");
    *out = osec_slice_make(c->ptr + c->pos, n);
    c->pos += n;
    return 0;
}

int osec_cursor_copy(struct osec_cursor *c, void *dst, size_t n)
{
    struct osec_slice s;

    OSEC_GUARD(osec_cursor_read_bytes(c, n, &s));
    if (n)
        memcpy(dst, s.ptr, n);
    return 0;
}

int osec_cursor_skip(struct osec_cursor *c, size_t n)
{
    struct osec_slice s;

    return osec_cursor_read_bytes(c, n, &s);
}

static int read_be(struct osec_cursor *c, size_t n, uint64_t *out)
{
    struct osec_slice s;
    uint64_t v = 0;

    OSEC_GUARD(osec_cursor_read_bytes(c, n, &s));
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | s.ptr[i];
    *out = v;
    return 0;
}

int osec_cursor_read_u8(struct osec_cursor *c, uint8_t *out)
{
    uint64_t v;

    OSEC_GUARD(read_be(c, 1, &v));
    *out = (uint8_t)v;
    return 0;
}

int osec_cursor_read_u16be(struct osec_cursor *c, uint16_t *out)
{
    uint64_t v;

    OSEC_GUARD(read_be(c, 2, &v));
    *out = (uint16_t)v;
    return 0;
}

int osec_cursor_read_u32be(struct osec_cursor *c, uint32_t *out)
{
    uint64_t v;

    OSEC_GUARD(read_be(c, 4, &v));
    *out = (uint32_t)v;
    return 0;
}

int osec_cursor_read_u64be(struct osec_cursor *c, uint64_t *out)
{
    return read_be(c, 8, out);
}

bool osec_cursor_eat(struct osec_cursor *c, uint8_t ch)
{
    if (c->pos < c->len && c->ptr[c->pos] == ch) {
        c->pos++;
        return true;
    }
    return false;
}

int osec_cursor_until(struct osec_cursor *c, uint8_t ch, struct osec_slice *out)
{
    struct osec_slice rest = osec_slice_make(c->ptr + c->pos, osec_cursor_remaining(c));
    long i = osec_slice_find(rest, ch);

    OSEC_ENSURE(i >= 0, OSEC_EPARSE, "expected '%c'", ch);
    return osec_cursor_read_bytes(c, (size_t)i, out);
}

struct osec_slice osec_cursor_span(struct osec_cursor *c, bool (*accept)(uint8_t))
{
    size_t start = c->pos;

    while (c->pos < c->len && accept(c->ptr[c->pos]))
        c->pos++;
    return osec_slice_make(c->ptr + start, c->pos - start);
}

void osec_cursor_skip_ws(struct osec_cursor *c)
{
    while (c->pos < c->len && (c->ptr[c->pos] == ' ' || c->ptr[c->pos] == '\t'))
        c->pos++;
}

bool osec_cursor_next_item(struct osec_cursor *c, uint8_t sep, struct osec_slice *item)
{
    if (osec_cursor_eof(c))
        return false;
    if (osec_cursor_until(c, sep, item) < 0)
        (void)osec_cursor_read_bytes(c, osec_cursor_remaining(c), item);
    else
        (void)osec_cursor_eat(c, sep);
    *item = osec_slice_trim(*item);
    return true;
}

/* ---- growable buffers ------------------------------------------------ */

void osec_buf_init(struct osec_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
    b->secret = false;
}

void osec_buf_init_secret(struct osec_buf *b, size_t max)
{
    osec_buf_init(b, max);
    b->secret = true;
}

int osec_buf_reserve(struct osec_buf *b, size_t extra)
{
    size_t need, ncap;
    uint8_t *n;

    OSEC_ENSURE(extra <= b->max && b->len <= b->max - extra, OSEC_EBOUNDS,
                "buffer limit of %zu bytes exceeded", b->max);
    need = b->len + extra + 1; /* room for the trailing NUL */
    if (need <= b->cap)
        return 0;
    ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    if (ncap > b->max + 1)
        ncap = b->max + 1;
    if (b->secret) {
        /* never leave a copy of a secret behind in freed memory */
        n = malloc(ncap);
        OSEC_ENSURE(n != NULL, OSEC_ENOMEM, "out of memory");
        if (b->data) {
            memcpy(n, b->data, b->len + 1);
            OPENSSL_cleanse(b->data, b->cap);
            free(b->data);
        }
    } else {
        n = realloc(b->data, ncap);
        OSEC_ENSURE(n != NULL, OSEC_ENOMEM, "out of memory");
    }
    if (!b->data)
        n[0] = '\0';
    b->data = n;
    b->cap = ncap;
    return 0;
}

int osec_buf_append(struct osec_buf *b, const void *p, size_t n)
{
    OSEC_GUARD(osec_buf_reserve(b, n));
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int osec_buf_append_slice(struct osec_buf *b, struct osec_slice s)
{
    return osec_buf_append(b, s.ptr, s.len);
}

int osec_buf_append_str(struct osec_buf *b, const char *s)
{
    return osec_buf_append(b, s, strlen(s));
}

int osec_buf_putc(struct osec_buf *b, char ch)
{
    return osec_buf_append(b, &ch, 1);
}

int osec_buf_append_u8(struct osec_buf *b, uint8_t v)
{
    return osec_buf_append(b, &v, 1);
}

int osec_buf_append_u16be(struct osec_buf *b, uint16_t v)
{
    uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v };
    return osec_buf_append(b, x, sizeof(x));
}

int osec_buf_append_u32be(struct osec_buf *b, uint32_t v)
{
    uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
    return osec_buf_append(b, x, sizeof(x));
}

int osec_buf_append_u64be(struct osec_buf *b, uint64_t v)
{
    OSEC_GUARD(osec_buf_append_u32be(b, (uint32_t)(v >> 32)));
    return osec_buf_append_u32be(b, (uint32_t)v);
}

int osec_buf_vappendf(struct osec_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    OSEC_ENSURE(n >= 0, OSEC_EINVAL, "bad format");
    OSEC_GUARD(osec_buf_reserve(b, (size_t)n));
    n = vsnprintf((char *)b->data + b->len, b->cap - b->len, fmt, ap);
    OSEC_ENSURE(n >= 0, OSEC_EINVAL, "bad format");
    b->len += (size_t)n;
    return 0;
}

int osec_buf_appendf(struct osec_buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = osec_buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int osec_buf_append_hex(struct osec_buf *b, const void *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *in = p;

    OSEC_ENSURE(n <= SIZE_MAX / 2, OSEC_EBOUNDS, "too long");
    OSEC_GUARD(osec_buf_reserve(b, 2 * n));
    for (size_t i = 0; i < n; i++) {
        b->data[b->len++] = (uint8_t)hex[in[i] >> 4];
        b->data[b->len++] = (uint8_t)hex[in[i] & 15];
    }
    b->data[b->len] = '\0';
    return 0;
}

const char *osec_buf_cstr(struct osec_buf *b)
{
    return b->data ? (const char *)b->data : "";
}

struct osec_slice osec_buf_slice(const struct osec_buf *b)
{
    return osec_slice_make(b->data, b->len);
}

void osec_buf_reset(struct osec_buf *b)
{
    if (b->data) {
        if (b->secret)
            OPENSSL_cleanse(b->data, b->cap);
        b->data[0] = '\0';
    }
    b->len = 0;
}

void osec_buf_free(struct osec_buf *b)
{
    if (b->data) {
        if (b->secret)
            OPENSSL_cleanse(b->data, b->cap);
        free(b->data);
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

uint8_t *osec_buf_steal(struct osec_buf *b, size_t *len)
{
    uint8_t *p = b->data;

    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

/* ---- C string helpers ------------------------------------------------ */

int osec_strlcpy(char *dst, const char *src, size_t dstlen)
{
    size_t n = strlen(src);

    OSEC_ENSURE(dstlen > 0 && n < dstlen, OSEC_EBOUNDS, "string too long");
    memcpy(dst, src, n + 1);
    return 0;
}

int osec_snprintf(char *dst, size_t dstlen, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(dst, dstlen, fmt, ap);
    va_end(ap);
    OSEC_ENSURE(n >= 0, OSEC_EINVAL, "bad format");
    OSEC_ENSURE((size_t)n < dstlen, OSEC_EBOUNDS, "string too long");
    return 0;
}

int osec_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    struct osec_slice sl = osec_slice_cstr(s);
    bool neg = sl.len > 0 && sl.ptr[0] == '-';
    uint64_t mag;
    int64_t v;

    if (neg)
        sl = osec_slice_sub(sl, 1, sl.len - 1);
    OSEC_GUARD(osec_slice_to_u64(sl, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &mag));
    v = neg ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
    OSEC_ENSURE(v >= min && v <= max, OSEC_EPARSE, "value out of range [%lld, %lld]",
                (long long)min, (long long)max);
    *out = v;
    return 0;
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int osec_hex_decode(struct osec_slice hex, uint8_t *out, size_t n)
{
    OSEC_ENSURE(n <= SIZE_MAX / 2 && hex.len == 2 * n, OSEC_EPARSE, "bad hex length");
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(hex.ptr[2 * i]), lo = hexval(hex.ptr[2 * i + 1]);

        OSEC_ENSURE(hi >= 0 && lo >= 0, OSEC_EPARSE, "bad hex digit");
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
