#!/bin/bash
# t_two_voters: with exactly two voters the seed's tie-breaking weight keeps
# the mesh committing when the non-seed is down; with the seed down, set
# refuses with a clear error (exit 4) and force-recover on the survivor
# lets it continue alone.
. "$(dirname "$0")/lib.sh"
setup_test two_voters

seed a; start a
join b; start b
wait_for 15 "two voters" bash -c \
    "[ \"\$('$PMESH' --home '$T/a' members --json | jq '[.members[] | select(.role==\"voter\")] | length')\" = 2 ]"
pm a set x 1 >/dev/null || fail "set with both up"
expect_get b x 1

kill9 b
pm a set x 2 >/dev/null || fail "set refused with the non-seed down"
expect_get a x 2
start b
expect_get b x 2 15

kill9 a
out=$(pm b set x 3 2>&1)
rc=$?
log "set with the seed down: exit $rc: $out"
[ $rc -eq 4 ] || fail "set with the seed down: exit $rc, want 4 ($out)"
[ -n "$out" ] || fail "no error text"
is_leader b && fail "the non-seed elected itself"

pm b force-recover --yes >/dev/null || fail "force-recover failed"
wait_for 10 "b leads after force-recover" is_leader b
pm b set x 4 >/dev/null || fail "set after force-recover"
expect_get b x 4
pm b log --json | jq -e '[.records[] | tostring | test("force|recover")] | any' >/dev/null ||
    log "note: force-recover not visible in log --json"
pass
