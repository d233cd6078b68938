/* CPNS protocol message bodies (JSON, docs/cpns-protocol.md).
 *
 * Strict: a body must be one JSON object with exactly the documented
 * members (unknown members, duplicated members, wrong types, trailing data
 * are OSEC_EPARSE with a reason in osec_error_msg()).  Keys in bodies are
 * base64url (unpadded) 256-bit values.
 */
#ifndef OMASEC_CPNS_MSG_H
#define OMASEC_CPNS_MSG_H

#include <stdint.h>

#include "omasec/buf.h"
#include "omasec/crypto.h"
#include "omasec/store.h"

#define OSEC_CPNS_BODY_MAX 65536

/* POST /cpns/v1/entities/{id}/eukey  {"type":"pne"|"gw"} */
struct osec_cpns_eukey_req {
    char type[OSEC_STORE_TYPE_MAX + 1];
};
int osec_cpns_parse_eukey_req(struct osec_slice body, struct osec_cpns_eukey_req *out);

/* POST /cpns/v1/onetime-keys  {"peer":ID,"key":B64URL[,"ttl":1..3600]} */
struct osec_cpns_otk_req {
    char peer[OSEC_STORE_NAME_MAX + 1];
    uint8_t key[OSEC_KEY_LEN];       /* wipe after use */
    int64_t ttl;                     /* default 300 */
};
int osec_cpns_parse_otk_req(struct osec_slice body, struct osec_cpns_otk_req *out);

#endif
