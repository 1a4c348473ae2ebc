//! Activity reports from the instances (docs/design.md §8): each is folded into the instance's idle
//! record, which the store keeps with its newest report. The tick turns the record into an idle
//! verdict and, when the instance has been idle past its threshold, an idle stop that goes
//! through the same notices, dismissals and exactly-once execution as a scheduled stop.
//!
//! A report from outside ([`take`]) has had its signature and binding checked by the engine
//! (`idle::verify_signed_report`) before it gets here; it is then taken only for a compute of
//! the fleet, and only once (its nonce is marked in the store).

use super::error::{GovernError, GovernResult};
use super::Runtime;
use chrono::{DateTime, TimeDelta, Utc};
use curfew_arm::ComputeId;
use curfew_engine::idle::{self, ActivityReport, IdleRecord, Threshold, VerifiedReport};
use curfew_engine::inventory::{self, Item};
use curfew_store::{Activity, MarkKind};

/// The threshold assumed when a report arrives before any tick has seen the instance.
pub const DEFAULT_OBSERVE_THRESHOLD: TimeDelta = TimeDelta::minutes(60);

/// The prefix of the once-only marks that record the nonces of reports taken (timed marks of
/// kind `MarkKind::Nonce`; the store's `LEGACY_NONCE_PREFIX` names the untimed ones of
/// earlier builds).
pub const NONCE_MARK_PREFIX: &str = "activity-nonce/";

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

/// What became of a report that was folded in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folded {
    /// The instance's idle record after it.
    pub record: IdleRecord,
    /// Whether the report changed the record (false: older than the stored one, and moot).
    pub changed: bool,
}

/// Why a verified report was not taken. Never retryable: the same report fails the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportRefused {
    /// Its compute is not one Curfew governs (outside the scopes, gone, or never there).
    #[error("activity report of '{instance}': compute {compute_id} is not in the fleet ({why})")]
    NotInFleet {
        /// The name the report gives.
        instance: String,
        /// The compute id it names.
        compute_id: String,
        /// Outside the scopes, not found, not a compute instance.
        why: String,
    },
    /// Its nonce was taken before: a replay of a report already received.
    #[error("activity report of '{instance}': nonce {nonce} was already used (a replay)")]
    Replayed {
        /// The name the report gives.
        instance: String,
        /// The nonce.
        nonce: String,
    },
}

/// Takes one verified report from outside at `now`: its compute must be in the fleet (an ARM
/// read inside the configured scopes; its name must be the report's) and its nonce unused
/// (marked once in the store, so a replay through any instance of the app is refused); then it
/// is folded in. `Ok(Err(_))` is a refusal; `Err(_)` a store or ARM failure.
pub async fn take(
    rt: &Runtime,
    verified: &VerifiedReport,
    now: DateTime<Utc>,
) -> GovernResult<Result<Folded, ReportRefused>> {
    let report = &verified.report;
    let not_in_fleet = |why: String| ReportRefused::NotInFleet {
        instance: report.instance.clone(),
        compute_id: verified.compute_id.clone(),
        why,
    };
    let Some(id) = ComputeId::parse(&verified.compute_id) else {
        return Ok(Err(not_in_fleet("not a compute ARM id".into())));
    };
    if !super::in_scope(&rt.arm.config().scopes, &id.workspace) {
        return Ok(Err(not_in_fleet("outside the configured scopes".into())));
    }
    let compute = match rt.arm.get_compute(&id).await {
        Ok(c) => c,
        Err(curfew_arm::ArmError::NotFound { .. }) => {
            return Ok(Err(not_in_fleet("no such compute".into())))
        }
        Err(e) => return Err(e.into()),
    };
    match inventory::items(compute.raw.get(), &id.path())
        .ok()
        .map(|items| items.read(0))
    {
        Some(Item::Instance(i)) if i.name.eq_ignore_ascii_case(&report.instance) => {}
        Some(Item::Instance(i)) => {
            return Ok(Err(not_in_fleet(format!(
                "the compute is named '{}'",
                i.name
            ))))
        }
        _ => return Ok(Err(not_in_fleet("not a compute instance".into()))),
    }
    let mark = format!(
        "{NONCE_MARK_PREFIX}{}/{}",
        verified.compute_id, verified.nonce
    );
    // Timed by the report's own signed `at` (a replay carries the same), so the mark can be
    // swept once the signature check refuses the report anyway (`idle::NONCE_MARK_KEEP`).
    if !rt
        .store
        .mark_once(MarkKind::Nonce, &mark, report.at)
        .await?
    {
        return Ok(Err(ReportRefused::Replayed {
            instance: report.instance.clone(),
            nonce: verified.nonce.clone(),
        }));
    }
    record(rt, report, now).await.map(Ok)
}

/// Folds one trusted (already verified, or simulated) report into the instance's idle record
/// and stores it.
pub async fn record(
    rt: &Runtime,
    report: &ActivityReport,
    now: DateTime<Utc>,
) -> GovernResult<Folded> {
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
    let changed = previous.as_ref() != Some(&next);
    if changed {
        // Stamped with the record's newest report: a late busy report changes the record
        // without being the newest, and the store keeps the row of the newest instant.
        rt.store
            .put_activity(
                &key,
                &Activity {
                    at: next.last_report.unwrap_or(report.at),
                    busy: next.idle_since.is_none(),
                    details: serde_json::to_value(&next).unwrap_or_default(),
                },
            )
            .await?;
    }
    Ok(Folded {
        record: next,
        changed,
    })
}
