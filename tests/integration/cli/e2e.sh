#!/bin/bash
# e2e.sh PMESH: the CLI against a real one-node mesh: setup, start, every
# data command's human and --json output, the exit codes of rejected input
# and missing keys, stop, and "not running" afterwards. Catches drift
# between the node's reply shapes and the CLI's rendering.
set -u
pmesh=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/pmesh-cli-e2e.XXXXXX")
node_pid=
cleanup() {
    if [ -n "$node_pid" ]; then
        kill "$node_pid" 2>/dev/null
        wait "$node_pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT
failed=0
fail() { echo "FAIL: $*"; failed=1; }
home="$work/n1"
p() { "$pmesh" --home "$home" "$@" </dev/null; }
# want CODE COMMAND...: run, keep stdout in $work/out, check the exit code.
want() {
    local code=$1; shift
    p "$@" >"$work/out" 2>"$work/err"
    local rc=$?
    [ "$rc" -eq "$code" ] || fail "pmesh $*: exit $rc, want $code ($(cat "$work/err"))"
}
has() { grep -qE -- "$1" "$work/out" || fail "$2: output lacks /$1/: $(head -c 300 "$work/out")"; }

# Ports from the pid, so parallel runs rarely collide.
base=$((20000 + ($$ % 2000) * 10))
url=$(p setup seed --yes --name n1 --cluster eu --listen "127.0.0.1:$base" \
    --nats-port $((base + 1))) || { echo "FAIL: setup seed"; exit 1; }
case "$url" in "pmtp://"*"@127.0.0.1:$base") ;; *) fail "seed URL '$url'" ;; esac

"$pmesh" --home "$home" start >"$work/node.log" 2>&1 </dev/null &
node_pid=$!
for _ in $(seq 100); do
    p status --json 2>/dev/null | grep -q '"state":"leader"' && break
    sleep 0.1
done
want 0 status
has '^state +leader, voter, cluster eu' "status"
has '^n1 +1 +voter +eu' "status table"

want 0 set app.region.eu.weight 3
has '^[0-9]+$' "set prints the index"
index=$(cat "$work/out")
want 0 set app.name 'hello world'
want 0 get app.region.eu.weight
[ "$(cat "$work/out")" = 3 ] || fail "get weight: '$(cat "$work/out")'"
want 0 get app.name --consistent
[ "$(cat "$work/out")" = "hello world" ] || fail "get name: '$(cat "$work/out")'"
want 0 --json get app.region
has '^\{"key":"app.region","value":\{"eu":\{"weight":3\}\},"index":[0-9]+\}$' "get --json"
want 0 get
has '"weight": 3' "get (all)"
want 0 members
has '^NAME +ID +ROLE +CLUSTER +PEER +NATS +FLAGS' "members header"
has "^n1 +1 +voter +eu +127.0.0.1:$base +nats://127.0.0.1:$((base + 1)) +seed,leader" "members row"
want 0 get-seed
[ "$(cat "$work/out")" = "$url" ] || fail "get-seed differs from setup's URL"
want 0 history app.region.eu.weight
has "^$index +[0-9]+ +[0-9T:-]+Z +[^ ]+ +set +- +3\$" "history"
want 0 log --from "$index" --to "$index"
has '^INDEX +TERM +TIME +PROPOSER +TYPE +COMMAND' "log header"
[ "$(wc -l <"$work/out")" -eq 2 ] || fail "log --from/--to: want one record"
want 0 replay
has '^live hash +[^ ]+ \(same\)' "replay"
want 0 nats-config
has "port: $((base + 1))" "nats-config"
want 0 unset app.name
want 1 get app.name
want 5 set 'a..b' 1
grep -q "^pmesh: set: .*a\.\.b" "$work/err" || fail "set a..b: message '$(cat "$work/err")'"
want 2 set a

want 0 stop
wait "$node_pid"
rc=$?
node_pid=
[ "$rc" -eq 0 ] || fail "node exited $rc after stop"
want 3 status
[ "$failed" -eq 0 ] && echo "e2e: ok" || { echo "--- node log"; tail -20 "$home/pmesh.log" "$work/node.log"; }
exit "$failed"
