/* Internals shared by lib/proto/http_*.c: character classes and the
 * validators that the parser and the writer must agree on. */
#ifndef OMASEC_HTTP_INT_H
#define OMASEC_HTTP_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "omasec/buf.h"

/* Character classes (RFC 9110 / RFC 3986), one table lookup per byte. */
#define HC_TOKEN 0x01u  /* tchar */
#define HC_TARGET 0x02u /* pchar, '/', '?' (and '%', checked as %XX) */
#define HC_VALUE 0x04u  /* field-vchar, SP, HTAB */
#define HC_HOST 0x08u   /* reg-name: unreserved, sub-delims, '%' */
#define HC_HEX 0x10u
#define HC_PCHAR 0x20u  /* unreserved, sub-delims, ':', '@', '%' */
#define HC_UNRES 0x40u  /* unreserved */

extern const uint8_t osec_http_cc[256];

static inline bool hc_is(uint8_t c, unsigned cls)
{
    return (osec_http_cc[c] & cls) != 0;
}

static inline int hc_hexval(uint8_t c)
{
    if (c <= '9')
        return c - '0';
    return (c | 0x20) - 'a' + 10;
}

bool osec_http_is_token(struct osec_slice s);
/* Field value as a sender must write it (no CTL, no edge whitespace). */
bool osec_http_is_clean_value(struct osec_slice s);
/* Request-target for method: NULL and its form, or a static reason. */
const char *osec_http_target_error(struct osec_slice method, struct osec_slice target, int *form);
/* uri-host [":" port]; port required when need_port. */
bool osec_http_is_authority(struct osec_slice s, bool need_port);

#endif
