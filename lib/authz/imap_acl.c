/* RFC 4314 rights evaluation for the message store (see omasec/imap_acl.h). */
#include "omasec/imap_acl.h"

#include <string.h>

#include "omasec/account.h"
#include "omasec/error.h"

int osec_imap_acl_init(struct osec_imap_acl *a, const char *owner, const char *user)
{
    memset(a, 0, sizeof(*a));
    OSEC_ENSURE(owner && owner[0] && user && user[0], OSEC_EINVAL, "acl: missing owner or user");
    OSEC_GUARD(osec_strlcpy(a->owner, owner, sizeof(a->owner)));
    return osec_strlcpy(a->user, user, sizeof(a->user));
}

/* Does identifier (without its "-") name the user being evaluated? */
static bool names_user(const struct osec_imap_acl *a, const char *id)
{
    return strcmp(id, a->user) == 0 || strcmp(id, "anyone") == 0 ||
           strcmp(id, "authenticated") == 0;
}

int osec_imap_acl_add(struct osec_imap_acl *a, const char *identifier, const char *rights)
{
    bool negative = identifier[0] == '-';
    const char *id = negative ? identifier + 1 : identifier;
    uint32_t r = 0;

    if (!names_user(a, id))
        return 0;
    OSEC_ENSURE(osec_imap_rights_parse(osec_slice_cstr(rights), NULL, &r) == 0, OSEC_EPARSE,
                "acl: stored rights '%s' of '%s' are malformed", rights, identifier);
    if (negative)
        a->neg |= r;
    else
        a->pos |= r;
    return 0;
}

uint32_t osec_imap_acl_rights(const struct osec_imap_acl *a)
{
    if (strcmp(a->owner, a->user) == 0)
        return OSEC_IMAP_RIGHTS_ALL;
    /* digits (site-defined rights) are carried through but never needed */
    return a->pos & ~a->neg;
}

static int acl_row(const struct osec_store_acl *e, void *arg)
{
    return osec_imap_acl_add(arg, e->identifier, e->rights);
}

int osec_imap_acl_myrights(struct osec_store *st, const struct osec_store_mailbox *mb,
                           const char *user, uint32_t *rights)
{
    struct osec_imap_acl a;
    char key[OSEC_STORE_ACLKEY_MAX];

    *rights = 0;
    OSEC_GUARD(osec_imap_acl_init(&a, mb->owner, user));
    if (strcmp(mb->owner, user) != 0) { /* the owner's rights need no lookup */
        OSEC_GUARD(osec_store_mailbox_acl_key(mb->id, key, sizeof(key)));
        OSEC_GUARD(osec_store_acl_list(st, key, acl_row, &a));
    }
    *rights = osec_imap_acl_rights(&a);
    return 0;
}

uint32_t osec_imap_acl_need(enum osec_imap_acl_op op)
{
    static const uint32_t need[OSEC_IMAP_OP_COUNT_] = {
        [OSEC_IMAP_OP_LIST] = OSEC_IMAP_RIGHT_L,
        [OSEC_IMAP_OP_SELECT] = OSEC_IMAP_RIGHT_R,
        [OSEC_IMAP_OP_STATUS] = OSEC_IMAP_RIGHT_R,
        [OSEC_IMAP_OP_FETCH] = OSEC_IMAP_RIGHT_R,
        [OSEC_IMAP_OP_SEARCH] = OSEC_IMAP_RIGHT_R,
        [OSEC_IMAP_OP_APPEND] = OSEC_IMAP_RIGHT_I,
        [OSEC_IMAP_OP_CREATE_CHILD] = OSEC_IMAP_RIGHT_K,
        [OSEC_IMAP_OP_DELETE] = OSEC_IMAP_RIGHT_X,
        [OSEC_IMAP_OP_RENAME] = OSEC_IMAP_RIGHT_X,
        [OSEC_IMAP_OP_EXPUNGE] = OSEC_IMAP_RIGHT_E,
        [OSEC_IMAP_OP_ADMIN] = OSEC_IMAP_RIGHT_A,
        [OSEC_IMAP_OP_META_READ] = OSEC_IMAP_RIGHT_R,
        [OSEC_IMAP_OP_META_PRIVATE] = OSEC_IMAP_RIGHT_L,
        [OSEC_IMAP_OP_META_SHARED] = OSEC_IMAP_RIGHT_W,
    };

    /* an unknown operation needs more than anyone can hold: default deny */
    return (unsigned)op < OSEC_IMAP_OP_COUNT_ ? need[op] : ~0u;
}

uint32_t osec_imap_acl_need_store(uint32_t old_flags, uint32_t new_flags, bool keywords_change)
{
    uint32_t diff = old_flags ^ new_flags, need = 0;

    if (diff & OSEC_IMAP_FLAG_SEEN)
        need |= OSEC_IMAP_RIGHT_S;
    if (diff & OSEC_IMAP_FLAG_DELETED)
        need |= OSEC_IMAP_RIGHT_T;
    if ((diff & ~(OSEC_IMAP_FLAG_SEEN | OSEC_IMAP_FLAG_DELETED)) || keywords_change)
        need |= OSEC_IMAP_RIGHT_W;
    return need;
}

int osec_imap_acl_check_rights(uint32_t have, uint32_t need, char *reason, size_t len,
                               bool *visible)
{
    uint32_t missing = need & ~have;
    struct osec_buf b;

    if (visible)
        *visible = true;
    if (missing == 0)
        return 0;
    if (!(have & OSEC_IMAP_RIGHT_L)) {
        if (visible)
            *visible = false;
        if (reason)
            (void)osec_strlcpy(reason, "no such mailbox", len);
        OSEC_BAIL(OSEC_ENOTFOUND, "acl: mailbox not visible to the user");
    }
    osec_buf_init(&b, OSEC_IMAP_ACL_REASON_MAX);
    if (osec_buf_append_str(&b, "missing right ") == 0 &&
        osec_imap_rights_write(&b, missing == ~0u ? OSEC_IMAP_RIGHTS_ALL : missing) == 0 &&
        reason)
        (void)osec_strlcpy(reason, osec_buf_cstr(&b), len); /* may truncate: text only */
    osec_buf_free(&b);
    OSEC_BAIL(OSEC_EPERM, "acl: permission denied");
}

int osec_imap_acl_check(uint32_t have, enum osec_imap_acl_op op, char *reason, size_t len,
                        bool *visible)
{
    return osec_imap_acl_check_rights(have, osec_imap_acl_need(op), reason, len, visible);
}

int osec_imap_acl_identifier_check(const char *identifier, const char *owner)
{
    const char *id = identifier[0] == '-' ? identifier + 1 : identifier;

    OSEC_ENSURE(strlen(identifier) <= OSEC_STORE_IDENT_MAX, OSEC_EBOUNDS,
                "acl: identifier too long");
    if (strcmp(id, "anyone") == 0 || strcmp(id, "authenticated") == 0)
        return 0;
    OSEC_ENSURE(osec_account_name_valid(id) == 0, OSEC_EINVAL, "acl: invalid identifier");
    OSEC_ENSURE(strcmp(id, owner) != 0, OSEC_EPERM,
                "acl: the owner's rights are implicit and cannot be changed");
    return 0;
}

/* Stored form: the RFC 4314 letters and digits only.  Never the obsolete
 * "c"/"d" that osec_imap_rights_write adds for replies: read back, "c"
 * would grant k and x where only one of them was given. */
static int rights_store(uint32_t r, char *out, size_t outlen)
{
    static const char letters[] = "lrswipkxtea";
    size_t n = 0;

    for (size_t i = 0; i < 21; i++) {
        if (!(r & (1u << i)))
            continue;
        OSEC_ENSURE(n + 1 < outlen, OSEC_EBOUNDS, "acl: rights buffer too small");
        out[n++] = i < 11 ? letters[i] : (char)('0' + (i - 11));
    }
    OSEC_ENSURE(outlen > 0, OSEC_EBOUNDS, "acl: rights buffer too small");
    out[n] = '\0';
    return 0;
}

int osec_imap_acl_modify(const char *cur, int mod, uint32_t rights, char *out, size_t outlen)
{
    uint32_t have = 0;

    OSEC_ENSURE(osec_imap_rights_parse(osec_slice_cstr(cur), NULL, &have) == 0, OSEC_EPARSE,
                "acl: stored rights are malformed");
    if (mod > 0)
        have |= rights;
    else if (mod < 0)
        have &= ~rights;
    else
        have = rights;
    return rights_store(have, out, outlen);
}
