//! `curfew exception`: one-off temporary exceptions through the calendar mechanism
//! (docs/calendars.md), written into the calendar set file the `calendars` setting names.
//! Exit codes: 0 written, 1 refused (the set would not load, or the exception never applies),
//! 2 bad arguments or an unreadable file.

use super::input::parse_instant;
use anyhow::Context;
use curfew_engine::holiday::exception::{add_exception, check_set, prune_expired, Exception};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `curfew exception …` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ExceptionCommand {
    /// Keep INSTANCE running until T: no stop fires before then (instance-scoped skip-stop).
    KeepRunning {
        /// The compute's name.
        instance: String,
        /// When the exception ends (RFC 3339), e.g. Friday 18:00.
        #[arg(long)]
        until: String,
        #[command(flatten)]
        file: SetFile,
    },
    /// INSTANCE is off on the local days FROM..=TO: stopped at each day's start, no start.
    Off {
        /// The compute's name.
        instance: String,
        /// First day, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// Last day (inclusive), YYYY-MM-DD.
        #[arg(long)]
        to: String,
        #[command(flatten)]
        file: SetFile,
    },
    /// Remove the exceptions that have ended.
    Prune {
        #[command(flatten)]
        file: SetFile,
    },
}

/// The calendar set file and the instant the command runs at.
#[derive(Debug, clap::Args)]
pub(crate) struct SetFile {
    /// The calendar set (`{"calendars", "assignments"}`, JSON) the `calendars` setting names;
    /// created when missing.
    #[arg(long, value_name = "FILE")]
    file: PathBuf,
    /// Act as of this instant (RFC 3339; default now).
    #[arg(long)]
    now: Option<String>,
}

impl SetFile {
    fn now(&self) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
        self.now
            .as_deref()
            .map_or_else(|| Ok(chrono::Utc::now()), |n| parse_instant("--now", n))
    }

    fn read(&self) -> anyhow::Result<serde_json::Value> {
        match std::fs::read_to_string(&self.file) {
            Ok(t) => serde_json::from_str(&t)
                .with_context(|| format!("{}: not valid JSON", self.file.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(serde_json::Value::Null),
            Err(e) => Err(e).with_context(|| format!("reading {}", self.file.display())),
        }
    }
}

/// Runs a `curfew exception` subcommand.
pub(crate) fn run(command: &ExceptionCommand) -> anyhow::Result<ExitCode> {
    let (file, instance, exception) = match command {
        ExceptionCommand::KeepRunning {
            instance,
            until,
            file,
        } => (
            file,
            instance,
            Some(Exception::KeepRunning {
                until: parse_instant("--until", until)?,
            }),
        ),
        ExceptionCommand::Off {
            instance,
            from,
            to,
            file,
        } => {
            let day = |flag: &str, s: &str| {
                chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .with_context(|| format!("{flag} '{s}' is not a YYYY-MM-DD date"))
            };
            (
                file,
                instance,
                Some(Exception::Off {
                    from: day("--from", from)?,
                    to: day("--to", to)?,
                }),
            )
        }
        ExceptionCommand::Prune { file } => (file, &String::new(), None),
    };
    let now = file.now()?;
    let mut set = file.read()?;
    let message = match exception {
        Some(e) => match add_exception(&mut set, instance, e, now) {
            Ok(name) => format!("added calendar '{name}' for {instance}"),
            Err(problems) => return refused(&problems),
        },
        None => format!(
            "removed {} ended exception(s)",
            prune_expired(&mut set, now)
        ),
    };
    let base = file
        .file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let read = |p: &str| std::fs::read_to_string(base.join(p)).map_err(|e| format!("{p}: {e}"));
    if let Err(problems) = check_set(&set, &read) {
        return refused(&problems);
    }
    let text = serde_json::to_string_pretty(&set)? + "\n";
    std::fs::write(&file.file, text).with_context(|| format!("writing {}", file.file.display()))?;
    println!("{message} in {}", file.file.display());
    Ok(ExitCode::SUCCESS)
}

fn refused(problems: &[curfew_engine::holiday::CalendarProblem]) -> anyhow::Result<ExitCode> {
    for p in problems {
        eprintln!("refused: {p}");
    }
    Ok(ExitCode::from(1))
}
