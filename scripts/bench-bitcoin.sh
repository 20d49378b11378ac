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
# The benchmark wallet as an Airlock vault: three signers with the fixture's seeds.
. scripts/bench-btc-vault.sh
bench_vault "$W" "all: => 2 ops"

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
