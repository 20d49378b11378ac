//! QR frames a vault export takes at each density, for `docs/PERFORMANCE.md`: UR `crypto-output`
//! (Keystone, Passport, Jade, Sparrow scan it), BBQr of the Coldcard multisig file (Coldcard Q,
//! Sparrow, Nunchuk), and the Coldcard file as UR `bytes` (Passport, Keystone). Vaults: 2-of-3
//! and 11-of-15 `wsh(sortedmulti)` of seed-derived test keys.
//!
//! `cargo run --release -p airlock --example device_frames`

use airlock_chain_bitcoin::SignerKey;
use airlock_chain_bitcoin::bitcoin::Network;
use airlock_chain_bitcoin::devices::{self, coldcard, ur_registry};
use airlock_qr::{Content, Density, Format, encode};

fn main() {
    println!("| vault | exchange | bytes | low | medium | high | max |");
    println!("|---|---|---|---|---|---|---|");
    for (m, n) in [(2usize, 3u8), (11, 15)] {
        let keys: Vec<_> = (0..n)
            .map(|i| {
                let k = SignerKey::from_seed(&[i + 1; 32], Network::Bitcoin).expect("seed");
                let path = k.multisig_path(0);
                (
                    k.fingerprint(),
                    path.clone(),
                    k.xpub_at(&path).expect("xpub"),
                )
            })
            .collect();
        let vault = devices::multisig_vault(m, false, &keys, Network::Bitcoin).expect("vault");
        let cbor = ur_registry::encode_multisig_output(false, m, &keys);
        let file = coldcard::write_setup_file(&vault, "treasury").expect("file");
        let rows: [(&str, &[u8], Format, Content); 3] = [
            ("UR crypto-output", &cbor, Format::Ur, Content::CryptoOutput),
            (
                "BBQr of the Coldcard file",
                file.as_bytes(),
                Format::Bbqr,
                Content::WalletText,
            ),
            (
                "UR bytes of the Coldcard file",
                file.as_bytes(),
                Format::Ur,
                Content::WalletText,
            ),
        ];
        for (name, data, format, content) in rows {
            let frames: Vec<String> = [Density::Low, Density::Medium, Density::High, Density::Max]
                .iter()
                .map(|d| {
                    encode(data, format, content, *d)
                        .map(|f| f.needed.to_string())
                        .unwrap_or_else(|e| format!("({e})"))
                })
                .collect();
            println!(
                "| {m}-of-{n} | {name} | {} | {} |",
                data.len(),
                frames.join(" | ")
            );
        }
    }
}
