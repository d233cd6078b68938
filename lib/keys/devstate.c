#include "omasec/devstate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "omasec/account.h"
#include "omasec/error.h"

#define PURPOSE "devstate"
#define SUFFIX ".sealed"
#define RECORD_MAX (64 * 1024)

struct osec_devstate {
    char dir[4096];
    struct osec_master *m;
};

static int path_of(const struct osec_devstate *ds, const char *name, const char *suffix,
                   char *out, size_t len)
{
    OSEC_GUARD(osec_account_name_valid(name));
    return osec_snprintf(out, len, "%s/%s%s", ds->dir, name, suffix);
}

static int make_dir(const char *dir, bool create)
{
    struct stat st;

    if (lstat(dir, &st) == 0) {
        OSEC_ENSURE(S_ISDIR(st.st_mode), OSEC_EPERM, "%s is not a directory", dir);
        OSEC_ENSURE((st.st_mode & 077) == 0, OSEC_EPERM,
                    "%s is accessible by group/others (chmod 700)", dir);
        return 0;
    }
    OSEC_ENSURE(create, OSEC_ENOTFOUND, "%s does not exist", dir);
    OSEC_ENSURE(mkdir(dir, 0700) == 0, OSEC_EIO, "cannot create %s: %s", dir, strerror(errno));
    return 0;
}

int osec_devstate_open(const char *dir, bool create, struct osec_devstate **out)
{
    struct osec_devstate *ds;
    char mk[4200];
    int rc;

    *out = NULL;
    OSEC_GUARD(make_dir(dir, create));
    ds = calloc(1, sizeof(*ds));
    OSEC_ENSURE(ds != NULL, OSEC_ENOMEM, "out of memory");
    OSEC_CHECK(rc, osec_strlcpy(ds->dir, dir, sizeof(ds->dir)));
    OSEC_CHECK(rc, osec_snprintf(mk, sizeof(mk), "%s/master.key", dir));
    if (create) {
        rc = osec_master_create(mk);
        if (rc < 0 && rc != OSEC_EEXISTS)
            goto out;
    }
    rc = osec_master_load(mk, &ds->m);
out:
    if (rc < 0)
        osec_devstate_close(&ds);
    *out = ds;
    return rc;
}

void osec_devstate_close(struct osec_devstate **pds)
{
    if (!*pds)
        return;
    osec_master_free(&(*pds)->m);
    free(*pds);
    *pds = NULL;
}

const char *osec_devstate_dir(const struct osec_devstate *ds)
{
    return ds->dir;
}

static int write_file(const char *tmp, const char *final, const char *dir, const uint8_t *p,
                      size_t n)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    int dfd;

    OSEC_ENSURE(fd >= 0, OSEC_EIO, "cannot write %s: %s", tmp, strerror(errno));
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            (void)close(fd);
            (void)unlink(tmp);
            OSEC_BAIL(OSEC_EIO, "cannot write %s: %s", tmp, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, final) != 0) {
        (void)unlink(tmp);
        OSEC_BAIL(OSEC_EIO, "cannot store %s: %s", final, strerror(errno));
    }
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        (void)close(dfd);
    }
    return 0;
}

int osec_devstate_put(struct osec_devstate *ds, const char *name, const void *data, size_t len)
{
    char final[4400], tmp[4400];
    struct osec_buf sealed;
    int rc;

    OSEC_GUARD(path_of(ds, name, SUFFIX, final, sizeof(final)));
    OSEC_GUARD(path_of(ds, name, ".tmp", tmp, sizeof(tmp)));
    osec_buf_init(&sealed, RECORD_MAX + OSEC_SEAL_OVERHEAD);
    rc = osec_seal(ds->m, PURPOSE, (const uint8_t *)name, strlen(name), data, len, &sealed);
    if (rc == 0)
        rc = write_file(tmp, final, ds->dir, sealed.data, sealed.len);
    osec_buf_free(&sealed);
    return rc;
}

static int read_file(const char *path, struct osec_buf *out)
{
    uint8_t chunk[4096];
    struct stat st;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ssize_t n;

    if (fd < 0 && errno == ENOENT)
        OSEC_BAIL(OSEC_ENOTFOUND, "no such record");
    OSEC_ENSURE(fd >= 0, OSEC_EIO, "cannot read %s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
        (void)close(fd);
        OSEC_BAIL(OSEC_EPERM, "%s must be a regular file of mode 0600", path);
    }
    while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
        if (osec_buf_append(out, chunk, (size_t)n) < 0) {
            (void)close(fd);
            return OSEC_EBOUNDS;
        }
    }
    (void)close(fd);
    OSEC_ENSURE(n == 0, OSEC_EIO, "cannot read %s", path);
    return 0;
}

int osec_devstate_get(struct osec_devstate *ds, const char *name, struct osec_buf *out)
{
    char path[4400];
    struct osec_buf sealed;
    int rc;

    OSEC_GUARD(path_of(ds, name, SUFFIX, path, sizeof(path)));
    osec_buf_init(&sealed, RECORD_MAX + OSEC_SEAL_OVERHEAD);
    rc = read_file(path, &sealed);
    if (rc == 0)
        rc = osec_unseal(ds->m, PURPOSE, (const uint8_t *)name, strlen(name), sealed.data,
                         sealed.len, out);
    osec_buf_free(&sealed);
    return rc;
}

int osec_devstate_del(struct osec_devstate *ds, const char *name)
{
    char path[4400];

    OSEC_GUARD(path_of(ds, name, SUFFIX, path, sizeof(path)));
    if (unlink(path) != 0) {
        OSEC_ENSURE(errno != ENOENT, OSEC_ENOTFOUND, "no such record");
        OSEC_BAIL(OSEC_EIO, "cannot delete %s: %s", path, strerror(errno));
    }
    return 0;
}

int osec_devstate_list(struct osec_devstate *ds, const char *prefix,
                       int (*cb)(const char *name, void *arg), void *arg)
{
    DIR *d = opendir(ds->dir);
    struct dirent *e;
    size_t plen = strlen(prefix), slen = strlen(SUFFIX);
    int rc = 0;

    OSEC_ENSURE(d != NULL, OSEC_EIO, "cannot list %s: %s", ds->dir, strerror(errno));
    while (rc == 0 && (e = readdir(d)) != NULL) {
        char name[OSEC_STORE_NAME_MAX + 1];
        size_t n = strlen(e->d_name);

        if (n <= slen || strcmp(e->d_name + n - slen, SUFFIX) != 0 ||
            strncmp(e->d_name, prefix, plen) != 0 || n - slen >= sizeof(name))
            continue;
        memcpy(name, e->d_name, n - slen);
        name[n - slen] = '\0';
        rc = cb(name, arg);
    }
    (void)closedir(d);
    return rc < 0 ? rc : 0;
}
