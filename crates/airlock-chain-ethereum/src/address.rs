//! Ethereum addresses as people type them, with the EIP-55 checksum enforced.
//!
//! The rule: `0x` followed by 40 hex digits, and either
//! - mixed case, in which case the case pattern must be exactly the EIP-55 checksum, or
//! - all letters lowercase, or all letters uppercase (these carry no checksum; they are accepted
//!   because many tools print them, but a person should prefer the checksummed form).
//!
//! A mixed-case address with a wrong checksum is refused with an error naming the address: it is
//! almost certainly a typing mistake, and the correct checksum of a mistyped address is never
//! suggested. Addresses are always displayed checksummed.
//!
//! This module must never accept a mixed-case address whose checksum is wrong.

use std::fmt;
use std::str::FromStr;

use alloy_primitives::Address;

use crate::error::EthError;

/// A 20-byte Ethereum address; displays in EIP-55 checksummed form.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EthAddress(pub Address);

impl EthAddress {
    /// The zero address.
    pub const ZERO: EthAddress = EthAddress(Address::ZERO);

    /// Parses a typed address under the rule in the module documentation.
    pub fn parse(s: &str) -> Result<EthAddress, EthError> {
        let bad = |problem: &str| EthError::Address {
            address: s.to_owned(),
            problem: problem.to_owned(),
        };
        let Some(hex_part) = s.strip_prefix("0x") else {
            return Err(bad("must start with 0x"));
        };
        if hex_part.len() != 40 {
            return Err(bad(&format!(
                "must have 40 hex digits after 0x, found {}",
                hex_part.len()
            )));
        }
        if !hex_part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("contains a character that is not a hex digit"));
        }
        let mut bytes = [0u8; 20];
        hex::decode_to_slice(hex_part, &mut bytes).map_err(|_| bad("is not hex"))?;
        let addr = Address::from(bytes);
        let has_lower = hex_part.bytes().any(|b| b.is_ascii_lowercase());
        let has_upper = hex_part.bytes().any(|b| b.is_ascii_uppercase());
        if has_lower && has_upper && addr.to_checksum(None) != s {
            return Err(bad(
                "mixed-case address fails its EIP-55 checksum (mistyped?); \
                 re-type it or copy it from a trusted source",
            ));
        }
        Ok(EthAddress(addr))
    }

    /// The 20 bytes.
    pub fn bytes(&self) -> [u8; 20] {
        self.0.into_array()
    }

    pub fn from_bytes(b: [u8; 20]) -> EthAddress {
        EthAddress(Address::from(b))
    }

    /// EIP-55 checksummed text (the same as `Display`).
    pub fn checksummed(&self) -> String {
        self.0.to_checksum(None)
    }

    pub fn is_zero(&self) -> bool {
        self.0 == Address::ZERO
    }
}

impl fmt::Display for EthAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.checksummed())
    }
}

impl fmt::Debug for EthAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EthAddress({})", self.checksummed())
    }
}

impl FromStr for EthAddress {
    type Err = EthError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EthAddress::parse(s)
    }
}

impl From<Address> for EthAddress {
    fn from(a: Address) -> Self {
        EthAddress(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eip55_rule() {
        // EIP-55's own examples.
        for s in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        ] {
            let a = EthAddress::parse(s).unwrap();
            assert_eq!(a.to_string(), s);
        }
        let lower = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed";
        let upper = "0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED";
        assert_eq!(
            EthAddress::parse(lower).unwrap().to_string(),
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
        );
        assert!(EthAddress::parse(upper).is_ok());
        // One letter's case flipped: refused, and the error names the address.
        let typo = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD";
        let err = EthAddress::parse(typo).unwrap_err().to_string();
        assert!(err.contains(typo) && err.contains("EIP-55"), "{err}");
        for bad in [
            "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0X5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA",
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedd0",
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg",
            "0x",
            "",
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAé",
        ] {
            assert!(EthAddress::parse(bad).is_err(), "{bad}");
        }
    }
}
