//! Which chains this coordinator can drive, and how it reaches each chain's node.
//!
//! Settings live in `chains.json` in the coordinator's home (written by `airlock chain …`):
//! the Ethereum node's JSON-RPC URL and the file holding the relayer key, a coordinator-held
//! key that only pays gas for Safe `execTransaction` calls (mode 0600, like the identity key;
//! it is never a vault owner, so losing it loses gas money, not vault funds).
//!
//! Vault versions are checked here when drafted and activated ([`check_vault`]): the account's
//! keys must be exactly the members' chain keys (the chain's own `check_account`, which every
//! signer runs too), and a Safe's owners and threshold on chain must match.
//!
//! This module must never hold a vault owner's key, and never reach a node other than the one
//! configured.

use std::path::{Path, PathBuf};

use airlock_core::VaultDefinition;
use airlock_core::chain::{ChainOnline, ChainReview, DecisionOnly};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{CoordinatorError, Result};

/// The file in the coordinator's home.
pub const CHAINS_FILE: &str = "chains.json";

/// Chains this build knows.
pub const AVAILABLE: &[&str] = &[
    DecisionOnly::NAME,
    airlock_chain_ethereum::CHAIN,
    airlock_chain_bitcoin::CHAIN,
    airlock_chain_monero::CHAIN,
];

/// Bitcoin settings: the default fee rate of proposals and the Electrum server used to sync and
/// broadcast (none: coins and confirmations are fed by hand, transactions broadcast elsewhere).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitcoinSettings {
    /// sat/vB for proposals built by `airlock propose`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee_rate: Option<f64>,
    /// `tcp://host:port` or `ssl://host:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub electrum: Option<String>,
}

/// Ethereum node settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EthereumSettings {
    /// The node's JSON-RPC URL (`http://host:port`).
    pub rpc: String,
    /// A file holding the relayer's 32-byte secret as hex (mode 0600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relayer_key_file: Option<PathBuf>,
}

/// What `chains.json` holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ethereum: Option<EthereumSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitcoin: Option<BitcoinSettings>,
    /// The coordinator home these settings were read from (chain state lives under it).
    #[serde(skip)]
    pub home: PathBuf,
    /// monerod and the vaults' scan states (`airlock chain monero`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monero: Option<airlock_chain_monero_online::online_chain::MoneroSettings>,
}

impl ChainSettings {
    /// Reads `chains.json` from a coordinator home (absent: no chain configured).
    pub fn load(home: &Path) -> Result<ChainSettings> {
        let path = home.join(CHAINS_FILE);
        let mut settings = if path.exists() {
            let bytes = airlock_transport::read_bounded(&path, 64 * 1024)
                .map_err(|e| CoordinatorError::Setup(format!("{}: {e}", path.display())))?;
            serde_json::from_slice(&bytes).map_err(|e| {
                CoordinatorError::Setup(format!("{} is damaged: {e}", path.display()))
            })?
        } else {
            ChainSettings::default()
        };
        settings.home = home.to_owned();
        Ok(settings)
    }

    /// Writes `chains.json` atomically.
    pub fn save(&self, home: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("settings serialize");
        airlock_transport::write_atomic(&home.join(CHAINS_FILE), &json)
            .map_err(|e| CoordinatorError::Setup(e.to_string()))
    }
}

/// Reads a relayer key file: 64 hex digits (an optional `0x` and surrounding whitespace allowed).
pub fn read_relayer_key(path: &Path) -> Result<airlock_chain_ethereum::EthKey> {
    let text =
        Zeroizing::new(airlock_transport::read_bounded(path, 1024).map_err(|e| {
            CoordinatorError::Setup(format!("relayer key {}: {e}", path.display()))
        })?);
    let text = std::str::from_utf8(&text)
        .map_err(|_| CoordinatorError::Setup(format!("relayer key {}: not text", path.display())))?
        .trim();
    let hex_digits = text.strip_prefix("0x").unwrap_or(text);
    let mut secret = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(hex_digits, secret.as_mut()).map_err(|_| {
        CoordinatorError::Setup(format!(
            "relayer key {}: expected 64 hex digits",
            path.display()
        ))
    })?;
    airlock_chain_ethereum::EthKey::from_bytes(&secret)
        .map_err(|e| CoordinatorError::Setup(format!("relayer key {}: {e}", path.display())))
}

/// The Ethereum chain as configured.
pub fn ethereum(
    settings: &ChainSettings,
) -> Result<airlock_chain_ethereum_online::chain_online::EthereumOnline> {
    let eth = settings.ethereum.as_ref().ok_or_else(|| {
        CoordinatorError::Setup(
            "no Ethereum node configured: run `airlock chain ethereum --rpc http://HOST:PORT`"
                .into(),
        )
    })?;
    let relayer = eth
        .relayer_key_file
        .as_deref()
        .map(read_relayer_key)
        .transpose()?;
    Ok(airlock_chain_ethereum_online::chain_online::EthereumOnline::new(&eth.rpc, relayer)?)
}

/// The Bitcoin chain as configured: wallets under `<home>/bitcoin/`.
pub fn bitcoin(settings: &ChainSettings) -> Result<airlock_chain_bitcoin_online::BitcoinOnline> {
    let btc = settings.bitcoin.clone().unwrap_or_default();
    let source = btc
        .electrum
        .as_deref()
        .map(airlock_chain_bitcoin_online::SyncSource::electrum)
        .transpose()
        .map_err(|e| CoordinatorError::Setup(format!("bitcoin: {e}")))?;
    Ok(airlock_chain_bitcoin_online::BitcoinOnline::new(
        &settings.home.join("bitcoin"),
        btc.fee_rate
            .unwrap_or(airlock_chain_bitcoin_online::chain::DEFAULT_FEE_RATE),
        source,
    ))
}

/// An online chain implementation by name, with its node settings.
pub fn chain_online(name: &str, settings: &ChainSettings) -> Result<Box<dyn ChainOnline>> {
    match name {
        DecisionOnly::NAME => Ok(Box::new(DecisionOnly)),
        airlock_chain_ethereum::CHAIN => Ok(Box::new(ethereum(settings)?)),
        airlock_chain_bitcoin::CHAIN => Ok(Box::new(bitcoin(settings)?)),
        airlock_chain_monero::CHAIN => Ok(Box::new(
            settings.monero.as_ref().map(|m| m.chain()).ok_or_else(|| {
                CoordinatorError::Setup(
                    "no monerod configured: run `airlock chain monero --daemon http://HOST:PORT`"
                        .into(),
                )
            })?,
        )),
        other => Err(unavailable(other)),
    }
}

fn unavailable(name: &str) -> CoordinatorError {
    CoordinatorError::Setup(format!(
        "chain {name:?} is not available in this build (available: {})",
        AVAILABLE.join(", ")
    ))
}

/// The offline half of a chain (what a signer runs), for checks that need no node.
fn chain_review(name: &str) -> Result<Box<dyn ChainReview>> {
    match name {
        DecisionOnly::NAME => Ok(Box::new(DecisionOnly)),
        airlock_chain_ethereum::CHAIN => Ok(Box::new(airlock_chain_ethereum::Ethereum)),
        airlock_chain_bitcoin::CHAIN => Ok(Box::new(airlock_chain_bitcoin::Bitcoin::default())),
        airlock_chain_monero::CHAIN => Ok(Box::new(airlock_chain_monero::MoneroVaultReview)),
        other => Err(unavailable(other)),
    }
}

/// Checks a vault definition's chain-specific parts without reaching any node: network and
/// account, and that the account's keys are exactly the members' listed chain keys
/// (`ChainReview::check_account`, the check every signer runs too). Returns the warnings every
/// signer will be shown (exceptions the definition allows explicitly).
pub fn validate_vault(def: &VaultDefinition) -> Result<Vec<String>> {
    let invalid = |e: airlock_core::chain::ChainError| {
        CoordinatorError::Core(airlock_core::CoreError::Invalid(e.to_string()))
    };
    chain_review(&def.chain)?
        .check_account(def)
        .map_err(invalid)
}

/// [`validate_vault`], then the chain's node check where the account has state on chain: a Safe
/// vault's owners and threshold must be the members' addresses and the account's threshold on
/// the configured node (`ChainOnline::check_vault`). Run when a version is drafted and when it
/// is activated.
pub fn check_vault(def: &VaultDefinition, settings: &ChainSettings) -> Result<Vec<String>> {
    let warnings = validate_vault(def)?;
    if def.chain == airlock_chain_ethereum::CHAIN
        && airlock_chain_ethereum::EthVault::from_vault(def)
            .is_ok_and(|v| v.safe_owners().is_some())
    {
        let chain = ethereum(settings).map_err(|e| {
            CoordinatorError::Setup(format!(
                "vault {:?} is a Safe: its owners and threshold are checked against the node, and {e}",
                def.vault_id
            ))
        })?;
        chain.check_vault(def)?;
    }
    Ok(warnings)
}

/// Whether a vault's chain keeps synced state in this home (Bitcoin wallets, Monero scan
/// states): only those have anything for [`sync_vault`] to do.
pub fn keeps_synced_state(def: &VaultDefinition) -> bool {
    matches!(
        def.chain.as_str(),
        airlock_chain_bitcoin::CHAIN | airlock_chain_monero::CHAIN
    )
}

/// Whether a vault's chain state is committed to the log at each sync (Bitcoin, Monero and
/// Ethereum vaults; decision-only vaults have no chain state).
pub fn commits_state(def: &VaultDefinition) -> bool {
    keeps_synced_state(def) || def.chain == airlock_chain_ethereum::CHAIN
}

/// A vault's on-chain state as this home sees it, as state-commitment leaves
/// (`airlock_core::commitment`): the Bitcoin wallet's UTXO set at its synced tip, the Monero
/// scan's outputs and seen spends, or the Ethereum account read from the node at its latest
/// block. Returns (height, block hash hex, leaves); `None` for a vault never synced here and
/// for chains without state. Reads the node only for Ethereum.
pub fn chain_state(
    def: &VaultDefinition,
    settings: &ChainSettings,
) -> Result<Option<(u64, String, Vec<String>)>> {
    match def.chain.as_str() {
        airlock_chain_bitcoin::CHAIN => {
            let chain = bitcoin(settings)?;
            if !chain.wallet_path(def)?.is_file() {
                return Ok(None);
            }
            let (height, block, leaves) = chain.wallet(def)?.state_leaves();
            Ok(Some((u64::from(height), block, leaves)))
        }
        airlock_chain_monero::CHAIN => {
            let Some(monero) = settings.monero.as_ref() else {
                return Ok(None);
            };
            let spec = airlock_chain_monero::MoneroVault::from_vault(def)
                .map_err(airlock_core::chain::ChainError::from)?;
            let Some(state) = monero
                .chain()
                .load_state(&spec)
                .map_err(|e| CoordinatorError::Setup(format!("monero: {e}")))?
            else {
                return Ok(None);
            };
            Ok(Some((
                state.scanned_height(),
                state.tip_hash().map(hex::encode).unwrap_or_default(),
                state.state_leaves(),
            )))
        }
        airlock_chain_ethereum::CHAIN => {
            let spec = airlock_chain_ethereum::EthVault::from_vault(def)
                .map_err(airlock_core::chain::ChainError::from)?;
            let chain = ethereum(settings)?;
            let rpc = chain.rpc();
            let block = rpc
                .block_number()
                .map_err(|e| CoordinatorError::Setup(format!("ethereum: {e}")))?;
            let (hash, leaves) =
                airlock_chain_ethereum_online::online::state_leaves(rpc, &spec, block)?;
            Ok(Some((block, hash, leaves)))
        }
        _ => Ok(None),
    }
}

/// Brings a vault's synced state up to its node's tip, as `airlock btc sync` / `airlock xmr sync`
/// do, and returns [`synced_state`] afterwards with a `summary` of what the sync found. Chains
/// without synced state are refused (their funds are read live from the node). Writes chain state
/// under the home only, never the log; callers serialize syncs of one home (the CLI by the home's
/// lock, `airlock serve` by one sync at a time).
pub fn sync_vault(def: &VaultDefinition, settings: &ChainSettings) -> Result<serde_json::Value> {
    let summary = match def.chain.as_str() {
        airlock_chain_bitcoin::CHAIN => {
            let chain = bitcoin(settings)?;
            let source = chain.source().cloned().ok_or_else(|| {
                CoordinatorError::Setup(
                    "no Electrum server configured: `airlock chain bitcoin --electrum URL`".into(),
                )
            })?;
            let summary = chain
                .wallet(def)?
                .sync(
                    &source,
                    true,
                    airlock_chain_bitcoin_online::DEFAULT_STOP_GAP,
                )
                .map_err(|e| CoordinatorError::Setup(format!("bitcoin: {e}")))?;
            serde_json::json!(format!("{summary:?}"))
        }
        airlock_chain_monero::CHAIN => {
            let monero = settings.monero.as_ref().ok_or_else(|| {
                CoordinatorError::Setup(
                    "no monerod configured: `airlock chain monero --daemon URL`".into(),
                )
            })?;
            let spec = airlock_chain_monero::MoneroVault::from_vault(def)
                .map_err(airlock_core::chain::ChainError::from)?;
            let (report, _) = monero
                .chain()
                .sync(&spec)
                .map_err(|e| CoordinatorError::Setup(format!("monero: {e}")))?;
            serde_json::json!({
                "scanned_from": report.scanned_from,
                "blocks_scanned": report.blocks_scanned,
                "new_outputs": report.new_outputs,
                "new_spends": report.new_spends,
                "reorg_fork_height": report.reorg_fork_height,
                "rolled_back_outputs": report.rolled_back_outputs,
            })
        }
        airlock_chain_ethereum::CHAIN => {
            // Funds are read live from the node when a payment is built; a sync only reads the
            // account for the state commitment.
            serde_json::json!("read live from the node")
        }
        other => {
            return Err(CoordinatorError::Refused(format!(
                "vault {:?} is on {other:?}, which has no chain state: there is nothing to sync",
                def.vault_id
            )));
        }
    };
    let mut state = synced_state(def, settings)?.unwrap_or_else(|| serde_json::json!({}));
    state["summary"] = summary;
    Ok(state)
}

/// What this home last learned of a vault's funds by syncing (`airlock btc sync`, `airlock xmr
/// sync`), read from its local state without asking any node: the chain height synced to, the
/// balance in base units (as decimal strings), and when the state was last written (`synced_at`,
/// Unix seconds). `None` for a vault never synced here, and for chains whose state is read live
/// from the node when a payment is built (Ethereum, decision-only vaults).
pub fn synced_state(
    def: &VaultDefinition,
    settings: &ChainSettings,
) -> Result<Option<serde_json::Value>> {
    let written_at = |path: &Path| {
        std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
    };
    match def.chain.as_str() {
        airlock_chain_monero::CHAIN => {
            let Some(monero) = settings.monero.as_ref() else {
                return Ok(None);
            };
            let chain = monero.chain();
            let spec = airlock_chain_monero::MoneroVault::from_vault(def)
                .map_err(airlock_core::chain::ChainError::from)?;
            let Some(state) = chain
                .load_state(&spec)
                .map_err(|e| CoordinatorError::Setup(format!("monero: {e}")))?
            else {
                return Ok(None);
            };
            let b = airlock_chain_monero_online::online_chain::MoneroBalance::of(&state);
            Ok(Some(serde_json::json!({
                "chain": def.chain,
                "height": b.chain_height,
                "balance": b.total.to_string(),
                "unlocked": b.unlocked.to_string(),
                "unverified": b.unverified.to_string(),
                "synced_at": written_at(&chain.state_path(&spec)),
            })))
        }
        airlock_chain_bitcoin::CHAIN => {
            let chain = bitcoin(settings)?;
            let path = chain.wallet_path(def)?;
            if !path.is_file() {
                return Ok(None);
            }
            let wallet = chain.wallet(def)?;
            let b = wallet.balance();
            Ok(Some(serde_json::json!({
                "chain": def.chain,
                "height": wallet.tip_height(),
                "balance": b.total().to_sat().to_string(),
                "confirmed": b.confirmed.to_sat().to_string(),
                "unconfirmed": b.unconfirmed().to_sat().to_string(),
                "synced_at": written_at(&path),
            })))
        }
        _ => Ok(None),
    }
}
