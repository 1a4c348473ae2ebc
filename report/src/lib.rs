//! Cost report rendering (docs/design.md §9): one [`CostReport`] shown as aligned text, CSV,
//! JSON, or one self-contained HTML page with an inline SVG chart of spend and savings per day.
//! The CLI (`curfew report`), the `Status?view=report` page and `curfew demo` all render here,
//! so the three never disagree.
//!
//! # Layout
//! - [`By`]: the rows of the table; [`Format`]: the output formats.
//! - [`render`]: one report in one format; [`html_page`]: a timeline straight to the page.
//! - [`window_of`]: the report window from optional bounds; [`escape`]: HTML escaping, shared
//!   with every page Curfew serves (instance names and tags are untrusted input).

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use curfew_engine::cost::{
    self, aggregate, evaluate_budgets, BudgetStatus, CostError, CostReport, GroupBy, GroupCost,
    PriceSheet, Timeline, Window,
};
use serde::Serialize;
use std::fmt::Write as _;

/// Why a report could not be made; none is retryable (the input must change).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A window bound is neither a date nor an RFC 3339 instant.
    #[error("{flag} '{text}' is neither YYYY-MM-DD nor RFC 3339 (2026-03-01T00:00:00Z)")]
    Bound {
        /// The flag or parameter that carried it.
        flag: String,
        /// What it said.
        text: String,
    },
    /// No bound was given and the timeline has no records to take one from.
    #[error("the timeline has no state or action records: give {from} and {to}")]
    Empty {
        /// Name of the start bound.
        from: String,
        /// Name of the end bound.
        to: String,
    },
    /// The timeline, window or budgets are invalid.
    #[error(transparent)]
    Cost(#[from] CostError),
    /// JSON output could not be written.
    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// How to group the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
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

impl By {
    /// Every grouping, in the order the CLI lists them.
    pub const ALL: [By; 5] = [
        By::Instance,
        By::Owner,
        By::Workspace,
        By::Subscription,
        By::Day,
    ];

    /// The word the CLI and the pages use for it.
    pub fn name(self) -> &'static str {
        by_name(self)
    }

    /// The grouping a word names, if any.
    pub fn from_name(word: &str) -> Option<By> {
        By::ALL.into_iter().find(|b| b.name() == word)
    }
}

/// Output format of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned tables for people.
    Text,
    /// Comma-separated rows of the chosen grouping (RFC 4180 quoting).
    Csv,
    /// Everything, for programs.
    Json,
    /// One self-contained page: inline CSS and SVG chart, no scripts, no external assets.
    Html,
}

impl Format {
    /// Every format, in the order the CLI lists them.
    pub const ALL: [Format; 4] = [Format::Text, Format::Csv, Format::Json, Format::Html];

    /// The word the CLI uses for it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Html => "html",
        }
    }

    /// The format a word names, if any.
    pub fn from_name(word: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == word)
    }
}

/// Renders `report` grouped `by`, with `budgets` evaluated, in `format`.
pub fn render(
    report: &CostReport,
    by: By,
    budgets: &[BudgetStatus],
    format: Format,
) -> Result<String, ReportError> {
    let groups = match group_by(by) {
        Some(g) => aggregate(report, g),
        None => Vec::new(),
    };
    Ok(match format {
        Format::Text => render_text(report, by, &groups, budgets),
        Format::Csv => render_csv(report, by, &groups),
        Format::Json => render_json(report, by, &groups, budgets)?,
        Format::Html => render_html(report, by_name(by), &groups, budgets),
    })
}

/// An RFC 3339 instant, or a date meaning 00:00 UTC (`flag` names the bound in errors).
pub fn parse_bound(flag: &str, text: &str) -> Result<DateTime<Utc>, ReportError> {
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| ReportError::Bound {
            flag: flag.to_string(),
            text: text.to_string(),
        })
}

/// The report window: the given bounds (each `(name, value)`, the name used in errors), else
/// from the first record's day to the last record.
pub fn window_of(
    timeline: &Timeline,
    from: (&str, Option<&str>),
    to: (&str, Option<&str>),
) -> Result<Window, ReportError> {
    let span = timeline.span();
    let none = || ReportError::Empty {
        from: from.0.to_string(),
        to: to.0.to_string(),
    };
    let lo = match from.1 {
        Some(t) => parse_bound(from.0, t)?,
        None => span
            .map(|(lo, _)| lo.date_naive().and_time(chrono::NaiveTime::MIN).and_utc())
            .ok_or_else(none)?,
    };
    let hi = match to.1 {
        Some(t) => parse_bound(to.0, t)?,
        None => span
            .map(|(_, hi)| hi.max(lo + TimeDelta::minutes(1)))
            .ok_or_else(none)?,
    };
    Ok(Window::new(lo, hi)?)
}

/// The page of `curfew report --format html` (rows by instance) for the timeline `text`
/// (`source` names it in errors) over `from`/`to` (RFC 3339 or `YYYY-MM-DD`; defaults as the
/// command's), priced with `prices` and with `budgets` evaluated: what `Status?view=report`
/// serves.
pub fn html_page(
    text: &str,
    source: &str,
    from: Option<&str>,
    to: Option<&str>,
    prices: &PriceSheet,
    budgets: &[cost::Budget],
) -> Result<String, ReportError> {
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
) -> Result<String, ReportError> {
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

/// `s` made safe inside HTML text and attribute values (`& < > " '`): every page Curfew
/// serves goes through here, since instance names and tags are untrusted input (written once
/// in `curfew_plumbing::html`, which the owners' emails use too).
pub use curfew_plumbing::html::escape;

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

/// The inline SVG bar chart of spend and savings per day (the report's, and the admin view of
/// the self-service page's; its classes are styled by the page that embeds it).
pub fn chart_svg(report: &CostReport) -> String {
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
    let cur = escape(&report.currency);
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
            escape(&money(v))
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
                escape(&money(value))
            );
        }
        if i % label_every == 0 {
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" class="xlabel">{}</text>"##,
                LEFT + slot * (i as f64 + 0.5),
                TOP + plot_h + 18.0,
                escape(&date[5..])
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
fn render_html(
    report: &CostReport,
    by: &str,
    groups: &[GroupCost],
    budgets: &[BudgetStatus],
) -> String {
    let cur = escape(&report.currency);
    let t = &report.totals;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>Curfew cost report</title><style>{CSS}</style></head><body>"
    );
    let _ = writeln!(
        s,
        "<h1>Curfew cost report</h1><div class=\"muted\">{}</div>",
        escape(&window_text(report))
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
            escape(&report.unpriced.join(", "))
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
            escape(title),
            escape(first),
            if with_n { "<th>instances</th>" } else { "" }
        );
        for r in rows {
            let _ = write!(s, "<tr><td>{}</td>", escape(&r[0]));
            if with_n {
                let _ = write!(s, "<td>{}</td>", escape(&r[1]));
            }
            let _ = write!(
                s,
                "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&r[2]),
                escape(&r[3]),
                escape(&r[4]),
                escape(&r[5])
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
                escape(&b.budget.name),
                escape(&b.budget.scope.to_string()),
                money(b.budget.amount),
                money(b.spent),
                b.percent,
                escape(&crossed.join(", "))
            );
        }
        s.push_str("</tbody></table>\n");
    }
    let _ = writeln!(
        s,
        "<p class=\"muted\">Spend = hours in a billed state × price. Savings = hours stopped by Curfew until the next start (observed, else the next scheduled start), within the window. Prices: {}</p>\n</body></html>",
        escape(&report.prices)
    );
    s
}

/// The text report by instance, for `curfew demo`'s last page.
pub fn render_text_report(report: &CostReport, groups: &[GroupCost]) -> String {
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
        assert_eq!(escape("<a href='x'>&"), "&lt;a href=&#39;x&#39;&gt;&amp;");
    }

    /// Instance names, owners, workspaces, sizes, subscriptions, budget names and the source's
    /// name are untrusted: none reaches the page unescaped.
    #[test]
    fn the_page_escapes_every_name_it_shows() {
        let evil = |what: &str| {
            format!("<script>alert('{what}')</script><img src=x onerror=\\\"{what}\\\">")
        };
        let line = |v: serde_json::Value| v.to_string();
        let text = [
            line(serde_json::json!({"kind": "instance", "instance": evil("name"), "vmSize": evil("size"),
                "owner": evil("owner"), "workspace": evil("ws"), "subscription": evil("sub")})),
            line(serde_json::json!({"kind": "state", "instance": evil("name"), "at": "2026-03-02T08:00:00Z", "state": "Running"})),
            line(serde_json::json!({"kind": "action", "instance": evil("name"), "at": "2026-03-02T18:00:00Z",
                "action": "stop", "by": "curfew", "reason": evil("reason"), "nextStart": "2026-03-03T08:00:00Z", "succeeded": true})),
        ]
        .join("\n");
        let budgets = cost::parse_budgets(
            &serde_json::json!([{"name": evil("budget"), "scope": {"workspace": evil("ws")},
                "amount": 1, "thresholds": [80, 100]}])
            .to_string(),
            "budgets.json",
        )
        .unwrap();
        let page = html_page(
            &text,
            &evil("source"),
            None,
            None,
            &PriceSheet::defaults(),
            &budgets,
        )
        .unwrap();
        assert!(
            page.contains("&lt;script&gt;"),
            "the names are shown, escaped"
        );
        assert!(!page.contains("<script"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(!page.contains("alert('"), "{page}");
    }
}
