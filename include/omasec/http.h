/* Zero-copy, strict, incremental HTTP/1.1 parser and writer (RFC 9110/9112).
 *
 * Used by cpns-server (requests in, responses out), the PN gateway (both
 * directions) and libomasec's CPNS client (requests out, responses in).
 *
 * Parsing never allocates and never copies: every osec_slice in a parsed
 * message points into the caller's input, which must stay unchanged while
 * the message is used.  The input is the connection's contiguous receive
 * buffer starting at the first byte of the message.
 *
 * Results of osec_http_request_parse / osec_http_response_parse:
 *   OSEC_OK (0)           a whole message (head + body) is present;
 *                         *consumed = its length (the next pipelined
 *                         message starts at data + *consumed).
 *   OSEC_HTTP_INCOMPLETE  (positive 1) more input is needed; *consumed = 0.
 *                         Call again with the same bytes plus more.
 *   < 0                   the message is invalid; error_status/error_reason
 *                         say what to answer.  Framing is then unknown: the
 *                         server answers with that status and
 *                         "Connection: close", then closes.
 * INCOMPLETE is positive on purpose: OSEC_GUARD lets it through, so callers
 * must test `rc != OSEC_OK`, not just `rc < 0`.
 *
 * Request errors (code -> status):
 *   OSEC_EPARSE  400  malformed start line, target, header or framing; bare
 *                     LF or bare CR; whitespace before ':'; obs-fold;
 *                     control characters in a value; absolute-form target;
 *                     missing (HTTP/1.1) or repeated Host; bad or differing
 *                     repeated Content-Length
 *   OSEC_EPARSE  505  syntactically valid version other than HTTP/1.0, 1.1
 *   OSEC_EBOUNDS 414  request line longer than limits.max_line
 *   OSEC_EBOUNDS 431  head longer than limits.max_head, or more than
 *                     limits.max_headers field lines
 *   OSEC_EBOUNDS 413  Content-Length above limits.max_body
 *   OSEC_EPOLICY 501  any Transfer-Encoding (we never need chunked bodies;
 *                     RFC 9112 6.1 says 501 for codings not implemented)
 * Response errors use the same codes; error_status is then always 502, what
 * a relaying gateway answers to its own client.
 *
 * Decisions (stricter than RFC 9112 where it allows a choice):
 *   - Lines end with CRLF only.  A bare LF anywhere in the head is rejected
 *     (RFC 9112 2.2 allows accepting it; a parser that does while a peer
 *     does not is a request-smuggling vector).  One empty line before a
 *     request line is ignored (RFC 9112 2.2 SHOULD).
 *   - Only HTTP/1.0 and HTTP/1.1.  HTTP/1.2 is refused (505) even though
 *     RFC 9112 2.3 lets a server treat it as 1.1.
 *   - Request targets: origin-form ("/path?query"), "*" for OPTIONS only,
 *     and authority-form ("host:port") for CONNECT only (the gateway's
 *     tunnel).  absolute-form is rejected (400): our daemons are origin
 *     servers, never forward proxies, and an absolute URI next to a Host
 *     field is two authorities to disagree about.  Target characters are
 *     limited to RFC 3986 pchar, '/', '?' and well-formed %XX escapes; no
 *     fragment.
 *   - No body without Content-Length: a request without it has an empty
 *     body; a response without it (other than 1xx/204/304, HEAD or 2xx to
 *     CONNECT) is rejected rather than read until close.
 *   - Repeated Content-Length fields are accepted only when equal; a
 *     comma-separated list in one field is rejected.
 *   - Connection: HTTP/1.1 defaults to keep-alive unless a "close" token is
 *     present; HTTP/1.0 defaults to close unless "keep-alive" is present
 *     (and "close" is absent).
 *
 * Incremental input: pass a struct osec_http_scan kept per connection
 * (zero it once, OSEC_HTTP_SCAN_INIT).  It remembers how far the end of the
 * head has been searched so a client that trickles bytes costs linear, not
 * quadratic, CPU; on INCOMPLETE, scan->need is the buffered length at which
 * calling again can make progress.  The parser resets it after every
 * complete or failed message.  A NULL scan parses from scratch each call.
 * When INCOMPLETE is returned with scan->head_end != 0 the head fields of
 * the message are already valid (e.g. to answer "100 Continue" or to reject
 * before the body arrives); body is then empty.
 */
#ifndef OMASEC_HTTP_H
#define OMASEC_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "omasec/buf.h"

#define OSEC_HTTP_INCOMPLETE 1
#define OSEC_HTTP_MAX_HEADERS 64

struct osec_http_limits {
    size_t max_line;    /* request/status line without CRLF (default 8192) */
    size_t max_head;    /* start line + fields + final CRLF (default 16384) */
    size_t max_headers; /* field lines, at most OSEC_HTTP_MAX_HEADERS (64) */
    uint64_t max_body;  /* Content-Length (default 65536) */
};

#define OSEC_HTTP_LIMITS_DEFAULT { 8192, 16384, OSEC_HTTP_MAX_HEADERS, 65536 }

struct osec_http_scan {
    size_t scanned;  /* bytes searched for the end of the head */
    size_t head_end; /* head length once known, else 0 */
    size_t need;     /* on INCOMPLETE: buffered length worth calling again at */
};

#define OSEC_HTTP_SCAN_INIT { 0, 0, 0 }

struct osec_http_header {
    struct osec_slice name;  /* a token, case preserved */
    struct osec_slice value; /* leading/trailing SP/HTAB removed */
};

struct osec_http_fields {
    size_t count;
    struct osec_http_header list[OSEC_HTTP_MAX_HEADERS];
};

enum osec_http_target_form {
    OSEC_HTTP_TARGET_ORIGIN = 0,   /* "/path?query" */
    OSEC_HTTP_TARGET_ASTERISK = 1, /* "*" (OPTIONS) */
    OSEC_HTTP_TARGET_AUTHORITY = 2 /* "host:port" (CONNECT) */
};

struct osec_http_request {
    struct osec_slice method;      /* case-sensitive token, e.g. "POST" */
    struct osec_slice target;      /* the whole request-target */
    struct osec_slice path;        /* origin-form: target before '?'; "*" */
    struct osec_slice query;       /* after '?', without it (empty if none) */
    enum osec_http_target_form form;
    int version_minor;             /* 0 or 1 (major is always 1) */
    struct osec_http_fields headers;
    size_t header_len;             /* head length incl. final CRLF */
    bool has_content_length;
    uint64_t content_length;
    struct osec_slice body;        /* content_length bytes after the head */
    bool keep_alive;
    bool expect_continue;          /* "Expect: 100-continue" */
    int error_status;              /* on error: the status to answer */
    const char *error_reason;      /* on error: static text, no input */
};

struct osec_http_response {
    int version_minor;
    int status;                    /* 100..599 */
    struct osec_slice reason;      /* may be empty */
    struct osec_http_fields headers;
    size_t header_len;
    bool has_content_length;
    uint64_t content_length;
    struct osec_slice body;
    bool keep_alive;
    int error_status;              /* on error: 502 */
    const char *error_reason;
};

/* Parse one request from data[0..len).  lim may be NULL (defaults), scan may
 * be NULL (no incremental state).  See the top of this file for results. */
int osec_http_request_parse(const uint8_t *data, size_t len, const struct osec_http_limits *lim,
                            struct osec_http_scan *scan, struct osec_http_request *req,
                            size_t *consumed);

/* Parse one response.  method is the request's method (NULL if unknown):
 * responses to HEAD, and 2xx responses to CONNECT, carry no body; so do
 * 1xx, 204 and 304.  A 1xx is returned as a complete message: the caller
 * reads the final response after it. */
int osec_http_response_parse(const uint8_t *data, size_t len, const struct osec_http_limits *lim,
                             struct osec_http_scan *scan, const char *method,
                             struct osec_http_response *resp, size_t *consumed);

/* ---- fields -------------------------------------------------------------- */

/* First field named name (ASCII case-insensitive): true and *value if found.
 * No error is recorded when absent (optional fields are the normal case). */
bool osec_http_header_get(const struct osec_http_fields *f, const char *name,
                          struct osec_slice *value);
/* For fields that must occur at most once (Host, Content-Length,
 * Authorization, ...): 0 and *value; OSEC_ENOTFOUND if absent; OSEC_EPARSE
 * if present more than once (ambiguity is an attack, not a choice). */
int osec_http_header_get_single(const struct osec_http_fields *f, const char *name,
                                struct osec_slice *value);
/* True if any field named name holds token in its comma-separated list
 * (case-insensitive), e.g. ("connection", "close"). */
bool osec_http_header_has_token(const struct osec_http_fields *f, const char *name,
                                const char *token);

/* ---- paths --------------------------------------------------------------- */

/* Reject an encoded '/' (%2F): the decoded value is one path segment. */
#define OSEC_HTTP_PCT_SEGMENT 0x1u

/* Strict percent-decoding of raw into dst (NUL-terminated, *outlen bytes
 * without the NUL).  Only %XX with two hex digits; %00 is always refused
 * (the result is a C string); with OSEC_HTTP_PCT_SEGMENT also %2F.
 * '+' is not special.  EPARSE on malformed input, EBOUNDS if dst is short. */
int osec_http_pct_decode(struct osec_slice raw, unsigned flags, char *dst, size_t dstlen,
                         size_t *outlen);

/* Append raw as one path segment: RFC 3986 unreserved bytes as they are,
 * every other byte as %XX (upper-case hex). */
int osec_http_pct_encode_segment(struct osec_buf *out, struct osec_slice raw);

/* Route matcher.  pattern is an absolute path whose segments are literals
 * or "*"; "*" matches one non-empty segment, captured raw (still
 * percent-encoded) into caps[] in order; decode with osec_http_pct_decode
 * and OSEC_HTTP_PCT_SEGMENT.  Literal segments compare byte for byte.
 * Returns 0 on a match; OSEC_ENOTFOUND (no message recorded: trying routes
 * is normal) when the path does not fit; OSEC_EPARSE when it fits but a
 * captured segment is malformed: bad %XX, %00, %2F, a byte outside pchar,
 * or "." / ".." (raw or encoded); OSEC_EINVAL if the pattern has more "*"
 * than ncap or does not start with '/'.
 * Example: osec_http_path_match(req.path, "/cpns/v1/entities/ * /eukey"
 * (without the spaces), caps, 1). */
int osec_http_path_match(struct osec_slice path, const char *pattern, struct osec_slice *caps,
                         size_t ncap);

/* ---- writer -------------------------------------------------------------- */

/* A field to write.  Names must be tokens; values VCHAR/obs-text with
 * inner SP/HTAB only: CR, LF, NUL or any other control byte is refused with
 * OSEC_EINVAL (header injection), as is leading/trailing whitespace. */
struct osec_http_field {
    const char *name;
    struct osec_slice value;
};

/* Standard reason phrase of status ("Not Found"), NULL if not registered. */
const char *osec_http_reason(int status);

/* Append an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") for t (UTC). */
int osec_http_format_date(struct osec_buf *out, int64_t t);

/* Append a whole HTTP/1.1 response: status line with the standard reason
 * phrase, a Date field when date >= 0, fields, Content-Length, body.
 * Content-Length is always written except for 1xx and 204 (RFC 9110 8.6
 * forbids it) and 304; those require an empty body.  fields may not hold
 * Content-Length or Transfer-Encoding (framing is the writer's job).
 * Status must be 100..599.  On error out is left as it was. */
int osec_http_write_response(struct osec_buf *out, int status, const struct osec_http_field *fields,
                             size_t nfields, struct osec_slice body, int64_t date);

/* Append a whole HTTP/1.1 request: request line, Host, fields,
 * Content-Length (omitted only for an empty GET/HEAD/OPTIONS/CONNECT body),
 * body.  method must be a token, target a valid origin-form target (or
 * as osec_http_request_parse accepts for OPTIONS/CONNECT), host a valid
 * uri-host[:port].  fields may not hold Host, Content-Length or
 * Transfer-Encoding.  On error out is left as it was. */
int osec_http_write_request(struct osec_buf *out, const char *method, struct osec_slice target,
                            const char *host, const struct osec_http_field *fields,
                            size_t nfields, struct osec_slice body);

#endif
