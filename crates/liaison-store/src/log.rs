//! The append-only log: its leaves, its compact range and head, and the checkpoints this node
//! signed.

use liaison_core::merkle::{CompactRange, Hash, LeafHashes, node_hash};
use liaison_core::tlog::{Leaf, LeafKind};
use liaison_core::{CountyCode, NoticeId};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::rows::{get_county, get_id};
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

/// What a leaf of the log records, as the store keeps it beside the leaf hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoggedLeaf {
    pub index: u64,
    pub kind: LeafKind,
    pub notice_id: NoticeId,
    /// When it was logged: never before the previous leaf's time.
    pub logged_at_ms: i64,
    pub counterparty: CountyCode,
}

const LEAF_COLUMNS: &str = "idx, kind, notice_id, logged_at_ms, counterparty";

fn logged_leaf_from_row(row: &Row) -> rusqlite::Result<LoggedLeaf> {
    let tag: u8 = row.get(1)?;
    Ok(LoggedLeaf {
        index: row.get(0)?,
        kind: LeafKind::from_tag(tag).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                1,
                rusqlite::types::Type::Integer,
                format!("unknown leaf kind {tag}").into(),
            )
        })?,
        notice_id: get_id(row, 2)?,
        logged_at_ms: row.get(3)?,
        counterparty: get_county(row, 4)?,
    })
}

/// What a new leaf records; the store gives it its time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewLeaf<'a> {
    pub kind: LeafKind,
    pub id: &'a NoticeId,
    pub counterparty: CountyCode,
    /// The hash of the signed bytes and signature (`tlog::content_hash`).
    pub content: Hash,
    /// The node's time now; the leaf is logged at this time or the previous leaf's, if later.
    pub now_ms: i64,
}

/// Appends a leaf to the log in the same transaction as the item it records. Leaf times never
/// go backwards: a clock set back logs at the previous leaf's time until it catches up.
pub(crate) fn append_leaf(conn: &Connection, new: NewLeaf<'_>) -> Result<LogHead> {
    let mut range = read_range(conn)?;
    let index = range.size();
    let previous: Option<i64> = conn
        .prepare_cached("SELECT logged_at_ms FROM log_leaf ORDER BY idx DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    let leaf = Leaf {
        kind: new.kind,
        logged_at_ms: new.now_ms.max(previous.unwrap_or(0)).max(0),
        counterparty: new.counterparty,
        content: new.content,
    };
    let hash = leaf.hash();
    range.append(hash).map_err(|e| StoreError::Corrupt {
        key: "log_range".into(),
        problem: e.to_string(),
    })?;
    conn.prepare_cached(
        "INSERT INTO log_leaf (idx, hash, kind, notice_id, logged_at_ms, counterparty) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        index,
        hash,
        new.kind.tag(),
        new.id.as_bytes(),
        leaf.logged_at_ms,
        new.counterparty.as_str()
    ])?;
    conn.prepare_cached(
        "INSERT INTO log_range (one, compact) VALUES (1, ?1) \
         ON CONFLICT (one) DO UPDATE SET compact = excluded.compact",
    )?
    .execute([range.to_bytes()])?;
    put_completed_nodes(conn, index, hash)?;
    Ok(LogHead {
        size: range.size(),
        root: range.root(),
    })
}

/// The hash of the complete subtree at `level` (0: the leaves) and `index`, if stored.
fn stored_node(conn: &Connection, level: u32, index: u64) -> rusqlite::Result<Option<Hash>> {
    if level == 0 {
        conn.prepare_cached("SELECT hash FROM log_leaf WHERE idx = ?1")?
            .query_row([index], |r| r.get(0))
            .optional()
    } else {
        conn.prepare_cached("SELECT hash FROM log_node WHERE level = ?1 AND idx = ?2")?
            .query_row(params![level, index], |r| r.get(0))
            .optional()
    }
}

/// Stores the roots of the subtrees that leaf `index` (of hash `leaf`) completes: while the node
/// is a right child, it and its left sibling make their parent.
fn put_completed_nodes(conn: &Connection, index: u64, leaf: Hash) -> Result<()> {
    let (mut level, mut at, mut hash) = (0u32, index, leaf);
    while at % 2 == 1 {
        let left = stored_node(conn, level, at - 1)?.ok_or_else(|| StoreError::Corrupt {
            key: format!("log_node {level}/{}", at - 1),
            problem: "a subtree the log holds has no stored root".into(),
        })?;
        hash = node_hash(&left, &hash);
        level += 1;
        at /= 2;
        conn.prepare_cached("INSERT INTO log_node (level, idx, hash) VALUES (?1, ?2, ?3)")?
            .execute(params![level, at, hash])?;
    }
    Ok(())
}

/// Fills `log_node` from the stored leaves (the migration that adds it).
pub(crate) fn fill_nodes(conn: &Connection) -> rusqlite::Result<()> {
    let mut select = conn.prepare("SELECT idx, hash FROM log_leaf ORDER BY idx")?;
    let mut insert = conn.prepare("INSERT INTO log_node (level, idx, hash) VALUES (?1, ?2, ?3)")?;
    // The roots of the complete subtrees not yet paired, lowest level last.
    let mut pending: Vec<(u32, Hash)> = Vec::new();
    let mut rows = select.query([])?;
    while let Some(row) = rows.next()? {
        let index: u64 = row.get(0)?;
        let mut hash: Hash = row.get(1)?;
        let mut level = 0u32;
        while pending.last().is_some_and(|(l, _)| *l == level) {
            let (_, left) = pending.pop().expect("checked");
            hash = node_hash(&left, &hash);
            level += 1;
            insert.execute(params![level, index >> level, hash])?;
        }
        pending.push((level, hash));
    }
    Ok(())
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
        stored_node(&self.conn, 0, index).ok().flatten()
    }

    fn complete_subtree(&self, level: u32, index: u64) -> Option<Hash> {
        stored_node(&self.conn, level, index).ok().flatten()
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

    /// What leaf `index` records.
    pub fn logged_leaf(&self, index: u64) -> Result<Option<LoggedLeaf>> {
        Ok(self
            .reader()?
            .prepare_cached(&format!(
                "SELECT {LEAF_COLUMNS} FROM log_leaf WHERE idx = ?1"
            ))?
            .query_row([index], logged_leaf_from_row)
            .optional()?)
    }

    /// The index of the first leaf logged at or after `at_ms`; the log's size if there is none.
    pub fn first_leaf_logged_from(&self, at_ms: i64) -> Result<u64> {
        let conn = self.reader()?;
        let found: Option<u64> = conn
            .prepare_cached(
                "SELECT idx FROM log_leaf WHERE logged_at_ms >= ?1 \
                 ORDER BY logged_at_ms, idx LIMIT 1",
            )?
            .query_row([at_ms], |r| r.get(0))
            .optional()?;
        match found {
            Some(index) => Ok(index),
            None => Ok(read_log_head(&conn)?.size),
        }
    }

    /// The first and last index of the leaves logged in `[from_ms, to_ms)`, if any.
    pub fn leaves_logged_between(&self, from_ms: i64, to_ms: i64) -> Result<Option<(u64, u64)>> {
        let conn = self.reader()?;
        let first: Option<u64> = conn
            .prepare_cached(
                "SELECT idx FROM log_leaf WHERE logged_at_ms >= ?1 AND logged_at_ms < ?2 \
                 ORDER BY logged_at_ms, idx LIMIT 1",
            )?
            .query_row([from_ms, to_ms], |r| r.get(0))
            .optional()?;
        let last: Option<u64> = conn
            .prepare_cached(
                "SELECT idx FROM log_leaf WHERE logged_at_ms >= ?1 AND logged_at_ms < ?2 \
                 ORDER BY logged_at_ms DESC, idx DESC LIMIT 1",
            )?
            .query_row([from_ms, to_ms], |r| r.get(0))
            .optional()?;
        Ok(first.zip(last))
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
