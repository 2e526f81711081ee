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
//!
//! One module a table or concern: [`Store`] itself (opening, health, closing) is here;
//! `outbound.rs` and `inbound.rs` hold the two notice tables, `blobs.rs` their envelopes and
//! receipts, `replies.rs` the reply links, `log.rs` the log and the node's own checkpoints,
//! `peers.rs` peers' checkpoints and alarms, `persons.rs` the person index for search, `due.rs` the due index, `page.rs` listings' pages,
//! `backup.rs` backup and restore, and `rows.rs` the column readers they share.

mod backup;
mod blobs;
mod check;
mod cosignatures;
mod due;
mod inbound;
mod log;
mod outbound;
mod own_keys;
mod page;
mod peers;
mod persons;
mod records;
mod replies;
mod rows;
pub mod schema;
pub mod sidecar;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use liaison_core::NoticeId;
use liaison_core::outbox::Refused;
use rusqlite::{Connection, OpenFlags};

pub use check::RESTORE_ADVICE;
pub use cosignatures::Cosigned;
pub use due::{DueEntry, Side};
pub use inbound::{InboundItem, InboundOutcome, IssuedReceipt};
pub use liaison_core::OutboundStatus;
pub use log::{LogHead, LoggedLeaf, StoredLeaves};
pub use outbound::{ChangeFn, Enqueued, OutboundUpdate, ReceivedReceipt};
pub use own_keys::OwnKey;
pub use page::{IdRange, ListFilter, Page};
pub use peers::Alarm;
pub use persons::PersonQuery;
pub use records::{InboundRecord, OutboundRecord};
pub use schema::SCHEMA_VERSION;

use log::read_log_head;
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
}
