//! `monero_files`: what crosses the gap for Monero and what a Monero vault is read from
//! (`airlock_chain_monero`).
//!
//! The first byte picks the decoder (`byte % 12`):
//! - 0: an outputs file (`xmr export-outputs`), 1: a key-image file (`xmr sign-key-images`): an
//!   accepted file must re-encode to the input; a key-image file is also verified against the
//!   bench wallet and an outputs file holding its own output keys (proof checks never panic);
//! - 2: an unsigned transaction (a proposal's payload) reviewed view-only with the bench wallet's
//!   keys, as the signer does before the passphrase is typed;
//! - 3: an unsigned transaction and signed material (two parts, [`crate::parts`]'s marker),
//!   through `verify_signed`, as the coordinator's `finalize` does;
//! - 4: a 25-word legacy seed, 5: a 16-word polyseed: an accepted seed must give the same key
//!   back from its own phrase;
//! - 6: Feather's view-only JSON (for each network);
//! - 7: a vault account text (`<address> view_key=… restore_height=…`) and an address as a
//!   signer's chain key;
//! - 8: wallet2's outputs export, decrypted (its body after the cipher) and whole (magic,
//!   cipher, signature): an accepted body must re-encode to the input, and the bench wallet's
//!   key-image signing of it must return or refuse, never panic;
//! - 9: wallet2's key-images export, decrypted and whole (and, as text, monero-wallet-rpc's
//!   `export_key_images` JSON): an accepted body re-encodes to the input and is checked against
//!   its own key images as output keys;
//! - 10: wallet2's unsigned transaction set, decrypted and whole: an accepted set re-encodes to
//!   the input and each transaction's conversion to Airlock's unsigned form (ownership,
//!   commitments, sums) returns or refuses, never panics;
//! - 11: wallet2's signed transaction set, decrypted and whole: an accepted set re-encodes.
//!
//! The bench wallet is the shared regtest bench's throwaway wallet (`wallet.json`), keys inlined.

use airlock_chain_monero::MoneroVault;
use airlock_chain_monero::keyimages::{KeyImagesFile, OutputsFile};
use airlock_chain_monero::keys::WalletKeys;
use airlock_chain_monero::keys::{MoneroNetwork, ViewKeys, parse_address};
use airlock_chain_monero::review::{review_unsigned, verify_signed};
use airlock_chain_monero::seed::{Polyseed, legacy_seed_from_key, legacy_seed_to_key};
use airlock_chain_monero::subaddress::Lookahead;
use airlock_chain_monero::vault_spec::canonical_chain_key;
use airlock_chain_monero::wallet::ViewOnlyExport;
use airlock_chain_monero::wallet2::files::{
    Wallet2KeyImages, Wallet2Outputs, sign_key_images_within,
};
use airlock_chain_monero::wallet2::txsets::{
    SignedTxSet, UnsignedTxSet, signable_transaction_within,
};

/// The bench wallet's primary address (regtest uses mainnet prefixes).
pub const BENCH_ADDRESS: &str = "42sYQ7MNLw1iQrDBah5dNAgU38NCxQUQxZD55soF41pNQJLhhG6hg4sPWy5955Fd9xSacDBkszX8zEnbdonJuZNZKuUqnfY";
/// The bench wallet's secret view key.
pub const BENCH_VIEW_KEY: &str = "43d9d1bc4a81a75065e349319d1408acf2e9386971607c5d3ee668638be3e902";

const NETWORKS: [MoneroNetwork; 4] = [
    MoneroNetwork::Mainnet,
    MoneroNetwork::Testnet,
    MoneroNetwork::Stagenet,
    MoneroNetwork::Regtest,
];

fn bench_keys() -> ViewKeys {
    let address = parse_address(MoneroNetwork::Regtest, BENCH_ADDRESS).expect("bench address");
    let mut view = [0u8; 32];
    hex::decode_to_slice(BENCH_VIEW_KEY, &mut view).expect("hex");
    ViewKeys::from_address(&address, &view).expect("bench view key")
}

/// A fixed wallet for the wallet2 modes (they need the spend key to sign key images).
pub fn fuzz_wallet() -> WalletKeys {
    WalletKeys::from_spend_secret(&[7; 32]).expect("a canonical scalar")
}

fn key_images(bytes: &[u8]) {
    let Ok(f) = KeyImagesFile::from_bytes(bytes) else {
        return;
    };
    assert_eq!(f.to_bytes(), bytes, "key-image file re-encodes differently");
    let exported = OutputsFile {
        network: f.network,
        primary_address: f.primary_address.clone(),
        outputs: f
            .key_images
            .iter()
            .map(|k| airlock_chain_monero::keyimages::ExportedOutput {
                output_key: k.output_key,
                key_offset: [0; 32],
                amount: 1,
            })
            .collect(),
    };
    let _ = f.verify(f.network, &f.primary_address, &exported);
    let _ = f.verify(MoneroNetwork::Regtest, BENCH_ADDRESS, &exported);
}

pub fn run(data: &[u8]) {
    let (m, rest) = crate::mode(data);
    let text = std::str::from_utf8(rest).ok();
    match m % 12 {
        0 => {
            if let Ok(f) = OutputsFile::from_bytes(rest) {
                assert_eq!(f.to_bytes(), rest, "outputs file re-encodes differently");
            }
        }
        1 => key_images(rest),
        2 => {
            let keys = bench_keys();
            if let Ok(r) = review_unsigned(rest, MoneroNetwork::Regtest, &keys, None) {
                let _ = r.to_description();
            }
        }
        3 => {
            let parts = crate::parts(rest, 2);
            if parts.len() == 2 {
                let _ = verify_signed(parts[0], parts[1]);
            }
        }
        4 => {
            if let Some(t) = text
                && let Ok(key) = legacy_seed_to_key(t)
            {
                let phrase = legacy_seed_from_key(&key);
                let again = legacy_seed_to_key(&phrase).expect("own phrase");
                assert_eq!(*again, *key, "legacy seed round trip");
            }
        }
        5 => {
            if let Some(t) = text
                && let Ok(seed) = Polyseed::from_phrase(t)
            {
                let again = Polyseed::from_phrase(&seed.to_phrase()).expect("own phrase");
                assert_eq!(again.to_phrase(), seed.to_phrase());
                assert_eq!(again.birthday_unix_time(), seed.birthday_unix_time());
                let _ = seed.wallet_keys();
            }
        }
        6 => {
            if let Some(t) = text {
                for n in NETWORKS {
                    let _ = ViewOnlyExport::from_feather_json(t, n);
                }
            }
        }
        8 => {
            let wallet = fuzz_wallet();
            let view = wallet.view_keys();
            if let Ok(outputs) = Wallet2Outputs::from_plaintext(rest, view) {
                assert_eq!(
                    outputs.to_plaintext(view).as_slice(),
                    rest,
                    "wallet2 outputs export re-encodes differently"
                );
                // A small subaddress table: the default one costs 10,000 derivations per input.
                let lookahead = Lookahead {
                    accounts: 2,
                    indices: 3,
                };
                let _ = sign_key_images_within(&outputs, &wallet, lookahead, &mut rand_core::OsRng);
            }
            let _ = Wallet2Outputs::read(rest, view);
        }
        9 => {
            let wallet = fuzz_wallet();
            let view = wallet.view_keys();
            if let Ok(images) = Wallet2KeyImages::from_plaintext(rest, view) {
                assert_eq!(
                    images.to_plaintext(view),
                    rest,
                    "wallet2 key-images export re-encodes differently"
                );
                let mut order = vec![[0u8; 32]; images.offset.min(4) as usize];
                order.extend(images.key_images.iter().map(|k| k.0));
                let _ = images.verify_against(&order);
            }
            let _ = Wallet2KeyImages::read(rest, view);
            if let Some(t) = text
                && let Ok(images) = Wallet2KeyImages::from_rpc_json(t)
            {
                let _ = images.verify_against(&[[0; 32]; 2]);
            }
        }
        10 => {
            let wallet = fuzz_wallet();
            let view = wallet.view_keys();
            if let Ok(set) = UnsignedTxSet::from_plaintext(rest) {
                assert_eq!(
                    set.to_plaintext(),
                    rest,
                    "wallet2 unsigned set re-encodes differently"
                );
                let lookahead = Lookahead {
                    accounts: 2,
                    indices: 3,
                };
                for tx in &set.txes {
                    let _ = signable_transaction_within(
                        tx,
                        view,
                        MoneroNetwork::Regtest,
                        lookahead,
                        &mut rand_core::OsRng,
                    );
                }
            }
            let _ = UnsignedTxSet::read(rest, view);
        }
        11 => {
            let wallet = fuzz_wallet();
            let view = wallet.view_keys();
            if let Ok(set) = SignedTxSet::from_plaintext(rest) {
                assert_eq!(
                    set.to_plaintext(),
                    rest,
                    "wallet2 signed set re-encodes differently"
                );
            }
            let _ = SignedTxSet::read(rest, view);
        }
        _ => {
            if let Some(t) = text {
                let _ = canonical_chain_key(t);
                for n in NETWORKS {
                    let _ = MoneroVault::parse(n.name(), t, &[BENCH_ADDRESS]);
                    if let Some(address) = t.split(' ').next() {
                        let _ = MoneroVault::parse(n.name(), t, &[address]);
                    }
                }
            }
        }
    }
}
