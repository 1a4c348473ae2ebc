//! iCalendar (RFC 5545) import: the `VEVENT`s of an `.ics` text (a holiday feed exported from
//! Outlook or Google) become a [`HolidayCalendar`]'s days and periods.
//!
//! Parsing is the `icalendar` crate's (line unfolding, parameters, `VALUE=DATE`); recurrences
//! are the `rrule` crate's, anchored at midnight UTC of the event's dates (or at its local
//! start, read as UTC) so that expansion is on the local calendar and never shifted by a zone.
//! What is read (docs/calendars.md):
//! - all-day events (`DTSTART;VALUE=DATE`): the days `DTSTART ..< DTEND` (`DTEND` is
//!   exclusive; without it, one day), so multi-day events cover every day;
//! - timed events cover `[DTSTART, DTEND)` only, not whole days: a firing in that span is
//!   suppressed, one outside it is not (`Z` times are instants, `TZID` names an IANA or
//!   Windows zone, floating times are read in the calendar's zone, else the schedule's);
//! - `RRULE` (any `FREQ`, with `COUNT`, `UNTIL`, `INTERVAL`, `BY…`), `EXDATE` and `RDATE`;
//! - `STATUS:CANCELLED` events are left out.
//!
//! Not read: `DURATION` (a timed event without `DTEND` covers nothing; an all-day one covers
//! its day), `VTIMEZONE` definitions (a `TZID` must be a zone name this build knows),
//! `RECURRENCE-ID` overrides (read as one more event; the base occurrence stays unless an
//! `EXDATE` removes it), `EXRULE`.

use super::{CalendarProblem, DateRule, HolidayCalendar, Period, TimedRule};
use crate::dst;
use crate::tz::{self, Zone};
use chrono::{NaiveDate, NaiveDateTime, TimeZone};
use icalendar::{CalendarDateTime, Component, DatePerhapsTime};

/// Reads `text` as an iCalendar file into a calendar named `name` in `time_zone` (see
/// [`HolidayCalendar::new`]). Every problem is returned together, each naming its event.
pub fn parse(
    text: &str,
    name: &str,
    time_zone: Option<&str>,
) -> Result<HolidayCalendar, Vec<CalendarProblem>> {
    let mut cal = HolidayCalendar::new(name, time_zone).map_err(|p| vec![p])?;
    let parsed: icalendar::Calendar = text
        .parse()
        .map_err(|e: String| vec![CalendarProblem::new(name, "(ics)", first_line(&e))])?;
    let mut problems = Vec::new();
    let mut events = 0usize;
    for (i, event) in parsed.events().enumerate() {
        events += 1;
        let label = match (event.get_summary(), event.get_uid()) {
            (Some(s), _) => format!("VEVENT {i} ({s})"),
            (None, Some(u)) => format!("VEVENT {i} (UID {u})"),
            (None, None) => format!("VEVENT {i}"),
        };
        if event
            .property_value("STATUS")
            .is_some_and(|s| s.eq_ignore_ascii_case("CANCELLED"))
        {
            continue;
        }
        if let Err(m) = add_event(&mut cal, event) {
            problems.push(CalendarProblem::new(name, label, m));
        }
    }
    if events == 0 && problems.is_empty() && !text.to_ascii_uppercase().contains("BEGIN:VCALENDAR")
    {
        problems.push(CalendarProblem::new(
            name,
            "(ics)",
            "no BEGIN:VCALENDAR: not an iCalendar file",
        ));
    }
    if problems.is_empty() {
        Ok(cal)
    } else {
        Err(problems)
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .next()
        .unwrap_or("unreadable iCalendar text")
        .chars()
        .take(200)
        .collect()
}

/// Where a timed value lives: an instant, a local time in a zone, or floating.
enum Timed {
    Utc(NaiveDateTime),
    Zoned(NaiveDateTime, Zone),
    Floating(NaiveDateTime),
}

fn timed(v: &CalendarDateTime) -> Result<Timed, String> {
    Ok(match v {
        CalendarDateTime::Utc(t) => Timed::Utc(t.naive_utc()),
        CalendarDateTime::Floating(t) => Timed::Floating(*t),
        CalendarDateTime::WithTimezone { date_time, tzid } => {
            let z = tz::resolve(tzid.trim_matches('"')).ok_or_else(|| {
                format!("unknown TZID {tzid:?} (an IANA or Windows zone name is needed)")
            })?;
            Timed::Zoned(*date_time, z)
        }
    })
}

fn add_event(cal: &mut HolidayCalendar, event: &icalendar::Event) -> Result<(), String> {
    let start = event.get_start().ok_or("no readable DTSTART")?;
    let rrule = event.property_value("RRULE");
    let exdates = values(event, "EXDATE");
    let rdates = values(event, "RDATE");
    match start {
        DatePerhapsTime::Date(first) => {
            let days = match event.get_end() {
                Some(end) => {
                    let end = end.date_naive();
                    if end <= first {
                        return Err(format!("DTEND {end} is not after DTSTART {first}"));
                    }
                    (end - first).num_days() as u64
                }
                None => 1,
            };
            if rrule.is_none() && rdates.is_empty() {
                cal.add_range(first, first + chrono::Days::new(days - 1));
                return Ok(());
            }
            let anchor = |d: NaiveDate| d.and_time(chrono::NaiveTime::MIN);
            let set = rule_set(rrule, anchor(first), &exdates, &rdates, |v| {
                parse_date_or_time(v).map(|t| anchor(t.date()))
            })?;
            cal.rules.push(DateRule { set, days });
        }
        DatePerhapsTime::DateTime(s) => {
            let s = timed(&s)?;
            let end = match event.get_end() {
                Some(DatePerhapsTime::DateTime(e)) => Some(timed(&e)?),
                Some(DatePerhapsTime::Date(d)) => {
                    Some(Timed::Floating(d.and_time(chrono::NaiveTime::MIN)))
                }
                None => None,
            };
            let (local_start, zone) = match &s {
                Timed::Utc(t) => (*t, Some(Zone::utc())),
                Timed::Zoned(t, z) => (*t, Some(z.clone())),
                Timed::Floating(t) => (*t, None),
            };
            // The end on the start's clock (an end in another zone is converted).
            let local_end = match (&end, &zone) {
                (None, _) => local_start,
                (Some(Timed::Utc(t)), Some(z)) => dst::wall(z, t.and_utc()),
                (Some(Timed::Zoned(t, ez)), Some(z)) => dst::wall(z, dst::to_instant(ez, *t).0),
                (Some(Timed::Utc(t) | Timed::Zoned(t, _) | Timed::Floating(t)), _) => *t,
            };
            if local_end < local_start {
                return Err("DTEND is before DTSTART".into());
            }
            let seconds = (local_end - local_start).num_seconds();
            if rrule.is_none() && rdates.is_empty() {
                if seconds > 0 {
                    cal.periods.push(match &zone {
                        Some(z) => Period::Instants(
                            dst::to_instant(z, local_start).0.timestamp(),
                            dst::to_instant(z, local_end).0.timestamp(),
                        ),
                        None => Period::Floating(local_start, local_end),
                    });
                }
                return Ok(());
            }
            let z = zone.clone();
            let set = rule_set(rrule, local_start, &exdates, &rdates, move |v| {
                let t = parse_date_or_time(v)?;
                Some(match (&z, v.trim().ends_with('Z')) {
                    (Some(z), true) => dst::wall(z, t.and_utc()),
                    _ => t,
                })
            })?;
            if seconds > 0 {
                cal.timed_rules.push(TimedRule { set, zone, seconds });
            }
        }
    }
    Ok(())
}

/// Every value of a (possibly repeated, comma-separated) property.
fn values(event: &icalendar::Event, key: &str) -> Vec<String> {
    let single = event.properties().get(key).into_iter();
    let multi = event.multi_properties().get(key).into_iter().flatten();
    single
        .chain(multi)
        .flat_map(|p| {
            p.value()
                .split(',')
                .map(|v| v.trim().to_string())
                .collect::<Vec<_>>()
        })
        .filter(|v| !v.is_empty())
        .collect()
}

/// `YYYYMMDD` or `YYYYMMDDTHHMMSS[Z]`, as a naive date-time.
fn parse_date_or_time(v: &str) -> Option<NaiveDateTime> {
    let v = v.trim().trim_end_matches('Z');
    NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S")
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(v, "%Y%m%d")
                .ok()
                .map(|d| d.and_time(chrono::NaiveTime::MIN))
        })
}

/// The RRULE with its `UNTIL` on the anchor's clock (read as UTC, as the set is anchored): a
/// date means the end of that day; a time is converted like the other values.
fn until_on_anchor_clock(rule: &str, convert: &impl Fn(&str) -> Option<NaiveDateTime>) -> String {
    rule.split(';')
        .map(|part| match part.split_once('=') {
            Some((k, v)) if k.trim().eq_ignore_ascii_case("UNTIL") => {
                let v = v.trim();
                let t = if v.len() == 8 {
                    parse_date_or_time(v).map(|d| d + chrono::Duration::seconds(86_399))
                } else {
                    convert(v)
                };
                match t {
                    Some(t) => format!("UNTIL={}", t.format("%Y%m%dT%H%M%SZ")),
                    None => part.to_string(),
                }
            }
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// An `rrule` set from the event's RRULE, anchored at `start` read as UTC, with its
/// exceptions and extra dates (`convert` reads each value onto the same clock).
fn rule_set(
    rrule_text: Option<&str>,
    start: NaiveDateTime,
    exdates: &[String],
    rdates: &[String],
    convert: impl Fn(&str) -> Option<NaiveDateTime>,
) -> Result<rrule::RRuleSet, String> {
    let utc = rrule::Tz::UTC;
    let at = |t: NaiveDateTime| {
        utc.from_local_datetime(&t)
            .single()
            .ok_or_else(|| format!("{t} cannot be anchored"))
    };
    let dtstart = at(start)?;
    let mut set = match rrule_text {
        Some(r) => {
            let rule: rrule::RRule<rrule::Unvalidated> = until_on_anchor_clock(r, &convert)
                .parse()
                .map_err(|e| format!("RRULE {r:?}: {e}"))?;
            rule.build(dtstart)
                .map_err(|e| format!("RRULE {r:?}: {e}"))?
        }
        // Only RDATEs: the start itself, then the extra dates.
        None => rrule::RRuleSet::new(dtstart).rdate(dtstart),
    };
    for v in exdates {
        let t = convert(v).ok_or_else(|| format!("EXDATE {v:?} is not a date or date-time"))?;
        set = set.exdate(at(t)?);
    }
    for v in rdates {
        let t = convert(v).ok_or_else(|| format!("RDATE {v:?} is not a date or date-time"))?;
        set = set.rdate(at(t)?);
    }
    Ok(set)
}
