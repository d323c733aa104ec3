#!/usr/bin/env bash
# One more release after five-keyholders.sh (and any rotation.sh): the
# publisher builds VERSION of the small app, three of the current keyholders
# (WORKDIR/members, first three) sign its checkpoint with the current root
# (WORKDIR/root.bin), and the publisher publishes it.
#
#   bash signer/examples/release.sh WORKDIR VERSION
set -euo pipefail
cd "$(dirname "$0")/../.."
examples="$PWD/signer/examples"
work="${1:?usage: release.sh WORKDIR VERSION}"
version="${2:?usage: release.sh WORKDIR VERSION}"
source "$examples/common.sh"
cd "$work"
[ -s members ] || echo "ana bo cy di ed" > members
read -r -a members <<<"$(cat members)"

echo "== release $version, signed by ${members[*]:0:3}"
printf '#!/bin/sh\necho hello from %s\n' "$version" > app/bin/hello
packager build app --store store --out "manifest-$version.bin" >/dev/null
packager release --manifest "manifest-$version.bin" --version "$version" --platform any | sed -n 1p
cp log/pending/checkpoint.body "checkpoint-$version.body"
sign root.bin checkpoint "checkpoint-$version.body" "checkpoint-$version" "${members[@]:0:3}"
packager publish --log log "checkpoint-$version" | sed -n 1p
