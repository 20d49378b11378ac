//! What the signer shows before it signs, recomputed from the payload and the signer's *own*
//! record of the account or Safe and its policy: never from a coordinator-supplied description.
//!
//! Refusals (an `Err`, nothing to sign): a chain id that differs from the record or the policy;
//! a payload kind that does not fit the account (transactions for a Safe, a SafeTx for an EOA);
//! a SafeTx for another Safe address, or another Safe version; a nonce other than the expected
//! one when the policy knows it; `operation = 1` (delegatecall) to a target not on the policy's
//! allowlist, at the top level or inside a multiSend batch; typed data whose domain chain id
//! differs, or whose primary type is `SafeTx` (a Safe transaction must come as a SafeTx payload so
//! that it is reviewed as one).
//!
//! Warnings (shown, the person decides): non-zero gasPrice, gasToken or refundReceiver (the Safe
//! pays gas refunds to someone), calls to unknown functions, ERC-20 approvals, multiSend called
//! rather than delegatecalled, calls to the Safe itself (owner, module, guard changes).
//!
//! This module must never show something other than what the signature will authorise: the
//! transfer list comes from the same decoded bytes that are hashed and signed.

use alloy_primitives::{B256, U256};

use crate::address::EthAddress;
use crate::calldata::{self, Call, InnerCall};
use crate::error::EthError;
use crate::payload::{EthPayload, SafeTx};
use crate::safe;
use crate::typed::{self, TypedReview};

/// The signer's own record of the account a vault controls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountKind {
    /// An externally owned account (this signer's derived key).
    Eoa { address: EthAddress },
    /// A Safe multisig.
    Safe {
        address: EthAddress,
        chain_id: u64,
        version: String,
        owners: Vec<EthAddress>,
        threshold: u32,
    },
}

/// The signer's own record of the account (from its registered vault, never from a proposal).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRecord {
    pub kind: AccountKind,
}

/// The vault's Ethereum policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EthPolicy {
    /// Targets a Safe may delegatecall (e.g. MultiSendCallOnly 1.4.1). Empty: no delegatecall.
    pub delegatecall_allowlist: Vec<EthAddress>,
    /// The only chain id this vault signs for.
    pub expected_chain_id: u64,
    /// The next nonce when the signer knows it (its own journal); a payload starting at another
    /// nonce is refused. `None`: not checked here.
    pub expected_nonce: Option<u64>,
}

/// One reviewed EIP-1559 transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxReview {
    pub nonce: u64,
    pub to: EthAddress,
    pub value: U256,
    pub gas_limit: u64,
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
    /// gas_limit × max_fee_per_gas: the most this transaction can cost in fees.
    pub max_fee: U256,
    pub call: Call,
}

/// A reviewed Safe transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafeReview {
    pub safe: EthAddress,
    pub chain_id: u64,
    pub version: String,
    pub owners: Vec<EthAddress>,
    pub threshold: u32,
    pub tx: SafeTx,
    pub domain_separator: B256,
    pub struct_hash: B256,
    pub safe_tx_hash: B256,
    pub call: Call,
}

/// What the review found, by payload kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReviewKind {
    Transactions {
        txs: Vec<TxReview>,
        total_max_fee: U256,
    },
    Safe(Box<SafeReview>),
    TypedData(Box<TypedReview>),
}

/// The signer's description of a payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EthReview {
    pub chain_id: Option<u64>,
    pub kind: ReviewKind,
    pub warnings: Vec<String>,
}

/// A movement of value out of the account, for comparison with the proposal's intent.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EthTransfer {
    /// Checksummed destination.
    pub destination: String,
    /// Wei, or the token's base unit.
    pub amount: u128,
    /// "" for ETH, else the checksummed token contract address.
    pub asset: String,
}

impl From<EthTransfer> for airlock_core::artifacts::Transfer {
    fn from(t: EthTransfer) -> Self {
        airlock_core::artifacts::Transfer {
            destination: t.destination,
            amount: t.amount,
            asset: t.asset,
        }
    }
}

fn refuse(s: impl Into<String>) -> EthError {
    EthError::Refused(s.into())
}

/// Formats wei as ETH with up to 18 decimals, trailing zeros trimmed.
pub fn format_eth(wei: U256) -> String {
    let unit = U256::from(10u64).pow(U256::from(18));
    let whole = wei / unit;
    let frac = wei % unit;
    if frac.is_zero() {
        return format!("{whole} ETH");
    }
    let f = format!("{:0>18}", frac.to_string());
    format!("{whole}.{} ETH", f.trim_end_matches('0'))
}

fn check_chain(name: &str, chain_id: u64, policy: &EthPolicy) -> Result<(), EthError> {
    if chain_id != policy.expected_chain_id {
        return Err(refuse(format!(
            "{name} is for chain id {chain_id}, but this vault signs only for chain id {}",
            policy.expected_chain_id
        )));
    }
    Ok(())
}

/// Describes `payload` for `account` under `policy`: the only description a signer may show.
pub fn describe(
    payload: &EthPayload,
    account: &AccountRecord,
    policy: &EthPolicy,
) -> Result<EthReview, EthError> {
    payload.validate()?;
    let mut warnings = Vec::new();
    match payload {
        EthPayload::Transactions { chain_id, txs } => {
            let AccountKind::Eoa { .. } = &account.kind else {
                return Err(refuse(
                    "this vault is a Safe: plain transactions are not signed for it \
                     (a Safe transaction must come as a SafeTx)",
                ));
            };
            check_chain("the transaction batch", *chain_id, policy)?;
            if let Some(expected) = policy.expected_nonce
                && txs[0].nonce != expected
            {
                return Err(refuse(format!(
                    "the batch starts at nonce {}, but the account's next nonce is {expected}",
                    txs[0].nonce
                )));
            }
            let mut total = U256::ZERO;
            let mut out = Vec::new();
            for (i, tx) in txs.iter().enumerate() {
                let max_fee = U256::from(tx.gas_limit) * U256::from(tx.max_fee_per_gas);
                total += max_fee;
                let call = calldata::decode(&tx.input);
                if tx.to.is_zero() {
                    warnings.push(format!(
                        "transaction {i} is sent to the zero address: anything sent is burned"
                    ));
                }
                note_call(
                    &format!("transaction {i} (nonce {})", tx.nonce),
                    tx.to,
                    &call,
                    policy,
                    None,
                    &mut warnings,
                )?;
                if let Call::MultiSend { .. } = call {
                    warnings.push(format!(
                        "transaction {i}: calls multiSend on {} from an account: the inner \
                         calls run from that contract, not from this account",
                        tx.to
                    ));
                }
                out.push(TxReview {
                    nonce: tx.nonce,
                    to: tx.to,
                    value: tx.value,
                    gas_limit: tx.gas_limit,
                    max_fee_per_gas: tx.max_fee_per_gas,
                    max_priority_fee_per_gas: tx.max_priority_fee_per_gas,
                    max_fee,
                    call,
                });
            }
            Ok(EthReview {
                chain_id: Some(*chain_id),
                kind: ReviewKind::Transactions {
                    txs: out,
                    total_max_fee: total,
                },
                warnings,
            })
        }
        EthPayload::SafeTx {
            chain_id,
            safe: safe_addr,
            safe_version,
            tx,
        } => {
            let AccountKind::Safe {
                address,
                chain_id: rec_chain,
                version,
                owners,
                threshold,
            } = &account.kind
            else {
                return Err(refuse(
                    "this vault is a single account, not a Safe: a SafeTx is not signed for it",
                ));
            };
            if safe_addr != address {
                return Err(refuse(format!(
                    "the SafeTx is for Safe {safe_addr}, but this vault's Safe is {address}"
                )));
            }
            if chain_id != rec_chain {
                return Err(refuse(format!(
                    "the SafeTx is for chain id {chain_id}, but this vault's Safe is on chain id \
                     {rec_chain}"
                )));
            }
            check_chain("the SafeTx", *chain_id, policy)?;
            if safe_version != version {
                return Err(refuse(format!(
                    "the SafeTx is for Safe version {safe_version}, but this vault's Safe is \
                     version {version}"
                )));
            }
            if let Some(expected) = policy.expected_nonce
                && tx.nonce != U256::from(expected)
            {
                return Err(refuse(format!(
                    "the SafeTx has nonce {}, but the Safe's next nonce is {expected}",
                    tx.nonce
                )));
            }
            let call = calldata::decode(&tx.data);
            if tx.operation == 1 {
                if !policy.delegatecall_allowlist.contains(&tx.to) {
                    return Err(refuse(format!(
                        "the SafeTx is a DELEGATECALL to {}, which is not on this vault's \
                         delegatecall allowlist: a delegatecall runs another contract's code as \
                         the Safe itself and can take over the Safe, whatever it claims to do",
                        tx.to
                    )));
                }
                warnings.push(format!(
                    "delegatecall to allowlisted {}: its code runs as the Safe",
                    tx.to
                ));
                if !matches!(call, Call::MultiSend { .. }) {
                    warnings.push(format!(
                        "the delegatecall's data is not a multiSend batch: what it does to the \
                         Safe is not decoded here (data {} bytes)",
                        tx.data.len()
                    ));
                }
            } else if let Call::MultiSend { .. } = call {
                warnings.push(format!(
                    "multiSend on {} is CALLED, not delegatecalled: the inner calls run from that \
                     contract, not from the Safe",
                    tx.to
                ));
            }
            note_call(
                "the SafeTx",
                tx.to,
                &call,
                policy,
                Some(*address),
                &mut warnings,
            )?;
            if !tx.gas_price.is_zero() {
                warnings.push(format!(
                    "gasPrice is {} (not 0): the Safe will pay a gas refund of up to \
                     (baseGas + gas used) × gasPrice to the refund receiver",
                    tx.gas_price
                ));
            }
            if !tx.gas_token.is_zero() {
                warnings.push(format!(
                    "gasToken is {} (not 0): the gas refund is paid in that token",
                    tx.gas_token
                ));
            }
            if !tx.refund_receiver.is_zero() {
                warnings.push(format!(
                    "refundReceiver is {} (not 0): the gas refund goes to that address",
                    tx.refund_receiver
                ));
            }
            if tx.to == *address {
                warnings.push(
                    "the SafeTx calls the Safe itself (owner, threshold, module, guard or \
                     fallback-handler change)"
                        .into(),
                );
            }
            let h = safe::hashes(*chain_id, *safe_addr, tx);
            Ok(EthReview {
                chain_id: Some(*chain_id),
                kind: ReviewKind::Safe(Box::new(SafeReview {
                    safe: *safe_addr,
                    chain_id: *chain_id,
                    version: safe_version.clone(),
                    owners: owners.clone(),
                    threshold: *threshold,
                    tx: tx.clone(),
                    domain_separator: h.domain_separator,
                    struct_hash: h.struct_hash,
                    safe_tx_hash: h.safe_tx_hash,
                    call,
                })),
                warnings,
            })
        }
        EthPayload::TypedData { json } => {
            let r = typed::review(json)?;
            if r.primary_type == "SafeTx" {
                return Err(refuse(
                    "typed data of primary type SafeTx is refused: a Safe transaction must be \
                     proposed as a SafeTx payload so that it is decoded and checked",
                ));
            }
            match r.chain_id {
                Some(c) => check_chain("the typed data", c, policy)?,
                None => warnings.push(
                    "the typed data's domain has no chainId: the signature is valid on every chain"
                        .into(),
                ),
            }
            if let AccountKind::Safe {
                chain_id: rec_chain,
                ..
            } = &account.kind
                && r.chain_id.is_some_and(|c| c != *rec_chain)
            {
                return Err(refuse("the typed data is for another chain than this Safe"));
            }
            if r.primary_type.to_ascii_lowercase().contains("permit") {
                warnings.push(format!(
                    "primary type {}: a permit lets someone else spend this account's tokens",
                    r.primary_type
                ));
            }
            Ok(EthReview {
                chain_id: r.chain_id,
                kind: ReviewKind::TypedData(Box::new(r)),
                warnings,
            })
        }
    }
}

/// Adds warnings for a decoded call and refuses inner delegatecalls off the allowlist.
fn note_call(
    what: &str,
    target: EthAddress,
    call: &Call,
    policy: &EthPolicy,
    safe: Option<EthAddress>,
    warnings: &mut Vec<String>,
) -> Result<(), EthError> {
    match call {
        Call::Unknown { selector, note, .. } => {
            let sel = selector
                .map(|s| format!("0x{}", hex::encode(s)))
                .unwrap_or_else(|| "(none)".into());
            warnings.push(format!(
                "{what}: calls an UNKNOWN function {sel} on {target}{}: not decoded, it may do \
                 anything that contract allows",
                note.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()
            ));
        }
        Call::Erc20Approve { spender, amount } => warnings.push(format!(
            "{what}: APPROVES {spender} to spend {amount} of token {target}"
        )),
        Call::SafeAdmin { function, .. } => warnings.push(format!(
            "{what}: {function} on {target} changes who controls {}",
            if safe == Some(target) {
                "this Safe"
            } else {
                "that Safe (NOT this vault's Safe)"
            }
        )),
        Call::MultiSend { calls } => {
            for (i, c) in calls.iter().enumerate() {
                let w = format!("{what}, inner call {i}");
                if c.operation == 1 && !policy.delegatecall_allowlist.contains(&c.to) {
                    return Err(refuse(format!(
                        "{w} is a DELEGATECALL to {}, which is not on this vault's delegatecall \
                         allowlist",
                        c.to
                    )));
                }
                if safe == Some(c.to) {
                    warnings.push(format!("{w} calls the Safe itself"));
                }
                note_call(&w, c.to, &c.call, policy, safe, warnings)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn to_u128(v: U256, what: &str) -> Result<u128, EthError> {
    if v > U256::from(u128::MAX) {
        return Err(EthError::Amount(format!(
            "{what}: amount {v} does not fit in 128 bits"
        )));
    }
    Ok(v.to::<u128>())
}

fn call_transfers(
    target: EthAddress,
    value: U256,
    call: &Call,
    out: &mut Vec<EthTransfer>,
) -> Result<(), EthError> {
    if !value.is_zero() {
        out.push(EthTransfer {
            destination: target.to_string(),
            amount: to_u128(value, "ETH value")?,
            asset: String::new(),
        });
    }
    let token = target.to_string();
    match call {
        Call::Erc20Transfer { to, amount } | Call::Erc20TransferFrom { to, amount, .. } => out
            .push(EthTransfer {
                destination: to.to_string(),
                amount: to_u128(*amount, "token amount")?,
                asset: token,
            }),
        Call::Erc20Approve { spender, amount } => out.push(EthTransfer {
            destination: spender.to_string(),
            amount: to_u128(*amount, "approved amount")?,
            asset: token,
        }),
        Call::MultiSend { calls } => {
            for InnerCall {
                to, value, call, ..
            } in calls
            {
                call_transfers(*to, *value, call, out)?;
            }
        }
        Call::Empty | Call::Unknown { .. } | Call::SafeAdmin { .. } => {}
    }
    Ok(())
}

/// Every movement of value the reviewed payload makes: ETH values (asset ""), ERC-20 transfers
/// and transferFroms (asset = token address, destination = recipient) and ERC-20 approvals
/// (destination = spender: an approval lets the spender take that amount, so an intent that does
/// not state it will not match). Inner calls of a delegatecalled multiSend count as the Safe's.
/// Unknown calls move no *decoded* value; they are flagged in `warnings`. Fees are not transfers.
/// Typed data gives none. An amount above u128 is an error.
pub fn transfers(review: &EthReview) -> Result<Vec<EthTransfer>, EthError> {
    let mut out = Vec::new();
    match &review.kind {
        ReviewKind::Transactions { txs, .. } => {
            for tx in txs {
                call_transfers(tx.to, tx.value, &tx.call, &mut out)?;
            }
        }
        ReviewKind::Safe(s) => {
            if s.tx.operation == 1 {
                // A delegatecall runs the target's code as the Safe: the target's address does
                // not receive the value; the decoded inner calls are the Safe's own.
                if let Call::MultiSend { calls } = &s.call {
                    for c in calls {
                        call_transfers(c.to, c.value, &c.call, &mut out)?;
                    }
                }
            } else {
                call_transfers(s.tx.to, s.tx.value, &s.call, &mut out)?;
            }
        }
        ReviewKind::TypedData(_) => {}
    }
    Ok(out)
}

fn call_lines(prefix: &str, target: EthAddress, call: &Call, out: &mut Vec<(String, String)>) {
    let mut push = |k: &str, v: String| out.push((format!("{prefix}{k}"), v));
    match call {
        Call::Empty => push("call", "none (plain ETH transfer)".into()),
        Call::Erc20Transfer { to, amount } => {
            push("call", format!("ERC-20 transfer of token {target}"));
            push("token recipient", to.to_string());
            push("token amount", amount.to_string());
        }
        Call::Erc20TransferFrom { from, to, amount } => {
            push("call", format!("ERC-20 transferFrom of token {target}"));
            push("token from", from.to_string());
            push("token recipient", to.to_string());
            push("token amount", amount.to_string());
        }
        Call::Erc20Approve { spender, amount } => {
            push("call", format!("ERC-20 APPROVE of token {target}"));
            push("spender", spender.to_string());
            push("allowance", amount.to_string());
        }
        Call::MultiSend { calls } => {
            push("call", format!("multiSend batch of {} calls", calls.len()));
            for (i, c) in calls.iter().enumerate() {
                let p = format!("{prefix}[{i}] ");
                out.push((
                    format!("{p}operation"),
                    if c.operation == 1 {
                        "DELEGATECALL".into()
                    } else {
                        "call".into()
                    },
                ));
                out.push((format!("{p}to"), c.to.to_string()));
                out.push((
                    format!("{p}value"),
                    format!("{} wei ({})", c.value, format_eth(c.value)),
                ));
                call_lines(&p, c.to, &c.call, out);
            }
        }
        Call::SafeAdmin { function, args } => {
            push("call", format!("Safe {function} on {target}"));
            for (name, value) in args {
                push(&format!("{function}.{name}"), value.clone());
            }
        }
        Call::Unknown {
            selector,
            len,
            note,
        } => {
            push(
                "call",
                format!(
                    "UNKNOWN function {} ({len} bytes){}",
                    selector
                        .map(|s| format!("0x{}", hex::encode(s)))
                        .unwrap_or_else(|| "(none)".into()),
                    note.as_ref().map(|n| format!(": {n}")).unwrap_or_default()
                ),
            );
        }
    }
}

impl EthReview {
    /// Everything to show, as label/value pairs, in order (warnings last).
    pub fn lines(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(c) = self.chain_id {
            out.push(("chain id".into(), c.to_string()));
        }
        match &self.kind {
            ReviewKind::Transactions { txs, total_max_fee } => {
                for (i, tx) in txs.iter().enumerate() {
                    let p = format!("tx {i} ");
                    out.push((format!("{p}nonce"), tx.nonce.to_string()));
                    out.push((format!("{p}to"), tx.to.to_string()));
                    out.push((
                        format!("{p}value"),
                        format!("{} wei ({})", tx.value, format_eth(tx.value)),
                    ));
                    out.push((format!("{p}gas limit"), tx.gas_limit.to_string()));
                    out.push((
                        format!("{p}max fee per gas"),
                        format!("{} wei", tx.max_fee_per_gas),
                    ));
                    out.push((
                        format!("{p}max priority fee per gas"),
                        format!("{} wei", tx.max_priority_fee_per_gas),
                    ));
                    out.push((
                        format!("{p}maximum fee"),
                        format!("{} wei ({})", tx.max_fee, format_eth(tx.max_fee)),
                    ));
                    call_lines(&p, tx.to, &tx.call, &mut out);
                }
                out.push((
                    "total maximum fee".into(),
                    format!("{total_max_fee} wei ({})", format_eth(*total_max_fee)),
                ));
            }
            ReviewKind::Safe(s) => {
                out.push(("Safe".into(), s.safe.to_string()));
                out.push(("Safe version".into(), s.version.clone()));
                out.push((
                    "Safe owners".into(),
                    format!(
                        "{} of {}: {}",
                        s.threshold,
                        s.owners.len(),
                        s.owners
                            .iter()
                            .map(|o| o.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
                out.push(("Safe nonce".into(), s.tx.nonce.to_string()));
                out.push((
                    "operation".into(),
                    if s.tx.operation == 1 {
                        "DELEGATECALL".into()
                    } else {
                        "call".into()
                    },
                ));
                out.push(("to".into(), s.tx.to.to_string()));
                out.push((
                    "value".into(),
                    format!("{} wei ({})", s.tx.value, format_eth(s.tx.value)),
                ));
                call_lines("", s.tx.to, &s.call, &mut out);
                out.push(("safeTxGas".into(), s.tx.safe_tx_gas.to_string()));
                out.push(("baseGas".into(), s.tx.base_gas.to_string()));
                out.push(("gasPrice".into(), s.tx.gas_price.to_string()));
                out.push(("gasToken".into(), s.tx.gas_token.to_string()));
                out.push(("refundReceiver".into(), s.tx.refund_receiver.to_string()));
                out.push(("domain separator".into(), s.domain_separator.to_string()));
                out.push(("SafeTx struct hash".into(), s.struct_hash.to_string()));
                out.push(("safeTxHash".into(), s.safe_tx_hash.to_string()));
            }
            ReviewKind::TypedData(t) => {
                for f in &t.domain {
                    out.push((format!("domain.{}", f.path), f.value.clone()));
                }
                out.push(("primary type".into(), t.primary_type.clone()));
                for f in &t.fields {
                    out.push((format!("{} ({})", f.path, f.ty), f.value.clone()));
                }
                out.push(("domain separator".into(), t.domain_separator.to_string()));
                out.push(("EIP-712 hash".into(), t.hash.to_string()));
            }
        }
        for w in &self.warnings {
            out.push(("WARNING".into(), w.clone()));
        }
        out
    }
}
