# Shared by rotation.sh and release.sh (sourced, not run): the binaries, the
# demo passphrase, and one signing round by three keyholders.

if [ -z "${QUINCE_SIGNER:-}" ] || [ -z "${QUINCE_PACKAGER:-}" ]; then
  cargo build -q -p quince-signer -p quince-packager
  QUINCE_SIGNER="$PWD/target/debug/quince-signer"
  QUINCE_PACKAGER="$PWD/target/debug/quince-packager"
fi
signer() { "$QUINCE_SIGNER" "$@"; }
packager() { "$QUINCE_PACKAGER" "$@"; }
# Each keyholder would type their own passphrase at a prompt; here it comes from
# the environment. QUINCE_DANGER_FAST_KDF=1 makes scrypt cheap: demo only.
export QUINCE_PASSPHRASE="demo passphrase" QUINCE_DANGER_FAST_KDF=1

# sign ROOT REQUEST-ARGS OUT WHO WHO WHO: the coordinator writes a request
# (`sign request --checkpoint BODY` or `sign rotation-request ...`), three
# keyholders commit and respond, and the coordinator aggregates into OUT.
sign() {
  local root=$1 kind=$2 input=$3 out=$4
  shift 4
  local round="round-$(basename "$out")"
  rm -rf "$round" && mkdir -p "$round/commits" "$round/shares"
  if [ "$kind" = rotation ]; then
    signer sign rotation-request --new-root "$root" --app "$input" --out "$round/request.json" >/dev/null
  else
    # What the checkpoint adds, so that keyholders see the releases they sign.
    local since=()
    [ -f log/pending/since.json ] && since=(--since log/pending/since.json)
    signer sign request --root "$root" --checkpoint "$input" "${since[@]}" --out "$round/request.json" >/dev/null
  fi
  for who in "$@"; do
    signer --home "homes/$who" sign commit --yes --request "$round/request.json" --out "$round/commits" >/dev/null
  done
  signer sign package --root "$root" --request "$round/request.json" --out "$round/package.json" "$round/commits" >/dev/null
  for who in "$@"; do
    signer --home "homes/$who" sign respond --package "$round/package.json" --out "$round/shares" >/dev/null
  done
  signer sign aggregate --root "$root" --package "$round/package.json" --out "$out" "$round/shares" | tail -n 1
}
