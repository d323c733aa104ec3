#!/usr/bin/env bash
# Fresh install of a many-file tree (issue 19, item 3): the packager
# benches' deterministic tree (bench/gen-tree.py: 2,000 text files of ~9 KiB
# and 6 binary-like files of 14 MiB, 108 MiB) from one seeder on loopback,
# verified and unpacked into a fresh store (examples/fetch_bench --tree),
# against `curl | zstd -d | tar x` from a local nginx serving the same tree
# as one tar.zst (zstd level 1, the level fetch_bench builds at), plus
# `sha256sum` of every file and a `sync`. Three runs each, interleaved;
# Quince twice per run: unpacking after the fetch, and while chunks arrive.
# With TREE=small, the tree is 20,000 text files of 100 bytes to 3 KiB.
# Each side of each run writes to a freshly made ext4 filesystem (a loop
# image, as root): on a filesystem where 20,000 files were just deleted,
# ext4's search for free inodes made either side up to ten times slower,
# from one run to the next. Without root, both write under /tmp.
# With RATE=BYTES_PER_SECOND, the seeder's uploads and curl's download are
# limited to that rate (a link slower than the disk: where unpacking while
# chunks arrive should hide the unpack, as the baseline's pipe does).
# Usage: bash bench/install-tree.sh   (installs nginx, curl and zstd if missing)
set -euo pipefail
[ -f Cargo.toml ] && [ -d updater ] || cd "$(dirname "$0")/.."
need=()
command -v nginx >/dev/null || need+=(nginx-light)
command -v curl >/dev/null || need+=(curl)
command -v zstd >/dev/null || need+=(zstd)
if [ ${#need[@]} -gt 0 ]; then apt-get update -q && apt-get install -y -q "${need[@]}" >/dev/null; fi
cargo build -q --release -p quince-updater --example fetch_bench
bench="$PWD/target/release/examples/fetch_bench"
work="$(mktemp -d)"
cleanup() {
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null
  mountpoint -q "$work/fs" && umount "$work/fs"
  rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work"
fs="$work/fs"
mkdir "$fs"
fresh_fs() {
  if [ "$(id -u)" = 0 ] && command -v mkfs.ext4 >/dev/null; then
    mountpoint -q "$fs" && umount "$fs"
    rm -f "$work/fs.img"; truncate -s 4G "$work/fs.img"
    mkfs.ext4 -q -F "$work/fs.img" && mount -o loop "$work/fs.img" "$fs"
  else
    rm -rf "${fs:?}"/*
  fi
  sync
}
python3 "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/gen-tree.py" "$work/tree" ${TREE:-}
mkdir -p "$work/www"
tar cf - -C "$work/tree" . | zstd -q -1 -T0 > "$work/www/tree.tar.zst"
echo "tree: $(find "$work/tree" -type f | wc -l) files, $(du -sm "$work/tree" | cut -f1) MiB; tar.zst $(du -m "$work/www/tree.tar.zst" | cut -f1) MiB"
cat > "$work/nginx.conf" <<CONF
daemon on; pid $work/nginx.pid; error_log $work/error.log; worker_processes 1;
events {}
http { access_log off; sendfile on; server { listen 127.0.0.1:18082; root $work/www; } }
CONF
nginx -c "$work/nginx.conf"
sleep 0.5
# Each run: the baseline, then Quince unpacking after the fetch (A, the way
# before issue 19's overlap), then Quince unpacking while chunks arrive (B,
# what an install does); each on a fresh filesystem.
a_sum=0; q_sum=0; h_sum=0
for i in 1 2 3; do
  fresh_fs; mkdir "$fs/out"
  t0=$(date +%s.%N)
  curl -sSf ${RATE:+--limit-rate "$RATE"} http://127.0.0.1:18082/tree.tar.zst | zstd -q -d | tar x -C "$fs/out"
  find "$fs/out" -type f -print0 | xargs -0 sha256sum >/dev/null
  sync
  t1=$(date +%s.%N)
  http=$(python3 -c "print(f'{$t1-$t0:.3f}')")
  fresh_fs
  after=$(TMPDIR="$fs" "$bench" --tree "$work/tree" --seeders 1 ${RATE:+--rate "$RATE"} --unpack-after)
  fresh_fs
  quince=$(TMPDIR="$fs" "$bench" --tree "$work/tree" --seeders 1 ${RATE:+--rate "$RATE"})
  a_sum=$(python3 -c "print($a_sum+$after)")
  q_sum=$(python3 -c "print($q_sum+$quince)"); h_sum=$(python3 -c "print($h_sum+$http)")
  echo "run $i: curl | zstd -d | tar x + sha256sum + sync ${http} s; quince unpacking after the fetch ${after} s ($(python3 -c "print(f'{$after/$http:.2f}')")x), while chunks arrive ${quince} s ($(python3 -c "print(f'{$quince/$http:.2f}')")x)"
done
echo "mean: baseline $(python3 -c "print(f'{$h_sum/3:.3f}')") s; unpack after $(python3 -c "print(f'{$a_sum/3:.3f}')") s ($(python3 -c "print(f'{$a_sum/$h_sum:.2f}')")x); while arriving $(python3 -c "print(f'{$q_sum/3:.3f}')") s ($(python3 -c "print(f'{$q_sum/$h_sum:.2f}')")x); while/after $(python3 -c "print(f'{$q_sum/$a_sum:.2f}')")x"
