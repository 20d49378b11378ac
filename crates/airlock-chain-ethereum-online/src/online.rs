//! The coordinator's Ethereum work against a node (feature `online`): EIP-1559 transactions built
//! from the node's chain id, nonce and fees, broadcast and confirmed; Safe 1.4.1 reads
//! (`nonce`, owners, threshold, version, domain separator, the contract's own `getTransactionHash`),
//! signatures ordered by owner and `execTransaction` sent from a funded account (the relayer).
//!
//! Nothing here is compiled into the signer. The relayer key ([`HashSigner`]) only pays gas for
//! `execTransaction`; it is never a Safe owner's key.

use std::time::Duration;

use airlock_core::chain::ChainError;
use alloy_consensus::{SignableTransaction, TxEip1559};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Signature, TxKind, U256};
use alloy_sol_types::{SolCall, SolEvent, sol};

use crate::address::EthAddress;
use crate::payload::{Eip1559Request, EthPayload, SafeTx};
use crate::rpc::{CallRequest, Receipt, RpcClient, RpcError};

/// How long [`send`] and [`confirm`] wait for a receipt by default.
pub const RECEIPT_TIMEOUT: Duration = Duration::from_secs(60);

sol! {
    /// The Safe 1.4.1 functions and events the coordinator uses.
    interface ISafe {
        function setup(address[] _owners, uint256 _threshold, address to, bytes data, address fallbackHandler, address paymentToken, uint256 payment, address paymentReceiver) external;
        function nonce() external view returns (uint256);
        function getOwners() external view returns (address[]);
        function getThreshold() external view returns (uint256);
        function VERSION() external view returns (string);
        function domainSeparator() external view returns (bytes32);
        function getTransactionHash(address to, uint256 value, bytes data, uint8 operation, uint256 safeTxGas, uint256 baseGas, uint256 gasPrice, address gasToken, address refundReceiver, uint256 _nonce) external view returns (bytes32);
        function execTransaction(address to, uint256 value, bytes data, uint8 operation, uint256 safeTxGas, uint256 baseGas, uint256 gasPrice, address gasToken, address refundReceiver, bytes signatures) external payable returns (bool success);
        event ExecutionSuccess(bytes32 indexed txHash, uint256 payment);
        event ExecutionFailure(bytes32 indexed txHash, uint256 payment);
    }

    /// SafeProxyFactory 1.4.1.
    interface ISafeProxyFactory {
        function createProxyWithNonce(address _singleton, bytes initializer, uint256 saltNonce) external returns (address proxy);
        function proxyCreationCode() external pure returns (bytes);
        event ProxyCreation(address indexed proxy, address singleton);
    }
}

fn err(message: impl Into<String>) -> ChainError {
    ChainError::new("ethereum", message)
}

/// Signs 32-byte hashes for an account the coordinator itself controls: the relayer that pays gas
/// for `execTransaction`, or a deployer in tests. Airlock's signers never sign through this.
pub trait HashSigner {
    fn address(&self) -> Address;
    fn sign_hash(&self, hash: &B256) -> Result<Signature, ChainError>;
}

impl HashSigner for crate::keys::EthKey {
    fn address(&self) -> Address {
        crate::keys::EthKey::address(self).0
    }

    fn sign_hash(&self, hash: &B256) -> Result<Signature, ChainError> {
        crate::keys::EthKey::sign_hash(self, hash).map_err(ChainError::from)
    }
}

// ---------------------------------------------------------------------------------------------
// EIP-1559 transactions
// ---------------------------------------------------------------------------------------------

/// One call of an account transaction or batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub to: Address,
    pub value: U256,
    pub input: Vec<u8>,
}

/// Adds a 20 % margin (at least 10,000 gas) to a node's estimate; unused gas is not charged.
pub fn gas_with_margin(estimate: u64) -> u64 {
    estimate.saturating_add((estimate / 5).max(10_000))
}

/// Builds the unsigned EIP-1559 transactions of an account proposal, with consecutive nonces
/// from `from`'s pending nonce (or `first_nonce`), the node's chain id, suggested fees and each
/// call's estimated gas (plus margin). Gas is estimated against the current state, so a call that
/// depends on an earlier one of the same batch must have its gas limit adjusted by the caller.
pub fn prepare_transactions(
    rpc: &RpcClient,
    from: Address,
    calls: &[Call],
    first_nonce: Option<u64>,
) -> Result<EthPayload, ChainError> {
    if calls.is_empty() {
        return Err(err("a proposal needs at least one transaction"));
    }
    let chain_id = rpc.chain_id()?;
    let nonce = match first_nonce {
        Some(n) => n,
        None => rpc.transaction_count(from)?,
    };
    let fees = rpc.suggest_fees()?;
    let mut txs = Vec::with_capacity(calls.len());
    for (i, call) in calls.iter().enumerate() {
        let estimate = rpc
            .estimate_gas(&CallRequest {
                from: Some(from),
                to: Some(call.to),
                value: call.value,
                data: call.input.clone().into(),
            })
            .map_err(|e| err(format!("transaction {i} would fail: {e}")))?;
        txs.push(Eip1559Request {
            nonce: nonce + i as u64,
            max_fee_per_gas: fees.max_fee_per_gas,
            max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
            gas_limit: gas_with_margin(estimate),
            to: EthAddress(call.to),
            value: call.value,
            input: call.input.clone(),
        });
    }
    Ok(EthPayload::Transactions { chain_id, txs })
}

/// Sends a raw signed transaction; refuses a node that reports another hash than the bytes'.
pub fn broadcast(rpc: &RpcClient, raw: &[u8]) -> Result<B256, ChainError> {
    let local = alloy_primitives::keccak256(raw);
    let reported = rpc.send_raw_transaction(raw)?;
    if reported != local {
        return Err(err(format!(
            "the node reports transaction hash {reported}, the bytes hash to {local}"
        )));
    }
    Ok(local)
}

/// Waits for the receipt; a reverted transaction (status 0) is an error.
pub fn confirm(rpc: &RpcClient, hash: B256, timeout: Duration) -> Result<Receipt, ChainError> {
    let receipt = rpc.wait_for_receipt(hash, timeout)?;
    if !receipt.success {
        return Err(err(format!(
            "transaction {hash} was mined in block {} but reverted (status 0)",
            receipt.block_number
        )));
    }
    Ok(receipt)
}

/// Confirmations of a transaction: `None` when the node does not know it as mined.
pub fn confirmations(rpc: &RpcClient, hash: B256) -> Result<Option<u64>, ChainError> {
    let Some(receipt) = rpc.transaction_receipt(hash)? else {
        return Ok(None);
    };
    let head = rpc.block_number()?;
    Ok(Some(head.saturating_sub(receipt.block_number) + 1))
}

/// Builds, signs with `signer`, broadcasts and waits for one transaction from a coordinator-held
/// account (relayer, deployer). `to = None` creates a contract. `gas_limit` skips the estimate
/// (e.g. to put a call the node would refuse to estimate on chain). Returns the receipt even
/// when the transaction reverted: check `receipt.success`.
pub fn send(
    rpc: &RpcClient,
    signer: &dyn HashSigner,
    to: Option<Address>,
    value: U256,
    input: Vec<u8>,
    gas_limit: Option<u64>,
) -> Result<Receipt, ChainError> {
    let from = signer.address();
    let chain_id = rpc.chain_id()?;
    let nonce = rpc.transaction_count(from)?;
    let fees = rpc.suggest_fees()?;
    let gas_limit = match gas_limit {
        Some(g) => g,
        None => gas_with_margin(
            rpc.estimate_gas(&CallRequest {
                from: Some(from),
                to,
                value,
                data: input.clone().into(),
            })
            .map_err(|e| err(format!("the node refuses to estimate the transaction: {e}")))?,
        ),
    };
    let tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit,
        max_fee_per_gas: fees.max_fee_per_gas,
        max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
        to: to.map_or(TxKind::Create, TxKind::Call),
        value,
        access_list: Default::default(),
        input: input.into(),
    };
    let signature = signer.sign_hash(&tx.signature_hash())?;
    let raw = tx.into_signed(signature).encoded_2718();
    let hash = broadcast(rpc, &raw)?;
    Ok(rpc.wait_for_receipt(hash, RECEIPT_TIMEOUT)?)
}

// ---------------------------------------------------------------------------------------------
// Safe
// ---------------------------------------------------------------------------------------------

/// `execTransaction` calldata for a SafeTx and packed signatures.
pub fn exec_calldata(tx: &SafeTx, packed_signatures: &[u8]) -> Vec<u8> {
    ISafe::execTransactionCall {
        to: tx.to.0,
        value: tx.value,
        data: tx.data.clone().into(),
        operation: tx.operation,
        safeTxGas: tx.safe_tx_gas,
        baseGas: tx.base_gas,
        gasPrice: tx.gas_price,
        gasToken: tx.gas_token.0,
        refundReceiver: tx.refund_receiver.0,
        signatures: packed_signatures.to_vec().into(),
    }
    .abi_encode()
}

/// What an `execTransaction` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafeExecution {
    pub receipt: Receipt,
    /// The Safe emitted `ExecutionSuccess(safeTxHash)`.
    pub executed: bool,
}

/// A deployed Safe, read and driven through a node.
#[derive(Clone, Copy, Debug)]
pub struct SafeClient<'a> {
    pub rpc: &'a RpcClient,
    pub address: Address,
    /// The block its reads are made at (`None`: `latest`).
    pub block: Option<u64>,
}

impl<'a> SafeClient<'a> {
    pub fn new(rpc: &'a RpcClient, address: Address) -> Self {
        SafeClient {
            rpc,
            address,
            block: None,
        }
    }

    /// The same Safe, read as it was at block `block`.
    pub fn at_block(self, block: u64) -> Self {
        SafeClient {
            block: Some(block),
            ..self
        }
    }

    fn read<C: SolCall>(&self, call: C) -> Result<C::Return, ChainError> {
        let out = self.rpc.eth_call_at(
            &CallRequest {
                to: Some(self.address),
                data: call.abi_encode().into(),
                ..CallRequest::default()
            },
            self.block,
        )?;
        if out.is_empty() {
            return Err(err(format!(
                "{}: no answer from {} (is it a Safe on this chain?)",
                C::SIGNATURE,
                EthAddress(self.address).checksummed()
            )));
        }
        C::abi_decode_returns(&out).map_err(|e| {
            err(format!(
                "{} of {}: undecodable answer: {e}",
                C::SIGNATURE,
                EthAddress(self.address).checksummed()
            ))
        })
    }

    /// The nonce the next SafeTx must carry.
    pub fn nonce(&self) -> Result<U256, ChainError> {
        self.read(ISafe::nonceCall {})
    }

    pub fn owners(&self) -> Result<Vec<Address>, ChainError> {
        self.read(ISafe::getOwnersCall {})
    }

    pub fn threshold(&self) -> Result<U256, ChainError> {
        self.read(ISafe::getThresholdCall {})
    }

    pub fn version(&self) -> Result<String, ChainError> {
        self.read(ISafe::VERSIONCall {})
    }

    pub fn domain_separator(&self) -> Result<B256, ChainError> {
        self.read(ISafe::domainSeparatorCall {})
    }

    /// The contract's own `getTransactionHash` for a SafeTx (to compare with the local hash).
    pub fn transaction_hash(&self, tx: &SafeTx) -> Result<B256, ChainError> {
        self.read(ISafe::getTransactionHashCall {
            to: tx.to.0,
            value: tx.value,
            data: tx.data.clone().into(),
            operation: tx.operation,
            safeTxGas: tx.safe_tx_gas,
            baseGas: tx.base_gas,
            gasPrice: tx.gas_price,
            gasToken: tx.gas_token.0,
            refundReceiver: tx.refund_receiver.0,
            _nonce: tx.nonce,
        })
    }

    /// A SafeTx at the Safe's next nonce with no gas refund (safeTxGas, baseGas, gasPrice zero;
    /// gasToken and refundReceiver the zero address): the inner call must succeed or the whole
    /// `execTransaction` reverts (GS013).
    pub fn propose(
        &self,
        to: Address,
        value: U256,
        data: Vec<u8>,
        operation: u8,
    ) -> Result<SafeTx, ChainError> {
        Ok(SafeTx {
            to: EthAddress(to),
            value,
            data,
            operation,
            safe_tx_gas: U256::ZERO,
            base_gas: U256::ZERO,
            gas_price: U256::ZERO,
            gas_token: EthAddress(Address::ZERO),
            refund_receiver: EthAddress(Address::ZERO),
            nonce: self.nonce()?,
        })
    }

    /// A batch as Safe{Wallet} builds it (`createMultiSendCallOnlyTx`, protocol-kit
    /// `createTransaction({ onlyCalls: true })`): one call is proposed as itself; several become a
    /// `multiSend(bytes)` whose SafeTx is a delegatecall (operation 1, value 0) to
    /// MultiSendCallOnly, each inner call a plain call. A vault policy must allowlist exactly that
    /// MultiSendCallOnly address for delegatecall, or its signers refuse the batch.
    pub fn propose_batch(
        &self,
        multi_send_call_only: Address,
        calls: &[Call],
    ) -> Result<SafeTx, ChainError> {
        match calls {
            [] => Err(err("a batch needs at least one call")),
            [one] => self.propose(one.to, one.value, one.input.clone(), 0),
            many => {
                let inner: Vec<(u8, EthAddress, U256, Vec<u8>)> = many
                    .iter()
                    .map(|c| (0, EthAddress(c.to), c.value, c.input.clone()))
                    .collect();
                let data = crate::calldata::encode_multisend(&inner);
                self.propose(multi_send_call_only, U256::ZERO, data, 1)
            }
        }
    }

    /// Verifies owner signatures (65 bytes r ‖ s ‖ v, v = 27/28, over `safe_tx_hash`) against
    /// the Safe's current owners and threshold, and orders them by owner
    /// ([`crate::sign::combine_safe_signatures`]): the `signatures` argument of `execTransaction`.
    pub fn combine_signatures(
        &self,
        safe_tx_hash: &B256,
        signatures: &[[u8; 65]],
    ) -> Result<Vec<u8>, ChainError> {
        let owners: Vec<EthAddress> = self.owners()?.into_iter().map(EthAddress).collect();
        let threshold = self.threshold()?;
        let packed = crate::sign::combine_safe_signatures(safe_tx_hash, signatures, &owners)?;
        if U256::from(signatures.len()) < threshold {
            return Err(err(format!(
                "{} signature(s), the Safe's threshold is {threshold}",
                signatures.len()
            )));
        }
        Ok(packed)
    }

    /// Simulates `execTransaction` from `from` with `eth_call`: the Safe's revert reason
    /// (e.g. "GS026" for signatures out of order, "GS025"/"GS026" for a stale nonce) as an error.
    pub fn simulate_exec(
        &self,
        from: Address,
        tx: &SafeTx,
        packed_signatures: &[u8],
    ) -> Result<(), RpcError> {
        self.rpc
            .eth_call(&CallRequest {
                from: Some(from),
                to: Some(self.address),
                value: U256::ZERO,
                data: exec_calldata(tx, packed_signatures).into(),
            })
            .map(drop)
    }

    /// Verifies the signatures against `safe_tx_hash` and the Safe's owners, checks that the
    /// contract computes the same safeTxHash, orders the signatures by owner and sends
    /// `execTransaction` from the relayer. Fails unless the Safe emitted `ExecutionSuccess`.
    pub fn exec(
        &self,
        relayer: &dyn HashSigner,
        tx: &SafeTx,
        safe_tx_hash: &B256,
        signatures: &[[u8; 65]],
    ) -> Result<SafeExecution, ChainError> {
        let onchain = self.transaction_hash(tx)?;
        if onchain != *safe_tx_hash {
            return Err(err(format!(
                "the Safe computes safeTxHash {onchain}, the signers signed {safe_tx_hash}: \
                 wrong Safe, chain or nonce"
            )));
        }
        let packed = self.combine_signatures(safe_tx_hash, signatures)?;
        let execution = self.exec_packed(relayer, tx, safe_tx_hash, &packed, None)?;
        if !execution.executed {
            return Err(err(format!(
                "execTransaction {} did not execute the SafeTx {safe_tx_hash}",
                execution.receipt.transaction_hash
            )));
        }
        Ok(execution)
    }

    /// Sends `execTransaction` with signatures exactly as given (no checks, no ordering); with
    /// `gas_limit` the node's estimate is skipped, so a transaction the Safe rejects is mined and
    /// reverts. Reports whether the Safe emitted `ExecutionSuccess(safe_tx_hash)`.
    pub fn exec_packed(
        &self,
        relayer: &dyn HashSigner,
        tx: &SafeTx,
        safe_tx_hash: &B256,
        packed_signatures: &[u8],
        gas_limit: Option<u64>,
    ) -> Result<SafeExecution, ChainError> {
        let receipt = send(
            self.rpc,
            relayer,
            Some(self.address),
            U256::ZERO,
            exec_calldata(tx, packed_signatures),
            gas_limit,
        )?;
        let executed = receipt.success
            && receipt.logs.iter().any(|l| {
                l.address == self.address
                    && l.topics.first() == Some(&ISafe::ExecutionSuccess::SIGNATURE_HASH)
                    && l.topics.get(1) == Some(safe_tx_hash)
            });
        Ok(SafeExecution { receipt, executed })
    }
}

/// A vault's account as state-commitment leaves (`airlock_core::commitment`), read at block
/// `block` of `rpc`'s chain: `balance <wei>`, `nonce <n>` (the account's transaction count, or
/// for a Safe its own nonce), and for a Safe `owner <0x… checksummed>` per owner and
/// `threshold <k>`. Returns the block's hash (hex) with them. The coordinator commits these at
/// its sync; a witness reads the same at the same block from its own node and compares.
pub fn state_leaves(
    rpc: &RpcClient,
    vault: &crate::EthVault,
    block: u64,
) -> Result<(String, Vec<String>), ChainError> {
    let hash = rpc
        .block_hash(block)?
        .ok_or_else(|| err(format!("the node has no block {block}")))?;
    let address = vault.address();
    let mut leaves = vec![format!(
        "balance {}",
        rpc.balance_at(address.0, Some(block))?
    )];
    match vault.safe_owners() {
        None => leaves.push(format!(
            "nonce {}",
            rpc.transaction_count_at(address.0, block)?
        )),
        Some(_) => {
            let safe = SafeClient::new(rpc, address.0).at_block(block);
            leaves.push(format!("nonce {}", safe.nonce()?));
            leaves.push(format!("threshold {}", safe.threshold()?));
            for owner in safe.owners()? {
                leaves.push(format!("owner {}", EthAddress(owner)));
            }
        }
    }
    Ok((hex::encode(hash), leaves))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gas_margin() {
        assert_eq!(gas_with_margin(21_000), 31_000);
        assert_eq!(gas_with_margin(1_000_000), 1_200_000);
    }
}
