/* SIP, SIPS (RFC 3261 19.1) and tel (RFC 3966) URIs, and the canonical
 * address-of-record used by the anti-spoofing checks. */
#include <string.h>

#include "omasec/error.h"
#include "proto/sip_int.h"

/* unreserved = alphanum / mark (RFC 3261 25.1) */
static bool is_unreserved(uint8_t c)
{
    return osec_sip_is_alnum(c) || (c != 0 && strchr("-_.!~*'()", c) != NULL);
}

static bool user_plain(uint8_t c)
{
    return is_unreserved(c) || (c != 0 && strchr("&=+$,;?/", c) != NULL);
}

static bool password_plain(uint8_t c)
{
    return is_unreserved(c) || (c != 0 && strchr("&=+$,", c) != NULL);
}

static bool param_plain(uint8_t c)
{
    return is_unreserved(c) || (c != 0 && strchr("[]/:&+$=;", c) != NULL);
}

static bool header_plain(uint8_t c)
{
    return is_unreserved(c) || (c != 0 && strchr("[]/?:+$=&", c) != NULL);
}

/* Every byte plain or a valid %HH escape. */
static bool chars_ok(struct osec_slice s, bool (*plain)(uint8_t))
{
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] == '%') {
            if (i + 2 >= s.len || !osec_sip_is_hex(s.ptr[i + 1]) || !osec_sip_is_hex(s.ptr[i + 2]))
                return false;
            i += 2;
        } else if (!plain(s.ptr[i])) {
            return false;
        }
    }
    return true;
}

static int scheme_of(struct osec_slice scheme, enum osec_sip_scheme *out)
{
    OSEC_ENSURE(scheme.len > 0 && ((scheme.ptr[0] | 0x20) >= 'a' && (scheme.ptr[0] | 0x20) <= 'z'),
                OSEC_EPARSE, "bad URI scheme");
    for (size_t i = 1; i < scheme.len; i++)
        OSEC_ENSURE(osec_sip_is_alnum(scheme.ptr[i]) || scheme.ptr[i] == '+' ||
                        scheme.ptr[i] == '-' || scheme.ptr[i] == '.',
                    OSEC_EPARSE, "bad URI scheme");
    if (osec_slice_eq_ci(scheme, "sip"))
        *out = OSEC_SIP_SCHEME_SIP;
    else if (osec_slice_eq_ci(scheme, "sips"))
        *out = OSEC_SIP_SCHEME_SIPS;
    else if (osec_slice_eq_ci(scheme, "tel"))
        *out = OSEC_SIP_SCHEME_TEL;
    else
        OSEC_BAIL(OSEC_EPOLICY, "unsupported URI scheme");
    return 0;
}

/* Validate ";a=b;c" URI parameters and pick out the ones we use. */
static int uri_params(struct osec_sip_uri *uri)
{
    struct osec_cursor c;
    struct osec_sip_param p;
    int rc;

    if (uri->params.len == 0)
        return 0;
    OSEC_ENSURE(uri->params.len > 1 && chars_ok(uri->params, param_plain), OSEC_EPARSE,
                "bad URI parameter");
    osec_cursor_init(&c, uri->params.ptr, uri->params.len);
    while ((rc = osec_sip_param_next(&c, &p)) > 0) {
        if (osec_slice_eq_ci(p.name, "transport"))
            uri->transport = p.value;
        else if (osec_slice_eq_ci(p.name, "user"))
            uri->user_param = p.value;
        else if (osec_slice_eq_ci(p.name, "lr"))
            uri->lr = true;
    }
    return rc;
}

/* Split "[userinfo@]hostport[;params][?headers]". */
static int parse_sip(struct osec_slice rest, struct osec_sip_uri *uri)
{
    long at = osec_slice_find(rest, '@'), semi, q;
    struct osec_slice hp;

    if (at >= 0) {
        struct osec_slice ui = osec_slice_sub(rest, 0, (size_t)at);
        long colon = osec_slice_find(ui, ':');

        uri->user = colon < 0 ? ui : osec_slice_sub(ui, 0, (size_t)colon);
        if (colon >= 0)
            uri->password = osec_slice_sub(ui, (size_t)colon + 1, ui.len);
        OSEC_ENSURE(uri->user.len > 0 && chars_ok(uri->user, user_plain) &&
                        chars_ok(uri->password, password_plain),
                    OSEC_EPARSE, "bad URI userinfo");
        rest = osec_slice_sub(rest, (size_t)at + 1, rest.len);
    }
    q = osec_slice_find(rest, '?');
    if (q >= 0) {
        uri->headers = osec_slice_sub(rest, (size_t)q + 1, rest.len);
        rest = osec_slice_sub(rest, 0, (size_t)q);
        OSEC_ENSURE(uri->headers.len > 0 && chars_ok(uri->headers, header_plain), OSEC_EPARSE,
                    "bad URI headers");
    }
    semi = osec_slice_find(rest, ';');
    hp = semi < 0 ? rest : osec_slice_sub(rest, 0, (size_t)semi);
    if (semi >= 0)
        uri->params = osec_slice_sub(rest, (size_t)semi, rest.len);
    OSEC_GUARD(osec_sip_hostport(hp, &uri->host, &uri->port));
    return uri_params(uri);
}

static bool tel_char(uint8_t c, bool global)
{
    if (c == '-' || c == '.' || c == '(' || c == ')')
        return true;
    return global ? osec_sip_is_digit(c) : (osec_sip_is_hex(c) || c == '*' || c == '#');
}

static int parse_tel(struct osec_slice rest, struct osec_sip_uri *uri)
{
    long semi = osec_slice_find(rest, ';');
    struct osec_slice num = semi < 0 ? rest : osec_slice_sub(rest, 0, (size_t)semi);
    bool global = num.len > 0 && num.ptr[0] == '+';
    size_t digits = 0;

    for (size_t i = global ? 1 : 0; i < num.len; i++) {
        OSEC_ENSURE(tel_char(num.ptr[i], global), OSEC_EPARSE, "bad telephone number");
        digits += strchr("-.()", num.ptr[i]) == NULL;
    }
    OSEC_ENSURE(digits > 0, OSEC_EPARSE, "bad telephone number");
    uri->user = num;
    if (semi >= 0)
        uri->params = osec_slice_sub(rest, (size_t)semi, rest.len);
    return uri_params(uri);
}

int osec_sip_uri_parse(struct osec_slice s, struct osec_sip_uri *uri)
{
    long colon = osec_slice_find(s, ':');

    memset(uri, 0, sizeof(*uri));
    uri->raw = s;
    OSEC_ENSURE(colon > 0, OSEC_EPARSE, "URI without scheme");
    OSEC_GUARD(scheme_of(osec_slice_sub(s, 0, (size_t)colon), &uri->scheme));
    for (size_t i = 0; i < s.len; i++)
        OSEC_ENSURE(s.ptr[i] > 0x20 && s.ptr[i] < 0x7f, OSEC_EPARSE, "bad character in URI");
    s = osec_slice_sub(s, (size_t)colon + 1, s.len);
    if (uri->scheme == OSEC_SIP_SCHEME_TEL)
        return parse_tel(s, uri);
    return parse_sip(s, uri);
}

/* ---- address of record ------------------------------------------------ */

static int hexval(uint8_t c)
{
    c = osec_sip_lower(c);
    return c <= '9' ? c - '0' : c - 'a' + 10;
}

/* RFC 3261 19.1.4: escapes compare equal to the characters they encode, so
 * decode the ones that may appear plain and normalise the rest. */
static int aor_user(struct osec_buf *out, struct osec_slice user)
{
    static const char hex[] = "0123456789ABCDEF";

    for (size_t i = 0; i < user.len; i++) {
        uint8_t ch = user.ptr[i];

        if (ch == '%') {
            OSEC_ENSURE(i + 2 < user.len, OSEC_EINVAL, "URI not parsed");
            ch = (uint8_t)(hexval(user.ptr[i + 1]) << 4 | hexval(user.ptr[i + 2]));
            i += 2;
            if (!user_plain(ch)) {
                char e[3] = { '%', hex[ch >> 4], hex[ch & 15] };

                OSEC_GUARD(osec_buf_append(out, e, sizeof(e)));
                continue;
            }
        }
        OSEC_GUARD(osec_buf_putc(out, (char)ch));
    }
    return 0;
}

static int append_lower(struct osec_buf *out, struct osec_slice s)
{
    for (size_t i = 0; i < s.len; i++)
        OSEC_GUARD(osec_buf_putc(out, (char)osec_sip_lower(s.ptr[i])));
    return 0;
}

/* Telephone number without visual separators, hex digits lower-cased. */
static int append_number(struct osec_buf *out, struct osec_slice num)
{
    for (size_t i = 0; i < num.len; i++)
        if (strchr("-.()", num.ptr[i]) == NULL)
            OSEC_GUARD(osec_buf_putc(out, (char)osec_sip_lower(num.ptr[i])));
    return 0;
}

static int aor_tel(const struct osec_sip_uri *uri, struct osec_buf *out)
{
    struct osec_slice ctx;

    OSEC_GUARD(osec_buf_append_str(out, "tel:"));
    OSEC_GUARD(append_number(out, uri->user));
    if (uri->user.ptr[0] == '+')
        return 0;
    OSEC_ENSURE(osec_sip_param_find(uri->params, "phone-context", &ctx) == 0 && ctx.len > 0,
                OSEC_EPARSE, "local number without phone-context");
    OSEC_GUARD(osec_buf_append_str(out, ";phone-context="));
    if (ctx.ptr[0] == '+')
        return append_number(out, ctx);
    return append_lower(out, ctx);
}

int osec_sip_uri_aor(const struct osec_sip_uri *uri, struct osec_buf *out)
{
    OSEC_ENSURE(uri && out && uri->scheme != 0, OSEC_EINVAL, "no URI");
    osec_buf_reset(out);
    if (uri->scheme == OSEC_SIP_SCHEME_TEL) {
        OSEC_ENSURE(uri->user.len > 0, OSEC_EINVAL, "no telephone number");
        return aor_tel(uri, out);
    }
    OSEC_ENSURE(uri->host.len > 0, OSEC_EINVAL, "URI without host");
    OSEC_GUARD(osec_buf_append_str(out, "sip:"));
    if (uri->user.len > 0) {
        OSEC_GUARD(aor_user(out, uri->user));
        OSEC_GUARD(osec_buf_putc(out, '@'));
    }
    return append_lower(out, uri->host);
}
