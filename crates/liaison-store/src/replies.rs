//! The reply links: which notices, sent or received, answer which.

use liaison_core::NoticeId;
use liaison_core::cosign::reply_time;
use rusqlite::{Connection, params};

use crate::rows::get_id;
use crate::{Result, Store};

pub(crate) fn link_reply(
    conn: &Connection,
    original: &NoticeId,
    reply: &NoticeId,
) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT OR IGNORE INTO reply_link (original, reply) VALUES (?1, ?2)")?
        .execute([original.as_bytes(), reply.as_bytes()])?;
    Ok(())
}

/// Which table holds the notice a reply answers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Answered {
    /// A notice this node sent, answered by a reply it received.
    Outbound,
    /// A notice this node received, answered by a reply it sent.
    Inbound,
}

/// Marks `original` answered by a reply issued at `issued_at_ms` that existed by `existed_by_ms`
/// (see `liaison_core::cosign::reply_time`), unless an earlier reply answered it already.
pub(crate) fn mark_answered(
    conn: &Connection,
    table: Answered,
    original: &NoticeId,
    issued_at_ms: i64,
    existed_by_ms: i64,
) -> rusqlite::Result<()> {
    let sql = match table {
        Answered::Outbound => {
            "UPDATE outbound SET answered_at_ms = ?2 WHERE id = ?1 AND answered_at_ms IS NULL"
        }
        Answered::Inbound => {
            "UPDATE inbound SET answered_at_ms = ?2 WHERE id = ?1 AND answered_at_ms IS NULL"
        }
    };
    conn.prepare_cached(sql)?.execute(params![
        original.as_bytes(),
        reply_time(issued_at_ms, existed_by_ms)
    ])?;
    Ok(())
}

impl Store {
    /// Notices (sent or received) that answer `id`, oldest first.
    pub fn replies_to(&self, id: &NoticeId) -> Result<Vec<NoticeId>> {
        let conn = self.reader()?;
        let mut stmt =
            conn.prepare_cached("SELECT reply FROM reply_link WHERE original = ?1 ORDER BY reply")?;
        let rows = stmt.query_map([id.as_bytes()], |r| get_id(r, 0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
