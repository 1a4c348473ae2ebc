//! Claims that did not settle: the executor claims an occurrence (`Executing`) before its ARM
//! call and settles it after, so a process killed in between leaves the record `Executing`.
//! These rules decide what such a record means (docs/governor-e2e.md tells how each was found):
//! - [`reconcile`]: once stale, `Done` if the instance shows the action, `NoOp` if
//!   [`superseded`] by a later occurrence, else back to `Planned` to be re-decided;
//! - while a record is still `Executing` (in flight elsewhere, or too recent to judge), later
//!   occurrences of its instance wait ([`decide`](super::decide) defers them).

use super::tick::{Decision, DecisionKind};
use super::{LedgerEntry, PowerState, Status};
use crate::schedule::Action;
use chrono::{DateTime, TimeDelta, Utc};
use std::fmt;

/// An `Executing` record older than this was left by an interrupted process: no live executor
/// takes that long between its claim and its settlement. The claim is stamped when it is made
/// (not at the tick's start), and this lease outlasts the ARM client's longest call for an
/// accepted action (2 minutes, retries included; the tick does not poll operations) with room
/// to settle, so a second governor never re-executes an action still in flight.
pub const STALE_EXECUTING: TimeDelta = TimeDelta::minutes(5);

/// Appended to the reason of a decision that waits for an in-doubt occurrence.
pub const IN_DOUBT_WAIT: &str = "waiting: an earlier occurrence of this instance is in flight or was interrupted, decided once it settles";

/// An occurrence claimed for execution (`Executing`) whose settlement was not recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenClaim {
    /// The occurrence id.
    pub occurrence_id: String,
    /// What the claim was for.
    pub action: Action,
    /// The occurrence's own time.
    pub at: DateTime<Utc>,
    /// When it was claimed (the record's last update).
    pub claimed_at: DateTime<Utc>,
}

impl OpenClaim {
    /// Whether the claim is older than [`STALE_EXECUTING`]: its process is gone.
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        now - self.claimed_at > STALE_EXECUTING
    }
}

/// What a stale claim turns out to be; `Display` is the ledger's outcome text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reconciliation {
    /// The instance shows the action (ARM took it before the process died): `Done`.
    Reached(PowerState),
    /// A later occurrence has acted on the instance since: its state no longer says whether
    /// this call reached ARM, and executing it now would undo the later action: `NoOp`.
    Superseded,
    /// It never reached ARM: back to `Planned`, for the governor to re-decide (execute it if
    /// still within catch-up, else record it missed or repair it).
    Redecide,
}

impl Reconciliation {
    /// The ledger status the record moves to.
    pub fn status(&self) -> Status {
        match self {
            Reconciliation::Reached(_) => Status::Done,
            Reconciliation::Superseded => Status::NoOp,
            Reconciliation::Redecide => Status::Planned,
        }
    }
}

impl fmt::Display for Reconciliation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reconciliation::Reached(s) => {
                write!(f, "reconciled after an interrupted run: instance is {s}")
            }
            Reconciliation::Superseded => f.write_str(
                "interrupted; a later occurrence has acted on the instance since: not re-executed",
            ),
            Reconciliation::Redecide => {
                f.write_str("interrupted before ARM accepted it; re-decided")
            }
        }
    }
}

/// Settles a claim against the instance's `observed` state; `None` while it is not stale
/// (it may still be in flight). `superseded` is [`superseded`] over the instance's ledger.
pub fn reconcile(
    claim: &OpenClaim,
    observed: &PowerState,
    superseded: bool,
    now: DateTime<Utc>,
) -> Option<Reconciliation> {
    if !claim.is_stale(now) {
        return None;
    }
    Some(if observed.has_reached(claim.action) {
        Reconciliation::Reached(observed.clone())
    } else if superseded {
        Reconciliation::Superseded
    } else {
        Reconciliation::Redecide
    })
}

/// Whether another occurrence of the instance, later by its own time, has settled in its intent
/// (`Done`, or `NoOp`: found already so): the newest intent wins. Occurrence times, not record
/// times: a record reconciled to `Done` late still names an early action. `ledger` is the
/// instance's records as read, before any of them is reconciled.
pub fn superseded(claim: &OpenClaim, ledger: &[LedgerEntry]) -> bool {
    ledger.iter().any(|e| {
        matches!(e.status, Status::Done | Status::NoOp)
            && e.occurrence_id != claim.occurrence_id
            && e.at > claim.at
    })
}

/// The time of the instance's earliest in-doubt occurrence: a record still `Executing` once
/// stale claims are reconciled (in flight in another governor, or interrupted too recently).
pub(crate) fn in_doubt_since(ledger: &[LedgerEntry]) -> Option<DateTime<Utc>> {
    ledger
        .iter()
        .filter(|e| e.status == Status::Executing)
        .map(|e| e.at)
        .min()
}

/// Defers the instance's decisions to execute or record `NoOp` for occurrences later than
/// `since` until the in-doubt one settles: decided against a state it may be about to change,
/// they could be undone by it (a Start found "already running" before an interrupted earlier
/// Stop is retried). Deferred, they stay open and are decided in order once it settles.
pub(crate) fn wait_for_in_doubt(decisions: &mut [Decision], since: Option<DateTime<Utc>>) {
    let Some(since) = since else { return };
    for d in decisions {
        if d.at > since && matches!(d.kind, DecisionKind::Execute | DecisionKind::NoOp) {
            d.kind = DecisionKind::Defer;
            d.reason.push_str("; ");
            d.reason.push_str(IN_DOUBT_WAIT);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn claim(action: Action, at: &str, claimed_at: &str) -> OpenClaim {
        OpenClaim {
            occurrence_id: "stop-18".into(),
            action,
            at: t(at),
            claimed_at: t(claimed_at),
        }
    }

    fn entry(id: &str, at: &str, status: Status) -> LedgerEntry {
        let mut e = LedgerEntry::planned(id, Action::Start, t(at));
        e.status = status;
        e
    }

    #[test]
    fn a_claim_is_judged_only_once_it_is_older_than_the_lease() {
        assert_eq!(STALE_EXECUTING, TimeDelta::minutes(5));
        let c = claim(Action::Stop, "2026-03-02T18:00:00Z", "2026-03-02T18:00:30Z");
        for (now, stale) in [
            ("2026-03-02T18:00:30Z", false),
            ("2026-03-02T18:05:30Z", false),
            ("2026-03-02T18:05:31Z", true),
            ("2026-03-02T19:00:00Z", true),
        ] {
            assert_eq!(c.is_stale(t(now)), stale, "{now}");
            assert_eq!(
                reconcile(&c, &PowerState::Running, false, t(now)).is_some(),
                stale,
                "{now}"
            );
        }
    }

    /// Start is reached by Running/Starting, Stop by Stopped/Stopping; otherwise a superseded
    /// claim is a NoOp and any other goes back to the governor.
    #[test]
    fn a_stale_claim_is_done_if_the_instance_shows_it_else_superseded_else_redecided() {
        use PowerState::*;
        let now = t("2026-03-02T18:10:00Z");
        let table = [
            (
                Action::Start,
                Running,
                false,
                Reconciliation::Reached(Running),
            ),
            (
                Action::Start,
                Starting,
                true,
                Reconciliation::Reached(Starting),
            ),
            (Action::Start, Stopped, true, Reconciliation::Superseded),
            (Action::Start, Stopped, false, Reconciliation::Redecide),
            (Action::Start, JobRunning, false, Reconciliation::Redecide),
            (Action::Start, Stopping, false, Reconciliation::Redecide),
            (
                Action::Stop,
                Stopped,
                false,
                Reconciliation::Reached(Stopped),
            ),
            (
                Action::Stop,
                Stopping,
                true,
                Reconciliation::Reached(Stopping),
            ),
            (Action::Stop, Running, true, Reconciliation::Superseded),
            (Action::Stop, Running, false, Reconciliation::Redecide),
            (Action::Stop, Starting, false, Reconciliation::Redecide),
            (Action::Stop, Unknown, false, Reconciliation::Redecide),
            (
                Action::Stop,
                Failed("StopFailed".into()),
                true,
                Reconciliation::Superseded,
            ),
        ];
        for (action, observed, superseded, expected) in table {
            let c = claim(action, "2026-03-02T18:00:00Z", "2026-03-02T18:00:00Z");
            assert_eq!(
                reconcile(&c, &observed, superseded, now),
                Some(expected.clone()),
                "{action} on {observed}, superseded {superseded}"
            );
        }
    }

    #[test]
    fn reconciliations_read_as_the_ledger_records_them() {
        for (r, status, text) in [
            (
                Reconciliation::Reached(PowerState::Stopped),
                Status::Done,
                "reconciled after an interrupted run: instance is Stopped",
            ),
            (
                Reconciliation::Superseded,
                Status::NoOp,
                "interrupted; a later occurrence has acted on the instance since: not re-executed",
            ),
            (
                Reconciliation::Redecide,
                Status::Planned,
                "interrupted before ARM accepted it; re-decided",
            ),
        ] {
            assert_eq!(r.status(), status);
            assert_eq!(r.to_string(), text);
        }
    }

    /// Only a LATER occurrence (by its own time) settled Done or NoOp supersedes; the claim's
    /// own record, earlier or simultaneous ones, and open or failed ones do not.
    #[test]
    fn superseded_only_by_a_later_occurrence_done_or_noop() {
        let c = claim(Action::Stop, "2026-03-02T18:00:00Z", "2026-03-02T18:00:00Z");
        let table = [
            (
                entry("start-19", "2026-03-02T19:00:00Z", Status::Done),
                true,
            ),
            (
                entry("start-19", "2026-03-02T19:00:00Z", Status::NoOp),
                true,
            ),
            (
                entry("start-19", "2026-03-02T19:00:00Z", Status::Executing),
                false,
            ),
            (
                entry("start-19", "2026-03-02T19:00:00Z", Status::Planned),
                false,
            ),
            (
                entry("start-19", "2026-03-02T19:00:00Z", Status::Deferred),
                false,
            ),
            (
                entry("start-19", "2026-03-02T19:00:00Z", Status::Failed),
                false,
            ),
            (
                entry("start-19", "2026-03-02T19:00:00Z", Status::Missed),
                false,
            ),
            (
                entry("start-19", "2026-03-02T19:00:00Z", Status::Skipped),
                false,
            ),
            (
                entry("start-17", "2026-03-02T17:00:00Z", Status::Done),
                false,
            ),
            (
                entry("start-18", "2026-03-02T18:00:00Z", Status::Done),
                false,
            ),
            // The claim's own record, even if its time were later, never supersedes it.
            (
                entry("stop-18", "2026-03-02T19:00:00Z", Status::Done),
                false,
            ),
        ];
        for (e, expected) in table {
            let ledger = [
                entry("stop-18", "2026-03-02T18:00:00Z", Status::Executing),
                e,
            ];
            assert_eq!(superseded(&c, &ledger), expected, "{:?}", ledger[1]);
        }
        assert!(!superseded(&c, &[]));
    }

    #[test]
    fn the_earliest_executing_record_is_the_one_in_doubt() {
        let ledger = [
            entry("a", "2026-03-02T19:00:00Z", Status::Executing),
            entry("b", "2026-03-02T17:00:00Z", Status::Done),
            entry("c", "2026-03-02T18:00:00Z", Status::Executing),
            entry("d", "2026-03-02T16:00:00Z", Status::Planned),
        ];
        assert_eq!(in_doubt_since(&ledger), Some(t("2026-03-02T18:00:00Z")));
        assert_eq!(in_doubt_since(&ledger[1..2]), None);
    }

    /// Only later Execute and NoOp decisions wait; every other kind, and anything at or before
    /// the in-doubt occurrence, is left as decided.
    #[test]
    fn only_later_execute_and_noop_decisions_wait_for_an_in_doubt_occurrence() {
        use DecisionKind::*;
        let since = t("2026-03-02T18:00:00Z");
        let table = [
            (Execute, "2026-03-02T18:02:00Z", Defer),
            (NoOp, "2026-03-02T18:02:00Z", Defer),
            (Defer, "2026-03-02T18:02:00Z", Defer),
            (Failed, "2026-03-02T18:02:00Z", Failed),
            (Missed, "2026-03-02T18:02:00Z", Missed),
            (Skipped, "2026-03-02T18:02:00Z", Skipped),
            (Suppressed, "2026-03-02T18:02:00Z", Suppressed),
            (Execute, "2026-03-02T18:00:00Z", Execute),
            (NoOp, "2026-03-02T17:58:00Z", NoOp),
        ];
        for (kind, at, expected) in table {
            let d = Decision {
                occurrence_id: "o".into(),
                instance: "ci-1".into(),
                instance_id: None,
                schedule: None,
                action: Action::Start,
                at: t(at),
                kind,
                repair: false,
                reason: "start: instance is Stopped".into(),
                calendar: None,
            };
            let mut ds = [d.clone()];
            wait_for_in_doubt(&mut ds, Some(since));
            assert_eq!(ds[0].kind, expected, "{kind:?} at {at}");
            let waited = kind != expected;
            assert_eq!(
                ds[0].reason.ends_with(IN_DOUBT_WAIT),
                waited,
                "{kind:?} at {at}"
            );
            let mut ds = [d];
            wait_for_in_doubt(&mut ds, None);
            assert_eq!(ds[0].kind, kind, "nothing in doubt");
        }
    }
}
