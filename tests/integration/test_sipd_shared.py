#!/usr/bin/env python3
"""Two cpm-sipd instances sharing registrations through one PostgreSQL store,
as two hosts behind a load balancer would: own data directories (master key
and PKI copied), one --store URL, one Conversation Server (a raw UDP socket
here) and python user agents (tests/integration/sip/siplib.py).

- a 401 challenge of one instance is answered to the other; a replayed
  authenticated REGISTER is refused by the other instance (shared replay
  state); an out-of-order CSeq is refused across instances;
- the CS reaches a UDP user registered through the other instance (sent
  straight from the instance it asked), in both directions, with its
  P-Asserted-Identity; the user's answer returns to the CS;
- an un-REGISTER through one instance stops routing on both (480);
- TCP and TLS users connected to A are reached by a request the CS sent to
  B (B forwards it to A with a MAC'd cluster route), responses come back, A
  record-routes dialogs; a forged cluster route is refused (403);
- closing the TCP connection, expiry, and an instance's restart remove
  its bindings; a store failure while registering is 503 + Retry-After.

Uses $OSEC_TEST_PG_URL (make check) or a cluster of its own (pgdb.py)."""
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, os.path.join(HERE, "sip"))
from osectest import (BIN, Checks, Daemon, TempDir, ctl, free_port,  # noqa: E402
                      free_udp_tcp_port)
from pgdb import PgDatabase  # noqa: E402
from siplib import Client, CsSocket, Msg, authorization, parse_challenge  # noqa: E402

C = Checks()
T = TempDir()
PG = PgDatabase("test_sipd_shared", "osec_sipshared")
URL = PG.url
SIPD = os.path.join(BIN, "cpm-sipd")
ALICE = "sip:alice@example.com"
BOB = "sip:bob@example.com"
CAROL = "sip:carol@example.com"
DAVE = "sip:dave@example.com"




class CS(CsSocket):
    """The Conversation Server: one UDP socket both instances know."""

    def send(self, edge_port, method, to, pai=CAROL):
        self.n += 1
        branch = "z9hG4bKcs%d-%s" % (self.n, os.urandom(3).hex())
        msg = ["%s %s SIP/2.0" % (method, to),
               "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s" % (self.port, branch),
               "Max-Forwards: 70", "From: <%s>;tag=cs%d" % (pai, self.n), "To: <%s>" % to,
               "Call-ID: %s@cs" % branch, "CSeq: 1 %s" % method,
               "P-Asserted-Identity: <%s>" % pai]
        if method == "INVITE":
            msg.append("Contact: <sip:cs@127.0.0.1:%d>" % self.port)
        self.sock.sendto(("\r\n".join(msg + ["Content-Length: 0", "", ""])).encode(),
                         ("127.0.0.1", edge_port))

    def status(self, edge_port, to, method="MESSAGE"):
        """Send a request; the status of the final response the CS gets (None)."""
        self.send(edge_port, method, to)
        deadline = time.time() + 3
        while time.time() < deadline:
            m, _ = self.recv(deadline - time.time())
            if m is not None and m.is_response and m.status >= 200:
                return m.status
        return None


def answer(ua, req, status=200, reason="OK", extra=()):
    """The UA's response to req, sent where its top Via says (as RFC 3261 18.2.2)."""
    lines = ["SIP/2.0 %d %s" % (status, reason)]
    for k, v in req.headers:
        if k in ("via", "from", "call-id", "cseq", "record-route"):
            lines.append("%s: %s" % (k, v))
        elif k == "to":
            lines.append("To: %s;tag=ua1" % v)
    data = ("\r\n".join(lines + list(extra) + ["Content-Length: 0", "", ""])).encode()
    if ua.transport != "udp":
        ua.send(data)
        return
    sent_by = req.get("via").split(" ", 1)[1].split(";", 1)[0]
    host, port = sent_by.rsplit(":", 1)
    ua.sock.sendto(data, (host, int(port)))


def register(ua, user, aor, call_id, cseq, expires=300, challenge_at=None, send_to=None,
             password=None):
    """REGISTER: the challenge asked of challenge_at, the answer sent to
    send_to (ports; default the UA's edge).  Returns (response, request)."""
    edge = ua.edge
    contact = "<sip:%s@%s:%d;transport=%s>" % (user, ua.local[0], ua.local[1], ua.transport)
    hdrs = ["Contact: " + contact, "Expires: %d" % expires]
    try:
        if challenge_at:
            ua.edge = ("127.0.0.1", challenge_at)
        r = ua.transact(ua.request("REGISTER", "sip:example.com", aor, aor, call_id=call_id,
                                   cseq=cseq, headers=hdrs))
        if r is None or r.status != 401:
            return r, None
        ch = [parse_challenge(v) for v in r.all("www-authenticate")][0]
        auth = authorization(ch, user, password or user + "-pw", "REGISTER", "sip:example.com")
        req = ua.request("REGISTER", "sip:example.com", aor, aor, call_id=call_id, cseq=cseq,
                         headers=hdrs + ["Authorization: " + auth])
        if send_to:
            ua.edge = ("127.0.0.1", send_to)
        return ua.transact(req), req
    finally:
        ua.edge = edge


def binding_row(aor):
    r = PG.sql("SELECT instance || ' ' || flow FROM sip_bindings WHERE aor = '%s'" % aor)
    return r.stdout.strip()


servers = {}


def start(name, data, port, extra=()):
    conf = os.path.join(T.path, name + ".conf")
    with open(conf, "w") as f:
        f.write("[cpm-sipd]\nworkers = 2\nmin_expires = 1\nauth_max_failures = 1000\n")
    log = os.path.join(T.path, name + ".log")
    if os.path.exists(log):
        os.rename(log, log + ".%d" % time.time_ns())
    servers[name] = Daemon([SIPD, "--data", data, "--store", URL, "--config", conf,
                            "--listen", "udp:127.0.0.1:%d" % port,
                            "--listen", "tcp:127.0.0.1:%d" % port,
                            "--conversation-server", "sip:127.0.0.1:%d" % CSP] + list(extra),
                           log, ready_port=port)
    return servers[name]


def cleanup():
    for s in servers.values():
        s.stop()
    PG.drop()
    T.cleanup()


if not C.ok(PG.created.returncode == 0, "test database created", PG.created.stderr):
    cleanup()
    C.finish()

# ---- two hosts: own data directories, one store ---------------------------------
DA = os.path.join(T.path, "host-a")
DB = os.path.join(T.path, "host-b")
p = ctl(DA, "--store", URL, "init")
C.eq(p.returncode, 0, "omasecctl --store postgresql://... init" + ("\n" + p.stderr
                                                                  if p.returncode else ""))
for u in ("alice", "bob", "carol", "dave"):
    ctl(DA, "--store", URL, "user", "add", u, stdin=u + "-pw\n")
    ctl(DA, "--store", URL, "address", "add", u, "sip:%s@example.com" % u)
shutil.copytree(DA, DB)
PA, PB, CSP = free_udp_tcp_port(), free_udp_tcp_port(), free_udp_tcp_port()
TLS_A = ["--listen", "tls:127.0.0.1:%d" % free_port()]
cs = CS(CSP)
try:
    start("a", DA, PA, TLS_A)
    start("b", DB, PB)
except RuntimeError as e:
    C.ok(False, "both cpm-sipd instances start on the shared store", e)
    cleanup()
    C.finish()
C.ok(True, "two cpm-sipd instances started on one PostgreSQL store")

# ---- Digest across instances ----------------------------------------------------------
ua = Client(PA)
r, areq = register(ua, "alice", ALICE, "alice-1@test", 10, challenge_at=PB, send_to=PA)
C.ok(r is not None and r.status == 200, "alice: challenge from B answered to A -> 200", r)
C.ok(r is not None and any("expires=" in v for v in r.all("contact")),
     "the 200 lists the binding", r)
row = binding_row(ALICE)
C.ok(row.startswith("127.0.0.1:%d udp:0:127.0.0.1:%d" % (PA, ua.local[1])),
     "the store row names instance A and an instance-neutral UDP flow (no flow token)", row)
if areq:
    ua.send(areq)
    rr = ua.recv()
    C.ok(rr is not None and rr.status == 200,
         "a retransmission to A is answered from A's transaction cache", rr)
    ua.edge = ("127.0.0.1", PB)
    rr = ua.transact(areq.replace(b"branch=z9hG4bK", b"branch=z9hG4bKreplay"))
    ua.edge = ("127.0.0.1", PA)
    C.ok(rr is not None and rr.status == 401,
         "the same authenticated REGISTER replayed to B -> 401 (shared replay state)", rr)
r, _ = register(ua, "alice", ALICE, "alice-1@test", 5, send_to=PB)
C.ok(r is not None and r.status == 500, "a lower CSeq of the same Call-ID through B -> 500 "
     "(RFC 3261 10.3 across instances)", r)

# ---- the CS reaches a UDP binding of the other instance --------------------------------
cs.send(PB, "MESSAGE", ALICE)
got = ua.recv()
C.ok(got is not None and got.method == "MESSAGE" and
     got.start.startswith("MESSAGE sip:alice@127.0.0.1:%d" % ua.local[1]),
     "a MESSAGE the CS sends to B reaches alice, registered through A", got)
C.ok(got is not None and got.all("p-asserted-identity") == ["<%s>" % CAROL],
     "... with the CS's P-Asserted-Identity", got)
C.ok(got is not None and got.get("via", "").startswith("SIP/2.0/UDP 127.0.0.1:%d;" % PB),
     "... sent by B straight to the UA", got)
if got:
    answer(ua, got)
    resp, _ = cs.recv()
    C.ok(resp is not None and resp.status == 200 and len(resp.all("via")) == 1,
         "alice's 200 returns to the CS", resp)
r, _ = register(ua, "alice", ALICE, "alice-1@test", 11, send_to=PB)
C.ok(r is not None and r.status == 200, "alice refreshes through B", r)
C.ok(binding_row(ALICE).startswith("127.0.0.1:%d udp:" % PB), "the row now names instance B",
     binding_row(ALICE))
cs.send(PA, "MESSAGE", ALICE)
got = ua.recv()
C.ok(got is not None and got.method == "MESSAGE" and
     got.get("via", "").startswith("SIP/2.0/UDP 127.0.0.1:%d;" % PA),
     "a MESSAGE the CS sends to A reaches alice, now registered through B", got)
if got:
    answer(ua, got)
    cs.recv()
r, _ = register(ua, "alice", ALICE, "alice-1@test", 12, expires=0, send_to=PB)
C.ok(r is not None and r.status == 200 and not r.all("contact"), "alice unregisters through B",
     r)
C.eq(cs.status(PA, ALICE), 480, "then a MESSAGE via A gets 480")
C.eq(cs.status(PB, ALICE), 480, "... and via B too")
C.ok(ua.recv(0.3) is None, "nothing reaches the old contact")
C.eq(cs.status(PB, "sip:nobody@example.com"), 404, "an AOR nobody has -> 404, as before")

# ---- a TCP user on A, reached through B ---------------------------------------------------
bob = Client(PA, "tcp")
r, _ = register(bob, "bob", BOB, "bob-1@test", 1)
C.ok(r is not None and r.status == 200, "bob registers over TCP on A", r)
C.ok(binding_row(BOB).startswith("127.0.0.1:%d tcp:1:" % PA), "the row names A's connection",
     binding_row(BOB))
cs.send(PB, "MESSAGE", BOB)
got = bob.recv()
C.ok(got is not None and got.method == "MESSAGE" and
     got.start.startswith("MESSAGE sip:bob@127.0.0.1:%d" % bob.local[1]),
     "a MESSAGE the CS sends to B reaches bob over his TCP connection to A", got)
C.ok(got is not None and got.all("p-asserted-identity") == ["<%s>" % CAROL],
     "... with the CS's P-Asserted-Identity (A accepts B's cluster route as the core's)", got)
C.ok(got is not None and not got.all("route") and len(got.all("via")) == 3,
     "... the cluster route consumed, Vias of A, B and the CS", got)
if got:
    answer(bob, got)
    resp, _ = cs.recv()
    C.ok(resp is not None and resp.status == 200 and len(resp.all("via")) == 1,
         "bob's 200 returns through A and B to the CS", resp)
cs.send(PB, "INVITE", BOB)
got = bob.recv()
rr = got.all("record-route") if got else []
C.ok(got is not None and got.method == "INVITE" and rr and
     all(":%d;" % PA in v for v in rr),
     "an INVITE through B is record-routed by A, the instance holding the connection", got)
if got:
    answer(bob, got)
    resp, _ = cs.recv()
    C.ok(resp is not None and resp.status == 200 and resp.all("record-route") == rr,
         "... and its 200 carries A's Record-Route to the CS", resp)

# ---- forged cluster routes ------------------------------------------------------------------
rogue = Client(PA)
for token, what in (("c" + "0" * 68, "a forged cluster route"),
                    ("c" + "0" * 36 + "f" * 32, "a cluster route with a bad MAC")):
    req = rogue.request("MESSAGE", "sip:bob@127.0.0.1:%d" % bob.local[1], CAROL, BOB,
                        headers=["Route: <sip:%s@127.0.0.1:%d;lr>" % (token, PA),
                                 "P-Asserted-Identity: <%s>" % CAROL], body=b"x")
    r = rogue.transact(req)
    C.ok(r is not None and r.status == 403, what + " to A -> 403", r)
C.ok(bob.recv(0.5) is None, "nothing forged reaches bob")

# ---- the connection closes: its bindings go --------------------------------------------------
bob.close()
time.sleep(0.5)
C.eq(binding_row(BOB), "", "bob's row is removed when his connection closes")
C.eq(cs.status(PB, BOB), 480, "then a MESSAGE via B gets 480")

# ---- a TLS user on A, reached through B ----------------------------------------------------
tctx = ssl.create_default_context(cafile=os.path.join(DA, "pki", "ca.crt"))
carol = Client(int(TLS_A[1].rsplit(":", 1)[1]), "tls", tls_context=tctx)
r, _ = register(carol, "carol", CAROL, "carol-tls@test", 1)
C.ok(r is not None and r.status == 200, "carol registers over TLS on A", r)
cs.send(PB, "MESSAGE", CAROL)
got = carol.recv()
C.ok(got is not None and got.method == "MESSAGE" and len(got.all("via")) == 3,
     "a MESSAGE the CS sends to B reaches carol over her TLS connection to A", got)
if got:
    answer(carol, got)
    resp, _ = cs.recv()
    C.ok(resp is not None and resp.status == 200, "carol's 200 returns to the CS", resp)
r, _ = register(carol, "carol", CAROL, "carol-tls@test", 2, expires=0)
C.ok(r is not None and r.status == 200, "carol unregisters over TLS", r)
carol.close()

# ---- expiry ------------------------------------------------------------------------------------
carol = Client(PB)
r, _ = register(carol, "carol", CAROL, "carol-1@test", 1, expires=1)
C.ok(r is not None and r.status == 200, "carol registers for 1 second through B", r)
time.sleep(2.2)
C.eq(cs.status(PA, CAROL), 480, "after expiry a MESSAGE via A gets 480")

# ---- a store failure while registering --------------------------------------------------------
PG.sql("CREATE FUNCTION osec_test_fail() RETURNS trigger AS $$ BEGIN "
       "RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql")
PG.sql("CREATE TRIGGER osec_test_fail BEFORE INSERT OR UPDATE ON sip_bindings "
       "FOR EACH ROW EXECUTE FUNCTION osec_test_fail()")
dave = Client(PA)
r, _ = register(dave, "dave", DAVE, "dave-1@test", 1)
C.ok(r is not None and r.status == 503 and r.get("retry-after"),
     "a store failure while registering -> 503 + Retry-After", r)
C.eq(cs.status(PB, DAVE), 480, "... and nothing was registered")
PG.sql("DROP TRIGGER osec_test_fail ON sip_bindings")
r, _ = register(dave, "dave", DAVE, "dave-1@test", 2)
C.ok(r is not None and r.status == 200, "once the store works again the retry -> 200", r)

# ---- a restart removes the instance's previous rows ----------------------------------------------
cs.send(PB, "MESSAGE", DAVE)
got = dave.recv()
C.ok(got is not None and got.method == "MESSAGE", "dave (on A) reached through B", got)
if got:
    answer(dave, got)
    cs.recv()
C.eq(servers["a"].stop(), 0, "instance A exits 0 on SIGTERM")
cs.send(PB, "MESSAGE", DAVE)
got = dave.recv()
C.ok(got is not None and got.method == "MESSAGE",
     "with A stopped, B still reaches dave's UDP binding made through A", got)
if got:
    answer(dave, got)
    cs.recv()
first_log = servers["a"].read_log()
start("a", DA, PA, TLS_A)
C.eq(cs.status(PB, DAVE), 480, "A restarted: the rows of its previous life are gone (480)")

# ---- a wildcard listener needs an explicit instance name ------------------------------------
PW = free_udp_tcp_port()
r = subprocess.run([SIPD, "--data", DA, "--store", URL, "--listen", "udp:0.0.0.0:%d" % PW,
                    "--conversation-server", "sip:127.0.0.1:%d" % CSP],
                   capture_output=True, text=True, timeout=60)
C.ok(r.returncode == 1 and "instance" in r.stderr,
     "on a shared store, a 0.0.0.0 listener without instance = HOST:PORT is refused", r.stderr)

# ---- clean exit ----------------------------------------------------------------------------------
codes = [servers[n].stop() for n in ("a", "b")]
C.eq(codes, [0, 0], "both instances exit 0 on SIGTERM")
logs = first_log + "".join(s.read_log() for s in servers.values())
C.ok("level=error" not in logs and "AddressSanitizer" not in logs and "runtime error" not in logs,
     "no errors or sanitizer reports in the logs", logs[-3000:])
C.ok("cluster.route_refused" in logs, "forged cluster routes are logged")
C.ok("alice-pw" not in logs and "bob-pw" not in logs, "no password in the logs")
servers = {}
cleanup()
C.finish()
