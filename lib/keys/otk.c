#include <string.h>

#include "omasec/error.h"
#include "omasec/keys.h"
#include "omasec/util.h"

#define WRAP_INFO "omasec/v1/otk-wrap"

/* AAD = "otk" | u16 len | key_id | u16 len | creator | u16 len | peer | u64 expires */
static int wrap_aad(const char *key_id, const char *creator, const char *peer, int64_t expires,
                    struct osec_buf *aad)
{
    const char *parts[3] = { key_id, creator, peer };

    OSEC_GUARD(osec_buf_append_str(aad, "otk"));
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(parts[i]);

        OSEC_ENSURE(n <= OSEC_STORE_NAME_MAX, OSEC_EBOUNDS, "name too long");
        OSEC_GUARD(osec_buf_append_u16be(aad, (uint16_t)n));
        OSEC_GUARD(osec_buf_append(aad, parts[i], n));
    }
    return osec_buf_append_u64be(aad, (uint64_t)expires);
}

static int kek_for(const uint8_t peer_eukey[OSEC_KEY_LEN], uint8_t kek[OSEC_KEY_LEN])
{
    return osec_hkdf_sha256(NULL, 0, peer_eukey, OSEC_KEY_LEN, (const uint8_t *)WRAP_INFO,
                            strlen(WRAP_INFO), kek, OSEC_KEY_LEN);
}

/* wrapped = nonce(12) | ciphertext(32) | tag(16) */
int osec_otk_wrap(const uint8_t peer_eukey[OSEC_KEY_LEN], const char *key_id,
                  const char *creator, const char *peer, int64_t expires,
                  const uint8_t key[OSEC_KEY_LEN], struct osec_buf *out)
{
    uint8_t kek[OSEC_KEY_LEN], nonce[OSEC_AEAD_NONCE_LEN];
    uint8_t ct[OSEC_KEY_LEN + OSEC_AEAD_TAG_LEN];
    struct osec_buf aad;
    int rc;

    osec_buf_init(&aad, 3 * (OSEC_STORE_NAME_MAX + 2) + 16);
    OSEC_CHECK(rc, wrap_aad(key_id, creator, peer, expires, &aad));
    OSEC_CHECK(rc, kek_for(peer_eukey, kek));
    OSEC_CHECK(rc, osec_rand_bytes(nonce, sizeof(nonce)));
    OSEC_CHECK(rc, osec_aead_seal(OSEC_AEAD_AES256GCM, kek, nonce, aad.data, aad.len, key,
                                  OSEC_KEY_LEN, ct));
    OSEC_CHECK(rc, osec_buf_append(out, nonce, sizeof(nonce)));
    rc = osec_buf_append(out, ct, sizeof(ct));
out:
    osec_wipe(kek, sizeof(kek));
    osec_buf_free(&aad);
    return rc;
}

int osec_otk_unwrap(const uint8_t peer_eukey[OSEC_KEY_LEN], const char *key_id,
                    const char *creator, const char *peer, int64_t expires,
                    const uint8_t *wrapped, size_t len, uint8_t key[OSEC_KEY_LEN])
{
    uint8_t kek[OSEC_KEY_LEN];
    struct osec_buf aad;
    int rc;

    OSEC_ENSURE(len == OSEC_AEAD_NONCE_LEN + OSEC_KEY_LEN + OSEC_AEAD_TAG_LEN, OSEC_EINTEGRITY,
                "wrapped onetime key has a bad length");
    osec_buf_init(&aad, 3 * (OSEC_STORE_NAME_MAX + 2) + 16);
    OSEC_CHECK(rc, wrap_aad(key_id, creator, peer, expires, &aad));
    OSEC_CHECK(rc, kek_for(peer_eukey, kek));
    rc = osec_aead_open(OSEC_AEAD_AES256GCM, kek, wrapped, aad.data, aad.len,
                        wrapped + OSEC_AEAD_NONCE_LEN, len - OSEC_AEAD_NONCE_LEN, key);
out:
    osec_wipe(kek, sizeof(kek));
    osec_buf_free(&aad);
    return rc;
}

static int new_key_id(char key_id[OSEC_STORE_NAME_MAX + 1])
{
    uint8_t rnd[16];
    struct osec_buf b;
    int rc;

    osec_buf_init(&b, 64);
    OSEC_CHECK(rc, osec_rand_bytes(rnd, sizeof(rnd)));
    OSEC_CHECK(rc, osec_buf_append_str(&b, OSEC_OTK_ID_PREFIX));
    OSEC_CHECK(rc, osec_b64url_encode(rnd, sizeof(rnd), &b));
    rc = osec_strlcpy(key_id, osec_buf_cstr(&b), OSEC_STORE_NAME_MAX + 1);
out:
    osec_buf_free(&b);
    return rc;
}

int osec_otk_register(struct osec_store *st, const struct osec_master *m, const char *creator,
                      const char *peer, const uint8_t key[OSEC_KEY_LEN], int64_t ttl,
                      char key_id[OSEC_STORE_NAME_MAX + 1], int64_t *expires)
{
    struct osec_store_otk k;
    struct osec_buf wrapped;
    uint8_t peer_key[OSEC_KEY_LEN];
    int rc;

    OSEC_ENSURE(ttl >= 1 && ttl <= OSEC_OTK_TTL_MAX, OSEC_EINVAL,
                "ttl must be 1..%d seconds", OSEC_OTK_TTL_MAX);
    OSEC_ENSURE(strcmp(creator, peer) != 0, OSEC_EINVAL, "an entity cannot pair with itself");
    memset(&k, 0, sizeof(k));
    osec_buf_init(&wrapped, 128);
    OSEC_CHECK(rc, osec_eukey_get(st, m, peer, peer_key, NULL));
    OSEC_CHECK(rc, new_key_id(k.key_id));
    OSEC_CHECK(rc, osec_strlcpy(k.creator, creator, sizeof(k.creator)));
    OSEC_CHECK(rc, osec_strlcpy(k.peer, peer, sizeof(k.peer)));
    k.created = osec_time_now();
    k.expires = k.created + ttl;
    OSEC_CHECK(rc, osec_otk_wrap(peer_key, k.key_id, creator, peer, k.expires, key, &wrapped));
    k.sealed.data = wrapped.data;
    k.sealed.len = wrapped.len;
    OSEC_CHECK(rc, osec_store_otk_add(st, &k));
    OSEC_CHECK(rc, osec_strlcpy(key_id, k.key_id, OSEC_STORE_NAME_MAX + 1));
    *expires = k.expires;
out:
    osec_wipe(peer_key, sizeof(peer_key));
    osec_buf_free(&wrapped);
    return rc;
}
