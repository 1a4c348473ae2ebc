//! `curfew plan --config F`: the effective plan of the live scope, read as a tick reads it (one
//! fleet listing, the stored overrides, the ledger's dismissals, the configured policies and
//! calendars) and judged by the engine's [`upcoming`], which `explain` uses too.

use super::error::{GovernError, GovernResult};
use super::ledger::to_engine;
use super::{FleetInstance, Runtime};
use chrono::{DateTime, TimeDelta, Utc};
use curfew_engine::governor::upcoming::{upcoming, UpcomingOccurrence};
use curfew_engine::governor::{
    effective_schedules, override_expiry, override_in_force, InstanceView, LedgerEntry,
    PolicyDefault,
};
use curfew_engine::holiday::{Assigned, CalendarWindow};
use std::collections::HashMap;
use std::sync::Arc;

/// The live plan: rows in time order, what could not be read, and what it cost.
#[derive(Debug, Default)]
pub struct LivePlan {
    /// Instance names, indexed by [`LiveRow::instance`].
    pub instances: Vec<String>,
    /// Every occurrence in the window, fired or suppressed, in time order.
    pub rows: Vec<LiveRow>,
    /// Scopes that could not be listed and schedules that do not compile, one line each.
    pub problems: Vec<String>,
    /// What the plan cannot govern: enabled native Stops beside an override, and skips of
    /// native Stops (Azure ML runs those itself), one line each.
    pub caveats: Vec<String>,
    /// ARM requests made (the tick's listing: workspace pages + compute pages).
    pub arm_calls: u64,
}

/// One occurrence of one instance.
#[derive(Debug, Clone)]
pub struct LiveRow {
    /// Index into [`LivePlan::instances`].
    pub instance: usize,
    /// The occurrence, as the tick will judge it.
    pub occurrence: UpcomingOccurrence,
}

/// Plans the configured scope in `[from, to)`: the occurrences due in it (a snooze moves one).
/// An override with an expiry inside the window governs until it, and the native or policy
/// schedules after it, as the tick will do.
pub async fn live_plan(
    rt: &Runtime,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> GovernResult<LivePlan> {
    let calls_before = rt.arm.stats().calls;
    let fleet = rt.fleet().await;
    if fleet.unreachable {
        return Err(GovernError::Input(format!(
            "no scope could be listed: {}",
            fleet.problems.join("; ")
        )));
    }
    let overrides: HashMap<String, serde_json::Value> = rt
        .store
        .list_overrides()
        .await?
        .into_iter()
        .map(|o| (o.instance_id.to_ascii_lowercase(), o.schedules))
        .collect();
    // A snoozed occurrence keeps its own time in the ledger: reading from a snooze cap back
    // finds the records of every occurrence of the window.
    let entries: HashMap<String, LedgerEntry> = rt
        .store
        .entries_between(from - rt.config.snooze_cap, to)
        .await?
        .into_iter()
        .map(|e| (e.value.occurrence_id.clone(), to_engine(&e.value, &[])))
        .collect();
    let margin = TimeDelta::days(1);
    let windows: Vec<Arc<CalendarWindow>> = rt
        .calendars
        .calendars
        .iter()
        .map(|c| Arc::new(c.window(from - margin, to + margin)))
        .collect();
    let mut plan = LivePlan {
        problems: fleet.problems.clone(),
        ..LivePlan::default()
    };
    for fi in &fleet.instances {
        let index = plan.instances.len();
        plan.instances.push(fi.instance.name.clone());
        let stored = overrides.get(&InstanceView::new(&fi.instance, Vec::new()).key());
        for occurrence in instance_plan(rt, fi, stored, &windows, &entries, from, to, &mut plan) {
            plan.rows.push(LiveRow {
                instance: index,
                occurrence,
            });
        }
    }
    // By when each is due (a snooze moves it), then instance; stable, so an instance's rows
    // due together keep the engine's order (its Stop before its Start).
    plan.rows.sort_by(|a, b| {
        (a.occurrence.due, &plan.instances[a.instance])
            .cmp(&(b.occurrence.due, &plan.instances[b.instance]))
    });
    plan.arm_calls = rt.arm.stats().calls - calls_before;
    Ok(plan)
}

/// One instance's occurrences in `[from, to)`, split at its override's expiry, with its
/// problems and caveats added to `plan`.
#[allow(clippy::too_many_arguments)]
fn instance_plan(
    rt: &Runtime,
    fi: &FleetInstance,
    stored: Option<&serde_json::Value>,
    windows: &[Arc<CalendarWindow>],
    entries: &HashMap<String, LedgerEntry>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    plan: &mut LivePlan,
) -> Vec<UpcomingOccurrence> {
    let name = &fi.instance.name;
    let key = InstanceView::new(&fi.instance, Vec::new()).key();
    // Rows are judged by when they are due: a Stop from up to a snooze cap before the window,
    // snoozed into it, fires in it; one snoozed past its end does not.
    let lo = from - rt.config.snooze_cap;
    let mut cuts = vec![lo];
    if let Some(e) = stored
        .and_then(override_expiry)
        .filter(|e| *e > lo && *e < to)
    {
        cuts.push(e);
    }
    cuts.push(to);
    let defaults = rt.policy_supplied(fi, from.date_naive()).schedules;
    let pd: Vec<PolicyDefault<'_>> = defaults
        .iter()
        .map(|(policy, schedules)| PolicyDefault { policy, schedules })
        .collect();
    let assigned = Assigned::for_instance(&rt.calendars, windows, &fi.instance);
    let applied = Assigned::applied(&assigned);
    let mut out = Vec::new();
    for seg in cuts.windows(2) {
        let ov = stored.and_then(|v| override_in_force(v, seg[0]));
        let set = effective_schedules(&fi.instance, ov.as_deref(), &pd);
        if seg[0] == lo {
            plan.problems.extend(
                set.diagnostics
                    .iter()
                    .map(|(_, d)| format!("instance '{name}': {d}")),
            );
        }
        if seg[0] == lo && set.native_stops_enabled() {
            plan.caveats.push(format!(
                "instance '{name}': native schedule {} still enabled in Azure ML, which runs it beside the override: disable it in the studio",
                curfew_engine::governor::overrides::describe_natives(&set.enabled_native_stops)
            ));
        }
        out.extend(
            upcoming(&key, &set.schedules, &applied, entries, seg[0], seg[1])
                .into_iter()
                .filter(|o| o.due >= from && o.due < to),
        );
    }
    for o in &out {
        if o.source.starts_with("native#")
            && o.action == curfew_engine::Action::Stop
            && o.suppressed_by == Some(curfew_engine::governor::upcoming::Suppression::Dismissal)
        {
            plan.caveats.push(format!(
                "instance '{name}': the skip of the native Stop at {} cannot stop it: Azure ML runs native schedules itself (curfew adopt {name})",
                o.at.to_rfc3339()
            ));
        }
    }
    out
}
