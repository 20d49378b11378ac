//! Calldata decoding for review: ERC-20 `transfer` / `transferFrom` / `approve` and Safe's
//! `multiSend` batches (MultiSendCallOnly 1.4.1 packing), each inner call decoded in turn.
//!
//! A call is recognised only when its bytes are exactly the canonical ABI encoding of the
//! function (selector, then the arguments re-encoding to the very same bytes): trailing garbage,
//! dirty address padding, a wrong selector or a truncated argument make it an *unknown call*,
//! which is shown as such and never as a transfer.
//!
//! This module must never panic on any bytes and never describe bytes as something they are not.

use alloy_primitives::{Address, U256};
use alloy_sol_types::{SolCall, sol};

use crate::address::EthAddress;

sol! {
    /// ERC-20 `transfer`.
    function transfer(address to, uint256 amount) returns (bool);
    /// ERC-20 `transferFrom`.
    function transferFrom(address from, address to, uint256 amount) returns (bool);
    /// ERC-20 `approve`.
    function approve(address spender, uint256 amount) returns (bool);
    /// Safe's MultiSend / MultiSendCallOnly entry point.
    function multiSend(bytes transactions);
    /// Safe self-management (called by the Safe on itself).
    function addOwnerWithThreshold(address owner, uint256 _threshold);
    function removeOwner(address prevOwner, address owner, uint256 _threshold);
    function swapOwner(address prevOwner, address oldOwner, address newOwner);
    function changeThreshold(uint256 _threshold);
    function enableModule(address module);
    function disableModule(address prevModule, address module);
    function setGuard(address guard);
    function setFallbackHandler(address handler);
}

/// The most calls a decoded multiSend batch may hold, and the deepest nesting decoded.
pub const MAX_MULTISEND_CALLS: usize = 256;
const MAX_DEPTH: usize = 4;

/// One inner call of a multiSend batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InnerCall {
    /// 0 = call, 1 = delegatecall.
    pub operation: u8,
    pub to: EthAddress,
    pub value: U256,
    pub data_len: usize,
    pub call: Call,
}

/// What calldata does, as decoded here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// No calldata: a plain ETH transfer (or a call to a fallback).
    Empty,
    Erc20Transfer {
        to: EthAddress,
        amount: U256,
    },
    Erc20TransferFrom {
        from: EthAddress,
        to: EthAddress,
        amount: U256,
    },
    Erc20Approve {
        spender: EthAddress,
        amount: U256,
    },
    /// A Safe self-management call (owners, threshold, modules, guard, fallback handler): the
    /// function's name and each argument by name.
    SafeAdmin {
        function: &'static str,
        args: Vec<(&'static str, String)>,
    },
    /// A multiSend batch, every inner call decoded.
    MultiSend {
        calls: Vec<InnerCall>,
    },
    /// Anything else: the selector (when there are at least 4 bytes) and the length.
    Unknown {
        selector: Option<[u8; 4]>,
        len: usize,
        /// Why a known selector was not accepted, when it was one.
        note: Option<String>,
    },
}

fn exact<C: SolCall>(data: &[u8]) -> Option<C> {
    if data.len() < 4 || data[..4] != C::SELECTOR {
        return None;
    }
    let call = C::abi_decode_validate(data).ok()?;
    (call.abi_encode() == data).then_some(call)
}

fn a(x: Address) -> EthAddress {
    EthAddress(x)
}

/// Decodes calldata (top level).
pub fn decode(data: &[u8]) -> Call {
    decode_at(data, 0)
}

fn unknown(data: &[u8], note: Option<String>) -> Call {
    Call::Unknown {
        selector: data.get(..4).map(|s| [s[0], s[1], s[2], s[3]]),
        len: data.len(),
        note,
    }
}

fn decode_at(data: &[u8], depth: usize) -> Call {
    if data.is_empty() {
        return Call::Empty;
    }
    if data.len() < 4 {
        return unknown(data, Some("calldata shorter than a selector".into()));
    }
    let sel = &data[..4];
    if sel == transferCall::SELECTOR {
        return match exact::<transferCall>(data) {
            Some(c) => Call::Erc20Transfer {
                to: a(c.to),
                amount: c.amount,
            },
            None => unknown(
                data,
                Some("not a canonical transfer(address,uint256)".into()),
            ),
        };
    }
    if sel == transferFromCall::SELECTOR {
        return match exact::<transferFromCall>(data) {
            Some(c) => Call::Erc20TransferFrom {
                from: a(c.from),
                to: a(c.to),
                amount: c.amount,
            },
            None => unknown(
                data,
                Some("not a canonical transferFrom(address,address,uint256)".into()),
            ),
        };
    }
    if sel == approveCall::SELECTOR {
        return match exact::<approveCall>(data) {
            Some(c) => Call::Erc20Approve {
                spender: a(c.spender),
                amount: c.amount,
            },
            None => unknown(
                data,
                Some("not a canonical approve(address,uint256)".into()),
            ),
        };
    }
    if sel == multiSendCall::SELECTOR {
        if depth >= MAX_DEPTH {
            return unknown(data, Some("multiSend nested too deeply".into()));
        }
        let Some(c) = exact::<multiSendCall>(data) else {
            return unknown(data, Some("not a canonical multiSend(bytes)".into()));
        };
        return match parse_multisend(&c.transactions, depth) {
            Ok(calls) => Call::MultiSend { calls },
            Err(why) => unknown(data, Some(format!("malformed multiSend batch: {why}"))),
        };
    }
    if let Some(admin) = safe_admin(data) {
        return admin;
    }
    unknown(data, None)
}

fn safe_admin(data: &[u8]) -> Option<Call> {
    let admin = |function: &'static str, args: Vec<(&'static str, String)>| {
        Some(Call::SafeAdmin { function, args })
    };
    let s = |x: Address| EthAddress(x).to_string();
    let sel = &data[..4];
    if sel == addOwnerWithThresholdCall::SELECTOR {
        let c = exact::<addOwnerWithThresholdCall>(data)?;
        return admin(
            "addOwnerWithThreshold",
            vec![
                ("owner", s(c.owner)),
                ("threshold", c._threshold.to_string()),
            ],
        );
    }
    if sel == removeOwnerCall::SELECTOR {
        let c = exact::<removeOwnerCall>(data)?;
        return admin(
            "removeOwner",
            vec![
                ("prevOwner", s(c.prevOwner)),
                ("owner", s(c.owner)),
                ("threshold", c._threshold.to_string()),
            ],
        );
    }
    if sel == swapOwnerCall::SELECTOR {
        let c = exact::<swapOwnerCall>(data)?;
        return admin(
            "swapOwner",
            vec![
                ("prevOwner", s(c.prevOwner)),
                ("oldOwner", s(c.oldOwner)),
                ("newOwner", s(c.newOwner)),
            ],
        );
    }
    if sel == changeThresholdCall::SELECTOR {
        let c = exact::<changeThresholdCall>(data)?;
        return admin(
            "changeThreshold",
            vec![("threshold", c._threshold.to_string())],
        );
    }
    if sel == enableModuleCall::SELECTOR {
        let c = exact::<enableModuleCall>(data)?;
        return admin("enableModule", vec![("module", s(c.module))]);
    }
    if sel == disableModuleCall::SELECTOR {
        let c = exact::<disableModuleCall>(data)?;
        return admin(
            "disableModule",
            vec![("prevModule", s(c.prevModule)), ("module", s(c.module))],
        );
    }
    if sel == setGuardCall::SELECTOR {
        let c = exact::<setGuardCall>(data)?;
        return admin("setGuard", vec![("guard", s(c.guard))]);
    }
    if sel == setFallbackHandlerCall::SELECTOR {
        let c = exact::<setFallbackHandlerCall>(data)?;
        return admin("setFallbackHandler", vec![("handler", s(c.handler))]);
    }
    None
}

/// Safe `addOwnerWithThreshold(owner, threshold)` calldata (for tests and the coordinator).
pub fn encode_add_owner(owner: EthAddress, threshold: U256) -> Vec<u8> {
    addOwnerWithThresholdCall {
        owner: owner.0,
        _threshold: threshold,
    }
    .abi_encode()
}

/// Safe `swapOwner(prevOwner, oldOwner, newOwner)` calldata: `prev` is the owner before `old`
/// in the Safe's linked list ([`SENTINEL_OWNERS`] when `old` is the first owner).
pub fn encode_swap_owner(prev: EthAddress, old: EthAddress, new: EthAddress) -> Vec<u8> {
    swapOwnerCall {
        prevOwner: prev.0,
        oldOwner: old.0,
        newOwner: new.0,
    }
    .abi_encode()
}

/// The head of a Safe's owner list (`address(0x1)`).
pub const SENTINEL_OWNERS: EthAddress = EthAddress(alloy_primitives::Address::new([
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
]));

/// Parses MultiSend's packed encoding: per call `operation (1) ‖ to (20) ‖ value (32) ‖
/// data length (32) ‖ data`, back to back, nothing left over.
fn parse_multisend(mut b: &[u8], depth: usize) -> Result<Vec<InnerCall>, String> {
    let mut calls = Vec::new();
    while !b.is_empty() {
        if calls.len() >= MAX_MULTISEND_CALLS {
            return Err(format!("more than {MAX_MULTISEND_CALLS} calls"));
        }
        if b.len() < 85 {
            return Err(format!(
                "call {} is truncated ({} bytes left, a header is 85)",
                calls.len(),
                b.len()
            ));
        }
        let operation = b[0];
        if operation > 1 {
            return Err(format!(
                "call {} has operation {operation} (0 or 1 only)",
                calls.len()
            ));
        }
        let mut to = [0u8; 20];
        to.copy_from_slice(&b[1..21]);
        let value = U256::from_be_slice(&b[21..53]);
        let len = U256::from_be_slice(&b[53..85]);
        let rest = &b[85..];
        if len > U256::from(rest.len()) {
            return Err(format!(
                "call {} declares {len} data bytes, only {} remain",
                calls.len(),
                rest.len()
            ));
        }
        let len = len.to::<usize>();
        let data = &rest[..len];
        calls.push(InnerCall {
            operation,
            to: EthAddress::from_bytes(to),
            value,
            data_len: len,
            call: decode_at(data, depth + 1),
        });
        b = &rest[len..];
    }
    if calls.is_empty() {
        return Err("the batch is empty".into());
    }
    Ok(calls)
}

/// Encodes a multiSend batch (for tests and for the coordinator's builder).
pub fn encode_multisend(calls: &[(u8, EthAddress, U256, Vec<u8>)]) -> Vec<u8> {
    let mut packed = Vec::new();
    for (op, to, value, data) in calls {
        packed.push(*op);
        packed.extend_from_slice(&to.bytes());
        packed.extend_from_slice(&value.to_be_bytes::<32>());
        packed.extend_from_slice(&U256::from(data.len()).to_be_bytes::<32>());
        packed.extend_from_slice(data);
    }
    multiSendCall {
        transactions: packed.into(),
    }
    .abi_encode()
}

/// ERC-20 `transfer(to, amount)` calldata.
pub fn encode_erc20_transfer(to: EthAddress, amount: U256) -> Vec<u8> {
    transferCall { to: to.0, amount }.abi_encode()
}

/// ERC-20 `approve(spender, amount)` calldata.
pub fn encode_erc20_approve(spender: EthAddress, amount: U256) -> Vec<u8> {
    approveCall {
        spender: spender.0,
        amount,
    }
    .abi_encode()
}

/// ERC-20 `transferFrom(from, to, amount)` calldata.
pub fn encode_erc20_transfer_from(from: EthAddress, to: EthAddress, amount: U256) -> Vec<u8> {
    transferFromCall {
        from: from.0,
        to: to.0,
        amount,
    }
    .abi_encode()
}
