//! [`WatchOnlyVault`]: a BDK wallet over a vault's public descriptor, persisted in one SQLite file.
//!
//! It tracks coins (fed by hand or synced from a chain source), hands out receive addresses and builds
//! unsigned PSBT proposals with everything a signer needs. It must never hold a private key: a
//! descriptor with secrets is refused, and nothing here signs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bdk_wallet::bitcoin::address::NetworkUnchecked;
use bdk_wallet::bitcoin::bip32::Xpriv;
use bdk_wallet::bitcoin::consensus::encode::deserialize;
use bdk_wallet::bitcoin::hashes::{Hash, sha256d};
use bdk_wallet::bitcoin::secp256k1::Secp256k1;
use bdk_wallet::bitcoin::{
    Address, Amount, BlockHash, FeeRate, Network, NetworkKind, OutPoint, PrivateKey, Psbt,
    ScriptBuf, Sequence, SignedAmount, Transaction, Txid, absolute,
};
use bdk_wallet::chain::indexer::Indexer;
use bdk_wallet::chain::{BlockId, ChainPosition, ConfirmationBlockTime, TxUpdate};
use bdk_wallet::coin_selection::InsufficientFunds;
use bdk_wallet::descriptor::policy::Condition;
use bdk_wallet::error::CreateTxError;
use bdk_wallet::miniscript::descriptor::{DefiniteDescriptorKey, DescriptorPublicKey};
use bdk_wallet::miniscript::policy::Liftable;
use bdk_wallet::miniscript::psbt::PsbtExt;
use bdk_wallet::miniscript::{Descriptor, ForEachKey};
use bdk_wallet::{KeychainKind, PersistedWallet, Update, Wallet};

use super::error::OnlineError;
use super::store::SqliteVaultStore;

/// Lowest fee rate accepted for a proposal: Bitcoin Core's long-standing minimum relay fee. Below it
/// a transaction may never propagate and the coins stay stuck.
pub const MIN_FEE_RATE_SAT_PER_VB: f64 = 1.0;
/// Highest fee rate accepted for a proposal. Fee rates above this have never been needed on
/// mainnet; such a number is a typo (sat/kvB or BTC given as sat/vB).
pub const MAX_FEE_RATE_SAT_PER_VB: f64 = 1_000.0;
/// The most sats that can exist (21 million BTC).
const MAX_MONEY_SAT: u64 = 21_000_000 * 100_000_000;

/// Where a block that confirms a hand-fed transaction sits in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockConfirmation {
    /// Block height (at least 1).
    pub height: u32,
    /// Block time, UNIX seconds.
    pub time: u64,
    /// The block's hash when known. Without it, a stand-in hash derived from the height is used
    /// (offline setups rarely know block hashes); a later sync against a real chain replaces it.
    pub block_hash: Option<BlockHash>,
}

impl BlockConfirmation {
    /// A confirmation at `height` and `time`, block hash unknown.
    pub fn at(height: u32, time: u64) -> Self {
        Self {
            height,
            time,
            block_hash: None,
        }
    }
}

/// Which of the vault's spending conditions a proposal is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpendPath {
    /// The everyday path: no relative or absolute timelock is committed to (inputs signal RBF).
    #[default]
    Normal,
    /// The timelocked emergency path of a miniscript vault (e.g. "the recovery key alone after N
    /// blocks"): inputs carry `nSequence` = the descriptor's `older(N)` and `nLockTime` at least its
    /// `after(T)`; with a block-based `older`, only coins with at least N confirmations are spent.
    Recovery,
}

/// The timelocks of a descriptor's recovery path: the largest `older` and `after` in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryTimelocks {
    /// Relative timelock (`older`), as the input `nSequence` it needs.
    pub relative: Option<Sequence>,
    /// Absolute timelock (`after`), as the `nLockTime` it needs.
    pub absolute: Option<absolute::LockTime>,
}

/// Finds the timelocks of a descriptor (`older(N)` / `after(T)` anywhere in its policy). Refuses a
/// descriptor without any, and one mixing block- and time-based locks of the same kind (no single
/// transaction can satisfy both).
pub fn recovery_timelocks(
    descriptor: &Descriptor<DescriptorPublicKey>,
) -> Result<RecoveryTimelocks, OnlineError> {
    let policy = descriptor
        .lift()
        .map_err(|error| OnlineError::Descriptor(error.to_string()))?;
    let relative: Vec<Sequence> = policy
        .relative_timelocks()
        .into_iter()
        .map(Sequence::from_consensus)
        .collect();
    let absolute: Vec<absolute::LockTime> = policy
        .absolute_timelocks()
        .into_iter()
        .map(absolute::LockTime::from_consensus)
        .collect();
    if relative.is_empty() && absolute.is_empty() {
        return Err(OnlineError::Descriptor(
            "the vault has no timelocked recovery path (no older() or after() in its descriptor)"
                .into(),
        ));
    }
    if relative.iter().any(|sequence| sequence.is_height_locked())
        && relative.iter().any(|sequence| sequence.is_time_locked())
    {
        return Err(OnlineError::Descriptor(
            "the descriptor mixes block- and time-based older() locks".into(),
        ));
    }
    if absolute.iter().any(|lock| lock.is_block_height())
        && absolute.iter().any(|lock| lock.is_block_time())
    {
        return Err(OnlineError::Descriptor(
            "the descriptor mixes block- and time-based after() locks".into(),
        ));
    }
    Ok(RecoveryTimelocks {
        relative: relative
            .into_iter()
            .max_by_key(|sequence| sequence.to_consensus_u32()),
        absolute: absolute
            .into_iter()
            .max_by_key(|lock| lock.to_consensus_u32()),
    })
}

/// One of the vault's addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultAddress {
    /// Receive (`External`) or change (`Internal`) chain.
    pub keychain: KeychainKind,
    /// Derivation index on that chain.
    pub index: u32,
    /// The address.
    pub address: Address,
}

/// The vault's balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VaultBalance {
    /// Confirmed coins.
    pub confirmed: Amount,
    /// Unconfirmed coins the vault sent to itself (change of its own transactions).
    pub unconfirmed_change: Amount,
    /// Unconfirmed coins received from others.
    pub unconfirmed_incoming: Amount,
    /// Coinbase outputs not yet mature.
    pub immature: Amount,
}

impl VaultBalance {
    /// All unconfirmed coins.
    pub fn unconfirmed(&self) -> Amount {
        self.unconfirmed_change + self.unconfirmed_incoming
    }

    /// Everything, confirmed or not.
    pub fn total(&self) -> Amount {
        self.confirmed + self.unconfirmed() + self.immature
    }
}

/// Whether a transaction or coin is in a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxStatus {
    /// In a block of the vault's best chain.
    Confirmed {
        /// Block height.
        height: u32,
        /// Block hash (a stand-in when the transaction was fed by hand without one).
        block_hash: BlockHash,
        /// Block time, UNIX seconds.
        time: u64,
    },
    /// Not (yet) in a block.
    Unconfirmed {
        /// When last seen unconfirmed (UNIX seconds), if ever.
        last_seen: Option<u64>,
    },
}

impl TxStatus {
    fn from_position(position: &ChainPosition<ConfirmationBlockTime>) -> Self {
        match position {
            ChainPosition::Confirmed { anchor, .. } => TxStatus::Confirmed {
                height: anchor.block_id.height,
                block_hash: anchor.block_id.hash,
                time: anchor.confirmation_time,
            },
            ChainPosition::Unconfirmed { last_seen, .. } => TxStatus::Unconfirmed {
                last_seen: *last_seen,
            },
        }
    }

    /// Whether in a block.
    pub fn is_confirmed(&self) -> bool {
        matches!(self, TxStatus::Confirmed { .. })
    }
}

/// An unspent output of the vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultUtxo {
    /// The coin.
    pub outpoint: OutPoint,
    /// Its value.
    pub value: Amount,
    /// Receive or change chain.
    pub keychain: KeychainKind,
    /// Derivation index on that chain.
    pub derivation_index: u32,
    /// The address it pays to.
    pub address: Address,
    /// Confirmation status.
    pub status: TxStatus,
}

/// One transaction of the vault's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Its id.
    pub txid: Txid,
    /// Sum of the vault's coins it spends.
    pub sent: Amount,
    /// Sum of its outputs paying the vault (change included).
    pub received: Amount,
    /// Fee, when every input's value is known.
    pub fee: Option<Amount>,
    /// Confirmation status.
    pub status: TxStatus,
}

impl HistoryEntry {
    /// Effect on the vault's balance: received minus sent.
    pub fn net(&self) -> SignedAmount {
        self.received
            .to_signed()
            .unwrap_or(SignedAmount::MAX)
            .checked_sub(self.sent.to_signed().unwrap_or(SignedAmount::MAX))
            .unwrap_or(SignedAmount::MIN)
    }
}

/// What a sweep pays to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepTarget {
    /// The destination script.
    pub script_pubkey: ScriptBuf,
    /// The destination as an address.
    pub address: Address,
}

/// A watch-only vault: BDK wallet over the vault's public descriptor, persisted in SQLite.
///
/// Every state change is written to the store (one SQLite transaction) before the call returns.
/// Input that is refused (bad address, amount, fee rate, raw transaction, block data) changes
/// nothing, in memory or on disk; only a failing disk write can leave memory ahead of the file.
pub struct WatchOnlyVault {
    wallet: PersistedWallet<SqliteVaultStore>,
    store: SqliteVaultStore,
    network: Network,
    path: PathBuf,
    spend_unconfirmed_incoming: bool,
    reserved_coins: Vec<OutPoint>,
}

impl std::fmt::Debug for WatchOnlyVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchOnlyVault")
            .field("path", &self.path)
            .field("network", &self.network)
            .field(
                "descriptor",
                &self
                    .wallet
                    .public_descriptor(KeychainKind::External)
                    .to_string(),
            )
            .finish()
    }
}

/// Parses a vault descriptor with public keys only and splits it into receive and change
/// descriptors. Accepts a multipath descriptor (`.../<0;1>/*`), whose first path is the receive
/// chain and second the change chain.
pub fn split_vault_descriptor(
    text: &str,
    network: Network,
) -> Result<
    (
        Descriptor<DescriptorPublicKey>,
        Descriptor<DescriptorPublicKey>,
    ),
    OnlineError,
> {
    let descriptor = parse_public_descriptor(text, network)?;
    if !descriptor.has_wildcard() {
        return Err(OnlineError::Descriptor(
            "the descriptor is not ranged: a vault needs keys ending in /<0;1>/*".into(),
        ));
    }
    let mut singles = descriptor
        .into_single_descriptors()
        .map_err(|error| OnlineError::Descriptor(error.to_string()))?;
    if singles.len() != 2 {
        return Err(OnlineError::Descriptor(format!(
            "a vault descriptor needs exactly two paths (receive and change, e.g. /<0;1>/*); this one has {}",
            singles.len()
        )));
    }
    let internal = singles.pop().expect("two descriptors");
    let external = singles.pop().expect("two descriptors");
    Ok((external, internal))
}

/// Parses descriptor text that must contain public keys only, passes miniscript's sanity checks
/// (which refuse repeated keys) and whose extended keys are for `network`.
fn parse_public_descriptor(
    text: &str,
    network: Network,
) -> Result<Descriptor<DescriptorPublicKey>, OnlineError> {
    let text = text.trim();
    if contains_private_key(text) {
        return Err(OnlineError::PrivateKeyInDescriptor);
    }
    let secp = Secp256k1::signing_only();
    let (descriptor, secret_keys) =
        Descriptor::<DescriptorPublicKey>::parse_descriptor(&secp, text)
            .map_err(|error| OnlineError::Descriptor(error.to_string()))?;
    if !secret_keys.is_empty() {
        return Err(OnlineError::PrivateKeyInDescriptor);
    }
    descriptor
        .sanity_check()
        .map_err(|error| OnlineError::Descriptor(error.to_string()))?;
    let expected_kind = NetworkKind::from(network);
    let mut wrong_key = None;
    descriptor.for_each_key(|key| {
        let kind = match key {
            DescriptorPublicKey::XPub(xkey) => Some(xkey.xkey.network),
            DescriptorPublicKey::MultiXPub(xkey) => Some(xkey.xkey.network),
            DescriptorPublicKey::Single(_) => None,
        };
        match kind {
            Some(kind) if kind != expected_kind => {
                wrong_key = Some((key.to_string(), kind));
                false
            }
            _ => true,
        }
    });
    if let Some((key, kind)) = wrong_key {
        return Err(OnlineError::NetworkMismatch {
            what: format!("key {key}"),
            found: match kind {
                NetworkKind::Main => "mainnet (xpub)".into(),
                NetworkKind::Test => "test networks (tpub)".into(),
            },
            expected: network,
        });
    }
    Ok(descriptor)
}

/// Refuses descriptors whose scripts have no address (bare `pk`, `multi`...): BDK hands out
/// addresses for every coin and would panic on them.
fn require_address_form(
    descriptor: &Descriptor<DescriptorPublicKey>,
    network: Network,
) -> Result<(), OnlineError> {
    let first = descriptor
        .at_derivation_index(0)
        .map_err(|error| OnlineError::Descriptor(error.to_string()))?;
    first.address(network).map_err(|error| {
        OnlineError::Descriptor(format!(
            "the descriptor has no address form ({error}); a vault needs wpkh, wsh, sh or tr"
        ))
    })?;
    Ok(())
}

/// Whether descriptor text holds an extended private key or a WIF private key anywhere (checked on
/// the raw text, so forms miniscript cannot parse, such as multipath xprvs, are caught too).
fn contains_private_key(text: &str) -> bool {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|token| token.len() >= 51)
        .any(|token| Xpriv::from_str(token).is_ok() || PrivateKey::from_wif(token).is_ok())
}

/// Checks a fee rate in sat/vB and turns it into BDK's type.
pub fn fee_rate_from_sat_per_vb(sat_per_vb: f64) -> Result<FeeRate, OnlineError> {
    let refuse = |reason: String| OnlineError::FeeRate {
        given: sat_per_vb,
        reason,
    };
    if !sat_per_vb.is_finite() {
        return Err(refuse("not a number".into()));
    }
    if sat_per_vb < MIN_FEE_RATE_SAT_PER_VB {
        return Err(refuse(format!(
            "below the minimum relay fee rate of {MIN_FEE_RATE_SAT_PER_VB} sat/vB"
        )));
    }
    if sat_per_vb > MAX_FEE_RATE_SAT_PER_VB {
        return Err(refuse(format!(
            "absurdly high (more than {MAX_FEE_RATE_SAT_PER_VB} sat/vB); was sat/kvB or BTC meant?"
        )));
    }
    // 1 sat/vB = 250 sat per 1,000 weight units.
    Ok(FeeRate::from_sat_per_kwu(
        (sat_per_vb * 250.0).round() as u64
    ))
}

/// A stand-in block hash for a height whose real hash was not given: distinct per height and
/// recognisable (double SHA-256 of a fixed tag and the height).
pub fn stand_in_block_hash(height: u32) -> BlockHash {
    let mut preimage = b"airlock stand-in block ".to_vec();
    preimage.extend_from_slice(&height.to_be_bytes());
    BlockHash::from_raw_hash(sha256d::Hash::hash(&preimage))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

fn parse_address(text: &str, network: Network) -> Result<Address, OnlineError> {
    let unchecked = Address::<NetworkUnchecked>::from_str(text.trim()).map_err(|error| {
        OnlineError::InvalidAddress {
            address: text.to_string(),
            reason: error.to_string(),
        }
    })?;
    unchecked
        .require_network(network)
        .map_err(|_| OnlineError::AddressWrongNetwork {
            address: text.trim().to_string(),
            expected: network,
        })
}

impl WatchOnlyVault {
    /// Creates a new vault file at `path` for a multipath public descriptor (`.../<0;1>/*`) on
    /// `network`. Refuses an existing path, private keys, keys of another network, repeated keys
    /// and descriptors that are not ranged.
    pub fn create(path: &Path, descriptor: &str, network: Network) -> Result<Self, OnlineError> {
        let (external, internal) = split_vault_descriptor(descriptor, network)?;
        Self::create_with_descriptors(path, external, internal, network)
    }

    /// Creates a new vault file from separate receive and change descriptors (public keys only).
    pub fn create_with_descriptors(
        path: &Path,
        external: Descriptor<DescriptorPublicKey>,
        internal: Descriptor<DescriptorPublicKey>,
        network: Network,
    ) -> Result<Self, OnlineError> {
        // Re-check descriptors that did not come through `split_vault_descriptor`.
        let external = parse_public_descriptor(&external.to_string(), network)?;
        let internal = parse_public_descriptor(&internal.to_string(), network)?;
        if external.is_multipath() || internal.is_multipath() {
            return Err(OnlineError::Descriptor(
                "pass a multipath descriptor to `create`, or two single-path descriptors here"
                    .into(),
            ));
        }
        require_address_form(&external, network)?;
        require_address_form(&internal, network)?;
        if path.exists() {
            return Err(OnlineError::AlreadyExists(path.to_path_buf()));
        }
        let result = (|| {
            let mut store = SqliteVaultStore::open(path)?;
            let wallet = Wallet::create(external, internal)
                .network(network)
                .create_wallet(&mut store)
                .map_err(|error| OnlineError::Descriptor(error.to_string()))?;
            Ok(Self {
                wallet,
                store,
                network,
                path: path.to_path_buf(),
                spend_unconfirmed_incoming: false,
                reserved_coins: Vec::new(),
            })
        })();
        if result.is_err() {
            // Leave no half-made vault file behind.
            let _ = std::fs::remove_file(path);
        }
        result
    }

    /// Opens an existing vault file, checking it is for `network`.
    pub fn open(path: &Path, network: Network) -> Result<Self, OnlineError> {
        if !path.is_file() {
            return Err(OnlineError::NotFound(path.to_path_buf()));
        }
        let mut store = SqliteVaultStore::open(path)?;
        let wallet = Wallet::load()
            .check_network(network)
            .load_wallet(&mut store)
            .map_err(|error| match error {
                bdk_wallet::LoadWithPersistError::Persist(error) => OnlineError::Store(error),
                bdk_wallet::LoadWithPersistError::InvalidChangeSet(
                    bdk_wallet::LoadError::Mismatch(bdk_wallet::LoadMismatch::Network {
                        loaded,
                        expected,
                    }),
                ) => OnlineError::NetworkMismatch {
                    what: format!("the vault stored at {}", path.display()),
                    found: loaded.to_string(),
                    expected,
                },
                other => OnlineError::Descriptor(other.to_string()),
            })?
            .ok_or_else(|| OnlineError::NotFound(path.to_path_buf()))?;
        for keychain in [KeychainKind::External, KeychainKind::Internal] {
            require_address_form(wallet.public_descriptor(keychain), network)?;
        }
        Ok(Self {
            wallet,
            store,
            network,
            path: path.to_path_buf(),
            spend_unconfirmed_incoming: false,
            reserved_coins: Vec::new(),
        })
    }

    /// Opens an existing vault file and checks that it was made from `descriptor`.
    pub fn open_checked(
        path: &Path,
        descriptor: &str,
        network: Network,
    ) -> Result<Self, OnlineError> {
        let (external, internal) = split_vault_descriptor(descriptor, network)?;
        let vault = Self::open(path, network)?;
        let same = vault.wallet.public_descriptor(KeychainKind::External) == &external
            && vault.wallet.public_descriptor(KeychainKind::Internal) == &internal;
        if !same {
            return Err(OnlineError::DescriptorMismatch(path.to_path_buf()));
        }
        Ok(vault)
    }

    /// The vault's network.
    pub fn network(&self) -> Network {
        self.network
    }

    /// Whether proposals may spend unconfirmed coins received from others (default: no, as
    /// Bitcoin Core's wallet: such a coin disappears if its sender double-spends it, taking the
    /// proposal with it). Unconfirmed change of the vault's own transactions is always spendable.
    /// Not stored in the vault file.
    pub fn set_spend_unconfirmed_incoming(&mut self, allow: bool) {
        self.spend_unconfirmed_incoming = allow;
    }

    /// Coins that open proposals already spend: coin selection leaves them out, so that a new
    /// proposal never conflicts with one still waiting for approvals. Not stored in the vault
    /// file (the coordinator's log is what knows the open proposals).
    pub fn set_reserved_coins(&mut self, coins: Vec<OutPoint>) {
        self.reserved_coins = coins;
    }

    /// Coins proposals must not spend under the current settings.
    fn unspendable_coins(&self) -> Vec<OutPoint> {
        let mut coins = self.reserved_coins.clone();
        if self.spend_unconfirmed_incoming {
            return coins;
        }
        coins.extend(
            self.wallet
                .list_unspent()
                .filter(|output| {
                    output.keychain == KeychainKind::External
                        && !output.chain_position.is_confirmed()
                })
                .map(|output| output.outpoint),
        );
        coins
    }

    /// The file the vault lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The public descriptor of the receive (`External`) or change (`Internal`) chain.
    pub fn descriptor(&self, keychain: KeychainKind) -> &Descriptor<DescriptorPublicKey> {
        self.wallet.public_descriptor(keychain)
    }

    /// The underlying BDK wallet, read-only (for callers needing more than this API offers).
    pub fn wallet(&self) -> &Wallet {
        &self.wallet
    }

    fn persist(&mut self) -> Result<(), OnlineError> {
        self.wallet.persist(&mut self.store)?;
        Ok(())
    }

    /// Applies an update from a chain source and writes it to the vault file.
    pub(crate) fn apply_chain_update(&mut self, update: Update) -> Result<(), OnlineError> {
        self.wallet
            .apply_update(update)
            .map_err(|error| OnlineError::Sync(error.to_string()))?;
        self.persist()
    }

    /// Reveals the next receive address (never handed out before) and records that it was handed out.
    pub fn reveal_next_address(&mut self) -> Result<VaultAddress, OnlineError> {
        let info = self.wallet.reveal_next_address(KeychainKind::External);
        self.persist()?;
        Ok(VaultAddress {
            keychain: info.keychain,
            index: info.index,
            address: info.address,
        })
    }

    /// The first receive address that has not received coins yet (may repeat until it is used).
    pub fn next_unused_address(&mut self) -> Result<VaultAddress, OnlineError> {
        let info = self.wallet.next_unused_address(KeychainKind::External);
        self.persist()?;
        Ok(VaultAddress {
            keychain: info.keychain,
            index: info.index,
            address: info.address,
        })
    }

    /// The address at `index` of a chain, without revealing it. Derived directly (one step per
    /// key), so any non-hardened index is cheap; hardened indexes (2^31 and above) are refused.
    pub fn peek_address(
        &self,
        keychain: KeychainKind,
        index: u32,
    ) -> Result<VaultAddress, OnlineError> {
        let derived = self
            .wallet
            .public_descriptor(keychain)
            .at_derivation_index(index)
            .map_err(|error| {
                OnlineError::Descriptor(format!("no address at index {index}: {error}"))
            })?;
        let address = derived
            .address(self.network)
            .map_err(|error| OnlineError::Descriptor(error.to_string()))?;
        Ok(VaultAddress {
            keychain,
            index,
            address,
        })
    }

    /// The vault's balance.
    pub fn balance(&self) -> VaultBalance {
        let balance = self.wallet.balance();
        VaultBalance {
            confirmed: balance.confirmed,
            unconfirmed_change: balance.trusted_pending,
            unconfirmed_incoming: balance.untrusted_pending,
            immature: balance.immature,
        }
    }

    /// Unspent outputs, largest first.
    pub fn utxos(&self) -> Vec<VaultUtxo> {
        let mut utxos: Vec<VaultUtxo> = self
            .wallet
            .list_unspent()
            .map(|output| VaultUtxo {
                outpoint: output.outpoint,
                value: output.txout.value,
                keychain: output.keychain,
                derivation_index: output.derivation_index,
                address: Address::from_script(&output.txout.script_pubkey, self.network)
                    .expect("the vault's own scripts have addresses"),
                status: TxStatus::from_position(&output.chain_position),
            })
            .collect();
        utxos.sort_by(|a, b| b.value.cmp(&a.value).then(a.outpoint.cmp(&b.outpoint)));
        utxos
    }

    /// The vault's transactions: confirmed ones by height, then unconfirmed ones by when seen.
    pub fn history(&self) -> Vec<HistoryEntry> {
        let mut entries: Vec<HistoryEntry> = self
            .wallet
            .transactions()
            .map(|wallet_tx| {
                let tx = &wallet_tx.tx_node.tx;
                let (sent, received) = self.wallet.sent_and_received(tx);
                HistoryEntry {
                    txid: wallet_tx.tx_node.txid,
                    sent,
                    received,
                    fee: self.wallet.calculate_fee(tx).ok(),
                    status: TxStatus::from_position(&wallet_tx.chain_position),
                }
            })
            .collect();
        let order = |status: &TxStatus| match status {
            TxStatus::Confirmed { height, .. } => (0u8, u64::from(*height)),
            TxStatus::Unconfirmed { last_seen } => (1u8, last_seen.unwrap_or(u64::MAX)),
        };
        entries.sort_by(|a, b| {
            order(&a.status)
                .cmp(&order(&b.status))
                .then(a.txid.cmp(&b.txid))
        });
        entries
    }

    /// Feeds a raw transaction by hand (as Electrum's `addtransaction`): confirmed in the given block,
    /// or unconfirmed (seen now) when `confirmation` is `None`. The transaction must pay to or spend
    /// from the vault: an output to one of its addresses up to 25 beyond the last revealed one per
    /// chain (BDK's lookahead), or an input spending one of its coins. Returns its txid.
    pub fn add_raw_transaction(
        &mut self,
        raw: &[u8],
        confirmation: Option<BlockConfirmation>,
    ) -> Result<Txid, OnlineError> {
        let tx: Transaction = deserialize(raw)
            .map_err(|error| OnlineError::MalformedTransaction(error.to_string()))?;
        self.add_transaction(tx, confirmation)
    }

    /// [`Self::add_raw_transaction`] for hex text.
    pub fn add_raw_transaction_hex(
        &mut self,
        hex_text: &str,
        confirmation: Option<BlockConfirmation>,
    ) -> Result<Txid, OnlineError> {
        let raw = hex::decode(hex_text.trim()).map_err(|error| {
            OnlineError::MalformedTransaction(format!("not hexadecimal: {error}"))
        })?;
        self.add_raw_transaction(&raw, confirmation)
    }

    /// Feeds a decoded transaction (see [`Self::add_raw_transaction`]).
    pub fn add_transaction(
        &mut self,
        tx: Transaction,
        confirmation: Option<BlockConfirmation>,
    ) -> Result<Txid, OnlineError> {
        let txid = tx.compute_txid();
        if tx.input.is_empty() || tx.output.is_empty() {
            return Err(OnlineError::MalformedTransaction(format!(
                "transaction {txid} has {} inputs and {} outputs; both must be at least one",
                tx.input.len(),
                tx.output.len()
            )));
        }
        if !self.wallet.spk_index().is_tx_relevant(&tx) {
            return Err(OnlineError::UnrelatedTransaction(txid));
        }
        match confirmation {
            None => {
                self.wallet.apply_unconfirmed_txs([(tx, unix_now())]);
                self.persist()?;
            }
            Some(block) => self.apply_confirmed(Some((Some(tx), txid)), block)?,
        }
        Ok(txid)
    }

    /// The BDK spending condition for `path`, and the confirmations each spent coin needs.
    fn condition_for(&self, path: SpendPath) -> Result<(Condition, Option<u32>), OnlineError> {
        match path {
            SpendPath::Normal => Ok((Condition::default(), None)),
            SpendPath::Recovery => {
                let locks =
                    recovery_timelocks(self.wallet.public_descriptor(KeychainKind::External))?;
                let min_confirmations = locks
                    .relative
                    .filter(|sequence| sequence.is_height_locked())
                    .map(|sequence| sequence.to_consensus_u32() & 0xffff);
                Ok((
                    Condition {
                        csv: locks.relative,
                        timelock: locks.absolute,
                    },
                    min_confirmations,
                ))
            }
        }
    }

    /// Records a block (height, time, optional hash) with no transaction of the vault in it, so the
    /// vault knows the chain has reached that height: coins' confirmation counts, timelocked
    /// recovery spends and anti-fee-sniping `nLockTime` follow the tip.
    pub fn record_block(&mut self, block: BlockConfirmation) -> Result<(), OnlineError> {
        self.apply_confirmed(None, block)
    }

    /// The vault's UTXO set at its tip as state-commitment leaves (`airlock_core::commitment`):
    /// `utxo <txid>:<vout> <sats> <scriptPubKey hex>` for every output confirmed at or below the
    /// tip that no transaction confirmed at or below it spends (what a node's UTXO set holds for
    /// the vault at that height; mempool transactions change nothing). Returns the tip's height
    /// and hash with them.
    pub fn state_leaves(&self) -> (u32, String, Vec<String>) {
        let tip = self.wallet.latest_checkpoint();
        let height = tip.height();
        let confirmed = |position: &ChainPosition<ConfirmationBlockTime>| match position {
            ChainPosition::Confirmed { anchor, .. } => anchor.block_id.height <= height,
            ChainPosition::Unconfirmed { .. } => false,
        };
        let spent: std::collections::HashSet<_> = self
            .wallet
            .transactions()
            .filter(|t| confirmed(&t.chain_position))
            .flat_map(|t| {
                t.tx_node
                    .tx
                    .input
                    .iter()
                    .map(|i| i.previous_output)
                    .collect::<Vec<_>>()
            })
            .collect();
        let leaves = self
            .wallet
            .list_output()
            .filter(|o| confirmed(&o.chain_position) && !spent.contains(&o.outpoint))
            .map(|o| {
                format!(
                    "utxo {} {} {}",
                    o.outpoint,
                    o.txout.value.to_sat(),
                    o.txout.script_pubkey.to_hex_string()
                )
            })
            .collect();
        (height, tip.hash().to_string(), leaves)
    }

    /// Height of the best block the vault knows.
    pub fn tip_height(&self) -> u32 {
        self.wallet.latest_checkpoint().height()
    }

    /// Marks a transaction the vault already knows as confirmed in the given block.
    pub fn confirm_transaction(
        &mut self,
        txid: Txid,
        block: BlockConfirmation,
    ) -> Result<(), OnlineError> {
        if self.wallet.tx_graph().get_tx(txid).is_none() {
            return Err(OnlineError::UnknownTransaction(txid));
        }
        self.apply_confirmed(Some((None, txid)), block)
    }

    /// Inserts `block` into the vault's chain and, when given, anchors the transaction (fed in
    /// full, or already known) in it.
    fn apply_confirmed(
        &mut self,
        transaction: Option<(Option<Transaction>, Txid)>,
        block: BlockConfirmation,
    ) -> Result<(), OnlineError> {
        if block.height == 0 {
            return Err(OnlineError::Confirmation(
                "height 0 is the genesis block; transactions are confirmed at height 1 or above"
                    .into(),
            ));
        }
        let hash = block
            .block_hash
            .unwrap_or_else(|| stand_in_block_hash(block.height));
        if let Some(known) = self.wallet.local_chain().get(block.height)
            && known.hash() != hash
        {
            return Err(OnlineError::Confirmation(format!(
                "the vault already knows block {} at height {}, not {hash}",
                known.hash(),
                block.height
            )));
        }
        let block_id = BlockId {
            height: block.height,
            hash,
        };
        let chain_tip = self.wallet.latest_checkpoint().insert(block_id);
        let mut tx_update = TxUpdate::default();
        if let Some((tx, txid)) = transaction {
            if let Some(tx) = tx {
                tx_update.txs.push(Arc::new(tx));
            }
            tx_update.anchors.insert((
                ConfirmationBlockTime {
                    block_id,
                    confirmation_time: block.time,
                },
                txid,
            ));
        }
        self.wallet
            .apply_update(Update {
                last_active_indices: BTreeMap::new(),
                tx_update,
                chain: Some(chain_tip),
            })
            .map_err(|error| OnlineError::Confirmation(error.to_string()))?;
        self.persist()
    }

    /// Builds an unsigned payment proposal (PSBT v0) paying each `(address, sats)` at `fee_rate`
    /// sat/vB, change to the vault's change chain. The PSBT carries global xpubs, BIP-32 derivations
    /// on inputs and change outputs, witness scripts, both UTXO fields for segwit v0 inputs and the
    /// BIP-371 fields for taproot.
    pub fn build_payment(
        &mut self,
        payments: &[(&str, u64)],
        fee_rate_sat_per_vb: f64,
    ) -> Result<Psbt, OnlineError> {
        self.build_payment_on_path(payments, fee_rate_sat_per_vb, SpendPath::Normal)
    }

    /// [`Self::build_payment`] on a chosen spending path: [`SpendPath::Recovery`] builds the
    /// timelocked emergency spend of a miniscript vault.
    pub fn build_payment_on_path(
        &mut self,
        payments: &[(&str, u64)],
        fee_rate_sat_per_vb: f64,
        path: SpendPath,
    ) -> Result<Psbt, OnlineError> {
        let fee_rate = fee_rate_from_sat_per_vb(fee_rate_sat_per_vb)?;
        if payments.is_empty() {
            return Err(OnlineError::NoRecipients);
        }
        let mut recipients = Vec::with_capacity(payments.len());
        let mut total: u64 = 0;
        for (text, sats) in payments {
            let address = parse_address(text, self.network)?;
            let script = address.script_pubkey();
            let minimum = script.minimal_non_dust().to_sat();
            if *sats < minimum {
                return Err(OnlineError::Dust {
                    address: address.to_string(),
                    amount_sat: *sats,
                    minimum_sat: minimum,
                });
            }
            total = total
                .checked_add(*sats)
                .filter(|sum| *sum <= MAX_MONEY_SAT)
                .ok_or(OnlineError::AmountOverflow)?;
            recipients.push((script, Amount::from_sat(*sats)));
        }
        let (condition, min_confirmations) = self.condition_for(path)?;
        let unspendable = self.unspendable_coins();
        let mut builder = self.wallet.build_tx();
        builder
            .unspendable(unspendable)
            .set_recipients(recipients)
            .fee_rate(fee_rate)
            .set_condition(condition)
            .add_global_xpubs();
        if let Some(confirmations) = min_confirmations {
            builder.exclude_below_confirmations(confirmations);
        }
        let psbt = builder.finish().map_err(map_create_error)?;
        // The change address is now handed out; remember that.
        self.persist()?;
        Ok(psbt)
    }

    /// Builds an unsigned proposal spending every coin of the vault to one address.
    pub fn build_sweep_to_address(
        &mut self,
        address: &str,
        fee_rate_sat_per_vb: f64,
    ) -> Result<Psbt, OnlineError> {
        let fee_rate = fee_rate_from_sat_per_vb(fee_rate_sat_per_vb)?;
        let address = parse_address(address, self.network)?;
        self.build_sweep(address.script_pubkey(), None, fee_rate, SpendPath::Normal)
    }

    /// Builds an unsigned proposal spending every coin of the vault to the first receive address
    /// (index 0) of another descriptor, e.g. a new vault after key rotation. The sweep output carries
    /// that descriptor's derivations and scripts, so the new vault's signers can recognise it.
    /// Returns the PSBT and the destination.
    pub fn build_sweep_to_descriptor(
        &mut self,
        descriptor: &str,
        fee_rate_sat_per_vb: f64,
    ) -> Result<(Psbt, SweepTarget), OnlineError> {
        let fee_rate = fee_rate_from_sat_per_vb(fee_rate_sat_per_vb)?;
        let parsed = parse_public_descriptor(descriptor, self.network)?;
        let receive = if parsed.is_multipath() {
            parsed
                .into_single_descriptors()
                .map_err(|error| OnlineError::Descriptor(error.to_string()))?
                .into_iter()
                .next()
                .expect("a multipath descriptor has at least one path")
        } else {
            parsed
        };
        let definite = receive
            .at_derivation_index(0)
            .map_err(|error| OnlineError::Descriptor(error.to_string()))?;
        let address = definite.address(self.network).map_err(|error| {
            OnlineError::Descriptor(format!(
                "the destination descriptor has no address: {error}"
            ))
        })?;
        let script_pubkey = definite.script_pubkey();
        let psbt = self.build_sweep(
            script_pubkey.clone(),
            Some(&definite),
            fee_rate,
            SpendPath::Normal,
        )?;
        Ok((
            psbt,
            SweepTarget {
                script_pubkey,
                address,
            },
        ))
    }

    fn build_sweep(
        &mut self,
        destination: ScriptBuf,
        destination_descriptor: Option<&Descriptor<DefiniteDescriptorKey>>,
        fee_rate: FeeRate,
        path: SpendPath,
    ) -> Result<Psbt, OnlineError> {
        let coins = self.wallet.list_unspent().count();
        if coins == 0 {
            return Err(OnlineError::NothingToSweep);
        }
        if self.unspendable_coins().len() == coins {
            return Err(OnlineError::Build(
                "every coin of the vault is an unconfirmed incoming payment; wait for a \
                 confirmation or allow spending unconfirmed incoming coins"
                    .into(),
            ));
        }
        if self.wallet.is_mine(destination.clone()) {
            return Err(OnlineError::Build(
                "the sweep destination belongs to this vault itself".into(),
            ));
        }
        let (condition, min_confirmations) = self.condition_for(path)?;
        let unspendable = self.unspendable_coins();
        let mut builder = self.wallet.build_tx();
        builder
            .unspendable(unspendable)
            .drain_wallet()
            .drain_to(destination.clone())
            .fee_rate(fee_rate)
            .set_condition(condition)
            .add_global_xpubs();
        if let Some(confirmations) = min_confirmations {
            builder.exclude_below_confirmations(confirmations);
        }
        let mut psbt = builder.finish().map_err(map_create_error)?;
        if let Some(descriptor) = destination_descriptor {
            for index in 0..psbt.unsigned_tx.output.len() {
                if psbt.unsigned_tx.output[index].script_pubkey == destination {
                    psbt.update_output_with_descriptor(index, descriptor)
                        .map_err(|error| OnlineError::Build(error.to_string()))?;
                }
            }
        }
        self.persist()?;
        Ok(psbt)
    }

    /// Finalizes a fully signed PSBT through miniscript (the satisfier picks the signatures the
    /// descriptor needs) and extracts the network transaction. Refuses fee rates bitcoin's extractor
    /// calls absurd.
    pub fn finalize_psbt(&self, psbt: &Psbt) -> Result<Transaction, OnlineError> {
        let secp = Secp256k1::verification_only();
        let mut psbt = psbt.clone();
        psbt.finalize_mut(&secp).map_err(|errors| {
            OnlineError::Finalize(
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        psbt.extract_tx()
            .map_err(|error| OnlineError::Finalize(error.to_string()))
    }

    /// Records a finalized (signed) transaction of the vault as broadcast: unconfirmed, seen now.
    /// Balance and history include it at once; feed a block with [`Self::confirm_transaction`] when it
    /// confirms.
    pub fn apply_final_transaction(&mut self, tx: &Transaction) -> Result<Txid, OnlineError> {
        let txid = tx.compute_txid();
        if let Some(input) = tx
            .input
            .iter()
            .position(|input| input.witness.is_empty() && input.script_sig.is_empty())
        {
            return Err(OnlineError::NotFinal { txid, input });
        }
        self.add_transaction(tx.clone(), None)
    }
}

fn map_create_error(error: CreateTxError) -> OnlineError {
    match error {
        CreateTxError::CoinSelection(InsufficientFunds {
            needed, available, ..
        }) => OnlineError::InsufficientFunds {
            needed_sat: needed.to_sat(),
            available_sat: available.to_sat(),
        },
        CreateTxError::OutputBelowDustLimit(index) => OnlineError::Build(format!(
            "output {index} would be below the dust limit after paying the fee"
        )),
        CreateTxError::NoRecipients => OnlineError::NoRecipients,
        other => OnlineError::Build(other.to_string()),
    }
}
