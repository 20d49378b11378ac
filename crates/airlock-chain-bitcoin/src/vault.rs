//! Vault accounts: an output descriptor with multipath `<0;1>/*` keys and key origins.
//!
//! A [`BtcVault`] is parsed once from the vault definition's `account` text and its `network`,
//! validated (segwit or taproot only, every extended key carries an origin `[fingerprint/path]`,
//! ends in a two-branch multipath step and an unhardened wildcard, is for the vault's network,
//! appears once, and the checksum matches when one is given), and then derives scripts at
//! `(branch, index)` quickly: the branch-level xpub of every key is computed once, so each
//! derivation costs one public child step per key.
//!
//! A registered vault may also load a derivation cache ([`BtcVault::build_derivation_cache`],
//! [`BtcVault::load_derivation_cache`]): the public keys of the first N indexes of both branches,
//! computed once at registration, bound to the descriptor by a hash and checked on load.
//!
//! Wallet fingerprint ([`BtcVault::wallet_fingerprint`]): the first 4 bytes of SHA-256 over the
//! canonical descriptor text (multipath form as miniscript prints it, keys in the order written,
//! hardened steps as `'`, without `#checksum`), as 8 lowercase hex digits. Devices that registered
//! the same descriptor show the same fingerprint and the same first receive address.
//!
//! This module must never accept a descriptor with private keys, with a key of another network,
//! or with a key listed twice, and never derive a script it did not check against the descriptor.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

use bitcoin::bip32::{ChainCode, ChildNumber, DerivationPath, Fingerprint, KeySource, Xpub};
use bitcoin::hashes::{Hash, HashEngine, Hmac, HmacEngine, sha512};
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey, Signing};
use bitcoin::{Address, Network, NetworkKind, ScriptBuf, Weight};
use miniscript::descriptor::{DescriptorPublicKey, DescriptorType, SinglePubKey, Wildcard};
use miniscript::{Descriptor, ForEachKey, ToPublicKey, TranslatePk, Translator};
use sha2::{Digest, Sha256};

use crate::error::BtcError;

/// Receive branch (`/0/*`, the first path of `<0;1>`).
pub const RECEIVE: usize = 0;
/// Change branch (`/1/*`, the second path of `<0;1>`).
pub const CHANGE: usize = 1;

/// BIP-341's provably unspendable internal key H (x-only): a taproot vault with it has script
/// paths only. The only key a vault may carry that belongs to no member.
pub const NUMS_INTERNAL_KEY: [u8; 32] = [
    0x50, 0x92, 0x9b, 0x74, 0xc1, 0xa0, 0x49, 0x54, 0xb7, 0x8b, 0x4b, 0x60, 0x35, 0xe9, 0x7a, 0x5e,
    0x07, 0x8a, 0x5a, 0x0f, 0x28, 0xec, 0x96, 0xd5, 0x47, 0xbf, 0xee, 0x9a, 0xce, 0x80, 0x3a, 0xc0,
];

/// Parses a network name as vault definitions write it.
pub fn parse_network(name: &str) -> Result<Network, BtcError> {
    match name {
        "bitcoin" | "mainnet" | "main" => Ok(Network::Bitcoin),
        "testnet" | "testnet3" | "test" => Ok(Network::Testnet),
        "testnet4" => Ok(Network::Testnet4),
        "signet" => Ok(Network::Signet),
        "regtest" => Ok(Network::Regtest),
        other => Err(BtcError::Descriptor(format!(
            "unknown network {other:?} (expected bitcoin, testnet, testnet4, signet or regtest)"
        ))),
    }
}

/// The BIP-44 coin type of a network: 0' on mainnet, 1' on every test network.
pub fn coin_type(network: Network) -> u32 {
    if NetworkKind::from(network).is_mainnet() {
        0
    } else {
        1
    }
}

/// Parses an address and checks it is for `network` (refuses a mainnet address in a testnet vault
/// and the reverse, and a regtest `bcrt1` address on testnet).
pub fn parse_address(text: &str, network: Network) -> Result<Address, BtcError> {
    let unchecked = bitcoin::Address::from_str(text.trim())
        .map_err(|e| BtcError::Address(format!("{text:?} is not a Bitcoin address: {e}")))?;
    if !unchecked.is_valid_for_network(network) {
        return Err(BtcError::Address(format!(
            "{text:?} is not an address of the vault's network ({network}); refusing a wrong-network address"
        )));
    }
    Ok(unchecked.assume_checked())
}

/// The script kind of a vault, for display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VaultKind {
    /// `wpkh(key)` (or `sh(wpkh(key))`).
    SingleKeySegwit,
    /// `tr(key)` without a script tree.
    SingleKeyTaproot,
    /// `wsh(sortedmulti(…))` / `wsh(multi(…))` (or nested in `sh`).
    SegwitMultisig,
    /// Any other `wsh` miniscript (time-locked recovery paths…).
    SegwitMiniscript,
    /// `tr(internal, tree)` with `multi_a` or other leaves.
    TaprootScripts,
}

impl fmt::Display for VaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VaultKind::SingleKeySegwit => "single key (segwit v0)",
            VaultKind::SingleKeyTaproot => "single key (taproot)",
            VaultKind::SegwitMultisig => "multisig (segwit v0)",
            VaultKind::SegwitMiniscript => "miniscript policy (segwit v0)",
            VaultKind::TaprootScripts => "taproot with script paths",
        })
    }
}

/// One extended key of the vault, with its origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultKey {
    /// Master key fingerprint from the origin `[fingerprint/path]`.
    pub fingerprint: Fingerprint,
    /// Path from the master key to `xpub` (the origin path).
    pub origin_path: DerivationPath,
    /// The account-level extended public key as written in the descriptor.
    pub xpub: Xpub,
    /// Steps after `xpub` for the receive and the change branch (before the wildcard).
    pub branch_paths: [DerivationPath; 2],
}

impl VaultKey {
    /// The full path from the master key of the key at `(branch, index)`.
    pub fn full_path(&self, branch: usize, index: u32) -> DerivationPath {
        let mut steps: Vec<ChildNumber> = self.origin_path.as_ref().to_vec();
        steps.extend_from_slice(self.branch_paths[branch].as_ref());
        steps.push(ChildNumber::Normal { index });
        DerivationPath::from(steps)
    }

    /// If `source` is this key at some `(branch, index)`, returns them.
    pub fn match_source(&self, source: &KeySource) -> Option<(usize, u32)> {
        if source.0 != self.fingerprint {
            return None;
        }
        let path = source.1.as_ref();
        let origin = self.origin_path.as_ref();
        if path.len() < origin.len() + 1 || path[..origin.len()] != *origin {
            return None;
        }
        let rest = &path[origin.len()..];
        for (branch, branch_path) in self.branch_paths.iter().enumerate() {
            let steps = branch_path.as_ref();
            if rest.len() == steps.len() + 1
                && rest[..steps.len()] == *steps
                && let ChildNumber::Normal { index } = rest[steps.len()]
            {
                return Some((branch, index));
            }
        }
        None
    }

    /// `[fingerprint/path]xpub` as descriptors write it.
    pub fn with_origin(&self) -> String {
        format_key_origin(self.fingerprint, &self.origin_path, &self.xpub)
    }
}

/// `[fingerprint/path]xpub` with `'` for hardened steps.
pub fn format_key_origin(fingerprint: Fingerprint, path: &DerivationPath, xpub: &Xpub) -> String {
    let mut text = format!("[{fingerprint}");
    for step in path.as_ref() {
        text.push('/');
        text.push_str(&step.to_string());
    }
    text.push(']');
    text.push_str(&xpub.to_string());
    text
}

/// One branch (receive or change) of the vault: a single-path descriptor and the branch-level
/// xpub of each of its ranged keys, computed once.
#[derive(Clone, Debug)]
struct Branch {
    descriptor: Descriptor<DescriptorPublicKey>,
    /// Branch-level public key of each ranged key, with the key's position in [`BtcVault::keys`].
    parents: HashMap<DescriptorPublicKey, (usize, BranchKey)>,
    max_satisfaction_weight: Weight,
}

/// A branch-level extended public key, serialized once, for fast unhardened child derivation.
#[derive(Clone, Debug)]
struct BranchKey {
    public: PublicKey,
    serialized: [u8; 33],
    chain_code: ChainCode,
}

impl BranchKey {
    fn new(xpub: &Xpub) -> BranchKey {
        BranchKey {
            public: xpub.public_key,
            serialized: xpub.public_key.serialize(),
            chain_code: xpub.chain_code,
        }
    }

    /// BIP-32 CKDpub: `parent + IL·G`, with `IL·G` computed by the fixed-base multiplication
    /// (faster than libsecp256k1's generic tweak-add multiplication).
    fn child<C: Signing>(&self, secp: &Secp256k1<C>, index: u32) -> Result<PublicKey, BtcError> {
        let mut engine = HmacEngine::<sha512::Hash>::new(self.chain_code.as_bytes());
        engine.input(&self.serialized);
        engine.input(&index.to_be_bytes());
        let hmac = Hmac::<sha512::Hash>::from_engine(engine);
        let invalid = || BtcError::Descriptor(format!("child {index} is invalid (BIP-32 skip)"));
        let tweak = SecretKey::from_slice(&hmac.as_byte_array()[..32]).map_err(|_| invalid())?;
        let point = PublicKey::from_secret_key(secp, &tweak);
        self.public.combine(&point).map_err(|_| invalid())
    }
}

/// Turns the branch descriptor's keys into concrete public keys at one index.
struct AtIndex<'a, C: Signing> {
    secp: &'a Secp256k1<C>,
    parents: &'a HashMap<DescriptorPublicKey, (usize, BranchKey)>,
    index: u32,
    /// Keys of this index from the registration cache, by position in [`BtcVault::keys`].
    cached: Option<&'a [PublicKey]>,
    /// The derived key of each vault key, by position in [`BtcVault::keys`].
    derived: Vec<Option<bitcoin::PublicKey>>,
}

impl<C: Signing> Translator<DescriptorPublicKey, bitcoin::PublicKey, BtcError> for AtIndex<'_, C> {
    fn pk(&mut self, pk: &DescriptorPublicKey) -> Result<bitcoin::PublicKey, BtcError> {
        match pk {
            DescriptorPublicKey::Single(single) => Ok(match single.key {
                SinglePubKey::FullKey(key) => key,
                SinglePubKey::XOnly(key) => key.to_public_key(),
            }),
            _ => {
                let (position, parent) = self.parents.get(pk).ok_or_else(|| {
                    BtcError::Descriptor(format!("internal: no branch key for {pk}"))
                })?;
                let child = match self.cached.and_then(|keys| keys.get(*position)) {
                    Some(key) => *key,
                    None => parent.child(self.secp, self.index)?,
                };
                let key = bitcoin::PublicKey::new(child);
                if let Some(slot) = self.derived.get_mut(*position) {
                    *slot = Some(key);
                }
                Ok(key)
            }
        }
    }

    miniscript::translate_hash_clone!(DescriptorPublicKey, bitcoin::PublicKey, BtcError);
}

/// Replaces keys by their master fingerprints, for a short policy summary.
struct ByFingerprint;

impl Translator<DescriptorPublicKey, String, ()> for ByFingerprint {
    fn pk(&mut self, pk: &DescriptorPublicKey) -> Result<String, ()> {
        Ok(pk.master_fingerprint().to_string())
    }
    fn sha256(&mut self, h: &bitcoin::hashes::sha256::Hash) -> Result<String, ()> {
        Ok(h.to_string())
    }
    fn hash256(&mut self, h: &miniscript::hash256::Hash) -> Result<String, ()> {
        Ok(h.to_string())
    }
    fn ripemd160(&mut self, h: &bitcoin::hashes::ripemd160::Hash) -> Result<String, ()> {
        Ok(h.to_string())
    }
    fn hash160(&mut self, h: &bitcoin::hashes::hash160::Hash) -> Result<String, ()> {
        Ok(h.to_string())
    }
}

/// A registered Bitcoin vault: a validated multipath descriptor and its network.
#[derive(Clone, Debug)]
pub struct BtcVault {
    network: Network,
    descriptor: Descriptor<DescriptorPublicKey>,
    branches: [Branch; 2],
    keys: Vec<VaultKey>,
    kind: VaultKind,
    cache: Option<std::sync::Arc<DerivationCache>>,
}

/// The vault keys' public keys at indexes `0..count` of both branches, computed once when the
/// vault is registered (as a wallet keeps its address index) so that reviewing a PSBT needs no
/// elliptic-curve work for indexes it covers. See [`BtcVault::build_derivation_cache`].
#[derive(Debug)]
struct DerivationCache {
    count: u32,
    /// `[branch][index * keys + position]`.
    keys: [Vec<PublicKey>; 2],
}

impl DerivationCache {
    fn keys(&self, branch: usize, index: u32, per_index: usize) -> Option<&[PublicKey]> {
        if index >= self.count {
            return None;
        }
        let start = index as usize * per_index;
        self.keys.get(branch)?.get(start..start + per_index)
    }
}

const CACHE_MAGIC: &[u8] = b"airlock-btc-derivations-v1";

impl BtcVault {
    /// Parses and validates descriptor text for `network` ("bitcoin", "testnet", "signet",
    /// "regtest"). See the module docs for what is refused.
    pub fn parse(descriptor_text: &str, network: &str) -> Result<BtcVault, BtcError> {
        let network = parse_network(network)?;
        Self::parse_for(descriptor_text, network)
    }

    /// [`BtcVault::parse`] with a typed network.
    pub fn parse_for(descriptor_text: &str, network: Network) -> Result<BtcVault, BtcError> {
        let text = descriptor_text.trim();
        if text.is_empty() {
            return Err(BtcError::Descriptor("the descriptor is empty".into()));
        }
        if let Some((body, checksum)) = text.rsplit_once('#') {
            let expected = miniscript::descriptor::checksum::desc_checksum(body)
                .map_err(|e| BtcError::Descriptor(format!("cannot compute the checksum: {e}")))?;
            if checksum != expected {
                return Err(BtcError::Descriptor(format!(
                    "checksum mismatch: the descriptor says #{checksum}, its text gives #{expected} (mistyped or altered descriptor)"
                )));
            }
        }
        // The whole text is parsed as public keys only: an xprv is refused here.
        let descriptor = Descriptor::<DescriptorPublicKey>::from_str(text).map_err(|e| {
            let message = e.to_string();
            if text.contains("prv") {
                BtcError::Descriptor(
                    "the descriptor contains a private key; a vault holds public keys only".into(),
                )
            } else if message.contains("epeated") || message.contains("uplicate") {
                BtcError::Descriptor(format!("duplicate key in the descriptor: {message}"))
            } else {
                BtcError::Descriptor(format!("cannot parse the descriptor: {message}"))
            }
        })?;
        let kind = vault_kind(&descriptor)?;
        let keys = check_keys(&descriptor, network)?;
        descriptor.sanity_check().map_err(|e| {
            BtcError::Descriptor(format!("the descriptor's policy is not safe to use: {e}"))
        })?;

        let secp = Secp256k1::new();
        let key_position = |xpub: &Xpub| keys.iter().position(|k| k.xpub == *xpub);
        let singles = descriptor.clone().into_single_descriptors().map_err(|e| {
            BtcError::Descriptor(format!("cannot split the multipath descriptor: {e}"))
        })?;
        if singles.len() != 2 {
            return Err(BtcError::Descriptor(format!(
                "expected a receive and a change branch (<0;1>), found {} branches",
                singles.len()
            )));
        }
        let mut branches = Vec::with_capacity(2);
        for single in singles {
            let mut parents = HashMap::new();
            let mut failure = None;
            single.for_each_key(|key| {
                if let DescriptorPublicKey::XPub(x) = key {
                    match (
                        key_position(&x.xkey),
                        x.xkey.derive_pub(&secp, &x.derivation_path),
                    ) {
                        (Some(position), Ok(parent)) => {
                            parents.insert(key.clone(), (position, BranchKey::new(&parent)));
                        }
                        (None, _) => {
                            failure = Some(format!("internal: {key} not among the vault keys"))
                        }
                        (_, Err(e)) => failure = Some(format!("cannot derive {key}: {e}")),
                    }
                }
                true
            });
            if let Some(message) = failure {
                return Err(BtcError::Descriptor(message));
            }
            let max_satisfaction_weight = single.max_weight_to_satisfy().map_err(|e| {
                BtcError::Descriptor(format!("the descriptor cannot be satisfied: {e}"))
            })?;
            branches.push(Branch {
                descriptor: single,
                parents,
                max_satisfaction_weight,
            });
        }
        let [receive, change]: [Branch; 2] = branches
            .try_into()
            .map_err(|_| BtcError::Descriptor("expected two branches".into()))?;
        let vault = BtcVault {
            network,
            descriptor,
            branches: [receive, change],
            keys,
            kind,
            cache: None,
        };
        // Every index must give a valid script (e.g. no uncompressed key in segwit).
        vault.derive(RECEIVE, 0, &secp)?;
        vault.derive(CHANGE, 0, &secp)?;
        Ok(vault)
    }

    pub fn network(&self) -> Network {
        self.network
    }

    pub fn kind(&self) -> VaultKind {
        self.kind
    }

    /// The multipath descriptor.
    pub fn descriptor(&self) -> &Descriptor<DescriptorPublicKey> {
        &self.descriptor
    }

    /// The vault's extended keys with their origins, in descriptor order.
    pub fn keys(&self) -> &[VaultKey] {
        &self.keys
    }

    /// The canonical multipath descriptor text with its checksum (what Sparrow and Bitcoin Core
    /// `importdescriptors` accept; Coldcard and Electrum read the two single-branch forms).
    pub fn descriptor_text(&self) -> String {
        self.descriptor.to_string()
    }

    /// The receive (`/0/*`) and change (`/1/*`) descriptors, each with its checksum.
    pub fn branch_descriptors(&self) -> [String; 2] {
        [
            self.branches[RECEIVE].descriptor.to_string(),
            self.branches[CHANGE].descriptor.to_string(),
        ]
    }

    /// Short wallet fingerprint: 8 hex digits (see the module docs for how it is computed).
    pub fn wallet_fingerprint(&self) -> String {
        hex::encode(&self.descriptor_digest()[..4])
    }

    /// The spending policy with keys shown as master fingerprints, e.g.
    /// `or(thresh(2,pk(350826d2),pk(74ee38f0),pk(886fee83)),and(pk(…),older(144)))`.
    pub fn policy_summary(&self) -> String {
        use miniscript::policy::Liftable;
        let named = match self.branches[RECEIVE]
            .descriptor
            .translate_pk(&mut ByFingerprint)
        {
            Ok(d) => d,
            Err(_) => return self.kind.to_string(),
        };
        match named.lift() {
            Ok(policy) => policy.to_string(),
            Err(_) => self.kind.to_string(),
        }
    }

    /// The concrete descriptor at `(branch, index)`.
    pub fn derive<C: Signing>(
        &self,
        branch: usize,
        index: u32,
        secp: &Secp256k1<C>,
    ) -> Result<Descriptor<bitcoin::PublicKey>, BtcError> {
        Ok(self.derive_with_keys(branch, index, secp)?.0)
    }

    /// The concrete descriptor at `(branch, index)` and the derived public key of each of
    /// [`BtcVault::keys`] (same order).
    pub fn derive_with_keys<C: Signing>(
        &self,
        branch: usize,
        index: u32,
        secp: &Secp256k1<C>,
    ) -> Result<
        (
            Descriptor<bitcoin::PublicKey>,
            Vec<Option<bitcoin::PublicKey>>,
        ),
        BtcError,
    > {
        if index >= 1 << 31 {
            return Err(BtcError::Descriptor(format!(
                "index {index} is hardened; vault addresses use unhardened indexes"
            )));
        }
        let branch_data = self
            .branches
            .get(branch)
            .ok_or_else(|| BtcError::Descriptor(format!("no branch {branch}")))?;
        let mut at = AtIndex {
            secp,
            parents: &branch_data.parents,
            index,
            cached: self
                .cache
                .as_ref()
                .and_then(|c| c.keys(branch, index, self.keys.len())),
            derived: vec![None; self.keys.len()],
        };
        let descriptor = branch_data
            .descriptor
            .translate_pk(&mut at)
            .map_err(|e| match e {
                miniscript::TranslateErr::TranslatorErr(e) => e,
                miniscript::TranslateErr::OuterError(e) => {
                    BtcError::Descriptor(format!("cannot derive index {index}: {e}"))
                }
            })?;
        Ok((descriptor, at.derived))
    }

    /// The definite (index-resolved) descriptor at `(branch, index)`, as miniscript's PSBT updater
    /// takes it (slower than [`BtcVault::derive`]; for filling PSBT fields, not for bulk review).
    pub fn definite_descriptor(
        &self,
        branch: usize,
        index: u32,
    ) -> Result<Descriptor<miniscript::DefiniteDescriptorKey>, BtcError> {
        let branch_data = self
            .branches
            .get(branch)
            .ok_or_else(|| BtcError::Descriptor(format!("no branch {branch}")))?;
        branch_data
            .descriptor
            .at_derivation_index(index)
            .map_err(|e| BtcError::Descriptor(format!("cannot derive index {index}: {e}")))
    }

    /// Derives the public keys of every vault key at indexes `0..count` of both branches and
    /// returns them as bytes to store beside the registered vault: magic, SHA-256 of the
    /// canonical descriptor, key count, `count`, the keys (65-byte uncompressed, so loading needs
    /// no square roots), and a SHA-256 of everything before it. The cache is as sensitive as the
    /// vault registration itself: whoever can rewrite it can rewrite the vault.
    pub fn build_derivation_cache(&self, count: u32) -> Result<Vec<u8>, BtcError> {
        let secp = Secp256k1::new();
        let per_index = self.keys.len();
        let mut out =
            Vec::with_capacity(CACHE_MAGIC.len() + 80 + 2 * count as usize * per_index * 65);
        out.extend_from_slice(CACHE_MAGIC);
        out.extend_from_slice(&self.descriptor_digest());
        out.extend_from_slice(&(per_index as u32).to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        for branch in [RECEIVE, CHANGE] {
            for index in 0..count {
                let (_, keys) = self.derive_with_keys(branch, index, &secp)?;
                for key in keys {
                    let key = key.ok_or_else(|| {
                        BtcError::Descriptor(format!("a vault key is absent from branch {branch}"))
                    })?;
                    out.extend_from_slice(&key.inner.serialize_uncompressed());
                }
            }
        }
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        Ok(out)
    }

    /// Loads a cache made by [`BtcVault::build_derivation_cache`] for this very descriptor;
    /// refuses one of another descriptor or a damaged one.
    pub fn load_derivation_cache(&mut self, bytes: &[u8]) -> Result<(), BtcError> {
        let bad = |m: &str| BtcError::Descriptor(format!("derivation cache: {m}"));
        let (body, digest) = bytes
            .len()
            .checked_sub(32)
            .map(|at| bytes.split_at(at))
            .ok_or_else(|| bad("too short"))?;
        if Sha256::digest(body).as_slice() != digest {
            return Err(bad("damaged (its checksum does not match)"));
        }
        let rest = body
            .strip_prefix(CACHE_MAGIC)
            .ok_or_else(|| bad("not a derivation cache"))?;
        if rest.len() < 40 || rest[..32] != self.descriptor_digest() {
            return Err(bad("made for another descriptor"));
        }
        let per_index = u32::from_le_bytes([rest[32], rest[33], rest[34], rest[35]]) as usize;
        let count = u32::from_le_bytes([rest[36], rest[37], rest[38], rest[39]]);
        let data = &rest[40..];
        if per_index != self.keys.len() || data.len() != 2 * count as usize * per_index * 65 {
            return Err(bad("its size does not match the vault"));
        }
        let mut branches = [Vec::new(), Vec::new()];
        let half = data.len() / 2;
        for (branch, chunk) in [&data[..half], &data[half..]].into_iter().enumerate() {
            branches[branch] = chunk
                .chunks_exact(65)
                .map(PublicKey::from_slice)
                .collect::<Result<_, _>>()
                .map_err(|_| bad("holds an invalid public key"))?;
        }
        self.cache = Some(std::sync::Arc::new(DerivationCache {
            count,
            keys: branches,
        }));
        Ok(())
    }

    fn descriptor_digest(&self) -> [u8; 32] {
        Sha256::digest(format!("{:#}", self.descriptor).as_bytes()).into()
    }

    /// The script at `(branch, index)`.
    pub fn script_pubkey(&self, branch: usize, index: u32) -> Result<ScriptBuf, BtcError> {
        Ok(self
            .derive(branch, index, &Secp256k1::signing_only())?
            .script_pubkey())
    }

    /// The address at `(branch, index)`.
    pub fn address(&self, branch: usize, index: u32) -> Result<Address, BtcError> {
        let script = self.script_pubkey(branch, index)?;
        Address::from_script(&script, self.network)
            .map_err(|e| BtcError::Descriptor(format!("no address for the vault script: {e}")))
    }

    /// The first receive address (`/0/0`), for comparing devices.
    pub fn first_receive_address(&self) -> Result<Address, BtcError> {
        self.address(RECEIVE, 0)
    }

    /// The first change address (`/1/0`).
    pub fn first_change_address(&self) -> Result<Address, BtcError> {
        self.address(CHANGE, 0)
    }

    /// Upper bound of the witness weight spending one vault output (any path), from miniscript.
    pub fn max_satisfaction_weight(&self, branch: usize) -> Weight {
        self.branches[branch.min(1)].max_satisfaction_weight
    }

    /// Whether the vault's scripts are taproot outputs.
    pub fn is_taproot(&self) -> bool {
        matches!(self.descriptor, Descriptor::Tr(_))
    }

    /// Finds which vault key and `(branch, index)` a PSBT key source names.
    pub fn match_source(&self, source: &KeySource) -> Option<(usize, u32)> {
        self.keys.iter().find_map(|k| k.match_source(source))
    }
}

fn vault_kind(descriptor: &Descriptor<DescriptorPublicKey>) -> Result<VaultKind, BtcError> {
    use DescriptorType as T;
    Ok(match descriptor.desc_type() {
        T::Wpkh | T::ShWpkh => VaultKind::SingleKeySegwit,
        T::WshSortedMulti | T::ShWshSortedMulti => VaultKind::SegwitMultisig,
        T::Wsh | T::ShWsh => {
            let text = format!("{descriptor:#}");
            let inner = text
                .strip_prefix("sh(")
                .unwrap_or(&text)
                .strip_prefix("wsh(")
                .unwrap_or("");
            if inner.starts_with("multi(") {
                VaultKind::SegwitMultisig
            } else {
                VaultKind::SegwitMiniscript
            }
        }
        T::Tr => match descriptor {
            Descriptor::Tr(tr) if tr.tap_tree().is_none() => VaultKind::SingleKeyTaproot,
            _ => VaultKind::TaprootScripts,
        },
        other => {
            return Err(BtcError::Descriptor(format!(
                "{other:?} descriptors are legacy (non-segwit); a vault must be wpkh, wsh, sh(wsh/wpkh) or tr"
            )));
        }
    })
}

/// Checks every key: origin present, network, multipath `<a;b>/*`, no duplicates.
fn check_keys(
    descriptor: &Descriptor<DescriptorPublicKey>,
    network: Network,
) -> Result<Vec<VaultKey>, BtcError> {
    let want = NetworkKind::from(network);
    let mut seen: BTreeSet<[u8; 32]> = BTreeSet::new();
    let mut keys = Vec::new();
    let mut failure: Option<String> = None;
    descriptor.for_each_key(|key| {
        if failure.is_some() {
            return false;
        }
        let (identity, problem) = match key {
            DescriptorPublicKey::Single(single) => {
                let x = match single.key {
                    SinglePubKey::FullKey(k) => k.inner.x_only_public_key().0,
                    SinglePubKey::XOnly(k) => k,
                };
                (x.serialize(), None)
            }
            DescriptorPublicKey::XPub(x) => (
                x.xkey.public_key.x_only_public_key().0.serialize(),
                Some(format!(
                    "key {key} has a single derivation path; write it as multipath …/<0;1>/* so the vault has receive and change branches"
                )),
            ),
            DescriptorPublicKey::MultiXPub(x) => {
                let identity = x.xkey.public_key.x_only_public_key().0.serialize();
                let paths = x.derivation_paths.paths();
                let problem = if x.xkey.network != want {
                    Some(format!(
                        "key {} is for {} but the vault is on {network} (use {} keys)",
                        x.xkey,
                        if x.xkey.network.is_mainnet() { "mainnet (xpub)" } else { "test networks (tpub)" },
                        if want.is_mainnet() { "xpub" } else { "tpub" },
                    ))
                } else if x.origin.is_none() {
                    Some(format!(
                        "key {} has no origin; write it as [fingerprint/path]xpub so signers can find their key",
                        x.xkey
                    ))
                } else if paths.len() != 2 {
                    Some(format!(
                        "key {} has {} multipath branches; a vault has exactly two (<0;1>: receive and change)",
                        x.xkey,
                        paths.len()
                    ))
                } else if paths[0] == paths[1] {
                    Some(format!(
                        "key {} has the same path in both multipath branches; receive and change must differ (<0;1>)",
                        x.xkey
                    ))
                } else if x.wildcard != Wildcard::Unhardened {
                    Some(format!(
                        "key {} must end in an unhardened wildcard /* (a hardened or missing wildcard cannot be derived by watch-only wallets)",
                        x.xkey
                    ))
                } else {
                    let (fingerprint, origin_path) = x.origin.clone().unwrap_or_default();
                    keys.push(VaultKey {
                        fingerprint,
                        origin_path,
                        xpub: x.xkey,
                        branch_paths: [paths[0].clone(), paths[1].clone()],
                    });
                    None
                };
                (identity, problem)
            }
        };
        if let Some(problem) = problem {
            failure = Some(problem);
        } else if !seen.insert(identity) {
            failure = Some(format!(
                "duplicate key: {key} appears more than once (each signer's key may appear once)"
            ));
        }
        true
    });
    if let Some(message) = failure {
        return Err(BtcError::Descriptor(message));
    }
    if keys.is_empty() {
        return Err(BtcError::Descriptor(
            "the descriptor has no extended key with origin and <0;1>/* derivation".into(),
        ));
    }
    Ok(keys)
}
