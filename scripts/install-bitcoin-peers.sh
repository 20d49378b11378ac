#!/usr/bin/env bash
# Installs the independent Bitcoin peers the airlock-chain-bitcoin interop tests and peer benchmarks
# drive (idempotent: quiet and quick when everything is already there).
#
#   Electrum 4.3.4   Debian package `electrum` (bookworm / bookworm-security, 4.3.4+dfsg1-1+deb12u*),
#                    used through its Python API by Debian's own /usr/bin/python3.
#   embit 0.8.0      PyPI, pinned, for the `python3` on PATH.
#   bdkpython 3.1.1  PyPI, pinned, for the `python3` on PATH.
#   urtypes 1.0.1    PyPI, pinned: Foundation Devices' BC-UR registry types (Passport, Krux), an
#                    independent reader of the crypto-output / crypto-account CBOR Airlock writes.
#
# Each peer is checked by importing it; a failed check after installing exits non-zero.
set -euo pipefail

ELECTRUM_VERSION=4.3.4
EMBIT_VERSION=0.8.0
BDKPYTHON_VERSION=3.1.1
URTYPES_VERSION=1.0.1
SYSTEM_PYTHON=/usr/bin/python3
PYTHON=${PYTHON:-python3}

electrum_ok() {
  [ -x "$SYSTEM_PYTHON" ] &&
    "$SYSTEM_PYTHON" -c "import electrum, sys; sys.exit(0 if electrum.version.ELECTRUM_VERSION == '$ELECTRUM_VERSION' else 1)" \
      >/dev/null 2>&1
}
embit_ok() {
  "$PYTHON" -c "import importlib.metadata as m, embit.psbt; assert m.version('embit') == '$EMBIT_VERSION'" >/dev/null 2>&1
}
urtypes_ok() {
  "$PYTHON" -c "import importlib.metadata as m, urtypes.crypto; assert m.version('urtypes') == '$URTYPES_VERSION'" >/dev/null 2>&1
}
bdk_ok() {
  "$PYTHON" -c "import importlib.metadata as m, bdkpython; assert m.version('bdkpython') == '$BDKPYTHON_VERSION'" >/dev/null 2>&1
}

if ! electrum_ok; then
  echo "== installing electrum $ELECTRUM_VERSION (apt) =="
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  candidate=$(apt-cache policy electrum | awk '/Candidate:/ {print $2}')
  case "$candidate" in
    "$ELECTRUM_VERSION"+*) ;;
    *) echo "apt offers electrum '$candidate', expected $ELECTRUM_VERSION+dfsg…" >&2; exit 1 ;;
  esac
  apt-get install -y -qq --no-install-recommends electrum >/dev/null
  electrum_ok || { echo "electrum $ELECTRUM_VERSION does not import with $SYSTEM_PYTHON" >&2; exit 1; }
fi

pip_missing=()
embit_ok || pip_missing+=("embit==$EMBIT_VERSION")
bdk_ok || pip_missing+=("bdkpython==$BDKPYTHON_VERSION")
urtypes_ok || pip_missing+=("urtypes==$URTYPES_VERSION")
if [ ${#pip_missing[@]} -gt 0 ]; then
  echo "== installing ${pip_missing[*]} (pip) =="
  "$PYTHON" -m pip install -q --disable-pip-version-check --root-user-action=ignore "${pip_missing[@]}"
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
  embit_ok || { echo "embit $EMBIT_VERSION does not import with $PYTHON" >&2; exit 1; }
  bdk_ok || { echo "bdkpython $BDKPYTHON_VERSION does not import with $PYTHON" >&2; exit 1; }
  urtypes_ok || { echo "urtypes $URTYPES_VERSION does not import with $PYTHON" >&2; exit 1; }
fi
