#!/bin/bash
# t_unauth: peers that do not prove the mesh secret never reach Raft. A
# wrong-secret join, a client with a wrong secret, random bytes, an
# oversized length prefix, and every committed fuzz-corpus message of the
# peer protocol (Raft messages and request bodies, sent raw without a
# handshake) go to the leader's and a follower's peer port. Afterwards the
# mesh has the same term, the same members, the same last log index and
# leader, and keeps committing.
. "$(dirname "$0")/../integration/node/lib.sh"
setup_test sec_unauth

seed a; start a
join b; start b
join c; start c
wait_for 15 "three voters" bash -c \
    "[ \"\$('$PMESH' --home '$T/a' members --json | jq '[.members[] | select(.role==\"voter\")] | length')\" = 3 ]"
pm a set u.k 1 >/dev/null || fail "set"
sleep 1
snap() {
    pm "$1" status --json | jq -c '{term, last_index, commit_index, leader: .leader.id}'
    pm "$1" members --json | jq -c '[.members[] | {name, role}] | sort_by(.name)'
}
before=$(snap a)
log "before: $(echo $before)"

wrong="pmtp://AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA@127.0.0.1:${PEER[a]}"
alloc x
pm x setup join "$wrong" $(common_flags x) --timeout 5 >"$T/x.out" 2>&1 &&
    fail "join with a wrong secret succeeded"
grep -qiE 'secret|auth' "$T/x.out" || fail "wrong-secret join: unclear error: $(cat "$T/x.out")"
pm y setup client "$wrong" --yes >/dev/null 2>&1 || fail "setup client"
pm y set u.k 2 --timeout 5 >"$T/y.out" 2>&1 && fail "a client with a wrong secret could set"
pm y status --timeout 5 >>"$T/y.out" 2>&1 && fail "a client with a wrong secret got status"

blast() {
    local port=$1 f
    for f in "$(dirname "$0")"/../fuzz/corpus/net_raft/* \
             "$(dirname "$0")"/../fuzz/corpus/net_body/* \
             "$(dirname "$0")"/../fuzz/corpus/net_handshake/*; do
        [ -f "$f" ] || continue
        { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || fail "connect $port"
        cat "$f" >&3 2>/dev/null
        exec 3>&-
    done
    exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "connect $port"
    head -c 65536 /dev/urandom >&3 2>/dev/null
    exec 3>&-
    exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "connect $port"
    printf '\xff\xff\xff\xff' >&3 2>/dev/null
    head -c 4096 /dev/zero >&3 2>/dev/null
    exec 3>&-
}
L=$(leader_of a b c) || fail "no leader"
for n in a b c; do blast "${PEER[$n]}"; done
sleep 1
for n in a b c; do kill -0 "${PIDS[$n]}" 2>/dev/null || fail "$n died"; done
after=$(snap a)
log "after:  $(echo $after)"
[ "$before" = "$after" ] || fail "mesh state changed: before $(echo $before), after $(echo $after)"
[ "$(leader_of a b c)" = "$L" ] || fail "leadership changed"
pm b set u.k 3 >/dev/null || fail "set after the hostile traffic"
expect_get c u.k 3
pass
