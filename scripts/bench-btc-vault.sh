# Sourced by the Bitcoin benchmarks (bench-bitcoin.sh, bench-batch.sh): the 2-of-3 P2WSH wallet of
# ../shared/bench/psbt-sign as an Airlock vault named "bench". Three signers hold the fixture's
# seeds (cosigner i: SHA-256 of "seed<i>"); cosigner 0's keystore uses the default Argon2id
# parameters, the others the fast test ones. The caller sets AIRLOCK and SIGNER (binaries).
#   bench_vault DIR RULE   -> DIR/coordinator, DIR/s0..s2 (+ .pass), vault registered on s0;
#                             prints s0's registration line.

bench_json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)[\"$1\"])"; }

bench_vault() {
  local D=$1 RULE=$2 i kdf DESC
  local KEYS=()
  "$AIRLOCK" --home "$D/coordinator" init --origin bench.airlock/log >/dev/null
  for i in 0 1 2; do
    printf 'benchmark passphrase %s\n' "$i" > "$D/s$i.pass"
    kdf=insecure-fast; [ "$i" = 0 ] && kdf=default   # cosigner 0 unlocks at the real parameters
    "$SIGNER" --home "$D/s$i" --passphrase-file "$D/s$i.pass" init --name "s$i" --kdf "$kdf" >/dev/null
    python3 -c "import hashlib; print(hashlib.sha256(b'seed$i').hexdigest())" > "$D/s$i.seed"
    KEYS+=("$("$SIGNER" --home "$D/s$i" --passphrase-file "$D/s$i.pass" --json key add --chain bitcoin \
      --secret-file "$D/s$i.seed" --network regtest | bench_json_field multisig_key)")
  done
  local ids=()
  for i in 0 1 2; do
    ids+=("$("$SIGNER" --home "$D/s$i" --json id | bench_json_field identity)")
  done
  DESC=$("$AIRLOCK" --home "$D/coordinator" --json btc descriptor --threshold 2 --network regtest \
    --key "${KEYS[0]}" --key "${KEYS[1]}" --key "${KEYS[2]}" | bench_json_field descriptor)
  "$AIRLOCK" --home "$D/coordinator" vault draft --vault bench --chain bitcoin --network regtest --account "$DESC" \
    --signer "s0:ops:${ids[0]}:${KEYS[0]}" --signer "s1:ops:${ids[1]}:${KEYS[1]}" --signer "s2:ops:${ids[2]}:${KEYS[2]}" \
    --threshold 2 --rule "$RULE" --out "$D/v1.draft" >/dev/null
  for i in 0 1 2; do
    "$SIGNER" --home "$D/s$i" --passphrase-file "$D/s$i.pass" vault sign "$D/v1.draft" --out "$D/v1.s$i" --yes >/dev/null
  done
  "$AIRLOCK" --home "$D/coordinator" vault submit "$D/v1.s0" "$D/v1.s1" "$D/v1.s2" >/dev/null
  "$AIRLOCK" --home "$D/coordinator" vault show bench --out "$D/v1.airlock" >/dev/null
  "$SIGNER" --home "$D/s0" vault register "$D/v1.airlock" | head -n 1
}
