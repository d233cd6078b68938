#!/bin/sh
# make deb: the three packages build with dpkg-buildpackage, hold what they
# should (programs, units, man pages, config, headers, libraries, .pc) with
# sane metadata and maintainer scripts; unpacked with dpkg -x (nothing is
# installed on this machine) the programs run, the -dev package builds a
# program, and systemd-analyze accepts the units.
#
# The package build compiles the whole tree once more (about 35 s with two
# cores), so it runs in the normal build's ctest only: the package does not
# depend on the sanitizer build.
. "$(dirname "$0")/lib/common.sh"

if [ "${OSEC_SANITIZE:-OFF}" = "ON" ]; then
    echo "skip - packages are built and checked by the normal build's run"; finish; exit $?
fi
for tool in dpkg-buildpackage dh dpkg-deb; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "skip - $tool not installed (scripts/install-deps installs it)"; finish; exit $?
    fi
done

version=$(cd "$OSEC_SRC" && dpkg-parsechangelog -S Version)
upstream=$(sed -n 's/^project(omasec VERSION \([0-9.]*\).*/\1/p' "$OSEC_SRC/CMakeLists.txt")
arch=$(dpkg --print-architecture)
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
[ "${version%-*}" = "$upstream" ] && ok "debian/changelog version $version matches CMakeLists.txt $upstream" \
    || bad "debian/changelog version $version matches CMakeLists.txt $upstream"

start=$(date +%s)
expect_rc 0 "make deb" make -s -C "$OSEC_SRC" deb DEB_OUT="$T/deb" JOBS="$(nproc)"
echo "     (make deb took $(( $(date +%s) - start ))s)"

for p in omasec-server omasec-gw libomasec-dev; do
    f="$T/deb/${p}_${version}_${arch}.deb"
    if [ -f "$f" ]; then ok "built $p"; else bad "built $p"; fi
done
S="$T/deb/omasec-server_${version}_${arch}.deb"
G="$T/deb/omasec-gw_${version}_${arch}.deb"
D="$T/deb/libomasec-dev_${version}_${arch}.deb"
[ -f "$S" ] && [ -f "$G" ] && [ -f "$D" ] || { finish; exit 1; }

# has DEB DESC PATH...: dpkg-deb -c lists every PATH
has() {
    deb=$1 desc=$2; shift 2
    dpkg-deb -c "$deb" | awk '{print $6}' | sed 's#^\./#/#' >"$T/list"
    miss=""
    for f in "$@"; do grep -qxF "$f" "$T/list" || miss="$miss $f"; done
    [ -z "$miss" ] && ok "$desc" || bad "$desc (missing:$miss)"
}
has "$S" "omasec-server: programs" /usr/bin/cpns-server /usr/bin/omasecctl /usr/bin/cpm-sipd
has "$S" "omasec-server: cpns-server and cpm-sipd units" \
    /lib/systemd/system/cpns-server.service /lib/systemd/system/cpm-sipd.service
has "$S" "omasec-server: man pages" /usr/share/man/man8/cpns-server.8.gz \
    /usr/share/man/man8/omasecctl.8.gz /usr/share/man/man8/cpm-sipd.8.gz \
    /usr/share/man/man5/omasec.conf.5.gz
has "$S" "omasec-server: configuration and documentation" /etc/omasec/omasec.conf \
    /usr/share/doc/omasec-server/operations.md.gz /usr/share/doc/omasec-server/copyright
# cpm-msgstored joins when the tree builds it; then all three parts must be there.
if grep -qxF /usr/bin/cpm-msgstored "$T/list"; then
    has "$S" "omasec-server: cpm-msgstored with unit and man page" /usr/bin/cpm-msgstored \
        /lib/systemd/system/cpm-msgstored.service /usr/share/man/man8/cpm-msgstored.8.gz
else
    echo "skip - cpm-msgstored is not built in this tree: not packaged yet"
    if grep -q cpm-msgstored "$T/list"; then bad "no cpm-msgstored leftovers without the program"
    else ok "no cpm-msgstored leftovers without the program"; fi
fi
has "$G" "omasec-gw: programs, unit, env file, man pages" /usr/bin/cpns-gw /usr/bin/cpns-pne \
    /lib/systemd/system/cpns-gw.service /etc/omasec/cpns-gw.env \
    /usr/share/man/man8/cpns-gw.8.gz /usr/share/man/man1/cpns-pne.1.gz
has "$D" "libomasec-dev: headers, static + shared library, pkg-config" \
    /usr/include/omasec/crypto.h /usr/include/omasec/digest.h /usr/include/omasec/store.h \
    "/usr/lib/$ma/libomasec.a" "/usr/lib/$ma/libomasec.so" "/usr/lib/$ma/libomasec.so.0" \
    "/usr/lib/$ma/pkgconfig/omasec.pc"
dpkg-deb -c "$S" | awk '$6 ~ /^\.\/usr\/bin\// {print $1}' | sort -u >"$T/modes"
expect_grep "^-rwxr-xr-x$" "$T/modes" "omasec-server: programs are 0755"
expect_no_grep "[sS]" "$T/modes" "omasec-server: nothing setuid or setgid"

# metadata: field FILE NAME -> value
field() { dpkg-deb -f "$1" "$2"; }
for deb in "$S" "$G" "$D"; do
    n=$(field "$deb" Package)
    [ "$(field "$deb" Version)" = "$version" ] && ok "$n: Version $version" || bad "$n: Version"
    [ "$(field "$deb" Architecture)" = "$arch" ] && ok "$n: Architecture $arch" || bad "$n: Architecture"
    field "$deb" Maintainer | grep -q '<.*@.*>' && ok "$n: Maintainer with address" || bad "$n: Maintainer"
    [ "$(field "$deb" Description | wc -l)" -ge 3 ] && ok "$n: long Description" || bad "$n: long Description"
done
field "$S" Depends >"$T/dep"
expect_grep "libssl3" "$T/dep" "omasec-server depends on libssl3 (shlibs)"
expect_grep "libsqlite3-0" "$T/dep" "omasec-server depends on libsqlite3-0 (shlibs)"
expect_grep "(^|, )adduser" "$T/dep" "omasec-server depends on adduser (postinst)"
expect_no_grep "libomasec" "$T/dep" "omasec-server does not depend on a libomasec package (static)"
field "$D" Depends >"$T/dep"
expect_grep "libssl-dev" "$T/dep" "libomasec-dev depends on the -dev packages omasec.pc requires"
dpkg-deb -I "$S" >"$T/info" 2>&1
expect_grep "^ Section: net" "$T/info" "dpkg-deb -I omasec-server shows Section net"

# maintainer scripts
dpkg-deb -e "$S" "$T/ctl-s"; dpkg-deb -e "$G" "$T/ctl-g"
expect_grep "^/etc/omasec/omasec.conf$" "$T/ctl-s/conffiles" "omasec.conf is a conffile"
expect_grep "^/etc/omasec/cpns-gw.env$" "$T/ctl-g/conffiles" "cpns-gw.env is a conffile"
for s in "$T"/ctl-?/postinst "$T"/ctl-?/postrm "$T"/ctl-?/prerm; do
    expect_rc 0 "${s#"$T"/} is valid sh" sh -n "$s"
done
expect_grep "adduser --system" "$T/ctl-s/postinst" "server postinst creates the system user"
expect_grep "runuser -u omasec -- /usr/bin/omasecctl --data \"\\\$DATA\" init" "$T/ctl-s/postinst" \
    "server postinst initialises the data dir as omasec"
expect_grep "deb-systemd-helper enable 'cpns-server.service'" "$T/ctl-s/postinst" \
    "cpns-server is enabled on installation"
expect_grep "debian-installed 'cpm-sipd.service'" "$T/ctl-s/postinst" \
    "cpm-sipd is installed disabled (enabled only if it was)"
expect_grep "debian-installed 'cpns-gw.service'" "$T/ctl-g/postinst" \
    "cpns-gw is installed disabled (enabled only if it was)"

# unpack (no installation) and use
R="$T/root"
for deb in "$S" "$G" "$D"; do dpkg -x "$deb" "$R"; done
expect_rc 0 "unpacked omasecctl runs" "$R/usr/bin/omasecctl" --help
expect_rc 0 "unpacked cpns-server runs" "$R/usr/bin/cpns-server" --help
expect_rc 0 "unpacked cpns-gw runs" "$R/usr/bin/cpns-gw" --help
expect_rc 0 "unpacked omasecctl initialises a data dir" "$R/usr/bin/omasecctl" --data "$T/data" init
expect_rc 0 "unpacked cpns-server accepts the packaged omasec.conf" \
    "$R/usr/bin/cpns-server" --data "$T/data" --config "$R/etc/omasec/omasec.conf" --check-config
if command -v readelf >/dev/null 2>&1; then
    readelf -d "$R/usr/bin/cpns-server" >"$T/elf"
    expect_no_grep "NEEDED.*libomasec" "$T/elf" "cpns-server links libomasec statically"
    expect_grep "BIND_NOW" "$T/elf" "cpns-server is linked with -z now"
fi
cat >"$T/demo.c" <<'C'
#include <stdio.h>
#include <omasec/error.h>
int main(void) { puts(osec_strerror(OSEC_EAUTH)); return 0; }
C
PKG_CONFIG_PATH="$R/usr/lib/$ma/pkgconfig" pkg-config --cflags --libs omasec >"$T/pc" 2>&1 || true
expect_grep "^-I$R/usr/lib/$ma/pkgconfig/../../../include " "$T/pc" \
    "omasec.pc is relocatable (paths relative to the .pc file)"
# shellcheck disable=SC2046
expect_rc 0 "a program builds against libomasec-dev (shared)" \
    cc -o "$T/demo" "$T/demo.c" $(cat "$T/pc")
LD_LIBRARY_PATH="$R/usr/lib/$ma" "$T/demo" >"$T/out" 2>&1 || true
expect_grep "^EAUTH$" "$T/out" "it runs against the packaged libomasec.so"

# units: systemd-analyze wants the programs at their paths, so check copies
# of the units that point into the unpacked root.
if command -v systemd-analyze >/dev/null 2>&1; then
    mkdir "$T/units"
    for u in "$R"/lib/systemd/system/*.service; do
        sed "s#/usr/bin/#$R/usr/bin/#g" "$u" >"$T/units/${u##*/}"
    done
    set +e
    systemd-analyze verify --man=no "$T"/units/*.service >"$T/verify" 2>&1; rc=$?
    set -e
    if [ "$rc" -eq 0 ] && [ ! -s "$T/verify" ]; then ok "systemd-analyze verify accepts the units"
    else bad "systemd-analyze verify accepts the units (exit $rc)"; sed 's/^/    | /' "$T/verify"; fi
    for u in "$T"/units/*.service; do
        systemd-analyze security --offline=yes "$u" 2>/dev/null |
            sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p' >"$T/score"
        s=$(cat "$T/score")
        if [ -n "$s" ] && awk "BEGIN{exit !($s <= 2.0)}"; then ok "${u##*/}: exposure $s <= 2.0"
        else bad "${u##*/}: exposure '$s' <= 2.0"; fi
    done
else
    echo "skip - systemd-analyze not installed: units not verified"
fi
finish
