//! Drift: an action Curfew carried out (ARM accepted it, and may even have said it succeeded)
//! whose promise the instance does not keep by the first tick after its deadline. ARM's
//! "succeeded" is not proof; the instance's state is.
//!
//! The promise in force is the instance's newest acted-on occurrence (`Done`, `Executing` or
//! `NoOp`, by due time): only when that one is `Done` and `due + DRIFT_GRACE` has passed is the
//! state compared. A user's opposite action after the due time (a manual start after a stop) is
//! respected, not reported; so is any state that is neither side of the action nor on the way
//! (Resizing, Deleting, a failure, unknown).

use super::{InstanceView, PowerState, Status};
use crate::schedule::Action;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// How long after its due time an action has to show in the instance's state: Azure ML stops
/// an instance in a few minutes and starts one in under ten.
pub const DRIFT_GRACE: TimeDelta = TimeDelta::minutes(15);

/// A carried-out action the instance does not reflect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    /// The occurrence carried out (report it once per occurrence).
    pub occurrence_id: String,
    /// Compute name.
    pub instance: String,
    /// ARM id, when known.
    pub instance_id: Option<String>,
    /// Start or Stop.
    pub action: Action,
    /// When it was due (its time, or a snooze's end).
    pub due: DateTime<Utc>,
    /// The state it promised.
    pub expected: &'static str,
    /// The state found.
    pub observed: String,
    /// In words.
    pub reason: String,
}

/// The drift of one instance at `now`, if its newest carried-out action does not show.
pub fn drift(inst: &InstanceView, now: DateTime<Utc>) -> Option<Drift> {
    let newest = inst
        .ledger
        .iter()
        .filter(|e| {
            matches!(e.status, Status::Done | Status::Executing | Status::NoOp) && e.due() <= now
        })
        .max_by_key(|e| e.due())?;
    if newest.status != Status::Done || now < newest.due() + DRIFT_GRACE {
        return None;
    }
    // Drift is the action not taking: still (or again) on the side it left, or stuck on the
    // way. Other states (Resizing, Deleting, a failure, unknown) are someone else's operation
    // or another problem, reported elsewhere.
    let observed = PowerState::of(inst.state.as_deref());
    let not_taken = match newest.action {
        Action::Stop => matches!(
            observed,
            PowerState::Running | PowerState::JobRunning | PowerState::Stopping
        ),
        Action::Start => matches!(observed, PowerState::Stopped | PowerState::Starting),
    };
    if !not_taken || changed_since(inst, newest.action, newest.due()) {
        return None;
    }
    let expected = match newest.action {
        Action::Stop => "Stopped",
        Action::Start => "Running",
    };
    let verb = match newest.action {
        Action::Stop => "stop",
        Action::Start => "start",
    };
    Some(Drift {
        occurrence_id: newest.occurrence_id.clone(),
        instance: inst.name.clone(),
        instance_id: inst.id.clone(),
        action: newest.action,
        due: newest.due(),
        expected,
        observed: observed.to_string(),
        reason: format!(
            "the {verb} due at {} was carried out, but {} min later the instance is {observed}, not {expected}",
            newest.due().format("%Y-%m-%d %H:%M UTC"),
            (now - newest.due()).num_minutes()
        ),
    })
}

/// Whether someone (a user, Azure ML's own schedule or idle shutdown) acted against `action`
/// after `since`, by ARM's `lastOperation`.
fn changed_since(inst: &InstanceView, action: Action, since: DateTime<Utc>) -> bool {
    let Some(op) = &inst.last_operation else {
        return false;
    };
    let name = op.operation_name.as_deref().unwrap_or("");
    let against = match action {
        Action::Stop => ["start", "restart"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n)),
        Action::Start => name.eq_ignore_ascii_case("stop"),
    };
    let when = op
        .operation_time
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t.trim()).ok())
        .map(|t| t.with_timezone(&Utc));
    against && when.is_some_and(|w| w > since)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governor::{Dismissal, LedgerEntry};
    use crate::inventory::LastOperation;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn entry(id: &str, action: Action, at: &str, status: Status) -> LedgerEntry {
        LedgerEntry {
            status,
            ..LedgerEntry::planned(id, action, t(at))
        }
    }

    fn op(name: &str, at: &str) -> Option<LastOperation> {
        Some(LastOperation {
            operation_name: Some(name.into()),
            operation_time: Some(at.into()),
            operation_status: Some("Succeeded".into()),
            operation_trigger: Some("User".into()),
        })
    }

    struct Case {
        name: &'static str,
        state: &'static str,
        ledger: Vec<LedgerEntry>,
        last: Option<LastOperation>,
        now: &'static str,
        drift: Option<&'static str>,
    }

    #[test]
    fn a_carried_out_action_that_does_not_show_is_drift() {
        use Action::*;
        use Status::*;
        let stop = || entry("s", Stop, "2026-03-02T18:00:00Z", Done);
        let cases = [
            Case {
                name: "stopped as promised",
                state: "Stopped",
                ledger: vec![stop()],
                last: op("Stop", "2026-03-02T18:00:05Z"),
                now: "2026-03-02T18:20:00Z",
                drift: None,
            },
            Case {
                name: "ARM said succeeded, still Running",
                state: "Running",
                ledger: vec![stop()],
                last: op("Stop", "2026-03-02T18:00:05Z"),
                now: "2026-03-02T18:20:00Z",
                drift: Some("s"),
            },
            Case {
                name: "within the grace",
                state: "Running",
                ledger: vec![stop()],
                last: None,
                now: "2026-03-02T18:14:00Z",
                drift: None,
            },
            Case {
                name: "exactly at the deadline",
                state: "Running",
                ledger: vec![stop()],
                last: None,
                now: "2026-03-02T18:15:00Z",
                drift: Some("s"),
            },
            Case {
                name: "still Stopping long after",
                state: "Stopping",
                ledger: vec![stop()],
                last: None,
                now: "2026-03-02T18:40:00Z",
                drift: Some("s"),
            },
            Case {
                name: "a user started it since",
                state: "Running",
                ledger: vec![stop()],
                last: op("Start", "2026-03-02T18:10:00Z"),
                now: "2026-03-02T18:20:00Z",
                drift: None,
            },
            Case {
                name: "a later start was carried out",
                state: "Running",
                ledger: vec![stop(), entry("a", Start, "2026-03-02T18:10:00Z", Done)],
                last: None,
                now: "2026-03-02T18:20:00Z",
                drift: None,
            },
            Case {
                name: "a later start in flight",
                state: "Starting",
                ledger: vec![stop(), entry("a", Start, "2026-03-02T18:10:00Z", Executing)],
                last: None,
                now: "2026-03-02T18:30:00Z",
                drift: None,
            },
            Case {
                name: "failed, not carried out",
                state: "Running",
                ledger: vec![entry("s", Stop, "2026-03-02T18:00:00Z", Failed)],
                last: None,
                now: "2026-03-02T18:30:00Z",
                drift: None,
            },
            Case {
                name: "unknown state proves nothing",
                state: "",
                ledger: vec![stop()],
                last: None,
                now: "2026-03-02T18:30:00Z",
                drift: None,
            },
            Case {
                name: "a start that left it Stopped",
                state: "Stopped",
                ledger: vec![entry("a", Start, "2026-03-02T08:00:00Z", Done)],
                last: op("Start", "2026-03-02T08:00:02Z"),
                now: "2026-03-02T08:30:00Z",
                drift: Some("a"),
            },
            Case {
                name: "a start, then Azure ML's idle stop",
                state: "Stopped",
                ledger: vec![entry("a", Start, "2026-03-02T08:00:00Z", Done)],
                last: op("Stop", "2026-03-02T09:00:00Z"),
                now: "2026-03-02T09:30:00Z",
                drift: None,
            },
            Case {
                name: "resized by someone since",
                state: "Resizing",
                ledger: vec![stop()],
                last: None,
                now: "2026-03-02T18:30:00Z",
                drift: None,
            },
            Case {
                name: "a start with a job running",
                state: "JobRunning",
                ledger: vec![entry("a", Start, "2026-03-02T08:00:00Z", Done)],
                last: None,
                now: "2026-03-02T08:30:00Z",
                drift: None,
            },
        ];
        for c in cases {
            let inst = InstanceView {
                name: "ci".into(),
                state: Some(c.state.into()),
                last_operation: c.last,
                ledger: c.ledger,
                ..Default::default()
            };
            let got = drift(&inst, t(c.now));
            assert_eq!(
                got.as_ref().map(|d| d.occurrence_id.as_str()),
                c.drift,
                "{}: {got:?}",
                c.name
            );
            if let Some(d) = got {
                assert!(
                    d.reason.contains(&format!("instance is {}", d.observed)),
                    "{}",
                    d.reason
                );
            }
        }
    }

    #[test]
    fn a_snoozed_stop_is_held_to_its_new_time() {
        let mut e = entry("s", Action::Stop, "2026-03-02T18:00:00Z", Status::Done);
        e.dismissal = Some(Dismissal::Snooze {
            until: t("2026-03-02T19:00:00Z"),
        });
        let inst = InstanceView {
            name: "ci".into(),
            state: Some("Running".into()),
            ledger: vec![e],
            ..Default::default()
        };
        assert!(drift(&inst, t("2026-03-02T19:10:00Z")).is_none());
        let d = drift(&inst, t("2026-03-02T19:15:00Z")).unwrap();
        assert_eq!(d.due, t("2026-03-02T19:00:00Z"));
    }
}
