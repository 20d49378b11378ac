#!/usr/bin/env python3
"""Compare the partial signatures of two PSBTs of the same unsigned transaction, per input and pubkey.

What it is for: checking that two signers (e.g. Airlock's and Electrum's) produce byte-identical
ECDSA signatures (RFC 6979 with low-R grinding) for the same keys. Parsing uses embit.

What it must never do: modify either PSBT.

Usage:
  compare_sigs.py A.psbt B.psbt [--fingerprint FP]...
Prints JSON {"identical": bool, "unsigned_tx_equal", "inputs", "compared", "equal", "different": [...],
"only_in_a": [...], "only_in_b": [...]}; exit status 0 when every compared signature is identical and
neither side has a signature the other lacks (restricted to the given fingerprints, if any), 1
otherwise, 2 on bad input.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import peer_common as common  # noqa: E402


def parse(path: str):
    from embit.psbt import PSBT

    raw = common.read_psbt_bytes(path)
    try:
        return PSBT.parse(raw)
    except Exception as error:  # embit raises several types for malformed PSBTs
        raise common.PeerError(f"{path}: embit cannot parse the PSBT: {error}") from None


def signatures(psbt, fingerprints: set[str] | None) -> dict[tuple[int, str], tuple[str, bytes]]:
    """{(input index, pubkey hex): (fingerprint hex or "?", signature with sighash byte)}."""
    found = {}
    for index, inp in enumerate(psbt.inputs):
        for pub, sig in inp.partial_sigs.items():
            derivation = inp.bip32_derivations.get(pub)
            fingerprint = derivation.fingerprint.hex() if derivation is not None else "?"
            if fingerprints and fingerprint not in fingerprints:
                continue
            found[(index, pub.sec().hex())] = (fingerprint, bytes(sig))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", help="first PSBT (binary or base64)")
    parser.add_argument("b", help="second PSBT (binary or base64)")
    parser.add_argument(
        "--fingerprint",
        action="append",
        help="only compare signatures by keys of this master fingerprint (hex, repeatable)",
    )
    args = parser.parse_args()

    psbt_a, psbt_b = parse(args.a), parse(args.b)
    unsigned_equal = psbt_a.tx.serialize() == psbt_b.tx.serialize()
    wanted = {fp.lower() for fp in args.fingerprint} if args.fingerprint else None
    sigs_a, sigs_b = signatures(psbt_a, wanted), signatures(psbt_b, wanted)

    different, equal = [], 0
    for key in sorted(sigs_a.keys() & sigs_b.keys()):
        if sigs_a[key][1] == sigs_b[key][1]:
            equal += 1
        else:
            different.append(
                {
                    "input": key[0],
                    "pubkey": key[1],
                    "fingerprint": sigs_a[key][0],
                    "a": sigs_a[key][1].hex(),
                    "b": sigs_b[key][1].hex(),
                }
            )

    def only(mine, theirs):
        return [{"input": k[0], "pubkey": k[1], "fingerprint": mine[k][0]} for k in sorted(mine.keys() - theirs.keys())]

    only_a, only_b = only(sigs_a, sigs_b), only(sigs_b, sigs_a)
    compared = equal + len(different)
    identical = unsigned_equal and compared > 0 and not different and not only_a and not only_b
    common.print_json(
        {
            "identical": identical,
            "unsigned_tx_equal": unsigned_equal,
            "inputs": len(psbt_a.inputs),
            "compared": compared,
            "equal": equal,
            "different": different,
            "only_in_a": only_a,
            "only_in_b": only_b,
        }
    )
    sys.exit(0 if identical else 1)


if __name__ == "__main__":
    common.run_main(main)
