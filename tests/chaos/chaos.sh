#!/bin/bash
# chaos.sh: one seeded chaos schedule against real pmesh processes.
#
#   chaos.sh --seed S [--nodes 3|5] [--duration SECS] [--clients C]
#            [--keys K] [--pmesh PATH] [--lincheck PATH] [--out DIR]
#            [--stale-reads]
#
# N pmesh voters, each in its own network namespace on a private bridge
# (netns.sh), C clients running `set` and `get --consistent` on K keys
# through the nodes' control sockets (unix sockets live in the file system,
# so the clients run in the root namespace and reach any node), and a
# nemesis that follows a schedule drawn from the seed: kill -9 and restart,
# partitions (minority/majority, leader isolated, bridge, one-way), SIGSTOP
# pauses, packet loss and slow links. Every operation is recorded with its
# invocation and completion times (microseconds) and outcome.
#
# After the run: heal, restart what is down, then check that
#   - every node accepts a new write (the mesh is live again);
#   - all nodes reach the same applied index and the same FSM state hash,
#     and each node's replay of its log gives its live hash;
#   - every acknowledged set is in every node's history of its key;
#   - the client history is linearizable (chaos-lincheck).
# --stale-reads makes the clients read each node's local state (plain `get`,
# not --consistent): a deliberate bug, to show that the checker catches the
# stale reads a partitioned follower serves (docs/reliability.md).
# Exit 0 if all hold. The last lines are a summary and, on failure, the
# command that reruns the same schedule. Needs root (namespaces, nft).
# Cleans up its namespaces, processes and temporary directory on any exit.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SEED=1 NODES=3 DURATION=60 CLIENTS=4 KEYS=3 OUT= READ_FLAG=--consistent
PMESH=${PMESH:-build/pmesh}
LINCHECK=${LINCHECK:-build/tests/chaos-lincheck}
while [ $# -gt 0 ]; do
    case $1 in
        --seed) SEED=$2 ;;
        --nodes) NODES=$2 ;;
        --duration) DURATION=$2 ;;
        --clients) CLIENTS=$2 ;;
        --keys) KEYS=$2 ;;
        --pmesh) PMESH=$2 ;;
        --lincheck) LINCHECK=$2 ;;
        --out) OUT=$2 ;;
        --stale-reads) READ_FLAG=; shift; continue ;;
        *) echo "chaos.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift 2 || { echo "chaos.sh: $1 needs a value" >&2; exit 2; }
done
case $PMESH in /*) ;; *) PMESH=$PWD/$PMESH ;; esac
case $LINCHECK in /*) ;; *) LINCHECK=$PWD/$LINCHECK ;; esac
REPRO="tests/chaos/chaos.sh --seed $SEED --nodes $NODES --duration $DURATION --clients $CLIENTS --keys $KEYS --pmesh ${PMESH#$PWD/} --lincheck ${LINCHECK#$PWD/}"
[ -n "$READ_FLAG" ] || REPRO="$REPRO --stale-reads"
for x in "$PMESH" "$LINCHECK"; do
    [ -x "$x" ] || { echo "chaos.sh: no executable $x" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "chaos.sh: needs root (network namespaces)" >&2; exit 2; }
command -v nft >/dev/null || { echo "chaos.sh: needs nft (make deps)" >&2; exit 2; }

# Names unique to this run, so that runs never touch each other.
NS_PREFIX=pmc$$
. "$HERE/netns.sh"

T=$(mktemp -d /tmp/pmesh-chaos-XXXXXX)
declare -A PID=()      # node index -> pmesh pid while it runs
declare -a BG=()       # clients and nemesis
FAILED=0
START_US=0

log() { echo "[$(date +%H:%M:%S.%N | cut -c1-12)] chaos seed $SEED: $*"; }
now_us() { echo "${EPOCHREALTIME/./}"; }

cleanup() {
    local rc=$?
    local p
    # Any exit without a verdict (a signal, a shell error) still says how
    # to rerun this schedule.
    if [ $rc -ne 0 ] && [ ! -s "$T/summary" ]; then
        echo "chaos: seed $SEED nodes $NODES duration ${DURATION}s: FAIL (exit $rc)" |
            tee "$T/summary"
        echo "reproduce: $REPRO"
    fi
    for p in "${BG[@]}"; do kill -9 "$p" 2>/dev/null; done
    for p in "${PID[@]}"; do kill -CONT "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    net_down
    if [ -n "$OUT" ]; then
        mkdir -p "$OUT"
        cp "$T"/history "$T"/nemesis.log "$T"/summary "$OUT"/ 2>/dev/null
        if [ $rc -ne 0 ]; then
            for i in $(seq 1 "$NODES"); do
                cp "$T/n$i/pmesh.log" "$OUT/n$i.pmesh.log" 2>/dev/null
                cp "$T/n$i.out" "$OUT/n$i.out" 2>/dev/null
            done
        fi
    fi
    rm -rf "$T"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
    log "FAIL: $*"
    local i
    for i in $(seq 1 "$NODES"); do
        echo "---- n$i pmesh.log (last 15 lines)"
        tail -n 15 "$T/n$i/pmesh.log" 2>/dev/null
        tail -n 5 "$T/n$i.out" 2>/dev/null
    done
    echo "chaos: seed $SEED nodes $NODES duration ${DURATION}s: FAIL ($*)" | tee "$T/summary"
    echo "reproduce: $REPRO"
    exit 1
}

pm() { local i=$1; shift; "$PMESH" --home "$T/n$i" "$@"; }

flags() {
    echo --name "n$1" --listen "$(node_ip "$1"):7000" \
        --advertise "$(node_ip "$1"):7000" --nats-host "$(node_ip "$1")" \
        --nats-port 4222 --yes
}

start_node() {
    local i=$1
    ip netns exec "$(node_ns "$i")" "$PMESH" --home "$T/n$i" start \
        >>"$T/n$i.out" 2>&1 &
    PID[$i]=$!
}

# retry SECONDS CMD...: until CMD succeeds, every 0.2 s.
retry() {
    local end=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $end ] && return 1
        sleep 0.2
    done
}

voters_are() {
    [ "$(pm 1 members --json 2>/dev/null |
        jq '[.members[] | select(.role=="voter")] | length')" = "$1" ]
}

# --- set up the mesh --------------------------------------------------------
log "work directory $T, namespaces $NS_PREFIX-*"
net_up "$NODES" || fail "could not create the network namespaces"
SEED_URL=$(ip netns exec "$(node_ns 1)" "$PMESH" --home "$T/n1" setup seed \
    $(flags 1) 2>"$T/setup.err") || fail "setup seed: $(cat "$T/setup.err")"
SEED_URL=$(echo "$SEED_URL" | grep -o 'pmtp://[^ ]*' | head -n1)
start_node 1
retry 10 pm 1 status || fail "n1 does not answer"
for i in $(seq 2 "$NODES"); do
    ip netns exec "$(node_ns "$i")" "$PMESH" --home "$T/n$i" setup join \
        "$SEED_URL" $(flags "$i") >/dev/null 2>"$T/setup.err" ||
        fail "setup join n$i: $(cat "$T/setup.err")"
    start_node "$i"
    retry 10 pm "$i" status || fail "n$i does not answer"
done
retry 30 voters_are "$NODES" || fail "$NODES voters not reached"
log "mesh of $NODES voters up"

# --- clients ------------------------------------------------------------------
# One line per operation (lincheck.h): PROC OP KEY VALUE INVOKE RETURN STATUS.
# A set that did not answer ok may have taken effect (the CLI retries with
# the same request id inside its timeout, and a killed node may have
# forwarded it): unknown ("info"), except rejected input (exit 2 or 5).
# A read that did not answer ok tells nothing ("info", ignored).
client() {
    local c=$1 seq=0 i k v t0 t1 rc out st
    RANDOM=$((SEED * 1000 + c))
    while [ ! -e "$T/stop" ]; do
        i=$((RANDOM % NODES + 1))
        k=k$((RANDOM % KEYS))
        if [ $((RANDOM % 2)) = 0 ]; then
            seq=$((seq + 1))
            v=c${c}s$seq
            t0=$(now_us)
            out=$(timeout -s KILL 15 "$PMESH" --home "$T/n$i" set --timeout 5 "$k" "$v" \
                2>>"$T/c$c.err")
            rc=$?
            t1=$(now_us)
            case $rc in 0) st=ok ;; 2|5) st=fail ;; *) st=info ;; esac
            echo "c$c w $k $v $t0 $t1 $st" >>"$T/hist.$c"
            # The log index it was acknowledged at (set prints it), for
            # the history check below.
            [ $st = ok ] && echo "$k $v $out" >>"$T/idx.$c"
        else
            t0=$(now_us)
            out=$(timeout -s KILL 15 "$PMESH" --home "$T/n$i" get $READ_FLAG \
                --timeout 5 "$k" 2>"$T/c$c.gerr")
            rc=$?
            t1=$(now_us)
            st=info
            if [ $rc = 0 ]; then
                st=ok
            elif [ $rc = 1 ] && grep -q 'not found' "$T/c$c.gerr"; then
                st=ok out=-
            fi
            [ -n "$out" ] || out=-
            case $out in *[[:space:]]*) out=BAD_READ ;; esac
            echo "c$c r $k $out $t0 $t1 $st" >>"$T/hist.$c"
        fi
    done
}

# --- nemesis --------------------------------------------------------------------
# The schedule comes from RANDOM seeded with SEED and nothing else, so a seed
# always draws the same faults in the same order with the same durations;
# only "the leader" is resolved at run time.
nem() { echo "$(( ($(now_us) - START_US) / 1000 )) $*" >>"$T/nemesis.log"; }

leader_index() {
    local i s
    for i in $(seq 1 "$NODES"); do
        s=$(timeout 3 "$PMESH" --home "$T/n$i" status --json --timeout 1 2>/dev/null |
            jq -r .state 2>/dev/null)
        [ "$s" = leader ] && { echo "$i"; return 0; }
    done
    echo $((RANDOM % NODES + 1))   # no leader known: a random node
}

# pick R: a node index, the leader when R is even, else node R % NODES + 1.
# (R is drawn by the caller: RANDOM in a $(...) subshell would not advance
# the nemesis's own sequence.)
pick() {
    if [ $(($1 % 2)) = 0 ]; then leader_index; else echo $(($1 % NODES + 1)); fi
}

# shuffled node list
shuffled() { seq 1 "$NODES" | awk -v s="$1" 'BEGIN{srand(s)} {print rand() "\t" $0}' |
    sort -n | cut -f2 | tr '\n' ' '; }

sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

nemesis() {
    RANDOM=$SEED
    local end_us=$((START_US + DURATION * 1000000 - 3000000))
    local kind hold gap i j a b m order minority half x
    while [ "$(now_us)" -lt "$end_us" ]; do
        gap=$((1000 + RANDOM % 2000))
        sleep_ms "$gap"
        hold=$((1500 + RANDOM % 4500))
        kind=$((RANDOM % 10))
        case $kind in
        0|1)  # kill -9 one node (the leader half the time), restart later
            i=$(pick $RANDOM)
            nem "kill n$i hold ${hold}ms"
            kill -9 "${PID[$i]}" 2>/dev/null; wait "${PID[$i]}" 2>/dev/null
            sleep_ms "$hold"
            start_node "$i"; nem "restart n$i"
            ;;
        2)    # kill -9 a majority at once: every acked write must survive
            order=$(shuffled $RANDOM)
            half=$((NODES / 2 + 1)); x=""
            for i in $order; do
                [ "$half" -gt 0 ] || break
                x="$x $i"; half=$((half - 1))
            done
            nem "kill-majority n{$x } hold ${hold}ms"
            for i in $x; do kill -9 "${PID[$i]}" 2>/dev/null; done
            for i in $x; do wait "${PID[$i]}" 2>/dev/null; done
            sleep_ms "$hold"
            for i in $x; do start_node "$i"; done; nem "restart n{$x }"
            ;;
        3)    # minority / majority partition
            order=$(shuffled $RANDOM)
            minority=$(( 1 + RANDOM % ((NODES - 1) / 2) ))
            a=$(echo $order | cut -d' ' -f1-"$minority")
            b=$(echo $order | cut -d' ' -f$((minority + 1))-)
            nem "partition {$a} | {$b} hold ${hold}ms"
            net_split "$a" "$b"; sleep_ms "$hold"; net_heal "$NODES"; nem heal
            ;;
        4)    # the leader alone on one side
            i=$(leader_index); b=""
            for j in $(seq 1 "$NODES"); do [ "$j" != "$i" ] && b="$b $j"; done
            nem "isolate-leader n$i hold ${hold}ms"
            net_split "$i" "$b"; sleep_ms "$hold"; net_heal "$NODES"; nem heal
            ;;
        5)    # bridge: two halves that only a middle node connects
            order=$(shuffled $RANDOM)
            m=$(echo $order | cut -d' ' -f1)
            half=$(( (NODES - 1) / 2 ))
            a=$(echo $order | cut -d' ' -f2-$((1 + half)))
            b=$(echo $order | cut -d' ' -f$((2 + half))-)
            nem "bridge {$a} - n$m - {$b} hold ${hold}ms"
            net_split "$a" "$b"; sleep_ms "$hold"; net_heal "$NODES"; nem heal
            ;;
        6)    # one-way: a node's packets reach nobody, it hears everyone
            i=$(pick $RANDOM)
            nem "oneway n$i-> hold ${hold}ms"
            for j in $(seq 1 "$NODES"); do [ "$j" != "$i" ] && net_cut "$i" "$j"; done
            sleep_ms "$hold"; net_heal "$NODES"; nem heal
            ;;
        7)    # SIGSTOP pause
            i=$(pick $RANDOM)
            nem "pause n$i hold ${hold}ms"
            kill -STOP "${PID[$i]}" 2>/dev/null
            sleep_ms "$hold"
            kill -CONT "${PID[$i]}" 2>/dev/null; nem "resume n$i"
            ;;
        8)    # packet loss on every link
            x=$((10 + RANDOM % 30))
            nem "loss ${x}% all hold ${hold}ms"
            for j in $(seq 1 "$NODES"); do net_loss "$j" "$x"; done
            sleep_ms "$hold"; net_heal "$NODES"; nem heal
            ;;
        9)    # slow links (rate limit: queueing delay and drops)
            x=$((64 + RANDOM % 192))
            nem "slow ${x}kbit all hold ${hold}ms"
            for j in $(seq 1 "$NODES"); do net_slow "$j" "$x"; done
            sleep_ms "$hold"; net_heal "$NODES"; nem heal
            ;;
        esac
    done
    nem end
}

# --- run ------------------------------------------------------------------------
START_US=$(now_us)
: >"$T/nemesis.log"
for c in $(seq 1 "$CLIENTS"); do
    client "$c" &
    BG+=($!)
done
# The nemesis runs in this shell (it owns PID[]); clients in the background.
nemesis
touch "$T/stop"
for p in "${BG[@]}"; do wait "$p" 2>/dev/null; done
BG=()
cat "$T"/hist.* >"$T/history" 2>/dev/null
FAULTS=$(grep -cE ' (kill|kill-majority|partition|isolate-leader|bridge|oneway|pause|loss|slow) ' "$T/nemesis.log")
log "run over: $(wc -l <"$T/history") operations, $FAULTS faults"

# --- heal and check ----------------------------------------------------------------
net_heal "$NODES"
for i in $(seq 1 "$NODES"); do
    kill -CONT "${PID[$i]}" 2>/dev/null
    if ! kill -0 "${PID[$i]}" 2>/dev/null; then
        wait "${PID[$i]}" 2>/dev/null
        rc=$?
        fail "n$i (pid ${PID[$i]}) died on its own (exit $rc)"
    fi
done
# Nodes' output and the clients' stderr (the CLI may be a sanitizer build).
if grep -l -E "AddressSanitizer|LeakSanitizer|runtime error:|Assertion" \
        "$T"/n*.out "$T"/c*.err "$T"/c*.gerr 2>/dev/null; then
    fail "sanitizer or assertion report in node or client output"
fi

# The mesh accepts new writes, through every node.
for i in $(seq 1 "$NODES"); do
    retry 40 pm "$i" set --timeout 5 "chaos.final.n$i" ok ||
        fail "n$i: no write accepted 40 s after the heal"
done

# Same applied index and state hash everywhere; replay matches live.
converged() {
    local i h hashes="" idx="" r
    for i in $(seq 1 "$NODES"); do
        r=$(pm "$i" replay --json 2>/dev/null) || return 1
        h=$(echo "$r" | jq -r '.live_hash + " " + .state_hash + " " + (.index|tostring)')
        set -- $h
        [ "$1" = "$2" ] || { echo "n$i replay $2 != live $1" >"$T/conv"; return 1; }
        hashes="$hashes $1" idx="$idx $3"
    done
    echo "hashes:$hashes indexes:$idx" >"$T/conv"
    [ "$(echo $hashes | tr ' ' '\n' | sort -u | wc -l)" = 1 ] &&
        [ "$(echo $idx | tr ' ' '\n' | sort -u | wc -l)" = 1 ]
}
retry 30 converged || fail "nodes did not converge: $(cat "$T/conv")"
log "converged: $(cat "$T/conv" | cut -c1-60)..."

# Every acknowledged set is in every node's history of its key: every one
# acknowledged at a log index above the node's compaction base (history
# covers the log since its base; PMESH_COMPACT_EVERY makes that matter).
# The base is read after the history, so a compaction in between only
# narrows what is checked.
cat "$T"/idx.* >"$T/acked-index" 2>/dev/null
[ "$(awk '$3 ~ /^[0-9]+$/' "$T/acked-index" | wc -l)" = \
  "$(awk '$2=="w" && $7=="ok"' "$T/history" | wc -l)" ] ||
    fail "an acknowledged set printed no log index"
checked=0
for k in $(seq 0 $((KEYS - 1))); do
    for i in $(seq 1 "$NODES"); do
        pm "$i" history "k$k" --json 2>/dev/null |
            jq -r '.records[] | select(.op=="set") | .new' | sort -u >"$T/hist.n$i.k$k"
        base=$(pm "$i" status --json 2>/dev/null | jq -r '.first_index // 1')
        base=$((base - 1))
        awk -v k="k$k" -v b="$base" '$1==k && $3+0>b {print $2}' "$T/acked-index" |
            sort -u >"$T/acked.n$i.k$k"
        missing=$(comm -23 "$T/acked.n$i.k$k" "$T/hist.n$i.k$k" | head -n 5 | tr '\n' ' ')
        [ -z "$missing" ] || fail "n$i lost acknowledged sets of k$k: $missing"
        checked=$((checked + $(wc -l <"$T/acked.n$i.k$k")))
    done
done
log "acknowledged sets found in the nodes' histories: $checked (above each node's compaction base)"

# Linearizability of the client history.
"$LINCHECK" "$T/history" >"$T/lincheck.out" 2>&1
lrc=$?
tail -n 1 "$T/lincheck.out"
if [ $lrc -ne 0 ]; then
    head -n 40 "$T/lincheck.out"
    fail "lincheck exit $lrc"
fi

OPS=$(wc -l <"$T/history")
OK=$(awk '$7=="ok"' "$T/history" | wc -l)
UNK=$(awk '$7=="info"' "$T/history" | wc -l)
KINDS=$(awk 'NR>0 {print $2}' "$T/nemesis.log" | grep -vE '^(heal|restart|resume|end)$' |
    sort | uniq -c | awk '{printf "%s%s=%s", (NR>1?" ":""), $2, $1}')
echo "chaos: seed $SEED nodes $NODES duration ${DURATION}s: OK ops=$OPS ok=$OK unknown=$UNK faults=$FAULTS ($KINDS)" |
    tee "$T/summary"
exit 0
