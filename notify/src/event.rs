//! Curfew's events as CloudEvents 1.0 in structured JSON mode (docs/design.md §7): one typed
//! constructor per event type, a payload struct per type, and ids that are a pure function of
//! what the event is about, so a resend carries the same id and consumers can dedupe.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// The CloudEvents version every event declares.
pub const SPEC_VERSION: &str = "1.0";

/// `datacontenttype` of every event: the data is a JSON object.
pub const DATA_CONTENT_TYPE: &str = "application/json";

/// Media type of a whole event in structured mode (HTTP `Content-Type`).
pub const CLOUDEVENTS_CONTENT_TYPE: &str = "application/cloudevents+json; charset=utf-8";

/// Warning carried by a pending shutdown whose schedule is native-only when its producer gave
/// no specific one (the governor names the native schedule to disable and `curfew adopt`).
pub const NATIVE_ONLY_NOTE: &str = "a dismissal cannot stop Azure ML's own schedule";

/// The `type` attribute: what happened. Serialised as `curfew.<noun>.<verb>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// A Stop is due soon; carries dismiss/snooze links.
    #[serde(rename = "curfew.shutdown.pending")]
    ShutdownPending,
    /// An owner skipped or snoozed a Stop.
    #[serde(rename = "curfew.shutdown.dismissed")]
    ShutdownDismissed,
    /// Curfew stopped an instance.
    #[serde(rename = "curfew.instance.stopped")]
    InstanceStopped,
    /// Curfew started an instance.
    #[serde(rename = "curfew.instance.started")]
    InstanceStarted,
    /// A start or stop failed after its retries.
    #[serde(rename = "curfew.action.failed")]
    ActionFailed,
    /// A default policy supplied a schedule or setting, or audited an instance.
    #[serde(rename = "curfew.policy.applied")]
    PolicyApplied,
    /// Spend crossed a budget threshold.
    #[serde(rename = "curfew.budget.exceeded")]
    BudgetExceeded,
    /// An instance's idle state became unknown (no recent activity report): it is not stopped
    /// for idleness until reports resume.
    #[serde(rename = "curfew.idle.unknown")]
    IdleUnknown,
    /// An action was carried out (ARM said it succeeded) but the instance is not in the state
    /// it promised by the deadline after it.
    #[serde(rename = "curfew.drift.detected")]
    DriftDetected,
    /// A notice could not reach the instance's owner: no email address is known for them.
    /// The notice stays unsent and is retried; this tells operations someone is uninformed.
    #[serde(rename = "curfew.owner.unreachable")]
    OwnerUnreachable,
}

impl EventType {
    /// Every type, in a stable order (for docs and tests).
    pub const ALL: [EventType; 10] = [
        EventType::ShutdownPending,
        EventType::ShutdownDismissed,
        EventType::InstanceStopped,
        EventType::InstanceStarted,
        EventType::ActionFailed,
        EventType::PolicyApplied,
        EventType::BudgetExceeded,
        EventType::IdleUnknown,
        EventType::DriftDetected,
        EventType::OwnerUnreachable,
    ];

    /// The CloudEvents `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ShutdownPending => "curfew.shutdown.pending",
            EventType::ShutdownDismissed => "curfew.shutdown.dismissed",
            EventType::InstanceStopped => "curfew.instance.stopped",
            EventType::InstanceStarted => "curfew.instance.started",
            EventType::ActionFailed => "curfew.action.failed",
            EventType::PolicyApplied => "curfew.policy.applied",
            EventType::BudgetExceeded => "curfew.budget.exceeded",
            EventType::IdleUnknown => "curfew.idle.unknown",
            EventType::DriftDetected => "curfew.drift.detected",
            EventType::OwnerUnreachable => "curfew.owner.unreachable",
        }
    }
}

/// The `source` attribute, `/curfew/<deployment>`: which Curfew installation speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSource(String);

impl EventSource {
    /// `/curfew/<deployment>`; the deployment name identifies one Curfew install.
    pub fn deployment(name: &str) -> EventSource {
        EventSource(format!("/curfew/{name}"))
    }

    /// The URI-reference as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The instance an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRef {
    /// Compute name, e.g. `gpu-alice`.
    pub name: String,
    /// ARM resource id (the event's `subject`).
    pub id: String,
    /// Workspace name.
    pub workspace: String,
}

/// A one-click snooze link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnoozeLink {
    /// Snooze length in minutes (30, 60, 120 by default).
    pub minutes: u32,
    /// The signed URL (built by the caller; this crate never signs links).
    pub url: String,
}

/// Signed one-click links of a pending shutdown. They are capabilities: they go to the
/// owner's channels and never to logs (`Debug` shows counts only).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DismissLinks {
    /// Skip this shutdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip: Option<String>,
    /// Snooze choices, shortest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snooze: Vec<SnoozeLink>,
}

impl std::fmt::Debug for DismissLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DismissLinks")
            .field("skip", &self.skip.as_ref().map(|_| "<signed url>"))
            .field(
                "snooze_minutes",
                &self.snooze.iter().map(|s| s.minutes).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Data of `curfew.shutdown.pending`: a Stop is due in `lead_minutes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShutdownPending {
    /// The occurrence this warning is for (the ledger key).
    pub occurrence_id: String,
    /// The instance to be stopped.
    pub instance: InstanceRef,
    /// The action, `stop` (idle stops included).
    pub action: String,
    /// When the Stop fires, UTC.
    pub at_utc: DateTime<Utc>,
    /// The same instant in the owner's zone, formatted by the caller (e.g. `18:00 PST`).
    pub at_local: String,
    /// Which lead time this warning is (30, 5, …): part of its id.
    pub lead_minutes: u32,
    /// Whole minutes really left before `at_utc` when it was made: what it says (a late
    /// 30-min warning with 10 minutes left says 10). Absent in older events: the lead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes_left: Option<u32>,
    /// Human reason from the decision.
    pub reason: String,
    /// Owner's Entra object id (assigned user, else creator), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_object_id: Option<String>,
    /// True when only Azure ML's own schedule stops it: dismissing cannot prevent that.
    pub native_only: bool,
    /// Only when `native_only`: what the owner can do about it, as the producer put it (the
    /// native schedule to disable, the `curfew adopt <instance>` command), else
    /// [`NATIVE_ONLY_NOTE`]. Every rendering shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Signed skip/snooze links.
    pub links: DismissLinks,
}

impl ShutdownPending {
    /// The minutes it says are left: [`minutes_left`](Self::minutes_left), else the lead.
    pub fn minutes(&self) -> u32 {
        self.minutes_left.unwrap_or(self.lead_minutes)
    }

    /// Keeps `note` only when `native_only`, falling back to [`NATIVE_ONLY_NOTE`]
    /// (constructors call this, so callers need not).
    fn normalised(mut self) -> ShutdownPending {
        self.note = if self.native_only {
            Some(
                self.note
                    .take()
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or_else(|| NATIVE_ONLY_NOTE.to_owned()),
            )
        } else {
            None
        };
        self
    }
}

/// Data of `curfew.shutdown.dismissed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShutdownDismissed {
    /// The occurrence dismissed.
    pub occurrence_id: String,
    /// Its instance.
    pub instance: InstanceRef,
    /// `skip` or `snooze`.
    pub choice: String,
    /// Snooze minutes (absent for skip).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<u32>,
    /// The Stop's new time after a snooze (absent for skip).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_at_utc: Option<DateTime<Utc>>,
    /// Who asked (object id), or absent for a signed link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// Human summary.
    pub reason: String,
}

/// Data of `curfew.instance.stopped` and `curfew.instance.started`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceChanged {
    /// The occurrence executed.
    pub occurrence_id: String,
    /// The instance.
    pub instance: InstanceRef,
    /// When the action completed.
    pub at_utc: DateTime<Utc>,
    /// Human reason from the decision.
    pub reason: String,
}

/// Data of `curfew.action.failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionFailed {
    /// The occurrence that failed.
    pub occurrence_id: String,
    /// The instance.
    pub instance: InstanceRef,
    /// `start` or `stop`.
    pub action: String,
    /// Attempts made so far (part of the event id: each failed attempt is its own event).
    pub attempts: u32,
    /// The error, as the ARM client reported it.
    pub error: String,
    /// Human reason of the original decision.
    pub reason: String,
}

/// Data of `curfew.policy.applied`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyApplied {
    /// Policy name.
    pub policy: String,
    /// The instance it applied to.
    pub instance: InstanceRef,
    /// `append` or `audit`.
    pub effect: String,
    /// What was applied or found.
    pub detail: String,
    /// What makes this application distinct (e.g. the policy's content hash); part of the id.
    pub key: String,
}

/// Data of `curfew.budget.exceeded`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetExceeded {
    /// Budget scope (subscription, resource group, workspace or tag), used as `subject`.
    pub scope: String,
    /// Budget name.
    pub budget: String,
    /// Period, e.g. `2026-03`; part of the id (one event per threshold per period).
    pub period: String,
    /// Threshold crossed, percent (80, 100, …).
    pub threshold_percent: u32,
    /// Spend so far in the period.
    pub spent: f64,
    /// Budget amount.
    pub amount: f64,
    /// ISO 4217 currency code.
    pub currency: String,
}

/// Data of `curfew.idle.unknown`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdleUnknown {
    /// The instance.
    pub instance: InstanceRef,
    /// The newest activity report, if any ever came; part of the id (one event per episode:
    /// a report that resumes and lapses again is a new one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_report: Option<DateTime<Utc>>,
    /// Human summary.
    pub reason: String,
}

/// Data of `curfew.drift.detected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftDetected {
    /// The occurrence carried out.
    pub occurrence_id: String,
    /// The instance.
    pub instance: InstanceRef,
    /// `start` or `stop`.
    pub action: String,
    /// When the action was due.
    pub due_utc: DateTime<Utc>,
    /// The state it promised (`Stopped`, `Running`).
    pub expected: String,
    /// The state found.
    pub observed: String,
    /// Human summary.
    pub reason: String,
}

/// Data of `curfew.owner.unreachable`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerUnreachable {
    /// The instance whose notice could not reach its owner.
    pub instance: InstanceRef,
    /// The owner's object id, when one is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The channel's label (e.g. `email`).
    pub channel: String,
    /// The UTC day this was first seen; part of the id (one event per instance, owner and
    /// day while it lasts, not one per tick).
    pub day: chrono::NaiveDate,
    /// Why no address is known, in words.
    pub reason: String,
}

/// The `data` of an event; which variant goes with which [`EventType`] is fixed by the
/// constructors of [`Event`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EventData {
    /// `curfew.shutdown.pending`.
    ShutdownPending(ShutdownPending),
    /// `curfew.shutdown.dismissed`.
    ShutdownDismissed(ShutdownDismissed),
    /// `curfew.instance.stopped` / `curfew.instance.started`.
    InstanceChanged(InstanceChanged),
    /// `curfew.action.failed`.
    ActionFailed(ActionFailed),
    /// `curfew.policy.applied`.
    PolicyApplied(PolicyApplied),
    /// `curfew.budget.exceeded`.
    BudgetExceeded(BudgetExceeded),
    /// `curfew.idle.unknown`.
    IdleUnknown(IdleUnknown),
    /// `curfew.drift.detected`.
    DriftDetected(DriftDetected),
    /// `curfew.owner.unreachable`.
    OwnerUnreachable(OwnerUnreachable),
}

/// One CloudEvent. Serialises to the structured-mode JSON object; deserialising checks the
/// version and reads `data` by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawEvent")]
pub struct Event {
    /// Always [`SPEC_VERSION`].
    pub specversion: String,
    /// Stable id: same event, same id (see [`Event::shutdown_pending`]).
    pub id: String,
    /// `/curfew/<deployment>`.
    pub source: String,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The instance's ARM id, or the budget scope.
    pub subject: String,
    /// When Curfew emitted it (the tick's `now`, not the send time, so resends are equal).
    #[serde(serialize_with = "ser_time")]
    pub time: DateTime<Utc>,
    /// Always [`DATA_CONTENT_TYPE`].
    pub datacontenttype: String,
    /// The payload.
    pub data: EventData,
}

fn ser_time<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

#[derive(Deserialize)]
struct RawEvent {
    specversion: String,
    id: String,
    source: String,
    #[serde(rename = "type")]
    kind: EventType,
    subject: String,
    time: DateTime<Utc>,
    #[serde(default)]
    datacontenttype: Option<String>,
    data: serde_json::Value,
}

impl TryFrom<RawEvent> for Event {
    type Error = String;

    fn try_from(r: RawEvent) -> Result<Event, String> {
        if r.specversion != SPEC_VERSION {
            return Err(format!("unsupported specversion {:?}", r.specversion));
        }
        let e = |e: serde_json::Error| format!("data of {}: {e}", r.kind.as_str());
        let data = match r.kind {
            EventType::ShutdownPending => {
                EventData::ShutdownPending(serde_json::from_value(r.data).map_err(e)?)
            }
            EventType::ShutdownDismissed => {
                EventData::ShutdownDismissed(serde_json::from_value(r.data).map_err(e)?)
            }
            EventType::InstanceStopped | EventType::InstanceStarted => {
                EventData::InstanceChanged(serde_json::from_value(r.data).map_err(e)?)
            }
            EventType::ActionFailed => {
                EventData::ActionFailed(serde_json::from_value(r.data).map_err(e)?)
            }
            EventType::PolicyApplied => {
                EventData::PolicyApplied(serde_json::from_value(r.data).map_err(e)?)
            }
            EventType::BudgetExceeded => {
                EventData::BudgetExceeded(serde_json::from_value(r.data).map_err(e)?)
            }
            EventType::IdleUnknown => {
                EventData::IdleUnknown(serde_json::from_value(r.data).map_err(e)?)
            }
            EventType::DriftDetected => {
                EventData::DriftDetected(serde_json::from_value(r.data).map_err(e)?)
            }
            EventType::OwnerUnreachable => {
                EventData::OwnerUnreachable(serde_json::from_value(r.data).map_err(e)?)
            }
        };
        Ok(Event {
            specversion: r.specversion,
            id: r.id,
            source: r.source,
            kind: r.kind,
            subject: r.subject,
            time: r.time,
            datacontenttype: r
                .datacontenttype
                .unwrap_or_else(|| DATA_CONTENT_TYPE.into()),
            data,
        })
    }
}

/// `curfew-` + 32 hex digits of SHA-256 over the type, source and identifying parts.
fn stable_id(kind: EventType, source: &EventSource, parts: &[&str]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(kind.as_str().as_bytes());
    ctx.update(b"\x1f");
    ctx.update(source.as_str().as_bytes());
    for p in parts {
        // Length-prefixed so ("ab","c") and ("a","bc") differ.
        ctx.update(b"\x1f");
        ctx.update(&(p.len() as u64).to_be_bytes());
        ctx.update(p.as_bytes());
    }
    let digest = ctx.finish();
    let mut id = String::with_capacity(39);
    id.push_str("curfew-");
    for b in &digest.as_ref()[..16] {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

impl Event {
    fn build(
        kind: EventType,
        source: &EventSource,
        subject: &str,
        time: DateTime<Utc>,
        id_parts: &[&str],
        data: EventData,
    ) -> Event {
        Event {
            specversion: SPEC_VERSION.to_owned(),
            id: stable_id(kind, source, id_parts),
            source: source.as_str().to_owned(),
            kind,
            subject: subject.to_owned(),
            time,
            datacontenttype: DATA_CONTENT_TYPE.to_owned(),
            data,
        }
    }

    /// A pre-shutdown warning. Id from (type, source, occurrence id, lead minutes, due
    /// time): the 30-minute and 5-minute warnings differ, and so do those of a snoozed stop's
    /// new time; a resend of any does not.
    pub fn shutdown_pending(source: &EventSource, now: DateTime<Utc>, d: ShutdownPending) -> Event {
        let lead = d.lead_minutes.to_string();
        let due = d.at_utc.to_rfc3339_opts(SecondsFormat::Secs, true);
        let occ = d.occurrence_id.clone();
        let subject = d.instance.id.clone();
        Event::build(
            EventType::ShutdownPending,
            source,
            &subject,
            now,
            &[&occ, &lead, &due],
            EventData::ShutdownPending(d.normalised()),
        )
    }

    /// A dismissal was accepted. Id from (occurrence, choice, minutes, new time): the same
    /// dismissal applied twice (idempotent) is one event; a second snooze is another.
    pub fn shutdown_dismissed(
        source: &EventSource,
        now: DateTime<Utc>,
        d: ShutdownDismissed,
    ) -> Event {
        let minutes = d.minutes.map(|m| m.to_string()).unwrap_or_default();
        let new_at = d.new_at_utc.map(|t| t.to_rfc3339()).unwrap_or_default();
        let (occ, choice, subject) = (
            d.occurrence_id.clone(),
            d.choice.clone(),
            d.instance.id.clone(),
        );
        Event::build(
            EventType::ShutdownDismissed,
            source,
            &subject,
            now,
            &[&occ, &choice, &minutes, &new_at],
            EventData::ShutdownDismissed(d),
        )
    }

    /// An instance was stopped. Id from the occurrence.
    pub fn instance_stopped(source: &EventSource, now: DateTime<Utc>, d: InstanceChanged) -> Event {
        Event::changed(EventType::InstanceStopped, source, now, d)
    }

    /// An instance was started. Id from the occurrence.
    pub fn instance_started(source: &EventSource, now: DateTime<Utc>, d: InstanceChanged) -> Event {
        Event::changed(EventType::InstanceStarted, source, now, d)
    }

    fn changed(
        kind: EventType,
        source: &EventSource,
        now: DateTime<Utc>,
        d: InstanceChanged,
    ) -> Event {
        let (occ, subject) = (d.occurrence_id.clone(), d.instance.id.clone());
        Event::build(
            kind,
            source,
            &subject,
            now,
            &[&occ],
            EventData::InstanceChanged(d),
        )
    }

    /// An action failed. Id from (occurrence, attempts).
    pub fn action_failed(source: &EventSource, now: DateTime<Utc>, d: ActionFailed) -> Event {
        let (occ, attempts, subject) = (
            d.occurrence_id.clone(),
            d.attempts.to_string(),
            d.instance.id.clone(),
        );
        Event::build(
            EventType::ActionFailed,
            source,
            &subject,
            now,
            &[&occ, &attempts],
            EventData::ActionFailed(d),
        )
    }

    /// A policy applied to an instance. Id from (policy, instance id, effect, key).
    pub fn policy_applied(source: &EventSource, now: DateTime<Utc>, d: PolicyApplied) -> Event {
        let parts = [
            d.policy.clone(),
            d.instance.id.clone(),
            d.effect.clone(),
            d.key.clone(),
        ];
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        let subject = d.instance.id.clone();
        Event::build(
            EventType::PolicyApplied,
            source,
            &subject,
            now,
            &refs,
            EventData::PolicyApplied(d),
        )
    }

    /// A budget threshold was crossed. Id from (scope, budget, period, threshold).
    pub fn budget_exceeded(source: &EventSource, now: DateTime<Utc>, d: BudgetExceeded) -> Event {
        let parts = [
            d.scope.clone(),
            d.budget.clone(),
            d.period.clone(),
            d.threshold_percent.to_string(),
        ];
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        let subject = d.scope.clone();
        Event::build(
            EventType::BudgetExceeded,
            source,
            &subject,
            now,
            &refs,
            EventData::BudgetExceeded(d),
        )
    }

    /// An instance's idle state became unknown. Id from (instance id, last report): one
    /// event per episode, however many ticks it lasts.
    pub fn idle_unknown(source: &EventSource, now: DateTime<Utc>, d: IdleUnknown) -> Event {
        let last = d
            .last_report
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
            .unwrap_or_default();
        let subject = d.instance.id.clone();
        Event::build(
            EventType::IdleUnknown,
            source,
            &subject,
            now,
            &[&subject, &last],
            EventData::IdleUnknown(d),
        )
    }

    /// A notice could not reach the owner. Id from (instance id, owner, channel, day): one
    /// event a day while it lasts, however many notices fail.
    pub fn owner_unreachable(
        source: &EventSource,
        now: DateTime<Utc>,
        d: OwnerUnreachable,
    ) -> Event {
        let subject = d.instance.id.clone();
        let (owner, day) = (d.owner.clone().unwrap_or_default(), d.day.to_string());
        let channel = d.channel.clone();
        Event::build(
            EventType::OwnerUnreachable,
            source,
            &subject,
            now,
            &[&subject, &owner, &channel, &day],
            EventData::OwnerUnreachable(d),
        )
    }

    /// A carried-out action did not hold. Id from the occurrence.
    pub fn drift_detected(source: &EventSource, now: DateTime<Utc>, d: DriftDetected) -> Event {
        let (occ, subject) = (d.occurrence_id.clone(), d.instance.id.clone());
        Event::build(
            EventType::DriftDetected,
            source,
            &subject,
            now,
            &[&occ],
            EventData::DriftDetected(d),
        )
    }

    /// The structured-mode JSON body.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The structured-mode JSON body as bytes (what HTTP channels send).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The instance the event is about, when it is about one.
    pub fn instance(&self) -> Option<&InstanceRef> {
        match &self.data {
            EventData::ShutdownPending(d) => Some(&d.instance),
            EventData::ShutdownDismissed(d) => Some(&d.instance),
            EventData::InstanceChanged(d) => Some(&d.instance),
            EventData::ActionFailed(d) => Some(&d.instance),
            EventData::PolicyApplied(d) => Some(&d.instance),
            EventData::BudgetExceeded(_) => None,
            EventData::IdleUnknown(d) => Some(&d.instance),
            EventData::DriftDetected(d) => Some(&d.instance),
            EventData::OwnerUnreachable(d) => Some(&d.instance),
        }
    }

    /// A one-line human summary (console, chat titles). Contains no links.
    pub fn summary(&self) -> String {
        match &self.data {
            EventData::ShutdownPending(d) => format!(
                "{} will {} at {} ({}) in {} min: {}{}",
                d.instance.name,
                d.action,
                d.at_local,
                d.at_utc.format("%Y-%m-%d %H:%MZ"),
                d.minutes(),
                d.reason,
                match (&d.note, d.native_only) {
                    (Some(note), true) => format!(" ({note})"),
                    (None, true) => format!(" ({NATIVE_ONLY_NOTE})"),
                    _ => String::new(),
                }
            ),
            EventData::ShutdownDismissed(d) => match (d.minutes, d.new_at_utc) {
                (Some(m), Some(t)) => format!(
                    "{}: shutdown snoozed {m} min, now at {}",
                    d.instance.name,
                    t.format("%Y-%m-%d %H:%MZ")
                ),
                _ => format!("{}: shutdown {}: {}", d.instance.name, d.choice, d.reason),
            },
            EventData::InstanceChanged(d) => {
                let verb = if self.kind == EventType::InstanceStarted {
                    "started"
                } else {
                    "stopped"
                };
                format!("{} {verb}: {}", d.instance.name, d.reason)
            }
            EventData::ActionFailed(d) => format!(
                "{}: {} failed after {} attempt(s): {}",
                d.instance.name, d.action, d.attempts, d.error
            ),
            EventData::PolicyApplied(d) => format!(
                "{}: policy '{}' ({}): {}",
                d.instance.name, d.policy, d.effect, d.detail
            ),
            EventData::BudgetExceeded(d) => format!(
                "budget '{}' on {} passed {}% in {}: {:.2} of {:.2} {}",
                d.budget, d.scope, d.threshold_percent, d.period, d.spent, d.amount, d.currency
            ),
            EventData::IdleUnknown(d) => format!("{}: {}", d.instance.name, d.reason),
            EventData::DriftDetected(d) => format!(
                "{}: {} carried out but the instance is {}, not {}: {}",
                d.instance.name, d.action, d.observed, d.expected, d.reason
            ),
            EventData::OwnerUnreachable(d) => format!(
                "{}: the owner {} cannot be told ({}): {}",
                d.instance.name,
                d.owner.as_deref().unwrap_or("(unknown)"),
                d.channel,
                d.reason
            ),
        }
    }
}

#[cfg(test)]
pub(crate) mod samples {
    //! Sample events shared by the unit tests.
    use super::*;
    use chrono::TimeZone;

    pub(crate) fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 1, 30, 0).unwrap()
    }

    pub(crate) fn instance() -> InstanceRef {
        InstanceRef {
            name: "gpu-alice".into(),
            id: "/subscriptions/0000/resourceGroups/ml/providers/Microsoft.MachineLearningServices/workspaces/ws1/computes/gpu-alice".into(),
            workspace: "ws1".into(),
        }
    }

    /// A native stop's notice as the governor makes it: the caveat is the note.
    pub(crate) fn native_pending(lead: u32) -> ShutdownPending {
        ShutdownPending {
            native_only: true,
            note: Some(
                "Azure ML also runs native schedule #0 Stop Cron 0 18 * * * (Pacific Standard Time) of 'gpu-alice' itself and a dismissal cannot stop it: `curfew adopt gpu-alice` copies it into an override, then disable #0 in the studio"
                    .into(),
            ),
            ..pending(lead)
        }
    }

    pub(crate) fn pending(lead: u32) -> ShutdownPending {
        ShutdownPending {
            occurrence_id: "occ-7f3a".into(),
            instance: instance(),
            action: "stop".into(),
            at_utc: Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap(),
            at_local: "2026-03-01 18:00 PST".into(),
            lead_minutes: lead,
            minutes_left: None,
            reason:
                "stop: schedule 'nightly' (Cron 0 18 * * *, Pacific Standard Time) at 18:00 PST"
                    .into(),
            owner_object_id: Some("11111111-2222-3333-4444-555555555555".into()),
            native_only: false,
            note: None,
            links: DismissLinks {
                skip: Some("https://curfew.example/api/dismiss?t=SKIPTOKEN".into()),
                snooze: [30, 60, 120]
                    .into_iter()
                    .map(|m| SnoozeLink {
                        minutes: m,
                        url: format!("https://curfew.example/api/dismiss?t=SNOOZE{m}TOKEN"),
                    })
                    .collect(),
            },
        }
    }

    pub(crate) fn source() -> EventSource {
        EventSource::deployment("prod")
    }

    pub(crate) fn pending_event(lead: u32) -> Event {
        Event::shutdown_pending(&source(), now(), pending(lead))
    }

    pub(crate) fn all_events() -> Vec<Event> {
        let s = source();
        vec![
            pending_event(30),
            Event::shutdown_dismissed(
                &s,
                now(),
                ShutdownDismissed {
                    occurrence_id: "occ-7f3a".into(),
                    instance: instance(),
                    choice: "snooze".into(),
                    minutes: Some(60),
                    new_at_utc: Some(now() + chrono::Duration::minutes(90)),
                    requested_by: None,
                    reason: "snoozed by signed link".into(),
                },
            ),
            Event::instance_stopped(
                &s,
                now(),
                InstanceChanged {
                    occurrence_id: "occ-7f3a".into(),
                    instance: instance(),
                    at_utc: now(),
                    reason: "stop: schedule 'nightly'".into(),
                },
            ),
            Event::instance_started(
                &s,
                now(),
                InstanceChanged {
                    occurrence_id: "occ-9b1c".into(),
                    instance: instance(),
                    at_utc: now(),
                    reason: "start: schedule 'morning'".into(),
                },
            ),
            Event::action_failed(
                &s,
                now(),
                ActionFailed {
                    occurrence_id: "occ-7f3a".into(),
                    instance: instance(),
                    action: "stop".into(),
                    attempts: 3,
                    error: "ARM 409 Conflict".into(),
                    reason: "stop: schedule 'nightly'".into(),
                },
            ),
            Event::policy_applied(
                &s,
                now(),
                PolicyApplied {
                    policy: "default-nightly".into(),
                    instance: instance(),
                    effect: "append".into(),
                    detail: "added Stop 0 19 * * *".into(),
                    key: "sha256:ab12".into(),
                },
            ),
            Event::budget_exceeded(
                &s,
                now(),
                BudgetExceeded {
                    scope: "/subscriptions/0000".into(),
                    budget: "ml-team".into(),
                    period: "2026-03".into(),
                    threshold_percent: 80,
                    spent: 800.5,
                    amount: 1000.0,
                    currency: "USD".into(),
                },
            ),
            Event::idle_unknown(
                &s,
                now(),
                IdleUnknown {
                    instance: instance(),
                    last_report: Some(now() - chrono::Duration::minutes(75)),
                    reason: "idle state unknown (last activity report 2026-03-02T00:15Z): reported, not stopped".into(),
                },
            ),
            Event::drift_detected(
                &s,
                now(),
                DriftDetected {
                    occurrence_id: "occ-7f3a".into(),
                    instance: instance(),
                    action: "stop".into(),
                    due_utc: now() - chrono::Duration::minutes(20),
                    expected: "Stopped".into(),
                    observed: "Running".into(),
                    reason: "ARM accepted the stop at 2026-03-02 01:10 UTC; 20 min later the instance is Running".into(),
                },
            ),
            Event::owner_unreachable(
                &s,
                now(),
                OwnerUnreachable {
                    instance: instance(),
                    owner: Some("oid-1".into()),
                    channel: "email".into(),
                    day: now().date_naive(),
                    reason: "the directory has no address for the owner".into(),
                },
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::samples::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn pending_has_cloudevents_shape() {
        let v = pending_event(30).to_json();
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["type"], "curfew.shutdown.pending");
        assert_eq!(v["source"], "/curfew/prod");
        assert_eq!(v["subject"], json!(instance().id));
        assert_eq!(v["time"], "2026-03-02T01:30:00Z");
        assert_eq!(v["datacontenttype"], "application/json");
        assert!(v["id"].as_str().unwrap().starts_with("curfew-"));
        let d = &v["data"];
        assert_eq!(d["occurrenceId"], "occ-7f3a");
        assert_eq!(d["instance"]["name"], "gpu-alice");
        assert_eq!(d["instance"]["workspace"], "ws1");
        assert_eq!(d["atUtc"], "2026-03-02T02:00:00Z");
        assert_eq!(d["atLocal"], "2026-03-01 18:00 PST");
        assert_eq!(d["leadMinutes"], 30);
        assert_eq!(d["nativeOnly"], false);
        assert!(d.get("note").is_none());
        assert_eq!(d["links"]["snooze"][2]["minutes"], 120);
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys.len(),
            8,
            "exactly the CloudEvents attributes + data: {keys:?}"
        );
    }

    #[test]
    fn ids_are_stable_and_distinguish_lead_and_type() {
        let a = pending_event(30);
        let b =
            Event::shutdown_pending(&source(), now() + chrono::Duration::minutes(1), pending(30));
        assert_eq!(a.id, b.id, "resending (even at another time) keeps the id");
        assert_ne!(a.id, pending_event(5).id, "each lead is its own event");
        let other = Event::shutdown_pending(&EventSource::deployment("dev"), now(), pending(30));
        assert_ne!(a.id, other.id, "ids are per deployment");
        let stopped = Event::instance_stopped(
            &source(),
            now(),
            InstanceChanged {
                occurrence_id: "occ-7f3a".into(),
                instance: instance(),
                at_utc: now(),
                reason: "r".into(),
            },
        );
        assert_ne!(a.id, stopped.id);
        // Pinned: the id function is part of the wire contract.
        assert_eq!(a.id.len(), "curfew-".len() + 32);
    }

    #[test]
    fn a_late_warning_says_the_minutes_really_left_and_a_snoozed_time_is_its_own_event() {
        let mut p = pending(30);
        p.minutes_left = Some(10);
        let e = Event::shutdown_pending(&source(), now(), p.clone());
        assert!(e.summary().contains("in 10 min"), "{}", e.summary());
        assert!(!e.summary().contains("in 30 min"));
        assert_eq!(e.to_json()["data"]["minutesLeft"], 10);
        assert_eq!(
            e.id,
            pending_event(30).id,
            "what it says is not part of the id"
        );
        p.at_utc += chrono::Duration::minutes(60);
        let moved = Event::shutdown_pending(&source(), now(), p);
        assert_ne!(moved.id, e.id, "a snooze's new time is warned of anew");
    }

    #[test]
    fn native_only_sets_the_note() {
        let mut p = pending(5);
        p.native_only = true;
        let e = Event::shutdown_pending(&source(), now(), p);
        assert_eq!(e.to_json()["data"]["note"], NATIVE_ONLY_NOTE);
        assert!(e.summary().contains(NATIVE_ONLY_NOTE));
    }

    /// The producer's specific wording is the note (summary included); a note without
    /// `native_only` is dropped.
    #[test]
    fn a_specific_note_is_kept_and_shown() {
        let mut p = native_pending(5);
        let note = p.note.clone().unwrap();
        let e = Event::shutdown_pending(&source(), now(), p.clone());
        assert_eq!(e.to_json()["data"]["note"], note.as_str());
        assert!(e.summary().contains(&note), "{}", e.summary());
        assert!(!e.summary().contains(NATIVE_ONLY_NOTE));
        p.native_only = false;
        let e = Event::shutdown_pending(&source(), now(), p);
        assert!(e.to_json()["data"].get("note").is_none());
        assert!(!e.summary().contains(&note));
    }

    #[test]
    fn round_trips_every_type() {
        for e in all_events() {
            let back: Event = serde_json::from_slice(&e.to_bytes()).unwrap();
            assert_eq!(back, e, "{}", e.kind.as_str());
            assert_eq!(e.to_json()["type"], e.kind.as_str());
        }
        let kinds: Vec<_> = all_events().iter().map(|e| e.kind).collect();
        assert_eq!(kinds, EventType::ALL);
    }

    #[test]
    fn rejects_other_spec_versions() {
        let mut v = pending_event(30).to_json();
        v["specversion"] = json!("0.3");
        assert!(serde_json::from_value::<Event>(v).is_err());
    }

    #[test]
    fn debug_hides_links() {
        let dbg = format!("{:?}", pending_event(30));
        assert!(!dbg.contains("TOKEN"), "{dbg}");
    }

    #[test]
    fn docs_samples_match() {
        let doc = include_str!("../../docs/notify.md");
        let samples: Vec<Event> = doc
            .split("```json\n")
            .skip(1)
            .filter_map(|b| b.split("```").next())
            .filter(|b| b.contains("\"specversion\""))
            .map(|b| serde_json::from_str(b).expect("docs sample parses as an Event"))
            .collect();
        assert_eq!(
            samples,
            all_events(),
            "docs/notify.md samples drifted from the code"
        );
    }
}
