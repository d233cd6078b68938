/* HTTP/1.1 message writer.
 *
 * Everything is validated before the first byte is appended, with the same
 * character classes the parser enforces, so a caller can never emit a
 * message our own parser (or a stricter peer) would split differently:
 * CR/LF in a name or value (header injection) is refused, and framing
 * (Content-Length) is always the writer's, never the caller's.
 */
#include <string.h>
#include <time.h>

#include "omasec/error.h"
#include "omasec/http.h"
#include "proto/http_int.h"

const char *osec_http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return NULL;
    }
}

int osec_http_format_date(struct osec_buf *out, int64_t t)
{
    static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    time_t tt = (time_t)t;
    struct tm tm;

    /* IMF-fixdate has a 4-digit year: 1970..9999 */
    OSEC_ENSURE(t >= 0 && t <= INT64_C(253402300799), OSEC_EINVAL, "http: date out of range");
    OSEC_ENSURE(gmtime_r(&tt, &tm) != NULL, OSEC_EINVAL, "http: bad date");
    return osec_buf_appendf(out, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
                            tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
                            tm.tm_min, tm.tm_sec);
}

static int append_dec(struct osec_buf *out, uint64_t v)
{
    char tmp[20];
    size_t n = sizeof(tmp);

    do {
        tmp[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    return osec_buf_append(out, tmp + n, sizeof(tmp) - n);
}

/* Names the caller may not set: the writer owns framing (and Host). */
static bool reserved_name(struct osec_slice name, bool request)
{
    return osec_slice_eq_ci(name, "content-length") ||
           osec_slice_eq_ci(name, "transfer-encoding") ||
           (request && osec_slice_eq_ci(name, "host"));
}

static int check_fields(const struct osec_http_field *fields, size_t n, bool request)
{
    OSEC_ENSURE(fields || n == 0, OSEC_EINVAL, "http: no fields");
    for (size_t i = 0; i < n; i++) {
        struct osec_slice name = osec_slice_cstr(fields[i].name);

        OSEC_ENSURE(osec_http_is_token(name), OSEC_EINVAL, "http: bad field name");
        OSEC_ENSURE(osec_http_is_clean_value(fields[i].value), OSEC_EINVAL,
                    "http: bad field value (CR, LF or control byte)");
        OSEC_ENSURE(!reserved_name(name, request), OSEC_EINVAL,
                    "http: field %s is set by the writer", fields[i].name);
    }
    return 0;
}

static int put_field(struct osec_buf *out, struct osec_slice name, struct osec_slice value)
{
    OSEC_GUARD(osec_buf_append_slice(out, name));
    OSEC_GUARD(osec_buf_append(out, ": ", 2));
    OSEC_GUARD(osec_buf_append_slice(out, value));
    return osec_buf_append(out, "\r\n", 2);
}

/* Fields, optional Content-Length, empty line, body. */
static int put_tail(struct osec_buf *out, const struct osec_http_field *fields, size_t n,
                    bool put_cl, struct osec_slice body)
{
    for (size_t i = 0; i < n; i++)
        OSEC_GUARD(put_field(out, osec_slice_cstr(fields[i].name), fields[i].value));
    if (put_cl) {
        OSEC_GUARD(osec_buf_append_str(out, "Content-Length: "));
        OSEC_GUARD(append_dec(out, body.len));
        OSEC_GUARD(osec_buf_append(out, "\r\n", 2));
    }
    OSEC_GUARD(osec_buf_append(out, "\r\n", 2));
    return osec_buf_append_slice(out, body);
}

static void rollback(struct osec_buf *out, size_t len)
{
    out->len = len;
    if (out->data)
        out->data[len] = '\0';
}

static int put_status(struct osec_buf *out, int status, int64_t date)
{
    const char *reason = osec_http_reason(status);

    OSEC_GUARD(osec_buf_append_str(out, "HTTP/1.1 "));
    OSEC_GUARD(append_dec(out, (uint64_t)status));
    OSEC_GUARD(osec_buf_putc(out, ' '));
    OSEC_GUARD(osec_buf_append_str(out, reason ? reason : ""));
    OSEC_GUARD(osec_buf_append(out, "\r\n", 2));
    if (date < 0)
        return 0;
    OSEC_GUARD(osec_buf_append_str(out, "Date: "));
    OSEC_GUARD(osec_http_format_date(out, date));
    return osec_buf_append(out, "\r\n", 2);
}

int osec_http_write_response(struct osec_buf *out, int status, const struct osec_http_field *fields,
                             size_t nfields, struct osec_slice body, int64_t date)
{
    bool bodyless = status < 200 || status == 204 || status == 304;
    size_t start;
    int rc;

    OSEC_ENSURE(out, OSEC_EINVAL, "http: no output buffer");
    OSEC_ENSURE(status >= 100 && status <= 599, OSEC_EINVAL, "http: bad status %d", status);
    OSEC_ENSURE(!bodyless || body.len == 0, OSEC_EINVAL, "http: status %d has no body", status);
    OSEC_ENSURE(date < 0 || date <= INT64_C(253402300799), OSEC_EINVAL, "http: bad date");
    OSEC_GUARD(check_fields(fields, nfields, false));
    start = out->len;
    OSEC_CHECK(rc, put_status(out, status, date));
    OSEC_CHECK(rc, put_tail(out, fields, nfields, !bodyless, body));
out:
    if (rc < 0)
        rollback(out, start);
    return rc;
}

/* Requests whose empty body needs no "Content-Length: 0". */
static bool bodyless_method(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "OPTIONS") == 0 ||
           strcmp(m, "CONNECT") == 0;
}

int osec_http_write_request(struct osec_buf *out, const char *method, struct osec_slice target,
                            const char *host, const struct osec_http_field *fields,
                            size_t nfields, struct osec_slice body)
{
    struct osec_slice m = osec_slice_cstr(method);
    int form;
    size_t start;
    int rc;

    OSEC_ENSURE(out && host, OSEC_EINVAL, "http: bad arguments");
    OSEC_ENSURE(osec_http_is_token(m), OSEC_EINVAL, "http: bad method");
    OSEC_ENSURE(osec_http_target_error(m, target, &form) == NULL, OSEC_EINVAL,
                "http: bad request target");
    OSEC_ENSURE(osec_http_is_authority(osec_slice_cstr(host), false), OSEC_EINVAL,
                "http: bad host");
    OSEC_GUARD(check_fields(fields, nfields, true));
    start = out->len;
    OSEC_CHECK(rc, osec_buf_append_slice(out, m));
    OSEC_CHECK(rc, osec_buf_putc(out, ' '));
    OSEC_CHECK(rc, osec_buf_append_slice(out, target));
    OSEC_CHECK(rc, osec_buf_append_str(out, " HTTP/1.1\r\nHost: "));
    OSEC_CHECK(rc, osec_buf_append_str(out, host));
    OSEC_CHECK(rc, osec_buf_append(out, "\r\n", 2));
    OSEC_CHECK(rc, put_tail(out, fields, nfields, body.len > 0 || !bodyless_method(method), body));
out:
    if (rc < 0)
        rollback(out, start);
    return rc;
}
