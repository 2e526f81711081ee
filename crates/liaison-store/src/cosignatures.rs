//! Cosignatures other counties made of this node's checkpoints: the evidence, signed by others,
//! of when each leaf of its log existed.

use liaison_core::CountyCode;
use rusqlite::{OptionalExtension, params};

use crate::rows::get_county;
use crate::{Result, Store};

/// A checkpoint of this node's log with the cosignatures held for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    pub size: u64,
    /// The signed checkpoint followed by every cosignature line held for it, oldest first.
    pub note: String,
}

impl Store {
    /// Keeps a cosignature `line` (ending in a newline) that `witness` made, at `time_s`, of this
    /// node's checkpoint of size `size`, which must have been recorded with
    /// [`Store::record_checkpoint`]. A later cosignature by the same witness of the same size
    /// replaces nothing: the earliest is the better evidence.
    pub async fn record_cosignature(
        &self,
        size: u64,
        witness: CountyCode,
        time_s: u64,
        line: &str,
    ) -> Result<()> {
        let line = line.to_owned();
        self.inner
            .writer
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO cosignature (size, witness, time_s, line) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (size, witness) DO NOTHING",
                )?
                .execute(params![size, witness.as_str(), time_s, line])?;
                Ok(())
            })
            .await
    }

    /// The largest size of this node's log that `witness` cosigned, if any.
    pub fn cosigned_size(&self, witness: CountyCode) -> Result<Option<u64>> {
        Ok(self
            .reader()?
            .prepare_cached("SELECT max(size) FROM cosignature WHERE witness = ?1")?
            .query_row([witness.as_str()], |r| r.get(0))?)
    }

    /// The smallest cosigned checkpoint whose tree holds leaf `index`, with its cosignatures by
    /// counties other than `except`; `None` if there is none.
    pub fn cosigned_covering(&self, index: u64, except: CountyCode) -> Result<Option<Cosigned>> {
        let conn = self.reader()?;
        let found: Option<(u64, String)> = conn
            .prepare_cached(
                "SELECT c.size, c.note FROM checkpoint c \
                 WHERE c.size > ?1 AND EXISTS \
                 (SELECT 1 FROM cosignature s WHERE s.size = c.size AND s.witness <> ?2) \
                 ORDER BY c.size LIMIT 1",
            )?
            .query_row(params![index, except.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let Some((size, mut note)) = found else {
            return Ok(None);
        };
        let mut stmt = conn.prepare_cached(
            "SELECT witness, line FROM cosignature WHERE size = ?1 ORDER BY time_s, witness",
        )?;
        let rows = stmt.query_map([size], |r| Ok((get_county(r, 0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (witness, line) = row?;
            if witness != except {
                note.push_str(&line);
            }
        }
        Ok(Some(Cosigned { size, note }))
    }
}
