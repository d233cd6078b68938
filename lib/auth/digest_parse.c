/* Strict, zero-copy parsers for Digest header values (RFC 7235 auth-param
 * syntax as used by RFC 7616 and RFC 3261).
 *
 * Values point into the header value; quoted-strings holding backslash
 * escapes and username* (RFC 5987 ext-value) are decoded into the caller's
 * scratch buffer, which never needs more than the header's length. */
#include <string.h>

#include "auth/digest_internal.h"
#include "omasec/error.h"

#define MAX_PARAMS 16

struct scan {
    struct osec_cursor c;
    uint8_t *scratch;
    size_t scratch_len;
    size_t scratch_used;
};

/* The known parameters of one header, as found (duplicates refused). */
struct found {
    const char *const *names;
    size_t n;
    struct osec_slice v[MAX_PARAMS];
    bool quoted[MAX_PARAMS];
    uint32_t seen;
};

static bool is_tchar(uint8_t ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static bool is_token68(uint8_t ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return ch != 0 && strchr("-._~+/", ch) != NULL;
}

static int hexval(uint8_t ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static bool is_hex(struct osec_slice v)
{
    for (size_t i = 0; i < v.len; i++)
        if (hexval(v.ptr[i]) < 0)
            return false;
    return true;
}

static bool at_ws(const struct osec_cursor *c)
{
    int ch = osec_cursor_peek(c);
    size_t rem = osec_cursor_remaining(c);

    if (ch == ' ' || ch == '\t')
        return true;
    /* obs-fold / SIP LWS: CRLF followed by white space */
    return ch == '\r' && rem >= 3 && c->ptr[c->pos + 1] == '\n' &&
           (c->ptr[c->pos + 2] == ' ' || c->ptr[c->pos + 2] == '\t');
}

static void skip_ows(struct scan *s)
{
    while (at_ws(&s->c))
        s->c.pos += s->c.ptr[s->c.pos] == '\r' ? 3 : 1;
}

static int scan_init(struct scan *s, struct osec_slice value, uint8_t *scratch, size_t len)
{
    OSEC_ENSURE(value.ptr != NULL || value.len == 0, OSEC_EINVAL, "NULL header value");
    OSEC_ENSURE(value.len <= OSEC_DIGEST_HEADER_MAX, OSEC_EPARSE,
                "header value longer than %d bytes", OSEC_DIGEST_HEADER_MAX);
    osec_cursor_init(&s->c, value.ptr, value.len);
    s->scratch = scratch;
    s->scratch_len = scratch ? len : 0;
    s->scratch_used = 0;
    return 0;
}

/* Reserve n scratch bytes for a decoded value. */
static int scratch_take(struct scan *s, size_t n, uint8_t **out)
{
    OSEC_ENSURE(n <= s->scratch_len - s->scratch_used, OSEC_EBOUNDS,
                "scratch buffer too small for a decoded value");
    *out = s->scratch + s->scratch_used;
    s->scratch_used += n;
    return 0;
}

static bool qd_ok(uint8_t ch)
{
    return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

/* quoted-string at the cursor ('"' is next). */
static int read_quoted(struct scan *s, struct osec_slice *out)
{
    const uint8_t *p = s->c.ptr + s->c.pos + 1;
    size_t n = osec_cursor_remaining(&s->c) - 1, i, esc = 0, k = 0;
    uint8_t *dst = NULL;

    for (i = 0; i < n && p[i] != '"'; i++) {
        if (p[i] == '\\') {
            OSEC_ENSURE(i + 1 < n, OSEC_EPARSE, "unterminated quoted-string");
            i++;
            esc++;
        }
        OSEC_ENSURE(qd_ok(p[i]), OSEC_EPARSE, "control character in quoted-string");
    }
    OSEC_ENSURE(i < n, OSEC_EPARSE, "unterminated quoted-string");
    s->c.pos += i + 2;
    if (esc == 0) {
        *out = osec_slice_make(p, i);
        return 0;
    }
    OSEC_GUARD(scratch_take(s, i - esc, &dst));
    for (size_t j = 0; j < i; j++) {
        if (p[j] == '\\')
            j++;
        dst[k++] = p[j];
    }
    *out = osec_slice_make(dst, k);
    return 0;
}

static int read_param(struct scan *s, struct osec_slice *name, struct osec_slice *val,
                      bool *quoted)
{
    *name = osec_cursor_span(&s->c, is_tchar);
    OSEC_ENSURE(name->len > 0, OSEC_EPARSE, "expected a parameter name");
    skip_ows(s);
    OSEC_ENSURE(osec_cursor_eat(&s->c, '='), OSEC_EPARSE, "expected '=' after '%.*s'",
                (int)name->len, (const char *)name->ptr);
    skip_ows(s);
    *quoted = osec_cursor_peek(&s->c) == '"';
    if (*quoted) {
        OSEC_GUARD(read_quoted(s, val));
    } else {
        *val = osec_cursor_span(&s->c, is_tchar);
        OSEC_ENSURE(val->len > 0, OSEC_EPARSE, "bad value for '%.*s'", (int)name->len,
                    (const char *)name->ptr);
    }
    OSEC_ENSURE(val->len <= OSEC_DIGEST_VALUE_MAX, OSEC_EPARSE,
                "parameter '%.*s' longer than %d bytes", (int)name->len,
                (const char *)name->ptr, OSEC_DIGEST_VALUE_MAX);
    return 0;
}

static int record(struct found *f, struct osec_slice name, struct osec_slice val, bool quoted)
{
    for (size_t i = 0; i < f->n; i++) {
        if (!osec_slice_eq_ci(name, f->names[i]))
            continue;
        OSEC_ENSURE(!(f->seen & (1u << i)), OSEC_EPARSE, "duplicate parameter '%s'",
                    f->names[i]);
        f->seen |= 1u << i;
        f->v[i] = val;
        f->quoted[i] = quoted;
        return 0;
    }
    return 0; /* unknown parameters are ignored */
}

/* Does an auth-param (token BWS "=") start here, rather than a new scheme? */
static bool param_ahead(const struct scan *s)
{
    struct scan t = *s;

    if (osec_cursor_span(&t.c, is_tchar).len == 0)
        return false;
    skip_ows(&t);
    return osec_cursor_peek(&t.c) == '=';
}

/* After an element: end of input, or ',' plus any empty list elements. */
static int next_element(struct scan *s, bool *more)
{
    skip_ows(s);
    *more = false;
    if (osec_cursor_eof(&s->c))
        return 0;
    OSEC_ENSURE(osec_cursor_eat(&s->c, ','), OSEC_EPARSE, "expected ',' between parameters");
    do
        skip_ows(s);
    while (osec_cursor_eat(&s->c, ','));
    *more = !osec_cursor_eof(&s->c);
    return 0;
}

/* A comma-separated auth-param list.  With multi, stops (cursor on the next
 * scheme) when the next element is not a parameter. */
static int param_list(struct scan *s, struct found *f, bool multi)
{
    struct osec_slice name, val;
    bool quoted = false, more = true;

    while (more) {
        OSEC_GUARD(read_param(s, &name, &val, &quoted));
        OSEC_GUARD(record(f, name, val, quoted));
        OSEC_GUARD(next_element(s, &more));
        if (more && multi && !param_ahead(s))
            break;
    }
    return 0;
}

/* auth-scheme and the white space after it; *params: do params follow? */
static int read_scheme(struct scan *s, struct osec_slice *scheme, bool *params)
{
    bool more;

    *scheme = osec_cursor_span(&s->c, is_tchar);
    OSEC_ENSURE(scheme->len > 0, OSEC_EPARSE, "expected an auth-scheme");
    *params = false;
    if (osec_cursor_eof(&s->c) || osec_cursor_peek(&s->c) == ',')
        return next_element(s, &more);
    OSEC_ENSURE(at_ws(&s->c), OSEC_EPARSE, "expected white space after the auth-scheme");
    skip_ows(s);
    if (osec_cursor_eof(&s->c))
        return 0;
    if (osec_cursor_peek(&s->c) == ',')
        return next_element(s, &more);
    *params = true;
    return 0;
}

/* ---- credentials ------------------------------------------------------- */

enum {
    C_USERNAME, C_USERNAME_EXT, C_REALM, C_NONCE, C_URI, C_RESPONSE, C_ALGORITHM,
    C_CNONCE, C_OPAQUE, C_QOP, C_NC, C_USERHASH, C_COUNT
};
static const char *const cred_names[C_COUNT] = {
    "username", "username*", "realm", "nonce", "uri", "response", "algorithm",
    "cnonce", "opaque", "qop", "nc", "userhash",
};

static int parse_nc(struct osec_slice v, uint32_t *out)
{
    uint32_t x = 0;

    OSEC_ENSURE(v.len == 8 && is_hex(v), OSEC_EPARSE,
                "parameter 'nc' must be exactly 8 hex digits");
    for (size_t i = 0; i < 8; i++)
        x = x << 4 | (uint32_t)hexval(v.ptr[i]);
    OSEC_ENSURE(x != 0, OSEC_EPARSE, "parameter 'nc' must not be zero");
    *out = x;
    return 0;
}

static int parse_bool(struct osec_slice v, const char *name, bool *out)
{
    *out = osec_slice_eq_ci(v, "true");
    OSEC_ENSURE(*out || osec_slice_eq_ci(v, "false"), OSEC_EPARSE,
                "parameter '%s' must be true or false", name);
    return 0;
}

static int check_digest_hex(struct osec_slice v, const char *name)
{
    OSEC_ENSURE((v.len == 32 || v.len == 64) && is_hex(v), OSEC_EPARSE,
                "parameter '%s' must be 32 or 64 hex digits", name);
    return 0;
}

static bool utf8_valid(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = p[i];
        size_t k = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2
                 : (c & 0xf8) == 0xf0 ? 3 : 4;
        uint32_t cp = k == 0 ? c : k == 1 ? c & 0x1fu : k == 2 ? c & 0x0fu : c & 0x07u;
        static const uint32_t min[4] = { 0, 0x80, 0x800, 0x10000 };

        if (k == 4 || n - i <= k)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + j] & 0x3fu);
        }
        if (cp < min[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp < 0x20 ||
            cp == 0x7f)
            return false;
        i += k + 1;
    }
    return true;
}

static bool attr_char(uint8_t ch)
{
    return is_tchar(ch) && ch != '*' && ch != '\'' && ch != '%';
}

/* RFC 5987 ext-value "UTF-8'lang'pct-encoded" into scratch. */
static int decode_ext(struct scan *s, struct osec_slice v, struct osec_slice *out)
{
    struct osec_cursor c;
    struct osec_slice charset, lang;
    uint8_t *dst = NULL;
    size_t k = 0;

    osec_cursor_init(&c, v.ptr, v.len);
    OSEC_ENSURE(osec_cursor_until(&c, '\'', &charset) == 0 && osec_slice_eq_ci(charset, "UTF-8"),
                OSEC_EPARSE, "username*: charset must be UTF-8");
    c.pos++;
    OSEC_ENSURE(osec_cursor_until(&c, '\'', &lang) == 0, OSEC_EPARSE,
                "username*: expected charset'language'value");
    c.pos++;
    OSEC_GUARD(scratch_take(s, osec_cursor_remaining(&c), &dst));
    while (!osec_cursor_eof(&c)) {
        uint8_t ch = c.ptr[c.pos++];

        if (ch == '%') {
            OSEC_ENSURE(osec_cursor_remaining(&c) >= 2 && hexval(c.ptr[c.pos]) >= 0 &&
                        hexval(c.ptr[c.pos + 1]) >= 0, OSEC_EPARSE,
                        "username*: bad percent-encoding");
            ch = (uint8_t)(hexval(c.ptr[c.pos]) << 4 | hexval(c.ptr[c.pos + 1]));
            c.pos += 2;
        } else {
            OSEC_ENSURE(attr_char(ch), OSEC_EPARSE, "username*: bad character");
        }
        dst[k++] = ch;
    }
    OSEC_ENSURE(k > 0 && utf8_valid(dst, k), OSEC_EPARSE, "username*: not valid UTF-8 text");
    *out = osec_slice_make(dst, k);
    return 0;
}

static int creds_username(struct scan *s, const struct found *f, struct osec_digest_creds *o)
{
    bool plain = f->seen & (1u << C_USERNAME), ext = f->seen & (1u << C_USERNAME_EXT);

    OSEC_ENSURE(plain || ext, OSEC_EPARSE, "missing parameter 'username'");
    OSEC_ENSURE(!(plain && ext), OSEC_EPARSE, "both 'username' and 'username*' present");
    if (f->seen & (1u << C_USERHASH))
        OSEC_GUARD(parse_bool(f->v[C_USERHASH], "userhash", &o->userhash));
    if (ext) {
        OSEC_ENSURE(!f->quoted[C_USERNAME_EXT], OSEC_EPARSE, "username* must not be quoted");
        OSEC_ENSURE(!o->userhash, OSEC_EPARSE, "username* cannot carry a userhash");
        o->username_ext = true;
        return decode_ext(s, f->v[C_USERNAME_EXT], &o->username);
    }
    o->username = f->v[C_USERNAME];
    OSEC_ENSURE(o->username.len > 0, OSEC_EPARSE, "empty 'username'");
    if (o->userhash)
        OSEC_GUARD(check_digest_hex(o->username, "username"));
    return 0;
}

static int creds_qop(const struct found *f, struct osec_digest_creds *o)
{
    bool ok;

    if (!(f->seen & (1u << C_QOP))) {
        OSEC_ENSURE(!(f->seen & (1u << C_NC)) && !(f->seen & (1u << C_CNONCE)), OSEC_EPARSE,
                    "'nc' and 'cnonce' are only allowed with 'qop'");
        return 0;
    }
    o->qop_text = f->v[C_QOP];
    o->qop = dg_qop_from_text(o->qop_text, &ok);
    OSEC_ENSURE(ok, OSEC_EPARSE, "unsupported qop '%.*s'", (int)o->qop_text.len,
                (const char *)o->qop_text.ptr);
    OSEC_ENSURE(f->seen & (1u << C_CNONCE), OSEC_EPARSE, "missing parameter 'cnonce'");
    OSEC_ENSURE(f->seen & (1u << C_NC), OSEC_EPARSE, "missing parameter 'nc'");
    o->cnonce = f->v[C_CNONCE];
    OSEC_ENSURE(o->cnonce.len > 0, OSEC_EPARSE, "empty 'cnonce'");
    o->nc = f->v[C_NC];
    return parse_nc(o->nc, &o->nc_value);
}

static int creds_fill(struct scan *s, const struct found *f, struct osec_digest_creds *o)
{
    static const int required[] = { C_REALM, C_NONCE, C_URI, C_RESPONSE };

    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        OSEC_ENSURE(f->seen & (1u << required[i]), OSEC_EPARSE, "missing parameter '%s'",
                    cred_names[required[i]]);
    OSEC_GUARD(creds_username(s, f, o));
    o->realm = f->v[C_REALM];
    o->nonce = f->v[C_NONCE];
    o->uri = f->v[C_URI];
    o->response = f->v[C_RESPONSE];
    o->opaque = f->v[C_OPAQUE];
    OSEC_ENSURE(o->nonce.len > 0, OSEC_EPARSE, "empty 'nonce'");
    OSEC_ENSURE(o->uri.len > 0, OSEC_EPARSE, "empty 'uri'");
    OSEC_GUARD(check_digest_hex(o->response, "response"));
    o->algorithm = f->v[C_ALGORITHM];
    o->alg = (f->seen & (1u << C_ALGORITHM)) ? osec_digest_alg_from_name(o->algorithm)
                                             : OSEC_DIGEST_MD5;
    return creds_qop(f, o);
}

int osec_digest_parse_credentials(struct osec_slice value, uint8_t *scratch, size_t scratch_len,
                                  struct osec_digest_creds *out)
{
    struct found f = { .names = cred_names, .n = C_COUNT };
    struct osec_slice scheme;
    struct scan s;
    bool params;

    OSEC_ENSURE(out != NULL, OSEC_EINVAL, "NULL output");
    memset(out, 0, sizeof(*out));
    OSEC_GUARD(scan_init(&s, value, scratch, scratch_len));
    skip_ows(&s);
    OSEC_GUARD(read_scheme(&s, &scheme, &params));
    OSEC_ENSURE(osec_slice_eq_ci(scheme, "Digest"), OSEC_EPARSE, "auth-scheme is not Digest");
    OSEC_ENSURE(params, OSEC_EPARSE, "Digest credentials without parameters");
    OSEC_GUARD(param_list(&s, &f, false));
    return creds_fill(&s, &f, out);
}

/* ---- challenges -------------------------------------------------------- */

enum { H_REALM, H_DOMAIN, H_NONCE, H_OPAQUE, H_STALE, H_ALGORITHM, H_QOP, H_CHARSET,
       H_USERHASH, H_COUNT };
static const char *const chal_names[H_COUNT] = {
    "realm", "domain", "nonce", "opaque", "stale", "algorithm", "qop", "charset", "userhash",
};

/* qop-options: a quoted list of tokens; ones we do not know are ignored. */
static unsigned qop_list(struct osec_slice v)
{
    struct scan t = { .scratch = NULL };
    unsigned mask = 0;
    bool ok;

    osec_cursor_init(&t.c, v.ptr, v.len);
    while (!osec_cursor_eof(&t.c)) {
        skip_ows(&t);
        mask |= (unsigned)dg_qop_from_text(osec_cursor_span(&t.c, is_tchar), &ok);
        skip_ows(&t);
        if (!osec_cursor_eat(&t.c, ','))
            break;
    }
    return mask;
}

static int chal_fill(const struct found *f, struct osec_digest_challenge *o)
{
    OSEC_ENSURE(f->seen & (1u << H_REALM), OSEC_EPARSE, "challenge without 'realm'");
    OSEC_ENSURE(f->seen & (1u << H_NONCE), OSEC_EPARSE, "challenge without 'nonce'");
    o->realm = f->v[H_REALM];
    o->nonce = f->v[H_NONCE];
    OSEC_ENSURE(o->nonce.len > 0, OSEC_EPARSE, "empty 'nonce'");
    o->opaque = f->v[H_OPAQUE];
    o->domain = f->v[H_DOMAIN];
    o->algorithm = f->v[H_ALGORITHM];
    o->alg = (f->seen & (1u << H_ALGORITHM)) ? osec_digest_alg_from_name(o->algorithm)
                                             : OSEC_DIGEST_MD5;
    o->qop = qop_list(f->v[H_QOP]);
    /* RFC 7616: any stale value other than "true" means false */
    o->stale = osec_slice_eq_ci(f->v[H_STALE], "true");
    o->charset_utf8 = osec_slice_eq_ci(f->v[H_CHARSET], "UTF-8");
    if (f->seen & (1u << H_USERHASH))
        OSEC_GUARD(parse_bool(f->v[H_USERHASH], "userhash", &o->userhash));
    return 0;
}

/* A challenge of another scheme: token68 or auth-params, skipped. */
static int skip_challenge(struct scan *s)
{
    struct found f = { .names = NULL, .n = 0 };
    bool more;

    if (param_ahead(s))
        return param_list(s, &f, true);
    OSEC_ENSURE(osec_cursor_span(&s->c, is_token68).len > 0, OSEC_EPARSE,
                "expected token68 or parameters");
    while (osec_cursor_eat(&s->c, '='))
        ;
    OSEC_GUARD(next_element(s, &more));
    return 0;
}

int osec_digest_parse_challenges(struct osec_slice value, uint8_t *scratch, size_t scratch_len,
                                 struct osec_digest_challenges *out)
{
    struct osec_slice scheme;
    struct scan s;
    bool params;

    OSEC_ENSURE(out != NULL, OSEC_EINVAL, "NULL output");
    memset(out, 0, sizeof(*out));
    OSEC_GUARD(scan_init(&s, value, scratch, scratch_len));
    do
        skip_ows(&s);
    while (osec_cursor_eat(&s.c, ','));
    while (!osec_cursor_eof(&s.c)) {
        struct found f = { .names = chal_names, .n = H_COUNT };

        OSEC_GUARD(read_scheme(&s, &scheme, &params));
        if (!osec_slice_eq_ci(scheme, "Digest")) {
            if (params)
                OSEC_GUARD(skip_challenge(&s));
            continue;
        }
        OSEC_ENSURE(params, OSEC_EPARSE, "Digest challenge without parameters");
        OSEC_ENSURE(out->count < OSEC_DIGEST_CHALLENGES_MAX, OSEC_EPARSE,
                    "more than %d Digest challenges", OSEC_DIGEST_CHALLENGES_MAX);
        OSEC_GUARD(param_list(&s, &f, true));
        OSEC_GUARD(chal_fill(&f, &out->item[out->count]));
        out->count++;
    }
    return 0;
}

/* ---- Authentication-Info ----------------------------------------------- */

enum { A_NEXTNONCE, A_QOP, A_RSPAUTH, A_CNONCE, A_NC, A_COUNT };
static const char *const info_names[A_COUNT] = {
    "nextnonce", "qop", "rspauth", "cnonce", "nc",
};

int osec_digest_parse_auth_info(struct osec_slice value, uint8_t *scratch, size_t scratch_len,
                                struct osec_digest_auth_info *out)
{
    struct found f = { .names = info_names, .n = A_COUNT };
    struct scan s;
    bool ok;

    OSEC_ENSURE(out != NULL, OSEC_EINVAL, "NULL output");
    memset(out, 0, sizeof(*out));
    OSEC_GUARD(scan_init(&s, value, scratch, scratch_len));
    skip_ows(&s);
    OSEC_ENSURE(!osec_cursor_eof(&s.c), OSEC_EPARSE, "empty Authentication-Info");
    OSEC_GUARD(param_list(&s, &f, false));
    out->nextnonce = f.v[A_NEXTNONCE];
    out->rspauth = f.v[A_RSPAUTH];
    out->cnonce = f.v[A_CNONCE];
    if (f.seen & (1u << A_RSPAUTH))
        OSEC_GUARD(check_digest_hex(out->rspauth, "rspauth"));
    if (f.seen & (1u << A_NC)) {
        out->nc = f.v[A_NC];
        OSEC_GUARD(parse_nc(out->nc, &out->nc_value));
    }
    if (f.seen & (1u << A_QOP)) {
        out->qop_text = f.v[A_QOP];
        out->qop = dg_qop_from_text(out->qop_text, &ok);
        OSEC_ENSURE(ok, OSEC_EPARSE, "unsupported qop in Authentication-Info");
    }
    return 0;
}
