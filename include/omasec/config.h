/* Strict INI configuration.
 *
 *   # comment            ; comment
 *   [section]
 *   key = value          (value: rest of line, trimmed; may be "quoted")
 *
 * The whole file is rejected on any error (unknown syntax, duplicate section
 * or key, over-long line, NUL byte), and every error names file:line.  Keys
 * before any [section] belong to the section "".  Which keys are valid is the
 * caller's business: osec_config_check_keys() rejects unknown ones.
 */
#ifndef OMASEC_CONFIG_H
#define OMASEC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct osec_config;

#define OSEC_CONFIG_MAX_BYTES (1024 * 1024)
#define OSEC_CONFIG_MAX_LINE 4096

/* Parse a file / a memory buffer.  name is used in error messages. */
int osec_config_load(const char *path, struct osec_config **out);
int osec_config_parse(const char *name, const char *text, size_t len,
                      struct osec_config **out);
void osec_config_free(struct osec_config **cfg);

/* NULL when absent. */
const char *osec_config_get(const struct osec_config *cfg, const char *section,
                            const char *key);
/* Typed getters: absent -> *out = def and 0; malformed -> OSEC_ECONFIG naming
 * file:line:key. */
int osec_config_get_int(const struct osec_config *cfg, const char *section,
                        const char *key, int64_t min, int64_t max, int64_t def,
                        int64_t *out);
int osec_config_get_bool(const struct osec_config *cfg, const char *section,
                         const char *key, bool def, bool *out);
/* value must be one of the NULL-terminated choices; returns its index. */
int osec_config_get_enum(const struct osec_config *cfg, const char *section,
                         const char *key, const char *const *choices, int def,
                         int *out);
/* Reject keys of section not listed in the NULL-terminated allowed list. */
int osec_config_check_keys(const struct osec_config *cfg, const char *section,
                           const char *const *allowed);
/* Iterate sections present (for rejecting unknown sections). */
size_t osec_config_section_count(const struct osec_config *cfg);
const char *osec_config_section_name(const struct osec_config *cfg, size_t i);

#endif
