//! The signer's chain keys: the secrets that sign transactions (as opposed to the identity key,
//! which signs approvals), each sealed under the signer's passphrase in `keys/<chain>-<id>.key`
//! with the identity key's KDF parameters (Argon2id + XChaCha20-Poly1305, see
//! `airlock_custody::keystore`).
//!
//! A vault names each signer's public chain key (`SignerEntry::chain_key`: an Ethereum address,
//! …); when the signer approves, the secret for exactly that chain key is unsealed, handed to the
//! chain's `sign`, and dropped (zeroized).
//!
//! A key kept in a PKCS#11 token is recorded as `keys/<chain>-<id>.hsm`: public facts only (module,
//! token label, key label, public key). Approving then opens the token with its PIN and the chain
//! signs its own digests through it (`ChainReview::sign_external`); the key never leaves the token.
//!
//! Before a vault version is signed or registered ([`SignerHome::check_vault_keys`]): the
//! account's keys must be exactly the members' listed chain keys (the chain's
//! `ChainReview::check_account`, as the coordinator checks), and the chain key the version lists
//! for this signer must be one it holds; once the passphrase is typed to sign a draft,
//! [`SignerHome::verify_own_chain_key`] unseals it and checks it derives to exactly the listed
//! key (for Bitcoin: the xpub at the listed origin path, not only the fingerprint). A member
//! listed without a chain key approves without one.
//!
//! A key on a QR signer (EIP-4527: Keystone) is recorded as `keys/<chain>-<id>.device`: the
//! address, the device's derivation path and master fingerprint. Approving then takes the
//! device's `eth-signature` for the request `airlock-signer device-request` wrote; it must
//! recover, over the digest this signer computed from its own review, to the listed address
//! ([`SignerHome::device_signer`]). Ethereum only.
//!
//! This module must never write a secret unsealed, overwrite an existing key file, or print a
//! secret.

use std::path::{Path, PathBuf};

use airlock_core::VaultDefinition;
use airlock_core::chain::{ChainError, ChainSecret, DigestSigner};
use airlock_custody::Passphrase;
use airlock_custody::hsm::{HsmKey, HsmToken, KeyKind, Pin};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{IDENTITY_FILE, Result, SignerError, SignerHome, io};

/// The directory of sealed chain keys in a signer home.
pub const KEYS_DIR: &str = "keys";

/// The public chain key (as a vault lists it) of a chain secret.
pub fn chain_key_of(chain: &str, secret: &[u8]) -> Result<String> {
    match chain {
        airlock_chain_ethereum::CHAIN => {
            let bytes: &[u8; 32] = secret.try_into().map_err(|_| {
                SignerError::Setup(format!(
                    "an Ethereum key is 32 bytes, this one is {}",
                    secret.len()
                ))
            })?;
            let key = airlock_chain_ethereum::EthKey::from_bytes(bytes)
                .map_err(|e| SignerError::Setup(e.to_string()))?;
            Ok(key.address().to_string())
        }
        airlock_chain_bitcoin::CHAIN => {
            // The master key's fingerprint names it; vaults list `[fingerprint/path]xpub` keys.
            let key = airlock_chain_bitcoin::SignerKey::from_secret(
                secret,
                airlock_chain_bitcoin::bitcoin::Network::Bitcoin,
            )
            .map_err(|e| SignerError::Setup(e.to_string()))?;
            Ok(key.fingerprint().to_string())
        }
        airlock_chain_monero::CHAIN => {
            airlock_chain_monero::vault_spec::chain_key_of_spend_secret(secret)
                .map_err(|e| SignerError::Setup(e.to_string()))
        }
        other => Err(SignerError::Setup(format!(
            "this signer build keeps no chain keys for {other:?} (available: {}, {})",
            airlock_chain_ethereum::CHAIN,
            airlock_chain_bitcoin::CHAIN
        ))),
    }
}

/// The Bitcoin master fingerprint a vault's key names: `[fingerprint/…]xpub…`.
fn bitcoin_fingerprint(chain_key: &str) -> Option<&str> {
    let fp = chain_key.strip_prefix('[')?.get(..8)?;
    fp.bytes().all(|b| b.is_ascii_hexdigit()).then_some(fp)
}

/// The public chain key (as a vault lists it) of a SEC1 secp256k1 public key.
pub fn chain_key_of_public(chain: &str, sec1: &[u8]) -> Result<String> {
    match chain {
        airlock_chain_ethereum::CHAIN => airlock_chain_ethereum::chain::address_of_public_key(sec1)
            .map(|a| a.to_string())
            .map_err(|e| SignerError::Setup(e.to_string())),
        other => Err(SignerError::Setup(format!(
            "this signer build keeps no HSM chain keys for {other:?} (available: {})",
            airlock_chain_ethereum::CHAIN
        ))),
    }
}

/// Where a chain key kept in a token is: public facts only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HsmKeyRef {
    /// The PKCS#11 module.
    pub module: PathBuf,
    /// The token's label.
    pub token: String,
    /// The key's label on the token.
    pub label: String,
    /// The SEC1 compressed public key, hex.
    pub public_key: String,
}

/// What signs a vault's transactions for this signer.
pub enum ChainSigner {
    /// A secret unsealed from the keystore (zeroized on drop).
    Secret(ChainSecret),
    /// A key in an open, logged-in token.
    Hsm(HsmSigner),
    /// Signatures a QR device returned for this proposal's requests, checked.
    Device(airlock_chain_ethereum::eip4527::DeviceSignatures),
    /// A FROST group's share (Bitcoin).
    Frost(Box<crate::frost_groups::FrostSigner>),
}

/// Where a chain key kept on a QR signer is: public facts only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceKeyRef {
    /// The key's address (the chain key vaults list).
    pub address: String,
    /// Its derivation path on the device, e.g. `m/44'/60'/0'/0/0`.
    pub path: String,
    /// The device's master key fingerprint (8 hex digits), when known; requests carry it.
    pub fingerprint: Option<String>,
}

impl DeviceKeyRef {
    /// The path and fingerprint as an EIP-4527 request names them.
    pub fn device_path(&self) -> Result<airlock_chain_ethereum::eip4527::DevicePath> {
        let fingerprint = self
            .fingerprint
            .as_deref()
            .map(|f| {
                u32::from_str_radix(f, 16)
                    .ok()
                    .filter(|_| f.len() == 8)
                    .ok_or_else(|| {
                        SignerError::Setup(format!("device fingerprint {f:?} is not 8 hex digits"))
                    })
            })
            .transpose()?;
        airlock_chain_ethereum::eip4527::DevicePath::parse(&self.path, fingerprint)
            .map_err(|e| SignerError::Setup(e.to_string()))
    }

    pub fn address(&self) -> Result<airlock_chain_ethereum::EthAddress> {
        self.address
            .parse()
            .map_err(|e: airlock_chain_ethereum::EthError| SignerError::Setup(e.to_string()))
    }
}

/// A borrowed [`ChainSigner`]: a secret reference may be shared by threads (a batch signed over
/// the cores), a token session may not.
#[derive(Clone, Copy)]
pub enum SignWith<'a> {
    Secret(&'a ChainSecret),
    Hsm(&'a HsmSigner),
    Device(&'a airlock_chain_ethereum::eip4527::DeviceSignatures),
    Frost(&'a crate::frost_groups::FrostSigner),
}

impl ChainSigner {
    pub fn borrow(&self) -> SignWith<'_> {
        match self {
            ChainSigner::Secret(s) => SignWith::Secret(s),
            ChainSigner::Hsm(h) => SignWith::Hsm(h),
            ChainSigner::Device(d) => SignWith::Device(d),
            ChainSigner::Frost(f) => SignWith::Frost(f),
        }
    }
}

/// A secp256k1 key in a PKCS#11 token, as a [`DigestSigner`].
pub struct HsmSigner {
    token: HsmToken,
    key: HsmKey,
}

impl DigestSigner for HsmSigner {
    fn public_key(&self) -> Vec<u8> {
        self.key.public_key.clone()
    }

    fn sign_digest(&self, digest: &[u8; 32]) -> std::result::Result<[u8; 65], ChainError> {
        self.token
            .sign_ethereum_digest(&self.key, digest)
            .map_err(|e| ChainError::new("hsm", e.to_string()))
    }
}

/// Whether two spellings name the same chain key (Ethereum addresses ignore checksum case; a
/// Bitcoin key is named by its master fingerprint, as `chain_key_of` returns it).
pub fn same_chain_key(chain: &str, a: &str, b: &str) -> bool {
    match chain {
        airlock_chain_ethereum::CHAIN => a.eq_ignore_ascii_case(b),
        airlock_chain_bitcoin::CHAIN => {
            let fp = |k: &str| bitcoin_fingerprint(k).unwrap_or(k).to_ascii_lowercase();
            fp(a) == fp(b)
        }
        airlock_chain_monero::CHAIN => airlock_chain_monero::vault_spec::same_chain_key(a, b),
        _ => a == b,
    }
}

/// The file name part that identifies a chain key: the lowercase key when it is short and plain
/// (an Ethereum address), else the first 32 hex digits of its SHA-256.
fn key_id(chain: &str, chain_key: &str) -> String {
    if chain == airlock_chain_bitcoin::CHAIN
        && let Some(fp) = bitcoin_fingerprint(chain_key)
    {
        return fp.to_ascii_lowercase();
    }
    if chain_key.len() <= 64 && chain_key.bytes().all(|b| b.is_ascii_alphanumeric()) {
        chain_key.to_ascii_lowercase()
    } else {
        use sha2::Digest;
        hex::encode(&sha2::Sha256::digest(chain_key.as_bytes())[..16])
    }
}

/// Where the sealed secret of `chain_key` lives.
pub fn chain_key_file(home: &Path, chain: &str, chain_key: &str) -> PathBuf {
    // A Monero wallet has one key file whatever network its address is written for.
    let chain_key = match chain {
        airlock_chain_monero::CHAIN => {
            airlock_chain_monero::vault_spec::canonical_chain_key(chain_key)
                .unwrap_or_else(|_| chain_key.to_owned())
        }
        _ => chain_key.to_owned(),
    };
    home.join(KEYS_DIR)
        .join(format!("{chain}-{}.key", key_id(chain, &chain_key)))
}

impl SignerHome {
    /// Seals a chain secret under the signer's passphrase (checked against the identity key
    /// first); returns the public chain key to list in vault definitions and the file written.
    pub fn store_chain_key(
        &self,
        chain: &str,
        secret: &[u8],
        passphrase: &Passphrase,
    ) -> Result<(String, PathBuf)> {
        self.unlock(passphrase)?;
        let chain_key = chain_key_of(chain, secret)?;
        let path = chain_key_file(&self.dir, chain, &chain_key);
        if path.exists()
            || path.with_extension("hsm").exists()
            || path.with_extension("device").exists()
        {
            return Err(SignerError::Setup(format!(
                "{} already holds the key of {chain_key}; refusing to overwrite it",
                path.display()
            )));
        }
        let identity = airlock_transport::read_bounded(&self.dir.join(IDENTITY_FILE), 64 * 1024)
            .map_err(io)?;
        let params = airlock_custody::sealed_params(&identity)?;
        let sealed = airlock_custody::seal(secret, passphrase, params)?;
        let dir = self.dir.join(KEYS_DIR);
        create_private_dir(&dir)?;
        airlock_transport::write_atomic_private_new(&path, &sealed).map_err(io)?;
        Ok((chain_key, path))
    }

    /// Records a chain key kept in a token (checked: the key exists on the token and is
    /// secp256k1); returns the public chain key and the file written.
    pub fn store_hsm_chain_key(
        &self,
        chain: &str,
        reference: &HsmKeyRef,
        pin: &Pin,
    ) -> Result<(String, PathBuf)> {
        let token = HsmToken::open(&reference.module, &reference.token, pin)
            .map_err(|e| SignerError::Setup(e.to_string()))?;
        let key = token
            .key(&reference.label)
            .map_err(|e| SignerError::Setup(e.to_string()))?;
        if key.kind != KeyKind::Secp256k1 {
            return Err(SignerError::Setup(format!(
                "key {:?} on token {:?} is not secp256k1",
                reference.label, reference.token
            )));
        }
        let mut reference = reference.clone();
        reference.public_key = key.public_key_hex();
        let chain_key = chain_key_of_public(chain, &key.public_key)?;
        let path = chain_key_file(&self.dir, chain, &chain_key).with_extension("hsm");
        let plain = chain_key_file(&self.dir, chain, &chain_key);
        if path.exists() || plain.exists() || plain.with_extension("device").exists() {
            return Err(SignerError::Setup(format!(
                "this signer already holds a key for {chain_key}; refusing to overwrite it"
            )));
        }
        create_private_dir(&self.dir.join(KEYS_DIR))?;
        let json = serde_json::to_vec_pretty(&reference).expect("serializes");
        airlock_transport::write_atomic_private_new(&path, &json).map_err(io)?;
        Ok((chain_key, path))
    }

    /// The chain keys this signer holds: (chain, file name).
    pub fn chain_key_files(&self) -> Result<Vec<(String, PathBuf)>> {
        let dir = self.dir.join(KEYS_DIR);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for entry in entries {
            let path = entry.map_err(io)?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let stem = name
                .strip_suffix(".key")
                .or_else(|| name.strip_suffix(".hsm"))
                .or_else(|| name.strip_suffix(".device"));
            if let Some((chain, _)) = stem.and_then(|n| n.split_once('-')) {
                out.push((chain.to_owned(), path.clone()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// What this signer signs `vault`'s transactions with: `None` when the vault lists no chain
    /// key for this signer (it approves without a chain signature). A keystore key is unsealed
    /// with `passphrase`; an HSM key is opened with `pin`.
    pub fn chain_signer(
        &self,
        vault: &VaultDefinition,
        passphrase: &Passphrase,
        pin: Option<&Pin>,
    ) -> Result<Option<ChainSigner>> {
        let me = self.public_key()?;
        let entry = vault.signer(&me).ok_or_else(|| {
            SignerError::Refused(format!(
                "this signer is not a signer of vault {:?} v{}",
                vault.vault_id, vault.version
            ))
        })?;
        if entry.chain_key.is_empty() {
            return Ok(None);
        }
        if entry.custody == "frost" {
            return Ok(Some(ChainSigner::Frost(Box::new(self.frost_signer(
                vault,
                &entry.chain_key,
                passphrase,
            )?))));
        }
        let path = chain_key_file(&self.dir, &vault.chain, &entry.chain_key);
        if entry.custody == "device" {
            return Err(SignerError::Setup(format!(
                "this signer's {} key {} is on a QR device: write the request with `airlock-signer device-request BUNDLE --out FILE`, sign it on the device, and approve with --device-signature FILE",
                vault.chain, entry.chain_key
            )));
        }
        if entry.custody == "hsm" {
            let hsm_path = path.with_extension("hsm");
            let bytes = airlock_transport::read_bounded(&hsm_path, 64 * 1024).map_err(|_| {
                SignerError::Setup(format!(
                    "vault {:?} lists {} as this signer's HSM-backed {} key, but {} does not \
                     exist: record it with `airlock-signer key add --chain {} --hsm-token …`",
                    vault.vault_id,
                    entry.chain_key,
                    vault.chain,
                    hsm_path.display(),
                    vault.chain
                ))
            })?;
            let reference: HsmKeyRef = serde_json::from_slice(&bytes).map_err(|e| {
                SignerError::Setup(format!("{} is damaged: {e}", hsm_path.display()))
            })?;
            let pin = pin.ok_or_else(|| {
                SignerError::Setup(format!(
                    "this signer's {} key is in token {:?}: give its PIN (--hsm-pin-file)",
                    vault.chain, reference.token
                ))
            })?;
            let token = HsmToken::open(&reference.module, &reference.token, pin)
                .map_err(|e| SignerError::Setup(e.to_string()))?;
            let key = token
                .key(&reference.label)
                .map_err(|e| SignerError::Setup(e.to_string()))?;
            let onchain = chain_key_of_public(&vault.chain, &key.public_key)?;
            if !same_chain_key(&vault.chain, &onchain, &entry.chain_key) {
                return Err(SignerError::Setup(format!(
                    "key {:?} on token {:?} is {onchain}, the vault lists {}",
                    reference.label, reference.token, entry.chain_key
                )));
            }
            return Ok(Some(ChainSigner::Hsm(HsmSigner { token, key })));
        }
        let sealed = airlock_transport::read_bounded(&path, 64 * 1024).map_err(|_| {
            SignerError::Setup(format!(
                "vault {:?} lists {} as this signer's {} key, but {} does not exist: add the key \
                 with `airlock-signer key add --chain {}`",
                vault.vault_id,
                entry.chain_key,
                vault.chain,
                path.display(),
                vault.chain
            ))
        })?;
        let secret: Zeroizing<Vec<u8>> = airlock_custody::open(&sealed, passphrase)?;
        if !same_chain_key(
            &vault.chain,
            &chain_key_of(&vault.chain, &secret)?,
            &entry.chain_key,
        ) {
            return Err(SignerError::Setup(format!(
                "{} does not hold the key of {}: the keys directory was tampered with",
                path.display(),
                entry.chain_key
            )));
        }
        Ok(Some(ChainSigner::Secret(ChainSecret(secret))))
    }
}

/// The account of a vault version checked against its members (`ChainReview::check_account`):
/// the warnings every signer must be shown, or a refusal naming the keys and members at fault.
pub fn check_vault_account(vault: &VaultDefinition) -> Result<Vec<String>> {
    crate::chain_review(&vault.chain)?
        .check_account(vault)
        .map_err(|e| {
            SignerError::Refused(format!(
                "vault {:?} v{}: {e}",
                vault.vault_id, vault.version
            ))
        })
}

impl SignerHome {
    /// Checks a vault version before this signer signs or registers it, without the passphrase:
    /// the account's keys are exactly the members' chain keys ([`check_vault_account`]), and the
    /// chain key it lists for this signer, if any, is one this signer holds (its sealed file or
    /// token record exists). Returns the account's warnings.
    pub fn check_vault_keys(&self, vault: &VaultDefinition) -> Result<Vec<String>> {
        let warnings = check_vault_account(vault)?;
        let me = self.public_key()?;
        if let Some(entry) = vault
            .signer(&me)
            .filter(|e| !e.chain_key.is_empty() && e.custody == "frost")
        {
            self.frost_group_for(vault, &entry.chain_key)?;
        } else if let Some(entry) = vault.signer(&me).filter(|e| !e.chain_key.is_empty()) {
            let path = chain_key_file(&self.dir, &vault.chain, &entry.chain_key);
            let held = match entry.custody.as_str() {
                "hsm" => path.with_extension("hsm"),
                "device" => path.with_extension("device"),
                _ => path,
            };
            if !held.is_file() {
                return Err(SignerError::Refused(format!(
                    "vault {:?} v{} lists {} as this signer's {} key, but this signer holds no such key                      (no {}): a vault must list this signer's own key (`airlock-signer key list`)",
                    vault.vault_id,
                    vault.version,
                    entry.chain_key,
                    vault.chain,
                    held.display()
                )));
            }
        }
        Ok(warnings)
    }

    /// A note for the draft review when the version lists no chain key for this signer although
    /// it holds keys of the vault's chain (it will approve without signing transactions).
    pub fn unlisted_key_note(&self, vault: &VaultDefinition) -> Result<String> {
        let me = self.public_key()?;
        let listed_none = vault.signer(&me).is_some_and(|e| e.chain_key.is_empty());
        let held = self
            .chain_key_files()?
            .into_iter()
            .filter(|(chain, _)| *chain == vault.chain)
            .count();
        Ok(if listed_none && held > 0 {
            format!(
                "NOTE this signer holds {held} {} key(s), but this version lists none for it: it approves without signing transactions\n",
                vault.chain
            )
        } else {
            String::new()
        })
    }

    /// Checks, with the passphrase, that the chain key a vault version lists for this signer is
    /// exactly the key it holds: the sealed secret is unsealed and its public key (for Bitcoin
    /// the xpub at the listed origin path) compared with the listing; a token key is compared
    /// through its recorded public key. Nothing to check when the version lists none.
    pub fn verify_own_chain_key(
        &self,
        vault: &VaultDefinition,
        passphrase: &Passphrase,
    ) -> Result<()> {
        let me = self.public_key()?;
        let Some(entry) = vault.signer(&me).filter(|e| !e.chain_key.is_empty()) else {
            return Ok(());
        };
        let refused = |why: String| {
            SignerError::Refused(format!(
                "vault {:?} v{} lists {} as this signer's {} key, but {why}",
                vault.vault_id, vault.version, entry.chain_key, vault.chain
            ))
        };
        if entry.custody == "frost" {
            self.frost_signer(vault, &entry.chain_key, passphrase)?;
            return Ok(());
        }
        let path = chain_key_file(&self.dir, &vault.chain, &entry.chain_key);
        if entry.custody == "device" {
            let held = self.device_key_ref(vault)?;
            if !same_chain_key(&vault.chain, &held.address, &entry.chain_key) {
                return Err(refused(format!(
                    "the device key this signer records for it is {}",
                    held.address
                )));
            }
            return Ok(());
        }
        if entry.custody == "hsm" {
            let hsm_path = path.with_extension("hsm");
            let bytes = airlock_transport::read_bounded(&hsm_path, 64 * 1024)
                .map_err(|e| refused(format!("{} cannot be read: {e}", hsm_path.display())))?;
            let reference: HsmKeyRef = serde_json::from_slice(&bytes).map_err(|e| {
                SignerError::Setup(format!("{} is damaged: {e}", hsm_path.display()))
            })?;
            let public = hex::decode(&reference.public_key).map_err(|_| {
                SignerError::Setup(format!("{} is damaged: bad public key", hsm_path.display()))
            })?;
            let held = chain_key_of_public(&vault.chain, &public)?;
            if !same_chain_key(&vault.chain, &held, &entry.chain_key) {
                return Err(refused(format!(
                    "the token key this signer holds for it is {held}"
                )));
            }
            return Ok(());
        }
        let sealed = airlock_transport::read_bounded(&path, 64 * 1024).map_err(|_| {
            refused(format!(
                "this signer holds no such key (no {})",
                path.display()
            ))
        })?;
        let secret: Zeroizing<Vec<u8>> = airlock_custody::open(&sealed, passphrase)?;
        if vault.chain == airlock_chain_bitcoin::CHAIN {
            let network = airlock_chain_bitcoin::parse_network(&vault.network)
                .map_err(|e| refused(e.to_string()))?;
            let key = airlock_chain_bitcoin::SignerKey::from_secret(&secret, network)
                .map_err(|e| SignerError::Setup(e.to_string()))?;
            return key
                .check_listed_key(&entry.chain_key)
                .map_err(|e| refused(format!("it is not this signer's key: {e}")));
        }
        let held = chain_key_of(&vault.chain, &secret)?;
        if !same_chain_key(&vault.chain, &held, &entry.chain_key) {
            return Err(refused(format!(
                "this signer's key in {} is {held}",
                path.display()
            )));
        }
        Ok(())
    }
}

impl SignerHome {
    /// Records an Ethereum key kept on a QR signer (EIP-4527): its address, path on the device
    /// and the device's master fingerprint. Returns the chain key and the file written.
    pub fn store_device_chain_key(
        &self,
        chain: &str,
        reference: &DeviceKeyRef,
    ) -> Result<(String, PathBuf)> {
        if chain != airlock_chain_ethereum::CHAIN {
            return Err(SignerError::Setup(format!(
                "keys on QR signers (EIP-4527) are Ethereum keys; not {chain}"
            )));
        }
        let chain_key = reference.address()?.to_string();
        reference.device_path()?;
        let path = chain_key_file(&self.dir, chain, &chain_key).with_extension("device");
        let plain = chain_key_file(&self.dir, chain, &chain_key);
        if path.exists() || plain.exists() || plain.with_extension("hsm").exists() {
            return Err(SignerError::Setup(format!(
                "this signer already holds a key for {chain_key}; refusing to overwrite it"
            )));
        }
        create_private_dir(&self.dir.join(KEYS_DIR))?;
        let mut reference = reference.clone();
        reference.address = chain_key.clone();
        let json = serde_json::to_vec_pretty(&reference).expect("serializes");
        airlock_transport::write_atomic_private_new(&path, &json).map_err(io)?;
        Ok((chain_key, path))
    }

    /// Unseals the keystore secret of `chain_key` (for exporting its public keys; the caller
    /// drops it at once). Refused for a key this signer does not hold.
    pub fn open_chain_secret(
        &self,
        chain: &str,
        chain_key: &str,
        passphrase: &Passphrase,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let path = chain_key_file(&self.dir, chain, chain_key);
        let sealed = airlock_transport::read_bounded(&path, 64 * 1024).map_err(|_| {
            SignerError::Setup(format!(
                "this signer holds no {chain} key {chain_key} in its keystore (no {}); `airlock-signer key list` shows its keys",
                path.display()
            ))
        })?;
        Ok(airlock_custody::open(&sealed, passphrase)?)
    }

    /// The QR-device key `vault` lists for this signer (custody `device`).
    pub fn device_key_ref(&self, vault: &VaultDefinition) -> Result<DeviceKeyRef> {
        let me = self.public_key()?;
        let entry = vault
            .signer(&me)
            .filter(|e| e.custody == "device" && !e.chain_key.is_empty())
            .ok_or_else(|| {
                SignerError::Refused(format!(
                    "vault {:?} v{} lists no QR-device key for this signer",
                    vault.vault_id, vault.version
                ))
            })?;
        let path =
            chain_key_file(&self.dir, &vault.chain, &entry.chain_key).with_extension("device");
        let bytes = airlock_transport::read_bounded(&path, 64 * 1024).map_err(|_| {
            SignerError::Setup(format!(
                "vault {:?} lists {} as this signer's QR-device key, but {} does not exist: record it with `airlock-signer key add --chain ethereum --device-address …`",
                vault.vault_id,
                entry.chain_key,
                path.display()
            ))
        })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| SignerError::Setup(format!("{} is damaged: {e}", path.display())))
    }

    /// The EIP-4527 requests for a reviewed proposal, for this signer's QR-device key.
    pub fn device_requests(
        &self,
        review: &crate::Review,
    ) -> Result<
        Vec<(
            airlock_chain_ethereum::eip4527::SignRequest,
            airlock_chain_ethereum::eip4527::B256,
        )>,
    > {
        let device = self.device_key_ref(&review.vault)?;
        let (spec, payload, eth_review) =
            airlock_chain_ethereum::chain::review_proposal(&review.vault, &review.proposal)
                .map_err(|e| SignerError::Refused(e.to_string()))?;
        airlock_chain_ethereum::eip4527::device_requests(
            &payload,
            &eth_review,
            spec.chain_id,
            device.address()?,
            &device.device_path()?,
            &format!("airlock vault {}", review.vault.vault_id),
        )
        .map_err(|e| SignerError::Refused(e.to_string()))
    }

    /// The device's signatures for a reviewed proposal, checked against this signer's requests
    /// (see the module docs).
    pub fn device_signer(
        &self,
        review: &crate::Review,
        responses: &[airlock_chain_ethereum::eip4527::DeviceSignature],
    ) -> Result<ChainSigner> {
        let requests = self.device_requests(review)?;
        let address = self.device_key_ref(&review.vault)?.address()?;
        airlock_chain_ethereum::eip4527::DeviceSignatures::check(&requests, responses, address)
            .map(ChainSigner::Device)
            .map_err(|e| SignerError::Refused(e.to_string()))
    }
}

pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    Ok(())
}
