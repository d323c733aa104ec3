#!/usr/bin/env bash
# Fetch speed of a fresh install (issue 19, item 3): a 100 MiB release from
# one seeder on loopback, verified and unpacked into a fresh store
# (examples/fetch_bench), against `curl` from a local nginx serving the same
# bytes as one file plus `sha256sum`, three times each, interleaved.
# Compare two commits with bench/ab.sh:
#   bash bench/ab.sh REV 2 "$PWD/bench/install-speed.sh"
# With BUSY=1, a background writer keeps the disk busy during both sides
# (256 MiB written and fsynced, over and over): the "busy disk" case.
# Usage: bash bench/install-speed.sh   (installs nginx and curl if missing)
set -euo pipefail
[ -f Cargo.toml ] && [ -d updater ] || cd "$(dirname "$0")/.."
need=()
command -v nginx >/dev/null || need+=(nginx-light)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then apt-get update -q && apt-get install -y -q "${need[@]}" >/dev/null; fi
cargo build -q --release -p quince-updater --example fetch_bench
bench="$PWD/target/release/examples/fetch_bench"
work="$(mktemp -d)"
busy=
cleanup() {
  [ -n "$busy" ] && kill "$busy" 2>/dev/null
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work"
python3 -c "import random,sys; random.seed(19); sys.stdout.buffer.write(random.randbytes(100 << 20))" > "$work/payload"
mkdir -p "$work/www" && cp "$work/payload" "$work/www/payload"
cat > "$work/nginx.conf" <<CONF
daemon on; pid $work/nginx.pid; error_log $work/error.log; worker_processes 1;
events {}
http { access_log off; sendfile on; server { listen 127.0.0.1:18081; root $work/www; } }
CONF
nginx -c "$work/nginx.conf"
sleep 0.5
if [ "${BUSY:-}" = 1 ]; then
  (while :; do dd if=/dev/zero of="$work/busy" bs=1M count=256 conv=fsync status=none; done) &
  busy=$!
  echo "a background writer keeps the disk busy (256 MiB + fsync, in a loop)"
fi
for i in 1 2 3; do
  rm -f "$work/got"; sync
  t0=$(date +%s.%N)
  curl -sSf -o "$work/got" http://127.0.0.1:18081/payload
  sha256sum "$work/got" >/dev/null
  sync
  t1=$(date +%s.%N)
  http=$(python3 -c "print(f'{$t1-$t0:.3f}')")
  sync
  quince=$("$bench" --file "$work/payload" --seeders 1)
  echo "run $i: quince ${quince} s; curl + sha256sum + sync ${http} s; ratio $(python3 -c "print(f'{$quince/$http:.2f}')")x"
done
