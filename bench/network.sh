#!/usr/bin/env bash
# Network benchmarks (issue: network), each a ratio measured in the same run:
#  1. fetching a 100 MiB release from one seeder on loopback (verify + unpack
#     included) against `curl` from a local nginx serving the same bytes as one
#     file, then `sha256sum`;
#  2. fetching from 4 seeders each limited to RATE bytes/s against from 1.
# Usage: bash bench/network.sh   (installs nginx and curl if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v nginx >/dev/null || need+=(nginx-light)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then apt-get update -q && apt-get install -y -q "${need[@]}" >/dev/null; fi
cargo build -q --release -p quince-updater --example fetch_bench
bench="$PWD/target/release/examples/fetch_bench"
work="$(mktemp -d)"
cleanup() { [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

chmod 755 "$work"   # nginx's workers run as another user
head -c $((100 * 1024 * 1024)) /dev/urandom > "$work/payload"
mkdir -p "$work/www" && cp "$work/payload" "$work/www/payload"
cat > "$work/nginx.conf" <<CONF
daemon on; pid $work/nginx.pid; error_log $work/error.log; worker_processes 1;
events {}
http { access_log off; sendfile on; server { listen 127.0.0.1:18080; root $work/www; } }
CONF
nginx -c "$work/nginx.conf"
sleep 0.5
t0=$(date +%s.%N)
curl -sSf -o "$work/got" http://127.0.0.1:18080/payload
sha256sum "$work/got" >/dev/null
cmp -s "$work/got" "$work/payload" || { echo "curl did not fetch the payload"; exit 1; }
t1=$(date +%s.%N)
http=$(python3 -c "print(f'{$t1-$t0:.3f}')")
quince=$("$bench" --file "$work/payload" --seeders 1)
echo "fetch 100 MiB: quince (1 seeder, verified, unpacked) ${quince}s; curl from nginx + sha256sum ${http}s; ratio $(python3 -c "print(f'{$quince/$http:.2f}')")x"

rate=$((4 * 1024 * 1024))
one=$("$bench" --mib 40 --seeders 1 --rate $rate)
four=$("$bench" --mib 40 --seeders 4 --rate $rate)
echo "fetch 40 MiB from seeders limited to 4 MiB/s each: 1 seeder ${one}s, 4 seeders ${four}s; speed-up $(python3 -c "print(f'{$one/$four:.2f}')")x"
