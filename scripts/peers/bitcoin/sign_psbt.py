#!/usr/bin/env python3
"""Add one cosigner's signatures to a PSBT of the benchmark's 2-of-3 wsh(sortedmulti) regtest wallet,
using a real independent peer: Electrum 4.3.4 (Python API), embit 0.8.0 or bdkpython 3.1.1.

What it is for: the interop tests and peer benchmarks of airlock-chain-bitcoin. Each peer gets the
cosigner's key the way a user of that peer would hold it (Electrum: a multisig wallet in a temporary
directory; embit: the BIP-32 root; bdkpython: the cosigner's private descriptor plus the other two
public) and signs the PSBT as that peer does by itself. Offline: no peer is given a network.

What it must never do: go online, print key material, or leave a partial output file.

Usage:
  sign_psbt.py --peer electrum|embit|bdk --cosigner I --in FILE.psbt --out SIGNED.psbt
               [--keys keys.json] [--out-format auto|binary|base64] [--timing] [--bdk-try-finalize]
Prints JSON: {"peer", "cosigner", "inputs", "partial_signatures_before", "partial_signatures_after",
"inputs_finalized", "out"} (+ process-time phases with --timing). Electrum finalizes every input that
has enough signatures, as it does for its users, so its second signature shows up as finalized inputs. Input may be binary or base64; output is binary unless it ends in .b64 or --out-format says.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import peer_common as common  # noqa: E402


def count_partial_sigs_embit(psbt) -> int:
    return sum(len(inp.partial_sigs) for inp in psbt.inputs)


# ---------------------------------------------------------------------------------------------- Electrum


def sign_electrum(psbt_bytes: bytes, cosigner: int, keys: dict, phases: common.Phases):
    import electrum_wallet

    phases.mark("import")
    with electrum_wallet.multisig_wallet(keys, cosigner) as wallet:
        phases.mark("wallet")
        tx = electrum_wallet.parse_psbt(psbt_bytes)
        before = sum(len(txin.part_sigs) for txin in tx.inputs())
        phases.mark("parse")
        signed = wallet.sign_transaction(tx, password=None)
        if signed is None:
            raise common.PeerError("Electrum's wallet refused to sign (watching-only or not a PSBT)")
        phases.mark("sign")
        out = signed.serialize_as_bytes(force_psbt=True)
        phases.mark("serialize")
        # Electrum finalizes an input as soon as it has enough signatures (BIP-174 then clears its
        # partial signatures), so the counts are taken from the serialized result.
        result = electrum_wallet.parse_psbt(out)
        counts = {
            "partial_signatures_before": before,
            "partial_signatures_after": sum(len(txin.part_sigs) for txin in result.inputs()),
            "inputs_finalized": sum(1 for txin in result.inputs() if txin.witness is not None),
        }
    return out, len(signed.inputs()), counts


# ------------------------------------------------------------------------------------------------- embit


def sign_embit(psbt_bytes: bytes, cosigner: int, keys: dict, phases: common.Phases):
    from embit import bip32
    from embit.networks import NETWORKS
    from embit.psbt import PSBT
    from embit.transaction import SIGHASH

    phases.mark("import")
    root = bip32.HDKey.from_seed(common.cosigner_root_seed(cosigner), version=NETWORKS["regtest"]["xprv"])
    if root.my_fingerprint.hex() != keys["keys"][cosigner]["fp"]:
        raise common.PeerError(
            f"cosigner {cosigner}'s seed gives fingerprint {root.my_fingerprint.hex()}, "
            f"keys.json says {keys['keys'][cosigner]['fp']}"
        )
    phases.mark("wallet")
    try:
        psbt = PSBT.parse(psbt_bytes)
    except Exception as error:  # embit raises several types for malformed PSBTs
        raise common.PeerError(f"embit cannot parse the PSBT: {error}") from None
    before = count_partial_sigs_embit(psbt)
    phases.mark("parse")
    psbt.sign_with(root, sighash=SIGHASH.ALL)
    phases.mark("sign")
    out = psbt.serialize()
    phases.mark("serialize")
    counts = {
        "partial_signatures_before": before,
        "partial_signatures_after": count_partial_sigs_embit(psbt),
        "inputs_finalized": sum(1 for inp in psbt.inputs if inp.final_scriptwitness),
    }
    return out, len(psbt.inputs), counts


# --------------------------------------------------------------------------------------------- bdkpython


def bdk_descriptors(cosigner: int, keys: dict, private: bool):
    """External and internal descriptor strings; with `private`, cosigner's key as its account tprv."""
    import bdkpython as bdk

    parts = {0: [], 1: []}
    for index, entry in enumerate(keys["keys"]):
        if private and index == cosigner:
            root = bdk.DescriptorSecretKey.from_string(common.cosigner_root_tprv(index))
            account = root.derive(bdk.DerivationPath(common.ACCOUNT_PATH))
            # "[fp/48'/1'/0'/2']tprv…/*" -> drop the wildcard, chains are added below
            account_text = str(account)
            if account_text.endswith("/*"):
                account_text = account_text[:-2]
            if not account_text.startswith(f"[{entry['fp']}/"):
                raise common.PeerError(
                    f"cosigner {index}'s seed gives key origin {account_text.split(']')[0]}], "
                    f"keys.json says fingerprint {entry['fp']}"
                )
            key = account_text
        else:
            key = f"[{entry['fp']}/{common.ACCOUNT_PATH_H}]{entry['tpub']}"
        for chain in (0, 1):
            parts[chain].append(f"{key}/{chain}/*")
    return tuple(
        f"wsh(sortedmulti({common.THRESHOLD},{','.join(parts[chain])}))" for chain in (0, 1)
    )


def bdk_wallet(cosigner: int | None, keys: dict):
    """A bdkpython wallet of the benchmark multisig; private for `cosigner`, watch-only if None."""
    import bdkpython as bdk

    external, internal = bdk_descriptors(cosigner if cosigner is not None else -1, keys, cosigner is not None)
    network = bdk.Network.REGTEST
    return bdk.Wallet(
        bdk.Descriptor(external, bdk.NetworkKind.TEST),
        bdk.Descriptor(internal, bdk.NetworkKind.TEST),
        network,
        bdk.Persister.new_in_memory(),
    )


def sign_bdk(psbt_bytes: bytes, cosigner: int, keys: dict, phases: common.Phases, try_finalize: bool):
    import base64

    import bdkpython as bdk

    phases.mark("import")
    wallet = bdk_wallet(cosigner, keys)
    phases.mark("wallet")
    try:
        psbt = bdk.Psbt(base64.b64encode(psbt_bytes).decode("ascii"))
    except Exception as error:  # bdkpython raises PsbtParseError subclasses
        raise common.PeerError(f"bdkpython cannot parse the PSBT: {error}") from None
    before = sum(len(inp.partial_sigs) for inp in psbt.input())
    phases.mark("parse")
    options = bdk.SignOptions(
        trust_witness_utxo=True,
        assume_height=None,
        allow_all_sighashes=False,
        try_finalize=try_finalize,
        sign_with_tap_internal_key=True,
        allow_grinding=True,
    )
    try:
        wallet.sign(psbt, options)
    except Exception as error:  # SignerError
        raise common.PeerError(f"bdkpython refused to sign: {error}") from None
    phases.mark("sign")
    out = base64.b64decode(psbt.serialize())
    phases.mark("serialize")
    inputs = psbt.input()
    counts = {
        "partial_signatures_before": before,
        "partial_signatures_after": sum(len(inp.partial_sigs) for inp in inputs),
        "inputs_finalized": sum(1 for inp in inputs if inp.final_script_witness),
    }
    return out, len(inputs), counts


# -------------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer", required=True, choices=["electrum", "embit", "bdk"])
    parser.add_argument("--cosigner", required=True, type=int, help="0, 1 or 2")
    parser.add_argument("--in", dest="in_path", required=True, help="PSBT file (binary or base64)")
    parser.add_argument("--out", dest="out_path", required=True, help="where the signed PSBT goes")
    parser.add_argument("--keys", help="keys.json of the wallet (default: the benchmark's)")
    parser.add_argument("--out-format", default="auto", choices=["auto", "binary", "base64"])
    parser.add_argument("--timing", action="store_true", help="print process-time phases")
    parser.add_argument(
        "--bdk-try-finalize",
        action="store_true",
        help="bdkpython: let the signer try to finalize (its default); off by default here",
    )
    args = parser.parse_args()

    if args.peer == "electrum":
        common.reexec_under_system_python_if_needed("electrum")
    phases = common.Phases()
    cosigner = common.check_cosigner(args.cosigner)
    keys = common.load_keys(args.keys)
    psbt_bytes = common.read_psbt_bytes(args.in_path)
    phases.mark("read")

    if args.peer == "electrum":
        out, inputs, counts = sign_electrum(psbt_bytes, cosigner, keys, phases)
    elif args.peer == "embit":
        out, inputs, counts = sign_embit(psbt_bytes, cosigner, keys, phases)
    else:
        out, inputs, counts = sign_bdk(psbt_bytes, cosigner, keys, phases, args.bdk_try_finalize)

    if counts["partial_signatures_after"] <= counts["partial_signatures_before"] and not counts["inputs_finalized"]:
        raise common.PeerError(
            f"{args.peer} added no signature: no input names cosigner {cosigner}'s key "
            f"({keys['keys'][cosigner]['fp']}) in its derivations, or it is already signed"
        )
    common.write_atomic(args.out_path, common.encode_for_path(out, args.out_path, args.out_format))
    phases.mark("write")

    report = {
        "peer": args.peer,
        "cosigner": cosigner,
        "inputs": inputs,
        **counts,
        "out": args.out_path,
    }
    if args.timing:
        report["timing"] = phases.report()
    common.print_json(report)


if __name__ == "__main__":
    common.run_main(main)
