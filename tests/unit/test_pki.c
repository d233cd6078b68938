/* Unit tests for lib/tls/pki.c: the development PKI. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "omasec/error.h"
#include "omasec/pki.h"

static char base[64];
static char dir[128];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    snprintf(base, sizeof(base), "/tmp/osec-pki-XXXXXX");
    if (mkdtemp(base) == NULL)
        return -1;
    snprintf(dir, sizeof(dir), "%s/pki", base);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void path_of(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

static mode_t mode_of(const char *name)
{
    char p[256];
    struct stat st;

    path_of(p, sizeof(p), name);
    assert_int_equal(lstat(p, &st), 0);
    return st.st_mode & 07777;
}

static X509 *load_cert(const char *name)
{
    char p[256];
    FILE *f;
    X509 *x;

    path_of(p, sizeof(p), name);
    f = fopen(p, "r");
    assert_non_null(f);
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    return x;
}

static EVP_PKEY *load_key(const char *name)
{
    char p[256];
    EVP_PKEY *k = NULL;

    path_of(p, sizeof(p), name);
    assert_int_equal(osec_pki_load_key(p, &k), 0);
    assert_non_null(k);
    return k;
}

static int verify(X509 *ca, X509 *leaf, int purpose)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok;

    assert_int_equal(X509_STORE_add_cert(store, ca), 1);
    assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
    X509_STORE_CTX_set_purpose(ctx, purpose);
    ok = X509_verify_cert(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return ok;
}

static long days_valid(X509 *x)
{
    int days = 0, secs = 0;

    assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)), 1);
    return days;
}

static void create_sets_modes(void **state)
{
    static const char *const keys[] = { "ca.key", "server.key", "client.key" };
    static const char *const certs[] = { "ca.crt", "server.crt", "client.crt" };
    char p[256];
    struct stat st;
    (void)state;

    assert_int_equal(osec_pki_create_dev(dir), 0);
    assert_int_equal(lstat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(mode_of(keys[i]), 0600);
        assert_int_equal(mode_of(certs[i]), 0644);
    }
    /* keys are PKCS#8 PEM, unencrypted */
    path_of(p, sizeof(p), "server.key");
    {
        FILE *f = fopen(p, "r");
        char line[64] = "";
        assert_non_null(f);
        assert_non_null(fgets(line, sizeof(line), f));
        fclose(f);
        assert_string_equal(line, "-----BEGIN PRIVATE KEY-----\n");
    }
}

static void rerun_is_noop(void **state)
{
    X509 *a, *b;
    (void)state;

    assert_int_equal(osec_pki_create_dev(dir), 0);
    a = load_cert("ca.crt");
    assert_int_equal(osec_pki_create_dev(dir), 0);
    b = load_cert("ca.crt");
    assert_int_equal(X509_cmp(a, b), 0); /* same CA, not a new one */
    X509_free(a);
    X509_free(b);
}

static void partial_is_eexists(void **state)
{
    char p[256];
    X509 *before, *after;
    (void)state;

    assert_int_equal(osec_pki_create_dev(dir), 0);
    before = load_cert("server.crt");
    path_of(p, sizeof(p), "client.key");
    assert_int_equal(unlink(p), 0);
    assert_int_equal(osec_pki_create_dev(dir), OSEC_EEXISTS);
    assert_int_equal(access(p, F_OK), -1); /* nothing recreated ... */
    after = load_cert("server.crt");
    assert_int_equal(X509_cmp(before, after), 0); /* ... nothing overwritten */
    X509_free(before);
    X509_free(after);
}

static void refuses_unsafe_dirs(void **state)
{
    char link[128], file[128];
    (void)state;

    snprintf(link, sizeof(link), "%s/link", base);
    snprintf(file, sizeof(file), "%s/file", base);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(symlink(dir, link), 0);
    assert_int_equal(osec_pki_create_dev(link), OSEC_EPERM);
    assert_int_equal(close(open(file, O_CREAT | O_WRONLY, 0600)), 0);
    assert_int_equal(osec_pki_create_dev(file), OSEC_EPERM);
    assert_int_equal(chmod(dir, 0770), 0);
    assert_int_equal(osec_pki_create_dev(dir), OSEC_EPERM);
    assert_int_equal(osec_pki_create_dev(""), OSEC_EINVAL);
}

static void server_cert_is_right(void **state)
{
    X509 *ca, *srv, *cli;
    EVP_PKEY *k;
    BIGNUM *s1, *s2;
    (void)state;

    assert_int_equal(osec_pki_create_dev(dir), 0);
    ca = load_cert("ca.crt");
    srv = load_cert("server.crt");
    cli = load_cert("client.crt");
    assert_true(X509_check_ca(ca) > 0);
    assert_true(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
    assert_true(X509_get_key_usage(ca) & KU_CRL_SIGN);
    assert_int_equal(X509_check_ca(srv), 0);
    assert_int_equal(verify(ca, srv, X509_PURPOSE_SSL_SERVER), 1);
    assert_int_equal(verify(ca, cli, X509_PURPOSE_SSL_CLIENT), 1);
    assert_int_equal(verify(ca, cli, X509_PURPOSE_SSL_SERVER), 0); /* EKU clientAuth only */
    assert_int_equal(verify(ca, srv, X509_PURPOSE_SSL_CLIENT), 0); /* EKU serverAuth only */
    assert_int_equal(X509_check_host(srv, "localhost", 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(srv, "example.com", 0, 0, NULL), 0);
    assert_int_equal(X509_check_ip_asc(srv, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_ip_asc(srv, "::1", 0), 1);
    assert_int_equal(X509_check_ip_asc(srv, "10.0.0.1", 0), 0);
    assert_int_equal(days_valid(ca), 3650);
    assert_int_equal(days_valid(srv), 825);
    k = load_key("server.key");
    assert_int_equal(X509_check_private_key(srv, k), 1);
    assert_int_equal(X509_check_private_key(cli, k), 0);
    EVP_PKEY_free(k);
    s1 = ASN1_INTEGER_to_BN(X509_get0_serialNumber(srv), NULL);
    s2 = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cli), NULL);
    assert_true(BN_num_bits(s1) <= 128 && BN_num_bits(s1) > 96);
    assert_int_not_equal(BN_cmp(s1, s2), 0);
    BN_free(s1);
    BN_free(s2);
    X509_free(ca);
    X509_free(srv);
    X509_free(cli);
}

static void issue_more(void **state)
{
    X509 *ca, *user, *peer;
    GENERAL_NAMES *gens;
    const GENERAL_NAME *g;
    char p[256];
    (void)state;

    assert_int_equal(osec_pki_issue(dir, "x", NULL, true, "x"), OSEC_ENOTFOUND); /* no CA */
    assert_int_equal(osec_pki_create_dev(dir), 0);
    assert_int_equal(osec_pki_issue(dir, "alice", "URI:sip:alice@example.com,email:a@example.com",
                                    true, "alice"), 0);
    assert_int_equal(mode_of("alice.key"), 0600);
    assert_int_equal(osec_pki_issue(dir, "alice", NULL, true, "alice"), OSEC_EEXISTS);
    snprintf(p, sizeof(p), "%s/peer1", dir); /* a prefix with '/' is a path */
    assert_int_equal(osec_pki_issue(dir, "peer1", "peer1.example.net, 192.0.2.1", false, p), 0);
    ca = load_cert("ca.crt");
    user = load_cert("alice.crt");
    peer = load_cert("peer1.crt");
    assert_int_equal(verify(ca, user, X509_PURPOSE_SSL_CLIENT), 1);
    assert_int_equal(verify(ca, peer, X509_PURPOSE_SSL_SERVER), 1);
    assert_int_equal(verify(ca, peer, X509_PURPOSE_SSL_CLIENT), 1); /* peering: both ways */
    assert_int_equal(X509_check_host(peer, "peer1.example.net", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(peer, "192.0.2.1", 0), 1);
    gens = X509_get_ext_d2i(user, NID_subject_alt_name, NULL, NULL);
    assert_non_null(gens);
    assert_int_equal(sk_GENERAL_NAME_num(gens), 2);
    g = sk_GENERAL_NAME_value(gens, 0);
    assert_int_equal(g->type, GEN_URI);
    assert_memory_equal(ASN1_STRING_get0_data(g->d.ia5), "sip:alice@example.com", 21);
    GENERAL_NAMES_free(gens);
    X509_free(ca);
    X509_free(user);
    X509_free(peer);
}

static void issue_rejects_bad_input(void **state)
{
    char p[256];
    (void)state;

    assert_int_equal(osec_pki_create_dev(dir), 0);
    assert_int_equal(osec_pki_issue(dir, "bob", "DNS:has space", true, "bob"), OSEC_EINVAL);
    assert_int_equal(osec_pki_issue(dir, "bob", "IP:300.1.1.1", true, "bob"), OSEC_EINVAL);
    assert_int_equal(osec_pki_issue(dir, "bob", "a,,b", true, "bob"), OSEC_EINVAL);
    assert_int_equal(osec_pki_issue(dir, "bo\nb", NULL, true, "bob"), OSEC_EINVAL);
    assert_int_equal(osec_pki_issue(dir, "", NULL, true, "bob"), OSEC_EINVAL);
    path_of(p, sizeof(p), "bob.crt");
    assert_int_equal(access(p, F_OK), -1); /* failures leave nothing behind */
    path_of(p, sizeof(p), "bob.key");
    assert_int_equal(access(p, F_OK), -1);
}

static void key_files_are_checked(void **state)
{
    char p[256], link[256];
    EVP_PKEY *k = NULL;
    (void)state;

    assert_int_equal(osec_pki_create_dev(dir), 0);
    path_of(p, sizeof(p), "client.key");
    path_of(link, sizeof(link), "link.key");
    assert_int_equal(symlink(p, link), 0);
    assert_int_equal(osec_pki_load_key(link, &k), OSEC_EPERM);
    assert_int_equal(chmod(p, 0640), 0);
    assert_int_equal(osec_pki_load_key(p, &k), OSEC_EPERM);
    assert_null(k);
    path_of(p, sizeof(p), "nope.key");
    assert_int_equal(osec_pki_load_key(p, &k), OSEC_ENOTFOUND);
    path_of(p, sizeof(p), "ca.crt"); /* a certificate is not a key (mode 0644 first) */
    assert_int_equal(osec_pki_load_key(p, &k), OSEC_EPERM);
    assert_int_equal(chmod(p, 0600), 0);
    assert_int_equal(osec_pki_load_key(p, &k), OSEC_EPARSE);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(create_sets_modes),   T(rerun_is_noop),          T(partial_is_eexists),
        T(refuses_unsafe_dirs), T(server_cert_is_right),   T(issue_more),
        T(issue_rejects_bad_input), T(key_files_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
