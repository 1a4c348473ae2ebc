//! Policy evaluation throughput (issue 6): the three documentation policies, assigned at the
//! tenant, assessed over 100 000 compute resources generated from the ARM and SDK fixture shapes
//! with variations. Target: under 1 s for the whole fleet.
//!
//! Run: `cargo bench -p curfew-engine --bench policy`. Prints the best wall time of a few full
//! passes (total and per instance), then criterion's statistics.

use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{Criterion, Throughput};
use curfew_engine::policy::{assess, Assignment, PolicyDefinition};
use serde_json::{json, Map, Value};

/// Fleet size the issue asks for.
const INSTANCES: usize = 100_000;
/// Full passes timed for the printed number (the best is reported).
const PASSES: usize = 5;

const POLICIES: [(&str, &str); 3] = [
    (
        "stop-2200",
        include_str!("../../testdata/policies/default-stop-schedule-2200-pst.json"),
    ),
    (
        "idle-60",
        include_str!("../../testdata/policies/idle-shutdown-default-pt60m.json"),
    ),
    (
        "audit-os",
        include_str!("../../testdata/policies/audit-outdated-os-image.json"),
    ),
];
const ARM_GET: &str =
    include_str!("../../testdata/arm/2025-12-01_Compute_get_ComputeInstance.json");
const ARM_LIST: &str = include_str!("../../testdata/arm/2025-09-01_Compute_list.json");
const SDK_BODIES: [&str; 4] = [
    include_str!("../../testdata/sdk/01_weekly_fri_1530_ist_start.compute.json"),
    include_str!("../../testdata/sdk/03_cron_1800_stop_pst.compute.json"),
    include_str!("../../testdata/sdk/04_arm_sample_cron_stop_start_recurrence_utc.compute.json"),
    include_str!("../../testdata/sdk/07_idle_30min_docs_string.compute.json"),
];

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is JSON")
}

fn assignments() -> Vec<Assignment> {
    POLICIES
        .iter()
        .map(|(name, text)| {
            let definition =
                PolicyDefinition::from_json_str(text, &Map::new()).expect("fixture policy loads");
            Assignment::new(name, "/", definition).expect("tenant scope")
        })
        .collect()
}

/// 100 000 resources: the fixture shapes (ARM instance, SDK bodies given an ARM envelope, AKS
/// compute) with variations in schedules, idle time, OS image state, tags and scope.
fn fleet() -> Vec<Value> {
    let arm = parse(ARM_GET)["responses"]["200"]["body"].clone();
    let aks = parse(ARM_LIST)["responses"]["200"]["body"]["value"][0].clone();
    let mut shapes = vec![arm.clone(), aks];
    shapes.extend(SDK_BODIES.iter().map(|text| parse(text)));
    (0..INSTANCES)
        .map(|i| {
            let mut instance = shapes[i % shapes.len()].clone();
            let name = format!("ci-{i:06}");
            instance["id"] = json!(format!(
                "/subscriptions/sub-{}/resourceGroups/rg-{}/providers/Microsoft.MachineLearningServices/workspaces/ws-{}/computes/{name}",
                i % 7,
                i % 31,
                i % 97
            ));
            instance["name"] = json!(name);
            instance["type"] = json!("Microsoft.MachineLearningServices/workspaces/computes");
            if let Some(inner) = instance
                .pointer_mut("/properties/properties")
                .and_then(Value::as_object_mut)
            {
                match i % 11 {
                    0 => {
                        inner.insert("schedules".into(), json!({"computeStartStop": []}));
                    }
                    1 => {
                        inner.insert("idleTimeBeforeShutdown".into(), json!(""));
                    }
                    2 => {
                        inner.insert("idleTimeBeforeShutdown".into(), json!(format!("PT{}M", 15 + i % 120)));
                    }
                    3 => {
                        inner.insert(
                            "osImageMetadata".into(),
                            json!({"isLatestOsImageVersion": i % 2 == 0, "currentImageVersion": "22.06.14"}),
                        );
                    }
                    _ => {}
                }
            }
            match i % 13 {
                0 => instance["tags"] = json!({"curfew:exempt": "true"}),
                1 => instance["tags"] = json!({"curfew:exempt-until": "2026-02-01", "team": "vision"}),
                2 => instance["tags"] = json!({"team": "nlp", "cost-center": "42"}),
                _ => {}
            }
            instance
        })
        .collect()
}

fn assess_fleet(assignments: &[Assignment], fleet: &[Value], today: NaiveDate) -> usize {
    let mut supplied = 0;
    for instance in fleet {
        let assessment = assess(assignments, black_box(instance), today);
        supplied += assessment.supplied.len() + assessment.findings.len();
        black_box(&assessment);
    }
    supplied
}

/// The number the issue asks for, printed plainly: best of a few full passes.
#[allow(
    clippy::disallowed_methods,
    reason = "a benchmark measures wall time; the engine itself never reads the clock"
)]
fn print_fleet_time(assignments: &[Assignment], fleet: &[Value], today: NaiveDate) {
    let mut best = std::time::Duration::MAX;
    let mut effects = 0;
    for _ in 0..PASSES {
        let start = std::time::Instant::now();
        effects = assess_fleet(assignments, fleet, today);
        best = best.min(start.elapsed());
    }
    println!(
        "policy: {} policies x {} instances: best of {PASSES} passes {:.1} ms total, {:.0} ns per instance \
         ({effects} values supplied or findings)",
        assignments.len(),
        fleet.len(),
        best.as_secs_f64() * 1e3,
        best.as_secs_f64() * 1e9 / fleet.len() as f64,
    );
}

fn main() {
    let assignments = assignments();
    let fleet = fleet();
    let today = NaiveDate::from_ymd_opt(2026, 3, 1).expect("valid date");
    print_fleet_time(&assignments, &fleet, today);

    let mut criterion = Criterion::default().sample_size(10).configure_from_args();
    let mut group = criterion.benchmark_group("policy");
    group.throughput(Throughput::Elements(INSTANCES as u64));
    group.bench_function("assess_3_policies_100k_instances", |b| {
        b.iter(|| assess_fleet(&assignments, &fleet, today))
    });
    let definitions: Vec<&PolicyDefinition> = assignments.iter().map(|a| &a.definition).collect();
    group.bench_function("matches_only_3_policies_100k_instances", |b| {
        b.iter(|| {
            fleet
                .iter()
                .map(|instance| {
                    definitions
                        .iter()
                        .filter(|d| d.matches(black_box(instance)))
                        .count()
                })
                .sum::<usize>()
        })
    });
    group.finish();
    criterion.final_summary();
}
