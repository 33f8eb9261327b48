#!/bin/bash
# summary.sh RESULTS_DIR: count the suites that passed and failed.
dir=$1
pass=$(find "$dir" -name '*.result' -exec grep -l '^pass' {} + 2>/dev/null | wc -l)
fail=$(find "$dir" -name '*.result' -exec grep -l '^fail' {} + 2>/dev/null | wc -l)
if [ "$fail" -gt 0 ]; then
    echo "failed suites:"; find "$dir" -name '*.result' -exec grep -l '^fail' {} + | sed "s|^$dir/|  |; s|\.result$||"
fi
echo "$pass passed, $fail failed"
[ "$pass" -gt 0 ] && [ "$fail" -eq 0 ]
