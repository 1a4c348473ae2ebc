//! One test per rule of the schedule contract (docs/design.md §5), each failing if its rule breaks.

use chrono::{DateTime, Utc};
use curfew_engine::fleet;
use curfew_engine::inventory;
use curfew_engine::schedule::{compile, normalize, Schedule};
use curfew_engine::{Action, Severity};
use serde_json::{json, Value};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn ok(entry: &Value) -> Schedule {
    let c = compile(entry);
    assert!(
        c.problems.iter().all(|p| p.severity != Severity::Error),
        "{entry}: {:?}",
        c.problems
    );
    c.schedule.unwrap()
}

fn times(s: &Schedule, from: &str, to: &str) -> Vec<String> {
    s.occurrences(utc(from), utc(to))
        .map(|o| o.at.format("%Y-%m-%dT%H:%MZ").to_string())
        .collect()
}

fn recurrence(body: Value) -> Value {
    json!({"action": "Start", "status": "Enabled", "triggerType": "Recurrence", "recurrence": body})
}

fn cron_entry(expr: &str, extra: Value) -> Value {
    let mut cron = json!({"expression": expr});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            cron[k] = v;
        }
    }
    json!({"action": "Stop", "status": "Enabled", "triggerType": "Cron", "cron": cron})
}

#[test]
fn enum_words_are_case_insensitive() {
    let s = ok(
        &json!({"action": "sToP", "status": "ENABLED", "triggerType": "cron",
                       "cron": {"expression": "0 18 * * *", "triggerType": "CRON"}}),
    );
    assert_eq!(s.action, Action::Stop);
    assert!(s.enabled);
    let s = ok(&recurrence(json!({"frequency": "WEEK", "interval": 1,
        "schedule": {"hours": [9], "minutes": [0], "weekDays": ["monday"]}})));
    assert_eq!(
        times(&s, "2026-06-01T00:00:00Z", "2026-06-09T00:00:00Z"),
        ["2026-06-01T09:00Z", "2026-06-08T09:00Z"]
    );
}

#[test]
fn unknown_fields_and_nulls_are_tolerated() {
    let s = ok(
        &json!({"action": "Start", "status": null, "id": "x", "provisioningStatus": "Completed",
        "triggerType": null, "cron": {"expression": "0 8 * * *", "startTime": null, "timeZone": null, "extra": 1},
        "recurrence": null, "schedule": {"status": "Enabled"}}),
    );
    assert_eq!(s.time_zone, "UTC");
    assert_eq!(
        times(&s, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
        ["2026-01-01T08:00Z"]
    );
}

#[test]
fn disabled_schedules_are_listed_but_never_fire() {
    let s = ok(
        &json!({"action": "Stop", "status": "Disabled", "triggerType": "Cron", "cron": {"expression": "* * * * *"}}),
    );
    assert!(!s.enabled);
    assert_eq!(
        s.occurrences(utc("2026-01-01T00:00:00Z"), utc("2026-01-02T00:00:00Z"))
            .count(),
        0
    );
    assert!(s.next_after(utc("2026-01-01T00:00:00Z")).is_none());
}

#[test]
fn start_time_bounds_firings_and_a_firing_at_start_time_counts() {
    let s = ok(&cron_entry(
        "0 18 * * *",
        json!({"startTime": "2026-05-02T18:00:00", "timeZone": "UTC"}),
    ));
    assert_eq!(
        times(&s, "2026-05-01T00:00:00Z", "2026-05-04T00:00:00Z"),
        ["2026-05-02T18:00Z", "2026-05-03T18:00Z"]
    );
    let s = ok(&cron_entry(
        "0 18 * * *",
        json!({"startTime": "2026-05-02T18:00:01", "timeZone": "UTC"}),
    ));
    assert_eq!(
        times(&s, "2026-05-01T00:00:00Z", "2026-05-04T00:00:00Z"),
        ["2026-05-03T18:00Z"]
    );
}

#[test]
fn start_time_is_local_to_the_zone_and_accepts_a_space_or_an_offset() {
    // 18:00 Pacific on 2026-05-02 is 01:00Z on 05-03: a startTime of 2026-05-02 18:00 local
    // admits it, while the same text read as UTC would not change that, so test both sides.
    let pst = json!({"timeZone": "Pacific Standard Time"});
    let with = |start: &str| {
        let mut e = cron_entry("0 18 * * *", pst.clone());
        e["cron"]["startTime"] = json!(start);
        times(&ok(&e), "2026-05-01T00:00:00Z", "2026-05-04T12:00:00Z")
    };
    assert_eq!(
        with("2026-05-02 18:00:00"),
        ["2026-05-03T01:00Z", "2026-05-04T01:00Z"]
    );
    assert_eq!(
        with("2026-05-02T18:00:00"),
        ["2026-05-03T01:00Z", "2026-05-04T01:00Z"]
    );
    // An explicit Z is an instant: 2026-05-03T01:00:01Z excludes the firing at 01:00Z.
    assert_eq!(with("2026-05-03T01:00:01Z"), ["2026-05-04T01:00Z"]);
    assert_eq!(
        with("2026-05-02T18:00:00-07:00"),
        ["2026-05-03T01:00Z", "2026-05-04T01:00Z"]
    );
    let bad = compile(&{
        let mut e = cron_entry("0 18 * * *", pst.clone());
        e["cron"]["startTime"] = json!("next tuesday");
        e
    });
    assert!(bad.schedule.is_none());
    assert_eq!(bad.problems[0].field, "cron.startTime");
}

#[test]
fn unknown_time_zone_is_an_error_for_that_schedule_only() {
    let text = json!([{"name": "a", "properties": {"computeType": "ComputeInstance", "properties": {"schedules": {"computeStartStop": [
        cron_entry("0 18 * * *", json!({"timeZone": "Mars Standard Time"})),
        cron_entry("0 19 * * *", json!({"timeZone": "Pacific Standard Time"}))]}}}}])
    .to_string();
    let inv = inventory::parse(&text, "t.json").unwrap();
    let f = fleet::compile(&inv);
    assert_eq!(f.diagnostics.len(), 1);
    assert_eq!(f.diagnostics[0].schedule, Some(0));
    assert_eq!(f.diagnostics[0].field, "cron.timeZone");
    assert!(f.instances[0].schedules[0].is_none());
    assert_eq!(
        fleet::plan(&f, utc("2026-01-01T00:00:00Z"), utc("2026-01-02T00:00:00Z")).len(),
        1
    );
}

#[test]
fn cron_error_lines_name_instance_schedule_and_field() {
    let text = json!({"name": "gpu-01", "properties": {"computeType": "ComputeInstance", "properties": {"schedules": {"computeStartStop": [
        cron_entry("0 1 * * *", json!({})), cron_entry("0 2 * * *", json!({})), cron_entry("61 * * * *", json!({}))]}}}})
    .to_string();
    let inv = inventory::parse(&text, "t.json").unwrap();
    let f = fleet::compile(&inv);
    assert_eq!(
        f.diagnostics[0].to_string(),
        "instance 'gpu-01' schedule 2: cron expression '61 * * * *': minute 61 out of range 0-59"
    );
}

#[test]
fn cron_ands_day_of_month_and_day_of_week() {
    // Friday the 13th only: 2026-02-13 and 2026-03-13, not every Friday nor every 13th.
    let s = ok(&cron_entry("0 9 13 * 5", json!({})));
    assert_eq!(
        times(&s, "2026-01-01T00:00:00Z", "2026-12-31T00:00:00Z"),
        [
            "2026-02-13T09:00Z",
            "2026-03-13T09:00Z",
            "2026-11-13T09:00Z"
        ]
    );
}

#[test]
fn six_field_cron_reads_seconds_first_with_a_warning() {
    let c = compile(&cron_entry("30 0 18 * * *", json!({})));
    assert_eq!(c.problems.len(), 1);
    assert_eq!(c.problems[0].severity, Severity::Warning);
    let s = c.schedule.unwrap();
    let o = s.next_after(utc("2026-01-01T00:00:00Z")).unwrap();
    assert_eq!(o.at, utc("2026-01-01T18:00:30Z"));
}

#[test]
fn minute_and_hour_recurrences_count_elapsed_time_from_start_time() {
    let s = ok(&recurrence(
        json!({"frequency": "Minute", "interval": 45, "startTime": "2026-01-01T10:10:00"}),
    ));
    assert_eq!(
        times(&s, "2026-01-01T00:00:00Z", "2026-01-01T12:00:00Z"),
        [
            "2026-01-01T10:10Z",
            "2026-01-01T10:55Z",
            "2026-01-01T11:40Z"
        ]
    );
    let s = ok(&recurrence(
        json!({"frequency": "Hour", "interval": 5, "startTime": "2026-01-01T01:00:00"}),
    ));
    assert_eq!(
        times(&s, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
        [
            "2026-01-01T01:00Z",
            "2026-01-01T06:00Z",
            "2026-01-01T11:00Z",
            "2026-01-01T16:00Z",
            "2026-01-01T21:00Z"
        ]
    );
}

#[test]
fn minute_recurrence_without_start_time_aligns_to_the_hour_in_the_zone() {
    let s = ok(&recurrence(
        json!({"frequency": "Minute", "interval": 20, "timeZone": "India Standard Time"}),
    ));
    // Anchored at local midnight (18:30Z): firings at :00, :20, :40 local = :30, :50, :10 UTC.
    assert_eq!(
        times(&s, "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"),
        [
            "2026-01-01T00:10Z",
            "2026-01-01T00:30Z",
            "2026-01-01T00:50Z"
        ]
    );
}

#[test]
fn day_recurrence_counts_intervals_from_start_date() {
    let s = ok(&recurrence(
        json!({"frequency": "Day", "interval": 2, "startTime": "2026-01-02T07:15:00"}),
    ));
    // hours/minutes default to startTime's 07:15.
    assert_eq!(
        times(&s, "2026-01-01T00:00:00Z", "2026-01-07T00:00:00Z"),
        [
            "2026-01-02T07:15Z",
            "2026-01-04T07:15Z",
            "2026-01-06T07:15Z"
        ]
    );
}

#[test]
fn week_recurrence_uses_weekdays_and_counts_weeks_from_start_week() {
    // Start Wednesday 2026-01-07; every 2nd week (weeks start Monday) on Mon and Fri at 08:00.
    let s = ok(&recurrence(
        json!({"frequency": "Week", "interval": 2, "startTime": "2026-01-07T00:00:00",
        "schedule": {"hours": [8], "minutes": [0], "weekDays": ["Monday", "Friday"]}}),
    ));
    assert_eq!(
        times(&s, "2026-01-01T00:00:00Z", "2026-01-27T00:00:00Z"),
        [
            "2026-01-09T08:00Z",
            "2026-01-19T08:00Z",
            "2026-01-23T08:00Z"
        ]
    );
}

#[test]
fn week_recurrence_defaults_to_start_weekday_or_every_day() {
    let s = ok(&recurrence(
        json!({"frequency": "Week", "interval": 1, "startTime": "2026-01-07T06:00:00"}),
    ));
    assert_eq!(
        times(&s, "2026-01-01T00:00:00Z", "2026-01-22T00:00:00Z"),
        [
            "2026-01-07T06:00Z",
            "2026-01-14T06:00Z",
            "2026-01-21T06:00Z"
        ]
    );
    let s = ok(&recurrence(
        json!({"frequency": "Week", "interval": 1, "schedule": {"hours": [6], "minutes": [0]}}),
    ));
    assert_eq!(
        times(&s, "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z"),
        [
            "2026-01-01T06:00Z",
            "2026-01-02T06:00Z",
            "2026-01-03T06:00Z"
        ]
    );
}

#[test]
fn month_recurrence_skips_days_past_the_month_end() {
    let s = ok(&recurrence(
        json!({"frequency": "Month", "interval": 1, "startTime": "2026-01-01T00:00:00",
        "schedule": {"hours": [12], "minutes": [0], "monthDays": [31]}}),
    ));
    assert_eq!(
        times(&s, "2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z"),
        [
            "2026-01-31T12:00Z",
            "2026-03-31T12:00Z",
            "2026-05-31T12:00Z"
        ]
    );
    // Default day: startTime's; interval 3 months from startTime's month.
    let s = ok(&recurrence(
        json!({"frequency": "Month", "interval": 3, "startTime": "2026-02-10T09:30:00"}),
    ));
    assert_eq!(
        times(&s, "2026-01-01T00:00:00Z", "2026-12-31T00:00:00Z"),
        [
            "2026-02-10T09:30Z",
            "2026-05-10T09:30Z",
            "2026-08-10T09:30Z",
            "2026-11-10T09:30Z"
        ]
    );
}

#[test]
fn missing_hours_and_minutes_default_to_zero_without_start_time() {
    let s = ok(&recurrence(json!({"frequency": "Day", "interval": 1})));
    assert_eq!(
        times(&s, "2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z"),
        ["2026-01-01T00:00Z", "2026-01-02T00:00Z"]
    );
}

#[test]
fn interval_above_one_without_start_time_counts_from_2000_01_03_with_a_warning() {
    let c = compile(&recurrence(
        json!({"frequency": "Day", "interval": 3, "schedule": {"hours": [0], "minutes": [0]}}),
    ));
    assert!(c
        .problems
        .iter()
        .any(|p| p.severity == Severity::Warning && p.field == "recurrence.interval"));
    // 2000-01-03 + 3k days: 2026-01-01 is day 9495 = 3 × 3165, so it fires.
    let s = c.schedule.unwrap();
    assert_eq!(
        times(&s, "2026-01-01T00:00:00Z", "2026-01-05T00:00:00Z"),
        ["2026-01-01T00:00Z", "2026-01-04T00:00Z"]
    );
}

#[test]
fn stop_wins_a_start_in_the_same_minute_and_validation_warns() {
    let text = json!({"name": "x", "properties": {"computeType": "ComputeInstance", "properties": {"schedules": {"computeStartStop": [
        {"action": "Start", "triggerType": "Cron", "cron": {"expression": "0 8 * * *"}},
        {"action": "Stop", "triggerType": "Cron", "cron": {"expression": "0 8 * * 1"}}]}}}})
    .to_string();
    let inv = inventory::parse(&text, "t.json").unwrap();
    let f = fleet::compile(&inv);
    let plan = fleet::plan(&f, utc("2026-06-01T00:00:00Z"), utc("2026-06-03T00:00:00Z"));
    // Monday 06-01: Stop only (Start suppressed); Tuesday 06-02: Start.
    let got: Vec<(String, Action)> = plan
        .iter()
        .map(|p| (p.occurrence.at.format("%m-%d").to_string(), p.action))
        .collect();
    assert_eq!(
        got,
        [
            ("06-01".to_string(), Action::Stop),
            ("06-02".to_string(), Action::Start)
        ]
    );
    assert_eq!(plan[0].suppressed, [0]);
    let v = fleet::validate(&f, utc("2026-06-01T00:00:00Z"));
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].schedule, Some(0));
    assert!(v[0].message.contains("Stop wins"));
}

#[test]
fn more_than_four_schedules_warn_and_all_are_evaluated() {
    let entries: Vec<Value> = (0..5)
        .map(|h| cron_entry(&format!("0 {h} * * *"), json!({})))
        .collect();
    let text = json!({"name": "x", "properties": {"computeType": "ComputeInstance", "properties": {"schedules": {"computeStartStop": entries}}}}).to_string();
    let inv = inventory::parse(&text, "t.json").unwrap();
    let f = fleet::compile(&inv);
    assert_eq!(f.diagnostics.len(), 1);
    assert_eq!(f.diagnostics[0].severity, Severity::Warning);
    assert_eq!(
        fleet::plan(&f, utc("2026-01-01T00:00:00Z"), utc("2026-01-02T00:00:00Z")).len(),
        5
    );
}

#[test]
fn next_after_is_strictly_after() {
    let s = ok(&cron_entry("0 18 * * *", json!({})));
    let t = utc("2026-01-01T18:00:00Z");
    assert_eq!(s.next_after(t).unwrap().at, utc("2026-01-02T18:00:00Z"));
    assert_eq!(
        s.next_after(t - chrono::Duration::nanoseconds(1))
            .unwrap()
            .at,
        t
    );
}

#[test]
fn bad_values_are_reported_by_field_and_never_panic() {
    let cases = [
        (
            json!({"action": "Pause", "triggerType": "Cron", "cron": {"expression": "0 0 * * *"}}),
            "action",
        ),
        (
            json!({"action": "Stop", "status": "Maybe", "triggerType": "Cron", "cron": {"expression": "0 0 * * *"}}),
            "status",
        ),
        (
            json!({"action": "Stop", "triggerType": "Daily", "cron": {"expression": "0 0 * * *"}}),
            "triggerType",
        ),
        (json!({"action": "Stop", "triggerType": "Cron"}), "cron"),
        (
            recurrence(json!({"frequency": "Year", "interval": 1})),
            "recurrence.frequency",
        ),
        (
            recurrence(json!({"frequency": "Day", "interval": 0})),
            "recurrence.interval",
        ),
        (
            recurrence(json!({"frequency": "Day", "interval": 1, "schedule": {"hours": [24]}})),
            "recurrence.schedule.hours[0]",
        ),
        (
            recurrence(
                json!({"frequency": "Week", "interval": 1, "schedule": {"weekDays": ["Funday"]}}),
            ),
            "recurrence.schedule.weekDays[0]",
        ),
        (
            recurrence(
                json!({"frequency": "Month", "interval": 1, "schedule": {"monthDays": [32]}}),
            ),
            "recurrence.schedule.monthDays[0]",
        ),
        (json!("not an object"), ""),
        (
            json!({"action": 5, "triggerType": "Cron", "cron": {"expression": "0 0 * * *"}}),
            "action",
        ),
    ];
    for (entry, field) in cases {
        let c = compile(&entry);
        assert!(c.schedule.is_none(), "{entry} should not compile");
        assert!(
            c.problems
                .iter()
                .any(|p| p.severity == Severity::Error && p.field == field),
            "{entry}: {:?}",
            c.problems
        );
    }
}

#[test]
fn normalize_is_idempotent_canonical_and_keeps_firings() {
    let entry = json!({"action": "start", "status": "Enabled", "triggerType": "Recurrence", "recurrence": {
        "frequency": "week", "interval": 1, "schedule": {"hours": [15], "minutes": [30], "weekDays": ["friday"]},
        "startTime": "2023-06-21T11:47:00", "timeZone": "India Standard Time", "triggerType": "Recurrence"}});
    let n = normalize(&entry);
    assert_eq!(n["action"], "Start");
    assert_eq!(n["recurrence"]["frequency"], "Week");
    assert_eq!(n["recurrence"]["schedule"]["weekDays"][0], "Friday");
    assert_eq!(normalize(&n), n);
    let (a, b) = (ok(&entry), ok(&n));
    assert_eq!(
        times(&a, "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z"),
        times(&b, "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z")
    );
}
