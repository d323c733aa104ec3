#!/usr/bin/env bash
# Network benchmarks (issue: network), each a ratio measured in the same run:
#  1. fetching a 100 MiB release from one seeder on loopback (verify + unpack
#     included) against `curl` from a local nginx serving the same bytes as one
#     file, then `sha256sum`;
#  2. fetching from 4 seeders each limited to RATE bytes/s against from 1.
#  3. the same with real `quince seed` processes whose links tc shapes.
# Usage: bash bench/network.sh   (part 1 installs nginx and curl if missing)
#        PARTS=3 bash bench/network.sh   (only the parts named, here the tc one)
set -euo pipefail
cd "$(dirname "$0")/.."
parts="${PARTS:-123}"
cargo build -q --release -p quince-updater --example fetch_bench
bench="$PWD/target/release/examples/fetch_bench"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# 1. Three fresh installs against curl + sha256sum (its own script).
[[ $parts == *1* ]] && bash bench/install-speed.sh

# 2. Four rate-limited seeders against one.
if [[ $parts == *2* ]]; then
    rate=$((4 * 1024 * 1024))
    one=$("$bench" --mib 40 --seeders 1 --rate $rate)
    four=$("$bench" --mib 40 --seeders 4 --rate $rate)
    echo "fetch 40 MiB from seeders limited to 4 MiB/s each: 1 seeder ${one}s, 4 seeders ${four}s; speed-up $(python3 -c "print(f'{$one/$four:.2f}')")x"
fi
[[ $parts == *3* ]] || exit 0

# 3. The same comparison with the network itself shaped: each seeder is a real
#    `quince seed` process in its own network namespace whose link is limited by
#    tc (tbf), and the client is `quince fetch` in another. Needs root.
if [ "$(id -u)" != 0 ] || ! ip netns add qb-probe 2>/dev/null; then
    echo "tc bench skipped: needs root and network namespaces"
    exit 0
fi
ip netns del qb-probe
command -v tc >/dev/null || { apt-get update -q && apt-get install -y -q iproute2 >/dev/null; }
cargo build -q --release -p quince-updater --bin quince
quince="$PWD/target/release/quince"
P=qb
mbit=32   # each seeder's upload: 32 Mbit/s = 4 MB/s
tc_down() {
    for n in net c s0 s1 s2 s3; do
        for pid in $(ip netns pids "$P-$n" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
        ip netns del "$P-$n" 2>/dev/null || true
    done
}
trap 'tc_down; rm -rf "$work"' EXIT
tc_down
ip netns add "$P-net"
ip netns exec "$P-net" ip link add br0 type bridge
ip netns exec "$P-net" ip link set br0 up
join() { # join NAME ADDR
    ip netns add "$P-$1"
    ip netns exec "$P-$1" ip link set lo up
    ip link add wan netns "$P-$1" type veth peer name "p-$1" netns "$P-net"
    ip netns exec "$P-net" ip link set "p-$1" master br0 up
    ip netns exec "$P-$1" ip addr add "$2/24" dev wan
    ip netns exec "$P-$1" ip link set wan up
}
join c 10.201.0.2
app=$("$bench" --prepare "$work/tc" --seeders 4 --mib 40)
addrs=()
for i in 0 1 2 3; do
    join "s$i" "10.201.0.1$i"
    ip netns exec "$P-s$i" tc qdisc add dev wan root tbf rate "${mbit}mbit" burst 32kb latency 100ms
    QUINCE_HOME="$work/home-s$i" ip netns exec "$P-s$i" "$quince" seed --no-mdns --listen "/ip4/10.201.0.1$i/tcp/4001" \
        --log "$work/tc/seeder$i/log" --store "$work/tc/seeder$i/store" >"$work/s$i.out" 2>&1 &
done
for i in 0 1 2 3; do
    for _ in $(seq 100); do grep -q "listening on" "$work/s$i.out" && break; sleep 0.1; done
    addrs+=("$(grep -m1 -o '/ip4/10.201.0.1[0-9]/tcp/4001/p2p/[A-Za-z0-9]*' "$work/s$i.out")")
done
fetch_from() { # fetch_from N: seconds to fetch from the first N seeders
    local n=$1 args=() d="$work/client$1"
    for a in "${addrs[@]:0:$n}"; do args+=(--peer "$a"); done
    local t0 t1
    t0=$(date +%s.%N)
    QUINCE_HOME="$d/home" ip netns exec "$P-c" "$quince" fetch --no-mdns --listen /ip4/10.201.0.2/tcp/0 --app "$app" \
        "${args[@]}" --store "$d/store" --log "$d/log" --out "$d/out" --window 16 >/dev/null
    t1=$(date +%s.%N)
    cmp -s "$d/out/payload" "$work/tc/src/payload" || { echo "fetched bytes differ" >&2; exit 1; }
    python3 -c "print(f'{$t1-$t0:.3f}')"
}
one=$(fetch_from 1)
four=$(fetch_from 4)
echo "fetch 40 MiB from quince seed processes each shaped by tc to ${mbit} Mbit/s: 1 seeder ${one}s, 4 seeders ${four}s; speed-up $(python3 -c "print(f'{$one/$four:.2f}')")x"
