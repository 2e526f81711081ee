//! Mutual witnessing: every receipt carries the recipient's signed checkpoint of its log, and the
//! sender checks each new checkpoint against the last one it holds from that peer — by a
//! consistency proof fetched from the peer — so that a county that rolls back or rewrites its log is
//! caught by the counties it exchanges with. A failure raises a loud alarm that stays in the store.
//! One incident raises one alarm: while an alarm about a peer is open, that peer's checkpoints are
//! not judged again (every later one would fail against the same held checkpoint), until an
//! operator acknowledges it with `liaison accept-peer-log`, which makes the peer's next
//! checkpoint the new starting point.

use liaison_core::CountyCode;
use liaison_core::checkpoint::{Checkpoint, county_of_origin, open_county_checkpoint};
use liaison_core::merkle::{Hash, verify_consistency};
use liaison_core::trust::Peer;
use liaison_proto::v1 as pb;
use liaison_store::Alarm;
use tonic::Status;
use tonic::transport::Channel;
use tracing::{error, warn};

use crate::NodeState;

/// Opens a peer's signed checkpoint with whichever of its keys signed it.
pub(crate) fn open_peer_checkpoint(peer: &Peer, note: &str) -> Result<Checkpoint, String> {
    open_county_checkpoint(peer.county, peer.keys.iter().map(|k| &k.key), note)
        .map_err(|e| e.to_string())
}

/// What a newer checkpoint says about a peer's log, given the one held before.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing to check against, or the same tree: keep the newer one.
    Accept,
    /// The log grew: a consistency proof from `old` to `new` must be checked.
    NeedsProof { old_size: u64, new_size: u64 },
    /// Smaller than a tree the peer already signed.
    Rollback(String),
    /// Same size, different root.
    Fork(String),
}

/// Compares a newer checkpoint with the one held; pure.
pub(crate) fn judge(held: Option<&Checkpoint>, new: &Checkpoint) -> Verdict {
    let Some(held) = held else {
        return Verdict::Accept;
    };
    if new.size < held.size {
        return Verdict::Rollback(format!(
            "the peer signed a log of {} entries after one of {} entries: its log was rolled back",
            new.size, held.size
        ));
    }
    if new.size == held.size {
        return if new.root == held.root {
            Verdict::Accept
        } else {
            Verdict::Fork(format!(
                "two different logs of {} entries, both signed by the peer",
                new.size
            ))
        };
    }
    Verdict::NeedsProof {
        old_size: held.size,
        new_size: new.size,
    }
}

async fn alarm(state: &NodeState, peer: &Peer, kind: &str, detail: String) {
    error!(peer = %peer.county, kind, detail = %detail, "ALARM: a peer's log is not append-only");
    let alarm = Alarm {
        peer: peer.county,
        at_ms: state.clock.now_ms(),
        kind: kind.into(),
        detail,
        acknowledged_at_ms: None,
    };
    if let Err(e) = state.store.raise_alarm(&alarm).await {
        error!(peer = %peer.county, error = %e, "cannot record the alarm");
    }
}

/// Checks the newest checkpoint a peer put in a receipt, and holds it if it extends the last one.
pub(crate) async fn witness(
    state: &NodeState,
    peer: &Peer,
    client: &mut pb::exchange_client::ExchangeClient<Channel>,
    note: &str,
) {
    match state.store.has_open_alarm(peer.county) {
        Ok(false) => {}
        Ok(true) => return,
        Err(e) => {
            return warn!(peer = %peer.county, error = %e, "cannot read the alarms");
        }
    }
    let new = match open_peer_checkpoint(peer, note) {
        Ok(c) => c,
        Err(why) => {
            return alarm(
                state,
                peer,
                "bad_checkpoint",
                format!("a receipt carries a checkpoint that does not verify: {why}"),
            )
            .await;
        }
    };
    let held = match state.store.peer_checkpoint(peer.county) {
        Ok(held) => held.and_then(|note| open_peer_checkpoint(peer, &note).ok()),
        Err(e) => {
            return warn!(peer = %peer.county, error = %e, "cannot read the peer's checkpoint");
        }
    };
    match judge(held.as_ref(), &new) {
        Verdict::Accept => {}
        Verdict::Rollback(detail) => return alarm(state, peer, "rollback", detail).await,
        Verdict::Fork(detail) => return alarm(state, peer, "fork", detail).await,
        Verdict::NeedsProof { old_size, new_size } => {
            let request = pb::ConsistencyRequest { old_size, new_size };
            let proof = match client.consistency(request).await {
                Ok(response) => response.into_inner().proof,
                Err(status) => {
                    // Not an alarm: the proof is asked for again with the next receipt.
                    return warn!(peer = %peer.county, error = %status.message(), "cannot fetch a consistency proof");
                }
            };
            let proof: Result<Vec<Hash>, _> = proof
                .iter()
                .map(|h| <Hash>::try_from(h.as_slice()))
                .collect();
            let held_root = held.as_ref().map(|h| h.root).unwrap_or_default();
            let verdict = match proof {
                Err(_) => Err("a proof hash is not 32 bytes".to_owned()),
                Ok(proof) => verify_consistency(old_size, new_size, &held_root, &new.root, &proof)
                    .map_err(|e| e.to_string()),
            };
            if let Err(why) = verdict {
                return alarm(state, peer, "fork", format!("the log of {new_size} entries does not extend the one of {old_size} entries: {why}")).await;
            }
        }
    }
    keep_if_larger(state, peer, note, &new).await;
}

/// Holds `note` (opened as `new`) as the peer's checkpoint unless a larger one is held already
/// (the other of the receipt and cosigning paths may have kept one meanwhile).
async fn keep_if_larger(state: &NodeState, peer: &Peer, note: &str, new: &Checkpoint) {
    let _judging = state.witness_lock.lock().await;
    let held = state
        .store
        .peer_checkpoint(peer.county)
        .ok()
        .flatten()
        .and_then(|note| open_peer_checkpoint(peer, &note).ok());
    if held.is_some_and(|held| held.size > new.size) {
        return;
    }
    if let Err(e) = state.store.set_peer_checkpoint(peer.county, note).await {
        warn!(peer = %peer.county, error = %e, "cannot keep the peer's checkpoint");
    }
}

/// Answers a peer's request to cosign a checkpoint of its own log (`Exchange.Cosign`): the
/// checkpoint must be signed by the county whose TLS certificate made the call, and extend the
/// largest checkpoint of that log this node holds (by the request's consistency proof); then this
/// node keeps it and returns its cosignature with its own time. A log that is not append-only
/// raises an alarm, as in [`witness`].
pub(crate) async fn cosign(
    state: &NodeState,
    tls_is: impl Fn(CountyCode) -> bool,
    request: pb::CosignRequest,
) -> Result<pb::CosignResponse, Status> {
    let county = request
        .checkpoint
        .lines()
        .next()
        .and_then(county_of_origin)
        .ok_or_else(|| {
            Status::invalid_argument("checkpoint: its first line does not name a county's log")
        })?;
    if !tls_is(county) {
        return Err(Status::permission_denied(format!(
            "checkpoint: the log is {county}'s, but the TLS client certificate is not that \
             county's; a county asks for cosignatures of its own log only"
        )));
    }
    let Some(peer) = state.directory.current().peers.get(county).cloned() else {
        return Err(Status::permission_denied(format!(
            "{county} is not in this node's directory"
        )));
    };
    let storage = |e: liaison_store::StoreError| Status::unavailable(format!("storage: {e}"));
    if state.store.has_open_alarm(county).map_err(storage)? {
        return Err(Status::failed_precondition(format!(
            "this node holds an open alarm about {county}'s log and cosigns none of it until an \
             operator accepts the log (liaison accept-peer-log)"
        )));
    }
    let new = open_peer_checkpoint(&peer, &request.checkpoint)
        .map_err(|why| Status::invalid_argument(format!("checkpoint: {why}")))?;
    let _judging = state.witness_lock.lock().await;
    let held = state
        .store
        .peer_checkpoint(county)
        .map_err(storage)?
        .and_then(|note| open_peer_checkpoint(&peer, &note).ok());
    match judge(held.as_ref(), &new) {
        Verdict::Accept => {}
        Verdict::Rollback(detail) => {
            alarm(state, &peer, "rollback", detail.clone()).await;
            return Err(Status::failed_precondition(detail));
        }
        Verdict::Fork(detail) => {
            alarm(state, &peer, "fork", detail.clone()).await;
            return Err(Status::failed_precondition(detail));
        }
        Verdict::NeedsProof { old_size, new_size } => {
            if request.old_size != old_size {
                return Ok(pb::CosignResponse {
                    cosignature: String::new(),
                    known_size: old_size,
                });
            }
            let held_root = held.as_ref().map(|h| h.root).unwrap_or_default();
            let verdict = request
                .consistency_proof
                .iter()
                .map(|h| Hash::try_from(h.as_slice()))
                .collect::<Result<Vec<Hash>, _>>()
                .map_err(|_| "a proof hash is not 32 bytes".to_owned())
                .and_then(|proof| {
                    verify_consistency(old_size, new_size, &held_root, &new.root, &proof)
                        .map_err(|e| e.to_string())
                });
            if let Err(why) = verdict {
                let detail = format!(
                    "the log of {new_size} entries does not extend the one of {old_size} entries: {why}"
                );
                alarm(state, &peer, "fork", detail.clone()).await;
                return Err(Status::failed_precondition(detail));
            }
        }
    }
    state
        .store
        .set_peer_checkpoint(county, &request.checkpoint)
        .await
        .map_err(storage)?;
    let time_s = (state.clock.now_ms().max(0) / 1000) as u64;
    Ok(pb::CosignResponse {
        cosignature: liaison_core::cosign::cosign(&new, state.config.county, &state.key, time_s),
        known_size: new.size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(size: u64, root: u8) -> Checkpoint {
        Checkpoint::new("liaison/county/610603", size, [root; 32])
    }

    #[test]
    fn a_first_checkpoint_is_accepted_and_a_larger_one_needs_a_proof() {
        assert_eq!(judge(None, &cp(3, 1)), Verdict::Accept);
        assert_eq!(
            judge(Some(&cp(3, 1)), &cp(5, 2)),
            Verdict::NeedsProof {
                old_size: 3,
                new_size: 5
            }
        );
        assert_eq!(judge(Some(&cp(3, 1)), &cp(3, 1)), Verdict::Accept);
    }

    #[test]
    fn a_smaller_log_is_a_rollback_and_a_different_root_at_the_same_size_a_fork() {
        assert!(matches!(
            judge(Some(&cp(5, 1)), &cp(3, 1)),
            Verdict::Rollback(_)
        ));
        assert!(matches!(
            judge(Some(&cp(5, 1)), &cp(5, 2)),
            Verdict::Fork(_)
        ));
    }
}
