//! `curfew report`: spend and savings from a timeline (design §9), as text, CSV, JSON or one
//! self-contained HTML page with an inline SVG chart of spend and savings per day. The `Status`
//! function can serve the same page through [`render_html`].

use anyhow::Context;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use curfew_engine::cost::{
    self, aggregate, evaluate_budgets, BudgetStatus, CostReport, GroupBy, GroupCost, InstanceMeta,
    PriceSheet, Timeline, Window,
};
use serde::Serialize;
use std::fmt::Write as _;
use std::io::Read;
use std::process::ExitCode;

/// How to group the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum By {
    /// One row per instance.
    Instance,
    /// One row per owner.
    Owner,
    /// One row per workspace.
    Workspace,
    /// One row per subscription.
    Subscription,
    /// One row per UTC day.
    Day,
}

/// Output format of `curfew report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ReportFormat {
    /// Aligned tables for people.
    Text,
    /// Comma-separated rows of the chosen grouping (RFC 4180 quoting).
    Csv,
    /// Everything, for programs.
    Json,
    /// One self-contained page: inline CSS and SVG chart, no scripts, no external assets.
    Html,
}

/// Arguments of `curfew report`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// Timeline: JSON lines or a JSON array of instance/state/action records (docs/cost.md);
    /// `-` reads stdin.
    #[arg(long)]
    timeline: String,
    /// Window start: RFC 3339 or YYYY-MM-DD (00:00 UTC). Default: the first record's day.
    #[arg(long)]
    from: Option<String>,
    /// Window end, exclusive: RFC 3339 or YYYY-MM-DD (00:00 UTC). Default: the last record.
    #[arg(long)]
    to: Option<String>,
    /// Rows of the table.
    #[arg(long, value_enum, default_value_t = By::Instance)]
    by: By,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    format: ReportFormat,
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

/// An RFC 3339 instant, or a date meaning 00:00 UTC.
fn parse_bound(flag: &str, text: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc))
        .with_context(|| {
            format!("{flag} '{text}' is neither YYYY-MM-DD nor RFC 3339 (2026-03-01T00:00:00Z)")
        })
}

/// Runs `curfew report`: exit 0 with a report, 2 if an input cannot be read.
pub(crate) fn run(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let text = read_text(&args.timeline, "timeline")?;
    let mut timeline = Timeline::parse(&text, &args.timeline)?;
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
    let prices = match &args.prices {
        Some(path) => PriceSheet::from_json(&read_text(path, "price sheet")?, path)?,
        None => PriceSheet::defaults(),
    };
    let window = window_of(
        &timeline,
        ("--from", args.from.as_deref()),
        ("--to", args.to.as_deref()),
    )?;
    let report = cost::compute(&timeline, &prices, window);
    let budgets = match &args.budgets {
        Some(path) => evaluate_budgets(
            &cost::parse_budgets(&read_text(path, "budgets")?, path)?,
            &report,
        ),
        None => Vec::new(),
    };
    let groups = match group_by(args.by) {
        Some(by) => aggregate(&report, by),
        None => Vec::new(),
    };
    let out = match args.format {
        ReportFormat::Text => render_text(&report, args.by, &groups, &budgets),
        ReportFormat::Csv => render_csv(&report, args.by, &groups),
        ReportFormat::Json => render_json(&report, args.by, &groups, &budgets)?,
        ReportFormat::Html => render_html(&report, by_name(args.by), &groups, &budgets),
    };
    match &args.output {
        Some(path) => std::fs::write(path, out).with_context(|| format!("writing '{path}'"))?,
        None => print!("{out}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The report window: the given bounds (each `(name, value)`, the name used in errors), else
/// from the first record's day to the last record.
fn window_of(
    timeline: &Timeline,
    from: (&str, Option<&str>),
    to: (&str, Option<&str>),
) -> anyhow::Result<Window> {
    let span = timeline.span();
    let none = || {
        format!(
            "the timeline has no state or action records: give {} and {}",
            from.0, to.0
        )
    };
    let lo = match from.1 {
        Some(t) => parse_bound(from.0, t)?,
        None => span
            .map(|(lo, _)| lo.date_naive().and_time(chrono::NaiveTime::MIN).and_utc())
            .with_context(none)?,
    };
    let hi = match to.1 {
        Some(t) => parse_bound(to.0, t)?,
        None => span
            .map(|(_, hi)| hi.max(lo + TimeDelta::minutes(1)))
            .with_context(none)?,
    };
    Ok(Window::new(lo, hi)?)
}

/// The page of `curfew report --format html` (rows by instance) for the timeline `text`
/// (`source` names it in errors) over `from`/`to` (RFC 3339 or `YYYY-MM-DD`; defaults as the
/// command's), priced with `prices` and with `budgets` evaluated: what `Status?view=report`
/// serves.
pub(crate) fn html_page(
    text: &str,
    source: &str,
    from: Option<&str>,
    to: Option<&str>,
    prices: &PriceSheet,
    budgets: &[cost::Budget],
) -> anyhow::Result<String> {
    let timeline = Timeline::parse(text, source)?;
    let window = window_of(&timeline, ("from", from), ("to", to))?;
    let report = cost::compute(&timeline, prices, window);
    let budgets = evaluate_budgets(budgets, &report);
    let groups = aggregate(&report, GroupBy::Instance);
    Ok(render_html(
        &report,
        by_name(By::Instance),
        &groups,
        &budgets,
    ))
}

fn group_by(by: By) -> Option<GroupBy> {
    match by {
        By::Instance => Some(GroupBy::Instance),
        By::Owner => Some(GroupBy::Owner),
        By::Workspace => Some(GroupBy::Workspace),
        By::Subscription => Some(GroupBy::Subscription),
        By::Day => None,
    }
}

fn by_name(by: By) -> &'static str {
    match by {
        By::Instance => "instance",
        By::Owner => "owner",
        By::Workspace => "workspace",
        By::Subscription => "subscription",
        By::Day => "day",
    }
}

/// `1234.5` → `1,234.50`.
fn money(x: f64) -> String {
    let cents = (x * 100.0).round() as i64;
    let (sign, cents) = if cents < 0 {
        ("-", -cents)
    } else {
        ("", cents)
    };
    let units = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in units.chars().enumerate() {
        if i > 0 && (units.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{:02}", cents % 100)
}

fn hours(x: f64) -> String {
    format!("{x:.1}")
}

fn window_text(report: &CostReport) -> String {
    format!(
        "{} – {}",
        report
            .window
            .from
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        report
            .window
            .to
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

/// One row per day, in the cells of [`table_rows`].
fn day_rows(report: &CostReport) -> Vec<[String; 6]> {
    report
        .daily
        .iter()
        .map(|d| {
            [
                d.date.to_string(),
                String::new(),
                hours(d.running_hours),
                money(d.spend),
                hours(d.saved_hours),
                money(d.savings),
            ]
        })
        .collect()
}

/// Rows of the chosen table as `[key, instances, running h, spend, saved h, savings]` cells.
fn table_rows(report: &CostReport, by: By, groups: &[GroupCost]) -> Vec<[String; 6]> {
    if by == By::Day {
        return day_rows(report);
    }
    groups
        .iter()
        .map(|g| {
            [
                g.key.clone(),
                g.instances.to_string(),
                hours(g.running_hours),
                money(g.spend),
                hours(g.saved_hours),
                money(g.savings),
            ]
        })
        .collect()
}

fn render_text(
    report: &CostReport,
    by: By,
    groups: &[GroupCost],
    budgets: &[BudgetStatus],
) -> String {
    let cur = &report.currency;
    let mut out = String::new();
    let _ = writeln!(out, "Curfew cost report, {}", window_text(report));
    let _ = writeln!(out, "prices: {}", report.prices);
    let _ = writeln!(out);
    let header = [
        by_name(by).to_owned(),
        "instances".to_owned(),
        "running h".to_owned(),
        format!("spend {cur}"),
        "saved h".to_owned(),
        format!("savings {cur}"),
    ];
    let t = &report.totals;
    let total = [
        "TOTAL".to_owned(),
        t.instances.to_string(),
        hours(t.running_hours),
        money(t.spend),
        hours(t.saved_hours),
        money(t.savings),
    ];
    let mut rows = vec![header];
    rows.extend(table_rows(report, by, groups));
    rows.push(total);
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for (i, row) in rows.iter().enumerate() {
        if i == rows.len() - 1 {
            let _ = writeln!(out, "{}", "-".repeat(widths.iter().sum::<usize>() + 10));
        }
        let mut line = format!("{:<w$}", row[0], w = widths[0]);
        for c in 1..6 {
            let _ = write!(line, "  {:>w$}", row[c], w = widths[c]);
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    if !report.unpriced.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "warning: no price for {} instance(s), counted at 0: {}",
            report.unpriced.len(),
            report.unpriced.join(", ")
        );
    }
    if !budgets.is_empty() {
        let _ = writeln!(out);
        for b in budgets {
            let crossed: Vec<String> = b
                .exceeded
                .iter()
                .map(|e| format!("{}%", e.threshold))
                .collect();
            let _ = writeln!(
                out,
                "budget {} ({}): {} of {} {cur} = {:.1}%{}",
                b.budget.name,
                b.budget.scope,
                money(b.spent),
                money(b.budget.amount),
                b.percent,
                if crossed.is_empty() {
                    String::new()
                } else {
                    format!(" — exceeded {}", crossed.join(", "))
                }
            );
        }
    }
    out
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn render_csv(report: &CostReport, by: By, groups: &[GroupCost]) -> String {
    let mut out = String::new();
    let cur = &report.currency;
    if by == By::Day {
        let _ = writeln!(out, "date,running_hours,spend,saved_hours,savings,currency");
        for d in &report.daily {
            let _ = writeln!(
                out,
                "{},{:.4},{:.2},{:.4},{:.2},{}",
                d.date,
                d.running_hours,
                d.spend,
                d.saved_hours,
                d.savings,
                csv_cell(cur)
            );
        }
        return out;
    }
    let _ = writeln!(
        out,
        "{},instances,running_hours,spend,saved_hours,savings,currency",
        by_name(by)
    );
    for g in groups {
        let _ = writeln!(
            out,
            "{},{},{:.4},{:.2},{:.4},{:.2},{}",
            csv_cell(&g.key),
            g.instances,
            g.running_hours,
            g.spend,
            g.saved_hours,
            g.savings,
            csv_cell(cur)
        );
    }
    out
}

/// The `report --format json` document; field names are a stable contract.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonReport<'a> {
    window: cost::Window,
    currency: &'a str,
    prices: &'a str,
    by: &'a str,
    groups: &'a [GroupCost],
    totals: &'a cost::Totals,
    daily: &'a [cost::DayCost],
    instances: &'a [cost::InstanceCost],
    unpriced: &'a [String],
    budgets: &'a [BudgetStatus],
}

fn render_json(
    report: &CostReport,
    by: By,
    groups: &[GroupCost],
    budgets: &[BudgetStatus],
) -> anyhow::Result<String> {
    let doc = JsonReport {
        window: report.window,
        currency: &report.currency,
        prices: &report.prices,
        by: by_name(by),
        groups,
        totals: &report.totals,
        daily: &report.daily,
        instances: &report.instances,
        unpriced: &report.unpriced,
        budgets,
    };
    Ok(serde_json::to_string_pretty(&doc)? + "\n")
}

fn esc(s: &str) -> String {
    crate::functions::pages::escape(s)
}

/// A round axis maximum ≥ `max` (1, 2, 2.5 or 5 × 10ⁿ) and its tick step.
fn axis(max: f64) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 0.25);
    }
    let raw = max / 4.0;
    let pow = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * pow)
        .find(|s| s * 4.0 >= max)
        .unwrap_or(10.0 * pow);
    (step * 4.0, step)
}

/// The inline SVG bar chart of spend and savings per day.
fn chart_svg(report: &CostReport) -> String {
    const W: f64 = 1040.0;
    const H: f64 = 340.0;
    const LEFT: f64 = 80.0;
    const RIGHT: f64 = 20.0;
    const TOP: f64 = 20.0;
    const BOTTOM: f64 = 60.0;
    let days = &report.daily;
    let max = days
        .iter()
        .map(|d| d.spend.max(d.savings))
        .fold(0.0, f64::max);
    let (top, step) = axis(max);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let n = days.len().max(1) as f64;
    let slot = plot_w / n;
    let bar = (slot * 0.38).min(28.0);
    let y = |v: f64| TOP + plot_h - v / top * plot_h;
    let cur = esc(&report.currency);
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg id="spend-savings-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="100%" role="img" aria-labelledby="chart-title"><title id="chart-title">Spend and savings per day ({cur})</title>"##
    );
    let mut v = 0.0;
    while v <= top + step / 2.0 {
        let yy = y(v);
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" class="grid"/><text x="{}" y="{:.1}" class="ylabel">{}</text>"##,
            W - RIGHT,
            LEFT - 8.0,
            yy + 4.0,
            esc(&money(v))
        );
        v += step;
    }
    let label_every = ((n / 15.0).ceil() as usize).max(1);
    for (i, d) in days.iter().enumerate() {
        let x0 = LEFT + slot * i as f64 + (slot - 2.0 * bar) / 2.0;
        let date = d.date.to_string();
        for (k, (value, class, what)) in
            [(d.spend, "spend", "spend"), (d.savings, "savings", "saved")]
                .into_iter()
                .enumerate()
        {
            let top_y = y(value);
            let _ = write!(
                s,
                r##"<rect class="{class}" x="{:.1}" y="{top_y:.1}" width="{bar:.1}" height="{:.1}"><title>{date}: {what} {} {cur}</title></rect>"##,
                x0 + bar * k as f64,
                (TOP + plot_h - top_y).max(0.0),
                esc(&money(value))
            );
        }
        if i % label_every == 0 {
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" class="xlabel">{}</text>"##,
                LEFT + slot * (i as f64 + 0.5),
                TOP + plot_h + 18.0,
                esc(&date[5..])
            );
        }
    }
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" x2="{}" y1="{:.1}" y2="{:.1}" class="axis"/><rect x="{LEFT}" y="{}" width="14" height="14" class="spend"/><text x="{}" y="{}" class="legend">spend</text><rect x="{}" y="{}" width="14" height="14" class="savings"/><text x="{}" y="{}" class="legend">savings (stopped by Curfew)</text></svg>"##,
        W - RIGHT,
        TOP + plot_h,
        TOP + plot_h,
        H - 22.0,
        LEFT + 20.0,
        H - 10.0,
        LEFT + 90.0,
        H - 22.0,
        LEFT + 110.0,
        H - 10.0
    );
    s
}

const CSS: &str = "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d2330;margin:24px 32px;background:#fafbfc}\
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}\
.muted{color:#5b6475;font-size:13px}\
.cards{display:flex;gap:16px;margin:18px 0;flex-wrap:wrap}\
.card{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:12px 18px;min-width:170px}\
.card b{display:block;font-size:22px}.card.spend b{color:#2456a6}.card.savings b{color:#1f8a4c}\
table{border-collapse:collapse;background:#fff;border:1px solid #dde2ea;min-width:60%}\
th,td{padding:6px 12px;border-bottom:1px solid #eef1f5;text-align:right;white-space:nowrap}\
th:first-child,td:first-child{text-align:left}th{background:#f2f4f8;font-weight:600}\
tr.total td{font-weight:700;border-top:2px solid #c9d0db}\
.chart{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:8px}\
svg .grid{stroke:#e6e9ef;stroke-width:1}svg .axis{stroke:#8a93a3;stroke-width:1}\
svg .spend{fill:#2f6fd0}svg .savings{fill:#2fa565}\
svg text{font:12px system-ui,sans-serif;fill:#5b6475}svg .ylabel{text-anchor:end}\
svg .xlabel{text-anchor:middle}svg .legend{fill:#1d2330;font-size:13px}\
.warn{background:#fff6e0;border:1px solid #f0d58a;border-radius:6px;padding:8px 12px;margin:12px 0}";

/// The whole report as one self-contained HTML page (inline CSS, inline SVG, no scripts).
pub(crate) fn render_html(
    report: &CostReport,
    by: &str,
    groups: &[GroupCost],
    budgets: &[BudgetStatus],
) -> String {
    let cur = esc(&report.currency);
    let t = &report.totals;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>Curfew cost report</title><style>{CSS}</style></head><body>"
    );
    let _ = writeln!(
        s,
        "<h1>Curfew cost report</h1><div class=\"muted\">{}</div>",
        esc(&window_text(report))
    );
    let _ = writeln!(
        s,
        "<div class=\"cards\"><div class=\"card spend\">Spend<b>{} {cur}</b>{} running hours</div><div class=\"card savings\">Saved by Curfew<b>{} {cur}</b>{} hours stopped</div><div class=\"card\">Instances<b>{}</b>{} Curfew stops</div></div>",
        money(t.spend),
        hours(t.running_hours),
        money(t.savings),
        hours(t.saved_hours),
        t.instances,
        report.instances.iter().map(|i| u64::from(i.curfew_stops)).sum::<u64>()
    );
    if !report.unpriced.is_empty() {
        let _ = writeln!(
            s,
            "<div class=\"warn\">No price for {} instance(s), counted at 0: {}</div>",
            report.unpriced.len(),
            esc(&report.unpriced.join(", "))
        );
    }
    let _ = writeln!(
        s,
        "<h2>Spend and savings per day (UTC)</h2><div class=\"chart\">{}</div>",
        chart_svg(report)
    );
    let table = |s: &mut String, title: &str, first: &str, rows: Vec<[String; 6]>, with_n: bool| {
        let _ = write!(
            s,
            "<h2>{}</h2><table><thead><tr><th>{}</th>{}<th>running h</th><th>spend {cur}</th><th>saved h</th><th>savings {cur}</th></tr></thead><tbody>",
            esc(title),
            esc(first),
            if with_n { "<th>instances</th>" } else { "" }
        );
        for r in rows {
            let _ = write!(s, "<tr><td>{}</td>", esc(&r[0]));
            if with_n {
                let _ = write!(s, "<td>{}</td>", esc(&r[1]));
            }
            let _ = write!(
                s,
                "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r[2]),
                esc(&r[3]),
                esc(&r[4]),
                esc(&r[5])
            );
        }
        let _ = writeln!(
            s,
            "<tr class=\"total\"><td>total</td>{}<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></tbody></table>",
            if with_n { format!("<td>{}</td>", t.instances) } else { String::new() },
            hours(t.running_hours),
            money(t.spend),
            hours(t.saved_hours),
            money(t.savings)
        );
    };
    if by != "day" && !groups.is_empty() {
        let rows = groups
            .iter()
            .map(|g| {
                [
                    g.key.clone(),
                    g.instances.to_string(),
                    hours(g.running_hours),
                    money(g.spend),
                    hours(g.saved_hours),
                    money(g.savings),
                ]
            })
            .collect();
        table(&mut s, &format!("By {by}"), by, rows, true);
    }
    table(&mut s, "Per day (UTC)", "date", day_rows(report), false);
    if !budgets.is_empty() {
        let _ = write!(
            s,
            "<h2>Budgets</h2><table><thead><tr><th>budget</th><th>scope</th><th>amount {cur}</th><th>spent {cur}</th><th>used</th><th>thresholds reached</th></tr></thead><tbody>"
        );
        for b in budgets {
            let crossed: Vec<String> = b
                .exceeded
                .iter()
                .map(|e| format!("{}%", e.threshold))
                .collect();
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}%</td><td>{}</td></tr>",
                esc(&b.budget.name),
                esc(&b.budget.scope.to_string()),
                money(b.budget.amount),
                money(b.spent),
                b.percent,
                esc(&crossed.join(", "))
            );
        }
        s.push_str("</tbody></table>\n");
    }
    let _ = writeln!(
        s,
        "<p class=\"muted\">Spend = hours in a billed state × price. Savings = hours stopped by Curfew until the next start (observed, else the next scheduled start), within the window. Prices: {}</p>\n</body></html>",
        esc(&report.prices)
    );
    s
}

/// The text report by instance, for `curfew demo`'s last page.
pub(crate) fn render_text_report(report: &CostReport, groups: &[GroupCost]) -> String {
    render_text(report, By::Instance, groups, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_axis() {
        assert_eq!(money(1234.5), "1,234.50");
        assert_eq!(money(0.004), "0.00");
        assert_eq!(money(-12.345), "-12.35");
        assert_eq!(money(1_000_000.0), "1,000,000.00");
        assert_eq!(axis(63.25), (80.0, 20.0));
        assert_eq!(axis(0.0), (1.0, 0.25));
        assert_eq!(axis(9.0), (10.0, 2.5));
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(esc("<a href='x'>&"), "&lt;a href=&#39;x&#39;&gt;&amp;");
    }
}
