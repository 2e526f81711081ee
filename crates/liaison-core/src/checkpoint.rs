//! Signed checkpoints: C2SP tlog-checkpoint bodies carried in C2SP signed notes with Ed25519 note keys.
//!
//! A checkpoint body is `<origin>\n<tree size>\n<base64 root>\n` followed by optional extension
//! lines (c2sp.org/tlog-checkpoint). A signed note is the body, a blank line, and signature lines
//! `— <key name> <base64(key ID || signature)>\n` (c2sp.org/signed-note). An Ed25519 note key's
//! ID is the first 4 bytes, big-endian, of SHA-256(key name || 0x0A || 0x01 || public key), and
//! it signs the note text (the body with its final newline) as is. Verifier keys have the text form
//! `<name>+<8 hex digits of key ID>+<base64(0x01 || public key)>` of golang.org/x/mod/sumdb/note,
//! so standard transparency-log tools can read and check liaison checkpoints.
//!
//! A liaison log's origin, and the name of the key that signs its checkpoints, is
//! [`origin_for`] its county, e.g. `liaison/county/610602`.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::CountyCode;
use crate::merkle::Hash;
use crate::notice::NodeKey;

/// The origin of a county's log is this prefix followed by the county code.
pub const ORIGIN_PREFIX: &str = "liaison/county/";
/// Every signature line starts with an em dash (U+2014) and a space.
pub const SIGNATURE_LINE_PREFIX: &str = "\u{2014} ";
/// The signature type byte of Ed25519 note keys (c2sp.org/signed-note).
pub const ED25519_SIGNATURE_TYPE: u8 = 0x01;
/// At most this many signature lines are read from a note (the spec requires at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// The origin line, and note key name, of a county's log: `liaison/county/<code>`.
pub fn origin_for(county: CountyCode) -> String {
    format!("{ORIGIN_PREFIX}{county}")
}

/// The county whose log an origin names, if it is a liaison origin.
pub fn county_of_origin(origin: &str) -> Option<CountyCode> {
    CountyCode::parse(origin.strip_prefix(ORIGIN_PREFIX)?).ok()
}

/// A tree head in the C2SP tlog-checkpoint format.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    /// Names the log, e.g. `liaison/county/610602`.
    pub origin: String,
    /// The number of leaves in the tree.
    pub size: u64,
    /// The RFC 6962 root of the tree.
    pub root: Hash,
    /// Opaque lines after the root; liaison writes none.
    pub extensions: Vec<String>,
}

/// Why a text is not a checkpoint body, or a signed checkpoint cannot be made or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("the checkpoint does not end with a newline")]
    MissingFinalNewline,
    #[error("the checkpoint has {0} line(s); it needs at least 3: origin, tree size and root hash")]
    TooFewLines(usize),
    #[error("the checkpoint's origin (line 1) is empty")]
    EmptyOrigin,
    #[error(
        "the checkpoint's tree size (line 2) {0:?} is not a decimal number without leading zeros below 2^64"
    )]
    BadSize(String),
    #[error("the checkpoint's root hash (line 3) {0:?} is not standard padded base64 of 32 bytes")]
    BadRoot(String),
    #[error("the checkpoint's extension line {line} is empty")]
    EmptyExtension { line: usize },
    #[error(
        "the checkpoint contains the control character U+{0:04X}; only newlines may end its lines"
    )]
    ControlCharacter(u32),
    #[error("line {line} of the checkpoint would hold a newline and so become two lines")]
    NewlineInLine { line: usize },
    #[error("the checkpoint's origin {origin:?} is not the signing key's name {key_name:?}")]
    OriginMismatch { origin: String, key_name: String },
    #[error(transparent)]
    Note(#[from] NoteError),
    #[error(transparent)]
    KeyName(#[from] NoteKeyError),
    #[error("{0} has no signing keys in the directory")]
    NoKeys(CountyCode),
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Self {
        Self {
            origin: origin.into(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The note text: origin, size in decimal and root in standard base64, each on its own line,
    /// then the extension lines.
    pub fn to_body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for line in &self.extensions {
            body.push_str(line);
            body.push('\n');
        }
        body
    }

    /// Parses a note text strictly: at least three lines, each ending in a newline; a non-empty
    /// origin; the size in decimal without leading zeros; the root as padded standard base64 of
    /// exactly 32 bytes; non-empty extension lines; no control characters but newlines.
    pub fn parse_body(text: &str) -> Result<Self, CheckpointError> {
        if let Some(c) = first_control_character(text) {
            return Err(CheckpointError::ControlCharacter(c));
        }
        let lines = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::MissingFinalNewline)?;
        let lines: Vec<&str> = lines.split('\n').collect();
        if lines.len() < 3 {
            return Err(CheckpointError::TooFewLines(lines.len()));
        }
        let origin = lines[0];
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        let size = parse_size(lines[1]).ok_or_else(|| CheckpointError::BadSize(lines[1].into()))?;
        let root = parse_root(lines[2]).ok_or_else(|| CheckpointError::BadRoot(lines[2].into()))?;
        let mut extensions = Vec::with_capacity(lines.len() - 3);
        for (i, line) in lines.iter().enumerate().skip(3) {
            if line.is_empty() {
                return Err(CheckpointError::EmptyExtension { line: i + 1 });
            }
            extensions.push((*line).to_owned());
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// Checks that [`Checkpoint::to_body`] writes a body that parses back to this checkpoint: the
    /// origin and extension lines are non-empty and hold no newline or other control character.
    pub fn validate(&self) -> Result<(), CheckpointError> {
        if self.origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        let lines = std::iter::once((1, &self.origin)).chain((4..).zip(&self.extensions));
        for (line, text) in lines {
            if text.is_empty() {
                return Err(CheckpointError::EmptyExtension { line });
            }
            if text.contains('\n') {
                return Err(CheckpointError::NewlineInLine { line });
            }
            if let Some(c) = first_control_character(text) {
                return Err(CheckpointError::ControlCharacter(c));
            }
        }
        Ok(())
    }
}

fn parse_size(text: &str) -> Option<u64> {
    if text.is_empty()
        || !text.bytes().all(|b| b.is_ascii_digit())
        || (text.len() > 1 && text.starts_with('0'))
    {
        return None;
    }
    text.parse().ok()
}

fn parse_root(text: &str) -> Option<Hash> {
    // The standard engine requires canonical padding and zero trailing bits.
    STANDARD.decode(text).ok()?.try_into().ok()
}

/// The first character below U+0020 other than a newline.
fn first_control_character(text: &str) -> Option<u32> {
    text.chars()
        .find(|&c| c < '\u{20}' && c != '\n')
        .map(u32::from)
}

/// Why a text is not a valid note verifier key or key name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteKeyError {
    #[error(
        "{0:?} is not a note key name: it must be non-empty and hold no spaces, '+' or control characters"
    )]
    BadName(String),
    #[error("{0:?} is not a verifier key: expected <name>+<8 hex digits>+<base64 key>")]
    Malformed(String),
    #[error("the key ID {0:?} is not 8 lowercase hex digits")]
    BadKeyId(String),
    #[error("the key {0:?} is not standard padded base64")]
    BadBase64(String),
    #[error("the verifier key's ID {stated:08x} is not the ID {computed:08x} of its name and key")]
    KeyIdMismatch { stated: u32, computed: u32 },
    #[error("signature type {0:#04x} is not supported; only Ed25519 (0x01) is")]
    UnknownAlgorithm(u8),
    #[error("an Ed25519 public key is 32 bytes, not {0}")]
    BadKeyLength(usize),
    #[error("the 32 bytes are not an Ed25519 public key")]
    InvalidPublicKey,
    #[error("the Ed25519 public key has small order and cannot be trusted")]
    WeakKey,
}

/// Whether a key name is valid: non-empty, without Unicode spaces or '+' (c2sp.org/signed-note),
/// and without control characters (which no note may hold).
fn valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

/// SHA-256(name || 0x0A || 0x01 || public key)[:4], big-endian.
fn ed25519_key_id(name: &str, key: &VerifyingKey) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([ED25519_SIGNATURE_TYPE]);
    hasher.update(key.as_bytes());
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// A named Ed25519 note key that checks signatures in notes.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifierKey {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl NoteVerifierKey {
    /// The verifier key for a public key under a name.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, NoteKeyError> {
        if !valid_key_name(name) {
            return Err(NoteKeyError::BadName(name.to_owned()));
        }
        if key.is_weak() {
            return Err(NoteKeyError::WeakKey);
        }
        Ok(Self {
            name: name.to_owned(),
            id: ed25519_key_id(name, &key),
            key,
        })
    }

    /// The key that signs a county's checkpoints: named [`origin_for`] the county.
    pub fn for_county(county: CountyCode, key: VerifyingKey) -> Result<Self, NoteKeyError> {
        Self::new(&origin_for(county), key)
    }

    /// Parses `<name>+<key ID as 8 lowercase hex digits>+<base64(0x01 || 32-byte public key)>`,
    /// checking the key ID against the name and key.
    pub fn parse(text: &str) -> Result<Self, NoteKeyError> {
        let malformed = || NoteKeyError::Malformed(text.to_owned());
        let (name, rest) = text.split_once('+').ok_or_else(malformed)?;
        let (id_hex, key_base64) = rest.split_once('+').ok_or_else(malformed)?;
        if !valid_key_name(name) {
            return Err(NoteKeyError::BadName(name.to_owned()));
        }
        if id_hex.len() != 8
            || !id_hex
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(NoteKeyError::BadKeyId(id_hex.to_owned()));
        }
        let stated = u32::from_str_radix(id_hex, 16)
            .map_err(|_| NoteKeyError::BadKeyId(id_hex.to_owned()))?;
        let key = STANDARD
            .decode(key_base64)
            .map_err(|_| NoteKeyError::BadBase64(key_base64.to_owned()))?;
        let Some((&algorithm, public)) = key.split_first() else {
            return Err(NoteKeyError::BadBase64(key_base64.to_owned()));
        };
        let mut hasher = Sha256::new();
        hasher.update(name.as_bytes());
        hasher.update(b"\n");
        hasher.update(&key);
        let digest = hasher.finalize();
        let computed = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        if computed != stated {
            return Err(NoteKeyError::KeyIdMismatch { stated, computed });
        }
        if algorithm != ED25519_SIGNATURE_TYPE {
            return Err(NoteKeyError::UnknownAlgorithm(algorithm));
        }
        let public: [u8; 32] = public
            .try_into()
            .map_err(|_| NoteKeyError::BadKeyLength(public.len()))?;
        let key = VerifyingKey::from_bytes(&public).map_err(|_| NoteKeyError::InvalidPublicKey)?;
        Self::new(name, key)
    }

    /// The key name signature lines carry.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 32-bit key ID that starts each of this key's signatures.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The Ed25519 public key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// `<name>+<key ID>`, as errors name a key.
    fn label(&self) -> String {
        format!("{}+{:08x}", self.name, self.id)
    }
}

impl fmt::Display for NoteVerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut key = Vec::with_capacity(33);
        key.push(ED25519_SIGNATURE_TYPE);
        key.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.id, STANDARD.encode(key))
    }
}

impl fmt::Debug for NoteVerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteVerifierKey({self})")
    }
}

impl FromStr for NoteVerifierKey {
    type Err = NoteKeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A node key that signs notes under a key name.
pub struct NoteSigner<'a> {
    name: String,
    id: u32,
    key: &'a NodeKey,
}

impl fmt::Debug for NoteSigner<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteSigner({}+{:08x})", self.name, self.id)
    }
}

impl<'a> NoteSigner<'a> {
    /// A signer for `key` under `name`.
    pub fn new(name: &str, key: &'a NodeKey) -> Result<Self, NoteKeyError> {
        let verifier = NoteVerifierKey::new(name, key.verifying_key())?;
        Ok(Self {
            name: verifier.name,
            id: verifier.id,
            key,
        })
    }

    /// The signer of a county's checkpoints: named [`origin_for`] the county.
    pub fn for_county(county: CountyCode, key: &'a NodeKey) -> Result<Self, NoteKeyError> {
        Self::new(&origin_for(county), key)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 32-bit key ID.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The verifier key to publish for this signer.
    pub fn verifier_key(&self) -> NoteVerifierKey {
        NoteVerifierKey {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
    }
}

/// Why a note cannot be signed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("the note contains the control character U+{0:04X}; only newlines are allowed")]
    ControlCharacter(u32),
    #[error("the note text is empty or does not end with a newline")]
    TextMissingFinalNewline,
    #[error("the note has no blank line before its signature lines")]
    NoSignatureBlock,
    #[error("the note has no signature lines after its blank line")]
    NoSignatures,
    #[error("the note's last signature line does not end with a newline")]
    MissingFinalNewline,
    #[error("signature line {line} of the note {problem}")]
    BadSignatureLine { line: usize, problem: &'static str },
    #[error("the note has more than {MAX_SIGNATURES} signature lines")]
    TooManySignatures,
    #[error("the signature by key {key} does not verify")]
    InvalidSignature { key: String },
    #[error("the note has no signature by key {key}")]
    NotSignedByKey { key: String },
}

/// Signs a note text (which must end with a newline) and returns the signed note: the text, a
/// blank line and the signer's signature line.
pub fn sign_note(text: &str, signer: &NoteSigner<'_>) -> Result<String, NoteError> {
    if let Some(c) = first_control_character(text) {
        return Err(NoteError::ControlCharacter(c));
    }
    if !text.ends_with('\n') {
        return Err(NoteError::TextMissingFinalNewline);
    }
    let signature = signer.key.sign(b"", text.as_bytes());
    let mut bytes = Vec::with_capacity(4 + 64);
    bytes.extend_from_slice(&signer.id.to_be_bytes());
    bytes.extend_from_slice(&signature);
    Ok(format!(
        "{text}\n{SIGNATURE_LINE_PREFIX}{} {}\n",
        signer.name,
        STANDARD.encode(bytes)
    ))
}

/// Opens a signed note and returns its text, which `verifier` must have signed.
///
/// Signature lines of other keys (another name or key ID) are ignored, as c2sp.org/signed-note
/// requires. Every line of `verifier`'s key must verify (strict Ed25519), else the whole note is
/// refused.
pub fn open_note<'n>(note: &'n str, verifier: &NoteVerifierKey) -> Result<&'n str, NoteError> {
    if let Some(c) = first_control_character(note) {
        return Err(NoteError::ControlCharacter(c));
    }
    let split = note.rfind("\n\n").ok_or(NoteError::NoSignatureBlock)?;
    let (text, signatures) = (&note[..split + 1], &note[split + 2..]);
    if signatures.is_empty() {
        return Err(NoteError::NoSignatures);
    }
    let signatures = signatures
        .strip_suffix('\n')
        .ok_or(NoteError::MissingFinalNewline)?;
    let mut verified = false;
    for (i, line) in signatures.split('\n').enumerate() {
        if i >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        let bad = |problem| NoteError::BadSignatureLine {
            line: i + 1,
            problem,
        };
        let rest = line
            .strip_prefix(SIGNATURE_LINE_PREFIX)
            .ok_or(bad("does not start with an em dash and a space"))?;
        let (name, encoded) = rest
            .split_once(' ')
            .ok_or(bad("has no space between key name and signature"))?;
        if !valid_key_name(name) {
            return Err(bad("has an empty key name or one with a space or '+'"));
        }
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| bad("has a signature that is not standard padded base64"))?;
        if bytes.len() < 5 {
            return Err(bad("has a signature shorter than a key ID and one byte"));
        }
        let id = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if name != verifier.name || id != verifier.id {
            continue;
        }
        let invalid = || NoteError::InvalidSignature {
            key: verifier.label(),
        };
        let signature: [u8; 64] = bytes[4..].try_into().map_err(|_| invalid())?;
        verifier
            .key
            .verify_strict(text.as_bytes(), &Signature::from_bytes(&signature))
            .map_err(|_| invalid())?;
        verified = true;
    }
    if !verified {
        return Err(NoteError::NotSignedByKey {
            key: verifier.label(),
        });
    }
    Ok(text)
}

/// Signs a checkpoint as a signed note. The signer's key name must be the checkpoint's origin.
pub fn sign_checkpoint(
    checkpoint: &Checkpoint,
    signer: &NoteSigner<'_>,
) -> Result<String, CheckpointError> {
    checkpoint.validate()?;
    if checkpoint.origin != signer.name {
        return Err(CheckpointError::OriginMismatch {
            origin: checkpoint.origin.clone(),
            key_name: signer.name.clone(),
        });
    }
    Ok(sign_note(&checkpoint.to_body(), signer)?)
}

/// Opens a signed checkpoint: `verifier` must have signed it (see [`open_note`]), the text must be a
/// valid checkpoint body, and its origin must be the verifier's key name, as liaison logs are
/// signed under their own origin. To read checkpoints of other logs, whose key names may differ
/// from their origins, use [`open_note`] and [`Checkpoint::parse_body`].
pub fn open_signed_checkpoint(
    note: &str,
    verifier: &NoteVerifierKey,
) -> Result<Checkpoint, CheckpointError> {
    let text = open_note(note, verifier)?;
    let checkpoint = Checkpoint::parse_body(text)?;
    if checkpoint.origin != verifier.name {
        return Err(CheckpointError::OriginMismatch {
            origin: checkpoint.origin,
            key_name: verifier.name.clone(),
        });
    }
    Ok(checkpoint)
}

/// Opens a signed checkpoint of `county`'s log with whichever of `keys` signed it; otherwise the
/// error of the last key tried.
pub fn open_county_checkpoint<'k>(
    county: CountyCode,
    keys: impl IntoIterator<Item = &'k VerifyingKey>,
    note: &str,
) -> Result<Checkpoint, CheckpointError> {
    let mut last_error = CheckpointError::NoKeys(county);
    for key in keys {
        match open_signed_checkpoint(note, &NoteVerifierKey::for_county(county, *key)?) {
            Ok(checkpoint) => return Ok(checkpoint),
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;
    use crate::merkle::{CompactRange, leaf_hash};

    fn key(seed: u8) -> NodeKey {
        NodeKey::new(SigningKey::from_bytes(&[seed; 32]))
    }

    fn county() -> CountyCode {
        CountyCode::parse("610602").unwrap()
    }

    fn checkpoint() -> Checkpoint {
        let mut range = CompactRange::new();
        for i in 0..5u8 {
            range.append(leaf_hash(&[i])).unwrap();
        }
        Checkpoint::new(origin_for(county()), range.size(), range.root())
    }

    /// The node key of a golang.org/x/mod/sumdb/note signer key `PRIVATE+KEY+<name>+<id>+<base64>`.
    fn go_signer_key(skey: &str) -> (String, NodeKey) {
        let parts: Vec<&str> = skey.splitn(5, '+').collect();
        let seed = STANDARD.decode(parts[4]).unwrap();
        assert_eq!(seed[0], ED25519_SIGNATURE_TYPE);
        let seed: [u8; 32] = seed[1..].try_into().unwrap();
        (
            parts[2].to_owned(),
            NodeKey::new(SigningKey::from_bytes(&seed)),
        )
    }

    // golang.org/x/mod sumdb/note/note_test.go.
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const PETER_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    #[test]
    fn body_has_the_checkpoint_layout_and_round_trips() {
        let mut cp = Checkpoint::new("example.com/log42", 20852163, [0xab; 32]);
        assert_eq!(
            cp.to_body(),
            "example.com/log42\n20852163\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n"
        );
        assert_eq!(Checkpoint::parse_body(&cp.to_body()), Ok(cp.clone()));
        cp.extensions = vec!["ext one".into(), "— two".into()];
        assert!(cp.to_body().ends_with("=\next one\n— two\n"));
        assert_eq!(Checkpoint::parse_body(&cp.to_body()), Ok(cp.clone()));
        let empty = Checkpoint::new("o", 0, crate::merkle::empty_root());
        assert_eq!(Checkpoint::parse_body(&empty.to_body()), Ok(empty));

        // The example of c2sp.org/tlog-checkpoint reads and writes back byte for byte.
        let example =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let parsed = Checkpoint::parse_body(example).unwrap();
        assert_eq!(parsed.origin, "example.com/behind-the-sofa");
        assert_eq!(parsed.size, 20852163);
        assert_eq!(parsed.to_body(), example);
    }

    #[test]
    fn malformed_bodies_are_refused_by_rule() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        let body = |origin: &str, size: &str, root: &str| format!("{origin}\n{size}\n{root}\n");
        use CheckpointError as E;
        let cases: Vec<(String, E)> = vec![
            (String::new(), E::MissingFinalNewline),
            (format!("o\n1\n{root}"), E::MissingFinalNewline),
            ("o\n1\n".into(), E::TooFewLines(2)),
            ("\n".into(), E::TooFewLines(1)),
            (body("", "1", root), E::EmptyOrigin),
            (
                format!("{}\n", body("o", "1", root)),
                E::EmptyExtension { line: 4 },
            ),
            (
                format!("{}x\n\ny\n", body("o", "1", root)),
                E::EmptyExtension { line: 5 },
            ),
            (body("o\r", "1", root), E::ControlCharacter(0x0d)),
            (body("o\tp", "1", root), E::ControlCharacter(0x09)),
            (
                body("o", "1", root).replace('\n', "\r\n"),
                E::ControlCharacter(0x0d),
            ),
        ];
        for (text, error) in cases {
            assert_eq!(Checkpoint::parse_body(&text), Err(error), "{text:?}");
        }
        for size in [
            "",
            "01",
            "00",
            "-1",
            "+1",
            " 1",
            "1 ",
            "1_000",
            "1e3",
            "0x10",
            "\u{0661}",
            "18446744073709551616",
        ] {
            assert_eq!(
                Checkpoint::parse_body(&body("o", size, root)),
                Err(E::BadSize(size.into())),
                "{size:?}"
            );
        }
        assert_eq!(
            Checkpoint::parse_body(&body("o", "18446744073709551615", root)).map(|c| c.size),
            Ok(u64::MAX)
        );
        // A root whose standard base64 has both '+' and '/'.
        let plus_slash = STANDARD.encode([0xfb; 32]);
        assert!(plus_slash.contains('+') && plus_slash.contains('/'));
        assert!(Checkpoint::parse_body(&body("o", "0", &plus_slash)).is_ok());
        for bad in [
            String::new(),
            STANDARD.encode([1u8; 31]),
            STANDARD.encode([1u8; 33]),
            root.trim_end_matches('=').to_owned(),
            plus_slash.replace('+', "-").replace('/', "_"),
            format!("{root} "),
            format!(" {root}"),
            // Non-zero trailing bits: not the canonical encoding of any 32 bytes.
            root.replace("2I=", "2J="),
            hex::encode([1u8; 32]),
        ] {
            assert_eq!(
                Checkpoint::parse_body(&body("o", "1", &bad)),
                Err(E::BadRoot(bad.clone())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_checkpoint_that_cannot_be_written_is_not_signed() {
        let k = key(1);
        let signer = NoteSigner::for_county(county(), &k).unwrap();
        let mut cp = checkpoint();
        cp.extensions = vec!["one".into(), "two\nlines".into()];
        assert_eq!(
            sign_checkpoint(&cp, &signer),
            Err(CheckpointError::NewlineInLine { line: 5 })
        );
        cp.extensions = vec![String::new()];
        assert_eq!(
            sign_checkpoint(&cp, &signer),
            Err(CheckpointError::EmptyExtension { line: 4 })
        );
        cp.extensions = vec!["tab\there".into()];
        assert_eq!(
            sign_checkpoint(&cp, &signer),
            Err(CheckpointError::ControlCharacter(9))
        );
        cp.extensions.clear();
        cp.origin = "liaison/county/610602\n7".into();
        assert_eq!(
            cp.validate(),
            Err(CheckpointError::NewlineInLine { line: 1 })
        );
        cp.origin.clear();
        assert_eq!(cp.validate(), Err(CheckpointError::EmptyOrigin));
        let other = Checkpoint::new("liaison/county/610603", 1, [0; 32]);
        assert!(matches!(
            sign_checkpoint(&other, &signer),
            Err(CheckpointError::OriginMismatch { .. })
        ));
    }

    #[test]
    fn a_checkpoint_signed_here_opens_and_has_the_note_layout() {
        let k = key(1);
        let signer = NoteSigner::for_county(county(), &k).unwrap();
        let verifier = signer.verifier_key();
        let cp = checkpoint();
        let note = sign_checkpoint(&cp, &signer).unwrap();
        assert_eq!(open_signed_checkpoint(&note, &verifier), Ok(cp.clone()));

        let prefix = format!("{}\n\u{2014} liaison/county/610602 ", cp.to_body());
        let encoded = note
            .strip_prefix(&prefix)
            .unwrap()
            .strip_suffix('\n')
            .unwrap();
        let bytes = STANDARD.decode(encoded).unwrap();
        assert_eq!(bytes.len(), 68);
        assert_eq!(bytes[..4], verifier.key_id().to_be_bytes());
        let signature: [u8; 64] = bytes[4..].try_into().unwrap();
        assert!(crate::notice::verify_prefixed(
            &k.verifying_key(),
            b"",
            cp.to_body().as_bytes(),
            &signature
        ));

        let parsed = NoteVerifierKey::parse(&verifier.to_string()).unwrap();
        assert_eq!(parsed, verifier);
        assert_eq!(
            NoteVerifierKey::for_county(county(), k.verifying_key()),
            Ok(verifier)
        );
    }

    #[test]
    fn any_flipped_byte_of_the_body_or_signature_is_refused() {
        let k = key(1);
        let signer = NoteSigner::for_county(county(), &k).unwrap();
        let verifier = signer.verifier_key();
        let note = sign_checkpoint(&checkpoint(), &signer).unwrap();
        let body_len = checkpoint().to_body().len();
        for i in 0..body_len {
            let mut bytes = note.clone().into_bytes();
            bytes[i] ^= 0x01;
            let tampered = String::from_utf8(bytes).unwrap();
            assert!(
                open_signed_checkpoint(&tampered, &verifier).is_err(),
                "body byte {i}"
            );
        }
        // Flip each byte of the decoded key ID and signature, then re-encode.
        let line_start = note.rfind(SIGNATURE_LINE_PREFIX).unwrap();
        let (head, line) = note.split_at(line_start);
        let (name_part, encoded) = line.rsplit_once(' ').unwrap();
        let decoded = STANDARD.decode(encoded.trim_end()).unwrap();
        for i in 0..decoded.len() {
            let mut bytes = decoded.clone();
            bytes[i] ^= 0x01;
            let tampered = format!("{head}{name_part} {}\n", STANDARD.encode(&bytes));
            let error = open_signed_checkpoint(&tampered, &verifier).unwrap_err();
            if i < 4 {
                // Another key ID: the line is some other key's and is ignored.
                assert!(
                    matches!(
                        error,
                        CheckpointError::Note(NoteError::NotSignedByKey { .. })
                    ),
                    "{error}"
                );
            } else {
                assert!(
                    matches!(
                        error,
                        CheckpointError::Note(NoteError::InvalidSignature { .. })
                    ),
                    "{error}"
                );
            }
        }
    }

    #[test]
    fn a_note_signed_by_another_key_is_refused() {
        let (k1, k2) = (key(1), key(2));
        let verifier = NoteSigner::for_county(county(), &k1)
            .unwrap()
            .verifier_key();
        let other = NoteSigner::for_county(county(), &k2).unwrap();
        let note = sign_checkpoint(&checkpoint(), &other).unwrap();
        assert_eq!(
            open_signed_checkpoint(&note, &verifier),
            Err(CheckpointError::Note(NoteError::NotSignedByKey {
                key: format!("liaison/county/610602+{:08x}", verifier.key_id())
            }))
        );

        // Another key that claims the right name and key ID does not verify.
        let body = checkpoint().to_body();
        let mut bytes = verifier.key_id().to_be_bytes().to_vec();
        bytes.extend_from_slice(
            &SigningKey::from_bytes(&[2; 32])
                .sign(body.as_bytes())
                .to_bytes(),
        );
        let forged = format!(
            "{body}\n\u{2014} liaison/county/610602 {}\n",
            STANDARD.encode(bytes)
        );
        assert!(matches!(
            open_signed_checkpoint(&forged, &verifier),
            Err(CheckpointError::Note(NoteError::InvalidSignature { .. }))
        ));
    }

    #[test]
    fn signature_lines_of_unknown_keys_are_ignored() {
        let (k1, k2) = (key(1), key(2));
        let signer = NoteSigner::for_county(county(), &k1).unwrap();
        let verifier = signer.verifier_key();
        let note = sign_checkpoint(&checkpoint(), &signer).unwrap();
        let witness = NoteSigner::new("witness.example/w1", &k2).unwrap();
        let witnessed = sign_note(&checkpoint().to_body(), &witness).unwrap();
        let witness_line = &witnessed[witnessed.rfind('\u{2014}').unwrap()..];
        // Same name as the log but another key (as after a key rotation).
        let rotated = NoteSigner::for_county(county(), &k2).unwrap();
        let rotated = sign_note(&checkpoint().to_body(), &rotated).unwrap();
        let rotated_line = &rotated[rotated.rfind('\u{2014}').unwrap()..];
        for extra in [witness_line, rotated_line] {
            let before = note.replace("\n\n\u{2014}", &format!("\n\n{extra}\u{2014}"));
            let after = format!("{note}{extra}");
            for text in [before, after] {
                assert_eq!(text.matches('\u{2014}').count(), 2);
                assert_eq!(open_signed_checkpoint(&text, &verifier), Ok(checkpoint()));
            }
        }
    }

    #[test]
    fn malformed_notes_are_refused_as_go_refuses_them() {
        // The bad messages of golang.org/x/mod sumdb/note TestOpen (less the invalid-UTF-8 one,
        // which a &str cannot hold).
        let verifier = NoteVerifierKey::parse(PETER_VKEY).unwrap();
        let cases = [
            (TEXT.to_owned(), NoteError::NoSignatureBlock),
            (format!("{TEXT}\n"), NoteError::NoSignatures),
            (
                format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
                NoteError::MissingFinalNewline,
            ),
            (
                format!("\x01{TEXT}\n{PETER_SIG}"),
                NoteError::ControlCharacter(1),
            ),
            (
                format!(
                    "{TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
                ),
                NoteError::BadSignatureLine {
                    line: 1,
                    problem: "has a signature that is not standard padded base64",
                },
            ),
            (
                format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
                NoteError::BadSignatureLine {
                    line: 2,
                    problem: "does not start with an em dash and a space",
                },
            ),
            (
                format!(
                    "{TEXT}\n- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
                ),
                NoteError::BadSignatureLine {
                    line: 1,
                    problem: "does not start with an em dash and a space",
                },
            ),
            (
                format!("{TEXT}\n\u{2014} PeterNeumann\n"),
                NoteError::BadSignatureLine {
                    line: 1,
                    problem: "has no space between key name and signature",
                },
            ),
            (
                format!("{TEXT}\n\u{2014} a+b x08go/ZJ\n"),
                NoteError::BadSignatureLine {
                    line: 1,
                    problem: "has an empty key name or one with a space or '+'",
                },
            ),
            (
                format!("{TEXT}\n\u{2014} PeterNeumann AAAA\n"),
                NoteError::BadSignatureLine {
                    line: 1,
                    problem: "has a signature shorter than a key ID and one byte",
                },
            ),
            (
                format!("{TEXT}\n{}", PETER_SIG.repeat(101)),
                NoteError::TooManySignatures,
            ),
        ];
        for (note, error) in cases {
            assert_eq!(open_note(&note, &verifier), Err(error), "{note:?}");
        }
        // A corrupted signature by the known key.
        let corrupted = format!("{TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
        assert_eq!(
            open_note(&corrupted, &verifier),
            Err(NoteError::InvalidSignature {
                key: "PeterNeumann+c74f20a3".into()
            })
        );
    }

    #[test]
    fn the_go_sumdb_note_vectors_open_and_sign_byte_for_byte() {
        let peter = NoteVerifierKey::parse(PETER_VKEY).unwrap();
        assert_eq!(peter.name(), "PeterNeumann");
        assert_eq!(peter.key_id(), 0xc74f20a3);
        assert_eq!(peter.to_string(), PETER_VKEY);
        let enoch: NoteVerifierKey = ENOCH_VKEY.parse().unwrap();

        let note = format!("{TEXT}\n{PETER_SIG}");
        assert_eq!(open_note(&note, &peter), Ok(TEXT));
        let both = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        assert_eq!(open_note(&both, &peter), Ok(TEXT));
        assert_eq!(open_note(&both, &enoch), Ok(TEXT));
        assert!(matches!(
            open_note(&note, &enoch),
            Err(NoteError::NotSignedByKey { .. })
        ));

        // Ed25519 is deterministic: the Go signer key signs the text to the same note.
        let (name, k) = go_signer_key(PETER_SKEY);
        let signer = NoteSigner::new(&name, &k).unwrap();
        assert_eq!(signer.verifier_key().to_string(), PETER_VKEY);
        assert_eq!(sign_note(TEXT, &signer), Ok(note));
    }

    #[test]
    fn go_signer_keys_give_the_published_verifier_keys() {
        // transparency-dev/formats log/note_test.go.
        for (skey, vkey) in [
            (
                "PRIVATE+KEY+Log+2271c621+AdEIq9FLRQni54Wg68T96VJO+iayOaulswav2DUMKgvQ",
                "Log+2271c621+AemuH5ooBpEPcr+W8onrjA1NfuzBVHdezakU81Ekarvs",
            ),
            (
                "PRIVATE+KEY+Known+451c786d+AQPRoE2+Z+Ed1HaHBA9F/FfracvcZ2rDU39kCecMEoci",
                "Known+451c786d+AXAQ0T7lbwuY4ABJ9/MYY9bWV3hmSyOGVt2x42NkmdUH",
            ),
            (
                "PRIVATE+KEY+KnownAgain+4893b26c+ARhZda/l25zjGZswYLDZsLNRzNpmv5wYTN9IoTr1OJ2+",
                "KnownAgain+4893b26c+AQ+LR7BFF/F/dkpIBjBpSvT0crkteizuUkavAoGeaYMj",
            ),
        ] {
            let (name, k) = go_signer_key(skey);
            let signer = NoteSigner::new(&name, &k).unwrap();
            assert_eq!(signer.verifier_key().to_string(), vkey);
            assert_eq!(NoteVerifierKey::parse(vkey), Ok(signer.verifier_key()));
        }
    }

    #[test]
    fn a_go_checksum_database_checkpoint_opens() {
        // transparency-dev/formats log/note_test.go: a checkpoint of sum.golang.org, whose origin
        // is not its key name.
        let verifier = NoteVerifierKey::parse(
            "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8",
        )
        .unwrap();
        let note = "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n\u{2014} sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n";
        let cp = Checkpoint::parse_body(open_note(note, &verifier).unwrap()).unwrap();
        assert_eq!(cp.origin, "go.sum database tree");
        assert_eq!(cp.size, 6476701);
        assert_eq!(
            STANDARD.encode(cp.root),
            "mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk="
        );
        assert!(matches!(
            open_signed_checkpoint(note, &verifier),
            Err(CheckpointError::OriginMismatch { .. })
        ));
        let tampered = note.replace("6476701", "6476702");
        assert!(matches!(
            open_note(&tampered, &verifier),
            Err(NoteError::InvalidSignature { .. })
        ));
    }

    #[test]
    fn verifier_keys_are_parsed_strictly() {
        // Every proper substring and every single-byte change of a valid key is refused, as in
        // golang.org/x/mod sumdb/note TestNewVerifier.
        let bytes = PETER_VKEY.as_bytes();
        for i in 0..=bytes.len() {
            for j in i + 1..=bytes.len() {
                if (i, j) != (0, bytes.len()) {
                    assert!(
                        NoteVerifierKey::parse(&PETER_VKEY[i..j]).is_err(),
                        "{i}..{j}"
                    );
                }
            }
        }
        for i in 0..bytes.len() {
            let mut changed = bytes.to_vec();
            changed[i] += 1;
            let changed = String::from_utf8(changed).unwrap();
            assert!(NoteVerifierKey::parse(&changed).is_err(), "{changed}");
        }
        // Go's wrong-length key: its last base64 group has non-zero trailing bits, which Go's
        // decoder accepts and the strict standard engine refuses.
        assert_eq!(
            NoteVerifierKey::parse(
                "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
            ),
            Err(NoteKeyError::BadBase64(
                "ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==".into()
            ))
        );
        // A canonical key one byte too long, with its key ID adjusted.
        let mut long = vec![ED25519_SIGNATURE_TYPE];
        long.extend_from_slice(&[7; 33]);
        let digest = Sha256::digest([b"PeterNeumann\n".as_slice(), &long].concat());
        let long = format!(
            "PeterNeumann+{}+{}",
            hex::encode(&digest[..4]),
            STANDARD.encode(&long)
        );
        assert_eq!(
            NoteVerifierKey::parse(&long),
            Err(NoteKeyError::BadKeyLength(33))
        );
        assert_eq!(
            NoteVerifierKey::parse(
                "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            ),
            Err(NoteKeyError::UnknownAlgorithm(0x65))
        );
        assert_eq!(
            NoteVerifierKey::parse(&PETER_VKEY.replace("c74f20a3", "C74F20A3")),
            Err(NoteKeyError::BadKeyId("C74F20A3".into()))
        );
        assert!(matches!(
            NoteVerifierKey::parse(&PETER_VKEY.replace("c74f20a3", "c74f20a4")),
            Err(NoteKeyError::KeyIdMismatch { .. })
        ));
    }

    #[test]
    fn key_names_follow_the_note_rules() {
        let k = key(1);
        for bad in ["", "a b", "a+b", "a\u{a0}b", "a\u{3000}b", "a\tb", "a\x01b"] {
            assert_eq!(
                NoteSigner::new(bad, &k).map(|s| s.name().to_owned()),
                Err(NoteKeyError::BadName(bad.into()))
            );
        }
        assert!(NoteSigner::new("liaison/county/610602", &k).is_ok());
        assert!(NoteSigner::new("ünïcode.example/ok", &k).is_ok());
    }

    #[test]
    fn origins_name_counties() {
        assert_eq!(origin_for(county()), "liaison/county/610602");
        assert_eq!(county_of_origin("liaison/county/610602"), Some(county()));
        assert_eq!(county_of_origin("liaison/county/610600"), None);
        assert_eq!(county_of_origin("example.com/610602"), None);
    }

    #[test]
    fn sign_note_needs_a_text_ending_in_a_newline() {
        let k = key(1);
        let signer = NoteSigner::new("n", &k).unwrap();
        assert_eq!(
            sign_note("", &signer),
            Err(NoteError::TextMissingFinalNewline)
        );
        assert_eq!(
            sign_note("abc", &signer),
            Err(NoteError::TextMissingFinalNewline)
        );
        assert_eq!(
            sign_note("a\x00\n", &signer),
            Err(NoteError::ControlCharacter(0))
        );
        let note = sign_note("text\n\nwith a blank line\n", &signer).unwrap();
        assert_eq!(
            open_note(&note, &signer.verifier_key()),
            Ok("text\n\nwith a blank line\n")
        );
    }
}
