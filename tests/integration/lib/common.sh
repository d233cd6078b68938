# Shared helpers for black-box tests (sourced by tests/integration/test_*).
set -eu
: "${OSEC_BIN:?OSEC_BIN must point at build/bin}"
: "${OSEC_SRC:?OSEC_SRC must point at the source tree}"

T=$(mktemp -d "${TMPDIR:-/tmp}/omasec-test.XXXXXX")
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT

FAILS=0
CHECKS=0
ok()   { CHECKS=$((CHECKS + 1)); echo "ok   - $*"; }
bad()  { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); echo "FAIL - $*"; }
# expect_rc WANT DESC CMD...: run CMD, compare exit status
expect_rc() {
    want=$1 desc=$2; shift 2
    set +e; "$@" >"$T/out" 2>"$T/err"; got=$?; set -e
    if [ "$got" -eq "$want" ]; then ok "$desc"; else
        bad "$desc (exit $got, wanted $want)"; sed 's/^/    | /' "$T/out" "$T/err"; fi
}
# expect_grep PATTERN FILE DESC
expect_grep() {
    if grep -qE -- "$1" "$2"; then ok "$3"; else
        bad "$3 (no /$1/ in $2)"; sed 's/^/    | /' "$2"; fi
}
expect_no_grep() {
    if grep -qE -- "$1" "$2"; then bad "$3 (found /$1/ in $2)"; sed 's/^/    | /' "$2"; else ok "$3"; fi
}
finish() {
    echo "$((CHECKS - FAILS)) passed, $FAILS failed"
    [ "$FAILS" -eq 0 ]
}
# A free TCP port on 127.0.0.1 (python3 standard library only).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
file_mode() { stat -c %a "$1"; }
