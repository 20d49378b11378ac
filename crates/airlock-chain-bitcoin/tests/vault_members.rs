//! A vault's descriptor keys must be exactly its members' listed chain keys
//! (`Bitcoin::check_vault_members`, `ChainReview::check_account`): the attack where a listed
//! member's key is replaced by a second key from another member's seed, keys no member lists
//! (also a timelocked recovery key), keys two members list, origins that differ from the
//! listing, fixed keys other than the NUMS point, and two keys of one master fingerprint unless
//! the account says `shared-fingerprint=` (then a warning every signer is shown).

mod offline_support;

use airlock_chain_bitcoin::{Bitcoin, SignerKey};
use airlock_core::PublicKey;
use airlock_core::chain::ChainReview;
use airlock_core::vault::{CoordinatorRef, SignerEntry, VaultDefinition};
use offline_support::*;

/// `[fp/48'/1'/account'/2']tpub…` of cosigner `index` (no multipath suffix, as members list it).
fn key(index: usize, account: u32) -> String {
    let k: SignerKey = signer(index);
    k.export_key(&format!("m/48'/1'/{account}'/2'").parse().unwrap())
        .unwrap()
}

fn member(name: &str, n: u8, chain_key: &str) -> SignerEntry {
    SignerEntry {
        name: name.into(),
        role: "ops".into(),
        identity: PublicKey([n; 32]),
        chain_key: chain_key.into(),
        custody: "keystore".into(),
    }
}

fn definition(account: &str, signers: Vec<SignerEntry>) -> VaultDefinition {
    VaultDefinition {
        vault_id: "cold".into(),
        version: 1,
        previous: None,
        chain: "bitcoin".into(),
        network: "regtest".into(),
        account: account.into(),
        coordinator: CoordinatorRef {
            origin: "test/log".into(),
            key: PublicKey([1; 32]),
        },
        signers,
        threshold: 2,
        rules: Vec::new(),
        created: 0,
        witnesses: Default::default(),
    }
}

fn sortedmulti(keys: &[String]) -> String {
    let branch: Vec<String> = keys.iter().map(|k| format!("{k}/<0;1>/*")).collect();
    format!("wsh(sortedmulti(2,{}))", branch.join(","))
}

fn check(def: &VaultDefinition) -> Result<Vec<String>, String> {
    Bitcoin::default()
        .check_account(def)
        .map_err(|e| e.to_string())
}

#[test]
fn the_members_keys_exactly() {
    let (a, b, c) = (key(0, 0), key(1, 0), key(2, 0));
    let def = definition(
        &sortedmulti(&[a.clone(), b.clone(), c.clone()]),
        vec![
            member("alice", 2, &a),
            member("bob", 3, &b),
            member("carol", 4, &c),
            // A member without a key approves without signing.
            member("dora", 5, ""),
        ],
    );
    assert_eq!(check(&def), Ok(Vec::new()));
    // The multipath suffix on a listed key is accepted.
    let mut suffixed = def.clone();
    suffixed.signers[0].chain_key = format!("{a}/<0;1>/*");
    assert_eq!(check(&suffixed), Ok(Vec::new()));
}

#[test]
fn a_second_key_from_another_members_seed_is_refused() {
    let (a, b, b2, c) = (key(0, 0), key(1, 0), key(1, 1), key(2, 0));
    let descriptor = sortedmulti(&[b2.clone(), b.clone(), c.clone()]);
    // alice is listed with her own key, but the descriptor carries bob's second key instead.
    let def = definition(
        &descriptor,
        vec![
            member("alice", 2, &a),
            member("bob", 3, &b),
            member("carol", 4, &c),
        ],
    );
    let err = check(&def).unwrap_err();
    assert!(
        err.contains(&format!("member alice's key {a} is not in the descriptor"))
            && err.contains(&format!("{b2} is listed by no member"))
            && err.contains("share the master fingerprint 74ee38f0"),
        "{err}"
    );
    // alice's entry listing bob's second key: every key is listed, but one seed holds two.
    let relisted = definition(
        &descriptor,
        vec![
            member("alice", 2, &b2),
            member("bob", 3, &b),
            member("carol", 4, &c),
        ],
    );
    let err = check(&relisted).unwrap_err();
    assert!(
        err.contains("share the master fingerprint 74ee38f0")
            && err.contains("(alice)")
            && err.contains("(bob)")
            && err.contains("shared-fingerprint=74ee38f0"),
        "{err}"
    );
    // Unless the account says so explicitly: then every signer is warned.
    let allowed = definition(
        &format!("{descriptor} shared-fingerprint=74ee38f0"),
        relisted.signers.clone(),
    );
    let warnings = check(&allowed).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("one master key (fingerprint 74ee38f0")
            && warnings[0].contains("(alice)")
            && warnings[0].contains("(bob)"),
        "{warnings:?}"
    );
    // The flag must name a fingerprint that is really shared.
    let stale = definition(
        &format!(
            "{} shared-fingerprint=350826d2",
            sortedmulti(&[a.clone(), b.clone(), c.clone()])
        ),
        vec![
            member("alice", 2, &a),
            member("bob", 3, &b),
            member("carol", 4, &c),
        ],
    );
    let err = check(&stale).unwrap_err();
    assert!(err.contains("no two keys of the descriptor share"), "{err}");
}

#[test]
fn listings_must_match_the_descriptor() {
    let (a, b, c) = (key(0, 0), key(1, 0), key(2, 0));
    let descriptor = sortedmulti(&[a.clone(), b.clone(), c.clone()]);
    let members = |ka: &str, kb: &str| {
        vec![
            member("alice", 2, ka),
            member("bob", 3, kb),
            member("carol", 4, &c),
        ]
    };
    // Two members list one key.
    let err = check(&definition(&descriptor, members(&a, &a))).unwrap_err();
    assert!(
        err.contains("members alice and bob list the same key"),
        "{err}"
    );
    // A listing whose origin differs from the descriptor's.
    let wrong_origin = a.replacen("/0'/2']", "/7'/2']", 1);
    let err = check(&definition(&descriptor, members(&wrong_origin, &b))).unwrap_err();
    assert!(
        err.contains("member alice lists its key as") && err.contains("gives it the origin"),
        "{err}"
    );
    // Not a key at all.
    let err = check(&definition(&descriptor, members("xpub-of-alice", &b))).unwrap_err();
    assert!(err.contains("member alice's chain key"), "{err}");
    // A member missing from the list altogether leaves its key unlisted.
    let def = definition(
        &descriptor,
        vec![member("alice", 2, &a), member("bob", 3, &b)],
    );
    let err = check(&def).unwrap_err();
    assert!(
        err.contains(&format!("{c} is listed by no member")),
        "{err}"
    );
}

#[test]
fn recovery_keys_belong_to_members_and_fixed_keys_are_refused() {
    // 2 of (0, 1, 3) now, or cosigner 2 alone after 144 blocks.
    let descriptor = recovery_policy(144);
    let core = vec![
        member("alice", 2, &key(0, 0)),
        member("bob", 3, &key(1, 0)),
        member("dave", 5, &key(3, 0)),
    ];
    let err = check(&definition(&descriptor, core.clone())).unwrap_err();
    assert!(
        err.contains(&format!("{} is listed by no member", key(2, 0))),
        "{err}"
    );
    let mut with_holder = core;
    with_holder.push(member("recovery", 6, &key(2, 0)));
    assert_eq!(check(&definition(&descriptor, with_holder)), Ok(Vec::new()));

    // Taproot: the NUMS internal key belongs to nobody and is fine; another fixed key is not.
    let members = vec![
        member("alice", 2, &key(0, 0)),
        member("bob", 3, &key(1, 0)),
        member("carol", 4, &key(2, 0)),
    ];
    assert_eq!(
        check(&definition(&taproot_multi_a(), members.clone())),
        Ok(Vec::new())
    );
    let fixed = signer(8)
        .xpub_at(&"m/0".parse().unwrap())
        .unwrap()
        .public_key;
    let other = taproot_multi_a().replace(NUMS_KEY, &fixed.x_only_public_key().0.to_string());
    let err = check(&definition(&other, members)).unwrap_err();
    assert!(err.contains("holds the fixed key"), "{err}");
}
