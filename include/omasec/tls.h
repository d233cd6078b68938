/* OpenSSL TLS/DTLS contexts with the omasec security policy (docs/tls.md).
 *
 * Policy applied to every context: TLS 1.2 minimum, TLS 1.3 preferred
 * (DTLS: 1.2 only), no compression, no renegotiation, server cipher
 * preference, AEAD suites only, OpenSSL security level 2 (the highest that
 * still allows the plain-PSK suites constrained devices need).
 *
 * Builders return a new SSL_CTX or NULL with the osec error set (the OpenSSL
 * error queue appended to the message).  Everything a builder copies into the
 * context (PSK identities and keys, lookup configuration, DTLS cookie secret)
 * is owned by the context as ex_data and cleansed when the context's last
 * reference goes away, whether through osec_tls_ctx_free() or SSL_CTX_free().
 */
#ifndef OMASEC_TLS_H
#define OMASEC_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

/* TLS 1.3: AES-128-GCM first in PSK contexts because external PSKs are bound
 * to SHA-256 (RFC 8446 4.2.11) and server preference would otherwise pick a
 * SHA-384 suite and skip the PSK. */
#define OSEC_TLS13_CIPHERSUITES \
    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"
#define OSEC_TLS13_PSK_CIPHERSUITES \
    "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"
/* TLS 1.2 / DTLS 1.2 with certificates: ECDHE + AEAD only. */
#define OSEC_TLS12_CERT_CIPHERS                                                  \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"               \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:"                 \
    "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256"
/* TLS 1.2 / DTLS 1.2 PSK (RFC 4279, 5487, 5489, 6655, 7905): forward-secret
 * (EC)DHE-PSK first, then plain PSK for devices that cannot afford (EC)DH. */
#define OSEC_TLS12_PSK_CIPHERS                                                   \
    "ECDHE-PSK-CHACHA20-POLY1305:DHE-PSK-AES256-GCM-SHA384:"                     \
    "DHE-PSK-CHACHA20-POLY1305:PSK-AES256-GCM-SHA384:PSK-CHACHA20-POLY1305:"     \
    "PSK-AES128-GCM-SHA256:PSK-AES256-CCM:PSK-AES128-CCM"
#define OSEC_TLS_GROUPS "X25519:P-256:P-384"
#define OSEC_TLS_SECURITY_LEVEL 2
#define OSEC_TLS_VERIFY_DEPTH 8

#define OSEC_PSK_IDENTITY_MAX 128 /* bytes, printable ASCII/UTF-8, no controls */
#define OSEC_PSK_MIN 16           /* bytes: shorter keys are refused */
#define OSEC_PSK_MAX 64           /* bytes */

enum osec_tls_verify {
    OSEC_TLS_VERIFY_NONE = 0,     /* do not ask for / check the peer certificate */
    OSEC_TLS_VERIFY_OPTIONAL = 1, /* ask; a certificate sent must verify */
    OSEC_TLS_VERIFY_REQUIRED = 2  /* the peer must send a certificate that verifies */
};

/* Server-side PSK lookup.  Copy the key for `identity` (a NUL-terminated,
 * length-checked string without control characters) into psk[0..psk_max),
 * set *psk_len and return 0; return OSEC_ENOTFOUND for an unknown identity,
 * any other negative code to abort the handshake (e.g. store failure).
 * Called from inside the handshake, on the thread driving the SSL. */
typedef int (*osec_psk_lookup_fn)(void *arg, const char *identity, uint8_t *psk,
                                  size_t psk_max, size_t *psk_len);

struct osec_tls_server_opts {
    const char *cert_file;   /* PEM chain, leaf first; NULL: PSK only */
    const char *key_file;    /* PEM key, see osec_pki_load_key() */
    enum osec_tls_verify verify_client;
    const char *client_ca_file;      /* trust anchors for client certificates */
    osec_psk_lookup_fn psk_lookup;   /* NULL: certificates only */
    void *psk_arg;
    const char *psk_identity_hint;   /* optional (TLS 1.2 ServerKeyExchange) */
};

struct osec_tls_client_opts {
    const char *ca_file;      /* trust anchors for the server; NULL: PSK only */
    const char *cert_file;    /* optional client certificate (mutual TLS) */
    const char *key_file;
    const char *psk_identity; /* optional fixed PSK identity ... */
    const uint8_t *psk;       /* ... and key (copied into the context) */
    size_t psk_len;
};

/* TLS 1.2-1.3 server: certificate and/or PSK (TLS 1.2 RFC 4279 and TLS 1.3
 * external PSK, both answered by psk_lookup).  Session resumption is turned
 * off when PSK is enabled so every PSK handshake runs the lookup. */
SSL_CTX *osec_tls_server_ctx(const struct osec_tls_server_opts *o);
/* TLS 1.2-1.3 client.  With ca_file: verifies the server certificate (use
 * osec_tls_client_ssl() to bind the expected name).  With a PSK: offers it in
 * TLS 1.2 and 1.3; without ca_file any server certificate is refused, so the
 * connection is authenticated by the PSK or fails. */
SSL_CTX *osec_tls_client_ctx(const struct osec_tls_client_opts *o);
/* DTLS 1.2 variants; the server answers ClientHellos with a stateless
 * HMAC cookie (HelloVerifyRequest) bound to the peer address. */
SSL_CTX *osec_tls_dtls_server_ctx(const struct osec_tls_server_opts *o);
SSL_CTX *osec_tls_dtls_client_ctx(const struct osec_tls_client_opts *o);

/* New client SSL in connect state.  host: a DNS name (checked against the
 * certificate's SAN, no partial wildcards, and sent as SNI) or an IPv4/IPv6
 * literal (checked against SAN IP addresses, no SNI).  host may be NULL only
 * when ctx has no trust anchors (PSK only).  NULL on error. */
SSL *osec_tls_client_ssl(SSL_CTX *ctx, const char *host);

/* Free the context (and, through ex_data, everything it owns); *ctx = NULL. */
void osec_tls_ctx_free(SSL_CTX **ctx);

/* After the handshake: the PSK identity that authenticated this connection
 * (server: the identity whose key the lookup returned; client: our own).
 * OSEC_ENOTFOUND if the handshake is not finished or used no PSK;
 * OSEC_EBOUNDS if out is too small. */
int osec_tls_psk_identity(SSL *ssl, char *out, size_t outlen);

/* The verified peer certificate's principal: the first subjectAltName URI
 * or email, else the subject's (last) CN.  OSEC_ENOTFOUND without a verified
 * peer certificate; OSEC_EPARSE for a principal holding control characters;
 * OSEC_EBOUNDS if out is too small. */
int osec_tls_peer_principal(SSL *ssl, char *out, size_t outlen);

/* "TLSv1.3", "TLSv1.2", "DTLSv1.2", ...; "none" for NULL. */
const char *osec_tls_version_name(const SSL *ssl);

/* ---- building blocks (the builders above are made of these) ---------- */

#define OSEC_TLS_F_CERT 0x1u /* certificate cipher suites */
#define OSEC_TLS_F_PSK 0x2u  /* PSK cipher suites */
#define OSEC_TLS_F_DTLS 0x4u /* DTLS 1.2 instead of TLS 1.2-1.3 */

/* Versions, options, cipher lists, groups, security level for ctx. */
int osec_tls_ctx_apply_policy(SSL_CTX *ctx, unsigned flags);
/* Certificate chain + private key (key file checked like osec_pki_load_key). */
int osec_tls_ctx_use_cert(SSL_CTX *ctx, const char *cert_file, const char *key_file);
/* Peer certificate verification against ca_file (ignored for VERIFY_NONE). */
int osec_tls_ctx_verify_peers(SSL_CTX *ctx, enum osec_tls_verify mode, const char *ca_file);
/* Server PSK (TLS 1.2 + TLS 1.3) answered by lookup; hint may be NULL. */
int osec_tls_ctx_set_psk_server(SSL_CTX *ctx, osec_psk_lookup_fn lookup, void *arg,
                                const char *hint);
/* Client PSK for every connection of ctx (identity and key are copied).  If
 * ctx has no trust anchors, server certificates are refused. */
int osec_tls_ctx_set_psk_client(SSL_CTX *ctx, const char *identity, const uint8_t *psk,
                                size_t psk_len);
/* Client PSK for one connection (e.g. a onetime key), overriding the
 * context's; the connection becomes PSK only (PSK suites, certificates
 * refused).  Identity and key are copied and cleansed with the SSL. */
int osec_tls_ssl_set_psk(SSL *ssl, const char *identity, const uint8_t *psk,
                         size_t psk_len);
/* DTLS server: stateless cookies, HMAC-SHA256 under a random per-context
 * secret over (time window, peer address); valid 60..120 s. */
int osec_tls_ctx_set_dtls_cookies(SSL_CTX *ctx);

#endif
