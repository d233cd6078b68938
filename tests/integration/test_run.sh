#!/bin/sh
# make run's setup step: scripts/run initialises a data dir once and never
# destroys it; then the stack starts and answers on loopback.
. "$(dirname "$0")/lib/common.sh"
RUN="$OSEC_SRC/scripts/run"
expect_rc 0 "scripts/run --init-only initialises" env OSEC_BIN="$OSEC_BIN" "$RUN" --init-only "$T/var"
expect_grep "created +$T/var/master.key" "$T/out" "reports the master key it created"
expect_grep "created +$T/var/pki/server.crt" "$T/out" "reports the PKI it created"
for f in omasec.db master.key pki/ca.crt; do
    [ -f "$T/var/$f" ] && ok "$f exists" || bad "$f exists"
done
sum=$(md5sum <"$T/var/master.key")
expect_rc 0 "a second run keeps the data" env OSEC_BIN="$OSEC_BIN" "$RUN" --init-only "$T/var"
expect_grep "already initialised" "$T/out" "says it kept the data"
[ "$(md5sum <"$T/var/master.key")" = "$sum" ] && ok "master key unchanged" || bad "master key changed"

port=$(free_port); gp=$(free_port); gu=$(free_port); gt=$(free_port)
sp=$(free_port); st=$(free_port); ip=$(free_port); is=$(free_port)
SIP_PORT=$sp SIP_TLS_PORT=$st IMAP_PORT=$ip IMAPS_PORT=$is \
CPNS_PORT=$port GW_PORT=$gp GW_UDP_PORT=$gu GW_TUNNEL_PORT=$gt OSEC_BIN="$OSEC_BIN" \
    "$RUN" "$T/var" >"$T/run.log" 2>&1 &
PIDS="$!"
i=0
until curl -s --cacert "$T/var/pki/ca.crt" -o /dev/null "https://127.0.0.1:$port/cpns/v1/whoami" &&
      grep -q "Running" "$T/run.log"; do
    i=$((i + 1)); [ $i -gt 150 ] && break; sleep 0.1
done
code=$(curl -s --cacert "$T/var/pki/ca.crt" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$port/cpns/v1/whoami")
[ "$code" = 401 ] && ok "the started cpns-server answers (401 challenge)" || { bad "cpns-server answers ($code)"; cat "$T/run.log"; }
expect_grep "cpns-pne --data" "$T/run.log" "make run prints how to enrol and join a PNE"
# follow the printed instructions
P="$OSEC_BIN/cpns-pne"
expect_rc 0 "enrol a PNE as printed" sh -c "'$P' --data '$T/var/watch-1' enroll --server https://127.0.0.1:$port --entity watch-1 --user demo --cafile '$T/var/pki/ca.crt' <'$T/var/demo-password'"
expect_rc 0 "pair it on the running gateway" "$OSEC_BIN/cpns-gw" --data "$T/var/gw-1" pair watch-1
expect_rc 0 "join the running gateway" "$P" --data "$T/var/watch-1" join --gw "127.0.0.1:$gp"
expect_grep "authenticated gw=gw-1" "$T/out" "the PNE is authenticated by gw-1"
# the message store and the SIP edge of the stack answer real clients
pw=$(cat "$T/var/demo-password")
expect_rc 0 "curl lists the IMAP store over STARTTLS" \
    curl -sS --ssl-reqd --cacert "$T/var/pki/ca.crt" -u "demo:$pw" "imap://127.0.0.1:$ip/"
expect_grep "INBOX" "$T/out" "the demo user's INBOX is listed"
python3 - "$sp" >"$T/sip.out" 2>&1 <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5); s.bind(("127.0.0.1", 0))
lp = s.getsockname()[1]
msg = ("REGISTER sip:localhost SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-run1\r\n"
       "Max-Forwards: 70\r\nFrom: <sip:demo@localhost>;tag=1\r\nTo: <sip:demo@localhost>\r\n"
       "Call-ID: run-1\r\nCSeq: 1 REGISTER\r\nContact: <sip:demo@127.0.0.1:%d>\r\n"
       "Content-Length: 0\r\n\r\n") % (lp, lp)
s.sendto(msg.encode(), ("127.0.0.1", int(sys.argv[1])))
print(s.recv(4096).decode(errors="replace").split("\r\n")[0])
PY
expect_grep "^SIP/2.0 401" "$T/sip.out" "cpm-sipd challenges a REGISTER"
kill "$PIDS"; wait "$PIDS" 2>/dev/null || true
sleep 0.3
if pgrep -f "cpns-server --data $T/var" >/dev/null || pgrep -f "cpns-gw --data $T/var" >/dev/null ||
   pgrep -f "cpm-sipd --data $T/var" >/dev/null || pgrep -f "cpm-msgstored --data $T/var" >/dev/null; then
    bad "Ctrl-C/TERM stops every daemon"; else ok "TERM stops every daemon"; fi
PIDS=""
finish
