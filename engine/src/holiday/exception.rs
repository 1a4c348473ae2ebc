//! One-off temporary exceptions through the calendar mechanism (docs/calendars.md): "keep
//! gpu-01 running until Friday 18:00" is an instance-scoped `skip-stop` over a period that
//! ends then, and "off all next week" an instance-scoped `off` date range. Both are written
//! into a calendar set's JSON (`CURFEW_CALENDARS`) with an expiry, and pruned once past it.

use super::{CalendarProblem, CalendarSet, Effect};
use chrono::{DateTime, Days, NaiveDate, SecondsFormat, Utc};
use serde_json::{json, Value};

/// A one-off exception for one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exception {
    /// No stop fires from now until `until` (the instance keeps running).
    KeepRunning {
        /// When the exception ends.
        until: DateTime<Utc>,
    },
    /// The instance is off on the local days `from..=to`: stopped at each day's start, no start.
    Off {
        /// First local day.
        from: NaiveDate,
        /// Last local day (inclusive).
        to: NaiveDate,
    },
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Adds `exception` for `instance` to the calendar set `set` (a JSON value, created when
/// `Null`): one calendar named `exception-<instance>-<n>` and its assignment, which expires
/// when the exception ends. Returns the calendar's name; the set is checked as a whole
/// afterwards, so a bad exception is refused with every problem named.
pub fn add_exception(
    set: &mut Value,
    instance: &str,
    exception: Exception,
    now: DateTime<Utc>,
) -> Result<String, Vec<CalendarProblem>> {
    if set.is_null() {
        *set = json!({"calendars": [], "assignments": []});
    }
    let refuse = |m: &str| vec![CalendarProblem::new(instance, "exception", m)];
    let Some(obj) = set.as_object_mut() else {
        return Err(refuse("the calendar set is not a JSON object"));
    };
    let mut n = 1;
    let names: Vec<String> = obj
        .get("calendars")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| c.get("name")?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let name = loop {
        let candidate = format!("exception-{instance}-{n}");
        if !names.contains(&candidate) {
            break candidate;
        }
        n += 1;
    };
    let (calendar, effect, until) = match exception {
        Exception::KeepRunning { until } => {
            if until <= now {
                return Err(refuse("it ends before now: it would never apply"));
            }
            (
                json!({"name": name, "periods": [{"from": rfc3339(now), "to": rfc3339(until)}]}),
                Effect::SkipStop,
                until,
            )
        }
        Exception::Off { from, to } => {
            if to < from {
                return Err(refuse("its last day is before its first"));
            }
            // Past the end of `to` in every zone (offsets reach +14 h / −12 h).
            let until = (to + Days::new(2))
                .and_time(chrono::NaiveTime::MIN)
                .and_utc();
            if until <= now {
                return Err(refuse("its days are over: it would never apply"));
            }
            (
                json!({"name": name, "dates": [format!("{from}..{to}")]}),
                Effect::Off,
                until,
            )
        }
    };
    let push = |obj: &mut serde_json::Map<String, Value>, key: &str, v: Value| {
        let slot = obj.entry(key).or_insert_with(|| json!([]));
        if let Some(a) = slot.as_array_mut() {
            a.push(v);
        }
    };
    // A set without assignments makes each calendar a tenant-wide holiday calendar: write
    // those assignments out before adding an instance-scoped one.
    if obj.get("assignments").is_none() {
        let implied: Vec<Value> = names
            .iter()
            .map(|c| json!({"calendar": c, "scope": "tenant", "effect": "skip-start"}))
            .collect();
        obj.insert("assignments".into(), Value::Array(implied));
    }
    push(obj, "calendars", calendar);
    push(
        obj,
        "assignments",
        json!({"calendar": name, "scope": {"instance": instance}, "effect": effect, "until": rfc3339(until)}),
    );
    Ok(name)
}

/// Removes the assignments expired at `now` and the `exception-…` calendars no assignment
/// names any more; returns how many assignments went.
pub fn prune_expired(set: &mut Value, now: DateTime<Utc>) -> usize {
    let Some(obj) = set.as_object_mut() else {
        return 0;
    };
    let mut removed = 0;
    if let Some(a) = obj.get_mut("assignments").and_then(Value::as_array_mut) {
        let before = a.len();
        a.retain(|x| {
            x.get("until")
                .and_then(Value::as_str)
                .and_then(|u| DateTime::parse_from_rfc3339(u).ok())
                .is_none_or(|u| u.with_timezone(&Utc) > now)
        });
        removed = before - a.len();
    }
    let named: Vec<String> = obj
        .get("assignments")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.get("calendar")?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if let Some(c) = obj.get_mut("calendars").and_then(Value::as_array_mut) {
        c.retain(|x| {
            let name = x.get("name").and_then(Value::as_str).unwrap_or("");
            !name.starts_with("exception-") || named.iter().any(|n| n == name)
        });
    }
    removed
}

/// Checks a set after an edit, as the governor will read it (files it names are read by
/// `read`).
pub fn check_set(
    set: &Value,
    read: &dyn Fn(&str) -> Result<String, String>,
) -> Result<CalendarSet, Vec<CalendarProblem>> {
    CalendarSet::parse_value(set, "calendars", read)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{self, FleetCalendars, PlanStream};
    use crate::schedule::Action;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn keep_running_until_friday_and_off_next_week_are_calendar_entries_that_expire() {
        let now = t("2026-12-02T09:00:00Z"); // a Wednesday
        let mut set = Value::Null;
        let keep = add_exception(
            &mut set,
            "gpu-01",
            Exception::KeepRunning {
                until: t("2026-12-04T18:00:00Z"),
            },
            now,
        )
        .unwrap();
        let off = add_exception(
            &mut set,
            "gpu-01",
            Exception::Off {
                from: "2026-12-07".parse().unwrap(),
                to: "2026-12-11".parse().unwrap(),
            },
            now,
        )
        .unwrap();
        assert_eq!(
            (keep.as_str(), off.as_str()),
            ("exception-gpu-01-1", "exception-gpu-01-2")
        );
        let no = |p: &str| Err(format!("no file {p}"));
        let parsed = check_set(&set, &no).unwrap();
        // The plan of gpu-01 (stop 18:00 UTC daily, start 08:00 weekdays) with both.
        let inst = crate::Instance {
            name: "gpu-01".into(),
            schedules: vec![
                json!({"action": "Stop", "triggerType": "Cron", "cron": {"expression": "0 18 * * *"}}),
                json!({"action": "Start", "triggerType": "Cron", "cron": {"expression": "0 8 * * 1-5"}}),
            ],
            ..Default::default()
        };
        let inv = crate::Inventory {
            instances: vec![inst.clone()],
            ..Default::default()
        };
        let f = fleet::compile(&inv);
        let (from, to) = (now, t("2026-12-14T00:00:00Z"));
        let mut fc = FleetCalendars::new(&parsed.calendars, parsed.assignments.clone(), from, to);
        fc.in_force = vec![FleetCalendars::matching(&fc.assignments, &inst)];
        let rows: Vec<_> =
            PlanStream::with_calendars(&f, &fleet::plan_ranks(&f), 0..1, from, to, Some(&fc))
                .collect();
        let fires = |action: Action, at: &str| {
            rows.iter()
                .find(|p| p.action == action && p.occurrence.at == t(at))
                .map(|p| p.fires())
        };
        // Kept running through Friday 18:00 (the stop at 18:00 is the period's end: it fires).
        assert_eq!(fires(Action::Stop, "2026-12-02T18:00:00Z"), Some(false));
        assert_eq!(fires(Action::Stop, "2026-12-03T18:00:00Z"), Some(false));
        assert_eq!(fires(Action::Stop, "2026-12-04T18:00:00Z"), Some(true));
        // Off next week: stopped at each day's start, no start fires.
        assert_eq!(fires(Action::Start, "2026-12-07T08:00:00Z"), Some(false));
        assert_eq!(fires(Action::Start, "2026-12-11T08:00:00Z"), Some(false));
        assert!(
            rows.iter()
                .any(|p| p.schedule == fleet::OFF_STOP
                    && p.occurrence.at == t("2026-12-07T00:00:00Z"))
        );
        // Expired entries are pruned; a live one stays.
        assert_eq!(prune_expired(&mut set, t("2026-12-05T00:00:00Z")), 1);
        assert_eq!(set["calendars"].as_array().unwrap().len(), 1);
        assert_eq!(prune_expired(&mut set, t("2026-12-14T00:00:00Z")), 1);
        assert!(set["calendars"].as_array().unwrap().is_empty());
        // Refused: an end in the past.
        assert!(add_exception(
            &mut set,
            "gpu-01",
            Exception::KeepRunning { until: now },
            now
        )
        .is_err());
    }

    #[test]
    fn a_set_without_assignments_keeps_its_holiday_calendars_when_an_exception_is_added() {
        let mut set = json!({"calendars": [{"name": "nz", "yearly": ["12-25"]}]});
        add_exception(
            &mut set,
            "gpu-01",
            Exception::KeepRunning {
                until: t("2026-12-04T18:00:00Z"),
            },
            t("2026-12-01T00:00:00Z"),
        )
        .unwrap();
        let parsed = check_set(&set, &|p: &str| Err(p.to_string())).unwrap();
        assert_eq!(parsed.assignments[0].calendar, "nz");
        assert_eq!(parsed.assignments[0].effect, Effect::SkipStart);
        assert_eq!(parsed.assignments.len(), 2);
    }
}
