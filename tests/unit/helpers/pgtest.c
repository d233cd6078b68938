/* Unit test helper: PostgreSQL databases for the store suites (pgtest.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef OSEC_HAVE_LIBPQ
#include <libpq-fe.h>
#endif

#include "omasec/buf.h"
#include "pgtest.h"

#ifdef OSEC_HAVE_LIBPQ
static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

void osec_test_pg_sql(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    PGresult *r;

    assert_int_equal(PQstatus(c), CONNECTION_OK);
    (void)PQsetNoticeProcessor(c, quiet, NULL);
    r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}
#else
void osec_test_pg_sql(const char *url, const char *sql)
{
    (void)url;
    (void)sql;
    fail_msg("built without libpq");
}
#endif

static void db_name(const char *prefix, char *db, size_t n)
{
    assert_int_equal(osec_snprintf(db, n, "%s_%ld", prefix, (long)getpid()), 0);
}

void osec_test_pg_db_create(const char *base, const char *prefix, char *url, size_t n)
{
    char db[64], sql[160];

    db_name(prefix, db, sizeof(db));
    assert_int_equal(osec_snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", db), 0);
    osec_test_pg_sql(base, sql);
    assert_int_equal(osec_snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db), 0);
    osec_test_pg_sql(base, sql);
    /* A query parameter overrides the database named in the URL's path. */
    assert_int_equal(osec_snprintf(url, n, "%s%sdbname=%s", base, strchr(base, '?') ? "&" : "?",
                                   db), 0);
}

void osec_test_pg_db_drop(const char *base, const char *prefix)
{
    char db[64], sql[160];

    db_name(prefix, db, sizeof(db));
    assert_int_equal(osec_snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", db), 0);
    osec_test_pg_sql(base, sql);
}

void osec_test_pg_reset(const char *url)
{
    osec_test_pg_sql(url, "SET client_min_messages = warning;"
                          " DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public");
}

int osec_test_pg_run(const char *group, const void *tests, size_t count, const char *prefix,
                     char *url, size_t n)
{
    const char *base = getenv("OSEC_TEST_PG_URL");
    int failed;

    if (!base || !*base) {
        printf("%s: not run: OSEC_TEST_PG_URL is not set (scripts/pg-test-cluster)\n", group);
        return 0;
    }
#ifndef OSEC_HAVE_LIBPQ
    printf("%s: not run: built without libpq\n", group);
    (void)tests;
    (void)count;
    (void)prefix;
    (void)url;
    (void)n;
    return 0;
#else
    osec_test_pg_db_create(base, prefix, url, n);
    failed = _cmocka_run_group_tests(group, tests, count, NULL, NULL);
    url[0] = '\0';
    osec_test_pg_db_drop(base, prefix);
    return failed;
#endif
}
