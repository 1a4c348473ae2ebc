//! Budgets (docs/design.md §9): the month's spend per scope, from the cost timeline in the store,
//! against each budget; each threshold crossed emits `curfew.budget.exceeded` once per budget,
//! month and threshold (the mark is the store's timed once-only mark, `mark_once` of
//! `MarkKind::Budget`, timed by the month's start and swept once the month is past the horizon).

use super::delivery::Outgoing;
use super::Runtime;
use chrono::{DateTime, Datelike, TimeZone, Utc};
use curfew_engine::cost::{self, evaluate_budgets, Timeline};
use curfew_notify::{BudgetExceeded, Event};
use curfew_store::MarkKind;

/// How often (minutes past the hour) a tick checks budgets: reading the whole timeline every
/// minute would be wasted work, and budgets move slowly.
pub const CHECK_EVERY_MINUTES: u32 = 15;

/// The first instant of `now`'s calendar month (UTC), where a budget period starts.
pub fn month_start(now: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now)
}

/// The instant before which budget marks may be swept at `now`, with retention `horizon`:
/// the start of the month holding `now - horizon`, so only months that ended before the
/// horizon lose their marks and an alert is never sent twice within its month.
pub fn budget_marks_sweep_before(now: DateTime<Utc>, horizon: chrono::TimeDelta) -> DateTime<Utc> {
    month_start(now - horizon)
}

/// Checks every budget now if it is time to; returns one line per threshold crossed (or
/// problem) and the events to deliver. A threshold is claimed in the store before its event
/// is made, so racing governors alert once.
pub async fn check(rt: &Runtime, now: DateTime<Utc>, force: bool) -> (Vec<String>, Vec<Outgoing>) {
    let mut events = Vec::new();
    let lines = check_into(rt, now, force, &mut events).await;
    (lines, events)
}

async fn check_into(
    rt: &Runtime,
    now: DateTime<Utc>,
    force: bool,
    events: &mut Vec<Outgoing>,
) -> Vec<String> {
    let mut lines = Vec::new();
    if rt.budgets.is_empty() {
        return lines;
    }
    if !force && now.timestamp() % (60 * i64::from(CHECK_EVERY_MINUTES)) >= 60 {
        return lines;
    }
    // The store's timeline: every governor's records, not only this process's.
    let until = now + chrono::TimeDelta::seconds(1);
    let timeline: Timeline = match super::costlog::load_from_store(rt.store.as_ref(), until).await {
        Ok(t) => t,
        Err(e) => {
            lines.push(format!("budgets: {e}"));
            return lines;
        }
    };
    let from = month_start(now);
    let Ok(window) = cost::Window::new(from, now.max(from + chrono::TimeDelta::seconds(1))) else {
        return lines;
    };
    let report = cost::compute(&timeline, &rt.prices, window);
    let period = from.format("%Y-%m").to_string();
    for status in evaluate_budgets(&rt.budgets, &report) {
        for ex in status.exceeded {
            let threshold = ex.threshold.round().clamp(0.0, 100_000.0) as u32;
            // The ledger's notification marks deduplicate across ticks and governors.
            // Timed by the period's start, so the retention sweep can take past months.
            match rt
                .store
                .mark_once(MarkKind::Budget, &ex.dedup_key, from)
                .await
            {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    lines.push(format!("budgets: recording {}: {e}", ex.dedup_key));
                    continue;
                }
            }
            // An untimed mark of an earlier build: this threshold was alerted before the upgrade.
            match rt.store.notified_leads(&ex.dedup_key).await {
                Ok(leads) if leads.contains(&threshold) => continue,
                Ok(_) => {}
                Err(e) => {
                    lines.push(format!("budgets: reading {}: {e}", ex.dedup_key));
                    continue;
                }
            }
            let event = Event::budget_exceeded(
                &rt.source,
                now,
                BudgetExceeded {
                    scope: ex.scope.clone(),
                    budget: ex.budget.clone(),
                    period: period.clone(),
                    threshold_percent: threshold,
                    spent: ex.spent,
                    amount: ex.amount,
                    currency: ex.currency.clone(),
                },
            );
            events.push(Outgoing::event(event));
            lines.push(format!(
                "budget '{}' ({}): {:.0} % of {:.2} {} spent in {period}, past {threshold} %",
                ex.budget, ex.scope, ex.percent, ex.amount, ex.currency
            ));
        }
    }
    lines
}

#[cfg(test)]
mod sweep_tests {
    use super::*;

    /// A budget mark is timed by its month's start: the sweep's instant never passes the
    /// start of the month in progress (an alert is not resent within its month), and takes a
    /// month only once it ended before the horizon.
    #[test]
    fn budget_marks_go_only_with_months_fully_past_the_horizon() {
        let horizon = chrono::TimeDelta::days(90);
        let at = |m, d, h| Utc.with_ymd_and_hms(2026, m, d, h, 0, 0).unwrap();
        for now in [at(1, 1, 0), at(3, 31, 23), at(6, 15, 12), at(12, 31, 23)] {
            let before = budget_marks_sweep_before(now, horizon);
            assert!(before <= month_start(now), "{now}");
            assert!(
                before <= now - horizon,
                "{now}: a month past the horizon only"
            );
            // The month holding `now - horizon` is not fully past it: kept.
            assert_eq!(before, month_start(now - horizon));
        }
        // Retention's minimum (7 days) still keeps the month in progress.
        let now = at(3, 1, 0);
        assert_eq!(
            budget_marks_sweep_before(now, chrono::TimeDelta::days(7)),
            at(2, 1, 0)
        );
    }
}
