#!/bin/bash
# t_join_retry: a joiner whose join reply is lost retries and is answered
# as the first attempt was (same node id, one member); another node asking
# for a taken name is refused, also one at the very same addresses (a
# reinstalled server must not take over the old one's id).
. "$(dirname "$0")/lib.sh"
setup_test join_retry
count() { pm a members --json | jq '.members | length'; }
id_of() { pm a members --json | jq -r ".members[] | select(.name==\"$1\") | .id"; }

seed a; start a
# The first successful reply is dropped by the joiner (test hook, see
# node_setup_join in src/node/node.h): it retries with the same request.
alloc b
PMESH_TEST_JOIN_LOSE_REPLIES=1 pm b setup join "$SEED_URL" $(common_flags b) \
    >"$T/b.setup" 2>&1 || fail "retried join failed: $(cat "$T/b.setup")"
grep -q 'join: b again' "$T/a/pmesh.log" ||
    fail "the leader never saw a second join request from b"
[ "$(count)" = 2 ] || fail "want 2 members after the retried join, got $(count)"
want=$(id_of b)
got=$(jq -r .node_id "$T/b/identity.json")
[ -n "$want" ] && [ "$got" = "$want" ] ||
    fail "b was told node id $got, the mesh has it as $want"
start b
pm a set k 1 >/dev/null || fail "set with b in the mesh"
expect_get b k 1 15

# Another node wants the name b (at other addresses): refused, at once.
alloc b2
rc=0
pm b2 setup join "$SEED_URL" $(common_flags b2 | sed 's/--name b2/--name b/') \
    >"$T/b2.setup" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "a second node got the taken name b"
grep -q "taken" "$T/b2.setup" || fail "refusal does not say taken: $(cat "$T/b2.setup")"
# A fresh home at b's own addresses (a reinstalled b): refused too.
mkdir -p "$T/b3"
rc=0
"$PMESH" --home "$T/b3" setup join "$SEED_URL" $(common_flags b) \
    >"$T/b3.setup" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "a fresh home at b's addresses took over b's id"
grep -q "taken" "$T/b3.setup" || fail "refusal does not say taken: $(cat "$T/b3.setup")"
[ "$(count)" = 2 ] || fail "want 2 members after the refusals, got $(count)"
[ "$(id_of b)" = "$want" ] || fail "b's id changed"
pm a set k 2 >/dev/null || fail "set after the refusals"
expect_get b k 2
pass
