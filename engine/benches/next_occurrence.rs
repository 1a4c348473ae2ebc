//! Nanoseconds per `next_after` for cron and recurrence schedules in a DST zone.
//!
//! `cargo bench -p curfew-engine --bench next_occurrence`. Each iteration asks for the next
//! occurrence after an instant that advances by 7 h 13 min, so the benchmark walks across both
//! 2026 Pacific transitions instead of hitting one cached path.

use chrono::{DateTime, Duration, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use curfew_engine::schedule::{compile, Schedule};
use serde_json::json;
use std::hint::black_box;

fn schedule(entry: serde_json::Value) -> Schedule {
    compile(&entry).schedule.expect("valid schedule")
}

fn walk(c: &mut Criterion, name: &str, s: &Schedule) {
    let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    let step = Duration::minutes(7 * 60 + 13);
    c.bench_function(name, |b| {
        let mut t = start;
        b.iter(|| {
            let o = s.next_after(black_box(t));
            t += step;
            if t.timestamp() > 1_800_000_000 {
                t = start;
            }
            black_box(o)
        })
    });
}

fn benches(c: &mut Criterion) {
    let cron = schedule(json!({"action": "Stop", "triggerType": "Cron",
        "cron": {"expression": "30 18 * * 1-5", "timeZone": "Pacific Standard Time"}}));
    let cron_dense = schedule(json!({"action": "Stop", "triggerType": "Cron",
        "cron": {"expression": "*/15 8-18 * * *", "timeZone": "Pacific Standard Time"}}));
    let weekly = schedule(
        json!({"action": "Start", "triggerType": "Recurrence", "recurrence": {
        "frequency": "Week", "interval": 1, "timeZone": "Pacific Standard Time",
        "startTime": "2025-01-06T00:00:00",
        "schedule": {"hours": [8], "minutes": [0], "weekDays": ["Monday", "Wednesday", "Friday"]}}}),
    );
    let monthly = schedule(
        json!({"action": "Stop", "triggerType": "Recurrence", "recurrence": {
        "frequency": "Month", "interval": 1, "timeZone": "W. Europe Standard Time",
        "schedule": {"hours": [2], "minutes": [30], "monthDays": [1, 15]}}}),
    );
    walk(c, "next_after/cron weekdays 18:30 Pacific", &cron);
    walk(c, "next_after/cron */15 8-18 Pacific", &cron_dense);
    walk(
        c,
        "next_after/recurrence weekly Mon,Wed,Fri Pacific",
        &weekly,
    );
    walk(c, "next_after/recurrence monthly 1,15 Berlin", &monthly);
}

criterion_group! {
    name = group;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = benches
}
criterion_main!(group);
