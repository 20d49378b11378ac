//! QR frames for Monero's cold-signing files (and the time to read one): a 100-output wallet2 outputs export and its
//! 100-key-image answer, as Airlock shows them (`airlock qr show`, Feather's UR types, default
//! density) beside what Feather's own settings give for the same bytes (bc-ur with fragments of
//! at most 150 bytes, lowercase text, QR error correction M, one fragment per frame).
//!
//! Feather itself is not run here: its frames are computed with the same `ur` encoder and the
//! `qrcode` crate from its published settings.
//!
//!     cargo run --release -p airlock-qr --example wallet2_qr_figures

use airlock_chain_monero::keys::WalletKeys;
use airlock_chain_monero::wallet2::files::{
    OutputsLayout, Wallet2KeyImages, Wallet2Output, Wallet2Outputs,
};
use airlock_qr::{Content, Density, Format, MoneroFile, encode, ur_codec::cbor_bytes};

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
