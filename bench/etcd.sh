#!/bin/bash
# bench/etcd.sh: run the etcd anchor (etcd-bench.sh, given as $1) and add
# the CPU cost the anchor script does not report, so both systems are read
# with the same figures.
#
#   bench/etcd.sh PATH/etcd-bench.sh [CLIENTS...]     (default 1 16 64 256)
#
# The anchor script starts a fresh 3-member etcd cluster per client count
# and runs etcd's `benchmark put` against the leader, from
# $ANCHOR_DIR/bin/benchmark (its build cache, /var/tmp/etcd-anchor unless
# set). Here the script is given an ANCHOR_DIR of our own whose
# bin/benchmark is a wrapper: it reads utime+stime (/proc/PID/stat) of the
# cluster's etcd processes, runs the real tool with the same arguments,
# and reads them again. The difference, divided by the puts, is appended
# to the script's line as cpu_ms_per_k (CPU ms of the whole cluster per
# 1,000 puts). Both readings are taken in the tool's parent, right before
# and after it runs, so the window is the tool's whole run and nothing
# polls the machine meanwhile (an earlier sampler here polled with pgrep
# every 50 ms and, on a loaded machine, could start or end late).
# The window includes the tool's own start and its connections (a few ms
# of etcd's CPU). Needs root (the anchor script installs Debian packages
# on first use).
set -u
ANCHOR=${1:?usage: bench/etcd.sh PATH/etcd-bench.sh [CLIENTS...]}
shift
CLIENTS=("$@"); [ ${#CLIENTS[@]} -gt 0 ] || CLIENTS=(1 16 64 256)
[ -f "$ANCHOR" ] || { echo "etcd.sh: no $ANCHOR" >&2; exit 2; }
REAL_DIR=${ANCHOR_DIR:-/var/tmp/etcd-anchor}

W=$(mktemp -d /tmp/pmesh-etcd-XXXXXX)
SCRIPT_PID=
cleanup() {
    [ -n "$SCRIPT_PID" ] && kill -TERM "$SCRIPT_PID" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The real tool is built by the anchor script on its first run; build it
# with a tiny run if it is not there yet.
if [ ! -x "$REAL_DIR/bin/benchmark" ]; then
    ANCHOR_DIR=$REAL_DIR TOTAL=10 bash "$ANCHOR" 1 >/dev/null 2>"$W/err" || {
        echo "etcd.sh: building etcd's benchmark tool failed:" >&2
        tail -n 20 "$W/err" >&2
        exit 1
    }
fi

mkdir -p "$W/anchor/bin"
cat >"$W/anchor/bin/benchmark" <<WRAP
#!/bin/bash
# Written by bench/etcd.sh: etcd's CPU around one run of the real tool.
ticks() {
    local p f s=0
    # The etcd members are the anchor script's children; this wrapper runs
    # under the script or under a subshell of it.
    local a=\$PPID e=
    for _ in 1 2 3; do
        e=\$(pgrep -P "\$a" -x etcd) && break
        a=\$(ps -o ppid= -p "\$a" | tr -d ' ')
    done
    for p in \$e; do
        f=\$(cat "/proc/\$p/stat" 2>/dev/null) || continue
        f=\${f##*) }
        set -- \$f
        s=\$((s + \${12} + \${13}))
    done
    echo "\$s"
}
before=\$(ticks)
"$REAL_DIR/bin/benchmark" "\$@"
rc=\$?
after=\$(ticks)
echo \$((after - before)) >>"$W/cpu"
exit \$rc
WRAP
chmod +x "$W/anchor/bin/benchmark"

ANCHOR_DIR=$W/anchor bash "$ANCHOR" "${CLIENTS[@]}" >"$W/out" 2>"$W/err" &
SCRIPT_PID=$!
wait "$SCRIPT_PID"
rc=$?
SCRIPT_PID=
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
