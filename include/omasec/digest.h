/* HTTP / SIP Digest access authentication (RFC 7616, RFC 2617 compatible;
 * RFC 3261 + RFC 8760 for SIP), server and client sides.
 *
 * Inputs are slices (method, request-uri, header value, body), never
 * framework objects, so the same code serves evhttp, the SIP parser and the
 * PN gateway.  All output is appended to bounded struct osec_buf buffers.
 *
 * Parsing is zero-copy: the slices of a parsed header point into the header
 * value, except for values that had to be decoded (quoted-strings holding
 * backslash escapes, and username* in RFC 5987 notation), which are written
 * to the caller's scratch buffer.  Decoding never grows a value, so a scratch
 * buffer of value.len bytes (or OSEC_DIGEST_HEADER_MAX) is always enough;
 * scratch may be NULL when the caller knows no escapes are present (an
 * escaped value then fails with OSEC_EBOUNDS).  Both the header value and the
 * scratch must outlive the parsed struct.
 *
 * Header values must be unfolded by the protocol parser; CRLF followed by
 * SP/HTAB (obs-fold, SIP LWS) is nevertheless accepted as white space.
 *
 * Error codes (the exact code is part of the contract):
 *   OSEC_EPARSE  malformed header; the message names the reason, e.g.
 *                "duplicate parameter 'nonce'".  Header > 8 KiB or a value >
 *                1 KiB is EPARSE too.  A uri parameter that differs from the
 *                request-uri is EPARSE (RFC 7616 3.4.6 answers 400).
 *   OSEC_EAUTH   wrong response, unknown user, forged nonce, wrong realm or
 *                opaque, bad rspauth (the client cannot tell which).
 *   OSEC_ESTALE  the response was right but the nonce expired: answer with a
 *                fresh challenge carrying stale=true.
 *   OSEC_EREPLAY nonce-count already used with this nonce.
 *   OSEC_EPOLICY algorithm or qop not allowed (server policy, or the client's
 *                downgrade protection), userhash not enabled.
 */
#ifndef OMASEC_DIGEST_H
#define OMASEC_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "omasec/buf.h"
#include "omasec/crypto.h"

#define OSEC_DIGEST_HEADER_MAX 8192      /* longest header value accepted */
#define OSEC_DIGEST_VALUE_MAX 1024       /* longest parameter value accepted */
#define OSEC_DIGEST_HEX_MAX 64           /* longest hex digest (SHA-256, SHA-512-256) */
#define OSEC_DIGEST_SECRET_LEN 32        /* server nonce secret */
#define OSEC_DIGEST_NONCE_LEN 43         /* our nonces: base64url of 32 bytes */
#define OSEC_DIGEST_BINDING_MAX 512      /* client binding mixed into nonces */
#define OSEC_DIGEST_USERNAME_MAX 255
#define OSEC_DIGEST_PASSWORD_MAX 1024
#define OSEC_DIGEST_CHALLENGES_MAX 8     /* Digest challenges per header value */
#define OSEC_DIGEST_LIFETIME_DEFAULT 300 /* seconds */
#define OSEC_DIGEST_REPLAY_DEFAULT 16384 /* in-memory replay cache entries */

enum osec_digest_alg {
    OSEC_DIGEST_ALG_UNKNOWN = 0,
    OSEC_DIGEST_MD5 = 1,
    OSEC_DIGEST_MD5_SESS = 2,
    OSEC_DIGEST_SHA256 = 3,
    OSEC_DIGEST_SHA256_SESS = 4,
    OSEC_DIGEST_SHA512_256 = 5,
    OSEC_DIGEST_SHA512_256_SESS = 6
};
#define OSEC_DIGEST_ALG_COUNT 6
#define OSEC_DIGEST_ALG_BIT(a) (1u << (unsigned)(a))

/* Values and bit flags (a set of offered qops is an OR of these). */
enum osec_digest_qop {
    OSEC_DIGEST_QOP_NONE = 0,      /* RFC 2069 / 2617 form without qop */
    OSEC_DIGEST_QOP_AUTH = 1,
    OSEC_DIGEST_QOP_AUTH_INT = 2
};

/* ---- algorithms and computation ------------------------------------ */

/* Canonical name ("SHA-512-256-sess"), "" for UNKNOWN. */
const char *osec_digest_alg_name(enum osec_digest_alg alg);
/* Case-insensitive; OSEC_DIGEST_ALG_UNKNOWN when not recognised. */
enum osec_digest_alg osec_digest_alg_from_name(struct osec_slice name);
/* The hash behind alg (0 for UNKNOWN) and whether it is a -sess variant. */
enum osec_hash_alg osec_digest_alg_hash(enum osec_digest_alg alg);
bool osec_digest_alg_is_sess(enum osec_digest_alg alg);

/* HA1 = H(username ":" realm ":" password) as raw bytes (what the account
 * store keeps, sealed); out must hold osec_hash_len(hash). */
int osec_digest_ha1(enum osec_hash_alg hash, struct osec_slice username,
                    struct osec_slice realm, struct osec_slice password, uint8_t *out);
/* userhash = hex(H(username ":" realm)) (RFC 7616 3.4.4), appended to out. */
int osec_digest_userhash(enum osec_digest_alg alg, struct osec_slice username,
                         struct osec_slice realm, struct osec_buf *out);

/* Everything that enters a request-digest or rspauth. */
struct osec_digest_input {
    enum osec_digest_alg alg;
    const uint8_t *ha1;          /* raw H(user:realm:password) for alg's hash */
    size_t ha1_len;
    struct osec_slice nonce, cnonce;
    struct osec_slice nc;        /* the 8 hex digits as sent */
    struct osec_slice qop;       /* as sent; empty = RFC 2069 form */
    struct osec_slice method;    /* empty for rspauth (RFC 7616 3.5) */
    struct osec_slice uri;
    struct osec_slice body;      /* entity body, used by qop=auth-int */
};
/* Lower-case hex digest into hex (NUL-terminated). */
int osec_digest_response(const struct osec_digest_input *in, char hex[OSEC_DIGEST_HEX_MAX + 1]);

/* ---- parsing ---------------------------------------------------------- */

/* Authorization / Proxy-Authorization value ("Digest username=..., ..."). */
struct osec_digest_creds {
    struct osec_slice username;   /* plain, userhash hex, or decoded username* (UTF-8) */
    struct osec_slice realm, nonce, uri, response, cnonce, opaque;
    struct osec_slice algorithm;  /* as sent; empty when absent */
    struct osec_slice qop_text;   /* as sent (enters the hash) */
    struct osec_slice nc;         /* as sent: exactly 8 hex digits */
    enum osec_digest_alg alg;     /* MD5 when absent (RFC 2617), UNKNOWN if not ours */
    enum osec_digest_qop qop;
    uint32_t nc_value;
    bool userhash;                /* userhash=true: username is hex(H(user:realm)) */
    bool username_ext;            /* the name came as username* */
};
int osec_digest_parse_credentials(struct osec_slice value, uint8_t *scratch, size_t scratch_len,
                                  struct osec_digest_creds *out);

/* WWW-Authenticate / Proxy-Authenticate value: one or several challenges,
 * comma separated; challenges of other schemes (Basic, Bearer, ...) are
 * skipped. */
struct osec_digest_challenge {
    struct osec_slice realm, nonce, opaque, domain;
    struct osec_slice algorithm;  /* as sent */
    enum osec_digest_alg alg;     /* MD5 when absent, UNKNOWN if not ours */
    unsigned qop;                 /* OSEC_DIGEST_QOP_* bits offered, 0 = none */
    bool stale, userhash, charset_utf8;
};
struct osec_digest_challenges {
    struct osec_digest_challenge item[OSEC_DIGEST_CHALLENGES_MAX];
    size_t count;
};
int osec_digest_parse_challenges(struct osec_slice value, uint8_t *scratch, size_t scratch_len,
                                 struct osec_digest_challenges *out);

/* Authentication-Info value (no scheme). */
struct osec_digest_auth_info {
    struct osec_slice rspauth, cnonce, nc, nextnonce, qop_text;
    enum osec_digest_qop qop;
    uint32_t nc_value;
};
int osec_digest_parse_auth_info(struct osec_slice value, uint8_t *scratch, size_t scratch_len,
                                struct osec_digest_auth_info *out);

/* ---- nonce-count replay detection ------------------------------------- */

/* Contract of a replay store (the in-memory one below, or a shared one for
 * multi-instance deployments).  nc == 0 means "single-use nonce" (RFC 2617
 * form without qop).  Returns 0 when (nonce, nc) was unused and is now
 * marked; OSEC_EREPLAY when it was used (or the nonce was used single-use);
 * OSEC_ESTALE when the store can no longer tell (it dropped the nonce under
 * memory pressure: the client must take a fresh nonce); other negative codes
 * on failure.  expires (epoch seconds) lets the store evict the record. */
typedef int (*osec_digest_replay_fn)(void *arg, struct osec_slice nonce, uint32_t nc,
                                     int64_t expires);
typedef int64_t (*osec_digest_clock_fn)(void *arg);

/* Bounded, thread-safe in-memory store: per nonce the highest nc seen plus
 * a 64-wide window of recent nc values (pipelined requests may arrive out
 * of order).  Expired entries are evicted; when full, the oldest entry is
 * dropped and nonces up to its expiry answer OSEC_ESTALE. */
struct osec_digest_replay_mem;
int osec_digest_replay_mem_new(size_t capacity, osec_digest_clock_fn now, void *now_arg,
                               struct osec_digest_replay_mem **out);
void osec_digest_replay_mem_free(struct osec_digest_replay_mem **m);
/* An osec_digest_replay_fn; arg is the struct osec_digest_replay_mem. */
int osec_digest_replay_mem_check(void *arg, struct osec_slice nonce, uint32_t nc,
                                 int64_t expires);
size_t osec_digest_replay_mem_count(struct osec_digest_replay_mem *m);

/* Replay state kept in the store (osec_store_nonce_mark), for several
 * daemon instances sharing one PostgreSQL store behind a load balancer:
 * a (nonce, nc) pair used on one instance is refused on every other.
 * Thread-safe: each calling thread gets its own handle on store_url,
 * opened on first use and closed at thread exit or by _free (call it once
 * the threads using the store are done).  Marks are purged after their
 * nonce expired.  lib/auth/digest_store_replay.c */
struct osec_digest_replay_store;
int osec_digest_replay_store_new(const char *store_url, struct osec_digest_replay_store **out);
void osec_digest_replay_store_free(struct osec_digest_replay_store **r);
/* An osec_digest_replay_fn; arg is the struct osec_digest_replay_store. */
int osec_digest_replay_store_check(void *arg, struct osec_slice nonce, uint32_t nc,
                                   int64_t expires);

/* ---- server ------------------------------------------------------------ */

struct osec_digest_server_config {
    const char *realm;
    uint8_t secret[OSEC_DIGEST_SECRET_LEN];     /* nonce HMAC key (copied, wiped on free) */
    int64_t nonce_lifetime;                     /* seconds; 0 = 300 */
    int64_t nextnonce_margin;                   /* send nextnonce when less remains; 0 = lifetime/5 */
    /* Preference order, ended by UNKNOWN (0); all-zero = SHA-256, SHA-512-256. */
    enum osec_digest_alg algs[OSEC_DIGEST_ALG_COUNT];
    bool allow_md5;                             /* else MD5(-sess) in algs is ECONFIG */
    unsigned qop;                               /* QOP_AUTH | QOP_AUTH_INT; 0 = AUTH */
    bool allow_no_qop;                          /* accept RFC 2069 credentials (single use) */
    bool userhash;                              /* advertise and accept userhash */
    bool charset_utf8;                          /* advertise charset=UTF-8 */
    const char *opaque;                         /* optional, must be echoed */
    osec_digest_clock_fn now;                   /* NULL = osec_time_now */
    void *now_arg;
    osec_digest_replay_fn replay;               /* NULL = built-in in-memory store */
    void *replay_arg;
    size_t replay_capacity;                     /* built-in store; 0 = default */
};

struct osec_digest_server;
int osec_digest_server_new(const struct osec_digest_server_config *cfg,
                           struct osec_digest_server **out);
void osec_digest_server_free(struct osec_digest_server **s);

/* The request being authenticated.  binding is optional data tying nonces
 * to the client (its IP address, a TLS channel binding); pass the same
 * bytes when making the challenge and when verifying. */
struct osec_digest_request {
    struct osec_slice method;   /* "GET", "REGISTER" */
    struct osec_slice uri;      /* request-target exactly as on the request line */
    struct osec_slice body;     /* entity body (auth-int) */
    struct osec_slice binding;
};

/* A fresh nonce, appended to out. */
int osec_digest_server_nonce(struct osec_digest_server *s, struct osec_slice binding,
                             struct osec_buf *out);
size_t osec_digest_server_alg_count(const struct osec_digest_server *s);
/* Challenge number idx (preference order) with the given nonce, appended to
 * out: one value per header field, as SIP needs (RFC 8760 2.4). */
int osec_digest_server_challenge_one(struct osec_digest_server *s, size_t idx,
                                     struct osec_slice nonce, bool stale, struct osec_buf *out);
/* Every challenge, comma separated, sharing one fresh nonce (HTTP). */
int osec_digest_server_challenge(struct osec_digest_server *s, struct osec_slice binding,
                                 bool stale, struct osec_buf *out);

enum osec_digest_secret_kind {
    OSEC_DIGEST_SECRET_HA1 = 1,
    OSEC_DIGEST_SECRET_PASSWORD = 2
};
/* Who the lookup callback must resolve. */
struct osec_digest_lookup {
    struct osec_slice username;  /* plain name, or hex H(user:realm) when userhash */
    struct osec_slice realm;
    enum osec_digest_alg alg;
    enum osec_hash_alg hash;     /* the HA1 wanted is H(user:realm:password) with this hash */
    bool userhash;
};
/* Filled by the callback; wiped by the library after use. */
struct osec_digest_secret {
    enum osec_digest_secret_kind kind;
    uint8_t ha1[OSEC_HASH_MAX];                       /* kind HA1 */
    size_t ha1_len;
    uint8_t password[OSEC_DIGEST_PASSWORD_MAX];       /* kind PASSWORD */
    size_t password_len;
    /* The real user name: required when userhash, optional otherwise. */
    char username[OSEC_DIGEST_USERNAME_MAX + 1];
};
/* 0 when found; OSEC_ENOTFOUND for an unknown user (verify then answers
 * OSEC_EAUTH after the same work); any other code aborts verification. */
typedef int (*osec_digest_lookup_fn)(void *arg, const struct osec_digest_lookup *who,
                                     struct osec_digest_secret *out);

struct osec_digest_result {
    char username[OSEC_DIGEST_USERNAME_MAX + 1];  /* authenticated user */
    enum osec_digest_alg alg;
    enum osec_digest_qop qop;
    uint32_t nc;
    int64_t nonce_expires;
    bool nonce_near_expiry;       /* auth_info will carry a nextnonce */
    /* private: session key for rspauth, wiped by auth_info / result_wipe */
    char key_hex[OSEC_DIGEST_HEX_MAX + 1];
};

/* Checks, in order: policy (alg, qop, userhash) -> EPOLICY; realm/opaque ->
 * EAUTH; uri == req->uri byte for byte (no normalisation) -> EPARSE; nonce
 * HMAC -> EAUTH; response (constant time) -> EAUTH; nonce age -> ESTALE
 * (only once the response is right, as stale=true promises); nonce-count
 * -> EREPLAY.  On success res holds the session key: call auth_info or
 * osec_digest_result_wipe. */
int osec_digest_server_verify(struct osec_digest_server *s, const struct osec_digest_request *req,
                              const struct osec_digest_creds *creds, osec_digest_lookup_fn lookup,
                              void *lookup_arg, struct osec_digest_result *res);
/* Authentication-Info value (rspauth over ":" uri with the response body
 * for auth-int, qop, cnonce, nc, nextnonce near expiry), appended to out;
 * wipes res's session key. */
int osec_digest_server_auth_info(struct osec_digest_server *s, struct osec_digest_result *res,
                                 const struct osec_digest_creds *creds,
                                 const struct osec_digest_request *req,
                                 struct osec_slice response_body, struct osec_buf *out);
void osec_digest_result_wipe(struct osec_digest_result *res);

/* ---- client ------------------------------------------------------------ */

struct osec_digest_client_config {
    struct osec_slice username;
    struct osec_slice password;         /* copied, wiped on free; or: */
    const uint8_t *ha1;                 /* a stored HA1 (restricts to its hash) */
    size_t ha1_len;
    enum osec_hash_alg ha1_hash;
    unsigned allowed_algs;              /* ALG_BIT mask; 0 = SHA-256 + SHA-512-256 (+ -sess) */
    bool allow_no_qop;                  /* accept RFC 2069 challenges */
    bool prefer_auth_int;               /* use auth-int when offered */
};

struct osec_digest_client;
int osec_digest_client_new(const struct osec_digest_client_config *cfg,
                           struct osec_digest_client **out);
void osec_digest_client_free(struct osec_digest_client **c);
/* Take the challenges of one or more header fields and pick the strongest
 * acceptable one (SHA-512-256 > SHA-256 > MD5, then server order).
 * OSEC_EPOLICY when none is acceptable (downgrade protection). */
int osec_digest_client_challenge(struct osec_digest_client *c, const struct osec_slice *values,
                                 size_t nvalues);
enum osec_digest_alg osec_digest_client_alg(const struct osec_digest_client *c);
bool osec_digest_client_stale(const struct osec_digest_client *c);
/* Authorization value for req (nc incremented per use of a nonce), appended to out. */
int osec_digest_client_authorize(struct osec_digest_client *c, const struct osec_digest_request *req,
                                 struct osec_buf *out);
/* Check the server's Authentication-Info (mutual authentication): rspauth,
 * cnonce and nc must match the last request -> else OSEC_EAUTH.  A
 * nextnonce is adopted. */
int osec_digest_client_verify_info(struct osec_digest_client *c, struct osec_slice value,
                                   struct osec_slice response_body);
/* Test hook: use this cnonce (instead of 16 random bytes) for the next request. */
int osec_digest_client_set_cnonce(struct osec_digest_client *c, struct osec_slice cnonce);

#endif
