//! Signer keys: a BIP-32 master key from seed bytes (or a master xprv), the key exports a
//! coordinator needs to assemble a vault, and fast child-key derivation for signing.
//!
//! Exports: `[fingerprint/48'/coin'/0'/2']xpub` for multisig (BIP-48, script type 2 = P2WSH; the
//! same account key serves `tr(…, multi_a(…))` vaults), `[fingerprint/84'/coin'/0']xpub` for
//! single-key `wpkh` (BIP-84) and `[fingerprint/86'/coin'/0']xpub` for single-key `tr` (BIP-86).
//! `coin` is 0 on mainnet and 1 on test networks.
//!
//! [`SignerKey::from_secret`] documents the exact bytes Airlock's `ChainSecret` carries for
//! Bitcoin. This module must never print, log or serialize private key material; private keys
//! are wiped when their holder is dropped.

use bitcoin::bip32::{ChainCode, ChildNumber, DerivationPath, Fingerprint, Xpriv, Xpub};
use bitcoin::hashes::{Hash, HashEngine, Hmac, HmacEngine, sha512};
use bitcoin::secp256k1::{PublicKey, Scalar, Secp256k1, SecretKey, Signing};
use bitcoin::{Network, NetworkKind};
use zeroize::Zeroizing;

use crate::error::BtcError;
use crate::vault::{VaultKey, coin_type, format_key_origin};

/// The script type a single-key account is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SingleKeyScript {
    /// BIP-84 `wpkh`.
    Wpkh,
    /// BIP-86 `tr` (key path only).
    Taproot,
}

/// A signer's BIP-32 master key. Wiped on drop.
pub struct SignerKey {
    master: Xpriv,
    fingerprint: Fingerprint,
    network: Network,
}

impl Drop for SignerKey {
    fn drop(&mut self) {
        self.master.private_key.non_secure_erase();
        self.master.chain_code = ChainCode::from([0u8; 32]);
    }
}

impl std::fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerKey")
            .field("fingerprint", &self.fingerprint)
            .field("network", &self.network)
            .finish_non_exhaustive()
    }
}

impl SignerKey {
    /// A master key from BIP-32 seed bytes (16 to 64 bytes; a BIP-39 seed is 64 bytes).
    pub fn from_seed(seed: &[u8], network: Network) -> Result<SignerKey, BtcError> {
        if !(16..=64).contains(&seed.len()) {
            return Err(BtcError::Key(format!(
                "a BIP-32 seed is 16 to 64 bytes, got {} bytes",
                seed.len()
            )));
        }
        let master = Xpriv::new_master(NetworkKind::from(network), seed)
            .map_err(|e| BtcError::Key(format!("unusable seed: {e}")))?;
        Ok(Self::from_master(master, network))
    }

    /// A master key from its base58 `xprv…`/`tprv…` text (depth 0 only).
    pub fn from_xprv(text: &str, network: Network) -> Result<SignerKey, BtcError> {
        let master: Xpriv = text
            .trim()
            .parse()
            .map_err(|e| BtcError::Key(format!("not an extended private key: {e}")))?;
        if master.depth != 0 {
            return Err(BtcError::Key(format!(
                "the extended private key has depth {}; a master key (depth 0) is needed so that fingerprints match",
                master.depth
            )));
        }
        if master.network != NetworkKind::from(network) {
            return Err(BtcError::Key(format!(
                "the extended private key is for another network than {network}"
            )));
        }
        Ok(Self::from_master(master, network))
    }

    /// Decodes Airlock's `ChainSecret` bytes for Bitcoin:
    /// - 16 to 64 raw bytes: a BIP-32 seed (normally the 64-byte BIP-39 seed of the mnemonic);
    /// - otherwise ASCII text of a master `xprv…` (mainnet) or `tprv…` (test networks) key.
    pub fn from_secret(bytes: &[u8], network: Network) -> Result<SignerKey, BtcError> {
        if bytes.starts_with(b"xprv") || bytes.starts_with(b"tprv") {
            let text = Zeroizing::new(
                std::str::from_utf8(bytes)
                    .map_err(|_| BtcError::Key("the xprv text is not ASCII".into()))?
                    .to_owned(),
            );
            return Self::from_xprv(&text, network);
        }
        Self::from_seed(bytes, network)
    }

    fn from_master(master: Xpriv, network: Network) -> SignerKey {
        let secp = Secp256k1::signing_only();
        let fingerprint = master.fingerprint(&secp);
        SignerKey {
            master,
            fingerprint,
            network,
        }
    }

    /// The master key fingerprint (first 4 bytes of HASH160 of the master public key).
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    pub fn network(&self) -> Network {
        self.network
    }

    /// The BIP-48 multisig account path `m/48'/coin'/account'/2'`.
    pub fn multisig_path(&self, account: u32) -> DerivationPath {
        hardened_path(&[48, coin_type(self.network), account, 2])
    }

    /// The single-key account path: `m/84'/coin'/account'` or `m/86'/coin'/account'`.
    pub fn single_key_path(&self, script: SingleKeyScript, account: u32) -> DerivationPath {
        let purpose = match script {
            SingleKeyScript::Wpkh => 84,
            SingleKeyScript::Taproot => 86,
        };
        hardened_path(&[purpose, coin_type(self.network), account])
    }

    /// The extended public key at `path`.
    pub fn xpub_at(&self, path: &DerivationPath) -> Result<Xpub, BtcError> {
        let secp = Secp256k1::signing_only();
        let mut child = self
            .master
            .derive_priv(&secp, path)
            .map_err(|e| BtcError::Key(format!("cannot derive {path}: {e}")))?;
        let xpub = Xpub::from_priv(&secp, &child);
        child.private_key.non_secure_erase();
        Ok(xpub)
    }

    /// `[fingerprint/path]xpub` at `path`.
    pub fn export_key(&self, path: &DerivationPath) -> Result<String, BtcError> {
        Ok(format_key_origin(
            self.fingerprint,
            path,
            &self.xpub_at(path)?,
        ))
    }

    /// Checks that a chain key a vault lists for this signer (`[fingerprint/path]xpub`) is this
    /// key's: same master fingerprint, and the xpub at that path is the listed one.
    pub fn check_listed_key(&self, listed: &str) -> Result<(), BtcError> {
        let key = crate::account::ListedKey::parse(listed)?;
        if key.fingerprint != self.fingerprint {
            return Err(BtcError::Key(format!(
                "the listed key {} has master fingerprint {}, this signer's is {}",
                key.with_origin(),
                key.fingerprint,
                self.fingerprint
            )));
        }
        if self.xpub_at(&key.origin_path)? != key.xpub {
            return Err(BtcError::Key(format!(
                "the listed key {} names this signer's fingerprint but is not this signer's key at m/{}",
                key.with_origin(),
                key.origin_path
            )));
        }
        Ok(())
    }

    /// The key a coordinator puts into a multisig vault: `[fp/48'/coin'/0'/2']xpub`.
    pub fn export_multisig_key(&self) -> Result<String, BtcError> {
        self.export_key(&self.multisig_path(0))
    }

    /// A complete single-key vault descriptor, e.g. `wpkh([fp/84'/1'/0']tpub…/<0;1>/*)`.
    pub fn single_key_descriptor(&self, script: SingleKeyScript) -> Result<String, BtcError> {
        let key = self.export_key(&self.single_key_path(script, 0))?;
        let body = match script {
            SingleKeyScript::Wpkh => format!("wpkh({key}/<0;1>/*)"),
            SingleKeyScript::Taproot => format!("tr({key}/<0;1>/*)"),
        };
        let checksum = miniscript::descriptor::checksum::desc_checksum(&body)
            .map_err(|e| BtcError::Key(format!("cannot compute the checksum: {e}")))?;
        Ok(format!("{body}#{checksum}"))
    }

    /// Prepares signing with this key for one vault key: checks that the vault key is this
    /// signer's (same fingerprint, and the xpub at its origin path is the vault's xpub) and derives
    /// both branch keys once.
    pub(crate) fn branch_signer(&self, vault_key: &VaultKey) -> Result<BranchSigner, BtcError> {
        let secp = Secp256k1::signing_only();
        let mut account = self
            .master
            .derive_priv(&secp, &vault_key.origin_path)
            .map_err(|e| BtcError::Key(format!("cannot derive {}: {e}", vault_key.origin_path)))?;
        if Xpub::from_priv(&secp, &account) != vault_key.xpub {
            account.private_key.non_secure_erase();
            return Err(BtcError::Key(format!(
                "the vault's key {} names this signer's fingerprint {} but is not this signer's key at that path",
                vault_key.with_origin(),
                self.fingerprint
            )));
        }
        let mut branches = Vec::with_capacity(2);
        for path in &vault_key.branch_paths {
            let mut branch = account
                .derive_priv(&secp, path)
                .map_err(|e| BtcError::Key(format!("cannot derive branch {path}: {e}")))?;
            branches.push(ParentKey::new(&secp, &branch));
            branch.private_key.non_secure_erase();
        }
        account.private_key.non_secure_erase();
        let second = branches.pop();
        let first = branches.pop();
        match (first, second) {
            (Some(a), Some(b)) => Ok(BranchSigner { branches: [a, b] }),
            _ => Err(BtcError::Key("internal: expected two branches".into())),
        }
    }
}

fn hardened_path(steps: &[u32]) -> DerivationPath {
    DerivationPath::from(
        steps
            .iter()
            .map(|&index| ChildNumber::Hardened { index })
            .collect::<Vec<_>>(),
    )
}

/// A branch-level private key with its public key computed once, so that each unhardened child
/// costs one HMAC-SHA512 and one scalar addition (no elliptic-curve multiplication).
pub(crate) struct ParentKey {
    secret: SecretKey,
    public: [u8; 33],
    chain_code: ChainCode,
}

impl Drop for ParentKey {
    fn drop(&mut self) {
        self.secret.non_secure_erase();
    }
}

impl ParentKey {
    fn new<C: Signing>(secp: &Secp256k1<C>, key: &Xpriv) -> ParentKey {
        ParentKey {
            secret: key.private_key,
            public: PublicKey::from_secret_key(secp, &key.private_key).serialize(),
            chain_code: key.chain_code,
        }
    }

    /// BIP-32 CKDpriv for an unhardened index.
    pub(crate) fn child(&self, index: u32) -> Result<SecretKey, BtcError> {
        let mut engine = HmacEngine::<sha512::Hash>::new(self.chain_code.as_bytes());
        engine.input(&self.public);
        engine.input(&index.to_be_bytes());
        let hmac = Hmac::<sha512::Hash>::from_engine(engine);
        let bytes = hmac.as_byte_array();
        let mut left = [0u8; 32];
        left.copy_from_slice(&bytes[..32]);
        let tweak = Scalar::from_be_bytes(left)
            .map_err(|_| BtcError::Key(format!("child {index} is invalid (BIP-32 skip)")))?;
        self.secret
            .add_tweak(&tweak)
            .map_err(|_| BtcError::Key(format!("child {index} is invalid (BIP-32 skip)")))
    }
}

/// The receive and change branch keys of one vault key held by this signer.
pub(crate) struct BranchSigner {
    branches: [ParentKey; 2],
}

impl BranchSigner {
    pub(crate) fn child(&self, branch: usize, index: u32) -> Result<SecretKey, BtcError> {
        self.branches[branch.min(1)].child(index)
    }
}
