/* Stateless Digest nonces.
 *
 *   nonce = base64url( ts(8, big endian) || rand(8) ||
 *                      HMAC-SHA256(secret, "omasec-nonce" || ts || rand || binding)[0..16] )
 *
 * The server keeps no state per nonce: the MAC proves it made the nonce
 * (for this client binding), the timestamp gives its age.  The binding is
 * last and the only variable-length input, so the MAC input is unambiguous. */
#include <string.h>

#include "auth/digest_internal.h"
#include "omasec/crypto.h"
#include "omasec/error.h"
#include "omasec/util.h"

#define LABEL "omasec-nonce"
#define LABEL_LEN (sizeof(LABEL) - 1)
#define TS_LEN 8
#define RAND_LEN 8
#define TAG_LEN 16
#define RAW_LEN (TS_LEN + RAND_LEN + TAG_LEN)

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* tag = HMAC(secret, LABEL || ts || rand || binding) truncated. */
static int nonce_tag(const uint8_t secret[OSEC_DIGEST_SECRET_LEN], const uint8_t *ts_rand,
                     struct osec_slice binding, uint8_t tag[TAG_LEN])
{
    uint8_t msg[LABEL_LEN + TS_LEN + RAND_LEN + OSEC_DIGEST_BINDING_MAX];
    uint8_t mac[32];
    size_t n = 0;
    int rc;

    OSEC_ENSURE(binding.len <= OSEC_DIGEST_BINDING_MAX, OSEC_EINVAL,
                "nonce binding longer than %d bytes", OSEC_DIGEST_BINDING_MAX);
    memcpy(msg, LABEL, LABEL_LEN);
    n += LABEL_LEN;
    memcpy(msg + n, ts_rand, TS_LEN + RAND_LEN);
    n += TS_LEN + RAND_LEN;
    if (binding.len)
        memcpy(msg + n, binding.ptr, binding.len);
    n += binding.len;
    rc = osec_hmac_sha256(secret, OSEC_DIGEST_SECRET_LEN, msg, n, mac);
    if (rc == 0)
        memcpy(tag, mac, TAG_LEN);
    osec_wipe(mac, sizeof(mac));
    return rc;
}

int dg_nonce_make(const uint8_t secret[OSEC_DIGEST_SECRET_LEN], int64_t now,
                  struct osec_slice binding, struct osec_buf *out)
{
    uint8_t raw[RAW_LEN];

    put_be64(raw, (uint64_t)now);
    OSEC_GUARD(osec_rand_bytes(raw + TS_LEN, RAND_LEN));
    OSEC_GUARD(nonce_tag(secret, raw, binding, raw + TS_LEN + RAND_LEN));
    return osec_b64url_encode(raw, RAW_LEN, out);
}

int dg_nonce_check(const uint8_t secret[OSEC_DIGEST_SECRET_LEN], struct osec_slice nonce,
                   struct osec_slice binding, int64_t *issued)
{
    struct osec_buf raw = OSEC_BUF_INIT(RAW_LEN);
    uint8_t tag[TAG_LEN];
    int rc = 0;

    if (nonce.len != OSEC_DIGEST_NONCE_LEN)
        OSEC_FAIL(rc, OSEC_EAUTH, "nonce not issued by this server (length)");
    if (osec_b64url_decode(nonce, &raw) != 0 || raw.len != RAW_LEN)
        OSEC_FAIL(rc, OSEC_EAUTH, "nonce not issued by this server (encoding)");
    OSEC_CHECK(rc, nonce_tag(secret, raw.data, binding, tag));
    if (!osec_ct_eq(tag, raw.data + TS_LEN + RAND_LEN, TAG_LEN))
        OSEC_FAIL(rc, OSEC_EAUTH, "nonce not issued by this server (MAC)");
    *issued = (int64_t)get_be64(raw.data);
out:
    osec_buf_free(&raw);
    return rc;
}
