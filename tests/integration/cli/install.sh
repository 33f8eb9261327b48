#!/bin/bash
# install.sh BUILD: `make install` into a scratch DESTDIR with a non-default
# PREFIX, then check every installed file, its mode, and that the unit and
# the binary point at each other.
set -eu
build=$1
root=$(cd "$(dirname "$0")/../../.." && pwd)
dest=$(mktemp -d "${TMPDIR:-/tmp}/pmesh-install.XXXXXX")
trap 'rm -rf "$dest"' EXIT
prefix=/opt/pmesh-test

make --no-print-directory -C "$root" BUILD="$build" DESTDIR="$dest" \
    PREFIX="$prefix" install >"$dest/make.log" 2>&1 ||
    { cat "$dest/make.log"; echo "FAIL: make install"; exit 1; }

fail() { echo "FAIL: $*"; exit 1; }
mode() { stat -c '%a' "$1"; }
bin="$dest$prefix/bin/pmesh"
man="$dest$prefix/share/man/man1/pmesh.1"
unit="$dest$prefix/share/doc/pmesh/pmesh.service"
for f in "$bin" "$man" "$unit"; do [ -f "$f" ] || fail "missing $f"; done
[ "$(mode "$bin")" = 755 ] || fail "binary mode $(mode "$bin")"
[ "$(mode "$man")" = 644 ] || fail "man page mode $(mode "$man")"
[ "$(mode "$unit")" = 644 ] || fail "unit mode $(mode "$unit")"
"$bin" --version | grep -q '^pmesh ' || fail "installed binary does not run"
grep -qx "ExecStart=$prefix/bin/pmesh start" "$unit" || fail "ExecStart not rewritten"
grep -q "^ExecStop=$prefix/bin/pmesh stop" "$unit" || fail "ExecStop not rewritten"
grep -qx 'Type=simple' "$unit" || fail "Type=simple missing"
grep -qx 'Restart=on-failure' "$unit" || fail "Restart=on-failure missing"
grep -q '^Environment=PMESH_HOME=' "$unit" || fail "PMESH_HOME missing"
if grep -q /usr/local "$unit"; then fail "unit still names /usr/local"; fi
# The man page renders without warnings and documents every command.
if command -v groff >/dev/null; then
    warn=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$man" 2>&1)
    [ -z "$warn" ] || fail "man page warnings: $warn"
fi
# troff spells a dash \-: turn "force-recover" into "force\-recover".
troff() { printf '%s' "$1" | sed 's/-/\\-/g'; }
for cmd in "setup seed" "setup join" "setup replica" "setup client" start \
    stop status members get set unset leave remove promote force-recover \
    get-seed log history replay nats-config; do
    grep -qE "^\.B pmesh $(troff "$cmd" | sed 's/\\/\\\\/g')( |\$)" "$man" ||
        fail "man page lacks '$cmd'"
    # ... and every option the command's --help lists.
    "$bin" $cmd --help >"$dest/help" || fail "pmesh $cmd --help failed"
    grep -q '^  --help' "$dest/help" || fail "pmesh $cmd --help lists no options"
    for opt in $(grep -oE '^  --[a-z-]+' "$dest/help" | sed 's/^  //'); do
        grep -qF -- "$(troff "$opt")" "$man" || fail "man page lacks $opt ($cmd)"
    done
done
echo "install: ok ($prefix under DESTDIR)"
