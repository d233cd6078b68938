/* Unit tests for lib/crypto primitives: RFC/NIST vectors and negative cases. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "omasec/buf.h"
#include "omasec/crypto.h"
#include "omasec/error.h"
#include "omasec/util.h"

/* Decode hex (spaces ignored) into out; returns the byte count. */
static size_t unhex(const char *h, uint8_t *out, size_t max)
{
    char clean[1024];
    size_t n = 0;

    for (; *h; h++)
        if (*h != ' ' && *h != '\n')
            clean[n++] = *h;
    assert_true(n % 2 == 0 && n / 2 <= max);
    assert_int_equal(osec_hex_decode(osec_slice_make(clean, n), out, n / 2), 0);
    return n / 2;
}

static void assert_hex(const uint8_t *got, size_t len, const char *want)
{
    uint8_t w[512];
    size_t n = unhex(want, w, sizeof(w));

    assert_int_equal(len, n);
    assert_memory_equal(got, w, n);
}

static void fill(uint8_t *p, uint8_t from, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(from + i);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* ---- wipe / compare ------------------------------------------------------ */

static void ct_compare(void **state)
{
    uint8_t a[4] = { 1, 2, 3, 4 }, b[4] = { 1, 2, 3, 5 };
    (void)state;

    assert_true(osec_ct_eq(a, a, 4));
    assert_false(osec_ct_eq(a, b, 4));
    assert_true(osec_ct_eq(a, b, 3));
    assert_true(osec_ct_streq("secret", "secret"));
    assert_false(osec_ct_streq("secret", "secreT"));
    assert_false(osec_ct_streq("secret", "secret2"));
    assert_false(osec_ct_streq(NULL, "x"));
    osec_wipe(a, sizeof(a));
    assert_true(all_zero(a, sizeof(a)));
}

/* ---- hashes -------------------------------------------------------------- */

static void hash_one(enum osec_hash_alg alg, const char *msg, const char *want)
{
    uint8_t out[OSEC_HASH_MAX];
    struct osec_slice part = osec_slice_cstr(msg);

    assert_int_equal(osec_hash(alg, &part, 1, out), 0);
    assert_hex(out, osec_hash_len(alg), want);
}

static void hash_vectors(void **state)
{
    struct osec_slice parts[3] = { osec_slice_cstr("a"), osec_slice_cstr(""),
                                   osec_slice_cstr("bc") };
    uint8_t out[OSEC_HASH_MAX];
    (void)state;

    hash_one(OSEC_HASH_MD5, "abc", "900150983cd24fb0d6963f7d28e17f72");
    hash_one(OSEC_HASH_MD5, "", "d41d8cd98f00b204e9800998ecf8427e");
    hash_one(OSEC_HASH_SHA256, "abc",
             "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hash_one(OSEC_HASH_SHA512_256, "abc",
             "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23");
    hash_one(OSEC_HASH_SHA512, "abc",
             "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
             "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
    /* parts are concatenated */
    assert_int_equal(osec_hash(OSEC_HASH_SHA512_256, parts, 3, out), 0);
    assert_hex(out, 32, "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23");
    assert_int_equal(osec_hash_len(OSEC_HASH_MD5), 16);
    assert_int_equal(osec_hash_len(OSEC_HASH_SHA512), 64);
    assert_int_equal(osec_hash_len((enum osec_hash_alg)9), 0);
    assert_int_equal(osec_hash((enum osec_hash_alg)9, parts, 1, out), OSEC_EINVAL);
}

/* ---- HMAC (RFC 4231) ---------------------------------------------------- */

static void hmac_rfc4231(void **state)
{
    uint8_t key[131], out[32];
    const char *d2 = "what do ya want for nothing?";
    const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    (void)state;

    memset(key, 0x0b, 20);
    assert_int_equal(osec_hmac_sha256(key, 20, (const uint8_t *)"Hi There", 8, out), 0);
    assert_hex(out, 32, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    assert_int_equal(osec_hmac_sha256((const uint8_t *)"Jefe", 4, (const uint8_t *)d2,
                                      strlen(d2), out), 0);
    assert_hex(out, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(key, 0xaa, 131); /* test case 6: key longer than the block */
    assert_int_equal(osec_hmac_sha256(key, 131, (const uint8_t *)d6, strlen(d6), out), 0);
    assert_hex(out, 32, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

/* ---- HKDF (RFC 5869 A.1-A.3) -------------------------------------------- */

static void hkdf_rfc5869(void **state)
{
    uint8_t ikm[80], salt[80], info[80], out[82];
    (void)state;

    memset(ikm, 0x0b, 22);
    fill(salt, 0x00, 13);
    fill(info, 0xf0, 10);
    assert_int_equal(osec_hkdf_sha256(salt, 13, ikm, 22, info, 10, out, 42), 0);
    assert_hex(out, 42, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                        "34007208d5b887185865");

    fill(ikm, 0x00, 80);
    fill(salt, 0x60, 80);
    fill(info, 0xb0, 80);
    assert_int_equal(osec_hkdf_sha256(salt, 80, ikm, 80, info, 80, out, 82), 0);
    assert_hex(out, 82, "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
                        "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
                        "cc30c58179ec3e87c14c01d5c1f3434f1d87");

    memset(ikm, 0x0b, 22);
    assert_int_equal(osec_hkdf_sha256(NULL, 0, ikm, 22, NULL, 0, out, 42), 0);
    assert_hex(out, 42, "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
                        "9d201395faa4b61a96c8");

    assert_int_equal(osec_hkdf_sha256(NULL, 0, ikm, 22, NULL, 0, out, 0), OSEC_EINVAL);
    assert_int_equal(osec_hkdf_sha256(NULL, 0, ikm, 22, NULL, 0, out, 255 * 32 + 1),
                     OSEC_EINVAL);
    assert_int_equal(osec_hkdf_sha256(NULL, 0, ikm, 0, NULL, 0, out, 32), OSEC_EINVAL);
}

/* ---- scrypt (RFC 7914 section 12) ---------------------------------------- */

static void scrypt_rfc7914(void **state)
{
    uint8_t out[64];
    (void)state;

    assert_int_equal(osec_scrypt_raw(NULL, 0, NULL, 0, 16, 1, 1, out, 64), 0);
    assert_hex(out, 64, "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
                        "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906");
    assert_int_equal(osec_scrypt_raw((const uint8_t *)"password", 8, (const uint8_t *)"NaCl",
                                     4, 1024, 8, 16, out, 64), 0);
    assert_hex(out, 64, "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
                        "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640");
    assert_int_equal(osec_scrypt_raw((const uint8_t *)"pleaseletmein", 13,
                                     (const uint8_t *)"SodiumChloride", 14, 16384, 8, 1, out,
                                     64), 0);
    assert_hex(out, 64, "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2"
                        "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887");
    /* N not a power of two, and a working set beyond the memory cap */
    assert_int_equal(osec_scrypt_raw(NULL, 0, NULL, 0, 1000, 1, 1, out, 32), OSEC_EPOLICY);
    assert_int_equal(osec_scrypt_raw(NULL, 0, NULL, 0, (uint64_t)1 << 20, 32, 1, out, 32),
                     OSEC_EPOLICY);
}

/* ---- scrypt PHC strings ---------------------------------------------------- */

static const struct osec_scrypt_params fast = { 10, 8, 1 };

static void scrypt_phc_roundtrip(void **state)
{
    char h[OSEC_SCRYPT_HASH_MAX], h2[OSEC_SCRYPT_HASH_MAX];
    (void)state;

    assert_int_equal(osec_scrypt_hash("hunter2", 7, fast, h, sizeof(h)), 0);
    assert_true(strncmp(h, "$scrypt$ln=10,r=8,p=1$", 22) == 0);
    /* 22 chars of salt, '$', 43 chars of hash, no padding */
    assert_int_equal(strlen(h), 22 + 22 + 1 + 43);
    assert_null(strchr(h + 22, '='));
    assert_int_equal(osec_scrypt_verify("hunter2", 7, h), 0);
    assert_int_equal(osec_scrypt_verify("hunter3", 7, h), OSEC_EAUTH);
    assert_int_equal(osec_scrypt_verify("hunter", 6, h), OSEC_EAUTH);
    /* fresh salt every time */
    assert_int_equal(osec_scrypt_hash("hunter2", 7, fast, h2, sizeof(h2)), 0);
    assert_string_not_equal(h, h2);
    assert_int_equal(osec_scrypt_hash("hunter2", 7, fast, h2, 40), OSEC_EBOUNDS);
    assert_int_equal(osec_scrypt_hash("x", 1, (struct osec_scrypt_params){ 9, 8, 1 }, h2,
                                      sizeof(h2)), OSEC_EPOLICY);
}

static void scrypt_phc_default(void **state)
{
    char h[OSEC_SCRYPT_HASH_MAX];
    (void)state;

    assert_int_equal(osec_scrypt_hash("pw", 2, OSEC_SCRYPT_DEFAULT, h, sizeof(h)), 0);
    assert_true(strncmp(h, "$scrypt$ln=15,r=8,p=1$", 22) == 0);
    assert_int_equal(osec_scrypt_verify("pw", 2, h), 0);
}

/* Strings made independently with Python's hashlib.scrypt + base64. */
static void scrypt_phc_known(void **state)
{
    (void)state;
    assert_int_equal(osec_scrypt_verify("correct horse", 13,
                                        "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$"
                                        "nfkj3u1fRTHCea+fVr03sWV770kp5wLOLoEakziKhqE"), 0);
    assert_int_equal(osec_scrypt_verify("correct horse", 13,
                                        "$scrypt$ln=10,r=4,p=2$AAECAwQFBgcICQoLDA0ODw$"
                                        "b5/u/52mphx112Trtp7lNkoBMyHO+Szb4E1MjpWcDxM"), 0);
    assert_int_equal(osec_scrypt_verify("correct horsf", 13,
                                        "$scrypt$ln=10,r=4,p=2$AAECAwQFBgcICQoLDA0ODw$"
                                        "b5/u/52mphx112Trtp7lNkoBMyHO+Szb4E1MjpWcDxM"),
                     OSEC_EAUTH);
}

static void scrypt_phc_rejects(void **state)
{
    static const char *const malformed[] = {
        "",
        "$scrypt$",
        "$argon2id$v=19$m=65536,t=3,p=4$AAECAwQFBgcICQoLDA0ODw$AAAA",
        "$scrypt$ln=10,r=8$AAECAwQFBgcICQoLDA0ODw$nfkj3u1fRTHCea+fVr03sWV770kp5wLOLoEakziKhqE",
        "$scrypt$ln=010,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$nfkj3u1fRTHCea+fVr03sWV770kp5wLOLoEakziKhqE",
        "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODw==$nfkj3u1fRTHCea+fVr03sWV770kp5wLOLoEakziKhqE",
        "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$nfkj3u1fRTHCea+fVr03sWV770kp5wLOLoEakziKhqE=",
        "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$nfkj3u1fRTHCea+fVr03sWV770kp5wLOLoEakziKhq",
        "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$nfkj3u1fRTHCea+fVr03sWV770kp5wLOLoEakziKhqE$",
        "$scrypt$ln=10,r=8,p=1$AAEC$nfkj3u1fRTHCea+fVr03sWV770kp5wLOLoEakziKhqE",
        "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$nfkj",
        "$scrypt$ln=-1,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$nfkj3u1fRTHCea+fVr03sWV770kp5wLOLoEakziKhqE",
        "$scrypt$r=8,ln=10,p=1$AAECAwQFBgcICQoLDA0ODw$nfkj3u1fRTHCea+fVr03sWV770kp5wLOLoEakziKhqE",
    };
    static const char *const policy[] = {
        "$scrypt$ln=30,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$nfkj3u1fRTHCea+fVr03sWV770kp5wLOLoEakziKhqE",
        "$scrypt$ln=9,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$nfkj3u1fRTHCea+fVr03sWV770kp5wLOLoEakziKhqE",
        "$scrypt$ln=10,r=33,p=1$AAECAwQFBgcICQoLDA0ODw$nfkj3u1fRTHCea+fVr03sWV770kp5wLOLoEakziKhqE",
        "$scrypt$ln=10,r=8,p=0$AAECAwQFBgcICQoLDA0ODw$nfkj3u1fRTHCea+fVr03sWV770kp5wLOLoEakziKhqE",
        "$scrypt$ln=10,r=8,p=17$AAECAwQFBgcICQoLDA0ODw$nfkj3u1fRTHCea+fVr03sWV770kp5wLOLoEakziKhqE",
        /* within each range, but ln=20 with r=32 needs 4 GiB */
        "$scrypt$ln=20,r=32,p=1$AAECAwQFBgcICQoLDA0ODw$nfkj3u1fRTHCea+fVr03sWV770kp5wLOLoEakziKhqE",
    };
    (void)state;

    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        int rc = osec_scrypt_verify("correct horse", 13, malformed[i]);

        if (rc != OSEC_EPARSE)
            fail_msg("malformed[%zu] gave %d, want EPARSE", i, rc);
    }
    for (size_t i = 0; i < sizeof(policy) / sizeof(policy[0]); i++) {
        int rc = osec_scrypt_verify("correct horse", 13, policy[i]);

        if (rc != OSEC_EPOLICY)
            fail_msg("policy[%zu] gave %d, want EPOLICY", i, rc);
    }
}

/* ---- AEAD ---------------------------------------------------------------- */

struct aead_vec {
    enum osec_aead_alg alg;
    uint8_t key[32], nonce[12], aad[64], pt[128], ct[160];
    size_t aad_len, pt_len;
};

/* Seal must give the vector; open must give pt back; flipping any bit of
 * ct, tag or aad must give EINTEGRITY with the output wiped. */
static void aead_check(struct aead_vec *v)
{
    uint8_t out[160], back[128];
    size_t ct_len = v->pt_len + OSEC_AEAD_TAG_LEN;

    assert_int_equal(osec_aead_seal(v->alg, v->key, v->nonce, v->aad, v->aad_len, v->pt,
                                    v->pt_len, out), 0);
    assert_memory_equal(out, v->ct, ct_len);
    assert_int_equal(osec_aead_open(v->alg, v->key, v->nonce, v->aad, v->aad_len, v->ct,
                                    ct_len, back), 0);
    assert_memory_equal(back, v->pt, v->pt_len);
    for (size_t i = 0; i < ct_len; i += 7) {
        v->ct[i] ^= 0x01;
        memset(back, 0xee, sizeof(back));
        assert_int_equal(osec_aead_open(v->alg, v->key, v->nonce, v->aad, v->aad_len, v->ct,
                                        ct_len, back), OSEC_EINTEGRITY);
        assert_true(all_zero(back, v->pt_len));
        v->ct[i] ^= 0x01;
    }
    v->ct[ct_len - 1] ^= 0x80; /* last tag byte */
    assert_int_equal(osec_aead_open(v->alg, v->key, v->nonce, v->aad, v->aad_len, v->ct,
                                    ct_len, back), OSEC_EINTEGRITY);
    v->ct[ct_len - 1] ^= 0x80;
    for (size_t i = 0; i < v->aad_len; i++) {
        v->aad[i] ^= 0x40;
        assert_int_equal(osec_aead_open(v->alg, v->key, v->nonce, v->aad, v->aad_len, v->ct,
                                        ct_len, back), OSEC_EINTEGRITY);
        v->aad[i] ^= 0x40;
    }
    v->nonce[0] ^= 1;
    assert_int_equal(osec_aead_open(v->alg, v->key, v->nonce, v->aad, v->aad_len, v->ct,
                                    ct_len, back), OSEC_EINTEGRITY);
    v->nonce[0] ^= 1;
    /* in place */
    memcpy(out, v->ct, ct_len);
    assert_int_equal(osec_aead_open(v->alg, v->key, v->nonce, v->aad, v->aad_len, out,
                                    ct_len, out), 0);
    assert_memory_equal(out, v->pt, v->pt_len);
}

/* McGrew & Viega, "The Galois/Counter Mode of Operation", test case 16. */
static void aead_aes256gcm_vector(void **state)
{
    static struct aead_vec v = { .alg = OSEC_AEAD_AES256GCM };
    (void)state;

    unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", v.key, 32);
    unhex("cafebabefacedbaddecaf888", v.nonce, 12);
    v.aad_len = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2", v.aad, sizeof(v.aad));
    v.pt_len = unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
                     v.pt, sizeof(v.pt));
    unhex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
          "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
          "76fc6ece0f4e1768cddf8853bb2d551b", v.ct, sizeof(v.ct));
    aead_check(&v);
}

/* RFC 8439 section 2.8.2. */
static void aead_chacha20poly1305_vector(void **state)
{
    static struct aead_vec v = { .alg = OSEC_AEAD_CHACHA20POLY1305 };
    const char *pt = "Ladies and Gentlemen of the class of '99: If I could offer you only "
                     "one tip for the future, sunscreen would be it.";
    (void)state;

    fill(v.key, 0x80, 32);
    unhex("070000004041424344454647", v.nonce, 12);
    v.aad_len = unhex("50515253c0c1c2c3c4c5c6c7", v.aad, sizeof(v.aad));
    v.pt_len = strlen(pt);
    memcpy(v.pt, pt, v.pt_len);
    unhex("d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
          "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
          "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
          "3ff4def08e4b7a9de576d26586cec64b6116"
          "1ae10b594f09e26a7e902ecbd0600691", v.ct, sizeof(v.ct));
    aead_check(&v);
}

static void aead_edge_cases(void **state)
{
    uint8_t key[32] = { 1 }, nonce[12] = { 2 }, ct[OSEC_AEAD_TAG_LEN], out[8];
    (void)state;

    /* empty plaintext and no aad still authenticates */
    for (int alg = 1; alg <= 2; alg++) {
        assert_int_equal(osec_aead_seal(alg, key, nonce, NULL, 0, NULL, 0, ct), 0);
        assert_int_equal(osec_aead_open(alg, key, nonce, NULL, 0, ct, sizeof(ct), out), 0);
        ct[3] ^= 4;
        assert_int_equal(osec_aead_open(alg, key, nonce, NULL, 0, ct, sizeof(ct), out),
                         OSEC_EINTEGRITY);
    }
    assert_int_equal(osec_aead_open(OSEC_AEAD_AES256GCM, key, nonce, NULL, 0, ct, 15, out),
                     OSEC_EINTEGRITY);
    assert_int_equal(osec_aead_seal((enum osec_aead_alg)7, key, nonce, NULL, 0, NULL, 0, ct),
                     OSEC_EINVAL);
}

/* ---- base64 (RFC 4648 section 10) ------------------------------------------ */

static void b64_rfc4648(void **state)
{
    static const char *const enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                       "Zm9vYmFy" };
    static const char *const url[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE",
                                       "Zm9vYmFy" };
    const char *raw = "foobar";
    (void)state;

    for (size_t n = 0; n <= 6; n++) {
        struct osec_buf b = OSEC_BUF_INIT(64);
        size_t ulen = strlen(url[n]);

        assert_int_equal(osec_b64_encode((const uint8_t *)raw, n, &b), 0);
        assert_string_equal(osec_buf_cstr(&b), enc[n]);
        osec_buf_reset(&b);
        assert_int_equal(osec_b64url_encode((const uint8_t *)raw, n, &b), 0);
        assert_string_equal(osec_buf_cstr(&b), url[n]);
        osec_buf_reset(&b);
        assert_int_equal(osec_b64_decode(osec_slice_cstr(enc[n]), &b), 0);
        assert_int_equal(b.len, n);
        assert_memory_equal(b.data, raw, n);
        osec_buf_reset(&b);
        /* padding is optional for the standard alphabet */
        assert_int_equal(osec_b64_decode(osec_slice_make(url[n], ulen), &b), 0);
        assert_int_equal(b.len, n);
        osec_buf_reset(&b);
        assert_int_equal(osec_b64url_decode(osec_slice_make(url[n], ulen), &b), 0);
        assert_int_equal(b.len, n);
        assert_memory_equal(b.data, raw, n);
        osec_buf_free(&b);
    }
}

static void b64_alphabets(void **state)
{
    static const uint8_t hi[] = { 0xfb, 0xff, 0xbf };
    struct osec_buf b = OSEC_BUF_INIT(64);
    (void)state;

    assert_int_equal(osec_b64_encode(hi, 3, &b), 0);
    assert_string_equal(osec_buf_cstr(&b), "+/+/");
    osec_buf_reset(&b);
    assert_int_equal(osec_b64url_encode(hi, 3, &b), 0);
    assert_string_equal(osec_buf_cstr(&b), "-_-_");
    osec_buf_reset(&b);
    assert_int_equal(osec_b64url_decode(osec_slice_cstr("-_-_"), &b), 0);
    assert_memory_equal(b.data, hi, 3);
    osec_buf_reset(&b);
    assert_int_equal(osec_b64_decode(osec_slice_cstr("-_-_"), &b), OSEC_EPARSE);
    assert_int_equal(osec_b64url_decode(osec_slice_cstr("+/+/"), &b), OSEC_EPARSE);
    /* decode appends */
    assert_int_equal(osec_buf_append_str(&b, "x"), 0);
    assert_int_equal(osec_b64_decode(osec_slice_cstr("Zm8="), &b), 0);
    assert_string_equal(osec_buf_cstr(&b), "xfo");
    osec_buf_free(&b);
}

static void b64_rejects(void **state)
{
    static const char *const bad_std[] = {
        "Z", "Zm9vY", "Zg=", "Zg===", "Zm8==", "=", "==", "Zg==Zg==", "Zm=v", "Zm 9v",
        "Zm9v\n", "Zh==", "Zh", "Zm9=", "Zm9", "Zm9v*A==", "Zm\xc3\xa9", "A===",
    };
    static const char *const bad_url[] = { "Zg==", "Zm8=", "Zh", "Zm9", "Z", "Zm/v", "Zm+v" };
    struct osec_buf b = OSEC_BUF_INIT(64);
    (void)state;

    assert_int_equal(osec_buf_append_str(&b, "keep"), 0);
    for (size_t i = 0; i < sizeof(bad_std) / sizeof(bad_std[0]); i++) {
        int rc = osec_b64_decode(osec_slice_cstr(bad_std[i]), &b);

        if (rc != OSEC_EPARSE)
            fail_msg("b64 accepted '%s' (rc %d)", bad_std[i], rc);
        assert_string_equal(osec_buf_cstr(&b), "keep"); /* untouched on error */
    }
    for (size_t i = 0; i < sizeof(bad_url) / sizeof(bad_url[0]); i++) {
        int rc = osec_b64url_decode(osec_slice_cstr(bad_url[i]), &b);

        if (rc != OSEC_EPARSE)
            fail_msg("b64url accepted '%s' (rc %d)", bad_url[i], rc);
    }
    /* NUL inside the input */
    assert_int_equal(osec_b64_decode(osec_slice_make("Zm\0v", 4), &b), OSEC_EPARSE);
    osec_buf_free(&b);
    /* the output limit is honoured */
    osec_buf_init(&b, 2);
    assert_int_equal(osec_b64_decode(osec_slice_cstr("Zm9v"), &b), OSEC_EBOUNDS);
    assert_int_equal(osec_b64_encode((const uint8_t *)"ab", 2, &b), OSEC_EBOUNDS);
    osec_buf_free(&b);
}

static void b64_roundtrip_random(void **state)
{
    uint8_t in[100];
    (void)state;

    for (size_t n = 0; n <= sizeof(in); n++) {
        struct osec_buf e = OSEC_BUF_INIT(256), d = OSEC_BUF_INIT(128);

        assert_int_equal(osec_rand_bytes(in, n), 0);
        assert_int_equal(osec_b64_encode(in, n, &e), 0);
        assert_int_equal(e.len % 4, 0);
        assert_int_equal(osec_b64_decode(osec_buf_slice(&e), &d), 0);
        assert_int_equal(d.len, n);
        assert_memory_equal(d.data, in, n);
        osec_buf_reset(&e);
        osec_buf_reset(&d);
        assert_int_equal(osec_b64url_encode(in, n, &e), 0);
        assert_int_equal(osec_b64url_decode(osec_buf_slice(&e), &d), 0);
        assert_int_equal(d.len, n);
        assert_memory_equal(d.data, in, n);
        osec_buf_free(&e);
        osec_buf_free(&d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ct_compare),
        cmocka_unit_test(hash_vectors),
        cmocka_unit_test(hmac_rfc4231),
        cmocka_unit_test(hkdf_rfc5869),
        cmocka_unit_test(scrypt_rfc7914),
        cmocka_unit_test(scrypt_phc_roundtrip),
        cmocka_unit_test(scrypt_phc_default),
        cmocka_unit_test(scrypt_phc_known),
        cmocka_unit_test(scrypt_phc_rejects),
        cmocka_unit_test(aead_aes256gcm_vector),
        cmocka_unit_test(aead_chacha20poly1305_vector),
        cmocka_unit_test(aead_edge_cases),
        cmocka_unit_test(b64_rfc4648),
        cmocka_unit_test(b64_alphabets),
        cmocka_unit_test(b64_rejects),
        cmocka_unit_test(b64_roundtrip_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
