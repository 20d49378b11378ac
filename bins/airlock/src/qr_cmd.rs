//! `airlock qr`: show a file as (animated) QR codes, read one back from images, and measure the
//! QR encodings (`qr bench`). The logic lives in `airlock_qr::cli`, shared with the signer.

#[path = "qr_bench.rs"]
mod qr_bench;

use airlock_cli_support::{CliError, CliResult};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum QrCommand {
    /// Show an artifact or PSBT as QR: terminal, PNG frames, animated GIF or an HTML page.
    Show(airlock_qr::cli::ShowArgs),
    /// Reassemble a file from QR images (files or directories, any order, with losses).
    Read(airlock_qr::cli::ReadArgs),
    /// Frames needed and time per frame for UR, BBQr and Airlock-RaptorQ (100-input PSBT).
    Bench(qr_bench::QrBenchArgs),
}

pub fn run(json: bool, cmd: QrCommand) -> CliResult {
    match cmd {
        QrCommand::Show(a) => airlock_qr::cli::show(&a, json).map_err(CliError::new),
        QrCommand::Read(a) => airlock_qr::cli::read(&a, json).map_err(CliError::new),
        QrCommand::Bench(a) => qr_bench::run(a, json),
    }
}
