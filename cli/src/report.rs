//! `curfew report`: spend and savings from a timeline (docs/design.md §9), rendered by
//! `curfew_report` as text, CSV, JSON or one self-contained HTML page, the same page the
//! `Status` function serves. The timeline is the store's (`--config`, every governor's
//! records), or a file (`--timeline`, for offline use).

use anyhow::Context;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use curfew_engine::cost::{self, evaluate_budgets, InstanceMeta, PriceSheet, Timeline};
use curfew_report::{By, Format};
use std::io::Read;
use std::process::ExitCode;

fn by_parser() -> impl TypedValueParser<Value = By> {
    PossibleValuesParser::new(By::ALL.map(By::name))
        .map(|w| By::from_name(&w).expect("clap checked the word"))
}

fn format_parser() -> impl TypedValueParser<Value = Format> {
    PossibleValuesParser::new(Format::ALL.map(Format::name))
        .map(|w| Format::from_name(&w).expect("clap checked the word"))
}

/// Arguments of `curfew report`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// Timeline: JSON lines or a JSON array of instance/state/action records (docs/cost.md);
    /// `-` reads stdin.
    #[arg(long, required_unless_present = "config", conflicts_with = "config")]
    timeline: Option<String>,
    /// Settings file of the governor (as `curfew tick --config`): the timeline is read from
    /// its store, and its prices and budgets apply unless `--prices`/`--budgets` are given.
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Window start: RFC 3339 or YYYY-MM-DD (00:00 UTC). Default: the first record's day.
    #[arg(long)]
    from: Option<String>,
    /// Window end, exclusive: RFC 3339 or YYYY-MM-DD (00:00 UTC). Default: the last record.
    #[arg(long)]
    to: Option<String>,
    /// Rows of the table.
    #[arg(long, default_value = "instance", value_parser = by_parser())]
    by: By,
    /// Output format.
    #[arg(long, default_value = "text", value_parser = format_parser())]
    format: Format,
    /// Price sheet overriding the shipped defaults (same format as engine/data/prices.json).
    #[arg(long)]
    prices: Option<String>,
    /// Inventory file giving VM sizes, owners and workspaces the timeline lacks.
    #[arg(long)]
    inventory: Option<String>,
    /// Budgets (JSON array, docs/cost.md): shows each one's status and crossed thresholds.
    #[arg(long)]
    budgets: Option<String>,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    output: Option<String>,
}

fn read_text(path: &str, what: &str) -> anyhow::Result<String> {
    if path == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .with_context(|| format!("reading the {what} from stdin"))?;
        Ok(s)
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {what} '{path}'"))
    }
}

/// Runs `curfew report`: exit 0 with a report, 2 if an input cannot be read.
pub(crate) fn run(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let (text, source, configured) = match (&args.timeline, &args.config) {
        (Some(path), _) => (read_text(path, "timeline")?, path.clone(), None),
        (None, config) => {
            let c = super::govern::ConfigArg::from_path(config.clone()).load()?;
            let text = super::govern::block_on(async {
                let rt = curfew_governor::Runtime::from_config(&c).await?;
                anyhow::Ok(
                    curfew_governor::costlog::store_timeline_text(rt.store.as_ref(), None).await?,
                )
            })??;
            let source = curfew_governor::costlog::STORE_TIMELINE.to_owned();
            (text, source, Some(c))
        }
    };
    let mut timeline = Timeline::parse(&text, &source)?;
    if let Some(path) = &args.inventory {
        let inventory = super::input::read_inventory(path)?;
        for instance in &inventory.instances {
            // The timeline's own metadata wins: add the inventory's first, then re-apply.
            let mut meta = InstanceMeta::from_instance(instance);
            if let Some(existing) = timeline.instances.get(&instance.name) {
                let e = existing.clone();
                meta.vm_size = e.vm_size.or(meta.vm_size);
                meta.owner = e.owner.or(meta.owner);
                meta.workspace = e.workspace.or(meta.workspace);
                meta.subscription = e.subscription.or(meta.subscription);
                meta.compute_id = e.compute_id.or(meta.compute_id);
            }
            timeline.add_meta(meta);
        }
    }
    let prices = match (&args.prices, &configured) {
        (Some(path), _) => PriceSheet::from_json(&read_text(path, "price sheet")?, path)?,
        (None, Some(c)) => c.prices.clone(),
        (None, None) => PriceSheet::defaults(),
    };
    let window = curfew_report::window_of(
        &timeline,
        ("--from", args.from.as_deref()),
        ("--to", args.to.as_deref()),
    )?;
    let report = cost::compute(&timeline, &prices, window);
    let budgets = match (&args.budgets, &configured) {
        (Some(path), _) => evaluate_budgets(
            &cost::parse_budgets(&read_text(path, "budgets")?, path)?,
            &report,
        ),
        (None, Some(c)) => evaluate_budgets(&c.budgets, &report),
        (None, None) => Vec::new(),
    };
    let out = curfew_report::render(&report, args.by, &budgets, args.format)?;
    match &args.output {
        Some(path) => std::fs::write(path, out).with_context(|| format!("writing '{path}'"))?,
        None => print!("{out}"),
    }
    Ok(ExitCode::SUCCESS)
}
