//! `keystore`: key files a signer reads: Airlock's sealed keystore (`airlock_custody::keystore`)
//! and Ethereum keystore v3 JSON (`airlock_custody::eth_keystore`).
//!
//! The first byte picks the decoder:
//! - `0..=63`: an Airlock keystore file as read (`sealed_params`, the checks `open` makes before
//!   it derives anything);
//! - `64..=127`: the same with its trailing SHA-256 recomputed by the harness, so the fuzzer
//!   gets past the checksum to the magic, version and KDF-bound checks;
//! - `128..=255`: a keystore v3 file (`file_kdf`: size cap, JSON, version, cipher, KDF names and
//!   bounds, hex fields).
//!
//! Whenever the KDF parameters are cheap enough for fuzzing (Argon2 ≤ 64 KiB and t ≤ 2; scrypt
//! n·r·p ≤ 2^12; PBKDF2 ≤ 64 rounds; the seeds use such parameters), the file is also decrypted
//! with the harness passphrase [`PASSPHRASE`]; a v3 file that decrypts must re-encrypt and
//! decrypt to the same key and address. Parameters over the bounds must be refused before any
//! memory is allocated for the KDF, which libFuzzer's `-rss_limit_mb` enforces.

use airlock_custody::eth_keystore::{self, EthKdf};
use airlock_custody::keystore::{self, Passphrase};
use sha2::{Digest as _, Sha256};

/// The passphrase the seed files are sealed with.
pub const PASSPHRASE: &str = "fuzz passphrase";

fn airlock_file(bytes: &[u8]) {
    let Ok(params) = keystore::sealed_params(bytes) else {
        return;
    };
    params
        .check()
        .expect("sealed_params returned unchecked parameters");
    if params.memory_kib <= 64 && params.iterations <= 2 && params.parallelism <= 2 {
        let pass = Passphrase::new(PASSPHRASE.to_owned()).expect("non-empty");
        let _ = keystore::open(bytes, &pass);
    }
}

fn eth_file(bytes: &[u8]) {
    let Ok(kdf) = eth_keystore::file_kdf(bytes) else {
        return;
    };
    kdf.check().expect("file_kdf returned unchecked parameters");
    let cheap = match kdf {
        EthKdf::Scrypt { log_n, r, p } => (1u64 << log_n) * u64::from(r) * u64::from(p) <= 1 << 12,
        EthKdf::Pbkdf2 { c } => c <= 64,
    };
    if !cheap {
        return;
    }
    let Ok((key, info)) = eth_keystore::decrypt_with_bytes(bytes, PASSPHRASE.as_bytes()) else {
        return;
    };
    assert_eq!(info.kdf, kdf);
    let json = eth_keystore::encrypt_with_bytes(&key, PASSPHRASE.as_bytes(), kdf)
        .expect("re-encrypting a decrypted key");
    let (again, _) = eth_keystore::decrypt_with_bytes(json.as_bytes(), PASSPHRASE.as_bytes())
        .expect("own file decrypts");
    assert_eq!(again.secret_bytes(), key.secret_bytes());
    assert_eq!(again.address(), key.address());
}

pub fn run(data: &[u8]) {
    let (m, rest) = crate::mode(data);
    match m {
        0..=63 => airlock_file(rest),
        64..=127 => {
            let mut bytes = rest.to_vec();
            bytes.extend_from_slice(&Sha256::digest(rest));
            airlock_file(&bytes);
        }
        _ => eth_file(rest),
    }
}
