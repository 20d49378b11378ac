"""The benchmark's 2-of-3 wsh(sortedmulti) wallet as an Electrum 4.3.4 multisig wallet (Python API).

What it is for: sign_psbt.py (cosigner i holds its seed-derived account xprv, the other two their
tpubs) and verify_psbt.py (watch-only, all three tpubs, so Electrum knows the inputs' script type and
can finalize). The wallet file lives in a temporary directory that is removed afterwards; Electrum's
event loop is started only because its wallet classes post callbacks to it -- no network is started.

What it must never do: connect anywhere, keep the wallet file, or print key material. Import it only
under the interpreter that has Debian's Electrum (/usr/bin/python3).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

import peer_common as common


@contextlib.contextmanager
def multisig_wallet(keys: dict, signing_cosigner: int | None):
    """Yield an offline Electrum Multisig_Wallet of the benchmark wallet (regtest).

    signing_cosigner: index whose private keystore (from its seed) the wallet holds, or None for a
    watch-only wallet.
    """
    from electrum import constants, keystore, util
    from electrum.bip32 import BIP32Node
    from electrum.simple_config import SimpleConfig
    from electrum.storage import WalletStorage
    from electrum.wallet import Wallet
    from electrum.wallet_db import WalletDB

    constants.set_regtest()
    loop, stop_loop, loop_thread = util.create_and_start_event_loop()
    wallet_dir = tempfile.mkdtemp(prefix="airlock-electrum-")
    try:
        config = SimpleConfig(
            {"electrum_path": wallet_dir, "offline": True, "auto_connect": False, "oneserver": True},
            read_user_config_function=lambda _path: {},
        )
        db = WalletDB("", manual_upgrades=False)
        db.put("wallet_type", f"{common.THRESHOLD}of{common.COSIGNERS}")
        for index in range(common.COSIGNERS):
            expected_fp = keys["keys"][index]["fp"]
            if index == signing_cosigner:
                ks = keystore.from_bip43_rootseed(
                    common.cosigner_root_seed(index), common.ACCOUNT_PATH, xtype="p2wsh"
                )
                if ks.get_root_fingerprint() != expected_fp:
                    raise common.PeerError(
                        f"cosigner {index}'s seed gives fingerprint {ks.get_root_fingerprint()}, "
                        f"keys.json says {expected_fp}"
                    )
            else:
                # keys.json has plain tpubs; Electrum marks the script type in the version bytes (Vpub).
                node = BIP32Node.from_xkey(keys["keys"][index]["tpub"])._replace(xtype="p2wsh")
                ks = keystore.from_xpub(node.to_xpub())
                ks.add_key_origin(derivation_prefix=common.ACCOUNT_PATH, root_fingerprint=expected_fp)
            db.put(f"x{index + 1}/", ks.dump())
        storage = WalletStorage(os.path.join(wallet_dir, "wallet"))
        yield Wallet(db, storage, config=config)
    finally:
        loop.call_soon_threadsafe(stop_loop.set_result, 1)
        loop_thread.join(timeout=10)
        shutil.rmtree(wallet_dir, ignore_errors=True)


def parse_psbt(psbt_bytes: bytes):
    from electrum.transaction import PartialTransaction

    try:
        return PartialTransaction.from_raw_psbt(psbt_bytes)
    except Exception as error:  # Electrum raises several types for malformed PSBTs
        raise common.PeerError(f"Electrum cannot parse the PSBT: {error}") from None
