/* Zero-copy SIP message parser and writer (RFC 3261, RFC 3325, RFC 3581)
 * for the cpm-sipd security edge.
 *
 * The parser reads one message from a contiguous buffer and fills a struct
 * osec_sip_msg whose slices point into that buffer (which must outlive it).
 * It extracts only what the edge needs; every header line is also kept, in
 * order, in msg->headers[] so a proxy can forward what it does not touch.
 *
 * Transports.
 *   Datagram (flags 0): the buffer is one UDP datagram.  A missing
 *     Content-Length means the rest of the datagram is the body; a
 *     Content-Length larger than what follows the headers is 400; bytes after
 *     Content-Length are ignored (RFC 3261 18.3).
 *   Stream (OSEC_SIP_STREAM): the buffer is the unread part of a TCP/TLS
 *     stream.  Content-Length is required (400 without it).  When the buffer
 *     holds only part of a message, osec_sip_parse returns OSEC_SIP_NEED_MORE
 *     (a positive value, not an error) and sets msg->need to the total number
 *     of buffered bytes required before calling again (when the headers are
 *     not complete yet it is len + 1: call again when more data arrived and it
 *     contains a LF, so a slow sender cannot make us rescan the buffer per
 *     byte).  On success msg->consumed is the length of this message
 *     (including skipped leading CRLFs, which are RFC 5626 keep-alives); the
 *     caller drops that many bytes and parses again for the next message.
 *     With OSEC_SIP_NEED_MORE msg->consumed counts the leading CRLFs the
 *     caller may already drop.  After any error the stream's framing is
 *     lost: answer if possible, then close the connection.
 *
 * Errors.  A malformed message returns a negative code and sets
 * msg->err_status / msg->err_reason to the SIP response to send (the reason
 * is a static string and never echoes input):
 *   OSEC_EPARSE   400  malformed (reason names the header, e.g. "Bad CSeq",
 *                      "Missing Call-ID", "CSeq Method Mismatch",
 *                      "Bad Content-Length", "Duplicate Header")
 *   OSEC_EBOUNDS  413  message larger than max_msg
 *   OSEC_EBOUNDS  414  Request-URI longer than OSEC_SIP_URI_MAX
 *   OSEC_EBOUNDS  400  more than OSEC_SIP_HEADERS_MAX header lines, a line
 *                      longer than OSEC_SIP_LINE_MAX, more values than a
 *                      list holds ("Too Many Via Headers" above 32 Vias)
 *   OSEC_EPOLICY  416  Request-URI scheme other than sip, sips, tel
 *   OSEC_EPOLICY  505  SIP version other than 2.0
 *   OSEC_EPOLICY  400  "Line Folding Not Supported"
 * A reply is possible only when msg->framed is true and msg->is_request
 * (osec_sip_reply checks this); otherwise drop the message.  Responses that
 * fail to parse are always dropped.
 *
 * Deliberate strictness (an edge normalises what it passes into the trust
 * domain, so no element behind it can read a message differently):
 *   - obs-fold (a header line continued on the next line starting with
 *     SP/HTAB) is rejected with 400 "Line Folding Not Supported".  Unfolding
 *     would need a copy of every folded value (the parser is zero-copy) and
 *     every later consumer would have to treat CRLF+WSP as white space;
 *     folding is obsolete in practice (HTTP removed it in RFC 7230), and
 *     rejecting it removes a classic source of parser disagreement.
 *   - only CRLF line endings; control characters other than HTAB (NUL
 *     included, even inside quoted-pair) are rejected anywhere in the start
 *     line and headers (400).  Bytes >= 0x80 (UTF-8) are allowed.
 *   - single-valued headers (From, To, Call-ID, CSeq, Max-Forwards, Expires,
 *     Content-Length, Content-Type) may appear once (400 otherwise).
 *   - the Request-Line is exactly "Method SP Request-URI SP SIP/2.0"; any
 *     white space inside the Request-URI is 400 (RFC 4475 3.1.2.x).
 *   HCOLON white space around ':' is accepted, as are compact header names,
 *   any letter case in header names, unknown headers and unknown methods.
 *
 * struct osec_sip_msg is about 20 KiB: allocate it once per worker (heap),
 * not per call on a small stack.
 */
#ifndef OMASEC_SIP_H
#define OMASEC_SIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "omasec/buf.h"

#define OSEC_SIP_MSG_MAX_DEFAULT 65536u /* bytes per message (max_msg = 0) */
#define OSEC_SIP_HEADERS_MAX 100        /* header lines per message */
#define OSEC_SIP_LINE_MAX 8192          /* bytes per line, CRLF excluded */
#define OSEC_SIP_URI_MAX 4096           /* Request-URI bytes (414 above) */
#define OSEC_SIP_VIA_MAX 32             /* Via values */
#define OSEC_SIP_CONTACT_MAX 32         /* Contact values */
#define OSEC_SIP_ROUTE_MAX 32           /* Route and Record-Route values each */
#define OSEC_SIP_IDENTITY_MAX 8         /* P-Asserted / P-Preferred-Identity values */
#define OSEC_SIP_AUTH_MAX 8             /* (Proxy-)Authorization header lines */
#define OSEC_SIP_CSEQ_MAX 2147483647u   /* RFC 3261 8.1.1.5: < 2**31 */

#define OSEC_SIP_STREAM 0x1u /* flag: TCP/TLS stream framing */
#define OSEC_SIP_NEED_MORE 1 /* osec_sip_parse: incomplete stream input */

/* Header kinds the parser understands; everything else is OTHER. */
enum osec_sip_hdr {
    OSEC_SIP_H_OTHER = 0,
    OSEC_SIP_H_VIA,
    OSEC_SIP_H_FROM,
    OSEC_SIP_H_TO,
    OSEC_SIP_H_CALL_ID,
    OSEC_SIP_H_CSEQ,
    OSEC_SIP_H_CONTACT,
    OSEC_SIP_H_EXPIRES,
    OSEC_SIP_H_MAX_FORWARDS,
    OSEC_SIP_H_ROUTE,
    OSEC_SIP_H_RECORD_ROUTE,
    OSEC_SIP_H_AUTHORIZATION,
    OSEC_SIP_H_PROXY_AUTHORIZATION,
    OSEC_SIP_H_P_ASSERTED_IDENTITY,
    OSEC_SIP_H_P_PREFERRED_IDENTITY,
    OSEC_SIP_H_CONTENT_LENGTH,
    OSEC_SIP_H_CONTENT_TYPE
};

enum osec_sip_method {
    OSEC_SIP_M_OTHER = 0,
    OSEC_SIP_M_REGISTER,
    OSEC_SIP_M_INVITE,
    OSEC_SIP_M_ACK,
    OSEC_SIP_M_BYE,
    OSEC_SIP_M_CANCEL,
    OSEC_SIP_M_OPTIONS,
    OSEC_SIP_M_MESSAGE,
    OSEC_SIP_M_SUBSCRIBE,
    OSEC_SIP_M_NOTIFY,
    OSEC_SIP_M_PUBLISH,
    OSEC_SIP_M_INFO,
    OSEC_SIP_M_PRACK,
    OSEC_SIP_M_UPDATE,
    OSEC_SIP_M_REFER
};

enum osec_sip_scheme {
    OSEC_SIP_SCHEME_SIP = 1,
    OSEC_SIP_SCHEME_SIPS = 2,
    OSEC_SIP_SCHEME_TEL = 3
};

/* One header line: name as received (maybe compact), value without the
 * surrounding white space. */
struct osec_sip_header {
    struct osec_slice name;
    struct osec_slice value;
    enum osec_sip_hdr kind;
    const char *canon; /* full name when the name is known ("Subject" for "s"), else NULL */
};

/* sip:, sips: or tel: URI.  For tel, user is the number and host is empty. */
struct osec_sip_uri {
    struct osec_slice raw;
    enum osec_sip_scheme scheme;
    struct osec_slice user;      /* still %-escaped */
    struct osec_slice password;
    struct osec_slice host;      /* IPv6 references keep their brackets */
    uint16_t port;               /* 0 when absent */
    struct osec_slice params;    /* ";transport=tcp;lr" (starts with ';') or empty */
    struct osec_slice headers;   /* after '?', or empty */
    struct osec_slice transport; /* value of the transport parameter */
    struct osec_slice user_param;/* value of user= (e.g. "phone") */
    bool lr;
};

/* name-addr / addr-spec with header parameters, e.g.
 * "Bob" <sip:bob@example.com>;tag=x;expires=60 */
struct osec_sip_nameaddr {
    struct osec_slice raw;
    struct osec_slice display;  /* inside the quotes (escapes kept), or the tokens */
    struct osec_slice uri;      /* without < > */
    struct osec_slice params;   /* header parameters, starting with ';', or empty */
    struct osec_slice tag;      /* empty when absent */
    bool star;                  /* the Contact value "*" */
    bool has_expires;
    uint32_t expires;           /* expires param, clamped to 2**32-1 */
};

struct osec_sip_via {
    struct osec_slice raw;
    struct osec_slice transport; /* "UDP", "TLS", ... */
    struct osec_slice host;      /* sent-by host */
    uint16_t port;               /* sent-by port, 0 when absent */
    struct osec_slice params;    /* starting with ';', or empty */
    struct osec_slice branch;
    struct osec_slice received;
    struct osec_slice rport;     /* value, empty when the flag has none */
    bool has_rport;
};

struct osec_sip_msg {
    bool framed;   /* start line and header lines split: a reply can be built */
    bool valid;    /* osec_sip_parse returned 0 */
    bool is_request;
    unsigned err_status;     /* 0, or the SIP status to answer the error with */
    const char *err_reason;  /* static reason phrase, or NULL */
    size_t consumed;         /* see the stream convention above */
    size_t need;             /* with OSEC_SIP_NEED_MORE */

    /* start line */
    struct osec_slice method;    /* requests */
    enum osec_sip_method method_id;
    struct osec_slice ruri_raw;
    struct osec_sip_uri ruri;
    unsigned status;             /* responses: 100..699 */
    struct osec_slice reason;

    struct osec_sip_header headers[OSEC_SIP_HEADERS_MAX];
    size_t n_headers;

    struct osec_sip_via via[OSEC_SIP_VIA_MAX];
    size_t n_via;
    struct osec_sip_nameaddr from, to;
    struct osec_slice call_id;
    uint32_t cseq;
    struct osec_slice cseq_method;
    struct osec_sip_nameaddr contact[OSEC_SIP_CONTACT_MAX];
    size_t n_contact;
    bool has_expires;
    uint32_t expires;            /* Expires header, clamped to 2**32-1 */
    int max_forwards;            /* -1 when absent, else 0..255 */
    struct osec_sip_nameaddr route[OSEC_SIP_ROUTE_MAX];
    size_t n_route;
    struct osec_sip_nameaddr record_route[OSEC_SIP_ROUTE_MAX];
    size_t n_record_route;
    struct osec_slice authorization[OSEC_SIP_AUTH_MAX];
    size_t n_authorization;
    struct osec_slice proxy_authorization[OSEC_SIP_AUTH_MAX];
    size_t n_proxy_authorization;
    struct osec_sip_nameaddr pai[OSEC_SIP_IDENTITY_MAX];
    size_t n_pai;
    struct osec_sip_nameaddr ppi[OSEC_SIP_IDENTITY_MAX];
    size_t n_ppi;
    bool has_content_length;
    size_t content_length;
    struct osec_slice content_type;
    struct osec_slice body;
};

/* ---- parsing --------------------------------------------------------- */

/* Parse one message from in (flags: 0 or OSEC_SIP_STREAM; max_msg 0 means
 * OSEC_SIP_MSG_MAX_DEFAULT).  Returns 0, OSEC_SIP_NEED_MORE (stream only),
 * or a negative code with msg->err_status set (see above). */
int osec_sip_parse(struct osec_slice in, unsigned flags, size_t max_msg,
                   struct osec_sip_msg *msg);

/* sip/sips/tel URI.  EPOLICY for a well-formed URI of another scheme,
 * EPARSE for a malformed one. */
int osec_sip_uri_parse(struct osec_slice s, struct osec_sip_uri *uri);

/* Canonical address-of-record of a parsed URI, replacing out's content:
 *   sip/sips -> "sip:user@host": scheme "sip" (a sips AOR names the same
 *   resource, RFC 5630; whether TLS was used is a separate check), host
 *   lower-cased, user case-sensitive with %-escapes of characters allowed
 *   unescaped decoded and the others written as upper-case %XX, password,
 *   port, parameters and headers dropped; "sip:host" when there is no user.
 *   tel -> "tel:+4930123" for global numbers (visual separators -.() removed),
 *   "tel:1234;phone-context=<ctx>" (lower-cased) for local numbers, which
 *   must carry phone-context (EPARSE otherwise).
 * Used for anti-spoofing: compare AORs byte for byte. */
int osec_sip_uri_aor(const struct osec_sip_uri *uri, struct osec_buf *out);

/* Name-addr or addr-spec with header parameters (From, To, Contact, Route,
 * P-Asserted-Identity).  Without <>, parameters after the URI are header
 * parameters (RFC 3261 20.10).  EPARSE when malformed. */
int osec_sip_nameaddr_parse(struct osec_slice s, struct osec_sip_nameaddr *na);

/* Find parameter name (case-insensitive) in a ";a=b;c" list (URI or header
 * parameters).  0 with *value set (empty for a flag; quoted values keep their
 * quotes), OSEC_ENOTFOUND, or EPARSE for a malformed list. */
int osec_sip_param_find(struct osec_slice params, const char *name, struct osec_slice *value);

/* Index of the first header at or after start whose name is name (full or
 * compact, case-insensitive), or -1. */
long osec_sip_header_find(const struct osec_sip_msg *msg, const char *name, size_t start);

/* Default reason phrase of a status code ("Unauthorized"), never NULL. */
const char *osec_sip_reason_phrase(unsigned status);
/* Method of a token (case-sensitive, RFC 3261 7.1), OSEC_SIP_M_OTHER if unknown. */
enum osec_sip_method osec_sip_method_from(struct osec_slice token);

/* ---- writing --------------------------------------------------------- */

/* A header line to add.  name must be a token, value must not contain
 * CR, LF or other control characters except HTAB (OSEC_EINVAL). */
struct osec_sip_field {
    const char *name;
    const char *value;
};

/* What the received top Via gets on its way out (RFC 3261 18.2.1, RFC 3581):
 * received=<received> when received is not NULL, and rport=<rport> when
 * rport is not 0 and the Via carried an rport parameter.  Any received/rport
 * the client put there is replaced. */
struct osec_sip_via_fix {
    const char *received; /* IPv4 or IPv6 literal */
    uint16_t rport;
};

struct osec_sip_reply {
    unsigned status;        /* 100..699 */
    const char *reason;     /* NULL: osec_sip_reason_phrase(status) */
    const char *to_tag;     /* tag for To when the request had none (status > 100);
                               NULL: a random one */
    struct osec_sip_via_fix via_fix;
    const struct osec_sip_field *add; /* e.g. WWW-Authenticate */
    size_t n_add;
    const char *content_type;         /* with a body */
    struct osec_slice body;
};

/* Build a response to req into out (replacing its content): status line, all
 * Via lines, From, To (+tag), Call-ID, CSeq, the added fields, Content-Type,
 * Content-Length, body.  req needs only to be framed (so 400 can answer a
 * request whose CSeq did not parse); EINVAL if it is not a framed request or
 * lacks a Via, From, To, Call-ID or CSeq line. */
int osec_sip_reply(const struct osec_sip_msg *req, const struct osec_sip_reply *r,
                   struct osec_buf *out);

/* How to re-serialise a message for forwarding. */
struct osec_sip_edit {
    /* requests */
    const char *request_uri;   /* new Request-URI, NULL keeps it */
    const char *via;           /* our Via value, written first (required) */
    bool pop_route;            /* drop the top Route value (it named us) */
    /* responses */
    bool pop_via;              /* drop the top Via value (ours) */
    /* both */
    struct osec_sip_via_fix via_fix;  /* for the received top Via (requests) */
    const char *const *remove; /* NULL-terminated names (full or compact, any
                                  case) of headers to drop, all occurrences */
    const struct osec_sip_field *add; /* written right after the start line,
                                         after our Via: so an added
                                         Record-Route lands on top */
    size_t n_add;
};

/* Re-serialise a successfully parsed message with edits into out (replacing
 * its content).  Requests: our Via first, Max-Forwards decremented (70
 * inserted when absent; EPOLICY when it is 0: answer 483 instead).  All other
 * lines keep their order and bytes; Content-Length is rewritten from the body,
 * which is copied unchanged.  Removing Via, From, To, Call-ID, CSeq,
 * Max-Forwards or Content-Length, or adding Via, Max-Forwards or
 * Content-Length, is EINVAL. */
int osec_sip_forward(const struct osec_sip_msg *msg, const struct osec_sip_edit *edit,
                     struct osec_buf *out);

#endif
