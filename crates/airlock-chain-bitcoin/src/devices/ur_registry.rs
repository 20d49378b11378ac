//! The BC-UR registry types hardware wallets use for keys and descriptors: `crypto-hdkey`
//! (BCR-2020-007), `crypto-keypath` (BCR-2020-007), `crypto-coin-info`, `crypto-eckey`,
//! `crypto-output` (BCR-2020-010) and `crypto-account` (BCR-2020-015). Keystone, Passport,
//! Jade, SeedSigner, Krux and Sparrow write them.
//!
//! Why here and not a crate: Keystone's `ur-registry` (the one Rust crate for these types) pulls
//! a second UR implementation, protobuf code generation, `minicbor` 0.19 and `bitcoin_hashes`
//! 0.12 beside the generation this workspace uses, for three small maps. This module reads and
//! writes them with `minicbor` 2 (already in the tree through `ur`) and `rust-bitcoin`'s BIP-32
//! types. Both the legacy tags (303–311) and the newer `40303…` tags are read; the legacy ones
//! are written, as the devices above read them.
//!
//! Decoding is total: lengths and nesting are capped, indefinite lengths, floats, negative
//! integers and trailing bytes are refused, and every refusal says which field is wrong. This
//! module must never accept a private key (`is-private`) nor invent an origin the data does not
//! carry.

use bitcoin::NetworkKind;
use bitcoin::bip32::{ChainCode, ChildNumber, DerivationPath, Fingerprint, Xpub};
use bitcoin::secp256k1::PublicKey;
use minicbor::data::{Tag, Type};

use crate::error::BtcError;

/// Largest CBOR input read (a 15-key account descriptor is about 2 KiB).
pub const MAX_REGISTRY_CBOR: usize = 64 * 1024;
const MAX_DEPTH: usize = 16;

pub const TAG_HDKEY: u64 = 303;
pub const TAG_KEYPATH: u64 = 304;
pub const TAG_COIN_INFO: u64 = 305;
pub const TAG_ECKEY: u64 = 306;
pub const TAG_ADDRESS: u64 = 307;
pub const TAG_OUTPUT: u64 = 308;
pub const TAG_ACCOUNT: u64 = 311;
const TAG_SH: u64 = 400;
const TAG_WSH: u64 = 401;
const TAG_PK: u64 = 402;
const TAG_PKH: u64 = 403;
const TAG_WPKH: u64 = 404;
const TAG_COMBO: u64 = 405;
const TAG_MULTI: u64 = 406;
const TAG_SORTEDMULTI: u64 = 407;
const TAG_RAW: u64 = 408;
const TAG_TR: u64 = 409;
const TAG_COSIGNER: u64 = 410;

/// The registry's newer tags are the legacy ones plus 40000 (`40303` = `crypto-hdkey`).
fn registry_tag(tag: u64) -> u64 {
    if (40_300..=40_311).contains(&tag) {
        tag - 40_000
    } else {
        tag
    }
}

/// A decoded CBOR item (the subset the registry uses).
#[derive(Clone, Debug, PartialEq)]
enum Item {
    Uint(u64),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Item>),
    Map(Vec<(u64, Item)>),
    Tagged(u64, Box<Item>),
    Bool(bool),
}

fn err(what: impl Into<String>) -> BtcError {
    BtcError::Device(format!("UR registry: {}", what.into()))
}

fn decode_item(d: &mut minicbor::Decoder<'_>, depth: usize) -> Result<Item, BtcError> {
    if depth > MAX_DEPTH {
        return Err(err(format!("nested deeper than {MAX_DEPTH} levels")));
    }
    let bad = |e: minicbor::decode::Error| err(format!("not CBOR: {e}"));
    let remaining = d.input().len().saturating_sub(d.position());
    match d.datatype().map_err(bad)? {
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => Ok(Item::Uint(d.u64().map_err(bad)?)),
        Type::Bytes => Ok(Item::Bytes(d.bytes().map_err(bad)?.to_vec())),
        Type::String => Ok(Item::Text(d.str().map_err(bad)?.to_owned())),
        Type::Bool => Ok(Item::Bool(d.bool().map_err(bad)?)),
        Type::Array => {
            let n = d
                .array()
                .map_err(bad)?
                .ok_or_else(|| err("indefinite-length array"))?;
            if n as usize > remaining {
                return Err(err(format!("an array of {n} items in {remaining} bytes")));
            }
            let mut items = Vec::with_capacity(n as usize);
            for _ in 0..n {
                items.push(decode_item(d, depth + 1)?);
            }
            Ok(Item::Array(items))
        }
        Type::Map => {
            let n = d
                .map()
                .map_err(bad)?
                .ok_or_else(|| err("indefinite-length map"))?;
            if n as usize > remaining / 2 {
                return Err(err(format!("a map of {n} entries in {remaining} bytes")));
            }
            let mut entries: Vec<(u64, Item)> = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let key = match d.datatype().map_err(bad)? {
                    Type::U8 | Type::U16 | Type::U32 | Type::U64 => d.u64().map_err(bad)?,
                    other => return Err(err(format!("a map key of type {other}"))),
                };
                if entries.iter().any(|(k, _)| *k == key) {
                    return Err(err(format!("map key {key} appears twice")));
                }
                let value = decode_item(d, depth + 1)?;
                entries.push((key, value));
            }
            Ok(Item::Map(entries))
        }
        Type::Tag => {
            let tag = d.tag().map_err(bad)?.as_u64();
            Ok(Item::Tagged(tag, Box::new(decode_item(d, depth + 1)?)))
        }
        Type::ArrayIndef | Type::MapIndef | Type::BytesIndef | Type::StringIndef => {
            Err(err("indefinite-length items are not used by the registry"))
        }
        other => Err(err(format!(
            "a CBOR item of type {other} is not used by the registry"
        ))),
    }
}

fn decode_cbor(cbor: &[u8]) -> Result<Item, BtcError> {
    if cbor.len() > MAX_REGISTRY_CBOR {
        return Err(err(format!(
            "{} bytes of CBOR (at most {MAX_REGISTRY_CBOR})",
            cbor.len()
        )));
    }
    let mut d = minicbor::Decoder::new(cbor);
    let item = decode_item(&mut d, 0)?;
    if d.position() != cbor.len() {
        return Err(err(format!(
            "{} bytes after the end of the item",
            cbor.len() - d.position()
        )));
    }
    Ok(item)
}

/// Removes the expected tag (either generation) when present; anything else is left for the
/// caller to judge.
fn untag(item: Item, tag: u64) -> Result<Item, BtcError> {
    match item {
        Item::Tagged(t, inner) if registry_tag(t) == tag => Ok(*inner),
        other => Ok(other),
    }
}

struct Fields {
    what: &'static str,
    entries: Vec<(u64, Item)>,
}

impl Fields {
    fn of(item: Item, what: &'static str) -> Result<Fields, BtcError> {
        match item {
            Item::Map(entries) => Ok(Fields { what, entries }),
            Item::Tagged(t, _) => Err(err(format!("{what} is expected, found tag {t}"))),
            _ => Err(err(format!("{what} is not a map"))),
        }
    }

    fn take(&mut self, key: u64) -> Option<Item> {
        let at = self.entries.iter().position(|(k, _)| *k == key)?;
        Some(self.entries.swap_remove(at).1)
    }

    fn uint(&mut self, key: u64, name: &str) -> Result<Option<u64>, BtcError> {
        match self.take(key) {
            None => Ok(None),
            Some(Item::Uint(n)) => Ok(Some(n)),
            Some(_) => Err(err(format!(
                "{} field {name} is not an unsigned integer",
                self.what
            ))),
        }
    }

    fn bytes(&mut self, key: u64, name: &str) -> Result<Option<Vec<u8>>, BtcError> {
        match self.take(key) {
            None => Ok(None),
            Some(Item::Bytes(b)) => Ok(Some(b)),
            Some(_) => Err(err(format!(
                "{} field {name} is not a byte string",
                self.what
            ))),
        }
    }

    fn boolean(&mut self, key: u64, name: &str) -> Result<Option<bool>, BtcError> {
        match self.take(key) {
            None => Ok(None),
            Some(Item::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(err(format!("{} field {name} is not a boolean", self.what))),
        }
    }
}

fn fingerprint_of(n: u64, what: &str) -> Result<Fingerprint, BtcError> {
    let n = u32::try_from(n).map_err(|_| err(format!("{what} {n} is not a 32-bit fingerprint")))?;
    Ok(Fingerprint::from(n.to_be_bytes()))
}

/// One step of a `crypto-keypath`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathStep {
    Child(ChildNumber),
    /// `*` (or `*'` when hardened).
    Wildcard {
        hardened: bool,
    },
    /// `<a;b>` is not in BCR-2020-007; a range `[a, b]` is.
    Range {
        low: u32,
        high: u32,
        hardened: bool,
    },
}

/// A `crypto-keypath`: steps, the fingerprint of the key it starts from, and the depth.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct KeyPath {
    pub steps: Vec<PathStep>,
    pub source_fingerprint: Option<Fingerprint>,
    pub depth: Option<u8>,
}

impl KeyPath {
    fn decode(item: Item) -> Result<KeyPath, BtcError> {
        let mut f = Fields::of(untag(item, TAG_KEYPATH)?, "crypto-keypath")?;
        let components = match f.take(1) {
            Some(Item::Array(c)) => c,
            None => Vec::new(),
            Some(_) => return Err(err("crypto-keypath components are not an array")),
        };
        if components.len() % 2 != 0 {
            return Err(err(
                "crypto-keypath components come in (index, hardened) pairs",
            ));
        }
        let mut steps = Vec::with_capacity(components.len() / 2);
        let mut it = components.into_iter();
        while let (Some(index), Some(hardened)) = (it.next(), it.next()) {
            let Item::Bool(hardened) = hardened else {
                return Err(err("a crypto-keypath hardened flag is not a boolean"));
            };
            let step = match index {
                Item::Uint(i) => {
                    let i = u32::try_from(i)
                        .ok()
                        .filter(|i| *i < 0x8000_0000)
                        .ok_or_else(|| err(format!("path index {i} is not below 2^31")))?;
                    PathStep::Child(if hardened {
                        ChildNumber::Hardened { index: i }
                    } else {
                        ChildNumber::Normal { index: i }
                    })
                }
                Item::Array(a) if a.is_empty() => PathStep::Wildcard { hardened },
                Item::Array(a) => match a.as_slice() {
                    [Item::Uint(low), Item::Uint(high)] if low < high && *high < 0x8000_0000 => {
                        PathStep::Range {
                            low: *low as u32,
                            high: *high as u32,
                            hardened,
                        }
                    }
                    _ => return Err(err("a crypto-keypath range is not [low, high]")),
                },
                _ => return Err(err("a crypto-keypath index is not a number, [] or a range")),
            };
            steps.push(step);
        }
        let source_fingerprint = f
            .uint(2, "source-fingerprint")?
            .map(|n| fingerprint_of(n, "source-fingerprint"))
            .transpose()?;
        let depth = f
            .uint(3, "depth")?
            .map(|d| u8::try_from(d).map_err(|_| err(format!("depth {d} is over 255"))))
            .transpose()?;
        Ok(KeyPath {
            steps,
            source_fingerprint,
            depth,
        })
    }

    /// The path as child numbers, when it has no wildcard or range.
    pub fn fixed(&self) -> Option<DerivationPath> {
        self.steps
            .iter()
            .map(|s| match s {
                PathStep::Child(c) => Some(*c),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(DerivationPath::from)
    }

    /// `/0/*`-style text (each step with a leading slash; `h` for hardened).
    pub fn suffix_text(&self) -> String {
        let mut out = String::new();
        for s in &self.steps {
            match s {
                PathStep::Child(ChildNumber::Normal { index }) => out += &format!("/{index}"),
                PathStep::Child(ChildNumber::Hardened { index }) => out += &format!("/{index}h"),
                PathStep::Wildcard { hardened } => out += if *hardened { "/*h" } else { "/*" },
                PathStep::Range {
                    low,
                    high,
                    hardened,
                } => out += &format!("/<{low}-{high}>{}", if *hardened { "h" } else { "" }),
            }
        }
        out
    }
}

/// A `crypto-hdkey` holding a public extended key (private ones are refused).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HdKey {
    /// The extended public key, rebuilt from key data, chain code and origin.
    pub xpub: Xpub,
    /// Where the key comes from: steps from the master and the master's fingerprint.
    pub origin: Option<KeyPath>,
    /// Steps after the key (e.g. `0/*`), when the data names them.
    pub children: Option<KeyPath>,
    /// `use-info`: the network the key is for (main unless the data says test).
    pub network: NetworkKind,
    /// The device's name for the key, when given.
    pub name: Option<String>,
}

impl HdKey {
    fn decode(item: Item) -> Result<HdKey, BtcError> {
        let mut f = Fields::of(untag(item, TAG_HDKEY)?, "crypto-hdkey")?;
        if f.boolean(2, "is-private")? == Some(true) {
            return Err(err(
                "the crypto-hdkey holds a private key; only public keys are imported",
            ));
        }
        if f.boolean(1, "is-master")? == Some(true) {
            return Err(err(
                "the crypto-hdkey is a master key; export the account key (e.g. m/48'/0'/0'/2') instead",
            ));
        }
        let key_data = f
            .bytes(3, "key-data")?
            .ok_or_else(|| err("crypto-hdkey without key-data"))?;
        let public_key = PublicKey::from_slice(&key_data)
            .ok()
            .filter(|_| key_data.len() == 33)
            .ok_or_else(|| err("crypto-hdkey key-data is not a compressed public key"))?;
        let chain_code: [u8; 32] = f
            .bytes(4, "chain-code")?
            .ok_or_else(|| err("crypto-hdkey without chain-code (a derivable key is needed)"))?
            .try_into()
            .map_err(|_| err("crypto-hdkey chain-code is not 32 bytes"))?;
        let network = match f.take(5) {
            None => NetworkKind::Main,
            Some(info) => {
                let mut info = Fields::of(untag(info, TAG_COIN_INFO)?, "crypto-coin-info")?;
                let coin = info.uint(1, "type")?.unwrap_or(0);
                if coin != 0 {
                    return Err(err(format!(
                        "crypto-coin-info type {coin} is not Bitcoin (0)"
                    )));
                }
                match info.uint(2, "network")?.unwrap_or(0) {
                    0 => NetworkKind::Main,
                    1 => NetworkKind::Test,
                    n => return Err(err(format!("crypto-coin-info network {n} is unknown"))),
                }
            }
        };
        let origin = f.take(6).map(KeyPath::decode).transpose()?;
        let children = f.take(7).map(KeyPath::decode).transpose()?;
        let parent_fingerprint = f
            .uint(8, "parent-fingerprint")?
            .map(|n| fingerprint_of(n, "parent-fingerprint"))
            .transpose()?
            .unwrap_or_default();
        let name = match f.take(9) {
            Some(Item::Text(t)) => Some(t),
            None => None,
            Some(_) => return Err(err("crypto-hdkey name is not text")),
        };
        let origin_path = origin.as_ref().map(|o| {
            o.fixed()
                .ok_or_else(|| err("the origin of a crypto-hdkey has a wildcard or range"))
        });
        let origin_path = origin_path.transpose()?.unwrap_or_default();
        let depth = match origin.as_ref().and_then(|o| o.depth) {
            Some(d) => d,
            None => u8::try_from(origin_path.len())
                .map_err(|_| err("the origin path is longer than 255 steps"))?,
        };
        // A key one step below the master has the master as its parent: the origin's source
        // fingerprint is its parent fingerprint when the data does not repeat it.
        let parent_fingerprint = match (&origin, depth) {
            (Some(o), 1) if parent_fingerprint == Fingerprint::default() => {
                o.source_fingerprint.unwrap_or_default()
            }
            _ => parent_fingerprint,
        };
        let child_number = origin_path
            .as_ref()
            .last()
            .copied()
            .unwrap_or(ChildNumber::Normal { index: 0 });
        let xpub = Xpub {
            network,
            depth,
            parent_fingerprint,
            child_number,
            public_key,
            chain_code: ChainCode::from(chain_code),
        };
        Ok(HdKey {
            xpub,
            origin,
            children,
            network,
            name,
        })
    }

    /// The master fingerprint from the origin, when the data carries one.
    pub fn master_fingerprint(&self) -> Option<Fingerprint> {
        self.origin.as_ref().and_then(|o| o.source_fingerprint)
    }

    /// The origin path (empty when the data carries none).
    pub fn origin_path(&self) -> DerivationPath {
        self.origin
            .as_ref()
            .and_then(KeyPath::fixed)
            .unwrap_or_default()
    }

    /// `[fingerprint/path]xpub/children` as descriptors write it (no origin bracket when the data
    /// has no source fingerprint).
    pub fn descriptor_key(&self, fallback_fingerprint: Option<Fingerprint>) -> String {
        let mut out = String::new();
        if let Some(fp) = self.master_fingerprint().or(fallback_fingerprint) {
            out += &format!("[{fp}");
            for step in self.origin_path().as_ref() {
                out += &match step {
                    ChildNumber::Normal { index } => format!("/{index}"),
                    ChildNumber::Hardened { index } => format!("/{index}'"),
                };
            }
            out.push(']');
        }
        out += &self.xpub.to_string();
        if let Some(c) = &self.children {
            out += &c.suffix_text();
        }
        out
    }
}

/// A key in a descriptor: an extended key or a bare EC public key (`crypto-eckey`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputKey {
    Hd(HdKey),
    Ec(Vec<u8>),
}

impl OutputKey {
    fn decode(item: Item) -> Result<OutputKey, BtcError> {
        match item {
            Item::Tagged(t, inner) if registry_tag(t) == TAG_HDKEY => {
                Ok(OutputKey::Hd(HdKey::decode(*inner)?))
            }
            Item::Tagged(t, inner) if registry_tag(t) == TAG_ECKEY => {
                let mut f = Fields::of(*inner, "crypto-eckey")?;
                if f.boolean(2, "is-private")? == Some(true) {
                    return Err(err("the crypto-eckey holds a private key"));
                }
                let data = f
                    .bytes(3, "data")?
                    .ok_or_else(|| err("crypto-eckey without data"))?;
                PublicKey::from_slice(&data)
                    .map_err(|_| err("crypto-eckey data is not a public key"))?;
                Ok(OutputKey::Ec(data))
            }
            Item::Tagged(t, _) => Err(err(format!("tag {t} where a key was expected"))),
            _ => Err(err("an untagged item where a key was expected")),
        }
    }

    fn text(&self, fallback: Option<Fingerprint>) -> String {
        match self {
            OutputKey::Hd(k) => k.descriptor_key(fallback),
            OutputKey::Ec(data) => hex::encode(data),
        }
    }
}

/// A `crypto-output` script expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScriptExpr {
    /// `sh`, `wsh`, `pk`, `pkh`, `wpkh`, `combo`, `tr` or `cosigner` around what follows.
    Wrap(&'static str, Box<ScriptExpr>),
    Key(OutputKey),
    Multi {
        sorted: bool,
        threshold: u32,
        keys: Vec<OutputKey>,
    },
    Raw(Vec<u8>),
}

impl ScriptExpr {
    fn decode(item: Item) -> Result<ScriptExpr, BtcError> {
        let Item::Tagged(tag, inner) = item else {
            return Err(err("a script expression without its tag"));
        };
        let wrap = |name: &'static str, inner: Item| -> Result<ScriptExpr, BtcError> {
            Ok(ScriptExpr::Wrap(name, Box::new(ScriptExpr::decode(inner)?)))
        };
        let key = |name: &'static str, inner: Item| -> Result<ScriptExpr, BtcError> {
            Ok(ScriptExpr::Wrap(
                name,
                Box::new(ScriptExpr::Key(OutputKey::decode(inner)?)),
            ))
        };
        match tag {
            TAG_SH => wrap("sh", *inner),
            TAG_WSH => wrap("wsh", *inner),
            TAG_TR => wrap("tr", *inner),
            TAG_PK => key("pk", *inner),
            TAG_PKH => key("pkh", *inner),
            TAG_WPKH => key("wpkh", *inner),
            TAG_COMBO => key("combo", *inner),
            TAG_COSIGNER => key("cosigner", *inner),
            TAG_MULTI | TAG_SORTEDMULTI => {
                let mut f = Fields::of(*inner, "multikey")?;
                let threshold = f
                    .uint(1, "threshold")?
                    .ok_or_else(|| err("multikey without threshold"))?;
                let keys = match f.take(2) {
                    Some(Item::Array(keys)) => keys
                        .into_iter()
                        .map(OutputKey::decode)
                        .collect::<Result<Vec<_>, _>>()?,
                    _ => return Err(err("multikey without an array of keys")),
                };
                if threshold == 0 || threshold as usize > keys.len() {
                    return Err(err(format!(
                        "multikey threshold {threshold} with {} keys",
                        keys.len()
                    )));
                }
                Ok(ScriptExpr::Multi {
                    sorted: tag == TAG_SORTEDMULTI,
                    threshold: threshold as u32,
                    keys,
                })
            }
            TAG_RAW => match *inner {
                Item::Bytes(b) => Ok(ScriptExpr::Raw(b)),
                _ => Err(err("raw script is not a byte string")),
            },
            t if registry_tag(t) == TAG_HDKEY || registry_tag(t) == TAG_ECKEY => {
                Ok(ScriptExpr::Key(OutputKey::decode(Item::Tagged(t, inner))?))
            }
            t if registry_tag(t) == TAG_ADDRESS => Err(err(
                "an address output (addr) names no keys; a descriptor with keys is needed",
            )),
            t => Err(err(format!("tag {t} is not a script expression"))),
        }
    }

    /// The descriptor text (without checksum). `fallback` is the account's master fingerprint
    /// for keys that carry none (BCR-2020-015's resolution rule).
    pub fn descriptor(&self, fallback: Option<Fingerprint>) -> String {
        match self {
            ScriptExpr::Wrap(name, inner) => format!("{name}({})", inner.descriptor(fallback)),
            ScriptExpr::Key(k) => k.text(fallback),
            ScriptExpr::Multi {
                sorted,
                threshold,
                keys,
            } => format!(
                "{}({threshold},{})",
                if *sorted { "sortedmulti" } else { "multi" },
                keys.iter()
                    .map(|k| k.text(fallback))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            ScriptExpr::Raw(b) => format!("raw({})", hex::encode(b)),
        }
    }
}

/// Reads a `crypto-output` (tag 308 optional, as inside `crypto-account`).
pub fn decode_output(cbor: &[u8]) -> Result<ScriptExpr, BtcError> {
    ScriptExpr::decode(untag(decode_cbor(cbor)?, TAG_OUTPUT)?)
}

/// Reads a `crypto-hdkey` (tag 303 optional).
pub fn decode_hdkey(cbor: &[u8]) -> Result<HdKey, BtcError> {
    HdKey::decode(decode_cbor(cbor)?)
}

/// A `crypto-account`: the master fingerprint and the account's output descriptors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub master_fingerprint: Fingerprint,
    pub outputs: Vec<ScriptExpr>,
}

/// Reads a `crypto-account` (tag 311 optional).
pub fn decode_account(cbor: &[u8]) -> Result<Account, BtcError> {
    let mut f = Fields::of(untag(decode_cbor(cbor)?, TAG_ACCOUNT)?, "crypto-account")?;
    let master_fingerprint = fingerprint_of(
        f.uint(1, "master-fingerprint")?
            .ok_or_else(|| err("crypto-account without master-fingerprint"))?,
        "master-fingerprint",
    )?;
    let outputs = match f.take(2) {
        Some(Item::Array(items)) if !items.is_empty() => items
            .into_iter()
            .map(|i| ScriptExpr::decode(untag(i, TAG_OUTPUT)?))
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(err("crypto-account without output descriptors")),
    };
    Ok(Account {
        master_fingerprint,
        outputs,
    })
}

// ---- writing ----

fn encode_keypath(
    e: &mut minicbor::Encoder<&mut Vec<u8>>,
    steps: &[ChildNumber],
    source: Option<Fingerprint>,
    depth: Option<u8>,
) -> Result<(), minicbor::encode::Error<std::convert::Infallible>> {
    let fields = 1 + usize::from(source.is_some()) + usize::from(depth.is_some());
    e.tag(Tag::new(TAG_KEYPATH))?.map(fields as u64)?;
    e.u8(1)?.array(2 * steps.len() as u64)?;
    for step in steps {
        match step {
            ChildNumber::Normal { index } => e.u32(*index)?.bool(false)?,
            ChildNumber::Hardened { index } => e.u32(*index)?.bool(true)?,
        };
    }
    if let Some(fp) = source {
        e.u8(2)?.u32(u32::from_be_bytes(fp.to_bytes()))?;
    }
    if let Some(d) = depth {
        e.u8(3)?.u8(d)?;
    }
    Ok(())
}

fn encode_hdkey(
    e: &mut minicbor::Encoder<&mut Vec<u8>>,
    fingerprint: Fingerprint,
    origin: &DerivationPath,
    xpub: &Xpub,
) -> Result<(), minicbor::encode::Error<std::convert::Infallible>> {
    let test = xpub.network == NetworkKind::Test;
    e.tag(Tag::new(TAG_HDKEY))?
        .map(if test { 5 } else { 4 })?
        .u8(3)?
        .bytes(&xpub.public_key.serialize())?
        .u8(4)?
        .bytes(xpub.chain_code.as_bytes())?;
    if test {
        e.u8(5)?
            .tag(Tag::new(TAG_COIN_INFO))?
            .map(1)?
            .u8(2)?
            .u8(1)?;
    }
    e.u8(6)?;
    encode_keypath(e, origin.as_ref(), Some(fingerprint), Some(xpub.depth))?;
    e.u8(8)?
        .u32(u32::from_be_bytes(xpub.parent_fingerprint.to_bytes()))?;
    Ok(())
}

/// A `crypto-output` (without the outer 308 tag, as `ur:crypto-output` carries it) for a
/// multisig vault: `wsh(sortedmulti(…))` or `sh(wsh(sortedmulti(…)))`. Keys are written at
/// account level, without children: BCR-2020-010 cannot say `<0;1>/*`, and every reader takes
/// `0/*` and `1/*` under the account key, as the vault does.
pub fn encode_multisig_output(
    nested: bool,
    threshold: usize,
    keys: &[(Fingerprint, DerivationPath, Xpub)],
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut e = minicbor::Encoder::new(&mut out);
    let written: Result<(), minicbor::encode::Error<std::convert::Infallible>> = (|| {
        if nested {
            e.tag(Tag::new(TAG_SH))?;
        }
        e.tag(Tag::new(TAG_WSH))?
            .tag(Tag::new(TAG_SORTEDMULTI))?
            .map(2)?
            .u8(1)?
            .u64(threshold as u64)?
            .u8(2)?
            .array(keys.len() as u64)?;
        for (fp, path, xpub) in keys {
            encode_hdkey(&mut e, *fp, path, xpub)?;
        }
        Ok(())
    })();
    // Writing into a Vec cannot fail.
    debug_assert!(written.is_ok());
    out
}

/// A `crypto-account` (BCR-2020-015, without the outer 311 tag, as `ur:crypto-account` carries
/// it) of one master key: each account key as the output its purpose implies (`wsh(cosigner)`,
/// `sh(wsh(cosigner))`, `wpkh`, `sh(wpkh)`, `pkh`, `tr`; BIP-45 `sh(cosigner)`).
pub fn encode_account(
    master_fingerprint: Fingerprint,
    keys: &[(super::KeyScript, DerivationPath, Xpub)],
) -> Vec<u8> {
    use super::KeyScript;
    let mut out = Vec::new();
    let mut e = minicbor::Encoder::new(&mut out);
    let written: Result<(), minicbor::encode::Error<std::convert::Infallible>> = (|| {
        e.map(2)?
            .u8(1)?
            .u32(u32::from_be_bytes(master_fingerprint.to_bytes()))?
            .u8(2)?
            .array(keys.len() as u64)?;
        for (script, path, xpub) in keys {
            e.tag(Tag::new(TAG_OUTPUT))?;
            let tags: &[u64] = match script {
                KeyScript::MultisigWsh => &[TAG_WSH, TAG_COSIGNER],
                KeyScript::MultisigShWsh => &[TAG_SH, TAG_WSH, TAG_COSIGNER],
                KeyScript::MultisigSh => &[TAG_SH, TAG_COSIGNER],
                KeyScript::Wpkh => &[TAG_WPKH],
                KeyScript::ShWpkh => &[TAG_SH, TAG_WPKH],
                KeyScript::Pkh => &[TAG_PKH],
                KeyScript::Taproot => &[TAG_TR],
            };
            for t in tags {
                e.tag(Tag::new(*t))?;
            }
            encode_hdkey(&mut e, master_fingerprint, path, xpub)?;
        }
        Ok(())
    })();
    debug_assert!(written.is_ok());
    out
}
