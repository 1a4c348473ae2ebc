//! Recurrence triggers (Logic Apps semantics, made deterministic; docs/design.md §5).
//!
//! `Minute`/`Hour` count elapsed time from `startTime` (without one, from local midnight of
//! 2000-01-03 in the zone). `Day`/`Week`/`Month` are calendar steps on the local clock: every
//! `interval`-th day, week (weeks start Monday) or month counted from startTime's (or from
//! 2000-01-03), firing at `hours × minutes` on each qualifying day.

use crate::calendar::{DayRule, TimeOfDay};
use crate::diag::Problem;
use crate::dst;
use crate::json::{Json, View};
use crate::schedule::{is_blank, word, Rule};
use crate::tz::Zone;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc, Weekday};

/// Where interval counting starts when there is no startTime: a Monday.
pub const EPOCH: (i32, u32, u32) = (2000, 1, 3);

/// Calendar frequency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Day,
    Week,
    Month,
}

/// A `Day`/`Week`/`Month` recurrence as a day rule with fixed times of day.
#[derive(Debug, Clone)]
pub(crate) struct Calendar {
    step: Step,
    interval: i64,
    /// The first day of counting (for `Week`, the Monday of startTime's week).
    anchor: NaiveDate,
    /// Weekdays (bits 0–6, Sunday 0), `Week` only.
    weekdays: u8,
    /// Days of month (bits 1–31), `Month` only.
    month_days: u32,
    time: TimeOfDay,
}

fn monday_of(d: NaiveDate) -> NaiveDate {
    d - chrono::Days::new(u64::from(d.weekday().num_days_from_monday()))
}

fn month_index(year: i32, month: u32) -> i64 {
    i64::from(year) * 12 + i64::from(month) - 1
}

impl DayRule for Calendar {
    fn day_matches(&self, date: NaiveDate) -> bool {
        match self.step {
            Step::Day => (date - self.anchor).num_days().rem_euclid(self.interval) == 0,
            Step::Week => {
                self.weekdays & (1 << date.weekday().num_days_from_sunday()) != 0
                    && ((monday_of(date) - self.anchor).num_days() / 7).rem_euclid(self.interval)
                        == 0
            }
            Step::Month => {
                self.month_days & (1 << date.day()) != 0
                    && self.month_may_match(date.year(), date.month())
            }
        }
    }

    fn month_may_match(&self, year: i32, month: u32) -> bool {
        self.step != Step::Month
            || (month_index(year, month) - month_index(self.anchor.year(), self.anchor.month()))
                .rem_euclid(self.interval)
                == 0
    }

    fn time(&self) -> &TimeOfDay {
        &self.time
    }
}

/// Reads a list field into a bit set, one bit per item that `bit` accepts; items it rejects are
/// reported as `field[i]: <item> <complaint>`. Absent, null or empty means "not given".
fn bit_set<J: Json>(
    v: Option<&J>,
    field: &str,
    what: &str,
    problems: &mut Vec<Problem>,
    bit: impl Fn(&J) -> Result<u32, String>,
) -> Option<u64> {
    let other = v?;
    let items = match other.view() {
        View::Null => return None,
        View::Array([]) => return None,
        View::Array(a) => a,
        _ => {
            problems.push(Problem::error(
                field,
                format!("expected a list of {what}, found {other}"),
            ));
            return None;
        }
    };
    let mut bits = 0u64;
    for (i, item) in items.iter().enumerate() {
        match bit(item) {
            Ok(b) => bits |= 1 << b,
            Err(complaint) => problems.push(Problem::error(
                format!("{field}[{i}]"),
                format!("{item} {complaint}"),
            )),
        }
    }
    Some(bits)
}

/// Reads a list of small integers (`hours`, `minutes`, `monthDays`) into a bit set.
fn int_set<J: Json>(
    v: Option<&J>,
    field: &str,
    range: (u32, u32),
    problems: &mut Vec<Problem>,
) -> Option<u64> {
    bit_set(v, field, "numbers", problems, |item| {
        let n = match item.view() {
            View::Number(n) => n.as_u64(),
            View::Str(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if n >= u64::from(range.0) && n <= u64::from(range.1) => Ok(n as u32),
            _ => Err(format!("out of range {}-{}", range.0, range.1)),
        }
    })
}

/// Reads `weekDays` (names, case-insensitive) into a bit set, Sunday bit 0.
fn weekday_set<J: Json>(v: Option<&J>, field: &str, problems: &mut Vec<Problem>) -> Option<u8> {
    bit_set(v, field, "weekday names", problems, |item| {
        item.as_str()
            .and_then(|s| s.trim().parse::<Weekday>().ok())
            .map(|d| d.num_days_from_sunday())
            .ok_or_else(|| "is not a weekday (expected Monday … Sunday)".to_string())
    })
    .map(|b| b as u8)
}

fn interval<J: Json>(v: Option<&J>, problems: &mut Vec<Problem>) -> Option<i64> {
    let n = match v.map(Json::view) {
        None | Some(View::Null) => {
            problems.push(Problem::warning("recurrence.interval", "missing; using 1"));
            return Some(1);
        }
        Some(View::Number(n)) => n.as_i64(),
        Some(View::Str(s)) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if (1..=100_000).contains(&n) => Some(n),
        _ => {
            problems.push(Problem::error(
                "recurrence.interval",
                format!(
                    "{} is not a positive whole number",
                    v.map(|v| v.to_string()).unwrap_or_default()
                ),
            ));
            None
        }
    }
}

/// Appends the labels of the set bits, comma-separated (labels are built for every schedule of
/// a fleet, so without intermediate strings).
fn push_names(out: &mut String, bits: u64, labels: &[&str]) {
    let mut first = true;
    for (b, label) in labels.iter().enumerate().take(64) {
        if bits & (1 << b) != 0 {
            if !first {
                out.push(',');
            }
            out.push_str(label);
            first = false;
        }
    }
}

/// The recurrence frequencies, as the compiler tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frequency {
    /// `Minute` or `Hour`: elapsed time.
    Elapsed,
    /// `Day`, `Week` or `Month`: calendar steps.
    Calendar(Step),
    /// Missing or unknown (already reported): the schedule's fields are still checked.
    Unknown,
}

/// Compiles a `recurrence` object. `start` is the parsed startTime (instant, local wall time);
/// `zone` is `None` when the time zone is unknown (already reported). Every problem of the
/// object is reported, even when an early one already makes it unusable.
pub(crate) fn compile<J: Json>(
    body: &J,
    zone: Option<&Zone>,
    start: Option<(DateTime<Utc>, NaiveDateTime)>,
    problems: &mut Vec<Problem>,
) -> Option<(Rule, String)> {
    let freq = word(body.get("frequency"), "recurrence.frequency", problems);
    let lower = freq.map(str::to_ascii_lowercase).unwrap_or_default();
    let kind = match lower.as_str() {
        "minute" | "hour" => Frequency::Elapsed,
        "day" => Frequency::Calendar(Step::Day),
        "week" => Frequency::Calendar(Step::Week),
        "month" => Frequency::Calendar(Step::Month),
        _ => {
            match freq {
                None => problems.push(Problem::error(
                    "recurrence.frequency",
                    "missing (expected Minute, Hour, Day, Week or Month)",
                )),
                Some(freq) => problems.push(Problem::error(
                    "recurrence.frequency",
                    format!(
                        "unknown frequency '{freq}' (expected Minute, Hour, Day, Week or Month)"
                    ),
                )),
            }
            Frequency::Unknown
        }
    };
    let freq = freq.unwrap_or_default();
    let interval = interval(body.get("interval"), problems);
    let sched = body.get("schedule").filter(|s| s.is_object());
    let epoch = NaiveDate::from_ymd_opt(EPOCH.0, EPOCH.1, EPOCH.2)?;
    if let Some(interval) = interval.filter(|&n| start.is_none() && n > 1) {
        problems.push(Problem::warning(
            "recurrence.interval",
            format!("interval {interval} without startTime: counting starts at 2000-01-03; set startTime to choose the phase"),
        ));
    }
    let step = match kind {
        Frequency::Elapsed => {
            let every = interval.unwrap_or(1);
            if sched.is_some_and(|s| s.any_member(&mut |v| !is_blank(v))) {
                problems.push(Problem::warning(
                    "recurrence.schedule",
                    format!("ignored for frequency {freq}: it fires every {every} {lower}(s) of elapsed time"),
                ));
            }
            let (interval, zone) = (interval?, zone?);
            let unit = if lower == "minute" { 60 } else { 3600 };
            let anchor = match start {
                Some((at, _)) => at.timestamp(),
                None => dst::to_instant(zone, epoch.and_hms_opt(0, 0, 0)?)
                    .0
                    .timestamp(),
            };
            let label = format!("Recurrence every {interval} {lower}(s)");
            return Some((
                Rule::Elapsed {
                    anchor,
                    step: interval * unit,
                },
                label,
            ));
        }
        Frequency::Calendar(step) => Some(step),
        Frequency::Unknown => None,
    };
    let get = |k: &str| sched.and_then(|s| s.get(k));
    let start_local = start.map(|s| s.1);
    let hours = int_set(get("hours"), "recurrence.schedule.hours", (0, 23), problems)
        .unwrap_or(1 << start_local.map_or(0, |l| chrono::Timelike::hour(&l)));
    let minutes = int_set(
        get("minutes"),
        "recurrence.schedule.minutes",
        (0, 59),
        problems,
    )
    .unwrap_or(1 << start_local.map_or(0, |l| chrono::Timelike::minute(&l)));
    let weekdays = weekday_set(get("weekDays"), "recurrence.schedule.weekDays", problems);
    let month_days = int_set(
        get("monthDays"),
        "recurrence.schedule.monthDays",
        (1, 31),
        problems,
    );
    let start_date = start_local.map(|l| l.date());
    if let Some(occurrences) = get("monthlyOccurrences").filter(|v| !is_blank(*v)) {
        let instead = match (step, month_days, start_date) {
            (Some(Step::Month), Some(_), _) => "it fires on monthDays only",
            (Some(Step::Month), None, Some(_)) => "it fires on startTime's day of the month",
            (Some(Step::Month), None, None) => "it fires on day 1 of the month",
            (Some(_), _, _) => "it would apply to frequency Month only anyway",
            (None, _, _) => "it is not read",
        };
        problems.push(Problem::warning(
            "recurrence.schedule.monthlyOccurrences",
            format!(
                "{occurrences} is ignored: Curfew does not support monthlyOccurrences (\
                 'the first Monday of the month'); {instead}"
            ),
        ));
    }
    // Only a known calendar frequency compiles; the checks above ran for every frequency.
    let step = step?;
    if step != Step::Week && weekdays.is_some() {
        let instead = if step == Step::Month {
            "it fires on monthDays (or startTime's day of the month), whatever the weekday"
        } else {
            "it fires every day of the interval"
        };
        problems.push(Problem::warning(
            "recurrence.schedule.weekDays",
            format!("ignored for frequency {freq} (only Week uses weekDays): {instead}"),
        ));
    }
    if step != Step::Month && month_days.is_some() {
        let instead = if step == Step::Week {
            "it fires on weekDays (or startTime's weekday), whatever the day of the month"
        } else {
            "it fires every day of the interval"
        };
        problems.push(Problem::warning(
            "recurrence.schedule.monthDays",
            format!("ignored for frequency {freq} (only Month uses monthDays): {instead}"),
        ));
    }
    let weekdays = weekdays
        .unwrap_or_else(|| start_date.map_or(0x7f, |d| 1 << d.weekday().num_days_from_sunday()));
    let month_days = match (month_days, start_date) {
        (Some(m), _) => m as u32,
        (None, Some(d)) => 1 << d.day(),
        (None, None) => {
            if step == Step::Month {
                problems.push(Problem::warning(
                    "recurrence.schedule.monthDays",
                    "missing and no startTime: fires on day 1",
                ));
            }
            1 << 1
        }
    };
    if step == Step::Month && month_days & ((1 << 29) - 1) == 0 {
        problems.push(Problem::warning(
            "recurrence.schedule.monthDays",
            "only days past the 28th: months without them are skipped",
        ));
    }
    // Every problem is reported; only now may a bad interval or zone end the compilation.
    let interval = interval?;
    zone?;
    let anchor_day = start_date.unwrap_or(epoch);
    let anchor = if step == Step::Week {
        monday_of(anchor_day)
    } else {
        anchor_day
    };
    let time = TimeOfDay {
        hours: hours as u32,
        minutes,
        seconds: 1,
    };
    let mut label = String::with_capacity(80);
    label.push_str("Recurrence every ");
    label.push_str(&interval.to_string());
    label.push(' ');
    label.push_str(&lower);
    label.push_str("(s)");
    match step {
        Step::Day => {}
        Step::Week => {
            label.push_str(" on ");
            push_names(
                &mut label,
                u64::from(weekdays),
                &["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"],
            );
        }
        Step::Month => {
            label.push_str(" on day ");
            push_names(&mut label, u64::from(month_days & !1), &MONTH_DAYS);
        }
    }
    label.push_str(" at hours ");
    push_names(&mut label, u64::from(time.hours), &HOURS);
    label.push_str(" minutes ");
    push_names(&mut label, minutes, &MINUTES);
    Some((
        Rule::Calendar(Calendar {
            step,
            interval,
            anchor,
            weekdays,
            month_days,
            time,
        }),
        label,
    ))
}

/// Day-of-month labels by bit (bit 0 is unused).
const MONTH_DAYS: [&str; 32] = [
    "", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    "17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31",
];
const HOURS: [&str; 24] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    "17", "18", "19", "20", "21", "22", "23",
];
const MINUTES: [&str; 60] = [
    "00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "15",
    "16", "17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31",
    "32", "33", "34", "35", "36", "37", "38", "39", "40", "41", "42", "43", "44", "45", "46", "47",
    "48", "49", "50", "51", "52", "53", "54", "55", "56", "57", "58", "59",
];
