#!/usr/bin/env bash
# The whole test suite, as CI runs it (`.ci/run` calls this script).
#
# Installs what it needs when missing (idempotent): Debian zbar-tools (zbarimg) and softhsm2, PyPI
# shamir-mnemonic (the SLIP-39 reference) and eth-keyfile, npm cast/anvil/protocol-kit/Safe contracts.
# Runs: formatting check, clippy with warnings as errors, then every test of the workspace
# (unit, integration and the CLI end-to-end suites, which drive the real binaries).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is required (install Rust with rustup)" >&2
  exit 1
fi
command -v rustfmt >/dev/null 2>&1 || rustup component add rustfmt
# Independent peers the tests talk to (installed once; later runs find them):
#   zbarimg (Debian zbar-tools) decodes our QR frames independently of our decoder.
#   SoftHSM2 (Debian softhsm2), a real PKCS#11 token for the HSM tests.
apt_missing=()
command -v zbarimg >/dev/null 2>&1 || apt_missing+=(zbar-tools)
[ -e /usr/lib/softhsm/libsofthsm2.so ] || apt_missing+=(softhsm2)
# The service suite: a self-signed certificate (openssl) and an HTTP client that sends
# `Expect: 100-continue` (curl).
command -v openssl >/dev/null 2>&1 || apt_missing+=(openssl)
command -v curl >/dev/null 2>&1 || apt_missing+=(curl)
# The PostgreSQL backend's suites start their own server from Debian's binaries (initdb into a
# temporary directory, a free loopback port; under root, as the package's `postgres` account).
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || apt_missing+=(postgresql)
if [ ${#apt_missing[@]} -gt 0 ]; then
  echo "== installing ${apt_missing[*]} (apt) =="
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_missing[@]}" >/dev/null
fi
#   shamir-mnemonic (PyPI), the SLIP-39 reference implementation, for interop both ways.
#   eth-keyfile (PyPI), an independent Ethereum keystore v3 implementation, for interop both ways.
pip_missing=()
python3 -c 'import shamir_mnemonic' >/dev/null 2>&1 || pip_missing+=(shamir-mnemonic==0.3.0)
python3 -c 'import eth_keyfile' >/dev/null 2>&1 || pip_missing+=(eth-keyfile==0.10.0)
if [ ${#pip_missing[@]} -gt 0 ]; then
  echo "== installing ${pip_missing[*]} (pip) =="
  python3 -m pip install -q --disable-pip-version-check "${pip_missing[@]}"
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
fi
#   Ethereum peers from npm under target/peers: anvil, the Safe 1.4.1 contracts, cast, protocol-kit.
# The dashboard suite's browser: Debian's chromium and playwright-core.
bash scripts/install-dashboard-peers.sh
scripts/install-eth-peers.sh --all
#   Electrum 4.3.4 (Debian), embit and bdkpython (PyPI): independent PSBT cosigners.
bash scripts/install-bitcoin-peers.sh
#   monerod and monero-wallet-rpc (Debian monero 0.18): a real node and an independent wallet.
[ -x scripts/install-monero.sh ] && bash scripts/install-monero.sh
# A missing peer fails its tests instead of skipping them.
export AIRLOCK_REQUIRE_PEERS=1
# A build from nothing gains nothing from incremental caches, which cost about 4 GB of disk here
# (CI's disk is not large); a developer's own `cargo test` keeps them.
export CARGO_INCREMENTAL=0
# The build and the suite's servers (PostgreSQL, monerod) need about 5 GB; a full disk shows up as
# unrelated test failures ("No space left on device"), so say so first.
free_kb=$(df -Pk . | awk 'NR == 2 { print $4 }')
echo "== disk: $((free_kb / 1024 / 1024)) GB free here =="
if [ "${free_kb:-0}" -lt $((6 * 1024 * 1024)) ]; then
  echo "warning: less than 6 GB free; the build and the tests may fail for lack of space" >&2
fi
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy

echo "== cargo fmt --check =="
cargo fmt --all -- --check

echo "== cargo clippy (all targets, warnings are errors) =="
cargo clippy --workspace --all-targets --all-features --quiet -- -D warnings

echo "== building binaries (the CLI suites drive them) =="
cargo build --workspace --bins --quiet

# Fuzzing: `cargo test` below replays every committed seed, every fixed crash's input and seeded
# mutations of every seed through every fuzz target's body (crates/airlock-fuzz-targets, test
# replay_seeds). Coverage-guided fuzzing needs libFuzzer's own instrumented release build of
# everything (7 to 11 minutes on 2 cores), so it runs from its own script, not here:
# `scripts/fuzz.sh SECONDS`, or AIRLOCK_FUZZ_SECONDS=N to add it to this run.
if [ "${AIRLOCK_FUZZ_SECONDS:-0}" != 0 ]; then
  echo "== fuzzing: scripts/fuzz.sh ${AIRLOCK_FUZZ_SECONDS} (every target) =="
  scripts/fuzz.sh "${AIRLOCK_FUZZ_SECONDS}"
fi

echo "== cargo test =="
cargo test --workspace --all-targets --all-features
