"""Shared helpers for the fault and load tests (python3 standard library only).

- an independent AES-256-GCM (decrypt only) to open sealed values without
  libomasec: device state records (docs/pn-establishment.md) and wrapped
  onetime keys (docs/cpns-protocol.md), so a test can prove that what a
  daemon left on disk or in the store opens to exactly what was acknowledged;
- HttpsDigest: a kept-alive HTTPS client with RFC 7616 Digest (own nonce and
  nonce-count per connection);
- process probes (VmRSS, open descriptors), scaling under sanitizers, a tmpfs
  mount that can always be undone, filling a file system;
- hostile connections (silent, half a ClientHello, half a request, idle)
  watched by a thread that stamps when the daemon cuts each one;
- AsyncLoad: many kept-alive TLS connections driven by one selector per
  process, protocol-agnostic, and run_load() around it (RSS and descriptor
  samples of the daemon);
- TARGETS: one Target subclass per daemon (cpns-server, cpm-msgstored,
  cpm-sipd).  A new daemon joins the flood test (and the load test, with a
  load_proto()) by adding an entry; its kill test supplies its own workload
  and checks;
- IMAP (tagged_reply, ImapLoop: EXTERNAL + SELECT + FETCH) and SIP
  (sip_register, sip_exchange, SipRegisterLoop over TLS, SipUdpClient)
  clients for the CPM daemons.
"""
import hmac
import http.client
import json
import os
import queue
import random
import selectors
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osectest import (BIN, Daemon, ctl, digest_header, free_port,  # noqa: E402
                      free_udp_tcp_port, hkdf_sha256, parse_challenges)

SANITIZE = os.environ.get("OSEC_SANITIZE", "OFF").upper() in ("ON", "1", "TRUE", "YES")


def scale(normal, sanitized):
    """The figure for this build: sanitizers make the daemons several times slower."""
    return sanitized if SANITIZE else normal


# ---- AES-256 (encryption only) and GCM decryption -------------------------

def _rotl8(x, s):
    return ((x << s) | (x >> (8 - s))) & 0xFF


def _make_sbox():
    sbox = [0] * 256
    p = q = 1
    while True:
        p = (p ^ (p << 1) ^ (0x1B if p & 0x80 else 0)) & 0xFF
        q ^= q << 1
        q ^= q << 2
        q ^= q << 4
        q &= 0xFF
        if q & 0x80:
            q ^= 0x09
        sbox[p] = q ^ _rotl8(q, 1) ^ _rotl8(q, 2) ^ _rotl8(q, 3) ^ _rotl8(q, 4) ^ 0x63
        if p == 1:
            break
    sbox[0] = 0x63
    return sbox


_SBOX = _make_sbox()


def _xt(a):
    return ((a << 1) ^ 0x1B) & 0xFF if a & 0x80 else a << 1


def _expand_key(key):
    assert len(key) == 32
    w = [list(key[i:i + 4]) for i in range(0, 32, 4)]
    rcon = 1
    for i in range(8, 60):
        t = list(w[i - 1])
        if i % 8 == 0:
            t = [_SBOX[b] for b in t[1:] + t[:1]]
            t[0] ^= rcon
            rcon = _xt(rcon)
        elif i % 8 == 4:
            t = [_SBOX[b] for b in t]
        w.append([a ^ b for a, b in zip(w[i - 8], t)])
    return [sum(w[r * 4:r * 4 + 4], []) for r in range(15)]


def _aes_block(rk, block):
    s = [b ^ k for b, k in zip(block, rk[0])]
    for r in range(1, 15):
        s = [_SBOX[b] for b in s]
        s = [s[(i + 4 * (i % 4)) % 16] for i in range(16)]  # ShiftRows (column-major)
        if r != 14:
            m = []
            for c in range(4):
                a = s[4 * c:4 * c + 4]
                x = a[0] ^ a[1] ^ a[2] ^ a[3]
                m += [a[i] ^ x ^ _xt(a[i] ^ a[(i + 1) % 4]) for i in range(4)]
            s = m
        s = [b ^ k for b, k in zip(s, rk[r])]
    return bytes(s)


def _gf_mul(x, y):
    r, v = 0, y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            r ^= v
        v = (v >> 1) ^ (0xE1 << 120) if v & 1 else v >> 1
    return r


def _ghash(h, data):
    y = 0
    for i in range(0, len(data), 16):
        blk = data[i:i + 16].ljust(16, b"\0")
        y = _gf_mul(y ^ int.from_bytes(blk, "big"), h)
    return y


class IntegrityError(Exception):
    pass


def aes256gcm_open(key, nonce, aad, ct_tag):
    """AES-256-GCM decryption with a 12-byte nonce; IntegrityError if the tag fails."""
    if len(nonce) != 12 or len(ct_tag) < 16:
        raise IntegrityError("bad nonce or short ciphertext")
    rk = _expand_key(key)
    ct, tag = ct_tag[:-16], ct_tag[-16:]
    h = int.from_bytes(_aes_block(rk, bytes(16)), "big")
    pad = lambda b: b + bytes(-len(b) % 16)  # noqa: E731
    s = _ghash(h, pad(aad) + pad(ct) + struct.pack(">QQ", len(aad) * 8, len(ct) * 8))
    j0 = nonce + b"\0\0\0\1"
    want = (s ^ int.from_bytes(_aes_block(rk, j0), "big")).to_bytes(16, "big")
    if not hmac.compare_digest(want, tag):
        raise IntegrityError("authentication tag mismatch")
    out = bytearray()
    for i in range(0, len(ct), 16):
        ks = _aes_block(rk, nonce + struct.pack(">I", 2 + i // 16))
        out += bytes(a ^ b for a, b in zip(ct[i:i + 16], ks))
    return bytes(out)


def _selftest():
    # NIST GCM test cases 13 and 14 (AES-256, zero key and IV)
    k, iv = bytes(32), bytes(12)
    aes256gcm_open(k, iv, b"", bytes.fromhex("530f8afbc74536b9a963b4f1c4cb738b"))
    pt = aes256gcm_open(k, iv, b"", bytes.fromhex("cea7403d4d606b6e074ec5d3baf39d18"
                                                   "d0d1c8a799996bf0265b98b5d48ab919"))
    assert pt == bytes(16), "AES-GCM self-test"


_selftest()


# ---- sealed values (include/omasec/seal.h) and device state ---------------

def load_master(path):
    """{version: key bytes} from a master key file."""
    keys = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                v, hx = line.split()
                keys[int(v)] = bytes.fromhex(hx)
    return keys


def unseal(master, purpose, aad, sealed):
    """Open a sealed value: 'OS' 1 | u32 version | u8 alg | nonce(12) | ct | tag."""
    if len(sealed) < 36 or sealed[:3] != b"OS\x01":
        raise IntegrityError("not a sealed value")
    version, alg = struct.unpack(">IB", sealed[3:8])
    if alg != 1 or version not in master:
        raise IntegrityError("unsupported algorithm %d or key version %d" % (alg, version))
    key = hkdf_sha256(master[version], b"omasec/v1/" + purpose.encode())
    ad = sealed[:20] + struct.pack(">H", len(purpose)) + purpose.encode() + aad
    return aes256gcm_open(key, sealed[8:20], ad, sealed[20:])


def devstate_scan(directory):
    """Open every record of a device state directory.

    Returns (records, problems, leftovers): records maps name -> plaintext,
    problems lists records that do not open, leftovers lists other files
    (temp files of an interrupted write)."""
    master = load_master(os.path.join(directory, "master.key"))
    records, problems, leftovers = {}, [], []
    for fn in sorted(os.listdir(directory)):
        path = os.path.join(directory, fn)
        if fn == "master.key":
            continue
        if not fn.endswith(".sealed"):
            leftovers.append(fn)
            continue
        name = fn[:-len(".sealed")]
        try:
            with open(path, "rb") as f:
                records[name] = unseal(master, "devstate", name.encode(), f.read())
        except (IntegrityError, OSError) as e:
            problems.append("%s: %s" % (fn, e))
    return records, problems, leftovers


def record_fields(text):
    """A device record's 'name = "value"' lines as a dict."""
    out = {}
    for line in text.decode("utf-8", "replace").splitlines():
        if "=" in line:
            k, _, v = line.partition("=")
            v = v.strip()
            out[k.strip()] = v[1:-1] if len(v) >= 2 and v[0] == v[-1] == '"' else v
    return out


def b64u_dec(s):
    import base64
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def otk_unwrap(eukey_text, key_id, creator, peer, expires, sealed_text):
    """A wrapped onetime key as the peer opens it (docs/cpns-protocol.md)."""
    kek = hkdf_sha256(b64u_dec(eukey_text), b"omasec/v1/otk-wrap")
    aad = b"otk"
    for part in (key_id, creator, peer):
        aad += struct.pack(">H", len(part)) + part.encode()
    aad += struct.pack(">Q", expires)
    sealed = b64u_dec(sealed_text)
    return aes256gcm_open(kek, sealed[:12], aad, sealed[12:])


# ---- HTTPS + Digest client --------------------------------------------------

class Unavailable(Exception):
    """The request may or may not have reached the daemon."""


class HttpsDigest:
    """One kept-alive HTTPS connection; Digest with SHA-256 when credentials are set."""

    def __init__(self, port, cafile, user=None, password=None, timeout=10.0):
        self.port, self.user, self.password, self.timeout = port, user, password, timeout
        self.ctx = ssl.create_default_context(cafile=cafile)
        self.conn = None
        self.ch = None
        self.nc = 0
        self.cnonce = os.urandom(8).hex()

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None

    def _send(self, method, path, body, headers):
        if self.conn is None:
            self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx,
                                                    timeout=self.timeout)
        try:
            self.conn.request(method, path, body=body, headers=headers)
            r = self.conn.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise Unavailable("%s %s: %s" % (method, path, e))
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if r.will_close:
            self.close()
        return r.status, hdrs, data

    def request(self, method, path, body=None):
        """(status, json body or None, headers); raises Unavailable."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        for _ in range(3):
            hdrs = {"Content-Type": "application/json"} if body is not None else {}
            if self.user and self.ch:
                self.nc += 1
                hdrs["Authorization"] = digest_header(self.ch, self.user, self.password, method,
                                                      path, nc=self.nc, cnonce=self.cnonce)
            st, h, data = self._send(method, path, body, hdrs)
            try:
                js = json.loads(data) if data else None
            except ValueError:
                js = None
            if st == 401 and self.user:
                chs = [c for c in parse_challenges(h.get("www-authenticate", ""))
                       if c.get("algorithm") == "SHA-256"]
                fresh = self.ch is None or chs and chs[0].get("stale") == "true"
                if chs and fresh:   # first request, or an expired nonce: answer it
                    self.ch, self.nc = chs[0], 0
                    continue
            return st, js, h
        return st, js, h


# ---- processes, mounts, sanitizer scaling ----------------------------------

def proc_status(pid, field="VmRSS"):
    """A /proc/PID/status field in kB (0 if the process is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def raise_nofile():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Tmpfs:
    """A small tmpfs at path.  Use in try/finally: umount() is idempotent and
    also undoes a read-only remount.  mounted is False when mounting is not
    permitted (then path is an ordinary directory)."""

    def __init__(self, path, size_kb):
        self.path = path
        os.makedirs(path, exist_ok=True)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dk,mode=0700" % size_kb,
                            "tmpfs", path], capture_output=True, text=True)
        self.mounted = p.returncode == 0
        self.error = p.stderr.strip()

    def remount(self, opts):
        p = subprocess.run(["mount", "-o", "remount," + opts, self.path], capture_output=True,
                           text=True)
        return p.returncode == 0, p.stderr.strip()

    def umount(self):
        if self.mounted:
            for _ in range(20):
                if subprocess.run(["umount", self.path], capture_output=True).returncode == 0:
                    break
                time.sleep(0.1)
            else:
                subprocess.run(["umount", "-l", self.path], capture_output=True)
            self.mounted = False


def fill_disk(directory, name="filler"):
    """Write a file until ENOSPC (down to single bytes); returns its path."""
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 16, 4096, 512, 1):
            buf = bytes(size)
            try:
                while True:
                    os.write(fd, buf)
            except OSError:
                pass
    finally:
        os.close(fd)
    return path


# ---- one selector, many kept-alive TLS connections ---------------------------

class Conn:
    __slots__ = ("sock", "state", "rbuf", "wbuf", "sent_at", "next_at", "done", "proto",
                 "handshaken")


class AsyncLoad:
    """Open n TLS connections, then on each send a request, read the reply,
    wait think seconds, repeat, until the deadline.  proto supplies
    request(conn) -> bytes and reply(conn, buf) -> (consumed, ok) or None if
    incomplete (ok is True or a reason; conn.proto is the protocol's own
    per-connection dict, and conn.proto["again"] = True asks again at once).
    Collects latencies and errors."""

    def __init__(self, port, ctx, proto, n, think, open_rate=400.0, timeout=15.0):
        self.port, self.ctx, self.proto, self.n = port, ctx, proto, n
        self.think, self.open_rate, self.timeout = think, open_rate, timeout
        self.sel = selectors.DefaultSelector()
        self.conns = []
        self.lat = []
        self.errors = []
        self.replies = 0
        self.rng = random.Random(n)

    def _open(self, now):
        c = Conn()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            s.connect(("127.0.0.1", self.port))
        except BlockingIOError:
            pass
        c.sock = self.ctx.wrap_socket(s, server_hostname="127.0.0.1", do_handshake_on_connect=False)
        c.state, c.rbuf, c.wbuf, c.done, c.handshaken = "hs", b"", b"", False, False
        c.sent_at, c.next_at, c.proto = now, 0.0, {}
        self.conns.append(c)
        self.sel.register(c.sock, selectors.EVENT_WRITE, c)
        return c

    def _fail(self, c, why):
        self.errors.append(why)
        self._drop(c)

    def _drop(self, c):
        if not c.done:
            c.done = True
            try:
                self.sel.unregister(c.sock)
            except (KeyError, ValueError):
                pass
            c.sock.close()

    def _want(self, c, ev):
        try:
            self.sel.modify(c.sock, ev, c)
        except (KeyError, ValueError):
            pass

    def _send_request(self, c, now):
        c.wbuf = self.proto.request(c)
        c.sent_at = now
        c.state = "w"
        self._pump_write(c, now)

    def _pump_write(self, c, now):
        try:
            while c.wbuf:
                k = c.sock.send(c.wbuf)
                c.wbuf = c.wbuf[k:]
        except (ssl.SSLWantWriteError, BlockingIOError):
            self._want(c, selectors.EVENT_WRITE)
            return
        except (ssl.SSLWantReadError):
            self._want(c, selectors.EVENT_READ)
            return
        except OSError as e:
            return self._fail(c, "send: %s" % e)
        c.state = "r"
        self._want(c, selectors.EVENT_READ)

    def _on_event(self, c, now):
        if c.state == "hs":
            try:
                c.sock.do_handshake()
            except ssl.SSLWantReadError:
                return self._want(c, selectors.EVENT_READ)
            except ssl.SSLWantWriteError:
                return self._want(c, selectors.EVENT_WRITE)
            except OSError as e:
                return self._fail(c, "handshake: %s" % e)
            c.handshaken = True
            self._send_request(c, now)
        elif c.state == "w":
            self._pump_write(c, now)
        elif c.state == "r":
            self._read(c, now)
        elif c.state == "idle":
            self._read_idle(c)

    def _read(self, c, now):
        try:
            while True:
                d = c.sock.recv(65536)
                if not d:
                    return self._fail(c, "closed by the daemon while waiting for a reply")
                c.rbuf += d
        except (ssl.SSLWantReadError, BlockingIOError):
            pass
        except ssl.SSLWantWriteError:
            return self._want(c, selectors.EVENT_WRITE)
        except OSError as e:
            return self._fail(c, "recv: %s" % e)
        r = self.proto.reply(c, c.rbuf)
        if r is None:
            return
        used, ok = r
        c.rbuf = c.rbuf[used:]
        self.lat.append(now - c.sent_at)
        self.replies += 1
        if ok is not True:
            self.errors.append("bad reply: %s" % ok)
        c.state = "idle"
        if c.proto.pop("again", False):
            c.next_at = now
        else:
            c.next_at = now + self.rng.uniform(0.5 * self.think, 1.5 * self.think)
        self._want(c, selectors.EVENT_READ)

    def _read_idle(self, c):
        try:
            d = c.sock.recv(65536)
        except (ssl.SSLWantReadError, BlockingIOError):
            return
        except OSError as e:
            return self._fail(c, "idle recv: %s" % e)
        if not d:
            return self._fail(c, "idle connection closed by the daemon")
        self.errors.append("unsolicited data: %r" % d[:80])

    def run(self, seconds, on_tick=None, tick=1.0):
        """Drive everything for seconds; on_tick(self) is called every tick seconds."""
        start = time.time()
        deadline = start + seconds
        next_tick = start + tick
        opened = 0
        while True:
            now = time.time()
            if now >= deadline:
                break
            want = min(self.n, int((now - start) * self.open_rate) + 1)
            while opened < want:
                self._open(now)
                opened += 1
            for key, _ in self.sel.select(timeout=0.02):
                self._on_event(key.data, time.time())
            now = time.time()
            for c in self.conns:
                if c.done:
                    continue
                if c.state == "idle" and now >= c.next_at:
                    self._send_request(c, now)
                elif c.state in ("hs", "w", "r") and now - c.sent_at > self.timeout:
                    self._fail(c, "no progress for %.0f s in state %s" % (self.timeout, c.state))
            if on_tick and now >= next_tick:
                on_tick(self)
                next_tick += tick
        return self

    def alive(self):
        return sum(1 for c in self.conns if not c.done and c.handshaken)

    def close(self):
        for c in self.conns:
            self._drop(c)
        self.sel.close()


def percentile(values, p):
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, int(p / 100.0 * len(v)))]


# ---- slowloris and connection floods -------------------------------------------

def client_hello(ctx):
    """The bytes of a TLS ClientHello this context would send."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="127.0.0.1")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


class Hostile:
    """Connections that never finish: kind is 'silent' (TCP, no byte),
    'half-hello' (half a ClientHello), 'partial' (TLS done, half a request)
    or 'idle' (TLS done, one whole request answered, then nothing).  t0 is
    when the daemon's clock for it started, closed_at when the daemon cut it."""

    def __init__(self, kind, sock, t0):
        self.kind, self.sock, self.t0, self.closed_at = kind, sock, t0, None


class Watch(threading.Thread):
    """Stamps closed_at on hostile connections as the daemon closes them
    (EOF, reset or TLS alert), from the moment each is handed over."""

    def __init__(self):
        super().__init__(daemon=True)
        self.q = queue.Queue()
        self.all = []
        self.stop = threading.Event()

    def add(self, h):
        self.all.append(h)
        self.q.put(h)

    def run(self):
        sel = selectors.DefaultSelector()
        while not self.stop.is_set():
            while not self.q.empty():
                h = self.q.get()
                h.sock.setblocking(False)
                sel.register(h.sock, selectors.EVENT_READ, h)
            for key, _ in sel.select(timeout=0.02) if sel.get_map() else []:
                h = key.data
                try:
                    d = h.sock.recv(4096)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    continue
                except OSError:
                    d = b""
                if not d:
                    h.closed_at = time.time()
                    sel.unregister(h.sock)
            if not sel.get_map():
                time.sleep(0.02)
        sel.close()

    def open_ones(self):
        return [h for h in self.all if h.closed_at is None]

    def wait(self, deadline):
        while self.open_ones() and time.time() < deadline:
            time.sleep(0.05)
        return self.open_ones()

    def peak(self, kind):
        """Most connections of a kind that were open at the same time."""
        ev = []
        for h in self.all:
            if h.kind == kind:
                ev += [(h.t0, 1), (h.closed_at or time.time(), -1)]
        n = best = 0
        for _, d in sorted(ev):
            n += d
            best = max(best, n)
        return best


def _open_one(port, ctx, kind, partial, request, hello, timeout):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if kind == "silent":
        return Hostile(kind, raw, time.time())
    if kind == "half-hello":
        raw.sendall(hello[:len(hello) // 2])
        return Hostile(kind, raw, time.time())
    s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    if kind == "partial":
        s.sendall(partial)
    else:
        s.sendall(request)
        s.recv(65536)
    return Hostile(kind, s, time.time())


def open_hostile(watch, port, ctx, kind, n, partial=b"", request=b"", threads=8, timeout=20.0):
    """Open n hostile connections of a kind (TLS ones from several threads:
    the ssl module releases the GIL in handshakes) and hand them to watch.
    Returns the errors met while opening."""
    hello = client_hello(ctx) if kind == "half-hello" else b""
    errors = []
    todo = iter(range(n))
    lock = threading.Lock()

    def run():
        while True:
            with lock:
                if next(todo, None) is None:
                    return
            try:
                watch.add(_open_one(port, ctx, kind, partial, request, hello, timeout))
            except OSError as e:
                errors.append("%s: %s" % (kind, e))

    ts = [threading.Thread(target=run) for _ in range(threads if kind in ("partial", "idle")
                                                       else 1)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return errors


def abandon_flood(port, n):
    """Open and drop n TCP connections as fast as possible (half of them with
    a reset); returns how many could be opened."""
    opened = 0
    for i in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            continue
        opened += 1
        if i % 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    return opened


# ---- HTTP over AsyncLoad: Digest whoami on each kept-alive connection -------

def http_reply(buf):
    """(consumed, status, headers, body) of one complete HTTP response, or None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    hdrs = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", "0"))
    if len(buf) < end + 4 + n:
        return None
    return end + 4 + n, status, hdrs, buf[end + 4:end + 4 + n]


class DigestWhoami:
    """Protocol for AsyncLoad: GET whoami with Digest; the first reply on a
    connection is the 401 challenge, then nc counts up on that nonce."""

    def __init__(self, creds, path="/cpns/v1/whoami"):
        self.creds = creds   # list of (entity, eukey)
        self.path = path
        self.i = 0

    def request(self, c):
        p = c.proto
        if "user" not in p:
            p["user"], p["pw"] = self.creds[self.i % len(self.creds)]
            self.i += 1
        hdr = ""
        if "ch" in p:
            p["nc"] += 1
            hdr = "Authorization: %s\r\n" % digest_header(p["ch"], p["user"], p["pw"], "GET",
                                                          self.path, nc=p["nc"],
                                                          cnonce=p["cnonce"])
        return ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % (self.path, hdr)).encode()

    def reply(self, c, buf):
        r = http_reply(buf)
        if r is None:
            return None
        used, status, hdrs, body = r
        p = c.proto
        if status == 401 and "www-authenticate" in hdrs:
            chs = [x for x in parse_challenges(hdrs["www-authenticate"])
                   if x.get("algorithm") == "SHA-256"]
            first = "ch" not in p
            p["ch"], p["nc"], p["cnonce"] = chs[0], 0, os.urandom(6).hex()
            if first or chs[0].get("stale") == "true":
                p["again"] = True
                return used, True   # the challenge: ask again at once
            return used, "401 with a valid nonce"
        if status != 200 or b'"entity_id":"%s"' % p["user"].encode() not in body:
            return used, "status %d body %r" % (status, body[:120])
        return used, True


def wait_listening(d, port, timeout):
    """Like Daemon(ready_port=...), but the Daemon object stays reachable when
    the process exits early (its return code is the point of some tests)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if d.proc.poll() is not None:
            raise RuntimeError("daemon exited early (status %d):\n%s"
                               % (d.proc.returncode, d.read_log()))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("daemon did not listen:\n" + d.read_log())


def quiet_stop(d, sig=None):
    """SIGTERM (or sig) once the daemon has been quiet for a moment; returns
    (exit status, the log from a sanitizer report on, or its tail) so that
    a failed check shows why.

    The pause works around a shutdown leak in lib/net/server.c (reported):
    a bufferevent callback still deferred when the loop breaks keeps its
    reference, osec_net_server_free() cannot free that connection, and
    LeakSanitizer fails the exit.  These tests are about faults under load,
    not about that race."""
    time.sleep(0.3)
    rc = d.stop(sig) if sig else d.stop()
    log = d.read_log()
    i = max(log.find("ERROR: AddressSanitizer"), log.find("ERROR: LeakSanitizer"),
            log.find("runtime error:"))
    return rc, log[i:i + 8000] if i >= 0 else log[-3000:]


# ---- daemons ----------------------------------------------------------------
#
# A Target knows how to set up and start its daemon on a private data
# directory and how a well-behaved client talks to it.  The flood test runs
# every entry of TARGETS whose binary exists; the load test every entry with
# a load_proto().  To add a daemon: subclass Target, fill in the members
# below, add it to TARGETS (the CPM daemons are added further down).

class Target:
    name = binary = section = ""
    # slowloris: the start of a request that is never finished, and a whole
    # request answered by exactly one reply (the connection then sits idle)
    partial = b""
    request = b""

    def __init__(self, tmp, data=None, conf_extra="", workers=2):
        self.tmp = tmp
        self.data = data or os.path.join(tmp, self.binary)
        self.port = free_port()
        self.conf_extra = conf_extra
        self.workers = workers
        self.d = None
        self.n_start = 0
        self.wrap = ()   # argv prefix, e.g. a shell that sets a signal disposition

    @property
    def ca(self):
        return os.path.join(self.data, "pki", "ca.crt")

    def setup(self):
        """omasecctl init and whatever the well-behaved client needs."""
        p = ctl(self.data, "init")
        if p.returncode != 0:
            raise RuntimeError("omasecctl init: " + p.stderr)

    def argv(self, conf):
        return [os.path.join(BIN, self.binary), "--data", self.data, "--config", conf,
                "--listen", "127.0.0.1:%d" % self.port]

    def timeout_conf(self, handshake, request, idle):
        """Configuration lines for these timeouts (seconds)."""
        return "handshake_timeout = %d\nrequest_timeout = %d\nidle_timeout = %d\n" % (
            handshake, request, idle)

    def start(self, extra_conf=""):
        conf = os.path.join(self.tmp, "%s.conf" % self.binary)
        with open(conf, "w") as f:
            f.write("[%s]\nworkers = %d\n%s%s" % (self.section or self.binary, self.workers,
                                                  self.conf_extra, extra_conf))
        self.n_start += 1
        self.d = Daemon(list(self.wrap) + self.argv(conf),
                        os.path.join(self.tmp, "%s.%d.log" % (self.binary, self.n_start)))
        wait_listening(self.d, self.port, scale(20, 60))
        return self.d

    def tls_ctx(self):
        return ssl.create_default_context(cafile=self.ca)

    def stop(self, sig=None):
        """quiet_stop() of this target's daemon."""
        return quiet_stop(self.d, sig)

    def well_behaved(self):
        """A callable: one fresh connection doing one ordinary exchange;
        returns True or a reason."""
        raise NotImplementedError

    def load_proto(self):
        """An AsyncLoad protocol for the load test's kept-alive clients
        (a target without one is left out of the load test)."""
        return None

    def extra_clients(self, think, n):
        """Other clients to run beside them during the load test (threads
        with .lat, .errors, .start(), .close())."""
        return []

    def check_store(self):
        p = ctl(self.data, "check")
        return p.returncode == 0, (p.stdout + p.stderr).strip()


class CpnsServer(Target):
    name = binary = section = "cpns-server"
    partial = b"GET /cpns/v1/whoami HTTP/1.1\r\nHost: x\r\n"
    request = b"GET /cpns/v1/whoami HTTP/1.1\r\nHost: x\r\n\r\n"

    def __init__(self, tmp, data=None, conf_extra="", workers=2, users=("alice",)):
        super().__init__(tmp, data or os.path.join(tmp, "srv"),
                         "auth_max_failures = 1000\n" + conf_extra, workers)
        self.users = users
        self.creds = []

    def setup(self):
        super().setup()
        for u in self.users:
            ctl(self.data, "user", "add", u, stdin=u + "-pw\n")

    def client(self, user=None, password=None, timeout=10.0):
        return HttpsDigest(self.port, self.ca, user, password, timeout)

    def probe(self, creds):
        """A well-behaved client: a fresh TLS connection + Digest whoami."""
        cl = self.client(*creds, timeout=15.0)
        try:
            st, js, _ = cl.request("GET", "/cpns/v1/whoami")
            return st == 200 and js and js.get("entity_id") == creds[0] or "status %d" % st
        finally:
            cl.close()

    def enrol(self, user, entity, etype="pne"):
        cl = self.client(user, user + "-pw")
        try:
            st, js, _ = cl.request("POST", "/cpns/v1/entities/%s/eukey" % entity, {"type": etype})
        finally:
            cl.close()
        if st != 201:
            raise RuntimeError("enrol %s: %d %r" % (entity, st, js))
        return js["eukey"]

    def load_creds(self, n):
        """n enrolled entities (gw and pne) of the first user: (id, EUKey)."""
        while len(self.creds) < n:
            i = len(self.creds)
            eid = "ld-%d" % i
            self.creds.append((eid, self.enrol(self.users[0], eid, "gw" if i % 2 else "pne")))
        return self.creds[:n]

    def well_behaved(self):
        creds = self.load_creds(1)[0]
        return lambda: self.probe(creds)

    def load_proto(self):
        return DigestWhoami(self.load_creds(20))   # connections take turns on 20 entities

    def extra_clients(self, think, n):
        """TLS-PSK with the EUKey, TLS 1.2 and 1.3 alternately."""
        return [PskClient(self.port, e, k, think, "-tls1_3" if j % 2 else "-tls1_2")
                for j, (e, k) in enumerate(self.load_creds(n))]


TARGETS = {"cpns-server": CpnsServer}


# ---- CPM daemons: cpm-msgstored (IMAP) and cpm-sipd (SIP) ---------------------

def tagged_reply(buf, tag):
    """(consumed, status line) of the IMAP response ending in the tagged
    line of tag, or None if it has not all arrived (untagged lines and
    literals before it are consumed with it)."""
    t = tag.encode() + b" "
    i = 0 if buf.startswith(t) else buf.find(b"\r\n" + t)
    if i < 0:
        return None
    i = i + 2 if i else 0
    j = buf.find(b"\r\n", i)
    if j < 0:
        return None
    return j + 2, buf[i:j].decode("utf-8", "replace")


class ImapLoop:
    """Protocol for AsyncLoad on an IMAPS listener with a client certificate:
    AUTHENTICATE EXTERNAL, SELECT INBOX, then FETCH (flags of all messages,
    or the first message's body) again and again."""

    STEPS = ("AUTHENTICATE EXTERNAL =", "SELECT INBOX")
    LOOP = ("FETCH 1:* (UID FLAGS RFC822.SIZE)", "FETCH 1 (BODY.PEEK[])")

    def request(self, c):
        p = c.proto
        p["n"] = p.get("n", -1) + 1
        n = p["n"]
        p["tag"] = "T%d" % n
        cmd = self.STEPS[n] if n < len(self.STEPS) else self.LOOP[n % len(self.LOOP)]
        return ("%s %s\r\n" % (p["tag"], cmd)).encode()

    def reply(self, c, buf):
        p = c.proto
        r = tagged_reply(buf, p["tag"])
        if r is None:
            return None
        used, line = r
        if not line.startswith(p["tag"] + " OK"):
            return used, "%r" % line[:120]
        if p["n"] < len(self.STEPS):
            p["again"] = True
        elif p["n"] % 2 and b"BODY[] {" not in buf[:used]:
            return used, "no body in %r" % buf[:120]
        return used, True


class CpmMsgstored(Target):
    """cpm-msgstored: the flood and load talk IMAPS on port; port_imap is
    the STARTTLS listener.  Users are u0.. with password uN-pw; 'load' has a
    client certificate (EXTERNAL: no scrypt per connection under load)."""
    name = binary = section = "cpm-msgstored"
    partial = b"a1 LOGIN u0"
    request = b"a1 NOOP\r\n"

    def __init__(self, tmp, data=None, conf_extra="", workers=2, users=1):
        super().__init__(tmp, data or os.path.join(tmp, "msgstore"),
                         "auth_max_failures = 1000\n" + conf_extra, workers)
        self.port_imap = free_port()
        self.users = ["u%d" % i for i in range(users)]

    def setup(self):
        super().setup()
        for u in self.users + ["load"]:
            ctl(self.data, "user", "add", u, stdin=u + "-pw\n")
        p = ctl(self.data, "pki", "issue", "load", "--client")
        if p.returncode != 0:
            raise RuntimeError("pki issue: " + p.stderr)

    def argv(self, conf):
        return [os.path.join(BIN, self.binary), "--data", self.data, "--config", conf,
                "--listen", "imaps:127.0.0.1:%d" % self.port,
                "--listen", "imap:127.0.0.1:%d" % self.port_imap]

    def start(self, extra_conf=""):
        d = super().start(extra_conf)
        wait_listening(d, self.port_imap, scale(20, 60))
        return d

    def login(self, user, starttls=False, timeout=15.0):
        import imaplib
        if starttls:
            m = imaplib.IMAP4("127.0.0.1", self.port_imap, timeout=timeout)
            m.starttls(ssl_context=self.tls_ctx())
        else:
            m = imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=self.tls_ctx(),
                                  timeout=timeout)
        m.login(user, user + "-pw")
        return m

    def probe(self):
        import imaplib
        m = imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=self.load_ctx(), timeout=15)
        try:
            typ, data = m.authenticate("EXTERNAL", lambda _: b"")
            if typ != "OK":
                return "EXTERNAL: %s %r" % (typ, data)
            typ, data = m.select("INBOX")
            return typ == "OK" or "SELECT: %s %r" % (typ, data)
        finally:
            m.logout()

    def well_behaved(self):
        m = self.login(self.users[0])   # one message to FETCH in every INBOX
        m.logout()
        import imaplib
        m = imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=self.load_ctx(), timeout=15)
        m.authenticate("EXTERNAL", lambda _: b"")
        if m.select("INBOX")[1] == [b"0"]:
            m.append("INBOX", None, None, b"Subject: load\r\n\r\nhello\r\n")
        m.logout()
        return self.probe

    def tls_ctx(self):
        """With the 'load' client certificate once setup() issued it (the
        load's connections use EXTERNAL; a certificate does not stop LOGIN)."""
        ctx = ssl.create_default_context(cafile=self.ca)
        pki = os.path.join(self.data, "pki")
        if os.path.exists(os.path.join(pki, "load.crt")):
            ctx.load_cert_chain(os.path.join(pki, "load.crt"), os.path.join(pki, "load.key"))
        return ctx

    load_ctx = tls_ctx

    def load_proto(self):
        return ImapLoop()




def sip_message(buf):
    """(consumed, status, head text) of one complete SIP message on a stream, or None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].decode("utf-8", "replace")
    n = 0
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() in ("content-length", "l"):
            n = int(v.strip() or 0)
    if len(buf) < end + 4 + n:
        return None
    parts = head.split(" ", 2)
    status = int(parts[1]) if parts[0] == "SIP/2.0" else 0
    return end + 4 + n, status, head


def sip_register(transport, local, user, cseq, call_id, expires=300, auth=None,
                 domain="example.com", query=False, contact=None):
    """A REGISTER of sip:USER@DOMAIN from local (host, port); query: no
    Contact (RFC 3261 10.2.3: the 200 lists the current bindings); contact:
    the Contact URI (default sip:USER@local;transport=...)."""
    aor = "sip:%s@%s" % (user, domain)
    lines = ["REGISTER sip:%s SIP/2.0" % domain,
             "Via: SIP/2.0/%s %s:%d;branch=z9hG4bK%s;rport" % (transport, local[0], local[1],
                                                            os.urandom(6).hex()),
             "Max-Forwards: 70", "From: <%s>;tag=f%s" % (aor, call_id[:6]), "To: <%s>" % aor,
             "Call-ID: " + call_id, "CSeq: %d REGISTER" % cseq]
    if not query:
        contact = contact or "sip:%s@%s:%d;transport=%s" % (user, local[0], local[1],
                                                             transport.lower())
        lines += ["Contact: <%s>" % contact, "Expires: %d" % expires]
    if auth:
        lines.append("Authorization: " + auth)
    return ("\r\n".join(lines + ["Content-Length: 0", "", ""])).encode()


def sip_auth(head, user, password, uri="sip:example.com", nc=1, cnonce=None):
    """(challenge, Authorization) for the SHA-256 challenge of a 401 head."""
    ch = None
    for line in head.split("\r\n"):
        k, _, v = line.partition(":")
        if k.strip().lower() == "www-authenticate":
            c = parse_challenges(v.strip())
            c = [x for x in c if x.get("algorithm") == "SHA-256"]
            ch = ch or (c[0] if c else None)
    if ch is None:
        return None, None
    return ch, sip_auth_for(ch, user, password, uri, nc, cnonce or os.urandom(6).hex())


def sip_auth_for(ch, user, password, uri, nc, cnonce, method="REGISTER"):
    import hashlib
    h = lambda x: hashlib.sha256(x.encode()).hexdigest()  # noqa: E731
    ha1 = h("%s:%s:%s" % (user, ch["realm"], password))
    ha2 = h("%s:%s" % (method, uri))
    resp = h("%s:%s:%08x:%s:auth:%s" % (ha1, ch["nonce"], nc, cnonce, ha2))
    return ('Digest username="%s", realm="%s", nonce="%s", uri="%s", algorithm=SHA-256, '
            'response="%s", qop=auth, nc=%08x, cnonce="%s"'
            % (user, ch["realm"], ch["nonce"], uri, resp, nc, cnonce))


class SipRegisterLoop:
    """Protocol for AsyncLoad on a cpm-sipd TLS listener: REGISTER, answer
    the 401 (SHA-256), then refresh the binding again and again on the same
    nonce with nc counting up (a fresh challenge when it goes stale)."""

    def __init__(self, users):
        self.users = users
        self.i = 0

    def request(self, c):
        p = c.proto
        if "user" not in p:
            p["user"] = self.users[self.i % len(self.users)]
            self.i += 1
            p["call"], p["cseq"], p["local"] = os.urandom(8).hex(), 0, c.sock.getsockname()
        p["cseq"] += 1
        auth = None
        if "ch" in p:
            p["nc"] += 1
            auth = sip_auth_for(p["ch"], p["user"], p["user"] + "-pw", "sip:example.com",
                                p["nc"], p["cnonce"])
        return sip_register("TLS", p["local"], p["user"], p["cseq"], p["call"], auth=auth)

    def reply(self, c, buf):
        r = sip_message(buf)
        if r is None:
            return None
        used, status, head = r
        p = c.proto
        if status == 401:
            ch, _ = sip_auth(head, p["user"], "")
            first = "ch" not in p
            if ch is None:
                return used, "401 without a SHA-256 challenge"
            p["ch"], p["nc"], p["cnonce"] = ch, 0, os.urandom(6).hex()
            if first or ch.get("stale", "").lower() == "true":
                p["again"] = True
                return used, True
            return used, "401 with a valid nonce"
        if status != 200:
            return used, "status %d: %r" % (status, head[:200])
        return used, True


class CpmSipd(Target):
    """cpm-sipd: udp and tcp listeners on port_sip, TLS on port (the flood and
    load's), a Conversation Server address nobody answers on.  Users u0..
    and l0.. (the load's, added by load_proto) with password uN-pw and AOR
    sip:uN@example.com."""
    name = binary = section = "cpm-sipd"
    partial = (b"REGISTER sip:example.com SIP/2.0\r\n"
               b"Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKslow\r\n")
    request = sip_register("TLS", ("127.0.0.1", 5061), "u0", 1, "idle-probe")

    def __init__(self, tmp, data=None, conf_extra="", workers=2, users=1):
        super().__init__(tmp, data or os.path.join(tmp, "sipd"),
                         "auth_max_failures = 100000\nmin_expires = 1\nmax_contacts = 32\n"
                         "digest_algorithms = SHA-256\n" + conf_extra, workers)
        self.port_sip = free_udp_tcp_port()
        self.port_cs = free_udp_tcp_port()
        self.users = ["u%d" % i for i in range(users)]

    def add_users(self, names):
        for u in names:
            ctl(self.data, "user", "add", u, stdin=u + "-pw\n")
            p = ctl(self.data, "address", "add", u, "sip:%s@example.com" % u)
            if p.returncode != 0:
                raise RuntimeError("address add: " + p.stderr)

    def setup(self):
        super().setup()
        self.add_users(self.users)

    def argv(self, conf):
        return [os.path.join(BIN, self.binary), "--data", self.data, "--config", conf,
                "--listen", "udp:127.0.0.1:%d" % self.port_sip,
                "--listen", "tcp:127.0.0.1:%d" % self.port_sip,
                "--listen", "tls:127.0.0.1:%d" % self.port,
                "--conversation-server", "sip:127.0.0.1:%d" % self.port_cs]

    def start(self, extra_conf=""):
        d = super().start(extra_conf)
        wait_listening(d, self.port_sip, scale(20, 60))
        return d

    def timeout_conf(self, handshake, request, idle):
        return "handshake_timeout = %d\nmessage_timeout = %d\nidle_timeout = %d\n" % (
            handshake, request, idle)

    def register(self, user, transport="tcp", timeout=10.0):
        """One fresh connection (or UDP socket): REGISTER, challenge, REGISTER
        with Digest; returns (final status or None, challenge)."""
        if transport == "udp":
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            s.connect(("127.0.0.1", self.port_sip))
        elif transport == "tls":
            raw = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
            s = self.tls_ctx().wrap_socket(raw, server_hostname="127.0.0.1")
        else:
            s = socket.create_connection(("127.0.0.1", self.port_sip), timeout=timeout)
        s.settimeout(timeout)
        try:
            return sip_exchange(s, transport, user, user + "-pw")
        finally:
            s.close()

    def well_behaved(self):
        def ask():
            st, _ = self.register(self.users[0], "tls")
            return st == 200 or "status %r" % st
        return ask

    def extra_clients(self, think, n):
        """UDP UAs refreshing their binding (u0's AOR) every think seconds."""
        return [SipUdpClient(self.port_sip, self.users[0], think) for _ in range(n)]

    def load_proto(self):
        """Enough load users (l0..) that no AOR gets more than 25 contacts
        (max_contacts is at most 32)."""
        n = int(os.environ.get("OSEC_LOAD_CLIENTS", scale(1000, 500))) // 25 + 1
        users = ["l%d" % i for i in range(n)]
        self.add_users(users)
        return SipRegisterLoop(users)


class SipUdpClient(threading.Thread):
    """One UA on its own UDP port: REGISTER with Digest, then a refresh every
    `think` seconds on the same nonce (nc counting up, a new challenge when
    it goes stale)."""

    def __init__(self, port, user, think):
        super().__init__(daemon=True)
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.s.connect(("127.0.0.1", port))
        self.s.settimeout(5.0)
        self.user, self.think = user, think
        self.lat, self.errors = [], []
        self.stop = threading.Event()

    def run(self):
        ch, nc, call, cseq = None, 0, os.urandom(8).hex(), 0
        local = self.s.getsockname()
        try:
            while not self.stop.is_set():
                t0 = time.time()
                cseq += 1
                nc += 1
                auth = ch and sip_auth_for(ch, self.user, self.user + "-pw", "sip:example.com",
                                           nc, "5eed%04x" % cseq)
                self.s.send(sip_register("UDP", local, self.user, cseq, call, auth=auth or None))
                st, head, _ = sip_recv(self.s, "udp")
                while st is not None and st < 200:
                    st, head, _ = sip_recv(self.s, "udp")
                if st == 401 and (ch is None or "stale=true" in head.lower()):
                    ch, nc = sip_auth(head, self.user, "")[0], 0
                    continue
                self.lat.append(time.time() - t0)
                if st != 200:
                    self.errors.append("%s over UDP: %r" % (self.user, st))
                self.stop.wait(self.think)
        except (OSError, EOFError) as e:
            if not self.stop.is_set():
                self.errors.append("%s over UDP: %s" % (self.user, e))

    def close(self):
        self.stop.set()
        self.join(10)
        self.s.close()


def sip_recv(s, transport, buf=b""):
    """One SIP message from a socket: (status, head, rest of the buffer)."""
    if transport == "udp":
        d = s.recv(65535)
        r = sip_message(d)
        return (r[1], r[2], b"") if r else (None, d, b"")
    while True:
        r = sip_message(buf)
        if r:
            return r[1], r[2], buf[r[0]:]
        d = s.recv(65536)
        if not d:
            raise EOFError("connection closed")
        buf += d


def sip_exchange(s, transport, user, password, ch=None, nc=1, call_id=None, query=False,
                 heads=None):
    """REGISTER on socket s; with ch, answer that (earlier) challenge right
    away.  Returns (final status, the challenge answered); heads, a list,
    gets the final response's head."""
    local = s.getsockname()
    call_id = call_id or os.urandom(8).hex()
    tp = transport.upper()
    buf = b""
    cseq = 1
    if ch is None:
        s.sendall(sip_register(tp, local, user, cseq, call_id, query=query))
        while True:
            st, head, buf = sip_recv(s, transport, buf)
            if st and st >= 200:
                break
        if st != 401:
            return st, None
        ch, _ = sip_auth(head, user, password)
        if ch is None:
            return 401, None
        cseq += 1
    auth = sip_auth_for(ch, user, password, "sip:example.com", nc, os.urandom(6).hex())
    s.sendall(sip_register(tp, local, user, cseq, call_id, auth=auth, query=query))
    while True:
        st, head, buf = sip_recv(s, transport, buf)
        if st and st >= 200:
            if heads is not None:
                heads.append(head)
            return st, ch


TARGETS["cpm-msgstored"] = CpmMsgstored
TARGETS["cpm-sipd"] = CpmSipd


def available_targets():
    """Targets whose binary exists in OSEC_BIN."""
    return [t for t in TARGETS.values() if os.access(os.path.join(BIN, t.binary), os.X_OK)]


# ---- TLS-PSK clients (python's ssl has no PSK before 3.13: openssl s_client) --

class PskClient(threading.Thread):
    """One kept-alive TLS-PSK connection (identity = Entity ID, PSK derived
    from the EUKey) asking GET whoami every `think` seconds."""

    def __init__(self, port, entity, eukey, think, version="-tls1_3"):
        super().__init__(daemon=True)
        psk = hkdf_sha256(b64u_dec(eukey), b"omasec/v1/psk/eukey/" + entity.encode()).hex()
        self.entity, self.think = entity, think
        self.p = subprocess.Popen(["openssl", "s_client", "-quiet", "-connect",
                                   "127.0.0.1:%d" % port, version, "-psk_identity", entity,
                                   "-psk", psk, "-ign_eof"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.lat, self.errors = [], []
        self.stop = threading.Event()

    def _one(self):
        t0 = time.time()
        self.p.stdin.write(b"GET /cpns/v1/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        self.p.stdin.flush()
        status = self.p.stdout.readline()
        n = 0
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise EOFError("connection closed")
            if line.lower().startswith(b"content-length:"):
                n = int(line.split(b":")[1])
            if line in (b"\r\n", b"\n"):
                break
        body = self.p.stdout.read(n)
        self.lat.append(time.time() - t0)
        if not status.startswith(b"HTTP/1.1 200") or b'"auth":"tls-psk"' not in body:
            self.errors.append("%s: %r %r" % (self.entity, status, body[:100]))

    def run(self):
        try:
            while not self.stop.is_set():
                self._one()
                self.stop.wait(self.think)
        except (OSError, EOFError, ValueError) as e:
            if not self.stop.is_set():
                self.errors.append("%s: %s" % (self.entity, e))

    def close(self):
        self.stop.set()
        self.join(10)
        self.p.kill()
        self.p.wait()


# ---- the load run (make check: test_load_short.py; make soak: scripts/soak) ----

def _load_child(port, ctx, proto, n, think, seconds, open_rate, conn):
    raise_nofile()
    ld = AsyncLoad(port, ctx, proto, n, think, open_rate=open_rate)
    ld.run(seconds)
    alive = ld.alive()
    conn.send({"lat": ld.lat, "errors": ld.errors[:20], "n_errors": len(ld.errors),
               "replies": ld.replies, "alive": alive})
    ld.close()
    conn.close()


def run_load(target, clients, seconds, warmup, think=1.0, procs=2, extra=(), log=print):
    """clients kept-alive TLS connections speaking target.load_proto(),
    spread over procs processes (forked, before any thread starts), plus the
    extra client threads (with .lat, .errors, .start(), .close()), for
    seconds.  Samples the daemon's VmRSS and descriptors every 0.5 s.
    Returns a dict of figures."""
    import multiprocessing
    mp = multiprocessing.get_context("fork")
    pid = target.d.proc.pid
    base_fds, base_rss = fd_count(pid), proc_status(pid)
    proto, ctx = target.load_proto(), target.tls_ctx()
    kids = []
    per = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    for n in per:
        a, b = mp.Pipe(duplex=False)
        p = mp.Process(target=_load_child, args=(target.port, ctx, proto, n, think, seconds,
                                                 300.0 / procs, b))
        p.start()
        kids.append((p, a))
    extra = list(extra)
    for c in extra:
        c.start()
    samples = []   # (t, rss kB, fds)
    t0 = time.time()
    while time.time() - t0 < seconds:
        samples.append((time.time() - t0, proc_status(pid), fd_count(pid)))
        time.sleep(0.5)
    res = [a.recv() if a.poll(60) else {"lat": [], "errors": ["no report"], "n_errors": 1,
                                        "replies": 0, "alive": 0} for p, a in kids]
    for p, _ in kids:
        p.join(30)
    for c in extra:
        c.close()
    lat = [x for r in res for x in r["lat"]]
    steady = [s for s in samples if s[0] >= warmup]
    out = {
        "daemon": target.name, "clients": clients, "extra": len(extra), "seconds": seconds,
        "replies": sum(r["replies"] for r in res) + sum(len(c.lat) for c in extra),
        "errors": [e for r in res for e in r["errors"]] + [e for c in extra for e in c.errors],
        "n_errors": sum(r["n_errors"] for r in res) + sum(len(c.errors) for c in extra),
        "alive_at_end": sum(r["alive"] for r in res),
        "p50_ms": 1000 * percentile(lat, 50), "p99_ms": 1000 * percentile(lat, 99),
        "max_ms": 1000 * max(lat or [0]),
        "extra_p50_ms": 1000 * percentile([x for c in extra for x in c.lat], 50),
        "rss_base_kb": base_rss, "fds_base": base_fds,
        "rss_warm_kb": steady[0][1] if steady else 0,
        "rss_end_kb": steady[-1][1] if steady else 0,
        "rss_max_kb": max(s[1] for s in steady) if steady else 0,
        "fds_peak": max(s[2] for s in samples) if samples else 0,
        "samples": samples,
    }
    deadline = time.time() + 15
    while fd_count(pid) > base_fds and time.time() < deadline:
        time.sleep(0.2)
    out["fds_after"] = fd_count(pid)
    out["rss_after_kb"] = proc_status(pid)
    log("# %(daemon)s load: %(clients)d + %(extra)d clients for %(seconds)d s: %(replies)d "
        "replies, %(n_errors)d errors; latency p50 %(p50_ms).1f ms, p99 %(p99_ms).1f ms, max "
        "%(max_ms).0f ms (extra clients p50 %(extra_p50_ms).1f ms)" % out)
    log("# %(daemon)s RSS: %(rss_base_kb)d kB idle, %(rss_warm_kb)d kB after warm-up, "
        "%(rss_max_kb)d kB max, %(rss_end_kb)d kB at the end, %(rss_after_kb)d kB after the "
        "clients left; fds %(fds_base)d idle, %(fds_peak)d peak, %(fds_after)d after" % out)
    return out


def rss_growth_kb(samples, warmup):
    """RSS growth over the steady phase: mean of the last quarter minus mean
    of the first quarter (robust to one sample's jitter)."""
    steady = [s[1] for s in samples if s[0] >= warmup]
    if len(steady) < 4:
        return 0
    q = max(1, len(steady) // 4)
    return sum(steady[-q:]) / q - sum(steady[:q]) / q
