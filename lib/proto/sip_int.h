/* Internal helpers shared by the SIP parser and writer (lib/proto/sip_*.c). */
#ifndef OMASEC_PROTO_SIP_INT_H
#define OMASEC_PROTO_SIP_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "omasec/buf.h"
#include "omasec/sip.h"

/* Character classes (RFC 3261 25.1). */
bool osec_sip_is_token(uint8_t c);
bool osec_sip_is_ws(uint8_t c);
bool osec_sip_is_alnum(uint8_t c);
bool osec_sip_is_digit(uint8_t c);
bool osec_sip_is_hex(uint8_t c);
/* Control characters other than HTAB (never allowed in our headers). */
bool osec_sip_is_ctl(uint8_t c);
bool osec_sip_all_token(struct osec_slice s);
uint8_t osec_sip_lower(uint8_t c);

/* Header table: kind and canonical name of a (full or compact) name. */
enum osec_sip_hdr osec_sip_hdr_lookup(struct osec_slice name, const char **canon);
/* Canonical name to compare header lines against ("Subject" for "s"). */
const char *osec_sip_hdr_target(const char *name);
/* Does header h carry the canonical name target? (case-insensitive) */
bool osec_sip_hdr_is(const struct osec_sip_header *h, const char *target);

/* Consume a quoted-string whose opening '"' is at the cursor; the cursor ends
 * after the closing quote.  EPARSE when unterminated. */
int osec_sip_skip_quoted(struct osec_cursor *c);

/* Next element of a comma-separated list (commas inside quoted strings and
 * <...> do not split).  Returns 1 with *item (trimmed) set, 0 at the end,
 * EPARSE for an empty element or an unbalanced quote / angle bracket. */
int osec_sip_list_next(struct osec_cursor *c, struct osec_slice *item);

/* Next header parameter of ";name[=value]" list.  Returns 1 with the
 * parameter's name, value (empty when absent; quoted-strings keep quotes)
 * and whole text (from its ';' to the end of its value), 0 at the end,
 * EPARSE when malformed. */
struct osec_sip_param {
    struct osec_slice whole;
    struct osec_slice name;
    struct osec_slice value;
    bool has_value;
};
int osec_sip_param_next(struct osec_cursor *c, struct osec_sip_param *p);

/* Strict decimal, clamped to UINT32_MAX (RFC 3261 delta-seconds). */
int osec_sip_delta_seconds(struct osec_slice s, uint32_t *out);
/* Host (hostname, IPv4 or [IPv6]) syntax check. */
bool osec_sip_host_ok(struct osec_slice host);
/* Split "host[:port]" (IPv6 in brackets); EPARSE when malformed. */
int osec_sip_hostport(struct osec_slice s, struct osec_slice *host, uint16_t *port);

int osec_sip_via_parse(struct osec_slice s, struct osec_sip_via *v);

/* Parser errors: set msg->err_status / err_reason (a static string, never
 * input) and return rc. */
int osec_sip_msg_fail(struct osec_sip_msg *m, int rc, unsigned status, const char *reason);

#define OSEC_SIP_ERR(m, code, status, reason)                                            \
    return osec_sip_msg_fail((m),                                                        \
                             osec_error_set((code), __FILE__, __LINE__, "SIP: %s", (reason)), \
                             (status), (reason))
#define OSEC_SIP_BAD(m, reason) OSEC_SIP_ERR((m), OSEC_EPARSE, 400, (reason))

/* Parse the structured headers of a framed message and check the required
 * ones (sip_fields.c). */
int osec_sip_fields_parse(struct osec_sip_msg *m);

#endif
