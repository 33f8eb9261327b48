#!/bin/bash
# t_modes: everything a node keeps in its home is owner-only, even when the
# user's umask would allow more: the home and data directory 0700,
# identity.json / settings.json / nats.conf / the store / the log 0600 or
# stricter, the control socket 0600. Checked on a seed, a joined voter and
# a client home, while the nodes run.
. "$(dirname "$0")/../integration/node/lib.sh"
. "$(dirname "$0")/../chaos/known.sh"
setup_test sec_modes
umask 000

seed a; start a
join b; start b
pm a set s.k 1 >/dev/null || fail "set"
expect_get b s.k 1
wait_for 10 "b wrote settings.json" test -e "$T/b/settings.json"
pm c setup client "$SEED_URL" --yes >/dev/null 2>&1 || fail "setup client"

for n in a b c; do
    [ -d "$T/$n" ] || fail "no home $n"
    m=$(stat -c %a "$T/$n")
    [ "$m" = 700 ] || fail "home $n has mode $m"
    # Nothing in the home is readable or writable by group or others.
    # (F6: nats-server makes its store directory 0750; listed apart.)
    loose=$(find "$T/$n" -perm /077 -printf '%m %p\n')
    natsdir=$(echo "$loose" | grep -E " $T/$n/nats(/|$)")
    loose=$(echo "$loose" | grep -vE " $T/$n/nats(/|$)")
    [ -z "$loose" ] || fail "group/other access in home $n: $loose"
    if [ -n "$natsdir" ]; then
        known F6 "group/other access in home $n: $(echo $natsdir)"
    elif [ -d "$T/$n/nats" ]; then
        xpass F6
    fi
done
for n in a b; do
    for f in identity.json settings.json nats.conf data data/data.mdb \
             control.sock pmesh.log; do
        [ -e "$T/$n/$f" ] || fail "$n: no $f"
    done
    [ -S "$T/$n/control.sock" ] || fail "$n: control.sock is not a socket"
    m=$(stat -c %a "$T/$n/data")
    [ "$m" = 700 ] || fail "$n: data dir mode $m"
    m=$(stat -c %a "$T/$n/control.sock")
    [ "$m" = 600 ] || fail "$n: control.sock mode $m"
done
# The client home holds the secret too (its identity).
m=$(stat -c %a "$T/c/identity.json")
[ "$m" = 600 ] || fail "client identity.json mode $m"

# Another user cannot use the control socket.
if id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
    if setpriv --reuid=nobody --regid=nogroup --clear-groups \
        "$PMESH" --home "$T/a" status >/dev/null 2>&1; then
        fail "user nobody can query the node"
    fi
fi
pass
