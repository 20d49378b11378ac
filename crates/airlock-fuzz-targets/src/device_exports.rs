//! `device_exports`: other wallets' exports (`airlock_chain_bitcoin::devices`): Coldcard's setup
//! file and JSON exports, Specter JSON, Sparrow's descriptor file, BSMS, and the UR registry CBOR
//! (`crypto-output`, `crypto-account`, `crypto-hdkey`).
//!
//! The first byte picks the decoder:
//! - `0..=127`: text, read with `read_text_export` for network `bitcoin`/`testnet`/`signet`/
//!   `regtest` (byte % 4);
//! - `128..=255`: CBOR, read with `read_ur` as `crypto-output`, `crypto-account` or
//!   `crypto-hdkey` (byte % 3) for network (byte / 3) % 4.
//!
//! What is accepted must hold up: every member key's depth equals its path length and its
//! network is the one asked for, and the keys written back as a `crypto-account` read back the
//! same; a vault written back in every format that can carry it
//! (Coldcard file, `crypto-output`, Specter JSON, Sparrow file) reads back as the same vault.

use airlock_chain_bitcoin::bitcoin::{Network, NetworkKind};
use airlock_chain_bitcoin::devices::{
    self, DeviceExport, coldcard, read_text_export, read_ur, ur_registry, wallet_files,
};

const NETWORKS: [Network; 4] = [
    Network::Bitcoin,
    Network::Testnet,
    Network::Signet,
    Network::Regtest,
];
const UR_TYPES: [&str; 3] = ["crypto-output", "crypto-account", "crypto-hdkey"];

fn check(export: &DeviceExport, network: Network) {
    match export {
        DeviceExport::Keys {
            keys, fingerprint, ..
        } => {
            assert!(!keys.is_empty());
            for k in keys {
                assert_eq!(usize::from(k.xpub.depth), k.path.len());
                assert_eq!(k.xpub.network, NetworkKind::from(network));
            }
            // Written back as a crypto-account (what `airlock-signer key export` writes), keys
            // of the export's one master key read back the same.
            if keys.iter().any(|k| k.fingerprint != *fingerprint) {
                return;
            }
            let triples: Vec<_> = keys
                .iter()
                .map(|k| (k.script, k.path.clone(), k.xpub))
                .collect();
            let cbor = ur_registry::encode_account(*fingerprint, &triples);
            match read_ur("crypto-account", &cbor, network).expect("own crypto-account") {
                DeviceExport::Keys { keys: back, .. } => assert_eq!(&back, keys),
                other => panic!("own crypto-account read back as {other:?}"),
            }
        }
        DeviceExport::Vault { vault, .. } => {
            let text = vault.descriptor_text();
            let same = |back: DeviceExport, how: &str| match back {
                DeviceExport::Vault { vault: b, .. } => {
                    assert_eq!(b.descriptor_text(), text, "{how}")
                }
                other => panic!("{how} read back as {other:?}"),
            };
            if let Some(shape) = devices::multisig_shape(vault) {
                let file = coldcard::write_setup_file(vault, "fuzz").expect("coldcard file");
                same(
                    read_text_export(&file, network).expect("own coldcard file"),
                    "coldcard",
                );
                let keys: Vec<_> = vault
                    .keys()
                    .iter()
                    .map(|k| (k.fingerprint, k.origin_path.clone(), k.xpub))
                    .collect();
                let cbor =
                    ur_registry::encode_multisig_output(shape.nested, shape.threshold, &keys);
                same(
                    read_ur("crypto-output", &cbor, network).expect("own crypto-output"),
                    "crypto-output",
                );
            }
            let specter = wallet_files::write_specter(vault, "fuzz").expect("specter");
            if let Ok(back) = read_text_export(&specter, network) {
                same(back, "specter");
            }
            let sparrow = wallet_files::write_descriptor_file(vault);
            if let Ok(back) = read_text_export(&sparrow, network) {
                same(back, "sparrow");
            }
        }
    }
}

pub fn run(data: &[u8]) {
    let (m, rest) = crate::mode(data);
    if m < 128 {
        let network = NETWORKS[m as usize % 4];
        if let Ok(text) = std::str::from_utf8(rest)
            && let Ok(export) = read_text_export(text, network)
        {
            check(&export, network);
        }
    } else {
        let network = NETWORKS[(m as usize / 3) % 4];
        if let Ok(export) = read_ur(UR_TYPES[m as usize % 3], rest, network) {
            check(&export, network);
        }
    }
}
