/* libFuzzer harness: Digest header parsers (credentials, challenges,
 * Authentication-Info), server verification of whatever parses, and the
 * client's challenge handling.
 *
 * "@N@" in the input is replaced by a nonce this server really issued, so
 * that inputs get past the nonce MAC into the response, freshness and
 * replay checks. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "omasec/buf.h"
#include "omasec/digest.h"
#include "omasec/error.h"

static struct osec_digest_server *srv;
static struct osec_buf nonce = OSEC_BUF_INIT(128);

static int64_t fixed_now(void *arg)
{
    (void)arg;
    return 1700000000;
}

static int lookup(void *arg, const struct osec_digest_lookup *who, struct osec_digest_secret *out)
{
    (void)arg;
    if (!who->userhash && !osec_slice_eq_cstr(who->username, "fuzz"))
        return OSEC_ENOTFOUND;
    out->kind = OSEC_DIGEST_SECRET_PASSWORD;
    memcpy(out->password, "secret", 6);
    out->password_len = 6;
    return osec_strlcpy(out->username, "fuzz", sizeof(out->username));
}

static void init(void)
{
    struct osec_digest_server_config cfg = {
        .realm = "fuzz",
        .algs = { OSEC_DIGEST_SHA256, OSEC_DIGEST_SHA256_SESS, OSEC_DIGEST_SHA512_256,
                  OSEC_DIGEST_SHA512_256_SESS, OSEC_DIGEST_MD5, OSEC_DIGEST_MD5_SESS },
        .allow_md5 = true,
        .qop = OSEC_DIGEST_QOP_AUTH | OSEC_DIGEST_QOP_AUTH_INT,
        .allow_no_qop = true,
        .userhash = true,
        .now = fixed_now,
        .replay_capacity = 1024,
    };

    memset(cfg.secret, 0x5a, sizeof(cfg.secret));
    if (osec_digest_server_new(&cfg, &srv) != 0 ||
        osec_digest_server_nonce(srv, osec_slice_make(NULL, 0), &nonce) != 0)
        __builtin_trap();
}

/* Copy in to out with every "@N@" replaced by the nonce; 0 if it does not fit. */
static size_t substitute(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (i + 3 <= n && memcmp(in + i, "@N@", 3) == 0) {
            if (cap - o < nonce.len)
                return 0;
            memcpy(out + o, nonce.data, nonce.len);
            o += nonce.len;
            i += 2;
            continue;
        }
        if (o == cap)
            return 0;
        out[o++] = in[i];
    }
    return o;
}

static void server_side(struct osec_slice value)
{
    static uint8_t scratch[OSEC_DIGEST_HEADER_MAX + 1];
    struct osec_buf info = OSEC_BUF_INIT(4096);
    struct osec_digest_creds cr;
    struct osec_digest_result res;
    struct osec_digest_request req;

    if (osec_digest_parse_credentials(value, scratch, sizeof(scratch), &cr) != 0)
        return;
    req.method = osec_slice_cstr("GET");
    req.uri = cr.uri;
    req.body = osec_slice_cstr("body");
    req.binding = osec_slice_make(NULL, 0);
    if (osec_digest_server_verify(srv, &req, &cr, lookup, NULL, &res) == 0)
        (void)osec_digest_server_auth_info(srv, &res, &cr, &req, req.body, &info);
    osec_buf_free(&info);
}

static void client_side(struct osec_slice value)
{
    struct osec_digest_client_config cc = {
        .username = osec_slice_cstr("fuzz"),
        .password = osec_slice_cstr("secret"),
        .allowed_algs = 0x7e,
        .allow_no_qop = true,
    };
    struct osec_digest_request req = { osec_slice_cstr("GET"), osec_slice_cstr("/"),
                                       osec_slice_make(NULL, 0), osec_slice_make(NULL, 0) };
    struct osec_buf out = OSEC_BUF_INIT(OSEC_DIGEST_HEADER_MAX);
    struct osec_digest_client *c;

    if (osec_digest_client_new(&cc, &c) != 0)
        __builtin_trap();
    if (osec_digest_client_challenge(c, &value, 1) == 0 &&
        osec_digest_client_authorize(c, &req, &out) == 0)
        (void)osec_digest_client_verify_info(c, value, req.body);
    osec_buf_free(&out);
    osec_digest_client_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t sub[OSEC_DIGEST_HEADER_MAX + 1];
    static uint8_t scratch[OSEC_DIGEST_HEADER_MAX + 1];
    struct osec_slice value = osec_slice_make(data, size);
    struct osec_digest_challenges set;
    struct osec_digest_auth_info ai;
    size_t n;

    if (!srv)
        init();
    (void)osec_digest_parse_challenges(value, scratch, sizeof(scratch), &set);
    (void)osec_digest_parse_auth_info(value, scratch, sizeof(scratch), &ai);
    n = substitute(data, size, sub, sizeof(sub));
    server_side(n ? osec_slice_make(sub, n) : value);
    client_side(value);
    return 0;
}
