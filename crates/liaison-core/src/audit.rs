//! The audit bundle: one self-contained JSON file from which an auditor can check, with nothing but
//! the file, who sent what to whom, when it was received, whether each reply came in time, and that
//! the node's log was only ever appended to. docs/audit-format.md defines every field.
//!
//! Binary fields are standard base64 (with padding); hashes are lowercase hex.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{DuePolicy, NodeKey};

/// The `format` of bundles this version writes and reads.
pub const BUNDLE_FORMAT: &str = "liaison-audit-bundle/1";

/// Prefixed to the claims text before the node signs it, so the signature means nothing else.
pub const CLAIMS_SIGNING_PREFIX: &[u8] = b"liaison/v1/bundle\0";

/// A whole bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// Always [`BUNDLE_FORMAT`].
    pub format: String,
    /// The node whose log this is.
    pub node: BundleNode,
    /// When the bundle was made (Unix ms, by the node's clock).
    pub created_at_ms: i64,
    /// The period asked for: items whose time (receipt time, or issued-at for a notice not yet
    /// delivered) falls in `[from_ms, to_ms)`, and everything else in their leaf range.
    pub from_ms: i64,
    pub to_ms: i64,
    /// When set, only this peer county's notices and receipts are given in full; other leaves of
    /// the range are listed in `omitted`.
    pub peer: Option<String>,
    /// Whether payloads were left out.
    pub redacted: bool,
    /// Every signing key needed: the node's own and its peers', with validity windows.
    pub keys: Vec<BundleKey>,
    /// The reply-deadline rules the node applied.
    pub policy: BundlePolicy,
    /// The rules the city's directory sets for other counties, by which their receipts state
    /// due times; a county not listed is taken to apply `policy`.
    #[serde(default)]
    pub peer_policies: Vec<CountyPolicy>,
    /// The working-day calendars (TOML files, see docs/deadlines.md) the node applied.
    pub calendars: Vec<String>,
    /// The node's signed checkpoint (C2SP signed note) that every inclusion proof refers to.
    pub checkpoint: String,
    /// Earlier checkpoints the node signed, each with a consistency proof to `checkpoint`.
    pub earlier_checkpoints: Vec<EarlierCheckpoint>,
    /// The first and last leaf index covered: every index in between is in `items` or `omitted`.
    pub first_leaf: u64,
    pub last_leaf: u64,
    /// The envelopes and receipts, by leaf index.
    pub items: Vec<BundleItem>,
    /// Leaves in the range that belong to other peers (only when `peer` is set).
    pub omitted: Vec<OmittedLeaf>,
    /// The leaf just before `first_leaf` (absent when `first_leaf` is 0): logged before
    /// `from_ms`, it shows that no leaf of the period lies before the range.
    pub leaf_before: Option<OmittedLeaf>,
    /// The leaf just after `last_leaf` (absent when the checkpoint's tree ends at `last_leaf`):
    /// logged at or after `to_ms`, it shows that no leaf of the period lies after the range.
    pub leaf_after: Option<OmittedLeaf>,
    /// What the bundle claims to be, as the node signed it: [`Bundle::claims_text`].
    pub claims: String,
    /// The node's Ed25519 signature over [`CLAIMS_SIGNING_PREFIX`] ‖ `claims` (base64).
    pub claims_signature: String,
}

impl Bundle {
    /// The bundle's claims, one `name value` line each, as docs/audit-format.md defines them:
    /// what the bundle says it covers, and the checkpoint its proofs refer to.
    pub fn claims_text(&self) -> String {
        format!(
            "format {}\nnode {}\ncreated_at_ms {}\nfrom_ms {}\nto_ms {}\npeer {}\nredacted {}\n\
             first_leaf {}\nlast_leaf {}\ncheckpoint_sha256 {}\n",
            self.format,
            self.node.county,
            self.created_at_ms,
            self.from_ms,
            self.to_ms,
            self.peer.as_deref().unwrap_or("-"),
            self.redacted,
            self.first_leaf,
            self.last_leaf,
            hex::encode(Sha256::digest(self.checkpoint.as_bytes())),
        )
    }

    /// Sets `claims` to the bundle's claims and signs them with the node's key.
    pub fn sign_claims(&mut self, key: &NodeKey) {
        self.claims = self.claims_text();
        self.claims_signature = B64.encode(key.sign(CLAIMS_SIGNING_PREFIX, self.claims.as_bytes()));
    }
}

/// The node that made the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleNode {
    pub county: String,
    pub name: String,
    /// The origin line of its checkpoints, e.g. `liaison/county/610602`.
    pub origin: String,
}

/// A signing key and the county it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleKey {
    pub county: String,
    /// The raw 32-byte Ed25519 public key, hex.
    pub public_key: String,
    /// Notices and receipts signed before this (Unix ms) may not use the key; `None`: no start.
    pub valid_from_ms: Option<i64>,
    /// Notices and receipts signed at or after this may not use the key; `None`: no end.
    pub valid_until_ms: Option<i64>,
}

/// The deadline rules: per kind that needs a reply, the normal and urgent periods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundlePolicy {
    pub holiday_extension: bool,
    pub rules: Vec<BundleRule>,
}

impl From<&DuePolicy> for BundlePolicy {
    fn from(policy: &DuePolicy) -> Self {
        Self {
            holiday_extension: policy.holiday_extension(),
            rules: policy
                .rules()
                .map(|(kind, rule)| BundleRule {
                    kind: kind.name().into(),
                    normal: rule.normal,
                    urgent: rule.urgent,
                })
                .collect(),
        }
    }
}

/// Another county's deadline rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountyPolicy {
    pub county: String,
    pub policy: BundlePolicy,
}

/// One kind's rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleRule {
    /// Snake-case kind name.
    pub kind: String,
    pub normal: crate::Period,
    pub urgent: crate::Period,
}

/// An earlier checkpoint and the proof that the bundle's checkpoint extends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlierCheckpoint {
    pub checkpoint: String,
    /// RFC 6962 consistency proof, hex hashes.
    pub consistency_proof: Vec<String>,
}

/// One leaf of the node's log, in full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleItem {
    pub leaf_index: u64,
    /// `sent_notice`, `received_notice`, `issued_receipt` or `received_receipt`.
    pub kind: String,
    /// When the node logged the leaf (Unix ms); the leaf commits to it.
    pub logged_at_ms: i64,
    /// The other county of the notice (its recipient or sender); the leaf commits to it.
    pub counterparty: String,
    /// For notices: the header bytes; for receipts: the receipt bytes (base64).
    pub signed: String,
    /// The Ed25519 signature over them (base64).
    pub signature: String,
    /// For notices: the payload bytes (base64), or `None` in a redacted bundle.
    pub payload: Option<String>,
    /// For notices: the 32-byte payload salt (base64), given and left out with the payload.
    #[serde(default)]
    pub payload_salt: Option<String>,
    /// RFC 6962 inclusion proof of the leaf in the bundle's checkpoint, hex hashes.
    pub inclusion_proof: Vec<String>,
}

/// A leaf the bundle does not show in full: its kind, time, counterparty and the hash of its
/// signed bytes, from which its leaf hash follows, with its inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OmittedLeaf {
    pub leaf_index: u64,
    pub kind: String,
    pub logged_at_ms: i64,
    pub counterparty: String,
    /// `tlog::content_hash` of its signed bytes and signature, hex.
    pub content_hash: String,
    pub inclusion_proof: Vec<String>,
}
