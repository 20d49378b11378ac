//! Ethereum end to end through the real binaries against a real anvil node (npm
//! `@foundry-rs/anvil-linux-amd64@1.7.1`) and the official Safe 1.4.1 contracts (npm
//! `@safe-global/safe-contracts@1.4.1`), both under `target/peers` (`scripts/test.sh` installs
//! them; a missing package fails the test with its install command).
//!
//! Signers derive their keys from a mnemonic (`airlock-signer key add`), the coordinator deploys
//! and creates the Safe from its relayer, vaults are drafted, signed and registered as for any
//! chain, and every payment is checked on chain: balances of the recipients, the Safe's owners
//! after a rotation. Hostile cases: batches without an allowlisted MultiSendCallOnly, a node on
//! another chain, a mistyped checksum, a replayed broadcast.

mod common;

use std::path::Path;

use airlock_chain_ethereum::{EthAddress, EthKey};
use airlock_chain_ethereum_online::deploy::{
    ANVIL_MNEMONIC, Anvil, SafeArtifacts, deploy_contract, peers_dir,
};
use airlock_chain_ethereum_online::rpc::{CallRequest, RpcClient};
use alloy_primitives::{Address, U256};
use common::*;
use serde_json::json;

/// anvil's development keys 0 (the coordinator's relayer) and 1 (alice's account key, funded).
const DEV_KEY_0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const DEV_KEY_1: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const ETH: u128 = 1_000_000_000_000_000_000;

struct Chain {
    node: Anvil,
    rpc: RpcClient,
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A world with a coordinator configured for a fresh anvil node, with the relayer key.
fn world() -> (World, Chain) {
    let node = Anvil::start(&peers_dir()).unwrap_or_else(|e| panic!("{e}"));
    let rpc = node.rpc();
    let w = World::new();
    w.init_coordinator();
    let relayer = w.p("relayer.hex");
    std::fs::write(&relayer, format!("0x{DEV_KEY_0}\n")).unwrap();
    let out = w
        .airlock(&[
            "--json",
            "chain",
            "ethereum",
            "--rpc",
            &node.url,
            "--relayer-key-file",
            s(&relayer),
        ])
        .ok()
        .json();
    assert_eq!(out["chain_id"], 31337);
    let listed = rpc.call("eth_accounts", json!([])).unwrap();
    assert_eq!(
        out["relayer"].as_str().unwrap().to_lowercase(),
        listed[0].as_str().unwrap().to_lowercase(),
        "the relayer key is anvil's account 0"
    );
    std::fs::write(w.p("words.txt"), format!("{ANVIL_MNEMONIC}\n")).unwrap();
    (w, Chain { node, rpc })
}

/// Creates signer `who` with the Ethereum key of mnemonic index `index`; returns (identity,
/// address).
fn eth_signer(w: &World, who: &str, index: u32) -> (String, String) {
    let id = w.init_signer(who);
    let words = w.p("words.txt");
    let out = w
        .signer(
            who,
            &[
                "--json",
                "key",
                "add",
                "--chain",
                "ethereum",
                "--mnemonic-file",
                s(&words),
                "--index",
                &index.to_string(),
            ],
        )
        .ok()
        .json();
    (id, out["chain_key"].as_str().unwrap().to_owned())
}

fn balance(rpc: &RpcClient, who: &str) -> U256 {
    rpc.balance(EthAddress::parse(who).unwrap().0).unwrap()
}

fn erc20_balance(rpc: &RpcClient, token: Address, owner: &str) -> U256 {
    let mut data = hex::decode("70a08231").unwrap();
    data.extend_from_slice(&[0u8; 12]);
    data.extend_from_slice(EthAddress::parse(owner).unwrap().0.as_slice());
    let out = rpc
        .eth_call(&CallRequest {
            to: Some(token),
            data: data.into(),
            ..CallRequest::default()
        })
        .unwrap();
    U256::from_be_slice(&out)
}

/// Finalize, broadcast and confirm a ready proposal; returns the finalize output.
fn execute(w: &World, proposal: &str) -> serde_json::Value {
    let fin = w.airlock(&["--json", "finalize", proposal]).ok().json();
    w.airlock(&["broadcast", proposal]).ok();
    w.airlock(&["confirm", proposal]).ok();
    assert_eq!(w.status(proposal)["status"], "confirmed");
    fin
}

fn detail<'a>(review: &'a serde_json::Value, label: &str) -> Option<&'a str> {
    review["details"]
        .as_array()?
        .iter()
        .find(|d| d[0] == label)
        .and_then(|d| d[1].as_str())
}

/// The coordinator deploys the Safe contracts and creates a Safe of `owners` (addresses) with
/// `threshold`; the test funds it with 10 ETH. Returns the vault account text `create-safe` prints.
fn create_funded_safe(w: &World, chain: &Chain, owners: &[&str], threshold: u32) -> String {
    let deployment = w.p("safe-deployment.json");
    w.airlock(&["eth", "deploy-safe-contracts", "--out", s(&deployment)])
        .ok();
    let threshold = threshold.to_string();
    let mut args = vec![
        "--json",
        "eth",
        "create-safe",
        "--deployment",
        s(&deployment),
    ];
    for owner in owners {
        args.extend_from_slice(&["--owner", owner]);
    }
    args.extend_from_slice(&["--threshold", &threshold]);
    let created = w.airlock(&args).ok().json();
    let safe = created["safe"].as_str().unwrap().to_owned();
    chain
        .rpc
        .call(
            "anvil_setBalance",
            json!([safe, format!("0x{:x}", 10 * ETH)]),
        )
        .unwrap();
    created["account"].as_str().unwrap().to_owned()
}

/// A 2-of-3 Safe: deployed and created by the coordinator, registered as a vault, a payment and
/// a MultiSendCallOnly batch executed, then carol's key rotated out for dave's (`swapOwner`
/// on chain, then vault v2), and a payment under v2.
#[test]
fn safe_vault_pays_batches_and_rotates_an_owner() {
    let (w, chain) = world();
    let (alice, a) = eth_signer(&w, "alice", 1);
    let (bob, b) = eth_signer(&w, "bob", 2);
    let (carol, c) = eth_signer(&w, "carol", 3);
    let account = create_funded_safe(&w, &chain, &[&a, &b, &c], 2);
    let signers = [
        format!("alice:ops:{alice}:{a}"),
        format!("bob:ops:{bob}:{b}"),
        format!("carol:ops:{carol}:{c}"),
    ];
    w.make_vault(
        &[
            "--vault",
            "dao",
            "--chain",
            "ethereum",
            "--network",
            "anvil",
            "--account",
            &account,
            "--signer",
            &signers[0],
            "--signer",
            &signers[1],
            "--signer",
            &signers[2],
            "--threshold",
            "2",
            "--rule",
            "all: => 2 ops",
        ],
        &["alice", "bob", "carol"],
        &["alice", "bob", "carol"],
    );

    // One payment: the signer shows the Safe, the safeTxHash and the payment.
    let to = "0x00000000000000000000000000000000000A11cE";
    let (p1, bundle) = w.propose("dao", &format!("{to}:{}", ETH), &[]);
    let review = w
        .signer("alice", &["--json", "review", s(&bundle)])
        .ok()
        .json();
    assert_eq!(review["can_approve"], true, "{review}");
    assert_eq!(review["payments"][0][0], to);
    let hash = detail(&review, "safeTxHash").expect("the review shows the safeTxHash");
    assert_eq!(hash.len(), 66);
    let bob_review = w
        .signer("bob", &["--json", "review", s(&bundle)])
        .ok()
        .json();
    assert_eq!(
        detail(&bob_review, "safeTxHash"),
        Some(hash),
        "two devices agree"
    );
    let x = w.approve("alice", &bundle);
    let y = w.approve("bob", &bundle);
    w.submit(&[&x, &y]).ok();
    execute(&w, &p1);
    assert_eq!(balance(&chain.rpc, to), U256::from(ETH));

    // A batch: a delegatecall to the allowlisted MultiSendCallOnly.
    let (d1, d2) = (
        "0x00000000000000000000000000000000000000d1",
        "0x00000000000000000000000000000000000000d2",
    );
    let (p2, bundle) = w.propose(
        "dao",
        &format!("{d1}:1000"),
        &["--to", &format!("{d2}:2000")],
    );
    let review = w
        .signer("carol", &["--json", "review", s(&bundle)])
        .ok()
        .json();
    assert_eq!(review["can_approve"], true, "{review}");
    assert_eq!(review["payments"].as_array().unwrap().len(), 2);
    let x = w.approve("carol", &bundle);
    let y = w.approve("bob", &bundle);
    w.submit(&[&x, &y]).ok();
    execute(&w, &p2);
    assert_eq!(balance(&chain.rpc, d1), U256::from(1000));
    assert_eq!(balance(&chain.rpc, d2), U256::from(2000));

    // A replayed broadcast is refused (the proposal is already confirmed), and nothing changes.
    w.airlock(&["broadcast", &p2]).fails(1, "already confirmed");
    assert_eq!(balance(&chain.rpc, d1), U256::from(1000));

    // Rotation: carol's key is lost; swapOwner(carol -> dave) under v1, then v2 lists dave.
    let (dave, d) = eth_signer(&w, "dave", 4);
    let out = w
        .airlock(&[
            "--json",
            "eth",
            "swap-owner",
            "--vault",
            "dao",
            "--old",
            &c,
            "--new",
            &d,
            "--out",
            s(&w.p("swap.bundle")),
        ])
        .ok()
        .json();
    let swap = out["proposal"].as_str().unwrap().to_owned();
    let review = w
        .signer("alice", &["--json", "review", s(&w.p("swap.bundle"))])
        .ok()
        .json();
    assert!(
        review.to_string().contains("swapOwner"),
        "the review decodes the owner change: {review}"
    );
    let x = w.approve("alice", &w.p("swap.bundle"));
    let y = w.approve("bob", &w.p("swap.bundle"));
    w.submit(&[&x, &y]).ok();
    execute(&w, &swap);
    let status = w
        .airlock(&["--json", "eth", "status", "--vault", "dao"])
        .ok()
        .json();
    let owners = status["owners"].to_string().to_lowercase();
    assert!(
        owners.contains(&d.to_lowercase()) && !owners.contains(&c.to_lowercase()),
        "{status}"
    );

    // Under v1 the coordinator now refuses to build: the Safe's owners differ from the vault.
    w.airlock(&["propose", "--vault", "dao", "--to", &format!("{to}:1")])
        .fails(1, "owners");
    w.make_vault(
        &[
            "--vault",
            "dao",
            "--remove-signer",
            "carol",
            "--add-signer",
            &format!("dave:ops:{dave}:{d}"),
        ],
        &["alice", "bob", "dave"],
        &["alice", "bob", "dave"],
    );
    let (p3, bundle) = w.propose("dao", &format!("{to}:5"), &[]);
    let x = w.approve("dave", &bundle);
    let y = w.approve("alice", &bundle);
    w.submit(&[&x, &y]).ok();
    execute(&w, &p3);
    assert_eq!(balance(&chain.rpc, to), U256::from(ETH + 5));

    // The same Safe registered without an allowlisted MultiSendCallOnly: a batch is refused
    // before anyone is asked to sign it.
    // Same Safe, same MultiSendCallOnly for batches, but no delegatecall allowlist.
    let strict = account.split(" delegatecall=").next().unwrap().to_owned();
    let v2_signers = [
        format!("alice:ops:{alice}:{a}"),
        format!("bob:ops:{bob}:{b}"),
        format!("dave:ops:{dave}:{d}"),
    ];
    w.make_vault(
        &[
            "--vault",
            "strict",
            "--chain",
            "ethereum",
            "--network",
            "anvil",
            "--account",
            &strict,
            "--signer",
            &v2_signers[0],
            "--signer",
            &v2_signers[1],
            "--signer",
            &v2_signers[2],
            "--threshold",
            "2",
            "--rule",
            "all: => 2 ops",
        ],
        &["alice", "bob", "dave"],
        &["alice"],
    );
    w.airlock(&[
        "propose",
        "--vault",
        "strict",
        "--to",
        &format!("{d1}:1"),
        "--to",
        &format!("{d2}:1"),
    ])
    .fails(1, "delegatecall");
    drop(chain.node);
}

/// Vault "hot": an account (EOA) at `address` whose key alice (ops) holds, and bob (compliance,
/// no chain key); one of each approves. `extra` adds draft arguments (e.g. a witness).
fn hot_account_vault(w: &World, alice: &str, address: &str, bob: &str, extra: &[&str]) {
    let account = format!("eoa:{address}");
    let alice_entry = format!("alice:ops:{alice}:{address}");
    let bob_entry = format!("bob:compliance:{bob}");
    let mut args = vec![
        "--vault",
        "hot",
        "--chain",
        "ethereum",
        "--network",
        "anvil",
        "--account",
        &account,
        "--signer",
        &alice_entry,
        "--signer",
        &bob_entry,
        "--threshold",
        "2",
        "--rule",
        "all: => 1 ops, 1 compliance",
    ];
    args.extend_from_slice(extra);
    w.make_vault(&args, &["alice", "bob"], &["alice", "bob"]);
}

/// An account (EOA) vault: alice holds the key, bob approves without one; an ETH payment and an
/// ERC-20 transfer go out as two transactions with consecutive nonces.
#[test]
fn account_vault_sends_eth_and_erc20_in_one_batch() {
    let (w, chain) = world();
    let (alice, a) = eth_signer(&w, "alice", 1);
    let bob = w.init_signer("bob");
    let alice_key =
        EthKey::from_bytes(&hex::decode(DEV_KEY_1).unwrap().try_into().unwrap()).unwrap();
    assert_eq!(alice_key.address().to_string(), a);
    let artifacts = SafeArtifacts::load(&peers_dir()).unwrap();
    let token = deploy_contract(
        &chain.rpc,
        &alice_key,
        artifacts.test_erc20.bytecode.clone(),
    )
    .unwrap();
    let token_text = EthAddress(token).to_string();
    hot_account_vault(&w, &alice, &a, &bob, &[]);
    let to = "0x000000000000000000000000000000000000b0b0";
    let (p, bundle) = w.propose(
        "hot",
        &format!("{to}:3000"),
        &["--to", &format!("{to}:7:{token_text}")],
    );
    let review = w
        .signer("alice", &["--json", "review", s(&bundle)])
        .ok()
        .json();
    assert_eq!(review["can_approve"], true, "{review}");
    assert_eq!(
        review["spends"].as_array().map(|s| s.len()),
        Some(2),
        "{review}"
    );
    let x = w.approve("alice", &bundle);
    let y = w.approve("bob", &bundle);
    w.submit(&[&x, &y]).ok();
    let fin = execute(&w, &p);
    assert_eq!(fin["txid"].as_str().unwrap().split(',').count(), 2);
    assert_eq!(balance(&chain.rpc, to), U256::from(3000));
    assert_eq!(erc20_balance(&chain.rpc, token, to), U256::from(7));

    // Typed data: every field shown, the account's signature in the finalized record, nothing to
    // broadcast.
    let typed = w.p("mail.json");
    std::fs::write(
        &typed,
        r#"{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"chainId","type":"uint256"}],"Mail":[{"name":"to","type":"address"},{"name":"contents","type":"string"}]},"primaryType":"Mail","domain":{"name":"Airlock test","chainId":31337},"message":{"to":"0x000000000000000000000000000000000000b0b0","contents":"quarterly report"}}"#,
    )
    .unwrap();
    let bundle = w.p("typed.bundle");
    let out = w
        .airlock(&[
            "--json",
            "eth",
            "typed-data",
            "--vault",
            "hot",
            s(&typed),
            "--out",
            s(&bundle),
        ])
        .ok()
        .json();
    let typed_id = out["proposal"].as_str().unwrap().to_owned();
    let review = w
        .signer("alice", &["--json", "review", s(&bundle)])
        .ok()
        .json();
    assert_eq!(review["can_approve"], true, "{review}");
    assert!(
        review["details"].to_string().contains("quarterly report"),
        "{review}"
    );
    assert!(detail(&review, "EIP-712 hash").is_some(), "{review}");
    let x = w.approve("alice", &bundle);
    let y = w.approve("bob", &bundle);
    w.submit(&[&x, &y]).ok();
    w.airlock(&["finalize", &typed_id]).ok();
    w.airlock(&["broadcast", &typed_id])
        .fails(1, "nothing to broadcast");

    // A typed message for another chain is refused before any signer sees it.
    std::fs::write(
        &typed,
        std::fs::read_to_string(&typed)
            .unwrap()
            .replace("31337", "1"),
    )
    .unwrap();
    w.airlock(&["eth", "typed-data", "--vault", "hot", s(&typed)])
        .fails(1, "chain");

    // A mistyped checksum is refused, and so is a vault on another chain than the node's.
    w.airlock(&[
        "propose",
        "--vault",
        "hot",
        "--to",
        "0x000000000000000000000000000000000000B0b0:1",
    ])
    .fails(1, "checksum");
    w.make_vault(
        &[
            "--vault",
            "mainnet-hot",
            "--chain",
            "ethereum",
            "--network",
            "mainnet",
            "--account",
            &format!("eoa:{a}"),
            "--signer",
            &format!("alice:ops:{alice}:{a}"),
            "--threshold",
            "1",
            "--rule",
            "all: => 1 ops",
        ],
        &["alice"],
        &[],
    );
    w.airlock(&[
        "propose",
        "--vault",
        "mainnet-hot",
        "--to",
        &format!("{to}:1"),
    ])
    .fails(1, "chain 31337, the vault is chain 1");
    drop(chain.node);
}

/// Issue 12, item 8 for Ethereum: a Safe vault's members must be exactly the Safe's owners on
/// chain, with the Safe's threshold (checked against the node at `vault draft` and again at
/// `vault submit`); an account vault has one key, listed by its holder only.
#[test]
fn a_safe_vault_lists_exactly_its_owners() {
    let (w, chain) = world();
    let (alice, a) = eth_signer(&w, "alice", 1);
    let (bob, b) = eth_signer(&w, "bob", 2);
    let (carol, c) = eth_signer(&w, "carol", 3);
    let (dave, d) = eth_signer(&w, "dave", 4);
    let account = create_funded_safe(&w, &chain, &[&a, &b, &c], 2);
    let draft = |account: &str, signers: &[String], out: &str| {
        let out = w.p(out);
        let mut args = vec![
            "vault",
            "draft",
            "--vault",
            "dao",
            "--chain",
            "ethereum",
            "--network",
            "anvil",
            "--account",
            account,
            "--threshold",
            "2",
            "--rule",
            "all: => 2 ops",
            "--out",
            s(&out),
        ];
        for signer in signers {
            args.extend_from_slice(&["--signer", signer]);
        }
        let result = w.airlock(&args);
        (result, out)
    };
    let alice_s = format!("alice:ops:{alice}:{a}");
    let bob_s = format!("bob:ops:{bob}:{b}");
    let carol_s = format!("carol:ops:{carol}:{c}");
    let dave_s = format!("dave:ops:{dave}:{d}");
    // dave is not an owner, carol (an owner) is left out.
    let (out, file) = draft(
        &account,
        &[alice_s.clone(), bob_s.clone(), dave_s],
        "x.draft",
    );
    out.fails(1, "has owners");
    assert!(!file.exists());
    // An owner missing from the members.
    draft(&account, &[alice_s.clone(), bob_s.clone()], "y.draft")
        .0
        .fails(1, "has owners");
    // The account's threshold is not the Safe's.
    let one = account.replace("threshold=2", "threshold=1");
    draft(
        &one,
        &[alice_s.clone(), bob_s.clone(), carol_s.clone()],
        "z.draft",
    )
    .0
    .fails(1, "threshold on chain is 2");
    // An account vault: bob lists an address that is not the account.
    let (out, _) = draft(
        &format!("eoa:{a}"),
        &[alice_s.clone(), bob_s.clone()],
        "eoa.draft",
    );
    out.fails(1, "member bob lists");

    // The members are the owners: drafted and signed; the node is checked again at submit.
    let (out, file) = draft(&account, &[alice_s, bob_s, carol_s], "dao.draft");
    out.ok();
    let mut copies = Vec::new();
    for who in ["alice", "bob"] {
        let copy = w.p(&format!("dao.{who}"));
        w.signer(
            who,
            &["vault", "sign", s(&file), "--out", s(&copy), "--yes"],
        )
        .ok();
        copies.push(copy);
    }
    let before = w.coordinator_state();
    drop(chain.node);
    w.airlock(&["vault", "submit", s(&copies[0]), s(&copies[1])])
        .fails(1, "ethereum");
    assert_eq!(w.coordinator_state(), before, "nothing activated");
}

/// Figure (not a check): time from `propose` to the confirmed `execTransaction` of a 2-of-3 Safe
/// through the real binaries (seven process runs: propose, two approvals, submit, finalize,
/// broadcast, confirm; signers use the test KDF). Run with
/// `cargo test --release -p airlock --test eth_cli -- --ignored --nocapture`.
#[test]
#[ignore = "a figure for docs/PERFORMANCE.md, not a check"]
fn figure_safe_proposal_to_exec() {
    let (w, chain) = world();
    let (alice, a) = eth_signer(&w, "alice", 1);
    let (bob, b) = eth_signer(&w, "bob", 2);
    let (carol, c) = eth_signer(&w, "carol", 3);
    let account = create_funded_safe(&w, &chain, &[&a, &b, &c], 2);
    w.make_vault(
        &[
            "--vault",
            "dao",
            "--chain",
            "ethereum",
            "--network",
            "anvil",
            "--account",
            &account,
            "--signer",
            &format!("alice:ops:{alice}:{a}"),
            "--signer",
            &format!("bob:ops:{bob}:{b}"),
            "--signer",
            &format!("carol:ops:{carol}:{c}"),
            "--threshold",
            "2",
            "--rule",
            "all: => 2 ops",
        ],
        &["alice", "bob", "carol"],
        &["alice", "bob"],
    );
    let mut times = Vec::new();
    for i in 0..7u128 {
        let t = std::time::Instant::now();
        let (p, bundle) = w.propose(
            "dao",
            &format!("0x00000000000000000000000000000000000A11cE:{}", 1000 + i),
            &[],
        );
        let x = w.approve("alice", &bundle);
        let y = w.approve("bob", &bundle);
        w.submit(&[&x, &y]).ok();
        execute(&w, &p);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "2-of-3 Safe, propose -> confirmed execTransaction through the CLIs: median {:.0} ms \
         (min {:.0}, max {:.0}, {} runs)",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        times.len()
    );
    drop(chain.node);
}

/// A Safe owner whose key lives in a PKCS#11 token (SoftHSM2): the key is generated inside the
/// token, recorded by reference (`key add --hsm-token`), listed as HSM-backed in the vault, and
/// the owner's approval is signed by the token; the payment executes on chain. Without the PIN
/// the approval is refused and nothing is written.
#[test]
fn safe_owner_signs_through_a_softhsm_token() {
    let (w, chain) = world();
    let (alice, a) = eth_signer(&w, "alice", 1);
    let bob = w.init_signer("bob");
    // bob's token.
    let tokens = w.p("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = w.p("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let pin = w.p("bob.pin");
    std::fs::write(&pin, "1234-user\n").unwrap();
    let init = std::process::Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            "bob-token",
            "--so-pin",
            "5678-so",
        ])
        .args(["--pin", "1234-user"])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("softhsm2-util (apt-get install softhsm2)");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let env = [("SOFTHSM2_CONF", s(&conf))];
    let bob_cmd = |args: &[&str]| {
        let home = w.signer_home("bob");
        let pass = w.pass_file("bob");
        let mut all = vec!["--home", s(&home), "--passphrase-file", s(&pass)];
        all.extend_from_slice(args);
        run(&signer_bin(), &all, T0, &env)
    };
    bob_cmd(&[
        "hsm",
        "keygen",
        "--token",
        "bob-token",
        "--pin-file",
        s(&pin),
        "--label",
        "eth-1",
        "--kind",
        "secp256k1",
    ])
    .ok();
    let added = bob_cmd(&[
        "--json",
        "key",
        "add",
        "--chain",
        "ethereum",
        "--hsm-token",
        "bob-token",
        "--hsm-label",
        "eth-1",
        "--hsm-pin-file",
        s(&pin),
    ])
    .ok()
    .json();
    assert_eq!(added["custody"], "hsm");
    let b = added["chain_key"].as_str().unwrap().to_owned();
    assert!(b.starts_with("0x") && b.len() == 42, "{b}");

    let to = "0x00000000000000000000000000000000000A11cE";
    let (p, bundle, x, y) = cold_safe_payment(
        &w,
        &chain,
        (&a, &format!("alice:ops:{alice}:{a}")),
        (&b, &format!("bob:ops:{bob}:{b}:hsm")),
        to,
    );
    // No PIN: refused, no approval written, nothing in bob's journal.
    bob_cmd(&["approve", s(&bundle), "--out", s(&y), "--yes"]).fails(1, "PIN");
    assert!(!y.exists());
    bob_cmd(&[
        "approve",
        s(&bundle),
        "--out",
        s(&y),
        "--yes",
        "--hsm-pin-file",
        s(&pin),
    ])
    .ok();
    w.submit(&[&x, &y]).ok();
    execute(&w, &p);
    assert_eq!(balance(&chain.rpc, to), U256::from(777));
    drop(chain.node);
}

/// Issue 14, item 4 (Ethereum): a witness that follows the service's log and watches the chain
/// with its own node (`airlock-witness chain --ethereum-rpc`, `serve --watch-every 1`) halts a
/// Safe vault within a poll of an owner being added behind Airlock's back (the Safe made to call
/// itself on anvil); the halt reaches the service, and the coordinator finalizes nothing.
#[test]
fn a_witness_watching_the_chain_halts_a_safe_whose_owners_changed_outside_airlock() {
    let (w, chain) = world();
    let (alice, a) = eth_signer(&w, "alice", 1);
    let (bob, b) = eth_signer(&w, "bob", 2);
    let (carol, c) = eth_signer(&w, "carol", 3);
    let account = create_funded_safe(&w, &chain, &[&a, &b, &c], 2);
    let safe = account
        .split(|ch: char| !ch.is_ascii_alphanumeric())
        .find(|part| part.len() == 42 && part.starts_with("0x"))
        .unwrap_or_else(|| panic!("no address in {account}"))
        .to_owned();
    let log_key = log_key(&w);
    let witness = start_witness_process(&w, "witness-home", &log_key, &["--watch-every", "1"]);
    let witness_home = w.p("witness-home");
    run(
        &witness_bin(),
        &[
            "--home",
            s(&witness_home),
            "chain",
            "--ethereum-rpc",
            &chain.node.url,
        ],
        w.now.get(),
        &[],
    )
    .ok();
    let signers = [
        format!("alice:ops:{alice}:{a}"),
        format!("bob:ops:{bob}:{b}"),
        format!("carol:ops:{carol}:{c}"),
    ];
    w.make_vault(
        &[
            "--vault",
            "dao",
            "--chain",
            "ethereum",
            "--network",
            "anvil",
            "--account",
            &account,
            "--signer",
            &signers[0],
            "--signer",
            &signers[1],
            "--signer",
            &signers[2],
            "--threshold",
            "2",
            "--rule",
            "all: => 2 ops",
            "--witness",
            &witness.vkey,
        ],
        &["alice", "bob", "carol"],
        &["alice", "bob", "carol"],
    );
    w.airlock(&["witness", "add", &witness.vkey, "--url", &witness.url])
        .ok();
    let to = "0x00000000000000000000000000000000000A11cE";
    let (p1, bundle) = w.propose("dao", &format!("{to}:{}", ETH), &[]);
    let approvals = [w.approve("alice", &bundle), w.approve("bob", &bundle)];
    w.submit(&[&approvals[0], &approvals[1]]).ok();
    assert_eq!(w.status(&p1)["status"], "ready");

    let server = Server::start(&w, &["--witness-every", "1"]);
    witness_follow(&w, &witness_home, &log_key, &server.url);
    // The witness replays the log (so it knows the vault) before anything moves on chain.
    let size = common::http::log_size(&w);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while run(
        &witness_bin(),
        &["--home", s(&witness_home), "--json", "log", "list"],
        w.now.get(),
        &[],
    )
    .ok()
    .json()[0]["size"]
        .as_u64()
        != Some(size)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the witness never followed"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // …and has looked at the vault's account once (its baseline).
    while run(
        &witness_bin(),
        &["--home", s(&witness_home), "--json", "chain"],
        w.now.get(),
        &[],
    )
    .ok()
    .json()["watched"][0]["balance"]
        .as_str()
        .is_none()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the witness never looked at the vault"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let halts = common::http::get(&format!("{}/api/v1/halts", server.url));
    assert_eq!(halts.body, b"[]", "nothing is wrong yet");

    // Behind Airlock's back: the Safe adds an owner (anvil lets the test act as the Safe).
    let intruder = "0x000000000000000000000000000000000000bad1";
    chain
        .rpc
        .call("anvil_impersonateAccount", json!([safe]))
        .unwrap();
    let mut data = hex::decode("0d582f13").unwrap(); // addOwnerWithThreshold(address,uint256)
    data.extend_from_slice(&[0u8; 12]);
    data.extend_from_slice(EthAddress::parse(intruder).unwrap().0.as_slice());
    data.extend_from_slice(&U256::from(2u64).to_be_bytes::<32>());
    chain
        .rpc
        .call(
            "eth_sendTransaction",
            json!([{ "from": safe, "to": safe, "data": format!("0x{}", hex::encode(&data)) }]),
        )
        .unwrap();
    // Two things moved that no finalized proposal explains: the owners, and the Safe's own
    // balance (it paid the gas of that call). Each halts the vault once.
    let halts = wait_for_halts(&server.url, 2);
    assert_eq!(halts.len(), 2, "{halts:?}");
    for halt in &halts {
        assert_eq!(halt["reason"], "chain", "{halt}");
        assert_eq!(halt["in_force_for"][0], "dao", "{halt}");
    }
    let details: Vec<String> = halts
        .iter()
        .map(|h| h["detail"].as_str().unwrap().to_lowercase())
        .collect();
    assert!(
        details
            .iter()
            .any(|d| d.contains("owners") && d.contains(&intruder[2..])),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.contains("balance") && d.contains("no finalized proposal of vault \"dao\"")),
        "{details:?}"
    );
    drop(server);
    w.airlock(&["finalize", &p1])
        .fails(1, "vault \"dao\" is halted");
}

/// An account vault `hot` (alice's anvil account, alice and bob deciding) guarded by a
/// witness process that follows the log in verifying mode; with `witness_node`, the witness
/// watches the chain with that node of its own every second.
struct GuardedAccount {
    witness: WitnessProcess,
    witness_home: std::path::PathBuf,
    log_key: String,
    alice_address: String,
}

fn guarded_account(w: &World, witness_node: Option<&str>) -> GuardedAccount {
    let (alice, a) = eth_signer(w, "alice", 1);
    let bob = w.init_signer("bob");
    let log_key = log_key(w);
    let witness = start_witness_process(w, "witness-home", &log_key, &["--watch-every", "1"]);
    let witness_home = w.p("witness-home");
    if let Some(node) = witness_node {
        run(
            &witness_bin(),
            &["--home", s(&witness_home), "chain", "--ethereum-rpc", node],
            w.now.get(),
            &[],
        )
        .ok();
    }
    hot_account_vault(w, &alice, &a, &bob, &["--witness", &witness.vkey]);
    w.airlock(&["witness", "add", &witness.vkey, "--url", &witness.url])
        .ok();
    GuardedAccount {
        witness,
        witness_home,
        log_key,
        alice_address: a,
    }
}

impl GuardedAccount {
    /// Points the witness's verifying mode at the service.
    fn follow(&self, w: &World, server: &Server) {
        witness_follow(w, &self.witness_home, &self.log_key, &server.url);
    }
}

/// Issue 14, item 4: `airlock eth sync` commits the account's state (balance, nonce) to the log
/// once per change; a payment through Airlock moves the nonce and is explained by its finalized
/// proposal; a transaction sent with the vault's key outside Airlock is not, and the witness
/// that replays the next commitment (made by `serve --sync-every`) halts the vault with the
/// nonce no proposal used, without any node of its own.
#[test]
fn a_state_commitment_showing_a_transaction_sent_outside_airlock_halts_the_vault() {
    let (w, chain) = world();
    let guarded = guarded_account(&w, None);
    let first = w
        .airlock(&["--json", "eth", "sync", "--vault", "hot"])
        .ok()
        .json();
    assert_eq!(first["commitment"]["new"], true, "{first}");
    assert_eq!(
        first["commitment"]["leaves"], 2,
        "balance and nonce: {first}"
    );
    let again = w
        .airlock(&["--json", "eth", "sync", "--vault", "hot"])
        .ok()
        .json();
    assert_eq!(again["commitment"]["new"], false, "nothing moved: {again}");
    assert_eq!(again["commitment"]["id"], first["commitment"]["id"]);

    // A payment through Airlock uses nonce 0: the next commitment shows it, explained.
    let to = "0x000000000000000000000000000000000000b0b0";
    let (p, bundle) = w.propose("hot", &format!("{to}:3000"), &[]);
    let x = w.approve("alice", &bundle);
    let y = w.approve("bob", &bundle);
    w.submit(&[&x, &y]).ok();
    execute(&w, &p);
    let paid = w
        .airlock(&["--json", "eth", "sync", "--vault", "hot"])
        .ok()
        .json();
    assert_eq!(paid["commitment"]["new"], true, "{paid}");
    let verified = w.airlock(&["--json", "log", "verify"]).ok().json();
    assert_eq!(verified["state_commitments"], 2, "{verified}");

    let server = Server::start(&w, &["--witness-every", "1", "--sync-every", "1"]);
    guarded.follow(&w, &server);
    // The witness replays both commitments: the nonce went 0 → 1 with proposal p finalized.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let size = common::http::log_size(&w);
    while run(
        &witness_bin(),
        &["--home", s(&guarded.witness_home), "--json", "log", "list"],
        w.now.get(),
        &[],
    )
    .ok()
    .json()[0]["size"]
        .as_u64()
        .is_none_or(|s| s < size)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the witness never followed"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let halts = common::http::get(&format!("{}/api/v1/halts", server.url));
    assert_eq!(halts.body, b"[]", "every move so far is explained");

    // Behind Airlock's back: alice's key (anvil holds it) sends a transaction with nonce 1.
    chain
        .rpc
        .call(
            "eth_sendTransaction",
            json!([{ "from": guarded.alice_address, "to": to, "value": "0x1" }]),
        )
        .unwrap();
    let halts = wait_for_halts(&server.url, 1);
    assert_eq!(halts.len(), 1, "{halts:?}");
    assert_eq!(halts[0]["reason"], "chain", "{halts:?}");
    assert_eq!(halts[0]["in_force_for"][0], "hot", "{halts:?}");
    let detail = halts[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("went from 1 to 2") && detail.contains("used nonce 1"),
        "{detail}"
    );
    drop(server);
    // The log with its commitments and halt still verifies.
    let verified = w.airlock(&["--json", "log", "verify"]).ok().json();
    assert_eq!(verified["halts"], 1, "{verified}");
    assert!(
        verified["state_commitments"].as_u64().unwrap() >= 3,
        "{verified}"
    );
    drop(guarded.witness);
}

/// Issue 14, item 4: a coordinator fed by a lying node commits a state the chain never had; the
/// witness, reading the same block from its own node, halts the vault within a poll and names
/// what differs.
#[test]
fn a_witness_with_its_own_node_halts_a_vault_whose_commitment_the_chain_contradicts() {
    let (w, chain) = world();
    let guarded = guarded_account(&w, Some(&chain.node.url));
    // The coordinator's node from now on: another chain 31337 where alice holds 123 wei.
    let liar = Anvil::start(&peers_dir()).unwrap_or_else(|e| panic!("{e}"));
    liar.rpc()
        .call("anvil_setBalance", json!([guarded.alice_address, "0x7b"]))
        .unwrap();
    let relayer = w.p("relayer.hex");
    w.airlock(&[
        "chain",
        "ethereum",
        "--rpc",
        &liar.url,
        "--relayer-key-file",
        s(&relayer),
    ])
    .ok();
    let server = Server::start(&w, &["--witness-every", "1", "--sync-every", "1"]);
    guarded.follow(&w, &server);
    let halts = wait_for_halts(&server.url, 1);
    assert_eq!(halts.len(), 1, "{halts:?}");
    assert_eq!(halts[0]["reason"], "chain", "{halts:?}");
    let detail = halts[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("does not match the witness's own node")
            && detail.contains("committed but not on chain: [balance 123")
            && detail.contains("on chain but not committed: [balance 10000"),
        "{detail}"
    );
    drop(server);
    drop(liar);
    drop(guarded.witness);
}

/// A funded 2-of-2 Safe of alice's and bob's addresses (`--signer` specs given), registered
/// everywhere as vault "cold"; returns the Safe's account text.
fn register_cold_safe(
    w: &World,
    chain: &Chain,
    (a, alice): (&str, &str),
    (b, bob): (&str, &str),
) -> String {
    let account = create_funded_safe(w, chain, &[a, b], 2);
    let vault_file = w.make_vault(
        &[
            "--vault",
            "cold",
            "--chain",
            "ethereum",
            "--network",
            "anvil",
            "--account",
            &account,
            "--signer",
            alice,
            "--signer",
            bob,
            "--threshold",
            "2",
            "--rule",
            "all: => 2 ops",
        ],
        &["alice", "bob"],
        &["alice", "bob"],
    );
    assert!(std::fs::metadata(vault_file).is_ok());
    account
}

/// [`register_cold_safe`], and a proposal paying 777 wei to `to` that alice approved.
/// Returns (proposal, bundle, alice's approval, the path for bob's).
fn cold_safe_payment(
    w: &World,
    chain: &Chain,
    (a, alice): (&str, &str),
    (b, bob): (&str, &str),
    to: &str,
) -> (
    String,
    std::path::PathBuf,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    register_cold_safe(w, chain, (a, alice), (b, bob));
    let (p, bundle) = w.propose("cold", &format!("{to}:777"), &[]);
    let x = w.approve("alice", &bundle);
    (p, bundle, x, w.fresh("bob.approval"))
}

/// anvil's development key 5: the key on bob's QR device (never given to Airlock).
const DEVICE_KEY: &str = "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba";

/// The QR device (`crates/airlock-chain-ethereum/tests/peers/qr_device.cjs`): Keystone's UR
/// library reads the request frames in `request`, cast signs with `key`; returns its JSON.
fn qr_device(request: &Path, key: &str, flag: Option<&str>) -> serde_json::Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let keystone = root.join("target/peers/keystone");
    let cast = root.join("target/peers/cast/node_modules/@foundry-rs/cast-linux-amd64/bin/cast");
    assert!(
        keystone
            .join("node_modules/@keystonehq/bc-ur-registry-eth")
            .is_dir()
            && cast.is_file(),
        "the QR-device peers are missing: scripts/install-eth-peers.sh --all"
    );
    let key = format!("0x{key}");
    let mut args = vec![keystone.as_os_str(), cast.as_os_str(), key.as_ref()];
    args.extend(flag.map(std::ffi::OsStr::new));
    let out = node_peer("qr_device.cjs", &args, &std::fs::read(request).unwrap());
    serde_json::from_slice(&out).unwrap()
}

/// Runs `crates/airlock-chain-ethereum/tests/peers/<script>` under node with `args`, `stdin`
/// piped in; returns its stdout, panicking with its stderr when it fails.
fn node_peer(script: &str, args: &[&std::ffi::OsStr], stdin: &[u8]) -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut child = std::process::Command::new("node")
        .arg(
            root.join("crates/airlock-chain-ethereum/tests/peers")
                .join(script),
        )
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node");
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Issue 16 item 3 (EIP-4527): a Safe owner whose key is on a QR signer. bob's signer records
/// only the address; `device-request` writes the `ur:eth-sign-request` from its own review,
/// Keystone's library reads it and cast signs the EIP-712 JSON it carries, and the
/// `ur:eth-signature` that comes back is checked to recover, over the signer's own safeTxHash, to
/// bob's listed key before the approval is recorded. The Safe then executes on anvil.
#[test]
fn safe_owner_signs_with_a_qr_device() {
    let (w, chain) = world();
    let (alice, a) = eth_signer(&w, "alice", 1);
    let bob = w.init_signer("bob");
    let device_key: [u8; 32] = hex::decode(DEVICE_KEY).unwrap().try_into().unwrap();
    let b = EthKey::from_bytes(&device_key)
        .unwrap()
        .address()
        .to_string();
    // A mistyped address or path, or another chain: refused, nothing recorded.
    let mut mistyped = b.clone();
    mistyped.replace_range(2..3, if &b[2..3] == "a" { "b" } else { "a" });
    for (args, needle) in [
        (
            vec!["--chain", "ethereum", "--device-address", &mistyped[..]],
            "address",
        ),
        (
            vec![
                "--chain",
                "ethereum",
                "--device-address",
                &b[..],
                "--device-path",
                "m/44'/x",
            ],
            "derivation path",
        ),
        (
            vec!["--chain", "bitcoin", "--device-address", &b[..]],
            "Ethereum keys",
        ),
    ] {
        let mut all = vec!["key", "add"];
        all.extend(args);
        w.signer("bob", &all).fails(1, needle);
    }
    let added = w
        .signer(
            "bob",
            &[
                "--json",
                "key",
                "add",
                "--chain",
                "ethereum",
                "--device-address",
                &b.to_lowercase(),
                "--device-fingerprint",
                "f23f9fd2",
            ],
        )
        .ok()
        .json();
    assert_eq!(added["custody"], "device");
    assert_eq!(added["chain_key"], b.as_str());
    // The same key cannot also be sealed in the keystore (one custody per key).
    let secret = w.p("device-key.hex");
    std::fs::write(&secret, DEVICE_KEY).unwrap();
    w.signer(
        "bob",
        &[
            "key",
            "add",
            "--chain",
            "ethereum",
            "--secret-file",
            s(&secret),
        ],
    )
    .fails(1, "refusing to overwrite");
    let to = "0x00000000000000000000000000000000000A11cE";
    let (p, bundle, x, y) = cold_safe_payment(
        &w,
        &chain,
        (&a, &format!("alice:ops:{alice}:{a}")),
        (&b, &format!("bob:ops:{bob}:{b}:device")),
        to,
    );
    let journal = w.journal("bob");
    // Without the device's answer: refused, saying how.
    w.signer("bob", &["approve", s(&bundle), "--out", s(&y), "--yes"])
        .fails(1, "QR device");

    let request = w.p("bob.request.txt");
    let asked = w
        .signer(
            "bob",
            &["--json", "device-request", s(&bundle), "--out", s(&request)],
        )
        .ok()
        .json();
    let digest = asked["requests"][0]["digest"].as_str().unwrap().to_owned();
    assert_eq!(asked["requests"].as_array().unwrap().len(), 1);

    // What the device reads from the request (Keystone's library).
    let device = qr_device(&request, DEVICE_KEY, None);
    assert_eq!(device["data_type"], 2, "EIP-712 typed data");
    assert_eq!(device["chain_id"], 31337);
    assert_eq!(device["address"], b.to_lowercase());
    assert_eq!(device["key_address"].as_str().unwrap(), b);
    assert_eq!(device["path"], "44'/60'/0'/0/0");
    assert_eq!(device["xfp"], "f23f9fd2");
    assert_eq!(device["sign_data"]["primaryType"], "SafeTx");
    assert_eq!(
        device["sign_data"]["message"]["to"]
            .as_str()
            .unwrap()
            .to_lowercase(),
        to.to_lowercase()
    );
    let answer = |name: &str, v: &serde_json::Value| {
        let f = w.p(name);
        std::fs::write(&f, format!("{}\n", v["signature_ur"].as_str().unwrap())).unwrap();
        f
    };
    let approve_with = |answer: &Path| {
        w.signer(
            "bob",
            &[
                "--json",
                "approve",
                s(&bundle),
                "--out",
                s(&y),
                "--yes",
                "--device-signature",
                s(answer),
            ],
        )
    };

    // Another key signed on the device: refused, nothing written, nothing journaled.
    let wrong = answer("wrong.ur", &qr_device(&request, DEV_KEY_0, None));
    approve_with(&wrong).fails(1, "not to this member's key");
    // An answer to another request: refused.
    let other = answer(
        "other.ur",
        &qr_device(&request, DEVICE_KEY, Some("--tamper-id")),
    );
    approve_with(&other).fails(1, "not this proposal's");
    // Not a device answer at all.
    approve_with(&request).fails(1, "expected ur:eth-signature");
    assert!(!y.exists());
    assert_eq!(
        w.journal("bob"),
        journal,
        "a refused answer changed bob's journal"
    );

    // The device's real answer: the approval carries its signature over Airlock's safeTxHash.
    let right = answer("right.ur", &device);
    let approved = approve_with(&right).ok().json();
    assert_eq!(approved["decision"], "approve");
    assert!(
        approved["review"].to_string().contains(&digest[2..]),
        "the review names the safeTxHash the device signed"
    );
    w.submit(&[&x, &y]).ok();
    execute(&w, &p);
    assert_eq!(balance(&chain.rpc, to), U256::from(777));
    drop(chain.node);
}

/// The safeTxHash Safe's own SDK (protocol-kit) computes for a Transaction Service JSON's fields.
fn protocol_kit_hash(service: &serde_json::Value) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let kit = root.join("target/peers/safe/node_modules/@safe-global/protocol-kit");
    assert!(
        kit.join("package.json").is_file(),
        "scripts/install-eth-peers.sh --all"
    );
    let line = json!({
        "safe": service["safe"], "version": "1.4.1", "chainId": "31337",
        "tx": {
            "to": service["to"], "value": service["value"],
            "data": service["data"].as_str().unwrap_or("0x"), "operation": service["operation"],
            "safeTxGas": service["safeTxGas"], "baseGas": service["baseGas"],
            "gasPrice": service["gasPrice"], "gasToken": service["gasToken"],
            "refundReceiver": service["refundReceiver"],
            "nonce": service["nonce"].as_str().map_or_else(|| service["nonce"].as_u64().unwrap(), |n| n.parse().unwrap()),
        }
    });
    let out = node_peer(
        "safe_tx_hash.cjs",
        &[kit.as_os_str()],
        format!("{line}\n").as_bytes(),
    );
    String::from_utf8(out).unwrap().trim().to_owned()
}

/// Issue 16 item 3 (Safe{Wallet}): a transaction proposed in Safe{Wallet}, as the Safe
/// Transaction Service's JSON (hash from protocol-kit, bob's confirmation signed by cast), becomes
/// an Airlock proposal (hash recomputed, confirmation verified); alice and bob approve it in
/// Airlock and it executes; exported back, its safeTxHash is protocol-kit's and it carries both
/// owners' signatures. Altered files are refused and nothing is proposed.
#[test]
fn a_safe_wallet_transaction_is_imported_approved_and_exported_back() {
    let (w, chain) = world();
    let (alice, a) = eth_signer(&w, "alice", 1);
    let (bob, b) = eth_signer(&w, "bob", 2);
    let account = register_cold_safe(
        &w,
        &chain,
        (&a, &format!("alice:ops:{alice}:{a}")),
        (&b, &format!("bob:ops:{bob}:{b}")),
    );
    let safe = account
        .split_whitespace()
        .next()
        .unwrap()
        .trim_start_matches("safe:")
        .to_owned();
    let zero = "0x0000000000000000000000000000000000000000";
    let to = "0x00000000000000000000000000000000000A11cE";
    let mut service = json!({
        "safe": safe, "to": to, "value": "999", "data": null, "operation": 0,
        "gasToken": zero, "safeTxGas": "0", "baseGas": "0", "gasPrice": "0",
        "refundReceiver": zero, "nonce": 0, "executionDate": null,
        "submissionDate": "2026-12-07T10:00:00Z", "isExecuted": false, "confirmationsRequired": 2,
    });
    let hash = protocol_kit_hash(&service);
    service["safeTxHash"] = hash.clone().into();
    // bob confirms in Safe{Wallet}: an EOA signature over the safeTxHash (cast, bob's key).
    let seed = airlock_custody::mnemonic::seed(
        &airlock_custody::mnemonic::restore(ANVIL_MNEMONIC).unwrap(),
        "",
    );
    let bob_key = EthKey::from_seed(seed.as_ref(), 2).unwrap();
    let cast = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/peers/cast/node_modules/@foundry-rs/cast-linux-amd64/bin/cast");
    let sign = |key: &[u8]| {
        let out = std::process::Command::new(&cast)
            .args(["wallet", "sign", "--no-hash", &hash, "--private-key"])
            .arg(format!("0x{}", hex::encode(key)))
            .output()
            .expect("cast");
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    service["confirmations"] = json!([{
        "owner": b, "signature": sign(&bob_key.secret_bytes()[..]), "signatureType": "EOA",
        "submissionDate": "2026-12-07T10:01:00Z",
    }]);
    let file = w.p("safe-wallet-tx.json");
    let write = |f: &Path, v: &serde_json::Value| std::fs::write(f, v.to_string()).unwrap();
    write(&file, &service);

    // Altered copies: refused, nothing proposed.
    let before = w.coordinator_state();
    let bad = |name: &str, v: serde_json::Value, needle: &str| {
        let f = w.p(name);
        write(&f, &v);
        w.airlock(&["eth", "import-safe-tx", "--vault", "cold", s(&f)])
            .fails(1, needle);
    };
    let mut v = service.clone();
    v["value"] = "1000".into();
    bad("value.json", v, "its fields hash to");
    let mut v = service.clone();
    v["confirmations"][0]["signature"] = sign(&hex::decode(DEV_KEY_0).unwrap()).into();
    bad("signer.json", v, "not to the owner");
    let mut v = service.clone();
    v["safe"] = to.into();
    bad("other-safe.json", v, "this vault's Safe is");
    let mut v = service.clone();
    v["confirmations"][0]["signatureType"] = "CONTRACT_SIGNATURE".into();
    bad("contract.json", v, "not supported");
    assert_eq!(
        w.coordinator_state(),
        before,
        "a refused import changed the coordinator"
    );

    // The real file: an Airlock proposal of the same SafeTx.
    let bundle = w.p("imported.bundle");
    let proposed = w
        .airlock(&[
            "--json",
            "eth",
            "import-safe-tx",
            "--vault",
            "cold",
            s(&file),
            "--out",
            s(&bundle),
        ])
        .ok()
        .json();
    let p = proposed["proposal"].as_str().unwrap().to_owned();
    let x = w.approve("alice", &bundle);
    let y = w.approve("bob", &bundle);
    w.submit(&[&x, &y]).ok();
    execute(&w, &p);
    assert_eq!(balance(&chain.rpc, to), U256::from(999));

    // Exported back for Safe{Wallet}: protocol-kit's hash, both owners' confirmations.
    let out = w.p("exported.json");
    w.airlock(&["eth", "export-safe-tx", &p, "--out", s(&out)])
        .ok();
    let exported: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(exported["safeTxHash"], hash.as_str());
    assert_eq!(protocol_kit_hash(&exported), hash);
    let owners: Vec<String> = exported["confirmations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["owner"].as_str().unwrap().to_lowercase())
        .collect();
    assert_eq!(owners.len(), 2);
    assert!(owners.contains(&a.to_lowercase()) && owners.contains(&b.to_lowercase()));
    drop(chain.node);
}

/// EIP-4527 for an account (EOA) vault whose one key is on a QR device: a batch of two
/// transactions needs two requests (two files, EIP-1559 unsigned bytes), Keystone's library and
/// cast answer each, one approval carries both signatures, and both transactions land on anvil.
#[test]
fn an_account_on_a_qr_device_sends_a_batch_of_two() {
    let (w, chain) = world();
    let bob = w.init_signer("bob");
    let device_key: [u8; 32] = hex::decode(DEVICE_KEY).unwrap().try_into().unwrap();
    let b = EthKey::from_bytes(&device_key)
        .unwrap()
        .address()
        .to_string();
    w.signer(
        "bob",
        &["key", "add", "--chain", "ethereum", "--device-address", &b],
    )
    .ok();
    let account = format!("eoa:{b}");
    w.make_vault(
        &[
            "--vault",
            "hot",
            "--chain",
            "ethereum",
            "--network",
            "anvil",
            "--account",
            &account,
            "--signer",
            &format!("bob:ops:{bob}:{b}:device"),
            "--threshold",
            "1",
            "--rule",
            "all: => 1 ops",
        ],
        &["bob"],
        &["bob"],
    );
    let (to1, to2) = (
        "0x00000000000000000000000000000000000b0b01",
        "0x00000000000000000000000000000000000b0b02",
    );
    let bundle = w.p("batch.bundle");
    let proposed = w
        .airlock(&[
            "--json",
            "eth",
            "call",
            "--vault",
            "hot",
            "--call",
            &format!("{to1}:5"),
            "--call",
            &format!("{to2}:6"),
            "--out",
            s(&bundle),
        ])
        .ok()
        .json();
    let p = proposed["proposal"].as_str().unwrap().to_owned();
    let request = w.p("request.txt");
    let asked = w
        .signer(
            "bob",
            &["--json", "device-request", s(&bundle), "--out", s(&request)],
        )
        .ok()
        .json();
    let files: Vec<std::path::PathBuf> = asked["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| std::path::PathBuf::from(r["out"].as_str().unwrap()))
        .collect();
    assert_eq!(files, [w.p("request-1.txt"), w.p("request-2.txt")]);
    let mut answers = String::new();
    for f in files.iter().rev() {
        let device = qr_device(f, DEVICE_KEY, None);
        assert_eq!(device["data_type"], 4, "EIP-2718 typed transaction");
        answers += &format!("{}\n", device["signature_ur"].as_str().unwrap());
    }
    let answer = w.p("answers.txt");
    std::fs::write(&answer, answers).unwrap();
    let y = w.fresh("bob.approval");
    w.signer(
        "bob",
        &[
            "approve",
            s(&bundle),
            "--out",
            s(&y),
            "--yes",
            "--device-signature",
            s(&answer),
        ],
    )
    .ok();
    w.submit(&[&y]).ok();
    execute(&w, &p);
    assert_eq!(balance(&chain.rpc, to1), U256::from(5));
    assert_eq!(balance(&chain.rpc, to2), U256::from(6));
    drop(chain.node);
}

/// Issue 17 (chain reorganization): `confirm --confirmations 3` waits for depth; a
/// reorganization (anvil reverts to a snapshot taken before the payment) takes the confirmed
/// transaction out of the chain, and the next `confirm` records it ("reorged") and moves the
/// proposal back to broadcast; `broadcast` re-sends the same signed transaction, which
/// confirms again. The log with its reorganization verifies.
#[test]
fn a_reorganization_takes_a_confirmed_payment_back_to_broadcast() {
    let (w, chain) = world();
    let (alice, a) = eth_signer(&w, "alice", 1);
    let bob = w.init_signer("bob");
    hot_account_vault(&w, &alice, &a, &bob, &[]);
    let to = "0x000000000000000000000000000000000000b0b0";
    let (p, bundle) = w.propose("hot", &format!("{to}:3000"), &[]);
    let x = w.approve("alice", &bundle);
    let y = w.approve("bob", &bundle);
    w.submit(&[&x, &y]).ok();
    let fin = w.airlock(&["--json", "finalize", &p]).ok().json();
    let txid = fin["txid"].as_str().unwrap().to_owned();
    let snapshot = chain.rpc.call("evm_snapshot", json!([])).unwrap();

    // anvil mines a sent transaction on its own task: wait for the block before counting.
    let mined = || {
        chain
            .rpc
            .wait_for_receipt(txid.parse().unwrap(), std::time::Duration::from_secs(60))
            .expect("anvil mines the transaction")
    };
    w.airlock(&["broadcast", &p]).ok();
    mined();
    let confirm = |n: &str| {
        w.airlock(&["--json", "confirm", &p, "--confirmations", n])
            .ok()
            .json()
    };
    let shallow = confirm("3");
    assert_eq!(
        shallow["status"], "broadcast",
        "one block is not 3: {shallow}"
    );
    assert_eq!(shallow["confirmed"], serde_json::Value::Null, "{shallow}");
    chain.rpc.call("anvil_mine", json!(["0x2"])).unwrap();
    let deep = confirm("3");
    assert_eq!(deep["status"], "confirmed", "{deep}");
    assert_eq!(deep["confirmed"], "3 confirmation(s)", "{deep}");
    let again = confirm("3");
    assert_eq!(again["status"], "confirmed", "{again}");
    assert_eq!(
        again["reorged"],
        serde_json::Value::Null,
        "nothing moved: {again}"
    );
    assert_eq!(balance(&chain.rpc, to), U256::from(3000u64));

    // The node reorganizes to a chain without the payment.
    assert_eq!(
        chain.rpc.call("evm_revert", json!([snapshot])).unwrap(),
        json!(true)
    );
    assert_eq!(balance(&chain.rpc, to), U256::ZERO);
    let reorged = confirm("3");
    assert_eq!(reorged["status"], "broadcast", "{reorged}");
    let detail = reorged["reorged"].as_str().unwrap();
    assert!(
        detail.contains(&txid) && detail.contains("no longer in the chain"),
        "{detail}"
    );
    assert_eq!(w.status(&p)["reorged"]["times"], 1, "{}", w.status(&p));
    let text = w.airlock(&["confirm", &p]).ok().stdout;
    assert!(text.contains("Not confirmed yet"), "{text}");

    // The same signed transaction goes out again and confirms.
    w.airlock(&["broadcast", &p]).ok();
    mined();
    assert_eq!(balance(&chain.rpc, to), U256::from(3000u64));
    let back = confirm("1");
    assert_eq!(back["status"], "confirmed", "{back}");
    let events: Vec<String> = w
        .airlock(&["--json", "log", "show"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str().map(str::to_owned))
        .filter(|k| ["broadcast", "confirmed", "reorged"].contains(&k.as_str()))
        .collect();
    assert_eq!(events, ["broadcast", "confirmed", "reorged", "confirmed"]);
    let verified = w.airlock(&["--json", "log", "verify"]).ok().json();
    assert_eq!(verified["events"], 4, "{verified}");
    let metrics = w.airlock(&["--json", "metrics"]).ok().json();
    assert_eq!(metrics["outcomes"]["confirmed"], 1, "{metrics}");
}
