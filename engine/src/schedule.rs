//! One `computeStartStop` entry: reading it from ARM JSON and compiling it to a firing rule.
//!
//! Reading is forgiving the way Azure's payloads need (case-insensitive enum words, `triggerType`
//! repeated inside `cron`/`recurrence`, nulls, `startTime` with `T` or a space); every problem is
//! reported with the JSON field it concerns, and one bad entry never hides another.

use crate::cron::CronExpr;
use crate::diag::Problem;
use crate::dst::{self, Shift};
use crate::json::{Json, View};
use crate::recurrence::{self, Calendar};
use crate::tz::{self, Zone};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::fmt;

/// What a schedule does to the instance.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
pub enum Action {
    /// Start the instance.
    Start,
    /// Stop the instance. Wins over a Start in the same minute.
    Stop,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Start => "Start",
            Action::Stop => "Stop",
        })
    }
}

/// Where a schedule came from (docs/design.md §4): precedence override > native > policy default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Source {
    /// Read from the compute's own `schedules.computeStartStop` in ARM.
    Native,
    /// Set through Curfew for this instance.
    Override,
    /// Supplied by the named default policy.
    Policy(String),
}

/// The firing rule a trigger compiles to.
#[derive(Debug, Clone)]
pub(crate) enum Rule {
    /// Cron on the local clock.
    Cron(CronExpr),
    /// `Day`/`Week`/`Month` recurrence on the local clock.
    Calendar(Calendar),
    /// `Minute`/`Hour` recurrence: every `step` seconds of elapsed time from `anchor`.
    Elapsed {
        /// Unix seconds of the first firing.
        anchor: i64,
        /// Seconds between firings.
        step: i64,
    },
}

/// A compiled, valid schedule, ready to produce occurrences.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Start or Stop.
    pub action: Action,
    /// `status: Disabled` schedules are listed but never fire.
    pub enabled: bool,
    /// The `timeZone` as written (`UTC` when absent).
    pub time_zone: String,
    /// The zone whose rules apply.
    pub zone: Zone,
    /// Nothing fires before this instant; a firing exactly at it counts.
    pub start: Option<DateTime<Utc>>,
    /// A short human description of the trigger, for plans and reasons.
    pub trigger: String,
    pub(crate) rule: Rule,
}

/// The outcome of reading one entry: the schedule when it is usable, and every problem found.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// `None` when an error made the entry unusable.
    pub schedule: Option<Schedule>,
    /// Errors and warnings, each naming its field.
    pub problems: Vec<Problem>,
}

/// A case-insensitive enum word, or `None` when absent/null. Non-strings are reported.
pub(crate) fn word<'a, J: Json>(
    v: Option<&'a J>,
    field: &str,
    problems: &mut Vec<Problem>,
) -> Option<&'a str> {
    let v = v?;
    match v.view() {
        View::Null => None,
        View::Str(s) => Some(s),
        _ => {
            problems.push(Problem::error(
                field,
                format!("expected a string, found {v}"),
            ));
            None
        }
    }
}

/// Whether a value says nothing: absent-like `null`, an empty string or an empty list.
pub(crate) fn is_blank<J: Json>(v: &J) -> bool {
    match v.view() {
        View::Null => true,
        View::Str(s) => s.trim().is_empty(),
        View::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Parses a `startTime`: `yyyy-MM-ddTHH:mm:ss` (or a space instead of `T`, optional fraction),
/// local to the zone; an explicit offset or `Z` is honoured.
pub(crate) fn parse_start_time(
    text: &str,
    zone: &Zone,
) -> Result<(DateTime<Utc>, NaiveDateTime), String> {
    let t = text.trim();
    if let Some(local) = fast_local(t) {
        return Ok((dst::to_instant(zone, local).0, local));
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        let utc = dt.with_timezone(&Utc);
        return Ok((utc, dst::wall(zone, utc)));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M%:z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(t, f) {
            let utc = dt.with_timezone(&Utc);
            return Ok((utc, dst::wall(zone, utc)));
        }
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    });
    match naive {
        Some(local) => Ok((dst::to_instant(zone, local).0, local)),
        None => Err(format!(
            "'{text}' is not a date-time (expected yyyy-MM-ddTHH:mm:ss, local to timeZone)"
        )),
    }
}

/// The common `yyyy-MM-ddTHH:mm:ss` (or space) without offset, read without chrono's format
/// machinery; anything else returns `None` and takes the general path.
fn fast_local(t: &str) -> Option<NaiveDateTime> {
    let b = t.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?.and_hms_opt(
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    )
}

/// Reads one `computeStartStop` entry (ARM JSON) and compiles it.
pub fn compile(entry: &impl Json) -> Compiled {
    let mut problems = Vec::new();
    let schedule = compile_inner(entry, &mut problems);
    let schedule = if problems
        .iter()
        .any(|p| p.severity == crate::Severity::Error)
    {
        None
    } else {
        schedule
    };
    Compiled { schedule, problems }
}

fn compile_inner<J: Json>(entry: &J, problems: &mut Vec<Problem>) -> Option<Schedule> {
    if !entry.is_object() {
        problems.push(Problem::error(
            "",
            format!("a schedule must be an object, found {entry}"),
        ));
        return None;
    }
    let action = match word(entry.get("action"), "action", problems) {
        Some(a) if a.eq_ignore_ascii_case("start") => Some(Action::Start),
        Some(a) if a.eq_ignore_ascii_case("stop") => Some(Action::Stop),
        Some(a) => {
            problems.push(Problem::error(
                "action",
                format!("unknown action '{a}' (expected Start or Stop)"),
            ));
            None
        }
        None => {
            problems.push(Problem::error("action", "missing (expected Start or Stop)"));
            None
        }
    };
    let enabled = match word(entry.get("status"), "status", problems) {
        Some(s) if s.eq_ignore_ascii_case("enabled") => true,
        Some(s) if s.eq_ignore_ascii_case("disabled") => false,
        Some(s) => {
            problems.push(Problem::error(
                "status",
                format!("unknown status '{s}' (expected Enabled or Disabled)"),
            ));
            false
        }
        None => true,
    };
    let declared = word(entry.get("triggerType"), "triggerType", problems);
    let cron = entry.get("cron").filter(|v| !v.is_null());
    let recur = entry.get("recurrence").filter(|v| !v.is_null());
    let kind = match declared {
        Some(t) if t.eq_ignore_ascii_case("cron") => "cron",
        Some(t) if t.eq_ignore_ascii_case("recurrence") => "recurrence",
        Some(t) => {
            problems.push(Problem::error(
                "triggerType",
                format!("unknown trigger type '{t}' (expected Cron or Recurrence)"),
            ));
            // The entry is unusable, but its one body is still checked, so that every
            // problem is named at once.
            match (cron, recur) {
                (Some(_), None) => "cron",
                (None, Some(_)) => "recurrence",
                _ => return None,
            }
        }
        None => match (cron, recur) {
            (Some(_), None) => "cron",
            (None, Some(_)) => "recurrence",
            (Some(_), Some(_)) => {
                problems.push(Problem::error(
                    "triggerType",
                    "missing, and both cron and recurrence are set",
                ));
                return None;
            }
            (None, None) => {
                problems.push(Problem::error(
                    "triggerType",
                    "missing, and neither cron nor recurrence is set",
                ));
                return None;
            }
        },
    };
    let body = if kind == "cron" { cron } else { recur };
    let Some(body) = body.filter(|b| b.is_object()) else {
        problems.push(Problem::error(
            kind,
            format!("triggerType is {kind} but '{kind}' is missing or not an object"),
        ));
        return None;
    };
    // Field names are spelled out, not formatted: this runs for every schedule of a fleet.
    let (inner_field, tz_field, start_field, end_field) = if kind == "cron" {
        (
            "cron.triggerType",
            "cron.timeZone",
            "cron.startTime",
            "cron.endTime",
        )
    } else {
        (
            "recurrence.triggerType",
            "recurrence.timeZone",
            "recurrence.startTime",
            "recurrence.endTime",
        )
    };
    if let Some(inner) = word(body.get("triggerType"), inner_field, problems) {
        if !inner.eq_ignore_ascii_case(kind) {
            problems.push(Problem::error(
                inner_field,
                format!("'{inner}' contradicts the entry's triggerType {kind}"),
            ));
        }
    }
    let time_zone = word(body.get("timeZone"), tz_field, problems)
        .filter(|s| !s.trim().is_empty())
        .unwrap_or(tz::DEFAULT_ZONE)
        .to_string();
    let zone = match tz::resolve(&time_zone) {
        Some(z) => Some(z),
        None => {
            problems.push(Problem::error(tz_field, format!("unknown time zone '{time_zone}' (expected a Windows id such as 'Pacific Standard Time' or an IANA name)")));
            None
        }
    };
    let start_text =
        word(body.get("startTime"), start_field, problems).filter(|s| !s.trim().is_empty());
    let start = match start_text {
        Some(text) => {
            // With an unknown zone, startTime is still checked (read as UTC): the entry is
            // unusable either way, and a bad startTime is a problem of its own.
            let fallback;
            let read_in = match &zone {
                Some(z) => Some(z),
                None => {
                    fallback = tz::resolve(tz::DEFAULT_ZONE);
                    fallback.as_ref()
                }
            };
            match read_in.map(|z| parse_start_time(text, z)) {
                Some(Ok(s)) => Some(s),
                Some(Err(msg)) => {
                    problems.push(Problem::error(start_field, msg));
                    None
                }
                None => None,
            }
        }
        None => None,
    };
    if let Some(end) = body.get("endTime").filter(|v| !is_blank(*v)) {
        problems.push(Problem::warning(
            end_field,
            format!(
                "{end} is ignored: Curfew does not support endTime, so the schedule keeps firing \
                 after it; disable or remove the schedule to end it"
            ),
        ));
    }
    let (rule, trigger) = if kind == "cron" {
        let expr = match word(body.get("expression"), "cron.expression", problems) {
            Some(e) => e,
            None => {
                problems.push(Problem::error("cron.expression", "missing"));
                return None;
            }
        };
        match CronExpr::parse_all(expr) {
            Ok(c) => {
                for w in &c.warnings {
                    problems.push(Problem::warning(
                        "cron.expression",
                        format!("cron expression '{expr}': {w}"),
                    ));
                }
                (Rule::Cron(c), ["Cron ", expr].concat())
            }
            Err(errors) => {
                for e in errors {
                    problems.push(Problem::error(
                        "cron.expression",
                        format!("cron expression '{expr}': {e}"),
                    ));
                }
                return None;
            }
        }
    } else {
        recurrence::compile(body, zone.as_ref(), start, problems)?
    };
    Some(Schedule {
        action: action?,
        enabled,
        time_zone,
        zone: zone?,
        start: start.map(|s| s.0),
        trigger,
        rule,
    })
}

/// One planned firing of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    /// The instant it fires at.
    pub at: DateTime<Utc>,
    /// The local wall-clock time the rule matched (may not exist, or exist twice, under DST).
    pub local: NaiveDateTime,
    /// How DST moved it.
    pub shift: Shift,
    /// How many further matched local times landed on the same instant and fire with it.
    pub merged: u32,
}

/// How far `next_after` looks before concluding a schedule will not fire again.
const HORIZON_YEARS: i64 = 50;

impl Schedule {
    /// The first occurrence strictly after `t`, or `None` when disabled or none in 50 years.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<Occurrence> {
        if !self.enabled {
            return None;
        }
        let mut cursor = Cursor::new(self, t.timestamp(), None);
        cursor.next_candidate_after()
    }

    /// Occurrences with `from <= at < to`, in increasing order. Empty when disabled.
    pub fn occurrences(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Occurrences<'_> {
        let lower = from.timestamp() - 1 + i64::from(from.timestamp_subsec_nanos() > 0);
        let until = dst::wall(&self.zone, to).date() + chrono::Days::new(2);
        Occurrences {
            cursor: Cursor::new(self, lower, Some(until)),
            to: to.timestamp() - 1 + i64::from(to.timestamp_subsec_nanos() > 0),
            pending: None,
            done: !self.enabled || to <= from,
        }
    }
}

/// Scans candidates of one schedule in increasing order from a lower bound (exclusive).
struct Cursor<'a> {
    schedule: &'a Schedule,
    /// Only instants `> lower` (Unix seconds) count.
    lower: i64,
    /// Next local time to search from (wall-clock rules).
    scan: NaiveDateTime,
    /// Last local date to search (wall-clock rules).
    until: NaiveDate,
    /// Next firing (elapsed rules).
    next_elapsed: i64,
}

impl<'a> Cursor<'a> {
    fn new(schedule: &'a Schedule, lower: i64, until: Option<NaiveDate>) -> Cursor<'a> {
        let lower = match schedule.start {
            // Nothing fires before startTime; a firing exactly at it counts.
            Some(s) => lower.max(s.timestamp() - 1 + i64::from(s.timestamp_subsec_nanos() > 0)),
            None => lower,
        };
        let lower_at = DateTime::from_timestamp(lower, 0).unwrap_or_default();
        let scan = dst::wall(&schedule.zone, lower_at) + chrono::Duration::seconds(1);
        let until =
            until.unwrap_or_else(|| scan.date() + chrono::Days::new((HORIZON_YEARS * 366) as u64));
        let next_elapsed = match schedule.rule {
            Rule::Elapsed { anchor, step } => {
                if lower < anchor {
                    anchor
                } else {
                    anchor + ((lower - anchor) / step + 1) * step
                }
            }
            _ => 0,
        };
        Cursor {
            schedule,
            lower,
            scan,
            until,
            next_elapsed,
        }
    }

    /// The next candidate in scan order, whatever its instant.
    fn next_candidate(&mut self) -> Option<Occurrence> {
        let tz = &self.schedule.zone;
        let local = match &self.schedule.rule {
            Rule::Elapsed { step, .. } => {
                let at = DateTime::from_timestamp(self.next_elapsed, 0)?;
                self.next_elapsed += step;
                return Some(Occurrence {
                    at,
                    local: dst::wall(tz, at),
                    shift: Shift::None,
                    merged: 0,
                });
            }
            Rule::Cron(c) => crate::calendar::next_local(c, self.scan, self.until)?,
            Rule::Calendar(c) => crate::calendar::next_local(c, self.scan, self.until)?,
        };
        self.scan = local + chrono::Duration::seconds(1);
        let (at, shift) = dst::to_instant(tz, local);
        Some(Occurrence {
            at,
            local,
            shift,
            merged: 0,
        })
    }

    /// The next candidate firing strictly after `lower`.
    fn next_candidate_after(&mut self) -> Option<Occurrence> {
        loop {
            let c = self.next_candidate()?;
            if c.at.timestamp() > self.lower {
                return Some(c);
            }
        }
    }
}

/// Iterator over a schedule's occurrences in a window; merges local times that share an instant.
pub struct Occurrences<'a> {
    cursor: Cursor<'a>,
    /// Last second (inclusive) of the window.
    to: i64,
    pending: Option<Occurrence>,
    done: bool,
}

impl Iterator for Occurrences<'_> {
    type Item = Occurrence;

    fn next(&mut self) -> Option<Occurrence> {
        if self.done {
            return None;
        }
        let mut first = match self.pending.take() {
            Some(p) => p,
            None => match self.cursor.next_candidate_after() {
                Some(c) => c,
                None => {
                    self.done = true;
                    return None;
                }
            },
        };
        if first.at.timestamp() > self.to {
            self.done = true;
            return None;
        }
        // Several local times landing on one instant (a DST gap) fire once.
        while let Some(c) = self.cursor.next_candidate() {
            if c.at == first.at {
                first.merged += 1;
            } else if c.at > first.at {
                self.pending = Some(c);
                break;
            }
        }
        self.cursor.lower = first.at.timestamp();
        Some(first)
    }
}

fn canonical_word(v: Option<&Value>, words: &[&str]) -> Option<Value> {
    let s = v?.as_str()?;
    let w = words.iter().find(|w| w.eq_ignore_ascii_case(s.trim()))?;
    Some(Value::String((*w).to_string()))
}

fn put(obj: &mut serde_json::Map<String, Value>, key: &str, v: Option<Value>) {
    if let Some(v) = v.filter(|v| !v.is_null()) {
        obj.insert(key.to_string(), v);
    }
}

/// The entry in Azure's canonical spelling (`Start`, `Enabled`, `Cron`, `Week`, `Friday`), with
/// unknown fields and nulls dropped: the form Curfew stores for overrides and `adopt`.
/// Normalising is idempotent and never changes when a schedule fires.
pub fn normalize(entry: &Value) -> Value {
    let mut out = serde_json::Map::new();
    let get = |k: &str| entry.get(k);
    put(
        &mut out,
        "action",
        canonical_word(get("action"), &["Start", "Stop"]),
    );
    put(
        &mut out,
        "status",
        canonical_word(get("status"), &["Enabled", "Disabled"]).or(Some(Value::from("Enabled"))),
    );
    let kind = canonical_word(get("triggerType"), &["Cron", "Recurrence"]).or_else(|| {
        match (
            get("cron").filter(|v| !v.is_null()),
            get("recurrence").filter(|v| !v.is_null()),
        ) {
            (Some(_), None) => Some(Value::from("Cron")),
            (None, Some(_)) => Some(Value::from("Recurrence")),
            _ => None,
        }
    });
    let kind_str = kind
        .as_ref()
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    put(&mut out, "triggerType", kind);
    let common = |body: &Value, obj: &mut serde_json::Map<String, Value>| {
        put(obj, "startTime", body.get("startTime").cloned());
        put(obj, "timeZone", body.get("timeZone").cloned());
    };
    if kind_str == "Cron" {
        if let Some(body) = get("cron") {
            let mut c = serde_json::Map::new();
            put(&mut c, "expression", body.get("expression").cloned());
            common(body, &mut c);
            out.insert("cron".into(), Value::Object(c));
        }
    } else if kind_str == "Recurrence" {
        if let Some(body) = get("recurrence") {
            let mut r = serde_json::Map::new();
            put(
                &mut r,
                "frequency",
                canonical_word(
                    body.get("frequency"),
                    &["Minute", "Hour", "Day", "Week", "Month"],
                ),
            );
            put(&mut r, "interval", body.get("interval").cloned());
            common(body, &mut r);
            if let Some(s) = body.get("schedule").filter(|v| v.is_object()) {
                let mut sc = serde_json::Map::new();
                for key in ["hours", "minutes", "monthDays"] {
                    put(&mut sc, key, s.get(key).cloned());
                }
                let days = s.get("weekDays").and_then(Value::as_array).map(|days| {
                    Value::Array(
                        days.iter()
                            .map(|d| {
                                canonical_word(
                                    Some(d),
                                    &[
                                        "Monday",
                                        "Tuesday",
                                        "Wednesday",
                                        "Thursday",
                                        "Friday",
                                        "Saturday",
                                        "Sunday",
                                    ],
                                )
                                .unwrap_or_else(|| d.clone())
                            })
                            .collect(),
                    )
                });
                put(&mut sc, "weekDays", days);
                r.insert("schedule".into(), Value::Object(sc));
            }
            out.insert("recurrence".into(), Value::Object(r));
        }
    }
    Value::Object(out)
}
