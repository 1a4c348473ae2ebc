//! One tick (docs/design.md §6, §7): the occurrences in `(watermark, now]` (at most
//! [`MAX_TICK_WINDOW`] of it; a watermark from a clock far ahead is ignored), plus open ledger records
//! (deferred, snoozed, lost), become decisions; Stops coming within a lead time become notices;
//! and the earliest future instant at which anything becomes due is the next deadline.
//!
//! Per instance, candidates are decided in time order against a projected state (a Stop
//! executed earlier in the same tick makes the instance `Stopping` for what follows):
//! 1. settled in the ledger → nothing (a retried tick decides nothing twice);
//! 2. a Start in the same minute as a Stop → `Suppressed` (Stop wins);
//! 3. skipped → `Skipped`; snoozed → nothing until the snooze ends, then as below;
//! 4. late by more than `catch_up` (first evaluation) → `Missed`, except the newest missed
//!    action, which is repaired when nothing later was decided, no user changed the instance
//!    since, and the instance is not already in that state; missed occurrences later than
//!    `catch_up_horizon` without a ledger record are not decided one by one but counted in one
//!    [`MissedSummary`] per instance (an outage writes one record, not thousands);
//! 5. a user changed the instance after the occurrence's time → `NoOp` (manual change kept);
//! 6. state-aware: already there → `NoOp`; transitional → `Defer` until `at + defer_deadline`,
//!    then `Failed`; otherwise `Execute`;
//! 7. an earlier occurrence still `Executing` (in doubt) → the later `Execute`s and `NoOp`s
//!    `Defer` until it settles ([`reconcile`](mod@super::reconcile)).
//!
//! Notices are true when sent: only for the earliest coming Stop of an instance that accepts a
//! Stop after this tick's decisions (not Stopped, Stopping or transitional), not skipped or
//! settled; at each lead before its due time (a snooze's end included, keyed by
//! [`notice_key`](super::id::notice_key)); a late one says the minutes really left, and of
//! several leads due at once only the shortest is sent.

use super::effective::EffectiveSchedule;
use super::id::{idle_occurrence_id, missed_summary_id, occurrence_id};
use super::reconcile::{in_doubt_since, wait_for_in_doubt};
use super::{
    Config, Dismissal, IdleStop, InstanceView, LedgerEntry, PowerState, ScheduleRef, Status,
};
use crate::dst;
use crate::schedule::{Action, Source};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// What one tick works on.
#[derive(Debug, Clone, Copy)]
pub struct TickInput<'a> {
    /// The fleet with schedules, states and ledger views.
    pub instances: &'a [InstanceView],
    /// The previous tick's `now`; `None` (first run) looks back `catch_up`, inclusive.
    pub watermark: Option<DateTime<Utc>>,
    /// Catch-up, lead times, deadlines.
    pub config: &'a Config,
}

/// What the governor wants done with one occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DecisionKind {
    /// Call ARM (record `Executing` first, then `Done`/`Failed`).
    Execute,
    /// Nothing to do (already in that state, or a manual change respected); record `NoOp`.
    NoOp,
    /// The instance is in a transitional state: record `Deferred`, retry next tick.
    Defer,
    /// Gave up: deferred past its deadline (or its schedule vanished while deferred).
    Failed,
    /// Found too late and not repaired; record `Missed`.
    Missed,
    /// Dismissed by its owner, or no longer scheduled; record `Skipped`.
    Skipped,
    /// A Start in the same minute as a Stop of the instance (Stop wins); record `Skipped`.
    Suppressed,
}

impl DecisionKind {
    /// The ledger status to record for this decision (`Execute` is recorded as `Executing`).
    pub fn status(self) -> Status {
        match self {
            DecisionKind::Execute => Status::Executing,
            DecisionKind::NoOp => Status::NoOp,
            DecisionKind::Defer => Status::Deferred,
            DecisionKind::Failed => Status::Failed,
            DecisionKind::Missed => Status::Missed,
            DecisionKind::Skipped | DecisionKind::Suppressed => Status::Skipped,
        }
    }
}

/// One decision about one occurrence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// Stable id: the ledger key.
    pub occurrence_id: String,
    /// Compute name.
    pub instance: String,
    /// ARM id, when known.
    pub instance_id: Option<String>,
    /// The schedule it comes from; `None` for an idle stop.
    pub schedule: Option<ScheduleRef>,
    /// Start or Stop.
    pub action: Action,
    /// The occurrence's own time.
    pub at: DateTime<Utc>,
    /// What to do.
    pub kind: DecisionKind,
    /// Whether this applies a missed occurrence as level-triggered repair.
    pub repair: bool,
    /// In words, for logs, audit and `--format text`.
    pub reason: String,
    /// The `off` calendar that added this Stop (`schedule` is then `None`, and it is no idle stop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<String>,
}

/// A pre-shutdown notice to send now (docs/design.md §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    /// The Stop occurrence it warns of; links are signed for it.
    pub occurrence_id: String,
    /// Compute name.
    pub instance: String,
    /// ARM id, when known.
    pub instance_id: Option<String>,
    /// The occurrence's own time (links are signed for it; a snooze does not move it).
    pub at: DateTime<Utc>,
    /// When the stop is due: `at`, or the end of a snooze.
    pub due: DateTime<Utc>,
    /// `due` in the schedule's zone (`18:00 PST on Mon 2026-11-02`); UTC for idle stops.
    pub local: String,
    /// Which lead time this is, in minutes (record it in the ledger: sent once per lead).
    pub lead_minutes: i64,
    /// Whole minutes really left until `due` (a late notice says this, not its lead).
    pub minutes_left: i64,
    /// What the notice is marked sent under, with its lead ([`super::id::notice_key`]).
    pub key: String,
    /// Assigned user, else creator; `None` goes to the fallback channel.
    pub owner: Option<String>,
    /// The schedule; `None` for an idle stop.
    pub schedule: Option<ScheduleRef>,
    /// Native schedules may also be run by Azure ML itself: a dismissal cannot stop that one.
    pub native_only: bool,
    /// In words, including the native caveat when it applies.
    pub reason: String,
    /// The native caveat alone (set exactly when `native_only`): the native schedule to
    /// disable and the `curfew adopt` command, for the notice's own note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caveat: Option<String>,
    /// The `off` calendar that added this Stop (`schedule` is then `None`, and it is no idle stop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<String>,
}

impl Notice {
    /// The reason without its trailing caveat: what a notice shows beside the caveat as its
    /// note, so the caveat is not said twice.
    pub fn reason_without_caveat(&self) -> &str {
        self.caveat
            .as_deref()
            .and_then(|c| self.reason.strip_suffix(c))
            .and_then(|r| r.strip_suffix("; "))
            .unwrap_or(&self.reason)
    }
}

/// A notice that will not be sent because its time passed (not sent late), or because a
/// shorter lead's notice went out in its place; record the lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DroppedNotice {
    /// The Stop occurrence.
    pub occurrence_id: String,
    /// What it is marked handled under ([`super::id::notice_key`]).
    pub key: String,
    /// Compute name.
    pub instance: String,
    /// Lead time in minutes.
    pub lead_minutes: i64,
    /// Why it was dropped.
    pub reason: String,
}

/// An instance's missed occurrences older than the catch-up horizon, in one record and one log
/// line instead of one `Missed` decision each (docs/design.md §13).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MissedSummary {
    /// The summary record's ledger key ([`missed_summary_id`]).
    pub id: String,
    /// Compute name.
    pub instance: String,
    /// ARM id, when known.
    pub instance_id: Option<String>,
    /// Occurrences summarised.
    pub count: usize,
    /// How many of them were Starts (the rest are Stops).
    pub starts: usize,
    /// The oldest one summarised.
    pub first: DateTime<Utc>,
    /// The newest one summarised.
    pub last: DateTime<Utc>,
    /// The action of the newest one (the record's action).
    pub last_action: Action,
    /// `N occurrences missed between A and B (…)`: the log line and the record's reason.
    pub reason: String,
}

/// The outcome of a tick.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TickPlan {
    /// Per instance (input order), in the order to apply them.
    pub decisions: Vec<Decision>,
    /// Per instance, its missed occurrences beyond the catch-up horizon, summarised.
    pub missed_summaries: Vec<MissedSummary>,
    /// Notices to send now.
    pub notices: Vec<Notice>,
    /// Notices not sent because they were late.
    pub dropped: Vec<DroppedNotice>,
    /// Store this as the next tick's watermark (`now`, never earlier than the old one unless
    /// the old one was more than [`WATERMARK_TOLERANCE`] ahead of `now`).
    pub watermark: DateTime<Utc>,
    /// The earliest future instant at which something becomes due; sleep until then.
    pub next_deadline: Option<DateTime<Utc>>,
    /// Carried-out actions the instances do not show ([`super::drift`](fn@super::drift)); the
    /// caller reports each occurrence once.
    pub drift: Vec<super::Drift>,
}

/// The longest window one tick evaluates: occurrences more than this behind `now` are not
/// enumerated (a week, so a weekly schedule missed during an outage is still repaired, and a
/// far-future clock costs a bounded amount of work).
pub const MAX_TICK_WINDOW: TimeDelta = TimeDelta::days(7);
/// How far ahead of `now` a watermark may be and still be trusted (another instance's clock
/// running slightly ahead). Further ahead, a previous tick had a bad clock: it is ignored.
pub const WATERMARK_TOLERANCE: TimeDelta = TimeDelta::minutes(1);

/// The caveat on an override's stop while the instance's native stops are still enabled: Azure
/// ML runs them itself and no stable API turns them off (docs/arm.md). Names each one to
/// disable, as the studio lists them.
pub fn native_still_enabled_caveat(instance: &str, stops: &[super::NativeLine]) -> String {
    format!(
        "Azure ML still runs native schedule {} of '{instance}' itself and a dismissal cannot stop it: disable it in the studio (`curfew adopt {instance} --dry-run` lists what to disable)",
        super::overrides::describe_natives(stops)
    )
}

/// The caveat carried by notices of native schedules (docs/design.md §4): names the schedule
/// and the command that moves it into an override.
pub fn native_caveat(instance: &str, schedule: &EffectiveSchedule) -> String {
    let line = super::NativeLine {
        index: schedule.index,
        action: Some(schedule.schedule.action),
        enabled: schedule.schedule.enabled,
        trigger: schedule.schedule.trigger.clone(),
        time_zone: schedule.schedule.time_zone.clone(),
    };
    format!(
        "Azure ML also runs native schedule {} of '{instance}' itself and a dismissal cannot stop it: `curfew adopt {instance}` copies it into an override, then disable #{} in the studio",
        line.describe(),
        schedule.index
    )
}

/// The instant after which a tick at `now` evaluates occurrences: the watermark (one far ahead
/// of `now` comes from a bad clock and is distrusted, as on a first run), on a first run
/// `catch_up` back, inclusive (occurrence times are whole seconds), never further back than
/// [`MAX_TICK_WINDOW`]. The governor builds its schedule sets from it too.
pub fn window_start(
    watermark: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    catch_up: TimeDelta,
) -> DateTime<Utc> {
    watermark
        .filter(|w| *w <= now + WATERMARK_TOLERANCE)
        .unwrap_or(now - catch_up - TimeDelta::seconds(1))
        .max(now - MAX_TICK_WINDOW)
}

/// Decides one tick at `now`. Pure and deterministic: the same input gives the same plan.
pub fn decide(input: &TickInput<'_>, now: DateTime<Utc>) -> TickPlan {
    let cfg = input.config;
    let watermark = input.watermark.filter(|w| *w <= now + WATERMARK_TOLERANCE);
    let lo = window_start(input.watermark, now, cfg.catch_up);
    let mut plan = TickPlan {
        watermark: watermark.map_or(now, |w| w.max(now)),
        ..TickPlan::default()
    };
    let mut deadline = Deadline { now, at: None };
    // Occurrences before the bounded window are not enumerated: a summary says so.
    let cut = watermark.filter(|w| *w < lo).map(|_| lo);
    let window = TickWindow { lo, cut, now };
    for inst in input.instances {
        decide_instance(inst, cfg, &window, &mut plan, &mut deadline);
    }
    plan.next_deadline = deadline.at;
    plan
}

/// The stretch of time one tick evaluates.
struct TickWindow {
    /// Occurrences after this are evaluated.
    lo: DateTime<Utc>,
    /// `Some(lo)` when the watermark lay further back than [`MAX_TICK_WINDOW`].
    cut: Option<DateTime<Utc>>,
    /// The tick's instant.
    now: DateTime<Utc>,
}

/// The earliest instant `> now` offered.
struct Deadline {
    now: DateTime<Utc>,
    at: Option<DateTime<Utc>>,
}

impl Deadline {
    fn offer(&mut self, t: DateTime<Utc>) {
        if t > self.now && self.at.is_none_or(|a| t < a) {
            self.at = Some(t);
        }
    }
}

#[derive(Clone, Copy)]
enum Origin<'a> {
    Schedule(&'a EffectiveSchedule),
    Idle(&'a IdleStop),
    /// A Stop an `off` calendar adds at the start of its day (the calendar's name).
    Calendar(&'a str),
    /// A ledger record whose schedule or idle period no longer exists.
    Gone,
}

struct Candidate<'a> {
    id: String,
    origin: Origin<'a>,
    action: Action,
    at: DateTime<Utc>,
    entry: Option<&'a LedgerEntry>,
    suppressed: bool,
    /// The calendar that suppresses it (docs/calendars.md): decided `Skipped`, never warned of.
    calendar: Option<&'a str>,
}

impl Candidate<'_> {
    fn due(&self) -> DateTime<Utc> {
        self.entry.map_or(self.at, LedgerEntry::due)
    }
}

fn decide_instance(
    inst: &InstanceView,
    cfg: &Config,
    window: &TickWindow,
    plan: &mut TickPlan,
    deadline: &mut Deadline,
) {
    let (lo, now) = (window.lo, window.now);
    let key = inst.key();
    let max_lead = cfg
        .lead_times
        .iter()
        .copied()
        .max()
        .unwrap_or(TimeDelta::zero())
        .max(TimeDelta::zero());
    let mut cands: Vec<Candidate<'_>> = Vec::new();
    // Stops after `now` within the largest lead time: for notices and for Stop-wins.
    let mut coming: Vec<Candidate<'_>> = Vec::new();
    // The calendars in force: the same verdict as the plan's (docs/calendars.md).
    let applied = crate::holiday::Assigned::applied(&inst.calendars);
    for es in &inst.schedules {
        let s = &es.schedule;
        if !s.enabled {
            continue;
        }
        let horizon = match s.action {
            Action::Stop => now + max_lead,
            Action::Start => now,
        };
        let mut t = lo;
        while let Some(o) = es.next_in_force_after(t) {
            if o.at > horizon {
                deadline.offer(match s.action {
                    Action::Stop => o.at - max_lead,
                    Action::Start => o.at,
                });
                break;
            }
            t = o.at;
            let id = occurrence_id(&key, &es.source, es.index, s.action, o.at, &es.content_hash);
            let c = Candidate {
                entry: inst.entry(&id),
                id,
                origin: Origin::Schedule(es),
                action: s.action,
                at: o.at,
                suppressed: false,
                calendar: crate::holiday::Applied::verdict(&applied, s.action, o.at, &s.zone),
            };
            if o.at <= now {
                cands.push(c);
            } else {
                deadline.offer(c.due());
                coming.push(c);
            }
        }
    }
    // Stop wins: a Start sharing its minute with a Stop of this instance does not fire.
    let minute = |t: DateTime<Utc>| t.timestamp().div_euclid(60);
    let stop_minutes: Vec<i64> = cands
        .iter()
        .chain(&coming)
        .filter(|c| c.action == Action::Stop)
        .map(|c| minute(c.at))
        .collect();
    for c in &mut cands {
        if c.action == Action::Start && stop_minutes.contains(&minute(c.at)) {
            c.suppressed = true;
        }
    }
    // The Stops `off` calendars add: those in the window are candidates; those from a week
    // back are kept to find their open ledger records.
    let mut off: Vec<(String, DateTime<Utc>, &str)> = Vec::new();
    if !applied.is_empty() {
        // The zone of what governs at the window's start (not of schedules that resume only
        // at an override's expiry), as the plan's segment does; all of them if none does.
        let governing: Vec<&crate::Schedule> = inst
            .schedules
            .iter()
            .filter(|e| e.in_force_at(lo + TimeDelta::seconds(1)))
            .map(|e| &e.schedule)
            .collect();
        let scheds: Vec<&crate::Schedule> = if governing.is_empty() {
            inst.schedules.iter().map(|e| &e.schedule).collect()
        } else {
            governing
        };
        let zone = crate::holiday::instance_zone(&scheds);
        let one = TimeDelta::seconds(1);
        let horizon = now + max_lead;
        let all = crate::holiday::off_stops(
            &applied,
            now - MAX_TICK_WINDOW,
            horizon + TimeDelta::days(8),
            &zone,
        );
        for (at, slot) in all {
            let name = applied[slot].calendar.name.as_str();
            if at > horizon {
                deadline.offer(at - max_lead);
                break;
            }
            let id = super::id::calendar_occurrence_id(&key, name, at);
            if at >= lo + one {
                let c = Candidate {
                    entry: inst.entry(&id),
                    id: id.clone(),
                    origin: Origin::Calendar(name),
                    action: Action::Stop,
                    at,
                    suppressed: false,
                    calendar: None,
                };
                if at <= now {
                    cands.push(c);
                } else {
                    deadline.offer(c.due());
                    coming.push(c);
                }
            }
            off.push((id, at, name));
        }
    }
    for s in &inst.idle_stops {
        let id = idle_occurrence_id(&key, s.idle_since);
        let c = Candidate {
            entry: inst.entry(&id),
            id,
            origin: Origin::Idle(s),
            action: Action::Stop,
            at: s.due_at,
            suppressed: false,
            calendar: None,
        };
        if c.due() <= now {
            cands.push(c);
        } else {
            coming.push(c);
        }
    }
    // Open ledger records outside the window: snoozed, deferred, or decided but never carried out.
    // Those not due yet (snoozed) are only warned of.
    let mut snoozed: Vec<Candidate<'_>> = Vec::new();
    for e in &inst.ledger {
        if e.status.is_final() || cands.iter().chain(&coming).any(|c| c.id == e.occurrence_id) {
            continue;
        }
        let origin = inst
            .schedules
            .iter()
            .find(|es| {
                // Judged at the record's own instant: a schedule that governs only from an
                // override's expiry, or no longer at it, is not this record's origin.
                es.schedule.action == e.action
                    && es.in_force_at(e.at)
                    && occurrence_id(&key, &es.source, es.index, e.action, e.at, &es.content_hash)
                        == e.occurrence_id
            })
            .map(Origin::Schedule)
            .or_else(|| {
                off.iter()
                    .find(|(id, _, _)| *id == e.occurrence_id)
                    .map(|(_, _, name)| Origin::Calendar(name))
            })
            .unwrap_or(Origin::Gone);
        let c = Candidate {
            id: e.occurrence_id.clone(),
            origin,
            action: e.action,
            at: e.at,
            entry: Some(e),
            suppressed: false,
            calendar: None,
        };
        if e.due() > now {
            deadline.offer(e.due());
            snoozed.push(c);
        } else {
            cands.push(c);
        }
    }
    cands.sort_by(|a, b| {
        (a.due(), a.action != Action::Stop, &a.id).cmp(&(b.due(), b.action != Action::Stop, &b.id))
    });

    // (due, decision), put in due order (stable) at the end.
    let mut out: Vec<(DateTime<Utc>, Decision)> = Vec::new();
    let mut state = inst.state.clone();
    let mut missed: Vec<usize> = Vec::new();
    for (i, c) in cands.iter().enumerate() {
        if c.entry.is_some_and(|e| e.status.is_final()) {
            continue;
        }
        let decision = |kind: DecisionKind, why: String| {
            let d = Decision {
                occurrence_id: c.id.clone(),
                instance: inst.name.clone(),
                instance_id: inst.id.clone(),
                schedule: schedule_ref(c.origin),
                action: c.action,
                at: c.at,
                kind,
                repair: false,
                reason: format!("{}; {why}", describe(c)),
                calendar: calendar_of(c.origin),
            };
            (c.due(), d)
        };
        if c.suppressed {
            out.push(decision(
                DecisionKind::Suppressed,
                "a Stop of this instance fires in the same minute: Stop wins".into(),
            ));
            continue;
        }
        if let Some(name) = c.calendar {
            out.push(decision(
                DecisionKind::Skipped,
                format!("suppressed by calendar:{name}"),
            ));
            continue;
        }
        if matches!(c.origin, Origin::Gone) {
            let kind = if c.entry.is_some_and(|e| e.status == Status::Deferred) {
                DecisionKind::Failed
            } else {
                DecisionKind::Skipped
            };
            out.push(decision(
                kind,
                "its schedule changed or was removed (or the instance is no longer idle): nothing to do".into(),
            ));
            continue;
        }
        match c.entry.and_then(|e| e.dismissal) {
            Some(Dismissal::Skip) => {
                out.push(decision(
                    DecisionKind::Skipped,
                    "skipped by its owner".into(),
                ));
                continue;
            }
            Some(Dismissal::Snooze { until }) if until > now => {
                deadline.offer(until);
                continue;
            }
            _ => {}
        }
        let due = c.due();
        let snoozed = if due != c.at {
            format!("snoozed until {}; ", utc_text(due))
        } else {
            String::new()
        };
        let deferred = c.entry.is_some_and(|e| e.status == Status::Deferred);
        let late = now - due;
        if matches!(c.origin, Origin::Schedule(_) | Origin::Calendar(_))
            && !deferred
            && late > cfg.catch_up
        {
            missed.push(i);
            continue;
        }
        if let Some(op) = manual_change(inst, c.action, due) {
            out.push(decision(
                DecisionKind::NoOp,
                format!("{snoozed}{op} after its time: manual change respected until the next occurrence"),
            ));
            continue;
        }
        let (kind, why) = by_state(state.as_deref(), c.action, due, now, cfg);
        if kind == DecisionKind::Defer {
            deadline.offer(now + cfg.defer_retry);
        }
        if kind == DecisionKind::Execute {
            state = Some(PowerState::after(c.action).to_string());
        }
        let late_note = if late > TimeDelta::zero() && !deferred {
            format!(
                "{} late (catch-up {} min); ",
                duration_text(late),
                cfg.catch_up.num_minutes()
            )
        } else {
            String::new()
        };
        out.push(decision(kind, format!("{snoozed}{late_note}{why}")));
    }

    // Missed occurrences: the newest one possibly repaired; the others recorded, or, beyond
    // the catch-up horizon and never recorded, counted in one summary.
    let newest = missed.last().copied();
    // The newest stays out of the summary while it may be repaired: unless a later occurrence
    // is already settled (as on a retried tick, whose first attempt recorded the later ones).
    let settled_after =
        |at: DateTime<Utc>| inst.ledger.iter().any(|e| e.at > at && e.status.is_final());
    let (beyond, missed): (Vec<usize>, Vec<usize>) = missed.into_iter().partition(|&i| {
        let c = &cands[i];
        (Some(i) != newest || settled_after(c.at))
            && c.entry.is_none()
            && now - c.due() > cfg.catch_up_horizon
    });
    if let Some(summary) = summarise_missed(inst, &key, &cands, &beyond, cfg, window) {
        plan.missed_summaries.push(summary);
    }
    for &i in &missed {
        let c = &cands[i];
        let due = c.due();
        let mut d = Decision {
            occurrence_id: c.id.clone(),
            instance: inst.name.clone(),
            instance_id: inst.id.clone(),
            schedule: schedule_ref(c.origin),
            action: c.action,
            at: c.at,
            kind: DecisionKind::Missed,
            repair: false,
            calendar: calendar_of(c.origin),
            reason: format!(
                "{}; missed: {} late, beyond the {}-min catch-up",
                describe(c),
                duration_text(now - due),
                cfg.catch_up.num_minutes()
            ),
        };
        if Some(i) == newest {
            let later_here = out
                .iter()
                .map(|(_, d)| d)
                .filter(|d| d.kind != DecisionKind::Suppressed)
                .find(|d| d.at > c.at);
            let later_ledger = inst
                .ledger
                .iter()
                .find(|e| e.at > c.at && e.status.is_final());
            let not_repaired = if let Some(l) = later_here {
                Some(format!(
                    "a later {} at {} is decided in this tick",
                    l.action,
                    utc_text(l.at)
                ))
            } else if let Some(e) = later_ledger {
                Some(format!(
                    "a later {} at {} was already {:?}",
                    e.action,
                    utc_text(e.at),
                    e.status
                ))
            } else if let Some(op) = manual_change(inst, c.action, due) {
                Some(format!("{op} after its time (manual change respected)"))
            } else {
                let shown = state.as_deref().unwrap_or("in an unknown state");
                match by_state(state.as_deref(), c.action, now, now, cfg).0 {
                    DecisionKind::Execute => None,
                    DecisionKind::NoOp => Some(format!("instance is already {shown}")),
                    _ => Some(format!("instance is {shown} (transitional or broken)")),
                }
            };
            match not_repaired {
                Some(why) => d.reason.push_str(&format!("; not repaired: {why}")),
                None => {
                    d.kind = DecisionKind::Execute;
                    d.repair = true;
                    d.reason.push_str(&format!(
                        "; applied as repair: it is this instance's newest missed action and the instance is {}, not {}",
                        state.as_deref().unwrap_or("in an unknown state"),
                        desired(c.action)
                    ));
                    state = Some(PowerState::after(c.action).to_string());
                }
            }
        }
        out.push((due, d));
    }
    out.sort_by_key(|(due, _)| *due);
    let first = plan.decisions.len();
    plan.decisions.extend(out.into_iter().map(|(_, d)| d));

    // Pre-shutdown notices for coming Stops (snoozed ones at their new time), and dropped ones
    // for Stops executing unwarned.
    for c in &coming {
        deadline.offer(c.due());
    }
    let mut warn: Vec<&Candidate<'_>> = coming
        .iter()
        .chain(cands.iter().filter(|c| c.due() > now))
        .chain(&snoozed)
        .filter(|c| c.action == Action::Stop && c.calendar.is_none())
        .collect();
    warn.sort_by(|a, b| (a.due(), &a.id).cmp(&(b.due(), &b.id)));
    // Whether the next coming Stop would stop the instance: it accepts a Stop after this
    // tick's own decisions, and no earlier coming Stop will have stopped it first.
    let mut will_stop = PowerState::of(state.as_deref()).accepts(Action::Stop);
    for c in warn {
        let entry = c.entry;
        let due = c.due();
        if matches!(c.origin, Origin::Gone)
            || entry.is_some_and(|e| e.status.is_final() || e.dismissal == Some(Dismissal::Skip))
        {
            continue;
        }
        let mut pending: Vec<i64> = Vec::new();
        for lead in &cfg.lead_times {
            let minutes = lead.num_minutes();
            if minutes <= 0 || entry.is_some_and(|e| e.notified.contains(&minutes)) {
                continue;
            }
            if due - *lead > now {
                deadline.offer(due - *lead);
            } else {
                pending.push(minutes);
            }
        }
        if !will_stop {
            continue;
        }
        // This one stops the instance: any later Stop in the lead window is superseded.
        will_stop = false;
        let Some(&minutes) = pending.iter().min() else {
            continue;
        };
        let key = entry.map_or_else(|| c.id.clone(), LedgerEntry::notice_key);
        let left = due - now;
        // Several leads due at once (a late start, a snooze, an instance that just came up):
        // one warning, at the shortest, and the longer ones are handled by it.
        for &other in pending.iter().filter(|m| **m != minutes) {
            plan.dropped.push(DroppedNotice {
                occurrence_id: c.id.clone(),
                key: key.clone(),
                instance: inst.name.clone(),
                lead_minutes: other,
                reason: format!(
                    "{other}-min notice superseded by the {minutes}-min one ({} left at {})",
                    duration_text(left),
                    utc_text(now)
                ),
            });
        }
        // A native stop, or an override's while Azure ML still runs an enabled native stop
        // (adopted or set, not yet disabled in the studio).
        let caveat = match c.origin {
            Origin::Schedule(es) if es.source == Source::Native => {
                Some(native_caveat(&inst.name, es))
            }
            Origin::Schedule(es)
                if es.source == Source::Override && !inst.enabled_native_stops.is_empty() =>
            {
                Some(native_still_enabled_caveat(
                    &inst.name,
                    &inst.enabled_native_stops,
                ))
            }
            _ => None,
        };
        let native_only = caveat.is_some();
        let moved = if due != c.at {
            format!("; snoozed until {}", utc_text(due))
        } else {
            String::new()
        };
        let mut reason = format!("{}{moved}; in {}", describe(c), duration_text(left));
        if let Some(caveat) = &caveat {
            reason.push_str("; ");
            reason.push_str(caveat);
        }
        plan.notices.push(Notice {
            occurrence_id: c.id.clone(),
            instance: inst.name.clone(),
            instance_id: inst.id.clone(),
            at: c.at,
            due,
            local: local_text(c, due),
            lead_minutes: minutes,
            minutes_left: left.num_minutes(),
            key,
            owner: inst.owner.clone(),
            schedule: schedule_ref(c.origin),
            native_only,
            reason,
            caveat,
            calendar: calendar_of(c.origin),
        });
    }
    for d in &plan.decisions[first..] {
        if d.kind != DecisionKind::Execute || d.action != Action::Stop {
            continue;
        }
        let entry = inst.entry(&d.occurrence_id);
        let due = entry.map_or(d.at, LedgerEntry::due);
        let key = entry.map_or_else(|| d.occurrence_id.clone(), LedgerEntry::notice_key);
        for lead in &cfg.lead_times {
            let minutes = lead.num_minutes();
            if minutes <= 0 || entry.is_some_and(|e| e.notified.contains(&minutes)) {
                continue;
            }
            let lead_due = due - *lead;
            plan.dropped.push(DroppedNotice {
                occurrence_id: d.occurrence_id.clone(),
                key: key.clone(),
                instance: inst.name.clone(),
                lead_minutes: minutes,
                reason: format!(
                    "{minutes}-min notice was due at {}, passed by {} when evaluated at {} (the stop is due): not sent late",
                    utc_text(lead_due),
                    duration_text(now - lead_due),
                    utc_text(now)
                ),
            });
        }
    }
    // Drift of what was carried out before this tick, unless this tick acts on the instance.
    if !plan.decisions[first..]
        .iter()
        .any(|d| d.kind == DecisionKind::Execute)
    {
        plan.drift.extend(super::drift(inst, now));
    }
    // Last, so that a due Stop that waits still has its unsent notices dropped (they are late).
    wait_for_in_doubt(&mut plan.decisions[first..], in_doubt_since(&inst.ledger));
}

/// One summary of the missed occurrences `beyond` the catch-up horizon (indices into `cands`,
/// in time order), or `None` when there are none.
fn summarise_missed(
    inst: &InstanceView,
    key: &str,
    cands: &[Candidate<'_>],
    beyond: &[usize],
    cfg: &Config,
    window: &TickWindow,
) -> Option<MissedSummary> {
    let (first, last) = (&cands[*beyond.first()?], &cands[*beyond.last()?]);
    let count = beyond.len();
    let starts = beyond
        .iter()
        .filter(|&&i| cands[i].action == Action::Start)
        .count();
    let mut reason = format!(
        "{count} occurrence{} missed between {} and {} ({starts} start(s), {} stop(s)), older than the {} catch-up horizon: summarised in this one record, not recorded one by one",
        if count == 1 { "" } else { "s" },
        utc_text(first.at),
        utc_text(last.at),
        count - starts,
        duration_text(cfg.catch_up_horizon)
    );
    if let Some(cut) = window.cut {
        reason.push_str(&format!(
            "; the watermark was older than the {}-day window, so occurrences before {} were not counted",
            MAX_TICK_WINDOW.num_days(),
            utc_text(cut)
        ));
    }
    Some(MissedSummary {
        id: missed_summary_id(key, first.at),
        instance: inst.name.clone(),
        instance_id: inst.id.clone(),
        count,
        starts,
        first: first.at,
        last: last.at,
        last_action: last.action,
        reason,
    })
}

/// A user's start/stop after `since` that goes against `action`, in words.
fn manual_change(inst: &InstanceView, action: Action, since: DateTime<Utc>) -> Option<String> {
    let op = inst.last_operation.as_ref()?;
    if !op
        .operation_trigger
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("user"))
    {
        return None;
    }
    let name = op.operation_name.as_deref()?;
    let against = match action {
        Action::Stop => ["start", "restart"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n)),
        Action::Start => name.eq_ignore_ascii_case("stop"),
    };
    let when = DateTime::parse_from_rfc3339(op.operation_time.as_deref()?.trim())
        .ok()?
        .with_timezone(&Utc);
    (against && when > since).then(|| format!("a user ran {name} at {}", utc_text(when)))
}

/// The decision the instance's state calls for, with its reason.
fn by_state(
    state: Option<&str>,
    action: Action,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
    cfg: &Config,
) -> (DecisionKind, String) {
    let s = state.unwrap_or("");
    let power = PowerState::parse(s);
    let (there, go) = (power.fulfils(action), power.accepts(action));
    let shown = if s.is_empty() { "unknown" } else { s };
    if there {
        (
            DecisionKind::NoOp,
            format!("instance is {shown}: nothing to do"),
        )
    } else if go {
        (DecisionKind::Execute, format!("instance is {shown}"))
    } else if now <= due + cfg.defer_deadline {
        (
            DecisionKind::Defer,
            format!(
                "instance is {shown}: deferred to the next tick (until {})",
                utc_text(due + cfg.defer_deadline)
            ),
        )
    } else {
        (
            DecisionKind::Failed,
            format!(
                "instance is still {shown}, {} min after its time: gave up",
                cfg.defer_deadline.num_minutes()
            ),
        )
    }
}

/// The state an action aims at, in words.
fn desired(action: Action) -> &'static str {
    match action {
        Action::Stop => "Stopped",
        Action::Start => "Running",
    }
}

fn calendar_of(origin: Origin<'_>) -> Option<String> {
    match origin {
        Origin::Calendar(name) => Some(name.to_string()),
        _ => None,
    }
}

fn schedule_ref(origin: Origin<'_>) -> Option<ScheduleRef> {
    match origin {
        Origin::Schedule(es) => Some(es.reference()),
        _ => None,
    }
}

/// `stop: schedule 0 'Cron 0 18 * * *' (Pacific Standard Time) at 18:00 PST on Mon 2026-11-02`.
fn describe(c: &Candidate<'_>) -> String {
    let verb = match c.action {
        Action::Start => "start",
        Action::Stop => "stop",
    };
    match c.origin {
        Origin::Schedule(es) => {
            let whose = match &es.source {
                Source::Native => String::new(),
                Source::Override => "override ".to_string(),
                Source::Policy(p) => format!("policy '{p}' "),
            };
            format!(
                "{verb}: {whose}schedule {} '{}' ({}) at {}",
                es.index,
                es.schedule.trigger,
                es.schedule.time_zone,
                local_text(c, c.at)
            )
        }
        Origin::Idle(s) => format!("{verb}: idle shutdown at {} ({})", utc_text(c.at), s.reason),
        Origin::Calendar(name) => format!(
            "{verb}: calendar '{name}' is off this day, stopped at its start ({})",
            utc_text(c.at)
        ),
        Origin::Gone => format!("{verb}: occurrence at {}", utc_text(c.at)),
    }
}

/// `t` in the zone of the candidate's schedule; UTC for idle stops.
fn local_text(c: &Candidate<'_>, t: DateTime<Utc>) -> String {
    match c.origin {
        Origin::Schedule(es) => {
            let zone = &es.schedule.zone;
            let local = dst::wall(zone, t);
            format!(
                "{} {} on {}",
                local.format("%H:%M"),
                zone.abbreviation_at(t.timestamp()),
                local.format("%a %Y-%m-%d")
            )
        }
        _ => utc_text(t),
    }
}

fn utc_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn duration_text(d: TimeDelta) -> String {
    let m = d.num_minutes();
    if m < 1 {
        format!("{} s", d.num_seconds())
    } else if m < 60 {
        format!("{m} min")
    } else if m % 60 == 0 {
        format!("{} h", m / 60)
    } else {
        format!("{} h {} min", m / 60, m % 60)
    }
}
