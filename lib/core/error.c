#include "omasec/error.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MSG_MAX 512

static _Thread_local int last_code;
static _Thread_local char last_msg[MSG_MAX];
static _Thread_local char last_where[128];

static const char *const names[] = {
    "OK", "EINVAL", "ENOMEM", "EBOUNDS", "EPARSE", "ECRYPTO", "EIO",
    "ENOTFOUND", "EEXISTS", "EAUTH", "ESTALE", "EREPLAY", "EPOLICY",
    "ESTORE", "ETLS", "EPERM", "EINTEGRITY", "EBUSY", "ECONFIG", "EINTERNAL",
};

const char *osec_strerror(int code)
{
    if (code > 0 || code < OSEC_ECODE_MIN)
        return "EUNKNOWN";
    return names[-code];
}

static void record(int code, const char *file, int line, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void record(int code, const char *file, int line, const char *fmt, va_list ap)
{
    const char *base = strrchr(file, '/');

    last_code = code;
    (void)snprintf(last_where, sizeof(last_where), "%s:%d", base ? base + 1 : file, line);
    (void)vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
}

int osec_error_set(int code, const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    record(code, file, line, fmt, ap);
    va_end(ap);
    return code;
}

int osec_error_ossl(int code, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    unsigned long e;
    size_t used;

    va_start(ap, fmt);
    record(code, file, line, fmt, ap);
    va_end(ap);
    while ((e = ERR_get_error()) != 0) {
        used = strlen(last_msg);
        if (used + 3 >= sizeof(last_msg))
            continue; /* keep draining the queue */
        last_msg[used++] = ':';
        last_msg[used++] = ' ';
        last_msg[used] = '\0';
        ERR_error_string_n(e, last_msg + used, sizeof(last_msg) - used);
    }
    return code;
}

const char *osec_error_msg(void)
{
    return last_msg;
}

int osec_error_code(void)
{
    return last_code;
}

const char *osec_error_where(void)
{
    return last_where;
}

void osec_error_clear(void)
{
    last_code = 0;
    last_msg[0] = '\0';
    last_where[0] = '\0';
}
