//! Monero for Airlock: offline wallet, view-only export, key images and offline signing (default
//! build); view-only scanning, transaction building and broadcast against monerod behind `online`.
