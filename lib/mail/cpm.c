/* CPM layout of the message store (DESIGN 5, docs/message-store.md):
 * Conversations/<Conversation-ID>[/<Contribution-ID>], objects carrying
 * Conversation-ID, Contribution-ID and IMDN-Message-ID header fields. */
#include <string.h>

#include "omasec/error.h"
#include "omasec/mail.h"

#define CPM_ID_MAX 256

static struct osec_slice field(struct osec_slice hdr, const char *name)
{
    struct osec_slice v = osec_slice_make(NULL, 0);

    if (osec_mail_header_get(hdr, name, &v) != 1)
        return v;
    /* trim blanks and the line end; folded IDs are not IDs */
    while (v.len && (v.ptr[0] == ' ' || v.ptr[0] == '\t'))
        v = osec_slice_sub(v, 1, v.len);
    while (v.len && (v.ptr[v.len - 1] == '\n' || v.ptr[v.len - 1] == '\r' ||
                     v.ptr[v.len - 1] == ' ' || v.ptr[v.len - 1] == '\t'))
        v.len--;
    return v;
}

int osec_mail_cpm_parse(struct osec_slice msg, struct osec_mail_cpm *out)
{
    struct osec_slice hdr, body, ct;

    memset(out, 0, sizeof(*out));
    osec_mail_split(msg, &hdr, &body);
    ct = field(hdr, "Content-Type");
    out->cpim = osec_slice_starts_ci(ct, "message/cpim");
    out->session_info = osec_slice_starts_ci(ct, "application/x-cpm-session");
    out->conversation_id = field(hdr, "Conversation-ID");
    out->contribution_id = field(hdr, "Contribution-ID");
    out->imdn_message_id = field(hdr, "IMDN-Message-ID");
    return 0;
}

/* An ID usable as one folder name component. */
static int id_ok(struct osec_slice id)
{
    OSEC_ENSURE(id.len > 0 && id.len <= CPM_ID_MAX, OSEC_EPARSE, "cpm: missing or long ID");
    for (size_t i = 0; i < id.len; i++)
        OSEC_ENSURE(id.ptr[i] > 0x20 && id.ptr[i] < 0x7f && id.ptr[i] != '/' &&
                        id.ptr[i] != '%' && id.ptr[i] != '*',
                    OSEC_EPARSE, "cpm: ID not usable as a folder name");
    return 0;
}

int osec_mail_cpm_folder(const struct osec_mail_cpm *ids, bool session, struct osec_buf *out)
{
    OSEC_GUARD(id_ok(ids->conversation_id));
    if (session)
        OSEC_GUARD(id_ok(ids->contribution_id));
    OSEC_GUARD(osec_buf_append_str(out, OSEC_MAIL_CPM_ROOT "/"));
    OSEC_GUARD(osec_buf_append_slice(out, ids->conversation_id));
    if (session) {
        OSEC_GUARD(osec_buf_putc(out, '/'));
        OSEC_GUARD(osec_buf_append_slice(out, ids->contribution_id));
    }
    return 0;
}

static int refuse(char *reason, size_t len, const char *why)
{
    if (reason)
        (void)osec_strlcpy(reason, why, len); /* static text */
    OSEC_BAIL(OSEC_EPOLICY, "cpm: %s", why);
}

int osec_mail_cpm_check(const char *folder, const struct osec_mail_cpm *ids, char *reason,
                        size_t len)
{
    struct osec_slice f = osec_slice_cstr(folder), conv, sess = { NULL, 0 };
    size_t root = sizeof(OSEC_MAIL_CPM_ROOT) - 1;
    long slash;

    if (f.len < root || memcmp(f.ptr, OSEC_MAIL_CPM_ROOT, root) != 0 ||
        (f.len > root && f.ptr[root] != '/'))
        return 0; /* not a CPM folder: any message */
    if (f.len <= root + 1)
        return refuse(reason, len, "objects go into a Conversation History folder");
    conv = osec_slice_sub(f, root + 1, f.len);
    slash = osec_slice_find(conv, '/');
    if (slash >= 0) {
        sess = osec_slice_sub(conv, (size_t)slash + 1, conv.len);
        conv = osec_slice_sub(conv, 0, (size_t)slash);
        if (osec_slice_find(sess, '/') >= 0)
            return refuse(reason, len, "no folders below a Session History folder");
    }
    if (ids->conversation_id.len == 0)
        return refuse(reason, len, "CPM objects need a Conversation-ID");
    if (!osec_slice_eq(ids->conversation_id, conv))
        return refuse(reason, len, "Conversation-ID does not match the folder");
    if (sess.ptr == NULL) {
        if (ids->session_info)
            return refuse(reason, len, "session info belongs in a Session History folder");
        return 0;
    }
    if (!osec_slice_eq(ids->contribution_id, sess))
        return refuse(reason, len, "Contribution-ID does not match the Session History folder");
    return 0;
}
