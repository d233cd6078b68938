/* sip_users: provision N benchmark users in an omasec data directory, each
 * with a password and one CPM Address, in one transaction; and write the
 * sipp-style CSV (user;password;domain) the load tools read.
 *
 * `omasecctl user add` hashes every password with production scrypt
 * parameters (~100 ms each); the benchmark only exercises Digest, whose HA1
 * values do not depend on scrypt, so this uses the smallest accepted cost.
 *
 *   sip_users DATA_DIR COUNT DOMAIN CSV_OUT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omasec/account.h"
#include "omasec/buf.h"
#include "omasec/error.h"
#include "omasec/seal.h"
#include "omasec/store.h"

static int add_one(struct osec_store *st, const struct osec_master *m, const char *realm, int i,
                   const char *domain, FILE *csv)
{
    struct osec_scrypt_params fast = { 10, 1, 1 };
    struct osec_store_address a;
    char name[32], pw[32];

    (void)osec_snprintf(name, sizeof(name), "user%05d", i);
    (void)osec_snprintf(pw, sizeof(pw), "pw-%05d", i);
    OSEC_GUARD(osec_account_add(st, m, realm, name, pw, strlen(pw), fast));
    memset(&a, 0, sizeof(a));
    OSEC_GUARD(osec_snprintf(a.uri, sizeof(a.uri), "sip:%s@%s", name, domain));
    OSEC_GUARD(osec_strlcpy(a.user, name, sizeof(a.user)));
    OSEC_GUARD(osec_store_address_add(st, &a));
    fprintf(csv, "%s;%s;%s\n", name, pw, domain);
    return 0;
}

int main(int argc, char **argv)
{
    struct osec_store *st = NULL;
    struct osec_master *m = NULL;
    char path[4200], realm[OSEC_STORE_VALUE_MAX + 1];
    int64_t count;
    FILE *csv;
    int rc = 1;

    if (argc != 5 || osec_parse_i64(argv[2], 1, 1000000, &count) < 0) {
        fprintf(stderr, "usage: sip_users DATA_DIR COUNT DOMAIN CSV_OUT\n");
        return 2;
    }
    if (!(csv = fopen(argv[4], "w")))
        return 1;
    fprintf(csv, "SEQUENTIAL\n");
    (void)osec_snprintf(path, sizeof(path), "%s/master.key", argv[1]);
    if (osec_master_load(path, &m) < 0)
        goto out;
    (void)osec_snprintf(path, sizeof(path), "sqlite:%s/omasec.db", argv[1]);
    if (osec_store_open(path, &st) < 0 || osec_account_realm(st, realm, sizeof(realm)) < 0 ||
        osec_store_begin(st) < 0)
        goto out;
    for (int i = 0; i < (int)count; i++)
        if (add_one(st, m, realm, i, argv[3], csv) < 0)
            goto out;
    if (osec_store_commit(st) == 0)
        rc = 0;
out:
    if (rc)
        fprintf(stderr, "sip_users: %s\n", osec_error_msg());
    fclose(csv);
    osec_store_close(&st);
    osec_master_free(&m);
    return rc;
}
