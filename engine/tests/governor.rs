//! The governor's rules, one test each: every test fails if its rule is broken.
//! `cargo test -p curfew-engine --test governor`.

use chrono::{DateTime, TimeDelta, Utc};
use curfew_engine::governor::dismiss::{Credential, Target};
use curfew_engine::governor::id::{idle_occurrence_id, occurrence_id};
use curfew_engine::governor::{
    authorize, decide, effective_schedules, sign, AcceptedDismissal, Authority, Choice, Config,
    DecisionKind, Dismissal, DismissalRequest, IdleStop, InstanceView, LedgerEntry, LinkError,
    LinkKey, Rejection, Status, TickInput, TickPlan,
};
use curfew_engine::inventory::{Instance, LastOperation};
use curfew_engine::schedule::{Action, Source};
use serde_json::{json, Value};

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn cron(action: &str, expr: &str, tz: &str) -> Value {
    json!({"action": action, "triggerType": "Cron", "cron": {"expression": expr, "timeZone": tz}})
}

/// The test instance `ci-1`, owned by `owner-oid`, in `state` with native `schedules`.
fn instance(state: &str, schedules: Vec<Value>) -> Instance {
    Instance {
        name: "ci-1".into(),
        id: Some("/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w/computes/ci-1".into()),
        state: Some(state.into()),
        assigned_user: Some("owner-oid".into()),
        created_by: Some("creator-oid".into()),
        schedules,
        ..Default::default()
    }
}

fn view(state: &str, schedules: Vec<Value>) -> InstanceView {
    let inst = instance(state, schedules);
    let set = effective_schedules(&inst, None, &[]);
    assert!(set.diagnostics.is_empty(), "{:?}", set.diagnostics);
    InstanceView::new(&inst, set.schedules)
}

fn tick(v: &InstanceView, watermark: Option<&str>, now: &str) -> TickPlan {
    tick_with(v, &Config::default(), watermark, now)
}

fn tick_with(v: &InstanceView, cfg: &Config, watermark: Option<&str>, now: &str) -> TickPlan {
    decide(
        &TickInput {
            instances: std::slice::from_ref(v),
            watermark: watermark.map(t),
            config: cfg,
        },
        t(now),
    )
}

/// What the executor and store would do with a plan (ARM calls succeed at once).
fn record(v: &mut InstanceView, plan: &TickPlan) {
    for d in &plan.decisions {
        let status = match d.kind {
            DecisionKind::Execute => Status::Done,
            k => k.status(),
        };
        match v
            .ledger
            .iter_mut()
            .find(|e| e.occurrence_id == d.occurrence_id)
        {
            Some(e) => e.status = status,
            None => {
                let mut e = LedgerEntry::planned(&d.occurrence_id, d.action, d.at);
                e.status = status;
                v.ledger.push(e);
            }
        }
    }
    for n in &plan.notices {
        match v
            .ledger
            .iter_mut()
            .find(|e| e.occurrence_id == n.occurrence_id)
        {
            Some(e) => e.notified.push(n.lead_minutes),
            None => {
                let mut e = LedgerEntry::planned(&n.occurrence_id, Action::Stop, n.at);
                e.notified.push(n.lead_minutes);
                v.ledger.push(e);
            }
        }
    }
    for d in &plan.dropped {
        let e = v
            .ledger
            .iter_mut()
            .find(|e| e.occurrence_id == d.occurrence_id);
        e.expect("dropped notices belong to decided stops")
            .notified
            .push(d.lead_minutes);
    }
}

fn kinds(p: &TickPlan) -> Vec<(Action, DecisionKind)> {
    p.decisions.iter().map(|d| (d.action, d.kind)).collect()
}

const STOP_18: &str = "0 18 * * *";

// ---------------------------------------------------------------------------------------- ticks

#[test]
fn an_occurrence_on_time_executes_with_id_and_reason() {
    let v = view(
        "Running",
        vec![cron("Stop", STOP_18, "Pacific Standard Time")],
    );
    let p = tick(&v, Some("2026-11-03T01:59:00Z"), "2026-11-03T02:00:00Z");
    assert_eq!(kinds(&p), vec![(Action::Stop, DecisionKind::Execute)]);
    let d = &p.decisions[0];
    let es = &v.schedules[0];
    assert_eq!(
        d.occurrence_id,
        occurrence_id(
            &v.key(),
            &Source::Native,
            0,
            Action::Stop,
            d.at,
            &es.content_hash
        )
    );
    assert_eq!(d.at, t("2026-11-03T02:00:00Z"));
    assert_eq!(d.schedule.as_ref().unwrap().index, 0);
    assert_eq!(d.instance, "ci-1");
    assert!(
        d.reason.starts_with(
            "stop: schedule 0 'Cron 0 18 * * *' (Pacific Standard Time) at 18:00 PST on Mon 2026-11-02"
        ),
        "{}",
        d.reason
    );
    assert_eq!(p.watermark, t("2026-11-03T02:00:00Z"));
}

#[test]
fn the_window_is_open_below_and_closed_above() {
    let v = view("Running", vec![cron("Stop", STOP_18, "UTC")]);
    // (18:00, 18:01]: the 18:00 occurrence belongs to the previous tick.
    assert!(
        tick(&v, Some("2026-03-02T18:00:00Z"), "2026-03-02T18:01:00Z")
            .decisions
            .is_empty()
    );
    assert_eq!(
        tick(&v, Some("2026-03-02T17:59:00Z"), "2026-03-02T18:00:00Z")
            .decisions
            .len(),
        1
    );
}

#[test]
fn first_run_looks_back_only_catch_up() {
    let v = view("Running", vec![cron("Stop", STOP_18, "UTC")]);
    assert_eq!(
        kinds(&tick(&v, None, "2026-03-02T18:15:00Z")),
        vec![(Action::Stop, DecisionKind::Execute)]
    );
    assert!(tick(&v, None, "2026-03-02T18:16:00Z").decisions.is_empty());
}

#[test]
fn late_within_catch_up_executes_and_says_how_late() {
    let v = view("Running", vec![cron("Stop", STOP_18, "UTC")]);
    let p = tick(&v, Some("2026-03-02T17:00:00Z"), "2026-03-02T18:15:00Z");
    assert_eq!(kinds(&p), vec![(Action::Stop, DecisionKind::Execute)]);
    assert!(!p.decisions[0].repair);
    assert!(
        p.decisions[0].reason.contains("15 min late"),
        "{}",
        p.decisions[0].reason
    );
}

#[test]
fn older_than_catch_up_is_missed_and_the_newest_is_repaired() {
    let v = view("Running", vec![cron("Stop", "0,30 16 * * *", "UTC")]);
    let p = tick(&v, Some("2026-03-02T15:50:00Z"), "2026-03-02T18:00:00Z");
    let by_at: Vec<_> = p
        .decisions
        .iter()
        .map(|d| (d.at, d.kind, d.repair))
        .collect();
    assert_eq!(
        by_at,
        vec![
            (t("2026-03-02T16:00:00Z"), DecisionKind::Missed, false),
            (t("2026-03-02T16:30:00Z"), DecisionKind::Execute, true),
        ]
    );
    assert!(p.decisions[1].reason.contains("missed: 1 h 30 min late"));
    assert!(p.decisions[1].reason.contains("applied as repair"));
}

#[test]
fn no_repair_when_already_in_the_desired_state() {
    let v = view("Stopped", vec![cron("Stop", STOP_18, "UTC")]);
    let p = tick(&v, Some("2026-03-02T17:00:00Z"), "2026-03-02T20:00:00Z");
    assert_eq!(kinds(&p), vec![(Action::Stop, DecisionKind::Missed)]);
    assert!(p.decisions[0]
        .reason
        .contains("not repaired: instance is already Stopped"));
}

#[test]
fn no_repair_when_a_user_changed_it_after_the_occurrence() {
    let mut v = view("Running", vec![cron("Stop", STOP_18, "UTC")]);
    v.last_operation = Some(LastOperation {
        operation_name: Some("Start".into()),
        operation_time: Some("2026-03-02T19:00:00Z".into()),
        operation_status: Some("Succeeded".into()),
        operation_trigger: Some("User".into()),
    });
    let p = tick(&v, Some("2026-03-02T17:00:00Z"), "2026-03-02T20:00:00Z");
    assert_eq!(kinds(&p), vec![(Action::Stop, DecisionKind::Missed)]);
    assert!(p.decisions[0].reason.contains("manual change respected"));
    // A schedule-triggered start at the same time is not a manual change: repaired.
    v.last_operation.as_mut().unwrap().operation_trigger = Some("Schedule".into());
    let p = tick(&v, Some("2026-03-02T17:00:00Z"), "2026-03-02T20:00:00Z");
    assert_eq!(kinds(&p), vec![(Action::Stop, DecisionKind::Execute)]);
}

#[test]
fn no_repair_when_a_later_occurrence_is_decided() {
    let v = view(
        "Stopped",
        vec![
            cron("Stop", "0 16 * * *", "UTC"),
            cron("Start", "50 17 * * *", "UTC"),
        ],
    );
    let p = tick(&v, Some("2026-03-02T15:00:00Z"), "2026-03-02T18:00:00Z");
    assert_eq!(
        kinds(&p),
        vec![
            (Action::Stop, DecisionKind::Missed),
            (Action::Start, DecisionKind::Execute)
        ]
    );
    assert!(p.decisions[0]
        .reason
        .contains("not repaired: a later Start"));
    // Same when the later occurrence was decided in an earlier tick (ledger).
    let v2 = {
        let mut v2 = v.clone();
        v2.ledger.push(LedgerEntry {
            status: Status::Done,
            ..LedgerEntry::planned("x", Action::Start, t("2026-03-02T17:50:00Z"))
        });
        v2
    };
    let p = tick(&v2, Some("2026-03-02T15:00:00Z"), "2026-03-02T17:40:00Z");
    assert_eq!(kinds(&p), vec![(Action::Stop, DecisionKind::Missed)]);
}

#[test]
fn a_manual_start_after_the_stop_time_is_kept_within_catch_up() {
    let mut v = view("Running", vec![cron("Stop", STOP_18, "UTC")]);
    v.last_operation = Some(LastOperation {
        operation_name: Some("Start".into()),
        operation_time: Some("2026-03-02T18:05:00Z".into()),
        operation_status: Some("Succeeded".into()),
        operation_trigger: Some("User".into()),
    });
    let p = tick(&v, Some("2026-03-02T17:59:00Z"), "2026-03-02T18:10:00Z");
    assert_eq!(kinds(&p), vec![(Action::Stop, DecisionKind::NoOp)]);
    assert!(p.decisions[0]
        .reason
        .contains("a user ran Start at 2026-03-02 18:05 UTC"));
}

#[test]
fn state_aware_no_ops() {
    for (state, action) in [
        ("Stopped", "Stop"),
        ("Stopping", "Stop"),
        ("Running", "Start"),
        ("Starting", "Start"),
    ] {
        let v = view(state, vec![cron(action, STOP_18, "UTC")]);
        let p = tick(&v, Some("2026-03-02T17:59:00Z"), "2026-03-02T18:00:00Z");
        assert_eq!(
            p.decisions[0].kind,
            DecisionKind::NoOp,
            "{action} on {state}"
        );
        assert!(p.decisions[0]
            .reason
            .contains(&format!("instance is {state}: nothing to do")));
    }
    let v = view("Stopped", vec![cron("Start", STOP_18, "UTC")]);
    let p = tick(&v, Some("2026-03-02T17:59:00Z"), "2026-03-02T18:00:00Z");
    assert_eq!(p.decisions[0].kind, DecisionKind::Execute);
}

#[test]
fn transitional_states_defer_until_the_deadline_then_fail() {
    for state in [
        "Creating",
        "Deleting",
        "Resizing",
        "Restarting",
        "SettingUp",
        "Unusable",
        "StartFailed",
        "Whatever",
    ] {
        let mut v = view(state, vec![cron("Stop", STOP_18, "UTC")]);
        let p = tick(&v, Some("2026-03-02T17:59:00Z"), "2026-03-02T18:00:00Z");
        assert_eq!(
            kinds(&p),
            vec![(Action::Stop, DecisionKind::Defer)],
            "{state}"
        );
        assert_eq!(p.next_deadline, Some(t("2026-03-02T18:01:00Z")));
        record(&mut v, &p);
        // Still transitional 20 min later (beyond catch-up, within the deadline): deferred again.
        let p = tick(&v, Some("2026-03-02T18:19:00Z"), "2026-03-02T18:20:00Z");
        assert_eq!(
            kinds(&p),
            vec![(Action::Stop, DecisionKind::Defer)],
            "{state}"
        );
        // Past the 30-min deadline: failed, with the reason.
        let p = tick(&v, Some("2026-03-02T18:30:00Z"), "2026-03-02T18:31:00Z");
        assert_eq!(
            kinds(&p),
            vec![(Action::Stop, DecisionKind::Failed)],
            "{state}"
        );
        assert!(p.decisions[0].reason.contains("gave up"));
        // Settled in time: executed.
        v.state = Some("Running".into());
        let p = tick(&v, Some("2026-03-02T18:24:00Z"), "2026-03-02T18:25:00Z");
        assert_eq!(
            kinds(&p),
            vec![(Action::Stop, DecisionKind::Execute)],
            "{state}"
        );
    }
}

#[test]
fn stop_wins_over_a_start_in_the_same_minute() {
    let v = view(
        "Stopped",
        vec![cron("Start", STOP_18, "UTC"), cron("Stop", STOP_18, "UTC")],
    );
    let p = tick(&v, Some("2026-03-02T17:59:00Z"), "2026-03-02T18:00:00Z");
    assert_eq!(
        kinds(&p),
        vec![
            (Action::Stop, DecisionKind::NoOp),
            (Action::Start, DecisionKind::Suppressed)
        ]
    );
    assert!(p.decisions[1].reason.contains("Stop wins"));
}

#[test]
fn skipped_occurrences_are_skipped() {
    let mut v = view("Running", vec![cron("Stop", STOP_18, "UTC")]);
    let id = tick(&v, Some("2026-03-02T17:59:00Z"), "2026-03-02T18:00:00Z").decisions[0]
        .occurrence_id
        .clone();
    let mut e = LedgerEntry::planned(&id, Action::Stop, t("2026-03-02T18:00:00Z"));
    e.dismissal = Some(Dismissal::Skip);
    v.ledger.push(e);
    let p = tick(&v, Some("2026-03-02T17:59:00Z"), "2026-03-02T18:00:00Z");
    assert_eq!(kinds(&p), vec![(Action::Stop, DecisionKind::Skipped)]);
    assert!(p.decisions[0].reason.contains("skipped by its owner"));
}

#[test]
fn snoozed_occurrences_wait_then_execute_after_the_watermark_passed_them() {
    let mut v = view("Running", vec![cron("Stop", STOP_18, "UTC")]);
    let id = tick(&v, Some("2026-03-02T17:59:00Z"), "2026-03-02T18:00:00Z").decisions[0]
        .occurrence_id
        .clone();
    let mut e = LedgerEntry::planned(&id, Action::Stop, t("2026-03-02T18:00:00Z"));
    e.dismissal = Some(Dismissal::Snooze {
        until: t("2026-03-02T18:30:00Z"),
    });
    v.ledger.push(e);
    let p = tick(&v, Some("2026-03-02T17:59:00Z"), "2026-03-02T18:00:00Z");
    assert!(p.decisions.is_empty());
    // The new time is warned of (its 30-min lead is now); the next thing due is its 5-min one.
    assert_eq!(p.notices.len(), 1);
    assert_eq!(p.next_deadline, Some(t("2026-03-02T18:25:00Z")));
    assert!(
        tick(&v, Some("2026-03-02T18:28:00Z"), "2026-03-02T18:29:00Z")
            .decisions
            .is_empty()
    );
    let p = tick(&v, Some("2026-03-02T18:29:00Z"), "2026-03-02T18:30:00Z");
    assert_eq!(kinds(&p), vec![(Action::Stop, DecisionKind::Execute)]);
    assert_eq!(p.decisions[0].occurrence_id, id);
    assert!(p.decisions[0]
        .reason
        .contains("snoozed until 2026-03-02 18:30 UTC"));
}

#[test]
fn settled_occurrences_are_never_decided_again() {
    let mut v = view("Running", vec![cron("Stop", STOP_18, "UTC")]);
    let p = tick(&v, Some("2026-03-02T17:59:00Z"), "2026-03-02T18:00:00Z");
    assert_eq!(p.decisions.len(), 1);
    record(&mut v, &p);
    // A retry of the same tick (same watermark, same now) decides nothing twice.
    let again = tick(&v, Some("2026-03-02T17:59:00Z"), "2026-03-02T18:00:00Z");
    assert!(again.decisions.is_empty() && again.notices.is_empty() && again.dropped.is_empty());
    for status in [
        Status::Executing,
        Status::Done,
        Status::Failed,
        Status::Missed,
        Status::NoOp,
        Status::Skipped,
    ] {
        v.ledger[0].status = status;
        assert!(
            tick(&v, Some("2026-03-02T17:59:00Z"), "2026-03-02T18:00:00Z")
                .decisions
                .is_empty(),
            "{status:?}"
        );
    }
}

/// An earlier occurrence still `Executing` (in flight elsewhere, or interrupted too recently to
/// judge) is in doubt: the later Start of the same instance waits (deferred, with the reason),
/// while another instance, and a decision of this one that is not an Execute or NoOp, do not.
#[test]
fn later_occurrences_wait_while_an_earlier_one_of_the_instance_is_in_doubt() {
    let mut v = view(
        "Stopped",
        vec![
            cron("Stop", "0 18 * * *", "UTC"),
            cron("Start", "2 18 * * *", "UTC"),
            cron("Start", "0 17 * * *", "UTC"),
        ],
    );
    let stop = tick(&v, Some("2026-03-02T17:59:00Z"), "2026-03-02T18:00:00Z").decisions[0].clone();
    assert_eq!(
        (stop.action, stop.at),
        (Action::Stop, t("2026-03-02T18:00:00Z"))
    );
    let mut executing = LedgerEntry::planned(&stop.occurrence_id, Action::Stop, stop.at);
    executing.status = Status::Executing;
    v.ledger.push(executing);
    let mut other = v.clone();
    other.name = "ci-2".into();
    other.id = Some(v.id.clone().unwrap().replace("ci-1", "ci-2"));
    other.ledger.clear();
    // 17:00's Start is missed (not rewritten); 18:02's would execute on the Stopped instance.
    let cfg = Config::default();
    let p = decide(
        &TickInput {
            instances: &[v.clone(), other],
            watermark: Some(t("2026-03-02T16:59:00Z")),
            config: &cfg,
        },
        t("2026-03-02T18:03:00Z"),
    );
    let got: Vec<(&str, DateTime<Utc>, DecisionKind, bool)> = p
        .decisions
        .iter()
        .map(|d| {
            let waits = d.reason.ends_with(curfew_engine::governor::IN_DOUBT_WAIT);
            (d.instance.as_str(), d.at, d.kind, waits)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "ci-1",
                t("2026-03-02T17:00:00Z"),
                DecisionKind::Missed,
                false
            ),
            ("ci-1", t("2026-03-02T18:02:00Z"), DecisionKind::Defer, true),
            (
                "ci-2",
                t("2026-03-02T17:00:00Z"),
                DecisionKind::Missed,
                false
            ),
            ("ci-2", t("2026-03-02T18:00:00Z"), DecisionKind::NoOp, false),
            (
                "ci-2",
                t("2026-03-02T18:02:00Z"),
                DecisionKind::Execute,
                false
            ),
        ],
        "{:#?}",
        p.decisions
    );
    // Once it settles, the waiting Start is decided from the ledger.
    record(&mut v, &p);
    v.ledger[0].status = Status::Done;
    v.state = Some("Stopping".into());
    let p = tick(&v, Some("2026-03-02T18:03:00Z"), "2026-03-02T18:04:00Z");
    assert_eq!(kinds(&p), vec![(Action::Start, DecisionKind::Defer)]);
    assert!(
        !p.decisions[0].reason.contains("waiting"),
        "{}",
        p.decisions[0].reason
    );
}

#[test]
fn a_decided_but_never_executed_occurrence_is_picked_up_from_the_ledger() {
    let mut v = view("Running", vec![cron("Stop", STOP_18, "UTC")]);
    let id = tick(&v, Some("2026-03-02T17:59:00Z"), "2026-03-02T18:00:00Z").decisions[0]
        .occurrence_id
        .clone();
    v.ledger.push(LedgerEntry::planned(
        &id,
        Action::Stop,
        t("2026-03-02T18:00:00Z"),
    ));
    let p = tick(&v, Some("2026-03-02T18:00:00Z"), "2026-03-02T18:02:00Z");
    assert_eq!(kinds(&p), vec![(Action::Stop, DecisionKind::Execute)]);
    assert_eq!(p.decisions[0].occurrence_id, id);
}

#[test]
fn a_changed_schedule_retires_its_open_occurrences() {
    let mut v = view("Resizing", vec![cron("Stop", STOP_18, "UTC")]);
    let p = tick(&v, Some("2026-03-02T17:59:00Z"), "2026-03-02T18:00:00Z");
    record(&mut v, &p);
    let edited = view("Resizing", vec![cron("Stop", "5 18 * * *", "UTC")]);
    v.schedules = edited.schedules;
    let p = tick(&v, Some("2026-03-02T18:00:00Z"), "2026-03-02T18:01:00Z");
    assert_eq!(kinds(&p), vec![(Action::Stop, DecisionKind::Failed)]);
    assert!(p.decisions[0].reason.contains("changed or was removed"));
}

#[test]
fn actions_in_one_tick_see_each_others_effect() {
    let v = view(
        "Running",
        vec![
            cron("Stop", "0 18 * * *", "UTC"),
            cron("Start", "10 18 * * *", "UTC"),
        ],
    );
    let p = tick(&v, Some("2026-03-02T17:59:00Z"), "2026-03-02T18:12:00Z");
    assert_eq!(
        kinds(&p),
        vec![
            (Action::Stop, DecisionKind::Execute),
            (Action::Start, DecisionKind::Defer)
        ]
    );
    // The Start sees the Stop just decided, not the stale Running: it waits for the stop.
    assert!(p.decisions[1]
        .reason
        .contains("instance is Stopping: deferred"));
}

// ------------------------------------------------------------------------------------ notices

#[test]
fn notices_go_out_at_each_lead_once() {
    let mut v = view("Running", vec![cron("Stop", STOP_18, "UTC")]);
    let p = tick(&v, Some("2026-03-02T17:29:00Z"), "2026-03-02T17:30:00Z");
    assert_eq!(p.notices.len(), 1);
    let n = &p.notices[0];
    assert_eq!(n.lead_minutes, 30);
    assert_eq!(n.at, t("2026-03-02T18:00:00Z"));
    assert_eq!(n.owner.as_deref(), Some("owner-oid"));
    assert!(n.native_only && n.reason.contains("a dismissal cannot stop it"));
    // The caveat names the schedule to disable and the command that adopts it.
    assert!(
        n.reason
            .contains("native schedule #0 Stop Cron 0 18 * * * (UTC)")
            && n.reason.contains("`curfew adopt ci-1`"),
        "{}",
        n.reason
    );
    // The caveat alone, for the notice's note; the reason without it beside the note.
    let caveat = n.caveat.as_deref().expect("a native notice has its caveat");
    assert!(caveat.starts_with("Azure ML also runs native schedule #0 Stop Cron 0 18 * * * (UTC)"));
    assert!(caveat.contains("`curfew adopt ci-1`"), "{caveat}");
    assert_eq!(format!("{}; {caveat}", n.reason_without_caveat()), n.reason);
    assert!(!n.reason_without_caveat().contains("Azure ML"));
    assert_eq!(n.local, "18:00 UTC on Mon 2026-03-02");
    assert_eq!(p.next_deadline, Some(t("2026-03-02T17:55:00Z")));
    record(&mut v, &p);
    assert!(
        tick(&v, Some("2026-03-02T17:30:00Z"), "2026-03-02T17:31:00Z")
            .notices
            .is_empty()
    );
    let p = tick(&v, Some("2026-03-02T17:54:00Z"), "2026-03-02T17:55:00Z");
    assert_eq!(p.notices.len(), 1);
    assert_eq!(p.notices[0].lead_minutes, 5);
    assert_eq!(p.notices[0].occurrence_id, n.occurrence_id);
    assert_eq!(p.next_deadline, Some(t("2026-03-02T18:00:00Z")));
    record(&mut v, &p);
    let p = tick(&v, Some("2026-03-02T17:59:00Z"), "2026-03-02T18:00:00Z");
    assert_eq!(kinds(&p), vec![(Action::Stop, DecisionKind::Execute)]);
    assert!(p.notices.is_empty() && p.dropped.is_empty());
}

#[test]
fn a_late_notice_within_its_lead_is_sent_and_a_passed_one_is_dropped() {
    let v = view("Running", vec![cron("Stop", STOP_18, "UTC")]);
    // Started at 17:40: the 30-min notice (due 17:30) has passed by 10 min < 30: sent.
    let p = tick(&v, None, "2026-03-02T17:40:00Z");
    assert_eq!(
        p.notices.iter().map(|n| n.lead_minutes).collect::<Vec<_>>(),
        vec![30]
    );
    // Down from 17:00 to 18:05: the stop executes, both notices passed by more than their lead.
    let p = tick(&v, Some("2026-03-02T17:00:00Z"), "2026-03-02T18:05:00Z");
    assert_eq!(kinds(&p), vec![(Action::Stop, DecisionKind::Execute)]);
    assert!(p.notices.is_empty());
    assert_eq!(
        p.dropped.iter().map(|d| d.lead_minutes).collect::<Vec<_>>(),
        vec![30, 5]
    );
    assert!(p.dropped[0].reason.contains("not sent late"));
}

/// One row of the warning rules: an instance with a Stop at 18:00 UTC, a ledger record
/// shaped by `entry`, evaluated at `now` (first run).
struct WarnCase {
    name: &'static str,
    state: &'static str,
    schedules: &'static [&'static str],
    entry: fn(&mut LedgerEntry),
    now: &'static str,
    /// (lead, minutes really left) of the notices sent.
    sent: &'static [(i64, i64)],
    /// Leads handled without a notice (dropped as late or superseded).
    dropped: &'static [i64],
}

fn no_entry(_: &mut LedgerEntry) {}

const WARN_CASES: &[WarnCase] = &[
    WarnCase {
        name: "running: warned at its lead",
        state: "Running",
        schedules: &[STOP_18],
        entry: no_entry,
        now: "2026-03-02T17:30:00Z",
        sent: &[(30, 30)],
        dropped: &[],
    },
    WarnCase {
        name: "busy with a job: warned",
        state: "JobRunning",
        schedules: &[STOP_18],
        entry: no_entry,
        now: "2026-03-02T17:30:00Z",
        sent: &[(30, 30)],
        dropped: &[],
    },
    WarnCase {
        name: "already stopped",
        state: "Stopped",
        schedules: &[STOP_18],
        entry: no_entry,
        now: "2026-03-02T17:30:00Z",
        sent: &[],
        dropped: &[],
    },
    WarnCase {
        name: "stopping",
        state: "Stopping",
        schedules: &[STOP_18],
        entry: no_entry,
        now: "2026-03-02T17:30:00Z",
        sent: &[],
        dropped: &[],
    },
    WarnCase {
        name: "starting (transitional)",
        state: "Starting",
        schedules: &[STOP_18],
        entry: no_entry,
        now: "2026-03-02T17:30:00Z",
        sent: &[],
        dropped: &[],
    },
    WarnCase {
        name: "resizing (transitional)",
        state: "Resizing",
        schedules: &[STOP_18],
        entry: no_entry,
        now: "2026-03-02T17:30:00Z",
        sent: &[],
        dropped: &[],
    },
    WarnCase {
        name: "setting up (transitional)",
        state: "SettingUp",
        schedules: &[STOP_18],
        entry: no_entry,
        now: "2026-03-02T17:30:00Z",
        sent: &[],
        dropped: &[],
    },
    WarnCase {
        name: "failed state",
        state: "StartFailed",
        schedules: &[STOP_18],
        entry: no_entry,
        now: "2026-03-02T17:30:00Z",
        sent: &[],
        dropped: &[],
    },
    WarnCase {
        name: "unknown state",
        state: "",
        schedules: &[STOP_18],
        entry: no_entry,
        now: "2026-03-02T17:30:00Z",
        sent: &[],
        dropped: &[],
    },
    WarnCase {
        name: "skipped by its owner",
        state: "Running",
        schedules: &[STOP_18],
        entry: |e| e.dismissal = Some(Dismissal::Skip),
        now: "2026-03-02T17:30:00Z",
        sent: &[],
        dropped: &[],
    },
    WarnCase {
        name: "already settled",
        state: "Running",
        schedules: &[STOP_18],
        entry: |e| e.status = Status::Skipped,
        now: "2026-03-02T17:30:00Z",
        sent: &[],
        dropped: &[],
    },
    WarnCase {
        name: "late: says the 10 min really left",
        state: "Running",
        schedules: &[STOP_18],
        entry: no_entry,
        now: "2026-03-02T17:50:00Z",
        sent: &[(30, 10)],
        dropped: &[],
    },
    WarnCase {
        name: "both leads due: one warning, at the shorter",
        state: "Running",
        schedules: &[STOP_18],
        entry: no_entry,
        now: "2026-03-02T17:56:00Z",
        sent: &[(5, 4)],
        dropped: &[30],
    },
    WarnCase {
        name: "30 sent: the 5 follows",
        state: "Running",
        schedules: &[STOP_18],
        entry: |e| e.notified = vec![30],
        now: "2026-03-02T17:55:00Z",
        sent: &[(5, 5)],
        dropped: &[],
    },
    WarnCase {
        name: "both sent: nothing more",
        state: "Running",
        schedules: &[STOP_18],
        entry: |e| e.notified = vec![30, 5],
        now: "2026-03-02T17:58:00Z",
        sent: &[],
        dropped: &[],
    },
    WarnCase {
        name: "snoozed: warned again before its new time",
        state: "Running",
        schedules: &[STOP_18],
        entry: |e| {
            e.dismissal = Some(Dismissal::Snooze {
                until: t("2026-03-02T19:00:00Z"),
            })
        },
        now: "2026-03-02T18:30:00Z",
        sent: &[(30, 30)],
        dropped: &[],
    },
    WarnCase {
        name: "snoozed (before its time): warned at the new time's lead",
        state: "Running",
        schedules: &[STOP_18],
        entry: |e| {
            e.dismissal = Some(Dismissal::Snooze {
                until: t("2026-03-02T19:00:00Z"),
            })
        },
        now: "2026-03-02T18:55:00Z",
        sent: &[(5, 5)],
        dropped: &[30],
    },
    WarnCase {
        name: "snoozed: not before the new time's lead",
        state: "Running",
        schedules: &[STOP_18],
        entry: |e| {
            e.dismissal = Some(Dismissal::Snooze {
                until: t("2026-03-02T19:00:00Z"),
            })
        },
        now: "2026-03-02T17:40:00Z",
        sent: &[],
        dropped: &[],
    },
    WarnCase {
        name: "snoozed, but stopped meanwhile",
        state: "Stopped",
        schedules: &[STOP_18],
        entry: |e| {
            e.dismissal = Some(Dismissal::Snooze {
                until: t("2026-03-02T19:00:00Z"),
            })
        },
        now: "2026-03-02T18:30:00Z",
        sent: &[],
        dropped: &[],
    },
    WarnCase {
        name: "a later stop is superseded by an earlier one",
        state: "Running",
        schedules: &[STOP_18, "20 18 * * *"],
        entry: no_entry,
        now: "2026-03-02T17:50:00Z",
        sent: &[(30, 10)],
        dropped: &[],
    },
    WarnCase {
        name: "two stops in one minute: one warning",
        state: "Running",
        schedules: &[STOP_18, "0 18 * * 1"],
        entry: no_entry,
        now: "2026-03-02T17:30:00Z",
        sent: &[(30, 30)],
        dropped: &[],
    },
];

#[test]
fn warnings_are_always_true() {
    for case in WARN_CASES {
        let schedules = case
            .schedules
            .iter()
            .map(|c| cron("Stop", c, "UTC"))
            .collect();
        let mut v = view(case.state, schedules);
        let at = t("2026-03-02T18:00:00Z");
        let es = &v.schedules[0];
        let id = occurrence_id(&v.key(), &es.source, 0, Action::Stop, at, &es.content_hash);
        let mut e = LedgerEntry::planned(&id, Action::Stop, at);
        (case.entry)(&mut e);
        v.ledger.push(e.clone());
        let p = tick(&v, None, case.now);
        let sent: Vec<(i64, i64)> = p
            .notices
            .iter()
            .map(|n| (n.lead_minutes, n.minutes_left))
            .collect();
        assert_eq!(sent, case.sent, "{}: sent", case.name);
        let dropped: Vec<i64> = p.dropped.iter().map(|d| d.lead_minutes).collect();
        assert_eq!(dropped, case.dropped, "{}: dropped", case.name);
        // Two stops of one instance in one minute: either may carry the one warning.
        let single = case.schedules.len() == 1;
        for n in p.notices.iter().filter(|_| single) {
            assert_eq!(n.occurrence_id, id, "{}", case.name);
            assert_eq!(n.due, e.due(), "{}", case.name);
            assert_eq!(n.key, e.notice_key(), "{}: keyed by due time", case.name);
            let left = format!("; in {} min", n.minutes_left);
            assert!(n.reason.contains(&left), "{}: {}", case.name, n.reason);
        }
        for d in p.dropped.iter().filter(|_| single) {
            assert_eq!(d.key, e.notice_key(), "{}", case.name);
        }
    }
}

#[test]
fn a_snoozed_stop_is_warned_at_each_lead_of_its_new_time_once() {
    let mut v = view("Running", vec![cron("Stop", STOP_18, "UTC")]);
    let p = tick(&v, Some("2026-03-02T17:29:00Z"), "2026-03-02T17:30:00Z");
    record(&mut v, &p);
    let p = tick(&v, Some("2026-03-02T17:54:00Z"), "2026-03-02T17:55:00Z");
    record(&mut v, &p);
    let old_key = v.ledger[0].notice_key();
    assert_eq!(v.ledger[0].notified, vec![30, 5]);
    // Snoozed 60 min at 17:57: the store reads marks under the new key, so none are done.
    let until = t("2026-03-02T19:00:00Z");
    v.ledger[0].dismissal = Some(Dismissal::Snooze { until });
    v.ledger[0].notified.clear();
    assert_ne!(v.ledger[0].notice_key(), old_key);
    let p = tick(&v, Some("2026-03-02T17:56:00Z"), "2026-03-02T17:57:00Z");
    assert!(p.notices.is_empty() && p.decisions.is_empty());
    assert_eq!(p.next_deadline, Some(t("2026-03-02T18:30:00Z")));
    let p = tick(&v, Some("2026-03-02T18:29:00Z"), "2026-03-02T18:30:00Z");
    assert_eq!(p.notices.len(), 1);
    let n = &p.notices[0];
    assert_eq!((n.lead_minutes, n.minutes_left, n.due), (30, 30, until));
    assert_eq!(
        n.at,
        t("2026-03-02T18:00:00Z"),
        "links stay signed for the occurrence"
    );
    assert_eq!(n.local, "19:00 UTC on Mon 2026-03-02");
    assert!(n
        .reason
        .contains("snoozed until 2026-03-02 19:00 UTC; in 30 min"));
    record(&mut v, &p);
    // A retry of the same tick sends nothing twice.
    assert!(
        tick(&v, Some("2026-03-02T18:29:00Z"), "2026-03-02T18:30:00Z")
            .notices
            .is_empty()
    );
    let p = tick(&v, Some("2026-03-02T18:54:00Z"), "2026-03-02T18:55:00Z");
    assert_eq!(p.notices[0].lead_minutes, 5);
    record(&mut v, &p);
    let p = tick(&v, Some("2026-03-02T18:59:00Z"), "2026-03-02T19:00:00Z");
    assert_eq!(kinds(&p), vec![(Action::Stop, DecisionKind::Execute)]);
    assert!(p.notices.is_empty() && p.dropped.is_empty());
}

#[test]
fn a_stop_executing_in_this_tick_silences_later_stops_and_a_start_delays_warnings() {
    // A stop executing now leaves the instance Stopping: the 18:20 stop will not happen.
    let v = view(
        "Running",
        vec![
            cron("Stop", "50 17 * * *", "UTC"),
            cron("Stop", "20 18 * * *", "UTC"),
        ],
    );
    let p = tick(&v, Some("2026-03-02T17:49:00Z"), "2026-03-02T17:50:00Z");
    assert_eq!(kinds(&p), vec![(Action::Stop, DecisionKind::Execute)]);
    assert!(p.notices.is_empty(), "{:?}", p.notices);
    // A Start executing now leaves it Starting: warned once it is up, with the time really left.
    let mut v = view(
        "Stopped",
        vec![
            cron("Start", "30 17 * * *", "UTC"),
            cron("Stop", STOP_18, "UTC"),
        ],
    );
    let p = tick(&v, Some("2026-03-02T17:29:00Z"), "2026-03-02T17:30:00Z");
    assert_eq!(kinds(&p), vec![(Action::Start, DecisionKind::Execute)]);
    assert!(p.notices.is_empty());
    record(&mut v, &p);
    v.state = Some("Running".into());
    let p = tick(&v, Some("2026-03-02T17:30:00Z"), "2026-03-02T17:36:00Z");
    assert_eq!(p.notices.len(), 1);
    assert_eq!(
        (p.notices[0].lead_minutes, p.notices[0].minutes_left),
        (30, 24)
    );
}

#[test]
fn override_notices_are_not_native_only_and_creator_owns_unassigned() {
    let inst = Instance {
        name: "ci-2".into(),
        state: Some("Running".into()),
        created_by: Some("creator-oid".into()),
        ..Default::default()
    };
    let o = [cron("Stop", STOP_18, "UTC")];
    let v = InstanceView::new(&inst, effective_schedules(&inst, Some(&o), &[]).schedules);
    let p = tick(&v, Some("2026-03-02T17:29:00Z"), "2026-03-02T17:30:00Z");
    assert!(!p.notices[0].native_only);
    assert!(!p.notices[0].reason.contains("Azure ML"));
    assert_eq!(p.notices[0].caveat, None);
    assert_eq!(p.notices[0].reason_without_caveat(), p.notices[0].reason);
    assert_eq!(p.notices[0].owner.as_deref(), Some("creator-oid"));
    assert!(p.notices[0].reason.starts_with("stop: override schedule 0"));
}

#[test]
fn adopted_override_stops_keep_the_caveat_until_the_native_stop_is_disabled() {
    // The override adopted the native stop, but Azure ML still runs the native one.
    let mut inst = Instance {
        name: "ci-3".into(),
        state: Some("Running".into()),
        schedules: vec![cron("Stop", STOP_18, "UTC")],
        ..Default::default()
    };
    let o = [cron("Stop", STOP_18, "UTC")];
    let set = effective_schedules(&inst, Some(&o), &[]);
    let mut v = InstanceView::new(&inst, set.schedules);
    v.enabled_native_stops = set.enabled_native_stops.clone();
    let p = tick(&v, Some("2026-03-02T17:29:00Z"), "2026-03-02T17:30:00Z");
    assert!(p.notices[0].native_only);
    assert!(p.notices[0].reason.starts_with("stop: override schedule 0"));
    assert_eq!(
        p.notices[0].caveat.as_deref(),
        Some(
            curfew_engine::governor::tick::native_still_enabled_caveat(
                "ci-3",
                &set.enabled_native_stops
            )
            .as_str()
        )
    );
    assert!(p.notices[0].reason.ends_with(
        &curfew_engine::governor::tick::native_still_enabled_caveat(
            "ci-3",
            &set.enabled_native_stops
        )
    ));
    assert!(
        p.notices[0]
            .reason
            .contains("#0 Stop Cron 0 18 * * * (UTC)"),
        "{}",
        p.notices[0].reason
    );
    // The owner disabled it in the studio: the next inventory says so, the caveat goes.
    inst.schedules[0]["status"] = json!("Disabled");
    let set = effective_schedules(&inst, Some(&o), &[]);
    let mut v = InstanceView::new(&inst, set.schedules);
    v.enabled_native_stops = set.enabled_native_stops;
    let p = tick(&v, Some("2026-03-02T17:29:00Z"), "2026-03-02T17:30:00Z");
    assert!(!p.notices[0].native_only);
    assert!(!p.notices[0].reason.contains("Azure ML"));
}

#[test]
fn dismissed_occurrences_get_no_more_notices() {
    let mut v = view("Running", vec![cron("Stop", STOP_18, "UTC")]);
    let p = tick(&v, Some("2026-03-02T17:29:00Z"), "2026-03-02T17:30:00Z");
    let mut e = LedgerEntry::planned(&p.notices[0].occurrence_id, Action::Stop, p.notices[0].at);
    e.dismissal = Some(Dismissal::Skip);
    v.ledger.push(e);
    assert!(
        tick(&v, Some("2026-03-02T17:54:00Z"), "2026-03-02T17:55:00Z")
            .notices
            .is_empty()
    );
}

#[test]
fn idle_stops_are_notified_and_executed_like_schedules() {
    let mut v = view("Running", vec![]);
    let since = t("2026-03-02T11:00:00Z");
    v.idle_stops.push(IdleStop {
        due_at: t("2026-03-02T12:00:00Z"),
        idle_since: since,
        reason: "idle since 11:00 (threshold 60 min)".into(),
    });
    let id = idle_occurrence_id(&v.key(), since);
    let p = tick(&v, Some("2026-03-02T11:29:00Z"), "2026-03-02T11:30:00Z");
    assert_eq!(p.notices.len(), 1);
    assert_eq!(p.notices[0].occurrence_id, id);
    assert!(!p.notices[0].native_only && p.notices[0].schedule.is_none());
    record(&mut v, &p);
    let p = tick(&v, Some("2026-03-02T11:54:00Z"), "2026-03-02T11:55:00Z");
    assert_eq!(p.notices.len(), 1);
    record(&mut v, &p);
    assert_eq!(p.next_deadline, Some(t("2026-03-02T12:00:00Z")));
    let p = tick(&v, Some("2026-03-02T11:59:00Z"), "2026-03-02T12:00:00Z");
    assert_eq!(kinds(&p), vec![(Action::Stop, DecisionKind::Execute)]);
    assert_eq!(p.decisions[0].occurrence_id, id);
    assert!(p.decisions[0].reason.contains("idle shutdown"));
    record(&mut v, &p);
    assert!(
        tick(&v, Some("2026-03-02T12:00:00Z"), "2026-03-02T12:01:00Z")
            .decisions
            .is_empty()
    );
}

#[test]
fn next_deadline_is_the_earliest_thing_due() {
    let v = view(
        "Running",
        vec![
            cron("Stop", STOP_18, "UTC"),
            cron("Start", "0 8 * * *", "UTC"),
        ],
    );
    let p = tick(&v, Some("2026-03-02T11:59:00Z"), "2026-03-02T12:00:00Z");
    assert_eq!(p.next_deadline, Some(t("2026-03-02T17:30:00Z")));
    let p = tick(&v, Some("2026-03-02T18:59:00Z"), "2026-03-02T19:00:00Z");
    assert_eq!(p.next_deadline, Some(t("2026-03-03T08:00:00Z")));
    let p = tick(&view("Running", vec![]), None, "2026-03-02T19:00:00Z");
    assert_eq!(p.next_deadline, None);
}

// --------------------------------------------------------------------------------- dismissals

const OCC_AT: &str = "2026-03-02T18:00:00Z";
const NOW: &str = "2026-03-02T17:40:00Z";

fn stop_view() -> (InstanceView, String) {
    let v = view("Running", vec![cron("Stop", STOP_18, "UTC")]);
    let id = occurrence_id(
        &v.key(),
        &Source::Native,
        0,
        Action::Stop,
        t(OCC_AT),
        &v.schedules[0].content_hash,
    );
    (v, id)
}

fn by(oid: &str, id: &str, choice: Choice) -> DismissalRequest {
    DismissalRequest {
        target: Target::Occurrence(id.into()),
        choice,
        credential: Credential::ObjectId(oid.into()),
    }
}

fn admin_cfg() -> Config {
    Config {
        admins: vec!["admin-oid".into()],
        ..Config::default()
    }
}

fn keys() -> [LinkKey; 2] {
    [
        LinkKey::new("k2", b"current secret current secret 01"),
        LinkKey::new("k1", b"previous secret previous secret 1"),
    ]
}

/// The ledger after an accepted dismissal.
fn apply(v: &mut InstanceView, a: &AcceptedDismissal) {
    match v
        .ledger
        .iter_mut()
        .find(|e| e.occurrence_id == a.occurrence_id)
    {
        Some(e) => e.dismissal = Some(a.dismissal),
        None => {
            let mut e = LedgerEntry::planned(&a.occurrence_id, a.action, a.at);
            e.dismissal = Some(a.dismissal);
            v.ledger.push(e);
        }
    }
}

#[test]
fn the_owner_and_admins_may_dismiss_others_may_not() {
    let (v, id) = stop_view();
    let cfg = admin_cfg();
    let a = authorize(&by("owner-oid", &id, Choice::Skip), &v, &cfg, &[], t(NOW)).unwrap();
    assert_eq!(a.dismissal, Dismissal::Skip);
    assert!(a.changed);
    assert_eq!(
        a.authority,
        Authority::Owner {
            object_id: "owner-oid".into()
        }
    );
    let a = authorize(&by("ADMIN-OID", &id, Choice::Skip), &v, &cfg, &[], t(NOW)).unwrap();
    assert!(matches!(a.authority, Authority::Admin { .. }));
    // The creator is not the owner when a user is assigned.
    for who in ["creator-oid", "someone"] {
        let r = authorize(&by(who, &id, Choice::Skip), &v, &cfg, &[], t(NOW)).unwrap_err();
        assert!(matches!(r, Rejection::Unauthorised { .. }), "{r}");
        assert!(r.to_string().contains("ci-1"));
        // The refusal is read by whoever asked: it does not tell them who the owner is.
        assert!(!r.to_string().contains("owner-oid"), "{r}");
    }
    let mut unassigned = v.clone();
    unassigned.owner = Some("creator-oid".into());
    assert!(authorize(
        &by("creator-oid", &id, Choice::Skip),
        &unassigned,
        &cfg,
        &[],
        t(NOW)
    )
    .is_ok());
}

#[test]
fn instance_and_time_name_the_same_occurrence_as_its_id() {
    let (v, id) = stop_view();
    let req = DismissalRequest {
        target: Target::At {
            instance: "CI-1".into(),
            at: t(OCC_AT),
        },
        choice: Choice::Skip,
        credential: Credential::ObjectId("owner-oid".into()),
    };
    assert_eq!(
        authorize(&req, &v, &Config::default(), &[], t(NOW))
            .unwrap()
            .occurrence_id,
        id
    );
    let mut wrong = req.clone();
    wrong.target = Target::At {
        instance: "ci-1".into(),
        at: t("2026-03-02T18:01:00Z"),
    };
    assert!(matches!(
        authorize(&wrong, &v, &Config::default(), &[], t(NOW)),
        Err(Rejection::UnknownOccurrence { .. })
    ));
    assert!(matches!(
        authorize(
            &by("owner-oid", "nope", Choice::Skip),
            &v,
            &Config::default(),
            &[],
            t(NOW)
        ),
        Err(Rejection::UnknownOccurrence { .. })
    ));
}

#[test]
fn a_valid_token_authorises_its_occurrence_and_choice_only() {
    let (v, id) = stop_view();
    let cfg = Config::default();
    let keys = keys();
    let exp = t(OCC_AT) + cfg.snooze_cap;
    let choice = Choice::Snooze { minutes: 30 };
    for key in &keys {
        let token = sign(key, &id, choice, exp);
        let req = DismissalRequest::from_token(&token).unwrap();
        let a = authorize(&req, &v, &cfg, &keys, t(NOW)).unwrap();
        assert_eq!(
            a.dismissal,
            Dismissal::Snooze {
                until: t("2026-03-02T18:30:00Z")
            }
        );
        assert_eq!(
            a.authority,
            Authority::Token {
                key_id: key.id.clone()
            }
        );
    }
    let token = sign(&keys[0], &id, choice, exp);
    // Replayed for another occurrence.
    let (v2, other) = {
        let mut v2 = view("Running", vec![cron("Stop", "0 19 * * *", "UTC")]);
        v2.name = "ci-1".into();
        let other = occurrence_id(
            &v2.key(),
            &Source::Native,
            0,
            Action::Stop,
            t("2026-03-02T19:00:00Z"),
            &v2.schedules[0].content_hash,
        );
        (v2, other)
    };
    let replay = DismissalRequest {
        target: Target::Occurrence(other),
        choice,
        credential: Credential::Token(token.clone()),
    };
    assert!(matches!(
        authorize(&replay, &v2, &cfg, &keys, t(NOW)),
        Err(Rejection::OtherOccurrence { .. })
    ));
    // Used for another choice.
    let mut skip = DismissalRequest::from_token(&token).unwrap();
    skip.choice = Choice::Skip;
    assert!(matches!(
        authorize(&skip, &v, &cfg, &keys, t(NOW)),
        Err(Rejection::OtherChoice { .. })
    ));
    // Forged (signed with a key we do not hold under a known id).
    let forged = sign(&LinkKey::new("k2", b"guess"), &id, choice, exp);
    let r = authorize(
        &DismissalRequest::from_token(&forged).unwrap(),
        &v,
        &cfg,
        &keys,
        t(NOW),
    )
    .unwrap_err();
    assert!(
        matches!(
            r,
            Rejection::Token {
                source: LinkError::Forged { .. },
                ..
            }
        ),
        "{r}"
    );
    // Expired.
    let r = authorize(
        &DismissalRequest::from_token(&token).unwrap(),
        &v,
        &cfg,
        &keys,
        exp + TimeDelta::minutes(1),
    )
    .unwrap_err();
    assert!(matches!(
        r,
        Rejection::Token {
            source: LinkError::Expired { .. },
            ..
        }
    ));
}

#[test]
fn too_late_after_execution() {
    let (mut v, id) = stop_view();
    let mut e = LedgerEntry::planned(&id, Action::Stop, t(OCC_AT));
    for status in [
        Status::Executing,
        Status::Done,
        Status::NoOp,
        Status::Missed,
        Status::Failed,
    ] {
        e.status = status;
        v.ledger = vec![e.clone()];
        let r = authorize(
            &by("owner-oid", &id, Choice::Skip),
            &v,
            &Config::default(),
            &[],
            t(NOW),
        )
        .unwrap_err();
        assert!(matches!(r, Rejection::TooLate { .. }), "{status:?}");
        assert!(r.to_string().contains("too late"));
    }
    // Deferred is not executed yet: still dismissable.
    e.status = Status::Deferred;
    v.ledger = vec![e];
    assert!(authorize(
        &by("owner-oid", &id, Choice::Skip),
        &v,
        &Config::default(),
        &[],
        t(NOW)
    )
    .is_ok());
}

#[test]
fn snoozes_are_capped() {
    let (v, id) = stop_view();
    let cfg = Config::default();
    assert!(authorize(
        &by("owner-oid", &id, Choice::Snooze { minutes: 240 }),
        &v,
        &cfg,
        &[],
        t(NOW)
    )
    .is_ok());
    let r = authorize(
        &by("owner-oid", &id, Choice::Snooze { minutes: 241 }),
        &v,
        &cfg,
        &[],
        t(NOW),
    )
    .unwrap_err();
    assert!(matches!(r, Rejection::CapExceeded { .. }), "{r}");
    assert!(matches!(
        authorize(
            &by("owner-oid", &id, Choice::Snooze { minutes: 0 }),
            &v,
            &cfg,
            &[],
            t(NOW)
        ),
        Err(Rejection::InvalidChoice { .. })
    ));
}

#[test]
fn dismissing_twice_is_idempotent() {
    let (mut v, id) = stop_view();
    let cfg = Config::default();
    let snooze = |m| by("owner-oid", &id, Choice::Snooze { minutes: m });
    let first = authorize(&snooze(30), &v, &cfg, &[], t(NOW)).unwrap();
    apply(&mut v, &first);
    let again = authorize(&snooze(30), &v, &cfg, &[], t(NOW)).unwrap();
    assert_eq!(again.dismissal, first.dismissal);
    assert!(!again.changed, "no double snooze");
    let longer = authorize(&snooze(60), &v, &cfg, &[], t(NOW)).unwrap();
    assert_eq!(
        longer.dismissal,
        Dismissal::Snooze {
            until: t("2026-03-02T19:00:00Z")
        }
    );
    apply(&mut v, &longer);
    let shorter = authorize(&snooze(30), &v, &cfg, &[], t(NOW)).unwrap();
    assert_eq!(shorter.dismissal, longer.dismissal);
    assert!(!shorter.changed);
    // Skip, recorded and even settled by a tick: skipping again is the same answer.
    let skip = authorize(&by("owner-oid", &id, Choice::Skip), &v, &cfg, &[], t(NOW)).unwrap();
    apply(&mut v, &skip);
    v.ledger[0].status = Status::Skipped;
    let again = authorize(
        &by("owner-oid", &id, Choice::Skip),
        &v,
        &cfg,
        &[],
        t(OCC_AT),
    )
    .unwrap();
    assert_eq!(again.dismissal, Dismissal::Skip);
    assert!(!again.changed);
}

/// An assigned user whose `objectId` is empty is nobody: the creator owns the instance, and an
/// empty (or blank) requester id never matches an owner or an admin.
#[test]
fn an_empty_object_id_is_nobody() {
    let inst = Instance {
        name: "ci-1".into(),
        assigned_user: Some("".into()),
        created_by: Some("creator-oid".into()),
        schedules: vec![cron("Stop", STOP_18, "UTC")],
        ..Default::default()
    };
    let set = effective_schedules(&inst, None, &[]);
    let v = InstanceView::new(&inst, set.schedules);
    assert_eq!(v.owner.as_deref(), Some("creator-oid"));
    let id = occurrence_id(
        &v.key(),
        &Source::Native,
        0,
        Action::Stop,
        t(OCC_AT),
        &v.schedules[0].content_hash,
    );
    let blank_admin = Config {
        admins: vec!["".into(), " ".into()],
        ..Config::default()
    };
    for who in ["", "  "] {
        let r = authorize(&by(who, &id, Choice::Skip), &v, &blank_admin, &[], t(NOW)).unwrap_err();
        assert!(matches!(r, Rejection::Unauthorised { .. }), "{who:?}: {r}");
    }
    assert!(authorize(
        &by("creator-oid", &id, Choice::Skip),
        &v,
        &blank_admin,
        &[],
        t(NOW)
    )
    .is_ok());
    // Even a view built by hand with an empty owner lets no empty id in.
    let mut odd = v.clone();
    odd.owner = Some(String::new());
    assert!(authorize(
        &by("", &id, Choice::Skip),
        &odd,
        &Config::default(),
        &[],
        t(NOW)
    )
    .is_err());
}

/// docs/governor.md: a skip after a snooze, or a snooze after a skip, replaces it. A recorded
/// skip reads back as `Skipped` with the skip dismissal; a snooze then replaces it while the
/// snoozed time is still ahead.
#[test]
fn a_snooze_after_a_skip_replaces_it() {
    let (mut v, id) = stop_view();
    let cfg = Config::default();
    let skip = authorize(&by("owner-oid", &id, Choice::Skip), &v, &cfg, &[], t(NOW)).unwrap();
    apply(&mut v, &skip);
    v.ledger[0].status = Status::Skipped;
    let snooze = by("owner-oid", &id, Choice::Snooze { minutes: 30 });
    let a = authorize(&snooze, &v, &cfg, &[], t(NOW)).unwrap();
    assert_eq!(
        a.dismissal,
        Dismissal::Snooze {
            until: t("2026-03-02T18:30:00Z")
        }
    );
    assert!(a.changed);
    // Past the snoozed time, a snooze would stop the instance at once: too late.
    let r = authorize(&snooze, &v, &cfg, &[], t("2026-03-02T18:45:00Z")).unwrap_err();
    assert!(matches!(r, Rejection::TooLate { .. }), "{r}");
}

/// "By instance and time" with an ARM id names that instance only: another workspace's
/// instance of the same name is not it.
#[test]
fn instance_and_time_by_arm_id() {
    let (v, id) = stop_view();
    let at_of = |instance: &str| DismissalRequest {
        target: Target::At {
            instance: instance.into(),
            at: t(OCC_AT),
        },
        choice: Choice::Skip,
        credential: Credential::ObjectId("owner-oid".into()),
    };
    let own = v.id.clone().unwrap().to_ascii_uppercase();
    assert_eq!(
        authorize(&at_of(&own), &v, &Config::default(), &[], t(NOW))
            .unwrap()
            .occurrence_id,
        id
    );
    let other = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/other/computes/ci-1";
    assert!(matches!(
        authorize(&at_of(other), &v, &Config::default(), &[], t(NOW)),
        Err(Rejection::UnknownOccurrence { .. })
    ));
}

#[test]
fn an_idle_stop_can_be_dismissed_by_id() {
    let mut v = view("Running", vec![]);
    let since = t("2026-03-02T11:00:00Z");
    v.idle_stops.push(IdleStop {
        due_at: t("2026-03-02T12:00:00Z"),
        idle_since: since,
        reason: "idle".into(),
    });
    let id = idle_occurrence_id(&v.key(), since);
    let a = authorize(
        &by("owner-oid", &id, Choice::Snooze { minutes: 60 }),
        &v,
        &Config::default(),
        &[],
        t("2026-03-02T11:40:00Z"),
    )
    .unwrap();
    assert_eq!(
        a.dismissal,
        Dismissal::Snooze {
            until: t("2026-03-02T13:00:00Z")
        }
    );
}

// ------------------------------------------------------------------------- the host's clock

/// One tick under a host clock in 2036 left the watermark there, and every correct tick after
/// it decided nothing. A watermark ahead of `now` is distrusted: the tick looks back as a
/// first run does (the ledger keeps it from doing anything twice) and the watermark returns
/// to `now`.
#[test]
fn a_watermark_from_a_far_future_clock_does_not_stop_later_ticks() {
    let v = view("Running", vec![cron("Stop", STOP_18, "UTC")]);
    let p = tick(&v, Some("2036-01-01T00:00:00Z"), "2026-03-02T18:00:30Z");
    assert_eq!(kinds(&p), vec![(Action::Stop, DecisionKind::Execute)]);
    assert_eq!(p.watermark, t("2026-03-02T18:00:30Z"));
    // A watermark a few seconds ahead (another instance's clock) is still honoured as before.
    let p = tick(&v, Some("2026-03-02T18:00:40Z"), "2026-03-02T18:00:30Z");
    assert!(p.decisions.is_empty(), "{:?}", kinds(&p));
    assert_eq!(p.watermark, t("2026-03-02T18:00:40Z"));
}

/// A far-future `now` (a host clock in year 9999 made the process grow past 10 GB) evaluates at
/// most `MAX_TICK_WINDOW` behind it: occurrences older than that are not enumerated one by one.
#[test]
fn a_tick_evaluates_a_bounded_window() {
    use curfew_engine::governor::MAX_TICK_WINDOW;
    let v = view("Running", vec![cron("Stop", "*/5 * * * *", "UTC")]);
    let p = tick(&v, Some("2026-03-02T00:00:00Z"), "2027-06-01T00:00:00Z");
    let oldest = p.decisions.iter().map(|d| d.at).min().unwrap();
    assert!(
        oldest >= t("2027-06-01T00:00:00Z") - MAX_TICK_WINDOW,
        "oldest {oldest}"
    );
    assert!(p.decisions.len() as i64 <= MAX_TICK_WINDOW.num_minutes() / 5 + 1);
    // The newest missed stop is still repaired.
    assert!(p.decisions.iter().any(|d| d.kind == DecisionKind::Execute));
    // Year 9999: the same bounded amount of work.
    let p = tick(&v, Some("2026-03-02T00:00:00Z"), "9999-12-31T23:59:00Z");
    assert!(!p.decisions.is_empty());
    assert!(p.decisions.len() as i64 <= MAX_TICK_WINDOW.num_minutes() / 5 + 1);
}

// ------------------------------------------------------------------------- catch-up horizon

/// Issue 11: one tick after an 8-month outage. The bounded window (7 days) is enumerated; the
/// missed occurrences older than the 24 h horizon become ONE summary; those within it are
/// decided one by one, and the newest is still repaired.
#[test]
fn an_eight_month_outage_is_summarised_in_one_record_and_the_newest_still_repaired() {
    let v = view(
        "Running",
        vec![
            cron("Start", "0 8 * * *", "UTC"),
            cron("Stop", "0 12,18 * * *", "UTC"),
        ],
    );
    let (watermark, now) = ("2026-03-02T20:00:00Z", "2026-11-02T19:00:00Z");
    let p = tick(&v, Some(watermark), now);
    // Within 24 h: Start 11-02 08:00 and Stop 12:00 (missed), Stop 18:00 (the newest,
    // repaired: the instance runs).
    let by_at: Vec<_> = p
        .decisions
        .iter()
        .map(|d| (d.at, d.action, d.kind, d.repair))
        .collect();
    assert_eq!(
        by_at,
        vec![
            (
                t("2026-11-02T08:00:00Z"),
                Action::Start,
                DecisionKind::Missed,
                false
            ),
            (
                t("2026-11-02T12:00:00Z"),
                Action::Stop,
                DecisionKind::Missed,
                false
            ),
            (
                t("2026-11-02T18:00:00Z"),
                Action::Stop,
                DecisionKind::Execute,
                true
            ),
        ]
    );
    assert_eq!(p.missed_summaries.len(), 1);
    let s = &p.missed_summaries[0];
    // The 7-day window opens at 2026-10-26 19:00: from 10-27 08:00 to 11-01 18:00, 6 days × 3
    // occurrences.
    assert_eq!(
        (s.first, s.last),
        (t("2026-10-27T08:00:00Z"), t("2026-11-01T18:00:00Z"))
    );
    assert_eq!((s.count, s.starts), (18, 6));
    assert!(
        s.reason.starts_with(
            "18 occurrences missed between 2026-10-27 08:00 UTC and 2026-11-01 18:00 UTC"
        ),
        "{}",
        s.reason
    );
    assert!(s.reason.contains("24 h catch-up horizon"), "{}", s.reason);
    assert!(
        s.reason
            .contains("occurrences before 2026-10-26 19:00 UTC were not counted"),
        "{}",
        s.reason
    );
    // A retried tick (same watermark, a minute later) names the same summary record.
    let again = tick(&v, Some(watermark), "2026-11-02T19:01:00Z");
    assert_eq!(again.missed_summaries[0].id, s.id);
    // Without the horizon (as before issue 11) every one was decided, and so recorded: 21.
    let all = Config {
        catch_up_horizon: curfew_engine::governor::MAX_TICK_WINDOW,
        ..Config::default()
    };
    let p = tick_with(&v, &all, Some(watermark), now);
    assert!(p.missed_summaries.is_empty());
    assert_eq!(p.decisions.len(), 21);
}

#[test]
fn a_recorded_occurrence_beyond_the_horizon_is_decided_not_summarised() {
    let mut v = view("Stopped", vec![cron("Stop", STOP_18, "UTC")]);
    // A notice made a record of the stop three days ago; the outage began just after.
    let (watermark, now) = ("2026-03-02T17:40:00Z", "2026-03-05T17:00:00Z");
    let p = tick(&v, Some(watermark), now);
    let old = p.missed_summaries[0].clone();
    assert_eq!((old.count, old.first), (2, t("2026-03-02T18:00:00Z")));
    let first = occurrence_id(
        &v.key(),
        &Source::Native,
        0,
        Action::Stop,
        t("2026-03-02T18:00:00Z"),
        &v.schedules[0].content_hash,
    );
    v.ledger.push(LedgerEntry::planned(
        &first,
        Action::Stop,
        t("2026-03-02T18:00:00Z"),
    ));
    let p = tick(&v, Some(watermark), now);
    assert_eq!(
        p.decisions
            .iter()
            .map(|d| (d.at, d.kind))
            .collect::<Vec<_>>(),
        vec![
            (t("2026-03-02T18:00:00Z"), DecisionKind::Missed),
            (t("2026-03-04T18:00:00Z"), DecisionKind::Missed),
        ]
    );
    let s = &p.missed_summaries[0];
    assert_eq!((s.count, s.first), (1, t("2026-03-03T18:00:00Z")));
    assert!(
        s.reason.starts_with("1 occurrence missed between"),
        "{}",
        s.reason
    );
    assert!(!s.reason.contains("not counted"), "{}", s.reason);
}

#[test]
fn nothing_is_summarised_within_the_horizon() {
    let v = view("Running", vec![cron("Stop", "0 * * * *", "UTC")]);
    let p = tick(&v, Some("2026-03-02T00:30:00Z"), "2026-03-02T23:45:00Z");
    assert!(p.missed_summaries.is_empty());
    assert_eq!(p.decisions.len(), 23);
}

// ------------------------------------------------------------------------ override expiry

/// An override expiring at 18:10 with its own Stops at 17:00 and 18:20, over a native Stop at
/// 18:30: the override's 18:20 falls after its expiry, so it is neither warned of nor executed;
/// the native 18:30 is warned of 30 minutes ahead although the override is still in force then;
/// and a catch-up tick whose window spans the expiry decides the override's 17:00 and the
/// native 18:30, each by the schedule of its own instant (as `curfew plan` lists them).
#[test]
fn an_override_governs_until_its_expiry_and_the_native_schedules_after_it() {
    use curfew_engine::governor::{effective_schedules_since, window_start};
    let inst = instance("Running", vec![cron("Stop", "30 18 * * *", "UTC")]);
    let stored = json!({
        "computeStartStop": [cron("Stop", "0 17 * * *", "UTC"), cron("Stop", "20 18 * * *", "UTC")],
        "expires": "2026-03-09T18:10:00Z",
    });
    let cfg = Config::default();
    // The governor builds the set from the window's start, as the tick does.
    let at = |watermark: &str, now: &str| {
        let since = window_start(Some(t(watermark)), t(now), cfg.catch_up);
        let set = effective_schedules_since(&inst, Some(&stored), &[], since);
        let v = InstanceView::new(&inst, set.schedules);
        let p = tick_with(&v, &cfg, Some(watermark), now);
        (v, p)
    };
    let native_1830 = |v: &InstanceView| {
        let es = v
            .schedules
            .iter()
            .find(|s| s.source == Source::Native)
            .expect("the native schedule, from the expiry on");
        occurrence_id(
            &v.key(),
            &es.source,
            es.index,
            Action::Stop,
            t("2026-03-09T18:30:00Z"),
            &es.content_hash,
        )
    };
    // 17:50 would be the 30-minute notice of the override's 18:20: none.
    let (_, p) = at("2026-03-09T17:49:00Z", "2026-03-09T17:50:00Z");
    assert!(p.notices.is_empty(), "{:?}", p.notices);
    // 18:00: the native 18:30's 30-minute notice, while the override is still in force.
    let (v, p) = at("2026-03-09T17:59:00Z", "2026-03-09T18:00:00Z");
    let notices: Vec<(String, i64)> = p
        .notices
        .iter()
        .map(|n| (n.occurrence_id.clone(), n.lead_minutes))
        .collect();
    assert_eq!(notices, [(native_1830(&v), 30)]);
    // 18:20: nothing to do; 18:30: the native Stop.
    let (_, p) = at("2026-03-09T18:19:00Z", "2026-03-09T18:20:00Z");
    assert!(p.decisions.is_empty(), "{:?}", p.decisions);
    let (v, p) = at("2026-03-09T18:29:00Z", "2026-03-09T18:30:00Z");
    assert_eq!(kinds(&p), vec![(Action::Stop, DecisionKind::Execute)]);
    assert_eq!(p.decisions[0].occurrence_id, native_1830(&v));
    // Down from 16:59 to 18:45: the override's 17:00 and the native 18:30, not the 18:20.
    let (_, p) = at("2026-03-09T16:59:00Z", "2026-03-09T18:45:00Z");
    let times: Vec<DateTime<Utc>> = p.decisions.iter().map(|d| d.at).collect();
    assert_eq!(
        times,
        [t("2026-03-09T17:00:00Z"), t("2026-03-09T18:30:00Z")],
        "{:?}",
        p.decisions
    );
    // After the expiry, the set is the native one alone.
    let set = effective_schedules_since(&inst, Some(&stored), &[], t("2026-03-09T18:10:00Z"));
    assert!(set
        .schedules
        .iter()
        .all(|s| s.source == Source::Native && s.from.is_none()));
}

/// A record made while a Stop governed, for an instant its schedule no longer governs, is not
/// carried out: the override's 18:20 Stop noticed before `expires: 18:10` was added, and a
/// policy Stop at 18:00 noticed before the owner set an override until tomorrow (the policy
/// resumes only then). Each record is judged at its own instant, not by any schedule of the
/// set that happens to give the same id.
#[test]
fn a_record_is_not_carried_out_by_a_schedule_that_does_not_govern_its_instant() {
    use curfew_engine::governor::{effective_schedules_since, window_start, PolicyDefault};
    let inst = instance("Running", Vec::new());
    let cfg = Config::default();
    let policy = [cron("Stop", "0 18 * * *", "UTC")];
    let defaults = [PolicyDefault {
        policy: "nightly",
        schedules: &policy,
    }];
    let cases = [
        // The override's own 18:20, now past its expiry.
        (
            json!({"computeStartStop": [cron("Stop", "20 18 * * *", "UTC")], "expires": "2026-03-09T18:10:00Z"}),
            "2026-03-09T18:20:00Z",
            Source::Override,
        ),
        // The policy's 18:00, while an override postpones it until tomorrow.
        (
            json!({"computeStartStop": [cron("Stop", "0 22 * * *", "UTC")], "expires": "2026-03-10T12:00:00Z"}),
            "2026-03-09T18:00:00Z",
            Source::Policy("nightly".into()),
        ),
    ];
    for (stored, at, source) in cases {
        let since = window_start(
            Some(t("2026-03-09T17:59:00Z")),
            t("2026-03-09T18:30:00Z"),
            cfg.catch_up,
        );
        let set = effective_schedules_since(&inst, Some(&stored), &defaults, since);
        let mut v = InstanceView::new(&inst, set.schedules);
        let es = v
            .schedules
            .iter()
            .find(|s| s.source == source)
            .unwrap_or_else(|| panic!("{source:?} in the set"))
            .clone();
        let id = occurrence_id(
            &v.key(),
            &es.source,
            es.index,
            Action::Stop,
            t(at),
            &es.content_hash,
        );
        let mut e = LedgerEntry::planned(&id, Action::Stop, t(at));
        e.notified = vec![30];
        v.ledger.push(e);
        for (wm, now) in [
            ("2026-03-09T17:59:00Z", "2026-03-09T18:00:00Z"),
            ("2026-03-09T18:09:00Z", "2026-03-09T18:10:00Z"),
            ("2026-03-09T17:59:00Z", "2026-03-09T18:30:00Z"),
        ] {
            let p = tick_with(&v, &cfg, Some(wm), now);
            assert!(
                !p.decisions
                    .iter()
                    .any(|d| d.occurrence_id == id && d.kind == DecisionKind::Execute),
                "{source:?} at {at}, tick {now}: {:?}",
                p.decisions
            );
            assert!(
                !p.notices.iter().any(|n| n.occurrence_id == id),
                "{source:?} at {at}, tick {now}: {:?}",
                p.notices
            );
        }
    }
}
