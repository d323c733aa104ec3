#!/usr/bin/env bash
# A signer rotation, runnable: a keyholder LOST their laptop (and share); the
# four others and a NEW keyholder make a new 3-of-5 key for the same app; the
# new group signs its new root; the publisher appends the rotation with
# `quince-packager rotate`; three of the OLD keyholders sign the checkpoint
# that contains it; from then on only the new group's checkpoints count.
# The app id and link do not change.
#
#   bash signer/examples/rotation.sh WORKDIR [LOST NEW]     (default: di fy)
#
# WORKDIR is where signer/examples/five-keyholders.sh ran (run first if it
# has no log yet). The current keyholders are listed in WORKDIR/members (the
# five of five-keyholders.sh until a rotation rewrites it) and the current
# root is WORKDIR/root.bin; both are updated at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
examples="$PWD/signer/examples"
work="${1:?usage: rotation.sh WORKDIR [LOST NEW]}"
lost="${2:-di}" new="${3:-fy}"
[ -s "$work/log/checkpoint" ] || bash "$examples/five-keyholders.sh" "$work" >/dev/null
source "$examples/common.sh"
cd "$work"
[ -s members ] || echo "ana bo cy di ed" > members
read -r -a old <<<"$(cat members)"
remaining=()
for who in "${old[@]}"; do [ "$who" = "$lost" ] || remaining+=("$who"); done
if [ "${#remaining[@]}" -ne 4 ]; then
  echo "rotation.sh: $lost is not one of the keyholders (${old[*]})" >&2
  exit 2
fi
# The app id is the log's (its origin line): after a rotation, root.bin is
# the new group's root, whose own hash is not the app id.
app=$(head -n 1 log/checkpoint | sed 's|^quince.app/||')
n=$(find . -maxdepth 1 -type d -name 'rotation-*' | wc -l)
dir="rotation-$((n + 1))"
mkdir -p "$dir/outbox"

echo "== 1. $lost lost their share; $new joins with a new identity"
signer --home "homes/$new" init --name "$new" | tail -n 1
cp "homes/$new/card.json" "card-$new.json"
members=("${remaining[@]}" "$new")
cards=()
for who in "${members[@]}"; do cards+=("card-$who.json"); done

echo "== 2. the new five (${members[*]}) make a roster for a NEW key of app $app"
signer roster --app-name "Example App" --threshold 3 --rotates-app "$app" --out "$dir/roster.json" "${cards[@]}"

echo "== 3. key generation as for the first key: rounds 1, 2, finish"
for who in "${members[@]}"; do signer --home "homes/$who" dkg round1 --roster "$dir/roster.json" --out "$dir/outbox" >/dev/null; done
for who in "${members[@]}"; do signer --home "homes/$who" dkg round2 --roster "$dir/roster.json" --out "$dir/outbox" "$dir"/outbox/round1-*.json >/dev/null; done
for who in "${members[@]}"; do
  signer --home "homes/$who" dkg finish --roster "$dir/roster.json" --root-out "$dir/root-$who.bin" "$dir"/outbox/round2-*.json > "$dir/finish-$who.txt"
done
cat "$dir/finish-${members[0]}.txt"
for who in "${members[@]}"; do cmp "$dir/root-${members[0]}.bin" "$dir/root-$who.bin"; done
cp "$dir/root-${members[0]}.bin" "$dir/root-new.bin"

echo "== 4. three of the NEW keyholders sign their new root: the rotation entry"
sign "$dir/root-new.bin" rotation "$app" "$dir/rotation.entry" "${members[@]:2:3}"

echo "== 5. the publisher appends it; three of the OLD keyholders sign that checkpoint"
packager rotate --log log --entry "$dir/rotation.entry"
cp log/pending/checkpoint.body "$dir/rotation.body"
sign root.bin checkpoint "$dir/rotation.body" "$dir/rotation.checkpoint" "${remaining[@]:0:3}"
packager publish --log log "$dir/rotation.checkpoint"

echo "== 6. from now on the new key signs"
cp root.bin "$dir/root-old.bin"
cp "$dir/root-new.bin" root.bin
echo "${members[*]}" > members
signer inspect root.bin | grep -i fingerprint
echo "rotation done in $work/$dir"
