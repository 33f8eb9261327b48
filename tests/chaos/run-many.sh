#!/bin/bash
# run-many.sh --pmesh P --lincheck L --seeds "S..." [--duration SECS]
#             [--out DIR] [--extra "ARGS"]
# Run chaos.sh once per seed (odd seeds on 3 nodes, even seeds on 5; ARGS,
# e.g. "--clients 8 --keys 1", go to every run), print each run's summary
# and the totals: schedules, operations checked, faults injected. Exit 1 if
# any run failed, after printing the command that reproduces each failure.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
PMESH= LINCHECK= SEEDS="1" DURATION=60 OUT= EXTRA=
while [ $# -gt 0 ]; do
    case $1 in
        --pmesh) PMESH=$2 ;;
        --lincheck) LINCHECK=$2 ;;
        --seeds) SEEDS=$2 ;;
        --duration) DURATION=$2 ;;
        --out) OUT=$2 ;;
        --extra) EXTRA=$2 ;;
        *) echo "run-many.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift 2 || exit 2
done
runs=0 failed=0 ops=0 okops=0 unknown=0 faults=0 repro=()
start=$SECONDS
TMP=$(mktemp -d /tmp/pmesh-chaos-many-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
# Run copies: bash reads a script as it goes, so an edit of chaos.sh in the
# work tree during a run would otherwise break the run.
cp "$HERE/chaos.sh" "$HERE/netns.sh" "$TMP/" || exit 2
[ -n "$OUT" ] && mkdir -p "$OUT"
for s in $SEEDS; do
    n=$(( s % 2 == 1 ? 3 : 5 ))
    out=${OUT:+$OUT/seed-$s}
    log=${out:-$TMP/seed-$s}.log
    [ -n "$out" ] && rm -rf "$out"
    "$TMP/chaos.sh" --seed "$s" --nodes "$n" --duration "$DURATION" \
        --pmesh "$PMESH" --lincheck "$LINCHECK" ${out:+--out "$out"} $EXTRA >"$log" 2>&1
    cat "$log"
    line=$(grep -E '^(chaos:|reproduce:)' "$log" | tr '\n' ' ')
    runs=$((runs + 1))
    case $line in
        *": OK "*)
            set -- $(echo "$line" | sed -E 's/.*ops=([0-9]+) ok=([0-9]+) unknown=([0-9]+) faults=([0-9]+).*/\1 \2 \3 \4/')
            ops=$((ops + $1)) okops=$((okops + $2)) unknown=$((unknown + $3)) faults=$((faults + $4))
            ;;
        *reproduce:*)
            failed=$((failed + 1))
            repro+=("seed $s: ${line#*reproduce: }")
            ;;
        *)
            failed=$((failed + 1))
            repro+=("seed $s: tests/chaos/chaos.sh --seed $s --nodes $n --duration $DURATION --pmesh $PMESH --lincheck $LINCHECK $EXTRA")
            ;;
    esac
done
echo "chaos total: $runs schedules of ${DURATION}s, $failed failed; $ops operations checked ($okops ok, $unknown unknown outcome), $faults faults injected, $((SECONDS - start))s wall"
for r in "${repro[@]}"; do echo "reproduce $r"; done
[ $failed -eq 0 ]
