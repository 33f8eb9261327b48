#!/bin/bash
# interactive.sh PMESH: `setup` on a terminal (a pty from script(1)): the
# questions, the defaults in brackets, a refused answer asked again, the
# answers reaching identity.json; `setup` without a role asking for it and
# stopping cleanly at end of input; force-recover asking for confirmation.
set -u
pmesh=$1
command -v script >/dev/null || { echo "SKIP: no script(1)"; exit 0; }
work=$(mktemp -d "${TMPDIR:-/tmp}/pmesh-cli-tty.XXXXXX")
trap 'rm -rf "$work"' EXIT
failed=0
fail() { echo "FAIL: $*"; failed=1; }

# tty ANSWERS COMMAND...: run COMMAND on a pty fed ANSWERS (one per line);
# output in $work/out, exit code in $rc.
tty() {
    local answers=$1; shift
    printf '%s' "$answers" | timeout 20 script -qec "$*" /dev/null >"$work/out" 2>&1
    rc=$?
}
expect() { grep -qF -- "$1" "$work/out" || fail "$2: output lacks '$1'"; }

# 1. setup seed: every question, two refused answers, defaults taken.
tty $'bad name\nn1\n\n127.0.0.1:17201\n\n99999\n14501\n' \
    "$pmesh" --home "$work/seed" setup seed
[ "$rc" -eq 0 ] || fail "setup seed: exit $rc"
expect "Member name [" "seed"
expect "not accepted: only letters, digits, '_' and '-' are allowed" "seed"
expect "NATS cluster (region) label [default]:" "seed"
expect "Peer listen address [0.0.0.0:8443]:" "seed"
expect "Address other servers dial [127.0.0.1:17201]:" "seed"
expect "not accepted: port out of range 1-65535" "seed"
expect "pmtp://" "seed"
id="$work/seed/identity.json"
grep -q '"name":[[:space:]]*"n1"' "$id" || fail "seed: name not n1"
grep -q '"listen":[[:space:]]*"127.0.0.1:17201"' "$id" || fail "seed: listen"
grep -q '"advertise":[[:space:]]*"127.0.0.1:17201"' "$id" || fail "seed: advertise"
grep -q '"cluster":[[:space:]]*"default"' "$id" || fail "seed: cluster"
tr -d ' \t\n' <"$id" | grep -q '"nats_ports":\[14501,14502,14503,14504,14505\]' ||
    fail "seed: nats ports"

# 2. flags given are not asked for.
tty $'\n' "$pmesh" --home "$work/seed2" setup seed --name n2 \
    --listen 127.0.0.1:17202 --nats-port 14601 --cluster eu
[ "$rc" -eq 0 ] || fail "setup seed with flags: exit $rc"
if grep -q 'Member name\|Peer listen\|NATS client port\|NATS cluster' "$work/out"; then
    fail "setup seed with flags asked for a flag's value"
fi
expect "Address other servers dial [127.0.0.1:17202]:" "seed2"

# 3. setup without a role: asks it; a bad seed URL is refused; end of
#    input aborts with exit 1 and nothing written.
tty $'join\nxx\n' "$pmesh" --home "$work/join" setup
[ "$rc" -eq 1 ] || fail "setup (no role) at end of input: exit $rc, want 1"
expect "Role [seed]:" "no role"
expect "not accepted: seed URL: must start with 'pmtp://'" "no role"
expect "pmesh: setup join: aborted (end of input)" "no role"
[ -e "$work/join/identity.json" ] && fail "aborted setup wrote identity.json"

# 4. --yes on a terminal asks nothing.
tty '' "$pmesh" --home "$work/yes" setup seed --yes --name y \
    --listen 127.0.0.1:17203 --nats-port 14701
[ "$rc" -eq 0 ] || fail "setup seed --yes on a tty: exit $rc"
grep -q '\[' "$work/out" && fail "setup seed --yes asked something"

# 5. force-recover wants 'yes' on a terminal.
tty $'no\n' "$pmesh" --home "$work/seed" force-recover
[ "$rc" -eq 1 ] || fail "force-recover answered no: exit $rc, want 1"
expect "Type 'yes' to continue:" "force-recover"
expect "not confirmed; nothing done" "force-recover"

[ "$failed" -eq 0 ] && echo "interactive: ok"
exit "$failed"
