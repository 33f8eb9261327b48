# lib.sh: helpers for the disk-fault tests (sourced, bash). Builds on the
# node integration helpers (tests/integration/node/lib.sh: a fresh $T, port
# allocation, seed/start/stop, a trap that kills what the test started).
. "$(dirname "${BASH_SOURCE[0]}")/../integration/node/lib.sh"

# Store files of node NAME.
data_mdb() { echo "$T/$1/data/data.mdb"; }

# try_start NAME: start node NAME on a damaged store. Sets STARTED=1 if it
# serves (answers status within 3 s), else STARTED=0 and START_ERR to what
# it printed. A node that serves is left running (in PIDS).
try_start() {
    local n=$1 i
    : >"$T/$n.out"
    "$PMESH" --home "$T/$n" start >>"$T/$n.out" 2>&1 &
    PIDS[$n]=$!
    STARTED=0 START_ERR=
    for i in $(seq 30); do
        if ! kill -0 "${PIDS[$n]}" 2>/dev/null; then
            wait "${PIDS[$n]}" 2>/dev/null
            START_RC=$?
            unset "PIDS[$n]"
            START_ERR=$(cat "$T/$n.out")
            return 0
        fi
        pm "$n" status >/dev/null 2>&1 && { STARTED=1; return 0; }
        sleep 0.1
    done
    fail "$n neither serves nor exits 3 s after start"
}

# A start refused with a message that names the damage.
damage_named() {
    echo "$START_ERR" | grep -qiE 'corrupt|checksum|malformed|truncat|torn|damaged|fatal error' &&
        [ "${START_RC:-0}" -ne 0 ]
}

# replay_consistent NAME: the replay of the log gives the live state hash.
replay_consistent() {
    local r
    r=$(pm "$1" replay --json 2>/dev/null) || return 1
    [ "$(echo "$r" | jq -r '.state_hash == .live_hash')" = true ]
}

# known / xpass: assertions held back by a finding (tests/chaos/known.sh).
. "$(dirname "${BASH_SOURCE[0]}")/../chaos/known.sh"
