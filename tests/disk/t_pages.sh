#!/bin/bash
# t_pages: random damage to any page of a stopped node's data.mdb (LMDB's
# meta pages, branch, leaf and overflow pages, the free list) never crashes
# `pmesh start` and never serves wrong data. Each seeded trial XORs 1-3
# bytes of one page, half the time inside the page header and node
# pointers (where LMDB trusts counts and offsets). The node must either
# refuse to start with a one-line error naming the damage ("store
# damaged"), exiting normally (not killed by a signal), or serve exactly
# the acknowledged settings with a replay matching its live state (the
# damage hit a free page or unused bytes). src/log/verify.c is the check;
# tests/unit/test_log_damage.c runs many more trials on the store alone.
#   SEED=N TRIALS=N tests/disk/t_pages.sh   (the seed is printed)
. "$(dirname "$0")/lib.sh"
setup_test disk_pages
SEED=${SEED:-$(( $(date +%s) % 100000 ))}
TRIALS=${TRIALS:-40}
log "seed $SEED, $TRIALS trials (rerun: SEED=$SEED TRIALS=$TRIALS $0)"

seed a; start a
big=$(printf 'v%.0s' $(seq 3000))    # an overflow page in the state table
pm a set app.big "$big" >/dev/null || fail "set app.big"
for i in $(seq 1 40); do
    pm a set "app.k$i" "value-$i-abcdefghijklmnop" >/dev/null || fail "set app.k$i"
done
want=$(pm a get --json | jq -cS .value)
stop a
cp -a "$T/a" "$T/pristine"
size=$(stat -c %s "$T/pristine/data/data.mdb")
log "data.mdb: $size bytes, $((size / 4096)) pages"

restore() { rm -rf "$T/a"; cp -a "$T/pristine" "$T/a"; }

# flip TRIAL: damage one page of node a's store; prints what was done.
flip() {
    python3 - "$(data_mdb a)" "$SEED" "$1" <<'PY'
import random, struct, sys
path, seed, trial = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(seed * 100003 + trial)
b = bytearray(open(path, 'rb').read())
pages = len(b) // 4096
pg = r.randrange(2) if r.random() < 0.15 else r.randrange(pages)
base = pg * 4096
if pg < 2:
    hot = 16 + 136                      # LMDB's meta record
else:
    lower = struct.unpack_from('<H', b, base + 12)[0]
    hot = lower if 16 < lower <= 4096 else 16
span = hot if r.random() < 0.5 else 4096
offs = []
for _ in range(r.randint(1, 3)):
    off = r.randrange(span)
    b[base + off] ^= r.randint(1, 255)
    offs.append(off)
open(path, 'wb').write(b)
print("page %d bytes %s" % (pg, ",".join(map(str, offs))))
PY
}

refused=0 served=0
for t in $(seq 1 "$TRIALS"); do
    restore
    what=$(flip "$t")
    try_start a
    if [ $STARTED = 0 ]; then
        [ "${START_RC:-0}" -lt 128 ] ||
            fail "trial $t ($what): pmesh start was killed by signal $((START_RC - 128)): $START_ERR"
        damage_named || fail "trial $t ($what): start refused without naming the damage: $START_ERR"
        [ "$(echo "$START_ERR" | grep -c .)" = 1 ] ||
            fail "trial $t ($what): the refusal is not one line: $START_ERR"
        refused=$((refused + 1))
        continue
    fi
    got=$(pm a get --json 2>/dev/null | jq -cS .value)
    [ "$got" = "$want" ] || fail "trial $t ($what): started and serves other settings"
    replay_consistent a || fail "trial $t ($what): started with a replay that differs from its state"
    served=$((served + 1))
    stop a
done
log "$refused damaged starts refused with one clear line, $served served intact data, 0 crashed"
[ $refused -gt 0 ] || fail "no trial was refused: the damage missed the store"
pass
