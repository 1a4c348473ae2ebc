//! `curfew tick`, `run`, `dismiss` and `explain`: the governor against ARM and the store.

use super::input::parse_instant;
use super::OutputFormat;
use anyhow::Context;
use chrono::{DateTime, Utc};
use curfew_engine::governor::dismiss::{Credential, Target};
use curfew_engine::governor::{Choice, DismissalRequest};
use curfew_governor::config::{EnvStrings, Program, RuntimeConfig, SettingsFile};
use curfew_governor::{dismiss, explain, tick, Runtime};
use std::path::PathBuf;
use std::process::ExitCode;

/// Where the configuration comes from.
#[derive(Debug, clap::Args)]
pub(crate) struct ConfigArg {
    /// Settings file (YAML or JSON; default: $CURFEW_CONFIG, else curfew.yaml); the
    /// environment's CURFEW_* variables override it (see docs/operations.md).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl ConfigArg {
    /// The configuration named by `--config` (or the default places when `None`).
    pub(crate) fn from_path(config: Option<PathBuf>) -> ConfigArg {
        ConfigArg { config }
    }

    /// The checked configuration: the settings file overlaid by the environment.
    pub(crate) fn load(&self) -> anyhow::Result<RuntimeConfig> {
        let file = SettingsFile::for_cli(self.config.clone(), &EnvStrings);
        Ok(RuntimeConfig::load(&file, &EnvStrings, Program::Cli)?)
    }
}

/// Arguments of `curfew tick`.
#[derive(Debug, clap::Args)]
pub(crate) struct TickArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Evaluate as of this instant (RFC 3339; default now).
    #[arg(long)]
    now: Option<String>,
    /// Decide and report without acting or writing anything.
    #[arg(long)]
    dry_run: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
}

/// Arguments of `curfew run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Stop after this many ticks (default: run until SIGTERM or Ctrl-C).
    #[arg(long)]
    ticks: Option<u64>,
}

/// Arguments of `curfew dismiss`.
#[derive(Debug, clap::Args)]
pub(crate) struct DismissArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// A signed link token (from a notice's link).
    #[arg(long, conflicts_with_all = ["occurrence", "skip", "snooze", "as_object"])]
    token: Option<String>,
    /// The occurrence id (from a notice or `curfew explain`).
    #[arg(long, requires = "as_object")]
    occurrence: Option<String>,
    /// Skip this shutdown.
    #[arg(long, conflicts_with = "snooze")]
    skip: bool,
    /// Snooze it by this many minutes.
    #[arg(long, value_name = "MINUTES")]
    snooze: Option<u32>,
    /// The requester's Entra object id (must be the owner or an admin).
    #[arg(long = "as", value_name = "OBJECTID")]
    as_object: Option<String>,
    /// Evaluate as of this instant (RFC 3339; default now).
    #[arg(long)]
    now: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
}

/// Arguments of `curfew explain`.
#[derive(Debug, clap::Args)]
pub(crate) struct ExplainArgs {
    /// The compute instance's name.
    instance: String,
    #[command(flatten)]
    config: ConfigArg,
    /// As of this instant (RFC 3339; default now).
    #[arg(long)]
    now: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
}

fn now_or(arg: &Option<String>) -> anyhow::Result<DateTime<Utc>> {
    match arg {
        Some(t) => parse_instant("--now", t),
        None => Ok(Utc::now()),
    }
}

/// A single-threaded runtime: the governor does a few concurrent ARM calls, never CPU work.
pub(crate) fn block_on<F: std::future::Future>(f: F) -> anyhow::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    Ok(rt.block_on(f))
}

async fn runtime(c: &ConfigArg) -> anyhow::Result<Runtime> {
    Ok(Runtime::from_config(&c.load()?).await?)
}

/// Prints a tick report as text.
pub(crate) fn print_tick(r: &tick::TickReport) {
    print!("{}", tick_text(r));
}

/// A tick report as text: the summary, then one line per notice, decision, reconciliation,
/// idle finding (unknown states, policy defaults), budget finding, drift, expired override,
/// missed summary and problem, then the lost-race count and the next deadline, all in the
/// returned text (nothing printed aside, so the order holds).
fn tick_text(r: &tick::TickReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mode = if r.dry_run { " (dry run)" } else { "" };
    let _ = writeln!(
        out,
        "tick {}{mode}: {} instance(s), {} decision(s), {} notice(s), {} ARM call(s)",
        r.now.format("%Y-%m-%dT%H:%M:%SZ"),
        r.instances,
        r.decisions.len(),
        r.notices.len(),
        r.arm_calls
    );
    for n in &r.notices {
        let _ = writeln!(
            out,
            "  notice  {:<20} stop at {} in {} min ({}-min notice): {}",
            n.instance,
            n.due.format("%Y-%m-%dT%H:%MZ"),
            n.minutes_left,
            n.lead_minutes,
            n.outcome
        );
    }
    for d in &r.decisions {
        let _ = writeln!(
            out,
            "  {:<8} {:<20} {:?} — {} — {}",
            format!("{:?}", d.kind),
            d.instance,
            d.action,
            d.reason,
            d.outcome
        );
    }
    for x in &r.reconciled {
        let _ = writeln!(out, "  reconciled {x}");
    }
    for i in &r.idle {
        let _ = writeln!(out, "  idle: {i}");
    }
    for b in &r.budgets {
        let _ = writeln!(out, "  budget: {b}");
    }
    for d in &r.drift {
        let _ = writeln!(out, "  drift: {d}");
    }
    for x in &r.expired_overrides {
        let _ = writeln!(out, "  expired: {x}");
    }
    for x in &r.missed_summaries {
        let _ = writeln!(out, "  missed   {x}");
    }
    for p in &r.problems {
        let _ = writeln!(out, "  problem: {p}");
    }
    if let Some(line) = r.lost_races_line() {
        let _ = writeln!(out, "  {line}");
    }
    if let Some(n) = r.next_deadline {
        let _ = writeln!(out, "  next: {}", n.format("%Y-%m-%dT%H:%M:%SZ"));
    }
    out
}

/// Runs `curfew tick`.
pub(crate) fn run_tick(args: &TickArgs) -> anyhow::Result<ExitCode> {
    let now = now_or(&args.now)?;
    let report = block_on(async {
        let rt = runtime(&args.config).await?;
        anyhow::Ok(tick::tick(&rt, now, args.dry_run).await?)
    })??;
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        OutputFormat::Text => print_tick(&report),
    }
    Ok(if report.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs `curfew run`: a tick every minute (or earlier when something is due), until SIGTERM.
pub(crate) fn run_daemon(args: &RunArgs) -> anyhow::Result<ExitCode> {
    block_on(async {
        let rt = runtime(&args.config).await?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        let mut done = 0u64;
        loop {
            let now = Utc::now();
            match tick::tick(&rt, now, false).await {
                Ok(r) => print_tick(&r),
                Err(e) => eprintln!("curfew run: tick at {now} failed: {e:#} (retrying next tick)"),
            }
            done += 1;
            if args.ticks.is_some_and(|n| done >= n) {
                return Ok(ExitCode::SUCCESS);
            }
            // Sleep to the next minute boundary; a tick in flight is never interrupted.
            let now = Utc::now();
            let wait = 60 - (now.timestamp() % 60) as u64;
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(wait)) => {}
                _ = term.recv() => { eprintln!("curfew run: SIGTERM, stopping"); return Ok(ExitCode::SUCCESS); }
                _ = tokio::signal::ctrl_c() => { eprintln!("curfew run: interrupted, stopping"); return Ok(ExitCode::SUCCESS); }
            }
        }
    })?
}

/// Runs `curfew dismiss`: exit 0 when honoured, 1 when refused.
pub(crate) fn run_dismiss(args: &DismissArgs) -> anyhow::Result<ExitCode> {
    let now = now_or(&args.now)?;
    let req = match (&args.token, &args.occurrence) {
        (Some(token), _) => {
            DismissalRequest::from_token(token).map_err(|e| anyhow::anyhow!("--token: {e}"))?
        }
        (None, Some(occ)) => {
            let choice = match (args.skip, args.snooze) {
                (true, None) => Choice::Skip,
                (false, Some(minutes)) => Choice::Snooze { minutes },
                _ => anyhow::bail!("say --skip or --snooze MINUTES"),
            };
            DismissalRequest {
                target: Target::Occurrence(occ.clone()),
                choice,
                credential: Credential::ObjectId(args.as_object.clone().unwrap_or_default()),
            }
        }
        (None, None) => anyhow::bail!(
            "give --token, or --occurrence ID with --skip|--snooze MIN and --as OBJECTID"
        ),
    };
    let outcome = block_on(async {
        let rt = runtime(&args.config).await?;
        let outcome = dismiss::dismiss(&rt, req, now).await?;
        rt.deliver(&outcome.events, None, now).await;
        anyhow::Ok(outcome)
    })??;
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&outcome)?),
        OutputFormat::Text => println!(
            "{}: {}",
            if outcome.accepted {
                "accepted"
            } else {
                "refused"
            },
            outcome.message
        ),
    }
    Ok(if outcome.accepted {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Runs `curfew explain`.
pub(crate) fn run_explain(args: &ExplainArgs) -> anyhow::Result<ExitCode> {
    let now = now_or(&args.now)?;
    let e = block_on(async {
        let rt = runtime(&args.config).await?;
        anyhow::Ok(explain::explain(&rt, &args.instance, now).await?)
    })??;
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&e)?),
        OutputFormat::Text => {
            println!(
                "{} ({}) state {}, owner {}",
                e.instance,
                e.id.as_deref().unwrap_or("-"),
                e.state.as_deref().unwrap_or("?"),
                e.owner.as_deref().unwrap_or("-")
            );
            if let Some(t) = e.override_expires {
                let state = if t > now { "until" } else { "expired at" };
                println!("override {state} {}", t.to_rfc3339());
            }
            for line in e.adopted.iter().flat_map(|a| &a.lines) {
                println!("{line}");
            }
            if e.native_stops_enabled {
                println!(
                    "native schedule {} still enabled in Azure ML (a dismissal cannot stop it): disable it in the studio",
                    curfew_engine::governor::overrides::describe_natives(&e.enabled_native_stops)
                );
            }
            println!("schedules in force:");
            for s in &e.schedules {
                println!(
                    "  {}#{} {:?} {} ({}){}",
                    s.source,
                    s.index,
                    s.action,
                    s.trigger,
                    s.time_zone,
                    if s.enabled { "" } else { " [disabled]" }
                );
            }
            for p in &e.problems {
                println!("  problem: {p}");
            }
            println!("next {} days:", explain::EXPLAIN_DAYS);
            for n in &e.next {
                let mut by = n
                    .suppressed_by
                    .as_ref()
                    .map(|c| format!("  (suppressed by {c}: does not fire)"))
                    .unwrap_or_default();
                if let Some(u) = n.snoozed_until {
                    by.push_str(&format!(
                        "  (snoozed until {})",
                        u.format("%Y-%m-%dT%H:%MZ")
                    ));
                }
                println!(
                    "  {} ({})  {:?}  {}  {}{by}",
                    n.at.format("%Y-%m-%dT%H:%MZ"),
                    n.local,
                    n.action,
                    n.source,
                    n.occurrence_id
                );
            }
            println!("notices go to:");
            for r in &e.routes {
                let rules = if r.rules.is_empty() {
                    String::new()
                } else {
                    format!(" [rules: {}]", r.rules.join(", "))
                };
                let channels = if r.channels.is_empty() {
                    "no channel".to_owned()
                } else {
                    r.channels.join(", ")
                };
                println!("  {}: {channels}{rules}", r.events.join(", "));
            }
            println!("history:");
            for h in &e.history {
                println!(
                    "  {}  {:<8} {:<9} {}{}",
                    h.at.format("%Y-%m-%dT%H:%MZ"),
                    h.action,
                    h.state,
                    h.reason,
                    h.outcome
                        .as_deref()
                        .map(|o| format!(" — {o}"))
                        .unwrap_or_default()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_text_shows_idle_unknown_budget_and_drift_lines() {
        let now = Utc::now();
        let r = tick::TickReport {
            instances: 2,
            budgets: vec!["budget 'ml' (/subscriptions/s): 82 % of 100.00 USD spent".into()],
            idle: vec!["ci-1: idle state unknown (last activity report never): reported, not stopped".into()],
            drift: vec!["ci-2: the stop due at 2036-01-01 18:00 UTC was carried out, but 15 min later the instance is Running, not Stopped".into()],
            ..tick::TickReport::empty(now)
        };
        let text = tick_text(&r);
        assert!(
            text.contains("\n  idle: ci-1: idle state unknown"),
            "{text}"
        );
        assert!(text.contains("\n  budget: budget 'ml'"), "{text}");
        assert!(text.contains("\n  drift: ci-2: the stop"), "{text}");
    }

    /// The missed and lost-race lines belong to the returned text (a host or test reading it
    /// saw neither), in the report's order: missed before problems, the race line after them.
    #[test]
    fn tick_text_keeps_missed_and_lost_race_lines_in_order() {
        let r = tick::TickReport {
            expired_overrides: vec!["ci-3: override expired at T, removed".into()],
            missed_summaries: vec!["ci-1: 3 stop(s) missed while the governor was down".into()],
            problems: vec!["listing ws: HTTP 503".into()],
            lost_races: 2,
            next_deadline: Some(Utc::now()),
            ..tick::TickReport::empty(Utc::now())
        };
        let text = tick_text(&r);
        let lost = r.lost_races_line().unwrap();
        let order = [
            "\n  expired: ci-3",
            "\n  missed   ci-1: 3 stop(s) missed",
            "\n  problem: listing ws",
            lost.as_str(),
            "\n  next: ",
        ];
        let at: Vec<usize> = order
            .iter()
            .map(|l| {
                text.find(l)
                    .unwrap_or_else(|| panic!("{l:?} missing in {text}"))
            })
            .collect();
        assert!(at.is_sorted(), "out of order: {text}");
        assert!(text.contains(&format!("\n  {lost}\n")), "{text}");
    }
}

/// What `curfew schedule` does to the override.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ScheduleVerb {
    /// Print the stored override.
    Get,
    /// Replace it with `--file` (validated by the engine; every problem named).
    Set,
    /// Remove it: the native or policy schedules apply again.
    Clear,
}

/// Who acts and how to answer, for the operator's commands (`schedule`, `adopt`).
#[derive(Debug, clap::Args)]
pub(crate) struct OperatorArgs {
    /// Who the audit records as the operator (default: $USER, else `operator`).
    #[arg(long, value_name = "NAME")]
    by: Option<String>,
    /// As of this instant (RFC 3339; default now).
    #[arg(long)]
    now: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
}

impl OperatorArgs {
    /// The operator as the audit records them: `cli:<--by | $USER | operator>`.
    fn operator(&self) -> String {
        let by = self
            .by
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "operator".into());
        format!("cli:{by}")
    }
}

/// Arguments of `curfew schedule`.
#[derive(Debug, clap::Args)]
pub(crate) struct ScheduleArgs {
    /// get, set or clear.
    #[arg(value_enum)]
    verb: ScheduleVerb,
    /// The compute instance's name.
    instance: String,
    #[command(flatten)]
    config: ConfigArg,
    /// For `set`: the override, a `computeStartStop` JSON array or
    /// `{"computeStartStop": [...], "expires": "RFC 3339"}`; `-` reads stdin.
    #[arg(long, value_name = "F")]
    file: Option<String>,
    /// For `set`: after this instant (RFC 3339) the native or policy schedules apply again.
    #[arg(long, value_name = "T")]
    expires: Option<String>,
    /// For `set` and `clear`: only if the stored override is still at this version (from
    /// `schedule get`), else refused (exit 1) and nothing written; `none`: only if there is
    /// no override.
    #[arg(long, value_name = "V")]
    if_version: Option<String>,
    #[command(flatten)]
    op: OperatorArgs,
}

/// Runs `curfew schedule`: 0 done, 1 refused, invalid or unknown instance; bad arguments are
/// errors (exit 2).
pub(crate) fn run_schedule(args: &ScheduleArgs) -> anyhow::Result<ExitCode> {
    use curfew_governor::override_edit::{
        edit_override, EditRequest, EditStatus, Editor, Precondition,
    };
    let now = now_or(&args.op.now)?;
    let expires = args
        .expires
        .as_deref()
        .map(|t| parse_instant("--expires", t))
        .transpose()?;
    let precondition = match args.if_version.as_deref().map(str::trim) {
        None => Precondition::Any,
        Some("none") => Precondition::Absent,
        Some("") => anyhow::bail!("--if-version needs a version (from `schedule get`) or none"),
        Some(v) => Precondition::Version(v.to_owned()),
    };
    let request = match args.verb {
        ScheduleVerb::Get | ScheduleVerb::Clear if args.file.is_some() || expires.is_some() => {
            anyhow::bail!("--file and --expires go with `schedule set` only")
        }
        ScheduleVerb::Get if args.if_version.is_some() => {
            anyhow::bail!("--if-version goes with `schedule set` and `schedule clear` only")
        }
        ScheduleVerb::Get => EditRequest::Get,
        ScheduleVerb::Clear => EditRequest::Clear { precondition },
        ScheduleVerb::Set => {
            let Some(file) = &args.file else {
                anyhow::bail!("`schedule set` needs --file F (a computeStartStop JSON array)")
            };
            let text = if file == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading stdin")?
            } else {
                std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?
            };
            let body = serde_json::from_str(&text).with_context(|| format!("{file}: not JSON"))?;
            EditRequest::Set {
                body,
                expires,
                precondition,
            }
        }
    };
    let by = args.op.operator();
    let outcome = block_on(async {
        let rt = runtime(&args.config).await?;
        anyhow::Ok(
            edit_override(
                &rt,
                &args.instance,
                &Editor::Operator(by.clone()),
                request,
                now,
            )
            .await?,
        )
    })??;
    match args.op.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&outcome)?),
        OutputFormat::Text => {
            println!("{}", outcome.message);
            for p in &outcome.problems {
                println!("  problem: {p}");
            }
            if let Some(v) = &outcome.version {
                println!("version {v}");
            }
            if args.verb == ScheduleVerb::Get && !outcome.current.is_null() {
                println!("{}", serde_json::to_string_pretty(&outcome.current)?);
            }
        }
    }
    Ok(if outcome.status == EditStatus::Done {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Arguments of `curfew adopt`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["instance", "workspace", "all"])))]
pub(crate) struct AdoptArgs {
    /// The compute instance's name.
    instance: Option<String>,
    /// Every instance of this workspace.
    #[arg(long, value_name = "W")]
    workspace: Option<String>,
    /// Every instance in the configured scopes.
    #[arg(long)]
    all: bool,
    /// Print the plan; write nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    config: ConfigArg,
    #[command(flatten)]
    op: OperatorArgs,
}

/// Runs `curfew adopt`: 0 when every selected instance was adopted (or would be), 1 when any
/// was refused, invalid or unknown; bad arguments exit 2.
pub(crate) fn run_adopt(args: &AdoptArgs) -> anyhow::Result<ExitCode> {
    use curfew_governor::override_edit::{adopt, AdoptScope, EditStatus, Editor};
    let now = now_or(&args.op.now)?;
    let scope = match (&args.instance, &args.workspace) {
        (Some(i), _) => AdoptScope::Instance(i.clone()),
        (None, Some(w)) => AdoptScope::Workspace(w.clone()),
        (None, None) => AdoptScope::All,
    };
    let by = args.op.operator();
    let done = block_on(async {
        let rt = runtime(&args.config).await?;
        anyhow::Ok(adopt(&rt, &scope, &Editor::Operator(by), args.dry_run, now).await?)
    })??;
    match args.op.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&done)?),
        OutputFormat::Text => {
            for a in &done {
                println!("{}", a.message);
                for p in &a.problems {
                    println!("  problem: {p}");
                }
                if a.status != EditStatus::Done {
                    continue;
                }
                if a.disable_in_studio.is_empty() {
                    println!("  no native schedule is enabled: nothing to disable in the studio");
                    continue;
                }
                println!(
                    "  disable these native schedules of '{}' (workspace '{}') in the studio:",
                    a.instance, a.workspace
                );
                for n in &a.disable_in_studio {
                    println!("    {n}");
                }
            }
        }
    }
    Ok(if done.iter().all(|a| a.status == EditStatus::Done) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
