//! Dismissals (skip or snooze one shutdown): a link token verified first, then resolved to an
//! occurrence (by id, or by instance ARM id and time), authorised by the pure engine (owner,
//! admin or signed link; cap; too late), then recorded. A refused request changes nothing, is
//! audited with its reason (however early it was refused), and is never retried.

use super::delivery::Outgoing;
use super::error::{GovernError, GovernResult};
use super::ledger::to_engine;
use super::Runtime;
use chrono::{DateTime, Utc};
use curfew_arm::ComputeId;
use curfew_engine::governor::dismiss::{Credential, Target};
use curfew_engine::governor::{authorize, link, Choice, Dismissal, DismissalRequest, InstanceView};
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

/// Records a refusal that came before any ledger record was read (a token that does not
/// verify, an occurrence that cannot be found, a request without a requester): every request
/// is audited, whatever becomes of it.
pub async fn audit_refusal(
    rt: &Runtime,
    refusal: &EarlyRefusal<'_>,
    now: DateTime<Utc>,
) -> GovernResult<()> {
    rt.store
        .append_audit(&[AuditRecord {
            at: now,
            kind: "dismissal.rejected".into(),
            instance_id: refusal.instance_id.map(str::to_owned),
            occurrence_id: refusal.occurrence_id.map(str::to_owned),
            message: refusal.reason.to_owned(),
            details: serde_json::json!({
                "requestedBy": refusal.requested_by,
                "choice": refusal.choice,
                "target": refusal.target,
            }),
        }])
        .await?;
    Ok(())
}

/// A refusal made before the ledger was read, as the audit log records it.
#[derive(Debug, Clone, Copy)]
pub struct EarlyRefusal<'a> {
    /// The occurrence, when the request named one that was found (never a token's unverified
    /// claim).
    pub occurrence_id: Option<&'a str>,
    /// The instance, when known.
    pub instance_id: Option<&'a str>,
    /// The requester's object id, `token`, or `nobody`.
    pub requested_by: &'a str,
    /// `skip` or `snooze:MINUTES`.
    pub choice: &'a str,
    /// What the request named, in words.
    pub target: &'a str,
    /// Why it was refused.
    pub reason: &'a str,
}

/// The occurrence a request "by instance and time" names, from the ledger: an ARM id names
/// that instance's record only; a bare name must fit exactly one instance (else it is refused,
/// asking for the ARM id). A Stop wins over a Start at the same instant.
async fn resolve_at(
    rt: &Runtime,
    instance: &str,
    at: DateTime<Utc>,
) -> GovernResult<Result<String, String>> {
    let wanted = instance.trim().trim_end_matches('/');
    let by_id = wanted.contains('/');
    let mut found: Vec<_> = rt
        .store
        .entries_between(at, at + chrono::TimeDelta::seconds(1))
        .await?
        .into_iter()
        .filter(|e| {
            let id = e.value.instance_id.trim_end_matches('/');
            if by_id {
                id.eq_ignore_ascii_case(wanted)
            } else {
                id.rsplit('/')
                    .next()
                    .is_some_and(|n| n.eq_ignore_ascii_case(wanted))
            }
        })
        .collect();
    let mut instances: Vec<String> = found
        .iter()
        .map(|e| e.value.instance_id.to_ascii_lowercase())
        .collect();
    instances.sort();
    instances.dedup();
    if instances.len() > 1 {
        return Ok(Err(format!(
            "'{instance}' names {} instances with an occurrence at {}: give the instance's ARM id",
            instances.len(),
            at.to_rfc3339()
        )));
    }
    found.sort_by_key(|e| e.value.action == curfew_store::LedgerAction::Start);
    Ok(found
        .into_iter()
        .next()
        .map(|e| e.value.occurrence_id)
        .ok_or_else(|| {
            format!(
                "no such occurrence: {instance} at {} is not in the ledger (notices create it)",
                at.to_rfc3339()
            )
        }))
}

/// Handles one request at `now`. A link token is verified before anything is looked up; then
/// the occurrence is found in the ledger (by id, or by instance ARM id and time), the instance
/// read from ARM, and the engine decides. Every request is audited, refused or not. Errors are
/// only for store/ARM failures (retry later); a refused request is an `Ok` with
/// `accepted: false`.
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
    let choice_text = req.choice.to_string();
    let target_text = match &req.target {
        Target::Occurrence(id) => format!("occurrence {id}"),
        Target::At { instance, at } => format!("{instance} at {}", at.to_rfc3339()),
    };
    let early = |occurrence_id: Option<String>, instance_id: Option<String>, reason: String| {
        let requested_by = requested_by.clone();
        let (choice, target) = (choice_text.clone(), target_text.clone());
        async move {
            audit_refusal(
                rt,
                &EarlyRefusal {
                    occurrence_id: occurrence_id.as_deref(),
                    instance_id: instance_id.as_deref(),
                    requested_by: &requested_by,
                    choice: &choice,
                    target: &target,
                    reason: &reason,
                },
                now,
            )
            .await?;
            Ok::<_, GovernError>(refused(occurrence_id, None, reason))
        }
    };
    // A token is checked first (docs/design.md §14): a forged one costs no lookup.
    if let Credential::Token(token) = &req.credential {
        if let Err(e) = link::verify(&rt.link_keys, token, now) {
            return early(None, None, e.to_string()).await;
        }
    }
    let occurrence_id = match &req.target {
        Target::Occurrence(id) => id.clone(),
        Target::At { instance, at } => match resolve_at(rt, instance, *at).await? {
            Ok(id) => id,
            Err(reason) => return early(None, None, reason).await,
        },
    };
    let Some(record) = rt.store.get_entry(&occurrence_id).await? else {
        return early(
            None,
            None,
            format!(
                "no such occurrence {occurrence_id}: it is not in the ledger (notices create it)"
            ),
        )
        .await;
    };
    let Some(id) = ComputeId::parse(&record.value.instance_id) else {
        let reason = format!(
            "the occurrence's instance '{}' is not an ARM id",
            record.value.instance_id
        );
        return early(Some(occurrence_id), None, reason).await;
    };
    let compute = match rt.arm.get_compute(&id).await {
        Ok(c) => c,
        Err(curfew_arm::ArmError::NotFound { .. }) => {
            let reason = format!("instance {} no longer exists", id.path());
            return early(Some(occurrence_id), Some(id.path()), reason).await;
        }
        Err(e) => return Err(e.into()),
    };
    let instance = match inventory::items(compute.raw.get(), &id.path())?.read(0) {
        Item::Instance(i) => *i,
        _ => {
            let reason = format!("{} is not a compute instance", id.path());
            return early(Some(occurrence_id), Some(id.path()), reason).await;
        }
    };
    let mut view = InstanceView::new(&instance, Vec::new());
    let notified = rt
        .store
        .notified_leads(&to_engine(&record.value, &[]).notice_key())
        .await?;
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
        events.push(Outgoing::event(event).about(&instance));
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
