//! Reading, setting and clearing one instance's schedule override (issue 12), for the
//! `Schedules` function and `curfew schedule`: the caller authorised first (owner or admin,
//! as for dismissals; the CLI's operator is an admin), then the body validated by the engine
//! with every problem named, then the store written. Every change and every refusal is
//! audited with who asked, and a change with the override before and after.

use super::error::GovernResult;
use super::Runtime;
use chrono::{DateTime, Utc};
use curfew_engine::governor::overrides::{version_of_token, version_token};
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
    /// Whoever holds an owner's signed page link (no sign-in): speaks for that owner only,
    /// never as an admin, and is audited as `link`.
    Link(String),
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
        /// What the stored override must still be (`If-Match`, `--if-version`).
        precondition: Precondition,
    },
    /// Remove it: the native or policy schedules apply again.
    Clear {
        /// What the stored override must still be (`If-Match`, `--if-version`).
        precondition: Precondition,
    },
}

/// What the stored override must still be for a change to go ahead, as HTTP's `If-Match`:
/// an editor who read version V and writes with `Version(V)` never overwrites somebody
/// else's change made meanwhile (answered `Stale`, 412).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Whatever it is (last writer wins; the audit's "before" is still exact).
    Any,
    /// There is none (`adopt`, `If-None-Match: *`).
    Absent,
    /// It is still at this version (from a GET's `version` / `ETag`).
    Version(String),
}

impl Precondition {
    /// For the audit.
    fn describe(&self) -> Value {
        match self {
            Precondition::Any => Value::Null,
            Precondition::Absent => "absent".into(),
            Precondition::Version(v) => v.clone().into(),
        }
    }
}

/// Compare-and-set rounds an edit without a precondition makes against other editors before
/// it gives up (a retryable store conflict).
const EDIT_ATTEMPTS: usize = 5;

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
    /// Allowed, but the instance is not in a state to do it (`adopt`: it already has an
    /// override, or no native schedules): 409, exit 1; nothing is overwritten.
    Conflict,
    /// The precondition failed: the override changed since the caller read it (412, exit 1);
    /// nothing is written, and the answer carries the current override and version.
    Stale,
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
    /// Its version (a GET's or a write's; the `ETag` of the HTTP answer): what `If-Match` /
    /// `--if-version` takes to change exactly this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

fn who(editor: &Editor) -> (&str, &'static str) {
    match editor {
        Editor::Principal(p) => (p.as_str(), "principal"),
        Editor::Link(s) => (s.as_str(), "link"),
        Editor::Operator(o) => (o.as_str(), "operator"),
    }
}

impl Editor {
    /// The caller to authorise and the admins that count for them (a link: none); `None` for
    /// the operator, who is not authorised here.
    fn to_authorise<'a>(&'a self, admins: &'a [String]) -> Option<(&'a str, &'a [String])> {
        match self {
            Editor::Principal(p) => Some((p, admins)),
            Editor::Link(s) => Some((s, &[])),
            Editor::Operator(_) => None,
        }
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
        EditRequest::Clear { .. } => "clear",
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
        version: None,
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
        if let Some((p, admins)) = editor.to_authorise(&rt.config.admins) {
            if let Err(e) = authorize_editor(name, None, admins, p) {
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
    let authority = match editor.to_authorise(&rt.config.admins) {
        None => Authority::Admin {
            object_id: who(editor).0.to_owned(),
        },
        Some((p, admins)) => {
            match authorize_editor(&fi.instance.name, view.owner.as_deref(), admins, p) {
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
    let instance = fi.instance.name.clone();
    // A compare-and-set against the version read: the audited "before" is exactly what was
    // replaced, and a precondition (`If-Match`) is honoured. A write that lost a race to
    // another editor is tried again from a fresh read, unless a precondition was given.
    // The answer when a precondition fails: the override as it is now (read again), its
    // version, audited `override.stale`; nothing written.
    let stale_answer = async |want: &Precondition| -> GovernResult<EditOutcome> {
        let now_read = rt.store.get_override_versioned(&key).await?;
        let token = now_read.as_ref().map(|r| version_token(r.version.as_str()));
        let current = now_read.map(|r| r.value).unwrap_or(Value::Null);
        let why = match (want, &token) {
            (Precondition::Absent, Some(_)) => "one exists now".to_owned(),
            (_, Some(t)) => format!("now at version {t}"),
            (_, None) => "there is none now".to_owned(),
        };
        let message = format!(
            "instance '{instance}': the override changed since it was read ({why}): read it again"
        );
        rt.store
            .append_audit(&[audit(
                "override.stale",
                Some(key.clone()),
                message.clone(),
                json!({ "expected": want.describe(), "current": token }),
            )])
            .await?;
        let mut o = outcome(EditStatus::Stale, message, Vec::new(), current);
        o.version = token;
        Ok(o)
    };
    for _ in 0..EDIT_ATTEMPTS {
        let read = rt.store.get_override_versioned(&key).await?;
        let version = read.as_ref().map(|r| r.version.clone());
        let before = read.map(|r| r.value).unwrap_or(Value::Null);
        let stale = |want: &Precondition| match (want, &version) {
            (Precondition::Any, _) => false,
            (Precondition::Absent, v) => v.is_some(),
            (Precondition::Version(w), Some(v)) => {
                version_of_token(w).as_deref() != Some(v.as_str())
            }
            (Precondition::Version(_), None) => true,
        };
        match &request {
            EditRequest::Get => {
                let mut o = outcome(
                    EditStatus::Done,
                    if before.is_null() {
                        format!("instance '{instance}' has no override")
                    } else {
                        format!("instance '{instance}' has an override")
                    },
                    Vec::new(),
                    before,
                );
                o.version = version.map(|v| version_token(v.as_str()));
                return Ok(o);
            }
            EditRequest::Set {
                body,
                expires,
                precondition,
            } => {
                let parsed = match parse_override(&instance, body, *expires, now) {
                    Err(problems) => {
                        let message = format!(
                            "instance '{instance}': override refused, {} problem(s)",
                            problems.len()
                        );
                        rt.store
                            .append_audit(&[audit(
                                "override.invalid",
                                Some(key.clone()),
                                message.clone(),
                                json!({ "problems": problems }),
                            )])
                            .await?;
                        return Ok(outcome(EditStatus::Invalid, message, problems, before));
                    }
                    Ok(parsed) => parsed,
                };
                if stale(precondition) {
                    return stale_answer(precondition).await;
                }
                let after = parsed.to_stored();
                let Some(written) = rt
                    .store
                    .set_override_if(&key, &after, version.as_ref())
                    .await?
                else {
                    if *precondition != Precondition::Any {
                        return stale_answer(precondition).await;
                    }
                    continue;
                };
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
                        Some(key.clone()),
                        message.clone(),
                        json!({ "authority": authority, "before": before, "after": after }),
                    )])
                    .await?;
                let mut o = outcome(EditStatus::Done, message, Vec::new(), after);
                o.version = Some(version_token(written.as_str()));
                return Ok(o);
            }
            EditRequest::Clear { precondition } => {
                if stale(precondition) {
                    return stale_answer(precondition).await;
                }
                let had = match &version {
                    None => false,
                    Some(v) => {
                        if !rt.store.delete_override_if(&key, v).await? {
                            if *precondition != Precondition::Any {
                                return stale_answer(precondition).await;
                            }
                            continue;
                        }
                        true
                    }
                };
                let message = if had {
                    format!("instance '{instance}': override cleared")
                } else {
                    format!("instance '{instance}': there was no override")
                };
                rt.store
                    .append_audit(&[audit(
                        "override.cleared",
                        Some(key.clone()),
                        message.clone(),
                        json!({ "authority": authority, "before": before, "after": Value::Null }),
                    )])
                    .await?;
                return Ok(outcome(EditStatus::Done, message, Vec::new(), Value::Null));
            }
        }
    }
    Err(curfew_store::StoreError::Conflict {
        table: "override",
        key,
    }
    .into())
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
    /// Its workspace (empty when not found or refused).
    pub workspace: String,
    /// In words.
    pub message: String,
    /// Whether nothing was written (`--dry-run`, `dryRun=true`).
    pub dry_run: bool,
    /// Problems of the native schedules, when they cannot be an override.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// The native schedules copied (empty for a caller refused: strangers see nothing).
    pub native: Vec<curfew_engine::governor::NativeLine>,
    /// Exactly the native schedules the owner must disable in the studio once adopted (the
    /// enabled ones), as `#index action trigger (zone)`; each tick checks them again.
    pub disable_in_studio: Vec<String>,
}

impl Adoption {
    fn new(status: EditStatus, instance: &str, message: String) -> Self {
        Adoption {
            status,
            instance: instance.to_string(),
            workspace: String::new(),
            message,
            dry_run: false,
            problems: Vec::new(),
            native: Vec::new(),
            disable_in_studio: Vec::new(),
        }
    }
}

/// Copies each selected instance's native `computeStartStop` into its override through
/// [`edit_override`] (as `editor`, audited with before and after), then records the adoption:
/// `override.adopted` in the audit and the instance's adoption record in the store (who, when,
/// which schedules). `dry_run` writes nothing. A principal must be the instance's owner or an
/// admin (refusals audited, naming no owner and listing nothing); only an admin may adopt a
/// workspace or everything. An instance that already has an override, or has no native
/// schedules, is a conflict: nothing is overwritten.
pub async fn adopt(
    rt: &Runtime,
    scope: &AdoptScope,
    editor: &Editor,
    dry_run: bool,
    now: DateTime<Utc>,
) -> GovernResult<Vec<Adoption>> {
    let (by, caller) = who(editor);
    // A refusal: audited (the owner only in the audit, for ops), answered with nothing listed.
    let refuse = async |instance: &str,
                        instance_id: Option<String>,
                        owner: Option<String>,
                        message: String|
           -> GovernResult<Vec<Adoption>> {
        rt.store
            .append_audit(&[AuditRecord {
                at: now,
                kind: "override.rejected".into(),
                instance_id,
                occurrence_id: None,
                message: message.clone(),
                details: json!({
                    "by": by,
                    "caller": caller,
                    "request": "adopt",
                    "instance": instance,
                    "owner": owner,
                }),
            }])
            .await?;
        Ok(vec![Adoption::new(EditStatus::Refused, instance, message)])
    };
    if let (Some((p, admins)), AdoptScope::Workspace(_) | AdoptScope::All) =
        (editor.to_authorise(&rt.config.admins), scope)
    {
        if authorize_editor("*", None, admins, p).is_err() {
            let message = format!("{p} may not adopt more than one instance (not an admin)");
            return refuse("", None, None, message).await;
        }
    }
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
        let name = match scope {
            AdoptScope::Instance(n) => n.clone(),
            _ => String::new(),
        };
        // Strangers learn nothing about which instances exist.
        if let Some((p, admins)) = editor.to_authorise(&rt.config.admins) {
            if let Err(e) = authorize_editor(&name, None, admins, p) {
                return refuse(&name, None, None, e.to_string()).await;
            }
        }
        let what = match scope {
            AdoptScope::Instance(n) => format!("no compute instance named '{n}'"),
            AdoptScope::Workspace(w) => format!("no compute instance in workspace '{w}'"),
            AdoptScope::All => "no compute instance".to_string(),
        };
        let message = format!("{what} in the configured scopes");
        return Ok(vec![Adoption::new(EditStatus::NotFound, &name, message)]);
    }
    let mut out = Vec::new();
    for fi in chosen {
        let name = fi.instance.name.clone();
        let view = InstanceView::new(&fi.instance, Vec::new());
        let key = view.key();
        if let Some((p, admins)) = editor.to_authorise(&rt.config.admins) {
            if let Err(e) = authorize_editor(&name, view.owner.as_deref(), admins, p) {
                let owner = Some(e.owner.clone());
                out.extend(refuse(&name, Some(key), owner, e.to_string()).await?);
                continue;
            }
        }
        let native = curfew_engine::governor::adoption_plan(&fi.instance.schedules);
        let mut a = Adoption::new(EditStatus::Done, &name, String::new());
        a.workspace = fi.workspace.clone();
        a.dry_run = dry_run;
        a.disable_in_studio = native
            .iter()
            .filter(|n| n.enabled)
            .map(|n| n.describe())
            .collect();
        a.native = native;
        if fi.instance.schedules.is_empty() {
            a.status = EditStatus::Conflict;
            a.message = format!("instance '{name}' has no native schedules to adopt");
        } else if rt.store.get_override(&key).await?.is_some() {
            a.status = EditStatus::Conflict;
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
                editor,
                EditRequest::Set {
                    body: Value::Array(fi.instance.schedules.clone()),
                    expires: None,
                    // Never over an override set since adopt looked (409 below).
                    precondition: Precondition::Absent,
                },
                now,
            )
            .await?;
            // An override set since adopt looked is never replaced: "it already has one".
            a.status = match edit.status {
                EditStatus::Stale => EditStatus::Conflict,
                other => other,
            };
            a.problems = edit.problems;
            if edit.status == EditStatus::Done {
                let indices: Vec<usize> = a.native.iter().map(|n| n.index).collect();
                rt.store
                    .put_adoption(&curfew_store::AdoptionRecord {
                        instance_id: key.clone(),
                        at: now,
                        by: by.to_string(),
                        schedules: Value::Array(fi.instance.schedules.clone()),
                    })
                    .await?;
                rt.store
                    .append_audit(&[AuditRecord {
                        at: now,
                        kind: "override.adopted".into(),
                        instance_id: Some(key.clone()),
                        occurrence_id: None,
                        message: format!(
                            "{by} adopted {} native schedule(s) of '{name}' into its override",
                            indices.len()
                        ),
                        details: json!({
                            "by": by,
                            "caller": caller,
                            "schedules": indices,
                            "disableInStudio": a.disable_in_studio,
                        }),
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
