/* omasecctl address | entity | policy | audit */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "omasec/buf.h"
#include "omasec/error.h"
#include "omasec/keys.h"
#include "omasec/util.h"

static int print_address(const struct osec_store_address *a, void *arg)
{
    (void)arg;
    printf("%-40s %s\n", a->uri, a->user);
    return 0;
}

/* A CPM Address is a SIP or tel URI (public user identity). */
static int address_valid(const char *uri)
{
    size_t n = strlen(uri);

    if (n < 5 || n > OSEC_STORE_URI_MAX)
        return -1;
    if (strncmp(uri, "sip:", 4) != 0 && strncmp(uri, "sips:", 5) != 0 &&
        strncmp(uri, "tel:", 4) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)uri[i] <= 0x20 || (unsigned char)uri[i] >= 0x7f ||
            strchr("<>\"", uri[i]))
            return -1;
    return 0;
}

static int address_change(struct ctl *c, bool add, const char *user, const char *uri)
{
    struct osec_store_address a;
    char owner[OSEC_STORE_NAME_MAX + 1];
    int rc;

    if (address_valid(uri) != 0)
        return ctl_fail("invalid CPM Address '%s' (expected sip:, sips: or tel: URI)", uri);
    memset(&a, 0, sizeof(a));
    if (osec_strlcpy(a.uri, uri, sizeof(a.uri)) < 0 || osec_strlcpy(a.user, user, sizeof(a.user)) < 0)
        return ctl_fail("argument too long");
    if (add) {
        rc = osec_store_address_add(c->st, &a);
        if (rc == OSEC_EEXISTS)
            return ctl_fail("%s is already allocated", uri);
        if (rc == OSEC_ENOTFOUND)
            return ctl_fail("no such user '%s'", user);
    } else {
        rc = osec_store_address_owner(c->st, uri, owner, sizeof(owner));
        if (rc == 0 && strcmp(owner, user) != 0)
            return ctl_fail("%s is not allocated to %s", uri, user);
        if (rc == 0)
            rc = osec_store_address_del(c->st, uri);
        if (rc == OSEC_ENOTFOUND)
            return ctl_fail("%s is not allocated", uri);
    }
    if (rc < 0)
        return ctl_fail_rc(rc, "cannot change address");
    if (ctl_audit(c, add ? "address.add" : "address.del", uri, user) != 0)
        return 1;
    printf("%s %s %s %s\n", add ? "allocated" : "released", uri, add ? "to" : "from", user);
    return 0;
}

int cmd_address(struct ctl *c, int argc, char **argv)
{
    static const char u[] = "usage: omasecctl address add|del USER URI | address list [USER]";
    int rc;

    if (argc < 1 || ctl_open(c, false) != 0)
        return argc < 1 ? ctl_fail(u) : 1;
    if (strcmp(argv[0], "list") == 0 && argc <= 2) {
        rc = osec_store_address_list(c->st, argc == 2 ? argv[1] : NULL, print_address, NULL);
        return rc < 0 ? ctl_fail_rc(rc, "cannot list addresses") : 0;
    }
    if (argc == 3 && (strcmp(argv[0], "add") == 0 || strcmp(argv[0], "del") == 0))
        return address_change(c, strcmp(argv[0], "add") == 0, argv[1], argv[2]);
    return ctl_fail(u);
}

static int print_entity(const struct osec_store_entity *e, void *arg)
{
    char created[32], expires[32], revoked[32];

    (void)arg;
    if (osec_time_fmt(e->created, created, sizeof(created)) < 0)
        created[0] = '\0';
    if (e->expires == 0 || osec_time_fmt(e->expires, expires, sizeof(expires)) < 0)
        (void)osec_strlcpy(expires, "never", sizeof(expires));
    if (e->revoked == 0 || osec_time_fmt(e->revoked, revoked, sizeof(revoked)) < 0)
        (void)osec_strlcpy(revoked, "-", sizeof(revoked));
    printf("%-32s type=%-3s user=%s created=%s expires=%s revoked=%s\n", e->entity_id,
           e->type, e->user, created, expires, revoked);
    return 0;
}

int cmd_entity(struct ctl *c, int argc, char **argv)
{
    static const char u[] = "usage: omasecctl entity list [USER] | entity revoke ENTITY_ID";
    int rc;

    if (argc < 1 || ctl_open(c, false) != 0)
        return argc < 1 ? ctl_fail(u) : 1;
    if (strcmp(argv[0], "list") == 0 && argc <= 2) {
        rc = osec_store_entity_list(c->st, argc == 2 ? argv[1] : NULL, print_entity, NULL);
        return rc < 0 ? ctl_fail_rc(rc, "cannot list entities") : 0;
    }
    if (strcmp(argv[0], "revoke") == 0 && argc == 2) {
        if (ctl_open(c, true) != 0)
            return 1;
        rc = osec_eukey_revoke(c->st, c->m, argv[1], NULL);
        if (rc == OSEC_ENOTFOUND)
            return ctl_fail("no such entity '%s'", argv[1]);
        if (rc < 0)
            return ctl_fail_rc(rc, "cannot revoke entity");
        if (ctl_audit(c, "entity.revoke", argv[1], "by administrator") != 0)
            return 1;
        printf("revoked entity %s (its EUKey and onetime keys no longer work)\n", argv[1]);
        return 0;
    }
    return ctl_fail(u);
}

static int print_policy(const struct osec_store_policy *p, void *arg)
{
    (void)arg;
    printf("%s = %s\n", p->name, p->value);
    return 0;
}

int cmd_policy(struct ctl *c, int argc, char **argv)
{
    static const char u[] = "usage: omasecctl policy list | get NAME | set NAME VALUE | del NAME";
    struct osec_store_policy p;
    int rc;

    if (argc < 1 || ctl_open(c, false) != 0)
        return argc < 1 ? ctl_fail(u) : 1;
    if (strcmp(argv[0], "list") == 0 && argc == 1)
        rc = osec_store_policy_list(c->st, print_policy, NULL);
    else if (strcmp(argv[0], "get") == 0 && argc == 2) {
        rc = osec_store_policy_get(c->st, argv[1], &p);
        if (rc == 0)
            printf("%s\n", p.value);
    } else if (strcmp(argv[0], "set") == 0 && argc == 3) {
        rc = osec_store_policy_set(c->st, argv[1], argv[2]);
        if (rc == 0)
            rc = ctl_audit(c, "policy.set", argv[1], argv[2]) ? -1 : 0;
    } else if (strcmp(argv[0], "del") == 0 && argc == 2) {
        rc = osec_store_policy_del(c->st, argv[1]);
        if (rc == 0)
            rc = ctl_audit(c, "policy.del", argv[1], NULL) ? -1 : 0;
    } else
        return ctl_fail(u);
    if (rc == OSEC_ENOTFOUND)
        return ctl_fail("no such policy '%s'", argv[1]);
    if (rc == -1)
        return 1;
    return rc < 0 ? ctl_fail_rc(rc, "policy") : 0;
}

static int print_audit(const struct osec_store_audit *a, void *arg)
{
    char ts[32];

    (void)arg;
    if (osec_time_fmt(a->ts, ts, sizeof(ts)) < 0)
        ts[0] = '\0';
    printf("%s %-18s actor=\"%s\" subject=\"%s\"%s%s%s\n", ts, a->event, a->actor, a->subject,
           a->detail[0] ? " detail=\"" : "", a->detail, a->detail[0] ? "\"" : "");
    return 0;
}

int cmd_audit(struct ctl *c, int argc, char **argv)
{
    int64_t limit = 50;
    int rc;

    if (argc == 2 && strcmp(argv[0], "--limit") == 0) {
        if (osec_parse_i64(argv[1], 1, 100000, &limit) < 0)
            return ctl_fail("--limit must be a number in 1..100000");
    } else if (argc != 0)
        return ctl_fail("usage: omasecctl audit [--limit N]");
    if (ctl_open(c, false) != 0)
        return 1;
    rc = osec_store_audit_list(c->st, (unsigned)limit, print_audit, NULL);
    return rc < 0 ? ctl_fail_rc(rc, "cannot read audit log") : 0;
}
