//! Bitcoin for Airlock: descriptor vaults, PSBT review and signing offline (default build); watch-only
//! sync, PSBT building, finalization and broadcast behind the `online` feature.

#[cfg(feature = "online")]
pub mod online;
