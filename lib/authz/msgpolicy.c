/* Message store security policy (see omasec/msgpolicy.h). */
#include "omasec/msgpolicy.h"

#include <string.h>

#include "omasec/buf.h"
#include "omasec/error.h"
#include "omasec/store.h"

static const char *const names[] = { "required", "optional", "off" };

int osec_msgpolicy_tls_parse(const char *s, enum osec_tls_policy *out)
{
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (s && strcmp(s, names[i]) == 0) {
            *out = (enum osec_tls_policy)i;
            return 0;
        }
    }
    OSEC_BAIL(OSEC_EINVAL, "TLS policy must be required, optional or off");
}

const char *osec_msgpolicy_tls_name(enum osec_tls_policy p)
{
    return (unsigned)p < 3 ? names[p] : "?";
}

bool osec_msgpolicy_starttls_offered(enum osec_tls_policy p)
{
    return p != OSEC_TLS_POLICY_OFF;
}

bool osec_msgpolicy_password_offered(enum osec_tls_policy p, bool tls)
{
    /* RFC 3501 6.2.3 / RFC 2595 3.2: no cleartext passwords unless the
     * provider explicitly gave up on TLS */
    return tls || p == OSEC_TLS_POLICY_OFF;
}

bool osec_msgpolicy_clear_allowed(enum osec_tls_policy p, bool tls)
{
    return tls || p != OSEC_TLS_POLICY_REQUIRED;
}

static int deny(char *reason, size_t len, const char *why)
{
    if (reason)
        (void)osec_strlcpy(reason, why, len); /* static text, fits */
    OSEC_BAIL(OSEC_EPOLICY, "%s", why);
}

int osec_msgpolicy_session(enum osec_tls_policy p, enum osec_msgauth how, bool tls,
                           uint32_t user_flags, char *reason, size_t len)
{
    if (user_flags & OSEC_USER_DISABLED)
        return deny(reason, len, "account disabled");
    if (tls)
        return 0;
    /* certificates and PSKs only exist inside TLS: a caller claiming them
     * on a clear connection is a bug, refuse rather than trust it */
    if (how != OSEC_MSGAUTH_PASSWORD)
        return deny(reason, len, "certificate and PSK authentication need TLS");
    if (p == OSEC_TLS_POLICY_REQUIRED)
        return deny(reason, len, "TLS is required by the service provider");
    if (user_flags & OSEC_USER_REQUIRE_TLS)
        return deny(reason, len, "the user requires TLS");
    if (p != OSEC_TLS_POLICY_OFF)
        return deny(reason, len, "passwords are not accepted without TLS");
    return 0;
}

int osec_msgpolicy_protect(bool provider_allows, bool user_asked, bool has_cert, bool *protect,
                           char *reason, size_t len)
{
    *protect = false;
    if (!user_asked)
        return 0;
    if (!provider_allows)
        return deny(reason, len, "message protection is not allowed by the service provider");
    if (!has_cert)
        return deny(reason, len, "message protection needs a registered certificate");
    *protect = true;
    return 0;
}
