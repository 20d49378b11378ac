//! `airlock-signer qr`: show a file (an approval, a public key, a PSBT) as QR codes and read one
//! back from images. The logic lives in `airlock_qr::cli` (no network code), shared with the
//! coordinator.

use airlock_cli_support::{CliError, CliResult};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum QrCommand {
    /// Show an artifact or PSBT as QR: terminal, PNG frames, animated GIF or an HTML page.
    Show(airlock_qr::cli::ShowArgs),
    /// Reassemble a file from QR images (files or directories, any order, with losses).
    Read(airlock_qr::cli::ReadArgs),
}

pub fn run(json: bool, cmd: QrCommand) -> CliResult {
    match cmd {
        QrCommand::Show(a) => airlock_qr::cli::show(&a, json).map_err(CliError::new),
        QrCommand::Read(a) => airlock_qr::cli::read(&a, json).map_err(CliError::new),
    }
}
