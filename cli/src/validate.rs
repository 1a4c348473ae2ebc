//! `curfew validate`: every problem of an inventory, named by instance, schedule and field;
//! and with `--config`, every problem of the configuration (the settings file overlaid by the
//! environment), named by variable and/or path.

use super::input::read_inventory;
use super::OutputFormat;
use curfew_engine::fleet;
use curfew_governor::config::{
    ConfigError, ConfigProblem, EnvStrings, Program, RuntimeConfig, SettingsFile,
};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `curfew validate`.
#[derive(Debug, clap::Args)]
pub(crate) struct ValidateArgs {
    /// A compute resource, JSON array, ARM list response or CLI YAML; `-` reads stdin.
    #[arg(required_unless_present = "config")]
    file: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    /// Look for Start/Stop conflicts in the year from this instant (RFC 3339; default now).
    #[arg(long)]
    from: Option<String>,
    /// Policy definition files to check too (every problem named by its JSON path).
    #[arg(long = "policy", value_name = "FILE")]
    policies: Vec<String>,
    /// A settings file to check, with the environment's overrides, as `tick` and `run` would
    /// read it: every bad setting named.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// The `validate --format json` document; field names are a stable contract. The inventory's
/// fields are present when an inventory was given, `configProblems` when `--config` was.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    instances: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schedules: Option<usize>,
    errors: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    warnings: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<&'a std::collections::BTreeMap<String, usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problems: Option<&'a [curfew_engine::Diagnostic]>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    policy_problems: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    config_problems: Option<&'a [ConfigProblem]>,
}

/// What an inventory check found.
struct InventoryCheck {
    inventory: curfew_engine::Inventory,
    problems: Vec<curfew_engine::Diagnostic>,
    schedules: usize,
}

/// The configuration's problems; `Err` (exit 2) when the file cannot be read at all.
fn check_config(path: &Path) -> anyhow::Result<Vec<ConfigProblem>> {
    let file = SettingsFile::Path(path.to_path_buf());
    match RuntimeConfig::load(&file, &EnvStrings, Program::Cli) {
        Ok(_) => Ok(Vec::new()),
        Err(ConfigError::Invalid { problems }) => Ok(problems),
        Err(e) => Err(e.into()),
    }
}

/// Runs `curfew validate`: exit 0 without errors, 1 with errors, 2 if unreadable.
pub(crate) fn run(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let reference = match &args.from {
        Some(text) => super::input::parse_instant("--from", text)?,
        None => chrono::Utc::now(),
    };
    let checked = match &args.file {
        Some(file) => {
            let inventory = read_inventory(file)?;
            let compiled = fleet::compile(&inventory);
            let problems = fleet::validate(&compiled, reference);
            let schedules = inventory.instances.iter().map(|i| i.schedules.len()).sum();
            Some(InventoryCheck {
                inventory,
                problems,
                schedules,
            })
        }
        None => None,
    };
    let config_problems = args.config.as_deref().map(check_config).transpose()?;
    let (mut errors, warnings) = checked
        .as_ref()
        .map_or((0, 0), |c| fleet::counts(&c.problems));
    let policy_problems: Vec<String> = args
        .policies
        .iter()
        .flat_map(|f| super::policy::validate_policy_file(std::path::Path::new(f)))
        .collect();
    errors += policy_problems.len() + config_problems.as_ref().map_or(0, Vec::len);
    match args.format {
        OutputFormat::Json => {
            let report = Report {
                instances: checked.as_ref().map(|c| c.inventory.instances.len()),
                schedules: checked.as_ref().map(|c| c.schedules),
                errors,
                warnings: checked.as_ref().map(|_| warnings),
                skipped: checked.as_ref().map(|c| &c.inventory.skipped),
                problems: checked.as_ref().map(|c| c.problems.as_slice()),
                policy_problems: &policy_problems,
                config_problems: config_problems.as_deref(),
            };
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        OutputFormat::Text => {
            if let Some(c) = &checked {
                for p in &c.problems {
                    let field = if p.field.is_empty() {
                        String::new()
                    } else {
                        format!(" [{}]", p.field)
                    };
                    println!("{}: {p}{field}", p.severity);
                }
            }
            for p in &policy_problems {
                println!("error: policy {p}");
            }
            if let Some(c) = &checked {
                for (kind, n) in &c.inventory.skipped {
                    println!("note: skipped {n} compute(s) of type {kind} (only ComputeInstance has schedules)");
                }
                println!(
                    "{} instance(s), {} schedule(s): {errors} error(s), {warnings} warning(s)",
                    c.inventory.instances.len(),
                    c.schedules
                );
            }
            if let (Some(problems), Some(path)) = (&config_problems, &args.config) {
                for p in problems {
                    println!("error: {p}");
                }
                println!(
                    "config '{}' with the environment: {} problem(s)",
                    path.display(),
                    problems.len()
                );
            }
        }
    }
    Ok(if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
