#!/usr/bin/env python3
"""Checks BIP-340 signatures with an implementation independent of libsecp256k1: embit's
pure-Python fallback (`embit.util.key`, Bitcoin Core's test-framework code), never its ctypes
binding. Reads JSON lines {"key": x-only hex, "msg": hex, "sig": hex} on stdin and prints one
line per signature: "ok" or "bad". For Airlock's FROST tests."""
import json
import sys

from embit.util import key as pure


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        item = json.loads(line)
        ok = pure.verify_schnorr(
            bytes.fromhex(item["key"]), bytes.fromhex(item["sig"]), bytes.fromhex(item["msg"])
        )
        print("ok" if ok else "bad")


if __name__ == "__main__":
    main()
