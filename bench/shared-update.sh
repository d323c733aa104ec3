#!/usr/bin/env bash
# What an update and a fresh install cost with small files in shared chunks
# (issue 19, store size), on software no one here made: the unpacked PyPI
# wheels of Django 5.1.3, numpy 2.1.2, pandas 2.2.2 and ruff 0.8.4 (the old
# release) and Django 5.1.4, numpy 2.1.3, pandas 2.2.3, ruff 0.8.4 (the new
# one). At each LEVEL, both ways (a chunk per file, and shared): the old
# tree is built into a fresh store and its manifest kept there as staging
# keeps it; then the new tree into the same store. Printed: the new chunks
# the update fetches (`quince-packager diff`: without patches, and with), the
# bytes a fresh install of the new release fetches (all its chunks), and
# the store of the new release alone against `tar cf - | zstd -T0 -LEVEL`.
# Compare two commits with bench/ab.sh. Downloads the wheels once with pip.
# Usage: bash bench/shared-update.sh [LEVEL ...]   (default: 3; ~1 minute a level)
set -euo pipefail
[ -f Cargo.toml ] && [ -d packager ] || cd "$(dirname "$0")/.."
command -v zstd >/dev/null || { apt-get update -q && apt-get install -y -q zstd >/dev/null; }
levels=("$@")
[ ${#levels[@]} -gt 0 ] || levels=(3)
cargo build -q --release -p quince-packager
pk="$PWD/target/release/quince-packager"
. bench/wheels.sh
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
unpack_wheels wheels-old "$work/wheels-old" "${WHEELS_OLD[@]}"
unpack_wheels wheels "$work/wheels" "${WHEELS_NEW[@]}"
cd "$work"
echo "old: $(du -sm wheels-old | cut -f1) MiB, new: $(du -sm wheels | cut -f1) MiB, $(find wheels -type f | wc -l) files"
for level in "${levels[@]}"; do
  rm -f tar.zst; tar cf - wheels | zstd -q -T0 -"$level" -o tar.zst
  tarz=$(stat -c %s tar.zst)
  for way in each shared; do
    flag=(); [ "$way" = each ] && flag=(--chunk-per-file)
    rm -rf store alone old.bin new.bin
    "$pk" build wheels-old --store store --out old.bin --level "$level" "${flag[@]}" >/dev/null 2>&1
    cp old.bin "store/manifests/$(sha256sum old.bin | cut -d' ' -f1)"
    "$pk" build wheels --store store --out new.bin --level "$level" "${flag[@]}" >/dev/null 2>&1
    read -r update patched fresh < <("$pk" diff --store store --json old.bin new.bin |
      python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["download_without_deltas"], r["download_with_deltas"], r["full_download"])')
    "$pk" build wheels --store alone --out alone.bin --level "$level" "${flag[@]}" >/dev/null 2>&1
    store=$(du -sb alone | cut -f1)
    python3 -c "print(f'level $level, ${way}: update {$update:,} bytes of new chunks ({$patched:,} with patches); fresh install {$fresh:,} bytes; store of the new release alone {$store/$tarz:.3f}x tar|zstd ({$tarz:,})')"
  done
done
