#!/usr/bin/env bash
# The README's keyholder walk-through, runnable: five keyholders (each with their
# own home folder, as if on five machines) generate a 3-of-5 key with no dealer;
# the publisher builds release 1.0.0 of a small app with quince-packager; three
# keyholders sign its checkpoint and the publisher publishes it. Files are passed
# by copying them into a shared "outbox" folder, which stands for USB sticks,
# mail or chat.
#
#   bash signer/examples/five-keyholders.sh [WORKDIR]
#
# QUINCE_SIGNER and QUINCE_PACKAGER (the binaries) default to `cargo build`s.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${QUINCE_SIGNER:-}" ] || [ -z "${QUINCE_PACKAGER:-}" ]; then
  cargo build -q -p quince-signer -p quince-packager
  QUINCE_SIGNER="$PWD/target/debug/quince-signer"
  QUINCE_PACKAGER="$PWD/target/debug/quince-packager"
fi
work="${1:-$(mktemp -d)}"
mkdir -p "$work" && cd "$work"
signer() { "$QUINCE_SIGNER" "$@"; }
packager() { "$QUINCE_PACKAGER" "$@"; }
# Each keyholder would type their own passphrase at a prompt; here it comes from
# the environment. QUINCE_DANGER_FAST_KDF=1 makes scrypt cheap: demo only.
export QUINCE_PASSPHRASE="demo passphrase" QUINCE_DANGER_FAST_KDF=1

echo "== 1. each keyholder creates an identity and shares their card"
for who in ana bo cy di ed; do
  signer --home "homes/$who" init --name "$who" | tail -n 1
  cp "homes/$who/card.json" "card-$who.json"
done

echo "== 2. someone puts the cards in order; everyone checks the roster hash"
signer roster --app-name "Example App" --threshold 3 --out roster.json card-ana.json card-bo.json card-cy.json card-di.json card-ed.json

echo "== 3. key generation, round 1 (broadcast)"
mkdir -p outbox
for who in ana bo cy di ed; do signer --home "homes/$who" dkg round1 --roster roster.json --out outbox | sed -n 1p; done

echo "== 4. round 2 (one encrypted message per recipient)"
for who in ana bo cy di ed; do signer --home "homes/$who" dkg round2 --roster roster.json --out outbox outbox/round1-*.json >/dev/null; done
ls outbox | grep -c round2 | sed 's/^/round-2 messages: /'

echo "== 5. finish: everyone gets their share and the same root"
for who in ana bo cy di ed; do signer --home "homes/$who" dkg finish --roster roster.json --root-out "root-$who.bin" outbox/round2-*.json | grep fingerprint; done
for who in bo cy di ed; do cmp root-ana.bin "root-$who.bin"; done
cp root-ana.bin root.bin
signer inspect root.bin

echo "== 6. each keyholder writes down a 24-word backup (shown for ana only)"
signer --home homes/ana backup --root root.bin 2>/dev/null | wc -w | sed 's/^/words: /'

echo "== 7. the publisher builds release 1.0.0 and asks for a signature on its checkpoint"
mkdir -p app/bin && printf '#!/bin/sh\necho hello from 1.0.0\n' > app/bin/hello && chmod +x app/bin/hello
packager init --root root.bin --log log
packager build app --store store --out manifest.bin
packager release --manifest manifest.bin --version 1.0.0 --platform any | sed -n 1p
cp log/pending/checkpoint.body checkpoint.body
signer sign request --root root.bin --checkpoint checkpoint.body --out request.json

echo "== 8. three keyholders (ana, cy, ed) read it and commit"
mkdir -p commits shares
for who in ana cy ed; do signer --home "homes/$who" sign commit --yes --request request.json --out commits | tail -n 1; done

echo "== 9. the coordinator makes the signing package; the three sign it"
signer sign package --root root.bin --request request.json --out package.json commits
for who in ana cy ed; do signer --home "homes/$who" sign respond --package package.json --out shares; done

echo "== 10. the coordinator aggregates: one Ed25519 signature, checked"
signer sign aggregate --root root.bin --package package.json --out checkpoint shares
cat checkpoint
signer transcript --root root.bin checkpoint.transcript.json
packager publish --log log checkpoint   # publishes checkpoint.transcript.json with it
test -s log/transcripts/1.json   # auditors find who signed next to the log

echo "== 11. anyone can check it with OpenSSL"
group=$(signer inspect --json root.bin | sed 's/.*"group_key":"\([0-9a-f]*\)".*/\1/')
tail -n 1 checkpoint | awk '{print $3}' | base64 -d | tail -c 64 > sig
printf '302a300506032b6570032100%s' "$group" | perl -ne 'print pack("H*", $_)' > pub.der
openssl pkeyutl -verify -pubin -keyform DER -inkey pub.der -rawin -in checkpoint.body -sigfile sig
echo "walk-through done in $work"
