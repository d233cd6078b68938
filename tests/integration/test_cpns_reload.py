#!/usr/bin/env python3
"""SIGHUP reloads cpns-server's certificate, Digest policy and limits without
dropping established sessions; a broken file keeps the running configuration."""
import http.client
import os
import signal
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from osectest import BIN, Checks, Daemon, TempDir, ctl, free_port  # noqa: E402

C = Checks()
T = TempDir()
D = os.path.join(T.path, "data")
CA = os.path.join(D, "pki", "ca.crt")
PORT = free_port()
CONF = os.path.join(T.path, "omasec.conf")


def write_conf(extra=""):
    with open(CONF, "w") as f:
        f.write("[cpns-server]\nworkers = 1\n" + extra)


def challenge_header(conn=None):
    own = conn is None
    if own:
        conn = http.client.HTTPSConnection("127.0.0.1", PORT, timeout=10,
                                           context=ssl.create_default_context(cafile=CA))
    conn.request("GET", "/cpns/v1/whoami")
    r = conn.getresponse()
    r.read()
    if own:
        conn.close()
    return r.getheader("WWW-Authenticate") or ""


def served_cn():
    p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % PORT, "-CAfile", CA],
                       input="", capture_output=True, text=True, timeout=20)
    for line in p.stdout.splitlines():
        if line.strip().startswith("0 s:"):
            return line
    return p.stdout[-300:]


def wait_log(d, text, seconds=10.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if text in d.read_log():
            return True
        time.sleep(0.05)
    return False


ctl(D, "init")
ctl(D, "pki", "issue", "second", "--san", "IP:127.0.0.1")
write_conf()
srv = Daemon([os.path.join(BIN, "cpns-server"), "--data", D, "--config", CONF, "--listen",
              "127.0.0.1:%d" % PORT], os.path.join(T.path, "srv.log"), ready_port=PORT)

kept = http.client.HTTPSConnection("127.0.0.1", PORT, timeout=10,
                                   context=ssl.create_default_context(cafile=CA))
C.ok("MD5" not in challenge_header(kept), "MD5 not offered by default")
C.ok("CN = localhost" in served_cn() or "CN=localhost" in served_cn(), "serves the first cert")

# enable MD5 and switch certificates, then SIGHUP
write_conf("digest_algorithms = SHA-256,MD5\nallow_md5 = yes\n"
           "cert = %s/pki/second.crt\nkey = %s/pki/second.key\n" % (D, D))
srv.proc.send_signal(signal.SIGHUP)
C.ok(wait_log(srv, "config.reload result=ok"), "reload logged", srv.read_log()[-500:])
C.ok("algorithm=MD5" in challenge_header(), "new connections see the new Digest policy")
cn = served_cn()
C.ok("second" in cn, "new connections get the new certificate", cn)
C.ok(challenge_header(kept) != "", "a session established before the reload keeps working")

# a broken file: the running configuration stays
with open(CONF, "a") as f:
    f.write("no_such_key = 1\n")
srv.proc.send_signal(signal.SIGHUP)
C.ok(wait_log(srv, "config.reload_failed"), "a broken file is reported", srv.read_log()[-500:])
C.ok("algorithm=MD5" in challenge_header(), "and the running configuration is kept")
C.eq(srv.proc.poll(), None, "the server keeps running")
kept.close()
C.eq(srv.stop(), 0, "clean stop")
T.cleanup()
C.finish()
