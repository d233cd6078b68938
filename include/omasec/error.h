/* omasec error codes and guard macros.
 *
 * Every function returns int (0 ok, negative OSEC_E* code) or a pointer
 * (NULL on error).  On failure it records a message with file:line in a
 * thread-local slot, readable with osec_error_msg().  The guard macros keep
 * the happy path reading straight down (after s2n-tls's GUARD/ENSURE/BAIL).
 */
#ifndef OMASEC_ERROR_H
#define OMASEC_ERROR_H

#include <stddef.h>

enum osec_err {
    OSEC_OK = 0,
    OSEC_EINVAL = -1,     /* invalid argument (caller bug or bad CLI input) */
    OSEC_ENOMEM = -2,     /* allocation failed */
    OSEC_EBOUNDS = -3,    /* a buffer limit would be exceeded / input truncated */
    OSEC_EPARSE = -4,     /* malformed input */
    OSEC_ECRYPTO = -5,    /* a cryptographic primitive failed */
    OSEC_EIO = -6,        /* file or socket I/O error */
    OSEC_ENOTFOUND = -7,  /* no such object */
    OSEC_EEXISTS = -8,    /* object already exists */
    OSEC_EAUTH = -9,      /* authentication failed */
    OSEC_ESTALE = -10,    /* nonce or key expired (retry with a fresh one) */
    OSEC_EREPLAY = -11,   /* replayed nonce-count, sequence number or key */
    OSEC_EPOLICY = -12,   /* refused by policy (algorithm, transport, ...) */
    OSEC_ESTORE = -13,    /* storage backend error */
    OSEC_ETLS = -14,      /* TLS setup or handshake error */
    OSEC_EPERM = -15,     /* not authorized */
    OSEC_EINTEGRITY = -16,/* sealed value failed its integrity check */
    OSEC_EBUSY = -17,     /* resource busy / rate limited */
    OSEC_ECONFIG = -18,   /* configuration error */
    OSEC_EINTERNAL = -19, /* invariant broken: a bug */
    OSEC_ECODE_MIN = -19
};

/* Short, stable name of a code ("EAUTH"), never NULL. */
const char *osec_strerror(int code);

/* Record code + message (printf-style) for the calling thread; returns code. */
int osec_error_set(int code, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Like osec_error_set, and appends the drained OpenSSL error queue. */
int osec_error_ossl(int code, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Last recorded message of this thread ("" if none) and its code. */
const char *osec_error_msg(void);
int osec_error_code(void);
/* Location of the last recorded error ("file:line"). */
const char *osec_error_where(void);
void osec_error_clear(void);

#define OSEC_BAIL(code, ...) \
    return osec_error_set((code), __FILE__, __LINE__, __VA_ARGS__)

#define OSEC_ENSURE(cond, code, ...)                          \
    do {                                                      \
        if (!(cond))                                          \
            OSEC_BAIL((code), __VA_ARGS__);                   \
    } while (0)

#define OSEC_GUARD(expr)                                      \
    do {                                                      \
        int osec_guard_rc_ = (expr);                          \
        if (osec_guard_rc_ < 0)                               \
            return osec_guard_rc_;                            \
    } while (0)

/* For OpenSSL calls that return 1 on success. */
#define OSEC_GUARD_OSSL(expr, ...)                                          \
    do {                                                                    \
        if ((expr) != 1)                                                    \
            return osec_error_ossl(OSEC_ECRYPTO, __FILE__, __LINE__,        \
                                   __VA_ARGS__);                            \
    } while (0)

/* Inside functions with a `goto out` cleanup: set rc and jump. */
#define OSEC_FAIL(rcvar, code, ...)                                         \
    do {                                                                    \
        (rcvar) = osec_error_set((code), __FILE__, __LINE__, __VA_ARGS__);  \
        goto out;                                                           \
    } while (0)

#define OSEC_CHECK(rcvar, expr)                                             \
    do {                                                                    \
        (rcvar) = (expr);                                                   \
        if ((rcvar) < 0)                                                    \
            goto out;                                                       \
    } while (0)

#endif
