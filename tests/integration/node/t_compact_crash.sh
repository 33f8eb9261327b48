#!/bin/bash
# t_compact_crash: a node killed (SIGKILL) at the points of a compaction
# -- while the child saves the state, after it saved it but before the
# store compacts, after the store compacted but before audit.snap.next is
# renamed -- restarts, has lost nothing it acknowledged, and its audit
# (replay, log) works from the log's base. A child that fails never lets
# the log compact; damaged saved-state files are never read as state.
#
# The exact points are reached with the node's test hook
# PMESH_TEST_COMPACT_FAULT (src/node/compact.c); the kills while the child
# works land at random times.
. "$(dirname "$0")/lib.sh"
setup_test compact_crash
export PMESH_COMPACT_EVERY=20
NEXT=1  # the next `set w.i<NEXT> <NEXT>`; $T/acked lists the acknowledged

seed a
A=$T/a
: >"$T/acked"

start_a() {  # start_a [FAULT]
    PMESH_TEST_COMPACT_FAULT=${1:-} "$PMESH" --home "$A" start --no-nats \
        >>"$T/a.out" 2>&1 &
    PIDS[a]=$!
    wait_for 10 "a answers status" pm a status
}

# write SECONDS: sequential sets for at most SECONDS or until the node is
# gone; remembers the last acknowledged one.
write() {
    local end=$((SECONDS + $1))
    while [ $SECONDS -lt $end ] && kill -0 "${PIDS[a]}" 2>/dev/null; do
        if pm a set "w.i$NEXT" "$NEXT" >/dev/null 2>&1; then
            echo "$NEXT" >>"$T/acked"
            NEXT=$((NEXT + 1))
        else
            NEXT=$((NEXT + 1)) # outcome unknown: never reuse the key
            sleep 0.05
        fi
    done
}

# The node is gone (killed or killed itself); no child of it is left.
gone() {
    local pid=${PIDS[a]}
    wait_for 10 "the node to die" bash -c "! kill -0 $pid 2>/dev/null"
    wait "$pid" 2>/dev/null
    unset "PIDS[a]"
    # The compaction child dies with it (PR_SET_PDEATHSIG).
    wait_for 5 "no process of the killed node left" \
        bash -c "! pgrep -f -- '[-]-home $A start' >/dev/null"
}

# After a restart: nothing acknowledged is lost, and the audit replays from
# the log's base to the live state.
check_after_restart() {
    local what=$1
    start_a
    # Every acknowledged set is there, with its value.
    local missing
    missing=$(pm a get w --json | jq -r --slurpfile acked "$T/acked" \
        '.value as $v | [$acked[] | select($v["i\(.)"] != .)] | .[0] // "none"') ||
        fail "$what: get w failed"
    [ "$missing" = none ] || fail "$what: acknowledged w.i$missing lost"
    pm a replay --json | jq -e '.state_hash != null and .state_hash == .live_hash' \
        >/dev/null || fail "$what: replay does not reproduce the live state: \
$(pm a replay --json 2>&1 | head -c 300)"
    pm a log --json | jq -e '.records' >/dev/null ||
        fail "$what: log: $(pm a log 2>&1 | head -c 300)"
    [ -e "$A/audit.snap.next.tmp" ] && fail "$what: a partial file was left"
    log "$what: all $(wc -l <"$T/acked") acknowledged sets kept, first index $(status_field a .first_index), audit ok"
}

# 1. Killed between the store's compaction and the rename.
start_a before-rename
write 20
[ -e "$A/audit.snap.next" ] || fail "before-rename: no audit.snap.next left"
cp "$A/audit.snap.next" "$T/next.before"
gone
check_after_restart "killed before the rename"
# (A new compaction after the restart may write a new audit.snap.next:
# compare contents, not names.)
cmp -s "$A/audit.snap.next" "$T/next.before" &&
    fail "the interrupted rename was not finished"
[ "$(status_field a .first_index)" -gt 1 ] || fail "the log never compacted"
stop a

# 2. Killed after the child saved the state, before the store compacted.
start_a after-child
write 20
gone
[ -e "$A/audit.snap.next" ] || fail "after-child: no audit.snap.next left"
check_after_restart "killed before the compaction"
stop a

# 3. Killed at random times while children work (each sleeps 300 ms first).
for round in 1 2 3; do
    start_a child-slow
    write 1
    sleep "0.$((RANDOM % 6 + 1))"
    kill -9 "${PIDS[a]}"
    gone
    check_after_restart "random kill $round"
    stop a
done

# 4. A failing child: warned, never compacted, retried later.
start_a child-fail
first=$(status_field a .first_index)
write 2
wait_for 5 "the failure is logged" grep -q 'compaction failed' "$A/pmesh.log"
[ "$(status_field a .first_index)" = "$first" ] ||
    fail "compacted although the child failed"
stop a
start_a
write 2
wait_for 5 "compaction after the failure" \
    bash -c "[ \$('$PMESH' --home '$A' status --json | jq .first_index) -gt $first ]"
stop a

# 5. A child killed by someone else: warned, never compacted, retried; and
# a clean stop while a child works kills and reaps it.
# The compaction child by name: the node may also have a settings.json
# writer (pmesh-files) at that moment.
child_of_a() { pgrep -P "${PIDS[a]}" -x pmesh-compact >/dev/null; }
until_child() {  # sets until the node has a compaction child
    local i
    for i in $(seq 500); do
        child_of_a && return 0
        pm a set "x.$i" 1 >/dev/null || fail "set"
    done
    fail "no compaction child after 500 sets"
}
start_a child-slow
until_child
first=$(status_field a .first_index)
kill -9 "$(pgrep -P "${PIDS[a]}" -x pmesh-compact)"
wait_for 5 "the killed child is logged" grep -q 'failed (killed by signal 9)' \
    "$A/pmesh.log"
[ "$(status_field a .first_index)" = "$first" ] ||
    fail "compacted although the child was killed"
sleep 1.2 # the retry backoff
until_child
stop a
pgrep -f -- "[-]-home $A start" >/dev/null &&
    fail "a compaction child outlived the node's stop"
check_after_restart "child killed, then a stop while a child worked"
stop a

# 6. Damaged saved-state files: a garbage audit.snap.next is removed at
# start; a damaged audit.snap is never read as state: the audit says why.
head -c 100 /dev/urandom >"$T/garbage"
cp "$T/garbage" "$A/audit.snap.next"
check_after_restart "garbage audit.snap.next"
cmp -s "$A/audit.snap.next" "$T/garbage" &&
    fail "the garbage audit.snap.next was kept"
stop a
size=$(stat -c %s "$A/audit.snap")
truncate -s $((size / 2)) "$A/audit.snap"
start_a
out=$(pm a replay 2>&1) && fail "replay from a truncated audit.snap succeeded"
echo "$out" | grep -q 'compacted up to [0-9]* and no state saved there' ||
    fail "replay on a damaged audit.snap: unclear: $out"
log "damaged audit.snap: $out"
# The next compaction saves a good one again.
write 2
wait_for 10 "a new audit.snap" bash -c "'$PMESH' --home '$A' replay >/dev/null"
pass
