/* Message store security policy: TLS per service provider and per user,
 * which authentication a connection may use, and S/MIME message protection
 * (seed 001, 5.1.3.4 and comment C046; docs/message-store.md).
 *
 * TLS policy of the service provider (config tls = required|optional|off):
 *   required  every session runs inside TLS (implicit TLS or STARTTLS);
 *             a client in the clear can only ask for STARTTLS.
 *   optional  TLS is offered; the session may stay in the clear, except
 *             for users flagged "require TLS" (OSEC_USER_REQUIRE_TLS) and
 *             for password mechanisms, which never run in the clear.
 *   off       TLS is not offered on the STARTTLS port (STARTTLS is refused:
 *             the provider saves the TLS load, C046); passwords may then be
 *             sent in the clear, and users flagged "require TLS" can only
 *             use an implicit-TLS listener.
 * The user's flag is honoured whatever the provider says.
 */
#ifndef OMASEC_MSGPOLICY_H
#define OMASEC_MSGPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum osec_tls_policy {
    OSEC_TLS_POLICY_REQUIRED = 0,
    OSEC_TLS_POLICY_OPTIONAL = 1,
    OSEC_TLS_POLICY_OFF = 2
};

/* How the client proves who it is. */
enum osec_msgauth {
    OSEC_MSGAUTH_PASSWORD = 0, /* LOGIN, AUTHENTICATE PLAIN */
    OSEC_MSGAUTH_CERT,         /* AUTHENTICATE EXTERNAL with a client certificate */
    OSEC_MSGAUTH_PSK           /* TLS-PSK identity */
};

#define OSEC_MSGPOLICY_REASON_MAX 128

/* "required" | "optional" | "off" -> *out; EINVAL otherwise. */
int osec_msgpolicy_tls_parse(const char *s, enum osec_tls_policy *out);
const char *osec_msgpolicy_tls_name(enum osec_tls_policy p);

/* Is STARTTLS offered on a plain connection? */
bool osec_msgpolicy_starttls_offered(enum osec_tls_policy p);
/* Are password mechanisms offered (else LOGINDISABLED)? */
bool osec_msgpolicy_password_offered(enum osec_tls_policy p, bool tls);
/* May any command other than CAPABILITY, NOOP, LOGOUT, STARTTLS run before
 * authentication on this connection?  (required + clear: no.) */
bool osec_msgpolicy_clear_allowed(enum osec_tls_policy p, bool tls);

/* The decision after authentication: may this user hold a session over
 * this connection with this mechanism?  0, or OSEC_EPOLICY with a reason
 * (no secrets) for the client and the audit log. */
int osec_msgpolicy_session(enum osec_tls_policy p, enum osec_msgauth how, bool tls,
                           uint32_t user_flags, char *reason, size_t len);

/* S/MIME protection of fetched messages (seed 001, last paragraph): on when
 * the principal asked for it (user flag OSEC_USER_ENCRYPT_MSGS or its own
 * request), the provider's policy allows it, and the user has a registered
 * certificate to encrypt for.  Returns 0 with *protect set, or
 * OSEC_EPOLICY with a reason when the user asked but cannot have it (no
 * certificate, or the provider does not allow it). */
int osec_msgpolicy_protect(bool provider_allows, bool user_asked, bool has_cert, bool *protect,
                           char *reason, size_t len);

#endif
