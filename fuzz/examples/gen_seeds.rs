//! Writes the committed seed corpora under `fuzz/seeds/<target>/`: real, valid inputs made with
//! Airlock's own encoders (artifacts, envelopes, PSBTs spending the harness vaults, QR frames,
//! SLIP-39 shares, keystore files, Monero files, Ethereum payloads), plus the official SLIP-39
//! vectors and the keystore v3 vectors already in the repository. The `get_blocks.bin` seed is a
//! capture from monerod (see `fuzz/README.md`) and is not made here.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example gen_seeds` (stable is fine). Seeds whose
//! bytes are random each run (signatures over fresh nonces, salts) are rewritten; the others come
//! out identical.

use std::fs;
use std::path::{Path, PathBuf};

use airlock_chain_bitcoin::bitcoin::hashes::Hash as _;
use airlock_chain_bitcoin::bitcoin::{
    Amount, OutPoint, Psbt, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness, absolute,
    transaction,
};
use airlock_chain_bitcoin::{BtcVault, ReviewPolicy, export_descriptor_record, sign_psbt};
use airlock_core::artifacts::{ConsistencyFrom, LogEvidence};
use airlock_core::envelope::ArtifactKind;
use airlock_core::transfer::{DeviceRole, entry_for};
use airlock_core::vault::{CoordinatorRef, parse_rule};
use airlock_core::{
    AccountExport, Approval, Artifact, CheckpointArtifact, Decision, Envelope, Event, EventKind,
    Finalized, Intent, LogRecord, Proposal, ProposalBundle, PublicKey, SeenCheckpoint, SignerEntry,
    Transfer, TransferManifest, VaultDefinition,
};
use airlock_fuzz::{join_parts, test_key};
use airlock_log::{CheckpointSigner, MemoryLog, prove_consistency, prove_inclusion};
use miniscript::psbt::PsbtExt as _;

struct Seeds {
    root: PathBuf,
    count: usize,
    bytes: usize,
}

impl Seeds {
    fn put(&mut self, target: &str, name: &str, data: &[u8]) {
        let dir = self.root.join(target);
        fs::create_dir_all(&dir).expect("mkdir");
        fs::write(dir.join(name), data).expect("write seed");
        self.count += 1;
        self.bytes += data.len();
    }

    fn put_mode(&mut self, target: &str, name: &str, mode: u8, data: &[u8]) {
        let mut v = vec![mode];
        v.extend_from_slice(data);
        self.put(target, name, &v);
    }
}

fn pk(n: u8) -> PublicKey {
    PublicKey(test_key(n).verifying_key().to_bytes())
}

const NOW: u64 = airlock_fuzz::transfer_manifest::NOW;

fn vault() -> VaultDefinition {
    let signer = |name: &str, role: &str, n: u8| SignerEntry {
        name: name.into(),
        role: role.into(),
        identity: pk(n),
        chain_key: String::new(),
        custody: "keystore".into(),
    };
    VaultDefinition {
        vault_id: "treasury".into(),
        version: 1,
        previous: None,
        chain: "none".into(),
        network: "".into(),
        account: "".into(),
        coordinator: CoordinatorRef {
            origin: airlock_fuzz::envelope::LOG_ORIGIN.into(),
            key: pk(1),
        },
        signers: vec![
            signer("alice", "ops", 10),
            signer("bob", "ops", 11),
            signer("carol", "compliance", 12),
        ],
        threshold: 2,
        rules: vec![
            parse_rule(
                "routine: max=1000, window=5000/24h, to=acme-rent|acme-payroll, days=mon-fri, hours=08:00-18:00 => 1 ops",
            )
            .expect("rule"),
            parse_rule("large: expiry=2h => 2 ops, 1 compliance").expect("rule"),
        ],
        created: NOW - 86_400,
        witnesses: Default::default(),
    }
}

fn signed(a: &impl Artifact, keys: &[u8]) -> Envelope {
    let mut env = a.envelope();
    for k in keys {
        env.sign(&test_key(*k));
    }
    env
}

fn artifacts(s: &mut Seeds) -> (Envelope, Envelope) {
    let v = vault();
    let venv = signed(&v, &[10, 11]);
    let proposal = Proposal {
        vault_id: v.vault_id.clone(),
        vault_version: 1,
        vault_artifact: venv.id(),
        chain: "none".into(),
        intent: Intent {
            transfers: vec![
                Transfer {
                    destination: "acme-rent".into(),
                    amount: 900,
                    asset: "".into(),
                },
                Transfer {
                    destination: "acme-payroll".into(),
                    amount: u128::from(u64::MAX) + 7,
                    asset: "USDC".into(),
                },
            ],
            memo: "rent".into(),
        },
        payload: vec![],
        spends: vec!["nonce:1".into()],
        rule: "routine".into(),
        created: NOW,
        expires: NOW + 7200,
        proposer: pk(1),
        nonce: [9; 16],
    };
    let penv = signed(&proposal, &[1]);
    let approval = Approval {
        proposal: penv.id(),
        vault_id: v.vault_id.clone(),
        vault_version: 1,
        decision: Decision::Approve,
        reason: "".into(),
        chain_signature: vec![],
        signer: pk(10),
        signed_at: NOW + 60,
        seen_checkpoint: SeenCheckpoint {
            size: 3,
            root: [4; 32],
        },
        review_digest: [5; 32],
    };
    let rejection = Approval {
        decision: Decision::Reject,
        reason: "destination not on the list".into(),
        signer: pk(12),
        ..approval.clone()
    };
    let aenv = signed(&approval, &[10]);
    let finalized = Finalized {
        proposal: penv.id(),
        approvals: vec![aenv.id()],
        transaction: vec![],
        txid: "".into(),
        finalized_at: NOW + 120,
    };
    let event = Event {
        kind: EventKind::Broadcast,
        proposal: penv.id(),
        detail: "txid 00ff".into(),
        at: NOW + 180,
    };
    // A log holding the vault and the proposal; the bundle proves the proposal's leaf.
    let mut log = MemoryLog::new();
    let leaves = [
        LogRecord {
            kind: "vault-version".into(),
            artifact: venv.id(),
            vault_id: v.vault_id.clone(),
            at: NOW - 86_400,
        },
        LogRecord {
            kind: "proposal".into(),
            artifact: penv.id(),
            vault_id: v.vault_id.clone(),
            at: NOW,
        },
    ];
    log.append(&leaves[0].to_bytes());
    log.append(b"another leaf");
    log.append(&leaves[1].to_bytes());
    let signer = CheckpointSigner::new(airlock_fuzz::envelope::LOG_ORIGIN, test_key(1))
        .expect("checkpoint key");
    let checkpoint = signer.sign(log.size(), log.root()).expect("checkpoint");
    let inclusion = prove_inclusion(log.size(), 2, &log).expect("inclusion");
    let consistency = prove_consistency(1, log.size(), &log).expect("consistency");
    let halt = airlock_core::halt::Halt {
        log_origin: airlock_fuzz::envelope::LOG_ORIGIN.into(),
        vault_id: v.vault_id.clone(),
        reason: "anomaly".into(),
        detail: "3 proposals within an hour".into(),
        log_size: 3,
        issued: NOW,
        witness: "witness.example/w1".into(),
        nonce: [7; 16],
    };
    let henv = signed(&halt, &[14]);
    let bundle = ProposalBundle {
        halts: vec![henv.to_bytes()],
        proposal: penv.to_bytes(),
        vault: venv.to_bytes(),
        evidence: LogEvidence {
            leaf: leaves[1].to_bytes(),
            leaf_index: 2,
            tree_size: log.size(),
            inclusion: inclusion.hashes,
            checkpoint: checkpoint.note.clone(),
            consistency: vec![ConsistencyFrom {
                old_size: 1,
                hashes: consistency.hashes,
            }],
        },
    };
    let benv = signed(&bundle, &[1]);
    let batch = airlock_core::ProposalBatch {
        vault: bundle.vault.clone(),
        halts: bundle.halts.clone(),
        tree_size: bundle.evidence.tree_size,
        checkpoint: bundle.evidence.checkpoint.clone(),
        consistency: bundle.evidence.consistency.clone(),
        items: vec![airlock_core::BatchItem {
            proposal: bundle.proposal.clone(),
            leaf: bundle.evidence.leaf.clone(),
            leaf_index: bundle.evidence.leaf_index,
            inclusion: bundle.evidence.inclusion.clone(),
        }],
    };
    let cp = CheckpointArtifact {
        note: checkpoint.note.clone(),
    };
    let export = AccountExport {
        chain: "monero".into(),
        network: "regtest".into(),
        account: format!(
            "{} view_key={} restore_height=0",
            airlock_fuzz::monero_files::BENCH_ADDRESS,
            airlock_fuzz::monero_files::BENCH_VIEW_KEY
        ),
        chain_key: airlock_fuzz::monero_files::BENCH_ADDRESS.into(),
        created: NOW,
    };
    let vfile = venv.to_bytes();
    let (ventry, _) = entry_for("treasury-v1.airlock", &vfile).expect("entry");
    let bfile = benv.to_bytes();
    let (bentry, _) = entry_for("rent.bundle", &bfile).expect("entry");
    let manifest = TransferManifest {
        entries: vec![ventry, bentry],
        origin_key: pk(2),
        origin_name: "example.org/airlock-log".into(),
        origin_role: DeviceRole::Coordinator,
        destination_role: DeviceRole::Signer,
        purpose: "rent for alice".into(),
        sequence: 2,
        created: NOW - 60,
        expires: NOW + 86_400,
    };
    let menv = signed(&manifest, &[2]);

    // Envelopes (mode 0x00) and bare payloads (mode 130 + kind index, see `envelope`).
    let all: Vec<(&str, Envelope)> = vec![
        ("vault", venv.clone()),
        ("proposal", penv.clone()),
        ("approval", aenv.clone()),
        ("rejection", signed(&rejection, &[12])),
        ("finalized", signed(&finalized, &[1])),
        ("event", signed(&event, &[1])),
        ("checkpoint", signed(&cp, &[1])),
        ("bundle", benv.clone()),
        ("proposal-batch", signed(&batch, &[1])),
        (
            "decision-batch",
            signed(
                &airlock_core::DecisionBatch {
                    decisions: vec![aenv.to_bytes(), signed(&rejection, &[12]).to_bytes()],
                },
                &[12],
            ),
        ),
        ("manifest", menv.clone()),
        ("account-export", signed(&export, &[10])),
        ("halt", henv.clone()),
        (
            "state-commitment",
            signed(
                &airlock_core::commitment::StateCommitment::new(
                    &v.vault_id,
                    1,
                    "bitcoin",
                    101,
                    "00",
                    [
                        "utxo 0707070707070707070707070707070707070707070707070707070707070707:0 1000000 0014".to_string(),
                        "utxo 0808080808080808080808080808080808080808080808080808080808080808:1 5000 0014".to_string(),
                    ],
                    NOW,
                )
                .expect("commitment"),
                &[1],
            ),
        ),
        (
            "drill",
            signed(
                &airlock_core::drill::DrillRecord {
                    vault_id: v.vault_id.clone(),
                    vault_version: 1,
                    facilitator: "ops lead".into(),
                    started: NOW - 600,
                    finished: NOW,
                    answers: vec![
                        airlock_core::drill::DrillAnswer {
                            inject: "key-loss:alice".into(),
                            question: "key-loss:alice/rule:routine".into(),
                            expected: "yes".into(),
                            given: "yes".into(),
                            seconds: 120,
                        },
                        airlock_core::drill::DrillAnswer {
                            inject: "coordinator".into(),
                            question: "coordinator/fork".into(),
                            expected: "no".into(),
                            given: "yes".into(),
                            seconds: 200,
                        },
                    ],
                },
                &[1],
            ),
        ),
    ];
    for (name, env) in &all {
        s.put_mode("envelope", &format!("env-{name}"), 0, &env.to_bytes());
        let kind = env.kind().expect("kind");
        let index = ArtifactKind::ALL.iter().position(|k| *k == kind).unwrap() as u8;
        s.put_mode(
            "envelope",
            &format!("payload-{name}"),
            0x80 + index,
            &env.payload,
        );
        s.put("cbor", &format!("env-{name}"), &env.to_bytes());
        s.put("cbor", &format!("payload-{name}"), &env.payload);
        s.put(
            "cbor_differential",
            &format!("payload-{name}"),
            &env.payload,
        );
        s.put(
            "armor",
            &format!("{name}.asc"),
            airlock_transport::armor(&kind.name().to_ascii_uppercase(), &env.to_bytes()).as_bytes(),
        );
    }
    let mut witnessed = vault();
    witnessed.witnesses = airlock_core::vault::WitnessPolicy {
        witnesses: vec![airlock_core::vault::WitnessKey {
            name: "witness.seed/w1".into(),
            key: airlock_core::PublicKey(test_key(12).verifying_key().to_bytes()),
        }],
        threshold: 1,
    };
    let index = ArtifactKind::ALL
        .iter()
        .position(|k| *k == ArtifactKind::VaultDefinition)
        .unwrap() as u8;
    s.put_mode(
        "envelope",
        "payload-vault-witnessed",
        0x80 + index,
        &witnessed.envelope().payload,
    );
    s.put_mode(
        "envelope",
        "payload-log-record",
        0x80 + 12,
        &leaves[1].to_bytes(),
    );
    s.put_mode(
        "envelope",
        "rule-text",
        0xf0,
        b"routine: max=1000, window=5000/24h, to=acme-rent|acme-payroll, days=mon-fri, hours=08:00-18:00, expiry=2h => 1 ops, 1 any",
    );
    let crlf = airlock_transport::armor("APPROVAL", &aenv.to_bytes()).replace('\n', "\r\n");
    s.put("armor", "approval-crlf.asc", crlf.as_bytes());

    // Transfer manifests: the payload, then the files.
    let mut vf = b"name=treasury-v1.airlock\n".to_vec();
    vf.extend_from_slice(&vfile);
    let mut bf = b"name=rent.bundle\n".to_vec();
    bf.extend_from_slice(&bfile);
    s.put(
        "transfer_manifest",
        "coordinator-to-signer",
        &join_parts(&[&menv.payload, &vf, &bf]),
    );
    let mut signer_manifest = manifest.clone();
    signer_manifest.origin_role = DeviceRole::Signer;
    signer_manifest.destination_role = DeviceRole::Coordinator;
    signer_manifest.entries.truncate(1);
    s.put(
        "transfer_manifest",
        "signer-to-coordinator",
        &join_parts(&[&signer_manifest.to_bytes(), &vf]),
    );
    (venv, benv)
}

fn cbor_edges(s: &mut Seeds) {
    let edges: &[(&str, &[u8])] = &[
        (
            "uint-max",
            &[0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ),
        ("neg", &[0x38, 0x63]),
        ("nested", &[0x81, 0x81, 0x81, 0xa1, 0x01, 0x80]),
        (
            "map-keys",
            &[0xa3, 0x01, 0xf5, 0x20, 0xf6, 0x61, 0x61, 0x40],
        ),
        ("text-utf8", "\u{63}\u{c3}\u{a9}".as_bytes()),
        ("non-shortest", &[0x18, 0x05]),
        ("unsorted-map", &[0xa2, 0x02, 0x00, 0x01, 0x00]),
        ("indefinite", &[0x9f, 0x01, 0xff]),
    ];
    for (name, b) in edges {
        s.put("cbor", name, b);
        s.put("cbor_differential", name, b);
    }
    // Outside Airlock's subset but deterministic: cbor-core accepts these.
    let foreign: &[(&str, &[u8])] = &[
        ("float16", &[0xf9, 0x3c, 0x00]),
        ("tag-epoch", &[0xc1, 0x1a, 0x5f, 0x00, 0x00, 0x00]),
        ("bignum", &[0xc2, 0x49, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("undefined", &[0xf7]),
        ("simple-32", &[0xf8, 0x20]),
    ];
    for (name, b) in foreign {
        s.put("cbor_differential", name, b);
    }
    let mut deep = vec![0x81; 33];
    deep.push(0x00);
    s.put("cbor_differential", "nested-33", &deep);
}

/// A fake funding transaction paying `amounts` to the vault's receive addresses 0, 1, …
fn funding(vault: &BtcVault, amounts: &[u64]) -> Transaction {
    Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(Txid::from_byte_array([7; 32]), 0),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: amounts
            .iter()
            .enumerate()
            .map(|(i, a)| TxOut {
                value: Amount::from_sat(*a),
                script_pubkey: vault.script_pubkey(0, i as u32).expect("script"),
            })
            .collect(),
    }
}

fn definite(
    vault: &BtcVault,
    branch: usize,
    index: u32,
) -> miniscript::Descriptor<miniscript::DefiniteDescriptorKey> {
    vault
        .descriptor()
        .clone()
        .into_single_descriptors()
        .expect("branches")[branch]
        .at_derivation_index(index)
        .expect("index")
}

/// A PSBT spending every output of `funding` to a foreign payment plus change.
fn spend(vault: &BtcVault, funding: &Transaction, pay: u64, change: u64) -> Psbt {
    let payment = airlock_fuzz::psbt::vaults()[3]
        .script_pubkey(0, 5)
        .expect("foreign script");
    let tx = Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::from_height(100).expect("height"),
        input: (0..funding.output.len())
            .map(|vout| TxIn {
                previous_output: OutPoint::new(funding.compute_txid(), vout as u32),
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output: vec![
            TxOut {
                value: Amount::from_sat(pay),
                script_pubkey: payment,
            },
            TxOut {
                value: Amount::from_sat(change),
                script_pubkey: vault.script_pubkey(1, 0).expect("change"),
            },
        ],
    };
    let mut psbt = Psbt::from_unsigned_tx(tx).expect("unsigned");
    for vout in 0..funding.output.len() {
        psbt.inputs[vout].witness_utxo = Some(funding.output[vout].clone());
        if !vault.is_taproot() {
            psbt.inputs[vout].non_witness_utxo = Some(funding.clone());
        }
        psbt.update_input_with_descriptor(vout, &definite(vault, 0, vout as u32))
            .expect("input fields");
    }
    psbt.update_output_with_descriptor(1, &definite(vault, 1, 0))
        .expect("output fields");
    psbt
}

fn compact(out: &mut Vec<u8>, n: usize) {
    if n < 0xfd {
        out.push(n as u8);
    } else if n <= 0xffff {
        out.push(0xfd);
        out.extend_from_slice(&(n as u16).to_le_bytes());
    } else {
        out.push(0xfe);
        out.extend_from_slice(&(n as u32).to_le_bytes());
    }
}

fn read_compact(b: &[u8], at: &mut usize) -> usize {
    let first = b[*at];
    *at += 1;
    match first {
        0xfd => {
            let n = u16::from_le_bytes([b[*at], b[*at + 1]]) as usize;
            *at += 2;
            n
        }
        0xfe => {
            let n = u32::from_le_bytes(b[*at..*at + 4].try_into().unwrap()) as usize;
            *at += 4;
            n
        }
        n => n as usize,
    }
}

fn pair(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    compact(out, key.len());
    out.extend_from_slice(key);
    compact(out, value.len());
    out.extend_from_slice(value);
}

/// The raw key-value pairs of the map at `at` (key bytes, value bytes), separator consumed.
fn map(b: &[u8], at: &mut usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        let klen = read_compact(b, at);
        if klen == 0 {
            return out;
        }
        let key = b[*at..*at + klen].to_vec();
        *at += klen;
        let vlen = read_compact(b, at);
        let value = b[*at..*at + vlen].to_vec();
        *at += vlen;
        out.push((key, value));
    }
}

/// The BIP-370 (version 2) encoding of a version-0 PSBT.
fn to_v2(psbt: &Psbt) -> Vec<u8> {
    let v0 = psbt.serialize();
    let mut at = 5;
    let global = map(&v0, &mut at);
    let tx = &psbt.unsigned_tx;
    let inputs: Vec<_> = tx.input.iter().map(|_| map(&v0, &mut at)).collect();
    let outputs: Vec<_> = tx.output.iter().map(|_| map(&v0, &mut at)).collect();
    let mut out = b"psbt\xff".to_vec();
    for (k, v) in global.iter().filter(|(k, _)| k[0] != 0x00 && k[0] != 0xfb) {
        pair(&mut out, k, v);
    }
    pair(&mut out, &[0x02], &tx.version.0.to_le_bytes());
    pair(
        &mut out,
        &[0x03],
        &tx.lock_time.to_consensus_u32().to_le_bytes(),
    );
    let mut n = Vec::new();
    compact(&mut n, tx.input.len());
    pair(&mut out, &[0x04], &n);
    n.clear();
    compact(&mut n, tx.output.len());
    pair(&mut out, &[0x05], &n);
    pair(&mut out, &[0xfb], &2u32.to_le_bytes());
    out.push(0);
    for (txin, m) in tx.input.iter().zip(&inputs) {
        for (k, v) in m {
            pair(&mut out, k, v);
        }
        pair(
            &mut out,
            &[0x0e],
            &txin.previous_output.txid.to_byte_array(),
        );
        pair(&mut out, &[0x0f], &txin.previous_output.vout.to_le_bytes());
        pair(&mut out, &[0x10], &txin.sequence.0.to_le_bytes());
        out.push(0);
    }
    for (txout, m) in tx.output.iter().zip(&outputs) {
        for (k, v) in m {
            pair(&mut out, k, v);
        }
        pair(&mut out, &[0x03], &txout.value.to_sat().to_le_bytes());
        pair(&mut out, &[0x04], txout.script_pubkey.as_bytes());
        out.push(0);
    }
    out
}

fn bitcoin(s: &mut Seeds) {
    let vaults = airlock_fuzz::psbt::vaults();
    let names = ["wsh-sortedmulti", "tr-multi-a", "wsh-recovery", "wpkh"];
    let policy = ReviewPolicy::default();
    for (i, (vault, name)) in vaults.iter().zip(names).enumerate() {
        let fund = funding(vault, &[60_000, 45_000]);
        let psbt = spend(vault, &fund, 70_000, 34_000);
        let binary = psbt.serialize();
        s.put("psbt", &format!("{name}.psbt"), &binary);
        let v2 = to_v2(&psbt);
        assert_eq!(
            airlock_chain_bitcoin::parse_psbt(&v2).expect("v2 imports"),
            psbt,
            "the v2 encoding imports to the same PSBT"
        );
        s.put("psbt", &format!("{name}.v2.psbt"), &v2);
        if i == 0 {
            s.put(
                "psbt",
                &format!("{name}.b64"),
                airlock_chain_bitcoin::psbt_to_base64(&psbt).as_bytes(),
            );
        }
        let cosigner = if i == 3 { 4 } else { 0 };
        let mut signed = psbt.clone();
        sign_psbt(
            vault,
            &mut signed,
            &airlock_fuzz::psbt::signer(cosigner),
            &policy,
        )
        .expect("sign");
        s.put("psbt", &format!("{name}.signed.psbt"), &signed.serialize());

        let text = vault.descriptor_text();
        s.put_mode("btc_vault", &format!("{name}.desc"), 3, text.as_bytes());
        if let Ok(record) = export_descriptor_record(vault) {
            s.put_mode("btc_vault", &format!("{name}.bsms"), 80, record.as_bytes());
        }
    }
    let cache = vaults[0].build_derivation_cache(2).expect("cache");
    s.put_mode("btc_vault", "cache-wsh", 160, &cache);
    s.put_mode(
        "btc_vault",
        "cache-wsh-body",
        208,
        &cache[..cache.len() - 32],
    );
    let mainnet = "wpkh([d34db33f/84'/0'/0']xpub6DJ2dNUysrn5Vt36jH2KLBT2i1auw1tTSSomg8PhqNiUtx8QX2SvC9nrHu81fT41fvDUnhMjEzQgXnQjKEu3oaqMSzhSrHMxyyoEAmUHQbY/<0;1>/*)";
    s.put_mode("btc_vault", "mainnet-wpkh.desc", 0, mainnet.as_bytes());
    device_exports(s, &vaults);
}

/// Seeds for `eth_interop`: a request for an EIP-1559 transaction (mode 0) and a device's answer
/// (mode 1).
fn eth_interop(s: &mut Seeds) {
    use airlock_chain_ethereum::eip4527::{DataType, DevicePath, DeviceSignature, SignRequest};
    let request = SignRequest {
        request_id: [0x42; 16],
        sign_data: vec![0x02, 0xc0],
        data_type: DataType::TypedTransaction,
        chain_id: 31337,
        path: DevicePath::parse("m/44'/60'/0'/0/0", Some(0xf23f_9fd2)).expect("path"),
        address: "0x00000000000000000000000000000000000A11cE"
            .parse()
            .expect("address"),
        origin: "airlock".into(),
    };
    s.put_mode("eth_interop", "request", 0, &request.to_cbor());
    let answer = DeviceSignature {
        request_id: Some([0x42; 16]),
        signature: [7; 65],
        origin: Some("device".into()),
    };
    s.put_mode("eth_interop", "signature", 1, &answer.to_cbor());
    // A Safe Transaction Service JSON (mode 2) for the target's Safe, confirmed by its first
    // owner (anvil's development key 1).
    use airlock_chain_ethereum::{EthKey, SafeTx, safe, safe_service};
    use alloy_primitives::U256;
    let owner_key = EthKey::from_bytes(
        &hex::decode("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
            .expect("hex")
            .try_into()
            .expect("32 bytes"),
    )
    .expect("key");
    let safe_address = airlock_fuzz::eth_interop::SAFE.parse().expect("safe");
    let zero = "0x0000000000000000000000000000000000000000"
        .parse()
        .expect("zero");
    let tx = SafeTx {
        to: "0x00000000000000000000000000000000000A11cE"
            .parse()
            .expect("to"),
        value: U256::from(999),
        data: vec![],
        operation: 0,
        safe_tx_gas: U256::ZERO,
        base_gas: U256::ZERO,
        gas_price: U256::ZERO,
        gas_token: zero,
        refund_receiver: zero,
        nonce: U256::from(4),
    };
    let hash = safe::safe_tx_hash(31337, safe_address, &tx);
    let sig = owner_key.sign_hash(&hash).expect("sign").as_bytes();
    let json = safe_service::write(
        31337,
        safe_address,
        &tx,
        &[(owner_key.address(), sig)],
        "seed",
    );
    s.put_mode(
        "eth_interop",
        "safe-service.json",
        2,
        json.to_string().as_bytes(),
    );
}

/// Seeds for `device_exports`: each harness multisig vault in every format Airlock writes (text
/// modes for regtest = 3, `crypto-output` CBOR = mode 129 + 9 → regtest), a member-key JSON.
fn device_exports(s: &mut Seeds, vaults: &[airlock_chain_bitcoin::BtcVault]) {
    use airlock_chain_bitcoin::devices::{self, coldcard, ur_registry, wallet_files};
    for (i, vault) in vaults.iter().enumerate() {
        let sparrow = wallet_files::write_descriptor_file(vault);
        s.put_mode(
            "device_exports",
            &format!("v{i}.sparrow"),
            3,
            sparrow.as_bytes(),
        );
        if let Ok(specter) = wallet_files::write_specter(vault, "seed") {
            s.put_mode(
                "device_exports",
                &format!("v{i}.specter"),
                3,
                specter.as_bytes(),
            );
        }
        if let Some(shape) = devices::multisig_shape(vault) {
            let file = coldcard::write_setup_file(vault, "seed").expect("coldcard");
            s.put_mode(
                "device_exports",
                &format!("v{i}.coldcard"),
                3,
                file.as_bytes(),
            );
            let keys: Vec<_> = vault
                .keys()
                .iter()
                .map(|k| (k.fingerprint, k.origin_path.clone(), k.xpub))
                .collect();
            let cbor = ur_registry::encode_multisig_output(shape.nested, shape.threshold, &keys);
            // 138: 138 % 3 = 0 (crypto-output), (138 / 3) % 4 = 2 (signet: test keys).
            s.put_mode("device_exports", &format!("v{i}.crypto-output"), 138, &cbor);
            let k = &vault.keys()[0];
            let ccxp = format!(
                r#"{{"xfp": "{}", "account": 0, "p2wsh_deriv": "m/{}", "p2wsh": "{}"}}"#,
                k.fingerprint, k.origin_path, k.xpub
            );
            s.put_mode(
                "device_exports",
                &format!("v{i}.ccxp.json"),
                3,
                ccxp.as_bytes(),
            );
        }
    }
    // BCR-2020-015's crypto-account vector: mode 145 = crypto-account (145 % 3 = 1) on bitcoin.
    let account = hex::decode(concat!(
        "a2011a37b5eed40282d90134d90193d9012fa403582103eb3e2863911826374de86c231a4b76f0b89dfa174afb78d7f478199884d9dd32",
        "0458206456a5df2db0f6d9af72b2a1af4b25f45200ed6fcc29c3440b311d4796b70b5b06d90130a20186182cf500f500f5021a37b5eed4",
        "081a99f9cdf7d90134d90191d9019ad9012fa40358210260563ee80c26844621b06b74070baf0e23fb76ce439d0237e87502ebbd3ca346",
        "0458202fa0e41c9dc43dc4518659bfcef935ba8101b57dbc0812805dd983bc1d34b81306d90130a201881830f500f500f502f5021a37b5",
        "eed4081a59b69b2a",
    ))
    .expect("hex");
    s.put_mode("device_exports", "bcr-2020-015-account", 145, &account);
}

fn qr(s: &mut Seeds, venv: &Envelope) {
    use airlock_qr::{Content, Density, Format, encode};
    let message = venv.to_bytes();
    let low = Density::parse("low").expect("density");
    for (format, name) in [
        (Format::Ur, "ur"),
        (Format::Bbqr, "bbqr"),
        (Format::AirlockRq, "airlock"),
    ] {
        let frames = encode(&message, format, Content::Artifact, low).expect("frames");
        let text = frames.texts.join("\n");
        s.put_mode("qr_frames", &format!("{name}-frames"), 0, text.as_bytes());
        // The same frames, reversed and one lost.
        let mut rev: Vec<&String> = frames.texts.iter().rev().collect();
        rev.remove(1.min(rev.len() - 1));
        let text: Vec<&str> = rev.iter().map(|s| s.as_str()).collect();
        s.put_mode(
            "qr_frames",
            &format!("{name}-frames-lossy"),
            0,
            text.join("\n").as_bytes(),
        );
    }
    let psbt = fs::read(s.root.join("psbt/wsh-sortedmulti.psbt")).expect("psbt seed");
    let frames = encode(&psbt, Format::Ur, Content::Psbt, low).expect("frames");
    s.put_mode(
        "qr_frames",
        "ur-crypto-psbt",
        0,
        frames.texts.join("\n").as_bytes(),
    );
    let frames = encode(&psbt, Format::Bbqr, Content::Psbt, low).expect("frames");
    s.put_mode(
        "qr_frames",
        "bbqr-psbt",
        0,
        frames.texts.join("\n").as_bytes(),
    );
    // Round-trip mode: UR, BBQr, RaptorQ at the lowest density.
    for (m, name) in [(0xf0, "rt-ur"), (0xf1, "rt-bbqr"), (0xf2, "rt-airlock")] {
        s.put_mode("qr_frames", name, m, &message[..message.len().min(1500)]);
    }
}

fn slip39(s: &mut Seeds, repo: &Path) {
    let text =
        fs::read_to_string(repo.join("crates/airlock-custody/tests/data/slip39_vectors.json"))
            .expect("vectors");
    let vectors: serde_json::Value = serde_json::from_str(&text).expect("json");
    let mut written = 0;
    for (i, v) in vectors.as_array().expect("array").iter().enumerate() {
        let mnemonics: Vec<&str> = v[1]
            .as_array()
            .expect("mnemonics")
            .iter()
            .map(|m| m.as_str().expect("text"))
            .collect();
        // Every fourth vector, valid or not, keeps the corpus small.
        if i % 4 != 0 {
            continue;
        }
        s.put_mode(
            "slip39",
            &format!("vector-{:02}", i + 1),
            0,
            mnemonics.join("\n").as_bytes(),
        );
        written += 1;
    }
    assert!(written > 5);
    // A 2-of-3 set at iteration exponent 0, so the harness recovers it.
    let groups = airlock_custody::slip39::split(
        &[0x42; 16],
        "TREZOR",
        1,
        &[(2, 3)],
        true,
        0,
        &mut rand_core::OsRng,
    )
    .expect("split");
    let shares: Vec<String> = groups[0][..2].iter().map(|z| z.to_string()).collect();
    s.put_mode("slip39", "split-2of3-e0", 0, shares.join("\n").as_bytes());
    s.put_mode("slip39", "indices", 0x80, &[13; 40]);
}

fn keystores(s: &mut Seeds, repo: &Path) {
    use airlock_custody::eth_keystore::{self, EthKdf, EthSecretKey};
    use airlock_custody::keystore::{self, KdfParams, Passphrase};
    let pass = Passphrase::new(airlock_fuzz::keystore::PASSPHRASE.into()).expect("pass");
    let tiny = KdfParams {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };
    let sealed = keystore::seal(&[0x5a; 64], &pass, tiny).expect("seal");
    s.put_mode("keystore", "airlock-tiny", 0, &sealed);
    s.put_mode(
        "keystore",
        "airlock-tiny-body",
        64,
        &sealed[..sealed.len() - 32],
    );
    let key = EthSecretKey::from_bytes(&[0x11; 32]).expect("key");
    for (name, kdf) in [
        ("v3-pbkdf2-c1.json", EthKdf::Pbkdf2 { c: 1 }),
        (
            "v3-scrypt-n16.json",
            EthKdf::Scrypt {
                log_n: 4,
                r: 2,
                p: 1,
            },
        ),
    ] {
        let json = eth_keystore::encrypt_with_bytes(
            &key,
            airlock_fuzz::keystore::PASSPHRASE.as_bytes(),
            kdf,
        )
        .expect("encrypt");
        s.put_mode("keystore", name, 128, json.as_bytes());
    }
    for f in [
        "eth_keystore_v3_pbkdf2.json",
        "eth_keystore_v3_scrypt.json",
        "eth_keystore_v3_scrypt_inconsistent.json",
    ] {
        let b = fs::read(repo.join("crates/airlock-custody/tests/data").join(f)).expect("vector");
        s.put_mode("keystore", f, 128, &b);
    }
}

fn monero(s: &mut Seeds) {
    use airlock_chain_monero::keyimages::{
        ExportedOutput, KeyImagesFile, OutputsFile, SignedKeyImage,
    };
    use airlock_chain_monero::keys::MoneroNetwork;
    use airlock_chain_monero::seed::{Polyseed, legacy_seed_from_key};
    use airlock_chain_monero::wallet::OfflineWallet;
    use airlock_fuzz::monero_files::{BENCH_ADDRESS, BENCH_VIEW_KEY};
    let outputs = OutputsFile {
        network: MoneroNetwork::Regtest,
        primary_address: BENCH_ADDRESS.into(),
        outputs: (0..3u8)
            .map(|i| ExportedOutput {
                output_key: [i + 1; 32],
                key_offset: [i + 7; 32],
                amount: 1_000_000_000_000 * u64::from(i + 1),
            })
            .collect(),
    };
    s.put_mode("monero_files", "outputs.bin", 0, &outputs.to_bytes());
    let images = KeyImagesFile {
        network: MoneroNetwork::Regtest,
        primary_address: BENCH_ADDRESS.into(),
        key_images: (0..2u8)
            .map(|i| SignedKeyImage {
                output_key: [i + 1; 32],
                key_image: [i + 40; 32],
                proof: [i + 80; 64],
            })
            .collect(),
    };
    s.put_mode("monero_files", "key-images.bin", 1, &images.to_bytes());
    {
        use airlock_chain_monero::wallet2::files::{
            OutputsLayout, Wallet2KeyImages, Wallet2Output, Wallet2Outputs,
        };
        let wallet = airlock_fuzz::monero_files::fuzz_wallet();
        let view = wallet.view_keys();
        for (name, layout) in [
            ("wallet2-outputs-v0.bin", OutputsLayout::V0),
            ("wallet2-outputs-v1.bin", OutputsLayout::V1),
        ] {
            let v1 = layout == OutputsLayout::V1;
            let export = Wallet2Outputs {
                layout,
                offset: 1,
                total: v1.then_some(3),
                outputs: (0..2u8)
                    .map(|i| Wallet2Output {
                        output_key: [i + 1; 32],
                        index_in_tx: u64::from(i),
                        global_index: 300 + u64::from(i),
                        tx_public_key: [i + 9; 32],
                        flags: 0b10100,
                        amount: 1_000_000_000_000,
                        additional_tx_keys: vec![[i + 20; 32]; usize::from(i)],
                        subaddress: v1.then_some((0, u32::from(i))),
                    })
                    .collect(),
            };
            s.put_mode("monero_files", name, 8, &export.to_plaintext(view));
        }
        let images = Wallet2KeyImages {
            offset: 1,
            key_images: vec![([3; 32], [4; 64]), ([5; 32], [6; 64])],
        };
        s.put_mode(
            "monero_files",
            "wallet2-key-images.bin",
            9,
            &images.to_plaintext(view),
        );
        let rpc_answer = format!(
            r#"{{"offset": 1, "signed_key_images": [{{"key_image": "{}", "signature": "{}"}}]}}"#,
            hex::encode([3u8; 32]),
            hex::encode([4u8; 64])
        );
        s.put_mode(
            "monero_files",
            "wallet2-key-images-rpc.json",
            9,
            rpc_answer.as_bytes(),
        );        use airlock_chain_monero::wallet2::txsets::{
            Destination, RingMember, SignedTxSet, Source, TxConstructionData, UnsignedTxSet,
        };
        let destination = |amount: u64| Destination {
            original: String::new(),
            amount,
            spend_public: [9; 32],
            view_public: [10; 32],
            is_subaddress: false,
            is_integrated: false,
        };
        let set = UnsignedTxSet {
            txes: vec![TxConstructionData {
                sources: vec![Source {
                    ring: (0..16)
                        .map(|i| RingMember {
                            global_index: 10 + i,
                            output_key: [i as u8 + 1; 32],
                            commitment: [i as u8 + 50; 32],
                        })
                        .collect(),
                    real_output: 3,
                    real_out_tx_key: [7; 32],
                    real_out_additional_tx_keys: Vec::new(),
                    real_output_in_tx_index: 1,
                    amount: 5_000_000,
                    rct: true,
                    mask: [2; 32],
                    multisig: [0; 128],
                }],
                change: destination(1_000_000),
                splitted_destinations: vec![destination(3_000_000), destination(1_000_000)],
                selected_transfers: vec![0],
                extra: vec![2, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0],
                unlock_time: 0,
                flags: 3,
                range_proof_type: 3,
                bulletproof_version: 4,
                destinations: vec![destination(3_000_000)],
                subaddress_account: 0,
                subaddress_indices: vec![0],
            }],
            transfers: Wallet2Outputs {
                layout: OutputsLayout::V0,
                offset: 0,
                total: None,
                outputs: Vec::new(),
            },
        };
        s.put_mode("monero_files", "wallet2-unsigned-set.bin", 10, &set.to_plaintext());
        let signed = SignedTxSet {
            txes: Vec::new(),
            key_images: vec![[11; 32], [12; 32]],
            tx_key_images: vec![([13; 32], [14; 32])],
        };
        s.put_mode("monero_files", "wallet2-signed-set.bin", 11, &signed.to_plaintext());
    }
    let spend: [u8; 32] =
        hex::decode("73ff4f5f609de73b949e6881777de262511ef9c9d31dc12d7579e21c3325b109")
            .expect("hex")
            .try_into()
            .expect("32");
    s.put_mode(
        "monero_files",
        "legacy-seed",
        4,
        legacy_seed_from_key(&spend).as_bytes(),
    );
    let poly = Polyseed::random(&mut rand_core::OsRng, 1_763_790_000);
    s.put_mode("monero_files", "polyseed", 5, poly.to_phrase().as_bytes());
    let wallet = OfflineWallet::from_spend_key(&spend, MoneroNetwork::Regtest, 0).expect("wallet");
    s.put_mode(
        "monero_files",
        "feather.json",
        6,
        wallet
            .view_only_export()
            .to_feather_json("bench")
            .as_bytes(),
    );
    s.put_mode(
        "monero_files",
        "vault-account",
        7,
        format!("{BENCH_ADDRESS} view_key={BENCH_VIEW_KEY} restore_height=0").as_bytes(),
    );
}

fn ethereum(s: &mut Seeds) {
    use airlock_chain_ethereum::calldata::{encode_erc20_transfer, encode_multisend};
    use airlock_chain_ethereum::{Eip1559Request, EthAddress, EthPayload, SafeTx};
    use airlock_fuzz::eth_payload::{MULTISEND, OWNERS, SAFE};
    use alloy_primitives::U256;
    let a = |s: &str| EthAddress::parse(s).expect("address");
    let token = a("0x4444444444444444444444444444444444444444");
    let dest = a("0x5555555555555555555555555555555555555555");
    let transfer = encode_erc20_transfer(dest, U256::from(5_000_000u64));
    let txs = EthPayload::Transactions {
        chain_id: 31337,
        txs: vec![
            Eip1559Request {
                nonce: 0,
                max_fee_per_gas: 30_000_000_000,
                max_priority_fee_per_gas: 1_000_000_000,
                gas_limit: 21_000,
                to: dest,
                value: U256::from(10u64).pow(U256::from(18u64)),
                input: vec![],
            },
            Eip1559Request {
                nonce: 1,
                max_fee_per_gas: 30_000_000_000,
                max_priority_fee_per_gas: 1_000_000_000,
                gas_limit: 80_000,
                to: token,
                value: U256::ZERO,
                input: transfer.clone(),
            },
        ],
    };
    s.put_mode(
        "eth_payload",
        "eoa-transactions",
        0,
        &txs.to_bytes().expect("payload"),
    );
    let safe_tx = |to, data: Vec<u8>, operation| SafeTx {
        to,
        value: U256::ZERO,
        data,
        operation,
        safe_tx_gas: U256::ZERO,
        base_gas: U256::ZERO,
        gas_price: U256::ZERO,
        gas_token: EthAddress::parse("0x0000000000000000000000000000000000000000").unwrap(),
        refund_receiver: EthAddress::parse("0x0000000000000000000000000000000000000000").unwrap(),
        nonce: U256::from(3u64),
    };
    let multisend = encode_multisend(&[
        (0, token, U256::ZERO, transfer.clone()),
        (0, dest, U256::from(7u64), vec![]),
    ]);
    for (name, tx) in [
        ("safe-erc20", safe_tx(token, transfer.clone(), 0)),
        (
            "safe-multisend",
            safe_tx(a(MULTISEND), multisend.clone(), 1),
        ),
    ] {
        let p = EthPayload::SafeTx {
            chain_id: 31337,
            safe: a(SAFE),
            safe_version: "1.4.1".into(),
            tx,
        };
        s.put_mode("eth_payload", name, 0, &p.to_bytes().expect("payload"));
    }
    let typed = r#"{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],"Person":[{"name":"name","type":"string"},{"name":"wallet","type":"address"}],"Mail":[{"name":"from","type":"Person"},{"name":"to","type":"Person"},{"name":"contents","type":"string"}]},"primaryType":"Mail","domain":{"name":"Ether Mail","version":"1","chainId":1,"verifyingContract":"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},"message":{"from":{"name":"Cow","wallet":"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},"to":{"name":"Bob","wallet":"0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},"contents":"Hello, Bob!"}}"#;
    let p = EthPayload::TypedData { json: typed.into() };
    s.put_mode(
        "eth_payload",
        "typed-data",
        0,
        &p.to_bytes().expect("payload"),
    );
    s.put_mode("eth_payload", "typed-data.json", 2, typed.as_bytes());
    s.put_mode("eth_payload", "calldata-erc20", 1, &transfer);
    s.put_mode("eth_payload", "calldata-multisend", 1, &multisend);
    s.put_mode(
        "eth_payload",
        "vault-account",
        3,
        format!(
            "sepolia\nsafe:{SAFE} threshold=2 version=1.3.0 multisend={MULTISEND} delegatecall={MULTISEND},{}",
            OWNERS[2]
        )
        .as_bytes(),
    );
}

/// The signer's journals as written by the real code (with their head), a torn last line, a
/// head one entry behind, an edited entry; and a release bundle for the envelope target.
fn journals(s: &mut Seeds, bundle: &Envelope) {
    use airlock_signer_app::journal::{Journal, NewJournalEntry};
    let dir = std::env::temp_dir().join(format!("airlock-fuzz-journal-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("mkdir");
    let mut j = Journal::open(&dir).expect("journal");
    for (n, decision) in ["approve", "reject"].iter().enumerate() {
        j.append(NewJournalEntry {
            at: 1_767_225_600 + n as u64,
            proposal: hex::encode([n as u8; 32]),
            approval: hex::encode([9; 32]),
            vault: "treasury".into(),
            version: 1,
            decision: (*decision).into(),
            amount: 100,
            spends: vec![format!("utxo:{n}")],
            reason: if n == 1 { "no".into() } else { String::new() },
            envelope: vec![1, 2, 3],
            expires: 1_767_229_200,
        })
        .expect("append");
    }
    let file = fs::read(dir.join("journal.log")).expect("journal file");
    let head = fs::read(dir.join("journal.head")).expect("head file");
    let first = file.iter().position(|b| *b == b'\n').expect("line") + 1;
    let first_head = format!(
        "1 {}",
        serde_json_hash(&file[..first]).expect("first entry hash")
    );
    s.put_mode("journal", "two-entries", 0, &join_parts(&[&head, &file]));
    s.put_mode(
        "journal",
        "torn",
        0,
        &join_parts(&[first_head.as_bytes(), &file[..first + 30]]),
    );
    s.put_mode(
        "journal",
        "head-behind",
        0,
        &join_parts(&[first_head.as_bytes(), &file]),
    );
    let edited = String::from_utf8(file.clone()).expect("utf-8").replacen(
        "\"amount\":100",
        "\"amount\":1",
        1,
    );
    s.put_mode(
        "journal",
        "edited",
        0,
        &join_parts(&[&head, edited.as_bytes()]),
    );
    s.put_mode("journal", "no-head", 1, &file[..first]);
    // A batch of three after the two: whole, whole with the head not moved, and cut inside.
    let entry = |n: u8| NewJournalEntry {
        at: 1_767_225_700,
        proposal: hex::encode([n; 32]),
        approval: hex::encode([8; 32]),
        vault: "treasury".into(),
        version: 1,
        decision: "approve".into(),
        amount: 10,
        spends: vec![format!("utxo:{n}")],
        reason: String::new(),
        envelope: vec![4, 5, 6],
        expires: 1_767_229_200,
    };
    j.append_batch(vec![entry(10), entry(11), entry(12)])
        .expect("batch");
    let batched = fs::read(dir.join("journal.log")).expect("journal file");
    let batched_head = fs::read(dir.join("journal.head")).expect("head file");
    s.put_mode(
        "journal",
        "batch",
        0,
        &join_parts(&[&batched_head, &batched]),
    );
    s.put_mode(
        "journal",
        "batch-head-behind",
        0,
        &join_parts(&[&head, &batched]),
    );
    let second_line = file.len()
        + batched[file.len()..]
            .iter()
            .position(|b| *b == b'\n')
            .expect("line")
        + 1;
    s.put_mode(
        "journal",
        "batch-torn",
        0,
        &join_parts(&[&head, &batched[..second_line + 20]]),
    );
    let _ = fs::remove_dir_all(&dir);

    let b: ProposalBundle = bundle.open().expect("bundle");
    let mut event = Event {
        kind: EventKind::Abandoned,
        proposal: Envelope::from_bytes(&b.proposal).expect("proposal").id(),
        detail: "rejected: wrong invoice".into(),
        at: 1_767_225_700,
    }
    .envelope();
    event.sign(&test_key(1));
    let release = airlock_core::ReleaseBundle {
        event: event.to_bytes(),
        vault: b.vault.clone(),
        evidence: b.evidence.clone(),
    };
    s.put_mode(
        "envelope",
        "release-bundle-payload",
        0x80 + 9,
        &release.to_bytes(),
    );
    let mut env = release.envelope();
    env.sign(&test_key(1));
    s.put("envelope", "release-bundle", &env.to_bytes());
}

/// The `hash` field of a journal line.
fn serde_json_hash(line: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(line).ok()?;
    let at = text.find("\"hash\":\"")? + 8;
    Some(text[at..at + 64].to_owned())
}

/// Signed-request headers (selector 0), cookies (1), and whole requests (2), as the real client
/// writes them.
fn httpsig(s: &mut Seeds) {
    use airlock_transport::httpsig;
    let key = ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]);
    let body = br#"{"vault":"treasury","transfers":[{"destination":"acme","amount":5}]}"#;
    let h = httpsig::sign(
        &key,
        "POST",
        "/api/v1/proposals",
        "",
        body,
        1_000,
        "0123456789abcdef0123",
    );
    s.put(
        "httpsig",
        "input",
        &[&[0u8][..], h.signature_input.as_bytes()].concat(),
    );
    s.put(
        "httpsig",
        "input-bad-alg",
        &[
            &[0u8][..],
            h.signature_input.replace("ed25519", "rsa").as_bytes(),
        ]
        .concat(),
    );
    s.put(
        "httpsig",
        "cookie",
        &[
            &[1u8][..],
            format!("a=b; airlock_session={}", "ab".repeat(32)).as_bytes(),
        ]
        .concat(),
    );
    let request = format!(
        "{}\n{}\n{}",
        h.signature_input,
        h.signature,
        String::from_utf8_lossy(body)
    );
    s.put(
        "httpsig",
        "request",
        &[&[2u8][..], request.as_bytes()].concat(),
    );
}

/// Tile paths (selector 0), entry bundles (1) and tree sizes (2).
fn tiles(s: &mut Seeds) {
    for (name, path) in [
        ("full", "0/000"),
        ("partial", "0/x001/234.p/7"),
        ("level1", "1/000.p/3"),
        ("entries", "entries/x012/345"),
        ("entries-partial", "entries/000.p/255"),
        ("zero-width", "0/000.p/0"),
        ("level64", "64/000"),
    ] {
        s.put(
            "tiles",
            &format!("path-{name}"),
            &[&[0u8][..], path.as_bytes()].concat(),
        );
    }
    let mut bundle = Vec::new();
    for entry in [&b"first"[..], b"", &[7u8; 300][..]] {
        airlock_log::tiles::push_entry(&mut bundle, entry).expect("fits");
    }
    s.put("tiles", "bundle", &[&[1u8][..], &bundle].concat());
    s.put(
        "tiles",
        "bundle-truncated",
        &[&[1u8][..], &bundle[..bundle.len() - 1]].concat(),
    );
    s.put(
        "tiles",
        "size-70000",
        &[&[0x83u8][..], &70_000u64.to_le_bytes()].concat(),
    );
}

/// Witness requests (selector 0), verifier keys (1), lines and notes (2), cosigned bodies (3).
fn witness(s: &mut Seeds) {
    use airlock_log::witness::{AddCheckpoint, WitnessSigner};
    let mut log = airlock_log::MemoryLog::new();
    for i in 0..9u32 {
        log.append(&i.to_be_bytes());
    }
    let signer = airlock_log::CheckpointSigner::new(
        "seed.example/log",
        ed25519_dalek::SigningKey::from_bytes(&[3; 32]),
    )
    .expect("origin");
    let note = signer.sign(log.size(), log.root()).expect("sign").note;
    let request = AddCheckpoint {
        old_size: 4,
        proof: airlock_log::prove_consistency(4, 9, &log)
            .expect("proof")
            .hashes,
        checkpoint: note.clone(),
    };
    s.put(
        "witness",
        "request",
        &[&[0u8][..], &request.to_bytes()].concat(),
    );
    s.put(
        "witness",
        "request-first",
        &[&b"\x00old 0\n\n"[..], note.as_bytes()].concat(),
    );
    let w = WitnessSigner::new(
        "witness.fuzz/w1",
        ed25519_dalek::SigningKey::from_bytes(&[0x5a; 32]),
    )
    .expect("name");
    s.put(
        "witness",
        "vkey",
        &[&[1u8][..], w.verifier().vkey().as_bytes()].concat(),
    );
    let body = airlock_log::witness::note_body(&note).expect("note");
    let line = w.cosign(body, 1_767_225_600);
    s.put(
        "witness",
        "line",
        &[&[2u8][..], body.as_bytes(), b"\0", line.as_bytes()].concat(),
    );
    s.put(
        "witness",
        "cosigned-note",
        &[&[2u8][..], note.as_bytes(), line.as_bytes()].concat(),
    );
    s.put(
        "witness",
        "cosign",
        &[&[3u8][..], &1_767_225_600u64.to_le_bytes(), body.as_bytes()].concat(),
    );
}

/// Seeds for `frost_messages`: a real key generation among the target's fixed roster (test keys
/// 1–3) through `airlock_frost::testkit`, one member's round-1 message and state, a key share, a
/// handed-over batch of commitments (message, file and body) and a set of signature shares.
/// A PSBT spending one key-path output of the FROST group whose key is the generator G (as the
/// `psbt` target reads it), at path 0/0, with one member's commitment named.
fn frost_psbt(s: &mut Seeds) {
    use airlock_frost::derive;
    use bitcoin::bip32::{DerivationPath, Fingerprint};
    use bitcoin::secp256k1::{Secp256k1, XOnlyPublicKey};
    use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};
    let group = airlock_frost::frost::VerifyingKey::deserialize(
        &airlock_fuzz::frost_messages::GENERATOR,
    )
    .expect("the generator");
    let internal = XOnlyPublicKey::from_slice(&derive::internal_key(&group, &[0, 0]).expect("key"))
        .expect("x-only");
    let xpub = derive::group_xpub(&group, bitcoin::NetworkKind::Test).expect("xpub");
    let secp = Secp256k1::verification_only();
    let tx = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(bitcoin::Txid::from_byte_array([7; 32]), 0),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(49_000),
            script_pubkey: ScriptBuf::new_p2tr(&secp, internal, None),
        }],
    };
    let mut psbt = bitcoin::Psbt::from_unsigned_tx(tx).expect("psbt");
    psbt.inputs[0].witness_utxo = Some(TxOut {
        value: Amount::from_sat(50_000),
        script_pubkey: ScriptBuf::new_p2tr(&secp, internal, None),
    });
    psbt.inputs[0].tap_internal_key = Some(internal);
    let path: DerivationPath = "m/0/0".parse().expect("path");
    psbt.inputs[0].tap_key_origins.insert(
        internal,
        (Vec::new(), (Fingerprint::from(xpub.fingerprint().to_bytes()), path)),
    );
    let share = airlock_frost::frost::keys::SigningShare::deserialize(&[1; 32]).expect("share");
    let (_, commitments) =
        airlock_frost::frost::round1::commit(&share, &mut rand_core::OsRng);
    let mut chosen = std::collections::BTreeMap::new();
    chosen.insert(1u16, commitments);
    airlock_chain_bitcoin::frost_psbt::attach_commitments(&mut psbt, &[chosen]).expect("attach");
    airlock_chain_bitcoin::frost_psbt::inputs_to_sign(&psbt, &group).expect("the seed is signable");
    s.put("psbt", "frost-key-path.psbt", &psbt.serialize());
}

fn frost(s: &mut Seeds) {
    use airlock_frost::dkg::{self, Ceremony};
    use airlock_frost::testkit;
    let keys: Vec<ed25519_dalek::SigningKey> = (1u8..=3)
        .map(|i| ed25519_dalek::SigningKey::from_bytes(&[i; 32]))
        .collect();
    let roster = airlock_fuzz::frost_messages::roster();
    let (state, round1) = dkg::round1(
        &roster,
        &keys[0],
        Ceremony::KeyGeneration,
        &mut rand_core::OsRng,
    )
    .expect("round 1");
    s.put_mode("frost_messages", "round1-message", 0, &round1.to_bytes());
    s.put_mode("frost_messages", "roster-file", 6, roster.to_json().as_bytes());
    let listing = {
        let shares = testkit::two_rounds(&roster, &keys, None, &mut rand_core::OsRng)
            .expect("key generation");
        shares
            .iter()
            .map(|s| {
                airlock_frost::group::member_chain_key(s.me, s.key.verifying_share())
                    .expect("entry")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    s.put_mode("frost_messages", "member-keys", 8, listing.as_bytes());
    s.put_mode(
        "frost_messages",
        "derivation-path",
        7,
        &[0u32, 7, 1, 0x8000_0000]
            .iter()
            .flat_map(|s| s.to_be_bytes())
            .collect::<Vec<u8>>(),
    );
    s.put_mode(
        "frost_messages",
        "round1-state",
        5,
        &state.to_bytes().expect("state"),
    );
    let shares =
        testkit::two_rounds(&roster, &keys, None, &mut rand_core::OsRng).expect("key generation");
    s.put_mode(
        "frost_messages",
        "key-share",
        4,
        &shares[0].to_bytes().expect("share"),
    );
    let dir = tempfile::tempdir().expect("temporary directory");
    let stores: Vec<_> = (1..=3)
        .map(|i| airlock_frost::nonces::NonceStore::new(&dir.path().join(i.to_string())))
        .collect();
    let pass = airlock_custody::Passphrase::new("fuzz seeds".into()).expect("passphrase");
    let message = stores[0]
        .generate(
            &shares[0],
            &keys[0],
            2,
            &pass,
            airlock_custody::KdfParams::INSECURE_FAST,
            &mut rand_core::OsRng,
        )
        .expect("commitments");
    s.put_mode(
        "frost_messages",
        "commitments-message",
        0,
        &message.to_bytes(),
    );
    s.put_mode(
        "frost_messages",
        "commitments-file",
        1,
        &airlock_frost::wire::bundle(&[message.clone(), round1]),
    );
    s.put_mode("frost_messages", "commitments-body", 2, &message.body);
    let commitments = testkit::hand_over_commitments(
        &shares,
        &keys,
        &stores,
        &[1, 2],
        1,
        &pass,
        &mut rand_core::OsRng,
    )
    .expect("commitments");
    let inputs = testkit::inputs_for(&[[7; 32]], &commitments, 0);
    let signed = airlock_frost::sign::sign(&shares[0], &keys[0], &stores[0], &inputs, None, &pass)
        .expect("shares");
    s.put_mode("frost_messages", "shares-body", 3, &signed.body);
}

fn main() {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let repo = fuzz.parent().expect("repository").to_path_buf();
    let mut s = Seeds {
        root: fuzz.join("seeds"),
        count: 0,
        bytes: 0,
    };
    let (venv, _bundle) = artifacts(&mut s);
    cbor_edges(&mut s);
    bitcoin(&mut s);
    eth_interop(&mut s);
    frost(&mut s);
    frost_psbt(&mut s);
    qr(&mut s, &venv);
    slip39(&mut s, &repo);
    keystores(&mut s, &repo);
    monero(&mut s);
    ethereum(&mut s);
    journals(&mut s, &_bundle);
    tiles(&mut s);
    httpsig(&mut s);
    witness(&mut s);
    println!(
        "wrote {} seeds, {} bytes, under {}",
        s.count,
        s.bytes,
        s.root.display()
    );
}
