//! The outbound table: notices this node signed, from the outbox to their receipt, with their
//! row mapping, lookups, listings and changes.

use liaison_core::SignedReceipt;
use liaison_core::merkle::Hash;
use liaison_core::outbox::Refused;
use liaison_core::tlog::LeafKind;
use liaison_core::{CountyCode, Delivery, NoticeId, RejectCode};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::blobs::{Blob, get_blob, put_blob};
use crate::log::{NewLeaf, append_leaf};
use crate::page::{collect_page, id_bounds};
use crate::replies::{Answered, link_reply, mark_answered};
use crate::rows::{corrupt, get_county, get_flagged, get_id, get_kind, get_opt_id, limit_param};
use crate::{IdRange, ListFilter, OutboundRecord, OutboundStatus, Page, Result, Store, StoreError};

/// What became of an [`Store::enqueue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// Newly queued.
    New,
    /// A notice with the same client key was queued before: this one, and nothing was written.
    Existing(OutboundRecord),
}

/// A signed receipt that came back for an outbound notice, as the log records it.
#[derive(Debug, Clone)]
pub struct ReceivedReceipt {
    /// The encoded signed receipt.
    pub bytes: Vec<u8>,
    /// The hash of its signed bytes and signature (`tlog::content_hash`).
    pub content: Hash,
    /// When it came (this node's clock).
    pub at_ms: i64,
}

/// One change of [`Store::update_outbound_batch`].
pub struct OutboundUpdate {
    pub id: NoticeId,
    /// A signed receipt received for it; logged once.
    pub receipt: Option<ReceivedReceipt>,
    /// Changes the record; may refuse with a message, and then nothing of this change is written.
    pub change: ChangeFn<OutboundRecord>,
}

impl std::fmt::Debug for OutboundUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundUpdate")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A change to an outbound record, run on the store's writer; it may refuse.
pub type ChangeFn<R> = Box<dyn FnOnce(&mut R) -> std::result::Result<(), Refused> + Send>;

pub(crate) const OUTBOUND_COLUMNS: &str = "id, recipient, kind, urgent, issued_at_ms, \
     in_reply_to, status, attempts, last_error, next_attempt_at_ms, receipt_at_ms, reject_code, \
     reject_reason, reply_due_at_ms, answered_at_ms, flagged, reminded_at_ms";

pub(crate) fn outbound_from_row(row: &Row) -> rusqlite::Result<OutboundRecord> {
    Ok(OutboundRecord {
        id: get_id(row, 0)?,
        recipient: get_county(row, 1)?,
        kind: get_kind(row, 2)?,
        urgent: row.get(3)?,
        issued_at_ms: row.get(4)?,
        in_reply_to: get_opt_id(row, 5)?,
        delivery: get_delivery(row)?,
        answered_at_ms: row.get(14)?,
        flagged: get_flagged(row, 15)?,
        reminded_at_ms: row.get(16)?,
    })
}

/// The delivery state from columns 6 to 13 of [`OUTBOUND_COLUMNS`]; a column the state needs
/// but that is empty makes the row unreadable.
fn get_delivery(row: &Row) -> rusqlite::Result<Delivery> {
    fn needed<T>(value: Option<T>, column: usize, status: &str) -> rusqlite::Result<T> {
        value.ok_or_else(|| corrupt(column, format!("a {status} notice without this column")))
    }
    let status: String = row.get(6)?;
    let attempts: u32 = row.get(7)?;
    let last_error: Option<String> = row.get(8)?;
    let receipt_at_ms: Option<i64> = row.get(10)?;
    Ok(
        match OutboundStatus::parse(&status)
            .map_err(|_| corrupt(6, format!("unknown status {status:?}")))?
        {
            OutboundStatus::Queued => Delivery::Queued,
            OutboundStatus::InFlight => Delivery::InFlight {
                attempts,
                last_error: needed(last_error, 8, &status)?,
                next_attempt_at_ms: row.get(9)?,
            },
            OutboundStatus::Delivered => Delivery::Delivered {
                attempts,
                received_at_ms: needed(receipt_at_ms, 10, &status)?,
                reply_due_at_ms: row.get(13)?,
            },
            OutboundStatus::Rejected => {
                let code: Option<i32> = row.get(11)?;
                let code = needed(code, 11, &status)?;
                Delivery::Rejected {
                    attempts,
                    received_at_ms: needed(receipt_at_ms, 10, &status)?,
                    code: RejectCode::from_wire(code)
                        .ok_or_else(|| corrupt(11, format!("code {code}")))?,
                    reason: needed(row.get(12)?, 12, &status)?,
                }
            }
            OutboundStatus::Cancelled => Delivery::Cancelled {
                attempts,
                last_error,
            },
        },
    )
}

fn write_outbound(conn: &Connection, r: &OutboundRecord, insert: bool) -> rusqlite::Result<()> {
    let sql = if insert {
        "INSERT INTO outbound (id, recipient, kind, urgent, issued_at_ms, in_reply_to, status, \
         attempts, last_error, next_attempt_at_ms, receipt_at_ms, reject_code, reject_reason, \
         reply_due_at_ms, answered_at_ms, flagged, reminded_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
    } else {
        "UPDATE outbound SET recipient = ?2, kind = ?3, urgent = ?4, issued_at_ms = ?5, \
         in_reply_to = ?6, status = ?7, attempts = ?8, last_error = ?9, \
         next_attempt_at_ms = ?10, receipt_at_ms = ?11, reject_code = ?12, reject_reason = ?13, \
         reply_due_at_ms = ?14, answered_at_ms = ?15, flagged = ?16, reminded_at_ms = ?17 \
         WHERE id = ?1"
    };
    let d = &r.delivery;
    conn.prepare_cached(sql)?.execute(params![
        r.id.as_bytes(),
        r.recipient.as_str(),
        r.kind.name(),
        r.urgent,
        r.issued_at_ms,
        r.in_reply_to.as_ref().map(|i| i.as_bytes()),
        d.status().name(),
        d.attempts(),
        d.last_error(),
        d.next_attempt_at_ms().unwrap_or(0),
        d.receipt_at_ms(),
        d.rejection().map(|(code, _)| code.to_wire() as i32),
        d.rejection().map(|(_, reason)| reason),
        d.reply_due_at_ms(),
        r.answered_at_ms,
        r.flagged.map(|f| f.name()),
        r.reminded_at_ms,
    ])?;
    Ok(())
}

fn read_outbound(conn: &Connection, id: &NoticeId) -> rusqlite::Result<Option<OutboundRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {OUTBOUND_COLUMNS} FROM outbound WHERE id = ?1"
    ))?
    .query_row([id.as_bytes()], outbound_from_row)
    .optional()
}

fn outbound_by_client_key(conn: &Connection, key: &str) -> Result<Option<OutboundRecord>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {OUTBOUND_COLUMNS} FROM outbound WHERE client_key = ?1"
        ))?
        .query_row([key], outbound_from_row)
        .optional()?)
}

fn apply_outbound(
    conn: &Connection,
    id: &NoticeId,
    receipt: Option<ReceivedReceipt>,
    change: impl FnOnce(&mut OutboundRecord) -> std::result::Result<(), Refused>,
) -> Result<OutboundRecord> {
    let mut record = read_outbound(conn, id)?.ok_or(StoreError::NoSuchNotice(*id))?;
    change(&mut record).map_err(|refused| StoreError::NotAllowed { id: *id, refused })?;
    write_outbound(conn, &record, false)?;
    // A receipt is logged once: a redelivery returns the same receipt again.
    if let Some(ReceivedReceipt {
        bytes: receipt,
        content,
        at_ms,
    }) = receipt
        && get_blob(conn, Blob::OutboundReceipt, id)?.is_none()
    {
        put_blob(conn, Blob::OutboundReceipt, id, &receipt)?;
        append_leaf(
            conn,
            NewLeaf {
                kind: LeafKind::ReceivedReceipt,
                id,
                counterparty: record.recipient,
                content,
                now_ms: at_ms,
            },
        )?;
        // A reply counts as an answer once the other county's receipt says by when it existed.
        if let (Some(original), Delivery::Delivered { .. }) = (record.in_reply_to, &record.delivery)
            && let Ok(signed) = SignedReceipt::from_bytes(&receipt)
            && let Some(existed_by) = signed.receipt.existed_by_ms
        {
            mark_answered(
                conn,
                Answered::Inbound,
                &original,
                record.issued_at_ms,
                existed_by,
            )?;
        }
    }
    Ok(record)
}

impl Store {
    /// Puts a signed notice in the outbox; returns once it is on disk.
    /// `content` is the envelope's content hash (`tlog::content_hash`); its leaf, a sent notice
    /// logged at the record's issued-at time, is appended to the log.
    /// With a `client_key` that an earlier notice was queued with, nothing is written and that
    /// notice is returned instead.
    pub async fn enqueue(
        &self,
        record: &OutboundRecord,
        envelope: &[u8],
        content: Hash,
        client_key: Option<&str>,
    ) -> Result<Enqueued> {
        let record = record.clone();
        let envelope = envelope.to_vec();
        let client_key = client_key.map(str::to_owned);
        self.inner
            .writer
            .write(move |conn| {
                if let Some(key) = &client_key
                    && let Some(existing) = outbound_by_client_key(conn, key)?
                {
                    return Ok(Enqueued::Existing(existing));
                }
                if read_outbound(conn, &record.id)?.is_some() {
                    return Err(StoreError::Refused(format!(
                        "notice {} is already in the outbox",
                        record.id
                    )));
                }
                write_outbound(conn, &record, true)?;
                if let Some(key) = &client_key {
                    conn.prepare_cached("UPDATE outbound SET client_key = ?2 WHERE id = ?1")?
                        .execute(params![record.id.as_bytes(), key])?;
                }
                put_blob(conn, Blob::OutboundEnvelope, &record.id, &envelope)?;
                crate::persons::index(conn, &record.id, &envelope)?;
                append_leaf(
                    conn,
                    NewLeaf {
                        kind: LeafKind::SentNotice,
                        id: &record.id,
                        counterparty: record.recipient,
                        content,
                        now_ms: record.issued_at_ms,
                    },
                )?;
                if let Some(original) = record.in_reply_to {
                    link_reply(conn, &original, &record.id)?;
                }
                Ok(Enqueued::New)
            })
            .await
    }

    /// The outbound notice queued with `client_key`, if any.
    pub fn outbound_by_client_key(&self, client_key: &str) -> Result<Option<OutboundRecord>> {
        outbound_by_client_key(&*self.reader()?, client_key)
    }

    /// The outbound record with `id`.
    pub fn outbound(&self, id: &NoticeId) -> Result<Option<OutboundRecord>> {
        Ok(read_outbound(&*self.reader()?, id)?)
    }

    /// The signed envelope of an outbound notice.
    pub fn outbound_envelope(&self, id: &NoticeId) -> Result<Option<Vec<u8>>> {
        Ok(get_blob(&*self.reader()?, Blob::OutboundEnvelope, id)?)
    }

    /// The signed receipt received for an outbound notice.
    pub fn outbound_receipt(&self, id: &NoticeId) -> Result<Option<Vec<u8>>> {
        Ok(get_blob(&*self.reader()?, Blob::OutboundReceipt, id)?)
    }

    /// Changes an outbound record with `change`, atomically with its indexes, and stores `receipt`
    /// with it if given. `change` may refuse, through a transition of [`Delivery`]. Returns the record as stored, once
    /// it is on disk.
    pub async fn update_outbound(
        &self,
        id: &NoticeId,
        receipt: Option<ReceivedReceipt>,
        change: impl FnOnce(&mut OutboundRecord) -> std::result::Result<(), Refused> + Send + 'static,
    ) -> Result<OutboundRecord> {
        let id = *id;
        self.inner
            .writer
            .write(move |conn| apply_outbound(conn, &id, receipt, change))
            .await
    }

    /// Several [`Store::update_outbound`]s in one transaction (one fsync), e.g. the results of
    /// one delivery call. Each change succeeds or is refused on its own; a storage failure fails
    /// them all and writes nothing.
    pub async fn update_outbound_batch(
        &self,
        updates: Vec<OutboundUpdate>,
    ) -> Result<Vec<Result<OutboundRecord>>> {
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        self.inner
            .writer
            .write(move |conn| {
                let mut out = Vec::with_capacity(updates.len());
                for u in updates {
                    match apply_outbound(conn, &u.id, u.receipt, u.change) {
                        Err(e) if e.is_storage_failure() => return Err(e),
                        result => out.push(result),
                    }
                }
                Ok(out)
            })
            .await
    }

    /// Pending outbound notices for `peer`, oldest first.
    pub fn pending_for(&self, peer: CountyCode, limit: usize) -> Result<Vec<OutboundRecord>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {OUTBOUND_COLUMNS} FROM outbound \
             WHERE recipient = ?1 AND status IN ('queued', 'in_flight') ORDER BY id LIMIT ?2"
        ))?;
        let rows = stmt.query_map(
            params![peer.as_str(), limit_param(limit)],
            outbound_from_row,
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// How many notices to `peer` wait for delivery.
    pub fn backlog(&self, peer: CountyCode) -> Result<u64> {
        Ok(self.reader()?.prepare_cached(
            "SELECT count(*) FROM outbound WHERE recipient = ?1 AND status IN ('queued', 'in_flight')",
        )?
        .query_row([peer.as_str()], |r| r.get(0))?)
    }

    /// How many outbound notices have each status, in [`OutboundStatus::ALL`]'s order, counted
    /// in one read so that a notice that changes status meanwhile is counted once.
    pub fn count_outbound(&self) -> Result<Vec<(OutboundStatus, u64)>> {
        let conn = self.reader()?;
        let mut stmt =
            conn.prepare_cached("SELECT status, count(*) FROM outbound GROUP BY status")?;
        let mut counted = std::collections::HashMap::new();
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))? {
            let (status, n) = row?;
            counted.insert(status, n);
        }
        Ok(OutboundStatus::ALL
            .into_iter()
            .map(|status| (status, counted.get(status.name()).copied().unwrap_or(0)))
            .collect())
    }

    /// Every outbound record, oldest first; for reports.
    pub fn all_outbound(&self) -> Result<Vec<OutboundRecord>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {OUTBOUND_COLUMNS} FROM outbound ORDER BY id"
        ))?;
        let rows = stmt.query_map([], outbound_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Outbound notices, newest first.
    pub fn list_outbound(&self, filter: &ListFilter) -> Result<Vec<OutboundRecord>> {
        Ok(self
            .page_outbound(filter, IdRange::default(), usize::MAX, |_| true)?
            .items)
    }

    /// A page of outbound notices, newest first, matching `filter`, with ids in `ids`, keeping
    /// those `keep` accepts. It reads at most `max_scan` notices, so a page stays fast however
    /// many notices are stored; `next` continues where it stopped.
    pub fn page_outbound(
        &self,
        filter: &ListFilter,
        ids: IdRange,
        max_scan: usize,
        keep: impl Fn(&OutboundRecord) -> bool,
    ) -> Result<Page<OutboundRecord>> {
        let mut conditions = vec!["id < ?1", "id >= ?2"];
        if filter.peer.is_some() {
            conditions.push("recipient = ?3");
        }
        if filter.status.is_some() {
            conditions.push("status = ?4");
        }
        let sql = format!(
            "SELECT {OUTBOUND_COLUMNS} FROM outbound WHERE {} ORDER BY id DESC",
            conditions.join(" AND ")
        );
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&sql)?;
        let (before, from) = id_bounds(ids);
        let mut bound = vec![
            (1, rusqlite::types::Value::Blob(before.to_vec())),
            (2, rusqlite::types::Value::Blob(from.to_vec())),
        ];
        if let Some(peer) = filter.peer {
            bound.push((3, rusqlite::types::Value::Text(peer.as_str().to_owned())));
        }
        if let Some(status) = filter.status {
            bound.push((4, rusqlite::types::Value::Text(status.name().to_owned())));
        }
        for (i, value) in &bound {
            stmt.raw_bind_parameter(*i, value)?;
        }
        let rows = stmt.raw_query().mapped(outbound_from_row);
        collect_page(rows, filter.limit, max_scan, keep, |r| r.id)
    }
}
