#!/bin/bash
# run.sh PMESH TABLE: run every command line of TABLE against the pmesh
# binary PMESH and check its exit code and output.
#
# TABLE lines (blank lines and '#' comments skipped), tab-separated:
#   EXIT  STREAM  SUBSTRING  ARGS
# EXIT is the expected exit code. STREAM "err": stderr must be exactly one
# line containing SUBSTRING and stdout empty (a failure). STREAM "out":
# stdout must contain SUBSTRING and stderr be empty (a success). ARGS are
# shell words, expanded with $S (a valid secret), $U (a valid seed URL),
# $LONG (a 64-character name), $HOSTS17 (17 host:port), and two homes set up
# once before the table runs: $SEED (a seed, never started) and $CLIENT (a
# client set up with --nats).
#
# Each line runs with stdin from /dev/null (so nothing is interactive), in a
# fresh, empty home given by PMESH_HOME (unless it names --home); no node is
# ever started.
set -u
pmesh=$1 table=$2
[ -x "$pmesh" ] || { echo "run.sh: no executable $pmesh"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/pmesh-cli-args.XXXXXX")
trap 'rm -rf "$work"' EXIT

S=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8
U="pmtp://$S@127.0.0.1:8443"
LONG=$(printf 'n%.0s' $(seq 64))
HOSTS17=$(for i in $(seq 17); do printf 'h%d:%d,' "$i" "$((1000 + i))"; done)
HOSTS17=${HOSTS17%,}
SEED="$work/seed" CLIENT="$work/client"
"$pmesh" --home "$SEED" setup seed --yes --name s --listen 127.0.0.1:1 \
    --nats-port 2 </dev/null >/dev/null || { echo "run.sh: setup seed failed"; exit 1; }
"$pmesh" --home "$CLIENT" setup client --nats nats://127.0.0.1:4222 \
    </dev/null >/dev/null || { echo "run.sh: setup client failed"; exit 1; }

n=0 failed=0 lineno=0
while IFS=$'\t' read -r want stream substr args; do
    lineno=$((lineno + 1))
    case "$want" in ''|'#'*) continue ;; esac
    n=$((n + 1))
    home="$work/home$n"
    mkdir -p "$home"
    eval "set -- $args"
    PMESH_HOME="$home" "$pmesh" "$@" </dev/null >"$work/out" 2>"$work/err"
    got=$?
    why=""
    if [ "$got" -ne "$want" ]; then
        why="exit $got, want $want"
    elif [ "$stream" = err ]; then
        if [ -s "$work/out" ]; then
            why="stdout not empty"
        elif [ "$(wc -l <"$work/err")" -ne 1 ]; then
            why="stderr has $(wc -l <"$work/err") lines, want 1"
        elif ! grep -qF -- "$substr" "$work/err"; then
            why="stderr lacks '$substr'"
        elif ! grep -q '^pmesh: ' "$work/err"; then
            why="stderr does not start with 'pmesh: '"
        fi
    else
        if [ -s "$work/err" ]; then
            why="stderr not empty"
        elif ! grep -qF -- "$substr" "$work/out"; then
            why="stdout lacks '$substr'"
        fi
    fi
    if [ -n "$why" ]; then
        failed=$((failed + 1))
        echo "FAIL line $lineno: pmesh $args: $why"
        sed 's/^/    stderr: /' "$work/err" | head -5
        sed 's/^/    stdout: /' "$work/out" | head -5
    else
        echo "ok   pmesh $args  -> $got"
    fi
done <"$table"

echo "$((n - failed)) of $n command lines behaved as expected"
[ "$n" -ge 25 ] || { echo "run.sh: table too short ($n < 25)"; exit 1; }
[ "$failed" -eq 0 ]
