/* Flow tokens: where a response or an in-dialog request goes back to,
 * carried in our Via branch and Record-Route user part instead of
 * per-transaction state.  A token is MAC'd (SipHash-2-4, 64-bit tag, key
 * random per process) so a forged response or Route cannot steer traffic
 * into another user's connection. */
#include <netinet/in.h>
#include <string.h>

#include <openssl/crypto.h>

#include "omasec/error.h"
#include "sipd.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                        \
    do {                                                                \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);       \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                          \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                          \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);       \
    } while (0)

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t sipd_hash(const uint8_t key[16], const void *data, size_t len)
{
    const uint8_t *in = data;
    uint64_t k0 = le64(key), k1 = le64(key + 8), m, b = (uint64_t)len << 56;
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    size_t i, tail = len & 7;

    for (i = 0; i + 8 <= len; i += 8) {
        m = le64(in + i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t j = 0; j < tail; j++)
        b |= (uint64_t)in[i + j] << (8 * j);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t mac(const struct sipd *srv, struct osec_slice payload, struct osec_slice salt)
{
    uint8_t buf[SIPD_TOKEN_MAX + 512];
    size_t n = payload.len, s = salt.len > 511 ? 511 : salt.len;

    memcpy(buf, payload.ptr, n);
    buf[n++] = '|';
    if (s) /* Record-Route tokens have no salt (and memcpy no NULL source) */
        memcpy(buf + n, salt.ptr, s);
    return sipd_hash(srv->flow_key, buf, n + s);
}

static int put_hex(char *out, size_t *pos, size_t outlen, const uint8_t *p, size_t n)
{
    static const char hx[] = "0123456789abcdef";

    OSEC_ENSURE(*pos + 2 * n < outlen, OSEC_EBOUNDS, "token too long");
    for (size_t i = 0; i < n; i++) {
        out[(*pos)++] = hx[p[i] >> 4];
        out[(*pos)++] = hx[p[i] & 15];
    }
    out[*pos] = '\0';
    return 0;
}

/* Payload bytes: kind, listener, then address+port (UDP) or connection id. */
static size_t payload_bytes(const struct sipd_flow *f, uint8_t *p)
{
    size_t n = 0;

    p[n++] = (uint8_t)f->tp;
    p[n++] = f->listen;
    if (f->tp == TP_UDP) {
        const struct sockaddr_storage *ss = &f->addr.ss;

        if (ss->ss_family == AF_INET6) {
            const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)ss;

            p[n++] = 6;
            memcpy(p + n, &a->sin6_addr, 16);
            n += 16;
            memcpy(p + n, &a->sin6_port, 2);
        } else {
            const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)ss;

            p[n++] = 4;
            memcpy(p + n, &a->sin_addr, 4);
            n += 4;
            memcpy(p + n, &a->sin_port, 2);
        }
        return n + 2;
    }
    for (int i = 7; i >= 0; i--)
        p[n++] = (uint8_t)(f->conn >> (8 * i));
    return n;
}

int sipd_flow_token(const struct sipd *srv, const struct sipd_flow *flow, struct osec_slice salt,
                    char *out, size_t outlen)
{
    uint8_t p[32], tag[8];
    size_t n = payload_bytes(flow, p), pos = 0;
    uint64_t t;

    OSEC_ENSURE(outlen > 2, OSEC_EBOUNDS, "token buffer too small");
    out[pos++] = 'o';
    out[pos] = '\0';
    OSEC_GUARD(put_hex(out, &pos, outlen, p, n));
    t = mac(srv, osec_slice_make(out, pos), salt);
    for (int i = 0; i < 8; i++)
        tag[i] = (uint8_t)(t >> (8 * i));
    return put_hex(out, &pos, outlen, tag, sizeof(tag));
}

static int unhex(struct osec_slice s, uint8_t *out, size_t n)
{
    return s.len == 2 * n ? osec_hex_decode(s, out, n) : OSEC_EPARSE;
}

static int decode(const uint8_t *p, size_t n, struct sipd_flow *f)
{
    memset(f, 0, sizeof(*f));
    OSEC_ENSURE(n >= 9 && p[0] <= TP_IWF && p[1] < SIPD_LISTEN_MAX, OSEC_EAUTH, "bad token");
    f->tp = (enum sipd_tp)p[0];
    f->listen = p[1];
    if (f->tp != TP_UDP) {
        OSEC_ENSURE(n == 10, OSEC_EAUTH, "bad token");
        for (int i = 0; i < 8; i++)
            f->conn = (f->conn << 8) | p[2 + i];
        return 0;
    }
    if (p[2] == 4 && n == 9) {
        struct sockaddr_in *a = (struct sockaddr_in *)&f->addr.ss;

        a->sin_family = AF_INET;
        memcpy(&a->sin_addr, p + 3, 4);
        memcpy(&a->sin_port, p + 7, 2);
        f->addr.len = sizeof(*a);
        return 0;
    }
    OSEC_ENSURE(p[2] == 6 && n == 21, OSEC_EAUTH, "bad token");
    {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&f->addr.ss;

        a->sin6_family = AF_INET6;
        memcpy(&a->sin6_addr, p + 3, 16);
        memcpy(&a->sin6_port, p + 19, 2);
        f->addr.len = sizeof(*a);
    }
    return 0;
}

int sipd_flow_parse(const struct sipd *srv, struct osec_slice token, struct osec_slice salt,
                    struct sipd_flow *out)
{
    uint8_t p[32], tag[8];
    uint64_t want, got = 0;
    size_t body;

    OSEC_ENSURE(token.len > 1 + 16 && token.len <= 1 + 2 * sizeof(p) + 16 && token.ptr[0] == 'o' &&
                    (token.len - 1) % 2 == 0,
                OSEC_EAUTH, "not a flow token");
    body = token.len - 16;
    OSEC_ENSURE(unhex(osec_slice_sub(token, body, 16), tag, 8) == 0, OSEC_EAUTH, "bad token");
    for (int i = 7; i >= 0; i--)
        got = (got << 8) | tag[i];
    want = mac(srv, osec_slice_sub(token, 0, body), salt);
    OSEC_ENSURE(CRYPTO_memcmp(&got, &want, sizeof(got)) == 0, OSEC_EAUTH, "flow token MAC");
    OSEC_ENSURE(unhex(osec_slice_sub(token, 1, body - 1), p, (body - 1) / 2) == 0, OSEC_EAUTH,
                "bad token");
    return decode(p, (body - 1) / 2, out);
}
