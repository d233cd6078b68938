#!/usr/bin/env python3
"""CPNS Service Groups, end to end: a real cpns-server, a PN GW and PNEs
(cpns-pne) exchanging group messages over UDP on loopback, and a hostile
python sender: forged, replayed, non-member and malformed datagrams are
dropped and counted; removing a member rotates the group key so its new
messages are dropped and it can no longer fetch the key; revoking an entity
rotates its groups.  The group endpoints are also driven raw with curl."""
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from osectest import BIN, Checks, Daemon, TempDir, ctl, free_port  # noqa: E402

C = Checks()
T = TempDir()
S = os.path.join(T.path, "srv")
CA = os.path.join(S, "pki", "ca.crt")
SPORT = free_port()
SURL = "https://127.0.0.1:%d" % SPORT


def run(*argv, stdin=None, timeout=60):
    p = subprocess.run([str(a) for a in argv], input=stdin, capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def pne(data, *args, stdin=None):
    return run(os.path.join(BIN, "cpns-pne"), "--data", os.path.join(T.path, data), *args,
               stdin=stdin)


def enroll(data, entity, user, pw, typ="pne"):
    return pne(data, "enroll", "--server", SURL, "--entity", entity, "--user", user,
               "--cafile", CA, "--type", typ, stdin=pw + "\n")


def curl(method, path, user, data=None):
    argv = ["curl", "-sS", "--cacert", CA, "-o", "-", "-w", "\n%{http_code}", "--digest",
            "--user", user, "-X", method]
    if data is not None:
        argv += ["-H", "Content-Type: application/json", "--data-binary", data]
    p = subprocess.run(argv + [SURL + path], capture_output=True, text=True, timeout=30)
    body, _, code = p.stdout.rpartition("\n")
    try:
        js = json.loads(body) if body.strip() else None
    except ValueError:
        js = None
    return int(code or 0), js


class Receiver:
    """cpns-pne group recv in the background; stdout/stderr in files."""

    def __init__(self, data, port, timeout=8, count=None, host="127.0.0.1"):
        self.out = os.path.join(T.path, "recv-%s-%d.out" % (data, time.time_ns()))
        self.err = self.out[:-4] + ".err"
        argv = [os.path.join(BIN, "cpns-pne"), "--data", os.path.join(T.path, data), "group",
                "recv", "--group", "g1", "--listen", "%s:%d" % (host, port),
                "--timeout", str(timeout)] + (["--count", str(count)] if count else [])
        self.p = subprocess.Popen(argv, stdout=open(self.out, "wb"), stderr=open(self.err, "wb"))
        deadline = time.time() + 10
        while time.time() < deadline and "listening" not in self.stderr():
            if self.p.poll() is not None:
                break
            time.sleep(0.05)

    def stderr(self):
        with open(self.err, errors="replace") as f:
            return f.read()

    def stdout(self):
        with open(self.out, errors="replace") as f:
            return f.read()

    def wait_for(self, text, seconds=5.0):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if text in self.stdout():
                return True
            time.sleep(0.05)
        return False

    def finish(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        self.p.wait(15)
        return self.p.returncode, self.stdout(), self.stderr()


def udp_send(port, data):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(data, ("127.0.0.1", port))
    s.close()


def message(group, epoch, sender, seq, payload, mac=None):
    """The documented layout (docs/cpns-protocol.md), built independently."""
    g, snd = group.encode(), sender.encode()
    head = (b"OG\x01\x00" + bytes([len(g)]) + g + struct.pack(">I", epoch) + bytes([len(snd)]) +
            snd + struct.pack(">QH", seq, len(payload)) + payload)
    return head + (mac if mac is not None else os.urandom(16))


def parse(d):
    """Decode a captured datagram with the documented layout."""
    assert d[:4] == b"OG\x01\x00"
    i = 4
    gl = d[i]
    group = d[i + 1:i + 1 + gl].decode()
    i += 1 + gl
    epoch, = struct.unpack(">I", d[i:i + 4])
    i += 4
    sl = d[i]
    sender = d[i + 1:i + 1 + sl].decode()
    i += 1 + sl
    seq, plen = struct.unpack(">QH", d[i:i + 10])
    i += 10
    payload = d[i:i + plen]
    return {"group": group, "epoch": epoch, "sender": sender, "seq": seq, "payload": payload,
            "mac_len": len(d) - i - plen}


def capture(data, text):
    """Have `data` send one group message to a python socket; return the bytes."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    rc, out, err = pne(data, "group", "send", "--group", "g1", "--to",
                       "127.0.0.1:%d" % s.getsockname()[1], text)
    try:
        d = s.recv(4096)
    except socket.timeout:
        d = b""
    s.close()
    return rc, out + err, d


# ---- setup ------------------------------------------------------------------
ctl(S, "init")
ctl(S, "user", "add", "alice", stdin="alice-pw\n")
ctl(S, "user", "add", "bob", stdin="bob-pw\n")
srv = Daemon([os.path.join(BIN, "cpns-server"), "--data", S, "--listen", "127.0.0.1:%d" % SPORT,
              "--workers", "2"], os.path.join(T.path, "srv.log"), ready_port=SPORT)
for data, entity, user, typ in (("gw", "gw-1", "alice", "gw"), ("watch", "watch-1", "alice", "pne"),
                                ("tv", "tv-1", "alice", "pne"), ("car", "car-1", "alice", "pne"),
                                ("spy", "spy-1", "alice", "pne"), ("bobw", "watch-b", "bob", "pne")):
    rc, out, err = enroll(data, entity, user, user + "-pw", typ)
    C.ok(rc == 0, "enrol %s" % entity, out + err)

# ---- creation and key distribution ---------------------------------------------
rc, out, err = pne("watch", "group", "create", "--group", "g1", "tv-1")
C.ok(rc == 1 and "403" in err and "PN Gateway" in err, "a PNE cannot create a group", out + err)
rc, out, err = pne("gw", "group", "create", "--group", "g1", "watch-1", "watch-b")
C.ok(rc == 1 and "403" in err and "watch-b" in err,
     "a group with another user's PNE is refused (no pairing grant)", out + err)
rc, out, err = pne("gw", "group", "create", "--group", "g1", "watch-1", "tv-1", "car-1")
C.eq((rc, out.strip()), (0, "created group=g1 epoch=1"), "the GW creates group g1")
rc, out, err = pne("gw", "group", "create", "--group", "g1", "watch-1")
C.ok(rc == 1 and "409" in err, "the same group id again is 409", out + err)
for d in ("watch", "tv", "car"):
    rc, out, err = pne(d, "group", "key", "--group", "g1")
    C.eq((rc, out.strip()), (0, "group=g1 epoch=1 members=car-1,gw-1,tv-1,watch-1"),
         "%s fetches the group key (wrapped for it)" % d)
rc, out, err = pne("spy", "group", "key", "--group", "g1")
C.ok(rc == 1 and "403" in err, "a non-member cannot fetch the key", out + err)
rc, out, err = pne("spy", "group", "send", "--group", "g1", "--to", "127.0.0.1:9", "hi")
C.ok(rc == 1 and "403" in err, "a non-member has no key to send with", out + err)
rc, out, err = pne("watch", "group", "key", "--group", "nope")
C.ok(rc == 1 and "404" in err, "an unknown group is 404", out + err)

# ---- messages ------------------------------------------------------------------------
RPORT = free_port()
tv = Receiver("tv", RPORT, timeout=15)
C.ok("listening group=g1 epoch=1" in tv.stderr(), "tv listens", tv.stderr())
rc, out, err = pne("watch", "group", "send", "--group", "g1", "--to", "127.0.0.1:%d" % RPORT,
                   "hello from the watch")
C.eq((rc, out.strip()), (0, "sent group=g1 epoch=1 seq=1"), "watch sends seq 1")
C.ok(tv.wait_for("accepted from=watch-1 seq=1 hello from the watch"), "tv accepts it",
     tv.stdout() + tv.stderr())
rc, out, d = capture("watch", "second")
m = parse(d) if d else {}
C.ok(rc == 0 and m.get("group") == "g1" and m.get("epoch") == 1 and m.get("sender") == "watch-1"
     and m.get("seq") == 2 and m.get("payload") == b"second" and m.get("mac_len") == 16,
     "the datagram has the documented layout", "%r %r" % (out, m))
udp_send(RPORT, d)
C.ok(tv.wait_for("accepted from=watch-1 seq=2 second"), "a captured datagram is accepted once")
udp_send(RPORT, d)                                               # replayed
bad = bytearray(d)
bad[-20] ^= 1                                                    # payload bit flip: forged
udp_send(RPORT, bytes(bad))
udp_send(RPORT, message("g1", 1, "watch-1", 50, b"forged", os.urandom(16)))   # forged MAC
udp_send(RPORT, message("g1", 1, "spy-1", 1, b"from the spy"))               # enrolled non-member
udp_send(RPORT, message("g1", 1, "mallory", 1, b"random name"))              # unknown sender
udp_send(RPORT, message("g1", 99, "watch-1", 51, b"future epoch"))           # unknown epoch
udp_send(RPORT, d[:-1])                                                       # truncated
udp_send(RPORT, b"GET / HTTP/1.1\r\n\r\n")                                   # not a group message
rc, out, err = pne("car", "group", "send", "--group", "g1", "--to", "127.0.0.1:%d" % RPORT,
                   "car says hi")
C.eq((rc, out.strip()), (0, "sent group=g1 epoch=1 seq=1"), "car sends its own seq 1")
C.ok(tv.wait_for("accepted from=car-1 seq=1 car says hi"), "tv accepts the car's message",
     tv.stdout() + tv.stderr())
rc, out, err = tv.finish()
acc = [l for l in out.splitlines() if l.startswith("accepted")]
C.eq(acc, ["accepted from=watch-1 seq=1 hello from the watch", "accepted from=watch-1 seq=2 second",
           "accepted from=car-1 seq=1 car says hi"], "exactly the three genuine messages")
C.ok("dropped forged=3 replayed=1 nonmember=2 malformed=2" in out,
     "forged (flip, bad MAC, unknown epoch), replayed, non-member, malformed: counted", out + err)
C.ok("verdict=replayed" in err and "verdict=nonmember" in err, "drops are logged with a reason",
     err)

# multicast: one datagram, every member listening on the group address gets it
def multicast_works(addr, port):
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        r.bind((addr, port))
        r.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                     socket.inet_aton(addr) + socket.inet_aton("0.0.0.0"))
        r.settimeout(1)
        udp_send_to(addr, port, b"probe")
        return r.recv(16) == b"probe"
    except OSError:
        return False
    finally:
        r.close()


def udp_send_to(addr, port, data):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(data, (addr, port))
    s.close()


MPORT = free_port()
MSENT = 0
if multicast_works("239.255.77.1", MPORT):
    rx = [Receiver(d, MPORT, timeout=10, count=1, host="239.255.77.1") for d in ("tv", "gw")]
    rc, out, err = pne("watch", "group", "send", "--group", "g1", "--to", "239.255.77.1:%d" % MPORT,
                       "to everyone")
    got = [r.finish()[1] for r in rx]
    MSENT = 1
    C.ok(all("accepted from=watch-1 seq=3 to everyone" in o for o in got),
         "a multicast datagram reaches every listening member", repr(got) + out + err)
else:
    print("skip - no multicast route on this host")

# replay protection survives a restart of the receiver
tv = Receiver("tv", RPORT, timeout=3)
udp_send(RPORT, d)
rc, out, err = tv.finish()
C.ok("dropped forged=0 replayed=1 nonmember=0 malformed=0" in out and "accepted" not in out,
     "a restarted receiver still refuses the replay (state kept)", out + err)
rc, out, err = pne("watch", "group", "send", "--group", "g1", "--to", "127.0.0.1:9", "x")
C.eq(out.strip(), "sent group=g1 epoch=1 seq=%d" % (3 + MSENT),
     "the sequence number never repeats across runs")

# ---- removal rotates the key -------------------------------------------------------
tv = Receiver("tv", RPORT, timeout=15)                  # still holds epoch 1
rc, out, err = pne("watch", "group", "remove", "--group", "g1", "tv-1")
C.ok(rc == 1 and "403" in err, "a member cannot remove another member", out + err)
rc, out, err = pne("gw", "group", "remove", "--group", "g1", "car-1")
C.eq((rc, out.strip()), (0, "removed group=g1 member=car-1 epoch=2"), "the GW removes car-1")
rc, out, err = pne("car", "group", "key", "--group", "g1")
C.ok(rc == 1 and "403" in err, "the removed member can no longer fetch the key", out + err)
rc, out, err = pne("watch", "group", "key", "--group", "g1")
C.eq(out.strip(), "group=g1 epoch=2 members=gw-1,tv-1,watch-1", "watch fetches epoch 2")
pne("watch", "group", "send", "--group", "g1", "--to", "127.0.0.1:%d" % RPORT, "epoch two")
C.ok(tv.wait_for("accepted from=watch-1 seq=%d epoch two" % (4 + MSENT)),
     "tv sees a newer epoch, fetches the key and accepts", tv.stdout() + tv.stderr())
rc, out, err = pne("car", "group", "send", "--group", "g1", "--to", "127.0.0.1:%d" % RPORT,
                   "car is still here")
C.ok(rc == 0 and "epoch=1" in out, "the removed member still sends with its old key", out + err)
udp_send(RPORT, message("g1", 2, "car-1", 9, b"car claims epoch 2"))
time.sleep(0.5)
rc, out, err = tv.finish()
C.ok("car is still here" not in out and "car claims" not in out and
     "dropped forged=1 replayed=0 nonmember=1 malformed=0" in out,
     "the removed member's new messages are dropped (old epoch: forged; new epoch: non-member)",
     out + err)
rc, out, err = pne("car", "group", "recv", "--group", "g1", "--listen", "127.0.0.1:%d" % RPORT,
                   "--timeout", "1")
C.ok(rc == 1 and "403" in err, "the removed member cannot start a receiver", out + err)
rc, out, err = pne("gw", "group", "remove", "--group", "g1", "gw-1")
C.ok(rc == 1 and "403" in err and "creator" in err, "the creator cannot leave its group",
     out + err)
rc, out, err = pne("tv", "group", "remove", "--group", "g1", "tv-1")
C.eq((rc, out.strip()), (0, "removed group=g1 member=tv-1 epoch=3"), "a member leaves by itself")

# ---- raw HTTP: the endpoints as documented ------------------------------------------
code, js = curl("POST", "/cpns/v1/entities/raw-gw/eukey", "alice:alice-pw", '{"type":"gw"}')
RAW = "raw-gw:%s" % (js or {}).get("eukey", "")
code, js = curl("POST", "/cpns/v1/groups", RAW, '{"group":"g2","members":["watch-1"]}')
C.eq((code, js), (201, {"group": "g2", "creator": "raw-gw", "epoch": 1,
                        "members": ["raw-gw", "watch-1"]}), "POST /cpns/v1/groups is 201")
code, js = curl("GET", "/cpns/v1/groups/g2/key", RAW)
C.ok(code == 200 and js.get("epoch") == 1 and len(js.get("sealed", "")) == 80,
     "GET key: epoch and the 60-byte wrapped key", js)
for body, what in (('{"group":"g3"}', "no members"), ('{"group":"g/3","members":["a"]}', "bad id"),
                   ('{"group":"g3","members":["tv-1"],"x":1}', "unknown member"),
                   ('{"group":"g3","members":["tv-1","tv-1"]}', "duplicate member"),
                   ('[1]', "not an object")):
    code, js = curl("POST", "/cpns/v1/groups", RAW, body)
    C.eq(code, 400, "POST with %s is 400" % what)
code, js = curl("GET", "/cpns/v1/groups", RAW)
C.ok(code == 200 and [g["group"] for g in js.get("groups", [])] == ["g2"],
     "GET /cpns/v1/groups lists the caller's groups", js)
code, js = curl("DELETE", "/cpns/v1/groups/g2/members/nobody", RAW)
C.eq(code, 404, "removing a non-member is 404")
code, js = curl("PUT", "/cpns/v1/groups/g2/key", RAW)
C.eq(code, 405, "other methods are 405")

# ---- revoking an entity takes it out of its groups ------------------------------------
code, js = curl("DELETE", "/cpns/v1/entities/watch-1", "alice:alice-pw")
C.eq(code, 200, "alice revokes watch-1")
code, js = curl("GET", "/cpns/v1/groups/g2/key", RAW)
C.ok(code == 200 and js.get("epoch") == 2 and js.get("members") == ["raw-gw"],
     "the revoked entity left g2 (new epoch)", js)
rc, out, err = pne("gw", "group", "key", "--group", "g1")
C.eq(out.strip(), "group=g1 epoch=4 members=gw-1", "and g1 rotated too")

audit = ctl(S, "audit", "--limit", "200").stdout
for ev in ("group.create", "group.key", "group.leave", "authz.deny"):
    C.ok(ev in audit, "audit has %s" % ev, audit[-2000:])
C.ok(RAW.split(":")[1] not in srv.read_log(), "no key in the server log")
C.eq(srv.stop(), 0, "cpns-server stops cleanly")
T.cleanup()
C.finish()
