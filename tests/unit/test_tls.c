/* Unit tests for lib/tls: real handshakes in memory (BIO pairs) for TLS and
 * over loopback UDP for DTLS, with a fresh development PKI per run. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "omasec/error.h"
#include "omasec/pki.h"
#include "omasec/tls.h"

static char base[64];
static char pki_a[128], pki_b[128];

static const uint8_t key1[32] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
                                  0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00,
                                  0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                                  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10 };
static const uint8_t key2[32] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
                                  0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00,
                                  0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                                  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x11 };

/* ---- fixtures ------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(base, sizeof(base), "/tmp/osec-tls-XXXXXX");
    if (mkdtemp(base) == NULL)
        return -1;
    snprintf(pki_a, sizeof(pki_a), "%s/a", base);
    snprintf(pki_b, sizeof(pki_b), "%s/b", base);
    if (osec_pki_create_dev(pki_a) != 0 || osec_pki_create_dev(pki_b) != 0)
        return -1;
    return osec_pki_issue(pki_a, "alice", "URI:sip:alice@example.com,email:alice@example.com",
                          true, "alice");
}

static int group_teardown(void **state)
{
    (void)state;
    return nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *pf(const char *dir, const char *name)
{
    static char bufs[8][192];
    static int next;
    char *b = bufs[next++ % 8];

    snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
    return b;
}

struct lookup_state {
    int calls;
    int fail; /* return this instead of looking up */
};

static struct lookup_state lk;

/* The server's key table: one device. */
static int lookup(void *arg, const char *identity, uint8_t *psk, size_t psk_max, size_t *len)
{
    struct lookup_state *st = arg;

    st->calls++;
    if (st->fail)
        return st->fail;
    if (strcmp(identity, "device-1") != 0)
        return OSEC_ENOTFOUND;
    assert_true(psk_max >= sizeof(key1));
    memcpy(psk, key1, sizeof(key1));
    *len = sizeof(key1);
    return 0;
}

static SSL_CTX *cert_server(enum osec_tls_verify v, const char *client_ca, bool psk)
{
    struct osec_tls_server_opts o = {
        .cert_file = pf(pki_a, "server.crt"), .key_file = pf(pki_a, "server.key"),
        .verify_client = v, .client_ca_file = client_ca,
        .psk_lookup = psk ? lookup : NULL, .psk_arg = &lk,
    };
    SSL_CTX *ctx = osec_tls_server_ctx(&o);

    assert_non_null(ctx);
    return ctx;
}

static SSL_CTX *psk_server(bool dtls)
{
    struct osec_tls_server_opts o = { .psk_lookup = lookup, .psk_arg = &lk,
                                      .psk_identity_hint = "omasec" };
    SSL_CTX *ctx = dtls ? osec_tls_dtls_server_ctx(&o) : osec_tls_server_ctx(&o);

    assert_non_null(ctx);
    return ctx;
}

static SSL_CTX *cert_client(const char *ca_dir, const char *cert_prefix)
{
    char crt[32], key[32];
    struct osec_tls_client_opts o = { .ca_file = pf(ca_dir, "ca.crt") };
    SSL_CTX *ctx;

    if (cert_prefix != NULL) {
        snprintf(crt, sizeof(crt), "%s.crt", cert_prefix);
        snprintf(key, sizeof(key), "%s.key", cert_prefix);
        o.cert_file = pf(pki_a, crt);
        o.key_file = pf(pki_a, key);
    }
    ctx = osec_tls_client_ctx(&o);
    assert_non_null(ctx);
    return ctx;
}

static SSL_CTX *psk_client(const char *id, const uint8_t *key, int max_version, bool dtls)
{
    struct osec_tls_client_opts o = { .psk_identity = id, .psk = key, .psk_len = 32 };
    SSL_CTX *ctx = dtls ? osec_tls_dtls_client_ctx(&o) : osec_tls_client_ctx(&o);

    assert_non_null(ctx);
    if (max_version)
        assert_int_equal(SSL_CTX_set_max_proto_version(ctx, max_version), 1);
    return ctx;
}

/* ---- handshakes ------------------------------------------------------------ */

static bool step(SSL *ssl, bool *done)
{
    int r, e;

    if (*done)
        return true;
    r = SSL_do_handshake(ssl);
    if (r == 1) {
        *done = true;
        return true;
    }
    e = SSL_get_error(ssl, r);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

/* 0 when both sides finished; -1 as soon as either fails (or it stalls). */
static int handshake(SSL *c, SSL *s)
{
    bool cd = false, sd = false;

    for (int i = 0; i < 100 && !(cd && sd); i++) {
        if (!step(c, &cd))
            return -1;
        if (!step(s, &sd)) {
            (void)SSL_read(c, &(char){ 0 }, 1); /* let the client read the alert */
            ERR_clear_error();
            return -1;
        }
    }
    ERR_clear_error();
    return cd && sd ? 0 : -1;
}

static void wire(SSL *c, SSL *s)
{
    BIO *bc, *bs;

    assert_int_equal(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
    SSL_set_bio(c, bc, bc);
    SSL_set_bio(s, bs, bs);
    SSL_set_accept_state(s);
}

struct conn {
    SSL *c, *s;
    int rc;
};

/* Connect a client SSL (already made) to a new server SSL of sctx. */
static struct conn run_ssl(SSL *c, SSL_CTX *sctx)
{
    struct conn k = { c, SSL_new(sctx), -1 };

    assert_non_null(k.c);
    assert_non_null(k.s);
    wire(k.c, k.s);
    k.rc = handshake(k.c, k.s);
    return k;
}

static struct conn run(SSL_CTX *cctx, SSL_CTX *sctx, const char *host)
{
    return run_ssl(osec_tls_client_ssl(cctx, host), sctx);
}

static void done(struct conn *k)
{
    SSL_free(k->c);
    SSL_free(k->s);
}

static int last_alert; /* description of the last alert a client received */

static void alert_cb(const SSL *ssl, int where, int ret)
{
    (void)ssl;
    if (where & SSL_CB_READ_ALERT)
        last_alert = ret & 0xff;
}

/* Like run(), recording the alert the client gets. */
static struct conn run_alert(SSL_CTX *cctx, SSL_CTX *sctx)
{
    SSL *c = osec_tls_client_ssl(cctx, NULL);

    assert_non_null(c);
    last_alert = -1;
    SSL_set_info_callback(c, alert_cb);
    return run_ssl(c, sctx);
}

static void expect_principal(SSL *ssl, int rc, const char *want)
{
    char p[128];

    assert_int_equal(osec_tls_peer_principal(ssl, p, sizeof(p)), rc);
    if (want != NULL)
        assert_string_equal(p, want);
}

static void expect_identity(SSL *ssl, int rc, const char *want)
{
    char id[OSEC_PSK_IDENTITY_MAX + 1];

    assert_int_equal(osec_tls_psk_identity(ssl, id, sizeof(id)), rc);
    if (want != NULL)
        assert_string_equal(id, want);
}

/* ---- certificates ---------------------------------------------------------- */

static void cert_tls13_ok(void **state)
{
    SSL_CTX *s = cert_server(OSEC_TLS_VERIFY_NONE, NULL, false);
    SSL_CTX *c = cert_client(pki_a, NULL);
    const char *hosts[] = { "localhost", "127.0.0.1", "::1" };
    (void)state;

    for (size_t i = 0; i < 3; i++) {
        struct conn k = run(c, s, hosts[i]);

        assert_int_equal(k.rc, 0);
        assert_string_equal(osec_tls_version_name(k.c), "TLSv1.3");
        assert_string_equal(SSL_get_cipher_name(k.s), "TLS_AES_256_GCM_SHA384");
        expect_principal(k.c, 0, "localhost"); /* server cert: no URI/email -> CN */
        expect_principal(k.s, OSEC_ENOTFOUND, NULL); /* no client cert */
        expect_identity(k.s, OSEC_ENOTFOUND, NULL);
        done(&k);
    }
    osec_tls_ctx_free(&s);
    osec_tls_ctx_free(&c);
    assert_null(s);
}

static void cert_tls12_ok(void **state)
{
    SSL_CTX *s = cert_server(OSEC_TLS_VERIFY_NONE, NULL, false);
    SSL_CTX *c = cert_client(pki_a, NULL);
    struct conn k;
    (void)state;

    assert_int_equal(SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION), 1);
    k = run(c, s, "localhost");
    assert_int_equal(k.rc, 0);
    assert_string_equal(osec_tls_version_name(k.s), "TLSv1.2");
    assert_string_equal(SSL_get_cipher_name(k.s), "ECDHE-ECDSA-AES256-GCM-SHA384");
    done(&k);
    osec_tls_ctx_free(&s);
    osec_tls_ctx_free(&c);
}

static void untrusted_server_fails(void **state)
{
    SSL_CTX *s = cert_server(OSEC_TLS_VERIFY_NONE, NULL, false);
    SSL_CTX *c = cert_client(pki_b, NULL); /* trusts the other CA */
    struct conn k;
    (void)state;

    k = run(c, s, "localhost");
    assert_int_equal(k.rc, -1);
    assert_int_equal(SSL_get_verify_result(k.c), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    expect_principal(k.c, OSEC_ENOTFOUND, NULL);
    done(&k);
    osec_tls_ctx_free(&s);
    osec_tls_ctx_free(&c);
}

static void wrong_host_fails(void **state)
{
    SSL_CTX *s = cert_server(OSEC_TLS_VERIFY_NONE, NULL, false);
    SSL_CTX *c = cert_client(pki_a, NULL);
    struct conn k;
    (void)state;

    k = run(c, s, "example.com");
    assert_int_equal(k.rc, -1);
    assert_int_equal(SSL_get_verify_result(k.c), X509_V_ERR_HOSTNAME_MISMATCH);
    done(&k);
    k = run(c, s, "localhost.example.com"); /* no partial matches */
    assert_int_equal(k.rc, -1);
    done(&k);
    k = run(c, s, "10.1.2.3");
    assert_int_equal(k.rc, -1);
    assert_int_equal(SSL_get_verify_result(k.c), X509_V_ERR_IP_ADDRESS_MISMATCH);
    done(&k);
    /* a verifying client must say whom it expects */
    assert_null(osec_tls_client_ssl(c, NULL));
    assert_int_equal(osec_error_code(), OSEC_EINVAL);
    assert_null(osec_tls_client_ssl(c, ""));
    osec_tls_ctx_free(&s);
    osec_tls_ctx_free(&c);
}

static void mutual_tls_ok(void **state)
{
    SSL_CTX *s = cert_server(OSEC_TLS_VERIFY_REQUIRED, pf(pki_a, "ca.crt"), false);
    SSL_CTX *c = cert_client(pki_a, "client");
    SSL_CTX *u = cert_client(pki_a, "alice");
    struct conn k;
    (void)state;

    k = run(c, s, "localhost");
    assert_int_equal(k.rc, 0);
    expect_principal(k.s, 0, "omasec-client"); /* CN */
    done(&k);
    assert_int_equal(SSL_CTX_set_max_proto_version(u, TLS1_2_VERSION), 1);
    k = run(u, s, "localhost");
    assert_int_equal(k.rc, 0);
    assert_string_equal(osec_tls_version_name(k.s), "TLSv1.2");
    expect_principal(k.s, 0, "sip:alice@example.com"); /* first SAN URI/email wins */
    {
        char small[8];
        assert_int_equal(osec_tls_peer_principal(k.s, small, sizeof(small)), OSEC_EBOUNDS);
    }
    done(&k);
    osec_tls_ctx_free(&s);
    osec_tls_ctx_free(&c);
    osec_tls_ctx_free(&u);
}

static void client_cert_checks(void **state)
{
    SSL_CTX *req = cert_server(OSEC_TLS_VERIFY_REQUIRED, pf(pki_a, "ca.crt"), false);
    SSL_CTX *opt = cert_server(OSEC_TLS_VERIFY_OPTIONAL, pf(pki_a, "ca.crt"), false);
    SSL_CTX *anon = cert_client(pki_a, NULL);
    SSL_CTX *foreign = cert_client(pki_a, NULL);
    struct conn k;
    (void)state;

    /* a client certificate from another CA */
    assert_int_equal(osec_tls_ctx_use_cert(foreign, pf(pki_b, "client.crt"),
                                           pf(pki_b, "client.key")), 0);
    k = run(anon, req, "localhost");
    assert_int_equal(k.rc, -1); /* required and missing */
    expect_principal(k.s, OSEC_ENOTFOUND, NULL);
    done(&k);
    k = run(foreign, req, "localhost");
    assert_int_equal(k.rc, -1);
    done(&k);
    k = run(anon, opt, "localhost");
    assert_int_equal(k.rc, 0); /* optional and missing: fine, but no principal */
    expect_principal(k.s, OSEC_ENOTFOUND, NULL);
    done(&k);
    k = run(foreign, opt, "localhost");
    assert_int_equal(k.rc, -1); /* optional but sent: must verify */
    done(&k);
    osec_tls_ctx_free(&req);
    osec_tls_ctx_free(&opt);
    osec_tls_ctx_free(&anon);
    osec_tls_ctx_free(&foreign);
}

static void check_policy(SSL_CTX *ctx, int min, int max)
{
    const uint64_t want = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                          SSL_OP_CIPHER_SERVER_PREFERENCE;

    assert_int_equal(SSL_CTX_get_min_proto_version(ctx), min);
    assert_int_equal(SSL_CTX_get_max_proto_version(ctx), max);
    assert_true((SSL_CTX_get_options(ctx) & want) == want);
    assert_int_equal(SSL_CTX_get_security_level(ctx), OSEC_TLS_SECURITY_LEVEL);
}

static void policy_everywhere(void **state)
{
    SSL_CTX *ctxs[] = { cert_server(OSEC_TLS_VERIFY_NONE, NULL, true), cert_client(pki_a, NULL),
                        psk_server(false), psk_client("device-1", key1, 0, false) };
    SSL_CTX *d[] = { psk_server(true), psk_client("device-1", key1, 0, true) };
    (void)state;

    for (size_t i = 0; i < 4; i++) {
        check_policy(ctxs[i], TLS1_2_VERSION, TLS1_3_VERSION);
        osec_tls_ctx_free(&ctxs[i]);
    }
    for (size_t i = 0; i < 2; i++) {
        check_policy(d[i], DTLS1_2_VERSION, DTLS1_2_VERSION);
        osec_tls_ctx_free(&d[i]);
    }
    osec_tls_ctx_free(&d[0]); /* already NULL: a no-op */
    osec_tls_ctx_free(NULL);
}

/* ---- PSK -------------------------------------------------------------------- */

static void psk_tls12_ok(void **state)
{
    SSL_CTX *s = psk_server(false);
    SSL_CTX *c = psk_client("device-1", key1, TLS1_2_VERSION, false);
    struct conn k;
    (void)state;

    lk = (struct lookup_state){ 0 };
    k = run(c, s, NULL);
    assert_int_equal(k.rc, 0);
    assert_string_equal(osec_tls_version_name(k.s), "TLSv1.2");
    assert_string_equal(SSL_get_cipher_name(k.s), "ECDHE-PSK-CHACHA20-POLY1305");
    assert_int_equal(lk.calls, 1);
    expect_identity(k.s, 0, "device-1");
    expect_identity(k.c, 0, "device-1");
    expect_principal(k.s, OSEC_ENOTFOUND, NULL);
    done(&k);
    /* a constrained device offering only plain PSK gets it */
    assert_int_equal(SSL_CTX_set_cipher_list(c, "PSK-AES128-CCM:PSK-AES128-GCM-SHA256"), 1);
    k = run(c, s, NULL);
    assert_int_equal(k.rc, 0);
    assert_string_equal(SSL_get_cipher_name(k.s), "PSK-AES128-GCM-SHA256");
    expect_identity(k.s, 0, "device-1");
    done(&k);
    osec_tls_ctx_free(&s);
    osec_tls_ctx_free(&c);
}

static void psk_tls13_ok(void **state)
{
    SSL_CTX *s = psk_server(false);
    SSL_CTX *both = cert_server(OSEC_TLS_VERIFY_NONE, NULL, true);
    SSL_CTX *c = psk_client("device-1", key1, 0, false);
    SSL_CTX *cc = cert_client(pki_a, NULL);
    struct conn k;
    (void)state;

    lk = (struct lookup_state){ 0 };
    k = run(c, s, NULL);
    assert_int_equal(k.rc, 0);
    assert_string_equal(osec_tls_version_name(k.s), "TLSv1.3");
    assert_string_equal(SSL_get_cipher_name(k.s), "TLS_AES_128_GCM_SHA256");
    assert_int_equal(lk.calls, 1);
    expect_identity(k.s, 0, "device-1");
    expect_identity(k.c, 0, "device-1");
    done(&k);
    /* server with certificate and PSK: each client gets its kind */
    k = run(c, both, NULL);
    assert_int_equal(k.rc, 0);
    expect_identity(k.s, 0, "device-1");
    assert_null(SSL_get0_peer_certificate(k.c));
    done(&k);
    k = run(cc, both, "localhost");
    assert_int_equal(k.rc, 0);
    expect_identity(k.s, OSEC_ENOTFOUND, NULL);
    expect_principal(k.c, 0, "localhost");
    done(&k);
    osec_tls_ctx_free(&s);
    osec_tls_ctx_free(&both);
    osec_tls_ctx_free(&c);
    osec_tls_ctx_free(&cc);
}

static void psk_wrong_key_or_identity_fails(void **state)
{
    SSL_CTX *s = psk_server(false);
    const int versions[] = { TLS1_2_VERSION, TLS1_3_VERSION };
    (void)state;

    for (size_t i = 0; i < 2; i++) {
        SSL_CTX *wrong = psk_client("device-1", key2, versions[i], false);
        SSL_CTX *unknown = psk_client("device-2", key1, versions[i], false);
        struct conn k;

        int wrong_alert;

        lk = (struct lookup_state){ 0 };
        k = run_alert(wrong, s);
        assert_int_equal(k.rc, -1);
        expect_identity(k.s, OSEC_ENOTFOUND, NULL);
        done(&k);
        wrong_alert = last_alert;
        /* TLS 1.2: the Finished record does not decrypt; TLS 1.3: the binder
         * does not verify (OpenSSL 3.0 answers illegal_parameter) */
        assert_int_equal(wrong_alert, versions[i] == TLS1_2_VERSION ? SSL_AD_BAD_RECORD_MAC
                                                                    : SSL_AD_ILLEGAL_PARAMETER);
        k = run_alert(unknown, s);
        assert_int_equal(k.rc, -1);
        expect_identity(k.s, OSEC_ENOTFOUND, NULL);
        done(&k);
        /* an unknown identity fails exactly like a wrong key: no probing */
        assert_int_equal(last_alert, wrong_alert);
        assert_int_equal(lk.calls, 2);
        osec_tls_ctx_free(&wrong);
        osec_tls_ctx_free(&unknown);
    }
    osec_tls_ctx_free(&s);
}

static void psk_lookup_failure_aborts(void **state)
{
    SSL_CTX *s = psk_server(false);
    struct conn k;
    (void)state;

    for (int v = TLS1_2_VERSION; v <= TLS1_3_VERSION; v++) {
        SSL_CTX *c = psk_client("device-1", key1, v, false);

        lk = (struct lookup_state){ .fail = OSEC_ESTORE };
        k = run(c, s, NULL);
        assert_int_equal(k.rc, -1);
        assert_int_equal(lk.calls, 1);
        done(&k);
        osec_tls_ctx_free(&c);
    }
    lk = (struct lookup_state){ 0 };
    osec_tls_ctx_free(&s);
}

static unsigned int old_client_cb(SSL *ssl, const char *hint, char *id, unsigned int max_id,
                                  unsigned char *psk, unsigned int max_psk)
{
    (void)ssl, (void)hint, (void)max_id, (void)max_psk;
    memcpy(id, "device-1", 9);
    memcpy(psk, key1, sizeof(key1));
    return sizeof(key1);
}

static void psk_old_versions_refused(void **state)
{
    SSL_CTX *s = psk_server(false);
    const int versions[] = { TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION };
    (void)state;

    for (size_t i = 0; i < 3; i++) {
        SSL_CTX *c = SSL_CTX_new(TLS_client_method());
        struct conn k;
        SSL *ssl;

        assert_non_null(c);
        SSL_CTX_set_security_level(c, 0);
        assert_int_equal(SSL_CTX_set_min_proto_version(c, versions[i]), 1);
        assert_int_equal(SSL_CTX_set_max_proto_version(c, versions[i]), 1);
        assert_int_equal(SSL_CTX_set_cipher_list(c, "PSK@SECLEVEL=0"), 1);
        SSL_CTX_set_psk_client_callback(c, old_client_cb);
        lk = (struct lookup_state){ 0 };
        ssl = SSL_new(c);
        assert_non_null(ssl);
        SSL_set_connect_state(ssl);
        SSL_set_info_callback(ssl, alert_cb);
        last_alert = -1;
        k = run_ssl(ssl, s);
        if (versions[i] == TLS1_2_VERSION) { /* the same client is fine at 1.2 */
            assert_int_equal(k.rc, 0);
            expect_identity(k.s, 0, "device-1");
        } else {
            assert_int_equal(k.rc, -1);
            assert_int_equal(lk.calls, 0); /* refused before any key is looked up */
            assert_int_equal(last_alert, SSL_AD_PROTOCOL_VERSION);
        }
        done(&k);
        SSL_CTX_free(c);
    }
    osec_tls_ctx_free(&s);
}

/* A PSK-only client must not accept a certificate in place of the PSK. */
static void psk_client_refuses_certificates(void **state)
{
    SSL_CTX *s = cert_server(OSEC_TLS_VERIFY_NONE, NULL, false);
    SSL_CTX *c = psk_client("device-1", key1, 0, false);
    SSL_CTX *c12 = psk_client("device-1", key1, TLS1_2_VERSION, false);
    struct conn k;
    (void)state;

    k = run(c, s, NULL);
    assert_int_equal(k.rc, -1);
    assert_int_equal(SSL_get_verify_result(k.c), X509_V_ERR_CERT_REJECTED);
    done(&k);
    k = run(c12, s, NULL);
    assert_int_equal(k.rc, -1); /* no common suite */
    done(&k);
    osec_tls_ctx_free(&s);
    osec_tls_ctx_free(&c);
    osec_tls_ctx_free(&c12);
}

/* The server found the key but could not use it (SHA-384 only suite): the
 * certificate handshake that follows must not report a PSK identity. */
static void psk_found_but_unused(void **state)
{
    SSL_CTX *both = cert_server(OSEC_TLS_VERIFY_NONE, NULL, true);
    struct osec_tls_client_opts o = { .ca_file = pf(pki_a, "ca.crt"), .psk_identity = "device-1",
                                      .psk = key1, .psk_len = 32 };
    SSL_CTX *c = osec_tls_client_ctx(&o);
    struct conn k;
    (void)state;

    assert_non_null(c);
    assert_int_equal(SSL_CTX_set_ciphersuites(c, "TLS_AES_256_GCM_SHA384"), 1);
    lk = (struct lookup_state){ 0 };
    k = run(c, both, "localhost");
    assert_int_equal(k.rc, 0);
    assert_int_equal(lk.calls, 1);
    expect_identity(k.s, OSEC_ENOTFOUND, NULL);
    expect_identity(k.c, OSEC_ENOTFOUND, NULL);
    expect_principal(k.c, 0, "localhost");
    done(&k);
    osec_tls_ctx_free(&both);
    osec_tls_ctx_free(&c);
}

/* A per-connection key (onetime key) on a certificate-capable client. */
static void per_connection_psk(void **state)
{
    SSL_CTX *both = cert_server(OSEC_TLS_VERIFY_NONE, NULL, true);
    SSL_CTX *certonly = cert_server(OSEC_TLS_VERIFY_NONE, NULL, false);
    SSL_CTX *c = cert_client(pki_a, NULL);
    struct conn k;
    SSL *ssl;
    (void)state;

    for (int v = TLS1_2_VERSION; v <= TLS1_3_VERSION; v++) {
        assert_int_equal(SSL_CTX_set_max_proto_version(c, v), 1);
        ssl = osec_tls_client_ssl(c, "localhost");
        assert_int_equal(osec_tls_ssl_set_psk(ssl, "device-1", key1, 32), 0);
        k = run_ssl(ssl, both);
        assert_int_equal(k.rc, 0);
        expect_identity(k.s, 0, "device-1");
        expect_identity(k.c, 0, "device-1");
        done(&k);
        ssl = osec_tls_client_ssl(c, "localhost");
        assert_int_equal(osec_tls_ssl_set_psk(ssl, "device-1", key1, 32), 0);
        k = run_ssl(ssl, certonly);
        assert_int_equal(k.rc, -1); /* the certificate is not accepted instead */
        done(&k);
    }
    ssl = SSL_new(c);
    assert_int_equal(osec_tls_ssl_set_psk(ssl, "device-1", key1, 8), OSEC_EINVAL);
    assert_int_equal(osec_tls_ssl_set_psk(ssl, "dev\nice", key1, 32), OSEC_EINVAL);
    SSL_free(ssl);
    osec_tls_ctx_free(&both);
    osec_tls_ctx_free(&certonly);
    osec_tls_ctx_free(&c);
}

/* The context may go before its connections: they hold references and the
 * owned PSK copies live until the last one is gone (ASan checks). */
static void ctx_outlived_by_connection(void **state)
{
    SSL_CTX *s = psk_server(false);
    SSL_CTX *c = psk_client("device-1", key1, 0, false);
    SSL *cs = osec_tls_client_ssl(c, NULL);
    SSL *ss = SSL_new(s);
    (void)state;

    osec_tls_ctx_free(&c);
    osec_tls_ctx_free(&s);
    wire(cs, ss);
    assert_int_equal(handshake(cs, ss), 0);
    expect_identity(ss, 0, "device-1");
    SSL_free(cs);
    SSL_free(ss);
}

static void builders_reject_bad_options(void **state)
{
    struct osec_tls_server_opts so = { 0 };
    struct osec_tls_client_opts co = { 0 };
    char weak[192];
    (void)state;

    assert_null(osec_tls_server_ctx(&so));
    assert_int_equal(osec_error_code(), OSEC_EINVAL);
    assert_null(osec_tls_server_ctx(NULL));
    assert_null(osec_tls_client_ctx(&co));
    assert_int_equal(osec_error_code(), OSEC_EINVAL);
    so.cert_file = pf(pki_a, "nope.crt");
    so.key_file = pf(pki_a, "server.key");
    assert_null(osec_tls_server_ctx(&so));
    assert_int_equal(osec_error_code(), OSEC_ECONFIG);
    so.cert_file = pf(pki_a, "server.crt");
    so.key_file = pf(pki_a, "client.key"); /* does not match */
    assert_null(osec_tls_server_ctx(&so));
    assert_int_equal(osec_error_code(), OSEC_ECONFIG);
    snprintf(weak, sizeof(weak), "%s/weak.key", base); /* world-readable copy */
    {
        FILE *in = fopen(pf(pki_a, "server.key"), "r"), *out = fopen(weak, "w");
        char buf[1024];
        size_t n = fread(buf, 1, sizeof(buf), in);
        assert_int_equal(fwrite(buf, 1, n, out), n);
        fclose(in);
        fclose(out);
        chmod(weak, 0644);
    }
    so.key_file = weak;
    assert_null(osec_tls_server_ctx(&so));
    assert_int_equal(osec_error_code(), OSEC_EPERM);
    so.key_file = pf(pki_a, "server.key");
    so.verify_client = OSEC_TLS_VERIFY_REQUIRED; /* without a CA file */
    assert_null(osec_tls_server_ctx(&so));
    assert_int_equal(osec_error_code(), OSEC_EINVAL);
    co.psk_identity = "device-1";
    co.psk = key1;
    co.psk_len = 8; /* too short */
    assert_null(osec_tls_client_ctx(&co));
    assert_int_equal(osec_error_code(), OSEC_EINVAL);
}

/* ---- DTLS ------------------------------------------------------------------- */

static int hvr_sent;

static void count_hvr(int write_p, int version, int content_type, const void *buf, size_t len,
                      SSL *ssl, void *arg)
{
    (void)version, (void)ssl, (void)arg;
    if (write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
        ((const uint8_t *)buf)[0] == DTLS1_MT_HELLO_VERIFY_REQUEST)
        hvr_sent++;
}

static int udp_socket(struct sockaddr_in *addr)
{
    socklen_t len = sizeof(*addr);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    assert_true(fd >= 0);
    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)addr, sizeof(*addr)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &len), 0);
    assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    return fd;
}

static void dgram_attach(SSL *ssl, int fd, const struct sockaddr_in *peer)
{
    BIO *b = BIO_new_dgram(fd, BIO_CLOSE);
    BIO_ADDR *a = BIO_ADDR_new();

    assert_non_null(b);
    assert_int_equal(connect(fd, (const struct sockaddr *)peer, sizeof(*peer)), 0);
    assert_int_equal(BIO_ADDR_rawmake(a, AF_INET, &peer->sin_addr, 4, peer->sin_port), 1);
    assert_true(BIO_ctrl_set_connected(b, a) > 0);
    BIO_ADDR_free(a);
    SSL_set_bio(ssl, b, b);
}

static int dtls_run(SSL_CTX *cctx, SSL_CTX *sctx, char *id, size_t idlen)
{
    struct sockaddr_in ca, sa;
    int cfd = udp_socket(&ca), sfd = udp_socket(&sa), rc;
    SSL *c = osec_tls_client_ssl(cctx, NULL), *s = SSL_new(sctx);

    assert_non_null(c);
    assert_non_null(s);
    dgram_attach(c, cfd, &sa);
    dgram_attach(s, sfd, &ca);
    SSL_set_accept_state(s);
    SSL_set_msg_callback(s, count_hvr);
    rc = handshake(c, s);
    if (rc == 0) {
        assert_string_equal(osec_tls_version_name(s), "DTLSv1.2");
        assert_int_equal(osec_tls_psk_identity(s, id, idlen), 0);
    } else {
        assert_int_equal(osec_tls_psk_identity(s, id, idlen), OSEC_ENOTFOUND);
    }
    SSL_free(c);
    SSL_free(s);
    return rc;
}

static void dtls_psk(void **state)
{
    SSL_CTX *s = psk_server(true);
    SSL_CTX *good = psk_client("device-1", key1, 0, true);
    SSL_CTX *wrong = psk_client("device-1", key2, 0, true);
    char id[OSEC_PSK_IDENTITY_MAX + 1];
    (void)state;

    hvr_sent = 0;
    assert_int_equal(dtls_run(good, s, id, sizeof(id)), 0);
    assert_string_equal(id, "device-1");
    assert_int_equal(hvr_sent, 1); /* the stateless cookie round happened */
    assert_int_equal(dtls_run(wrong, s, id, sizeof(id)), -1);
    osec_tls_ctx_free(&s);
    osec_tls_ctx_free(&good);
    osec_tls_ctx_free(&wrong);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cert_tls13_ok),
        cmocka_unit_test(cert_tls12_ok),
        cmocka_unit_test(untrusted_server_fails),
        cmocka_unit_test(wrong_host_fails),
        cmocka_unit_test(mutual_tls_ok),
        cmocka_unit_test(client_cert_checks),
        cmocka_unit_test(policy_everywhere),
        cmocka_unit_test(psk_tls12_ok),
        cmocka_unit_test(psk_tls13_ok),
        cmocka_unit_test(psk_wrong_key_or_identity_fails),
        cmocka_unit_test(psk_lookup_failure_aborts),
        cmocka_unit_test(psk_old_versions_refused),
        cmocka_unit_test(psk_client_refuses_certificates),
        cmocka_unit_test(psk_found_but_unused),
        cmocka_unit_test(per_connection_psk),
        cmocka_unit_test(ctx_outlived_by_connection),
        cmocka_unit_test(builders_reject_bad_options),
        cmocka_unit_test(dtls_psk),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
