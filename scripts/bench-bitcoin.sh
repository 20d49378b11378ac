#!/usr/bin/env bash
# The Bitcoin signing benchmark of issue 4, side by side with the peers in one run:
# `airlock-signer psbt sign` (release build, default Argon2id keystore) adds cosigner 0's
# signatures to the Electrum-made 1,000-input (and 100-input) 2-of-3 P2WSH PSBTs of
# ../shared/bench/psbt-sign, given that wallet registered as an Airlock vault; Electrum 4.3.4 and
# bdkpython 3.1.1 sign the same files in the same run (scripts/peers/bitcoin/bench_peers.py), and
# every signer's signatures are compared with Electrum's byte for byte.
# Prints: whole-process CPU time per signer (medians), and Airlock's own phase split with the
# keystore unlock reported separately.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${AIRLOCK_PSBT_BENCH_DIR:-../shared/bench/psbt-sign}
RUNS=${RUNS:-5}
bash scripts/install-bitcoin-peers.sh
cargo build --release --quiet -p airlock -p airlock-signer
AIRLOCK="$PWD/target/release/airlock"
SIGNER="$PWD/target/release/airlock-signer"
W=$(mktemp -d "${TMPDIR:-/tmp}/airlock-btc-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)[\"$1\"])"; }

# The benchmark wallet as an Airlock vault: three signers with the fixture's seeds.
"$AIRLOCK" --home "$W/coordinator" init --origin bench.airlock/log >/dev/null
KEYS=()
for i in 0 1 2; do
  printf 'benchmark passphrase %s\n' "$i" > "$W/s$i.pass"
  kdf=insecure-fast; [ "$i" = 0 ] && kdf=default   # cosigner 0 unlocks at the real parameters
  "$SIGNER" --home "$W/s$i" --passphrase-file "$W/s$i.pass" init --name "s$i" --kdf "$kdf" >/dev/null
  python3 -c "import hashlib; print(hashlib.sha256(b'seed$i').hexdigest())" > "$W/s$i.seed"
  KEYS+=("$("$SIGNER" --home "$W/s$i" --passphrase-file "$W/s$i.pass" --json key add --chain bitcoin \
    --secret-file "$W/s$i.seed" --network regtest | json_field multisig_key)")
done
ID() { "$SIGNER" --home "$W/$1" --json id | json_field identity; }
DESC=$("$AIRLOCK" --home "$W/coordinator" --json btc descriptor --threshold 2 --network regtest \
  --key "${KEYS[0]}" --key "${KEYS[1]}" --key "${KEYS[2]}" | json_field descriptor)
"$AIRLOCK" --home "$W/coordinator" vault draft --vault bench --chain bitcoin --network regtest --account "$DESC" \
  --signer "s0:ops:$(ID s0):${KEYS[0]}" --signer "s1:ops:$(ID s1):${KEYS[1]}" --signer "s2:ops:$(ID s2):${KEYS[2]}" \
  --threshold 2 --rule "all: => 2 ops" --out "$W/v1.draft" >/dev/null
for i in 0 1 2; do
  "$SIGNER" --home "$W/s$i" --passphrase-file "$W/s$i.pass" vault sign "$W/v1.draft" --out "$W/v1.s$i" --yes >/dev/null
done
"$AIRLOCK" --home "$W/coordinator" vault submit "$W/v1.s0" "$W/v1.s1" "$W/v1.s2" >/dev/null
"$AIRLOCK" --home "$W/coordinator" vault show bench --out "$W/v1.airlock" >/dev/null
"$SIGNER" --home "$W/s0" vault register "$W/v1.airlock" | head -n 1

echo "== Airlock's phases (psbt_1000, $RUNS runs): wall and CPU ms, unlock separate =="
for _ in $(seq "$RUNS"); do
  "$SIGNER" --home "$W/s0" --passphrase-file "$W/s0.pass" --json psbt sign "$BENCH/psbt_1000.b64" \
    --vault bench --out "$W/airlock_1000.psbt" --yes | tr -d '\n'
  echo
done > "$W/phases.jsonl"
python3 - "$W/phases.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
med = statistics.median
phases = {}
for r in runs:
    for p in r["phases"]:
        phases.setdefault(p["phase"], []).append((p["wall_ms"], p["cpu_ms"]))
rows = [(name, [a for a, _ in xs], [b for _, b in xs]) for name, xs in phases.items()]
rows.append(("beyond unlock", [r["total_beyond_unlock"]["wall_ms"] for r in runs], [r["total_beyond_unlock"]["cpu_ms"] for r in runs]))
rows.append(("unlock", [r["unlock"]["wall_ms"] for r in runs], [r["unlock"]["cpu_ms"] for r in runs]))
for name, wall, cpu in rows:
    print("  %-14s wall %7.1f ms  cpu %7.1f ms" % (name, med(wall), med(cpu)))
print("  signatures added:", runs[0]["signatures"])
PY

echo "== whole processes side by side (CPU s, medians of $RUNS; signatures vs Electrum) =="
AIRLOCK_PSBT_BENCH_DIR="$BENCH" python3 scripts/peers/bitcoin/bench_peers.py --sizes 100,1000 --runs "$RUNS" \
  --peers electrum,bdk \
  --extra "airlock-signer=$SIGNER --home $W/s0 --passphrase-file $W/s0.pass psbt sign {in} --vault bench --out {out} --yes"
