/* RFC 5322 header views over stored messages: zero-copy, bounded, lenient
 * about what real mail holds (LF-only lines, junk lines) but never reading
 * outside the message. */
#include <string.h>

#include "omasec/error.h"
#include "omasec/mail.h"

void osec_mail_split(struct osec_slice msg, struct osec_slice *header, struct osec_slice *body)
{
    size_t i = 0;

    /* the header ends at the first empty line: a line end right after a
     * line end (or at the very start) */
    while (i < msg.len) {
        size_t eol = i;

        while (eol < msg.len && msg.ptr[eol] != '\n')
            eol++;
        if (eol == msg.len)
            break;
        if (eol == i || (eol == i + 1 && msg.ptr[i] == '\r')) {
            *header = osec_slice_sub(msg, 0, eol + 1);
            *body = osec_slice_sub(msg, eol + 1, msg.len);
            return;
        }
        i = eol + 1;
    }
    *header = msg;
    *body = osec_slice_make(msg.ptr + msg.len, 0);
}

/* End of the line starting at i (index after its LF, or len). */
static size_t line_end(struct osec_slice s, size_t i)
{
    while (i < s.len && s.ptr[i] != '\n')
        i++;
    return i < s.len ? i + 1 : i;
}

static bool is_wsp(uint8_t c)
{
    return c == ' ' || c == '\t';
}

int osec_mail_field_next(struct osec_slice header, size_t *pos, struct osec_slice *name,
                         struct osec_slice *value, struct osec_slice *field)
{
    while (*pos < header.len) {
        size_t start = *pos, end = line_end(header, start);
        long colon;

        /* continuation lines belong to the field before */
        while (end < header.len && is_wsp(header.ptr[end]))
            end = line_end(header, end);
        *pos = end;
        *field = osec_slice_sub(header, start, end - start);
        colon = osec_slice_find(*field, ':');
        if (colon <= 0 || is_wsp(field->ptr[0]) || field->ptr[0] == '\r' ||
            field->ptr[0] == '\n')
            continue;
        *name = osec_slice_trim(osec_slice_sub(*field, 0, (size_t)colon));
        *value = osec_slice_sub(*field, (size_t)colon + 1, field->len);
        return 1;
    }
    return 0;
}

int osec_mail_header_get(struct osec_slice header, const char *name, struct osec_slice *value)
{
    struct osec_slice n, v, f;
    size_t pos = 0;

    while (osec_mail_field_next(header, &pos, &n, &v, &f) == 1) {
        if (osec_slice_eq_ci(n, name)) {
            *value = v;
            return 1;
        }
    }
    return 0;
}

int osec_mail_unfold(struct osec_slice value, struct osec_buf *out)
{
    struct osec_slice v = value;
    size_t start = out->len;

    /* trim leading blanks and trailing blanks / line ends */
    while (v.len && (is_wsp(v.ptr[0]) || v.ptr[0] == '\r' || v.ptr[0] == '\n'))
        v = osec_slice_sub(v, 1, v.len);
    while (v.len && (is_wsp(v.ptr[v.len - 1]) || v.ptr[v.len - 1] == '\r' ||
                     v.ptr[v.len - 1] == '\n'))
        v.len--;
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] == '\r' || v.ptr[i] == '\n')
            continue;
        if (osec_buf_putc(out, (char)v.ptr[i]) < 0) {
            out->len = start;
            return osec_error_code();
        }
    }
    return 0;
}

static bool field_listed(const struct osec_imap_section *sect, struct osec_slice name)
{
    struct osec_slice want;
    size_t pos = 0;

    while (osec_imap_section_field_next(sect, &pos, &want) == 1)
        if (want.len == name.len && name.len > 0 && osec_mail_contains(name, want))
            return true;
    return false;
}

int osec_mail_header_filter(struct osec_slice header, const struct osec_imap_section *sect,
                            bool not, struct osec_buf *out)
{
    struct osec_slice n, v, f;
    size_t pos = 0;

    while (osec_mail_field_next(header, &pos, &n, &v, &f) == 1) {
        if (field_listed(sect, n) == not)
            continue;
        OSEC_GUARD(osec_buf_append_slice(out, f));
        if (f.len == 0 || f.ptr[f.len - 1] != '\n') /* last field without line end */
            OSEC_GUARD(osec_buf_append_str(out, "\r\n"));
    }
    return osec_buf_append_str(out, "\r\n");
}

static uint8_t lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

bool osec_mail_contains(struct osec_slice hay, struct osec_slice needle)
{
    if (needle.len == 0)
        return true;
    if (needle.len > hay.len)
        return false;
    for (size_t i = 0; i + needle.len <= hay.len; i++) {
        size_t j = 0;

        if (lower(hay.ptr[i]) != lower(needle.ptr[0]))
            continue;
        while (j < needle.len && lower(hay.ptr[i + j]) == lower(needle.ptr[j]))
            j++;
        if (j == needle.len)
            return true;
    }
    return false;
}

/* ---- Date: ----------------------------------------------------------------- */

static bool dt_digits(struct osec_cursor *c, size_t min, size_t max, uint64_t *out)
{
    size_t n = 0;

    *out = 0;
    while (n < max && osec_cursor_peek(c) >= '0' && osec_cursor_peek(c) <= '9') {
        uint8_t d;

        (void)osec_cursor_read_u8(c, &d);
        *out = *out * 10 + (uint64_t)(d - '0');
        n++;
    }
    return n >= min;
}

static void dt_skip(struct osec_cursor *c)
{
    while (osec_cursor_peek(c) == ' ' || osec_cursor_peek(c) == '\t' ||
           osec_cursor_peek(c) == '\r' || osec_cursor_peek(c) == '\n')
        (void)osec_cursor_skip(c, 1);
}

static int dt_month(struct osec_cursor *c)
{
    static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    struct osec_slice m;

    if (osec_cursor_read_bytes(c, 3, &m) < 0)
        return -1;
    for (int i = 0; i < 12; i++)
        if (lower(m.ptr[0]) == months[i * 3] && lower(m.ptr[1]) == months[i * 3 + 1] &&
            lower(m.ptr[2]) == months[i * 3 + 2])
            return i;
    return -1;
}

/* days since 1970-01-01 of a civil date (Howard Hinnant's algorithm) */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int dt_zone(struct osec_cursor *c, int64_t *off)
{
    uint64_t z;
    int sign = osec_cursor_peek(c);

    *off = 0;
    if (sign != '+' && sign != '-')
        return 0; /* obsolete zone names: taken as UTC */
    (void)osec_cursor_skip(c, 1);
    OSEC_ENSURE(dt_digits(c, 4, 4, &z) && z % 100 < 60, OSEC_EPARSE, "mail: bad zone");
    *off = (int64_t)(z / 100 * 3600 + z % 100 * 60) * (sign == '-' ? -1 : 1);
    return 0;
}

int osec_mail_date_parse(struct osec_slice value, int64_t *t)
{
    struct osec_cursor c;
    uint64_t day, year, hh, mm, ss = 0;
    int64_t off;
    int mon;

    osec_cursor_init(&c, value.ptr, value.len);
    dt_skip(&c);
    if (osec_slice_find(value, ',') >= 0) { /* day-of-week */
        while (!osec_cursor_eof(&c) && osec_cursor_peek(&c) != ',')
            (void)osec_cursor_skip(&c, 1);
        (void)osec_cursor_skip(&c, 1);
        dt_skip(&c);
    }
    OSEC_ENSURE(dt_digits(&c, 1, 2, &day) && day >= 1 && day <= 31, OSEC_EPARSE, "mail: bad day");
    dt_skip(&c);
    OSEC_ENSURE((mon = dt_month(&c)) >= 0, OSEC_EPARSE, "mail: bad month");
    dt_skip(&c);
    OSEC_ENSURE(dt_digits(&c, 2, 4, &year), OSEC_EPARSE, "mail: bad year");
    if (year < 50)
        year += 2000;
    else if (year < 1000)
        year += 1900;
    dt_skip(&c);
    OSEC_ENSURE(dt_digits(&c, 1, 2, &hh) && osec_cursor_eat(&c, ':') &&
                    dt_digits(&c, 2, 2, &mm) && hh < 24 && mm < 60,
                OSEC_EPARSE, "mail: bad time");
    if (osec_cursor_eat(&c, ':'))
        OSEC_ENSURE(dt_digits(&c, 2, 2, &ss) && ss <= 60, OSEC_EPARSE, "mail: bad seconds");
    dt_skip(&c);
    OSEC_GUARD(dt_zone(&c, &off));
    *t = days_from_civil((int64_t)year, (unsigned)mon + 1, (unsigned)day) * 86400 +
         (int64_t)(hh * 3600 + mm * 60 + ss) - off;
    return 0;
}
