//! The seams where the governor plugs into the Functions app (docs/design.md §2).
//!
//! Each trait is one job the routes delegate; the governor, store and ARM adapters implement
//! them later. A route whose port is absent says so honestly (Logs, Status), never fakes data.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::messages::{ActivityReport, DismissalRequest, FleetWorkspaces, TickContext};

/// The future a port returns (boxed so the traits stay object-safe).
pub(crate) type PortFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, PortError>> + Send + 'a>>;

/// Why a port could not do its job; decides the answer to the host (docs/design.md §11).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))] // constructed by the governor's implementations
pub(crate) enum PortError {
    /// The input can never succeed (unknown workspace, not authorised, too late): the
    /// invocation completes (2xx) with this reason logged, so it is not redelivered forever.
    #[error("rejected: {0}")]
    Rejected(String),
    /// A dependency failed in a way a retry may fix (ARM 5xx/429, store conflict): answer 5xx
    /// so the host abandons the message and Service Bus redelivers it.
    #[error("transient failure: {0}")]
    Transient(String),
    /// The input is not authentic (a missing or bad signature): like `Rejected` for queue
    /// messages, `401` for HTTP callers.
    #[error("not authorised: {0}")]
    Unauthorized(String),
}

/// What one evaluation covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EvaluationScope {
    /// The whole fleet, inside `Tick` (small fleets).
    Fleet,
    /// One workspace (an `Evaluate` message).
    Workspace(String),
}

/// What an evaluation did: a short summary for `Logs` and CloudEvents to publish.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Report {
    /// Human lines, e.g. "stopped 3, started 1, 2 pending notifications".
    pub(crate) summary: Vec<String>,
    /// CloudEvents 1.0 JSON objects for the events topic.
    pub(crate) events: Vec<Map<String, Value>>,
    /// What to record once the invocation has answered 2xx (the host publishes `events`
    /// only then): the events only the output binding took leave the outbox.
    pub(crate) on_success: OnSuccess,
}

/// Work an invocation finishes only after it answers 2xx.
pub(crate) trait Settle: Send + Sync {
    /// Records it; returns the problems, one line each (the events are then resent).
    fn settle(&self) -> PortFuture<'_, Vec<String>>;
}

/// An optional [`Settle`], compared by identity (reports are compared in tests).
#[derive(Clone, Default)]
pub(crate) struct OnSuccess(pub(crate) Option<Arc<dyn Settle>>);

impl std::fmt::Debug for OnSuccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "OnSuccess(settle)"
        } else {
            "OnSuccess(none)"
        })
    }
}

impl PartialEq for OnSuccess {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Evaluates schedules and applies the plan: `Tick` and `Evaluate`.
pub(crate) trait TickHandler: Send + Sync {
    /// Discovers the workspaces in scope (one ARM list per scope), for the fan-out decision.
    fn fleet<'a>(&'a self, tick: &'a TickContext) -> PortFuture<'a, FleetWorkspaces>;
    /// Evaluates `scope` at `tick.now` and executes the resulting plan.
    fn evaluate<'a>(
        &'a self,
        scope: &'a EvaluationScope,
        tick: &'a TickContext,
    ) -> PortFuture<'a, Report>;
}

/// Authorises and records a dismissal (skip or snooze): `Dismissals` queue and `Dismiss` links.
pub(crate) trait DismissalSink: Send + Sync {
    /// Verifies (token or requester) and records the dismissal; `Rejected` for anything that
    /// is not honoured (docs/design.md §7).
    fn dismiss<'a>(
        &'a self,
        request: &'a DismissalRequest,
        now: DateTime<Utc>,
    ) -> PortFuture<'a, Report>;

    /// What a link will do, in words taken from its *verified* token only (the confirmation
    /// page); `Unauthorized` when the token does not verify or does not grant what the link
    /// asks. Changes nothing.
    fn preview<'a>(
        &'a self,
        request: &'a DismissalRequest,
        now: DateTime<Utc>,
    ) -> PortFuture<'a, String>;
}

/// Records activity reports from instances (idle detection): `Activity` queue and the
/// `ActivityReport` HTTP function.
pub(crate) trait ActivitySink: Send + Sync {
    /// Stores the report.
    fn record<'a>(
        &'a self,
        report: &'a ActivityReport,
        now: DateTime<Utc>,
    ) -> PortFuture<'a, Report>;
}

/// Fleet facts for `Status`: summary, next occurrences, savings, one instance explained.
pub(crate) trait StatusSource: Send + Sync {
    /// A JSON object merged into the status answer under `fleet`; `explain` names one instance.
    fn status<'a>(
        &'a self,
        explain: Option<&'a str>,
        now: DateTime<Utc>,
    ) -> PortFuture<'a, Map<String, Value>>;

    /// The cost report page (`Status?view=report`) over `[from, to)` (RFC 3339 or
    /// `YYYY-MM-DD`; defaults: the timeline's span), as self-contained HTML, from the store's
    /// timeline; `Ok(None)` while it is empty.
    fn report_page<'a>(
        &'a self,
        _from: Option<&'a str>,
        _to: Option<&'a str>,
    ) -> PortFuture<'a, Option<String>> {
        Box::pin(async { Ok(None) })
    }

    /// Whether `principal` (App Service Authentication's object id; empty is nobody) is a
    /// configured admin: the fleet-wide views of `Status` (JSON, `format=html`, the cost
    /// report) are theirs, since `Status` is anonymous to the host for the owners' page.
    fn is_admin(&self, _principal: &str) -> bool {
        false
    }

    /// The self-service page's data for the viewer `ask` names (a signed owner link, verified
    /// before any lookup, else the signed-in principal), after performing its editor
    /// submission if any; `Unauthorized` for a bad link or form token and for a stranger.
    fn page<'a>(
        &'a self,
        _ask: &'a super::selfservice::PageAsk,
        _now: DateTime<Utc>,
    ) -> PortFuture<'a, super::selfservice::PageData> {
        Box::pin(async {
            Err(PortError::Rejected(
                "the self-service page needs a configured governor".into(),
            ))
        })
    }
}

/// What a `Schedules` request asks of one instance's override.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OverrideRequest {
    /// GET: the stored override.
    Get,
    /// PUT: replace it with this body (validated by the engine), if the stored override is
    /// still `if_match` (`If-Match`; `If-None-Match: *` is [`IfMatch::Absent`]).
    Put(Value, IfMatch),
    /// DELETE: remove it, under the same precondition.
    Delete(IfMatch),
    /// `POST ?action=adopt[&dryRun=true]`: copy the native schedules into the override and
    /// record the adoption (or, in a dry run, say what would be done).
    Adopt {
        /// Write nothing.
        dry_run: bool,
    },
}

/// A `Schedules` write's precondition, from its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IfMatch {
    /// No `If-Match` / `If-None-Match`: whatever is stored.
    Any,
    /// `If-None-Match: *`: only if there is no override.
    Absent,
    /// `If-Match: "<version>"` (the `ETag` of a GET).
    Version(String),
}

/// The answer to a `Schedules` request: an HTTP status and a JSON body (problems named).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OverrideAnswer {
    /// 200 done, 400 invalid, 403 refused, 404 unknown instance, 409 nothing to adopt.
    pub(crate) status: u16,
    /// The governor's outcome as JSON.
    pub(crate) body: Value,
}

/// Reads and changes one instance's schedule override for a signed-in caller: `Schedules`.
pub(crate) trait OverrideEditor: Send + Sync {
    /// Authorises `caller` (owner or admin; empty is nobody) and performs `request`; every
    /// change and refusal is audited. `Transient` only for store/ARM failures.
    fn edit<'a>(
        &'a self,
        instance: &'a str,
        caller: &'a str,
        request: OverrideRequest,
        now: DateTime<Utc>,
    ) -> PortFuture<'a, OverrideAnswer>;
}

/// The governor's implementations, each absent until it is wired in.
#[derive(Clone, Default)]
pub(crate) struct Ports {
    /// `Tick` / `Evaluate`.
    pub(crate) tick: Option<Arc<dyn TickHandler>>,
    /// `Dismissals` / `Dismiss`.
    pub(crate) dismissals: Option<Arc<dyn DismissalSink>>,
    /// `Activity`.
    pub(crate) activity: Option<Arc<dyn ActivitySink>>,
    /// `Status`'s fleet section.
    pub(crate) status: Option<Arc<dyn StatusSource>>,
    /// `Schedules`.
    pub(crate) schedules: Option<Arc<dyn OverrideEditor>>,
    /// What does not work as configured, said once at startup and on `Status` (no activity
    /// key: every report is refused).
    pub(crate) warnings: Vec<String>,
}

impl Ports {
    /// Which ports are wired, for `Status`.
    pub(crate) fn describe(&self) -> Value {
        let state = |b: bool| if b { "configured" } else { "not configured" };
        let mut v = serde_json::json!({
            "tick": state(self.tick.is_some()),
            "dismissals": state(self.dismissals.is_some()),
            "activity": state(self.activity.is_some()),
            "status": state(self.status.is_some()),
            "schedules": state(self.schedules.is_some()),
        });
        if !self.warnings.is_empty() {
            v["warnings"] = serde_json::json!(self.warnings);
        }
        v
    }
}
