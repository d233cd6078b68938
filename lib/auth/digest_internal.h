/* Private helpers shared by the lib/auth/digest*.c files. */
#ifndef OMASEC_DIGEST_INTERNAL_H
#define OMASEC_DIGEST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "omasec/buf.h"
#include "omasec/digest.h"

/* Lower-case hex of n bytes into out (2n chars + NUL). */
void dg_hex(const uint8_t *in, size_t n, char *out);
/* Hex length of alg's digest (0 for UNKNOWN). */
size_t dg_hex_len(enum osec_digest_alg alg);
/* Session key: hex(HA1), or for -sess hex(H(hex(HA1) ":" nonce ":" cnonce)). */
int dg_session_key(enum osec_digest_alg alg, const uint8_t *ha1, size_t ha1_len,
                   struct osec_slice nonce, struct osec_slice cnonce,
                   char key[OSEC_DIGEST_HEX_MAX + 1]);
/* request-digest / rspauth from a session key (in->ha1 is ignored). */
int dg_response_from_key(const struct osec_digest_input *in, struct osec_slice key,
                         char hex[OSEC_DIGEST_HEX_MAX + 1]);
/* Case-insensitive "auth" / "auth-int"; NONE (with *ok false) otherwise. */
enum osec_digest_qop dg_qop_from_text(struct osec_slice t, bool *ok);
const char *dg_qop_name(enum osec_digest_qop q);

/* Output: `name="value"` / `name=value`, preceded by ", " unless *first. */
int dg_put_quoted(struct osec_buf *b, bool *first, const char *name, struct osec_slice v);
int dg_put_token(struct osec_buf *b, bool *first, const char *name, struct osec_slice v);

/* Stateless nonces (digest_nonce.c). */
int dg_nonce_make(const uint8_t secret[OSEC_DIGEST_SECRET_LEN], int64_t now,
                  struct osec_slice binding, struct osec_buf *out);
/* OSEC_EAUTH unless nonce was made with secret and binding; *issued = its time. */
int dg_nonce_check(const uint8_t secret[OSEC_DIGEST_SECRET_LEN], struct osec_slice nonce,
                   struct osec_slice binding, int64_t *issued);

#endif
