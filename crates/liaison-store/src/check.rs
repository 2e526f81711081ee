//! The checks a store passes before a node may use it: SQLite's own structural check, the log
//! against the independent log head record, every log entry against what it records, and every
//! stored envelope and receipt against its checksum. A store that fails any of them is refused
//! with the list of what is wrong, never opened with notices missing.

use std::path::Path;

use liaison_core::merkle::{CompactRange, Hash};
use rusqlite::Connection;
use sha2::{Digest, Sha256};

use crate::inbound::{INBOUND_COLUMNS, inbound_from_row};
use crate::log::read_log_head;
use crate::outbound::{OUTBOUND_COLUMNS, outbound_from_row};
use crate::{LogHead, StoreError};

/// The advice given with every refusal.
pub const RESTORE_ADVICE: &str = "Stop using this data directory: restore the store from the newest backup (`liaison restore --from FILE`, see docs/operations.md, \"Restoring\"); then ask each peer county to run `liaison accept-peer-log <this county's code>` once it has checked the restored node.";

/// Everything wrong with the store at `conn`, given the log head `recorded` beside it.
pub(crate) fn problems(conn: &Connection, recorded: Option<LogHead>) -> Vec<String> {
    let mut problems = Vec::new();
    match quick_check(conn) {
        Ok(found) if found.is_empty() => {}
        Ok(found) => {
            problems.extend(found);
            // The rest reads the damaged structure; what SQLite found is the answer.
            return problems;
        }
        Err(e) => {
            return vec![format!(
                "SQLite's integrity check cannot read the database: {e}"
            )];
        }
    }
    if let Err(e) = check_log(conn, recorded, &mut problems) {
        problems.push(format!("the log cannot be read: {e}"));
    }
    if let Err(e) = check_nodes(conn, &mut problems) {
        problems.push(format!("the log's interior nodes cannot be read: {e}"));
    }
    if let Err(e) = check_owners(conn, &mut problems) {
        problems.push(format!("the notices cannot be read: {e}"));
    }
    if let Err(e) = check_records(conn, &mut problems) {
        problems.push(format!("the notices cannot be read: {e}"));
    }
    if let Err(e) = check_blobs(conn, &mut problems) {
        problems.push(format!("the stored envelopes cannot be read: {e}"));
    }
    problems
}

fn quick_check(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("PRAGMA quick_check(20)")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let mut found = Vec::new();
    for row in rows {
        let line = row?;
        if line != "ok" {
            found.push(format!("SQLite's integrity check: {line}"));
        }
    }
    Ok(found)
}

fn check_log(
    conn: &Connection,
    recorded: Option<LogHead>,
    problems: &mut Vec<String>,
) -> rusqlite::Result<()> {
    let head = match read_log_head(conn) {
        Ok(head) => head,
        Err(e) => {
            problems.push(format!("the log's state is unreadable: {e}"));
            return Ok(());
        }
    };
    let (count, max): (u64, Option<u64>) =
        conn.query_row("SELECT count(*), max(idx) FROM log_leaf", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    if count != head.size || max.map_or(0, |m| m + 1) != head.size {
        problems.push(format!(
            "the log says it has {} entries but {count} are stored (highest index {})",
            head.size,
            max.map_or_else(|| "none".to_owned(), |m| m.to_string())
        ));
    }
    if let Some(recorded) = recorded
        && recorded.size > head.size
    {
        problems.push(format!(
            "log entries are missing: the store holds {} log entries, but it held {} \
             (recorded in the log head file beside it); {} entries and the notices and receipts \
             they record are gone",
            head.size,
            recorded.size,
            recorded.size - head.size
        ));
    }
    // One pass over the leaves: the root at the recorded size and at the full size.
    let mut range = CompactRange::new();
    let mut stmt = conn.prepare("SELECT idx, hash, logged_at_ms FROM log_leaf ORDER BY idx")?;
    let mut rows = stmt.query([])?;
    let mut previous_time = i64::MIN;
    let mut at_recorded = (recorded.map(|r| r.size) == Some(0)).then(|| CompactRange::new().root());
    while let Some(row) = rows.next()? {
        let idx: u64 = row.get(0)?;
        let hash: Vec<u8> = row.get(1)?;
        let logged_at_ms: i64 = row.get(2)?;
        if logged_at_ms < previous_time {
            problems.push(format!(
                "log entry {idx} is dated before the entry preceding it: the log's times go backwards"
            ));
            return Ok(());
        }
        previous_time = logged_at_ms;
        let Ok(hash) = <Hash>::try_from(hash.as_slice()) else {
            problems.push(format!("log entry {idx} has a hash that is not 32 bytes"));
            return Ok(());
        };
        if idx != range.size() {
            problems.push(format!(
                "log entry {} is missing (the next stored entry is {idx})",
                range.size()
            ));
            return Ok(());
        }
        if range.append(hash).is_err() {
            problems.push("the log is too large to check".into());
            return Ok(());
        }
        if recorded.is_some_and(|r| r.size == range.size()) {
            at_recorded = Some(range.root());
        }
    }
    if range.size() == head.size && range.root() != head.root {
        problems.push(format!(
            "the log's entries do not hash to the log's recorded root ({} entries)",
            head.size
        ));
    }
    if let (Some(recorded), Some(root)) = (recorded, at_recorded)
        && root != recorded.root
    {
        problems.push(format!(
            "the first {} log entries differ from those the store held (their root does not \
             match the log head file): entries were changed or replaced",
            recorded.size
        ));
    }
    Ok(())
}

/// Every complete subtree of the log has its stored root, and each is the hash of its two
/// children: level by level, each checked against the one below (the leaves for level 1).
fn check_nodes(conn: &Connection, problems: &mut Vec<String>) -> rusqlite::Result<()> {
    let size: u64 = conn.query_row("SELECT count(*) FROM log_leaf", [], |r| r.get(0))?;
    let stored: u64 = conn.query_row("SELECT count(*) FROM log_node", [], |r| r.get(0))?;
    let mut expected_in_all = 0;
    let mut level = 1u32;
    while size >> level > 0 {
        let expected = size >> level;
        expected_in_all += expected;
        let mut below = if level == 1 {
            conn.prepare("SELECT idx, hash FROM log_leaf WHERE ?1 = 0 ORDER BY idx")?
        } else {
            conn.prepare("SELECT idx, hash FROM log_node WHERE level = ?1 ORDER BY idx")?
        };
        let mut children = below.query([if level == 1 { 0 } else { level - 1 }])?;
        let mut select =
            conn.prepare("SELECT idx, hash FROM log_node WHERE level = ?1 ORDER BY idx")?;
        let mut nodes = select.query([level])?;
        for index in 0..expected {
            let child = |row: Option<&rusqlite::Row>| -> rusqlite::Result<Option<Hash>> {
                row.map(|r| r.get::<_, Hash>(1)).transpose()
            };
            let left = child(children.next()?)?;
            let right = child(children.next()?)?;
            let node: Option<(u64, Hash)> = match nodes.next()? {
                Some(r) => Some((r.get(0)?, r.get(1)?)),
                None => None,
            };
            let fine = match (node, left, right) {
                (Some((at, hash)), Some(l), Some(r)) => {
                    at == index && hash == liaison_core::merkle::node_hash(&l, &r)
                }
                _ => false,
            };
            if !fine {
                problems.push(format!(
                    "the log's interior node {index} at level {level} is missing or does not \
                     hash its two children: the log's proofs would be wrong"
                ));
                return Ok(());
            }
        }
        level += 1;
    }
    if stored != expected_in_all {
        problems.push(format!(
            "the log holds {stored} interior nodes where its {size} entries make {expected_in_all}"
        ));
    }
    Ok(())
}

/// Every entry of the log names something stored, and everything stored has its entries.
fn check_owners(conn: &Connection, problems: &mut Vec<String>) -> rusqlite::Result<()> {
    let checks: [(&str, &str); 8] = [
        (
            "SELECT count(*) FROM log_leaf l WHERE kind = 1 AND NOT EXISTS \
             (SELECT 1 FROM outbound_envelope e WHERE e.id = l.notice_id)",
            "sent notices recorded in the log are missing from the outbox",
        ),
        (
            "SELECT count(*) FROM log_leaf l WHERE kind = 2 AND NOT EXISTS \
             (SELECT 1 FROM inbound_envelope e WHERE e.id = l.notice_id)",
            "received notices recorded in the log are missing from the inbox",
        ),
        (
            "SELECT count(*) FROM log_leaf l WHERE kind = 3 AND NOT EXISTS \
             (SELECT 1 FROM inbound_receipt r WHERE r.id = l.notice_id)",
            "receipts this node issued, recorded in the log, are missing",
        ),
        (
            "SELECT count(*) FROM log_leaf l WHERE kind = 4 AND NOT EXISTS \
             (SELECT 1 FROM outbound_receipt r WHERE r.id = l.notice_id)",
            "receipts this node received, recorded in the log, are missing",
        ),
        (
            "SELECT count(*) FROM outbound o WHERE NOT EXISTS \
             (SELECT 1 FROM outbound_envelope e WHERE e.id = o.id) OR NOT EXISTS \
             (SELECT 1 FROM log_leaf l WHERE l.kind = 1 AND l.notice_id = o.id)",
            "outbox notices have no signed envelope or no log entry",
        ),
        (
            "SELECT count(*) FROM inbound i WHERE NOT EXISTS \
             (SELECT 1 FROM inbound_envelope e WHERE e.id = i.id) OR NOT EXISTS \
             (SELECT 1 FROM inbound_receipt r WHERE r.id = i.id) OR NOT EXISTS \
             (SELECT 1 FROM log_leaf l WHERE l.kind = 2 AND l.notice_id = i.id)",
            "inbox notices have no envelope, no receipt or no log entry",
        ),
        (
            "SELECT count(*) FROM outbound_receipt r WHERE NOT EXISTS \
             (SELECT 1 FROM log_leaf l WHERE l.kind = 4 AND l.notice_id = r.id)",
            "received receipts have no log entry",
        ),
        (
            "SELECT count(*) FROM inbound_receipt r WHERE NOT EXISTS \
             (SELECT 1 FROM log_leaf l WHERE l.kind = 3 AND l.notice_id = r.id)",
            "issued receipts have no log entry",
        ),
    ];
    for (sql, what) in checks {
        let n: u64 = conn.query_row(sql, [], |r| r.get(0))?;
        if n > 0 {
            problems.push(format!("{n} {what}"));
        }
    }
    Ok(())
}

/// Every outbox and inbox record can be read.
fn check_records(conn: &Connection, problems: &mut Vec<String>) -> rusqlite::Result<()> {
    unreadable(
        conn,
        "outbox",
        &format!("SELECT {OUTBOUND_COLUMNS} FROM outbound"),
        outbound_from_row,
        problems,
    )?;
    unreadable(
        conn,
        "inbox",
        &format!("SELECT {INBOUND_COLUMNS} FROM inbound"),
        inbound_from_row,
        problems,
    )
}

/// Counts the rows of `sql` that `from_row` cannot read, as a problem of `what`.
fn unreadable<T>(
    conn: &Connection,
    what: &str,
    sql: &str,
    from_row: fn(&rusqlite::Row) -> rusqlite::Result<T>,
    problems: &mut Vec<String>,
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(sql)?;
    let (mut n, mut first) = (0u64, None);
    for row in stmt.query_map([], from_row)? {
        if let Err(e) = row {
            n += 1;
            first.get_or_insert_with(|| e.to_string());
        }
    }
    if n > 0 {
        problems.push(format!(
            "{n} {what} records are unreadable (first: {})",
            first.unwrap_or_default()
        ));
    }
    Ok(())
}

/// Every stored envelope and receipt still has the bytes it was stored with.
fn check_blobs(conn: &Connection, problems: &mut Vec<String>) -> rusqlite::Result<()> {
    for (table, what) in [
        ("outbound_envelope", "sent notice"),
        ("outbound_receipt", "receipt received for sent notice"),
        ("inbound_envelope", "received notice"),
        ("inbound_receipt", "receipt issued for received notice"),
    ] {
        let mut stmt = conn.prepare(&format!("SELECT id, bytes, sha256 FROM {table}"))?;
        let mut rows = stmt.query([])?;
        let mut bad = 0u64;
        let mut first = None;
        while let Some(row) = rows.next()? {
            let bytes: Vec<u8> = row.get(1)?;
            let sum: Vec<u8> = row.get(2)?;
            if Sha256::digest(&bytes).as_slice() != sum.as_slice() {
                bad += 1;
                if first.is_none() {
                    let id: Vec<u8> = row.get(0)?;
                    first = Some(hex::encode(id));
                }
            }
        }
        if bad > 0 {
            problems.push(format!(
                "{bad} stored {what} bytes were changed after they were stored (first: id {})",
                first.unwrap_or_default()
            ));
        }
    }
    Ok(())
}

/// Whether `path` looks like a store file at all (SQLite's 16-byte header), for a clear message
/// before SQLite reports "file is not a database".
pub(crate) fn header_problem(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut header = [0u8; 100];
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    if len == 0 {
        return Some(format!("{} is empty", path.display()));
    }
    if file.read_exact(&mut header).is_err() {
        return Some(format!(
            "{} is only {len} bytes long: it was truncated",
            path.display()
        ));
    }
    if &header[..16] != b"SQLite format 3\0" {
        return Some(format!(
            "{} does not start with a SQLite header: it was overwritten or damaged",
            path.display()
        ));
    }
    // The header's page count is valid when its "version-valid-for" equals its change counter.
    let be32 = |at: usize| {
        u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65536,
        n => u64::from(n),
    };
    let pages = u64::from(be32(28));
    let expected = page_size * pages;
    if be32(92) == be32(24) && pages > 0 && len < expected {
        return Some(format!(
            "{} is {len} bytes long but holds {pages} pages of {page_size} bytes \
             ({expected} bytes): it was truncated",
            path.display()
        ));
    }
    None
}

/// Maps SQLite's refusal to open or read a file to a damaged-store error.
pub(crate) fn damaged(path: &Path, e: rusqlite::Error) -> StoreError {
    StoreError::Damaged(vec![format!("{} cannot be opened: {e}", path.display())])
}
