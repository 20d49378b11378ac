#!/usr/bin/env bash
# Durable transitions per second with 1, 4 and 8 concurrent CLI writers on one coordinator home.
#
# Each writer is a loop of `airlock propose` processes (release build, decision-only vault): a
# process start, the home lock, one BEGIN IMMEDIATE transaction with synchronous=FULL commit, and
# the bundle file written with fsync and rename. Every run starts from a fresh home holding
# PRELOAD proposals, so later runs do not pay for earlier ones. Prints one line per writer count
# and a JSON summary (--json).
#
# Usage: scripts/bench-writers.sh [TRANSITIONS_PER_RUN (default 240)] [--json]
set -euo pipefail
cd "$(dirname "$0")/.."
total=${1:-240}
json=false
for a in "$@"; do [ "$a" = "--json" ] && json=true; done
[[ "$total" =~ ^[0-9]+$ ]] || total=240

cargo build --release --quiet --bin airlock --bin airlock-signer
airlock=$PWD/target/release/airlock
signer=$PWD/target/release/airlock-signer
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

setup() {
  local home=$1
  "$airlock" --home "$home" init --origin bench.airlock/log >/dev/null
  printf 'bench passphrase\n' >"$work/pass"
  if [ ! -d "$work/alice" ]; then
    "$signer" --home "$work/alice" --passphrase-file "$work/pass" init --name alice --kdf insecure-fast >/dev/null
  fi
  local key
  key=$("$signer" --home "$work/alice" --json id | python3 -c 'import json,sys; print(json.load(sys.stdin)["identity"])')
  "$airlock" --home "$home" vault draft --vault bench --signer "alice:ops:$key" --threshold 1 \
    --rule 'all: => 1 ops' --out "$home.draft" >/dev/null
  "$signer" --home "$work/alice" --passphrase-file "$work/pass" vault sign "$home.draft" --out "$home.signed" --yes >/dev/null
  "$airlock" --home "$home" vault submit "$home.signed" >/dev/null
}

writer() {
  local home=$1 n=$2 count=$3
  for ((i = 0; i < count; i++)); do
    "$airlock" --home "$home" propose --vault bench --to "payee-$n:$((i + 1))" --out "$work/w$n-$i.bundle" >/dev/null 2>&1
  done
}

results=()
for writers in 1 4 8; do
  home=$work/coord-$writers
  setup "$home"
  per=$((total / writers))
  start=$(date +%s.%N)
  pids=()
  for ((n = 0; n < writers; n++)); do
    writer "$home" "$n" "$per" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  end=$(date +%s.%N)
  done_count=$((per * writers))
  "$airlock" --home "$home" log verify >/dev/null
  rate=$(python3 -c "print(f'{$done_count / ($end - $start):.1f}')")
  secs=$(python3 -c "print(f'{$end - $start:.2f}')")
  results+=("{\"writers\": $writers, \"transitions\": $done_count, \"seconds\": $secs, \"per_second\": $rate}")
  if ! $json; then
    echo "$writers writer(s): $done_count durable transitions in $secs s = $rate/s (log verified)"
  fi
done
if $json; then
  (IFS=,; echo "[${results[*]}]")
fi
