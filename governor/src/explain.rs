//! `explain`: one instance's effective schedules with their sources, its next occurrences (with
//! the ids notices and dismissals use), and its ledger history.

use super::delivery::route_target;
use super::error::{GovernError, GovernResult};
use super::Runtime;
use chrono::{DateTime, TimeDelta, Utc};
use curfew_engine::governor::upcoming::{upcoming, Suppression};
use curfew_engine::governor::{InstanceView, PolicyDefault};
use curfew_engine::routing::{route, RouteTarget};
use curfew_engine::schedule::Source;
use curfew_engine::Action;
use curfew_notify::EventType;
use serde::Serialize;
use std::collections::HashMap;

/// How far ahead `explain` lists occurrences.
pub const EXPLAIN_DAYS: i64 = 7;

/// Everything `explain` shows.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// Compute name.
    pub instance: String,
    /// ARM id.
    pub id: Option<String>,
    /// ARM state.
    pub state: Option<String>,
    /// Who is warned and may dismiss.
    pub owner: Option<String>,
    /// The stored override's expiry, when it has one (in force before it, not after), so an
    /// owner sees why the native schedules are back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub override_expires: Option<DateTime<Utc>>,
    /// An override is in force but a native Stop is still enabled in Azure ML, which runs it
    /// regardless; false once the owner disabled them in the studio (read from ARM each time).
    pub native_stops_enabled: bool,
    /// Those native Stops, as the studio lists them: what to disable.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub enabled_native_stops: Vec<curfew_engine::governor::NativeLine>,
    /// When, by whom and which native schedules were adopted into the override (`curfew
    /// adopt`), from the store's adoption record; absent when never adopted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adopted: Option<AdoptedLine>,
    /// Schedules in force.
    pub schedules: Vec<ScheduleLine>,
    /// Problems with schedules that are not in force.
    pub problems: Vec<String>,
    /// Occurrences of the next days.
    pub next: Vec<NextLine>,
    /// Ledger records, oldest first.
    pub history: Vec<HistoryLine>,
    /// Where this instance's events go, event types with the same channels grouped.
    pub routes: Vec<RouteLine>,
}

/// The channels some event types about the instance go to.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RouteLine {
    /// CloudEvent types.
    pub events: Vec<String>,
    /// The rules that matched (empty without routing rules).
    pub rules: Vec<String>,
    /// `label (kind)` of each channel; the output binding is `binding`.
    pub channels: Vec<String>,
}

/// The routes of the instance `target` for every event type, grouped by identical outcome.
pub fn routes_of(rt: &Runtime, target: &RouteTarget) -> Vec<RouteLine> {
    let mut out: Vec<RouteLine> = Vec::new();
    for kind in EventType::ALL {
        let (rules, labels): (Vec<String>, Vec<String>) =
            match route(&rt.routes, target, kind.as_str()) {
                None => (
                    Vec::new(),
                    rt.channel_kinds.iter().map(|(l, _)| l.clone()).collect(),
                ),
                Some(r) => (
                    r.rules.iter().map(|s| (*s).to_owned()).collect(),
                    r.channels.iter().map(|s| (*s).to_owned()).collect(),
                ),
            };
        let is_email = |l: &String| {
            rt.channel_kinds
                .iter()
                .any(|(x, k)| x == l && *k == "email")
        };
        let channels = labels
            .iter()
            .filter(|l| kind == EventType::ShutdownPending || !is_email(l))
            .map(|l| match rt.channel_kinds.iter().find(|(x, _)| x == l) {
                Some((_, k)) => format!("{l} ({k})"),
                None => l.clone(),
            })
            .collect();
        match out
            .iter_mut()
            .find(|x| x.rules == rules && x.channels == channels)
        {
            Some(line) => line.events.push(kind.as_str().to_owned()),
            None => out.push(RouteLine {
                events: vec![kind.as_str().to_owned()],
                rules,
                channels,
            }),
        }
    }
    out
}

/// The instance's adoption record, as `explain` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdoptedLine {
    /// When.
    pub at: DateTime<Utc>,
    /// Who (`cli:<name>` or a principal's object id).
    pub by: String,
    /// The native schedules copied, as the studio lists them.
    pub schedules: Vec<String>,
    /// Whether an override is in force now: the record outlives a cleared or expired one.
    pub override_in_force: bool,
    /// What the text output says of it ([`curfew_engine::governor::adoption_lines`]).
    pub lines: Vec<String>,
}

/// One schedule in force.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleLine {
    /// `native`, `override` or `policy:<name>`.
    pub source: String,
    /// Index within its source.
    pub index: usize,
    /// Start or Stop.
    pub action: Action,
    /// Whether it fires.
    pub enabled: bool,
    /// The trigger in words.
    pub trigger: String,
    /// The zone as written.
    pub time_zone: String,
}

/// One coming occurrence.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NextLine {
    /// Ledger key (what notices carry and `dismiss --occurrence` takes).
    pub occurrence_id: String,
    /// Start or Stop.
    pub action: Action,
    /// When.
    pub at: DateTime<Utc>,
    /// Local wall time with offset.
    pub local: String,
    /// Which schedule (`native#0`, `policy:night#1`), or `calendar:<name>` for the stop an
    /// `off` calendar adds.
    pub source: String,
    /// What suppresses it (`calendar:<name>`, `dismissal` or `stop-wins`): listed, does not
    /// fire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed_by: Option<String>,
    /// When a snooze moved it to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snoozed_until: Option<DateTime<Utc>>,
}

/// One ledger record.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryLine {
    /// Ledger key.
    pub occurrence_id: String,
    /// The occurrence's time.
    pub at: DateTime<Utc>,
    /// Start, Stop or IdleStop.
    pub action: String,
    /// Where it stands.
    pub state: String,
    /// Why, and what happened.
    pub reason: String,
    /// ARM's answer, if executed.
    pub outcome: Option<String>,
}

fn source_label(s: &Source) -> String {
    match s {
        Source::Native => "native".into(),
        Source::Override => "override".into(),
        Source::Policy(p) => format!("policy:{p}"),
    }
}

/// Explains the instance named `name` (case-insensitive) at `now`.
pub async fn explain(rt: &Runtime, name: &str, now: DateTime<Utc>) -> GovernResult<Explanation> {
    let fleet = rt.fleet().await;
    let Some(fi) = fleet.named(name) else {
        let mut known: Vec<&str> = fleet
            .instances
            .iter()
            .map(|f| f.instance.name.as_str())
            .collect();
        known.sort_unstable();
        return Err(GovernError::Input(format!(
            "no compute instance named '{name}' in the configured scopes (known: {})",
            known.join(", ")
        )));
    };
    let key = InstanceView::new(&fi.instance, Vec::new()).key();
    let overrides = rt.store.get_override(&key).await?;
    let adoption = rt.store.get_adoption(&key).await?;
    let ov = overrides
        .as_ref()
        .and_then(|v| curfew_engine::governor::override_in_force(v, now));
    let defaults = rt.policy_supplied(fi, now.date_naive()).schedules;
    let pd: Vec<PolicyDefault<'_>> = defaults
        .iter()
        .map(|(policy, schedules)| PolicyDefault { policy, schedules })
        .collect();
    // Its coming days by each occurrence's own instant: an override expiring within them
    // governs until then (the tick's rule, docs/design.md §4).
    let set = curfew_engine::governor::effective_schedules_since(
        &fi.instance,
        overrides.as_ref(),
        &pd,
        now,
    );
    let native_stops_enabled = set.native_stops_enabled();
    let adopted = adoption.map(|a| {
        let schedules: Vec<String> = a
            .schedules
            .as_array()
            .map(|s| curfew_engine::governor::adoption_plan(s))
            .unwrap_or_default()
            .iter()
            .map(|n| n.describe())
            .collect();
        let override_in_force = ov.is_some();
        AdoptedLine {
            lines: curfew_engine::governor::adoption_lines(
                a.at,
                &a.by,
                &schedules,
                override_in_force,
                native_stops_enabled,
            ),
            at: a.at,
            by: a.by,
            schedules,
            override_in_force,
        }
    });
    let enabled_native_stops = set.enabled_native_stops.clone();
    let view = InstanceView::new(&fi.instance, set.schedules);
    // The same calendars and verdicts as the tick's and the plan's (docs/calendars.md): one
    // engine function lists the occurrences for `explain` and `plan --config`.
    let windows = rt.calendar_windows(now);
    let assigned =
        curfew_engine::holiday::Assigned::for_instance(&rt.calendars, &windows, &fi.instance);
    let applied = curfew_engine::holiday::Assigned::applied(&assigned);
    let records = rt.store.entries_for_instance(&key).await?;
    let entries: HashMap<String, curfew_engine::governor::LedgerEntry> = records
        .iter()
        .map(|e| {
            (
                e.value.occurrence_id.clone(),
                super::ledger::to_engine(&e.value, &[]),
            )
        })
        .collect();
    let next: Vec<NextLine> = upcoming(
        &key,
        &view.schedules,
        &applied,
        &entries,
        now,
        now + TimeDelta::days(EXPLAIN_DAYS),
    )
    .into_iter()
    .map(|o| {
        let local = curfew_engine::dst::wall(&o.zone, o.at);
        NextLine {
            local: format!(
                "{} {}",
                local.format("%Y-%m-%d %H:%M"),
                o.zone.abbreviation_at(o.at.timestamp())
            ),
            snoozed_until: (o.due != o.at).then_some(o.due),
            suppressed_by: o.suppressed_by.as_ref().map(Suppression::label),
            occurrence_id: o.occurrence_id,
            action: o.action,
            at: o.at,
            source: o.source,
        }
    })
    .collect();
    let mut history: Vec<HistoryLine> = records
        .into_iter()
        .map(|e| HistoryLine {
            occurrence_id: e.value.occurrence_id,
            at: e.value.at,
            action: e.value.action.as_str().into(),
            state: e.value.state.as_str().into(),
            reason: e.value.reason,
            outcome: e.value.outcome,
        })
        .collect();
    history.sort_by_key(|h| h.at);
    Ok(Explanation {
        instance: fi.instance.name.clone(),
        id: fi.instance.id.clone(),
        state: fi.instance.state.clone(),
        owner: view.owner.clone(),
        override_expires: overrides
            .as_ref()
            .and_then(curfew_engine::governor::override_expiry),
        native_stops_enabled,
        enabled_native_stops,
        adopted,
        // In force now; those resuming at the override's expiry show in `next` from then.
        schedules: view
            .schedules
            .iter()
            .filter(|s| s.in_force_at(now))
            .map(|s| ScheduleLine {
                source: source_label(&s.source),
                index: s.index,
                action: s.schedule.action,
                enabled: s.schedule.enabled,
                trigger: s.schedule.trigger.clone(),
                time_zone: s.schedule.time_zone.clone(),
            })
            .collect(),
        problems: set.diagnostics.iter().map(|(_, d)| d.to_string()).collect(),
        next,
        history,
        routes: routes_of(rt, &route_target(&fi.instance)),
    })
}
