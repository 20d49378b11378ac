#!/usr/bin/env python3
"""Report what a signed PSBT carries and whether it finalizes, judged by an independent peer.

What it is for: the interop tests of airlock-chain-bitcoin. For every input: the partial signatures,
the master fingerprint each signing key derives from (its PSBT BIP-32 derivation), whether each
signature verifies against the input's BIP-143 sighash for the sighash type it names, and whether it
is low-R. Then the peer's own finalizer is run (embit's finalizer or Electrum's PartialTransaction)
and, if the PSBT finalizes, the final transaction can be written out (for Bitcoin Core's script
interpreter on the Rust side).

What it must never do: modify the input PSBT, go online, or leave a partial output file.

Usage:
  verify_psbt.py FILE.psbt [--engine embit|electrum] [--per-input] [--final-tx-out FILE.hex]
                 [--origins-from ORIGINAL.psbt] [--keys keys.json]
                 [--require-finalized] [--require-signers FP[,FP...]]
Prints JSON: {"engine", "inputs", "unsigned_txid", "signatures_by_fingerprint", "all_signatures_valid",
"inputs_signed_by": {...}, "finalized", "final_txid", ...}. Exit 0; with --require-* 1 when a
requirement fails (a signature that does not verify always fails them); 2 on bad input.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import peer_common as common  # noqa: E402

SIGHASH_NAMES = {1: "ALL", 2: "NONE", 3: "SINGLE", 0x81: "ALL|ANYONECANPAY", 0x82: "NONE|ANYONECANPAY", 0x83: "SINGLE|ANYONECANPAY"}


def low_r(der_sig: bytes) -> bool:
    """DER r is at most 32 bytes and its first byte below 0x80 (Bitcoin Core's low-R)."""
    r_len = der_sig[3]
    return r_len < 32 or (r_len == 32 and der_sig[4] < 0x80)


def embit_origins(path: str):
    """({(input index, pubkey sec): fingerprint hex}, txid) from another PSBT of the same transaction."""
    from embit.psbt import PSBT

    raw = common.read_psbt_bytes(path)
    try:
        other = PSBT.parse(raw)
    except Exception as error:  # embit raises several types for malformed PSBTs
        raise common.PeerError(f"{path}: embit cannot parse the PSBT: {error}") from None
    return {
        (index, pub.sec()): derivation.fingerprint.hex()
        for index, inp in enumerate(other.inputs)
        for pub, derivation in inp.bip32_derivations.items()
    }, other.tx.txid()


def inspect_embit(raw: bytes, origins_path: str | None) -> dict:
    from embit import ec
    from embit.finalizer import finalize_psbt, parse_multisig
    from embit.psbt import PSBT
    from embit.script import Script

    try:
        psbt = PSBT.parse(raw)
    except Exception as error:  # embit raises several types for malformed PSBTs
        raise common.PeerError(f"embit cannot parse the PSBT: {error}") from None
    origins = {}
    if origins_path:
        origins, origins_txid = embit_origins(origins_path)
        if origins_txid != psbt.tx.txid():
            raise common.PeerError(f"{origins_path} is a PSBT of a different unsigned transaction")

    def fingerprint_of(index, inp, pub):
        derivation = inp.bip32_derivations.get(pub)
        if derivation is not None:
            return derivation.fingerprint.hex()
        return origins.get((index, pub.sec()))

    def check(index, pub, sig, scriptcode):
        entry = {"sighash": SIGHASH_NAMES.get(sig[-1], hex(sig[-1])), "low_r": low_r(sig[:-1])}
        try:
            if scriptcode is None:
                msg = psbt.sighash(index, sighash=sig[-1])
            else:
                value = psbt.inputs[index].utxo.value
                msg = psbt.sighash_segwit(index, scriptcode, value, sighash=sig[-1])
            entry["valid"] = pub.verify(ec.Signature.parse(sig[:-1]), msg)
        except Exception as error:  # unparseable DER, missing UTXO
            entry["valid"] = False
            entry["error"] = str(error) or type(error).__name__
        return entry

    per_input, already_final = [], 0
    for index, inp in enumerate(psbt.inputs):
        entries = []
        for pub, sig in inp.partial_sigs.items():
            entry = {"pubkey": pub.sec().hex(), "fingerprint": fingerprint_of(index, inp, pub)}
            entry.update(check(index, pub, bytes(sig), None))
            entries.append(entry)
        if inp.final_scriptwitness:
            # A finalized multisig input: [empty, sig..., witness script]; match sigs to script keys.
            already_final += 1
            items = [bytes(item) for item in inp.final_scriptwitness.items]
            try:
                witness_script = Script(items[-1])
                _threshold, pubs = parse_multisig(witness_script)
            except Exception as error:  # not a multisig witness
                entries.append({"pubkey": None, "fingerprint": None, "final": True, "valid": False,
                                "error": f"final witness is not multisig: {error}"})
                pubs, items = [], []
            for sig in items[1:-1]:
                matched = None
                for pub in pubs:
                    result = check(index, pub, sig, witness_script)
                    if result["valid"]:
                        matched = {"pubkey": pub.sec().hex(), "fingerprint": fingerprint_of(index, inp, pub), **result}
                        break
                entries.append({**(matched or {"pubkey": None, "fingerprint": None, "valid": False,
                                                "error": "final witness signature matches no key"}),
                                "final": True})
        per_input.append(entries)
    final = finalize_psbt(psbt)
    return {
        "unsigned_txid": psbt.tx.txid().hex(),
        "per_input": per_input,
        "inputs_already_final": already_final,
        "finalized": final is not None,
        "final_tx": final.serialize().hex() if final is not None else None,
        "final_txid": final.txid().hex() if final is not None else None,
    }


def inspect_electrum(raw: bytes, keys: dict) -> dict:
    """Electrum's view: partial signatures checked, then finalized by a watch-only wallet of the
    benchmark multisig (Electrum only finalizes inputs its wallet recognises). Inputs that arrive
    already final are counted, not re-verified (use the embit engine for that)."""
    from electrum import ecc
    from electrum.crypto import sha256d

    import electrum_wallet

    with electrum_wallet.multisig_wallet(keys, None) as wallet:
        tx = electrum_wallet.parse_psbt(raw)
        unsigned_txid = tx.txid()
        already_final = sum(1 for txin in tx.inputs() if txin.witness is not None)
        tx.add_info_from_wallet(wallet)
        shared = tx._calc_bip143_shared_txdigest_fields()
        per_input = []
        for index, txin in enumerate(tx.inputs()):
            entries = []
            for pub, sig in txin.part_sigs.items():
                origin = txin.bip32_paths.get(pub)
                entry = {
                    "pubkey": pub.hex(),
                    "fingerprint": origin[0].hex() if origin is not None else None,
                    "sighash": SIGHASH_NAMES.get(sig[-1], hex(sig[-1])),
                    "low_r": low_r(sig[:-1]),
                }
                try:
                    if sig[-1] != (txin.sighash if txin.sighash is not None else 1):
                        raise ValueError("signature's sighash byte differs from the input's sighash type")
                    preimage = tx.serialize_preimage(index, bip143_shared_txdigest_fields=shared)
                    msg = sha256d(bytes.fromhex(preimage))
                    entry["valid"] = ecc.ECPubkey(pub).verify_message_hash(
                        ecc.sig_string_from_der_sig(sig[:-1]), msg
                    )
                except Exception as error:  # unparseable DER, missing UTXO or script
                    entry["valid"] = False
                    entry["error"] = str(error) or type(error).__name__
                entries.append(entry)
            per_input.append(entries)
        try:
            tx.finalize_psbt()
            finalized = tx.is_complete()
        except Exception:  # Electrum's finalizer raises on inconsistent data
            finalized = False
    return {
        "unsigned_txid": unsigned_txid,
        "per_input": per_input,
        "inputs_already_final": already_final,
        "finalized": finalized,
        "final_tx": tx.serialize() if finalized else None,
        "final_txid": tx.txid() if finalized else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("psbt", help="PSBT file (binary or base64)")
    parser.add_argument("--engine", default="embit", choices=["embit", "electrum"])
    parser.add_argument("--per-input", action="store_true", help="list every input's signatures")
    parser.add_argument(
        "--origins-from",
        help="embit: take key fingerprints of already-final inputs from this PSBT of the same transaction",
    )
    parser.add_argument("--keys", help="electrum: keys.json of the wallet (default: the benchmark's)")
    parser.add_argument("--final-tx-out", help="write the finalized transaction (hex) here")
    parser.add_argument("--require-finalized", action="store_true", help="exit 1 unless it finalizes")
    parser.add_argument(
        "--require-signers",
        help="comma-separated fingerprints that must have signed every input (exit 1 otherwise)",
    )
    args = parser.parse_args()
    if args.engine == "electrum":
        common.reexec_under_system_python_if_needed("electrum")

    raw = common.read_psbt_bytes(args.psbt)
    if args.engine == "embit":
        result = inspect_embit(raw, args.origins_from)
    else:
        result = inspect_electrum(raw, common.load_keys(args.keys))

    per_input = result.pop("per_input")
    final_tx = result.pop("final_tx")
    by_fingerprint: dict[str, int] = {}
    invalid = []
    for index, entries in enumerate(per_input):
        for entry in entries:
            key = entry["fingerprint"] or "unknown"
            by_fingerprint[key] = by_fingerprint.get(key, 0) + 1
            if not entry["valid"]:
                invalid.append({"input": index, **entry})
    inputs = len(per_input)
    inputs_signed_by = {
        fp: sum(1 for entries in per_input if any(e["fingerprint"] == fp and e["valid"] for e in entries))
        for fp in by_fingerprint
    }
    report = {
        "engine": args.engine,
        "inputs": inputs,
        **result,
        "signatures": sum(by_fingerprint.values()),
        "signatures_by_fingerprint": by_fingerprint,
        "inputs_fully_signed_by": sorted(fp for fp, n in inputs_signed_by.items() if n == inputs and inputs),
        "all_signatures_valid": not invalid,
        "all_low_r": all(e["low_r"] for entries in per_input for e in entries),
        "invalid_signatures": invalid[:20],
    }
    if args.per_input:
        report["per_input"] = per_input
    if args.final_tx_out:
        if final_tx is None:
            raise common.PeerError("the PSBT does not finalize; no final transaction to write")
        common.write_atomic(args.final_tx_out, final_tx.encode("ascii") + b"\n")

    failures = []
    if args.require_finalized and not result["finalized"]:
        failures.append("does not finalize")
    if args.require_signers:
        for fp in (f.strip().lower() for f in args.require_signers.split(",") if f.strip()):
            if fp not in report["inputs_fully_signed_by"]:
                failures.append(f"{fp} has not validly signed every input")
    if (args.require_finalized or args.require_signers) and invalid:
        failures.append(f"{len(invalid)} signature(s) do not verify")
    report["requirements_failed"] = failures
    common.print_json(report)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    common.run_main(main)
