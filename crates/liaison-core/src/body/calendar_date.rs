//! Calendar dates as ISO 8601 `YYYY-MM-DD` text, the one form used on the wire and in drafts.

use serde::{Deserialize, Deserializer, Serializer};
use time::{Date, Month};

pub(super) fn format(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

pub(super) fn parse(text: &str) -> Result<Date, String> {
    let b = text.as_bytes();
    let shaped = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shaped {
        return Err(format!("{text:?} is not a date written as YYYY-MM-DD"));
    }
    // The shape check makes every slice below ASCII digits on char boundaries.
    let number = |range: std::ops::Range<usize>| text[range].parse::<u16>().unwrap_or(0);
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let month = Month::try_from(month as u8)
        .map_err(|_| format!("{text:?} is not a calendar date: there is no month {month}"))?;
    Date::from_calendar_date(i32::from(year), month, day as u8)
        .map_err(|_| format!("{text:?} is not a calendar date: {month} {year} has no day {day}"))
}

pub(super) fn serialize<S: Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(*date))
}

pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// The same for optional dates.
pub(super) mod optional {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    pub(in super::super) fn serialize<S: Serializer>(
        date: &Option<Date>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match date {
            Some(date) => super::serialize(date, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Date>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            Some(text) => super::parse(&text)
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}
