#!/bin/bash
# t_replica: a replica joins, catches up and serves get; stopped while 5,000
# entries are committed and the log is compacted, it restarts and catches
# up by snapshot; it never votes.
. "$(dirname "$0")/lib.sh"
setup_test replica
N=5000
export PMESH_COMPACT_EVERY=1000  # compact several times during the test
[ -n "${PMESH_ASAN:-}" ] && N=1500

seed a; start a
join b; start b
join c; start c
pm a set before 1 >/dev/null || fail "set"
join r replica; start r
expect_get r before 1 15
[ "$(pm a members --json | jq -r '.members[] | select(.name=="r") | .role')" = replica ] ||
    fail "r is not listed as a replica"

stop r
# Commit N entries in one go through parallel writers (each `set` is one
# process; run 8 at a time).
seq 1 "$N" | xargs -P 8 -I{} "$PMESH" --home "$T/a" set bulk.last {} >/dev/null ||
    fail "bulk sets failed"
pm a set after 2 >/dev/null || fail "set after bulk"
first=$(status_field a .first_index)
log "leader first_index after $N sets: $first"
[ "${first:-0}" -gt 1 ] || fail "the log was not compacted (first_index $first)"

term_before=$(status_field a .term)
start r
expect_get r after 2 30
grep -qi snapshot "$T/r/pmesh.log" || fail "r did not catch up by snapshot"
# Its catch-up is shown: progress lines while far behind, then the end.
grep -q 'catching up: applied [0-9]* of [0-9]*' "$T/r/pmesh.log" ||
    fail "r showed no catch-up progress"
wait_for 10 "r says it caught up" grep -q 'caught up at index' "$T/r/pmesh.log"
[ "$(status_field r .leader_commit_index)" -ge "$(status_field r .applied_index)" ] ||
    fail "status has no sensible leader_commit_index"
[ "$(status_field r .state)" = learner ] || fail "r is not a learner"
# It never votes nor campaigns: no election happened because of it, and
# the voters never counted it.
leader_of r >/dev/null && fail "replica became leader"
[ "$(status_field a .term)" = "$term_before" ] ||
    fail "the term changed while the replica came back"
[ "$(pm a members --json | jq '[.members[] | select(.role=="voter")] | length')" = 3 ] ||
    fail "voter count changed"
# The audit still works on a compacted log (from the saved base state), on
# the leader and on the replica that caught up by snapshot; a replay from
# it reproduces the live state.
pm a replay --json | jq -e '.state_hash != null and .state_hash == .live_hash' >/dev/null ||
    fail "replay on the compacted leader does not match the live state"
pm a set after 3 >/dev/null || fail "set"
expect_get r after 3
pm r history after --json | jq -e '.records[-1].new == 3' >/dev/null ||
    fail "history on the replica: $(pm r history after --json 2>&1 | head -c 300)"
pm a log --json | jq -e '.records | length > 0' >/dev/null || fail "log on the leader"
pass
