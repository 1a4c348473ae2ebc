//! `validate` names every problem: all of them on one schedule (each with its JSON path), legal
//! but unsupported fields as warnings saying what Curfew does instead, the instance's
//! `idleTimeBeforeShutdown`, and cron names read exactly as NCrontab reads them.

use chrono::{DateTime, Datelike, Utc};
use curfew_engine::schedule::compile;
use curfew_engine::{fleet, inventory, Problem, Severity};
use serde_json::{json, Value};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn recurrence(body: Value) -> Value {
    json!({"action": "Stop", "status": "Enabled", "triggerType": "Recurrence", "recurrence": body})
}

fn cron(body: Value) -> Value {
    json!({"action": "Stop", "status": "Enabled", "triggerType": "Cron", "cron": body})
}

/// The `(severity, field)` of every problem, sorted, for exact comparison.
fn fields(problems: &[Problem]) -> Vec<(Severity, String)> {
    let mut out: Vec<_> = problems
        .iter()
        .map(|p| (p.severity, p.field.clone()))
        .collect();
    out.sort();
    out
}

fn errors(list: &[&str]) -> Vec<(Severity, String)> {
    let mut out: Vec<_> = list
        .iter()
        .map(|f| (Severity::Error, (*f).to_string()))
        .collect();
    out.sort();
    out
}

fn compute(name: &str, idle: Option<&str>, schedules: Vec<Value>) -> Value {
    let mut props = json!({"schedules": {"computeStartStop": schedules}});
    if let Some(idle) = idle {
        props["idleTimeBeforeShutdown"] = json!(idle);
    }
    json!({"name": name, "properties": {"computeType": "ComputeInstance", "properties": props}})
}

#[test]
fn one_recurrence_with_five_problems_reports_all_five_by_path() {
    let c = compile(&recurrence(json!({
        "frequency": "Week", "interval": 0, "timeZone": "Mars Standard Time",
        "schedule": {"hours": [25], "minutes": [61], "weekDays": ["Funday"]}
    })));
    assert!(c.schedule.is_none());
    assert_eq!(
        fields(&c.problems),
        errors(&[
            "recurrence.timeZone",
            "recurrence.interval",
            "recurrence.schedule.hours[0]",
            "recurrence.schedule.minutes[0]",
            "recurrence.schedule.weekDays[0]",
        ]),
        "{:?}",
        c.problems
    );
}

#[test]
fn every_problem_of_a_schedule_is_reported_whatever_fails_first() {
    // Each entry fails in several places; every place is named, and none compiles.
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            cron(json!({"expression": "0 25 * * *", "timeZone": "Mars Standard Time"})),
            vec!["cron.timeZone", "cron.expression"],
        ),
        (
            cron(json!({"expression": "61 25 * 13 Funday"})),
            vec![
                "cron.expression",
                "cron.expression",
                "cron.expression",
                "cron.expression",
            ],
        ),
        (
            cron(
                json!({"expression": "0 18 * * *", "timeZone": "Nowhere/Atlantis",
                        "startTime": "next tuesday"}),
            ),
            vec!["cron.timeZone", "cron.startTime"],
        ),
        (
            recurrence(json!({"frequency": "Fortnight", "interval": 1,
                              "schedule": {"hours": [24], "monthDays": [0]}})),
            vec![
                "recurrence.frequency",
                "recurrence.schedule.hours[0]",
                "recurrence.schedule.monthDays[0]",
            ],
        ),
        (
            recurrence(json!({"interval": "often", "timeZone": "Mars Standard Time"})),
            vec![
                "recurrence.frequency",
                "recurrence.interval",
                "recurrence.timeZone",
            ],
        ),
        (
            recurrence(json!({"frequency": "Hour", "interval": -1, "timeZone": "Atlantis"})),
            vec!["recurrence.interval", "recurrence.timeZone"],
        ),
        (
            recurrence(
                json!({"frequency": "Month", "interval": 1, "startTime": "soon",
                              "schedule": {"monthDays": [32, 1, "x"], "minutes": [5, 60]}}),
            ),
            vec![
                "recurrence.startTime",
                "recurrence.schedule.monthDays[0]",
                "recurrence.schedule.monthDays[2]",
                "recurrence.schedule.minutes[1]",
            ],
        ),
        (
            json!({"action": "Pause", "triggerType": "Daily",
                   "cron": {"expression": "0 0 32 * *"}}),
            vec!["action", "triggerType", "cron.expression"],
        ),
    ];
    for (entry, expected) in cases {
        let c = compile(&entry);
        assert!(c.schedule.is_none(), "{entry} should not compile");
        let errors_only: Vec<Problem> = c
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .cloned()
            .collect();
        assert_eq!(
            fields(&errors_only),
            errors(&expected),
            "{entry}: {:?}",
            c.problems
        );
    }
}

#[test]
fn a_bad_schedule_is_skipped_by_plan_and_never_stops_the_fleet() {
    let bad = recurrence(json!({
        "frequency": "Week", "interval": 0, "timeZone": "Mars Standard Time",
        "schedule": {"hours": [25], "minutes": [61], "weekDays": ["Funday"]}
    }));
    let good = cron(json!({"expression": "0 18 * * *"}));
    let text = json!([
        compute("ci-a", None, vec![bad, good.clone()]),
        compute("ci-b", None, vec![good])
    ])
    .to_string();
    let inv = inventory::parse(&text, "t.json").unwrap();
    let f = fleet::compile(&inv);
    let v = fleet::validate(&f, utc("2026-06-01T00:00:00Z"));
    assert_eq!(fleet::counts(&v), (5, 0), "{v:?}");
    assert!(v
        .iter()
        .all(|d| d.instance == "ci-a" && d.schedule == Some(0)));
    let hours = v
        .iter()
        .find(|d| d.field == "recurrence.schedule.hours[0]")
        .unwrap();
    assert_eq!(
        hours.to_string(),
        "instance 'ci-a' schedule 0: 25 out of range 0-23"
    );
    let planned = fleet::plan(&f, utc("2026-06-01T00:00:00Z"), utc("2026-06-02T00:00:00Z"));
    let who: Vec<(usize, usize)> = planned.iter().map(|p| (p.instance, p.schedule)).collect();
    assert_eq!(who, [(0, 1), (1, 0)]);
}

#[test]
fn legal_but_unsupported_fields_warn_and_say_what_curfew_does_instead() {
    // (entry, field warned about, words the message must contain)
    let cases = [
        (
            recurrence(
                json!({"frequency": "Month", "interval": 1, "startTime": "2026-01-15T09:00:00",
                "schedule": {"hours": [9], "minutes": [0],
                             "monthlyOccurrences": [{"day": "Monday", "occurrence": 1}]}}),
            ),
            "recurrence.schedule.monthlyOccurrences",
            "startTime's day of the month",
        ),
        (
            recurrence(json!({"frequency": "Month", "interval": 1,
                "schedule": {"monthDays": [1], "monthlyOccurrences": [{"day": "Friday", "occurrence": -1}]}})),
            "recurrence.schedule.monthlyOccurrences",
            "monthDays only",
        ),
        (
            recurrence(
                json!({"frequency": "Day", "interval": 1, "endTime": "2026-12-31T00:00:00",
                "schedule": {"hours": [18], "minutes": [0]}}),
            ),
            "recurrence.endTime",
            "keeps firing after it",
        ),
        (
            cron(json!({"expression": "0 18 * * *", "endTime": "2026-12-31T00:00:00"})),
            "cron.endTime",
            "keeps firing after it",
        ),
        (
            recurrence(json!({"frequency": "Month", "interval": 1,
                "schedule": {"monthDays": [1], "weekDays": ["Monday"], "hours": [8], "minutes": [0]}})),
            "recurrence.schedule.weekDays",
            "fires on monthDays",
        ),
        (
            recurrence(json!({"frequency": "Week", "interval": 1,
                "schedule": {"weekDays": ["Monday"], "monthDays": [15], "hours": [8], "minutes": [0]}})),
            "recurrence.schedule.monthDays",
            "fires on weekDays",
        ),
    ];
    for (entry, field, instead) in cases {
        let c = compile(&entry);
        assert!(c.schedule.is_some(), "{entry}: {:?}", c.problems);
        let w = c
            .problems
            .iter()
            .find(|p| p.field == field)
            .unwrap_or_else(|| panic!("{entry}: no problem at {field}: {:?}", c.problems));
        assert_eq!(w.severity, Severity::Warning, "{entry}");
        assert!(
            w.message.contains("ignored") && w.message.contains(instead),
            "{field}: {}",
            w.message
        );
    }
    // Null, empty and absent say nothing: no warning.
    for entry in [
        recurrence(json!({"frequency": "Month", "interval": 1, "endTime": null,
            "schedule": {"monthDays": [1], "monthlyOccurrences": [], "weekDays": null}})),
        cron(json!({"expression": "0 18 * * *", "endTime": ""})),
    ] {
        let c = compile(&entry);
        assert!(c.problems.is_empty(), "{entry}: {:?}", c.problems);
    }
}

#[test]
fn unsupported_fields_never_change_when_a_schedule_fires() {
    let plain = recurrence(json!({"frequency": "Month", "interval": 1,
        "schedule": {"monthDays": [1], "hours": [8], "minutes": [0]}}));
    let extra = recurrence(
        json!({"frequency": "Month", "interval": 1, "endTime": "2026-03-01T00:00:00",
        "schedule": {"monthDays": [1], "hours": [8], "minutes": [0], "weekDays": ["Friday"],
                     "monthlyOccurrences": [{"day": "Friday", "occurrence": 1}]}}),
    );
    let (a, b) = (
        compile(&plain).schedule.unwrap(),
        compile(&extra).schedule.unwrap(),
    );
    let (from, to) = (utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"));
    let fa: Vec<_> = a.occurrences(from, to).collect();
    assert_eq!(fa.len(), 12);
    assert_eq!(fa, b.occurrences(from, to).collect::<Vec<_>>());
}

#[test]
fn idle_time_before_shutdown_is_checked_by_instance_and_field() {
    // (value, expected severity or none, words of the message)
    let cases = [
        (
            "PT5M",
            Some(Severity::Warning),
            "below the 15-minute minimum",
        ),
        ("P10D", Some(Severity::Warning), "above the 3-day maximum"),
        ("banana", Some(Severity::Error), "not an ISO 8601 duration"),
        ("PT1H30", Some(Severity::Error), "no unit"),
        ("P1M", Some(Severity::Error), "years and months"),
        ("PT30M", None, ""),
        ("PT15M", None, ""),
        ("P3D", None, ""),
        ("", None, ""),
    ];
    for (value, severity, words) in cases {
        let text = json!([compute(
            "ci-idle",
            Some(value),
            vec![cron(json!({"expression": "0 18 * * *"}))]
        )])
        .to_string();
        let inv = inventory::parse(&text, "t.json").unwrap();
        let v = fleet::validate(&fleet::compile(&inv), utc("2026-06-01T00:00:00Z"));
        match severity {
            None => assert!(v.is_empty(), "{value}: {v:?}"),
            Some(severity) => {
                assert_eq!(v.len(), 1, "{value}: {v:?}");
                let d = &v[0];
                assert_eq!(
                    (
                        d.severity,
                        d.instance.as_str(),
                        d.schedule,
                        d.field.as_str()
                    ),
                    (
                        severity,
                        "ci-idle",
                        None,
                        "properties.properties.idleTimeBeforeShutdown"
                    ),
                    "{value}"
                );
                assert!(
                    d.message.contains(value) && d.message.contains(words),
                    "{value}: {}",
                    d.message
                );
                assert!(d.to_string().starts_with("instance 'ci-idle': "), "{d}");
            }
        }
    }
    // No idle time at all is no problem.
    let text = json!([compute("ci-none", None, vec![])]).to_string();
    let inv = inventory::parse(&text, "t.json").unwrap();
    assert!(fleet::compile(&inv).diagnostics.is_empty());
}

/// The months a `0 0 1 <field> *` expression fires in during 2026, and its warnings.
fn months_of(field: &str) -> (Vec<u32>, usize) {
    let c = compile(&cron(json!({"expression": format!("0 0 1 {field} *")})));
    let s = c
        .schedule
        .unwrap_or_else(|| panic!("{field}: {:?}", c.problems));
    let months = s
        .occurrences(utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"))
        .map(|o| o.at.month())
        .collect();
    (months, c.problems.len())
}

/// The weekdays (Sunday 0) a `0 0 * * <field>` expression fires on in one week, and its warnings.
fn days_of(field: &str) -> (Vec<u32>, usize) {
    let c = compile(&cron(json!({"expression": format!("0 0 * * {field}")})));
    let s = c
        .schedule
        .unwrap_or_else(|| panic!("{field}: {:?}", c.problems));
    // 2026-01-04 is a Sunday.
    let days = s
        .occurrences(utc("2026-01-04T00:00:00Z"), utc("2026-01-11T00:00:00Z"))
        .map(|o| o.at.weekday().num_days_from_sunday())
        .collect();
    (days, c.problems.len())
}

#[test]
fn cron_month_names_are_any_prefix_as_ncrontab_reads_them() {
    // (field, months it fires in, warnings): NCrontab takes the first of January…December that
    // starts with the text, case-insensitively, so `J` is January and `Ju` June.
    let cases: [(&str, &[u32], usize); 14] = [
        ("Augu", &[8], 0),
        ("SEPT", &[9], 0),
        ("DECEM", &[12], 0),
        ("december", &[12], 0),
        ("J", &[1], 1),
        ("Ju", &[6], 1),
        ("M", &[3], 1),
        ("A", &[4], 1),
        ("jan,Jul", &[1, 7], 0),
        ("Ap-Augu", &[4, 5, 6, 7, 8], 0),
        ("JAN-MAR/2", &[1, 3], 0),
        ("Fe", &[2], 0),
        ("o,N,d", &[10, 11, 12], 0),
        ("J,Ju,Jul", &[1, 6, 7], 2),
    ];
    for (field, months, warnings) in cases {
        assert_eq!(months_of(field), (months.to_vec(), warnings), "{field}");
    }
}

#[test]
fn cron_day_names_are_any_prefix_as_ncrontab_reads_them() {
    // Sunday…Saturday order: `S` is Sunday and `T` Tuesday.
    let cases: [(&str, &[u32], usize); 10] = [
        ("Thurs", &[4], 0),
        ("MON-FRI", &[1, 2, 3, 4, 5], 0),
        ("mon-thurs", &[1, 2, 3, 4], 0),
        ("T", &[2], 1),
        ("S", &[0], 1),
        ("M", &[1], 0),
        ("Sa,Su", &[0, 6], 0),
        ("W", &[3], 0),
        ("tu/2", &[2, 4, 6], 0),
        ("Friday", &[5], 0),
    ];
    for (field, days, warnings) in cases {
        assert_eq!(days_of(field), (days.to_vec(), warnings), "{field}");
    }
}

#[test]
fn prefix_warnings_name_the_field_the_reading_and_the_rivals() {
    let c = compile(&cron(json!({"expression": "0 8 * J T"})));
    assert!(c.schedule.is_some());
    let messages: Vec<&str> = c
        .problems
        .iter()
        .filter(|p| p.field == "cron.expression" && p.severity == Severity::Warning)
        .map(|p| p.message.as_str())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("month: 'J' is read as January") && m.contains("June and July")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("day-of-week: 'T' is read as Tuesday") && m.contains("Thursday")),
        "{messages:?}"
    );
}

#[test]
fn names_that_are_no_prefix_are_errors() {
    for field in [
        "0 0 1 Janu4ry *",
        "0 0 1 Decembers *",
        "0 0 * * Fry",
        "0 0 * * Mondays",
    ] {
        let c = compile(&cron(json!({ "expression": field })));
        assert!(c.schedule.is_none(), "{field}");
        assert_eq!(fields(&c.problems), errors(&["cron.expression"]), "{field}");
    }
}

#[test]
fn unsupported_fields_of_cli_yaml_warn_too() {
    let yaml = r#"
name: ci-yaml
type: computeinstance
idle_time_before_shutdown: PT5M
schedules:
  compute_start_stop:
    - action: stop
      trigger:
        type: recurrence
        frequency: month
        interval: 1
        start_time: "2026-01-15T18:00:00"
        end_time: "2026-12-31T00:00:00"
        schedule:
          hours: [18]
          minutes: [0]
          week_days: [friday]
          monthly_occurrences: [{day: friday, occurrence: 1}]
    - action: start
      trigger:
        type: cron
        expression: "0 8 * * MON-FRI"
        end_time: "2026-12-31T00:00:00"
"#;
    let inv = inventory::parse(yaml, "ci.yml").unwrap();
    let v = fleet::validate(&fleet::compile(&inv), utc("2026-06-01T00:00:00Z"));
    let mut got: Vec<(Option<usize>, Severity, &str)> = v
        .iter()
        .map(|d| (d.schedule, d.severity, d.field.as_str()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (
                None,
                Severity::Warning,
                "properties.properties.idleTimeBeforeShutdown"
            ),
            (Some(0), Severity::Warning, "recurrence.endTime"),
            (
                Some(0),
                Severity::Warning,
                "recurrence.schedule.monthlyOccurrences"
            ),
            (Some(0), Severity::Warning, "recurrence.schedule.weekDays"),
            (Some(1), Severity::Warning, "cron.endTime"),
        ],
        "{v:?}"
    );
}
