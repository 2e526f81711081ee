//! The deadline tracker: as time passes — also after a restart or a time the node was down — it
//! marks replies due soon and overdue, logs each change once, and, if so configured, sends the
//! other county a signed reminder (催办) when a reply it owes becomes overdue.

use std::sync::Arc;

use liaison_core::body::{NoticeBody, Reminder};
use liaison_core::clock::format_cst;
use liaison_core::deadline::deadline_state;
use liaison_core::{DeadlineState, NoticeKind};
use liaison_store::{DueEntry, Side, StoreError};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::NodeState;

/// Runs until `shutdown` changes: once at start, then every configured interval.
pub(crate) async fn run(state: Arc<NodeState>, mut shutdown: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(state.config.deadlines.check_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = shutdown.changed() => return,
        }
        if let Err(e) = check(&state).await {
            warn!(error = %e, "deadline check failed");
        }
    }
}

/// One pass over the replies that are due soon or overdue.
pub(crate) async fn check(state: &NodeState) -> Result<(), StoreError> {
    let now = state.clock.now_ms();
    let settings = &state.config.deadlines;
    let horizon = now.saturating_add(settings.due_soon_ms).saturating_add(1);
    for DueEntry {
        due_at_ms,
        side,
        id,
    } in state.store.due(None, horizon, usize::MAX)?
    {
        let current = deadline_state(Some(due_at_ms), None, now, settings.due_soon_ms);
        let due = format_cst(due_at_ms);
        match side {
            Side::Owed => {
                let Some(record) = state.store.inbound(&id)? else {
                    continue;
                };
                if record.flagged == Some(current) {
                    continue;
                }
                match current {
                    DeadlineState::Overdue => warn!(
                        notice_id = %id, peer = %record.sender, kind = record.kind.name(), due = %due,
                        "reply overdue: this county owes a reply (复函) past its deadline"
                    ),
                    _ => info!(
                        notice_id = %id, peer = %record.sender, kind = record.kind.name(), due = %due,
                        "reply due soon: this county owes a reply"
                    ),
                }
                state
                    .store
                    .update_inbound(&id, move |r| r.flagged = Some(current))
                    .await?;
            }
            Side::Awaited => {
                let Some(record) = state.store.outbound(&id)? else {
                    continue;
                };
                if record.flagged != Some(current) {
                    match current {
                        DeadlineState::Overdue => warn!(
                            notice_id = %id, peer = %record.recipient, kind = record.kind.name(), due = %due,
                            "reply overdue: the other county has not replied by its deadline"
                        ),
                        _ => info!(
                            notice_id = %id, peer = %record.recipient, kind = record.kind.name(), due = %due,
                            "reply due soon: awaiting the other county's reply"
                        ),
                    }
                    state
                        .store
                        .update_outbound(&id, None, move |r| {
                            r.flagged = Some(current);
                            Ok(())
                        })
                        .await?;
                }
                if current == DeadlineState::Overdue
                    && settings.send_reminders
                    && record.reminded_at_ms.is_none()
                {
                    remind(state, &record, due_at_ms).await?;
                }
            }
        }
    }
    sign_checkpoint_if_grown(state).await
}

/// Signs a checkpoint of the log when it grew since the last one, so that a node that only sends
/// still publishes signed checkpoints.
async fn sign_checkpoint_if_grown(state: &NodeState) -> Result<(), StoreError> {
    let head = state.store.log_head()?;
    let latest = state.store.latest_checkpoint()?.map_or(0, |(size, _)| size);
    if head.size > latest {
        match state.sign_checkpoint(head) {
            Ok(note) => state.store.record_checkpoint(head.size, &note).await?,
            Err(e) => warn!(error = %e, size = head.size, "no checkpoint of the log this round"),
        }
    }
    Ok(())
}

/// What became of a reminder (催办).
#[derive(Debug, Clone)]
pub(crate) enum Reminded {
    /// A signed reminder notice was put in the outbox.
    Sent(liaison_core::NoticeId),
    /// Only the time was recorded: the reminder could not be sent (usually the agreement does
    /// not allow reminders), for this reason.
    NotSent(String),
}

/// Sends the recipient of `record` a reminder that its reply, due at `due_at_ms`, is awaited, and
/// records the time of the attempt on the notice, sent or not.
pub(crate) async fn remind(
    state: &NodeState,
    record: &liaison_store::OutboundRecord,
    due_at_ms: i64,
) -> Result<Reminded, StoreError> {
    let overdue = state.clock.now_ms() >= due_at_ms;
    let body = NoticeBody::Reminder(Reminder {
        overdue_notice_id: record.id,
        text: Some(if overdue {
            format!(
                "催办：我方发出的{}（编号 {}）已于 {} 超过答复期限，请尽快复函。",
                record.kind.chinese(),
                record.id,
                format_cst(due_at_ms)
            )
        } else {
            format!(
                "催办：我方发出的{}（编号 {}）答复期限为 {}，请按期复函。",
                record.kind.chinese(),
                record.id,
                format_cst(due_at_ms)
            )
        }),
    });
    let outcome = match state
        .send_notice(record.recipient, false, None, &body, None)
        .await
    {
        Ok((reminder, _)) => {
            info!(notice_id = %record.id, reminder = %reminder.id, peer = %record.recipient, "sent a reminder (催办)");
            Reminded::Sent(reminder.id)
        }
        Err(crate::SendError::Storage(e)) => return Err(e),
        Err(e) => {
            // Usually the agreement does not allow reminders: say so once, and do not try again.
            warn!(notice_id = %record.id, peer = %record.recipient, error = %e, kind = NoticeKind::Reminder.name(), "cannot send a reminder");
            Reminded::NotSent(e.to_string())
        }
    };
    // The time of the attempt, sent or not: one reminder (or one warning) per overdue notice.
    let now = state.clock.now_ms();
    state
        .store
        .update_outbound(&record.id, None, move |r| {
            r.reminded_at_ms = Some(now);
            Ok(())
        })
        .await?;
    Ok(outcome)
}
