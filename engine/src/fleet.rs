//! A fleet's schedules compiled together: the plan of occurrences in a window (with Stop-wins
//! conflict resolution) and validation of every instance, schedule and field.

use crate::diag::{Diagnostic, Problem, Severity};
use crate::holiday::{Applied, Assignment, CalendarWindow, HolidayCalendar};
use crate::idle;
use crate::inventory::{Instance, Inventory};
use crate::schedule::{self, Action, Occurrence, Schedule};
use chrono::{DateTime, Duration, Utc};
#[cfg(test)]
use serde_json::Value;

/// Azure's limit of schedules per compute instance.
pub const MAX_SCHEDULES_PER_INSTANCE: usize = 4;

/// How far ahead `validate` looks for Start/Stop conflicts.
pub const CONFLICT_LOOKAHEAD_DAYS: i64 = 366;

/// One instance with its schedules compiled (index-aligned with `computeStartStop`). It owns
/// what it needs, so the raw JSON can be dropped as soon as it is compiled.
#[derive(Debug, Clone)]
pub struct CompiledInstance {
    /// The compute's name.
    pub name: String,
    /// The compute's ARM id, when known.
    pub id: Option<String>,
    /// `None` where the entry had an error.
    pub schedules: Vec<Option<Schedule>>,
    /// Where each schedule came from, index-aligned with `schedules`: its source and its index
    /// there (an effective plan's overrides and policy defaults). Empty: all native, in order.
    pub origins: Vec<(schedule::Source, usize)>,
}

/// The whole fleet compiled, with every problem found on the way.
#[derive(Debug, Default)]
pub struct Fleet {
    /// Instances in input order.
    pub instances: Vec<CompiledInstance>,
    /// Problems with computes and schedules (errors and warnings).
    pub diagnostics: Vec<Diagnostic>,
}

/// Compiles one instance's schedules; problems are appended to `diagnostics`.
pub fn compile_instance<E: crate::json::Json>(
    inst: &Instance<E>,
    diagnostics: &mut Vec<Diagnostic>,
) -> CompiledInstance {
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
    CompiledInstance {
        name: inst.name.clone(),
        id: inst.id.clone(),
        schedules,
        origins: Vec::new(),
    }
}

/// Compiles every schedule of every instance, and checks each instance's
/// `idleTimeBeforeShutdown`; bad entries become diagnostics, never failures. (`plan` compiles
/// with [`compile_instance`], schedules only.)
pub fn compile(inventory: &Inventory) -> Fleet {
    let mut diagnostics = inventory.problems.clone();
    let instances = inventory
        .instances
        .iter()
        .map(|inst| {
            if let Some(p) = idle::check_threshold(inst.idle_time_before_shutdown.as_deref()) {
                diagnostics.push(Diagnostic::at(&inst.name, None, p));
            }
            compile_instance(inst, &mut diagnostics)
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
    /// What a calendar did to this row, if anything ([`PlanStream::with_calendars`]).
    pub calendar: Option<CalendarMark>,
}

/// `schedule` of a row that an `off` calendar added: it comes from no schedule.
pub const OFF_STOP: usize = usize::MAX;

/// A calendar's part in a plan row; the `u32` indexes [`FleetCalendars::windows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarMark {
    /// The row does not fire: `suppressedBy: calendar:<name>`.
    Suppressed(u32),
    /// The row is a Stop that an `off` calendar adds at the start of its day.
    Off(u32),
}

impl Planned {
    /// Whether the row fires (no calendar suppressed it).
    pub fn fires(&self) -> bool {
        !matches!(self.calendar, Some(CalendarMark::Suppressed(_)))
    }
}

/// The calendars of a plan: resolved over its window, the assignments, and which of them
/// are in force for each instance (index-aligned with [`Fleet::instances`]; an instance with
/// none, or past the end, has no calendar and costs nothing).
#[derive(Debug, Clone, Default)]
pub struct FleetCalendars {
    /// The calendars, resolved over the plan's window.
    pub windows: Vec<CalendarWindow>,
    /// The assignments (calendar names must be in `windows`).
    pub assignments: Vec<Assignment>,
    /// Per instance, the indexes of the assignments whose scope contains it.
    pub in_force: Vec<Vec<u32>>,
}

impl FleetCalendars {
    /// The calendars and assignments over `[from, to)`, with no instance matched yet
    /// (push [`FleetCalendars::matching`] for each instance, in fleet order).
    pub fn new(
        calendars: &[HolidayCalendar],
        assignments: Vec<Assignment>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Self {
        FleetCalendars {
            windows: calendars.iter().map(|c| c.window(from, to)).collect(),
            assignments,
            in_force: Vec::new(),
        }
    }

    /// The indexes of the assignments in force for `instance` (computed while the instance's
    /// tags and id are at hand).
    pub fn matching<E>(assignments: &[Assignment], instance: &Instance<E>) -> Vec<u32> {
        assignments
            .iter()
            .enumerate()
            .filter(|(_, a)| a.scope.contains(instance))
            .map(|(i, _)| i as u32)
            .collect()
    }

    /// The calendars in force for fleet instance `index`.
    pub fn applied(&self, index: usize) -> Vec<Applied<'_>> {
        let Some(list) = self.in_force.get(index) else {
            return Vec::new();
        };
        list.iter()
            .filter_map(|&a| {
                let a = self.assignments.get(a as usize)?;
                let slot = self.windows.iter().position(|w| w.name == a.calendar)?;
                Some(Applied {
                    calendar: &self.windows[slot],
                    slot,
                    effect: a.effect,
                    until: a.until,
                })
            })
            .collect()
    }
}

/// The occurrences of one instance in `[from, to)`, Starts that share a minute with a Stop removed.
pub fn plan_instance(
    ci: &CompiledInstance,
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
            calendar: None,
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
/// All of [`PlanStream`] at once; for small windows.
pub fn plan(fleet: &Fleet, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Planned> {
    PlanStream::new(fleet, from, to).collect()
}

/// Puts a plan in its stable order: time, instance name, instance index, schedule index.
pub fn sort_planned(fleet: &Fleet, planned: &mut [Planned]) {
    // Rank instances by name once, so the sort compares integers instead of strings.
    let rank = plan_ranks(fleet);
    // Sort small keys, then move each row once: comparing and swapping whole rows was a tenth
    // of `curfew plan` on a large fleet, all of it on one core. The row index ends each key, so
    // the order is the same as sorting by (instant, instance name, schedule).
    let mut keys: Vec<(DateTime<Utc>, u32, usize, usize)> = planned
        .iter()
        .enumerate()
        .map(|(i, p)| (p.occurrence.at, rank[p.instance], p.schedule, i))
        .collect();
    keys.sort_unstable();
    let mut rows: Vec<Option<Planned>> = planned.iter_mut().map(|p| Some(take(p))).collect();
    for (dst, (_, _, _, src)) in planned.iter_mut().zip(keys) {
        if let Some(p) = rows[src].take() {
            *dst = p;
        }
    }
}

/// Moves a row out, leaving a placeholder that costs no allocation.
fn take(p: &mut Planned) -> Planned {
    std::mem::replace(
        p,
        Planned {
            instance: 0,
            schedule: 0,
            action: p.action,
            occurrence: p.occurrence,
            suppressed: Vec::new(),
            calendar: None,
        },
    )
}

/// One instance's plan, produced minute group by minute group (Stop wins within a group).
struct InstancePlan<'f> {
    index: usize,
    rank: u32,
    heads: Vec<(
        usize,
        Action,
        &'f crate::tz::Zone,
        std::iter::Peekable<schedule::Occurrences<'f>>,
    )>,
    /// The rest of the current minute group, in (instant, schedule) order.
    group: std::collections::VecDeque<Planned>,
    /// The calendars in force; `None`: the plain plan, at the cost of one pointer.
    cal: Option<Box<InstanceCalendars<'f>>>,
}

/// What an instance with calendars in force carries in its plan.
struct InstanceCalendars<'f> {
    /// The calendars in force.
    calendars: Vec<Applied<'f>>,
    /// The Stops `off` calendars add, in time order, with the calendar's slot.
    off: std::collections::VecDeque<(DateTime<Utc>, u32)>,
    /// The zone of the instance's own days (off stops' local time).
    zone: crate::tz::Zone,
}

impl InstancePlan<'_> {
    /// The next row of this instance, refilling from the next minute group when needed.
    fn front(&mut self) -> Option<&Planned> {
        if self.group.is_empty() {
            self.fill();
        }
        self.group.front()
    }

    fn fill(&mut self) {
        let minute = |o: &Occurrence| o.at.timestamp().div_euclid(60);
        let off_minute = self
            .cal
            .as_ref()
            .and_then(|c| c.off.front())
            .map(|(t, _)| t.timestamp().div_euclid(60));
        let Some(m) = self
            .heads
            .iter_mut()
            .filter_map(|(_, _, _, it)| it.peek().map(minute))
            .chain(off_minute)
            .min()
        else {
            return;
        };
        let mut rows: Vec<Planned> = Vec::new();
        let mut zones: Vec<&crate::tz::Zone> = Vec::new();
        for (i, action, zone, it) in &mut self.heads {
            while let Some(occurrence) = it.next_if(|o| minute(o) == m) {
                rows.push(Planned {
                    instance: self.index,
                    schedule: *i,
                    action: *action,
                    occurrence,
                    suppressed: Vec::new(),
                    calendar: None,
                });
                if self.cal.is_some() {
                    zones.push(zone);
                }
            }
        }
        if let Some(cal) = self.cal.as_mut() {
            cal.apply(self.index, m, &mut rows, &zones);
        }
        rows.sort_by_key(|p| (p.occurrence.at, p.schedule));
        if rows.iter().any(|p| p.action == Action::Stop) {
            let suppressed: Vec<usize> = rows
                .iter()
                .filter(|p| p.action == Action::Start && p.fires())
                .map(|p| p.schedule)
                .collect();
            rows.retain(|p| p.action == Action::Stop || !p.fires());
            if let Some(first) = rows.iter_mut().find(|p| p.action == Action::Stop) {
                first.suppressed = suppressed;
            }
        }
        self.group.extend(rows);
    }
}

impl InstanceCalendars<'_> {
    /// Marks the rows of minute `m` that a calendar suppresses (Stop wins is decided on the
    /// plain rows first, so a skipped Stop never lets a Start through: calendars only remove
    /// firings) and adds the minute's `off` stops; a Start sharing its minute with an `off`
    /// stop is suppressed by that calendar.
    fn apply(&mut self, index: usize, m: i64, rows: &mut Vec<Planned>, zones: &[&crate::tz::Zone]) {
        let plain_stop = rows.iter().any(|p| p.action == Action::Stop);
        for (p, zone) in rows.iter_mut().zip(zones) {
            if plain_stop && p.action == Action::Start {
                continue; // Stop wins: not a firing of the plain plan either.
            }
            if let Some(a) =
                Applied::first_suppressing(&self.calendars, p.action, p.occurrence.at, zone)
            {
                p.calendar = Some(CalendarMark::Suppressed(a.slot as u32));
            }
        }
        while let Some(&(at, slot)) = self.off.front() {
            if at.timestamp().div_euclid(60) != m {
                break;
            }
            self.off.pop_front();
            for p in rows.iter_mut() {
                if p.action == Action::Start && p.fires() && !plain_stop {
                    p.calendar = Some(CalendarMark::Suppressed(slot));
                }
            }
            let local = crate::dst::wall(&self.zone, at);
            rows.push(Planned {
                instance: index,
                schedule: OFF_STOP,
                action: Action::Stop,
                occurrence: Occurrence {
                    at,
                    local,
                    shift: crate::Shift::None,
                    merged: 0,
                },
                suppressed: Vec::new(),
                calendar: Some(CalendarMark::Off(slot)),
            });
        }
    }
}

/// A fleet's plan as a stream: the rows of [`plan`], in the same order, produced one at a
/// time. Memory is one cursor per schedule and one minute group per instance, whatever the
/// window: `curfew plan` over years of a large fleet used to hold every row (5.2 GB in 10 s).
pub struct PlanStream<'f> {
    instances: Vec<InstancePlan<'f>>,
    /// Each instance's next row, smallest first.
    heap: std::collections::BinaryHeap<std::cmp::Reverse<RowKey>>,
}

/// (instant, name rank, schedule, instance slot): the plan's order.
type RowKey = (DateTime<Utc>, u32, usize, usize);

impl<'f> PlanStream<'f> {
    /// The plan of `fleet` in `[from, to)`.
    pub fn new(fleet: &'f Fleet, from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        let ranks = plan_ranks(fleet);
        Self::part(fleet, &ranks, 0..fleet.instances.len(), from, to)
    }

    /// The rows of the instances `part` (indexes into [`Fleet::instances`]) only, in the
    /// plan's order; `ranks` is [`plan_ranks`] of the fleet. Parts planned on several threads
    /// merge into the whole plan by [`PlanStream::key`].
    pub fn part(
        fleet: &'f Fleet,
        ranks: &[u32],
        part: std::ops::Range<usize>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Self {
        Self::with_calendars(fleet, ranks, part, from, to, None)
    }

    /// [`PlanStream::part`] with calendars applied: rows a calendar suppresses stay in the
    /// stream, marked ([`Planned::fires`] is false), and `off` stops are added. With `None`, or
    /// for instances with no calendar in force, it is the plain plan.
    pub fn with_calendars(
        fleet: &'f Fleet,
        ranks: &[u32],
        part: std::ops::Range<usize>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        calendars: Option<&'f FleetCalendars>,
    ) -> Self {
        let rank = ranks;
        let mut instances = Vec::new();
        let mut heap = std::collections::BinaryHeap::new();
        for (index, ci) in fleet
            .instances
            .iter()
            .enumerate()
            .skip(part.start)
            .take(part.len())
        {
            let heads = ci
                .schedules
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    s.as_ref()
                        .map(|s| (i, s.action, &s.zone, s.occurrences(from, to).peekable()))
                })
                .collect();
            let applied = calendars.map(|c| c.applied(index)).unwrap_or_default();
            let cal = (!applied.is_empty()).then(|| {
                let scheds: Vec<&Schedule> = ci.schedules.iter().flatten().collect();
                let zone = crate::holiday::instance_zone(&scheds);
                let off = crate::holiday::off_stops(&applied, from, to, &zone)
                    .into_iter()
                    .map(|(at, slot)| (at, slot as u32))
                    .collect();
                Box::new(InstanceCalendars {
                    calendars: applied,
                    off,
                    zone,
                })
            });
            let mut plan = InstancePlan {
                index,
                rank: rank[index],
                heads,
                group: std::collections::VecDeque::new(),
                cal,
            };
            let rank = plan.rank;
            if let Some(p) = plan.front() {
                let key = (p.occurrence.at, rank, p.schedule, instances.len());
                heap.push(std::cmp::Reverse(key));
                instances.push(plan);
            }
        }
        Self { instances, heap }
    }

    /// A row's place in the plan's order (instant, instance name rank, schedule); `ranks` as
    /// given to [`PlanStream::part`].
    pub fn key(ranks: &[u32], row: &Planned) -> (DateTime<Utc>, u32, usize) {
        (row.occurrence.at, ranks[row.instance], row.schedule)
    }

    /// Indexes (into [`Fleet::instances`]) of the instances with at least one row.
    pub fn instances_with_rows(&self) -> impl Iterator<Item = usize> + use<'_, 'f> {
        self.instances.iter().map(|p| p.index)
    }
}

impl Iterator for PlanStream<'_> {
    type Item = Planned;

    fn next(&mut self) -> Option<Planned> {
        let std::cmp::Reverse((_, _, _, slot)) = self.heap.pop()?;
        let plan = &mut self.instances[slot];
        let row = plan.group.pop_front()?;
        let rank = plan.rank;
        if let Some(p) = plan.front() {
            let key = (p.occurrence.at, rank, p.schedule, slot);
            self.heap.push(std::cmp::Reverse(key));
        }
        Some(row)
    }
}

/// Each instance's rank by name (then index): the plan's tie-break after the instant.
pub fn plan_ranks(fleet: &Fleet) -> Vec<u32> {
    let mut by_name: Vec<usize> = (0..fleet.instances.len()).collect();
    by_name.sort_unstable_by(|&a, &b| {
        fleet.instances[a]
            .name
            .cmp(&fleet.instances[b].name)
            .then(a.cmp(&b))
    });
    let mut rank = vec![0u32; by_name.len()];
    for (r, &i) in by_name.iter().enumerate() {
        rank[i] = r as u32;
    }
    rank
}

/// Validates the fleet: compile problems plus Start/Stop conflicts within a year of `reference`.
pub fn validate(fleet: &Fleet, reference: DateTime<Utc>) -> Vec<Diagnostic> {
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
                    &ci.name,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// The stream yields exactly the rows of planning each instance and sorting them all.
    #[test]
    fn the_stream_equals_the_sorted_whole_plan() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/fleet.json"
        ))
        .unwrap();
        let inventory = crate::inventory::parse(&text, "fleet.json").unwrap();
        let mut fleet = compile(&inventory);
        // Twice over, so that names tie and the index breaks the tie.
        let copy = fleet.instances.clone();
        fleet.instances.extend(copy);
        assert!(fleet.instances.len() >= 4);
        for (from, to) in [
            ("2026-03-01T00:00:00Z", "2026-03-15T00:00:00Z"),
            ("2026-10-25T00:00:00Z", "2026-11-05T00:00:00Z"),
            ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
        ] {
            let (from, to) = (utc(from), utc(to));
            let mut whole: Vec<Planned> = Vec::new();
            for (i, ci) in fleet.instances.iter().enumerate() {
                whole.extend(plan_instance(ci, i, from, to));
            }
            sort_planned(&fleet, &mut whole);
            let key = |p: &Planned| {
                (
                    p.instance,
                    p.schedule,
                    p.action,
                    p.occurrence,
                    p.suppressed.clone(),
                )
            };
            let streamed: Vec<_> = PlanStream::new(&fleet, from, to).map(|p| key(&p)).collect();
            let expected: Vec<_> = whole.iter().map(key).collect();
            assert_eq!(streamed, expected, "{from}..{to}");
            // Parts of one instance each, merged by key, are the whole plan too.
            let ranks = plan_ranks(&fleet);
            let mut parts: Vec<Planned> = (0..fleet.instances.len())
                .flat_map(|i| PlanStream::part(&fleet, &ranks, i..i + 1, from, to))
                .collect();
            parts.sort_by_key(|p| PlanStream::key(&ranks, p));
            let merged: Vec<_> = parts.iter().map(key).collect();
            assert_eq!(merged, expected, "parts {from}..{to}");
        }
    }

    /// One cursor per schedule, one minute group per instance: a year of every-minute rows
    /// never holds more than a group.
    #[test]
    fn the_stream_holds_one_group_per_instance() {
        let json: Value = serde_json::json!({"name": "ci", "properties": {"computeType": "ComputeInstance", "properties": {"schedules": {"computeStartStop": [
            {"action": "Stop", "triggerType": "Cron", "cron": {"expression": "* * * * *", "timeZone": "UTC"}},
            {"action": "Start", "triggerType": "Cron", "cron": {"expression": "*/2 * * * *", "timeZone": "UTC"}}
        ]}}}});
        let inventory = crate::inventory::parse(&json.to_string(), "ci.json").unwrap();
        let fleet = compile(&inventory);
        let mut stream = PlanStream::new(
            &fleet,
            utc("2026-01-01T00:00:00Z"),
            utc("2027-01-01T00:00:00Z"),
        );
        let mut rows = 0usize;
        let mut suppressed = 0usize;
        while let Some(p) = stream.next() {
            rows += 1;
            suppressed += p.suppressed.len();
            assert!(stream.instances.iter().all(|i| i.group.len() <= 2));
        }
        assert_eq!(rows, 365 * 24 * 60);
        assert_eq!(suppressed, 365 * 24 * 30);
    }
}
