//! The due index: replies still due, owed by this county or awaited from another.

use liaison_core::NoticeId;
use rusqlite::params;

use crate::rows::{get_id, limit_param};
use crate::{Result, Store};

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

impl Store {
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
}
