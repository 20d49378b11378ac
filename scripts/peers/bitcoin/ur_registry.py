#!/usr/bin/env python3
"""Independent BC-UR registry reader/writer for Airlock's interop tests: Foundation Devices'
`urtypes` 1.0.1 (the CBOR types Passport and Krux use) for crypto-output / crypto-account, and
embit 0.8.0 for descriptors and addresses.

  ur_registry.py decode-output HEX --network test|main
      urtypes decodes a crypto-output; prints its descriptor, and embit's first receive address
      of that descriptor with every key continued by /0/* (index 0).
  ur_registry.py decode-account HEX
      urtypes decodes a crypto-account; prints its master fingerprint and descriptors.
  ur_registry.py encode-account --mnemonic-file F --network test|main [--account N]
      embit derives the BIP-48 P2WSH, BIP-84 and BIP-86 account keys of the mnemonic; urtypes
      writes them as a crypto-account (wsh(cosigner), wpkh, tr); prints the CBOR hex and the keys.

Prints JSON; bad input gives `error: ...` on stderr and exit status 2. Nothing goes online.
"""
import argparse
import json
import re
import sys

from embit import bip32, bip39
from embit.descriptor import Descriptor
from embit.networks import NETWORKS
from urtypes.crypto import (
    Account,
    CoinInfo,
    HDKey,
    Keypath,
    Output,
    PathComponent,
    SCRIPT_EXPRESSION_TAG_MAP,
)


def network(name):
    return NETWORKS["test"] if name == "test" else NETWORKS["main"]


def decode_output(args):
    output = Output.from_cbor(bytes.fromhex(args.hex))
    descriptor = output.descriptor()
    body = descriptor.split("#")[0]
    derivable = re.sub(r"((?:x|t)pub[1-9A-HJ-NP-Za-km-z]+)", r"\1/0/*", body)
    desc = Descriptor.from_string(derivable)
    address = desc.derive(0).address(network(args.network))
    print(json.dumps({"descriptor": descriptor, "first_receive_address": address}))


def decode_account(args):
    account = Account.from_cbor(bytes.fromhex(args.hex))
    print(json.dumps({
        "fingerprint": account.master_fingerprint.hex(),
        "descriptors": [o.descriptor() for o in account.output_descriptors],
    }))


def hd_key(root, path, net, fingerprint):
    child = root.derive(path)
    components = [PathComponent(i & 0x7FFFFFFF, bool(i & 0x80000000)) for i in bip32.parse_path(path)]
    return HDKey(
        {
            "key": child.key.sec(),
            "chain_code": child.chain_code,
            "use_info": CoinInfo(0, 1 if net == "test" else 0),
            "origin": Keypath(components, fingerprint, len(components)),
            "parent_fingerprint": child.fingerprint,
        }
    ), child


def encode_account(args):
    words = open(args.mnemonic_file).read().strip()
    root = bip32.HDKey.from_seed(bip39.mnemonic_to_seed(words), version=network(args.network)["xprv"])
    fingerprint = root.my_fingerprint
    coin = 1 if args.network == "test" else 0
    a = args.account
    wanted = [
        ([401, 410], f"m/48h/{coin}h/{a}h/2h"),
        ([404], f"m/84h/{coin}h/{a}h"),
        ([409], f"m/86h/{coin}h/{a}h"),
    ]
    outputs, keys, hdkeys = [], [], []
    for tags, path in wanted:
        key, child = hd_key(root, path, args.network, fingerprint)
        hdkeys.append(key.to_cbor().hex())
        exprs = [SCRIPT_EXPRESSION_TAG_MAP[t] for t in tags]
        outputs.append(Output(exprs, key))
        xpub = child.to_public().to_string(version=network(args.network)["xpub"])
        origin = path[1:].replace("h", "'")
        keys.append(f"[{fingerprint.hex()}{origin}]{xpub}")
    account = Account(fingerprint, outputs)
    print(json.dumps({"cbor": account.to_cbor().hex(), "fingerprint": fingerprint.hex(), "keys": keys,
                      "hdkeys": hdkeys}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("decode-output")
    d.add_argument("hex")
    d.add_argument("--network", choices=["test", "main"], default="test")
    a = sub.add_parser("decode-account")
    a.add_argument("hex")
    e = sub.add_parser("encode-account")
    e.add_argument("--mnemonic-file", required=True)
    e.add_argument("--network", choices=["test", "main"], default="test")
    e.add_argument("--account", type=int, default=0)
    args = p.parse_args()
    try:
        {"decode-output": decode_output, "decode-account": decode_account,
         "encode-account": encode_account}[args.cmd](args)
    except Exception as exc:  # a peer's refusal is the answer, reported as such
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
