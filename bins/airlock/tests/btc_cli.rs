//! Bitcoin end to end through the real binaries. No Bitcoin node can run here, so coins arrive as
//! Electrum's `addtransaction` does (`airlock btc add-tx`), and every final transaction is judged
//! by Bitcoin Core's own script interpreter (`bitcoinconsensus`, all spent outputs).
//!
//! Keys: cosigner i's BIP-32 seed is SHA-256("seed<i>"), the keys of the shared PSBT benchmark
//! (`keys.json` there gives their fingerprints and BIP-48 tpubs, checked here).

mod common;

use std::path::Path;

use airlock_chain_bitcoin::bitcoin::consensus::encode::{deserialize, serialize};
use airlock_chain_bitcoin::bitcoin::hashes::Hash;
use airlock_chain_bitcoin::bitcoin::{
    Address, Amount, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid,
    Witness, absolute, transaction,
};
use common::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const FINGERPRINTS: [&str; 3] = ["350826d2", "74ee38f0", "886fee83"];

/// A signer whose Bitcoin key is the BIP-32 seed `seed_hex`; returns (identity, BIP-48 multisig
/// key on regtest).
fn btc_key(w: &World, who: &str, seed_hex: &str) -> (String, String, serde_json::Value) {
    let id = w.init_signer(who);
    let seed = w.p(&format!("{who}.seed"));
    std::fs::write(&seed, seed_hex).unwrap();
    let out = w
        .signer(
            who,
            &[
                "--json",
                "key",
                "add",
                "--chain",
                "bitcoin",
                "--secret-file",
                s(&seed),
                "--network",
                "regtest",
            ],
        )
        .ok()
        .json();
    let key = out["multisig_key"].as_str().unwrap().to_owned();
    (id, key, out)
}

/// A signer with cosigner `i`'s seed; returns (identity, BIP-48 multisig key).
fn btc_signer(w: &World, who: &str, i: usize) -> (String, String) {
    use sha2::Digest;
    let seed = hex::encode(sha2::Sha256::digest(format!("seed{i}")));
    let (id, key, out) = btc_key(w, who, &seed);
    assert_eq!(out["fingerprint"], FINGERPRINTS[i]);
    assert!(
        key.starts_with(&format!("[{}/48'/1'/0'/2']tpub", FINGERPRINTS[i])),
        "{key}"
    );
    (id, key)
}

fn funding(to: &str, sats: u64, salt: u8) -> Transaction {
    let address: Address = to
        .parse::<Address<_>>()
        .unwrap()
        .require_network(Network::Regtest)
        .unwrap();
    Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: Txid::from_byte_array([salt; 32]),
                vout: 0,
            },
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(sats),
            script_pubkey: address.script_pubkey(),
        }],
    }
}

fn consensus_verify(tx: &Transaction, spent: &[TxOut]) {
    let bytes = serialize(tx);
    let utxos: Vec<bitcoinconsensus::Utxo> = spent
        .iter()
        .map(|o| bitcoinconsensus::Utxo {
            script_pubkey: o.script_pubkey.as_bytes().as_ptr(),
            script_pubkey_len: o.script_pubkey.len() as u32,
            value: o.value.to_sat() as i64,
        })
        .collect();
    let flags = bitcoinconsensus::VERIFY_ALL_PRE_TAPROOT | bitcoinconsensus::VERIFY_TAPROOT;
    for (i, o) in spent.iter().enumerate() {
        bitcoinconsensus::verify_with_flags(
            o.script_pubkey.as_bytes(),
            o.value.to_sat(),
            &bytes,
            Some(&utxos),
            i,
            flags,
        )
        .unwrap_or_else(|e| panic!("Bitcoin Core refuses input {i}: {e:?}"));
    }
}

/// A foreign regtest address (BIP-84 key of another seed).
const PAYEE: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

/// 2-of-3 `wsh(sortedmulti)`: keys exported by the signers, the descriptor assembled by the
/// coordinator, every device shows the same wallet fingerprint and first address; a payment is
/// approved by two, finalized, accepted by Bitcoin Core's interpreter and fed back; the change
/// re-derives; then a sweep to a rotated descriptor.
#[test]
fn multisig_vault_pays_and_sweeps_to_a_rotated_descriptor() {
    let w = World::new();
    w.init_coordinator();
    let (alice, ka) = btc_signer(&w, "alice", 0);
    let (bob, kb) = btc_signer(&w, "bob", 1);
    let (carol, kc) = btc_signer(&w, "carol", 2);
    let desc = w
        .airlock(&[
            "--json",
            "btc",
            "descriptor",
            "--threshold",
            "2",
            "--key",
            &ka,
            "--key",
            &kb,
            "--key",
            &kc,
            "--network",
            "regtest",
        ])
        .ok()
        .json();
    let descriptor = desc["descriptor"].as_str().unwrap().to_owned();
    let fingerprint = desc["wallet_fingerprint"].as_str().unwrap().to_owned();
    let first = desc["first_receive_address"].as_str().unwrap().to_owned();
    let vault_file = w.make_vault(
        &[
            "--vault",
            "cold",
            "--chain",
            "bitcoin",
            "--network",
            "regtest",
            "--account",
            &descriptor,
            "--signer",
            &format!("alice:ops:{alice}:{ka}"),
            "--signer",
            &format!("bob:ops:{bob}:{kb}"),
            "--signer",
            &format!("carol:ops:{carol}:{kc}"),
            "--threshold",
            "2",
            "--rule",
            "all: => 2 ops",
        ],
        &["alice", "bob", "carol"],
        &["alice", "bob", "carol"],
    );
    // Every device shows the same fingerprint and first receive address.
    let shown = w.signer("carol", &["inspect", s(&vault_file)]).ok().stdout;
    let registered = w.signer("bob", &["vault", "show", "cold"]);
    let text = format!("{shown}\n{}", registered.stdout);
    assert!(
        text.contains(&fingerprint) && text.contains(&first),
        "the signer shows the wallet fingerprint and first address: {text}"
    );

    // Funding by hand.
    let receive = w
        .airlock(&["--json", "btc", "receive", "--vault", "cold"])
        .ok()
        .json();
    assert_eq!(receive["address"], first.as_str());
    let fund = funding(&first, 1_000_000, 7);
    w.airlock(&[
        "btc",
        "add-tx",
        "--vault",
        "cold",
        &hex::encode(serialize(&fund)),
        "--height",
        "100",
    ])
    .ok();
    let balance = w
        .airlock(&["--json", "btc", "balance", "--vault", "cold"])
        .ok()
        .json();
    assert_eq!(balance["confirmed"], 1_000_000);

    // A payment: proposed with the default fee rate, approved by two of three.
    let (p, bundle) = w.propose("cold", &format!("{PAYEE}:300000"), &[]);
    let review = w
        .signer("alice", &["--json", "review", s(&bundle)])
        .ok()
        .json();
    assert_eq!(review["can_approve"], true, "{review}");
    assert_eq!(review["payments"][0][0], PAYEE);
    assert_eq!(
        review["change"].as_array().unwrap().len(),
        1,
        "change re-derived: {review}"
    );
    let x = w.approve("alice", &bundle);
    let y = w.approve("bob", &bundle);
    w.submit(&[&x, &y]).ok();
    w.airlock(&["finalize", &p]).ok();
    let exported = w.airlock(&["--json", "btc", "export-tx", &p]).ok().json();
    let tx: Transaction =
        deserialize(&hex::decode(exported["hex"].as_str().unwrap()).unwrap()).unwrap();
    consensus_verify(&tx, &[fund.output[0].clone()]);
    assert!(
        tx.output
            .iter()
            .any(|o| o.value == Amount::from_sat(300_000))
    );
    // No backend: broadcast refuses and says how to proceed; the transaction is fed back by hand.
    w.airlock(&["broadcast", &p]).fails(1, "export-tx");
    w.airlock(&[
        "btc",
        "add-tx",
        "--vault",
        "cold",
        exported["hex"].as_str().unwrap(),
        "--height",
        "101",
    ])
    .ok();
    let balance = w
        .airlock(&["--json", "btc", "balance", "--vault", "cold"])
        .ok()
        .json();
    let change = balance["confirmed"].as_u64().unwrap();
    let fee = 1_000_000 - 300_000 - change;
    assert!(fee > 0 && fee < 2_000, "fee {fee}");

    // A plain PSBT (as Sparrow would hand it over) signed outside the proposal flow.
    let (q, bundle) = w.propose("cold", &format!("{PAYEE}:100000"), &[]);
    let plain = w.p("plain.psbt");
    w.airlock(&["btc", "export-psbt", &q, "--out", s(&plain), "--base64"])
        .ok();
    let signed = w.p("plain.signed.psbt");
    let out = w
        .signer(
            "carol",
            &[
                "--json",
                "psbt",
                "sign",
                s(&plain),
                "--vault",
                "cold",
                "--out",
                s(&signed),
                "--yes",
            ],
        )
        .ok()
        .json();
    assert_eq!(out["signed_inputs"], 1);
    assert!(out["unlock"]["wall_ms"].as_f64().is_some());
    drop(bundle);

    // Rotation: carol out, dave in; the coins are swept to the new descriptor.
    let (dave, kd, _) = btc_key(&w, "dave", &"11".repeat(32));
    let new_desc = w
        .airlock(&[
            "--json",
            "btc",
            "descriptor",
            "--threshold",
            "2",
            "--key",
            &ka,
            "--key",
            &kb,
            "--key",
            &kd,
            "--network",
            "regtest",
        ])
        .ok()
        .json();
    let new_descriptor = new_desc["descriptor"].as_str().unwrap().to_owned();
    let new_first = new_desc["first_receive_address"]
        .as_str()
        .unwrap()
        .to_owned();
    // The payment proposal q is still open and spends the only coin: cancel-by-conflict shows.
    w.airlock(&[
        "btc",
        "sweep",
        "--vault",
        "cold",
        "--to-descriptor",
        &new_descriptor,
    ])
    .fails(1, "already spent by an open proposal");
    w.set_now(T0 + 3 * 24 * HOUR); // q expires
    let out = w
        .airlock(&[
            "--json",
            "btc",
            "sweep",
            "--vault",
            "cold",
            "--to-descriptor",
            &new_descriptor,
            "--out",
            s(&w.p("sweep.bundle")),
        ])
        .ok()
        .json();
    let sweep = out["proposal"].as_str().unwrap().to_owned();
    assert_eq!(out["payments"][0][0], new_first.as_str());
    let x = w.approve("alice", &w.p("sweep.bundle"));
    let y = w.approve("bob", &w.p("sweep.bundle"));
    w.submit(&[&x, &y]).ok();
    w.airlock(&["finalize", &sweep]).ok();
    let exported = w
        .airlock(&["--json", "btc", "export-tx", &sweep])
        .ok()
        .json();
    let tx: Transaction =
        deserialize(&hex::decode(exported["hex"].as_str().unwrap()).unwrap()).unwrap();
    let spent: Vec<TxOut> = {
        let pay: Transaction = deserialize(
            &hex::decode(
                w.airlock(&["--json", "btc", "export-tx", &p]).ok().json()["hex"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        tx.input
            .iter()
            .map(|i| pay.output[i.previous_output.vout as usize].clone())
            .collect()
    };
    consensus_verify(&tx, &spent);
    assert_eq!(tx.output.len(), 1);
    let new_address: Address = new_first.parse::<Address<_>>().unwrap().assume_checked();
    assert_eq!(tx.output[0].script_pubkey, new_address.script_pubkey());
    // Vault v2 with dave; the new descriptor is the account.
    w.make_vault(
        &[
            "--vault",
            "cold",
            "--account",
            &new_descriptor,
            "--remove-signer",
            "carol",
            "--add-signer",
            &format!("dave:ops:{dave}:{kd}"),
        ],
        &["alice", "bob", "dave"],
        &["alice", "bob", "dave"],
    );
}

/// Refusals: a PSBT of another vault is not signed; a descriptor with a duplicate key, a
/// wrong-network key or a private key is refused; a wrong-network payee is refused before
/// anything is proposed.
#[test]
fn bitcoin_bad_input_is_refused() {
    let w = World::new();
    w.init_coordinator();
    let (alice, ka) = btc_signer(&w, "alice", 0);
    let (_bob, kb) = btc_signer(&w, "bob", 1);
    w.airlock(&[
        "btc",
        "descriptor",
        "--threshold",
        "2",
        "--key",
        &ka,
        "--key",
        &ka,
        "--network",
        "regtest",
    ])
    .fails(1, "duplicate");
    w.airlock(&[
        "btc",
        "descriptor",
        "--threshold",
        "1",
        "--key",
        &ka,
        "--network",
        "bitcoin",
    ])
    .fails(1, "network");
    let desc = w
        .airlock(&[
            "--json",
            "btc",
            "descriptor",
            "--threshold",
            "1",
            "--key",
            &ka,
            "--key",
            &kb,
            "--network",
            "regtest",
        ])
        .ok()
        .json();
    let descriptor = desc["descriptor"].as_str().unwrap().to_owned();
    w.make_vault(
        &[
            "--vault",
            "hot",
            "--chain",
            "bitcoin",
            "--network",
            "regtest",
            "--account",
            &descriptor,
            "--signer",
            &format!("alice:ops:{alice}:{ka}"),
            "--threshold",
            "1",
            "--rule",
            "all: => 1 ops",
        ],
        &["alice"],
        &["alice"],
    );
    let first = desc["first_receive_address"].as_str().unwrap();
    // BSMS (BIP-129) round trip: the record re-derives the same descriptor and first address.
    let record = w
        .airlock(&["--json", "btc", "export", "--vault", "hot", "--bsms"])
        .ok()
        .json();
    let record_file = w.p("hot.bsms");
    std::fs::write(&record_file, record["text"].as_str().unwrap()).unwrap();
    let back = w
        .airlock(&[
            "--json",
            "btc",
            "descriptor",
            "--from-bsms",
            s(&record_file),
            "--network",
            "regtest",
        ])
        .ok()
        .json();
    assert_eq!(back["first_receive_address"], first);
    assert_eq!(back["wallet_fingerprint"], desc["wallet_fingerprint"]);
    let tampered = record["text"]
        .as_str()
        .unwrap()
        .replace(first, "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080");
    std::fs::write(&record_file, tampered).unwrap();
    w.airlock(&[
        "btc",
        "descriptor",
        "--from-bsms",
        s(&record_file),
        "--network",
        "regtest",
    ])
    .fails(1, "address");
    let fund = funding(first, 50_000, 9);
    w.airlock(&[
        "btc",
        "add-tx",
        "--vault",
        "hot",
        &hex::encode(serialize(&fund)),
        "--height",
        "10",
    ])
    .ok();
    w.airlock(&[
        "propose",
        "--vault",
        "hot",
        "--to",
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4:1000",
    ])
    .fails(1, "network");
    w.airlock(&["btc", "add-tx", "--vault", "hot", "00ff"])
        .fails(1, "transaction");
    // The benchmark's PSBT spends another wallet's coins: alice refuses to sign it.
    let other =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/psbt-sign/psbt_100.b64");
    w.signer(
        "alice",
        &[
            "psbt",
            "sign",
            s(&other),
            "--vault",
            "hot",
            "--out",
            s(&w.p("x.psbt")),
            "--yes",
        ],
    )
    .fails(1, "does not belong to the vault");
    assert!(!w.p("x.psbt").exists());
}
