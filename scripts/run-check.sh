#!/bin/bash
# run-check.sh RESULTS_DIR NAME TIMEOUT_S CMD...: run one test suite with a
# time limit, keep its output in RESULTS_DIR/NAME.log, record pass or fail.
# Always exits 0 so that every suite runs; scripts/summary.sh judges.
set -u
dir=$1 name=$2 limit=$3; shift 3
mkdir -p "$dir/$(dirname "$name")"
log="$dir/$name.log"
start=$(date +%s.%N)
timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
rc=$?
secs=$(printf '%.1f' "$(echo "$(date +%s.%N) - $start" | bc)")
if [ $rc -eq 0 ]; then
    echo pass >"$dir/$name.result"
    printf 'PASS  %-40s %6ss\n' "$name" "$secs"
else
    echo fail >"$dir/$name.result"
    [ $rc -eq 124 ] && echo "(timed out after ${limit}s)" >>"$log"
    printf 'FAIL  %-40s %6ss  (exit %d)\n' "$name" "$secs" "$rc"
    # The first failure lines, then the end: a long log's cause is often
    # far above its last 40 lines.
    grep -m 6 -n 'FAIL' "$log" | sed 's/^/    ! /'
    tail -n 40 "$log" | sed 's/^/    | /'
fi
exit 0
