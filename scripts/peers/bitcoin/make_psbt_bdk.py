#!/usr/bin/env python3
"""Make an unsigned PSBT with bdkpython 3.1.1 for the benchmark's 2-of-3 wsh(sortedmulti) wallet.

What it is for: "a PSBT made by bdkpython for the same wallet", which Airlock's signer must review and
sign. bdkpython builds a watch-only wallet from the multipath descriptor
wsh(sortedmulti(2,[fp/48h/1h/0h/2h]tpub…/<0;1>/*,…)) (keys.json's three tpubs), is fed synthetic
funding transactions built here (as Electrum's `addtransaction` would be, no node needed), then its
TxBuilder selects coins, pays one address and returns change to the wallet's internal chain.

What it must never do: go online, hold a private key, or leave a partial output file.

Usage:
  make_psbt_bdk.py --out FILE.psbt [--keys keys.json] [--fund SATS[,SATS...]] [--change-fund SATS[,...]]
                   [--pay-address ADDR] [--amount SATS] [--fee-rate SAT_PER_VB] [--global-xpubs]
                   [--out-format auto|binary|base64]
The funding outputs go to external addresses 0, 1, ... (and --change-fund to internal 0, 1, ...).
Inputs and outputs keep bdk's coin-selection order (largest first, no shuffle), so the same options give
the same PSBT. Prints JSON: {"out", "unsigned_txid", "inputs", "outputs", "fee", "descriptor",
"first_receive_address", "payment", "change"}.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import struct
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import peer_common as common  # noqa: E402

# A regtest P2WPKH address outside the wallet (witness program = HASH160-sized SHA-256 prefix of a label).
DEFAULT_PAYMENT_PROGRAM = hashlib.sha256(b"airlock interop payee").digest()[:20]


def compact_size(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    return b"\xfe" + struct.pack("<I", n)


def funding_transaction(label: int, value: int, script_pubkey: bytes) -> bytes:
    """A synthetic, non-segwit-serialized version-2 transaction paying `value` to `script_pubkey`.

    Its single input spends a made-up outpoint (SHA-256 of a label); it only has to be a well-formed
    transaction whose output the watch-only wallet recognises.
    """
    prevout = hashlib.sha256(f"airlock synthetic funding {label}".encode()).digest() + struct.pack("<I", 0)
    tx = struct.pack("<i", 2)
    tx += compact_size(1) + prevout + compact_size(0) + struct.pack("<I", 0xFFFFFFFD)
    tx += compact_size(1) + struct.pack("<q", value) + compact_size(len(script_pubkey)) + script_pubkey
    tx += struct.pack("<I", 0)
    return tx


def parse_sats(text: str, what: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise common.PeerError(f"{what} must be comma-separated satoshi amounts, got {text!r}") from None
    if any(v <= 0 or v > 21_000_000 * 100_000_000 for v in values):
        raise common.PeerError(f"{what} amounts must be between 1 sat and 21M BTC")
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="where the unsigned PSBT goes")
    parser.add_argument("--keys", help="keys.json of the wallet (default: the benchmark's)")
    parser.add_argument("--fund", default="100000,200000,300000", help="external-chain funding amounts, sat")
    parser.add_argument("--change-fund", default="150000", help="internal-chain funding amounts, sat ('' for none)")
    parser.add_argument("--pay-address", help="regtest address to pay (default: a fixed foreign P2WPKH)")
    parser.add_argument("--amount", type=int, default=600_000, help="payment amount, sat")
    parser.add_argument("--fee-rate", type=int, default=2, help="fee rate, sat/vB")
    parser.add_argument("--global-xpubs", action="store_true", help="add PSBT_GLOBAL_XPUB entries")
    parser.add_argument("--out-format", default="auto", choices=["auto", "binary", "base64"])
    args = parser.parse_args()

    import bdkpython as bdk

    keys = common.load_keys(args.keys)
    external_funds = parse_sats(args.fund, "--fund")
    internal_funds = parse_sats(args.change_fund, "--change-fund") if args.change_fund else []
    if args.amount <= 0:
        raise common.PeerError("--amount must be positive")
    if not 1 <= args.fee_rate <= 10_000:
        raise common.PeerError("--fee-rate must be between 1 and 10000 sat/vB")

    key_texts = [f"[{e['fp']}/{common.ACCOUNT_PATH_H}]{e['tpub']}/<0;1>/*" for e in keys["keys"]]
    descriptor_text = f"wsh(sortedmulti({common.THRESHOLD},{','.join(key_texts)}))"
    network = bdk.Network.REGTEST
    try:
        descriptor = bdk.Descriptor(descriptor_text, bdk.NetworkKind.TEST)
    except Exception as error:  # DescriptorError
        raise common.PeerError(f"bdkpython rejects the descriptor: {error}") from None
    wallet = bdk.Wallet.create_from_two_path_descriptor(descriptor, network, bdk.Persister.new_in_memory())

    funding = []
    label = 0
    for keychain, values in ((bdk.KeychainKind.EXTERNAL, external_funds), (bdk.KeychainKind.INTERNAL, internal_funds)):
        if values:
            wallet.reveal_addresses_to(keychain, len(values) - 1)
        for index, value in enumerate(values):
            script = wallet.peek_address(keychain, index).address.script_pubkey().to_bytes()
            funding.append(bdk.UnconfirmedTx(tx=bdk.Transaction(funding_transaction(label, value, script)), last_seen=1))
            label += 1
    wallet.apply_unconfirmed_txs(funding)
    balance = wallet.balance().total.to_sat()
    if balance != sum(external_funds) + sum(internal_funds):
        raise common.PeerError(f"bdkpython counted {balance} sat of funding, expected {sum(external_funds) + sum(internal_funds)}")

    if args.pay_address:
        try:
            payee = bdk.Address(args.pay_address, network)
        except Exception as error:  # AddressParseError
            raise common.PeerError(f"--pay-address is not a regtest address: {error}") from None
        payee_script = payee.script_pubkey()
    else:
        payee_script = bdk.Script(b"\x00\x14" + DEFAULT_PAYMENT_PROGRAM)
        payee = bdk.Address.from_script(payee_script, network)

    builder = (
        bdk.TxBuilder()
        .add_recipient(payee_script, bdk.Amount.from_sat(args.amount))
        .fee_rate(bdk.FeeRate.from_sat_per_vb(args.fee_rate))
        .coin_selection(bdk.CoinSelectionAlgorithm.LARGEST_FIRST)
        .ordering(bdk.TxOrdering.UNTOUCHED)
    )
    if args.global_xpubs:
        builder = builder.add_global_xpubs()
    try:
        psbt = builder.finish(wallet)
    except Exception as error:  # CreateTxError (e.g. insufficient funds)
        raise common.PeerError(f"bdkpython cannot build the transaction: {error}") from None

    raw = base64.b64decode(psbt.serialize())
    common.write_atomic(args.out, common.encode_for_path(raw, args.out, args.out_format))

    tx = psbt.extract_tx_unchecked_fee_rate()
    outputs = tx.output()
    payee_bytes = payee_script.to_bytes()
    change = [
        {"vout": i, "value": o.value.to_sat(), "address": str(bdk.Address.from_script(o.script_pubkey, network))}
        for i, o in enumerate(outputs)
        if o.script_pubkey.to_bytes() != payee_bytes
    ]
    common.print_json(
        {
            "out": args.out,
            "unsigned_txid": str(tx.compute_txid()),
            "inputs": len(tx.input()),
            "outputs": len(outputs),
            "fee": psbt.fee(),
            "descriptor": str(descriptor),
            "first_receive_address": str(wallet.peek_address(bdk.KeychainKind.EXTERNAL, 0).address),
            "payment": {"address": str(payee), "value": args.amount},
            "change": change,
        }
    )


if __name__ == "__main__":
    common.run_main(main)
