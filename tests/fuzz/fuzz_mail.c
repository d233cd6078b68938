/* libFuzzer harness: the views cpm-msgstored takes of stored messages
 * (anyone allowed to APPEND wrote them): header fields, sections,
 * ENVELOPE, BODYSTRUCTURE, dates, SEARCH evaluation and the CPM layout
 * checks.  Oracles: every section is a slice of the message (or built),
 * and ENVELOPE / BODYSTRUCTURE are balanced parenthesised lists. */
#include <stdlib.h>
#include <string.h>

#include "omasec/buf.h"
#include "omasec/error.h"
#include "omasec/imap.h"
#include "omasec/mail.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

/* Parentheses outside quoted strings and literals balance. */
static void balanced(struct osec_slice s)
{
    long depth = 0;

    for (size_t i = 0; i < s.len; i++) {
        uint8_t c = s.ptr[i];

        if (c == '"') {
            for (i++; i < s.len && s.ptr[i] != '"'; i++)
                if (s.ptr[i] == '\\')
                    i++;
        } else if (c == '{') { /* literal {n}\r\n + n bytes */
            size_t n = 0;

            for (i++; i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9'; i++)
                n = n * 10 + (size_t)(s.ptr[i] - '0');
            CHECK(i + 2 < s.len + 1);
            i += 2 + n;
        } else if (c == '(') {
            depth++;
        } else if (c == ')') {
            CHECK(--depth >= 0);
        }
    }
    CHECK(depth == 0);
}

static void sections(struct osec_slice msg)
{
    static const uint32_t parts[][3] = { { 1, 0, 0 }, { 2, 0, 0 }, { 1, 1, 0 }, { 2, 1, 3 } };
    struct osec_imap_section s;
    struct osec_buf tmp;
    struct osec_slice d;

    osec_buf_init(&tmp, 1 << 20);
    for (size_t p = 0; p < 4; p++) {
        for (int t = OSEC_IMAP_SECT_WHOLE; t <= OSEC_IMAP_SECT_MIME; t++) {
            memset(&s, 0, sizeof(s));
            s.nparts = parts[p][2] ? 3 : parts[p][1] ? 2 : 1;
            memcpy(s.part, parts[p], sizeof(parts[p]));
            s.text = (enum osec_imap_sect_text)t;
            s.fields = osec_slice_cstr("From Subject");
            osec_buf_reset(&tmp);
            if (osec_mail_section(msg, &s, &d, &tmp) == 0 && d.len)
                CHECK((d.ptr >= msg.ptr && d.ptr + d.len <= msg.ptr + msg.len) ||
                      (d.ptr == tmp.data && d.len == tmp.len));
        }
    }
    osec_buf_free(&tmp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct osec_slice msg = osec_slice_make(data, size), hdr, body, n, v, f;
    struct osec_mail_search_msg sm;
    struct osec_imap_search q;
    struct osec_mail_cpm ids;
    struct osec_buf out;
    size_t pos = 0;
    int64_t t;

    osec_mail_split(msg, &hdr, &body);
    CHECK(hdr.len + body.len == size);
    while (osec_mail_field_next(hdr, &pos, &n, &v, &f) == 1)
        CHECK(f.ptr >= hdr.ptr && f.ptr + f.len <= hdr.ptr + hdr.len && n.len > 0);
    if (osec_mail_header_get(hdr, "Date", &v) == 1)
        (void)osec_mail_date_parse(v, &t);
    osec_buf_init(&out, 8 << 20);
    if (osec_mail_envelope(hdr, &out) == 0)
        balanced(osec_buf_slice(&out));
    osec_buf_reset(&out);
    if (osec_mail_bodystructure(msg, true, &out) == 0)
        balanced(osec_buf_slice(&out));
    osec_buf_free(&out);
    sections(msg);
    (void)osec_mail_cpm_parse(msg, &ids);
    (void)osec_mail_cpm_check("Conversations/c1/k1", &ids, NULL, 0);
    memset(&q, 0, sizeof(q));
    q.count = 4; /* OR (FROM a) (NOT HEADER Subject x) */
    q.node[0].key = OSEC_IMAP_SK_AND;
    q.node[0].first = 1;
    q.node[1].key = OSEC_IMAP_SK_OR;
    q.node[1].first = 2;
    q.node[2].key = OSEC_IMAP_SK_FROM;
    q.node[2].s1 = osec_slice_cstr("a");
    q.node[2].next = 3;
    q.node[3].key = OSEC_IMAP_SK_SENTSINCE;
    memset(&sm, 0, sizeof(sm));
    sm.has_text = true;
    sm.text = msg;
    (void)osec_mail_search_match(&q, &sm);
    return 0;
}
