#!/bin/bash
# t_super: two cluster labels and a replica, on the real nats-servers the
# nodes supervise:
#  - three servers in "east" form a cluster; a fourth joins with a new label
#    "west": the east servers restart (a gateway block cannot be reloaded)
#    and the supercluster forms (gateways both ways);
#  - a fifth joins "west": 3 + 2 servers, routes inside each cluster,
#    gateways between them, one JetStream meta group of 5;
#  - a replica attaches as a leaf node and receives messages published in
#    the other cluster; messages cross the gateway both ways;
#  - removing a member drops every route and gateway to it.
. "$(dirname "$0")/lib.sh"
setup_test super

setup_node a seed east
start a
setup_node b join
start b
setup_node c join
start c
wait_for 40 "east: 2 routes each" routes_are 2 a b c
wait_for 20 "east: meta leader" meta_leader_among "a b c" a b c
log "east formed ($((SECONDS - T0)) s)"

# --- a new label: the east servers restart, the supercluster forms --------
declare -A OLD=()
for n in a b c; do OLD[$n]=$(nats_pid "$n"); done
setup_node d join west
start d
for n in a b c; do
    wait_for 30 "$n restarted for the gateway block" restarted "$n" "${OLD[$n]}"
done
wait_for 30 "east -> west gateways" gateways_to west a b c
wait_for 30 "west -> east gateway" gateways_to east d
wait_for 20 "east routes back" routes_are 2 a b c
relay d a super.da 15000 || fail "message west (d) -> east (a)"
log "label west added: east restarted, supercluster formed ($((SECONDS - T0)) s)"

# --- 3 + 2 --------------------------------------------------------------------
setup_node e join west
start e
wait_for 30 "west: 1 route each" routes_are 1 d e
wait_for 30 "gateways 3 + 2" gateways_to west a b c
wait_for 30 "gateways 2 + 3" gateways_to east d e
wait_for 20 "east routes" routes_are 2 a b c
wait_for 40 "one meta group of 5" eval \
    'meta_leader_among "a b c d e" a b c d e && mon_is a /jsz meta_cluster.cluster_size 5'
relay e a super.ea 15000 || fail "message west (e) -> east (a)"
relay a e super.ae 15000 || fail "message east (a) -> west (e)"
"$NATSPROBE" js "$(caddr e)" SUPER 3 20000 || fail "R3 stream in the supercluster"
wait_for 5 "status: gateways" eval \
    '[ "$(pm e status --json | "$NATSPROBE" json nats.gateways)" = 1 ]'
log "3 + 2 supercluster, meta group of 5 ($((SECONDS - T0)) s)"

# --- a replica: a leaf node that hears the whole supercluster --------------
# Restarts are staggered (the meta leader's last, seconds later): the ones
# e's join asked for must be over before the pids are taken.
no_restart_waits() {
    local n
    for n in "$@"; do
        [ "$(status_nats "$n" restart_in_ms)" = 0 ] || return 1
    done
}
wait_for 20 "the restarts for e's join are over" no_restart_waits a b c d e
declare -A BEFORE=()
for n in a b c d e; do BEFORE[$n]=$(nats_pid "$n"); done
setup_node r replica east
start r
wait_for 30 "r's leaf connection" mon_is r /varz leafnodes 1
relay e r super.er 15000 || fail "message west (e) -> replica r"
relay d r super.dr 15000 || fail "message west (d) -> replica r"
relay b r super.br 15000 || fail "message east (b) -> replica r"
relay r d super.rd 15000 || fail "message replica r -> west (d)"
for n in a b c d e; do
    [ "$(nats_pid "$n")" = "${BEFORE[$n]}" ] ||
        fail "$n's nats-server restarted when a replica joined"
done
log "replica r attached as a leaf, hears east and west ($((SECONDS - T0)) s)"

# --- removing a member drops every route and gateway to it -----------------
inbound_west() {
    local n sum=0 k
    for n in a b c; do
        k=$(mon "$n" /gatewayz inbound_gateways.west) || k=0
        sum=$((sum + k))
    done
    echo $sum
}
wait_for 20 "d and e both dial east" eval '[ "$(inbound_west)" = 2 ]'
pe=$(nats_pid e)
pm a remove e >/dev/null || fail "remove e"
wait_for 30 "e stops once removed" eval '! kill -0 ${PIDS[e]} 2>/dev/null'
wait "${PIDS[e]}" 2>/dev/null
unset "PIDS[e]"
wait_for 5 "e's nats-server stopped" gone "$pe"
wait_for 30 "d has no route left" routes_are 0 d
wait_for 30 "only d dials east" eval '[ "$(inbound_west)" = 1 ]'
wait_for 30 "gateways without e" gateways_to west a b c
wait_for 30 "d still reaches east" gateways_to east d
# (The files follow the membership change, held back briefly while the
# JetStream removal is asked for: a route can drop before they change.)
names_e() { grep -q -e ":$((PEER[e] + 2))" -e ":$((PEER[e] + 3))" "$T/$1/nats.conf"; }
for n in a d; do
    wait_for 10 "$n's nats.conf no longer names e" eval "! names_e $n"
done
relay d a super.da2 15000 || fail "message d -> a after the removal"
# Stock nats-server keeps a departed server in the JetStream meta group
# until asked: the remaining voters ask (natsd_js_remove_peer), so the
# group shrinks to the four servers left, everywhere.
for n in a b c d; do
    wait_for 30 "$n: meta group of 4" mon_is "$n" /jsz meta_cluster.cluster_size 4
done
wait_for 30 "a meta leader among the four" meta_leader_among "a b c d" a b c d
log "e removed: routes, gateways and its meta group seat gone ($((SECONDS - T0)) s)"
pass
