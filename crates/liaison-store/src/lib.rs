//! Durable storage for a liaison node: the outbox, the inbox, signed receipts, reply links, the
//! append-only log and the indexes that listings and delivery use, in one SQLite database. The
//! only crate that imports rusqlite.
//!
//! The database (`liaison.db` in the store's directory) runs in WAL mode with
//! `synchronous=FULL`, so a commit returns only once the WAL is fsynced: a write the store
//! acknowledged survives a power cut. All writes go through one writer thread that commits the
//! writes waiting for it in one transaction (a group commit: a batch costs one fsync) and never
//! runs on the async runtime's threads; reads use a small pool of read connections and see only
//! committed data. A failed commit leaves nothing behind. Beside the database, the log head
//! record ([`sidecar`]) keeps the size and root of the durable log, so that a store that lost
//! entries (damage, a lost write, an old copy) is refused at open by [`Store::open`] instead of
//! starting without them. Tables and migrations: [`schema`].
//!
//! The append-only log (RFC 6962) gets a leaf for every envelope and receipt the node sends or
//! receives, in the same transaction that stores the envelope or receipt.

mod check;
mod records;
pub mod schema;
pub mod sidecar;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use liaison_core::merkle::{CompactRange, Hash, LeafHashes};
use liaison_core::outbox::Refused;
use liaison_core::tlog::LeafKind;
use liaison_core::{CountyCode, DeadlineState, Delivery, NoticeId, NoticeKind, RejectCode};
use rusqlite::types::Type;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};
use sha2::{Digest, Sha256};

pub use check::RESTORE_ADVICE;
pub use liaison_core::OutboundStatus;
pub use records::{InboundRecord, OutboundRecord};
pub use schema::SCHEMA_VERSION;

use writer::Writer;

/// The database's file name in the store's directory.
pub const DB_FILE: &str = "liaison.db";

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("storage error: {0}")]
    Io(#[from] std::io::Error),
    #[error("the store cannot write: {0}")]
    Unavailable(String),
    #[error("the store is closed")]
    Closed,
    #[error("stored record {key} is corrupt: {problem}")]
    Corrupt { key: String, problem: String },
    #[error("the store is damaged:\n  - {}\n{RESTORE_ADVICE}", .0.join("\n  - "))]
    Damaged(Vec<String>),
    #[error(
        "the data directory has schema version {found}; this build reads version {SCHEMA_VERSION}"
    )]
    SchemaVersion { found: String },
    #[error("no outbound notice {0}")]
    NoSuchNotice(NoticeId),
    #[error("{0}")]
    Refused(String),
    #[error("notice {id} {refused}")]
    NotAllowed { id: NoticeId, refused: Refused },
}

impl StoreError {
    /// Whether the disk or the database failed (as opposed to a refusal of the request).
    fn is_storage_failure(&self) -> bool {
        matches!(self, Self::Sqlite(_) | Self::Io(_) | Self::Unavailable(_))
    }
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    pub peer: CountyCode,
    pub at_ms: i64,
    /// "rollback", "fork" or "bad_checkpoint".
    pub kind: String,
    pub detail: String,
    /// When an operator acknowledged it (e.g. after the peer announced a restore from backup).
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

/// Whose reply a due-index entry waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// This county owes the reply: a notice it received.
    Owed,
    /// The other county owes the reply: a notice this county sent.
    Awaited,
}

/// One reply still due, from the due index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueEntry {
    pub due_at_ms: i64,
    pub side: Side,
    pub id: NoticeId,
}

/// What became of an [`Store::enqueue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// Newly queued.
    New,
    /// A notice with the same client key was queued before: this one, and nothing was written.
    Existing(OutboundRecord),
}

/// One change of [`Store::update_outbound_batch`].
pub struct OutboundUpdate {
    pub id: NoticeId,
    /// A signed receipt received for it, with its leaf hash; logged once.
    pub receipt: Option<(Vec<u8>, Hash)>,
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

/// Whether the store can write, for operators and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageHealth {
    /// Why the last commit failed; `None` while writes succeed.
    pub failing: Option<String>,
    /// Commits that failed since the store was opened.
    pub failed_commits: u64,
    /// Commits that succeeded since the store was opened; each fsyncs the WAL once.
    pub commits: u64,
}

/// The node's store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    writer: Writer,
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

/// A read connection, back to the pool when dropped.
struct Reader<'a> {
    conn: Option<Connection>,
    pool: &'a Mutex<Vec<Connection>>,
}

impl std::ops::Deref for Reader<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("present until dropped")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < MAX_IDLE_READERS {
                pool.push(conn);
            }
        }
    }
}

const MAX_IDLE_READERS: usize = 8;

fn open_connection(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

/// The write connection's settings: WAL, every commit fsynced, foreign keys enforced.
fn configure_writer(conn: &Connection) -> Result<()> {
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!(
            "the database refused WAL mode (journal_mode is {mode})"
        )));
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
    )?;
    Ok(())
}

fn corrupt(column: usize, problem: impl Into<String>) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        Type::Text,
        Box::new(CorruptValue(problem.into())),
    )
}

#[derive(Debug)]
struct CorruptValue(String);
impl std::fmt::Display for CorruptValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for CorruptValue {}

fn get_id(row: &Row, i: usize) -> rusqlite::Result<NoticeId> {
    let bytes: [u8; 16] = row.get(i)?;
    Ok(NoticeId::from_bytes(bytes))
}

fn get_opt_id(row: &Row, i: usize) -> rusqlite::Result<Option<NoticeId>> {
    let bytes: Option<[u8; 16]> = row.get(i)?;
    Ok(bytes.map(NoticeId::from_bytes))
}

fn get_county(row: &Row, i: usize) -> rusqlite::Result<CountyCode> {
    let text: String = row.get(i)?;
    CountyCode::parse(&text).map_err(|e| corrupt(i, e.to_string()))
}

fn get_kind(row: &Row, i: usize) -> rusqlite::Result<NoticeKind> {
    let text: String = row.get(i)?;
    text.parse()
        .map_err(|_| corrupt(i, format!("unknown kind {text:?}")))
}

fn get_flagged(row: &Row, i: usize) -> rusqlite::Result<Option<DeadlineState>> {
    let text: Option<String> = row.get(i)?;
    text.map(|t| DeadlineState::parse(&t).ok_or_else(|| corrupt(i, format!("unknown state {t:?}"))))
        .transpose()
}

const OUTBOUND_COLUMNS: &str = "id, recipient, kind, urgent, issued_at_ms, in_reply_to, status, \
     attempts, last_error, next_attempt_at_ms, receipt_at_ms, reject_code, reject_reason, \
     reply_due_at_ms, answered_at_ms, flagged, reminded_at_ms";

fn outbound_from_row(row: &Row) -> rusqlite::Result<OutboundRecord> {
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
            .ok_or_else(|| corrupt(6, format!("unknown status {status:?}")))?
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

const INBOUND_COLUMNS: &str = "id, sender, kind, urgent, issued_at_ms, in_reply_to, \
     received_at_ms, envelope_sha256, reply_due_at_ms, deadline_error, answered_at_ms, flagged";

fn inbound_from_row(row: &Row) -> rusqlite::Result<InboundRecord> {
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

fn read_outbound(conn: &Connection, id: &NoticeId) -> rusqlite::Result<Option<OutboundRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {OUTBOUND_COLUMNS} FROM outbound WHERE id = ?1"
    ))?
    .query_row([id.as_bytes()], outbound_from_row)
    .optional()
}

fn read_inbound(conn: &Connection, id: &NoticeId) -> rusqlite::Result<Option<InboundRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {INBOUND_COLUMNS} FROM inbound WHERE id = ?1"
    ))?
    .query_row([id.as_bytes()], inbound_from_row)
    .optional()
}

/// The blob tables: envelopes and receipts, each with the checksum [`Store::open`] verifies.
#[derive(Clone, Copy)]
enum Blob {
    OutboundEnvelope,
    OutboundReceipt,
    InboundEnvelope,
    InboundReceipt,
}

impl Blob {
    fn table(self) -> &'static str {
        match self {
            Self::OutboundEnvelope => "outbound_envelope",
            Self::OutboundReceipt => "outbound_receipt",
            Self::InboundEnvelope => "inbound_envelope",
            Self::InboundReceipt => "inbound_receipt",
        }
    }
}

fn put_blob(conn: &Connection, blob: Blob, id: &NoticeId, bytes: &[u8]) -> rusqlite::Result<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO {} (id, bytes, sha256) VALUES (?1, ?2, ?3)",
        blob.table()
    ))?
    .execute(params![
        id.as_bytes(),
        bytes,
        Sha256::digest(bytes).as_slice()
    ])?;
    Ok(())
}

fn get_blob(conn: &Connection, blob: Blob, id: &NoticeId) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.prepare_cached(&format!("SELECT bytes FROM {} WHERE id = ?1", blob.table()))?
        .query_row([id.as_bytes()], |r| r.get(0))
        .optional()
}

/// The log's size and root, from its compact range.
pub(crate) fn read_log_head(conn: &Connection) -> Result<LogHead> {
    let range = read_range(conn)?;
    Ok(LogHead {
        size: range.size(),
        root: range.root(),
    })
}

fn read_range(conn: &Connection) -> Result<CompactRange> {
    let bytes: Option<Vec<u8>> = conn
        .prepare_cached("SELECT compact FROM log_range WHERE one = 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    match bytes {
        None => Ok(CompactRange::new()),
        Some(bytes) => CompactRange::from_bytes(&bytes).map_err(|e| StoreError::Corrupt {
            key: "log_range".into(),
            problem: e.to_string(),
        }),
    }
}

/// Appends a leaf to the log in the same transaction as the item it records.
fn append_leaf(conn: &Connection, kind: LeafKind, id: &NoticeId, leaf: Hash) -> Result<LogHead> {
    let mut range = read_range(conn)?;
    let index = range.size();
    range.append(leaf).map_err(|e| StoreError::Corrupt {
        key: "log_range".into(),
        problem: e.to_string(),
    })?;
    conn.prepare_cached(
        "INSERT INTO log_leaf (idx, hash, kind, notice_id) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![index, leaf, kind.tag(), id.as_bytes()])?;
    conn.prepare_cached(
        "INSERT INTO log_range (one, compact) VALUES (1, ?1) \
         ON CONFLICT (one) DO UPDATE SET compact = excluded.compact",
    )?
    .execute([range.to_bytes()])?;
    Ok(LogHead {
        size: range.size(),
        root: range.root(),
    })
}

fn link_reply(conn: &Connection, original: &NoticeId, reply: &NoticeId) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT OR IGNORE INTO reply_link (original, reply) VALUES (?1, ?2)")?
        .execute([original.as_bytes(), reply.as_bytes()])?;
    Ok(())
}

/// The log's leaves, read from the store, for computing proofs.
pub struct StoredLeaves<'a> {
    conn: Reader<'a>,
}

impl LeafHashes for StoredLeaves<'_> {
    fn leaf(&self, index: u64) -> Option<Hash> {
        self.conn
            .prepare_cached("SELECT hash FROM log_leaf WHERE idx = ?1")
            .ok()?
            .query_row([index], |r| r.get::<_, [u8; 32]>(0))
            .ok()
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

fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn open_error(path: &Path, e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    match e.sqlite_error_code() {
        Some(DatabaseCorrupt | NotADatabase) => check::damaged(path, e),
        _ => StoreError::Sqlite(e),
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`, after checking it: a store that is damaged or
    /// lacks log entries it once held is refused with [`StoreError::Damaged`].
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(DB_FILE);
        let recorded = sidecar::read(dir)?;
        let has_data = std::fs::metadata(&path).is_ok_and(|m| m.len() > 0);
        if !has_data {
            if let Some(held) = recorded.filter(|r| r.size > 0) {
                return Err(StoreError::Damaged(vec![format!(
                    "{} is missing or empty, but the store held {} log entries",
                    path.display(),
                    held.size
                )]));
            }
        } else if let Some(problem) = check::header_problem(&path) {
            return Err(StoreError::Damaged(vec![problem]));
        }
        let sqlite = |e: StoreError| match e {
            StoreError::Sqlite(e) => open_error(&path, e),
            other => other,
        };
        let mut conn =
            open_connection(&path, OpenFlags::default()).map_err(|e| open_error(&path, e))?;
        configure_writer(&conn).map_err(sqlite)?;
        schema::migrate(&mut conn).map_err(sqlite)?;
        let problems = check::problems(&conn, recorded);
        if !problems.is_empty() {
            return Err(StoreError::Damaged(problems));
        }
        if recorded.is_none() {
            let head = read_log_head(&conn)?;
            if head.size > 0 {
                // Only a new store lacks the record; without it, entries lost before this start
                // cannot be noticed.
                tracing::warn!(
                    path = %dir.join(sidecar::FILE_NAME).display(),
                    log_size = head.size,
                    "the store's log head record is missing; recording the store's current log as it is"
                );
            }
            sidecar::write_once(dir, head)?;
        }
        // The database and WAL files' directory entries are durable before anything is promised.
        std::fs::File::open(dir)?.sync_all()?;
        let sidecar = sidecar::Sidecar::start(dir)?;
        let writer = Writer::start(conn, sidecar)?;
        Ok(Self {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                writer,
                readers: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The directory the store lives in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    fn reader(&self) -> Result<Reader<'_>> {
        let pooled = self
            .inner
            .readers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let conn = open_connection(
                    &self.inner.dir.join(DB_FILE),
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                conn.execute_batch("PRAGMA query_only = ON;")?;
                conn
            }
        };
        Ok(Reader {
            conn: Some(conn),
            pool: &self.inner.readers,
        })
    }

    /// Whether writes currently succeed.
    pub fn health(&self) -> StorageHealth {
        self.inner
            .writer
            .health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Finishes the writes already submitted, folds the WAL into the database and records the
    /// log head; an error means the last state may not be on disk.
    pub async fn close(&self) -> Result<()> {
        self.inner.writer.close().await
    }

    /// Puts a signed notice in the outbox; returns once it is on disk.
    /// `leaf` is the envelope's leaf hash as a sent notice; it is appended to the log.
    /// With a `client_key` that an earlier notice was queued with, nothing is written and that
    /// notice is returned instead.
    pub async fn enqueue(
        &self,
        record: &OutboundRecord,
        envelope: &[u8],
        leaf: Hash,
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
                append_leaf(conn, LeafKind::SentNotice, &record.id, leaf)?;
                if let Some(original) = record.in_reply_to {
                    link_reply(conn, &original, &record.id)?;
                    conn.prepare_cached(
                        "UPDATE inbound SET answered_at_ms = ?2 \
                         WHERE id = ?1 AND answered_at_ms IS NULL",
                    )?
                    .execute(params![original.as_bytes(), record.issued_at_ms])?;
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
        receipt: Option<(Vec<u8>, Hash)>,
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

    /// How many outbound notices have `status` (for metrics: counted from the status index).
    pub fn count_outbound(&self, status: OutboundStatus) -> Result<u64> {
        Ok(self
            .reader()?
            .prepare_cached("SELECT count(*) FROM outbound WHERE status = ?1")?
            .query_row([status.name()], |r| r.get(0))?)
    }

    /// Stores a batch of inbound notices with their receipts in one transaction; returns once the
    /// batch is on disk. A redelivered envelope is not stored again: its earlier receipt is
    /// returned instead. `issue` makes the receipt for each newly stored notice, given the log's
    /// head just after the notice was appended (so the receipt can carry a checkpoint that
    /// includes it); the receipt is appended to the log too. If the batch cannot be stored, no
    /// receipt is returned for any of it.
    pub async fn accept_inbound(
        &self,
        items: &[InboundItem],
        mut issue: impl FnMut(&InboundRecord, LogHead) -> IssuedReceipt + Send + 'static,
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
                    let head = append_leaf(conn, LeafKind::ReceivedNotice, &rec.id, item.leaf)?;
                    let receipt = issue(rec, head);
                    put_blob(conn, Blob::InboundReceipt, &rec.id, &receipt.bytes)?;
                    append_leaf(conn, LeafKind::IssuedReceipt, &rec.id, receipt.leaf)?;
                    if let Some((size, note)) = &receipt.checkpoint {
                        put_checkpoint(conn, *size, note)?;
                    }
                    if let Some(original) = rec.in_reply_to {
                        link_reply(conn, &original, &rec.id)?;
                        conn.prepare_cached(
                            "UPDATE outbound SET answered_at_ms = ?2 \
                             WHERE id = ?1 AND answered_at_ms IS NULL",
                        )?
                        .execute(params![original.as_bytes(), rec.issued_at_ms])?;
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

    /// The envelope of an inbound notice: its header, payload and signature bytes as received.
    pub fn inbound_envelope(&self, id: &NoticeId) -> Result<Option<Vec<u8>>> {
        Ok(get_blob(&*self.reader()?, Blob::InboundEnvelope, id)?)
    }

    /// The signed receipt this node issued for an inbound notice.
    pub fn inbound_receipt(&self, id: &NoticeId) -> Result<Option<Vec<u8>>> {
        Ok(get_blob(&*self.reader()?, Blob::InboundReceipt, id)?)
    }

    /// Notices (sent or received) that answer `id`, oldest first.
    pub fn replies_to(&self, id: &NoticeId) -> Result<Vec<NoticeId>> {
        let conn = self.reader()?;
        let mut stmt =
            conn.prepare_cached("SELECT reply FROM reply_link WHERE original = ?1 ORDER BY reply")?;
        let rows = stmt.query_map([id.as_bytes()], |r| get_id(r, 0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
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

    /// Replies still due, soonest first, with a due time before `before_ms`; at most `limit`.
    /// Reads only the due indexes, never every notice.
    pub fn due(&self, side: Option<Side>, before_ms: i64, limit: usize) -> Result<Vec<DueEntry>> {
        const OWED: &str = "SELECT reply_due_at_ms AS due, 0 AS side, id FROM inbound \
             WHERE answered_at_ms IS NULL AND reply_due_at_ms IS NOT NULL AND reply_due_at_ms < ?1";
        const AWAITED: &str = "SELECT reply_due_at_ms AS due, 1 AS side, id FROM outbound \
             WHERE status = 'delivered' AND answered_at_ms IS NULL \
             AND reply_due_at_ms IS NOT NULL AND reply_due_at_ms < ?1";
        let sql = match side {
            Some(Side::Owed) => format!("{OWED} ORDER BY due, id LIMIT ?2"),
            Some(Side::Awaited) => format!("{AWAITED} ORDER BY due, id LIMIT ?2"),
            None => format!("{OWED} UNION ALL {AWAITED} ORDER BY due, side, id LIMIT ?2"),
        };
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![before_ms, limit_param(limit)], |r| {
            let side: i64 = r.get(1)?;
            Ok(DueEntry {
                due_at_ms: r.get(0)?,
                side: if side == 0 { Side::Owed } else { Side::Awaited },
                id: get_id(r, 2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The log's current size and root.
    pub fn log_head(&self) -> Result<LogHead> {
        read_log_head(&*self.reader()?)
    }

    /// The log's leaves, for proofs.
    pub fn leaves(&self) -> Result<StoredLeaves<'_>> {
        Ok(StoredLeaves {
            conn: self.reader()?,
        })
    }

    /// The leaf index of a notice's envelope or receipt.
    pub fn leaf_index(&self, kind: LeafKind, id: &NoticeId) -> Result<Option<u64>> {
        Ok(self
            .reader()?
            .prepare_cached("SELECT idx FROM log_leaf WHERE kind = ?1 AND notice_id = ?2")?
            .query_row(params![kind.tag(), id.as_bytes()], |r| r.get(0))
            .optional()?)
    }

    /// What leaf `index` records: its kind and the notice it belongs to.
    pub fn leaf_owner(&self, index: u64) -> Result<Option<(LeafKind, NoticeId)>> {
        let found: Option<(u8, NoticeId)> = self
            .reader()?
            .prepare_cached("SELECT kind, notice_id FROM log_leaf WHERE idx = ?1")?
            .query_row([index], |r| Ok((r.get(0)?, get_id(r, 1)?)))
            .optional()?;
        found
            .map(|(tag, id)| {
                LeafKind::from_tag(tag)
                    .map(|kind| (kind, id))
                    .ok_or_else(|| StoreError::Corrupt {
                        key: format!("log_leaf {index}"),
                        problem: format!("unknown leaf kind {tag}"),
                    })
            })
            .transpose()
    }

    /// The hashes of the first `size` leaves, in order.
    pub fn leaf_hashes(&self, size: u64) -> Result<Vec<Hash>> {
        let conn = self.reader()?;
        let mut stmt =
            conn.prepare_cached("SELECT hash FROM log_leaf WHERE idx < ?1 ORDER BY idx")?;
        let rows = stmt.query_map([size], |r| r.get::<_, [u8; 32]>(0))?;
        let out: Vec<Hash> = rows.collect::<rusqlite::Result<_>>()?;
        if out.len() as u64 != size {
            return Err(StoreError::Corrupt {
                key: "log_leaf".into(),
                problem: format!("{} leaves stored, {size} expected", out.len()),
            });
        }
        Ok(out)
    }

    /// Keeps a checkpoint this node signed (at tree size `size`).
    pub async fn record_checkpoint(&self, size: u64, note: &str) -> Result<()> {
        let note = note.to_owned();
        self.inner
            .writer
            .write(move |conn| Ok(put_checkpoint(conn, size, &note)?))
            .await
    }

    /// The checkpoints this node signed, by tree size, smallest first.
    pub fn checkpoints(&self) -> Result<Vec<(u64, String)>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached("SELECT size, note FROM checkpoint ORDER BY size")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The newest checkpoint this node signed.
    pub fn latest_checkpoint(&self) -> Result<Option<(u64, String)>> {
        Ok(self
            .reader()?
            .prepare_cached("SELECT size, note FROM checkpoint ORDER BY size DESC LIMIT 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    /// The newest checkpoint of `peer` this node holds.
    pub fn peer_checkpoint(&self, peer: CountyCode) -> Result<Option<String>> {
        Ok(self
            .reader()?
            .prepare_cached("SELECT note FROM peer_checkpoint WHERE peer = ?1")?
            .query_row([peer.as_str()], |r| r.get(0))
            .optional()?)
    }

    /// Holds `note` as the newest checkpoint of `peer`.
    pub async fn set_peer_checkpoint(&self, peer: CountyCode, note: &str) -> Result<()> {
        let note = note.to_owned();
        self.inner
            .writer
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO peer_checkpoint (peer, note) VALUES (?1, ?2) \
                     ON CONFLICT (peer) DO UPDATE SET note = excluded.note",
                )?
                .execute(params![peer.as_str(), note])?;
                Ok(())
            })
            .await
    }

    /// Records an alarm; it stays until acknowledged.
    pub async fn raise_alarm(&self, alarm: &Alarm) -> Result<()> {
        let alarm = alarm.clone();
        self.inner
            .writer
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO alarm (peer, at_ms, kind, detail, acknowledged_at_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    alarm.peer.as_str(),
                    alarm.at_ms,
                    alarm.kind,
                    alarm.detail,
                    alarm.acknowledged_at_ms
                ])?;
                Ok(())
            })
            .await
    }

    /// Acknowledges every alarm about `peer` and forgets its held checkpoint, so that its next
    /// checkpoint is taken as the new starting point. Returns how many alarms were acknowledged.
    pub async fn accept_peer_log(&self, peer: CountyCode, at_ms: i64) -> Result<usize> {
        self.inner
            .writer
            .write(move |conn| {
                let n = conn
                    .prepare_cached(
                        "UPDATE alarm SET acknowledged_at_ms = ?2 \
                         WHERE peer = ?1 AND acknowledged_at_ms IS NULL",
                    )?
                    .execute(params![peer.as_str(), at_ms])?;
                conn.prepare_cached("DELETE FROM peer_checkpoint WHERE peer = ?1")?
                    .execute([peer.as_str()])?;
                Ok(n)
            })
            .await
    }

    /// Whether an alarm about `peer` waits for an administrator.
    pub fn has_open_alarm(&self, peer: CountyCode) -> Result<bool> {
        Ok(self
            .reader()?
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM alarm WHERE peer = ?1 AND acknowledged_at_ms IS NULL)",
            )?
            .query_row([peer.as_str()], |r| r.get(0))?)
    }

    /// Every alarm, oldest first.
    pub fn alarms(&self) -> Result<Vec<Alarm>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT peer, at_ms, kind, detail, acknowledged_at_ms FROM alarm ORDER BY at_ms, seq",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Alarm {
                peer: get_county(r, 0)?,
                at_ms: r.get(1)?,
                kind: r.get(2)?,
                detail: r.get(3)?,
                acknowledged_at_ms: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
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

    /// Every outbound record, oldest first; for reports.
    pub fn all_outbound(&self) -> Result<Vec<OutboundRecord>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {OUTBOUND_COLUMNS} FROM outbound ORDER BY id"
        ))?;
        let rows = stmt.query_map([], outbound_from_row)?;
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

    /// Outbound notices, newest first.
    pub fn list_outbound(&self, filter: &ListFilter) -> Result<Vec<OutboundRecord>> {
        Ok(self
            .page_outbound(filter, IdRange::default(), usize::MAX, |_| true)?
            .items)
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

    /// Copies the whole store, as of one moment, to `out` while the node runs (SQLite's online
    /// backup), fsyncs the copy and checks it. Returns the log head the copy holds.
    pub async fn backup(&self, out: &Path) -> Result<LogHead> {
        let store = self.clone();
        let out = out.to_owned();
        tokio::task::spawn_blocking(move || store.backup_blocking(&out))
            .await
            .map_err(|e| StoreError::Unavailable(format!("the backup task failed: {e}")))?
    }

    fn backup_blocking(&self, out: &Path) -> Result<LogHead> {
        if out.exists() {
            return Err(StoreError::Refused(format!(
                "{} exists already; name a new file",
                out.display()
            )));
        }
        let partial = out.with_extension("partial");
        let _ = std::fs::remove_file(&partial);
        {
            let source = self.reader()?;
            let mut copy = Connection::open(&partial)?;
            {
                let backup = rusqlite::backup::Backup::new(&source, &mut copy)?;
                backup.run_to_completion(256, std::time::Duration::ZERO, None)?;
            }
            // A backup is one file: no WAL beside it.
            let _: String = copy.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
            let problems = check::problems(&copy, None);
            if !problems.is_empty() {
                return Err(StoreError::Damaged(problems));
            }
        }
        std::fs::File::open(&partial)?.sync_all()?;
        std::fs::rename(&partial, out)?;
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        let copy = Connection::open_with_flags(out, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        read_log_head(&copy)
    }

    /// Replaces the store in `dir` (whose node must be stopped) with the backup at `backup`,
    /// after checking the backup. The replaced files are kept in `dir/replaced-<unix ms>/`.
    /// Returns the log head of the restored store.
    pub fn restore(dir: &Path, backup: &Path, now_ms: i64) -> Result<LogHead> {
        let copy = Connection::open_with_flags(backup, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| open_error(backup, e))?;
        if let Some(problem) = check::header_problem(backup) {
            return Err(StoreError::Damaged(vec![problem]));
        }
        let problems = check::problems(&copy, None);
        if !problems.is_empty() {
            return Err(StoreError::Damaged(problems));
        }
        let head = read_log_head(&copy)?;
        drop(copy);
        std::fs::create_dir_all(dir)?;
        let aside = dir.join(format!("replaced-{now_ms}"));
        std::fs::create_dir_all(&aside)?;
        for name in [
            DB_FILE.to_owned(),
            format!("{DB_FILE}-wal"),
            format!("{DB_FILE}-shm"),
            sidecar::FILE_NAME.to_owned(),
        ] {
            let from = dir.join(&name);
            if from.exists() {
                std::fs::rename(&from, aside.join(&name))?;
            }
        }
        let target = dir.join(DB_FILE);
        let partial = dir.join(format!("{DB_FILE}.partial"));
        std::fs::copy(backup, &partial)?;
        std::fs::File::open(&partial)?.sync_all()?;
        std::fs::rename(&partial, &target)?;
        sidecar::write_once(dir, head)?;
        std::fs::File::open(dir)?.sync_all()?;
        Ok(head)
    }
}

fn id_bounds(ids: IdRange) -> ([u8; 16], [u8; 16]) {
    let before = ids.before.map_or([0xff; 16], |id| *id.as_bytes());
    let from = ids.from.map_or([0; 16], |id| *id.as_bytes());
    (before, from)
}

fn collect_page<T>(
    rows: impl Iterator<Item = rusqlite::Result<T>>,
    limit: usize,
    max_scan: usize,
    keep: impl Fn(&T) -> bool,
    id: impl Fn(&T) -> NoticeId,
) -> Result<Page<T>> {
    let mut items = Vec::new();
    for (scanned, row) in rows.enumerate() {
        let record = row?;
        if items.len() >= limit || scanned >= max_scan {
            return Ok(Page {
                next: Some(cursor_including(id(&record))),
                items,
            });
        }
        if keep(&record) {
            items.push(record);
        }
    }
    Ok(Page { items, next: None })
}

fn outbound_by_client_key(conn: &Connection, key: &str) -> Result<Option<OutboundRecord>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {OUTBOUND_COLUMNS} FROM outbound WHERE client_key = ?1"
        ))?
        .query_row([key], outbound_from_row)
        .optional()?)
}

fn put_checkpoint(conn: &Connection, size: u64, note: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO checkpoint (size, note) VALUES (?1, ?2) \
         ON CONFLICT (size) DO UPDATE SET note = excluded.note",
    )?
    .execute(params![size, note])?;
    Ok(())
}

fn apply_outbound(
    conn: &Connection,
    id: &NoticeId,
    receipt: Option<(Vec<u8>, Hash)>,
    change: impl FnOnce(&mut OutboundRecord) -> std::result::Result<(), Refused>,
) -> Result<OutboundRecord> {
    let mut record = read_outbound(conn, id)?.ok_or(StoreError::NoSuchNotice(*id))?;
    change(&mut record).map_err(|refused| StoreError::NotAllowed { id: *id, refused })?;
    write_outbound(conn, &record, false)?;
    // A receipt is logged once: a redelivery returns the same receipt again.
    if let Some((receipt, leaf)) = receipt
        && get_blob(conn, Blob::OutboundReceipt, id)?.is_none()
    {
        put_blob(conn, Blob::OutboundReceipt, id, &receipt)?;
        append_leaf(conn, LeafKind::ReceivedReceipt, id, leaf)?;
    }
    Ok(record)
}
