//! Reading a row's columns (ids, county codes, kinds, deadline states) and binding a limit, shared
//! by every table; a value that cannot be read makes the row corrupt.

use liaison_core::{CountyCode, DeadlineState, NoticeId, NoticeKind};
use rusqlite::Row;
use rusqlite::types::Type;

pub(crate) fn corrupt(column: usize, problem: impl Into<String>) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        Type::Text,
        Box::new(CorruptValue(problem.into())),
    )
}

#[derive(Debug)]
struct CorruptValue(String);
impl std::fmt::Display for CorruptValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for CorruptValue {}

pub(crate) fn get_id(row: &Row, i: usize) -> rusqlite::Result<NoticeId> {
    let bytes: [u8; 16] = row.get(i)?;
    Ok(NoticeId::from_bytes(bytes))
}

pub(crate) fn get_opt_id(row: &Row, i: usize) -> rusqlite::Result<Option<NoticeId>> {
    let bytes: Option<[u8; 16]> = row.get(i)?;
    Ok(bytes.map(NoticeId::from_bytes))
}

pub(crate) fn get_county(row: &Row, i: usize) -> rusqlite::Result<CountyCode> {
    let text: String = row.get(i)?;
    CountyCode::parse(&text).map_err(|e| corrupt(i, e.to_string()))
}

pub(crate) fn get_kind(row: &Row, i: usize) -> rusqlite::Result<NoticeKind> {
    let text: String = row.get(i)?;
    text.parse()
        .map_err(|_| corrupt(i, format!("unknown kind {text:?}")))
}

pub(crate) fn get_flagged(row: &Row, i: usize) -> rusqlite::Result<Option<DeadlineState>> {
    let text: Option<String> = row.get(i)?;
    text.map(|t| DeadlineState::parse(&t).ok_or_else(|| corrupt(i, format!("unknown state {t:?}"))))
        .transpose()
}

pub(crate) fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}
