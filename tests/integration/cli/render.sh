#!/bin/bash
# render.sh PMESH FAKE_NODE: the CLI against a fake node with canned
# replies (fake_node.c). Runs a fixed list of commands, writes a transcript
# of each (stdout, stderr, exit code) and compares it with render.expected:
# the human rendering of every reply shape, --json, the exit code of each
# error status, the request flags, and `set` retried with the same request
# id until it succeeds (the fake node checks the ids and fails otherwise).
set -u
pmesh=$1 fake=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/pmesh-cli-render.XXXXXX")
fake_pid=
cleanup() {
    [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null && wait "$fake_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

home="$work/home"
# A real home (identity.json) whose control socket the fake node serves.
"$pmesh" --home "$home" setup seed --yes --name a --listen 127.0.0.1:1 \
    --nats-port 2 </dev/null >/dev/null || { echo "FAIL: setup seed"; exit 1; }
"$fake" "$home/control.sock" >"$work/fake.log" 2>&1 &
fake_pid=$!
for _ in $(seq 100); do [ -S "$home/control.sock" ] && break; sleep 0.05; done
[ -S "$home/control.sock" ] || { echo "FAIL: fake node did not listen"; cat "$work/fake.log"; exit 1; }

run() {
    echo "\$ pmesh $*"
    "$pmesh" --home "$home" "$@" </dev/null >"$work/out" 2>"$work/err"
    local rc=$?
    cat "$work/out"
    sed 's/^/stderr: /' "$work/err"
    echo "[exit $rc]"
}
{
    run status
    run members
    run log
    run history app.x
    run replay
    run get s
    run get n
    run get o
    run get flags --consistent
    run --json get flags --consistent
    run get bad
    run remove noleader
    run get missing
    run remove bravo
    run promote bravo
    run unset a
    run get-seed
    run nats-config
    run set a.b 5 --timeout 3
    run stop
    run status
} >"$work/transcript" 2>&1

# The stopped fake node must have seen the same `set` three times.
wait "$fake_pid"
fake_rc=$?
fake_pid=
home_re=$(printf '%s' "$home" | sed 's/[][\.*^$/]/\\&/g')
sed -i "s/$home_re/HOME/g" "$work/transcript"
if ! diff -u "$here/render.expected" "$work/transcript"; then
    echo "FAIL: transcript differs from render.expected (above)"
    exit 1
fi
cat "$work/fake.log"
[ "$fake_rc" -eq 0 ] || { echo "FAIL: fake node exited $fake_rc"; exit 1; }
grep -q 'set attempt 3: .*same request' "$work/fake.log" ||
    { echo "FAIL: set was not retried with the same request"; exit 1; }
echo "render: ok"
