#!/usr/bin/env python3
"""kill -9 of cpm-sipd during registrations, then restart.

cpm-sipd keeps bindings in memory by design (docs/cpm-sip.md, "Bindings: in
memory, not in the store"), so there is no acknowledged write to find again.
Client threads register (SHA-256 Digest) over kept-alive TCP connections
and over UDP, again and again, until the daemon gets SIGKILL at a random
moment.  Then: the store passes `omasecctl check`; the daemon starts cleanly
on it; every client registers again (TCP, UDP, TLS); the bindings of before
are gone (a query REGISTER lists none); nonces from before the crash are not
accepted after it and an Authorization accepted before the crash cannot be
replayed after the restart (the nonce-count replay state is in memory, so
nonces are bound to the process).  Several rounds on one store."""
import os
import random
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from faults import (CpmSipd, scale, sip_auth_for, sip_exchange, sip_recv,  # noqa: E402
                    sip_register)
from osectest import Checks, TempDir  # noqa: E402

C = Checks()
T = TempDir()
SEED = int(os.environ.get("OSEC_FAULTS_SEED", str(int(time.time()))))
RNG = random.Random(SEED)
print("# seed %d (OSEC_FAULTS_SEED to repeat)" % SEED)
THREADS = scale(6, 3)
ROUNDS = int(os.environ.get("OSEC_FAULTS_ROUNDS", 2))
ACKS_BEFORE_KILL = scale(30, 8) * THREADS


class Ledger:
    def __init__(self, t):
        self.t = t
        self.user = "u%d" % t
        self.acks = 0
        self.errors = []
        self.down_at = None


def udp_sock(srv, timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.connect(("127.0.0.1", srv.port_sip))
    s.settimeout(timeout)
    return s


def worker(srv, led, stop):
    """A kept-alive TCP connection refreshing one binding on one nonce
    (nc counting up), and a UDP registration now and then."""
    rng = random.Random(SEED * 100 + led.t)
    tcp = None
    udp = udp_sock(srv, scale(1.0, 3.0))   # one port: one UDP contact (max_contacts)
    try:
        tcp = socket.create_connection(("127.0.0.1", srv.port_sip), timeout=5)
        st, ch = sip_exchange(tcp, "tcp", led.user, led.user + "-pw")
        if st != 200:
            led.errors.append("first TCP REGISTER: %r" % st)
            return
        led.acks += 1
        nc, call, local = 1, os.urandom(8).hex(), tcp.getsockname()
        cseq, buf = 1, b""
        while not stop.is_set():
            if rng.random() < 0.2:
                st, _ = sip_exchange(udp, "udp", led.user, led.user + "-pw")
            else:
                nc += 1
                cseq += 1
                auth = sip_auth_for(ch, led.user, led.user + "-pw", "sip:example.com", nc,
                                    os.urandom(6).hex())
                tcp.sendall(sip_register("TCP", local, led.user, cseq, call, auth=auth))
                st, _, buf = sip_recv(tcp, "tcp", buf)
            if st != 200:
                led.errors.append("REGISTER: %r" % st)
                return
            led.acks += 1
    except (OSError, EOFError) as e:
        led.down_at = (time.time(), str(e))
    finally:
        udp.close()
        if tcp:
            tcp.close()


def contacts_of(srv, user):
    """The bindings a query REGISTER lists for user (over UDP)."""
    heads = []
    u = udp_sock(srv)
    try:
        st, _ = sip_exchange(u, "udp", user, user + "-pw", query=True, heads=heads)
    finally:
        u.close()
    lines = heads[0].split("\r\n") if heads else []
    return st, [ln for ln in lines if ln.lower().startswith(("contact:", "m:"))]


def pre_crash_credentials(srv):
    """A challenge never answered, and an Authorization accepted once (for
    the replay observation), both taken just before the kill."""
    user = srv.users[0]
    u = udp_sock(srv)
    try:
        u.send(sip_register("UDP", u.getsockname(), user, 1, os.urandom(8).hex()))
        st, head, _ = sip_recv(u, "udp")
        from faults import sip_auth
        unanswered, _ = sip_auth(head, user, "")
        st, ch = sip_exchange(u, "udp", user, user + "-pw")
        auth = sip_auth_for(ch, user, user + "-pw", "sip:example.com", 2, "c0ffee")
        call = os.urandom(8).hex()
        u.send(sip_register("UDP", u.getsockname(), user, 1, call, auth=auth, query=True))
        st2, _, _ = sip_recv(u, "udp")
    finally:
        u.close()
    return unanswered, auth, st2


def replay(srv, auth):
    """The same Authorization in a new transaction (new branch, Call-ID)."""
    u = udp_sock(srv)
    try:
        u.send(sip_register("UDP", u.getsockname(), srv.users[0], 1, os.urandom(8).hex(),
                            auth=auth, query=True))
        return sip_recv(u, "udp")[0]
    finally:
        u.close()


srv = CpmSipd(T.path, users=THREADS)
srv.setup()
srv.start()
ledgers = [Ledger(t) for t in range(THREADS)]
for rnd in range(ROUNDS):
    stop = threading.Event()
    for led in ledgers:
        led.acks, led.errors, led.down_at = 0, [], None
    ths = [threading.Thread(target=worker, args=(srv, led, stop)) for led in ledgers]
    for th in ths:
        th.start()
    deadline = time.time() + scale(20, 60)
    while sum(led.acks for led in ledgers) < ACKS_BEFORE_KILL and time.time() < deadline:
        time.sleep(0.02)
    unanswered, used_auth, st_used = pre_crash_credentials(srv)
    C.ok(st_used == 200 and replay(srv, used_auth) == 401, "round %d: before the crash an "
         "accepted Authorization replayed in a new transaction is refused" % rnd)
    time.sleep(RNG.uniform(0.0, scale(0.5, 1.5)))
    killed_at = time.time()
    acks = sum(led.acks for led in ledgers)
    srv.d.proc.kill()
    srv.d.proc.wait()
    srv.d.log.close()
    stop.set()
    for th in ths:
        th.join(30)
    C.ok(not any(th.is_alive() for th in ths), "round %d: every client noticed the kill" % rnd)
    C.ok(acks >= ACKS_BEFORE_KILL, "round %d: killed during registrations after %d accepted "
         "REGISTERs" % (rnd, acks))
    errs = [e for led in ledgers for e in led.errors]
    early = [led.down_at for led in ledgers if led.down_at and led.down_at[0] < killed_at - 0.05]
    C.ok(not errs and not early, "round %d: no error while the daemon was up" % rnd,
         (errs + early)[:5])

    ok, out = srv.check_store()
    C.ok(ok, "round %d: omasecctl check passes on the store the crash left" % rnd, out)
    t0 = time.time()
    srv.start()
    log = srv.d.read_log()
    while "event=server.ready" not in log and time.time() < t0 + scale(10, 30):
        time.sleep(0.05)   # it logs ready just after its listeners answer
        log = srv.d.read_log()
    C.ok("event=server.ready" in log and "level=error" not in log,
         "round %d: restarted cleanly in %.2f s" % (rnd, time.time() - t0), log[-2000:])

    # a nonce issued before the crash: the secret is in the store
    u = udp_sock(srv)
    try:
        st, _ = sip_exchange(u, "udp", srv.users[0], srv.users[0] + "-pw", ch=unanswered)
    finally:
        u.close()
    # the replay state is in memory, so nonces are bound to the process: a
    # nonce from before the crash is unknown now (a fresh challenge follows)
    C.eq(st, 401, "round %d: a nonce issued before the crash is not accepted after it" % rnd)
    st = replay(srv, used_auth)
    C.eq(st, 401, "round %d: an Authorization accepted before the crash cannot be replayed "
         "after the restart" % rnd)
    st2 = replay(srv, used_auth)
    C.eq(st2, 401, "round %d: ... nor a second time" % rnd)

    st, contacts = contacts_of(srv, srv.users[-1])
    C.ok(st == 200 and not contacts, "round %d: the bindings of before the crash are gone "
         "(in memory by design)" % rnd, contacts)
    bad = []
    for led in ledgers:
        for tp in ("tcp", "udp", "tls"):
            st, _ = srv.register(led.user, tp)
            if st != 200:
                bad.append("%s over %s: %r" % (led.user, tp, st))
    C.ok(not bad, "round %d: every client registers again over TCP, UDP and TLS" % rnd, bad)
    st, contacts = contacts_of(srv, srv.users[-1])
    C.ok(st == 200 and len(contacts) >= 1, "round %d: the new UDP binding is listed" % rnd,
         contacts)

ok, out = srv.check_store()
C.ok(ok, "omasecctl check passes after the last round", out)
rc, tail = srv.stop()
C.ok(rc == 0, "cpm-sipd stops cleanly after the rounds", tail)
T.cleanup()
C.finish()
