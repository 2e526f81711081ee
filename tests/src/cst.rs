//! Wall-clock times in China Standard Time (UTC+8) as the Unix milliseconds that nodes sign, for
//! tests that set a controlled clock to fixed instants. Computed here from the civil calendar, not
//! by the product's own date code, so that the tests check that code rather than repeat it.

/// One hour in milliseconds.
pub const HOUR_MS: i64 = 3600 * 1000;

/// One day in milliseconds.
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// Days from 1970-01-01 to the proleptic Gregorian date `year-month-day`.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    assert!(
        (1..=12).contains(&month) && (1..=31).contains(&day),
        "{year}-{month}-{day} is not a date"
    );
    let (month, day) = (i64::from(month), i64::from(day));
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Unix ms of `hour:minute` on `year-month-day` in China.
pub fn cst_ms(year: i64, month: u32, day: u32, hour: u32, minute: u32) -> i64 {
    assert!(
        hour < 24 && minute < 60,
        "{hour}:{minute} is not a time of day"
    );
    days_from_civil(year, month, day) * DAY_MS
        + i64::from(hour) * HOUR_MS
        + i64::from(minute) * 60 * 1000
        - 8 * HOUR_MS
}

/// Unix ms of 24:00 CST at the end of `year-month-day`, that is 00:00 CST of the day after: how a
/// period whose last day is that date is stored.
pub fn end_of_day_cst(year: i64, month: u32, day: u32) -> i64 {
    cst_ms(year, month, day, 0, 0) + DAY_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_worked_examples_of_docs_deadlines_md() {
        // Examples 1 and 2: due 24:00 CST of 2026-03-12 and of 2026-03-13.
        assert_eq!(end_of_day_cst(2026, 3, 12), 1_773_331_200_000);
        assert_eq!(end_of_day_cst(2026, 3, 13), 1_773_417_600_000);
        // 2026-03-01 16:30 UTC is 2026-03-02 00:30 CST.
        assert_eq!(cst_ms(2026, 3, 2, 0, 30), 1_772_382_600_000);
        assert_eq!(cst_ms(1970, 1, 1, 8, 0), 0);
    }
}
