//! The history of this node's own signing keys: which public key it signed with from when on.

use rusqlite::{OptionalExtension, params};

use crate::{Result, Store};

/// One of this node's signing keys, and when (by this node's clock) it started signing with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnKey {
    /// The raw Ed25519 public key.
    pub public_key: [u8; 32],
    pub since_ms: i64,
}

impl Store {
    /// Records that the node signs with `public_key` from `now_ms` on, unless it already did
    /// with the same key; returns whether the key is new in the history.
    pub async fn use_own_key(&self, public_key: [u8; 32], now_ms: i64) -> Result<bool> {
        self.inner
            .writer
            .write(move |conn| {
                let latest: Option<(i64, [u8; 32])> = conn
                    .prepare_cached(
                        "SELECT since_ms, public_key FROM own_key ORDER BY since_ms DESC LIMIT 1",
                    )?
                    .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                match latest {
                    Some((_, key)) if key == public_key => Ok(false),
                    latest => {
                        // A clock set back must not put the new key before the old one.
                        let since = latest.map_or(now_ms, |(since, _)| now_ms.max(since + 1));
                        conn.prepare_cached(
                            "INSERT INTO own_key (since_ms, public_key) VALUES (?1, ?2)",
                        )?
                        .execute(params![since, public_key])?;
                        Ok(true)
                    }
                }
            })
            .await
    }

    /// Every key this node has signed with, oldest first.
    pub fn own_keys(&self) -> Result<Vec<OwnKey>> {
        let conn = self.reader()?;
        let mut stmt =
            conn.prepare_cached("SELECT since_ms, public_key FROM own_key ORDER BY since_ms")?;
        Ok(stmt
            .query_map([], |r| {
                Ok(OwnKey {
                    since_ms: r.get(0)?,
                    public_key: r.get(1)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?)
    }
}
