//! `curfew validate`: every problem of an inventory, named by instance, schedule and field.

use super::input::read_inventory;
use super::Format;
use curfew_engine::fleet;
use serde::Serialize;
use std::process::ExitCode;

/// Arguments of `curfew validate`.
#[derive(Debug, clap::Args)]
pub(crate) struct ValidateArgs {
    /// A compute resource, JSON array, ARM list response or CLI YAML; `-` reads stdin.
    file: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Look for Start/Stop conflicts in the year from this instant (RFC 3339; default now).
    #[arg(long)]
    from: Option<String>,
    /// Policy definition files to check too (every problem named by its JSON path).
    #[arg(long = "policy", value_name = "FILE")]
    policies: Vec<String>,
}

/// The `validate --format json` document; field names are a stable contract.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    instances: usize,
    schedules: usize,
    errors: usize,
    warnings: usize,
    skipped: &'a std::collections::BTreeMap<String, usize>,
    problems: &'a [curfew_engine::Diagnostic],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    policy_problems: &'a [String],
}

/// Runs `curfew validate`: exit 0 without errors, 1 with errors, 2 if unreadable.
pub(crate) fn run(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let reference = match &args.from {
        Some(text) => super::input::parse_instant("--from", text)?,
        None => chrono::Utc::now(),
    };
    let inventory = read_inventory(&args.file)?;
    let fleet = fleet::compile(&inventory);
    let problems = fleet::validate(&fleet, reference);
    let (mut errors, warnings) = fleet::counts(&problems);
    let policy_problems: Vec<String> = args
        .policies
        .iter()
        .flat_map(|f| super::policy::validate_policy_file(std::path::Path::new(f)))
        .collect();
    errors += policy_problems.len();
    let schedules = inventory.instances.iter().map(|i| i.schedules.len()).sum();
    match args.format {
        Format::Json => {
            let report = Report {
                instances: inventory.instances.len(),
                schedules,
                errors,
                warnings,
                skipped: &inventory.skipped,
                problems: &problems,
                policy_problems: &policy_problems,
            };
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Format::Text => {
            for p in &problems {
                let field = if p.field.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", p.field)
                };
                println!("{}: {p}{field}", p.severity);
            }
            for p in &policy_problems {
                println!("error: policy {p}");
            }
            for (kind, n) in &inventory.skipped {
                println!("note: skipped {n} compute(s) of type {kind} (only ComputeInstance has schedules)");
            }
            println!(
                "{} instance(s), {schedules} schedule(s): {errors} error(s), {warnings} warning(s)",
                inventory.instances.len()
            );
        }
    }
    Ok(if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
