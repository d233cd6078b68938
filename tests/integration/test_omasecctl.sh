#!/bin/sh
# omasecctl black-box test: init, users, addresses, entities, policy, audit,
# and the refusals an operator relies on.
. "$(dirname "$0")/lib/common.sh"
CTL="$OSEC_BIN/omasecctl"
D="$T/data"

expect_rc 0 "--help exits 0" "$CTL" --help
expect_grep "user add NAME" "$T/out" "--help lists user add"
expect_rc 2 "unknown command is a usage error" "$CTL" --data "$D" frobnicate
expect_rc 1 "commands on a missing data dir fail" "$CTL" --data "$D" user list
expect_grep "no such data directory" "$T/err" "missing data dir error names the fix"

expect_rc 0 "init" "$CTL" --data "$D" init
for f in omasec.db master.key pki/ca.crt pki/server.crt pki/server.key pki/client.crt pki/client.key; do
    [ -f "$D/$f" ] && ok "init created $f" || bad "init created $f"
done
[ "$(file_mode "$D/master.key")" = 600 ] && ok "master.key is 0600" || bad "master.key mode $(file_mode "$D/master.key")"
[ "$(file_mode "$D/pki/server.key")" = 600 ] && ok "server.key is 0600" || bad "server.key mode"
[ "$(file_mode "$D/omasec.db")" = 600 ] && ok "omasec.db is 0600" || bad "omasec.db mode $(file_mode "$D/omasec.db")"
[ "$(file_mode "$D")" = 700 ] && ok "data dir is 0700" || bad "data dir mode $(file_mode "$D")"

# The development PKI is usable by a client no one here wrote.
expect_rc 0 "openssl verifies server.crt against ca.crt" openssl verify -CAfile "$D/pki/ca.crt" "$D/pki/server.crt"
expect_rc 0 "openssl verifies client.crt against ca.crt" openssl verify -CAfile "$D/pki/ca.crt" "$D/pki/client.crt"
openssl x509 -in "$D/pki/server.crt" -noout -ext subjectAltName >"$T/san" 2>&1 || true
expect_grep "DNS:localhost" "$T/san" "server cert has DNS:localhost"
expect_grep "IP Address:127.0.0.1" "$T/san" "server cert has IP:127.0.0.1"

echo 'correct horse battery' | "$CTL" --data "$D" user add alice >"$T/out" 2>&1 && ok "user add alice" || bad "user add alice"
expect_rc 0 "user add with --password-stdin after the name" sh -c "echo 'pw-of-bob' | '$CTL' --data '$D' user add bob --password-stdin"
expect_rc 1 "duplicate user refused" sh -c "echo x | '$CTL' --data '$D' user add alice"
expect_grep "already exists" "$T/err" "duplicate user message"
expect_rc 1 "bad user name refused" sh -c "echo x | '$CTL' --data '$D' user add 'a:b'"
expect_rc 1 "empty password refused" sh -c "printf '\n' | '$CTL' --data '$D' user add carol"
expect_rc 0 "user list" "$CTL" --data "$D" user list
expect_grep "^alice " "$T/out" "user list shows alice"
expect_grep "^bob " "$T/out" "user list shows bob"
expect_no_grep "correct horse" "$T/out" "user list shows no password"

# No secret in the store in clear: password, HA1 (MD5 hex) never appear.
ha1=$(printf 'alice:omasec:correct horse battery' | md5sum | cut -d' ' -f1)
if grep -qa "correct horse" "$D/omasec.db" "$D"/omasec.db-wal 2>/dev/null; then bad "password in store"; else ok "password not in the store"; fi
if grep -qai "$ha1" "$D/omasec.db" "$D"/omasec.db-wal 2>/dev/null; then bad "HA1 in store"; else ok "HA1 not in the store in clear"; fi

expect_rc 0 "user passwd" sh -c "echo 'new secret' | '$CTL' --data '$D' user passwd alice"
expect_rc 1 "passwd of unknown user" sh -c "echo 'x' | '$CTL' --data '$D' user passwd nobody"
expect_grep "no such user" "$T/err" "unknown user message"
expect_rc 0 "user set require-tls" "$CTL" --data "$D" user set alice require-tls on
expect_rc 0 "user list after flag" "$CTL" --data "$D" user list
expect_grep "^alice .*require-tls" "$T/out" "flag shown"

expect_rc 0 "address add" "$CTL" --data "$D" address add alice sip:alice@example.com
expect_rc 1 "address allocated twice refused" "$CTL" --data "$D" address add bob sip:alice@example.com
expect_grep "already allocated" "$T/err" "double allocation message"
expect_rc 1 "address for unknown user" "$CTL" --data "$D" address add nobody sip:x@example.com
expect_rc 1 "non-URI address refused" "$CTL" --data "$D" address add bob 'alice@example.com'
expect_rc 0 "address list" "$CTL" --data "$D" address list alice
expect_grep "sip:alice@example.com +alice" "$T/out" "address listed"
expect_rc 1 "del of another user's address refused" "$CTL" --data "$D" address del bob sip:alice@example.com
expect_rc 0 "address del" "$CTL" --data "$D" address del alice sip:alice@example.com
expect_rc 1 "address del twice" "$CTL" --data "$D" address del alice sip:alice@example.com

expect_rc 0 "entity list (empty)" "$CTL" --data "$D" entity list
expect_rc 1 "revoke unknown entity" "$CTL" --data "$D" entity revoke watch-1
expect_grep "no such entity" "$T/err" "revoke unknown entity message"

expect_rc 0 "policy get realm" "$CTL" --data "$D" policy get digest.realm
expect_grep "^omasec$" "$T/out" "default realm"
expect_rc 1 "policy get unknown" "$CTL" --data "$D" policy get no.such

expect_rc 0 "user del" "$CTL" --data "$D" user del bob
expect_rc 1 "user del twice" "$CTL" --data "$D" user del bob

expect_rc 0 "audit" "$CTL" --data "$D" audit --limit 100
for ev in store.init user.add user.passwd address.add address.del user.del user.flags; do
    expect_grep " $ev " "$T/out" "audit has $ev"
done
expect_no_grep "correct horse|new secret" "$T/out" "audit has no secrets"
expect_rc 1 "audit bad limit" "$CTL" --data "$D" audit --limit zero

# Re-running init never destroys data.
sum=$(md5sum <"$D/master.key")
ca=$(md5sum <"$D/pki/ca.crt")
expect_rc 0 "init again" "$CTL" --data "$D" init
[ "$(md5sum <"$D/master.key")" = "$sum" ] && ok "master key kept" || bad "master key changed"
[ "$(md5sum <"$D/pki/ca.crt")" = "$ca" ] && ok "CA kept" || bad "CA changed"
expect_rc 0 "user list after re-init" "$CTL" --data "$D" user list
expect_grep "^alice " "$T/out" "alice survives re-init"

# Key file protections.
chmod 644 "$D/master.key"
expect_rc 1 "world-readable master key refused" sh -c "echo x | '$CTL' --data '$D' user add dave"
chmod 600 "$D/master.key"
mv "$D/master.key" "$D/master.real"; ln -s master.real "$D/master.key"
expect_rc 1 "symlinked master key refused" sh -c "echo x | '$CTL' --data '$D' user add dave"
rm "$D/master.key"; mv "$D/master.real" "$D/master.key"
expect_rc 0 "check: integrity and sealed values" "$CTL" --data "$D" check
expect_grep "sealed +1 open, 0 broken" "$T/out" "check counts the sealed values"
# tamper with alice's sealed HA1 values: check must say so and fail
python3 - "$D/omasec.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
(blob,) = db.execute("SELECT ha1_sealed FROM users WHERE name='alice'").fetchone()
b = bytearray(blob); b[-1] ^= 1
db.execute("UPDATE users SET ha1_sealed=? WHERE name='alice'", (bytes(b),))
db.commit()
PY
expect_rc 1 "check detects a tampered sealed value" "$CTL" --data "$D" check
expect_grep "user alice: sealed Digest secrets do not open" "$T/err" "check names the broken record"
expect_rc 0 "status" "$CTL" --data "$D" status
expect_grep "users +1" "$T/out" "status counts users"

finish
