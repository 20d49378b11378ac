//! Other wallets' formats (`devices`): published vectors (BCR-2020-010, BCR-2020-015, Coldcard's
//! documented generic JSON sample), round trips through Airlock's writers, and bad input refused
//! with the format and field named. The independent readers (Python `urtypes`, embit) are in
//! `airlock-chain-bitcoin-online/tests/peers_devices.rs`.

use airlock_chain_bitcoin::bitcoin::Network;
use airlock_chain_bitcoin::bitcoin::bip32::Xpub;
use airlock_chain_bitcoin::devices::{
    self, DeviceExport, KeyScript, coldcard, read_text_export, read_ur, ur_registry, wallet_files,
};
use airlock_chain_bitcoin::{BtcVault, SignerKey};

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex")
}

// BCR-2020-010 test vectors 1, 2, 3 and 5 (hex of the CBOR).
const OUTPUT_V1: &str =
    "d90193d90132a103582102c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5";
const OUTPUT_V2: &str =
    "d90190d90194d90132a103582103fff97bd5755eeea420453a14355235d382f6472f8568a18b2f057a1460297556";
const OUTPUT_V3: &str = "d90190d90196a201020282d90132a1035821022f01e5e15cca351daff3843fb70f3c2f0a1bdd05e5af888a67784ef3e10a2a01d90132a103582103acd484e2f0c7f65309ad178a9f559abde09796974c57e714c35f110dfc27ccbe";
const OUTPUT_V4: &str = "d90193d9012fa503582102d2b36900396c9282fa14628566582f206a5dd0bcc8d5e892611806cafb0301f0045820637807030d55d01f9a0cb3a7839515d796bd07706386a6eddf06cc29a65a0e2906d90130a30186182cf500f500f5021ad34db33f030407d90130a1018401f480f4081a78412e3a";
const OUTPUT_V5: &str = "d90191d90196a201010282d9012fa403582103cbcaa9c98c877a26977d00825c956a238e8dddfbd322cce4f74b0b5bd6ace4a704582060499f801b896d83179a4374aeb7822aaeaceaa0db1f85ee3e904c4defbd968906d90130a20180030007d90130a1018601f400f480f4d9012fa403582102fc9e5af0ac8d9b3cecfe2a888e2117ba3d089d8585886c9c826b6b22a98d12ea045820f0909affaa7ee7abe5dd4e100598d4dc53cd709d5a5c2cac40e7412f232f7c9c06d90130a2018200f4021abd16bee507d90130a1018600f400f480f4";

// BCR-2020-015's crypto-account vector (mnemonic "shield group erode awake lock sausage cash glare
// wave crew flame glove", account 0, mainnet).
const ACCOUNT_HEX: &str = "a2011a37b5eed40287d90134d90193d9012fa403582103eb3e2863911826374de86c231a4b76f0b89dfa174afb78d7f478199884d9dd320458206456a5df2db0f6d9af72b2a1af4b25f45200ed6fcc29c3440b311d4796b70b5b06d90130a20186182cf500f500f5021a37b5eed4081a99f9cdf7d90134d90190d90194d9012fa403582102c7e4823730f6ee2cf864e2c352060a88e60b51a84e89e4c8c75ec22590ad6b690458209d2f86043276f9251a4a4f577166a5abeb16b6ec61e226b5b8fa11038bfda42d06d90130a201861831f500f500f5021a37b5eed4081aa80f7cdbd90134d90194d9012fa403582103fd433450b6924b4f7efdd5d1ed017d364be95ab2b592dc8bddb3b00c1c24f63f04582072ede7334d5acf91c6fda622c205199c595a31f9218ed30792d301d5ee9e3a8806d90130a201861854f500f500f5021a37b5eed4081a0d5de1d7d90134d90190d9019ad9012fa4035821035ccd58b63a2cdc23d0812710603592e7457573211880cb59b1ef012e168e059a04582088d3299b448f87215d96b0c226235afc027f9e7dc700284f3e912a34daeb1a2306d90130a20182182df5021a37b5eed4081a37b5eed4d90134d90190d90191d9019ad9012fa4035821032c78ebfcabdac6d735a0820ef8732f2821b4fb84cd5d6b26526938f90c0507110458207953efe16a73e5d3f9f2d4c6e49bd88e22093bbd85be5a7e862a4b98a16e0ab606d90130a201881830f500f500f501f5021a37b5eed4081a59b69b2ad90134d90191d9019ad9012fa40358210260563ee80c26844621b06b74070baf0e23fb76ce439d0237e87502ebbd3ca3460458202fa0e41c9dc43dc4518659bfcef935ba8101b57dbc0812805dd983bc1d34b81306d90130a201881830f500f500f502f5021a37b5eed4081a59b69b2ad90134d90199d9012fa403582102bbb97cf9efa176b738efd6ee1d4d0fa391a973394fbc16e4c5e78e536cd14d2d0458204b4693e1f794206ed1355b838da24949a92b63d02e58910bf3bd3d9c242281e606d90130a201861856f500f500f5021a37b5eed4081acec7070c";
const ACCOUNT_MNEMONIC: &str =
    "shield group erode awake lock sausage cash glare wave crew flame glove";
const ACCOUNT_KEYS: [(&str, &str); 7] = [
    (
        "p2pkh",
        "[37b5eed4/44'/0'/0']xpub6CnQkivUEH9bSbWVWfDLCtigKKgnSWGaVSRyCbN2QNBJzuvHT1vUQpgSpY1NiVvoeNEuVwk748Cn9G3NtbQB1aGGsEL7aYEnjVWgjj9tefu",
    ),
    (
        "p2sh-p2wpkh",
        "[37b5eed4/49'/0'/0']xpub6CtR1iF4dZPkEyXDwVf3HE74tSwXNMcHtBzX4gwz2UnPhJ54Jz5unHx2syYCCDkvVUmsmoYTmcaHXe1wJppvct4GMMaN5XAbRk7yGScRSte",
    ),
    (
        "p2wpkh",
        "[37b5eed4/84'/0'/0']xpub6BkU445MSEBXbPjD3g2c2ch6mn8yy1SXXQUM7EwjgYiq6Wt1NDwDZ45npqWcV8uQC5oi2gHuVukoCoZZyT4HKq8EpotPMqGqxdZRuapCQ23",
    ),
    (
        "multisig-p2sh",
        "[37b5eed4/45']xpub68JFLJTH96GUqC6SoVw5c2qyLSt776PGu5xde8ddVACuPYyarvSL827TbZGavuNbKQ8DG3VP9fCXPhQRBgPrS4MPG3zaZgwAGuPHYvVuY9X",
    ),
    (
        "multisig-p2sh-p2wsh",
        "[37b5eed4/48'/0'/0'/1']xpub6EC9f7mLFJQoPaqDJ72Zbv67JWzmpXvCYQSecER9GzkYy5eWLsVLbHnxoAZ8NnnsrjhMLduJo9dG6fNQkmMFL3Qedj2kf5bEy5tptHPApNf",
    ),
    (
        "multisig-p2wsh",
        "[37b5eed4/48'/0'/0'/2']xpub6EC9f7mLFJQoRQ6qiTvWQeeYsgtki6fBzSUgWgUtAujEMtAfJSAn3AVS4KrLHRV2hNX77YwNkg4azUzuSwhNGtcq4r2J8bLGMDkrQYHvoed",
    ),
    (
        "p2tr",
        "[37b5eed4/86'/0'/0']xpub6DAvL2L5bgGSpDygSQUDpjwE47saoMk2rSRtYhN7Dma7HvnFLTXNrcSC1AmEN8G2SCD958bUwgc6Bew4sAFa2kqYynF8Rmu6P5jMt2FDPtm",
    ),
];

// Coldcard's documented generic JSON export (docs/generic-wallet-export.md, simulator, account 123).
const COLDCARD_GENERIC: &str = r#"{
    "chain": "XTN",
    "xfp": "0F056943",
    "xpub": "tpubD6NzVbkrYhZ4XzL5Dhayo67Gorv1YMS7j8pRUvVMd5odC2LBPLAygka9p7748JtSq82FNGPppFEz5xxZUdasBRCqJqXvUHq6xpnsMcYJzeh",
    "account": 123,
    "bip44": {
        "deriv": "m/44'/1'/123'",
        "first": "n44vs1Rv7T8SANrg2PFGQhzVkhr5Q6jMMD",
        "name": "p2pkh",
        "xfp": "B7908B26",
        "xpub": "tpubDCiHGUNYdRRGoSH22j8YnruUKgguCK1CC2NFQUf9PApeZh8ewAJJWGMUrhggDNK73iCTanWXv1RN5FYemUH8UrVUBjqDb8WF2VoKmDh9UTo"
    },
    "bip49": {
        "_pub": "upub5DMRSsh6mNak9KbcVjJ7xAgHJvbE3Nx22CBTier5C35kv8j7g2q58ywxskBe6JCcAE2VH86CE2aL4MifJyKbRw8Gj9ay7SWvUBkp2DJ7y52",
        "deriv": "m/49'/1'/123'",
        "first": "2N87V39riUUCd4vmXfDjMWAu9gUCiBji5jB",
        "name": "p2wpkh-p2sh",
        "xfp": "CEE1D809",
        "xpub": "tpubDCDqt7XXvhAdy1MpSze5nMJA9x8DrdRaKALRRPasfxyHpiqWWEAr9cbDBQ9BcX7cB3up98Pk97U2QQ3xrvQsi5dNPmRYYhdcsKY9wwEY87T"
    },
    "bip84": {
        "_pub": "vpub5Y5a91QvDT45EnXQaKeuvJupVvX8f9BiywDcadSTtaeJ1VgJPPXMitnYsqd9k7GnEqh44FKJ5McJfu6KrihFXhAmvSWgm7BAVVK8Gupu4fL",
        "deriv": "m/84'/1'/123'",
        "first": "tb1qc58ys2dphtphg6yuugdf3d0kufmk0tye044g3l",
        "name": "p2wpkh",
        "xfp": "78CF94E5",
        "xpub": "tpubDC7jGaaSE66VDB6VhEDFYQSCAyugXmfnMnrMVyHNzW9wryyTxvha7TmfAHd7GRXrr2TaAn2HXn9T8ep4gyNX1bzGiieqcTUNcu2poyntrET"
    }
}"#;

fn signer(i: u8) -> SignerKey {
    SignerKey::from_seed(&[i + 1; 32], Network::Testnet).expect("seed")
}

/// Three test signers' BIP-48 keys, as `(fingerprint, path, xpub)`.
fn members() -> Vec<(
    airlock_chain_bitcoin::bitcoin::bip32::Fingerprint,
    airlock_chain_bitcoin::bitcoin::bip32::DerivationPath,
    Xpub,
)> {
    (0..3)
        .map(|i| {
            let k = signer(i);
            let path = k.multisig_path(0);
            let xpub = k.xpub_at(&path).expect("xpub");
            (k.fingerprint(), path, xpub)
        })
        .collect()
}

fn vault(nested: bool) -> BtcVault {
    devices::multisig_vault(2, nested, &members(), Network::Testnet).expect("vault")
}

fn expect_err<T: std::fmt::Debug>(r: Result<T, airlock_chain_bitcoin::BtcError>, needle: &str) {
    match r {
        Ok(v) => panic!("expected an error containing {needle:?}, got {v:?}"),
        Err(e) => assert!(
            e.to_string().contains(needle),
            "error {e} does not contain {needle:?}"
        ),
    }
}

#[test]
fn bcr_2020_010_vectors_decode_to_their_descriptors() {
    let text = |hex: &str| {
        ur_registry::decode_output(&unhex(hex))
            .unwrap()
            .descriptor(None)
    };
    assert_eq!(
        text(OUTPUT_V1),
        "pkh(02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5)"
    );
    assert_eq!(
        text(OUTPUT_V2),
        "sh(wpkh(03fff97bd5755eeea420453a14355235d382f6472f8568a18b2f057a1460297556))"
    );
    assert_eq!(
        text(OUTPUT_V3),
        "sh(multi(2,022f01e5e15cca351daff3843fb70f3c2f0a1bdd05e5af888a67784ef3e10a2a01,03acd484e2f0c7f65309ad178a9f559abde09796974c57e714c35f110dfc27ccbe))"
    );
    // Vector 5: both xpubs are rebuilt byte for byte (depth, parent fingerprint, child number from
    // the origin). The BCR's text leaves out the second key's origin [bd16bee5/0] that its CBOR
    // carries; Airlock writes it.
    assert_eq!(
        text(OUTPUT_V5),
        "wsh(multi(1,xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB/1/0/*,[bd16bee5/0]xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH/0/0/*))"
    );
    // Vector 4's xpub states depth 4 and child number 0xfffffffe for a 3-step origin, which the
    // CBOR cannot carry: key data, chain code, depth and parent fingerprint must match.
    let v4 = ur_registry::decode_output(&unhex(OUTPUT_V4)).unwrap();
    let ur_registry::ScriptExpr::Wrap("pkh", inner) = &v4 else {
        panic!("{v4:?}")
    };
    let ur_registry::ScriptExpr::Key(ur_registry::OutputKey::Hd(hd)) = inner.as_ref() else {
        panic!("{inner:?}")
    };
    let stated: Xpub = "xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL".parse().unwrap();
    assert_eq!(hd.xpub.public_key, stated.public_key);
    assert_eq!(hd.xpub.chain_code, stated.chain_code);
    assert_eq!(hd.xpub.depth, 4);
    assert_eq!(hd.xpub.parent_fingerprint, stated.parent_fingerprint);
    assert!(
        v4.descriptor(None)
            .starts_with("pkh([d34db33f/44'/0'/0']xpub")
    );
    assert!(v4.descriptor(None).ends_with("/1/*)"));
}

#[test]
fn bcr_2020_015_account_vector_gives_the_mnemonics_keys() {
    let export = read_ur("crypto-account", &unhex(ACCOUNT_HEX), Network::Bitcoin).unwrap();
    let DeviceExport::Keys {
        fingerprint, keys, ..
    } = &export
    else {
        panic!("{export:?}")
    };
    assert_eq!(fingerprint.to_string(), "37b5eed4");
    let got: Vec<(&str, String)> = keys
        .iter()
        .map(|k| (k.script.name(), k.with_origin()))
        .collect();
    let want: Vec<(&str, String)> = ACCOUNT_KEYS
        .iter()
        .map(|(s, k)| (*s, k.to_string()))
        .collect();
    assert_eq!(got, want);
    // Independently: the mnemonic's own keys at those paths.
    let mnemonic = bip39::Mnemonic::parse(ACCOUNT_MNEMONIC).unwrap();
    let key = SignerKey::from_seed(&mnemonic.to_seed(""), Network::Bitcoin).unwrap();
    for k in keys {
        assert_eq!(key.export_key(&k.path).unwrap(), k.with_origin());
    }
    assert_eq!(
        export.multisig_key().unwrap().with_origin(),
        ACCOUNT_KEYS[5].1
    );
    // The same account is refused for a test network: its keys are mainnet keys.
    expect_err(
        read_ur("crypto-account", &unhex(ACCOUNT_HEX), Network::Testnet),
        "is for mainnet, not testnet",
    );
}

#[test]
fn coldcard_generic_json_sample_is_read_and_its_first_addresses_checked() {
    let export = read_text_export(COLDCARD_GENERIC, Network::Testnet).unwrap();
    let DeviceExport::Keys {
        format,
        fingerprint,
        keys,
    } = &export
    else {
        panic!("{export:?}")
    };
    assert_eq!(*format, "coldcard-json");
    assert_eq!(fingerprint.to_string(), "0f056943");
    let scripts: Vec<KeyScript> = keys.iter().map(|k| k.script).collect();
    assert_eq!(
        scripts,
        [KeyScript::Wpkh, KeyScript::ShWpkh, KeyScript::Pkh]
    );
    assert_eq!(
        keys[0].with_origin(),
        "[0f056943/84'/1'/123']tpubDC7jGaaSE66VDB6VhEDFYQSCAyugXmfnMnrMVyHNzW9wryyTxvha7TmfAHd7GRXrr2TaAn2HXn9T8ep4gyNX1bzGiieqcTUNcu2poyntrET"
    );
    expect_err(export.multisig_key(), "no P2WSH multisig key");

    // Altered: a first address the key does not derive, a `_pub` of another key, the wrong chain,
    // a section xfp that is not the key's.
    let altered = COLDCARD_GENERIC.replace(
        "tb1qc58ys2dphtphg6yuugdf3d0kufmk0tye044g3l",
        "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
    );
    expect_err(
        read_text_export(&altered, Network::Testnet),
        "bip84: the stated first address",
    );
    let altered = COLDCARD_GENERIC.replace(
        "vpub5Y5a91QvDT45EnXQaKeuvJupVvX8f9BiywDcadSTtaeJ1VgJPPXMitnYsqd9k7GnEqh44FKJ5McJfu6KrihFXhAmvSWgm7BAVVK8Gupu4fL",
        "upub5DMRSsh6mNak9KbcVjJ7xAgHJvbE3Nx22CBTier5C35kv8j7g2q58ywxskBe6JCcAE2VH86CE2aL4MifJyKbRw8Gj9ay7SWvUBkp2DJ7y52",
    );
    expect_err(
        read_text_export(&altered, Network::Testnet),
        "a upub key implies p2sh-p2wpkh, but it is given for p2wpkh",
    );
    expect_err(
        read_text_export(COLDCARD_GENERIC, Network::Bitcoin),
        "the export is for chain XTN, not bitcoin",
    );
    let altered = COLDCARD_GENERIC.replace("78CF94E5", "78CF94E6");
    expect_err(
        read_text_export(&altered, Network::Testnet),
        "bip84: xfp 78CF94E6 is not the key's own fingerprint",
    );
    let truncated = &COLDCARD_GENERIC[..COLDCARD_GENERIC.len() / 2];
    expect_err(
        read_text_export(truncated, Network::Testnet),
        "the JSON export does not parse",
    );
}

#[test]
fn coldcard_setup_file_round_trips_and_its_documented_variants_read() {
    for nested in [false, true] {
        let v = vault(nested);
        let file = coldcard::write_setup_file(&v, "treasury 2026 cold storage").unwrap();
        assert!(file.contains("Name: treasury 2026 cold s\n"), "{file}");
        assert!(file.contains("Policy: 2 of 3\n"));
        assert!(file.contains(if nested {
            "Format: P2SH-P2WSH\n"
        } else {
            "Format: P2WSH\n"
        }));
        let DeviceExport::Vault {
            vault: back, name, ..
        } = read_text_export(&file, Network::Testnet).unwrap()
        else {
            panic!()
        };
        assert_eq!(back.descriptor_text(), v.descriptor_text());
        assert_eq!(name.as_deref(), Some("treasury 2026 cold s"));
    }

    // Written by hand as Coldcard documents it: one Derivation line per key, SLIP-132 `Vpub`
    // keys, lower-case labels, the old `P2WSH-P2SH` name, comments.
    let m = members();
    let vpub = |x: &Xpub| {
        let mut data = x.encode();
        data[..4].copy_from_slice(&[0x02, 0x57, 0x54, 0x83]);
        airlock_chain_bitcoin::bitcoin::base58::encode_check(&data)
    };
    let mut text = String::from(
        "# Coldcard Multisig setup file (created on 0F056943)\n#\nname: hand\npolicy: 2 of 3\nformat: p2wsh\n",
    );
    for (fp, path, xpub) in &m {
        text += &format!(
            "\nDerivation: m/{}\n{}: {}\n",
            path.to_string().replace('\'', "h"),
            fp.to_string().to_uppercase(),
            vpub(xpub)
        );
    }
    let DeviceExport::Vault { vault: back, .. } =
        read_text_export(&text, Network::Testnet).unwrap()
    else {
        panic!()
    };
    assert_eq!(back.descriptor_text(), vault(false).descriptor_text());
    // A Vpub key (P2WSH) in a P2SH-P2WSH file is refused.
    expect_err(
        read_text_export(
            &text.replace("format: p2wsh", "Format: P2WSH-P2SH"),
            Network::Testnet,
        ),
        "a Vpub key implies multisig-p2wsh, but it is given for multisig-p2sh-p2wsh",
    );
}

#[test]
fn coldcard_setup_file_bad_input_is_refused_naming_the_problem() {
    let good = coldcard::write_setup_file(&vault(false), "t").unwrap();
    let cases: Vec<(String, &str)> = vec![
        (
            good.replace("Policy: 2 of 3", "Policy: 2 of 4"),
            "the policy says 2 of 4 but the file lists 3 keys",
        ),
        (
            good.replace("Policy: 2 of 3", "Policy: 4 of 3"),
            "policy 4 of 3",
        ),
        (good.replace("Format: P2WSH\n", ""), "legacy P2SH multisig"),
        (
            good.replace("Format: P2WSH", "Format: P2TR"),
            "Format \"P2TR\" is not P2WSH or P2SH-P2WSH",
        ),
        (
            good.replace("Derivation: m/48'/1'/0'/2'", "# no derivation"),
            "comes before any Derivation line",
        ),
        (
            good.replace("Derivation: m/48'/1'/0'/2'", "Derivation: m/48'/1'/0'"),
            "has depth 4 but its derivation m/48'/1'/0' has 3 steps",
        ),
        (
            good.replace("Derivation: m/48'/1'/0'/2'", "Derivation: m/48'/1'/0'/6'"),
            "was derived at child 2' but its derivation m/48'/1'/0'/6' ends in 6'",
        ),
        (
            good.replace("Name: t\n", "Name: t\nName: u\n"),
            "a second Name line",
        ),
        (good.replace("Policy: 2 of 3\n", ""), "no Policy line"),
        (format!("{good}Extra: 1\n"), "unknown label \"extra\""),
        (good.replacen("tpub", "xpub", 1), "does not decode"),
        (good.replacen("tpub", "tprv", 1), "a private key"),
        (good[..good.len() - 30].to_owned() + "\n", "does not decode"),
    ];
    for (text, needle) in cases {
        expect_err(read_text_export(&text, Network::Testnet), needle);
    }
    // Mainnet keys for a testnet vault.
    let main: Vec<_> = (0..3)
        .map(|i| {
            let k = SignerKey::from_seed(&[i + 1; 32], Network::Bitcoin).unwrap();
            let p = k.multisig_path(0);
            (k.fingerprint(), p.clone(), k.xpub_at(&p).unwrap())
        })
        .collect();
    let mainnet = devices::multisig_vault(2, false, &main, Network::Bitcoin).unwrap();
    let file = coldcard::write_setup_file(&mainnet, "m").unwrap();
    expect_err(
        read_text_export(&file, Network::Testnet),
        "is for another network than testnet",
    );
    // Only sorted multisig can be written.
    let single = BtcVault::parse_for(
        &signer(0)
            .single_key_descriptor(airlock_chain_bitcoin::SingleKeyScript::Wpkh)
            .unwrap(),
        Network::Testnet,
    )
    .unwrap();
    expect_err(
        coldcard::write_setup_file(&single, "s"),
        "only sorted multisig vaults",
    );
}

#[test]
fn crypto_output_written_for_a_vault_reads_back_as_that_vault() {
    for nested in [false, true] {
        let v = vault(nested);
        let shape = devices::multisig_shape(&v).unwrap();
        assert_eq!((shape.nested, shape.threshold), (nested, 2));
        let keys: Vec<_> = v
            .keys()
            .iter()
            .map(|k| (k.fingerprint, k.origin_path.clone(), k.xpub))
            .collect();
        let cbor = ur_registry::encode_multisig_output(nested, 2, &keys);
        let DeviceExport::Vault { vault: back, .. } =
            read_ur("crypto-output", &cbor, Network::Testnet).unwrap()
        else {
            panic!()
        };
        assert_eq!(back.descriptor_text(), v.descriptor_text());
        // Any one byte changed: refused or a different vault, never the same one silently.
        for at in 0..cbor.len() {
            let mut bad = cbor.clone();
            bad[at] ^= 0x01;
            if let Ok(DeviceExport::Vault { vault: other, .. }) =
                read_ur("crypto-output", &bad, Network::Testnet)
            {
                assert_ne!(other.descriptor_text(), v.descriptor_text(), "byte {at}");
            }
        }
        // Truncated at every length: refused.
        for len in 0..cbor.len() {
            assert!(read_ur("crypto-output", &cbor[..len], Network::Testnet).is_err());
        }
        expect_err(read_ur("crypto-output", &cbor, Network::Bitcoin), "tpub");
    }
}

#[test]
fn registry_bad_input_is_refused() {
    // A private hdkey, a master key, trailing bytes, indefinite lengths, deep nesting.
    let private = unhex(
        "d9012fa202f5035821022f01e5e15cca351daff3843fb70f3c2f0a1bdd05e5af888a67784ef3e10a2a01",
    );
    expect_err(ur_registry::decode_hdkey(&private), "holds a private key");
    let mut trailing = unhex(OUTPUT_V1);
    trailing.push(0);
    expect_err(
        ur_registry::decode_output(&trailing),
        "1 bytes after the end",
    );
    expect_err(
        ur_registry::decode_output(&[0x9f, 0xff]),
        "indefinite-length items",
    );
    let deep = [[0xd9, 0x01, 0x90].repeat(40), unhex(&OUTPUT_V1[6..])].concat();
    expect_err(ur_registry::decode_output(&deep), "nested deeper");
    expect_err(
        ur_registry::decode_output(&unhex("d9019ba1000a")),
        "tag 411 is not a script expression",
    );
    expect_err(
        read_ur("bytes", &[0x40], Network::Bitcoin),
        "holds no Bitcoin keys",
    );
    // A multikey whose threshold exceeds its keys.
    let over = OUTPUT_V3.replacen("a201020282", "a201030282", 1);
    expect_err(
        ur_registry::decode_output(&unhex(&over)),
        "threshold 3 with 2 keys",
    );
    // Vector 4's key says depth 4 for a 3-step origin: not usable as a member key.
    expect_err(
        read_ur("crypto-output", &unhex(OUTPUT_V4), Network::Bitcoin),
        "has depth 4 but its derivation m/44'/0'/0' has 3 steps",
    );
}

#[test]
fn specter_and_sparrow_files_round_trip_and_disagreement_is_refused() {
    let v = vault(false);
    let specter = wallet_files::write_specter(&v, "cold").unwrap();
    let DeviceExport::Vault {
        vault: back,
        name,
        format,
    } = read_text_export(&specter, Network::Testnet).unwrap()
    else {
        panic!()
    };
    assert_eq!((format, name.as_deref()), ("specter-json", Some("cold")));
    assert_eq!(back.descriptor_text(), v.descriptor_text());
    // The receive descriptor's checksum altered.
    let [receive, _] = v.branch_descriptors();
    let (body, checksum) = receive.rsplit_once('#').unwrap();
    let wrong = format!("{body}#{}", checksum.chars().rev().collect::<String>());
    expect_err(
        read_text_export(&specter.replace(&receive, &wrong), Network::Testnet),
        "checksum mismatch",
    );

    let sparrow = wallet_files::write_descriptor_file(&v);
    let DeviceExport::Vault { vault: back, .. } =
        read_text_export(&sparrow, Network::Testnet).unwrap()
    else {
        panic!()
    };
    assert_eq!(back.descriptor_text(), v.descriptor_text());
    let other = vault(true);
    let mixed = format!("{}\n{}\n", v.descriptor_text(), other.descriptor_text());
    expect_err(
        read_text_export(&mixed, Network::Testnet),
        "line 2 describes another vault than line 1",
    );
    expect_err(
        read_text_export("# nothing\n", Network::Testnet),
        "no descriptor",
    );
    expect_err(
        read_text_export("", Network::Testnet),
        "the export is empty",
    );
    expect_err(
        read_text_export(r#"{"label": "x"}"#, Network::Testnet),
        "neither \"descriptor\"",
    );
}
