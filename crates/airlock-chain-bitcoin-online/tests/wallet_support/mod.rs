//! Shared pieces of the watch-only wallet tests: the benchmark's throwaway regtest cosigner keys
//! (seed of cosigner i = SHA-256("seed<i>")), descriptor texts, synthetic funding transactions,
//! signing with BDK's signer and rust-bitcoin's, and Bitcoin Core's script interpreter
//! (`bitcoinconsensus`) as the judge of final transactions.

#![allow(dead_code)]

use std::str::FromStr;

use airlock_chain_bitcoin_online::{
    HistoryEntry, KeychainKind, VaultBalance, VaultUtxo, WatchOnlyVault,
};
use bdk_wallet::bitcoin::bip32::{DerivationPath, Fingerprint, Xpriv, Xpub};
use bdk_wallet::bitcoin::consensus::encode::serialize;
use bdk_wallet::bitcoin::hashes::{Hash, sha256};
use bdk_wallet::bitcoin::secp256k1::{Secp256k1, SecretKey};
use bdk_wallet::bitcoin::{
    Address, Amount, CompressedPublicKey, Network, NetworkKind, OutPoint, Psbt, ScriptBuf,
    Sequence, Transaction, TxIn, TxOut, Txid, Witness, absolute, transaction,
};
use bdk_wallet::miniscript::{Descriptor, DescriptorPublicKey};
use bdk_wallet::signer::SignersContainer;
use bdk_wallet::{SignOptions, Wallet};

/// The account tpubs and fingerprints of `shared/bench/psbt-sign/keys.json`.
pub const FIXTURE_KEYS: [(&str, &str); 3] = [
    (
        "350826d2",
        "tpubDEFTHvLAaReaj2CdfrADRgF2sGfCvvNpj3WVKBtd6eLXmDadrWevWfmc2Tj85u3foVMdp11oHPcffUtYivHa2KYDgSoijX2RBQLYWGKBxce",
    ),
    (
        "74ee38f0",
        "tpubDFkqkmQbhtn3mjotDkY1W1QwmJEwbJVYZeWFivoAFrVGwXriitmg3yuaPAMk4EJV76ZvNmy5docDdihRKHLY1HbhJ3ULbS64UUHsNrUFY4o",
    ),
    (
        "886fee83",
        "tpubDFe3Y2mwTWdwLEjEdEXseaLho5TiH56d1CmNuwVUPms9DZawbkvCiwcWYeGYLcAdXEoj2vbTnoF5uZUzjCxXrpAMYziTwv1dPrLRJRQJLtA",
    ),
];

/// BIP-48 P2WSH multisig account path on test networks.
pub const MULTISIG_ACCOUNT: &str = "48h/1h/0h/2h";
/// A second BIP-48 account, used as the "new vault" of a key rotation.
pub const ROTATED_ACCOUNT: &str = "48h/1h/1h/2h";
/// BIP-84 account (single-key wpkh) on test networks.
pub const WPKH_ACCOUNT: &str = "84h/1h/0h";
/// BIP-86 account (single-key taproot) on test networks.
pub const TR_ACCOUNT: &str = "86h/1h/0h";
/// BIP-341's provably unspendable internal key (no key path), for script-only taproot vaults.
pub const NUMS_KEY: &str = "50929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0";

/// Cosigner `index`'s BIP-32 master key (regtest).
pub fn master(index: usize) -> Xpriv {
    let seed = sha256::Hash::hash(format!("seed{index}").as_bytes());
    Xpriv::new_master(NetworkKind::Test, seed.as_byte_array()).expect("valid seed")
}

/// Cosigner `index`'s master fingerprint.
pub fn fingerprint(index: usize) -> Fingerprint {
    master(index).fingerprint(&Secp256k1::new())
}

/// Cosigner `index`'s account xpriv at `account` (e.g. [`MULTISIG_ACCOUNT`]).
pub fn account_xpriv(index: usize, account: &str) -> Xpriv {
    let path = DerivationPath::from_str(&format!("m/{account}")).expect("path");
    master(index)
        .derive_priv(&Secp256k1::new(), &path)
        .expect("derivation")
}

/// `[fingerprint/account]xkey/branch/*`, public, or private for the cosigner listed in `private_for`.
pub fn key_expression(index: usize, account: &str, branch: &str, private: bool) -> String {
    let xpriv = account_xpriv(index, account);
    let key = if private {
        xpriv.to_string()
    } else {
        Xpub::from_priv(&Secp256k1::new(), &xpriv).to_string()
    };
    format!("[{}/{account}]{key}/{branch}/*", fingerprint(index))
}

/// The vault kinds under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VaultKind {
    /// `wsh(sortedmulti(2, A, B, C))`
    WshSortedMulti2of3,
    /// `tr(NUMS, multi_a(2, A, B, C))`
    TrMultiA2of3,
    /// `wpkh(A)`
    Wpkh,
    /// `tr(A)`
    TrSingle,
    /// `wsh(or_d(multi(2, A, B, C), and_v(v:pkh(R), older(144))))`: 2 of 3 now, or recovery key R
    /// (cosigner 3) alone after 144 blocks.
    WshMultiOrRecovery,
}

/// The relative timelock of [`VaultKind::WshMultiOrRecovery`], in blocks.
pub const RECOVERY_BLOCKS: u32 = 144;

/// Descriptor text of `kind` for `branch` (`"<0;1>"`, `"0"` or `"1"`), with private keys for the
/// cosigners in `private_for` (signer side) and public keys for the others.
pub fn descriptor(kind: VaultKind, branch: &str, private_for: &[usize]) -> String {
    let key = |index: usize, account: &str| {
        key_expression(index, account, branch, private_for.contains(&index))
    };
    match kind {
        VaultKind::WshSortedMulti2of3 => format!(
            "wsh(sortedmulti(2,{},{},{}))",
            key(0, MULTISIG_ACCOUNT),
            key(1, MULTISIG_ACCOUNT),
            key(2, MULTISIG_ACCOUNT)
        ),
        VaultKind::TrMultiA2of3 => format!(
            "tr({NUMS_KEY},multi_a(2,{},{},{}))",
            key(0, MULTISIG_ACCOUNT),
            key(1, MULTISIG_ACCOUNT),
            key(2, MULTISIG_ACCOUNT)
        ),
        VaultKind::Wpkh => format!("wpkh({})", key(0, WPKH_ACCOUNT)),
        VaultKind::TrSingle => format!("tr({})", key(0, TR_ACCOUNT)),
        VaultKind::WshMultiOrRecovery => format!(
            "wsh(or_d(multi(2,{},{},{}),and_v(v:pkh({}),older({RECOVERY_BLOCKS}))))",
            key(0, MULTISIG_ACCOUNT),
            key(1, MULTISIG_ACCOUNT),
            key(2, MULTISIG_ACCOUNT),
            key(3, MULTISIG_ACCOUNT)
        ),
    }
}

/// The public multipath descriptor a vault is created from.
pub fn vault_descriptor(kind: VaultKind) -> String {
    descriptor(kind, "<0;1>", &[])
}

/// The rotated 2-of-3 vault (same cosigners, account 1).
pub fn rotated_vault_descriptor() -> String {
    let key = |index| key_expression(index, ROTATED_ACCOUNT, "<0;1>", false);
    format!("wsh(sortedmulti(2,{},{},{}))", key(0), key(1), key(2))
}

/// Adds cosigner `index`'s signatures with BDK's signer (a throwaway wallet of the public
/// descriptors plus that cosigner's keys as a `SignersContainer`).
pub fn sign_with_bdk(psbt: &mut Psbt, kind: VaultKind, index: usize) {
    let secp = Secp256k1::new();
    let wallet = Wallet::create(descriptor(kind, "0", &[]), descriptor(kind, "1", &[]))
        .network(Network::Regtest)
        .create_wallet_no_persist()
        .expect("signer wallet");
    let containers: Vec<SignersContainer> =
        [(KeychainKind::External, "0"), (KeychainKind::Internal, "1")]
            .into_iter()
            .map(|(keychain, branch)| {
                let (_, keymap) = Descriptor::<DescriptorPublicKey>::parse_descriptor(
                    &secp,
                    &descriptor(kind, branch, &[index]),
                )
                .expect("private descriptor");
                SignersContainer::build(keymap, wallet.public_descriptor(keychain), &secp)
            })
            .collect();
    let signers: Vec<&SignersContainer> = containers.iter().collect();
    let options = SignOptions {
        try_finalize: false,
        // Taproot sighashes commit to every spent amount and script, so witness_utxo is enough
        // there (BIP-371 PSBTs carry no non_witness_utxo for taproot inputs).
        trust_witness_utxo: matches!(kind, VaultKind::TrMultiA2of3 | VaultKind::TrSingle),
        ..SignOptions::default()
    };
    wallet
        .sign_with_signers(psbt, &signers, options)
        .expect("BDK signs");
}

/// Adds cosigner `index`'s signatures with rust-bitcoin's own PSBT signer (master key, BIP-32 paths
/// from the PSBT); returns how many inputs it signed.
pub fn sign_with_rust_bitcoin(psbt: &mut Psbt, index: usize) -> usize {
    let signed = psbt
        .sign(&master(index), &Secp256k1::new())
        .expect("rust-bitcoin signs");
    signed.len()
}

/// A deterministic regtest address outside every vault: P2WPKH of SHA-256(label).
pub fn foreign_address(label: &str) -> Address {
    let secret = SecretKey::from_slice(sha256::Hash::hash(label.as_bytes()).as_byte_array())
        .expect("valid key");
    let public = CompressedPublicKey(secret.public_key(&Secp256k1::new()));
    Address::p2wpkh(&public, Network::Regtest)
}

/// A deterministic regtest taproot address outside every vault.
pub fn foreign_taproot_address(label: &str) -> Address {
    let secp = Secp256k1::new();
    let secret = SecretKey::from_slice(sha256::Hash::hash(label.as_bytes()).as_byte_array())
        .expect("valid key");
    let (xonly, _) = secret.public_key(&secp).x_only_public_key();
    Address::p2tr(&secp, xonly, None, Network::Regtest)
}

/// A synthetic funding transaction: one input from a made-up coin (`label` makes it unique),
/// outputs as given.
pub fn funding_transaction(label: &str, outputs: &[(ScriptBuf, u64)]) -> Transaction {
    let previous = Txid::from_raw_hash(bdk_wallet::bitcoin::hashes::sha256d::Hash::hash(
        label.as_bytes(),
    ));
    Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(previous, 0),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: outputs
            .iter()
            .map(|(script, sats)| TxOut {
                value: Amount::from_sat(*sats),
                script_pubkey: script.clone(),
            })
            .collect(),
    }
}

/// Raw bytes of a transaction.
pub fn raw(tx: &Transaction) -> Vec<u8> {
    serialize(tx)
}

/// Runs Bitcoin Core's script interpreter (libbitcoinconsensus, all spent outputs given so taproot
/// is checked too) on every input of `tx`.
pub fn verify_with_bitcoin_core(tx: &Transaction, spent: &[TxOut]) -> Result<(), String> {
    assert_eq!(tx.input.len(), spent.len(), "one spent output per input");
    let tx_bytes = serialize(tx);
    let utxos: Vec<bitcoinconsensus::Utxo> = spent
        .iter()
        .map(|output| bitcoinconsensus::Utxo {
            script_pubkey: output.script_pubkey.as_bytes().as_ptr(),
            script_pubkey_len: output.script_pubkey.len() as u32,
            value: output.value.to_sat() as i64,
        })
        .collect();
    for (index, output) in spent.iter().enumerate() {
        bitcoinconsensus::verify(
            output.script_pubkey.as_bytes(),
            output.value.to_sat(),
            &tx_bytes,
            Some(&utxos),
            index,
        )
        .map_err(|error| format!("input {index}: {error:?}"))?;
    }
    Ok(())
}

/// The outputs a PSBT's inputs spend, from their `witness_utxo`.
pub fn spent_outputs(psbt: &Psbt) -> Vec<TxOut> {
    psbt.inputs
        .iter()
        .map(|input| input.witness_utxo.clone().expect("witness_utxo"))
        .collect()
}

/// Everything observable about a vault, to check that a refused call changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub balance: VaultBalance,
    pub utxos: Vec<VaultUtxo>,
    pub history: Vec<HistoryEntry>,
    pub next_receive_index: u32,
    pub next_change_index: u32,
    pub tip_height: u32,
}

pub fn snapshot(vault: &WatchOnlyVault) -> Snapshot {
    Snapshot {
        balance: vault.balance(),
        utxos: vault.utxos(),
        history: vault.history(),
        next_receive_index: vault.wallet().next_derivation_index(KeychainKind::External),
        next_change_index: vault.wallet().next_derivation_index(KeychainKind::Internal),
        tip_height: vault.wallet().latest_checkpoint().height(),
    }
}
