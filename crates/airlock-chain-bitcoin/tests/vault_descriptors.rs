//! Vault descriptors: every supported kind parses and derives; bad descriptors are refused with an
//! error naming the problem; key exports follow BIP-48/84/86 (BIP-84 and BIP-86 published
//! vectors).

mod offline_support;

use airlock_chain_bitcoin::{BtcVault, SignerKey, SingleKeyScript, VaultKind};
use bitcoin::Network;
use offline_support::*;

fn refused(descriptor: &str, network: &str) -> String {
    BtcVault::parse(descriptor, network)
        .expect_err("descriptor must be refused")
        .to_string()
}

#[test]
fn every_supported_kind_parses_and_derives() {
    let single = signer(0);
    let cases = [
        (
            single.single_key_descriptor(SingleKeyScript::Wpkh).unwrap(),
            VaultKind::SingleKeySegwit,
            "bcrt1q",
        ),
        (
            single
                .single_key_descriptor(SingleKeyScript::Taproot)
                .unwrap(),
            VaultKind::SingleKeyTaproot,
            "bcrt1p",
        ),
        (sortedmulti_2of3(), VaultKind::SegwitMultisig, "bcrt1q"),
        (taproot_multi_a(), VaultKind::TaprootScripts, "bcrt1p"),
        (recovery_policy(144), VaultKind::SegwitMiniscript, "bcrt1q"),
    ];
    for (text, kind, prefix) in cases {
        let vault = BtcVault::parse(&text, "regtest").unwrap();
        assert_eq!(vault.kind(), kind, "{text}");
        let receive = vault.first_receive_address().unwrap().to_string();
        let change = vault.first_change_address().unwrap().to_string();
        assert!(receive.starts_with(prefix), "{receive}");
        assert_ne!(receive, change);
        let fingerprint = vault.wallet_fingerprint();
        assert_eq!(fingerprint.len(), 8);
        // The canonical text (with checksum) parses back to the same wallet.
        let again = BtcVault::parse(&vault.descriptor_text(), "regtest").unwrap();
        assert_eq!(again.wallet_fingerprint(), fingerprint);
        assert_eq!(again.first_receive_address().unwrap().to_string(), receive);
        assert!(vault.descriptor_text().contains('#'));
        let [r, c] = vault.branch_descriptors();
        assert!(r.contains("/0/*") && c.contains("/1/*"), "{r} {c}");
    }
}

#[test]
fn recovery_policy_summary_names_the_time_lock() {
    let vault = vault(&recovery_policy(144));
    let summary = vault.policy_summary();
    assert!(summary.contains("older(144)"), "{summary}");
    assert!(
        summary.contains(&signer(2).fingerprint().to_string()),
        "{summary}"
    );
}

#[test]
fn sortedmulti_order_of_keys_gives_the_same_addresses() {
    let a = vault(&sortedmulti_2of3());
    let b = vault(&format!(
        "wsh(sortedmulti(2,{},{},{}))",
        multisig_key(2),
        multisig_key(0),
        multisig_key(1)
    ));
    assert_eq!(
        a.first_receive_address().unwrap(),
        b.first_receive_address().unwrap()
    );
}

#[test]
fn duplicate_keys_are_refused() {
    let text = format!(
        "wsh(sortedmulti(2,{},{},{}))",
        multisig_key(0),
        multisig_key(1),
        multisig_key(0)
    );
    let err = refused(&text, "regtest");
    assert!(err.contains("duplicate key"), "{err}");
    let err = refused(
        &format!(
            "tr({},multi_a(1,{},{}))",
            multisig_key(0),
            multisig_key(0),
            multisig_key(1)
        ),
        "regtest",
    );
    assert!(err.contains("duplicate key"), "{err}");
}

#[test]
fn keys_of_another_network_are_refused() {
    let err = refused(&sortedmulti_2of3(), "bitcoin");
    assert!(
        err.contains("test networks (tpub)") && err.contains("xpub"),
        "{err}"
    );
    let mainnet = SignerKey::from_seed(&seed(0), Network::Bitcoin)
        .unwrap()
        .single_key_descriptor(SingleKeyScript::Wpkh)
        .unwrap();
    BtcVault::parse(&mainnet, "bitcoin").unwrap();
    let err = refused(&mainnet, "testnet");
    assert!(err.contains("mainnet (xpub)"), "{err}");
}

#[test]
fn checksum_is_verified_when_present() {
    let good = vault(&sortedmulti_2of3()).descriptor_text();
    BtcVault::parse(&good, "regtest").unwrap();
    let (body, checksum) = good.rsplit_once('#').unwrap();
    let mut wrong: Vec<char> = checksum.chars().collect();
    wrong[0] = if wrong[0] == 'q' { 'p' } else { 'q' };
    let bad = format!("{body}#{}", wrong.iter().collect::<String>());
    let err = refused(&bad, "regtest");
    assert!(err.contains("checksum mismatch"), "{err}");
}

#[test]
fn malformed_and_unsupported_descriptors_are_refused() {
    let key = multisig_key(0);
    let no_origin = key.split(']').nth(1).unwrap().to_owned();
    let single_path = key.replace("<0;1>", "0");
    let hardened_wildcard = key.replace("/*", "/*'");
    let three_branches = key.replace("<0;1>", "<0;1;2>");
    let cases = [
        (format!("wpkh({no_origin})"), "no origin"),
        (format!("wpkh({single_path})"), "multipath"),
        (format!("wpkh({hardened_wildcard})"), ""),
        (format!("wpkh({three_branches})"), "branches"),
        (format!("pkh({key})"), "legacy"),
        ("wsh(sortedmulti(2,".to_owned(), "cannot parse"),
        (String::new(), "empty"),
        (
            format!(
                "wpkh({})",
                signer(0).xpub_at(&"m/84'/1'/0'".parse().unwrap()).unwrap()
            )
            .replace("tpub", "tprv"),
            "",
        ),
    ];
    for (text, needle) in cases {
        let err = refused(&text, "regtest");
        assert!(err.starts_with("descriptor:"), "{text}: {err}");
        assert!(err.contains(needle), "{text}: {err}");
    }
    let err = refused(&sortedmulti_2of3(), "moon");
    assert!(err.contains("unknown network"), "{err}");
}

#[test]
fn descriptor_with_private_key_is_refused() {
    // A tprv inside a descriptor: a vault holds public keys only.
    let seed = seed(0);
    let master = bitcoin::bip32::Xpriv::new_master(bitcoin::NetworkKind::Test, &seed).unwrap();
    let text = format!("wpkh({master}/<0;1>/*)");
    let err = refused(&text, "regtest");
    assert!(err.contains("private key"), "{err}");
}

#[test]
fn multisig_key_export_uses_bip48_path() {
    let key = signer(0);
    let exported = key.export_multisig_key().unwrap();
    // Fingerprint and account tpub of cosigner 0 as shared/bench/psbt-sign/keys.json lists them.
    assert_eq!(
        exported,
        "[350826d2/48'/1'/0'/2']tpubDEFTHvLAaReaj2CdfrADRgF2sGfCvvNpj3WVKBtd6eLXmDadrWevWfmc2Tj85u3foVMdp11oHPcffUtYivHa2KYDgSoijX2RBQLYWGKBxce"
    );
    let mainnet = SignerKey::from_seed(&seed(0), Network::Bitcoin).unwrap();
    assert!(
        mainnet
            .export_multisig_key()
            .unwrap()
            .contains("/48'/0'/0'/2']xpub")
    );
}

const ABANDON: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

fn abandon_signer() -> SignerKey {
    let mnemonic = bip39::Mnemonic::parse(ABANDON).unwrap();
    SignerKey::from_seed(&mnemonic.to_seed(""), Network::Bitcoin).unwrap()
}

#[test]
fn bip84_vector_first_addresses() {
    let key = abandon_signer();
    assert_eq!(key.fingerprint().to_string(), "73c5da0a");
    let text = key.single_key_descriptor(SingleKeyScript::Wpkh).unwrap();
    assert!(text.starts_with("wpkh([73c5da0a/84'/0'/0']xpub"), "{text}");
    let vault = BtcVault::parse(&text, "bitcoin").unwrap();
    assert_eq!(
        vault.first_receive_address().unwrap().to_string(),
        "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
    );
    assert_eq!(
        vault.first_change_address().unwrap().to_string(),
        "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"
    );
}

#[test]
fn bip86_vector_first_addresses() {
    let key = abandon_signer();
    let text = key.single_key_descriptor(SingleKeyScript::Taproot).unwrap();
    assert!(text.starts_with("tr([73c5da0a/86'/0'/0']xpub"), "{text}");
    let vault = BtcVault::parse(&text, "bitcoin").unwrap();
    assert_eq!(
        vault.first_receive_address().unwrap().to_string(),
        "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr"
    );
    assert_eq!(
        vault.first_change_address().unwrap().to_string(),
        "bc1p3qkhfews2uk44qtvauqyr2ttdsw7svhkl9nkm9s9c3x4ax5h60wqwruhk7"
    );
}

#[test]
fn chain_secret_forms() {
    let from_seed = SignerKey::from_secret(&seed(0), NETWORK).unwrap();
    assert_eq!(from_seed.fingerprint().to_string(), "350826d2");
    let master = bitcoin::bip32::Xpriv::new_master(bitcoin::NetworkKind::Test, &seed(0)).unwrap();
    let from_text = SignerKey::from_secret(master.to_string().as_bytes(), NETWORK).unwrap();
    assert_eq!(from_text.fingerprint(), from_seed.fingerprint());
    for bad in [&[1u8; 8][..], &[1u8; 65][..]] {
        let err = SignerKey::from_secret(bad, NETWORK)
            .unwrap_err()
            .to_string();
        assert!(err.contains("16 to 64 bytes"), "{err}");
    }
    let err = SignerKey::from_secret(master.to_string().as_bytes(), Network::Bitcoin)
        .unwrap_err()
        .to_string();
    assert!(err.contains("another network"), "{err}");
    // The debug form never shows key material.
    assert!(!format!("{from_seed:?}").contains("prv"));
}
