//! Report periods given by an operator: a quarter (`2026Q1`) or first and last days, in China
//! Standard Time.

use liaison_core::clock::cst_midnight_ms;
use liaison_core::parse_date;
use time::{Date, Month};

fn date(text: &str, flag: &str) -> Result<Date, String> {
    parse_date(text.trim())
        .map_err(|_| format!("{flag}: {text:?} is not a date such as 2026-01-31"))
}

/// `--quarter`, or `--from` and `--to`, as the commands that take a period read them.
#[derive(clap::Args, Debug, Clone)]
pub struct PeriodArgs {
    /// A quarter, e.g. 2026Q1.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    quarter: Option<String>,
    /// First day of the period (YYYY-MM-DD, China Standard Time).
    #[arg(long, requires = "to")]
    from: Option<String>,
    /// Last day of the period, included.
    #[arg(long, requires = "from")]
    to: Option<String>,
}

impl PeriodArgs {
    /// The period `[from_ms, to_ms)` these flags mean.
    pub fn range(&self) -> Result<(i64, i64), String> {
        parse(
            self.quarter.as_deref(),
            self.from.as_deref(),
            self.to.as_deref(),
        )
    }
}

/// The period `[from_ms, to_ms)` meant by `--quarter` or by `--from`/`--to` (both days included).
pub fn parse(
    quarter: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(i64, i64), String> {
    match (quarter, from, to) {
        (Some(q), None, None) => {
            let bad = || format!("--quarter: {q:?} is not a quarter such as 2026Q1");
            let (year, n) = q.trim().split_once(['Q', 'q']).ok_or_else(bad)?;
            let year: i32 = year.parse().map_err(|_| bad())?;
            let n: u8 = n.parse().map_err(|_| bad())?;
            if !(1..=4).contains(&n) || !(1900..=2199).contains(&year) {
                return Err(bad());
            }
            let first = |y: i32, month: u8| {
                Month::try_from(month)
                    .ok()
                    .and_then(|m| Date::from_calendar_date(y, m, 1).ok())
                    .ok_or_else(bad)
            };
            let start = first(year, 3 * n - 2)?;
            let end = if n == 4 {
                first(year + 1, 1)?
            } else {
                first(year, 3 * n + 1)?
            };
            Ok((cst_midnight_ms(start), cst_midnight_ms(end)))
        }
        (None, Some(from), Some(to)) => {
            let (from, to) = (date(from, "--from")?, date(to, "--to")?);
            if to < from {
                return Err(format!("--to {to} is before --from {from}"));
            }
            let after = to
                .next_day()
                .ok_or_else(|| format!("--to {to} is out of range"))?;
            Ok((cst_midnight_ms(from), cst_midnight_ms(after)))
        }
        _ => Err("give --quarter (e.g. 2026Q1), or both --from and --to".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn quarter_runs_from_its_first_day_to_the_next_quarter_in_china_time() {
        assert_eq!(
            parse(Some("2026Q1"), None, None),
            Ok((
                cst_midnight_ms(date!(2026 - 01 - 01)),
                cst_midnight_ms(date!(2026 - 04 - 01))
            ))
        );
        assert_eq!(
            parse(Some("2026Q4"), None, None),
            Ok((
                cst_midnight_ms(date!(2026 - 10 - 01)),
                cst_midnight_ms(date!(2027 - 01 - 01))
            ))
        );
    }

    #[test]
    fn from_and_to_include_the_last_day() {
        assert_eq!(
            parse(None, Some("2026-02-01"), Some("2026-02-28")),
            Ok((
                cst_midnight_ms(date!(2026 - 02 - 01)),
                cst_midnight_ms(date!(2026 - 03 - 01))
            ))
        );
    }

    #[test]
    fn bad_periods_are_refused_naming_the_flag() {
        assert!(
            parse(Some("2026Q5"), None, None)
                .unwrap_err()
                .starts_with("--quarter")
        );
        assert!(
            parse(Some("Q1"), None, None)
                .unwrap_err()
                .starts_with("--quarter")
        );
        assert!(
            parse(None, Some("2026-02-30"), Some("2026-03-01"))
                .unwrap_err()
                .starts_with("--from")
        );
        assert!(
            parse(None, Some("2026-03-02"), Some("2026-03-01"))
                .unwrap_err()
                .starts_with("--to")
        );
    }
}
