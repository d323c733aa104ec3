#!/usr/bin/env bash
# DHT simulation (issue: scale): N real libp2p Kademlia nodes in one process
# over the in-memory transport (updater/examples/dht_sim.rs), 20% of them in
# client mode (behind NAT), 10% churn spread over the lookups. For each N it
# prints announce and lookup success, messages per lookup (libp2p's count),
# hops (lookups replayed on the routing tables the nodes built), hops against
# log2 N, and memory per node; the full JSON line of each run goes to
# target/dht-sim-N.json.
# Usage: bash bench/dht.sh [N ...]          (default: 300 1000 3000 10000)
#        CHURN=30 CLIENTS=20 LOOKUPS=500 bash bench/dht.sh 1000
# 10,000 nodes take about NN minutes and NN GiB on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p quince-updater --example dht_sim
sim="$PWD/target/release/examples/dht_sim"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(300 1000 3000 10000)
printf '%-6s %-6s | %-8s %-8s | %-16s | %-17s | %-9s | %s\n' nodes churn announce lookup "messages mean/p95" "hops mean/p95/max" "hops/log2N" "memory/node (spawned, after join)"
for n in "${sizes[@]}"; do
  out="target/dht-sim-$n.json"
  "$sim" --nodes "$n" --churn-pct "${CHURN:-10}" --clients-pct "${CLIENTS:-20}" \
    --lookups "${LOOKUPS:-500}" > "$out"
  python3 - "$out" <<'PY'
import json, math, sys
d = json.load(open(sys.argv[1]))
a, l = d["announce"], d["lookup"]
h, m, mem = l["replayed"]["hops"], l["messages"], d["memory_per_node_kib"]
print(f"{d['nodes']:<6} {str(d['churn_pct'])+'%':<6} | {a['success']*100:6.1f}%  {l['success']*100:6.1f}%  | "
      f"{m['mean']:6.1f} / {m['p95']:<6} | {h['mean']:5.2f} / {h['p95']} / {h['max']:<4} | "
      f"{h['mean']/math.log2(d['nodes']):.3f}     | {mem['spawned']/1024:.2f} MiB, {mem['after_join']/1024:.2f} MiB")
PY
done
