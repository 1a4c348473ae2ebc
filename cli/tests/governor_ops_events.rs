//! Events for operations (issue 13), end to end: the real runtime against the ARM simulator and
//! a SQLite file, on simulated time. `cargo test -p curfew --test governor_ops_events`.
//!
//! - Drift: the simulator accepts a stop, says it succeeded, and leaves the instance Running;
//!   `curfew.drift.detected` goes out once, at the first tick past the deadline.
//! - A deferral that gives up: an instance Resizing through its stop's deadline gets
//!   `curfew.action.failed`.
//! - An idle state that becomes unknown (the activity reports stop): `curfew.idle.unknown`
//!   once per episode, not every tick.
//! - The heartbeat: every completed tick records its `now`; a dry run does not.

mod support;

use chrono::{DateTime, Utc};
use curfew_engine::idle::ActivityReport;
use curfew_governor::tick::tick;
use serde_json::Value;
use support::*;

fn events_of(path: &std::path::Path, kind: &str) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["type"] == kind)
        .collect()
}

#[tokio::test]
async fn drift_failed_deferrals_unknown_idle_and_the_heartbeat_are_reported_once() {
    // ci-00000 (drifts), ci-00001 (Resizing through its stop), ci-00002 (idle reports stop).
    let fleet = uniform(1, 3, &[("Stop", "0 18 * * *")]);
    let mut sim_fleet = sim_fleet(&fleet);
    sim_fleet.computes[1].body["properties"]["properties"]["state"] = "Resizing".into();
    sim_fleet.computes[2].body["properties"]["properties"]["idleTimeBeforeShutdown"] =
        "PT30M".into();
    let sim = start_sim_fleet(sim_fleet, armsim::SimConfig::default().page_size).await;
    let drifting = fleet[0].workspace.compute_id(&fleet[0].name);
    sim.state().lose_stops(&drifting, true);
    let dir = Scratch::new("ops-events");
    let events = dir.path("events.jsonl");
    let yaml = config_yaml(&sim.base_url(), &dir.path("curfew.sqlite"), &events, "");
    let rt = runtime(&yaml).await;
    let at = |hm: &str| t(&format!("2036-03-04T{hm}:00Z"));
    let run = |now: DateTime<Utc>| {
        sim.state().set_wall_clock(Some(now));
        tick(&rt, now, false)
    };

    // Idle: one busy report at 16:00 (threshold 30 min), then silence.
    let idle = &fleet[2];
    let report = ActivityReport {
        compute_id: Some(idle.workspace.compute_id(&idle.name)),
        kernels: 1,
        ..ActivityReport::quiet(&idle.name, at("16:00"))
    };
    curfew_governor::activity::record(&rt, &report, at("16:00"))
        .await
        .unwrap();
    assert_eq!(rt.last_tick().await.unwrap(), None);
    let r = run(at("16:20")).await.unwrap();
    assert!(r.idle.is_empty(), "{:?}", r.idle);
    assert_eq!(rt.last_tick().await.unwrap(), Some(at("16:20")));
    let r = run(at("16:31")).await.unwrap();
    assert_eq!(r.idle.len(), 1, "{:?}", r.idle);
    assert!(r.idle[0].contains("idle state unknown"), "{}", r.idle[0]);
    let r = run(at("16:32")).await.unwrap();
    assert_eq!(r.idle.len(), 1, "still unknown, still listed");
    let unknown = events_of(&events, "curfew.idle.unknown");
    assert_eq!(unknown.len(), 1, "once per episode: {unknown:?}");
    assert_eq!(unknown[0]["data"]["instance"]["name"], idle.name.as_str());
    assert_eq!(unknown[0]["data"]["lastReport"], "2036-03-04T16:00:00Z");

    // Stops at 18:00: ci-00000's is accepted and lost; ci-00001 is Resizing (deferred).
    let r = run(at("18:00")).await.unwrap();
    assert_eq!(events_of(&events, "curfew.instance.stopped").len(), 2);
    assert!(r.drift.is_empty());
    for m in ["18:10", "18:14"] {
        let r = run(at(m)).await.unwrap();
        assert!(r.drift.is_empty(), "{m}: within the grace: {:?}", r.drift);
    }
    let r = run(at("18:15")).await.unwrap();
    assert_eq!(r.drift.len(), 1, "{:?}", r.drift);
    assert!(r.drift[0].starts_with(&fleet[0].name), "{}", r.drift[0]);
    let r = run(at("18:16")).await.unwrap();
    assert_eq!(r.drift.len(), 1, "still drifting, still listed");
    let drift = events_of(&events, "curfew.drift.detected");
    assert_eq!(drift.len(), 1, "once per occurrence: {drift:?}");
    let d = &drift[0]["data"];
    assert_eq!(d["instance"]["name"], fleet[0].name.as_str());
    assert_eq!(
        (d["expected"].as_str(), d["observed"].as_str()),
        (Some("Stopped"), Some("Running"))
    );
    assert_eq!(d["dueUtc"], "2036-03-04T18:00:00Z");

    // ci-00001 was deferred from 18:00 and gives up after the 30-min deadline.
    assert!(events_of(&events, "curfew.action.failed").is_empty());
    let r = run(at("18:31")).await.unwrap();
    assert!(
        r.decisions
            .iter()
            .any(|d| d.instance == fleet[1].name && format!("{:?}", d.kind) == "Failed"),
        "{:?}",
        r.decisions
    );
    run(at("18:32")).await.unwrap();
    let failed = events_of(&events, "curfew.action.failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(
        failed[0]["data"]["instance"]["name"],
        fleet[1].name.as_str()
    );
    assert!(failed[0]["data"]["error"]
        .as_str()
        .unwrap()
        .starts_with("gave up after"));

    // A dry run decides but records no heartbeat.
    tick(&rt, at("18:40"), true).await.unwrap();
    assert_eq!(rt.last_tick().await.unwrap(), Some(at("18:32")));

    // The once-only marks are timed at what they are about (the drifting stop's due time, the
    // report the idle state is unknown since): kept through the retention horizon, then swept
    // by a tick, so they do not grow with time (docs/store.md).
    use curfew_store::MarkKind;
    let drift_mark = format!(
        "{}{}",
        curfew_governor::tick::DRIFT_MARK_PREFIX,
        d["occurrenceId"].as_str().unwrap()
    );
    let idle_mark = format!(
        "{}{}/{}",
        curfew_governor::tick::IDLE_UNKNOWN_MARK_PREFIX,
        idle.workspace.compute_id(&idle.name).to_ascii_lowercase(),
        at("16:00").timestamp()
    );
    let marked = [
        (drift_mark.as_str(), at("18:00")),
        (idle_mark.as_str(), at("16:00")),
    ];
    for (mark, when) in marked {
        assert!(
            !rt.store
                .mark_once(MarkKind::Event, mark, when)
                .await
                .unwrap(),
            "{mark}: set by the tick, timed at {when}"
        );
    }
    let later = at("18:40") + rt.config.retention + chrono::TimeDelta::days(1);
    sim.state().set_wall_clock(Some(later));
    tick(&rt, later, false).await.unwrap();
    for (mark, when) in marked {
        assert!(
            rt.store
                .mark_once(MarkKind::Event, mark, when)
                .await
                .unwrap(),
            "{mark}: swept past the horizon"
        );
    }
}

#[tokio::test]
async fn a_default_policy_applied_is_said_once_per_instance_and_content() {
    let fleet = uniform(1, 1, &[]);
    let mut sim_fleet = sim_fleet(&fleet);
    let props = sim_fleet.computes[0].body["properties"]["properties"]
        .as_object_mut()
        .unwrap();
    props.remove("schedules");
    props.remove("idleTimeBeforeShutdown");
    let sim = start_sim_fleet(sim_fleet, armsim::SimConfig::default().page_size).await;
    let dir = Scratch::new("ops-policy");
    let events = dir.path("events.jsonl");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/policies");
    let extra = format!(
        "policies:\n  - {{file: {}}}\n  - {{file: {}}}\n",
        root.join("default-stop-schedule-2200-pst.json").display(),
        root.join("idle-shutdown-default-pt60m.json").display()
    );
    let yaml = config_yaml(&sim.base_url(), &dir.path("curfew.sqlite"), &events, &extra);
    let rt = runtime(&yaml).await;
    let now = t("2036-03-04T12:00:00Z");
    // A dry run says nothing.
    tick(&rt, now, true).await.unwrap();
    let r = tick(&rt, now, false).await.unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    for m in 1..3 {
        tick(&rt, now + chrono::TimeDelta::minutes(m), false)
            .await
            .unwrap();
    }
    let applied = events_of(&events, "curfew.policy.applied");
    let what: Vec<(String, String)> = applied
        .iter()
        .map(|e| {
            (
                e["data"]["policy"].as_str().unwrap().to_string(),
                e["data"]["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(applied.len(), 2, "once each, not every tick: {what:?}");
    assert!(
        what.iter()
            .any(|(p, d)| p == "default-stop-schedule-2200-pst"
                && d.starts_with("supplies Stop Cron 0 22 * * *")),
        "{what:?}"
    );
    assert!(
        what.iter().any(|(p, d)| p == "idle-shutdown-default-pt60m"
            && d.contains("idleTimeBeforeShutdown PT60M")),
        "{what:?}"
    );
    // Another process (a fresh runtime on the same store) does not say it again.
    let again = runtime(&yaml).await;
    tick(&again, now + chrono::TimeDelta::minutes(5), false)
        .await
        .unwrap();
    assert_eq!(events_of(&events, "curfew.policy.applied").len(), 2);
}
