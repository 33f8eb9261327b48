#!/bin/bash
# t_leave_stall: the leader of a two-voter mesh, the tie-breaker (a quorum
# on its own), leaves; its successor stalls (SIGSTOP, as on a starved
# machine) right after taking over. The removed node must never lead
# again: it leaves weighted mode before handing over, so it cannot elect
# itself alone and hand over round after round (seen before the fix in 6
# of 8 runs of this scenario). Then it stops, and the successor carries on.
. "$(dirname "$0")/lib.sh"
setup_test leave_stall
role_is() {
    [ "$(pm a members --json | jq -r ".members[] | select(.name==\"$1\") | .role")" = "$2" ]
}
gone() { ! kill -0 "$1" 2>/dev/null; }

seed a; start a
join r; start r
wait_for 15 "r is a voter" role_is r voter
pm a set m 1 >/dev/null || fail "set"
is_leader a || fail "a is not the leader"
pm a leave >/dev/null || fail "leave"
wait_for 10 "r leads" is_leader r
# Longer than the longest election timeout (2 s): a removed tie-breaker
# would have elected itself by then.
kill -STOP "${PIDS[r]}"
sleep 2.5
kill -CONT "${PIDS[r]}"
wait_for 15 "a stopped after leaving" gone "${PIDS[a]}"
unset "PIDS[a]"
led=$(grep -c ' leader, term' "$T/a/pmesh.log")
[ "$led" = 1 ] || fail "a led $led terms: the removed node was elected again"
wait_for 10 "r leads alone" is_leader r
pm r set after.leave 1 >/dev/null || fail "set after the leader left"
pass
