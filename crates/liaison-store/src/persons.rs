//! The person index: for every stored envelope, sent or received, the identity numbers and names
//! of the people its body names, so that an operator can find the notices about a person (a
//! phone call about a case starts with a name or an identity number). It is written in the
//! same transaction as the envelope and filled for older envelopes by the migration that made it.

use liaison_core::body::NoticeBody;
use liaison_core::{NoticeId, SignedNotice};
use rusqlite::{Connection, params};

use crate::{Result, Store};

/// The key prefix of an identity number in the index.
const ID_KEY: &str = "id:";
/// The key prefix of a name in the index.
const NAME_KEY: &str = "name:";

/// What an operator looks a person up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonQuery<'a> {
    /// The start of an identity number (digits, and `X` as the check character).
    IdNumber(&'a str),
    /// The start of a name, such as the family name 张 or the whole name 张小华.
    Name(&'a str),
}

impl PersonQuery<'_> {
    /// The smallest index key the query matches, and the first one past them.
    fn range(&self) -> (String, String) {
        let low = match self {
            Self::IdNumber(id) => format!("{ID_KEY}{}", id.trim().to_ascii_uppercase()),
            Self::Name(name) => format!("{NAME_KEY}{}", name.trim()),
        };
        let high = format!("{low}\u{10FFFF}");
        (low, high)
    }
}

/// The index keys of an envelope: one for each identity number and name in its body. An
/// envelope that cannot be read names nobody.
fn keys(envelope: &[u8]) -> Vec<String> {
    let Ok(notice) = SignedNotice::from_envelope_bytes(envelope) else {
        return Vec::new();
    };
    let Ok(body) = NoticeBody::decode(&notice.payload) else {
        return Vec::new();
    };
    let mut keys: Vec<String> = body
        .persons()
        .into_iter()
        .flat_map(|p| {
            [
                format!("{ID_KEY}{}", p.id_number.as_str().to_ascii_uppercase()),
                format!("{NAME_KEY}{}", p.name.trim()),
            ]
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Indexes the people that notice `id`'s envelope names.
pub(crate) fn index(conn: &Connection, id: &NoticeId, envelope: &[u8]) -> rusqlite::Result<()> {
    let mut insert =
        conn.prepare_cached("INSERT OR IGNORE INTO person_key (key, notice) VALUES (?1, ?2)")?;
    for key in keys(envelope) {
        insert.execute(params![key, id.as_bytes()])?;
    }
    Ok(())
}

/// Indexes every envelope stored before the index existed.
pub(crate) fn index_all(conn: &Connection) -> rusqlite::Result<()> {
    let mut rows = Vec::new();
    for table in ["outbound_envelope", "inbound_envelope"] {
        let mut select = conn.prepare(&format!("SELECT id, bytes FROM {table}"))?;
        let found = select.query_map([], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        for row in found {
            rows.push(row?);
        }
    }
    for (id, bytes) in rows {
        let Ok(id) = <[u8; 16]>::try_from(id.as_slice()) else {
            continue;
        };
        index(conn, &NoticeId::from_bytes(id), &bytes)?;
    }
    Ok(())
}

impl Store {
    /// The newest notices, sent or received, about a person matching `query`; at most `limit`.
    pub fn find_by_person(&self, query: PersonQuery<'_>, limit: usize) -> Result<Vec<NoticeId>> {
        let (low, high) = query.range();
        let conn = self.reader()?;
        let mut select = conn.prepare_cached(
            "SELECT DISTINCT notice FROM person_key WHERE key >= ?1 AND key < ?2 \
             ORDER BY notice DESC LIMIT ?3",
        )?;
        let ids = select
            .query_map(params![low, high, limit as i64], |r| r.get::<_, Vec<u8>>(0))?
            .filter_map(|r| match r {
                Ok(bytes) => <[u8; 16]>::try_from(bytes.as_slice())
                    .ok()
                    .map(|b| Ok(NoticeId::from_bytes(b))),
                Err(e) => Some(Err(e.into())),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ids)
    }
}
