//! View-only scanning of the fixed bench chain (`../shared/bench/monero-scan`) against a real
//! monerod: the known result (1,550 outputs, 39.33596 XMR, 4 accounts, 74 addresses), the same
//! outputs as monero-wallet's own `Scanner` and as wallet2 (`monero-wallet-rpc` view-only
//! wallet), a restore height above the first output, state persistence, and a real reorg
//! (`pop_blocks` + new blocks).

mod scan_support;

use std::collections::{BTreeSet, HashSet};

use airlock_chain_monero::subaddress::{AddressIndex, Lookahead};
use airlock_chain_monero_online::daemon::DaemonClient;
use airlock_chain_monero_online::scan::{
    KeyImageImportError, OutputRef, ScanKeys, ScanState, SyncOptions, ViewScanner,
};
use monero_wallet::Scanner;
use monero_wallet::address::SubaddressIndex;
use serde_json::json;

struct Setup {
    _work: tempfile::TempDir,
    daemon: scan_support::Monerod,
    client: DaemonClient,
    wallet: scan_support::BenchWallet,
    logs: std::path::PathBuf,
    work_path: std::path::PathBuf,
}

fn setup() -> Setup {
    let wallet = scan_support::bench_wallet();
    let work = scan_support::unpack_bench_chain();
    let logs = work.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let daemon = scan_support::Monerod::start(&work.path().join("chain"), &logs);
    let client = DaemonClient::connect(&daemon.url()).expect("connect");
    let work_path = work.path().to_owned();
    Setup {
        _work: work,
        daemon,
        client,
        wallet,
        logs,
        work_path,
    }
}

fn scanner(wallet: &scan_support::BenchWallet) -> ViewScanner {
    ViewScanner::new(
        ScanKeys::new(&wallet.address, &wallet.view_key).expect("keys"),
        Lookahead::default(),
    )
}

#[test]
fn scan_finds_exactly_the_bench_wallets_outputs_and_matches_monero_wallet() {
    let s = setup();
    assert_eq!(s.client.height().unwrap(), s.wallet.expected_height);
    let mut scanner = scanner(&s.wallet);
    let mut state = ScanState::new(scanner.keys(), 0, Lookahead::default());
    let report = scanner
        .sync(&mut state, &s.client, SyncOptions::default())
        .expect("sync");

    assert_eq!(report.blocks_scanned, s.wallet.expected_height);
    assert_eq!(report.new_outputs, s.wallet.expected_outputs);
    assert_eq!(state.outputs().len(), 1550);
    let balance = state.balance();
    assert_eq!(balance.total, s.wallet.expected_amount);
    assert_eq!(balance.total, 39_335_960_000_000);
    // No key image imported: every output is unverified (could already be spent).
    assert_eq!(balance.unverified, balance.total);
    assert!(state.outputs().iter().all(|o| o.needs_key_image()));
    assert!(balance.unlocked <= balance.total);
    let accounts = state.balance_by_account();
    assert_eq!(accounts.len(), s.wallet.expected_accounts);
    assert_eq!(
        accounts.keys().copied().collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    assert_eq!(
        accounts.values().map(|b| b.total).sum::<u64>(),
        s.wallet.expected_amount
    );
    // wallet.json's 74 addresses include two that never received anything; 72 did (wallet2
    // agrees output by output in the peer test below).
    assert!(s.wallet.expected_addresses >= 72);
    assert_eq!(state.balance_by_address().len(), 72);
    assert_eq!(
        state.tip_hash().map(hex::encode),
        Some(s.wallet.expected_top_hash.clone())
    );
    let mut globals = HashSet::new();
    assert!(
        state
            .outputs()
            .iter()
            .all(|o| globals.insert(o.global_index)),
        "global indices are unique"
    );

    // The same outputs (key offsets included) as monero-wallet's own Scanner over the same blocks.
    let keys = ScanKeys::new(&s.wallet.address, &s.wallet.view_key).unwrap();
    let mut reference = Scanner::new(keys.view_pair());
    for account in 0..50 {
        for index in 0..200 {
            if let Some(sub) = SubaddressIndex::new(account, index) {
                reference.register_subaddress(sub);
            }
        }
    }
    let mut expected = BTreeSet::new();
    let tip = s.client.height().unwrap();
    let mut first = 0;
    while first < tip {
        let last = (first + 999).min(tip - 1);
        for block in s.client.scannable_blocks(first, last).unwrap() {
            for output in reference
                .scan(block)
                .expect("monero-wallet scan")
                .ignore_additional_timelock()
            {
                let address = output
                    .subaddress()
                    .map(|i| AddressIndex {
                        account: i.account(),
                        index: i.address(),
                    })
                    .unwrap_or(AddressIndex::PRIMARY);
                expected.insert((
                    output.transaction(),
                    output.index_in_transaction(),
                    output.index_on_blockchain(),
                    output.commitment().amount,
                    address,
                    <[u8; 32]>::from(output.key_offset()),
                ));
            }
        }
        first = last + 1;
    }
    let ours: BTreeSet<_> = state
        .outputs()
        .iter()
        .map(|o| {
            (
                o.tx_hash,
                o.index_in_tx,
                o.global_index,
                o.amount,
                o.address,
                o.key_offset,
            )
        })
        .collect();
    assert_eq!(ours.len(), 1550);
    assert_eq!(ours, expected, "Airlock and monero-wallet disagree");

    // Persisted atomically and reloaded: a second sync has nothing to do.
    let path = s.work_path.join("vault-scan.json");
    state.save(&path).unwrap();
    let (again, reloaded) = scanner
        .sync_file(&path, &s.client, SyncOptions::default())
        .unwrap();
    assert_eq!(again.blocks_scanned, 0);
    assert_eq!(again.new_outputs, 0);
    assert_eq!(reloaded, state);
}

#[test]
fn restore_height_above_the_first_output_finds_fewer_and_says_so() {
    let s = setup();
    let mut scanner = scanner(&s.wallet);
    let mut full = ScanState::new(scanner.keys(), 0, Lookahead::default());
    scanner
        .sync(&mut full, &s.client, SyncOptions::default())
        .unwrap();
    let first_height = full.outputs().iter().map(|o| o.block_height).min().unwrap();
    let restore = first_height + 200;
    let mut late = ScanState::new(scanner.keys(), restore, Lookahead::default());
    let report = scanner
        .sync(&mut late, &s.client, SyncOptions::default())
        .unwrap();
    assert_eq!(report.scanned_from, restore);
    assert_eq!(report.restore_height, restore);
    assert!(late.outputs().len() < full.outputs().len());
    assert!(late.balance().total < full.balance().total);
    assert!(late.outputs().iter().all(|o| o.block_height >= restore));
    let missed = full
        .outputs()
        .iter()
        .filter(|o| o.block_height < restore)
        .count();
    assert_eq!(late.outputs().len() + missed, full.outputs().len());

    // The signer's key images cover an output the late vault never saw: the import names the
    // likely cause and changes nothing.
    let early = full
        .outputs()
        .iter()
        .find(|o| o.block_height < restore)
        .unwrap();
    let known = late.outputs()[0].output_ref();
    let before = late.clone();
    let err = late
        .import_key_images(&[
            (known, [7; 32]),
            (
                OutputRef {
                    tx_hash: early.tx_hash,
                    index_in_tx: early.index_in_tx,
                },
                [8; 32],
            ),
        ])
        .unwrap_err();
    assert!(
        matches!(err, KeyImageImportError::UnknownOutput { restore_height, .. } if restore_height == restore)
    );
    assert!(err.to_string().contains("restore height"), "{err}");
    assert_eq!(late, before);
    assert_eq!(late.import_key_images(&[(known, [7; 32])]).unwrap(), 1);

    // The daemon's spent check: a key image spent on this chain (taken from a block's inputs)
    // and one that is not.
    let blocks = s.client.scannable_blocks(1000, 1010).unwrap();
    let spent_on_chain = blocks
        .iter()
        .flat_map(|b| b.transactions.iter())
        .find_map(|tx| match tx.prefix().inputs.first() {
            Some(monero_wallet::transaction::Input::ToKey { key_image, .. }) => {
                Some(key_image.to_bytes())
            }
            _ => None,
        })
        .expect("a spending transaction in blocks 1000..=1010");
    assert_eq!(
        s.client
            .key_images_spent(&[spent_on_chain, [9; 32]])
            .unwrap(),
        vec![true, false]
    );
    let second = late.outputs()[1].output_ref();
    late.import_key_images(&[(second, spent_on_chain)]).unwrap();
    assert_eq!(late.refresh_spent_from_daemon(&s.client).unwrap(), 1);
    assert!(late.outputs()[1].spent.is_some() && late.outputs()[0].spent.is_none());
    assert_eq!(late.balance().outputs, late.outputs().len() - 1);
    assert_eq!(
        late.balance().unverified,
        late.balance().total - late.outputs()[0].amount
    );
}

#[test]
fn a_reorg_rolls_back_outputs_above_the_fork() {
    let s = setup();
    let mut scanner = scanner(&s.wallet);
    let mut state = ScanState::new(scanner.keys(), 0, Lookahead::default());
    scanner
        .sync(&mut state, &s.client, SyncOptions::default())
        .unwrap();
    let height = state.scanned_height();
    let old_tip = state.tip_hash().unwrap();

    // Replace the top 30 blocks by 31 empty ones mined to another address.
    let popped = scan_support::http_post(
        s.daemon.rpc_port,
        "/pop_blocks",
        json!({"nblocks": 30}).to_string().as_bytes(),
    )
    .unwrap();
    assert!(
        String::from_utf8_lossy(&popped).contains("OK"),
        "{}",
        String::from_utf8_lossy(&popped)
    );
    let other = {
        use curve25519_dalek::constants::ED25519_BASEPOINT_TABLE;
        use monero_wallet::ed25519::{Point, Scalar};
        let spend = Point::from(
            &Scalar::hash(b"another wallet's spend key").into() * ED25519_BASEPOINT_TABLE,
        );
        let view = zeroize::Zeroizing::new(Scalar::hash(b"another wallet's view key"));
        monero_wallet::ViewPair::new(spend, view)
            .unwrap()
            .legacy_address(monero_wallet::address::Network::Mainnet)
            .to_string()
    };
    scan_support::json_rpc(
        s.daemon.rpc_port,
        "generateblocks",
        json!({"amount_of_blocks": 31, "wallet_address": other}),
    )
    .expect("generateblocks");
    let fork = height - 31;
    let lost = state
        .outputs()
        .iter()
        .filter(|o| o.block_height > fork)
        .count();

    let report = scanner
        .sync(&mut state, &s.client, SyncOptions::default())
        .unwrap();
    assert_eq!(report.reorg_fork_height, Some(fork));
    assert_eq!(report.rolled_back_outputs, lost);
    assert_eq!(report.scanned_from, fork + 1);
    assert_eq!(state.scanned_height(), height + 1);
    assert_ne!(state.tip_hash().unwrap(), old_tip);
    // The popped blocks' transactions went back to the pool and were mined again in the new
    // blocks: the reorged state must equal a fresh scan of the new chain.
    let mut fresh = ScanState::new(scanner.keys(), 0, Lookahead::default());
    scanner
        .sync(&mut fresh, &s.client, SyncOptions::default())
        .unwrap();
    assert_eq!(state.outputs(), fresh.outputs());
    assert_eq!(state.balance(), fresh.balance());
    assert_eq!(state.tip_hash(), fresh.tip_hash());
    assert_eq!(
        state.tip_hash().unwrap(),
        s.client.block_hash(height).unwrap()
    );
    drop(s.logs);
}

#[test]
fn wallet2_view_only_wallet_reports_the_same_balance_and_transfers() {
    let s = setup();
    let mut scanner = scanner(&s.wallet);
    let mut state = ScanState::new(scanner.keys(), 0, Lookahead::default());
    scanner
        .sync(&mut state, &s.client, SyncOptions::default())
        .unwrap();

    let wallet_rpc =
        scan_support::WalletRpc::start(s.daemon.rpc_port, &s.work_path.join("wallet2"), &s.logs);
    scan_support::wallet2_view_only(
        &wallet_rpc,
        "peer",
        &s.wallet.address,
        &s.wallet.view_key,
        0,
    );
    wallet_rpc.call("refresh", json!({"start_height": 0}));
    let theirs = scan_support::wallet2_incoming(&wallet_rpc);
    let mut ours: Vec<_> = state
        .outputs()
        .iter()
        .map(|o| {
            (
                hex::encode(o.tx_hash),
                o.amount,
                o.address.account,
                o.address.index,
                o.global_index,
            )
        })
        .collect();
    ours.sort();
    assert_eq!(ours.len(), theirs.len());
    assert_eq!(
        ours, theirs,
        "Airlock and wallet2 disagree on the owned outputs"
    );

    // Balances per account: wallet2's balance / unlocked balance.
    for (account, ours) in state.balance_by_account() {
        let b = wallet_rpc.call("get_balance", json!({"account_index": account}));
        assert_eq!(
            b["balance"].as_u64(),
            Some(ours.total),
            "account {account} balance"
        );
        assert_eq!(
            b["unlocked_balance"].as_u64(),
            Some(ours.unlocked),
            "account {account} unlocked balance"
        );
    }
    let all = wallet_rpc.call("get_accounts", json!({}));
    assert_eq!(all["total_balance"].as_u64(), Some(state.balance().total));
    assert_eq!(
        all["total_unlocked_balance"].as_u64(),
        Some(state.balance().unlocked)
    );
}
