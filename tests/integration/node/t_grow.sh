#!/bin/bash
# t_grow: a seed alone accepts set; a second server joins while a client
# keeps setting on the seed without errors; a third joins; get agrees on all.
. "$(dirname "$0")/lib.sh"
setup_test grow

seed a
start a
pm a set solo.key '"alone"' >/dev/null || fail "seed alone refused set"
expect_get a solo.key alone

# A writer keeps setting on the seed while b and c join.
(
    i=0
    while [ ! -f "$T/stop-writer" ]; do
        i=$((i + 1))
        if ! pm a set load.n "$i" >/dev/null 2>>"$T/writer.err"; then
            echo "set $i failed" >>"$T/writer.err"
        fi
        echo "$i" >"$T/writer.last"
    done
) &
WRITER=$!
PIDS[writer]=$WRITER

join b
start b
join c
start c
sleep 0.5
touch "$T/stop-writer"
wait "$WRITER"
unset "PIDS[writer]"
[ -s "$T/writer.err" ] && fail "sets failed during joins: $(head -3 "$T/writer.err")"
last=$(cat "$T/writer.last")
log "writer did $last sets during the joins"
[ "$last" -gt 0 ] || fail "writer made no progress"

idx=$(pm a set final.v 42) || fail "set after joins failed"
# The index a set reports is the entry that holds it (through a follower
# too, which forwards to the leader).
pm a log --json | jq -e --argjson i "$idx" \
    '.records[] | select(.index == $i) | .command.key == "final.v"' >/dev/null ||
    fail "set reported index $idx, which is not its entry"
idx=$(pm c set final.w 43) || fail "set through a follower failed"
pm a log --json | jq -e --argjson i "$idx" \
    '.records[] | select(.index == $i) | .command.key == "final.w"' >/dev/null ||
    fail "forwarded set reported index $idx, which is not its entry"
for n in a b c; do
    expect_get "$n" load.n "$last"
    expect_get "$n" final.v 42
    expect_get "$n" solo.key alone
done
# settings.json is materialized on every node with the mesh-wide settings.
for n in a b c; do
    wait_for 10 "$n settings.json has final.v" \
        bash -c "jq -e '.settings.final.v == 42' '$T/$n/settings.json'"
done
# All three are voters now (b and c promoted once caught up).
wait_for 15 "three voters" bash -c \
    "[ \"\$('$PMESH' --home '$T/a' members --json | jq '[.members[] | select(.role==\"voter\")] | length')\" = 3 ]"
pass
