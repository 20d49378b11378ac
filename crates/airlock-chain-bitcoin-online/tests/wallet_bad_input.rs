//! Bad input to the watch-only vault: each is refused with an error naming what is wrong, and the
//! vault (in memory and on disk) is exactly as before.

mod wallet_support;

use airlock_chain_bitcoin_online::{
    BlockConfirmation, OnlineError, WatchOnlyVault, stand_in_block_hash,
};
use bdk_wallet::bitcoin::hashes::Hash;
use bdk_wallet::bitcoin::{BlockHash, Network, Txid};
use wallet_support::*;

const KIND: VaultKind = VaultKind::WshSortedMulti2of3;

/// A regtest 2-of-3 vault holding 0.01 BTC confirmed at height 10.
fn funded_vault(dir: &tempfile::TempDir) -> WatchOnlyVault {
    let mut vault = WatchOnlyVault::create(
        &dir.path().join("vault.sqlite"),
        &vault_descriptor(KIND),
        Network::Regtest,
    )
    .unwrap();
    let address = vault.reveal_next_address().unwrap();
    let funding = funding_transaction("bad-input", &[(address.address.script_pubkey(), 1_000_000)]);
    vault
        .add_raw_transaction(
            &raw(&funding),
            Some(BlockConfirmation::at(10, 1_700_000_000)),
        )
        .unwrap();
    vault
}

/// Runs `action`, expects an error whose text contains `needle`, and checks nothing changed, in
/// memory and after reopening the file.
fn refused(
    vault: &mut WatchOnlyVault,
    needle: &str,
    action: impl FnOnce(&mut WatchOnlyVault) -> Result<(), OnlineError>,
) -> OnlineError {
    let before = snapshot(vault);
    let error = action(vault).expect_err("must be refused");
    let text = error.to_string();
    assert!(
        text.contains(needle),
        "error {text:?} should mention {needle:?}"
    );
    assert_eq!(snapshot(vault), before, "state changed after: {text}");
    let reopened = WatchOnlyVault::open(vault.path(), Network::Regtest).unwrap();
    assert_eq!(snapshot(&reopened), before, "file changed after: {text}");
    error
}

#[test]
fn payment_errors_leave_the_vault_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let mut vault = funded_vault(&dir);
    let payee = foreign_address("payee").to_string();

    // Addresses of other networks: mainnet and testnet (tb1) are not regtest (bcrt1).
    let mainnet = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";
    let error = refused(&mut vault, mainnet, |vault| {
        vault.build_payment(&[(mainnet, 10_000)], 2.0).map(drop)
    });
    assert!(matches!(error, OnlineError::AddressWrongNetwork { .. }));
    let testnet = "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx";
    refused(&mut vault, "not valid on regtest", |vault| {
        vault.build_payment(&[(testnet, 10_000)], 2.0).map(drop)
    });
    refused(&mut vault, "not a valid Bitcoin address", |vault| {
        vault
            .build_payment(&[("bcrt1qnotanaddress", 10_000)], 2.0)
            .map(drop)
    });

    // Amount above the balance.
    let error = refused(&mut vault, "insufficient funds", |vault| {
        vault.build_payment(&[(&payee, 2_000_000)], 2.0).map(drop)
    });
    match error {
        OnlineError::InsufficientFunds { available_sat, .. } => {
            assert_eq!(available_sat, 1_000_000)
        }
        other => panic!("unexpected {other:?}"),
    }
    // Everything, leaving nothing for the fee.
    refused(&mut vault, "insufficient funds", |vault| {
        vault.build_payment(&[(&payee, 1_000_000)], 2.0).map(drop)
    });

    // Dust: P2WPKH's limit is 294 sat.
    refused(
        &mut vault,
        "dust (minimum for that address type: 294 sat)",
        |vault| vault.build_payment(&[(&payee, 293)], 2.0).map(drop),
    );
    refused(&mut vault, "is dust", |vault| {
        vault.build_payment(&[(&payee, 0)], 2.0).map(drop)
    });

    // Fee rates: absurd, below relay minimum, not a number.
    for (rate, needle) in [
        (5_000.0, "absurdly high"),
        (0.5, "below the minimum relay fee"),
        (f64::NAN, "not a number"),
        (f64::INFINITY, "not a number"),
        (-1.0, "below the minimum"),
    ] {
        let error = refused(&mut vault, needle, |vault| {
            vault.build_payment(&[(&payee, 10_000)], rate).map(drop)
        });
        assert!(matches!(error, OnlineError::FeeRate { .. }));
    }

    refused(&mut vault, "at least one recipient", |vault| {
        vault.build_payment(&[], 2.0).map(drop)
    });
    refused(&mut vault, "21 million", |vault| {
        vault
            .build_payment(&[(&payee, u64::MAX / 2), (&payee, u64::MAX / 2)], 2.0)
            .map(drop)
    });

    // Sweeps: to the vault itself, to a wrong-network address.
    let own = vault
        .peek_address(bdk_wallet::KeychainKind::External, 5)
        .unwrap()
        .address
        .to_string();
    refused(&mut vault, "belongs to this vault", |vault| {
        vault.build_sweep_to_address(&own, 2.0).map(drop)
    });
    refused(&mut vault, "not valid on regtest", |vault| {
        vault.build_sweep_to_address(mainnet, 2.0).map(drop)
    });

    // After all that, a good payment still works.
    vault
        .build_payment(&[(&payee, 10_000)], 2.0)
        .expect("valid payment");
}

#[test]
fn hand_fed_transaction_errors_leave_the_vault_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let mut vault = funded_vault(&dir);
    let address = vault
        .peek_address(bdk_wallet::KeychainKind::External, 1)
        .unwrap()
        .address;
    let good = raw(&funding_transaction(
        "good",
        &[(address.script_pubkey(), 5_000)],
    ));

    refused(&mut vault, "raw transaction rejected", |vault| {
        vault.add_raw_transaction(&[], None).map(drop)
    });
    refused(&mut vault, "raw transaction rejected", |vault| {
        vault
            .add_raw_transaction(&good[..good.len() - 3], None)
            .map(drop)
    });
    let mut trailing = good.clone();
    trailing.extend_from_slice(&[0, 0]);
    refused(&mut vault, "raw transaction rejected", |vault| {
        vault.add_raw_transaction(&trailing, None).map(drop)
    });
    refused(&mut vault, "raw transaction rejected", |vault| {
        vault.add_raw_transaction(&[0xff; 300], None).map(drop)
    });
    refused(&mut vault, "not hexadecimal", |vault| {
        vault.add_raw_transaction_hex("02000000zz", None).map(drop)
    });
    // Decodes, but has nothing to do with this vault.
    let stranger =
        funding_transaction("stranger", &[(foreign_address("x").script_pubkey(), 5_000)]);
    let error = refused(&mut vault, "neither pays to nor spends from", |vault| {
        vault.add_raw_transaction(&raw(&stranger), None).map(drop)
    });
    assert!(
        matches!(error, OnlineError::UnrelatedTransaction(txid) if txid == stranger.compute_txid())
    );

    // Hardened (out of range) address indexes are an error, not a panic.
    let error = vault
        .peek_address(bdk_wallet::KeychainKind::External, 1 << 31)
        .unwrap_err();
    assert!(
        error.to_string().contains("no address at index 2147483648"),
        "{error}"
    );

    // Block data: height 0, a hash conflicting with the block already known at height 10.
    refused(&mut vault, "genesis", |vault| {
        vault
            .add_raw_transaction(&good, Some(BlockConfirmation::at(0, 1)))
            .map(drop)
    });
    let conflicting = BlockConfirmation {
        height: 10,
        time: 1_700_000_000,
        block_hash: Some(BlockHash::all_zeros()),
    };
    refused(&mut vault, "already knows block", |vault| {
        vault
            .add_raw_transaction(&good, Some(conflicting))
            .map(drop)
    });
    refused(&mut vault, "not known to this vault", |vault| {
        vault
            .confirm_transaction(Txid::all_zeros(), BlockConfirmation::at(11, 1))
            .map(drop)
    });
    // An unsigned transaction is not a final one.
    let unsigned = funding_transaction("unsigned", &[(address.script_pubkey(), 5_000)]);
    refused(&mut vault, "is not final", |vault| {
        vault.apply_final_transaction(&unsigned).map(drop)
    });

    // The good one is accepted, with the stand-in hash at its height.
    vault
        .add_raw_transaction(&good, Some(BlockConfirmation::at(12, 1_700_001_000)))
        .unwrap();
    assert_eq!(
        vault.wallet().local_chain().get(12).unwrap().hash(),
        stand_in_block_hash(12)
    );
    assert_eq!(vault.balance().confirmed.to_sat(), 1_005_000);
}

#[test]
fn vault_creation_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.sqlite");
    let create = |descriptor: &str, network| WatchOnlyVault::create(&path, descriptor, network);

    // Private keys are refused outright.
    let with_secret = descriptor(KIND, "<0;1>", &[1]);
    let error = create(&with_secret, Network::Regtest).unwrap_err();
    assert!(
        matches!(error, OnlineError::PrivateKeyInDescriptor),
        "{error}"
    );
    assert!(!error.to_string().contains("tprv"), "never echo the secret");

    // tpubs on mainnet.
    let error = create(&vault_descriptor(KIND), Network::Bitcoin).unwrap_err();
    assert!(error.to_string().contains("network mismatch"), "{error}");

    // Not ranged; a single path only; duplicate keys; garbage.
    let key = key_expression(0, MULTISIG_ACCOUNT, "0", false);
    let unranged = format!("wpkh({})", key.trim_end_matches("/0/*"));
    assert!(
        create(&unranged, Network::Regtest)
            .unwrap_err()
            .to_string()
            .contains("not ranged")
    );
    let single_path = descriptor(KIND, "0", &[]);
    assert!(
        create(&single_path, Network::Regtest)
            .unwrap_err()
            .to_string()
            .contains("exactly two paths")
    );
    let same = key_expression(0, MULTISIG_ACCOUNT, "<0;1>", false);
    let duplicate = format!(
        "wsh(sortedmulti(2,{same},{same},{}))",
        key_expression(2, MULTISIG_ACCOUNT, "<0;1>", false)
    );
    let error = create(&duplicate, Network::Regtest).unwrap_err();
    assert!(matches!(error, OnlineError::Descriptor(_)), "{error}");
    assert!(create("wsh(sortedmulti(2,nonsense))", Network::Regtest).is_err());
    // Bare scripts have no address: refused before any file is made.
    let bare = format!(
        "pk({})",
        key_expression(0, MULTISIG_ACCOUNT, "<0;1>", false)
    );
    let error = create(&bare, Network::Regtest).unwrap_err();
    assert!(error.to_string().contains("no address form"), "{error}");
    assert!(!path.exists(), "no file is left by a refused creation");

    // Creation over an existing vault, and opening for another network.
    create(&vault_descriptor(KIND), Network::Regtest).unwrap();
    let error = create(&vault_descriptor(KIND), Network::Regtest).unwrap_err();
    assert!(matches!(error, OnlineError::AlreadyExists(_)));
    let error = WatchOnlyVault::open(&path, Network::Testnet).unwrap_err();
    assert!(error.to_string().contains("network mismatch"), "{error}");
    let error = WatchOnlyVault::open_checked(
        &path,
        &descriptor(VaultKind::TrMultiA2of3, "<0;1>", &[]),
        Network::Regtest,
    )
    .unwrap_err();
    assert!(matches!(error, OnlineError::DescriptorMismatch(_)));
    let error =
        WatchOnlyVault::open(&dir.path().join("absent.sqlite"), Network::Regtest).unwrap_err();
    assert!(matches!(error, OnlineError::NotFound(_)));

    // A file that is not a vault store.
    let junk = dir.path().join("junk.sqlite");
    std::fs::write(&junk, b"this is not a database at all, just text").unwrap();
    let error = WatchOnlyVault::open(&junk, Network::Regtest).unwrap_err();
    assert!(matches!(error, OnlineError::Store(_)), "{error}");
}
