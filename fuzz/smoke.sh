#!/usr/bin/env bash
# Runs every fuzz target for a short while (FUZZ_SECONDS each, default 10) from
# its committed seed corpus. CI runs this as a smoke test; set FUZZ_SECONDS=600
# or more for a real campaign. New corpus entries and crashes stay in
# fuzz/corpus and fuzz/artifacts (ignored by git except the seed-* files).
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-10}"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

# cargo-fuzz wants nightly for sanitizers. Use it when installed; otherwise use
# the stable toolchain with nightly flags unlocked and no sanitizer (coverage
# guidance still works, memory errors are impossible anyway: no unsafe code).
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  run=(cargo +nightly fuzz run)
  build=(cargo +nightly fuzz build)
else
  export RUSTC_BOOTSTRAP=1
  run=(cargo fuzz run --sanitizer none)
  build=(cargo fuzz build --sanitizer none)
fi

"${build[@]}"
for target in $(cargo fuzz list); do
  echo "fuzz: $target for ${seconds}s"
  "${run[@]}" "$target" "corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 2>&1 | tail -n 3
done
echo "fuzz: all targets ran ${seconds}s each with no crash"
