#!/usr/bin/env bash
# Issue 19's store target (within 1.1x of `tar | zstd` at the same level):
# how close any layout of chunks can get, estimated by bench/store-bound.py on
# the wheels of bench/shared-update.sh's new release (software no one here
# made) and on bench/gen-tree.py's usual tree, against `tar cf - | zstd -T0
# -LEVEL` in the same run. Sizes only (deterministic), so one run is enough.
# Usage: bash bench/store-bound.sh [LEVEL ...]   (default 3 19; ~3 minutes
# a level, most of it python-zstandard at level 19)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/wheels.sh"
command -v zstd >/dev/null || { apt-get update -q && apt-get install -y -q zstd >/dev/null; }
python3 -c 'import zstandard, fastcdc' 2>/dev/null || pip install -q zstandard==0.25.0 fastcdc==1.7.0
levels=("$@")
[ ${#levels[@]} -gt 0 ] || levels=(3 19)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
unpack_wheels wheels "$work/wheels" "${WHEELS_NEW[@]}"
python3 "$here/gen-tree.py" "$work/usual"
cd "$work"
for tree in wheels usual; do
  for level in "${levels[@]}"; do
    tarz=$(tar cf - "$tree" | zstd -q -T0 "-$level" | wc -c)
    read -r files _ chunks _ _ alone _ prefix _ whole < <(python3 "$here/store-bound.py" "$tree" "$level")
    python3 -c "t=$tarz; print(f'$tree ($files files, $chunks chunks), level $level: tar|zstd {t:,}; alone {$alone/t:.3f}x, prefix {$prefix/t:.3f}x, whole {$whole/t:.3f}x')"
  done
done
