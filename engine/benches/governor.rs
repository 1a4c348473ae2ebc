//! The cost of a tick's decision step for 10 000 instances with 3 schedules each (docs/design.md §13,
//! issue 4: under 50 ms with nothing due). Building the views (compiling schedules) is outside
//! the measurement: a daemon compiles once and reuses them across ticks.
//!
//! `cargo bench -p curfew-engine --bench governor`.

use chrono::{DateTime, TimeDelta, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use curfew_engine::governor::{
    decide, effective_schedules, Config, DecisionKind, InstanceView, TickInput,
};
use curfew_engine::inventory::Instance;
use serde_json::{json, Value};
use std::hint::black_box;

const INSTANCES: usize = 10_000;
const ZONES: [&str; 5] = [
    "Pacific Standard Time",
    "W. Europe Standard Time",
    "India Standard Time",
    "AUS Eastern Standard Time",
    "UTC",
];

fn cron(action: &str, expr: &str, tz: &str) -> Value {
    json!({"action": action, "triggerType": "Cron", "cron": {"expression": expr, "timeZone": tz}})
}

fn fleet(same_time: bool) -> Vec<InstanceView> {
    (0..INSTANCES)
        .map(|i| {
            let tz = if same_time { "UTC" } else { ZONES[i % 5] };
            let m = if same_time { 0 } else { (i % 4) * 10 };
            let inst = Instance {
                name: format!("ci-{i:05}"),
                id: Some(format!("/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w{}/computes/ci-{i:05}", i % 50)),
                state: Some("Running".into()),
                assigned_user: Some(format!("user-{i}")),
                schedules: vec![
                    cron("Start", &format!("{} 8 * * 1-5", (i % 3) * 15), tz),
                    cron("Stop", &format!("{m} 18 * * *"), tz),
                    json!({"action": "Stop", "triggerType": "Recurrence", "recurrence": {
                        "frequency": "Week", "interval": 1, "timeZone": tz,
                        "schedule": {"hours": [22], "minutes": [0], "weekDays": ["Friday"]}}}),
                ],
                ..Default::default()
            };
            let set = effective_schedules(&inst, None, &[]);
            InstanceView::new(&inst, set.schedules)
        })
        .collect()
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn benches(c: &mut Criterion) {
    let cfg = Config::default();
    let idle = fleet(false);
    let due = fleet(true);
    let quiet_now = at("2026-03-04T10:00:00Z");
    let due_now = at("2026-03-04T18:00:00Z");
    let tick = |views: &[InstanceView], now: DateTime<Utc>| {
        decide(
            &TickInput {
                instances: views,
                watermark: Some(now - TimeDelta::minutes(1)),
                config: &cfg,
            },
            now,
        )
    };
    let quiet = tick(&idle, quiet_now);
    assert!(quiet.decisions.is_empty() && quiet.notices.is_empty());
    let busy = tick(&due, due_now);
    let executes = busy
        .decisions
        .iter()
        .filter(|d| d.kind == DecisionKind::Execute)
        .count();
    assert_eq!(executes, INSTANCES);
    println!(
        "nothing due: {} decisions, next deadline {:?}; all due: {executes} executes",
        quiet.decisions.len(),
        quiet.next_deadline
    );
    let mut g = c.benchmark_group("governor tick, 10 000 instances x 3 schedules");
    g.sample_size(10)
        .measurement_time(std::time::Duration::from_secs(5))
        .warm_up_time(std::time::Duration::from_secs(1));
    g.bench_function("nothing due", |b| {
        b.iter(|| black_box(tick(black_box(&idle), quiet_now)))
    });
    g.bench_function("all 10 000 due", |b| {
        b.iter(|| black_box(tick(black_box(&due), due_now)))
    });
    g.finish();
}

criterion_group!(group, benches);
criterion_main!(group);
