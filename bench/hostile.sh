#!/usr/bin/env bash
# A seeder under hostile peers (issue 15): the `quince` binary seeds an
# 8 MiB app; round by round, an honest `quince fetch` runs alone and then
# while 30 libp2p peers each keep 48 chunk requests open and never read the
# answers (fresh peers each round). Prints each round's honest fetch times
# and their ratio (under attack / alone; target: under 2), and the seeder's
# resident-memory high-water mark (target: under 200 MB).
# Usage: bash bench/hostile.sh                       (4 rounds, release build)
#        QUINCE_BENCH_ROUNDS=8 bash bench/hostile.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export QUINCE_BENCH_ROUNDS="${QUINCE_BENCH_ROUNDS:-4}"
log=target/hostile-bench.log
mkdir -p target
if ! cargo test -q --release -p quince-updater --test hostile -- --nocapture >"$log" 2>&1; then
  tail -40 "$log"
  echo "the benchmark failed; its whole output: $log" >&2
  exit 1
fi
grep '^bench: ' "$log"
ratios=$(grep '^bench: round' "$log" | awk '{ print $NF }' | sort -n)
n=$(echo "$ratios" | wc -l)
median=$(echo "$ratios" | awk -v n="$n" '{ r[NR] = $1 } END {
  if (n % 2) print r[(n + 1) / 2]; else printf "%.2f\n", (r[n / 2] + r[n / 2 + 1]) / 2 }')
echo "bench: median ratio under attack / alone over $n rounds: $median"
