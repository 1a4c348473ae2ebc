//! Holiday and exception calendars (docs/calendars.md): named sets of local days and periods,
//! assigned to a scope with an effect, applied to planned occurrences.
//!
//! A calendar is made of dates, inclusive date ranges, yearly dates (29 February counts only in
//! leap years), timed periods, and events imported from iCalendar text ([`ics`]). A day is a
//! *local* day: in the calendar's own zone when it names one, else in the zone of the schedule
//! that fires (the instance's local day), so a day can be 23, 23.5, 25 h long, or start at
//! 00:00 +13:45. Nothing here reads a clock or a file: the shell parses and passes calendars in.
//!
//! Effects ([`Effect`]): `skip-start` and `skip-stop` only ever *remove* firings from the plain
//! plan; `off` removes the day's starts and adds one Stop, sourced `calendar:<name>`, at the
//! start of each off day ([`off_stops`]).
//!
//! # Layout
//! - this module: the model ([`HolidayCalendar`], [`Assignment`], [`Scope`], [`Effect`]), JSON
//!   calendars, and the verdict every caller uses ([`Applied::verdict`]).
//! - [`exception`]: one-off exceptions (keep running until T, off for some days) written into a set.
//! - [`ics`]: iCalendar import (the `icalendar` parser and the `rrule` expander).

pub mod exception;
pub mod ics;
#[cfg(test)]
mod tests;

use crate::dst;
use crate::inventory::Instance;
use crate::schedule::Action;
use crate::tz::{self, Zone};
use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a calendar does on its days (docs/calendars.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// Starts on its days do not fire: stay off on holidays (the default).
    SkipStart,
    /// Stops on its days do not fire: keep running through a deadline week.
    SkipStop,
    /// Starts on its days do not fire, and the instance is stopped at each day's start.
    Off,
}

impl std::fmt::Display for Effect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Effect::SkipStart => "skip-start",
            Effect::SkipStop => "skip-stop",
            Effect::Off => "off",
        })
    }
}

impl std::str::FromStr for Effect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "skip-start" => Ok(Effect::SkipStart),
            "skip-stop" => Ok(Effect::SkipStop),
            "off" => Ok(Effect::Off),
            other => Err(format!(
                "unknown effect {other:?} (expected skip-start, skip-stop or off)"
            )),
        }
    }
}

/// Which instances an assignment reaches. Names compare case-insensitively (ARM does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Scope {
    /// Every instance.
    Tenant,
    /// Instances whose ARM id is in this subscription (id).
    Subscription(String),
    /// Instances whose ARM id is in this resource group (name).
    ResourceGroup(String),
    /// Instances of this workspace (name).
    Workspace(String),
    /// Instances carrying this tag, `key=value` (key case-insensitive, value exact).
    Tag(String),
    /// One instance, by name or ARM id.
    Instance(String),
}

impl Scope {
    /// Whether `instance` is in this scope.
    pub fn contains<E>(&self, instance: &Instance<E>) -> bool {
        let id = instance.id.as_deref().unwrap_or("");
        let segment = |key: &str| arm_segment(id, key);
        let eq = |a: &str, b: Option<&str>| b.is_some_and(|b| a.eq_ignore_ascii_case(b));
        match self {
            Scope::Tenant => true,
            Scope::Subscription(s) => eq(s, segment("subscriptions")),
            Scope::ResourceGroup(g) => eq(g, segment("resourcegroups")),
            Scope::Workspace(w) => eq(w, segment("workspaces")),
            Scope::Tag(kv) => {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                instance
                    .tags
                    .iter()
                    .any(|(tk, tv)| tk.eq_ignore_ascii_case(k.trim()) && tv == v.trim())
            }
            Scope::Instance(n) => {
                n.eq_ignore_ascii_case(&instance.name)
                    || (!id.is_empty() && n.eq_ignore_ascii_case(id))
            }
        }
    }
}

/// The ARM id segment after `key` (`subscriptions`, `resourcegroups`, `workspaces`).
fn arm_segment<'a>(id: &'a str, key: &str) -> Option<&'a str> {
    let mut parts = id.split('/');
    while let Some(p) = parts.next() {
        if p.eq_ignore_ascii_case(key) {
            return parts.next().filter(|s| !s.is_empty());
        }
    }
    None
}

/// A calendar put to work: which calendar, where, with what effect, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    /// The calendar's name.
    pub calendar: String,
    /// Which instances.
    pub scope: Scope,
    /// What it does on its days.
    pub effect: Effect,
    /// After this instant the assignment is over (a one-off exception's expiry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

/// A problem with one calendar, naming it and the field (all of them are reported together).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("calendar {calendar:?}: {field}: {message}")]
pub struct CalendarProblem {
    /// The calendar's name (or where it came from, when it has no name yet).
    pub calendar: String,
    /// The field or iCalendar event concerned.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl CalendarProblem {
    pub(crate) fn new(
        calendar: &str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        CalendarProblem {
            calendar: calendar.to_string(),
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A recurring all-day event: an RRULE set anchored at midnight UTC of its dates (so
/// expansion is on dates, never shifted by a zone), and how many days each occurrence covers.
#[derive(Debug, Clone)]
pub(crate) struct DateRule {
    pub(crate) set: rrule::RRuleSet,
    pub(crate) days: u64,
}

/// A recurring timed event: expanded on the local clock of `zone` (or floating), each
/// occurrence lasting `seconds`.
#[derive(Debug, Clone)]
pub(crate) struct TimedRule {
    pub(crate) set: rrule::RRuleSet,
    pub(crate) zone: Option<Zone>,
    pub(crate) seconds: i64,
}

/// A timed period: `[from, to)` as instants, or as floating local times (read in the
/// calendar's zone, else the schedule's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Period {
    Instants(i64, i64),
    Floating(NaiveDateTime, NaiveDateTime),
}

/// A named calendar, checked; resolve it over a window with [`HolidayCalendar::window`].
#[derive(Debug, Clone)]
pub struct HolidayCalendar {
    /// Its name (`suppressedBy: calendar:<name>`).
    pub name: String,
    /// The zone its days are in, as written; `None`: the firing schedule's zone.
    pub time_zone: Option<String>,
    pub(crate) zone: Option<Zone>,
    pub(crate) ranges: Vec<(NaiveDate, NaiveDate)>,
    pub(crate) yearly: Vec<(u32, u32)>,
    pub(crate) rules: Vec<DateRule>,
    pub(crate) periods: Vec<Period>,
    pub(crate) timed_rules: Vec<TimedRule>,
}

/// The JSON form of a calendar (docs/calendars.md).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CalendarJson {
    name: Option<String>,
    time_zone: Option<String>,
    #[serde(default)]
    dates: Vec<Value>,
    #[serde(default)]
    yearly: Vec<String>,
    #[serde(default)]
    periods: Vec<PeriodJson>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodJson {
    from: String,
    to: String,
}

impl HolidayCalendar {
    /// An empty calendar named `name` in `time_zone` (IANA or Windows name; `None`: the firing
    /// schedule's zone).
    pub fn new(name: &str, time_zone: Option<&str>) -> Result<Self, CalendarProblem> {
        let zone = match time_zone {
            Some(z) => Some(tz::resolve(z).ok_or_else(|| {
                CalendarProblem::new(name, "timeZone", format!("unknown time zone {z:?}"))
            })?),
            None => None,
        };
        Ok(HolidayCalendar {
            name: name.to_string(),
            time_zone: time_zone.map(str::to_string),
            zone,
            ranges: Vec::new(),
            yearly: Vec::new(),
            rules: Vec::new(),
            periods: Vec::new(),
            timed_rules: Vec::new(),
        })
    }

    /// Adds the local days `first..=last`.
    pub fn add_range(&mut self, first: NaiveDate, last: NaiveDate) {
        self.ranges.push((first.min(last), first.max(last)));
    }

    /// Adds a yearly date (month, day); 29 February counts in leap years only.
    pub fn add_yearly(&mut self, month: u32, day: u32) -> Result<(), String> {
        if NaiveDate::from_ymd_opt(2024, month, day).is_none() {
            return Err(format!("{month:02}-{day:02} is no day of any year"));
        }
        self.yearly.push((month, day));
        Ok(())
    }

    /// Adds the timed period `[from, to)`.
    pub fn add_period(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) {
        self.periods
            .push(Period::Instants(from.timestamp(), to.timestamp()));
    }

    /// Reads a JSON calendar (`{"name", "timeZone", "dates", "yearly", "periods"}`); `default_name`
    /// names it when it has no `name` (the file's stem). Every problem is returned together.
    pub fn from_json(text: &str, default_name: &str) -> Result<Self, Vec<CalendarProblem>> {
        let raw: CalendarJson = serde_json::from_str(text)
            .map_err(|e| vec![CalendarProblem::new(default_name, "(json)", e.to_string())])?;
        let name = raw.name.as_deref().unwrap_or(default_name).to_string();
        let mut problems = Vec::new();
        let mut cal = match HolidayCalendar::new(&name, raw.time_zone.as_deref()) {
            Ok(c) => c,
            Err(p) => {
                problems.push(p);
                HolidayCalendar::new(&name, None).map_err(|p| vec![p])?
            }
        };
        for (i, d) in raw.dates.iter().enumerate() {
            let field = format!("dates[{i}]");
            match parse_date_item(d) {
                Ok((a, b)) => cal.add_range(a, b),
                Err(m) => problems.push(CalendarProblem::new(&name, field, m)),
            }
        }
        for (i, y) in raw.yearly.iter().enumerate() {
            let field = format!("yearly[{i}]");
            let parsed = parse_month_day(y).and_then(|(m, d)| cal.add_yearly(m, d));
            if let Err(m) = parsed {
                problems.push(CalendarProblem::new(&name, field, m));
            }
        }
        for (i, p) in raw.periods.iter().enumerate() {
            let field = format!("periods[{i}]");
            match parse_period(&p.from, &p.to) {
                Ok(period) => cal.periods.push(period),
                Err(m) => problems.push(CalendarProblem::new(&name, field, m)),
            }
        }
        if problems.is_empty() {
            Ok(cal)
        } else {
            Err(problems)
        }
    }

    /// Whether the calendar has no day and no period at all.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
            && self.yearly.is_empty()
            && self.rules.is_empty()
            && self.periods.is_empty()
            && self.timed_rules.is_empty()
    }

    /// The calendar's days and periods that can touch `[from, to)`: yearly dates and
    /// recurrences expanded, ranges merged, ready for fast lookups.
    pub fn window(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> CalendarWindow {
        // Local days of any zone (offsets −12 h … +14 h) that overlap the window.
        let first = from.date_naive() - Days::new(2);
        let last = to.date_naive() + Days::new(2);
        let mut ranges: Vec<(NaiveDate, NaiveDate)> = self
            .ranges
            .iter()
            .copied()
            .filter(|(a, b)| *b >= first && *a <= last)
            .collect();
        for year in first.year()..=last.year() {
            for &(m, d) in &self.yearly {
                if let Some(day) = NaiveDate::from_ymd_opt(year, m, d) {
                    if day >= first && day <= last {
                        ranges.push((day, day));
                    }
                }
            }
        }
        for r in &self.rules {
            let lo = first - Days::new(r.days);
            for start in expand(
                &r.set,
                lo.and_time(chrono::NaiveTime::MIN),
                last.and_time(chrono::NaiveTime::MIN),
            ) {
                let day = start.date();
                ranges.push((day, day + Days::new(r.days.saturating_sub(1))));
            }
        }
        let mut periods: Vec<Period> = self
            .periods
            .iter()
            .copied()
            .filter(|p| match *p {
                Period::Instants(a, b) => {
                    b > from.timestamp() - 86_400 && a < to.timestamp() + 86_400
                }
                Period::Floating(a, b) => b.date() >= first && a.date() <= last,
            })
            .collect();
        for r in &self.timed_rules {
            let lo = first.and_time(chrono::NaiveTime::MIN) - chrono::Duration::seconds(r.seconds);
            for start in expand(&r.set, lo, last.and_time(chrono::NaiveTime::MIN)) {
                let end = start + chrono::Duration::seconds(r.seconds);
                periods.push(match &r.zone {
                    Some(z) => Period::Instants(
                        dst::to_instant(z, start).0.timestamp(),
                        dst::to_instant(z, end).0.timestamp(),
                    ),
                    None => Period::Floating(start, end),
                });
            }
        }
        ranges.sort_unstable();
        let mut merged: Vec<(NaiveDate, NaiveDate)> = Vec::with_capacity(ranges.len());
        for (a, b) in ranges {
            match merged.last_mut() {
                Some(last) if a <= last.1 + Days::new(1) => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        CalendarWindow {
            name: self.name.clone(),
            zone: self.zone.clone(),
            ranges: merged,
            periods,
        }
    }
}

/// The starts (as naive date-times, the set being anchored in UTC) of `set` in `[lo, hi]`.
fn expand(set: &rrule::RRuleSet, lo: NaiveDateTime, hi: NaiveDateTime) -> Vec<NaiveDateTime> {
    use chrono::TimeZone;
    let tz = rrule::Tz::UTC;
    let (Some(lo), Some(hi)) = (
        tz.from_local_datetime(&(lo - chrono::Duration::seconds(1)))
            .single(),
        tz.from_local_datetime(&(hi + chrono::Duration::seconds(1)))
            .single(),
    ) else {
        return Vec::new();
    };
    set.clone()
        .after(lo)
        .before(hi)
        .all(u16::MAX)
        .dates
        .into_iter()
        .map(|d| d.naive_utc())
        .collect()
}

/// `"2026-12-25"`, `"2026-12-24..2027-01-02"` or `{"from": …, "to": …}` (inclusive).
fn parse_date_item(v: &Value) -> Result<(NaiveDate, NaiveDate), String> {
    let day = |s: &str| {
        NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map_err(|_| format!("{s:?} is not a date (YYYY-MM-DD)"))
    };
    let pair = |a: &str, b: &str| -> Result<(NaiveDate, NaiveDate), String> {
        let (a, b) = (day(a)?, day(b)?);
        if b < a {
            return Err(format!("range ends ({b}) before it starts ({a})"));
        }
        Ok((a, b))
    };
    match v {
        Value::String(s) => match s.split_once("..") {
            Some((a, b)) => pair(a, b),
            None => day(s).map(|d| (d, d)),
        },
        Value::Object(o) => match (
            o.get("from").and_then(Value::as_str),
            o.get("to").and_then(Value::as_str),
        ) {
            (Some(a), Some(b)) => pair(a, b),
            _ => Err("a range needs \"from\" and \"to\" dates (inclusive)".into()),
        },
        _ => Err("expected a date, \"A..B\", or {\"from\", \"to\"}".into()),
    }
}

/// `"12-25"` or `"--12-25"` → (12, 25).
fn parse_month_day(s: &str) -> Result<(u32, u32), String> {
    let t = s.trim().trim_start_matches("--");
    let bad = || format!("{s:?} is not a yearly date (MM-DD)");
    let (m, d) = t.split_once('-').ok_or_else(bad)?;
    Ok((m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?))
}

/// A period: RFC 3339 instants (`Z` or an offset), or floating `YYYY-MM-DDTHH:MM[:SS]` both.
fn parse_period(from: &str, to: &str) -> Result<Period, String> {
    let instant = |s: &str| {
        DateTime::parse_from_rfc3339(s.trim())
            .ok()
            .map(|d| d.timestamp())
    };
    let floating = |s: &str| {
        let s = s.trim();
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
            .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
            .ok()
    };
    let p = match (instant(from), instant(to)) {
        (Some(a), Some(b)) => Period::Instants(a, b),
        _ => match (floating(from), floating(to)) {
            (Some(a), Some(b)) => Period::Floating(a, b),
            _ => {
                return Err(format!(
                    "{from:?}..{to:?}: both ends must be RFC 3339 instants, or both local times YYYY-MM-DDTHH:MM"
                ))
            }
        },
    };
    let ordered = match p {
        Period::Instants(a, b) => a < b,
        Period::Floating(a, b) => a < b,
    };
    if ordered {
        Ok(p)
    } else {
        Err(format!(
            "period ends ({to}) before or when it starts ({from})"
        ))
    }
}

/// A calendar resolved over a window: merged local-day ranges and periods.
#[derive(Debug, Clone)]
pub struct CalendarWindow {
    /// The calendar's name.
    pub name: String,
    zone: Option<Zone>,
    ranges: Vec<(NaiveDate, NaiveDate)>,
    periods: Vec<Period>,
}

impl CalendarWindow {
    /// Whether the calendar covers the instant `at`, local days read in its own zone, else
    /// in `schedule_zone` (the zone of the schedule that fires).
    pub fn covers(&self, at: DateTime<Utc>, schedule_zone: &Zone) -> bool {
        self.covers_at(at, schedule_zone, &std::cell::OnceCell::new())
    }

    /// [`CalendarWindow::covers`] with the wall time in `schedule_zone` computed at most once
    /// for all the calendars asked about one firing.
    fn covers_at(
        &self,
        at: DateTime<Utc>,
        schedule_zone: &Zone,
        schedule_wall: &std::cell::OnceCell<NaiveDateTime>,
    ) -> bool {
        let wall = || match &self.zone {
            Some(z) => dst::wall(z, at),
            None => *schedule_wall.get_or_init(|| dst::wall(schedule_zone, at)),
        };
        if !self.ranges.is_empty() {
            let day = wall().date();
            let i = self.ranges.partition_point(|(_, b)| *b < day);
            if self.ranges.get(i).is_some_and(|(a, _)| *a <= day) {
                return true;
            }
        }
        let t = at.timestamp();
        self.periods.iter().any(|p| match *p {
            Period::Instants(a, b) => a <= t && t < b,
            Period::Floating(a, b) => {
                let w = wall();
                a <= w && w < b
            }
        })
    }

    /// The first instant of each local day of this calendar (in its zone, else `zone`) in
    /// `[from, to)`, and each period's start: where an `off` calendar stops the instance.
    pub fn day_starts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        zone: &Zone,
    ) -> Vec<DateTime<Utc>> {
        let zone = self.zone.as_ref().unwrap_or(zone);
        let mut out = Vec::new();
        for &(a, b) in &self.ranges {
            let mut d = a;
            while d <= b {
                let (at, _) = dst::to_instant(zone, d.and_time(chrono::NaiveTime::MIN));
                if at >= to {
                    break;
                }
                if at >= from {
                    out.push(at);
                }
                d = d + Days::new(1);
            }
        }
        for p in &self.periods {
            let at = match *p {
                Period::Instants(a, _) => DateTime::from_timestamp(a, 0).unwrap_or_default(),
                Period::Floating(a, _) => dst::to_instant(zone, a).0,
            };
            if at >= from && at < to {
                out.push(at);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// One calendar in force for one instance, with its effect; built by [`applied_for`].
#[derive(Debug, Clone, Copy)]
pub struct Applied<'c> {
    /// The resolved calendar.
    pub calendar: &'c CalendarWindow,
    /// Its index in the windows it was taken from (plan rows name calendars by it).
    pub slot: usize,
    /// What it does.
    pub effect: Effect,
    /// The assignment's expiry: it suppresses nothing at or after this instant.
    pub until: Option<DateTime<Utc>>,
}

impl Applied<'_> {
    /// Whether this calendar suppresses an `action` firing at `at` of a schedule in `zone`.
    pub fn suppresses(&self, action: Action, at: DateTime<Utc>, zone: &Zone) -> bool {
        self.suppresses_at(action, at, zone, &std::cell::OnceCell::new())
    }

    fn suppresses_at(
        &self,
        action: Action,
        at: DateTime<Utc>,
        zone: &Zone,
        wall: &std::cell::OnceCell<NaiveDateTime>,
    ) -> bool {
        let reaches = matches!(
            (self.effect, action),
            (Effect::SkipStart | Effect::Off, Action::Start) | (Effect::SkipStop, Action::Stop)
        );
        reaches && self.until.is_none_or(|u| at < u) && self.calendar.covers_at(at, zone, wall)
    }

    /// The first of `applied` that suppresses an `action` firing at `at` of a schedule in
    /// `zone` (the wall time is computed once for all of them).
    pub fn first_suppressing<'a, 'c>(
        applied: &'a [Applied<'c>],
        action: Action,
        at: DateTime<Utc>,
        zone: &Zone,
    ) -> Option<&'a Applied<'c>> {
        let wall = std::cell::OnceCell::new();
        applied
            .iter()
            .find(|a| a.suppresses_at(action, at, zone, &wall))
    }

    /// The first calendar of `applied` that suppresses the firing: what `suppressedBy` names.
    /// Plan, tick, explain and notices all ask this one question.
    pub fn verdict<'a>(
        applied: &'a [Applied<'_>],
        action: Action,
        at: DateTime<Utc>,
        zone: &Zone,
    ) -> Option<&'a str> {
        Applied::first_suppressing(applied, action, at, zone).map(|a| a.calendar.name.as_str())
    }
}

/// The Stops that the `off` calendars of `applied` add in `[from, to)`: one at the start of
/// each off day (in the calendar's zone, else `instance_zone`) and at the start of each off
/// period, with the calendar's [`Applied::slot`]; a `skip-stop` calendar covering that
/// instant removes it (keep running wins over a calendar's own stop, as over a schedule's).
pub fn off_stops(
    applied: &[Applied<'_>],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    instance_zone: &Zone,
) -> Vec<(DateTime<Utc>, usize)> {
    let mut out: Vec<(DateTime<Utc>, usize)> = Vec::new();
    for a in applied.iter().filter(|a| a.effect == Effect::Off) {
        for at in a.calendar.day_starts(from, to, instance_zone) {
            if a.until.is_some_and(|u| at >= u) {
                continue;
            }
            if Applied::verdict(applied, Action::Stop, at, instance_zone).is_some() {
                continue;
            }
            if !out.iter().any(|(t, _)| *t == at) {
                out.push((at, a.slot));
            }
        }
    }
    out.sort_by_key(|(t, _)| *t);
    out
}

/// The calendars in force for `instance`: each assignment whose scope contains it and whose
/// calendar is in `windows` (by name), in assignment order (the first that suppresses is named).
pub fn applied_for<'c, E>(
    instance: &Instance<E>,
    assignments: &[Assignment],
    windows: &'c [CalendarWindow],
) -> Vec<Applied<'c>> {
    assignments
        .iter()
        .filter(|a| a.scope.contains(instance))
        .filter_map(|a| {
            let slot = windows.iter().position(|w| w.name == a.calendar)?;
            Some(Applied {
                calendar: &windows[slot],
                slot,
                effect: a.effect,
                until: a.until,
            })
        })
        .collect()
}

/// The zone an instance's own days are in when a calendar names none, for `off` stops: the
/// zone of its first enabled Stop schedule, else of its first enabled schedule, else of its
/// first schedule, else UTC.
pub fn instance_zone(schedules: &[&crate::Schedule]) -> Zone {
    let pick = |f: &dyn Fn(&crate::Schedule) -> bool| {
        schedules.iter().find(|s| f(s)).map(|s| s.zone.clone())
    };
    pick(&|s| s.enabled && s.action == Action::Stop)
        .or_else(|| pick(&|s| s.enabled))
        .or_else(|| pick(&|_| true))
        .unwrap_or_else(Zone::utc)
}

/// Checks a set of calendars and assignments together: duplicate names, assignments naming
/// no calendar, and each calendar's own problems, all returned at once.
pub fn check_assignments(
    calendars: &[HolidayCalendar],
    assignments: &[Assignment],
) -> Vec<CalendarProblem> {
    let mut out = Vec::new();
    for (i, c) in calendars.iter().enumerate() {
        if calendars[..i].iter().any(|d| d.name == c.name) {
            out.push(CalendarProblem::new(
                &c.name,
                "name",
                "two calendars have this name",
            ));
        }
    }
    for (i, a) in assignments.iter().enumerate() {
        if !calendars.iter().any(|c| c.name == a.calendar) {
            out.push(CalendarProblem::new(
                &a.calendar,
                format!("assignments[{i}].calendar"),
                "no calendar has this name",
            ));
        }
        if let Scope::Tag(kv) = &a.scope {
            if !kv.contains('=') {
                out.push(CalendarProblem::new(
                    &a.calendar,
                    format!("assignments[{i}].scope.tag"),
                    format!("{kv:?} is not key=value"),
                ));
            }
        }
    }
    out
}

/// Calendars with their assignments: what the `CURFEW_CALENDARS` setting and `curfew plan
/// --calendar` hold (docs/calendars.md). Calendars are configuration, not state.
#[derive(Debug, Clone, Default)]
pub struct CalendarSet {
    /// The calendars, by unique name.
    pub calendars: Vec<HolidayCalendar>,
    /// Where each applies and how.
    pub assignments: Vec<Assignment>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetJson {
    calendars: Vec<Value>,
    #[serde(default)]
    assignments: Option<Vec<Value>>,
}

impl CalendarSet {
    /// Whether nothing is configured (then the plan and the tick take the plain path).
    pub fn is_empty(&self) -> bool {
        self.calendars.is_empty()
    }

    /// A calendar given with nothing else said: a holiday calendar (`skip-start`) for every
    /// instance, on each instance's local days.
    pub fn holiday(calendar: HolidayCalendar) -> Self {
        CalendarSet {
            assignments: vec![Assignment {
                calendar: calendar.name.clone(),
                scope: Scope::Tenant,
                effect: Effect::SkipStart,
                until: None,
            }],
            calendars: vec![calendar],
        }
    }

    /// Adds `other`'s calendars and assignments.
    pub fn extend(&mut self, other: CalendarSet) {
        self.calendars.extend(other.calendars);
        self.assignments.extend(other.assignments);
    }

    /// Reads one calendar file's text: `.ics` (iCalendar), a JSON calendar, or a JSON set
    /// `{"calendars": […], "assignments": […]}`. A lone calendar is a holiday calendar for
    /// every instance ([`CalendarSet::holiday`]). `read` fetches the `.ics` files a set names
    /// (the shell's I/O). Every problem is returned together.
    pub fn from_file_text(
        path: &str,
        text: &str,
        read: &dyn Fn(&str) -> Result<String, String>,
    ) -> Result<Self, Vec<CalendarProblem>> {
        let stem = std::path::Path::new(path)
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|s| !s.is_empty() && *s != "-")
            .unwrap_or("calendar");
        let trimmed = text.trim_start();
        if path.to_ascii_lowercase().ends_with(".ics") || trimmed.starts_with("BEGIN:") {
            return ics::parse(text, stem, None).map(CalendarSet::holiday);
        }
        let value: Value = serde_json::from_str(text)
            .map_err(|e| vec![CalendarProblem::new(stem, "(json)", e.to_string())])?;
        if value.get("calendars").is_some() {
            CalendarSet::parse_value(&value, stem, read)
        } else {
            HolidayCalendar::from_json(text, stem).map(CalendarSet::holiday)
        }
    }

    /// Reads a set (`{"calendars", "assignments"}`); `origin` names it in problems. Without
    /// `assignments`, each calendar is a tenant-wide `skip-start` holiday calendar.
    pub fn parse_value(
        value: &Value,
        origin: &str,
        read: &dyn Fn(&str) -> Result<String, String>,
    ) -> Result<Self, Vec<CalendarProblem>> {
        let raw: SetJson = serde_json::from_value(value.clone())
            .map_err(|e| vec![CalendarProblem::new(origin, "(json)", e.to_string())])?;
        let mut problems = Vec::new();
        let mut set = CalendarSet::default();
        for (i, c) in raw.calendars.iter().enumerate() {
            let default_name = format!("{origin}[{i}]");
            match calendar_entry(c, &default_name, read) {
                Ok(cal) => set.calendars.push(cal),
                Err(p) => problems.extend(p),
            }
        }
        match raw.assignments {
            None => {
                for c in &set.calendars {
                    set.assignments.push(Assignment {
                        calendar: c.name.clone(),
                        scope: Scope::Tenant,
                        effect: Effect::SkipStart,
                        until: None,
                    });
                }
            }
            Some(list) => {
                for (i, a) in list.into_iter().enumerate() {
                    let who = a
                        .get("calendar")
                        .and_then(Value::as_str)
                        .unwrap_or(origin)
                        .to_string();
                    match serde_json::from_value::<Assignment>(a) {
                        Ok(a) => set.assignments.push(a),
                        Err(e) => problems.push(CalendarProblem::new(
                            &who,
                            format!("assignments[{i}]"),
                            e.to_string(),
                        )),
                    }
                }
            }
        }
        problems.extend(check_assignments(&set.calendars, &set.assignments));
        if problems.is_empty() {
            Ok(set)
        } else {
            Err(problems)
        }
    }
}

/// One entry of a set's `calendars`: a JSON calendar, or `{"name", "timeZone", "ics": file}`
/// / `{"name", "timeZone", "icsText": text}`.
fn calendar_entry(
    c: &Value,
    default_name: &str,
    read: &dyn Fn(&str) -> Result<String, String>,
) -> Result<HolidayCalendar, Vec<CalendarProblem>> {
    let name = c
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or(default_name)
        .to_string();
    let zone = c.get("timeZone").and_then(Value::as_str);
    let ics_text = match (c.get("ics"), c.get("icsText")) {
        (Some(Value::String(path)), None) => {
            Some(read(path).map_err(|e| vec![CalendarProblem::new(&name, "ics", e)])?)
        }
        (None, Some(Value::String(t))) => Some(t.clone()),
        (None, None) => None,
        _ => {
            return Err(vec![CalendarProblem::new(
                &name,
                "ics",
                "give either \"ics\" (a file) or \"icsText\" (its text), as a string",
            )])
        }
    };
    match ics_text {
        Some(t) => {
            if let Some(k) = c.as_object().and_then(|o| {
                o.keys()
                    .find(|k| !["name", "timeZone", "ics", "icsText"].contains(&k.as_str()))
            }) {
                return Err(vec![CalendarProblem::new(
                    &name,
                    k.clone(),
                    "unknown field beside an iCalendar import",
                )]);
            }
            ics::parse(&t, &name, zone)
        }
        None => HolidayCalendar::from_json(&c.to_string(), &name),
    }
}

/// A calendar in force for one instance, owned (the tick's [`crate::governor::InstanceView`]
/// carries these): the resolved window, shared between instances, its effect and expiry.
#[derive(Debug, Clone)]
pub struct Assigned {
    /// The calendar resolved over the tick's window.
    pub window: std::sync::Arc<CalendarWindow>,
    /// What it does.
    pub effect: Effect,
    /// The assignment's expiry.
    pub until: Option<DateTime<Utc>>,
}

impl Assigned {
    /// The calendars of `set` in force for `instance`, with `windows` (index-aligned with
    /// `set.calendars`, resolved once per tick) shared.
    pub fn for_instance<E>(
        set: &CalendarSet,
        windows: &[std::sync::Arc<CalendarWindow>],
        instance: &Instance<E>,
    ) -> Vec<Assigned> {
        set.assignments
            .iter()
            .filter(|a| a.scope.contains(instance))
            .filter_map(|a| {
                let i = set.calendars.iter().position(|c| c.name == a.calendar)?;
                Some(Assigned {
                    window: windows.get(i)?.clone(),
                    effect: a.effect,
                    until: a.until,
                })
            })
            .collect()
    }

    /// The borrowed views every verdict takes ([`Applied::verdict`], [`off_stops`]); each
    /// one's `slot` is its index in `list`.
    pub fn applied(list: &[Assigned]) -> Vec<Applied<'_>> {
        list.iter()
            .enumerate()
            .map(|(slot, a)| Applied {
                calendar: &a.window,
                slot,
                effect: a.effect,
                until: a.until,
            })
            .collect()
    }
}
