"""A small raw SIP client for the cpm-sipd black-box tests (python3 stdlib).

sipp 3.6 covers MD5 Digest over UDP; this client covers what it cannot:
SHA-256 Digest, replayed credentials, TCP, and mutual TLS for IWF peers.
"""
import hashlib
import os
import socket
import ssl
import time

HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256,
          "SHA-512-256": lambda d=b"": hashlib.new("sha512_256", d)}


class Msg:
    def __init__(self, raw):
        self.raw = raw
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("utf-8", "replace").split("\r\n")
        self.start = lines[0]
        self.headers = []
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            self.headers.append((k.strip().lower(), v.strip()))
        parts = self.start.split(" ", 2)
        self.is_response = parts[0] == "SIP/2.0"
        self.status = int(parts[1]) if self.is_response else 0
        self.method = None if self.is_response else parts[0]

    def all(self, name):
        return [v for k, v in self.headers if k == name.lower()]

    def get(self, name, default=None):
        v = self.all(name)
        return v[0] if v else default

    def __repr__(self):
        return self.raw.decode("utf-8", "replace")


def parse_challenge(value):
    """One Digest challenge (one header field, RFC 8760) into a dict."""
    assert value.lower().startswith("digest ")
    out, i, s = {}, 7, value
    while i < len(s):
        while i < len(s) and s[i] in " ,":
            i += 1
        if i >= len(s):
            break
        eq = s.index("=", i)
        k = s[i:eq].strip().lower()
        i = eq + 1
        if s[i] == '"':
            j = s.index('"', i + 1)
            v = s[i + 1:j]
            i = j + 1
        else:
            j = i
            while j < len(s) and s[j] != ",":
                j += 1
            v = s[i:j].strip()
            i = j
        out[k] = v
    return out


def authorization(ch, user, password, method, uri, nc=1, cnonce=None, alg=None):
    alg = alg or ch.get("algorithm", "MD5")
    cnonce = cnonce or os.urandom(8).hex()
    h = lambda s: HASHES[alg](s.encode()).hexdigest()
    ha1 = h("%s:%s:%s" % (user, ch["realm"], password))
    ha2 = h("%s:%s" % (method, uri))
    ncs = "%08x" % nc
    resp = h("%s:%s:%s:%s:auth:%s" % (ha1, ch["nonce"], ncs, cnonce, ha2))
    return ('Digest username="%s", realm="%s", nonce="%s", uri="%s", algorithm=%s, '
            'response="%s", qop=auth, nc=%s, cnonce="%s"' %
            (user, ch["realm"], ch["nonce"], uri, alg, resp, ncs, cnonce))


class Client:
    """One SIP UA on UDP, TCP or TLS toward the edge at (host, port)."""

    def __init__(self, edge_port, transport="udp", host="127.0.0.1", tls_context=None,
                 local_port=0):
        self.transport = transport
        self.edge = (host, edge_port)
        self.seq = 0
        self.buf = b""
        if transport == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", local_port))
        else:
            raw = socket.create_connection(self.edge, timeout=5)
            self.sock = (tls_context.wrap_socket(
                raw, server_hostname="localhost" if tls_context.check_hostname else None)
                if tls_context else raw)
        self.local = self.sock.getsockname()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def via(self, branch):
        tp = {"udp": "UDP", "tcp": "TCP", "tls": "TLS"}[self.transport]
        return "SIP/2.0/%s %s:%d;branch=%s;rport" % (tp, self.local[0], self.local[1], branch)

    def request(self, method, ruri, from_uri, to_uri, call_id=None, cseq=None, headers=(),
                body=b"", branch=None, from_tag="ft1", to_tag=None):
        self.seq += 1
        branch = branch or "z9hG4bK" + os.urandom(6).hex()
        call_id = call_id or os.urandom(8).hex() + "@test"
        lines = ["%s %s SIP/2.0" % (method, ruri), "Via: " + self.via(branch),
                 "Max-Forwards: 70",
                 "From: <%s>;tag=%s" % (from_uri, from_tag),
                 "To: <%s>%s" % (to_uri, ";tag=" + to_tag if to_tag else ""),
                 "Call-ID: " + call_id, "CSeq: %d %s" % (cseq or self.seq, method)]
        lines += list(headers)
        if body:
            lines.append("Content-Type: text/plain")
        lines.append("Content-Length: %d" % len(body))
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def send(self, data):
        if self.transport == "udp":
            self.sock.sendto(data, self.edge)
        else:
            self.sock.sendall(data)

    def recv(self, timeout=3.0):
        """Next message, or None on timeout."""
        self.sock.settimeout(timeout)
        try:
            if self.transport == "udp":
                data, _ = self.sock.recvfrom(65535)
                return Msg(data)
            return self._recv_stream(time.time() + timeout)
        except (socket.timeout, ssl.SSLError, OSError):
            return None

    def _recv_stream(self, deadline):
        while True:
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end >= 0:
                m = Msg(self.buf[:head_end + 4])
                n = int(m.get("content-length", m.get("l", "0")))
                if len(self.buf) >= head_end + 4 + n:
                    raw = self.buf[:head_end + 4 + n]
                    self.buf = self.buf[head_end + 4 + n:]
                    return Msg(raw)
            left = deadline - time.time()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk

    def transact(self, data, timeout=3.0):
        """Send a request; return its final response (provisionals skipped)."""
        self.send(data)
        while True:
            m = self.recv(timeout)
            if m is None or (m.is_response and m.status >= 200):
                return m

    def register(self, user, password, aor, expires=300, alg=None, contact=None,
                 call_id=None, domain="example.com"):
        """REGISTER, answer the challenge for alg (default: the first one);
        returns (final response, challenge used, the authorized request)."""
        call_id = call_id or os.urandom(8).hex() + "@reg"
        contact = contact or "<sip:%s@%s:%d>" % (user, self.local[0], self.local[1])
        hdrs = ["Contact: " + contact, "Expires: %d" % expires]
        ruri = "sip:" + domain
        r = self.transact(self.request("REGISTER", ruri, aor, aor, call_id=call_id, headers=hdrs))
        if r is None or r.status != 401:
            return r, None, None
        chs = [parse_challenge(v) for v in r.all("www-authenticate")]
        ch = chs[0] if alg is None else next((c for c in chs if c.get("algorithm") == alg), None)
        if ch is None:
            return r, None, None
        auth = authorization(ch, user, password, "REGISTER", ruri)
        req = self.request("REGISTER", ruri, aor, aor, call_id=call_id,
                           headers=hdrs + ["Authorization: " + auth])
        return self.transact(req), ch, req


class CsSocket:
    """A raw Conversation Server on UDP: the edge forwards to it; tests
    subclass it with what they answer or send."""

    def __init__(self, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.port = port
        self.n = 0

    def recv(self, timeout=3.0):
        self.sock.settimeout(timeout)
        try:
            data, addr = self.sock.recvfrom(65535)
            return Msg(data), addr
        except socket.timeout:
            return None, None
