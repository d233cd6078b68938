/* Unit tests for lib/auth/digest_store_replay.c: Digest replay state shared
 * by several instances through the store.  Runs on SQLite, and on
 * PostgreSQL too when OSEC_TEST_PG_URL is set (a database of its own). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef OSEC_HAVE_LIBPQ
#include <libpq-fe.h>
#endif

#include "omasec/buf.h"
#include "omasec/digest.h"
#include "omasec/error.h"
#include "omasec/store.h"
#include "omasec/util.h"

static char url[512];
static char dir[64];

static struct osec_slice sl(const char *s)
{
    return osec_slice_make(s, strlen(s));
}

static int64_t later(void)
{
    return osec_time_now() + 300;
}

/* Two daemon instances on one store: what one accepted, the other refuses. */
static void shared_between_instances(void **state)
{
    struct osec_digest_replay_store *a = NULL, *b = NULL;
    (void)state;

    assert_int_equal(osec_digest_replay_store_new(url, &a), 0);
    assert_int_equal(osec_digest_replay_store_new(url, &b), 0);
    assert_int_equal(osec_digest_replay_store_check(a, sl("n-shared"), 1, later()), 0);
    assert_int_equal(osec_digest_replay_store_check(b, sl("n-shared"), 1, later()), OSEC_EREPLAY);
    assert_int_equal(osec_digest_replay_store_check(a, sl("n-shared"), 1, later()), OSEC_EREPLAY);
    assert_int_equal(osec_digest_replay_store_check(b, sl("n-shared"), 2, later()), 0);
    assert_int_equal(osec_digest_replay_store_check(a, sl("n-single"), 0, later()), 0);
    assert_int_equal(osec_digest_replay_store_check(b, sl("n-single"), 0, later()), OSEC_EREPLAY);
    assert_int_equal(osec_digest_replay_store_check(b, sl("n-single"), 1, later()), OSEC_EREPLAY);
    assert_int_equal(osec_digest_replay_store_check(NULL, sl("x"), 1, later()), OSEC_EINVAL);
    assert_int_equal(osec_digest_replay_store_check(a, sl(""), 1, later()), OSEC_EINVAL);
    osec_digest_replay_store_free(&a);
    assert_null(a);
    osec_digest_replay_store_free(&a); /* NULL-safe */
    osec_digest_replay_store_free(&b);
}

static void bad_arguments(void **state)
{
    struct osec_digest_replay_store *r = (struct osec_digest_replay_store *)1;
    char longurl[OSEC_STORE_PATH_MAX + 64];
    (void)state;

    assert_int_equal(osec_digest_replay_store_new(NULL, &r), OSEC_EINVAL);
    assert_int_equal(osec_digest_replay_store_new(url, NULL), OSEC_EINVAL);
    memset(longurl, 'a', sizeof(longurl) - 1);
    longurl[sizeof(longurl) - 1] = '\0';
    assert_int_equal(osec_digest_replay_store_new(longurl, &r), OSEC_EBOUNDS);
    assert_null(r);
    /* A store that cannot be opened fails the check (closed), not the setup. */
    assert_int_equal(osec_digest_replay_store_new("sqlite:/nonexistent-osec/x.db", &r), 0);
    assert_int_equal(osec_digest_replay_store_check(r, sl("n"), 1, later()), OSEC_ESTORE);
    osec_digest_replay_store_free(&r);
}

#define THREADS 4
#define COUNTS 25

struct worker {
    struct osec_digest_replay_store *r;
    int passed, replayed, other;
};

static void *work(void *arg)
{
    struct worker *w = arg;

    for (uint32_t nc = 1; nc <= COUNTS; nc++) {
        int rc = osec_digest_replay_store_check(w->r, sl("n-threads"), nc, later());

        if (rc == 0)
            w->passed++;
        else if (rc == OSEC_EREPLAY)
            w->replayed++;
        else
            w->other++;
    }
    return NULL; /* the thread's handle is closed by the key destructor */
}

/* Worker threads of one daemon, each with its own handle, racing on the
 * same nonce-counts: each count passes once. */
static void worker_threads_race(void **state)
{
    struct osec_digest_replay_store *r = NULL;
    struct worker w[THREADS];
    pthread_t t[THREADS];
    int passed = 0, replayed = 0;
    (void)state;

    assert_int_equal(osec_digest_replay_store_new(url, &r), 0);
    for (int i = 0; i < THREADS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].r = r;
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].other, 0);
        passed += w[i].passed;
        replayed += w[i].replayed;
    }
    assert_int_equal(passed, COUNTS);
    assert_int_equal(replayed, (THREADS - 1) * COUNTS);
    /* The main thread's handle is still open: closed by _free. */
    assert_int_equal(osec_digest_replay_store_check(r, sl("n-threads"), 1, later()),
                     OSEC_EREPLAY);
    osec_digest_replay_store_free(&r);
}

#ifdef OSEC_HAVE_LIBPQ
static int pg_sql(const char *conninfo, const char *sql)
{
    PGconn *c = PQconnectdb(conninfo);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;

    PQclear(r);
    PQfinish(c);
    return ok ? 0 : -1;
}
#endif

static int run(const char *name)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shared_between_instances),
        cmocka_unit_test(bad_arguments),
        cmocka_unit_test(worker_threads_race),
    };

    return _cmocka_run_group_tests(name, tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
}

int main(void)
{
    static const char *const suffix[] = { "", "-wal", "-shm" };
    const char *pg = getenv("OSEC_TEST_PG_URL");
    char path[128];
    int failed;

    if (osec_strlcpy(dir, "/tmp/osec-replay-XXXXXX", sizeof(dir)) < 0 || !mkdtemp(dir) ||
        osec_snprintf(path, sizeof(path), "%s/store.db", dir) < 0 ||
        osec_snprintf(url, sizeof(url), "sqlite:%s", path) < 0)
        return 1;
    failed = run("digest_store_replay_sqlite");
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        char p[160];

        if (osec_snprintf(p, sizeof(p), "%s%s", path, suffix[i]) == 0)
            (void)unlink(p);
    }
    (void)rmdir(dir);
#ifdef OSEC_HAVE_LIBPQ
    if (pg && *pg) {
        char db[64], sql[160];

        (void)osec_snprintf(db, sizeof(db), "osec_replay_%ld", (long)getpid());
        (void)osec_snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
        if (pg_sql(pg, sql) < 0)
            return failed + 1;
        (void)osec_snprintf(url, sizeof(url), "%s%sdbname=%s", pg, strchr(pg, '?') ? "&" : "?",
                            db);
        failed += run("digest_store_replay_postgresql");
        (void)osec_snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", db);
        failed += pg_sql(pg, sql) < 0;
    }
#else
    (void)pg;
#endif
    return failed;
}
