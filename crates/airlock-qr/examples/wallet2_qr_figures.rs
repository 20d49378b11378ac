//! QR frames for Monero's cold-signing files (and the time to read one): a 100-output wallet2 outputs export, its
//! 100-key-image answer, and a 100-input unsigned transaction set with its signed set (signed
//! here, offline, as `airlock-signer xmr sign-tx-set` does), as Airlock shows them (`airlock qr show`, Feather's UR types, default
//! density) beside what Feather's own settings give for the same bytes (bc-ur with fragments of
//! at most 150 bytes, lowercase text, QR error correction M, one fragment per frame).
//!
//! Feather itself is not run here: its frames are computed with the same `ur` encoder and the
//! `qrcode` crate from its published settings.
//!
//!     cargo run --release -p airlock-qr --example wallet2_qr_figures

use airlock_chain_monero::keys::MoneroNetwork;
use airlock_chain_monero::keys::WalletKeys;
use airlock_chain_monero::review::sign_unsigned;
use airlock_chain_monero::wallet2::files::{
    OutputsLayout, Wallet2KeyImages, Wallet2Output, Wallet2Outputs,
};
use airlock_chain_monero::wallet2::txsets::{
    Destination, PendingTx, RingMember, SignedTxSet, Source, TxConstructionData, UnsignedTxSet,
    signable_transaction,
};
use airlock_qr::{Content, Density, Format, MoneroFile, encode, ur_codec::cbor_bytes};
use curve25519_dalek::Scalar as DalekScalar;
use curve25519_dalek::constants::ED25519_BASEPOINT_TABLE;
use monero_wallet::ed25519::{Commitment, Scalar};

const XMR: u64 = 1_000_000_000_000;

fn random_scalar() -> DalekScalar {
    Scalar::random(&mut rand_core::OsRng).into()
}

fn random_point() -> [u8; 32] {
    (&random_scalar() * ED25519_BASEPOINT_TABLE)
        .compress()
        .to_bytes()
}

/// A 1 XMR output paid to `wallet`'s primary address (`P = Hs(8·r·A ‖ 0)·G + B`), hidden at
/// position 7 of a ring of 16 starting at global index `first`.
fn owned_source(wallet: &WalletKeys, first: u64) -> Source {
    let view = wallet.view_keys();
    let r = random_scalar();
    let derivation = (r * view.view_public())
        .mul_by_cofactor()
        .compress()
        .to_bytes();
    let mut preimage = derivation.to_vec();
    preimage.push(0);
    let shared: DalekScalar = Scalar::hash(&preimage).into();
    let output_key = &shared * ED25519_BASEPOINT_TABLE + view.spend_public();
    let mask = random_scalar();
    let mut ring: Vec<RingMember> = (0..16)
        .map(|i| RingMember {
            global_index: first + 11 * i,
            output_key: random_point(),
            commitment: random_point(),
        })
        .collect();
    ring[7].output_key = output_key.compress().to_bytes();
    ring[7].commitment = Commitment::new(Scalar::from(mask), XMR)
        .commit()
        .compress()
        .to_bytes();
    Source {
        ring,
        real_output: 7,
        real_out_tx_key: (&r * ED25519_BASEPOINT_TABLE).compress().to_bytes(),
        real_out_additional_tx_keys: Vec::new(),
        real_output_in_tx_index: 0,
        amount: XMR,
        rct: true,
        mask: mask.to_bytes(),
        multisig: [0; 128],
    }
}

fn destination(keys: &WalletKeys, amount: u64) -> Destination {
    let address = keys.primary_address(MoneroNetwork::Regtest);
    Destination {
        original: address.to_string(),
        amount,
        spend_public: address.spend().compress().to_bytes(),
        view_public: address.view().compress().to_bytes(),
        is_subaddress: false,
        is_integrated: false,
    }
}

/// A 100-input set paying 60 XMR with change, and its signed set.
fn transaction_sets(
    wallet: &WalletKeys,
    transfers: Wallet2Outputs,
) -> (UnsignedTxSet, SignedTxSet) {
    let payee = WalletKeys::random(&mut rand_core::OsRng);
    let fee = XMR / 100;
    let pay = destination(&payee, 60 * XMR);
    let change = destination(wallet, 40 * XMR - fee);
    let tx = TxConstructionData {
        sources: (0..100)
            .map(|i| owned_source(wallet, 10_000 + 400 * i))
            .collect(),
        change: change.clone(),
        splitted_destinations: vec![pay.clone(), change],
        selected_transfers: (0..100).collect(),
        extra: vec![2, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        unlock_time: 0,
        flags: 3,
        range_proof_type: 3,
        bulletproof_version: 4,
        destinations: vec![pay],
        subaddress_account: 0,
        subaddress_indices: vec![0],
    };
    let spend = signable_transaction(
        &tx,
        wallet.view_keys(),
        MoneroNetwork::Regtest,
        &mut rand_core::OsRng,
    )
    .expect("the set is the wallet's");
    let (_, signed) = sign_unsigned(&spend.payload, MoneroNetwork::Regtest, wallet).expect("signs");
    let signed_set = SignedTxSet {
        txes: vec![PendingTx {
            tx: signed.bytes.clone(),
            dust: 0,
            fee: spend.fee,
            dust_added_to_fee: false,
            change: tx.change.clone(),
            selected_transfers: tx.selected_transfers.clone(),
            key_images: signed
                .key_images
                .iter()
                .map(|k| format!("<{k}> "))
                .collect(),
            tx_key: [1; 32],
            additional_tx_keys: Vec::new(),
            destinations: tx.destinations.clone(),
            construction: tx.clone(),
            multisig_entropy: [0; 32],
        }],
        key_images: Vec::new(),
        tx_key_images: Vec::new(),
    };
    (
        UnsignedTxSet {
            txes: vec![tx],
            transfers,
        },
        signed_set,
    )
}

/// Feather's frames for `file`: (frames, the largest QR version among them).
fn feather_frames(file: &[u8], ur_type: &str) -> (usize, i16) {
    let cbor = cbor_bytes(file);
    let mut encoder = ur::Encoder::new(&cbor, 150, ur_type).expect("ur encoder");
    let count = encoder.fragment_count();
    let mut largest = 0;
    for _ in 0..count {
        let part = encoder.next_part().expect("part");
        let code = qrcode::QrCode::with_error_correction_level(part.as_bytes(), qrcode::EcLevel::M)
            .expect("fits a QR code");
        if let qrcode::Version::Normal(v) = code.version() {
            largest = largest.max(v);
        }
    }
    (count, largest)
}

fn main() {
    let wallet = WalletKeys::random(&mut rand_core::OsRng);
    let view = wallet.view_keys();
    let outputs = Wallet2Outputs {
        layout: OutputsLayout::V1,
        offset: 0,
        total: Some(100),
        outputs: (0..100u64)
            .map(|i| Wallet2Output {
                output_key: [(i % 251) as u8 + 1; 32],
                index_in_tx: i % 2,
                global_index: 1_000_000 + i * 37,
                tx_public_key: [(i % 241) as u8 + 2; 32],
                flags: 0b10100,
                amount: 1_234_567_890_123 + i,
                additional_tx_keys: Vec::new(),
                subaddress: Some((0, (i % 5) as u32)),
            })
            .collect(),
    };
    let outputs_file = outputs.write(view, &mut rand_core::OsRng);
    let images = Wallet2KeyImages {
        offset: 0,
        key_images: (0..100u8).map(|i| ([i; 32], [i; 64])).collect(),
    };
    let images_file = images.write(view, &mut rand_core::OsRng);
    let (unsigned, signed) = transaction_sets(&wallet, outputs.clone());
    let unsigned_file = unsigned.write(view, &mut rand_core::OsRng);
    let signed_file = signed.write(view, &mut rand_core::OsRng);
    // Reading a file runs wallet2's key derivation (CryptoNight v0) once: time it.
    let mut times: Vec<f64> = (0..7)
        .map(|_| {
            let start = std::time::Instant::now();
            Wallet2Outputs::read(&outputs_file, view).expect("reads back");
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "read and decrypt the 100-output export (one CryptoNight v0 key derivation): median {:.1} ms of 7",
        times[3]
    );
    println!(
        "file                          bytes  airlock frames (UR, medium: v20-M)  feather frames (150 B fragments, v≤)"
    );
    for (name, file, kind) in [
        (
            "100-output outputs export",
            &outputs_file,
            MoneroFile::Outputs,
        ),
        ("100 key images", &images_file, MoneroFile::KeyImages),
        (
            "100-input unsigned tx set",
            &unsigned_file,
            MoneroFile::UnsignedTx,
        ),
        ("its signed tx set", &signed_file, MoneroFile::SignedTx),
    ] {
        let frames =
            encode(file, Format::Ur, Content::Monero(kind), Density::Medium).expect("encode");
        let (feather, version) = feather_frames(file, kind.ur_type());
        println!(
            "{name:<28} {:>6}  {:>34}  {:>22} (v{version})",
            file.len(),
            frames.needed,
            feather
        );
    }
}
