//! The reply links: which notices, sent or received, answer which.

use liaison_core::NoticeId;
use rusqlite::Connection;

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
