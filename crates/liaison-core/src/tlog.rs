//! What a node's append-only log records: every envelope and receipt it sends or receives becomes
//! one leaf of an RFC 6962 Merkle tree, so that an auditor can check that nothing was removed or
//! rewritten afterwards. The leaf bytes are defined here and in docs/audit-format.md.
//!
//! A leaf names when the node logged it and the other county it concerns, and commits to the
//! signed bytes by their hash. The node logs leaves in time order (a leaf's time is never before
//! the previous leaf's), so a bundle can prove that it holds every leaf of a period; and a bundle
//! for one peer can show that each leaf it leaves out concerns another county without revealing it.

use sha2::{Digest, Sha256};

use crate::merkle::{Hash, leaf_hash};
use crate::{CountyCode, SignedNotice, SignedReceipt};

/// Opens every leaf, so a liaison leaf can never be mistaken for other data.
pub const LEAF_PREFIX: &[u8] = b"liaison/v1/leaf\0";

/// The length of a leaf's bytes: prefix, tag, time, county, content hash.
pub const LEAF_LEN: usize = 16 + 1 + 8 + 6 + 32;

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

/// One leaf of the log: what it records, when the node logged it, the other county it concerns,
/// and the hash of the signed bytes and signature ([`content_hash`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leaf {
    pub kind: LeafKind,
    /// When the node appended the leaf (Unix ms, by its clock, never before the previous leaf's).
    pub logged_at_ms: i64,
    /// The county at the other end: a notice's recipient or sender, a receipt's notice's.
    pub counterparty: CountyCode,
    pub content: Hash,
}

impl Leaf {
    /// `LEAF_PREFIX ‖ tag ‖ u64be(logged_at_ms) ‖ counterparty ‖ content`, 63 bytes. A time
    /// before 1970 is written as 0.
    pub fn bytes(&self) -> [u8; LEAF_LEN] {
        let mut data = [0u8; LEAF_LEN];
        data[..16].copy_from_slice(LEAF_PREFIX);
        data[16] = self.kind.tag();
        data[17..25].copy_from_slice(&(self.logged_at_ms.max(0) as u64).to_be_bytes());
        data[25..31].copy_from_slice(self.counterparty.as_bytes());
        data[31..].copy_from_slice(&self.content);
        data
    }

    /// The Merkle leaf hash: SHA-256(0x00 ‖ bytes).
    pub fn hash(&self) -> Hash {
        leaf_hash(&self.bytes())
    }
}

/// SHA-256(u32be(len(signed)) ‖ signed ‖ signature): what a leaf commits to. For a notice,
/// `signed` is its header (the payload is covered by the header's payload commitment, so a
/// redacted notice still proves its place); for a receipt, the receipt bytes.
pub fn content_hash(signed: &[u8], signature: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update((signed.len() as u32).to_be_bytes());
    h.update(signed);
    h.update(signature);
    h.finalize().into()
}

impl SignedNotice {
    /// What this envelope's leaf commits to.
    pub fn content_hash(&self) -> Hash {
        content_hash(&self.header_bytes, &self.signature)
    }

    /// This envelope as a leaf of `kind` logged at `logged_at_ms`: the counterparty is the
    /// recipient of a sent notice and the sender of a received one.
    pub fn leaf(&self, kind: LeafKind, logged_at_ms: i64) -> Leaf {
        let counterparty = match kind {
            LeafKind::SentNotice | LeafKind::ReceivedReceipt => self.header.recipient,
            LeafKind::ReceivedNotice | LeafKind::IssuedReceipt => self.header.sender,
        };
        Leaf {
            kind,
            logged_at_ms,
            counterparty,
            content: self.content_hash(),
        }
    }
}

impl SignedReceipt {
    /// What this receipt's leaf commits to.
    pub fn content_hash(&self) -> Hash {
        content_hash(&self.receipt_bytes, &self.signature)
    }

    /// This receipt as a leaf of `kind` logged at `logged_at_ms`: the counterparty is the sender
    /// of the notice an issued receipt answers, the signer of a received one; `None` for an
    /// issued receipt of a notice whose header could not be read.
    pub fn leaf(&self, kind: LeafKind, logged_at_ms: i64) -> Option<Leaf> {
        let counterparty = match kind {
            LeafKind::IssuedReceipt | LeafKind::ReceivedNotice => self.receipt.sender?,
            LeafKind::ReceivedReceipt | LeafKind::SentNotice => self.receipt.recipient,
        };
        Some(Leaf {
            kind,
            logged_at_ms,
            counterparty,
            content: self.content_hash(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> CountyCode {
        CountyCode::parse(text).unwrap()
    }

    #[test]
    fn leaf_bytes_are_prefix_tag_time_counterparty_and_content_hash() {
        let content = content_hash(b"abc", &[9; 64]);
        let leaf = Leaf {
            kind: LeafKind::ReceivedNotice,
            logged_at_ms: 0x0102_0304_0506,
            counterparty: code("610603"),
            content,
        };
        let data = leaf.bytes();
        assert_eq!(&data[..16], LEAF_PREFIX);
        assert_eq!(data[16], 2);
        assert_eq!(&data[17..25], &[0, 0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(&data[25..31], b"610603");
        assert_eq!(&data[31..], &content);
        let mut expected = Sha256::new();
        expected.update([0, 0, 0, 3]);
        expected.update(b"abc");
        expected.update([9; 64]);
        assert_eq!(content, <[u8; 32]>::from(expected.finalize()));
    }

    #[test]
    fn another_kind_time_or_counterparty_is_another_leaf() {
        let base = Leaf {
            kind: LeafKind::SentNotice,
            logged_at_ms: 1_780_000_000_000,
            counterparty: code("610603"),
            content: [1; 32],
        };
        let kind = Leaf {
            kind: LeafKind::ReceivedNotice,
            ..base
        };
        let time = Leaf {
            logged_at_ms: base.logged_at_ms + 1,
            ..base
        };
        let party = Leaf {
            counterparty: code("610621"),
            ..base
        };
        for other in [kind, time, party] {
            assert_ne!(base.hash(), other.hash());
        }
        for kind in LeafKind::ALL {
            assert_eq!(LeafKind::from_tag(kind.tag()), Some(kind));
        }
    }
}
