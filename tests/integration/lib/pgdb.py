"""A PostgreSQL database of a test's own (python3 standard library only).

On the server named by $OSEC_TEST_PG_URL (make check starts a throwaway
cluster for the whole run), or, when that is unset, on a cluster started
here with scripts/pg-test-cluster and stopped by drop().  When the
PostgreSQL binaries are not installed the test is skipped with an explicit
SKIPPED line (scripts/install-deps installs them, so CI always runs it)."""
import glob
import os
import shutil
import subprocess
import sys

from osectest import SRC

CLUSTER = os.path.join(SRC, "scripts", "pg-test-cluster")


def psql_path():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))
    return found[-1] if found else shutil.which("psql")


def skip(test, reason):
    print("skip - " + reason)
    print("SKIPPED: %s not run (counted neither as passed nor failed)" % test)
    print("0 passed, 0 failed")
    sys.exit(0)


class PgDatabase:
    def __init__(self, test, prefix):
        self.own_cluster = None
        self.admin_url = os.environ.get("OSEC_TEST_PG_URL", "")
        if not self.admin_url:
            p = subprocess.run([CLUSTER, "start"], capture_output=True, text=True, timeout=120)
            if p.returncode == 2:
                skip(test, "PostgreSQL binaries are not installed (scripts/install-deps "
                           "installs them)")
            if p.returncode != 0:
                print("FAIL - scripts/pg-test-cluster start\n    | " + p.stderr)
                print("0 passed, 1 failed")
                sys.exit(1)
            self.own_cluster = p.stdout.strip()
            self.admin_url = subprocess.run([CLUSTER, "url", self.own_cluster],
                                            capture_output=True, text=True,
                                            check=True).stdout.strip()
        self.psql = psql_path()
        if not self.psql:
            skip(test, "psql is not installed")
        self.name = "%s_%d" % (prefix, os.getpid())
        self.url = self.admin_url + ("&" if "?" in self.admin_url else "?") + \
            "dbname=" + self.name
        self.sql("DROP DATABASE IF EXISTS %s" % self.name, admin=True)
        self.created = self.sql("CREATE DATABASE %s" % self.name, admin=True)

    def sql(self, statement, admin=False):
        return subprocess.run([self.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d",
                               self.admin_url if admin else self.url, "-c", statement],
                              capture_output=True, text=True, timeout=60)

    def drop(self):
        self.sql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.name, admin=True)
        if self.own_cluster:
            subprocess.run([CLUSTER, "stop", self.own_cluster], timeout=60)
            self.own_cluster = None
