//! The witness watching the chains with its own node (issue 14, item 4). Monero: every poll,
//! each Monero vault's newest state commitment is recomputed with the witness's own view-only
//! scan (the view key is in the vault definition) of its own monerod
//! (`airlock-witness chain --monero-daemon URL`; scans kept under `monero-scans/`): the outputs
//! received below the committed height must be the committed ones, and every key image committed
//! as spent must be spent on that node. Ethereum: every
//! poll, for each Ethereum vault of each log it follows in verifying mode (the newest version its
//! replay holds), it reads the account from its own node and halts the vault when what is on
//! chain is not what the log explains:
//! - the coordinator's newest state commitment (`airlock_core::commitment`) differs from the
//!   same leaves read from the witness's node at the committed block (a lying coordinator, or
//!   one fed by a lying node); the node must keep that block's state (an archive node, or a
//!   recent block);
//! - a Safe whose owners or threshold differ from the vault's members and threshold (an owner
//!   changed behind Airlock's back);
//! - a balance that went down with no finalized proposal of the vault left to explain it (funds
//!   moved by a key used outside Airlock). Each proposal finalized since the witness started
//!   watching explains one fall, whenever it comes (it is broadcast after it is finalized); a
//!   proposal that moves no ether (a token payment from a Safe) leaves its explanation unused,
//!   so it can hide one later fall: the rule is a tripwire for a vault's ether, not an audit.
//!
//! The node is the witness's own (`airlock-witness chain --ethereum-rpc URL`, stored in
//! `witness.db`), never the coordinator's. The last look at each vault is kept in `watched`
//! and replaced, with the halts it found, in one transaction. A node that cannot be read halts nothing (it is
//! logged); a halt is issued once per cause and delivered like every other.
//!
//! This module must never halt on a failure to read its node, and never read a node the
//! coordinator names.

use airlock_chain_ethereum_online::online::SafeClient;
use airlock_chain_ethereum_online::rpc::RpcClient;
use airlock_chain_ethereum_online::{EthAddress, EthVault};
use airlock_core::commitment::{StateCommitment, StateDiff};
use rusqlite::{OptionalExtension, params};

use crate::halts::NewHalt;
use crate::{Result, WitnessError, WitnessHome};

/// What the last poll saw of one vault (kept in `watched` in `witness.db`, so a restart keeps
/// its baseline): its balance (wei, decimal), how many of its proposals the log had finalized
/// then, and how many of those have not yet been matched to a fall of the balance (a proposal
/// finalized now is broadcast later: the fall it explains can come a poll or more after it).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Watched {
    pub origin: String,
    pub vault: String,
    pub balance: Option<String>,
    pub finalized: usize,
    pub unmatched: usize,
    /// When the witness last read the account (Unix seconds).
    pub looked_at: u64,
}

pub(crate) const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS watched (
        origin TEXT NOT NULL,
        vault TEXT NOT NULL,
        balance TEXT,
        finalized INTEGER NOT NULL,
        unmatched INTEGER NOT NULL,
        looked_at INTEGER NOT NULL,
        PRIMARY KEY (origin, vault)
    ) STRICT;";

fn row_watched(r: &rusqlite::Row<'_>) -> rusqlite::Result<Watched> {
    Ok(Watched {
        origin: r.get(0)?,
        vault: r.get(1)?,
        balance: r.get(2)?,
        finalized: r.get::<_, i64>(3)?.max(0) as usize,
        unmatched: r.get::<_, i64>(4)?.max(0) as usize,
        looked_at: r.get::<_, i64>(5)?.max(0) as u64,
    })
}

/// What one poll found.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Polled {
    pub vaults: usize,
    pub halts: usize,
    pub errors: Vec<String>,
}

impl WitnessHome {
    /// A node setting (`ethereum_rpc`, `monero_daemon`), if set.
    fn node_setting(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .connect()?
            .query_row("SELECT value FROM settings WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?)
    }

    fn set_node_setting(&self, name: &str, url: &str) -> Result<()> {
        self.connect()?.execute(
            "INSERT INTO settings (name, value) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            [name, url],
        )?;
        Ok(())
    }

    /// The witness's own Ethereum node, if set.
    pub fn ethereum_rpc(&self) -> Result<Option<String>> {
        self.node_setting("ethereum_rpc")
    }

    /// Sets the witness's own Ethereum node (checked by asking its chain id).
    pub fn set_ethereum_rpc(&self, url: &str) -> Result<u64> {
        let chain_id = RpcClient::new(url)
            .and_then(|rpc| rpc.chain_id())
            .map_err(|e| WitnessError::Setup(format!("--ethereum-rpc {url}: {e}")))?;
        self.set_node_setting("ethereum_rpc", url)?;
        Ok(chain_id)
    }

    /// What the last polls saw of every watched vault.
    pub fn watched(&self) -> Result<Vec<Watched>> {
        let conn = self.connect()?;
        let mut stmt = conn.prepare(
            "SELECT origin, vault, balance, finalized, unmatched, looked_at FROM watched ORDER BY origin, vault",
        )?;
        let rows = stmt.query_map([], row_watched)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The witness's own monerod, if set.
    pub fn monero_daemon(&self) -> Result<Option<String>> {
        self.node_setting("monero_daemon")
    }

    /// Sets the witness's own monerod (checked by asking its height).
    pub fn set_monero_daemon(&self, url: &str) -> Result<u64> {
        let height =
            airlock_chain_monero_online::online_chain::MoneroOnline::new(url, &self.monero_scans())
                .node()
                .and_then(|node| node.height())
                .map_err(|e| WitnessError::Setup(format!("--monero-daemon {url}: {e}")))?;
        self.set_node_setting("monero_daemon", url)?;
        Ok(height)
    }

    /// Where the witness keeps its own view-only scans of Monero vaults.
    fn monero_scans(&self) -> std::path::PathBuf {
        self.dir.join("monero-scans")
    }

    /// One poll of every followed log's vaults against the witness's own nodes (Ethereum,
    /// Monero); halts are stored and delivered to the followed service.
    pub fn watch_chains(&self, now: u64) -> Result<Polled> {
        let mut polled = Polled::default();
        if let Some(daemon) = self.monero_daemon()? {
            self.watch_monero(&daemon, now, &mut polled)?;
        }
        let Some(url) = self.ethereum_rpc()? else {
            return Ok(polled);
        };
        let rpc = RpcClient::new(&url).map_err(|e| WitnessError::Setup(format!("{url}: {e}")))?;
        let followed: Vec<Followed> = self
            .followers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(origin, f)| {
                let vaults = f
                    .replayer
                    .latest_vaults()
                    .filter(|v| v.chain == airlock_chain_ethereum_online::CHAIN)
                    .map(|v| {
                        (
                            v.clone(),
                            f.replayer.finalized_in(&v.vault_id),
                            f.replayer.latest_commitment(&v.vault_id).cloned(),
                        )
                    })
                    .collect();
                (origin.clone(), vaults, f.replayer.size())
            })
            .collect();
        let conn = self.connect()?;
        for (origin, vaults, size) in followed {
            let mut halted = false;
            for (vault, finalized, commitment) in vaults {
                polled.vaults += 1;
                let recomputed = commitment.as_ref().map(|c| recompute(&rpc, &vault, c));
                let found = match look(&rpc, &vault) {
                    Ok(found) => found,
                    Err(e) => {
                        tracing::warn!(vault = %vault.vault_id, error = %e, "cannot read the vault's account");
                        polled.errors.push(format!("{}: {e}", vault.vault_id));
                        continue;
                    }
                };
                // The look before, the new one and any halt it found are one transaction (a
                // second process polling the same home fails its write and tries next poll).
                let tx = conn.unchecked_transaction()?;
                let before = tx
                    .query_row(
                        "SELECT origin, vault, balance, finalized, unmatched, looked_at FROM watched
                         WHERE origin = ?1 AND vault = ?2",
                        params![origin, vault.vault_id],
                        row_watched,
                    )
                    .optional()?
                    .unwrap_or_default();
                let mut causes = Vec::new();
                if let Some(mismatch) = &found.mismatch {
                    causes.push((
                        format!("safe:{}:{mismatch}", vault.version),
                        mismatch.clone(),
                    ));
                }
                match recomputed {
                    Some(Ok(Some(cause))) => causes.push(cause),
                    Some(Err(e)) => {
                        tracing::warn!(vault = %vault.vault_id, error = %e, "cannot recompute the state commitment");
                        polled.errors.push(format!("{}: {e}", vault.vault_id));
                    }
                    _ => {}
                }
                // The first look is the baseline: what was finalized before it is history.
                let mut unmatched = if before.balance.is_none() {
                    0
                } else {
                    before.unmatched + finalized.saturating_sub(before.finalized)
                };
                let fell = matches!(
                    (&before.balance, &found.balance),
                    (Some(was), Some(is)) if matches!(
                        (was.parse::<u128>(), is.parse::<u128>()),
                        (Ok(w), Ok(i)) if i < w
                    )
                );
                if fell && unmatched > 0 {
                    unmatched -= 1;
                } else if fell && let (Some(was), Some(is)) = (&before.balance, &found.balance) {
                    causes.push((
                        format!("balance:{was}:{is}:{finalized}"),
                        format!(
                            "the balance of {} fell from {was} to {is} wei and no finalized proposal of vault {:?} is left to explain it: funds moved outside Airlock",
                            found.address, vault.vault_id
                        ),
                    ));
                }
                tx.execute(
                    "INSERT INTO watched (origin, vault, balance, finalized, unmatched, looked_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (origin, vault) DO UPDATE SET balance = excluded.balance,
                       finalized = excluded.finalized, unmatched = excluded.unmatched,
                       looked_at = excluded.looked_at",
                    params![
                        origin,
                        vault.vault_id,
                        found.balance,
                        finalized as i64,
                        unmatched as i64,
                        now.min(i64::MAX as u64) as i64
                    ],
                )?;
                for (cause, detail) in causes {
                    self.halt_for_chain(
                        &tx,
                        (&origin, size),
                        &vault.vault_id,
                        (&cause, &detail),
                        now,
                    )?;
                    polled.halts += 1;
                    halted = true;
                }
                tx.commit()?;
            }
            if halted {
                self.deliver_to_followed(&origin)?;
            }
        }
        Ok(polled)
    }
}

impl WitnessHome {
    /// Issues a `chain` halt of `vault` in log `origin` (replayed to `size`) for `cause`.
    fn halt_for_chain(
        &self,
        conn: &rusqlite::Connection,
        (origin, size): (&str, u64),
        vault: &str,
        (cause, detail): (&str, &str),
        now: u64,
    ) -> Result<()> {
        self.issue_halt(
            conn,
            NewHalt {
                origin,
                vault_id: vault,
                reason: "chain",
                detail,
                log_size: size,
                cause,
            },
            now,
        )?;
        Ok(())
    }

    /// Delivers the pending halts of `origin` to the service it is followed from, if any.
    fn deliver_to_followed(&self, origin: &str) -> Result<()> {
        if let Some(url) = self.log(origin)?.and_then(|l| l.verify_url) {
            self.deliver_halts(origin, &url)?;
        }
        Ok(())
    }

    /// The newest version of every vault of `chain` in each followed log, with its newest state
    /// commitment, and the size replayed.
    fn followed_commitments(&self, chain: &str) -> Vec<FollowedCommitments> {
        self.followers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(origin, f)| {
                let vaults = f
                    .replayer
                    .latest_vaults()
                    .filter(|v| v.chain == chain)
                    .map(|v| {
                        (
                            v.clone(),
                            f.replayer.latest_commitment(&v.vault_id).cloned(),
                        )
                    })
                    .collect();
                (origin.clone(), vaults, f.replayer.size())
            })
            .collect()
    }

    /// Recomputes each Monero vault's newest commitment with the witness's own view-only scan
    /// (the view key is in the vault definition) of its own monerod.
    fn watch_monero(&self, daemon: &str, now: u64, polled: &mut Polled) -> Result<()> {
        let chain = airlock_chain_monero_online::online_chain::MoneroOnline::new(
            daemon,
            &self.monero_scans(),
        );
        for (origin, vaults, size) in self.followed_commitments(airlock_chain_monero_online::CHAIN)
        {
            let mut halted = false;
            for (vault, commitment) in vaults {
                polled.vaults += 1;
                let Some(committed) = commitment else {
                    continue;
                };
                let cause = match recompute_monero(&chain, &vault, &committed) {
                    Ok(cause) => cause,
                    Err(e) => {
                        tracing::warn!(vault = %vault.vault_id, error = %e, "cannot recompute the state commitment");
                        polled.errors.push(format!("{}: {e}", vault.vault_id));
                        continue;
                    }
                };
                if let Some((cause, detail)) = cause {
                    let conn = self.connect()?;
                    self.halt_for_chain(
                        &conn,
                        (&origin, size),
                        &vault.vault_id,
                        (&cause, &detail),
                        now,
                    )?;
                    polled.halts += 1;
                    halted = true;
                }
            }
            if halted {
                self.deliver_to_followed(&origin)?;
            }
        }
        Ok(())
    }
}

/// A followed log's origin, its vaults of one chain with their newest commitments, and the size
/// replayed.
type FollowedCommitments = (
    String,
    Vec<(airlock_core::VaultDefinition, Option<StateCommitment>)>,
    u64,
);

/// Scans the vault with the witness's own monerod up to (at least) the committed height and
/// compares the outputs received below it, and checks that every key image the commitment says
/// is spent is spent on the witness's node: the (cause, detail) of a halt when they differ.
/// `None` also while the witness's node is behind the commitment.
fn recompute_monero(
    chain: &airlock_chain_monero_online::online_chain::MoneroOnline,
    vault: &airlock_core::VaultDefinition,
    committed: &StateCommitment,
) -> Result<Option<(String, String)>, String> {
    let spec = airlock_chain_monero_online::vault_spec::MoneroVault::from_vault(vault)
        .map_err(|e| e.to_string())?;
    let (_, state) = chain.sync(&spec).map_err(|e| e.to_string())?;
    if state.scanned_height() < committed.height {
        return Ok(None);
    }
    let received = state.state_leaves_below(committed.height);
    let diff = StateDiff::of_leaves(
        committed.leaves.iter().filter(|l| l.starts_with("output ")),
        received.iter().filter(|l| l.starts_with("output ")),
    );
    let mut problems = Vec::new();
    if diff != StateDiff::default() {
        problems.push(diff.contradiction());
    }
    let claimed: Vec<(String, [u8; 32])> = committed
        .facts("spent")
        .filter_map(|f| {
            let image = f.rsplit(' ').next()?;
            let bytes: [u8; 32] = hex::decode(image).ok()?.try_into().ok()?;
            Some((f.to_owned(), bytes))
        })
        .collect();
    if !claimed.is_empty() {
        let images: Vec<[u8; 32]> = claimed.iter().map(|(_, k)| *k).collect();
        let spent = chain
            .node()
            .and_then(|node| node.key_images_spent(&images))
            .map_err(|e| e.to_string())?;
        let unspent: Vec<&str> = claimed
            .iter()
            .zip(spent)
            .filter(|(_, s)| !s)
            .map(|((f, _), _)| f.as_str())
            .collect();
        if !unspent.is_empty() {
            problems.push(format!(
                "committed as spent but unspent on chain: [{}]",
                unspent.join("; ")
            ));
        }
    }
    if problems.is_empty() {
        return Ok(None);
    }
    Ok(Some((
        format!("commitment:{}", hex::encode(committed.root)),
        format!(
            "the coordinator's state commitment of vault {:?} at height {} does not match the witness's own scan of its own monerod: {}",
            vault.vault_id,
            committed.height,
            problems.join("; ")
        ),
    )))
}

/// A followed log's origin, its Ethereum vaults (each with how many of its proposals are
/// finalized and its newest state commitment) and the size replayed.
type Followed = (
    String,
    Vec<(
        airlock_core::VaultDefinition,
        usize,
        Option<StateCommitment>,
    )>,
    u64,
);

/// Reads the vault's account from the witness's own node at the block of the coordinator's
/// newest commitment and compares: the (cause, detail) of a halt when they differ.
fn recompute(
    rpc: &RpcClient,
    vault: &airlock_core::VaultDefinition,
    committed: &StateCommitment,
) -> Result<Option<(String, String)>, String> {
    let spec = EthVault::from_vault(vault).map_err(|e| e.to_string())?;
    let (block, leaves) =
        airlock_chain_ethereum_online::online::state_leaves(rpc, &spec, committed.height)
            .map_err(|e| e.to_string())?;
    let ours = StateCommitment::new(
        &vault.vault_id,
        committed.vault_version,
        &committed.chain,
        committed.height,
        &block,
        leaves,
        committed.created,
    )
    .map_err(|e| e.to_string())?;
    if ours.root == committed.root && (committed.block.is_empty() || committed.block == block) {
        return Ok(None);
    }
    let diff = StateDiff::between(committed, &ours);
    let block_note = if committed.block.is_empty() || committed.block == block {
        String::new()
    } else {
        format!(
            " (its block {} is {block} on the witness's node)",
            committed.block
        )
    };
    Ok(Some((
        format!("commitment:{}", hex::encode(committed.root)),
        format!(
            "the coordinator's state commitment of vault {:?} at block {}{block_note} does not match the witness's own node: {}",
            vault.vault_id,
            committed.height,
            diff.contradiction()
        ),
    )))
}

/// What the witness's node says of a vault's account.
struct Found {
    address: String,
    balance: Option<String>,
    /// How the Safe differs from the vault, when it does.
    mismatch: Option<String>,
}

fn look(rpc: &RpcClient, vault: &airlock_core::VaultDefinition) -> Result<Found, String> {
    let spec = EthVault::from_vault(vault).map_err(|e| e.to_string())?;
    let node = rpc.chain_id().map_err(|e| e.to_string())?;
    if node != spec.chain_id {
        return Err(format!(
            "the witness's node is chain {node}, the vault is chain {}",
            spec.chain_id
        ));
    }
    let address = spec.address();
    let balance = rpc
        .balance(address.0)
        .map_err(|e| e.to_string())?
        .to_string();
    let mismatch = match spec.safe_owners() {
        None => None,
        Some((owners, threshold)) => {
            let safe = SafeClient::new(rpc, address.0);
            let mut onchain: Vec<String> = safe
                .owners()
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|a| EthAddress(a).to_string())
                .collect();
            let mut ours: Vec<String> = owners.iter().map(|o| o.to_string()).collect();
            onchain.sort();
            ours.sort();
            let t = safe.threshold().map_err(|e| e.to_string())?.to_string();
            if onchain != ours {
                Some(format!(
                    "the Safe {address} has owners [{}] on chain, vault {:?} v{} lists [{}]",
                    onchain.join(", "),
                    vault.vault_id,
                    vault.version,
                    ours.join(", ")
                ))
            } else if t != threshold.to_string() {
                Some(format!(
                    "the Safe {address} has threshold {t} on chain, vault {:?} v{} says {threshold}",
                    vault.vault_id, vault.version
                ))
            } else {
                None
            }
        }
    };
    Ok(Found {
        address: address.to_string(),
        balance: Some(balance),
        mismatch,
    })
}
