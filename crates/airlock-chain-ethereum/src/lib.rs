//! Ethereum for Airlock: EIP-1559 transactions from single accounts, Safe (1.3.0 / 1.4.1)
//! multisig transactions and generic EIP-712 typed data, split along the air gap.
//!
//! # The offline half (always compiled; linked into the signer)
//!
//! - [`EthAddress`]: typed addresses. Accepted: `0x` + 40 hex digits, either mixed case with a
//!   valid EIP-55 checksum, or all-lowercase, or all-uppercase. A mixed-case address whose
//!   checksum is wrong is refused with an error naming it. Displayed checksummed.
//! - [`EthKey`]: BIP-44 `m/44'/60'/0'/0/i` from a 64-byte BIP-39 seed ([`EthKey::from_seed`]),
//!   or 32 raw secret bytes; [`EthKey::address`]; deterministic low-S signatures.
//! - [`EthPayload`]: what an Airlock proposal carries (`Transactions`, `SafeTx`, `TypedData`),
//!   canonical CBOR format version 1 ([`EthPayload::to_bytes`] / [`EthPayload::from_bytes`],
//!   strict, never panics); a batch must have consecutive nonces.
//! - [`describe`]`(payload, &AccountRecord, &EthPolicy) -> EthReview`: what the signer shows,
//!   recomputed from the payload and the signer's own record of the account / Safe (never from a
//!   coordinator-supplied description). Refuses a wrong chain id, another Safe, a non-allowlisted
//!   delegatecall (top level or inside multiSend), typed data posing as a SafeTx; warns on gas
//!   refund fields, unknown calls, approvals. [`EthReview::lines`] gives label/value pairs to
//!   show; [`transfers`] gives `(destination, amount u128, asset)` for comparison with the
//!   chain-agnostic intent (asset "" = ETH, else the token's checksummed address).
//! - Signing: [`sign_payload`] (the entry point for a signer: re-runs [`describe`], checks the
//!   key is the account or a Safe owner, then signs; returns the review it signed), and the
//!   primitives [`sign_transactions`] (raw EIP-2718 type-2 bytes), [`sign_safe_tx`] (65 bytes,
//!   v = 27/28), [`sign_typed_data`]; [`combine_safe_signatures`] (verify, dedupe, order by
//!   owner, concatenate); [`recover`].
//! - [`safe`]: domain separator, struct hash and safeTxHash; the SafeTx typed-data JSON.
//! - [`calldata`]: ERC-20 and multiSend decoding / encoding.
//! - [`safe_service`]: the Safe Transaction Service's multisig-transaction JSON (Safe{Wallet}),
//!   read with the safeTxHash recomputed and every confirmation verified, and written.
//! - [`eip4527`]: `eth-sign-request` / `eth-signature` for a member whose key is on a QR signer
//!   (Keystone): requests built from the signer's own review, responses checked to recover to
//!   the member's address over Airlock's own digests.
//!
//! # Tests and their peers
//!
//! `tests/cast_peer.rs` compares raw transactions (`cast mktx`, offline flags `--chain --nonce
//! --gas-limit --gas-price --priority-gas-price`) and EIP-712 signatures (`cast wallet sign
//! --data`, `--no-hash`) byte for byte with Foundry's `cast` 1.7.1; `tests/safe_hash.rs` checks
//! the safeTxHash against published vectors and Safe's protocol-kit (`tests/peers/*.cjs`, run by
//! node). Peers are installed from the workspace root (a missing peer fails the test, it never
//! skips):
//!
//! ```sh
//! npm install --prefix target/peers/cast @foundry-rs/cast-linux-amd64@1.7.1
//! npm install --prefix target/peers/safe @safe-global/protocol-kit@8.0.7
//! ```
//!
//! `AIRLOCK_CAST` overrides the `cast` path.
//!
//! # The online half (crate `airlock-chain-ethereum-online`; coordinator only)
//!
//! JSON-RPC, Safe deployment, broadcast and `ChainOnline` live in a crate of their own, so no
//! build of the signer can link them.
//!
//! This crate must never sign something the person was not shown, never trust a description
//! supplied by the coordinator, and never contain network code.

pub mod address;
pub mod calldata;
pub mod chain;
pub mod eip4527;
pub mod error;
pub mod keys;
pub mod payload;
pub mod review;
pub mod safe;
pub mod safe_service;
pub mod sign;
pub mod typed;
pub mod vault_spec;

pub use address::EthAddress;
pub use calldata::{Call, InnerCall};
pub use chain::Ethereum;
pub use error::EthError;
pub use keys::EthKey;
pub use payload::{Eip1559Request, EthPayload, SafeTx};
pub use review::{
    AccountKind, AccountRecord, EthPolicy, EthReview, EthTransfer, ReviewKind, SafeReview,
    TxReview, describe, format_eth, transfers,
};
pub use safe::{SafeHashes, safe_tx_hash};
pub use sign::{
    EthSignature, combine_safe_signatures, recover, sign_payload, sign_safe_tx, sign_transactions,
    sign_typed_data, transaction_hashes,
};
pub use typed::{TypedField, TypedReview};
pub use vault_spec::EthVault;

/// The chain name used in vault definitions.
pub const CHAIN: &str = "ethereum";
