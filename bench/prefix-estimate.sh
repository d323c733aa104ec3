#!/usr/bin/env bash
# What chunks compressed against the plaintext before them would save
# (issue 19, store size; a format change, measured before anyone builds it):
# the large files (64 KiB and up, the ones the packager cuts by content) of
# the PyPI wheels of numpy 2.1.3, pandas 2.2.3, Django 5.1.4 and ruff 0.8.4,
# each chunk compressed alone (as now), against the previous 1 or 2 MiB of
# its file, or each file whole, at each LEVEL, by bench/prefix-estimate
# (real zstd and FastCDC at the packager's versions; every prefixed chunk is
# decoded again and compared). Sizes are exact; times are single-threaded.
# Usage: bash bench/prefix-estimate.sh [LEVEL ...]   (default 3 19; ~3 minutes)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/wheels.sh"
levels=("$@")
[ ${#levels[@]} -gt 0 ] || levels=(3 19)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
unpack_wheels wheels "$work/wheels" "${WHEELS_NEW[@]}"
cargo build -q --release --manifest-path "$here/prefix-estimate/Cargo.toml"
find "$work/wheels" -type f -size +65535c | sort > "$work/large.txt"
for level in "${levels[@]}"; do
  xargs -d '\n' -a "$work/large.txt" "$here/prefix-estimate/target/release/prefix-estimate" "$level" 0,1,2,whole
done
