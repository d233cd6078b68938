#!/usr/bin/env python3
"""cpm-msgstored for operators: Prometheus metrics on --metrics (scraped with
curl; the counters move), and SIGHUP: a new certificate for new connections
(STARTTLS and imaps), a new TLS policy and limits, a logged-in session kept
across the reload, a broken file (or certificate) refused with the running
configuration kept."""
import imaplib
import os
import signal
import socket
import sqlite3
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
IMAP, IMAPS, MPORT = free_port(), free_port(), free_port()
CONF = os.path.join(T.path, "msgstored.conf")
imaplib.Commands.setdefault("FROBNICATE", ("AUTH", "SELECTED"))
BASE = ("[cpm-msgstored]\nworkers = 2\nrequest_timeout = 5\nhandshake_timeout = 5\n"
        "idle_poll = 100\nauth_max_failures = 50\n"
        "listen_imap = 127.0.0.1:%d\nlisten_imaps = 127.0.0.1:%d\nmetrics = 127.0.0.1:%d\n"
        % (IMAP, IMAPS, MPORT))


def write_conf(extra=""):
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
    p = subprocess.run(["curl", "-sS", "--max-time", "10", "http://127.0.0.1:%d/metrics" % MPORT],
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


def served_cn(starttls):
    argv = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % (IMAP if starttls else IMAPS),
            "-CAfile", CA]
    if starttls:
        argv += ["-starttls", "imap"]
    p = subprocess.run(argv, input="", capture_output=True, text=True, timeout=20)
    for line in p.stdout.splitlines():
        if line.strip().startswith("0 s:"):
            return line
    return p.stdout[-300:]


def msg(subject, size=0):
    return ("From: bob@example.com\r\nTo: alice@example.com\r\nSubject: %s\r\n"
            "Date: Mon, 7 Feb 2022 21:52:25 -0800\r\n\r\n%s\r\n"
            % (subject, "x" * size)).encode()


def login_starttls(user, pw):
    m = imaplib.IMAP4("127.0.0.1", IMAP)
    m.starttls(ssl_context=CTX)
    m.login(user, pw)
    return m


def login_ssl(user, pw):
    m = imaplib.IMAP4_SSL("127.0.0.1", IMAPS, ssl_context=CTX)
    m.login(user, pw)
    return m


def refused(fn):
    try:
        fn()
        return ""
    except imaplib.IMAP4.error as e:
        return str(e) or "refused"


# ---- setup ------------------------------------------------------------------------
ctl(D, "init")
CTX = ssl.create_default_context(cafile=CA)
for u in ("alice", "bob"):
    ctl(D, "user", "add", u, stdin="%s-pw\n" % u)
ctl(D, "pki", "issue", "second", "--san", "IP:127.0.0.1")
write_conf("max_message = 1048576\n")
srv = Daemon([os.path.join(BIN, "cpm-msgstored"), "--data", D, "--config", CONF],
             os.path.join(T.path, "msgstored.log"), ready_port=IMAP)
C.ok(wait_port(IMAPS) and wait_port(MPORT), "cpm-msgstored listens (imap, imaps, metrics)",
     srv.read_log()[-1500:])

p = subprocess.run([os.path.join(BIN, "cpm-msgstored"), "--help"], capture_output=True, text=True)
C.ok(p.returncode == 0 and "--metrics HOST:PORT" in p.stdout, "--help lists --metrics")
p = subprocess.run([os.path.join(BIN, "cpm-msgstored"), "--data", D, "--metrics", "nowhere",
                    "--check-config"], capture_output=True, text=True)
C.ok(p.returncode == 1 and "metrics" in p.stderr + p.stdout, "a bad --metrics is refused", p.stderr)

# ---- metrics ----------------------------------------------------------------------
m0, text = scrape()
C.ok("# TYPE cpmstore_commands_total counter" in text and
     "# TYPE cpmstore_connections_active gauge" in text and
     "# TYPE cpmstore_command_duration_seconds histogram" in text,
     "GET /metrics: Prometheus text format", text[:600])
C.ok('cpmstore_commands_total{command="other"}' in m0 and
     'cpmstore_logins_total{result="ok",mech="PSK"}' in m0 and
     'cpmstore_handshakes_total{mode="psk"}' in m0, "fixed label sets are exposed from the start")

a = login_starttls("alice", "alice-pw")                       # STARTTLS + LOGIN
C.ok("AUTHENTICATIONFAILED" in refused(lambda: login_starttls("bob", "wrong")),
     "a wrong password is refused")
b = imaplib.IMAP4_SSL("127.0.0.1", IMAPS, ssl_context=CTX)     # imaps + AUTHENTICATE PLAIN
typ, _ = b.authenticate("PLAIN", lambda _: b"\0bob\0bob-pw")
C.eq(typ, "OK", "AUTHENTICATE PLAIN over imaps")
plain = imaplib.IMAP4("127.0.0.1", IMAP)                      # policy: no password in clear
C.ok("PRIVACYREQUIRED" in refused(lambda: plain.login("alice", "alice-pw")),
     "tls = required: LOGIN in the clear refused")
typ, _ = a.append("INBOX", None, None, msg("one"))
a.append("INBOX", None, None, msg("two"))
a.select("INBOX")
typ, data = a.fetch("1:2", "(BODY.PEEK[])")
C.ok(typ == "OK" and len([d for d in data if isinstance(d, tuple)]) == 2, "APPEND, FETCH")
typ, data = b.select('"Other Users/alice/INBOX"')
C.eq(typ, "NO", "bob may not read alice's INBOX")
C.ok("BAD" in refused(lambda: b._simple_command("FROBNICATE")), "an unknown command -> BAD")
# a tampered stored row
db = sqlite3.connect(os.path.join(D, "omasec.db"), timeout=10)
mbid = db.execute("SELECT id FROM mailboxes WHERE owner='alice' AND name='INBOX'").fetchone()[0]
uid, body = db.execute("SELECT uid, body FROM message_bodies WHERE mailbox_id=? ORDER BY uid "
                       "LIMIT 1", (mbid,)).fetchone()
db.execute("UPDATE message_bodies SET body=? WHERE mailbox_id=? AND uid=?",
           (body[:-20] + bytes([body[-20] ^ 1]) + body[-19:], mbid, uid))
db.commit()
db.close()
typ, data = a.uid("FETCH", str(uid), "(BODY.PEEK[])")
C.ok(typ == "NO" and b"CORRUPTION" in data[0], "tampered row -> NO [CORRUPTION]", data)

m1, text = scrape()
for key, want in (('cpmstore_commands_total{command="LOGIN"}', 2),
                  ('cpmstore_commands_total{command="AUTHENTICATE"}', 1),
                  ('cpmstore_commands_total{command="APPEND"}', 2),
                  ('cpmstore_commands_total{command="STARTTLS"}', 2),
                  ('cpmstore_commands_total{command="other"}', 1),
                  ('cpmstore_responses_total{status="OK"}', 8),
                  ('cpmstore_responses_total{status="NO"}', 4),
                  ('cpmstore_responses_total{status="BAD"}', 1),
                  ('cpmstore_logins_total{result="ok",mech="LOGIN"}', 1),
                  ('cpmstore_logins_total{result="ok",mech="PLAIN"}', 1),
                  ('cpmstore_logins_total{result="failed",reason="credentials",mech="LOGIN"}', 1),
                  ('cpmstore_logins_total{result="failed",reason="tls_required",mech="LOGIN"}', 1),
                  ('cpmstore_handshakes_total{mode="starttls"}', 2),
                  ('cpmstore_handshakes_total{mode="imaps"}', 1),
                  ('cpmstore_acl_denied_total', 1),
                  ('cpmstore_integrity_failures_total', 1),
                  ('cpmstore_appends_total{result="ok"}', 2),
                  ('cpmstore_append_batches_total', 1),
                  ('cpmstore_command_duration_seconds_count', 10)):
    C.ok(delta(m0, m1, key) >= want, "metric %s moved by >= %d" % (key, want),
         "%s -> %s" % (m0.get(key), m1.get(key)))
C.ok(m1.get("cpmstore_connections_active", 0) >= 3, "active connections counted",
     m1.get("cpmstore_connections_active"))
C.ok("alice" not in text and "bob" not in text and "INBOX" not in text,
     "no user or mailbox names in the metrics")
plain.logout()
b.logout()

# ---- SIGHUP: certificate, policy, limits, log level ------------------------------
C.ok("localhost" in served_cn(False) and "localhost" in served_cn(True),
     "imaps and STARTTLS serve the first certificate", served_cn(False))
write_conf("cert = %s/pki/second.crt\nkey = %s/pki/second.key\ntls = optional\n"
           "max_message = 4096\nlog_level = debug\n" % (D, D))
srv.proc.send_signal(signal.SIGHUP)
C.ok(wait_count(srv, "config.reload result=ok", 1), "reload logged", srv.read_log()[-800:])
C.ok("second" in served_cn(False), "imaps: new connections get the new certificate",
     served_cn(False))
C.ok("second" in served_cn(True), "STARTTLS: new connections get the new certificate",
     served_cn(True))
typ, data = a.noop()
C.eq(typ, "OK", "a session logged in before the reload keeps working")
typ, data = a.fetch("2", "(BODY.PEEK[])")
C.ok(typ == "OK" and isinstance(data[0], tuple), "and still fetches", data)
typ, _ = a.append("INBOX", None, None, msg("big", 8000))
C.eq(typ, "NO", "the lowered max_message applies to the kept session's next APPEND")
typ, _ = a.append("INBOX", None, None, msg("small", 100))
C.eq(typ, "OK", "a small APPEND still passes")
c = imaplib.IMAP4("127.0.0.1", IMAP)
C.ok("PRIVACYREQUIRED" in refused(lambda: c.login("bob", "bob-pw")) and
     "STARTTLS" in c.capabilities, "tls = optional: passwords still need TLS", c.capabilities)
c.logout()
C.ok("log_level=debug" in srv.read_log(), "log level debug applied")

# tls = off: a policy change for new connections
write_conf("cert = %s/pki/second.crt\nkey = %s/pki/second.key\ntls = off\n"
           "log_level = warn\n" % (D, D))
srv.proc.send_signal(signal.SIGHUP)
C.ok(wait_count(srv, "config.reload result=ok", 2), "reload to tls = off")
c = imaplib.IMAP4("127.0.0.1", IMAP)
C.ok("LOGINDISABLED" not in c.capabilities and "STARTTLS" not in c.capabilities,
     "tls = off: no STARTTLS, no LOGINDISABLED on new connections", c.capabilities)
typ, _ = c.login("bob", "bob-pw")
C.eq(typ, "OK", "LOGIN without TLS under the new policy")
c.logout()
time.sleep(0.3)
C.ok("log_level=warn" in srv.read_log() and
     "event=imap.login user=bob mech=LOGIN" not in srv.read_log(),
     "log_level = warn: info events are no longer logged", srv.read_log()[-600:])
typ, _ = a.noop()
C.eq(typ, "OK", "the kept (TLS) session goes on")

# ---- a broken file, then a broken certificate: the running configuration stays ----
with open(CONF, "a") as f:
    f.write("no_such_key = 1\n")
srv.proc.send_signal(signal.SIGHUP)
C.ok(wait_count(srv, "config.reload_failed", 1), "a broken file is reported",
     srv.read_log()[-800:])
write_conf("cert = %s/pki/missing.crt\nkey = %s/pki/second.key\ntls = required\n" % (D, D))
srv.proc.send_signal(signal.SIGHUP)
C.ok(wait_count(srv, "config.reload_failed", 2), "an unreadable certificate is reported",
     srv.read_log()[-800:])
C.ok("second" in served_cn(False), "the running certificate is kept", served_cn(False))
c = imaplib.IMAP4("127.0.0.1", IMAP)
typ, _ = c.login("bob", "bob-pw")
C.eq(typ, "OK", "the running policy (off) is kept")
c.logout()
typ, _ = a.noop()
C.eq(typ, "OK", "the kept session survives failed reloads too")
m2, _ = scrape()
C.eq(delta(m1, m2, 'cpmstore_config_reloads_total{result="ok"}'), 2, "reloads ok counted")
C.eq(delta(m1, m2, 'cpmstore_config_reloads_total{result="failed"}'), 2,
     "failed reloads counted")

# policy back to required: applies to new connections, the kept session goes on
write_conf("cert = %s/pki/second.crt\nkey = %s/pki/second.key\ntls = required\n"
           "log_level = info\n" % (D, D))
srv.proc.send_signal(signal.SIGHUP)
C.ok(wait_count(srv, "config.reload result=ok", 3), "reload to tls = required")
c = imaplib.IMAP4("127.0.0.1", IMAP)
C.ok("PRIVACYREQUIRED" in refused(lambda: c.login("bob", "bob-pw")),
     "tls = required again: clear LOGIN refused on new connections")
c.logout()
typ, _ = a.noop()
C.eq(typ, "OK", "the kept session is unaffected")
a.logout()
m3, _ = scrape()
for _ in range(50):
    if m3.get("cpmstore_connections_active", -1) == 0:
        break
    time.sleep(0.1)
    m3, _ = scrape()
C.eq(m3.get("cpmstore_connections_active"), 0, "active connections back to 0")
C.eq(srv.stop(), 0, "clean stop on SIGTERM")
T.cleanup()
C.finish()
