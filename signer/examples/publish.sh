#!/usr/bin/env bash
# Any change to the log after five-keyholders.sh, signed and published: the
# publisher runs one `quince-packager` command that stages an entry (release,
# promote, rollout, halt), three of the current keyholders (WORKDIR/members,
# first three) sign the checkpoint, and the publisher publishes it.
#
#   bash signer/examples/publish.sh WORKDIR PACKAGER-COMMAND [ARGS...]
#   bash signer/examples/publish.sh w release --manifest m.bin --version 2.0.0-beta.1 --platform any --channel beta
#   bash signer/examples/publish.sh w promote --version 2.0.0-beta.1
#   bash signer/examples/publish.sh w rollout --version 2.1.0 50
#   bash signer/examples/publish.sh w halt --version 2.1.0
set -euo pipefail
cd "$(dirname "$0")/../.."
examples="$PWD/signer/examples"
work="${1:?usage: publish.sh WORKDIR PACKAGER-COMMAND [ARGS...]}"
shift
[ $# -gt 0 ] || { echo "usage: publish.sh WORKDIR PACKAGER-COMMAND [ARGS...]" >&2; exit 2; }
source "$examples/common.sh"
cd "$work"
[ -s members ] || echo "ana bo cy di ed" > members
read -r -a members <<<"$(cat members)"

packager "$@" | sed -n 1p
n=$(find . -maxdepth 1 -name 'round-checkpoint-step-*' | wc -l)
body="checkpoint-step-$n.body"
cp log/pending/checkpoint.body "$body"
sign root.bin checkpoint "$body" "checkpoint-step-$n" "${members[@]:0:3}"
packager publish --log log "checkpoint-step-$n" | sed -n 1p
