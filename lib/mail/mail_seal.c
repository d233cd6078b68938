/* Message bodies at rest: AEAD under a per-owner key, bound to their row. */
#include <string.h>

#include "omasec/error.h"
#include "omasec/mail.h"
#include "omasec/store.h"

#define PURPOSE_MAX (4 + OSEC_STORE_NAME_MAX + 1)
#define AAD_LABEL "omasec-msg/v1"
#define AAD_LEN (sizeof(AAD_LABEL) - 1 + 8 + 4)

/* purpose "msg/<owner>": one key per user, so a body can only open under
 * its owner's key; the AAD pins it to (mailbox id, uid). */
static int binding(const char *owner, int64_t mailbox_id, uint32_t uid, char *purpose,
                   uint8_t aad[AAD_LEN])
{
    size_t n = sizeof(AAD_LABEL) - 1;

    OSEC_ENSURE(owner && owner[0] && mailbox_id > 0 && uid > 0, OSEC_EINVAL,
                "mail: bad message binding");
    OSEC_GUARD(osec_snprintf(purpose, PURPOSE_MAX, "msg/%s", owner));
    memcpy(aad, AAD_LABEL, n);
    for (int i = 7; i >= 0; i--)
        aad[n++] = (uint8_t)((uint64_t)mailbox_id >> (i * 8));
    for (int i = 3; i >= 0; i--)
        aad[n++] = (uint8_t)(uid >> (i * 8));
    return 0;
}

int osec_mail_seal(const struct osec_master *m, const char *owner, int64_t mailbox_id,
                   uint32_t uid, const uint8_t *msg, size_t len, struct osec_buf *out)
{
    char purpose[PURPOSE_MAX];
    uint8_t aad[AAD_LEN];

    OSEC_GUARD(binding(owner, mailbox_id, uid, purpose, aad));
    return osec_seal(m, purpose, aad, sizeof(aad), msg, len, out);
}

int osec_mail_unseal(const struct osec_master *m, const char *owner, int64_t mailbox_id,
                     uint32_t uid, const uint8_t *sealed, size_t len, struct osec_buf *out)
{
    char purpose[PURPOSE_MAX];
    uint8_t aad[AAD_LEN];

    OSEC_GUARD(binding(owner, mailbox_id, uid, purpose, aad));
    return osec_unseal(m, purpose, aad, sizeof(aad), sealed, len, out);
}
