/* omasecctl init / status */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "omasec/account.h"
#include "omasec/crypto.h"
#include "omasec/error.h"
#include "omasec/keys.h"
#include "omasec/pki.h"

static int make_data_dir(const char *dir, bool *created)
{
    struct stat st;

    *created = false;
    if (lstat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return ctl_fail("%s: exists and is not a directory", dir);
        if (st.st_mode & 022)
            return ctl_fail("%s: is group/world writable; refusing to keep keys there", dir);
        return 0;
    }
    if (errno != ENOENT || mkdir(dir, 0700) != 0)
        return ctl_fail("%s: cannot create: %s", dir, strerror(errno));
    *created = true;
    return 0;
}

static int init_master(struct ctl *c)
{
    int rc = osec_master_create(c->master_path);

    if (rc == OSEC_EEXISTS) {
        printf("kept     %s (existing master key)\n", c->master_path);
        return 0;
    }
    if (rc < 0)
        return ctl_fail_rc(rc, "cannot create master key");
    printf("created  %s (256-bit master key, mode 0600)\n", c->master_path);
    return 0;
}

static int init_store(struct ctl *c)
{
    char shown[OSEC_STORE_PATH_MAX + 1];
    struct osec_store_policy p;
    bool existed = strncmp(c->store_url, "sqlite:", 7) == 0 &&
                   access(c->store_url + 7, F_OK) == 0;
    int rc;

    if (ctl_open(c, true) != 0)
        return 1;
    rc = osec_store_policy_get(c->st, OSEC_POLICY_REALM, &p);
    if (rc == OSEC_ENOTFOUND)
        rc = osec_store_policy_set(c->st, OSEC_POLICY_REALM, OSEC_DEFAULT_REALM);
    if (rc < 0)
        return ctl_fail_rc(rc, "cannot initialise policy");
    if (osec_store_url_redact(c->store_url, shown, sizeof(shown)) < 0)
        (void)osec_strlcpy(shown, "(store)", sizeof(shown));
    printf("%s  %s (store, schema up to date)\n", existed ? "kept   " : "created", shown);
    return 0;
}

static int init_pki(struct ctl *c)
{
    char probe[4300];
    bool existed;
    int rc;

    (void)osec_snprintf(probe, sizeof(probe), "%s/%s", c->pki_dir, OSEC_PKI_CA_CERT);
    existed = access(probe, F_OK) == 0;
    rc = osec_pki_create_dev(c->pki_dir);
    if (rc < 0)
        return ctl_fail_rc(rc, "cannot create development PKI");
    if (existed) {
        printf("kept     %s/ (existing PKI)\n", c->pki_dir);
        return 0;
    }
    printf("created  %s/ca.crt (development CA; its key is ca.key)\n", c->pki_dir);
    printf("created  %s/server.crt, server.key (localhost, 127.0.0.1, ::1)\n", c->pki_dir);
    printf("created  %s/client.crt, client.key (CN=%s)\n", c->pki_dir, OSEC_PKI_CLIENT_CN);
    return 0;
}

int cmd_init(struct ctl *c, int argc, char **argv)
{
    bool created;

    (void)argv;
    if (argc != 0)
        return ctl_fail("usage: omasecctl [--data DIR] init");
    if (make_data_dir(c->data, &created) != 0)
        return 1;
    printf("%s  %s/\n", created ? "created" : "kept   ", c->data);
    if (init_master(c) != 0 || init_store(c) != 0 || init_pki(c) != 0)
        return 1;
    if (ctl_audit(c, "store.init", c->data, NULL) != 0)
        return 1;
    printf("omasecctl: %s is ready; add a user with: omasecctl --data %s user add NAME\n",
           c->data, c->data);
    return 0;
}

static int count_cb(const void *rec, void *arg)
{
    (void)rec;
    (*(unsigned long *)arg)++;
    return 0;
}

static int count_users(const struct osec_store_user *u, void *arg) { return count_cb(u, arg); }
static int count_addrs(const struct osec_store_address *a, void *arg) { return count_cb(a, arg); }
static int count_ents(const struct osec_store_entity *e, void *arg) { return count_cb(e, arg); }

int cmd_status(struct ctl *c, int argc, char **argv)
{
    unsigned long users = 0, addrs = 0, ents = 0;
    char realm[OSEC_STORE_VALUE_MAX + 1], shown[OSEC_STORE_PATH_MAX + 1];
    int rc;

    (void)argv;
    if (argc != 0)
        return ctl_fail("usage: omasecctl [--data DIR] status");
    if (ctl_open(c, true) != 0)
        return 1;
    if ((rc = osec_store_user_list(c->st, count_users, &users)) < 0 ||
        (rc = osec_store_address_list(c->st, NULL, count_addrs, &addrs)) < 0 ||
        (rc = osec_store_entity_list(c->st, NULL, count_ents, &ents)) < 0 ||
        (rc = osec_account_realm(c->st, realm, sizeof(realm))) < 0)
        return ctl_fail_rc(rc, "cannot read store");
    printf("data dir     %s\n", c->data);
    if (osec_store_url_redact(c->store_url, shown, sizeof(shown)) < 0)
        (void)osec_strlcpy(shown, "(store)", sizeof(shown));
    printf("store        %s (%s)\n", shown, osec_store_backend(c->st));
    printf("master key   %s (version %u)\n", c->master_path,
           (unsigned)osec_master_current_version(c->m));
    printf("pki          %s/{ca,server,client}.crt\n", c->pki_dir);
    printf("digest realm %s\n", realm);
    printf("users        %lu\n", users);
    printf("addresses    %lu\n", addrs);
    printf("entities     %lu\n", ents);
    return 0;
}

int cmd_pki(struct ctl *c, int argc, char **argv)
{
    static const char u[] = "usage: omasecctl pki issue NAME [--san LIST] [--client]";
    const char *san = NULL;
    bool client = false;
    int rc;

    if (argc < 2 || strcmp(argv[0], "issue") != 0 || osec_account_name_valid(argv[1]) < 0)
        return ctl_fail(u);
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--client") == 0)
            client = true;
        else if (strcmp(argv[i], "--san") == 0 && i + 1 < argc)
            san = argv[++i];
        else
            return ctl_fail(u);
    }
    rc = osec_pki_issue(c->pki_dir, argv[1], san, client, argv[1]);
    if (rc == OSEC_EEXISTS)
        return ctl_fail("%s/%s.crt or .key already exists", c->pki_dir, argv[1]);
    if (rc < 0)
        return ctl_fail_rc(rc, "cannot issue certificate");
    if (ctl_open(c, false) != 0 || ctl_audit(c, "pki.issue", argv[1], san) != 0)
        return 1;
    printf("issued %s/%s.crt and %s.key (CN=%s)\n", c->pki_dir, argv[1], argv[1], argv[1]);
    return 0;
}

struct check_ctx {
    struct ctl *c;
    char realm[OSEC_STORE_VALUE_MAX + 1];
    unsigned long ok, bad;
};

static int check_user(const struct osec_store_user *u, void *arg)
{
    struct check_ctx *k = arg;
    uint8_t ha1[OSEC_HASH_MAX];

    if (osec_account_ha1(k->c->st, k->c->m, k->realm, u->name, OSEC_HASH_SHA256, ha1) == 0) {
        k->ok++;
    } else {
        k->bad++;
        fprintf(stderr, "omasecctl: user %s: sealed Digest secrets do not open: %s\n", u->name,
                osec_error_msg());
    }
    osec_wipe(ha1, sizeof(ha1));
    return 0;
}

static int check_entity(const struct osec_store_entity *e, void *arg)
{
    struct check_ctx *k = arg;
    uint8_t key[OSEC_KEY_LEN];
    int rc;

    if (e->revoked)
        return 0;
    rc = osec_eukey_get(k->c->st, k->c->m, e->entity_id, key, NULL);
    osec_wipe(key, sizeof(key));
    if (rc == 0 || rc == OSEC_ESTALE) {
        k->ok++;
    } else {
        k->bad++;
        fprintf(stderr, "omasecctl: entity %s: EUKey does not open: %s\n", e->entity_id,
                osec_error_msg());
    }
    return 0;
}

/* omasecctl check: the database's own integrity check, then every sealed
 * value must open under the master key (after a crash, a restore or a
 * master-key rotation). */
int cmd_check(struct ctl *c, int argc, char **argv)
{
    struct check_ctx k;
    int rc;

    (void)argv;
    if (argc != 0)
        return ctl_fail("usage: omasecctl [--data DIR] check");
    if (ctl_open(c, true) != 0)
        return 1;
    memset(&k, 0, sizeof(k));
    k.c = c;
    rc = osec_store_check(c->st);
    if (rc < 0)
        return ctl_fail_rc(rc, "store integrity check failed");
    printf("store        integrity ok (%s)\n", osec_store_backend(c->st));
    if ((rc = osec_account_realm(c->st, k.realm, sizeof(k.realm))) < 0 ||
        (rc = osec_store_user_list(c->st, check_user, &k)) < 0 ||
        (rc = osec_store_entity_list(c->st, NULL, check_entity, &k)) < 0)
        return ctl_fail_rc(rc, "cannot read store");
    printf("sealed       %lu open, %lu broken\n", k.ok, k.bad);
    return k.bad ? 1 : 0;
}
