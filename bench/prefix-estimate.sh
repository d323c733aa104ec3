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
levels=("$@")
[ ${#levels[@]} -gt 0 ] || levels=(3 19)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/quince-bench/wheels"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [ "$(ls "$cache"/*.whl 2>/dev/null | wc -l)" -ne 4 ]; then
  mkdir -p "$cache"
  pip download -q Django==5.1.4 numpy==2.1.3 pandas==2.2.3 ruff==0.8.4 --no-deps --only-binary=:all: \
    --platform manylinux_2_17_x86_64 --python-version 3.12 -d "$cache"
fi
python3 - "$cache" "$work/wheels" "$work/large.txt" <<'PY'
import glob, os, sys, zipfile
for wheel in sorted(glob.glob(f"{sys.argv[1]}/*.whl")):
    zipfile.ZipFile(wheel).extractall(f"{sys.argv[2]}/{wheel.rsplit('/', 1)[1].split('-')[0]}")
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(sys.argv[2]) for f in fs)
open(sys.argv[3], "w").write("\n".join(p for p in files if os.path.getsize(p) >= 64 * 1024))
PY
cargo build -q --release --manifest-path "$here/prefix-estimate/Cargo.toml"
for level in "${levels[@]}"; do
  xargs -d '\n' -a "$work/large.txt" "$here/prefix-estimate/target/release/prefix-estimate" "$level" 0,1,2,whole
done
