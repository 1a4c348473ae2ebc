//! Reading, setting and clearing one instance's schedule override (issue 12), for the
//! `Schedules` function and `curfew schedule`: the caller authorised first (owner or admin,
//! as for dismissals; the CLI's operator is an admin), then the body validated by the engine
//! with every problem named, then the store written. Every change and every refusal is
//! audited with who asked, and a change with the override before and after.

use super::error::GovernResult;
use super::Runtime;
use chrono::{DateTime, Utc};
use curfew_engine::governor::{authorize_editor, parse_override, Authority, InstanceView};
use curfew_store::AuditRecord;
use serde::Serialize;
use serde_json::{json, Value};

/// Who asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Editor {
    /// A signed-in principal (App Service Authentication's `X-MS-CLIENT-PRINCIPAL-ID`; empty
    /// when nobody signed in): must be the owner or a configured admin.
    Principal(String),
    /// Whoever runs the CLI with the deployment's own configuration (its store and ARM
    /// credentials): already able to write the store, so an admin; the name is for the audit.
    Operator(String),
}

/// What the caller wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum EditRequest {
    /// Read the stored override.
    Get,
    /// Replace it with this body (`computeStartStop` array or `{computeStartStop, expires}`);
    /// `expires` applies when the body has none.
    Set {
        /// The body as sent.
        body: Value,
        /// An expiry given beside the body (`--expires`).
        expires: Option<DateTime<Utc>>,
    },
    /// Remove it: the native or policy schedules apply again.
    Clear,
}

/// How an edit ended; decides the HTTP status and the CLI's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum EditStatus {
    /// Done (or read).
    Done,
    /// Not the owner or an admin (403, exit 1).
    Refused,
    /// The body has problems (400, exit 1).
    Invalid,
    /// No such instance in the configured scopes (404, exit 1).
    NotFound,
}

/// What an edit did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EditOutcome {
    /// How it ended.
    pub status: EditStatus,
    /// The instance as asked.
    pub instance: String,
    /// In words.
    pub message: String,
    /// Every problem of an invalid body, each naming instance, schedule and field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// The stored override after the request (`null`: none).
    pub current: Value,
}

fn who(editor: &Editor) -> (&str, &'static str) {
    match editor {
        Editor::Principal(p) => (p.as_str(), "principal"),
        Editor::Operator(o) => (o.as_str(), "operator"),
    }
}

/// Performs `request` on the override of the instance named `name` (case-insensitive) at
/// `now`. Refusals are outcomes, not errors; errors are store/ARM failures only.
pub async fn edit_override(
    rt: &Runtime,
    name: &str,
    editor: &Editor,
    request: EditRequest,
    now: DateTime<Utc>,
) -> GovernResult<EditOutcome> {
    let (by, kind_of_caller) = who(editor);
    let verb = match &request {
        EditRequest::Get => "read",
        EditRequest::Set { .. } => "set",
        EditRequest::Clear => "clear",
    };
    let audit = |kind: &str, instance_id: Option<String>, message: String, details: Value| {
        let mut d = json!({ "by": by, "caller": kind_of_caller, "request": verb });
        if let (Value::Object(m), Value::Object(extra)) = (&mut d, details) {
            m.extend(extra);
        }
        AuditRecord {
            at: now,
            kind: kind.into(),
            instance_id,
            occurrence_id: None,
            message,
            details: d,
        }
    };
    let outcome = |status, message: String, problems, current| EditOutcome {
        status,
        instance: name.to_string(),
        message,
        problems,
        current,
    };
    // A refusal before any override is read: audited as `override.rejected`, nothing current.
    let reject = async |status, instance_id, message: String, details| -> GovernResult<_> {
        rt.store
            .append_audit(&[audit(
                "override.rejected",
                instance_id,
                message.clone(),
                details,
            )])
            .await?;
        Ok(outcome(status, message, Vec::new(), Value::Null))
    };
    let fleet = rt.fleet().await;
    let Some(fi) = fleet.named(name) else {
        // Strangers learn nothing about which instances exist: to them an unknown instance is
        // refused like somebody else's.
        if let Editor::Principal(p) = editor {
            if let Err(e) = authorize_editor(name, None, &rt.config.admins, p) {
                let message = e.to_string();
                return reject(
                    EditStatus::Refused,
                    None,
                    message,
                    json!({ "instance": name, "unknown": true }),
                )
                .await;
            }
        }
        let message = format!("no compute instance named '{name}' in the configured scopes");
        return reject(
            EditStatus::NotFound,
            None,
            message,
            json!({ "instance": name }),
        )
        .await;
    };
    let view = InstanceView::new(&fi.instance, Vec::new());
    let key = view.key();
    let authority = match editor {
        Editor::Operator(o) => Authority::Admin {
            object_id: o.clone(),
        },
        Editor::Principal(p) => {
            match authorize_editor(
                &fi.instance.name,
                view.owner.as_deref(),
                &rt.config.admins,
                p,
            ) {
                Ok(a) => a,
                Err(e) => {
                    let message = e.to_string();
                    return reject(
                        EditStatus::Refused,
                        Some(key),
                        message,
                        json!({ "owner": e.owner }),
                    )
                    .await;
                }
            }
        }
    };
    let before = rt.store.get_override(&key).await?.unwrap_or(Value::Null);
    let instance = fi.instance.name.clone();
    match request {
        EditRequest::Get => Ok(outcome(
            EditStatus::Done,
            if before.is_null() {
                format!("instance '{instance}' has no override")
            } else {
                format!("instance '{instance}' has an override")
            },
            Vec::new(),
            before,
        )),
        EditRequest::Set { body, expires } => {
            match parse_override(&instance, &body, expires, now) {
                Err(problems) => {
                    let message = format!(
                        "instance '{instance}': override refused, {} problem(s)",
                        problems.len()
                    );
                    rt.store
                        .append_audit(&[audit(
                            "override.invalid",
                            Some(key),
                            message.clone(),
                            json!({ "problems": problems }),
                        )])
                        .await?;
                    Ok(outcome(EditStatus::Invalid, message, problems, before))
                }
                Ok(parsed) => {
                    let after = parsed.to_stored();
                    rt.store.set_override(&key, &after).await?;
                    let message = format!(
                        "instance '{instance}': override set ({} schedule(s){})",
                        parsed.schedules.len(),
                        parsed
                            .expires
                            .map(|e| format!(", until {}", e.to_rfc3339()))
                            .unwrap_or_default()
                    );
                    rt.store
                        .append_audit(&[audit(
                            "override.set",
                            Some(key),
                            message.clone(),
                            json!({ "authority": authority, "before": before, "after": after }),
                        )])
                        .await?;
                    Ok(outcome(EditStatus::Done, message, Vec::new(), after))
                }
            }
        }
        EditRequest::Clear => {
            let had = rt.store.delete_override(&key).await?;
            let message = if had {
                format!("instance '{instance}': override cleared")
            } else {
                format!("instance '{instance}': there was no override")
            };
            rt.store
                .append_audit(&[audit(
                    "override.cleared",
                    Some(key),
                    message.clone(),
                    json!({ "authority": authority, "before": before, "after": Value::Null }),
                )])
                .await?;
            Ok(outcome(EditStatus::Done, message, Vec::new(), Value::Null))
        }
    }
}

/// Which instances `curfew adopt` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdoptScope {
    /// One instance by name (case-insensitive).
    Instance(String),
    /// Every instance of one workspace.
    Workspace(String),
    /// Every instance in the configured scopes.
    All,
}

/// What adopting one instance did (or, in a dry run, would do).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Adoption {
    /// Done, or why not.
    pub status: EditStatus,
    /// The instance.
    pub instance: String,
    /// Its workspace (empty when not found).
    pub workspace: String,
    /// In words.
    pub message: String,
    /// Problems of the native schedules, when they cannot be an override.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// The native schedules copied; the enabled ones are to be disabled in the studio.
    pub native: Vec<curfew_engine::governor::NativeLine>,
}

/// Copies each selected instance's native `computeStartStop` into its override through
/// [`edit_override`] (as the operator `by`, audited), then records `override.adopted` in the
/// audit with when, by whom and which schedules. `dry_run` reads only. An instance that
/// already has an override, or has no native schedules, is refused: nothing is overwritten.
pub async fn adopt(
    rt: &Runtime,
    scope: &AdoptScope,
    by: &str,
    dry_run: bool,
    now: DateTime<Utc>,
) -> GovernResult<Vec<Adoption>> {
    let fleet = rt.fleet().await;
    let chosen: Vec<_> = fleet
        .instances
        .iter()
        .filter(|f| match scope {
            AdoptScope::Instance(n) => f.instance.name.eq_ignore_ascii_case(n),
            AdoptScope::Workspace(w) => f.workspace.eq_ignore_ascii_case(w),
            AdoptScope::All => true,
        })
        .collect();
    if chosen.is_empty() {
        let what = match scope {
            AdoptScope::Instance(n) => format!("no compute instance named '{n}'"),
            AdoptScope::Workspace(w) => format!("no compute instance in workspace '{w}'"),
            AdoptScope::All => "no compute instance".to_string(),
        };
        return Ok(vec![Adoption {
            status: EditStatus::NotFound,
            instance: match scope {
                AdoptScope::Instance(n) => n.clone(),
                _ => String::new(),
            },
            workspace: String::new(),
            message: format!("{what} in the configured scopes"),
            problems: Vec::new(),
            native: Vec::new(),
        }]);
    }
    let mut out = Vec::new();
    for fi in chosen {
        let name = fi.instance.name.clone();
        let native = curfew_engine::governor::adoption_plan(&fi.instance.schedules);
        let mut a = Adoption {
            status: EditStatus::Done,
            instance: name.clone(),
            workspace: fi.workspace.clone(),
            message: String::new(),
            problems: Vec::new(),
            native,
        };
        let key = InstanceView::new(&fi.instance, Vec::new()).key();
        if fi.instance.schedules.is_empty() {
            a.status = EditStatus::Refused;
            a.message = format!("instance '{name}' has no native schedules to adopt");
        } else if rt.store.get_override(&key).await?.is_some() {
            a.status = EditStatus::Refused;
            a.message = format!(
                "instance '{name}' already has an override: not overwritten (curfew schedule get|clear)"
            );
        } else if let Err(problems) = parse_override(
            &name,
            &Value::Array(fi.instance.schedules.clone()),
            None,
            now,
        ) {
            a.status = EditStatus::Invalid;
            a.message = format!("instance '{name}': its native schedules cannot be an override");
            a.problems = problems;
        } else if dry_run {
            a.message = format!(
                "would adopt {} native schedule(s) of '{name}' (dry run: nothing written)",
                a.native.len()
            );
        } else {
            let edit = edit_override(
                rt,
                &name,
                &Editor::Operator(by.to_string()),
                EditRequest::Set {
                    body: Value::Array(fi.instance.schedules.clone()),
                    expires: None,
                },
                now,
            )
            .await?;
            a.status = edit.status;
            a.problems = edit.problems;
            if edit.status == EditStatus::Done {
                let indices: Vec<usize> = a.native.iter().map(|n| n.index).collect();
                rt.store
                    .append_audit(&[AuditRecord {
                        at: now,
                        kind: "override.adopted".into(),
                        instance_id: Some(key),
                        occurrence_id: None,
                        message: format!(
                            "{by} adopted {} native schedule(s) of '{name}' into its override",
                            indices.len()
                        ),
                        details: json!({ "by": by, "caller": "operator", "schedules": indices }),
                    }])
                    .await?;
                a.message = format!(
                    "adopted {} native schedule(s) of '{name}' into its override",
                    a.native.len()
                );
            } else {
                a.message = edit.message;
            }
        }
        out.push(a);
    }
    Ok(out)
}
