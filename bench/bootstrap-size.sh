#!/usr/bin/env bash
# Size of the end-user bootstrap binary (x86_64 Linux, stripped, `bootstrap`
# profile: opt-level z, fat LTO, one codegen unit, panic=abort), against the
# 4 MiB budget and against the full `quince` client built the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --profile bootstrap -p quince-bootstrap
cargo build -q --profile bootstrap -p quince-updater --bin quince
b=$(stat -c %s target/bootstrap/quince-bootstrap)
q=$(stat -c %s target/bootstrap/quince)
budget=$((4 * 1024 * 1024))
echo "quince-bootstrap: $b bytes ($(python3 -c "print(f'{$b/1048576:.2f}')") MiB), $(python3 -c "print(f'{100*$b/$budget:.0f}')")% of the 4 MiB budget"
echo "quince (full client, same profile): $q bytes ($(python3 -c "print(f'{$q/1048576:.2f}')") MiB); the bootstrap is $(python3 -c "print(f'{$b/$q:.2f}')")x of it"
