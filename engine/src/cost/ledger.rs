//! Spend and savings from a timeline: running hours from observed states, savings from Curfew's
//! stops until the next start, split per UTC day; and aggregation by instance, owner, workspace.

use super::prices::PriceSheet;
use super::timeline::{Actor, PowerAction, Timeline};
use super::CostError;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

const MS_PER_HOUR: f64 = 3_600_000.0;
const MS_PER_DAY: i64 = 86_400_000;

/// The report window `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    /// Start, inclusive.
    pub from: DateTime<Utc>,
    /// End, exclusive.
    pub to: DateTime<Utc>,
}

impl Window {
    /// A window; `to` must be after `from`.
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Self, CostError> {
        if to <= from {
            return Err(CostError::Window {
                from: from.to_rfc3339(),
                to: to.to_rfc3339(),
            });
        }
        Ok(Self { from, to })
    }
}

/// Whether Azure bills the VM in this ARM state: the VM is allocated (`Running`, `JobRunning`,
/// `Starting`, `Restarting`, `Stopping`, `SettingUp`, `UserSettingUp`, `UserSetupFailed`,
/// `Resizing`). `Stopped`, `Creating`, `CreateFailed`, `Deleting`, `Unusable`, `Unknown` and
/// anything else are not. Case-insensitive.
pub fn is_billed(state: &str) -> bool {
    const BILLED: [&str; 9] = [
        "running",
        "jobrunning",
        "starting",
        "restarting",
        "stopping",
        "settingup",
        "usersettingup",
        "usersetupfailed",
        "resizing",
    ];
    BILLED.iter().any(|b| b.eq_ignore_ascii_case(state))
}

/// A billed state that means the instance is up (everything billed but `Stopping`).
fn is_up(state: &str) -> bool {
    is_billed(state) && !state.eq_ignore_ascii_case("stopping")
}

/// Cost of one instance over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceCost {
    /// Instance name.
    pub instance: String,
    /// VM size, if known.
    pub vm_size: Option<String>,
    /// Owner, if known.
    pub owner: Option<String>,
    /// Workspace, if known.
    pub workspace: Option<String>,
    /// Subscription, if known.
    pub subscription: Option<String>,
    /// Price per hour from the sheet (`None`: size unknown or not in the sheet; costs count 0).
    pub price_per_hour: Option<f64>,
    /// Hours in a billed state.
    pub running_hours: f64,
    /// `running_hours × price`.
    pub spend: f64,
    /// Unbilled hours after a Curfew stop, until the next start.
    pub saved_hours: f64,
    /// `saved_hours × price`.
    pub savings: f64,
    /// Curfew stops (successful) inside the window.
    pub curfew_stops: u32,
}

/// Totals of one UTC day.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DayCost {
    /// The UTC date.
    pub date: NaiveDate,
    /// Billed hours.
    pub running_hours: f64,
    /// Spend.
    pub spend: f64,
    /// Hours saved.
    pub saved_hours: f64,
    /// Savings.
    pub savings: f64,
}

/// Totals over the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Instances in the report.
    pub instances: usize,
    /// Billed hours.
    pub running_hours: f64,
    /// Spend.
    pub spend: f64,
    /// Hours saved.
    pub saved_hours: f64,
    /// Savings.
    pub savings: f64,
}

/// The cost report: per instance, per day, totals (camelCase JSON for `curfew report`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CostReport {
    /// The window.
    pub window: Window,
    /// Currency of every amount.
    pub currency: String,
    /// Where the prices come from (the sheet's provenance line).
    pub prices: String,
    /// Per instance, by name.
    pub instances: Vec<InstanceCost>,
    /// Per UTC day of the window, in order (every day, zeros included).
    pub daily: Vec<DayCost>,
    /// Totals.
    pub totals: Totals,
    /// Instances whose VM size is unknown or missing from the price sheet (`ci1 (Standard_X)`).
    pub unpriced: Vec<String>,
}

/// How [`aggregate`] groups instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// One row per instance.
    Instance,
    /// Per owner.
    Owner,
    /// Per workspace.
    Workspace,
    /// Per subscription.
    Subscription,
}

/// One row of an aggregated table.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupCost {
    /// The instance, owner, workspace or subscription (`(unknown)` when not known).
    pub key: String,
    /// Instances in the group.
    pub instances: usize,
    /// Billed hours.
    pub running_hours: f64,
    /// Spend.
    pub spend: f64,
    /// Hours saved.
    pub saved_hours: f64,
    /// Savings.
    pub savings: f64,
}

/// Placeholder key for instances without an owner, workspace or subscription.
const UNKNOWN_KEY: &str = "(unknown)";

type Span = (i64, i64);

/// Computes spend and savings over `window`.
///
/// - A state observation holds from its time until the next observation (the last one until
///   the window's end); before an instance's first observation nothing is known or billed.
/// - Savings: for each successful Curfew stop at `s`, the span from `s` until the next start —
///   the first up state observed after the instance was seen down, or a start action, whichever
///   comes first; if none, the stop's `nextStart` (the next scheduled start), bounded by the
///   window; else the window's end — minus any billed time inside it (a stop that did not take
///   effect saves nothing). Overlapping spans (repeated stops) count once.
/// - Both are split per UTC day and priced by the instance's VM size.
pub fn compute(timeline: &Timeline, prices: &PriceSheet, window: Window) -> CostReport {
    let from = window.from.timestamp_millis();
    let to = window.to.timestamp_millis();
    let day0 = from.div_euclid(MS_PER_DAY);
    let days = ((to - 1).div_euclid(MS_PER_DAY) - day0 + 1) as usize;
    let mut daily: Vec<[f64; 4]> = vec![[0.0; 4]; days];
    let mut instances = Vec::new();
    let mut unpriced = Vec::new();
    let mut totals = Totals::default();
    let mut billed: Vec<Span> = Vec::new();
    let mut saving: Vec<Span> = Vec::new();
    for name in timeline.instance_names() {
        let meta = timeline.instances.get(name);
        let states = timeline.states.get(name).map_or(&[][..], Vec::as_slice);
        let actions = timeline.actions.get(name).map_or(&[][..], Vec::as_slice);
        billed.clear();
        for (i, obs) in states.iter().enumerate() {
            if !is_billed(&obs.state) {
                continue;
            }
            let start = obs.at.timestamp_millis().max(from);
            let end = states
                .get(i + 1)
                .map_or(to, |n| n.at.timestamp_millis())
                .min(to);
            if start < end {
                match billed.last_mut() {
                    Some(last) if last.1 >= start => last.1 = last.1.max(end),
                    _ => billed.push((start, end)),
                }
            }
        }
        saving.clear();
        let mut curfew_stops = 0;
        for stop in actions
            .iter()
            .filter(|a| a.action == PowerAction::Stop && a.by == Actor::Curfew && a.succeeded)
        {
            let s = stop.at.timestamp_millis();
            if s < to && s >= from {
                curfew_stops += 1;
            }
            // Both lists are sorted: search from the stop onwards.
            let after = &states[states.partition_point(|o| o.at < stop.at)..];
            let observed_start = after
                .iter()
                .position(|o| !is_billed(&o.state))
                .and_then(|down| after[down..].iter().find(|o| is_up(&o.state)))
                .map(|o| o.at);
            let start_action = actions[actions.partition_point(|a| a.at <= stop.at)..]
                .iter()
                .find(|a| a.action == PowerAction::Start)
                .map(|a| a.at);
            let next = match (observed_start, start_action) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let end = match (next, stop.next_start) {
                (Some(started), _) => started.timestamp_millis().min(to),
                (None, Some(scheduled)) => scheduled.timestamp_millis().min(to),
                (None, None) => to,
            };
            let start = s.max(from);
            if start < end {
                saving.push((start, end));
            }
        }
        saving.sort_unstable();
        let saving = subtract(&merge(&saving), &billed);
        let price = meta
            .and_then(|m| m.vm_size.as_deref())
            .and_then(|size| prices.price(size));
        if price.is_none() {
            unpriced.push(match meta.and_then(|m| m.vm_size.as_deref()) {
                Some(size) => format!("{name} ({size})"),
                None => format!("{name} (no VM size)"),
            });
        }
        let p = price.unwrap_or(0.0);
        let running_hours = add_spans(&mut daily, day0, &billed, p, 0);
        let saved_hours = add_spans(&mut daily, day0, &saving, p, 2);
        let cost = InstanceCost {
            instance: name.to_owned(),
            vm_size: meta.and_then(|m| m.vm_size.clone()),
            owner: meta.and_then(|m| m.owner.clone()),
            workspace: meta.and_then(|m| m.workspace.clone()),
            subscription: meta.and_then(|m| m.subscription.clone()),
            price_per_hour: price,
            running_hours,
            spend: running_hours * p,
            saved_hours,
            savings: saved_hours * p,
            curfew_stops,
        };
        totals.instances += 1;
        totals.running_hours += cost.running_hours;
        totals.spend += cost.spend;
        totals.saved_hours += cost.saved_hours;
        totals.savings += cost.savings;
        instances.push(cost);
    }
    let daily = daily
        .into_iter()
        .enumerate()
        .filter_map(|(i, [rh, spend, sh, savings])| {
            let date =
                DateTime::from_timestamp_millis((day0 + i as i64) * MS_PER_DAY)?.date_naive();
            Some(DayCost {
                date,
                running_hours: rh,
                spend,
                saved_hours: sh,
                savings,
            })
        })
        .collect();
    CostReport {
        window,
        currency: prices.currency.clone(),
        prices: prices.provenance(),
        instances,
        daily,
        totals,
        unpriced,
    }
}

/// Merges sorted spans that overlap or touch.
fn merge(spans: &[Span]) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for &(s, e) in spans {
        match out.last_mut() {
            Some(last) if last.1 >= s => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// `a` minus `b`; both sorted and disjoint.
fn subtract(a: &[Span], b: &[Span]) -> Vec<Span> {
    let mut out = Vec::new();
    let mut j = 0;
    for &(s, e) in a {
        let mut cur = s;
        while j < b.len() && b[j].1 <= cur {
            j += 1;
        }
        let mut k = j;
        while k < b.len() && b[k].0 < e && cur < e {
            if b[k].0 > cur {
                out.push((cur, b[k].0));
            }
            cur = cur.max(b[k].1);
            k += 1;
        }
        if cur < e {
            out.push((cur, e));
        }
    }
    out
}

/// Adds spans to the per-day table (`slot` = hours column; the amount column follows it) and
/// returns the total hours.
fn add_spans(daily: &mut [[f64; 4]], day0: i64, spans: &[Span], price: f64, slot: usize) -> f64 {
    let mut total = 0.0;
    for &(mut s, e) in spans {
        while s < e {
            let day = s.div_euclid(MS_PER_DAY);
            let end = ((day + 1) * MS_PER_DAY).min(e);
            let hours = (end - s) as f64 / MS_PER_HOUR;
            if let Some(row) = daily.get_mut((day - day0) as usize) {
                row[slot] += hours;
                row[slot + 1] += hours * price;
            }
            total += hours;
            s = end;
        }
    }
    total
}

/// Groups a report's instances by instance, owner, workspace or subscription; rows by spend
/// (highest first), then key.
pub fn aggregate(report: &CostReport, by: GroupBy) -> Vec<GroupCost> {
    let mut groups: BTreeMap<String, GroupCost> = BTreeMap::new();
    for i in &report.instances {
        let key = match by {
            GroupBy::Instance => Some(&i.instance),
            GroupBy::Owner => i.owner.as_ref(),
            GroupBy::Workspace => i.workspace.as_ref(),
            GroupBy::Subscription => i.subscription.as_ref(),
        }
        .map_or(UNKNOWN_KEY, String::as_str);
        let row = groups.entry(key.to_owned()).or_insert_with(|| GroupCost {
            key: key.to_owned(),
            instances: 0,
            running_hours: 0.0,
            spend: 0.0,
            saved_hours: 0.0,
            savings: 0.0,
        });
        row.instances += 1;
        row.running_hours += i.running_hours;
        row.spend += i.spend;
        row.saved_hours += i.saved_hours;
        row.savings += i.savings;
    }
    let mut rows: Vec<GroupCost> = groups.into_values().collect();
    rows.sort_by(|a, b| b.spend.total_cmp(&a.spend).then_with(|| a.key.cmp(&b.key)));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_arithmetic() {
        assert_eq!(merge(&[(0, 2), (2, 3), (5, 6)]), vec![(0, 3), (5, 6)]);
        assert_eq!(
            subtract(&[(0, 10), (12, 20)], &[(2, 3), (9, 13), (15, 30)]),
            vec![(0, 2), (3, 9), (13, 15)]
        );
        assert_eq!(subtract(&[(0, 10)], &[]), vec![(0, 10)]);
        assert_eq!(subtract(&[(0, 10)], &[(0, 10)]), vec![]);
    }
}
