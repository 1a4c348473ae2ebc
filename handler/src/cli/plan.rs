//! `curfew plan`: every occurrence of an inventory's schedules in a window.

use super::input::{parse_instant, read_inventory};
use super::Format;
use chrono::{DateTime, Datelike, Timelike, Utc};
use curfew_engine::fleet::{self, Fleet, Planned};
use curfew_engine::tz::Zone;
use curfew_engine::{Severity, Shift};
use serde::Serialize;
use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

/// Arguments of `curfew plan`.
#[derive(Debug, clap::Args)]
pub(crate) struct PlanArgs {
    /// A compute resource, JSON array, ARM list response or CLI YAML; `-` reads stdin.
    #[arg(long)]
    inventory: String,
    /// Window start (inclusive), RFC 3339.
    #[arg(long)]
    from: String,
    /// Window end (exclusive), RFC 3339.
    #[arg(long)]
    to: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// One line of `plan --format json`; field names are a stable contract.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Row<'a> {
    instance: &'a str,
    schedule: usize,
    action: curfew_engine::Action,
    at: String,
    local: String,
    time_zone: &'a str,
    iana: &'a str,
    trigger: &'a str,
    shift: Shift,
    #[serde(skip_serializing_if = "is_zero")]
    merged: u32,
    #[serde(skip_serializing_if = "<[usize]>::is_empty")]
    suppressed_starts: &'a [usize],
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Formats `at` as `YYYY-MM-DDTHH:MM:SSZ` without going through chrono's formatter (hot path).
fn utc_text(at: DateTime<Utc>) -> String {
    let mut s = String::with_capacity(20);
    let _ = write!(
        s,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    s
}

/// Local wall time with its offset, e.g. `2026-03-08T03:00:00-07:00`.
fn local_text(at: DateTime<Utc>, zone: &Zone) -> (String, String) {
    let secs = zone.offset_at(at.timestamp());
    let local = at.naive_utc() + chrono::Duration::seconds(i64::from(secs));
    let sign = if secs < 0 { '-' } else { '+' };
    let abs = secs.unsigned_abs();
    let mut s = String::with_capacity(25);
    let _ = write!(
        s,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}{:02}:{:02}",
        local.year(),
        local.month(),
        local.day(),
        local.hour(),
        local.minute(),
        local.second(),
        sign,
        abs / 3600,
        (abs % 3600) / 60
    );
    (s, zone.abbreviation_at(at.timestamp()))
}

/// The DST / conflict note for one occurrence, if any.
fn note(p: &Planned, zone: &Zone) -> Option<String> {
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
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Runs `curfew plan`.
pub(crate) fn run(args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let from = parse_instant("--from", &args.from)?;
    let to = parse_instant("--to", &args.to)?;
    if to < from {
        anyhow::bail!("--to {} is before --from {}", args.to, args.from);
    }
    let inventory = read_inventory(&args.inventory)?;
    let fleet = fleet::compile(&inventory);
    let planned = fleet::plan(&fleet, from, to);
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    match args.format {
        Format::Json => write_json(&mut out, &fleet, &planned)?,
        Format::Text => write_text(&mut out, &fleet, &planned)?,
    }
    out.flush()?;
    let mut errors = 0;
    for d in &fleet.diagnostics {
        if d.severity == Severity::Error {
            errors += 1;
            eprintln!("error: {d}");
        }
    }
    for (kind, n) in &inventory.skipped {
        eprintln!(
            "note: skipped {n} compute(s) of type {kind} (only ComputeInstance has schedules)"
        );
    }
    Ok(if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn write_json(out: &mut impl Write, fleet: &Fleet<'_>, planned: &[Planned]) -> anyhow::Result<()> {
    out.write_all(b"[")?;
    for (i, p) in planned.iter().enumerate() {
        let ci = &fleet.instances[p.instance];
        let Some(s) = ci.schedules[p.schedule].as_ref() else {
            continue;
        };
        let (local, _) = local_text(p.occurrence.at, &s.zone);
        let row = Row {
            instance: &ci.instance.name,
            schedule: p.schedule,
            action: p.action,
            at: utc_text(p.occurrence.at),
            local,
            time_zone: &s.time_zone,
            iana: s.zone.iana(),
            trigger: &s.trigger,
            shift: p.occurrence.shift,
            merged: p.occurrence.merged,
            suppressed_starts: &p.suppressed,
            note: note(p, &s.zone),
        };
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer(&mut *out, &row)?;
    }
    out.write_all(if planned.is_empty() { b"]\n" } else { b"\n]\n" })?;
    Ok(())
}

fn write_text(out: &mut impl Write, fleet: &Fleet<'_>, planned: &[Planned]) -> anyhow::Result<()> {
    let name_w = planned
        .iter()
        .map(|p| fleet.instances[p.instance].instance.name.len())
        .max()
        .unwrap_or(8)
        .max(8);
    writeln!(
        out,
        "{:<20}  {:<31}  {:<name_w$}  {:>3}  {:<5}  TRIGGER",
        "UTC", "LOCAL", "INSTANCE", "#", "ACTION"
    )?;
    for p in planned {
        let ci = &fleet.instances[p.instance];
        let Some(s) = ci.schedules[p.schedule].as_ref() else {
            continue;
        };
        let (local, abbr) = local_text(p.occurrence.at, &s.zone);
        let local = format!("{} {}", &local[..16].replace('T', " "), abbr);
        write!(
            out,
            "{:<20}  {:<31}  {:<name_w$}  {:>3}  {:<5}  {} ({})",
            utc_text(p.occurrence.at),
            local,
            ci.instance.name,
            p.schedule,
            p.action.to_string(),
            s.trigger,
            s.time_zone
        )?;
        if let Some(n) = note(p, &s.zone) {
            write!(out, "  — {n}")?;
        }
        writeln!(out)?;
    }
    writeln!(out, "{} occurrence(s)", planned.len())?;
    Ok(())
}
