//! Keys kept in a hardware token (HSM, smart card) through PKCS#11, with the `cryptoki` crate.
//!
//! What it is for: a signer whose vault definition records `custody = "hsm"` keeps its chain keys
//! in a token instead of the passphrase keystore. The keys are **generated inside the token** and
//! stay there; this module asks the token to sign and checks what comes back:
//!
//! * secp256k1 (`CKM_EC_KEY_PAIR_GEN` with the DER OID `1.3.132.0.10` as `CKA_EC_PARAMS`), signed
//!   with `CKM_ECDSA` over a 32-byte digest. The raw `r ‖ s` is normalized to **low-S**
//!   (`s > n/2` becomes `n − s`), as Bitcoin (BIP-62/146) and Ethereum (EIP-2) require, and the
//!   **recovery id** is found by recovering the public key for `v = 0` and `v = 1` with `k256` and
//!   comparing with the token's key. [`HsmToken::sign_bitcoin_digest`] returns DER,
//!   [`HsmToken::sign_ethereum_digest`] `r ‖ s ‖ v` (`v` ∈ {0, 1}),
//!   [`HsmToken::sign_ethereum_digest_legacy`] the same with `v + 27`.
//! * Ed25519 (`CKM_EC_EDWARDS_KEY_PAIR_GEN`, curve given as the printable string `edwards25519`,
//!   which SoftHSM2 2.6 accepts, with the RFC 8410 OID `1.3.101.112` as fallback), signed with
//!   `CKM_EDDSA`; every signature is verified with ed25519-dalek before it is returned.
//!
//! Private keys are created with `CKA_TOKEN`, `CKA_PRIVATE`, `CKA_SENSITIVE` true and
//! `CKA_EXTRACTABLE` false: the token itself refuses to reveal them.
//!
//! The module (a shared library) is loaded at run time by path: [`module_path`] takes an explicit
//! path, else `AIRLOCK_PKCS11_MODULE`, else Debian's SoftHSM2 ([`DEFAULT_MODULE`]). Loading a
//! library is not network code, and SoftHSM2 talks to no network.
//!
//! What this module must **never** do:
//!
//! * **log, print or put in an error the PIN.** [`Pin`] is zeroized on drop, its `Debug` is
//!   redacted, and it is only read from a file (never from the command line);
//! * **export a private key**: nothing here reads `CKA_VALUE` of a private key, wraps or copies
//!   one, or creates one that is extractable;
//! * **return a high-S or unrecoverable secp256k1 signature, or an Ed25519 signature that does not
//!   verify**: such a result is an error ([`HsmError::BadSignature`]), never output.
//!
//! Errors are distinct so a person knows what to fix: the module is missing (path named), no token
//! has the label (the labels present are listed), the PIN is wrong or locked, the key does not exist
//! (the keys present are listed), or the token went away while signing
//! ([`HsmError::TokenRemoved`]: nothing was signed).

use std::fmt;
use std::path::{Path, PathBuf};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use k256::ecdsa::{RecoveryId, Signature as EcdsaSignature, VerifyingKey as K256VerifyingKey};
use rand_core::{OsRng, RngCore as _};
use zeroize::Zeroizing;

/// Debian's SoftHSM2 module (package `softhsm2` / `libsofthsm2`).
pub const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// Environment variable naming the PKCS#11 module when no path is given explicitly.
pub const MODULE_ENV: &str = "AIRLOCK_PKCS11_MODULE";
/// Largest PIN file read.
pub const MAX_PIN_FILE_LEN: u64 = 1024;

/// DER of the secp256k1 OID 1.3.132.0.10 (`CKA_EC_PARAMS`).
const SECP256K1_PARAMS: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];
/// `CKA_EC_PARAMS` for Ed25519 as PKCS#11 3.0 writes it: PrintableString "edwards25519".
const ED25519_PARAMS_NAME: &[u8] = b"\x13\x0cedwards25519";
/// The RFC 8410 OID 1.3.101.112, which some tokens want instead.
const ED25519_PARAMS_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

/// The module to load: `explicit`, else `$AIRLOCK_PKCS11_MODULE`, else [`DEFAULT_MODULE`].
pub fn module_path(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    match std::env::var_os(MODULE_ENV) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(DEFAULT_MODULE),
    }
}

/// Why an HSM operation failed. No message ever contains the PIN or key material.
#[derive(Debug, thiserror::Error)]
pub enum HsmError {
    /// The PKCS#11 module could not be loaded.
    #[error(
        "PKCS#11 module {} cannot be loaded ({detail}); install it (SoftHSM2: apt-get install softhsm2) or name another with --module or {MODULE_ENV}",
        path.display()
    )]
    ModuleNotFound {
        /// The path tried.
        path: PathBuf,
        /// What the loader said.
        detail: String,
    },
    /// The module loaded but failed to initialize or enumerate its slots.
    #[error("PKCS#11 module {}: {detail}", path.display())]
    Module {
        /// The module.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
    /// No initialized token carries this label.
    #[error(
        "no token labelled {label:?} in {}; tokens present: {}",
        module.display(),
        if available.is_empty() { "none".to_string() } else { available.iter().map(|l| format!("{l:?}")).collect::<Vec<_>>().join(", ") }
    )]
    TokenNotFound {
        /// The label asked for.
        label: String,
        /// Labels of the tokens that exist.
        available: Vec<String>,
        /// The module searched.
        module: PathBuf,
    },
    /// The token refused the user PIN (`CKR_PIN_INCORRECT`).
    #[error("wrong PIN for token {0:?}")]
    WrongPin(String),
    /// The user PIN is locked after too many wrong attempts (`CKR_PIN_LOCKED`).
    #[error(
        "the user PIN of token {0:?} is locked (too many wrong attempts); the security officer must unlock it"
    )]
    PinLocked(String),
    /// The PIN file is empty (or holds only a line ending).
    #[error("PIN file {} is empty", .0.display())]
    EmptyPinFile(PathBuf),
    /// The PIN file is not UTF-8 text.
    #[error("PIN file {} is not UTF-8 text", .0.display())]
    PinNotUtf8(PathBuf),
    /// Reading the PIN file failed.
    #[error(transparent)]
    Transport(#[from] airlock_transport::TransportError),
    /// No key with this label.
    #[error(
        "no key labelled {label:?} on token {token:?}; keys present: {}",
        if available.is_empty() { "none".to_string() } else { available.iter().map(|l| format!("{l:?}")).collect::<Vec<_>>().join(", ") }
    )]
    KeyNotFound {
        /// The label asked for.
        label: String,
        /// The token.
        token: String,
        /// Labels of the keys that exist.
        available: Vec<String>,
    },
    /// Two or more private keys carry this label.
    #[error("{count} keys labelled {label:?} on token {token:?}; labels must be unique")]
    AmbiguousKey {
        /// The label.
        label: String,
        /// The token.
        token: String,
        /// How many.
        count: usize,
    },
    /// `keygen` was asked for a label that is already used.
    #[error("a key labelled {label:?} already exists on token {token:?}; nothing was generated")]
    LabelExists {
        /// The label.
        label: String,
        /// The token.
        token: String,
    },
    /// The key is of the other kind.
    #[error("key {label:?} is of kind {found}; this needs a key of kind {wanted}")]
    WrongKeyKind {
        /// The key's label.
        label: String,
        /// Its kind.
        found: KeyKind,
        /// The kind needed.
        wanted: KeyKind,
    },
    /// The token (or its key) disappeared between opening the session and the signature.
    #[error("the token went away while signing; nothing was signed ({0})")]
    TokenRemoved(String),
    /// The token returned something this module will not pass on.
    #[error("the token returned an unusable signature ({0}); nothing was signed")]
    BadSignature(String),
    /// A public key read from the token is malformed.
    #[error("key {label:?}: unusable public key on the token ({detail})")]
    BadPublicKey {
        /// The key's label.
        label: String,
        /// What is wrong.
        detail: String,
    },
    /// A digest that is not 32 bytes.
    #[error("a digest is 32 bytes; got {0}")]
    DigestLength(usize),
    /// The system random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Randomness(String),
    /// Any other PKCS#11 failure.
    #[error("PKCS#11 {operation} failed: {detail}")]
    Pkcs11 {
        /// What was being done.
        operation: &'static str,
        /// The return value.
        detail: String,
    },
}

/// Return values that mean the token, the slot or the session is gone.
fn is_gone(rv: RvError) -> bool {
    matches!(
        rv,
        RvError::DeviceRemoved
            | RvError::TokenNotPresent
            | RvError::TokenNotRecognized
            | RvError::DeviceError
            | RvError::SessionClosed
            | RvError::SessionHandleInvalid
            | RvError::SlotIdInvalid
    )
}

fn describe(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, f) => format!("{f:?}: {}", rv_name(*rv)),
        other => format!("{other}"),
    }
}

/// `CKR_…`-style name of a return value (the crate's `Display` is a paragraph of prose).
fn rv_name(rv: RvError) -> String {
    let debug = format!("{rv:?}");
    let mut out = String::from("CKR");
    for c in debug.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// A generic failure of `operation`, or [`HsmError::TokenRemoved`] if the token is gone.
fn fail(operation: &'static str) -> impl Fn(CkError) -> HsmError {
    move |e| match &e {
        CkError::Pkcs11(rv, _) if is_gone(*rv) => HsmError::TokenRemoved(describe(&e)),
        _ => HsmError::Pkcs11 {
            operation,
            detail: describe(&e),
        },
    }
}

/// While signing, a key handle that was valid a moment ago and no longer is also means the token
/// (or its storage) went away.
fn fail_signing(e: CkError) -> HsmError {
    match &e {
        CkError::Pkcs11(rv, _)
            if is_gone(*rv)
                || matches!(
                    rv,
                    RvError::KeyHandleInvalid
                        | RvError::ObjectHandleInvalid
                        | RvError::UserNotLoggedIn
                        | RvError::GeneralError
                ) =>
        {
            HsmError::TokenRemoved(describe(&e))
        }
        _ => HsmError::Pkcs11 {
            operation: "sign",
            detail: describe(&e),
        },
    }
}

/// A token's user PIN, in memory that is zeroed when dropped. `Debug` does not show it.
pub struct Pin(Zeroizing<String>);

impl Pin {
    /// Reads a PIN from a file (at most [`MAX_PIN_FILE_LEN`] bytes). Exactly one trailing `"\n"`
    /// or `"\r\n"` is removed; everything else is the PIN. Empty or non-UTF-8 files are refused.
    pub fn from_file(path: &Path) -> Result<Self, HsmError> {
        let mut bytes = Zeroizing::new(airlock_transport::read_bounded(path, MAX_PIN_FILE_LEN)?);
        if bytes.ends_with(b"\r\n") {
            let n = bytes.len() - 2;
            bytes.truncate(n);
        } else if bytes.ends_with(b"\n") {
            let n = bytes.len() - 1;
            bytes.truncate(n);
        }
        if bytes.is_empty() {
            return Err(HsmError::EmptyPinFile(path.to_path_buf()));
        }
        Self::from_bytes(&bytes).ok_or_else(|| HsmError::PinNotUtf8(path.to_path_buf()))
    }

    /// A PIN from bytes (UTF-8); `None` if they are not UTF-8 or are empty.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        if text.is_empty() {
            return None;
        }
        // Exact capacity: handing the buffer to `AuthPin` (a boxed str) then never reallocates,
        // so no copy of the PIN is left behind un-zeroed.
        let mut s = Zeroizing::new(String::with_capacity(text.len()));
        s.push_str(text);
        Some(Pin(s))
    }

    fn auth_pin(&self) -> AuthPin {
        let mut copy = String::with_capacity(self.0.len());
        copy.push_str(&self.0);
        AuthPin::from(copy)
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

/// The kinds of key this module makes and uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA over secp256k1 (Bitcoin, Ethereum).
    Secp256k1,
    /// Ed25519.
    Ed25519,
}

impl KeyKind {
    /// `secp256k1` or `ed25519`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Secp256k1 => "secp256k1",
            KeyKind::Ed25519 => "ed25519",
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key pair on the token: its handles and public half.
#[derive(Clone, Debug)]
pub struct HsmKey {
    /// `CKA_LABEL`.
    pub label: String,
    /// `CKA_ID`.
    pub id: Vec<u8>,
    /// Which curve.
    pub kind: KeyKind,
    /// The public key: secp256k1 SEC1 compressed (33 bytes), Ed25519 the 32-byte key.
    pub public_key: Vec<u8>,
    /// The token's `CKA_SENSITIVE` of the private key.
    pub sensitive: bool,
    /// The token's `CKA_EXTRACTABLE` of the private key.
    pub extractable: bool,
    private: ObjectHandle,
}

impl HsmKey {
    /// The public key as lowercase hex (what a vault definition's chain key is made from).
    pub fn public_key_hex(&self) -> String {
        hex_lower(&self.public_key)
    }

    /// secp256k1 only: the uncompressed SEC1 point (65 bytes, `04 ‖ X ‖ Y`).
    pub fn uncompressed_public_key(&self) -> Option<Vec<u8>> {
        if self.kind != KeyKind::Secp256k1 {
            return None;
        }
        let vk = K256VerifyingKey::from_sec1_bytes(&self.public_key).ok()?;
        Some(vk.to_encoded_point(false).as_bytes().to_vec())
    }
}

/// A secp256k1 signature as the token made it, low-S normalized, with its recovery id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecoverableSignature {
    /// `r`, 32 bytes big-endian.
    pub r: [u8; 32],
    /// `s` (≤ n/2), 32 bytes big-endian.
    pub s: [u8; 32],
    /// 0 or 1: the parity of the nonce point's y (after normalization).
    pub recovery_id: u8,
    /// True when the token's `s` was high and was replaced by `n − s`.
    pub normalized: bool,
}

impl RecoverableSignature {
    /// DER (`SEQUENCE { INTEGER r, INTEGER s }`), as Bitcoin scripts carry it (without the
    /// sighash byte).
    pub fn to_der(&self) -> Vec<u8> {
        let r = der_integer(&self.r);
        let s = der_integer(&self.s);
        let mut out = Vec::with_capacity(2 + r.len() + s.len());
        out.push(0x30);
        out.push(u8::try_from(r.len() + s.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&r);
        out.extend_from_slice(&s);
        out
    }

    /// `r ‖ s ‖ v` with `v` = `v_offset + recovery id` (0 for EIP-2098-style / typed transactions,
    /// 27 for `personal_sign` and legacy transactions).
    pub fn to_rsv(&self, v_offset: u8) -> [u8; 65] {
        let mut out = [0u8; 65];
        out[..32].copy_from_slice(&self.r);
        out[32..64].copy_from_slice(&self.s);
        out[64] = v_offset + self.recovery_id;
        out
    }
}

/// A minimal DER INTEGER of a 32-byte unsigned big-endian value.
fn der_integer(v: &[u8; 32]) -> Vec<u8> {
    let start = v.iter().position(|&b| b != 0).unwrap_or(31);
    let body = &v[start..];
    let pad = body[0] & 0x80 != 0;
    let mut out = Vec::with_capacity(body.len() + 3);
    out.push(0x02);
    out.push(u8::try_from(body.len() + usize::from(pad)).unwrap_or(u8::MAX));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(body);
    out
}

fn hex_lower(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(char::from(HEX[usize::from(x >> 4)]));
        s.push(char::from(HEX[usize::from(x & 0x0f)]));
    }
    s
}

/// `CKA_EC_POINT` is a DER OCTET STRING wrapping the point; a few tokens return the bare point.
fn unwrap_ec_point(raw: &[u8]) -> &[u8] {
    match raw {
        [0x04, len, rest @ ..] if usize::from(*len) == rest.len() && *len < 0x80 => rest,
        [0x04, 0x81, len, rest @ ..] if usize::from(*len) == rest.len() => rest,
        _ => raw,
    }
}

/// An open, logged-in session with one token.
pub struct HsmToken {
    session: Option<Session>,
    ctx: Option<Pkcs11>,
    label: String,
    module: PathBuf,
}

impl fmt::Debug for HsmToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HsmToken")
            .field("label", &self.label)
            .field("module", &self.module)
            .finish_non_exhaustive()
    }
}

impl Drop for HsmToken {
    fn drop(&mut self) {
        // Close the session (logging out) before finalizing the library.
        drop(self.session.take());
        if let Some(ctx) = self.ctx.take() {
            let _ = ctx.finalize();
        }
    }
}

/// Labels of the initialized tokens a module offers (for messages and `hsm tokens`).
pub fn token_labels(module: &Path) -> Result<Vec<String>, HsmError> {
    let ctx = load(module)?;
    let out = labels_of(&ctx, module).map(|v| v.into_iter().map(|(_, l)| l).collect());
    let _ = ctx.finalize();
    out
}

fn load(module: &Path) -> Result<Pkcs11, HsmError> {
    if !module.exists() {
        return Err(HsmError::ModuleNotFound {
            path: module.to_path_buf(),
            detail: "no such file".into(),
        });
    }
    let ctx = Pkcs11::new(module).map_err(|e| HsmError::ModuleNotFound {
        path: module.to_path_buf(),
        detail: e.to_string(),
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(ctx),
        Err(e) => Err(HsmError::Module {
            path: module.to_path_buf(),
            detail: format!(
                "initialization failed: {} (for SoftHSM2: does the token directory named in $SOFTHSM2_CONF exist and is it readable?)",
                describe(&e)
            ),
        }),
    }
}

fn labels_of(ctx: &Pkcs11, module: &Path) -> Result<Vec<(cryptoki::slot::Slot, String)>, HsmError> {
    let slots = ctx
        .get_slots_with_initialized_token()
        .map_err(|e| HsmError::Module {
            path: module.to_path_buf(),
            detail: format!("listing slots failed: {}", describe(&e)),
        })?;
    let mut out = Vec::new();
    for slot in slots {
        if let Ok(info) = ctx.get_token_info(slot) {
            out.push((slot, info.label().trim_end().to_string()));
        }
    }
    Ok(out)
}

impl HsmToken {
    /// Loads `module`, finds the initialized token labelled `token_label`, opens a read-write
    /// session and logs in as the user with `pin`.
    pub fn open(module: &Path, token_label: &str, pin: &Pin) -> Result<Self, HsmError> {
        let ctx = load(module)?;
        let mut token = HsmToken {
            session: None,
            ctx: Some(ctx),
            label: token_label.to_string(),
            module: module.to_path_buf(),
        };
        let ctx = token.ctx.as_ref().ok_or_else(|| HsmError::Module {
            path: module.to_path_buf(),
            detail: "not loaded".into(),
        })?;
        let tokens = labels_of(ctx, module)?;
        let matching: Vec<_> = tokens.iter().filter(|(_, l)| l == token_label).collect();
        let slot = match matching.as_slice() {
            [(slot, _)] => *slot,
            [] => {
                return Err(HsmError::TokenNotFound {
                    label: token_label.to_string(),
                    available: tokens.iter().map(|(_, l)| l.clone()).collect(),
                    module: module.to_path_buf(),
                });
            }
            _ => {
                return Err(HsmError::Module {
                    path: module.to_path_buf(),
                    detail: format!("{} tokens are labelled {token_label:?}", matching.len()),
                });
            }
        };
        if let Ok(info) = ctx.get_token_info(slot)
            && info.user_pin_locked()
        {
            return Err(HsmError::PinLocked(token_label.to_string()));
        }
        let session = ctx.open_rw_session(slot).map_err(fail("open session"))?;
        match session.login(UserType::User, Some(&pin.auth_pin())) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(CkError::Pkcs11(RvError::PinIncorrect | RvError::PinLenRange, _)) => {
                return Err(HsmError::WrongPin(token_label.to_string()));
            }
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
                return Err(HsmError::PinLocked(token_label.to_string()));
            }
            Err(e) => return Err(fail("login")(e)),
        }
        token.session = Some(session);
        Ok(token)
    }

    /// The token's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The module path.
    pub fn module(&self) -> &Path {
        &self.module
    }

    fn session(&self) -> Result<&Session, HsmError> {
        self.session
            .as_ref()
            .ok_or_else(|| HsmError::TokenRemoved("no session".into()))
    }

    /// Generates a key pair of `kind` inside the token, labelled `label` (which must be new).
    /// The private key is sensitive, not extractable, and stored on the token.
    pub fn generate(&self, label: &str, kind: KeyKind) -> Result<HsmKey, HsmError> {
        let session = self.session()?;
        let existing = session
            .find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
            .map_err(fail("find objects"))?;
        if !existing.is_empty() {
            return Err(HsmError::LabelExists {
                label: label.to_string(),
                token: self.label.clone(),
            });
        }
        let mut id = vec![0u8; 16];
        OsRng
            .try_fill_bytes(&mut id)
            .map_err(|e| HsmError::Randomness(e.to_string()))?;
        let private = |key_type: KeyType| {
            vec![
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::KeyType(key_type),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(true),
                Attribute::Derive(false),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(id.clone()),
            ]
        };
        let public = |key_type: KeyType, params: &[u8]| {
            vec![
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::KeyType(key_type),
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Verify(true),
                Attribute::EcParams(params.to_vec()),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(id.clone()),
            ]
        };
        match kind {
            KeyKind::Secp256k1 => {
                session
                    .generate_key_pair(
                        &Mechanism::EccKeyPairGen,
                        &public(KeyType::EC, SECP256K1_PARAMS),
                        &private(KeyType::EC),
                    )
                    .map_err(fail("generate secp256k1 key pair"))?;
            }
            KeyKind::Ed25519 => {
                let first = session.generate_key_pair(
                    &Mechanism::EccEdwardsKeyPairGen,
                    &public(KeyType::EC_EDWARDS, ED25519_PARAMS_NAME),
                    &private(KeyType::EC_EDWARDS),
                );
                if let Err(e) = first {
                    match e {
                        CkError::Pkcs11(
                            RvError::CurveNotSupported
                            | RvError::AttributeValueInvalid
                            | RvError::DomainParamsInvalid
                            | RvError::TemplateInconsistent,
                            _,
                        ) => {
                            session
                                .generate_key_pair(
                                    &Mechanism::EccEdwardsKeyPairGen,
                                    &public(KeyType::EC_EDWARDS, ED25519_PARAMS_OID),
                                    &private(KeyType::EC_EDWARDS),
                                )
                                .map_err(fail("generate Ed25519 key pair"))?;
                        }
                        other => return Err(fail("generate Ed25519 key pair")(other)),
                    }
                }
            }
        }
        self.key(label)
    }

    /// Every key pair on the token (private keys of a kind this module knows, with their public
    /// halves), sorted by label.
    pub fn list(&self) -> Result<Vec<HsmKey>, HsmError> {
        let session = self.session()?;
        let handles = session
            .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
            .map_err(fail("find objects"))?;
        let mut out = Vec::new();
        for h in handles {
            if let Some(k) = self.describe_private(session, h)? {
                out.push(k);
            }
        }
        out.sort_by(|a, b| a.label.cmp(&b.label));
        Ok(out)
    }

    /// The key pair labelled `label`.
    pub fn key(&self, label: &str) -> Result<HsmKey, HsmError> {
        let session = self.session()?;
        let handles = session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(fail("find objects"))?;
        match handles.as_slice() {
            [h] => self
                .describe_private(session, *h)?
                .ok_or_else(|| HsmError::BadPublicKey {
                    label: label.to_string(),
                    detail: "not a secp256k1 or Ed25519 key".into(),
                }),
            [] => Err(HsmError::KeyNotFound {
                label: label.to_string(),
                token: self.label.clone(),
                available: self.list()?.into_iter().map(|k| k.label).collect(),
            }),
            more => Err(HsmError::AmbiguousKey {
                label: label.to_string(),
                token: self.label.clone(),
                count: more.len(),
            }),
        }
    }

    fn describe_private(
        &self,
        session: &Session,
        private: ObjectHandle,
    ) -> Result<Option<HsmKey>, HsmError> {
        let attrs = session
            .get_attributes(
                private,
                &[
                    AttributeType::Label,
                    AttributeType::Id,
                    AttributeType::KeyType,
                    AttributeType::EcParams,
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                ],
            )
            .map_err(fail("read key attributes"))?;
        let (mut label, mut id, mut key_type, mut params) = (String::new(), Vec::new(), None, None);
        let (mut sensitive, mut extractable) = (false, true);
        for a in attrs {
            match a {
                Attribute::Label(l) => label = String::from_utf8_lossy(&l).into_owned(),
                Attribute::Id(i) => id = i,
                Attribute::KeyType(t) => key_type = Some(t),
                Attribute::EcParams(p) => params = Some(p),
                Attribute::Sensitive(s) => sensitive = s,
                Attribute::Extractable(x) => extractable = x,
                _ => {}
            }
        }
        let kind = match (key_type, params.as_deref()) {
            (Some(t), Some(p)) if t == KeyType::EC && p == SECP256K1_PARAMS => KeyKind::Secp256k1,
            (Some(t), _) if t == KeyType::EC_EDWARDS => KeyKind::Ed25519,
            _ => return Ok(None),
        };
        let pubs = session
            .find_objects(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::Id(id.clone()),
            ])
            .map_err(fail("find public key"))?;
        let bad = |detail: &str| HsmError::BadPublicKey {
            label: label.clone(),
            detail: detail.to_string(),
        };
        let [public] = pubs.as_slice() else {
            return Err(bad(&format!(
                "{} public keys share its CKA_ID (expected 1)",
                pubs.len()
            )));
        };
        let point = session
            .get_attributes(*public, &[AttributeType::EcPoint])
            .map_err(fail("read public key"))?
            .into_iter()
            .find_map(|a| match a {
                Attribute::EcPoint(p) => Some(p),
                _ => None,
            })
            .ok_or_else(|| bad("no CKA_EC_POINT"))?;
        let point = unwrap_ec_point(&point);
        let public_key = match kind {
            KeyKind::Secp256k1 => {
                let vk = K256VerifyingKey::from_sec1_bytes(point)
                    .map_err(|_| bad("CKA_EC_POINT is not a secp256k1 point"))?;
                vk.to_encoded_point(true).as_bytes().to_vec()
            }
            KeyKind::Ed25519 => {
                let bytes: [u8; 32] = point
                    .try_into()
                    .map_err(|_| bad("CKA_EC_POINT is not 32 bytes"))?;
                ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                    .map_err(|_| bad("CKA_EC_POINT is not an Ed25519 point"))?;
                bytes.to_vec()
            }
        };
        Ok(Some(HsmKey {
            label,
            id,
            kind,
            public_key,
            sensitive,
            extractable,
            private,
        }))
    }

    fn need(key: &HsmKey, kind: KeyKind) -> Result<(), HsmError> {
        if key.kind == kind {
            Ok(())
        } else {
            Err(HsmError::WrongKeyKind {
                label: key.label.clone(),
                found: key.kind,
                wanted: kind,
            })
        }
    }

    /// ECDSA over secp256k1 of a 32-byte `digest` (the caller hashed: double SHA-256 sighash,
    /// Keccak-256…): the token's signature, low-S normalized, with the recovery id found by
    /// recovering the key. Errors if the token's answer does not recover to `key`.
    pub fn sign_digest_recoverable(
        &self,
        key: &HsmKey,
        digest: &[u8],
    ) -> Result<RecoverableSignature, HsmError> {
        Self::need(key, KeyKind::Secp256k1)?;
        if digest.len() != 32 {
            return Err(HsmError::DigestLength(digest.len()));
        }
        let session = self.session()?;
        let raw = session
            .sign(&Mechanism::Ecdsa, key.private, digest)
            .map_err(fail_signing)?;
        if raw.len() != 64 {
            return Err(HsmError::BadSignature(format!(
                "{} bytes, expected r ‖ s of 64",
                raw.len()
            )));
        }
        let sig = EcdsaSignature::from_slice(&raw)
            .map_err(|_| HsmError::BadSignature("r or s is zero or not below n".into()))?;
        let (sig, normalized) = match sig.normalize_s() {
            Some(low) => (low, true),
            None => (sig, false),
        };
        let expected = K256VerifyingKey::from_sec1_bytes(&key.public_key).map_err(|_| {
            HsmError::BadPublicKey {
                label: key.label.clone(),
                detail: "not a secp256k1 point".into(),
            }
        })?;
        let mut recovery_id = None;
        for v in 0u8..2 {
            let Some(id) = RecoveryId::from_byte(v) else {
                continue;
            };
            if let Ok(vk) = K256VerifyingKey::recover_from_prehash(digest, &sig, id)
                && vk == expected
            {
                recovery_id = Some(v);
                break;
            }
        }
        let recovery_id = recovery_id.ok_or_else(|| {
            HsmError::BadSignature("it does not recover to the key's public key".into())
        })?;
        let bytes = sig.to_bytes();
        let mut r = [0u8; 32];
        let mut s = [0u8; 32];
        r.copy_from_slice(&bytes[..32]);
        s.copy_from_slice(&bytes[32..]);
        Ok(RecoverableSignature {
            r,
            s,
            recovery_id,
            normalized,
        })
    }

    /// A Bitcoin ECDSA signature of a 32-byte sighash: DER, low-S (no sighash-type byte).
    pub fn sign_bitcoin_digest(&self, key: &HsmKey, digest: &[u8]) -> Result<Vec<u8>, HsmError> {
        Ok(self.sign_digest_recoverable(key, digest)?.to_der())
    }

    /// An Ethereum signature of a 32-byte Keccak-256 digest: `r ‖ s ‖ v`, low-S, `v` = recovery
    /// id (0 or 1; typed transactions' `yParity`).
    pub fn sign_ethereum_digest(&self, key: &HsmKey, digest: &[u8]) -> Result<[u8; 65], HsmError> {
        Ok(self.sign_digest_recoverable(key, digest)?.to_rsv(0))
    }

    /// As [`Self::sign_ethereum_digest`] with `v` = 27 + recovery id (`personal_sign`, legacy
    /// pre-EIP-155 form).
    pub fn sign_ethereum_digest_legacy(
        &self,
        key: &HsmKey,
        digest: &[u8],
    ) -> Result<[u8; 65], HsmError> {
        Ok(self.sign_digest_recoverable(key, digest)?.to_rsv(27))
    }

    /// Pure Ed25519 (`CKM_EDDSA`) of `msg`, verified with ed25519-dalek against the key's public
    /// half before it is returned.
    pub fn sign_ed25519(&self, key: &HsmKey, msg: &[u8]) -> Result<[u8; 64], HsmError> {
        Self::need(key, KeyKind::Ed25519)?;
        let session = self.session()?;
        let mech = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
        let raw = session
            .sign(&mech, key.private, msg)
            .map_err(fail_signing)?;
        let sig: [u8; 64] = raw
            .as_slice()
            .try_into()
            .map_err(|_| HsmError::BadSignature(format!("{} bytes, expected 64", raw.len())))?;
        let pk: [u8; 32] =
            key.public_key
                .as_slice()
                .try_into()
                .map_err(|_| HsmError::BadPublicKey {
                    label: key.label.clone(),
                    detail: "not 32 bytes".into(),
                })?;
        let vk =
            ed25519_dalek::VerifyingKey::from_bytes(&pk).map_err(|_| HsmError::BadPublicKey {
                label: key.label.clone(),
                detail: "not an Ed25519 point".into(),
            })?;
        vk.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&sig))
            .map_err(|_| HsmError::BadSignature("it does not verify with the key".into()))?;
        Ok(sig)
    }
}

impl airlock_severity::Classify for HsmError {
    fn severity(&self) -> airlock_severity::Severity {
        airlock_severity::Severity::Refused
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_integers_are_minimal() {
        let mut v = [0u8; 32];
        v[31] = 1;
        assert_eq!(der_integer(&v), vec![2, 1, 1]);
        v[0] = 0x80;
        let d = der_integer(&v);
        assert_eq!(&d[..3], &[2, 33, 0]);
        assert_eq!(der_integer(&[0u8; 32]), vec![2, 1, 0]);
    }

    #[test]
    fn ec_point_unwrapping() {
        let mut der = vec![0x04, 0x20];
        der.extend_from_slice(&[7u8; 32]);
        assert_eq!(unwrap_ec_point(&der), &[7u8; 32]);
        assert_eq!(unwrap_ec_point(&[7u8; 32]), &[7u8; 32]);
        let mut der65 = vec![0x04, 0x41, 0x04];
        der65.extend_from_slice(&[1u8; 64]);
        assert_eq!(unwrap_ec_point(&der65).len(), 65);
    }

    #[test]
    fn rv_names() {
        assert_eq!(rv_name(RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(rv_name(RvError::DeviceRemoved), "CKR_DEVICE_REMOVED");
    }

    #[test]
    fn pin_debug_is_redacted() {
        let p = Pin::from_bytes(b"1234").unwrap();
        assert_eq!(format!("{p:?}"), "Pin(<redacted>)");
        assert!(Pin::from_bytes(b"").is_none());
        assert!(Pin::from_bytes(&[0xff]).is_none());
    }
}
