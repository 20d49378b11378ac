//! QR frames each exchange with another device takes at each density, for `docs/PERFORMANCE.md`:
//! a vault export as UR `crypto-output` (Keystone, Passport, Jade, Sparrow scan it), as BBQr of
//! the Coldcard multisig file (Coldcard Q, Sparrow, Nunchuk) and as UR `bytes` of that file
//! (Passport, Keystone), for 2-of-3 and 11-of-15 `wsh(sortedmulti)` vaults; and an EIP-4527
//! `eth-sign-request` for a Safe transfer and for an ERC-20 transfer through a Safe.
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
            println!(
                "| {m}-of-{n} | {name} | {} |",
                frames_row(data, format, content)
            );
        }
    }
    eth_requests();
}

fn eth_requests() {
    use airlock_chain_ethereum::eip4527::{DataType, DevicePath, SignRequest, request_id};
    use airlock_chain_ethereum::{EthAddress, SafeTx, safe};
    use alloy_primitives::U256;
    let safe_address: EthAddress = "0x2b5f3ba1a2b2c6f4f0a2d3bd7f5d1d1b6e5a4c3b"
        .parse()
        .expect("safe");
    let to: EthAddress = "0x00000000000000000000000000000000000A11cE"
        .parse()
        .expect("to");
    let zero: EthAddress = "0x0000000000000000000000000000000000000000"
        .parse()
        .expect("zero");
    // ERC-20 transfer(to, 1000): selector a9059cbb, two words.
    let mut erc20 = hex::decode("a9059cbb").expect("hex");
    erc20.extend([0u8; 12]);
    erc20.extend(to.0.as_slice());
    erc20.extend(U256::from(1000).to_be_bytes::<32>());
    // A call from the Safe at nonce 3, no gas refund.
    let call = |value: u64, data: Vec<u8>| SafeTx {
        to,
        value: U256::from(value),
        data,
        operation: 0,
        safe_tx_gas: U256::ZERO,
        base_gas: U256::ZERO,
        gas_price: U256::ZERO,
        gas_token: zero,
        refund_receiver: zero,
        nonce: U256::from(3),
    };
    for (name, tx) in [
        ("Safe ETH transfer", call(777, vec![])),
        ("Safe ERC-20 transfer", call(0, erc20)),
    ] {
        let json = safe::typed_data_json(1, safe_address, &tx);
        let hash = safe::safe_tx_hash(1, safe_address, &tx);
        let request = SignRequest {
            request_id: request_id(&hash, &to),
            sign_data: json.into_bytes(),
            data_type: DataType::TypedData,
            chain_id: 1,
            path: DevicePath::parse("m/44'/60'/0'/0/0", Some(0xf23f_9fd2)).expect("path"),
            address: to,
            origin: "airlock vault treasury".into(),
        };
        let cbor = request.to_cbor();
        println!(
            "| Safe | eth-sign-request, {name} | {} |",
            frames_row(&cbor, Format::Ur, Content::EthSignRequest)
        );
    }
}

/// `bytes | low | medium | high | max` cells: the data's size and the frames one lossless pass
/// needs at each density.
fn frames_row(data: &[u8], format: Format, content: Content) -> String {
    let frames: Vec<String> = [Density::Low, Density::Medium, Density::High, Density::Max]
        .iter()
        .map(|d| {
            encode(data, format, content, *d)
                .map(|f| f.needed.to_string())
                .unwrap_or_else(|e| format!("({e})"))
        })
        .collect();
    format!("{} | {}", data.len(), frames.join(" | "))
}
