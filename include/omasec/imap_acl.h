/* Message store access control: RFC 4314 rights evaluation.
 *
 * Every access of cpm-msgstored to a mailbox or a stored object (CPM
 * Messages, Session and Conversation Histories, Media Objects, folders)
 * asks this module what the authenticated user may do (seed 001, 5.1.3.4:
 * "the Message Storage Server checks if the Principal has the right to
 * access the resources").  Decisions:
 *
 *   - The owner of a mailbox implicitly holds every right on it; ACL
 *     entries naming the owner neither add nor remove anything, so an
 *     owner cannot lock itself out and nobody can take a mailbox away from
 *     its owner (RFC 4314 2: the owner's implicit rights).
 *   - Anyone else holds the union of the rights granted to its user name,
 *     "anyone" and "authenticated" (every session here is authenticated),
 *     minus the union of the negative rights of "-name", "-anyone" and
 *     "-authenticated" (RFC 4314 2: negative rights win).
 *   - Default deny: no entry, no right.
 *   - A user without "l" on a mailbox is told the mailbox does not exist
 *     (RFC 4314 4: do not reveal its existence); with "l" but without the
 *     right needed, the answer is a NO naming the missing right.
 *
 * Rights bits are the OSEC_IMAP_RIGHT_* of omasec/imap.h.
 */
#ifndef OMASEC_IMAP_ACL_H
#define OMASEC_IMAP_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "omasec/imap.h"
#include "omasec/store.h"

#define OSEC_IMAP_RIGHTS_ALL                                                    \
    (OSEC_IMAP_RIGHT_L | OSEC_IMAP_RIGHT_R | OSEC_IMAP_RIGHT_S | OSEC_IMAP_RIGHT_W |   \
     OSEC_IMAP_RIGHT_I | OSEC_IMAP_RIGHT_P | OSEC_IMAP_RIGHT_K | OSEC_IMAP_RIGHT_X |   \
     OSEC_IMAP_RIGHT_T | OSEC_IMAP_RIGHT_E | OSEC_IMAP_RIGHT_A)
#define OSEC_IMAP_ACL_REASON_MAX 160

/* Accumulates the ACL entries of one mailbox for one user. */
struct osec_imap_acl {
    char owner[OSEC_STORE_NAME_MAX + 1];
    char user[OSEC_STORE_NAME_MAX + 1];
    uint32_t pos, neg;
};

/* EINVAL for an empty or over-long owner or user. */
int osec_imap_acl_init(struct osec_imap_acl *a, const char *owner, const char *user);
/* Feed one stored entry (identifier as stored, e.g. "bob", "-anyone";
 * rights as stored).  Entries for other identifiers are ignored; malformed
 * rights are EPARSE (a hand-edited table must not grant by accident). */
int osec_imap_acl_add(struct osec_imap_acl *a, const char *identifier, const char *rights);
/* The effective rights. */
uint32_t osec_imap_acl_rights(const struct osec_imap_acl *a);

/* The effective rights of user on mb, read from the store's ACL table. */
int osec_imap_acl_myrights(struct osec_store *st, const struct osec_store_mailbox *mb,
                           const char *user, uint32_t *rights);

/* What an operation needs (RFC 4314 section 4). */
enum osec_imap_acl_op {
    OSEC_IMAP_OP_LIST = 0,     /* l: appear in LIST */
    OSEC_IMAP_OP_SELECT,       /* r (l to learn it exists) */
    OSEC_IMAP_OP_STATUS,       /* r */
    OSEC_IMAP_OP_FETCH,        /* r */
    OSEC_IMAP_OP_SEARCH,       /* r */
    OSEC_IMAP_OP_APPEND,       /* i (also COPY into) */
    OSEC_IMAP_OP_CREATE_CHILD, /* k on the parent */
    OSEC_IMAP_OP_DELETE,       /* x */
    OSEC_IMAP_OP_RENAME,       /* x on the old name */
    OSEC_IMAP_OP_EXPUNGE,      /* e */
    OSEC_IMAP_OP_ADMIN,        /* a: GETACL, SETACL, DELETEACL, LISTRIGHTS */
    OSEC_IMAP_OP_META_READ,    /* r (RFC 5464: GETMETADATA) */
    OSEC_IMAP_OP_META_PRIVATE, /* l: SETMETADATA on /private */
    OSEC_IMAP_OP_META_SHARED,  /* w: SETMETADATA on /shared */
    OSEC_IMAP_OP_COUNT_
};

/* Rights needed by op. */
uint32_t osec_imap_acl_need(enum osec_imap_acl_op op);

/* Rights needed to change flags from old_flags/old_kw to new ones: s for
 * \Seen, t for \Deleted, w for the other flags and keywords. */
uint32_t osec_imap_acl_need_store(uint32_t old_flags, uint32_t new_flags, bool keywords_change);

/* 0 if have covers op.  Otherwise OSEC_EPERM with reason "missing right(s)
 * x" and *visible = true, or, without "l" (and without the needed rights),
 * OSEC_ENOTFOUND with *visible = false: answer as for a missing mailbox.
 * reason may be NULL. */
int osec_imap_acl_check(uint32_t have, enum osec_imap_acl_op op, char *reason, size_t len,
                        bool *visible);
/* Like osec_imap_acl_check for an explicit set of needed rights. */
int osec_imap_acl_check_rights(uint32_t have, uint32_t need, char *reason, size_t len,
                               bool *visible);

/* A SETACL/DELETEACL target: a user name (osec_account_name_valid) or
 * "anyone"/"authenticated", optionally with a leading "-" (negative
 * rights).  EPERM for the mailbox owner (its rights are implicit). */
int osec_imap_acl_identifier_check(const char *identifier, const char *owner);

/* Apply a SETACL modification (mod: 0 replace, 1 add, -1 remove) to the
 * stored rights string cur ("" if none); new canonical rights text into out. */
int osec_imap_acl_modify(const char *cur, int mod, uint32_t rights, char *out, size_t outlen);

#endif
