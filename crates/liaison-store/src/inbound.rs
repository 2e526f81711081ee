//! The inbound table: notices this node received and accepted, with the receipts it issued for
//! them, their row mapping, lookups, listings and changes.

use liaison_core::merkle::Hash;
use liaison_core::tlog::LeafKind;
use liaison_core::{CountyCode, NoticeId};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::blobs::{Blob, get_blob, put_blob};
use crate::log::{NewLeaf, append_leaf, put_checkpoint};
use crate::page::{collect_page, id_bounds};
use crate::replies::{Answered, link_reply, mark_answered};
use crate::rows::{get_county, get_flagged, get_id, get_kind, get_opt_id, limit_param};
use crate::{IdRange, InboundRecord, LogHead, Page, Result, Store, StoreError};

/// What happened to one notice of an inbound batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundOutcome {
    /// Newly stored, with the receipt issued for it.
    Stored { receipt: Vec<u8> },
    /// The same envelope was stored before; here is the receipt issued then.
    AlreadyStored { receipt: Vec<u8> },
    /// A different envelope with the same id was stored before; nothing was written.
    IdConflict,
}

/// One inbound notice to store with the receipt that will be returned for it.
#[derive(Debug, Clone)]
pub struct InboundItem {
    pub record: InboundRecord,
    pub envelope: Vec<u8>,
    /// The hash of the envelope's header and signature (`tlog::content_hash`); its leaf, a
    /// received notice, is logged at the record's receipt time.
    pub content: Hash,
    /// For a reply: the earliest time, on the word of counties other than the replier, by which
    /// it existed (this node's receipt time, or an earlier cosignature); it states it in its
    /// receipt, and the notice it answers counts as answered at the reply's time from it.
    pub existed_by_ms: Option<i64>,
}

/// The receipt a node issues for a newly stored notice, made once the notice is in the log.
#[derive(Debug, Clone)]
pub struct IssuedReceipt {
    /// The encoded signed receipt.
    pub bytes: Vec<u8>,
    /// The hash of its signed bytes and signature (`tlog::content_hash`).
    pub content: Hash,
    /// The signed checkpoint it carries, for the node's own record of checkpoints.
    pub checkpoint: Option<(u64, String)>,
}

pub(crate) const INBOUND_COLUMNS: &str = "id, sender, kind, urgent, issued_at_ms, in_reply_to, \
     received_at_ms, envelope_sha256, reply_due_at_ms, deadline_error, answered_at_ms, flagged";

pub(crate) fn inbound_from_row(row: &Row) -> rusqlite::Result<InboundRecord> {
    Ok(InboundRecord {
        id: get_id(row, 0)?,
        sender: get_county(row, 1)?,
        kind: get_kind(row, 2)?,
        urgent: row.get(3)?,
        issued_at_ms: row.get(4)?,
        in_reply_to: get_opt_id(row, 5)?,
        received_at_ms: row.get(6)?,
        envelope_sha256: row.get(7)?,
        reply_due_at_ms: row.get(8)?,
        deadline_error: row.get(9)?,
        answered_at_ms: row.get(10)?,
        flagged: get_flagged(row, 11)?,
    })
}

fn write_inbound(conn: &Connection, r: &InboundRecord, insert: bool) -> rusqlite::Result<()> {
    let sql = if insert {
        "INSERT INTO inbound (id, sender, kind, urgent, issued_at_ms, in_reply_to, \
         received_at_ms, envelope_sha256, reply_due_at_ms, deadline_error, answered_at_ms, \
         flagged) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    } else {
        "UPDATE inbound SET sender = ?2, kind = ?3, urgent = ?4, issued_at_ms = ?5, \
         in_reply_to = ?6, received_at_ms = ?7, envelope_sha256 = ?8, reply_due_at_ms = ?9, \
         deadline_error = ?10, answered_at_ms = ?11, flagged = ?12 WHERE id = ?1"
    };
    conn.prepare_cached(sql)?.execute(params![
        r.id.as_bytes(),
        r.sender.as_str(),
        r.kind.name(),
        r.urgent,
        r.issued_at_ms,
        r.in_reply_to.as_ref().map(|i| i.as_bytes()),
        r.received_at_ms,
        r.envelope_sha256,
        r.reply_due_at_ms,
        r.deadline_error,
        r.answered_at_ms,
        r.flagged.map(|f| f.name()),
    ])?;
    Ok(())
}

fn read_inbound(conn: &Connection, id: &NoticeId) -> rusqlite::Result<Option<InboundRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {INBOUND_COLUMNS} FROM inbound WHERE id = ?1"
    ))?
    .query_row([id.as_bytes()], inbound_from_row)
    .optional()
}

impl Store {
    /// Stores a batch of inbound notices with their receipts in one transaction; returns once the
    /// batch is on disk. A redelivered envelope is not stored again: its earlier receipt is
    /// returned instead. `issue` makes the receipt for each newly stored notice, given the log's
    /// head just after the notice was appended (so the receipt can carry a checkpoint that
    /// includes it); the receipt is appended to the log too. If the batch cannot be stored, no
    /// receipt is returned for any of it.
    pub async fn accept_inbound(
        &self,
        items: &[InboundItem],
        mut issue: impl FnMut(&InboundItem, LogHead) -> IssuedReceipt + Send + 'static,
    ) -> Result<Vec<InboundOutcome>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let items = items.to_vec();
        self.inner
            .writer
            .write(move |conn| {
                let mut outcomes = Vec::with_capacity(items.len());
                for item in &items {
                    let rec = &item.record;
                    if let Some(existing) = read_inbound(conn, &rec.id)? {
                        outcomes.push(if existing.envelope_sha256 == rec.envelope_sha256 {
                            InboundOutcome::AlreadyStored {
                                receipt: get_blob(conn, Blob::InboundReceipt, &rec.id)?
                                    .unwrap_or_default(),
                            }
                        } else {
                            InboundOutcome::IdConflict
                        });
                        continue;
                    }
                    write_inbound(conn, rec, true)?;
                    put_blob(conn, Blob::InboundEnvelope, &rec.id, &item.envelope)?;
                    crate::persons::index(conn, &rec.id, &item.envelope)?;
                    let logged = |kind, content| NewLeaf {
                        kind,
                        id: &rec.id,
                        counterparty: rec.sender,
                        content,
                        now_ms: rec.received_at_ms,
                    };
                    let head = append_leaf(conn, logged(LeafKind::ReceivedNotice, item.content))?;
                    let receipt = issue(item, head);
                    put_blob(conn, Blob::InboundReceipt, &rec.id, &receipt.bytes)?;
                    append_leaf(conn, logged(LeafKind::IssuedReceipt, receipt.content))?;
                    if let Some((size, note)) = &receipt.checkpoint {
                        put_checkpoint(conn, *size, note)?;
                    }
                    if let Some(original) = rec.in_reply_to {
                        link_reply(conn, &original, &rec.id)?;
                        if let Some(existed_by) = item.existed_by_ms {
                            mark_answered(
                                conn,
                                Answered::Outbound,
                                &original,
                                rec.issued_at_ms,
                                existed_by,
                            )?;
                        }
                    }
                    outcomes.push(InboundOutcome::Stored {
                        receipt: receipt.bytes,
                    });
                }
                Ok(outcomes)
            })
            .await
    }

    /// The inbound record with `id`.
    pub fn inbound(&self, id: &NoticeId) -> Result<Option<InboundRecord>> {
        Ok(read_inbound(&*self.reader()?, id)?)
    }

    /// The envelope of an inbound notice: its header, payload, signature and payload salt bytes as received.
    pub fn inbound_envelope(&self, id: &NoticeId) -> Result<Option<Vec<u8>>> {
        Ok(get_blob(&*self.reader()?, Blob::InboundEnvelope, id)?)
    }

    /// The signed receipt this node issued for an inbound notice.
    pub fn inbound_receipt(&self, id: &NoticeId) -> Result<Option<Vec<u8>>> {
        Ok(get_blob(&*self.reader()?, Blob::InboundReceipt, id)?)
    }

    /// Changes an inbound record (e.g. the tracker's flag), atomically with the due index.
    pub async fn update_inbound(
        &self,
        id: &NoticeId,
        change: impl FnOnce(&mut InboundRecord) + Send + 'static,
    ) -> Result<InboundRecord> {
        let id = *id;
        self.inner
            .writer
            .write(move |conn| {
                let mut record = read_inbound(conn, &id)?.ok_or(StoreError::NoSuchNotice(id))?;
                change(&mut record);
                write_inbound(conn, &record, false)?;
                Ok(record)
            })
            .await
    }

    /// Received notices, not yet answered, whose due time could not be computed.
    pub fn deadline_errors(&self, limit: usize) -> Result<Vec<InboundRecord>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {INBOUND_COLUMNS} FROM inbound \
             WHERE deadline_error IS NOT NULL AND answered_at_ms IS NULL ORDER BY id LIMIT ?1"
        ))?;
        let rows = stmt.query_map([limit_param(limit)], inbound_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every inbound record, oldest first; for reports.
    pub fn all_inbound(&self) -> Result<Vec<InboundRecord>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {INBOUND_COLUMNS} FROM inbound ORDER BY id"
        ))?;
        let rows = stmt.query_map([], inbound_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Inbound notices, newest first.
    pub fn list_inbound(
        &self,
        peer: Option<CountyCode>,
        limit: usize,
    ) -> Result<Vec<InboundRecord>> {
        Ok(self
            .page_inbound(peer, limit, IdRange::default(), usize::MAX, |_| true)?
            .items)
    }

    /// A page of inbound notices, newest first; as [`Store::page_outbound`].
    pub fn page_inbound(
        &self,
        peer: Option<CountyCode>,
        limit: usize,
        ids: IdRange,
        max_scan: usize,
        keep: impl Fn(&InboundRecord) -> bool,
    ) -> Result<Page<InboundRecord>> {
        let sql = format!(
            "SELECT {INBOUND_COLUMNS} FROM inbound WHERE id < ?1 AND id >= ?2{} ORDER BY id DESC",
            if peer.is_some() {
                " AND sender = ?3"
            } else {
                ""
            }
        );
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&sql)?;
        let (before, from) = id_bounds(ids);
        stmt.raw_bind_parameter(1, before.as_slice())?;
        stmt.raw_bind_parameter(2, from.as_slice())?;
        if let Some(peer) = peer {
            stmt.raw_bind_parameter(3, peer.as_str())?;
        }
        let rows = stmt.raw_query().mapped(inbound_from_row);
        collect_page(rows, limit, max_scan, keep, |r| r.id)
    }
}
