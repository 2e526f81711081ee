//! What a node's append-only log records: every envelope and receipt it sends or receives becomes
//! one leaf of an RFC 6962 Merkle tree, so that an auditor can check that nothing was removed or
//! rewritten afterwards. The leaf bytes are defined here and in docs/audit-format.md.

use crate::merkle::{Hash, leaf_hash};
use crate::{SignedNotice, SignedReceipt};

/// Opens every leaf, so a liaison leaf can never be mistaken for other data.
pub const LEAF_PREFIX: &[u8] = b"liaison/v1/leaf\0";

/// What a leaf records, and from whose point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LeafKind {
    /// An envelope this node signed and sent.
    SentNotice,
    /// An envelope this node received and accepted.
    ReceivedNotice,
    /// A receipt this node signed for a notice it received.
    IssuedReceipt,
    /// A receipt this node received for a notice it sent.
    ReceivedReceipt,
}

impl LeafKind {
    /// Every kind.
    pub const ALL: [LeafKind; 4] = [
        Self::SentNotice,
        Self::ReceivedNotice,
        Self::IssuedReceipt,
        Self::ReceivedReceipt,
    ];

    /// The byte that names the kind in a leaf.
    pub fn tag(self) -> u8 {
        match self {
            Self::SentNotice => 1,
            Self::ReceivedNotice => 2,
            Self::IssuedReceipt => 3,
            Self::ReceivedReceipt => 4,
        }
    }

    /// The kind a tag names.
    pub fn from_tag(tag: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.tag() == tag)
    }

    /// The snake-case name used in bundles and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::SentNotice => "sent_notice",
            Self::ReceivedNotice => "received_notice",
            Self::IssuedReceipt => "issued_receipt",
            Self::ReceivedReceipt => "received_receipt",
        }
    }

    /// Whether the leaf records an envelope (as opposed to a receipt).
    pub fn is_notice(self) -> bool {
        matches!(self, Self::SentNotice | Self::ReceivedNotice)
    }
}

/// `LEAF_PREFIX || tag || u32be(len(signed)) || signed || signature`.
fn leaf_bytes(kind: LeafKind, signed: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(LEAF_PREFIX.len() + 5 + signed.len() + signature.len());
    data.extend_from_slice(LEAF_PREFIX);
    data.push(kind.tag());
    data.extend_from_slice(&(signed.len() as u32).to_be_bytes());
    data.extend_from_slice(signed);
    data.extend_from_slice(signature);
    data
}

/// The leaf data of an envelope: its header and signature. The payload is covered through the
/// header's payload digest, so a redacted envelope still proves its place in the log.
pub fn notice_leaf(kind: LeafKind, header_bytes: &[u8], signature: &[u8]) -> Vec<u8> {
    leaf_bytes(kind, header_bytes, signature)
}

/// The leaf data of a receipt: the signed receipt bytes and the signature.
pub fn receipt_leaf(kind: LeafKind, receipt_bytes: &[u8], signature: &[u8]) -> Vec<u8> {
    leaf_bytes(kind, receipt_bytes, signature)
}

impl SignedNotice {
    /// The Merkle leaf hash of this envelope as a leaf of `kind`.
    pub fn leaf_hash(&self, kind: LeafKind) -> Hash {
        leaf_hash(&notice_leaf(kind, &self.header_bytes, &self.signature))
    }
}

impl SignedReceipt {
    /// The Merkle leaf hash of this receipt as a leaf of `kind`.
    pub fn leaf_hash(&self, kind: LeafKind) -> Hash {
        leaf_hash(&receipt_leaf(kind, &self.receipt_bytes, &self.signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_bytes_are_prefix_tag_length_signed_bytes_and_signature() {
        let data = notice_leaf(LeafKind::ReceivedNotice, b"abc", &[9; 64]);
        assert_eq!(&data[..LEAF_PREFIX.len()], LEAF_PREFIX);
        assert_eq!(data[LEAF_PREFIX.len()], 2);
        assert_eq!(
            &data[LEAF_PREFIX.len() + 1..LEAF_PREFIX.len() + 5],
            &[0, 0, 0, 3]
        );
        assert_eq!(&data[LEAF_PREFIX.len() + 5..LEAF_PREFIX.len() + 8], b"abc");
        assert_eq!(data.len(), LEAF_PREFIX.len() + 8 + 64);
    }

    #[test]
    fn the_same_bytes_under_another_kind_are_another_leaf() {
        let sent = leaf_hash(&notice_leaf(LeafKind::SentNotice, b"h", &[1; 64]));
        let received = leaf_hash(&notice_leaf(LeafKind::ReceivedNotice, b"h", &[1; 64]));
        assert_ne!(sent, received);
        for kind in LeafKind::ALL {
            assert_eq!(LeafKind::from_tag(kind.tag()), Some(kind));
        }
    }
}
