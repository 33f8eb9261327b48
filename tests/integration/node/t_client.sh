#!/bin/bash
# t_client: a client home (setup client) runs get and set remotely.
. "$(dirname "$0")/lib.sh"
setup_test client

seed a; start a
pm cl setup client "$SEED_URL" --yes >/dev/null || fail "setup client"
[ -f "$T/cl/identity.json" ] || fail "no client identity"
pm cl set remote.k '"v1"' >/dev/null || fail "remote set"
expect_get a remote.k v1
[ "$(getv cl remote.k)" = v1 ] || fail "remote get: $(getv cl remote.k)"
pass
