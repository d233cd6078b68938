/* Unit tests for accounts, EUKeys, onetime keys, authorization, secret
 * lookups and the failed-authentication rate limiter. */
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
#include "omasec/authz.h"
#include "omasec/error.h"
#include "omasec/keys.h"
#include "omasec/lookup.h"
#include "omasec/ratelimit.h"
#include "omasec/util.h"
#include "omasec/devstate.h"
#include "omasec/group.h"
#include "omasec/pn.h"
#include <sys/stat.h>

#define FAST ((struct osec_scrypt_params){ 10, 8, 1 })

struct fx {
    char dir[64];
    char path[128];
    struct osec_store *st;
    struct osec_master *m;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char url[160];

    assert_non_null(f);
    strcpy(f->dir, "/tmp/osec-keys-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/master.key", f->dir);
    assert_int_equal(osec_master_create(f->path), 0);
    assert_int_equal(osec_master_load(f->path, &f->m), 0);
    snprintf(url, sizeof(url), "sqlite:%s/omasec.db", f->dir);
    assert_int_equal(osec_store_open(url, &f->st), 0);
    assert_int_equal(osec_account_add(f->st, f->m, "omasec", "alice", "pw-alice", 8, FAST), 0);
    assert_int_equal(osec_account_add(f->st, f->m, "omasec", "bob", "pw-bob", 6, FAST), 0);
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

static void account_passwords(void **state)
{
    struct fx *f = *state;
    uint8_t ha1[64], want[64];

    assert_int_equal(osec_account_verify_password(f->st, "alice", "pw-alice", 8), 0);
    assert_int_equal(osec_account_verify_password(f->st, "alice", "pw-alicE", 8), OSEC_EAUTH);
    assert_int_equal(osec_account_verify_password(f->st, "nobody", "pw", 2), OSEC_EAUTH);
    assert_int_equal(osec_account_add(f->st, f->m, "omasec", "alice", "x", 1, FAST), OSEC_EEXISTS);
    assert_int_equal(osec_account_add(f->st, f->m, "omasec", "a:b", "x", 1, FAST), OSEC_EINVAL);
    assert_int_equal(osec_account_add(f->st, f->m, "omasec", "carol", "a\nb", 3, FAST), OSEC_EINVAL);
    /* HA1 opens for the right realm only, and equals H(user:realm:pw) */
    assert_int_equal(osec_account_ha1(f->st, f->m, "omasec", "alice", OSEC_HASH_SHA256, ha1), 0);
    assert_int_equal(osec_digest_ha1(OSEC_HASH_SHA256, osec_slice_cstr("alice"),
                                     osec_slice_cstr("omasec"), osec_slice_cstr("pw-alice"), want), 0);
    assert_memory_equal(ha1, want, 32);
    assert_int_equal(osec_account_ha1(f->st, f->m, "omasec", "alice", OSEC_HASH_MD5, ha1), 0);
    assert_int_equal(osec_account_ha1(f->st, f->m, "other", "alice", OSEC_HASH_SHA256, ha1),
                     OSEC_EINTEGRITY);
    assert_int_equal(osec_account_set_password(f->st, f->m, "omasec", "alice", "new", 3, FAST), 0);
    assert_int_equal(osec_account_verify_password(f->st, "alice", "pw-alice", 8), OSEC_EAUTH);
    assert_int_equal(osec_account_verify_password(f->st, "alice", "new", 3), 0);
    assert_int_equal(osec_store_user_set_flags(f->st, "alice", OSEC_USER_DISABLED), 0);
    assert_int_equal(osec_account_verify_password(f->st, "alice", "new", 3), OSEC_EAUTH);
}

static void eukey_lifecycle(void **state)
{
    struct fx *f = *state;
    uint8_t k1[32], k2[32], got[32];
    int64_t exp;
    struct osec_store_entity e;
    char text[OSEC_KEY_TEXT_LEN + 1];

    assert_int_equal(osec_eukey_assign(f->st, f->m, "watch-1", "pne", "alice", 3600, k1, &exp), 0);
    assert_true(exp > osec_time_now());
    memset(&e, 0, sizeof(e));
    assert_int_equal(osec_eukey_get(f->st, f->m, "watch-1", got, &e), 0);
    assert_memory_equal(got, k1, 32);
    assert_string_equal(e.user, "alice");
    osec_store_entity_clear(&e);
    /* reassignment by the owner replaces the key */
    assert_int_equal(osec_eukey_assign(f->st, f->m, "watch-1", "pne", "alice", 3600, k2, &exp), 0);
    assert_memory_not_equal(k1, k2, 32);
    assert_int_equal(osec_eukey_get(f->st, f->m, "watch-1", got, NULL), 0);
    assert_memory_equal(got, k2, 32);
    /* another user's attempt is refused and changes nothing */
    assert_int_equal(osec_eukey_assign(f->st, f->m, "watch-1", "pne", "bob", 3600, k1, &exp), OSEC_EPERM);
    assert_int_equal(osec_eukey_get(f->st, f->m, "watch-1", got, NULL), 0);
    assert_memory_equal(got, k2, 32);
    assert_int_equal(osec_eukey_assign(f->st, f->m, "x", "car", "bob", 3600, k1, &exp), OSEC_EINVAL);
    /* text form round trip */
    assert_int_equal(osec_key_to_text(k2, text), 0);
    assert_int_equal(strlen(text), 43);
    assert_int_equal(osec_key_from_text(osec_slice_cstr(text), got), 0);
    assert_memory_equal(got, k2, 32);
    assert_int_equal(osec_key_from_text(osec_slice_cstr("short"), got), OSEC_EPARSE);
    /* revocation and expiry */
    assert_int_equal(osec_store_entity_revoke(f->st, "watch-1", 0), 0);
    assert_int_equal(osec_eukey_get(f->st, f->m, "watch-1", got, NULL), OSEC_EPERM);
    assert_int_equal(osec_eukey_get(f->st, f->m, "nope", got, NULL), OSEC_ENOTFOUND);
}

static void otk_wrap_binds_everything(void **state)
{
    uint8_t peer[32], key[32], out[32];
    struct osec_buf w;
    (void)state;

    memset(peer, 7, sizeof(peer));
    memset(key, 9, sizeof(key));
    osec_buf_init(&w, 256);
    assert_int_equal(osec_otk_wrap(peer, "otk-1", "gw", "watch", 1000, key, &w), 0);
    assert_int_equal(w.len, 12 + 32 + 16);
    assert_int_equal(osec_otk_unwrap(peer, "otk-1", "gw", "watch", 1000, w.data, w.len, out), 0);
    assert_memory_equal(out, key, 32);
    assert_int_equal(osec_otk_unwrap(peer, "otk-2", "gw", "watch", 1000, w.data, w.len, out), OSEC_EINTEGRITY);
    assert_int_equal(osec_otk_unwrap(peer, "otk-1", "gw2", "watch", 1000, w.data, w.len, out), OSEC_EINTEGRITY);
    assert_int_equal(osec_otk_unwrap(peer, "otk-1", "gw", "watch2", 1000, w.data, w.len, out), OSEC_EINTEGRITY);
    assert_int_equal(osec_otk_unwrap(peer, "otk-1", "gw", "watch", 1001, w.data, w.len, out), OSEC_EINTEGRITY);
    peer[0] ^= 1;
    assert_int_equal(osec_otk_unwrap(peer, "otk-1", "gw", "watch", 1000, w.data, w.len, out), OSEC_EINTEGRITY);
    assert_int_equal(osec_otk_unwrap(peer, "otk-1", "gw", "watch", 1000, w.data, w.len - 1, out), OSEC_EINTEGRITY);
    osec_buf_free(&w);
}

static void otk_register_and_consume(void **state)
{
    struct fx *f = *state;
    uint8_t gwk[32], pk[32], key[32], out[32], psk1[32], psk2[32];
    char id[OSEC_STORE_NAME_MAX + 1];
    struct osec_store_otk k;
    int64_t exp;

    assert_int_equal(osec_eukey_assign(f->st, f->m, "gw-1", "gw", "bob", 3600, gwk, &exp), 0);
    assert_int_equal(osec_eukey_assign(f->st, f->m, "tv-1", "pne", "bob", 3600, pk, &exp), 0);
    memset(key, 0x42, sizeof(key));
    assert_int_equal(osec_otk_register(f->st, f->m, "gw-1", "tv-1", key, 300, id, &exp), 0);
    assert_true(strncmp(id, "otk-", 4) == 0);
    memset(&k, 0, sizeof(k));
    assert_int_equal(osec_store_otk_consume(f->st, id, "tv-1", osec_time_now(), &k), 0);
    /* only the peer's EUKey unwraps it */
    assert_int_equal(osec_otk_unwrap(pk, k.key_id, k.creator, k.peer, k.expires, k.sealed.data,
                                     k.sealed.len, out), 0);
    assert_memory_equal(out, key, 32);
    assert_int_equal(osec_otk_unwrap(gwk, k.key_id, k.creator, k.peer, k.expires, k.sealed.data,
                                     k.sealed.len, out), OSEC_EINTEGRITY);
    osec_store_otk_clear(&k);
    assert_int_equal(osec_store_otk_consume(f->st, id, "tv-1", osec_time_now(), &k), OSEC_ENOTFOUND);
    assert_int_equal(osec_otk_register(f->st, f->m, "gw-1", "nope", key, 300, id, &exp), OSEC_ENOTFOUND);
    assert_int_equal(osec_otk_register(f->st, f->m, "gw-1", "tv-1", key, 0, id, &exp), OSEC_EINVAL);
    assert_int_equal(osec_otk_register(f->st, f->m, "gw-1", "tv-1", key, 3601, id, &exp), OSEC_EINVAL);
    assert_int_equal(osec_otk_register(f->st, f->m, "gw-1", "gw-1", key, 30, id, &exp), OSEC_EINVAL);
    /* PSKs are bound to the identity */
    assert_int_equal(osec_otk_psk(key, "otk-a", psk1), 0);
    assert_int_equal(osec_otk_psk(key, "otk-b", psk2), 0);
    assert_memory_not_equal(psk1, psk2, 32);
    assert_int_equal(osec_eukey_psk(key, "otk-a", psk2), 0);
    assert_memory_not_equal(psk1, psk2, 32);
}

static struct osec_principal who(const char *ent, const char *user, const char *type)
{
    struct osec_principal p;

    memset(&p, 0, sizeof(p));
    strcpy(p.entity_id, ent);
    strcpy(p.user, user);
    strcpy(p.type, type);
    return p;
}

static void authz_rules(void **state)
{
    struct fx *f = *state;
    uint8_t k[32];
    int64_t exp;
    char why[OSEC_AUTHZ_REASON_MAX];
    struct osec_principal gw = who("gw-a", "alice", "gw"), pne = who("w-a", "alice", "pne");
    struct osec_principal user = who("", "alice", "");

    assert_int_equal(osec_eukey_assign(f->st, f->m, "gw-a", "gw", "alice", 3600, k, &exp), 0);
    assert_int_equal(osec_eukey_assign(f->st, f->m, "w-a", "pne", "alice", 3600, k, &exp), 0);
    assert_int_equal(osec_eukey_assign(f->st, f->m, "gw-b", "gw", "bob", 3600, k, &exp), 0);
    assert_int_equal(osec_authz_check(f->st, &gw, OSEC_AUTHZ_OTK_CREATE, "w-a", why, sizeof(why)), 0);
    assert_int_equal(osec_authz_check(f->st, &pne, OSEC_AUTHZ_OTK_CREATE, "gw-a", why, sizeof(why)), OSEC_EPERM);
    assert_non_null(strstr(why, "only a PN Gateway"));
    assert_int_equal(osec_authz_check(f->st, &gw, OSEC_AUTHZ_OTK_CREATE, "gw-b", why, sizeof(why)), OSEC_EPERM);
    assert_non_null(strstr(why, "another user"));
    assert_int_equal(osec_authz_check(f->st, &gw, OSEC_AUTHZ_OTK_CREATE, "zz", why, sizeof(why)), OSEC_EPERM);
    /* a policy grant lets alice's gateways pair with bob's entities */
    assert_int_equal(osec_store_policy_set(f->st, "authz.pair.alice", "carol, bob"), 0);
    assert_int_equal(osec_authz_check(f->st, &gw, OSEC_AUTHZ_OTK_CREATE, "gw-b", why, sizeof(why)), 0);
    assert_int_equal(osec_store_policy_set(f->st, "authz.pair.alice", "bobby"), 0);
    assert_int_equal(osec_authz_check(f->st, &gw, OSEC_AUTHZ_OTK_CREATE, "gw-b", why, sizeof(why)), OSEC_EPERM);
    assert_int_equal(osec_authz_check(f->st, &gw, OSEC_AUTHZ_ENTITY_LIST, "alice", why, sizeof(why)), 0);
    assert_int_equal(osec_authz_check(f->st, &gw, OSEC_AUTHZ_ENTITY_LIST, "bob", why, sizeof(why)), OSEC_EPERM);
    assert_int_equal(osec_authz_check(f->st, &user, OSEC_AUTHZ_EUKEY_ASSIGN, "new-1", why, sizeof(why)), 0);
    assert_int_equal(osec_authz_check(f->st, &user, OSEC_AUTHZ_EUKEY_ASSIGN, "gw-b", why, sizeof(why)), OSEC_EPERM);
    assert_int_equal(osec_authz_check(f->st, &gw, OSEC_AUTHZ_EUKEY_ASSIGN, "new-1", why, sizeof(why)), OSEC_EPERM);
    assert_int_equal(osec_authz_check(f->st, &user, OSEC_AUTHZ_ENTITY_REVOKE, "w-a", why, sizeof(why)), 0);
    assert_int_equal(osec_authz_check(f->st, &gw, OSEC_AUTHZ_ENTITY_REVOKE, "w-a", why, sizeof(why)), OSEC_EPERM);
    assert_int_equal(osec_authz_check(f->st, &pne, OSEC_AUTHZ_ENTITY_REVOKE, "w-a", why, sizeof(why)), 0);
}

static void lookups(void **state)
{
    struct fx *f = *state;
    struct osec_lookup l = { f->st, f->m, "omasec" };
    struct osec_digest_lookup q;
    struct osec_digest_secret s;
    uint8_t k[32], psk[64], want[32];
    size_t psk_len;
    int64_t exp;
    char text[OSEC_KEY_TEXT_LEN + 1];

    memset(&q, 0, sizeof(q));
    q.username = osec_slice_cstr("bob");
    q.realm = osec_slice_cstr("omasec");
    q.hash = OSEC_HASH_SHA256;
    memset(&s, 0, sizeof(s));
    assert_int_equal(osec_lookup_user_digest(&l, &q, &s), 0);
    assert_int_equal(s.kind, OSEC_DIGEST_SECRET_HA1);
    assert_int_equal(s.ha1_len, 32);
    q.username = osec_slice_cstr("nobody");
    assert_int_equal(osec_lookup_user_digest(&l, &q, &s), OSEC_ENOTFOUND);

    assert_int_equal(osec_eukey_assign(f->st, f->m, "pne-9", "pne", "bob", 3600, k, &exp), 0);
    q.username = osec_slice_cstr("pne-9");
    assert_int_equal(osec_lookup_entity_digest(&l, &q, &s), 0);
    assert_int_equal(s.kind, OSEC_DIGEST_SECRET_PASSWORD);
    assert_int_equal(osec_key_to_text(k, text), 0);
    assert_int_equal(s.password_len, 43);
    assert_memory_equal(s.password, text, 43);
    assert_int_equal(osec_lookup_entity_psk(f->st, f->m, "pne-9", psk, sizeof(psk), &psk_len), 0);
    assert_int_equal(psk_len, 32);
    assert_int_equal(osec_eukey_psk(k, "pne-9", want), 0);
    assert_memory_equal(psk, want, 32);
    assert_int_equal(osec_store_entity_revoke(f->st, "pne-9", 0), 0);
    assert_int_equal(osec_lookup_entity_digest(&l, &q, &s), OSEC_ENOTFOUND);
    assert_int_equal(osec_lookup_entity_psk(f->st, f->m, "pne-9", psk, sizeof(psk), &psk_len),
                     OSEC_ENOTFOUND);
}

static void ratelimit_blocks_and_forgets(void **state)
{
    struct osec_ratelimit_config cfg = { 3, 60, 30, 64 };
    struct osec_ratelimit *rl;
    unsigned ra;
    char key[32];
    (void)state;

    assert_int_equal(osec_ratelimit_new(&cfg, &rl), 0);
    assert_int_equal(osec_ratelimit_check(rl, "ip:1", 1000, &ra), 0);
    osec_ratelimit_fail(rl, "ip:1", 1000);
    osec_ratelimit_fail(rl, "ip:1", 1001);
    assert_int_equal(osec_ratelimit_check(rl, "ip:1", 1002, &ra), 0);
    osec_ratelimit_fail(rl, "ip:1", 1002);
    assert_int_equal(osec_ratelimit_check(rl, "ip:1", 1003, &ra), OSEC_EBUSY);
    assert_int_equal(ra, 29);
    assert_int_equal(osec_ratelimit_check(rl, "ip:2", 1003, &ra), 0);
    assert_int_equal(osec_ratelimit_check(rl, "ip:1", 1032, &ra), 0);
    /* failures spread beyond the window do not block */
    osec_ratelimit_success(rl, "ip:1");
    osec_ratelimit_fail(rl, "ip:1", 2000);
    osec_ratelimit_fail(rl, "ip:1", 2100);
    osec_ratelimit_fail(rl, "ip:1", 2101);
    assert_int_equal(osec_ratelimit_check(rl, "ip:1", 2102, &ra), 0);
    /* a flood of keys never grows memory and the table keeps working */
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "ip:x%d", i);
        osec_ratelimit_fail(rl, key, 3000);
    }
    osec_ratelimit_free(&rl);
    assert_null(rl);
}

static void revocation_leaves_groups(void **state)
{
    struct fx *f = *state;
    uint8_t k[32];
    int64_t exp;
    unsigned n = 0;
    char why[128];
    struct osec_group g;
    struct osec_principal gw = who("gw-a", "alice", "gw");
    const char *members[] = { "w-a", "w-b" };
    struct osec_store_entity e;

    assert_int_equal(osec_eukey_assign(f->st, f->m, "gw-a", "gw", "alice", 3600, k, &exp), 0);
    assert_int_equal(osec_eukey_assign(f->st, f->m, "w-a", "pne", "alice", 3600, k, &exp), 0);
    assert_int_equal(osec_eukey_assign(f->st, f->m, "w-b", "pne", "alice", 3600, k, &exp), 0);
    assert_int_equal(osec_group_create(f->st, f->m, &gw, "g1", members, 2, &g, why, sizeof(why)), 0);
    assert_int_equal(g.epoch, 1);
    assert_int_equal(osec_eukey_revoke(f->st, f->m, "w-a", &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(osec_group_load(f->st, f->m, "g1", &g), 0);
    assert_int_equal(g.epoch, 2);
    assert_false(osec_group_is_member(&g, "w-a"));
    assert_true(osec_group_is_member(&g, "w-b"));
    /* deleting the user takes its entities out of their groups first */
    assert_int_equal(osec_user_delete(f->st, f->m, "alice"), 0);
    memset(&e, 0, sizeof(e));
    assert_int_equal(osec_store_entity_get(f->st, "w-b", &e), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_user_get(f->st, "alice", &(struct osec_store_user){ 0 }), OSEC_ENOTFOUND);
    assert_int_equal(osec_user_delete(f->st, f->m, "alice"), OSEC_ENOTFOUND);
}

static void store_url_redacted(void **state)
{
    char out[256];
    (void)state;

    assert_int_equal(osec_store_url_redact("postgresql://omasec:s3cret@db.example:5432/omasec", out, sizeof(out)), 0);
    assert_string_equal(out, "postgresql://omasec:***@db.example:5432/omasec");
    assert_int_equal(osec_store_url_redact("postgresql:///omasec?host=/run&password=s3cret&sslmode=require", out, sizeof(out)), 0);
    assert_string_equal(out, "postgresql:///omasec?host=/run&password=***&sslmode=require");
    assert_int_equal(osec_store_url_redact("sqlite:/var/lib/omasec/omasec.db", out, sizeof(out)), 0);
    assert_string_equal(out, "sqlite:/var/lib/omasec/omasec.db");
    assert_int_equal(osec_store_url_redact("postgresql://omasec@db/omasec", out, sizeof(out)), 0);
    assert_string_equal(out, "postgresql://omasec@db/omasec");
    assert_null(strstr(out, "s3cret"));
}

static int count_cb(const char *name, void *arg)
{
    (void)name;
    (*(int *)arg)++;
    return 0;
}

static void devstate_records(void **state)
{
    char dir[64], path[160];
    struct osec_devstate *ds;
    struct osec_buf b;
    struct osec_pn_key k, k2, sess;
    struct stat st;
    FILE *f;
    int n = 0;
    (void)state;

    strcpy(dir, "/tmp/osec-dev-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/dev", dir);
    assert_int_equal(osec_devstate_open(path, false, &ds), OSEC_ENOTFOUND);
    assert_int_equal(osec_devstate_open(path, true, &ds), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(osec_devstate_put(ds, "rec-1", "hello", 5), 0);
    osec_buf_init_secret(&b, 1024);
    assert_int_equal(osec_devstate_get(ds, "rec-1", &b), 0);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "hello", 5);
    assert_int_equal(osec_devstate_put(ds, "../x", "a", 1), OSEC_EINVAL);
    assert_int_equal(osec_devstate_list(ds, "rec-", count_cb, &n), 0);
    assert_int_equal(n, 1);
    /* a record moved to another name does not open */
    snprintf(path, sizeof(path), "mv %s/dev/rec-1.sealed %s/dev/rec-2.sealed", dir, dir);
    assert_int_equal(system(path), 0);
    osec_buf_reset(&b);
    assert_int_equal(osec_devstate_get(ds, "rec-2", &b), OSEC_EINTEGRITY);
    assert_int_equal(osec_devstate_del(ds, "rec-2"), 0);
    assert_int_equal(osec_devstate_del(ds, "rec-2"), OSEC_ENOTFOUND);
    /* key records, expiry, tampering */
    memset(&k, 0, sizeof(k));
    strcpy(k.id, "otk-abc");
    strcpy(k.peer, "watch-1");
    memset(k.key, 5, sizeof(k.key));
    k.expires = osec_time_now() + 100;
    assert_int_equal(osec_pn_key_save(ds, &k), 0);
    assert_int_equal(osec_pn_key_load(ds, "otk-abc", &k2), 0);
    assert_memory_equal(k2.key, k.key, 32);
    assert_string_equal(k2.peer, "watch-1");
    assert_int_equal(osec_pn_session_derive(&k, "watch-1", &sess), 0);
    assert_string_equal(sess.id, "pn-watch-1");
    assert_memory_not_equal(sess.key, k.key, 32);
    snprintf(path, sizeof(path), "%s/dev/otk-abc.sealed", dir);
    f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 30, SEEK_SET);
    fputc(0x55, f);
    fclose(f);
    assert_int_equal(osec_pn_key_load(ds, "otk-abc", &k2), OSEC_EINTEGRITY);
    k.expires = osec_time_now() - 1;
    assert_int_equal(osec_pn_key_save(ds, &k), 0);
    assert_int_equal(osec_pn_key_load(ds, "otk-abc", &k2), OSEC_ESTALE);
    assert_int_equal(osec_pn_key_load(ds, "otk-abc", &k2), OSEC_ENOTFOUND); /* deleted */
    osec_buf_free(&b);
    osec_devstate_close(&ds);
    snprintf(path, sizeof(path), "rm -rf %s", dir);
    assert_int_equal(system(path), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(account_passwords, setup, teardown),
        cmocka_unit_test_setup_teardown(eukey_lifecycle, setup, teardown),
        cmocka_unit_test(otk_wrap_binds_everything),
        cmocka_unit_test_setup_teardown(otk_register_and_consume, setup, teardown),
        cmocka_unit_test_setup_teardown(authz_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(lookups, setup, teardown),
        cmocka_unit_test(ratelimit_blocks_and_forgets),
        cmocka_unit_test(devstate_records),
        cmocka_unit_test(store_url_redacted),
        cmocka_unit_test_setup_teardown(revocation_leaves_groups, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
