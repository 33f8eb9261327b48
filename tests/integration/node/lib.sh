# lib.sh: helpers for the multi-process node tests (sourced, bash).
#
# Each test gets a fresh temporary directory ($T) holding one home per node,
# distinct loopback ports, and a trap that kills every process it started
# (by recorded PID, also on failure) and removes $T unless KEEP=1 (always
# keep) or KEEP=fail (keep it when the test fails); a kept directory is
# named on stderr.
#
# Usage in a test:   . "$(dirname "$0")/lib.sh"; setup_test NAME
#                    seed a; start a; ...; pass

set -u
PMESH=${PMESH:-${PMESH_BUILD:-build}/pmesh}
case $PMESH in /*) ;; *) PMESH=$PWD/$PMESH ;; esac
declare -A PIDS=()     # node name -> pid
declare -A PEER=()     # node name -> peer port
TEST_NAME=test
T=

log() { echo "[$(date +%H:%M:%S.%N | cut -c1-12)] $TEST_NAME: $*"; }

fail() {
    log "FAIL: $*"
    for h in "$T"/*/pmesh.log; do
        [ -f "$h" ] || continue
        echo "---- ${h#$T/} (last 30 lines)"
        tail -n 30 "$h"
    done
    exit 1
}

cleanup() {
    local rc=$?
    for n in "${!PIDS[@]}"; do
        kill -9 "${PIDS[$n]}" 2>/dev/null
    done
    for n in "${!PIDS[@]}"; do
        wait "${PIDS[$n]}" 2>/dev/null
    done
    if [ -n "$T" ]; then
        case "${KEEP:-0}:$rc" in
        1:* | fail:[1-9]*) echo "$TEST_NAME: kept $T" >&2 ;;
        *) rm -rf "$T" ;;
        esac
    fi
    exit $rc
}

setup_test() {
    TEST_NAME=$1
    [ -x "$PMESH" ] || { echo "no pmesh binary at $PMESH" >&2; exit 1; }
    T=$(mktemp -d /tmp/pmesh-it-XXXXXX)
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    # Ports from a random base below the kernel's ephemeral range (32768+),
    # so outgoing connections never hold them; each node takes 8.
    PORT_BASE=$((10000 + (RANDOM % 150) * 100))  # 10000-24999; NATS tests use 25000+
    NEXT_SLOT=0
}

# alloc NAME: give node NAME a peer port and a NATS port range.
alloc() {
    local n=$1
    if [ -z "${PEER[$n]:-}" ]; then
        local p
        while :; do
            p=$((PORT_BASE + NEXT_SLOT * 8))
            NEXT_SLOT=$((NEXT_SLOT + 1))
            # Skip a port someone already listens on.
            (exec 9<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || break
        done
        PEER[$n]=$p
    fi
}

home() { echo "$T/$1"; }
pm() { local n=$1; shift; "$PMESH" --home "$T/$n" "$@"; }

common_flags() {
    local n=$1 p=${PEER[$1]}
    echo --name "$n" --listen "127.0.0.1:$p" --advertise "127.0.0.1:$p" \
        --nats-host 127.0.0.1 --nats-port $((p + 1)) --yes
}

seed() {
    alloc "$1"
    SEED_URL=$(pm "$1" setup seed $(common_flags "$1")) ||
        fail "setup seed $1 failed"
    SEED_URL=$(echo "$SEED_URL" | grep -o 'pmtp://[^ ]*' | head -n1)
    [ -n "$SEED_URL" ] || fail "setup seed printed no seed URL"
}

# join NAME [replica]: set up NAME as a voter (or replica) of $SEED_URL.
join() {
    local kind=join
    [ "${2:-}" = replica ] && kind=replica
    alloc "$1"
    pm "$1" setup "$kind" "$SEED_URL" $(common_flags "$1") >/dev/null ||
        fail "setup $kind $1 failed"
}

start() {
    local n=$1
    "$PMESH" --home "$T/$n" start >>"$T/$n.out" 2>&1 &
    PIDS[$n]=$!
    wait_for 10 "node $n answers status" pm "$n" status
}

# kill9 NAME / stop NAME
kill9() {
    kill -9 "${PIDS[$1]}" 2>/dev/null
    wait "${PIDS[$1]}" 2>/dev/null
    unset "PIDS[$1]"
}
stop() {
    pm "$1" stop >/dev/null 2>&1 || kill -TERM "${PIDS[$1]}" 2>/dev/null
    local i
    for i in $(seq 100); do
        kill -0 "${PIDS[$1]}" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "${PIDS[$1]}" 2>/dev/null && fail "node $1 did not stop"
    local rc=0
    wait "${PIDS[$1]}" 2>/dev/null || rc=$?
    unset "PIDS[$1]"
    [ $rc -eq 0 ] || fail "node $1 exited with status $rc after stop"
    [ -e "$T/$1/control.sock" ] && fail "node $1 left control.sock behind"
    return 0
}

# wait_for SECONDS WHAT CMD...: retry CMD every 0.1 s until it succeeds.
wait_for() {
    local limit=$1 what=$2
    shift 2
    local end=$((SECONDS + limit))
    while ! "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $end ] && fail "timed out (${limit}s) waiting: $what"
        sleep 0.1
    done
}

# getv NAME KEY: the value as `pmesh get` prints it.
getv() { pm "$1" get "$2" 2>/dev/null; }

# expect_get NAME KEY VALUE: eventually NAME serves VALUE for KEY.
get_is() { [ "$(getv "$1" "$2")" = "$3" ]; }
expect_get() {
    wait_for "${4:-10}" "$1 get $2 = $3" get_is "$1" "$2" "$3"
}

# status_field NAME JQ_PATH: a field of `status --json` (e.g. .term).
status_field() {
    pm "$1" status --json 2>/dev/null | jq -r "$2" 2>/dev/null
}

is_leader() { [ "$(status_field "$1" .state)" = leader ]; }

# leader_of NAMES...: print the name of the node that reports leader.
leader_of() {
    local n
    for n in "$@"; do
        if is_leader "$n"; then echo "$n"; return 0; fi
    done
    return 1
}

# pass: stop every node gracefully (a clean stop must work), then fail if a
# sanitizer reported anything in any node's output.
pass() {
    local n
    for n in "${!PIDS[@]}"; do
        case $n in writer*) continue ;; esac
        stop "$n"
    done
    if grep -l -E "AddressSanitizer|LeakSanitizer|runtime error:" "$T"/*.out 2>/dev/null; then
        grep -h -A30 -E "AddressSanitizer|LeakSanitizer|runtime error:" "$T"/*.out | head -60
        fail "sanitizer report in node output"
    fi
    log "PASS"
    exit 0
}
