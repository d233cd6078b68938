/* cpm-msgstored: mailbox names, namespaces (RFC 2342) and the mailbox
 * commands (CREATE, DELETE, RENAME, SUBSCRIBE, LIST, LSUB, STATUS).
 *
 * Names as the user sees them: its own mailboxes by name ("INBOX",
 * "Conversations/<id>"), other users' mailboxes shared with it as
 * "Other Users/<owner>/<name>".  Every access goes through ms_open, which
 * asks osec_imap_acl_* and answers/audits denials. */
#include <stdlib.h>
#include <string.h>

#include "msgstored.h"
#include "omasec/account.h"
#include "omasec/error.h"
#include "omasec/log.h"
#include "omasec/mail.h"
#include "omasec/util.h"

#define OTHER_LEN (sizeof(MS_OTHER_PREFIX) - 1)
#define LIST_MAX 100000

/* ---- names ------------------------------------------------------------------ */

static bool name_shape_ok(const char *n)
{
    size_t len = strlen(n);

    return len > 0 && n[0] != '/' && n[len - 1] != '/' && !strstr(n, "//");
}

static void canon_inbox(char *name)
{
    if (strlen(name) == 5 && (name[0] | 32) == 'i' && (name[1] | 32) == 'n' &&
        (name[2] | 32) == 'b' && (name[3] | 32) == 'o' && (name[4] | 32) == 'x')
        memcpy(name, "INBOX", 5);
}

static int split_other(const char *rest, struct ms_ref *ref)
{
    const char *slash = strchr(rest, '/');

    OSEC_ENSURE(slash && slash > rest && slash[1], OSEC_EINVAL, "bad shared mailbox name");
    OSEC_ENSURE((size_t)(slash - rest) <= OSEC_STORE_NAME_MAX, OSEC_EINVAL, "bad owner");
    memcpy(ref->owner, rest, (size_t)(slash - rest));
    ref->owner[slash - rest] = '\0';
    OSEC_GUARD(osec_account_name_valid(ref->owner));
    OSEC_GUARD(osec_strlcpy(ref->name, slash + 1, sizeof(ref->name)));
    canon_inbox(ref->name);
    return 0;
}

int ms_resolve(struct ms_session *s, struct osec_slice raw, struct ms_ref *ref)
{
    struct osec_buf b;
    int rc;

    memset(ref, 0, sizeof(*ref));
    osec_buf_init(&b, OSEC_IMAP_MAILBOX_MAX + 1);
    rc = osec_imap_mailbox_decode(raw, &b);
    if (rc == 0)
        rc = osec_strlcpy(ref->display, osec_buf_cstr(&b), sizeof(ref->display));
    osec_buf_free(&b);
    OSEC_GUARD(rc);
    if (strncmp(ref->display, MS_OTHER_PREFIX, OTHER_LEN) == 0) {
        OSEC_GUARD(split_other(ref->display + OTHER_LEN, ref));
    } else {
        OSEC_GUARD(osec_strlcpy(ref->owner, s->user, sizeof(ref->owner)));
        OSEC_GUARD(osec_strlcpy(ref->name, ref->display, sizeof(ref->name)));
    }
    OSEC_ENSURE(name_shape_ok(ref->name), OSEC_EINVAL, "bad mailbox name");
    if (strcmp(ref->owner, s->user) == 0) /* "Other Users/<me>/x" is just x */
        OSEC_GUARD(osec_strlcpy(ref->display, ref->name, sizeof(ref->display)));
    return 0;
}

static const char *op_name(enum osec_imap_acl_op op)
{
    static const char *const n[OSEC_IMAP_OP_COUNT_] = {
        "list", "select", "status", "fetch", "search", "append", "create", "delete", "rename",
        "expunge", "admin", "getmetadata", "setmetadata", "setmetadata",
    };

    return (unsigned)op < OSEC_IMAP_OP_COUNT_ ? n[op] : "?";
}

/* Answer a denial: not visible -> as if missing; else NOPERM naming the
 * right.  Both are audited (seed 001: every access passes the ACL check). */
static void deny(struct ms_req *r, const struct ms_ref *ref, enum osec_imap_acl_op op,
                 int rc, const char *reason)
{
    char subject[OSEC_STORE_ACTOR_MAX + 1], detail[256];

    (void)osec_snprintf(subject, sizeof(subject), "%s/%s", ref->owner, ref->name);
    (void)osec_snprintf(detail, sizeof(detail), "op=%s %s", op_name(op),
                        rc == OSEC_ENOTFOUND ? "visible=no" : reason);
    ms_audit(r->s, "imap.acl_deny", subject, detail);
    if (rc == OSEC_ENOTFOUND)
        ms_tagged(r, OSEC_IMAP_NO, "NONEXISTENT", "no such mailbox");
    else
        ms_tagged(r, OSEC_IMAP_NO, "NOPERM", reason);
}

int ms_open(struct ms_req *r, struct osec_slice raw, enum osec_imap_acl_op op,
            struct ms_ref *ref, struct osec_store_mailbox *mb, uint32_t *rights)
{
    struct ms_session *s = r->s;
    char reason[OSEC_IMAP_ACL_REASON_MAX] = "";
    int rc;

    if (ms_resolve(s, raw, ref) < 0) {
        ms_tagged(r, OSEC_IMAP_NO, "CANNOT", "invalid mailbox name");
        return OSEC_EINVAL;
    }
    rc = osec_store_mailbox_get(s->w->st, ref->owner, ref->name, mb);
    if (rc == OSEC_ENOTFOUND) {
        bool own = strcmp(ref->owner, s->user) == 0;

        if (!own) /* someone else's missing mailbox: same answer as a hidden one */
            deny(r, ref, op, OSEC_ENOTFOUND, "");
        else
            ms_tagged(r, OSEC_IMAP_NO, op == OSEC_IMAP_OP_APPEND ? "TRYCREATE" : "NONEXISTENT",
                      "no such mailbox");
        return rc;
    }
    if (rc == 0)
        rc = osec_imap_acl_myrights(s->w->st, mb, s->user, rights);
    if (rc < 0) {
        osec_error("imap.store_error", "user=%s error=\"%s\"", s->user, osec_error_msg());
        ms_tagged(r, OSEC_IMAP_NO, ms_fail_code(), "store error");
        return rc;
    }
    rc = osec_imap_acl_check(*rights, op, reason, sizeof(reason), NULL);
    if (rc < 0)
        deny(r, ref, op, rc, reason);
    return rc;
}

/* ---- creation ------------------------------------------------------------------------ */

uint32_t ms_uidvalidity(void)
{
    uint32_t v = 0;

    /* only has to differ from the value of an earlier mailbox of the same
     * name (RFC 3501 2.3.1.1): random, never 0 */
    while (v == 0 && osec_rand_bytes(&v, sizeof(v)) == 0)
        v &= 0x7fffffffu;
    return v ? v : 1;
}

static int ensure(struct osec_store *st, const char *owner, const char *name)
{
    int rc = osec_store_mailbox_get(st, owner, name, NULL);

    if (rc != OSEC_ENOTFOUND)
        return rc;
    rc = osec_store_mailbox_create(st, owner, name, ms_uidvalidity(), NULL);
    return rc == OSEC_EEXISTS ? 0 : rc; /* another session was first */
}

int ms_default_folders(struct ms_session *s)
{
    OSEC_GUARD(ensure(s->w->st, s->user, "INBOX"));
    if (s->w->srv->cpm_layout)
        OSEC_GUARD(ensure(s->w->st, s->user, OSEC_MAIL_CPM_ROOT));
    return 0;
}

/* Create name and its missing parents ("a/b/c": a, a/b, a/b/c). */
static int create_path(struct osec_store *st, const char *owner, const char *name)
{
    char part[OSEC_STORE_MAILBOX_MAX + 1];
    int rc = 0;

    OSEC_GUARD(osec_store_begin(st));
    for (const char *p = strchr(name, '/'); p; p = strchr(p + 1, '/')) {
        memcpy(part, name, (size_t)(p - name));
        part[p - name] = '\0';
        OSEC_CHECK(rc, ensure(st, owner, part));
    }
    OSEC_CHECK(rc, osec_store_mailbox_create(st, owner, name, ms_uidvalidity(), NULL));
    return osec_store_commit(st);
out:
    (void)osec_store_rollback(st); /* keep the first error */
    return rc;
}

/* Creating in another user's hierarchy needs k on the parent. */
static int may_create(struct ms_req *r, const struct ms_ref *ref)
{
    char parent[OSEC_IMAP_MAILBOX_MAX + 1], *slash;
    struct osec_store_mailbox mb;
    struct ms_ref pref;
    uint32_t rights;

    if (strcmp(ref->owner, r->s->user) == 0)
        return 0;
    (void)osec_strlcpy(parent, ref->display, sizeof(parent));
    slash = strrchr(parent, '/');
    if (!slash || (size_t)(slash - parent) <= OTHER_LEN + strlen(ref->owner)) {
        deny(r, ref, OSEC_IMAP_OP_CREATE_CHILD, OSEC_EPERM, "cannot create top-level mailboxes of another user");
        return OSEC_EPERM;
    }
    *slash = '\0';
    return ms_open(r, osec_slice_cstr(parent), OSEC_IMAP_OP_CREATE_CHILD, &pref, &mb, &rights);
}

void ms_cmd_create(struct ms_req *r)
{
    struct osec_slice raw;
    struct ms_ref ref;
    int rc;

    (void)osec_imap_arg_astring(osec_imap_arg_at(r->cmd, 0), &raw);
    if (raw.len > 1 && raw.ptr[raw.len - 1] == '/') /* "a/" asks for a parent: same thing */
        raw.len--;
    if (ms_resolve(r->s, raw, &ref) < 0) {
        ms_tagged(r, OSEC_IMAP_NO, "CANNOT", "invalid mailbox name");
        return;
    }
    if (may_create(r, &ref) < 0)
        return;
    rc = create_path(r->s->w->st, ref.owner, ref.name);
    if (rc == OSEC_EEXISTS)
        ms_tagged(r, OSEC_IMAP_NO, "ALREADYEXISTS", "mailbox exists");
    else if (rc < 0)
        ms_tagged(r, OSEC_IMAP_NO, "CANNOT", "cannot create the mailbox");
    else
        ms_tagged(r, OSEC_IMAP_OK, NULL, "CREATE completed");
}

/* ---- DELETE, RENAME ----------------------------------------------------------------------- */

struct children {
    const char *prefix; /* "name/" */
    size_t plen;
    size_t n;
    bool collect;                  /* RENAME: keep them in mb; DELETE: count */
    struct osec_store_mailbox *mb;
    size_t cap;
};

static int child_cb(const struct osec_store_mailbox *mb, void *arg)
{
    struct children *c = arg;

    if (strncmp(mb->name, c->prefix, c->plen) != 0)
        return 0;
    if (c->collect) {
        if (c->n == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 16;
            struct osec_store_mailbox *p = realloc(c->mb, cap * sizeof(*p));

            OSEC_ENSURE(p != NULL, OSEC_ENOMEM, "out of memory");
            c->mb = p;
            c->cap = cap;
        }
        c->mb[c->n] = *mb;
    }
    c->n++;
    return 0;
}

void ms_cmd_delete(struct ms_req *r)
{
    struct osec_store_mailbox mb;
    struct osec_slice raw;
    struct ms_ref ref;
    char prefix[OSEC_STORE_MAILBOX_MAX + 2];
    struct children c = { prefix, 0, 0, false, NULL, 0 };
    uint32_t rights;

    (void)osec_imap_arg_astring(osec_imap_arg_at(r->cmd, 0), &raw);
    if (ms_open(r, raw, OSEC_IMAP_OP_DELETE, &ref, &mb, &rights) < 0)
        return;
    if (strcmp(ref.name, "INBOX") == 0) {
        ms_tagged(r, OSEC_IMAP_NO, "CANNOT", "INBOX cannot be deleted");
        return;
    }
    (void)osec_snprintf(prefix, sizeof(prefix), "%s/", ref.name);
    c.plen = strlen(prefix);
    if (osec_store_mailbox_list(r->s->w->st, ref.owner, child_cb, &c) < 0 || c.n > 0) {
        ms_tagged(r, OSEC_IMAP_NO, "INUSE", "delete the child mailboxes first");
        return;
    }
    if (r->s->state == MS_SELECTED && r->s->sel.mb.id == mb.id)
        ms_unselect(r->s);
    if (osec_store_mailbox_delete(r->s->w->st, mb.id) < 0) {
        ms_tagged(r, OSEC_IMAP_NO, ms_fail_code(), "cannot delete");
        return;
    }
    ms_audit(r->s, "imap.mailbox_delete", ref.display, NULL);
    ms_tagged(r, OSEC_IMAP_OK, NULL, "DELETE completed");
}

static int rename_all(struct osec_store *st, const struct ms_ref *from, const struct ms_ref *to,
                      int64_t id, const struct children *c)
{
    char name[OSEC_STORE_MAILBOX_MAX + 1];
    int rc;

    OSEC_GUARD(osec_store_begin(st));
    OSEC_CHECK(rc, osec_store_mailbox_rename(st, id, to->name));
    for (size_t i = 0; i < c->n; i++) {
        OSEC_CHECK(rc, osec_snprintf(name, sizeof(name), "%s/%s", to->name,
                                     c->mb[i].name + c->plen));
        OSEC_CHECK(rc, osec_store_mailbox_rename(st, c->mb[i].id, name));
    }
    (void)from;
    /* missing parents of the new name */
    for (const char *p = strchr(to->name, '/'); p; p = strchr(p + 1, '/')) {
        memcpy(name, to->name, (size_t)(p - to->name));
        name[p - to->name] = '\0';
        OSEC_CHECK(rc, ensure(st, to->owner, name));
    }
    return osec_store_commit(st);
out:
    (void)osec_store_rollback(st); /* keep the first error */
    return rc;
}

void ms_cmd_rename(struct ms_req *r)
{
    struct osec_store_mailbox mb;
    struct osec_slice raw_from, raw_to;
    struct ms_ref from, to;
    char prefix[OSEC_STORE_MAILBOX_MAX + 2];
    struct children c = { prefix, 0, 0, true, NULL, 0 };
    uint32_t rights;
    int rc;

    (void)osec_imap_arg_astring(osec_imap_arg_at(r->cmd, 0), &raw_from);
    (void)osec_imap_arg_astring(osec_imap_arg_at(r->cmd, 1), &raw_to);
    if (ms_open(r, raw_from, OSEC_IMAP_OP_RENAME, &from, &mb, &rights) < 0)
        return;
    if (ms_resolve(r->s, raw_to, &to) < 0 || strcmp(from.owner, to.owner) != 0 ||
        strcmp(from.name, "INBOX") == 0 || strcmp(to.name, "INBOX") == 0) {
        ms_tagged(r, OSEC_IMAP_NO, "CANNOT", "cannot rename to that name");
        return;
    }
    if (may_create(r, &to) < 0)
        return;
    (void)osec_snprintf(prefix, sizeof(prefix), "%s/", from.name);
    c.plen = strlen(prefix);
    rc = osec_store_mailbox_list(r->s->w->st, from.owner, child_cb, &c);
    if (rc == 0)
        rc = rename_all(r->s->w->st, &from, &to, mb.id, &c);
    free(c.mb);
    if (rc == OSEC_EEXISTS)
        ms_tagged(r, OSEC_IMAP_NO, "ALREADYEXISTS", "target mailbox exists");
    else if (rc < 0)
        ms_tagged(r, OSEC_IMAP_NO, "CANNOT", "cannot rename");
    else
        ms_tagged(r, OSEC_IMAP_OK, NULL, "RENAME completed");
}

/* ---- SUBSCRIBE, NAMESPACE, STATUS ------------------------------------------------------------ */

void ms_cmd_subscribe(struct ms_req *r, bool on)
{
    struct osec_slice raw;
    struct ms_ref ref;

    (void)osec_imap_arg_astring(osec_imap_arg_at(r->cmd, 0), &raw);
    if (ms_resolve(r->s, raw, &ref) < 0) {
        ms_tagged(r, OSEC_IMAP_NO, "CANNOT", "invalid mailbox name");
        return;
    }
    if (osec_store_mailsub_set(r->s->w->st, r->s->user, ref.display, on) < 0)
        ms_tagged(r, OSEC_IMAP_NO, ms_fail_code(), "store error");
    else
        ms_tagged(r, OSEC_IMAP_OK, NULL, on ? "SUBSCRIBE completed" : "UNSUBSCRIBE completed");
}

void ms_cmd_namespace(struct ms_req *r)
{
    ms_untagged(r, "NAMESPACE ((\"\" \"/\")) ((\"" MS_OTHER_PREFIX "\" \"/\")) NIL");
    ms_tagged(r, OSEC_IMAP_OK, NULL, "NAMESPACE completed");
}

static int status_items(struct ms_req *r, const struct osec_imap_arg *list,
                        const struct osec_store_mailbox *mb, struct osec_buf *b)
{
    struct osec_imap_iter it;
    const struct osec_imap_arg *a;
    uint64_t msgs = 0, unseen = 0;

    OSEC_GUARD(osec_store_mailbox_counts(r->s->w->st, mb->id, OSEC_IMAP_FLAG_SEEN, &msgs, &unseen));
    osec_imap_iter_init(&it, r->cmd, list);
    while ((a = osec_imap_iter_next(&it)) != NULL) {
        if (b->len)
            OSEC_GUARD(osec_buf_putc(b, ' '));
        if (osec_imap_arg_is(a, "MESSAGES"))
            OSEC_GUARD(osec_buf_appendf(b, "MESSAGES %llu", (unsigned long long)msgs));
        else if (osec_imap_arg_is(a, "RECENT"))
            OSEC_GUARD(osec_buf_append_str(b, "RECENT 0"));
        else if (osec_imap_arg_is(a, "UIDNEXT"))
            OSEC_GUARD(osec_buf_appendf(b, "UIDNEXT %u", mb->uidnext));
        else if (osec_imap_arg_is(a, "UIDVALIDITY"))
            OSEC_GUARD(osec_buf_appendf(b, "UIDVALIDITY %u", mb->uidvalidity));
        else if (osec_imap_arg_is(a, "UNSEEN"))
            OSEC_GUARD(osec_buf_appendf(b, "UNSEEN %llu", (unsigned long long)unseen));
        else if (osec_imap_arg_is(a, "HIGHESTMODSEQ"))
            OSEC_GUARD(osec_buf_appendf(b, "HIGHESTMODSEQ %llu", (unsigned long long)mb->modseq));
        else
            OSEC_BAIL(OSEC_EPARSE, "unknown STATUS item");
    }
    return 0;
}

void ms_cmd_status(struct ms_req *r)
{
    struct osec_store_mailbox mb;
    struct osec_slice raw;
    struct ms_ref ref;
    struct osec_buf items, name;
    uint32_t rights;
    int rc;

    (void)osec_imap_arg_astring(osec_imap_arg_at(r->cmd, 0), &raw);
    if (ms_open(r, raw, OSEC_IMAP_OP_STATUS, &ref, &mb, &rights) < 0)
        return;
    osec_buf_init(&items, 512);
    osec_buf_init(&name, 4 * OSEC_STORE_MAILBOX_MAX + 64);
    rc = status_items(r, osec_imap_arg_at(r->cmd, 1), &mb, &items);
    if (rc == 0)
        rc = osec_imap_write_mailbox(&name, osec_slice_cstr(ref.display));
    if (rc < 0) {
        ms_tagged(r, rc == OSEC_EPARSE ? OSEC_IMAP_BAD : OSEC_IMAP_NO, NULL, "STATUS failed");
    } else {
        ms_untagged(r, "STATUS %s (%s)", osec_buf_cstr(&name), osec_buf_cstr(&items));
        ms_tagged(r, OSEC_IMAP_OK, NULL, "STATUS completed");
    }
    osec_buf_free(&items);
    osec_buf_free(&name);
}

/* ---- LIST / LSUB ------------------------------------------------------------------------- */

struct name_ent {
    char *v;
    bool noselect;
};

struct names {
    struct name_ent *e;
    size_t n, cap;
    struct ms_session *s;
};

static int names_add(struct names *ns, const char *name, bool noselect)
{
    if (ns->n == ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 64;
        struct name_ent *e;

        OSEC_ENSURE(cap <= LIST_MAX, OSEC_EBOUNDS, "too many mailboxes to list");
        e = realloc(ns->e, cap * sizeof(*e));
        OSEC_ENSURE(e != NULL, OSEC_ENOMEM, "out of memory");
        ns->e = e;
        ns->cap = cap;
    }
    ns->e[ns->n].v = strdup(name);
    OSEC_ENSURE(ns->e[ns->n].v != NULL, OSEC_ENOMEM, "out of memory");
    ns->e[ns->n++].noselect = noselect;
    return 0;
}

static void names_free(struct names *ns)
{
    for (size_t i = 0; i < ns->n; i++)
        free(ns->e[i].v);
    free(ns->e);
}

static int own_cb(const struct osec_store_mailbox *mb, void *arg)
{
    return names_add(arg, mb->name, false);
}

static int shared_cb(const struct osec_store_mailbox *mb, void *arg)
{
    struct names *ns = arg;
    char name[OSEC_STORE_MAILBOX_MAX + 1];
    uint32_t rights = 0;

    OSEC_GUARD(osec_imap_acl_myrights(ns->s->w->st, mb, ns->s->user, &rights));
    if (!(rights & OSEC_IMAP_RIGHT_L))
        return 0; /* listed only with "l" (RFC 4314) */
    if (osec_snprintf(name, sizeof(name), MS_OTHER_PREFIX "%s/%s", mb->owner, mb->name) < 0)
        return 0; /* too long to show: skip */
    return names_add(ns, name, false);
}

/* Sorted by name; among equal names the selectable one first. */
static int cmp_names(const void *a, const void *b)
{
    const struct name_ent *x = a, *y = b;
    int c = strcmp(x->v, y->v);

    return c ? c : (int)x->noselect - (int)y->noselect;
}

static bool has_name(const struct names *ns, size_t limit, const char *name)
{
    for (size_t i = 0; i < limit; i++)
        if (strcmp(ns->e[i].v, name) == 0)
            return true;
    return false;
}

/* Parents of shared mailboxes ("Other Users", "Other Users/bob") appear
 * as \Noselect so clients can walk the tree. */
static int add_parents(struct names *ns)
{
    size_t n = ns->n;
    char buf[OSEC_STORE_MAILBOX_MAX + 1];

    for (size_t i = 0; i < n; i++) {
        (void)osec_strlcpy(buf, ns->e[i].v, sizeof(buf)); /* same size: fits */
        for (char *p = strchr(buf, '/'); p; p = strchr(p + 1, '/')) {
            *p = '\0';
            if (!has_name(ns, ns->n, buf))
                OSEC_GUARD(names_add(ns, buf, true));
            *p = '/';
        }
    }
    return 0;
}

#define PATTERN_MAX 512

/* RFC 3501 6.3.8: "*" matches anything, "%" anything but the delimiter.
 * An NFA walk over the pattern positions: O(len(name) * len(pattern)),
 * no recursion, no backtracking blow-up. */
static bool match(const char *pat, const char *name)
{
    uint8_t cur[PATTERN_MAX + 1], nxt[PATTERN_MAX + 1];
    size_t pl = strlen(pat);

    if (pl > PATTERN_MAX)
        return false;
    memset(cur, 0, pl + 1);
    cur[0] = 1;
    for (const char *n = name;; n++) {
        for (size_t i = 0; i < pl; i++) /* wildcards may match nothing */
            if (cur[i] && (pat[i] == '*' || pat[i] == '%'))
                cur[i + 1] = 1;
        if (!*n)
            return cur[pl] != 0;
        memset(nxt, 0, pl + 1);
        for (size_t i = 0; i < pl; i++) {
            if (!cur[i])
                continue;
            if (pat[i] == '*' || (pat[i] == '%' && *n != '/'))
                nxt[i] = 1;
            else if (pat[i] == *n)
                nxt[i + 1] = 1;
        }
        memcpy(cur, nxt, pl + 1);
    }
}

static bool has_children(const struct names *ns, const char *name)
{
    size_t l = strlen(name);

    for (size_t i = 0; i < ns->n; i++)
        if (strncmp(ns->e[i].v, name, l) == 0 && ns->e[i].v[l] == '/')
            return true;
    return false;
}

static int emit(struct ms_req *r, const struct names *ns, const char *pattern, bool lsub)
{
    for (size_t i = 0; i < ns->n; i++) {
        const struct name_ent *e = &ns->e[i];
        const char *flags;

        if ((i > 0 && strcmp(e->v, ns->e[i - 1].v) == 0) || !match(pattern, e->v))
            continue;
        if (e->noselect)
            flags = has_children(ns, e->v) ? "\\Noselect \\HasChildren" : "\\Noselect";
        else
            flags = has_children(ns, e->v) ? "\\HasChildren" : "\\HasNoChildren";
        OSEC_GUARD(osec_imap_write_list(r->out, lsub ? "LSUB" : "LIST", lsub ? NULL : flags, '/',
                                        osec_slice_cstr(e->v)));
        if (r->out->len > MS_OUT_FLUSH)
            OSEC_GUARD(ms_flush(r->s, r->out));
    }
    return 0;
}

static int sub_cb(const char *name, void *arg)
{
    return names_add(arg, name, false);
}

static int gather(struct ms_session *s, struct names *ns, bool lsub)
{
    if (lsub)
        return osec_store_mailsub_list(s->w->st, s->user, sub_cb, ns);
    OSEC_GUARD(osec_store_mailbox_list(s->w->st, s->user, own_cb, ns));
    OSEC_GUARD(osec_store_mailbox_list_shared(s->w->st, s->user, shared_cb, ns));
    return add_parents(ns);
}

/* reference + pattern, decoded from modified UTF-7 */
static int list_pattern(struct ms_req *r, char *out, size_t len, bool *empty)
{
    struct osec_slice ref, pat;
    struct osec_buf b;
    int rc = 0;

    if (osec_imap_arg_astring(osec_imap_arg_at(r->cmd, 0), &ref) < 0 ||
        osec_imap_arg_pattern(osec_imap_arg_at(r->cmd, 1), &pat) < 0 || r->cmd->argc != 2)
        OSEC_BAIL(OSEC_EPARSE, "LIST needs a reference and a pattern (no LIST-EXTENDED)");
    *empty = pat.len == 0;
    if (*empty)
        return 0;
    osec_buf_init(&b, 2 * OSEC_IMAP_MAILBOX_MAX + 2);
    if (ref.len)
        OSEC_CHECK(rc, osec_imap_mailbox_decode(ref, &b));
    OSEC_CHECK(rc, osec_imap_mailbox_decode(pat, &b));
    OSEC_CHECK(rc, osec_strlcpy(out, osec_buf_cstr(&b), len));
    if (b.len > PATTERN_MAX)
        OSEC_FAIL(rc, OSEC_EBOUNDS, "LIST pattern too long");
out:
    osec_buf_free(&b);
    return rc;
}

void ms_cmd_list(struct ms_req *r, bool lsub)
{
    char pattern[2 * OSEC_IMAP_MAILBOX_MAX + 2];
    struct names ns = { NULL, 0, 0, r->s };
    bool empty = false;
    int rc;

    if (list_pattern(r, pattern, sizeof(pattern), &empty) < 0) {
        ms_tagged(r, OSEC_IMAP_BAD, NULL, "invalid LIST arguments");
        return;
    }
    if (empty) { /* the hierarchy delimiter (RFC 3501 6.3.8) */
        if (!lsub)
            ms_untagged(r, "LIST (\\Noselect) \"/\" \"\"");
        ms_tagged(r, OSEC_IMAP_OK, NULL, "LIST completed");
        return;
    }
    rc = gather(r->s, &ns, lsub);
    if (rc == 0) {
        qsort(ns.e, ns.n, sizeof(*ns.e), cmp_names);
        rc = emit(r, &ns, pattern, lsub);
    }
    names_free(&ns);
    if (rc < 0)
        ms_tagged(r, OSEC_IMAP_NO, NULL, "LIST failed");
    else
        ms_tagged(r, OSEC_IMAP_OK, NULL, lsub ? "LSUB completed" : "LIST completed");
}
