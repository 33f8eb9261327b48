#!/bin/bash
# bench/mesh.sh: `set` throughput and latency of real pmesh processes.
#
# For each mesh size (NODES, default "3 1") and each client count
# (CLIENTS, default "1 16 64 256"), a fresh mesh is set up in a temporary
# directory on loopback (default durability: fsync on; --no-nats, so only
# the configuration mesh is measured), the leader is found with
# `pmesh status --json`, and bench/load.c drives `set`s of 256-byte values
# into the leader's control socket. One line per measurement, e.g.
#
#   pmesh nodes=3 clients=64 conns=8 total=20000 rps=... p50_ms=...
#         p99_ms=... p999_ms=... cpu_ms_per_k=... errors=0
#
# cpu_ms_per_k is the CPU time (user+system, /proc/PID/stat) of all the
# mesh's pmesh processes and their forked workers per 1,000 sets. The
# totals follow etcd-bench.sh (3000 sets with one client, 20000
# otherwise); FULL=1 multiplies them by 5; TOTAL overrides both.
#
# Env: PMESH, LOAD (binaries), NODES, CLIENTS, TOTAL, FULL, KEEP=1 (keep the
# temporary directory), PROFILE (a command prefix run in the background with
# the leader's pid appended during each load and stopped with SIGINT, e.g.
# PROFILE="perf record -g -o /tmp/leader.data -p"), BENCH_TMP (where the
# homes go; default /var/tmp, a
# real disk rather than a tmpfs, so that fsync costs what it costs),
# TIMELINE=DIR (pmesh-load -L: DIR/nodes-N-clients-C.txt, one line per
# reply, its time and latency, to find stalls; with KEEP=1 and
# PMESH_DEBUG=1 the nodes' logs say what they did meanwhile),
# VIA=follower (send the sets to a follower, which forwards each to the
# leader and answers once it has applied it too; the line then says
# via=follower).
# Every process started here is killed by pid on exit, also on failure.
set -u
PMESH=${PMESH:-build/pmesh}
LOAD=${LOAD:-build/bench/pmesh-load}
case $PMESH in /*) ;; *) PMESH=$PWD/$PMESH ;; esac
case $LOAD in /*) ;; *) LOAD=$PWD/$LOAD ;; esac
NODES=${NODES:-3 1}
CLIENTS=${CLIENTS:-1 16 64 256}
FULL=${FULL:-0}
[ -x "$PMESH" ] || { echo "mesh.sh: no pmesh binary at $PMESH" >&2; exit 2; }
[ -x "$LOAD" ] || { echo "mesh.sh: no pmesh-load binary at $LOAD" >&2; exit 2; }

T=$(mktemp -d "${BENCH_TMP:-/var/tmp}/pmesh-bench-XXXXXX")
PIDS=()

stop_mesh() {
    local p i
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] || continue
        for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    PIDS=()
}
cleanup() {
    stop_mesh
    if [ "${KEEP:-0}" = 1 ]; then echo "mesh.sh: kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
    echo "mesh.sh: $*" >&2
    local f
    for f in "$T"/m*/*/pmesh.log; do
        [ -f "$f" ] && { echo "---- $f" >&2; tail -n 15 "$f" >&2; }
    done
    exit 1
}

# Ports below the ephemeral range, away from the node tests (10000-24999),
# the NATS tests (25000+) and the etcd anchor (23790-23810).
PORT_BASE=${PORT_BASE:-$((26000 + (RANDOM % 40) * 100))}

pm() { local h=$1; shift; "$PMESH" --home "$h" "$@"; }

# wait_for SECONDS WHAT CMD...
wait_for() {
    local limit=$1 what=$2
    shift 2
    local end=$((SECONDS + limit))
    while ! "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $end ] && die "timed out (${limit}s) waiting: $what"
        sleep 0.1
    done
}

voters_are() {
    [ "$(pm "$1" members --json | jq '[.members[] | select(.role=="voter")] | length')" = "$2" ]
}

# start_mesh DIR N: set up and start N nodes in DIR; sets LEADER_HOME.
start_mesh() {
    local dir=$1 n=$2 i h p url
    mkdir -p "$dir"
    for i in $(seq 1 "$n"); do
        h=$dir/n$i
        p=$((PORT_BASE + i * 8))
        local flags=(--name "n$i" --listen "127.0.0.1:$p" --advertise "127.0.0.1:$p"
                     --nats-host 127.0.0.1 --nats-port $((p + 1)) --yes)
        if [ "$i" = 1 ]; then
            url=$(pm "$h" setup seed "${flags[@]}" | grep -o 'pmtp://[^ ]*' | head -n1)
            [ -n "$url" ] || die "setup seed printed no seed URL"
        else
            pm "$h" setup join "$url" "${flags[@]}" >/dev/null || die "setup join n$i failed"
        fi
        "$PMESH" --home "$h" start --no-nats >>"$dir/n$i.out" 2>&1 &
        PIDS+=($!)
        wait_for 15 "n$i answers status" pm "$h" status
    done
    wait_for 30 "$n voters" voters_are "$dir/n1" "$n"
    LEADER_HOME=
    local end=$((SECONDS + 15))
    while [ -z "$LEADER_HOME" ]; do
        for i in $(seq 1 "$n"); do
            if [ "$(pm "$dir/n$i" status --json 2>/dev/null | jq -r .state)" = leader ]; then
                LEADER_HOME=$dir/n$i
                LEADER_PID=${PIDS[$((${#PIDS[@]} - n + i - 1))]}
                FOLLOWER_HOME=$dir/n$((i % n + 1))
            fi
        done
        [ -n "$LEADER_HOME" ] && break
        [ $SECONDS -ge $end ] && die "no leader"
        sleep 0.1
    done
}

rc=0
run=0
for nodes in $NODES; do
    for c in $CLIENTS; do
        run=$((run + 1))
        total=${TOTAL:-$(( c == 1 ? 3000 : 20000 ))}
        [ "$FULL" = 1 ] && [ -z "${TOTAL:-}" ] && total=$((total * 5))
        start_mesh "$T/m$run" "$nodes"
        pids=()
        for p in "${PIDS[@]}"; do pids+=(-p "$p"); done
        prof=
        if [ -n "${PROFILE:-}" ]; then
            $PROFILE "$LEADER_PID" >"$T/profile-$nodes-$c.out" 2>&1 &
            prof=$!
            sleep 0.3
        fi
        target=$LEADER_HOME label="nodes=$nodes"
        if [ "${VIA:-leader}" = follower ] && [ "$nodes" -gt 1 ]; then
            target=$FOLLOWER_HOME label="nodes=$nodes via=follower"
        fi
        tl=()
        [ -n "${TIMELINE:-}" ] && tl=(-L "$TIMELINE/nodes-$nodes-clients-$c.txt")
        "$LOAD" -s "$target/control.sock" -c "$c" -t "$total" \
            -l "$label" "${pids[@]}" "${tl[@]}" || rc=1
        if [ -n "$prof" ]; then kill -INT "$prof" 2>/dev/null; wait "$prof"; fi
        stop_mesh
        [ "${KEEP:-0}" = 1 ] || rm -rf "$T/m$run"
    done
done
exit $rc
