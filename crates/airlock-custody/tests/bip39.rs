//! BIP-39 and the BIP-32 master fingerprint against published facts.
//!
//! * `tests/data/bip39_vectors.json`: the English vectors of trezor/python-mnemonic `vectors.json`
//!   (the BIP-39 reference test vectors): entropy → mnemonic → seed with passphrase "TREZOR".
//! * BIP-32 test vector 1: seed 000102030405060708090a0b0c0d0e0f has master fingerprint 3442193e
//!   (the parent fingerprint of its `m/0'` key); test vector 2's seed gives bd16bee5.
//! * "abandon … about" (12 words, no passphrase) has master fingerprint 73c5da0a, the key origin
//!   in BIP-84's and BIP-86's test vectors.

use airlock_custody::mnemonic::{self, Fingerprint, Mnemonic, MnemonicError};

#[test]
fn official_english_vectors() {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("data/bip39_vectors.json")).unwrap();
    let cases = v["english"].as_array().unwrap();
    assert_eq!(cases.len(), 24);
    for c in cases {
        let entropy = hex::decode(c[0].as_str().unwrap()).unwrap();
        let words = c[1].as_str().unwrap();
        let seed = c[2].as_str().unwrap();
        let m = mnemonic::restore(words).unwrap();
        assert_eq!(m.to_entropy(), entropy, "{words}");
        assert_eq!(Mnemonic::from_entropy(&entropy).unwrap().to_string(), words);
        assert_eq!(
            hex::encode(mnemonic::seed(&m, "TREZOR").as_ref()),
            seed,
            "{words}"
        );
    }
}

#[test]
fn bip32_master_fingerprints() {
    let seed = hex::decode("000102030405060708090a0b0c0d0e0f").unwrap();
    assert_eq!(
        mnemonic::master_fingerprint(&seed).unwrap().to_string(),
        "3442193e"
    );
    let m = mnemonic::restore(
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
    )
    .unwrap();
    assert_eq!(
        mnemonic::mnemonic_fingerprint(&m, "").unwrap().to_string(),
        "73c5da0a"
    );
    let seed2 = hex::decode("fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a29f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542").unwrap();
    assert_eq!(
        mnemonic::master_fingerprint(&seed2).unwrap().to_string(),
        "bd16bee5"
    );
}

#[test]
fn verify_a_written_down_backup() {
    let m = mnemonic::generate(24, Some(b"31415926")).unwrap();
    let fp = mnemonic::mnemonic_fingerprint(&m, "").unwrap();
    let written = m.to_string().to_uppercase().replace(' ', "\n");
    assert!(mnemonic::verify_backup(&written, "", fp).unwrap());
    // With a passphrase, the fingerprint is another wallet's.
    assert!(!mnemonic::verify_backup(&written, "extra", fp).unwrap());
    // A wrong word is caught by the checksum (or, rarely, by the fingerprint).
    let mut words: Vec<String> = m.words().map(str::to_string).collect();
    words[3] = if words[3] == "zoo" { "abandon" } else { "zoo" }.into();
    match mnemonic::verify_backup(&words.join(" "), "", fp) {
        Err(MnemonicError::Checksum) | Ok(false) => {}
        other => panic!("a changed word was not caught: {other:?}"),
    }
    // Not a word / wrong count.
    words[3] = "bitcoinx".into();
    assert_eq!(
        mnemonic::verify_backup(&words.join(" "), "", fp).unwrap_err(),
        MnemonicError::UnknownWord(4)
    );
    assert_eq!(
        mnemonic::verify_backup(&words[..23].join(" "), "", fp).unwrap_err(),
        MnemonicError::WordCount(23)
    );
    assert_eq!(
        Fingerprint::from_hex(&fp.to_string()).unwrap(),
        fp,
        "fingerprint hex round trip"
    );
}
