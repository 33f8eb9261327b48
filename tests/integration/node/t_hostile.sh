#!/bin/bash
# t_hostile: a wrong secret, garbage bytes and an oversized frame on the
# peer port are refused while the mesh keeps working; settings.json and the
# control socket are owner-only.
. "$(dirname "$0")/lib.sh"
setup_test hostile

seed a; start a
join b; start b
pm a set h 1 >/dev/null || fail "set"

# Wrong secret: a join with a made-up seed URL for the same address.
bad="pmtp://AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA@127.0.0.1:${PEER[a]}"
alloc x
if pm x setup join "$bad" $(common_flags x) >"$T/x.out" 2>&1; then
    fail "join with a wrong secret succeeded"
fi
log "wrong secret: $(tail -n1 "$T/x.out")"

# Garbage and an oversized frame straight to the peer port.
exec 3<>"/dev/tcp/127.0.0.1/${PEER[a]}" || fail "connect"
head -c 4096 /dev/urandom >&3
exec 3>&-
exec 3<>"/dev/tcp/127.0.0.1/${PEER[a]}" || fail "connect"
printf '\x7f\xff\xff\xff' >&3
head -c 65536 /dev/zero >&3 2>/dev/null
exec 3>&-

# Each of the three was refused with one logged reason.
wait_for 5 "three refused connections logged" bash -c \
    "[ \$(grep -c 'WARN  net: connection from .*closed' '$T/a/pmesh.log') -ge 3 ]"

pm a set h 2 >/dev/null || fail "set after hostile input"
expect_get b h 2
kill -0 "${PIDS[a]}" || fail "a died"

for n in a b; do
    wait_for 5 "$n/settings.json" test -f "$T/$n/settings.json"
    m=$(stat -c %a "$T/$n/settings.json") || fail "no settings.json on $n"
    [ "$m" = 600 ] || fail "$n settings.json mode $m"
    m=$(stat -c %a "$T/$n/control.sock") || fail "no control.sock on $n"
    [ "$m" = 600 ] || fail "$n control.sock mode $m"
    m=$(stat -c %a "$T/$n")
    [ "$m" = 700 ] || fail "$n home mode $m"
done
pass
