#!/usr/bin/env bash
# Batch decisions (issue 18, item 1), measured end to end on real homes (release build):
# a 2-of-3 P2WSH Bitcoin vault (the keys of ../shared/bench/psbt-sign) funded by hand with N
# coins, N single-input proposals made by the coordinator, exported as one batch
# (`airlock export --open`), and cosigner 0 deciding the whole batch in one session
# (`airlock-signer approve BATCH`, keystore at the default Argon2id parameters). The figure it is
# held to, printed side by side from the same run: the pure signing cost of the same number of
# decisions — N low-R ECDSA signatures (libsecp256k1, what each input needs) plus N Ed25519
# signatures (the identity signature of each decision) — timed in one process
# (`raw_sign_figure`). Prints the signer's phases and the session beyond the unlock (with
# --yes and a passphrase file the unlock runs beside the review), to set against that cost.
#   N=1000 RUNS=3 ./scripts/bench-batch.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000}
RUNS=${RUNS:-3}
cargo build --release --quiet -p airlock -p airlock-signer
cargo build --release --quiet -p airlock-chain-bitcoin --example raw_sign_figure
AIRLOCK="$PWD/target/release/airlock"
SIGNER="$PWD/target/release/airlock-signer"
FIGURE="$PWD/target/release/examples/raw_sign_figure"
W=$(mktemp -d "${TMPDIR:-/tmp}/airlock-batch-bench.XXXXXX")
[ -n "${KEEP:-}" ] && echo "keeping $W" || trap 'rm -rf "$W"' EXIT
. scripts/bench-btc-vault.sh
json_field() { bench_json_field "$@"; }

setup() {  # $1: directory of one run
  local D=$1
  bench_vault "$D" "all: expiry=24h => 2 ops" >/dev/null
  # N coins of 100,000 sat to the vault's first address, ten per funding transaction (each
  # input of a proposal carries its whole previous transaction).
  local SPK t
  SPK=$("$AIRLOCK" --home "$D/coordinator" --json btc receive --vault bench | json_field script_pubkey)
  python3 - "$SPK" "$N" "$D" <<'PY'
import struct, sys
spk, n, d = bytes.fromhex(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def varint(v):
    return bytes([v]) if v < 0xfd else b"\xfd" + struct.pack("<H", v)
for t in range((n + 9) // 10):
    outs = min(10, n - 10 * t)
    tx = struct.pack("<i", 2) + varint(1) + struct.pack("<I", t) * 8 + struct.pack("<I", 0) + varint(0) + struct.pack("<I", 0xffffffff)
    tx += varint(outs) + b"".join(struct.pack("<q", 100_000) + varint(len(spk)) + spk for _ in range(outs))
    tx += struct.pack("<I", 0)
    open(f"{d}/funding-{t}.hex", "w").write(tx.hex())
PY
  for t in "$D"/funding-*.hex; do
    "$AIRLOCK" --home "$D/coordinator" btc add-tx --vault bench "@$t" --height 100 >/dev/null
  done
  local k
  for k in $(seq "$N"); do
    "$AIRLOCK" --home "$D/coordinator" propose --vault bench \
      --to "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080:$((50000 + k))" >/dev/null
  done
  "$AIRLOCK" --home "$D/coordinator" export --open bench --out "$D/batch" >/dev/null
}

echo "== batch of $N single-input Bitcoin proposals, $RUNS run(s); load $(cut -d' ' -f1-3 /proc/loadavg) =="
for r in $(seq "$RUNS"); do
  D="$W/run$r"; mkdir -p "$D"
  start=$(date +%s)
  setup "$D"
  echo "run $r: set up in $(( $(date +%s) - start )) s ($(stat -c %s "$D/batch") byte batch)"
  "$FIGURE" "$N"
  /usr/bin/time -f "process: %e s wall, %U s user, %S s sys, %M KiB" \
    "$SIGNER" --home "$D/s0" --passphrase-file "$D/s0.pass" --json approve "$D/batch" \
    --out "$D/decisions" --yes > "$D/approve.json"
  python3 - "$D/approve.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t = r["timing_ms"]
beside = " (beside the review)" if t.get("unlock_beside_review") else ""
print(f"airlock-signer approve: {r['items']} decisions; review {t['review']} ms, unlock {t['unlock']} ms{beside}, "
      f"sign and record {t['decide_and_record']} ms; session beyond the unlock {t['beyond_unlock']} ms "
      f"(review + sign and record one after another: {t['review'] + t['decide_and_record']:.1f} ms)")
PY
  "$AIRLOCK" --home "$D/coordinator" submit "$D/decisions" > /dev/null
  echo "coordinator accepted the decision batch"
done
