//! The subaddress table a view-only scanner looks outputs up in: the public spend key of every
//! (account, index) pair up to a lookahead, like wallet2's 50 × 200 table, built once (in
//! parallel) and reused for every block scanned.
//!
//! The spend key of subaddress (i, j) is `D = B + Hs("SubAddr\0" || a || i || j)·G` (the primary
//! address (0, 0) is `B` itself), computed with monero-oxide's hash-to-scalar and dalek's
//! precomputed basepoint table. The table is checked against monero-wallet's own subaddress
//! derivation in this module's tests.
//!
//! This module must never hold or derive anything that can spend: it sees the secret view key
//! only to derive public keys, and never prints or stores it.

use std::collections::HashMap;

use curve25519_dalek::constants::ED25519_BASEPOINT_TABLE;
use curve25519_dalek::edwards::EdwardsPoint;
use monero_wallet::ed25519::{Point, Scalar};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// wallet2's default subaddress lookahead: accounts beyond the highest used one.
pub const DEFAULT_ACCOUNT_LOOKAHEAD: u32 = 50;
/// wallet2's default subaddress lookahead: indices beyond the highest used one in an account.
pub const DEFAULT_INDEX_LOOKAHEAD: u32 = 200;

/// An (account, index) pair; (0, 0) is the primary address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AddressIndex {
    /// The account ("major" index).
    pub account: u32,
    /// The address within the account ("minor" index).
    pub index: u32,
}

impl AddressIndex {
    /// The primary address.
    pub const PRIMARY: AddressIndex = AddressIndex {
        account: 0,
        index: 0,
    };

    /// monero-wallet's index type, or `None` for the primary address.
    pub fn to_subaddress_index(self) -> Option<monero_wallet::address::SubaddressIndex> {
        monero_wallet::address::SubaddressIndex::new(self.account, self.index)
    }
}

impl std::fmt::Display for AddressIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.account, self.index)
    }
}

/// How far ahead of the highest used address the table reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lookahead {
    /// Accounts kept beyond the highest account that received anything.
    pub accounts: u32,
    /// Indices kept beyond the highest index that received anything, per account.
    pub indices: u32,
}

impl Default for Lookahead {
    fn default() -> Self {
        Lookahead {
            accounts: DEFAULT_ACCOUNT_LOOKAHEAD,
            indices: DEFAULT_INDEX_LOOKAHEAD,
        }
    }
}

/// The public spend keys of the primary address and every subaddress up to the lookahead,
/// keyed by their compressed encoding.
pub struct SubaddressTable {
    spend_public: Point,
    view_secret: Zeroizing<[u8; 32]>,
    lookahead: Lookahead,
    /// Indices present per account (`indices_per_account[i]` = indices 0..n of account i).
    indices_per_account: Vec<u32>,
    by_spend_key: HashMap<[u8; 32], AddressIndex>,
}

impl std::fmt::Debug for SubaddressTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubaddressTable")
            .field("accounts", &self.indices_per_account.len())
            .field("entries", &self.by_spend_key.len())
            .field("lookahead", &self.lookahead)
            .finish_non_exhaustive()
    }
}

/// The spend key of one subaddress (the primary spend key for (0, 0)).
pub fn subaddress_spend_key(spend_public: &Point, view_secret: &Scalar, at: AddressIndex) -> Point {
    if at == AddressIndex::PRIMARY {
        return *spend_public;
    }
    let view_bytes = Zeroizing::new(<[u8; 32]>::from(*view_secret));
    Point::from(derive_spend(&Point::into(*spend_public), &view_bytes, at))
}

/// The scalar `m = Hs("SubAddr\0" || a || i || j)` a subaddress adds to the spend key (`D = B +
/// m·G`, and an output's one-time secret gains the same `m`); `None` for the primary address.
/// Derived from the view key alone: it cannot spend.
pub fn subaddress_scalar(view_secret: &Scalar, at: AddressIndex) -> Option<Zeroizing<Scalar>> {
    let view_bytes = Zeroizing::new(<[u8; 32]>::from(*view_secret));
    subaddress_scalar_from_bytes(&view_bytes, at)
}

fn subaddress_scalar_from_bytes(
    view_bytes: &[u8; 32],
    at: AddressIndex,
) -> Option<Zeroizing<Scalar>> {
    if at == AddressIndex::PRIMARY {
        return None;
    }
    let mut preimage = Zeroizing::new([0u8; 8 + 32 + 8]);
    preimage[..8].copy_from_slice(b"SubAddr\0");
    preimage[8..40].copy_from_slice(view_bytes);
    preimage[40..44].copy_from_slice(&at.account.to_le_bytes());
    preimage[44..48].copy_from_slice(&at.index.to_le_bytes());
    Some(Zeroizing::new(Scalar::hash(preimage.as_slice())))
}

fn derive_spend(spend: &EdwardsPoint, view_bytes: &[u8; 32], at: AddressIndex) -> EdwardsPoint {
    match subaddress_scalar_from_bytes(view_bytes, at) {
        None => *spend,
        Some(m) => {
            let m: curve25519_dalek::Scalar = (*m).into();
            spend + &m * ED25519_BASEPOINT_TABLE
        }
    }
}

impl SubaddressTable {
    /// Builds the table for accounts `0..lookahead.accounts` × indices `0..lookahead.indices`,
    /// spread over the machine's cores.
    pub fn new(spend_public: Point, view_secret: &Scalar, lookahead: Lookahead) -> Self {
        let mut table = SubaddressTable {
            spend_public,
            view_secret: Zeroizing::new(<[u8; 32]>::from(*view_secret)),
            lookahead: Lookahead {
                accounts: lookahead.accounts.max(1),
                indices: lookahead.indices.max(1),
            },
            indices_per_account: Vec::new(),
            by_spend_key: HashMap::new(),
        };
        let wanted: Vec<AddressIndex> = (0..table.lookahead.accounts)
            .flat_map(|account| {
                (0..table.lookahead.indices).map(move |index| AddressIndex { account, index })
            })
            .collect();
        table.insert_all(&wanted);
        table.indices_per_account =
            vec![table.lookahead.indices; table.lookahead.accounts as usize];
        table
    }

    fn insert_all(&mut self, wanted: &[AddressIndex]) {
        let spend = self.spend_public.into();
        let view = &self.view_secret;
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .max(1);
        let chunk = wanted.len().div_ceil(threads).max(1);
        let computed: Vec<Vec<([u8; 32], AddressIndex)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = wanted
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|&at| (derive_spend(&spend, view, at).compress().to_bytes(), at))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        self.by_spend_key.reserve(wanted.len());
        for part in computed {
            self.by_spend_key.extend(part);
        }
    }

    /// Which address a (compressed) spend key belongs to, if any in the table.
    pub fn lookup(&self, spend_key: &[u8; 32]) -> Option<AddressIndex> {
        self.by_spend_key.get(spend_key).copied()
    }

    /// Number of addresses in the table (primary included).
    pub fn len(&self) -> usize {
        self.by_spend_key.len()
    }

    /// Whether the table is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.by_spend_key.is_empty()
    }

    /// Number of accounts in the table.
    pub fn accounts(&self) -> u32 {
        self.indices_per_account.len() as u32
    }

    /// Number of indices in the table for `account` (0 if the account is not in it).
    pub fn indices_in(&self, account: u32) -> u32 {
        self.indices_per_account
            .get(account as usize)
            .copied()
            .unwrap_or(0)
    }

    /// The lookahead this table keeps.
    pub fn lookahead(&self) -> Lookahead {
        self.lookahead
    }

    /// Extends the table so that the lookahead holds past `used` (an address that just received
    /// something), like wallet2 does. Returns whether anything was added; a scanner that finds
    /// an output in a batch and then grows the table must rescan that batch.
    pub fn grow_past(&mut self, used: AddressIndex) -> bool {
        let mut wanted = Vec::new();
        let accounts_needed = used.account.saturating_add(self.lookahead.accounts);
        let mut accounts_now = self.indices_per_account.len() as u32;
        while accounts_now < accounts_needed {
            wanted.extend((0..self.lookahead.indices).map(|index| AddressIndex {
                account: accounts_now,
                index,
            }));
            self.indices_per_account.push(self.lookahead.indices);
            accounts_now += 1;
        }
        let indices_needed = used.index.saturating_add(self.lookahead.indices);
        let have = self.indices_per_account[used.account as usize];
        if have < indices_needed {
            wanted.extend((have..indices_needed).map(|index| AddressIndex {
                account: used.account,
                index,
            }));
            self.indices_per_account[used.account as usize] = indices_needed;
        }
        if wanted.is_empty() {
            return false;
        }
        self.insert_all(&wanted);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monero_wallet::ViewPair;
    use monero_wallet::address::{Network, SubaddressIndex};
    use monero_wallet::ed25519::CompressedPoint;

    fn keys() -> (Point, Scalar) {
        let view = Scalar::hash(b"airlock subaddress table test view key");
        let spend_secret = Scalar::hash(b"airlock subaddress table test spend key");
        let spend = Point::from(&spend_secret.into() * ED25519_BASEPOINT_TABLE);
        (spend, view)
    }

    #[test]
    fn table_matches_monero_wallet_subaddresses() {
        let (spend, view) = keys();
        let pair = ViewPair::new(spend, Zeroizing::new(view)).expect("view pair");
        let table = SubaddressTable::new(
            spend,
            &view,
            Lookahead {
                accounts: 3,
                indices: 5,
            },
        );
        assert_eq!(table.len(), 15);
        assert_eq!(
            table.lookup(&spend.compress().to_bytes()),
            Some(AddressIndex::PRIMARY)
        );
        for account in 0..3 {
            for index in 0..5 {
                let Some(sub) = SubaddressIndex::new(account, index) else {
                    continue;
                };
                let expected: CompressedPoint =
                    pair.subaddress(Network::Mainnet, sub).spend().compress();
                assert_eq!(
                    table.lookup(&expected.to_bytes()),
                    Some(AddressIndex { account, index })
                );
            }
        }
        let outside = pair
            .subaddress(Network::Mainnet, SubaddressIndex::new(0, 5).unwrap())
            .spend();
        assert_eq!(table.lookup(&outside.compress().to_bytes()), None);
    }

    #[test]
    fn growing_keeps_the_lookahead_past_a_used_address() {
        let (spend, view) = keys();
        let mut table = SubaddressTable::new(
            spend,
            &view,
            Lookahead {
                accounts: 2,
                indices: 4,
            },
        );
        // A fresh table is "the primary address used, lookahead beyond it", like wallet2's.
        assert!(!table.grow_past(AddressIndex::PRIMARY));
        assert!(table.grow_past(AddressIndex {
            account: 1,
            index: 3
        }));
        assert_eq!(table.accounts(), 3);
        assert_eq!(table.indices_in(0), 4);
        assert_eq!(table.indices_in(1), 7);
        assert_eq!(table.indices_in(2), 4);
        assert_eq!(table.len(), 4 + 7 + 4);
        let far = subaddress_spend_key(
            &spend,
            &view,
            AddressIndex {
                account: 1,
                index: 6,
            },
        );
        assert_eq!(
            table.lookup(&far.compress().to_bytes()),
            Some(AddressIndex {
                account: 1,
                index: 6
            })
        );
        assert!(!table.grow_past(AddressIndex {
            account: 1,
            index: 2
        }));
    }
}
