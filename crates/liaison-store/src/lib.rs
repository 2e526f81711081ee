//! Durable storage for a liaison node: the outbox, the inbox, signed receipts, reply links and the
//! indexes that listings and delivery use. The only crate that imports sled.
//!
//! Everything lives in one sled tree under one-byte key prefixes, so that each change to a notice
//! and its indexes is a single atomic transaction. Writes that a caller relies on for durability
//! (`enqueue`, `accept_inbound`, `update_outbound`) return only after the log is flushed to disk;
//! `accept_inbound` takes a whole batch and flushes once, so a batch costs one disk flush.
//!
//! Key layout (ids are the 16 big-endian bytes of a UUIDv7, so key order is time order):
//!
//! | prefix | rest | value |
//! |---|---|---|
//! | `O` | id | outbound record (JSON) |
//! | `E` | id | outbound envelope bytes, as signed |
//! | `R` | id | signed receipt received for an outbound notice |
//! | `Q` | peer code (6) + id | pending delivery (queued or in flight) |
//! | `P` | peer code (6) + id | outbound, by recipient |
//! | `S` | status tag (1) + id | outbound, by status |
//! | `I` | id | inbound record (JSON) |
//! | `e` | id | inbound envelope: the received header, payload and signature bytes, unchanged |
//! | `r` | id | signed receipt this node issued for an inbound notice |
//! | `p` | peer code (6) + id | inbound, by sender |
//! | `L` | original id + reply id | a reply links to the notice it answers |
//! | `X` | id | received notice whose due time could not be computed, not yet answered |
//! | `D` | due time (8, big-endian, offset) + side (`i` owed, `o` awaited) + id | reply still due |
//! | `M` | name | metadata: `schema_version`, `log` (the log's compact range) |
//! | `H` | leaf index (8, big-endian) | leaf hash of the append-only log |
//! | `N` | leaf kind tag (1) + id | leaf index of that notice's envelope or receipt |
//! | `B` | leaf index (8, big-endian) | leaf kind tag (1) + id: what the leaf records |
//! | `K` | tree size (8, big-endian) | a checkpoint this node signed (signed note text) |
//! | `W` | peer code (6) | the newest checkpoint of that peer this node holds (signed note text) |
//! | `A` | time (8) + sequence (8) | an alarm about a peer's log (JSON) |
//!
//! The append-only log (RFC 6962) gets a leaf for every envelope and receipt the node sends or
//! receives, in the same transaction that stores the envelope or receipt.

mod records;

use std::path::Path;

use liaison_core::merkle::{CompactRange, Hash, LeafHashes};
use liaison_core::tlog::LeafKind;
use liaison_core::{CountyCode, NoticeId};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

pub use records::{InboundRecord, OutboundRecord, OutboundStatus};

/// The layout version this code reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("stored record {key} is corrupt: {problem}")]
    Corrupt { key: String, problem: String },
    #[error(
        "the data directory has schema version {found}; this build reads version {SCHEMA_VERSION}"
    )]
    SchemaVersion { found: String },
    #[error("no outbound notice {0}")]
    NoSuchNotice(NoticeId),
    #[error("{0}")]
    Refused(String),
}

type Result<T> = std::result::Result<T, StoreError>;

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
    /// The envelope's leaf hash as a received notice.
    pub leaf: Hash,
}

/// The size and root of the log at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogHead {
    pub size: u64,
    pub root: Hash,
}

/// The receipt a node issues for a newly stored notice, made once the notice is in the log.
#[derive(Debug, Clone)]
pub struct IssuedReceipt {
    /// The encoded signed receipt.
    pub bytes: Vec<u8>,
    /// Its leaf hash as an issued receipt.
    pub leaf: Hash,
    /// The signed checkpoint it carries, for the node's own record of checkpoints.
    pub checkpoint: Option<(u64, String)>,
}

/// Something wrong with a peer's log, kept until an administrator deals with it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Alarm {
    pub peer: CountyCode,
    pub at_ms: i64,
    /// "rollback", "fork" or "bad_checkpoint".
    pub kind: String,
    pub detail: String,
    /// When an operator acknowledged it (e.g. after the peer announced a restore from backup).
    #[serde(default)]
    pub acknowledged_at_ms: Option<i64>,
}

/// A listing's filters; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<OutboundStatus>,
    pub peer: Option<CountyCode>,
    pub limit: usize,
}

/// Which ids a page of a listing may hold: below `before` (the cursor of the previous page) and
/// not below `from` (e.g. the first id of a day). Ids begin with their issue time, so a date
/// range is an id range.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdRange {
    pub before: Option<NoticeId>,
    pub from: Option<NoticeId>,
}

/// One page of a listing, newest first; `next` is the cursor of the following page, if the scan
/// stopped before the end of the index.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<NoticeId>,
}

/// The node's store.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    tree: sled::Tree,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

fn key(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len()).sum::<usize>());
    k.push(prefix);
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

fn id_key(prefix: u8, id: &NoticeId) -> Vec<u8> {
    key(prefix, &[id.as_bytes()])
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Records hold only plain data, which always serialises.
    serde_json::to_vec(value).unwrap_or_default()
}

fn decode<T: serde::de::DeserializeOwned>(k: &[u8], bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: String::from_utf8_lossy(&k[..1]).into_owned(),
        problem: e.to_string(),
    })
}

fn id_from_suffix(k: &[u8]) -> Option<NoticeId> {
    let tail: [u8; 16] = k.get(k.len().checked_sub(16)?..)?.try_into().ok()?;
    Some(NoticeId::from_bytes(tail))
}

fn tx_err(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Sled(e),
    }
}

fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

/// Whose reply a due-index entry waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// This county owes the reply: a notice it received.
    Owed,
    /// The other county owes the reply: a notice this county sent.
    Awaited,
}

impl Side {
    fn tag(self) -> u8 {
        match self {
            Self::Owed => b'i',
            Self::Awaited => b'o',
        }
    }
}

/// One reply still due, from the due index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueEntry {
    pub due_at_ms: i64,
    pub side: Side,
    pub id: NoticeId,
}

fn due_key(due_at_ms: i64, side: Side, id: &NoticeId) -> Vec<u8> {
    // Offset so that the order of the bytes is the order of the (signed) times.
    let ordered = (due_at_ms as u64) ^ (1 << 63);
    key(
        b'D',
        &[&ordered.to_be_bytes(), &[side.tag()], id.as_bytes()],
    )
}

fn parse_due_key(k: &[u8]) -> Option<DueEntry> {
    let time: [u8; 8] = k.get(1..9)?.try_into().ok()?;
    let side = match *k.get(9)? {
        b'i' => Side::Owed,
        b'o' => Side::Awaited,
        _ => return None,
    };
    Some(DueEntry {
        due_at_ms: (u64::from_be_bytes(time) ^ (1 << 63)) as i64,
        side,
        id: id_from_suffix(k)?,
    })
}

/// The due-index key of an outbound notice whose reply is still awaited.
fn awaited_key(r: &OutboundRecord) -> Option<Vec<u8>> {
    let due = r.reply_due_at_ms?;
    (r.answered_at_ms.is_none() && r.status == OutboundStatus::Delivered)
        .then(|| due_key(due, Side::Awaited, &r.id))
}

/// The due-index key of an inbound notice whose reply this county still owes.
fn owed_key(r: &InboundRecord) -> Option<Vec<u8>> {
    let due = r.reply_due_at_ms?;
    r.answered_at_ms
        .is_none()
        .then(|| due_key(due, Side::Owed, &r.id))
}

fn log_key() -> Vec<u8> {
    key(b'M', &[b"log"])
}

fn read_log(
    tx: &TransactionalTree,
) -> std::result::Result<CompactRange, ConflictableTransactionError<StoreError>> {
    match tx.get(log_key())? {
        None => Ok(CompactRange::new()),
        Some(bytes) => CompactRange::from_bytes(&bytes).map_err(|e| {
            abort(StoreError::Corrupt {
                key: "M/log".into(),
                problem: e.to_string(),
            })
        }),
    }
}

/// Appends a leaf to the log in the same transaction as the item it records.
fn append_leaf(
    tx: &TransactionalTree,
    kind: LeafKind,
    id: &NoticeId,
    leaf: Hash,
) -> std::result::Result<LogHead, ConflictableTransactionError<StoreError>> {
    let mut range = read_log(tx)?;
    let index = range.size();
    range.append(leaf).map_err(|e| {
        abort(StoreError::Corrupt {
            key: "M/log".into(),
            problem: e.to_string(),
        })
    })?;
    tx.insert(key(b'H', &[&index.to_be_bytes()]), &leaf)?;
    tx.insert(
        key(b'N', &[&[kind.tag()], id.as_bytes()]),
        &index.to_be_bytes(),
    )?;
    tx.insert(
        key(b'B', &[&index.to_be_bytes()]),
        key(kind.tag(), &[id.as_bytes()]),
    )?;
    tx.insert(log_key(), range.to_bytes())?;
    Ok(LogHead {
        size: range.size(),
        root: range.root(),
    })
}

/// The log's leaves, read from the store, for computing proofs.
pub struct StoredLeaves<'a> {
    tree: &'a sled::Tree,
}

impl LeafHashes for StoredLeaves<'_> {
    fn leaf(&self, index: u64) -> Option<Hash> {
        let value = self.tree.get(key(b'H', &[&index.to_be_bytes()])).ok()??;
        value.as_ref().try_into().ok()
    }
}

/// Writes an inbound record and keeps the due index in step with `old`.
fn put_inbound(
    tx: &TransactionalTree,
    old: Option<&InboundRecord>,
    new: &InboundRecord,
) -> std::result::Result<(), ConflictableTransactionError<StoreError>> {
    if let Some(k) = old.and_then(owed_key) {
        tx.remove(k)?;
    }
    if let Some(k) = owed_key(new) {
        tx.insert(k, &[])?;
    }
    if new.deadline_error.is_some() && new.answered_at_ms.is_none() {
        tx.insert(id_key(b'X', &new.id), &[])?;
    } else {
        tx.remove(id_key(b'X', &new.id))?;
    }
    tx.insert(id_key(b'I', &new.id), encode(new))?;
    Ok(())
}

/// Writes an outbound record and keeps its indexes in step with `old`.
fn put_outbound(
    tx: &TransactionalTree,
    old: Option<&OutboundRecord>,
    new: &OutboundRecord,
) -> std::result::Result<(), ConflictableTransactionError<StoreError>> {
    let id = new.id.as_bytes();
    if let Some(k) = old.and_then(awaited_key) {
        tx.remove(k)?;
    }
    if let Some(k) = awaited_key(new) {
        tx.insert(k, &[])?;
    }
    if let Some(old) = old {
        tx.remove(key(b'S', &[&[old.status.tag()], id]))?;
        if old.status.is_pending() && !new.status.is_pending() {
            tx.remove(key(b'Q', &[old.recipient.as_bytes(), id]))?;
        }
    }
    if new.status.is_pending() {
        tx.insert(key(b'Q', &[new.recipient.as_bytes(), id]), &[])?;
    }
    tx.insert(key(b'S', &[&[new.status.tag()], id]), &[])?;
    tx.insert(key(b'P', &[new.recipient.as_bytes(), id]), &[])?;
    tx.insert(id_key(b'O', &new.id), encode(new))?;
    Ok(())
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let db = sled::Config::new()
            .path(dir)
            .flush_every_ms(Some(500))
            .open()?;
        let tree = db.open_tree("liaison")?;
        let version_key = key(b'M', &[b"schema_version"]);
        match tree.get(&version_key)? {
            None => {
                tree.insert(&version_key, SCHEMA_VERSION.to_string().as_bytes())?;
                db.flush()?;
            }
            Some(v) if v.as_ref() == SCHEMA_VERSION.to_string().as_bytes() => {}
            Some(v) => {
                return Err(StoreError::SchemaVersion {
                    found: String::from_utf8_lossy(&v).into_owned(),
                });
            }
        }
        Ok(Self { db, tree })
    }

    /// Writes everything to disk.
    ///
    /// sled 0.34's `flush_async` runs on sled's own small thread pool, and enough concurrent calls
    /// fill that pool so that the write they all wait for never runs (spacejam/sled#1308). The
    /// synchronous flush on tokio's blocking pool has no such limit; concurrent callers share the
    /// disk write.
    pub async fn flush(&self) -> Result<()> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| StoreError::Refused(format!("flush task failed: {e}")))??;
        Ok(())
    }

    /// Puts a signed notice in the outbox; returns once it is on disk.
    /// `leaf` is the envelope's leaf hash as a sent notice; it is appended to the log.
    pub async fn enqueue(
        &self,
        record: &OutboundRecord,
        envelope: &[u8],
        leaf: Hash,
    ) -> Result<()> {
        self.tree
            .transaction(|tx| {
                if tx.get(id_key(b'O', &record.id))?.is_some() {
                    return Err(abort(StoreError::Refused(format!(
                        "notice {} is already in the outbox",
                        record.id
                    ))));
                }
                put_outbound(tx, None, record)?;
                tx.insert(id_key(b'E', &record.id), envelope)?;
                append_leaf(tx, LeafKind::SentNotice, &record.id, leaf)?;
                if let Some(original) = record.in_reply_to {
                    tx.insert(key(b'L', &[original.as_bytes(), record.id.as_bytes()]), &[])?;
                    let k = id_key(b'I', &original);
                    if let Some(v) = tx.get(&k)? {
                        let old: InboundRecord = decode(&k, &v).map_err(abort)?;
                        if old.answered_at_ms.is_none() {
                            let new = InboundRecord {
                                answered_at_ms: Some(record.issued_at_ms),
                                ..old.clone()
                            };
                            put_inbound(tx, Some(&old), &new)?;
                        }
                    }
                }
                Ok(())
            })
            .map_err(tx_err)?;
        self.flush().await
    }

    /// The outbound record with `id`.
    pub fn outbound(&self, id: &NoticeId) -> Result<Option<OutboundRecord>> {
        let k = id_key(b'O', id);
        self.tree.get(&k)?.map(|v| decode(&k, &v)).transpose()
    }

    /// The signed envelope of an outbound notice.
    pub fn outbound_envelope(&self, id: &NoticeId) -> Result<Option<Vec<u8>>> {
        Ok(self.tree.get(id_key(b'E', id))?.map(|v| v.to_vec()))
    }

    /// The signed receipt received for an outbound notice.
    pub fn outbound_receipt(&self, id: &NoticeId) -> Result<Option<Vec<u8>>> {
        Ok(self.tree.get(id_key(b'R', id))?.map(|v| v.to_vec()))
    }

    /// Changes an outbound record with `change`, atomically with its indexes, and stores `receipt`
    /// with it if given. `change` may refuse with a message; it may run more than once.
    /// Returns the record as stored, once it is on disk.
    pub async fn update_outbound(
        &self,
        id: &NoticeId,
        receipt: Option<(&[u8], Hash)>,
        change: impl Fn(&mut OutboundRecord) -> std::result::Result<(), String>,
    ) -> Result<OutboundRecord> {
        let record = self.change_outbound(id, receipt, change)?;
        self.flush().await?;
        Ok(record)
    }

    /// [`Store::update_outbound`] without waiting for the disk: for changes that may be lost in a
    /// crash without harm, such as a receipt that a redelivery would fetch again. Call
    /// [`Store::flush`] after a batch of them.
    pub fn change_outbound(
        &self,
        id: &NoticeId,
        receipt: Option<(&[u8], Hash)>,
        change: impl Fn(&mut OutboundRecord) -> std::result::Result<(), String>,
    ) -> Result<OutboundRecord> {
        self.tree
            .transaction(|tx| {
                let k = id_key(b'O', id);
                let old: OutboundRecord = match tx.get(&k)? {
                    Some(v) => decode(&k, &v).map_err(abort)?,
                    None => return Err(abort(StoreError::NoSuchNotice(*id))),
                };
                let mut new = old.clone();
                change(&mut new).map_err(|why| abort(StoreError::Refused(why)))?;
                put_outbound(tx, Some(&old), &new)?;
                // A receipt is logged once: a redelivery returns the same receipt again.
                if let Some((receipt, leaf)) = receipt
                    && tx.get(id_key(b'R', id))?.is_none()
                {
                    tx.insert(id_key(b'R', id), receipt)?;
                    append_leaf(tx, LeafKind::ReceivedReceipt, id, leaf)?;
                }
                Ok(new)
            })
            .map_err(tx_err)
    }

    /// Pending outbound notices for `peer`, oldest first.
    pub fn pending_for(&self, peer: CountyCode, limit: usize) -> Result<Vec<OutboundRecord>> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(key(b'Q', &[peer.as_bytes()])) {
            let (k, _) = item?;
            if out.len() >= limit {
                break;
            }
            if let Some(record) = id_from_suffix(&k)
                .map(|id| self.outbound(&id))
                .transpose()?
                .flatten()
            {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// How many notices to `peer` wait for delivery.
    pub fn backlog(&self, peer: CountyCode) -> Result<u64> {
        let mut n = 0;
        for item in self.tree.scan_prefix(key(b'Q', &[peer.as_bytes()])) {
            item?;
            n += 1;
        }
        Ok(n)
    }

    /// How many outbound notices have `status`, counted from the status index (for metrics: it
    /// reads one key per such notice, no record).
    pub fn count_outbound(&self, status: OutboundStatus) -> Result<u64> {
        let mut n = 0;
        for item in self.tree.scan_prefix(key(b'S', &[&[status.tag()]])).keys() {
            item?;
            n += 1;
        }
        Ok(n)
    }

    /// Stores a batch of inbound notices with their receipts; returns once the batch is on disk.
    /// A redelivered envelope is not stored again: its earlier receipt is returned instead.
    /// `issue` makes the receipt for each newly stored notice, given the log's head just after the
    /// notice was appended (so the receipt can carry a checkpoint that includes it); the receipt is
    /// appended to the log too. `issue` may run more than once per notice.
    pub async fn accept_inbound(
        &self,
        items: &[InboundItem],
        issue: impl Fn(&InboundRecord, LogHead) -> IssuedReceipt,
    ) -> Result<Vec<InboundOutcome>> {
        let outcomes = self
            .tree
            .transaction(|tx| {
                let mut outcomes = Vec::with_capacity(items.len());
                for item in items {
                    let rec = &item.record;
                    let k = id_key(b'I', &rec.id);
                    if let Some(existing) = tx.get(&k)? {
                        let existing: InboundRecord = decode(&k, &existing).map_err(abort)?;
                        if existing.envelope_sha256 == rec.envelope_sha256 {
                            let receipt = tx
                                .get(id_key(b'r', &rec.id))?
                                .map(|v| v.to_vec())
                                .unwrap_or_default();
                            outcomes.push(InboundOutcome::AlreadyStored { receipt });
                        } else {
                            outcomes.push(InboundOutcome::IdConflict);
                        }
                        continue;
                    }
                    put_inbound(tx, None, rec)?;
                    tx.insert(id_key(b'e', &rec.id), item.envelope.as_slice())?;
                    let head = append_leaf(tx, LeafKind::ReceivedNotice, &rec.id, item.leaf)?;
                    let receipt = issue(rec, head);
                    tx.insert(id_key(b'r', &rec.id), receipt.bytes.as_slice())?;
                    append_leaf(tx, LeafKind::IssuedReceipt, &rec.id, receipt.leaf)?;
                    if let Some((size, note)) = &receipt.checkpoint {
                        tx.insert(key(b'K', &[&size.to_be_bytes()]), note.as_bytes())?;
                    }
                    tx.insert(key(b'p', &[rec.sender.as_bytes(), rec.id.as_bytes()]), &[])?;
                    if let Some(original) = rec.in_reply_to {
                        tx.insert(key(b'L', &[original.as_bytes(), rec.id.as_bytes()]), &[])?;
                        let k = id_key(b'O', &original);
                        if let Some(v) = tx.get(&k)? {
                            let old: OutboundRecord = decode(&k, &v).map_err(abort)?;
                            if old.answered_at_ms.is_none() {
                                let new = OutboundRecord {
                                    answered_at_ms: Some(rec.issued_at_ms),
                                    ..old.clone()
                                };
                                put_outbound(tx, Some(&old), &new)?;
                            }
                        }
                    }
                    outcomes.push(InboundOutcome::Stored {
                        receipt: receipt.bytes,
                    });
                }
                Ok(outcomes)
            })
            .map_err(tx_err)?;
        // Also when nothing new was stored: a redelivery racing the first delivery may have found
        // a notice that is stored but not yet on disk, and its receipt must not go out before it is.
        if !items.is_empty() {
            self.flush().await?;
        }
        Ok(outcomes)
    }

    /// The inbound record with `id`.
    pub fn inbound(&self, id: &NoticeId) -> Result<Option<InboundRecord>> {
        let k = id_key(b'I', id);
        self.tree.get(&k)?.map(|v| decode(&k, &v)).transpose()
    }

    /// The envelope of an inbound notice: its header, payload and signature bytes as received.
    pub fn inbound_envelope(&self, id: &NoticeId) -> Result<Option<Vec<u8>>> {
        Ok(self.tree.get(id_key(b'e', id))?.map(|v| v.to_vec()))
    }

    /// The signed receipt this node issued for an inbound notice.
    pub fn inbound_receipt(&self, id: &NoticeId) -> Result<Option<Vec<u8>>> {
        Ok(self.tree.get(id_key(b'r', id))?.map(|v| v.to_vec()))
    }

    /// Notices (sent or received) that answer `id`, oldest first.
    pub fn replies_to(&self, id: &NoticeId) -> Result<Vec<NoticeId>> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(id_key(b'L', id)) {
            let (k, _) = item?;
            out.extend(id_from_suffix(&k));
        }
        Ok(out)
    }

    /// Changes an inbound record (e.g. the tracker's flag), atomically with the due index. Not
    /// flushed: such changes are recomputed after a crash.
    pub fn change_inbound(
        &self,
        id: &NoticeId,
        change: impl Fn(&mut InboundRecord),
    ) -> Result<InboundRecord> {
        self.tree
            .transaction(|tx| {
                let k = id_key(b'I', id);
                let old: InboundRecord = match tx.get(&k)? {
                    Some(v) => decode(&k, &v).map_err(abort)?,
                    None => return Err(abort(StoreError::NoSuchNotice(*id))),
                };
                let mut new = old.clone();
                change(&mut new);
                put_inbound(tx, Some(&old), &new)?;
                Ok(new)
            })
            .map_err(tx_err)
    }

    /// Replies still due, soonest first, with a due time before `before_ms`; at most `limit`.
    /// Reads only the due index, never every notice.
    pub fn due(&self, side: Option<Side>, before_ms: i64, limit: usize) -> Result<Vec<DueEntry>> {
        let mut out = Vec::new();
        for item in self.tree.range(
            due_key(i64::MIN, Side::Owed, &NoticeId::from_bytes([0; 16]))
                ..due_key(before_ms, Side::Owed, &NoticeId::from_bytes([0; 16])),
        ) {
            let (k, _) = item?;
            if out.len() >= limit {
                break;
            }
            if let Some(entry) = parse_due_key(&k)
                && side.is_none_or(|s| s == entry.side)
            {
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// The log's current size and root.
    pub fn log_head(&self) -> Result<LogHead> {
        let range = match self.tree.get(log_key())? {
            None => CompactRange::new(),
            Some(bytes) => CompactRange::from_bytes(&bytes).map_err(|e| StoreError::Corrupt {
                key: "M/log".into(),
                problem: e.to_string(),
            })?,
        };
        Ok(LogHead {
            size: range.size(),
            root: range.root(),
        })
    }

    /// The log's leaves, for proofs.
    pub fn leaves(&self) -> StoredLeaves<'_> {
        StoredLeaves { tree: &self.tree }
    }

    /// The leaf index of a notice's envelope or receipt.
    pub fn leaf_index(&self, kind: LeafKind, id: &NoticeId) -> Result<Option<u64>> {
        let Some(v) = self.tree.get(key(b'N', &[&[kind.tag()], id.as_bytes()]))? else {
            return Ok(None);
        };
        let bytes: [u8; 8] = v.as_ref().try_into().map_err(|_| StoreError::Corrupt {
            key: "N".into(),
            problem: "leaf index is not 8 bytes".into(),
        })?;
        Ok(Some(u64::from_be_bytes(bytes)))
    }

    /// What leaf `index` records: its kind and the notice it belongs to.
    pub fn leaf_owner(&self, index: u64) -> Result<Option<(LeafKind, NoticeId)>> {
        let Some(v) = self.tree.get(key(b'B', &[&index.to_be_bytes()]))? else {
            return Ok(None);
        };
        let corrupt = || StoreError::Corrupt {
            key: format!("B/{index}"),
            problem: "not a leaf kind and id".into(),
        };
        let kind = v
            .first()
            .copied()
            .and_then(LeafKind::from_tag)
            .ok_or_else(corrupt)?;
        let id: [u8; 16] = v
            .get(1..)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(corrupt)?;
        Ok(Some((kind, NoticeId::from_bytes(id))))
    }

    /// The hashes of the first `size` leaves, in order.
    pub fn leaf_hashes(&self, size: u64) -> Result<Vec<Hash>> {
        let mut out = Vec::with_capacity(size as usize);
        for item in self.tree.scan_prefix([b'H']).take(size as usize) {
            let (_, v) = item?;
            out.push(v.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                key: "H".into(),
                problem: "leaf hash is not 32 bytes".into(),
            })?);
        }
        if out.len() as u64 != size {
            return Err(StoreError::Corrupt {
                key: "H".into(),
                problem: format!("{} leaves stored, {size} expected", out.len()),
            });
        }
        Ok(out)
    }

    /// Keeps a checkpoint this node signed (at tree size `size`).
    pub fn record_checkpoint(&self, size: u64, note: &str) -> Result<()> {
        self.tree
            .insert(key(b'K', &[&size.to_be_bytes()]), note.as_bytes())?;
        Ok(())
    }

    /// The checkpoints this node signed, by tree size, smallest first.
    pub fn checkpoints(&self) -> impl Iterator<Item = Result<(u64, String)>> + '_ {
        self.tree.scan_prefix([b'K']).map(|item| {
            let (k, v) = item?;
            let size: [u8; 8] =
                k.get(1..9)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| StoreError::Corrupt {
                        key: "K".into(),
                        problem: "tree size is not 8 bytes".into(),
                    })?;
            Ok((
                u64::from_be_bytes(size),
                String::from_utf8_lossy(&v).into_owned(),
            ))
        })
    }

    /// The newest checkpoint this node signed.
    pub fn latest_checkpoint(&self) -> Result<Option<(u64, String)>> {
        self.checkpoints().last().transpose()
    }

    /// The newest checkpoint of `peer` this node holds.
    pub fn peer_checkpoint(&self, peer: CountyCode) -> Result<Option<String>> {
        Ok(self
            .tree
            .get(key(b'W', &[peer.as_bytes()]))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Holds `note` as the newest checkpoint of `peer`.
    pub fn set_peer_checkpoint(&self, peer: CountyCode, note: &str) -> Result<()> {
        self.tree
            .insert(key(b'W', &[peer.as_bytes()]), note.as_bytes())?;
        Ok(())
    }

    /// Records an alarm; it stays until the store is reset.
    pub async fn raise_alarm(&self, alarm: &Alarm) -> Result<()> {
        let seq = self.db.generate_id()?;
        let k = key(b'A', &[&alarm.at_ms.to_be_bytes(), &seq.to_be_bytes()]);
        self.tree.insert(k, encode(alarm))?;
        self.flush().await
    }

    /// Acknowledges every alarm about `peer` and forgets its held checkpoint, so that its next
    /// checkpoint is taken as the new starting point. Returns how many alarms were acknowledged.
    pub async fn accept_peer_log(&self, peer: CountyCode, at_ms: i64) -> Result<usize> {
        let mut acknowledged = 0;
        for item in self.tree.scan_prefix([b'A']) {
            let (k, v) = item?;
            let mut alarm: Alarm = decode(&k, &v)?;
            if alarm.peer == peer && alarm.acknowledged_at_ms.is_none() {
                alarm.acknowledged_at_ms = Some(at_ms);
                self.tree.insert(k, encode(&alarm))?;
                acknowledged += 1;
            }
        }
        self.tree.remove(key(b'W', &[peer.as_bytes()]))?;
        self.flush().await?;
        Ok(acknowledged)
    }

    /// Every alarm, oldest first.
    pub fn alarms(&self) -> Result<Vec<Alarm>> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix([b'A']) {
            let (k, v) = item?;
            out.push(decode(&k, &v)?);
        }
        Ok(out)
    }

    /// Received notices, not yet answered, whose due time could not be computed.
    pub fn deadline_errors(&self, limit: usize) -> Result<Vec<InboundRecord>> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix([b'X']).take(limit) {
            let (k, _) = item?;
            if let Some(record) = id_from_suffix(&k)
                .map(|id| self.inbound(&id))
                .transpose()?
                .flatten()
            {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// Every outbound record, oldest first; for reports.
    pub fn all_outbound(&self) -> impl Iterator<Item = Result<OutboundRecord>> + '_ {
        self.tree.scan_prefix([b'O']).map(|item| {
            let (k, v) = item?;
            decode(&k, &v)
        })
    }

    /// Every inbound record, oldest first; for reports.
    pub fn all_inbound(&self) -> impl Iterator<Item = Result<InboundRecord>> + '_ {
        self.tree.scan_prefix([b'I']).map(|item| {
            let (k, v) = item?;
            decode(&k, &v)
        })
    }

    /// Outbound notices, newest first.
    pub fn list_outbound(&self, filter: &ListFilter) -> Result<Vec<OutboundRecord>> {
        let prefix = match (filter.peer, filter.status) {
            (Some(peer), _) => key(b'P', &[peer.as_bytes()]),
            (None, Some(status)) => key(b'S', &[&[status.tag()]]),
            (None, None) => vec![b'O'],
        };
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(&prefix).rev() {
            if out.len() >= filter.limit {
                break;
            }
            let (k, _) = item?;
            let Some(record) = id_from_suffix(&k)
                .map(|id| self.outbound(&id))
                .transpose()?
                .flatten()
            else {
                continue;
            };
            if filter.status.is_none_or(|s| s == record.status) {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// Inbound notices, newest first.
    pub fn list_inbound(
        &self,
        peer: Option<CountyCode>,
        limit: usize,
    ) -> Result<Vec<InboundRecord>> {
        let prefix = match peer {
            Some(peer) => key(b'p', &[peer.as_bytes()]),
            None => vec![b'I'],
        };
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(&prefix).rev() {
            if out.len() >= limit {
                break;
            }
            let (k, _) = item?;
            if let Some(record) = id_from_suffix(&k)
                .map(|id| self.inbound(&id))
                .transpose()?
                .flatten()
            {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// Index keys under `prefix` whose ids lie in `ids`, newest first.
    fn index_range(
        &self,
        prefix: &[u8],
        ids: IdRange,
    ) -> impl DoubleEndedIterator<Item = sled::Result<(sled::IVec, sled::IVec)>> + '_ {
        let bound = |id: &NoticeId| {
            let mut k = prefix.to_vec();
            k.extend_from_slice(id.as_bytes());
            k
        };
        let low = ids.from.as_ref().map_or_else(|| prefix.to_vec(), bound);
        let high = match &ids.before {
            Some(id) => std::ops::Bound::Excluded(bound(id)),
            None => {
                // Every key under `prefix` sorts below `prefix` followed by 0xff bytes.
                let mut k = prefix.to_vec();
                k.extend_from_slice(&[0xff; 17]);
                std::ops::Bound::Excluded(k)
            }
        };
        self.tree
            .range::<Vec<u8>, _>((std::ops::Bound::Included(low), high))
            .rev()
    }

    /// A page of outbound notices, newest first, from the index `filter` selects, with ids in
    /// `ids`, keeping those `keep` accepts. It scans at most `max_scan` index entries, so a page
    /// stays fast however many notices are stored; `next` continues where it stopped.
    pub fn page_outbound(
        &self,
        filter: &ListFilter,
        ids: IdRange,
        max_scan: usize,
        keep: impl Fn(&OutboundRecord) -> bool,
    ) -> Result<Page<OutboundRecord>> {
        let prefix = match (filter.peer, filter.status) {
            (Some(peer), _) => key(b'P', &[peer.as_bytes()]),
            (None, Some(status)) => key(b'S', &[&[status.tag()]]),
            (None, None) => vec![b'O'],
        };
        let mut items = Vec::new();
        let mut scanned = 0;
        for item in self.index_range(&prefix, ids) {
            let (k, _) = item?;
            let Some(id) = id_from_suffix(&k) else {
                continue;
            };
            if items.len() >= filter.limit || scanned >= max_scan {
                return Ok(Page {
                    items,
                    next: Some(cursor_including(id)),
                });
            }
            scanned += 1;
            let Some(record) = self.outbound(&id)? else {
                continue;
            };
            if filter.status.is_none_or(|s| s == record.status) && keep(&record) {
                items.push(record);
            }
        }
        Ok(Page { items, next: None })
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
        let prefix = match peer {
            Some(peer) => key(b'p', &[peer.as_bytes()]),
            None => vec![b'I'],
        };
        let mut items = Vec::new();
        let mut scanned = 0;
        for item in self.index_range(&prefix, ids) {
            let (k, _) = item?;
            let Some(id) = id_from_suffix(&k) else {
                continue;
            };
            if items.len() >= limit || scanned >= max_scan {
                return Ok(Page {
                    items,
                    next: Some(cursor_including(id)),
                });
            }
            scanned += 1;
            if let Some(record) = self.inbound(&id)?
                && keep(&record)
            {
                items.push(record);
            }
        }
        Ok(Page { items, next: None })
    }
}

/// The cursor of a page that starts with `id` (not yet shown): `before` is exclusive, so one more.
fn cursor_including(id: NoticeId) -> NoticeId {
    let mut bytes = *id.as_bytes();
    for b in bytes.iter_mut().rev() {
        let (v, carry) = b.overflowing_add(1);
        *b = v;
        if !carry {
            break;
        }
    }
    NoticeId::from_bytes(bytes)
}
