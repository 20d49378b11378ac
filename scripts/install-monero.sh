#!/bin/sh
# Installs the Monero reference daemon and wallet RPC (Debian bookworm package `monero`, 0.18):
# `monerod` and `monero-wallet-rpc`, used by airlock-chain-monero-online's tests and benchmarks, the CLI tests and the demo.
# Idempotent: does nothing when both binaries are already on PATH.
set -eu
if command -v monerod >/dev/null 2>&1 && command -v monero-wallet-rpc >/dev/null 2>&1; then
    echo "monero already installed: $(monerod --version 2>/dev/null | head -n 1)"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends monero
monerod --version | head -n 1
