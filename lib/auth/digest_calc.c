/* Digest algorithms and the RFC 7616 section 3.4 computations. */
#include <string.h>

#include "auth/digest_internal.h"
#include "omasec/crypto.h"
#include "omasec/error.h"

static const struct {
    const char *name;
    enum osec_hash_alg hash;
    bool sess;
} algs[OSEC_DIGEST_ALG_COUNT + 1] = {
    [OSEC_DIGEST_ALG_UNKNOWN] = { "", 0, false },
    [OSEC_DIGEST_MD5] = { "MD5", OSEC_HASH_MD5, false },
    [OSEC_DIGEST_MD5_SESS] = { "MD5-sess", OSEC_HASH_MD5, true },
    [OSEC_DIGEST_SHA256] = { "SHA-256", OSEC_HASH_SHA256, false },
    [OSEC_DIGEST_SHA256_SESS] = { "SHA-256-sess", OSEC_HASH_SHA256, true },
    [OSEC_DIGEST_SHA512_256] = { "SHA-512-256", OSEC_HASH_SHA512_256, false },
    [OSEC_DIGEST_SHA512_256_SESS] = { "SHA-512-256-sess", OSEC_HASH_SHA512_256, true },
};

static bool alg_valid(enum osec_digest_alg alg)
{
    return (int)alg > 0 && (int)alg <= OSEC_DIGEST_ALG_COUNT;
}

const char *osec_digest_alg_name(enum osec_digest_alg alg)
{
    return alg_valid(alg) ? algs[alg].name : "";
}

enum osec_digest_alg osec_digest_alg_from_name(struct osec_slice name)
{
    for (int a = 1; a <= OSEC_DIGEST_ALG_COUNT; a++)
        if (osec_slice_eq_ci(name, algs[a].name))
            return (enum osec_digest_alg)a;
    return OSEC_DIGEST_ALG_UNKNOWN;
}

enum osec_hash_alg osec_digest_alg_hash(enum osec_digest_alg alg)
{
    return alg_valid(alg) ? algs[alg].hash : (enum osec_hash_alg)0;
}

bool osec_digest_alg_is_sess(enum osec_digest_alg alg)
{
    return alg_valid(alg) && algs[alg].sess;
}

size_t dg_hex_len(enum osec_digest_alg alg)
{
    return alg_valid(alg) ? 2 * osec_hash_len(algs[alg].hash) : 0;
}

void dg_hex(const uint8_t *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

enum osec_digest_qop dg_qop_from_text(struct osec_slice t, bool *ok)
{
    *ok = true;
    if (osec_slice_eq_ci(t, "auth"))
        return OSEC_DIGEST_QOP_AUTH;
    if (osec_slice_eq_ci(t, "auth-int"))
        return OSEC_DIGEST_QOP_AUTH_INT;
    *ok = false;
    return OSEC_DIGEST_QOP_NONE;
}

const char *dg_qop_name(enum osec_digest_qop q)
{
    return q == OSEC_DIGEST_QOP_AUTH_INT ? "auth-int" : q == OSEC_DIGEST_QOP_AUTH ? "auth" : "";
}

/* hex(H(parts joined by ':')) into hex. */
static int hash_hex(enum osec_hash_alg hash, const struct osec_slice *items, size_t n,
                    char hex[OSEC_DIGEST_HEX_MAX + 1])
{
    struct osec_slice parts[2 * 8];
    uint8_t md[OSEC_HASH_MAX];
    size_t np = 0;
    int rc;

    OSEC_ENSURE(n > 0 && n <= 8, OSEC_EINTERNAL, "bad hash part count");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            parts[np++] = osec_slice_make(":", 1);
        parts[np++] = items[i];
    }
    rc = osec_hash(hash, parts, np, md);
    if (rc == 0)
        dg_hex(md, osec_hash_len(hash), hex);
    osec_wipe(md, sizeof(md));
    return rc;
}

int osec_digest_ha1(enum osec_hash_alg hash, struct osec_slice username,
                    struct osec_slice realm, struct osec_slice password, uint8_t *out)
{
    const struct osec_slice colon = osec_slice_make(":", 1);
    const struct osec_slice parts[5] = { username, colon, realm, colon, password };

    return osec_hash(hash, parts, 5, out);
}

int osec_digest_userhash(enum osec_digest_alg alg, struct osec_slice username,
                         struct osec_slice realm, struct osec_buf *out)
{
    const struct osec_slice items[2] = { username, realm };
    char hex[OSEC_DIGEST_HEX_MAX + 1];

    OSEC_ENSURE(alg_valid(alg), OSEC_EINVAL, "unknown Digest algorithm");
    OSEC_GUARD(hash_hex(algs[alg].hash, items, 2, hex));
    return osec_buf_append_str(out, hex);
}

int dg_session_key(enum osec_digest_alg alg, const uint8_t *ha1, size_t ha1_len,
                   struct osec_slice nonce, struct osec_slice cnonce,
                   char key[OSEC_DIGEST_HEX_MAX + 1])
{
    char inner[OSEC_DIGEST_HEX_MAX + 1];
    struct osec_slice items[3];
    int rc;

    OSEC_ENSURE(alg_valid(alg), OSEC_EINVAL, "unknown Digest algorithm");
    OSEC_ENSURE(ha1 != NULL && ha1_len == osec_hash_len(algs[alg].hash), OSEC_EINVAL,
                "HA1 length %zu does not fit %s", ha1_len, algs[alg].name);
    if (!algs[alg].sess) {
        dg_hex(ha1, ha1_len, key);
        return 0;
    }
    dg_hex(ha1, ha1_len, inner);
    items[0] = osec_slice_make(inner, 2 * ha1_len);
    items[1] = nonce;
    items[2] = cnonce;
    rc = hash_hex(algs[alg].hash, items, 3, key);
    osec_wipe(inner, sizeof(inner));
    return rc;
}

/* HA2 = H(method ":" uri) or, for auth-int, H(method ":" uri ":" H(body)). */
static int ha2_hex(const struct osec_digest_input *in, enum osec_hash_alg hash,
                   char ha2[OSEC_DIGEST_HEX_MAX + 1])
{
    char body_hex[OSEC_DIGEST_HEX_MAX + 1];
    uint8_t body_md[OSEC_HASH_MAX];
    struct osec_slice items[3] = { in->method, in->uri, { NULL, 0 } };
    bool ok;

    if (dg_qop_from_text(in->qop, &ok) != OSEC_DIGEST_QOP_AUTH_INT)
        return hash_hex(hash, items, 2, ha2);
    OSEC_GUARD(osec_hash(hash, &in->body, 1, body_md));
    dg_hex(body_md, osec_hash_len(hash), body_hex);
    items[2] = osec_slice_cstr(body_hex);
    return hash_hex(hash, items, 3, ha2);
}

int dg_response_from_key(const struct osec_digest_input *in, struct osec_slice key,
                         char hex[OSEC_DIGEST_HEX_MAX + 1])
{
    char ha2[OSEC_DIGEST_HEX_MAX + 1];
    enum osec_hash_alg hash;
    struct osec_slice items[6];

    OSEC_ENSURE(alg_valid(in->alg), OSEC_EINVAL, "unknown Digest algorithm");
    hash = algs[in->alg].hash;
    OSEC_GUARD(ha2_hex(in, hash, ha2));
    items[0] = key;
    items[1] = in->nonce;
    if (in->qop.len == 0) {
        items[2] = osec_slice_cstr(ha2);
        return hash_hex(hash, items, 3, hex);
    }
    items[2] = in->nc;
    items[3] = in->cnonce;
    items[4] = in->qop;
    items[5] = osec_slice_cstr(ha2);
    return hash_hex(hash, items, 6, hex);
}

int osec_digest_response(const struct osec_digest_input *in, char hex[OSEC_DIGEST_HEX_MAX + 1])
{
    char key[OSEC_DIGEST_HEX_MAX + 1];
    int rc;

    OSEC_ENSURE(in != NULL && hex != NULL, OSEC_EINVAL, "NULL argument");
    rc = dg_session_key(in->alg, in->ha1, in->ha1_len, in->nonce, in->cnonce, key);
    if (rc == 0)
        rc = dg_response_from_key(in, osec_slice_cstr(key), hex);
    osec_wipe(key, sizeof(key));
    return rc;
}

/* ---- output ------------------------------------------------------------ */

static int put_name(struct osec_buf *b, bool *first, const char *name)
{
    if (!*first)
        OSEC_GUARD(osec_buf_append_str(b, ", "));
    *first = false;
    OSEC_GUARD(osec_buf_append_str(b, name));
    return osec_buf_putc(b, '=');
}

int dg_put_quoted(struct osec_buf *b, bool *first, const char *name, struct osec_slice v)
{
    size_t start = b->len;
    int rc;

    /* a control character would let a value end the header (injection) */
    for (size_t i = 0; i < v.len; i++)
        OSEC_ENSURE((v.ptr[i] >= 0x20 || v.ptr[i] == '\t') && v.ptr[i] != 0x7f, OSEC_EINVAL,
                    "control character in value of '%s'", name);
    OSEC_CHECK(rc, put_name(b, first, name));
    OSEC_CHECK(rc, osec_buf_putc(b, '"'));
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] == '"' || v.ptr[i] == '\\')
            OSEC_CHECK(rc, osec_buf_putc(b, '\\'));
        OSEC_CHECK(rc, osec_buf_putc(b, (char)v.ptr[i]));
    }
    OSEC_CHECK(rc, osec_buf_putc(b, '"'));
out:
    if (rc < 0 && b->data) {
        b->len = start; /* never leave half a parameter behind */
        b->data[start] = '\0';
    }
    return rc;
}

int dg_put_token(struct osec_buf *b, bool *first, const char *name, struct osec_slice v)
{
    OSEC_GUARD(put_name(b, first, name));
    return osec_buf_append_slice(b, v);
}
