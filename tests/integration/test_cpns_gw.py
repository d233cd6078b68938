#!/usr/bin/env python3
"""cpns-gw + cpns-pne black-box test: PN establishment in the three modes
(TLS-PSK, DTLS-PSK, TLS + Digest), requests relayed to the CPNS Server,
GW<->GW, third-party PSK clients (openssl s_client, gnutls-cli) and the
hostile cases: reused, expired and foreign onetime keys, another user's PNE,
GW impersonation, downgrade, and a CPNS Server restart under the GW."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from osectest import BIN, Checks, Daemon, TempDir, ctl, free_port  # noqa: E402

C = Checks()
T = TempDir()
S = os.path.join(T.path, "srv")
CA = os.path.join(S, "pki", "ca.crt")
SPORT, GPORT, UPORT, G2PORT, TPORT = free_port(), free_port(), free_port(), free_port(), free_port()
TUNNEL_LIMIT = 30  # max_conns_per_source of gw1 (its PNE listener and its tunnel)
MPORT = free_port()
SURL = "https://127.0.0.1:%d" % SPORT


def run(*argv, stdin=None, timeout=60):
    p = subprocess.run([str(a) for a in argv], input=stdin, capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def pne(data, *args, stdin=None):
    return run(os.path.join(BIN, "cpns-pne"), "--data", os.path.join(T.path, data), *args,
               stdin=stdin)


def gw(data, *args):
    return run(os.path.join(BIN, "cpns-gw"), "--data", os.path.join(T.path, data), *args)


def start_server():
    return Daemon([os.path.join(BIN, "cpns-server"), "--data", S, "--listen",
                   "127.0.0.1:%d" % SPORT, "--workers", "1"],
                  os.path.join(T.path, "srv-%d.log" % time.time_ns()), ready_port=SPORT)


def start_gw(data, entity, port, extra=()):
    pw = os.path.join(T.path, "pw-alice")
    return Daemon([os.path.join(BIN, "cpns-gw"), "--data", os.path.join(T.path, data),
                   "--server", SURL, "--entity", entity, "--user", "alice", "--password-file", pw,
                   "--cafile", CA, "--listen", "127.0.0.1:%d" % port] + list(extra),
                  os.path.join(T.path, data + ".log"), ready_port=port)


def enroll(data, entity, user, pw):
    return pne(data, "enroll", "--server", SURL, "--entity", entity, "--user", user,
               "--cafile", CA, stdin=pw + "\n")


# ---- setup ---------------------------------------------------------------
ctl(S, "init")
ctl(S, "user", "add", "alice", stdin="alice-pw\n")
ctl(S, "user", "add", "bob", stdin="bob-pw\n")
ctl(S, "pki", "issue", "gw-1", "--san", "IP:127.0.0.1")
with open(os.path.join(T.path, "pw-alice"), "w") as f:
    f.write("alice-pw\n")
os.chmod(os.path.join(T.path, "pw-alice"), 0o644)
rc, out, err = run(os.path.join(BIN, "cpns-gw"), "--data", os.path.join(T.path, "gwx"), "--server",
                   SURL, "--entity", "gw-x", "--user", "alice", "--password-file",
                   os.path.join(T.path, "pw-alice"), "--cafile", CA, "--listen",
                   "127.0.0.1:%d" % free_port())
C.ok(rc != 0 and "0600" in err, "a world-readable password file is refused", out + err)
os.chmod(os.path.join(T.path, "pw-alice"), 0o600)
srv = start_server()
g1 = start_gw("gw1", "gw-1", GPORT, ["--listen-udp", "127.0.0.1:%d" % UPORT,
                                     "--listen-tunnel", "127.0.0.1:%d" % TPORT,
                                     "--metrics", "127.0.0.1:%d" % MPORT,
                                     "--max-conns-per-source", str(TUNNEL_LIMIT),
                                     "--cert", os.path.join(S, "pki", "gw-1.crt"),
                                     "--key", os.path.join(S, "pki", "gw-1.key")])
def wait_log(d, text, seconds=10.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if text in d.read_log():
            return True
        time.sleep(0.05)
    return False


C.ok(wait_log(g1, "gw.listening") and "upstream.authenticated" in g1.read_log(),
     "GW enrolled and authenticated upstream", g1.read_log())
C.eq(run(os.path.join(BIN, "cpns-gw"), "--help")[0], 0, "cpns-gw --help")
C.eq(run(os.path.join(BIN, "cpns-pne"), "--help")[0], 0, "cpns-pne --help")

rc, out, err = enroll("watch", "watch-1", "alice", "alice-pw")
C.ok(rc == 0 and "enrolled entity=watch-1" in out, "PNE enrolment", out + err)
rc, out, err = enroll("bad", "watch-x", "alice", "wrong")
C.ok(rc != 0 and "401" in err, "enrolment with a wrong password fails", out + err)
enroll("tv", "tv-1", "alice", "alice-pw")
enroll("bobw", "watch-b", "bob", "bob-pw")

# ---- enrolment through the GW's tunnel (no route to the server) -----------
rc, out, err = pne("car", "enroll", "--server", SURL, "--entity", "car-1", "--user", "alice",
                   "--cafile", CA, "--via-gw", "127.0.0.1:%d" % TPORT, stdin="alice-pw\n")
C.ok(rc == 0 and "enrolled entity=car-1" in out, "enrolment through the GW tunnel (TLS end to end)",
     out + err)
import socket  # noqa: E402
s = socket.create_connection(("127.0.0.1", TPORT))
s.sendall(b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n")
C.ok(s.recv(100).startswith(b"HTTP/1.1 403"), "the tunnel only leads to the GW's own server")
s.close()
# the tunnel listener has the per-source limit too; from an address of its own
# (127.0.0.3), so that the tunnel connections above from 127.0.0.1 do not count
held = [socket.create_connection(("127.0.0.1", TPORT), source_address=("127.0.0.3", 0))
        for _ in range(TUNNEL_LIMIT + 5)]
time.sleep(0.5)
gone = 0
for h in held:
    h.settimeout(0.05)
    try:
        gone += h.recv(1) == b""
    except socket.timeout:
        pass
    except OSError:
        gone += 1
C.eq(gone, 5, "tunnel: %d connections from one address, the %d over max_conns_per_source "
     "reset at once" % (TUNNEL_LIMIT + 5, 5))
for h in held:
    h.close()

# ---- TLS-PSK establishment + relay ---------------------------------------
rc, key_id, err = gw("gw1", "pair", "watch-1")
key_id = key_id.strip()
C.ok(rc == 0 and key_id.startswith("otk-") and len(key_id) < 40, "pair prints only a key id",
     key_id + err)
rc, out, err = pne("watch", "join", "--gw", "127.0.0.1:%d" % GPORT)
C.ok(rc == 0 and out.strip() == "authenticated gw=gw-1", "join over TLS-PSK", out + err)
rc, out, err = pne("watch", "whoami", "--gw", "127.0.0.1:%d" % GPORT)
try:
    who = json.loads(out)
except ValueError:
    who = {}
C.ok(rc == 0 and who.get("entity_id") == "watch-1" and who.get("auth") == "digest",
     "whoami relayed through the GW, authenticated as the PNE", out + err)
_a = ctl(S, "audit", "--limit", "100")
audit = _a.stdout + _a.stderr
C.ok("via=gw-1" in audit or "otk.consume" in audit, "server audit records the relay/key use",
     audit[-1500:])

# the onetime key works once
rc, out, err = pne("watch", "join", "--gw", "127.0.0.1:%d" % GPORT)
C.ok(rc != 0 and "no onetime key" in err, "a used onetime key cannot be reused", out + err)

# ---- DTLS 1.2 PSK ----------------------------------------------------------
gw("gw1", "pair", "watch-1")
rc, out, err = pne("watch", "join", "--gw", "127.0.0.1:%d" % UPORT, "--udp")
C.ok(rc == 0 and "authenticated gw=gw-1" in out, "join over DTLS 1.2 PSK", out + err)
rc, out, err = pne("watch", "whoami", "--gw", "127.0.0.1:%d" % UPORT, "--udp")
C.ok(rc == 0 and '"entity_id":"watch-1"' in out, "whoami relayed over DTLS", out + err)

# ---- seed-literal mode: TLS with the GW certificate + Digest ---------------
gw("gw1", "pair", "tv-1")
rc, out, err = pne("tv", "join", "--gw", "127.0.0.1:%d" % GPORT, "--mode", "digest",
                   "--gw-cafile", CA)
C.ok(rc == 0 and "authenticated gw=gw-1" in out, "join with TLS + Digest (rspauth checked)",
     out + err)

# ---- third-party PSK clients -------------------------------------------------
req = "GET /pn/v1/hello HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"
for tool in ("openssl", "gnutls"):
    gw("gw1", "pair", "watch-1")
    rc, out, err = pne("watch", "fetch-psk", "--creator", "gw-1")
    kid, psk = (out.split() + ["", ""])[:2]
    if tool == "openssl":
        argv = ["openssl", "s_client", "-quiet", "-connect", "127.0.0.1:%d" % GPORT,
                "-psk_identity", kid, "-psk", psk, "-ign_eof"]
    else:
        argv = ["gnutls-cli", "--port", str(GPORT), "--pskusername", kid, "--pskkey", psk,
                "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.3:+ECDHE-PSK:+PSK",
                "--no-ca-verification", "127.0.0.1"]
    rc, out, err = run(*argv, stdin=req, timeout=30)
    C.ok('"gw":"gw-1"' in out and '"peer":"watch-1"' in out,
         "%s completes a PSK handshake with the onetime key" % tool, out[-600:] + err[-600:])
    rc, out, err = run(*argv, stdin=req, timeout=30)
    C.ok('"gw":"gw-1"' not in out, "%s: the same onetime key is refused the second time" % tool,
         out[-300:])
gw("gw1", "pair", "watch-1")
rc, out, err = pne("watch", "fetch-psk")
kid = out.split()[0] if out.split() else "otk-none"
rc, out, err = run("openssl", "s_client", "-quiet", "-connect", "127.0.0.1:%d" % GPORT,
                   "-psk_identity", kid, "-psk", "00" * 32, "-ign_eof", stdin=req, timeout=30)
C.ok('"gw"' not in out, "openssl with a wrong key is refused", out[-300:])

# The third-party clients established sessions as watch-1 with its keys;
# re-join so the PNE's own session credential is the current one again.
gw("gw1", "pair", "watch-1")
rc, out, err = pne("watch", "join", "--gw", "127.0.0.1:%d" % GPORT)
C.eq(rc, 0, "re-join after the third-party sessions")

# ---- hostile cases -----------------------------------------------------------
rc, out, err = gw("gw1", "pair", "watch-1", "--ttl", "1")
time.sleep(2.2)
rc, out, err = pne("watch", "join", "--gw", "127.0.0.1:%d" % GPORT)
C.ok(rc != 0, "an expired onetime key is refused", out + err)
rc, out, err = gw("gw1", "pair", "watch-b")
C.ok(rc != 0 and "403" in err, "pairing with another user's PNE without a grant is refused",
     out + err)
gw("gw1", "pair", "tv-1")
rc, out, err = pne("watch", "join", "--gw", "127.0.0.1:%d" % GPORT)
C.ok(rc != 0, "a key registered for another PNE is not usable", out + err)
# GW impersonation: something listening that does not hold the key
fake_port = free_port()
fake = Daemon(["openssl", "s_server", "-accept", str(fake_port), "-nocert", "-psk",
               "11" * 32, "-psk_identity", "x", "-www"], os.path.join(T.path, "fake.log"),
              ready_port=fake_port)
gw("gw1", "pair", "watch-1")
rc, out, err = pne("watch", "join", "--gw", "127.0.0.1:%d" % fake_port)
C.ok(rc != 0 and "authenticated" not in out, "a GW that cannot prove the key is rejected",
     out + err)
fake.stop()
# downgrade: a certificate-only TLS server (the CPNS Server itself) is not a PSK GW
gw("gw1", "pair", "watch-1")
rc, out, err = pne("watch", "join", "--gw", "127.0.0.1:%d" % SPORT)
C.ok(rc != 0 and "authenticated" not in out, "no fallback to certificate-only TLS", out + err)

# ---- GW <-> GW (CPNS-3) --------------------------------------------------------
g2 = start_gw("gw2", "gw-2", G2PORT)
wait_log(g2, "gw.listening")
rc, out, err = gw("gw1", "pair", "gw-2")
rc, out, err = gw("gw2", "link", "--gw", "127.0.0.1:%d" % GPORT)
C.ok(rc == 0 and "authenticated gw=gw-1" in out, "GW<->GW link with a onetime key", out + err)

# ---- SIGHUP: a renewed GW certificate is served to new connections ---------------
def gw_cert_cn():
    p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % GPORT, "-CAfile", CA],
                       input="", capture_output=True, text=True, timeout=20)
    return " ".join(l for l in p.stdout.splitlines() if l.strip().startswith("0 s:"))


C.ok("gw-1" in gw_cert_cn() and "gw-1-renewed" not in gw_cert_cn(), "GW serves its certificate")
ctl(S, "pki", "issue", "gw-1-renewed", "--san", "IP:127.0.0.1")
for ext in ("crt", "key"):
    with open(os.path.join(S, "pki", "gw-1-renewed." + ext), "rb") as src:
        data = src.read()
    with open(os.path.join(S, "pki", "gw-1." + ext), "wb") as dst:
        dst.write(data)
g1.proc.send_signal(signal.SIGHUP)
C.ok(wait_log(g1, "config.reload result=ok"), "GW reload logged", g1.read_log()[-400:])
C.ok("gw-1-renewed" in gw_cert_cn(), "new connections get the renewed certificate", gw_cert_cn())
gw("gw1", "pair", "tv-1")
rc, out, err = pne("tv", "join", "--gw", "127.0.0.1:%d" % GPORT, "--mode", "digest",
                   "--gw-cafile", CA)
C.ok(rc == 0 and "authenticated gw=gw-1" in out, "digest-mode join with the renewed certificate",
     out + err)

# ---- the upstream session survives a CPNS Server restart ------------------------
rc_stop = srv.stop()
C.eq(rc_stop, 0, "cpns-server stops cleanly")
rc, out, err = pne("watch", "whoami", "--gw", "127.0.0.1:%d" % GPORT)
C.ok(rc != 0, "while the server is down the relay fails cleanly", out + err)
srv = start_server()
time.sleep(0.7)  # past the GW's first reconnect backoff
ok = False
for _ in range(20):
    rc, out, err = pne("watch", "whoami", "--gw", "127.0.0.1:%d" % GPORT)
    if rc == 0 and '"entity_id":"watch-1"' in out:
        ok = True
        break
    time.sleep(0.5)
C.ok(ok, "the GW re-establishes its session after the server restarted", out + err)

# ---- metrics and configuration ---------------------------------------------------
p = subprocess.run(["curl", "-sS", "http://127.0.0.1:%d/metrics" % MPORT], capture_output=True,
                   text=True, timeout=10)
mv = {}
for line in p.stdout.splitlines():
    if line and not line.startswith("#"):
        k, _, v = line.rpartition(" ")
        mv[k] = float(v)
for mode in ("tls-psk", "dtls-psk", "digest"):
    C.ok(mv.get('cpnsgw_pn_established_total{mode="%s"}' % mode, 0) >= 1,
         "metrics: establishments over %s counted" % mode, p.stdout[:800])
C.ok(mv.get("cpnsgw_pn_resumed_total", 0) >= 1, "metrics: resumed sessions counted")
C.ok(mv.get('cpnsgw_relayed_total{status="2xx"}', 0) >= 1, "metrics: relayed requests counted")
C.ok(mv.get("cpnsgw_psk_unknown_total", 0) >= 1, "metrics: reused/unknown keys counted")
rc, out, err = run(os.path.join(BIN, "cpns-gw"), "--data", os.path.join(T.path, "gw1"), "--config",
                   os.path.join(os.environ["OSEC_SRC"], "conf", "omasec.conf"), "--check-config")
C.ok(rc == 0 and "configuration ok" in out, "conf/omasec.conf [cpns-gw] passes --check-config",
     out + err)
bad = os.path.join(T.path, "bad.conf")
with open(bad, "w") as f:
    f.write("[cpns-gw]\nlisten = nowhere\n")
rc, out, err = run(os.path.join(BIN, "cpns-gw"), "--data", os.path.join(T.path, "gw1"), "--config",
                   bad, "--check-config")
C.ok(rc != 0 and "listen" in err, "a bad [cpns-gw] value is rejected", out + err)

# ---- secrets stay secret --------------------------------------------------------
logs = g1.read_log() + g2.read_log() + srv.read_log()
C.ok("eukey" not in logs.lower() or '"eukey"' not in logs, "no EUKey in logs")
for d in ("gw1", "watch"):
    st = os.stat(os.path.join(T.path, d))
    C.eq(oct(st.st_mode & 0o777), "0o700", "%s data dir is 0700" % d)
C.eq(g1.stop(), 0, "cpns-gw stops cleanly on SIGTERM")
C.eq(g2.stop(), 0, "second cpns-gw stops cleanly")
C.eq(srv.stop(signal.SIGINT), 0, "cpns-server stops cleanly on SIGINT")
T.cleanup()
C.finish()
