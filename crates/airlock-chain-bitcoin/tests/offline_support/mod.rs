//! Shared pieces of the offline-half tests: throwaway regtest cosigners (seed of cosigner i =
//! SHA-256("seed<i>"), as the benchmark fixtures), vault descriptors of every supported kind,
//! synthetic funding transactions (no node runs here), PSBTs built with rust-bitcoin and
//! miniscript, and Bitcoin Core's script interpreter (`bitcoinconsensus`, taproot with all spent
//! outputs) as the judge of final transactions.

#![allow(dead_code)]

use airlock_chain_bitcoin::{BtcVault, SignerKey};
use bitcoin::consensus::encode::serialize;
use bitcoin::hashes::{Hash, sha256};
use bitcoin::{
    Amount, Network, OutPoint, Psbt, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness,
    absolute, transaction,
};
use miniscript::psbt::PsbtExt;

pub const NETWORK: Network = Network::Regtest;
/// BIP-341's provably unspendable internal key (no key path).
pub const NUMS_KEY: &str = "50929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0";

pub fn seed(index: usize) -> [u8; 32] {
    sha256::Hash::hash(format!("seed{index}").as_bytes()).to_byte_array()
}

pub fn signer(index: usize) -> SignerKey {
    SignerKey::from_seed(&seed(index), NETWORK).expect("seed")
}

/// `[fp/48'/1'/0'/2']tpub…/<0;1>/*` of cosigner `index`.
pub fn multisig_key(index: usize) -> String {
    format!(
        "{}/<0;1>/*",
        signer(index).export_multisig_key().expect("export")
    )
}

pub fn sortedmulti_2of3() -> String {
    format!(
        "wsh(sortedmulti(2,{},{},{}))",
        multisig_key(0),
        multisig_key(1),
        multisig_key(2)
    )
}

/// 2 of 3 now, or cosigner 2 alone after `blocks` blocks.
pub fn recovery_policy(blocks: u16) -> String {
    format!(
        "wsh(or_d(multi(2,{},{},{}),and_v(v:pk({}),older({blocks}))))",
        multisig_key(0),
        multisig_key(1),
        multisig_key(3),
        multisig_key(2)
    )
}

pub fn taproot_multi_a() -> String {
    format!(
        "tr({NUMS_KEY},multi_a(2,{},{},{}))",
        multisig_key(0),
        multisig_key(1),
        multisig_key(2)
    )
}

pub fn vault(descriptor: &str) -> BtcVault {
    BtcVault::parse_for(descriptor, NETWORK).expect("vault descriptor")
}

/// A fake funding transaction paying `amounts` to the vault's receive addresses 0, 1, …
pub fn funding(vault: &BtcVault, amounts: &[u64]) -> Transaction {
    Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(Txid::from_byte_array([7; 32]), 0),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: amounts
            .iter()
            .enumerate()
            .map(|(i, &sat)| TxOut {
                value: Amount::from_sat(sat),
                script_pubkey: vault.script_pubkey(0, i as u32).expect("script"),
            })
            .collect(),
    }
}

/// The definite single-branch descriptor at `(branch, index)` (for miniscript's PSBT updater).
pub fn definite(
    vault: &BtcVault,
    branch: usize,
    index: u32,
) -> miniscript::Descriptor<miniscript::DefiniteDescriptorKey> {
    vault
        .descriptor()
        .clone()
        .into_single_descriptors()
        .expect("branches")[branch]
        .at_derivation_index(index)
        .expect("index")
}

/// A PSBT spending every output of `funding` (receive index = vout) to `payment` plus change at
/// change index 0, with all fields a signer needs (both UTXO fields for segwit v0).
pub fn spend(
    vault: &BtcVault,
    funding: &Transaction,
    payment: (ScriptBuf, u64),
    change: Option<u64>,
    sequence: Sequence,
) -> Psbt {
    let mut outputs = vec![TxOut {
        value: Amount::from_sat(payment.1),
        script_pubkey: payment.0,
    }];
    if let Some(sat) = change {
        outputs.push(TxOut {
            value: Amount::from_sat(sat),
            script_pubkey: vault.script_pubkey(1, 0).expect("change"),
        });
    }
    let tx = Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: (0..funding.output.len())
            .map(|vout| TxIn {
                previous_output: OutPoint::new(funding.compute_txid(), vout as u32),
                script_sig: ScriptBuf::new(),
                sequence,
                witness: Witness::new(),
            })
            .collect(),
        output: outputs,
    };
    let mut psbt = Psbt::from_unsigned_tx(tx).expect("unsigned");
    for vout in 0..funding.output.len() {
        psbt.inputs[vout].witness_utxo = Some(funding.output[vout].clone());
        if !vault.is_taproot() {
            psbt.inputs[vout].non_witness_utxo = Some(funding.clone());
        }
        psbt.update_input_with_descriptor(vout, &definite(vault, 0, vout as u32))
            .expect("input fields");
    }
    if change.is_some() {
        psbt.update_output_with_descriptor(1, &definite(vault, 1, 0))
            .expect("output fields");
    }
    psbt
}

/// A foreign P2WPKH script (not the vault's).
pub fn foreign_script() -> ScriptBuf {
    let key = signer(9)
        .xpub_at(&"m/84'/1'/0'/0/0".parse().expect("path"))
        .expect("xpub");
    ScriptBuf::new_p2wpkh(&bitcoin::CompressedPublicKey(key.public_key).wpubkey_hash())
}

/// Bitcoin Core's interpreter on every input of `tx` (all consensus flags incl. taproot).
pub fn consensus_verify(tx: &Transaction, spent: &[TxOut]) -> Result<(), String> {
    let bytes = serialize(tx);
    let utxos: Vec<bitcoinconsensus::Utxo> = spent
        .iter()
        .map(|o| bitcoinconsensus::Utxo {
            script_pubkey: o.script_pubkey.as_bytes().as_ptr(),
            script_pubkey_len: o.script_pubkey.len() as u32,
            value: o.value.to_sat() as i64,
        })
        .collect();
    let flags = bitcoinconsensus::VERIFY_ALL_PRE_TAPROOT | bitcoinconsensus::VERIFY_TAPROOT;
    for (i, output) in spent.iter().enumerate() {
        bitcoinconsensus::verify_with_flags(
            output.script_pubkey.as_bytes(),
            output.value.to_sat(),
            &bytes,
            Some(&utxos),
            i,
            flags,
        )
        .map_err(|e| format!("input {i}: {e:?}"))?;
    }
    Ok(())
}
