#!/usr/bin/env python3
"""kill -9 of cpm-msgstored under a write-heavy APPEND load, then restart.

Client threads (imaplib, half over STARTTLS, half over IMAPS) APPEND
messages of random sizes with unique bodies and write down every APPEND
acknowledged with OK [APPENDUID validity uid], and the one in flight when
the daemon died.  At a random moment the daemon gets SIGKILL.  Then, on the
store as the crash left it: `omasecctl check` and SQLite's
PRAGMA integrity_check; every message row has its body row.  Restart: every
acknowledged message is there under its UID (same UIDVALIDITY) with exactly
the body acknowledged (FETCH BODY.PEEK[]), and every other message is a
whole copy of an APPEND that was in flight (none half-written, none nobody
sent).  UIDs are never reused across rounds.  Several rounds on one store."""
import imaplib
import os
import random
import re
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from faults import CpmMsgstored, scale  # noqa: E402
from osectest import Checks, TempDir  # noqa: E402

C = Checks()
T = TempDir()
SEED = int(os.environ.get("OSEC_FAULTS_SEED", str(int(time.time()))))
RNG = random.Random(SEED)
print("# seed %d (OSEC_FAULTS_SEED to repeat)" % SEED)
THREADS = scale(6, 3)
ROUNDS = int(os.environ.get("OSEC_FAULTS_ROUNDS", 2))
ACKS_BEFORE_KILL = scale(10, 5) * THREADS
APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")


class Ledger:
    def __init__(self, t):
        self.t = t
        self.user = "u%d" % t
        self.acked = {}       # uid -> body
        self.validity = None
        self.maybe = []       # bodies whose APPEND was in flight at the kill
        self.acks = 0
        self.errors = []
        self.down_at = None


def body(led, rnd, i, rng):
    """A message whose every byte says who wrote it (a torn one cannot pass
    for another)."""
    tag = "%s-r%d-%d" % (led.user, rnd, i)
    n = rng.choice((200, 2000, 20000, 120000))
    line = ("%s %s\r\n" % (tag, "x" * 60)).encode()
    text = line * (n // len(line) + 1)
    return (b"From: %s@example.com\r\nTo: sink@example.com\r\nSubject: %s\r\n"
            b"Message-ID: <%s@example.com>\r\n\r\n" % (led.user.encode(), tag.encode(),
                                                        tag.encode())) + text


def worker(srv, led, rnd, stop):
    rng = random.Random(SEED * 1000 + rnd * 100 + led.t)
    try:
        m = srv.login(led.user, starttls=led.t % 2 == 1)
    except (OSError, imaplib.IMAP4.error) as e:
        led.errors.append("login: %s" % e)
        return
    i = 0
    try:
        while not stop.is_set():
            i += 1
            b = body(led, rnd, i, rng)
            led.maybe.append(b)
            typ, data = m.append("INBOX", None, None, b)
            mo = APPENDUID.search(data[0] or b"") if data and data[0] else None
            if typ != "OK" or not mo:
                led.errors.append("APPEND: %s %r" % (typ, data))
                return
            led.maybe.remove(b)
            v, uid = int(mo.group(1)), int(mo.group(2))
            if led.validity not in (None, v):
                led.errors.append("UIDVALIDITY changed %d -> %d" % (led.validity, v))
            if uid in led.acked:
                led.errors.append("UID %d given twice" % uid)
            led.validity = v
            led.acked[uid] = b
            led.acks += 1
    except (OSError, EOFError, imaplib.IMAP4.abort, imaplib.IMAP4.error) as e:
        led.down_at = (time.time(), str(e))
    finally:
        try:
            m.shutdown()
        except OSError:
            pass


def fetch_all(srv, user):
    """{uid: body} of the user's INBOX, and UIDVALIDITY."""
    m = srv.login(user)
    try:
        m.select("INBOX", readonly=True)
        validity = int(m.response("UIDVALIDITY")[1][0])
        typ, data = m.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
        out = {}
        for item in data:
            if isinstance(item, tuple):
                mo = re.search(rb"UID (\d+)", item[0])
                out[int(mo.group(1))] = item[1]
        return out, validity
    finally:
        m.logout()


def store_rows(path):
    """PRAGMA integrity_check, and message rows without a body row and the
    other way round (a half-written APPEND)."""
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        ic = db.execute("PRAGMA integrity_check").fetchall()
        orphans = db.execute(
            "SELECT (SELECT count(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM "
            "message_bodies b WHERE b.mailbox_id = m.mailbox_id AND b.uid = m.uid)), "
            "(SELECT count(*) FROM message_bodies b WHERE NOT EXISTS (SELECT 1 FROM messages m "
            "WHERE b.mailbox_id = m.mailbox_id AND b.uid = m.uid))").fetchone()
        return ic, orphans
    finally:
        db.close()


def verify(srv, led):
    bad = []
    got, validity = fetch_all(srv, led.user)
    if led.validity is not None and validity != led.validity:
        bad.append("%s: UIDVALIDITY %d, acknowledged under %d" % (led.user, validity,
                                                                   led.validity))
    for uid, b in led.acked.items():
        if uid not in got:
            bad.append("%s: acknowledged UID %d lost" % (led.user, uid))
        elif got[uid] != b:
            bad.append("%s: UID %d has %d bytes, acknowledged %d bytes%s"
                       % (led.user, uid, len(got[uid]), len(b),
                          " (a prefix: half-written)" if b.startswith(got[uid]) else ""))
    for uid in sorted(set(got) - set(led.acked)):
        if got[uid] in led.maybe:   # an APPEND in flight at the kill landed whole
            led.maybe.remove(got[uid])
            led.acked[uid] = got[uid]
        else:
            bad.append("%s: UID %d (%d bytes) is neither acknowledged nor a whole in-flight "
                       "APPEND" % (led.user, uid, len(got[uid])))
    led.maybe = []
    return bad, len(got)


srv = CpmMsgstored(T.path, users=THREADS)
srv.setup()
srv.start()
db_path = os.path.join(srv.data, "omasec.db")
ledgers = [Ledger(t) for t in range(THREADS)]
for rnd in range(ROUNDS):
    stop = threading.Event()
    for led in ledgers:
        led.acks, led.errors, led.down_at = 0, [], None
    ths = [threading.Thread(target=worker, args=(srv, led, rnd, stop)) for led in ledgers]
    for th in ths:
        th.start()
    deadline = time.time() + scale(30, 90)
    while sum(led.acks for led in ledgers) < ACKS_BEFORE_KILL and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(RNG.uniform(0.0, scale(0.8, 2.0)))
    killed_at = time.time()
    acks = sum(led.acks for led in ledgers)
    srv.d.proc.kill()
    srv.d.proc.wait()
    srv.d.log.close()
    stop.set()
    for th in ths:
        th.join(30)
    C.ok(not any(th.is_alive() for th in ths), "round %d: every client noticed the kill" % rnd)
    C.ok(acks >= ACKS_BEFORE_KILL, "round %d: killed under load after %d acknowledged APPENDs "
         "(%d in flight)" % (rnd, acks, sum(len(led.maybe) for led in ledgers)))
    errs = [e for led in ledgers for e in led.errors]
    early = [led.down_at for led in ledgers if led.down_at and led.down_at[0] < killed_at - 0.05]
    C.ok(not errs and not early, "round %d: no error while the daemon was up" % rnd,
         (errs + early)[:5])

    ok, out = srv.check_store()
    C.ok(ok, "round %d: omasecctl check passes on the store the crash left" % rnd, out)
    ic, orphans = store_rows(db_path)
    C.eq(ic, [("ok",)], "round %d: PRAGMA integrity_check" % rnd)
    C.eq(orphans, (0, 0), "round %d: no message row without its body, no body without its "
         "message" % rnd)
    srv.start()
    bad, n = [], 0
    for led in ledgers:
        b, k = verify(srv, led)
        bad += b
        n += k
    C.ok(not bad, "round %d: every acknowledged APPEND is there with the same body, nothing "
         "half-written or unasked (%d messages)" % (rnd, n), bad[:10])

ok, out = srv.check_store()
C.ok(ok, "omasecctl check passes after the last round", out)
rc, tail = srv.stop()
C.ok(rc == 0, "cpm-msgstored stops cleanly after the rounds", tail)
T.cleanup()
C.finish()
