//! The coordinator's `ethereum` chain (feature `online`): [`EthereumOnline`] implements
//! `airlock_core::chain::ChainOnline` against a node's JSON-RPC.
//!
//! - `build`: ETH and ERC-20 transfers of an intent become EIP-1559 transactions with consecutive
//!   nonces (an account vault) or one SafeTx at the Safe's next nonce, a MultiSendCallOnly batch
//!   for several transfers (a Safe vault). Chain id, nonces, fees and gas come from the node; a
//!   node on another chain than the vault's is refused. [`EthereumOnline::build_calls`] and
//!   [`typed_data_payload`] build arbitrary calls and typed data for the CLI.
//! - `verify_signature`: raw transactions must be exactly the payload's, signed by the account;
//!   a Safe owner signature must recover to an owner over the safeTxHash computed here.
//! - `finalize`: an account batch is the signer's raw transactions. A Safe transaction is checked
//!   against the Safe on chain (owners, threshold, the contract's own safeTxHash, the next nonce),
//!   the owners' signatures are ordered, `execTransaction` is simulated and then signed by the
//!   relayer, a coordinator key that only pays gas and is never an owner.
//! - `broadcast` sends the raw transactions in order; `confirmations` is the smallest count among
//!   them, and a reverted transaction is an error.
//!
//! This module must never hold an owner's key, and never finalize a SafeTx whose hash the Safe
//! itself does not compute.

use airlock_core::chain::{
    BuiltPayload, ChainError, ChainOnline, ChainReview, ChainSecret, Description, FinalTransaction,
};
use airlock_core::{Intent, Proposal, VaultDefinition};
use alloy_consensus::TxEnvelope;
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, B256, U256};

use crate::CHAIN;
use crate::address::EthAddress;
use crate::chain::{
    Ethereum, decode_signature_material, decode_transactions_material, encode_material,
    review_proposal, spends_of,
};
use crate::keys::EthKey;
use crate::online::{self, Call, SafeClient};
use crate::payload::EthPayload;
use crate::review::{ReviewKind, describe};
use crate::rpc::RpcClient;
use crate::sign::{EthSignature, recover, sign_transactions, transaction_hashes};
use crate::vault_spec::EthVault;

fn err(message: impl Into<String>) -> ChainError {
    ChainError::new(CHAIN, message)
}

/// The coordinator's Ethereum chain: a node and, for Safe vaults, the relayer that pays gas.
pub struct EthereumOnline {
    rpc: RpcClient,
    relayer: Option<EthKey>,
}

/// A typed-data proposal payload (the JSON of `eth_signTypedData_v4`).
pub fn typed_data_payload(json: &str) -> Result<Vec<u8>, ChainError> {
    Ok(EthPayload::TypedData {
        json: json.to_owned(),
    }
    .to_bytes()?)
}

/// The calls an intent's transfers make: ETH (`asset` empty or "ETH") or an ERC-20 token
/// (`asset` = the token's address).
pub fn calls_of_intent(intent: &Intent) -> Result<Vec<Call>, ChainError> {
    if intent.transfers.is_empty() {
        return Err(err("the intent pays nothing; give at least one transfer"));
    }
    intent
        .transfers
        .iter()
        .map(|t| {
            let to =
                EthAddress::parse(&t.destination).map_err(|e| err(format!("destination: {e}")))?;
            if t.asset.is_empty() || t.asset.eq_ignore_ascii_case("eth") {
                Ok(Call {
                    to: to.0,
                    value: U256::from(t.amount),
                    input: Vec::new(),
                })
            } else {
                let token = EthAddress::parse(&t.asset)
                    .map_err(|e| err(format!("asset (an ERC-20 token address): {e}")))?;
                Ok(Call {
                    to: token.0,
                    value: U256::ZERO,
                    input: crate::calldata::encode_erc20_transfer(to, U256::from(t.amount)),
                })
            }
        })
        .collect()
}

impl EthereumOnline {
    /// A node at `rpc_url` (plain `http://`), and the relayer key when Safe vaults are used.
    pub fn new(rpc_url: &str, relayer: Option<EthKey>) -> Result<EthereumOnline, ChainError> {
        Ok(EthereumOnline {
            rpc: RpcClient::new(rpc_url)?,
            relayer,
        })
    }

    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    fn check_node(&self, spec: &EthVault) -> Result<(), ChainError> {
        let node = self.rpc.chain_id()?;
        if node != spec.chain_id {
            return Err(err(format!(
                "the node at {} is chain {node}, the vault is chain {}",
                self.rpc.url(),
                spec.chain_id
            )));
        }
        Ok(())
    }

    /// Checks that the Safe on chain has the vault's owners, threshold and version.
    fn check_safe(&self, spec: &EthVault) -> Result<(), ChainError> {
        let (owners, threshold) = spec
            .safe_owners()
            .ok_or_else(|| err("the vault is not a Safe"))?;
        let safe = SafeClient::new(&self.rpc, spec.address().0);
        let mut onchain: Vec<Address> = safe.owners()?;
        let mut ours: Vec<Address> = owners.iter().map(|o| o.0).collect();
        onchain.sort();
        ours.sort();
        if onchain != ours {
            return Err(err(format!(
                "the Safe {} has owners [{}] on chain, the vault lists [{}]",
                spec.address(),
                onchain
                    .iter()
                    .map(|a| EthAddress(*a).to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                ours.iter()
                    .map(|a| EthAddress(*a).to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let t = safe.threshold()?;
        if t != U256::from(threshold) {
            return Err(err(format!(
                "the Safe's threshold on chain is {t}, the vault says {threshold}"
            )));
        }
        Ok(())
    }

    /// Builds the payload of arbitrary calls: consecutive account transactions, or one SafeTx
    /// (a MultiSendCallOnly batch for several calls).
    pub fn build_calls(
        &self,
        vault: &VaultDefinition,
        calls: &[Call],
    ) -> Result<BuiltPayload, ChainError> {
        let spec = EthVault::from_vault(vault)?;
        self.check_node(&spec)?;
        let payload = match spec.safe_owners() {
            None => online::prepare_transactions(&self.rpc, spec.address().0, calls, None)?,
            Some(_) => {
                self.check_safe(&spec)?;
                let safe = SafeClient::new(&self.rpc, spec.address().0);
                let tx = match (calls.len(), spec.multisend) {
                    (0, _) => return Err(err("a proposal needs at least one call")),
                    (1, _) => safe.propose_batch(Address::ZERO, calls)?,
                    (_, Some(ms)) => safe.propose_batch(ms.0, calls)?,
                    (n, None) => {
                        return Err(err(format!(
                            "{n} calls need a MultiSendCallOnly: the vault's account names none \
                             (multisend=0x…)"
                        )));
                    }
                };
                let version = match &spec.account.kind {
                    crate::review::AccountKind::Safe { version, .. } => version.clone(),
                    crate::review::AccountKind::Eoa { .. } => unreachable!("checked above"),
                };
                EthPayload::SafeTx {
                    chain_id: spec.chain_id,
                    safe: spec.address(),
                    safe_version: version,
                    tx,
                }
            }
        };
        self.built(&spec, payload)
    }

    /// The payload bytes and spends, after the same review a signer runs.
    fn built(&self, spec: &EthVault, payload: EthPayload) -> Result<BuiltPayload, ChainError> {
        let review = describe(&payload, &spec.account, &spec.policy)?;
        Ok(BuiltPayload {
            payload: payload.to_bytes()?,
            spends: spends_of(spec, &review),
        })
    }

    /// Refuses a payload whose nonces are not the account's or the Safe's next ones.
    pub fn check_nonces(&self, vault: &VaultDefinition, payload: &[u8]) -> Result<(), ChainError> {
        let spec = EthVault::from_vault(vault)?;
        match EthPayload::from_bytes(payload)? {
            EthPayload::Transactions { txs, .. } => {
                let next = self.rpc.transaction_count(spec.address().0)?;
                if txs[0].nonce != next {
                    return Err(err(format!(
                        "the batch starts at nonce {}, the account's next nonce is {next}",
                        txs[0].nonce
                    )));
                }
            }
            EthPayload::SafeTx { tx, .. } => {
                let next = SafeClient::new(&self.rpc, spec.address().0).nonce()?;
                if tx.nonce != next {
                    return Err(err(format!(
                        "the SafeTx nonce {} is not the Safe's next nonce ({next})",
                        tx.nonce
                    )));
                }
            }
            EthPayload::TypedData { .. } => {}
        }
        Ok(())
    }

    fn relayer(&self) -> Result<&EthKey, ChainError> {
        self.relayer.as_ref().ok_or_else(|| {
            err(
                "a Safe transaction is executed by the coordinator's relayer (it pays gas): \
                 configure one with `airlock chain ethereum --relayer-key-file FILE`",
            )
        })
    }

    fn finalize_safe(
        &self,
        spec: &EthVault,
        vault: &VaultDefinition,
        proposal: &Proposal,
        review: &crate::review::SafeReview,
        materials: &[&[u8]],
    ) -> Result<FinalTransaction, ChainError> {
        self.check_node(spec)?;
        self.check_safe(spec)?;
        let (_, threshold) = spec.safe_owners().expect("a Safe vault");
        let sigs = materials
            .iter()
            .filter(|m| !m.is_empty())
            .map(|m| decode_signature_material(m))
            .collect::<Result<Vec<_>, _>>()?;
        if sigs.len() < threshold as usize {
            return Err(err(format!(
                "{} owner signature(s) among the approvals, the Safe needs {threshold}",
                sigs.len()
            )));
        }
        self.check_nonces(vault, &proposal.payload)?;
        let safe = SafeClient::new(&self.rpc, spec.address().0);
        let onchain = safe.transaction_hash(&review.tx)?;
        if onchain != review.safe_tx_hash {
            return Err(err(format!(
                "the Safe computes safeTxHash {onchain}, the owners signed {}: wrong Safe, chain \
                 or nonce",
                review.safe_tx_hash
            )));
        }
        let packed = safe.combine_signatures(&review.safe_tx_hash, &sigs)?;
        let relayer = self.relayer()?;
        safe.simulate_exec(relayer.address().0, &review.tx, &packed)
            .map_err(|e| err(format!("execTransaction would fail: {e}")))?;
        let call = Call {
            to: spec.address().0,
            value: U256::ZERO,
            input: online::exec_calldata(&review.tx, &packed),
        };
        let exec = online::prepare_transactions(&self.rpc, relayer.address().0, &[call], None)?;
        let raws = sign_transactions(&exec, relayer)?;
        let txid = crate::sign::raw_tx_hash(&raws[0]).to_string();
        Ok(FinalTransaction {
            bytes: encode_material(&EthSignature::Transactions(raws)),
            txid,
        })
    }
}

/// Checks raw signed transactions against the payload: the same transactions, in order, each
/// signed by the account.
fn check_raw_transactions(
    spec: &EthVault,
    payload: &EthPayload,
    raws: &[Vec<u8>],
) -> Result<(), ChainError> {
    let hashes = transaction_hashes(payload)?;
    if raws.len() != hashes.len() {
        return Err(err(format!(
            "{} signed transaction(s) for a batch of {}",
            raws.len(),
            hashes.len()
        )));
    }
    for (i, (raw, want)) in raws.iter().zip(&hashes).enumerate() {
        let envelope = TxEnvelope::decode_2718(&mut raw.as_slice())
            .map_err(|e| err(format!("signed transaction {i} does not decode: {e}")))?;
        let TxEnvelope::Eip1559(signed) = &envelope else {
            return Err(err(format!("signed transaction {i} is not EIP-1559")));
        };
        let got = alloy_consensus::SignableTransaction::signature_hash(signed.tx());
        if got != *want {
            return Err(err(format!(
                "signed transaction {i} is not the proposal's transaction {i}"
            )));
        }
        let mut sig = [0u8; 65];
        sig.copy_from_slice(&signed.signature().as_bytes());
        let who = recover(want, &sig)?;
        if who != spec.address() {
            return Err(err(format!(
                "signed transaction {i} is signed by {who}, not the account {}",
                spec.address()
            )));
        }
    }
    Ok(())
}

fn recovered_in(
    hash: &B256,
    material: &[u8],
    allowed: &[EthAddress],
) -> Result<EthAddress, ChainError> {
    let sig = decode_signature_material(material)?;
    let who = recover(hash, &sig)?;
    if !allowed.contains(&who) {
        return Err(err(format!(
            "the signature is by {who}, not an owner of this vault"
        )));
    }
    Ok(who)
}

impl ChainReview for EthereumOnline {
    fn chain(&self) -> &'static str {
        CHAIN
    }

    fn check_account(&self, vault: &VaultDefinition) -> Result<Vec<String>, ChainError> {
        Ethereum.check_account(vault)
    }

    fn describe(
        &self,
        vault: &VaultDefinition,
        proposal: &Proposal,
    ) -> Result<Description, ChainError> {
        Ethereum.describe(vault, proposal)
    }

    fn sign(
        &self,
        _vault: &VaultDefinition,
        _proposal: &Proposal,
        _secret: &ChainSecret,
    ) -> Result<Vec<u8>, ChainError> {
        Err(err(
            "the coordinator holds no owner key and never signs for a vault",
        ))
    }
}

impl ChainOnline for EthereumOnline {
    fn build(&self, vault: &VaultDefinition, intent: &Intent) -> Result<BuiltPayload, ChainError> {
        self.build_calls(vault, &calls_of_intent(intent)?)
    }

    /// A Safe vault: the node is on the vault's chain, and the Safe on chain has exactly the
    /// members' addresses as owners and the account's threshold. An account (EOA) vault has
    /// nothing on chain to compare.
    fn check_vault(&self, vault: &VaultDefinition) -> Result<(), ChainError> {
        let spec = EthVault::from_vault(vault)?;
        if spec.safe_owners().is_none() {
            return Ok(());
        }
        self.check_node(&spec)?;
        self.check_safe(&spec)
    }

    fn normalize_intent(&self, mut intent: Intent) -> Result<Intent, ChainError> {
        for t in &mut intent.transfers {
            t.destination = EthAddress::parse(&t.destination)
                .map_err(|e| err(format!("destination: {e}")))?
                .to_string();
            t.asset = if t.asset.is_empty() || t.asset.eq_ignore_ascii_case("eth") {
                String::new()
            } else {
                EthAddress::parse(&t.asset)
                    .map_err(|e| err(format!("asset (an ERC-20 token address): {e}")))?
                    .to_string()
            };
        }
        Ok(intent)
    }

    fn check_payload(&self, vault: &VaultDefinition, payload: &[u8]) -> Result<(), ChainError> {
        self.check_nonces(vault, payload)
    }

    fn verify_signature(
        &self,
        vault: &VaultDefinition,
        proposal: &Proposal,
        material: &[u8],
    ) -> Result<(), ChainError> {
        if material.is_empty() {
            // An approval by a vault member who holds no key of this account.
            return Ok(());
        }
        let (spec, payload, review) = review_proposal(vault, proposal)?;
        match &review.kind {
            ReviewKind::Transactions { .. } => {
                check_raw_transactions(&spec, &payload, &decode_transactions_material(material)?)
            }
            ReviewKind::Safe(s) => {
                let (owners, _) = spec.safe_owners().expect("a Safe review");
                recovered_in(&s.safe_tx_hash, material, owners).map(drop)
            }
            ReviewKind::TypedData(t) => {
                let allowed: Vec<EthAddress> = match spec.safe_owners() {
                    Some((owners, _)) => owners.to_vec(),
                    None => vec![spec.address()],
                };
                recovered_in(&t.hash, material, &allowed).map(drop)
            }
        }
    }

    fn finalize(
        &self,
        vault: &VaultDefinition,
        proposal: &Proposal,
        materials: &[&[u8]],
    ) -> Result<FinalTransaction, ChainError> {
        let (spec, payload, review) = review_proposal(vault, proposal)?;
        match &review.kind {
            ReviewKind::Transactions { .. } => {
                let material = materials
                    .iter()
                    .find(|m| !m.is_empty())
                    .ok_or_else(|| err("no approval carries the account's signed transactions"))?;
                let raws = decode_transactions_material(material)?;
                check_raw_transactions(&spec, &payload, &raws)?;
                let txid = raws
                    .iter()
                    .map(|r| crate::sign::raw_tx_hash(r).to_string())
                    .collect::<Vec<_>>()
                    .join(",");
                Ok(FinalTransaction {
                    bytes: material.to_vec(),
                    txid,
                })
            }
            ReviewKind::Safe(s) => self.finalize_safe(&spec, vault, proposal, s, materials),
            ReviewKind::TypedData(_) => {
                let sigs: Vec<&[u8]> = materials
                    .iter()
                    .copied()
                    .filter(|m| !m.is_empty())
                    .collect();
                if sigs.is_empty() {
                    return Err(err("no approval carries a typed-data signature"));
                }
                Ok(FinalTransaction {
                    bytes: sigs.concat(),
                    txid: String::new(),
                })
            }
        }
    }

    fn broadcast(&self, tx: &FinalTransaction) -> Result<(), ChainError> {
        if tx.txid.is_empty() {
            return Err(err(
                "a typed-data proposal has nothing to broadcast: its signatures are in the \
                 finalized record",
            ));
        }
        let raws = decode_transactions_material(&tx.bytes)?;
        for raw in &raws {
            online::broadcast(&self.rpc, raw)?;
        }
        Ok(())
    }

    fn confirmations(&self, txid: &str) -> Result<Option<u64>, ChainError> {
        let mut least: Option<u64> = None;
        for hash in txid.split(',') {
            let hash: B256 = hash
                .parse()
                .map_err(|_| err(format!("{hash:?} is not a transaction hash")))?;
            let Some(receipt) = self.rpc.transaction_receipt(hash)? else {
                return Ok(None);
            };
            if !receipt.success {
                return Err(err(format!(
                    "transaction {hash} was mined in block {} but reverted",
                    receipt.block_number
                )));
            }
            let head = self.rpc.block_number()?;
            let n = head.saturating_sub(receipt.block_number) + 1;
            least = Some(least.map_or(n, |l| l.min(n)));
        }
        Ok(least)
    }
}
