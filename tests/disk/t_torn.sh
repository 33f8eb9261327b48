#!/bin/bash
# t_torn: a truncated or torn store file is detected. The node's data.mdb
# is cut at several lengths, and each of its pages in turn is zeroed whole
# (a lost write) or from its middle on (a torn write). Each time the node
# must either refuse to start with an error naming the damage, or serve
# exactly the acknowledged settings with a replay matching its live state
# (the damaged page was free).
. "$(dirname "$0")/lib.sh"
setup_test disk_torn

seed a; start a
for i in 1 2 3 4 5; do
    pm a set "key$i" "value-$i" >/dev/null || fail "set key$i"
done
want=$(pm a get --json | jq -cS .value)
stop a
cp -a "$T/a" "$T/pristine"
size=$(stat -c %s "$T/pristine/data/data.mdb")
pages=$((size / 4096))
log "data.mdb: $size bytes, $pages pages"

refused=0 served=0 emptied=0
judge() {
    try_start a
    if [ $STARTED = 0 ]; then
        damage_named || fail "$1: start refused without naming the damage: $START_ERR"
        refused=$((refused + 1))
        return
    fi
    local got applied
    got=$(pm a get --json 2>/dev/null | jq -cS .value)
    if [ "$got" != "$want" ]; then
        applied=$(pm a status --json 2>/dev/null | jq -r .applied_index)
        kill -TERM "${PIDS[a]}" 2>/dev/null
        wait "${PIDS[a]}" 2>/dev/null
        unset "PIDS[a]"
        if [ "$applied" = 0 ]; then
            known F5 "$1: the node started as an empty node (applied 0) on a damaged store"
            emptied=$((emptied + 1))
            return
        fi
        fail "$1: started and serves '$got', not $want (applied index '$applied')"
    fi
    replay_consistent a || fail "$1: started with a replay that differs from its state"
    served=$((served + 1))
    stop a
}
restore() { rm -rf "$T/a"; cp -a "$T/pristine" "$T/a"; }

for len in 0 100 4096 $((size / 2 + 123)) $((size - 4096)) $((size - 1)); do
    restore
    truncate -s "$len" "$(data_mdb a)"
    judge "truncated to $len bytes"
    [ $STARTED = 0 ] || fail "truncated to $len bytes: the node started"
done
for p in $(seq 0 $((pages - 1))); do
    restore
    dd if=/dev/zero of="$(data_mdb a)" bs=4096 seek="$p" count=1 conv=notrunc 2>/dev/null
    judge "page $p zeroed"
    restore
    dd if=/dev/zero of="$(data_mdb a)" bs=512 seek=$((p * 8 + 3)) count=5 conv=notrunc 2>/dev/null
    judge "page $p torn"
done
log "$refused damaged starts refused with a clear error, $served served intact data, $emptied started empty (F5)"
pass
