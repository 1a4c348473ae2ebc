//! Activity reports from the instances (docs/design.md §8): each is folded into the instance's idle
//! record, which the store keeps with its newest report. The tick turns the record into an idle
//! verdict and, when the instance has been idle past its threshold, an idle stop that goes
//! through the same notices, dismissals and exactly-once execution as a scheduled stop.

use super::error::{GovernError, GovernResult};
use super::Runtime;
use chrono::{DateTime, TimeDelta, Utc};
use curfew_engine::idle::{self, ActivityReport, IdleRecord, Threshold};
use curfew_store::Activity;

/// The threshold assumed when a report arrives before any tick has seen the instance.
pub const DEFAULT_OBSERVE_THRESHOLD: TimeDelta = TimeDelta::minutes(60);

/// The store key of a report's instance: its ARM id, lower-cased (as occurrence ids use).
pub fn report_key(report: &ActivityReport) -> GovernResult<String> {
    report
        .compute_id
        .as_deref()
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| {
            GovernError::Input(format!(
                "activity report of '{}' has no computeId",
                report.instance
            ))
        })
}

/// The idle record kept for an instance, if any.
pub async fn idle_record(rt: &Runtime, key: &str) -> GovernResult<Option<IdleRecord>> {
    Ok(match rt.store.get_activity(key).await? {
        Some(a) => serde_json::from_value(a.details).ok(),
        None => None,
    })
}

/// Folds one (already verified) report into the instance's idle record and stores it.
pub async fn record(
    rt: &Runtime,
    report: &ActivityReport,
    now: DateTime<Utc>,
) -> GovernResult<IdleRecord> {
    let key = report_key(report)?;
    if report.at > now + idle::SIGNATURE_MAX_SKEW {
        return Err(GovernError::Input(format!(
            "activity report of '{}' is from the future ({})",
            report.instance, report.at
        )));
    }
    let previous = idle_record(rt, &key).await?;
    let threshold = previous
        .as_ref()
        .filter(|r| r.threshold_seconds > 0)
        .map_or(Threshold::of(DEFAULT_OBSERVE_THRESHOLD), |r| {
            Threshold::of(TimeDelta::seconds(r.threshold_seconds))
        });
    let next = idle::observe(previous.as_ref(), report, &threshold);
    rt.store
        .put_activity(
            &key,
            &Activity {
                at: report.at,
                busy: report.is_busy(),
                details: serde_json::to_value(&next).unwrap_or_default(),
            },
        )
        .await?;
    Ok(next)
}
