//! The store's ledger records and the governor's ledger view are two spellings of one thing;
//! this is the only place that translates between them.
//!
//! | store `state` | governor `status` | dismissal |
//! |---|---|---|
//! | Planned, Notified | Planned | — |
//! | Snoozed | Planned | Snooze { until: snoozed_until } |
//! | Dismissed | Skipped | Skip |
//! | Deferred, Executing, Done, Failed, Missed, NoOp | the same | — |

use chrono::{DateTime, Utc};
use curfew_engine::governor::{self, Decision, DecisionKind, Dismissal, OpenClaim, Status};
use curfew_engine::Action;
use curfew_store::{LedgerAction, LedgerEntry, LedgerState};

/// The governor's view of a stored record, with the lead times already notified.
pub(crate) fn to_engine(e: &LedgerEntry, notified: &[u32]) -> governor::LedgerEntry {
    let (status, dismissal) = match e.state {
        LedgerState::Planned | LedgerState::Notified => (Status::Planned, None),
        LedgerState::Snoozed => (
            Status::Planned,
            e.snoozed_until.map(|until| Dismissal::Snooze { until }),
        ),
        LedgerState::Dismissed => (Status::Skipped, Some(Dismissal::Skip)),
        LedgerState::Deferred => (Status::Deferred, None),
        LedgerState::Executing => (Status::Executing, None),
        LedgerState::Done => (Status::Done, None),
        LedgerState::Failed => (Status::Failed, None),
        LedgerState::Missed => (Status::Missed, None),
        LedgerState::NoOp => (Status::NoOp, None),
    };
    governor::LedgerEntry {
        occurrence_id: e.occurrence_id.clone(),
        action: engine_action(e.action),
        at: e.at,
        status,
        notified: notified.iter().map(|m| i64::from(*m)).collect(),
        dismissal,
    }
}

/// The claim an `Executing` record stands for (its last update is the claim).
pub(crate) fn claim_of(e: &LedgerEntry) -> OpenClaim {
    OpenClaim {
        occurrence_id: e.occurrence_id.clone(),
        action: engine_action(e.action),
        at: e.at,
        claimed_at: e.updated_at,
    }
}

fn engine_action(action: LedgerAction) -> Action {
    match action {
        LedgerAction::Start => Action::Start,
        LedgerAction::Stop | LedgerAction::IdleStop => Action::Stop,
    }
}

/// The store state a decision settles an occurrence in.
pub(crate) fn state_of(kind: DecisionKind) -> LedgerState {
    store_state(kind.status())
}

/// The store state of a governor status.
pub(crate) fn store_state(status: Status) -> LedgerState {
    match status {
        Status::Planned => LedgerState::Planned,
        Status::Deferred => LedgerState::Deferred,
        Status::Executing => LedgerState::Executing,
        Status::Done => LedgerState::Done,
        Status::Failed => LedgerState::Failed,
        Status::Missed => LedgerState::Missed,
        Status::NoOp => LedgerState::NoOp,
        Status::Skipped => LedgerState::Dismissed,
    }
}

/// The store action of a decision (idle stops are kept apart for the cost story).
pub(crate) fn action_of(action: Action, idle: bool) -> LedgerAction {
    match (action, idle) {
        (Action::Start, _) => LedgerAction::Start,
        (Action::Stop, true) => LedgerAction::IdleStop,
        (Action::Stop, false) => LedgerAction::Stop,
    }
}

/// The ledger's label of a Stop an `off` calendar added: `calendar:<name>` (it is no idle stop).
pub(crate) fn calendar_label(calendar: Option<&str>) -> Option<String> {
    calendar.map(|c| format!("calendar:{c}"))
}

/// A schedule label for the ledger: `native#0 Cron 0 18 * * * (Pacific Standard Time)`.
pub(crate) fn schedule_label(s: Option<&governor::ScheduleRef>) -> String {
    match s {
        None => "idle".to_string(),
        Some(r) => {
            let source = match &r.source {
                curfew_engine::schedule::Source::Native => "native".to_string(),
                curfew_engine::schedule::Source::Override => "override".to_string(),
                curfew_engine::schedule::Source::Policy(p) => format!("policy:{p}"),
            };
            format!("{source}#{} {} ({})", r.index, r.trigger, r.time_zone)
        }
    }
}

/// A fresh `Planned` record for a decision's occurrence.
pub(crate) fn planned(d: &Decision, instance_key: &str, now: DateTime<Utc>) -> LedgerEntry {
    LedgerEntry {
        occurrence_id: d.occurrence_id.clone(),
        instance_id: instance_key.to_string(),
        schedule: calendar_label(d.calendar.as_deref())
            .unwrap_or_else(|| schedule_label(d.schedule.as_ref())),
        action: action_of(d.action, d.schedule.is_none() && d.calendar.is_none()),
        at: d.at,
        state: LedgerState::Planned,
        snoozed_until: None,
        attempts: 0,
        reason: d.reason.clone(),
        outcome: None,
        updated_at: now,
    }
}

/// The one `Missed` record standing for an instance's occurrences beyond the catch-up horizon:
/// at the newest one's time, with that one's action, the summary's sentence as its reason.
pub(crate) fn missed_summary(
    s: &governor::MissedSummary,
    instance_key: &str,
    now: DateTime<Utc>,
) -> LedgerEntry {
    LedgerEntry {
        occurrence_id: s.id.clone(),
        instance_id: instance_key.to_string(),
        schedule: format!("catch-up summary of {} occurrence(s)", s.count),
        action: action_of(s.last_action, false),
        at: s.last,
        state: LedgerState::Missed,
        snoozed_until: None,
        attempts: 0,
        reason: s.reason.clone(),
        outcome: None,
        updated_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(state: LedgerState) -> LedgerEntry {
        LedgerEntry {
            occurrence_id: "o".into(),
            instance_id: "i".into(),
            schedule: "native#0".into(),
            action: LedgerAction::Stop,
            at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            state,
            snoozed_until: Some(DateTime::from_timestamp(1_800_001_800, 0).unwrap()),
            attempts: 0,
            reason: String::new(),
            outcome: None,
            updated_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn every_store_state_maps_and_settled_states_stay_settled() {
        for s in LedgerState::ALL {
            let g = to_engine(&entry(s), &[30]);
            assert_eq!(g.notified, vec![30]);
            // A state the store cannot claim is one the governor never decides again, and back.
            let claimable = s.is_claimable() || s == LedgerState::Planned;
            assert_eq!(
                !g.status.is_final(),
                claimable || s == LedgerState::Notified,
                "{s:?}"
            );
        }
        let snoozed = to_engine(&entry(LedgerState::Snoozed), &[]);
        assert!(matches!(snoozed.dismissal, Some(Dismissal::Snooze { .. })));
        assert_eq!(
            snoozed.due(),
            DateTime::from_timestamp(1_800_001_800, 0).unwrap()
        );
        assert_eq!(
            to_engine(&entry(LedgerState::Dismissed), &[]).status,
            Status::Skipped
        );
    }

    #[test]
    fn decisions_settle_in_matching_store_states() {
        assert_eq!(state_of(DecisionKind::Skipped), LedgerState::Dismissed);
        assert_eq!(state_of(DecisionKind::Suppressed), LedgerState::Dismissed);
        assert_eq!(state_of(DecisionKind::Defer), LedgerState::Deferred);
        assert_eq!(state_of(DecisionKind::NoOp), LedgerState::NoOp);
        assert_eq!(state_of(DecisionKind::Missed), LedgerState::Missed);
        assert_eq!(state_of(DecisionKind::Failed), LedgerState::Failed);
    }
}
