#!/bin/bash
# t_membership: leave and remove shrink the mesh; promote turns a replica
# into a voter.
. "$(dirname "$0")/lib.sh"
setup_test membership
voters() { pm a members --json | jq '[.members[] | select(.role=="voter")] | length'; }
count() { pm a members --json | jq '.members | length'; }
voters_are() { [ "$(voters)" = "$1" ]; }
count_is() { [ "$(count)" = "$1" ]; }
role_of() { pm a members --json | jq -r ".members[] | select(.name==\"$1\") | .role"; }
role_is() { [ "$(role_of "$1")" = "$2" ]; }
gone() { ! kill -0 "$1" 2>/dev/null; }

seed a; start a
join b; start b
join c; start c
join r replica; start r
wait_for 15 "three voters" voters_are 3
[ "$(count)" = 4 ] || fail "want 4 members, got $(count)"
id_of() { pm a members --json | jq -r ".members[] | select(.name==\"$1\") | .id"; }
B_ID=$(id_of b); C_ID=$(id_of c)

pm c leave >/dev/null || fail "leave failed"
wait_for 10 "c stopped after leaving" gone "${PIDS[c]}"
unset "PIDS[c]"
wait_for 10 "3 members after leave" count_is 3

pm a remove b >/dev/null || fail "remove failed"
wait_for 10 "2 members after remove" count_is 2
# A removed node stops by itself once it sees its removal.
wait_for 10 "b stopped after its removal" gone "${PIDS[b]}"
unset "PIDS[b]"

pm a promote r >/dev/null || fail "promote failed"
wait_for 10 "r is a voter" role_is r voter
pm a set m 1 >/dev/null || fail "set after membership changes"
expect_get r m 1

# The leader itself leaves: it hands leadership to r, which carries on.
L=$(leader_of a r) || fail "no leader"
pm "$L" leave >/dev/null || fail "leader leave failed"
wait_for 10 "$L stopped after leaving" gone "${PIDS[$L]}"
unset "PIDS[$L]"
S=a; [ "$L" = a ] && S=r
wait_for 10 "$S leads alone" is_leader "$S"
pm "$S" set after.leave 1 >/dev/null || fail "set after the leader left"
# Peers that left are never dialed again (the last member once fell back
# to the peers its join reply named, b and c among them).
for id in "$B_ID" "$C_ID"; do
    dials=$(grep -c "node: peer $id at" "$T/$S/pmesh.log")
    [ "$dials" -le 1 ] || fail "$S dialed the removed member $id again ($dials times)"
done
pass
