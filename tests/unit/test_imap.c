/* Unit tests for lib/proto/imap_*: strict incremental IMAP command parser,
 * argument helpers (FETCH, STORE, SEARCH, APPEND, ACL, METADATA, mailbox
 * names, dates, sequence sets) and the response writer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "omasec/buf.h"
#include "omasec/error.h"
#include "omasec/imap.h"

#define NODES 2048
static struct osec_imap_arg nodes_a[NODES], nodes_b[NODES];
static uint8_t arena_a[65536], arena_b[65536];

static void cmd_a(struct osec_imap_cmd *c)
{
    osec_imap_cmd_init(c, nodes_a, NODES, arena_a, sizeof(arena_a));
}

static void cmd_b(struct osec_imap_cmd *c)
{
    osec_imap_cmd_init(c, nodes_b, NODES, arena_b, sizeof(arena_b));
}

static int parse_n(const void *s, size_t n, const struct osec_imap_limits *lim,
                   struct osec_imap_cmd *c, size_t *used)
{
    return osec_imap_parse(s, n, lim, NULL, c, used);
}

/* Parse a whole command (all bytes present); must succeed. */
static void parse_ok(const char *s, struct osec_imap_cmd *c)
{
    size_t used = 0;
    int rc;

    cmd_a(c);
    rc = parse_n(s, strlen(s), NULL, c, &used);
    if (rc != 0)
        fail_msg("parse %.60s: rc=%d (%s)", s, rc, osec_error_msg());
    assert_int_equal(used, strlen(s));
    assert_int_equal(c->len, used);
}

static void expect_err_lim(const void *s, size_t n, const struct osec_imap_limits *lim, int code,
                           const char *text, size_t skip)
{
    struct osec_imap_cmd c;
    size_t used = 99;
    int rc;

    cmd_a(&c);
    rc = parse_n(s, n, lim, &c, &used);
    if (rc != code)
        fail_msg("%.50s: rc=%d want %d (%s)", (const char *)s, rc, code, osec_error_msg());
    assert_int_equal(used, 0);
    assert_int_equal(osec_error_code(), code);
    assert_non_null(c.err_text);
    if (text)
        assert_string_equal(c.err_text, text);
    assert_int_equal(c.err_skip, skip);
}

static void expect_err(const char *s, int code, const char *text, size_t skip)
{
    expect_err_lim(s, strlen(s), NULL, code, text, skip);
}

static bool val_is(const struct osec_imap_arg *a, const char *s)
{
    return a && osec_slice_eq_cstr(a->val, s);
}

/* ---- framing: typical client syntax ------------------------------------------ */

static void login_quoted(void **state)
{
    struct osec_imap_cmd c;
    const struct osec_imap_arg *a;
    (void)state;

    parse_ok("a001 LOGIN \"alice@example.com\" \"p\\\"w\\\\d\"\r\n", &c);
    assert_true(osec_slice_eq_cstr(c.tag, "a001"));
    assert_int_equal(c.name, OSEC_IMAP_CMD_LOGIN);
    assert_false(c.uid);
    assert_true(osec_slice_eq_cstr(c.name_text, "LOGIN"));
    assert_int_equal(c.argc, 2);
    a = osec_imap_arg_at(&c, 0);
    assert_int_equal(a->type, OSEC_IMAP_QUOTED);
    assert_true(val_is(a, "alice@example.com"));
    assert_ptr_not_equal(a->val.ptr, arena_a); /* no escapes: zero-copy */
    a = osec_imap_arg_at(&c, 1);
    assert_true(val_is(a, "p\"w\\d"));
    assert_ptr_equal(a->val.ptr, arena_a); /* escapes decoded into the arena */
    assert_int_equal(c.arena_used, 5);
    assert_null(osec_imap_arg_at(&c, 2));
    assert_int_equal(osec_imap_cmd_check(&c), 0);
    /* lower-case command names, atoms as astrings (curl) */
    parse_ok("A002 login user secret\r\n", &c);
    assert_int_equal(c.name, OSEC_IMAP_CMD_LOGIN);
    assert_int_equal(osec_imap_arg_at(&c, 0)->type, OSEC_IMAP_ATOM);
    assert_int_equal(osec_imap_cmd_check(&c), 0);
}

/* python imaplib sends the password as a synchronizing literal */
static void login_literal(void **state)
{
    static const char cmd[] = "ABCD1 LOGIN alice {8}\r\nse cr\"t!\r\n";
    struct osec_imap_scan scan = OSEC_IMAP_SCAN_INIT;
    struct osec_imap_cmd c;
    size_t used = 1, hdr = strlen("ABCD1 LOGIN alice {8}\r\n");
    const struct osec_imap_arg *a;
    (void)state;

    cmd_a(&c);
    assert_int_equal(osec_imap_parse((const uint8_t *)cmd, hdr - 1, NULL, &scan, &c, &used),
                     OSEC_IMAP_INCOMPLETE);
    assert_int_equal(osec_imap_parse((const uint8_t *)cmd, hdr, NULL, &scan, &c, &used),
                     OSEC_IMAP_NEED_CONT);
    assert_int_equal(used, 0);
    assert_int_equal(scan.lit_size, 8);
    assert_true(osec_slice_eq_cstr(c.tag, "ABCD1"));
    assert_int_equal(c.name, OSEC_IMAP_CMD_LOGIN);
    /* the "+ Ready" went out once: no second NEED_CONT for this literal */
    assert_int_equal(osec_imap_parse((const uint8_t *)cmd, hdr, NULL, &scan, &c, &used),
                     OSEC_IMAP_INCOMPLETE);
    assert_int_equal(osec_imap_parse((const uint8_t *)cmd, hdr + 5, NULL, &scan, &c, &used),
                     OSEC_IMAP_INCOMPLETE);
    assert_int_equal(scan.need, hdr + 8);
    assert_int_equal(osec_imap_parse((const uint8_t *)cmd, hdr + 8, NULL, &scan, &c, &used),
                     OSEC_IMAP_INCOMPLETE);
    assert_int_equal(osec_imap_parse((const uint8_t *)cmd, sizeof(cmd) - 1, NULL, &scan, &c,
                                     &used),
                     0);
    assert_int_equal(used, sizeof(cmd) - 1);
    a = osec_imap_arg_at(&c, 1);
    assert_int_equal(a->type, OSEC_IMAP_LITERAL);
    assert_false(a->nonsync);
    assert_true(val_is(a, "se cr\"t!"));
    assert_int_equal(osec_imap_cmd_check(&c), 0);
    /* without a scan every call on a partial literal asks again */
    cmd_b(&c);
    assert_int_equal(parse_n(cmd, hdr + 3, NULL, &c, &used), OSEC_IMAP_NEED_CONT);
}

static void select_and_list(void **state)
{
    struct osec_imap_cmd c;
    struct osec_buf mb = OSEC_BUF_INIT(256);
    struct osec_slice v;
    (void)state;

    parse_ok("A142 SELECT \"INBOX\"\r\n", &c);
    assert_int_equal(c.name, OSEC_IMAP_CMD_SELECT);
    assert_int_equal(osec_imap_cmd_check(&c), 0);
    assert_int_equal(osec_imap_arg_astring(osec_imap_arg_at(&c, 0), &v), 0);
    assert_int_equal(osec_imap_mailbox_decode(v, &mb), 0);
    assert_string_equal(osec_buf_cstr(&mb), "INBOX");
    osec_buf_reset(&mb);
    parse_ok("A1 EXAMINE inbox (CONDSTORE)\r\n", &c);
    assert_int_equal(osec_imap_cmd_check(&c), 0);
    assert_int_equal(osec_imap_arg_at(&c, 1)->type, OSEC_IMAP_LIST);
    assert_int_equal(osec_imap_mailbox_decode(osec_imap_arg_at(&c, 0)->val, &mb), 0);
    assert_string_equal(osec_buf_cstr(&mb), "INBOX");

    parse_ok("A003 LIST \"\" \"*\"\r\n", &c);
    assert_int_equal(c.name, OSEC_IMAP_CMD_LIST);
    assert_int_equal(osec_imap_arg_pattern(osec_imap_arg_at(&c, 0), &v), 0);
    assert_int_equal(v.len, 0);
    assert_int_equal(osec_imap_arg_pattern(osec_imap_arg_at(&c, 1), &v), 0);
    assert_true(osec_slice_eq_cstr(v, "*"));
    assert_int_equal(osec_imap_cmd_check(&c), 0);
    parse_ok("A4 LSUB \"\" INBOX/%\r\n", &c);
    assert_int_equal(osec_imap_cmd_check(&c), 0);
    assert_int_equal(osec_imap_arg_pattern(osec_imap_arg_at(&c, 1), &v), 0);
    assert_true(osec_slice_eq_cstr(v, "INBOX/%"));
    /* a wildcard is a pattern, not an astring */
    assert_int_equal(osec_imap_arg_astring(osec_imap_arg_at(&c, 1), &v), OSEC_EPARSE);
    parse_ok("A5 SELECT [Gmail]/Sent\r\n", &c);
    assert_int_equal(osec_imap_arg_astring(osec_imap_arg_at(&c, 0), &v), 0);
    assert_true(osec_slice_eq_cstr(v, "[Gmail]/Sent"));
    parse_ok("A6 SELECT NIL\r\n", &c); /* the atom NIL names a mailbox "NIL" */
    assert_int_equal(osec_imap_arg_at(&c, 0)->type, OSEC_IMAP_NIL);
    assert_int_equal(osec_imap_cmd_check(&c), 0);
    osec_buf_free(&mb);
}

/* Thunderbird's header fetch */
static void uid_fetch_sections(void **state)
{
    struct osec_imap_cmd c;
    struct osec_imap_fetch f;
    const struct osec_imap_section *s;
    struct osec_slice name;
    size_t pos = 0;
    (void)state;

    parse_ok("5 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From Subject)]<0.1024>)\r\n", &c);
    assert_int_equal(c.name, OSEC_IMAP_CMD_UID_FETCH);
    assert_true(c.uid);
    assert_true(osec_slice_eq_cstr(c.name_text, "UID FETCH"));
    assert_int_equal(c.argc, 2);
    assert_int_equal(osec_imap_arg_at(&c, 0)->type, OSEC_IMAP_SEQSET);
    assert_int_equal(osec_imap_arg_at(&c, 1)->count, 2);
    assert_int_equal(osec_imap_cmd_check(&c), 0);
    assert_int_equal(osec_imap_fetch_parse(&c, &f), 0);
    assert_true(osec_slice_eq_cstr(f.seqset, "1:*"));
    assert_int_equal(f.items, OSEC_IMAP_FETCH_FLAGS | OSEC_IMAP_FETCH_UID);
    assert_int_equal(f.nsections, 1);
    s = &f.section[0];
    assert_true(s->peek);
    assert_int_equal(s->nparts, 0);
    assert_int_equal(s->text, OSEC_IMAP_SECT_HEADER_FIELDS);
    assert_true(osec_slice_eq_cstr(s->spec, "HEADER.FIELDS (From Subject)"));
    assert_true(s->partial);
    assert_int_equal(s->offset, 0);
    assert_int_equal(s->length, 1024);
    assert_int_equal(osec_imap_section_field_next(s, &pos, &name), 1);
    assert_true(osec_slice_eq_cstr(name, "From"));
    assert_int_equal(osec_imap_section_field_next(s, &pos, &name), 1);
    assert_true(osec_slice_eq_cstr(name, "Subject"));
    assert_int_equal(osec_imap_section_field_next(s, &pos, &name), 0);

    parse_ok("a FETCH 4,7:9 (BODY[1.2.MIME] BODY[TEXT] RFC822.SIZE BODY[] MODSEQ "
             "body[header.fields.not (\"X-Spam\" Received)]) (CHANGEDSINCE 12345)\r\n",
             &c);
    assert_int_equal(osec_imap_fetch_parse(&c, &f), 0);
    assert_int_equal(f.items, OSEC_IMAP_FETCH_RFC822_SIZE | OSEC_IMAP_FETCH_MODSEQ);
    assert_true(f.has_changedsince);
    assert_int_equal(f.changedsince, 12345);
    assert_int_equal(f.nsections, 4);
    assert_int_equal(f.section[0].nparts, 2);
    assert_int_equal(f.section[0].part[1], 2);
    assert_int_equal(f.section[0].text, OSEC_IMAP_SECT_MIME);
    assert_false(f.section[0].peek);
    assert_int_equal(f.section[1].text, OSEC_IMAP_SECT_TEXT);
    assert_int_equal(f.section[2].text, OSEC_IMAP_SECT_WHOLE);
    assert_int_equal(f.section[2].spec.len, 0);
    assert_int_equal(f.section[3].text, OSEC_IMAP_SECT_HEADER_FIELDS_NOT);
    pos = 0;
    assert_int_equal(osec_imap_section_field_next(&f.section[3], &pos, &name), 1);
    assert_true(osec_slice_eq_cstr(name, "X-Spam"));

    parse_ok("a FETCH 2 ALL\r\n", &c);
    assert_int_equal(osec_imap_fetch_parse(&c, &f), 0);
    assert_int_equal(f.items, OSEC_IMAP_FETCH_FLAGS | OSEC_IMAP_FETCH_INTERNALDATE |
                                  OSEC_IMAP_FETCH_RFC822_SIZE | OSEC_IMAP_FETCH_ENVELOPE);
    parse_ok("a FETCH 2 full\r\n", &c);
    assert_int_equal(osec_imap_fetch_parse(&c, &f), 0);
    assert_true(f.items & OSEC_IMAP_FETCH_BODY);
    parse_ok("A5 UID FETCH 3 BODY[1]\r\n", &c); /* curl */
    assert_int_equal(osec_imap_fetch_parse(&c, &f), 0);
    assert_int_equal(f.section[0].nparts, 1);
    assert_int_equal(f.items, OSEC_IMAP_FETCH_UID);
}

static void fetch_rejects(void **state)
{
    static const char *const bad[] = {
        "a FETCH 1 (ALL)\r\n",                   /* macros stand alone */
        "a FETCH 1 BODY[MIME]\r\n",              /* MIME needs a part */
        "a FETCH 1 BODY[1.0]\r\n",               /* parts are nz-numbers */
        "a FETCH 1 BODY[1.]\r\n",
        "a FETCH 1 BODY[HEADER.FIELDS ()]\r\n",
        "a FETCH 1 BODY[HEADER.FIELDS (From:)]\r\n",
        "a FETCH 1 BODY[HEADER.FIELDS (From  To)]\r\n",
        "a FETCH 1 BODY[HEADER.FIELDS]\r\n",
        "a FETCH 1 BODY[]<5>\r\n",
        "a FETCH 1 BODY[]<0.0>\r\n",
        "a FETCH 1 BODY[][1]\r\n",
        "a FETCH 1 BODYX[]\r\n",
        "a FETCH 1 FLAGSS\r\n",
        "a FETCH 0 FLAGS\r\n",
        "a FETCH 1:x FLAGS\r\n",
        "a FETCH 1 ()\r\n",
        "a FETCH 1 FLAGS (CHANGEDSINCE x)\r\n",
        "a FETCH 1 \"FLAGS\"\r\n",
    };
    struct osec_imap_cmd c;
    struct osec_imap_fetch f;
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        parse_ok(bad[i], &c);
        if (osec_imap_fetch_parse(&c, &f) != OSEC_EPARSE)
            fail_msg("accepted: %s", bad[i]);
    }
    /* a [ inside a section, or an unterminated one, is a syntax error */
    expect_err("a FETCH 1 BODY[HEADER[x]]\r\n", OSEC_EPARSE, "Invalid characters in section",
               27);
    expect_err("a FETCH 1 BODY[HEADER\r\n", OSEC_EPARSE, "Unterminated section", 23);
}

static void append_sync_literal(void **state)
{
    static const char cmd[] = "A004 APPEND \"Sent Items\" (\\Seen $Forwarded) "
                              "\"05-Jan-2024 10:20:30 +0100\" {12}\r\nHello world!\r\n";
    struct osec_imap_scan scan = OSEC_IMAP_SCAN_INIT;
    struct osec_imap_cmd c;
    struct osec_imap_append ap;
    size_t used, hdr = strlen(cmd) - 14;
    (void)state;

    cmd_a(&c);
    assert_int_equal(osec_imap_parse((const uint8_t *)cmd, hdr, NULL, &scan, &c, &used),
                     OSEC_IMAP_NEED_CONT);
    assert_int_equal(scan.lit_size, 12);
    assert_int_equal(c.name, OSEC_IMAP_CMD_APPEND);
    assert_int_equal(osec_imap_parse((const uint8_t *)cmd, strlen(cmd) - 2, NULL, &scan, &c,
                                     &used),
                     OSEC_IMAP_INCOMPLETE);
    assert_int_equal(osec_imap_parse((const uint8_t *)cmd, strlen(cmd), NULL, &scan, &c, &used),
                     0);
    assert_int_equal(osec_imap_cmd_check(&c), 0);
    assert_int_equal(osec_imap_append_parse(&c, &ap), 0);
    assert_true(osec_slice_eq_cstr(ap.mailbox, "Sent Items"));
    assert_int_equal(ap.flags.system, OSEC_IMAP_FLAG_SEEN);
    assert_int_equal(ap.flags.nkeywords, 1);
    assert_true(osec_slice_eq_cstr(ap.flags.keyword[0], "$Forwarded"));
    assert_true(ap.has_date);
    assert_int_equal(ap.date, 1704446430); /* 2024-01-05 09:20:30 UTC */
    assert_true(osec_slice_eq_cstr(ap.message, "Hello world!"));
}

static void append_literal_plus(void **state)
{
    static const char cmd[] = "a APPEND INBOX {5+}\r\nhello\r\n";
    struct osec_imap_scan scan = OSEC_IMAP_SCAN_INIT;
    struct osec_imap_cmd c;
    struct osec_imap_append ap;
    size_t used;
    (void)state;

    cmd_a(&c);
    for (size_t n = 0; n < sizeof(cmd) - 1; n++)
        assert_int_equal(osec_imap_parse((const uint8_t *)cmd, n, NULL, &scan, &c, &used),
                         OSEC_IMAP_INCOMPLETE);
    assert_int_equal(osec_imap_parse((const uint8_t *)cmd, sizeof(cmd) - 1, NULL, &scan, &c,
                                     &used),
                     0);
    assert_true(osec_imap_arg_at(&c, 1)->nonsync);
    assert_int_equal(osec_imap_append_parse(&c, &ap), 0);
    assert_false(ap.has_date);
    assert_true(osec_slice_eq_cstr(ap.message, "hello"));
    /* APPEND shapes */
    parse_ok("a APPEND INBOX (\\Recent) {1+}\r\nx\r\n", &c);
    assert_int_equal(osec_imap_append_parse(&c, &ap), OSEC_EPARSE);
    parse_ok("a APPEND INBOX \"32-Jan-2024 10:20:30 +0100\" {1+}\r\nx\r\n", &c);
    assert_int_equal(osec_imap_append_parse(&c, &ap), OSEC_EPARSE);
    parse_ok("a APPEND INBOX \"x\"\r\n", &c);
    assert_int_equal(osec_imap_append_parse(&c, &ap), OSEC_EPARSE);
    parse_ok("a APPEND INBOX {1+}\r\nx {1+}\r\ny\r\n", &c);
    assert_int_equal(osec_imap_append_parse(&c, &ap), OSEC_EPARSE);
    /* a literal may hold CRLF and anything but NUL */
    parse_ok("a APPEND INBOX {8+}\r\n\r\n)(\"{\r\n\r\n", &c);
    assert_int_equal(osec_imap_append_parse(&c, &ap), 0);
    assert_true(osec_slice_eq_cstr(ap.message, "\r\n)(\"{\r\n"));
}

static void search_nested(void **state)
{
    struct osec_imap_cmd c;
    struct osec_imap_search s;
    const struct osec_imap_snode *n;
    (void)state;

    parse_ok("a UID SEARCH OR (FROM \"alice\" SINCE 1-Feb-2024) NOT (SEEN OR DELETED FLAGGED) "
             "UID 1:100\r\n",
             &c);
    assert_int_equal(osec_imap_cmd_check(&c), 0);
    assert_int_equal(osec_imap_search_parse(&c, &s), 0);
    n = s.node;
    assert_int_equal(s.count, 12);
    assert_int_equal(s.charset.len, 0);
    assert_int_equal(n[0].key, OSEC_IMAP_SK_AND);
    assert_int_equal(n[0].first, 1);
    assert_int_equal(n[1].key, OSEC_IMAP_SK_OR);
    assert_int_equal(n[1].next, 11);
    assert_int_equal(n[11].key, OSEC_IMAP_SK_UID);
    assert_true(osec_slice_eq_cstr(n[11].s1, "1:100"));
    assert_int_equal(n[11].next, 0);
    assert_int_equal(n[1].first, 2);
    assert_int_equal(n[2].key, OSEC_IMAP_SK_AND);
    assert_int_equal(n[2].first, 3);
    assert_int_equal(n[3].key, OSEC_IMAP_SK_FROM);
    assert_true(osec_slice_eq_cstr(n[3].s1, "alice"));
    assert_int_equal(n[3].next, 4);
    assert_int_equal(n[4].key, OSEC_IMAP_SK_SINCE);
    assert_int_equal(n[4].date, 1706745600); /* 2024-02-01 00:00 UTC */
    assert_int_equal(n[2].next, 5);
    assert_int_equal(n[5].key, OSEC_IMAP_SK_NOT);
    assert_int_equal(n[5].first, 6);
    assert_int_equal(n[6].key, OSEC_IMAP_SK_AND);
    assert_int_equal(n[6].first, 7);
    assert_int_equal(n[7].key, OSEC_IMAP_SK_SEEN);
    assert_int_equal(n[7].next, 8);
    assert_int_equal(n[8].key, OSEC_IMAP_SK_OR);
    assert_int_equal(n[8].first, 9);
    assert_int_equal(n[9].key, OSEC_IMAP_SK_DELETED);
    assert_int_equal(n[9].next, 10);
    assert_int_equal(n[10].key, OSEC_IMAP_SK_FLAGGED);
    assert_int_equal(n[10].next, 0);
    assert_int_equal(n[5].next, 0);

    parse_ok("a SEARCH CHARSET UTF-8 HEADER Message-ID \"<x@y>\" LARGER 1000 KEYWORD $Junk "
             "2:4,7 MODSEQ \"/flags/\\\\draft\" all 620162338 SUBJECT {6+}\r\nh\xc3\xa9llo\r\n",
             &c);
    assert_int_equal(osec_imap_search_parse(&c, &s), 0);
    n = s.node;
    assert_true(osec_slice_eq_cstr(s.charset, "UTF-8"));
    assert_int_equal(n[1].key, OSEC_IMAP_SK_HEADER);
    assert_true(osec_slice_eq_cstr(n[1].s1, "Message-ID"));
    assert_true(osec_slice_eq_cstr(n[1].s2, "<x@y>"));
    assert_int_equal(n[2].key, OSEC_IMAP_SK_LARGER);
    assert_int_equal(n[2].num, 1000);
    assert_int_equal(n[3].key, OSEC_IMAP_SK_KEYWORD);
    assert_int_equal(n[4].key, OSEC_IMAP_SK_SEQSET);
    assert_true(osec_slice_eq_cstr(n[4].s1, "2:4,7"));
    assert_int_equal(n[5].key, OSEC_IMAP_SK_MODSEQ);
    assert_int_equal(n[5].num, 620162338);
    assert_true(osec_slice_eq_cstr(n[5].s1, "/flags/\\draft"));
    assert_int_equal(n[6].key, OSEC_IMAP_SK_SUBJECT);
    assert_true(osec_slice_eq_cstr(n[6].s1, "h\xc3\xa9llo"));
    parse_ok("a SEARCH SENTBEFORE \"1-Mar-2020\" UNKEYWORD x undeleted\r\n", &c);
    assert_int_equal(osec_imap_search_parse(&c, &s), 0);
    assert_int_equal(s.node[1].date, 1583020800);
    assert_int_equal(s.node[3].key, OSEC_IMAP_SK_UNDELETED);
}

static void search_rejects(void **state)
{
    static const char *const bad[] = {
        "a SEARCH CHARSET UTF-8\r\n",   "a SEARCH NOT\r\n",
        "a SEARCH OR SEEN\r\n",         "a SEARCH ()\r\n",
        "a SEARCH (NOT)\r\n",           "a SEARCH BEFORE 31-Feb-2024\r\n",
        "a SEARCH FOO\r\n",             "a SEARCH LARGER x\r\n",
        "a SEARCH FROM\r\n",            "a SEARCH UID 0\r\n",
        "a SEARCH HEADER \"\" x\r\n",   "a SEARCH SINCE {10+}\r\n1-Jan-2024\r\n",
        "a SEARCH MODSEQ \"/x\" bogus 5\r\n",
    };
    struct osec_imap_cmd c;
    struct osec_imap_search s;
    char big[4096];
    size_t n;
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        parse_ok(bad[i], &c);
        if (osec_imap_search_parse(&c, &s) != OSEC_EPARSE)
            fail_msg("accepted: %s", bad[i]);
    }
    /* an empty SEARCH fails the shape check */
    parse_ok("a SEARCH\r\n", &c);
    assert_int_equal(osec_imap_cmd_check(&c), OSEC_EPARSE);
    assert_int_equal(osec_imap_search_parse(&c, &s), OSEC_EPARSE);
    /* 127 NOTs and a key fit; 128 do not */
    n = (size_t)snprintf(big, sizeof(big), "a SEARCH ");
    for (int i = 0; i < 126; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "NOT ");
    (void)snprintf(big + n, sizeof(big) - n, "SEEN\r\n");
    parse_ok(big, &c);
    assert_int_equal(osec_imap_search_parse(&c, &s), 0);
    assert_int_equal(s.count, OSEC_IMAP_SEARCH_MAX);
    (void)snprintf(big + n, sizeof(big) - n, "NOT SEEN\r\n");
    parse_ok(big, &c);
    assert_int_equal(osec_imap_search_parse(&c, &s), OSEC_EBOUNDS);
    /* 32 nested lists (the parser's limit) need no recursion either */
    n = (size_t)snprintf(big, sizeof(big), "a SEARCH ");
    for (int i = 0; i < 32; i++)
        big[n++] = '(';
    n += (size_t)snprintf(big + n, sizeof(big) - n, "OR SEEN NOT DRAFT");
    for (int i = 0; i < 32; i++)
        big[n++] = ')';
    (void)snprintf(big + n, sizeof(big) - n, "\r\n");
    parse_ok(big, &c);
    assert_int_equal(osec_imap_search_parse(&c, &s), 0);
    assert_int_equal(s.count, 1 + 32 + 4);
    assert_int_equal(s.node[32].first, 33);
    assert_int_equal(s.node[33].key, OSEC_IMAP_SK_OR);
    assert_int_equal(s.node[35].key, OSEC_IMAP_SK_NOT);
    assert_int_equal(s.node[35].first, 36);
}

static void store_flags(void **state)
{
    struct osec_imap_cmd c;
    struct osec_imap_store st;
    (void)state;

    parse_ok("a STORE 1:3 +FLAGS.SILENT (\\Seen)\r\n", &c);
    assert_int_equal(osec_imap_cmd_check(&c), 0);
    assert_int_equal(osec_imap_store_parse(&c, &st), 0);
    assert_true(osec_slice_eq_cstr(st.seqset, "1:3"));
    assert_int_equal(st.op, OSEC_IMAP_STORE_ADD);
    assert_true(st.silent);
    assert_int_equal(st.flags.system, OSEC_IMAP_FLAG_SEEN);
    assert_int_equal(st.flags.nkeywords, 0);
    parse_ok("a UID STORE 5 -flags \\Deleted $Junk \\deleted\r\n", &c);
    assert_int_equal(c.name, OSEC_IMAP_CMD_UID_STORE);
    assert_int_equal(osec_imap_store_parse(&c, &st), 0);
    assert_int_equal(st.op, OSEC_IMAP_STORE_REMOVE);
    assert_false(st.silent);
    assert_int_equal(st.flags.system, OSEC_IMAP_FLAG_DELETED);
    assert_int_equal(st.flags.nkeywords, 1);
    parse_ok("a STORE 1 (UNCHANGEDSINCE 200) FLAGS ()\r\n", &c);
    assert_int_equal(osec_imap_store_parse(&c, &st), 0);
    assert_int_equal(st.op, OSEC_IMAP_STORE_SET);
    assert_true(st.has_unchangedsince);
    assert_int_equal(st.unchangedsince, 200);
    assert_int_equal(st.flags.system, 0);
    parse_ok("a STORE 1 +FLAGS (\\Recent)\r\n", &c);
    assert_int_equal(osec_imap_store_parse(&c, &st), OSEC_EPARSE);
    parse_ok("a STORE 1 +FLAGS (\\Bogus)\r\n", &c);
    assert_int_equal(osec_imap_store_parse(&c, &st), OSEC_EPARSE);
    parse_ok("a STORE 1 FLAGGS (\\Seen)\r\n", &c);
    assert_int_equal(osec_imap_store_parse(&c, &st), OSEC_EPARSE);
    parse_ok("a STORE 1 FLAGS (\\Seen) x\r\n", &c);
    assert_int_equal(osec_imap_store_parse(&c, &st), OSEC_EPARSE);
    parse_ok("a STORE 1 FLAGS (\"quoted\")\r\n", &c);
    assert_int_equal(osec_imap_store_parse(&c, &st), OSEC_EPARSE);
    parse_ok("a STORE 1 FLAGS\r\n", &c);
    assert_int_equal(osec_imap_store_parse(&c, &st), OSEC_EPARSE);
}

static void acl_commands(void **state)
{
    struct osec_imap_cmd c;
    struct osec_imap_setacl acl;
    struct osec_buf b = OSEC_BUF_INIT(64);
    uint32_t r;
    int mod;
    (void)state;

    parse_ok("a SETACL INBOX bob@example.com +lrswi\r\n", &c);
    assert_int_equal(osec_imap_cmd_check(&c), 0);
    assert_int_equal(osec_imap_setacl_parse(&c, &acl), 0);
    assert_true(osec_slice_eq_cstr(acl.mailbox, "INBOX"));
    assert_true(osec_slice_eq_cstr(acl.identifier, "bob@example.com"));
    assert_false(acl.negative);
    assert_int_equal(acl.mod, 1);
    assert_int_equal(acl.rights, OSEC_IMAP_RIGHT_L | OSEC_IMAP_RIGHT_R | OSEC_IMAP_RIGHT_S |
                                     OSEC_IMAP_RIGHT_W | OSEC_IMAP_RIGHT_I);
    parse_ok("a SETACL \"Shared Folder\" -anyone \"\"\r\n", &c);
    assert_int_equal(osec_imap_setacl_parse(&c, &acl), 0);
    assert_true(acl.negative);
    assert_true(osec_slice_eq_cstr(acl.identifier, "anyone"));
    assert_int_equal(acl.mod, 0);
    assert_int_equal(acl.rights, 0);
    parse_ok("a DELETEACL INBOX bob\r\n", &c);
    assert_int_equal(osec_imap_setacl_parse(&c, &acl), 0);
    parse_ok("a MYRIGHTS INBOX\r\n", &c);
    assert_int_equal(osec_imap_setacl_parse(&c, &acl), 0);
    parse_ok("a SETACL INBOX bob\r\n", &c);
    assert_int_equal(osec_imap_setacl_parse(&c, &acl), OSEC_EPARSE);
    assert_int_equal(osec_imap_cmd_check(&c), OSEC_EPARSE);
    parse_ok("a SETACL INBOX - lr\r\n", &c);
    assert_int_equal(osec_imap_setacl_parse(&c, &acl), OSEC_EPARSE);

    assert_int_equal(osec_imap_rights_parse(osec_slice_cstr("cd"), NULL, &r), 0);
    assert_int_equal(r, OSEC_IMAP_RIGHT_K | OSEC_IMAP_RIGHT_X | OSEC_IMAP_RIGHT_E |
                            OSEC_IMAP_RIGHT_T);
    assert_int_equal(osec_imap_rights_parse(osec_slice_cstr("lrz"), &mod, &r), OSEC_EPARSE);
    assert_int_equal(osec_imap_rights_parse(osec_slice_cstr("+l"), NULL, &r), OSEC_EPARSE);
    assert_int_equal(osec_imap_rights_parse(osec_slice_cstr("-l9"), &mod, &r), 0);
    assert_int_equal(mod, -1);
    assert_int_equal(r, OSEC_IMAP_RIGHT_L | (1u << 20));
    assert_int_equal(osec_imap_rights_parse(osec_slice_cstr("lrswipkxtea"), NULL, &r), 0);
    assert_int_equal(osec_imap_rights_write(&b, r), 0);
    assert_string_equal(osec_buf_cstr(&b), "lrswipkxtecda");
    osec_buf_reset(&b);
    assert_int_equal(osec_imap_rights_write(&b, OSEC_IMAP_RIGHT_L | OSEC_IMAP_RIGHT_T | (1u << 11)),
                     0);
    assert_string_equal(osec_buf_cstr(&b), "ltd0");
    osec_buf_free(&b);
}

static void metadata_commands(void **state)
{
    struct osec_imap_cmd c;
    struct osec_imap_getmetadata g;
    struct osec_imap_setmetadata sm;
    static const char *const bad_entries[] = { "/private", "/private/", "/private/a//b",
                                               "/public/x", "/shared/x/", "/shared/a*",
                                               "/shared/a%b", "private/x", "/shared/a\x01" };
    (void)state;

    parse_ok("a GETMETADATA (MAXSIZE 1024 DEPTH infinity) \"INBOX\" (/private/comment "
             "/shared/vendor/x)\r\n",
             &c);
    assert_int_equal(osec_imap_cmd_check(&c), 0);
    assert_int_equal(osec_imap_getmetadata_parse(&c, &g), 0);
    assert_true(g.has_maxsize);
    assert_int_equal(g.maxsize, 1024);
    assert_int_equal(g.depth, -1);
    assert_true(osec_slice_eq_cstr(g.mailbox, "INBOX"));
    assert_int_equal(g.nentries, 2);
    assert_true(osec_slice_eq_cstr(g.entry[1], "/shared/vendor/x"));
    parse_ok("a GETMETADATA \"\" (DEPTH 1) /shared/comment\r\n", &c);
    assert_int_equal(osec_imap_getmetadata_parse(&c, &g), 0);
    assert_int_equal(g.mailbox.len, 0);
    assert_int_equal(g.depth, 1);
    assert_false(g.has_maxsize);
    assert_int_equal(g.nentries, 1);
    parse_ok("a GETMETADATA INBOX /private/comment\r\n", &c);
    assert_int_equal(osec_imap_getmetadata_parse(&c, &g), 0);
    assert_int_equal(g.depth, 0);
    parse_ok("a GETMETADATA (DEPTH 2) INBOX /private/comment\r\n", &c);
    assert_int_equal(osec_imap_getmetadata_parse(&c, &g), OSEC_EPARSE);
    parse_ok("a GETMETADATA (MAXSIZE 1 MAXSIZE 2) INBOX /private/comment\r\n", &c);
    assert_int_equal(osec_imap_getmetadata_parse(&c, &g), OSEC_EPARSE);
    for (size_t i = 0; i < sizeof(bad_entries) / sizeof(bad_entries[0]); i++)
        assert_int_equal(osec_imap_metadata_entry_check(osec_slice_cstr(bad_entries[i])),
                         OSEC_EPARSE);
    assert_int_equal(osec_imap_metadata_entry_check(osec_slice_cstr("/Private/a/b")), 0);

    parse_ok("a SETMETADATA INBOX (/private/comment {10+}\r\nMy comment /shared/x NIL)\r\n",
             &c);
    assert_int_equal(osec_imap_cmd_check(&c), 0);
    assert_int_equal(osec_imap_setmetadata_parse(&c, &sm), 0);
    assert_int_equal(sm.nentries, 2);
    assert_true(osec_slice_eq_cstr(sm.item[0].value, "My comment"));
    assert_false(sm.item[0].nil);
    assert_true(sm.item[1].nil);
    parse_ok("a SETMETADATA INBOX (/private/comment)\r\n", &c);
    assert_int_equal(osec_imap_setmetadata_parse(&c, &sm), OSEC_EPARSE);
    parse_ok("a SETMETADATA INBOX (/private/comment atom)\r\n", &c);
    assert_int_equal(osec_imap_setmetadata_parse(&c, &sm), OSEC_EPARSE);
}

static void command_shapes(void **state)
{
    static const char *const good[] = {
        "a CAPABILITY\r\n",      "a NOOP\r\n",        "a LOGOUT\r\n",
        "a STARTTLS\r\n",        "a CHECK\r\n",       "a CLOSE\r\n",
        "a EXPUNGE\r\n",         "a NAMESPACE\r\n",   "a IDLE\r\n",
        "a UNSELECT\r\n",        "a AUTHENTICATE PLAIN\r\n",
        "a AUTHENTICATE PLAIN dGVzdAB0ZXN0AHRlc3Q=\r\n",
        "a CREATE foo/bar\r\n",  "a DELETE foo\r\n", "a RENAME a b\r\n",
        "a SUBSCRIBE x\r\n",     "a UNSUBSCRIBE x\r\n",
        "a STATUS INBOX (MESSAGES UNSEEN UIDNEXT)\r\n", "a COPY 1:2 Trash\r\n",
        "a UID COPY 4 \"Deleted Items\"\r\n", "a UID EXPUNGE 3:5\r\n",
        "a GETACL INBOX\r\n",    "a LISTRIGHTS INBOX bob\r\n",
        "a ENABLE CONDSTORE\r\n", "a ID NIL\r\n",
        "a ID (\"name\" \"Thunderbird\" \"version\" \"115\")\r\n",
        "a LIST (SUBSCRIBED) \"\" * RETURN (CHILDREN)\r\n",
    };
    static const char *const bad[] = {
        "a NOOP x\r\n",        "a LOGIN a\r\n",        "a LOGIN a b c\r\n",
        "a SELECT\r\n",        "a SELECT (x)\r\n",     "a XYZZY\r\n",
        "a UID MOVE 1 x\r\n",  "a COPY x y\r\n",       "a STATUS INBOX MESSAGES\r\n",
        "a ENABLE\r\n",        "a UID EXPUNGE\r\n",    "a LSUB \"\"\r\n",
    };
    struct osec_imap_cmd c;
    (void)state;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        parse_ok(good[i], &c);
        if (c.name == OSEC_IMAP_CMD_UNKNOWN || osec_imap_cmd_check(&c) != 0)
            fail_msg("rejected: %s", good[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        parse_ok(bad[i], &c);
        if (osec_imap_cmd_check(&c) != OSEC_EPARSE)
            fail_msg("accepted: %s", bad[i]);
    }
    parse_ok("a uid move 1 x\r\n", &c);
    assert_true(c.uid);
    assert_int_equal(c.name, OSEC_IMAP_CMD_UNKNOWN);
    assert_string_equal(osec_imap_cmd_str(OSEC_IMAP_CMD_UID_SEARCH), "UID SEARCH");
    assert_string_equal(osec_imap_cmd_str(OSEC_IMAP_CMD_GETMETADATA), "GETMETADATA");
    assert_string_equal(osec_imap_cmd_str(OSEC_IMAP_CMD_UNKNOWN), "");
}

static void nested_lists(void **state)
{
    struct osec_imap_cmd c;
    struct osec_imap_iter it, in;
    const struct osec_imap_arg *a, *b;
    (void)state;

    parse_ok("t X (a (b \"c\") () {1+}\r\nd) e\r\n", &c);
    assert_int_equal(c.argc, 2);
    assert_int_equal(c.nnodes, 8);
    osec_imap_iter_init(&it, &c, NULL);
    a = osec_imap_iter_next(&it);
    assert_int_equal(a->type, OSEC_IMAP_LIST);
    assert_int_equal(a->count, 4);
    assert_true(val_is(osec_imap_iter_next(&it), "e"));
    assert_null(osec_imap_iter_next(&it));
    osec_imap_iter_init(&it, &c, a);
    assert_true(val_is(osec_imap_iter_next(&it), "a"));
    b = osec_imap_iter_next(&it);
    assert_int_equal(b->type, OSEC_IMAP_LIST);
    osec_imap_iter_init(&in, &c, b);
    assert_true(val_is(osec_imap_iter_next(&in), "b"));
    assert_int_equal(osec_imap_iter_next(&in)->type, OSEC_IMAP_QUOTED);
    assert_null(osec_imap_iter_next(&in));
    b = osec_imap_iter_next(&it);
    assert_int_equal(b->type, OSEC_IMAP_LIST);
    assert_int_equal(b->count, 0);
    b = osec_imap_iter_next(&it);
    assert_int_equal(b->type, OSEC_IMAP_LITERAL);
    assert_true(val_is(b, "d"));
    assert_null(osec_imap_iter_next(&it));
    /* atom classes */
    parse_ok("t X 42 1:* $ nil 18446744073709551616 \\Seen\r\n", &c);
    assert_int_equal(osec_imap_arg_at(&c, 0)->type, OSEC_IMAP_NUMBER);
    assert_int_equal(osec_imap_arg_at(&c, 0)->num, 42);
    assert_int_equal(osec_imap_arg_at(&c, 1)->type, OSEC_IMAP_SEQSET);
    assert_int_equal(osec_imap_arg_at(&c, 2)->type, OSEC_IMAP_SEQSET);
    assert_int_equal(osec_imap_arg_at(&c, 3)->type, OSEC_IMAP_NIL);
    assert_int_equal(osec_imap_arg_at(&c, 4)->type, OSEC_IMAP_ATOM); /* > 2^63 */
    assert_int_equal(osec_imap_arg_at(&c, 5)->type, OSEC_IMAP_ATOM);
}

/* ---- incremental delivery ------------------------------------------------------ */

static void same_cmd(const struct osec_imap_cmd *x, const struct osec_imap_cmd *y)
{
    assert_true(osec_slice_eq(x->tag, y->tag));
    assert_int_equal(x->name, y->name);
    assert_int_equal(x->uid, y->uid);
    assert_true(osec_slice_eq(x->name_text, y->name_text));
    assert_int_equal(x->argc, y->argc);
    assert_int_equal(x->nnodes, y->nnodes);
    assert_int_equal(x->len, y->len);
    for (size_t i = 0; i < x->nnodes; i++) {
        assert_int_equal(x->nodes[i].type, y->nodes[i].type);
        assert_int_equal(x->nodes[i].count, y->nodes[i].count);
        assert_int_equal(x->nodes[i].next, y->nodes[i].next);
        assert_int_equal(x->nodes[i].num, y->nodes[i].num);
        assert_int_equal(x->nodes[i].nonsync, y->nodes[i].nonsync);
        assert_true(osec_slice_eq(x->nodes[i].val, y->nodes[i].val));
    }
}

static void byte_by_byte(void **state)
{
    static const char *const cmds[] = {
        "a001 LOGIN \"us\\\\er\" {6}\r\npa ss!\r\n",
        "5 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From Subject)]<0.1024>)\r\n",
        "A4 APPEND Drafts (\\Draft) \" 5-Jan-2024 10:20:30 +0100\" {3}\r\nabc\r\n",
        "x SETMETADATA INBOX (/private/a {2+}\r\nxy /private/b {0}\r\n)\r\n",
        "a SEARCH OR (FROM x) NOT (SEEN) UID 1:*\r\n",
        "b STORE 1 +FLAGS.SILENT (\\Seen \\Flagged)\r\n",
    };
    const size_t nsync[] = { 1, 0, 1, 1, 0, 0 };
    struct osec_imap_cmd whole, inc;
    size_t used;
    (void)state;

    for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++) {
        struct osec_imap_scan scan = OSEC_IMAP_SCAN_INIT;
        const uint8_t *d = (const uint8_t *)cmds[k];
        size_t len = strlen(cmds[k]), conts = 0;
        int rc = OSEC_IMAP_INCOMPLETE;

        cmd_a(&whole);
        assert_int_equal(osec_imap_parse(d, len, NULL, NULL, &whole, &used), 0);
        cmd_b(&inc);
        for (size_t n = 0; n <= len; n++) {
            rc = osec_imap_parse(d, n, NULL, &scan, &inc, &used);
            if (rc == 0)
                break;
            conts += rc == OSEC_IMAP_NEED_CONT;
            if (rc != OSEC_IMAP_INCOMPLETE && rc != OSEC_IMAP_NEED_CONT)
                fail_msg("%s: rc=%d at %zu", cmds[k], rc, n);
        }
        assert_int_equal(rc, 0);
        assert_int_equal(used, len);
        assert_int_equal(conts, nsync[k]);
        same_cmd(&whole, &inc);
    }
}

static void pipelined(void **state)
{
    static const char in[] = "a NOOP\r\nb LOGIN x {2}\r\n";
    struct osec_imap_scan scan = OSEC_IMAP_SCAN_INIT;
    struct osec_imap_cmd c;
    size_t used, drop, off;
    (void)state;

    cmd_a(&c);
    assert_int_equal(osec_imap_parse((const uint8_t *)in, sizeof(in) - 1, NULL, &scan, &c, &used),
                     0);
    assert_int_equal(used, 8);
    assert_int_equal(c.name, OSEC_IMAP_CMD_NOOP);
    off = used;
    assert_int_equal(osec_imap_parse((const uint8_t *)in + off, sizeof(in) - 1 - off, NULL,
                                     &scan, &c, &used),
                     OSEC_IMAP_NEED_CONT);
    assert_true(osec_slice_eq_cstr(c.tag, "b"));
    /* the server refuses the literal: drop the command so far */
    drop = osec_imap_scan_abort(&scan);
    assert_int_equal(drop, sizeof(in) - 1 - off);
    assert_int_equal(scan.seg, 0);
}

/* ---- rejections ------------------------------------------------------------------- */

static void syntax_rejects(void **state)
{
    static const char nul[] = "a LOGIN \"us\0er\" x\r\n";
    static const char litnul[] = "a LOGIN {3+}\r\na\0b x\r\n";
    (void)state;

    expect_err("a LOGIN \"user pass\r\n", OSEC_EPARSE, "Unterminated quoted string", 20);
    expect_err("a+b NOOP\r\n", OSEC_EPARSE, "Invalid tag", 10);
    expect_err("* NOOP\r\n", OSEC_EPARSE, "Invalid tag", 8);
    expect_err("a{ NOOP\r\n", OSEC_EPARSE, "Invalid tag", 9);
    expect_err("a\xc3\xa9 NOOP\r\n", OSEC_EPARSE, "Invalid tag", 10);
    expect_err("a SELECT Inb\xc3\xb6x\r\n", OSEC_EPARSE, "Invalid characters in atom", 17);
    expect_err("a SELECT In\x01x\r\n", OSEC_EPARSE, "Invalid characters in atom", 15);
    expect_err_lim(nul, sizeof(nul) - 1, NULL, OSEC_EPARSE, "NUL in quoted string",
                   sizeof(nul) - 1);
    expect_err_lim(litnul, sizeof(litnul) - 1, NULL, OSEC_EPARSE, "NUL in literal", 0);
    expect_err("a LOGIN \"a\\b\" x\r\n", OSEC_EPARSE, "Invalid escape in quoted string", 17);
    expect_err("\r\n", OSEC_EPARSE, "Empty command line", 2);
    expect_err("a\r\n", OSEC_EPARSE, "Missing command name", 3);
    expect_err("a UID\r\n", OSEC_EPARSE, "Missing UID command", 7);
    expect_err("a NOOP\n", OSEC_EPARSE, "Bare LF", 7);
    expect_err("a NOOP \r\n", OSEC_EPARSE, "Trailing space", 9);
    expect_err("a LOGIN  x y\r\n", OSEC_EPARSE, "Double space", 14);
    expect_err("a FETCH 1 (FLAGS\r\n", OSEC_EPARSE, "Unbalanced parentheses", 18);
    expect_err("a FETCH 1 FLAGS)\r\n", OSEC_EPARSE, "Unexpected ')'", 18);
    expect_err("a FETCH 1 (FLAGS )\r\n", OSEC_EPARSE, "Unexpected space before ')'", 20);
    expect_err("a LOGIN \"x\"y z\r\n", OSEC_EPARSE, "Missing space between arguments", 16);
    expect_err("a LOGIN {x}\r\n", OSEC_EPARSE, "Invalid literal size", 13);
    expect_err("a LOGIN {3} x\r\n", OSEC_EPARSE, "Literal not at end of line", 15);
    expect_err("a LOGIN ~{3}\r\n", OSEC_EPARSE, "Invalid characters in atom", 14);
    expect_err("a LOGIN \"x\r\" y\r\n", OSEC_EPARSE, "CR in quoted string", 16);
    /* an error on a line ending in {n+}: the client sends the data anyway */
    expect_err("a LOGIN \"x {3+}\r\nabc\r\n", OSEC_EPARSE, "Unterminated quoted string", 0);
}

static void tag_kept_in_errors(void **state)
{
    struct osec_imap_cmd c;
    size_t used;
    static const char s[] = "A7 LOGIN {3}\r\nabc \"x\r\n";
    (void)state;

    cmd_a(&c);
    assert_int_equal(parse_n(s, sizeof(s) - 1, NULL, &c, &used), OSEC_EPARSE);
    assert_true(osec_slice_eq_cstr(c.tag, "A7"));
    assert_int_equal(c.name, OSEC_IMAP_CMD_LOGIN);
    assert_true(c.err_bad);
    assert_null(c.err_code);
    assert_int_equal(c.err_skip, sizeof(s) - 1);
    /* error text never contains input */
    assert_null(strstr(c.err_text, "abc"));
    cmd_a(&c);
    assert_int_equal(parse_n("+x NOOP\r\n", 9, NULL, &c, &used), OSEC_EPARSE);
    assert_int_equal(c.tag.len, 0); /* answer "* BAD" */
}

static void literal_limits(void **state)
{
    struct osec_imap_limits lim = OSEC_IMAP_LIMITS_DEFAULT;
    struct osec_imap_cmd c;
    size_t used;
    static const char big[] = "a APPEND INBOX {67108865}\r\n";
    static const char ok[] = "a APPEND INBOX {67108864}\r\n";
    (void)state;

    /* refused at the marker, before any data; a sync literal keeps framing */
    cmd_a(&c);
    assert_int_equal(parse_n(big, sizeof(big) - 1, NULL, &c, &used), OSEC_EBOUNDS);
    assert_false(c.err_bad);
    assert_string_equal(c.err_code, "TOOBIG");
    assert_string_equal(c.err_text, "Literal too big");
    assert_int_equal(c.err_skip, sizeof(big) - 1);
    assert_true(osec_slice_eq_cstr(c.tag, "a"));
    assert_int_equal(parse_n(ok, sizeof(ok) - 1, NULL, &c, &used), OSEC_IMAP_NEED_CONT);
    /* {n+}: the client is already sending: framing is lost */
    expect_err("a APPEND INBOX {67108865+}\r\n", OSEC_EBOUNDS, "Literal too big", 0);
    /* literals of other commands count against max_line */
    expect_err("a LOGIN {65536}\r\n", OSEC_EBOUNDS, "Literal too big", 17);
    lim.max_literal = 100;
    assert_int_equal(parse_n("a APPEND INBOX {60}\r\n", 21, &lim, &c, &used),
                     OSEC_IMAP_NEED_CONT);
    assert_null(c.err_text);
    /* the sum of one APPEND's literals is bounded */
    expect_err_lim("a APPEND INBOX {60+}\r\n0123456789012345678901234567890123456789"
                   "01234567890123456789 {41}\r\n",
                   89, &lim, OSEC_EBOUNDS, "Literal too big", 89);
    /* 20-digit sizes do not overflow anything */
    expect_err("a APPEND x {99999999999999999999}\r\n", OSEC_EPARSE, "Invalid literal size", 35);
}

static void line_limits(void **state)
{
    struct osec_imap_limits lim = OSEC_IMAP_LIMITS_DEFAULT;
    struct osec_imap_scan scan = OSEC_IMAP_SCAN_INIT;
    struct osec_imap_cmd c;
    char *buf = malloc(70000);
    size_t used;
    (void)state;

    assert_non_null(buf);
    memcpy(buf, "a LOGIN ", 8);
    memset(buf + 8, 'x', 70000 - 8);
    /* too long even before any CRLF arrives */
    expect_err_lim(buf, 70000, NULL, OSEC_EBOUNDS, "Command line too long", 0);
    cmd_a(&c);
    assert_int_equal(osec_imap_parse((uint8_t *)buf, 60000, NULL, &scan, &c, &used),
                     OSEC_IMAP_INCOMPLETE);
    assert_int_equal(scan.need, 60001);
    assert_int_equal(osec_imap_parse((uint8_t *)buf, 70000, NULL, &scan, &c, &used),
                     OSEC_EBOUNDS);
    /* exactly max_line bytes of command text are fine */
    lim.max_line = 20;
    memcpy(buf, "a LOGIN xxxx yyyyyyy\r\n", 22);
    cmd_a(&c);
    assert_int_equal(parse_n(buf, 22, &lim, &c, &used), 0);
    memcpy(buf, "a LOGIN xxxx yyyyyyyy\r\n", 23);
    expect_err_lim(buf, 23, &lim, OSEC_EBOUNDS, "Command line too long", 0);
    /* text after a literal counts too */
    expect_err_lim("a LOGIN {3+}\r\nabc yyyyyyyyyy\r\n", 30, &lim, OSEC_EBOUNDS,
                   "Command line too long", 0);
    free(buf);
}

static void deep_parentheses(void **state)
{
    size_t n = 10000, len = 10 + 2 * n + 2;
    char *buf = malloc(len);
    struct osec_imap_limits lim = OSEC_IMAP_LIMITS_DEFAULT;
    struct osec_imap_cmd c;
    size_t used;
    (void)state;

    assert_non_null(buf);
    memcpy(buf, "a FETCH 1 ", 10);
    memset(buf + 10, '(', n);
    memset(buf + 10 + n, ')', n);
    memcpy(buf + 10 + 2 * n, "\r\n", 2);
    expect_err_lim(buf, len, NULL, OSEC_EBOUNDS, "Too deeply nested parentheses", len);
    /* unclosed: the same answer once the line is in */
    memcpy(buf + 10 + n, "\r\n", 2);
    expect_err_lim(buf, 12 + n, NULL, OSEC_EBOUNDS, "Too deeply nested parentheses", 12 + n);
    /* 32 levels are fine, 33 are not */
    memcpy(buf + 10 + 32, "x", 1);
    memset(buf + 43, ')', 32);
    memcpy(buf + 75, "\r\n", 2);
    cmd_a(&c);
    assert_int_equal(parse_n(buf, 77, NULL, &c, &used), 0);
    assert_int_equal(c.nnodes, 34);
    lim.max_depth = 31;
    expect_err_lim(buf, 77, &lim, OSEC_EBOUNDS, "Too deeply nested parentheses", 77);
    free(buf);
}

static void too_many_args(void **state)
{
    char *buf = malloc(4096);
    size_t n = 0;
    struct osec_imap_cmd c;
    size_t used;
    (void)state;

    assert_non_null(buf);
    n += (size_t)snprintf(buf, 4096, "a X");
    for (int i = 0; i < 1024; i++)
        n += (size_t)snprintf(buf + n, 4096 - n, " %c", 'a' + i % 26);
    memcpy(buf + n, "\r\n", 2);
    cmd_a(&c);
    assert_int_equal(parse_n(buf, n + 2, NULL, &c, &used), 0);
    assert_int_equal(c.argc, 1024);
    memcpy(buf + n, " z\r\n", 4);
    expect_err_lim(buf, n + 4, NULL, OSEC_EBOUNDS, "Too many arguments", n + 4);
    /* a caller with fewer nodes gets the same clean error */
    osec_imap_cmd_init(&c, nodes_a, 4, arena_a, sizeof(arena_a));
    assert_int_equal(parse_n("a X 1 2 3 4 5\r\n", 15, NULL, &c, &used), OSEC_EBOUNDS);
    /* and a caller without an arena cannot take escapes */
    osec_imap_cmd_init(&c, nodes_a, NODES, NULL, 0);
    assert_int_equal(parse_n("a X \"\\\\\"\r\n", 10, NULL, &c, &used), OSEC_EBOUNDS);
    assert_int_equal(parse_n("a X \"plain\"\r\n", 13, NULL, &c, &used), 0);
    free(buf);
}

/* ---- sequence sets, dates, mailbox names ---------------------------------------- */

static void sequence_sets(void **state)
{
    static const char *const good[] = { "1", "1:*", "*", "*:*", "1,5,7:9", "4294967295",
                                        "10:2", "1:*,5" };
    static const char *const bad[] = { "0", "1:", ":1", "1,,2", "abc", "1:0", "01", "",
                                       "4294967296", "1,", "$", "1:2:3", "1 2", "-1" };
    struct osec_imap_seqiter it;
    uint32_t lo, hi;
    (void)state;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (osec_imap_seqset_check(osec_slice_cstr(good[i]), 0) != 0)
            fail_msg("rejected %s", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (osec_imap_seqset_check(osec_slice_cstr(bad[i]), 0) != OSEC_EPARSE)
            fail_msg("accepted %s", bad[i]);
    assert_int_equal(osec_imap_seqset_check(osec_slice_cstr("$"), OSEC_IMAP_SEQ_DOLLAR), 0);
    osec_imap_seqiter_init(&it, osec_slice_cstr("10:2,*,5"));
    assert_int_equal(osec_imap_seqiter_next(&it, 40, &lo, &hi), 1);
    assert_int_equal(lo, 2);
    assert_int_equal(hi, 10);
    assert_int_equal(osec_imap_seqiter_next(&it, 40, &lo, &hi), 1);
    assert_int_equal(lo, 40);
    assert_int_equal(hi, 40);
    assert_int_equal(osec_imap_seqiter_next(&it, 40, &lo, &hi), 1);
    assert_int_equal(lo, 5);
    assert_int_equal(osec_imap_seqiter_next(&it, 40, &lo, &hi), 0);
    assert_true(osec_imap_seqset_contains(osec_slice_cstr("1:3,7:*"), 9, 8));
    assert_false(osec_imap_seqset_contains(osec_slice_cstr("1:3,7:*"), 9, 5));
    assert_false(osec_imap_seqset_contains(osec_slice_cstr("x"), 9, 5));
}

static void dates(void **state)
{
    static const char *const bad[] = { "31-Feb-2024", "29-Feb-2023", "1-Foo-2024", "1-Jan-24",
                                       "001-Jan-2024", "0-Jan-2024", "1-Jan-1899", "1 Jan 2024",
                                       "", "1-Jan-2024x", "x1-Jan-2024" };
    int64_t t;
    (void)state;

    assert_int_equal(osec_imap_date_parse(osec_slice_cstr("1-Feb-2024"), &t), 0);
    assert_int_equal(t, 1706745600);
    assert_int_equal(osec_imap_date_parse(osec_slice_cstr("29-feb-2024"), &t), 0);
    assert_int_equal(t, 1709164800);
    assert_int_equal(osec_imap_date_parse(osec_slice_cstr("01-Jan-1970"), &t), 0);
    assert_int_equal(t, 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (osec_imap_date_parse(osec_slice_cstr(bad[i]), &t) != OSEC_EPARSE)
            fail_msg("accepted %s", bad[i]);
    /* RFC 3501's example */
    assert_int_equal(osec_imap_datetime_parse(osec_slice_cstr("17-Jul-1996 02:44:25 -0700"), &t),
                     0);
    assert_int_equal(t, 837596665);
    assert_int_equal(osec_imap_datetime_parse(osec_slice_cstr(" 5-Jan-2024 10:20:30 +0100"), &t),
                     0);
    assert_int_equal(t, 1704446430);
    assert_int_equal(osec_imap_datetime_parse(osec_slice_cstr("05-Jan-2024 10:20:30 +2400"), &t),
                     OSEC_EPARSE);
    assert_int_equal(osec_imap_datetime_parse(osec_slice_cstr("5-Jan-2024 10:20:30 +0100"), &t),
                     OSEC_EPARSE);
    assert_int_equal(osec_imap_datetime_parse(osec_slice_cstr("05-Jan-2024 24:00:00 +0000"), &t),
                     OSEC_EPARSE);
}

static void mailbox_names(void **state)
{
    static const char *const bad[] = { "&U,BTFw", "&AGE-", "&2D0-", "&3gA-", "&U,BTFx-",
                                       "&Jjo!-", "Inb\xc3\xb6x", "&AAA-", "", "a\tb", "&-&",
                                       "&Jjo", "&Jjo-&Jjo-" };
    struct osec_buf b = OSEC_BUF_INIT(4096);
    (void)state;

    assert_int_equal(osec_imap_mailbox_decode(osec_slice_cstr("~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
                                              &b),
                     0);
    assert_string_equal(osec_buf_cstr(&b), "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/"
                                           "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
    osec_buf_reset(&b);
    assert_int_equal(osec_imap_mailbox_encode(osec_slice_cstr("~peter/mail/\xe5\x8f\xb0\xe5\x8c"
                                                              "\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8"
                                                              "\xaa\x9e"),
                                              &b),
                     0);
    assert_string_equal(osec_buf_cstr(&b), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
    osec_buf_reset(&b);
    assert_int_equal(osec_imap_mailbox_decode(osec_slice_cstr("A&-B &2D3eAA-"), &b), 0);
    assert_string_equal(osec_buf_cstr(&b), "A&B \xf0\x9f\x98\x80");
    osec_buf_reset(&b);
    assert_int_equal(osec_imap_mailbox_encode(osec_slice_cstr("A&B \xf0\x9f\x98\x80"), &b), 0);
    assert_string_equal(osec_buf_cstr(&b), "A&-B &2D3eAA-");
    osec_buf_reset(&b);
    assert_int_equal(osec_imap_mailbox_decode(osec_slice_cstr("iNbOx"), &b), 0);
    assert_string_equal(osec_buf_cstr(&b), "INBOX");
    osec_buf_reset(&b);
    assert_int_equal(osec_imap_mailbox_decode(osec_slice_cstr("&Jjo-&-&Jjo-"), &b), 0);
    assert_string_equal(osec_buf_cstr(&b), "\xe2\x98\xba&\xe2\x98\xba");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        osec_buf_reset(&b);
        if (osec_imap_mailbox_decode(osec_slice_cstr(bad[i]), &b) != OSEC_EPARSE)
            fail_msg("accepted %s", bad[i]);
        assert_int_equal(b.len, 0); /* nothing half-decoded left behind */
    }
    osec_buf_reset(&b);
    assert_int_equal(osec_imap_mailbox_encode(osec_slice_cstr("a\x01"), &b), OSEC_EINVAL);
    assert_int_equal(osec_imap_mailbox_encode(osec_slice_cstr("\xc3("), &b), OSEC_EINVAL);
    assert_int_equal(b.len, 0);
    osec_buf_free(&b);
}

/* ---- continuation lines -------------------------------------------------------- */

static void continuation_lines(void **state)
{
    struct osec_slice line;
    struct osec_buf out;
    size_t used;
    bool cancel;
    (void)state;

    assert_int_equal(osec_imap_line_parse((const uint8_t *)"DONE\r\nx", 7, 64, &line, &used), 0);
    assert_int_equal(used, 6);
    assert_int_equal(osec_imap_idle_done(line), 0);
    assert_int_equal(osec_imap_idle_done(osec_slice_cstr("done")), 0);
    assert_int_equal(osec_imap_idle_done(osec_slice_cstr("DONE x")), OSEC_EPARSE);
    assert_int_equal(osec_imap_line_parse((const uint8_t *)"DON", 3, 64, &line, &used),
                     OSEC_IMAP_INCOMPLETE);
    assert_int_equal(osec_imap_line_parse((const uint8_t *)"DONE\n", 5, 64, &line, &used),
                     OSEC_EPARSE);
    assert_int_equal(osec_imap_line_parse((const uint8_t *)"abcdef", 6, 4, &line, &used),
                     OSEC_EBOUNDS);
    assert_int_equal(osec_imap_line_parse((const uint8_t *)"abcd\r\n", 6, 4, &line, &used), 0);
    assert_int_equal(osec_imap_line_parse((const uint8_t *)"a\0b\r\n", 5, 64, &line, &used),
                     OSEC_EPARSE);
    osec_buf_init_secret(&out, 256);
    assert_int_equal(osec_imap_auth_response(osec_slice_cstr("dGVzdAB0ZXN0AHRlc3Q="), &out,
                                             &cancel),
                     0);
    assert_false(cancel);
    assert_int_equal(out.len, 14);
    assert_memory_equal(out.data, "test\0test\0test", 14);
    osec_buf_reset(&out);
    assert_int_equal(osec_imap_auth_response(osec_slice_cstr("*"), &out, &cancel), 0);
    assert_true(cancel);
    assert_int_equal(osec_imap_auth_response(osec_slice_cstr("dGVz dA=="), &out, &cancel),
                     OSEC_EPARSE);
    assert_int_equal(osec_imap_auth_response(osec_slice_cstr("!!"), &out, &cancel), OSEC_EPARSE);
    osec_buf_free(&out);
}

/* ---- writer ---------------------------------------------------------------------- */

static void writer_status(void **state)
{
    struct osec_buf b = OSEC_BUF_INIT(4096);
    (void)state;

    assert_int_equal(osec_imap_write_tagged(&b, osec_slice_cstr("a1"), OSEC_IMAP_OK,
                                            "READ-WRITE", "SELECT completed"),
                     0);
    assert_int_equal(osec_imap_write_tagged(&b, osec_slice_cstr("a2"), OSEC_IMAP_NO, NULL,
                                            "Permission denied"),
                     0);
    assert_int_equal(osec_imap_write_status(&b, OSEC_IMAP_BYE, NULL, "Logging out"), 0);
    assert_int_equal(osec_imap_write_untagged(&b, "3 EXISTS"), 0);
    assert_int_equal(osec_imap_write_continue(&b, "Ready"), 0);
    assert_int_equal(osec_imap_write_continue(&b, ""), 0);
    assert_string_equal(osec_buf_cstr(&b), "a1 OK [READ-WRITE] SELECT completed\r\n"
                                           "a2 NO Permission denied\r\n"
                                           "* BYE Logging out\r\n"
                                           "* 3 EXISTS\r\n"
                                           "+ Ready\r\n"
                                           "+ \r\n");
    osec_buf_reset(&b);
    /* injection attempts leave the buffer untouched */
    assert_int_equal(osec_imap_write_tagged(&b, osec_slice_cstr("a1"), OSEC_IMAP_OK, NULL,
                                            "x\r\na2 OK y"),
                     OSEC_EINVAL);
    assert_int_equal(osec_imap_write_tagged(&b, osec_slice_cstr("a1"), OSEC_IMAP_OK, "X] Y",
                                            "z"),
                     OSEC_EINVAL);
    assert_int_equal(osec_imap_write_tagged(&b, osec_slice_cstr("a 1"), OSEC_IMAP_OK, NULL, "z"),
                     OSEC_EINVAL);
    assert_int_equal(osec_imap_write_tagged(&b, osec_slice_cstr("a1"), OSEC_IMAP_BYE, NULL, "z"),
                     OSEC_EINVAL);
    assert_int_equal(osec_imap_write_tagged(&b, osec_slice_cstr("a1"), OSEC_IMAP_OK, NULL, ""),
                     OSEC_EINVAL);
    assert_int_equal(osec_imap_write_untagged(&b, "1 EXISTS\n"), OSEC_EINVAL);
    assert_int_equal(osec_imap_write_continue(&b, "\r"), OSEC_EINVAL);
    assert_int_equal(b.len, 0);
    /* a full buffer fails cleanly too */
    b.max = 10;
    assert_int_equal(osec_imap_write_tagged(&b, osec_slice_cstr("a1"), OSEC_IMAP_OK, NULL,
                                            "done done done"),
                     OSEC_EBOUNDS);
    assert_int_equal(b.len, 0);
    osec_buf_free(&b);
}

static void writer_values(void **state)
{
    struct osec_buf b = OSEC_BUF_INIT(4096);
    struct osec_imap_flags f = { OSEC_IMAP_FLAG_SEEN | OSEC_IMAP_FLAG_RECENT, 1,
                                 { { (const uint8_t *)"$Junk", 5 } } };
    struct osec_slice s;
    (void)state;

    assert_int_equal(osec_imap_write_string(&b, osec_slice_cstr("a \"q\" \\")), 0);
    assert_int_equal(osec_buf_putc(&b, ' '), 0);
    assert_int_equal(osec_imap_write_string(&b, osec_slice_cstr("h\xc3\xa9")), 0);
    assert_int_equal(osec_buf_putc(&b, ' '), 0);
    assert_int_equal(osec_imap_write_string(&b, osec_slice_cstr("a\r\nb")), 0);
    assert_int_equal(osec_buf_putc(&b, ' '), 0);
    assert_int_equal(osec_imap_write_astring(&b, osec_slice_cstr("INBOX")), 0);
    assert_int_equal(osec_buf_putc(&b, ' '), 0);
    assert_int_equal(osec_imap_write_astring(&b, osec_slice_cstr("nil")), 0);
    assert_int_equal(osec_buf_putc(&b, ' '), 0);
    assert_int_equal(osec_imap_write_astring(&b, osec_slice_cstr("")), 0);
    assert_int_equal(osec_buf_putc(&b, ' '), 0);
    assert_int_equal(osec_imap_write_nstring(&b, NULL), 0);
    assert_int_equal(osec_buf_putc(&b, ' '), 0);
    assert_int_equal(osec_imap_write_flags(&b, &f), 0);
    assert_int_equal(osec_buf_putc(&b, ' '), 0);
    assert_int_equal(osec_imap_write_datetime(&b, 1704446430), 0);
    assert_string_equal(osec_buf_cstr(&b), "\"a \\\"q\\\" \\\\\" {3}\r\nh\xc3\xa9 {4}\r\na\r\nb "
                                           "INBOX \"nil\" \"\" NIL (\\Seen \\Recent $Junk) "
                                           "\"05-Jan-2024 09:20:30 +0000\"");
    osec_buf_reset(&b);
    assert_int_equal(osec_imap_write_datetime(&b, -1), OSEC_EINVAL);
    /* what we quote parses back to the same bytes */
    s = osec_slice_cstr("x \"y\\z\"");
    assert_int_equal(osec_buf_append_str(&b, "t X "), 0);
    assert_int_equal(osec_imap_write_string(&b, s), 0);
    assert_int_equal(osec_buf_append_str(&b, "\r\n"), 0);
    {
        struct osec_imap_cmd c;

        parse_ok(osec_buf_cstr(&b), &c);
        assert_true(osec_slice_eq(osec_imap_arg_at(&c, 0)->val, s));
    }
    osec_buf_free(&b);
}

static void writer_list_fetch(void **state)
{
    struct osec_buf b = OSEC_BUF_INIT(4096);
    struct osec_imap_fetchw w;
    struct osec_imap_flags f = { OSEC_IMAP_FLAG_SEEN, 0, { { NULL, 0 } } };
    struct osec_imap_cmd c;
    struct osec_imap_fetch fr;
    (void)state;

    assert_int_equal(osec_imap_write_list(&b, "LIST", "\\HasNoChildren", '/',
                                          osec_slice_cstr("INBOX")),
                     0);
    assert_int_equal(osec_imap_write_list(&b, "LSUB", NULL, 0,
                                          osec_slice_cstr("\xe5\x8f\xb0 x")),
                     0);
    assert_int_equal(osec_imap_write_list(&b, "LIST", "\\Noselect \\HasChildren", '\\',
                                          osec_slice_cstr("a&b")),
                     0);
    assert_string_equal(osec_buf_cstr(&b), "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
                                           "* LSUB () NIL \"&U,A- x\"\r\n"
                                           "* LIST (\\Noselect \\HasChildren) \"\\\\\" a&-b\r\n");
    osec_buf_reset(&b);
    assert_int_equal(osec_imap_write_list(&b, "LIST", "\\X\r\n", '/', osec_slice_cstr("a")),
                     OSEC_EINVAL);
    assert_int_equal(osec_imap_write_list(&b, "LIST", "\\X ", '/', osec_slice_cstr("a")),
                     OSEC_EINVAL);
    assert_int_equal(osec_imap_write_list(&b, "XLIST", NULL, '/', osec_slice_cstr("a")),
                     OSEC_EINVAL);
    assert_int_equal(osec_imap_write_list(&b, "LIST", NULL, '\n', osec_slice_cstr("a")),
                     OSEC_EINVAL);
    assert_int_equal(b.len, 0);

    parse_ok("5 UID FETCH 7 (BODY.PEEK[HEADER.FIELDS (From Subject)]<0.1024>)\r\n", &c);
    assert_int_equal(osec_imap_fetch_parse(&c, &fr), 0);
    assert_int_equal(osec_imap_fetchw_begin(&w, &b, 12), 0);
    assert_int_equal(osec_imap_fetchw_number(&w, "UID", 7), 0);
    assert_int_equal(osec_imap_fetchw_flags(&w, &f), 0);
    assert_int_equal(osec_imap_fetchw_number(&w, "RFC822.SIZE", 44), 0);
    assert_int_equal(osec_imap_fetchw_number(&w, "MODSEQ", 9), 0);
    assert_int_equal(osec_imap_fetchw_internaldate(&w, 0), 0);
    assert_int_equal(osec_imap_fetchw_section(&w, &fr.section[0],
                                              osec_slice_cstr("From: a\r\n\r\n")),
                     0);
    assert_int_equal(osec_imap_fetchw_end(&w), 0);
    assert_string_equal(osec_buf_cstr(&b),
                        "* 12 FETCH (UID 7 FLAGS (\\Seen) RFC822.SIZE 44 MODSEQ (9) "
                        "INTERNALDATE \"01-Jan-1970 00:00:00 +0000\" "
                        "BODY[HEADER.FIELDS (From Subject)]<0> {11}\r\nFrom: a\r\n\r\n)\r\n");
    /* a failing item removes the whole response */
    assert_int_equal(osec_imap_fetchw_begin(&w, &b, 13), 0);
    assert_int_equal(osec_imap_fetchw_number(&w, "UID", 8), 0);
    assert_int_equal(osec_imap_fetchw_number(&w, "BAD ITEM", 1), OSEC_EINVAL);
    assert_int_equal(osec_imap_fetchw_end(&w), OSEC_EINVAL);
    assert_int_equal(osec_imap_fetchw_begin(&w, &b, 0), OSEC_EINVAL);
    assert_int_equal(osec_imap_fetchw_number(&w, "UID", 1), OSEC_EINVAL);
    assert_null(strstr(osec_buf_cstr(&b), "* 13"));
    osec_buf_free(&b);
}

static void bad_arguments(void **state)
{
    struct osec_imap_cmd c;
    size_t used;
    (void)state;

    cmd_a(&c);
    assert_int_equal(osec_imap_parse(NULL, 5, NULL, NULL, &c, &used), OSEC_EINVAL);
    assert_int_equal(osec_imap_parse((const uint8_t *)"x", 1, NULL, NULL, NULL, &used),
                     OSEC_EINVAL);
    assert_int_equal(osec_imap_parse(NULL, 0, NULL, NULL, &c, &used), OSEC_IMAP_INCOMPLETE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(login_quoted),       cmocka_unit_test(login_literal),
        cmocka_unit_test(select_and_list),    cmocka_unit_test(uid_fetch_sections),
        cmocka_unit_test(fetch_rejects),      cmocka_unit_test(append_sync_literal),
        cmocka_unit_test(append_literal_plus), cmocka_unit_test(search_nested),
        cmocka_unit_test(search_rejects),     cmocka_unit_test(store_flags),
        cmocka_unit_test(acl_commands),       cmocka_unit_test(metadata_commands),
        cmocka_unit_test(command_shapes),     cmocka_unit_test(nested_lists),
        cmocka_unit_test(byte_by_byte),       cmocka_unit_test(pipelined),
        cmocka_unit_test(syntax_rejects),     cmocka_unit_test(tag_kept_in_errors),
        cmocka_unit_test(literal_limits),     cmocka_unit_test(line_limits),
        cmocka_unit_test(deep_parentheses),   cmocka_unit_test(too_many_args),
        cmocka_unit_test(sequence_sets),      cmocka_unit_test(dates),
        cmocka_unit_test(mailbox_names),      cmocka_unit_test(continuation_lines),
        cmocka_unit_test(writer_status),      cmocka_unit_test(writer_values),
        cmocka_unit_test(writer_list_fetch),  cmocka_unit_test(bad_arguments),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
