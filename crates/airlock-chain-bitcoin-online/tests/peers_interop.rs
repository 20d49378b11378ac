//! Interop with real, independent Bitcoin signers on the 2-of-3 `wsh(sortedmulti)` regtest wallet of
//! the PSBT benchmark (`shared/bench/psbt-sign`): Electrum 4.3.4 (Debian package, Python API),
//! embit 0.8.0 and bdkpython 3.1.1 (PyPI), driven by `scripts/peers/bitcoin/*.py`.
//!
//! - Airlock's signatures on the Electrum-made `psbt_100` are byte-identical to Electrum's (RFC 6979
//!   with low-R grinding), checked both here and by the peer-side `compare_sigs.py`.
//! - Electrum, embit and bdkpython each add the second cosigner's signatures to an Airlock-signed
//!   PSBT; the result finalizes (by the peer's own finalizer and by Airlock's) and the final
//!   transaction passes Bitcoin Core's script interpreter (`bitcoinconsensus`).
//! - Airlock's signer reviews and signs a PSBT made by bdkpython's TxBuilder for the same wallet.
//!
//! The peers are installed by `scripts/install-bitcoin-peers.sh`. When they are missing the tests
//! say so and pass without checking anything, unless `AIRLOCK_REQUIRE_PEERS` is set (CI sets it),
//! in which case a missing peer fails the test. These tests never go online.

use std::path::{Path, PathBuf};
use std::process::Command;

use airlock_chain_bitcoin::{
    BtcVault, ReviewPolicy, SignerKey, combine, finalize, parse_psbt, serialize_psbt, sign_psbt,
};
use bitcoin::hashes::{Hash as _, sha256};
use bitcoin::{Network, Psbt, Transaction};
use serde_json::Value;

const FINGERPRINTS: [&str; 3] = ["350826d2", "74ee38f0", "886fee83"];
const SYSTEM_PYTHON: &str = "/usr/bin/python3";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scripts_dir() -> PathBuf {
    repo_root().join("scripts/peers/bitcoin")
}

/// `AIRLOCK_PSBT_BENCH_DIR`, else `../shared/bench/psbt-sign` beside the repository, else
/// `/work/shared/bench/psbt-sign` (the same search as the Python scripts).
fn bench_dir() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("AIRLOCK_PSBT_BENCH_DIR") {
        candidates.push(PathBuf::from(dir));
    }
    candidates.push(repo_root().join("../shared/bench/psbt-sign"));
    candidates.push(PathBuf::from("/work/shared/bench/psbt-sign"));
    candidates
        .into_iter()
        .find(|c| c.join("keys.json").is_file())
}

fn python_imports(python: &str, modules: &str) -> bool {
    Command::new(python)
        .args(["-c", &format!("import {modules}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The peers and fixtures these tests need, or `None` (after saying why) when they are missing and
/// `AIRLOCK_REQUIRE_PEERS` is unset. With it set, anything missing fails the test.
fn peers() -> Option<PathBuf> {
    let mut missing = Vec::new();
    if !python_imports(SYSTEM_PYTHON, "electrum") {
        missing.push("Electrum 4.3.4 (Debian package `electrum`, for /usr/bin/python3)");
    }
    if !python_imports("python3", "embit, bdkpython") {
        missing.push("embit 0.8.0 and bdkpython 3.1.1 (pip, for python3)");
    }
    let bench = bench_dir();
    if bench.is_none() {
        missing.push(
            "the PSBT benchmark fixtures (shared/bench/psbt-sign; or set AIRLOCK_PSBT_BENCH_DIR)",
        );
    }
    if missing.is_empty() {
        return bench;
    }
    let message = format!(
        "Bitcoin peer interop: missing {}; run scripts/install-bitcoin-peers.sh",
        missing.join(", ")
    );
    if std::env::var_os("AIRLOCK_REQUIRE_PEERS").is_some() {
        panic!("{message} (AIRLOCK_REQUIRE_PEERS is set, so this fails)");
    }
    eprintln!("SKIPPED: {message} (set AIRLOCK_REQUIRE_PEERS to make this a failure)");
    None
}

/// Runs a peer script; returns (exit code, stdout parsed as JSON). Panics with stderr if the
/// script did not print JSON.
fn run_script(python: &str, script: &str, args: &[&str]) -> (i32, Value) {
    let output = Command::new(python)
        .arg(scripts_dir().join(script))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} {script}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{script} {args:?} printed no JSON ({e}); exit {:?}\nstdout: {stdout}\nstderr: {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap_or(-1), json)
}

/// A peer adds cosigner `cosigner`'s signatures to the PSBT at `input`, writing `output`.
fn peer_sign(peer: &str, cosigner: u32, input: &Path, output: &Path) -> Value {
    let python = if peer == "electrum" {
        SYSTEM_PYTHON
    } else {
        "python3"
    };
    let cosigner = cosigner.to_string();
    let (code, report) = run_script(
        python,
        "sign_psbt.py",
        &[
            "--peer",
            peer,
            "--cosigner",
            &cosigner,
            "--in",
            path_str(input),
            "--out",
            path_str(output),
        ],
    );
    assert_eq!(code, 0, "{peer} failed to sign: {report}");
    report
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// Cosigner `i`'s master key: BIP-32 seed = SHA-256 of "seed<i>" (the benchmark's throwaway keys).
fn cosigner_key(i: u32) -> SignerKey {
    let seed = sha256::Hash::hash(format!("seed{i}").as_bytes());
    SignerKey::from_seed(seed.as_byte_array(), Network::Regtest).expect("seed is 32 bytes")
}

/// The benchmark wallet as an Airlock vault, assembled from the three signers' own key exports
/// (as a coordinator does), checked against the fixture's keys.json.
fn vault(bench: &Path) -> BtcVault {
    let keys: Value = serde_json::from_slice(
        &std::fs::read(bench.join("keys.json")).expect("keys.json readable"),
    )
    .expect("keys.json is JSON");
    let mut exported = Vec::new();
    for i in 0..3u32 {
        let export = cosigner_key(i).export_multisig_key().expect("export");
        let fixture = &keys["keys"][i as usize];
        assert!(
            export.starts_with(&format!("[{}/48", fixture["fp"].as_str().unwrap())),
            "cosigner {i}: Airlock exports {export}, the fixture's fingerprint is {}",
            fixture["fp"]
        );
        assert!(
            export.ends_with(fixture["tpub"].as_str().unwrap()),
            "cosigner {i}: Airlock exports {export}, the fixture's tpub is {}",
            fixture["tpub"]
        );
        exported.push(format!("{export}/<0;1>/*"));
    }
    let descriptor = format!("wsh(sortedmulti(2,{}))", exported.join(","));
    BtcVault::parse(&descriptor, "regtest").expect("the benchmark wallet is a valid vault")
}

fn read_psbt(path: &Path) -> Psbt {
    parse_psbt(&std::fs::read(path).expect("PSBT readable")).expect("a valid PSBT")
}

/// Airlock signs the PSBT at `input` as `cosigner`; returns the signed PSBT, also written to `output`.
fn airlock_sign(bench: &Path, cosigner: u32, input: &Path, output: &Path) -> Psbt {
    let mut psbt = read_psbt(input);
    let report = sign_psbt(
        &vault(bench),
        &mut psbt,
        &cosigner_key(cosigner),
        &ReviewPolicy::default(),
    )
    .expect("Airlock signs the PSBT");
    assert_eq!(
        report.signed_inputs,
        psbt.inputs.len(),
        "every input signed"
    );
    std::fs::write(output, serialize_psbt(&psbt)).expect("write signed PSBT");
    psbt
}

/// Bitcoin Core's script interpreter on every input, spent outputs from the PSBT's UTXO data.
fn assert_consensus_valid(tx: &Transaction, unsigned: &Psbt) {
    let spent: std::collections::HashMap<_, _> = unsigned
        .unsigned_tx
        .input
        .iter()
        .zip(&unsigned.inputs)
        .map(|(txin, input)| {
            let utxo = input
                .witness_utxo
                .clone()
                .expect("benchmark inputs carry witness_utxo");
            (txin.previous_output, utxo)
        })
        .collect();
    tx.verify(|outpoint| spent.get(outpoint).cloned())
        .unwrap_or_else(|e| {
            panic!(
                "final transaction {} fails Bitcoin Core's script checks: {e}",
                tx.compute_txid()
            )
        });
}

fn hex_tx(text: &str) -> Transaction {
    let bytes = hex::decode(text.trim()).expect("final transaction is hex");
    bitcoin::consensus::deserialize(&bytes).expect("final transaction deserializes")
}

/// verify_psbt.py (embit): both cosigners validly signed every input, and embit finalizes it.
/// Returns the final transaction.
fn assert_peer_finalizes(
    signed: &Path,
    original: &Path,
    cosigners: [u32; 2],
    dir: &Path,
) -> Transaction {
    let final_hex = dir.join(format!(
        "final-{}.hex",
        signed.file_name().unwrap().to_string_lossy()
    ));
    let signers = format!(
        "{},{}",
        FINGERPRINTS[cosigners[0] as usize], FINGERPRINTS[cosigners[1] as usize]
    );
    let (code, report) = run_script(
        "python3",
        "verify_psbt.py",
        &[
            path_str(signed),
            "--origins-from",
            path_str(original),
            "--require-finalized",
            "--require-signers",
            &signers,
            "--final-tx-out",
            path_str(&final_hex),
        ],
    );
    assert_eq!(code, 0, "embit's verdict on {}: {report}", signed.display());
    assert_eq!(report["all_signatures_valid"], true, "{report}");
    hex_tx(&std::fs::read_to_string(final_hex).expect("final transaction written"))
}

/// Airlock and Electrum each add cosigner 0's signatures to the benchmark PSBT with `inputs` inputs:
/// every partial signature must be byte-identical, by public key, checked here and by the
/// peer-side `compare_sigs.py`.
fn signatures_byte_identical_to_electrums(inputs: usize) {
    let Some(bench) = peers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let unsigned = bench.join(format!("psbt_{inputs}.b64"));
    let electrum_path = dir.path().join("electrum.psbt");
    let airlock_path = dir.path().join("airlock.psbt");
    peer_sign("electrum", 0, &unsigned, &electrum_path);
    let airlock = airlock_sign(&bench, 0, &unsigned, &airlock_path);

    let electrum = read_psbt(&electrum_path);
    assert_eq!(electrum.unsigned_tx, airlock.unsigned_tx);
    assert_eq!(airlock.inputs.len(), inputs);
    for (i, (ours, theirs)) in airlock.inputs.iter().zip(&electrum.inputs).enumerate() {
        assert_eq!(
            ours.partial_sigs.len(),
            1,
            "input {i}: Airlock adds one signature"
        );
        assert_eq!(
            ours.partial_sigs
                .iter()
                .map(|(k, s)| (k, s.to_vec()))
                .collect::<Vec<_>>(),
            theirs
                .partial_sigs
                .iter()
                .map(|(k, s)| (k, s.to_vec()))
                .collect::<Vec<_>>(),
            "input {i}: signatures differ from Electrum's"
        );
    }
    let (code, verdict) = run_script(
        "python3",
        "compare_sigs.py",
        &[path_str(&airlock_path), path_str(&electrum_path)],
    );
    assert_eq!(code, 0, "{verdict}");
    assert_eq!(verdict["identical"], true, "{verdict}");
    assert_eq!(verdict["compared"], inputs, "{verdict}");
}

#[test]
fn airlock_signatures_on_psbt_100_are_byte_identical_to_electrums() {
    signatures_byte_identical_to_electrums(100);
}

#[test]
fn airlock_signatures_on_psbt_1000_are_byte_identical_to_electrums() {
    signatures_byte_identical_to_electrums(1000);
}

/// Airlock signs psbt_100 as cosigner 0 and `peer` adds cosigner `second`: the result must finalize
/// by the peer's finalizer (embit's, after checking every signature) into a transaction that Bitcoin
/// Core's interpreter accepts. Returns the paths (Airlock-signed, cosigned) and the final transaction.
fn peer_cosigns_airlock_psbt(
    peer: &str,
    second: u32,
    dir: &Path,
) -> Option<(PathBuf, PathBuf, PathBuf, Transaction)> {
    let bench = peers()?;
    let unsigned_path = bench.join("psbt_100.b64");
    let airlock_path = dir.join("airlock.psbt");
    let both_path = dir.join(format!("airlock+{peer}.psbt"));
    let unsigned = read_psbt(&unsigned_path);
    airlock_sign(&bench, 0, &unsigned_path, &airlock_path);
    peer_sign(peer, second, &airlock_path, &both_path);

    let by_peer = assert_peer_finalizes(&both_path, &airlock_path, [0, second], dir);
    assert_eq!(by_peer.compute_txid(), unsigned.unsigned_tx.compute_txid());
    assert_consensus_valid(&by_peer, &unsigned);
    Some((bench, airlock_path, both_path, by_peer))
}

/// The coordinator's flow after a peer cosigned: combine the returned PSBT with Airlock's own copy,
/// verify and finalize with Airlock; the final transaction must equal the peer-finalized one.
fn airlock_combines_and_finalizes(
    bench: &Path,
    airlock_path: &Path,
    both_path: &Path,
    by_peer: &Transaction,
    peer: &str,
) {
    let vault = vault(bench);
    let unsigned = read_psbt(&bench.join("psbt_100.b64"));
    let mut both = combine(
        &vault,
        vec![read_psbt(airlock_path), read_psbt(both_path)],
        &ReviewPolicy::default(),
    )
    .unwrap_or_else(|e| panic!("Airlock cannot combine the PSBT {peer} cosigned: {e}"));
    let by_airlock = finalize(&vault, &mut both, &ReviewPolicy::default())
        .unwrap_or_else(|e| panic!("Airlock cannot finalize the PSBT {peer} cosigned: {e}"));
    assert_consensus_valid(&by_airlock, &unsigned);
    assert_eq!(
        bitcoin::consensus::serialize(&by_airlock),
        bitcoin::consensus::serialize(by_peer),
        "Airlock's and {peer}'s final transactions differ"
    );
}

#[test]
fn electrum_cosigns_an_airlock_signed_psbt_and_it_finalizes() {
    let dir = tempfile::tempdir().unwrap();
    let Some((_, _, both_path, _)) = peer_cosigns_airlock_psbt("electrum", 1, dir.path()) else {
        return;
    };
    // Electrum finalizes every input it completes (and clears its partial signatures, as BIP-174
    // asks): the returned PSBT is already final.
    let both = read_psbt(&both_path);
    assert!(
        both.inputs
            .iter()
            .all(|i| i.final_script_witness.is_some() && i.partial_sigs.is_empty())
    );
}

#[test]
fn airlock_combines_and_finalizes_what_electrum_cosigned() {
    let dir = tempfile::tempdir().unwrap();
    let Some((bench, airlock_path, both_path, by_peer)) =
        peer_cosigns_airlock_psbt("electrum", 1, dir.path())
    else {
        return;
    };
    airlock_combines_and_finalizes(&bench, &airlock_path, &both_path, &by_peer, "electrum");

    // Electrum's final witnesses are checked, not trusted: a flipped bit in a signature, or a
    // signature with another sighash type, is refused.
    let vault = vault(&bench);
    let policy = ReviewPolicy::default();
    let mut tampered = read_psbt(&both_path);
    let witness = tampered.inputs[0].final_script_witness.as_mut().unwrap();
    let mut elements: Vec<Vec<u8>> = witness.iter().map(|e| e.to_vec()).collect();
    let sig = elements
        .iter()
        .position(|e| e.len() > 60 && e.len() < 75)
        .unwrap();
    elements[sig][10] ^= 1;
    *witness = bitcoin::Witness::from_slice(&elements);
    let mut combined = combine(
        &vault,
        vec![read_psbt(&airlock_path), tampered.clone()],
        &policy,
    )
    .expect("the tampered signature still parses");
    let err = finalize(&vault, &mut combined, &policy)
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not satisfy its script"), "{err}");
    let last = elements[sig].len() - 1;
    elements[sig][10] ^= 1;
    elements[sig][last] = 0x83; // SIGHASH_SINGLE | ANYONECANPAY
    *tampered.inputs[0].final_script_witness.as_mut().unwrap() =
        bitcoin::Witness::from_slice(&elements);
    let err = combine(&vault, vec![read_psbt(&airlock_path), tampered], &policy)
        .unwrap_err()
        .to_string();
    assert!(err.contains("sighash ALL"), "{err}");
}

#[test]
fn embit_cosigns_an_airlock_signed_psbt_and_airlock_finalizes_it_too() {
    let dir = tempfile::tempdir().unwrap();
    let Some((bench, airlock_path, both_path, by_peer)) =
        peer_cosigns_airlock_psbt("embit", 2, dir.path())
    else {
        return;
    };
    airlock_combines_and_finalizes(&bench, &airlock_path, &both_path, &by_peer, "embit");
}

#[test]
fn bdkpython_cosigns_an_airlock_signed_psbt_and_airlock_finalizes_it_too() {
    let dir = tempfile::tempdir().unwrap();
    let Some((bench, airlock_path, both_path, by_peer)) =
        peer_cosigns_airlock_psbt("bdk", 1, dir.path())
    else {
        return;
    };
    airlock_combines_and_finalizes(&bench, &airlock_path, &both_path, &by_peer, "bdkpython");
}

#[test]
fn airlock_signs_a_psbt_made_by_bdkpython() {
    let Some(bench) = peers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let made_path = dir.path().join("bdk-made.psbt");
    let (code, made) = run_script(
        "python3",
        "make_psbt_bdk.py",
        &["--out", path_str(&made_path)],
    );
    assert_eq!(code, 0, "bdkpython could not make the PSBT: {made}");
    let unsigned = read_psbt(&made_path);
    assert_eq!(
        unsigned.inputs.len(),
        made["inputs"].as_u64().unwrap() as usize
    );
    assert!(
        unsigned.inputs.len() >= 2,
        "the bdkpython PSBT spends several inputs: {made}"
    );

    let airlock_path = dir.path().join("bdk-made+airlock.psbt");
    let signed = airlock_sign(&bench, 0, &made_path, &airlock_path);
    // Airlock's review recognised bdkpython's change output as change (it pays back to the vault).
    let report = airlock_chain_bitcoin::review(&vault(&bench), &unsigned, &ReviewPolicy::default())
        .expect("review");
    assert_eq!(
        report.payments_total().to_sat(),
        made["payment"]["value"].as_u64().unwrap(),
        "{made}"
    );
    assert_eq!(
        signed
            .inputs
            .iter()
            .map(|i| i.partial_sigs.len())
            .sum::<usize>(),
        unsigned.inputs.len()
    );

    // Electrum signs the same bdkpython PSBT as cosigner 0: the same signatures byte for byte.
    let electrum_path = dir.path().join("bdk-made+electrum.psbt");
    peer_sign("electrum", 0, &made_path, &electrum_path);
    let (code, verdict) = run_script(
        "python3",
        "compare_sigs.py",
        &[path_str(&airlock_path), path_str(&electrum_path)],
    );
    assert_eq!(code, 0, "{verdict}");

    // Electrum adds cosigner 2 to Airlock's signatures and finalizes; the transaction is valid.
    let both_path = dir.path().join("bdk-made+airlock+electrum.psbt");
    peer_sign("electrum", 2, &airlock_path, &both_path);
    let final_tx = assert_peer_finalizes(&both_path, &airlock_path, [0, 2], dir.path());
    assert_eq!(final_tx.compute_txid(), unsigned.unsigned_tx.compute_txid());
    assert_consensus_valid(&final_tx, &unsigned);
}

#[test]
fn the_peer_verifier_rejects_a_corrupted_airlock_signature() {
    // Guards the checks above: a signature altered after signing must be caught by the peer side.
    let Some(bench) = peers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let unsigned_path = bench.join("psbt_100.b64");
    let airlock_path = dir.path().join("airlock.psbt");
    let mut psbt = airlock_sign(&bench, 0, &unsigned_path, &airlock_path);
    let (pubkey, signature) = psbt.inputs[7]
        .partial_sigs
        .iter()
        .next()
        .map(|(k, s)| (*k, *s))
        .unwrap();
    // Re-sign input 7's slot with a signature over a different message: valid DER, wrong sighash.
    let other = bitcoin::secp256k1::Message::from_digest([7u8; 32]);
    let secp = bitcoin::secp256k1::Secp256k1::new();
    let stray = bitcoin::secp256k1::SecretKey::from_slice(&[1u8; 32]).unwrap();
    let corrupted = bitcoin::ecdsa::Signature {
        signature: secp.sign_ecdsa_low_r(&other, &stray),
        sighash_type: signature.sighash_type,
    };
    psbt.inputs[7].partial_sigs.insert(pubkey, corrupted);
    let corrupted_path = dir.path().join("corrupted.psbt");
    std::fs::write(&corrupted_path, serialize_psbt(&psbt)).unwrap();

    let (code, report) = run_script(
        "python3",
        "verify_psbt.py",
        &[
            path_str(&corrupted_path),
            "--require-signers",
            FINGERPRINTS[0],
        ],
    );
    assert_eq!(code, 1, "the corrupted signature went unnoticed: {report}");
    assert_eq!(report["all_signatures_valid"], false, "{report}");
    assert_eq!(report["invalid_signatures"][0]["input"], 7, "{report}");
    let (code, verdict) = run_script(
        "python3",
        "compare_sigs.py",
        &[path_str(&corrupted_path), path_str(&airlock_path)],
    );
    assert_eq!(code, 1, "{verdict}");
    assert_eq!(verdict["different"][0]["input"], 7, "{verdict}");
}

/// PSBTs proposed by Airlock's own coordinator (the `online` half): the watch-only vault of the
/// same wallet, funded by hand-fed transactions, builds a payment with change; the peers sign it.
mod coordinator {
    use super::*;
    use airlock_chain_bitcoin_online::{BlockConfirmation, KeychainKind, WatchOnlyVault};
    use bitcoin::{
        Amount, OutPoint, ScriptBuf, Sequence, TxIn, TxOut, Txid, Witness, absolute, transaction,
    };

    /// A synthetic transaction paying `value` to `script` (spends a made-up outpoint).
    fn funding(label: &str, script: ScriptBuf, value: u64) -> Transaction {
        Transaction {
            version: transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::new(
                    Txid::from_raw_hash(bitcoin::hashes::sha256d::Hash::hash(label.as_bytes())),
                    0,
                ),
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(value),
                script_pubkey: script,
            }],
        }
    }

    /// Airlock's coordinator proposes a 3-input payment (two receive coins, one change coin) with
    /// change; the PSBT is written to `dir/airlock-proposal.psbt`.
    fn airlock_proposal(bench: &Path, dir: &Path) -> (PathBuf, Psbt) {
        let descriptor = vault(bench).descriptor_text();
        let mut watch_only =
            WatchOnlyVault::create(&dir.join("vault.sqlite"), &descriptor, Network::Regtest)
                .expect("the coordinator creates the watch-only vault");
        let coins = [
            (KeychainKind::External, 0, 120_000),
            (KeychainKind::External, 3, 250_000),
            (KeychainKind::Internal, 1, 90_000),
        ];
        for (n, (keychain, index, value)) in coins.into_iter().enumerate() {
            let address = watch_only
                .peek_address(keychain, index)
                .expect("address")
                .address;
            let tx = funding(
                &format!("coordinator funding {n}"),
                address.script_pubkey(),
                value,
            );
            watch_only
                .add_raw_transaction(
                    &bitcoin::consensus::serialize(&tx),
                    Some(BlockConfirmation::at(
                        100 + n as u32,
                        1_700_000_000 + n as u64 * 600,
                    )),
                )
                .expect("the coordinator accepts the funding transaction");
        }
        // A foreign P2WSH payee (not the vault's); the whole balance is needed, so all 3 coins go in.
        let payee = bitcoin::Address::p2wsh(
            &ScriptBuf::from_bytes(b"airlock interop payee".to_vec()),
            Network::Regtest,
        )
        .to_string();
        let psbt = watch_only
            .build_payment(&[(payee.as_str(), 400_000)], 3.0)
            .expect("the coordinator builds the payment");
        assert_eq!(psbt.inputs.len(), 3, "all three coins are spent");
        assert_eq!(psbt.outputs.len(), 2, "payment and change");
        let path = dir.join("airlock-proposal.psbt");
        std::fs::write(&path, serialize_psbt(&psbt)).expect("write proposal");
        (path, psbt)
    }

    /// Each peer signs Airlock's proposal first (cosigner 1), Airlock adds cosigner 0, and the
    /// result finalizes by embit's finalizer and by Airlock's, valid under Bitcoin Core's rules.
    fn peer_signs_airlock_proposal(peer: &str) {
        let Some(bench) = peers() else { return };
        let dir = tempfile::tempdir().unwrap();
        let (proposal_path, proposal) = airlock_proposal(&bench, dir.path());

        let by_peer_path = dir.path().join(format!("proposal+{peer}.psbt"));
        let report = peer_sign(peer, 1, &proposal_path, &by_peer_path);
        assert_eq!(
            report["partial_signatures_after"], 3,
            "{peer} signs all 3 inputs: {report}"
        );

        let both_path = dir.path().join(format!("proposal+{peer}+airlock.psbt"));
        airlock_sign(&bench, 0, &by_peer_path, &both_path);
        let by_embit = assert_peer_finalizes(&both_path, &proposal_path, [0, 1], dir.path());
        assert_eq!(by_embit.compute_txid(), proposal.unsigned_tx.compute_txid());
        assert_consensus_valid(&by_embit, &proposal);

        let mut both = read_psbt(&both_path);
        let by_airlock = finalize(&vault(&bench), &mut both, &ReviewPolicy::default())
            .unwrap_or_else(|e| {
                panic!("Airlock cannot finalize its proposal cosigned by {peer}: {e}")
            });
        assert_eq!(
            bitcoin::consensus::serialize(&by_airlock),
            bitcoin::consensus::serialize(&by_embit)
        );
    }

    #[test]
    fn electrum_signs_a_payment_proposed_by_airlocks_coordinator() {
        peer_signs_airlock_proposal("electrum");
    }

    #[test]
    fn embit_signs_a_payment_proposed_by_airlocks_coordinator() {
        peer_signs_airlock_proposal("embit");
    }

    #[test]
    fn bdkpython_signs_a_payment_proposed_by_airlocks_coordinator() {
        peer_signs_airlock_proposal("bdk");
    }
}

// ---- Hardware-wallet formats: Python `urtypes` 1.0.1 (Passport, Krux) and embit as the
// independent reader and writer of BC-UR registry CBOR (`scripts/peers/bitcoin/ur_registry.py`).

/// Whether urtypes and embit are there (same skip/fail rule as [`peers`]).
fn registry_peers() -> bool {
    if python_imports("python3", "embit, urtypes.crypto") {
        return true;
    }
    let message = "UR registry interop: missing urtypes 1.0.1 / embit 0.8.0; run scripts/install-bitcoin-peers.sh";
    if std::env::var_os("AIRLOCK_REQUIRE_PEERS").is_some() {
        panic!("{message} (AIRLOCK_REQUIRE_PEERS is set, so this fails)");
    }
    eprintln!("SKIPPED: {message}");
    false
}

#[test]
fn urtypes_reads_airlocks_crypto_output_and_embit_derives_the_same_first_address() {
    use airlock_chain_bitcoin::devices::{self, ur_registry};
    if !registry_peers() {
        return;
    }
    let keys: Vec<_> = (0..3u8)
        .map(|i| {
            let k = SignerKey::from_seed(&[i + 7; 32], Network::Testnet).unwrap();
            let path = k.multisig_path(0);
            (k.fingerprint(), path.clone(), k.xpub_at(&path).unwrap())
        })
        .collect();
    for nested in [false, true] {
        let vault = devices::multisig_vault(2, nested, &keys, Network::Testnet).unwrap();
        let cbor = ur_registry::encode_multisig_output(nested, 2, &keys);
        let (code, out) = run_script(
            "python3",
            "ur_registry.py",
            &["decode-output", &hex::encode(&cbor), "--network", "test"],
        );
        assert_eq!(code, 0, "{out}");
        let descriptor = out["descriptor"].as_str().unwrap();
        assert!(
            descriptor.starts_with(if nested {
                "sh(wsh(sortedmulti(2,["
            } else {
                "wsh(sortedmulti(2,["
            }),
            "{descriptor}"
        );
        for k in vault.keys() {
            assert!(
                descriptor.contains(&k.with_origin()),
                "{descriptor} lacks {}",
                k.with_origin()
            );
        }
        assert_eq!(
            out["first_receive_address"].as_str().unwrap(),
            vault.first_receive_address().unwrap().to_string()
        );
    }
}

#[test]
fn airlock_reads_a_crypto_account_written_by_urtypes() {
    use airlock_chain_bitcoin::devices::{DeviceExport, KeyScript, read_ur};
    if !registry_peers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let words = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    let file = dir.path().join("words.txt");
    std::fs::write(&file, words).unwrap();
    let (code, out) = run_script(
        "python3",
        "ur_registry.py",
        &[
            "encode-account",
            "--mnemonic-file",
            path_str(&file),
            "--network",
            "test",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let cbor = hex::decode(out["cbor"].as_str().unwrap()).unwrap();
    let export = read_ur("crypto-account", &cbor, Network::Testnet).unwrap();
    let DeviceExport::Keys { keys, .. } = &export else {
        panic!("{export:?}")
    };
    let peer_keys: Vec<&str> = out["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    let ours: Vec<String> = keys.iter().map(|k| k.with_origin()).collect();
    assert_eq!(ours, peer_keys);
    assert_eq!(
        keys.iter().map(|k| k.script).collect::<Vec<_>>(),
        [KeyScript::MultisigWsh, KeyScript::Wpkh, KeyScript::Taproot]
    );
    // Each key alone, as a crypto-hdkey urtypes wrote.
    for (hdkey, want) in out["hdkeys"].as_array().unwrap().iter().zip(&peer_keys) {
        let cbor = hex::decode(hdkey.as_str().unwrap()).unwrap();
        let DeviceExport::Keys { keys, .. } =
            read_ur("crypto-hdkey", &cbor, Network::Testnet).unwrap()
        else {
            panic!("not keys")
        };
        assert_eq!(keys[0].with_origin(), *want);
    }
    // And both agree with Airlock's own signer key for the mnemonic.
    let seed = bip39::Mnemonic::parse(words).unwrap().to_seed("");
    let signer = SignerKey::from_seed(&seed, Network::Testnet).unwrap();
    assert_eq!(
        export.multisig_key().unwrap().with_origin(),
        signer.export_multisig_key().unwrap()
    );
}

#[test]
fn urtypes_reads_the_crypto_account_an_airlock_signer_exports() {
    use airlock_chain_bitcoin::devices::{self, ur_registry};
    if !registry_peers() {
        return;
    }
    let key = SignerKey::from_seed(&[42u8; 32], Network::Testnet).unwrap();
    let keys = devices::account_keys(&key, 0).unwrap();
    let triples: Vec<_> = keys
        .iter()
        .map(|k| (k.script, k.path.clone(), k.xpub))
        .collect();
    let cbor = ur_registry::encode_account(key.fingerprint(), &triples);
    let (code, out) = run_script(
        "python3",
        "ur_registry.py",
        &["decode-account", &hex::encode(&cbor)],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["fingerprint"], key.fingerprint().to_string());
    let descriptors: Vec<&str> = out["descriptors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().split('#').next().unwrap())
        .collect();
    let want = [
        "wsh(cosigner({}))",
        "sh(wsh(cosigner({})))",
        "wpkh({})",
        "sh(wpkh({}))",
        "tr({})",
    ];
    assert_eq!(descriptors.len(), want.len());
    for ((d, w), k) in descriptors.iter().zip(want).zip(&keys) {
        assert_eq!(*d, w.replace("{}", &k.with_origin()), "{}", k.script.name());
    }
}
