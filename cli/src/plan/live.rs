//! `curfew plan --config F`: the effective plan of the live scope (ARM, the store's overrides
//! and dismissals, the configured policies and calendars), rendered with the inventory plan's
//! row fields plus what only the live scope knows (occurrence id, snooze, ledger status).

use super::{local_text, scratch, utc_text};
use crate::govern::{block_on, ConfigArg};
use crate::OutputFormat;
use chrono::{DateTime, Utc};
use curfew_engine::governor::upcoming::UpcomingOccurrence;
use curfew_engine::Shift;
use curfew_governor::liveplan::{live_plan, LivePlan};
use curfew_governor::Runtime;
use serde::Serialize;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

/// One line of `plan --config … --format json`: the inventory plan's fields (a stable
/// contract), `source` always set, plus the live scope's own.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LiveJsonRow<'a> {
    instance: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    schedule: Option<usize>,
    source: &'a str,
    action: curfew_engine::Action,
    at: &'a str,
    local: &'a str,
    time_zone: &'a str,
    iana: &'a str,
    trigger: &'a str,
    shift: Shift,
    #[serde(skip_serializing_if = "Option::is_none")]
    suppressed_by: Option<String>,
    occurrence_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    snoozed_until: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<String>,
}

/// Runs `curfew plan --config F --from … --to …`.
pub(crate) fn run(
    config: Option<std::path::PathBuf>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let plan = block_on(async {
        let rt = Runtime::from_config(&ConfigArg::from_path(config).load()?).await?;
        anyhow::Ok(live_plan(&rt, from, to).await?)
    })??;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    write_live(&mut out, &plan, format)?;
    out.flush()?;
    for p in &plan.problems {
        eprintln!("error: {p}");
    }
    for c in &plan.caveats {
        eprintln!("note: {c}");
    }
    eprintln!(
        "note: {} instance(s) planned with {} ARM request(s) (the tick's listing)",
        plan.instances.len(),
        plan.arm_calls
    );
    Ok(ExitCode::SUCCESS)
}

/// The ledger's status when the governor has settled or deferred the occurrence (a record
/// that is only notified or snoozed is still `Planned`, which says nothing new).
fn status_label(o: &UpcomingOccurrence) -> Option<String> {
    o.status
        .filter(|s| *s != curfew_engine::governor::Status::Planned)
        .map(|s| format!("{s:?}"))
}

/// Writes the live plan as JSON (an array of rows) or aligned text.
fn write_live(out: &mut impl Write, plan: &LivePlan, format: OutputFormat) -> anyhow::Result<()> {
    let (mut at_buf, mut local_buf) = (Vec::new(), Vec::new());
    let name_w = plan
        .instances
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max(8);
    match format {
        OutputFormat::Json => out.write_all(b"[")?,
        OutputFormat::Text => writeln!(
            out,
            "{:<20}  {:<25}  {:<name_w$}  {:<16}  {:<5}  TRIGGER",
            "UTC", "LOCAL", "INSTANCE", "SOURCE", "ACTION"
        )?,
    }
    let mut suppressed = 0;
    for (i, row) in plan.rows.iter().enumerate() {
        let o = &row.occurrence;
        let instance = plan.instances[row.instance].as_str();
        let at = scratch(&mut at_buf, |b| utc_text(o.at, b));
        let local = scratch(&mut local_buf, |b| local_text(o.at, &o.zone, b));
        let by = o.suppressed_by.as_ref().map(|s| s.label());
        suppressed += usize::from(by.is_some());
        match format {
            OutputFormat::Json => {
                out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
                serde_json::to_writer(
                    &mut *out,
                    &LiveJsonRow {
                        instance,
                        schedule: o.schedule,
                        source: &o.source,
                        action: o.action,
                        at,
                        local,
                        time_zone: &o.time_zone,
                        iana: o.zone.iana(),
                        trigger: &o.trigger,
                        shift: o.shift,
                        suppressed_by: by,
                        occurrence_id: &o.occurrence_id,
                        snoozed_until: (o.due != o.at).then_some(o.due),
                        status: status_label(o),
                    },
                )?;
            }
            OutputFormat::Text => {
                let mut tail = String::new();
                if let Some(by) = by {
                    tail.push_str(&format!("  [suppressed by {by}: does not fire]"));
                }
                if o.due != o.at {
                    tail.push_str(&format!(
                        "  [snoozed until {}]",
                        o.due.format("%Y-%m-%dT%H:%MZ")
                    ));
                }
                if let Some(s) = status_label(o) {
                    tail.push_str(&format!("  [{s}]"));
                }
                writeln!(
                    out,
                    "{at:<20}  {local:<25}  {instance:<name_w$}  {:<16}  {:<5}  {}{tail}",
                    o.source,
                    format!("{:?}", o.action),
                    o.trigger
                )?;
            }
        }
    }
    match format {
        OutputFormat::Json => out.write_all(if plan.rows.is_empty() {
            b"]\n"
        } else {
            b"\n]\n"
        })?,
        OutputFormat::Text => writeln!(
            out,
            "{} occurrence(s), {suppressed} suppressed (listed, not fired)",
            plan.rows.len()
        )?,
    }
    Ok(())
}
