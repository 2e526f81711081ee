//! Notices: write and answer, list, show, retry and cancel.

use liaison_core::body::NoticeBody;
use liaison_core::deadline::deadline_state;
use liaison_core::draft::{Draft, body_to_json, parse_draft_json};
use liaison_core::notice::KeyId;
use liaison_core::outbox::{Action, Refused};
use liaison_core::trust::check_reference_shape;
use liaison_core::{
    CountyCode, DeadlineStatus, Delivery, NoticeId, NoticeKind, NoticeStatus, OutboundStatus,
    SignedNotice, SignedReceipt,
};
use liaison_store::{IdRange, InboundRecord, ListFilter, OutboundRecord};
use tracing::info;

use super::{Ops, OpsError, Result, Role};
use crate::SendError;

/// Which way a notice went; received ones sort first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Direction {
    Inbound,
    Outbound,
}

/// A notice as operators see it in listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NoticeView {
    pub(crate) id: NoticeId,
    pub(crate) direction: Direction,
    /// The recipient of a sent notice, the sender of a received one.
    pub(crate) peer: CountyCode,
    pub(crate) peer_name: String,
    pub(crate) kind: NoticeKind,
    pub(crate) urgent: bool,
    pub(crate) issued_at_ms: i64,
    pub(crate) in_reply_to: Option<NoticeId>,
    pub(crate) status: NoticeStatus,
    /// The delivery of a sent notice; `None` for a received one.
    pub(crate) delivery: Option<Delivery>,
    /// When the recipient stored it, from its signed receipt.
    pub(crate) receipt_at_ms: Option<i64>,
    pub(crate) reply_due_at_ms: Option<i64>,
    pub(crate) replies: Vec<NoticeId>,
    /// `None` while the deadline clock has not started (a sent notice not yet delivered).
    pub(crate) deadline: Option<DeadlineStatus>,
    /// Why the deadline is unknown.
    pub(crate) deadline_error: Option<String>,
    pub(crate) answered_at_ms: Option<i64>,
    /// When this node last reminded the recipient of a sent notice to reply (催办).
    pub(crate) reminded_at_ms: Option<i64>,
}

/// A notice with its signed bytes checked, and its body unless withheld from the caller.
#[derive(Debug, Clone)]
pub(crate) struct NoticeDetail {
    pub(crate) notice: NoticeView,
    /// The body as JSON; `None` when withheld (auditors never read payloads) or absent.
    pub(crate) body_json: Option<String>,
    pub(crate) signature_valid: bool,
    pub(crate) receipt_valid: bool,
    pub(crate) payload_withheld: bool,
}

/// The notice a send put in the outbox, or found there under the same client key.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    pub(crate) notice: NoticeView,
    pub(crate) already_queued: bool,
}

/// A page of a listing, newest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct PageQuery {
    pub(crate) status: Option<OutboundStatus>,
    pub(crate) peer: Option<CountyCode>,
    pub(crate) kind: Option<NoticeKind>,
    pub(crate) urgent: Option<bool>,
    pub(crate) ids: IdRange,
    pub(crate) limit: usize,
    /// Stop after looking at this many notices, so a filter that matches little stays cheap.
    pub(crate) max_scan: usize,
}

/// One page of notices; `next` is where the following page starts, if there is one.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    pub(crate) notices: Vec<NoticeView>,
    pub(crate) next: Option<NoticeId>,
}

impl Ops {
    fn outbound_view(&self, r: &OutboundRecord) -> Result<NoticeView> {
        let delivered = r.status() == OutboundStatus::Delivered;
        // A sent notice whose kind needs a reply under this node's policy, but whose receipt
        // gave no due time: shown as unknown, never as "no reply required".
        let due_unknown = delivered
            && r.reply_due_at_ms().is_none()
            && self.state.policy().rule(r.kind).is_some();
        Ok(NoticeView {
            id: r.id,
            direction: Direction::Outbound,
            peer: r.recipient,
            peer_name: self.peer_name(r.recipient),
            kind: r.kind,
            urgent: r.urgent,
            issued_at_ms: r.issued_at_ms,
            in_reply_to: r.in_reply_to,
            status: NoticeStatus::Outbound(r.status()),
            receipt_at_ms: r.delivery.receipt_at_ms(),
            reply_due_at_ms: r.reply_due_at_ms(),
            replies: self.state.store.replies_to(&r.id)?,
            // The clock of a deadline starts only with the signed receipt.
            deadline: if !delivered {
                None
            } else if due_unknown {
                Some(DeadlineStatus::Unknown)
            } else {
                Some(DeadlineStatus::Known(
                    self.deadline(r.reply_due_at_ms(), r.answered_at_ms),
                ))
            },
            deadline_error: due_unknown.then(|| {
                format!(
                    "a {} needs a reply, but the recipient's receipt states no due time",
                    r.kind.name()
                )
            }),
            answered_at_ms: r.answered_at_ms,
            reminded_at_ms: r.reminded_at_ms,
            delivery: Some(r.delivery.clone()),
        })
    }

    pub(super) fn inbound_view(&self, r: &InboundRecord) -> Result<NoticeView> {
        Ok(NoticeView {
            id: r.id,
            direction: Direction::Inbound,
            peer: r.sender,
            peer_name: self.peer_name(r.sender),
            kind: r.kind,
            urgent: r.urgent,
            issued_at_ms: r.issued_at_ms,
            in_reply_to: r.in_reply_to,
            status: NoticeStatus::Received,
            delivery: None,
            receipt_at_ms: Some(r.received_at_ms),
            reply_due_at_ms: r.reply_due_at_ms,
            replies: self.state.store.replies_to(&r.id)?,
            deadline: Some(if r.deadline_error.is_some() {
                DeadlineStatus::Unknown
            } else {
                DeadlineStatus::Known(self.deadline(r.reply_due_at_ms, r.answered_at_ms))
            }),
            deadline_error: r.deadline_error.clone(),
            answered_at_ms: r.answered_at_ms,
            reminded_at_ms: None,
        })
    }

    fn deadline(
        &self,
        due_at_ms: Option<i64>,
        answered_at_ms: Option<i64>,
    ) -> liaison_core::DeadlineState {
        deadline_state(
            due_at_ms,
            answered_at_ms,
            self.now_ms(),
            self.state.config.deadlines.due_soon_ms,
        )
    }

    /// The view of an outbound notice, or of an inbound one; `None` if neither exists.
    pub(super) fn view_of(
        &self,
        direction: Direction,
        id: &NoticeId,
    ) -> Result<Option<NoticeView>> {
        let store = &self.state.store;
        match direction {
            Direction::Outbound => store.outbound(id)?.map(|r| self.outbound_view(&r)),
            Direction::Inbound => store.inbound(id)?.map(|r| self.inbound_view(&r)),
        }
        .transpose()
    }

    /// Signs the draft (JSON, see docs/notices.md) and puts the notice in the outbox, to the
    /// draft's recipient or, if `in_reply_to` names a notice of the inbox, in answer to it;
    /// returns once it is durable.
    pub(crate) async fn send(&self, draft_json: &str, in_reply_to: &str) -> Result<Sent> {
        // Refused before the draft is read: an auditor's draft is nobody's concern.
        self.operator_only("write or answer notices")?;
        let draft = parse_draft_json(draft_json).map_err(|e| OpsError::Invalid(e.to_string()))?;
        let in_reply_to = match in_reply_to.trim() {
            "" => None,
            id => Some(super::parse_id(id)?),
        };
        self.send_draft(draft, in_reply_to).await
    }

    async fn send_draft(&self, draft: Draft, in_reply_to: Option<NoticeId>) -> Result<Sent> {
        let me = self.county();
        let kind = draft.body.kind();
        let (recipient, in_reply_to) = match in_reply_to {
            None => {
                let recipient = draft.recipient.ok_or_else(|| {
                    OpsError::Invalid("recipient: required (the county code to send to)".into())
                })?;
                (recipient, None)
            }
            Some(original_id) => {
                let original = self.state.store.inbound(&original_id)?.ok_or_else(|| {
                    OpsError::NotFound(format!("in_reply_to: no notice {original_id} in the inbox"))
                })?;
                if draft.recipient.is_some_and(|r| r != original.sender) {
                    return Err(OpsError::Invalid(format!(
                        "recipient: a reply goes to the sender of the original notice, {}",
                        original.sender
                    )));
                }
                if !kind.may_answer(original.kind) {
                    let allowed: Vec<&str> = NoticeKind::ALL
                        .into_iter()
                        .filter(|k| k.may_answer(original.kind))
                        .map(|k| k.name())
                        .collect();
                    return Err(OpsError::Invalid(format!(
                        "body.kind: a {} cannot answer a {}; use {}",
                        kind.name(),
                        original.kind.name(),
                        if allowed.is_empty() {
                            "nothing: that kind needs no reply".to_owned()
                        } else {
                            allowed.join(" or ")
                        }
                    )));
                }
                (original.sender, Some(original_id))
            }
        };
        if recipient == me {
            return Err(OpsError::Invalid(
                "recipient: a county cannot send a notice to itself".into(),
            ));
        }
        check_reference_shape(kind, in_reply_to.is_some())
            .map_err(|r| OpsError::Invalid(r.reason))?;
        if self
            .state
            .directory
            .current()
            .peers
            .get(recipient)
            .is_none()
        {
            return Err(OpsError::Invalid(format!(
                "recipient: {recipient} is not a peer in this node's directory"
            )));
        }
        let (record, new) = self
            .state
            .send_notice(
                recipient,
                draft.urgent,
                in_reply_to,
                &draft.body,
                draft.client_key.as_deref(),
            )
            .await
            .map_err(|e| match e {
                SendError::NotAllowed(why) => OpsError::NotNow(format!("recipient: {why}")),
                SendError::Storage(e) => e.into(),
                SendError::Random(why) => OpsError::Internal(why),
            })?;
        if !new {
            info!(notice_id = %record.id, "a send repeated a client key; answered with the notice queued before");
        }
        Ok(Sent {
            notice: self.outbound_view(&record)?,
            already_queued: !new,
        })
    }

    /// The notice an earlier send queued under `client_key`, if any.
    pub(crate) fn sent_with_client_key(&self, client_key: &str) -> Result<Option<NoticeView>> {
        self.operator_only("look up notices by client key")?;
        self.state
            .store
            .outbound_by_client_key(client_key)?
            .map(|r| self.outbound_view(&r))
            .transpose()
    }

    /// The newest sent notices that pass `filter`.
    pub(crate) fn list_outbox(&self, filter: &ListFilter) -> Result<Vec<NoticeView>> {
        self.state
            .store
            .list_outbound(filter)?
            .iter()
            .map(|r| self.outbound_view(r))
            .collect()
    }

    /// The newest received notices, from `peer` if given.
    pub(crate) fn list_inbox(
        &self,
        peer: Option<CountyCode>,
        limit: usize,
    ) -> Result<Vec<NoticeView>> {
        self.state
            .store
            .list_inbound(peer, limit)?
            .iter()
            .map(|r| self.inbound_view(r))
            .collect()
    }

    /// One page of the outbox or the inbox; reads run off the async runtime's threads.
    pub(crate) async fn page(&self, direction: Direction, query: PageQuery) -> Result<Page> {
        let ops = self.clone();
        tokio::task::spawn_blocking(move || ops.page_blocking(direction, &query))
            .await
            .map_err(|e| OpsError::Internal(format!("listing task failed: {e}")))?
    }

    fn page_blocking(&self, direction: Direction, q: &PageQuery) -> Result<Page> {
        let keep = |kind: NoticeKind, urgent: bool| {
            q.kind.is_none_or(|k| k == kind) && q.urgent.is_none_or(|u| u == urgent)
        };
        let store = &self.state.store;
        match direction {
            Direction::Outbound => {
                let filter = ListFilter {
                    status: q.status,
                    peer: q.peer,
                    limit: q.limit,
                };
                let page =
                    store.page_outbound(&filter, q.ids, q.max_scan, |r| keep(r.kind, r.urgent))?;
                Ok(Page {
                    notices: page
                        .items
                        .iter()
                        .map(|r| self.outbound_view(r))
                        .collect::<Result<_>>()?,
                    next: page.next,
                })
            }
            Direction::Inbound => {
                let page = store.page_inbound(q.peer, q.limit, q.ids, q.max_scan, |r| {
                    keep(r.kind, r.urgent)
                })?;
                Ok(Page {
                    notices: page
                        .items
                        .iter()
                        .map(|r| self.inbound_view(r))
                        .collect::<Result<_>>()?,
                    next: page.next,
                })
            }
        }
    }

    /// A received notice, for answering it.
    pub(crate) fn inbound(&self, id: &NoticeId) -> Result<Option<NoticeView>> {
        self.view_of(Direction::Inbound, id)
    }

    /// One notice, sent or received, with its signatures checked.
    pub(crate) fn show(&self, id: &NoticeId) -> Result<NoticeDetail> {
        let store = &self.state.store;
        let (notice, envelope, receipt, signer, receipt_signer) =
            if let Some(r) = store.outbound(id)? {
                (
                    self.outbound_view(&r)?,
                    store.outbound_envelope(id)?,
                    store.outbound_receipt(id)?,
                    None,
                    Some(r.recipient),
                )
            } else if let Some(r) = store.inbound(id)? {
                (
                    self.inbound_view(&r)?,
                    store.inbound_envelope(id)?,
                    store.inbound_receipt(id)?,
                    Some(r.sender),
                    None,
                )
            } else {
                return Err(OpsError::NotFound(format!(
                    "no notice {id} in the outbox or the inbox"
                )));
            };
        let signed = envelope
            .as_deref()
            .map(SignedNotice::from_envelope_bytes)
            .transpose()
            .map_err(|e| OpsError::Internal(format!("stored envelope unreadable: {e}")))?;
        let receipt = receipt
            .as_deref()
            .map(SignedReceipt::from_bytes)
            .transpose()
            .ok()
            .flatten();
        // This node's keys, by id: what an earlier key signed verifies after a rotation.
        let own_key = |key_id: KeyId| {
            self.state
                .own_keys
                .iter()
                .copied()
                .find(|k| KeyId::of(k) == key_id)
        };
        let peer_key = |county: CountyCode, key_id, at_ms| {
            self.state
                .directory
                .current()
                .peers
                .get(county)
                .and_then(|p| p.key_at(key_id, at_ms).ok())
                .map(|k| k.key)
        };
        let signature_valid = signed.as_ref().is_some_and(|n| {
            let key = match signer {
                None => own_key(n.header.key_id),
                Some(sender) => peer_key(sender, n.header.key_id, n.header.issued_at_ms),
            };
            key.is_some_and(|k| n.signature_valid(&k) && n.payload_digest_valid())
        });
        let receipt_valid = receipt.as_ref().is_some_and(|r| {
            let key = match receipt_signer {
                None => own_key(r.receipt.key_id),
                Some(peer) => peer_key(peer, r.receipt.key_id, r.receipt.received_at_ms),
            };
            key.is_some_and(|k| r.signature_valid(&k))
        });
        // Payloads are personal data: auditors verify without reading them.
        let payload_withheld = self.role == Role::Auditor;
        let body_json = match signed.as_ref().map(|n| NoticeBody::decode(&n.payload)) {
            _ if payload_withheld => None,
            Some(Ok(body)) => Some(body_to_json(&body)),
            Some(Err(e)) => Some(format!("{{\"error\": {:?}}}", e.to_string())),
            None => None,
        };
        Ok(NoticeDetail {
            notice,
            body_json,
            signature_valid,
            receipt_valid,
            payload_withheld,
        })
    }

    /// An operator's action on a pending notice: retry it at once, or cancel it.
    pub(crate) async fn act(&self, id: &NoticeId, action: Action) -> Result<NoticeView> {
        type Transition = fn(&Delivery) -> std::result::Result<Delivery, Refused>;
        let (transition, what): (Transition, _) = match action {
            Action::Retry => (Delivery::retry, "retry notices"),
            Action::Cancel => (Delivery::cancel, "cancel notices"),
        };
        self.operator_only(what)?;
        let change = move |r: &mut OutboundRecord| {
            r.delivery = transition(&r.delivery)?;
            Ok(())
        };
        let record = self.state.store.update_outbound(id, None, change).await?;
        match action {
            Action::Retry => {
                info!(notice_id = %id, "operator asked for a retry");
                self.state.wake(record.recipient, true);
            }
            Action::Cancel => info!(notice_id = %id, "operator cancelled a notice"),
        }
        self.outbound_view(&record)
    }
}
