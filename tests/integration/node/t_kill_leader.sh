#!/bin/bash
# t_kill_leader: kill -9 of the leader of 3 voters: a new leader is elected,
# set resumes, the restarted node catches up; every acknowledged set is
# present on every node.
. "$(dirname "$0")/lib.sh"
setup_test kill_leader

seed a; start a
join b; start b
join c; start c
wait_for 15 "three voters" bash -c \
    "[ \"\$('$PMESH' --home '$T/a' members --json | jq '[.members[] | select(.role==\"voter\")] | length')\" = 3 ]"

acked=()
for i in $(seq 1 20); do
    pm a set "k.n$i" "$i" >/dev/null && acked+=("$i")
done
[ ${#acked[@]} -eq 20 ] || fail "only ${#acked[@]} of 20 sets acknowledged"

L=$(leader_of a b c) || fail "no leader among a b c"
log "leader is $L; kill -9"
kill9 "$L"
others=()
for n in a b c; do [ "$n" != "$L" ] && others+=("$n"); done

wait_for 15 "a new leader among ${others[*]}" leader_of "${others[@]}"
NL=$(leader_of "${others[@]}")
log "new leader $NL"
for i in $(seq 21 40); do
    # Through a follower too: it forwards to the leader.
    n=${others[$((i % 2))]}
    pm "$n" set "k.n$i" "$i" >/dev/null && acked+=("$i")
done
[ ${#acked[@]} -eq 40 ] || fail "sets after failover: ${#acked[@]} of 40 acknowledged"

# A linearizable read through the new leader sees the last acknowledged set.
[ "$(pm "${others[0]}" get --consistent k.n40)" = 40 ] ||
    fail "get --consistent after failover"

start "$L"
for n in a b c; do
    for i in "${acked[@]}"; do
        expect_get "$n" "k.n$i" "$i" 15
    done
done
pass
