//! What is due: replies this county owes and replies it awaits, soonest first, with counts.

use liaison_core::DeadlineState;
use liaison_core::deadline::{days_left, deadline_state};
use liaison_store::{DueEntry, Side};

use super::notices::Direction;
use super::{NoticeView, Ops, OpsError, Result};
use crate::tracker::Reminded;
use liaison_core::NoticeId;

/// Which replies to list.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DueQuery {
    /// `None` for both sides.
    pub(crate) side: Option<Side>,
    /// Only those whose due time has passed.
    pub(crate) overdue_only: bool,
    pub(crate) limit: usize,
}

/// One reply still due.
#[derive(Debug, Clone)]
pub(crate) struct DueItem {
    pub(crate) notice: NoticeView,
    pub(crate) side: Side,
    pub(crate) due_at_ms: i64,
    pub(crate) state: DeadlineState,
    pub(crate) days_left: i64,
}

/// How many replies are due, by side and state, over the whole store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DueCounts {
    pub(crate) owed_open: u64,
    pub(crate) owed_due_soon: u64,
    pub(crate) owed_overdue: u64,
    pub(crate) awaited_open: u64,
    pub(crate) awaited_due_soon: u64,
    pub(crate) awaited_overdue: u64,
    /// Received notices that need a reply but whose due time could not be computed.
    pub(crate) deadline_errors: u64,
}

/// The answer to a [`DueQuery`].
#[derive(Debug, Clone)]
pub(crate) struct DueList {
    pub(crate) items: Vec<DueItem>,
    pub(crate) counts: DueCounts,
    /// Received notices whose due time is unknown (on the owed side only).
    pub(crate) deadline_errors: Vec<NoticeView>,
}

impl Ops {
    /// Reminds the recipient of sent notice `id` that its reply is awaited (催办): sends it a
    /// signed reminder notice if the agreement allows, and records the time on the notice either
    /// way. Operators only; only for a delivered notice whose reply is due and not yet made.
    pub(crate) async fn remind(&self, id: &NoticeId) -> Result<Reminded> {
        self.operator_only("send reminders")?;
        let record = self.state.store.outbound(id)?.ok_or_else(|| {
            OpsError::NotFound(format!(
                "催办只用于本县区发出的通报 no sent notice {id}: reminders are for notices this county sent"
            ))
        })?;
        if record.answered_at_ms.is_some() {
            return Err(OpsError::NotNow(format!(
                "对方已复函，无需催办 notice {id} is answered already: no reminder needed"
            )));
        }
        let Some(due_at_ms) = record.reply_due_at_ms() else {
            return Err(OpsError::NotNow(format!(
                "该通报尚未送达或无需复函，无从催办 notice {id} is not delivered or needs no reply: there is no reply to remind of"
            )));
        };
        let reminded = crate::tracker::remind(&self.state, &record, due_at_ms).await?;
        Ok(reminded)
    }

    /// Replies due, soonest first, and the counts of all that are due.
    pub(crate) fn due(&self, query: DueQuery) -> Result<DueList> {
        let store = &self.state.store;
        let now = self.now_ms();
        let due_soon_ms = self.state.config.deadlines.due_soon_ms;
        // Due times before `now + 1` are those that have passed.
        let before = if query.overdue_only {
            now.saturating_add(1)
        } else {
            i64::MAX
        };
        let mut items = Vec::new();
        for DueEntry {
            due_at_ms,
            side,
            id,
        } in store.due(query.side, before, query.limit)?
        {
            let direction = match side {
                Side::Owed => Direction::Inbound,
                Side::Awaited => Direction::Outbound,
            };
            let Some(notice) = self.view_of(direction, &id)? else {
                continue;
            };
            items.push(DueItem {
                notice,
                side,
                due_at_ms,
                state: deadline_state(Some(due_at_ms), None, now, due_soon_ms),
                days_left: days_left(due_at_ms, now),
            });
        }
        let mut counts = DueCounts::default();
        for entry in store.due(None, i64::MAX, usize::MAX)? {
            let state = deadline_state(Some(entry.due_at_ms), None, now, due_soon_ms);
            let counter = match (entry.side, state) {
                (Side::Owed, DeadlineState::Overdue) => &mut counts.owed_overdue,
                (Side::Owed, DeadlineState::DueSoon) => &mut counts.owed_due_soon,
                (Side::Owed, _) => &mut counts.owed_open,
                (Side::Awaited, DeadlineState::Overdue) => &mut counts.awaited_overdue,
                (Side::Awaited, DeadlineState::DueSoon) => &mut counts.awaited_due_soon,
                (Side::Awaited, _) => &mut counts.awaited_open,
            };
            *counter += 1;
        }
        let all_errors = store.deadline_errors(usize::MAX)?;
        counts.deadline_errors = all_errors.len() as u64;
        let errors = if query.side == Some(Side::Awaited) {
            &[][..]
        } else {
            &all_errors[..all_errors.len().min(query.limit)]
        };
        let deadline_errors = errors
            .iter()
            .map(|r| self.inbound_view(r))
            .collect::<Result<_>>()?;
        Ok(DueList {
            items,
            counts,
            deadline_errors,
        })
    }
}
