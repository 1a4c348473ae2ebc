//! `curfew`: the command line, and the binary the Functions host runs (`curfew serve`).
//!
//! # Layout
//! - `plan`, `validate`, `policy`, `input`: the engine's commands over inventory files.
//! - `report`: `curfew report`, rendered by `curfew_report`.
//! - `govern`: `tick`, `run`, `dismiss`, `explain` over a `curfew_governor::Runtime`.
//! - `exception`: one-off calendar exceptions written into the calendar set file.
//! - `demo` (feature `demo`, on by default): a simulated week on the local ARM simulator.
//! - `serve`: hands over to `curfew_handler`.
//!
//! Exit codes: 0 success (`plan` also when some schedules are bad: they are reported on stderr);
//! 1 `validate` found errors; 2 the input could not be read at all, or the arguments are wrong.

#[cfg(feature = "demo")]
mod demo;
mod exception;
mod govern;
mod input;
mod plan;
mod policy;
mod report;
mod validate;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

/// Output format shared by the commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Aligned lines for people.
    Text,
    /// Stable JSON for programs.
    Json,
}

#[derive(Debug, Parser)]
#[command(
    name = "curfew",
    about = "Schedules, idle shutdown and cost governance for Azure ML compute instances"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List every occurrence of the fleet's schedules in [from, to), sorted by time.
    Plan(plan::PlanArgs),
    /// Check schedules: every problem named by instance, schedule index and field.
    Validate(validate::ValidateArgs),
    /// Default policies: `policy check` shows what each policy appends or audits, and why.
    Policy {
        #[command(subcommand)]
        command: policy::PolicyCommand,
    },
    /// Spend and savings per instance, owner, workspace or day (text, CSV, JSON, HTML).
    Report(report::ReportArgs),
    /// One evaluation of the fleet: decide, notify, execute (exactly once), record.
    Tick(govern::TickArgs),
    /// The standalone daemon: a tick every minute until SIGTERM.
    Run(govern::RunArgs),
    /// Skip or snooze one shutdown (by signed token, or by occurrence id as its owner/an admin).
    Dismiss(govern::DismissArgs),
    /// One instance: schedules in force and their sources, next occurrences, history.
    Explain(govern::ExplainArgs),
    /// One instance's schedule override: `get`, `set --file F [--expires T]` or `clear`
    /// (as an operator: an admin; audited with the before and after).
    Schedule(govern::ScheduleArgs),
    /// Copy native schedules into overrides (INSTANCE, --workspace W or --all; --dry-run) and
    /// list the native ones to disable in the studio.
    Adopt(govern::AdoptArgs),
    /// One-off exceptions in the calendar set file: `keep-running INSTANCE --until T`,
    /// `off INSTANCE --from D --to D`, `prune` (docs/calendars.md).
    Exception {
        #[command(subcommand)]
        command: exception::ExceptionCommand,
    },
    /// A week of a simulated fleet through the real governor: no Azure, no network needed.
    #[cfg(feature = "demo")]
    Demo {
        /// Simulated days to run (from 2026-10-29, across the US DST change).
        #[arg(long, default_value_t = 7)]
        days: i64,
    },
    /// Run the Azure Functions custom handler (what the Functions host starts).
    Serve {
        /// Port to listen on (default: $FUNCTIONS_CUSTOMHANDLER_PORT, else 8080).
        #[arg(long)]
        port: Option<u16>,
    },
}

/// The version line: the crate version plus the zone data this build carries.
fn version() -> &'static str {
    let v = format!(
        "{} (IANA tzdb {}, CLDR {} windowsZones)",
        env!("CARGO_PKG_VERSION"),
        curfew_engine::tz::TZDB_RELEASE,
        curfew_engine::tz::CLDR_RELEASE
    );
    Box::leak(v.into_boxed_str())
}

/// Parses arguments, runs the command, maps the outcome to an exit code.
fn main() -> ExitCode {
    let matches = Cli::command().version(version()).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Command::Plan(args) => plan::run(&args),
        Command::Validate(args) => validate::run(&args),
        Command::Policy { command } => policy::run(&command),
        Command::Report(args) => report::run(&args),
        Command::Tick(args) => govern::run_tick(&args),
        Command::Run(args) => govern::run_daemon(&args),
        Command::Dismiss(args) => govern::run_dismiss(&args),
        Command::Explain(args) => govern::run_explain(&args),
        Command::Schedule(args) => govern::run_schedule(&args),
        Command::Adopt(args) => govern::run_adopt(&args),
        Command::Exception { command } => exception::run(&command),
        #[cfg(feature = "demo")]
        Command::Demo { days } => govern::block_on(async {
            let mut out = std::io::stdout();
            crate::demo::run(&mut out, days).await
        })
        .and_then(|r| r.map(|_| ExitCode::SUCCESS)),
        Command::Serve { port } => curfew_handler::serve(port).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("curfew: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
