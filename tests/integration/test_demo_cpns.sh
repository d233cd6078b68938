#!/bin/sh
# scripts/demo-cpns keeps working: every step of the CPNS story succeeds.
. "$(dirname "$0")/lib/common.sh"
expect_rc 0 "scripts/demo-cpns runs to the end" env OSEC_BIN="$OSEC_BIN" "$OSEC_SRC/scripts/demo-cpns"
expect_grep "^demo complete$" "$T/out" "demo complete"
expect_grep "watch-1: authenticated gw=gw-1" "$T/out" "PNE joined over TLS-PSK"
expect_grep "sensor-1: authenticated gw=gw-1" "$T/out" "PNE joined over DTLS-PSK"
expect_grep '"entity_id":"watch-1"' "$T/out" "relayed whoami"
expect_grep "gw-2: authenticated gw=gw-1" "$T/out" "GW<->GW link"
expect_grep "no onetime key is waiting" "$T/out" "reuse refused"
expect_grep "sensor-1: accepted from=watch-1 seq=1 lights off" "$T/out" "group message accepted"
expect_grep "sensor-1: dropped .*malformed=1" "$T/out" "forged group datagram dropped and counted"
finish
