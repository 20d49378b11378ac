#!/usr/bin/env bash
# Coverage-guided fuzzing of every decoder Airlock writes (targets in fuzz/, see fuzz/README.md).
#
#   scripts/fuzz.sh SECONDS [TARGET…]     run each target (default: all) for SECONDS
#
# Installs what it needs when missing (idempotent): cargo-fuzz (`cargo install cargo-fuzz
# --locked`). Uses the nightly toolchain when rustup has one, otherwise the default toolchain:
# without a sanitizer cargo-fuzz passes no nightly-only flag (checked with stable 1.95, coverage
# counters included). Builds every target in one `cargo fuzz build` (release, debug assertions
# on, no sanitizer: Rust code is memory-safe, so a sanitizer would mostly slow the build and the
# runs), then runs each target's binary on a working corpus under fuzz/corpus/<target> (gitignored,
# seeded from the committed fuzz/seeds/<target>; libFuzzer adds what it finds). Crash inputs go to
# fuzz/artifacts/<target>/. Prints per target: executions, executions/s, coverage (libFuzzer's
# `cov:` edges and `ft:` features), corpus size and crashes; a summary line per run is appended to
# fuzz/corpus/runs.tsv. Exits non-zero if any target crashed (panicked, timed out, ran out of
# memory or failed to start).
#
# Environment: FUZZ_RSS_MB (default 2048) memory limit per target, FUZZ_TIMEOUT (default 20)
# seconds for one input, FUZZ_ARGS extra libFuzzer flags.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh SECONDS [TARGET…]" >&2
  exit 2
fi
seconds=$1
shift

command -v cargo >/dev/null 2>&1 || { echo "cargo is required" >&2; exit 1; }
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz (cargo install --locked) =="
  cargo install cargo-fuzz --locked --quiet
fi

toolchain=()
if command -v rustup >/dev/null 2>&1 && rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  echo "(no nightly toolchain: building with $(rustc --version))"
fi

mapfile -t all < <(cargo "${toolchain[@]}" fuzz list --fuzz-dir fuzz)
if [ $# -gt 0 ]; then
  targets=("$@")
  for t in "${targets[@]}"; do
    printf '%s\n' "${all[@]}" | grep -qx "$t" || { echo "unknown target $t (have: ${all[*]})" >&2; exit 2; }
  done
else
  targets=("${all[@]}")
fi

echo "== building ${#targets[@]} fuzz target(s) (cargo fuzz build, release + debug assertions, no sanitizer) =="
build_start=$(date +%s)
mkdir -p fuzz/artifacts
build() {
  cargo "${toolchain[@]}" fuzz build --fuzz-dir fuzz --sanitizer none --debug-assertions "$@" \
    >>fuzz/artifacts/build.log 2>&1 || {
    tail -40 fuzz/artifacts/build.log >&2
    echo "cargo fuzz build failed (log: fuzz/artifacts/build.log)" >&2
    exit 1
  }
}
: >fuzz/artifacts/build.log
if [ ${#targets[@]} -eq ${#all[@]} ]; then
  build # every target in one build
else
  for t in "${targets[@]}"; do build "$t"; done
fi
bin_dir=fuzz/target/x86_64-unknown-linux-gnu/release
echo "build: $(( $(date +%s) - build_start )) s"

rss=${FUZZ_RSS_MB:-2048}
timeout=${FUZZ_TIMEOUT:-20}
mkdir -p fuzz/corpus fuzz/artifacts
failed=()
printf '\n%-20s %12s %10s %8s %8s %8s %8s\n' target executions execs/s cov ft corpus crashes
for t in "${targets[@]}"; do
  corpus=fuzz/corpus/$t
  artifacts=fuzz/artifacts/$t
  mkdir -p "$corpus" "$artifacts"
  if [ -d "fuzz/seeds/$t" ]; then
    cp -n fuzz/seeds/"$t"/* "$corpus"/ 2>/dev/null || true
  fi
  before=$(find "$artifacts" -type f | wc -l)
  log=fuzz/artifacts/$t.log
  status=0
  # shellcheck disable=SC2086
  "$bin_dir/$t" "$corpus" -max_total_time="$seconds" -rss_limit_mb="$rss" -timeout="$timeout" \
    -print_final_stats=1 -artifact_prefix="$artifacts/" ${FUZZ_ARGS:-} >"$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  files=$(find "$corpus" -type f | wc -l)
  crashes=$(( $(find "$artifacts" -type f | wc -l) - before ))
  if [ "$status" -ne 0 ] || [ "$crashes" -gt 0 ]; then
    failed+=("$t")
    [ "$crashes" -gt 0 ] || crashes="exit $status"
  fi
  printf '%-20s %12s %10s %8s %8s %8s %8s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$files" "$crashes"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "$seconds" "${execs:-}" "${rate:-}" \
    "${cov:-}" "${ft:-}" "$files" "$crashes" >>fuzz/corpus/runs.tsv
done

if [ ${#failed[@]} -gt 0 ]; then
  echo
  for t in "${failed[@]}"; do
    echo "== $t failed; the end of its log (fuzz/artifacts/$t.log): =="
    grep -E -A25 'panicked|ERROR|deadly signal|Test unit written' "fuzz/artifacts/$t.log" | head -60 || tail -30 "fuzz/artifacts/$t.log"
  done
  echo "fuzzing found problems in: ${failed[*]} (inputs under fuzz/artifacts/<target>/;" \
    "replay one with fuzz/target/x86_64-unknown-linux-gnu/release/<target> <file>)" >&2
  exit 1
fi
echo "all ${#targets[@]} target(s) ran ${seconds} s each without a crash"
