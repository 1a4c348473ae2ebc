//! `curfew plan`: every occurrence of an inventory's schedules in a window; with `--calendar`,
//! `--policy` and `--overrides`, the effective plan (docs/calendars.md); with `--config`, the
//! effective plan of the live scope ([`live`]).

mod live;

use super::input::{parse_instant, read_text};
use super::OutputFormat;
use chrono::{DateTime, Datelike, Timelike, Utc};
use curfew_engine::fleet::{self, CalendarMark, Fleet, FleetCalendars, Planned, OFF_STOP};
use curfew_engine::holiday::{Assignment, CalendarSet};
use curfew_engine::inventory::{self, Item, Items};
use curfew_engine::json::Node;
use curfew_engine::schedule::Source;
use curfew_engine::tz::Zone;
use curfew_engine::{Severity, Shift};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::sync::{Mutex, PoisonError};

/// Arguments of `curfew plan`.
#[derive(Debug, clap::Args)]
pub(crate) struct PlanArgs {
    /// A compute resource, JSON array, ARM list response or CLI YAML; `-` reads stdin.
    #[arg(long, required_unless_present = "config")]
    inventory: Option<String>,
    /// Plan the live scope instead of an inventory: the settings file's ARM scopes, store
    /// (overrides, dismissals), policies and calendars, read as a tick reads them.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["inventory", "calendars", "policies", "overrides"])]
    config: Option<std::path::PathBuf>,
    /// Window start (inclusive), RFC 3339.
    #[arg(long)]
    from: String,
    /// Window end (exclusive), RFC 3339.
    #[arg(long)]
    to: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    /// A calendar file, repeatable: `.ics`, a JSON calendar, or a JSON set with assignments
    /// (`{"calendars", "assignments"}`). A calendar given with nothing else said skips the
    /// starts on its days (each instance's local days) for every instance.
    #[arg(long = "calendar", value_name = "FILE")]
    calendars: Vec<String>,
    /// A default policy definition, repeatable: it supplies an action no schedule covers.
    #[arg(long = "policy", value_name = "FILE")]
    policies: Vec<String>,
    /// Overrides: `{"<instance name or ARM id>": computeStartStop array, or {"computeStartStop",
    /// "expires"}}`; an override replaces the native schedules (judged in force at --from).
    #[arg(long, value_name = "FILE")]
    overrides: Option<String>,
}

/// Reads every `--calendar` file into one set; every problem of every file is reported.
fn load_calendars(paths: &[String]) -> anyhow::Result<CalendarSet> {
    let mut set = CalendarSet::default();
    let mut problems = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading calendar '{path}': {e}"))?;
        let base = std::path::Path::new(path)
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        let read = |p: &str| {
            std::fs::read_to_string(base.join(p)).map_err(|e| format!("cannot read {p:?}: {e}"))
        };
        match CalendarSet::from_file_text(path, &text, &read) {
            Ok(s) => set.extend(s),
            Err(p) => problems.extend(p.into_iter().map(|p| format!("{path}: {p}"))),
        }
    }
    let dup = curfew_engine::holiday::check_assignments(&set.calendars, &set.assignments);
    problems.extend(dup.into_iter().map(|p| p.to_string()));
    if !problems.is_empty() {
        anyhow::bail!("bad calendar(s):\n  {}", problems.join("\n  "));
    }
    Ok(set)
}

/// One line of `plan --format json`; field names are a stable contract.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Row<'a> {
    instance: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    schedule: Option<usize>,
    /// Only in the effective plan (calendars, policies or overrides given): the plain plan's
    /// rows are all native and stay as they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    action: curfew_engine::Action,
    at: &'a str,
    local: &'a str,
    time_zone: &'a str,
    iana: &'a str,
    trigger: &'a str,
    shift: Shift,
    #[serde(skip_serializing_if = "is_zero")]
    merged: u32,
    #[serde(skip_serializing_if = "<[usize]>::is_empty")]
    suppressed_starts: &'a [usize],
    #[serde(skip_serializing_if = "Option::is_none")]
    suppressed_by: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Appends `n` as exactly `width` zero-padded digits (`n` must fit).
fn push_digits(buf: &mut Vec<u8>, n: u32, width: usize) {
    let mut d = [b'0'; 10];
    let mut n = n;
    for slot in d[..width].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    buf.extend_from_slice(&d[..width]);
}

/// Appends a wall time as `YYYY-MM-DDTHH:MM:SS` (the hot path of every row, so without the
/// formatting machinery); years outside 0–9999 take chrono's formatter.
fn push_wall(buf: &mut Vec<u8>, t: chrono::NaiveDateTime) {
    let year = t.year();
    if !(0..=9999).contains(&year) {
        let _ = write!(buf, "{}", t.format("%Y-%m-%dT%H:%M:%S"));
        return;
    }
    push_digits(buf, year as u32, 4);
    buf.push(b'-');
    push_digits(buf, t.month(), 2);
    buf.push(b'-');
    push_digits(buf, t.day(), 2);
    buf.push(b'T');
    push_digits(buf, t.hour(), 2);
    buf.push(b':');
    push_digits(buf, t.minute(), 2);
    buf.push(b':');
    push_digits(buf, t.second(), 2);
}

/// `at` as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc_text(at: DateTime<Utc>, buf: &mut Vec<u8>) {
    push_wall(buf, at.naive_utc());
    buf.push(b'Z');
}

/// Local wall time with its offset, e.g. `2026-03-08T03:00:00-07:00`.
fn local_text(at: DateTime<Utc>, zone: &Zone, buf: &mut Vec<u8>) {
    let secs = zone.offset_at(at.timestamp());
    push_wall(
        buf,
        at.naive_utc() + chrono::Duration::seconds(i64::from(secs)),
    );
    buf.push(if secs < 0 { b'-' } else { b'+' });
    let abs = secs.unsigned_abs();
    push_digits(buf, abs / 3600, 2);
    buf.push(b':');
    push_digits(buf, (abs % 3600) / 60, 2);
}

/// Renders with `fill` into a scratch buffer and returns it as text (the digits and signs
/// written are ASCII).
fn scratch(buf: &mut Vec<u8>, fill: impl FnOnce(&mut Vec<u8>)) -> &str {
    buf.clear();
    fill(buf);
    std::str::from_utf8(buf).unwrap_or_default()
}

/// The DST / conflict note for one occurrence, if any.
fn note(p: &Planned, zone: &Zone, calendars: Option<&FleetCalendars>) -> Option<String> {
    let o = &p.occurrence;
    let mut parts = Vec::new();
    match o.shift {
        Shift::Gap => {
            parts.push(format!(
                "{} does not exist on {} (DST gap); fires at the transition, {} {}",
                o.local.format("%H:%M"),
                o.local.format("%Y-%m-%d"),
                curfew_engine::dst::wall(zone, o.at).format("%H:%M"),
                zone.abbreviation_at(o.at.timestamp())
            ));
        }
        Shift::Fold => {
            parts.push(format!(
                "{} occurs twice on {} (DST fold); fires once, at the first ({})",
                o.local.format("%H:%M"),
                o.local.format("%Y-%m-%d"),
                zone.abbreviation_at(o.at.timestamp())
            ));
        }
        Shift::None => {}
    }
    if o.merged > 0 {
        parts.push(format!(
            "{} more matching local time(s) fall on the same instant and fire with it",
            o.merged
        ));
    }
    if !p.suppressed.is_empty() {
        let list: Vec<String> = p.suppressed.iter().map(usize::to_string).collect();
        parts.push(format!(
            "Stop wins over Start schedule {} in the same minute",
            list.join(", ")
        ));
    }
    match (p.calendar, calendars) {
        (Some(CalendarMark::Suppressed(i)), Some(c)) => parts.push(format!(
            "does not fire: suppressed by calendar:{}",
            c.windows[i as usize].name
        )),
        (Some(CalendarMark::Off(i)), Some(c)) => parts.push(format!(
            "calendar {} is off this day: stopped at the day's start",
            c.windows[i as usize].name
        )),
        _ => {}
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Runs `curfew plan`.
pub(crate) fn run(args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let from = parse_instant("--from", &args.from)?;
    let to = parse_instant("--to", &args.to)?;
    if to < from {
        anyhow::bail!("--to {} is before --from {}", args.to, args.from);
    }
    let Some(inventory) = &args.inventory else {
        return live::run(args.config.clone(), from, to, args.format);
    };
    let set = load_calendars(&args.calendars)?;
    let text = read_text(inventory)?;
    let assignments = (!set.is_empty()).then_some(set.assignments.as_slice());
    let (fleet, skipped, in_force) = if args.policies.is_empty() && args.overrides.is_none() {
        compile_parallel(&text, inventory, assignments)?
    } else {
        compile_effective(&text, args, from, assignments)?
    };
    let calendars = (!set.is_empty()).then(|| {
        let mut c = FleetCalendars::new(&set.calendars, set.assignments.clone(), from, to);
        c.in_force = in_force;
        c
    });
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let cals = calendars.as_ref();
    plan_rows(&fleet, from, to, cals, |name_w, rows| {
        write_plan(&mut out, &fleet, rows, name_w, args.format, cals)
    })?;
    out.flush()?;
    // Bad schedules never stop the plan: they are reported here, and `validate` gives the
    // checked exit code.
    for d in &fleet.diagnostics {
        if d.severity == Severity::Error {
            eprintln!("error: {d}");
        }
    }
    for (kind, n) in &skipped {
        eprintln!(
            "note: skipped {n} compute(s) of type {kind} (only ComputeInstance has schedules)"
        );
    }
    // The process ends now: handing a fleet of 100 000 instances back to the allocator piece by
    // piece would take a tenth of a second of one core for nothing.
    #[allow(clippy::mem_forget)]
    std::mem::forget((fleet, text));
    Ok(ExitCode::SUCCESS)
}

/// What one worker thread made of one run of the input's computes.
#[derive(Default)]
struct Part {
    /// Position in the input of the run's first compute.
    first: usize,
    fleet: Fleet,
    skipped: BTreeMap<String, usize>,
    /// Per instance, the calendar assignments in force (only with calendars).
    in_force: Vec<Vec<u32>>,
}

/// A compiled fleet, the computes skipped by type, and each instance's calendar assignments.
type Compiled = (Fleet, BTreeMap<String, usize>, Vec<Vec<u32>>);

/// Computes per run handed from the splitting thread to the planning threads.
const RUN: usize = 1024;

/// Splits, reads and compiles the computes on all cores: the main thread splits the input
/// while worker threads parse and compile the runs already split. Each compute's JSON tree is
/// dropped as soon as it is compiled, so memory stays near the size of the input text. The
/// plan itself is streamed afterwards ([`fleet::PlanStream`]), whatever the window.
fn compile_parallel(
    text: &str,
    source_name: &str,
    assignments: Option<&[Assignment]>,
) -> anyhow::Result<Compiled> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |p| p.get())
        .clamp(1, 8);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Items<'_>>(threads * 2);
    let rx = Mutex::new(rx);
    let (split, mut parts) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let rx = &rx;
                s.spawn(move || {
                    let mut parts = Vec::new();
                    loop {
                        let run = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        let Ok(run) = run else { break };
                        parts.push(compile_run(&run, assignments));
                    }
                    parts
                })
            })
            .collect();
        let split = inventory::stream_items(text, source_name, RUN, &mut |run| {
            // A send fails only when every worker is gone, which only a panic does; the
            // panic is re-raised below.
            let _ = tx.send(run);
        });
        drop(tx);
        let parts: Vec<Part> = workers
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect();
        (split, parts)
    });
    split?;
    parts.sort_unstable_by_key(|p| p.first);
    let mut all = Part::default();
    all.fleet
        .instances
        .reserve_exact(parts.iter().map(|p| p.fleet.instances.len()).sum());
    for part in parts {
        all.in_force.extend(part.in_force);
        all.fleet.instances.extend(part.fleet.instances);
        all.fleet.diagnostics.extend(part.fleet.diagnostics);
        for (k, v) in part.skipped {
            *all.skipped.entry(k).or_default() += v;
        }
    }
    Ok((all.fleet, all.skipped, all.in_force))
}

/// The effective fleet (docs/design.md §4): per compute, its override (in force at `from`)
/// or native schedules, then the policy defaults for actions nothing covers; each schedule
/// keeps its source. Reads the whole input as JSON values (policies need them), so it is for
/// the effective plan only; the plain plan streams ([`compile_parallel`]).
fn compile_effective(
    text: &str,
    args: &PlanArgs,
    from: DateTime<Utc>,
    assignments: Option<&[Assignment]>,
) -> anyhow::Result<Compiled> {
    use curfew_engine::governor::{effective_schedules, override_in_force, PolicyDefault};
    let policies = super::policy::load_policies(&args.policies)?;
    let overrides: serde_json::Map<String, serde_json::Value> = match &args.overrides {
        None => serde_json::Map::new(),
        Some(path) => {
            let t = read_text(path)?;
            match serde_json::from_str(&t) {
                Ok(serde_json::Value::Object(m)) => m,
                Ok(_) => {
                    anyhow::bail!("{path}: expected an object keyed by instance name or ARM id")
                }
                Err(e) => anyhow::bail!("{path}: not valid JSON: {e}"),
            }
        }
    };
    let (computes, problems) =
        super::policy::read_computes(text, args.inventory.as_deref().unwrap_or("-"))?;
    for p in problems {
        eprintln!("warning: {p}");
    }
    let mut fleet = Fleet::default();
    let mut in_force = Vec::new();
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    for (name, compute) in computes {
        let inv = curfew_engine::inventory::parse(&compute.to_string(), &name)?;
        fleet.diagnostics.extend(inv.problems);
        if inv.instances.is_empty() {
            let kind = compute
                .pointer("/properties/computeType")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("unknown");
            *skipped.entry(kind.to_string()).or_default() += 1;
            continue;
        }
        for inst in inv.instances {
            let key = |k: &str| {
                k.eq_ignore_ascii_case(&inst.name)
                    || inst
                        .id
                        .as_deref()
                        .is_some_and(|id| k.eq_ignore_ascii_case(id))
            };
            let ov = overrides
                .iter()
                .find(|(k, _)| key(k))
                .and_then(|(_, v)| override_in_force(v, from));
            let assessment = curfew_engine::policy::assess(&policies, &compute, from.date_naive());
            let supplied: Vec<(String, Vec<serde_json::Value>)> = assessment
                .supplied(&curfew_engine::policy::AppendTarget::Schedules)
                .map(|s| {
                    let list = match &s.value {
                        serde_json::Value::Array(a) => a.clone(),
                        v => v
                            .get("computeStartStop")
                            .and_then(serde_json::Value::as_array)
                            .cloned()
                            .unwrap_or_default(),
                    };
                    vec![(s.policy.to_string(), list)]
                })
                .unwrap_or_default();
            let defaults: Vec<PolicyDefault<'_>> = supplied
                .iter()
                .map(|(policy, schedules)| PolicyDefault { policy, schedules })
                .collect();
            let set = effective_schedules(&inst, ov.as_deref(), &defaults);
            fleet
                .diagnostics
                .extend(set.diagnostics.into_iter().map(|(_, d)| d));
            if let Some(a) = assignments {
                in_force.push(FleetCalendars::matching(a, &inst));
            }
            fleet.instances.push(fleet::CompiledInstance {
                name: inst.name.clone(),
                id: inst.id.clone(),
                origins: set
                    .schedules
                    .iter()
                    .map(|s| (s.source.clone(), s.index))
                    .collect(),
                schedules: set
                    .schedules
                    .into_iter()
                    .map(|s| Some(s.schedule))
                    .collect(),
            });
        }
    }
    Ok((fleet, skipped, in_force))
}

/// Reads and compiles one run of computes.
fn compile_run<'a>(run: &Items<'a>, assignments: Option<&[Assignment]>) -> Part {
    let mut part = Part {
        first: run.first(),
        ..Part::default()
    };
    for i in 0..run.len() {
        match run.read_as::<Node<'a>>(i) {
            Item::Instance(inst) => {
                if let Some(a) = assignments {
                    part.in_force.push(FleetCalendars::matching(a, &inst));
                }
                let ci = fleet::compile_instance(&inst, &mut part.fleet.diagnostics);
                part.fleet.instances.push(ci);
            }
            Item::Skipped(kind) => *part.skipped.entry(kind).or_default() += 1,
            Item::Problem(d) => part.fleet.diagnostics.push(d),
        }
    }
    part
}

/// Appends a JSON string, escaping only when needed (names and triggers almost never need it).
fn write_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// Appends an unsigned number in decimal.
fn push_uint(out: &mut Vec<u8>, n: usize) {
    let width = n.checked_ilog10().map_or(1, |d| d as usize + 1);
    match u32::try_from(n) {
        Ok(small) => push_digits(out, small, width),
        Err(_) => out.extend_from_slice(n.to_string().as_bytes()),
    }
}

/// Appends one row of `plan --format json` (the fields of [`Row`], in its order), without the
/// formatting machinery: this runs for every row of a large plan.
fn write_row(out: &mut Vec<u8>, row: &Row<'_>) {
    out.extend_from_slice(b"{\"instance\":");
    write_str(out, row.instance);
    if let Some(n) = row.schedule {
        out.extend_from_slice(b",\"schedule\":");
        push_uint(out, n);
    }
    if let Some(source) = row.source {
        out.extend_from_slice(b",\"source\":");
        write_str(out, source);
    }
    out.extend_from_slice(match row.action {
        curfew_engine::Action::Start => b",\"action\":\"Start\",\"at\":\"",
        curfew_engine::Action::Stop => b",\"action\":\"Stop\",\"at\":\"",
    });
    out.extend_from_slice(row.at.as_bytes());
    out.extend_from_slice(b"\",\"local\":\"");
    out.extend_from_slice(row.local.as_bytes());
    out.extend_from_slice(b"\",\"timeZone\":");
    write_str(out, row.time_zone);
    out.extend_from_slice(b",\"iana\":");
    write_str(out, row.iana);
    out.extend_from_slice(b",\"trigger\":");
    write_str(out, row.trigger);
    out.extend_from_slice(match row.shift {
        Shift::None => b",\"shift\":\"none\"",
        Shift::Gap => b",\"shift\":\"gap\"",
        Shift::Fold => b",\"shift\":\"fold\"",
    });
    if row.merged > 0 {
        out.extend_from_slice(b",\"merged\":");
        push_uint(out, row.merged as usize);
    }
    if let Some((last, rest)) = row.suppressed_starts.split_last() {
        out.extend_from_slice(b",\"suppressedStarts\":[");
        for n in rest {
            push_uint(out, *n);
            out.push(b',');
        }
        push_uint(out, *last);
        out.push(b']');
    }
    if let Some(by) = row.suppressed_by {
        out.extend_from_slice(b",\"suppressedBy\":");
        write_str(out, by);
    }
    if let Some(note) = &row.note {
        out.extend_from_slice(b",\"note\":");
        write_str(out, note);
    }
    out.push(b'}');
}

/// Rows taken from the plan stream, rendered (on all cores) and written at a time: the most
/// of the plan `write_plan` ever holds.
const BLOCK: usize = 16_384;

/// What [`write_plan`] wrote, and the most rows it held at once (at most [`BLOCK`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct PlanStats {
    rows: usize,
    /// Rows a calendar suppressed (listed, not fired).
    suppressed: usize,
    peak_held: usize,
}

/// Rows a planning thread hands over at a time; each holds at most three batches in flight.
const BATCH: usize = 4_096;

/// Plans `fleet` in `[from, to)` on all cores and hands `write` the rows in the plan's order,
/// with the width of the longest instance name that has a row. Each thread streams one part
/// of the fleet ([`fleet::PlanStream::part`]) in batches through a bounded channel, and the
/// parts are merged here by [`fleet::PlanStream::key`]: memory does not grow with the window.
fn plan_rows<R>(
    fleet: &Fleet,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    calendars: Option<&FleetCalendars>,
    write: impl FnOnce(usize, &mut dyn Iterator<Item = Planned>) -> R,
) -> R {
    let threads = std::thread::available_parallelism()
        .map_or(1, |p| p.get())
        .clamp(1, 8);
    let n = fleet.instances.len();
    let per = n.div_ceil(threads).max(1);
    let ranks = fleet::plan_ranks(fleet);
    std::thread::scope(|s| {
        let mut widths = Vec::new();
        let mut sources = Vec::new();
        for start in (0..n).step_by(per) {
            let (width_tx, width_rx) = std::sync::mpsc::channel::<usize>();
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Planned>>(2);
            let ranks = &ranks;
            s.spawn(move || {
                let part = start..(start + per).min(n);
                let mut stream =
                    fleet::PlanStream::with_calendars(fleet, ranks, part, from, to, calendars);
                let width = stream
                    .instances_with_rows()
                    .map(|i| fleet.instances[i].name.len())
                    .max()
                    .unwrap_or(0);
                let _ = width_tx.send(width);
                loop {
                    let batch: Vec<Planned> = stream.by_ref().take(BATCH).collect();
                    // A send fails only once the writer is gone (it stopped on an error).
                    if batch.is_empty() || tx.send(batch).is_err() {
                        break;
                    }
                }
            });
            widths.push(width_rx);
            sources.push(rx);
        }
        let name_w = widths
            .iter()
            .filter_map(|w| w.recv().ok())
            .max()
            .unwrap_or(0)
            .max(8);
        let mut merged = Merge::new(&ranks, sources);
        write(name_w, &mut merged)
    })
}

/// The plan's parts merged into its order.
struct Merge<'r> {
    ranks: &'r [u32],
    sources: Vec<std::iter::Flatten<std::sync::mpsc::IntoIter<Vec<Planned>>>>,
    heads: Vec<Option<Planned>>,
    heap: std::collections::BinaryHeap<std::cmp::Reverse<(RowKey, usize)>>,
}

/// [`fleet::PlanStream::key`] of a row.
type RowKey = (DateTime<Utc>, u32, usize);

impl<'r> Merge<'r> {
    fn new(ranks: &'r [u32], receivers: Vec<std::sync::mpsc::Receiver<Vec<Planned>>>) -> Self {
        let mut m = Merge {
            ranks,
            sources: receivers
                .into_iter()
                .map(|r| r.into_iter().flatten())
                .collect(),
            heads: Vec::new(),
            heap: std::collections::BinaryHeap::new(),
        };
        for i in 0..m.sources.len() {
            let head = m.sources[i].next();
            m.push(i, head);
        }
        m
    }

    fn push(&mut self, i: usize, head: Option<Planned>) {
        if let Some(row) = &head {
            let key = fleet::PlanStream::key(self.ranks, row);
            self.heap.push(std::cmp::Reverse((key, i)));
        }
        if i == self.heads.len() {
            self.heads.push(head);
        } else {
            self.heads[i] = head;
        }
    }
}

impl Iterator for Merge<'_> {
    type Item = Planned;

    fn next(&mut self) -> Option<Planned> {
        let std::cmp::Reverse((_, i)) = self.heap.pop()?;
        let row = self.heads[i].take();
        let next = self.sources[i].next();
        self.push(i, next);
        row
    }
}

/// Writes the plan as it streams: a block of rows at a time is rendered on all cores, then
/// written in order, so memory does not grow with the window.
fn write_plan(
    out: &mut impl Write,
    fleet: &Fleet,
    stream: &mut dyn Iterator<Item = Planned>,
    name_w: usize,
    format: OutputFormat,
    calendars: Option<&FleetCalendars>,
) -> anyhow::Result<PlanStats> {
    match format {
        OutputFormat::Json => out.write_all(b"[")?,
        OutputFormat::Text => writeln!(
            out,
            "{:<20}  {:<31}  {:<name_w$}  {:>3}  {:<5}  TRIGGER",
            "UTC", "LOCAL", "INSTANCE", "#", "ACTION"
        )?,
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |p| p.get())
        .clamp(1, 8);
    let mut stats = PlanStats::default();
    let mut block: Vec<Planned> = Vec::with_capacity(BLOCK);
    for b in 0.. {
        block.clear();
        block.extend((&mut *stream).take(BLOCK));
        if block.is_empty() {
            break;
        }
        stats.rows += block.len();
        if calendars.is_some() {
            stats.suppressed += block.iter().filter(|p| !p.fires()).count();
        }
        stats.peak_held = stats.peak_held.max(block.len());
        let block = &block;
        let per = block.len().div_ceil(threads).max(1);
        let chunks: Vec<std::io::Result<Vec<u8>>> = std::thread::scope(|s| {
            let handles: Vec<_> = block
                .chunks(per)
                .enumerate()
                .map(|(c, chunk)| {
                    s.spawn(move || -> std::io::Result<Vec<u8>> {
                        let mut buf = Vec::with_capacity(chunk.len() * 320);
                        for (k, p) in chunk.iter().enumerate() {
                            match format {
                                OutputFormat::Json => {
                                    let first = b == 0 && c == 0 && k == 0;
                                    buf.extend_from_slice(if first { b"\n" } else { b",\n" });
                                    json_line(&mut buf, fleet, p, calendars);
                                }
                                OutputFormat::Text => {
                                    text_line(&mut buf, fleet, p, name_w, calendars)
                                }
                            }
                        }
                        Ok(buf)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(std::io::Error::other("render thread panicked")))
                })
                .collect()
        });
        for chunk in chunks {
            out.write_all(&chunk?)?;
        }
    }
    match format {
        OutputFormat::Json => out.write_all(if stats.rows == 0 { b"]\n" } else { b"\n]\n" })?,
        OutputFormat::Text if calendars.is_some() => writeln!(
            out,
            "{} occurrence(s), {} suppressed by calendars (listed, not fired)",
            stats.rows, stats.suppressed
        )?,
        OutputFormat::Text => writeln!(out, "{} occurrence(s)", stats.rows)?,
    }
    Ok(stats)
}

/// What one row shows about where it comes from: the schedule's zone, trigger, number and
/// source, or for an `off` calendar's stop, the instance's zone and the calendar.
struct RowOrigin<'a> {
    zone: std::borrow::Cow<'a, Zone>,
    time_zone: std::borrow::Cow<'a, str>,
    trigger: std::borrow::Cow<'a, str>,
    schedule: Option<usize>,
    source: std::borrow::Cow<'a, str>,
    suppressed_by: Option<String>,
}

fn origin<'a>(
    fleet: &'a Fleet,
    p: &Planned,
    calendars: Option<&'a FleetCalendars>,
) -> Option<RowOrigin<'a>> {
    use std::borrow::Cow;
    let ci = &fleet.instances[p.instance];
    let cal_name = |i: u32| calendars.map_or("", |c| c.windows[i as usize].name.as_str());
    let suppressed_by = match p.calendar {
        Some(CalendarMark::Suppressed(i)) => Some(format!("calendar:{}", cal_name(i))),
        _ => None,
    };
    if p.schedule == OFF_STOP {
        let scheds: Vec<&curfew_engine::Schedule> = ci.schedules.iter().flatten().collect();
        let zone = curfew_engine::holiday::instance_zone(&scheds);
        let name = match p.calendar {
            Some(CalendarMark::Off(i)) => cal_name(i),
            _ => "",
        };
        return Some(RowOrigin {
            time_zone: Cow::Owned(zone.iana().to_string()),
            zone: Cow::Owned(zone),
            trigger: Cow::Owned(format!("calendar {name} (off)")),
            schedule: None,
            source: Cow::Owned(format!("calendar:{name}")),
            suppressed_by,
        });
    }
    let s = ci.schedules.get(p.schedule)?.as_ref()?;
    let (source, index) = match ci.origins.get(p.schedule) {
        Some((Source::Native, i)) => (Cow::Borrowed("native"), *i),
        Some((Source::Override, i)) => (Cow::Borrowed("override"), *i),
        Some((Source::Policy(name), i)) => (Cow::Owned(format!("policy:{name}")), *i),
        None => (Cow::Borrowed("native"), p.schedule),
    };
    Some(RowOrigin {
        zone: Cow::Borrowed(&s.zone),
        time_zone: Cow::Borrowed(&s.time_zone),
        trigger: Cow::Borrowed(&s.trigger),
        schedule: Some(index),
        source,
        suppressed_by,
    })
}

fn json_line(out: &mut Vec<u8>, fleet: &Fleet, p: &Planned, calendars: Option<&FleetCalendars>) {
    let ci = &fleet.instances[p.instance];
    let Some(o) = origin(fleet, p, calendars) else {
        return;
    };
    let (mut at, mut local) = (Vec::with_capacity(20), Vec::with_capacity(25));
    let row = Row {
        instance: &ci.name,
        schedule: o.schedule,
        source: (calendars.is_some() || !ci.origins.is_empty()).then_some(&*o.source),
        action: p.action,
        at: scratch(&mut at, |b| utc_text(p.occurrence.at, b)),
        local: scratch(&mut local, |b| local_text(p.occurrence.at, &o.zone, b)),
        time_zone: &o.time_zone,
        iana: o.zone.iana(),
        trigger: &o.trigger,
        shift: p.occurrence.shift,
        merged: p.occurrence.merged,
        suppressed_starts: &p.suppressed,
        suppressed_by: o.suppressed_by.as_deref(),
        note: note(p, &o.zone, calendars),
    };
    write_row(out, &row);
}

fn text_line(
    out: &mut Vec<u8>,
    fleet: &Fleet,
    p: &Planned,
    name_w: usize,
    calendars: Option<&FleetCalendars>,
) {
    let ci = &fleet.instances[p.instance];
    let Some(o) = origin(fleet, p, calendars) else {
        return;
    };
    let at = p.occurrence.at;
    let pad = |out: &mut Vec<u8>, written: usize, width: usize| {
        out.resize(out.len() + width.saturating_sub(written), b' ');
    };
    // UTC (20 wide), then local `YYYY-MM-DD HH:MM ABBR` (31 wide).
    utc_text(at, out);
    out.extend_from_slice(b"  ");
    let local_start = out.len();
    local_text(at, &o.zone, out);
    out.truncate(local_start + 16);
    out[local_start + 10] = b' ';
    out.push(b' ');
    out.extend_from_slice(o.zone.abbreviation_at(at.timestamp()).as_bytes());
    pad(out, out.len() - local_start, 31);
    out.extend_from_slice(b"  ");
    out.extend_from_slice(ci.name.as_bytes());
    pad(out, ci.name.chars().count(), name_w);
    out.extend_from_slice(b"  ");
    let number = o
        .schedule
        .map_or_else(|| "-".to_string(), |n| n.to_string());
    pad(out, number.len(), 3);
    out.extend_from_slice(number.as_bytes());
    out.extend_from_slice(b"  ");
    let action = match (p.action, p.fires()) {
        (curfew_engine::Action::Start, true) => "Start",
        (curfew_engine::Action::Stop, true) => "Stop ",
        (curfew_engine::Action::Start, false) => "start",
        (curfew_engine::Action::Stop, false) => "stop ",
    };
    out.extend_from_slice(action.as_bytes());
    out.extend_from_slice(b"  ");
    out.extend_from_slice(o.trigger.as_bytes());
    out.extend_from_slice(b" (");
    out.extend_from_slice(o.time_zone.as_bytes());
    out.push(b')');
    if o.source != "native" {
        out.extend_from_slice(b" [");
        out.extend_from_slice(o.source.as_bytes());
        out.push(b']');
    }
    if let Some(n) = note(p, &o.zone, calendars) {
        out.extend_from_slice("  — ".as_bytes());
        out.extend_from_slice(n.as_bytes());
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that counts bytes and keeps the largest single write.
    #[derive(Default)]
    struct Counting {
        bytes: usize,
        largest_write: usize,
    }

    impl Write for Counting {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.bytes += buf.len();
            self.largest_write = self.largest_write.max(buf.len());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A window far larger than a block streams through: the plan held never exceeds a block
    /// of rows and no write is larger than one rendered block, whatever the window.
    #[test]
    fn plan_output_streams_in_bounded_memory() {
        let ci = serde_json::json!({"name": "ci-every-minute", "properties": {"computeType": "ComputeInstance", "properties": {"schedules": {"computeStartStop": [
            {"action": "Stop", "triggerType": "Cron", "cron": {"expression": "* * * * *", "timeZone": "UTC"}}
        ]}}}});
        let (fleet, _, _) = compile_parallel(&ci.to_string(), "ci.json", None).unwrap();
        let from = "2026-01-01T00:00:00Z".parse().unwrap();
        for (days, format) in [
            (40, OutputFormat::Json),
            (40, OutputFormat::Text),
            (400, OutputFormat::Text),
        ] {
            let to = from + chrono::Duration::days(days);
            let mut sink = Counting::default();
            let stats = plan_rows(&fleet, from, to, None, |w, rows| {
                write_plan(&mut sink, &fleet, rows, w, format, None)
            })
            .unwrap();
            let rows = days as usize * 24 * 60;
            assert_eq!(stats.rows, rows);
            assert_eq!(stats.peak_held, BLOCK, "{format:?} {days} days");
            // One block rendered is the most ever buffered: about 200 bytes a row.
            assert!(sink.largest_write <= BLOCK * 400, "{}", sink.largest_write);
            assert!(sink.bytes > rows * 100, "{}", sink.bytes);
        }
    }

    #[test]
    fn hand_written_rows_equal_serde_rows() {
        let suppressed = [1usize, 3];
        for (name, note, merged, sup, schedule, by) in [
            ("gpu-01", None, 0, &suppressed[..0], Some(0), None),
            (
                "gpu-02",
                None,
                10,
                &suppressed[..1],
                Some(10),
                Some("calendar:nz"),
            ),
            (
                "we\"ird\\name\u{1}",
                Some("a \"note\"".to_string()),
                2,
                &suppressed[..],
                None,
                Some("calendar:\"q\""),
            ),
        ] {
            let row = Row {
                instance: name,
                schedule,
                source: Some("policy:night"),
                action: curfew_engine::Action::Stop,
                at: "2026-03-08T10:00:00Z",
                local: "2026-03-08T03:00:00-07:00",
                time_zone: "Pacific Standard Time",
                iana: "America/Los_Angeles",
                trigger: "Cron 30 2 * * *",
                shift: Shift::Gap,
                merged,
                suppressed_starts: sup,
                suppressed_by: by,
                note,
            };
            let mut hand = Vec::new();
            write_row(&mut hand, &row);
            assert_eq!(
                String::from_utf8(hand).unwrap(),
                serde_json::to_string(&row).unwrap()
            );
        }
    }
}
