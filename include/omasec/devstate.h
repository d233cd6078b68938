/* Device-side secret state for PNEs and PN Gateways (cpns-pne, cpns-gw).
 *
 * A device's data directory (mode 0700) holds its own master key
 * (DIR/master.key, 0600) and one file per record (DIR/<name>.sealed, 0600):
 * the record's bytes sealed under the master key (purpose "devstate", AAD =
 * the record name), written atomically (temp file, fsync, rename, fsync of
 * the directory).  Records hold the device identity and EUKey, onetime keys
 * and PN session keys.  Deleting a record is an unlink, which succeeds
 * exactly once: that is how single-use keys are consumed.
 *
 * Record names: 1..128 characters of [A-Za-z0-9._@+-] (no '/').
 */
#ifndef OMASEC_DEVSTATE_H
#define OMASEC_DEVSTATE_H

#include <stdbool.h>
#include <stddef.h>

#include "omasec/buf.h"
#include "omasec/seal.h"

struct osec_devstate;

/* Open DIR (create it and its master key when create is true). */
int osec_devstate_open(const char *dir, bool create, struct osec_devstate **out);
void osec_devstate_close(struct osec_devstate **ds);
const char *osec_devstate_dir(const struct osec_devstate *ds);

int osec_devstate_put(struct osec_devstate *ds, const char *name, const void *data, size_t len);
/* Appends the record to out (use a secret buffer); OSEC_ENOTFOUND if absent,
 * OSEC_EINTEGRITY if it does not open. */
int osec_devstate_get(struct osec_devstate *ds, const char *name, struct osec_buf *out);
/* OSEC_ENOTFOUND if it was not there (someone else consumed it). */
int osec_devstate_del(struct osec_devstate *ds, const char *name);
/* Calls cb for each record whose name starts with prefix. */
int osec_devstate_list(struct osec_devstate *ds, const char *prefix,
                       int (*cb)(const char *name, void *arg), void *arg);

#endif
