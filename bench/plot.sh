#!/bin/bash
# bench/plot.sh: throughput and p99 latency against concurrent clients, from
# the result lines of bench/mesh.sh and bench/etcd.sh, as one PNG (gnuplot).
#
#   bench/plot.sh PMESH_TXT ETCD_TXT OUT.png
#
# A missing ETCD_TXT only drops the etcd curves.
set -eu
PM=${1:?usage: plot.sh PMESH_TXT ETCD_TXT OUT.png}
ET=${2:?}
OUT=${3:?}
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot not installed" >&2; exit 2; }
W=$(mktemp -d /tmp/pmesh-plot-XXXXXX)
trap 'rm -rf "$W"' EXIT

# cols FILE PREFIX: "clients rps p99" rows of the lines starting with PREFIX
# (sets sent to the leader only: not the via=follower lines).
cols() {
    [ -f "$1" ] || return 0
    grep "^$2" "$1" | grep -v " via=" | awk '{
        c = ""; r = ""; p = "";
        for (i = 1; i <= NF; i++) {
            split($i, kv, "=");
            if (kv[1] == "clients") c = kv[2];
            if (kv[1] == "rps") r = kv[2];
            if (kv[1] == "p99_ms") p = kv[2];
        }
        if (c != "") print c, r, p;
    }' | sort -n
}
cols "$PM" "pmesh nodes=3 " >"$W/p3"
cols "$PM" "pmesh nodes=1 " >"$W/p1"
cols "$ET" "etcd members=3 " >"$W/e3"

plots_r=() plots_p=()
add() { # file title style
    [ -s "$W/$1" ] || return 0
    plots_r+=("'$W/$1' using 1:2 with linespoints $3 title '$2'")
    plots_p+=("'$W/$1' using 1:3 with linespoints $3 title '$2'")
}
add p3 "pmesh, 3 voters" "lw 2 pt 7 lc rgb '#1f77b4'"
add p1 "pmesh, 1 node" "lw 2 pt 5 dt 2 lc rgb '#2ca02c'"
add e3 "etcd 3.4, 3 members" "lw 2 pt 9 lc rgb '#d62728'"
[ ${#plots_r[@]} -gt 0 ] || { echo "plot.sh: no data in $PM / $ET" >&2; exit 1; }
join_by() { local IFS=','; echo "$*"; }

gnuplot <<EOF
set terminal pngcairo size 1100,460 font ",10"
set output '$OUT'
set multiplot layout 1,2 title "set, 256-byte values, fsync on, loopback, one machine ($(date -u +%Y-%m-%d))"
set logscale x 2
set xlabel 'concurrent clients (requests in flight)'
set grid
set key top left
set ylabel 'requests/s'
set title 'throughput'
plot $(join_by "${plots_r[@]}")
set ylabel 'p99 latency (ms)'
set title 'p99 latency'
set key top left
plot $(join_by "${plots_p[@]}")
unset multiplot
EOF
echo "plot.sh: wrote $OUT"
