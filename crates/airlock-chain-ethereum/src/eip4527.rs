//! EIP-4527 QR signing: `eth-sign-request` (tag 401) out to a QR signer such as Keystone, and
//! `eth-signature` (tag 402) back, so a vault member's Ethereum key can live on such a device.
//!
//! `eth-sign-request` is a CBOR map: 1 request id (tag 37, 16-byte UUID), 2 sign data, 3 data
//! type (1 legacy transaction, 2 EIP-712 typed data JSON, 3 personal message, 4 EIP-2718 typed
//! transaction), 4 chain id, 5 derivation path (`crypto-keypath`, tag 304, with the device's
//! master fingerprint), 6 address (20 bytes), 7 origin text. `eth-signature`: 1 request id,
//! 2 signature (r ‖ s ‖ v, 65 bytes), 3 origin.
//!
//! [`device_requests`] builds, from the signer's own review of a proposal, one request per
//! signature the payload needs (a SafeTx or typed data: the EIP-712 JSON the device hashes
//! itself; an EIP-1559 transaction: its unsigned 0x02 ‖ rlp bytes), each with the digest Airlock
//! computed. The request id is derived from that digest and the member's address, so a response
//! can be matched without storing anything. [`DeviceSignatures`] then holds what came back, after
//! checking each signature answers one of the requests and recovers, over Airlock's own digest,
//! to the member's address; it signs those digests (and only those) for the chain's
//! `sign_external`, which checks everything again.
//!
//! This module must never accept a signature over a digest Airlock did not compute, nor one that
//! recovers to another address than the member's.

use alloy_consensus::SignableTransaction;
pub use alloy_primitives::B256;
use alloy_primitives::{Signature, keccak256};
use minicbor::data::{Tag, Type};

use crate::address::EthAddress;
use crate::error::EthError;
use crate::payload::EthPayload;

/// UR type of a request.
pub const SIGN_REQUEST_TYPE: &str = "eth-sign-request";
/// UR type of a response.
pub const SIGNATURE_TYPE: &str = "eth-signature";
const TAG_UUID: u64 = 37;
const TAG_KEYPATH: u64 = 304;
const MAX_CBOR: usize = 1 << 20;

/// What the sign data is (EIP-4527 `data-type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataType {
    LegacyTransaction = 1,
    TypedData = 2,
    PersonalMessage = 3,
    TypedTransaction = 4,
}

/// The device key a request names: its derivation path and the device's master fingerprint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevicePath {
    /// `(index, hardened)` steps from the device's master key.
    pub steps: Vec<(u32, bool)>,
    pub source_fingerprint: Option<u32>,
}

impl DevicePath {
    /// Reads `m/44'/60'/0'/0/0` (`h` or `'` for hardened).
    pub fn parse(text: &str, source_fingerprint: Option<u32>) -> Result<DevicePath, EthError> {
        let bad = || EthError::Key(format!("derivation path {text:?} is not m/…"));
        let rest = text.trim().strip_prefix("m/").ok_or_else(bad)?;
        let steps = rest
            .split('/')
            .map(|s| {
                let (n, hardened) = match s.strip_suffix(['\'', 'h']) {
                    Some(n) => (n, true),
                    None => (s, false),
                };
                n.parse::<u32>()
                    .ok()
                    .filter(|i| *i < 0x8000_0000)
                    .map(|i| (i, hardened))
                    .ok_or_else(bad)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DevicePath {
            steps,
            source_fingerprint,
        })
    }

    /// `m/44'/60'/0'/0/0`.
    pub fn text(&self) -> String {
        let mut out = "m".to_owned();
        for (i, h) in &self.steps {
            out += &format!("/{i}{}", if *h { "'" } else { "" });
        }
        out
    }
}

/// An `eth-sign-request`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignRequest {
    pub request_id: [u8; 16],
    pub sign_data: Vec<u8>,
    pub data_type: DataType,
    pub chain_id: u64,
    pub path: DevicePath,
    pub address: EthAddress,
    pub origin: String,
}

type EncodeResult = Result<(), minicbor::encode::Error<std::convert::Infallible>>;

impl SignRequest {
    /// The CBOR map `ur:eth-sign-request` carries.
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = minicbor::Encoder::new(&mut out);
        let written: EncodeResult = (|| {
            e.map(7)?;
            e.u8(1)?.tag(Tag::new(TAG_UUID))?.bytes(&self.request_id)?;
            e.u8(2)?.bytes(&self.sign_data)?;
            e.u8(3)?.u8(self.data_type as u8)?;
            e.u8(4)?.u64(self.chain_id)?;
            let fields = 1 + u64::from(self.path.source_fingerprint.is_some());
            e.u8(5)?.tag(Tag::new(TAG_KEYPATH))?.map(fields)?;
            e.u8(1)?.array(2 * self.path.steps.len() as u64)?;
            for (i, h) in &self.path.steps {
                e.u32(*i)?.bool(*h)?;
            }
            if let Some(fp) = self.path.source_fingerprint {
                e.u8(2)?.u32(fp)?;
            }
            e.u8(6)?.bytes(self.address.0.as_slice())?;
            e.u8(7)?.str(&self.origin)?;
            Ok(())
        })();
        debug_assert!(written.is_ok(), "writing into a Vec cannot fail");
        out
    }

    /// Reads a request (for tests and the fuzz target; a signer only writes them).
    pub fn from_cbor(cbor: &[u8]) -> Result<SignRequest, EthError> {
        let mut m = CborMap::read(cbor, "eth-sign-request")?;
        let request_id = m.uuid(1)?.ok_or_else(|| m.missing("request-id (1)"))?;
        let sign_data = m.bytes(2)?.ok_or_else(|| m.missing("sign-data (2)"))?;
        let data_type = match m.uint(3)? {
            Some(1) => DataType::LegacyTransaction,
            Some(2) => DataType::TypedData,
            Some(3) => DataType::PersonalMessage,
            Some(4) => DataType::TypedTransaction,
            Some(n) => return Err(m.bad(format!("data-type {n} is not 1-4"))),
            None => return Err(m.missing("data-type (3)")),
        };
        let chain_id = m.uint(4)?.ok_or_else(|| m.missing("chain-id (4)"))?;
        let path = m
            .keypath(5)?
            .ok_or_else(|| m.missing("derivation-path (5)"))?;
        let address: [u8; 20] = m
            .bytes(6)?
            .ok_or_else(|| m.missing("address (6)"))?
            .try_into()
            .map_err(|_| m.bad("address (6) is not 20 bytes"))?;
        let origin = m.text(7)?.unwrap_or_default();
        m.finish()?;
        Ok(SignRequest {
            request_id,
            sign_data,
            data_type,
            chain_id,
            path,
            address: EthAddress(address.into()),
            origin,
        })
    }
}

/// An `eth-signature` from a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceSignature {
    pub request_id: Option<[u8; 16]>,
    /// r ‖ s ‖ v (v as the device wrote it: 0/1, 27/28, or EIP-155).
    pub signature: [u8; 65],
    pub origin: Option<String>,
}

impl DeviceSignature {
    /// Reads `ur:eth-signature` CBOR.
    pub fn from_cbor(cbor: &[u8]) -> Result<DeviceSignature, EthError> {
        let mut m = CborMap::read(cbor, "eth-signature")?;
        let request_id = m.uuid(1)?;
        let signature: [u8; 65] = m
            .bytes(2)?
            .ok_or_else(|| m.missing("signature (2)"))?
            .try_into()
            .map_err(|_| m.bad("signature (2) is not 65 bytes (r, s, v)"))?;
        let origin = m.text(3)?;
        m.finish()?;
        Ok(DeviceSignature {
            request_id,
            signature,
            origin,
        })
    }

    /// Writes `ur:eth-signature` CBOR (for tests and fuzz seeds; devices write these).
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = minicbor::Encoder::new(&mut out);
        let written: EncodeResult = (|| {
            let n = 1 + u64::from(self.request_id.is_some()) + u64::from(self.origin.is_some());
            e.map(n)?;
            if let Some(id) = &self.request_id {
                e.u8(1)?.tag(Tag::new(TAG_UUID))?.bytes(id)?;
            }
            e.u8(2)?.bytes(&self.signature)?;
            if let Some(o) = &self.origin {
                e.u8(3)?.str(o)?;
            }
            Ok(())
        })();
        debug_assert!(written.is_ok(), "writing into a Vec cannot fail");
        out
    }

    /// The signature as alloy reads it, `v` normalized to a y-parity and `s` to the low half.
    fn normalized(&self) -> Result<Signature, EthError> {
        let v = self.signature[64];
        let parity = match v {
            0 | 27 => false,
            1 | 28 => true,
            // EIP-155: v = chain_id * 2 + 35 + parity.
            v if v >= 35 => (v - 35) % 2 == 1,
            v => {
                return Err(EthError::Signature(format!(
                    "the device's signature has v = {v}"
                )));
            }
        };
        let sig = Signature::from_bytes_and_parity(&self.signature[..64], parity);
        Ok(sig.normalize_s().unwrap_or(sig))
    }
}

/// The request id for `digest` signed by `address`: a version-4-shaped UUID from
/// keccak256(digest ‖ address), so a response is matched to its request without stored state.
pub fn request_id(digest: &B256, address: &EthAddress) -> [u8; 16] {
    let mut input = [0u8; 52];
    input[..32].copy_from_slice(digest.as_slice());
    input[32..].copy_from_slice(address.0.as_slice());
    let hash = keccak256(input);
    let mut id = [0u8; 16];
    id.copy_from_slice(&hash[..16]);
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    id
}

/// One request per signature `payload` needs from the member at `address` (key `path` on its
/// device), each with the digest Airlock computed for it. `review` is the signer's own review of
/// the payload against its registered vault.
pub fn device_requests(
    payload: &EthPayload,
    review: &crate::review::EthReview,
    chain_id: u64,
    address: EthAddress,
    path: &DevicePath,
    origin: &str,
) -> Result<Vec<(SignRequest, B256)>, EthError> {
    use crate::review::ReviewKind;
    let request = |sign_data: Vec<u8>, data_type: DataType, digest: B256| {
        (
            SignRequest {
                request_id: request_id(&digest, &address),
                sign_data,
                data_type,
                chain_id,
                path: path.clone(),
                address,
                origin: origin.to_owned(),
            },
            digest,
        )
    };
    Ok(match (&review.kind, payload) {
        (ReviewKind::Safe(s), EthPayload::SafeTx { safe, tx, .. }) => {
            let json = crate::safe::typed_data_json(chain_id, *safe, tx);
            vec![request(
                json.into_bytes(),
                DataType::TypedData,
                s.safe_tx_hash,
            )]
        }
        (ReviewKind::TypedData(t), EthPayload::TypedData { json }) => {
            vec![request(
                json.clone().into_bytes(),
                DataType::TypedData,
                t.hash,
            )]
        }
        (ReviewKind::Transactions { .. }, EthPayload::Transactions { chain_id: c, txs }) => txs
            .iter()
            .map(|r| {
                let tx = crate::sign::tx_of(*c, r);
                request(
                    tx.encoded_for_signing(),
                    DataType::TypedTransaction,
                    tx.signature_hash(),
                )
            })
            .collect(),
        _ => return Err(EthError::Refused("review and payload kinds differ".into())),
    })
}

/// Signatures a device returned for a set of requests, checked: each answers one request (by
/// id, when the device gives one) and recovers, over Airlock's digest, to the member's address.
pub struct DeviceSignatures {
    public_key: Vec<u8>,
    by_digest: Vec<(B256, Signature)>,
}

impl DeviceSignatures {
    /// Matches `responses` to `requests` (built by [`device_requests`] for the member at
    /// `address`). Every request must be answered exactly once.
    pub fn check(
        requests: &[(SignRequest, B256)],
        responses: &[DeviceSignature],
        address: EthAddress,
    ) -> Result<DeviceSignatures, EthError> {
        if responses.len() != requests.len() {
            return Err(EthError::Signature(format!(
                "the proposal needs {} device signature(s), {} were given",
                requests.len(),
                responses.len()
            )));
        }
        let mut by_digest = Vec::with_capacity(requests.len());
        let mut public_key = None;
        for (i, (request, digest)) in requests.iter().enumerate() {
            let response = match requests.len() {
                1 => &responses[0],
                _ => responses
                    .iter()
                    .find(|r| r.request_id == Some(request.request_id))
                    .ok_or_else(|| {
                        EthError::Signature(format!(
                            "no device signature answers request {} (of {})",
                            i + 1,
                            requests.len()
                        ))
                    })?,
            };
            if let Some(id) = response.request_id
                && id != request.request_id
            {
                return Err(EthError::Signature(format!(
                    "the device signature answers request {}, not this proposal's {} (signed for another proposal or member?)",
                    hex::encode(id),
                    hex::encode(request.request_id)
                )));
            }
            let sig = response.normalized()?;
            let key = sig.recover_from_prehash(digest).map_err(|e| {
                EthError::Signature(format!("the device signature does not recover: {e}"))
            })?;
            let who = EthAddress(alloy_primitives::Address::from_public_key(&key));
            if who != address {
                return Err(EthError::Signature(format!(
                    "the device signature recovers to {who}, not to this member's key {address}: the device signed other data or with another key"
                )));
            }
            public_key = Some(key.to_encoded_point(true).as_bytes().to_vec());
            by_digest.push((*digest, sig));
        }
        Ok(DeviceSignatures {
            public_key: public_key.unwrap_or_default(),
            by_digest,
        })
    }
}

impl airlock_core::chain::DigestSigner for DeviceSignatures {
    fn public_key(&self) -> Vec<u8> {
        self.public_key.clone()
    }

    fn sign_digest(&self, digest: &[u8; 32]) -> Result<[u8; 65], airlock_core::chain::ChainError> {
        let (_, sig) = self
            .by_digest
            .iter()
            .find(|(d, _)| d.0 == *digest)
            .ok_or_else(|| {
                airlock_core::chain::ChainError::new(
                    crate::CHAIN,
                    format!(
                        "the device signed no request for digest {}",
                        B256::from(*digest)
                    ),
                )
            })?;
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&sig.as_bytes()[..64]);
        out[64] = u8::from(sig.v());
        Ok(out)
    }
}

/// A strict reader of the small CBOR maps EIP-4527 uses (unsigned keys, no duplicates, no
/// indefinite lengths, nothing after the map).
struct CborMap<'a> {
    what: &'static str,
    entries: Vec<(u64, minicbor::Decoder<'a>)>,
    input: &'a [u8],
}

impl<'a> CborMap<'a> {
    fn read(cbor: &'a [u8], what: &'static str) -> Result<CborMap<'a>, EthError> {
        let bad = |m: String| EthError::Format(format!("{what}: {m}"));
        if cbor.len() > MAX_CBOR {
            return Err(bad(format!("{} bytes of CBOR", cbor.len())));
        }
        let mut d = minicbor::Decoder::new(cbor);
        let n = d
            .map()
            .map_err(|e| bad(format!("not a CBOR map: {e}")))?
            .ok_or_else(|| bad("an indefinite-length map".into()))?;
        if n > 16 {
            return Err(bad(format!("a map of {n} entries")));
        }
        let mut entries: Vec<(u64, minicbor::Decoder<'a>)> = Vec::new();
        for _ in 0..n {
            let key = d.u64().map_err(|e| bad(format!("a map key: {e}")))?;
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(bad(format!("key {key} twice")));
            }
            let at = d.position();
            entries.push((key, minicbor::Decoder::new(&cbor[at..])));
            d.skip()
                .map_err(|e| bad(format!("the value of key {key}: {e}")))?;
        }
        if d.position() != cbor.len() {
            return Err(bad(format!(
                "{} bytes after the map",
                cbor.len() - d.position()
            )));
        }
        Ok(CborMap {
            what,
            entries,
            input: cbor,
        })
    }

    fn bad(&self, m: impl Into<String>) -> EthError {
        EthError::Format(format!("{}: {}", self.what, m.into()))
    }

    fn missing(&self, field: &str) -> EthError {
        self.bad(format!("no {field}"))
    }

    fn take(&mut self, key: u64) -> Option<minicbor::Decoder<'a>> {
        let at = self.entries.iter().position(|(k, _)| *k == key)?;
        Some(self.entries.swap_remove(at).1)
    }

    fn uint(&mut self, key: u64) -> Result<Option<u64>, EthError> {
        let Some(mut d) = self.take(key) else {
            return Ok(None);
        };
        d.u64()
            .map(Some)
            .map_err(|_| self.bad(format!("key {key} is not an unsigned integer")))
    }

    fn bytes(&mut self, key: u64) -> Result<Option<Vec<u8>>, EthError> {
        let Some(mut d) = self.take(key) else {
            return Ok(None);
        };
        if d.datatype().ok() != Some(Type::Bytes) {
            return Err(self.bad(format!("key {key} is not a byte string")));
        }
        d.bytes()
            .map(|b| Some(b.to_vec()))
            .map_err(|_| self.bad(format!("key {key} is not a byte string")))
    }

    fn text(&mut self, key: u64) -> Result<Option<String>, EthError> {
        let Some(mut d) = self.take(key) else {
            return Ok(None);
        };
        if d.datatype().ok() != Some(Type::String) {
            return Err(self.bad(format!("key {key} is not text")));
        }
        d.str()
            .map(|s| Some(s.to_owned()))
            .map_err(|_| self.bad(format!("key {key} is not text")))
    }

    fn uuid(&mut self, key: u64) -> Result<Option<[u8; 16]>, EthError> {
        let Some(mut d) = self.take(key) else {
            return Ok(None);
        };
        let tagged = d.tag().ok().map(|t| t.as_u64()) == Some(TAG_UUID);
        let bytes = d.bytes().ok().filter(|_| tagged);
        bytes
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .map(Some)
            .ok_or_else(|| self.bad(format!("key {key} is not a tag-37 UUID of 16 bytes")))
    }

    fn keypath(&mut self, key: u64) -> Result<Option<DevicePath>, EthError> {
        let Some(mut d) = self.take(key) else {
            return Ok(None);
        };
        let bad = || self.bad(format!("key {key} is not a crypto-keypath"));
        if d.datatype().ok() == Some(Type::Tag) {
            let t = d.tag().map_err(|_| bad())?.as_u64();
            if t != TAG_KEYPATH && t != 40_304 {
                return Err(bad());
            }
        }
        let start = d.position();
        let inner = &d.input()[start..];
        let mut m = CborMap::read_prefix(inner, "crypto-keypath").map_err(|_| bad())?;
        let mut steps = Vec::new();
        if let Some(mut c) = m.take(1) {
            let n = c.array().ok().flatten().ok_or_else(bad)?;
            if n % 2 != 0 || n > 64 {
                return Err(bad());
            }
            for _ in 0..n / 2 {
                let i = c.u32().map_err(|_| bad())?;
                let h = c.bool().map_err(|_| bad())?;
                if i >= 0x8000_0000 {
                    return Err(bad());
                }
                steps.push((i, h));
            }
        }
        let source_fingerprint = m
            .uint(2)?
            .map(|f| u32::try_from(f).map_err(|_| bad()))
            .transpose()?;
        Ok(Some(DevicePath {
            steps,
            source_fingerprint,
        }))
    }

    /// Like [`CborMap::read`] for a map followed by more data (a nested value).
    fn read_prefix(cbor: &'a [u8], what: &'static str) -> Result<CborMap<'a>, EthError> {
        let mut d = minicbor::Decoder::new(cbor);
        d.skip()
            .map_err(|e| EthError::Format(format!("{what}: {e}")))?;
        CborMap::read(&cbor[..d.position()], what)
    }

    fn finish(self) -> Result<(), EthError> {
        let _ = self.input;
        match self.entries.first() {
            Some((k, _)) => Err(self.bad(format!("unknown key {k}"))),
            None => Ok(()),
        }
    }
}
