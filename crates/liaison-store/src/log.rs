//! The append-only log: its leaves, its compact range and head, and the checkpoints this node
//! signed.

use liaison_core::NoticeId;
use liaison_core::merkle::{CompactRange, Hash, LeafHashes};
use liaison_core::tlog::LeafKind;
use rusqlite::{Connection, OptionalExtension, params};

use crate::rows::get_id;
use crate::{Reader, Result, Store, StoreError};

/// The size and root of the log at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogHead {
    pub size: u64,
    pub root: Hash,
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
pub(crate) fn append_leaf(
    conn: &Connection,
    kind: LeafKind,
    id: &NoticeId,
    leaf: Hash,
) -> Result<LogHead> {
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

pub(crate) fn put_checkpoint(conn: &Connection, size: u64, note: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO checkpoint (size, note) VALUES (?1, ?2) \
         ON CONFLICT (size) DO UPDATE SET note = excluded.note",
    )?
    .execute(params![size, note])?;
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

impl Store {
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
}
