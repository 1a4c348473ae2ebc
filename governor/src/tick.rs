//! One tick: read the fleet and the ledger, let the pure governor decide, then carry the plan out
//! so that no occurrence is executed twice, even across retries, crashes and racing governors.
//!
//! Exactly once comes from the store, not from this process: an occurrence is *claimed*
//! (compare-and-set `→ Executing`) before its ARM call, and settled after it. A process killed in
//! between leaves an `Executing` record, which the next tick reconciles against the instance's
//! real state: done if ARM already took it, re-decided if it never reached ARM.

use super::delivery::{EventDelivery, Outgoing};
use super::error::GovernResult;
use super::ledger::{self, to_engine};
use super::{FleetInstance, Runtime};
use chrono::{DateTime, TimeDelta, Utc};
use curfew_arm::{ArmError, Completion, ComputeId};
use curfew_engine::governor::IdleStop;
use curfew_engine::governor::{
    self, decide, superseded, Choice, Decision, DecisionKind, InstanceView, LostRace, Notice,
    Outcome, PolicyDefault, PowerState, Reconciliation, Settlement, TickInput,
};
use curfew_engine::idle::{self, IdleRecord, IdleVerdict, Threshold};
use curfew_engine::Action;
use curfew_notify::{
    ActionFailed, DismissLinks, DriftDetected, Event, IdleUnknown, InstanceChanged, InstanceRef,
    PolicyApplied, ShutdownPending, SnoozeLink,
};
use curfew_store::{
    Activity, AuditRecord, LedgerEntry, LedgerState, MarkKind, StoreError, Versioned,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use tracing::{Instrument, Span};

/// The snooze choices offered in notices.
pub const SNOOZE_CHOICES: [u32; 3] = [30, 60, 120];

/// Store marks ([`Runtime::once`]) that make an operations event once across ticks, processes
/// and governors, and cost one store write per process: drift per occurrence id.
pub const DRIFT_MARK_PREFIX: &str = "drift/";
/// ... and an unknown idle state per instance and newest activity report (one per episode).
pub const IDLE_UNKNOWN_MARK_PREFIX: &str = "idle-unknown/";
/// ... and a default policy applied to an instance, per policy, instance and what it applied.
pub const POLICY_MARK_PREFIX: &str = "policy-applied/";

/// What one tick did; `--format json` prints it as is.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TickReport {
    /// The tick's instant.
    pub now: DateTime<Utc>,
    /// Whether anything was executed or written.
    pub dry_run: bool,
    /// The watermark before the tick.
    pub watermark_before: Option<DateTime<Utc>>,
    /// The watermark after it.
    pub watermark: DateTime<Utc>,
    /// Compute instances seen.
    pub instances: usize,
    /// Instances seen by ARM `state` (`Running`, `Stopped`, …; `unknown` when ARM gave none),
    /// for the `curfew.instances` gauge.
    pub instances_by_state: BTreeMap<String, usize>,
    /// The list price per hour of the instances this tick stopped (the price sheet's currency;
    /// sizes it does not list count 0): the spend per hour Curfew took away, for the
    /// `curfew.savings.hourly` counter. `curfew report` turns the timeline into money saved.
    pub stopped_hourly_cost: f64,
    /// The currency of `stopped_hourly_cost`.
    pub currency: String,
    /// Every decision with its outcome.
    pub decisions: Vec<DecisionReport>,
    /// Notices sent (or not).
    pub notices: Vec<NoticeReport>,
    /// Notices dropped as too late.
    pub dropped: usize,
    /// `Executing` records of interrupted runs, reconciled.
    pub reconciled: Vec<String>,
    /// When something next becomes due.
    pub next_deadline: Option<DateTime<Utc>>,
    /// Budget thresholds crossed (events sent), checked every quarter hour.
    pub budgets: Vec<String>,
    /// Problems that did not stop the tick (bad schedules, unreadable workspaces).
    pub problems: Vec<String>,
    /// Idle shutdown: instances whose state is unknown (no recent report: never stopped for
    /// it), and policy idle-time defaults written back (or that would be).
    pub idle: Vec<String>,
    /// Carried-out actions the instances do not show (`curfew.drift.detected`, once each).
    pub drift: Vec<String>,
    /// Overrides removed by this tick because their expiry passed (audited `override.expired`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expired_overrides: Vec<String>,
    /// ARM calls this tick made.
    pub arm_calls: u64,
    /// Catch-up summaries, one line per instance: `ci-1: N occurrences missed between A and B
    /// (…)`; each is one ledger record instead of N (docs/design.md §13).
    pub missed_summaries: Vec<String>,
    /// Decisions another governor carried out (or recorded) first: normal when governors run
    /// concurrently, counted and logged, never a failure ([`TickReport::failed`]).
    pub lost_races: usize,
    /// The events this tick made, for the caller to deliver ([`Runtime::deliver`]). Not
    /// printed: notices carry signed links, which are capabilities.
    #[serde(skip)]
    pub events: Vec<Outgoing>,
}

/// The outcome of a notice made but not yet handed to a channel.
pub const PENDING_DELIVERY: &str = "pending delivery";

impl TickReport {
    /// A report of a tick at `now` that saw nothing and did nothing (watermark `now`, no
    /// currency): the base the tick fills in, and what tests start from without listing fields.
    pub fn empty(now: DateTime<Utc>) -> TickReport {
        TickReport {
            now,
            dry_run: false,
            watermark_before: None,
            watermark: now,
            instances: 0,
            instances_by_state: BTreeMap::new(),
            stopped_hourly_cost: 0.0,
            currency: String::new(),
            decisions: Vec::new(),
            notices: Vec::new(),
            dropped: 0,
            reconciled: Vec::new(),
            next_deadline: None,
            budgets: Vec::new(),
            problems: Vec::new(),
            idle: Vec::new(),
            drift: Vec::new(),
            expired_overrides: Vec::new(),
            arm_calls: 0,
            missed_summaries: Vec::new(),
            lost_races: 0,
            events: Vec::new(),
        }
    }

    /// Whether the tick failed an occurrence (ARM refused an action, or the store could not
    /// record a decision): `curfew tick` exits 1 then. Races lost to another governor are not
    /// failures: the winner did the work, exactly once.
    pub fn failed(&self) -> bool {
        self.decisions.iter().any(|d| d.result.is_failure())
    }

    /// The log line of the races this tick lost, if it lost any.
    pub fn lost_races_line(&self) -> Option<String> {
        (self.lost_races > 0).then(|| {
            format!(
                "{} decision(s) already taken by another governor (a harmless race, not a failure)",
                self.lost_races
            )
        })
    }

    /// Writes what delivery did into the notices' outcomes (matched by occurrence and lead).
    pub fn record_deliveries(&mut self, deliveries: &[EventDelivery]) {
        // Indexed, not searched: a tick of 10 000 stops has 20 000 notices.
        let mut by_key: HashMap<(&str, i64), usize> = HashMap::with_capacity(self.notices.len());
        for (i, n) in self.notices.iter().enumerate() {
            by_key.insert((n.occurrence_id.as_str(), n.lead_minutes), i);
        }
        let mut outcomes = Vec::new();
        for d in deliveries {
            let Some(m) = &d.mark else { continue };
            if let Some(&i) = by_key.get(&(m.occurrence_id.as_str(), i64::from(m.lead_minutes))) {
                outcomes.push((i, d.outcome()));
            }
        }
        for (i, outcome) in outcomes {
            self.notices[i].outcome = outcome;
        }
    }
}

impl Runtime {
    /// Delivers a tick's events to every channel (and `extra`) and records the outcomes in
    /// its notices: what every caller of a tick does next. Returns what only `extra` took
    /// (to [`Runtime::settle`] once the invocation has answered 2xx).
    pub async fn deliver_tick(
        &self,
        report: &mut TickReport,
        extra: Option<&dyn curfew_notify::Notifier>,
    ) -> Vec<super::delivery::Receipt> {
        let deliveries = self.deliver(&report.events, extra, report.now).await;
        report.record_deliveries(&deliveries);
        deliveries
            .iter()
            .filter_map(EventDelivery::receipt)
            .collect()
    }
}

/// One decision and what came of it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionReport {
    /// Ledger key.
    pub occurrence_id: String,
    /// Compute name.
    pub instance: String,
    /// Start or Stop.
    pub action: Action,
    /// The occurrence's time.
    pub at: DateTime<Utc>,
    /// `Execute`, `NoOp`, `Defer`, `Failed`, `Missed`, `Skipped`, `Suppressed`.
    pub kind: DecisionKind,
    /// Applied as level-triggered repair of a missed occurrence.
    pub repair: bool,
    /// Why, in words.
    pub reason: String,
    /// What happened: `executed`, `recorded`, `dry run`, an ARM error, or a lost race.
    pub outcome: String,
    /// The same, typed (what reports and metrics ask).
    #[serde(skip)]
    pub result: Outcome,
}

/// One notice and whether it went out.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NoticeReport {
    /// The Stop occurrence.
    pub occurrence_id: String,
    /// Compute name.
    pub instance: String,
    /// Which lead time it is (minutes before the stop).
    pub lead_minutes: i64,
    /// Minutes really left before the stop when it was made (what it says).
    pub minutes_left: i64,
    /// The occurrence's time.
    pub at: DateTime<Utc>,
    /// When the stop is due: `at`, or the end of a snooze.
    pub due: DateTime<Utc>,
    /// `sent`, `dry run`, or the delivery error.
    pub outcome: String,
    /// It carries the caveat that a dismissal cannot stop Azure ML's own stop (a native stop,
    /// or an override's while native stops are still enabled).
    pub native_only: bool,
}

/// Runs one tick at `now` over every configured scope and delivers its events to the
/// runtime's channels. With `dry_run`, decides and reports without acting or writing.
pub async fn tick(rt: &Runtime, now: DateTime<Utc>, dry_run: bool) -> GovernResult<TickReport> {
    let mut report = tick_in(rt, None, now, dry_run).await?;
    rt.deliver_tick(&mut report, None).await;
    Ok(report)
}

/// Runs one tick over one workspace (a fan-out `Evaluate` message), with its own watermark, or
/// over every configured scope when `only` is `None`. Its events are returned, undelivered.
pub async fn tick_in(
    rt: &Runtime,
    only: Option<&curfew_arm::WorkspaceRef>,
    now: DateTime<Utc>,
    dry_run: bool,
) -> GovernResult<TickReport> {
    let calls_before = rt.arm.stats().calls;
    let fleet = rt.fleet_in(only).await;
    let mut report = tick_listed(rt, only, &fleet, now, dry_run).await?;
    report.arm_calls = rt.arm.stats().calls - calls_before;
    Ok(report)
}

/// Records past the retention horizon one tick deletes at most: the sweep's cost per tick
/// stays bounded (on Table Storage: a few queries, then changesets of 100 deletes, plus two
/// prefix queries per ledger entry for its marks and dismissals), and a backlog goes within a
/// day of per-minute ticks even for 10 000 instances.
pub const SWEEP_PER_TICK: usize = 100;

/// Nonce marks a tick sweeps at most (one query page, ten `$batch` deletes): reports arrive
/// at 288 a day per instance, so at one tick a minute this keeps up with 5 000 reporting
/// instances per governor (each fanned-out `Evaluate` sweeps too).
pub const NONCE_SWEEP_PER_TICK: usize = 1_000;

/// Expired overrides one tick deletes at most (each one re-read, deleted and audited): a
/// backlog goes over the next ticks.
pub const EXPIRED_OVERRIDES_PER_TICK: usize = 50;

/// Deletes up to [`EXPIRED_OVERRIDES_PER_TICK`] overrides whose expiry has passed, each audited
/// `override.expired` with the override before and `null` after. A fan-out `Evaluate` (`only`)
/// prunes its workspace's instances only. Each is read again first and kept when it changed
/// since the tick listed it (an owner set a new one meanwhile); the delete is conditional on
/// the version read, so one set after the read is kept too. Failures are problems of the
/// report, never of the tick.
async fn prune_expired_overrides(
    rt: &Runtime,
    only: Option<&curfew_arm::WorkspaceRef>,
    fleet: &super::ListedFleet,
    listed: &[curfew_store::Override],
    now: DateTime<Utc>,
    report: &mut TickReport,
) {
    let names: HashMap<String, &str> = fleet
        .instances
        .iter()
        .map(|fi| {
            (
                InstanceView::new(&fi.instance, Vec::new()).key(),
                fi.instance.name.as_str(),
            )
        })
        .collect();
    let candidates = listed
        .iter()
        .filter(|o| only.is_none() || names.contains_key(&o.instance_id.to_ascii_lowercase()))
        .map(|o| (o.instance_id.as_str(), &o.schedules));
    for (id, expired_at) in
        curfew_engine::governor::expired_overrides(candidates, now, EXPIRED_OVERRIDES_PER_TICK)
    {
        let name = names
            .get(&id.to_ascii_lowercase())
            .copied()
            .unwrap_or_else(|| id.rsplit('/').next().unwrap_or(id));
        let before = listed
            .iter()
            .find(|o| o.instance_id == id)
            .map(|o| o.schedules.clone());
        let pruned = async {
            // Kept when it changed since the listing, or between this read and the delete
            // (the delete is conditional on the version read).
            let Some(read) = rt.store.get_override_versioned(id).await? else {
                return Ok::<_, StoreError>(false);
            };
            if Some(&read.value) != before.as_ref()
                || !rt.store.delete_override_if(id, &read.version).await?
            {
                return Ok(false);
            }
            let message = format!(
                "instance '{name}': override expired at {}: the native or policy schedules apply again",
                expired_at.to_rfc3339()
            );
            rt.store
                .append_audit(&[AuditRecord {
                    at: now,
                    kind: "override.expired".into(),
                    instance_id: Some(id.to_owned()),
                    occurrence_id: None,
                    message,
                    details: serde_json::json!({
                        "by": "curfew",
                        "caller": "tick",
                        "expiredAt": expired_at,
                        "before": before,
                        "after": serde_json::Value::Null,
                    }),
                }])
                .await?;
            Ok(true)
        };
        match pruned.await {
            Ok(true) => report.expired_overrides.push(format!(
                "{name}: override expired at {}, removed",
                expired_at.to_rfc3339()
            )),
            Ok(false) => {}
            Err(e) => report
                .problems
                .push(format!("removing the expired override of '{name}': {e}")),
        }
    }
}

/// Runs one tick over a fleet already listed at `now` (a host that listed it to decide on
/// fan-out does not list it twice).
pub async fn tick_listed(
    rt: &Runtime,
    only: Option<&curfew_arm::WorkspaceRef>,
    fleet: &super::ListedFleet,
    now: DateTime<Utc>,
    dry_run: bool,
) -> GovernResult<TickReport> {
    let calls_before = rt.arm.stats().calls;
    let time = TickTime {
        now,
        started: rt.clock.elapsed(),
    };
    let scope = rt.watermark_scope(only);
    let watermark = rt.store.get_watermark(&scope).await?;
    let listed_overrides = rt.store.list_overrides().await?;
    let overrides: HashMap<String, serde_json::Value> = listed_overrides
        .iter()
        .map(|o| (o.instance_id.to_ascii_lowercase(), o.schedules.clone()))
        .collect();
    // Open records live at most snooze cap + deadlines behind; notices and dismissals create
    // records up to the longest lead ahead.
    let cfg = &rt.config;
    let back = cfg.snooze_cap + cfg.catch_up + cfg.defer_deadline + TimeDelta::hours(1);
    let ahead = cfg.lead_times.iter().max().copied().unwrap_or_default() + TimeDelta::days(2);
    // As `decide` bounds its window: never further back than `MAX_TICK_WINDOW`.
    let from = watermark
        .unwrap_or(now)
        .clamp(now - governor::MAX_TICK_WINDOW, now)
        - back;
    let mut grouped: HashMap<String, Vec<Versioned<LedgerEntry>>> = HashMap::new();
    for e in rt.store.entries_between(from, now + ahead).await? {
        grouped
            .entry(e.value.instance_id.to_ascii_lowercase())
            .or_default()
            .push(e);
    }
    // The notice marks of every open record, read at once (a query per 7 records on Table
    // Storage, docs/store.md); `Executing` ones too, which reconciliation may reopen.
    let mark_keys: Vec<String> = grouped
        .values()
        .flatten()
        .filter(|e| {
            e.value.state.is_claimable()
                || matches!(e.value.state, LedgerState::Planned | LedgerState::Executing)
        })
        .map(|e| to_engine(&e.value, &[]).notice_key())
        .collect();
    let marks = if mark_keys.is_empty() {
        HashMap::new()
    } else {
        rt.store.notified_leads_many(&mark_keys).await?
    };
    let mut report = TickReport {
        dry_run,
        watermark_before: watermark,
        instances: fleet.instances.len(),
        currency: rt.prices.currency.clone(),
        problems: fleet.problems.clone(),
        ..TickReport::empty(now)
    };
    if let Some(w) = watermark.filter(|w| *w > now + governor::WATERMARK_TOLERANCE) {
        report.problems.push(format!(
            "the watermark {} is ahead of now ({}): a previous tick had a bad clock; evaluating from now, the watermark returns to now",
            w.to_rfc3339(),
            now.to_rfc3339()
        ));
    }
    let idle_records: HashMap<String, IdleRecord> = rt
        .store
        .list_activity()
        .await?
        .into_iter()
        .filter_map(|(k, a)| {
            Some((
                k.to_ascii_lowercase(),
                serde_json::from_value(a.details).ok()?,
            ))
        })
        .collect();
    let today = now.date_naive();
    let since = governor::window_start(watermark, now, cfg.catch_up);
    let mut views = Vec::with_capacity(fleet.instances.len());
    let calendar_windows = rt.calendar_windows(now);
    let mut records: HashMap<String, Versioned<LedgerEntry>> = HashMap::new();
    let mut by_key: HashMap<String, &FleetInstance> = HashMap::new();
    // The trace under the caller's `tick` span: workspace → instance → occurrence, for the
    // occurrences this tick acts on (a quiet minute adds no span).
    let mut spans = TickSpans::default();
    for fi in &fleet.instances {
        let key = InstanceView::new(&fi.instance, Vec::new()).key();
        *report
            .instances_by_state
            .entry(
                fi.instance
                    .state
                    .clone()
                    .unwrap_or_else(|| "unknown".into()),
            )
            .or_default() += 1;
        let supplied = rt.policy_supplied(fi, today);
        let pd: Vec<PolicyDefault<'_>> = supplied
            .schedules
            .iter()
            .map(|(policy, schedules)| PolicyDefault { policy, schedules })
            .collect();
        // From the window's start: an override expiring in the window or within a notice's
        // lead governs its occurrences before the expiry only, the native or policy
        // schedules those after it (as `curfew plan` lists them).
        let set =
            governor::effective_schedules_since(&fi.instance, overrides.get(&key), &pd, since);
        for (_, d) in &set.diagnostics {
            report.problems.push(d.to_string());
        }
        if !dry_run {
            for a in governor::policy_applications(&set.schedules, now) {
                let mark = format!("{POLICY_MARK_PREFIX}{}/{key}/{}", a.policy, a.key);
                policy_applied(
                    rt,
                    fi,
                    &key,
                    &mark,
                    &a.policy,
                    a.detail,
                    &a.key,
                    now,
                    &mut report,
                )
                .await;
            }
        }
        let enabled_native_stops = set.enabled_native_stops;
        let mut view = InstanceView::new(&fi.instance, set.schedules);
        // Read from this tick's inventory: disabling them in the studio drops the caveat.
        view.enabled_native_stops = enabled_native_stops;
        view.calendars = curfew_engine::holiday::Assigned::for_instance(
            &rt.calendars,
            &calendar_windows,
            &fi.instance,
        );
        let entries = grouped.remove(&key).unwrap_or_default();
        // The records as read, before any is reconciled: an interrupted claim followed by a
        // later occurrence settled since is superseded (the newest intent wins).
        let as_read: Vec<_> = entries.iter().map(|o| to_engine(&o.value, &[])).collect();
        let observed = PowerState::of(fi.instance.state.as_deref());
        for mut e in entries {
            if e.value.state == LedgerState::Executing {
                let claim = ledger::claim_of(&e.value);
                let later = superseded(&claim, &as_read);
                if let Some(r) = governor::reconcile(&claim, &observed, later, now) {
                    let span =
                        spans.occurrence(Some(fi), &key, &e.value.occurrence_id, "reconcile");
                    reconcile(rt, fi, &mut e, r, now, dry_run, &mut report)
                        .instrument(span)
                        .await;
                }
            }
            // Marks are read under the current due time's key: a snooze's new time starts afresh.
            let notified = if e.value.state.is_claimable() || e.value.state == LedgerState::Planned
            {
                let key = to_engine(&e.value, &[]).notice_key();
                match marks.get(&key) {
                    Some(leads) => leads.clone(),
                    None => rt.store.notified_leads(&key).await?,
                }
            } else {
                Vec::new()
            };
            view.ledger.push(to_engine(&e.value, &notified));
            records.insert(e.value.occurrence_id.clone(), e);
        }
        idle_stops(
            rt,
            fi,
            &key,
            &supplied,
            idle_records.get(&key),
            now,
            dry_run,
            &mut view,
            &mut report,
        )
        .await;
        by_key.insert(key, fi);
        views.push(view);
    }
    // Records still Executing after reconciliation are in doubt: `decide` defers the later
    // occurrences of their instances until they settle.
    let plan = decide(
        &TickInput {
            instances: &views,
            watermark,
            config: cfg,
        },
        now,
    );
    report.watermark = plan.watermark;
    report.next_deadline = plan.next_deadline;
    report.dropped = plan.dropped.len();
    let key_of = |instance_id: &Option<String>, name: &str| {
        instance_id.as_deref().unwrap_or(name).to_ascii_lowercase()
    };
    for n in &plan.notices {
        let key = key_of(&n.instance_id, &n.instance);
        let span = spans.occurrence(by_key.get(&key).copied(), &key, &n.occurrence_id, "notice");
        let outcome = if dry_run {
            "dry run".to_string()
        } else {
            notify(
                rt,
                n,
                by_key.get(&key).copied(),
                &key,
                &mut records,
                now,
                &mut report.events,
            )
            .instrument(span.clone())
            .await
        };
        span.record("curfew.outcome", outcome.as_str());
        report.notices.push(NoticeReport {
            occurrence_id: n.occurrence_id.clone(),
            instance: n.instance.clone(),
            lead_minutes: n.lead_minutes,
            minutes_left: n.minutes_left,
            at: n.at,
            due: n.due,
            outcome,
            native_only: n.native_only,
        });
    }
    if !dry_run {
        for d in &plan.dropped {
            rt.store
                .mark_notified(&d.key, d.lead_minutes as u32)
                .await?;
        }
    }
    let mut audit = Vec::new();
    for s in &plan.missed_summaries {
        let key = key_of(&s.instance_id, &s.instance);
        let line = format!("{}: {}", s.instance, s.reason);
        tracing::warn!(instance = %s.instance, missed = s.count, "{line}");
        if !dry_run {
            if let Err(e) =
                ensure_record(rt, &mut records, ledger::missed_summary(s, &key, now)).await
            {
                report.problems.push(format!(
                    "{}: recording the catch-up summary failed: {e}",
                    s.instance
                ));
            }
            audit.push(AuditRecord {
                at: now,
                kind: "decision.missed-summary".into(),
                instance_id: Some(key.clone()),
                occurrence_id: Some(s.id.clone()),
                message: s.reason.clone(),
                details: serde_json::json!({"count": s.count, "starts": s.starts, "first": s.first, "last": s.last}),
            });
        }
        report.missed_summaries.push(line);
    }
    for d in &plan.decisions {
        let key = key_of(&d.instance_id, &d.instance);
        let span = spans.occurrence(
            by_key.get(&key).copied(),
            &key,
            &d.occurrence_id,
            &d.action.to_string(),
        );
        let result = if dry_run {
            Outcome::DryRun
        } else {
            apply(
                rt,
                d,
                by_key.get(&key).copied(),
                &key,
                &mut records,
                &time,
                &mut report.events,
            )
            .instrument(span.clone())
            .await
        };
        let outcome = result.to_string();
        span.record(
            "curfew.decision",
            format!("{:?}", d.kind).to_ascii_lowercase(),
        );
        span.record("curfew.outcome", outcome.as_str());
        if d.action == Action::Stop && result.is_executed() {
            report.stopped_hourly_cost += by_key
                .get(&key)
                .and_then(|fi| fi.instance.vm_size.as_deref())
                .and_then(|size| rt.prices.price(size))
                .unwrap_or(0.0);
        }
        audit.push(AuditRecord {
            at: now,
            kind: format!("decision.{:?}", d.kind).to_ascii_lowercase(),
            instance_id: Some(key.clone()),
            occurrence_id: Some(d.occurrence_id.clone()),
            message: format!("{} — {outcome}", d.reason),
            details: serde_json::json!({"action": d.action, "at": d.at, "repair": d.repair}),
        });
        report.decisions.push(DecisionReport {
            occurrence_id: d.occurrence_id.clone(),
            instance: d.instance.clone(),
            action: d.action,
            at: d.at,
            kind: d.kind,
            repair: d.repair,
            reason: d.reason.clone(),
            outcome,
            result,
        });
    }
    for dr in &plan.drift {
        let key = key_of(&dr.instance_id, &dr.instance);
        report.drift.push(format!("{}: {}", dr.instance, dr.reason));
        if dry_run {
            continue;
        }
        let mark = format!("{DRIFT_MARK_PREFIX}{}", dr.occurrence_id);
        match rt.once_at(&mark, dr.due).await {
            Ok(true) => {
                let data = DriftDetected {
                    occurrence_id: dr.occurrence_id.clone(),
                    instance: instance_ref(by_key.get(&key).copied(), &dr.instance, &key),
                    action: format!("{:?}", dr.action).to_ascii_lowercase(),
                    due_utc: dr.due,
                    expected: dr.expected.to_string(),
                    observed: dr.observed.clone(),
                    reason: dr.reason.clone(),
                };
                report.events.push(Outgoing::event(Event::drift_detected(
                    &rt.source, now, data,
                )));
            }
            Ok(false) => {}
            Err(e) => report
                .problems
                .push(format!("{}: recording the drift: {e}", dr.instance)),
        }
    }
    if !dry_run {
        {
            let seen: Vec<&curfew_engine::inventory::Instance> =
                fleet.instances.iter().map(|f| &f.instance).collect();
            // A stop saves until the next start; when none follows, until the next scheduled
            // one (design §9), computed from the instance's effective schedules now.
            let schedules: HashMap<String, &[governor::EffectiveSchedule]> = views
                .iter()
                .map(|v| (v.key(), v.schedules.as_slice()))
                .collect();
            let executed: Vec<super::costlog::Executed> = plan
                .decisions
                .iter()
                .zip(&report.decisions)
                .filter(|(_, r)| r.result.is_executed())
                .map(|(d, r)| super::costlog::Executed {
                    instance: r.instance.clone(),
                    action: r.action,
                    reason: r.reason.clone(),
                    next_start: match d.action {
                        Action::Stop => schedules
                            .get(&key_of(&d.instance_id, &d.instance))
                            .and_then(|s| governor::next_scheduled_start(s, now)),
                        Action::Start => None,
                    },
                })
                .collect();
            // The timeline every governor shares (reports and budgets read it), and the
            // file copy of what this process saw, when one is configured.
            if let Err(e) =
                super::costlog::record_in_store(rt.store.as_ref(), now, &seen, &executed).await
            {
                report
                    .problems
                    .push(format!("writing the cost timeline to the store: {e}"));
            }
            if let Some(log) = &rt.cost_log {
                if let Err(e) = log.record(now, &seen, &executed) {
                    report.problems.push(format!(
                        "writing the cost timeline {}: {e}",
                        log.path().display()
                    ));
                }
            }
        }
        if !audit.is_empty() {
            rt.store.append_audit(&audit).await?;
        }
        let (lines, events) = super::budgets::check(rt, now, false).await;
        report.budgets = lines;
        report.events.extend(events);
        match rt
            .store
            .set_watermark(&scope, watermark, plan.watermark)
            .await
        {
            Ok(()) => {}
            Err(e) if e.is_conflict() => report.problems.push(
                "another governor moved the watermark during this tick; it keeps its value".into(),
            ),
            Err(e) => return Err(e.into()),
        }
        // Retention: a bounded sweep of what is older than the horizon (docs/store.md).
        match rt
            .store
            .sweep(now - rt.config.retention, SWEEP_PER_TICK)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(swept = n, "retention: records past the horizon deleted"),
            Err(e) => report
                .problems
                .push(format!("sweeping records past the retention horizon: {e}")),
        }
        // Timed marks: nonces once their report's signature window is long past, budget
        // alerts once their month ended before the horizon, once-only events once what they
        // are about is past the horizon (docs/store.md).
        for (kind, before, limit) in [
            (
                MarkKind::Nonce,
                curfew_engine::idle::nonce_marks_sweep_before(now),
                NONCE_SWEEP_PER_TICK,
            ),
            (
                MarkKind::Budget,
                super::budgets::budget_marks_sweep_before(now, rt.config.retention),
                SWEEP_PER_TICK,
            ),
            (MarkKind::Event, now - rt.config.retention, SWEEP_PER_TICK),
        ] {
            match rt.store.sweep_marks(kind, before, limit).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(swept = n, kind = kind.as_str(), "retention: marks deleted")
                }
                Err(e) => report
                    .problems
                    .push(format!("sweeping {} marks: {e}", kind.as_str())),
            }
        }
        // Expired overrides: a bounded prune, each audited (the tick already ignores them).
        prune_expired_overrides(rt, only, fleet, &listed_overrides, now, &mut report).await;
        // The heartbeat, last: this tick completed (Status and the no-tick alert read it).
        if let Err(e) = rt.record_heartbeat(now).await {
            report
                .problems
                .push(format!("recording the heartbeat: {e}"));
        }
    }
    report.lost_races = report
        .decisions
        .iter()
        .filter(|d| d.result.is_lost_race())
        .count();
    if let Some(line) = report.lost_races_line() {
        tracing::info!(lost_races = report.lost_races, "{line}");
    }
    // Routing compares tags and owners too: the instance each event is about, by its id.
    for o in &mut report.events {
        if let Some(fi) = by_key.get(&o.event.subject.to_ascii_lowercase()) {
            o.set_instance(&fi.instance);
        }
    }
    report.arm_calls = rt.arm.stats().calls - calls_before;
    Ok(report)
}

/// The spans of one tick, made for the occurrences it acts on (a notice, a decision, a
/// reconciliation): one per occurrence, under one per instance, under one per workspace, under
/// the caller's span (the handler's `tick`). Instances and workspaces with nothing to do get
/// none: a span per instance per minute would be most of the telemetry bill and say nothing.
#[derive(Default)]
struct TickSpans {
    workspaces: HashMap<String, Span>,
    instances: HashMap<String, Span>,
}

impl TickSpans {
    /// The span of `fi` (key `key`), opened with its workspace's the first time.
    fn instance(&mut self, fi: &FleetInstance, key: &str) -> Span {
        if let Some(span) = self.instances.get(key) {
            return span.clone();
        }
        let ws = match self.workspaces.get(&fi.workspace) {
            Some(ws) => ws.clone(),
            None => {
                let ws = tracing::info_span!("workspace", curfew.workspace = %fi.workspace);
                self.workspaces.insert(fi.workspace.clone(), ws.clone());
                ws
            }
        };
        let span = tracing::info_span!(
            parent: &ws,
            "instance",
            curfew.instance = %fi.instance.name,
            curfew.state = fi.instance.state.as_deref().unwrap_or("unknown"),
        );
        self.instances.insert(key.to_owned(), span.clone());
        span
    }

    /// A span for one occurrence of the instance `key`: under its instance's span, or under
    /// the tick's for an instance the fleet listing did not show (`fi` is `None`).
    fn occurrence(
        &mut self,
        fi: Option<&FleetInstance>,
        key: &str,
        occurrence: &str,
        action: &str,
    ) -> Span {
        let parent = match fi {
            Some(fi) => self.instance(fi, key),
            None => Span::current(),
        };
        tracing::info_span!(
            parent: &parent,
            "occurrence",
            curfew.occurrence_id = occurrence,
            curfew.action = action,
            curfew.decision = tracing::field::Empty,
            curfew.outcome = tracing::field::Empty,
        )
    }
}

/// Turns an instance's idle record into idle stops for the governor (docs/design.md §8), persists the
/// record's bookkeeping (threshold in force, clock reset), and writes policy idle-time defaults
/// back to ARM when configured to.
#[allow(clippy::too_many_arguments)]
async fn idle_stops(
    rt: &Runtime,
    fi: &FleetInstance,
    key: &str,
    supplied: &super::PolicySupplied,
    record: Option<&IdleRecord>,
    now: DateTime<Utc>,
    dry_run: bool,
    view: &mut InstanceView,
    report: &mut TickReport,
) {
    let name = &fi.instance.name;
    let own = fi
        .instance
        .idle_time_before_shutdown
        .as_deref()
        .filter(|s| !s.trim().is_empty());
    if let (None, Some((value, policy))) = (own, &supplied.idle) {
        // The policy's default reaches existing instances too (unlike Azure Policy `append`).
        let id = fi.instance.id.as_deref().and_then(ComputeId::parse);
        match (rt.write_back_idle && !dry_run, id) {
            (true, Some(id)) => match rt.arm.update_idle_shutdown(&id, value).await {
                Ok(()) => {
                    report.idle.push(format!("{name}: idleTimeBeforeShutdown set to {value} by policy '{policy}'"));
                    let detail = format!("idleTimeBeforeShutdown set to {value} (written back)");
                    let mark = format!("{POLICY_MARK_PREFIX}{policy}/{key}/idle={value}");
                    policy_applied(rt, fi, key, &mark, policy, detail, &format!("idle={value}"), now, report).await;
                }
                Err(e) => report.problems.push(format!("{name}: writing idleTimeBeforeShutdown {value} (policy '{policy}') failed: {e}")),
            },
            // Default (and dry runs): say what would be written; Curfew enforces it meanwhile.
            _ => {
                report.idle.push(format!(
                    "{name}: policy '{policy}' gives idleTimeBeforeShutdown {value}; enforced by Curfew (write-back off)"
                ));
                if !dry_run {
                    let detail = format!("idleTimeBeforeShutdown {value}, enforced by Curfew (write-back off)");
                    let mark = format!("{POLICY_MARK_PREFIX}{policy}/{key}/idle={value}");
                    policy_applied(rt, fi, key, &mark, policy, detail, &format!("idle={value}"), now, report).await;
                }
            }
        }
    }
    let Some(record) = record else { return };
    let threshold = match Threshold::resolve(
        name,
        own,
        supplied
            .idle
            .as_ref()
            .map(|(v, p)| (v.as_str(), p.as_str())),
    ) {
        Ok(Some(t)) => t,
        Ok(None) => return,
        Err(e) => {
            report.problems.push(e.to_string());
            return;
        }
    };
    if let Some(w) = &threshold.warning {
        report.problems.push(w.clone());
    }
    let running = PowerState::of(fi.instance.state.as_deref()) == PowerState::Running;
    let (verdict, next) = idle::idle_state(record, &threshold, running, now);
    if next != *record && !dry_run {
        let at = next.last_report.unwrap_or(now);
        let activity = Activity {
            at,
            busy: next.idle_since.is_none(),
            details: serde_json::to_value(&next).unwrap_or_default(),
        };
        if let Err(e) = rt.store.put_activity(key, &activity).await {
            report
                .problems
                .push(format!("{name}: saving the idle record failed: {e}"));
        }
    }
    match verdict {
        IdleVerdict::Idle { since, stop_due_at } => view.idle_stops.push(IdleStop {
            due_at: stop_due_at,
            idle_since: since,
            reason: verdict.reason(&threshold),
        }),
        IdleVerdict::Unknown { last_report } => {
            let reason = format!(
                "idle state unknown (last activity report {}): reported, not stopped",
                last_report.map_or("never".to_string(), |t| t
                    .format("%Y-%m-%dT%H:%MZ")
                    .to_string())
            );
            report.idle.push(format!("{name}: {reason}"));
            // One event per episode: it became unknown since this report (or none ever came).
            let mark = format!(
                "{IDLE_UNKNOWN_MARK_PREFIX}{key}/{}",
                last_report.map_or("never".to_string(), |t| t.timestamp().to_string())
            );
            if !dry_run {
                // Timed at the report it is unknown since, swept once that is past the
                // horizon; untimed when none ever came, or when the report is already that old
                // (a timed mark would be swept by the same tick and the event sent again).
                let first = match last_report {
                    Some(t) if t > now - rt.config.retention + TimeDelta::days(1) => {
                        rt.once_at(&mark, t).await
                    }
                    _ => rt.once(&mark).await,
                };
                match first {
                    Ok(true) => {
                        let data = IdleUnknown {
                            instance: instance_ref(Some(fi), name, key),
                            last_report,
                            reason,
                        };
                        report
                            .events
                            .push(Outgoing::event(Event::idle_unknown(&rt.source, now, data)));
                    }
                    Ok(false) => {}
                    Err(e) => report
                        .problems
                        .push(format!("{name}: recording the unknown idle state: {e}")),
                }
            }
        }
        IdleVerdict::Busy { .. } | IdleVerdict::NotApplicable => {}
    }
}

/// Makes `curfew.policy.applied` for a default policy applied to an instance, once per `mark`.
#[allow(clippy::too_many_arguments)]
async fn policy_applied(
    rt: &Runtime,
    fi: &FleetInstance,
    key: &str,
    mark: &str,
    policy: &str,
    detail: String,
    what: &str,
    now: DateTime<Utc>,
    report: &mut TickReport,
) {
    match rt.once(mark).await {
        Ok(true) => {
            let data = PolicyApplied {
                policy: policy.to_string(),
                instance: instance_ref(Some(fi), &fi.instance.name, key),
                effect: "append".into(),
                detail,
                key: what.to_string(),
            };
            report.events.push(Outgoing::event(Event::policy_applied(
                &rt.source, now, data,
            )));
        }
        Ok(false) => {}
        Err(e) => report.problems.push(format!(
            "{}: recording that policy '{policy}' applied: {e}",
            fi.instance.name
        )),
    }
}

/// Records the governor's verdict on an `Executing` record left by an interrupted process.
async fn reconcile(
    rt: &Runtime,
    fi: &FleetInstance,
    e: &mut Versioned<LedgerEntry>,
    verdict: Reconciliation,
    now: DateTime<Utc>,
    dry_run: bool,
    report: &mut TickReport,
) {
    let mut next = e.value.clone();
    next.updated_at = now;
    next.state = ledger::store_state(verdict.status());
    next.outcome = Some(verdict.to_string());
    report.reconciled.push(format!(
        "{} {}: {}",
        fi.instance.name,
        e.value.occurrence_id,
        next.outcome.clone().unwrap_or_default()
    ));
    if dry_run {
        e.value = next;
        return;
    }
    match rt.store.update_entry(&next, &e.version).await {
        Ok(version) => {
            *e = Versioned {
                value: next,
                version,
            }
        }
        Err(err) => report
            .problems
            .push(format!("reconciling {}: {err}", e.value.occurrence_id)),
    }
}

fn instance_ref(fi: Option<&FleetInstance>, name: &str, key: &str) -> InstanceRef {
    InstanceRef {
        name: name.to_string(),
        id: fi
            .and_then(|f| f.instance.id.clone())
            .unwrap_or_else(|| key.to_string()),
        workspace: fi.map(|f| f.workspace.clone()).unwrap_or_default(),
    }
}

/// The record of an occurrence: the one read this tick, else created (`Planned`).
async fn ensure_record(
    rt: &Runtime,
    records: &mut HashMap<String, Versioned<LedgerEntry>>,
    fresh: LedgerEntry,
) -> Result<Versioned<LedgerEntry>, StoreError> {
    if let Some(r) = records.get(&fresh.occurrence_id) {
        return Ok(r.clone());
    }
    let v = match rt.store.insert_entry(&fresh).await {
        Ok(version) => Versioned {
            value: fresh,
            version,
        },
        Err(StoreError::AlreadyExists { .. }) => rt
            .store
            .get_entry(&fresh.occurrence_id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                table: "ledger",
                key: fresh.occurrence_id.clone(),
            })?,
        Err(e) => return Err(e),
    };
    records.insert(v.value.occurrence_id.clone(), v.clone());
    Ok(v)
}

/// Makes one pre-shutdown notice, recorded as sent only once delivered
/// ([`Runtime::deliver`]).
async fn notify(
    rt: &Runtime,
    n: &Notice,
    fi: Option<&FleetInstance>,
    key: &str,
    records: &mut HashMap<String, Versioned<LedgerEntry>>,
    now: DateTime<Utc>,
    events: &mut Vec<Outgoing>,
) -> String {
    // The record must exist so that a dismissal arriving from the notice finds its occurrence.
    let fresh = LedgerEntry {
        occurrence_id: n.occurrence_id.clone(),
        instance_id: key.to_string(),
        schedule: ledger::calendar_label(n.calendar.as_deref())
            .unwrap_or_else(|| ledger::schedule_label(n.schedule.as_ref())),
        action: ledger::action_of(Action::Stop, n.schedule.is_none() && n.calendar.is_none()),
        at: n.at,
        state: LedgerState::Planned,
        snoozed_until: None,
        attempts: 0,
        reason: n.reason.clone(),
        outcome: None,
        updated_at: now,
    };
    if let Err(e) = ensure_record(rt, records, fresh).await {
        return format!("not sent: recording the occurrence failed: {e}");
    }
    let links = DismissLinks {
        skip: rt.link(&n.occurrence_id, Choice::Skip, n.at),
        snooze: SNOOZE_CHOICES
            .iter()
            .filter_map(|m| {
                rt.link(&n.occurrence_id, Choice::Snooze { minutes: *m }, n.at)
                    .map(|url| SnoozeLink { minutes: *m, url })
            })
            .collect(),
    };
    let event = Event::shutdown_pending(
        &rt.source,
        now,
        ShutdownPending {
            occurrence_id: n.occurrence_id.clone(),
            instance: instance_ref(fi, &n.instance, key),
            action: "stop".into(),
            at_utc: n.due,
            at_local: n.local.clone(),
            lead_minutes: n.lead_minutes as u32,
            minutes_left: u32::try_from(n.minutes_left).ok(),
            // The caveat is the notice's note (every rendering shows it), not said twice.
            reason: n.reason_without_caveat().to_owned(),
            owner_object_id: n.owner.clone(),
            native_only: n.native_only,
            note: n.caveat.clone(),
            links,
        },
    );
    events.push(Outgoing::notice(
        event,
        &n.occurrence_id,
        &n.key,
        n.lead_minutes as u32,
    ));
    PENDING_DELIVERY.to_string()
}

/// The tick's instant and where its clock stood when it began.
struct TickTime {
    now: DateTime<Utc>,
    started: std::time::Duration,
}

impl TickTime {
    /// The tick's `now` moved on by the time elapsed since it began: the instant on the tick's
    /// own timeline (simulated in tests) at which something happens inside it.
    fn at(&self, clock: &dyn curfew_plumbing::Clock) -> DateTime<Utc> {
        let spent = clock.elapsed().saturating_sub(self.started);
        self.now + TimeDelta::from_std(spent).unwrap_or(TimeDelta::zero())
    }
}

/// Carries out one decision: executes it (claim → ARM → settle) or records it. The events
/// it makes (started, stopped, failed) go to `events`.
async fn apply(
    rt: &Runtime,
    d: &Decision,
    fi: Option<&FleetInstance>,
    key: &str,
    records: &mut HashMap<String, Versioned<LedgerEntry>>,
    time: &TickTime,
    events: &mut Vec<Outgoing>,
) -> Outcome {
    let now = time.now;
    let record = match ensure_record(rt, records, ledger::planned(d, key, now)).await {
        Ok(r) => r,
        Err(e) => return Outcome::NotRecorded(e.to_string()),
    };
    if d.kind != DecisionKind::Execute {
        // Never overwrite a record another governor has settled or is executing (it may have
        // been inserted after this tick read the ledger).
        if !record.value.state.is_claimable() && record.value.state != ledger::state_of(d.kind) {
            return Outcome::Lost(LostRace::AlreadySettled(format!(
                "{:?}",
                record.value.state
            )));
        }
        let mut next = record.value.clone();
        next.state = ledger::state_of(d.kind);
        next.reason = d.reason.clone();
        next.updated_at = now;
        if d.kind == DecisionKind::Defer {
            next.attempts += 1;
        }
        if next == record.value {
            return Outcome::Recorded;
        }
        return match rt.store.update_entry(&next, &record.version).await {
            Ok(version) => {
                // A deferral that gave up is a failed action: said once, by the governor that
                // recorded it (the event id is the occurrence and its attempts).
                if d.kind == DecisionKind::Failed {
                    let event = Event::action_failed(
                        &rt.source,
                        now,
                        ActionFailed {
                            occurrence_id: d.occurrence_id.clone(),
                            instance: instance_ref(fi, &d.instance, key),
                            action: format!("{:?}", d.action).to_ascii_lowercase(),
                            attempts: next.attempts,
                            error: format!("gave up after {} deferral(s)", next.attempts),
                            reason: d.reason.clone(),
                        },
                    );
                    events.push(Outgoing::event(event));
                }
                records.insert(
                    next.occurrence_id.clone(),
                    Versioned {
                        value: next,
                        version,
                    },
                );
                Outcome::Recorded
            }
            Err(e) if e.is_conflict() => Outcome::Lost(LostRace::ChangedFirst),
            Err(e) => Outcome::NotRecorded(e.to_string()),
        };
    }
    if !record.value.state.is_claimable() {
        return Outcome::Lost(LostRace::NotClaimable(format!("{:?}", record.value.state)));
    }
    // The lease starts now, not at the tick's start: in a long tick, a claim stamped with the
    // tick's `now` could look stale to another governor while its ARM call is in flight.
    let claimed_at = time.at(rt.clock.as_ref());
    let claimed = match rt
        .store
        .claim(&d.occurrence_id, &record.version, claimed_at)
        .await
    {
        Ok(c) => c,
        Err(e) if e.is_conflict() || matches!(e, StoreError::NotClaimable { .. }) => {
            return Outcome::Lost(LostRace::ClaimedFirst)
        }
        Err(e) => return Outcome::NotClaimed(e.to_string()),
    };
    let Some(id) = d.instance_id.as_deref().and_then(ComputeId::parse) else {
        return settle(rt, records, claimed, Settlement::NoArmId, now).await;
    };
    let action = match d.action {
        Action::Start => curfew_arm::Action::Start,
        Action::Stop => curfew_arm::Action::Stop,
    };
    let instance = instance_ref(fi, &d.instance, key);
    match rt.arm.act(&id, action, Completion::Accepted).await {
        Ok(_) => {
            let data = InstanceChanged {
                occurrence_id: d.occurrence_id.clone(),
                instance,
                at_utc: now,
                reason: d.reason.clone(),
            };
            let event = match d.action {
                Action::Start => Event::instance_started(&rt.source, now, data),
                Action::Stop => Event::instance_stopped(&rt.source, now, data),
            };
            let outcome = settle(rt, records, claimed, Settlement::Accepted, now).await;
            events.push(Outgoing::event(event));
            outcome
        }
        // A 409 (the instance changed state since the listing) or a transient failure after the
        // client's own retries: defer, so the next tick decides again within the deadline.
        Err(e) if matches!(e, ArmError::Conflict { .. }) || e.is_retryable() => {
            settle(
                rt,
                records,
                claimed,
                Settlement::Deferred(e.to_string()),
                now,
            )
            .await
        }
        Err(e) => {
            let attempts = claimed.value.attempts;
            let outcome = settle(
                rt,
                records,
                claimed,
                Settlement::Refused(e.to_string()),
                now,
            )
            .await;
            let event = Event::action_failed(
                &rt.source,
                now,
                ActionFailed {
                    occurrence_id: d.occurrence_id.clone(),
                    instance,
                    action: format!("{:?}", d.action).to_ascii_lowercase(),
                    attempts,
                    error: e.to_string(),
                    reason: d.reason.clone(),
                },
            );
            events.push(Outgoing::event(event));
            outcome
        }
    }
}

/// Moves a claimed record to its final (or deferred) state.
async fn settle(
    rt: &Runtime,
    records: &mut HashMap<String, Versioned<LedgerEntry>>,
    claimed: Versioned<LedgerEntry>,
    settlement: Settlement,
    now: DateTime<Utc>,
) -> Outcome {
    let mut next = claimed.value.clone();
    next.state = ledger::store_state(settlement.status());
    next.outcome = Some(settlement.to_string());
    next.updated_at = now;
    match rt.store.update_entry(&next, &claimed.version).await {
        Ok(version) => {
            records.insert(
                next.occurrence_id.clone(),
                Versioned {
                    value: next,
                    version,
                },
            );
            Outcome::Settled {
                settlement,
                write_error: None,
            }
        }
        Err(e) => Outcome::Settled {
            settlement,
            write_error: Some(e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curfew_engine::governor::STALE_EXECUTING;
    use curfew_plumbing::{Clock, ManualClock};

    #[test]
    fn a_claim_lease_outlasts_the_arm_call_it_covers() {
        let call = TimeDelta::from_std(curfew_arm::DEFAULT_CALL_DEADLINE).unwrap();
        assert!(
            STALE_EXECUTING >= call + TimeDelta::minutes(2),
            "a claim must not look stale while its ARM call (retries included) may still run"
        );
    }

    #[test]
    fn claims_are_stamped_when_made_not_when_the_tick_began() {
        let clock = ManualClock::new();
        let now = DateTime::parse_from_rfc3339("2026-03-09T18:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let time = TickTime {
            now,
            started: clock.elapsed(),
        };
        assert_eq!(time.at(&clock), now);
        clock.advance(std::time::Duration::from_secs(190));
        assert_eq!(time.at(&clock), now + TimeDelta::seconds(190));
    }
}

#[cfg(test)]
mod delivery_tests {
    use super::*;
    use crate::delivery::{ChannelResult, NoticeMark};

    fn notice(id: &str, lead: i64) -> NoticeReport {
        NoticeReport {
            occurrence_id: id.into(),
            instance: "i".into(),
            lead_minutes: lead,
            minutes_left: lead,
            at: DateTime::<Utc>::MIN_UTC,
            due: DateTime::<Utc>::MIN_UTC,
            outcome: PENDING_DELIVERY.into(),
            native_only: false,
        }
    }

    #[test]
    fn each_delivery_lands_on_its_own_notice() {
        let mut r = TickReport {
            currency: "USD".into(),
            notices: vec![notice("a", 30), notice("a", 5), notice("b", 30)],
            ..TickReport::empty(DateTime::<Utc>::MIN_UTC)
        };
        let delivery = |id: &str, lead: u32, error: Option<&str>| EventDelivery {
            event_id: format!("{id}-{lead}"),
            kind: "curfew.shutdown.pending".into(),
            mark: Some(NoticeMark {
                occurrence_id: id.into(),
                key: id.into(),
                lead_minutes: lead,
            }),
            channels: vec![ChannelResult {
                channel: "hook".into(),
                error: error.map(str::to_owned),
                retryable: true,
            }],
            recorded: error.is_none(),
            problem: None,
            awaiting: false,
            resent: false,
            owed_entry: None,
        };
        r.record_deliveries(&[delivery("a", 5, None), delivery("b", 30, Some("HTTP 500"))]);
        let outcomes: Vec<&str> = r.notices.iter().map(|n| n.outcome.as_str()).collect();
        assert_eq!(
            outcomes,
            [PENDING_DELIVERY, "sent", "not sent: hook: HTTP 500"]
        );
    }
}
