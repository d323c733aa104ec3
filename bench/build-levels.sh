#!/usr/bin/env bash
# What each packager level costs (issue 19, item 4): `quince-packager build`
# of a deterministic ~100 MiB tree (2,000 text files, 6 binary-like files of
# 14 MiB) into a fresh store, at each LEVEL, against `tar cf - | zstd -T0
# -LEVEL` of the same tree in the same run; time, peak memory and size of
# each, and the ratios. Compare two commits with bench/ab.sh (interleaved):
#   bash bench/ab.sh REV 2 "$PWD/bench/build-levels.sh" 3 19
# With TREE=small, the tree is 20,000 text files of 100 bytes to 3 KiB
# instead; with TREE=wheels, software no one here made: the unpacked
# PyPI wheels of numpy 2.1.3, pandas 2.2.3, Django 5.1.4 and ruff 0.8.4
# (170 MiB, 5,993 files; downloaded once with pip, then cached).
# The packager's default puts small files into shared chunks; with SHARE=0
# each file gets chunks of its own (--chunk-per-file); with SHARE=both each
# level is built both ways, one after the other, against the same baseline.
# "on disk" is the blocks the files take (du), "bytes" their sizes.
# Usage: bash bench/build-levels.sh [LEVEL ...]   (default: 3 19; ~2 minutes)
set -euo pipefail
# From a checkout's root (as bench/ab.sh runs it on each side), that checkout.
[ -f Cargo.toml ] && [ -d packager ] || cd "$(dirname "$0")/.."
command -v zstd >/dev/null || { apt-get update -q && apt-get install -y -q zstd >/dev/null; }
levels=("$@")
[ ${#levels[@]} -gt 0 ] || levels=(3 19)
cargo build -q --release -p quince-packager
pk="$PWD/target/release/quince-packager"
gen="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/gen-tree.py"
. "$(dirname "$gen")/wheels.sh"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
if [ "${TREE:-}" = wheels ]; then
  unpack_wheels wheels tree "${WHEELS_NEW[@]}"
else
  python3 "$gen" tree ${TREE:-}
fi
echo "tree: $(du -sm tree | cut -f1) MiB, $(find tree -type f | wc -l) files; $(nproc) cores"
case "${SHARE:-1}" in
  both) ways=(each shared) ;;
  0) ways=(each) ;;
  *) ways=(shared) ;;
esac
for level in "${levels[@]}"; do
  rm -rf tree.tar.zst; sync
  /usr/bin/time -f "%e %M" -o z.time bash -c "tar cf - tree | zstd -q -T0 -$level -o tree.tar.zst"
  read -r zs zk < z.time
  tarz=$(stat -c %s tree.tar.zst)
  tard=$(du --block-size=1 tree.tar.zst | cut -f1)
  for way in "${ways[@]}"; do
    rm -rf store m.bin; sync
    flag=(); [ "$way" = each ] && flag=(--chunk-per-file)
    /usr/bin/time -f "%e %M" -o q.time "$pk" build tree --store store --out m.bin --level "$level" "${flag[@]}" >/dev/null 2>&1
    sync
    read -r qs qk < q.time
    store=$(du -sb store | cut -f1)
    disk=$(du -s --block-size=1 store | cut -f1)
    files=$(find store -type f | wc -l)
    label="level $level"; [ "$way" = shared ] && label="level $level, shared"
    python3 -c "print(f'$label: build {$qs:.2f} s, peak {$qk//1024} MiB, store {$store/1048576:.1f} MiB ({$disk/1048576:.1f} MiB on disk, $files files) | tar|zstd -T0: {$zs:.2f} s, {$tarz/1048576:.1f} MiB | time {$qs/$zs:.2f}x, size {$store/$tarz:.2f}x, on disk {$disk/$tard:.2f}x')"
  done
done
