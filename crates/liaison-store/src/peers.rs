//! Peers' logs as this node sees them: the newest checkpoint held of each peer, and the alarms
//! raised about them.

use liaison_core::CountyCode;
use rusqlite::{OptionalExtension, params};

use crate::rows::get_county;
use crate::{Result, Store};

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

impl Store {
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
}
