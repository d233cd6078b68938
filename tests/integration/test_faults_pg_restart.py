#!/usr/bin/env python3
"""PostgreSQL restarted under load: the daemons reconnect, requests in
flight fail cleanly, no request is acknowledged and lost.

A throwaway cluster of our own (scripts/pg-test-cluster; the one named by
$OSEC_TEST_PG_URL is shared with tests running in parallel and must not be
restarted) holds a fresh database per daemon.  One phase per daemon: the
daemon runs on its database, client threads keep a write-heavy load on it,
and meanwhile PostgreSQL is restarted twice -- `pg_ctl stop -m fast`
(sessions told and closed, checkpoint) and `-m immediate` (every backend
quits at once, crash recovery) -- each time staying down PAUSE seconds so
that requests meet a database that is not there; then the daemon's
sessions are cut CUTS times in a row (pg_terminate_backend, the server
staying up), so that some cuts land inside statements and transactions.
Then:

- the daemon never exited (same pid) and was never restarted;
- every request got an answer: success, or the daemon's answer to a store
  failure (HTTP 503 / IMAP NO / SIP 503 + Retry-After or 500); no
  connection reset, no hang past the client's timeout (SIP: no answer to
  the retransmissions), no other status (a 401, 403 or 404 would be a
  wrong answer: e.g. a onetime key reported unknown, a user refused; SIP:
  a 401 not stale to right credentials, a 500 Out Of Order CSeq);
- after each event every client is served again within a few seconds, the
  daemon holds no more sessions than before, reconnected once per handle
  and cut (no reconnect storm), and never ended a transaction twice;
- every acknowledged write is there and intact: read back through the
  daemon's own protocol and in the tables with psql; nothing half-written,
  nothing that nobody asked for; `omasecctl --store URL check` passes.

Writes that failed (503, NO, no answer) have an unknown outcome: they may
or may not be there, and are counted.

Phases (PHASES, one function per daemon): cpns-server (EUKey enrolments,
onetime-key registration and consumption, authenticated reads over
kept-alive HTTPS + Digest); cpm-msgstored (imaplib sessions APPENDing,
each acknowledged APPEND carrying its APPENDUID, and STATUS reads; every
acknowledged UID is FETCHed back with its exact body); cpm-sipd (UDP user
agents REGISTERing with SHA-256 Digest -- a challenge now and then, else
the nonce again with nc counting up -- adding, refreshing and removing
contacts of their AOR with CSeq counting up, retransmitting like a UA
(T1 doubling) and retrying a failed change until it is acknowledged; the
registrar is the table sip_bindings: every acknowledged binding is there
with the CSeq and at least the expiry of its 200, every acknowledged
removal holds, a query REGISTER lists what the table holds).  cpm-sipd may
also answer a store failure met while checking the credentials 500.

The databases run with synchronous_commit = on, as in production (the test
cluster's default, off, loses the last commits of an immediate shutdown
by design).  Skipped (counted neither as passed nor failed) only when the
PostgreSQL binaries are not installed (scripts/install-deps installs them)."""
import collections
import imaplib
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from faults import (CpmMsgstored, CpmSipd, CpnsServer, IntegrityError,  # noqa: E402
                    Unavailable, otk_unwrap, quiet_stop, scale, sip_auth, sip_auth_for,
                    sip_exchange, sip_message, sip_register)
from osectest import BIN, Checks, TempDir, b64url_encode, ctl  # noqa: E402
from pgdb import CLUSTER, psql_path  # noqa: E402
from pgdb import skip as pg_skip  # noqa: E402

APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")
SEED = int(os.environ.get("OSEC_FAULTS_SEED", str(int(time.time()))))
THREADS = scale(4, 3)
PAUSE = 1.5                       # seconds PostgreSQL stays down
TIMEOUT = scale(10.0, 20.0)       # a request without an answer by then hangs
RECOVER_MAX = scale(5.0, 10.0)    # every client served again by then
LOAD_AFTER = 1.5                  # seconds of load after each recovery
RESTARTS = ("fast", "immediate")   # then "terminate": sessions cut, PostgreSQL up
CUTS = 20                          # ... that many times, CUT_GAP s apart
CUT_GAP = 0.05
ACK = (200, 201, "OK")             # acknowledged (IMAP: tagged OK)
CLEAN_FAIL = (503, "NO")           # the daemon's answer to a store failure
SIP_T1, SIP_T2 = 0.5, 4.0          # UDP retransmissions (RFC 3261 17.1.2.2) ...
SIP_NO_ANSWER = scale(4.0, 8.0)    # ... until then: a REGISTER unanswered by then has none
SIP_EXPIRES = 300                  # what every binding asks for
SIP_SLACK = 2                      # seconds: a stored expiry vs. the one the 200 granted


def skip(reason):
    pg_skip("test_faults_pg_restart", reason)


# ---- our own PostgreSQL cluster -------------------------------------------------

class PgCluster:
    def __init__(self):
        p = subprocess.run([CLUSTER, "start"], capture_output=True, text=True, timeout=120)
        if p.returncode == 2:
            skip("PostgreSQL binaries are not installed (scripts/install-deps installs them)")
        if p.returncode != 0:
            print("FAIL - scripts/pg-test-cluster start\n    | " + p.stderr)
            print("0 passed, 1 failed")
            sys.exit(1)
        self.dir = p.stdout.strip()
        self.admin = subprocess.run([CLUSTER, "url", self.dir], capture_output=True, text=True,
                                    check=True).stdout.strip()
        self.psql = psql_path()
        if not self.psql:
            self.stop()
            skip("psql is not installed")

    def url(self, db):
        return self.admin + ("&" if "?" in self.admin else "?") + "dbname=" + db

    def sql(self, statement, db=None):
        """(ok, rows as lists of columns, stderr)."""
        p = subprocess.run([self.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-F", "\t",
                            "-d", self.url(db) if db else self.admin, "-c", statement],
                           capture_output=True, text=True, timeout=60)
        rows = [line.split("\t") for line in p.stdout.splitlines()]
        return p.returncode == 0, rows, p.stderr.strip()

    def create_db(self, db):
        ok, _, err = self.sql("CREATE DATABASE %s" % db)
        if ok:  # durable commits, as in production (the cluster's default is off)
            ok, _, err = self.sql("ALTER DATABASE %s SET synchronous_commit = on" % db)
        return ok, err

    def restart(self, mode, pause):
        """Down for about pause seconds; (time stop began, time it accepts again)."""
        t0 = time.time()
        p = subprocess.run([CLUSTER, "restart", self.dir, mode, str(pause)], capture_output=True,
                           text=True, timeout=120)
        if p.returncode != 0:
            raise RuntimeError("pg-test-cluster restart %s: %s" % (mode, p.stderr))
        return t0, time.time()

    def terminate(self, db, times, gap):
        """Cut the daemons' sessions (pg_terminate_backend), times times, gap
        seconds apart, the server staying up: so that some cuts land in the
        middle of a transaction."""
        t0 = time.time()
        for _ in range(times):
            ok, rows, err = self.sql("SELECT count(pg_terminate_backend(pid)) FROM "
                                     "pg_stat_activity WHERE datname = '%s' AND "
                                     "application_name = 'omasec'" % db)
            if not ok:
                raise RuntimeError("pg_terminate_backend: " + err)
            time.sleep(gap)
        return t0, time.time()

    def connections(self, db):
        ok, rows, _ = self.sql("SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' "
                               "AND application_name = 'omasec'" % db)
        return int(rows[0][0]) if ok and rows else -1

    def refused(self):
        """Connections PostgreSQL refused while starting up or shutting down."""
        try:
            with open(os.path.join(self.dir, "server.log"), errors="replace") as f:
                log = f.read()
        except OSError:
            return -1
        return sum(log.count(m) for m in ("the database system is starting up",
                                           "the database system is shutting down",
                                           "the database system is not yet accepting",
                                           "the database system is in recovery mode"))

    def stop(self):
        subprocess.run([CLUSTER, "stop", self.dir], timeout=60)


# ---- load, outages, figures (shared by the phases) --------------------------------

class Client:
    """What one load thread did: every request (t0, t1, op, status) and the
    wrong answers; the phase keeps its own ledger of writes."""

    def __init__(self, t):
        self.t = t
        self.log = []
        self.errors = []

    def note(self, t0, op, status, wrong=None):
        self.log.append((t0, time.time(), op, status))
        if wrong:
            self.errors.append("%s at +%.2fs: %s" % (op, t0 - T0, wrong))


def event_name(mode):
    return "%s restart" % mode if mode in RESTARTS else "%d cuts of its sessions" % CUTS


def wait_served(clients, since, deadline):
    """Per client, seconds from since to its first success on a request sent after it."""
    first = {}
    while len(first) < len(clients) and time.time() < deadline:
        for c in clients:
            if c.t not in first:
                ok = [r[1] for r in list(c.log) if r[0] >= since and r[3] in ACK]
                if ok:
                    first[c.t] = min(ok) - since
        time.sleep(0.02)
    return first


def run_with_restarts(C, pg, db, name, daemon_pid, clients, worker):
    """Run worker(client, stop) in one thread per client while PostgreSQL is
    restarted (RESTARTS), then while the daemon's sessions are cut
    (pg_terminate_backend, the server staying up); check that the daemon
    lives and serves again.  Returns the events as (mode, from, to) and the
    daemon's sessions once the load ran (every worker has opened its own)."""
    stop = threading.Event()
    threads = [threading.Thread(target=worker, args=(c, stop), daemon=True) for c in clients]
    for th in threads:
        th.start()
    acks = lambda: sum(1 for c in clients for r in list(c.log) if r[3] in ACK)  # noqa: E731
    deadline = time.time() + scale(20, 60)
    while acks() < 20 * len(clients) and time.time() < deadline:
        time.sleep(0.05)
    C.ok(acks() >= 20 * len(clients), "%s: load running before the first restart (%d "
         "acknowledged requests)" % (name, acks()))
    conns = pg.connections(db)
    events = []
    for mode in RESTARTS + ("terminate",):
        try:
            down, up = (pg.terminate(db, CUTS, CUT_GAP) if mode == "terminate"
                        else pg.restart(mode, PAUSE))
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            C.ok(False, "%s: PostgreSQL %s" % (name, event_name(mode)), e)
            break
        events.append((mode, down, up))
        first = wait_served(clients, up, up + RECOVER_MAX + 5)
        worst = max(first.values()) if len(first) == len(clients) else None
        C.ok(worst is not None and worst <= RECOVER_MAX,
             "%s: after the %s every client is served again within %.0f s without a restart "
             "of the daemon (first after %s s, last after %s s)"
             % (name, event_name(mode), RECOVER_MAX,
                "%.2f" % min(first.values()) if first else "-",
                "%.2f" % worst if worst is not None else "never"),
             "clients served again: %s of %d" % (sorted(first), len(clients)))
        C.ok(daemon_alive(daemon_pid), "%s: daemon still running after the %s (pid %d)"
             % (name, event_name(mode), daemon_pid))
        time.sleep(LOAD_AFTER)
    stop.set()
    for th in threads:
        th.join(TIMEOUT + 10)
    C.ok(not any(th.is_alive() for th in threads), "%s: every load thread finished" % name)
    return events, conns


def daemon_alive(pid):
    try:
        os.kill(pid, 0)
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(") ", 1)[-1][:1] not in ("Z", "X")
    except OSError:
        return False


def report_events(C, name, clients, events, clean=CLEAN_FAIL):
    """Figures per event, and the answers given while PostgreSQL was down
    (clean: the statuses of a clean failure)."""
    allreq = [r for c in clients for r in c.log]
    for mode, down, up in events:
        if mode not in RESTARTS:
            up += 1.0   # the requests that met a cut session
        during = [r for r in allreq if r[0] < up and r[1] > down]
        st = collections.Counter(r[3] for r in during)
        slow = max([r[1] - r[0] for r in during] or [0])
        print("# %s, %s: %.2f s; %d requests in flight or sent meanwhile: %s; slowest answer "
              "%.3f s" % (name, event_name(mode), up - down, len(during),
                          dict(sorted(st.items(), key=str)), slow))
        if mode in RESTARTS:
            failed = sum(st.get(x, 0) for x in clean)
            C.ok(failed > 0, "%s, %s: requests met the database while it was down (%d failed "
                 "cleanly)" % (name, event_name(mode), failed))
    errors = [e for c in clients for e in c.errors]
    C.ok(not errors, "%s: every request answered with success or a clean store failure (no "
         "reset, no hang past %.0f s, no wrong status; %d requests, statuses %s)"
         % (name, TIMEOUT, len(allreq), dict(collections.Counter(r[3] for r in allreq))),
         errors[:10])


def finish_daemon(C, name, srv, pg, db, conns, events):
    """The checks every phase ends with: store check, sessions, reconnections,
    clean exit, no sanitizer report; then the database goes."""
    ok, out = srv.check_store()
    C.ok(ok, "%s: omasecctl --store postgresql://... check passes" % name, out)
    after = pg.connections(db)
    # +2: a handle opened lazily (a Digest replay handle of a worker that
    # had no request yet) is no leak
    C.ok(0 < after <= conns + 2, "%s: connections to PostgreSQL: %d before the restarts, %d "
         "after (reconnected, no leak)" % (name, conns, after))
    rc, tail = quiet_stop(srv.d)
    log = srv.d.read_log()
    reconnects = log.count("store.reconnected")
    lost = collections.Counter(line.split("error=", 1)[-1][:110] for line in log.splitlines()
                               if "store.connection_lost" in line)
    print("# %s: %d reconnections logged, %d connections lost while a statement ran%s"
          % (name, reconnects, sum(lost.values()),
             "".join("\n#   %dx %s" % (n, x) for x, n in lost.most_common(4))))
    print("# %s: while PostgreSQL was away: %d connection attempts failed, %d requests failed "
          "without one (within the retry pause)" % (name, log.count("cannot reconnect to "
                                                                    "postgresql"),
                                                     log.count("next connection attempt in")))
    cuts = sum(CUTS if mode == "terminate" else 1 for mode, _, _ in events)
    C.ok(reconnects <= (conns + 2) * cuts,
         "%s: reconnections bounded (%d for %d connections cut %d times: no reconnect storm)"
         % (name, reconnects, conns, cuts))
    misuse = [line for line in log.splitlines() if "without begin" in line]
    C.ok(not misuse, "%s: no transaction ended twice after a lost connection (no 'commit/"
         "rollback without begin')" % name, misuse[:5])
    C.ok(rc == 0, "%s: stops cleanly on SIGTERM" % name, tail)
    C.ok("AddressSanitizer" not in log and "runtime error:" not in log,
         "%s: no sanitizer report" % name, tail)
    pg.sql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)


# ---- phase: cpns-server --------------------------------------------------------

class OnPostgres:
    """A faults.py target whose store is the PostgreSQL database at self.url
    (set by the subclass) instead of the data directory's SQLite file."""

    def setup(self):
        p = ctl(self.data, "--store", self.url, "init")
        if p.returncode != 0:
            raise RuntimeError("omasecctl --store ... init: " + p.stderr)
        for u in self.users:
            p = ctl(self.data, "--store", self.url, "user", "add", u, stdin=u + "-pw\n")
            if p.returncode != 0:
                raise RuntimeError("omasecctl user add: " + p.stderr)

    def argv(self, conf):
        return super().argv(conf) + ["--store", self.url]

    def check_store(self):
        p = ctl(self.data, "--store", self.url, "check")
        return p.returncode == 0, (p.stdout + p.stderr).strip()


def start_on_postgres(C, pg, tmp, name, db, make, prepare=None):
    """The daemon make(tmp, url) set up and started on db, a fresh database
    of the cluster (srv.db), then prepare(srv); None (a failed check) if
    any of that failed."""
    if not os.access(os.path.join(BIN, name), os.X_OK):
        C.ok(False, "%s: binary built" % name)
        return None
    ok, err = pg.create_db(db)
    if not C.ok(ok, "%s: fresh database %s (synchronous_commit = on)" % (name, db), err):
        return None
    os.makedirs(tmp)
    srv = make(tmp, pg.url(db))
    srv.db = db
    RUNNING.append(srv)
    try:
        srv.setup()
        srv.start()
        if prepare:
            prepare(srv)
    except (RuntimeError, OSError, imaplib.IMAP4.error) as e:
        C.ok(False, "%s: started on postgresql://, ready for the load" % name, e)
        return None
    return srv


def run_phase(C, pg, srv, ledgers, worker, clean=CLEAN_FAIL):
    """worker(ledger, stop) in a thread per ledger through the restarts and
    cuts (run_with_restarts), the figures (report_events), and the daemon
    still the same process; returns (events, connections)."""
    pid = srv.d.proc.pid
    events, conns = run_with_restarts(C, pg, srv.db, srv.name, pid, ledgers, worker)
    report_events(C, srv.name, ledgers, events, clean)
    C.ok(srv.d.proc.poll() is None and srv.d.proc.pid == pid,
         "%s: the daemon never exited (pid %d throughout)" % (srv.name, pid))
    return events, conns


class PgCpnsServer(OnPostgres, CpnsServer):
    """cpns-server on the PostgreSQL store at url."""

    def __init__(self, tmp, url, users):
        super().__init__(tmp, users=users)
        self.url = url



class CpnsLedger(Client):
    def __init__(self, t):
        super().__init__(t)
        self.user, self.gw, self.pne = "u%d" % t, "g%d" % t, "p%d" % t
        self.ents = {}            # entity -> EUKey, acknowledged (201)
        self.ents_maybe = set()   # enrolments whose outcome is unknown (503)
        self.otks = {}            # key_id -> {"key", "state": live|consumed|maybe}
        self.otks_maybe = []      # keys whose registration's outcome is unknown
        self.acked_at = {}        # entity or key_id -> time acknowledged
        self.retry_after = []     # per 503: did it carry Retry-After


def cpns_worker(srv, eukeys, led, stop):
    user = srv.client(led.user, led.user + "-pw", TIMEOUT)
    gw = srv.client(led.gw, eukeys[led.gw], TIMEOUT)
    rng = random.Random(SEED * 100 + led.t)
    n = 0

    def ask(cl, op, method, path, body=None):
        t0 = time.time()
        try:
            st, js, h = cl.request(method, path, body)
        except Unavailable as e:
            led.note(t0, op, "unavailable", "no answer: %s" % e)
            return None, None, t0
        wrong = None
        if st == 503:
            led.retry_after.append("retry-after" in h)
        if st == 503 and (not js or js.get("error") != "internal"):
            wrong = "503 %r" % js
        elif st not in ACK + CLEAN_FAIL:
            wrong = "status %d %r" % (st, js)
        led.note(t0, op, st, wrong)
        return st, js, t0

    try:
        while not stop.is_set():
            r = rng.random()
            live = [k for k, v in led.otks.items() if v["state"] == "live"]
            if r < 0.3:
                n += 1
                eid = "e%d-%d" % (led.t, n)
                st, js, _ = ask(user, "enrol", "POST", "/cpns/v1/entities/%s/eukey" % eid,
                                {"type": "pne"})
                if st == 201 and js.get("entity_id") == eid:
                    led.ents[eid] = js["eukey"]
                    led.acked_at[eid] = time.time()
                elif st != 201:
                    led.ents_maybe.add(eid)
            elif r < 0.6 or (r < 0.75 and not live):
                key = b64url_encode(os.urandom(32))
                st, js, _ = ask(gw, "otk-create", "POST", "/cpns/v1/onetime-keys",
                                {"peer": led.pne, "key": key, "ttl": 3600})
                if st == 201:
                    led.otks[js["key_id"]] = {"key": key, "state": "live"}
                    led.acked_at[js["key_id"]] = time.time()
                else:
                    led.otks_maybe.append(key)
            elif r < 0.75:
                kid = rng.choice(live)
                st, js, _ = ask(gw, "otk-consume", "DELETE", "/cpns/v1/onetime-keys/" + kid)
                v = led.otks[kid]
                if st == 200:
                    v["state"] = "consumed"
                    try:
                        got = otk_unwrap(eukeys[led.pne], kid, js["creator"], js["peer"],
                                         js["expires"], js["sealed"])
                        if b64url_encode(got) != v["key"]:
                            led.errors.append("%s: consumed key is not the registered one"
                                              % kid)
                    except (IntegrityError, KeyError, TypeError) as e:
                        led.errors.append("%s: consumed key does not unwrap: %s" % (kid, e))
                elif st == 404:
                    v["state"] = "lost"   # noted as a wrong status already
                else:
                    v["state"] = "maybe"  # consumed or not: never asked again
            elif r < 0.9:
                st, js, _ = ask(gw, "whoami", "GET", "/cpns/v1/whoami")
                if st == 200 and js.get("entity_id") != led.gw:
                    led.errors.append("whoami answered %r" % js)
            else:
                ask(gw, "list", "GET", "/cpns/v1/entities")
    finally:
        user.close()
        gw.close()


def whoami(srv, entity, key):
    cl = srv.client(entity, key, TIMEOUT)
    try:
        return cl.request("GET", "/cpns/v1/whoami")[0]
    except Unavailable as e:
        return str(e)
    finally:
        cl.close()


def distance(t, events):
    """Seconds from t to the nearest event."""
    return min([max(down - t, t - up, 0.0) for _, down, up in events] or [0.0])


def cpns_verify_tables(pg, db, ledgers, fixed):
    """Acknowledged writes present, nothing half-written or unasked-for (psql)."""
    bad = []
    ok, ents, err = pg.sql("SELECT entity_id, user_name, coalesce(length(eukey_sealed), 0), "
                           "revoked FROM entities", db)
    ok2, otks, err2 = pg.sql("SELECT key_id, creator, peer, coalesce(length(sealed), 0) "
                             "FROM onetime_keys", db)
    if not ok or not ok2:
        return ["psql: " + err + err2]
    rows = {e[0]: e for e in ents}
    for e in ents:
        if int(e[2]) == 0:
            bad.append("entity %s without its sealed EUKey" % e[0])
    known = set(fixed)
    for led in ledgers:
        known |= set(led.ents) | led.ents_maybe
        for eid in led.ents:
            if eid not in rows:
                bad.append("acknowledged entity %s missing from the table" % eid)
            elif rows[eid][1] != led.user or rows[eid][3] != "0":
                bad.append("entity %s: %r" % (eid, rows[eid]))
    bad += ["entity %s: nobody asked for it" % e for e in sorted(set(rows) - known)]
    keys = {k[0]: k for k in otks}
    for k in otks:
        if int(k[3]) == 0 or k[1] not in rows or k[2] not in rows:
            bad.append("onetime key half-written or orphaned: %r" % k)
    for led in ledgers:
        for kid, v in led.otks.items():
            if v["state"] == "live" and kid not in keys:
                bad.append("acknowledged onetime key %s missing from the table" % kid)
            if v["state"] == "consumed" and kid in keys:
                bad.append("onetime key %s consumed (acknowledged) but still there" % kid)
    return bad


def cpns_verify_api(srv, ledgers, eukeys, events):
    """Read every acknowledged write back through the API: EUKeys near the
    events (and a sample of the others) authenticate, every entity is
    listed, every pending onetime key is listed and unwraps to exactly the
    registered key; a key whose outcome was unknown may be there or not."""
    bad, checked = [], 0
    rng = random.Random(SEED)
    landed = 0
    for led in ledgers:
        by_dist = sorted(led.ents, key=lambda e: distance(led.acked_at[e], events))
        sample = by_dist[:scale(50, 25)]
        sample += rng.sample(by_dist[len(sample):], min(len(by_dist) - len(sample), 15))
        for eid in sample:
            st = whoami(srv, eid, led.ents[eid])
            checked += 1
            if st != 200:
                bad.append("%s: acknowledged EUKey does not authenticate (%s)" % (eid, st))
        cl = srv.client(led.gw, eukeys[led.gw], TIMEOUT)
        try:
            st, js, _ = cl.request("GET", "/cpns/v1/entities")
        except Unavailable as e:
            st, js = str(e), None
        cl.close()
        listed = {e["entity_id"] for e in js["entities"]} if st == 200 else set()
        missing = set(led.ents) - listed
        if st != 200 or missing:
            bad.append("%s's entity list: %s, missing %s" % (led.user, st, sorted(missing)[:5]))
        landed += len(listed & led.ents_maybe)
        peer = srv.client(led.pne, eukeys[led.pne], TIMEOUT)
        try:
            st, js, _ = peer.request("GET", "/cpns/v1/onetime-keys")
        except Unavailable as e:
            st, js = str(e), None
        peer.close()
        if st != 200:
            bad.append("%s cannot list its onetime keys: %s" % (led.pne, st))
            continue
        pending = {k["key_id"]: k for k in js}
        for kid, item in pending.items():
            try:
                key = b64url_encode(otk_unwrap(eukeys[led.pne], kid, item["creator"], led.pne,
                                               item["expires"], item["sealed"]))
            except IntegrityError as e:
                bad.append("%s: pending key does not unwrap: %s" % (kid, e))
                continue
            v = led.otks.get(kid)
            if v is None:
                if key in led.otks_maybe:
                    landed += 1
                else:
                    bad.append("%s: a onetime key nobody registered" % kid)
            elif v["state"] == "consumed":
                bad.append("%s: an acknowledged consumption was undone" % kid)
            elif key != v["key"]:
                bad.append("%s: unwraps to another key than the one registered" % kid)
        for kid, v in led.otks.items():
            if v["state"] == "live" and kid not in pending:
                bad.append("%s: acknowledged registration lost" % kid)
        gw = srv.client(led.gw, eukeys[led.gw], TIMEOUT)
        for kid in [k for k, v in led.otks.items() if v["state"] == "consumed"][-5:]:
            try:
                st = gw.request("DELETE", "/cpns/v1/onetime-keys/" + kid)[0]
            except Unavailable as e:
                st = str(e)
            if st != 404:
                bad.append("%s: consumed key answered %s" % (kid, st))
        gw.close()
    return bad, checked, landed


def phase_cpns(C, pg, tmp):
    name = "cpns-server"
    users = ["u%d" % t for t in range(THREADS)]
    eukeys = {}

    def enrol(srv):
        for t, u in enumerate(users):
            eukeys["g%d" % t] = srv.enrol(u, "g%d" % t, "gw")
            eukeys["p%d" % t] = srv.enrol(u, "p%d" % t, "pne")

    srv = start_on_postgres(C, pg, tmp, name, "osec_pgr_%d" % os.getpid(),
                            lambda d, url: PgCpnsServer(d, url, users), enrol)
    if srv is None:
        return
    db = srv.db
    ledgers = [CpnsLedger(t) for t in range(THREADS)]
    events, conns = run_phase(C, pg, srv, ledgers,
                              lambda led, stop: cpns_worker(srv, eukeys, led, stop))
    ra = collections.Counter(x for led in ledgers for x in led.retry_after)
    print("# %s: %d answers 503 with Retry-After, %d without" % (name, ra[True], ra[False]))
    print("# %s: PostgreSQL refused %d connection attempts while starting or stopping"
          % (name, pg.refused()))

    n_ent = sum(len(led.ents) for led in ledgers)
    n_otk = sum(len(led.otks) for led in ledgers)
    n_maybe = sum(len(led.ents_maybe) + len(led.otks_maybe) for led in ledgers)
    t0 = time.time()
    bad, checked, landed = cpns_verify_api(srv, ledgers, eukeys, events)
    C.ok(not bad, "%s: acknowledged writes read back through the API: %d enrolments (%d EUKeys "
         "authenticated), %d onetime keys (live ones pending and unwrapping to the registered "
         "key, consumed ones gone)" % (name, n_ent, checked, n_otk), bad[:10])
    print("# %s: %d writes answered 503 or unanswered; %d of them took effect anyway "
          "(verification %.1f s)" % (name, n_maybe, landed, time.time() - t0))
    fixed = set(eukeys)
    bad = cpns_verify_tables(pg, db, ledgers, fixed)
    C.ok(not bad, "%s: in the tables: every acknowledged entity and key, no entity without its "
         "key, no orphaned or unasked-for row" % name, bad[:10])
    finish_daemon(C, name, srv, pg, db, conns, events)


# ---- phase: cpm-msgstored ------------------------------------------------------

class PgMsgstored(OnPostgres, CpmMsgstored):
    """cpm-msgstored on the PostgreSQL store at url; user mN appends to its
    mailbox Load."""

    def __init__(self, tmp, url, users):
        super().__init__(tmp, conf_extra="request_timeout = 30\n")
        self.url = url
        self.users = users



class ImapLedger(Client):
    def __init__(self, t):
        super().__init__(t)
        self.user = "m%d" % t
        self.acked = {}       # UID -> body, acknowledged with APPENDUID
        self.maybe = set()    # bodies whose APPEND's outcome is unknown (NO, or no answer)
        self.no_codes = collections.Counter()


def imap_body(t, n):
    tag = "%d-%d-%s" % (t, n, os.urandom(6).hex())
    return ("From: load@example.com\r\nSubject: %s\r\nMessage-ID: <%s@example.com>\r\n\r\n"
            "%s\r\n" % (tag, tag, (tag + " ") * (1 + n % 40))).encode()


def imap_worker(srv, led, stop):
    rng = random.Random(SEED * 1000 + led.t)
    m, n = None, 0
    while not stop.is_set():
        t0 = time.time()
        if m is None:
            try:
                m = srv.login(led.user, timeout=TIMEOUT)
                led.note(t0, "login", "OK")
            except imaplib.IMAP4.abort as e:
                led.note(t0, "login", "unavailable", "no answer to LOGIN: %s" % e)
            except imaplib.IMAP4.error as e:   # NO: the store is down
                led.note(t0, "login", "NO")
                led.no_codes[str(e)[-60:]] += 1
            except OSError as e:
                led.note(t0, "login", "unavailable", "no answer to LOGIN: %s" % e)
            if m is None:
                stop.wait(0.05)
            continue
        body = None
        try:
            if rng.random() < 0.75:
                n += 1
                body = imap_body(led.t, n)
                typ, data = m.append("Load", None, None, body)
                mo = APPENDUID.search(data[0] or b"") if data and data[0] else None
                if typ == "OK" and mo and int(mo.group(2)) not in led.acked:
                    led.acked[int(mo.group(2))] = body
                    led.note(t0, "append", "OK")
                elif typ == "NO":
                    led.maybe.add(body)
                    led.no_codes[(data[0] or b"").decode("utf-8", "replace")[:60]] += 1
                    led.note(t0, "append", "NO")
                else:
                    led.maybe.add(body)
                    led.note(t0, "append", typ, "APPEND answered %s %r" % (typ, data))
            else:
                typ, data = m.status("Load", "(MESSAGES UIDNEXT)")
                led.note(t0, "status", typ, None if typ in ("OK", "NO") else
                         "STATUS answered %s %r" % (typ, data))
        except (imaplib.IMAP4.error, OSError) as e:   # abort, BAD, reset, timeout
            if body:
                led.maybe.add(body)
            led.note(t0, "append" if body else "status", "unavailable",
                     "session lost: %s: %s" % (type(e).__name__, e))
            try:
                m.shutdown()
            except (OSError, imaplib.IMAP4.error):
                pass
            m = None
    if m is not None:
        try:
            m.logout()
        except (OSError, imaplib.IMAP4.error):
            pass


def imap_fetch_all(srv, user):
    """{uid: body} of user's Load, or an error text."""
    try:
        m = srv.login(user, timeout=TIMEOUT)
        typ, data = m.select("Load", readonly=True)
        if typ != "OK":
            return "SELECT %s %r" % (typ, data)
        typ, data = m.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
        m.logout()
    except (imaplib.IMAP4.error, OSError) as e:
        return str(e)
    if typ != "OK":
        return "FETCH %s %r" % (typ, data)
    out = {}
    for item in data or []:
        if isinstance(item, tuple):
            out[int(re.search(rb"UID (\d+)", item[0]).group(1))] = item[1]
    return out


def msgstored_verify(srv, pg, db, ledgers):
    bad, landed = [], 0
    for led in ledgers:
        got = imap_fetch_all(srv, led.user)
        if not isinstance(got, dict):
            bad.append("%s: cannot read Load back: %s" % (led.user, got))
            continue
        for uid, body in led.acked.items():
            if uid not in got:
                bad.append("%s: acknowledged UID %d is gone" % (led.user, uid))
            elif got[uid] != body:
                bad.append("%s: UID %d has another body than the one appended" % (led.user, uid))
        seen = collections.Counter(got.values())
        for uid, body in got.items():
            if uid in led.acked:
                continue
            if body in led.maybe:
                landed += 1
            else:
                bad.append("%s: UID %d: a message nobody appended" % (led.user, uid))
        bad += ["%s: one APPEND stored %d times" % (led.user, k) for k in seen.values() if k > 1]
    ok, rows, err = pg.sql(
        "SELECT (SELECT count(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM message_bodies b "
        "WHERE b.mailbox_id = m.mailbox_id AND b.uid = m.uid)), (SELECT count(*) FROM "
        "message_bodies b WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.mailbox_id = "
        "b.mailbox_id AND m.uid = b.uid)), (SELECT count(*) FROM mailboxes x WHERE uidnext <= "
        "(SELECT coalesce(max(uid), 0) FROM messages m WHERE m.mailbox_id = x.id))", db)
    if not ok:
        bad.append("psql: " + err)
    elif rows[0] != ["0", "0", "0"]:
        bad.append("in the tables: %s messages without a body, %s bodies without a message, %s "
                   "mailboxes whose UIDNEXT is not past their last UID" % tuple(rows[0]))
    return bad, landed


def phase_msgstored(C, pg, tmp):
    name = "cpm-msgstored"
    users = ["m%d" % t for t in range(THREADS)]

    def mailboxes(srv):
        for u in users:
            m = srv.login(u, timeout=TIMEOUT)
            typ, data = m.create("Load")
            m.logout()
            if typ != "OK":
                raise RuntimeError("CREATE Load: %s %r" % (typ, data))

    srv = start_on_postgres(C, pg, tmp, name, "osec_pgr_msg_%d" % os.getpid(),
                            lambda d, url: PgMsgstored(d, url, users), mailboxes)
    if srv is None:
        return
    db = srv.db
    ledgers = [ImapLedger(t) for t in range(THREADS)]
    events, conns = run_phase(C, pg, srv, ledgers, lambda led, stop: imap_worker(srv, led, stop))
    codes = sum((led.no_codes for led in ledgers), collections.Counter())
    print("# %s: NO answers: %s" % (name, dict(codes.most_common(4))))
    n_ack = sum(len(led.acked) for led in ledgers)
    n_maybe = sum(len(led.maybe) for led in ledgers)
    bad, landed = msgstored_verify(srv, pg, db, ledgers)
    C.ok(not bad, "%s: every acknowledged APPEND (%d) FETCHed back by its APPENDUID with its "
         "exact body; no message nobody appended, none stored twice, no message without its "
         "body" % (name, n_ack), bad[:10])
    print("# %s: %d APPENDs answered NO or unanswered; %d of them were stored anyway"
          % (name, n_maybe, landed))
    finish_daemon(C, name, srv, pg, db, conns, events)


# ---- phase: cpm-sipd -------------------------------------------------------------

class PgSipd(OnPostgres, CpmSipd):
    """cpm-sipd on the PostgreSQL store at url (its registrar is then the
    table sip_bindings); user sN has the AOR sip:sN@example.com."""

    def __init__(self, tmp, url, users):
        super().__init__(tmp)
        self.url = url
        self.users = users

    def setup(self):
        super().setup()
        for u in self.users:
            p = ctl(self.data, "--store", self.url, "address", "add", u, aor_of(u))
            if p.returncode != 0:
                raise RuntimeError("omasecctl address add: " + p.stderr)


def aor_of(user):
    return "sip:%s@example.com" % user


SipOp = collections.namedtuple("SipOp", "cseq asked t0 granted")  # granted: None = unknown


class SipLedger(Client):
    def __init__(self, t):
        super().__init__(t)
        self.user = "s%d" % t
        self.call_id = "pgr-%d-%s" % (t, os.urandom(4).hex())
        self.ops = collections.defaultdict(list)   # contact -> [SipOp] in the order sent
        self.retry_after = collections.Counter()   # (status, carries Retry-After)
        self.reasons = collections.Counter()       # "status reason" of the failures
        self.retransmitted = 0                     # answered after a retransmission


def sip_transact(s, req):
    """req over UDP, retransmitted like a UA (T1 doubling up to T2) until
    its final response, or SIP_NO_ANSWER seconds: (status, head, sends)."""
    branch = "branch=" + re.search(rb"branch=([^;\r]+)", req).group(1).decode()
    t0 = time.time()
    gap, next_send, sends = SIP_T1, t0, 0
    while True:
        now = time.time()
        if now >= t0 + SIP_NO_ANSWER:
            return None, None, sends
        if now >= next_send:
            s.send(req)
            sends += 1
            next_send += gap
            gap = min(2 * gap, SIP_T2)
        s.settimeout(max(0.001, min(next_send, t0 + SIP_NO_ANSWER) - now))
        try:
            r = sip_message(s.recv(65535))
        except (socket.timeout, ConnectionRefusedError):   # refused: the daemon is not there
            continue
        if r and r[1] >= 200 and branch in r[2]:   # not an old transaction's answer
            return r[1], r[2], sends


def sip_headers(head, name):
    return [line.split(":", 1)[1].strip() for line in head.split("\r\n")[1:]
            if line.split(":", 1)[0].strip().lower() == name]


def sip_contacts(head):
    """{contact URI: expires} a 200 lists."""
    out = {}
    for v in sip_headers(head, "contact"):
        mo = re.match(r"<([^>]*)>.*;expires=(\d+)", v)
        if mo:
            out[mo.group(1)] = int(mo.group(2))
    return out


def sip_next_op(rng, led, live, n):
    """(contact, expires): mostly a refresh of one of three contacts kept
    for the whole phase (their 200s stay due: the binding must be in the
    table at the end), else a new contact (two at most), its refresh or its
    removal."""
    kept = [c for c in live if "-k" in c]
    scratch = [c for c in live if "-k" not in c]
    if len(kept) < 3 or (not scratch and rng.random() < 0.1) or (
            len(scratch) == 1 and rng.random() < 0.02):
        return "sip:%s-%s%d@127.0.0.1:%d" % (led.user, "k" if len(kept) < 3 else "c", n,
                                              5060 + led.t), SIP_EXPIRES
    if not scratch or rng.random() < 0.8:
        return rng.choice(kept), SIP_EXPIRES
    return rng.choice(scratch), (0 if rng.random() < 0.5 else SIP_EXPIRES)


def sip_worker(srv, led, stop):
    """REGISTERs of one UA (own UDP socket, one Call-ID, CSeq counting up)
    until stop; a change that fails is sent again until acknowledged."""
    rng = random.Random(SEED * 10000 + led.t)
    pw = led.user + "-pw"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.connect(("127.0.0.1", srv.port_sip))
    local = s.getsockname()
    cseq, nc, n, ch, op, live = 0, 0, 0, None, None, []

    def send(contact, expires, auth=None):
        nonlocal cseq
        cseq += 1
        t0 = time.time()
        st, head, sends = sip_transact(s, sip_register("UDP", local, led.user, cseq,
                                                       led.call_id, expires, auth,
                                                       contact=contact))
        led.retransmitted += st is not None and sends > 1
        return t0, st, head

    try:
        while not stop.is_set():
            if op is None:
                n += 1
                op = sip_next_op(rng, led, live, n)
            contact, expires = op
            if ch is None or rng.random() < 0.1:   # a challenge first, as a new UA
                t0, st, head = send(contact, expires)
                ch = sip_auth(head, led.user, "")[0] if st == 401 else None
                led.note(t0, "challenge", st if st else "no answer", None if ch else
                         "unauthenticated REGISTER answered %s, not a SHA-256 challenge" % st)
                if ch is None:
                    continue
                nc = 0
            nc += 1
            t0, st, head = send(contact, expires, sip_auth_for(
                ch, led.user, pw, "sip:example.com", nc, os.urandom(6).hex()))
            granted, wrong = None, None
            if st == 200:
                listed = sip_contacts(head)
                granted = listed.get(contact, 0) if expires else 0
                if expires and contact not in listed:
                    wrong, granted = "200 without the binding: %r" % head, None
                elif not expires and contact in listed:
                    wrong = "200 still lists the contact removed: %r" % head
                elif expires:
                    live += [] if contact in live else [contact]
                else:
                    live.remove(contact)
                op = None
            elif st == 401:   # stale: answer the new challenge
                ch, nc = sip_auth(head, led.user, "")[0], 0
                if "stale=true" not in head.lower():
                    wrong = "401 (not stale) to right credentials, a fresh nonce-count"
            elif st in (500, 503):
                line = head.split("\r\n", 1)[0]
                ra = bool(sip_headers(head, "retry-after"))
                led.retry_after[(st, ra)] += 1
                led.reasons[line[8:]] += 1
                if st == 500 or not ra or "Order" in line:   # a store failure is 503
                    wrong = "%s (Retry-After: %s)" % (line, ra)
            elif st is None:
                wrong = "no answer within %.0f s (retransmitted)" % SIP_NO_ANSWER
            else:
                wrong = "answered %s: %r" % (st, head[:300])
            led.ops[contact].append(SipOp(cseq, expires, t0, granted))
            led.note(t0, "register", st or "no answer", wrong)
    finally:
        s.close()


def sipd_verify(srv, pg, db, ledgers):
    """In sip_bindings: the binding of every REGISTER answered 200, with at
    least the expiry the 200 granted, unless a later acknowledged REGISTER
    removed it (and then no row); the row of the last acknowledged change
    (its CSeq, Call-ID, user, instance); nothing nobody asked for.  After an
    unacknowledged change a contact may be in any state one of its REGISTERs
    since the last acknowledged one asked for.  A query REGISTER of each AOR
    lists what the table holds.  Returns (wrong, {figure: count})."""
    ok, rows, err = pg.sql("SELECT aor, contact, call_id, cseq, expires, user_name, instance "
                           "FROM sip_bindings", db)
    if not ok:
        return ["psql: " + err], {}
    table = {(r[0], r[1]): r for r in rows}
    left = dict(table)
    bad, n = [], collections.Counter()
    for led in ledgers:
        aor = aor_of(led.user)
        for contact, ops in led.ops.items():
            acked = [i for i, o in enumerate(ops) if o.granted is not None]
            last = ops[acked[-1]] if acked else None
            maybe = ops[acked[-1]:] if acked else ops   # the states it may be in
            gone = [i for i in acked if not ops[i].asked]
            due = [ops[i] for i in acked if ops[i].asked and not (gone and i < gone[-1])]
            n["removed"] += len(acked) - len(gone) - len(due)
            row = left.pop((aor, contact), None)
            if row is None:
                if due and all(o.asked for o in maybe):
                    bad.append("%s: acknowledged (CSeq %s) but not in sip_bindings"
                               % (contact, [o.cseq for o in due][-3:]))
                continue
            o = next((o for o in maybe if o.asked and o.cseq == int(row[3])), None)
            late = [d for d in due if int(row[4]) < int(d.t0) + d.granted - SIP_SLACK]
            if o is None:
                bad.append("%s: row of CSeq %s where the last acknowledged REGISTER was %s"
                           % (contact, row[3], last))
            elif row[2] != led.call_id or row[5:] != [led.user, "127.0.0.1:%d" % srv.port_sip]:
                bad.append("%s: row %r" % (contact, row))
            elif late or any(d.granted > d.asked for d in due):
                bad.append("%s: expires at %s, a 200 (sent at %.1f) granted %d s"
                           % (contact, row[4], late[0].t0 if late else 0,
                              late[0].granted if late else -1))
            n["rows"] += 1
            n["due"] += len(due)
            n["landed"] += o is not None and o is not last
        heads = []
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", 0))
            u.connect(("127.0.0.1", srv.port_sip))
            u.settimeout(TIMEOUT)
            st, _ = sip_exchange(u, "udp", led.user, led.user + "-pw", query=True, heads=heads)
        except OSError as e:
            st = str(e)
        finally:
            u.close()
        listed = set(sip_contacts(heads[0])) if heads else set()
        in_table = {c for a, c in table if a == aor}
        if st != 200 or listed != in_table:
            bad.append("%s: a query REGISTER answered %s listing %d contacts, sip_bindings holds "
                       "%d (%s)" % (aor, st, len(listed), len(in_table),
                                    sorted(listed ^ in_table)[:3]))
    bad += ["%s %s: in sip_bindings, nobody asked for it" % k for k in left]
    return bad, n


def phase_sipd(C, pg, tmp):
    name = "cpm-sipd"
    users = ["s%d" % t for t in range(THREADS)]
    srv = start_on_postgres(C, pg, tmp, name, "osec_pgr_sip_%d" % os.getpid(),
                            lambda d, url: PgSipd(d, url, users))
    if srv is None:
        return
    cs = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)   # the Conversation Server:
    cs.bind(("127.0.0.1", srv.port_cs))                     # nothing is sent to it here
    ledgers = [SipLedger(t) for t in range(THREADS)]
    try:
        worker = lambda led, stop: sip_worker(srv, led, stop)  # noqa: E731
        events, conns = run_phase(C, pg, srv, ledgers, worker, (503,))
        ra = sum((led.retry_after for led in ledgers), collections.Counter())
        reasons = sum((led.reasons for led in ledgers), collections.Counter())
        print("# %s: %d answers 503 with Retry-After, %d without; %d answers 500 (%d with "
              "Retry-After): %s" % (name, ra[(503, True)], ra[(503, False)],
                                    ra[(500, False)] + ra[(500, True)], ra[(500, True)],
                                    dict(reasons.most_common(4))))
        print("# %s: %d REGISTERs answered only after a retransmission"
              % (name, sum(led.retransmitted for led in ledgers)))
        n_ack = sum(1 for led in ledgers for ops in led.ops.values() for o in ops
                    if o.granted)
        bad, n = sipd_verify(srv, pg, srv.db, ledgers)
        C.ok(not bad, "%s: of %d bindings acknowledged (200), %d still due are in sip_bindings "
             "(%d rows, each with the CSeq of its last acknowledged change) with at least the "
             "expiry granted, %d removed by a later acknowledged REGISTER are not; nothing "
             "nobody asked for; a query REGISTER lists what the table holds"
             % (name, n_ack, n["due"], n["rows"], n["removed"]), bad[:10])
        print("# %s: %d unacknowledged changes took effect anyway" % (name, n["landed"]))
        finish_daemon(C, name, srv, pg, srv.db, conns, events)
        log = srv.d.read_log()
        n_err = sum(1 for line in log.splitlines() if "level=error" in line)
        C.ok(n_err < 100, "%s: the outages did not flood the log (%d error lines, at most one "
             "a second per kind)" % (name, n_err))
    finally:
        cs.close()


PHASES = [phase_cpns, phase_msgstored, phase_sipd]


def main():
    global T0
    print("# seed %d (OSEC_FAULTS_SEED to repeat)" % SEED)
    pg = PgCluster()
    C = Checks()
    T = TempDir()
    T0 = time.time()
    try:
        for phase in PHASES:
            try:
                phase(C, pg, os.path.join(T.path, phase.__name__))
            except Exception:   # a broken phase fails, the next one still runs
                C.ok(False, "%s ran to its end" % phase.__name__, traceback.format_exc())
            for srv in RUNNING:
                if srv.d and srv.d.proc.poll() is None:
                    srv.d.proc.kill()
                    srv.d.proc.wait()
            del RUNNING[:]
    finally:
        pg.stop()
        T.cleanup()
    print("# total %.1f s" % (time.time() - T0))
    C.finish()


T0 = time.time()
RUNNING = []   # daemons of the current phase, killed if it breaks off
if __name__ == "__main__":
    main()
