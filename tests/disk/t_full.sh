#!/bin/bash
# t_full: a node whose disk fills up (its home on a 4 MiB tmpfs) refuses
# writes with a clear error, keeps serving reads, and recovers when space
# returns; no acknowledged write is lost and the store is not damaged (the
# replay of the log gives the live state hash, also after a restart).
. "$(dirname "$0")/lib.sh"
setup_test disk_full
[ "$(id -u)" = 0 ] || fail "needs root (mounts a tmpfs)"
mkdir -p "$T/a"
mount -t tmpfs -o size=4m,mode=0700 tmpfs "$T/a" || fail "cannot mount a tmpfs"
trap 'rc=$?; for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done; wait
      umount -l "$T/a" 2>/dev/null; (exit $rc); cleanup' EXIT

seed a; start a
declare -A acked=()
for i in 1 2 3; do
    pm a set "small.k$i" "v$i" >/dev/null || fail "set small.k$i"
    acked[small.k$i]=v$i
done

# Fill the file system, then write until a write is refused.
dd if=/dev/zero of="$T/a/filler" bs=64k >/dev/null 2>&1
big=$(head -c 16000 /dev/zero | tr '\0' x)
refused=0
for i in $(seq 1 100); do
    if pm a set "big.k$i" "$big" --timeout 5 >/dev/null 2>"$T/set.err"; then
        acked[big.k$i]=$big
    else
        refused=$i; rc=$?
        break
    fi
done
[ $refused -gt 0 ] || fail "100 large writes on a full disk were all acknowledged"
msg=$(cat "$T/set.err")
log "write $refused refused: $msg"
if echo "$msg" | grep -qiE 'space|disk full|ENOSPC'; then
    xpass F3
else
    known F3 "the refused write's error does not say the disk is full: $msg"
fi

# Reads keep being served while the disk is full.
if [ "$(getv a small.k1)" = v1 ] && pm a status >/dev/null 2>&1; then
    xpass F3
    running=1
else
    known F3 "the node stopped serving reads on a full disk"
    running=0
fi

# Space returns: writes are accepted again (after a restart if it died).
rm -f "$T/a/filler"
if [ $running = 0 ]; then
    kill -0 "${PIDS[a]}" 2>/dev/null && fail "node neither serves nor exits"
    wait "${PIDS[a]}" 2>/dev/null; unset "PIDS[a]"
    start a
fi
wait_for 15 "a write accepted once space returned" pm a set after.k ok
acked[after.k]=ok

check_all() {
    local k
    for k in "${!acked[@]}"; do
        [ "$(getv a "$k")" = "${acked[$k]}" ] || fail "$1: acknowledged $k lost or changed"
    done
    replay_consistent a || fail "$1: replay hash differs from the live state"
}
check_all "after recovery"
stop a
start a
check_all "after a restart"
pass
