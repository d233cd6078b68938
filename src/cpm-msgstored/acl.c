/* cpm-msgstored: ACL commands (RFC 4314), METADATA (RFC 5464) and the
 * principal's request for S/MIME message protection. */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "msgstored.h"
#include "omasec/account.h"
#include "omasec/error.h"
#include "omasec/log.h"
#include "omasec/mail.h"

/* ---- ACL --------------------------------------------------------------------- */

struct acl_out {
    struct osec_buf *out;
};

static int write_rights(struct osec_buf *out, uint32_t r)
{
    struct osec_buf b;
    int rc;

    osec_buf_init(&b, 64);
    rc = osec_imap_rights_write(&b, r);
    if (rc == 0)
        rc = osec_imap_write_astring(out, b.len ? osec_buf_slice(&b) : osec_slice_cstr(""));
    osec_buf_free(&b);
    return rc;
}

static int acl_entry_cb(const struct osec_store_acl *e, void *arg)
{
    struct acl_out *ao = arg;
    uint32_t r = 0;

    if (osec_imap_rights_parse(osec_slice_cstr(e->rights), NULL, &r) < 0)
        return 0; /* malformed rows are not shown (and grant nothing) */
    OSEC_GUARD(osec_buf_putc(ao->out, ' '));
    OSEC_GUARD(osec_imap_write_astring(ao->out, osec_slice_cstr(e->identifier)));
    OSEC_GUARD(osec_buf_putc(ao->out, ' '));
    return write_rights(ao->out, r);
}

static int getacl(struct ms_req *r, const struct ms_ref *ref, const struct osec_store_mailbox *mb)
{
    char key[OSEC_STORE_ACLKEY_MAX];
    struct acl_out ao = { r->out };
    size_t start = r->out->len;
    int rc;

    OSEC_GUARD(osec_store_mailbox_acl_key(mb->id, key, sizeof(key)));
    OSEC_CHECK(rc, osec_buf_append_str(r->out, "* ACL "));
    OSEC_CHECK(rc, osec_imap_write_mailbox(r->out, osec_slice_cstr(ref->display)));
    OSEC_CHECK(rc, osec_buf_putc(r->out, ' '));
    OSEC_CHECK(rc, osec_imap_write_astring(r->out, osec_slice_cstr(mb->owner)));
    OSEC_CHECK(rc, osec_buf_append_str(r->out, " lrswipkxtecda"));
    OSEC_CHECK(rc, osec_store_acl_list(r->s->w->st, key, acl_entry_cb, &ao));
    rc = osec_buf_append_str(r->out, "\r\n");
out:
    if (rc < 0)
        r->out->len = start;
    return rc;
}

/* "-name" for negative rights, as stored */
static int stored_identifier(const struct osec_imap_setacl *a, char *out, size_t len)
{
    char id[OSEC_STORE_IDENT_MAX + 1];

    OSEC_GUARD(osec_slice_to_cstr(a->identifier, id, sizeof(id)));
    return osec_snprintf(out, len, "%s%s", a->negative ? "-" : "", id);
}

static int target_ok(struct ms_req *r, const char *ident, const char *owner)
{
    const char *id = ident[0] == '-' ? ident + 1 : ident;
    struct osec_store_user u;
    int rc = osec_imap_acl_identifier_check(ident, owner);

    if (rc == OSEC_EPERM) {
        ms_tagged(r, OSEC_IMAP_NO, "CANNOT", "the owner's rights cannot be changed");
        return rc;
    }
    if (rc < 0) {
        ms_tagged(r, OSEC_IMAP_BAD, NULL, "invalid identifier");
        return rc;
    }
    if (strcmp(id, "anyone") == 0 || strcmp(id, "authenticated") == 0)
        return 0;
    /* no grants to names that do not exist (yet): a user created later
     * under that name must not inherit them */
    if (osec_store_user_get(r->s->w->st, id, &u) < 0) {
        ms_tagged(r, OSEC_IMAP_NO, "NONEXISTENT", "no such user");
        return OSEC_ENOTFOUND;
    }
    osec_store_user_clear(&u);
    return 0;
}

static int setacl(struct ms_req *r, const struct osec_imap_setacl *a,
                  const struct osec_store_mailbox *mb, bool del)
{
    struct osec_store_acl e, cur;
    char detail[OSEC_STORE_DETAIL_MAX];

    memset(&e, 0, sizeof(e));
    OSEC_GUARD(osec_store_mailbox_acl_key(mb->id, e.mailbox, sizeof(e.mailbox)));
    if (stored_identifier(a, e.identifier, sizeof(e.identifier)) < 0) {
        ms_tagged(r, OSEC_IMAP_BAD, NULL, "invalid identifier");
        return OSEC_EINVAL;
    }
    OSEC_GUARD(target_ok(r, e.identifier, mb->owner));
    if (!del) {
        if (osec_store_acl_get(r->s->w->st, e.mailbox, e.identifier, &cur) < 0)
            cur.rights[0] = '\0';
        OSEC_GUARD(osec_imap_acl_modify(cur.rights, a->mod, a->rights, e.rights, sizeof(e.rights)));
        del = e.rights[0] == '\0';
    }
    if (del) {
        int rc = osec_store_acl_delete(r->s->w->st, e.mailbox, e.identifier);

        OSEC_GUARD(rc == OSEC_ENOTFOUND ? 0 : rc);
    } else {
        OSEC_GUARD(osec_store_acl_set(r->s->w->st, &e));
    }
    (void)osec_snprintf(detail, sizeof(detail), "mailbox=%s/%s identifier=%s rights=%s",
                        mb->owner, mb->name, e.identifier, del ? "(none)" : e.rights);
    ms_audit(r->s, del ? "imap.acl_delete" : "imap.acl_set", mb->owner, detail);
    return 0;
}

static void listrights(struct ms_req *r, const struct ms_ref *ref,
                       const struct osec_store_mailbox *mb, const struct osec_imap_setacl *a)
{
    struct osec_buf name, id;

    osec_buf_init(&name, 8 * OSEC_STORE_MAILBOX_MAX);
    osec_buf_init(&id, 2 * OSEC_STORE_IDENT_MAX + 8);
    if (osec_imap_write_mailbox(&name, osec_slice_cstr(ref->display)) == 0 &&
        osec_imap_write_astring(&id, a->identifier) == 0) {
        if (!a->negative && osec_slice_eq_cstr(a->identifier, mb->owner))
            ms_untagged(r, "LISTRIGHTS %s %s lrswipkxtea", osec_buf_cstr(&name), osec_buf_cstr(&id));
        else
            ms_untagged(r, "LISTRIGHTS %s %s \"\" l r s w i p k x t e a", osec_buf_cstr(&name),
                        osec_buf_cstr(&id));
    }
    osec_buf_free(&name);
    osec_buf_free(&id);
}

static void myrights(struct ms_req *r, const struct ms_ref *ref, uint32_t rights)
{
    struct osec_buf b;

    osec_buf_init(&b, 8 * OSEC_STORE_MAILBOX_MAX + 64);
    if (osec_buf_append_str(&b, "* MYRIGHTS ") == 0 &&
        osec_imap_write_mailbox(&b, osec_slice_cstr(ref->display)) == 0 &&
        osec_buf_putc(&b, ' ') == 0 && write_rights(&b, rights) == 0 &&
        osec_buf_append_str(&b, "\r\n") == 0)
        (void)osec_buf_append_slice(r->out, osec_buf_slice(&b));
    osec_buf_free(&b);
}

void ms_cmd_acl(struct ms_req *r)
{
    enum osec_imap_cmd_name n = r->cmd->name;
    struct osec_imap_setacl a;
    struct osec_store_mailbox mb;
    struct ms_ref ref;
    uint32_t rights = 0;
    int rc = 0;

    if (osec_imap_setacl_parse(r->cmd, &a) < 0) {
        ms_tagged(r, OSEC_IMAP_BAD, NULL, "invalid ACL arguments");
        return;
    }
    if (ms_open(r, a.mailbox, n == OSEC_IMAP_CMD_MYRIGHTS ? OSEC_IMAP_OP_LIST : OSEC_IMAP_OP_ADMIN,
                &ref, &mb, &rights) < 0)
        return;
    if (n == OSEC_IMAP_CMD_GETACL)
        rc = getacl(r, &ref, &mb);
    else if (n == OSEC_IMAP_CMD_SETACL || n == OSEC_IMAP_CMD_DELETEACL)
        rc = setacl(r, &a, &mb, n == OSEC_IMAP_CMD_DELETEACL);
    else if (n == OSEC_IMAP_CMD_LISTRIGHTS)
        listrights(r, &ref, &mb, &a);
    else
        myrights(r, &ref, rights);
    if (rc == OSEC_EPERM || rc == OSEC_EINVAL || rc == OSEC_ENOTFOUND)
        return; /* answered by target_ok / setacl */
    if (rc < 0)
        ms_tagged(r, OSEC_IMAP_NO, ms_fail_code(), "ACL command failed");
    else
        ms_tagged(r, OSEC_IMAP_OK, NULL, "completed");
}

/* ---- METADATA ------------------------------------------------------------------------ */

/* Where an entry of mailbox raw lives: (mailbox id, user key); 0 or the
 * tagged NO already written. */
static int meta_place(struct ms_req *r, struct osec_slice raw, bool write, bool priv,
                      int64_t *id, struct ms_ref *ref)
{
    struct osec_store_mailbox mb;
    uint32_t rights;
    enum osec_imap_acl_op op = !write ? OSEC_IMAP_OP_META_READ
                             : priv ? OSEC_IMAP_OP_META_PRIVATE : OSEC_IMAP_OP_META_SHARED;

    memset(ref, 0, sizeof(*ref));
    if (raw.len == 0) { /* server entries: /shared ones belong to the operator */
        *id = 0;
        if (write && !priv) {
            ms_tagged(r, OSEC_IMAP_NO, "NOPERM", "server /shared entries are read-only");
            return OSEC_EPERM;
        }
        return 0;
    }
    OSEC_GUARD(ms_open(r, raw, op, ref, &mb, &rights));
    *id = mb.id;
    return 0;
}

static int get_entry(struct ms_req *r, struct osec_buf *items, int64_t id, struct osec_slice entry,
                     const struct osec_imap_getmetadata *g, unsigned *longer)
{
    char name[OSEC_STORE_ENTRY_MAX + 1];
    bool priv = osec_slice_starts_ci(entry, "/private/");
    struct osec_store_blob v = { NULL, 0 };
    struct osec_slice val;
    int rc;

    OSEC_GUARD(osec_slice_to_cstr(entry, name, sizeof(name)));
    rc = osec_store_mailmeta_get(r->s->w->st, id, priv ? r->s->user : "", name, &v);
    if (rc == OSEC_ENOTFOUND)
        return 0;
    OSEC_GUARD(rc);
    if (g->has_maxsize && v.len > g->maxsize) {
        (*longer)++;
        osec_store_blob_free(&v);
        return 0;
    }
    val = osec_slice_make(v.data, v.len);
    if (items->len)
        rc = osec_buf_putc(items, ' ');
    if (rc == 0)
        rc = osec_imap_write_astring(items, entry);
    if (rc == 0)
        rc = osec_buf_putc(items, ' ');
    if (rc == 0)
        rc = osec_imap_write_nstring(items, &val);
    osec_store_blob_free(&v);
    return rc;
}

static void getmeta_reply(struct ms_req *r, const struct ms_ref *ref, struct osec_buf *items,
                          unsigned longer)
{
    struct osec_buf name;
    char code[64];

    osec_buf_init(&name, 8 * OSEC_STORE_MAILBOX_MAX + 8);
    if (ref->display[0] == '\0' ||
        osec_imap_write_mailbox(&name, osec_slice_cstr(ref->display)) < 0) {
        osec_buf_reset(&name);
        (void)osec_buf_append_str(&name, "\"\"");
    }
    if (items->len)
        ms_untagged(r, "METADATA %s (%s)", osec_buf_cstr(&name), osec_buf_cstr(items));
    osec_buf_free(&name);
    (void)osec_snprintf(code, sizeof(code), "METADATA LONGENTRIES %u", longer);
    ms_tagged(r, OSEC_IMAP_OK, longer ? code : NULL, "GETMETADATA completed");
}

void ms_cmd_getmetadata(struct ms_req *r)
{
    struct osec_imap_getmetadata g;
    struct osec_buf items;
    struct ms_ref ref;
    unsigned longer = 0;
    int64_t id = 0;
    int rc = 0;

    if (osec_imap_getmetadata_parse(r->cmd, &g) < 0) {
        ms_tagged(r, OSEC_IMAP_BAD, NULL, "invalid GETMETADATA arguments");
        return;
    }
    if (meta_place(r, g.mailbox, false, true, &id, &ref) < 0)
        return;
    osec_buf_init(&items, r->out->max);
    for (size_t i = 0; i < g.nentries && rc == 0; i++)
        rc = get_entry(r, &items, id, g.entry[i], &g, &longer);
    if (rc < 0)
        ms_tagged(r, OSEC_IMAP_NO, ms_fail_code(), "GETMETADATA failed");
    else
        getmeta_reply(r, &ref, &items, longer);
    osec_buf_free(&items);
}

/* The certificate a user registers for S/MIME must verify and name them. */
static int check_cert(struct ms_req *r, struct osec_slice pem)
{
    char principal[OSEC_STORE_URI_MAX + 1], owner[OSEC_STORE_NAME_MAX + 1];
    X509 *cert = NULL;
    int rc = osec_mail_smime_cert_load(pem, r->s->w->srv->ca, &cert, principal, sizeof(principal));

    X509_free(cert);
    if (rc == 0 && strcmp(principal, r->s->user) != 0 &&
        (osec_store_address_owner(r->s->w->st, principal, owner, sizeof(owner)) < 0 ||
         strcmp(owner, r->s->user) != 0))
        rc = OSEC_EPERM;
    if (rc < 0) {
        ms_audit(r->s, "smime.cert_refused", r->s->user, osec_error_msg());
        ms_tagged(r, OSEC_IMAP_NO, "CANNOT",
                  "certificate refused: it must verify against the CA and name this user");
    }
    return rc;
}

static int special_entry(struct ms_req *r, int64_t id, const char *entry, struct osec_slice v,
                         bool nil)
{
    if (id != 0 || nil)
        return 0;
    if (strcmp(entry, MS_META_CERT) == 0)
        return check_cert(r, v);
    if (strcmp(entry, MS_META_PROTECT) == 0 && !osec_slice_eq_cstr(v, "smime") &&
        !osec_slice_eq_cstr(v, "none")) {
        ms_tagged(r, OSEC_IMAP_NO, "CANNOT", "message-protection is smime or none");
        return OSEC_EINVAL;
    }
    return 0;
}

static int set_entries(struct ms_req *r, const struct osec_imap_setmetadata *sm, int64_t id)
{
    struct osec_store *st = r->s->w->st;
    int rc = 0;

    OSEC_GUARD(osec_store_begin(st));
    for (size_t i = 0; i < sm->nentries; i++) {
        char entry[OSEC_STORE_ENTRY_MAX + 1];
        bool priv = osec_slice_starts_ci(sm->item[i].entry, "/private/");

        OSEC_CHECK(rc, osec_slice_to_cstr(sm->item[i].entry, entry, sizeof(entry)));
        OSEC_CHECK(rc, osec_store_mailmeta_set(st, id, priv ? r->s->user : "", entry,
                                               sm->item[i].nil ? NULL : sm->item[i].value.ptr
                                                                        ? sm->item[i].value.ptr
                                                                        : (const uint8_t *)"",
                                               sm->item[i].value.len));
    }
    return osec_store_commit(st);
out:
    (void)osec_store_rollback(st);
    return rc;
}

void ms_cmd_setmetadata(struct ms_req *r)
{
    struct osec_imap_setmetadata *sm = calloc(1, sizeof(*sm));
    struct ms_ref ref;
    int64_t id = 0;
    bool shared_any = false;

    if (!sm || osec_imap_setmetadata_parse(r->cmd, sm) < 0) {
        ms_tagged(r, OSEC_IMAP_BAD, NULL, "invalid SETMETADATA arguments");
        free(sm);
        return;
    }
    for (size_t i = 0; i < sm->nentries; i++) {
        shared_any |= !osec_slice_starts_ci(sm->item[i].entry, "/private/");
    }
    /* the strictest right any entry needs */
    if (meta_place(r, sm->mailbox, true, !shared_any, &id, &ref) < 0)
        goto done;
    for (size_t i = 0; i < sm->nentries; i++) {
        char entry[OSEC_STORE_ENTRY_MAX + 1];

        if (osec_slice_to_cstr(sm->item[i].entry, entry, sizeof(entry)) < 0 ||
            special_entry(r, id, entry, sm->item[i].value, sm->item[i].nil) < 0)
            goto done;
    }
    if (set_entries(r, sm, id) < 0) {
        ms_tagged(r, OSEC_IMAP_NO, "METADATA MAXSIZE 65536", "SETMETADATA failed");
        goto done;
    }
    if (id == 0)
        (void)ms_protect_setup(r->s);
    ms_tagged(r, OSEC_IMAP_OK, NULL, "SETMETADATA completed");
done:
    free(sm);
}

/* ---- S/MIME protection request ------------------------------------------------------------ */

static X509 *registered_cert(struct ms_session *s)
{
    struct osec_store_blob v = { NULL, 0 };
    char principal[OSEC_STORE_URI_MAX + 1];
    X509 *cert = NULL;

    if (osec_store_mailmeta_get(s->w->st, 0, s->user, MS_META_CERT, &v) == 0 &&
        osec_mail_smime_cert_load(osec_slice_make(v.data, v.len), s->w->srv->ca, &cert,
                                  principal, sizeof(principal)) < 0)
        cert = NULL; /* expired or no longer trusted: as if none */
    osec_store_blob_free(&v);
    return cert;
}

static bool user_asked(struct ms_session *s)
{
    struct osec_store_blob v = { NULL, 0 };
    bool asked = (s->user_flags & OSEC_USER_ENCRYPT_MSGS) != 0;

    if (osec_store_mailmeta_get(s->w->st, 0, s->user, MS_META_PROTECT, &v) == 0)
        asked = osec_slice_eq_cstr(osec_slice_make(v.data, v.len), "smime");
    osec_store_blob_free(&v);
    return asked;
}

int ms_protect_setup(struct ms_session *s)
{
    char reason[OSEC_MSGPOLICY_REASON_MAX] = "";
    bool asked = user_asked(s);
    X509 *cert = asked ? registered_cert(s) : NULL;
    int rc;

    X509_free(s->protect_cert);
    s->protect_cert = NULL;
    rc = osec_msgpolicy_protect(s->w->srv->smime && s->w->srv->sign_cert, asked, cert != NULL,
                                &s->protect, reason, sizeof(reason));
    s->protect_blocked = rc < 0;
    if (s->protect)
        s->protect_cert = cert;
    else
        X509_free(cert);
    if (rc < 0)
        osec_warn("smime.unavailable", "user=%s reason=\"%s\"", s->user, reason);
    return rc;
}
