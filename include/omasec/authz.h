/* CPNS authorization (seed 003 5.x.3, DESIGN 4.7).
 *
 * Decisions are made from the authenticated (Entity ID, User ID) of the
 * caller, never from anything the request asserts.  Default deny.  Built-in
 * rules: an entity acts on entities of its own user; a PN Gateway may create
 * onetime keys for PNEs and GWs of its own user.  Extra grants are policy
 * rules in the store, managed with `omasecctl policy`:
 *
 *   authz.pair.<userA> = userB[,userC...]
 *       gateways of userA may create onetime keys for (pair with) entities of
 *       userB, userC, ...
 *       (the same rule lets them put those entities in their Service Groups)
 */
#ifndef OMASEC_AUTHZ_H
#define OMASEC_AUTHZ_H

#include <stddef.h>

#include "omasec/store.h"

struct osec_principal {
    char entity_id[OSEC_STORE_NAME_MAX + 1]; /* empty for a user acting with a password */
    char user[OSEC_STORE_NAME_MAX + 1];
    char type[OSEC_STORE_TYPE_MAX + 1];      /* "pne", "gw", or "" for a user */
};

enum osec_authz_action {
    OSEC_AUTHZ_OTK_CREATE,    /* target: peer entity id */
    OSEC_AUTHZ_ENTITY_LIST,   /* target: user whose entities are listed */
    OSEC_AUTHZ_ENTITY_REVOKE, /* target: entity id */
    OSEC_AUTHZ_EUKEY_ASSIGN,  /* target: entity id (caller is a user) */
    OSEC_AUTHZ_GROUP_ADD      /* target: entity id a PN GW puts in its Service Group */
};

#define OSEC_AUTHZ_REASON_MAX 128
#define OSEC_POLICY_PAIR_PREFIX "authz.pair."

/* 0 if allowed; OSEC_EPERM with a human-readable reason (no secrets) in
 * reason when denied; other negative codes on store errors. */
int osec_authz_check(struct osec_store *st, const struct osec_principal *who,
                     enum osec_authz_action action, const char *target, char *reason,
                     size_t reasonlen);

#endif
