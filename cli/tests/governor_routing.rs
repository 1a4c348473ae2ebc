//! Routing (issue 13), end to end: the real runtime against the ARM simulator, three JSON-lines
//! channels and rules over tags and event types. `cargo test -p curfew --test governor_routing`.
//!
//! - A tagged instance's notices go to its team's channel, the others' to the rest; stops go to
//!   the operations channel too (a rule with `continue`).
//! - A notice no rule routes anywhere is not marked sent: it is tried again next tick.
//! - `explain` names the channels (label and kind) of the instance's events, never their URLs.

mod support;

use curfew_governor::{explain, tick::tick};
use serde_json::Value;
use support::*;

fn events_in(path: &std::path::Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|e| {
            (
                e["type"].as_str().unwrap_or("").to_owned(),
                e["data"]["instance"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            )
        })
        .collect()
}

fn yaml(endpoint: &str, dir: &Scratch, routes: &str) -> String {
    format!(
        "deployment: e2e\n\
         arm:\n  endpoint: {endpoint}\n  scopes: [/subscriptions/{SUBSCRIPTION}]\n  credential: token-env:{TOKEN_VAR}\n\
         store:\n  sqlite: {}\n\
         notify: [\"vision@jsonl:{}\", \"rest@jsonl:{}\", \"ops@jsonl:{}\"]\n\
         links:\n  baseUrl: http://127.0.0.1:9/api/dismiss\n  keys: [{{id: k1, secretEnv: {LINK_KEY_VAR}}}]\n\
         {routes}",
        dir.path("curfew.sqlite").display(),
        dir.path("vision.jsonl").display(),
        dir.path("rest.jsonl").display(),
        dir.path("ops.jsonl").display(),
    )
}

#[tokio::test]
async fn events_go_to_the_channels_their_rules_select() {
    let fleet = uniform(1, 2, &[("Stop", "0 18 * * *")]);
    let mut sim_fleet = sim_fleet(&fleet);
    sim_fleet.computes[0].body["tags"] = serde_json::json!({"team": "vision"});
    let sim = start_sim_fleet(sim_fleet, armsim::SimConfig::default().page_size).await;
    let dir = Scratch::new("routing");
    let routes = "routes:\n\
        \x20 - {name: ops, events: [\"curfew.instance.*\"], channels: [ops], continue: true}\n\
        \x20 - {name: vision, scope: {tag: team=vision}, channels: [vision]}\n\
        \x20 - {name: rest, channels: [rest]}\n";
    let rt = runtime(&yaml(&sim.base_url(), &dir, routes)).await;
    let at = |hm: &str| t(&format!("2036-03-04T{hm}:00Z"));
    for m in ["17:30", "18:00"] {
        sim.state().set_wall_clock(Some(at(m)));
        tick(&rt, at(m), false).await.unwrap();
    }
    let (tagged, other) = (fleet[0].name.as_str(), fleet[1].name.as_str());
    let pending = "curfew.shutdown.pending";
    let stopped = "curfew.instance.stopped";
    let ev = |k: &str, n: &str| (k.to_owned(), n.to_owned());
    assert_eq!(
        events_in(&dir.path("vision.jsonl")),
        [ev(pending, tagged), ev(stopped, tagged)]
    );
    assert_eq!(
        events_in(&dir.path("rest.jsonl")),
        [ev(pending, other), ev(stopped, other)]
    );
    let mut ops = events_in(&dir.path("ops.jsonl"));
    ops.sort();
    assert_eq!(ops, [ev(stopped, tagged), ev(stopped, other)]);

    // `explain`: channels by label and kind, the matching rules named.
    let e = explain::explain(&rt, tagged, at("18:01")).await.unwrap();
    let line = |kind: &str| {
        e.routes
            .iter()
            .find(|r| r.events.iter().any(|k| k == kind))
            .unwrap()
    };
    assert_eq!(line(pending).channels, ["vision (jsonl)"]);
    assert_eq!(line(pending).rules, ["vision"]);
    assert_eq!(line(stopped).channels, ["ops (jsonl)", "vision (jsonl)"]);
    assert_eq!(line(stopped).rules, ["ops", "vision"]);
}

#[tokio::test]
async fn a_notice_no_rule_routes_is_not_marked_sent() {
    let fleet = uniform(1, 1, &[("Stop", "0 18 * * *")]);
    let sim = start_sim_fleet(sim_fleet(&fleet), armsim::SimConfig::default().page_size).await;
    let dir = Scratch::new("routing-none");
    let routes = "routes:\n  - {name: vision, scope: {tag: team=vision}, channels: [vision]}\n";
    let rt = runtime(&yaml(&sim.base_url(), &dir, routes)).await;
    let at = |hm: &str| t(&format!("2036-03-04T{hm}:00Z"));
    for m in ["17:30", "17:31"] {
        sim.state().set_wall_clock(Some(at(m)));
        let r = tick(&rt, at(m), false).await.unwrap();
        assert_eq!(r.notices.len(), 1, "{m}: sent again: {:?}", r.notices);
        assert_eq!(
            r.notices[0].outcome, "not sent: no channel is configured or routed",
            "{m}"
        );
    }
    assert!(events_in(&dir.path("vision.jsonl")).is_empty());
}

/// Events vanished when a second channel failed: one channel's taking an event removed it from
/// the outbox, so the other never got it. Now the event stays owed to the failing channel only:
/// it gets it (same id) once it works again, and the first is not sent it twice.
#[tokio::test]
async fn a_channel_that_failed_gets_the_event_later_and_the_other_not_twice() {
    let fleet = uniform(1, 1, &[("Stop", "0 18 * * *")]);
    let sim = start_sim_fleet(sim_fleet(&fleet), armsim::SimConfig::default().page_size).await;
    let dir = Scratch::new("routing-owed");
    let late = dir.path("late");
    let yaml = format!(
        "deployment: e2e\n\
         arm:\n  endpoint: {}\n  scopes: [/subscriptions/{SUBSCRIPTION}]\n  credential: token-env:{TOKEN_VAR}\n\
         store:\n  sqlite: {}\n\
         notify: [\"up@jsonl:{}\", \"down@jsonl:{}\"]\n\
         links:\n  baseUrl: http://127.0.0.1:9/api/dismiss\n  keys: [{{id: k1, secretEnv: {LINK_KEY_VAR}}}]\n",
        sim.base_url(),
        dir.path("curfew.sqlite").display(),
        dir.path("up.jsonl").display(),
        late.join("down.jsonl").display(),
    );
    let rt = runtime(&yaml).await;
    let at = |hm: &str| t(&format!("2036-03-04T{hm}:00Z"));
    let ids = |path: &std::path::Path| -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["type"] == "curfew.shutdown.pending")
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    // 17:30: `down`'s folder does not exist yet, so it fails; `up` takes the notice.
    sim.state().set_wall_clock(Some(at("17:30")));
    let r = tick(&rt, at("17:30"), false).await.unwrap();
    assert!(
        r.notices[0].outcome.starts_with("sent to 1 of 2"),
        "{:?}",
        r.notices
    );
    let sent = ids(&dir.path("up.jsonl"));
    assert_eq!(sent.len(), 1);
    // 17:31: still failing; `up` is not sent it again.
    sim.state().set_wall_clock(Some(at("17:31")));
    tick(&rt, at("17:31"), false).await.unwrap();
    assert_eq!(ids(&dir.path("up.jsonl")), sent);
    // 17:32: `down` works again and gets the same event; 17:33: nothing more anywhere.
    std::fs::create_dir_all(&late).unwrap();
    for m in ["17:32", "17:33"] {
        sim.state().set_wall_clock(Some(at(m)));
        tick(&rt, at(m), false).await.unwrap();
    }
    assert_eq!(
        ids(&late.join("down.jsonl")),
        sent,
        "owed, then delivered once"
    );
    assert_eq!(ids(&dir.path("up.jsonl")), sent, "never twice");
}
