/* S/MIME message protection before transport (seed 001, last paragraph):
 * the stored message, signed by the store (CMS SignedData) and encrypted
 * with integrity for the principal's certificate (CMS AuthEnvelopedData,
 * AES-256-GCM), as an RFC 8551 message.  OpenSSL CMS API. */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "omasec/error.h"
#include "omasec/mail.h"

/* Header fields the protected object keeps in the clear: what the CPM
 * layout and a client's message list need, never the Subject or body. */
static const char *const clear_fields[] = {
    "Date", "From", "To", "Message-ID", "Conversation-ID", "Contribution-ID",
    "IMDN-Message-ID", NULL,
};

static int copy_fields(struct osec_slice msg, struct osec_buf *out)
{
    struct osec_slice hdr, body, n, v, f;
    size_t pos = 0;

    osec_mail_split(msg, &hdr, &body);
    while (osec_mail_field_next(hdr, &pos, &n, &v, &f) == 1) {
        for (const char *const *k = clear_fields; *k; k++) {
            if (!osec_slice_eq_ci(n, *k))
                continue;
            OSEC_GUARD(osec_buf_append_slice(out, osec_slice_trim(n)));
            OSEC_GUARD(osec_buf_putc(out, ':'));
            OSEC_GUARD(osec_buf_append_slice(out, v));
            if (f.len == 0 || f.ptr[f.len - 1] != '\n')
                OSEC_GUARD(osec_buf_append_str(out, "\r\n"));
            break;
        }
    }
    return 0;
}

/* OpenSSL's base64 lines end in LF alone; RFC 5322 wants CRLF. */
static int append_crlf(struct osec_buf *out, const uint8_t *p, size_t n)
{
    OSEC_GUARD(osec_buf_reserve(out, n + n / 32 + 2));
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
            OSEC_GUARD(osec_buf_putc(out, '\r'));
        OSEC_GUARD(osec_buf_putc(out, (char)p[i]));
    }
    return 0;
}

/* in -> SMIME MIME entity of a SignedData (content included). */
static BIO *sign_entity(BIO *in, X509 *cert, EVP_PKEY *key)
{
    CMS_ContentInfo *cms = CMS_sign(cert, key, NULL, in, CMS_BINARY);
    BIO *out = NULL;

    if (!cms)
        return NULL;
    out = BIO_new(BIO_s_mem());
    if (out && SMIME_write_CMS(out, cms, NULL, CMS_BINARY | SMIME_CRLFEOL) != 1) {
        BIO_free(out);
        out = NULL;
    }
    CMS_ContentInfo_free(cms);
    return out;
}

static int encrypt_to(BIO *in, X509 *recipient, BIO *out)
{
    STACK_OF(X509) *rcpts = sk_X509_new_null();
    CMS_ContentInfo *cms = NULL;
    int rc = OSEC_ECRYPTO;

    if (rcpts && sk_X509_push(rcpts, recipient) > 0) {
        /* an AEAD cipher makes OpenSSL build AuthEnvelopedData (RFC 5083) */
        cms = CMS_encrypt(rcpts, in, EVP_aes_256_gcm(), CMS_BINARY);
        if (cms && SMIME_write_CMS(out, cms, NULL, CMS_BINARY | SMIME_CRLFEOL) == 1)
            rc = 0;
    }
    CMS_ContentInfo_free(cms);
    sk_X509_free(rcpts);
    if (rc < 0)
        return osec_error_ossl(rc, __FILE__, __LINE__, "smime: encryption failed");
    return 0;
}

int osec_mail_smime_protect(struct osec_slice msg, X509 *recipient, X509 *signer_cert,
                            EVP_PKEY *signer_key, bool copy_header, struct osec_buf *out)
{
    BIO *in = NULL, *signed_bio = NULL, *enc = NULL;
    size_t start = out->len;
    char *p = NULL;
    long n;
    int rc = 0;

    OSEC_ENSURE(msg.len <= INT32_MAX && recipient && signer_cert && signer_key, OSEC_EINVAL,
                "smime: bad arguments");
    in = BIO_new_mem_buf(msg.ptr, (int)msg.len);
    enc = BIO_new(BIO_s_mem());
    if (!in || !enc)
        OSEC_FAIL(rc, OSEC_ENOMEM, "smime: out of memory");
    signed_bio = sign_entity(in, signer_cert, signer_key);
    if (!signed_bio) {
        rc = osec_error_ossl(OSEC_ECRYPTO, __FILE__, __LINE__, "smime: signing failed");
        goto out;
    }
    OSEC_CHECK(rc, encrypt_to(signed_bio, recipient, enc));
    if (copy_header)
        OSEC_CHECK(rc, copy_fields(msg, out));
    n = BIO_get_mem_data(enc, &p);
    if (n <= 0 || !p)
        OSEC_FAIL(rc, OSEC_ECRYPTO, "smime: no output");
    OSEC_CHECK(rc, append_crlf(out, (const uint8_t *)p, (size_t)n));
out:
    if (rc < 0) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    BIO_free(in);
    BIO_free(signed_bio);
    BIO_free(enc);
    return rc;
}

/* ---- registered certificates ------------------------------------------------------ */

static int principal_of(X509 *cert, char *out, size_t outlen)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    const ASN1_STRING *s = NULL;
    X509_NAME *name = X509_get_subject_name(cert);
    int idx = -1, next, rc;

    for (int i = 0; i < sk_GENERAL_NAME_num(gens) && !s; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

        if (g->type == GEN_URI || g->type == GEN_EMAIL)
            s = g->d.ia5;
    }
    while (!s && (next = X509_NAME_get_index_by_NID(name, NID_commonName, idx)) >= 0)
        idx = next;
    if (!s && idx >= 0)
        s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
    rc = s ? 0 : osec_error_set(OSEC_ENOTFOUND, __FILE__, __LINE__, "smime: no principal");
    for (int i = 0; rc == 0 && i < ASN1_STRING_length(s); i++)
        if (ASN1_STRING_get0_data(s)[i] < 0x20 || ASN1_STRING_get0_data(s)[i] >= 0x7f)
            rc = osec_error_set(OSEC_EPARSE, __FILE__, __LINE__, "smime: bad principal");
    if (rc == 0)
        rc = osec_slice_to_cstr(osec_slice_make(ASN1_STRING_get0_data(s),
                                                (size_t)ASN1_STRING_length(s)), out, outlen);
    GENERAL_NAMES_free(gens);
    return rc;
}

static int verify_chain(X509 *cert, const char *ca_file)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int rc = OSEC_EAUTH;

    if (store && ctx && X509_STORE_load_file(store, ca_file) == 1 &&
        X509_STORE_CTX_init(ctx, store, cert, NULL) == 1) {
        /* the user's certificate authenticates the user: client-auth use */
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
        if (X509_verify_cert(ctx) == 1)
            rc = 0;
    }
    if (rc < 0)
        (void)osec_error_set(rc, __FILE__, __LINE__, "smime: certificate does not verify: %s",
                             ctx ? X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx))
                                 : "out of memory");
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    ERR_clear_error();
    return rc;
}

int osec_mail_smime_cert_load(struct osec_slice pem, const char *ca_file, X509 **out,
                              char *principal_out, size_t principal_len)
{
    BIO *b;
    X509 *cert;
    int rc;

    *out = NULL;
    OSEC_ENSURE(pem.len > 0 && pem.len <= 65536, OSEC_EBOUNDS, "smime: bad certificate size");
    b = BIO_new_mem_buf(pem.ptr, (int)pem.len);
    OSEC_ENSURE(b != NULL, OSEC_ENOMEM, "smime: out of memory");
    cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    if (!cert)
        return osec_error_ossl(OSEC_EPARSE, __FILE__, __LINE__, "smime: not a PEM certificate");
    rc = ca_file ? verify_chain(cert, ca_file) : 0;
    if (rc == 0 && principal_out)
        rc = principal_of(cert, principal_out, principal_len);
    if (rc < 0) {
        X509_free(cert);
        return rc;
    }
    *out = cert;
    return 0;
}
