/* Unit test helper: a PostgreSQL database of this test process's own, on
 * the server named by $OSEC_TEST_PG_URL (make check starts a throwaway
 * cluster: scripts/pg-test-cluster), so suites can run the same tests
 * against both store backends. */
#ifndef OSEC_TEST_PGTEST_H
#define OSEC_TEST_PGTEST_H

#include <stddef.h>

/* Runs fixed SQL on the server behind url, outside the store; fails the
 * test on error. */
void osec_test_pg_sql(const char *url, const char *sql);
/* Creates database "<prefix>_<pid>" (dropping a leftover one) and writes
 * its URL to url. */
void osec_test_pg_db_create(const char *base, const char *prefix, char *url, size_t n);
/* Drops that database again. */
void osec_test_pg_db_drop(const char *base, const char *prefix);
/* Empties the database behind url: every test starts from nothing. */
void osec_test_pg_reset(const char *url);
/* Runs tests again against PostgreSQL when $OSEC_TEST_PG_URL is set: *url
 * is the database's URL meanwhile (empty before and after).  Returns the
 * number of failures; prints why when not run. */
int osec_test_pg_run(const char *group, const void *tests, size_t count, const char *prefix,
                     char *url, size_t n);

#endif
