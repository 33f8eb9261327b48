#!/bin/bash
# t_secrets: the mesh secret appears nowhere but identity.json,
# settings.json and `get-seed`: not in pmesh.log or nats logs, not in the
# output of status / members / log / history / replay / get / nats-config
# (text and --json), not in nats.conf (which holds derived credentials),
# and not in the command line of any running pmesh or nats-server process.
# Looked for in three spellings: the seed URL's base64url text, hex, and
# standard base64.
. "$(dirname "$0")/../integration/node/lib.sh"
setup_test sec_secrets

seed a; start a
join b; start b
pm a set app.k v >/dev/null || fail "set"
pm b set app.j '{"x":1}' >/dev/null || fail "set"
pm a unset app.k >/dev/null || fail "unset"
# A wrong secret is tried too: its failure must not echo either secret.
alloc x
wrong="pmtp://AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA@127.0.0.1:${PEER[a]}"
pm x setup join "$wrong" $(common_flags x) >"$T/wrongjoin.out" 2>&1 &&
    fail "join with a wrong secret succeeded"

b64url=$(echo "$SEED_URL" | sed -E 's|^pmtp://([^@]*)@.*|\1|')
[ ${#b64url} -ge 40 ] || fail "cannot read the secret from the seed URL"
hex=$(printf '%s' "$b64url" | tr '_-' '/+' | sed 's/$/=/' | base64 -d 2>/dev/null | od -An -tx1 | tr -d ' \n')
std=$(printf '%s' "$b64url" | tr '_-' '/+')
[ ${#hex} = 64 ] || fail "secret is not 32 bytes ($hex)"
has_secret() { grep -qiF -e "$b64url" -e "$hex" -e "$std" "$@"; }

out="$T/outputs"
mkdir -p "$out"
for n in a b; do
    for cmd in status members log "history app.k" "history app.j" replay get \
               nats-config; do
        pm "$n" $cmd >"$out/$n.${cmd// /_}.txt" 2>&1
        pm "$n" $cmd --json >"$out/$n.${cmd// /_}.json" 2>&1
    done
    pm "$n" get-seed >"$out/$n.get-seed" 2>&1
done
has_secret "$out/a.get-seed" || fail "get-seed does not print the secret (test is blind)"
for f in "$out"/*.txt "$out"/*.json "$T/wrongjoin.out" "$T"/*.out; do
    has_secret "$f" && fail "secret in the output $(basename "$f")"
done
for n in a b; do
    for f in "$T/$n"/pmesh.log "$T/$n"/nats*.log "$T/$n/nats.conf"; do
        [ -e "$f" ] || continue
        has_secret "$f" && fail "secret in $n/$(basename "$f")"
    done
    # identity.json holds it (the test would be blind otherwise).
    has_secret "$T/$n/identity.json" || fail "secret not found in $n/identity.json"
done

# Command lines of the running nodes and of their children (nats-server).
procs() {
    local p=$1 c
    echo "$p"
    for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do procs "$c"; done
}
checked=0
for n in a b; do
    for p in $(procs "${PIDS[$n]}"); do
        tr '\0' ' ' </proc/"$p"/cmdline >"$out/cmdline.$p" 2>/dev/null || continue
        has_secret "$out/cmdline.$p" && fail "secret in the command line of pid $p: $(cat "$out/cmdline.$p")"
        checked=$((checked + 1))
    done
done
log "checked $checked process command lines"
pass
