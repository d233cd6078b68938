#!/usr/bin/env python3
"""cpm-sipd for operators: Prometheus metrics on --metrics (scraped with curl;
every family moves with the traffic that should move it), SIGHUP reload of
certificates, Digest policy, peers and limits without dropping connections or
registrations (a broken file or certificate keeps the running configuration),
and --check-config naming file:line for every error."""
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, os.path.join(HERE, "sip"))
from osectest import (BIN, SRC, Checks, Daemon, TempDir, ctl, free_port,  # noqa: E402
                      free_udp_tcp_port)
from siplib import Client, CsSocket, Msg, authorization, parse_challenge  # noqa: E402

C = Checks()
T = TempDir()
D = os.path.join(T.path, "data")
PKI = os.path.join(D, "pki")
CA = os.path.join(PKI, "ca.crt")
SIPD = os.path.join(BIN, "cpm-sipd")
CONF = os.path.join(T.path, "ops.conf")
ALICE, BOB, CAROL = "sip:alice@example.com", "sip:bob@example.com", "sip:carol@example.com"
EVE = "sip:eve@example.com"




P, CSP = free_udp_tcp_port(), free_udp_tcp_port()
PTLS, PIWF, MPORT = free_port(), free_port(), free_port()
BASE = ("[cpm-sipd]\n"
        "listen = udp:127.0.0.1:%d, tcp:127.0.0.1:%d, tls:127.0.0.1:%d, iwf:127.0.0.1:%d\n"
        "conversation_server = sip:127.0.0.1:%d\n"
        "metrics = 127.0.0.1:%d\n"
        "nonce_lifetime = 10\nhandshake_timeout = 3\n" %
        (P, P, PTLS, PIWF, CSP, MPORT))


def write_conf(extra):
    with open(CONF, "w") as f:
        f.write(BASE + extra)


def wait_port(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def scrape():
    """The metrics as {'name{labels}': value}, and the raw text."""
    p = subprocess.run(["curl", "-sS", "--max-time", "10",
                        "http://127.0.0.1:%d/metrics" % MPORT],
                       capture_output=True, text=True, timeout=20)
    out = {}
    for line in p.stdout.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            out[k] = float(v)
    return out, p.stdout


def delta(m0, m1, key):
    return m1.get(key, 0) - m0.get(key, 0)


def wait_count(d, text, n, seconds=10.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if d.read_log().count(text) >= n:
            return True
        time.sleep(0.05)
    return False


def tls_ctx(cert=None):
    ctx = ssl.create_default_context(cafile=CA)
    ctx.check_hostname = False
    if cert:
        ctx.load_cert_chain(os.path.join(PKI, cert + ".crt"), os.path.join(PKI, cert + ".key"))
    return ctx


def served_cn():
    with socket.create_connection(("127.0.0.1", PTLS), timeout=5) as raw:
        with tls_ctx().wrap_socket(raw) as s:
            return dict(x[0] for x in s.getpeercert()["subject"]).get("commonName")


def options(c, ruri="sip:127.0.0.1:%d" % P):
    r = c.transact(c.request("OPTIONS", ruri, "sip:x@othernet.example", "sip:x@othernet.example"))
    return r is not None and r.status == 200


class CS(CsSocket):
    """The Conversation Server: a raw UDP socket."""

    def answer(self, req, addr, status=200):
        lines = ["SIP/2.0 %d OK" % status]
        for k, v in req.headers:
            if k in ("via", "from", "call-id", "cseq"):
                lines.append("%s: %s" % (k, v))
            elif k == "to":
                lines.append("To: %s;tag=cs1" % v)
        self.sock.sendto(("\r\n".join(lines + ["Content-Length: 0", "", ""])).encode(), addr)

    def send(self, method, to):
        self.n += 1
        msg = ["%s %s SIP/2.0" % (method, to),
               "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKops%d" % (self.port, self.n),
               "Max-Forwards: 70", "From: <sip:cs@example.com>;tag=c1", "To: <%s>" % to,
               "Call-ID: ops%d@cs" % self.n, "CSeq: 1 %s" % method]
        self.sock.sendto(("\r\n".join(msg + ["Content-Length: 0", "", ""])).encode(),
                         ("127.0.0.1", P))


def reaches(client, cs, aor):
    """A MESSAGE of the CS for aor arrives at client (who answers 200)."""
    cs.send("MESSAGE", aor)
    got = client.recv()
    if got is None or got.method != "MESSAGE":
        return False
    lines = ["SIP/2.0 200 OK"] + ["%s: %s" % (k, v) for k, v in got.headers
                                  if k in ("via", "from", "to", "call-id", "cseq")]
    client.send(("\r\n".join(lines + ["Content-Length: 0", "", ""])).encode())
    resp, _ = cs.recv()
    return resp is not None and resp.status == 200


def udp_client(ip):
    """A UDP client on another loopback address: rate limiting counts per source."""
    c = Client(P)
    c.sock.close()
    c.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.sock.bind((ip, 0))
    c.local = c.sock.getsockname()
    return c


def challenge(c, aor=ALICE):
    r = c.transact(c.request("REGISTER", "sip:example.com", aor, aor,
                             headers=["Contact: <sip:alice@127.0.0.1:%d>" % c.local[1]]))
    return [parse_challenge(v) for v in r.all("www-authenticate")] if r else []


def register_with(c, ch, user, pw, aor=ALICE, expires=300):
    auth = authorization(ch, user, pw, "REGISTER", "sip:example.com")
    return c.transact(c.request("REGISTER", "sip:example.com", aor, aor,
                                headers=["Contact: <sip:%s@127.0.0.1:%d>" % (user, c.local[1]),
                                         "Expires: %d" % expires, "Authorization: " + auth]))


def message(c, from_uri, user, pw, extra=()):
    """MESSAGE to bob, answering the 407; returns None when it was forwarded."""
    req = c.request("MESSAGE", BOB, from_uri, BOB, headers=extra, body=b"hi")
    r = c.transact(req)
    if r is None or r.status != 407:
        return r
    auth = authorization(parse_challenge(r.get("proxy-authenticate")), user, pw, "MESSAGE", BOB)
    c.send(c.request("MESSAGE", BOB, from_uri, BOB, body=b"hi",
                     headers=list(extra) + ["Proxy-Authorization: " + auth]))
    return None


# ---- setup -----------------------------------------------------------------------
ctl(D, "init")
for u in ("alice", "bob", "carol", "eve"):
    ctl(D, "user", "add", u, stdin=u + "-pw\n")
    ctl(D, "address", "add", u, "sip:%s@example.com" % u)
for n in ("othernet.example", "partner.example"):
    ctl(D, "pki", "issue", n, "--san", "DNS:" + n)
ctl(D, "pki", "issue", "second", "--san", "IP:127.0.0.1")
cs = CS(CSP)
write_conf("workers = 2\npeers = othernet.example\nmin_expires = 1\n"
           "auth_max_failures = 1000\n")
srv = Daemon([SIPD, "--data", D, "--config", CONF], os.path.join(T.path, "sipd.log"))
C.ok(wait_port(P) and wait_port(PIWF) and wait_port(MPORT),
     "cpm-sipd listens (sip and metrics)", srv.read_log()[-2000:])

# ---- metrics ---------------------------------------------------------------------
m0, text = scrape()
C.ok("# TYPE cpmsip_requests_total counter" in text and
     "# TYPE cpmsip_request_duration_seconds histogram" in text and
     "# TYPE cpmsip_bindings gauge" in text, "GET /metrics: Prometheus text format", text[:600])
p = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                    "http://127.0.0.1:%d/other" % MPORT], capture_output=True, text=True)
C.eq(p.stdout, "404", "any other path is 404")

# Failed authentications come from other sources and users than alice's
# (127.0.0.1), so that the lower limits of the reload below block only them.
a = Client(P)
stale_ch, stale_t = challenge(a)[0], time.time()  # answered after nonce_lifetime
r, ch, areq = a.register("alice", "alice-pw", ALICE, alg="SHA-256", expires=300)
C.ok(r is not None and r.status == 200, "alice registers (UDP)", r)
a.send(areq)
rr = a.recv()
C.ok(rr is not None and rr.status == 200, "a retransmission is answered from the cache", rr)
f = udp_client("127.0.0.3")
r, _, ereq = f.register("eve", "eve-pw", EVE, alg="SHA-256")
C.ok(r is not None and r.status == 200, "eve registers", r)
rr = f.transact(ereq.replace(b"branch=z9hG4bK", b"branch=z9hG4bKreplay1"))
C.ok(rr is not None and rr.status == 401, "replayed credentials -> 401", rr)
r, _, _ = f.register("eve", "wrong", EVE, alg="SHA-256")
C.ok(r is not None and r.status == 401, "wrong password -> 401", r)
bad = f.request("REGISTER", "sip:example.com", EVE, EVE,
                headers=['Authorization: Digest username="eve", realm="x'])
rr = f.transact(bad)
C.ok(rr is not None and rr.status == 400, "malformed Authorization -> 400", rr)
r, _, _ = a.register("alice", "alice-pw", "sip:nobody@example.com", alg="SHA-256")
C.ok(r is not None and r.status == 403, "AOR not allocated -> 403", r)
message(a, BOB, "alice", "alice-pw")
r = a.recv()
C.ok(r is not None and r.status == 403, "spoofed From -> 403", r)
message(a, ALICE, "alice", "alice-pw", ["P-Asserted-Identity: <sip:boss@example.com>"])
fw, addr = cs.recv()
C.ok(fw is not None and fw.all("p-asserted-identity") == ["<sip:alice@example.com>"],
     "injected P-Asserted-Identity replaced", fw)
if fw:
    cs.answer(fw, addr)
r = a.recv()
C.ok(r is not None and r.status == 200, "the CS's 200 is relayed", r)
a.send(b"\x00\xff garbage \r\n\r\n")
t = Client(P, "tcp")
r, _, _ = t.register("bob", "bob-pw", BOB, alg="SHA-256")
C.ok(r is not None and r.status == 200, "bob registers (TCP)", r)
s = Client(PTLS, "tls", tls_context=tls_ctx())
r, _, _ = s.register("carol", "carol-pw", CAROL, alg="SHA-256")
C.ok(r is not None and r.status == 200, "carol registers (TLS)", r)
pw = Client(PIWF, "tls", tls_context=tls_ctx("othernet.example"))
C.ok(options(pw, "sip:127.0.0.1:%d" % PIWF), "IWF peer othernet.example connects")
for cert in ("partner.example", None):  # not (yet) a peer; no certificate at all
    try:
        x = Client(PIWF, "tls", tls_context=tls_ctx(cert))
        C.ok(not options(x, "sip:127.0.0.1:%d" % PIWF), "IWF %s refused" % cert)
        x.close()
    except (OSError, ssl.SSLError):
        C.ok(True, "IWF %s refused" % cert)
time.sleep(0.5)

m1, text = scrape()
d = lambda k: delta(m0, m1, k)  # noqa: E731
C.ok(d('cpmsip_requests_total{method="REGISTER"}') >= 12 and
     d('cpmsip_requests_total{method="MESSAGE"}') >= 4 and
     d('cpmsip_requests_total{method="OPTIONS"}') >= 1, "requests counted by method",
     [l for l in text.splitlines() if "requests_total" in l])
C.ok(d('cpmsip_responses_total{origin="local",status="2xx"}') >= 4 and
     d('cpmsip_responses_total{origin="local",status="4xx"}') >= 10 and
     d('cpmsip_responses_total{origin="relayed",status="2xx"}') == 1,
     "responses counted by origin and status class",
     [l for l in text.splitlines() if "responses_total" in l])
C.ok(d('cpmsip_auth_total{result="ok"}') >= 5, "authentications ok counted")
for reason, n in (("bad_credentials", 1), ("replay", 1), ("malformed", 1)):
    C.eq(d('cpmsip_auth_total{result="failed",reason="%s"}' % reason), n,
         "authentication failures: %s" % reason)
C.ok(d('cpmsip_auth_total{result="challenged",reason="no_credentials"}') >= 6,
     "challenges counted")
C.ok(d('cpmsip_handshakes_total{mode="tls",result="ok"}') == 1 and
     d('cpmsip_handshakes_total{mode="mutual-tls",result="ok"}') == 1,
     "handshakes counted by mode", [l for l in text.splitlines() if "handshakes" in l])
C.ok(d('cpmsip_handshakes_total{mode="mutual-tls",result="unlisted_peer"}') == 1 and
     d('cpmsip_handshakes_total{mode="mutual-tls",result="failed"}') == 1,
     "unlisted peer and missing client certificate counted",
     [l for l in text.splitlines() if "handshakes" in l])
C.ok(all(m1.get('cpmsip_connections_active{transport="%s"}' % k) == 1
         for k in ("tcp", "tls", "iwf")), "active connections by transport",
     [l for l in text.splitlines() if "connections_active" in l])
C.eq(m1.get("cpmsip_bindings"), 4.0, "current bindings gauge")
C.ok(d('cpmsip_registrations_total{result="accepted"}') == 4 and
     d('cpmsip_registrations_total{result="refused",reason="aor_not_allocated"}') == 1,
     "registrations accepted / refused (AOR not allocated)",
     [l for l in text.splitlines() if "registrations" in l])
C.eq(d('cpmsip_antispoof_rejections_total{from="user"}'), 1, "anti-spoofing rejection")
C.eq(d("cpmsip_pai_stripped_total"), 1, "P-Asserted-Identity stripped")
C.eq(d("cpmsip_retransmissions_total"), 1, "transaction cache hit")
C.ok(d("cpmsip_malformed_total") >= 1, "malformed message counted")
C.ok(d("cpmsip_request_duration_seconds_count") >= 15 and
     m1.get('cpmsip_request_duration_seconds_bucket{le="+Inf"}') ==
     m1.get("cpmsip_request_duration_seconds_count"), "latency histogram")
C.ok("alice" not in text and "example" not in text, "no user or peer names in the metrics")

# ---- reload: certificates, policy, peers, limits ----------------------------------
C.eq(served_cn(), "localhost", "TLS serves the first certificate")
kept_ch = challenge(a)[0]  # issued before the reload, answered after it
g = udp_client("127.0.0.4")
r, _, greq = g.register("eve", "eve-pw", EVE, alg="SHA-256",
                        contact="<sip:eve@127.0.0.4:%d>" % g.local[1])
C.ok(r is not None and r.status == 200, "eve registers again just before the reload", r)
write_conf("peers = othernet.example partner.example\ntrusted_peers = partner.example\n"
           "allow_md5 = yes\ndigest_algorithms = SHA-256,MD5\nmin_expires = 30\n"
           "auth_max_failures = 2\nauth_block = 60\n"
           "cert = %s/second.crt\nkey = %s/second.key\nworkers = 3\n" % (PKI, PKI))
srv.proc.send_signal(signal.SIGHUP)
C.ok(wait_count(srv, "config.reload result=ok", 1), "SIGHUP: reload logged",
     srv.read_log()[-1500:])
r = register_with(a, kept_ch, "alice", "alice-pw")
C.ok(r is not None and r.status == 200, "a nonce issued before the reload is still good", r)
rr = g.transact(greq.replace(b"branch=z9hG4bK", b"branch=z9hG4bKreplay2"))
C.ok(rr is not None and rr.status == 401,
     "credentials used before the reload are still a replay (replay cache shared)", rr)
C.ok("config.reload_restart_needed keys=workers" in srv.read_log(),
     "a key only a restart applies is named in the log")
C.eq(served_cn(), "second", "new TLS connections get the new certificate")
C.ok(options(s, "sip:127.0.0.1:%d" % PTLS), "a TLS connection made before the reload still works")
C.ok(reaches(s, cs, CAROL), "carol's TLS registration is still routed")
C.ok(reaches(a, cs, ALICE), "alice's UDP registration is still routed")
C.ok(reaches(t, cs, BOB), "bob's TCP registration is still routed")
chs = challenge(a)
C.eq([c.get("algorithm") for c in chs], ["SHA-256", "MD5"], "new Digest policy: MD5 offered")
pw.send(pw.request("MESSAGE", BOB, "sip:x@othernet.example", BOB, body=b"hi"))
fw, addr = cs.recv()
C.ok(fw is not None and fw.all("p-asserted-identity") == ["<sip:x@othernet.example>"],
     "the IWF connection made before the reload still works", fw)
if fw:
    cs.answer(fw, addr)
    pw.recv()
cs.send("MESSAGE", "sip:z@othernet.example")
got = pw.recv()
C.ok(got is not None and got.method == "MESSAGE",
     "the CS still reaches the peer over its connection", got)
q = Client(PIWF, "tls", tls_context=tls_ctx("partner.example"))
q.send(q.request("MESSAGE", BOB, "sip:u@partner.example", BOB, body=b"hi",
                 headers=["P-Asserted-Identity: <sip:gw@partner.example>"]))
fw, _ = cs.recv()
C.ok(fw is not None and fw.all("p-asserted-identity") == ["<sip:gw@partner.example>"],
     "a peer added by the reload connects, and is trusted", fw)
r, _, _ = a.register("alice", "alice-pw", ALICE, alg="SHA-256", expires=10)
C.ok(r is not None and r.status == 423 and r.get("min-expires") == "30",
     "new expiry bounds: 423 below min_expires", r)
b = udp_client("127.0.0.2")
for _ in range(2):
    b.register("mallory", "nope", ALICE, alg="SHA-256")
r, _, _ = b.register("alice", "alice-pw", ALICE, alg="SHA-256")
C.ok(r is not None and r.status == 403 and r.get("retry-after"),
     "new rate limits: blocked after auth_max_failures = 2", r)

# ---- a broken file, a broken certificate: the running configuration stays ---------
write_conf("peers = othernet.example partner.example\ndigest_algorithms = SHA-256\n"
           "min_expires = soon\nno_such_key = 1\n")  # lines 7-10
srv.proc.send_signal(signal.SIGHUP)
C.ok(wait_count(srv, "config.reload result=failed", 1), "a broken file is refused",
     srv.read_log()[-1500:])
log = srv.read_log()
C.ok("ops.conf:9: min_expires" in log and "ops.conf:10: unknown key" in log,
     "each error is logged with file:line", log[-1500:])
junk = os.path.join(T.path, "junk.crt")
with open(junk, "w") as f:
    f.write("not a certificate\n")
write_conf("peers = othernet.example partner.example\ndigest_algorithms = SHA-256\n"
           "cert = %s\nkey = %s/second.key\n" % (junk, PKI))
srv.proc.send_signal(signal.SIGHUP)
C.ok(wait_count(srv, "config.reload result=failed", 2), "an unreadable certificate is refused",
     srv.read_log()[-1500:])
C.eq([c.get("algorithm") for c in challenge(a)], ["SHA-256", "MD5"],
     "... and the running Digest policy is kept")
C.eq(served_cn(), "second", "... and the running certificate")
C.ok(options(s, "sip:127.0.0.1:%d" % PTLS) and options(q, "sip:127.0.0.1:%d" % PIWF),
     "... and the connections")
C.eq(srv.proc.poll(), None, "the server keeps running")

# ---- a peer removed by a reload is cut off; the others stay ---------------------------
write_conf("peers = partner.example\ntrusted_peers = partner.example\nallow_md5 = yes\n"
           "digest_algorithms = SHA-256,MD5\nmin_expires = 30\nauth_max_failures = 2\n"
           "cert = %s/second.crt\nkey = %s/second.key\n" % (PKI, PKI))
srv.proc.send_signal(signal.SIGHUP)
C.ok(wait_count(srv, "config.reload result=ok", 2), "reload removing a peer",
     srv.read_log()[-1500:])
C.ok(not options(pw, "sip:127.0.0.1:%d" % PIWF), "the removed peer's connection is closed")
C.ok(options(q, "sip:127.0.0.1:%d" % PIWF), "the remaining peer's connection stays")
cs.send("MESSAGE", "sip:z@othernet.example")
resp, _ = cs.recv()
C.ok(resp is not None and resp.status == 404, "the removed peer's domain is no longer routed",
     resp)

# ---- stale nonce (nonce_lifetime = 10 s) ---------------------------------------------
time.sleep(max(0.0, stale_t + 11 - time.time()))
r = register_with(a, stale_ch, "alice", "alice-pw")
C.ok(r is not None and r.status == 401 and "stale=true" in (r.get("www-authenticate") or ""),
     "an expired nonce -> 401 stale=true", r)
m2, text = scrape()
d = lambda k: delta(m1, m2, k)  # noqa: E731
C.eq(d('cpmsip_auth_total{result="failed",reason="stale_nonce"}'), 1, "stale nonce counted")
C.eq(d('cpmsip_auth_total{result="failed",reason="replay"}'), 1, "replay after reload counted")
C.ok(d('cpmsip_auth_total{result="failed",reason="rate_limited"}') >= 1, "rate limiting counted")
C.ok(d('cpmsip_registrations_total{result="refused",reason="interval_too_brief"}') == 1,
     "423 counted")
C.ok(m2.get('cpmsip_config_reloads_total{result="ok"}') == 2 and
     m2.get('cpmsip_config_reloads_total{result="failed"}') == 2, "reloads counted by result",
     [l for l in text.splitlines() if "reloads" in l])
C.eq(m2.get('cpmsip_connections_active{transport="iwf"}'), 1.0,
     "active IWF connections after the removal")
for c in (a, t, s, pw, q, b, f, g):
    c.close()

# ---- --check-config --------------------------------------------------------------------
r = subprocess.run([SIPD, "--help"], capture_output=True, text=True)
C.ok(r.returncode == 0 and "--metrics HOST:PORT" in r.stdout, "--help lists --metrics")
r = subprocess.run([SIPD, "--data", D, "--config", os.path.join(SRC, "conf", "omasec.conf"),
                    "--conversation-server", "sip:127.0.0.1:5070", "--check-config"],
                   capture_output=True, text=True)
C.ok(r.returncode == 0 and "configuration ok" in r.stdout,
     "the shipped conf/omasec.conf passes --check-config", r.stdout + r.stderr)
bad = os.path.join(T.path, "bad.conf")
with open(bad, "w") as f:
    f.write("[cpm-sipd]\n"
            "listen = udp:127.0.0.1:5060, smtp:127.0.0.1:25\n"       # 2
            "conversation_server = sip:127.0.0.1:5070\n"             # 3
            "min_expires = soon\n"                                   # 4
            "digest_algorithms = SHA-256,MD5\n"                      # 5
            "metrics = nowhere\n"                                    # 6
            "log_level = loud\n"                                     # 7
            "peers = othernet.example\n"                             # 8
            "trusted_peers = partner.example\n"                      # 9
            "max_message = 10\n"                                     # 10
            "tpyo = 1\n")                                            # 11
r = subprocess.run([SIPD, "--data", D, "--config", bad, "--check-config"],
                   capture_output=True, text=True)
C.eq(r.returncode, 1, "--check-config of a bad file exits 1")
for line, what in ((2, "listen"), (4, "min_expires"), (5, "allow_md5"), (6, "metrics"),
                   (7, "log level"), (9, "trusted_peers"), (10, "max_message"),
                   (11, "unknown key")):
    C.ok(re.search(r"bad\.conf:%d: .*%s" % (line, what), r.stderr) is not None,
         "--check-config names bad.conf:%d (%s)" % (line, what), r.stderr)
with open(bad, "w") as f:
    f.write("[cpm-sipd]\nworkers = 2\nthis line is not a key\n")
r = subprocess.run([SIPD, "--data", D, "--config", bad, "--check-config"],
                   capture_output=True, text=True)
C.ok(r.returncode == 1 and "bad.conf:3" in r.stderr, "a syntax error names file:line",
     r.stderr)
r = subprocess.run([SIPD, "--data", D, "--conversation-server", "sip:127.0.0.1:5070",
                    "--metrics", "nowhere", "--check-config"], capture_output=True, text=True)
C.ok(r.returncode == 1 and "metrics" in r.stderr, "a bad --metrics is refused", r.stderr)

# ---- clean exit ------------------------------------------------------------------------
C.eq(srv.stop(signal.SIGTERM), 0, "cpm-sipd exits 0 on SIGTERM")
log = srv.read_log()
errors = [ln for ln in log.splitlines() if "level=error" in ln and "config.reload_failed" not in ln]
C.ok(not errors and "AddressSanitizer" not in log and "runtime error" not in log and
     "LeakSanitizer" not in log, "no other errors or sanitizer reports in the log",
     "\n".join(errors) + log[-2000:])
T.cleanup()
C.finish()
