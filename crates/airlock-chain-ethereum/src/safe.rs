//! Safe (1.3.0 / 1.4.1) transaction hashing, computed here from the fields and the signer's own
//! record of the Safe: the EIP-712 domain separator over `{chainId, verifyingContract}`, the
//! SafeTx struct hash and the safeTxHash = keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ structHash).
//!
//! This module must never take a hash from the coordinator: every hash a signer signs for a Safe
//! is recomputed here.

use alloy_primitives::{B256, U256};
use alloy_sol_types::{Eip712Domain, SolStruct, sol};

use crate::address::EthAddress;

sol! {
    /// The EIP-712 type Safe signs (`SAFE_TX_TYPEHASH`).
    struct SafeTx {
        address to;
        uint256 value;
        bytes data;
        uint8 operation;
        uint256 safeTxGas;
        uint256 baseGas;
        uint256 gasPrice;
        address gasToken;
        address refundReceiver;
        uint256 nonce;
    }
}

/// The three hashes a person compares across devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SafeHashes {
    pub domain_separator: B256,
    pub struct_hash: B256,
    pub safe_tx_hash: B256,
}

/// The EIP-712 domain of a Safe ≥ 1.3.0.
pub fn domain(chain_id: u64, safe: EthAddress) -> Eip712Domain {
    Eip712Domain {
        chain_id: Some(U256::from(chain_id)),
        verifying_contract: Some(safe.0),
        ..Eip712Domain::default()
    }
}

fn sol_tx(tx: &crate::payload::SafeTx) -> self::SafeTx {
    self::SafeTx {
        to: tx.to.0,
        value: tx.value,
        data: tx.data.clone().into(),
        operation: tx.operation,
        safeTxGas: tx.safe_tx_gas,
        baseGas: tx.base_gas,
        gasPrice: tx.gas_price,
        gasToken: tx.gas_token.0,
        refundReceiver: tx.refund_receiver.0,
        nonce: tx.nonce,
    }
}

/// Computes the domain separator, struct hash and safeTxHash.
pub fn hashes(chain_id: u64, safe: EthAddress, tx: &crate::payload::SafeTx) -> SafeHashes {
    let d = domain(chain_id, safe);
    let s = sol_tx(tx);
    SafeHashes {
        domain_separator: d.separator(),
        struct_hash: s.eip712_hash_struct(),
        safe_tx_hash: s.eip712_signing_hash(&d),
    }
}

/// The safeTxHash alone.
pub fn safe_tx_hash(chain_id: u64, safe: EthAddress, tx: &crate::payload::SafeTx) -> B256 {
    hashes(chain_id, safe, tx).safe_tx_hash
}

/// The SafeTx as `eth_signTypedData_v4` JSON (what Safe{Wallet} and `cast wallet sign --data`
/// sign); its EIP-712 hash is the safeTxHash.
pub fn typed_data_json(chain_id: u64, safe: EthAddress, tx: &crate::payload::SafeTx) -> String {
    serde_json::json!({
        "types": {
            "EIP712Domain": [
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"}
            ],
            "SafeTx": [
                {"name": "to", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "data", "type": "bytes"},
                {"name": "operation", "type": "uint8"},
                {"name": "safeTxGas", "type": "uint256"},
                {"name": "baseGas", "type": "uint256"},
                {"name": "gasPrice", "type": "uint256"},
                {"name": "gasToken", "type": "address"},
                {"name": "refundReceiver", "type": "address"},
                {"name": "nonce", "type": "uint256"}
            ]
        },
        "primaryType": "SafeTx",
        "domain": {"chainId": chain_id, "verifyingContract": safe.to_string()},
        "message": {
            "to": tx.to.to_string(),
            "value": tx.value.to_string(),
            "data": format!("0x{}", hex::encode(&tx.data)),
            "operation": tx.operation,
            "safeTxGas": tx.safe_tx_gas.to_string(),
            "baseGas": tx.base_gas.to_string(),
            "gasPrice": tx.gas_price.to_string(),
            "gasToken": tx.gas_token.to_string(),
            "refundReceiver": tx.refund_receiver.to_string(),
            "nonce": tx.nonce.to_string()
        }
    })
    .to_string()
}
