//! `airlock-signer hsm`: keys kept in a PKCS#11 token (an HSM, a smart card, SoftHSM2). A thin
//! layer over `airlock_custody::hsm`.
//!
//! The PIN is read only from `--pin-file` (one trailing newline ignored), never from the command
//! line, and is never printed. Keys are generated inside the token and never leave it; `sign`
//! prints only the signature.
//!
//! Recording an HSM-backed signer in a vault: `hsm list` prints each key's public key (`--json`:
//! `chain_key` and a `signer_spec` template); the coordinator puts it in the draft as
//! `airlock vault draft --signer NAME:ROLE:IDENTITY_KEY:<public key hex>:hsm`.

use std::path::PathBuf;
use std::time::Instant;

use airlock_cli_support::{CliError, CliResult, print_json};
use airlock_custody::hsm::{self, HsmKey, HsmToken, KeyKind, Pin};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

#[derive(Args)]
pub struct TokenArgs {
    /// The token's label (as given to `softhsm2-util --init-token --label`).
    #[arg(long)]
    token: String,
    /// File holding the user PIN (one trailing newline is ignored).
    #[arg(long)]
    pin_file: PathBuf,
    /// The PKCS#11 module (default: $AIRLOCK_PKCS11_MODULE, else /usr/lib/softhsm/libsofthsm2.so).
    #[arg(long)]
    module: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Kind {
    /// ECDSA over secp256k1 (Bitcoin, Ethereum).
    Secp256k1,
    /// Ed25519.
    Ed25519,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// DER ECDSA signature (low-S) of a 32-byte sighash.
    Bitcoin,
    /// r ‖ s ‖ v (65 bytes, low-S, v = recovery id 0/1) of a 32-byte Keccak-256 digest.
    Ethereum,
    /// As `ethereum` with v = 27 + recovery id (personal_sign, legacy transactions).
    EthereumLegacy,
    /// Ed25519 signature (64 bytes) of the given bytes.
    Ed25519,
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Format::Bitcoin => "bitcoin",
            Format::Ethereum => "ethereum",
            Format::EthereumLegacy => "ethereum-legacy",
            Format::Ed25519 => "ed25519",
        }
    }
}

#[derive(Subcommand)]
pub enum HsmCommand {
    /// Generate a key pair inside the token (the private key never leaves it).
    Keygen {
        #[command(flatten)]
        token: TokenArgs,
        /// The new key's label.
        #[arg(long)]
        label: String,
        #[arg(long, value_enum)]
        kind: Kind,
    },
    /// List the token's keys with their public keys (for the vault definition).
    List {
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Sign a digest with a key of the token and print the signature.
    Sign {
        #[command(flatten)]
        token: TokenArgs,
        /// The key's label.
        #[arg(long)]
        label: String,
        /// What to sign, as hex: a 32-byte digest (bitcoin, ethereum), the message (ed25519).
        #[arg(long, required_unless_present = "bench")]
        digest: Option<String>,
        #[arg(long, value_enum)]
        format: Format,
        /// Instead: sign N different digests, print signatures per second, and no signature.
        #[arg(long, value_name = "N")]
        bench: Option<u32>,
    },
    /// List the labels of the initialized tokens the module offers (no PIN needed).
    Tokens {
        /// The PKCS#11 module (default: $AIRLOCK_PKCS11_MODULE, else /usr/lib/softhsm/libsofthsm2.so).
        #[arg(long)]
        module: Option<PathBuf>,
    },
}

fn open(args: &TokenArgs) -> CliResult<HsmToken> {
    let pin = Pin::from_file(&args.pin_file)?;
    let module = hsm::module_path(args.module.as_deref());
    Ok(HsmToken::open(&module, &args.token, &pin)?)
}

fn key_json(token: &HsmToken, k: &HsmKey) -> serde_json::Value {
    json!({
        "token": token.label(),
        "label": k.label,
        "kind": k.kind.as_str(),
        "id": hex(&k.id),
        "public_key": k.public_key_hex(),
        "public_key_uncompressed": k.uncompressed_public_key().map(|p| hex(&p)),
        "sensitive": k.sensitive,
        "extractable": k.extractable,
        "custody": "hsm",
        "chain_key": k.public_key_hex(),
        "signer_spec": format!("NAME:ROLE:IDENTITY_KEY:{}:hsm", k.public_key_hex()),
    })
}

pub fn run(json: bool, cmd: HsmCommand) -> CliResult {
    match cmd {
        HsmCommand::Keygen { token, label, kind } => {
            let t = open(&token)?;
            let kind = match kind {
                Kind::Secp256k1 => KeyKind::Secp256k1,
                Kind::Ed25519 => KeyKind::Ed25519,
            };
            let k = t.generate(&label, kind)?;
            if json {
                print_json(&key_json(&t, &k));
            } else {
                println!(
                    "Generated {} key {:?} inside token {:?} (not extractable)",
                    k.kind,
                    k.label,
                    t.label()
                );
                println!("public key {}", k.public_key_hex());
                println!(
                    "Record it in the vault: --signer NAME:ROLE:IDENTITY_KEY:{}:hsm",
                    k.public_key_hex()
                );
            }
            Ok(())
        }
        HsmCommand::List { token } => {
            let t = open(&token)?;
            let keys = t.list()?;
            if json {
                print_json(&json!(
                    keys.iter().map(|k| key_json(&t, k)).collect::<Vec<_>>()
                ));
            } else if keys.is_empty() {
                println!("No keys on token {:?}.", t.label());
            } else {
                for k in &keys {
                    println!(
                        "{:<20} {:<9} {}{}",
                        k.label,
                        k.kind.as_str(),
                        k.public_key_hex(),
                        if k.extractable || !k.sensitive {
                            "  WARNING: extractable or not sensitive"
                        } else {
                            ""
                        }
                    );
                }
                println!(
                    "Record an HSM-backed signer: --signer NAME:ROLE:IDENTITY_KEY:<public key>:hsm"
                );
            }
            Ok(())
        }
        HsmCommand::Sign {
            token,
            label,
            digest,
            format,
            bench,
        } => {
            let t = open(&token)?;
            let k = t.key(&label)?;
            if let Some(n) = bench {
                return run_bench(json, &t, &k, format, n);
            }
            let data = decode_hex(digest.as_deref().unwrap_or_default())
                .ok_or_else(|| CliError::new("--digest must be hex digits"))?;
            let sig = sign(&t, &k, format, &data)?;
            if json {
                let mut v = json!({
                    "token": t.label(),
                    "label": k.label,
                    "format": format.as_str(),
                    "public_key": k.public_key_hex(),
                    "signature": hex(&sig),
                });
                if matches!(format, Format::Ethereum | Format::EthereumLegacy) {
                    v["r"] = json!(hex(&sig[..32]));
                    v["s"] = json!(hex(&sig[32..64]));
                    v["v"] = json!(sig[64]);
                }
                print_json(&v);
            } else {
                println!("{}", hex(&sig));
            }
            Ok(())
        }
        HsmCommand::Tokens { module } => {
            let module = hsm::module_path(module.as_deref());
            let labels = hsm::token_labels(&module)?;
            if json {
                print_json(&json!({ "module": module, "tokens": labels }));
            } else if labels.is_empty() {
                println!("No initialized tokens in {}.", module.display());
            } else {
                for l in labels {
                    println!("{l}");
                }
            }
            Ok(())
        }
    }
}

fn sign(t: &HsmToken, k: &HsmKey, format: Format, data: &[u8]) -> CliResult<Vec<u8>> {
    Ok(match format {
        Format::Bitcoin => t.sign_bitcoin_digest(k, data)?,
        Format::Ethereum => t.sign_ethereum_digest(k, data)?.to_vec(),
        Format::EthereumLegacy => t.sign_ethereum_digest_legacy(k, data)?.to_vec(),
        Format::Ed25519 => t.sign_ed25519(k, data)?.to_vec(),
    })
}

/// Signs `n` distinct 32-byte inputs through the token (including low-S normalization and the
/// recovery id, or the Ed25519 verification) and reports the rate.
fn run_bench(json: bool, t: &HsmToken, k: &HsmKey, format: Format, n: u32) -> CliResult {
    if n == 0 {
        return Err(CliError::new("--bench needs at least 1 signature"));
    }
    let started = Instant::now();
    let mut data = [0x5au8; 32];
    for i in 0..n {
        data[..4].copy_from_slice(&i.to_be_bytes());
        sign(t, k, format, &data)?;
    }
    let secs = started.elapsed().as_secs_f64();
    let rate = f64::from(n) / secs;
    if json {
        print_json(&json!({
            "format": format.as_str(), "kind": k.kind.as_str(), "signatures": n,
            "seconds": secs, "per_second": rate, "module": t.module(),
        }));
    } else {
        println!(
            "{n} {} signatures with {} key {:?} in {secs:.3} s: {rate:.0} per second",
            format.as_str(),
            k.kind,
            k.label
        );
    }
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    let s = s.strip_prefix("0x").unwrap_or(s);
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}
