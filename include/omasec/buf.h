/* Bounded byte views, read cursors and growable write buffers.
 *
 * All parsing of network and file input goes through struct osec_slice and
 * struct osec_cursor (zero-copy, never reads past len); all output is built
 * in a struct osec_buf, which refuses to grow past its maximum.
 */
#ifndef OMASEC_BUF_H
#define OMASEC_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A read-only view into someone else's bytes. */
struct osec_slice {
    const uint8_t *ptr;
    size_t len;
};

struct osec_slice osec_slice_make(const void *ptr, size_t len);
struct osec_slice osec_slice_cstr(const char *s);   /* NULL -> empty */
bool osec_slice_eq(struct osec_slice a, struct osec_slice b);
bool osec_slice_eq_cstr(struct osec_slice a, const char *s);
bool osec_slice_eq_ci(struct osec_slice a, const char *s);     /* ASCII case-insensitive */
bool osec_slice_starts_ci(struct osec_slice a, const char *prefix);
struct osec_slice osec_slice_trim(struct osec_slice s);        /* strip SP / HTAB */
struct osec_slice osec_slice_sub(struct osec_slice s, size_t off, size_t len); /* clamped */
/* Index of first byte c, or -1. */
long osec_slice_find(struct osec_slice s, uint8_t c);
/* Strict unsigned decimal: digits only, no sign/space, value <= max. */
int osec_slice_to_u64(struct osec_slice s, uint64_t max, uint64_t *out);
/* Copy into a NUL-terminated C string; EBOUNDS if it does not fit, EPARSE if it holds NUL. */
int osec_slice_to_cstr(struct osec_slice s, char *dst, size_t dstlen);

/* Read cursor over a slice. */
struct osec_cursor {
    const uint8_t *ptr;
    size_t len;
    size_t pos;
};

void osec_cursor_init(struct osec_cursor *c, const void *ptr, size_t len);
size_t osec_cursor_remaining(const struct osec_cursor *c);
bool osec_cursor_eof(const struct osec_cursor *c);
int osec_cursor_peek(const struct osec_cursor *c);             /* byte or -1 at end */
int osec_cursor_read_u8(struct osec_cursor *c, uint8_t *out);
int osec_cursor_read_u16be(struct osec_cursor *c, uint16_t *out);
int osec_cursor_read_u32be(struct osec_cursor *c, uint32_t *out);
int osec_cursor_read_u64be(struct osec_cursor *c, uint64_t *out);
int osec_cursor_read_bytes(struct osec_cursor *c, size_t n, struct osec_slice *out);
int osec_cursor_copy(struct osec_cursor *c, void *dst, size_t n);
int osec_cursor_skip(struct osec_cursor *c, size_t n);
/* Consume byte ch if it is next; returns true if consumed. */
bool osec_cursor_eat(struct osec_cursor *c, uint8_t ch);
/* Slice up to (not including) ch; the cursor is left on ch. EPARSE if absent. */
int osec_cursor_until(struct osec_cursor *c, uint8_t ch, struct osec_slice *out);
/* Slice of the longest run of bytes for which accept(byte) is true. */
struct osec_slice osec_cursor_span(struct osec_cursor *c, bool (*accept)(uint8_t));
void osec_cursor_skip_ws(struct osec_cursor *c);               /* SP / HTAB */
/* Next item of a sep-separated list (trimmed of SP/HTAB): true and *item,
 * or false at the end.  "a, b,,c" gives "a", "b", "", "c". */
bool osec_cursor_next_item(struct osec_cursor *c, uint8_t sep, struct osec_slice *item);

/* Growable output buffer with a hard maximum.  Always NUL-terminated after
 * data[len] (the NUL is not counted), so text can be used as a C string.
 * A buffer marked secret is cleansed whenever it is reallocated or freed. */
struct osec_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max;
    bool secret;
};

#define OSEC_BUF_INIT(maxlen) { NULL, 0, 0, (maxlen), false }

void osec_buf_init(struct osec_buf *b, size_t max);
void osec_buf_init_secret(struct osec_buf *b, size_t max);
int osec_buf_reserve(struct osec_buf *b, size_t extra);
int osec_buf_append(struct osec_buf *b, const void *p, size_t n);
int osec_buf_append_slice(struct osec_buf *b, struct osec_slice s);
int osec_buf_append_str(struct osec_buf *b, const char *s);
int osec_buf_putc(struct osec_buf *b, char ch);
int osec_buf_append_u8(struct osec_buf *b, uint8_t v);
int osec_buf_append_u16be(struct osec_buf *b, uint16_t v);
int osec_buf_append_u32be(struct osec_buf *b, uint32_t v);
int osec_buf_append_u64be(struct osec_buf *b, uint64_t v);
int osec_buf_appendf(struct osec_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int osec_buf_vappendf(struct osec_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Lower-case hex of n bytes. */
int osec_buf_append_hex(struct osec_buf *b, const void *p, size_t n);
const char *osec_buf_cstr(struct osec_buf *b);   /* "" when empty */
struct osec_slice osec_buf_slice(const struct osec_buf *b);
void osec_buf_reset(struct osec_buf *b);          /* len = 0 (cleanses if secret) */
void osec_buf_free(struct osec_buf *b);           /* cleanses if secret */
/* Hand the bytes to the caller (who must free them); the buffer is emptied. */
uint8_t *osec_buf_steal(struct osec_buf *b, size_t *len);

/* Length-checked C string helpers (the banned-function replacements). */
int osec_strlcpy(char *dst, const char *src, size_t dstlen);   /* EBOUNDS on truncation */
int osec_snprintf(char *dst, size_t dstlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));                     /* EBOUNDS on truncation */
/* Strict decimal parse of a whole C string into [min,max]. */
int osec_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Hex decode exactly 2*n chars into n bytes. */
int osec_hex_decode(struct osec_slice hex, uint8_t *out, size_t n);

#endif
