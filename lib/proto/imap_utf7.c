/* Mailbox names: modified UTF-7 (RFC 3501 5.1.3) <-> UTF-8, strictly.
 *
 * Only one spelling of each name is accepted, so two different byte
 * strings can never name the same mailbox (an ACL check on one and an
 * access by the other): printable ASCII must represent itself, base64
 * runs must be minimal (no spare bits, zero padding, no two runs in a
 * row), and code points
 * below U+00A0 (ASCII and the C0/C1 controls) may not be encoded.
 */
#include <string.h>

#include "omasec/error.h"
#include "proto/imap_int.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64_val(uint8_t c)
{
    const char *p = c ? strchr(b64, c) : NULL;

    return p ? (int)(p - b64) : -1;
}

static int put_utf8(struct osec_buf *out, uint32_t cp)
{
    uint8_t u[4];
    size_t n;

    if (cp < 0x800) {
        u[0] = (uint8_t)(0xc0 | cp >> 6);
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (uint8_t)(0xe0 | cp >> 12);
        u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        n = 3;
    } else {
        u[0] = (uint8_t)(0xf0 | cp >> 18);
        u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        n = 4;
    }
    if (n == 2)
        u[1] = (uint8_t)(0x80 | (cp & 0x3f));
    else
        u[n - 1] = (uint8_t)(0x80 | (cp & 0x3f));
    return osec_buf_append(out, u, n);
}

/* One UTF-16 unit of a run; *hi holds a pending high surrogate. */
static int utf16_unit(struct osec_buf *out, uint32_t u, uint32_t *hi)
{
    if (*hi) {
        if (u < 0xdc00 || u > 0xdfff)
            IMAP_BAD("unpaired surrogate in mailbox name");
        u = 0x10000 + ((*hi - 0xd800) << 10) + (u - 0xdc00);
        *hi = 0;
        return put_utf8(out, u);
    }
    if (u >= 0xd800 && u <= 0xdbff) {
        *hi = u;
        return 0;
    }
    if (u >= 0xdc00 && u <= 0xdfff)
        IMAP_BAD("unpaired surrogate in mailbox name");
    if (u < 0xa0)
        IMAP_BAD("needlessly encoded character in mailbox name");
    return put_utf8(out, u);
}

/* The base64 run after "&" up to its "-"; *i ends after the "-". */
static int decode_run(struct osec_slice raw, size_t *i, struct osec_buf *out)
{
    uint32_t acc = 0, hi = 0;
    unsigned bits = 0;
    size_t j = *i;

    for (; j < raw.len && raw.ptr[j] != '-'; j++) {
        int v = b64_val(raw.ptr[j]);

        if (v < 0)
            IMAP_BAD("invalid modified base64 in mailbox name");
        acc = (acc << 6 | (uint32_t)v) & 0x3fffffu;
        bits += 6;
        if (bits >= 16) {
            bits -= 16;
            OSEC_GUARD(utf16_unit(out, (acc >> bits) & 0xffffu, &hi));
        }
    }
    if (j >= raw.len || j == *i)
        IMAP_BAD("unterminated modified base64 in mailbox name");
    if (hi || bits >= 6 || (acc & ((1u << bits) - 1)) != 0)
        IMAP_BAD("invalid modified base64 padding in mailbox name");
    *i = j + 1;
    return 0;
}

static int decode(struct osec_slice raw, struct osec_buf *out)
{
    size_t run_end = SIZE_MAX; /* where the last base64 run ended */

    for (size_t i = 0; i < raw.len;) {
        uint8_t c = raw.ptr[i++];

        if (c < 0x20 || c > 0x7e)
            IMAP_BAD("invalid byte in mailbox name");
        if (c != '&') {
            OSEC_GUARD(osec_buf_append_u8(out, c));
        } else if (i < raw.len && raw.ptr[i] == '-') {
            OSEC_GUARD(osec_buf_append_u8(out, '&'));
            i++;
        } else {
            /* "&A-&B-" spells what "&AB-" spells: only the merged run */
            if (run_end == i - 1)
                IMAP_BAD("split modified base64 run in mailbox name");
            OSEC_GUARD(decode_run(raw, &i, out));
            run_end = i;
        }
    }
    return 0;
}

int osec_imap_mailbox_decode(struct osec_slice raw, struct osec_buf *out)
{
    size_t start = out->len;
    int rc;

    if (raw.len == 0)
        IMAP_BAD("empty mailbox name");
    if (osec_imap_ci(raw, "INBOX"))
        return osec_buf_append_str(out, "INBOX");
    rc = decode(raw, out);
    if (rc == 0 && out->len - start > OSEC_IMAP_MAILBOX_MAX)
        rc = osec_error_set(OSEC_EBOUNDS, __FILE__, __LINE__, "imap: mailbox name too long");
    if (rc != 0) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return rc;
}

/* ---- encoding ----------------------------------------------------------------- */

static uint32_t next_cp(struct osec_slice s, size_t *i)
{
    const uint8_t *p = s.ptr + *i;
    uint32_t cp;
    size_t k = p[0] < 0x80 ? 1 : p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;

    cp = k == 1 ? p[0] : k == 2 ? p[0] & 0x1fu : k == 3 ? p[0] & 0x0fu : p[0] & 0x07u;
    for (size_t j = 1; j < k; j++)
        cp = cp << 6 | (p[j] & 0x3fu);
    *i += k;
    return cp;
}

struct b64w {
    struct osec_buf *out;
    uint32_t acc;
    unsigned bits;
};

static int b64_bits(struct b64w *w, uint32_t v, unsigned n)
{
    w->acc = (w->acc << n | v) & 0xffffffu;
    w->bits += n;
    while (w->bits >= 6) {
        w->bits -= 6;
        OSEC_GUARD(osec_buf_putc(w->out, b64[(w->acc >> w->bits) & 0x3f]));
    }
    return 0;
}

/* Code points from s[*i] that need base64, as one "&...-" run. */
static int encode_run(struct osec_slice s, size_t *i, struct osec_buf *out)
{
    struct b64w w = { out, 0, 0 };

    OSEC_GUARD(osec_buf_putc(out, '&'));
    while (*i < s.len && (s.ptr[*i] < 0x20 || s.ptr[*i] > 0x7e)) {
        uint32_t cp = next_cp(s, i);

        if (cp < 0xa0)
            OSEC_BAIL(OSEC_EINVAL, "imap: control character in mailbox name");
        if (cp >= 0x10000) {
            cp -= 0x10000;
            OSEC_GUARD(b64_bits(&w, 0xd800 | cp >> 10, 16));
            cp = 0xdc00 | (cp & 0x3ff);
        }
        OSEC_GUARD(b64_bits(&w, cp, 16));
    }
    if (w.bits > 0)
        OSEC_GUARD(b64_bits(&w, 0, 6 - w.bits));
    return osec_buf_putc(out, '-');
}

static int encode(struct osec_slice s, struct osec_buf *out)
{
    for (size_t i = 0; i < s.len;) {
        uint8_t c = s.ptr[i];

        if (c >= 0x20 && c <= 0x7e) {
            OSEC_GUARD(osec_buf_append(out, c == '&' ? "&-" : (const char *)&s.ptr[i],
                                       c == '&' ? 2 : 1));
            i++;
        } else {
            OSEC_GUARD(encode_run(s, &i, out));
        }
    }
    return 0;
}

int osec_imap_mailbox_encode(struct osec_slice utf8, struct osec_buf *out)
{
    size_t start = out->len;
    int rc;

    OSEC_ENSURE(utf8.len > 0 && utf8.len <= OSEC_IMAP_MAILBOX_MAX && osec_imap_utf8_ok(utf8),
                OSEC_EINVAL, "imap: invalid mailbox name");
    rc = encode(utf8, out);
    if (rc != 0) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return rc;
}
