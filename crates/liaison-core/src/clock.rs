//! Times on the wire are Unix milliseconds (UTC); people see them in China Standard Time (UTC+8).

use time::{Date, OffsetDateTime, UtcOffset};

/// China Standard Time: UTC+8, no daylight saving.
pub const CST: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(offset) => offset,
    Err(_) => UtcOffset::UTC,
};

/// The instant `unix_ms` in China Standard Time, or `None` if it is out of range.
pub fn cst_datetime(unix_ms: i64) -> Option<OffsetDateTime> {
    let nanos = i128::from(unix_ms) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .map(|t| t.to_offset(CST))
}

/// The calendar date in China of the instant `unix_ms`.
pub fn cst_date(unix_ms: i64) -> Option<Date> {
    cst_datetime(unix_ms).map(|t| t.date())
}

/// `2026-11-28 22:24:05 CST`, or the raw number if it is out of range.
pub fn format_cst(unix_ms: i64) -> String {
    format_cst_as(unix_ms, "CST")
}

/// China Standard Time followed by `zone`, the name readers know it by (`CST`, `北京时间`), or
/// the raw number if it is out of range.
pub fn format_cst_as(unix_ms: i64, zone: &str) -> String {
    match cst_datetime(unix_ms) {
        Some(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} {zone}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        None => format!("{unix_ms} ms"),
    }
}

/// Milliseconds since the Unix epoch at 00:00 China Standard Time on `date`.
pub fn cst_midnight_ms(date: Date) -> i64 {
    let t = date.midnight().assume_offset(CST);
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn utc_evening_is_next_day_in_china() {
        // 2026-03-01 16:30 UTC is 2026-03-02 00:30 CST.
        let ms = 1_772_382_600_000;
        assert_eq!(cst_date(ms), Some(date!(2026 - 03 - 02)));
        assert_eq!(format_cst(ms), "2026-03-02 00:30:00 CST");
    }

    #[test]
    fn midnight_round_trips() {
        let d = date!(2026 - 10 - 01);
        assert_eq!(cst_date(cst_midnight_ms(d)), Some(d));
        assert_eq!(
            cst_date(cst_midnight_ms(d) - 1),
            Some(date!(2026 - 09 - 30))
        );
    }
}
