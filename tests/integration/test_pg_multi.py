#!/usr/bin/env python3
"""Two cpns-server instances on different ports sharing one PostgreSQL store,
as two hosts behind a load balancer would: each has its own copy of the data
directory (master key, PKI) and both use the same --store URL.

- an entity enrolled on one authenticates on the other;
- a onetime key created through one is consumed exactly once when many
  DELETEs race on both;
- a Digest nonce issued by one verifies on the other (the nonce secret is
  shared through the store);
- a revocation through one is enforced by the other.

Uses $OSEC_TEST_PG_URL (make check starts a throwaway cluster) or starts
its own with scripts/pg-test-cluster; skipped, and counted neither as pass
nor fail, only when the PostgreSQL binaries are not installed."""
import glob
import http.client
import json
import os
import shutil
import ssl
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from osectest import (BIN, Checks, Daemon, TempDir, b64url_encode, ctl,  # noqa: E402
                      digest_header, free_port, parse_challenges)
from pgdb import PgDatabase  # noqa: E402

C = Checks()
T = TempDir()
PG = PgDatabase("test_pg_multi", "osec_multi")
URL = PG.url


servers = []


def cleanup():
    for s in servers:
        s.stop()
    PG.drop()
    T.cleanup()


r = PG.created
C.eq(r.returncode, 0, "test database created" + (": " + r.stderr if r.returncode else ""))

# ---- two hosts: own data directories, one store ---------------------------
D1 = os.path.join(T.path, "host1")
D2 = os.path.join(T.path, "host2")
p = ctl(D1, "--store", URL, "init")
C.eq(p.returncode, 0, "omasecctl --store postgresql://... init" + ("\n" + p.stderr if p.returncode
                                                                  else ""))
p = ctl(D1, "--store", URL, "user", "add", "alice", stdin="alice-pw\n")
C.eq(p.returncode, 0, "user added through omasecctl --store")
shutil.copytree(D1, D2)  # master key and PKI copied to the second host; no store file
C.ok(not glob.glob(os.path.join(D1, "*.db")), "no SQLite file in the data directory")
CA = os.path.join(D1, "pki", "ca.crt")
PORTS = [free_port(), free_port()]


def start(data, port):
    conf = os.path.join(T.path, "cpns-%d.conf" % port)
    with open(conf, "w") as f:
        f.write("[cpns-server]\nworkers = 2\nauth_max_failures = 1000\n")
    return Daemon([os.path.join(BIN, "cpns-server"), "--data", data, "--store", URL,
                   "--config", conf, "--listen", "127.0.0.1:%d" % port],
                  os.path.join(T.path, "cpns-%d.log" % port), ready_port=port)


# Both start at once: they race to create the shared nonce secret.
started = [None, None]
errors = []


def start_one(i):
    try:
        started[i] = start([D1, D2][i], PORTS[i])
    except RuntimeError as e:
        errors.append(str(e))


threads = [threading.Thread(target=start_one, args=(i,)) for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
servers = [s for s in started if s]
if errors or len(servers) != 2:
    C.ok(False, "both cpns-server instances start on the shared store", "\n".join(errors))
    cleanup()
    C.finish()
C.ok(True, "two cpns-server instances started together on one PostgreSQL store")


def request(port, method, path, headers=None, body=None):
    ctx = ssl.create_default_context(cafile=CA)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        return resp.status, hdrs, data
    finally:
        conn.close()


def challenge(port):
    _, h, _ = request(port, "GET", "/cpns/v1/whoami")
    return [c for c in parse_challenges(h.get("www-authenticate", ""))
            if c.get("algorithm") == "SHA-256"][0]


def call(port, user, secret, method, path, body=None, nc=1):
    """One Digest-authenticated request: challenge, then the request."""
    auth = digest_header(challenge(port), user, secret, method, path, nc=nc)
    headers = {"Authorization": auth}
    if body is not None:
        headers["Content-Type"] = "application/json"
    st, _, data = request(port, method, path, headers, body)
    try:
        js = json.loads(data) if data.strip() else None
    except ValueError:
        js = None
    return st, js


A, B = PORTS

# ---- enrolled on one, authenticated on the other ------------------------------
st, js = call(A, "alice", "alice-pw", "POST", "/cpns/v1/entities/watch-1/eukey", '{"type":"pne"}')
C.eq(st, 201, "watch-1 enrolled on instance A")
watch_key = js and js.get("eukey")
st, js = call(B, "alice", "alice-pw", "POST", "/cpns/v1/entities/gw-1/eukey", '{"type":"gw"}')
C.eq(st, 201, "gw-1 enrolled on instance B")
gw_key = js and js.get("eukey")
st, js = call(B, "watch-1", watch_key, "GET", "/cpns/v1/whoami")
C.ok(st == 200 and js and js.get("entity_id") == "watch-1",
     "watch-1 (enrolled on A) authenticates on B", (st, js))
st, js = call(A, "gw-1", gw_key, "GET", "/cpns/v1/whoami")
C.ok(st == 200 and js and js.get("entity_id") == "gw-1",
     "gw-1 (enrolled on B) authenticates on A", (st, js))

# ---- a nonce issued by one instance verifies on the other ---------------------
ch = challenge(A)
auth = digest_header(ch, "watch-1", watch_key, "GET", "/cpns/v1/whoami", nc=1)
C.eq(request(B, "GET", "/cpns/v1/whoami", {"Authorization": auth})[0], 200,
     "nonce issued by A accepted by B (shared nonce secret)")
C.eq(request(B, "GET", "/cpns/v1/whoami", {"Authorization": auth})[0], 401,
     "the same nonce-count replayed on B -> 401")
C.eq(request(A, "GET", "/cpns/v1/whoami", {"Authorization": auth})[0], 401,
     "the nonce-count used on B replayed on A -> 401 (shared replay state)")
auth = digest_header(ch, "watch-1", watch_key, "GET", "/cpns/v1/whoami", nc=2)
C.eq(request(A, "GET", "/cpns/v1/whoami", {"Authorization": auth})[0], 200,
     "next nonce-count of that nonce accepted back on A")
ch = challenge(B)
auth = digest_header(ch, "gw-1", gw_key, "GET", "/cpns/v1/whoami", nc=1)
C.eq(request(A, "GET", "/cpns/v1/whoami", {"Authorization": auth})[0], 200,
     "nonce issued by B accepted by A")

# ---- onetime keys: consumed exactly once across instances -----------------------
RACERS = 16
KEYS = 4
for round_no in range(KEYS):
    st, js = call(A if round_no % 2 == 0 else B, "gw-1", gw_key, "POST", "/cpns/v1/onetime-keys",
                  json.dumps({"peer": "watch-1", "key": b64url_encode(os.urandom(32)),
                              "ttl": 300}))
    key_id = js and js.get("key_id")
    if not C.ok(st == 201 and key_id, "onetime key %d created through instance %s" %
                (round_no + 1, "A" if round_no % 2 == 0 else "B"), (st, js)):
        continue
    path = "/cpns/v1/onetime-keys/" + key_id
    barrier = threading.Barrier(RACERS)

    def racer(i, path=path, barrier=barrier):
        port = PORTS[i % 2]
        who, secret = (("watch-1", watch_key), ("gw-1", gw_key))[(i // 2) % 2]
        auth = digest_header(challenge(port), who, secret, "DELETE", path, nc=1)
        barrier.wait(timeout=60)
        st, _, data = request(port, "DELETE", path, {"Authorization": auth})
        return st, data

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        results = list(pool.map(racer, range(RACERS)))
    codes = sorted(st for st, _ in results)
    won = [json.loads(d) for st, d in results if st == 200]
    C.ok(codes.count(200) == 1 and codes.count(404) == RACERS - 1,
         "key %d: %d DELETEs raced on both instances, exactly one got it" %
         (round_no + 1, RACERS), codes)
    C.ok(len(won) == 1 and won[0].get("key_id") == key_id and won[0].get("sealed"),
         "key %d: the winner received the sealed key" % (round_no + 1), won)

# ---- revocation through one instance is enforced by the other --------------------
st, _ = call(A, "alice", "alice-pw", "DELETE", "/cpns/v1/entities/watch-1")
C.ok(st in (200, 204), "alice revokes watch-1 through A", st)
st, _ = call(B, "watch-1", watch_key, "GET", "/cpns/v1/whoami")
C.ok(st in (401, 403), "revoked watch-1 refused by B", st)

# ---- the shared store holds both instances' audit records ------------------------
p = ctl(D2, "--store", URL, "audit", "--limit", "1000")
events = p.stdout
C.ok(p.returncode == 0 and events.count("otk.consume") == KEYS and "entity.revoke" in events,
     "audit log in the shared store: one otk.consume per key, the revocation",
     p.stdout[-2000:] + p.stderr)
p = ctl(D2, "--store", URL, "check")
C.eq(p.returncode, 0, "omasecctl check on the shared store" + ("\n" + p.stdout + p.stderr
                                                              if p.returncode else ""))

codes = [s.stop() for s in servers]
C.eq(codes, [0, 0], "both instances exit cleanly on SIGTERM")
logs = "".join(s.read_log() for s in servers)
C.ok("ERROR" not in logs and "level=error" not in logs and "AddressSanitizer" not in logs,
     "no errors in the daemons' logs", logs[-3000:])
C.ok(watch_key not in logs and gw_key not in logs and "alice-pw" not in logs,
     "no secret in the logs")
servers = []
cleanup()
C.finish()
