"""Shared helpers for the Bitcoin peer scripts (standard library only).

What it is for: the small pieces every peer script needs -- the throwaway regtest cosigner keys of the
PSBT benchmark wallet, reading a PSBT file (binary or base64), writing results atomically, printing
JSON, process-time phases, and finding the right Python interpreter for each peer (Debian's Electrum
lives in /usr/bin/python3's dist-packages, embit and bdkpython in the `python3` on PATH).

What it must never do: touch the network, print secret key material, or leave a partial output file.
The keys here are the benchmark's published regtest keys (seed = SHA-256 of "seed<i>"); they guard
nothing and must never be used for anything but tests.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import sys
import tempfile
import time
from pathlib import Path

# The benchmark wallet: 2-of-3 wsh(sortedmulti), account path m/48'/1'/0'/2' (BIP-48 script type 2).
ACCOUNT_PATH = "m/48'/1'/0'/2'"
ACCOUNT_PATH_H = "48h/1h/0h/2h"
THRESHOLD = 2
COSIGNERS = 3

# Debian's Electrum package installs for the system interpreter.
SYSTEM_PYTHON = "/usr/bin/python3"

# BIP-32 version bytes of a testnet/regtest extended private key ("tprv").
TPRV_VERSION = bytes.fromhex("04358394")

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]

PSBT_MAGIC = b"psbt\xff"


class PeerError(Exception):
    """A clear, user-facing failure (bad input, missing peer); printed without a traceback."""


def bench_dir() -> Path:
    """Directory of the PSBT benchmark fixtures (keys.json, psbt_100.b64, psbt_1000.b64).

    AIRLOCK_PSBT_BENCH_DIR overrides; otherwise ../shared/bench/psbt-sign beside the repository
    (where CI puts shared/), then /work/shared/bench/psbt-sign.
    """
    override = os.environ.get("AIRLOCK_PSBT_BENCH_DIR")
    candidates = [Path(override)] if override else []
    candidates += [
        REPO_ROOT.parent / "shared" / "bench" / "psbt-sign",
        Path("/work/shared/bench/psbt-sign"),
    ]
    for candidate in candidates:
        if (candidate / "keys.json").is_file():
            return candidate
    raise PeerError(
        "PSBT benchmark fixtures not found (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); set AIRLOCK_PSBT_BENCH_DIR"
    )


def load_keys(path: str | None) -> dict:
    """keys.json of the benchmark: {"keys": [{"fp": hex8, "tpub": account tpub}, ...], ...}."""
    keys_path = Path(path) if path else bench_dir() / "keys.json"
    try:
        keys = json.loads(keys_path.read_text())
        entries = keys["keys"]
        if len(entries) != COSIGNERS or not all("fp" in e and "tpub" in e for e in entries):
            raise KeyError("keys")
    except FileNotFoundError:
        raise PeerError(f"keys file {keys_path} does not exist") from None
    except (ValueError, KeyError, TypeError):
        raise PeerError(f"keys file {keys_path} is not the benchmark's keys.json (3 fp/tpub entries)") from None
    return keys


def check_cosigner(index: int) -> int:
    if not 0 <= index < COSIGNERS:
        raise PeerError(f"cosigner must be 0, 1 or 2, got {index}")
    return index


def cosigner_root_seed(index: int) -> bytes:
    """BIP-32 root seed of cosigner `index`: SHA-256 of the ASCII bytes "seed<index>"."""
    return hashlib.sha256(f"seed{check_cosigner(index)}".encode("ascii")).digest()


def _base58check(payload: bytes) -> str:
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    data = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    number = int.from_bytes(data, "big")
    encoded = ""
    while number:
        number, digit = divmod(number, 58)
        encoded = alphabet[digit] + encoded
    leading_zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * leading_zeros + encoded


def cosigner_root_tprv(index: int) -> str:
    """The BIP-32 master extended private key (tprv, depth 0) of cosigner `index`.

    Only the master is computed here (HMAC-SHA512 of the seed, no curve arithmetic); each peer derives
    the account key itself, so the peers are exercised rather than this helper.
    """
    digest = hmac.new(b"Bitcoin seed", cosigner_root_seed(index), hashlib.sha512).digest()
    secret, chain_code = digest[:32], digest[32:]
    payload = TPRV_VERSION + b"\0" + b"\0" * 4 + b"\0" * 4 + chain_code + b"\0" + secret
    return _base58check(payload)


def read_psbt_bytes(path: str) -> bytes:
    """Read a PSBT file given either as raw binary or as base64 text; returns the binary PSBT."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise PeerError(f"PSBT file {path} does not exist") from None
    except IsADirectoryError:
        raise PeerError(f"PSBT file {path} is a directory") from None
    if raw.startswith(PSBT_MAGIC):
        return raw
    text = raw.strip()
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise PeerError(f"{path} is neither a binary PSBT nor base64 text") from None
    if not decoded.startswith(PSBT_MAGIC):
        raise PeerError(f"{path} does not start with the PSBT magic bytes 'psbt\\xff'")
    return decoded


def encode_for_path(psbt: bytes, out_path: str, out_format: str) -> bytes:
    """Binary PSBT, or base64 text when asked for or when the output name ends in .b64/.txt."""
    if out_format == "auto":
        out_format = "base64" if out_path.endswith((".b64", ".txt", ".base64")) else "binary"
    if out_format == "base64":
        return base64.b64encode(psbt) + b"\n"
    if out_format == "binary":
        return psbt
    raise PeerError(f"unknown output format {out_format!r} (auto, binary or base64)")


def write_atomic(path: str, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same directory: write, fsync, rename."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise PeerError(f"output directory {directory} does not exist")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def print_json(value) -> None:
    sys.stdout.write(json.dumps(value, indent=1) + "\n")
    sys.stdout.flush()


class Phases:
    """Process-time (CPU, this process) of consecutive named phases."""

    def __init__(self) -> None:
        self.start = time.process_time()
        self.last = self.start
        self.phases: dict[str, float] = {}

    def mark(self, name: str) -> None:
        now = time.process_time()
        self.phases[name] = round(now - self.last, 6)
        self.last = now

    def report(self) -> dict:
        return {
            "phases_process_s": self.phases,
            "total_process_s": round(self.last - self.start, 6),
            # the whole process so far, interpreter start-up and imports included
            "process_since_start_s": round(time.process_time(), 6),
        }


def python_for_peer(peer: str) -> str:
    """The interpreter that can import `peer` (electrum: Debian's /usr/bin/python3)."""
    if peer == "electrum":
        return SYSTEM_PYTHON
    return sys.executable


def reexec_under_system_python_if_needed(module: str) -> None:
    """If `module` does not import here but Debian's python3 exists, re-run this script under it."""
    try:
        __import__(module)
        return
    except ImportError:
        pass
    if os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON) and os.path.exists(SYSTEM_PYTHON):
        os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON, *sys.argv])
    raise PeerError(
        f"Python module {module!r} is not installed (run scripts/install-bitcoin-peers.sh)"
    )


def run_main(main) -> None:
    """Run `main()`, turning PeerError into a one-line error on stderr and exit status 2."""
    try:
        main()
    except PeerError as error:
        sys.stderr.write(f"error: {error}\n")
        sys.exit(2)
