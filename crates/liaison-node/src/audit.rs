//! Audit bundle export: the node's log for a period — envelopes, receipts and replies with their
//! inclusion proofs, the node's checkpoints with consistency proofs, the keys, deadline rules and
//! calendars needed — as one self-contained file an auditor verifies offline (docs/audit-format.md).

use std::collections::BTreeSet;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use liaison_core::audit::{
    BUNDLE_FORMAT, Bundle, BundleItem, BundleKey, BundleNode, BundlePolicy, CountyPolicy,
    EarlierCheckpoint, OmittedLeaf,
};
use liaison_core::checkpoint::origin_for;
use liaison_core::merkle::{Hash, MemoryTree, consistency_proof, inclusion_proof};
use liaison_core::tlog::{LeafKind, content_hash};
use liaison_core::{CountyCode, NoticeId, SignedNotice, SignedReceipt};
use liaison_store::{LoggedLeaf, StoreError};

use crate::NodeState;

/// At most this many earlier checkpoints are sampled over a bundle's range (besides the one in each
/// receipt the bundle shows the node issued).
const MAX_EARLIER_CHECKPOINTS: usize = 64;

/// Why a bundle could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExportError {
    #[error("storage: {0}")]
    Storage(#[from] StoreError),
    #[error("{0}")]
    Nothing(String),
    #[error("the log is inconsistent: {0}")]
    Log(String),
}

fn hexes(hashes: Vec<Hash>) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}

/// What the bundle asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExportRequest {
    pub from_ms: i64,
    pub to_ms: i64,
    pub peer: Option<CountyCode>,
    pub redact: bool,
}

/// The notices of the period (and the replies to them), as (is it outbound, id, other party).
fn select(
    state: &NodeState,
    req: &ExportRequest,
) -> Result<Vec<(bool, NoticeId, CountyCode)>, StoreError> {
    let store = &state.store;
    let in_period = |t: i64| (req.from_ms..req.to_ms).contains(&t);
    let mut chosen = BTreeSet::new();
    for r in store.all_outbound()? {
        if in_period(r.delivery.receipt_at_ms().unwrap_or(r.issued_at_ms)) {
            chosen.insert((true, r.id, r.recipient));
        }
    }
    for r in store.all_inbound()? {
        if in_period(r.received_at_ms) {
            chosen.insert((false, r.id, r.sender));
        }
    }
    // Replies belong with the notices they answer, even when they came after the period.
    for (_, id, _) in chosen.clone() {
        for reply in store.replies_to(&id)? {
            if let Some(r) = store.outbound(&reply)? {
                chosen.insert((true, r.id, r.recipient));
            } else if let Some(r) = store.inbound(&reply)? {
                chosen.insert((false, r.id, r.sender));
            }
        }
    }
    Ok(chosen
        .into_iter()
        .filter(|(_, _, party)| req.peer.is_none_or(|p| p == *party))
        .collect())
}

/// The signed bytes, the signature and (for a notice) the payload and its salt that a leaf records.
type LeafContent = (Vec<u8>, Vec<u8>, Option<(Vec<u8>, [u8; 32])>);

/// The signed bytes, signature and payload that a leaf records.
fn leaf_content(
    state: &NodeState,
    kind: LeafKind,
    id: &NoticeId,
) -> Result<LeafContent, ExportError> {
    let store = &state.store;
    let missing = || ExportError::Log(format!("leaf for {} {id} has no stored bytes", kind.name()));
    let bad = |e: String| {
        ExportError::Log(format!(
            "stored bytes of {} {id} unreadable: {e}",
            kind.name()
        ))
    };
    match kind {
        LeafKind::SentNotice | LeafKind::ReceivedNotice => {
            let bytes = if kind == LeafKind::SentNotice {
                store.outbound_envelope(id)?
            } else {
                store.inbound_envelope(id)?
            };
            let notice = SignedNotice::from_envelope_bytes(&bytes.ok_or_else(missing)?)
                .map_err(|e| bad(e.to_string()))?;
            Ok((
                notice.header_bytes,
                notice.signature.to_vec(),
                Some((notice.payload, notice.payload_salt)),
            ))
        }
        LeafKind::IssuedReceipt | LeafKind::ReceivedReceipt => {
            let bytes = if kind == LeafKind::IssuedReceipt {
                store.inbound_receipt(id)?
            } else {
                store.outbound_receipt(id)?
            };
            let receipt = SignedReceipt::from_bytes(&bytes.ok_or_else(missing)?)
                .map_err(|e| bad(e.to_string()))?;
            Ok((receipt.receipt_bytes, receipt.signature.to_vec(), None))
        }
    }
}

/// What leaf `index` records; every leaf of the tree has its record.
fn logged(state: &NodeState, index: u64) -> Result<LoggedLeaf, ExportError> {
    state
        .store
        .logged_leaf(index)?
        .ok_or_else(|| ExportError::Log(format!("leaf {index} has no recorded owner")))
}

/// The counterpart of a leaf: a notice's receipt, or a receipt's notice.
fn counterpart(kind: LeafKind) -> LeafKind {
    match kind {
        LeafKind::SentNotice => LeafKind::ReceivedReceipt,
        LeafKind::ReceivedReceipt => LeafKind::SentNotice,
        LeafKind::ReceivedNotice => LeafKind::IssuedReceipt,
        LeafKind::IssuedReceipt => LeafKind::ReceivedNotice,
    }
}

/// Widens `[first, last]` until every notice in it has its receipt in it and every receipt its
/// notice, so that the verifier can match each receipt to its envelope.
/// Only leaves of the first `size` (the tree the bundle's checkpoint signs) count: a receipt
/// logged later is not in it.
fn close_range(
    state: &NodeState,
    size: u64,
    mut first: u64,
    mut last: u64,
) -> Result<(u64, u64), ExportError> {
    loop {
        let (start, end) = (first, last);
        for index in start..=end {
            let Some(leaf) = state.store.logged_leaf(index)? else {
                continue;
            };
            if let Some(other) = state
                .store
                .leaf_index(counterpart(leaf.kind), &leaf.notice_id)?
                .filter(|other| *other < size)
            {
                first = first.min(other);
                last = last.max(other);
            }
        }
        if (first, last) == (start, end) {
            return Ok((first, last));
        }
    }
}

/// Makes the bundle; signs and records a checkpoint of the log as it is now.
pub(crate) fn export(state: &Arc<NodeState>, req: &ExportRequest) -> Result<Bundle, ExportError> {
    let store = &state.store;
    // The tree the bundle covers is the log as it is now; what is logged while the bundle is made
    // is left to the next one.
    let head = store.log_head()?;
    let chosen = select(state, req)?;
    let mut indices = Vec::new();
    for (outbound, id, _) in &chosen {
        let kinds = if *outbound {
            [LeafKind::SentNotice, LeafKind::ReceivedReceipt]
        } else {
            [LeafKind::ReceivedNotice, LeafKind::IssuedReceipt]
        };
        for kind in kinds {
            indices.extend(store.leaf_index(kind, id)?);
        }
    }
    // Every leaf logged in the period too: the leaves just outside the range then prove that
    // nothing of the period was left out.
    if let Some((first, last)) = store.leaves_logged_between(req.from_ms, req.to_ms)?
        && first < head.size
    {
        indices.extend([first, last.min(head.size - 1)]);
    }
    indices.retain(|index| *index < head.size);
    let (first_leaf, last_leaf) = match (indices.iter().min(), indices.iter().max()) {
        (Some(&first), Some(&last)) => close_range(state, head.size, first, last)?,
        // Nothing in the period: an empty range where the period would be, between a leaf logged
        // before it and (if any) one logged after it, which show that nothing lies between.
        _ => match store.first_leaf_logged_from(req.from_ms)?.min(head.size) {
            0 => {
                return Err(ExportError::Nothing(
                    "no notices in this period, and the log holds nothing from before it".into(),
                ));
            }
            at => (at, at - 1),
        },
    };

    let checkpoint = state
        .sign_checkpoint(head)
        .map_err(|e| ExportError::Log(e.to_string()))?;
    // Export runs on the blocking pool, where waiting for the store's writer is allowed.
    let runtime = tokio::runtime::Handle::current();
    runtime.block_on(store.record_checkpoint(head.size, &checkpoint))?;
    // The other counties cosign it now, with their time: a bound on when the bundle was made that
    // does not rest on this node's clock.
    let mut checkpoint = checkpoint;
    for line in runtime.block_on(crate::cosigning::cosign_checkpoint(
        state,
        head,
        &checkpoint,
    )) {
        checkpoint.push_str(&line);
    }
    let tree = MemoryTree::new(store.leaf_hashes(head.size)?);
    let proof_error = |e: liaison_core::merkle::MerkleError| ExportError::Log(e.to_string());

    let shown_leaf = |index: u64| -> Result<OmittedLeaf, ExportError> {
        let leaf = logged(state, index)?;
        let (signed, signature, _) = leaf_content(state, leaf.kind, &leaf.notice_id)?;
        Ok(OmittedLeaf {
            leaf_index: index,
            kind: leaf.kind.name().into(),
            logged_at_ms: leaf.logged_at_ms,
            counterparty: leaf.counterparty.to_string(),
            content_hash: hex::encode(content_hash(&signed, &signature)),
            inclusion_proof: hexes(inclusion_proof(&tree, index, head.size).map_err(proof_error)?),
        })
    };
    let mut items = Vec::new();
    let mut omitted = Vec::new();
    for index in first_leaf..=last_leaf {
        let leaf = logged(state, index)?;
        let shown = req.peer.is_none_or(|peer| leaf.counterparty == peer);
        if !shown {
            omitted.push(shown_leaf(index)?);
            continue;
        }
        let proof = hexes(inclusion_proof(&tree, index, head.size).map_err(proof_error)?);
        let (signed, signature, payload) = leaf_content(state, leaf.kind, &leaf.notice_id)?;
        // The salt goes with the payload: without it the header's commitment reveals nothing.
        let payload = payload.filter(|_| !req.redact);
        items.push(BundleItem {
            leaf_index: index,
            kind: leaf.kind.name().into(),
            logged_at_ms: leaf.logged_at_ms,
            counterparty: leaf.counterparty.to_string(),
            signed: B64.encode(signed),
            signature: B64.encode(signature),
            payload: payload.as_ref().map(|(p, _)| B64.encode(p)),
            payload_salt: payload.as_ref().map(|(_, salt)| B64.encode(salt)),
            inclusion_proof: proof,
        });
    }
    let leaf_before = first_leaf.checked_sub(1).map(&shown_leaf).transpose()?;
    let leaf_after = (last_leaf + 1 < head.size)
        .then(|| shown_leaf(last_leaf + 1))
        .transpose()?;

    let earlier: Vec<(u64, String)> = store
        .checkpoints()?
        .into_iter()
        .filter(|(size, _)| *size > 0 && *size < head.size)
        .collect();
    // The last checkpoint before the range, and those inside it, sampled evenly; and the one in
    // every receipt the bundle shows this node issued (of size: its notice's leaf + 1), so that
    // every checkpoint of this log that a peer holds from the period is proven consistent here.
    let issued: BTreeSet<u64> = items
        .iter()
        .filter(|i| i.kind == LeafKind::ReceivedNotice.name())
        .map(|i| i.leaf_index + 1)
        .collect();
    let before = earlier
        .iter()
        .rposition(|(size, _)| *size <= first_leaf)
        .unwrap_or(0);
    let candidates: Vec<&(u64, String)> = earlier[before..]
        .iter()
        .filter(|(size, _)| *size <= last_leaf + 1 || *size == earlier[before].0)
        .collect();
    let step = candidates.len().div_ceil(MAX_EARLIER_CHECKPOINTS).max(1);
    let sampled: BTreeSet<u64> = candidates
        .iter()
        .step_by(step)
        .map(|(size, _)| *size)
        .collect();
    let mut earlier_checkpoints = Vec::new();
    for (size, note) in earlier
        .iter()
        .filter(|(size, _)| sampled.contains(size) || issued.contains(size))
    {
        let proof = consistency_proof(&tree, *size, head.size).map_err(proof_error)?;
        earlier_checkpoints.push(EarlierCheckpoint {
            checkpoint: note.clone(),
            consistency_proof: hexes(proof),
        });
    }

    let config = &state.config;
    let mut keys: Vec<BundleKey> = state
        .own_keys
        .iter()
        .map(|k| BundleKey {
            county: config.county.to_string(),
            public_key: hex::encode(k.as_bytes()),
            valid_from_ms: None,
            valid_until_ms: None,
        })
        .collect();
    let directory = state.directory.current();
    for peer in directory.peers.peers() {
        for key in &peer.keys {
            keys.push(BundleKey {
                county: peer.county.to_string(),
                public_key: hex::encode(key.key.as_bytes()),
                valid_from_ms: (key.valid_from_ms != i64::MIN).then_some(key.valid_from_ms),
                valid_until_ms: key.valid_until_ms,
            });
        }
    }
    let mut bundle = Bundle {
        format: BUNDLE_FORMAT.into(),
        node: BundleNode {
            county: config.county.to_string(),
            name: config.name.clone(),
            origin: origin_for(config.county),
        },
        created_at_ms: state.clock.now_ms(),
        from_ms: req.from_ms,
        to_ms: req.to_ms,
        peer: req.peer.map(|p| p.to_string()),
        redacted: req.redact,
        keys,
        policy: BundlePolicy::from(&state.policy()),
        peer_policies: directory
            .signed
            .iter()
            .flat_map(|signed| &signed.federation.counties)
            .filter(|c| c.code != config.county)
            .filter_map(|c| {
                Some(CountyPolicy {
                    county: c.code.to_string(),
                    policy: BundlePolicy::from(c.policy.as_ref()?),
                })
            })
            .collect(),
        calendars: config
            .deadlines
            .calendar
            .texts()
            .map(|(_, text)| text.to_owned())
            .collect(),
        checkpoint,
        earlier_checkpoints,
        first_leaf,
        last_leaf,
        items,
        omitted,
        leaf_before,
        leaf_after,
        claims: String::new(),
        claims_signature: String::new(),
    };
    bundle.sign_claims(&state.key);
    Ok(bundle)
}
