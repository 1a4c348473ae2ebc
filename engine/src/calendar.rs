//! Wall-clock search: the next local date-time at or after a given one that a rule matches.
//!
//! Cron expressions and calendar recurrences (`Day`/`Week`/`Month`) are both "a set of days ×
//! a set of times of day" on the local clock. This module walks days forward and picks the first
//! matching time with bit operations; the DST mapping to instants lives in [`crate::dst`].

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// The times of day a rule fires at, as bit sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeOfDay {
    /// Hours 0–23, bit n set when hour n matches.
    pub hours: u32,
    /// Minutes 0–59.
    pub minutes: u64,
    /// Seconds 0–59 (`{0}` unless a six-field cron names others).
    pub seconds: u64,
}

fn next_bit(mask: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let m = mask >> from;
    (m != 0).then(|| from + m.trailing_zeros())
}

impl TimeOfDay {
    /// The first matching time of day at or after `h:m:s`, if any remains in the day.
    fn at_or_after(&self, h: u32, m: u32, s: u32) -> Option<(u32, u32, u32)> {
        let first_s = next_bit(self.seconds, 0)?;
        let first_m = next_bit(self.minutes, 0)?;
        if self.hours & (1 << h) != 0 {
            if self.minutes & (1 << m) != 0 {
                if let Some(sec) = next_bit(self.seconds, s) {
                    return Some((h, m, sec));
                }
            }
            if let Some(min) = next_bit(self.minutes, m + 1) {
                return Some((h, min, first_s));
            }
        }
        let hour = next_bit(u64::from(self.hours), h + 1)?;
        Some((hour, first_m, first_s))
    }
}

/// A rule over local calendar days with fixed times of day.
pub(crate) trait DayRule {
    /// Whether the rule fires on this local date.
    fn day_matches(&self, date: NaiveDate) -> bool;
    /// A cheap pre-check that lets the search skip whole months.
    fn month_may_match(&self, year: i32, month: u32) -> bool;
    /// The times of day the rule fires at on a matching date.
    fn time(&self) -> &TimeOfDay;
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    let (y, m) = if date.month() == 12 {
        (date.year() + 1, 1)
    } else {
        (date.year(), date.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
}

/// The first local date-time `>= from` that the rule matches, searching no later than `until`.
pub(crate) fn next_local<R: DayRule + ?Sized>(
    rule: &R,
    from: NaiveDateTime,
    until: NaiveDate,
) -> Option<NaiveDateTime> {
    let tod = rule.time();
    let mut date = from.date();
    let mut start = Some((from.hour(), from.minute(), from.second()));
    while date <= until {
        if !rule.month_may_match(date.year(), date.month()) {
            date = first_of_next_month(date)?;
            start = None;
            continue;
        }
        if rule.day_matches(date) {
            let (h, m, s) = start.unwrap_or((0, 0, 0));
            if let Some((h, m, s)) = tod.at_or_after(h, m, s) {
                return NaiveTime::from_hms_opt(h, m, s).map(|t| date.and_time(t));
            }
        }
        date = date.succ_opt()?;
        start = None;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Every(TimeOfDay);
    impl DayRule for Every {
        fn day_matches(&self, _: NaiveDate) -> bool {
            true
        }
        fn month_may_match(&self, _: i32, _: u32) -> bool {
            true
        }
        fn time(&self) -> &TimeOfDay {
            &self.0
        }
    }

    fn dt(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn finds_the_same_instant_when_it_matches() {
        let r = Every(TimeOfDay {
            hours: 1 << 18,
            minutes: 1,
            seconds: 1,
        });
        let until = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
        assert_eq!(
            next_local(&r, dt("2026-01-01 18:00:00"), until),
            Some(dt("2026-01-01 18:00:00"))
        );
        assert_eq!(
            next_local(&r, dt("2026-01-01 18:00:01"), until),
            Some(dt("2026-01-02 18:00:00"))
        );
        assert_eq!(
            next_local(&r, dt("2026-01-01 17:59:59"), until),
            Some(dt("2026-01-01 18:00:00"))
        );
    }

    #[test]
    fn walks_minutes_hours_and_days() {
        let r = Every(TimeOfDay {
            hours: (1 << 9) | (1 << 17),
            minutes: (1 << 0) | (1 << 30),
            seconds: 1,
        });
        let until = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
        assert_eq!(
            next_local(&r, dt("2026-01-01 09:10:00"), until),
            Some(dt("2026-01-01 09:30:00"))
        );
        assert_eq!(
            next_local(&r, dt("2026-01-01 09:31:00"), until),
            Some(dt("2026-01-01 17:00:00"))
        );
        assert_eq!(
            next_local(&r, dt("2026-01-01 17:30:01"), until),
            Some(dt("2026-01-02 09:00:00"))
        );
        assert_eq!(
            next_local(&r, dt("2026-12-31 17:30:01"), until),
            Some(dt("2027-01-01 09:00:00"))
        );
        assert_eq!(next_local(&r, dt("2027-01-01 17:30:01"), until), None);
    }
}
