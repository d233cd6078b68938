/* key=value logging to stderr.
 *
 * One line per event: `ts=2026-01-01T00:00:00Z level=info event=name k=v ...`.
 * Control characters in the formatted fields are replaced so that untrusted
 * input cannot forge log lines.  Never pass secrets here.
 */
#ifndef OMASEC_LOG_H
#define OMASEC_LOG_H

enum osec_log_level {
    OSEC_LOG_DEBUG = 0,
    OSEC_LOG_INFO = 1,
    OSEC_LOG_WARN = 2,
    OSEC_LOG_ERROR = 3,
    OSEC_LOG_NONE = 4
};

void osec_log_set_level(enum osec_log_level lvl);
enum osec_log_level osec_log_get_level(void);
/* "debug", "info", "warn", "error", "none"; EINVAL otherwise. */
int osec_log_parse_level(const char *s, enum osec_log_level *out);

/* fields: printf-style "k=v k2=%s" (may be NULL). */
void osec_log(enum osec_log_level lvl, const char *event, const char *fields, ...)
    __attribute__((format(printf, 3, 4)));

#define osec_debug(ev, ...) osec_log(OSEC_LOG_DEBUG, (ev), __VA_ARGS__)
#define osec_info(ev, ...) osec_log(OSEC_LOG_INFO, (ev), __VA_ARGS__)
#define osec_warn(ev, ...) osec_log(OSEC_LOG_WARN, (ev), __VA_ARGS__)
#define osec_error(ev, ...) osec_log(OSEC_LOG_ERROR, (ev), __VA_ARGS__)

#endif
