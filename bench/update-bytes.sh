#!/usr/bin/env bash
# Update bytes on a real chain of releases of a compiled program (issue 19):
# ruff's Linux x86-64 binary from PyPI, versions FIRST..LAST (default
# 0.17.2 to 0.17.6), each published with `quince-packager` at its default
# level, signed by three of five keyholders (signer/examples), and seeded by
# `quince seed`; a user installs the first with `quince install` and takes
# each next one with `quince update`. Printed per update: the bytes the
# client reports it downloaded (`--json`: chunks and patches received), what
# it would have moved as chunks alone (the new release's chunks missing from
# the old one, `quince-packager diff`: what clients before patches fetched),
# and for the same binaries `zstd -19 --long=31 --patch-from` (the target),
# `bsdiff` + `xz -9`, and a full `zstd -19` of the new binary; then the
# totals and the ratios to --patch-from.
# Usage: bash bench/update-bytes.sh [VERSION...]   (installs zstd and bsdiff if
# missing, downloads ruff with pip; ~8 minutes)
set -euo pipefail
[ -f Cargo.toml ] && [ -d signer/examples ] || cd "$(dirname "$0")/.."
need=()
command -v zstd >/dev/null || need+=(zstd)
command -v bsdiff >/dev/null || need+=(bsdiff)
if [ ${#need[@]} -gt 0 ]; then apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; fi
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(0.17.2 0.17.3 0.17.4 0.17.5 0.17.6)
cargo build -q --release -p quince-packager -p quince-signer -p quince-updater
export QUINCE_PACKAGER="$PWD/target/release/quince-packager" QUINCE_SIGNER="$PWD/target/release/quince-signer"
quince="$PWD/target/release/quince"
examples="$PWD/signer/examples"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/quince-bench/ruff"
work="$(mktemp -d)"
cleanup() {
  [ -n "${seeder:-}" ] && kill "$seeder" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The binaries, from the wheels on PyPI (downloaded once, then cached).
for v in "${versions[@]}"; do
  if [ ! -s "$cache/$v/ruff" ]; then
    mkdir -p "$cache/$v"
    pip download -q "ruff==$v" --no-deps --only-binary=:all: \
      --platform manylinux_2_17_x86_64 --python-version 3.11 -d "$cache/$v/wheel"
    python3 - "$cache/$v" <<'PY'
import sys, zipfile, glob
d = sys.argv[1]
wheel = glob.glob(f"{d}/wheel/*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith("/scripts/ruff"))
    open(f"{d}/ruff", "wb").write(z.read(name))
PY
  fi
  mkdir -p "$work/src-$v/bin"
  cp "$cache/$v/ruff" "$work/src-$v/bin/ruff"
  chmod 755 "$work/src-$v/bin/ruff"
  # The health check runs the app: a wrapper that must exit 0.
  printf '#!/bin/sh\nexec "$(dirname "$0")/ruff" --version\n' > "$work/src-$v/bin/app"
  chmod 755 "$work/src-$v/bin/app"
done

bash "$examples/five-keyholders.sh" "$work" >/dev/null
cd "$work"
# The user's launchers and menu entries go below this HOME, not yours.
export QUINCE_NETWORK=private HOME="$work/home"
mkdir -p "$HOME"
step=0
release() { # release RUFF-VERSION as 1.<step>.0 (five-keyholders.sh released 1.0.0)
  step=$((step + 1))
  "$QUINCE_PACKAGER" build "src-$1" --store store --out "m-$1.bin" >/dev/null 2>&1
  bash "$examples/publish.sh" "$work" release --manifest "m-$1.bin" --version "1.$step.0" --platform any >/dev/null 2>&1
}
release "${versions[0]}"
QUINCE_HOME="$work/seeder-home" "$quince" seed --no-mdns --listen /ip4/127.0.0.1/tcp/0 \
  --log log --store store > seeder.out 2>&1 &
seeder=$!
for _ in $(seq 300); do grep -q "^seeding" seeder.out && break; sleep 0.1; done
addr=$(sed -n 's/^listening on //p' seeder.out | head -1)
app=$(grep -o 'app [0-9a-f]\{64\}' seeder.out | head -1 | cut -c5-)
[ -n "$addr" ] && [ -n "$app" ] || { echo "the seeder did not start:" >&2; cat seeder.out >&2; exit 1; }
export QUINCE_HOME="$work/user"
downloaded() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["downloaded"]["bytes"])'; }
patched() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["downloaded"]["patched_files"])'; }
out=$("$quince" install "quince://$app?peer=$addr" --run bin/app --json --no-mdns 2>/dev/null)
echo "install ${versions[0]}: $(echo "$out" | downloaded) bytes ($(stat -c %s "src-${versions[0]}/bin/ruff") bytes of binary)"
printf '%-18s %12s %12s %12s %12s %12s %8s\n' update quince "chunks only" patch-from bsdiff+xz "full zstd" patched
tq=0 tc=0 tz=0 tb=0 tf=0
prev=${versions[0]}
for v in "${versions[@]:1}"; do
  release "$v"
  out=$("$quince" update --json --no-mdns 2>/dev/null)
  c=$("$QUINCE_PACKAGER" diff --store store --json "m-$prev.bin" "m-$v.bin" | python3 -c 'import json,sys; print(json.load(sys.stdin)["download_without_deltas"])')
  q=$(echo "$out" | downloaded)
  p=$(echo "$out" | patched)
  zstd -q -19 --long=31 --patch-from="src-$prev/bin/ruff" "src-$v/bin/ruff" -o patch.zst -f 2>/dev/null
  z=$(stat -c %s patch.zst)
  zstd -q -19 "src-$v/bin/ruff" -o full.zst -f
  f=$(stat -c %s full.zst)
  bsdiff "src-$prev/bin/ruff" "src-$v/bin/ruff" bs.patch && xz -9 -k -f bs.patch
  b=$(stat -c %s bs.patch.xz)
  printf '%-18s %12d %12d %12d %12d %12d %8s\n' "$prev -> $v" "$q" "$c" "$z" "$b" "$f" "$p"
  tq=$((tq + q)) tc=$((tc + c)) tz=$((tz + z)) tb=$((tb + b)) tf=$((tf + f))
  prev=$v
done
printf '%-18s %12d %12d %12d %12d %12d\n' total "$tq" "$tc" "$tz" "$tb" "$tf"
python3 -c "print(f'ratio to patch-from: quince {$tq/$tz:.2f}x, chunks only {$tc/$tz:.2f}x, bsdiff+xz {$tb/$tz:.2f}x, full zstd -19 {$tf/$tz:.2f}x')"
