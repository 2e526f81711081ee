//! Evidence of when this node's replies existed: other counties cosign its checkpoints
//! (C2SP tlog-cosignature/v1, with their own time), and a reply is delivered with an existence
//! proof built from the earliest such cosignature that covers it. See docs/protocol.md.

use std::sync::Arc;
use std::time::Duration;

use liaison_core::checkpoint::{Checkpoint, origin_for};
use liaison_core::cosign::Cosignature;
use liaison_core::merkle::{consistency_proof, inclusion_proof};
use liaison_core::tlog::LeafKind;
use liaison_core::trust::Peer;
use liaison_core::{CountyCode, NoticeId};
use liaison_proto::v1 as pb;
use tracing::{debug, warn};

use crate::NodeState;
use crate::delivery::{MAX_MESSAGE_BYTES, channel};

/// How long one county may take to cosign.
const COSIGN_TIMEOUT: Duration = Duration::from_secs(5);

/// Asks every county of the directory at once to cosign this node's current checkpoint, and
/// keeps the cosignatures that verify. Returns how many counties cosigned; a county that is down
/// or refuses is logged and skipped.
pub(crate) async fn gather(state: &Arc<NodeState>) -> usize {
    let head = match state.store.log_head() {
        Ok(head) if head.size > 0 => head,
        Ok(_) => return 0,
        Err(e) => {
            warn!(error = %e, "cannot read the log to have it cosigned");
            return 0;
        }
    };
    let note = match state.sign_checkpoint(head) {
        Ok(note) => note,
        Err(e) => {
            warn!(error = %e, "cannot have the log cosigned");
            return 0;
        }
    };
    if let Err(e) = state.store.record_checkpoint(head.size, &note).await {
        warn!(error = %e, "cannot keep the checkpoint to be cosigned");
        return 0;
    }
    cosign_checkpoint(state, head, &note).await.len()
}

/// Asks every county of the directory at once to cosign this node's checkpoint of `head`,
/// signed as `note` and already recorded; keeps the cosignatures that verify and returns their
/// lines, oldest first.
pub(crate) async fn cosign_checkpoint(
    state: &Arc<NodeState>,
    head: liaison_store::LogHead,
    note: &str,
) -> Vec<String> {
    let checkpoint = Checkpoint::new(origin_for(state.config.county), head.size, head.root);
    let mut asks = tokio::task::JoinSet::new();
    for peer in state.directory.current().peers.peers() {
        let (state, note, checkpoint) = (state.clone(), note.to_owned(), checkpoint.clone());
        let peer = peer.clone();
        asks.spawn(async move {
            let result = tokio::time::timeout(
                COSIGN_TIMEOUT,
                ask(&state, &peer, &note, &checkpoint),
            )
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {} s", COSIGN_TIMEOUT.as_secs())));
            match result {
                Ok(line) => Some(line),
                Err(why) => {
                    debug!(peer = %peer.county, error = %why, "the peer did not cosign this node's checkpoint");
                    None
                }
            }
        });
    }
    let mut lines: Vec<(u64, String)> = asks
        .join_all()
        .await
        .into_iter()
        .flatten()
        .filter_map(|line| {
            let time = Cosignature::parse_line(line.trim_end_matches('\n'))?.time_s;
            Some((time, line))
        })
        .collect();
    lines.sort();
    lines.into_iter().map(|(_, line)| line).collect()
}

/// Asks `peer` to cosign `checkpoint` (signed as `note`), with a consistency proof from the size
/// of this log it holds; keeps the cosignature.
async fn ask(
    state: &NodeState,
    peer: &Peer,
    note: &str,
    checkpoint: &Checkpoint,
) -> Result<String, String> {
    let mut client = pb::exchange_client::ExchangeClient::new(channel(state, peer)?)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let storage = |e: liaison_store::StoreError| format!("storage: {e}");
    let mut old_size = state
        .store
        .cosigned_size(peer.county)
        .map_err(storage)?
        .unwrap_or(0)
        .min(checkpoint.size);
    // The peer may hold a larger size than it cosigned (from receipts): it says so, once.
    for _ in 0..2 {
        let proof = if old_size == 0 || old_size == checkpoint.size {
            Vec::new()
        } else {
            consistency_proof(
                &state.store.leaves().map_err(storage)?,
                old_size,
                checkpoint.size,
            )
            .map_err(|e| format!("cannot prove consistency: {e}"))?
        };
        let response = client
            .cosign(pb::CosignRequest {
                checkpoint: note.to_owned(),
                old_size,
                consistency_proof: proof.iter().map(|h| h.to_vec()).collect(),
            })
            .await
            .map_err(|status| format!("{:?}: {}", status.code(), status.message()))?
            .into_inner();
        if response.cosignature.is_empty() {
            if response.known_size > checkpoint.size {
                return Err(format!(
                    "the peer holds a checkpoint of {} entries of this log, which has {}",
                    response.known_size, checkpoint.size
                ));
            }
            old_size = response.known_size;
            continue;
        }
        let line = response.cosignature;
        let cosignature = Cosignature::parse_line(line.trim_end_matches('\n'))
            .filter(|c| c.county == peer.county && line.ends_with('\n'))
            .ok_or("the answer is not a cosignature line of the peer")?;
        let body = checkpoint.to_body();
        if !peer
            .keys
            .iter()
            .any(|k| k.valid_at(cosignature.time_ms()) && cosignature.verifies(&body, &k.key))
        {
            return Err("the cosignature does not verify with the peer's keys".into());
        }
        state
            .store
            .record_cosignature(checkpoint.size, peer.county, cosignature.time_s, &line)
            .await
            .map_err(storage)?;
        return Ok(line);
    }
    Err("the peer kept naming another size of this log".into())
}

/// The existence proof of the reply `id` for its delivery to `recipient`: the smallest cosigned
/// checkpoint that holds its leaf, with the cosignatures of counties other than the recipient,
/// and the leaf's inclusion proof. When none is held yet and `asked` is false, asks for
/// cosignatures first and sets `asked`, so that one delivery call asks once however many
/// replies it carries. `None` when no other county has cosigned (the recipient's receipt time
/// then counts).
pub(crate) async fn existence_proof(
    state: &Arc<NodeState>,
    id: &NoticeId,
    recipient: CountyCode,
    asked: &mut bool,
) -> Option<pb::ExistenceProof> {
    let index = state
        .store
        .leaf_index(LeafKind::SentNotice, id)
        .inspect_err(|e| warn!(error = %e, "cannot read the log"))
        .ok()??;
    let logged = state
        .store
        .logged_leaf(index)
        .inspect_err(|e| warn!(error = %e, "cannot read the log"))
        .ok()??;
    let mut covering = state.store.cosigned_covering(index, recipient).ok()?;
    // With no county but the recipient, nobody else can vouch: its receipt time counts.
    let others = state
        .config
        .directory
        .peers()
        .any(|p| p.county != recipient);
    if covering.is_none() && others && !*asked {
        *asked = true;
        gather(state).await;
        covering = state.store.cosigned_covering(index, recipient).ok()?;
    }
    let cosigned = covering?;
    let proof = inclusion_proof(&state.store.leaves().ok()?, index, cosigned.size)
        .inspect_err(|e| warn!(error = %e, "cannot prove a reply's place in the log"))
        .ok()?;
    Some(pb::ExistenceProof {
        envelope: 0,
        checkpoint: cosigned.note,
        leaf_index: index,
        logged_at_ms: logged.logged_at_ms,
        inclusion_proof: proof.iter().map(|h| h.to_vec()).collect(),
    })
}
