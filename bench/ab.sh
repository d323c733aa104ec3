#!/usr/bin/env bash
# Runs a benchmark script on another commit (A) and on this checkout (B),
# interleaved A, B, A, B, ... so that a noisy machine hits both sides alike.
# A is checked out in a temporary git worktree (built from scratch there).
# Usage: bash bench/ab.sh REV ROUNDS SCRIPT [ARGS ...]
#   e.g. bash bench/ab.sh ab02420 2 bench/swarm.sh 1 20 40
# SCRIPT is a path inside the checkout (each side runs its own copy);
# AB_BENCH=here copies this checkout's bench/ into A's worktree first, so
# that both sides run the same scripts (a script newer than REV).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 3 ]; then
  echo "usage: bash bench/ab.sh REV ROUNDS SCRIPT [ARGS ...]" >&2
  exit 2
fi
rev=$1 rounds=$2
shift 2
here=$PWD
wt="$(mktemp -d)/quince-a"
git worktree add -q --detach "$wt" "$rev"
trap 'git -C "$here" worktree remove --force "$wt"' EXIT
[ "${AB_BENCH:-}" = here ] && cp -r "$here/bench/." "$wt/bench/"
for round in $(seq "$rounds"); do
  for side in A B; do
    dir=$here
    [ "$side" = A ] && dir=$wt
    echo "== round $round side $side ($(git -C "$dir" log --oneline -1 | cut -c1-7))"
    (cd "$dir" && bash "$@")
  done
done
