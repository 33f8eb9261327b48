#!/bin/bash
# demo.sh [PMESH]: run a small mesh on loopback -- a seed, two joiners and a
# replica -- do a few sets, show status, members, a get on the replica and
# the log, then stop everything it started (by PID, also on failure).
set -u
PMESH=${1:-build/pmesh}
case $PMESH in /*) ;; *) PMESH=$PWD/$PMESH ;; esac
D=$(mktemp -d /tmp/pmesh-demo-XXXXXX)
declare -A PIDS=()
BASE=$((10000 + (RANDOM % 150) * 100))  # below the ephemeral range and 25000+ (NATS tests)

cleanup() {
    local rc=$?
    for n in "${!PIDS[@]}"; do
        "$PMESH" --home "$D/$n" stop >/dev/null 2>&1 || kill -TERM "${PIDS[$n]}" 2>/dev/null
    done
    for n in "${!PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "${PIDS[$n]}" 2>/dev/null || break; sleep 0.1; done
        kill -9 "${PIDS[$n]}" 2>/dev/null
        wait "${PIDS[$n]}" 2>/dev/null
    done
    rm -rf "$D"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { echo "\$ pmesh $*"; "$PMESH" "$@"; }
flags() {
    local n=$1 p=$2
    echo --name "$n" --listen "127.0.0.1:$p" --advertise "127.0.0.1:$p" \
        --nats-host 127.0.0.1 --nats-port $((p + 1)) --yes
}
start() {
    "$PMESH" --home "$D/$1" start >"$D/$1.out" 2>&1 &
    PIDS[$1]=$!
    for _ in $(seq 100); do
        "$PMESH" --home "$D/$1" status >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "demo: node $1 did not start:"; cat "$D/$1.out"; tail "$D/$1/pmesh.log"
    exit 1
}

say "seed"
URL=$(run --home "$D/seed" setup seed $(flags seed $BASE)) || exit 1
echo "$URL"
URL=$(echo "$URL" | grep -o 'pmtp://[^ ]*' | head -n1)
start seed
say "two servers join, one replica attaches"
run --home "$D/east" setup join "$URL" $(flags east $((BASE + 10))) || exit 1
start east
run --home "$D/west" setup join "$URL" $(flags west $((BASE + 20))) || exit 1
start west
run --home "$D/rep" setup replica "$URL" $(flags rep $((BASE + 30))) || exit 1
start rep

say "a few sets"
run --home "$D/seed" set app.name '"demo"' || exit 1
run --home "$D/east" set app.region.eu.weight 3 || exit 1
run --home "$D/west" set nats.max_payload 1048576 || exit 1
sleep 1
say "status"
run --home "$D/seed" status || exit 1
say "members"
run --home "$D/seed" members || exit 1
say "get on the replica"
for _ in $(seq 50); do
    [ "$("$PMESH" --home "$D/rep" get nats.max_payload 2>/dev/null)" = 1048576 ] && break
    sleep 0.1
done
run --home "$D/rep" get || exit 1
say "log"
run --home "$D/seed" log || exit 1
say "stopping"
exit 0
