#include "omasec/lookup.h"

#include <pthread.h>
#include <string.h>

#include "omasec/account.h"
#include "omasec/error.h"
#include "omasec/keys.h"
#include "omasec/util.h"

static int name_of(const struct osec_digest_lookup *who, char *out, size_t len)
{
    /* userhash is not offered by the CPNS server; an unusable name is simply unknown */
    if (who->userhash || osec_slice_to_cstr(who->username, out, len) < 0)
        OSEC_BAIL(OSEC_ENOTFOUND, "unknown user");
    return 0;
}

static int not_found_if_gone(int rc)
{
    /* Gone, revoked or expired all look alike to the peer. */
    if (rc == OSEC_ENOTFOUND || rc == OSEC_EPERM || rc == OSEC_ESTALE)
        OSEC_BAIL(OSEC_ENOTFOUND, "unknown or unusable identity");
    return rc;
}

int osec_lookup_user_digest(void *arg, const struct osec_digest_lookup *who,
                            struct osec_digest_secret *out)
{
    const struct osec_lookup *l = arg;
    struct osec_store_user u;
    char name[OSEC_STORE_NAME_MAX + 1];
    bool disabled;
    int rc;

    OSEC_GUARD(name_of(who, name, sizeof(name)));
    memset(&u, 0, sizeof(u));
    rc = osec_store_user_get(l->st, name, &u);
    disabled = rc == 0 && (u.flags & OSEC_USER_DISABLED);
    osec_store_user_clear(&u);
    OSEC_GUARD(not_found_if_gone(rc));
    OSEC_ENSURE(!disabled, OSEC_ENOTFOUND, "account disabled");
    OSEC_GUARD(not_found_if_gone(osec_account_ha1(l->st, l->m, l->realm, name, who->hash,
                                                  out->ha1)));
    out->kind = OSEC_DIGEST_SECRET_HA1;
    out->ha1_len = osec_hash_len(who->hash);
    return osec_strlcpy(out->username, name, sizeof(out->username));
}

static _Thread_local struct osec_store_entity last;
static _Thread_local bool have_last;

bool osec_lookup_last_entity(const char *entity_id, struct osec_store_entity *out)
{
    if (!have_last || strcmp(last.entity_id, entity_id) != 0)
        return false;
    *out = last;
    return true;
}

void osec_lookup_forget(void)
{
    have_last = false;
}

int osec_lookup_entity_digest(void *arg, const struct osec_digest_lookup *who,
                              struct osec_digest_secret *out)
{
    const struct osec_lookup *l = arg;
    uint8_t key[OSEC_KEY_LEN];
    char name[OSEC_STORE_NAME_MAX + 1], text[OSEC_KEY_TEXT_LEN + 1];
    struct osec_store_entity e;
    int rc;

    have_last = false;
    OSEC_GUARD(name_of(who, name, sizeof(name)));
    memset(&e, 0, sizeof(e));
    rc = not_found_if_gone(osec_eukey_get(l->st, l->m, name, key, &e));
    if (rc == 0) {
        osec_store_entity_clear(&e); /* keep the names and times, not the key */
        last = e;
        have_last = true;
    }
    if (rc == 0)
        rc = osec_key_to_text(key, text);
    if (rc == 0) {
        memcpy(out->password, text, OSEC_KEY_TEXT_LEN);
        out->password_len = OSEC_KEY_TEXT_LEN;
        out->kind = OSEC_DIGEST_SECRET_PASSWORD;
        rc = osec_strlcpy(out->username, name, sizeof(out->username));
    }
    osec_wipe(key, sizeof(key));
    osec_wipe(text, sizeof(text));
    return rc;
}

int osec_lookup_entity_psk(struct osec_store *st, const struct osec_master *m,
                           const char *identity, uint8_t *psk, size_t psk_max, size_t *psk_len)
{
    uint8_t key[OSEC_KEY_LEN];
    int rc;

    OSEC_ENSURE(psk_max >= OSEC_KEY_LEN, OSEC_EBOUNDS, "PSK buffer too small");
    rc = not_found_if_gone(osec_eukey_get(st, m, identity, key, NULL));
    if (rc == 0)
        rc = osec_eukey_psk(key, identity, psk);
    if (rc == 0)
        *psk_len = OSEC_KEY_LEN;
    osec_wipe(key, sizeof(key));
    return rc;
}

static int gen_secret(void *arg, struct osec_buf *out)
{
    const struct osec_master *m = arg;
    uint8_t secret[OSEC_DIGEST_SECRET_LEN];
    int rc = osec_rand_bytes(secret, sizeof(secret));

    if (rc == 0)
        rc = osec_seal(m, "nonce-secret", NULL, 0, secret, sizeof(secret), out);
    osec_wipe(secret, sizeof(secret));
    return rc;
}

static uint8_t boot[32];
static int boot_rc = -1;
static pthread_once_t boot_once = PTHREAD_ONCE_INIT;

static void make_boot(void)
{
    boot_rc = osec_rand_bytes(boot, sizeof(boot));
}

int osec_lookup_nonce_secret(struct osec_store *st, const struct osec_master *m,
                             const char *name, bool this_process_only,
                             uint8_t out[OSEC_DIGEST_SECRET_LEN])
{
    struct osec_store_blob b = { NULL, 0 };
    struct osec_buf pt;
    int rc;

    osec_buf_init_secret(&pt, 64);
    OSEC_CHECK(rc, osec_store_meta_get_or_create(st, name, gen_secret, (void *)m, &b));
    OSEC_CHECK(rc, osec_unseal(m, "nonce-secret", NULL, 0, b.data, b.len, &pt));
    if (pt.len != OSEC_DIGEST_SECRET_LEN)
        OSEC_FAIL(rc, OSEC_EINTEGRITY, "bad nonce secret length");
    memcpy(out, pt.data, OSEC_DIGEST_SECRET_LEN);
    if (this_process_only) {
        (void)pthread_once(&boot_once, make_boot);
        if (boot_rc < 0)
            OSEC_FAIL(rc, OSEC_ECRYPTO, "no randomness for the nonce secret");
        OSEC_CHECK(rc, osec_hmac_sha256(pt.data, OSEC_DIGEST_SECRET_LEN, boot, sizeof(boot), out));
    }
out:
    if (rc < 0)
        osec_wipe(out, OSEC_DIGEST_SECRET_LEN);
    osec_store_blob_free(&b);
    osec_buf_free(&pt);
    return rc;
}
