#!/usr/bin/env bash
# The Internet lab's measurements (issue 14): in one lab (24 js-libp2p DHT
# nodes, 4 of them relays, dnsmasq, the publisher behind a port-restricted
# NAT), round by round and interleaved: fresh users behind a full-cone (h1)
# and a port-restricted NAT (h4) install with `quince-bootstrap` from a bare
# link and from a link with a hint (the publisher's relayed address: the
# baseline); a js node's provider lookup; how many installs ended up with a
# direct connection to the publisher; then the memory and CPU of an idle
# `quince update --watch` over a minute. Prints medians and the ratio
# no-hint / hint. Needs root, Node.js (npm ci in tests/lab/js) and dnsmasq,
# like the lab test.
# Usage: bash bench/internet-lab.sh            (4 rounds: 16 installs, ~4 min)
#        QUINCE_BENCH_ROUNDS=8 QUINCE_BENCH_IDLE_SECS=120 bash bench/internet-lab.sh
#        QUINCE_BENCH_PROFILE=release bash bench/internet-lab.sh   (release binaries)
set -euo pipefail
cd "$(dirname "$0")/.."
# The binaries the lab runs: debug ones beside the test's own, or release
# ones (what users run) through QUINCE_LAB_BIN.
profile="${QUINCE_BENCH_PROFILE:-dev}"
if [ "$profile" = release ]; then
  cargo build -q --release -p quince-updater -p quince-bootstrap
  export QUINCE_LAB_BIN="$PWD/target/release"
fi
cargo build -q -p quince-updater -p quince-bootstrap
echo "bench: binaries: ${QUINCE_LAB_BIN:-target/debug} ($profile profile)"
[ -d tests/lab/js/node_modules ] || (cd tests/lab/js && npm ci --silent)
# The lab's network files choose the network; QUINCE_NETWORK must not.
log=target/internet-lab-bench.log
if ! env -u QUINCE_NETWORK cargo test -q -p quince-tests --test internet_lab -- \
  --ignored --exact bench_internet_lab --nocapture --test-threads 1 >"$log" 2>&1; then
  tail -40 "$log"
  echo "the benchmark failed; its whole output: $log" >&2
  exit 1
fi
grep '^bench: ' "$log"
