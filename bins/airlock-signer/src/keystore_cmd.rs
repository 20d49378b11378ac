//! `airlock-signer keystore`: Ethereum keystore v3 import and export, and the unlock benchmark. A
//! thin layer over `airlock_custody::eth_keystore` and `airlock_custody::keystore`.
//!
//! Imported keys are re-sealed in Airlock's own keystore format under the signer's passphrase (the
//! one that unlocks its identity key, checked first) with the identity file's KDF parameters.
//! Every file is written atomically with mode 0600 and never over an existing file. No secret and
//! no password is printed or put in an error.

use std::path::{Path, PathBuf};
use std::time::Instant;

use airlock_cli_support::{CliError, CliResult, passphrase, print_json};
use airlock_custody::eth_keystore::{self, EthKdf, EthSecretKey};
use airlock_custody::{Passphrase, keystore};
use airlock_signer_app::SignerHome;
use clap::{Subcommand, ValueEnum};
use serde_json::json;

/// The signer's identity file inside its home (see `airlock-signer-app`).
const IDENTITY_FILE: &str = "identity.key";
/// Where imported keys go by default: `<home>/keys/ethereum-0x<address>.key`.

#[derive(Clone, Copy, ValueEnum)]
pub enum ExportKdf {
    /// scrypt n=2^18, r=8, p=1 (geth's standard, 256 MiB).
    Standard,
    /// scrypt n=2^12, r=8, p=6 (geth's light parameters).
    Light,
    /// scrypt n=2^10, r=8, p=1: for test suites only.
    InsecureFast,
}

#[derive(Subcommand)]
pub enum KeystoreCommand {
    /// Decrypt an Ethereum keystore v3 file and re-seal its private key in Airlock's keystore
    /// format under the signer's passphrase; prints the Ethereum address.
    #[command(name = "import-eth")]
    ImportEth {
        /// The keystore v3 JSON file.
        file: PathBuf,
        /// File holding the v3 file's password (one trailing newline ignored).
        #[arg(long)]
        password_file: PathBuf,
        /// Where to write the sealed key (default: <home>/keys/ethereum-0x<address>.key).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Export a sealed Ethereum key (from `import-eth`) as a keystore v3 file.
    #[command(name = "export-eth")]
    ExportEth {
        /// The sealed key file.
        sealed: PathBuf,
        /// File holding the password for the new v3 file.
        #[arg(long)]
        password_file: PathBuf,
        /// The v3 JSON file to write.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "standard")]
        kdf: ExportKdf,
    },
    /// Time unlocking the signer's identity key at its stored KDF parameters.
    #[command(name = "unlock-bench")]
    UnlockBench {
        /// Number of unlocks to time.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
        runs: u32,
    },
}

pub fn run(home: &Path, json: bool, pass_file: Option<&Path>, cmd: KeystoreCommand) -> CliResult {
    match cmd {
        KeystoreCommand::ImportEth {
            file,
            password_file,
            out,
        } => import_eth(home, json, pass_file, &file, &password_file, out),
        KeystoreCommand::ExportEth {
            sealed,
            password_file,
            out,
            kdf,
        } => export_eth(home, json, pass_file, &sealed, &password_file, &out, kdf),
        KeystoreCommand::UnlockBench { runs } => unlock_bench(home, json, pass_file, runs),
    }
}

/// The signer's passphrase, checked by unlocking its identity key; and the identity file's KDF
/// parameters (used for what is sealed next to it).
fn signer_passphrase(
    home: &Path,
    pass_file: Option<&Path>,
) -> CliResult<(Passphrase, keystore::KdfParams)> {
    let h = SignerHome::open(home).map_err(CliError::from)?;
    let pass = passphrase(pass_file, false)?;
    h.unlock(&pass).map_err(CliError::from)?;
    let sealed = airlock_transport::read_bounded(
        &home.join(IDENTITY_FILE),
        keystore::MAX_SEALED_LEN as u64,
    )?;
    let params = keystore::sealed_params(&sealed)?;
    Ok((pass, params))
}

fn create_private_dir(dir: &Path) -> CliResult {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| CliError::new(format!("cannot create {}: {e}", dir.display())))
}

fn import_eth(
    home: &Path,
    json: bool,
    pass_file: Option<&Path>,
    file: &Path,
    password_file: &Path,
    out: Option<PathBuf>,
) -> CliResult {
    let bytes = airlock_transport::read_bounded(file, eth_keystore::MAX_FILE_LEN as u64)?;
    // Refuse a bad file before asking for anything.
    let kdf = eth_keystore::file_kdf(&bytes).map_err(|e| in_file(file, e))?;
    let password = Passphrase::from_file(password_file)?;
    let t = Instant::now();
    let (key, info) = eth_keystore::decrypt(&bytes, &password).map_err(|e| in_file(file, e))?;
    let decrypt_ms = t.elapsed().as_secs_f64() * 1000.0;
    drop(password);
    let (signer_pass, params) = signer_passphrase(home, pass_file)?;
    let out = match out {
        Some(p) => p,
        None => {
            let path = airlock_signer_app::chain_keys::chain_key_file(
                home,
                airlock_chain_ethereum::CHAIN,
                &key.address_checksummed(),
            );
            create_private_dir(path.parent().unwrap_or(home))?;
            path
        }
    };
    let sealed = airlock_custody::seal(key.secret_bytes(), &signer_pass, params)?;
    airlock_transport::write_atomic_private_new(&out, &sealed)?;
    let address = key.address_checksummed();
    if json {
        print_json(&json!({
            "address": address,
            "out": out,
            "source_kdf": kdf.to_string(),
            "source_id": info.id,
            "source_had_address": info.had_address,
            "decrypt_ms": decrypt_ms,
            "sealed_with": params.to_string(),
        }));
    } else {
        println!("Ethereum address {address}");
        println!(
            "Imported from {} ({kdf}, decrypted in {decrypt_ms:.0} ms){}",
            file.display(),
            if info.had_address {
                ", address checked"
            } else {
                ", the file had no address to check"
            }
        );
        println!(
            "Sealed under the signer's passphrase ({params}) -> {}",
            out.display()
        );
    }
    Ok(())
}

fn export_eth(
    home: &Path,
    json: bool,
    pass_file: Option<&Path>,
    sealed_path: &Path,
    password_file: &Path,
    out: &Path,
    kdf: ExportKdf,
) -> CliResult {
    if std::fs::symlink_metadata(out).is_ok() {
        return Err(CliError::new(format!(
            "{} already exists; nothing was written",
            out.display()
        )));
    }
    let kdf = match kdf {
        ExportKdf::Standard => EthKdf::STANDARD,
        ExportKdf::Light => EthKdf::LIGHT,
        ExportKdf::InsecureFast => EthKdf::INSECURE_FAST,
    };
    let password = Passphrase::from_file(password_file)?;
    let (signer_pass, _) = signer_passphrase(home, pass_file)?;
    let sealed = airlock_transport::read_bounded(sealed_path, keystore::MAX_SEALED_LEN as u64)?;
    let secret = airlock_custody::open(&sealed, &signer_pass)
        .map_err(|e| CliError::new(format!("{}: {e}", sealed_path.display())))?;
    let bytes: &[u8; 32] = secret[..].try_into().map_err(|_| {
        CliError::new(format!(
            "{}: holds a {}-byte secret, not a 32-byte Ethereum key",
            sealed_path.display(),
            secret.len()
        ))
    })?;
    let key = EthSecretKey::from_bytes(bytes)?;
    drop(secret);
    let text = eth_keystore::encrypt(&key, &password, kdf)?;
    airlock_transport::write_atomic_private_new(out, text.as_bytes())?;
    let address = key.address_checksummed();
    if json {
        print_json(&json!({ "address": address, "out": out, "kdf": kdf.to_string() }));
    } else {
        println!("Ethereum address {address}");
        println!("Exported as keystore v3 ({kdf}) -> {}", out.display());
    }
    Ok(())
}

fn unlock_bench(home: &Path, json: bool, pass_file: Option<&Path>, runs: u32) -> CliResult {
    let h = SignerHome::open(home).map_err(CliError::from)?;
    let path = home.join(IDENTITY_FILE);
    let sealed = airlock_transport::read_bounded(&path, keystore::MAX_SEALED_LEN as u64)?;
    let params = keystore::sealed_params(&sealed)?;
    let pass = passphrase(pass_file, false)?;
    let mut times = Vec::with_capacity(runs as usize);
    for _ in 0..runs {
        let t = Instant::now();
        h.unlock(&pass).map_err(CliError::from)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let mean = times.iter().sum::<f64>() / f64::from(runs);
    let min = times.iter().copied().fold(f64::INFINITY, f64::min);
    let max = times.iter().copied().fold(0.0, f64::max);
    let hardening = airlock_custody::harden_process();
    if json {
        print_json(&json!({
            "kdf": params.to_string(),
            "memory_kib": params.memory_kib,
            "iterations": params.iterations,
            "parallelism": params.parallelism,
            "runs": runs,
            "mean_ms": mean,
            "min_ms": min,
            "max_ms": max,
            "memory_locked": hardening.memory_locked.to_string(),
        }));
    } else {
        println!(
            "Unlocking the identity key ({params}): mean {mean:.0} ms, min {min:.0} ms, max {max:.0} ms over {runs} run(s); memory locked: {}",
            hardening.memory_locked
        );
    }
    Ok(())
}

fn in_file(path: &Path, e: eth_keystore::EthKeystoreError) -> CliError {
    CliError::new(format!("{}: {e}", path.display()))
}
