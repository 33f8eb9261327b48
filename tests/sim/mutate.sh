#!/bin/bash
# mutate.sh: show that the simulator catches broken safety rules.
#
# For each mutation: copy src/raft and src/base to a private directory under
# /tmp, break ONE rule there (exact text replacements that must each match
# once), build pmesh-sim against the copy, and run a seed range with
# --no-liveness (safety violations only). A mutant is "caught" when a seed
# fails. The unmutated copy runs first as the baseline. src/ is never
# modified: the sources (src/raft, src/base, tests/sim) are taken from the
# commit REV (default HEAD) with git archive, so work in progress in the
# tree cannot leak into some mutants and not others. Results are recorded
# in tests/sim/MUTATIONS.md.
#
#   tests/sim/mutate.sh                       the two tiers `make check-sim` runs
#   tests/sim/mutate.sh SEEDS [pmesh-sim flags]  one custom tier
#   e.g. tests/sim/mutate.sh 1-2000 --nodes 3-7
#   ONLY="commit-any-term" tests/sim/mutate.sh     (a subset, by name)
set -u
cd "$(dirname "$0")/../.."
# Keep in step with check-sim in mk/sim.mk.
if [ $# -gt 0 ]; then
    tiers=("$*")
else
    tiers=("1-2000 --steps 2000" "1-1500 --steps 20000 --nodes 3-5")
fi
work=$(mktemp -d /tmp/pmesh-mut.XXXXXX)
trap 'rm -rf "$work"' EXIT
CFLAGS="-std=c11 -O2 -D_GNU_SOURCE -Wall -Wextra"
LIBS="-llmdb -lmsgpackc -lev -lcjson -lsodium -lisal -lm -lpthread"

# name @ file (under src/raft) @ exact text @ replacement [@ file @ text @ repl]
mutations=(
"commit-any-term@replication.c@if (raft__log_term(&r->log, n) != r->term)@if (raft__log_term(&r->log, n) == 0)"
"stale-term-votes@election.c@} else if (r->role != RAFT_CANDIDATE || m->term != r->term) {@} else if (r->role != RAFT_CANDIDATE) {@step.c@        return 0; /* stale: ignore */@        if (m->type == RAFT_MSG_VOTE_RESP) return raft__recv_vote_resp(r, m); return 0;"
"vote-any-log@election.c@return m->last_term > lt ||@return 1 ||"
"two-votes-per-term@election.c@(r->vote == 0 || r->vote == m->from)@(1)"
"leader-counts-unpersisted@replication.c@if (r->persisted >= n)@if (1)@replication.c@cand[nc++] = r->persisted;@cand[nc++] = raft__log_last(&r->log);"
"read-before-noop-commits@read_index.c@return r->commit >= r->term_start && r->term_start != 0;@return 1;"
"read-without-quorum-round@read_index.c@int alone = raft__self_quorum_with(r, NULL, 0);@int alone = 1;"
"follower-commit-unclamped@replication.c@advance_commit_follower(r, m->commit < match ? m->commit : match);@advance_commit_follower(r, m->commit);"
)

rev=$(git rev-parse "${REV:-HEAD}") || exit 1 # pinned: others may commit meanwhile
fetch() { # dir: a pristine copy of the sources at $rev
    mkdir -p "$1" && git archive "$rev" src/raft src/base tests/sim | tar -x -C "$1"
}

build() { # dir -> builds dir/pmesh-sim
    local d=$1
    cc $CFLAGS -I"$d/src" -o "$d/pmesh-sim" "$d"/tests/sim/*.c "$d"/src/raft/*.c \
        "$d"/src/base/*.c $LIBS 2>"$d/build.log"
}

run() { # dir label [word-if-failing word-if-clean]
    local d=$1 label=$2 out first n=0 t tn
    local -a a
    for t in "${tiers[@]}"; do
        read -r -a a <<<"$t"
        out=$("$d/pmesh-sim" --seeds "${a[@]}" --jobs 2 --no-liveness --keep-going -q 2>&1)
        tn=$(grep -c '^FAIL' <<<"$out")
        if [ "$tn" -gt 0 ] && [ "$n" = 0 ]; then
            first="[$t] $(grep -m1 '^FAIL' <<<"$out")"
        fi
        n=$((n + tn))
    done
    if [ "$n" -gt 0 ]; then
        printf '%-26s %s %4d failing seeds; first: %s\n' "$label" "${3:-CAUGHT}" "$n" "$first"
    else
        printf '%-26s %s (no seed failed)\n' "$label" "${4:-MISSED}"
    fi
}

replace() { # file from to: exactly one occurrence
    python3 -c '
import sys
p, a, b = sys.argv[1:4]
s = open(p).read()
if s.count(a) != 1:
    sys.exit(1)
open(p, "w").write(s.replace(a, b))
' "$1" "$2" "$3"
}

echo "sources: $rev ($(git rev-parse --short "$rev"))"
fetch "$work/base"
if ! build "$work/base"; then
    echo "baseline build failed:"; cat "$work/base/build.log"; exit 1
fi
run "$work/base" "baseline (no mutation)" "FAILS " "clean "

status=0
for m in "${mutations[@]}"; do
    IFS='@' read -r -a f <<<"$m"
    name=${f[0]}
    if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then
        continue
    fi
    d="$work/$name"
    fetch "$d"
    ok=1
    for ((i = 1; i + 2 < ${#f[@]}; i += 3)); do
        if ! replace "$d/src/raft/${f[i]}" "${f[i+1]}" "${f[i+2]}"; then
            printf '%-26s SKIPPED (text not found once in %s; core changed?)\n' "$name" "${f[i]}"
            ok=0
        fi
    done
    if [ $ok = 0 ]; then
        status=1
        continue
    fi
    if ! build "$d"; then
        printf '%-26s SKIPPED (mutant does not build, see below)\n' "$name"
        head -5 "$d/build.log"
        status=1
        continue
    fi
    run "$d" "$name"
done
exit $status
