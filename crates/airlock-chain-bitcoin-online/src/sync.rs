//! Chain sources a watch-only vault syncs from and broadcasts through.
//!
//! One backend today: an Electrum server (`tcp://host:port` or `ssl://host:port`, optionally through
//! a SOCKS5 proxy such as Tor), through `bdk_electrum`. The configuration is checked before any
//! connection is made. This module talks to the network; it must never be compiled into the signer.

use std::time::Duration;

use bdk_electrum::BdkElectrumClient;
use bdk_electrum::electrum_client::{self, ConfigBuilder, Socks5Config};
use bdk_wallet::bitcoin::{Transaction, Txid};

use super::error::OnlineError;
use super::vault::WatchOnlyVault;

/// Default number of consecutive unused addresses after which a full scan stops.
pub const DEFAULT_STOP_GAP: usize = 25;
/// Scripts asked per Electrum batch request.
const ELECTRUM_BATCH_SIZE: usize = 10;

/// A validated Electrum server location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectrumEndpoint {
    /// `tcp://host:port` or `ssl://host:port`, as given (trimmed).
    pub url: String,
    /// Whether the TLS certificate must match the host name (ignored for `tcp://`). Turn off only
    /// for a self-signed server you run yourself.
    pub validate_tls_domain: bool,
    /// Optional SOCKS5 proxy, `host:port` (e.g. Tor's `127.0.0.1:9050`).
    pub socks5_proxy: Option<String>,
    /// Network timeout per request.
    pub timeout: Duration,
}

/// Where a vault gets chain data from and sends transactions to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncSource {
    /// An Electrum server.
    Electrum(ElectrumEndpoint),
}

/// What a sync changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncSummary {
    /// Height of the chain tip after the sync.
    pub tip_height: u32,
    /// Number of transactions the vault knows after the sync.
    pub transactions: usize,
}

/// Checks `host:port` (host name, IPv4, or bracketed IPv6; port 1-65535).
fn validate_host_port(text: &str, what: &str) -> Result<(), OnlineError> {
    let refuse = |reason: &str| OnlineError::SyncConfig(format!("{what} {text:?}: {reason}"));
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| refuse("IPv6 address is missing its closing ']'"))?;
        host.parse::<std::net::Ipv6Addr>()
            .map_err(|_| refuse("not an IPv6 address inside [...]"))?;
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| refuse("a port is required after the IPv6 address, e.g. [::1]:50001"))?;
        (host, port)
    } else {
        text.rsplit_once(':')
            .ok_or_else(|| refuse("a port is required, e.g. host:50001"))?
    };
    if host.is_empty() {
        return Err(refuse("the host is empty"));
    }
    if !text.starts_with('[')
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return Err(refuse(
            "the host may contain only letters, digits, '.' and '-'",
        ));
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(refuse("the port must be a number from 1 to 65535")),
        Ok(_) => Ok(()),
    }
}

impl SyncSource {
    /// An Electrum server at `url` (`tcp://host:port` or `ssl://host:port`), TLS domain checked,
    /// no proxy, 30 s timeout.
    pub fn electrum(url: &str) -> Result<Self, OnlineError> {
        let source = SyncSource::Electrum(ElectrumEndpoint {
            url: url.trim().to_string(),
            validate_tls_domain: true,
            socks5_proxy: None,
            timeout: Duration::from_secs(30),
        });
        source.validate()?;
        Ok(source)
    }

    /// Checks the configuration without connecting.
    pub fn validate(&self) -> Result<(), OnlineError> {
        match self {
            SyncSource::Electrum(endpoint) => {
                let url = endpoint.url.as_str();
                let rest = url
                    .strip_prefix("tcp://")
                    .or_else(|| url.strip_prefix("ssl://"))
                    .ok_or_else(|| {
                        OnlineError::SyncConfig(format!(
                            "Electrum URL {url:?} must start with tcp:// or ssl://"
                        ))
                    })?;
                if rest.contains(['/', '?', '#', '@']) {
                    return Err(OnlineError::SyncConfig(format!(
                        "Electrum URL {url:?} must be scheme://host:port with no path, query or user"
                    )));
                }
                validate_host_port(rest, "Electrum server")?;
                if let Some(proxy) = &endpoint.socks5_proxy {
                    validate_host_port(proxy, "SOCKS5 proxy")?;
                }
                let seconds = endpoint.timeout.as_secs();
                if !(1..=255).contains(&seconds) {
                    return Err(OnlineError::SyncConfig(format!(
                        "Electrum timeout of {seconds} s is outside 1-255 s"
                    )));
                }
                Ok(())
            }
        }
    }

    fn electrum_client(
        endpoint: &ElectrumEndpoint,
    ) -> Result<BdkElectrumClient<electrum_client::Client>, OnlineError> {
        let config = ConfigBuilder::new()
            .validate_domain(endpoint.validate_tls_domain)
            .timeout(Some(endpoint.timeout))
            .socks5(endpoint.socks5_proxy.as_ref().map(Socks5Config::new))
            .retry(1)
            .build();
        let client =
            electrum_client::Client::from_config(&endpoint.url, config).map_err(|error| {
                OnlineError::Sync(format!("connecting to {}: {error}", endpoint.url))
            })?;
        Ok(BdkElectrumClient::new(client))
    }

    /// Sends a final transaction to the network.
    pub fn broadcast(&self, tx: &Transaction) -> Result<Txid, OnlineError> {
        self.validate()?;
        match self {
            SyncSource::Electrum(endpoint) => Self::electrum_client(endpoint)?
                .transaction_broadcast(tx)
                .map_err(|error| OnlineError::Sync(format!("broadcast refused: {error}"))),
        }
    }
}

impl WatchOnlyVault {
    /// Syncs the vault from `source`. With `full_scan`, every chain is scanned until `stop_gap`
    /// unused addresses in a row (first sync, or a restored vault); otherwise only addresses already
    /// revealed are checked. The result is written to the vault file.
    pub fn sync(
        &mut self,
        source: &SyncSource,
        full_scan: bool,
        stop_gap: usize,
    ) -> Result<SyncSummary, OnlineError> {
        source.validate()?;
        match source {
            SyncSource::Electrum(endpoint) => {
                let client = SyncSource::electrum_client(endpoint)?;
                // Transactions already known need not be downloaded again.
                client.populate_tx_cache(
                    self.wallet()
                        .tx_graph()
                        .full_txs()
                        .map(|tx_node| tx_node.tx.clone()),
                );
                if full_scan {
                    let request = self.wallet().start_full_scan().build();
                    let response = client
                        .full_scan(request, stop_gap.max(1), ELECTRUM_BATCH_SIZE, true)
                        .map_err(|error| OnlineError::Sync(error.to_string()))?;
                    self.apply_chain_update(response.into())?;
                } else {
                    let request = self.wallet().start_sync_with_revealed_spks().build();
                    let response = client
                        .sync(request, ELECTRUM_BATCH_SIZE, true)
                        .map_err(|error| OnlineError::Sync(error.to_string()))?;
                    self.apply_chain_update(response.into())?;
                }
            }
        }
        Ok(SyncSummary {
            tip_height: self.wallet().latest_checkpoint().height(),
            transactions: self.wallet().transactions().count(),
        })
    }
}
