#!/usr/bin/env bash
# Ethereum peers from npm, under target/peers (binaries and packages only, never committed).
#   --node: anvil (a real node) and the Safe 1.4.1 contract artifacts (what the demo needs);
#   --all:  also cast (byte-identical raw transactions and signatures) and Safe's protocol-kit
#           (safeTxHash), which the test suite compares against.
# Idempotent: a package already installed is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=target/peers
install_npm() { # DIR PROBE PACKAGE…
  local dir=$1 probe=$2; shift 2
  if [ ! -e "$dir/node_modules/$probe" ]; then
    echo "== installing $* (npm, into $dir) =="
    mkdir -p "$dir"
    npm install --silent --no-audit --no-fund --save-exact --prefix "$dir" "$@" >/dev/null
  fi
}
install_npm "$PEERS" @foundry-rs/anvil-linux-amd64/bin/anvil \
  @safe-global/safe-contracts@1.4.1 @foundry-rs/anvil-linux-amd64@1.7.1
if [ "${1:-}" = "--all" ]; then
  install_npm "$PEERS/cast" @foundry-rs/cast-linux-amd64/bin/cast @foundry-rs/cast-linux-amd64@1.7.1
  install_npm "$PEERS/safe" @safe-global/protocol-kit/package.json @safe-global/protocol-kit@8.0.7
fi
