#!/usr/bin/env python3
"""cpm-msgstored black-box test: the real daemon on loopback, driven by
python imaplib (IMAP4 + STARTTLS, IMAP4_SSL), curl (imap:// --ssl-reqd,
imaps:// upload), openssl s_client (-starttls imap, client certificates,
-psk), gnutls-cli (PSK), openssl cms (S/MIME), and a raw client for the
hostile cases (injection after STARTTLS, huge literals, unterminated
commands, parenthesis bombs, a tampered stored row)."""
import atexit
import imaplib
import os
import re
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from osectest import (BIN, SRC, Checks, Daemon, TempDir, b64url_decode, ctl,  # noqa: E402
                      free_port, hkdf_sha256)

C = Checks()
T = TempDir()
D = os.path.join(T.path, "data")
CA = os.path.join(D, "pki", "ca.crt")
ASAN = os.environ.get("OSEC_SANITIZE", "").upper() in ("ON", "1", "TRUE", "YES")
IMAP, IMAPS = free_port(), free_port()
CTX = None  # after omasecctl init made the CA
imaplib.Commands.setdefault("NAMESPACE", ("AUTH", "SELECTED"))
imaplib.Commands.setdefault("UID", ("SELECTED",))


RUNNING = []


@atexit.register
def _stop_leftovers():
    """A test that dies half-way must not leave its daemons running."""
    for d in RUNNING:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()


def start(tag, imap, imaps, extra=""):
    conf = os.path.join(T.path, "msgstored-%s.conf" % tag)
    with open(conf, "w") as f:
        f.write("[cpm-msgstored]\nworkers = 2\nrequest_timeout = 3\nhandshake_timeout = 3\n"
                "idle_poll = 100\nauth_max_failures = 50\nmax_message = 1048576\n" + extra)
    argv = [os.path.join(BIN, "cpm-msgstored"), "--data", D, "--config", conf,
            "--listen", "imap:127.0.0.1:%d" % imap, "--listen", "imaps:127.0.0.1:%d" % imaps]
    d = Daemon(argv, os.path.join(T.path, "msgstored-%s.log" % tag), ready_port=imap)
    RUNNING.append(d)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", imaps), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.05)
    return d


class Raw:
    """A minimal IMAP client that sends exactly the bytes it is given."""

    def __init__(self, port, tls=False, ctx=None):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        if tls:
            self.s = (ctx or CTX).wrap_socket(self.s, server_hostname="127.0.0.1")
        self.buf = b""
        self.greeting = self.line()

    def line(self, timeout=10):
        self.s.settimeout(timeout)
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("closed")
            self.buf += d
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln.decode("utf-8", "replace")

    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())

    def cmd(self, tag, text, timeout=10):
        self.send("%s %s\r\n" % (tag, text))
        return self.until(tag, timeout)

    def until(self, tag, timeout=10):
        lines = []
        while True:
            ln = self.line(timeout)
            lines.append(ln)
            if ln.startswith(tag + " "):
                return lines

    def starttls(self):
        r = self.cmd("st", "STARTTLS")
        self.s = CTX.wrap_socket(self.s, server_hostname="127.0.0.1")
        return r

    def closed_within(self, seconds):
        self.s.settimeout(seconds)
        try:
            while self.s.recv(4096):
                pass
            return True
        except (socket.timeout, TimeoutError):
            return False
        except OSError:
            return True

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def msg(subject, body="hello", frm="Bob <bob@example.com>", extra=""):
    return ("From: %s\r\nTo: Alice <alice@example.com>\r\nSubject: %s\r\n"
            "Date: Mon, 7 Feb 2022 21:52:25 -0800\r\nMessage-ID: <%s@example.com>\r\n%s"
            "\r\n%s\r\n" % (frm, subject, subject.replace(" ", "-"), extra, body)).encode()


def login_starttls(user, pw):
    m = imaplib.IMAP4("127.0.0.1", IMAP)
    m.starttls(ssl_context=CTX)
    m.login(user, pw)
    return m


def login_ssl(user, pw):
    m = imaplib.IMAP4_SSL("127.0.0.1", IMAPS, ssl_context=CTX)
    m.login(user, pw)
    return m


def tail(s, n=1500):
    return s[-n:] if isinstance(s, str) else s


# ---- setup ------------------------------------------------------------------
ctl(D, "init")
CTX = ssl.create_default_context(cafile=CA)
for u in ("alice", "bob", "carol", "dave"):
    ctl(D, "user", "add", u, stdin="%s-pw\n" % u)
ctl(D, "user", "set", "carol", "require-tls", "on")
ctl(D, "pki", "issue", "alice", "--client")
ctl(D, "pki", "issue", "dave", "--client")
srv = start("main", IMAP, IMAPS)

p = subprocess.run([os.path.join(BIN, "cpm-msgstored"), "--help"], capture_output=True, text=True)
C.eq(p.returncode, 0, "cpm-msgstored --help exits 0")

# ---- TLS policy "required": nothing before STARTTLS ---------------------------
m = imaplib.IMAP4("127.0.0.1", IMAP)
C.ok("STARTTLS" in m.capabilities and "LOGINDISABLED" in m.capabilities
     and "AUTH=PLAIN" not in m.capabilities, "clear: STARTTLS + LOGINDISABLED offered",
     m.capabilities)
try:
    m.login("alice", "alice-pw")
    C.ok(False, "LOGIN before STARTTLS refused")
except imaplib.IMAP4.error as e:
    C.ok("PRIVACYREQUIRED" in str(e), "LOGIN before STARTTLS -> NO [PRIVACYREQUIRED]", e)
typ, _ = m.starttls(ssl_context=CTX)
C.eq(typ, "OK", "imaplib starttls")
C.ok("AUTH=PLAIN" in m.capabilities and "STARTTLS" not in m.capabilities,
     "after STARTTLS: AUTH=PLAIN, no STARTTLS", m.capabilities)
try:
    m.login("alice", "wrong")
    C.ok(False, "wrong password refused")
except imaplib.IMAP4.error as e:
    C.ok("AUTHENTICATIONFAILED" in str(e), "wrong password -> NO [AUTHENTICATIONFAILED]", e)
typ, _ = m.login("alice", "alice-pw")
C.eq(typ, "OK", "LOGIN over STARTTLS")

# ---- core IMAP: append, fetch, search, store, expunge --------------------------
typ, data = m.list()
C.ok(typ == "OK" and any(b" INBOX" in d for d in data) and any(b"Conversations" in d for d in data),
     "first login created INBOX and Conversations", data)
typ, data = m.append("INBOX", None, None, msg("first", "body one"))
C.ok(typ == "OK" and b"APPENDUID" in data[0], "APPEND -> OK [APPENDUID]", data)
m.append("INBOX", "(\\Flagged)", None, msg("second", "body two", frm="carol@example.com"))
m.append("INBOX", None, imaplib.Time2Internaldate(time.time() - 86400 * 3),
         msg("third", "needle in here"))
typ, data = m.select("INBOX")
C.eq(data, [b"3"], "SELECT INBOX: 3 EXISTS")
typ, data = m.fetch("1", "(BODY.PEEK[])")
C.ok(typ == "OK" and data[0][1] == msg("first", "body one"), "FETCH BODY.PEEK[] returns the message")
typ, data = m.fetch("2", "(FLAGS UID RFC822.SIZE ENVELOPE)")
C.ok(b"\\Flagged" in data[0] and b"RFC822.SIZE %d" % len(msg("second", "body two", frm="carol@example.com")) in data[0]
     and b'"second"' in data[0] and b'"carol" "example.com"' in data[0], "FETCH FLAGS/SIZE/ENVELOPE", data)
typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT]<0.4>)")
C.ok(typ == "OK" and data[0][1] == b"Subject: first\r\n\r\n" and b'BODY[TEXT]<0> "body"' in data[1],
     "FETCH HEADER.FIELDS and a partial", data)
typ, data = m.search(None, "SUBJECT", "second")
C.eq(data, [b"2"], "SEARCH SUBJECT")
typ, data = m.search(None, "BODY", "needle")
C.eq(data, [b"3"], "SEARCH BODY (unsealed text)")
typ, data = m.search(None, "FLAGGED")
C.eq(data, [b"2"], "SEARCH FLAGGED")
typ, data = m.search(None, "SENTSINCE", "1-Feb-2022", "BEFORE", imaplib.Time2Internaldate(time.time() - 86400)[1:12])
C.eq(data, [b"3"], "SEARCH SENTSINCE + BEFORE")
typ, data = m.uid("SEARCH", None, "ALL")
uids = data[0].split()
C.eq(len(uids), 3, "UID SEARCH ALL")
typ, data = m.fetch("1", "(BODY[])")
typ, data = m.fetch("1", "(FLAGS)")
C.ok(b"\\Seen" in data[0], "FETCH BODY[] sets \\Seen", data)
typ, data = m.store("3", "+FLAGS", "(\\Deleted $Important)")
C.ok(typ == "OK" and b"\\Deleted" in data[0] and b"$Important" in data[0], "STORE +FLAGS with a keyword", data)
typ, data = m.expunge()
C.eq((typ, data), ("OK", [b"3"]), "EXPUNGE reports message 3")
typ, data = m.search(None, "ALL")
C.eq(data, [b"1 2"], "2 messages left")
m.create("Archive")
typ, data = m.copy("1:2", "Archive")
C.ok(typ == "OK" and b"COPYUID" in data[0], "COPY -> OK [COPYUID]", data)
typ, data = m.status("Archive", "(MESSAGES UIDNEXT UNSEEN)")
C.ok(b"MESSAGES 2" in data[0] and b"UIDNEXT 3" in data[0], "STATUS of the copy target", data)
typ, data = m.uid("STORE", uids[1].decode(), "+FLAGS", "(\\Deleted)")
typ, data = m.uid("EXPUNGE", uids[1].decode())
C.ok(typ == "OK" and m.response("EXPUNGE")[1] == [b"2"] and m.search(None, "ALL")[1] == [b"1"],
     "UID EXPUNGE", data)
m.create("Work/Projects")
m.rename("Work", "Jobs")
typ, data = m.list('""', "Jobs/*")
C.ok(any(b"Jobs/Projects" in d for d in data), "RENAME moves children", data)
m.subscribe("Jobs/Projects")
typ, data = m.lsub('""', "*")
C.ok(any(b"Jobs/Projects" in d for d in data), "LSUB", data)
typ, data = m.delete("Jobs")
C.eq(typ, "NO", "DELETE of a mailbox with children refused")
C.eq(m.delete("Jobs/Projects")[0], "OK", "DELETE leaf")
typ, data = m.namespace()
C.ok(b'(("" "/")) (("Other Users/" "/")) NIL' in data[0], "NAMESPACE announces Other Users", data)
m.logout()

# ---- IMAP4_SSL ------------------------------------------------------------------
m = login_ssl("alice", "alice-pw")
typ, data = m.select("Archive", readonly=True)
typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
C.ok(typ == "OK" and b"Subject: first" in data[0][1], "IMAP4_SSL login + fetch", data)
m.logout()

# ---- ACL (RFC 4314) between two users ---------------------------------------------
a = login_starttls("alice", "alice-pw")
a.create("Private")
b = login_ssl("bob", "bob-pw")
typ, data = b.list()
C.ok(not any(b"alice" in d for d in data), "nothing shared yet: bob lists none of alice's", data)
typ, data = b.select('"Other Users/alice/INBOX"')
C.ok(typ == "NO" and b"NONEXISTENT" in data[0], "bob SELECT alice's INBOX without rights -> NO", data)
typ, data = a.setacl("INBOX", "bob", "lr")
C.eq(typ, "OK", "alice SETACL INBOX bob lr")
typ, data = a.getacl("INBOX")
C.ok(b"bob lr" in data[0], "GETACL shows bob", data)
typ, data = b.list()
C.ok(any(b'"Other Users/alice/INBOX"' in d for d in data) and
     not any(b"Private" in d for d in data), "bob's LIST shows the shared INBOX only", data)
typ, data = b._simple_command("SELECT", '"Other Users/alice/INBOX"')
b.state = "SELECTED"
C.ok(typ == "OK" and b"READ-ONLY" in b.response("READ-ONLY")[1][0] if b.response("READ-ONLY")[1][0] else typ == "OK",
     "bob SELECT shared INBOX (read-only by rights)")
typ, data = b.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
C.ok(typ == "OK" and b"Subject: first" in data[0][1], "bob FETCHes with r", data)
typ, data = b.store("1", "+FLAGS", "(\\Flagged)")
C.ok(typ == "NO" and b"NOPERM" in data[0], "bob STORE without w -> NO [NOPERM]", data)
typ, data = b.append('"Other Users/alice/INBOX"', None, None, msg("from bob"))
C.ok(typ == "NO" and b"NOPERM" in data[0] and b"right i" in data[0], "bob APPEND without i -> NO [NOPERM]", data)
typ, data = b.select('"Other Users/alice/Private"')
C.ok(typ == "NO" and b"NONEXISTENT" in data[0], "bob SELECT alice's Private -> NO (not revealed)", data)
typ, data = b.getacl('"Other Users/alice/INBOX"')
C.ok(typ == "NO" and b"right a" in data[0], "bob GETACL without a -> NO", data)
typ, data = a.setacl("INBOX", "bob", "+i")
typ, data = b.append('"Other Users/alice/INBOX"', None, None, msg("from bob"))
C.eq(typ, "OK", "after +i bob may APPEND")
b._simple_command("SELECT", '"Other Users/alice/INBOX"')
b.state = "SELECTED"
a.setacl("INBOX", "anyone", "lr")
a.setacl("INBOX", "-bob", "r")
typ, data = b.myrights('"Other Users/alice/INBOX"')
C.ok(typ == "OK" and re.search(rb'" li$', data[0]), "negative rights: -bob r removes r", data)
typ, data = b.fetch("1", "(BODY.PEEK[])")
C.ok(typ == "NO" and b"NOPERM" in data[0], "rights re-checked on FETCH after a change", data)
a.deleteacl("INBOX", "-bob")
a.deleteacl("INBOX", "bob")
a.deleteacl("INBOX", "anyone")
typ, data = b.fetch("1", "(BODY.PEEK[])")
C.ok(typ == "NO" and b"NONEXISTENT" in data[0], "after DELETEACL the mailbox is gone for bob", data)
typ, data = a.setacl("INBOX", "alice", "l")
C.eq(typ, "NO", "the owner's rights cannot be changed")
typ, data = a.setacl("INBOX", "nosuchuser", "lr")
C.eq(typ, "NO", "SETACL for an unknown user refused")
a.logout()
b.logout()

# ---- curl: imap:// --ssl-reqd list + fetch, imaps:// upload ------------------------
def curl(*args):
    return subprocess.run(["curl", "-sS", "--cacert", CA, "-u", "alice:alice-pw"] + list(args),
                          capture_output=True, timeout=30)


up = os.path.join(T.path, "up.eml")
with open(up, "wb") as f:
    f.write(msg("uploaded by curl", "curl body"))
p = curl("-T", up, "imaps://127.0.0.1:%d/INBOX" % IMAPS)
C.eq(p.returncode, 0, "curl imaps:// upload (APPEND)")
p = curl("--ssl-reqd", "imap://127.0.0.1:%d/" % IMAP)
C.ok(p.returncode == 0 and b"INBOX" in p.stdout and b"Archive" in p.stdout, "curl --ssl-reqd imap:// LIST",
     p.stdout + p.stderr)
m = login_ssl("alice", "alice-pw")
m.select("INBOX", readonly=True)
typ, data = m.uid("SEARCH", None, "SUBJECT", '"uploaded by curl"')
cuid = data[0].split()[-1].decode() if data and data[0] else "0"
m.logout()
p = curl("--ssl-reqd", "imap://127.0.0.1:%d/INBOX;UID=%s" % (IMAP, cuid))
C.ok(p.returncode == 0 and p.stdout == msg("uploaded by curl", "curl body"), "curl --ssl-reqd imap:// FETCH by UID",
     p.stdout + p.stderr)
p = subprocess.run(["curl", "-sS", "imap://127.0.0.1:%d/" % IMAP, "-u", "alice:alice-pw"],
                   capture_output=True, timeout=30)
C.ok(p.returncode != 0, "curl without TLS cannot log in (policy required)", p.stderr)

# ---- openssl s_client: STARTTLS, client certificate (EXTERNAL) ---------------------
def s_client(args, script, timeout=20):
    p = subprocess.run(["openssl", "s_client", "-quiet", "-ign_eof"] + args, input=script,
                       capture_output=True, timeout=timeout)
    return p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")


out = s_client(["-starttls", "imap", "-connect", "127.0.0.1:%d" % IMAP, "-CAfile", CA],
               b"a LOGIN alice alice-pw\r\nb SELECT INBOX\r\nc LOGOUT\r\n")
C.ok("a OK" in out and "b OK [READ-WRITE]" in out, "openssl s_client -starttls imap + LOGIN", tail(out))
pki = os.path.join(D, "pki")
out = s_client(["-starttls", "imap", "-connect", "127.0.0.1:%d" % IMAP, "-CAfile", CA,
                "-cert", os.path.join(pki, "alice.crt"), "-key", os.path.join(pki, "alice.key")],
               b"a AUTHENTICATE EXTERNAL =\r\nb MYRIGHTS INBOX\r\nc LOGOUT\r\n")
C.ok("a OK" in out and "MYRIGHTS INBOX lrswipkxtecda" in out,
     "client certificate: AUTHENTICATE EXTERNAL as alice", tail(out))
out = s_client(["-connect", "127.0.0.1:%d" % IMAPS, "-CAfile", CA,
                "-cert", os.path.join(pki, "alice.crt"), "-key", os.path.join(pki, "alice.key")],
               b"a AUTHENTICATE EXTERNAL YWxpY2U=\r\nc LOGOUT\r\n")
C.ok("a OK" in out, "EXTERNAL with authzid = the certificate's user (imaps)", tail(out))
out = s_client(["-connect", "127.0.0.1:%d" % IMAPS, "-CAfile", CA,
                "-cert", os.path.join(pki, "alice.crt"), "-key", os.path.join(pki, "alice.key")],
               b"a AUTHENTICATE EXTERNAL Ym9i\r\nc LOGOUT\r\n")
C.ok("a NO" in out, "EXTERNAL asking to be bob with alice's certificate -> NO", tail(out))
out = s_client(["-connect", "127.0.0.1:%d" % IMAPS, "-CAfile", CA],
               b"a AUTHENTICATE EXTERNAL =\r\nc LOGOUT\r\n")
C.ok("a NO" in out, "EXTERNAL without a certificate -> NO", tail(out))

# ---- TLS-PSK: identity = a CPNS entity of alice, key = HKDF(EUKey) ------------------
cport = free_port()
cconf = os.path.join(T.path, "cpns.conf")
with open(cconf, "w") as f:
    f.write("[cpns-server]\nworkers = 1\n")
cpns = Daemon([os.path.join(BIN, "cpns-server"), "--data", D, "--config", cconf,
               "--listen", "127.0.0.1:%d" % cport], os.path.join(T.path, "cpns.log"), ready_port=cport)
RUNNING.append(cpns)
p = subprocess.run(["curl", "-sS", "--cacert", CA, "--digest", "-u", "alice:alice-pw", "-H",
                    "Content-Type: application/json", "--data", '{"type":"pne"}',
                    "https://127.0.0.1:%d/cpns/v1/entities/phone-1/eukey" % cport],
                   capture_output=True, text=True, timeout=30)
cpns.stop()
eukey = re.search(r'"eukey":"([^"]+)"', p.stdout)
C.ok(eukey is not None, "EUKey for phone-1 from cpns-server", p.stdout + p.stderr)
psk = hkdf_sha256(b64url_decode(eukey.group(1)), b"omasec/v1/psk/eukey/phone-1").hex() if eukey else "00" * 32
for ver in ("-tls1_2", "-tls1_3"):
    out = s_client(["-connect", "127.0.0.1:%d" % IMAPS, ver, "-psk_identity", "phone-1", "-psk", psk],
                   b"a SELECT INBOX\r\nb LOGOUT\r\n")
    C.ok("* PREAUTH" in out and "a OK [READ-WRITE]" in out,
         "openssl s_client -psk %s: PREAUTH as alice" % ver, tail(out))
out = s_client(["-connect", "127.0.0.1:%d" % IMAPS, "-tls1_2", "-psk_identity", "phone-1",
                "-psk", "11" * 32], b"a SELECT INBOX\r\n")
C.ok("PREAUTH" not in out and "a OK" not in out, "wrong PSK refused", tail(out))
out = s_client(["-starttls", "imap", "-connect", "127.0.0.1:%d" % IMAP, "-psk_identity", "phone-1",
                "-psk", psk], b"a AUTHENTICATE EXTERNAL =\r\nb SELECT INBOX\r\nc LOGOUT\r\n")
C.ok("a OK" in out and "b OK" in out, "STARTTLS + PSK + AUTHENTICATE EXTERNAL", tail(out))
for vers, kx in (("TLS1.2", "+PSK"), ("TLS1.3", "+ECDHE-PSK:+PSK")):
    p = subprocess.run(["gnutls-cli", "--port", str(IMAPS), "--pskusername", "phone-1", "--pskkey", psk,
                        "--priority", "NORMAL:-VERS-ALL:+VERS-%s:%s" % (vers, kx),
                        "--no-ca-verification", "127.0.0.1"],
                       input=b"a SELECT INBOX\r\nb LOGOUT\r\n", capture_output=True, timeout=30)
    out = p.stdout.decode("utf-8", "replace")
    C.ok("* PREAUTH" in out and "a OK [READ-WRITE]" in out, "gnutls-cli PSK (%s)" % vers,
         tail(out) + tail(p.stderr.decode("utf-8", "replace")))

# ---- hostile clients ------------------------------------------------------------------
r = Raw(IMAP)
r.send(b"a STARTTLS\r\nb LOGIN alice alice-pw\r\n")    # pipelined in the clear
C.ok(r.line().startswith("a OK"), "STARTTLS answered")
r.s = CTX.wrap_socket(r.s, server_hostname="127.0.0.1")
lines = r.cmd("c", "SELECT INBOX")
C.ok(not any(ln.startswith("b ") for ln in lines) and lines[-1].startswith("c BAD authenticate first"),
     "command injected before the TLS handshake is discarded (not logged in)", lines)
r.close()
r = Raw(IMAPS, tls=True)
r.cmd("a", "LOGIN alice alice-pw")
r.send("b APPEND INBOX {%d}\r\n" % (50 * 1024 * 1024))
ln = r.line()
C.ok(ln.startswith("b NO") and "TOOBIG" in ln, "oversized literal refused before any data", ln)
C.ok(r.cmd("c", "NOOP")[-1].startswith("c OK"), "connection usable after the refusal")
lines = r.cmd("d", "FETCH 1 " + "(" * 10000 + "FLAGS" + ")" * 10000)
C.ok(lines[-1].startswith("d BAD") or lines[-1].startswith("* BYE"), "10k-deep parentheses -> BAD", lines[-1:])
r.close()
r = Raw(IMAP)
r.send(b"x APPEND INBOX {20}\r\n")
ln = r.line()
C.ok(ln.startswith("x NO") or ln.startswith("x BAD"), "literal before authentication refused", ln)
r.close()
r = Raw(IMAP)
r.send(b"a NOOP")                                     # never terminated
C.ok(r.closed_within(10), "unterminated command cut after request_timeout")
r.close()
r = Raw(IMAP)
r.send(b"a " + b"A" * 70000)
C.ok(r.closed_within(10), "an over-long line closes the connection")
r.close()
r = Raw(IMAPS, tls=True)
r.cmd("a", "LOGIN alice alice-pw")
m1 = msg("pipelined")
r.send(b"p1 APPEND INBOX {%d+}\r\n" % len(m1) + m1 + b"\r\np2 NOOP\r\n")
lines = r.until("p2")
C.ok([ln.split()[0] for ln in lines if ln.startswith("p")] == ["p1", "p2"] and
     lines[0].startswith("p1 OK [APPENDUID"), "a command pipelined behind APPEND waits for it", lines)
r.close()
for i in range(10):  # the client leaves while its APPEND is being committed
    r = Raw(IMAPS, tls=True)
    r.cmd("a", "LOGIN alice alice-pw")
    r.send(b"b APPEND INBOX {%d+}\r\n" % len(m1) + m1 + b"\r\n")
    r.close()
C.ok(srv.proc.poll() is None, "daemon alive after the hostile clients")

# ---- IDLE: another session's APPEND shows up ---------------------------------------------
r = Raw(IMAPS, tls=True)
r.cmd("a", "LOGIN alice alice-pw")
n_before = int([ln for ln in r.cmd("b", "SELECT INBOX") if ln.endswith(" EXISTS")][0].split()[1])
r.send("c IDLE\r\n")
C.ok(r.line().startswith("+"), "IDLE continuation")
m = login_ssl("alice", "alice-pw")
m.append("INBOX", None, None, msg("during idle"))
m.logout()
ln = r.line(timeout=10)
C.eq(ln, "* %d EXISTS" % (n_before + 1), "IDLE reports the new message")
r.send("DONE\r\n")
C.ok(r.until("c")[-1].startswith("c OK"), "DONE ends IDLE")
lines = r.cmd("d", "UID FETCH 1:* (UID MODSEQ)")
C.ok(any("MODSEQ (" in ln for ln in lines), "CONDSTORE: MODSEQ in FETCH", lines)
C.ok(r.cmd("e", "UNSELECT")[-1].startswith("e OK"), "UNSELECT")
lines = r.cmd("f", 'SETMETADATA INBOX (/private/comment "my inbox")')
lines2 = r.cmd("g", "GETMETADATA INBOX /private/comment")
C.ok(lines[-1].startswith("f OK") and any('"my inbox"' in ln for ln in lines2), "METADATA set/get", lines2)
r.close()

# ---- CPM layout: Conversation / Session History folders, Message/CPIM -------------------
def cpim(conv, contrib="", ctype="Message/CPIM"):
    hdr = "Conversation-ID: %s\r\n" % conv + ("Contribution-ID: %s\r\n" % contrib if contrib else "")
    hdr += "IMDN-Message-ID: m-%s\r\nContent-Type: %s\r\n" % (conv, ctype)
    return msg("chat", "From: <sip:bob@example.com>\r\nTo: <sip:alice@example.com>\r\n"
               "NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: m-1\r\n\r\n"
               "Content-Type: text/plain\r\n\r\nhi", extra=hdr)


m = login_ssl("alice", "alice-pw")
m.create("Conversations/conv-1/contrib-9")
typ, _ = m.append("Conversations/conv-1", None, None, cpim("conv-1"))
C.eq(typ, "OK", "CPIM object into its Conversation History folder")
typ, data = m.append("Conversations/conv-1", None, None, cpim("conv-2"))
C.ok(typ == "NO" and b"Conversation-ID" in data[0], "object of another conversation refused", data)
typ, _ = m.append("Conversations/conv-1/contrib-9", None, None, cpim("conv-1", "contrib-9"))
C.eq(typ, "OK", "object into its Session History folder")
typ, _ = m.append("Conversations/conv-1/contrib-9", None, None,
                  cpim("conv-1", "contrib-9", "Application/X-CPM-Session"))
C.eq(typ, "OK", "session info into the Session History folder")
typ, data = m.append("Conversations/conv-1/contrib-9", None, None, cpim("conv-1", "other"))
C.eq(typ, "NO", "wrong Contribution-ID refused")
m.select("INBOX")
typ, data = m.copy("1", "Conversations/conv-1")
C.ok(typ == "NO" and b"CANNOT" in data[0], "COPY of a non-CPM message into a Conversation folder refused", data)
m.logout()

# ---- tampered stored row: detected, reported, never served ----------------------------------
m = login_ssl("alice", "alice-pw")
m.select("Archive")
typ, data = m.uid("SEARCH", None, "ALL")
a_uids = data[0].split()
m.logout()
db = sqlite3.connect(os.path.join(D, "omasec.db"), timeout=10)
mbid = db.execute("SELECT id FROM mailboxes WHERE owner='alice' AND name='Archive'").fetchone()[0]
body = db.execute("SELECT body FROM message_bodies WHERE mailbox_id=? AND uid=?",
                  (mbid, int(a_uids[0]))).fetchone()[0]
flipped = body[:-20] + bytes([body[-20] ^ 1]) + body[-19:]
db.execute("UPDATE message_bodies SET body=? WHERE mailbox_id=? AND uid=?", (flipped, mbid, int(a_uids[0])))
db.commit()
db.close()
m = login_ssl("alice", "alice-pw")
m.select("Archive")
typ, data = m.uid("FETCH", a_uids[0].decode(), "(BODY.PEEK[])")
C.ok(typ == "NO" and b"CORRUPTION" in data[0] and not any(isinstance(d, tuple) for d in data),
     "tampered message -> NO [CORRUPTION], no body served", data)
typ, data = m.uid("FETCH", a_uids[1].decode(), "(BODY.PEEK[])")
C.ok(typ == "OK" and isinstance(data[0], tuple), "the untouched message is still served", data)
m.logout()
db = sqlite3.connect(os.path.join(D, "omasec.db"), timeout=10)
inbox = db.execute("SELECT id FROM mailboxes WHERE owner='alice' AND name='INBOX'").fetchone()[0]
row = db.execute("SELECT uid, body FROM message_bodies WHERE mailbox_id=? ORDER BY uid LIMIT 1",
                 (inbox,)).fetchone()
db.execute("UPDATE message_bodies SET body=? WHERE mailbox_id=? AND uid=?", (row[1], mbid, int(a_uids[1])))
db.commit()
db.close()
m = login_ssl("alice", "alice-pw")
m.select("Archive")
typ, data = m.uid("FETCH", a_uids[1].decode(), "(BODY.PEEK[])")
C.ok(typ == "NO" and b"CORRUPTION" in data[0], "a body moved from another mailbox -> NO [CORRUPTION]", data)
m.logout()

# ---- S/MIME message protection on the principal's request --------------------------------
with open(os.path.join(pki, "dave.crt"), "rb") as f:
    pem = f.read()
r = Raw(IMAPS, tls=True)
r.cmd("a", "LOGIN dave dave-pw")
r.cmd("b", "APPEND INBOX {%d+}\r\n%s" % (len(msg("secret", "for dave only")), msg("secret", "for dave only").decode()))
r.send(b"c SETMETADATA \"\" (/private/vendor/omasec/smime-certificate {%d+}\r\n" % len(pem) + pem + b")\r\n")
lines = r.until("c")
C.ok(lines[-1].startswith("c OK"), "dave registers his certificate (METADATA)", lines)
with open(os.path.join(pki, "alice.crt"), "rb") as f:
    apem = f.read()
r.send(b"d SETMETADATA \"\" (/private/vendor/omasec/smime-certificate {%d+}\r\n" % len(apem) + apem + b")\r\n")
lines = r.until("d")
C.ok(lines[-1].startswith("d NO"), "someone else's certificate refused", lines)
C.ok(r.cmd("e", 'SETMETADATA "" (/private/vendor/omasec/message-protection "smime")')[-1].startswith("e OK"),
     "dave asks for message protection")
r.close()
m = login_ssl("dave", "dave-pw")
m.select("INBOX", readonly=True)
typ, data = m.fetch("1", "(BODY.PEEK[])")
prot = data[0][1] if typ == "OK" and isinstance(data[0], tuple) else b""
C.ok(b"application/pkcs7-mime" in prot and b"for dave only" not in prot and b"Subject" not in prot
     and b"\r\n\r\n" in prot and b"\n" not in prot.replace(b"\r\n", b""),
     "FETCH returns an S/MIME object, no clear text", repr(prot[:200]) + " ... " + repr(prot[-200:]))
m.logout()
pf = os.path.join(T.path, "prot.eml")
with open(pf, "wb") as f:
    f.write(prot)
p = subprocess.run(["openssl", "cms", "-decrypt", "-in", pf, "-recip", os.path.join(pki, "dave.crt"),
                    "-inkey", os.path.join(pki, "dave.key")], capture_output=True, timeout=30)
inner = p.stdout
p2 = subprocess.run(["openssl", "cms", "-verify", "-CAfile", CA, "-purpose", "any"], input=inner,
                    capture_output=True, timeout=30)
C.ok(p.returncode == 0 and p2.returncode == 0 and p2.stdout.replace(b"\r\n", b"\n") ==
     msg("secret", "for dave only").replace(b"\r\n", b"\n"),
     "openssl cms -decrypt + -verify recovers the message (signed by the store)",
     p.stderr + p2.stderr + p2.stdout[:200])

# ---- audit -----------------------------------------------------------------------------------
out = ctl(D, "audit", "--limit", "500").stdout
for ev in ("imap.acl_deny", "imap.login_refused", "imap.login_failed", "msg.integrity_failed",
           "imap.acl_set", "smime.cert_refused"):
    C.ok(" %s " % ev in out, "audit has " + ev, out[-1500:])
log = srv.read_log()
C.ok("alice-pw" not in log and "bob-pw" not in log, "no password in the log")
C.eq(srv.stop(signal.SIGTERM), 0, "SIGTERM stops cpm-msgstored cleanly")
C.ok("ERROR: AddressSanitizer" not in log and "LeakSanitizer" not in srv.read_log(),
     "no sanitizer report", tail(srv.read_log(), 3000))

# ---- TLS policy off / optional, and the per-user require-TLS flag ----------------------------
srv = start("off", IMAP, IMAPS, "tls = off\n")
m = imaplib.IMAP4("127.0.0.1", IMAP)
C.ok("STARTTLS" not in m.capabilities and "AUTH=PLAIN" in m.capabilities, "policy off: no STARTTLS",
     m.capabilities)
try:
    m.starttls(ssl_context=CTX)
    C.ok(False, "STARTTLS refused under policy off")
except imaplib.IMAP4.error as e:
    C.ok(True, "STARTTLS refused under policy off")
C.eq(m.login("alice", "alice-pw")[0], "OK", "policy off: LOGIN in the clear")
m.logout()
m = imaplib.IMAP4("127.0.0.1", IMAP)
try:
    m.login("carol", "carol-pw")
    C.ok(False, "require-tls user refused in the clear")
except imaplib.IMAP4.error as e:
    C.ok("PRIVACYREQUIRED" in str(e), "require-tls user refused in the clear even under policy off", e)
C.eq(login_ssl("carol", "carol-pw").logout()[0], "BYE", "require-tls user fine over imaps")
C.eq(srv.stop(signal.SIGTERM), 0, "stopped (policy off)")
C.ok("Sanitizer" not in srv.read_log(), "no sanitizer report (policy off)", tail(srv.read_log(), 3000))
srv = start("optional", IMAP, IMAPS, "tls = optional\n")
m = imaplib.IMAP4("127.0.0.1", IMAP)
C.ok("STARTTLS" in m.capabilities and "LOGINDISABLED" in m.capabilities,
     "policy optional: STARTTLS offered, no clear passwords", m.capabilities)
try:
    m.login("alice", "alice-pw")
    C.ok(False, "clear password refused under optional")
except imaplib.IMAP4.error as e:
    C.ok("PRIVACYREQUIRED" in str(e), "policy optional: password in the clear refused", e)
m.starttls(ssl_context=CTX)
C.eq(m.login("carol", "carol-pw")[0], "OK", "policy optional: STARTTLS then LOGIN")
m.logout()
C.eq(srv.stop(signal.SIGTERM), 0, "stopped (policy optional)")
C.ok("Sanitizer" not in srv.read_log(), "no sanitizer report (policy optional)", tail(srv.read_log(), 3000))

# ---- configuration ----------------------------------------------------------------------------
p = subprocess.run([os.path.join(BIN, "cpm-msgstored"), "--data", D, "--config",
                    os.path.join(SRC, "conf", "omasec.conf"), "--check-config"],
                   capture_output=True, text=True)
C.eq(p.returncode, 0, "conf/omasec.conf passes --check-config")
bad = os.path.join(T.path, "bad.conf")
with open(bad, "w") as f:
    f.write("[cpm-msgstored]\ntls = sometimes\n")
p = subprocess.run([os.path.join(BIN, "cpm-msgstored"), "--data", D, "--config", bad, "--check-config"],
                   capture_output=True, text=True)
C.ok(p.returncode != 0 and "required, optional or off" in p.stderr, "bad tls policy rejected", p.stderr)
with open(bad, "w") as f:
    f.write("[cpm-msgstored]\nlisten_imap = 127.0.0.1:1\ntypo_key = 1\n")
p = subprocess.run([os.path.join(BIN, "cpm-msgstored"), "--data", D, "--config", bad, "--check-config"],
                   capture_output=True, text=True)
C.ok(p.returncode != 0 and "bad.conf:3" in p.stderr, "unknown key rejected naming file:line", p.stderr)

T.cleanup()
C.finish()
