//! Signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes.
//!
//! A checkpoint commits to the log's state: its origin line (the log's
//! name), its tree size and its root hash. The coordinator signs it with its
//! Ed25519 key under the key name equal to the origin ([`CheckpointSigner`]);
//! the offline signer, holding only the public key as a signed-note verifier
//! key string ([`CheckpointVerifier::from_vkey`]), opens the note and gets the
//! checkpoint back ([`CheckpointVerifier::open`]). The body encoding is
//! `tlog_tiles::checkpoint`, the note format and key IDs are `signed_note`;
//! signatures are verified with Ed25519 strict verification.
//!
//! Airlock checkpoints carry no extension lines; a note with any is rejected.
//! Foreign signatures (for example future witness cosignatures) are ignored,
//! but at least one valid signature by the trusted key is required.
//!
//! This module must never accept a checkpoint whose signature it has not
//! verified, never print or expose the private key (the signer's `Debug`
//! shows only the public side), and never panic on any note text.

use std::fmt;

use ed25519_dalek::{SIGNATURE_LENGTH, Signature, SignatureError, SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use signed_note::{Note, NoteError, VerificationError};
use tlog_tiles::checkpoint::Checkpoint as TlogCheckpoint;
use tlog_tiles::tlog::Hash;

use crate::{LogError, LogHash, empty_root};

/// Algorithm byte of Ed25519 keys in signed-note key encodings.
const ALG_ED25519: u8 = 0x01;

/// A checkpoint body: origin line, tree size, root hash
/// (C2SP tlog-checkpoint, without extension lines).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line, also the name of the key that signs it.
    pub origin: String,
    /// Number of leaves in the tree.
    pub size: u64,
    /// Root hash of the tree.
    pub root: LogHash,
}

/// A checkpoint together with its signed-note text (the bytes that travel).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The checkpoint the note signs.
    pub checkpoint: Checkpoint,
    /// The complete signed note: body, blank line, signature line.
    pub note: String,
}

/// Coordinator side: signs checkpoints as C2SP signed notes with an Ed25519
/// key under a key name equal to the log's origin.
pub struct CheckpointSigner {
    origin: String,
    key_id: u32,
    key: SigningKey,
}

/// The public side of a checkpoint key: key name (= origin) and Ed25519
/// public key; to and from the signed-note verifier key string
/// `<name>+<8 hex key ID>+<base64(0x01 || public key)>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointVerifier {
    origin: String,
    key_id: u32,
    key: VerifyingKey,
}

/// Checks that `origin` can be both a checkpoint origin line and a
/// signed-note key name.
fn check_origin(origin: &str) -> Result<(), LogError> {
    if signed_note::is_key_name_valid(origin) && !origin.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(LogError::InvalidOrigin(origin.to_owned()))
    }
}

/// The signed-note key ID of an Ed25519 public key under `name`.
fn ed25519_key_id(name: &str, key: &VerifyingKey) -> u32 {
    let mut encoded = [0u8; 33];
    encoded[0] = ALG_ED25519;
    encoded[1..].copy_from_slice(key.as_bytes());
    signed_note::key_id(name, &encoded)
}

impl CheckpointSigner {
    /// A signer for the log `origin` with the given private key.
    ///
    /// # Errors
    ///
    /// [`LogError::InvalidOrigin`] if `origin` is empty or contains spaces,
    /// `+` or control characters.
    pub fn new(origin: &str, key: SigningKey) -> Result<Self, LogError> {
        check_origin(origin)?;
        Ok(Self {
            origin: origin.to_owned(),
            key_id: ed25519_key_id(origin, &key.verifying_key()),
            key,
        })
    }

    /// A signer for the log `origin` with a fresh key from `rng`.
    ///
    /// # Errors
    ///
    /// As [`CheckpointSigner::new`].
    pub fn generate(origin: &str, rng: &mut impl CryptoRngCore) -> Result<Self, LogError> {
        Self::new(origin, SigningKey::generate(rng))
    }

    /// The log's origin (the key name).
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The public side of this signer's key.
    #[must_use]
    pub fn verifier(&self) -> CheckpointVerifier {
        CheckpointVerifier {
            origin: self.origin.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// Signs the checkpoint (origin, `size`, `root`) and returns it with its
    /// signed note.
    ///
    /// # Errors
    ///
    /// [`LogError::MalformedCheckpoint`] if `size` is 0 and `root` is not
    /// [`empty_root`], or if the note cannot be built or signed.
    pub fn sign(&self, size: u64, root: LogHash) -> Result<SignedCheckpoint, LogError> {
        if size == 0 && root != empty_root() {
            return Err(LogError::MalformedCheckpoint(
                "a tree of size 0 must have the empty root".into(),
            ));
        }
        let body = TlogCheckpoint::new(&self.origin, size, Hash(root), "")
            .map_err(|e| LogError::MalformedCheckpoint(e.to_string()))?
            .to_bytes();
        let mut note =
            Note::new(&body, &[]).map_err(|e| LogError::MalformedCheckpoint(e.to_string()))?;
        note.add_sigs(&[&NoteSigner(self)])
            .map_err(|e| LogError::MalformedCheckpoint(format!("signing failed: {e}")))?;
        let note = String::from_utf8(note.to_bytes())
            .map_err(|_| LogError::MalformedCheckpoint("note is not UTF-8".into()))?;
        Ok(SignedCheckpoint {
            checkpoint: Checkpoint {
                origin: self.origin.clone(),
                size,
                root,
            },
            note,
        })
    }
}

impl fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointSigner")
            .field("vkey", &self.verifier().vkey())
            .finish_non_exhaustive()
    }
}

/// The signer as a `signed_note` signer (kept private so the foreign trait
/// does not become part of this crate's API).
struct NoteSigner<'a>(&'a CheckpointSigner);

impl signed_note::Signer for NoteSigner<'_> {
    fn name(&self) -> &str {
        &self.0.origin
    }

    fn key_id(&self) -> u32 {
        self.0.key_id
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignatureError> {
        use ed25519_dalek::Signer as _;
        Ok(self.0.key.try_sign(msg)?.to_vec())
    }
}

impl CheckpointVerifier {
    /// The verifier for the log `origin` with the given public key.
    ///
    /// # Errors
    ///
    /// [`LogError::InvalidOrigin`] for an unusable origin;
    /// [`LogError::InvalidVerifierKey`] for a weak (small-order) key, under
    /// which signatures would prove nothing.
    pub fn new(origin: &str, key: VerifyingKey) -> Result<Self, LogError> {
        check_origin(origin)?;
        if key.is_weak() {
            return Err(LogError::InvalidVerifierKey(
                "weak (small-order) Ed25519 public key".into(),
            ));
        }
        Ok(Self {
            origin: origin.to_owned(),
            key_id: ed25519_key_id(origin, &key),
            key,
        })
    }

    /// Parses a signed-note verifier key string
    /// `<name>+<8 hex key ID>+<base64(0x01 || public key)>`.
    ///
    /// The string must be exactly what [`CheckpointVerifier::vkey`] would
    /// produce: lowercase hex, canonical base64.
    ///
    /// # Errors
    ///
    /// [`LogError::InvalidVerifierKey`] if the string is malformed, the key
    /// ID does not match, the algorithm is not Ed25519 or the key is weak;
    /// [`LogError::InvalidOrigin`] for an unusable name.
    pub fn from_vkey(s: &str) -> Result<Self, LogError> {
        // Format, name, key ID and algorithm checks are signed_note's.
        signed_note::StandardVerifier::new(s)
            .map_err(|e| LogError::InvalidVerifierKey(e.to_string()))?;
        let malformed = || LogError::InvalidVerifierKey("malformed verifier key".into());
        let mut parts = s.splitn(3, '+');
        let (Some(name), Some(_id), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed());
        };
        let key = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(key_b64)
                .map_err(|_| malformed())?
        };
        let Some((&ALG_ED25519, key)) = key.split_first() else {
            return Err(malformed());
        };
        let key: &[u8; 32] = key.try_into().map_err(|_| malformed())?;
        let key = VerifyingKey::from_bytes(key).map_err(|_| malformed())?;
        let verifier = Self::new(name, key)?;
        if verifier.vkey() != s {
            return Err(LogError::InvalidVerifierKey(
                "non-canonical verifier key encoding".into(),
            ));
        }
        Ok(verifier)
    }

    /// The signed-note verifier key string for this key.
    #[must_use]
    pub fn vkey(&self) -> String {
        signed_note::new_ed25519_verifier_key(&self.origin, &self.key)
    }

    /// The log's origin (the key name).
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The Ed25519 public key.
    #[must_use]
    pub fn public_key(&self) -> VerifyingKey {
        self.key
    }

    /// Verifies a signed checkpoint note and returns its checkpoint.
    ///
    /// # Errors
    ///
    /// - [`LogError::MissingCheckpointSignature`]: the text has no signature
    ///   line at all;
    /// - [`LogError::MalformedCheckpoint`]: not a well-formed signed note, or
    ///   (once the signature is verified) a body that is not a checkpoint
    ///   without extension lines, or a size-0 checkpoint with a root other
    ///   than the empty root;
    /// - [`LogError::UnknownCheckpointKey`]: signed, but not by this key;
    /// - [`LogError::BadCheckpointSignature`]: this key's signature does not
    ///   verify over the text (the text was changed, or it was forged);
    /// - [`LogError::OriginMismatch`]: validly signed by this key, but for
    ///   another origin.
    pub fn open(&self, note_text: &str) -> Result<Checkpoint, LogError> {
        let note = Note::from_bytes(note_text.as_bytes()).map_err(|e| {
            if note_text.contains("\n— ") {
                LogError::MalformedCheckpoint(format!("not a signed note: {e}"))
            } else {
                LogError::MissingCheckpointSignature
            }
        })?;
        note.verify(&TrustedKey(self)).map_err(|e| match e {
            NoteError::UnverifiedNote => LogError::UnknownCheckpointKey,
            NoteError::InvalidSignature { .. } => LogError::BadCheckpointSignature,
            other => LogError::MalformedCheckpoint(other.to_string()),
        })?;
        let body = TlogCheckpoint::from_bytes(note.text())
            .map_err(|e| LogError::MalformedCheckpoint(format!("body: {e}")))?;
        if !body.extension().is_empty() {
            return Err(LogError::MalformedCheckpoint(
                "unexpected extension lines".into(),
            ));
        }
        if body.origin() != self.origin {
            return Err(LogError::OriginMismatch {
                expected: self.origin.clone(),
                found: body.origin().to_owned(),
            });
        }
        let checkpoint = Checkpoint {
            origin: self.origin.clone(),
            size: body.size(),
            root: body.hash().0,
        };
        if checkpoint.size == 0 && checkpoint.root != empty_root() {
            return Err(LogError::MalformedCheckpoint(
                "a tree of size 0 must have the empty root".into(),
            ));
        }
        Ok(checkpoint)
    }
}

/// The verifier as `signed_note`'s one-key verifier list (private, like
/// [`NoteSigner`]). Verification is Ed25519 strict verification.
struct TrustedKey<'a>(&'a CheckpointVerifier);

impl signed_note::Verifier for TrustedKey<'_> {
    fn name(&self) -> &str {
        &self.0.origin
    }

    fn key_id(&self) -> u32 {
        self.0.key_id
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = <&[u8; SIGNATURE_LENGTH]>::try_from(sig) else {
            return false;
        };
        self.0
            .key
            .verify_strict(msg, &Signature::from_bytes(sig))
            .is_ok()
    }
}

impl signed_note::Verifiers for TrustedKey<'_> {
    fn verifier(
        &self,
        name: &str,
        id: u32,
    ) -> Result<&dyn signed_note::Verifier, VerificationError> {
        if name == self.0.origin && id == self.0.key_id {
            Ok(self)
        } else {
            Err(VerificationError::UnknownKey {
                name: name.to_owned(),
                id,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The Go `sumdb/note` example (golang.org/x/mod/sumdb/note, note.go
    // package documentation and example_test.go ExampleSign / ExampleOpen):
    // the private key, its verifier key, and the signed note they produce.
    const GO_SKEY_DATA: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                           then you don't know what your problem is.\n";
    const GO_SIG_LINE: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    fn go_signing_key() -> SigningKey {
        use base64::Engine as _;
        let data = base64::engine::general_purpose::STANDARD
            .decode(GO_SKEY_DATA)
            .unwrap();
        assert_eq!(data[0], ALG_ED25519);
        SigningKey::from_bytes(data[1..].try_into().unwrap())
    }

    #[test]
    fn note_signer_reproduces_go_example_signature() {
        let signer = CheckpointSigner::new("PeterNeumann", go_signing_key()).unwrap();
        assert_eq!(signer.verifier().vkey(), GO_VKEY);
        let mut note = Note::new(GO_TEXT.as_bytes(), &[]).unwrap();
        note.add_sigs(&[&NoteSigner(&signer)]).unwrap();
        assert_eq!(
            String::from_utf8(note.to_bytes()).unwrap(),
            format!("{GO_TEXT}\n{GO_SIG_LINE}")
        );
    }

    #[test]
    fn trusted_key_verifies_go_example_and_rejects_changes() {
        let verifier = CheckpointVerifier::from_vkey(GO_VKEY).unwrap();
        let note = Note::from_bytes(format!("{GO_TEXT}\n{GO_SIG_LINE}").as_bytes()).unwrap();
        let (verified, unverified) = note.verify(&TrustedKey(&verifier)).unwrap();
        assert_eq!(verified.len(), 1);
        assert!(unverified.is_empty());

        let changed = GO_TEXT.replace("problem,", "problem;");
        let note = Note::from_bytes(format!("{changed}\n{GO_SIG_LINE}").as_bytes()).unwrap();
        assert!(matches!(
            note.verify(&TrustedKey(&verifier)),
            Err(NoteError::InvalidSignature { .. })
        ));
    }

    #[test]
    fn signer_debug_does_not_show_the_private_key() {
        let signer = CheckpointSigner::new("PeterNeumann", go_signing_key()).unwrap();
        let shown = format!("{signer:?}");
        assert!(shown.contains(GO_VKEY), "{shown}");
        let seed_b64 = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(go_signing_key().to_bytes())
        };
        assert!(!shown.contains(&seed_b64));
        assert!(!shown.contains(&hex::encode(go_signing_key().to_bytes())));
    }
}
