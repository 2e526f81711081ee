//! Listings' filters and pages: id ranges, cursors, and collecting one page from a scan.

use liaison_core::{CountyCode, NoticeId};

use crate::{OutboundStatus, Result};

/// A listing's filters; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<OutboundStatus>,
    pub peer: Option<CountyCode>,
    pub limit: usize,
}

/// Which ids a page of a listing may hold: below `before` (the cursor of the previous page) and
/// not below `from` (e.g. the first id of a day). Ids begin with their issue time, so a date
/// range is an id range.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdRange {
    pub before: Option<NoticeId>,
    pub from: Option<NoticeId>,
}

/// One page of a listing, newest first; `next` is the cursor of the following page, if the scan
/// stopped before the end of the index.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<NoticeId>,
}

/// The cursor of a page that starts with `id` (not yet shown): `before` is exclusive, so one more.
fn cursor_including(id: NoticeId) -> NoticeId {
    let mut bytes = *id.as_bytes();
    for b in bytes.iter_mut().rev() {
        let (v, carry) = b.overflowing_add(1);
        *b = v;
        if !carry {
            break;
        }
    }
    NoticeId::from_bytes(bytes)
}

pub(crate) fn id_bounds(ids: IdRange) -> ([u8; 16], [u8; 16]) {
    let before = ids.before.map_or([0xff; 16], |id| *id.as_bytes());
    let from = ids.from.map_or([0; 16], |id| *id.as_bytes());
    (before, from)
}

pub(crate) fn collect_page<T>(
    rows: impl Iterator<Item = rusqlite::Result<T>>,
    limit: usize,
    max_scan: usize,
    keep: impl Fn(&T) -> bool,
    id: impl Fn(&T) -> NoticeId,
) -> Result<Page<T>> {
    let mut items = Vec::new();
    for (scanned, row) in rows.enumerate() {
        let record = row?;
        if items.len() >= limit || scanned >= max_scan {
            return Ok(Page {
                next: Some(cursor_including(id(&record))),
                items,
            });
        }
        if keep(&record) {
            items.push(record);
        }
    }
    Ok(Page { items, next: None })
}
