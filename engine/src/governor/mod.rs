//! The governor's pure decisions (docs/design.md §3, §4, §6, §7): each tick turns effective schedules,
//! instance states, the ledger and `now` into a [`TickPlan`]; dismissals are authorised here and
//! one-click links are signed and verified here. No I/O and no clock: the executor, the store and
//! the notifiers live in the handler and carry the plan out.
//!
//! # Layout
//! - [`id`]: stable occurrence ids and schedule content hashes (SHA-256).
//! - [`effective`]: which schedules apply to an instance, and from which source.
//! - [`tick`]: [`decide`] — catch-up, repair, state-aware no-ops, deferral, Stop wins,
//!   dismissals honoured, pre-shutdown notices, the next deadline.
//! - [`reconcile`](mod@reconcile): claims left `Executing` by an interrupted process — [`reconcile`](fn@reconcile),
//!   [`superseded`], and the in-doubt wait that [`decide`] applies.
//! - [`power`]: [`PowerState`] — ARM's instance state, typed (reached, fulfilled, accepting).
//! - [`drift`](mod@drift): [`drift`](fn@drift) — a carried-out action the instance's state does not
//!   show by its deadline (ARM "succeeded" is not proof).
//! - [`outcome`]: [`Outcome`] — what came of a decision once carried out, in the words reports use.
//! - [`dismiss`]: [`authorize`] — who may skip or snooze an occurrence, caps, idempotence.
//! - [`link`]: [`sign`] / [`verify`] — HMAC-SHA256 one-click tokens with key rotation.
//!
//! `docs/governor.md` states the rules with examples and the measured cost of a tick.

pub mod dismiss;
pub mod drift;
pub mod effective;
pub mod id;
pub mod link;
pub mod outcome;
pub mod overrides;
pub mod power;
pub mod reconcile;
pub mod tick;
pub mod upcoming;

pub use dismiss::{authorize, AcceptedDismissal, Authority, Choice, DismissalRequest, Rejection};
pub use drift::{drift, Drift, DRIFT_GRACE};
pub use effective::{
    effective_schedules, effective_schedules_since, enabled_native_stops, next_scheduled_start,
    policy_applications, EffectiveSchedule, EffectiveSet, PolicyApplication, PolicyDefault,
};
pub use link::{
    sign, sign_view, verify, verify_view, Claims, LinkError, LinkKey, ViewClaims, ViewPurpose,
};
pub use outcome::{LostRace, Outcome, Settlement};
pub use overrides::{
    adoption_lines, adoption_plan, authorize_editor, expired_overrides, override_expiry,
    override_in_force, parse_override, NativeLine, NotAllowed, OverrideBody,
};
pub use power::PowerState;
pub use reconcile::{
    reconcile, superseded, OpenClaim, Reconciliation, IN_DOUBT_WAIT, STALE_EXECUTING,
};
pub use tick::{
    decide, window_start, Decision, DecisionKind, DroppedNotice, MissedSummary, Notice, TickInput,
    TickPlan, MAX_TICK_WINDOW, WATERMARK_TOLERANCE,
};

use crate::inventory::{Instance, LastOperation};
use crate::schedule::{Action, Source};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// Occurrences late by at most this much still execute; older ones are missed (docs/design.md §6).
pub const DEFAULT_CATCH_UP: TimeDelta = TimeDelta::minutes(15);
/// Pre-shutdown notices go out this long before each Stop (docs/design.md §7).
pub const DEFAULT_LEAD_TIMES: [TimeDelta; 2] = [TimeDelta::minutes(30), TimeDelta::minutes(5)];
/// An action deferred by a transitional state fails once it is this late.
pub const DEFAULT_DEFER_DEADLINE: TimeDelta = TimeDelta::minutes(30);
/// A deferred action is retried this soon (the next tick of a per-minute timer).
pub const DEFAULT_DEFER_RETRY: TimeDelta = TimeDelta::minutes(1);
/// Snoozes postpone one occurrence by at most this much in total (docs/design.md §7).
pub const DEFAULT_SNOOZE_CAP: TimeDelta = TimeDelta::hours(4);
/// Missed occurrences older than this are summarised, one record per instance, instead of
/// recorded one by one (docs/design.md §13): an outage must not flood the ledger.
pub const DEFAULT_CATCH_UP_HORIZON: TimeDelta = TimeDelta::hours(24);
/// Records (ledger, audit, dismissals, cost timeline) older than this are swept from the
/// store, a bounded number per tick, so storage stays flat as history grows.
pub const DEFAULT_RETENTION: TimeDelta = TimeDelta::days(90);
/// The shortest retention allowed: longer than any tick's look-back.
pub const MIN_RETENTION: TimeDelta = TimeDelta::days(7);

/// The governor's knobs; `Config::default()` is docs/design.md §6/§7's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// How late an occurrence may be and still execute.
    pub catch_up: TimeDelta,
    /// Missed occurrences later than this (and without a ledger record) are summarised in one
    /// [`MissedSummary`] per instance, not decided one by one; the newest missed one is still
    /// decided (level-triggered repair). At least `catch_up`.
    pub catch_up_horizon: TimeDelta,
    /// Lead times of pre-shutdown notices.
    pub lead_times: Vec<TimeDelta>,
    /// How long after its time a deferred action is retried before it fails.
    pub defer_deadline: TimeDelta,
    /// When the next tick should retry a deferred action (feeds `next_deadline`).
    pub defer_retry: TimeDelta,
    /// Total snooze allowed per occurrence; also the lifetime of signed links past the occurrence.
    pub snooze_cap: TimeDelta,
    /// Object ids allowed to dismiss any occurrence (the configured admin group, expanded).
    pub admins: Vec<String>,
    /// How long records are kept in the store (at least [`MIN_RETENTION`]).
    pub retention: TimeDelta,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            catch_up: DEFAULT_CATCH_UP,
            catch_up_horizon: DEFAULT_CATCH_UP_HORIZON,
            lead_times: DEFAULT_LEAD_TIMES.to_vec(),
            defer_deadline: DEFAULT_DEFER_DEADLINE,
            defer_retry: DEFAULT_DEFER_RETRY,
            snooze_cap: DEFAULT_SNOOZE_CAP,
            admins: Vec::new(),
            retention: DEFAULT_RETENTION,
        }
    }
}

/// Where an occurrence's ledger record stands (docs/design.md §6); the store keeps it, keyed by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    /// Known (notified, dismissed or decided to execute) but not yet acted on.
    Planned,
    /// Waiting for a transitional state to settle; re-decided every tick.
    Deferred,
    /// The executor claimed it and is calling ARM.
    Executing,
    /// Carried out.
    Done,
    /// Gave up (deadline passed or ARM refused).
    Failed,
    /// Found too late and not repaired.
    Missed,
    /// Nothing to do (already in the desired state, or a manual change respected).
    NoOp,
    /// Dismissed, suppressed by a Stop, or no longer scheduled.
    Skipped,
}

impl Status {
    /// Whether the occurrence is settled: the governor never decides it again.
    pub fn is_final(self) -> bool {
        !matches!(self, Status::Planned | Status::Deferred)
    }
}

/// An accepted dismissal as the ledger holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "choice")]
pub enum Dismissal {
    /// Do not carry out this occurrence.
    Skip,
    /// Carry it out at `until` instead (occurrence time + snooze, never more than the cap).
    Snooze {
        /// When the postponed action becomes due.
        until: DateTime<Utc>,
    },
}

/// The ledger record of one occurrence, as far as the governor needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    /// The occurrence id ([`id::occurrence_id`] or [`id::idle_occurrence_id`]).
    pub occurrence_id: String,
    /// Start or Stop.
    pub action: Action,
    /// The occurrence's own time (not moved by a snooze).
    pub at: DateTime<Utc>,
    /// Where it stands.
    pub status: Status,
    /// Lead times (minutes) already handled for the current due time (read under
    /// [`LedgerEntry::notice_key`]): notice sent, or dropped as too late or superseded.
    pub notified: Vec<i64>,
    /// An accepted skip or snooze.
    pub dismissal: Option<Dismissal>,
}

impl LedgerEntry {
    /// A fresh `Planned` record without notices or dismissal.
    pub fn planned(occurrence_id: &str, action: Action, at: DateTime<Utc>) -> Self {
        LedgerEntry {
            occurrence_id: occurrence_id.to_string(),
            action,
            at,
            status: Status::Planned,
            notified: Vec::new(),
            dismissal: None,
        }
    }

    /// When the action is due: the snooze's end when snoozed, else the occurrence time.
    pub fn due(&self) -> DateTime<Utc> {
        match self.dismissal {
            Some(Dismissal::Snooze { until }) => until,
            _ => self.at,
        }
    }

    /// The key its notices are marked under ([`id::notice_key`]): a snooze gives a new one.
    pub fn notice_key(&self) -> String {
        id::notice_key(&self.occurrence_id, self.at, self.due())
    }
}

/// An idle shutdown that the idle module found due (or coming): a synthetic Stop occurrence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdleStop {
    /// When the stop is due (idle since + threshold).
    pub due_at: DateTime<Utc>,
    /// Start of the idle period; keys the occurrence id, so new activity means a new occurrence.
    pub idle_since: DateTime<Utc>,
    /// Why, in words (the idle verdict's reason).
    pub reason: String,
}

/// One instance as a tick sees it: identity, state, effective schedules and its ledger view.
///
/// The ledger view must hold every record of this instance that is not final, and the final
/// ones whose occurrence time is at or after `watermark − catch_up` (older ones may be pruned).
#[derive(Debug, Clone, Default)]
pub struct InstanceView {
    /// Compute name.
    pub name: String,
    /// ARM id, when known (keys occurrence ids; else the name does).
    pub id: Option<String>,
    /// ARM state (`Running`, `Stopped`, …); `None` is treated as unknown.
    pub state: Option<String>,
    /// Who gets notices and may dismiss: the assigned user, else the creator.
    pub owner: Option<String>,
    /// ARM's `lastOperation`, to respect a user's manual start or stop.
    pub last_operation: Option<LastOperation>,
    /// Effective schedules ([`effective_schedules`]).
    pub schedules: Vec<EffectiveSchedule>,
    /// Ledger records of this instance's occurrences.
    pub ledger: Vec<LedgerEntry>,
    /// Idle stops due now or coming.
    pub idle_stops: Vec<IdleStop>,
    /// [`EffectiveSet::enabled_native_stops`]: override stops keep the native-only caveat,
    /// naming these.
    pub enabled_native_stops: Vec<overrides::NativeLine>,
    /// The calendars in force (docs/calendars.md), resolved over at least the tick's window
    /// and a week either side; empty: none.
    pub calendars: Vec<crate::holiday::Assigned>,
}

impl InstanceView {
    /// The view of an inventory instance with its effective schedules, an empty ledger and no
    /// idle stops; the owner is the assigned user, else the creator (an empty object id is
    /// nobody's: ARM may report an assigned user without one).
    pub fn new(instance: &Instance, schedules: Vec<EffectiveSchedule>) -> Self {
        let someone = |oid: &Option<String>| oid.clone().filter(|o| !o.trim().is_empty());
        InstanceView {
            name: instance.name.clone(),
            id: instance.id.clone(),
            state: instance.state.clone(),
            owner: someone(&instance.assigned_user).or_else(|| someone(&instance.created_by)),
            last_operation: instance.last_operation.clone(),
            schedules,
            ledger: Vec::new(),
            idle_stops: Vec::new(),
            enabled_native_stops: Vec::new(),
            calendars: Vec::new(),
        }
    }

    /// The key occurrence ids hang off: the ARM id, else the name (lower-cased: ARM is not
    /// case-sensitive, so one instance spelled two ways keeps its ids).
    pub fn key(&self) -> String {
        self.id
            .as_deref()
            .unwrap_or(&self.name)
            .to_ascii_lowercase()
    }

    /// The ledger record of an occurrence, if any.
    pub fn entry(&self, occurrence_id: &str) -> Option<&LedgerEntry> {
        self.ledger
            .iter()
            .find(|e| e.occurrence_id == occurrence_id)
    }
}

/// Which schedule an occurrence comes from, as decisions and notices name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleRef {
    /// Override, native, or the policy that supplied it.
    pub source: Source,
    /// Index within its source's list.
    pub index: usize,
    /// The trigger in words (`Cron 0 18 * * *`).
    pub trigger: String,
    /// The `timeZone` as written.
    pub time_zone: String,
}

pub(crate) fn source_label(source: &Source) -> String {
    match source {
        Source::Native => "native".to_string(),
        Source::Override => "override".to_string(),
        Source::Policy(name) => format!("policy:{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_design_values() {
        let c = Config::default();
        assert_eq!(c.catch_up, TimeDelta::minutes(15));
        assert_eq!(
            c.lead_times,
            vec![TimeDelta::minutes(30), TimeDelta::minutes(5)]
        );
        assert_eq!(c.defer_deadline, TimeDelta::minutes(30));
        assert_eq!(c.snooze_cap, TimeDelta::hours(4));
        assert_eq!(c.catch_up_horizon, TimeDelta::hours(24));
    }

    #[test]
    fn only_planned_and_deferred_are_open() {
        use Status::*;
        for s in [Executing, Done, Failed, Missed, NoOp, Skipped] {
            assert!(s.is_final(), "{s:?}");
        }
        assert!(!Planned.is_final() && !Deferred.is_final());
    }

    #[test]
    fn owner_is_assigned_user_else_creator() {
        let mut i = Instance {
            name: "ci".into(),
            created_by: Some("creator".into()),
            ..Default::default()
        };
        assert_eq!(
            InstanceView::new(&i, vec![]).owner.as_deref(),
            Some("creator")
        );
        i.assigned_user = Some("user".into());
        assert_eq!(InstanceView::new(&i, vec![]).owner.as_deref(), Some("user"));
    }
}
