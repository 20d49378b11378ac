//! Chain-source configuration. No Electrum server (nor a Bitcoin node behind one) can run on this
//! machine, so this checks what can be checked here: URL validation before any connection, and that
//! an unreachable server gives a clear error and leaves the vault unchanged.

mod wallet_support;

use std::net::TcpListener;
use std::time::Duration;

use airlock_chain_bitcoin_online::{
    DEFAULT_STOP_GAP, ElectrumEndpoint, OnlineError, SyncSource, WatchOnlyVault,
};
use bdk_wallet::bitcoin::Network;
use wallet_support::*;

#[test]
fn electrum_urls_are_validated_before_connecting() {
    for good in [
        "tcp://127.0.0.1:50001",
        "ssl://electrum.example.org:50002",
        "tcp://[::1]:60401",
        "  ssl://abcdefghijklmnop.onion:50002  ",
    ] {
        let source = SyncSource::electrum(good).unwrap_or_else(|error| panic!("{good}: {error}"));
        let SyncSource::Electrum(endpoint) = source;
        assert_eq!(endpoint.url, good.trim());
    }
    for (bad, needle) in [
        ("http://127.0.0.1:50001", "must start with tcp:// or ssl://"),
        ("127.0.0.1:50001", "must start with tcp:// or ssl://"),
        ("tcp://127.0.0.1", "a port is required"),
        ("tcp://127.0.0.1:0", "port must be a number from 1 to 65535"),
        (
            "tcp://127.0.0.1:70000",
            "port must be a number from 1 to 65535",
        ),
        ("tcp://127.0.0.1:port", "port must be a number"),
        ("tcp://:50001", "host is empty"),
        ("ssl://host:50002/path", "no path, query or user"),
        ("ssl://user@host:50002", "no path, query or user"),
        ("tcp://ho st:50001", "only letters, digits"),
        ("tcp://[::1:50001", "closing ']'"),
        ("tcp://[zz::1]:50001", "not an IPv6 address"),
    ] {
        let error = SyncSource::electrum(bad).expect_err(bad);
        assert!(
            matches!(error, OnlineError::SyncConfig(_)),
            "{bad}: {error}"
        );
        assert!(
            error.to_string().contains(needle),
            "{bad}: {error} should mention {needle:?}"
        );
    }
    let with_bad_proxy = SyncSource::Electrum(ElectrumEndpoint {
        url: "tcp://127.0.0.1:50001".into(),
        validate_tls_domain: true,
        socks5_proxy: Some("127.0.0.1".into()),
        timeout: Duration::from_secs(5),
    });
    assert!(
        with_bad_proxy
            .validate()
            .unwrap_err()
            .to_string()
            .contains("SOCKS5 proxy")
    );
    let with_bad_timeout = SyncSource::Electrum(ElectrumEndpoint {
        url: "tcp://127.0.0.1:50001".into(),
        validate_tls_domain: true,
        socks5_proxy: None,
        timeout: Duration::from_secs(0),
    });
    assert!(
        with_bad_timeout
            .validate()
            .unwrap_err()
            .to_string()
            .contains("timeout")
    );
}

#[test]
fn unreachable_server_is_a_clear_error_and_changes_nothing() {
    // A port that was just free: nothing listens there.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut vault = WatchOnlyVault::create(
        &dir.path().join("vault.sqlite"),
        &vault_descriptor(VaultKind::WshSortedMulti2of3),
        Network::Regtest,
    )
    .unwrap();
    let before = snapshot(&vault);
    let source = SyncSource::electrum(&format!("tcp://127.0.0.1:{port}")).unwrap();
    let error = vault.sync(&source, true, DEFAULT_STOP_GAP).unwrap_err();
    assert!(matches!(error, OnlineError::Sync(_)), "{error}");
    assert!(
        error.to_string().contains(&format!("127.0.0.1:{port}")),
        "{error}"
    );
    assert_eq!(snapshot(&vault), before);
    let tx = funding_transaction("x", &[(foreign_address("y").script_pubkey(), 1_000)]);
    assert!(matches!(source.broadcast(&tx), Err(OnlineError::Sync(_))));
}
