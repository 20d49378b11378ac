//! `airlock-signer key`: the chain keys this signer signs transactions with (an Ethereum account
//! key…), sealed under the signer's passphrase. A thin layer over
//! `airlock_signer_app::chain_keys`.
//!
//! A key comes from a BIP-39 mnemonic file (derived at the chain's standard path, e.g.
//! `m/44'/60'/0'/0/<index>`), or from a file holding the raw secret as hex; an Ethereum keystore
//! v3 file is imported with `keystore import-eth`. Only the public chain key is printed: it is
//! what the coordinator lists for this signer (`--signer NAME:ROLE:IDENTITY:<chain key>`).
//!
//! This command must never print or log a secret.

use std::path::{Path, PathBuf};

use airlock_cli_support::{CliError, CliResult, passphrase, print_json};
use airlock_signer_app::SignerHome;
use clap::Subcommand;
use serde_json::json;
use zeroize::Zeroizing;

/// Largest mnemonic or secret file read.
const MAX_INPUT: u64 = 4096;

// Parsed once per process from the command line: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum KeyCommand {
    /// Add a chain key: derived from a BIP-39 mnemonic file, a raw secret (hex) file, or a
    /// secp256k1 key generated inside a PKCS#11 token (`hsm keygen`), recorded by reference.
    Add {
        /// The chain ("ethereum", "bitcoin").
        #[arg(long)]
        chain: String,
        /// Bitcoin: the network whose keys to print ("bitcoin", "testnet", "signet", "regtest").
        #[arg(long, default_value = "bitcoin")]
        network: String,
        /// A file holding the BIP-39 words.
        #[arg(long, conflicts_with_all = ["secret_file", "hsm_token"])]
        mnemonic_file: Option<PathBuf>,
        /// A file holding the BIP-39 passphrase (none by default).
        #[arg(long, requires = "mnemonic_file")]
        bip39_passphrase_file: Option<PathBuf>,
        /// The account index in the chain's derivation path (Ethereum: m/44'/60'/0'/0/INDEX).
        #[arg(long, default_value_t = 0)]
        index: u32,
        /// A file holding the raw secret key as hex (`0x` allowed).
        #[arg(long, conflicts_with = "hsm_token")]
        secret_file: Option<PathBuf>,
        /// The label of the token holding the key (the key stays there; approvals open it).
        #[arg(long, requires_all = ["hsm_label", "hsm_pin_file"])]
        hsm_token: Option<String>,
        /// The key's label on the token.
        #[arg(long, requires = "hsm_token")]
        hsm_label: Option<String>,
        /// The PKCS#11 module (default: $AIRLOCK_PKCS11_MODULE, else SoftHSM2's).
        #[arg(long, requires = "hsm_token")]
        hsm_module: Option<PathBuf>,
        /// The token's PIN (one trailing newline ignored).
        #[arg(long, requires = "hsm_token")]
        hsm_pin_file: Option<PathBuf>,
        /// Ethereum: the address of a key kept on a QR signer (EIP-4527, e.g. Keystone), as the
        /// device shows it; approvals then carry the device's signature.
        #[arg(long, conflicts_with_all = ["mnemonic_file", "secret_file", "hsm_token"])]
        device_address: Option<String>,
        /// That key's derivation path on the device.
        #[arg(long, requires = "device_address", default_value = "m/44'/60'/0'/0/0")]
        device_path: String,
        /// The device's master key fingerprint (8 hex digits), which requests carry.
        #[arg(long, requires = "device_address")]
        device_fingerprint: Option<String>,
    },
    /// List the chain keys this signer holds (public keys only).
    List,
    /// Bitcoin: export this signer's account keys for another coordinator (Sparrow, Specter,
    /// Nunchuk, Electrum) as a hardware wallet would: Coldcard's multisig key file
    /// (`ccxp-XFP.json`) or a UR `crypto-account` (BIP-48 multisig, BIP-84/49/86 keys).
    Export {
        /// The chain (only "bitcoin").
        #[arg(long, default_value = "bitcoin")]
        chain: String,
        /// The key's master fingerprint (as `key list` and `key add` show it).
        #[arg(long)]
        fingerprint: String,
        /// bitcoin, testnet, signet or regtest (decides the key prefixes and coin type).
        #[arg(long, default_value = "bitcoin")]
        network: String,
        /// The account number in the paths.
        #[arg(long, default_value_t = 0)]
        account: u32,
        /// ccxp (Coldcard's multisig key JSON) or ur (UR crypto-account frames).
        #[arg(long, default_value = "ccxp")]
        format: String,
        /// Write to this file (atomically) instead of printing.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn read_text(path: &Path) -> CliResult<Zeroizing<String>> {
    let bytes = Zeroizing::new(airlock_transport::read_bounded(path, MAX_INPUT)?);
    std::str::from_utf8(&bytes)
        .map(|s| Zeroizing::new(s.trim().to_owned()))
        .map_err(|_| CliError::new(format!("{}: not UTF-8 text", path.display())))
}

fn secret_from_mnemonic(
    chain: &str,
    words_file: &Path,
    passphrase_file: Option<&Path>,
    index: u32,
) -> CliResult<Zeroizing<Vec<u8>>> {
    let words = read_text(words_file)?;
    let mnemonic = airlock_custody::mnemonic::restore(&words)
        .map_err(|e| CliError::new(format!("{}: {e}", words_file.display())))?;
    let bip39_pass = match passphrase_file {
        Some(p) => read_text(p)?,
        None => Zeroizing::new(String::new()),
    };
    let seed = airlock_custody::mnemonic::seed(&mnemonic, &bip39_pass);
    match chain {
        airlock_chain_ethereum::CHAIN => {
            let key = airlock_chain_ethereum::EthKey::from_seed(seed.as_ref(), index)?;
            Ok(Zeroizing::new(key.secret_bytes().to_vec()))
        }
        // Bitcoin keeps the BIP-39 seed itself (BIP-32 master); vaults name keys below it.
        airlock_chain_bitcoin::CHAIN => Ok(Zeroizing::new(seed.to_vec())),
        other => Err(CliError::new(format!(
            "no mnemonic derivation for chain {other:?} in this build (ethereum)"
        ))),
    }
}

/// Bitcoin: the keys this seed exports on `network` (BIP-48 multisig, BIP-84, BIP-86).
fn bitcoin_exports(
    chain: &str,
    network: &str,
    secret: &[u8],
) -> CliResult<Option<Vec<(&'static str, String)>>> {
    if chain != airlock_chain_bitcoin::CHAIN {
        return Ok(None);
    }
    use airlock_chain_bitcoin::{SignerKey, SingleKeyScript, parse_network};
    let key = SignerKey::from_secret(secret, parse_network(network)?)?;
    Ok(Some(vec![
        ("multisig key", key.export_multisig_key()?),
        ("wpkh", key.single_key_descriptor(SingleKeyScript::Wpkh)?),
        ("tr", key.single_key_descriptor(SingleKeyScript::Taproot)?),
    ]))
}

fn secret_from_hex(path: &Path) -> CliResult<Zeroizing<Vec<u8>>> {
    let text = read_text(path)?;
    let digits = text.strip_prefix("0x").unwrap_or(&text);
    let mut out = Zeroizing::new(vec![0u8; digits.len() / 2]);
    hex::decode_to_slice(digits, out.as_mut_slice())
        .map_err(|_| CliError::new(format!("{}: expected the secret as hex", path.display())))?;
    Ok(out)
}

pub fn run(home: &Path, json: bool, pass_file: Option<&Path>, cmd: KeyCommand) -> CliResult {
    let h = SignerHome::open(home).map_err(CliError::from)?;
    match cmd {
        KeyCommand::Add {
            chain,
            network,
            mnemonic_file,
            bip39_passphrase_file,
            index,
            secret_file,
            hsm_token,
            hsm_label,
            hsm_module,
            hsm_pin_file,
            device_address,
            device_path,
            device_fingerprint,
        } => {
            if let Some(address) = device_address {
                let reference = airlock_signer_app::chain_keys::DeviceKeyRef {
                    address,
                    path: device_path,
                    fingerprint: device_fingerprint,
                };
                let (chain_key, path) = h
                    .store_device_chain_key(&chain, &reference)
                    .map_err(CliError::from)?;
                if json {
                    print_json(
                        &json!({ "chain": chain, "chain_key": chain_key, "file": path, "custody": "device", "device_path": reference.path }),
                    );
                } else {
                    println!(
                        "{chain} key {chain_key} (on a QR device at {})",
                        reference.path
                    );
                    println!("recorded -> {}", path.display());
                    println!(
                        "List it in a vault: --signer {}:ROLE:{}:{chain_key}:device",
                        h.config.name, h.config.identity
                    );
                }
                return Ok(());
            }
            if let (Some(token), Some(label), Some(pin_file)) = (hsm_token, hsm_label, hsm_pin_file)
            {
                let pin = airlock_custody::hsm::Pin::from_file(&pin_file)?;
                let reference = airlock_signer_app::chain_keys::HsmKeyRef {
                    module: airlock_custody::hsm::module_path(hsm_module.as_deref()),
                    token,
                    label,
                    public_key: String::new(),
                };
                let (chain_key, path) = h
                    .store_hsm_chain_key(&chain, &reference, &pin)
                    .map_err(CliError::from)?;
                if json {
                    print_json(
                        &json!({ "chain": chain, "chain_key": chain_key, "file": path, "custody": "hsm" }),
                    );
                } else {
                    println!("{chain} key {chain_key} (in token {:?})", reference.token);
                    println!("recorded -> {}", path.display());
                    println!(
                        "List it in a vault: --signer {}:ROLE:{}:{chain_key}:hsm",
                        h.config.name, h.config.identity
                    );
                }
                return Ok(());
            }
            let secret = match (&mnemonic_file, &secret_file) {
                (Some(m), _) => {
                    secret_from_mnemonic(&chain, m, bip39_passphrase_file.as_deref(), index)?
                }
                (None, Some(s)) => secret_from_hex(s)?,
                (None, None) => {
                    return Err(CliError::new(
                        "give --mnemonic-file, --secret-file or --hsm-token/--hsm-label/--hsm-pin-file",
                    ));
                }
            };
            // Refuse a secret of the wrong shape before asking for the passphrase.
            airlock_signer_app::chain_keys::chain_key_of(&chain, &secret)
                .map_err(CliError::from)?;
            let exports = bitcoin_exports(&chain, &network, &secret)?;
            let pass = passphrase(pass_file, false)?;
            let (chain_key, path) = h
                .store_chain_key(&chain, &secret, &pass)
                .map_err(CliError::from)?;
            if let Some(exports) = exports {
                if json {
                    print_json(&json!({
                        "chain": chain, "fingerprint": chain_key, "file": path,
                        "network": network, "multisig_key": exports[0].1,
                        "wpkh": exports[1].1, "tr": exports[2].1,
                    }));
                } else {
                    println!("bitcoin master fingerprint {chain_key}");
                    println!("sealed under the signer's passphrase -> {}", path.display());
                    for (label, value) in &exports {
                        println!("{label:<14} {value}");
                    }
                    println!(
                        "For a multisig vault give the coordinator the multisig key; list it as \
                         --signer {}:ROLE:{}:<multisig key>",
                        h.config.name, h.config.identity
                    );
                }
                return Ok(());
            }
            if json {
                print_json(&json!({ "chain": chain, "chain_key": chain_key, "file": path }));
            } else {
                println!("{chain} key {chain_key}");
                println!("sealed under the signer's passphrase -> {}", path.display());
                println!(
                    "List it in a vault: --signer {}:ROLE:{}:{chain_key}",
                    h.config.name, h.config.identity
                );
            }
            Ok(())
        }
        KeyCommand::Export {
            chain,
            fingerprint,
            network,
            account,
            format,
            out,
        } => export(
            &h,
            json,
            pass_file,
            &chain,
            &fingerprint,
            &network,
            account,
            &format,
            out.as_deref(),
        ),
        KeyCommand::List => {
            let files = h.chain_key_files().map_err(CliError::from)?;
            if json {
                let list: Vec<_> = files
                    .iter()
                    .map(|(chain, path)| json!({ "chain": chain, "file": path }))
                    .collect();
                print_json(&json!({ "keys": list }));
            } else if files.is_empty() {
                println!(
                    "no chain keys (add one with `airlock-signer key add --chain ethereum …`)"
                );
            } else {
                for (chain, path) in files {
                    println!("{chain:10} {}", path.display());
                }
            }
            Ok(())
        }
    }
}

/// `key export`: the public account keys of a sealed Bitcoin seed in a device format.
#[allow(clippy::too_many_arguments)]
fn export(
    h: &SignerHome,
    json: bool,
    pass_file: Option<&Path>,
    chain: &str,
    fingerprint: &str,
    network: &str,
    account: u32,
    format: &str,
    out: Option<&Path>,
) -> CliResult {
    use airlock_chain_bitcoin::devices::{self, coldcard, ur_registry};
    if chain != airlock_chain_bitcoin::CHAIN {
        return Err(CliError::new(format!(
            "key export writes Bitcoin account keys; {chain:?} keys are listed as their address"
        )));
    }
    if !["ccxp", "ur"].contains(&format) {
        return Err(CliError::new(format!(
            "--format {format:?}: use ccxp or ur"
        )));
    }
    let network = airlock_chain_bitcoin::parse_network(network)?;
    let pass = passphrase(pass_file, false)?;
    let secret = h
        .open_chain_secret(chain, fingerprint, &pass)
        .map_err(CliError::from)?;
    drop(pass);
    let key = airlock_chain_bitcoin::SignerKey::from_secret(&secret, network)?;
    drop(secret);
    let keys = devices::account_keys(&key, account)?;
    let text = if format == "ccxp" {
        coldcard::write_multisig_keys(key.fingerprint(), account, &keys)? + "\n"
    } else {
        let triples: Vec<_> = keys
            .iter()
            .map(|k| (k.script, k.path.clone(), k.xpub))
            .collect();
        let cbor = ur_registry::encode_account(key.fingerprint(), &triples);
        let frames = airlock_qr::encode(
            &cbor,
            airlock_qr::Format::Ur,
            airlock_qr::Content::CryptoAccount,
            airlock_qr::Density::Medium,
        )?;
        frames.texts.join("\n") + "\n"
    };
    if let Some(path) = out {
        airlock_transport::write_atomic(path, text.as_bytes())?;
    }
    if json {
        print_json(&json!({
            "fingerprint": key.fingerprint().to_string(), "format": format, "text": text,
            "out": out, "keys": keys.iter().map(|k| json!({
                "script": k.script.name(), "key": k.with_origin(),
            })).collect::<Vec<_>>(),
        }));
    } else if let Some(path) = out {
        println!("wrote {} ({format}, {} keys)", path.display(), keys.len());
    } else {
        print!("{text}");
    }
    Ok(())
}
