//! Calendars in the tick (docs/calendars.md): the tick asks the plan's question, so a start on
//! a holiday is skipped naming the calendar, a stop a `skip-stop` calendar suppresses is never
//! warned of, and an `off` calendar's stop is executed at the start of the instance's day.
//! `cargo test -p curfew-engine --test calendar_tick`.

use chrono::{DateTime, Utc};
use curfew_engine::fleet::{self, PlanStream};
use curfew_engine::governor::{
    decide, effective_schedules, Config, DecisionKind, InstanceView, TickInput,
};
use curfew_engine::holiday::{Assigned, Assignment, CalendarSet, Effect, HolidayCalendar, Scope};
use curfew_engine::inventory::Instance;
use curfew_engine::schedule::Action;
use serde_json::{json, Value};
use std::sync::Arc;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn cron(action: &str, expr: &str) -> Value {
    json!({"action": action, "triggerType": "Cron", "cron": {"expression": expr, "timeZone": "Pacific/Auckland"}})
}

fn instance(state: &str) -> Instance {
    Instance {
        name: "gpu-01".into(),
        state: Some(state.into()),
        assigned_user: Some("owner".into()),
        schedules: vec![cron("Start", "0 8 * * *"), cron("Stop", "0 18 * * *")],
        ..Default::default()
    }
}

fn set(effect: Effect, days: &[&str]) -> CalendarSet {
    let mut c = HolidayCalendar::new("nz", None).unwrap();
    for d in days {
        let d = d.parse().unwrap();
        c.add_range(d, d);
    }
    CalendarSet {
        calendars: vec![c],
        assignments: vec![Assignment {
            calendar: "nz".into(),
            scope: Scope::Instance("gpu-01".into()),
            effect,
            until: None,
        }],
    }
}

fn view(inst: &Instance, set: &CalendarSet, now: DateTime<Utc>) -> InstanceView {
    let windows: Vec<Arc<_>> = set
        .calendars
        .iter()
        .map(|c| {
            Arc::new(c.window(
                now - chrono::Duration::days(8),
                now + chrono::Duration::days(8),
            ))
        })
        .collect();
    let mut v = InstanceView::new(inst, effective_schedules(inst, None, &[]).schedules);
    v.calendars = Assigned::for_instance(set, &windows, inst);
    v
}

fn tick(v: &InstanceView, watermark: &str, now: &str) -> curfew_engine::governor::TickPlan {
    decide(
        &TickInput {
            instances: std::slice::from_ref(v),
            watermark: Some(t(watermark)),
            config: &Config::default(),
        },
        t(now),
    )
}

/// (action, at, fires) of the plan over the same window, with the same calendars.
fn planned(
    inst: &Instance,
    set: &CalendarSet,
    from: &str,
    to: &str,
) -> Vec<(Action, DateTime<Utc>, bool)> {
    let inv = curfew_engine::Inventory {
        instances: vec![inst.clone()],
        ..Default::default()
    };
    let fleet = fleet::compile(&inv);
    let mut fc =
        fleet::FleetCalendars::new(&set.calendars, set.assignments.clone(), t(from), t(to));
    fc.in_force = vec![fleet::FleetCalendars::matching(&fc.assignments, inst)];
    let ranks = fleet::plan_ranks(&fleet);
    PlanStream::with_calendars(&fleet, &ranks, 0..1, t(from), t(to), Some(&fc))
        .map(|p| (p.action, p.occurrence.at, p.fires()))
        .collect()
}

#[test]
fn a_start_on_a_holiday_is_skipped_naming_the_calendar() {
    // 25 Dec 08:00 NZDT = 24 Dec 19:00Z.
    let inst = instance("Stopped");
    let s = set(Effect::SkipStart, &["2026-12-25"]);
    let v = view(&inst, &s, t("2026-12-24T19:00:30Z"));
    let plan = tick(&v, "2026-12-24T18:59:00Z", "2026-12-24T19:00:30Z");
    assert_eq!(plan.decisions.len(), 1, "{:?}", plan.decisions);
    let d = &plan.decisions[0];
    assert_eq!((d.action, d.kind), (Action::Start, DecisionKind::Skipped));
    assert!(
        d.reason.contains("suppressed by calendar:nz"),
        "{}",
        d.reason
    );
    // The plan says the same.
    let p = planned(&inst, &s, "2026-12-24T19:00:00Z", "2026-12-24T19:01:00Z");
    assert_eq!(p, vec![(Action::Start, t("2026-12-24T19:00:00Z"), false)]);
    // The next day's start executes.
    let plan = tick(&v, "2026-12-25T18:59:00Z", "2026-12-25T19:00:30Z");
    assert_eq!(plan.decisions[0].kind, DecisionKind::Execute);
}

#[test]
fn a_stop_suppressed_by_skip_stop_gets_no_warning_and_does_not_run() {
    // 1 Dec 18:00 NZDT = 05:00Z. 30 minutes before: no notice (a plain tick would send one).
    let inst = instance("Running");
    let s = set(Effect::SkipStop, &["2026-12-01"]);
    let v = view(&inst, &s, t("2026-12-01T04:30:00Z"));
    let plan = tick(&v, "2026-12-01T04:29:00Z", "2026-12-01T04:30:00Z");
    assert!(plan.notices.is_empty(), "{:?}", plan.notices);
    let plain = view(&inst, &CalendarSet::default(), t("2026-12-01T04:30:00Z"));
    assert_eq!(
        tick(&plain, "2026-12-01T04:29:00Z", "2026-12-01T04:30:00Z")
            .notices
            .len(),
        1
    );
    let plan = tick(&v, "2026-12-01T04:59:00Z", "2026-12-01T05:00:30Z");
    let d = &plan.decisions[0];
    assert_eq!((d.action, d.kind), (Action::Stop, DecisionKind::Skipped));
    assert!(d.reason.contains("calendar:nz"));
    // The next day's stop is warned of and executed.
    let plan = tick(&v, "2026-12-02T04:29:00Z", "2026-12-02T04:30:00Z");
    assert_eq!(plan.notices.len(), 1);
}

#[test]
fn an_off_day_stops_the_instance_at_its_local_start_warned_and_agreeing_with_the_plan() {
    // 25 Dec 00:00 NZDT = 24 Dec 11:00Z.
    let inst = instance("Running");
    let s = set(Effect::Off, &["2026-12-25"]);
    let v = view(&inst, &s, t("2026-12-24T10:30:00Z"));
    let plan = tick(&v, "2026-12-24T10:29:00Z", "2026-12-24T10:30:00Z");
    assert_eq!(plan.notices.len(), 1, "{:?}", plan.notices);
    assert!(
        plan.notices[0].reason.contains("calendar 'nz' is off"),
        "{}",
        plan.notices[0].reason
    );
    assert!(plan.notices[0].schedule.is_none() && !plan.notices[0].native_only);
    assert_eq!(plan.next_deadline, Some(t("2026-12-24T10:55:00Z")));
    let plan = tick(&v, "2026-12-24T10:59:00Z", "2026-12-24T11:00:30Z");
    assert_eq!(plan.decisions.len(), 1, "{:?}", plan.decisions);
    let d = &plan.decisions[0];
    assert_eq!(
        (d.action, d.kind, d.at),
        (
            Action::Stop,
            DecisionKind::Execute,
            t("2026-12-24T11:00:00Z")
        )
    );
    // The plan has the same stop, and the day's start suppressed.
    let p = planned(&inst, &s, "2026-12-24T10:00:00Z", "2026-12-25T10:00:00Z");
    assert_eq!(
        p,
        vec![
            (Action::Stop, t("2026-12-24T11:00:00Z"), true),
            (Action::Start, t("2026-12-24T19:00:00Z"), false),
            (Action::Stop, t("2026-12-25T05:00:00Z"), true),
        ]
    );
}
