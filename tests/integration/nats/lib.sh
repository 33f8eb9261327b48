# lib.sh: helpers for the NATS data-plane tests (sourced, bash).
#
# Real pmesh nodes, each supervising the real nats-server, on loopback.
# Each test gets a fresh temporary directory ($T) with one home per node
# and ports from 25000-25999; the EXIT trap kills every node it started (by
# recorded PID) and then any nats-server still running from a home under
# $T (found by its command line, killed by PID), also on failure.
#
# Node N has peer port P=${PEER[N]} and NATS ports P+1 (client), P+2
# (cluster), P+3 (gateway), P+4 (leaf), P+5 (monitoring).

set -u
PMESH=${PMESH:-${PMESH_BUILD:-build}/pmesh}
NATSPROBE=${NATSPROBE:-${PMESH_BUILD:-build}/tests/natsprobe}
case $PMESH in /*) ;; *) PMESH=$PWD/$PMESH ;; esac
case $NATSPROBE in /*) ;; *) NATSPROBE=$PWD/$NATSPROBE ;; esac
declare -A PIDS=()     # node name -> pid of `pmesh start`
declare -A PEER=()     # node name -> peer port
TEST_NAME=test
T=
T0=$SECONDS

log() { echo "[$(date +%H:%M:%S.%N | cut -c1-12)] $TEST_NAME: $*"; }

fail() {
    log "FAIL: $*"
    local f n
    # What each live server says of the JetStream meta group, the part most
    # timing-dependent (leader, size, and the leader's view of its peers).
    for n in "${!PEER[@]}"; do
        mon "$n" /jsz meta_cluster >/dev/null || continue
        echo "---- $n /jsz: leader=$(mon "$n" /jsz meta_cluster.leader)" \
            "cluster_size=$(mon "$n" /jsz meta_cluster.cluster_size)" \
            "replicas=$(mon "$n" /jsz 'meta_cluster.replicas.*.name' | tr '\n' ' ')"
    done
    for f in "$T"/*/pmesh.log "$T"/*/nats.log; do
        [ -f "$f" ] || continue
        echo "---- ${f#$T/} (last 25 lines)"
        tail -n 25 "$f"
    done
    exit 1
}

# stray_servers [NAME]: every nats-server whose command line names a home
# under $T (or NAME's home).
stray_servers() {
    local d pid
    [ -n "$T" ] || return 0
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        { tr '\0' ' ' <"$d/cmdline"; } 2>/dev/null |
            grep -q -- "-c $T/${1:-}" && echo "$pid"
    done
    return 0
}

cleanup() {
    local rc=$? n p
    for n in "${!PIDS[@]}"; do
        kill -9 "${PIDS[$n]}" 2>/dev/null
    done
    for n in "${!PIDS[@]}"; do
        wait "${PIDS[$n]}" 2>/dev/null
    done
    # PR_SET_PDEATHSIG kills them with their node; this is the backstop.
    for p in $(stray_servers); do
        kill -9 "$p" 2>/dev/null
    done
    if [ -n "$T" ] && [ "${KEEP:-0}" != 1 ]; then rm -rf "$T"; fi
    exit $rc
}

setup_test() {
    TEST_NAME=$1
    [ -x "$PMESH" ] || { echo "no pmesh binary at $PMESH" >&2; exit 1; }
    [ -x "$NATSPROBE" ] || { echo "no natsprobe at $NATSPROBE" >&2; exit 1; }
    command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] ||
        { echo "no nats-server installed" >&2; exit 1; }
    T=$(mktemp -d /tmp/pmesh-nats-it-XXXXXX)
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    PORT_BASE=$((25000 + (RANDOM % 125) * 8))
    NEXT_SLOT=0
    T0=$SECONDS
}

# alloc NAME: the next slot of 8 ports whose ports are all free now (other
# suites pick their ports at random too), within 25000-25999.
alloc() {
    local n=$1 p tries=0
    [ -z "${PEER[$n]:-}" ] || return 0
    while :; do
        p=$((25000 + (PORT_BASE - 25000 + NEXT_SLOT * 8) % 1000))
        NEXT_SLOT=$((NEXT_SLOT + 1))
        "$NATSPROBE" free "$p" 8 && break
        tries=$((tries + 1))
        [ $tries -lt 125 ] || fail "no 8 free ports in 25000-25999"
    done
    PEER[$n]=$p
}

pm() { local n=$1; shift; "$PMESH" --home "$T/$n" "$@"; }
client_port() { echo $((PEER[$1] + 1)); }
http_port() { echo $((PEER[$1] + 5)); }
caddr() { echo "127.0.0.1:$(client_port "$1")"; }
haddr() { echo "127.0.0.1:$(http_port "$1")"; }

# setup_node NAME seed|join|replica [CLUSTER]
setup_node() {
    local n=$1 kind=$2 cluster=${3:-}
    alloc "$n"
    local p=${PEER[$n]}
    local flags=(--name "$n" --listen "127.0.0.1:$p" --advertise "127.0.0.1:$p"
        --nats-host 127.0.0.1 --nats-port $((p + 1)) --yes)
    [ -n "$cluster" ] && flags+=(--cluster "$cluster")
    if [ "$kind" = seed ]; then
        SEED_URL=$(pm "$n" setup seed "${flags[@]}") || fail "setup seed $n"
        SEED_URL=$(echo "$SEED_URL" | grep -o 'pmtp://[^ ]*' | head -n1)
        [ -n "$SEED_URL" ] || fail "setup seed printed no seed URL"
    else
        pm "$n" setup "$kind" "$SEED_URL" "${flags[@]}" >/dev/null ||
            fail "setup $kind $n"
    fi
}

# start NAME [START_FLAGS...]
start() {
    local n=$1
    shift
    "$PMESH" --home "$T/$n" start "$@" >>"$T/$n.out" 2>&1 &
    PIDS[$n]=$!
    wait_for 10 "node $n answers status" pm "$n" status
}

kill9() {
    kill -9 "${PIDS[$1]}" 2>/dev/null
    wait "${PIDS[$1]}" 2>/dev/null
    unset "PIDS[$1]"
}

stop() {
    pm "$1" stop >/dev/null 2>&1 || kill -TERM "${PIDS[$1]}" 2>/dev/null
    local i
    for i in $(seq 150); do
        kill -0 "${PIDS[$1]}" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "${PIDS[$1]}" 2>/dev/null && fail "node $1 did not stop"
    local rc=0
    wait "${PIDS[$1]}" 2>/dev/null || rc=$?
    unset "PIDS[$1]"
    [ $rc -eq 0 ] || fail "node $1 exited with status $rc after stop"
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

# mon NAME PATH [KEY.KEY]: a monitoring value of NAME's nats-server.
mon() { "$NATSPROBE" get "$(haddr "$1")" "$2" ${3:+"$3"} 2>/dev/null; }
mon_is() { [ "$(mon "$1" "$2" "$3")" = "$4" ]; }
mon_set() { [ -n "$(mon "$1" "$2" "$3")" ]; }

# The pid of NAME's nats-server, from HOME/nats.pid.
nats_pid() { cat "$T/$1/nats.pid" 2>/dev/null; }
# The pid changed from $2 and the new server answers.
restarted() { local p; p=$(nats_pid "$1"); [ -n "$p" ] && [ "$p" != "$2" ] && mon "$1" /varz server_name; }
gone() { ! kill -0 "$1" 2>/dev/null; }

# status_nats NAME FIELD: a field of the "nats" object of `status --json`.
status_nats() {
    pm "$1" status --json 2>/dev/null | "$NATSPROBE" json "nats.$2"
}

# routes_are N NAMES...: every named server holds N routes.
routes_are() {
    local want=$1 n
    shift
    for n in "$@"; do mon_is "$n" /routez num_routes "$want" || return 1; done
}

# gateways_to CLUSTERS NAMES...: every named server has outbound gateways
# to exactly CLUSTERS (space-separated, sorted; its own cluster excluded).
gateways_to() {
    local want=$1 n own got
    shift
    for n in "$@"; do
        own=$(mon "$n" /gatewayz name) || return 1
        got=$(mon "$n" /gatewayz outbound_gateways | tr ' ' '\n' |
            grep -vx "$own" | tr '\n' ' ' | sed 's/ $//')
        [ "$got" = "$want" ] || return 1
    done
}

# meta_leader_among CANDIDATES NAMES...: each named server sees a JetStream
# meta leader that is one of CANDIDATES (space-separated).
meta_leader_among() {
    local cands=" $1 " n l
    shift
    for n in "$@"; do
        l=$(mon "$n" /jsz meta_cluster.leader) || return 1
        case $cands in *" $l "*) ;; *) return 1 ;; esac
    done
}

# meta_current NAMES...: a meta leader among NAMES sees every other one of
# NAMES as a current replica of the JetStream meta group (a restarted server
# has caught up).
meta_current() {
    local l cur
    l=$(mon "$1" /jsz meta_cluster.leader) || return 1
    case " $* " in *" $l "*) ;; *) return 1 ;; esac
    cur=$(mon "$l" /jsz 'meta_cluster.replicas.*.current' | grep -c true)
    [ "$cur" -ge $(($# - 1)) ]
}

relay() { "$NATSPROBE" relay "$(caddr "$1")" "$(caddr "$2")" "$3" "${4:-10000}"; }

# pass: stop every node gracefully; each must leave no nats-server behind.
pass() {
    local n
    for n in "${!PIDS[@]}"; do
        stop "$n"
    done
    local left
    left=$(stray_servers)
    [ -z "$left" ] || fail "nats-server processes left after stop: $left"
    if grep -l -E "AddressSanitizer|LeakSanitizer|runtime error:" "$T"/*.out 2>/dev/null; then
        grep -h -A30 -E "AddressSanitizer|LeakSanitizer|runtime error:" "$T"/*.out | head -60
        fail "sanitizer report in node output"
    fi
    log "PASS in $((SECONDS - T0)) s"
    exit 0
}
