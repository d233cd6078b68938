/* Unit tests for the message store's security decisions: RFC 4314 rights
 * evaluation (lib/authz/imap_acl.c), the TLS / message-protection policy
 * (lib/authz/msgpolicy.c) and the verified-login cache (lib/auth/credcache.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "omasec/buf.h"
#include "omasec/credcache.h"
#include "omasec/error.h"
#include "omasec/imap_acl.h"
#include "omasec/msgpolicy.h"
#include "omasec/store.h"

#define L OSEC_IMAP_RIGHT_L
#define R OSEC_IMAP_RIGHT_R
#define S OSEC_IMAP_RIGHT_S
#define W OSEC_IMAP_RIGHT_W
#define I OSEC_IMAP_RIGHT_I
#define K OSEC_IMAP_RIGHT_K
#define X OSEC_IMAP_RIGHT_X
#define T OSEC_IMAP_RIGHT_T
#define E OSEC_IMAP_RIGHT_E
#define A OSEC_IMAP_RIGHT_A

static uint32_t eval(const char *owner, const char *user, const char *const *entries)
{
    struct osec_imap_acl a;

    assert_int_equal(osec_imap_acl_init(&a, owner, user), 0);
    for (; entries && entries[0]; entries += 2)
        assert_int_equal(osec_imap_acl_add(&a, entries[0], entries[1]), 0);
    return osec_imap_acl_rights(&a);
}

static void owner_has_everything(void **state)
{
    static const char *const deny_owner[] = { "-alice", "lrswipkxtea", "alice", "", NULL };

    (void)state;
    assert_int_equal(eval("alice", "alice", NULL), OSEC_IMAP_RIGHTS_ALL);
    /* entries naming the owner change nothing: no lock-out, no take-over */
    assert_int_equal(eval("alice", "alice", deny_owner), OSEC_IMAP_RIGHTS_ALL);
}

static void default_deny(void **state)
{
    static const char *const others[] = { "carol", "lrswipkxtea", "bobby", "lr", NULL };

    (void)state;
    assert_int_equal(eval("alice", "bob", NULL), 0);
    assert_int_equal(eval("alice", "bob", others), 0); /* no prefix matching */
}

static void union_of_grants(void **state)
{
    static const char *const e[] = { "bob", "lr", "anyone", "s", "authenticated", "i", NULL };

    (void)state;
    assert_int_equal(eval("alice", "bob", e), L | R | S | I);
    assert_int_equal(eval("alice", "carol", e), S | I);
}

static void negative_rights_win(void **state)
{
    static const char *const e[] = { "anyone", "lrsw", "bob", "lrswi", "-bob", "rw", NULL };
    static const char *const e2[] = { "bob", "lrsw", "-anyone", "w", NULL };

    (void)state;
    assert_int_equal(eval("alice", "bob", e), L | S | I);
    assert_int_equal(eval("alice", "carol", e), L | R | S | W);
    assert_int_equal(eval("alice", "bob", e2), L | R | S);
}

static void obsolete_c_d(void **state)
{
    static const char *const e[] = { "bob", "cd", NULL };

    (void)state;
    /* RFC 4314 2.1.1: c = k + x, d = e + t */
    assert_int_equal(eval("alice", "bob", e), K | X | E | T);
}

static void malformed_stored_rights(void **state)
{
    struct osec_imap_acl a;

    (void)state;
    assert_int_equal(osec_imap_acl_init(&a, "alice", "bob"), 0);
    assert_int_equal(osec_imap_acl_add(&a, "bob", "lr!"), OSEC_EPARSE);
    assert_int_equal(osec_imap_acl_rights(&a), 0);
    /* rows for other identifiers are not even parsed */
    assert_int_equal(osec_imap_acl_add(&a, "carol", "lr!"), 0);
    assert_int_equal(osec_imap_acl_init(&a, "", "bob"), OSEC_EINVAL);
}

static void needs_per_operation(void **state)
{
    (void)state;
    assert_int_equal(osec_imap_acl_need(OSEC_IMAP_OP_SELECT), R);
    assert_int_equal(osec_imap_acl_need(OSEC_IMAP_OP_APPEND), I);
    assert_int_equal(osec_imap_acl_need(OSEC_IMAP_OP_DELETE), X);
    assert_int_equal(osec_imap_acl_need(OSEC_IMAP_OP_EXPUNGE), E);
    assert_int_equal(osec_imap_acl_need(OSEC_IMAP_OP_ADMIN), A);
    assert_int_equal(osec_imap_acl_need(OSEC_IMAP_OP_CREATE_CHILD), K);
    assert_int_equal(osec_imap_acl_need((enum osec_imap_acl_op)99), ~0u);
    assert_int_equal(osec_imap_acl_need_store(0, OSEC_IMAP_FLAG_SEEN, false), S);
    assert_int_equal(osec_imap_acl_need_store(OSEC_IMAP_FLAG_DELETED, 0, false), T);
    assert_int_equal(osec_imap_acl_need_store(0, OSEC_IMAP_FLAG_FLAGGED, false), W);
    assert_int_equal(osec_imap_acl_need_store(0, 0, true), W);
    assert_int_equal(osec_imap_acl_need_store(OSEC_IMAP_FLAG_SEEN, OSEC_IMAP_FLAG_SEEN, false), 0);
}

static void check_answers(void **state)
{
    char reason[OSEC_IMAP_ACL_REASON_MAX];
    bool visible = false;

    (void)state;
    assert_int_equal(osec_imap_acl_check(L | R, OSEC_IMAP_OP_SELECT, reason, sizeof(reason),
                                         &visible), 0);
    assert_true(visible);
    assert_int_equal(osec_imap_acl_check(L | R, OSEC_IMAP_OP_APPEND, reason, sizeof(reason),
                                         &visible), OSEC_EPERM);
    assert_true(visible);
    assert_string_equal(reason, "missing right i");
    /* without l the mailbox is not revealed */
    assert_int_equal(osec_imap_acl_check(I, OSEC_IMAP_OP_SELECT, reason, sizeof(reason),
                                         &visible), OSEC_ENOTFOUND);
    assert_false(visible);
    assert_int_equal(osec_imap_acl_check(0, OSEC_IMAP_OP_LIST, NULL, 0, NULL), OSEC_ENOTFOUND);
    assert_int_equal(osec_imap_acl_check(OSEC_IMAP_RIGHTS_ALL, (enum osec_imap_acl_op)99, NULL, 0,
                                         NULL), OSEC_EPERM);
    assert_int_equal(osec_imap_acl_check_rights(L, S | W, reason, sizeof(reason), NULL), OSEC_EPERM);
    assert_string_equal(reason, "missing right sw");
}

static void identifiers(void **state)
{
    (void)state;
    assert_int_equal(osec_imap_acl_identifier_check("bob", "alice"), 0);
    assert_int_equal(osec_imap_acl_identifier_check("-bob", "alice"), 0);
    assert_int_equal(osec_imap_acl_identifier_check("anyone", "alice"), 0);
    assert_int_equal(osec_imap_acl_identifier_check("-authenticated", "alice"), 0);
    assert_int_equal(osec_imap_acl_identifier_check("alice", "alice"), OSEC_EPERM);
    assert_int_equal(osec_imap_acl_identifier_check("-alice", "alice"), OSEC_EPERM);
    assert_int_equal(osec_imap_acl_identifier_check("bo b", "alice"), OSEC_EINVAL);
    assert_int_equal(osec_imap_acl_identifier_check("", "alice"), OSEC_EINVAL);
    assert_int_equal(osec_imap_acl_identifier_check("-", "alice"), OSEC_EINVAL);
}

static void modify(void **state)
{
    char out[OSEC_STORE_RIGHTS_MAX + 1];

    (void)state;
    assert_int_equal(osec_imap_acl_modify("", 0, L | R, out, sizeof(out)), 0);
    assert_string_equal(out, "lr");
    assert_int_equal(osec_imap_acl_modify("lr", 1, I | K, out, sizeof(out)), 0);
    assert_string_equal(out, "lrik");
    assert_int_equal(osec_imap_acl_modify("lrik", -1, R, out, sizeof(out)), 0);
    assert_string_equal(out, "lik");
    /* stored without "c": read back it must not grant x as well */
    assert_int_equal(osec_imap_acl_modify("", 0, K, out, sizeof(out)), 0);
    assert_string_equal(out, "k");
    assert_int_equal(eval("alice", "bob", (const char *const[]){ "bob", out, NULL }), K);
    assert_int_equal(osec_imap_acl_modify("l?", 1, R, out, sizeof(out)), OSEC_EPARSE);
    assert_int_equal(osec_imap_acl_modify("", 0, OSEC_IMAP_RIGHTS_ALL, out, 4), OSEC_EBOUNDS);
}

/* ---- with a store ------------------------------------------------------------------ */

static void myrights_from_store(void **state)
{
    struct osec_store *st = NULL;
    struct osec_store_user u;
    struct osec_store_mailbox mb;
    struct osec_store_acl e;
    uint32_t r = 0;

    (void)state;
    assert_int_equal(osec_store_open("sqlite::memory:", &st), 0);
    memset(&u, 0, sizeof(u));
    (void)osec_strlcpy(u.name, "alice", sizeof(u.name));
    assert_int_equal(osec_store_user_add(st, &u), 0);
    assert_int_equal(osec_store_mailbox_create(st, "alice", "INBOX", 7, &mb), 0);
    memset(&e, 0, sizeof(e));
    assert_int_equal(osec_store_mailbox_acl_key(mb.id, e.mailbox, sizeof(e.mailbox)), 0);
    (void)osec_strlcpy(e.identifier, "bob", sizeof(e.identifier));
    (void)osec_strlcpy(e.rights, "lri", sizeof(e.rights));
    assert_int_equal(osec_store_acl_set(st, &e), 0);
    (void)osec_strlcpy(e.identifier, "-anyone", sizeof(e.identifier));
    (void)osec_strlcpy(e.rights, "i", sizeof(e.rights));
    assert_int_equal(osec_store_acl_set(st, &e), 0);
    assert_int_equal(osec_imap_acl_myrights(st, &mb, "bob", &r), 0);
    assert_int_equal(r, L | R);
    assert_int_equal(osec_imap_acl_myrights(st, &mb, "carol", &r), 0);
    assert_int_equal(r, 0);
    assert_int_equal(osec_imap_acl_myrights(st, &mb, "alice", &r), 0);
    assert_int_equal(r, OSEC_IMAP_RIGHTS_ALL);
    /* an ACL row of another mailbox key does not leak in */
    (void)osec_strlcpy(e.mailbox, "mbox:999", sizeof(e.mailbox));
    (void)osec_strlcpy(e.identifier, "carol", sizeof(e.identifier));
    (void)osec_strlcpy(e.rights, "lrswipkxtea", sizeof(e.rights));
    assert_int_equal(osec_store_acl_set(st, &e), 0);
    assert_int_equal(osec_imap_acl_myrights(st, &mb, "carol", &r), 0);
    assert_int_equal(r, 0);
    osec_store_close(&st);
}

/* ---- TLS policy (seed 001, C046) ----------------------------------------------------- */

static void tls_policy_parse(void **state)
{
    enum osec_tls_policy p;

    (void)state;
    assert_int_equal(osec_msgpolicy_tls_parse("required", &p), 0);
    assert_int_equal(p, OSEC_TLS_POLICY_REQUIRED);
    assert_int_equal(osec_msgpolicy_tls_parse("off", &p), 0);
    assert_int_equal(p, OSEC_TLS_POLICY_OFF);
    assert_int_equal(osec_msgpolicy_tls_parse("Optional", &p), OSEC_EINVAL);
    assert_int_equal(osec_msgpolicy_tls_parse(NULL, &p), OSEC_EINVAL);
    assert_string_equal(osec_msgpolicy_tls_name(OSEC_TLS_POLICY_OPTIONAL), "optional");
}

static void tls_policy_offers(void **state)
{
    (void)state;
    assert_true(osec_msgpolicy_starttls_offered(OSEC_TLS_POLICY_REQUIRED));
    assert_false(osec_msgpolicy_starttls_offered(OSEC_TLS_POLICY_OFF));
    assert_false(osec_msgpolicy_password_offered(OSEC_TLS_POLICY_REQUIRED, false));
    assert_false(osec_msgpolicy_password_offered(OSEC_TLS_POLICY_OPTIONAL, false));
    assert_true(osec_msgpolicy_password_offered(OSEC_TLS_POLICY_OFF, false));
    assert_true(osec_msgpolicy_password_offered(OSEC_TLS_POLICY_REQUIRED, true));
    assert_false(osec_msgpolicy_clear_allowed(OSEC_TLS_POLICY_REQUIRED, false));
    assert_true(osec_msgpolicy_clear_allowed(OSEC_TLS_POLICY_OPTIONAL, false));
}

static void tls_policy_session(void **state)
{
    char why[OSEC_MSGPOLICY_REASON_MAX];

    (void)state;
    /* inside TLS everything goes, except a disabled account */
    assert_int_equal(osec_msgpolicy_session(OSEC_TLS_POLICY_REQUIRED, OSEC_MSGAUTH_PASSWORD, true,
                                            OSEC_USER_REQUIRE_TLS, why, sizeof(why)), 0);
    assert_int_equal(osec_msgpolicy_session(OSEC_TLS_POLICY_OFF, OSEC_MSGAUTH_CERT, true,
                                            OSEC_USER_DISABLED, why, sizeof(why)), OSEC_EPOLICY);
    /* in the clear */
    assert_int_equal(osec_msgpolicy_session(OSEC_TLS_POLICY_REQUIRED, OSEC_MSGAUTH_PASSWORD, false,
                                            0, why, sizeof(why)), OSEC_EPOLICY);
    assert_string_equal(why, "TLS is required by the service provider");
    assert_int_equal(osec_msgpolicy_session(OSEC_TLS_POLICY_OPTIONAL, OSEC_MSGAUTH_PASSWORD, false,
                                            0, why, sizeof(why)), OSEC_EPOLICY);
    assert_int_equal(osec_msgpolicy_session(OSEC_TLS_POLICY_OFF, OSEC_MSGAUTH_PASSWORD, false, 0,
                                            why, sizeof(why)), 0);
    /* the user's request is honoured even when the provider does not care */
    assert_int_equal(osec_msgpolicy_session(OSEC_TLS_POLICY_OFF, OSEC_MSGAUTH_PASSWORD, false,
                                            OSEC_USER_REQUIRE_TLS, why, sizeof(why)), OSEC_EPOLICY);
    assert_string_equal(why, "the user requires TLS");
    assert_int_equal(osec_msgpolicy_session(OSEC_TLS_POLICY_OFF, OSEC_MSGAUTH_PSK, false, 0, NULL,
                                            0), OSEC_EPOLICY);
}

static void protection_policy(void **state)
{
    char why[OSEC_MSGPOLICY_REASON_MAX];
    bool on = true;

    (void)state;
    assert_int_equal(osec_msgpolicy_protect(true, false, true, &on, why, sizeof(why)), 0);
    assert_false(on);
    assert_int_equal(osec_msgpolicy_protect(true, true, true, &on, why, sizeof(why)), 0);
    assert_true(on);
    assert_int_equal(osec_msgpolicy_protect(false, true, true, &on, why, sizeof(why)), OSEC_EPOLICY);
    assert_false(on);
    assert_int_equal(osec_msgpolicy_protect(true, true, false, &on, why, sizeof(why)), OSEC_EPOLICY);
    assert_false(on);
    assert_string_equal(why, "message protection needs a registered certificate");
}

/* ---- verified-login cache ------------------------------------------------------------ */

static void credcache(void **state)
{
    struct osec_credcache *c = NULL;
    const uint8_t pw[] = "secret", bad[] = "secreT";

    (void)state;
    assert_int_equal(osec_credcache_new(0, 0, &c), OSEC_EINVAL);
    assert_int_equal(osec_credcache_new(10, 64, &c), 0);
    assert_false(osec_credcache_check(c, "alice", pw, 6, 100));
    osec_credcache_put(c, "alice", pw, 6, 100);
    assert_true(osec_credcache_check(c, "alice", pw, 6, 105));
    assert_false(osec_credcache_check(c, "alice", bad, 6, 105));
    assert_false(osec_credcache_check(c, "alice", pw, 5, 105));
    assert_false(osec_credcache_check(c, "bob", pw, 6, 105));
    assert_false(osec_credcache_check(c, "alice", pw, 6, 110)); /* ttl over */
    osec_credcache_put(c, "alice", pw, 6, 200);
    osec_credcache_forget(c, "alice");
    assert_false(osec_credcache_check(c, "alice", pw, 6, 201));
    assert_false(osec_credcache_check(NULL, "alice", pw, 6, 201));
    osec_credcache_free(&c);
    assert_null(c);
    osec_credcache_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(owner_has_everything),
        cmocka_unit_test(default_deny),
        cmocka_unit_test(union_of_grants),
        cmocka_unit_test(negative_rights_win),
        cmocka_unit_test(obsolete_c_d),
        cmocka_unit_test(malformed_stored_rights),
        cmocka_unit_test(needs_per_operation),
        cmocka_unit_test(check_answers),
        cmocka_unit_test(identifiers),
        cmocka_unit_test(modify),
        cmocka_unit_test(myrights_from_store),
        cmocka_unit_test(tls_policy_parse),
        cmocka_unit_test(tls_policy_offers),
        cmocka_unit_test(tls_policy_session),
        cmocka_unit_test(protection_policy),
        cmocka_unit_test(credcache),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
