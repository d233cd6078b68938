/* Unit tests for lib/store: the storage interface over both backends.
 *
 * The whole suite runs against SQLite, where each test gets a fresh database
 * in its own mkdtemp directory; then, when OSEC_TEST_PG_URL names a
 * PostgreSQL server (scripts/pg-test-cluster; make check sets it), once more
 * against PostgreSQL, in a database of its own (created from that URL, and
 * dropped at the end) whose schema is emptied before each test.  Written
 * against the public API; the few backend-specific checks look at f->pg.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef OSEC_HAVE_LIBPQ
#include <libpq-fe.h>
#endif

#include "omasec/buf.h"
#include "omasec/error.h"
#include "omasec/store.h"
#include "helpers/pgtest.h"
#include "omasec/util.h"

struct fx {
    char dir[64];
    char path[128];
    char url[512];
    bool pg; /* this run is against PostgreSQL */
    struct osec_store *st;
};

/* Set while the PostgreSQL run is going on: this process's database. */
static char pg_db_url[512];

#define pg_sql osec_test_pg_sql

/* An empty database: every test starts from nothing, as with SQLite. */
static void pg_reset(void)
{
    osec_test_pg_reset(pg_db_url);
}

static void join(char *dst, size_t n, const char *dir, const char *name)
{
    assert_int_equal(osec_snprintf(dst, n, "%s/%s", dir, name), 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    assert_int_equal(osec_strlcpy(f->dir, "/tmp/osec-store-XXXXXX", sizeof(f->dir)), 0);
    assert_non_null(mkdtemp(f->dir));
    join(f->path, sizeof(f->path), f->dir, "store.db");
    f->pg = pg_db_url[0] != '\0';
    if (f->pg) {
        pg_reset();
        assert_int_equal(osec_strlcpy(f->url, pg_db_url, sizeof(f->url)), 0);
    } else {
        assert_int_equal(osec_snprintf(f->url, sizeof(f->url), "sqlite:%s", f->path), 0);
    }
    assert_int_equal(osec_store_open(f->url, &f->st), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    static const char *const files[] = { "store.db", "store.db-wal", "store.db-shm",
                                         "garbage.db", "open.db", "fresh.db",
                                         "fresh.db-wal", "fresh.db-shm", "forked.db",
                                         "forked.db-wal", "forked.db-shm" };
    char p[160];

    osec_store_close(&f->st);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        join(p, sizeof(p), f->dir, files[i]);
        (void)unlink(p);
    }
    assert_int_equal(rmdir(f->dir), 0);
    free(f);
    return 0;
}

/* What another handle (thread, process) opens: the plain path form for
 * SQLite, the URL for PostgreSQL. */
static const char *handle_url(const struct fx *f)
{
    return f->pg ? f->url : f->path;
}

static struct osec_store *second_handle(struct fx *f)
{
    struct osec_store *st = NULL;

    assert_int_equal(osec_store_open(handle_url(f), &st), 0);
    return st;
}

/* ---- fixtures for records ---------------------------------------------- */

static void add_user(struct osec_store *st, const char *name)
{
    static uint8_t ha1[] = { 0xde, 0xad, 0xbe, 0xef, 0x00, 0x01 };
    struct osec_store_user u;

    memset(&u, 0, sizeof(u));
    assert_int_equal(osec_strlcpy(u.name, name, sizeof(u.name)), 0);
    assert_int_equal(osec_strlcpy(u.password_hash, "$scrypt$ln=15,r=8,p=1$c2FsdA$aGFzaA",
                                  sizeof(u.password_hash)), 0);
    u.ha1_sealed.data = ha1;
    u.ha1_sealed.len = sizeof(ha1);
    u.flags = OSEC_USER_REQUIRE_TLS;
    u.created = 1000;
    assert_int_equal(osec_store_user_add(st, &u), 0);
}

static struct osec_store_entity entity(const char *id, const char *type, const char *user,
                                       const char *key)
{
    struct osec_store_entity e;

    memset(&e, 0, sizeof(e));
    assert_int_equal(osec_strlcpy(e.entity_id, id, sizeof(e.entity_id)), 0);
    assert_int_equal(osec_strlcpy(e.type, type, sizeof(e.type)), 0);
    assert_int_equal(osec_strlcpy(e.user, user, sizeof(e.user)), 0);
    e.eukey_sealed.data = (uint8_t *)key;
    e.eukey_sealed.len = strlen(key);
    e.created = 2000;
    e.expires = 9000;
    return e;
}

static struct osec_store_otk otk(const char *id, const char *creator, const char *peer,
                                 int64_t expires)
{
    struct osec_store_otk k;

    memset(&k, 0, sizeof(k));
    assert_int_equal(osec_strlcpy(k.key_id, id, sizeof(k.key_id)), 0);
    assert_int_equal(osec_strlcpy(k.creator, creator, sizeof(k.creator)), 0);
    assert_int_equal(osec_strlcpy(k.peer, peer, sizeof(k.peer)), 0);
    k.sealed.data = (uint8_t *)"sealed-for-peer";
    k.sealed.len = 15;
    k.created = 100;
    k.expires = expires;
    return k;
}

static void add_address(struct osec_store *st, const char *uri, const char *user, int want)
{
    struct osec_store_address a;

    memset(&a, 0, sizeof(a));
    assert_int_equal(osec_strlcpy(a.uri, uri, sizeof(a.uri)), 0);
    assert_int_equal(osec_strlcpy(a.user, user, sizeof(a.user)), 0);
    a.created = 5;
    assert_int_equal(osec_store_address_add(st, &a), want);
}

static void set_acl(struct osec_store *st, const char *mbox, const char *ident,
                    const char *rights, int want)
{
    struct osec_store_acl a;

    memset(&a, 0, sizeof(a));
    assert_int_equal(osec_strlcpy(a.mailbox, mbox, sizeof(a.mailbox)), 0);
    assert_int_equal(osec_strlcpy(a.identifier, ident, sizeof(a.identifier)), 0);
    assert_int_equal(osec_strlcpy(a.rights, rights, sizeof(a.rights)), 0);
    assert_int_equal(osec_store_acl_set(st, &a), want);
}

/* Collects the first string field of listed records, joined by ','. */
struct names {
    char s[1024];
    int n;
    int stop_after; /* 0: never */
};

static int collect(struct names *c, const char *name)
{
    size_t used = strlen(c->s);

    assert_int_equal(osec_snprintf(c->s + used, sizeof(c->s) - used, "%s%s",
                                   c->n ? "," : "", name), 0);
    c->n++;
    return c->stop_after && c->n >= c->stop_after ? 1 : 0;
}

static int user_cb(const struct osec_store_user *u, void *arg)
{
    return collect(arg, u->name);
}

static int address_cb(const struct osec_store_address *a, void *arg)
{
    return collect(arg, a->uri);
}

static int entity_cb(const struct osec_store_entity *e, void *arg)
{
    return collect(arg, e->entity_id);
}

static int otk_cb(const struct osec_store_otk *k, void *arg)
{
    return collect(arg, k->key_id);
}

static int acl_cb(const struct osec_store_acl *a, void *arg)
{
    char s[512];

    assert_int_equal(osec_snprintf(s, sizeof(s), "%s=%s", a->identifier, a->rights), 0);
    return collect(arg, s);
}

static int policy_cb(const struct osec_store_policy *p, void *arg)
{
    char s[512];

    assert_int_equal(osec_snprintf(s, sizeof(s), "%s=%s", p->name, p->value), 0);
    return collect(arg, s);
}

static int audit_cb(const struct osec_store_audit *a, void *arg)
{
    return collect(arg, a->event);
}

static int fail_cb(const struct osec_store_user *u, void *arg)
{
    (void)u;
    (void)arg;
    return OSEC_EPERM;
}

/* ---- open / schema --------------------------------------------------------- */

static void open_creates_private_file_and_migrates_once(void **state)
{
    struct fx *f = *state;
    struct osec_store *b;
    struct osec_store_user u;
    struct stat sb;
    char wal[160];

    assert_string_equal(osec_store_backend(f->st), f->pg ? "postgresql" : "sqlite");
    add_user(f->st, "alice");
    if (!f->pg) {
        assert_int_equal(stat(f->path, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0600);
        join(wal, sizeof(wal), f->dir, "store.db-wal");
        assert_int_equal(stat(wal, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0600);
    }
    /* A second open of the migrated file must not re-run v1 (it would fail
     * on CREATE TABLE) and must see the data. */
    b = second_handle(f);
    assert_int_equal(osec_store_user_get(b, "alice", &u), 0);
    osec_store_user_clear(&u);
    osec_store_close(&b);
    assert_null(b);
    osec_store_close(&b); /* idempotent */
    osec_store_close(&f->st);
    assert_int_equal(osec_store_open(f->url, &f->st), 0);
    assert_int_equal(osec_store_user_get(f->st, "alice", &u), 0);
    osec_store_user_clear(&u);
    assert_int_equal(osec_store_check(f->st), 0);
}

static void open_rejects_bad_urls_and_paths(void **state)
{
    struct fx *f = *state;
    struct osec_store *st = (struct osec_store *)1;
    char p[160];
    int fd;

#ifdef OSEC_HAVE_LIBPQ
    /* No server behind the socket directory: a store failure, at once. */
    assert_int_equal(osec_store_open("postgresql:///omasec?host=/nonexistent-osec", &st),
                     OSEC_ESTORE);
    assert_null(st);
    assert_non_null(strstr(osec_error_msg(), "cannot connect to postgresql"));
    assert_int_equal(osec_store_open("postgres:///x?host=/nonexistent-osec", &st), OSEC_ESTORE);
    assert_int_equal(osec_store_open("postgresql://[", &st), OSEC_ESTORE);
#else
    assert_int_equal(osec_store_open("postgresql://db.example/omasec", &st), OSEC_EINVAL);
    assert_null(st);
    assert_non_null(strstr(osec_error_msg(), "postgresql backend not built"));
    assert_int_equal(osec_store_open("postgres://x", &st), OSEC_EINVAL);
#endif
    assert_null(st);
    assert_int_equal(osec_store_open("mysql://x", &st), OSEC_EINVAL);
    assert_int_equal(osec_store_open("", &st), OSEC_EINVAL);
    assert_int_equal(osec_store_open("sqlite:", &st), OSEC_EINVAL);
    assert_int_equal(osec_store_open("sqlite:/tmp/a\nb", &st), OSEC_EINVAL);
    assert_int_equal(osec_store_open(NULL, &st), OSEC_EINVAL);
    assert_int_equal(osec_store_open(f->url, NULL), OSEC_EINVAL);
    /* A directory that does not exist. */
    join(p, sizeof(p), f->dir, "missing/store.db");
    assert_int_equal(osec_store_open(p, &st), OSEC_ESTORE);
    assert_null(st);
    /* A file that is not a database. */
    join(p, sizeof(p), f->dir, "garbage.db");
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "this is not an SQLite database, not at all......", 48), 48);
    assert_int_equal(close(fd), 0);
    assert_int_equal(osec_store_open(p, &st), OSEC_ESTORE);
    /* World-readable store file. */
    join(p, sizeof(p), f->dir, "open.db");
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, 0644), 0);
    assert_int_equal(close(fd), 0);
    assert_int_equal(osec_store_open(p, &st), OSEC_EPERM);
    assert_null(st);
}

struct opener {
    const char *path;
    int rc;
};

static void *open_fresh(void *arg)
{
    struct opener *o = arg;
    struct osec_store *st = NULL;

    o->rc = osec_store_open(o->path, &st);
    if (o->rc == 0)
        o->rc = osec_store_check(st);
    osec_store_close(&st);
    return NULL;
}

/* A store nobody opened yet: a new SQLite file in the test directory, or
 * for PostgreSQL an emptied schema (the fixture's handle is closed first). */
static const char *fresh_store(struct fx *f, char *p, size_t n, const char *file)
{
    if (!f->pg) {
        join(p, n, f->dir, file);
        return p;
    }
    osec_store_close(&f->st);
    pg_reset();
    return f->url;
}

/* Several processes/threads starting at once on a new file: exactly one
 * migrates, the others wait for it and find the schema in place.  On
 * PostgreSQL this exercises the advisory lock around the migration. */
static void open_concurrently_on_fresh_file(void **state)
{
    struct fx *f = *state;
    char buf[160];
    const char *p = fresh_store(f, buf, sizeof(buf), "fresh.db");
    struct opener o[4];
    pthread_t t[4];
    struct osec_store *st = NULL;

    for (int i = 0; i < 4; i++) {
        o[i].path = p;
        o[i].rc = 1;
        assert_int_equal(pthread_create(&t[i], NULL, open_fresh, &o[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(o[i].rc, 0);
    }
    assert_int_equal(osec_store_open(p, &st), 0);
    add_user(st, "alice");
    osec_store_close(&st);
}

/* The same with separate processes (daemons started together): each adds
 * its own user, so every migration and write must have landed. */
static void open_concurrently_from_processes(void **state)
{
    struct fx *f = *state;
    struct osec_store *st = NULL;
    struct osec_store_user u;
    char buf[160], name[16];
    const char *p = fresh_store(f, buf, sizeof(buf), "forked.db");
    pid_t pid[4];
    int status;

    for (int i = 0; i < 4; i++) {
        pid[i] = fork();
        assert_true(pid[i] >= 0);
        if (pid[i] == 0) {
            struct opener o = { p, 1 };

            (void)open_fresh(&o);
            if (o.rc == 0 && osec_store_open(p, &st) == 0) {
                (void)osec_snprintf(name, sizeof(name), "user%d", i);
                memset(&u, 0, sizeof(u));
                (void)osec_strlcpy(u.name, name, sizeof(u.name));
                o.rc = osec_store_user_add(st, &u);
                osec_store_close(&st);
            }
            _exit(o.rc == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(osec_store_open(p, &st), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(osec_snprintf(name, sizeof(name), "user%d", i), 0);
        assert_int_equal(osec_store_user_get(st, name, &u), 0);
        osec_store_user_clear(&u);
    }
    osec_store_close(&st);
}

/* A database written by a newer omasec is left alone. */
static void newer_schema_is_refused(void **state)
{
    struct fx *f = *state;
    struct osec_store *st = NULL;
    sqlite3 *db = NULL;

    osec_store_close(&f->st);
    if (f->pg) {
        pg_sql(f->url, "UPDATE schema_version SET version = 99");
    } else {
        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_close(db), SQLITE_OK);
    }
    assert_int_equal(osec_store_open(handle_url(f), &st), OSEC_ESTORE);
    assert_non_null(strstr(osec_error_msg(), "newer"));
    assert_null(st);
}

static void open_in_memory(void **state)
{
    struct osec_store *st = NULL;
    struct osec_store_user u;
    (void)state;

    assert_int_equal(osec_store_open("sqlite::memory:", &st), 0);
    add_user(st, "mem");
    assert_int_equal(osec_store_user_get(st, "mem", &u), 0);
    osec_store_user_clear(&u);
    assert_int_equal(osec_store_check(st), 0);
    osec_store_close(&st);
}

/* ---- users ------------------------------------------------------------------ */

static void users_crud(void **state)
{
    struct fx *f = *state;
    struct osec_store_user u;
    uint8_t big[OSEC_STORE_BLOB_MAX + 1] = { 0 };
    int64_t before = osec_time_now();

    add_user(f->st, "alice");
    assert_int_equal(osec_store_user_get(f->st, "alice", &u), 0);
    assert_string_equal(u.name, "alice");
    assert_string_equal(u.password_hash, "$scrypt$ln=15,r=8,p=1$c2FsdA$aGFzaA");
    assert_int_equal(u.ha1_sealed.len, 6);
    assert_memory_equal(u.ha1_sealed.data, "\xde\xad\xbe\xef\x00\x01", 6);
    assert_int_equal(u.flags, OSEC_USER_REQUIRE_TLS);
    assert_int_equal(u.created, 1000);
    /* Duplicate add keeps the original. */
    u.created = 7;
    assert_int_equal(osec_store_user_add(f->st, &u), OSEC_EEXISTS);
    osec_store_user_clear(&u);
    assert_null(u.ha1_sealed.data);
    assert_int_equal(osec_store_user_get(f->st, "bob", &u), OSEC_ENOTFOUND);

    assert_int_equal(osec_store_user_set_password(f->st, "alice", "$new", NULL, 0), 0);
    assert_int_equal(osec_store_user_get(f->st, "alice", &u), 0);
    assert_string_equal(u.password_hash, "$new");
    assert_int_equal(u.ha1_sealed.len, 0);
    assert_null(u.ha1_sealed.data);
    osec_store_user_clear(&u);
    assert_int_equal(osec_store_user_set_password(f->st, "bob", "$x", NULL, 0), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_user_set_password(f->st, "alice", "$x", NULL, 1), OSEC_EINVAL);
    assert_int_equal(osec_store_user_set_password(f->st, "alice", "$x", big, sizeof(big)),
                     OSEC_EBOUNDS);

    assert_int_equal(osec_store_user_set_flags(f->st, "alice",
                                               OSEC_USER_DISABLED | OSEC_USER_ENCRYPT_MSGS), 0);
    assert_int_equal(osec_store_user_get(f->st, "alice", &u), 0);
    assert_int_equal(u.flags, OSEC_USER_DISABLED | OSEC_USER_ENCRYPT_MSGS);
    osec_store_user_clear(&u);
    assert_int_equal(osec_store_user_set_flags(f->st, "alice", 8), OSEC_EINVAL);
    assert_int_equal(osec_store_user_set_flags(f->st, "bob", 0), OSEC_ENOTFOUND);

    /* created 0 means now. */
    memset(&u, 0, sizeof(u));
    assert_int_equal(osec_strlcpy(u.name, "carol", sizeof(u.name)), 0);
    assert_int_equal(osec_store_user_add(f->st, &u), 0);
    assert_int_equal(osec_store_user_get(f->st, "carol", &u), 0);
    assert_true(u.created >= before && u.created <= osec_time_now());
    osec_store_user_clear(&u);

    assert_int_equal(osec_store_user_del(f->st, "alice"), 0);
    assert_int_equal(osec_store_user_del(f->st, "alice"), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_user_get(f->st, "alice", &u), OSEC_ENOTFOUND);
}

static void names_are_validated(void **state)
{
    struct fx *f = *state;
    struct osec_store_user u;
    char name[OSEC_STORE_NAME_MAX + 2];

    memset(name, 'n', sizeof(name));
    name[OSEC_STORE_NAME_MAX] = '\0';
    add_user(f->st, name); /* exactly the limit */
    memset(&u, 0, sizeof(u));
    memset(u.name, 'n', sizeof(u.name)); /* no NUL inside the array */
    assert_int_equal(osec_store_user_add(f->st, &u), OSEC_EBOUNDS);
    name[OSEC_STORE_NAME_MAX] = 'n';
    name[OSEC_STORE_NAME_MAX + 1] = '\0';
    assert_int_equal(osec_store_user_get(f->st, name, &u), OSEC_EBOUNDS);
    assert_int_equal(osec_store_user_get(f->st, "", &u), OSEC_EINVAL);
    assert_int_equal(osec_store_user_get(f->st, "a\tb", &u), OSEC_EINVAL);
    assert_int_equal(osec_store_user_get(f->st, "a\x7f", &u), OSEC_EINVAL);
    assert_int_equal(osec_store_user_get(f->st, "a\r\nb", &u), OSEC_EINVAL);
    assert_int_equal(osec_store_user_get(f->st, NULL, &u), OSEC_EINVAL);
    assert_int_equal(osec_store_user_get(NULL, "a", &u), OSEC_EINVAL);
    assert_int_equal(osec_store_user_del(f->st, "x\x01"), OSEC_EINVAL);
    add_user(f->st, "J\xc3\xa9r\xc3\xb4me"); /* UTF-8 is fine */
    assert_int_equal(osec_store_user_get(f->st, "J\xc3\xa9r\xc3\xb4me", &u), 0);
    osec_store_user_clear(&u);
    /* Byte-exact: no case folding. */
    assert_int_equal(osec_store_user_get(f->st, "j\xc3\xa9r\xc3\xb4me", &u), OSEC_ENOTFOUND);
}

static void users_list_order_stop_and_error(void **state)
{
    struct fx *f = *state;
    struct names c = { .n = 0 };

    add_user(f->st, "carol");
    add_user(f->st, "alice");
    add_user(f->st, "bob");
    assert_int_equal(osec_store_user_list(f->st, user_cb, &c), 0);
    assert_string_equal(c.s, "alice,bob,carol");
    memset(&c, 0, sizeof(c));
    c.stop_after = 2;
    assert_int_equal(osec_store_user_list(f->st, user_cb, &c), 0);
    assert_string_equal(c.s, "alice,bob");
    assert_int_equal(osec_store_user_list(f->st, fail_cb, NULL), OSEC_EPERM);
    assert_int_equal(osec_store_user_list(f->st, NULL, NULL), OSEC_EINVAL);
    /* The statement was reset: listing again works. */
    memset(&c, 0, sizeof(c));
    assert_int_equal(osec_store_user_list(f->st, user_cb, &c), 0);
    assert_int_equal(c.n, 3);
}

struct reenter {
    struct osec_store *st;
    int calls;
};

static int reenter_cb(const struct osec_store_user *u, void *arg)
{
    struct reenter *r = arg;
    struct osec_store_user got;
    struct names c = { .n = 0 };

    r->calls++;
    /* Reads through the same handle work ... */
    assert_int_equal(osec_store_user_get(r->st, u->name, &got), 0);
    osec_store_user_clear(&got);
    /* ... writes and the same listing again are refused. */
    assert_int_equal(osec_store_user_set_flags(r->st, u->name, 0), OSEC_EBUSY);
    assert_int_equal(osec_store_begin(r->st), OSEC_EBUSY);
    assert_int_equal(osec_store_user_list(r->st, user_cb, &c), OSEC_EBUSY);
    return 0;
}

static void list_callbacks_cannot_write(void **state)
{
    struct fx *f = *state;
    struct reenter r = { f->st, 0 };

    add_user(f->st, "alice");
    add_user(f->st, "bob");
    assert_int_equal(osec_store_user_list(f->st, reenter_cb, &r), 0);
    assert_int_equal(r.calls, 2);
    assert_int_equal(osec_store_user_set_flags(f->st, "alice", 0), 0); /* writable again */
}

/* ---- addresses --------------------------------------------------------------- */

static void addresses(void **state)
{
    struct fx *f = *state;
    struct names c = { .n = 0 };
    struct osec_store_address a;
    char owner[OSEC_STORE_NAME_MAX + 1];
    char uri[OSEC_STORE_URI_MAX + 2];

    add_user(f->st, "alice");
    add_user(f->st, "bob");
    add_address(f->st, "sip:alice@example.com", "alice", 0);
    add_address(f->st, "tel:+15551234", "alice", 0);
    add_address(f->st, "sip:bob@example.com", "bob", 0);
    add_address(f->st, "sip:alice@example.com", "alice", OSEC_EEXISTS);
    add_address(f->st, "sip:alice@example.com", "bob", OSEC_EEXISTS);
    add_address(f->st, "sip:eve@example.com", "eve", OSEC_ENOTFOUND);
    memset(&a, 0, sizeof(a));
    memset(a.uri, 'u', sizeof(a.uri)); /* fills the array: no room for the NUL */
    assert_int_equal(osec_strlcpy(a.user, "alice", sizeof(a.user)), 0);
    assert_int_equal(osec_store_address_add(f->st, &a), OSEC_EBOUNDS);
    memset(uri, 'u', sizeof(uri));
    uri[OSEC_STORE_URI_MAX + 1] = '\0';
    assert_int_equal(osec_store_address_del(f->st, uri), OSEC_EBOUNDS);
    uri[OSEC_STORE_URI_MAX] = '\0';
    add_address(f->st, uri, "alice", 0); /* exactly the limit */

    assert_int_equal(osec_store_address_owner(f->st, "sip:alice@example.com", owner,
                                              sizeof(owner)), 0);
    assert_string_equal(owner, "alice");
    assert_int_equal(osec_store_address_owner(f->st, "sip:eve@example.com", owner,
                                              sizeof(owner)), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_address_owner(f->st, "sip:bob@example.com", owner, 3),
                     OSEC_EBOUNDS);
    assert_int_equal(osec_store_address_list(f->st, "alice", address_cb, &c), 0);
    assert_int_equal(c.n, 3);
    assert_true(strncmp(c.s, "sip:alice@example.com,tel:+15551234,uuu", 39) == 0);
    assert_int_equal(osec_store_address_del(f->st, uri), 0);
    memset(&c, 0, sizeof(c));
    assert_int_equal(osec_store_address_list(f->st, NULL, address_cb, &c), 0);
    assert_string_equal(c.s, "sip:alice@example.com,sip:bob@example.com,tel:+15551234");
    memset(&c, 0, sizeof(c));
    assert_int_equal(osec_store_address_list(f->st, "nobody", address_cb, &c), 0);
    assert_int_equal(c.n, 0);

    assert_int_equal(osec_store_address_del(f->st, "tel:+15551234"), 0);
    assert_int_equal(osec_store_address_del(f->st, "tel:+15551234"), OSEC_ENOTFOUND);
    add_address(f->st, "tel:+15551234", "bob", 0); /* free again: reallocate */
    assert_int_equal(osec_store_address_owner(f->st, "tel:+15551234", owner, sizeof(owner)), 0);
    assert_string_equal(owner, "bob");
}

/* ---- entities ---------------------------------------------------------------- */

static void entities(void **state)
{
    struct fx *f = *state;
    struct osec_store_entity e, got;
    struct names c = { .n = 0 };

    add_user(f->st, "alice");
    add_user(f->st, "bob");
    e = entity("gw-1", "gw", "alice", "key-one");
    assert_int_equal(osec_store_entity_put(f->st, &e), 0);
    e = entity("pne-1", "pne", "alice", "key-two");
    assert_int_equal(osec_store_entity_put(f->st, &e), 0);
    e = entity("pne-9", "pne", "bob", "key-bob");
    assert_int_equal(osec_store_entity_put(f->st, &e), 0);

    assert_int_equal(osec_store_entity_get(f->st, "gw-1", &got), 0);
    assert_string_equal(got.type, "gw");
    assert_string_equal(got.user, "alice");
    assert_int_equal(got.eukey_sealed.len, 7);
    assert_memory_equal(got.eukey_sealed.data, "key-one", 7);
    assert_int_equal(got.created, 2000);
    assert_int_equal(got.expires, 9000);
    assert_int_equal(got.revoked, 0);
    osec_store_entity_clear(&got);
    assert_int_equal(osec_store_entity_get(f->st, "nope", &got), OSEC_ENOTFOUND);

    /* Reassignment by the same user replaces the key and clears revocation. */
    assert_int_equal(osec_store_entity_revoke(f->st, "gw-1", 3000), 0);
    e = entity("gw-1", "gw", "alice", "key-new!");
    e.created = 4000;
    assert_int_equal(osec_store_entity_put(f->st, &e), 0);
    assert_int_equal(osec_store_entity_get(f->st, "gw-1", &got), 0);
    assert_memory_equal(got.eukey_sealed.data, "key-new!", 8);
    assert_int_equal(got.created, 4000);
    assert_int_equal(got.revoked, 0);
    osec_store_entity_clear(&got);

    /* Another user's entity id: refused, original untouched. */
    e = entity("gw-1", "gw", "bob", "stolen");
    assert_int_equal(osec_store_entity_put(f->st, &e), OSEC_EPERM);
    assert_int_equal(osec_store_entity_get(f->st, "gw-1", &got), 0);
    assert_string_equal(got.user, "alice");
    assert_memory_equal(got.eukey_sealed.data, "key-new!", 8);
    osec_store_entity_clear(&got);

    e = entity("pne-2", "pne", "eve", "k");
    assert_int_equal(osec_store_entity_put(f->st, &e), OSEC_ENOTFOUND);
    e = entity("pne-2", "phone", "alice", "k");
    assert_int_equal(osec_store_entity_put(f->st, &e), OSEC_EINVAL);
    e = entity("pne-2", "pne", "alice", "k");
    e.expires = -1;
    assert_int_equal(osec_store_entity_put(f->st, &e), OSEC_EINVAL);

    assert_int_equal(osec_store_entity_list(f->st, "alice", entity_cb, &c), 0);
    assert_string_equal(c.s, "gw-1,pne-1");
    memset(&c, 0, sizeof(c));
    assert_int_equal(osec_store_entity_list(f->st, NULL, entity_cb, &c), 0);
    assert_string_equal(c.s, "gw-1,pne-1,pne-9");

    assert_int_equal(osec_store_entity_delete(f->st, "pne-9"), 0);
    assert_int_equal(osec_store_entity_delete(f->st, "pne-9"), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_entity_get(f->st, "pne-9", &got), OSEC_ENOTFOUND);
}

static void entity_revoke_drops_onetime_keys(void **state)
{
    struct fx *f = *state;
    struct osec_store_entity e, got;
    struct osec_store_otk k;

    add_user(f->st, "alice");
    e = entity("gw-1", "gw", "alice", "k1");
    assert_int_equal(osec_store_entity_put(f->st, &e), 0);
    e = entity("pne-1", "pne", "alice", "k2");
    assert_int_equal(osec_store_entity_put(f->st, &e), 0);
    e = entity("pne-2", "pne", "alice", "k3");
    assert_int_equal(osec_store_entity_put(f->st, &e), 0);
    k = otk("otk-a", "gw-1", "pne-1", 500);
    assert_int_equal(osec_store_otk_add(f->st, &k), 0);
    k = otk("otk-b", "gw-1", "pne-2", 500);
    assert_int_equal(osec_store_otk_add(f->st, &k), 0);

    assert_int_equal(osec_store_entity_revoke(f->st, "pne-1", 3000), 0);
    assert_int_equal(osec_store_entity_revoke(f->st, "pne-1", 3500), 0);
    assert_int_equal(osec_store_entity_get(f->st, "pne-1", &got), 0);
    assert_int_equal(got.revoked, 3000); /* the first revocation time stays */
    osec_store_entity_clear(&got);
    assert_int_equal(osec_store_otk_get(f->st, "otk-a", &k), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_otk_get(f->st, "otk-b", &k), 0);
    osec_store_otk_clear(&k);
    assert_int_equal(osec_store_entity_revoke(f->st, "nope", 1), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_tx_depth(f->st), 0);
    /* Deleting the creator removes its keys too (cascade). */
    assert_int_equal(osec_store_entity_delete(f->st, "gw-1"), 0);
    assert_int_equal(osec_store_otk_get(f->st, "otk-b", &k), OSEC_ENOTFOUND);
}

/* ---- onetime keys ------------------------------------------------------------ */

static void setup_entities(struct osec_store *st)
{
    struct osec_store_entity e;

    add_user(st, "alice");
    add_user(st, "bob");
    e = entity("gw-1", "gw", "alice", "k1");
    assert_int_equal(osec_store_entity_put(st, &e), 0);
    e = entity("pne-1", "pne", "alice", "k2");
    assert_int_equal(osec_store_entity_put(st, &e), 0);
    e = entity("pne-9", "pne", "bob", "k3");
    assert_int_equal(osec_store_entity_put(st, &e), 0);
}

static void onetime_keys(void **state)
{
    struct fx *f = *state;
    struct osec_store_otk k, got;
    struct names c = { .n = 0 };
    uint64_t n = 99;

    setup_entities(f->st);
    k = otk("otk-1", "gw-1", "pne-1", 500);
    assert_int_equal(osec_store_otk_add(f->st, &k), 0);
    assert_int_equal(osec_store_otk_add(f->st, &k), OSEC_EEXISTS);
    k = otk("otk-0", "gw-1", "pne-1", 600);
    k.created = 50;
    assert_int_equal(osec_store_otk_add(f->st, &k), 0);
    k = otk("otk-old", "gw-1", "pne-1", 150);
    assert_int_equal(osec_store_otk_add(f->st, &k), 0);
    k = otk("otk-x", "gw-1", "pne-404", 500);
    assert_int_equal(osec_store_otk_add(f->st, &k), OSEC_ENOTFOUND);
    k = otk("otk-x", "gw-404", "pne-1", 500);
    assert_int_equal(osec_store_otk_add(f->st, &k), OSEC_ENOTFOUND);
    k = otk("otk-x", "gw-1", "pne-1", 0);
    assert_int_equal(osec_store_otk_add(f->st, &k), OSEC_EINVAL);

    assert_int_equal(osec_store_otk_get(f->st, "otk-1", &got), 0);
    assert_string_equal(got.creator, "gw-1");
    assert_string_equal(got.peer, "pne-1");
    assert_int_equal(got.sealed.len, 15);
    assert_memory_equal(got.sealed.data, "sealed-for-peer", 15);
    assert_int_equal(got.created, 100);
    assert_int_equal(got.expires, 500);
    osec_store_otk_clear(&got);
    assert_int_equal(osec_store_otk_get(f->st, "none", &got), OSEC_ENOTFOUND);

    /* Unexpired keys for the peer, oldest first. */
    assert_int_equal(osec_store_otk_list_for(f->st, "pne-1", 200, otk_cb, &c), 0);
    assert_string_equal(c.s, "otk-0,otk-1");
    memset(&c, 0, sizeof(c));
    assert_int_equal(osec_store_otk_list_for(f->st, "gw-1", 200, otk_cb, &c), 0);
    assert_int_equal(c.n, 0);

    /* Not creator or peer: refused and kept. */
    assert_int_equal(osec_store_otk_consume(f->st, "otk-1", "pne-9", 200, &got), OSEC_EPERM);
    assert_int_equal(osec_store_otk_get(f->st, "otk-1", &got), 0);
    osec_store_otk_clear(&got);
    assert_int_equal(osec_store_otk_consume(f->st, "otk-1", "pne-1", 200, &got), 0);
    assert_memory_equal(got.sealed.data, "sealed-for-peer", 15);
    assert_string_equal(got.key_id, "otk-1");
    osec_store_otk_clear(&got);
    assert_int_equal(osec_store_otk_consume(f->st, "otk-1", "pne-1", 200, &got), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_otk_consume(f->st, "otk-0", "gw-1", 200, &got), 0);
    osec_store_otk_clear(&got);
    /* Expired: refused, and gone. */
    assert_int_equal(osec_store_otk_consume(f->st, "otk-old", "pne-1", 150, &got), OSEC_ESTALE);
    assert_null(got.sealed.data);
    assert_int_equal(osec_store_otk_get(f->st, "otk-old", &got), OSEC_ENOTFOUND);

    /* Purge. */
    k = otk("p1", "gw-1", "pne-1", 300);
    assert_int_equal(osec_store_otk_add(f->st, &k), 0);
    k = otk("p2", "gw-1", "pne-1", 400);
    assert_int_equal(osec_store_otk_add(f->st, &k), 0);
    k = otk("p3", "gw-1", "pne-1", 401);
    assert_int_equal(osec_store_otk_add(f->st, &k), 0);
    assert_int_equal(osec_store_otk_purge_expired(f->st, 400, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(osec_store_otk_purge_expired(f->st, 400, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(osec_store_otk_get(f->st, "p3", &got), 0);
    osec_store_otk_clear(&got);
}

static void otk_consume_once_across_handles(void **state)
{
    struct fx *f = *state;
    struct osec_store *b = second_handle(f);
    struct osec_store_otk k, got;

    setup_entities(f->st);
    k = otk("otk-1", "gw-1", "pne-1", 500);
    assert_int_equal(osec_store_otk_add(f->st, &k), 0);
    assert_int_equal(osec_store_otk_consume(b, "otk-1", "pne-1", 200, &got), 0);
    osec_store_otk_clear(&got);
    assert_int_equal(osec_store_otk_consume(f->st, "otk-1", "pne-1", 200, &got), OSEC_ENOTFOUND);
    osec_store_close(&b);
}

#define RACE_KEYS 40

struct racer {
    const char *path;
    int won;
    int lost;
    int other;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    struct osec_store *st = NULL;
    struct osec_store_otk got;
    char id[32];

    if (osec_store_open(r->path, &st) != 0) {
        r->other++;
        return NULL;
    }
    for (int i = 0; i < RACE_KEYS; i++) {
        (void)osec_snprintf(id, sizeof(id), "race-%d", i);
        int rc = osec_store_otk_consume(st, id, "pne-1", 200, &got);

        if (rc == 0)
            r->won++;
        else if (rc == OSEC_ENOTFOUND)
            r->lost++;
        else
            r->other++;
        osec_store_otk_clear(&got);
    }
    osec_store_close(&st);
    return NULL;
}

/* Two threads with their own handles race for the same keys: every key is
 * handed out exactly once. */
static void otk_consume_race(void **state)
{
    struct fx *f = *state;
    struct racer r[2] = { { handle_url(f), 0, 0, 0 }, { handle_url(f), 0, 0, 0 } };
    pthread_t t[2];
    struct osec_store_otk k;
    char id[32];

    setup_entities(f->st);
    assert_int_equal(osec_store_begin(f->st), 0);
    for (int i = 0; i < RACE_KEYS; i++) {
        assert_int_equal(osec_snprintf(id, sizeof(id), "race-%d", i), 0);
        k = otk(id, "gw-1", "pne-1", 500);
        assert_int_equal(osec_store_otk_add(f->st, &k), 0);
    }
    assert_int_equal(osec_store_commit(f->st), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(r[0].other + r[1].other, 0);
    assert_int_equal(r[0].won + r[1].won, RACE_KEYS);
    assert_int_equal(r[0].lost + r[1].lost, RACE_KEYS);
}

/* ---- transactions -------------------------------------------------------------- */

static void transactions(void **state)
{
    struct fx *f = *state;
    struct osec_store *b = second_handle(f);
    struct osec_store_user u;
    char owner[OSEC_STORE_NAME_MAX + 1];

    assert_int_equal(osec_store_commit(f->st), OSEC_EINVAL);
    assert_int_equal(osec_store_rollback(f->st), OSEC_EINVAL);

    /* Rollback leaves nothing. */
    assert_int_equal(osec_store_begin(f->st), 0);
    assert_int_equal(osec_store_tx_depth(f->st), 1);
    add_user(f->st, "alice");
    add_address(f->st, "sip:alice@example.com", "alice", 0);
    /* Not visible to another handle before commit. */
    assert_int_equal(osec_store_user_get(b, "alice", &u), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_rollback(f->st), 0);
    assert_int_equal(osec_store_tx_depth(f->st), 0);
    assert_int_equal(osec_store_user_get(f->st, "alice", &u), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_address_owner(f->st, "sip:alice@example.com", owner,
                                              sizeof(owner)), OSEC_ENOTFOUND);

    /* Nested: the inner rollback undoes only its part. */
    assert_int_equal(osec_store_begin(f->st), 0);
    add_user(f->st, "alice");
    assert_int_equal(osec_store_begin(f->st), 0);
    assert_int_equal(osec_store_tx_depth(f->st), 2);
    add_user(f->st, "bob");
    assert_int_equal(osec_store_rollback(f->st), 0);
    assert_int_equal(osec_store_begin(f->st), 0);
    add_user(f->st, "carol");
    assert_int_equal(osec_store_commit(f->st), 0);
    /* A failing operation inside the transaction does not end it. */
    add_address(f->st, "sip:x@example.com", "nobody", OSEC_ENOTFOUND);
    assert_int_equal(osec_store_user_del(f->st, "nobody"), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_tx_depth(f->st), 1);
    assert_int_equal(osec_store_commit(f->st), 0);
    assert_int_equal(osec_store_user_get(b, "alice", &u), 0);
    osec_store_user_clear(&u);
    assert_int_equal(osec_store_user_get(b, "bob", &u), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_user_get(b, "carol", &u), 0);
    osec_store_user_clear(&u);

    /* Closing with an open transaction rolls it back. */
    assert_int_equal(osec_store_begin(b), 0);
    add_user(b, "dave");
    osec_store_close(&b);
    assert_int_equal(osec_store_user_get(f->st, "dave", &u), OSEC_ENOTFOUND);
}

/* ---- user_del cascade --------------------------------------------------------- */

static void user_del_cascades(void **state)
{
    struct fx *f = *state;
    struct osec_store_otk k;
    struct osec_store_acl a;
    struct osec_store_entity e;
    struct names c = { .n = 0 };
    char owner[OSEC_STORE_NAME_MAX + 1];

    setup_entities(f->st);
    add_address(f->st, "sip:alice@example.com", "alice", 0);
    add_address(f->st, "sip:bob@example.com", "bob", 0);
    k = otk("a-to-a", "gw-1", "pne-1", 500);
    assert_int_equal(osec_store_otk_add(f->st, &k), 0);
    k = otk("a-to-b", "gw-1", "pne-9", 500);
    assert_int_equal(osec_store_otk_add(f->st, &k), 0);
    set_acl(f->st, "INBOX", "alice", "lrs", 0);
    set_acl(f->st, "shared", "-alice", "w", 0);
    set_acl(f->st, "shared", "bob", "lrswi", 0);
    set_acl(f->st, "shared", "alice2", "l", 0);

    assert_int_equal(osec_store_user_del(f->st, "alice"), 0);
    assert_int_equal(osec_store_address_owner(f->st, "sip:alice@example.com", owner,
                                              sizeof(owner)), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_entity_get(f->st, "gw-1", &e), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_entity_get(f->st, "pne-1", &e), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_otk_get(f->st, "a-to-a", &k), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_otk_get(f->st, "a-to-b", &k), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_acl_get(f->st, "INBOX", "alice", &a), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_acl_get(f->st, "shared", "-alice", &a), OSEC_ENOTFOUND);
    /* Bob's things stay. */
    assert_int_equal(osec_store_address_owner(f->st, "sip:bob@example.com", owner,
                                              sizeof(owner)), 0);
    assert_int_equal(osec_store_entity_get(f->st, "pne-9", &e), 0);
    osec_store_entity_clear(&e);
    assert_int_equal(osec_store_acl_list(f->st, "shared", acl_cb, &c), 0);
    assert_string_equal(c.s, "alice2=l,bob=lrswi");
    assert_int_equal(osec_store_tx_depth(f->st), 0);
}

/* ---- ACL, policy, meta, audit -------------------------------------------------- */

static void acl(void **state)
{
    struct fx *f = *state;
    struct osec_store_acl a;
    struct names c = { .n = 0 };
    char mbox[OSEC_STORE_MAILBOX_MAX + 2];
    uint64_t n = 9;

    set_acl(f->st, "INBOX", "alice", "lrswipkxtea", 0);
    set_acl(f->st, "INBOX", "anyone", "l", 0);
    set_acl(f->st, "INBOX", "-bob", "", 0);
    set_acl(f->st, "INBOX", "alice", "lr", 0); /* replace */
    set_acl(f->st, "INBOX", "alice", "l r", OSEC_EINVAL);
    set_acl(f->st, "INBOX", "alice", "l$", OSEC_EINVAL);
    set_acl(f->st, "", "alice", "l", OSEC_EINVAL);
    set_acl(f->st, "INBOX", "", "l", OSEC_EINVAL);
    memset(mbox, 'm', sizeof(mbox));
    mbox[OSEC_STORE_MAILBOX_MAX + 1] = '\0';
    assert_int_equal(osec_store_acl_list(f->st, mbox, acl_cb, &c), OSEC_EBOUNDS);

    assert_int_equal(osec_store_acl_get(f->st, "INBOX", "alice", &a), 0);
    assert_string_equal(a.rights, "lr");
    assert_int_equal(osec_store_acl_get(f->st, "INBOX", "carol", &a), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_acl_list(f->st, "INBOX", acl_cb, &c), 0);
    assert_string_equal(c.s, "-bob=,alice=lr,anyone=l");
    assert_int_equal(osec_store_acl_delete(f->st, "INBOX", "anyone"), 0);
    assert_int_equal(osec_store_acl_delete(f->st, "INBOX", "anyone"), OSEC_ENOTFOUND);
    set_acl(f->st, "Archive", "alice", "l", 0);
    assert_int_equal(osec_store_acl_delete_mailbox(f->st, "INBOX", &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(osec_store_acl_get(f->st, "Archive", "alice", &a), 0);
}

static void policy(void **state)
{
    struct fx *f = *state;
    struct osec_store_policy p;
    struct names c = { .n = 0 };

    assert_int_equal(osec_store_policy_set(f->st, "digest.algorithms", "SHA-256"), 0);
    assert_int_equal(osec_store_policy_set(f->st, "tls.required", "yes"), 0);
    assert_int_equal(osec_store_policy_set(f->st, "digest.algorithms", "SHA-256,SHA-512-256"),
                     0);
    assert_int_equal(osec_store_policy_set(f->st, "empty", ""), 0);
    assert_int_equal(osec_store_policy_set(f->st, "bad", "a\nb"), OSEC_EINVAL);
    assert_int_equal(osec_store_policy_get(f->st, "digest.algorithms", &p), 0);
    assert_string_equal(p.value, "SHA-256,SHA-512-256");
    assert_int_equal(osec_store_policy_get(f->st, "missing", &p), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_policy_list(f->st, policy_cb, &c), 0);
    assert_string_equal(c.s, "digest.algorithms=SHA-256,SHA-512-256,empty=,tls.required=yes");
    assert_int_equal(osec_store_policy_del(f->st, "empty"), 0);
    assert_int_equal(osec_store_policy_del(f->st, "empty"), OSEC_ENOTFOUND);
}

struct gen_state {
    int calls;
    uint8_t byte;
    int fail;
};

static int gen(void *arg, struct osec_buf *out)
{
    struct gen_state *g = arg;
    uint8_t v[32];

    g->calls++;
    if (g->fail)
        return OSEC_ECRYPTO;
    memset(v, g->byte, sizeof(v));
    return osec_buf_append(out, v, sizeof(v));
}

static void meta(void **state)
{
    struct fx *f = *state;
    struct osec_store *b = second_handle(f);
    struct osec_store_blob v1 = { 0 }, v2 = { 0 };
    struct gen_state g1 = { 0, 0xaa, 0 }, g2 = { 0, 0xbb, 0 }, bad = { 0, 0, 1 };

    assert_int_equal(osec_store_meta_get(f->st, "nonce.secret", &v1), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_meta_get_or_create(f->st, "x", gen, &bad, &v1), OSEC_ECRYPTO);
    assert_int_equal(osec_store_meta_get(f->st, "x", &v1), OSEC_ENOTFOUND);

    assert_int_equal(osec_store_meta_get_or_create(f->st, "nonce.secret", gen, &g1, &v1), 0);
    assert_int_equal(osec_store_meta_get_or_create(b, "nonce.secret", gen, &g2, &v2), 0);
    assert_int_equal(g1.calls, 1);
    assert_int_equal(g2.calls, 0); /* the second instance adopts the first value */
    assert_int_equal(v1.len, 32);
    assert_int_equal(v2.len, 32);
    assert_memory_equal(v1.data, v2.data, 32);
    assert_int_equal(v1.data[0], 0xaa);
    osec_store_blob_free(&v1);
    osec_store_blob_free(&v2);
    osec_store_blob_free(&v2);

    assert_int_equal(osec_store_meta_set(b, "state", (const uint8_t *)"\x00\x01\x02", 3), 0);
    assert_int_equal(osec_store_meta_set(b, "state", (const uint8_t *)"\x03", 1), 0);
    assert_int_equal(osec_store_meta_get(f->st, "state", &v1), 0);
    assert_int_equal(v1.len, 1);
    assert_int_equal(v1.data[0], 3);
    osec_store_blob_free(&v1);
    assert_null(v1.data);
    assert_int_equal(osec_store_meta_set(b, "state", NULL, 1), OSEC_EINVAL);
    osec_store_close(&b);
}

static void add_audit(struct osec_store *st, int64_t ts, const char *event, const char *detail)
{
    struct osec_store_audit a;

    memset(&a, 0, sizeof(a));
    a.ts = ts;
    assert_int_equal(osec_strlcpy(a.event, event, sizeof(a.event)), 0);
    assert_int_equal(osec_strlcpy(a.actor, "admin", sizeof(a.actor)), 0);
    assert_int_equal(osec_strlcpy(a.detail, detail, sizeof(a.detail)), 0);
    assert_int_equal(osec_store_audit_add(st, &a), 0);
}

struct audit_seen {
    struct osec_store_audit first;
    int n;
};

static int audit_first_cb(const struct osec_store_audit *a, void *arg)
{
    struct audit_seen *s = arg;

    if (s->n++ == 0)
        s->first = *a;
    return 0;
}

static void audit(void **state)
{
    struct fx *f = *state;
    struct names c = { .n = 0 };
    struct audit_seen seen = { .n = 0 };
    struct osec_store_audit a;

    add_audit(f->st, 100, "e1", "first");
    add_audit(f->st, 300, "e3", "third");
    add_audit(f->st, 200, "e2", "second");
    add_audit(f->st, 300, "e4", "same second, later\r\nforged=1");
    assert_int_equal(osec_store_audit_list(f->st, 10, audit_cb, &c), 0);
    assert_string_equal(c.s, "e4,e3,e2,e1");
    memset(&c, 0, sizeof(c));
    assert_int_equal(osec_store_audit_list(f->st, 2, audit_cb, &c), 0);
    assert_string_equal(c.s, "e4,e3");
    assert_int_equal(osec_store_audit_list(f->st, 0, audit_cb, &c), OSEC_EINVAL);
    assert_int_equal(osec_store_audit_list(f->st, 1, audit_first_cb, &seen), 0);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.first.detail, "same second, later??forged=1");
    assert_string_equal(seen.first.actor, "admin");
    assert_string_equal(seen.first.subject, "");
    assert_true(seen.first.id > 0);

    memset(&a, 0, sizeof(a));
    assert_int_equal(osec_store_audit_add(f->st, &a), OSEC_EINVAL); /* no event */
    assert_int_equal(osec_strlcpy(a.event, "now", sizeof(a.event)), 0);
    assert_int_equal(osec_store_audit_add(f->st, &a), 0);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(osec_store_audit_list(f->st, 5, audit_first_cb, &seen), 0);
    assert_string_equal(seen.first.event, "now"); /* ts 0 became the current time */
    assert_true(seen.first.ts >= osec_time_now() - 5);
    assert_int_equal(seen.n, 5);
}

static void integrity_check(void **state)
{
    struct fx *f = *state;

    setup_entities(f->st);
    assert_int_equal(osec_store_check(f->st), 0);
    assert_int_equal(osec_store_check(NULL), OSEC_EINVAL);
}

/* ---- several handles, and PostgreSQL connection loss ---------------------- */

struct meta_racer {
    const char *url;
    uint8_t byte;
    struct osec_store_blob got;
    int rc;
};

static void *meta_race(void *arg)
{
    struct meta_racer *m = arg;
    struct gen_state g = { 0, m->byte, 0 };
    struct osec_store *st = NULL;

    m->rc = osec_store_open(m->url, &st);
    if (m->rc == 0)
        m->rc = osec_store_meta_get_or_create(st, "nonce.secret", gen, &g, &m->got);
    osec_store_close(&st);
    return NULL;
}

/* Instances starting together all adopt one value (the shared nonce
 * secret of several cpns-servers). */
static void meta_get_or_create_race(void **state)
{
    struct fx *f = *state;
    struct meta_racer m[4];
    pthread_t t[4];

    for (int i = 0; i < 4; i++) {
        memset(&m[i], 0, sizeof(m[i]));
        m[i].url = handle_url(f);
        m[i].byte = (uint8_t)(0x10 + i);
        assert_int_equal(pthread_create(&t[i], NULL, meta_race, &m[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(m[i].rc, 0);
        assert_int_equal(m[i].got.len, 32);
        assert_memory_equal(m[i].got.data, m[0].got.data, 32);
    }
    for (int i = 0; i < 4; i++)
        osec_store_blob_free(&m[i].got);
}

#ifdef OSEC_HAVE_LIBPQ
/* Ends every store connection to the test database (a server restart or
 * a failover, as the store sees it). */
static void pg_kill_connections(struct fx *f)
{
    pg_sql(f->url, "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                   " WHERE datname = current_database() AND application_name = 'omasec'"
                   " AND pid <> pg_backend_pid()");
}

/* Outside a transaction a lost connection is re-opened and the statement
 * retried; inside one the transaction is lost: ESTORE, nothing of it
 * committed, and the handle works again after the rollback. */
static void pg_reconnects_after_connection_loss(void **state)
{
    struct fx *f = *state;
    struct osec_store_user u;

    add_user(f->st, "alice");
    pg_kill_connections(f);
    assert_int_equal(osec_store_user_get(f->st, "alice", &u), 0);
    osec_store_user_clear(&u);
    pg_kill_connections(f);
    add_user(f->st, "bob"); /* a write, retried the same way */

    pg_kill_connections(f);
    assert_int_equal(osec_store_begin(f->st), 0); /* nothing lost yet: retried */
    add_user(f->st, "carol");
    pg_kill_connections(f);
    assert_int_equal(osec_store_user_set_flags(f->st, "carol", 0), OSEC_ESTORE);
    assert_non_null(strstr(osec_error_msg(), "lost"));
    assert_int_equal(osec_store_user_get(f->st, "alice", &u), OSEC_ESTORE);
    assert_int_equal(osec_store_commit(f->st), OSEC_ESTORE);
    assert_int_equal(osec_store_tx_depth(f->st), 0);
    assert_int_equal(osec_store_user_get(f->st, "carol", &u), OSEC_ENOTFOUND);
    assert_int_equal(osec_store_user_get(f->st, "bob", &u), 0);
    osec_store_user_clear(&u);

    /* A rollback after the loss is quiet, and the next transaction works. */
    assert_int_equal(osec_store_begin(f->st), 0);
    pg_kill_connections(f);
    assert_int_equal(osec_store_user_del(f->st, "bob"), OSEC_ESTORE);
    assert_int_equal(osec_store_rollback(f->st), 0);
    assert_int_equal(osec_store_begin(f->st), 0);
    assert_int_equal(osec_store_user_del(f->st, "bob"), 0);
    assert_int_equal(osec_store_commit(f->st), 0);
    assert_int_equal(osec_store_check(f->st), 0);
}
#endif

/* ---- Digest nonce-count replay state ------------------------------------------- */

static int mark(struct osec_store *st, const char *nonce, size_t len, uint32_t nc)
{
    return osec_store_nonce_mark(st, (const uint8_t *)nonce, len, nc, 500);
}

static void nonce_marks(void **state)
{
    struct fx *f = *state;
    struct osec_store *b = second_handle(f);
    uint8_t big[OSEC_STORE_NONCE_MAX + 1] = { 0 };
    uint64_t n = 9;

    assert_int_equal(mark(f->st, "nonce-one", 9, 1), 0);
    assert_int_equal(mark(f->st, "nonce-one", 9, 1), OSEC_EREPLAY);
    assert_int_equal(mark(b, "nonce-one", 9, 1), OSEC_EREPLAY); /* another instance */
    assert_int_equal(mark(b, "nonce-one", 9, 2), 0);
    assert_int_equal(mark(f->st, "nonce-one", 9, 70), 0); /* no window: any unused nc */
    assert_int_equal(mark(f->st, "nonce-one", 9, 2), OSEC_EREPLAY);
    assert_int_equal(mark(f->st, "nonce-one", 9, 0), OSEC_EREPLAY); /* used: no single use */
    /* Single use (no qop): then no use at all. */
    assert_int_equal(mark(f->st, "nonce-two", 9, 0), 0);
    assert_int_equal(mark(b, "nonce-two", 9, 0), OSEC_EREPLAY);
    assert_int_equal(mark(b, "nonce-two", 9, 1), OSEC_EREPLAY);
    /* Nonces are bytes: NULs and prefixes are distinct. */
    assert_int_equal(mark(f->st, "\0\1", 2, 1), 0);
    assert_int_equal(mark(f->st, "\0\2", 2, 1), 0);
    assert_int_equal(mark(f->st, "\0", 1, 1), 0);
    assert_int_equal(mark(f->st, "nonce-on", 8, 1), 0);

    assert_int_equal(osec_store_nonce_mark(f->st, NULL, 3, 1, 500), OSEC_EINVAL);
    assert_int_equal(osec_store_nonce_mark(f->st, big, 0, 1, 500), OSEC_EINVAL);
    assert_int_equal(osec_store_nonce_mark(f->st, big, sizeof(big), 1, 500), OSEC_EBOUNDS);
    assert_int_equal(osec_store_nonce_mark(f->st, big, sizeof(big) - 1, 1, 500), 0);
    assert_int_equal(osec_store_nonce_mark(f->st, big, 4, 1, 0), OSEC_EINVAL);
    assert_int_equal(osec_store_nonce_mark(f->st, (const uint8_t *)"late", 4, 1, 900), 0);

    assert_int_equal(osec_store_nonce_purge(f->st, 499, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(osec_store_nonce_purge(b, 500, &n), 0);
    assert_int_equal(n, 9);
    assert_int_equal(mark(f->st, "nonce-one", 9, 1), 0); /* forgotten: stale by now anyway */
    assert_int_equal(osec_store_nonce_mark(f->st, (const uint8_t *)"late", 4, 1, 900),
                     OSEC_EREPLAY);
    assert_int_equal(osec_store_nonce_purge(f->st, -1, &n), OSEC_EINVAL);
    osec_store_close(&b);
}

#define RACE_NONCES 40

struct nonce_racer {
    const char *url;
    int won, lost, other;
};

static void *nonce_race(void *arg)
{
    struct nonce_racer *r = arg;
    struct osec_store *st = NULL;

    if (osec_store_open(r->url, &st) != 0) {
        r->other++;
        return NULL;
    }
    for (int i = 0; i < RACE_NONCES; i++) {
        int rc = mark(st, "raced-nonce", 11, (uint32_t)(i / 2 + 1)); /* each nc twice */

        if (rc == 0)
            r->won++;
        else if (rc == OSEC_EREPLAY)
            r->lost++;
        else
            r->other++;
    }
    osec_store_close(&st);
    return NULL;
}

/* Instances checking the same nonce-counts at once: each one passes once. */
static void nonce_mark_race(void **state)
{
    struct fx *f = *state;
    struct nonce_racer r[3];
    pthread_t t[3];

    for (int i = 0; i < 3; i++) {
        memset(&r[i], 0, sizeof(r[i]));
        r[i].url = handle_url(f);
        assert_int_equal(pthread_create(&t[i], NULL, nonce_race, &r[i]), 0);
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(r[0].other + r[1].other + r[2].other, 0);
    assert_int_equal(r[0].won + r[1].won + r[2].won, RACE_NONCES / 2);
    assert_int_equal(r[0].lost + r[1].lost + r[2].lost, 3 * RACE_NONCES - RACE_NONCES / 2);
}

/* A failed statement inside a PostgreSQL transaction must not leave it
 * aborted (a later COMMIT would silently roll everything back). */
static void failed_statement_keeps_transaction(void **state)
{
    struct fx *f = *state;
    struct osec_store_user u;

    assert_int_equal(osec_store_begin(f->st), 0);
    add_user(f->st, "alice");
    memset(&u, 0, sizeof(u));
    assert_int_equal(osec_strlcpy(u.name, "alice", sizeof(u.name)), 0);
    assert_int_equal(osec_store_user_add(f->st, &u), OSEC_EEXISTS);
    assert_int_equal(osec_store_begin(f->st), 0);
    assert_int_equal(osec_store_user_add(f->st, &u), OSEC_EEXISTS);
    add_user(f->st, "bob");
    assert_int_equal(osec_store_commit(f->st), 0);
    assert_int_equal(osec_store_commit(f->st), 0);
    assert_int_equal(osec_store_user_get(f->st, "alice", &u), 0);
    osec_store_user_clear(&u);
    assert_int_equal(osec_store_user_get(f->st, "bob", &u), 0);
    osec_store_user_clear(&u);
}

/* ---- SIP registrations ---------------------------------------------------- */

static struct osec_store_sipreg binding(const char *aor, const char *contact, const char *inst,
                                        const char *flow, int64_t expires, int64_t updated)
{
    struct osec_store_sipreg b;

    memset(&b, 0, sizeof(b));
    (void)osec_strlcpy(b.aor, aor, sizeof(b.aor));
    (void)osec_strlcpy(b.contact, contact, sizeof(b.contact));
    (void)osec_strlcpy(b.call_id, "c1@host", sizeof(b.call_id));
    (void)osec_strlcpy(b.user, "alice", sizeof(b.user));
    (void)osec_strlcpy(b.instance, inst, sizeof(b.instance));
    (void)osec_strlcpy(b.flow, flow, sizeof(b.flow));
    b.cseq = 7;
    b.expires = expires;
    b.updated = updated;
    return b;
}

struct sipreg_seen {
    char contacts[512];
    unsigned n;
    uint32_t cseq;
    char path[64];
};

static int sipreg_cb(const struct osec_store_sipreg *b, void *arg)
{
    struct sipreg_seen *s = arg;

    (void)osec_strlcpy(s->contacts + strlen(s->contacts), b->contact,
                       sizeof(s->contacts) - strlen(s->contacts));
    (void)osec_strlcpy(s->contacts + strlen(s->contacts), ",",
                       sizeof(s->contacts) - strlen(s->contacts));
    if (s->n++ == 0) {
        s->cseq = b->cseq;
        (void)osec_strlcpy(s->path, b->path, sizeof(s->path));
    }
    return 0;
}

static void sipreg_list_str(struct fx *f, const char *aor, int64_t now, struct sipreg_seen *s)
{
    memset(s, 0, sizeof(*s));
    assert_int_equal(osec_store_sipreg_list(f->st, aor, now, sipreg_cb, s), 0);
}

static void sip_registrations(void **state)
{
    struct fx *f = *state;
    const char *aor = "sip:alice@example.com";
    struct osec_store_sipreg b;
    struct sipreg_seen s;
    uint64_t n = 0;

    add_user(f->st, "alice");
    assert_true(osec_store_is_shared(f->st) == f->pg);
    b = binding(aor, "sip:a@10.0.0.1:5060", "sipd-a", "udp:0:10.0.0.1:5060", 2000, 10);
    assert_int_equal(osec_store_sipreg_put(f->st, &b), 0);
    b = binding(aor, "sip:a@10.0.0.2:5061;transport=tcp", "sipd-b", "tcp:42", 2000, 20);
    (void)osec_strlcpy(b.path, "<sip:edge;lr>", sizeof(b.path));
    assert_int_equal(osec_store_sipreg_put(f->st, &b), 0);
    b = binding(aor, "sip:a@10.0.0.3", "sipd-b", "tcp:43", 500, 30); /* expired at 1000 */
    assert_int_equal(osec_store_sipreg_put(f->st, &b), 0);
    /* newest first, expired ones never returned */
    sipreg_list_str(f, aor, 1000, &s);
    assert_string_equal(s.contacts, "sip:a@10.0.0.2:5061;transport=tcp,sip:a@10.0.0.1:5060,");
    assert_string_equal(s.path, "<sip:edge;lr>");
    /* replacing (a refresh) keeps one row per contact */
    b = binding(aor, "sip:a@10.0.0.1:5060", "sipd-a", "udp:0:10.0.0.1:5060", 3000, 40);
    b.cseq = 8;
    assert_int_equal(osec_store_sipreg_put(f->st, &b), 0);
    sipreg_list_str(f, aor, 1000, &s);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.cseq, 8);
    /* a closed connection takes its bindings along, only its own */
    assert_int_equal(osec_store_sipreg_del_flow(f->st, "sipd-b", "tcp:42", false, &n), 0);
    assert_int_equal(n, 1);
    sipreg_list_str(f, aor, 1000, &s);
    assert_string_equal(s.contacts, "sip:a@10.0.0.1:5060,");
    assert_int_equal(osec_store_sipreg_del(f->st, aor, "sip:a@10.0.0.1:5060"), 0);
    assert_int_equal(osec_store_sipreg_del(f->st, aor, "sip:a@10.0.0.1:5060"), OSEC_ENOTFOUND);
    /* purge of expired rows; a restarted instance drops all of its rows */
    assert_int_equal(osec_store_sipreg_purge(f->st, 1000, &n), 0);
    assert_int_equal(n, 1);
    b = binding(aor, "sip:x@h", "sipd-a", "tcp:1", 2000, 0);
    assert_int_equal(osec_store_sipreg_put(f->st, &b), 0);
    b = binding(aor, "sip:y@h", "sipd-a", "tcp:2", 2000, 0);
    assert_int_equal(osec_store_sipreg_put(f->st, &b), 0);
    assert_int_equal(osec_store_sipreg_del_flow(f->st, "sipd-a", "", true, &n), 0);
    assert_int_equal(n, 2);
    b = binding(aor, "sip:x@h", "sipd-a", "tcp:1", 2000, 0);
    assert_int_equal(osec_store_sipreg_put(f->st, &b), 0);
    assert_int_equal(osec_store_sipreg_del_aor(f->st, aor, &n), 0);
    assert_int_equal(n, 1);
    /* bad input, unknown user; deleting the user deletes its bindings */
    b = binding(aor, "sip:x@h", "sipd-a", "", 0, 0);
    assert_int_equal(osec_store_sipreg_put(f->st, &b), OSEC_EINVAL);
    b = binding(aor, "sip:x\r\n@h", "sipd-a", "", 2000, 0);
    assert_int_equal(osec_store_sipreg_put(f->st, &b), OSEC_EINVAL);
    b = binding("", "sip:x@h", "sipd-a", "", 2000, 0);
    assert_int_equal(osec_store_sipreg_put(f->st, &b), OSEC_EINVAL);
    b = binding(aor, "sip:x@h", "sipd-a", "", 2000, 0);
    (void)osec_strlcpy(b.user, "nobody", sizeof(b.user));
    assert_int_equal(osec_store_sipreg_put(f->st, &b), OSEC_ENOTFOUND);
    b = binding(aor, "sip:x@h", "sipd-a", "", 2000, 0);
    assert_int_equal(osec_store_sipreg_put(f->st, &b), 0);
    assert_int_equal(osec_store_sipreg_del_flow(f->st, "sipd-a", "", false, &n), OSEC_EINVAL);
    assert_int_equal(osec_store_user_del(f->st, "alice"), 0);
    sipreg_list_str(f, aor, 0, &s);
    assert_int_equal(s.n, 0);
}

struct locker {
    struct osec_store *st;
    atomic_int got;
    int rc;
};

static void *lock_aor(void *arg)
{
    struct locker *l = arg;

    l->rc = osec_store_begin(l->st);
    if (l->rc == 0)
        l->rc = osec_store_sipreg_lock(l->st, "sip:alice@example.com");
    atomic_store(&l->got, 1);
    if (l->rc == 0)
        l->rc = osec_store_commit(l->st);
    return NULL;
}

/* A REGISTER's read-check-write runs under its AOR's lock: a second
 * handle (another instance) waits until the first transaction ends. */
static void sip_registration_lock(void **state)
{
    struct fx *f = *state;
    struct locker l = { .st = second_handle(f) };
    pthread_t th;

    assert_int_equal(osec_store_sipreg_lock(f->st, "sip:alice@example.com"), OSEC_EINVAL);
    assert_int_equal(osec_store_begin(f->st), 0);
    assert_int_equal(osec_store_sipreg_lock(f->st, "sip:alice@example.com"), 0);
    atomic_init(&l.got, 0);
    assert_int_equal(pthread_create(&th, NULL, lock_aor, &l), 0);
    usleep(300 * 1000);
    assert_int_equal(atomic_load(&l.got), 0);
    assert_int_equal(osec_store_commit(f->st), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(atomic_load(&l.got), 1);
    assert_int_equal(l.rc, 0);
    osec_store_close(&l.st);
}

#define STORE_TESTS                                                                        \
    cmocka_unit_test_setup_teardown(open_creates_private_file_and_migrates_once, setup,     \
                                    teardown),                                             \
    cmocka_unit_test_setup_teardown(open_rejects_bad_urls_and_paths, setup, teardown),     \
    cmocka_unit_test_setup_teardown(open_concurrently_on_fresh_file, setup, teardown),     \
    cmocka_unit_test_setup_teardown(open_concurrently_from_processes, setup, teardown),    \
    cmocka_unit_test_setup_teardown(newer_schema_is_refused, setup, teardown),             \
    cmocka_unit_test(open_in_memory),                                                      \
    cmocka_unit_test_setup_teardown(users_crud, setup, teardown),                          \
    cmocka_unit_test_setup_teardown(names_are_validated, setup, teardown),                 \
    cmocka_unit_test_setup_teardown(users_list_order_stop_and_error, setup, teardown),     \
    cmocka_unit_test_setup_teardown(list_callbacks_cannot_write, setup, teardown),         \
    cmocka_unit_test_setup_teardown(addresses, setup, teardown),                           \
    cmocka_unit_test_setup_teardown(entities, setup, teardown),                            \
    cmocka_unit_test_setup_teardown(entity_revoke_drops_onetime_keys, setup, teardown),    \
    cmocka_unit_test_setup_teardown(onetime_keys, setup, teardown),                        \
    cmocka_unit_test_setup_teardown(otk_consume_once_across_handles, setup, teardown),     \
    cmocka_unit_test_setup_teardown(otk_consume_race, setup, teardown),                    \
    cmocka_unit_test_setup_teardown(transactions, setup, teardown),                        \
    cmocka_unit_test_setup_teardown(failed_statement_keeps_transaction, setup, teardown),  \
    cmocka_unit_test_setup_teardown(user_del_cascades, setup, teardown),                   \
    cmocka_unit_test_setup_teardown(acl, setup, teardown),                                 \
    cmocka_unit_test_setup_teardown(policy, setup, teardown),                              \
    cmocka_unit_test_setup_teardown(meta, setup, teardown),                                \
    cmocka_unit_test_setup_teardown(meta_get_or_create_race, setup, teardown),             \
    cmocka_unit_test_setup_teardown(audit, setup, teardown),                               \
    cmocka_unit_test_setup_teardown(nonce_marks, setup, teardown),                         \
    cmocka_unit_test_setup_teardown(nonce_mark_race, setup, teardown),                     \
    cmocka_unit_test_setup_teardown(sip_registrations, setup, teardown),                   \
    cmocka_unit_test_setup_teardown(sip_registration_lock, setup, teardown),               \
    cmocka_unit_test_setup_teardown(integrity_check, setup, teardown)

#ifdef OSEC_HAVE_LIBPQ
/* The PostgreSQL run: in a database of this process's own (ctest runs
 * several test programs against one server at once). */
static int run_postgresql(const char *base)
{
    const struct CMUnitTest pg_tests[] = {
        STORE_TESTS,
        cmocka_unit_test_setup_teardown(pg_reconnects_after_connection_loss, setup, teardown),
    };
    int failed;

    osec_test_pg_db_create(base, "osec_store", pg_db_url, sizeof(pg_db_url));
    failed = _cmocka_run_group_tests("store_postgresql", pg_tests,
                                     sizeof(pg_tests) / sizeof(pg_tests[0]), NULL, NULL);
    pg_db_url[0] = '\0';
    osec_test_pg_db_drop(base, "osec_store");
    return failed;
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = { STORE_TESTS };
    const char *pg = getenv("OSEC_TEST_PG_URL");
    int failed = _cmocka_run_group_tests("store_sqlite", tests,
                                         sizeof(tests) / sizeof(tests[0]), NULL, NULL);

    if (pg && *pg) {
#ifdef OSEC_HAVE_LIBPQ
        failed += run_postgresql(pg);
#else
        printf("store_postgresql: not run: built without libpq\n");
#endif
    } else {
        printf("store_postgresql: not run: OSEC_TEST_PG_URL is not set "
               "(scripts/pg-test-cluster)\n");
    }
    return failed;
}
