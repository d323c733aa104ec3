#!/usr/bin/env bash
# Peak memory (maximum resident set, from /usr/bin/time) for a 1 GiB
# release (issue 19's "under 128 MiB"): of the packager's `build` at level
# 3, of a `quince seed` process serving the release, of a `quince fetch`
# that installs it from that seeder on loopback (verify, store, unpack), and
# of `quince-packager release` making patches for two files of 512 MiB with
# 4 KiB changed in each (bench/patch.sh, which prints the patch sizes too).
# The release is one file of incompressible noise (the worst case for
# chunk and patch buffers); set MIB for another size.
# Usage: bash bench/rss.sh   (needs python3 and zstd; ~10 minutes)
set -euo pipefail
[ -f Cargo.toml ] && [ -d updater ] || cd "$(dirname "$0")/.."
mib=${MIB:-1024}
cargo build -q --release -p quince-packager
cargo build -q --release -p quince-updater --bin quince --example fetch_bench
bin="$PWD/target/release"
work="$(mktemp -d)"
seeder=
cleanup() { [ -n "$seeder" ] && pkill -P "$seeder"; rm -rf "$work"; }
trap cleanup EXIT
mib_of() { python3 -c "print(f'{$1/1024:.0f}')"; }

# The release (fetch_bench writes the seeder's store and log, and the source).
app=$("$bin/examples/fetch_bench" --prepare "$work/r" --seeders 1 --mib "$mib")
echo "release: one file of $mib MiB (noise)"

# 1. Build, at level 3, into a fresh store.
/usr/bin/time -f "%e %M" -o "$work/build.time" \
  "$bin/quince-packager" build "$work/r/src" --store "$work/build-store" --out "$work/m.bin" --level 3 >/dev/null
read -r secs kib < "$work/build.time"
echo "build:   peak RSS $(mib_of "$kib") MiB ($secs s)"

# 2. A seeder serving it, and 3. a fresh fetch from it.
QUINCE_HOME="$work/home-s" /usr/bin/time -f "%e %M" -o "$work/seed.time" \
  "$bin/quince" seed --no-mdns --listen /ip4/127.0.0.1/tcp/0 \
  --log "$work/r/seeder0/log" --store "$work/r/seeder0/store" >"$work/seed.out" 2>&1 &
seeder=$!
for _ in $(seq 100); do grep -q "listening on" "$work/seed.out" && break; sleep 0.1; done
addr=$(grep -m1 -o '/ip4/127.0.0.1/tcp/[0-9]*/p2p/[A-Za-z0-9]*' "$work/seed.out")
QUINCE_HOME="$work/home-c" /usr/bin/time -f "%e %M" -o "$work/fetch.time" \
  "$bin/quince" fetch --no-mdns --listen /ip4/127.0.0.1/tcp/0 --app "$app" --peer "$addr" \
  --store "$work/c/store" --log "$work/c/log" --out "$work/c/out" --window 16 >/dev/null
cmp -s "$work/c/out/payload" "$work/r/src/payload" || { echo "fetched bytes differ" >&2; exit 1; }
read -r secs kib < "$work/fetch.time"
echo "fetch:   peak RSS $(mib_of "$kib") MiB ($secs s, one seeder on loopback)"
# (time ignores SIGINT while its child runs: the signal goes to the child.)
pkill -INT -P "$seeder"; wait "$seeder" 2>/dev/null || true; seeder=
read -r secs kib < "$work/seed.time" || kib=0
echo "seed:    peak RSS $(mib_of "$kib") MiB (serving the whole release once)"
rm -rf "$work/r" "$work/c" "$work/build-store"

# 4. Patch making, through bench/patch.sh (two files of half the size).
bash "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/patch.sh" $((mib / 2)) | sed 's/^/patches: /'
