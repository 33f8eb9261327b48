#!/bin/bash
# t_grow: a mesh grows from one server to three, and every step is proven
# on the real nats-servers the nodes supervise:
#  - one seed: NATS and JetStream up (a stream takes a message);
#  - a second server joins: it attaches as a leaf node of the seed without
#    restarting the seed's server, and messages flow both ways; JetStream is
#    reachable from it (domain "mesh");
#  - killing the non-seed leaves the seed's NATS and JetStream serving;
#  - a third server joins: a 3-server cluster (2 routes each) with a
#    JetStream meta leader of size 3, nobody restarted by hand;
#  - killing a nats-server under a running node: the node starts it again;
#  - killing any one whole server (node and its nats-server; each in turn,
#    the meta leader first) leaves a meta leader and a serving R3 stream;
#  - status shows the NATS health; nats-urls lists the servers (also in a
#    client home); `start --no-nats` runs no nats-server; a clean stop
#    leaves no nats-server behind.
. "$(dirname "$0")/lib.sh"
setup_test grow

# --- one seed ---------------------------------------------------------------
setup_node a seed
start a
wait_for 10 "a's nats-server ready" mon a /varz server_name
"$NATSPROBE" js "$(caddr a)" ONE 1 10000 || fail "JetStream on the lone seed"
[ -s "$T/a/nats.log" ] || fail "no nats.log in a's home"
pa=$(nats_pid a)
[ -n "$pa" ] || fail "no nats.pid in a's home"
# Nothing secret on its command line: just the config path.
secret=${SEED_URL#pmtp://}
secret=${secret%%@*}
args=$(tr '\0' ' ' </proc/"$pa"/cmdline)
[ "$args" = "nats-server -c $T/a/nats.conf " ] ||
    fail "unexpected nats-server argv: $args"
grep -q "$secret" /proc/"$pa"/cmdline && fail "secret in nats-server argv"
wait_for 5 "status: nats ready" eval '[ "$(status_nats a state)" = ready ]'
wait_for 5 "status: jetstream on" eval '[ "$(status_nats a jetstream)" = true ]'
log "seed up: nats pid $pa, JetStream serving ($((SECONDS - T0)) s)"

# --- a second server: a leaf node of the seed ------------------------------
setup_node b join
start b
wait_for 15 "b's leaf connection to a" mon_is a /varz leafnodes 1
relay b a grow.ab || fail "message b -> a"
relay a b grow.ba || fail "message a -> b"
"$NATSPROBE" js "$(caddr b)" TWO 1 10000 mesh ||
    fail "JetStream of the mesh through b (domain mesh)"
[ "$(nats_pid a)" = "$pa" ] || fail "a's nats-server restarted when b joined"
log "two servers: leaf connected, messages both ways ($((SECONDS - T0)) s)"

# --- the non-seed dies: the seed's NATS and JetStream keep serving ---------
pb=$(nats_pid b)
kill9 b
wait_for 5 "b's nats-server died with its node" gone "$pb"
wait_for 10 "a lost its leaf" mon_is a /varz leafnodes 0
"$NATSPROBE" js "$(caddr a)" THREE 1 10000 ||
    fail "seed's JetStream after the non-seed died"
relay a a grow.alone 5000 || fail "seed's NATS after the non-seed died"
start b
wait_for 15 "b's leaf back" mon_is a /varz leafnodes 1

# --- a third server: a cluster of three with a meta leader -----------------
setup_node c join
start c
wait_for 30 "3 routes x 2" routes_are 2 a b c
wait_for 20 "meta leader on all three" meta_leader_among "a b c" a b c
# A server that just restarted into the cluster (the seed was standalone)
# may report its meta group's size a moment after it agrees on the leader.
for n in a b c; do
    wait_for 10 "$n: meta group of 3 (at first it reported $(mon "$n" /jsz meta_cluster.cluster_size))" \
        mon_is "$n" /jsz meta_cluster.cluster_size 3
done
relay c a grow.ca || fail "message c -> a"
relay a b grow.ab3 || fail "message a -> b in the cluster"
"$NATSPROBE" js "$(caddr c)" FOUR 3 15000 || fail "R3 stream in the cluster"
wait_for 5 "status: routes" eval '[ "$(status_nats a routes)" = 2 ]'
# (The servers restart one after another: a meta leader seen once may
# step down for the last restart, so wait for the line itself.)
wait_for 15 "status shows the meta leader" eval \
    'pm a status | grep -q "jetstream meta leader [abc] (group of 3)"'
log "three servers: routes, meta leader, R3 stream ($((SECONDS - T0)) s)"

# --- nats-server killed under a running node: the node restarts it ---------
pc=$(nats_pid c)
kill -9 "$pc"
wait_for 15 "c's node started a new nats-server" restarted c "$pc"
wait_for 20 "routes back" routes_are 2 a b c
# Let c's JetStream rejoin the meta group before the next fault: the case
# below is one server lost, not two faults at once.
wait_for 20 "meta leader after c's restart" meta_leader_among "a b c" a b c
"$NATSPROBE" js "$(caddr c)" AGAIN 1 15000 || fail "JetStream via c after its restart"
wait_for 5 "status counts the crash" eval \
    '[ "$(status_nats c crashes)" -ge 1 ]'
log "nats-server restarted under c ($((SECONDS - T0)) s)"

# --- any one server dies: the other two keep a meta leader -----------------
# Each in turn, the meta leader first (the hardest case); the victim comes
# back and catches up before the next one goes, so each case is one fault.
lead=$(mon a /jsz meta_cluster.leader)
for victim in $lead $(echo a b c | tr ' ' '\n' | grep -vx "$lead"); do
    rest=$(echo a b c | tr ' ' '\n' | grep -vx "$victim" | tr '\n' ' ')
    # An R3 stream made while all three run (so every replica is current)
    # must keep taking messages with 2 of its 3 replicas. (Not a stream made
    # after the loss: the meta leader may still count the dead server as a
    # peer for a while and place it there.)
    "$NATSPROBE" js "$(caddr a)" "LOSE_$victim" 3 20000 ||
        fail "R3 stream before losing $victim"
    pv=$(nats_pid "$victim")
    kill9 "$victim"
    wait_for 5 "$victim's nats-server died with its node" gone "$pv"
    wait_for 30 "meta leader among $rest" meta_leader_among "$rest" $rest
    "$NATSPROBE" js "$(caddr ${rest%% *})" "LOSE_$victim" 3 30000 ||
        fail "the R3 stream after losing $victim"
    log "killed $victim: meta leader $(mon ${rest%% *} /jsz meta_cluster.leader) ($((SECONDS - T0)) s)"
    start "$victim"
    wait_for 20 "routes back after $victim restarted" routes_are 2 a b c
    wait_for 30 "$victim caught up in the meta group" meta_current a b c
done

# --- clients learn the URLs -------------------------------------------------
urls=$(pm a nats-urls --json | "$NATSPROBE" json connect)
for n in a b c; do
    case ,$urls, in *",nats://$(caddr $n),"*) ;; *) fail "nats-urls lacks $n: $urls" ;; esac
done
setup_client() { pm cl setup client "$SEED_URL" --yes >/dev/null; }
setup_client || fail "setup client"
curls=$(pm cl nats-urls --json | "$NATSPROBE" json connect)
[ "$curls" = "$urls" ] || fail "client nats-urls '$curls' != '$urls'"
pm cl nats-urls | grep -q "^connect: nats://" || fail "nats-urls output"

# --- --no-nats: the node runs, nats-server does not -------------------------
stop c
[ -z "$(stray_servers c/)" ] || fail "c's nats-server outlived its node"
start c --no-nats
wait_for 5 "status: not supervised" eval '[ "$(status_nats c supervised)" = false ]'
sleep 0.5
[ -f "$T/c/nats.pid" ] && fail "--no-nats wrote nats.pid"
mon c /varz server_name && fail "--no-nats: something serves c's monitoring port"
pass
