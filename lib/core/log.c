#include "omasec/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "omasec/util.h"

#define LINE_MAX_LEN 2048

static _Atomic int cur_level = OSEC_LOG_INFO;
static const char *const level_names[] = { "debug", "info", "warn", "error", "none" };

void osec_log_set_level(enum osec_log_level lvl)
{
    atomic_store(&cur_level, (int)lvl);
}

enum osec_log_level osec_log_get_level(void)
{
    return (enum osec_log_level)atomic_load(&cur_level);
}

int osec_log_parse_level(const char *s, enum osec_log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum osec_log_level)i;
            return 0;
        }
    }
    return -1;
}

/* Untrusted text must not be able to start a new log line or hide in
 * terminal escapes. */
static void sanitize(char *p)
{
    for (; *p; p++) {
        unsigned char c = (unsigned char)*p;

        if (c < 0x20 || c == 0x7f)
            *p = '?';
    }
}

void osec_log(enum osec_log_level lvl, const char *event, const char *fields, ...)
{
    char line[LINE_MAX_LEN], ts[32], body[LINE_MAX_LEN - 128];
    va_list ap;

    if ((int)lvl < atomic_load(&cur_level) || lvl >= OSEC_LOG_NONE)
        return;
    body[0] = '\0';
    if (fields) {
        va_start(ap, fields);
        (void)vsnprintf(body, sizeof(body), fields, ap);
        va_end(ap);
    }
    sanitize(body);
    if (osec_time_fmt(osec_time_now(), ts, sizeof(ts)) != 0)
        ts[0] = '\0';
    (void)snprintf(line, sizeof(line), "ts=%s level=%s event=%s%s%s\n", ts,
                   level_names[lvl], event, body[0] ? " " : "", body);
    (void)fputs(line, stderr);
}
