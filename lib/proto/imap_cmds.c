/* Argument parsers of single commands: STORE, APPEND, the ACL commands
 * (RFC 4314) and METADATA (RFC 5464). */
#include <string.h>

#include "omasec/error.h"
#include "proto/imap_int.h"

static int seqset_arg(const struct osec_imap_arg *a, struct osec_slice *out)
{
    if (!osec_imap_atomish(a) || !osec_imap_seq_valid(a->val, OSEC_IMAP_SEQ_DOLLAR))
        IMAP_BAD("invalid sequence set");
    *out = a->val;
    return 0;
}

/* ---- STORE -------------------------------------------------------------------- */

/* "(UNCHANGEDSINCE n)" (RFC 7162) */
static int store_modifiers(const struct osec_imap_cmd *cmd, const struct osec_imap_arg *list,
                           struct osec_imap_store *out)
{
    struct osec_imap_iter it;

    osec_imap_iter_init(&it, cmd, list);
    if (list->count != 2 || !osec_imap_arg_is(osec_imap_iter_next(&it), "UNCHANGEDSINCE"))
        IMAP_BAD("invalid STORE modifier");
    OSEC_GUARD(osec_imap_arg_number(osec_imap_iter_next(&it), INT64_MAX, &out->unchangedsince));
    out->has_unchangedsince = true;
    return 0;
}

/* ["+" / "-"] "FLAGS" [".SILENT"] */
static int store_item(const struct osec_imap_arg *a, struct osec_imap_store *out)
{
    struct osec_slice v;

    OSEC_GUARD(osec_imap_arg_atom(a, &v));
    out->op = OSEC_IMAP_STORE_SET;
    if (v.ptr[0] == '+' || v.ptr[0] == '-') {
        out->op = v.ptr[0] == '+' ? OSEC_IMAP_STORE_ADD : OSEC_IMAP_STORE_REMOVE;
        v = osec_slice_sub(v, 1, v.len);
    }
    out->silent = osec_imap_ci(v, "FLAGS.SILENT");
    if (!out->silent && !osec_imap_ci(v, "FLAGS"))
        IMAP_BAD("invalid STORE item");
    return 0;
}

int osec_imap_store_parse(const struct osec_imap_cmd *cmd, struct osec_imap_store *out)
{
    struct osec_imap_iter it;
    const struct osec_imap_arg *a;

    memset(out, 0, sizeof(*out));
    osec_imap_iter_init(&it, cmd, NULL);
    OSEC_GUARD(seqset_arg(osec_imap_iter_next(&it), &out->seqset));
    a = osec_imap_iter_next(&it);
    if (a && a->type == OSEC_IMAP_LIST) {
        OSEC_GUARD(store_modifiers(cmd, a, out));
        a = osec_imap_iter_next(&it);
    }
    if (!a)
        IMAP_BAD("missing STORE item");
    OSEC_GUARD(store_item(a, out));
    a = osec_imap_iter_next(&it);
    if (!a)
        IMAP_BAD("missing flags");
    if (a->type == OSEC_IMAP_LIST) {
        if (osec_imap_iter_peek(&it) != NULL)
            IMAP_BAD("too many arguments");
        return osec_imap_flags_parse(cmd, a, &out->flags);
    }
    for (; a; a = osec_imap_iter_next(&it))
        OSEC_GUARD(osec_imap_flag_add(a, &out->flags));
    return 0;
}

/* ---- APPEND ------------------------------------------------------------------- */

int osec_imap_append_parse(const struct osec_imap_cmd *cmd, struct osec_imap_append *out)
{
    struct osec_imap_iter it;
    const struct osec_imap_arg *a;

    memset(out, 0, sizeof(*out));
    osec_imap_iter_init(&it, cmd, NULL);
    OSEC_GUARD(osec_imap_arg_astring(osec_imap_iter_next(&it), &out->mailbox));
    a = osec_imap_iter_next(&it);
    if (a && a->type == OSEC_IMAP_LIST) {
        OSEC_GUARD(osec_imap_flags_parse(cmd, a, &out->flags));
        a = osec_imap_iter_next(&it);
    }
    if (a && a->type == OSEC_IMAP_QUOTED) {
        OSEC_GUARD(osec_imap_datetime_parse(a->val, &out->date));
        out->has_date = true;
        a = osec_imap_iter_next(&it);
    }
    if (!a || a->type != OSEC_IMAP_LITERAL)
        IMAP_BAD("APPEND needs a message literal");
    if (osec_imap_iter_peek(&it) != NULL)
        IMAP_BAD("only one message per APPEND");
    out->message = a->val;
    return 0;
}

/* ---- ACL (RFC 4314) -------------------------------------------------------------- */

static const char rights_order[] = "lrswipkxtea";

int osec_imap_rights_parse(struct osec_slice s, int *mod, uint32_t *rights)
{
    uint32_t r = 0;
    size_t i = 0;

    if (mod)
        *mod = 0;
    if (s.len > 0 && (s.ptr[0] == '+' || s.ptr[0] == '-')) {
        if (!mod)
            IMAP_BAD("unexpected rights modifier");
        *mod = s.ptr[0] == '+' ? 1 : -1;
        i = 1;
    }
    for (; i < s.len; i++) {
        uint8_t c = s.ptr[i];
        const char *p = c ? memchr(rights_order, c, sizeof(rights_order) - 1) : NULL;

        if (p)
            r |= 1u << (p - rights_order);
        else if (c >= '0' && c <= '9')
            r |= 1u << (11 + (c - '0'));
        else if (c == 'c')
            r |= OSEC_IMAP_RIGHT_K | OSEC_IMAP_RIGHT_X;
        else if (c == 'd')
            r |= OSEC_IMAP_RIGHT_E | OSEC_IMAP_RIGHT_T;
        else
            IMAP_BAD("invalid right");
    }
    *rights = r;
    return 0;
}

int osec_imap_rights_write(struct osec_buf *out, uint32_t rights)
{
    static const char order[] = "lrswipkxtecda";
    char s[sizeof(order) + 10];
    size_t n = 0;

    for (const char *p = order; *p; p++) {
        const char *q = strchr(rights_order, *p);
        bool on;

        if (*p == 'c')
            on = (rights & (OSEC_IMAP_RIGHT_K | OSEC_IMAP_RIGHT_X)) != 0;
        else if (*p == 'd')
            on = (rights & (OSEC_IMAP_RIGHT_E | OSEC_IMAP_RIGHT_T)) != 0;
        else
            on = (rights & (1u << (q - rights_order))) != 0;
        if (on)
            s[n++] = *p;
    }
    for (int d = 0; d < 10; d++)
        if (rights & (1u << (11 + d)))
            s[n++] = (char)('0' + d);
    return osec_buf_append(out, s, n);
}

int osec_imap_identifier_parse(struct osec_slice s, bool *negative, struct osec_slice *id)
{
    *negative = s.len > 0 && s.ptr[0] == '-';
    if (*negative)
        s = osec_slice_sub(s, 1, s.len);
    if (s.len == 0 || !osec_imap_utf8_ok(s))
        IMAP_BAD("invalid identifier");
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] < 0x20 || s.ptr[i] == 0x7f)
            IMAP_BAD("invalid identifier");
    *id = s;
    return 0;
}

/* Arguments of the ACL commands: mailbox [identifier [rights]]. */
static size_t acl_argc(enum osec_imap_cmd_name name)
{
    switch (name) {
    case OSEC_IMAP_CMD_SETACL:
        return 3;
    case OSEC_IMAP_CMD_DELETEACL:
    case OSEC_IMAP_CMD_LISTRIGHTS:
        return 2;
    case OSEC_IMAP_CMD_GETACL:
    case OSEC_IMAP_CMD_MYRIGHTS:
        return 1;
    default:
        return 0;
    }
}

int osec_imap_setacl_parse(const struct osec_imap_cmd *cmd, struct osec_imap_setacl *out)
{
    size_t want = acl_argc(cmd->name);
    struct osec_slice v;

    memset(out, 0, sizeof(*out));
    if (want == 0 || cmd->argc != want)
        IMAP_BAD("wrong number of ACL arguments");
    OSEC_GUARD(osec_imap_arg_astring(osec_imap_arg_at(cmd, 0), &out->mailbox));
    if (want >= 2) {
        OSEC_GUARD(osec_imap_arg_astring(osec_imap_arg_at(cmd, 1), &v));
        OSEC_GUARD(osec_imap_identifier_parse(v, &out->negative, &out->identifier));
    }
    if (want == 3) {
        OSEC_GUARD(osec_imap_arg_astring(osec_imap_arg_at(cmd, 2), &v));
        OSEC_GUARD(osec_imap_rights_parse(v, &out->mod, &out->rights));
    }
    return 0;
}

/* ---- METADATA (RFC 5464) ------------------------------------------------------------- */

int osec_imap_metadata_entry_check(struct osec_slice e)
{
    size_t pre;

    if (osec_slice_starts_ci(e, "/private/"))
        pre = 9;
    else if (osec_slice_starts_ci(e, "/shared/"))
        pre = 8;
    else
        IMAP_BAD("entry must start with /private/ or /shared/");
    if (e.len == pre || e.ptr[e.len - 1] == '/' || !osec_imap_utf8_ok(e))
        IMAP_BAD("invalid entry name");
    for (size_t i = 0; i < e.len; i++) {
        uint8_t c = e.ptr[i];

        if (c < 0x20 || c == 0x7f || c == '*' || c == '%' ||
            (c == '/' && i + 1 < e.len && e.ptr[i + 1] == '/'))
            IMAP_BAD("invalid entry name");
    }
    return 0;
}

static int entry_arg(const struct osec_imap_arg *a, struct osec_slice *out)
{
    OSEC_GUARD(osec_imap_arg_astring(a, out));
    return osec_imap_metadata_entry_check(*out);
}

/* "(MAXSIZE n DEPTH 0|1|infinity)" in any order, each at most once. */
static int md_options(const struct osec_imap_cmd *cmd, const struct osec_imap_arg *list,
                      struct osec_imap_getmetadata *out)
{
    struct osec_imap_iter it;
    const struct osec_imap_arg *k;
    bool depth = false;

    osec_imap_iter_init(&it, cmd, list);
    if (list->count == 0)
        IMAP_BAD("empty GETMETADATA options");
    while ((k = osec_imap_iter_next(&it)) != NULL) {
        const struct osec_imap_arg *v = osec_imap_iter_next(&it);

        if (osec_imap_arg_is(k, "MAXSIZE") && !out->has_maxsize) {
            OSEC_GUARD(osec_imap_arg_number(v, UINT32_MAX, &out->maxsize));
            out->has_maxsize = true;
        } else if (osec_imap_arg_is(k, "DEPTH") && !depth) {
            depth = true;
            if (osec_imap_arg_is(v, "0") || osec_imap_arg_is(v, "1"))
                out->depth = v->val.ptr[0] - '0';
            else if (osec_imap_arg_is(v, "infinity"))
                out->depth = -1;
            else
                IMAP_BAD("invalid DEPTH");
        } else {
            IMAP_BAD("invalid GETMETADATA option");
        }
    }
    return 0;
}

static int md_entries(const struct osec_imap_cmd *cmd, const struct osec_imap_arg *a,
                      struct osec_imap_getmetadata *out)
{
    struct osec_imap_iter it;
    const struct osec_imap_arg *e;

    if (!a || a->type != OSEC_IMAP_LIST) {
        out->nentries = 1;
        return entry_arg(a, &out->entry[0]);
    }
    if (a->count == 0)
        IMAP_BAD("empty entry list");
    osec_imap_iter_init(&it, cmd, a);
    while ((e = osec_imap_iter_next(&it)) != NULL) {
        OSEC_ENSURE(out->nentries < OSEC_IMAP_ENTRIES_MAX, OSEC_EBOUNDS, "imap: too many entries");
        OSEC_GUARD(entry_arg(e, &out->entry[out->nentries++]));
    }
    return 0;
}

/* RFC 5464 puts the options before the mailbox; its own examples (and
 * clients written from them) put them after: accept both. */
int osec_imap_getmetadata_parse(const struct osec_imap_cmd *cmd, struct osec_imap_getmetadata *out)
{
    struct osec_imap_iter it;
    const struct osec_imap_arg *a;

    memset(out, 0, sizeof(*out));
    osec_imap_iter_init(&it, cmd, NULL);
    a = osec_imap_iter_next(&it);
    if (a && a->type == OSEC_IMAP_LIST) {
        OSEC_GUARD(md_options(cmd, a, out));
        a = osec_imap_iter_next(&it);
    }
    OSEC_GUARD(osec_imap_arg_astring(a, &out->mailbox));
    a = osec_imap_iter_next(&it);
    if (a && a->type == OSEC_IMAP_LIST && osec_imap_iter_peek(&it) && cmd->argc == 3) {
        OSEC_GUARD(md_options(cmd, a, out));
        a = osec_imap_iter_next(&it);
    }
    OSEC_GUARD(md_entries(cmd, a, out));
    if (osec_imap_iter_peek(&it) != NULL)
        IMAP_BAD("too many GETMETADATA arguments");
    return 0;
}

int osec_imap_setmetadata_parse(const struct osec_imap_cmd *cmd, struct osec_imap_setmetadata *out)
{
    struct osec_imap_iter it;
    const struct osec_imap_arg *list, *e;

    memset(out, 0, sizeof(*out));
    if (cmd->argc != 2)
        IMAP_BAD("SETMETADATA needs a mailbox and a list");
    OSEC_GUARD(osec_imap_arg_astring(osec_imap_arg_at(cmd, 0), &out->mailbox));
    list = osec_imap_arg_at(cmd, 1);
    if (list->type != OSEC_IMAP_LIST || list->count == 0 || list->count % 2 != 0)
        IMAP_BAD("SETMETADATA needs entry/value pairs");
    osec_imap_iter_init(&it, cmd, list);
    while ((e = osec_imap_iter_next(&it)) != NULL) {
        size_t i = out->nentries;

        OSEC_ENSURE(i < OSEC_IMAP_ENTRIES_MAX, OSEC_EBOUNDS, "imap: too many entries");
        OSEC_GUARD(entry_arg(e, &out->item[i].entry));
        OSEC_GUARD(osec_imap_arg_nstring(osec_imap_iter_next(&it), &out->item[i].value,
                                         &out->item[i].nil));
        out->nentries++;
    }
    return 0;
}
