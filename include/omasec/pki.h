/* Development PKI: a local CA that issues server, client and peer certificates.
 *
 * `omasecctl init` uses osec_pki_create_dev() so that every daemon works on
 * loopback out of the box; tests use it to get a fresh PKI per run.  It is
 * NOT a production CA (no CRL/OCSP, CA key stored unencrypted next to the
 * certificates): operators bring their own certificates.
 *
 * All keys are EC P-256, certificates are signed with ECDSA-SHA256 and carry
 * random 127-bit serial numbers.  Files are created with O_EXCL|O_NOFOLLOW and
 * never overwritten; private keys are written mode 0600, certificates 0644.
 */
#ifndef OMASEC_PKI_H
#define OMASEC_PKI_H

#include <stdbool.h>

#include <openssl/types.h>

/* File names inside a development PKI directory. */
#define OSEC_PKI_CA_CERT "ca.crt"
#define OSEC_PKI_CA_KEY "ca.key"
#define OSEC_PKI_SERVER_CERT "server.crt"
#define OSEC_PKI_SERVER_KEY "server.key"
#define OSEC_PKI_CLIENT_CERT "client.crt"
#define OSEC_PKI_CLIENT_KEY "client.key"

#define OSEC_PKI_CA_DAYS 3650
#define OSEC_PKI_LEAF_DAYS 825
#define OSEC_PKI_CLIENT_CN "omasec-client"

/* Create dir (mode 0700) holding ca.crt/ca.key (CA:TRUE, keyCertSign+cRLSign,
 * 10 years), server.crt/server.key (CN=localhost, SAN DNS:localhost,
 * IP:127.0.0.1, IP:::1, EKU serverAuth, 825 days) and client.crt/client.key
 * (CN=omasec-client, EKU clientAuth, 825 days).
 * Returns 0 when created or when all six files already exist (left as they
 * are); OSEC_EEXISTS when only some exist; OSEC_EPERM when dir is a symlink,
 * not a directory, or group/world writable.  On failure the files created by
 * this call are removed again. */
int osec_pki_create_dev(const char *dir);

/* Issue one more certificate + key from the development CA in dir.
 * cn: subject CN (1..64 bytes, no control characters).
 * san: NULL, or a comma-separated list of subjectAltNames; each item is
 *   "DNS:name", "IP:addr", "URI:uri" or "email:addr", or unprefixed (an IP
 *   address if it parses as one, else a DNS name).
 * client: true -> EKU clientAuth (users, devices); false -> EKU serverAuth +
 *   clientAuth (servers and peering nodes, which use one certificate in both
 *   directions, as SIP federation does).
 * out_prefix: writes <out_prefix>.crt and <out_prefix>.key; a prefix without
 *   '/' is taken relative to dir.  OSEC_EEXISTS if either file exists. */
int osec_pki_issue(const char *dir, const char *cn, const char *san, bool client,
                   const char *out_prefix);

/* Load a PEM private key from a file the way every omasec key file is read:
 * opened with O_NOFOLLOW, must be a regular file, refused (OSEC_EPERM) when
 * any group/other permission bit is set.  *out must be EVP_PKEY_free()d. */
int osec_pki_load_key(const char *path, EVP_PKEY **out);

#endif
