# netns.sh: the chaos harness's private network (sourced by chaos.sh).
#
# One network namespace per node ($NS_PREFIX-n1 ..), each with one veth
# "eth0" holding 10.213.0.(10+i)/24, plugged into a bridge "br0" that lives
# in a namespace of its own ($NS_PREFIX-br). The root namespace gets no
# interface, address or rule: nothing here can reach anything outside.
#
# Faults are applied inside the node namespaces:
#   - partitions and one-way cuts: nftables rules in a table "inet chaos"
#     (input/output chains dropping by peer address);
#   - packet loss: an nftables "numgen random" drop rule;
#   - a slow link: a tbf rate limit on eth0 (queueing delay).
# netem (tc delay/loss) would be the usual tool, but this kernel is built
# without sch_netem and has no loadable modules; see docs/reliability.md.

CHAOS_NET=10.213.0

node_ns() { echo "$NS_PREFIX-n$1"; }
node_ip() { echo "$CHAOS_NET.$((10 + $1))"; }

# net_up N: create the bridge namespace and N node namespaces.
net_up() {
    local n=$1 i ns
    ip netns add "$NS_PREFIX-br" || return 1
    ip -n "$NS_PREFIX-br" link set lo up
    ip -n "$NS_PREFIX-br" link add br0 type bridge || return 1
    ip -n "$NS_PREFIX-br" link set br0 up
    for i in $(seq 1 "$n"); do
        ns=$(node_ns "$i")
        ip netns add "$ns" || return 1
        ip -n "$ns" link set lo up
        ip -n "$NS_PREFIX-br" link add "v$i" type veth peer name eth0 netns "$ns" ||
            return 1
        ip -n "$NS_PREFIX-br" link set "v$i" master br0 up
        ip -n "$ns" addr add "$(node_ip "$i")/24" dev eth0
        ip -n "$ns" link set eth0 up
        nft_ns "$i" -f - <<EOF || return 1
table inet chaos {
    chain input { type filter hook input priority 0; policy accept; }
    chain output { type filter hook output priority 0; policy accept; }
}
EOF
    done
}

nft_ns() { local i=$1; shift; ip netns exec "$(node_ns "$i")" nft "$@"; }

# net_down: kill what is left in our namespaces, then delete them.
net_down() {
    local ns p
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$NS_PREFIX-"); do
        for p in $(ip netns pids "$ns" 2>/dev/null); do
            kill -CONT "$p" 2>/dev/null
            kill -9 "$p" 2>/dev/null
        done
        ip netns del "$ns" 2>/dev/null
    done
}

# net_heal N: remove every partition, loss and rate limit.
net_heal() {
    local i
    for i in $(seq 1 "$1"); do
        nft_ns "$i" flush chain inet chaos input 2>/dev/null
        nft_ns "$i" flush chain inet chaos output 2>/dev/null
        ip -n "$(node_ns "$i")" link show eth0 >/dev/null 2>&1 &&
            tc -n "$(node_ns "$i")" qdisc del dev eth0 root 2>/dev/null
    done
    return 0
}

# net_cut FROM TO: packets from node FROM to node TO are dropped (one way),
# on arrival at TO (so FROM's own view of its link stays up).
net_cut() {
    nft_ns "$2" add rule inet chaos input ip saddr "$(node_ip "$1")" drop
}

# net_split "A..." "B...": no traffic between the two groups.
net_split() {
    local a b
    for a in $1; do
        for b in $2; do
            net_cut "$a" "$b"
            net_cut "$b" "$a"
        done
    done
}

# net_loss I PCT: node I drops PCT% of its incoming and outgoing packets.
net_loss() {
    nft_ns "$1" add rule inet chaos input numgen random mod 100 "<" "$2" drop
    nft_ns "$1" add rule inet chaos output numgen random mod 100 "<" "$2" drop
}

# net_slow I KBIT: node I's outgoing link limited to KBIT kbit/s (packets
# queue up to 400 ms, then drop).
net_slow() {
    tc -n "$(node_ns "$1")" qdisc replace dev eth0 root tbf rate "${2}kbit" \
        burst 4kb latency 400ms
}
