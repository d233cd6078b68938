#include "omasec/authz.h"

#include <string.h>

#include "omasec/buf.h"
#include "omasec/error.h"

static int deny(char *reason, size_t len, const char *why)
{
    (void)osec_strlcpy(reason, why, len);
    OSEC_BAIL(OSEC_EPERM, "%s", why);
}

/* Is `user` in the comma-separated list `list`? */
static bool in_list(const char *list, const char *user)
{
    struct osec_cursor c;
    struct osec_slice item;

    osec_cursor_init(&c, list, strlen(list));
    while (osec_cursor_next_item(&c, ',', &item))
        if (osec_slice_eq_cstr(item, user))
            return true;
    return false;
}

static int pair_granted(struct osec_store *st, const char *from, const char *to, bool *ok)
{
    struct osec_store_policy p;
    char name[OSEC_STORE_NAME_MAX + 1];
    int rc;

    *ok = false;
    if (osec_snprintf(name, sizeof(name), "%s%s", OSEC_POLICY_PAIR_PREFIX, from) < 0)
        return 0; /* a name that long cannot have a rule */
    rc = osec_store_policy_get(st, name, &p);
    if (rc == OSEC_ENOTFOUND)
        return 0;
    OSEC_GUARD(rc);
    *ok = in_list(p.value, to);
    return 0;
}

/* May gateway `who` reach entity `peer` (its own user's, or a granted
 * user's, live entity)?  Shared by onetime keys and Service Groups. */
static int check_reach(struct osec_store *st, const struct osec_principal *who,
                       const char *peer, char *reason, size_t len)
{
    struct osec_store_entity e;
    char owner[OSEC_STORE_NAME_MAX + 1];
    bool granted, revoked;
    int rc;

    memset(&e, 0, sizeof(e));
    rc = osec_store_entity_get(st, peer, &e);
    if (rc == OSEC_ENOTFOUND)
        return deny(reason, len, "unknown peer entity");
    OSEC_GUARD(rc);
    revoked = e.revoked != 0;
    (void)osec_strlcpy(owner, e.user, sizeof(owner));
    osec_store_entity_clear(&e);
    if (revoked)
        return deny(reason, len, "peer entity is revoked");
    if (strcmp(owner, who->user) == 0)
        return 0;
    OSEC_GUARD(pair_granted(st, who->user, owner, &granted));
    if (!granted)
        return deny(reason, len, "peer belongs to another user and no policy grants pairing");
    return 0;
}

static int check_otk(struct osec_store *st, const struct osec_principal *who,
                     const char *peer, char *reason, size_t len)
{
    if (strcmp(who->type, "gw") != 0)
        return deny(reason, len, "only a PN Gateway may create onetime keys");
    if (strcmp(who->entity_id, peer) == 0)
        return deny(reason, len, "an entity cannot pair with itself");
    return check_reach(st, who, peer, reason, len);
}

static int check_group(struct osec_store *st, const struct osec_principal *who,
                       const char *member, char *reason, size_t len)
{
    if (strcmp(who->type, "gw") != 0)
        return deny(reason, len, "only a PN Gateway may create Service Groups");
    if (strcmp(who->entity_id, member) == 0)
        return 0;
    return check_reach(st, who, member, reason, len);
}

static int check_same_user_entity(struct osec_store *st, const struct osec_principal *who,
                                  const char *entity_id, char *reason, size_t len)
{
    struct osec_store_entity e;
    bool same;
    int rc;

    memset(&e, 0, sizeof(e));
    rc = osec_store_entity_get(st, entity_id, &e);
    if (rc == OSEC_ENOTFOUND)
        return 0; /* a new entity id: the caller may claim it */
    OSEC_GUARD(rc);
    same = strcmp(e.user, who->user) == 0;
    osec_store_entity_clear(&e);
    if (!same)
        return deny(reason, len, "entity belongs to another user");
    return 0;
}

int osec_authz_check(struct osec_store *st, const struct osec_principal *who,
                     enum osec_authz_action action, const char *target, char *reason,
                     size_t reasonlen)
{
    if (reasonlen)
        reason[0] = '\0';
    if (who->user[0] == '\0')
        return deny(reason, reasonlen, "unauthenticated");
    switch (action) {
    case OSEC_AUTHZ_OTK_CREATE:
        return check_otk(st, who, target, reason, reasonlen);
    case OSEC_AUTHZ_ENTITY_LIST:
        if (strcmp(who->user, target) != 0)
            return deny(reason, reasonlen, "the entities of another user");
        return 0;
    case OSEC_AUTHZ_ENTITY_REVOKE:
        /* an entity may revoke itself; a user any of its own entities */
        if (who->entity_id[0] && strcmp(who->entity_id, target) != 0)
            return deny(reason, reasonlen, "an entity may only revoke itself");
        return check_same_user_entity(st, who, target, reason, reasonlen);
    case OSEC_AUTHZ_GROUP_ADD:
        return check_group(st, who, target, reason, reasonlen);
    case OSEC_AUTHZ_EUKEY_ASSIGN:
        if (who->entity_id[0])
            return deny(reason, reasonlen, "EUKey assignment needs the owner's password");
        return check_same_user_entity(st, who, target, reason, reasonlen);
    }
    return deny(reason, reasonlen, "unknown action");
}
