//! Bitcoin for Airlock: descriptor vaults, PSBT review and signing offline (default build); watch-only
//! sync, PSBT building, finalization and broadcast are in `airlock-chain-bitcoin-online`.
//!
//! # The offline half (always compiled; linked into the signer)
//!
//! Built on rust-bitcoin 0.32 and miniscript 12 (the generation `bdk_wallet` 3 uses).
//!
//! - [`BtcVault`] ([`vault`]): a vault account is output-descriptor text with key origins and
//!   multipath `<0;1>/*` keys: `wpkh`, `tr(key)`, `wsh(sortedmulti(M,…))`, `wsh(multi(…))`,
//!   `tr(internal, multi_a(M,…))` / `sortedmulti_a`, any `wsh` miniscript such as
//!   `wsh(or_d(multi(2,A,B,C),and_v(v:pk(R),older(N))))`, and `sh(wsh/wpkh)`. Refused with an
//!   error naming the problem: duplicate keys, keys of another network (tpub in a mainnet vault
//!   or xpub in a test vault), a wrong `#checksum`, private keys, keys without origin, without
//!   a two-branch multipath step or with a hardened wildcard, legacy (non-segwit) scripts.
//!   [`BtcVault::wallet_fingerprint`] = first 4 bytes of SHA-256 of the canonical descriptor text
//!   (without checksum) as 8 hex digits; [`BtcVault::first_receive_address`] for comparing
//!   devices; [`BtcVault::descriptor_text`] (multipath, with checksum: Sparrow, Bitcoin Core)
//!   and [`BtcVault::branch_descriptors`] (`/0/*` and `/1/*`, for tools that want two).
//! - [`BtcAccount`], [`check_members`] ([`account`]): the vault's `account` is the descriptor,
//!   optionally followed by `shared-fingerprint=FP,…`; its extended keys (with origins) must be
//!   exactly the members' listed chain keys, one per listing member (a recovery key's holder is
//!   a member too), fixed keys only BIP-341's NUMS point, and two keys of one master
//!   fingerprint only when the account names it (every signer is then shown a warning).
//! - [`SignerKey`] ([`keys`]): a BIP-32 master key from seed bytes or a master xprv;
//!   [`SignerKey::export_multisig_key`] = `[fp/48'/coin'/0'/2']xpub` (BIP-48),
//!   [`SignerKey::single_key_descriptor`] for BIP-84 `wpkh` and BIP-86 `tr`.
//! - [`parse_psbt`] ([`encoding`]): binary or base64 PSBT v0, capped at [`MAX_PSBT_BYTES`]
//!   (16 MiB); truncated or damaged input gets an error saying so; PSBT v2 is named and refused.
//! - [`review()`] ([`review`](mod@review)): from the vault only, recomputes what the PSBT does
//!   (inputs re-derived and tied to the vault, UTXO data cross-checked, change only if it
//!   re-derives to the exact script at its path, amounts, fee, fee rate over the estimated final
//!   vsize, fee as % of payments, sighash types, lock time and sequences) and verifies every
//!   signature the PSBT already carries (a bad one is refused, naming the input and the key);
//!   limits and warnings come from [`ReviewPolicy`].
//! - [`sign_psbt`] / [`sign_reviewed`] ([`sign`]): ECDSA with RFC 6979 and low-R grinding
//!   (byte-identical to Core/Electrum/BDK) for segwit v0 over BIP-143 sighashes from a shared
//!   cache; BIP-340 Schnorr for taproot key and script paths (BIP-341 sighash over all spent
//!   outputs, BIP-371 fields). Only inputs whose own derivation names this signer's key at the
//!   reviewed position are signed.
//! - [`verify_partial_signatures`], [`combine()`], [`finalize`] ([`combine`](mod@combine)): every
//!   partial signature must be filed under a key the input's script uses and verify over the
//!   recomputed sighash (the one check every review runs); PSBTs of another unsigned transaction
//!   are refused; finalization is miniscript's `finalize_mut`; extraction follows.
//! - [`Bitcoin`] ([`chain`]): `airlock_core::chain::ChainReview`. Vault `account` = descriptor
//!   text, `network` = "bitcoin" | "testnet" | "testnet4" | "signet" | "regtest", payload = PSBT
//!   bytes. `ChainSecret` = the signer's BIP-32 seed (16–64 raw bytes; normally the 64-byte
//!   BIP-39 seed) or the ASCII text of a master `xprv`/`tprv`. `sign` returns the whole PSBT
//!   (binary) with this signer's signatures added. Transfers carry asset `""` ([`NATIVE_ASSET`],
//!   Airlock's convention for a chain's native asset).
//! - [`bsms`]: BIP-129 descriptor records (unencrypted), import and export.
//! - [`devices`]: other wallets' and devices' exports: UR `crypto-account` / `crypto-hdkey` /
//!   `crypto-output`, Coldcard's multisig setup file and JSON exports, Specter JSON, Sparrow's
//!   descriptor file; member keys or whole vaults in, Coldcard / `crypto-output` / Specter /
//!   Sparrow files out.
//!
//! # Performance
//!
//! `cargo run --release -p airlock-chain-bitcoin --example psbt_sign_bench` (from the workspace
//! root, with `../shared/bench/psbt-sign`) times parse, review, sign and serialize of the
//! Electrum-made 100- and 1,000-input 2-of-3 P2WSH PSBTs for cosigner 0 and verifies every
//! signature. Per input the review costs one public child derivation per vault key (branch keys
//! are derived once; `IL·G` by fixed-base multiplication) and signing one HMAC, one scalar
//! addition and one low-R signature; inputs are spread over the cores
//! ([`parallel`], `AIRLOCK_BITCOIN_THREADS` caps the threads). A signer that stores the
//! registration cache of [`BtcVault::build_derivation_cache`] beside the vault (derived keys of
//! the first N indexes, checked against the descriptor on load) reviews without any
//! elliptic-curve work for the indexes it covers.
//!
//! # Tests and their peers
//!
//! Tests build funding transactions synthetically (no node runs here) and judge every final
//! transaction with Bitcoin Core's interpreter (`bitcoinconsensus` 0.106 = Core 26, taproot with
//! all spent outputs): `tests/sign_finalize.rs`, `tests/chain_review.rs`,
//! `tests/electrum_fixture.rs`; refusals in `tests/review_bad_input.rs` and
//! `tests/vault_descriptors.rs` (with the BIP-84 and BIP-86 vectors); BSMS in `tests/bsms.rs`.
//! Interop with Electrum, embit and bdkpython lives in `tests/peers_*.rs`.
//!
//! # The online half (crate `airlock-chain-bitcoin-online`; coordinator only)
//!
//! Watch-only wallet (BDK), sync, PSBT building and broadcast live in a crate of their own, so
//! feature unification in a workspace build can never link them into the signer.
//!
//! This crate must never sign something the person was not shown, never trust a description
//! supplied by the coordinator, and never contain network code.

pub mod account;
pub mod bsms;
pub mod chain;
pub mod combine;
pub mod devices;
pub mod encoding;
pub mod error;
pub mod frost_psbt;
pub mod keys;
pub mod parallel;
pub mod review;
pub mod sign;
pub mod vault;

/// The chain name in vault definitions.
pub const CHAIN: &str = "bitcoin";

/// One libsecp256k1 context for the process (creating one randomizes it, which costs an
/// elliptic-curve multiplication: too much to pay per PSBT of a batch).
pub(crate) fn secp() -> &'static bitcoin::secp256k1::Secp256k1<bitcoin::secp256k1::All> {
    static CONTEXT: std::sync::OnceLock<bitcoin::secp256k1::Secp256k1<bitcoin::secp256k1::All>> =
        std::sync::OnceLock::new();
    CONTEXT.get_or_init(bitcoin::secp256k1::Secp256k1::new)
}

pub use account::{BtcAccount, ListedKey, SHARED_FINGERPRINT, check_members};
pub use bitcoin;
pub use bsms::{export_descriptor_record, import_descriptor_record};
pub use chain::{Bitcoin, NATIVE_ASSET, to_description};
pub use combine::{SignatureReport, combine, finalize, verify_partial_signatures};
pub use encoding::{MAX_PSBT_BYTES, parse_psbt, psbt_to_base64, serialize_psbt};
pub use error::BtcError;
pub use keys::{SignerKey, SingleKeyScript};
pub use review::{PsbtReview, ReviewPolicy, ReviewedInput, ReviewedOutput, review};
pub use sign::{PreparedSigner, SignReport, sign_psbt, sign_reviewed, sign_reviewed_prepared};
pub use vault::{BtcVault, CHANGE, RECEIVE, VaultKey, VaultKind, parse_address, parse_network};
