//! NCrontab expressions: parsing into bit sets, and matching against local wall-clock time.
//!
//! Azure's API says cron schedules "should follow NCronTab format": five fields
//! `minute hour day-of-month month day-of-week` (day-of-week 0–6, Sunday 0), lists, ranges and
//! steps, where `n/step` means `n` to the field's maximum. A month or day name may be any
//! case-insensitive prefix of the English name, read as the first name in calendar order that
//! starts with it (`Augu`, `SEPT`, `Thurs`; `J` is January, `T` Tuesday, `S` Sunday), exactly
//! as NCrontab's `CrontabFieldImpl.ParseValue` reads it; a prefix shorter than three letters that
//! several names share is read that way with a warning.
//! NCrontab ANDs day-of-month and day-of-week. A sixth leading field (seconds, Azure Functions
//! style) and a few common extensions are accepted with a warning; extensions never change the
//! meaning of a valid NCrontab expression (docs/design.md §5).

use crate::calendar::{DayRule, TimeOfDay};
use chrono::{Datelike, NaiveDate};
use std::fmt;

/// A parse failure, phrased to follow `cron expression '<expr>': `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CronError(pub String);

/// A parsed cron expression: which seconds, minutes, hours, days, months and weekdays match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronExpr {
    /// Time-of-day sets (seconds are `{0}` for a five-field expression).
    pub(crate) time: TimeOfDay,
    /// Days of month, bits 1–31.
    pub(crate) days: u32,
    /// Months, bits 1–12.
    pub(crate) months: u16,
    /// Weekdays, bits 0–6, Sunday 0.
    pub(crate) weekdays: u8,
    /// Whether day-of-month was restricted (not `*`), for the AND-versus-OR warning.
    pub(crate) days_restricted: bool,
    /// Whether day-of-week was restricted (not `*`).
    pub(crate) weekdays_restricted: bool,
    /// Non-fatal remarks about the expression (extensions, seconds field, AND semantics).
    pub warnings: Vec<String>,
}

#[derive(Clone, Copy)]
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const SECOND: Field = Field {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
};
const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY: Field = Field {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
};
// Day-of-week accepts 7 as an extension (Sunday), so the parse range is 0-7.
const WEEKDAY: Field = Field {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &[
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ],
};

impl CronExpr {
    /// Parses an NCrontab expression (five fields, or six with seconds first); the error is
    /// the first problem found (see [`CronExpr::parse_all`] for every one).
    pub fn parse(expr: &str) -> Result<CronExpr, CronError> {
        CronExpr::parse_all(expr).map_err(|mut errors| errors.swap_remove(0))
    }

    /// Parses an NCrontab expression and, when it is not valid, names every bad field and list
    /// item (`61 25 * * *` has two problems), so that `validate` reports them all at once.
    /// The error list is never empty.
    pub fn parse_all(expr: &str) -> Result<CronExpr, Vec<CronError>> {
        let mut warnings = Vec::new();
        let trimmed = expr.trim();
        if trimmed.is_empty() {
            return Err(vec![CronError("the expression is empty".into())]);
        }
        let expanded;
        let text = if let Some(alias) = trimmed.strip_prefix('@') {
            expanded = match alias.to_ascii_lowercase().as_str() {
                "yearly" | "annually" => "0 0 1 1 *",
                "monthly" => "0 0 1 * *",
                "weekly" => "0 0 * * 0",
                "daily" | "midnight" => "0 0 * * *",
                "hourly" => "0 * * * *",
                other => {
                    return Err(vec![CronError(format!(
                        "unknown macro '@{other}' (and macros are not part of NCrontab)"
                    ))])
                }
            };
            warnings.push(format!(
                "'{trimmed}' is not NCrontab; read as '{expanded}' (Azure may reject it)"
            ));
            expanded
        } else {
            trimmed
        };
        let fields: Vec<&str> = text.split_whitespace().collect();
        let (sec, rest) = match fields.len() {
            5 => (None, &fields[..]),
            6 => {
                warnings.push(
                    "six fields: the first is read as seconds (Azure Functions style); \
                     Azure ML's NCrontab expects five"
                        .to_string(),
                );
                (Some(fields[0]), &fields[1..])
            }
            n => {
                return Err(vec![CronError(format!(
                    "expected 5 fields (minute hour day-of-month month day-of-week), found {n}"
                ))])
            }
        };
        // Every field is read even after a bad one: an empty list allocates nothing.
        let mut errors = Vec::new();
        let seconds = match sec {
            Some(s) => parse_field(s, SECOND, &mut warnings, &mut errors),
            None => 1,
        };
        let minutes = parse_field(rest[0], MINUTE, &mut warnings, &mut errors);
        let hours = parse_field(rest[1], HOUR, &mut warnings, &mut errors);
        let days = parse_field(rest[2], DAY, &mut warnings, &mut errors);
        let months = parse_field(rest[3], MONTH, &mut warnings, &mut errors);
        let mut weekdays = parse_field(rest[4], WEEKDAY, &mut warnings, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays & !(1 << 7)) | 1;
            warnings
                .push("day-of-week 7 is not NCrontab (0-6, Sunday 0); read as Sunday".to_string());
        }
        let days_restricted = !is_star(rest[2]);
        let weekdays_restricted = !is_star(rest[4]);
        if days_restricted && weekdays_restricted {
            warnings.push(format!(
                "both day-of-month '{}' and day-of-week '{}' are set: NCrontab fires only on days \
                 matching both (classic cron would fire on either)",
                rest[2], rest[4]
            ));
        }
        let cron = CronExpr {
            time: TimeOfDay {
                hours: hours as u32,
                minutes,
                seconds,
            },
            days: days as u32,
            months: months as u16,
            weekdays: weekdays as u8,
            days_restricted,
            weekdays_restricted,
            warnings,
        };
        if !cron.can_ever_fire() {
            return Err(vec![CronError(
                "never fires: no month in the expression has the day-of-month it asks for"
                    .to_string(),
            )]);
        }
        Ok(cron)
    }

    /// Whether some calendar date matches day-of-month and month (day-of-week always eventually
    /// matches any existing date, within a 28-year cycle).
    fn can_ever_fire(&self) -> bool {
        (1..=12u32).any(|m| {
            self.months & (1 << m) != 0 && {
                let max_day = days_in_month_leap(m);
                (1..=max_day).any(|d| self.days & (1 << d) != 0)
            }
        })
    }
}

fn days_in_month_leap(month: u32) -> u32 {
    match month {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl DayRule for CronExpr {
    fn day_matches(&self, date: NaiveDate) -> bool {
        self.months & (1 << date.month()) != 0
            && self.days & (1 << date.day()) != 0
            && self.weekdays & (1 << date.weekday().num_days_from_sunday()) != 0
    }

    fn month_may_match(&self, year: i32, month: u32) -> bool {
        let _ = year;
        self.months & (1 << month) != 0
    }

    fn time(&self) -> &TimeOfDay {
        &self.time
    }
}

fn is_star(field: &str) -> bool {
    field == "*" || field == "?"
}

/// Parses one field into a bit set (bit n set when value n matches); every bad list item is
/// appended to `errors`.
fn parse_field(
    text: &str,
    field: Field,
    warnings: &mut Vec<String>,
    errors: &mut Vec<CronError>,
) -> u64 {
    let mut bits = 0u64;
    let mut found = 0usize;
    for (n, item) in text.split(',').enumerate() {
        let problem = if item.is_empty() {
            Some(CronError(format!(
                "{}: empty list item (item {}) in '{}'",
                field.name,
                n + 1,
                clip(text)
            )))
        } else {
            match parse_item(item, field, warnings) {
                Ok(b) => {
                    bits |= b;
                    None
                }
                Err(e) => Some(e),
            }
        };
        if let Some(e) = problem {
            found += 1;
            if found <= MAX_FIELD_ERRORS {
                errors.push(e);
            }
        }
    }
    if found > MAX_FIELD_ERRORS {
        errors.push(CronError(format!(
            "{}: {} more problems in this field",
            field.name,
            found - MAX_FIELD_ERRORS
        )));
    }
    warnings.truncate(MAX_WARNINGS);
    bits
}

/// Problems reported per field; the rest are counted. A hostile 13 KB field of thousands of
/// bad items used to yield thousands of messages each quoting the whole field: 170 MB.
const MAX_FIELD_ERRORS: usize = 16;

/// Warnings kept per expression.
const MAX_WARNINGS: usize = 64;

/// `text` as quoted in a message: at most 40 bytes, cut on a character boundary.
fn clip(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= 40 {
        return text.into();
    }
    let mut end = 37;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end]).into()
}

fn parse_item(item: &str, field: Field, warnings: &mut Vec<String>) -> Result<u64, CronError> {
    let (range, step) = match item.split_once('/') {
        Some((r, s)) => {
            // NCrontab reads the step with `int.Parse` (a sign allowed, 32 bits) and
            // `CrontabField.Accumulate` raises a step below 1 to 1.
            let step: i32 = s.parse().map_err(|_| {
                CronError(format!(
                    "{}: step '{s}' in '{item}' is not a number",
                    field.name
                ))
            })?;
            if step < 1 {
                warnings.push(format!(
                    "{}: step {step} in '{item}' is read as step 1, as NCrontab does",
                    field.name
                ));
            }
            (r, Some(step.max(1) as u32))
        }
        None => (item, None),
    };
    // The effective upper bound for `*` and `n/step`: day-of-week 7 is only reachable explicitly.
    let star_max = if field.name == WEEKDAY.name {
        6
    } else {
        field.max
    };
    let (lo, hi) = if range == "*" || range == "?" {
        if range == "?" {
            warnings.push(format!(
                "{}: '?' is Quartz syntax, not NCrontab; read as '*'",
                field.name
            ));
        }
        (field.min, star_max)
    } else if let Some((a, b)) = range.split_once('-') {
        let a = parse_value(a, field, item, warnings)?;
        let b = parse_value(b, field, item, warnings)?;
        if a > b {
            // NCrontab (`CrontabField.Accumulate`) swaps the ends of a backwards range.
            warnings.push(format!(
                "{}: range '{range}' runs backwards; read as {b}-{a}, as NCrontab does",
                field.name
            ));
            (b, a)
        } else {
            (a, b)
        }
    } else {
        let v = parse_value(range, field, item, warnings)?;
        // NCrontab: `n/step` runs from n to the field's maximum.
        if step.is_some() {
            (v, star_max)
        } else {
            (v, v)
        }
    };
    let step = step.unwrap_or(1);
    let mut bits = 0u64;
    let mut v = lo;
    while v <= hi {
        bits |= 1 << v;
        v += step;
    }
    Ok(bits)
}

/// Whether `text` is a case-insensitive prefix of `name` (NCrontab's rule for names; the
/// names are ASCII, so a non-ASCII byte never matches).
fn is_prefix_of(text: &str, name: &str) -> bool {
    text.len() <= name.len() && name.as_bytes()[..text.len()].eq_ignore_ascii_case(text.as_bytes())
}

/// Names shorter than this that several names share get a warning (`J`, `Ju`, `Ma`, `T`, `S`).
const CLEAR_PREFIX_LEN: usize = 3;

/// The value of a name: like NCrontab, any case-insensitive prefix of a month or day name
/// (`Augu`, `SEPT`, `Thurs`), taken as the first name in calendar order (January…, Sunday…)
/// that starts with it. A short prefix that several names share is read the same way, with a
/// warning: `J` is January, `Ju` June, `T` Tuesday, `S` Sunday.
fn parse_name(text: &str, field: Field, warnings: &mut Vec<String>) -> Option<u32> {
    let (i, name) = field
        .names
        .iter()
        .enumerate()
        .find(|(_, name)| is_prefix_of(text, name))?;
    if text.len() < CLEAR_PREFIX_LEN {
        let mut others = field.names[i + 1..]
            .iter()
            .filter(|other| is_prefix_of(text, other))
            .peekable();
        if others.peek().is_some() {
            let others: Vec<&str> = others.copied().collect();
            warnings.push(format!(
                "{}: '{text}' is read as {name}, the first {} that starts with it (NCrontab's \
                 rule); {} {} with it too, so write at least {CLEAR_PREFIX_LEN} letters",
                field.name,
                if field.name == MONTH.name {
                    "month"
                } else {
                    "day"
                },
                others.join(" and "),
                if others.len() > 1 { "start" } else { "starts" },
            ));
        }
    }
    Some(field.min + i as u32)
}

fn parse_value(
    text: &str,
    field: Field,
    item: &str,
    warnings: &mut Vec<String>,
) -> Result<u32, CronError> {
    if text.is_empty() {
        return Err(CronError(format!(
            "{}: missing value in '{item}'",
            field.name
        )));
    }
    if text.bytes().all(|c| c.is_ascii_digit()) {
        let v: u32 = text
            .parse()
            .map_err(|_| CronError(format!("{}: '{text}' is too large", field.name)))?;
        let shown_max = if field.name == WEEKDAY.name {
            6
        } else {
            field.max
        };
        if v < field.min || v > field.max {
            return Err(CronError(format!(
                "{} {v} out of range {}-{shown_max}",
                field.name, field.min
            )));
        }
        return Ok(v);
    }
    if let Some(v) = parse_name(text, field, warnings) {
        return Ok(v);
    }
    if text.contains(['l', 'L', 'w', 'W', '#']) {
        return Err(CronError(format!(
            "{}: '{text}' uses L/W/# which NCrontab (Azure's cron dialect) does not support",
            field.name
        )));
    }
    if field.names.is_empty() {
        return Err(CronError(format!(
            "{}: '{text}' is not a valid value (expected a number {}-{})",
            field.name, field.min, field.max
        )));
    }
    Err(CronError(format!(
        "{}: '{text}' is not a {} name or a prefix of one ({}, …)",
        field.name,
        if field.name == MONTH.name {
            "month"
        } else {
            "day"
        },
        field.names[..3].join(", "),
    )))
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cron(seconds={:#x}, minutes={:#x}, hours={:#x}, days={:#x}, months={:#x}, weekdays={:#x})",
            self.time.seconds, self.time.minutes, self.time.hours, self.days, self.months, self.weekdays
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(list: &[u32]) -> u64 {
        list.iter().fold(0, |b, v| b | (1 << v))
    }

    #[test]
    fn five_fields_parse_to_sets() {
        let c = CronExpr::parse("0 18 * * *").unwrap();
        assert_eq!(c.time.minutes, 1);
        assert_eq!(c.time.hours, 1 << 18);
        assert_eq!(c.time.seconds, 1);
        assert_eq!(c.weekdays, 0x7f);
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn lists_ranges_and_steps() {
        let c = CronExpr::parse("*/15 9-17 1,15 * MON-FRI").unwrap();
        assert_eq!(c.time.minutes, bits(&[0, 15, 30, 45]));
        assert_eq!(u64::from(c.time.hours), bits(&(9..=17).collect::<Vec<_>>()));
        assert_eq!(u64::from(c.days), bits(&[1, 15]));
        assert_eq!(u64::from(c.weekdays), bits(&[1, 2, 3, 4, 5]));
        let c = CronExpr::parse("10-40/10 * * * *").unwrap();
        assert_eq!(c.time.minutes, bits(&[10, 20, 30, 40]));
    }

    #[test]
    fn n_slash_step_runs_to_the_field_maximum() {
        let c = CronExpr::parse("5/20 22/1 * * *").unwrap();
        assert_eq!(c.time.minutes, bits(&[5, 25, 45]));
        assert_eq!(u64::from(c.time.hours), bits(&[22, 23]));
        let c = CronExpr::parse("0 0 * * 3/2").unwrap();
        assert_eq!(u64::from(c.weekdays), bits(&[3, 5]));
    }

    #[test]
    fn names_are_case_insensitive() {
        let c = CronExpr::parse("0 8 * jan,Dec sun").unwrap();
        assert_eq!(u64::from(c.months), bits(&[1, 12]));
        assert_eq!(c.weekdays, 1);
        let c = CronExpr::parse("0 8 * * Monday-wednesday").unwrap();
        assert_eq!(u64::from(c.weekdays), bits(&[1, 2, 3]));
    }

    #[test]
    fn names_are_any_prefix_read_as_the_first_name_in_calendar_order() {
        // NCrontab (CrontabFieldImpl.ParseValue): the first of January…December or
        // Sunday…Saturday that starts with the text, case-insensitively.
        for (text, month) in [
            ("Augu", 8),
            ("SEPT", 9),
            ("DECEM", 12),
            ("j", 1),
            ("Ju", 6),
            ("jul", 7),
            ("M", 3),
            ("a", 4),
            ("september", 9),
        ] {
            let c = CronExpr::parse(&format!("0 0 1 {text} *")).unwrap();
            assert_eq!(u64::from(c.months), bits(&[month]), "{text}");
        }
        for (text, day) in [
            ("Thurs", 4),
            ("T", 2),
            ("S", 0),
            ("m", 1),
            ("sa", 6),
            ("W", 3),
        ] {
            let c = CronExpr::parse(&format!("0 0 * * {text}")).unwrap();
            assert_eq!(u64::from(c.weekdays), bits(&[day]), "{text}");
        }
        for bad in [
            "0 0 1 Janu4ry *",
            "0 0 1 Decembers *",
            "0 0 * * Fry",
            "0 0 * * Sundays",
        ] {
            assert!(CronExpr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn short_prefixes_that_several_names_share_warn() {
        for (expr, warns) in [
            ("0 0 1 J *", true),
            ("0 0 1 Ju *", true),
            ("0 0 1 M *", true),
            ("0 0 1 Ma *", true),
            ("0 0 1 A *", true),
            ("0 0 * * T", true),
            ("0 0 * * S", true),
            ("0 0 1 Ja *", false),
            ("0 0 1 Jun *", false),
            ("0 0 1 S *", false),
            ("0 0 * * M", false),
            ("0 0 * * Th", false),
            ("0 0 * * Thurs", false),
        ] {
            let c = CronExpr::parse(expr).unwrap();
            assert_eq!(!c.warnings.is_empty(), warns, "{expr}: {:?}", c.warnings);
        }
        let c = CronExpr::parse("0 0 1 Ju *").unwrap();
        assert!(
            c.warnings[0].contains("read as June") && c.warnings[0].contains("July"),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        let errors = CronExpr::parse_all("61 25 0 13 Funday").unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "minute 61 out of range 0-59",
                "hour 25 out of range 0-23",
                "day-of-month 0 out of range 1-31",
                "month 13 out of range 1-12",
                "day-of-week: 'Funday' is not a day name or a prefix of one (Sunday, Monday, Tuesday, …)",
            ]
        );
        assert_eq!(CronExpr::parse_all("1,61,62 * * * *").unwrap_err().len(), 2);
        assert_eq!(
            CronExpr::parse("61 25 * * *").unwrap_err().to_string(),
            "minute 61 out of range 0-59"
        );
    }

    #[test]
    fn out_of_range_values_are_named() {
        let e = CronExpr::parse("61 * * * *").unwrap_err();
        assert_eq!(e.to_string(), "minute 61 out of range 0-59");
        let e = CronExpr::parse("0 24 * * *").unwrap_err();
        assert_eq!(e.to_string(), "hour 24 out of range 0-23");
        let e = CronExpr::parse("0 0 0 * *").unwrap_err();
        assert_eq!(e.to_string(), "day-of-month 0 out of range 1-31");
        let e = CronExpr::parse("0 0 * 13 *").unwrap_err();
        assert_eq!(e.to_string(), "month 13 out of range 1-12");
        let e = CronExpr::parse("0 0 * * 8").unwrap_err();
        assert_eq!(e.to_string(), "day-of-week 8 out of range 0-6");
    }

    #[test]
    fn malformed_expressions_are_rejected() {
        for bad in [
            "",
            "* * * *",
            "* * * * * * *",
            "*/x * * * *",
            "*/ * * * *",
            "*/2147483648 * * * *",
            "50-70 * * * *",
            "70-50 * * * *",
            "a * * * *",
            "0 0 L * *",
            "0 0 * * 5#3",
            "0 0 15W * *",
            "1,,2 * * * *",
            "@reboot",
            "0 0 30 2 *",
            "0 0 31 4,6,9,11 *",
        ] {
            assert!(CronExpr::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    /// Found by the `recurrence` fuzz target: a 13 KB field of thousands of bad items made a
    /// message per item quoting the whole field (170 MB for one expression).
    #[test]
    fn a_field_of_thousands_of_bad_items_yields_a_bounded_report() {
        let field = format!("{}é", "w,,".repeat(5_000));
        let errors = CronExpr::parse_all(&format!("{field} * * * *")).unwrap_err();
        assert_eq!(errors.len(), MAX_FIELD_ERRORS + 1, "{errors:?}");
        let bytes: usize = errors.iter().map(|e| e.to_string().len()).sum();
        assert!(bytes < 4_096, "{bytes}");
        assert!(errors.last().unwrap().to_string().contains("more problems"));
        let warned = CronExpr::parse(&format!("0 0 * {} *", "Ja,".repeat(1_000) + "Ja"));
        assert!(warned.unwrap().warnings.len() <= MAX_WARNINGS);
    }

    /// NCrontab (`CrontabField.Accumulate`) swaps a backwards range and raises a step below 1
    /// to 1 (its `Debug.Assert(every != 0)` is gone from release builds); so does Curfew, with
    /// a warning, since Azure governs such schedules.
    #[test]
    fn backwards_ranges_and_steps_below_one_read_as_ncrontab_does() {
        let same = |a: &str, b: &str| {
            let (x, y) = (CronExpr::parse(a).unwrap(), CronExpr::parse(b).unwrap());
            assert_eq!(
                (x.time.minutes, x.time.hours, x.days, x.months, x.weekdays),
                (y.time.minutes, y.time.hours, y.days, y.months, y.weekdays),
                "{a} vs {b}"
            );
            assert!(!x.warnings.is_empty(), "{a}: no warning");
        };
        same("5-1 * * * *", "1-5 * * * *");
        same("50-10/5 * * * *", "10-50/5 * * * *");
        same("0 0 * DEC-JAN *", "0 0 * 1-12 *");
        same("0 0 * * FRI-MON", "0 0 * * 1-5");
        same("*/0 * * * *", "* * * * *");
        same("*/-3 * * * *", "* * * * *");
        same("10/0 * * * *", "10-59 * * * *");
        same("1-5/0 * * * *", "1-5 * * * *");
        assert_eq!(
            CronExpr::parse("*/+15 * * * *").unwrap().time.minutes,
            CronExpr::parse("*/15 * * * *").unwrap().time.minutes
        );
    }

    #[test]
    fn feb_29_is_valid_and_fires_only_in_leap_years() {
        let c = CronExpr::parse("0 0 29 2 *").unwrap();
        assert!(c.day_matches(NaiveDate::from_ymd_opt(2028, 2, 29).unwrap()));
    }

    #[test]
    fn extensions_are_accepted_with_a_warning_and_never_silently() {
        let c = CronExpr::parse("0 0 * * 7").unwrap();
        assert_eq!(c.weekdays, 1);
        assert_eq!(c.warnings.len(), 1);
        let c = CronExpr::parse("0 0 * * 5-7").unwrap();
        assert_eq!(u64::from(c.weekdays), bits(&[0, 5, 6]));
        let c = CronExpr::parse("@daily").unwrap();
        assert_eq!(c.time.hours, 1);
        assert_eq!(c.warnings.len(), 1);
        let c = CronExpr::parse("0 0 ? * MON").unwrap();
        assert_eq!(c.days, CronExpr::parse("0 0 * * MON").unwrap().days);
        assert!(!c.warnings.is_empty());
        let c = CronExpr::parse("30 0 18 * * *").unwrap();
        assert_eq!(c.time.seconds, 1 << 30);
        assert_eq!(c.warnings.len(), 1);
    }

    #[test]
    fn day_of_month_and_day_of_week_are_anded_with_a_warning() {
        let c = CronExpr::parse("0 9 13 * FRI").unwrap();
        assert_eq!(c.warnings.len(), 1);
        // 2026-02-13 is a Friday; 2026-03-13 is a Friday too; 2026-04-13 a Monday.
        assert!(c.day_matches(NaiveDate::from_ymd_opt(2026, 2, 13).unwrap()));
        assert!(!c.day_matches(NaiveDate::from_ymd_opt(2026, 4, 13).unwrap()));
        assert!(!c.day_matches(NaiveDate::from_ymd_opt(2026, 4, 17).unwrap()));
    }
}
