//! Cost (docs/design.md §9): a known fleet and timeline, every expected figure computed by hand below.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use curfew_engine::cost::{
    self, aggregate, evaluate_budgets, parse_budgets, GroupBy, PriceSheet, Timeline, Window,
};

/// Prices chosen to be exact in binary so the hand computation is exact too.
const PRICES: &str = r#"{"currency": "USD", "asOf": "test", "source": "test sheet",
  "prices": {"Standard_NC6s_v3": 3.0, "Standard_DS3_v2": 0.25, "Standard_E4s_v3": 0.5}}"#;

/// Four instances over 2026-03-02 and 2026-03-03 (UTC).
///
/// ci-ana (NC6s_v3, 3.00/h, owner ana, workspace vision): running since before the window;
///   Curfew stops it at 18:00 both days (Stopping until 18:05); Curfew starts it 03-03 08:00.
///   running: 03-02 00:00–18:05 = 18h05 + 03-03 08:00–18:05 = 10h05 → 28h10 = 28.1667 h → 84.50
///   saved:   03-02 18:05 – 03-03 08:00 (the observed start) = 13h55
///          + 03-03 18:05 – 03-04 00:00 (nextStart 08:00 lies past the window end) = 5h55
///          = 19h50 = 19.8333 h → 59.50
/// ci-bo (DS3_v2, 0.25/h, owner bo, workspace vision): the user starts and stops it by hand.
///   running: 03-02 09:00–17:00 = 8 h + 03-03 09:00–21:00 = 12 h → 20 h → 5.00; saved: none
///   (user stops never count).
/// ci-cy (E4s_v3, 0.5/h, owner cy, workspace nlp from its ARM id): first seen Running 03-02 08:00;
///   Curfew idle-stops it at 12:00; the user starts it at 14:00; a Curfew stop at 20:00 fails.
///   running: 08:00–12:00 = 4 h + 03-02 14:00 – 03-04 00:00 = 34 h → 38 h → 19.00
///   saved:   12:00–14:00 = 2 h → 1.00 (the failed stop saves nothing)
/// ci-dee (a size not in the sheet): running all 48 h, priced 0 and listed as unpriced.
///
/// Totals: running 28.1667 + 20 + 38 + 48 = 134.1667 h; spend 84.50 + 5 + 19 = 108.50;
///         saved 19.8333 + 2 = 21.8333 h; savings 59.50 + 1 = 60.50.
/// Per day 03-02: spend ana 18.0833 h × 3 = 54.25, bo 8 × 0.25 = 2, cy 14 × 0.5 = 7 → 63.25;
///                savings ana 5h55 × 3 = 17.75, cy 1 → 18.75.
///         03-03: spend ana 10.0833 × 3 = 30.25, bo 3, cy 12 → 45.25; savings ana
///                (8 h + 5h55) × 3 = 41.75.
const TIMELINE: &str = r#"
# instances
{"kind":"instance","instance":"ci-ana","vmSize":"Standard_NC6s_v3","owner":"ana","workspace":"vision"}
{"kind":"instance","instance":"ci-bo","vmSize":"STANDARD_DS3_V2","owner":"bo","workspace":"vision"}
{"kind":"instance","instance":"ci-cy","vmSize":"Standard_E4s_v3","owner":"cy","computeId":"/subscriptions/S1/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/nlp/computes/ci-cy"}
{"kind":"instance","instance":"ci-dee","vmSize":"Standard_Unknown_v9"}
{"kind":"state","instance":"ci-ana","at":"2026-03-01T22:00:00Z","state":"Running"}
{"kind":"action","instance":"ci-ana","at":"2026-03-02T18:00:00Z","action":"stop","by":"curfew","reason":"schedule 'nightly'","nextStart":"2026-03-03T08:00:00Z"}
{"kind":"state","instance":"ci-ana","at":"2026-03-02T18:00:00Z","state":"Stopping"}
{"kind":"state","instance":"ci-ana","at":"2026-03-02T18:05:00Z","state":"Stopped"}
{"kind":"action","instance":"ci-ana","at":"2026-03-03T08:00:00Z","action":"Start","by":"curfew"}
{"kind":"state","instance":"ci-ana","at":"2026-03-03T08:00:00Z","state":"Starting"}
{"kind":"state","instance":"ci-ana","at":"2026-03-03T08:05:00Z","state":"Running"}
{"kind":"action","instance":"ci-ana","at":"2026-03-03T18:00:00Z","action":"stop","by":"curfew","nextStart":"2026-03-04T08:00:00Z"}
{"kind":"state","instance":"ci-ana","at":"2026-03-03T18:00:00Z","state":"Stopping"}
{"kind":"state","instance":"ci-ana","at":"2026-03-03T18:05:00Z","state":"Stopped"}
{"kind":"state","instance":"ci-bo","at":"2026-03-02T09:00:00Z","state":"Running"}
{"kind":"action","instance":"ci-bo","at":"2026-03-02T17:00:00Z","action":"stop","by":"user"}
{"kind":"state","instance":"ci-bo","at":"2026-03-02T17:00:00Z","state":"Stopped"}
{"kind":"state","instance":"ci-bo","at":"2026-03-03T09:00:00Z","state":"Running"}
{"kind":"state","instance":"ci-bo","at":"2026-03-03T21:00:00Z","state":"Stopped"}
{"kind":"state","instance":"ci-cy","at":"2026-03-02T08:00:00Z","state":"Running"}
{"kind":"action","instance":"ci-cy","at":"2026-03-02T12:00:00Z","action":"stop","by":"curfew","reason":"idle 60 min"}
{"kind":"state","instance":"ci-cy","at":"2026-03-02T12:00:00Z","state":"Stopped"}
{"kind":"action","instance":"ci-cy","at":"2026-03-02T14:00:00Z","action":"start","by":"user"}
{"kind":"state","instance":"ci-cy","at":"2026-03-02T14:00:00Z","state":"Running"}
{"kind":"action","instance":"ci-cy","at":"2026-03-02T20:00:00Z","action":"stop","by":"curfew","succeeded":false}
{"kind":"state","instance":"ci-dee","at":"2026-03-01T00:00:00Z","state":"Running"}
"#;

fn t(day: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, h, 0, 0).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn report() -> cost::CostReport {
    let timeline = Timeline::parse(TIMELINE, "timeline.jsonl").unwrap();
    let prices = PriceSheet::from_json(PRICES, "prices.json").unwrap();
    cost::compute(&timeline, &prices, Window::new(t(2, 0), t(4, 0)).unwrap())
}

#[test]
fn spend_and_savings_of_a_known_fleet() {
    let r = report();
    let h = |hours: f64, minutes: f64| hours + minutes / 60.0;
    let by_name = |n: &str| r.instances.iter().find(|i| i.instance == n).unwrap();
    let ana = by_name("ci-ana");
    assert!(close(ana.running_hours, h(28.0, 10.0)), "{ana:?}");
    assert!(close(ana.spend, 84.5), "{ana:?}");
    assert!(close(ana.saved_hours, h(19.0, 50.0)), "{ana:?}");
    assert!(close(ana.savings, 59.5), "{ana:?}");
    assert_eq!(ana.curfew_stops, 2);
    let bo = by_name("ci-bo");
    assert!(
        close(bo.running_hours, 20.0) && close(bo.spend, 5.0),
        "{bo:?}"
    );
    assert_eq!((bo.saved_hours, bo.savings), (0.0, 0.0));
    let cy = by_name("ci-cy");
    assert!(
        close(cy.running_hours, 38.0) && close(cy.spend, 19.0),
        "{cy:?}"
    );
    assert!(
        close(cy.saved_hours, 2.0) && close(cy.savings, 1.0),
        "{cy:?}"
    );
    assert_eq!(cy.workspace.as_deref(), Some("nlp"));
    assert_eq!(cy.subscription.as_deref(), Some("S1"));
    let dee = by_name("ci-dee");
    assert!(
        close(dee.running_hours, 48.0) && dee.spend == 0.0,
        "{dee:?}"
    );
    assert_eq!(r.unpriced, vec!["ci-dee (Standard_Unknown_v9)".to_string()]);

    assert_eq!(r.totals.instances, 4);
    assert!(
        close(r.totals.running_hours, h(134.0, 10.0)),
        "{:?}",
        r.totals
    );
    assert!(close(r.totals.spend, 108.5), "{:?}", r.totals);
    assert!(close(r.totals.saved_hours, h(21.0, 50.0)), "{:?}", r.totals);
    assert!(close(r.totals.savings, 60.5), "{:?}", r.totals);
}

#[test]
fn per_day_series() {
    let r = report();
    assert_eq!(r.daily.len(), 2);
    let d2 = &r.daily[0];
    assert_eq!(d2.date, NaiveDate::from_ymd_opt(2026, 3, 2).unwrap());
    assert!(close(d2.spend, 63.25) && close(d2.savings, 18.75), "{d2:?}");
    let d3 = &r.daily[1];
    assert!(close(d3.spend, 45.25) && close(d3.savings, 41.75), "{d3:?}");
    let sum: f64 = r.daily.iter().map(|d| d.running_hours).sum();
    assert!(close(sum, r.totals.running_hours));
}

#[test]
fn a_narrower_window_counts_only_its_part() {
    // Only 03-03: the state at 00:00 comes from observations before the window.
    let timeline = Timeline::parse(TIMELINE, "timeline.jsonl").unwrap();
    let prices = PriceSheet::from_json(PRICES, "p").unwrap();
    let r = cost::compute(&timeline, &prices, Window::new(t(3, 0), t(4, 0)).unwrap());
    assert!(close(r.totals.spend, 45.25), "{:?}", r.totals);
    assert!(close(r.totals.savings, 41.75), "{:?}", r.totals);
    assert_eq!(r.daily.len(), 1);
}

#[test]
fn aggregation_by_owner_and_workspace() {
    let r = report();
    let owners = aggregate(&r, GroupBy::Owner);
    let keys: Vec<&str> = owners.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(keys, ["ana", "cy", "bo", "(unknown)"]);
    assert!(close(owners[0].spend, 84.5) && close(owners[0].savings, 59.5));
    let ws = aggregate(&r, GroupBy::Workspace);
    assert_eq!(ws[0].key, "vision");
    assert_eq!(ws[0].instances, 2);
    assert!(close(ws[0].spend, 89.5), "{:?}", ws[0]);
    assert!(close(ws[1].spend, 19.0) && ws[1].key == "nlp");
    assert_eq!(aggregate(&r, GroupBy::Instance).len(), 4);
    let subs = aggregate(&r, GroupBy::Subscription);
    assert_eq!(subs[0].key, "(unknown)");
    assert!(
        subs[1].key == "S1" && close(subs[1].spend, 19.0),
        "{subs:?}"
    );
}

#[test]
fn budgets_emit_exceeded_events_per_threshold() {
    let budgets = parse_budgets(
        r#"[{"name":"vision","scope":{"workspace":"vision"},"amount":100},
            {"name":"ana","scope":{"owner":"ana"},"amount":80,"thresholds":[50,80,100]},
            {"name":"all","scope":"all","amount":200}]"#,
        "budgets.json",
    )
    .unwrap();
    let status = evaluate_budgets(&budgets, &report());
    // vision: 89.50 of 100 = 89.5 % → 80 only.
    assert!(close(status[0].spent, 89.5));
    let t: Vec<f64> = status[0].exceeded.iter().map(|e| e.threshold).collect();
    assert_eq!(t, [80.0]);
    let e = &status[0].exceeded[0];
    assert_eq!(e.scope, "workspace:vision");
    assert_eq!(e.dedup_key, "budget/vision/2026-03-02T00:00:00+00:00/80");
    assert_eq!(e.currency, "USD");
    // ana: 84.50 of 80 = 105.6 % → 50, 80, 100.
    assert_eq!(status[1].exceeded.len(), 3);
    // all: 108.50 of 200 = 54 % → nothing.
    assert!(status[2].exceeded.is_empty());
    assert_eq!(cost::BUDGET_EXCEEDED_EVENT, "curfew.budget.exceeded");
    let err = parse_budgets(
        r#"[{"name":"x","scope":{"team":"y"},"amount":1}]"#,
        "b.json",
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("b.json: [0].scope"), "{err}");
    let err = parse_budgets(r#"[{"name":"x","scope":"all","amount":0}]"#, "b.json").unwrap_err();
    assert!(err.to_string().contains("[0].amount"), "{err}");
}

#[test]
fn timeline_errors_name_line_and_field() {
    let err = Timeline::parse(
        "{\"kind\":\"state\",\"instance\":\"a\",\"at\":\"2026-03-02T00:00:00Z\",\"state\":\"Running\"}\n\n{\"kind\":\"state\",\"instance\":\"a\",\"at\":\"noon\",\"state\":\"Running\"}",
        "t.jsonl",
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("t.jsonl: line 3: at:"), "{err}");
    let err = Timeline::parse(r#"[{"kind":"action","instance":"a","at":"2026-03-02T00:00:00Z","action":"reboot","by":"curfew"}]"#, "t.json").unwrap_err();
    assert!(err.to_string().starts_with("t.json: [0].action:"), "{err}");
    let err = Timeline::parse(r#"{"kind":"weather"}"#, "t.jsonl").unwrap_err();
    assert_eq!(err.to_string(), "t.jsonl: line 1: kind: unknown kind 'weather'; expected \"instance\", \"state\" or \"action\"");
    assert!(Window::new(t(3, 0), t(2, 0)).is_err());
}

#[test]
fn the_array_form_reads_the_same() {
    let lines = Timeline::parse(TIMELINE, "t.jsonl").unwrap();
    let array: Vec<serde_json::Value> = TIMELINE
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let array = Timeline::parse(&serde_json::to_string(&array).unwrap(), "t.json").unwrap();
    assert_eq!(lines, array);
}

#[test]
fn the_shipped_price_sheet_loads_and_says_where_it_comes_from() {
    let sheet = PriceSheet::defaults();
    assert_eq!(sheet.currency, "USD");
    assert_eq!(sheet.region.as_deref(), Some("eastus"));
    assert!(sheet.as_of.is_some());
    let provenance = sheet.provenance();
    assert!(
        provenance.contains("Approximate") && provenance.contains("NOT fetched"),
        "{provenance}"
    );
    assert!(sheet.price("STANDARD_NC6").is_some());
    assert!(sheet.price("Standard_DS3_v2").is_some());
    assert!(sheet.prices.len() >= 30);
    assert!(PriceSheet::from_json(r#"{"currency":"USD","prices":{"x":-1}}"#, "p").is_err());
}

#[test]
fn metadata_from_an_inventory() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/arm");
    let get: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("2025-12-01_Compute_get_ComputeInstance.json")).unwrap(),
    )
    .unwrap();
    let inv =
        curfew_engine::inventory::parse(&get["responses"]["200"]["body"].to_string(), "get.json")
            .unwrap();
    let meta = cost::InstanceMeta::from_instance(&inv.instances[0]);
    assert_eq!(meta.vm_size.as_deref(), Some("STANDARD_NC6"));
    assert_eq!(meta.workspace.as_deref(), Some("workspaces123"));
    assert_eq!(
        meta.subscription.as_deref(),
        Some("34adfa4f-cedf-4dc0-ba29-b6d1a69ab345")
    );
    assert_eq!(
        meta.owner.as_deref(),
        Some("00000000-0000-0000-0000-000000000000")
    );
}

/// Benchmark: 100 000 instances × 30 days, each day started at 08:00 and stopped by Curfew at
/// 18:00 (4 states + 2 actions a day: 18 million records). Run with
/// `cargo test --release -p curfew-engine --test cost -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark; run with --release -- --ignored --nocapture"]
#[allow(clippy::disallowed_methods)] // a benchmark measures wall time
fn bench_100k_instances_30_days() {
    use cost::{ActionRecord, Actor, InstanceMeta, PowerAction, StateObservation, TimelineEvent};
    let sizes = ["Standard_DS3_v2", "Standard_NC6s_v3", "Standard_E4s_v3"];
    let mut timeline = Timeline::default();
    for i in 0..100_000u32 {
        let name = format!("ci-{i:06}");
        timeline.push(TimelineEvent::Instance(InstanceMeta {
            instance: name.clone(),
            vm_size: Some(sizes[i as usize % 3].into()),
            owner: Some(format!("owner-{}", i % 5000)),
            workspace: Some(format!("ws-{}", i % 97)),
            ..InstanceMeta::default()
        }));
        for day in 0..30 {
            let d =
                Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + chrono::TimeDelta::days(day);
            let h = |hh: i64, mm: i64| d + chrono::TimeDelta::minutes(hh * 60 + mm);
            for (at, state) in [
                (h(8, 0), "Starting"),
                (h(8, 5), "Running"),
                (h(18, 0), "Stopping"),
                (h(18, 5), "Stopped"),
            ] {
                timeline.push(TimelineEvent::State(StateObservation {
                    instance: name.clone(),
                    at,
                    state: state.into(),
                }));
            }
            timeline.push(TimelineEvent::Action(ActionRecord {
                instance: name.clone(),
                at: h(8, 0),
                action: PowerAction::Start,
                by: Actor::Curfew,
                reason: None,
                next_start: None,
                succeeded: true,
            }));
            timeline.push(TimelineEvent::Action(ActionRecord {
                instance: name.clone(),
                at: h(18, 0),
                action: PowerAction::Stop,
                by: Actor::Curfew,
                reason: None,
                next_start: Some(h(32, 0)),
                succeeded: true,
            }));
        }
    }
    timeline.sort();
    let prices = PriceSheet::defaults();
    let window = Window::new(t(1, 0), Utc.with_ymd_and_hms(2026, 3, 31, 0, 0, 0).unwrap()).unwrap();
    let mut best = std::time::Duration::MAX;
    let mut report = None;
    for _ in 0..3 {
        let start = std::time::Instant::now();
        let r = cost::compute(&timeline, &prices, window);
        let _ = aggregate(&r, GroupBy::Owner);
        let _ = aggregate(&r, GroupBy::Workspace);
        best = best.min(start.elapsed());
        report = Some(r);
    }
    let r = report.unwrap();
    println!("cost::compute + 2 aggregations, 100k instances × 30 days: best of 3 = {best:?}");
    // 30 days × 10 h 05 min running per instance.
    assert!(close(
        r.totals.running_hours,
        100_000.0 * 30.0 * (10.0 + 5.0 / 60.0)
    ));
    assert_eq!(r.daily.len(), 30);
}
