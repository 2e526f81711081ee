//! The official working-day calendar: public holidays (放假) and make-up working days (调休上班), per year.
//!
//! Each year comes from the State Council's notice on that year's holidays, kept as a TOML file in
//! `deploy/calendars/`; the format and how to add a year are in docs/deadlines.md. A year without a
//! calendar is unknown, and asking about it is an error rather than a guess.

use std::collections::BTreeMap;

use serde::Deserialize;
use time::{Date, Month, Weekday};

/// The shipped calendar files, by label: `HolidayCalendar::builtin` loads them all.
const BUILTIN: [(&str, &str); 2] = [
    (
        "deploy/calendars/2025.toml",
        include_str!("../../../deploy/calendars/2025.toml"),
    ),
    (
        "deploy/calendars/2026.toml",
        include_str!("../../../deploy/calendars/2026.toml"),
    ),
];

/// A date in a year for which no calendar is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "no working-day calendar for {year}: add deploy/calendars/{year}.toml from the State Council's notice on the {year} holidays (see docs/deadlines.md)"
)]
pub struct NoCalendar {
    /// The year that has no calendar.
    pub year: i32,
}

/// A calendar file that cannot be loaded. `label` is the caller's name for the file, `entry` names the
/// `[[holidays]]` entry at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("{label}: not a valid calendar file: {message}")]
    Syntax { label: String, message: String },
    #[error("{label}: year = {year} is not a year this calendar can hold")]
    YearOutOfRange { label: String, year: i64 },
    #[error("{label}: `source` is empty: name the State Council notice the dates come from")]
    NoSource { label: String },
    #[error("{label}: no [[holidays]] entries: every year has official holidays")]
    NoHolidays { label: String },
    #[error("{label}: {entry}: `name` is empty")]
    NoName { label: String, entry: String },
    #[error("{label}: {entry}: {field} = {value} is not a date: write it as \"YYYY-MM-DD\"")]
    MalformedDate {
        label: String,
        entry: String,
        field: &'static str,
        value: String,
    },
    #[error("{label}: {entry}: {field} = {date} is not in {year}, the year of this file")]
    WrongYear {
        label: String,
        entry: String,
        field: &'static str,
        date: Date,
        year: i32,
    },
    #[error("{label}: {entry}: the days off end on {to}, before they start on {from}")]
    RangeReversed {
        label: String,
        entry: String,
        from: Date,
        to: Date,
    },
    #[error(
        "{label}: {entry}: make-up working day {date} is a {weekday}: a make-up working day (调休上班) is a Saturday or Sunday"
    )]
    MakeUpOnWeekday {
        label: String,
        entry: String,
        date: Date,
        weekday: Weekday,
    },
    #[error(
        "{label}: {date} is a day off in {off_entry} and a make-up working day in {work_entry}; it cannot be both"
    )]
    OffAndWork {
        label: String,
        date: Date,
        off_entry: String,
        work_entry: String,
    },
    #[error("{label}: {entry}: {date} is already listed in {other}")]
    ListedTwice {
        label: String,
        entry: String,
        date: Date,
        other: String,
    },
    #[error(
        "{label}: the calendar for {year} is already loaded (2025 and 2026 are built in); each year comes from one file only"
    )]
    DuplicateYear { label: String, year: i32 },
}

/// What the calendar says about a date beyond the weekly pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Special {
    /// An official day off (放假), whatever the weekday.
    Off,
    /// A make-up working day (调休上班), always a weekend day.
    Work,
}

/// One year's official days off and make-up working days.
#[derive(Debug, Clone, PartialEq, Eq)]
struct YearCalendar {
    source: String,
    days: BTreeMap<Date, Special>,
    /// The file's text exactly as loaded, so that it can be handed on (e.g. into an audit bundle).
    text: String,
}

/// Official working days, per year, from the State Council's holiday notices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HolidayCalendar {
    years: BTreeMap<i32, YearCalendar>,
}

/// A calendar file as written: see docs/deadlines.md.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawYear {
    year: i64,
    source: String,
    #[serde(default)]
    holidays: Vec<RawHoliday>,
}

/// One `[[holidays]]` entry as written. Dates are kept as TOML values so that both `"2026-02-15"` and a
/// bare TOML date are accepted, and a bad one is reported with its entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoliday {
    name: String,
    off_from: toml::Value,
    off_to: Option<toml::Value>,
    #[serde(default)]
    work: Vec<toml::Value>,
}

impl HolidayCalendar {
    /// An empty calendar: every year is unknown.
    pub fn new() -> Self {
        Self::default()
    }

    /// The calendars shipped with liaison (`deploy/calendars/`): 2025 and 2026.
    pub fn builtin() -> Self {
        let mut calendar = Self::new();
        for (label, text) in BUILTIN {
            // The shipped files are checked by the tests below, so this cannot fail in a build.
            if let Err(e) = calendar.add_year_toml(label, text) {
                panic!("shipped calendar is invalid: {e}");
            }
        }
        calendar
    }

    /// Parses and checks one year's calendar file and adds it; returns the year.
    ///
    /// `label` names the file in errors, e.g. `deploy/calendars/2027.toml`.
    pub fn add_year_toml(&mut self, label: &str, text: &str) -> Result<i32, CalendarError> {
        let raw: RawYear = toml::from_str(text).map_err(|e| CalendarError::Syntax {
            label: label.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let (year, mut parsed) = parse_year(label, raw)?;
        parsed.text = text.to_owned();
        if self.years.contains_key(&year) {
            return Err(CalendarError::DuplicateYear {
                label: label.to_owned(),
                year,
            });
        }
        self.years.insert(year, parsed);
        Ok(year)
    }

    /// The years this calendar knows, in order.
    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        self.years.keys().copied()
    }

    /// Each loaded year with the text of the calendar file it was loaded from, exactly as given to
    /// [`HolidayCalendar::add_year_toml`], in year order. Loading the texts again into a new
    /// calendar gives an equal calendar.
    pub fn texts(&self) -> impl Iterator<Item = (i32, &str)> + '_ {
        self.years.iter().map(|(year, y)| (*year, y.text.as_str()))
    }

    /// The notice a year's calendar was taken from, if the year is known.
    pub fn source(&self, year: i32) -> Option<&str> {
        self.years.get(&year).map(|y| y.source.as_str())
    }

    /// Whether `date` is a working day (工作日): Monday to Friday and not an official day off, or an
    /// official make-up working day.
    pub fn is_working_day(&self, date: Date) -> Result<bool, NoCalendar> {
        let year = self
            .years
            .get(&date.year())
            .ok_or(NoCalendar { year: date.year() })?;
        Ok(match year.days.get(&date) {
            Some(Special::Off) => false,
            Some(Special::Work) => true,
            None => !is_weekend(date),
        })
    }

    /// Whether `date` is a rest day or public holiday: a weekend day not made up, or an official day off.
    pub fn is_rest_day(&self, date: Date) -> Result<bool, NoCalendar> {
        self.is_working_day(date).map(|working| !working)
    }
}

fn is_weekend(date: Date) -> bool {
    matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday)
}

/// Checks a file's contents and turns them into a year's calendar.
fn parse_year(label: &str, raw: RawYear) -> Result<(i32, YearCalendar), CalendarError> {
    let year = i32::try_from(raw.year)
        .ok()
        .filter(|y| {
            Date::from_calendar_date(*y, Month::January, 1).is_ok()
                && Date::from_calendar_date(*y, Month::December, 31).is_ok()
        })
        .ok_or_else(|| CalendarError::YearOutOfRange {
            label: label.to_owned(),
            year: raw.year,
        })?;
    if raw.source.trim().is_empty() {
        return Err(CalendarError::NoSource {
            label: label.to_owned(),
        });
    }
    if raw.holidays.is_empty() {
        return Err(CalendarError::NoHolidays {
            label: label.to_owned(),
        });
    }

    // Every listed date, with the entry that listed it, so that a conflict can name both entries.
    let mut days: BTreeMap<Date, (Special, String)> = BTreeMap::new();
    for (index, holiday) in raw.holidays.into_iter().enumerate() {
        let entry = format!("[[holidays]] #{} {:?}", index + 1, holiday.name);
        if holiday.name.trim().is_empty() {
            return Err(CalendarError::NoName {
                label: label.to_owned(),
                entry,
            });
        }
        let in_year = |field: &'static str, value: &toml::Value| -> Result<Date, CalendarError> {
            let date = toml_date(value).ok_or_else(|| CalendarError::MalformedDate {
                label: label.to_owned(),
                entry: entry.clone(),
                field,
                value: value.to_string(),
            })?;
            if date.year() != year {
                return Err(CalendarError::WrongYear {
                    label: label.to_owned(),
                    entry: entry.clone(),
                    field,
                    date,
                    year,
                });
            }
            Ok(date)
        };
        let from = in_year("off_from", &holiday.off_from)?;
        let to = match &holiday.off_to {
            Some(value) => in_year("off_to", value)?,
            None => from,
        };
        if to < from {
            return Err(CalendarError::RangeReversed {
                label: label.to_owned(),
                entry,
                from,
                to,
            });
        }
        let mut listed = Vec::new();
        let mut day = Some(from);
        while let Some(d) = day.filter(|d| *d <= to) {
            listed.push((d, Special::Off));
            day = d.next_day();
        }
        for value in &holiday.work {
            let date = in_year("work", value)?;
            if !is_weekend(date) {
                return Err(CalendarError::MakeUpOnWeekday {
                    label: label.to_owned(),
                    entry,
                    date,
                    weekday: date.weekday(),
                });
            }
            listed.push((date, Special::Work));
        }
        for (date, special) in listed {
            if let Some((earlier, other)) = days.get(&date) {
                return Err(match (earlier, special) {
                    (Special::Off, Special::Work) => CalendarError::OffAndWork {
                        label: label.to_owned(),
                        date,
                        off_entry: other.clone(),
                        work_entry: entry,
                    },
                    (Special::Work, Special::Off) => CalendarError::OffAndWork {
                        label: label.to_owned(),
                        date,
                        off_entry: entry,
                        work_entry: other.clone(),
                    },
                    _ => CalendarError::ListedTwice {
                        label: label.to_owned(),
                        entry,
                        date,
                        other: other.clone(),
                    },
                });
            }
            days.insert(date, (special, entry.clone()));
        }
    }
    let days = days.into_iter().map(|(d, (s, _))| (d, s)).collect();
    Ok((
        year,
        YearCalendar {
            source: raw.source,
            days,
            text: String::new(),
        },
    ))
}

/// A date written as `"YYYY-MM-DD"` or as a bare TOML local date; `None` for anything else.
fn toml_date(value: &toml::Value) -> Option<Date> {
    match value {
        toml::Value::String(text) => crate::date::parse_date(text).ok(),
        toml::Value::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => {
            let d = dt.date?;
            let month = Month::try_from(d.month).ok()?;
            Date::from_calendar_date(i32::from(d.year), month, d.day).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const LABEL: &str = "test.toml";

    fn load(text: &str) -> Result<HolidayCalendar, CalendarError> {
        let mut calendar = HolidayCalendar::new();
        calendar.add_year_toml(LABEL, text)?;
        Ok(calendar)
    }

    fn spring_festival(work: &str) -> String {
        format!(
            "year = 2026\nsource = \"test\"\n[[holidays]]\nname = \"春节 Spring Festival\"\n\
             off_from = \"2026-02-15\"\noff_to = \"2026-02-23\"\nwork = [{work}]\n"
        )
    }

    #[test]
    fn shipped_calendars_load_and_cite_their_notices() {
        let calendar = HolidayCalendar::builtin();
        assert_eq!(calendar.years().collect::<Vec<_>>(), [2025, 2026]);
        assert!(
            calendar
                .source(2025)
                .unwrap()
                .contains("国办发明电〔2024〕12号")
        );
        assert!(
            calendar
                .source(2026)
                .unwrap()
                .contains("国办发明电〔2025〕7号")
        );
        assert_eq!(calendar.source(2027), None);
    }

    #[test]
    fn shipped_2025_matches_the_state_council_notice() {
        let calendar = HolidayCalendar::builtin();
        let off = [
            date!(2025 - 01 - 01),
            date!(2025 - 01 - 28),
            date!(2025 - 02 - 04),
            date!(2025 - 04 - 04),
            date!(2025 - 05 - 05),
            date!(2025 - 06 - 02),
            date!(2025 - 10 - 01),
            date!(2025 - 10 - 08),
        ];
        for d in off {
            assert_eq!(calendar.is_working_day(d), Ok(false), "{d}");
        }
        let made_up = [
            date!(2025 - 01 - 26),
            date!(2025 - 02 - 08),
            date!(2025 - 04 - 27),
            date!(2025 - 09 - 28),
            date!(2025 - 10 - 11),
        ];
        for d in made_up {
            assert!(is_weekend(d));
            assert_eq!(calendar.is_working_day(d), Ok(true), "{d}");
        }
        // The day after a holiday ends is an ordinary working day.
        assert_eq!(calendar.is_working_day(date!(2025 - 10 - 09)), Ok(true));
    }

    #[test]
    fn shipped_2026_matches_the_state_council_notice() {
        let calendar = HolidayCalendar::builtin();
        let off_ranges = [
            (date!(2026 - 01 - 01), date!(2026 - 01 - 03)),
            (date!(2026 - 02 - 15), date!(2026 - 02 - 23)),
            (date!(2026 - 04 - 04), date!(2026 - 04 - 06)),
            (date!(2026 - 05 - 01), date!(2026 - 05 - 05)),
            (date!(2026 - 06 - 19), date!(2026 - 06 - 21)),
            (date!(2026 - 09 - 25), date!(2026 - 09 - 27)),
            (date!(2026 - 10 - 01), date!(2026 - 10 - 07)),
        ];
        let mut off_days = 0;
        for (from, to) in off_ranges {
            let mut d = from;
            while d <= to {
                assert_eq!(calendar.is_rest_day(d), Ok(true), "{d}");
                off_days += 1;
                d = d.next_day().unwrap();
            }
        }
        // 3 + 9 + 3 + 5 + 3 + 3 + 7, as the notice counts them.
        assert_eq!(off_days, 33);
        let made_up = [
            date!(2026 - 01 - 04),
            date!(2026 - 02 - 14),
            date!(2026 - 02 - 28),
            date!(2026 - 05 - 09),
            date!(2026 - 09 - 20),
            date!(2026 - 10 - 10),
        ];
        for d in made_up {
            assert!(is_weekend(d));
            assert_eq!(calendar.is_working_day(d), Ok(true), "{d}");
        }
        assert_eq!(calendar.is_working_day(date!(2026 - 10 - 08)), Ok(true));
    }

    #[test]
    fn ordinary_weekends_rest_and_weekdays_work() {
        let calendar = HolidayCalendar::builtin();
        assert_eq!(calendar.is_rest_day(date!(2026 - 03 - 14)), Ok(true)); // Saturday
        assert_eq!(calendar.is_rest_day(date!(2026 - 03 - 15)), Ok(true)); // Sunday
        assert_eq!(calendar.is_working_day(date!(2026 - 03 - 16)), Ok(true)); // Monday
    }

    #[test]
    fn unknown_year_is_an_error_not_a_guess() {
        let calendar = HolidayCalendar::builtin();
        // 2027-01-05 is an ordinary-looking Tuesday, but without the 2027 notice nobody knows.
        assert_eq!(
            calendar.is_working_day(date!(2027 - 01 - 05)),
            Err(NoCalendar { year: 2027 })
        );
        assert_eq!(
            HolidayCalendar::new().is_rest_day(date!(2026 - 03 - 14)),
            Err(NoCalendar { year: 2026 })
        );
        let message = NoCalendar { year: 2027 }.to_string();
        assert!(message.contains("deploy/calendars/2027.toml"), "{message}");
    }

    #[test]
    fn loaded_texts_are_kept_and_load_again_to_the_same_calendar() {
        let calendar = HolidayCalendar::builtin();
        let texts: Vec<(i32, &str)> = calendar.texts().collect();
        assert_eq!(texts.len(), 2);
        assert_eq!(texts[0].0, 2025);
        assert_eq!(texts[0].1, BUILTIN[0].1);
        assert_eq!(texts[1], (2026, BUILTIN[1].1));
        let mut again = HolidayCalendar::new();
        for (year, text) in calendar.texts() {
            assert_eq!(again.add_year_toml("again", text), Ok(year));
        }
        assert_eq!(again, calendar);
        assert_eq!(HolidayCalendar::new().texts().count(), 0);
    }

    #[test]
    fn added_year_is_used() {
        let calendar = load(&spring_festival("\"2026-02-14\"")).unwrap();
        assert_eq!(calendar.is_working_day(date!(2026 - 02 - 14)), Ok(true));
        assert_eq!(calendar.is_working_day(date!(2026 - 02 - 16)), Ok(false));
    }

    #[test]
    fn one_day_holiday_may_omit_off_to_and_dates_may_be_bare_toml_dates() {
        let calendar = load(
            "year = 2025\nsource = \"test\"\n[[holidays]]\nname = \"元旦\"\noff_from = 2025-01-01\n",
        )
        .unwrap();
        assert_eq!(calendar.is_working_day(date!(2025 - 01 - 01)), Ok(false));
        assert_eq!(calendar.is_working_day(date!(2025 - 01 - 02)), Ok(true));
    }

    #[test]
    fn duplicate_year_is_refused() {
        let mut calendar = HolidayCalendar::builtin();
        let err = calendar
            .add_year_toml("extra/2026.toml", &spring_festival(""))
            .unwrap_err();
        assert_eq!(
            err,
            CalendarError::DuplicateYear {
                label: "extra/2026.toml".into(),
                year: 2026
            }
        );
        assert!(err.to_string().starts_with("extra/2026.toml: "));
    }

    #[test]
    fn date_in_another_year_is_refused() {
        let text = spring_festival("\"2025-02-14\"");
        let err = load(&text).unwrap_err();
        assert_eq!(
            err,
            CalendarError::WrongYear {
                label: LABEL.into(),
                entry: "[[holidays]] #1 \"春节 Spring Festival\"".into(),
                field: "work",
                date: date!(2025 - 02 - 14),
                year: 2026,
            }
        );
        assert!(err.to_string().contains("春节 Spring Festival"), "{err}");
    }

    #[test]
    fn make_up_day_on_a_weekday_is_refused() {
        // 2026-02-24 is a Tuesday: it needs no making up.
        let err = load(&spring_festival("\"2026-02-24\"")).unwrap_err();
        assert!(
            matches!(
                err,
                CalendarError::MakeUpOnWeekday { date, weekday: Weekday::Tuesday, .. }
                    if date == date!(2026 - 02 - 24)
            ),
            "{err:?}"
        );
    }

    #[test]
    fn day_both_off_and_worked_is_refused() {
        let text = format!(
            "{}[[holidays]]\nname = \"clash\"\noff_from = \"2026-03-01\"\nwork = [\"2026-02-21\"]\n",
            spring_festival("")
        );
        let err = load(&text).unwrap_err();
        assert_eq!(
            err,
            CalendarError::OffAndWork {
                label: LABEL.into(),
                date: date!(2026 - 02 - 21),
                off_entry: "[[holidays]] #1 \"春节 Spring Festival\"".into(),
                work_entry: "[[holidays]] #2 \"clash\"".into(),
            }
        );
    }

    #[test]
    fn overlapping_days_off_are_refused() {
        let text = format!(
            "{}[[holidays]]\nname = \"again\"\noff_from = \"2026-02-23\"\noff_to = \"2026-02-24\"\n",
            spring_festival("")
        );
        let err = load(&text).unwrap_err();
        assert!(
            matches!(&err, CalendarError::ListedTwice { date, .. } if *date == date!(2026 - 02 - 23)),
            "{err:?}"
        );
    }

    #[test]
    fn reversed_range_is_refused() {
        let text = "year = 2026\nsource = \"test\"\n[[holidays]]\nname = \"x\"\n\
                    off_from = \"2026-10-07\"\noff_to = \"2026-10-01\"\n";
        assert!(matches!(
            load(text).unwrap_err(),
            CalendarError::RangeReversed { .. }
        ));
    }

    #[test]
    fn malformed_date_is_refused_with_its_field() {
        for bad in ["\"2026-2-15\"", "\"2026-02-30\"", "\"Feb 15\"", "20260215"] {
            let text = format!(
                "year = 2026\nsource = \"test\"\n[[holidays]]\nname = \"x\"\noff_from = {bad}\n"
            );
            let err = load(&text).unwrap_err();
            assert!(
                matches!(
                    &err,
                    CalendarError::MalformedDate {
                        field: "off_from",
                        ..
                    }
                ),
                "{bad}: {err:?}"
            );
            assert!(err.to_string().contains("YYYY-MM-DD"), "{err}");
        }
    }

    #[test]
    fn unknown_field_and_bad_syntax_are_refused() {
        let typo = "year = 2026\nsource = \"test\"\n[[holidays]]\nname = \"x\"\noff_form = \"2026-10-01\"\n";
        let err = load(typo).unwrap_err();
        assert!(
            matches!(&err, CalendarError::Syntax { .. }) && err.to_string().contains("off_form"),
            "{err}"
        );
        assert!(matches!(
            load("year = ").unwrap_err(),
            CalendarError::Syntax { .. }
        ));
    }

    #[test]
    fn empty_source_name_or_holidays_are_refused() {
        assert!(matches!(
            load("year = 2026\nsource = \" \"\n[[holidays]]\nname = \"x\"\noff_from = \"2026-10-01\"\n")
                .unwrap_err(),
            CalendarError::NoSource { .. }
        ));
        assert!(matches!(
            load("year = 2026\nsource = \"test\"\n").unwrap_err(),
            CalendarError::NoHolidays { .. }
        ));
        assert!(matches!(
            load("year = 2026\nsource = \"test\"\n[[holidays]]\nname = \"\"\noff_from = \"2026-10-01\"\n")
                .unwrap_err(),
            CalendarError::NoName { .. }
        ));
        assert!(matches!(
            load("year = 99999999999\nsource = \"test\"\n").unwrap_err(),
            CalendarError::YearOutOfRange { .. }
        ));
    }
}
