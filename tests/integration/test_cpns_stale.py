#!/usr/bin/env python3
"""An expired Digest nonce with otherwise right credentials gets 401 with
stale=true (and the client retries without asking for the secret again);
nothing is changed in the store."""
import http.client
import os
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from osectest import (BIN, Checks, Daemon, TempDir, ctl, digest_header, free_port,  # noqa: E402
                      parse_challenges)

C = Checks()
T = TempDir()
D = os.path.join(T.path, "data")
CA = os.path.join(D, "pki", "ca.crt")
PORT = free_port()
CONF = os.path.join(T.path, "c.conf")
with open(CONF, "w") as f:
    f.write("[cpns-server]\nworkers = 1\nnonce_lifetime = 10\n")
ctl(D, "init")
ctl(D, "user", "add", "alice", stdin="alice-pw\n")
srv = Daemon([os.path.join(BIN, "cpns-server"), "--data", D, "--config", CONF, "--listen",
              "127.0.0.1:%d" % PORT], os.path.join(T.path, "srv.log"), ready_port=PORT)


def req(path, method="POST", authz=None, body='{"type":"pne"}'):
    c = http.client.HTTPSConnection("127.0.0.1", PORT, timeout=10,
                                    context=ssl.create_default_context(cafile=CA))
    h = {"Content-Type": "application/json"}
    if authz:
        h["Authorization"] = authz
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    r.read()
    hdr = r.getheader("WWW-Authenticate") or ""
    c.close()
    return r.status, hdr


path = "/cpns/v1/entities/watch-1/eukey"
st, hdr = req(path)
ch = [c for c in parse_challenges(hdr) if c.get("algorithm") == "SHA-256"][0]
time.sleep(11)  # nonce_lifetime = 10 s
auth = digest_header(ch, "alice", "alice-pw", "POST", path)
st, hdr = req(path, authz=auth)
C.eq(st, 401, "expired nonce -> 401")
C.ok("stale=true" in hdr.lower().replace('"', ""), "the challenge says stale=true", hdr)
out = ctl(D, "entity", "list").stdout
C.ok("watch-1" not in out, "nothing was assigned with the stale nonce", out)
# a wrong password with an expired nonce is a plain failure, not stale
auth = digest_header(ch, "alice", "wrong", "POST", path)
st, hdr = req(path, authz=auth)
C.ok(st == 401 and "stale=true" not in hdr.lower().replace('"', ""),
     "wrong password with an expired nonce: 401 without stale", hdr)
# the fresh nonce works at once
ch2 = [c for c in parse_challenges(hdr) if c.get("algorithm") == "SHA-256"][0]
st, _ = req(path, authz=digest_header(ch2, "alice", "alice-pw", "POST", path))
C.eq(st, 201, "retry with the fresh nonce succeeds")
# an Authorization accepted before a restart cannot be replayed after it:
# the replay state is in memory, so nonces are bound to the process
st, hdr = req("/cpns/v1/entities/watch-2/eukey")
ch3 = [c for c in parse_challenges(hdr) if c.get("algorithm") == "SHA-256"][0]
auth3 = digest_header(ch3, "alice", "alice-pw", "POST", "/cpns/v1/entities/watch-2/eukey")
C.eq(req("/cpns/v1/entities/watch-2/eukey", authz=auth3)[0], 201, "assignment accepted")
C.eq(srv.stop(), 0, "clean stop")
srv = Daemon([os.path.join(BIN, "cpns-server"), "--data", D, "--config", CONF, "--listen",
              "127.0.0.1:%d" % PORT], os.path.join(T.path, "srv2.log"), ready_port=PORT)
st, hdr = req("/cpns/v1/entities/watch-2/eukey", authz=auth3)
C.ok(st == 401 and "stale=true" not in hdr.lower().replace('"', ""),
     "the same Authorization replayed after a restart -> 401", hdr)
C.eq(srv.stop(), 0, "clean stop after restart")
T.cleanup()
C.finish()
