#!/bin/bash
# bench/etcd.sh: run the etcd anchor (etcd-bench.sh, given as $1) and add
# the CPU cost the anchor script does not report, so both systems are read
# with the same figures.
#
#   bench/etcd.sh PATH/etcd-bench.sh [CLIENTS...]     (default 1 16 64 256)
#
# The anchor script starts a fresh 3-member etcd cluster per client count
# and runs etcd's `benchmark put` against the leader. Meanwhile a sampler
# here reads utime+stime (/proc/PID/stat) of the script's etcd processes
# every 50 ms while a `benchmark` process runs; the difference between the
# first and the last sample of a run, divided by the puts, is appended to
# the script's line as cpu_ms_per_k (CPU ms of the whole cluster per 1,000
# puts; accurate to a 50 ms sample at each end of the run).
# Needs root (the anchor script installs Debian packages on first use).
set -u
ANCHOR=${1:?usage: bench/etcd.sh PATH/etcd-bench.sh [CLIENTS...]}
shift
CLIENTS=("$@"); [ ${#CLIENTS[@]} -gt 0 ] || CLIENTS=(1 16 64 256)
[ -f "$ANCHOR" ] || { echo "etcd.sh: no $ANCHOR" >&2; exit 2; }

W=$(mktemp -d /tmp/pmesh-etcd-XXXXXX)
SCRIPT_PID=
SAMPLER_PID=
cleanup() {
    [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null
    [ -n "$SCRIPT_PID" ] && kill -TERM "$SCRIPT_PID" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ticks PID...: the summed utime+stime of the given processes.
ticks() {
    local p s=0 f
    for p in "$@"; do
        f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        f=${f##*) }            # after the command name
        set -- $f
        s=$((s + ${12} + ${13})) # fields 14 and 15 of the full line
    done
    echo "$s"
}

sampler() {
    local first= last= etcds
    while kill -0 "$SCRIPT_PID" 2>/dev/null; do
        if pgrep -x benchmark >/dev/null; then
            etcds=$(pgrep -P "$SCRIPT_PID" -x etcd | tr '\n' ' ')
            last=$(ticks $etcds)
            [ -z "$first" ] && first=$last
        elif [ -n "$first" ]; then
            echo $((last - first)) >>"$W/cpu"
            first=
        fi
        sleep 0.05
    done
}

bash "$ANCHOR" "${CLIENTS[@]}" >"$W/out" 2>"$W/err" &
SCRIPT_PID=$!
sampler &
SAMPLER_PID=$!
wait "$SCRIPT_PID"
rc=$?
SCRIPT_PID=
sleep 0.2
kill "$SAMPLER_PID" 2>/dev/null
wait "$SAMPLER_PID" 2>/dev/null
SAMPLER_PID=
if [ $rc -ne 0 ]; then
    echo "etcd.sh: the anchor script failed ($rc):" >&2
    tail -n 20 "$W/err" >&2
    exit 1
fi
hz=$(getconf CLK_TCK)
i=0
while read -r line; do
    i=$((i + 1))
    c=$(echo "$line" | grep -o 'clients=[0-9]*' | cut -d= -f2)
    total=${TOTAL:-$(( c == 1 ? 3000 : 20000 ))}
    t=$(sed -n "${i}p" "$W/cpu" 2>/dev/null)
    if [ -n "$t" ]; then
        cpu=$(awk -v t="$t" -v hz="$hz" -v n="$total" 'BEGIN { printf "%.1f", t * 1000.0 / hz * 1000.0 / n }')
    else
        cpu=nan
    fi
    echo "$line cpu_ms_per_k=$cpu"
done < <(grep '^etcd ' "$W/out")
