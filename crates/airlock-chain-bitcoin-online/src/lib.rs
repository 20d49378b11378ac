//! The coordinator's watch-only half of Bitcoin vaults: its own crate, so that no build of the
//! signer (which links only `airlock-chain-bitcoin`) can pull in BDK, Electrum or SQLite.
//!
//! - [`WatchOnlyVault`]: a BDK wallet over the vault's public multipath descriptor (`<0;1>/*`),
//!   persisted in one SQLite file (transactional writes). Receive addresses, balance, UTXOs, history.
//! - Coins arrive by hand ([`WatchOnlyVault::add_raw_transaction`], as Electrum's `addtransaction`,
//!   confirmed at a given block or unconfirmed; [`WatchOnlyVault::record_block`] moves the tip) or
//!   from a chain source ([`SyncSource`], Electrum).
//! - Proposals: [`WatchOnlyVault::build_payment`] and the sweeps build unsigned PSBTs (v0) carrying
//!   global xpubs, BIP-32 derivations on inputs and change, witness scripts, both UTXO fields for
//!   segwit v0 inputs and BIP-371 taproot fields; [`SpendPath::Recovery`] builds the timelocked
//!   emergency spend of a miniscript vault; [`psbt_to_base64`], [`psbt_to_binary`] and
//!   [`write_psbt_file`] export them.
//! - After signing: [`WatchOnlyVault::finalize_psbt`], then
//!   [`WatchOnlyVault::apply_final_transaction`] records it as unconfirmed until a block is fed.
//!
//! This module must never hold or accept a private key (descriptors with secrets are refused) and
//! never signs; it is never compiled into the signer.

pub mod chain;
mod error;
pub mod frost_pool;
mod store;
mod sync;
mod vault;

use std::io::Write;
use std::path::Path;

pub use bdk_wallet::KeychainKind;
use bdk_wallet::bitcoin::Psbt;

pub use chain::BitcoinOnline;
pub use error::OnlineError;
pub use store::{SqliteVaultStore, StoreError};
pub use sync::{DEFAULT_STOP_GAP, ElectrumEndpoint, SyncSource, SyncSummary};
pub use vault::{
    BlockConfirmation, HistoryEntry, MAX_FEE_RATE_SAT_PER_VB, MIN_FEE_RATE_SAT_PER_VB,
    RecoveryTimelocks, SpendPath, SweepTarget, TxStatus, VaultAddress, VaultBalance, VaultUtxo,
    WatchOnlyVault, fee_rate_from_sat_per_vb, recovery_timelocks, split_vault_descriptor,
    stand_in_block_hash,
};

/// A PSBT as base64 text (what Sparrow, Electrum and Bitcoin Core's RPCs exchange).
pub fn psbt_to_base64(psbt: &Psbt) -> String {
    psbt.to_string()
}

/// A PSBT as binary (`.psbt` file contents, BIP-174 serialization).
pub fn psbt_to_binary(psbt: &Psbt) -> Vec<u8> {
    psbt.serialize()
}

/// Writes a binary `.psbt` file atomically: temporary file beside it, fsync, rename, fsync of the
/// directory. A crash leaves either no file or the whole file.
pub fn write_psbt_file(path: &Path, psbt: &Psbt) -> std::io::Result<()> {
    let bytes = psbt_to_binary(psbt);
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let file_name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} has no file name", path.display()),
        )
    })?;
    let mut temporary_name = std::ffi::OsString::from(".");
    temporary_name.push(file_name);
    temporary_name.push(format!(".tmp-{}", std::process::id()));
    let temporary = directory.join(temporary_name);
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, path)?;
        std::fs::File::open(directory)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}
