//! `airlock-signer backup`: SLIP-39 Shamir backups and BIP-39 mnemonics. A thin layer over
//! `airlock_custody::slip39` and `airlock_custody::mnemonic`.
//!
//! Secrets (shares, mnemonics, recovered secrets) go only where the person asked for them: to
//! standard output, or to the files named with `--out-dir` / `--out`, written atomically with mode
//! 0600 and never over an existing file. Nothing secret is put in an error message.

use std::io::{IsTerminal as _, Read as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use airlock_cli_support::{CliError, CliResult, print_json};
use airlock_custody::mnemonic::{self, Fingerprint};
use airlock_custody::slip39::{self, Share};
use clap::Subcommand;
use rand_core::{OsRng, RngCore as _};
use serde_json::json;
use zeroize::Zeroizing;

/// Largest share or mnemonic input file read.
const MAX_INPUT: u64 = 1024 * 1024;
/// Where `bip39-new --record` keeps the fingerprint (public: it identifies, it does not reveal).
const FINGERPRINT_FILE: &str = "bip39.fingerprint";

#[derive(Subcommand)]
pub enum BackupCommand {
    /// Split a master secret into SLIP-39 mnemonic shares (groups of shares).
    Split {
        /// Groups needed to recover.
        #[arg(long, default_value_t = 1)]
        group_threshold: u8,
        /// A group as T-of-N (T of its N shares needed); repeat for several groups.
        #[arg(long = "group", value_name = "T-of-N", required = true, value_parser = parse_group)]
        groups: Vec<(u8, u8)>,
        /// The secret to split: a file holding it as hex (32 or 64 hex digits).
        #[arg(long, conflicts_with = "new")]
        secret_file: Option<PathBuf>,
        /// Split this signer's identity key (asks for its passphrase), so that a lost device's
        /// identity can be restored with `airlock-signer init --restore-identity SHARES…`.
        #[arg(long, conflicts_with_all = ["secret_file", "new", "bench"])]
        identity: bool,
        /// Split a new random secret of this many bits (128 or 256) instead.
        #[arg(long, value_name = "BITS", value_parser = clap::value_parser!(u16).range(128..=256))]
        new: Option<u16>,
        /// Extendable backup (the SLIP-39 recommendation): more share sets of the same secret can
        /// be made later. `--extendable false` for the older, non-extendable format.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
        extendable: bool,
        /// PBKDF2 iteration exponent: 10000 << E iterations in all (0..=15).
        #[arg(long, default_value_t = 1)]
        exponent: u8,
        /// File holding the SLIP-39 passphrase (printable ASCII; none by default).
        #[arg(long)]
        share_passphrase_file: Option<PathBuf>,
        /// Write each share to its own file in this directory (mode 0600) instead of stdout.
        #[arg(long)]
        out_dir: Option<PathBuf>,
        /// Print split and recover timings for this setup (random secret) and no shares.
        #[arg(long)]
        bench: bool,
    },
    /// Recover the master secret from SLIP-39 shares: files (one share per line, `#` comments),
    /// or standard input when no file is named.
    Recover {
        /// Share files.
        files: Vec<PathBuf>,
        /// File holding the SLIP-39 passphrase (none by default).
        #[arg(long)]
        share_passphrase_file: Option<PathBuf>,
        /// Write the secret (hex) to this new file (mode 0600) instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Make a new, independent share set (another group setup) of an extendable backup from
    /// enough of its shares (files, or standard input); the passphrase is not needed.
    Extend {
        /// Shares of the existing set.
        files: Vec<PathBuf>,
        /// Groups needed to recover, in the new set.
        #[arg(long, default_value_t = 1)]
        group_threshold: u8,
        /// A group of the new set as T-of-N; repeat for several groups.
        #[arg(long = "group", value_name = "T-of-N", required = true, value_parser = parse_group)]
        groups: Vec<(u8, u8)>,
        /// Write each new share to its own file in this directory (mode 0600) instead of stdout.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// Create a new BIP-39 mnemonic from the system's randomness, optionally mixed with dice rolls.
    #[command(name = "bip39-new")]
    Bip39New {
        /// 12, 15, 18, 21 or 24 words.
        #[arg(long, default_value_t = 24)]
        words: usize,
        /// Dice rolls (digits 1-6) mixed into the system's randomness, never replacing it;
        /// `-` reads them from standard input (keeps them out of the shell history).
        #[arg(long, value_name = "ROLLS")]
        dice: Option<String>,
        /// File holding the BIP-39 passphrase (none by default).
        #[arg(long)]
        bip39_passphrase_file: Option<PathBuf>,
        /// Write the words to this new file (mode 0600) instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Keep the fingerprint in the signer home, for `bip39-verify`.
        #[arg(long)]
        record: bool,
    },
    /// Re-check a written-down BIP-39 backup: type the words on standard input; says whether
    /// they give the expected master fingerprint, without showing anything of them.
    #[command(name = "bip39-verify")]
    Bip39Verify {
        /// The expected fingerprint (8 hex digits); default: the one kept by `bip39-new --record`.
        #[arg(long)]
        fingerprint: Option<String>,
        /// File holding the BIP-39 passphrase (none by default).
        #[arg(long)]
        bip39_passphrase_file: Option<PathBuf>,
    },
}

fn parse_group(s: &str) -> Result<(u8, u8), String> {
    let (t, n) = s
        .split_once("-of-")
        .or_else(|| s.split_once("of"))
        .ok_or_else(|| format!("{s}: a group is written T-of-N, e.g. 2-of-3"))?;
    let t: u8 = t
        .trim()
        .parse()
        .map_err(|_| format!("{s}: bad threshold"))?;
    let n: u8 = n.trim().parse().map_err(|_| format!("{s}: bad count"))?;
    Ok((t, n))
}

pub fn run(home: &Path, json: bool, pass_file: Option<&Path>, cmd: BackupCommand) -> CliResult {
    match cmd {
        BackupCommand::Split {
            group_threshold,
            groups,
            secret_file,
            new,
            extendable,
            exponent,
            share_passphrase_file,
            out_dir,
            bench,
            identity,
        } => {
            let passphrase = read_passphrase(share_passphrase_file.as_deref())?;
            if bench {
                return split_bench(json, group_threshold, &groups, extendable, exponent);
            }
            // A share file of the signer's identity says whose it is.
            let mut label = String::new();
            let secret = match (secret_file, new) {
                _ if identity => {
                    let h = crate::home(home)?;
                    let key = h
                        .unlock(&crate::passphrase(pass_file, false)?)
                        .map_err(crate::signer_err)?;
                    label = format!(
                        "# Airlock signer identity of {} ({})\n",
                        h.config.name, h.config.identity
                    );
                    Zeroizing::new(key.secret().to_vec())
                }
                (Some(f), _) => {
                    let text = read_text(&f)?;
                    decode_hex(text.trim()).ok_or_else(|| {
                        CliError::new(format!("{}: not a hex secret", f.display()))
                    })?
                }
                (None, Some(bits)) => {
                    if !bits.is_multiple_of(16) {
                        return Err(CliError::new(
                            "--new takes a multiple of 16 bits (128 or 256)",
                        ));
                    }
                    let mut s = Zeroizing::new(vec![0u8; usize::from(bits / 8)]);
                    OsRng.try_fill_bytes(&mut s).map_err(|e| {
                        CliError::new(format!("the system random number generator failed: {e}"))
                    })?;
                    s
                }
                (None, None) => {
                    return Err(CliError::new(
                        "say what to split: --secret-file FILE (hex), --new 256 or --identity",
                    ));
                }
            };
            let shares = slip39::split(
                &secret,
                &passphrase,
                group_threshold,
                &groups,
                extendable,
                exponent,
                &mut OsRng,
            )?;
            write_shares(json, group_threshold, &shares, out_dir.as_deref(), &label)
        }
        BackupCommand::Recover {
            files,
            share_passphrase_file,
            out,
        } => {
            let passphrase = read_passphrase(share_passphrase_file.as_deref())?;
            let text = read_share_text(&files)?;
            let mnemonics = share_lines(&text);
            let secret = slip39::combine(&mnemonics, &passphrase)?;
            let hex = encode_hex(&secret);
            match out {
                Some(path) => {
                    let mut body = Zeroizing::new(hex.to_string());
                    body.push('\n');
                    airlock_transport::write_atomic_private_new(&path, body.as_bytes())?;
                    if json {
                        print_json(
                            &json!({ "out": path, "bytes": secret.len(), "shares": mnemonics.len() }),
                        );
                    } else {
                        println!(
                            "Recovered a {}-bit secret from {} shares; written to {}",
                            secret.len() * 8,
                            mnemonics.len(),
                            path.display()
                        );
                    }
                }
                None => {
                    if json {
                        print_json(&json!({ "secret": hex.as_str(), "bytes": secret.len() }));
                    } else {
                        println!("{}", hex.as_str());
                    }
                }
            }
            Ok(())
        }
        BackupCommand::Extend {
            files,
            group_threshold,
            groups,
            out_dir,
        } => {
            let text = read_share_text(&files)?;
            let shares = slip39::extend(&share_lines(&text), group_threshold, &groups, &mut OsRng)?;
            write_shares(json, group_threshold, &shares, out_dir.as_deref(), "")
        }
        BackupCommand::Bip39New {
            words,
            dice,
            bip39_passphrase_file,
            out,
            record,
        } => {
            let passphrase = read_passphrase(bip39_passphrase_file.as_deref())?;
            let dice_text = match dice.as_deref() {
                Some("-") => {
                    let mut t = Zeroizing::new(String::new());
                    read_stdin(&mut t)?;
                    Some(t)
                }
                Some(d) => Some(Zeroizing::new(d.to_string())),
                None => None,
            };
            let dice = dice_text
                .as_ref()
                .map(|t| mnemonic::dice_entropy(t))
                .transpose()?;
            let m = mnemonic::generate(words, dice.as_ref().map(|(d, _)| d.as_slice()))?;
            let fp = mnemonic::mnemonic_fingerprint(&m, &passphrase)?;
            if record {
                airlock_transport::write_atomic(
                    &home.join(FINGERPRINT_FILE),
                    format!("{fp}\n").as_bytes(),
                )?;
            }
            let dice_bits = dice.as_ref().map(|(_, b)| *b);
            let phrase = Zeroizing::new(m.to_string());
            match &out {
                Some(path) => {
                    let mut body = Zeroizing::new(phrase.to_string());
                    body.push('\n');
                    airlock_transport::write_atomic_private_new(path, body.as_bytes())?;
                }
                None if json => {}
                None => {
                    println!("Write these {words} words down, in order, and keep them offline:");
                    for (i, w) in m.words().enumerate() {
                        println!("{:>2}. {w}", i + 1);
                    }
                }
            }
            if json {
                let mut v = json!({ "fingerprint": fp.to_string(), "words": words, "dice_bits": dice_bits, "recorded": record });
                match &out {
                    Some(path) => v["out"] = json!(path),
                    None => v["mnemonic"] = json!(phrase.as_str()),
                }
                print_json(&v);
            } else {
                if let Some(path) = &out {
                    println!("Mnemonic ({words} words) written to {}", path.display());
                }
                if let Some(bits) = dice_bits {
                    println!(
                        "Mixed in {bits:.0} bits of dice entropy with the system's randomness."
                    );
                }
                println!("Master fingerprint: {fp}");
                if record {
                    println!("Fingerprint kept for `backup bip39-verify`.");
                }
            }
            Ok(())
        }
        BackupCommand::Bip39Verify {
            fingerprint,
            bip39_passphrase_file,
        } => {
            let expected = match fingerprint {
                Some(f) => Fingerprint::from_hex(&f)?,
                None => {
                    let path = home.join(FINGERPRINT_FILE);
                    let text = read_text(&path).map_err(|_| {
                        CliError::new(format!(
                            "no fingerprint given and none kept at {} (use --fingerprint HEX)",
                            path.display()
                        ))
                    })?;
                    Fingerprint::from_hex(&text)?
                }
            };
            let passphrase = read_passphrase(bip39_passphrase_file.as_deref())?;
            if std::io::stdin().is_terminal() {
                eprintln!("Type the words of the backup, then Ctrl-D:");
            }
            let mut words = Zeroizing::new(String::new());
            read_stdin(&mut words)?;
            let matches = mnemonic::verify_backup(&words, &passphrase, expected)?;
            if json {
                print_json(&json!({ "matches": matches, "fingerprint": expected.to_string() }));
            } else if matches {
                println!("MATCH: the backup gives master fingerprint {expected}");
            } else {
                println!(
                    "NO MATCH: the words are a valid mnemonic but do not give fingerprint {expected} (wrong words, order or passphrase)"
                );
            }
            if matches {
                Ok(())
            } else {
                Err(CliError::new("the backup does not match the fingerprint"))
            }
        }
    }
}

/// Writes or prints a share set; `label` (a comment line, or empty) heads each share file.
fn write_shares(
    json: bool,
    group_threshold: u8,
    shares: &[Vec<Zeroizing<String>>],
    out_dir: Option<&Path>,
    label: &str,
) -> CliResult {
    if let Some(dir) = out_dir {
        create_private_dir(dir)?;
        // Refuse before writing anything, so a refused run leaves no partial set.
        for (g, group) in shares.iter().enumerate() {
            for m in 0..group.len() {
                let path = dir.join(format!("share-g{}-m{}.txt", g + 1, m + 1));
                if std::fs::symlink_metadata(&path).is_ok() {
                    return Err(CliError::new(format!(
                        "{} already exists; nothing was written (choose an empty --out-dir)",
                        path.display()
                    )));
                }
            }
        }
    }
    let first = Share::parse(&shares[0][0])?;
    let identifier = first.identifier();
    let words = shares[0][0].split_whitespace().count();
    let mut listing = Vec::new();
    for (g, group) in shares.iter().enumerate() {
        let mut members = Vec::new();
        for (m, mnemonic) in group.iter().enumerate() {
            let share = Share::parse(mnemonic)?;
            match out_dir {
                Some(dir) => {
                    let path = dir.join(format!("share-g{}-m{}.txt", g + 1, m + 1));
                    let mut body =
                        Zeroizing::new(format!("{label}# SLIP-39 share: {}\n", share.describe()));
                    body.push_str(mnemonic);
                    body.push('\n');
                    airlock_transport::write_atomic_private_new(&path, body.as_bytes())?;
                    members.push(json!({ "member": m + 1, "file": path }));
                }
                None => members.push(json!({ "member": m + 1, "share": mnemonic.as_str() })),
            }
        }
        let threshold = Share::parse(&group[0])?.member_threshold();
        listing.push(json!({ "group": g + 1, "threshold": threshold, "count": group.len(), "shares": members }));
    }
    if json {
        print_json(&json!({
            "identifier": identifier,
            "extendable": first.extendable(),
            "iteration_exponent": first.iteration_exponent(),
            "group_threshold": group_threshold,
            "words_per_share": words,
            "groups": listing,
        }));
        return Ok(());
    }
    println!(
        "SLIP-39 backup {identifier:05}: {group_threshold} of {} group(s) needed, {words} words per share{}",
        shares.len(),
        if first.extendable() {
            ", extendable"
        } else {
            ""
        }
    );
    for (g, group) in listing.iter().enumerate() {
        println!(
            "Group {} of {}: {} of {} shares needed",
            g + 1,
            shares.len(),
            group["threshold"],
            group["count"]
        );
        for m in group["shares"].as_array().into_iter().flatten() {
            if let Some(file) = m["file"].as_str() {
                println!("  share {}: {file}", m["member"]);
            } else if let Some(s) = m["share"].as_str() {
                println!("{s}");
            }
        }
    }
    Ok(())
}

fn split_bench(
    json: bool,
    group_threshold: u8,
    groups: &[(u8, u8)],
    extendable: bool,
    exponent: u8,
) -> CliResult {
    let mut secret = Zeroizing::new([0u8; 32]);
    OsRng
        .try_fill_bytes(secret.as_mut())
        .map_err(|e| CliError::new(format!("the system random number generator failed: {e}")))?;
    let runs = 5u32;
    let t = Instant::now();
    let mut shares = Vec::new();
    for _ in 0..runs {
        shares = slip39::split(
            secret.as_ref(),
            "",
            group_threshold,
            groups,
            extendable,
            exponent,
            &mut OsRng,
        )?;
    }
    let split = t.elapsed().as_secs_f64() * 1000.0 / f64::from(runs);
    let mut chosen: Vec<&str> = Vec::new();
    for (g, &(threshold, _)) in groups.iter().enumerate().take(usize::from(group_threshold)) {
        for s in shares[g].iter().take(usize::from(threshold)) {
            chosen.push(s);
        }
    }
    let t = Instant::now();
    for _ in 0..runs {
        let got = slip39::combine(&chosen, "")?;
        if got.as_slice() != &secret[..] {
            return Err(CliError::new("benchmark: recovered secret differs"));
        }
    }
    let recover = t.elapsed().as_secs_f64() * 1000.0 / f64::from(runs);
    let setup: Vec<String> = groups.iter().map(|(t, n)| format!("{t}-of-{n}")).collect();
    if json {
        print_json(&json!({
            "secret_bits": 256, "group_threshold": group_threshold, "groups": setup,
            "iteration_exponent": exponent, "split_ms": split, "recover_ms": recover, "runs": runs,
        }));
    } else {
        println!(
            "SLIP-39 256-bit secret, {group_threshold} of groups [{}], exponent {exponent}: split {split:.1} ms, recover {recover:.1} ms (mean of {runs})",
            setup.join(", ")
        );
    }
    Ok(())
}

/// The shares' text: the files, or standard input when none is named.
/// The identity key a set of SLIP-39 share files (`backup split --identity`) holds.
pub(crate) fn recover_identity(
    files: &[PathBuf],
    share_passphrase_file: Option<&Path>,
) -> CliResult<airlock_custody::IdentityKey> {
    let passphrase = read_passphrase(share_passphrase_file)?;
    let text = read_share_text(files)?;
    let secret = slip39::combine(&share_lines(&text), &passphrase)?;
    let secret: &[u8; 32] = secret.as_slice().try_into().map_err(|_| {
        CliError::new(format!(
            "the shares hold a {}-bit secret, not a 256-bit signer identity (made with `backup split --identity`)",
            secret.len() * 8
        ))
    })?;
    Ok(airlock_custody::IdentityKey::from_secret_bytes(secret))
}

fn read_share_text(files: &[PathBuf]) -> CliResult<Zeroizing<String>> {
    let mut text = Zeroizing::new(String::new());
    if files.is_empty() {
        if std::io::stdin().is_terminal() {
            eprintln!("Type or paste the shares, one per line, then Ctrl-D:");
        }
        read_stdin(&mut text)?;
    } else {
        for f in files {
            text.push_str(&read_text(f)?);
            text.push('\n');
        }
    }
    Ok(text)
}

/// One share per non-empty line; `#` lines are comments.
fn share_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// Creates `dir` (and parents) if missing; a new directory gets mode 0700 on unix.
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

/// A passphrase from a file (one trailing line ending removed), or empty.
fn read_passphrase(file: Option<&Path>) -> CliResult<Zeroizing<String>> {
    let Some(path) = file else {
        return Ok(Zeroizing::new(String::new()));
    };
    let mut text = read_text(path)?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

fn read_text(path: &Path) -> CliResult<Zeroizing<String>> {
    let bytes = Zeroizing::new(airlock_transport::read_bounded(path, MAX_INPUT)?);
    match std::str::from_utf8(&bytes) {
        Ok(s) => Ok(Zeroizing::new(s.to_string())),
        Err(_) => Err(CliError::new(format!("{}: not UTF-8 text", path.display()))),
    }
}

fn read_stdin(out: &mut Zeroizing<String>) -> CliResult {
    let mut buf = Zeroizing::new(Vec::new());
    std::io::stdin().take(MAX_INPUT + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_INPUT {
        return Err(CliError::new("standard input is too large"));
    }
    match std::str::from_utf8(&buf) {
        Ok(s) => {
            out.push_str(s);
            Ok(())
        }
        Err(_) => Err(CliError::new("standard input is not UTF-8 text")),
    }
}

fn decode_hex(s: &str) -> Option<Zeroizing<Vec<u8>>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    let mut out = Zeroizing::new(Vec::with_capacity(s.len() / 2));
    for i in (0..s.len()).step_by(2) {
        out.push(u8::from_str_radix(&s[i..i + 2], 16).ok()?);
    }
    Some(out)
}

fn encode_hex(bytes: &[u8]) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::with_capacity(bytes.len() * 2));
    for b in bytes {
        s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        s.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    s
}
