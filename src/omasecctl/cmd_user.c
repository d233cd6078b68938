/* omasecctl user add|del|passwd|list|set */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "omasec/account.h"
#include "omasec/crypto.h"
#include "omasec/error.h"
#include "omasec/keys.h"
#include "omasec/util.h"

static const char user_usage[] =
    "usage: omasecctl user add NAME [--password-stdin]\n"
    "       omasecctl user del NAME\n"
    "       omasecctl user passwd NAME [--password-stdin]\n"
    "       omasecctl user list\n"
    "       omasecctl user set NAME require-tls|encrypt-messages|disabled on|off";

static int parse_name_opts(struct ctl *c, int argc, char **argv, const char **name)
{
    *name = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--password-stdin") == 0)
            c->password_stdin = true;
        else if (argv[i][0] == '-' || *name)
            return ctl_fail("%s", user_usage);
        else
            *name = argv[i];
    }
    if (!*name)
        return ctl_fail("%s", user_usage);
    if (osec_account_name_valid(*name) < 0)
        return ctl_fail("invalid user name '%s': %s", *name, osec_error_msg());
    return 0;
}

static int with_password(struct ctl *c, const char *name, bool add)
{
    char pw[CTL_PW_BUF], realm[OSEC_STORE_VALUE_MAX + 1];
    int rc, ret = 1;

    if (ctl_open(c, true) != 0)
        return 1;
    if ((rc = osec_account_realm(c->st, realm, sizeof(realm))) < 0)
        return ctl_fail_rc(rc, "cannot read realm");
    if (ctl_read_password(c, "Password: ", true, pw, sizeof(pw)) != 0)
        goto out;
    if (add)
        rc = osec_account_add(c->st, c->m, realm, name, pw, strlen(pw), OSEC_SCRYPT_DEFAULT);
    else
        rc = osec_account_set_password(c->st, c->m, realm, name, pw, strlen(pw),
                                       OSEC_SCRYPT_DEFAULT);
    if (rc == OSEC_EEXISTS)
        ret = ctl_fail("user '%s' already exists", name);
    else if (rc == OSEC_ENOTFOUND)
        ret = ctl_fail("no such user '%s'", name);
    else if (rc < 0)
        ret = ctl_fail_rc(rc, add ? "cannot add user" : "cannot set password");
    else
        ret = ctl_audit(c, add ? "user.add" : "user.passwd", name, NULL);
    if (ret == 0)
        printf("%s user %s\n", add ? "added" : "changed password of", name);
out:
    osec_wipe(pw, sizeof(pw));
    return ret;
}

static int user_del(struct ctl *c, const char *name)
{
    int rc;

    if (ctl_open(c, true) != 0)
        return 1;
    rc = osec_user_delete(c->st, c->m, name);
    if (rc == OSEC_ENOTFOUND)
        return ctl_fail("no such user '%s'", name);
    if (rc < 0)
        return ctl_fail_rc(rc, "cannot delete user");
    if (ctl_audit(c, "user.del", name, "addresses, entities and ACL entries removed") != 0)
        return 1;
    printf("deleted user %s\n", name);
    return 0;
}

static int print_user(const struct osec_store_user *u, void *arg)
{
    char ts[32];

    (void)arg;
    if (osec_time_fmt(u->created, ts, sizeof(ts)) < 0)
        ts[0] = '\0';
    printf("%-32s created=%s%s%s%s\n", u->name, ts,
           (u->flags & OSEC_USER_REQUIRE_TLS) ? " require-tls" : "",
           (u->flags & OSEC_USER_ENCRYPT_MSGS) ? " encrypt-messages" : "",
           (u->flags & OSEC_USER_DISABLED) ? " disabled" : "");
    return 0;
}

static int user_set(struct ctl *c, int argc, char **argv)
{
    static const struct { const char *name; uint32_t bit; } flags[] = {
        { "require-tls", OSEC_USER_REQUIRE_TLS },
        { "encrypt-messages", OSEC_USER_ENCRYPT_MSGS },
        { "disabled", OSEC_USER_DISABLED },
    };
    struct osec_store_user u;
    uint32_t bit = 0;
    bool on;
    int rc;

    if (argc != 3 || (strcmp(argv[2], "on") != 0 && strcmp(argv[2], "off") != 0))
        return ctl_fail("%s", user_usage);
    on = strcmp(argv[2], "on") == 0;
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        if (strcmp(argv[1], flags[i].name) == 0)
            bit = flags[i].bit;
    if (!bit)
        return ctl_fail("unknown flag '%s' (require-tls, encrypt-messages, disabled)", argv[1]);
    if (ctl_open(c, false) != 0)
        return 1;
    memset(&u, 0, sizeof(u));
    rc = osec_store_user_get(c->st, argv[0], &u);
    if (rc == 0)
        rc = osec_store_user_set_flags(c->st, argv[0], on ? (u.flags | bit) : (u.flags & ~bit));
    osec_store_user_clear(&u);
    if (rc == OSEC_ENOTFOUND)
        return ctl_fail("no such user '%s'", argv[0]);
    if (rc < 0)
        return ctl_fail_rc(rc, "cannot set flag");
    if (ctl_audit(c, "user.flags", argv[0], argv[1]) != 0)
        return 1;
    printf("user %s: %s %s\n", argv[0], argv[1], argv[2]);
    return 0;
}

int cmd_user(struct ctl *c, int argc, char **argv)
{
    const char *name;
    int rc;

    if (argc < 1)
        return ctl_fail("%s", user_usage);
    if (strcmp(argv[0], "list") == 0 && argc == 1) {
        if (ctl_open(c, false) != 0)
            return 1;
        rc = osec_store_user_list(c->st, print_user, NULL);
        return rc < 0 ? ctl_fail_rc(rc, "cannot list users") : 0;
    }
    if (strcmp(argv[0], "set") == 0)
        return user_set(c, argc - 1, argv + 1);
    if (parse_name_opts(c, argc - 1, argv + 1, &name) != 0)
        return 1;
    if (strcmp(argv[0], "add") == 0)
        return with_password(c, name, true);
    if (strcmp(argv[0], "passwd") == 0)
        return with_password(c, name, false);
    if (strcmp(argv[0], "del") == 0)
        return user_del(c, name);
    return ctl_fail("%s", user_usage);
}
