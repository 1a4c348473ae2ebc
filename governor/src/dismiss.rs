//! Dismissals (skip or snooze one shutdown): resolved to an occurrence, authorised by the pure
//! engine (owner, admin or signed link; cap; too late), then recorded. A refused request changes
//! nothing, is audited with its reason, and is never retried.

use super::delivery::Outgoing;
use super::error::{GovernError, GovernResult};
use super::ledger::to_engine;
use super::Runtime;
use chrono::{DateTime, Utc};
use curfew_arm::ComputeId;
use curfew_engine::governor::dismiss::{Credential, Target};
use curfew_engine::governor::{authorize, Choice, Dismissal, DismissalRequest, InstanceView};
use curfew_engine::inventory::{self, Item};
use curfew_notify::{Event, InstanceRef, ShutdownDismissed};
use curfew_store::{AuditRecord, DismissalChoice, LedgerState};
use serde::Serialize;

/// What became of a dismissal request.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DismissOutcome {
    /// Whether it was honoured.
    pub accepted: bool,
    /// The occurrence, when it could be found.
    pub occurrence_id: Option<String>,
    /// The instance, when known.
    pub instance: Option<String>,
    /// For a snooze, when the stop now happens.
    pub due: Option<DateTime<Utc>>,
    /// In words: the acceptance or the reason for refusal.
    pub message: String,
    /// The events it made (`curfew.shutdown.dismissed`), for the caller to deliver.
    #[serde(skip)]
    pub events: Vec<Outgoing>,
}

fn refused(
    occurrence_id: Option<String>,
    instance: Option<String>,
    message: String,
) -> DismissOutcome {
    DismissOutcome {
        accepted: false,
        occurrence_id,
        instance,
        due: None,
        message,
        events: Vec::new(),
    }
}

/// Handles one request at `now`. Errors are only for store/ARM failures (retry later); a
/// refused request is an `Ok` with `accepted: false`.
pub async fn dismiss(
    rt: &Runtime,
    req: DismissalRequest,
    now: DateTime<Utc>,
) -> GovernResult<DismissOutcome> {
    let requested_by = match &req.credential {
        Credential::ObjectId(o) => o.clone(),
        Credential::Token(_) => "token".to_string(),
    };
    let store_choice = match req.choice {
        Choice::Skip => DismissalChoice::Skip,
        Choice::Snooze { minutes } => DismissalChoice::Snooze { minutes },
    };
    let occurrence_id = match &req.target {
        Target::Occurrence(id) => Some(id.clone()),
        Target::At { instance, at } => rt
            .store
            .entries_between(*at, *at + chrono::TimeDelta::seconds(1))
            .await?
            .into_iter()
            .find(|e| {
                e.value
                    .instance_id
                    .rsplit('/')
                    .next()
                    .is_some_and(|n| n.eq_ignore_ascii_case(instance))
            })
            .map(|e| e.value.occurrence_id),
    };
    let Some(occurrence_id) = occurrence_id else {
        return Ok(refused(
            None,
            None,
            "no such occurrence: it is not in the ledger (notices create it)".into(),
        ));
    };
    let Some(record) = rt.store.get_entry(&occurrence_id).await? else {
        return Ok(refused(
            Some(occurrence_id),
            None,
            "no such occurrence: it is not in the ledger (notices create it)".into(),
        ));
    };
    let Some(id) = ComputeId::parse(&record.value.instance_id) else {
        return Ok(refused(
            Some(occurrence_id),
            None,
            format!(
                "the occurrence's instance '{}' is not an ARM id",
                record.value.instance_id
            ),
        ));
    };
    let compute = rt.arm.get_compute(&id).await?;
    let instance = match inventory::items(compute.raw.get(), &id.path())?.read(0) {
        Item::Instance(i) => *i,
        _ => {
            return Err(GovernError::Input(format!(
                "{} is not a compute instance",
                id.path()
            )))
        }
    };
    let mut view = InstanceView::new(&instance, Vec::new());
    let notified = rt.store.notified_leads(&occurrence_id).await?;
    view.ledger.push(to_engine(&record.value, &notified));
    // Authorise against the occurrence found (a request by instance and time names it too).
    let req = DismissalRequest {
        target: Target::Occurrence(occurrence_id.clone()),
        ..req
    };
    let mut result: Result<_, String> =
        authorize(&req, &view, &rt.config, &rt.link_keys, now).map_err(|r| r.to_string());
    // Record it in the ledger first: the update can still refuse it (the governor settled the
    // occurrence in between), and the audit must say what finally happened.
    if let Ok(accepted) = &result {
        if accepted.changed {
            let mut next = record.value.clone();
            match accepted.dismissal {
                Dismissal::Skip => {
                    next.state = LedgerState::Dismissed;
                    next.snoozed_until = None;
                }
                Dismissal::Snooze { until } => {
                    next.state = LedgerState::Snoozed;
                    next.snoozed_until = Some(until);
                }
            }
            next.reason = format!("{} — {}", record.value.reason, accepted.reason);
            next.updated_at = now;
            match rt.store.update_entry(&next, &record.version).await {
                Ok(_) => {}
                Err(e) if e.is_conflict() => {
                    result = Err(
                        "too late: the occurrence changed while the dismissal was being recorded"
                            .into(),
                    )
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    let (accepted, reason) = match &result {
        Ok(a) => (true, a.reason.clone()),
        Err(r) => (false, r.clone()),
    };
    rt.store
        .append_dismissal(&curfew_store::Dismissal {
            occurrence_id: occurrence_id.clone(),
            choice: store_choice,
            requested_by: requested_by.clone(),
            accepted,
            reason: reason.clone(),
            at: now,
        })
        .await?;
    rt.store
        .append_audit(&[AuditRecord {
            at: now,
            kind: if accepted { "dismissal.accepted" } else { "dismissal.rejected" }.into(),
            instance_id: Some(record.value.instance_id.clone()),
            occurrence_id: Some(occurrence_id.clone()),
            message: reason.clone(),
            details: serde_json::json!({"requestedBy": requested_by, "choice": format!("{:?}", req.choice)}),
        }])
        .await?;
    let accepted = match result {
        Err(_) => return Ok(refused(Some(occurrence_id), Some(instance.name), reason)),
        Ok(a) => a,
    };
    let due = match accepted.dismissal {
        Dismissal::Snooze { until } => Some(until),
        Dismissal::Skip => None,
    };
    let mut events = Vec::new();
    if accepted.changed {
        let event = Event::shutdown_dismissed(
            &rt.source,
            now,
            ShutdownDismissed {
                occurrence_id: occurrence_id.clone(),
                instance: InstanceRef {
                    name: instance.name.clone(),
                    id: instance.id.clone().unwrap_or_default(),
                    workspace: id.workspace.workspace.clone(),
                },
                choice: if due.is_some() { "snooze" } else { "skip" }.into(),
                minutes: match req.choice {
                    Choice::Snooze { minutes } => Some(minutes),
                    Choice::Skip => None,
                },
                new_at_utc: due,
                requested_by: match &req.credential {
                    Credential::ObjectId(o) => Some(o.clone()),
                    Credential::Token(_) => None,
                },
                reason: accepted.reason.clone(),
            },
        );
        events.push(Outgoing::event(event));
    }
    Ok(DismissOutcome {
        accepted: true,
        occurrence_id: Some(occurrence_id),
        instance: Some(instance.name),
        due,
        message: accepted.reason,
        events,
    })
}
