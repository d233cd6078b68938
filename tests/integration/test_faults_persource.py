#!/usr/bin/env python3
"""Per-source connection limit (max_conns_per_source) of the lib/net daemons.

cpns-server with a limit of 20 and two workers: 40 silent TCP connections
from 127.0.0.1 leave exactly 20 open, the other 20 are reset at once (not
after the handshake timeout), across both workers; a client from another
source (127.0.0.2) is served meanwhile.  Every way a connection ends gives
its slot back: the client closing before the handshake, a Digest exchange
ended by the client or by the server (Connection: close), half a
ClientHello, the handshake timeout; after each, 20 connections from
127.0.0.1 are accepted again and the 21st is not.  Refusals are counted in
the metric cpns_connections_refused_total{reason="per_source"} and logged at
most once a second.  SIGHUP applies a new limit (5, then 0: none).  At exit
the daemon's table is empty (no conn.source_leak).  Then cpm-msgstored: the
IMAP greeting shows which connections were accepted, and each listener
counts on its own.  Then cpm-sipd, which runs its own accept loop on the
same table (osec_net_srclimit): one count per source across its TCP and TLS
listeners and both workers; the silent connections, a REGISTER from
127.0.0.2, the close paths (client close, half a ClientHello, the handshake
timeout, a malformed message the daemon answers by closing), SIGHUP, the
metric cpmsip_connections_refused_total{reason="per_source"}, an empty table
at exit."""
import http.client
import os
import re
import signal
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from faults import (CpmMsgstored, CpmSipd, CpnsServer, HttpsDigest,  # noqa: E402
                    Unavailable, client_hello, quiet_stop, scale, sip_exchange)
from osectest import Checks, TempDir, free_port  # noqa: E402

C = Checks()
T = TempDir()
LIMIT = 20
HS = scale(8, 15)              # handshake timeout: refusals must come well before it
PROMPT = scale(2.0, 4.0)       # a refused connection is reset within this
SETTLE = scale(0.5, 1.0)       # the daemon has seen our closes / its accepts after this


def connect(port, src="127.0.0.1"):
    """A blocking socket connected from src; closed already when the reset
    came before connect() returned."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port))
        s.settimeout(None)   # closed() peeks with MSG_DONTWAIT: no timeout wait first
    except (ConnectionResetError, ConnectionAbortedError):
        s.close()
    return s


def closed(s):
    """True once the daemon closed or reset s; False while it is open."""
    try:
        return s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def wait_closed(socks, n, seconds):
    """Wait until at least n of socks are closed (or seconds pass): the closed ones."""
    deadline = time.time() + seconds
    while True:
        done = [s for s in socks if closed(s)]
        if len(done) >= n or time.time() >= deadline:
            return done
        time.sleep(0.02)


def close_all(socks):
    for s in socks:
        s.close()


class Tally:
    """Connections of ours the daemon refused (closed before any timeout)."""
    refused = 0


def hold(port, n, src="127.0.0.1", limit=LIMIT):
    """Open n connections and wait: (open ones, closed ones, seconds until
    the last close)."""
    t0 = time.time()
    socks = [connect(port, src) for _ in range(n)]
    gone = wait_closed(socks, max(0, n - limit), PROMPT)
    t_gone = time.time() - t0
    time.sleep(SETTLE)
    gone = [s for s in socks if closed(s)]
    return [s for s in socks if s not in gone], gone, t_gone


def recovered(port, limit, label, seconds=scale(5, 10)):
    """limit connections from 127.0.0.1 are accepted again and one more is
    not: the counts went back to what is open.  Returns the held sockets."""
    deadline = time.time() + seconds
    while True:
        socks = [connect(port) for _ in range(limit)]
        time.sleep(SETTLE)
        gone = [s for s in socks if closed(s)]
        Tally.refused += len(gone)
        if not gone or time.time() >= deadline:
            break
        close_all(socks)
        time.sleep(0.2)
    extra = connect(port)
    refused = wait_closed([extra], 1, PROMPT)
    Tally.refused += len(refused)
    C.ok(not gone and refused, "%s: %d connections from 127.0.0.1 accepted again, one more "
         "refused" % (label, limit), "%d of %d refused, extra refused: %s"
         % (len(gone), limit, bool(refused)))
    extra.close()
    return socks


class FromAddr(HttpsDigest):
    """HttpsDigest from another source address."""

    def __init__(self, src, *a, **kw):
        super().__init__(*a, **kw)
        self.src = src

    def _send(self, method, path, body, headers):
        if self.conn is None:
            self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx,
                                                    timeout=self.timeout,
                                                    source_address=(self.src, 0))
        return super()._send(method, path, body, headers)


def whoami(t, src="127.0.0.1", close=False):
    """A fresh TLS connection from src and a Digest whoami as an enrolled
    entity; close: then a request with Connection: close (the server ends
    the connection)."""
    eid, eukey = t.load_creds(1)[0]
    cl = FromAddr(src, t.port, t.ca, eid, eukey, timeout=15.0)
    try:
        st, js, _ = cl.request("GET", "/cpns/v1/whoami")
        if close and st == 200:
            st, _, _ = cl._send("GET", "/cpns/v1/whoami", None, {"Connection": "close"})
            return st in (200, 401) and cl.conn is None or "kept open after Connection: close"
        return st == 200 and js and js.get("entity_id") == eid or "status %d %r" % (st, js)
    except Unavailable as e:
        return str(e)
    finally:
        cl.close()


def metric(port, name):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", "/metrics")
        body = c.getresponse().read().decode()
    finally:
        c.close()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return None


def reload_limit(t, conf_path, n, count):
    with open(conf_path) as f:
        text = f.read()
    with open(conf_path, "w") as f:
        f.write(re.sub(r"max_conns_per_source = \d+", "max_conns_per_source = %d" % n, text))
    t.d.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + scale(10, 20)
    while time.time() < deadline:
        if t.d.read_log().count("config.reload result=ok") >= count:
            return True
        time.sleep(0.05)
    return False


def reloads(name, d, conf, port, low, n_open, label="", **kw):
    """SIGHUP to a lower limit (low), then to none (n_open held)."""
    C.ok(reload_limit(d, conf, low, 1), "%s: SIGHUP with max_conns_per_source = %d"
         % (name, low))
    held = recovered(port, low, "%safter the reload to %d" % (label, low))
    close_all(held)
    time.sleep(SETTLE)
    C.ok(reload_limit(d, conf, 0, 2), "%s: SIGHUP with max_conns_per_source = 0" % name)
    held, gone, _ = hold(port, n_open, **kw)
    C.eq(len(gone), 0, "%s: no limit after the reload to 0 (%d held)" % (name, len(held)))
    close_all(held)
    close_all(gone)
    time.sleep(SETTLE)


# ---- cpns-server ----------------------------------------------------------------------
MPORT = free_port()
t = CpnsServer(T.path, conf_extra="max_conns_per_source = %d\nmetrics = 127.0.0.1:%d\n"
               % (LIMIT, MPORT))
t.setup()
t.start("handshake_timeout = %d\n" % HS)
conf = os.path.join(T.path, "cpns-server.conf")
t0 = time.time()
C.ok(whoami(t) is True, "cpns-server: warm-up whoami from 127.0.0.1")
time.sleep(SETTLE)

# 40 silent connections (no ClientHello): 20 stay, 20 are reset at once.
held, gone, dt = hold(t.port, 2 * LIMIT)
Tally.refused += len(gone)
C.eq((len(held), len(gone)), (LIMIT, LIMIT),
     "cpns-server: of %d connections from 127.0.0.1, %d held and %d refused"
     % (2 * LIMIT, LIMIT, LIMIT))
C.ok(dt < PROMPT and dt < HS / 2, "cpns-server: refused within %.2f s, not after the %d s "
     "handshake timeout" % (dt, HS))
C.ok(whoami(t, "127.0.0.2") is True, "cpns-server: a client from 127.0.0.2 is served meanwhile")
extra = connect(t.port)
r = wait_closed([extra], 1, PROMPT)
Tally.refused += len(r)
C.ok(r, "cpns-server: another connection from 127.0.0.1 is refused meanwhile")
extra.close()
C.ok(not any(closed(s) for s in held), "cpns-server: the held connections are still open")

# The client closes before its handshake.
close_all(held)
time.sleep(SETTLE)
held = recovered(t.port, LIMIT, "after the client closed before the handshake")
close_all(held)
time.sleep(SETTLE)

# Whole exchanges, ended by the client or by the server; half a ClientHello.
res = [whoami(t, close=bool(i % 2)) for i in range(2 * LIMIT)]
C.ok(all(x is True for x in res), "cpns-server: %d Digest whoami from 127.0.0.1 in a row (half "
     "ended by the server)" % len(res), [x for x in res if x is not True][:3])
hello = client_hello(t.tls_ctx())
for _ in range(LIMIT):
    s = connect(t.port)
    s.sendall(hello[:len(hello) // 2])
    s.close()
time.sleep(SETTLE)
held = recovered(t.port, LIMIT, "after whole exchanges and half handshakes")

# The handshake timeout ends the held ones.
t_hold = time.time()
cut = wait_closed(held, LIMIT, HS + scale(3, 6))
C.eq(len(cut), LIMIT, "cpns-server: the handshake timeout cut the %d silent connections "
     "(after %.1f s)" % (LIMIT, time.time() - t_hold))
close_all(held)
held = recovered(t.port, LIMIT, "after the handshake timeout")
close_all(held)
time.sleep(SETTLE)

# SIGHUP: a lower limit, then none.
reloads("cpns-server", t, conf, t.port, 5, 2 * LIMIT)

n = metric(MPORT, 'cpns_connections_refused_total{reason="per_source"}')
C.eq(n, Tally.refused, "cpns-server: metric cpns_connections_refused_total{reason=\"per_source\"}")
C.eq(metric(MPORT, 'cpns_connections_refused_total{reason="limit"}'), 0,
     "cpns-server: metric cpns_connections_refused_total{reason=\"limit\"}")
log = t.d.read_log()
lines = re.findall(r"event=conn\.refused reason=per_source source=(\S+) limit=(\d+) "
                   r"refused=(\d+)", log)
elapsed = time.time() - t0
C.ok(lines and len(lines) <= elapsed + 1 and len(lines) < Tally.refused,
     "cpns-server: refusals logged at most once a second (%d lines for %d refusals in %.0f s)"
     % (len(lines), Tally.refused, elapsed), log[-2000:])
C.ok(lines and all(src == "127.0.0.1" for src, _, _ in lines) and lines[0][1] == str(LIMIT),
     "cpns-server: the log names the source and the limit", lines[:3])
C.ok(lines and sum(int(x) for _, _, x in lines) <= Tally.refused,
     "cpns-server: the refused= counts add up to no more than the refusals")
rc, tail = quiet_stop(t.d)
log = t.d.read_log()
C.ok(rc == 0, "cpns-server stops cleanly", tail)
C.ok("conn.source_leak" not in log and "conn.source_untracked" not in log,
     "cpns-server: the per-source table is empty at exit",
     [x for x in log.splitlines() if "source_" in x][:3])
C.ok("AddressSanitizer" not in log and "runtime error" not in log, "cpns-server: log is clean")


# ---- cpm-msgstored: the IMAP greeting is the sign of acceptance ------------------------
def greeted(s, seconds):
    """'greeting', 'closed' or 'silent'."""
    try:
        s.settimeout(seconds)
        data = s.recv(200)
    except socket.timeout:
        return "silent"
    except OSError:
        return "closed"
    return "greeting" if data.startswith(b"* OK") else "closed" if not data else repr(data)


ML = 5
m = CpmMsgstored(T.path, conf_extra="max_conns_per_source = %d\n" % ML)
m.setup()
m.start()
time.sleep(SETTLE)
socks = [connect(m.port_imap) for _ in range(2 * ML)]
st = [greeted(s, PROMPT) for s in socks]
C.eq((st.count("greeting"), st.count("closed")), (ML, ML),
     "cpm-msgstored: of %d connections from 127.0.0.1, %d greeted and %d refused" % (2 * ML, ML, ML))
other = connect(m.port_imap, "127.0.0.2")
C.eq(greeted(other, PROMPT), "greeting", "cpm-msgstored: a client from 127.0.0.2 is greeted")
other.close()
tls = [connect(m.port) for _ in range(ML)]
time.sleep(SETTLE)
C.ok(not any(closed(s) for s in tls),
     "cpm-msgstored: the implicit-TLS listener counts on its own (%d more held)" % ML)
close_all(socks + tls)
time.sleep(SETTLE)
socks = [connect(m.port_imap) for _ in range(ML)]
st = [greeted(s, PROMPT) for s in socks]
C.eq(st.count("greeting"), ML, "cpm-msgstored: %d greeted again after the others closed" % ML)
close_all(socks)
rc, tail = quiet_stop(m.d)
log = m.d.read_log()
C.ok(rc == 0, "cpm-msgstored stops cleanly", tail)
C.ok("conn.source_leak" not in log and "conn.source_untracked" not in log,
     "cpm-msgstored: the per-source tables are empty at exit")
C.ok("AddressSanitizer" not in log and "runtime error" not in log, "cpm-msgstored: log is clean")


# ---- cpm-sipd: its own accept loop, one count per source over TCP and TLS ----------------
SL = 5
SHS = scale(4, 8)
Tally.refused = 0
SMPORT = free_port()
sp = CpmSipd(T.path, conf_extra="max_conns_per_source = %d\nmetrics = 127.0.0.1:%d\n"
             % (SL, SMPORT))
sp.setup()
sp.start("handshake_timeout = %d\n" % SHS)
sconf = os.path.join(T.path, "cpm-sipd.conf")
t0 = time.time()


def sip_register_from(src, user="u0"):
    """A REGISTER with Digest over a fresh TCP connection from src: the final status."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(10)
    try:
        s.connect(("127.0.0.1", sp.port_sip))
        return sip_exchange(s, "tcp", user, user + "-pw")[0]
    except (OSError, EOFError) as e:
        return str(e)
    finally:
        s.close()


C.eq(sip_register_from("127.0.0.1"), 200, "cpm-sipd: warm-up REGISTER over TCP from 127.0.0.1")
time.sleep(SETTLE)
held, gone, dt = hold(sp.port_sip, 2 * SL, limit=SL)
Tally.refused += len(gone)
C.eq((len(held), len(gone)), (SL, SL), "cpm-sipd: of %d TCP connections from 127.0.0.1, %d held "
     "and %d refused" % (2 * SL, SL, SL))
C.ok(dt < PROMPT, "cpm-sipd: refused within %.2f s" % dt)
C.eq(sip_register_from("127.0.0.2"), 200,
     "cpm-sipd: a REGISTER over TCP from 127.0.0.2 is answered meanwhile")
extra = connect(sp.port)
r = wait_closed([extra], 1, PROMPT)
Tally.refused += len(r)
C.ok(r, "cpm-sipd: a TLS connection from 127.0.0.1 is refused meanwhile (one count per source)")
extra.close()
C.ok(not any(closed(s) for s in held), "cpm-sipd: the held connections are still open")
close_all(held)
time.sleep(SETTLE)
held = recovered(sp.port_sip, SL, "cpm-sipd: after the client closed")
close_all(held)
time.sleep(SETTLE)

# Close paths: REGISTER exchanges, half a ClientHello on TLS, a malformed
# message (the daemon closes), then the handshake timeout.
res = [sip_register_from("127.0.0.1") for _ in range(2 * SL)]
C.ok(all(x == 200 for x in res), "cpm-sipd: %d REGISTER over TCP in a row" % len(res),
     [x for x in res if x != 200][:3])
time.sleep(SETTLE)
hello = client_hello(sp.tls_ctx())
for _ in range(SL):
    s = connect(sp.port)
    s.sendall(hello[:len(hello) // 2])
    s.close()
time.sleep(SETTLE)   # the daemon has seen these closes: the next SL are all accepted
bad = [connect(sp.port_sip) for _ in range(SL)]
for s in bad:
    s.sendall(b"\x00\xff garbage\r\n\r\n")
C.eq(len(wait_closed(bad, SL, PROMPT)), SL,
     "cpm-sipd: %d connections sending garbage are closed by the daemon" % SL)
close_all(bad)
time.sleep(SETTLE)
held = recovered(sp.port_sip, SL, "cpm-sipd: after REGISTERs, half handshakes and garbage")
close_all(held)
time.sleep(SETTLE)
tls_held, _, _ = hold(sp.port, SL, limit=SL)
t_hold = time.time()
cut = wait_closed(tls_held, SL, SHS + scale(3, 6))
C.eq(len(cut), SL, "cpm-sipd: the handshake timeout cut the %d silent TLS connections "
     "(after %.1f s)" % (SL, time.time() - t_hold))
close_all(tls_held)
held = recovered(sp.port_sip, SL, "cpm-sipd: after the handshake timeout")
close_all(held)
time.sleep(SETTLE)

# SIGHUP: a lower limit, then none.
reloads("cpm-sipd", sp, sconf, sp.port_sip, 2, 4 * SL, "cpm-sipd: ", limit=4 * SL)

n = metric(SMPORT, 'cpmsip_connections_refused_total{reason="per_source"}')
C.eq(n, Tally.refused,
     "cpm-sipd: metric cpmsip_connections_refused_total{reason=\"per_source\"}")
log = sp.d.read_log()
lines = re.findall(r"event=conn\.refused reason=per_source source=(\S+) limit=(\d+) "
                   r"refused=(\d+)", log)
elapsed = time.time() - t0
C.ok(lines and len(lines) <= elapsed + 1 and all(src == "127.0.0.1" for src, _, _ in lines)
     and lines[0][1] == str(SL) and sum(int(x) for _, _, x in lines) <= Tally.refused,
     "cpm-sipd: refusals logged as lib/net's, at most once a second (%d lines, %d refusals)"
     % (len(lines), Tally.refused), lines[:3])
rc, tail = quiet_stop(sp.d)
log = sp.d.read_log()
C.ok(rc == 0, "cpm-sipd stops cleanly", tail)
C.ok("conn.source_leak" not in log and "conn.source_untracked" not in log,
     "cpm-sipd: the per-source table is empty at exit",
     [x for x in log.splitlines() if "source_" in x][:3])
C.ok("AddressSanitizer" not in log and "runtime error" not in log, "cpm-sipd: log is clean")
T.cleanup()
C.finish()
