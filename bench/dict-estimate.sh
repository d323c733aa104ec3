#!/usr/bin/env bash
# What a per-release zstd dictionary would do for the store's size (issue
# 19: "store size on disk within 1.1x of the tarball"), estimated with the
# zstd CLI before building it: each file of a tree compressed alone (what
# the store does for a small file's one chunk), without and with a
# dictionary trained on a sample of the files, against one zstd stream over
# the tarball, at the same level. Not Quince's code: a measurement to decide
# whether the protocol change is worth making.
# The tree is bench/gen-tree.py's 20,000 small files (files under one chunk,
# where the store's size gap is; large files are chunked and deduplicated
# by the store, which this does not imitate).
# Usage: bash bench/dict-estimate.sh [LEVEL...]   (default 3 19; ~1 minute)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
command -v zstd >/dev/null || { apt-get update -q && apt-get install -y -q zstd; }
levels=("$@")
[ ${#levels[@]} -gt 0 ] || levels=(3 19)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
python3 "$here/gen-tree.py" tree small
find tree -type f | sort > files.txt
# Train on every fifth file (at most 4,000), the size zstd suggests (110 KiB).
awk 'NR % 5 == 1' files.txt | head -4000 > sample.txt
zstd --train -q $(cat sample.txt) -o dict --maxdict=112640
dict=$(stat -c %s dict)
echo "tree: $(wc -l < files.txt) files, $(du -sb tree | cut -f1) bytes; dictionary $dict bytes from $(wc -l < sample.txt) files"
for level in "${levels[@]}"; do
  tarball=$(tar cf - tree | zstd -q -T1 "-$level" | wc -c)
  mkdir -p "alone$level" "dict$level"
  zstd -q "-$level" --output-dir-flat "alone$level" $(cat files.txt) 2>/dev/null
  zstd -q "-$level" -D dict --output-dir-flat "dict$level" $(cat files.txt) 2>/dev/null
  alone=$(du -sb "alone$level" | cut -f1)
  with=$(( $(du -sb "dict$level" | cut -f1) + dict ))
  python3 -c "print(f'level $level: tar|zstd $tarball; each file alone $alone ({$alone/$tarball:.2f}x); with the dictionary {$with} ({$with/$tarball:.2f}x, dictionary included)')"
done
