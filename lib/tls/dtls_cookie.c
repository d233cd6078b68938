/* DTLS 1.2 stateless cookies (RFC 6347 4.2.1).
 *
 * cookie = HMAC-SHA256(secret, window || family || port || address), where
 * secret is 32 random bytes per SSL_CTX (never leaves memory, cleansed with
 * the context) and window = monotonic seconds / 60.  A cookie from the
 * current or the previous window verifies, so cookies live 60..120 s; a
 * spoofed source address never gets a usable cookie, which is what stops a
 * DTLS server from being used as an amplifier. */
#include "omasec/tls.h"

#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>

#include "omasec/buf.h"
#include "omasec/crypto.h"
#include "omasec/error.h"
#include "omasec/util.h"

#define COOKIE_SECRET_LEN 32
#define COOKIE_LEN 32
#define COOKIE_WINDOW_MS 60000u
#define ADDR_MAX 128 /* largest BIO_ADDR raw address (AF_UNIX path) */

struct cookie_key {
    uint8_t secret[COOKIE_SECRET_LEN];
};

static CRYPTO_ONCE idx_once = CRYPTO_ONCE_STATIC_INIT;
static int ctx_idx = -1;

static void key_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                     void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    if (ptr != NULL)
        OPENSSL_clear_free(ptr, sizeof(struct cookie_key));
}

static void init_index(void)
{
    ctx_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, key_free);
}

/* window || family || port || raw peer address; an unknown peer (not a
 * datagram BIO) contributes an empty address. */
static int cookie_input(SSL *ssl, uint64_t window, struct osec_buf *in)
{
    BIO_ADDR *peer = BIO_ADDR_new();
    unsigned char raw[ADDR_MAX];
    size_t raw_len = 0;
    int rc = 0, family = 0;

    if (peer == NULL)
        return osec_error_ossl(OSEC_ENOMEM, __FILE__, __LINE__, "BIO_ADDR_new");
    if (BIO_dgram_get_peer(SSL_get_rbio(ssl), peer) > 0) {
        family = BIO_ADDR_family(peer);
        if (BIO_ADDR_rawaddress(peer, NULL, &raw_len) != 1 || raw_len > sizeof(raw) ||
            BIO_ADDR_rawaddress(peer, raw, &raw_len) != 1)
            raw_len = 0;
    }
    OSEC_CHECK(rc, osec_buf_append_u64be(in, window));
    OSEC_CHECK(rc, osec_buf_append_u16be(in, (uint16_t)family));
    OSEC_CHECK(rc, osec_buf_append_u16be(in, family ? BIO_ADDR_rawport(peer) : 0));
    OSEC_CHECK(rc, osec_buf_append(in, raw, raw_len));
out:
    BIO_ADDR_free(peer);
    return rc;
}

static int cookie_compute(SSL *ssl, uint64_t window, uint8_t out[COOKIE_LEN])
{
    const struct cookie_key *k = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_idx);
    struct osec_buf in;
    int rc;

    OSEC_ENSURE(k != NULL, OSEC_EINTERNAL, "DTLS cookie secret missing");
    osec_buf_init(&in, 16 + ADDR_MAX);
    OSEC_CHECK(rc, cookie_input(ssl, window, &in));
    rc = osec_hmac_sha256(k->secret, sizeof(k->secret), in.data, in.len, out);
out:
    osec_buf_free(&in);
    return rc;
}

static uint64_t current_window(void)
{
    return osec_time_mono_ms() / COOKIE_WINDOW_MS;
}

static int cookie_generate(SSL *ssl, unsigned char *cookie, unsigned int *cookie_len)
{
    uint8_t mac[COOKIE_LEN];

    if (cookie_compute(ssl, current_window(), mac) < 0)
        return 0;
    memcpy(cookie, mac, sizeof(mac)); /* OpenSSL's buffer holds DTLS1_COOKIE_LENGTH */
    *cookie_len = sizeof(mac);
    return 1;
}

static bool cookie_matches(SSL *ssl, uint64_t window, const unsigned char *cookie)
{
    uint8_t mac[COOKIE_LEN];

    return cookie_compute(ssl, window, mac) == 0 && osec_ct_eq(mac, cookie, COOKIE_LEN);
}

static int cookie_verify(SSL *ssl, const unsigned char *cookie, unsigned int cookie_len)
{
    uint64_t now = current_window();

    if (cookie_len != COOKIE_LEN)
        return 0;
    return cookie_matches(ssl, now, cookie) || (now > 0 && cookie_matches(ssl, now - 1, cookie));
}

int osec_tls_ctx_set_dtls_cookies(SSL_CTX *ctx)
{
    struct cookie_key *k;
    int rc;

    OSEC_ENSURE(ctx != NULL, OSEC_EINVAL, "null context");
    OSEC_ENSURE(CRYPTO_THREAD_run_once(&idx_once, init_index) == 1 && ctx_idx >= 0,
                OSEC_EINTERNAL, "cannot allocate ex_data index");
    OSEC_ENSURE(SSL_CTX_get_ex_data(ctx, ctx_idx) == NULL, OSEC_EEXISTS,
                "DTLS cookies already enabled");
    k = OPENSSL_zalloc(sizeof(*k));
    OSEC_ENSURE(k != NULL, OSEC_ENOMEM, "out of memory");
    rc = osec_rand_bytes(k->secret, sizeof(k->secret));
    if (rc == 0 && SSL_CTX_set_ex_data(ctx, ctx_idx, k) != 1)
        rc = osec_error_ossl(OSEC_ENOMEM, __FILE__, __LINE__, "SSL_CTX_set_ex_data");
    if (rc < 0) {
        OPENSSL_clear_free(k, sizeof(*k));
        return rc;
    }
    SSL_CTX_set_cookie_generate_cb(ctx, cookie_generate);
    SSL_CTX_set_cookie_verify_cb(ctx, cookie_verify);
    (void)SSL_CTX_set_options(ctx, SSL_OP_COOKIE_EXCHANGE);
    return 0;
}
