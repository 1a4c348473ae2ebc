//! The records the governor keeps: plain serde structs, no behaviour beyond small helpers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Opaque optimistic-concurrency token of one stored record (an ETag in Table Storage, a
/// counter in SQLite). Compare-and-set operations take the version last read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Version(pub(crate) String);

impl Version {
    /// The token as text, for logs and explain output.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A record together with the version it was read at, so that it can be updated with CAS.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    /// The record as stored.
    pub value: T,
    /// Its current version; pass it back to compare-and-set it.
    pub version: Version,
}

/// What an occurrence does to its instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LedgerAction {
    /// A scheduled start.
    Start,
    /// A scheduled stop.
    Stop,
    /// A stop because the instance was idle past its threshold.
    IdleStop,
}

/// Where an occurrence is in its life: planned → notified → dismissed/snoozed → executing →
/// done/failed (or missed, no-op, deferred).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LedgerState {
    /// Recorded by a tick, not acted on yet.
    Planned,
    /// At least one pre-shutdown notification went out.
    Notified,
    /// The owner skipped it; it will not execute.
    Dismissed,
    /// The owner postponed it to `snoozed_until`.
    Snoozed,
    /// A governor claimed it and is calling ARM (or crashed while doing so).
    Executing,
    /// The action was carried out.
    Done,
    /// The action failed for good.
    Failed,
    /// It was too late to act when it was seen (outside the catch-up window).
    Missed,
    /// The instance was already in the desired state.
    NoOp,
    /// The instance was in a transitional state; retried on a later tick.
    Deferred,
}

impl LedgerState {
    /// Every state, for exhaustive tests and storage round-trips.
    pub const ALL: [LedgerState; 10] = [
        Self::Planned,
        Self::Notified,
        Self::Dismissed,
        Self::Snoozed,
        Self::Executing,
        Self::Done,
        Self::Failed,
        Self::Missed,
        Self::NoOp,
        Self::Deferred,
    ];

    /// States from which [`crate::StateStore::claim`] may move an entry to `Executing`:
    /// Planned, Notified, Snoozed and Deferred. Whether a snooze has elapsed is the caller's call.
    pub fn is_claimable(self) -> bool {
        matches!(
            self,
            Self::Planned | Self::Notified | Self::Snoozed | Self::Deferred
        )
    }

    /// The stable name stored in both backends.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planned => "Planned",
            Self::Notified => "Notified",
            Self::Dismissed => "Dismissed",
            Self::Snoozed => "Snoozed",
            Self::Executing => "Executing",
            Self::Done => "Done",
            Self::Failed => "Failed",
            Self::Missed => "Missed",
            Self::NoOp => "NoOp",
            Self::Deferred => "Deferred",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl LedgerAction {
    /// The stable name stored in both backends.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "Start",
            Self::Stop => "Stop",
            Self::IdleStop => "IdleStop",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        [Self::Start, Self::Stop, Self::IdleStop]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// One occurrence in the ledger, keyed by its occurrence id: the exactly-once record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Stable hash of (instance, schedule, action, time, schedule content); opaque hex.
    pub occurrence_id: String,
    /// ARM id of the compute instance.
    pub instance_id: String,
    /// Label of the schedule that produced it (e.g. `nightly`, `policy:default`, `idle`).
    pub schedule: String,
    /// What it does.
    pub action: LedgerAction,
    /// When it is due (UTC).
    pub at: DateTime<Utc>,
    /// Where it is in its life.
    pub state: LedgerState,
    /// For `Snoozed`: when it becomes due again.
    pub snoozed_until: Option<DateTime<Utc>>,
    /// How many times it was claimed for execution.
    pub attempts: u32,
    /// Human reason of the latest decision about it.
    pub reason: String,
    /// Result of the latest execution (ARM outcome or error), if any.
    pub outcome: Option<String>,
    /// When the caller last changed it.
    pub updated_at: DateTime<Utc>,
}

/// How an owner dismissed an upcoming shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DismissalChoice {
    /// Do not run this occurrence.
    Skip,
    /// Postpone it by some minutes.
    Snooze {
        /// Minutes to postpone by.
        minutes: u32,
    },
}

/// One dismissal request as received, accepted or not (rejected ones are kept for audit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dismissal {
    /// The occurrence it targets.
    pub occurrence_id: String,
    /// Skip or snooze.
    pub choice: DismissalChoice,
    /// Entra object id of the requester, or `token` for a signed link.
    pub requested_by: String,
    /// Whether it was honoured.
    pub accepted: bool,
    /// Why it was accepted or rejected.
    pub reason: String,
    /// When it was received.
    pub at: DateTime<Utc>,
}

/// One audit-log record; the log is append-only and read by time range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Short machine-readable category, e.g. `dismissal.rejected`, `action.done`.
    pub kind: String,
    /// The instance concerned, if any.
    pub instance_id: Option<String>,
    /// The occurrence concerned, if any.
    pub occurrence_id: Option<String>,
    /// Human sentence.
    pub message: String,
    /// Structured details (any JSON).
    pub details: Value,
}

/// The latest activity report of one instance, for idle shutdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    /// When the reporter observed it.
    pub at: DateTime<Utc>,
    /// Whether anything kept the instance busy.
    pub busy: bool,
    /// What was seen (kernels, sessions, runs…), as JSON.
    pub details: Value,
}

/// A schedule override set through Curfew for one instance (same JSON as ARM `schedules`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Override {
    /// ARM id of the compute instance.
    pub instance_id: String,
    /// The schedules JSON, stored verbatim.
    pub schedules: Value,
    /// Its version as listed, so a page built from the list can make its edit conditional.
    pub version: Version,
}

/// That an instance's native schedules were adopted into its override (`curfew adopt`): kept
/// beside the override (clearing the override keeps it), so `explain` can say who adopted what
/// and when. Adopting again replaces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdoptionRecord {
    /// The instance's key (its lower-cased ARM id).
    pub instance_id: String,
    /// When it was adopted.
    pub at: DateTime<Utc>,
    /// Who adopted it (`cli:<name>` for an operator, else the principal's object id).
    pub by: String,
    /// The native `computeStartStop` entries copied, verbatim (their indices are positions).
    pub schedules: Value,
}

/// One record of the cost timeline (docs/cost.md): the JSON object as the timeline format
/// writes it, kept with its time and instance so that a report reads a time range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineRecord {
    /// When it happened (a record without a time of its own, e.g. instance metadata: when it
    /// was written).
    pub at: DateTime<Utc>,
    /// The compute instance's name, as the timeline keys it.
    pub instance: String,
    /// The record (`{"kind": "state" | "action" | "instance", …}`), stored verbatim.
    pub record: Value,
}

/// The state last written to the cost timeline for one instance: the governor appends an
/// observation only when the state it sees differs, whichever governor wrote the last one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineState {
    /// The instance's key (its lower-cased ARM id).
    pub instance_id: String,
    /// When that state was observed.
    pub at: DateTime<Utc>,
    /// The ARM state (`Running`, `Stopped`, …).
    pub state: String,
    /// A fingerprint of the instance's metadata (owner, VM size, workspace) as last written
    /// to the timeline: a change (a reassigned owner, a resize) writes a new `instance`
    /// record. `None` in states written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<String>,
}

/// One event waiting in the outbox: recorded before any channel is tried, removed once a
/// channel has taken it (or given up, audited), so a failed invocation loses nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The CloudEvent id: the key, so recording the same event twice keeps one entry and a
    /// resend carries the same id.
    pub id: String,
    /// When it was first recorded (oldest first; entries past the horizon are given up).
    pub at: DateTime<Utc>,
    /// Delivery attempts no channel took so far (a poison entry is given up after a few).
    pub attempts: u32,
    /// What to send, stored verbatim (text, so an unreadable one is still listed and reported
    /// instead of failing the listing).
    pub payload: String,
}

/// What a timed once-only mark is for. Each kind is swept by its own horizon (the caller's),
/// so a short-lived kind (nonces) never waits for the retention horizon of the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MarkKind {
    /// An activity report's nonce: needed only while its signature could still be accepted.
    Nonce,
    /// A budget alert (budget, period, threshold): needed until its period is past the horizon.
    Budget,
    /// An event sent once per thing it is about (drift of an occurrence, an idle state
    /// unknown since a report, an owner unreachable on a day), at that thing's time: needed
    /// until that time is past the retention horizon.
    Event,
}

impl MarkKind {
    /// The stable name used in keys (Table Storage partitions, the SQLite `kind` column).
    pub fn as_str(self) -> &'static str {
        match self {
            MarkKind::Nonce => "nonce",
            MarkKind::Budget => "budget",
            MarkKind::Event => "event",
        }
    }
}
