#!/usr/bin/env python3
"""Two cpm-msgstored instances on different ports sharing one PostgreSQL
store, as two hosts behind a load balancer would (own copies of the data
directory: master key and PKI; one --store URL), driven by python imaplib:

- a mailbox created and a message APPENDed through one are LISTed, SELECTed
  and FETCHed (the exact bytes: sealed by one host, opened by the other)
  through the other;
- clients APPENDing to one mailbox through both at once get distinct UIDs,
  1..N without a gap, and every acknowledged message is there;
- flags set through one (CONDSTORE: a higher MODSEQ) are seen through the
  other, an UNCHANGEDSINCE of before that change fails there;
- an ACL granted through one is enforced by the other (Other Users
  namespace, read yes, insert no), and revoked again;
- IDLE on one reports an APPEND made through the other;
- EXPUNGE through one removes the message for the other;
- `omasecctl check` on the shared store, clean exits, no errors or secrets
  in the logs."""
import imaplib
import os
import re
import shutil
import socket
import ssl
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from osectest import BIN, Checks, Daemon, TempDir, ctl, free_port  # noqa: E402
from pgdb import PgDatabase  # noqa: E402

C = Checks()
T = TempDir()
PG = PgDatabase("test_msgstored_shared", "osec_msgshared")
URL = PG.url
imaplib.Commands.setdefault("UID", ("SELECTED",))
APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")
servers = []


def cleanup():
    for s in servers:
        s.stop()
    PG.drop()
    T.cleanup()


C.eq(PG.created.returncode, 0, "test database created")
D1 = os.path.join(T.path, "host1")
D2 = os.path.join(T.path, "host2")
p = ctl(D1, "--store", URL, "init")
C.eq(p.returncode, 0, "omasecctl --store postgresql://... init" + ("\n" + p.stderr
                                                                  if p.returncode else ""))
for u in ("alice", "bob"):
    p = ctl(D1, "--store", URL, "user", "add", u, stdin=u + "-pw\n")
    C.eq(p.returncode, 0, "user %s added" % u)
shutil.copytree(D1, D2)  # the second host: same master key and PKI, no store file
CTX = ssl.create_default_context(cafile=os.path.join(D1, "pki", "ca.crt"))
PORTS = [free_port(), free_port()]


def start(data, port):
    conf = os.path.join(T.path, "msgstored-%d.conf" % port)
    with open(conf, "w") as f:
        f.write("[cpm-msgstored]\nworkers = 2\nidle_poll = 100\nauth_max_failures = 200\n"
                "request_timeout = 10\n")
    return Daemon([os.path.join(BIN, "cpm-msgstored"), "--data", data, "--store", URL,
                   "--config", conf, "--listen", "imaps:127.0.0.1:%d" % port],
                  os.path.join(T.path, "msgstored-%d.log" % port), ready_port=port)


started, errors = [None, None], []


def start_one(i):
    try:
        started[i] = start([D1, D2][i], PORTS[i])
    except RuntimeError as e:
        errors.append(str(e))


threads = [threading.Thread(target=start_one, args=(i,)) for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
servers = [s for s in started if s]
if not C.ok(not errors and len(servers) == 2,
            "two cpm-msgstored instances started together on one PostgreSQL store", errors):
    cleanup()
    C.finish()
A, B = PORTS


def login(port, user):
    m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=CTX, timeout=30)
    m.login(user, user + "-pw")
    return m


def message(tag, size=300):
    head = ("From: alice@example.com\r\nTo: bob@example.com\r\nSubject: %s\r\n"
            "Message-ID: <%s@example.com>\r\n\r\n" % (tag, tag)).encode()
    return head + (("%s " % tag) * (size // (len(tag) + 1) + 1)).encode() + b"\r\n"


def fetch_bodies(m, mailbox):
    """{uid: body} of a mailbox (read-only)."""
    typ, _ = m.select(mailbox, readonly=True)
    if typ != "OK":
        return None
    typ, data = m.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
    out = {}
    for item in data or []:
        if isinstance(item, tuple):
            out[int(re.search(rb"UID (\d+)", item[0]).group(1))] = item[1]
    return out


# ---- a mailbox and a message through A, read through B -------------------------
a = login(A, "alice")
C.eq(a.create("Work")[0], "OK", "alice CREATE Work through A")
first = message("first-message", 5000)
typ, data = a.append("Work", None, None, first)
C.ok(typ == "OK" and APPENDUID.search(data[0]), "APPEND to Work through A", data)
b = login(B, "alice")
typ, data = b.list()
C.ok(typ == "OK" and any(b'"Work"' in d or d.endswith(b" Work") for d in data),
     "Work LISTed through B", data)
got = fetch_bodies(b, "Work")
C.ok(got == {1: first}, "the message sealed through A is FETCHed through B byte for byte",
     {k: len(v) for k, v in (got or {}).items()})

# ---- APPENDs racing on both instances ---------------------------------------------
PER_CLIENT, CLIENTS = 15, 4
acks, failures = {}, []
lock = threading.Lock()


def appender(i):
    try:
        m = login(PORTS[i % 2], "alice")
        for j in range(PER_CLIENT):
            body = message("race-%d-%d" % (i, j), 200 + 100 * j)
            typ, data = m.append("INBOX", None, None, body)
            mo = APPENDUID.search(data[0] or b"") if data and data[0] else None
            with lock:
                if typ != "OK" or not mo:
                    failures.append((typ, data))
                elif int(mo.group(2)) in acks:
                    failures.append("UID %s acknowledged twice" % mo.group(2))
                else:
                    acks[int(mo.group(2))] = body
        m.logout()
    except (OSError, imaplib.IMAP4.error) as e:
        with lock:
            failures.append(str(e))


threads = [threading.Thread(target=appender, args=(i,)) for i in range(CLIENTS)]
for t in threads:
    t.start()
for t in threads:
    t.join(120)
N = PER_CLIENT * CLIENTS
C.ok(not failures and len(acks) == N, "%d APPENDs through both instances at once, all "
     "acknowledged with distinct UIDs" % N, failures[:5])
C.eq(sorted(acks), list(range(1, N + 1)), "UIDs 1..%d without a gap" % N)
for port, name in ((A, "A"), (B, "B")):
    m = login(port, "alice")
    got = fetch_bodies(m, "INBOX")
    m.logout()
    C.ok(got == acks, "every acknowledged APPEND read back through %s with its body" % name,
         "%d of %d" % (len(got or {}), N))

# ---- flags and CONDSTORE across instances ----------------------------------------
a.select("INBOX")
typ, data = a.uid("STORE", "1", "+FLAGS", r"(\Flagged)")
C.eq(typ, "OK", r"STORE \Flagged through A")
b.select("INBOX")
typ, data = b.uid("FETCH", "1", "(FLAGS MODSEQ)")
txt = b"".join(d if isinstance(d, bytes) else d[0] for d in data or [])
C.ok(typ == "OK" and rb"\Flagged" in txt, r"\Flagged seen through B", data)
mo = re.search(rb"MODSEQ \((\d+)\)", txt)
ms = int(mo.group(1)) if mo else 0
typ, data = b.uid("STORE", "1", "(UNCHANGEDSINCE %d) +FLAGS" % (ms - 1), r"(\Seen)")
typ, data = b.uid("FETCH", "1", "(FLAGS)")
txt = b"".join(d if isinstance(d, bytes) else d[0] for d in data or [] if d)
C.ok(ms > 0 and rb"\Seen" not in txt,
     "UNCHANGEDSINCE before A's change refused through B (CONDSTORE across instances)", data)
b.uid("STORE", "1", "(UNCHANGEDSINCE %d) +FLAGS" % ms, r"(\Seen)")
typ, data = a.uid("FETCH", "1", "(FLAGS)")
txt = b"".join(d if isinstance(d, bytes) else d[0] for d in data or [] if d)
C.ok(rb"\Seen" in txt, "UNCHANGEDSINCE of the current MODSEQ accepted through B, seen by A",
     data)

# ---- ACLs: granted through A, enforced by B ---------------------------------------
C.eq(a.setacl("Work", "bob", "lr")[0], "OK", "alice SETACL Work bob lr through A")
bb = login(B, "bob")
typ, data = bb.list('"Other Users/"', "*")
C.ok(any(b"Other Users/alice/Work" in d for d in data or []),
     "bob sees Other Users/alice/Work through B", data)
got = fetch_bodies(bb, '"Other Users/alice/Work"')
C.ok(got == {1: first}, "bob reads alice's Work through B")
typ, data = bb.append('"Other Users/alice/Work"', None, None, message("from-bob"))
C.ok(typ == "NO", "bob may not APPEND there (no 'i' right)", (typ, data))
C.eq(a.deleteacl("Work", "bob")[0], "OK", "alice DELETEACL Work bob through A")
typ, data = bb.select('"Other Users/alice/Work"', readonly=True)
C.ok(typ == "NO", "revoked through A: bob's SELECT through B refused", (typ, data))
bb.logout()

# ---- IDLE on B sees an APPEND through A -------------------------------------------
s = CTX.wrap_socket(socket.create_connection(("127.0.0.1", B), timeout=15),
                    server_hostname="127.0.0.1")
f = s.makefile("rb")
f.readline()
s.sendall(b"a LOGIN alice alice-pw\r\nb SELECT INBOX\r\n")
exists = None
while True:
    ln = f.readline()
    if ln.endswith(b" EXISTS\r\n"):
        exists = int(ln.split()[1])
    if ln.startswith(b"b ") or not ln:
        break
s.sendall(b"c IDLE\r\n")
C.ok(f.readline().startswith(b"+"), "IDLE on B")
typ, data = a.append("INBOX", None, None, message("during-idle"))
s.settimeout(15)
try:
    ln = f.readline()
except OSError as e:
    ln = str(e).encode()
C.eq(ln.strip(), b"* %d EXISTS" % (exists + 1 if exists is not None else -1),
     "IDLE on B reports the APPEND made through A")
s.sendall(b"DONE\r\nd LOGOUT\r\n")
s.close()

# ---- EXPUNGE through B, gone for A ------------------------------------------------
b.select("INBOX")
b.uid("STORE", "2", "+FLAGS", r"(\Deleted)")
C.eq(b.expunge()[0], "OK", "EXPUNGE through B")
typ, data = a.uid("FETCH", "2", "(UID)")
txt = b" ".join(d if isinstance(d, bytes) else d[0] for d in data or [] if d)
C.ok(typ == "OK" and b"UID 2 " not in txt and b"UID 2)" not in txt, "UID 2 gone for A", data)
typ, data = a.noop()
C.ok(typ == "OK" and a.response("EXPUNGE")[1] not in ([None], []),
     "A's session is told of the EXPUNGE made through B", data)
for m in (a, b):
    m.logout()

p = ctl(D2, "--store", URL, "check")
C.eq(p.returncode, 0, "omasecctl check on the shared store" + ("\n" + p.stdout + p.stderr
                                                              if p.returncode else ""))
codes = [srv.stop() for srv in servers]
C.eq(codes, [0, 0], "both instances exit cleanly on SIGTERM")
logs = "".join(srv.read_log() for srv in servers)
C.ok("level=error" not in logs and "AddressSanitizer" not in logs and "runtime error" not in logs,
     "no errors in the daemons' logs", logs[-3000:])
C.ok("alice-pw" not in logs and "bob-pw" not in logs, "no password in the logs")
servers = []
cleanup()
C.finish()
