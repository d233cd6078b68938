#!/bin/sh
# Manual pages (man/): one per program and omasec.conf(5); each renders with
# groff -ww without a warning and has a NAME line apropos can index; each
# documents every option the program's --help lists and no option it lacks;
# omasec.conf(5) has an entry for every key of conf/omasec.conf in the right
# section; the cmake install puts them under share/man.
. "$(dirname "$0")/lib/common.sh"
M="$OSEC_SRC/man"
BUILD=$(dirname "$OSEC_BIN")
version=$(sed -n 's/^project(omasec VERSION \([0-9.]*\).*/\1/p' "$OSEC_SRC/CMakeLists.txt")

# Every program: the six of the design, plus whatever the build produced.
progs="omasecctl cpns-server cpns-gw cpns-pne cpm-sipd cpm-msgstored"
for b in "$OSEC_BIN"/*; do
    [ -x "$b" ] && [ -f "$b" ] || continue
    case " $progs " in *" ${b##*/} "*) ;; *) progs="$progs ${b##*/}" ;; esac
done
pages="$M/omasec.conf.5"
for p in $progs; do
    page=$(ls "$M/$p.1" "$M/$p.8" 2>/dev/null | head -1 || true)
    if [ -n "$page" ]; then ok "$p has a man page (${page##*/})"; pages="$pages $page"
    else bad "$p has a man page (man/$p.1 or man/$p.8)"; fi
done

for page in $pages; do
    n=${page##*/}
    groff -man -Tutf8 -ww -z "$page" >"$T/groff.out" 2>&1 || true
    if [ -s "$T/groff.out" ]; then bad "$n: groff -ww is silent"; sed 's/^/    | /' "$T/groff.out"
    else ok "$n: groff -ww is silent"; fi
    if command -v man >/dev/null 2>&1; then
        MANWIDTH=80 man -l "$page" >"$T/man.out" 2>"$T/man.err" || true
        if [ -s "$T/man.err" ]; then bad "$n: man -l renders without a message"; sed 's/^/    | /' "$T/man.err"
        else ok "$n: man -l renders without a message"; fi
        expect_grep "^(SEE ALSO|       )" "$T/man.out" "$n: man -l output has a body"
    fi
    if command -v lexgrog >/dev/null 2>&1; then
        expect_rc 0 "$n: lexgrog reads its NAME section" lexgrog "$page"
    fi
    th=$(sed -n 's/^\.TH .*"omasec \([0-9.]*\)".*/\1/p' "$page")
    [ "$th" = "$version" ] && ok "$n: .TH names omasec $version" \
        || bad "$n: .TH names omasec '$th', CMakeLists.txt says $version"
done

# Options: --help of each built program against its page.
# opts_of_help FILE: the long options a --help text mentions.
opts_of_help() { grep -oE -- '--[a-z][a-z0-9-]*' "$1" | sort -u; }
# opts_of_page PAGE: the long options tagged in its OPTIONS and COMMANDS
# sections (the line after each .TP), unescaped.
opts_of_page() {
    awk '/^\.SH /{s=($2=="OPTIONS"||$2=="COMMANDS")} s&&t{print} {t=($0==".TP"||$0==".TQ")}' "$1" |
        sed 's/\\-/-/g' | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u
}
for p in $progs; do
    page=$(ls "$M/$p.1" "$M/$p.8" 2>/dev/null | head -1 || true)
    [ -n "$page" ] || continue
    if [ ! -x "$OSEC_BIN/$p" ]; then echo "skip - $p not built: its options not checked"; continue; fi
    # --help itself counts as listed when it works.
    "$OSEC_BIN/$p" --help >"$T/help" 2>&1 && echo "--help" >>"$T/help"
    sed 's/\\-/-/g' "$page" >"$T/page.txt"
    missing=""
    for o in $(opts_of_help "$T/help"); do
        grep -qF -- "$o" "$T/page.txt" || missing="$missing $o"
    done
    [ -z "$missing" ] && ok "$p.${page##*.}: documents every option of --help" \
        || bad "$p.${page##*.}: documents every option of --help (missing:$missing)"
    extra=""
    for o in $(opts_of_page "$page"); do
        grep -qF -- "$o" "$T/help" || extra="$extra $o"
    done
    [ -z "$extra" ] && ok "$p.${page##*.}: documents no option --help lacks" \
        || bad "$p.${page##*.}: documents no option --help lacks (extra:$extra)"
done

# omasec.conf(5) against conf/omasec.conf: each key (set or shown commented
# out) needs a .TP entry in the page's .SS [section].
python3 - "$OSEC_SRC/conf/omasec.conf" "$M/omasec.conf.5" >"$T/keys" 2>&1 <<'PY' || true
import re, sys
conf, page = sys.argv[1], sys.argv[2]
keys, sec = [], None
for line in open(conf):
    m = re.match(r'\s*\[([^\]]+)\]\s*$', line)
    if m:
        sec = m.group(1); continue
    m = re.match(r'\s*#?\s*([a-z][a-z0-9_]*)\s*=', line)
    if m and sec:
        keys.append((sec, m.group(1)))
tags, sec, prev = {}, None, ''
for line in open(page):
    line = line.rstrip('\n')
    m = re.match(r'\.SS \[(.*)\]$', line)
    if m:
        sec = m.group(1).replace('\\-', '-')
    elif line.startswith('.S'):
        sec = None
    elif prev == '.TP' and sec:
        tags.setdefault(sec, set()).update(re.findall(r'\\fB([a-z][a-z0-9_]*) =', line))
    prev = line
for s, k in keys:
    print(('ok   ' if k in tags.get(s, ()) else 'MISS ') + s + ' ' + k)
PY
n=$(grep -c '^ok ' "$T/keys" || true)
if grep -q '^MISS ' "$T/keys" || [ "$n" -lt 10 ]; then
    bad "omasec.conf.5 has an entry for each key of conf/omasec.conf ($n found)"
    grep -v '^ok ' "$T/keys" | sed 's/^/    | /'
else
    ok "omasec.conf.5 has an entry for each of the $n keys of conf/omasec.conf"
fi

# The cmake install (cmake/man.cmake, included by CMakeLists.txt).
if cmake --install "$BUILD" --prefix "$T/p" >"$T/inst" 2>&1; then
    for p in omasecctl.8 cpns-server.8 cpns-gw.8 cpns-pne.1 omasec.conf.5; do
        s=${p##*.}
        [ -f "$T/p/share/man/man$s/$p" ] && ok "cmake installs share/man/man$s/$p" \
            || bad "cmake installs share/man/man$s/$p (is include(cmake/man.cmake) in CMakeLists.txt?)"
    done
else
    bad "cmake --install into a prefix"; sed 's/^/    | /' "$T/inst"
fi
finish
