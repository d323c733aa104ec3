#!/usr/bin/env bash
# Patches for large files (issue 19): a release holding two MIB-MiB files of
# noise (default 107), then one with 4 KiB changed in the middle of each. The
# packager makes its patches at its default level (19) when `release` stages
# the second; printed: the bytes an update downloads with patches
# (`quince-packager diff`), the time and peak memory of that `release`, and
# the same two files patched by the zstd CLI (`zstd -19 --long=31
# --patch-from`, Debian's 1.5.4) as the baseline, with the ratio. Then the
# client's side: a segmented patch between two files of MIB MiB applied into
# a store by a process of its own (store/examples/patch_apply.rs), its time
# and peak memory. Compare two commits with bench/ab.sh (interleaved).
# Usage: bash bench/patch.sh [MIB]   (needs zstd, python3; ~2 minutes)
set -euo pipefail
# From a checkout's root (as bench/ab.sh runs it on each side), that checkout.
[ -f Cargo.toml ] && [ -d signer/examples ] || cd "$(dirname "$0")/.."
command -v zstd >/dev/null || { apt-get update -q && apt-get install -y -q zstd; }
mib=${1:-107}
cargo build -q --release -p quince-packager -p quince-signer
cargo build -q --release -p quince-store --example patch_apply
apply_bin="$PWD/target/release/examples/patch_apply"
export QUINCE_PACKAGER="$PWD/target/release/quince-packager" QUINCE_SIGNER="$PWD/target/release/quince-signer"
examples="$PWD/signer/examples"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
bash "$examples/five-keyholders.sh" "$work" >/dev/null
cd "$work"
python3 - "$mib" <<'PY'
import os, random, sys
mib = int(sys.argv[1])
random.seed(19)
for v in ("v1", "v2"):
    os.makedirs(f"{v}/bin", exist_ok=True)
for j in range(2):
    # (in 1 MiB pieces: randbytes of 256 MiB or more overflows)
    data = bytearray(b"".join(random.randbytes(1 << 20) for _ in range(mib)))
    open(f"v1/bin/blob{j}", "wb").write(data)
    mid = len(data) // 2
    data[mid:mid + 4096] = random.randbytes(4096)
    open(f"v2/bin/blob{j}", "wb").write(data)
PY
pk() { "$QUINCE_PACKAGER" "$@"; }
pk build v1 --store store --out m1.bin --level 3 >/dev/null 2>&1
pk build v2 --store store --out m2.bin --level 3 >/dev/null 2>&1
bash "$examples/publish.sh" "$work" release --manifest m1.bin --version 1.1.0 --platform any >/dev/null
/usr/bin/time -f "%e %M" -o release.time "$QUINCE_PACKAGER" release --manifest m2.bin --version 1.2.0 --platform any > release.out
read -r secs kib < release.time
ours=$(pk diff --store store --json m1.bin m2.bin | python3 -c 'import json,sys; print(json.load(sys.stdin)["download_with_deltas"])')
zs=0
for j in 0 1; do
  zstd -q -19 --long=31 --patch-from="v1/bin/blob$j" "v2/bin/blob$j" -o "p$j.zst" 2>/dev/null
  zs=$((zs + $(stat -c %s "p$j.zst")))
done
echo "files: 2 x $mib MiB, 4 KiB changed in each"
echo "quince update download with patches: $ours bytes ($(sed -n 1p release.out | grep -o '[0-9]* patches'))"
echo "zstd -19 --long=31 --patch-from: $zs bytes"
python3 -c "print(f'ratio quince/zstd: {$ours/$zs:.2f}x')"
echo "quince-packager release (makes the patches): $secs s, peak RSS $((kib / 1024)) MiB"
"$apply_bin" prepare apply "$mib" >/dev/null
/usr/bin/time -f "%e %M" -o apply.time "$apply_bin" apply apply > apply.out
read -r secs kib < apply.time
echo "client applying a segmented patch ($mib MiB file, $(grep -o '[0-9]*-byte patch' apply.out)): $secs s, peak RSS $((kib / 1024)) MiB"
