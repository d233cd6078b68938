/* Requests between cpm-sipd instances on a shared store (docs/cpm-sip.md,
 * "Bindings").
 *
 * A TCP/TLS binding can only be reached over its connection, which one
 * instance holds.  A request of the CS for it that arrives elsewhere is
 * sent on, over UDP, to that instance with a Route whose user part names
 * the connection there ("c" token).  The receiving instance treats the
 * request as the CS's (it keeps P-Asserted-Identity) only when the token's
 * MAC verifies under the cluster key, which every instance derives from a
 * secret shared through the store (sealed under the master key): knowing an
 * instance's address is not enough to inject requests as the core.  The MAC
 * binds the token to the instance it is for, the flow, a 32-second expiry,
 * and the request (our Via branch, Call-ID, CSeq and method), so a token
 * cannot be moved to another request; the rest of the message is protected
 * only as the CS link is (a network of the trust domain). */
#include <string.h>

#include "omasec/crypto.h"
#include "omasec/error.h"
#include "omasec/lookup.h"
#include "sipd.h"

#define TOKEN_TTL 32      /* seconds: Timer F / J */
#define CLOCK_SKEW 30     /* seconds of clock difference tolerated between instances */
#define PAYLOAD_LEN 18    /* kind, listener, connection id, expiry */
#define TAG_LEN 16
#define TOKEN_LEN (1 + 2 * (PAYLOAD_LEN + TAG_LEN))

static const char label[] = "omasec cpm-sipd cluster route v1";

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* A length-prefixed field, so that no two inputs serialise alike. */
static int field(struct osec_buf *b, struct osec_slice s)
{
    OSEC_ENSURE(s.len <= UINT16_MAX, OSEC_EBOUNDS, "field too long for a cluster route");
    OSEC_GUARD(osec_buf_append_u16be(b, (uint16_t)s.len));
    return osec_buf_append_slice(b, s);
}

static int tag_of(const struct sipd *srv, const char *to, const uint8_t payload[PAYLOAD_LEN],
                  struct osec_slice branch, const struct osec_sip_msg *m, uint8_t tag[32])
{
    struct osec_buf in = OSEC_BUF_INIT(4 * UINT16_MAX);
    int rc;

    OSEC_CHECK(rc, osec_buf_append(&in, label, sizeof(label)));
    OSEC_CHECK(rc, field(&in, osec_slice_cstr(to)));
    OSEC_CHECK(rc, osec_buf_append(&in, payload, PAYLOAD_LEN));
    OSEC_CHECK(rc, field(&in, branch));
    OSEC_CHECK(rc, field(&in, m->call_id));
    OSEC_CHECK(rc, field(&in, m->method));
    OSEC_CHECK(rc, osec_buf_append_u32be(&in, m->cseq));
    rc = osec_hmac_sha256(srv->cluster_key, sizeof(srv->cluster_key), in.data, in.len, tag);
out:
    osec_buf_free(&in);
    return rc;
}

static void hex(char *out, const uint8_t *p, size_t n)
{
    static const char hx[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[p[i] >> 4];
        out[2 * i + 1] = hx[p[i] & 15];
    }
}

int sipd_cluster_token(const struct sipd *srv, const char *to, const struct sipd_flow *remote,
                       struct osec_slice branch, const struct osec_sip_msg *m, int64_t now,
                       char *out, size_t outlen)
{
    uint8_t payload[PAYLOAD_LEN], tag[32];

    OSEC_ENSURE(outlen > TOKEN_LEN, OSEC_EBOUNDS, "cluster token buffer too small");
    payload[0] = (uint8_t)remote->tp;
    payload[1] = remote->listen;
    put_be64(payload + 2, remote->conn);
    put_be64(payload + 10, (uint64_t)(now + TOKEN_TTL));
    OSEC_GUARD(tag_of(srv, to, payload, branch, m, tag));
    out[0] = 'c';
    hex(out + 1, payload, PAYLOAD_LEN);
    hex(out + 1 + 2 * PAYLOAD_LEN, tag, TAG_LEN);
    out[TOKEN_LEN] = '\0';
    return 0;
}

/* The flow a verified payload names: a connection of one of our listeners. */
static int flow_of(const struct sipd *srv, const uint8_t payload[PAYLOAD_LEN],
                   struct sipd_flow *out)
{
    memset(out, 0, sizeof(*out));
    OSEC_ENSURE((payload[0] == TP_TCP || payload[0] == TP_TLS) && payload[1] < srv->n_listen &&
                    srv->listen[payload[1]].tp == (enum sipd_tp)payload[0],
                OSEC_EAUTH, "cluster route names no connection of ours");
    out->tp = (enum sipd_tp)payload[0];
    out->listen = payload[1];
    out->conn = get_be64(payload + 2);
    return 0;
}

int sipd_cluster_verify(const struct sipd *srv, struct osec_slice token,
                        const struct osec_sip_msg *m, int64_t now, struct sipd_flow *out)
{
    uint8_t payload[PAYLOAD_LEN], got[TAG_LEN], want[32];
    int64_t expires;
    bool ok;

    OSEC_ENSURE(srv->shared, OSEC_EAUTH, "not on a shared store");
    OSEC_ENSURE(token.len == TOKEN_LEN && token.ptr[0] == 'c' && m->n_via > 0, OSEC_EAUTH,
                "not a cluster route");
    OSEC_ENSURE(osec_hex_decode(osec_slice_sub(token, 1, 2 * PAYLOAD_LEN), payload,
                                PAYLOAD_LEN) == 0 &&
                    osec_hex_decode(osec_slice_sub(token, 1 + 2 * PAYLOAD_LEN, 2 * TAG_LEN), got,
                                    TAG_LEN) == 0,
                OSEC_EAUTH, "bad cluster route");
    OSEC_GUARD(tag_of(srv, srv->instance, payload, m->via[0].branch, m, want));
    ok = osec_ct_eq(got, want, TAG_LEN);
    osec_wipe(want, sizeof(want));
    OSEC_ENSURE(ok, OSEC_EAUTH, "cluster route MAC");
    expires = (int64_t)get_be64(payload + 10);
    OSEC_ENSURE(expires + CLOCK_SKEW >= now && expires <= now + TOKEN_TTL + CLOCK_SKEW,
                OSEC_EAUTH, "cluster route expired (or the instances' clocks differ)");
    return flow_of(srv, payload, out);
}

int sipd_cluster_key(struct sipd *srv, struct osec_store *st)
{
    static const char info[] = "cpm-sipd cluster route key";
    uint8_t secret[OSEC_DIGEST_SECRET_LEN];
    int rc;

    /* A random secret that the first instance creates, sealed under the
     * master key, in its own meta record: the get-or-create of the shared
     * nonce secret, used for another secret.  Derived once more so the key
     * serves this purpose only. */
    rc = osec_lookup_nonce_secret(st, srv->m, "sip.cluster_key", false, secret);
    if (rc == 0)
        rc = osec_hmac_sha256(secret, sizeof(secret), (const uint8_t *)info, sizeof(info) - 1,
                              srv->cluster_key);
    osec_wipe(secret, sizeof(secret));
    return rc;
}
