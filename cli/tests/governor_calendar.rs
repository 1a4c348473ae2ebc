//! Calendars through the governor (docs/calendars.md), end to end: the real runtime against
//! the ARM simulator and a SQLite file, the clock injected tick by tick. The `calendars`
//! setting assigns a `skip-stop` calendar to a tag and an `off` calendar to one instance; the
//! tick, `explain` and the notices agree with `curfew_engine`'s verdict.
//! `cargo test -p curfew --test governor_calendar`.

mod support;

use curfew_engine::governor::DecisionKind;
use curfew_engine::Action;
use curfew_governor::{explain, tick::tick};
use support::*;

fn calendars(dir: &Scratch) -> String {
    let path = dir.path("calendars.json");
    std::fs::write(
        &path,
        r#"{
          "calendars": [
            {"name": "deadline", "dates": ["2036-03-04"]},
            {"name": "closed", "dates": ["2036-03-05"]}
          ],
          "assignments": [
            {"calendar": "deadline", "scope": {"tag": "team=vision"}, "effect": "skip-stop"},
            {"calendar": "closed", "scope": {"instance": "ci-00001"}, "effect": "off"}
          ]
        }"#,
    )
    .unwrap();
    format!("calendars: {}\n", path.display())
}

#[tokio::test]
async fn tick_explain_and_notices_apply_the_calendars() {
    let fleet = uniform(1, 2, &[("Stop", "0 18 * * *"), ("Start", "0 8 * * *")]);
    let mut sim_fleet = sim_fleet(&fleet);
    sim_fleet.computes[0].body["tags"] = serde_json::json!({"team": "vision"});
    let sim = start_sim_fleet(sim_fleet, armsim::SimConfig::default().page_size).await;
    let dir = Scratch::new("calendar-e2e");
    let yaml = config_yaml(
        &sim.base_url(),
        &dir.path("curfew.sqlite"),
        &dir.path("events.jsonl"),
        &calendars(&dir),
    );
    let rt = runtime(&yaml).await;
    let (tagged, other) = (fleet[0].name.as_str(), fleet[1].name.as_str());
    let at = |s: &str| t(&format!("2036-03-{s}:00Z"));

    // `explain` before the deadline day's stop: listed, suppressed by the calendar.
    let e = explain::explain(&rt, tagged, at("04T17:00")).await.unwrap();
    let stop = e
        .next
        .iter()
        .find(|n| n.action == Action::Stop && n.at == at("04T18:00"))
        .unwrap();
    assert_eq!(stop.suppressed_by.as_deref(), Some("calendar:deadline"));
    let later = e.next.iter().find(|n| n.at == at("05T18:00")).unwrap();
    assert_eq!(later.suppressed_by, None);

    // 17:30: only the untagged instance is warned; 18:00: only it is stopped.
    sim.state().set_wall_clock(Some(at("04T17:30")));
    let r = tick(&rt, at("04T17:30"), false).await.unwrap();
    let warned: Vec<&str> = r.notices.iter().map(|n| n.instance.as_str()).collect();
    assert_eq!(warned, [other], "{:?}", r.notices);
    sim.state().set_wall_clock(Some(at("04T18:00")));
    let r = tick(&rt, at("04T18:00"), false).await.unwrap();
    let d = |name: &str| r.decisions.iter().find(|d| d.instance == name).unwrap();
    assert_eq!(d(tagged).kind, DecisionKind::Skipped);
    assert!(
        d(tagged).reason.contains("calendar:deadline"),
        "{}",
        d(tagged).reason
    );
    assert_eq!(d(other).kind, DecisionKind::Execute);

    // The tagged instance keeps running through its deadline; the next day's stop is
    // warned of as usual.
    let e = explain::explain(&rt, tagged, at("04T18:01")).await.unwrap();
    assert_eq!(e.state.as_deref(), Some("Running"));
    // `other` is off on the 5th: its 08:00 start does not fire (it stays stopped) and
    // `explain` lists the calendar's stop at 00:00.
    let e = explain::explain(&rt, other, at("04T18:01")).await.unwrap();
    let off = e
        .next
        .iter()
        .find(|n| n.source == "calendar:closed")
        .unwrap();
    assert_eq!((off.action, off.at), (Action::Stop, at("05T00:00")));
    let start = e
        .next
        .iter()
        .find(|n| n.action == Action::Start && n.at == at("05T08:00"))
        .unwrap();
    assert_eq!(start.suppressed_by.as_deref(), Some("calendar:closed"));
    // The off day's stop is recorded as the calendar's, not as an idle stop.
    for m in ["05T00:00", "05T07:59", "05T08:00"] {
        sim.state().set_wall_clock(Some(at(m)));
        tick(&rt, at(m), false).await.unwrap();
    }
    let r = tick(&rt, at("05T08:00"), false).await.unwrap();
    assert!(r
        .decisions
        .iter()
        .all(|d| d.kind != DecisionKind::Execute || d.instance != other));
    let e = explain::explain(&rt, other, at("05T08:01")).await.unwrap();
    assert_eq!(e.state.as_deref(), Some("Stopped"), "{:?}", e.history);
    assert!(
        e.history.iter().any(|h| h.at == at("05T00:00")
            && h.action == "Stop"
            && h.reason.contains("calendar 'closed' is off")),
        "{:?}",
        e.history
    );
    assert!(
        e.history.iter().any(|h| h.at == at("05T08:00")
            && h.action == "Start"
            && h.state == "Dismissed"
            && h.reason.contains("suppressed by calendar:closed")),
        "{:?}",
        e.history
    );
}
