/* TLS/DTLS context builders, policy, and reading who the peer is.
 * PSK callbacks live in tls_psk.c, DTLS cookies in dtls_cookie.c. */
#include "omasec/tls.h"

#include <arpa/inet.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "omasec/buf.h"
#include "omasec/error.h"
#include "omasec/pki.h"

/* For OpenSSL calls returning 1 on success, with our own error code. */
#define TLS_OK(expr, code, ...)                                                \
    do {                                                                       \
        if ((expr) != 1)                                                       \
            return osec_error_ossl((code), __FILE__, __LINE__, __VA_ARGS__);   \
    } while (0)

static const unsigned char session_id_ctx[] = "omasec";

/* ---- policy ----------------------------------------------------------- */

static int cipher_list(unsigned flags, char *out, size_t len)
{
    /* A client that offers PSK suites has a PSK configured for us: prefer it. */
    if ((flags & OSEC_TLS_F_PSK) && (flags & OSEC_TLS_F_CERT))
        return osec_snprintf(out, len, "%s:%s", OSEC_TLS12_PSK_CIPHERS, OSEC_TLS12_CERT_CIPHERS);
    return osec_strlcpy(out, (flags & OSEC_TLS_F_PSK) ? OSEC_TLS12_PSK_CIPHERS
                                                       : OSEC_TLS12_CERT_CIPHERS, len);
}

int osec_tls_ctx_apply_policy(SSL_CTX *ctx, unsigned flags)
{
    bool dtls = (flags & OSEC_TLS_F_DTLS) != 0;
    char ciphers[512];

    OSEC_ENSURE(ctx != NULL && (flags & (OSEC_TLS_F_CERT | OSEC_TLS_F_PSK)) != 0, OSEC_EINVAL,
                "policy needs a context and certificate and/or PSK");
    TLS_OK(SSL_CTX_set_min_proto_version(ctx, dtls ? DTLS1_2_VERSION : TLS1_2_VERSION),
           OSEC_ETLS, "min version");
    TLS_OK(SSL_CTX_set_max_proto_version(ctx, dtls ? DTLS1_2_VERSION : TLS1_3_VERSION),
           OSEC_ETLS, "max version");
    (void)SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                       SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_security_level(ctx, OSEC_TLS_SECURITY_LEVEL);
    OSEC_GUARD(cipher_list(flags, ciphers, sizeof(ciphers)));
    TLS_OK(SSL_CTX_set_cipher_list(ctx, ciphers), OSEC_ETLS, "cipher list");
    if (!dtls)
        TLS_OK(SSL_CTX_set_ciphersuites(ctx, (flags & OSEC_TLS_F_PSK)
                                                 ? OSEC_TLS13_PSK_CIPHERSUITES
                                                 : OSEC_TLS13_CIPHERSUITES),
               OSEC_ETLS, "TLS 1.3 ciphersuites");
    TLS_OK(SSL_CTX_set1_groups_list(ctx, OSEC_TLS_GROUPS), OSEC_ETLS, "groups");
    /* DHE-PSK: a group sized to the cipher (>= 2048 bit at this level) */
    if (flags & OSEC_TLS_F_PSK)
        TLS_OK(SSL_CTX_set_dh_auto(ctx, 1), OSEC_ETLS, "DH auto");
    SSL_CTX_set_verify_depth(ctx, OSEC_TLS_VERIFY_DEPTH);
    /* idle sessions (thousands of PNEs) should not each pin 2 x 16 KiB of
     * record buffers */
    (void)SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    return 0;
}

int osec_tls_ctx_use_cert(SSL_CTX *ctx, const char *cert_file, const char *key_file)
{
    EVP_PKEY *key = NULL;
    int rc = 0;

    OSEC_ENSURE(ctx != NULL && cert_file != NULL && key_file != NULL, OSEC_EINVAL,
                "certificate and key file both needed");
    TLS_OK(SSL_CTX_use_certificate_chain_file(ctx, cert_file), OSEC_ECONFIG,
           "cannot load certificate chain %s", cert_file);
    OSEC_GUARD(osec_pki_load_key(key_file, &key));
    if (SSL_CTX_use_PrivateKey(ctx, key) != 1)
        rc = osec_error_ossl(OSEC_ECONFIG, __FILE__, __LINE__, "cannot use key %s", key_file);
    else if (SSL_CTX_check_private_key(ctx) != 1)
        rc = osec_error_ossl(OSEC_ECONFIG, __FILE__, __LINE__,
                             "key %s does not match certificate %s", key_file, cert_file);
    EVP_PKEY_free(key);
    return rc;
}

int osec_tls_ctx_verify_peers(SSL_CTX *ctx, enum osec_tls_verify mode, const char *ca_file)
{
    STACK_OF(X509_NAME) *names;
    int vflags = SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE;

    OSEC_ENSURE(ctx != NULL, OSEC_EINVAL, "null context");
    if (mode == OSEC_TLS_VERIFY_NONE) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        return 0;
    }
    OSEC_ENSURE(mode == OSEC_TLS_VERIFY_OPTIONAL || mode == OSEC_TLS_VERIFY_REQUIRED,
                OSEC_EINVAL, "bad verify mode %d", (int)mode);
    OSEC_ENSURE(ca_file != NULL, OSEC_EINVAL, "peer verification needs a CA file");
    TLS_OK(SSL_CTX_load_verify_file(ctx, ca_file), OSEC_ECONFIG, "cannot load CA file %s",
           ca_file);
    /* Servers send these names in CertificateRequest; harmless on clients. */
    names = SSL_load_client_CA_file(ca_file);
    if (names == NULL)
        return osec_error_ossl(OSEC_ECONFIG, __FILE__, __LINE__, "no CA names in %s", ca_file);
    SSL_CTX_set_client_CA_list(ctx, names);
    if (mode == OSEC_TLS_VERIFY_REQUIRED)
        vflags |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, vflags, NULL);
    return 0;
}

/* ---- builders --------------------------------------------------------- */

static SSL_CTX *new_ctx(const SSL_METHOD *method)
{
    SSL_CTX *ctx = method ? SSL_CTX_new(method) : NULL;

    if (ctx == NULL)
        (void)osec_error_ossl(OSEC_ENOMEM, __FILE__, __LINE__, "SSL_CTX_new");
    return ctx;
}

static int server_setup(SSL_CTX *ctx, const struct osec_tls_server_opts *o, unsigned dtls)
{
    unsigned flags = dtls | (o->cert_file ? OSEC_TLS_F_CERT : 0) |
                     (o->psk_lookup ? OSEC_TLS_F_PSK : 0);

    OSEC_ENSURE(o->cert_file != NULL || o->psk_lookup != NULL, OSEC_EINVAL,
                "a server needs a certificate or a PSK lookup");
    OSEC_ENSURE((o->cert_file == NULL) == (o->key_file == NULL), OSEC_EINVAL,
                "certificate and key file go together");
    OSEC_GUARD(osec_tls_ctx_apply_policy(ctx, flags));
    if (o->cert_file != NULL)
        OSEC_GUARD(osec_tls_ctx_use_cert(ctx, o->cert_file, o->key_file));
    OSEC_GUARD(osec_tls_ctx_verify_peers(ctx, o->verify_client, o->client_ca_file));
    TLS_OK(SSL_CTX_set_session_id_context(ctx, session_id_ctx, sizeof(session_id_ctx) - 1),
           OSEC_ETLS, "session id context");
    if (o->psk_lookup != NULL)
        OSEC_GUARD(osec_tls_ctx_set_psk_server(ctx, o->psk_lookup, o->psk_arg,
                                               o->psk_identity_hint));
    if (dtls)
        OSEC_GUARD(osec_tls_ctx_set_dtls_cookies(ctx));
    return 0;
}

static int client_setup(SSL_CTX *ctx, const struct osec_tls_client_opts *o, unsigned dtls)
{
    unsigned flags = dtls | (o->ca_file ? OSEC_TLS_F_CERT : 0) |
                     (o->psk_identity ? OSEC_TLS_F_PSK : 0);

    OSEC_ENSURE(o->ca_file != NULL || o->psk_identity != NULL, OSEC_EINVAL,
                "a client needs a CA file or a PSK");
    OSEC_ENSURE((o->cert_file == NULL) == (o->key_file == NULL), OSEC_EINVAL,
                "certificate and key file go together");
    OSEC_GUARD(osec_tls_ctx_apply_policy(ctx, flags));
    if (o->ca_file != NULL)
        OSEC_GUARD(osec_tls_ctx_verify_peers(ctx, OSEC_TLS_VERIFY_REQUIRED, o->ca_file));
    if (o->cert_file != NULL)
        OSEC_GUARD(osec_tls_ctx_use_cert(ctx, o->cert_file, o->key_file));
    /* After the CA: with no trust anchors this makes the client PSK only. */
    if (o->psk_identity != NULL)
        OSEC_GUARD(osec_tls_ctx_set_psk_client(ctx, o->psk_identity, o->psk, o->psk_len));
    return 0;
}

static SSL_CTX *build_server(const SSL_METHOD *method, const struct osec_tls_server_opts *o,
                             unsigned dtls)
{
    SSL_CTX *ctx;

    if (o == NULL) {
        (void)osec_error_set(OSEC_EINVAL, __FILE__, __LINE__, "no server options");
        return NULL;
    }
    ctx = new_ctx(method);
    if (ctx != NULL && server_setup(ctx, o, dtls) < 0)
        osec_tls_ctx_free(&ctx);
    return ctx;
}

static SSL_CTX *build_client(const SSL_METHOD *method, const struct osec_tls_client_opts *o,
                             unsigned dtls)
{
    SSL_CTX *ctx;

    if (o == NULL) {
        (void)osec_error_set(OSEC_EINVAL, __FILE__, __LINE__, "no client options");
        return NULL;
    }
    ctx = new_ctx(method);
    if (ctx != NULL && client_setup(ctx, o, dtls) < 0)
        osec_tls_ctx_free(&ctx);
    return ctx;
}

SSL_CTX *osec_tls_server_ctx(const struct osec_tls_server_opts *o)
{
    return build_server(TLS_server_method(), o, 0);
}

SSL_CTX *osec_tls_client_ctx(const struct osec_tls_client_opts *o)
{
    return build_client(TLS_client_method(), o, 0);
}

SSL_CTX *osec_tls_dtls_server_ctx(const struct osec_tls_server_opts *o)
{
    return build_server(DTLS_server_method(), o, OSEC_TLS_F_DTLS);
}

SSL_CTX *osec_tls_dtls_client_ctx(const struct osec_tls_client_opts *o)
{
    return build_client(DTLS_client_method(), o, OSEC_TLS_F_DTLS);
}

void osec_tls_ctx_free(SSL_CTX **ctx)
{
    if (ctx == NULL)
        return;
    SSL_CTX_free(*ctx); /* owned ex_data is cleansed by its free callbacks */
    *ctx = NULL;
}

/* ---- client connections ------------------------------------------------ */

static bool is_ip_literal(const char *s)
{
    uint8_t tmp[16];

    return inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1;
}

static bool has_trust_anchors(SSL_CTX *ctx)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);

    return store != NULL && sk_X509_OBJECT_num(X509_STORE_get0_objects(store)) > 0;
}

static int bind_host(SSL *ssl, const char *host)
{
    OSEC_ENSURE(host[0] != '\0' && strlen(host) <= 253, OSEC_EINVAL, "bad host name");
    if (is_ip_literal(host)) {
        /* RFC 6066: literal addresses are not sent as SNI */
        TLS_OK(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host), OSEC_ETLS,
               "cannot expect IP %s", host);
        return 0;
    }
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    TLS_OK(SSL_set1_host(ssl, host), OSEC_ETLS, "cannot expect host %s", host);
    TLS_OK(SSL_set_tlsext_host_name(ssl, host), OSEC_ETLS, "cannot set SNI %s", host);
    return 0;
}

SSL *osec_tls_client_ssl(SSL_CTX *ctx, const char *host)
{
    SSL *ssl;

    if (ctx == NULL || (host == NULL && has_trust_anchors(ctx))) {
        (void)osec_error_set(OSEC_EINVAL, __FILE__, __LINE__,
                             "a certificate-verifying client must name the server");
        return NULL;
    }
    ssl = SSL_new(ctx);
    if (ssl == NULL) {
        (void)osec_error_ossl(OSEC_ENOMEM, __FILE__, __LINE__, "SSL_new");
        return NULL;
    }
    if (host != NULL && bind_host(ssl, host) < 0) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_connect_state(ssl);
    return ssl;
}

const char *osec_tls_version_name(const SSL *ssl)
{
    return ssl ? SSL_get_version(ssl) : "none";
}

/* ---- peer principal ----------------------------------------------------- */

/* Principals end up in ACLs and logs: printable, no NUL, bounded. */
static int copy_principal(const unsigned char *p, int len, char *out, size_t outlen)
{
    OSEC_ENSURE(len > 0, OSEC_EPARSE, "empty principal");
    for (int i = 0; i < len; i++)
        OSEC_ENSURE(p[i] >= 0x20 && p[i] != 0x7f, OSEC_EPARSE,
                    "principal holds a control character");
    return osec_slice_to_cstr(osec_slice_make(p, (size_t)len), out, outlen);
}

static int san_principal(X509 *cert, char *out, size_t outlen)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    int rc = OSEC_ENOTFOUND;

    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

        if (g->type == GEN_URI || g->type == GEN_EMAIL) {
            rc = copy_principal(ASN1_STRING_get0_data(g->d.ia5),
                                ASN1_STRING_length(g->d.ia5), out, outlen);
            break;
        }
    }
    GENERAL_NAMES_free(gens);
    return rc;
}

static int cn_principal(X509 *cert, char *out, size_t outlen)
{
    X509_NAME *name = X509_get_subject_name(cert);
    unsigned char *utf8 = NULL;
    int idx = -1, next, len, rc;

    /* The last CN is the most specific one. */
    while ((next = X509_NAME_get_index_by_NID(name, NID_commonName, idx)) >= 0)
        idx = next;
    OSEC_ENSURE(idx >= 0, OSEC_ENOTFOUND, "peer certificate has no SAN URI/email and no CN");
    len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
    if (len < 0)
        return osec_error_ossl(OSEC_EPARSE, __FILE__, __LINE__, "bad CN encoding");
    rc = copy_principal(utf8, len, out, outlen);
    OPENSSL_free(utf8);
    return rc;
}

int osec_tls_peer_principal(SSL *ssl, char *out, size_t outlen)
{
    X509 *cert;
    int rc;

    OSEC_ENSURE(ssl != NULL && out != NULL && outlen > 0, OSEC_EINVAL, "null argument");
    out[0] = '\0';
    cert = SSL_get0_peer_certificate(ssl);
    OSEC_ENSURE(cert != NULL && SSL_is_init_finished(ssl) &&
                    (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) != 0 &&
                    SSL_get_verify_result(ssl) == X509_V_OK,
                OSEC_ENOTFOUND, "no verified peer certificate");
    rc = san_principal(cert, out, outlen);
    if (rc == OSEC_ENOTFOUND)
        rc = cn_principal(cert, out, outlen);
    if (rc < 0)
        out[0] = '\0';
    return rc;
}
