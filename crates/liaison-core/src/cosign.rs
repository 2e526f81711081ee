//! Cosigned checkpoints and the time of a reply that no single county can forge.
//!
//! Counties cosign each other's log checkpoints in the C2SP `tlog-cosignature/v1` format: a note
//! signature line `— liaison/witness/<county> base64(key ID || u64be(time) || signature)`, where
//! the key ID is the first 4 bytes of SHA-256(name || 0x0A || 0x04 || public key) and the
//! signature is Ed25519 over `cosignature/v1\ntime <time>\n` followed by the checkpoint body. A
//! county cosigns with its signing key, and only a checkpoint that extends the largest one of that
//! log it has seen, so a cosignature says "this log held these leaves no later than `time`, by my
//! clock".
//!
//! A reply's sender proves when the reply existed with an [`ExistenceProof`]: a checkpoint of its
//! own log that includes the reply's leaf, cosigned by other counties. The recipient takes the
//! earliest verifying cosignature time and its own receipt time, whichever is smaller, as the time
//! by which the reply existed ([`existed_by`]); the reply counts from [`reply_time`]. See
//! docs/protocol.md and docs/deadlines.md.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::CountyCode;
use crate::checkpoint::{Checkpoint, SIGNATURE_LINE_PREFIX, open_county_checkpoint};
use crate::merkle::{Hash, verify_inclusion};
use crate::notice::{NodeKey, SignedNotice};
use crate::tlog::LeafKind;
use crate::trust::PeerKey;

/// The signature type byte of Ed25519 cosignatures (c2sp.org/tlog-cosignature).
pub const COSIGNATURE_TYPE: u8 = 0x04;
/// A county's cosigner name is this prefix followed by its county code.
pub const COSIGNER_PREFIX: &str = "liaison/witness/";
/// How far a reply's issued-at may lie before the time other counties vouch for, and still count:
/// five minutes, for clocks that disagree a little and for the time a reply takes to be cosigned
/// or delivered. A protocol constant, so that both counties and every auditor judge alike.
pub const REPLY_TIME_SKEW_MS: i64 = 5 * 60 * 1000;

/// The cosigner name of a county: `liaison/witness/<code>`.
pub fn cosigner_name(county: CountyCode) -> String {
    format!("{COSIGNER_PREFIX}{county}")
}

/// The county a cosigner name belongs to, if it is a liaison cosigner name.
pub fn county_of_cosigner(name: &str) -> Option<CountyCode> {
    CountyCode::parse(name.strip_prefix(COSIGNER_PREFIX)?).ok()
}

/// SHA-256(name || 0x0A || 0x04 || public key)[:4], big-endian.
pub fn cosigner_key_id(name: &str, key: &VerifyingKey) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', COSIGNATURE_TYPE]);
    h.update(key.as_bytes());
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// The message a cosignature signs: `cosignature/v1\ntime <time>\n` then the checkpoint body.
pub fn cosigned_message(time_s: u64, checkpoint_body: &str) -> String {
    format!("cosignature/v1\ntime {time_s}\n{checkpoint_body}")
}

/// The cosignature line (ending in a newline) by `county`'s `key` of a checkpoint, at `time_s`
/// (Unix seconds).
pub fn cosign(checkpoint: &Checkpoint, county: CountyCode, key: &NodeKey, time_s: u64) -> String {
    let name = cosigner_name(county);
    let signature = key.sign(
        b"",
        cosigned_message(time_s, &checkpoint.to_body()).as_bytes(),
    );
    let mut bytes = Vec::with_capacity(4 + 8 + 64);
    bytes.extend_from_slice(&cosigner_key_id(&name, &key.verifying_key()).to_be_bytes());
    bytes.extend_from_slice(&time_s.to_be_bytes());
    bytes.extend_from_slice(&signature);
    format!("{SIGNATURE_LINE_PREFIX}{name} {}\n", STANDARD.encode(bytes))
}

/// One cosignature line, parsed but not verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    pub county: CountyCode,
    pub key_id: u32,
    /// Unix seconds.
    pub time_s: u64,
    pub signature: [u8; 64],
}

impl Cosignature {
    /// Parses a signature line (without its newline); `None` if it is not a liaison cosignature.
    pub fn parse_line(line: &str) -> Option<Self> {
        let (name, encoded) = line.strip_prefix(SIGNATURE_LINE_PREFIX)?.split_once(' ')?;
        let county = county_of_cosigner(name)?;
        let bytes = STANDARD.decode(encoded).ok()?;
        if bytes.len() != 4 + 8 + 64 {
            return None;
        }
        let time_s = u64::from_be_bytes(bytes[4..12].try_into().ok()?);
        if time_s > i64::MAX as u64 / 1000 {
            return None;
        }
        Some(Self {
            county,
            key_id: u32::from_be_bytes(bytes[..4].try_into().ok()?),
            time_s,
            signature: bytes[12..].try_into().ok()?,
        })
    }

    /// The cosignature's time in Unix milliseconds.
    pub fn time_ms(&self) -> i64 {
        self.time_s as i64 * 1000
    }

    /// Whether `key` made this cosignature of the checkpoint with body `checkpoint_body`.
    pub fn verifies(&self, checkpoint_body: &str, key: &VerifyingKey) -> bool {
        cosigner_key_id(&cosigner_name(self.county), key) == self.key_id
            && key
                .verify_strict(
                    cosigned_message(self.time_s, checkpoint_body).as_bytes(),
                    &Signature::from_bytes(&self.signature),
                )
                .is_ok()
    }
}

/// The cosignature lines of a signed note (those of liaison cosigners), in order.
pub fn cosignatures(note: &str) -> Vec<Cosignature> {
    let Some(split) = note.rfind("\n\n") else {
        return Vec::new();
    };
    note[split + 2..]
        .lines()
        .filter_map(Cosignature::parse_line)
        .collect()
}

/// The time a reply counts from (复函时间): its own signed issued-at, unless the earliest time
/// other counties vouch for (`existed_by_ms`) lies more than [`REPLY_TIME_SKEW_MS`] after it —
/// then that time less the skew. A reply is on time when this is before its due time.
pub fn reply_time(issued_at_ms: i64, existed_by_ms: i64) -> i64 {
    issued_at_ms.max(existed_by_ms.saturating_sub(REPLY_TIME_SKEW_MS))
}

/// An existence proof as carried in a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistenceProof {
    /// The sender's signed checkpoint with cosignature lines.
    pub checkpoint: String,
    pub leaf_index: u64,
    /// When the sender logged the envelope's leaf (the leaf commits to it).
    pub logged_at_ms: i64,
    pub inclusion_proof: Vec<Hash>,
}

/// Why an existence proof proves nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the checkpoint is not signed by the sender: {0}")]
    Checkpoint(String),
    #[error("the envelope is not in the checkpoint's tree: {0}")]
    Inclusion(String),
    #[error("no cosignature by another county verifies")]
    NoCosignature,
}

/// The earliest time (Unix ms) at which a county other than the notice's sender vouches that the
/// notice was in the sender's log, by `proof`. `keys_of` gives a county's keys (with their validity
/// windows): the sender's open its checkpoint; a cosigning county's count only if the cosignature
/// was made while the key was valid.
pub fn existed_by(
    proof: &ExistenceProof,
    notice: &SignedNotice,
    keys_of: impl Fn(CountyCode) -> Vec<PeerKey>,
) -> Result<i64, ProofError> {
    let sender = notice.header.sender;
    let sender_keys = keys_of(sender);
    let checkpoint = open_county_checkpoint(
        sender,
        sender_keys.iter().map(|k| &k.key),
        &proof.checkpoint,
    )
    .map_err(|e| ProofError::Checkpoint(e.to_string()))?;
    verify_inclusion(
        &notice.leaf(LeafKind::SentNotice, proof.logged_at_ms).hash(),
        proof.leaf_index,
        checkpoint.size,
        &proof.inclusion_proof,
        &checkpoint.root,
    )
    .map_err(|e| ProofError::Inclusion(e.to_string()))?;
    let body = checkpoint.to_body();
    cosignatures(&proof.checkpoint)
        .into_iter()
        .filter(|c| c.county != notice.header.sender)
        .filter(|c| {
            keys_of(c.county)
                .iter()
                .any(|k| k.valid_at(c.time_ms()) && c.verifies(&body, &k.key))
        })
        .map(|c| c.time_ms())
        .min()
        .ok_or(ProofError::NoCosignature)
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;
    use crate::checkpoint::{NoteSigner, sign_checkpoint};
    use crate::merkle::{MemoryTree, inclusion_proof};

    fn key(seed: u8) -> NodeKey {
        NodeKey::new(SigningKey::from_bytes(&[seed; 32]))
    }

    fn code(text: &str) -> CountyCode {
        CountyCode::parse(text).unwrap()
    }

    #[test]
    fn a_cosignature_line_has_the_c2sp_layout_and_verifies_only_for_its_body_and_key() {
        let checkpoint = Checkpoint::new("liaison/county/610602", 5, [7; 32]);
        let line = cosign(&checkpoint, code("610621"), &key(3), 1_780_000_000);
        assert!(line.starts_with("\u{2014} liaison/witness/610621 "));
        let parsed = Cosignature::parse_line(line.trim_end()).unwrap();
        assert_eq!(parsed.county, code("610621"));
        assert_eq!(parsed.time_s, 1_780_000_000);
        let body = checkpoint.to_body();
        assert!(parsed.verifies(&body, &key(3).verifying_key()));
        assert!(!parsed.verifies(&body, &key(4).verifying_key()));
        let other = Checkpoint::new("liaison/county/610602", 6, [7; 32]).to_body();
        assert!(!parsed.verifies(&other, &key(3).verifying_key()));
        let mut later = parsed.clone();
        later.time_s += 1;
        assert!(!later.verifies(&body, &key(3).verifying_key()));
    }

    /// The worked example of docs/protocol.md (Cosignatures), byte for byte.
    #[test]
    fn the_documented_cosignature_example_is_what_this_code_signs() {
        let key = key(3);
        assert_eq!(
            hex::encode(key.verifying_key().as_bytes()),
            "ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1"
        );
        assert_eq!(
            cosigner_key_id("liaison/witness/610621", &key.verifying_key()),
            0xc4ab_0e58
        );
        let checkpoint = Checkpoint::new("liaison/county/610602", 5, [7; 32]);
        assert_eq!(
            cosigned_message(1_780_000_000, &checkpoint.to_body()),
            "cosignature/v1\ntime 1780000000\nliaison/county/610602\n5\n\
             BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n"
        );
        assert_eq!(
            cosign(&checkpoint, code("610621"), &key, 1_780_000_000),
            "\u{2014} liaison/witness/610621 xKsOWAAAAABqGKUAJVGBjOrUS5sxDqkWB/DUU2aM0b0YkyqS5QDecuo\
             +4BMnVMBxEaUFNqYaCpZ0quFoAJg4O0ynyhdnAbr0GshDCw==\n"
        );
    }

    #[test]
    fn the_reply_time_is_the_issued_at_unless_other_counties_saw_it_later_than_the_skew() {
        let t = 1_780_000_000_000;
        assert_eq!(reply_time(t, t), t);
        assert_eq!(reply_time(t, t + REPLY_TIME_SKEW_MS), t);
        assert_eq!(reply_time(t, t + REPLY_TIME_SKEW_MS + 1), t + 1);
        assert_eq!(
            reply_time(t, t + 3 * 86_400_000),
            t + 3 * 86_400_000 - REPLY_TIME_SKEW_MS
        );
        assert_eq!(reply_time(t, t - 10), t);
    }

    /// A log of the sender 610602 holding `notice` at leaf 2 of 4, signed and cosigned.
    fn proof_for(notice: &SignedNotice, cosigners: &[(&str, u8, u64)]) -> ExistenceProof {
        let leaves = vec![
            [1; 32],
            [2; 32],
            notice.leaf(LeafKind::SentNotice, 1_780_000_000_000).hash(),
            [4; 32],
        ];
        let tree = MemoryTree::new(leaves);
        let root = crate::merkle::root(&tree, 4).unwrap();
        let checkpoint = Checkpoint::new("liaison/county/610602", 4, root);
        let sender_key = key(1);
        let signer = NoteSigner::for_county(code("610602"), &sender_key).unwrap();
        let mut note = sign_checkpoint(&checkpoint, &signer).unwrap();
        for (county, seed, time) in cosigners {
            note.push_str(&cosign(&checkpoint, code(county), &key(*seed), *time));
        }
        ExistenceProof {
            checkpoint: note,
            leaf_index: 2,
            logged_at_ms: 1_780_000_000_000,
            inclusion_proof: inclusion_proof(&tree, 2, 4).unwrap(),
        }
    }

    fn notice() -> SignedNotice {
        use crate::notice::Outgoing;
        SignedNotice::sign(
            &key(1),
            Outgoing {
                id: crate::NoticeId::parse("019e7044-8800-7707-8707-070707070707").unwrap(),
                sender: code("610602"),
                recipient: code("610603"),
                kind: crate::NoticeKind::ReplyLetter,
                urgent: false,
                issued_at_ms: 1_780_000_000_000,
                in_reply_to: Some(
                    crate::NoticeId::parse("019e7044-8800-7707-8707-070707070708").unwrap(),
                ),
            },
            b"reply".to_vec(),
        )
    }

    fn keys(county: CountyCode) -> Vec<PeerKey> {
        let seed = match county.to_string().as_str() {
            "610602" => 1,
            "610603" => 2,
            "610621" => 3,
            _ => return Vec::new(),
        };
        vec![PeerKey {
            key: key(seed).verifying_key(),
            valid_from_ms: 0,
            valid_until_ms: Some(1_790_000_000_000),
        }]
    }

    #[test]
    fn an_existence_proof_gives_the_earliest_cosignature_of_another_county() {
        let n = notice();
        let proof = proof_for(
            &n,
            &[("610603", 2, 1_780_000_500), ("610621", 3, 1_780_000_100)],
        );
        assert_eq!(existed_by(&proof, &n, keys), Ok(1_780_000_100_000));
    }

    #[test]
    fn the_senders_own_cosignature_and_forged_or_expired_ones_prove_nothing() {
        let n = notice();
        // By the sender itself.
        let own = proof_for(&n, &[("610602", 1, 1_780_000_100)]);
        assert_eq!(existed_by(&own, &n, keys), Err(ProofError::NoCosignature));
        // Made with a key that is not 610621's.
        let forged = proof_for(&n, &[("610621", 9, 1_780_000_100)]);
        assert_eq!(
            existed_by(&forged, &n, keys),
            Err(ProofError::NoCosignature)
        );
        // Dated after the cosigner's key was retired.
        let late = proof_for(&n, &[("610621", 3, 1_790_000_000)]);
        assert_eq!(existed_by(&late, &n, keys), Err(ProofError::NoCosignature));
        // The forged one is skipped; the honest one counts.
        let mixed = proof_for(
            &n,
            &[("610621", 9, 1_700_000_000), ("610603", 2, 1_780_000_200)],
        );
        assert_eq!(existed_by(&mixed, &n, keys), Ok(1_780_000_200_000));
    }

    #[test]
    fn a_proof_for_another_leaf_or_time_or_an_unsigned_checkpoint_proves_nothing() {
        let n = notice();
        let mut wrong_leaf = proof_for(&n, &[("610621", 3, 1_780_000_100)]);
        wrong_leaf.leaf_index = 1;
        assert!(matches!(
            existed_by(&wrong_leaf, &n, keys),
            Err(ProofError::Inclusion(_))
        ));
        let mut wrong_time = proof_for(&n, &[("610621", 3, 1_780_000_100)]);
        wrong_time.logged_at_ms -= 1;
        assert!(matches!(
            existed_by(&wrong_time, &n, keys),
            Err(ProofError::Inclusion(_))
        ));
        let mut unsigned = proof_for(&n, &[("610621", 3, 1_780_000_100)]);
        unsigned.checkpoint = unsigned.checkpoint.replacen("\n4\n", "\n5\n", 1);
        assert!(matches!(
            existed_by(&unsigned, &n, keys),
            Err(ProofError::Checkpoint(_))
        ));
    }
}
