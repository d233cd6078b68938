#!/usr/bin/env python3
"""cpm-sipd black-box test: the real daemon on loopback, driven by sipp
(MD5 Digest over UDP, tests/integration/sip/*.xml, with a sipp UAS playing the
Conversation Server) and by a raw python SIP client (SHA-256 Digest, replayed
credentials, TCP, TLS, and the IWF border over mutual TLS)."""
import os
import shutil
import signal
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
from siplib import Client, CsSocket, Msg, authorization, parse_challenge  # noqa: E402

C = Checks()
T = TempDir()
D = os.path.join(T.path, "data")
PKI = os.path.join(D, "pki")
SIPP = shutil.which("sipp")
SIPD = os.path.join(BIN, "cpm-sipd")
ALICE = "sip:alice@example.com"
BOB = "sip:bob@example.com"




def start(name, conf, args):
    path = os.path.join(T.path, name + ".conf")
    with open(path, "w") as f:
        f.write("[cpm-sipd]\n" + conf)
    return Daemon([SIPD, "--data", D, "--config", path] + args,
                  os.path.join(T.path, name + ".log"), ready_port=None)


def wait_tcp(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class CS(CsSocket):
    """A raw Conversation Server on UDP, for the python-driven checks."""

    def answer(self, req, addr, status=200):
        lines = ["SIP/2.0 %d OK" % status]
        for k, v in req.headers:
            if k in ("via", "from", "call-id", "cseq"):
                lines.append("%s: %s" % (k, v))
            elif k == "to":
                lines.append("To: %s;tag=cs1" % v)
        self.sock.sendto(("\r\n".join(lines + ["Content-Length: 0", "", ""])).encode(), addr)

    def send(self, edge_port, method, ruri, headers=(), branch="z9hG4bKcs", to=ALICE):
        msg = ["%s %s SIP/2.0" % (method, ruri),
               "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s" % (self.port, branch),
               "Max-Forwards: 70", "From: <%s>;tag=b1" % BOB, "To: <%s>" % to,
               "Call-ID: %s@cs" % branch, "CSeq: 1 %s" % method] + list(headers)
        self.sock.sendto(("\r\n".join(msg + ["Content-Length: 0", "", ""])).encode(),
                         ("127.0.0.1", edge_port))


def sipp(scenario, port, edge_port, inf=None, extra=()):
    argv = [SIPP, "-sf", os.path.join(HERE, "sip", scenario), "-m", "1", "-i", "127.0.0.1",
            "-p", str(port), "-nostdin", "-timeout", "10s", "-timeout_error",
            "-trace_err", "-error_file", os.path.join(T.path, scenario + ".err")]
    if inf:
        argv += ["-inf", inf]
    argv += list(extra)
    if edge_port:
        argv.append("127.0.0.1:%d" % edge_port)
    return argv


def csv(name, rows):
    path = os.path.join(T.path, name)
    with open(path, "w") as f:
        f.write("SEQUENTIAL\n" + "\n".join(rows) + "\n")
    return path


def auth_field(user, pw):
    return "[authentication username=%s password=%s]" % (user, pw)


# ---- setup -------------------------------------------------------------------
ctl(D, "init")
for u in ("alice", "bob", "carol"):
    ctl(D, "user", "add", u, stdin=u + "-pw\n")
ctl(D, "address", "add", "alice", ALICE)
ctl(D, "address", "add", "bob", BOB)
ctl(D, "address", "add", "carol", "sip:carol@example.com")
ctl(D, "pki", "issue", "othernet.example", "--san", "DNS:othernet.example")
ctl(D, "pki", "issue", "partner.example", "--san", "DNS:partner.example")
ctl(D, "pki", "issue", "rogue.example", "--san", "DNS:rogue.example")
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=othernet.example", "-days",
                "1", "-keyout", os.path.join(T.path, "self.key"), "-out",
                os.path.join(T.path, "self.crt")], capture_output=True, check=True)

P = free_udp_tcp_port()          # udp + tcp
PTLS, PIWF, CSP = free_port(), free_port(), free_udp_tcp_port()
cs = CS(CSP)
MAIN_CONF = ("workers = 2\nallow_md5 = yes\ndigest_algorithms = SHA-256,MD5\n"
             "auth_max_failures = 1000\nmin_expires = 1\nhandshake_timeout = 3\n"
             "trusted_peers = partner.example\n")
main = start("main", MAIN_CONF,
             ["--listen", "udp:127.0.0.1:%d" % P, "--listen", "tcp:127.0.0.1:%d" % P,
              "--listen", "tls:127.0.0.1:%d" % PTLS, "--listen", "iwf:127.0.0.1:%d" % PIWF,
              "--conversation-server", "sip:127.0.0.1:%d" % CSP,
              "--peer", "othernet.example", "--peer", "partner.example"])
C.ok(wait_tcp(P) and wait_tcp(PIWF), "cpm-sipd listens (udp, tcp, tls, iwf)", main.read_log())

# ---- command line ------------------------------------------------------------
r = subprocess.run([SIPD, "--help"], capture_output=True, text=True)
C.ok(r.returncode == 0 and "--conversation-server" in r.stdout, "--help exits 0")
r = subprocess.run([SIPD, "--data", D, "--conversation-server", "sip:127.0.0.1:5070",
                    "--check-config"], capture_output=True, text=True)
C.eq(r.returncode, 0, "--check-config with defaults")
r = subprocess.run([SIPD, "--data", D, "--config", os.path.join(os.environ["OSEC_SRC"], "conf",
                                                             "omasec.conf"),
                    "--conversation-server", "sip:127.0.0.1:5070", "--check-config"],
                   capture_output=True, text=True)
C.eq(r.returncode, 0, "the shipped conf/omasec.conf passes --check-config")
bad = os.path.join(T.path, "bad.conf")
with open(bad, "w") as f:
    f.write("[cpm-sipd]\ndigest_algorithms = SHA-256,MD5\n")
r = subprocess.run([SIPD, "--data", D, "--config", bad, "--conversation-server",
                    "sip:127.0.0.1:5070", "--check-config"], capture_output=True, text=True)
C.ok(r.returncode == 1 and "allow_md5" in r.stderr, "MD5 without allow_md5 is refused",
     r.stderr)
with open(bad, "w") as f:
    f.write("[cpm-sipd]\nno_such_key = 1\n")
r = subprocess.run([SIPD, "--data", D, "--config", bad, "--conversation-server",
                    "sip:127.0.0.1:5070", "--check-config"], capture_output=True, text=True)
C.eq(r.returncode, 1, "unknown configuration key is refused")
r = subprocess.run([SIPD, "--data", D, "--check-config"], capture_output=True, text=True)
C.ok(r.returncode == 1 and "conversation" in r.stderr, "conversation server is required")

# ---- registrar: SHA-256 Digest (python client) --------------------------------
a = Client(P)
r0 = a.transact(a.request("REGISTER", "sip:example.com", ALICE, ALICE,
                          headers=["Contact: <sip:alice@127.0.0.1:%d>" % a.local[1]]))
chs = [parse_challenge(v) for v in r0.all("www-authenticate")] if r0 else []
C.eq([c.get("algorithm") for c in chs], ["SHA-256", "MD5"],
     "401 carries one challenge per algorithm, SHA-256 first (RFC 8760)")
C.ok(len({c.get("nonce") for c in chs}) == 1 and all(c.get("qop") == "auth" for c in chs),
     "the challenges share one nonce, qop=auth")
r, ch, areq = a.register("alice", "alice-pw", ALICE, alg="SHA-256", expires=300)
C.ok(r is not None and r.status == 200, "SHA-256 REGISTER -> 200", r)
C.ok(r is not None and any("expires=300" in v for v in r.all("contact")),
     "200 lists the binding with its expiry", r)
a.send(areq)
rr = a.recv()
C.ok(rr is not None and rr.status == 200, "a UDP retransmission of the authorized REGISTER "
     "is answered from the transaction, not re-verified", rr)
replay = areq.replace(b"branch=z9hG4bK", b"branch=z9hG4bKreplay")
rr = a.transact(replay)
C.ok(rr is not None and rr.status == 401, "replayed Authorization (new transaction) -> 401", rr)
r, _, _ = a.register("alice", "wrong-pw", ALICE, alg="SHA-256")
C.ok(r is not None and r.status == 401, "wrong password -> 401", r)
r, _, _ = a.register("mallory", "x", ALICE, alg="SHA-256")
C.ok(r is not None and r.status == 401, "unknown user -> 401", r)
r, _, _ = a.register("alice", "alice-pw", BOB, alg="SHA-256")
C.ok(r is not None and r.status == 403, "AOR of another user -> 403", r)
r, _, _ = a.register("alice", "alice-pw", "sip:nobody@example.com", alg="SHA-256")
C.ok(r is not None and r.status == 403, "unallocated AOR -> 403", r)
r, _, _ = a.register("alice", "alice-pw", ALICE, alg="SHA-256", expires=0)
C.ok(r is not None and r.status == 200 and not r.all("contact"), "un-REGISTER removes it", r)

t = Client(P, "tcp")
r, _, _ = t.register("bob", "bob-pw", BOB, alg="SHA-256")
C.ok(r is not None and r.status == 200, "REGISTER over TCP -> 200", r)
tctx = ssl.create_default_context(cafile=os.path.join(PKI, "ca.crt"))
s = Client(PTLS, "tls", tls_context=tctx)
r, _, _ = s.register("carol", "carol-pw", "sip:carol@example.com", alg="SHA-256")
C.ok(r is not None and r.status == 200, "REGISTER over TLS -> 200", r)

# ---- proxy: identity checks and P-Asserted-Identity ----------------------------
r, _, _ = a.register("alice", "alice-pw", ALICE, alg="SHA-256", expires=300)


def message(client, from_uri, user, pw, extra=()):
    req = client.request("MESSAGE", "sip:bob@example.com", from_uri, BOB, headers=extra,
                         body=b"hi")
    r = client.transact(req)
    if r is None or r.status != 407:
        return r
    ch = parse_challenge(r.get("proxy-authenticate"))
    auth = authorization(ch, user, pw, "MESSAGE", "sip:bob@example.com")
    req = client.request("MESSAGE", "sip:bob@example.com", from_uri, BOB,
                         headers=list(extra) + ["Proxy-Authorization: " + auth], body=b"hi")
    client.send(req)
    return None


r = a.transact(a.request("MESSAGE", "sip:bob@example.com", ALICE, BOB, body=b"hi"))
C.ok(r is not None and r.status == 407 and r.get("proxy-authenticate"),
     "MESSAGE without credentials -> 407 Proxy-Authenticate", r)
message(a, ALICE, "alice", "alice-pw",
        ["P-Asserted-Identity: <sip:boss@example.com>",
         "P-Preferred-Identity: <sip:alice@example.com>"])
fw, addr = cs.recv()
C.ok(fw is not None and fw.all("p-asserted-identity") == ["<sip:alice@example.com>"],
     "the CS gets the edge's P-Asserted-Identity only", fw)
C.ok(fw is not None and b"boss" not in fw.raw and not fw.all("p-preferred-identity") and
     not fw.all("proxy-authorization"), "injected PAI, PPI and credentials are removed", fw)
if fw:
    cs.answer(fw, addr)
r = a.recv()
C.ok(r is not None and r.status == 200, "the CS's 200 is relayed back to the user", r)

message(a, BOB, "alice", "alice-pw")
r = a.recv()
C.ok(r is not None and r.status == 403, "MESSAGE with a spoofed From -> 403", r)
message(a, ALICE, "alice", "alice-pw", ["P-Preferred-Identity: <sip:bob@example.com>"])
r = a.recv()
C.ok(r is not None and r.status == 403, "P-Preferred-Identity of another user -> 403", r)
fw, _ = cs.recv(0.3)
C.ok(fw is None, "nothing refused reaches the CS")

# ---- routing toward users ------------------------------------------------------
cs.send(P, "MESSAGE", ALICE, ["P-Asserted-Identity: <%s>" % BOB], branch="z9hG4bKcs1")
got = a.recv()
C.ok(got is not None and got.method == "MESSAGE" and
     got.start.startswith("MESSAGE sip:alice@127.0.0.1:%d " % a.local[1]),
     "a request of the CS for alice's AOR reaches her binding", got)
if got:
    lines = ["SIP/2.0 200 OK"] + ["%s: %s" % (k, v) for k, v in got.headers
                                  if k in ("via", "from", "to", "call-id", "cseq")]
    a.send(("\r\n".join(lines + ["P-Asserted-Identity: <sip:boss@example.com>",
                                 "Content-Length: 0", "", ""])).encode())
    resp, _ = cs.recv()
    C.ok(resp is not None and resp.status == 200 and len(resp.all("via")) == 1,
         "alice's 200 returns to the CS with our Via popped", resp)
    C.ok(resp is not None and not resp.all("p-asserted-identity"),
         "a user's P-Asserted-Identity is stripped from responses too", resp)
cs.send(P, "MESSAGE", BOB, branch="z9hG4bKcs2", to=BOB)
got = t.recv()
C.ok(got is not None and got.method == "MESSAGE", "... and bob's over his TCP connection", got)
cs.send(P, "MESSAGE", "sip:dave@example.com", branch="z9hG4bKcs3", to="sip:dave@example.com")
resp, _ = cs.recv()
C.ok(resp is not None and resp.status == 404, "unknown AOR -> 404", resp)
e = Client(P)
r, _, _ = e.register("alice", "alice-pw", ALICE, alg="SHA-256", expires=1,
                     contact="<sip:alice@127.0.0.1:%d>" % e.local[1])
C.ok(r is not None and r.status == 200, "a 1-second registration is accepted", r)
a.register("alice", "alice-pw", ALICE, alg="SHA-256", expires=0)
time.sleep(2.2)
cs.send(P, "MESSAGE", ALICE, branch="z9hG4bKcs4")
resp, _ = cs.recv()
C.ok(resp is not None and resp.status == 480, "an expired registration is no longer routed "
     "(480)", resp)
C.ok(e.recv(0.3) is None, "... and nothing reaches its old contact")

# ---- malformed input -------------------------------------------------------------
bad = a.request("MESSAGE", "sip:bob@example.com", ALICE, BOB).replace(b"CSeq: ", b"CSeq: x")
r = a.transact(bad)
C.ok(r is not None and r.status == 400 and "CSeq" in r.start, "bad CSeq -> 400 naming it", r)
a.send(b"\x00\xff garbage \r\n\r\n")
a.send(b"INVITE sip:x SIP/2.0\r\n" + b"X: " + b"a" * 9000 + b"\r\n\r\n")
r = a.transact(a.request("OPTIONS", "sip:127.0.0.1:%d" % P, ALICE, ALICE))
C.ok(r is not None and r.status == 200, "still serving after garbage (OPTIONS to the edge)", r)

# ---- IWF border: mutual TLS peers ----------------------------------------------


def peer_ctx(name, crt=None, key=None):
    ctx = ssl.create_default_context(cafile=os.path.join(PKI, "ca.crt"))
    ctx.check_hostname = False
    if name:
        ctx.load_cert_chain(crt or os.path.join(PKI, name + ".crt"),
                            key or os.path.join(PKI, name + ".key"))
    return ctx


def peer_connect(ctx):
    try:
        c = Client(PIWF, "tls", tls_context=ctx)
        c.send(c.request("OPTIONS", "sip:127.0.0.1:%d" % PIWF, "sip:x@othernet.example",
                         "sip:x@othernet.example"))
        m = c.recv(2)
        c.close()
        return m is not None and m.status == 200
    except (OSError, ssl.SSLError):
        return False


C.ok(peer_connect(peer_ctx("othernet.example")), "IWF peer with its certificate is served")
C.ok(not peer_connect(peer_ctx(None)), "IWF without a client certificate is refused")
C.ok(not peer_connect(peer_ctx("x", os.path.join(T.path, "self.crt"),
                               os.path.join(T.path, "self.key"))),
     "IWF with a certificate of another CA is refused")
C.ok(not peer_connect(peer_ctx("rogue.example")),
     "IWF with a valid certificate of an unlisted peer is refused")

p = Client(PIWF, "tls", tls_context=peer_ctx("othernet.example"))
p.send(p.request("MESSAGE", BOB, "sip:x@othernet.example", BOB, body=b"hi",
                 headers=["P-Asserted-Identity: <sip:alice@example.com>"]))
fw, addr = cs.recv()
C.ok(fw is not None and fw.all("p-asserted-identity") == ["<sip:x@othernet.example>"],
     "peer request: its PAI is replaced by the identity checked against its domain", fw)
if fw:
    cs.answer(fw, addr)
    r = p.recv()
    C.ok(r is not None and r.status == 200, "... and the CS's answer returns over mutual TLS", r)
r = p.transact(p.request("MESSAGE", BOB, ALICE, BOB, body=b"hi"))
C.ok(r is not None and r.status == 403, "a peer claiming a local user's AOR -> 403", r)
r = p.transact(p.request("MESSAGE", BOB, "sip:y@elsewhere.net", BOB, body=b"hi"))
C.ok(r is not None and r.status == 403, "a peer claiming another domain -> 403", r)
r, _, _ = p.register("alice", "alice-pw", "sip:x@othernet.example")
C.ok(r is not None and r.status == 403, "peers do not register", r)
cs.send(P, "MESSAGE", "sip:z@othernet.example", branch="z9hG4bKcs5", to="sip:z@othernet.example")
got = p.recv()
C.ok(got is not None and got.method == "MESSAGE", "the CS reaches a peer's domain over the "
     "peer's connection", got)
q = Client(PIWF, "tls", tls_context=peer_ctx("partner.example"))
q.send(q.request("MESSAGE", BOB, "sip:u@partner.example", BOB, body=b"hi",
                 headers=["P-Asserted-Identity: <sip:pstn-gw@partner.example>"]))
fw, _ = cs.recv()
C.ok(fw is not None and fw.all("p-asserted-identity") == ["<sip:pstn-gw@partner.example>"],
     "a peer trusted by policy keeps its P-Asserted-Identity", fw)
for c in (p, q, t, s):
    c.close()

# ---- sipp: MD5 Digest as a real UA, sipp UAS as the Conversation Server ---------
if SIPP:
    P2, CS2 = free_udp_tcp_port(), free_udp_tcp_port()
    legacy = start("legacy", "allow_md5 = yes\ndigest_algorithms = MD5\nauth_max_failures = 3\n"
                   "auth_block = 30\n",
                   ["--listen", "udp:127.0.0.1:%d" % P2, "--listen", "tcp:127.0.0.1:%d" % P2,
                    "--conversation-server", "sip:127.0.0.1:%d" % CS2])
    wait_tcp(P2)
    ok = csv("ok.csv", ["alice;%s;example.com;alice" % auth_field("alice", "alice-pw")])
    r = subprocess.run(sipp("uac_register.xml", free_udp_tcp_port(), P2, ok),
                       capture_output=True, timeout=30)
    C.eq(r.returncode, 0, "sipp: MD5 REGISTER -> 200")
    wrong = csv("wrong.csv", ["alice;%s;example.com;alice" % auth_field("alice", "bad")])
    r = subprocess.run(sipp("uac_register_refused.xml", free_udp_tcp_port(), P2, wrong),
                       capture_output=True, timeout=30)
    C.eq(r.returncode, 0, "sipp: wrong password -> 401")
    other = csv("other.csv", ["alice;%s;example.com;bob" % auth_field("alice", "alice-pw")])
    r = subprocess.run(sipp("uac_register_refused.xml", free_udp_tcp_port(), P2, other),
                       capture_output=True, timeout=30)
    C.eq(r.returncode, 0, "sipp: AOR not allocated -> 403")
    uas = subprocess.Popen(sipp("uas_cs.xml", CS2, None), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    r = subprocess.run(sipp("uac_message.xml", free_udp_tcp_port(), P2, ok),
                       capture_output=True, timeout=30)
    C.eq(r.returncode, 0, "sipp: authenticated MESSAGE with injected PAI -> 200")
    try:
        rc = uas.wait(15)
    except subprocess.TimeoutExpired:
        uas.kill()
        rc = uas.wait()
    C.eq(rc, 0, "sipp UAS (CS): PAI is the user's, injected PAI/PPI/credentials absent")
    r = subprocess.run(sipp("uac_message_spoof.xml", free_udp_tcp_port(), P2, other),
                       capture_output=True, timeout=30)
    C.eq(r.returncode, 0, "sipp: MESSAGE with spoofed From -> 403")
    # failed-authentication rate limiting: 3 failures (sipp's wrong password + 2) block
    b = Client(P2)
    for _ in range(2):
        b.register("alice", "nope", ALICE, alg="MD5")
    r, _, _ = b.register("alice", "alice-pw", ALICE, alg="MD5")
    C.ok(r is not None and r.status == 403 and r.get("retry-after"),
         "after auth_max_failures the source gets 403 + Retry-After, even with the right "
         "password", r)
    C.eq(legacy.stop(), 0, "legacy instance exits 0 on SIGTERM")
else:
    C.ok(False, "sipp is installed (package sip-tester)")

# ---- audit, clean exit ------------------------------------------------------------
time.sleep(0.3)
C.eq(main.stop(signal.SIGTERM), 0, "cpm-sipd exits 0 on SIGTERM")
audit = ctl(D, "audit", "--limit", "200").stdout
for ev in ("sip.register", "sip.unregister", "sip.register.refused", "sip.reject",
           "sip.auth.failed", "sip.peer.refused"):
    C.ok(ev in audit, "audit has %s" % ev, audit[-2000:])
log = main.read_log()
C.ok("level=error" not in log and "AddressSanitizer" not in log and "runtime error" not in log,
     "no errors or sanitizer reports in the log", log[-3000:])
T.cleanup()
C.finish()
