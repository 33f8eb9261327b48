#!/bin/bash
# t_cleanup PMESH LINCHECK: the chaos harness leaves nothing behind when it
# fails or is stopped: no network namespace, no process, no temporary
# directory. (1) a run whose nodes cannot start (PMESH is /bin/false);
# (2) a run stopped with SIGTERM while its nodes, clients and nemesis run.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
PMESH=$1 LINCHECK=$2
fail() { echo "t_cleanup: FAIL: $*"; exit 1; }


# (1) A broken binary: setup fails; the trap still removes everything.
out=$(mktemp /tmp/pmesh-cleanup-XXXXXX)
trap 'rm -f "$out"' EXIT
workdir() { sed -n 's/.* work directory \([^ ,]*\),.*/\1/p' "$out" | head -n1; }
"$HERE/chaos.sh" --seed 1 --nodes 3 --duration 5 --pmesh /bin/false \
    --lincheck "$LINCHECK" >"$out" 2>&1 &
pid=$!
wait $pid && fail "a run with /bin/false as pmesh passed"
grep -q 'reproduce: ' "$out" || fail "no reproduce line after a failure"
[ -n "$(workdir)" ] || fail "the harness did not name its work directory"
[ -z "$(ip netns list | awk '{print $1}' | grep "^pmc$pid-")" ] || fail "namespaces left after a failed setup"
[ ! -e "$(workdir)" ] || fail "work directory $(workdir) left after a failed setup"
echo "t_cleanup: failed setup cleaned up"

# (2) SIGTERM in the middle of a run.
"$HERE/chaos.sh" --seed 3 --nodes 3 --duration 60 --pmesh "$PMESH" \
    --lincheck "$LINCHECK" >"$out" 2>&1 &
pid=$!
for i in $(seq 150); do
    grep -q 'mesh of 3 voters up' "$out" && break
    sleep 0.2
done
sleep 3
nodes=$(for ns in $(ip netns list | awk '{print $1}' | grep "^pmc$pid-"); do
            ip netns pids "$ns"; done)
[ -n "$nodes" ] || fail "the run did not get its nodes started"
kill -TERM $pid
for i in $(seq 200); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
kill -0 $pid 2>/dev/null && { kill -9 $pid; fail "harness still running 20 s after SIGTERM"; }
# A killed process may take a moment to be reaped (nats-server children
# are reparented first); zombies count as gone.
alive() { [ -e "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
for p in $nodes; do
    for i in $(seq 50); do alive "$p" || break; sleep 0.1; done
    alive "$p" && fail "node process $p survived: $(tr '\0' ' ' <"/proc/$p/cmdline")"
done
[ -z "$(ip netns list | awk '{print $1}' | grep "^pmc$pid-")" ] || fail "namespaces left after SIGTERM"
[ ! -e "$(workdir)" ] || fail "work directory $(workdir) left after SIGTERM"
echo "t_cleanup: stopped run cleaned up ($(echo $nodes | wc -w) node processes)"
echo "t_cleanup: PASS"
