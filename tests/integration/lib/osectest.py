"""Shared helpers for omasec black-box tests (python3 standard library only).

Starts real daemons from $OSEC_BIN in a temporary directory, on 127.0.0.1
ports picked at random, and tallies checks; a test ends with
`N passed, N failed` and a non-zero exit status on failure.
"""
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("OSEC_BIN") or sys.exit("OSEC_BIN must point at build/bin")
SRC = os.environ.get("OSEC_SRC") or sys.exit("OSEC_SRC must point at the source tree")


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, cond, desc, detail=""):
        if cond:
            self.passed += 1
            print("ok   - " + desc)
        else:
            self.failed += 1
            print("FAIL - " + desc + (("\n    | " + str(detail).replace("\n", "\n    | ")) if detail else ""))
        sys.stdout.flush()
        return cond

    def eq(self, got, want, desc):
        return self.ok(got == want, desc, "got %r, wanted %r" % (got, want))

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        sys.exit(1 if self.failed else 0)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def free_udp_tcp_port():
    """A port free for both UDP and TCP (cpm-sipd's udp and tcp listeners share it)."""
    for _ in range(50):
        p = free_port()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
        finally:
            u.close()
    raise RuntimeError("no free port")


class TempDir:
    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="omasec-test.")

    def cleanup(self):
        shutil.rmtree(self.path, ignore_errors=True)


def ctl(data, *args, stdin=None):
    return subprocess.run([os.path.join(BIN, "omasecctl"), "--data", data] + list(args),
                          input=stdin, capture_output=True, text=True, timeout=60)


class Daemon:
    """A real daemon process; stderr goes to a log file we can grep."""

    def __init__(self, argv, log_path, ready_port=None, timeout=20.0):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        if ready_port:
            deadline = time.time() + timeout
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError("daemon exited early:\n" + self.read_log())
                try:
                    socket.create_connection(("127.0.0.1", ready_port), timeout=0.5).close()
                    return
                except OSError:
                    time.sleep(0.05)
            raise RuntimeError("daemon did not listen:\n" + self.read_log())

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM, timeout=20.0):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def hkdf_sha256(ikm, info, length=32, salt=b""):
    import hmac
    prk = hmac.new(salt or b"\0" * 32, ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:length]


def b64url_decode(s):
    import base64
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64url_encode(b):
    import base64
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256,
          "SHA-512-256": lambda d=b"": hashlib.new("sha512_256", d)}


def parse_challenges(value):
    """Very small WWW-Authenticate parser for the tests' own raw client."""
    out, cur = [], None
    i = 0
    while i < len(value):
        while i < len(value) and value[i] in " ,":
            i += 1
        if value[i:i + 7].lower() == "digest ":
            cur = {}
            out.append(cur)
            i += 7
            continue
        eq = value.index("=", i)
        k = value[i:eq].strip().lower()
        i = eq + 1
        if value[i] == '"':
            j = value.index('"', i + 1)
            v = value[i + 1:j]
            i = j + 1
        else:
            j = i
            while j < len(value) and value[j] != ",":
                j += 1
            v = value[i:j].strip()
            i = j
        cur[k] = v
    return out


def digest_header(ch, user, password, method, uri, nc=1, cnonce="0a4f113b", alg=None,
                  qop="auth"):
    alg = alg or ch.get("algorithm", "MD5")
    h = lambda s: HASHES[alg](s.encode()).hexdigest()
    ha1 = h("%s:%s:%s" % (user, ch["realm"], password))
    ha2 = h("%s:%s" % (method, uri))
    ncs = "%08x" % nc
    resp = h("%s:%s:%s:%s:%s:%s" % (ha1, ch["nonce"], ncs, cnonce, qop, ha2))
    return ('Digest username="%s", realm="%s", nonce="%s", uri="%s", algorithm=%s, '
            'response="%s", qop=%s, nc=%s, cnonce="%s"' %
            (user, ch["realm"], ch["nonce"], uri, alg, resp, qop, ncs, cnonce))
