/* TLS-PSK: TLS 1.2 PSK suites (RFC 4279 & co.) and TLS 1.3 external PSKs
 * (RFC 8446), server and client, answered from one lookup / one credential.
 *
 * Ownership: the server's lookup configuration and the client's credential
 * hang off the SSL_CTX, per-connection state (authenticated identity, a
 * per-connection credential) off the SSL, both as ex_data whose free
 * callbacks cleanse and free them: nothing outlives its OpenSSL object and
 * no caller has to remember to free anything. */
#include "omasec/tls.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "omasec/buf.h"
#include "omasec/crypto.h"
#include "omasec/error.h"
#include "omasec/log.h"
#include "omasec/util.h"

#define FAKE_PSK_LEN 32

struct psk_cred {
    char identity[OSEC_PSK_IDENTITY_MAX + 1];
    uint8_t key[OSEC_PSK_MAX];
    size_t key_len;
};

struct psk_ctx {                 /* SSL_CTX ex_data */
    osec_psk_lookup_fn lookup;   /* server */
    void *arg;
    struct psk_cred *cred;       /* client */
};

struct psk_conn {                /* SSL ex_data */
    char identity[OSEC_PSK_IDENTITY_MAX + 1]; /* server: identity whose key was found */
    bool found;
    struct psk_cred *cred;       /* client: overrides the context's */
};

static CRYPTO_ONCE idx_once = CRYPTO_ONCE_STATIC_INIT;
static int ctx_idx = -1;
static int ssl_idx = -1;

/* ---- ex_data lifetime ---------------------------------------------------- */

static void cred_free(struct psk_cred *c)
{
    if (c != NULL)
        OPENSSL_clear_free(c, sizeof(*c));
}

static void ctx_data_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                          void *argp)
{
    struct psk_ctx *p = ptr;

    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    if (p == NULL)
        return;
    cred_free(p->cred);
    OPENSSL_clear_free(p, sizeof(*p));
}

static void conn_data_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                           void *argp)
{
    struct psk_conn *c = ptr;

    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    if (c == NULL)
        return;
    cred_free(c->cred);
    OPENSSL_clear_free(c, sizeof(*c));
}

/* SSL_dup() must not share (and later double free) our per-connection data. */
static int conn_data_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d,
                         int idx, long argl, void *argp)
{
    (void)to, (void)from, (void)idx, (void)argl, (void)argp;
    *from_d = NULL;
    return 1;
}

static void init_indexes(void)
{
    ctx_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, ctx_data_free);
    ssl_idx = SSL_get_ex_new_index(0, NULL, NULL, conn_data_dup, conn_data_free);
}

static int indexes(void)
{
    OSEC_ENSURE(CRYPTO_THREAD_run_once(&idx_once, init_indexes) == 1 && ctx_idx >= 0 &&
                    ssl_idx >= 0,
                OSEC_EINTERNAL, "cannot allocate ex_data indexes");
    return 0;
}

/* The context's PSK data, created on first use; NULL with the error set. */
static struct psk_ctx *ctx_data(SSL_CTX *ctx)
{
    struct psk_ctx *p;

    if (indexes() < 0)
        return NULL;
    p = SSL_CTX_get_ex_data(ctx, ctx_idx);
    if (p != NULL)
        return p;
    p = OPENSSL_zalloc(sizeof(*p));
    if (p == NULL) {
        (void)osec_error_set(OSEC_ENOMEM, __FILE__, __LINE__, "out of memory");
        return NULL;
    }
    if (SSL_CTX_set_ex_data(ctx, ctx_idx, p) != 1) {
        OPENSSL_free(p);
        (void)osec_error_ossl(OSEC_ENOMEM, __FILE__, __LINE__, "SSL_CTX_set_ex_data");
        return NULL;
    }
    return p;
}

/* The connection's PSK data, created on first use; NULL with the error set. */
static struct psk_conn *conn_data(SSL *ssl)
{
    struct psk_conn *c;

    if (indexes() < 0)
        return NULL;
    c = SSL_get_ex_data(ssl, ssl_idx);
    if (c != NULL)
        return c;
    c = OPENSSL_zalloc(sizeof(*c));
    if (c == NULL) {
        (void)osec_error_set(OSEC_ENOMEM, __FILE__, __LINE__, "out of memory");
        return NULL;
    }
    if (SSL_set_ex_data(ssl, ssl_idx, c) != 1) {
        OPENSSL_free(c);
        (void)osec_error_ossl(OSEC_ENOMEM, __FILE__, __LINE__, "SSL_set_ex_data");
        return NULL;
    }
    return c;
}

/* ---- shared helpers ----------------------------------------------------- */

/* Identities are names, not bytes: bounded, no NUL, no control characters. */
static bool identity_ok(const uint8_t *id, size_t len)
{
    if (len == 0 || len > OSEC_PSK_IDENTITY_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (id[i] < 0x20 || id[i] == 0x7f)
            return false;
    return true;
}

/* A TLS 1.3 "session" carrying an external PSK: the key is the resumption
 * secret and the suite fixes the PSK's hash to SHA-256 on both sides. */
static SSL_SESSION *psk_session(SSL *ssl, const uint8_t *key, size_t len)
{
    static const unsigned char aes128gcm[] = { 0x13, 0x01 };
    const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, aes128gcm);
    SSL_SESSION *s = SSL_SESSION_new();

    if (cipher == NULL || s == NULL || SSL_SESSION_set1_master_key(s, key, len) != 1 ||
        SSL_SESSION_set_cipher(s, cipher) != 1 ||
        SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION) != 1) {
        (void)osec_error_ossl(OSEC_ETLS, __FILE__, __LINE__, "cannot build PSK session");
        SSL_SESSION_free(s);
        return NULL;
    }
    return s;
}

/* Did this finished handshake authenticate with a PSK? */
static bool psk_used(const SSL *ssl)
{
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    int kx;

    if (!SSL_is_init_finished(ssl) || c == NULL)
        return false;
    kx = SSL_CIPHER_get_kx_nid(c);
    if (kx == NID_kx_any) /* TLS 1.3: resumption is off, so a PSK is an external one */
        return SSL_session_reused(ssl) == 1;
    return kx == NID_kx_psk || kx == NID_kx_ecdhe_psk || kx == NID_kx_dhe_psk ||
           kx == NID_kx_rsa_psk;
}

/* ---- server ------------------------------------------------------------ */

static int run_lookup(const struct psk_ctx *p, struct psk_conn *c, const uint8_t *id,
                      size_t id_len, uint8_t *psk, size_t psk_max, size_t *psk_len)
{
    int rc;

    if (!identity_ok(id, id_len))
        return OSEC_ENOTFOUND;
    memcpy(c->identity, id, id_len);
    c->identity[id_len] = '\0';
    *psk_len = 0;
    rc = p->lookup(p->arg, c->identity, psk, psk_max, psk_len);
    if (rc == 0 && (*psk_len < OSEC_PSK_MIN || *psk_len > psk_max)) {
        osec_wipe(psk, psk_max);
        osec_warn("tls_psk_bad_key", "identity=%s len=%zu", c->identity, *psk_len);
        return OSEC_EINTERNAL; /* a store bug: do not hide it as an unknown identity */
    }
    if (rc == 0)
        c->found = true;
    return rc;
}

/* Find the key for an identity.  An unknown (or malformed) identity gets a
 * random key, so the handshake fails exactly as with a wrong key and a
 * client cannot probe which identities exist (RFC 4279 5.1).  Only a lookup
 * failure (store down) aborts with an error. */
static int find_key(SSL *ssl, const uint8_t *id, size_t id_len, uint8_t *psk, size_t psk_max,
                    size_t *psk_len)
{
    struct psk_ctx *p = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_idx);
    struct psk_conn *c;
    int rc;

    OSEC_ENSURE(p != NULL && p->lookup != NULL, OSEC_EINTERNAL, "PSK server not configured");
    if ((c = conn_data(ssl)) == NULL)
        return osec_error_code();
    c->found = false;
    c->identity[0] = '\0';
    rc = run_lookup(p, c, id, id_len, psk, psk_max, psk_len);
    if (rc == 0)
        return 0;
    if (rc != OSEC_ENOTFOUND) {
        osec_warn("tls_psk_lookup_failed", "code=%s", osec_strerror(rc));
        c->identity[0] = '\0';
        return rc;
    }
    if (c->identity[0] != '\0')
        osec_info("tls_psk_unknown_identity", "identity=%s", c->identity);
    else
        osec_info("tls_psk_bad_identity", "len=%zu", id_len);
    c->identity[0] = '\0';
    *psk_len = psk_max < FAKE_PSK_LEN ? psk_max : FAKE_PSK_LEN;
    return osec_rand_bytes(psk, *psk_len);
}

/* TLS 1.2 (and below, which the policy refuses anyway). */
static unsigned int server_cb12(SSL *ssl, const char *identity, unsigned char *psk,
                                unsigned int max_psk_len)
{
    size_t len = 0, cap = max_psk_len < OSEC_PSK_MAX ? max_psk_len : OSEC_PSK_MAX;

    if (identity == NULL)
        identity = "";
    if (find_key(ssl, (const uint8_t *)identity, strlen(identity), psk, cap, &len) < 0)
        return 0; /* OpenSSL aborts the handshake */
    return (unsigned int)len;
}

/* TLS 1.3 external PSK. */
static int server_cb13(SSL *ssl, const unsigned char *id, size_t id_len, SSL_SESSION **sess)
{
    uint8_t key[OSEC_PSK_MAX];
    size_t len = 0;

    *sess = NULL;
    if (find_key(ssl, id, id_len, key, sizeof(key), &len) == 0)
        *sess = psk_session(ssl, key, len);
    osec_wipe(key, sizeof(key));
    return *sess != NULL;
}

static void no_resumption(SSL_CTX *ctx)
{
    /* A resumed session would skip the lookup: a revoked or rotated key
     * must stop working at the next handshake. */
    (void)SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    (void)SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
}

int osec_tls_ctx_set_psk_server(SSL_CTX *ctx, osec_psk_lookup_fn lookup, void *arg,
                                const char *hint)
{
    struct psk_ctx *p;

    OSEC_ENSURE(ctx != NULL && lookup != NULL, OSEC_EINVAL, "null argument");
    if (hint != NULL) {
        OSEC_ENSURE(identity_ok((const uint8_t *)hint, strlen(hint)), OSEC_EINVAL,
                    "bad PSK identity hint");
        if (SSL_CTX_use_psk_identity_hint(ctx, hint) != 1)
            return osec_error_ossl(OSEC_ETLS, __FILE__, __LINE__, "identity hint");
    }
    if (SSL_CTX_set_num_tickets(ctx, 0) != 1)
        return osec_error_ossl(OSEC_ETLS, __FILE__, __LINE__, "num tickets");
    if ((p = ctx_data(ctx)) == NULL)
        return osec_error_code();
    p->lookup = lookup;
    p->arg = arg;
    no_resumption(ctx);
    SSL_CTX_set_psk_server_callback(ctx, server_cb12);
    SSL_CTX_set_psk_find_session_callback(ctx, server_cb13);
    return 0;
}

/* ---- client ------------------------------------------------------------ */

static const struct psk_cred *client_cred(SSL *ssl)
{
    const struct psk_conn *c;
    const struct psk_ctx *p;

    if (indexes() < 0)
        return NULL;
    c = SSL_get_ex_data(ssl, ssl_idx);
    if (c != NULL && c->cred != NULL)
        return c->cred;
    p = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_idx);
    return p ? p->cred : NULL;
}

static unsigned int client_cb12(SSL *ssl, const char *hint, char *identity,
                                unsigned int max_identity_len, unsigned char *psk,
                                unsigned int max_psk_len)
{
    const struct psk_cred *c = client_cred(ssl);

    (void)hint; /* our identity is fixed; the hint carries no authority */
    if (c == NULL || c->key_len > max_psk_len ||
        osec_strlcpy(identity, c->identity, max_identity_len) < 0)
        return 0;
    memcpy(psk, c->key, c->key_len);
    return (unsigned int)c->key_len;
}

static int client_cb13(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
                       SSL_SESSION **sess)
{
    const struct psk_cred *c = client_cred(ssl);
    SSL_SESSION *s;

    *id = NULL;
    *idlen = 0;
    *sess = NULL;
    if (c == NULL)
        return 1; /* no PSK: certificate handshake */
    s = psk_session(ssl, c->key, c->key_len);
    if (s == NULL)
        return 0;
    /* After a HelloRetryRequest the suite is fixed: offer only if it fits. */
    if (md != NULL && EVP_MD_get_type(md) !=
                          EVP_MD_get_type(SSL_CIPHER_get_handshake_digest(SSL_SESSION_get0_cipher(s)))) {
        SSL_SESSION_free(s);
        return 1;
    }
    *id = (const unsigned char *)c->identity;
    *idlen = strlen(c->identity);
    *sess = s;
    return 1;
}

/* Installed when the client has no trust anchors: the server must prove
 * knowledge of the PSK, a certificate (any certificate) is not enough. */
static int refuse_certificate(int preverify_ok, X509_STORE_CTX *x)
{
    (void)preverify_ok;
    X509_STORE_CTX_set_error(x, X509_V_ERR_CERT_REJECTED);
    return 0;
}

static int cred_new(const char *identity, const uint8_t *psk, size_t len,
                    struct psk_cred **out)
{
    struct psk_cred *c;

    *out = NULL;
    OSEC_ENSURE(identity != NULL && identity_ok((const uint8_t *)identity, strlen(identity)),
                OSEC_EINVAL, "bad PSK identity");
    OSEC_ENSURE(psk != NULL && len >= OSEC_PSK_MIN && len <= OSEC_PSK_MAX, OSEC_EINVAL,
                "PSK must be %d..%d bytes", OSEC_PSK_MIN, OSEC_PSK_MAX);
    c = OPENSSL_zalloc(sizeof(*c));
    OSEC_ENSURE(c != NULL, OSEC_ENOMEM, "out of memory");
    memcpy(c->identity, identity, strlen(identity) + 1);
    memcpy(c->key, psk, len);
    c->key_len = len;
    *out = c;
    return 0;
}

static bool ctx_has_trust_anchors(SSL_CTX *ctx)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);

    return store != NULL && sk_X509_OBJECT_num(X509_STORE_get0_objects(store)) > 0;
}

int osec_tls_ctx_set_psk_client(SSL_CTX *ctx, const char *identity, const uint8_t *psk,
                                size_t psk_len)
{
    struct psk_cred *c = NULL;
    struct psk_ctx *p;

    OSEC_ENSURE(ctx != NULL, OSEC_EINVAL, "null context");
    OSEC_GUARD(cred_new(identity, psk, psk_len, &c));
    if ((p = ctx_data(ctx)) == NULL) {
        cred_free(c);
        return osec_error_code();
    }
    cred_free(p->cred);
    p->cred = c;
    if (!ctx_has_trust_anchors(ctx))
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, refuse_certificate);
    SSL_CTX_set_psk_client_callback(ctx, client_cb12);
    SSL_CTX_set_psk_use_session_callback(ctx, client_cb13);
    return 0;
}

int osec_tls_ssl_set_psk(SSL *ssl, const char *identity, const uint8_t *psk, size_t psk_len)
{
    struct psk_cred *c = NULL;
    struct psk_conn *conn;
    int rc = 0;

    OSEC_ENSURE(ssl != NULL, OSEC_EINVAL, "null connection");
    OSEC_GUARD(cred_new(identity, psk, psk_len, &c));
    if ((conn = conn_data(ssl)) == NULL)
        rc = osec_error_code();
    else if (SSL_set_cipher_list(ssl, OSEC_TLS12_PSK_CIPHERS) != 1)
        rc = osec_error_ossl(OSEC_ETLS, __FILE__, __LINE__, "cannot restrict to PSK suites");
    if (rc < 0) {
        cred_free(c);
        return rc;
    }
    cred_free(conn->cred);
    conn->cred = c;
    SSL_set_verify(ssl, SSL_VERIFY_PEER, refuse_certificate);
    SSL_set_psk_client_callback(ssl, client_cb12);
    SSL_set_psk_use_session_callback(ssl, client_cb13);
    return 0;
}

/* ---- after the handshake ------------------------------------------------ */

int osec_tls_psk_identity(SSL *ssl, char *out, size_t outlen)
{
    const struct psk_conn *c;
    const struct psk_cred *cred;
    const char *id = NULL;

    OSEC_ENSURE(ssl != NULL && out != NULL && outlen > 0, OSEC_EINVAL, "null argument");
    out[0] = '\0';
    OSEC_GUARD(indexes());
    if (psk_used(ssl) && SSL_is_server(ssl)) {
        c = SSL_get_ex_data(ssl, ssl_idx);
        id = (c != NULL && c->found) ? c->identity : NULL;
    } else if (psk_used(ssl)) {
        cred = client_cred(ssl);
        id = cred ? cred->identity : NULL;
    }
    OSEC_ENSURE(id != NULL, OSEC_ENOTFOUND, "no PSK authenticated this connection");
    return osec_strlcpy(out, id, outlen);
}
