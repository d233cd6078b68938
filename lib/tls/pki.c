/* Development PKI (see include/omasec/pki.h): EC P-256 CA, server, client and
 * peer certificates built with the OpenSSL 3 API, written without ever
 * overwriting or following a symlink. */
#include "omasec/pki.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "omasec/buf.h"
#include "omasec/crypto.h"
#include "omasec/error.h"
#include "omasec/util.h"

#define PKI_PATH_MAX 4096
#define KEY_FILE_MAX ((size_t)64 * 1024)
#define CN_MAX 64          /* ub-common-name, RFC 5280 */
#define SAN_ITEM_MAX 255
#define SAN_ITEMS_MAX 32
#define PKI_ORG "omasec development"
#define CA_CN "omasec development CA"
#define BACKDATE_SECS (-3600L) /* tolerate clocks an hour slow */

struct leaf_spec {
    const char *cn;
    const char *san; /* see osec_pki_issue(); NULL for none */
    const char *eku;
};

/* Files created by the current call, so that a failure can remove them. */
struct created {
    char paths[6][PKI_PATH_MAX];
    size_t n;
};

static const char *const dev_files[] = {
    OSEC_PKI_CA_CERT,     OSEC_PKI_CA_KEY,     OSEC_PKI_SERVER_CERT,
    OSEC_PKI_SERVER_KEY,  OSEC_PKI_CLIENT_CERT, OSEC_PKI_CLIENT_KEY,
};

#define OSSL_FAIL(rcvar, code, ...)                                           \
    do {                                                                      \
        (rcvar) = osec_error_ossl((code), __FILE__, __LINE__, __VA_ARGS__);   \
        goto out;                                                             \
    } while (0)

/* ---- files ------------------------------------------------------------ */

static int ensure_dir(const char *dir)
{
    struct stat st;

    if (mkdir(dir, 0700) == 0)
        return 0;
    OSEC_ENSURE(errno == EEXIST, OSEC_EIO, "mkdir %s: %s", dir, strerror(errno));
    OSEC_ENSURE(lstat(dir, &st) == 0, OSEC_EIO, "stat %s: %s", dir, strerror(errno));
    OSEC_ENSURE(S_ISDIR(st.st_mode), OSEC_EPERM, "%s is not a directory", dir);
    /* Anyone else able to write here could swap our files. */
    OSEC_ENSURE((st.st_mode & (S_IWGRP | S_IWOTH)) == 0, OSEC_EPERM,
                "%s is group/world writable", dir);
    return 0;
}

static int count_existing(const char *dir, size_t *n)
{
    char path[PKI_PATH_MAX];
    struct stat st;

    *n = 0;
    for (size_t i = 0; i < sizeof(dev_files) / sizeof(dev_files[0]); i++) {
        OSEC_GUARD(osec_snprintf(path, sizeof(path), "%s/%s", dir, dev_files[i]));
        if (lstat(path, &st) == 0)
            (*n)++;
        else
            OSEC_ENSURE(errno == ENOENT, OSEC_EIO, "stat %s: %s", path, strerror(errno));
    }
    return 0;
}

static void undo(struct created *cr)
{
    /* Best effort: the error being reported is the one that matters. */
    for (size_t i = 0; i < cr->n; i++)
        (void)unlink(cr->paths[i]);
    cr->n = 0;
}

static int write_all(int fd, const char *path, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        OSEC_ENSURE(n > 0, OSEC_EIO, "write %s: %s", path, strerror(errno));
        p += n;
        len -= (size_t)n;
    }
    OSEC_ENSURE(fsync(fd) == 0, OSEC_EIO, "fsync %s: %s", path, strerror(errno));
    return 0;
}

/* Create path exclusively with exactly `mode` (umask does not widen or
 * narrow it) and record it in cr so that a later failure removes it. */
static int write_file(struct created *cr, const char *path, const uint8_t *p, size_t len,
                      mode_t mode)
{
    int fd, rc;

    OSEC_ENSURE(cr->n < sizeof(cr->paths) / sizeof(cr->paths[0]), OSEC_EINTERNAL,
                "too many files");
    OSEC_GUARD(osec_strlcpy(cr->paths[cr->n], path, sizeof(cr->paths[0])));
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0 && errno == EEXIST)
        OSEC_BAIL(OSEC_EEXISTS, "%s already exists", path);
    OSEC_ENSURE(fd >= 0, OSEC_EIO, "create %s: %s", path, strerror(errno));
    cr->n++;
    if (fchmod(fd, mode) != 0)
        rc = osec_error_set(OSEC_EIO, __FILE__, __LINE__, "chmod %s: %s", path, strerror(errno));
    else
        rc = write_all(fd, path, p, len);
    if (close(fd) != 0 && rc == 0)
        rc = osec_error_set(OSEC_EIO, __FILE__, __LINE__, "close %s: %s", path, strerror(errno));
    return rc;
}

static int write_bio(struct created *cr, const char *path, BIO *bio, mode_t mode)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);

    OSEC_ENSURE(n > 0 && data != NULL, OSEC_EINTERNAL, "empty PEM output");
    return write_file(cr, path, (const uint8_t *)data, (size_t)n, mode);
}

static int write_pair(struct created *cr, const char *crt_path, const char *key_path,
                      X509 *cert, EVP_PKEY *key)
{
    /* secmem: the PEM text of the key is cleansed when the BIO is freed */
    BIO *kb = BIO_new(BIO_s_secmem());
    BIO *cb = BIO_new(BIO_s_mem());
    int rc = 0;

    if (kb == NULL || cb == NULL)
        OSSL_FAIL(rc, OSEC_ENOMEM, "BIO_new");
    if (PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) != 1 ||
        PEM_write_bio_X509(cb, cert) != 1)
        OSSL_FAIL(rc, OSEC_ECRYPTO, "PEM encoding failed");
    OSEC_CHECK(rc, write_bio(cr, key_path, kb, 0600));
    OSEC_CHECK(rc, write_bio(cr, crt_path, cb, 0644));
out:
    BIO_free(kb);
    BIO_free(cb);
    return rc;
}

static int read_secret_fd(int fd, const char *path, struct osec_buf *out)
{
    uint8_t tmp[4096];
    int rc = 0;

    for (;;) {
        ssize_t n = read(fd, tmp, sizeof(tmp));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            OSEC_FAIL(rc, OSEC_EIO, "read %s: %s", path, strerror(errno));
        if (n == 0)
            break;
        OSEC_CHECK(rc, osec_buf_append(out, tmp, (size_t)n));
    }
out:
    osec_wipe(tmp, sizeof(tmp));
    return rc;
}

/* Read a secret file: no symlinks, regular file, no group/other access. */
static int read_secret_file(const char *path, struct osec_buf *out)
{
    struct stat st;
    int fd, rc = 0;

    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 && errno == ENOENT)
        OSEC_BAIL(OSEC_ENOTFOUND, "key file %s does not exist", path);
    if (fd < 0 && errno == ELOOP)
        OSEC_BAIL(OSEC_EPERM, "key file %s is a symlink", path);
    OSEC_ENSURE(fd >= 0, OSEC_EIO, "open %s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0)
        OSEC_FAIL(rc, OSEC_EIO, "stat %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        OSEC_FAIL(rc, OSEC_EPERM, "key file %s is not a regular file", path);
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
        OSEC_FAIL(rc, OSEC_EPERM, "key file %s has group/other permissions (mode %03o)",
                  path, (unsigned)(st.st_mode & 0777));
    rc = read_secret_fd(fd, path, out);
out:
    (void)close(fd); /* read-only descriptor: nothing to lose */
    return rc;
}

/* Encrypted keys are not supported: refuse instead of prompting on a tty. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

int osec_pki_load_key(const char *path, EVP_PKEY **out)
{
    struct osec_buf pem;
    BIO *bio = NULL;
    int rc = 0;

    OSEC_ENSURE(path != NULL && out != NULL, OSEC_EINVAL, "null argument");
    *out = NULL;
    osec_buf_init_secret(&pem, KEY_FILE_MAX);
    OSEC_CHECK(rc, read_secret_file(path, &pem));
    bio = BIO_new_mem_buf(pem.data, (int)pem.len); /* len <= KEY_FILE_MAX */
    if (bio == NULL)
        OSSL_FAIL(rc, OSEC_ENOMEM, "BIO_new_mem_buf");
    *out = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    if (*out == NULL)
        OSSL_FAIL(rc, OSEC_EPARSE, "no usable private key in %s", path);
out:
    BIO_free(bio);
    osec_buf_free(&pem);
    return rc;
}

/* ---- certificates ----------------------------------------------------- */

/* 128 random bits; RFC 5280 allows up to 20 octets and needs > 0. */
static int set_serial(X509 *x)
{
    uint8_t raw[16];
    BIGNUM *bn = NULL;
    int rc = 0;

    OSEC_GUARD(osec_rand_bytes(raw, sizeof(raw)));
    bn = BN_bin2bn(raw, (int)sizeof(raw), NULL);
    if (bn == NULL)
        OSSL_FAIL(rc, OSEC_ENOMEM, "BN_bin2bn");
    if (BN_is_zero(bn))
        OSEC_FAIL(rc, OSEC_ECRYPTO, "random serial is zero");
    if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
        OSSL_FAIL(rc, OSEC_ECRYPTO, "cannot set serial");
out:
    BN_free(bn);
    return rc;
}

static int set_name(X509_NAME *name, const char *cn)
{
    if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)PKI_ORG,
                                   -1, -1, 0) != 1 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn,
                                   -1, -1, 0) != 1)
        return osec_error_ossl(OSEC_ECRYPTO, __FILE__, __LINE__, "cannot build subject name");
    return 0;
}

/* The parts every certificate shares; extensions are added by the caller. */
static int new_cert(X509 **out, EVP_PKEY *key, const char *cn, X509 *issuer, long days)
{
    X509 *x = X509_new();
    X509_NAME *name;

    *out = x;
    if (x == NULL)
        return osec_error_ossl(OSEC_ENOMEM, __FILE__, __LINE__, "X509_new");
    OSEC_GUARD(set_serial(x));
    name = X509_get_subject_name(x);
    OSEC_GUARD(set_name(name, cn));
    if (X509_set_version(x, X509_VERSION_3) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(x), BACKDATE_SECS) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) == NULL ||
        X509_set_pubkey(x, key) != 1 ||
        X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) != 1)
        return osec_error_ossl(OSEC_ECRYPTO, __FILE__, __LINE__, "cannot fill certificate");
    return 0;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (ext == NULL)
        return osec_error_ossl(OSEC_ECRYPTO, __FILE__, __LINE__, "extension %s=%s",
                               OBJ_nid2sn(nid), value);
    ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    if (ok != 1)
        return osec_error_ossl(OSEC_ECRYPTO, __FILE__, __LINE__, "X509_add_ext");
    return 0;
}

static int sign(X509 *x, EVP_PKEY *key)
{
    if (X509_sign(x, key, EVP_sha256()) <= 0)
        return osec_error_ossl(OSEC_ECRYPTO, __FILE__, __LINE__, "X509_sign");
    return 0;
}

static int gen_key(EVP_PKEY **key)
{
    *key = EVP_EC_gen("P-256");
    if (*key == NULL)
        return osec_error_ossl(OSEC_ECRYPTO, __FILE__, __LINE__, "EC key generation");
    return 0;
}

/* Caller frees *key and *cert whatever the result. */
static int make_ca(EVP_PKEY **key, X509 **cert)
{
    OSEC_GUARD(gen_key(key));
    OSEC_GUARD(new_cert(cert, *key, CA_CN, NULL, OSEC_PKI_CA_DAYS));
    OSEC_GUARD(add_ext(*cert, *cert, NID_basic_constraints, "critical,CA:TRUE"));
    OSEC_GUARD(add_ext(*cert, *cert, NID_key_usage, "critical,keyCertSign,cRLSign"));
    OSEC_GUARD(add_ext(*cert, *cert, NID_subject_key_identifier, "hash"));
    return sign(*cert, *key);
}

/* ---- subjectAltName ---------------------------------------------------- */

static bool is_ip_literal(const char *s)
{
    uint8_t tmp[16];

    return inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1;
}

static int push_name(GENERAL_NAMES *gens, int type, const char *val)
{
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_STRING *v = NULL;

    if (g == NULL)
        return osec_error_ossl(OSEC_ENOMEM, __FILE__, __LINE__, "GENERAL_NAME_new");
    if (type == GEN_IPADD) {
        v = a2i_IPADDRESS(val);
    } else if ((v = ASN1_IA5STRING_new()) != NULL && ASN1_STRING_set(v, val, -1) != 1) {
        ASN1_STRING_free(v);
        v = NULL;
    }
    if (v == NULL) {
        GENERAL_NAME_free(g);
        OSEC_BAIL(OSEC_EINVAL, "bad subjectAltName value '%s'", val);
    }
    GENERAL_NAME_set0_value(g, type, v);
    if (sk_GENERAL_NAME_push(gens, g) <= 0) {
        GENERAL_NAME_free(g);
        return osec_error_ossl(OSEC_ENOMEM, __FILE__, __LINE__, "sk_GENERAL_NAME_push");
    }
    return 0;
}

static int san_item(GENERAL_NAMES *gens, struct osec_slice item)
{
    static const struct { const char *prefix; int type; } kinds[] = {
        { "DNS:", GEN_DNS }, { "IP:", GEN_IPADD }, { "URI:", GEN_URI }, { "email:", GEN_EMAIL },
    };
    char val[SAN_ITEM_MAX + 1];
    int type = -1;

    item = osec_slice_trim(item);
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]) && type < 0; i++) {
        if (osec_slice_starts_ci(item, kinds[i].prefix)) {
            type = kinds[i].type;
            item = osec_slice_sub(item, strlen(kinds[i].prefix), item.len);
        }
    }
    OSEC_ENSURE(item.len > 0, OSEC_EINVAL, "empty subjectAltName");
    OSEC_GUARD(osec_slice_to_cstr(item, val, sizeof(val)));
    /* IA5String, and nothing that could confuse a log line or a matcher */
    for (size_t i = 0; i < item.len; i++)
        OSEC_ENSURE(item.ptr[i] > 0x20 && item.ptr[i] < 0x7f, OSEC_EINVAL,
                    "subjectAltName holds a space, control or non-ASCII byte");
    if (type < 0)
        type = is_ip_literal(val) ? GEN_IPADD : GEN_DNS;
    return push_name(gens, type, val);
}

static int add_san(X509 *x, const char *san)
{
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    struct osec_slice rest = osec_slice_cstr(san);
    int rc = 0;
    long comma;

    if (gens == NULL)
        OSSL_FAIL(rc, OSEC_ENOMEM, "sk_GENERAL_NAME_new_null");
    do {
        comma = osec_slice_find(rest, ',');
        OSEC_CHECK(rc, san_item(gens, comma < 0 ? rest : osec_slice_sub(rest, 0, (size_t)comma)));
        if (sk_GENERAL_NAME_num(gens) > SAN_ITEMS_MAX)
            OSEC_FAIL(rc, OSEC_EINVAL, "more than %d subjectAltNames", SAN_ITEMS_MAX);
        rest = osec_slice_sub(rest, comma < 0 ? rest.len : (size_t)comma + 1, rest.len);
    } while (comma >= 0);
    if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_APPEND) != 1)
        OSSL_FAIL(rc, OSEC_ECRYPTO, "cannot add subjectAltName");
out:
    sk_GENERAL_NAME_pop_free(gens, GENERAL_NAME_free);
    return rc;
}

/* Caller frees *key and *cert whatever the result. */
static int make_leaf(const struct leaf_spec *s, X509 *ca, EVP_PKEY *ca_key, EVP_PKEY **key,
                     X509 **cert)
{
    OSEC_GUARD(gen_key(key));
    OSEC_GUARD(new_cert(cert, *key, s->cn, ca, OSEC_PKI_LEAF_DAYS));
    OSEC_GUARD(add_ext(*cert, ca, NID_basic_constraints, "critical,CA:FALSE"));
    OSEC_GUARD(add_ext(*cert, ca, NID_key_usage, "critical,digitalSignature"));
    OSEC_GUARD(add_ext(*cert, ca, NID_ext_key_usage, s->eku));
    OSEC_GUARD(add_ext(*cert, ca, NID_subject_key_identifier, "hash"));
    OSEC_GUARD(add_ext(*cert, ca, NID_authority_key_identifier, "keyid:always"));
    if (s->san != NULL)
        OSEC_GUARD(add_san(*cert, s->san));
    return sign(*cert, ca_key);
}

/* Build a leaf in memory, then write <prefix>.crt / <prefix>.key. */
static int issue_to(struct created *cr, const char *prefix, const struct leaf_spec *s,
                    X509 *ca, EVP_PKEY *ca_key)
{
    char crt[PKI_PATH_MAX], key_path[PKI_PATH_MAX];
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    int rc;

    OSEC_CHECK(rc, osec_snprintf(crt, sizeof(crt), "%s.crt", prefix));
    OSEC_CHECK(rc, osec_snprintf(key_path, sizeof(key_path), "%s.key", prefix));
    OSEC_CHECK(rc, make_leaf(s, ca, ca_key, &key, &cert));
    rc = write_pair(cr, crt, key_path, cert, key);
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

/* ---- public ----------------------------------------------------------- */

static int create_all(struct created *cr, const char *dir)
{
    static const struct leaf_spec server = { "localhost", "DNS:localhost,IP:127.0.0.1,IP:::1",
                                             "serverAuth" };
    static const struct leaf_spec client = { OSEC_PKI_CLIENT_CN, NULL, "clientAuth" };
    char a[PKI_PATH_MAX], b[PKI_PATH_MAX];
    EVP_PKEY *ca_key = NULL;
    X509 *ca = NULL;
    int rc;

    OSEC_CHECK(rc, make_ca(&ca_key, &ca));
    OSEC_CHECK(rc, osec_snprintf(a, sizeof(a), "%s/%s", dir, OSEC_PKI_CA_CERT));
    OSEC_CHECK(rc, osec_snprintf(b, sizeof(b), "%s/%s", dir, OSEC_PKI_CA_KEY));
    OSEC_CHECK(rc, write_pair(cr, a, b, ca, ca_key));
    OSEC_CHECK(rc, osec_snprintf(a, sizeof(a), "%s/server", dir));
    OSEC_CHECK(rc, issue_to(cr, a, &server, ca, ca_key));
    OSEC_CHECK(rc, osec_snprintf(a, sizeof(a), "%s/client", dir));
    OSEC_CHECK(rc, issue_to(cr, a, &client, ca, ca_key));
out:
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    return rc;
}

int osec_pki_create_dev(const char *dir)
{
    struct created cr;
    size_t existing;
    int rc;

    OSEC_ENSURE(dir != NULL && dir[0] != '\0', OSEC_EINVAL, "no PKI directory");
    cr.n = 0;
    OSEC_GUARD(ensure_dir(dir));
    OSEC_GUARD(count_existing(dir, &existing));
    if (existing == sizeof(dev_files) / sizeof(dev_files[0]))
        return 0;
    OSEC_ENSURE(existing == 0, OSEC_EEXISTS,
                "%s holds a partial PKI (%zu of 6 files): remove it or complete it", dir,
                existing);
    rc = create_all(&cr, dir);
    if (rc < 0)
        undo(&cr);
    return rc;
}

static int load_ca(const char *dir, X509 **ca, EVP_PKEY **ca_key)
{
    char path[PKI_PATH_MAX];
    BIO *bio;

    OSEC_GUARD(osec_snprintf(path, sizeof(path), "%s/%s", dir, OSEC_PKI_CA_CERT));
    bio = BIO_new_file(path, "r");
    if (bio == NULL)
        return osec_error_ossl(OSEC_ENOTFOUND, __FILE__, __LINE__, "cannot open %s", path);
    *ca = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (*ca == NULL)
        return osec_error_ossl(OSEC_EPARSE, __FILE__, __LINE__, "no certificate in %s", path);
    OSEC_GUARD(osec_snprintf(path, sizeof(path), "%s/%s", dir, OSEC_PKI_CA_KEY));
    OSEC_GUARD(osec_pki_load_key(path, ca_key));
    if (X509_check_private_key(*ca, *ca_key) != 1)
        return osec_error_ossl(OSEC_ECONFIG, __FILE__, __LINE__,
                               "CA key does not match CA certificate in %s", dir);
    return 0;
}

static int check_cn(const char *cn)
{
    size_t n;

    OSEC_ENSURE(cn != NULL, OSEC_EINVAL, "no CN");
    n = strlen(cn);
    OSEC_ENSURE(n > 0 && n <= CN_MAX, OSEC_EINVAL, "CN must be 1..%d bytes", CN_MAX);
    for (size_t i = 0; i < n; i++)
        OSEC_ENSURE((unsigned char)cn[i] >= 0x20 && cn[i] != 0x7f, OSEC_EINVAL,
                    "CN holds a control character");
    return 0;
}

int osec_pki_issue(const char *dir, const char *cn, const char *san, bool client,
                   const char *out_prefix)
{
    struct leaf_spec spec = { cn, san, client ? "clientAuth" : "serverAuth,clientAuth" };
    char prefix[PKI_PATH_MAX];
    struct created cr;
    EVP_PKEY *ca_key = NULL;
    X509 *ca = NULL;
    int rc;

    OSEC_ENSURE(dir != NULL && out_prefix != NULL && out_prefix[0] != '\0', OSEC_EINVAL,
                "null argument");
    OSEC_GUARD(check_cn(cn));
    cr.n = 0;
    if (strchr(out_prefix, '/') != NULL)
        OSEC_CHECK(rc, osec_strlcpy(prefix, out_prefix, sizeof(prefix)));
    else
        OSEC_CHECK(rc, osec_snprintf(prefix, sizeof(prefix), "%s/%s", dir, out_prefix));
    OSEC_CHECK(rc, load_ca(dir, &ca, &ca_key));
    rc = issue_to(&cr, prefix, &spec, ca, ca_key);
    if (rc < 0)
        undo(&cr);
out:
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    return rc;
}
