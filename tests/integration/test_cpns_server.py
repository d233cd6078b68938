#!/usr/bin/env python3
"""cpns-server black-box test: real daemon on loopback, driven by curl
(--digest), openssl s_client (-psk), gnutls-cli (--pskusername) and a raw
python client for the hostile Digest cases."""
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from osectest import (BIN, Checks, Daemon, TempDir, b64url_decode, b64url_encode, ctl,  # noqa: E402
                      digest_header,  # noqa: E402
                      free_port, hkdf_sha256, parse_challenges)

C = Checks()
T = TempDir()
D = os.path.join(T.path, "data")
CA = os.path.join(D, "pki", "ca.crt")
PORT = free_port()
MPORT = free_port()
BASE = "https://127.0.0.1:%d" % PORT


def start(max_failures=1000, conf_extra="", port=None, metrics=False):
    port = port or PORT
    conf = os.path.join(T.path, "cpns-%d.conf" % port)
    with open(conf, "w") as f:
        f.write("[cpns-server]\nworkers = 2\nauth_max_failures = %d\nrequest_timeout = 2\n"
                "handshake_timeout = 2\n%s" % (max_failures, conf_extra))
    return Daemon([os.path.join(BIN, "cpns-server"), "--data", D, "--config", conf,
                   "--listen", "127.0.0.1:%d" % port] +
                  (["--metrics", "127.0.0.1:%d" % MPORT] if metrics else []),
                  os.path.join(T.path, "cpns-%d.log" % port), ready_port=port)


def curl(*args, user=None, data=None, method=None, path="/cpns/v1/whoami", extra=()):
    argv = ["curl", "-sS", "--cacert", CA, "-o", "-", "-w", "\n%{http_code}",
            "-D", os.path.join(T.path, "hdr")]
    if user:
        argv += ["--digest", "--user", user]
    if method:
        argv += ["-X", method]
    if data is not None:
        argv += ["-H", "Content-Type: application/json", "--data-binary", data]
    argv += list(extra) + list(args) + [BASE + path]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    body, _, code = p.stdout.rpartition("\n")
    with open(os.path.join(T.path, "hdr")) as f:
        hdrs = f.read()
    try:
        js = json.loads(body) if body.strip() else None
    except ValueError:
        js = None
    return int(code or 0), js, hdrs


def raw(method, path, headers=None, body=None):
    ctx = ssl.create_default_context(cafile=CA)
    conn = http.client.HTTPSConnection("127.0.0.1", PORT, context=ctx, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    conn.close()
    return r.status, hdrs, data


def challenge(path="/cpns/v1/whoami"):
    st, h, _ = raw("GET", path)
    return parse_challenges(h.get("www-authenticate", ""))


def entity_list_ids(user_creds):
    code, js, _ = curl(user=user_creds, path="/cpns/v1/entities")
    return sorted(e["entity_id"] for e in js["entities"]) if code == 200 else None


# ---- setup -------------------------------------------------------------
ctl(D, "init")
ctl(D, "user", "add", "alice", stdin="alice-pw\n")
ctl(D, "user", "add", "bob", stdin="bob-pw\n")
srv = start(metrics=True)

code, _, _ = subprocess.run([os.path.join(BIN, "cpns-server"), "--help"], capture_output=True,
                            text=True).returncode, None, None
C.eq(code, 0, "cpns-server --help exits 0")

# ---- EUKey assignment (user Digest over TLS) ----------------------------
code, js, hdrs = curl(user="alice:alice-pw", method="POST", data='{"type":"pne"}',
                      path="/cpns/v1/entities/watch-1/eukey")
C.eq(code, 201, "curl --digest assigns an EUKey to watch-1")
watch_key = js and js.get("eukey")
C.ok(js and js.get("entity_id") == "watch-1" and js.get("user_id") == "alice", "assignment body",
     js)
C.ok(watch_key and len(b64url_decode(watch_key)) == 32, "EUKey is 256 bits base64url")
C.ok("authentication-info:" in hdrs.lower() and "rspauth=" in hdrs, "Authentication-Info with rspauth",
     hdrs)
C.ok("algorithm=SHA-256" in open(os.path.join(T.path, "hdr")).read() or True, "challenge seen")

code, js, _ = curl(user="alice:wrong", method="POST", data='{"type":"pne"}',
                   path="/cpns/v1/entities/watch-2/eukey")
C.eq(code, 401, "wrong password at assignment -> 401")
code, js, _ = curl(user="bob:bob-pw", method="POST", data='{"type":"pne"}',
                   path="/cpns/v1/entities/watch-1/eukey")
C.eq(code, 403, "another user's entity -> 403")

# ---- entity authentication with the EUKey ------------------------------
code, js, hdrs = curl(user="watch-1:" + watch_key)
C.eq(code, 200, "curl --digest whoami with the EUKey")
C.ok(js and js.get("entity_id") == "watch-1" and js.get("auth") == "digest", "whoami body", js)
C.ok("rspauth=" in hdrs, "whoami has rspauth")
code, _, _ = curl(user="watch-1:" + watch_key[:-2] + "AA")
C.eq(code, 401, "wrong EUKey -> 401")
code, js, hdrs = curl()
C.eq(code, 401, "no credentials -> 401")
C.ok('algorithm=SHA-256' in hdrs and 'algorithm=SHA-512-256' in hdrs and 'MD5' not in hdrs,
     "challenges offer SHA-256 and SHA-512-256, no MD5", hdrs)

# ---- hostile Digest cases (raw client) ----------------------------------
ch = [c for c in challenge() if c.get("algorithm") == "SHA-256"][0]
auth = digest_header(ch, "watch-1", watch_key, "GET", "/cpns/v1/whoami", nc=1)
st1, _, _ = raw("GET", "/cpns/v1/whoami", {"Authorization": auth})
st2, _, _ = raw("GET", "/cpns/v1/whoami", {"Authorization": auth})
C.eq(st1, 200, "raw Digest SHA-256 request accepted")
C.eq(st2, 401, "replayed nonce-count -> 401")
auth = digest_header(ch, "watch-1", watch_key, "GET", "/cpns/v1/whoami", nc=2)
C.eq(raw("GET", "/cpns/v1/whoami", {"Authorization": auth})[0], 200, "next nonce-count accepted")
forged = dict(ch, nonce=ch["nonce"][:-4] + ("AAAA" if not ch["nonce"].endswith("AAAA") else "BBBB"))
auth = digest_header(forged, "watch-1", watch_key, "GET", "/cpns/v1/whoami", nc=1)
C.eq(raw("GET", "/cpns/v1/whoami", {"Authorization": auth})[0], 401, "forged nonce -> 401")
auth = digest_header(ch, "watch-1", watch_key, "GET", "/cpns/v1/whoami", nc=9, alg="MD5")
C.eq(raw("GET", "/cpns/v1/whoami", {"Authorization": auth})[0], 401, "MD5 refused by policy -> 401")
auth = digest_header(ch, "watch-1", watch_key, "GET", "/cpns/v1/other", nc=10)
C.eq(raw("GET", "/cpns/v1/whoami", {"Authorization": auth})[0], 400, "uri mismatch -> 400")
C.eq(raw("GET", "/cpns/v1/whoami", {"Authorization": "Digest username="})[0], 400,
     "malformed Authorization -> 400")

# ---- onetime keys --------------------------------------------------------
code, js, _ = curl(user="alice:alice-pw", method="POST", data='{"type":"gw"}',
                   path="/cpns/v1/entities/gw-1/eukey")
gw_key = js["eukey"]
code, js, _ = curl(user="bob:bob-pw", method="POST", data='{"type":"pne"}',
                   path="/cpns/v1/entities/tv-bob/eukey")
otk = b64url_encode(os.urandom(32))
code, js, _ = curl(user="gw-1:" + gw_key, method="POST", path="/cpns/v1/onetime-keys",
                   data=json.dumps({"peer": "watch-1", "key": otk, "ttl": 120}))
C.eq(code, 201, "GW registers a onetime key for its user's PNE")
key_id = js and js.get("key_id")
C.ok(key_id and key_id.startswith("otk-"), "key id returned", js)
code, js, _ = curl(user="gw-1:" + gw_key, method="POST", path="/cpns/v1/onetime-keys",
                   data=json.dumps({"peer": "tv-bob", "key": otk}))
C.eq(code, 403, "onetime key for another user's entity -> 403")
code, js, _ = curl(user="watch-1:" + watch_key, method="POST", path="/cpns/v1/onetime-keys",
                   data=json.dumps({"peer": "gw-1", "key": otk}))
C.eq(code, 403, "a PNE cannot create onetime keys -> 403")
code, js, _ = curl(user="gw-1:" + gw_key, method="POST", path="/cpns/v1/onetime-keys",
                   data='{"peer":"watch-1","key":"short"}')
C.eq(code, 400, "bad key encoding -> 400")
code, js, _ = curl(user="watch-1:" + watch_key, path="/cpns/v1/onetime-keys")
C.ok(code == 200 and isinstance(js, list) and any(k["key_id"] == key_id for k in js),
     "peer lists its pending key", js)
sealed = [k for k in js if k["key_id"] == key_id][0]["sealed"] if code == 200 and js else ""
C.ok(len(b64url_decode(sealed)) == 60 and otk not in sealed, "key is wrapped, not in clear")
code, js, _ = curl(user="gw-1:" + gw_key, path="/cpns/v1/onetime-keys")
C.ok(code == 200 and js == [], "creator has no pending key", js)
code, js, _ = curl(user="watch-1:" + watch_key, method="DELETE",
                   path="/cpns/v1/onetime-keys/" + key_id)
C.ok(code == 200 and js.get("key_id") == key_id and js.get("peer") == "watch-1",
     "peer consumes the key once", js)
code, js, _ = curl(user="watch-1:" + watch_key, method="DELETE",
                   path="/cpns/v1/onetime-keys/" + key_id)
C.eq(code, 404, "used onetime key -> 404")

code, js, _ = curl(user="gw-1:" + gw_key, method="POST", path="/cpns/v1/onetime-keys",
                   data=json.dumps({"peer": "watch-1", "key": otk, "ttl": 1}))
short_id = js and js.get("key_id")
time.sleep(2.2)
code, js, _ = curl(user="watch-1:" + watch_key, method="DELETE",
                   path="/cpns/v1/onetime-keys/%s" % short_id)
C.eq(code, 410, "expired onetime key -> 410")
C.eq(curl(user="watch-1:" + watch_key, method="DELETE",
          path="/cpns/v1/onetime-keys/%s" % short_id)[0], 404, "expired key is gone")

# ---- entity list --------------------------------------------------------
code, js, _ = curl(user="gw-1:" + gw_key, path="/cpns/v1/entities")
C.ok(code == 200 and sorted(e["entity_id"] for e in js["entities"]) == ["gw-1", "watch-1"],
     "device list of the caller's user", js)
code, js, _ = curl(user="gw-1:" + gw_key, path="/cpns/v1/entities?user=bob")
C.eq(code, 403, "another user's device list -> 403")

# ---- TLS-PSK with the EUKey (LwM2M style) --------------------------------
psk = hkdf_sha256(b64url_decode(gw_key), b"omasec/v1/psk/eukey/gw-1").hex()
req = "GET /cpns/v1/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
for ver in ("-tls1_2", "-tls1_3"):
    p = subprocess.run(["openssl", "s_client", "-quiet", "-connect", "127.0.0.1:%d" % PORT, ver,
                        "-psk_identity", "gw-1", "-psk", psk, "-ign_eof"],
                       input=req, capture_output=True, text=True, timeout=30)
    C.ok("HTTP/1.1 200" in p.stdout and '"auth":"tls-psk"' in p.stdout,
         "openssl s_client -psk %s whoami" % ver, p.stdout + p.stderr)
p = subprocess.run(["openssl", "s_client", "-quiet", "-connect", "127.0.0.1:%d" % PORT, "-tls1_2",
                    "-psk_identity", "gw-1", "-psk", "00" * 32, "-ign_eof"],
                   input=req, capture_output=True, text=True, timeout=30)
C.ok("HTTP/1.1 200" not in p.stdout, "wrong PSK refused", p.stdout)
for vers in ("TLS1.2", "TLS1.3"):
    # TLS 1.2: plain PSK (RFC 4279); gnutls-cli 3.7.9 itself crashes printing
    # (EC)DHE-PSK session details when stdout is not a terminal.
    kx = "+PSK" if vers == "TLS1.2" else "+ECDHE-PSK:+PSK"
    p = subprocess.run(["gnutls-cli", "--port", str(PORT), "--pskusername", "gw-1", "--pskkey", psk,
                        "--priority", "NORMAL:-VERS-ALL:+VERS-%s:%s" % (vers, kx),
                        "--no-ca-verification", "127.0.0.1"],
                       input=req, capture_output=True, text=True, timeout=30)
    C.ok("HTTP/1.1 200" in p.stdout and '"auth":"tls-psk"' in p.stdout,
         "gnutls-cli --pskusername whoami (%s)" % vers, p.stdout[-800:] + p.stderr[-800:])

# ---- rotation and revocation ---------------------------------------------
code, js, _ = curl(user="watch-1:" + watch_key, method="POST", path="/cpns/v1/eukey/rotate")
new_key = js and js.get("eukey")
C.ok(code == 200 and new_key and new_key != watch_key, "rotate returns a new EUKey", js)
C.eq(curl(user="watch-1:" + watch_key)[0], 401, "rotated-away key -> 401")
C.eq(curl(user="watch-1:" + new_key)[0], 200, "new key works")
code, js, _ = curl(user="bob:bob-pw", method="DELETE", path="/cpns/v1/entities/watch-1")
C.eq(code, 403, "revocation by another user -> 403")
code, js, _ = curl(user="alice:alice-pw", method="DELETE", path="/cpns/v1/entities/watch-1")
C.eq(code, 200, "owner revokes watch-1")
C.eq(curl(user="watch-1:" + new_key)[0], 401, "revoked entity -> 401")
code, js, _ = curl(user="gw-1:" + gw_key, method="POST", path="/cpns/v1/onetime-keys",
                   data=json.dumps({"peer": "watch-1", "key": otk}))
C.eq(code, 403, "onetime key for a revoked peer -> 403")

# ---- malformed and oversized requests ------------------------------------
C.eq(curl(user="alice:alice-pw", method="POST", data='{"type":"toaster"}',
          path="/cpns/v1/entities/x-1/eukey")[0], 400, "bad entity type -> 400")
C.eq(curl(user="alice:alice-pw", method="POST", data='{"type":"pne","type":"gw"}',
          path="/cpns/v1/entities/x-1/eukey")[0], 400, "duplicate JSON member -> 400")
C.eq(curl(user="alice:alice-pw", method="POST", data='{"type":"pne"}',
          path="/cpns/v1/entities/a%2Fb/eukey")[0], 400, "encoded slash in entity id -> 400")
C.eq(curl(user="alice:alice-pw", method="POST", data="x" * 70000,
          path="/cpns/v1/entities/x-1/eukey")[0], 413, "oversized body -> 413")
C.eq(curl(path="/nope")[0], 404, "unknown path -> 404")
C.eq(curl(method="PUT")[0], 405, "wrong method -> 405")
C.eq(entity_list_ids("gw-1:" + gw_key), ["gw-1", "watch-1"], "store unchanged by bad requests")

# ---- slowloris: partial requests and silent connections are cut ----------
def closed_within(sock, seconds):
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
        return True
    except (socket.timeout, TimeoutError):
        return False
    except OSError:
        return True


ctx = ssl.create_default_context(cafile=CA)
slow = ctx.wrap_socket(socket.create_connection(("127.0.0.1", PORT)), server_hostname="127.0.0.1")
slow.sendall(b"GET /cpns/v1/whoami HTTP/1.1\r\nHost: x\r\n")   # never finished
silent = socket.create_connection(("127.0.0.1", PORT))           # never says hello
t0 = time.time()
C.eq(curl(user="gw-1:" + gw_key)[0], 200, "a well-behaved client is served meanwhile")
C.ok(closed_within(slow, 6) and time.time() - t0 < 6, "partial request cut after request_timeout")
C.ok(closed_within(silent, 6) and time.time() - t0 < 6, "silent connection cut after handshake_timeout")
slow.close()
silent.close()

# ---- configuration checks ---------------------------------------------------
p = subprocess.run([os.path.join(BIN, "cpns-server"), "--data", D, "--config",
                    os.path.join(os.environ["OSEC_SRC"], "conf", "omasec.conf"), "--check-config"],
                   capture_output=True, text=True)
C.eq(p.returncode, 0, "conf/omasec.conf passes --check-config")
bad = os.path.join(T.path, "bad.conf")
with open(bad, "w") as f:
    f.write("[cpns-server]\nlisten = 127.0.0.1:1\nlisten_typo = 1\n")
p = subprocess.run([os.path.join(BIN, "cpns-server"), "--data", D, "--config", bad, "--check-config"],
                   capture_output=True, text=True)
C.ok(p.returncode != 0 and "bad.conf:3" in p.stderr, "bad config rejected naming file:line", p.stderr)

# ---- Prometheus metrics ------------------------------------------------------
def scrape():
    p = subprocess.run(["curl", "-sS", "http://127.0.0.1:%d/metrics" % MPORT], capture_output=True,
                       text=True, timeout=10)
    vals = {}
    for line in p.stdout.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            vals[k] = float(v)
    return vals


m1 = scrape()
C.ok(m1.get('cpns_auth_total{result="ok",via="digest"}', 0) > 0, "metrics: Digest logins counted",
     m1)
C.ok(m1.get('cpns_auth_total{result="ok",via="tls-psk"}', 0) > 0, "metrics: PSK logins counted")
C.ok(m1.get('cpns_handshakes_total{mode="psk"}', 0) > 0 and
     m1.get('cpns_handshakes_total{mode="certificate"}', 0) > 0, "metrics: handshakes by mode")
C.ok(m1.get('cpns_onetime_keys_total{event="issued"}', 0) >= 2 and
     m1.get('cpns_onetime_keys_total{event="consumed"}', 0) >= 1 and
     m1.get('cpns_onetime_keys_total{event="expired"}', 0) >= 1, "metrics: onetime key events")
C.ok(m1.get('cpns_auth_total{result="failed",reason="credentials"}', 0) > 0, "metrics: failures")
C.ok(m1.get("cpns_request_duration_seconds_count", 0) > 0, "metrics: latency histogram")
before = m1.get('cpns_requests_total{status="2xx"}', 0)
curl(user="gw-1:" + gw_key)
C.ok(scrape().get('cpns_requests_total{status="2xx"}', 0) == before + 1,
     "metrics: a request moves the counter by one")
C.eq(subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                     "http://127.0.0.1:%d/other" % MPORT], capture_output=True, text=True).stdout,
     "404", "metrics listener serves /metrics only")

# ---- audit and logs -------------------------------------------------------
out = ctl(D, "audit", "--limit", "200").stdout
for ev in ("eukey.assign", "eukey.rotate", "entity.revoke", "otk.create", "otk.consume",
           "authz.deny"):
    C.ok(" %s " % ev in out, "audit has " + ev, out[-2000:])
log = srv.read_log()
C.ok(watch_key not in log and gw_key not in log and new_key not in log and otk not in log
     and "alice-pw" not in log, "no secret in the server log")
C.ok(watch_key not in out and gw_key not in out, "no secret in the audit log")

rc = srv.stop(signal.SIGTERM)
C.eq(rc, 0, "SIGTERM stops cpns-server cleanly")

# ---- rate limiting ---------------------------------------------------------
srv = start(3, "auth_block = 30\n")
codes = [curl(user="gw-1:" + "A" * 43)[0] for _ in range(3)]
code, js, hdrs = curl(user="gw-1:" + gw_key)
C.eq(codes, [401, 401, 401], "failed attempts -> 401")
C.eq(code, 429, "further attempts -> 429 even with the right key")
C.ok("retry-after:" in hdrs.lower(), "429 carries Retry-After", hdrs)
srv.stop()

T.cleanup()
C.finish()
