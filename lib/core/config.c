#include "omasec/config.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "omasec/buf.h"
#include "omasec/error.h"

#define NAME_MAX_LEN 64
#define MAX_ENTRIES 4096

struct entry {
    char *section;
    char *key;
    char *value;
    unsigned line;
};

struct osec_config {
    char name[256];
    struct entry *e;
    size_t n, cap;
    char **sections;
    size_t nsec, capsec;
};

static char *dup_slice(struct osec_slice s)
{
    char *p = malloc(s.len + 1);

    if (p) {
        if (s.len)
            memcpy(p, s.ptr, s.len);
        p[s.len] = '\0';
    }
    return p;
}

static bool is_name_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
}

static const struct entry *find(const struct osec_config *cfg, const char *section,
                                const char *key)
{
    for (size_t i = 0; i < cfg->n; i++)
        if (strcmp(cfg->e[i].section, section) == 0 && strcmp(cfg->e[i].key, key) == 0)
            return &cfg->e[i];
    return NULL;
}

static bool has_section(const struct osec_config *cfg, const char *section)
{
    for (size_t i = 0; i < cfg->nsec; i++)
        if (strcmp(cfg->sections[i], section) == 0)
            return true;
    return false;
}

static int add_section(struct osec_config *cfg, struct osec_slice name, unsigned line)
{
    char *s;

    OSEC_ENSURE(name.len > 0 && name.len <= NAME_MAX_LEN, OSEC_ECONFIG,
                "%s:%u: bad section name length", cfg->name, line);
    for (size_t i = 0; i < name.len; i++)
        OSEC_ENSURE(is_name_char(name.ptr[i]), OSEC_ECONFIG,
                    "%s:%u: bad character in section name", cfg->name, line);
    s = dup_slice(name);
    OSEC_ENSURE(s != NULL, OSEC_ENOMEM, "out of memory");
    if (has_section(cfg, s)) {
        free(s);
        OSEC_BAIL(OSEC_ECONFIG, "%s:%u: duplicate section [%.*s]", cfg->name, line,
                  (int)name.len, (const char *)name.ptr);
    }
    if (cfg->nsec == cfg->capsec) {
        size_t ncap = cfg->capsec ? cfg->capsec * 2 : 8;
        char **n = realloc(cfg->sections, ncap * sizeof(*n));

        if (!n) {
            free(s);
            OSEC_BAIL(OSEC_ENOMEM, "out of memory");
        }
        cfg->sections = n;
        cfg->capsec = ncap;
    }
    cfg->sections[cfg->nsec++] = s;
    return 0;
}

static int unquote(const struct osec_config *cfg, struct osec_slice *v, unsigned line)
{
    if (v->len == 0 || v->ptr[0] != '"')
        return 0;
    OSEC_ENSURE(v->len >= 2 && v->ptr[v->len - 1] == '"', OSEC_ECONFIG,
                "%s:%u: unterminated quoted value", cfg->name, line);
    *v = osec_slice_sub(*v, 1, v->len - 2);
    OSEC_ENSURE(osec_slice_find(*v, '"') < 0, OSEC_ECONFIG,
                "%s:%u: stray quote in value", cfg->name, line);
    return 0;
}

static int add_entry(struct osec_config *cfg, const char *section, struct osec_slice key,
                     struct osec_slice val, unsigned line)
{
    struct entry en = { 0 };

    OSEC_ENSURE(key.len > 0 && key.len <= NAME_MAX_LEN, OSEC_ECONFIG,
                "%s:%u: bad key length", cfg->name, line);
    for (size_t i = 0; i < key.len; i++)
        OSEC_ENSURE(is_name_char(key.ptr[i]), OSEC_ECONFIG,
                    "%s:%u: bad character in key", cfg->name, line);
    OSEC_GUARD(unquote(cfg, &val, line));
    OSEC_ENSURE(cfg->n < MAX_ENTRIES, OSEC_ECONFIG, "%s:%u: too many keys", cfg->name, line);
    en.key = dup_slice(key);
    en.value = dup_slice(val);
    en.section = dup_slice(osec_slice_cstr(section));
    en.line = line;
    if (!en.key || !en.value || !en.section)
        goto nomem;
    if (find(cfg, en.section, en.key)) {
        int rc = osec_error_set(OSEC_ECONFIG, __FILE__, __LINE__,
                                "%s:%u: duplicate key '%s' in [%s]", cfg->name, line,
                                en.key, en.section);
        free(en.key), free(en.value), free(en.section);
        return rc;
    }
    if (cfg->n == cfg->cap) {
        size_t ncap = cfg->cap ? cfg->cap * 2 : 16;
        struct entry *n = realloc(cfg->e, ncap * sizeof(*n));

        if (!n)
            goto nomem;
        cfg->e = n;
        cfg->cap = ncap;
    }
    cfg->e[cfg->n++] = en;
    return 0;
nomem:
    free(en.key), free(en.value), free(en.section);
    OSEC_BAIL(OSEC_ENOMEM, "out of memory");
}

static int parse_line(struct osec_config *cfg, struct osec_slice ln, unsigned line,
                      const char **section)
{
    struct osec_cursor c;
    struct osec_slice key;

    ln = osec_slice_trim(ln);
    if (ln.len == 0 || ln.ptr[0] == '#' || ln.ptr[0] == ';')
        return 0;
    for (size_t i = 0; i < ln.len; i++)
        OSEC_ENSURE(ln.ptr[i] >= 0x20 || ln.ptr[i] == '\t', OSEC_ECONFIG,
                    "%s:%u: control character", cfg->name, line);
    if (ln.ptr[0] == '[') {
        OSEC_ENSURE(ln.ptr[ln.len - 1] == ']', OSEC_ECONFIG,
                    "%s:%u: expected ']' at end of section header", cfg->name, line);
        OSEC_GUARD(add_section(cfg, osec_slice_trim(osec_slice_sub(ln, 1, ln.len - 2)), line));
        *section = cfg->sections[cfg->nsec - 1];
        return 0;
    }
    osec_cursor_init(&c, ln.ptr, ln.len);
    if (osec_cursor_until(&c, '=', &key) < 0)
        OSEC_BAIL(OSEC_ECONFIG, "%s:%u: expected 'key = value'", cfg->name, line);
    (void)osec_cursor_eat(&c, '=');
    return add_entry(cfg, *section, osec_slice_trim(key),
                     osec_slice_trim(osec_slice_make(c.ptr + c.pos, osec_cursor_remaining(&c))),
                     line);
}

int osec_config_parse(const char *name, const char *text, size_t len, struct osec_config **out)
{
    struct osec_config *cfg;
    struct osec_cursor c;
    const char *section = "";
    unsigned line = 0;
    int rc = 0;

    *out = NULL;
    OSEC_ENSURE(len <= OSEC_CONFIG_MAX_BYTES, OSEC_ECONFIG, "%s: file too large", name);
    OSEC_ENSURE(len == 0 || memchr(text, 0, len) == NULL, OSEC_ECONFIG,
                "%s: contains a NUL byte", name);
    cfg = calloc(1, sizeof(*cfg));
    OSEC_ENSURE(cfg != NULL, OSEC_ENOMEM, "out of memory");
    (void)osec_snprintf(cfg->name, sizeof(cfg->name), "%s", name); /* truncation is harmless */
    osec_cursor_init(&c, text, len);
    while (!osec_cursor_eof(&c)) {
        struct osec_slice ln;

        line++;
        if (osec_cursor_until(&c, '\n', &ln) < 0)
            (void)osec_cursor_read_bytes(&c, osec_cursor_remaining(&c), &ln);
        else
            (void)osec_cursor_eat(&c, '\n');
        if (ln.len > 0 && ln.ptr[ln.len - 1] == '\r')
            ln.len--;
        if (ln.len > OSEC_CONFIG_MAX_LINE)
            OSEC_FAIL(rc, OSEC_ECONFIG, "%s:%u: line too long", name, line);
        OSEC_CHECK(rc, parse_line(cfg, ln, line, &section));
    }
out:
    if (rc < 0)
        osec_config_free(&cfg);
    *out = cfg;
    return rc;
}

int osec_config_load(const char *path, struct osec_config **out)
{
    struct stat st;
    char *text = NULL;
    size_t got = 0;
    int fd, rc;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    OSEC_ENSURE(fd >= 0, OSEC_ECONFIG, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        OSEC_BAIL(OSEC_ECONFIG, "%s: not a regular file", path);
    }
    if (st.st_size > OSEC_CONFIG_MAX_BYTES || !(text = malloc((size_t)st.st_size + 1))) {
        close(fd);
        OSEC_BAIL(OSEC_ECONFIG, "%s: file too large", path);
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, text + got, (size_t)st.st_size - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    rc = osec_config_parse(path, text, got, out);
    free(text);
    return rc;
}

void osec_config_free(struct osec_config **pcfg)
{
    struct osec_config *cfg = *pcfg;

    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n; i++) {
        free(cfg->e[i].section);
        free(cfg->e[i].key);
        /* values may be secrets (device records are parsed with this) */
        OPENSSL_cleanse(cfg->e[i].value, strlen(cfg->e[i].value));
        free(cfg->e[i].value);
    }
    for (size_t i = 0; i < cfg->nsec; i++)
        free(cfg->sections[i]);
    free(cfg->sections);
    free(cfg->e);
    free(cfg);
    *pcfg = NULL;
}

const char *osec_config_get(const struct osec_config *cfg, const char *section, const char *key)
{
    const struct entry *e = cfg ? find(cfg, section, key) : NULL;

    return e ? e->value : NULL;
}

int osec_config_get_int(const struct osec_config *cfg, const char *section, const char *key,
                        int64_t min, int64_t max, int64_t def, int64_t *out)
{
    const struct entry *e = cfg ? find(cfg, section, key) : NULL;

    *out = def;
    if (!e)
        return 0;
    if (osec_parse_i64(e->value, min, max, out) < 0)
        OSEC_BAIL(OSEC_ECONFIG, "%s:%u: %s must be an integer in [%lld, %lld]", cfg->name,
                  e->line, key, (long long)min, (long long)max);
    return 0;
}

int osec_config_get_enum(const struct osec_config *cfg, const char *section, const char *key,
                         const char *const *choices, int def, int *out)
{
    const struct entry *e = cfg ? find(cfg, section, key) : NULL;

    *out = def;
    if (!e)
        return 0;
    for (int i = 0; choices[i]; i++) {
        if (strcmp(e->value, choices[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    OSEC_BAIL(OSEC_ECONFIG, "%s:%u: bad value '%s' for %s", cfg->name, e->line, e->value, key);
}

int osec_config_get_bool(const struct osec_config *cfg, const char *section, const char *key,
                         bool def, bool *out)
{
    static const char *const choices[] = { "false", "true", "no", "yes", "off", "on",
                                           "0", "1", NULL };
    int i;

    OSEC_GUARD(osec_config_get_enum(cfg, section, key, choices, def ? 1 : 0, &i));
    *out = (i % 2) == 1;
    return 0;
}

int osec_config_check_keys(const struct osec_config *cfg, const char *section,
                           const char *const *allowed)
{
    for (size_t i = 0; cfg && i < cfg->n; i++) {
        bool ok = false;

        if (strcmp(cfg->e[i].section, section) != 0)
            continue;
        for (size_t j = 0; allowed[j] && !ok; j++)
            ok = strcmp(cfg->e[i].key, allowed[j]) == 0;
        OSEC_ENSURE(ok, OSEC_ECONFIG, "%s:%u: unknown key '%s' in [%s]", cfg->name,
                    cfg->e[i].line, cfg->e[i].key, section);
    }
    return 0;
}

size_t osec_config_section_count(const struct osec_config *cfg)
{
    return cfg ? cfg->nsec : 0;
}

const char *osec_config_section_name(const struct osec_config *cfg, size_t i)
{
    return (cfg && i < cfg->nsec) ? cfg->sections[i] : NULL;
}
