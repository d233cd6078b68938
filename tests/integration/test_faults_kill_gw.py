#!/usr/bin/env python3
"""kill -9 of cpns-gw during PN establishments, then restart.

Pairings are written by the `cpns-gw pair` CLI (one sealed record per
onetime key in the GW's state directory) and every PN establishment consumes
one (unlink) and writes the PNE's session credential.  Client threads pair
and join PNEs in a loop (cpns-pne join, and openssl s_client with a PSK
fetched by cpns-pne fetch-psk so the very same key can be tried again
later); spare PNEs are paired and not joined.  At a random moment the GW
gets SIGKILL.  Then the state directory is opened record by record with an
independent AES-GCM (every record opens, no partial file other than an
unrenamed temp file), every acknowledged establishment's key is gone, every
acknowledged pairing's key is there; after a restart the spare keys work
once, the consumed ones never again, and PNEs whose session was established
before the kill re-open it."""
import os
import random
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from faults import CpnsServer, devstate_scan, quiet_stop, record_fields, scale  # noqa: E402
from osectest import BIN, Checks, Daemon, TempDir, free_port  # noqa: E402

C = Checks()
T = TempDir()
SEED = int(os.environ.get("OSEC_FAULTS_SEED", str(int(time.time()))))
RNG = random.Random(SEED)
print("# seed %d (OSEC_FAULTS_SEED to repeat)" % SEED)
JOINERS = scale(3, 2)
SPARES = 2
ROUNDS = int(os.environ.get("OSEC_FAULTS_ROUNDS", scale(3, 2)))
GDIR = os.path.join(T.path, "gw")
GPORT = free_port()
PWFILE = os.path.join(T.path, "pw")
TMO = scale(30, 90)


def run(*argv, stdin=None):
    try:
        p = subprocess.run([str(a) for a in argv], input=stdin, capture_output=True, text=True,
                           timeout=TMO)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        return -1, "", "timeout"


def pne(name, *args, stdin=None):
    return run(os.path.join(BIN, "cpns-pne"), "--data", os.path.join(T.path, name), *args,
               stdin=stdin)


def pair(peer):
    rc, out, err = run(os.path.join(BIN, "cpns-gw"), "--data", GDIR, "pair", peer)
    return out.strip() if rc == 0 and out.strip().startswith("otk-") else None


def join(name):
    rc, out, err = pne(name, "join", "--gw", "127.0.0.1:%d" % GPORT)
    return rc == 0 and "authenticated gw=gw-1" in out


def psk_hello(kid, psk):
    rc, out, err = run("openssl", "s_client", "-quiet", "-connect", "127.0.0.1:%d" % GPORT,
                       "-psk_identity", kid, "-psk", psk, "-ign_eof",
                       stdin="GET /pn/v1/hello HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
    return '"gw":"gw-1"' in out


def start_gw(n):
    return Daemon([os.path.join(BIN, "cpns-gw"), "--data", GDIR, "--server",
                   "https://127.0.0.1:%d" % srv.port, "--entity", "gw-1", "--user", "alice",
                   "--password-file", PWFILE, "--cafile", srv.ca, "--listen",
                   "127.0.0.1:%d" % GPORT], os.path.join(T.path, "gw.%d.log" % n),
                  ready_port=GPORT, timeout=scale(20, 60))


class Book:
    """Acknowledged writes and the ops in flight, per client."""

    def __init__(self):
        self.paired = {}      # key id -> peer (pair acknowledged)
        self.joined = set()   # key ids consumed by an acknowledged establishment
        self.psk_used = []    # (kid, psk) consumed by an acknowledged openssl handshake
        self.attempts = []    # (pne, start, end, acked)
        self.errors = []
        self.lock = threading.Lock()


def joiner(name, book, stop):
    while not stop.is_set():
        t0 = time.time()
        kid = pair(name)
        if not kid:
            if not stop.is_set():
                book.errors.append("%s: pair failed while the GW was up" % name)
            return
        with book.lock:
            book.paired[kid] = name
        ok = join(name)
        with book.lock:
            book.attempts.append((name, t0, time.time(), ok))
            if ok:
                book.joined.add(kid)
        if not ok:
            return
        time.sleep(random.uniform(0, 0.3))  # a pause, so some PNEs are idle at the kill


def psk_client(book, stop):
    while not stop.is_set():
        kid = pair("psk-1")
        if not kid:
            return
        with book.lock:
            book.paired[kid] = "psk-1"
        rc, out, err = pne("psk-1", "fetch-psk", "--creator", "gw-1")
        if rc != 0 or out.split()[0] != kid:
            book.errors.append("fetch-psk: %s %s" % (out, err))
            return
        psk = out.split()[1]
        if not psk_hello(kid, psk):
            return
        with book.lock:
            book.joined.add(kid)
            book.psk_used.append((kid, psk))


# ---- setup --------------------------------------------------------------------------
srv = CpnsServer(T.path)
srv.setup()
srv.start()
with open(PWFILE, "w") as f:
    f.write("alice-pw\n")
os.chmod(PWFILE, 0o600)  # cpns-gw refuses readable password files
names = ["w%d" % i for i in range(JOINERS)] + ["sp%d" % i for i in range(SPARES)] + ["psk-1"]
gw = start_gw(0)
for n in names:
    rc, out, err = pne(n, "enroll", "--server", "https://127.0.0.1:%d" % srv.port, "--entity", n,
                       "--user", "alice", "--cafile", srv.ca, stdin="alice-pw\n")
    if rc != 0:
        print("enrol %s failed: %s" % (n, out + err))
        sys.exit(1)

for s in ("sp0", "sp1"):   # PN sessions that exist before the first kill
    pair(s)
    if not join(s):
        print("initial join of %s failed" % s)
        sys.exit(1)

for rnd in range(ROUNDS):
    book = Book()
    spare_keys = {}
    for s in ("sp0", "sp1"):
        kid = pair(s)
        C.ok(kid is not None, "round %d: pair %s" % (rnd, s))
        spare_keys[kid] = s
    stop = threading.Event()
    threads = [threading.Thread(target=joiner, args=(n, book, stop)) for n in names[:JOINERS]]
    threads.append(threading.Thread(target=psk_client, args=(book, stop)))
    for th in threads:
        th.start()
    deadline = time.time() + TMO
    while len(book.joined) < 2 * JOINERS and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(RNG.uniform(0.0, scale(0.6, 1.5)))
    killed_at = time.time()
    n_joined = len(book.joined)
    gw.proc.kill()
    gw.proc.wait()
    gw.log.close()
    stop.set()
    for th in threads:
        th.join(TMO)
    C.ok(n_joined >= 2 * JOINERS, "round %d: GW killed after %d acknowledged establishments"
         % (rnd, n_joined))
    C.ok(not book.errors, "round %d: no failure while the GW was up" % rnd, book.errors[:5])

    records, problems, leftovers = devstate_scan(GDIR)
    C.ok(not problems and "identity" in records,
         "round %d: every record in the GW state directory opens (%d records)"
         % (rnd, len(records)), problems)
    C.ok(all(x.endswith(".tmp") for x in leftovers),
         "round %d: nothing but (never read) temp files beside the records %s"
         % (rnd, leftovers), leftovers)
    reused = sorted(k for k in book.joined if k in records)
    C.ok(not reused, "round %d: no acknowledged establishment's onetime key left to use again"
         % rnd, reused)
    pending = {k: p for k, p in list(book.paired.items()) + list(spare_keys.items())
               if k not in book.joined}
    lost = sorted(k for k, p in spare_keys.items() if k not in records)
    wrong = sorted(k for k, p in pending.items()
                   if k in records and record_fields(records[k]).get("peer") != p)
    C.ok(not lost and not wrong, "round %d: acknowledged pairings present, for the right peer"
         % rnd, lost + wrong)

    gw = start_gw(rnd + 1)
    res = {n: pne(n, "whoami", "--gw", "127.0.0.1:%d" % GPORT) for n in spare_keys.values()}
    C.ok(all(r[0] == 0 and '"entity_id":"%s"' % n in r[1] for n, r in res.items()),
         "round %d: PN sessions established before the load re-open after the kill" % rnd,
         {n: r[2] for n, r in res.items() if r[0] != 0})
    ok = [join(s) for s in spare_keys.values()]
    C.ok(all(ok), "round %d: after restart the spare PNEs join with the keys paired before "
         "the kill" % rnd, ok)
    again = [k for k, p in book.psk_used if psk_hello(k, p)]
    C.ok(book.psk_used and not again,
         "round %d: %d consumed onetime keys refused after restart" % (rnd, len(book.psk_used)),
         again)
    # PNEs with no establishment in flight at the kill re-open their PN session
    settled = [n for n in names[:JOINERS]
               if not any(a[0] == n and a[1] <= killed_at and (a[2] > killed_at or not a[3])
                          for a in book.attempts)
               and any(a[0] == n and a[3] for a in book.attempts)]
    res = {n: pne(n, "whoami", "--gw", "127.0.0.1:%d" % GPORT) for n in settled}
    C.ok(all(r[0] == 0 and '"entity_id":"%s"' % n in r[1] for n, r in res.items()),
         "round %d: PN sessions of PNEs idle at the kill re-open (%s)"
         % (rnd, ", ".join(settled) or "none idle this time"),
         {n: r[2] for n, r in res.items() if r[0] != 0})
    C.ok(all(join(n) for n in names[:JOINERS] if pair(n)),
         "round %d: every PNE can pair and join again" % rnd)

records, problems, leftovers = devstate_scan(GDIR)
C.ok(not problems, "the GW state directory opens after the rounds", problems)
rc, tail = quiet_stop(gw)
C.ok(rc == 0, "cpns-gw stops cleanly", tail)
ok, out = srv.check_store()
C.ok(ok, "omasecctl check passes on the server's store", out)
rc, tail = srv.stop()
C.ok(rc == 0, "cpns-server stops cleanly", tail)
T.cleanup()
C.finish()
