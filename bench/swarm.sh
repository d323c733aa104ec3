#!/usr/bin/env bash
# Swarm benchmark (issue: scale): a publisher and N real libp2p peers on
# loopback, in one process, each with its own store and install folder. A
# 50 MiB release, then a 4 MiB update, is published; every peer installs it.
# Prints, per N, the publisher's upload as a multiple of the bytes that had to
# move (a plain HTTP server would upload N times), and the seconds until the
# first and the last peer had it installed, against one peer alone (N = 1,
# measured in the same run).
# Usage: bash bench/swarm.sh [N ...]   (default: 1 5 10 20 40)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p quince-updater --example swarm_bench
bench="$PWD/target/release/examples/swarm_bench"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1 5 10 20 40)
printf '%-5s | %-32s | %-32s\n' "peers" "50 MiB release: upload, first/last" "4 MiB update: upload, first/last"
one_release="" one_update=""
for n in "${sizes[@]}"; do
  line=$("$bench" --peers "$n" --mib 50 --change-mib 4)
  read -r r_ratio r_first r_last u_ratio u_first u_last < <(python3 -c "
import json,sys
d=json.loads(sys.argv[1]); r=d['release']; u=d['update']
print(r['ratio'], r['first_s'], r['last_s'], u['ratio'], u['first_s'], u['last_s'])" "$line")
  if [ "$n" = 1 ]; then one_release=$r_last; one_update=$u_last; fi
  python3 - "$n" "$r_ratio" "$r_first" "$r_last" "$u_ratio" "$u_first" "$u_last" "${one_release:-0}" "${one_update:-0}" <<'PY'
import sys
n, rr, rf, rl, ur, uf, ul, o1, o2 = sys.argv[1:]
n=int(n); rr, rf, rl, ur, uf, ul, o1, o2 = map(float, (rr, rf, rl, ur, uf, ul, o1, o2))
rel = f" ({rl/o1:.1f}x one peer)" if o1 > 0 and n > 1 else ""
upd = f" ({ul/o2:.1f}x one peer)" if o2 > 0 and n > 1 else ""
print(f"{n:<5} | {rr:.2f}x, {rf:.1f}s / {rl:.1f}s{rel} | {ur:.2f}x, {uf:.1f}s / {ul:.1f}s{upd}")
PY
done
