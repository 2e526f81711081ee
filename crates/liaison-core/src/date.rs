//! Calendar dates written as ISO 8601 `YYYY-MM-DD`: the one parser of that text, used for notice
//! bodies, calendars, configuration and the command line alike.

use time::{Date, Month};

/// Why a text is not a `YYYY-MM-DD` date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// The text is not four ASCII digits, `-`, two digits, `-` and two digits.
    #[error("{text:?} is not a date written as YYYY-MM-DD")]
    NotYyyyMmDd { text: String },
    /// The month is not 01 to 12.
    #[error("{text:?} is not a calendar date: there is no month {month}")]
    NoSuchMonth { text: String, month: u8 },
    /// The month has no such day, e.g. 2023-02-29 or 2024-04-00.
    #[error("{text:?} is not a calendar date: {month} {year} has no day {day}")]
    NoSuchDay {
        text: String,
        year: i32,
        month: Month,
        day: u8,
    },
}

/// Reads a date written as `YYYY-MM-DD` with ASCII digits, e.g. `2026-03-01`; nothing else is a
/// date here (no other widths, separators or digits, and no surrounding space).
pub fn parse_date(text: &str) -> Result<Date, DateError> {
    let b = text.as_bytes();
    let shaped = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shaped {
        return Err(DateError::NotYyyyMmDd { text: text.into() });
    }
    // The shape check makes every slice below ASCII digits on char boundaries.
    let number = |range: std::ops::Range<usize>| text[range].parse::<u16>().unwrap_or(0);
    let (year, month, day) = (
        i32::from(number(0..4)),
        number(5..7) as u8,
        number(8..10) as u8,
    );
    let month = Month::try_from(month).map_err(|_| DateError::NoSuchMonth {
        text: text.into(),
        month,
    })?;
    Date::from_calendar_date(year, month, day).map_err(|_| DateError::NoSuchDay {
        text: text.into(),
        year,
        month,
        day,
    })
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    fn problem(text: &str) -> String {
        parse_date(text).unwrap_err().to_string()
    }

    #[test]
    fn a_calendar_date_in_yyyy_mm_dd_is_read() {
        assert_eq!(parse_date("2026-03-01"), Ok(date!(2026 - 03 - 01)));
        assert_eq!(parse_date("2024-02-29"), Ok(date!(2024 - 02 - 29)));
        assert_eq!(parse_date("0000-01-01"), Ok(date!(0000 - 01 - 01)));
    }

    #[test]
    fn any_other_shape_is_not_yyyy_mm_dd() {
        for text in [
            "2024-2-3",
            "2024/02/03",
            "２０２４-02-03",
            " 2024-02-03",
            "2024-02-03 ",
            "+2024-02-03",
            "20240203",
            "",
            "2024-02-0x",
        ] {
            assert_eq!(
                parse_date(text),
                Err(DateError::NotYyyyMmDd { text: text.into() }),
                "{text:?}"
            );
        }
        assert_eq!(
            problem("2024/02/03"),
            "\"2024/02/03\" is not a date written as YYYY-MM-DD"
        );
    }

    #[test]
    fn a_month_outside_01_to_12_is_named() {
        assert_eq!(
            problem("2024-13-01"),
            "\"2024-13-01\" is not a calendar date: there is no month 13"
        );
        assert_eq!(
            problem("2024-00-01"),
            "\"2024-00-01\" is not a calendar date: there is no month 0"
        );
    }

    #[test]
    fn a_day_the_month_does_not_have_is_named() {
        assert_eq!(
            problem("2023-02-29"),
            "\"2023-02-29\" is not a calendar date: February 2023 has no day 29"
        );
        assert_eq!(
            problem("2024-04-00"),
            "\"2024-04-00\" is not a calendar date: April 2024 has no day 0"
        );
        assert_eq!(
            problem("2024-04-31"),
            "\"2024-04-31\" is not a calendar date: April 2024 has no day 31"
        );
    }
}
