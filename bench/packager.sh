#!/usr/bin/env bash
# Packager benchmarks (issue: packager). Prints ratios against baselines measured
# in the same run on the same data:
#  1. build and unpack of a ~100 MiB tree against `tar | zstd` (same level) and
#     against `sha256sum` of every file;
#  2. update sizes for two consecutive releases of a real program (ruff's Linux
#     binary, from two PyPI wheels) against `zstd --patch-from`.
# Usage: bash bench/packager.sh   (needs python3, pip, zstd, tar; ~5 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v zstd >/dev/null || { apt-get update -q && apt-get install -y -q zstd; }
cargo build -q --release -p quince-packager
pk="$PWD/target/release/quince-packager"
gen="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/gen-tree.py"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

secs() { python3 -c 'import sys,time; print(f"{time.time():.3f}")'; }
timed() { local a b; a=$(secs); "$@" >/dev/null; b=$(secs); python3 -c "print(f'{$b-$a:.3f}')"; }

echo "== generating a ~100 MiB tree (2000 text files, 6 binary-like files)"
python3 "$gen" tree
du -sm tree | sed 's/^/tree MiB: /'
level=3
t_sha=$(timed bash -c 'find tree -type f -print0 | xargs -0 sha256sum')
sync
t_tar=$(timed bash -c "tar cf - tree | zstd -q -$level -T1 -o tree.tar.zst")
rm -f tree.tar.zst; sync
# The same made durable, as quince's store is (it syncs before it is done).
t_tar_sync=$(timed bash -c "tar cf - tree | zstd -q -$level -T1 -o tree.tar.zst && sync")
sync
t_build=$(timed "$pk" build tree --store store --out m.bin --level $level)
size_tar=$(stat -c %s tree.tar.zst)
size_store=$(du -sb store/chunks | cut -f1)
sync
t_untar=$(timed bash -c 'mkdir -p untar && zstd -q -d -c tree.tar.zst | tar xf - -C untar && sync')
sync
t_unpack=$(timed "$pk" unpack --store store --manifest m.bin --platform linux-x86_64 --out unpacked)
python3 - "$t_sha" "$t_tar" "$t_tar_sync" "$t_build" "$t_untar" "$t_unpack" "$size_tar" "$size_store" <<'PY'
import sys
sha, tar, tars, build, untar, unpack, st, ss = map(float, sys.argv[1:])
print(f"build  : {build:.2f}s  | tar|zstd -3: {tar:.2f}s, with sync: {tars:.2f}s | sha256sum: {sha:.2f}s")
print(f"         build/(tar|zstd) = {build/tar:.2f}x, build/(tar|zstd+sync) = {build/tars:.2f}x, build/sha256sum = {build/sha:.2f}x")
print(f"unpack : {unpack:.2f}s  | zstd -d|tar x + sync: {untar:.2f}s  -> unpack/untar = {unpack/untar:.2f}x")
print(f"size   : store {ss/2**20:.1f} MiB  tar.zst {st/2**20:.1f} MiB  -> store/tar.zst = {ss/st:.2f}x")
PY

echo "== update of a real program: ruff 0.6.0 -> 0.6.1 (Linux x86_64 binary from PyPI wheels)"
mkdir -p wheels
for v in 0.6.0 0.6.1; do
  pip download -q --no-deps --only-binary=:all: --platform manylinux_2_17_x86_64 --python-version 3.11 -d wheels "ruff==$v"
done
python3 - <<'PY'
import zipfile, glob, os
for w in sorted(glob.glob("wheels/*.whl")):
    ver = w.split("-")[1]
    z = zipfile.ZipFile(w)
    name = [n for n in z.namelist() if n.endswith("/bin/ruff") or n.endswith(".data/scripts/ruff")][0]
    os.makedirs(f"rel{ver}/bin", exist_ok=True)
    with open(f"rel{ver}/bin/ruff", "wb") as f:
        f.write(z.read(name))
PY
old=rel0.6.0/bin/ruff new=rel0.6.1/bin/ruff
"$pk" build rel0.6.0 --store rstore --out r1.bin --level 19 >/dev/null
"$pk" build rel0.6.1 --store rstore --out r2.bin --level 19 >/dev/null
"$pk" diff --store rstore --json r1.bin r2.bin > diff.json
zstd -q -19 --long=31 --patch-from="$old" "$new" -o patch.zst
zstd -q -19 "$new" -o full.zst
python3 - "$(stat -c %s "$new")" "$(stat -c %s patch.zst)" "$(stat -c %s full.zst)" <<'PY'
import json, sys
raw, zpatch, zfull = map(int, sys.argv[1:])
d = json.load(open("diff.json"))
w, wo, full = d["download_with_deltas"], d["download_without_deltas"], d["full_download"]
print(f"binary {raw/2**20:.1f} MiB; zstd -19 full {zfull/2**20:.2f} MiB; zstd --patch-from {zpatch/2**10:.0f} KiB")
print(f"quince: fresh install {full/2**20:.2f} MiB; update without patches {wo/2**20:.2f} MiB; with patches {w/2**10:.0f} KiB")
print(f"ratios: quince update with patches / zstd --patch-from = {w/zpatch:.2f}x; chunks only / patch-from = {wo/zpatch:.2f}x")
PY
