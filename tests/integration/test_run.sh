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

port=$(free_port)
CPNS_PORT=$port OSEC_BIN="$OSEC_BIN" "$RUN" "$T/var" >"$T/run.log" 2>&1 &
PIDS="$!"
i=0
until curl -s --cacert "$T/var/pki/ca.crt" -o /dev/null "https://127.0.0.1:$port/cpns/v1/whoami"; do
    i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.1
done
code=$(curl -s --cacert "$T/var/pki/ca.crt" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$port/cpns/v1/whoami")
[ "$code" = 401 ] && ok "the started cpns-server answers (401 challenge)" || { bad "cpns-server answers ($code)"; cat "$T/run.log"; }
finish
