/* Unit tests for lib/mail: sealing at rest with its row binding, RFC 5322 /
 * MIME views (sections, ENVELOPE, BODYSTRUCTURE), SEARCH evaluation, the
 * CPM layout rules and S/MIME protection. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/pem.h>

#include "omasec/buf.h"
#include "omasec/error.h"
#include "omasec/imap.h"
#include "omasec/mail.h"
#include "omasec/pki.h"
#include "omasec/seal.h"

static const char simple[] =
    "From: \"Bob B.\" <bob@example.com>\r\n"
    "To: alice@example.com, Carol <carol@example.org>\r\n"
    "Subject: Lunch\r\n"
    " tomorrow\r\n"
    "Date: Tue, 1 Mar 2022 10:00:00 +0100\r\n"
    "Message-ID: <m1@example.com>\r\n"
    "\r\n"
    "See you at noon.\r\n";

static const char multi[] =
    "From: bob@example.com\r\n"
    "Subject: parts\r\n"
    "Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--XX\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "part one\r\n"
    "--XX\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Subject: inner\r\n"
    "\r\n"
    "inner body\r\n"
    "--XX--\r\n";

static struct osec_slice S(const char *s)
{
    return osec_slice_cstr(s);
}

/* ---- sealing ---------------------------------------------------------------------- */

static void seal_binding(void **state)
{
    uint8_t key[OSEC_KEY_LEN];
    struct osec_master *m = NULL;
    struct osec_buf sealed, pt;

    (void)state;
    memset(key, 7, sizeof(key));
    assert_int_equal(osec_master_from_bytes(key, sizeof(key), 1, &m), 0);
    osec_buf_init(&sealed, 4096);
    osec_buf_init(&pt, 4096);
    assert_int_equal(osec_mail_seal(m, "alice", 5, 9, (const uint8_t *)simple, strlen(simple),
                                    &sealed), 0);
    assert_int_equal(sealed.len, strlen(simple) + OSEC_SEAL_OVERHEAD);
    assert_null(memmem(sealed.data, sealed.len, "Lunch", 5));
    assert_int_equal(osec_mail_unseal(m, "alice", 5, 9, sealed.data, sealed.len, &pt), 0);
    assert_memory_equal(pt.data, simple, strlen(simple));
    /* another row, mailbox or owner: never opens */
    osec_buf_reset(&pt);
    assert_int_equal(osec_mail_unseal(m, "alice", 5, 10, sealed.data, sealed.len, &pt),
                     OSEC_EINTEGRITY);
    assert_int_equal(osec_mail_unseal(m, "alice", 6, 9, sealed.data, sealed.len, &pt),
                     OSEC_EINTEGRITY);
    assert_int_equal(osec_mail_unseal(m, "bob", 5, 9, sealed.data, sealed.len, &pt),
                     OSEC_EINTEGRITY);
    sealed.data[sealed.len - 30] ^= 1;
    assert_int_equal(osec_mail_unseal(m, "alice", 5, 9, sealed.data, sealed.len, &pt),
                     OSEC_EINTEGRITY);
    assert_int_equal(osec_mail_unseal(m, "alice", 5, 9, sealed.data, 10, &pt), OSEC_EINTEGRITY);
    assert_int_equal(osec_mail_seal(m, "", 5, 9, sealed.data, 1, &pt), OSEC_EINVAL);
    assert_int_equal(osec_mail_seal(m, "alice", 0, 9, sealed.data, 1, &pt), OSEC_EINVAL);
    osec_buf_free(&sealed);
    osec_buf_free(&pt);
    osec_master_free(&m);
}

/* ---- header views ------------------------------------------------------------------ */

static void split_and_fields(void **state)
{
    struct osec_slice h, b, v;
    struct osec_buf u;

    (void)state;
    osec_mail_split(S(simple), &h, &b);
    assert_true(osec_slice_eq_cstr(b, "See you at noon.\r\n"));
    assert_int_equal(osec_mail_header_get(h, "subject", &v), 1);
    osec_buf_init(&u, 256);
    assert_int_equal(osec_mail_unfold(v, &u), 0);
    assert_string_equal(osec_buf_cstr(&u), "Lunch tomorrow");
    osec_buf_free(&u);
    assert_int_equal(osec_mail_header_get(h, "Cc", &v), 0);
    /* LF-only mail and a message without a body */
    osec_mail_split(S("A: 1\nB: 2\n\nbody"), &h, &b);
    assert_true(osec_slice_eq_cstr(b, "body"));
    osec_mail_split(S("A: 1\r\nno empty line"), &h, &b);
    assert_int_equal(b.len, 0);
    assert_int_equal(h.len, strlen("A: 1\r\nno empty line"));
    osec_mail_split(S("\r\nbody only"), &h, &b);
    assert_true(osec_slice_eq_cstr(b, "body only"));
}

static void contains_and_dates(void **state)
{
    int64_t t = 0;

    (void)state;
    assert_true(osec_mail_contains(S("Hello World"), S("o w")));
    assert_true(osec_mail_contains(S("abc"), S("")));
    assert_false(osec_mail_contains(S("ab"), S("abc")));
    assert_int_equal(osec_mail_date_parse(S(" Tue, 1 Mar 2022 10:00:00 +0100\r\n"), &t), 0);
    assert_int_equal(t, 1646125200); /* 2022-03-01T09:00:00Z */
    assert_int_equal(osec_mail_date_parse(S("1 Mar 22 10:00 -0030"), &t), 0);
    assert_int_equal(t, 1646130600);
    assert_int_equal(osec_mail_date_parse(S("Tue, 32 Mar 2022 10:00:00 +0000"), &t), OSEC_EPARSE);
    assert_int_equal(osec_mail_date_parse(S("1 Foo 2022 10:00:00"), &t), OSEC_EPARSE);
    assert_int_equal(osec_mail_date_parse(S(""), &t), OSEC_EPARSE);
}

static const struct osec_imap_section *section_of(struct osec_imap_cmd *cmd,
                                                  struct osec_imap_fetch *f, const char *line)
{
    static struct osec_imap_arg nodes[64];
    static uint8_t arena[4096];
    size_t used = 0;

    osec_imap_cmd_init(cmd, nodes, 64, arena, sizeof(arena));
    assert_int_equal(osec_imap_parse((const uint8_t *)line, strlen(line), NULL, NULL, cmd, &used), 0);
    assert_int_equal(osec_imap_fetch_parse(cmd, f), 0);
    assert_int_equal(f->nsections, 1);
    return &f->section[0];
}

static void sections(void **state)
{
    struct osec_imap_cmd cmd;
    struct osec_imap_fetch f;
    struct osec_slice d;
    struct osec_buf tmp;

    (void)state;
    osec_buf_init(&tmp, 4096);
    assert_int_equal(osec_mail_section(S(simple), section_of(&cmd, &f, "a FETCH 1 BODY[HEADER.FIELDS (subject to)]\r\n"), &d, &tmp), 0);
    assert_true(osec_slice_eq_cstr(d, "To: alice@example.com, Carol <carol@example.org>\r\n"
                                      "Subject: Lunch\r\n tomorrow\r\n\r\n"));
    osec_buf_reset(&tmp);
    assert_int_equal(osec_mail_section(S(simple), section_of(&cmd, &f, "a FETCH 1 BODY[HEADER.FIELDS.NOT (From To Subject Date)]\r\n"), &d, &tmp), 0);
    assert_true(osec_slice_eq_cstr(d, "Message-ID: <m1@example.com>\r\n\r\n"));
    assert_int_equal(osec_mail_section(S(simple), section_of(&cmd, &f, "a FETCH 1 BODY[TEXT]\r\n"), &d, &tmp), 0);
    assert_true(osec_slice_eq_cstr(d, "See you at noon.\r\n"));
    assert_int_equal(osec_mail_section(S(simple), section_of(&cmd, &f, "a FETCH 1 BODY[1]\r\n"), &d, &tmp), 0);
    assert_true(osec_slice_eq_cstr(d, "See you at noon.\r\n"));
    assert_int_equal(osec_mail_section(S(multi), section_of(&cmd, &f, "a FETCH 1 BODY[1]\r\n"), &d, &tmp), 0);
    assert_true(osec_slice_eq_cstr(d, "part one"));
    assert_int_equal(osec_mail_section(S(multi), section_of(&cmd, &f, "a FETCH 1 BODY[1.MIME]\r\n"), &d, &tmp), 0);
    assert_true(osec_slice_eq_cstr(d, "Content-Type: text/plain; charset=utf-8\r\n\r\n"));
    assert_int_equal(osec_mail_section(S(multi), section_of(&cmd, &f, "a FETCH 1 BODY[2.HEADER]\r\n"), &d, &tmp), 0);
    assert_true(osec_slice_eq_cstr(d, "Subject: inner\r\n\r\n"));
    assert_int_equal(osec_mail_section(S(multi), section_of(&cmd, &f, "a FETCH 1 BODY[2.TEXT]\r\n"), &d, &tmp), 0);
    assert_true(osec_slice_eq_cstr(d, "inner body"));
    /* parts that do not exist: empty, not an error */
    assert_int_equal(osec_mail_section(S(multi), section_of(&cmd, &f, "a FETCH 1 BODY[3]\r\n"), &d, &tmp), 0);
    assert_int_equal(d.len, 0);
    assert_int_equal(osec_mail_section(S(simple), section_of(&cmd, &f, "a FETCH 1 BODY[1.HEADER]\r\n"), &d, &tmp), 0);
    assert_int_equal(d.len, 0);
    osec_buf_free(&tmp);
}

static void envelope(void **state)
{
    struct osec_slice h, b;
    struct osec_buf out;

    (void)state;
    osec_buf_init(&out, 4096);
    osec_mail_split(S(simple), &h, &b);
    assert_int_equal(osec_mail_envelope(h, &out), 0);
    assert_string_equal(osec_buf_cstr(&out),
                        "(\"Tue, 1 Mar 2022 10:00:00 +0100\" \"Lunch tomorrow\" "
                        "((\"Bob B.\" NIL \"bob\" \"example.com\")) "
                        "((\"Bob B.\" NIL \"bob\" \"example.com\")) "
                        "((\"Bob B.\" NIL \"bob\" \"example.com\")) "
                        "((NIL NIL \"alice\" \"example.com\")(\"Carol\" NIL \"carol\" \"example.org\")) "
                        "NIL NIL NIL \"<m1@example.com>\")");
    osec_buf_reset(&out);
    assert_int_equal(osec_mail_envelope(S("To: team: a@x, b@y;\r\n\r\n"), &out), 0);
    assert_non_null(strstr(osec_buf_cstr(&out), "((NIL NIL \"team\" NIL)(NIL NIL \"a\" \"x\")"
                                                "(NIL NIL \"b\" \"y\")(NIL NIL NIL NIL))"));
    osec_buf_reset(&out);
    /* junk: still a well-formed envelope */
    assert_int_equal(osec_mail_envelope(S("From: <<<\"\r\nTo: ,,,\r\n\r\n"), &out), 0);
    assert_int_equal(osec_buf_cstr(&out)[0], '(');
    osec_buf_free(&out);
}

static void bodystructure(void **state)
{
    struct osec_buf out;

    (void)state;
    osec_buf_init(&out, 8192);
    assert_int_equal(osec_mail_bodystructure(S(simple), false, &out), 0);
    assert_string_equal(osec_buf_cstr(&out), "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 18 1)");
    osec_buf_reset(&out);
    assert_int_equal(osec_mail_bodystructure(S(multi), true, &out), 0);
    assert_non_null(strstr(osec_buf_cstr(&out), "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL"
                                                " \"7BIT\" 8 0 NIL NIL NIL NIL)"));
    assert_non_null(strstr(osec_buf_cstr(&out), "\"MESSAGE\" \"RFC822\""));
    assert_non_null(strstr(osec_buf_cstr(&out), " \"MIXED\" (\"BOUNDARY\" \"XX\") NIL NIL NIL)"));
    osec_buf_free(&out);
}

/* A message nesting message/rfc822 far deeper than we follow: bounded. */
static void deep_nesting(void **state)
{
    struct osec_buf msg, out, tmp;
    struct osec_imap_section sect;
    struct osec_slice d;

    (void)state;
    osec_buf_init(&msg, 1 << 22);
    osec_buf_init(&out, 1 << 22);
    osec_buf_init(&tmp, 4096);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(osec_buf_append_str(&msg, "Content-Type: message/rfc822\r\n\r\n"), 0);
    assert_int_equal(osec_mail_bodystructure(osec_buf_slice(&msg), true, &out), 0);
    memset(&sect, 0, sizeof(sect));
    sect.nparts = 1;
    sect.part[0] = 1;
    assert_int_equal(osec_mail_section(osec_buf_slice(&msg), &sect, &d, &tmp), 0);
    osec_buf_free(&msg);
    osec_buf_free(&out);
    osec_buf_free(&tmp);
}

/* ---- SEARCH ------------------------------------------------------------------------ */

static bool search(const char *keys, const struct osec_mail_search_msg *m)
{
    static struct osec_imap_arg nodes[256];
    static uint8_t arena[4096];
    static struct osec_imap_search q;
    struct osec_imap_cmd cmd;
    char line[512];
    size_t used = 0;

    (void)snprintf(line, sizeof(line), "a SEARCH %s\r\n", keys);
    osec_imap_cmd_init(&cmd, nodes, 256, arena, sizeof(arena));
    assert_int_equal(osec_imap_parse((const uint8_t *)line, strlen(line), NULL, NULL, &cmd, &used), 0);
    assert_int_equal(osec_imap_search_parse(&cmd, &q), 0);
    return osec_mail_search_match(&q, m);
}

static void search_eval(void **state)
{
    struct osec_mail_search_msg m;

    (void)state;
    memset(&m, 0, sizeof(m));
    m.seq = 2;
    m.uid = 20;
    m.max_seq = 3;
    m.max_uid = 30;
    m.flags = OSEC_IMAP_FLAG_SEEN | OSEC_IMAP_FLAG_FLAGGED;
    m.keywords = S("$Important work");
    m.internaldate = 1646125200;
    m.size = 500;
    m.modseq = 7;
    m.has_text = true;
    m.text = S(simple);
    assert_true(search("ALL", &m));
    assert_true(search("SEEN FLAGGED", &m));
    assert_false(search("UNSEEN", &m));
    assert_true(search("OR UNSEEN KEYWORD work", &m));
    assert_true(search("NOT (DELETED OR DRAFT ANSWERED)", &m));
    assert_true(search("KEYWORD $important", &m));
    assert_false(search("KEYWORD wor", &m));
    assert_true(search("FROM bob SUBJECT \"lunch tomorrow\" TO carol", &m));
    assert_false(search("CC bob", &m));
    assert_true(search("HEADER Message-ID m1@ BODY noon TEXT Lunch", &m));
    assert_false(search("BODY Lunch", &m));
    assert_true(search("ON 1-Mar-2022 SENTON 1-Mar-2022 SINCE 28-Feb-2022 BEFORE 2-Mar-2022", &m));
    assert_false(search("SENTBEFORE 1-Mar-2022", &m));
    assert_true(search("LARGER 499 SMALLER 501", &m));
    assert_true(search("2 UID 15:25 2:*", &m));
    assert_false(search("1,3", &m));
    assert_false(search("UID 21:*", &m));
    assert_true(search("MODSEQ 7", &m));
    assert_false(search("MODSEQ 8", &m));
    m.has_text = false; /* text keys never match without the text */
    assert_false(search("FROM bob", &m));
    assert_true(search("NOT FROM bob", &m));
}

static void search_needs_text(void **state)
{
    static struct osec_imap_arg nodes[64];
    static uint8_t arena[1024];
    struct osec_imap_search q;
    struct osec_imap_cmd cmd;
    size_t used;
    const char *a = "a SEARCH SEEN UID 1:*\r\n", *b = "a SEARCH OR SEEN (NOT BODY x)\r\n";

    (void)state;
    osec_imap_cmd_init(&cmd, nodes, 64, arena, sizeof(arena));
    assert_int_equal(osec_imap_parse((const uint8_t *)a, strlen(a), NULL, NULL, &cmd, &used), 0);
    assert_int_equal(osec_imap_search_parse(&cmd, &q), 0);
    assert_false(osec_mail_search_needs_text(&q));
    assert_int_equal(osec_imap_parse((const uint8_t *)b, strlen(b), NULL, NULL, &cmd, &used), 0);
    assert_int_equal(osec_imap_search_parse(&cmd, &q), 0);
    assert_true(osec_mail_search_needs_text(&q));
}

/* ---- CPM layout ----------------------------------------------------------------------- */

static void cpm_layout(void **state)
{
    static const char obj[] = "Conversation-ID: c1\r\nContribution-ID: k9\r\n"
                              "IMDN-Message-ID: i1\r\nContent-Type: Message/CPIM\r\n\r\nx";
    struct osec_mail_cpm ids;
    struct osec_buf f;
    char why[128];

    (void)state;
    assert_int_equal(osec_mail_cpm_parse(S(obj), &ids), 0);
    assert_true(ids.cpim);
    assert_false(ids.session_info);
    assert_true(osec_slice_eq_cstr(ids.conversation_id, "c1"));
    assert_true(osec_slice_eq_cstr(ids.contribution_id, "k9"));
    assert_true(osec_slice_eq_cstr(ids.imdn_message_id, "i1"));
    osec_buf_init(&f, 1024);
    assert_int_equal(osec_mail_cpm_folder(&ids, true, &f), 0);
    assert_string_equal(osec_buf_cstr(&f), "Conversations/c1/k9");
    osec_buf_free(&f);
    assert_int_equal(osec_mail_cpm_check("INBOX", &ids, why, sizeof(why)), 0);
    assert_int_equal(osec_mail_cpm_check("Conversationsx", &ids, why, sizeof(why)), 0);
    assert_int_equal(osec_mail_cpm_check("Conversations/c1", &ids, why, sizeof(why)), 0);
    assert_int_equal(osec_mail_cpm_check("Conversations/c1/k9", &ids, why, sizeof(why)), 0);
    assert_int_equal(osec_mail_cpm_check("Conversations", &ids, why, sizeof(why)), OSEC_EPOLICY);
    assert_int_equal(osec_mail_cpm_check("Conversations/c2", &ids, why, sizeof(why)), OSEC_EPOLICY);
    assert_string_equal(why, "Conversation-ID does not match the folder");
    assert_int_equal(osec_mail_cpm_check("Conversations/c1/k8", &ids, why, sizeof(why)), OSEC_EPOLICY);
    assert_int_equal(osec_mail_cpm_check("Conversations/c1/k9/x", &ids, why, sizeof(why)), OSEC_EPOLICY);
    assert_int_equal(osec_mail_cpm_parse(S("Subject: x\r\n\r\n"), &ids), 0);
    assert_int_equal(osec_mail_cpm_check("Conversations/c1", &ids, why, sizeof(why)), OSEC_EPOLICY);
    assert_int_equal(osec_mail_cpm_parse(S("Conversation-ID: a/b\r\n\r\n"), &ids), 0);
    osec_buf_init(&f, 1024);
    assert_int_equal(osec_mail_cpm_folder(&ids, false, &f), OSEC_EPARSE);
    osec_buf_free(&f);
}

/* ---- S/MIME ----------------------------------------------------------------------------- */

static X509 *read_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *x;

    assert_non_null(f);
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    return x;
}

static void smime(void **state)
{
    char dir[] = "/tmp/osec-mail-XXXXXX", path[256], principal[128];
    X509 *user, *server, *check = NULL;
    EVP_PKEY *skey = NULL, *ukey = NULL;
    struct osec_buf out;
    CMS_ContentInfo *cms;
    BIO *in, *dec;
    char *p;
    long n;
    FILE *f;
    char pem[8192];
    size_t pem_len;

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(osec_pki_create_dev(dir), 0);
    assert_int_equal(osec_pki_issue(dir, "dave", NULL, true, "dave"), 0);
    (void)snprintf(path, sizeof(path), "%s/dave.crt", dir);
    user = read_cert(path);
    f = fopen(path, "r");
    pem_len = fread(pem, 1, sizeof(pem), f);
    fclose(f);
    (void)snprintf(path, sizeof(path), "%s/ca.crt", dir);
    assert_int_equal(osec_mail_smime_cert_load(osec_slice_make(pem, pem_len), path, &check,
                                               principal, sizeof(principal)), 0);
    assert_string_equal(principal, "dave");
    X509_free(check);
    assert_int_equal(osec_mail_smime_cert_load(S("not pem"), path, &check, NULL, 0), OSEC_EPARSE);
    (void)snprintf(path, sizeof(path), "%s/server.crt", dir);
    server = read_cert(path);
    (void)snprintf(path, sizeof(path), "%s/server.key", dir);
    assert_int_equal(osec_pki_load_key(path, &skey), 0);
    osec_buf_init(&out, 1 << 20);
    assert_int_equal(osec_mail_smime_protect(S(simple), user, server, skey, true, &out), 0);
    assert_non_null(strstr(osec_buf_cstr(&out), "smime-type=authEnveloped-data"));
    assert_null(strstr(osec_buf_cstr(&out), "noon"));
    assert_null(strstr(osec_buf_cstr(&out), "Subject"));
    assert_non_null(strstr(osec_buf_cstr(&out), "Message-ID: <m1@example.com>"));
    /* the recipient opens it */
    (void)snprintf(path, sizeof(path), "%s/dave.key", dir);
    assert_int_equal(osec_pki_load_key(path, &ukey), 0);
    in = BIO_new_mem_buf(out.data, (int)out.len);
    cms = SMIME_read_CMS(in, NULL);
    assert_non_null(cms);
    dec = BIO_new(BIO_s_mem());
    assert_int_equal(CMS_decrypt(cms, ukey, user, NULL, dec, 0), 1);
    n = BIO_get_mem_data(dec, &p);
    assert_true(n > 0 && memmem(p, (size_t)n, "signed-data", 11) != NULL);
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    BIO_free(dec);
    osec_buf_free(&out);
    X509_free(user);
    X509_free(server);
    EVP_PKEY_free(skey);
    EVP_PKEY_free(ukey);
    (void)snprintf(path, sizeof(path), "rm -rf %s", dir);
    assert_int_equal(system(path), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seal_binding),
        cmocka_unit_test(split_and_fields),
        cmocka_unit_test(contains_and_dates),
        cmocka_unit_test(sections),
        cmocka_unit_test(envelope),
        cmocka_unit_test(bodystructure),
        cmocka_unit_test(deep_nesting),
        cmocka_unit_test(search_eval),
        cmocka_unit_test(search_needs_text),
        cmocka_unit_test(cpm_layout),
        cmocka_unit_test(smime),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
