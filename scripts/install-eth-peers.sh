#!/usr/bin/env bash
# Ethereum peers from npm, under target/peers (binaries and packages only, never committed).
#   --node: anvil (a real node) and the Safe 1.4.1 contract artifacts (what the demo needs);
#   --all:  also cast (byte-identical raw transactions and signatures), Safe's protocol-kit
#           (safeTxHash) and Keystone's EIP-4527 UR library (@keystonehq/bc-ur-registry-eth, the
#           one MetaMask and Keystone use to read eth-sign-request and write eth-signature),
#           which the test suite compares against.
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
  install_npm "$PEERS/keystone" @keystonehq/bc-ur-registry-eth/package.json \
    @keystonehq/bc-ur-registry-eth@0.22.1
fi
