/* Master key file (versioned, 0600, atomic rotation) and sealed values. */
#include "omasec/seal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "omasec/error.h"
#include "omasec/util.h"

#define SEAL_FORMAT 1
#define SEAL_HDR_LEN (2 + 1 + 4 + 1 + OSEC_AEAD_NONCE_LEN)
#define PURPOSE_MAX 255
#define INFO_PREFIX "omasec/v1/"
#define MASTER_MAX_VERSIONS 4096
/* "4294967295 " + 64 hex + "\n" per line */
#define MASTER_LINE_MAX (10 + 1 + 2 * OSEC_KEY_LEN + 1)
#define MASTER_FILE_MAX (MASTER_MAX_VERSIONS * MASTER_LINE_MAX)

struct osec_master_key {
    uint32_t version;
    uint8_t key[OSEC_KEY_LEN];
};

/* Derived purpose keys are cached: HKDF on every seal/open was a tenth of
 * a Digest verification.  The cache lives and dies with the master (wiped
 * on free); purposes beyond its size simply replace an older entry. */
#define DERIVED_CACHE 32

struct derived {
    uint32_t version;
    char purpose[PURPOSE_MAX + 1];
    uint8_t key[OSEC_KEY_LEN];
    uint64_t used;
};

struct osec_master {
    size_t n;                     /* >= 1; keys[n-1] is the current version */
    struct osec_master_key *keys; /* sorted by version, ascending */
    pthread_mutex_t mu;           /* guards the cache (the master is shared) */
    struct derived cache[DERIVED_CACHE];
    uint64_t tick;
};

/* ---- in-memory master ---------------------------------------------------- */

static int master_alloc(size_t n, struct osec_master **out)
{
    struct osec_master *m = calloc(1, sizeof(*m));

    OSEC_ENSURE(m != NULL, OSEC_ENOMEM, "out of memory");
    m->keys = calloc(n, sizeof(*m->keys));
    if (m->keys == NULL || pthread_mutex_init(&m->mu, NULL) != 0) {
        free(m->keys);
        free(m);
        OSEC_BAIL(OSEC_ENOMEM, "out of memory");
    }
    m->n = n;
    *out = m;
    return 0;
}

void osec_master_free(struct osec_master **m)
{
    if (m == NULL || *m == NULL)
        return;
    if ((*m)->keys) {
        osec_wipe((*m)->keys, (*m)->n * sizeof(*(*m)->keys));
        free((*m)->keys);
    }
    osec_wipe((*m)->cache, sizeof((*m)->cache));
    (void)pthread_mutex_destroy(&(*m)->mu);
    osec_wipe(*m, sizeof(**m));
    free(*m);
    *m = NULL;
}

int osec_master_from_bytes(const uint8_t *key, size_t key_len, uint32_t version,
                           struct osec_master **out)
{
    OSEC_ENSURE(key != NULL && key_len == OSEC_KEY_LEN, OSEC_EINVAL,
                "master key must be %d bytes", OSEC_KEY_LEN);
    OSEC_ENSURE(version > 0, OSEC_EINVAL, "master key version must be positive");
    OSEC_GUARD(master_alloc(1, out));
    (*out)->keys[0].version = version;
    memcpy((*out)->keys[0].key, key, OSEC_KEY_LEN);
    return 0;
}

uint32_t osec_master_current_version(const struct osec_master *m)
{
    return m && m->n ? m->keys[m->n - 1].version : 0;
}

static const struct osec_master_key *master_find(const struct osec_master *m, uint32_t v)
{
    size_t lo = 0, hi = m->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (m->keys[mid].version == v)
            return &m->keys[mid];
        if (m->keys[mid].version < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int check_purpose(const char *purpose, size_t *len)
{
    OSEC_ENSURE(purpose != NULL, OSEC_EINVAL, "seal: NULL purpose");
    *len = strlen(purpose);
    OSEC_ENSURE(*len > 0 && *len <= PURPOSE_MAX, OSEC_EINVAL, "seal: bad purpose length");
    return 0;
}

static int derive(const struct osec_master_key *k, const char *purpose,
                  uint8_t out[OSEC_KEY_LEN])
{
    uint8_t info[sizeof(INFO_PREFIX) - 1 + PURPOSE_MAX];
    size_t plen, pre = sizeof(INFO_PREFIX) - 1;

    OSEC_GUARD(check_purpose(purpose, &plen));
    memcpy(info, INFO_PREFIX, pre);
    memcpy(info + pre, purpose, plen);
    return osec_hkdf_sha256(NULL, 0, k->key, OSEC_KEY_LEN, info, pre + plen, out,
                            OSEC_KEY_LEN);
}

/* derive() through the cache.  m is logically const: the cache is an
 * optimisation invisible to callers. */
static int derive_cached(const struct osec_master *cm, const struct osec_master_key *k,
                         const char *purpose, uint8_t out[OSEC_KEY_LEN])
{
    struct osec_master *m = (struct osec_master *)cm;
    struct derived *victim = &m->cache[0];
    int rc;

    (void)pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < DERIVED_CACHE; i++) {
        struct derived *d = &m->cache[i];

        if (d->used && d->version == k->version && strcmp(d->purpose, purpose) == 0) {
            memcpy(out, d->key, OSEC_KEY_LEN);
            d->used = ++m->tick;
            (void)pthread_mutex_unlock(&m->mu);
            return 0;
        }
        if (d->used < victim->used)
            victim = d;
    }
    rc = derive(k, purpose, out);
    if (rc == 0 && strlen(purpose) <= PURPOSE_MAX) {
        victim->version = k->version;
        (void)osec_strlcpy(victim->purpose, purpose, sizeof(victim->purpose));
        memcpy(victim->key, out, OSEC_KEY_LEN);
        victim->used = ++m->tick;
    }
    (void)pthread_mutex_unlock(&m->mu);
    return rc;
}

int osec_master_derive(const struct osec_master *m, const char *purpose,
                       uint8_t out[OSEC_KEY_LEN])
{
    OSEC_ENSURE(m != NULL && m->n > 0 && out != NULL, OSEC_EINVAL, "derive: no master key");
    return derive_cached(m, &m->keys[m->n - 1], purpose, out);
}

/* ---- master key file -------------------------------------------------------- */

/* Open path read-only and refuse anything but a private regular file. */
static int open_checked(const char *path, int *fdout)
{
    struct stat st;
    int fd;

    OSEC_ENSURE(path != NULL, OSEC_EINVAL, "master key: NULL path");
    /* O_NONBLOCK: a FIFO planted at path must not hang us before fstat */
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;

        OSEC_ENSURE(e != ELOOP, OSEC_EPERM, "master key file %s is a symlink; refusing it",
                    path);
        OSEC_ENSURE(e != ENOENT, OSEC_ENOTFOUND, "master key file %s does not exist", path);
        OSEC_BAIL(OSEC_EIO, "cannot open master key file %s: %s", path, strerror(e));
    }
    if (fstat(fd, &st) != 0) {
        int e = errno;

        (void)close(fd);
        OSEC_BAIL(OSEC_EIO, "cannot stat master key file %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
        (void)close(fd);
        OSEC_ENSURE(S_ISREG(st.st_mode), OSEC_EPERM, "master key file %s is not a regular file",
                    path);
        OSEC_BAIL(OSEC_EPERM,
                  "master key file %s has mode %04o: it must not be accessible by group "
                  "or others (chmod 600 %s)",
                  path, (unsigned)(st.st_mode & 07777), path);
    }
    *fdout = fd;
    return 0;
}

static int read_all(int fd, const char *path, struct osec_buf *b)
{
    for (;;) {
        ssize_t n;

        OSEC_GUARD(osec_buf_reserve(b, 4096 < b->max - b->len ? 4096 : b->max - b->len));
        n = read(fd, b->data + b->len, b->cap - b->len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        OSEC_ENSURE(n >= 0, OSEC_EIO, "reading %s: %s", path, strerror(errno));
        if (n == 0)
            break;
        b->len += (size_t)n;
        b->data[b->len] = '\0';
        OSEC_ENSURE(b->len < b->max, OSEC_EPARSE, "master key file %s is too large", path);
    }
    return 0;
}

/* One line: "<version> <64 hex>\n", version without leading zeros. */
static int parse_line(struct osec_cursor *c, struct osec_master_key *k)
{
    struct osec_slice s;
    uint64_t v;

    OSEC_GUARD(osec_cursor_until(c, ' ', &s));
    OSEC_ENSURE(s.len > 0 && s.ptr[0] != '0', OSEC_EPARSE, "bad version number");
    OSEC_GUARD(osec_slice_to_u64(s, UINT32_MAX, &v));
    k->version = (uint32_t)v;
    (void)osec_cursor_eat(c, ' ');
    OSEC_GUARD(osec_cursor_read_bytes(c, 2 * OSEC_KEY_LEN, &s));
    OSEC_GUARD(osec_hex_decode(s, k->key, OSEC_KEY_LEN));
    OSEC_ENSURE(osec_cursor_eat(c, '\n'), OSEC_EPARSE, "line does not end after the key");
    return 0;
}

static int parse_master(const char *path, struct osec_slice text, struct osec_master **out)
{
    struct osec_master *m = NULL;
    struct osec_cursor c;
    size_t lines = 0;
    int rc = 0;

    for (size_t i = 0; i < text.len; i++)
        lines += text.ptr[i] == '\n';
    if (lines == 0 || lines > MASTER_MAX_VERSIONS)
        OSEC_BAIL(OSEC_EPARSE, "master key file %s: no keys or too many keys", path);
    OSEC_GUARD(master_alloc(lines, &m));
    osec_cursor_init(&c, text.ptr, text.len);
    for (size_t i = 0; i < lines; i++) {
        if (parse_line(&c, &m->keys[i]) < 0 ||
            (i > 0 && m->keys[i].version <= m->keys[i - 1].version))
            OSEC_FAIL(rc, OSEC_EPARSE, "master key file %s: line %zu is malformed", path,
                      i + 1);
    }
    if (!osec_cursor_eof(&c))
        OSEC_FAIL(rc, OSEC_EPARSE, "master key file %s: trailing bytes", path);
    *out = m;
    m = NULL;
out:
    osec_master_free(&m);
    return rc;
}

static int load_fd(int fd, const char *path, struct osec_master **out)
{
    struct osec_buf text;
    int rc;

    osec_buf_init_secret(&text, MASTER_FILE_MAX);
    OSEC_CHECK(rc, read_all(fd, path, &text));
    OSEC_CHECK(rc, parse_master(path, osec_buf_slice(&text), out));
out:
    osec_buf_free(&text);
    return rc;
}

int osec_master_load(const char *path, struct osec_master **out)
{
    int fd, rc;

    OSEC_ENSURE(out != NULL, OSEC_EINVAL, "master load: NULL out");
    *out = NULL;
    OSEC_GUARD(open_checked(path, &fd));
    rc = load_fd(fd, path, out);
    (void)close(fd);
    return rc;
}

static int format_master(const struct osec_master *m, struct osec_buf *b)
{
    for (size_t i = 0; i < m->n; i++) {
        OSEC_GUARD(osec_buf_appendf(b, "%u ", (unsigned)m->keys[i].version));
        OSEC_GUARD(osec_buf_append_hex(b, m->keys[i].key, OSEC_KEY_LEN));
        OSEC_GUARD(osec_buf_putc(b, '\n'));
    }
    return 0;
}

static int write_all(int fd, const char *path, struct osec_slice s)
{
    size_t off = 0;

    while (off < s.len) {
        ssize_t n = write(fd, s.ptr + off, s.len - off);

        if (n < 0 && errno == EINTR)
            continue;
        OSEC_ENSURE(n > 0, OSEC_EIO, "writing %s: %s", path, strerror(errno));
        off += (size_t)n;
    }
    OSEC_ENSURE(fsync(fd) == 0, OSEC_EIO, "fsync %s: %s", path, strerror(errno));
    return 0;
}

/* Make a rename or create in path's directory durable. */
static int fsync_dir(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    int fd, ok;

    if (slash == NULL)
        OSEC_GUARD(osec_strlcpy(dir, ".", sizeof(dir)));
    else if (slash == path)
        OSEC_GUARD(osec_strlcpy(dir, "/", sizeof(dir)));
    else
        OSEC_GUARD(osec_slice_to_cstr(osec_slice_make(path, (size_t)(slash - path)), dir,
                                      sizeof(dir)));
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    OSEC_ENSURE(fd >= 0, OSEC_EIO, "open directory %s: %s", dir, strerror(errno));
    /* some file systems cannot fsync a directory (EINVAL); nothing to do then */
    ok = fsync(fd) == 0 || errno == EINVAL;
    (void)close(fd);
    OSEC_ENSURE(ok, OSEC_EIO, "fsync directory %s: %s", dir, strerror(errno));
    return 0;
}

/* Hex of a fresh key as a file line; the caller wipes the buffer. */
static int new_key_line(uint32_t version, struct osec_master_key *k, struct osec_buf *b)
{
    k->version = version;
    OSEC_GUARD(osec_rand_bytes(k->key, OSEC_KEY_LEN));
    OSEC_GUARD(osec_buf_appendf(b, "%u ", (unsigned)version));
    OSEC_GUARD(osec_buf_append_hex(b, k->key, OSEC_KEY_LEN));
    return osec_buf_putc(b, '\n');
}

int osec_master_create(const char *path)
{
    struct osec_master_key k;
    struct osec_buf line;
    int fd = -1, rc;

    OSEC_ENSURE(path != NULL, OSEC_EINVAL, "master create: NULL path");
    osec_buf_init_secret(&line, MASTER_LINE_MAX);
    OSEC_CHECK(rc, new_key_line(1, &k, &line));
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
        OSEC_FAIL(rc, OSEC_EEXISTS, "master key file %s already exists", path);
    if (fd < 0)
        OSEC_FAIL(rc, OSEC_EIO, "cannot create master key file %s: %s", path,
                  strerror(errno));
    rc = write_all(fd, path, osec_buf_slice(&line));
    if (close(fd) != 0 && rc == 0)
        rc = osec_error_set(OSEC_EIO, __FILE__, __LINE__, "close %s failed", path);
    if (rc < 0)
        (void)unlink(path); /* never leave a half-written key file behind */
    else
        rc = fsync_dir(path);
out:
    osec_wipe(&k, sizeof(k));
    osec_buf_free(&line);
    return rc;
}

/* Write text to a temp file beside path, then rename it over path. */
static int replace_file(const char *path, struct osec_slice text)
{
    char tmp[PATH_MAX];
    int fd, rc;

    OSEC_GUARD(osec_snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path));
    fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
    OSEC_ENSURE(fd >= 0, OSEC_EIO, "cannot create temp file for %s: %s", path,
                strerror(errno));
    rc = write_all(fd, tmp, text);
    if (close(fd) != 0 && rc == 0)
        rc = osec_error_set(OSEC_EIO, __FILE__, __LINE__, "close %s failed", tmp);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = osec_error_set(OSEC_EIO, __FILE__, __LINE__, "rename %s -> %s: %s", tmp, path,
                            strerror(errno));
    if (rc < 0) {
        (void)unlink(tmp);
        return rc;
    }
    return fsync_dir(path);
}

/* Open and exclusively lock the current file at path.  A concurrent rotation
 * may rename a new file over path while we wait: then lock the new one. */
static int open_locked(const char *path, int *fdout)
{
    for (int attempt = 0; attempt < 16; attempt++) {
        struct stat a, b;
        int fd, same;

        OSEC_GUARD(open_checked(path, &fd));
        if (flock(fd, LOCK_EX) != 0) {
            (void)close(fd);
            OSEC_BAIL(OSEC_EIO, "cannot lock %s: %s", path, strerror(errno));
        }
        same = fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_dev == b.st_dev &&
               a.st_ino == b.st_ino;
        if (same) {
            *fdout = fd;
            return 0;
        }
        (void)close(fd);
    }
    OSEC_BAIL(OSEC_EBUSY, "master key file %s keeps changing", path);
}

/* Copy m's keys plus one fresh version into a new master. */
static int master_extend(const struct osec_master *m, struct osec_master **out)
{
    uint32_t cur = osec_master_current_version(m);

    OSEC_ENSURE(m->n < MASTER_MAX_VERSIONS && cur < UINT32_MAX, OSEC_EBOUNDS,
                "too many master key versions");
    OSEC_GUARD(master_alloc(m->n + 1, out));
    memcpy((*out)->keys, m->keys, m->n * sizeof(*m->keys));
    (*out)->keys[m->n].version = cur + 1;
    return osec_rand_bytes((*out)->keys[m->n].key, OSEC_KEY_LEN);
}

int osec_master_rotate(const char *path)
{
    struct osec_master *old = NULL, *m = NULL;
    struct osec_buf text;
    int fd = -1, rc;

    osec_buf_init_secret(&text, MASTER_FILE_MAX);
    OSEC_CHECK(rc, open_locked(path, &fd));
    OSEC_CHECK(rc, load_fd(fd, path, &old));
    OSEC_CHECK(rc, master_extend(old, &m));
    OSEC_CHECK(rc, format_master(m, &text));
    OSEC_CHECK(rc, replace_file(path, osec_buf_slice(&text)));
out:
    if (fd >= 0)
        (void)close(fd); /* releases the lock */
    osec_master_free(&old);
    osec_master_free(&m);
    osec_buf_free(&text);
    return rc;
}

/* ---- sealed values ----------------------------------------------------------- */

struct seal_hdr {
    uint32_t version;
    uint8_t alg;
    uint8_t nonce[OSEC_AEAD_NONCE_LEN];
};

static void put_hdr(uint8_t *p, const struct seal_hdr *h)
{
    p[0] = 'O';
    p[1] = 'S';
    p[2] = SEAL_FORMAT;
    p[3] = (uint8_t)(h->version >> 24);
    p[4] = (uint8_t)(h->version >> 16);
    p[5] = (uint8_t)(h->version >> 8);
    p[6] = (uint8_t)h->version;
    p[7] = h->alg;
    memcpy(p + 8, h->nonce, OSEC_AEAD_NONCE_LEN);
}

static int get_hdr(const uint8_t *sealed, size_t len, struct seal_hdr *h)
{
    struct osec_cursor c;
    uint8_t magic[3];

    OSEC_ENSURE(sealed != NULL && len >= OSEC_SEAL_OVERHEAD, OSEC_EINTEGRITY,
                "sealed value too short");
    osec_cursor_init(&c, sealed, len);
    OSEC_GUARD(osec_cursor_copy(&c, magic, sizeof(magic)));
    OSEC_ENSURE(magic[0] == 'O' && magic[1] == 'S' && magic[2] == SEAL_FORMAT,
                OSEC_EINTEGRITY, "not a sealed value (bad magic or format)");
    OSEC_GUARD(osec_cursor_read_u32be(&c, &h->version));
    OSEC_GUARD(osec_cursor_read_u8(&c, &h->alg));
    OSEC_ENSURE(h->alg == OSEC_AEAD_AES256GCM || h->alg == OSEC_AEAD_CHACHA20POLY1305,
                OSEC_EINTEGRITY, "sealed value: unknown algorithm %u", (unsigned)h->alg);
    return osec_cursor_copy(&c, h->nonce, OSEC_AEAD_NONCE_LEN);
}

int osec_sealed_version(const uint8_t *sealed, size_t sealed_len, uint32_t *version)
{
    struct seal_hdr h;

    OSEC_GUARD(get_hdr(sealed, sealed_len, &h));
    *version = h.version;
    return 0;
}

/* header || u16 len(purpose) || purpose || aad */
static int build_aad(const uint8_t *hdr, const char *purpose, const uint8_t *aad,
                     size_t aad_len, struct osec_buf *b)
{
    size_t plen;

    OSEC_GUARD(check_purpose(purpose, &plen));
    OSEC_ENSURE(aad != NULL || aad_len == 0, OSEC_EINVAL, "seal: NULL aad");
    OSEC_ENSURE(aad_len <= SIZE_MAX / 2, OSEC_EBOUNDS, "seal: aad too long");
    osec_buf_init(b, SEAL_HDR_LEN + 2 + PURPOSE_MAX + aad_len);
    OSEC_GUARD(osec_buf_append(b, hdr, SEAL_HDR_LEN));
    OSEC_GUARD(osec_buf_append_u16be(b, (uint16_t)plen));
    OSEC_GUARD(osec_buf_append(b, purpose, plen));
    return osec_buf_append(b, aad, aad_len);
}

int osec_seal(const struct osec_master *m, const char *purpose, const uint8_t *aad,
              size_t aad_len, const uint8_t *pt, size_t pt_len, struct osec_buf *out)
{
    struct seal_hdr h = { .alg = OSEC_AEAD_AES256GCM };
    struct osec_buf ad = OSEC_BUF_INIT(0);
    uint8_t key[OSEC_KEY_LEN];
    size_t start = out ? out->len : 0;
    int rc;

    OSEC_ENSURE(m != NULL && m->n > 0 && out != NULL, OSEC_EINVAL, "seal: bad arguments");
    OSEC_ENSURE(pt_len <= SIZE_MAX - OSEC_SEAL_OVERHEAD, OSEC_EBOUNDS, "seal: too long");
    h.version = m->keys[m->n - 1].version;
    /* random 96-bit nonces: safe for far more than 2^32 seals per purpose key */
    OSEC_CHECK(rc, osec_rand_bytes(h.nonce, sizeof(h.nonce)));
    OSEC_CHECK(rc, derive_cached(m, &m->keys[m->n - 1], purpose, key));
    OSEC_CHECK(rc, osec_buf_reserve(out, OSEC_SEAL_OVERHEAD + pt_len));
    put_hdr(out->data + start, &h);
    OSEC_CHECK(rc, build_aad(out->data + start, purpose, aad, aad_len, &ad));
    OSEC_CHECK(rc, osec_aead_seal(h.alg, key, h.nonce, ad.data, ad.len, pt, pt_len,
                                  out->data + start + SEAL_HDR_LEN));
    out->len = start + OSEC_SEAL_OVERHEAD + pt_len;
    out->data[out->len] = '\0';
out:
    if (rc < 0 && out && out->data)
        out->data[start] = '\0';
    osec_wipe(key, sizeof(key));
    osec_buf_free(&ad);
    return rc;
}

int osec_unseal(const struct osec_master *m, const char *purpose, const uint8_t *aad,
                size_t aad_len, const uint8_t *sealed, size_t sealed_len,
                struct osec_buf *out)
{
    const struct osec_master_key *k;
    struct seal_hdr h;
    struct osec_buf ad = OSEC_BUF_INIT(0);
    uint8_t key[OSEC_KEY_LEN];
    size_t ct_len, pt_len;
    int rc;

    OSEC_ENSURE(m != NULL && m->n > 0 && out != NULL, OSEC_EINVAL, "unseal: bad arguments");
    OSEC_GUARD(get_hdr(sealed, sealed_len, &h));
    k = master_find(m, h.version);
    OSEC_ENSURE(k != NULL, OSEC_EINTEGRITY, "sealed value: unknown master key version %u",
                (unsigned)h.version);
    ct_len = sealed_len - SEAL_HDR_LEN;
    pt_len = ct_len - OSEC_AEAD_TAG_LEN;
    OSEC_CHECK(rc, derive_cached(m, k, purpose, key));
    OSEC_CHECK(rc, build_aad(sealed, purpose, aad, aad_len, &ad));
    OSEC_CHECK(rc, osec_buf_reserve(out, pt_len));
    OSEC_CHECK(rc, osec_aead_open(h.alg, key, h.nonce, ad.data, ad.len,
                                  sealed + SEAL_HDR_LEN, ct_len, out->data + out->len));
    out->len += pt_len;
    out->data[out->len] = '\0';
out:
    osec_wipe(key, sizeof(key));
    osec_buf_free(&ad);
    return rc;
}
