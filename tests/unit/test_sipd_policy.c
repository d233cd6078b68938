/* Unit tests for the SIP edge's security decisions (sip_policy.h):
 * peers, identity allocation checks, P-Asserted-Identity trust, the
 * identity to assert, and Digest authentication with rate limiting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "omasec/account.h"
#include "omasec/digest.h"
#include "omasec/error.h"
#include "omasec/sip.h"
#include "omasec/sip_policy.h"
#include "omasec/util.h"

#define FAST ((struct osec_scrypt_params){ 10, 8, 1 })

struct fx {
    char dir[64];
    struct osec_sip_db db;
    struct osec_store *st;
    struct osec_master *m;
    struct osec_sip_peer peers[2];
    struct osec_sip_msg msg;
    char raw[2048];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char path[128], url[160];

    assert_non_null(f);
    strcpy(f->dir, "/tmp/osec-sipd-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(path, sizeof(path), "%s/master.key", f->dir);
    assert_int_equal(osec_master_create(path), 0);
    assert_int_equal(osec_master_load(path, &f->m), 0);
    snprintf(url, sizeof(url), "sqlite:%s/omasec.db", f->dir);
    assert_int_equal(osec_store_open(url, &f->st), 0);
    f->db.st = f->st;
    assert_int_equal(osec_account_add(f->st, f->m, "omasec", "alice", "pw-alice", 8, FAST), 0);
    assert_int_equal(osec_account_add(f->st, f->m, "omasec", "bob", "pw-bob", 6, FAST), 0);
    const char *alloc[][2] = { { "alice", "sip:alice@example.com" },
                               { "alice", "tel:+4930123456" },
                               { "bob", "sip:bob@example.com" },
                               { "bob", "sips:bobby@example.com" },
                               { "alice", "sip:taken@othernet.example" } };
    for (size_t i = 0; i < sizeof(alloc) / sizeof(alloc[0]); i++) {
        struct osec_store_address a;

        memset(&a, 0, sizeof(a));
        strcpy(a.user, alloc[i][0]);
        strcpy(a.uri, alloc[i][1]);
        assert_int_equal(osec_store_address_add(f->st, &a), 0);
    }
    assert_int_equal(osec_sip_peer_parse("othernet.example", &f->peers[0]), 0);
    assert_int_equal(osec_sip_peer_parse("partner=Partner.EXAMPLE,pstn.example", &f->peers[1]), 0);
    f->peers[1].trusted = true;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];

    osec_store_close(&f->st);
    osec_master_free(&f->m);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static struct osec_sip_principal user(const char *name)
{
    struct osec_sip_principal p;

    memset(&p, 0, sizeof(p));
    p.kind = OSEC_SIP_PRINCIPAL_USER;
    strcpy(p.name, name);
    return p;
}

static struct osec_sip_principal peer(const struct osec_sip_peer *pe)
{
    struct osec_sip_principal p;

    memset(&p, 0, sizeof(p));
    p.kind = OSEC_SIP_PRINCIPAL_PEER;
    p.peer = pe;
    strcpy(p.name, pe->name);
    return p;
}

/* ---- peers ------------------------------------------------------------- */

static void test_peer_parse(void **state)
{
    struct fx *f = *state;
    struct osec_sip_peer p;
    char many[512] = "x=";

    (void)state;
    assert_string_equal(f->peers[0].name, "othernet.example");
    assert_int_equal(f->peers[0].n_domains, 1);
    assert_string_equal(f->peers[0].domains[0], "othernet.example");
    assert_string_equal(f->peers[1].name, "partner");
    assert_int_equal(f->peers[1].n_domains, 2);
    assert_string_equal(f->peers[1].domains[0], "partner.example"); /* lower-cased */
    assert_string_equal(f->peers[1].domains[1], "pstn.example");
    assert_int_equal(osec_sip_peer_parse("", &p), OSEC_EINVAL);
    assert_int_equal(osec_sip_peer_parse("=a.example", &p), OSEC_EINVAL);
    assert_int_equal(osec_sip_peer_parse("x=", &p), OSEC_EINVAL);
    assert_int_equal(osec_sip_peer_parse("x=a,,b", &p), OSEC_EINVAL);
    assert_int_equal(osec_sip_peer_parse("bad name", &p), OSEC_EINVAL);
    assert_int_equal(osec_sip_peer_parse("x=a\x01", &p), OSEC_EINVAL);
    for (int i = 0; i < OSEC_SIP_PEER_DOMAINS_MAX + 1; i++)
        strcat(many, i ? ",d.example" : "d.example");
    assert_int_equal(osec_sip_peer_parse(many, &p), OSEC_EINVAL);
}

static void test_peer_find(void **state)
{
    struct fx *f = *state;

    assert_ptr_equal(osec_sip_peer_find(f->peers, 2, "partner"), &f->peers[1]);
    assert_null(osec_sip_peer_find(f->peers, 2, "Partner"));      /* exact */
    assert_null(osec_sip_peer_find(f->peers, 2, "partner.example")); /* name, not domain */
    assert_null(osec_sip_peer_find(f->peers, 2, NULL));
    assert_ptr_equal(osec_sip_peer_for_aor(f->peers, 2, "sip:u@othernet.example"), &f->peers[0]);
    assert_ptr_equal(osec_sip_peer_for_aor(f->peers, 2, "sip:pstn.example"), &f->peers[1]);
    assert_null(osec_sip_peer_for_aor(f->peers, 2, "sip:u@sub.othernet.example"));
    assert_null(osec_sip_peer_for_aor(f->peers, 2, "tel:+123"));
}

/* ---- identities ----------------------------------------------------------- */

static void test_aor(void **state)
{
    char aor[256];

    (void)state;
    assert_int_equal(osec_sip_policy_aor(osec_slice_cstr("sips:Alice@EXAMPLE.com:5061;transport=tcp"),
                                         aor, sizeof(aor)), 0);
    assert_string_equal(aor, "sip:Alice@example.com");
    assert_int_equal(osec_sip_policy_aor(osec_slice_cstr("sip:al%69ce@example.com"), aor,
                                         sizeof(aor)), 0);
    assert_string_equal(aor, "sip:alice@example.com");
    assert_int_equal(osec_sip_policy_aor(osec_slice_cstr("sip:@"), aor, sizeof(aor)),
                     OSEC_EPARSE);
    assert_int_equal(osec_sip_policy_aor(osec_slice_cstr("http://x"), aor, sizeof(aor)),
                     OSEC_EPOLICY);
    assert_int_equal(osec_sip_policy_aor(osec_slice_cstr("sip:alice@example.com"), aor, 8),
                     OSEC_EBOUNDS);
}

static void test_identity_user(void **state)
{
    struct fx *f = *state;
    struct osec_sip_principal a = user("alice"), b = user("bob");
    char aor[256], why[OSEC_SIP_REASON_MAX];

    assert_int_equal(osec_sip_policy_identity(&f->db, &a, osec_slice_cstr("sip:alice@Example.COM;x=1"),
                                              aor, sizeof(aor), why, sizeof(why)), 0);
    assert_string_equal(aor, "sip:alice@example.com");
    assert_int_equal(osec_sip_policy_identity(&f->db, &a, osec_slice_cstr("tel:+49-30-123456"), aor,
                                              sizeof(aor), why, sizeof(why)), 0);
    assert_int_equal(osec_sip_policy_identity(&f->db, &b, osec_slice_cstr("sip:alice@example.com"),
                                              aor, sizeof(aor), why, sizeof(why)), OSEC_EPERM);
    assert_string_equal(why, "identity not allocated to the user");
    assert_int_equal(osec_sip_policy_identity(&f->db, &a, osec_slice_cstr("sip:ALICE@example.com"),
                                              aor, sizeof(aor), why, sizeof(why)), OSEC_EPERM);
    /* an allocation written as sips: covers the sip: AOR, and the reverse */
    assert_int_equal(osec_sip_policy_identity(&f->db, &b, osec_slice_cstr("sip:bobby@example.com"),
                                              aor, sizeof(aor), why, sizeof(why)), 0);
    assert_int_equal(osec_sip_policy_identity(&f->db, &b, osec_slice_cstr("sips:bob@example.com"),
                                              aor, sizeof(aor), why, sizeof(why)), 0);
    assert_int_equal(osec_sip_policy_identity(&f->db, &a, osec_slice_cstr("<bad"), aor,
                                              sizeof(aor), why, sizeof(why)), OSEC_EPERM);
    assert_string_equal(why, "unusable identity");
}

static void test_identity_peer_core(void **state)
{
    struct fx *f = *state;
    struct osec_sip_principal p = peer(&f->peers[0]), core, none;
    char aor[256], why[OSEC_SIP_REASON_MAX];

    memset(&core, 0, sizeof(core));
    memset(&none, 0, sizeof(none));
    core.kind = OSEC_SIP_PRINCIPAL_CORE;
    assert_int_equal(osec_sip_policy_identity(&f->db, &p, osec_slice_cstr("sip:x@OtherNet.example"),
                                              aor, sizeof(aor), why, sizeof(why)), 0);
    assert_int_equal(osec_sip_policy_identity(&f->db, &p, osec_slice_cstr("sip:alice@example.com"),
                                              aor, sizeof(aor), why, sizeof(why)), OSEC_EPERM);
    assert_string_equal(why, "identity outside the peer's domains");
    /* inside its domain, but allocated to one of our users */
    assert_int_equal(osec_sip_policy_identity(&f->db, &p, osec_slice_cstr("sip:taken@othernet.example"),
                                              aor, sizeof(aor), why, sizeof(why)), OSEC_EPERM);
    assert_string_equal(why, "identity belongs to a local user");
    assert_int_equal(osec_sip_policy_identity(&f->db, &p, osec_slice_cstr("tel:+4930123456"), aor,
                                              sizeof(aor), why, sizeof(why)), OSEC_EPERM);
    assert_int_equal(osec_sip_policy_identity(&f->db, &core, osec_slice_cstr("sip:any@where"), aor,
                                              sizeof(aor), why, sizeof(why)), 0);
    assert_int_equal(osec_sip_policy_identity(&f->db, &none, osec_slice_cstr("sip:alice@example.com"),
                                              aor, sizeof(aor), why, sizeof(why)), OSEC_EPERM);
}

static void test_register_and_trust(void **state)
{
    struct fx *f = *state;
    struct osec_sip_principal a = user("alice"), p = peer(&f->peers[0]), t = peer(&f->peers[1]);
    struct osec_sip_principal core;
    char aor[256], why[OSEC_SIP_REASON_MAX];

    memset(&core, 0, sizeof(core));
    core.kind = OSEC_SIP_PRINCIPAL_CORE;
    assert_int_equal(osec_sip_policy_register(&f->db, &a, osec_slice_cstr("sip:alice@example.com"),
                                              aor, sizeof(aor), why, sizeof(why)), 0);
    assert_int_equal(osec_sip_policy_register(&f->db, &a, osec_slice_cstr("sip:bob@example.com"),
                                              aor, sizeof(aor), why, sizeof(why)), OSEC_EPERM);
    assert_int_equal(osec_sip_policy_register(&f->db, &p, osec_slice_cstr("sip:x@othernet.example"),
                                              aor, sizeof(aor), why, sizeof(why)), OSEC_EPERM);
    assert_string_equal(why, "only users register");
    assert_false(osec_sip_policy_trusts_pai(&a));
    assert_false(osec_sip_policy_trusts_pai(&p));
    assert_true(osec_sip_policy_trusts_pai(&t));
    assert_true(osec_sip_policy_trusts_pai(&core));
}

static const struct osec_sip_msg *parse(struct fx *f, const char *from, const char *ppi)
{
    int n = snprintf(f->raw, sizeof(f->raw),
                     "MESSAGE sip:bob@example.com SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n"
                     "From: <%s>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c1\r\n"
                     "CSeq: 1 MESSAGE\r\n%s%s%sContent-Length: 0\r\n\r\n",
                     from, ppi ? "P-Preferred-Identity: " : "", ppi ? ppi : "", ppi ? "\r\n" : "");

    assert_int_equal(osec_sip_parse(osec_slice_make(f->raw, (size_t)n), 0, 0, &f->msg), 0);
    return &f->msg;
}

static void test_assert(void **state)
{
    struct fx *f = *state;
    struct osec_sip_principal a = user("alice"), b = user("bob"), p = peer(&f->peers[0]);
    char pai[256], why[OSEC_SIP_REASON_MAX];

    assert_int_equal(osec_sip_policy_assert(&f->db, &a, parse(f, "sip:alice@example.com", NULL),
                                            pai, sizeof(pai), why, sizeof(why)), 0);
    assert_string_equal(pai, "sip:alice@example.com");
    assert_int_equal(osec_sip_policy_assert(&f->db, &a, parse(f, "sip:alice@example.com",
                                                             "<tel:+4930123456>"),
                                            pai, sizeof(pai), why, sizeof(why)), 0);
    assert_string_equal(pai, "tel:+4930123456"); /* the preferred one */
    assert_int_equal(osec_sip_policy_assert(&f->db, &a, parse(f, "sip:bob@example.com", NULL),
                                            pai, sizeof(pai), why, sizeof(why)), OSEC_EPERM);
    assert_int_equal(osec_sip_policy_assert(&f->db, &a, parse(f, "sip:alice@example.com",
                                                             "<sip:bob@example.com>"),
                                            pai, sizeof(pai), why, sizeof(why)), OSEC_EPERM);
    /* anonymous From (RFC 3323): the PPI, else the user's first address */
    assert_int_equal(osec_sip_policy_assert(&f->db, &a, parse(f, "sip:anonymous@anonymous.invalid",
                                                             "<sip:alice@example.com>"),
                                            pai, sizeof(pai), why, sizeof(why)), 0);
    assert_string_equal(pai, "sip:alice@example.com");
    assert_int_equal(osec_sip_policy_assert(&f->db, &b, parse(f, "sip:anonymous@anonymous.invalid",
                                                             NULL),
                                            pai, sizeof(pai), why, sizeof(why)), 0);
    assert_string_equal(pai, "sip:bob@example.com");
    assert_int_equal(osec_sip_policy_assert(&f->db, &p, parse(f, "sip:anonymous@anonymous.invalid",
                                                             NULL),
                                            pai, sizeof(pai), why, sizeof(why)), OSEC_EPERM);
    assert_string_equal(why, "no identity to assert");
    assert_int_equal(osec_sip_policy_assert(&f->db, &p, parse(f, "sip:x@othernet.example", NULL),
                                            pai, sizeof(pai), why, sizeof(why)), 0);
    assert_string_equal(pai, "sip:x@othernet.example");
}

/* ---- the per-worker cache ------------------------------------------------------ */

static void test_cache(void **state)
{
    struct fx *f = *state;
    struct osec_sip_cache *c = NULL;
    struct osec_sip_db db = { f->st, NULL };
    struct osec_lookup l = { f->st, f->m, "omasec" };
    struct osec_sip_cached_lookup cl = { &l, NULL };
    struct osec_digest_lookup who;
    struct osec_digest_secret sec;
    struct osec_store_address a;
    uint8_t old[OSEC_HASH_MAX], fresh[OSEC_HASH_MAX];
    char owner[OSEC_STORE_NAME_MAX + 1];

    assert_int_equal(osec_sip_cache_new(0, 100, &c), OSEC_EINVAL);
    assert_int_equal(osec_sip_cache_new(64, 300, &c), 0);
    db.cache = c;
    cl.cache = c;
    assert_int_equal(osec_sip_db_owner(&db, "sip:alice@example.com", owner, sizeof(owner)), 0);
    assert_string_equal(owner, "alice");
    assert_int_equal(osec_store_address_del(f->st, "sip:alice@example.com"), 0);
    /* released, but the cached answer stands for at most the TTL */
    assert_int_equal(osec_sip_db_owner(&db, "sip:alice@example.com", owner, sizeof(owner)), 0);
    usleep(350 * 1000);
    assert_int_equal(osec_sip_db_owner(&db, "sip:alice@example.com", owner, sizeof(owner)),
                     OSEC_ENOTFOUND);
    /* negative answers are not kept */
    memset(&a, 0, sizeof(a));
    strcpy(a.user, "bob");
    strcpy(a.uri, "sip:alice@example.com");
    assert_int_equal(osec_store_address_add(f->st, &a), 0);
    assert_int_equal(osec_sip_db_owner(&db, "sip:alice@example.com", owner, sizeof(owner)), 0);
    assert_string_equal(owner, "bob");

    memset(&who, 0, sizeof(who));
    who.username = osec_slice_cstr("alice");
    who.realm = osec_slice_cstr("omasec");
    who.alg = OSEC_DIGEST_SHA256;
    who.hash = OSEC_HASH_SHA256;
    assert_int_equal(osec_account_ha1(f->st, f->m, "omasec", "alice", OSEC_HASH_SHA256, old), 0);
    memset(&sec, 0, sizeof(sec));
    assert_int_equal(osec_sip_cache_lookup(&cl, &who, &sec), 0);
    assert_memory_equal(sec.ha1, old, 32);
    assert_string_equal(sec.username, "alice");
    assert_int_equal(osec_account_set_password(f->st, f->m, "omasec", "alice", "new", 3, FAST), 0);
    assert_int_equal(osec_account_ha1(f->st, f->m, "omasec", "alice", OSEC_HASH_SHA256, fresh), 0);
    memset(&sec, 0, sizeof(sec));
    assert_int_equal(osec_sip_cache_lookup(&cl, &who, &sec), 0);
    assert_memory_equal(sec.ha1, old, 32); /* within the TTL */
    usleep(350 * 1000);
    memset(&sec, 0, sizeof(sec));
    assert_int_equal(osec_sip_cache_lookup(&cl, &who, &sec), 0);
    assert_memory_equal(sec.ha1, fresh, 32);
    who.username = osec_slice_cstr("nobody");
    assert_int_equal(osec_sip_cache_lookup(&cl, &who, &sec), OSEC_ENOTFOUND);
    osec_sip_cache_free(&c);
    assert_null(c);
}

/* ---- Digest ---------------------------------------------------------------- */

struct dg {
    struct osec_digest_server *srv;
    struct osec_ratelimit *rl;
    struct osec_sipauth auth;
    struct osec_lookup l;
};

static void dg_init(struct fx *f, struct dg *d)
{
    struct osec_digest_server_config c;
    struct osec_ratelimit_config rc = { 3, 60, 60, 64 };

    memset(&c, 0, sizeof(c));
    c.realm = "omasec";
    memset(c.secret, 7, sizeof(c.secret));
    assert_int_equal(osec_digest_server_new(&c, &d->srv), 0);
    assert_int_equal(osec_ratelimit_new(&rc, &d->rl), 0);
    d->auth.digest = d->srv;
    d->auth.rl = d->rl;
    d->l.st = f->st;
    d->l.m = f->m;
    d->l.realm = "omasec";
}

static void dg_free(struct dg *d)
{
    osec_digest_server_free(&d->srv);
    osec_ratelimit_free(&d->rl);
}

/* A client's Authorization value for a fresh challenge. */
static void creds(struct dg *d, const char *user, const char *pw, const char *uri, char *out,
                  size_t outlen)
{
    struct osec_digest_client_config cc;
    struct osec_digest_client *cl = NULL;
    struct osec_buf ch = OSEC_BUF_INIT(4096), a = OSEC_BUF_INIT(4096);
    struct osec_slice v;
    struct osec_digest_request r = { osec_slice_cstr("REGISTER"), osec_slice_cstr(uri),
                                     { NULL, 0 }, { NULL, 0 } };

    memset(&cc, 0, sizeof(cc));
    cc.username = osec_slice_cstr(user);
    cc.password = osec_slice_cstr(pw);
    assert_int_equal(osec_digest_server_challenge(d->srv, osec_slice_make(NULL, 0), false, &ch), 0);
    assert_int_equal(osec_digest_client_new(&cc, &cl), 0);
    v = osec_buf_slice(&ch);
    assert_int_equal(osec_digest_client_challenge(cl, &v, 1), 0);
    assert_int_equal(osec_digest_client_authorize(cl, &r, &a), 0);
    assert_true(a.len < outlen);
    memcpy(out, a.data, a.len + 1);
    osec_digest_client_free(&cl);
    osec_buf_free(&ch);
    osec_buf_free(&a);
}

static unsigned check(struct dg *d, const char *ip, const char *const *vals, size_t n,
                      struct osec_sipauth_result *res)
{
    struct osec_slice s[4];
    struct osec_sipauth_req r;

    for (size_t i = 0; i < n; i++)
        s[i] = osec_slice_cstr(vals[i]);
    memset(&r, 0, sizeof(r));
    r.method = osec_slice_cstr("REGISTER");
    r.uri = osec_slice_cstr("sip:example.com");
    r.credentials = s;
    r.n_credentials = n;
    r.realm = "omasec";
    r.peer_ip = ip;
    assert_int_equal(osec_sipauth_check(&d->auth, &d->l, &r, res), 0);
    osec_sipauth_done(res);
    return res->status;
}

static void test_sipauth(void **state)
{
    struct fx *f = *state;
    struct osec_sipauth_result *res = calloc(1, sizeof(*res));
    char good[2048], bad[2048];
    const char *other = "Digest username=\"alice\", realm=\"elsewhere\", nonce=\"x\", "
                        "uri=\"sip:example.com\", algorithm=MD5, qop=auth, nc=00000001, "
                        "cnonce=\"c\", response=\"0123456789abcdef0123456789abcdef\"";
    const char *vals[2];
    struct dg d;

    assert_non_null(res);
    dg_init(f, &d);
    assert_int_equal(check(&d, "192.0.2.1", NULL, 0, res), 401); /* no credentials */
    creds(&d, "alice", "pw-alice", "sip:example.com", good, sizeof(good));
    /* the credentials for our realm are picked among several (RFC 8760) */
    vals[0] = other;
    vals[1] = good;
    assert_int_equal(check(&d, "192.0.2.1", vals, 2, res), 0);
    assert_string_equal(res->user, "alice");
    assert_int_equal(check(&d, "192.0.2.1", vals + 1, 1, res), 401); /* replayed nc */
    assert_string_equal(res->reason, "Authentication Failed");
    assert_int_equal(check(&d, "192.0.2.1", vals, 1, res), 401); /* other realm only */
    assert_string_equal(res->reason, "Unauthorized");
    vals[0] = "Digest username=";
    assert_int_equal(check(&d, "192.0.2.1", vals, 1, res), 400);
    creds(&d, "alice", "pw-alice", "sip:other.example", bad, sizeof(bad));
    vals[0] = bad; /* uri differs from the Request-URI */
    assert_int_equal(check(&d, "192.0.2.9", vals, 1, res), 400);
    /* failures from one source: blocked after 3 (the replay, the 400 and this) */
    creds(&d, "alice", "wrong", "sip:example.com", bad, sizeof(bad));
    vals[0] = bad;
    assert_int_equal(check(&d, "192.0.2.1", vals, 1, res), 401);
    creds(&d, "bob", "pw-bob", "sip:example.com", good, sizeof(good));
    vals[0] = good;
    assert_int_equal(check(&d, "192.0.2.1", vals, 1, res), 403);
    assert_true(res->retry_after > 0);
    assert_string_equal(res->reason, "Too Many Failed Authentications");
    assert_int_equal(check(&d, "192.0.2.2", vals, 1, res), 0); /* another source is fine */
    assert_string_equal(res->user, "bob");
    dg_free(&d);
    free(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_peer_parse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_find, setup, teardown),
        cmocka_unit_test(test_aor),
        cmocka_unit_test_setup_teardown(test_identity_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_peer_core, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_and_trust, setup, teardown),
        cmocka_unit_test_setup_teardown(test_assert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sipauth, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
