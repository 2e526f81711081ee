//! Mutual witnessing: every receipt carries the recipient's signed checkpoint of its log, and the
//! sender checks each new checkpoint against the last one it holds from that peer — by a
//! consistency proof fetched from the peer — so that a county that rolls back or rewrites its log is
//! caught by the counties it exchanges with. A failure raises a loud alarm that stays in the store.
//! One incident raises one alarm: while an alarm about a peer is open, that peer's checkpoints are
//! not judged again (every later one would fail against the same held checkpoint), until an
//! operator acknowledges it with `liaison accept-peer-log`, which makes the peer's next
//! checkpoint the new starting point.

use liaison_core::checkpoint::{Checkpoint, NoteVerifierKey, open_signed_checkpoint};
use liaison_core::merkle::{Hash, verify_consistency};
use liaison_core::trust::Peer;
use liaison_proto::v1 as pb;
use liaison_store::Alarm;
use tonic::transport::Channel;
use tracing::{error, warn};

use crate::NodeState;

/// Opens a peer's signed checkpoint with whichever of its keys signed it.
pub(crate) fn open_peer_checkpoint(peer: &Peer, note: &str) -> Result<Checkpoint, String> {
    let mut last_error = format!("{} has no signing keys in the directory", peer.county);
    for key in &peer.keys {
        let verifier =
            NoteVerifierKey::for_county(peer.county, key.key).map_err(|e| e.to_string())?;
        match open_signed_checkpoint(note, &verifier) {
            Ok(checkpoint) => return Ok(checkpoint),
            Err(e) => last_error = e.to_string(),
        }
    }
    Err(last_error)
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
    if let Err(e) = state.store.set_peer_checkpoint(peer.county, note).await {
        warn!(peer = %peer.county, error = %e, "cannot keep the peer's checkpoint");
    }
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
