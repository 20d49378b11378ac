#!/usr/bin/env bash
# The dashboard suite's browser: Debian's chromium (apt) driven by playwright-core (npm, into
# target/peers/dashboard; no browser download). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing chromium (apt) =="
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
dir=target/peers/dashboard
if [ ! -e "$dir/node_modules/playwright-core/package.json" ]; then
  echo "== installing playwright-core (npm, into $dir) =="
  mkdir -p "$dir"
  npm install --silent --no-audit --no-fund --save-exact --prefix "$dir" playwright-core@1.64.1 >/dev/null
fi
