#!/usr/bin/env bash
# The soak (issue 15; opt-in, not in CI): one `quince seed` for 30 minutes
# under honest and hostile peers at once. Hostile: 30 libp2p peers that ask
# for chunks and never read (fresh identities every minute) plus a churn of
# short-lived ones (a new identity every half second). Honest: `quince
# fetch` of the 8 MiB app back to back, and alone for a quiet 20 s every
# five minutes (the baseline, interleaved). Prints, per five minutes, the
# seeder's highest resident memory and the honest fetch times.
# Usage: bash bench/hostile-soak.sh                   (30 minutes, release)
#        QUINCE_SOAK_SECS=300 bash bench/hostile-soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export QUINCE_SOAK_SECS="${QUINCE_SOAK_SECS:-1800}"
log=target/hostile-soak.log
mkdir -p target
if ! cargo test -q --release -p quince-updater --test hostile -- --ignored \
  --exact soak_honest_and_hostile_peers_at_once --nocapture >"$log" 2>&1; then
  grep -v '^soak: rss' "$log" | tail -40
  echo "the soak failed; its whole output: $log" >&2
  exit 1
fi
grep '^soak: ' "$log" | grep -v '^soak: rss\|^soak: fetch'
echo "(every sample and fetch: $log)"
