#!/usr/bin/env bash
# DHT simulation (issue: scale): N real libp2p Kademlia nodes in one process
# over the in-memory transport (updater/examples/dht_sim.rs), 20% of them in
# client mode (behind NAT), 10% of the network replaced while the lookups
# run. For each N it prints announce and lookup success, messages per lookup
# (libp2p's count), hops (lookups replayed on the routing tables the nodes
# built), and memory per node; then a least-squares fit of hops against
# log2 N. Each run's full JSON line goes to target/dht-sim-N-churnC-alphaA.json.
# Usage: bash bench/dht.sh [N ...]          (default: 300 1000 3000 10000)
#        CHURN=50 CLIENTS=20 LOOKUPS=500 ALPHA=3 bash bench/dht.sh 1000
# On the 2-core machine 10,000 nodes take about 35 minutes and 16 GiB.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p quince-updater --example dht_sim
sim="$PWD/target/release/examples/dht_sim"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(300 1000 3000 10000)
churn="${CHURN:-10}"
printf '%-6s %-6s | %-8s %-8s | %-16s | %-17s | %s\n' nodes churn announce lookup "messages mean/p95" "hops mean/p95/max" "memory/node (idle, after join)"
outs=()
for n in "${sizes[@]}"; do
  out="target/dht-sim-$n-churn$churn-alpha${ALPHA:-3}.json"
  "$sim" --nodes "$n" --churn-pct "$churn" --clients-pct "${CLIENTS:-20}" \
    --lookups "${LOOKUPS:-500}" --alpha "${ALPHA:-3}" > "$out"
  outs+=("$out")
  python3 - "$out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
a, l = d["announce"], d["lookup"]
h, m, mem = l["replayed"]["hops"], l["messages"], d["memory_per_node_kib"]
print(f"{d['nodes']:<6} {str(d['churn_pct'])+'%':<6} | {a['success']*100:6.1f}%  {l['success']*100:6.1f}%  | "
      f"{m['mean']:6.1f} / {m['p95']:<6} | {h['mean']:5.2f} / {h['p95']} / {h['max']:<4} | "
      f"{mem['spawned']/1024:.2f} MiB, {mem['after_join']/1024:.2f} MiB")
PY
done
if [ ${#outs[@]} -ge 2 ]; then
  python3 - "${outs[@]}" <<'PY'
import json, math, sys
pts = [(math.log2(d["nodes"]), d["lookup"]["replayed"]["hops"]["mean"])
       for d in (json.load(open(f)) for f in sys.argv[1:])]
mx = sum(x for x, _ in pts) / len(pts); my = sum(y for _, y in pts) / len(pts)
sxx = sum((x - mx) ** 2 for x, _ in pts); sxy = sum((x - mx) * (y - my) for x, y in pts)
b = sxy / sxx; a = my - b * mx
ss = sum((y - my) ** 2 for _, y in pts); res = sum((y - a - b * x) ** 2 for x, y in pts)
r2 = 1 - res / ss if ss else 1.0
print(f"hops = {a:.2f} + {b:.3f} * log2(N)   (R^2 = {r2:.3f}; {b:.3f} hops per doubling of N)")
PY
fi
