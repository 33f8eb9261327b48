#!/bin/bash
# t_corrupt: a stored record damaged while the node was down is reported
# at start and never served. One byte of a stored value is changed: in
# every copy at once, then in each copy alone (the log entry, the state
# record, stale pages). Each time the node must either refuse to start with
# an error naming the damage, or serve exactly the values it acknowledged
# (the copy was a stale page) with a replay that matches its live state.
. "$(dirname "$0")/lib.sh"
setup_test disk_corrupt

seed a; start a
for i in 1 2 3; do
    pm a set "key$i" "MARKERVALUE$i-abcdefghij" >/dev/null || fail "set key$i"
done
stop a
cp -a "$T/a" "$T/pristine"

# outcome WHAT: judge one damaged start (see the header).
outcome() {
    try_start a
    if [ $STARTED = 0 ]; then
        damage_named || fail "$1: start refused without naming the damage: $START_ERR"
        log "$1: refused: $(echo "$START_ERR" | head -n1)"
        return
    fi
    local v
    v=$(getv a key3)
    if [ "$v" = MARKERVALUE3-abcdefghij ] && replay_consistent a; then
        log "$1: started, serves the acknowledged values (stale copy)"
    elif [ "$v" = MARKERVALUE9-abcdefghij ]; then
        known F4 "$1: the node started and serves the damaged value '$v'"
    else
        fail "$1: started and serves '$v' for key3 (replay consistent: $(replay_consistent a && echo yes || echo no))"
    fi
    stop a
}

restore() { rm -rf "$T/a"; cp -a "$T/pristine" "$T/a"; }

# Every copy at once (the log entry among them): must be refused.
restore
python3 - "$(data_mdb a)" <<'PY'
import sys
p = sys.argv[1]
b = open(p, 'rb').read()
open(p, 'wb').write(b.replace(b'MARKERVALUE3', b'MARKERVALUE9'))
PY
try_start a
[ $STARTED = 0 ] || { stop a; fail "every copy damaged: the node started"; }
damage_named || fail "every copy damaged: no clear error: $START_ERR"
log "every copy damaged: refused: $(echo "$START_ERR" | head -n1)"

# Each copy alone.
offs=$(grep -boa 'MARKERVALUE3' "$T/pristine/data/data.mdb" | cut -d: -f1)
[ -n "$offs" ] || fail "the value is not in the store file"
for off in $offs; do
    restore
    printf '9' | dd of="$(data_mdb a)" bs=1 seek=$((off + 11)) conv=notrunc 2>/dev/null
    outcome "copy at byte $off"
done
pass
