//! A week of per-minute ticks for 50 instances in 5 zones, across the European DST change of
//! 2026-10-25, on a simulated clock and a pure fake fleet that applies decisions to states.
//! The expectation is computed independently with `Schedule::occurrences`.
//! `cargo test -p curfew-engine --test governor_scenarios`.

use chrono::{DateTime, TimeDelta, Utc};
use curfew_engine::governor::id::occurrence_id;
use curfew_engine::governor::{
    authorize, decide, effective_schedules, sign, Choice, Config, DecisionKind, DismissalRequest,
    InstanceView, LedgerEntry, LinkKey, Status, TickInput, TickPlan,
};
use curfew_engine::inventory::{Instance, LastOperation};
use curfew_engine::schedule::Action;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

const ZONES: [&str; 5] = [
    "Pacific Standard Time",
    "W. Europe Standard Time",
    "India Standard Time",
    "AUS Eastern Standard Time",
    "UTC",
];
const N: usize = 50;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn cron(action: &str, expr: &str, tz: &str) -> Value {
    json!({"action": action, "triggerType": "Cron", "cron": {"expression": expr, "timeZone": tz}})
}

/// Instance `i`: weekday start at 08:00/08:15/08:30, daily stop at 18:00–18:30, plus extras.
fn schedules(i: usize) -> Vec<Value> {
    let tz = ZONES[i % 5];
    let stop_m = (i % 4) * 10;
    let mut s = vec![
        cron("Start", &format!("{} 8 * * 1-5", (i % 3) * 15), tz),
        cron("Stop", &format!("{stop_m} 18 * * *"), tz),
    ];
    match i % 10 {
        // Europe: 02:30 occurs twice on 2026-10-25; it must fire once.
        1 => s.push(cron("Stop", "30 2 * * *", tz)),
        // Pacific: a weekday Start in the same minute as the Stop: Stop wins.
        0 => s.push(cron("Start", &format!("{stop_m} 18 * * 1-5"), tz)),
        // India: a weekly recurrence on Saturdays at 12:30.
        7 => s.push(
            json!({"action": "Stop", "triggerType": "Recurrence", "recurrence": {
            "frequency": "Week", "interval": 1, "timeZone": tz,
            "schedule": {"hours": [12], "minutes": [30], "weekDays": ["Saturday"]}}}),
        ),
        _ => {}
    }
    s
}

struct Expected {
    instance: usize,
    action: Action,
    at: DateTime<Utc>,
    suppressed: bool,
}

#[derive(Default)]
struct Log {
    /// occurrence id → (tick, kind, repair), every decision ever made.
    decisions: BTreeMap<String, Vec<(DateTime<Utc>, DecisionKind, bool)>>,
    /// (occurrence id, lead) → ticks it was notified at.
    notices: BTreeMap<(String, i64), Vec<DateTime<Utc>>>,
    executed: usize,
}

/// The pure fake fleet: applies a plan to states, lastOperation and the ledger, as the
/// executor and store would, with ARM taking one tick to finish a start or stop.
fn apply(views: &mut [InstanceView], plan: &TickPlan, now: DateTime<Utc>, log: &mut Log) {
    for d in &plan.decisions {
        let v = views.iter_mut().find(|v| v.name == d.instance).unwrap();
        log.decisions
            .entry(d.occurrence_id.clone())
            .or_default()
            .push((now, d.kind, d.repair));
        let status = match d.kind {
            DecisionKind::Execute => {
                log.executed += 1;
                let (state, op) = match d.action {
                    Action::Stop => ("Stopping", "Stop"),
                    Action::Start => ("Starting", "Start"),
                };
                v.state = Some(state.into());
                v.last_operation = Some(op_by(op, "Schedule", now));
                Status::Done
            }
            k => k.status(),
        };
        match v
            .ledger
            .iter_mut()
            .find(|e| e.occurrence_id == d.occurrence_id)
        {
            Some(e) => e.status = status,
            None => v.ledger.push(LedgerEntry {
                status,
                ..LedgerEntry::planned(&d.occurrence_id, d.action, d.at)
            }),
        }
    }
    for n in &plan.notices {
        log.notices
            .entry((n.occurrence_id.clone(), n.lead_minutes))
            .or_default()
            .push(now);
        let v = views.iter_mut().find(|v| v.name == n.instance).unwrap();
        match v
            .ledger
            .iter_mut()
            .find(|e| e.occurrence_id == n.occurrence_id)
        {
            Some(e) => e.notified.push(n.lead_minutes),
            None => v.ledger.push(LedgerEntry {
                notified: vec![n.lead_minutes],
                ..LedgerEntry::planned(&n.occurrence_id, Action::Stop, n.at)
            }),
        }
    }
    for d in &plan.dropped {
        let v = views.iter_mut().find(|v| v.name == d.instance).unwrap();
        if let Some(e) = v
            .ledger
            .iter_mut()
            .find(|e| e.occurrence_id == d.occurrence_id)
        {
            e.notified.push(d.lead_minutes);
        }
    }
}

/// One minute of ARM: transitions finish; old settled ledger records are pruned.
fn settle(views: &mut [InstanceView], now: DateTime<Utc>) {
    for v in views {
        v.state = match v.state.as_deref() {
            Some("Stopping") => Some("Stopped".into()),
            Some("Starting") => Some("Running".into()),
            _ => v.state.clone(),
        };
        v.ledger
            .retain(|e| !(e.status.is_final() && e.at < now - TimeDelta::days(1)));
    }
}

fn op_by(name: &str, trigger: &str, at: DateTime<Utc>) -> LastOperation {
    LastOperation {
        operation_name: Some(name.into()),
        operation_time: Some(at.to_rfc3339()),
        operation_status: Some("Succeeded".into()),
        operation_trigger: Some(trigger.into()),
    }
}

fn state_is(v: &InstanceView, action: Action) -> bool {
    let s = v.state.as_deref().unwrap_or("");
    match action {
        Action::Stop => s == "Stopped" || s == "Stopping",
        Action::Start => s == "Running" || s == "Starting",
    }
}

#[test]
fn a_week_of_ticks_does_every_action_once_at_the_right_minute() {
    let start = t("2026-10-22T00:00:00Z");
    let end = t("2026-10-29T00:00:00Z");
    let gap = (t("2026-10-27T16:50:00Z"), t("2026-10-27T18:50:00Z"));
    let cfg = Config::default();
    let key = LinkKey::new("2026-10", b"scenario link key, 32 bytes long");

    let instances: Vec<Instance> = (0..N)
        .map(|i| Instance {
            name: format!("ci-{i:02}"),
            id: Some(format!("/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w{}/computes/ci-{i:02}", i % 5)),
            state: Some(if i % 2 == 0 { "Running" } else { "Stopped" }.into()),
            assigned_user: Some(format!("user-{i}")),
            schedules: schedules(i),
            ..Default::default()
        })
        .collect();
    let mut views: Vec<InstanceView> = instances
        .iter()
        .map(|inst| {
            let set = effective_schedules(inst, None, &[]);
            assert!(set.diagnostics.is_empty(), "{:?}", set.diagnostics);
            InstanceView::new(inst, set.schedules)
        })
        .collect();

    // The expectation, independently: every occurrence of every schedule in (start, end].
    let mut expected: BTreeMap<String, Expected> = BTreeMap::new();
    for (i, v) in views.iter().enumerate() {
        let mut occ: Vec<(String, Action, DateTime<Utc>)> = Vec::new();
        for es in &v.schedules {
            for o in es
                .schedule
                .occurrences(start + TimeDelta::seconds(1), end + TimeDelta::seconds(1))
            {
                let id = occurrence_id(
                    &v.key(),
                    &es.source,
                    es.index,
                    es.schedule.action,
                    o.at,
                    &es.content_hash,
                );
                occ.push((id, es.schedule.action, o.at));
            }
        }
        let stops: BTreeSet<i64> = occ
            .iter()
            .filter(|o| o.1 == Action::Stop)
            .map(|o| o.2.timestamp() / 60)
            .collect();
        for (id, action, at) in occ {
            let suppressed = action == Action::Start && stops.contains(&(at.timestamp() / 60));
            expected.insert(
                id,
                Expected {
                    instance: i,
                    action,
                    at,
                    suppressed,
                },
            );
        }
    }
    // The European fold: 02:30 on 2026-10-25 fires once, at its first pass (00:30Z).
    let fold: Vec<_> = expected
        .values()
        .filter(|e| e.instance == 1 && e.at.date_naive().to_string() == "2026-10-25")
        .map(|e| e.at)
        .collect();
    assert!(fold.contains(&t("2026-10-25T00:30:00Z")));
    assert!(!fold.contains(&t("2026-10-25T01:30:00Z")));

    // Special cases, chosen by time so that they are independent of the engine's output.
    let first_stop_after = |i: usize, after: &str| -> (String, DateTime<Utc>) {
        expected
            .iter()
            .filter(|(_, e)| e.instance == i && e.action == Action::Stop && e.at > t(after))
            .min_by_key(|(_, e)| e.at)
            .map(|(id, e)| (id.clone(), e.at))
            .unwrap()
    };
    let (skip_id, skip_at) = first_stop_after(3, "2026-10-26T00:00:00Z");
    let (snooze_id, snooze_at) = first_stop_after(4, "2026-10-26T00:00:00Z");
    // Instance 9 (UTC, stop 18:10): its owner starts it at 18:40 on Oct 23; kept until Oct 24 18:10.
    let manual_at = t("2026-10-23T18:40:00Z");
    let (next9_id, next9_at) = first_stop_after(9, "2026-10-23T18:40:00Z");
    // Instance 12 (India, start 08:00 IST = 02:30Z) is Resizing 02:29–02:32Z on Oct 23.
    let resize = (t("2026-10-23T02:29:00Z"), t("2026-10-23T02:32:00Z"));
    // Instance 21 (Europe, stop 18:10 CET = 17:10Z on Oct 27) is restarted by its owner in the gap.
    let restart21 = t("2026-10-27T17:40:00Z");

    let mut log = Log::default();
    let mut watermark: Option<DateTime<Utc>> = Some(start);
    let mut now = start + TimeDelta::minutes(1);
    let mut ticks = 0usize;
    while now <= end {
        let in_gap = now > gap.0 && now < gap.1;
        // The world between ticks: ARM finishes transitions, users act.
        settle(&mut views, now);
        if now == manual_at {
            assert_eq!(views[9].state.as_deref(), Some("Stopped"));
            views[9].state = Some("Running".into());
            views[9].last_operation = Some(op_by("Start", "User", now));
        }
        if now == restart21 {
            views[21].last_operation = Some(op_by("Restart", "User", now));
        }
        if now == resize.0 {
            views[12].state = Some("Resizing".into());
        }
        if now == resize.1 {
            views[12].state = Some("Stopped".into());
        }
        if in_gap {
            now += TimeDelta::minutes(1);
            continue;
        }
        let input = TickInput {
            instances: &views,
            watermark,
            config: &cfg,
        };
        let plan = decide(&input, now);
        ticks += 1;
        // Every action the fake fleet takes holds: no drift, ever (no false alarms).
        assert!(plan.drift.is_empty(), "{now}: {:?}", plan.drift);
        // Owners answer notices: a skip link for instance 3, a 60-min snooze for instance 4.
        for n in &plan.notices {
            let v = views.iter().position(|v| v.name == n.instance).unwrap();
            let request = if n.occurrence_id == skip_id && n.lead_minutes == 30 {
                let token = sign(&key, &n.occurrence_id, Choice::Skip, n.at + cfg.snooze_cap);
                Some(DismissalRequest::from_token(&token).unwrap())
            } else if n.occurrence_id == snooze_id && n.lead_minutes == 5 {
                Some(DismissalRequest {
                    target: curfew_engine::governor::dismiss::Target::Occurrence(
                        n.occurrence_id.clone(),
                    ),
                    choice: Choice::Snooze { minutes: 60 },
                    credential: curfew_engine::governor::dismiss::Credential::ObjectId(
                        "user-4".into(),
                    ),
                })
            } else {
                None
            };
            if let Some(r) = request {
                let a = authorize(&r, &views[v], &cfg, std::slice::from_ref(&key), now).unwrap();
                let ledger = &mut views[v].ledger;
                match ledger
                    .iter_mut()
                    .find(|e| e.occurrence_id == a.occurrence_id)
                {
                    Some(e) => e.dismissal = Some(a.dismissal),
                    None => ledger.push(LedgerEntry {
                        dismissal: Some(a.dismissal),
                        ..LedgerEntry::planned(&a.occurrence_id, a.action, a.at)
                    }),
                }
            }
        }
        apply(&mut views, &plan, now, &mut log);
        // A retry of the same tick (the executor crashed after recording) decides nothing twice;
        // only a deferral is re-stated (idempotent: it stays Deferred).
        let retry = decide(
            &TickInput {
                instances: &views,
                watermark,
                config: &cfg,
            },
            now,
        );
        assert!(
            retry.notices.is_empty()
                && retry
                    .decisions
                    .iter()
                    .all(|d| d.kind == DecisionKind::Defer),
            "retry at {now}: {:?}",
            retry.decisions
        );
        assert_eq!(plan.watermark, now);
        if let Some(d) = plan.next_deadline {
            assert!(d > now);
        }
        if now == gap.1 {
            // After the gap, every instance is where its newest occurrence put it (level-
            // triggered repair), except instance 21, whose owner restarted it in the gap.
            for (i, v) in views.iter().enumerate() {
                let newest = expected
                    .values()
                    .filter(|e| e.instance == i && e.at <= now && !e.suppressed)
                    .max_by_key(|e| (e.at, e.action == Action::Stop))
                    .unwrap();
                if i == 21 {
                    assert!(state_is(v, Action::Start), "ci-21 kept running");
                } else {
                    assert!(
                        state_is(v, newest.action),
                        "ci-{i:02} after the gap: {:?}",
                        v.state
                    );
                }
            }
        }
        watermark = Some(now);
        now += TimeDelta::minutes(1);
    }

    // Every decision is about an expected occurrence; each is settled exactly once.
    let mut repairs = 0;
    let mut missed = 0;
    for (id, ds) in &log.decisions {
        let e = expected
            .get(id)
            .unwrap_or_else(|| panic!("decision for an unexpected occurrence {id}: {ds:?}"));
        let finals: Vec<_> = ds.iter().filter(|d| d.1 != DecisionKind::Defer).collect();
        assert_eq!(
            finals.len(),
            1,
            "ci-{:02} {:?} at {}: {ds:?}",
            e.instance,
            e.action,
            e.at
        );
        let (tick, kind, repair) = *finals[0];
        repairs += usize::from(repair);
        missed += usize::from(kind == DecisionKind::Missed);
        let in_gap = e.at > gap.0 && e.at < gap.1;
        let when = if *id == snooze_id {
            snooze_at + TimeDelta::minutes(60)
        } else if e.instance == 12 && e.at > resize.0 && e.at < resize.1 {
            resize.1
        } else if in_gap {
            gap.1
        } else {
            e.at
        };
        assert_eq!(
            tick, when,
            "ci-{:02} {:?} at {}: {ds:?}",
            e.instance, e.action, e.at
        );
        if e.suppressed {
            assert_eq!(kind, DecisionKind::Suppressed);
        } else if *id == skip_id {
            assert_eq!(kind, DecisionKind::Skipped);
        } else if in_gap && gap.1 - e.at > cfg.catch_up {
            assert!(
                kind == DecisionKind::Missed || (kind == DecisionKind::Execute && repair),
                "gap occurrence {kind:?}"
            );
        } else {
            assert!(
                matches!(kind, DecisionKind::Execute | DecisionKind::NoOp),
                "ci-{:02} {:?} at {}: {kind:?}",
                e.instance,
                e.action,
                e.at
            );
            if e.instance == 12 && e.at > resize.0 && e.at < resize.1 {
                assert_eq!(ds.len(), 3, "deferred twice, then executed: {ds:?}");
            }
        }
    }
    for (id, e) in &expected {
        if e.at > start && e.at <= end {
            assert!(
                log.decisions.contains_key(id),
                "never decided: ci-{:02} {:?} at {}",
                e.instance,
                e.action,
                e.at
            );
        }
    }
    // The manual start of instance 9 was kept: nothing was decided for it in between.
    for (id, ds) in &log.decisions {
        let e = &expected[id];
        if e.instance == 9 {
            assert!(
                ds.iter().all(|d| d.0 <= manual_at || d.0 >= next9_at),
                "{ds:?}"
            );
        }
    }
    assert_eq!(log.decisions[&next9_id][0].1, DecisionKind::Execute);
    // Instance 21's missed stop was not repaired: its owner restarted it after that time.
    let ci21: Vec<_> = log
        .decisions
        .iter()
        .filter(|(id, _)| {
            let e = &expected[*id];
            e.instance == 21 && e.at > gap.0 && e.at < gap.1
        })
        .collect();
    assert_eq!(ci21.len(), 1);
    assert_eq!(ci21[0].1[0].1, DecisionKind::Missed);

    // Notices: each (occurrence, lead) at most once; on time for every ordinary stop; none
    // for a stop that did not happen and was not dismissed (already Stopped: a NoOp).
    let executed = |id: &String| {
        log.decisions
            .get(id)
            .is_some_and(|ds| ds.iter().any(|d| d.1 == DecisionKind::Execute))
    };
    for ((id, lead), at) in &log.notices {
        assert_eq!(at.len(), 1, "notice {id} lead {lead} sent {at:?}");
        // A stop missed while the governor was down (the gap) was warned of truly at the time.
        let outage = expected[id].at > gap.0 && expected[id].at < gap.1;
        assert!(
            executed(id) || *id == skip_id || outage,
            "false warning: {id} lead {lead} at {at:?} ({:?})",
            log.decisions.get(id)
        );
    }
    for (id, e) in &expected {
        let ordinary = e.action == Action::Stop
            && executed(id)
            && e.at - TimeDelta::minutes(30) > start
            && !(e.at > gap.0 - TimeDelta::minutes(30) && e.at < gap.1 + TimeDelta::minutes(30))
            && *id != skip_id
            && *id != snooze_id;
        if ordinary {
            for lead in [30, 5] {
                assert_eq!(
                    log.notices.get(&(id.clone(), lead)),
                    Some(&vec![e.at - TimeDelta::minutes(lead)]),
                    "ci-{:02} stop at {} lead {lead}",
                    e.instance,
                    e.at
                );
            }
        }
    }
    // The skip was sent the 30-min notice only; the snooze got both before it was snoozed.
    assert!(log.notices.contains_key(&(skip_id.clone(), 30)));
    assert!(!log.notices.contains_key(&(skip_id, 5)));
    assert!(log.notices.contains_key(&(snooze_id, 5)));
    let _ = skip_at;

    println!(
        "{ticks} ticks, {} occurrences decided, {} executed, {missed} missed, {repairs} repaired, {} notices",
        log.decisions.len(),
        log.executed,
        log.notices.len()
    );
    // Each instance had one stop in the gap: the newest missed one, so repaired, except ci-21.
    assert!(
        repairs >= 15 && missed >= 1,
        "the gap exercised catch-up and repair"
    );
}
