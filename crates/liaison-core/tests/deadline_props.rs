//! Properties of deadline arithmetic over the shipped 2025-2026 calendars.

use liaison_core::clock::{cst_date, cst_midnight_ms};
use liaison_core::{HolidayCalendar, Period};
use proptest::prelude::*;
use time::macros::date;

/// Receipts from 2025-01-01 00:00 CST up to 2026-11-30 24:00 CST. December 2026 has 23 working days,
/// so working-day periods of up to 23 days and calendar-day periods of up to 30 (ending by Wed Dec 30)
/// end inside the shipped calendars.
fn received_at() -> impl Strategy<Value = i64> {
    cst_midnight_ms(date!(2025 - 01 - 01))..cst_midnight_ms(date!(2026 - 12 - 01))
}

/// The CST date of the last instant before the deadline: the period's last day.
fn last_day(due_at_ms: i64) -> time::Date {
    cst_date(due_at_ms - 1).unwrap()
}

proptest! {
    #[test]
    fn working_day_deadline_ends_on_a_working_day(received in received_at(), n in 1u32..=20) {
        let calendar = HolidayCalendar::builtin();
        let due = Period::WorkingDays(n).due_at(received, true, &calendar).unwrap();
        prop_assert_eq!(calendar.is_working_day(last_day(due)), Ok(true));
        prop_assert_eq!(cst_midnight_ms(cst_date(due).unwrap()), due);
        prop_assert!(due > received);
    }

    #[test]
    fn calendar_day_deadline_with_extension_never_ends_on_a_rest_day(
        received in received_at(),
        n in 1u32..=30,
    ) {
        let calendar = HolidayCalendar::builtin();
        let due = Period::CalendarDays(n).due_at(received, true, &calendar).unwrap();
        prop_assert_eq!(calendar.is_rest_day(last_day(due)), Ok(false));
        // Never earlier than N days after the day of receipt.
        let plain = Period::CalendarDays(n).due_at(received, false, &calendar).unwrap();
        prop_assert!(due >= plain);
    }

    #[test]
    fn more_days_never_move_the_deadline_earlier(
        received in received_at(),
        n in 1u32..=15,
        extra in 0u32..=8,
        working in any::<bool>(),
        extension in any::<bool>(),
    ) {
        let calendar = HolidayCalendar::builtin();
        let period = |days| if working { Period::WorkingDays(days) } else { Period::CalendarDays(days) };
        let shorter = period(n).due_at(received, extension, &calendar).unwrap();
        let longer = period(n + extra).due_at(received, extension, &calendar).unwrap();
        prop_assert!(shorter <= longer);
        if extra > 0 && (working || !extension) {
            // Without the extension's jumps each extra day moves the deadline on.
            prop_assert!(shorter < longer);
        }
    }

    #[test]
    fn later_receipt_never_moves_the_deadline_earlier(
        earlier in received_at(),
        later in received_at(),
        n in 1u32..=20,
        working in any::<bool>(),
        extension in any::<bool>(),
    ) {
        let (earlier, later) = (earlier.min(later), earlier.max(later));
        let calendar = HolidayCalendar::builtin();
        let period = if working { Period::WorkingDays(n) } else { Period::CalendarDays(n) };
        let first = period.due_at(earlier, extension, &calendar).unwrap();
        let second = period.due_at(later, extension, &calendar).unwrap();
        prop_assert!(first <= second);
    }
}
