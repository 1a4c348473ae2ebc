//! A fleet's schedules compiled together: the plan of occurrences in a window (with Stop-wins
//! conflict resolution) and validation of every instance, schedule and field.

use crate::diag::{Diagnostic, Problem, Severity};
use crate::inventory::{Instance, Inventory};
use crate::schedule::{self, Action, Occurrence, Schedule};
use chrono::{DateTime, Duration, Utc};

/// Azure's limit of schedules per compute instance.
pub const MAX_SCHEDULES_PER_INSTANCE: usize = 4;

/// How far ahead `validate` looks for Start/Stop conflicts.
pub const CONFLICT_LOOKAHEAD_DAYS: i64 = 366;

/// One instance with its schedules compiled (index-aligned with `computeStartStop`).
#[derive(Debug)]
pub struct CompiledInstance<'a> {
    /// The instance as read.
    pub instance: &'a Instance,
    /// `None` where the entry had an error.
    pub schedules: Vec<Option<Schedule>>,
}

/// The whole fleet compiled, with every problem found on the way.
#[derive(Debug)]
pub struct Fleet<'a> {
    /// Instances in input order.
    pub instances: Vec<CompiledInstance<'a>>,
    /// Problems with computes and schedules (errors and warnings).
    pub diagnostics: Vec<Diagnostic>,
}

/// Compiles every schedule of every instance; bad entries become diagnostics, never failures.
pub fn compile(inventory: &Inventory) -> Fleet<'_> {
    let mut diagnostics = inventory.problems.clone();
    let instances = inventory
        .instances
        .iter()
        .map(|inst| {
            if inst.schedules.len() > MAX_SCHEDULES_PER_INSTANCE {
                diagnostics.push(Diagnostic::at(
                    &inst.name,
                    None,
                    Problem::warning(
                        "properties.properties.schedules.computeStartStop",
                        format!(
                            "{} schedules; Azure allows at most {MAX_SCHEDULES_PER_INSTANCE} per instance (all are evaluated)",
                            inst.schedules.len()
                        ),
                    ),
                ));
            }
            let schedules = inst
                .schedules
                .iter()
                .enumerate()
                .map(|(i, entry)| {
                    let c = schedule::compile(entry);
                    for p in c.problems {
                        diagnostics.push(Diagnostic::at(&inst.name, Some(i), p));
                    }
                    c.schedule
                })
                .collect();
            CompiledInstance { instance: inst, schedules }
        })
        .collect();
    Fleet {
        instances,
        diagnostics,
    }
}

/// One occurrence in a fleet plan.
#[derive(Debug, Clone)]
pub struct Planned {
    /// Index into [`Fleet::instances`].
    pub instance: usize,
    /// Schedule index within the instance.
    pub schedule: usize,
    /// Start or Stop.
    pub action: Action,
    /// When and how it fires.
    pub occurrence: Occurrence,
    /// Start schedules of the same instance suppressed by this Stop (same minute; Stop wins).
    pub suppressed: Vec<usize>,
}

/// The occurrences of one instance in `[from, to)`, Starts that share a minute with a Stop removed.
pub fn plan_instance(
    ci: &CompiledInstance<'_>,
    index: usize,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Planned> {
    let mut out: Vec<Planned> = Vec::new();
    for (i, s) in ci.schedules.iter().enumerate() {
        let Some(s) = s else { continue };
        out.extend(s.occurrences(from, to).map(|occurrence| Planned {
            instance: index,
            schedule: i,
            action: s.action,
            occurrence,
            suppressed: Vec::new(),
        }));
    }
    let has_start = out.iter().any(|p| p.action == Action::Start);
    let has_stop = out.iter().any(|p| p.action == Action::Stop);
    out.sort_by_key(|p| (p.occurrence.at, p.schedule));
    if !(has_start && has_stop) {
        return out;
    }
    let minute = |p: &Planned| p.occurrence.at.timestamp().div_euclid(60);
    let mut kept: Vec<Planned> = Vec::with_capacity(out.len());
    let mut group_start = 0;
    while group_start < out.len() {
        let m = minute(&out[group_start]);
        let mut end = group_start;
        while end < out.len() && minute(&out[end]) == m {
            end += 1;
        }
        let group = &out[group_start..end];
        let stop_pos = group.iter().position(|p| p.action == Action::Stop);
        match stop_pos {
            Some(sp) => {
                let suppressed: Vec<usize> = group
                    .iter()
                    .filter(|p| p.action == Action::Start)
                    .map(|p| p.schedule)
                    .collect();
                for (k, p) in group.iter().enumerate() {
                    if p.action == Action::Stop {
                        let mut p = p.clone();
                        if k == sp {
                            p.suppressed = suppressed.clone();
                        }
                        kept.push(p);
                    }
                }
            }
            None => kept.extend(group.iter().cloned()),
        }
        group_start = end;
    }
    kept
}

/// Every occurrence of the fleet in `[from, to)`, sorted by time, then instance, then schedule.
pub fn plan(fleet: &Fleet<'_>, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Planned> {
    let mut all: Vec<Planned> = Vec::new();
    for (i, ci) in fleet.instances.iter().enumerate() {
        all.extend(plan_instance(ci, i, from, to));
    }
    all.sort_by(|a, b| {
        a.occurrence
            .at
            .cmp(&b.occurrence.at)
            .then_with(|| {
                fleet.instances[a.instance]
                    .instance
                    .name
                    .cmp(&fleet.instances[b.instance].instance.name)
            })
            .then(a.instance.cmp(&b.instance))
            .then(a.schedule.cmp(&b.schedule))
    });
    all
}

/// Validates the fleet: compile problems plus Start/Stop conflicts within a year of `reference`.
pub fn validate(fleet: &Fleet<'_>, reference: DateTime<Utc>) -> Vec<Diagnostic> {
    let mut out = fleet.diagnostics.clone();
    let to = reference + Duration::days(CONFLICT_LOOKAHEAD_DAYS);
    for (i, ci) in fleet.instances.iter().enumerate() {
        let enabled = |a: Action| {
            ci.schedules
                .iter()
                .flatten()
                .any(|s| s.enabled && s.action == a)
        };
        if !(enabled(Action::Start) && enabled(Action::Stop)) {
            continue;
        }
        let mut reported: Vec<(usize, usize)> = Vec::new();
        for p in plan_instance(ci, i, reference, to) {
            for &start in &p.suppressed {
                if reported.contains(&(start, p.schedule)) {
                    continue;
                }
                reported.push((start, p.schedule));
                out.push(Diagnostic::at(
                    &ci.instance.name,
                    Some(start),
                    Problem::warning(
                        "action",
                        format!(
                            "Start fires in the same minute as Stop schedule {} (first at {}); Stop wins",
                            p.schedule,
                            p.occurrence.at.format("%Y-%m-%dT%H:%M:%SZ")
                        ),
                    ),
                ));
            }
        }
    }
    out.sort_by(|a, b| {
        (a.severity, &a.instance, a.schedule).cmp(&(b.severity, &b.instance, b.schedule))
    });
    out
}

/// Counts errors and warnings.
pub fn counts(diags: &[Diagnostic]) -> (usize, usize) {
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    (errors, diags.len() - errors)
}
