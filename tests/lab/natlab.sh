#!/usr/bin/env bash
# The NAT lab: a small internet in network namespaces, for tests and demos.
#
#   natlab.sh up PREFIX           build it (namespaces are named PREFIX-*)
#   natlab.sh up-internet PREFIX  build the "small Internet" (below)
#   natlab.sh down PREFIX         remove every namespace named PREFIX-* (always safe)
#   natlab.sh check               exit 0 if this machine can build it (root, netns, iptables)
#
# Layout of `up` (all addresses exist only inside the namespaces):
#
#   PREFIX-net    a bridge: the "internet", 10.200.0.0/24
#   PREFIX-relay  10.200.0.2   bootstrap node and relay
#   PREFIX-pub    10.200.0.3   publisher
#   PREFIX-r1     10.200.0.11  NAT router, restricted cone: endpoint-independent
#                 mapping (source ports kept) and address-dependent filtering
#                 (inbound allowed from any port of an address the host has sent to)
#   PREFIX-r2     10.200.0.12  NAT router, port-restricted cone: endpoint-independent
#                 mapping, inbound only as replies (Linux conntrack)
#   PREFIX-r3     10.200.0.13  NAT router, symmetric: a random port per mapping
#   PREFIX-h1..3  192.168.N.2 behind rN (default route via 192.168.N.1)
#
# Layout of `up-internet`: the same bridge, and
#
#   PREFIX-dns    10.200.0.53   the lab's DNS server (the test runs dnsmasq there);
#                 every namespace's /etc/netns/NS/resolv.conf names it
#   PREFIX-dht    10.200.0.100-131  32 addresses on one host, for DHT nodes
#                 that Quince did not write (tests/lab/js)
#   PREFIX-r1/h1  full cone (10.200.0.11): every inbound packet goes to the host
#   PREFIX-r2/h2  port-restricted cone (10.200.0.12)
#   PREFIX-r3/h3  symmetric (10.200.0.13)
#   PREFIX-r4/h4  port-restricted cone (10.200.0.14)
#   PREFIX-lan1, PREFIX-lan2   10.77.0.1 and .2 on a LAN of their own with
#                 no route out (mDNS only)
set -euo pipefail

cmd=${1:-}
P=${2:-qlab}
NAMES="net relay pub r1 r2 r3 h1 h2 h3"

in_ns() { local n=$1; shift; ip netns exec "$P-$n" "$@"; }

down() {
    for ns in $(ip netns list | awk '{print $1}' | grep "^$P-" || true); do
        # Stop anything still running inside, then remove the namespace.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
        rm -rf "/etc/netns/$ns"
    done
}

# attach NAME ADDR: a veth from namespace NAME to the bridge, with ADDR/24.
attach() {
    ip link add wan netns "$P-$1" type veth peer name "p-$1" netns "$P-net"
    in_ns net ip link set "p-$1" master br0 up
    in_ns "$1" ip addr add "$2/24" dev wan
    in_ns "$1" ip link set wan up
}

# router N KIND: router rN with host hN behind it.
router() {
    local n=$1 kind=$2 r="r$1" h="h$1"
    attach "$r" "10.200.0.1$n"
    ip link add lan netns "$P-$r" type veth peer name eth0 netns "$P-$h"
    in_ns "$r" ip addr add "192.168.$n.1/24" dev lan
    in_ns "$r" ip link set lan up
    in_ns "$h" ip addr add "192.168.$n.2/24" dev eth0
    in_ns "$h" ip link set eth0 up
    in_ns "$h" ip route add default via "192.168.$n.1"
    in_ns "$r" sysctl -qw net.ipv4.ip_forward=1
    in_ns "$r" iptables -P FORWARD DROP
    in_ns "$r" iptables -A FORWARD -i lan -o wan -j ACCEPT
    in_ns "$r" iptables -A FORWARD -i wan -o lan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
    # Unsolicited packets to the router itself are dropped, as home routers do.
    # Accepted, they would leave a conntrack entry on the public port that makes
    # the host's next outbound flow to that peer get another source port, and
    # so defeat hole punching whenever the peer's packet arrives first.
    in_ns "$r" iptables -A INPUT -i wan -m conntrack --ctstate NEW,INVALID -j DROP
    case "$kind" in
    full-cone)
        in_ns "$r" iptables -t nat -A POSTROUTING -o wan -j MASQUERADE
        in_ns "$r" iptables -t nat -A PREROUTING -i wan -j DNAT --to-destination "192.168.$n.2"
        in_ns "$r" iptables -A FORWARD -i wan -o lan -m conntrack --ctstate DNAT -j ACCEPT
        ;;
    restricted)
        in_ns "$r" iptables -t nat -A POSTROUTING -o wan -j MASQUERADE
        # Remember every address the host sends to; let those addresses in on any port.
        in_ns "$r" iptables -t mangle -A FORWARD -i lan -o wan -m recent --name contacted --rdest --set
        in_ns "$r" iptables -t nat -A PREROUTING -i wan -m recent --name contacted --rsource --rcheck \
            -j DNAT --to-destination "192.168.$n.2"
        in_ns "$r" iptables -A FORWARD -i wan -o lan -m conntrack --ctstate DNAT -j ACCEPT
        ;;
    port-restricted)
        in_ns "$r" iptables -t nat -A POSTROUTING -o wan -j MASQUERADE
        ;;
    symmetric)
        in_ns "$r" iptables -t nat -A POSTROUTING -o wan -j MASQUERADE --random-fully
        ;;
    esac
}

up() {
    down
    trap 'down' ERR
    for n in $NAMES; do
        ip netns add "$P-$n"
        in_ns "$n" ip link set lo up
    done
    in_ns net ip link add br0 type bridge
    in_ns net ip link set br0 up
    attach relay 10.200.0.2
    attach pub 10.200.0.3
    router 1 restricted
    router 2 port-restricted
    router 3 symmetric
    # The lab must be sealed: no host can reach a private host directly.
    if in_ns pub ip route get 192.168.1.2 >/dev/null 2>&1; then
        echo "natlab: a private host is reachable from outside: lab is broken" >&2
        exit 1
    fi
    trap - ERR
}

# resolver NS: the namespace's /etc/resolv.conf (as `ip netns exec` shows it) names the lab's DNS server.
resolver() {
    mkdir -p "/etc/netns/$P-$1"
    echo "nameserver 10.200.0.53" > "/etc/netns/$P-$1/resolv.conf"
}

up_internet() {
    down
    trap 'down' ERR
    for n in net dns dht r1 r2 r3 r4 h1 h2 h3 h4 lan1 lan2; do
        ip netns add "$P-$n"
        in_ns "$n" ip link set lo up
    done
    in_ns net ip link add br0 type bridge
    in_ns net ip link set br0 up
    attach dns 10.200.0.53
    attach dht 10.200.0.100
    for i in $(seq 101 131); do in_ns dht ip addr add "10.200.0.$i/24" dev wan; done
    router 1 full-cone
    router 2 port-restricted
    router 3 symmetric
    router 4 port-restricted
    for n in dns dht h1 h2 h3 h4 lan1 lan2; do resolver "$n"; done
    # The LAN: two hosts, a link between them, no route anywhere else.
    ip link add eth0 netns "$P-lan1" type veth peer name eth0 netns "$P-lan2"
    in_ns lan1 ip addr add 10.77.0.1/24 dev eth0
    in_ns lan2 ip addr add 10.77.0.2/24 dev eth0
    for n in lan1 lan2; do
        in_ns "$n" ip link set eth0 up multicast on
        in_ns "$n" ip route add 224.0.0.0/4 dev eth0
    done
    if in_ns dns ip route get 192.168.1.2 >/dev/null 2>&1 || in_ns lan1 ip route get 10.200.0.100 >/dev/null 2>&1; then
        echo "natlab: the lab is not sealed" >&2
        exit 1
    fi
    trap - ERR
}

check() {
    [ "$(id -u)" = 0 ] || { echo "natlab: needs root (network namespaces)"; exit 1; }
    command -v ip >/dev/null || { echo "natlab: needs iproute2 (ip)"; exit 1; }
    command -v iptables >/dev/null || { echo "natlab: needs iptables"; exit 1; }
    local t="qchk$$"
    ip netns add "$t" 2>/dev/null || { echo "natlab: cannot create network namespaces here"; exit 1; }
    ip netns del "$t"
}

case "$cmd" in
up) up ;;
up-internet) up_internet ;;
down) down ;;
check) check ;;
*) echo "usage: $0 up|up-internet|down PREFIX | check" >&2; exit 2 ;;
esac
