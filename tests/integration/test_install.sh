#!/bin/sh
# make install: programs, libomasec (static + shared), headers and a
# pkg-config file land under PREFIX, and a program builds against them.
. "$(dirname "$0")/lib/common.sh"
BUILD=$(dirname "$OSEC_BIN")
P="$T/prefix"

expect_rc 0 "cmake --install into a prefix" cmake --install "$BUILD" --prefix "$P"
for f in bin/omasecctl bin/cpns-server include/omasec/digest.h include/omasec/store.h; do
    [ -e "$P/$f" ] && ok "installed $f" || bad "installed $f"
done
lib=$(find "$P" -name 'libomasec.a' | head -1)
so=$(find "$P" -name 'libomasec.so*' | head -1)
pc=$(find "$P" -name 'omasec.pc' | head -1)
[ -n "$lib" ] && ok "static library installed" || bad "static library installed"
[ -n "$so" ] && ok "shared library installed" || bad "shared library installed"
[ -n "$pc" ] && ok "pkg-config file installed" || bad "pkg-config file installed"

cat >"$T/demo.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <omasec/crypto.h>
#include <omasec/error.h>
int main(void)
{
    uint8_t out[32];
    /* RFC 5869 test case 3: HKDF-SHA256 with empty salt and info */
    uint8_t ikm[22];
    memset(ikm, 0x0b, sizeof(ikm));
    if (osec_hkdf_sha256(NULL, 0, ikm, sizeof(ikm), NULL, 0, out, 32) != 0)
        return 1;
    printf("%02x%02x%02x%02x %s\n", out[0], out[1], out[2], out[3], osec_strerror(OSEC_EAUTH));
    return 0;
}
C
san=""
[ "${OSEC_SANITIZE:-OFF}" = "ON" ] && san="-fsanitize=address,undefined"
export PKG_CONFIG_PATH="$(dirname "$pc")"
expect_rc 0 "pkg-config knows omasec" pkg-config --exists omasec
# shellcheck disable=SC2046
expect_rc 0 "a program compiles and links against the installed library" \
    cc $san -o "$T/demo" "$T/demo.c" $(pkg-config --cflags --libs omasec)
LD_LIBRARY_PATH="$(dirname "$so")" "$T/demo" >"$T/out" 2>&1 || true
expect_grep "^8da4e775 EAUTH$" "$T/out" "the installed library computes RFC 5869 case 3"
finish
