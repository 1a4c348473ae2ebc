//! The governor behind the Functions app: the ports of `functions` implemented with a
//! [`Runtime`] (docs/design.md §2, §11).
//!
//! - Configuration arrives as app settings (environment variables), read the one way every
//!   setting is read ([`curfew_governor::config`]): a `CURFEW_CONFIG` file or inline YAML,
//!   overlaid by the individual settings `infra/` declares, checked at start into a
//!   [`RuntimeConfig`] ([`host_config`]). The runtime (ARM client, store, notifiers) is built
//!   from it on the first invocation that needs it, and built again on the next one if that
//!   failed (a store that was not reachable yet).
//! - Events: every invocation gets its own `events` output binding, a `Collector` handed to
//!   `Runtime::deliver` beside the configured channels; its events become the invocation's
//!   outputs. No ambient state, so concurrent invocations never mix their events.
//! - Failure classes: input that can never succeed is `Rejected` (completed, logged, audited
//!   by the governor where it applies); store/ARM failures are `Transient` (5xx, redelivered).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use curfew_engine::governor::dismiss::{Credential, Target};
use curfew_engine::governor::{
    self as engine, effective_schedules_since, InstanceView, PolicyDefault,
};
use curfew_notify::{Collector, Notifier};
use curfew_store::{TableConfig, TableStore, TokenSource};
use serde_json::{json, Map, Value};
use tracing::Instrument;

use crate::functions::{
    ActivityReport, ActivitySink, Channel, Choice, DismissalRequest, DismissalSink,
    DismissalTarget, EvaluationScope, FleetWorkspaces, IfMatch, OnSuccess, OverrideAnswer,
    OverrideEditor, OverrideRequest, PortError, PortFuture, Ports, Report, Settle, StatusSource,
    TickContext, TickHandler, WorkspaceSize,
};
use curfew_engine::idle;
use curfew_governor::config::{
    self, ConfigError, EventsTo, Program, RuntimeConfig, SettingsFile, StoreConfig, Strings,
};
use curfew_governor::delivery::Receipt;
use curfew_governor::error::GovernError;
use curfew_governor::tick::TickReport;
use curfew_governor::{activity, dismiss, explain, in_scope, tick, Runtime};

/// Why activity reports are refused when no master key is set; said at startup and to every
/// reporter.
pub(crate) const NO_ACTIVITY_KEY: &str = "activity intake is off: CURFEW_ACTIVITY_KEY is not set, so no report can be verified and every report is refused (docs/idle.md)";

/// How many decision lines a report puts in `Logs` before summarising the rest.
pub(crate) const MAX_DETAIL_LINES: usize = 25;
/// How far ahead `Status` lists the fleet's next occurrences.
pub(crate) const STATUS_HORIZON: TimeDelta = TimeDelta::hours(24);
/// How many fleet occurrences `Status` lists.
pub(crate) const STATUS_NEXT: usize = 20;

/// Why the app settings do not configure a governor.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HostConfigError {
    /// Neither `CURFEW_CONFIG` nor `CURFEW_SCOPES` is set: the handler runs without one.
    #[error("no governor configured: set CURFEW_CONFIG or CURFEW_SCOPES")]
    Missing,
    /// Settings are unusable; each is named.
    #[error("governor configuration: {0}")]
    Invalid(#[from] ConfigError),
}

/// The hosted governor's configuration from the app settings; pure apart from reading the
/// files they name.
pub(crate) fn host_config(strings: &dyn Strings) -> Result<RuntimeConfig, HostConfigError> {
    let set = |s: &config::Setting| strings.get(s.var()).is_some();
    if !set(&config::CONFIG) && !set(&config::SCOPES) {
        return Err(HostConfigError::Missing);
    }
    let file = SettingsFile::from_strings(strings);
    Ok(RuntimeConfig::load(&file, strings, Program::Serve)?)
}

/// The label of the invocation's `events` output binding in delivery reports.
const BINDING_LABEL: &str = "events-binding";

/// The invocation's `events` output binding as a channel: a collector owned by this one
/// invocation, whose events become its outputs (published by the host once it answers 2xx).
fn binding_values(collector: Option<Collector>) -> Vec<Map<String, Value>> {
    collector
        .map(|c| c.take())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| match e.to_json() {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// Settles, once the invocation has answered 2xx, the events only its output binding took.
struct BindingReceipts {
    rt: Arc<Runtime>,
    receipts: Vec<Receipt>,
}

impl Settle for BindingReceipts {
    fn settle(&self) -> PortFuture<'_, Vec<String>> {
        Box::pin(async move { Ok(self.rt.settle(&self.receipts).await) })
    }
}

/// The [`OnSuccess`] of a report whose binding took `receipts`.
fn settle(rt: &Arc<Runtime>, receipts: Vec<Receipt>) -> OnSuccess {
    OnSuccess((!receipts.is_empty()).then(|| {
        Arc::new(BindingReceipts {
            rt: Arc::clone(rt),
            receipts,
        }) as Arc<dyn Settle>
    }))
}

/// Bearer tokens from the managed identity (user-assigned when `AZURE_CLIENT_ID`), for any
/// scope: Table Storage today, Service Bus over REST with the same adapter.
#[derive(Debug)]
struct IdentityTokens(Arc<azure_identity::ManagedIdentityCredential>);

#[async_trait::async_trait]
impl TokenSource for IdentityTokens {
    async fn token(&self, scope: &str) -> Result<String, curfew_plumbing::TokenError> {
        use azure_core::credentials::TokenCredential as _;
        let t = self.0.get_token(&[scope], None).await?;
        Ok(t.token.secret().to_owned())
    }
}

/// The governor as the Functions app uses it.
pub(crate) struct HostedGovernor {
    config: Arc<RuntimeConfig>,
    runtime: tokio::sync::OnceCell<Arc<Runtime>>,
    /// The workspaces discovered for the fan-out decision of a tick, reused by its inline
    /// evaluation (so a tick reads each workspace page once).
    discovered: std::sync::Mutex<Option<(DateTime<Utc>, curfew_governor::Discovery)>>,
    /// Compute instances per workspace (lower-cased ARM id) when this process last listed it:
    /// the fan-out decision's sizes, learnt from evaluations, never listed for the decision.
    /// A cache: a recycled process starts empty and learns again (docs/functions.md).
    sizes: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    /// The admin page's fleet listing and when it was made: views within
    /// `hosted_page::ADMIN_FLEET_TTL` reuse it, so an admin refreshing the page cannot spend
    /// the ARM read budget the ticks need (201 requests a view for 10 000 instances).
    /// Held while listing, so a burst of views after the minute makes one listing.
    pub(crate) admin_fleet:
        tokio::sync::Mutex<Option<(DateTime<Utc>, Arc<curfew_governor::ListedFleet>)>>,
}

/// Rejected (completed, not redelivered) when the input can never succeed: the thing it names
/// does not exist or is not usable; transient (5xx, redelivered) otherwise.
fn classify(context: &str, e: &GovernError) -> PortError {
    let text = format!("{context}: {e}");
    if e.is_not_found() || matches!(e, GovernError::Input(_)) {
        PortError::Rejected(text)
    } else {
        PortError::Transient(text)
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The `Logs` lines of one evaluation.
fn summarise(what: &str, r: &TickReport) -> Vec<String> {
    let executed = r
        .decisions
        .iter()
        .filter(|d| d.result.is_executed())
        .count();
    let mut lines = vec![format!(
        "evaluated {what} at {}: {} instance(s), {} decision(s) ({executed} executed), {} notice(s), {} problem(s), {} ARM call(s)",
        stamp(r.now),
        r.instances,
        r.decisions.len(),
        r.notices.len(),
        r.problems.len(),
        r.arm_calls
    )];
    let details: Vec<String> = r
        .decisions
        .iter()
        .map(|d| {
            format!(
                "{:?} {} {:?} at {}: {} — {}",
                d.kind,
                d.instance,
                d.action,
                stamp(d.at),
                d.reason,
                d.outcome
            )
        })
        .chain(r.notices.iter().map(|n| {
            format!(
                "notice {} stop at {} in {} min ({}-min notice): {}",
                n.instance,
                stamp(n.due),
                n.minutes_left,
                n.lead_minutes,
                n.outcome
            )
        }))
        .chain(r.missed_summaries.iter().map(|x| format!("missed {x}")))
        .chain(r.lost_races_line())
        .chain(r.reconciled.iter().map(|x| format!("reconciled {x}")))
        .chain(r.idle.iter().map(|i| format!("idle: {i}")))
        .chain(r.budgets.iter().map(|b| format!("budget: {b}")))
        .chain(r.drift.iter().map(|d| format!("drift: {d}")))
        .chain(r.expired_overrides.iter().map(|x| format!("expired: {x}")))
        .chain(r.problems.iter().map(|p| format!("problem: {p}")))
        .collect();
    let extra = details.len().saturating_sub(MAX_DETAIL_LINES);
    lines.extend(details.into_iter().take(MAX_DETAIL_LINES));
    if extra > 0 {
        lines.push(format!("… and {extra} more line(s)"));
    }
    lines
}

impl HostedGovernor {
    /// A governor that builds its runtime on first use.
    pub(crate) fn new(config: RuntimeConfig) -> Self {
        Self {
            config: Arc::new(config),
            runtime: tokio::sync::OnceCell::new(),
            discovered: std::sync::Mutex::new(None),
            sizes: std::sync::Mutex::new(std::collections::HashMap::new()),
            admin_fleet: tokio::sync::Mutex::new(None),
        }
    }

    /// A fresh `events` output binding for one invocation, when events go to the binding.
    fn binding(&self) -> Option<Collector> {
        (self.config.events == EventsTo::Binding).then(|| Collector::new(BINDING_LABEL))
    }

    /// The runtime, built now if this is the first use (or the last attempt failed).
    async fn runtime(&self) -> Result<&Arc<Runtime>, PortError> {
        self.runtime
            .get_or_try_init(|| async {
                let started = std::time::Instant::now();
                let rt = build(&self.config).await.map_err(|e| {
                    let e = PortError::Transient(format!("building the governor: {e:#}"));
                    tracing::error!(error = %e, "governor not available");
                    e
                })?;
                tracing::info!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    events = ?self.config.events,
                    "governor runtime built"
                );
                Ok(Arc::new(rt))
            })
            .await
    }

    async fn evaluate_scope(
        &self,
        scope: &EvaluationScope,
        tick: &TickContext,
    ) -> Result<Report, PortError> {
        let rt = self.runtime().await?;
        let (only, what) = match scope {
            EvaluationScope::Fleet => (None, "fleet".to_owned()),
            EvaluationScope::Workspace(id) => {
                let ws = curfew_arm::WorkspaceRef::parse(id).ok_or_else(|| {
                    PortError::Rejected(format!(
                        "Data.message.workspace: '{id}' is not a workspace ARM id"
                    ))
                })?;
                if !in_scope(&rt.arm.config().scopes, &ws) {
                    return Err(PortError::Rejected(format!(
                        "workspace {id} is outside the configured scopes"
                    )));
                }
                (Some(ws), format!("workspace {}", id))
            }
        };
        #[cfg(feature = "otel")]
        let started = std::time::Instant::now();
        let span = tracing::info_span!("tick", scope = %what, now = %stamp(tick.now));
        // An inline evaluation of the fleet lists the computes of the workspaces discovered for
        // the fan-out decision (not discovered again); an `Evaluate` lists its own workspace.
        let discovered = match only {
            None => self
                .discovered
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .filter(|(at, _)| *at == tick.now)
                .map(|(_, d)| d),
            Some(_) => None,
        };
        let calls_before = rt.arm.stats().calls;
        let fleet = match &discovered {
            Some(d) => rt.fleet_of(d).instrument(span.clone()).await,
            None => rt.fleet_in(only.as_ref()).instrument(span.clone()).await,
        };
        self.learn_sizes(&fleet);
        let result = tick::tick_listed(rt, only.as_ref(), &fleet, tick.now, false)
            .instrument(span.clone())
            .await
            .map(|mut r| {
                r.arm_calls = rt.arm.stats().calls - calls_before;
                r
            });
        #[cfg(feature = "otel")]
        metrics::record_tick(result.as_ref().ok(), started.elapsed(), &what);
        let mut r = result.map_err(|e| classify(&format!("evaluating {what}"), &e))?;
        let binding = self.binding();
        let receipts = rt
            .deliver_tick(&mut r, binding.as_ref().map(|c| c as &dyn Notifier))
            .instrument(span)
            .await;
        Ok(Report {
            summary: summarise(&what, &r),
            events: binding_values(binding),
            on_success: settle(rt, receipts),
        })
    }

    /// Remembers the size of every workspace a listing read (for the next fan-out decision).
    fn learn_sizes(&self, fleet: &curfew_governor::ListedFleet) {
        let mut sizes = self.sizes.lock().unwrap_or_else(|e| e.into_inner());
        for (ws, n) in &fleet.workspaces {
            sizes.insert(ws.path().to_ascii_lowercase(), *n);
        }
    }

    /// The workspaces in scope, discovered (workspace pages only), with the sizes this process
    /// last listed: `Tick` never lists computes to decide on fan-out.
    async fn list_fleet(&self, now: DateTime<Utc>) -> Result<FleetWorkspaces, PortError> {
        let rt = self.runtime().await?;
        let discovery = rt.discover().await;
        for p in &discovery.problems {
            tracing::warn!(problem = %p, "workspace discovery");
        }
        if discovery.unreachable {
            return Err(PortError::Transient(format!(
                "no scope could be listed: {}",
                discovery.problems.join("; ")
            )));
        }
        let out = {
            let sizes = self.sizes.lock().unwrap_or_else(|e| e.into_inner());
            FleetWorkspaces {
                workspaces: discovery
                    .workspaces
                    .iter()
                    .map(|ws| WorkspaceSize {
                        id: ws.path(),
                        instances: sizes.get(&ws.path().to_ascii_lowercase()).copied(),
                    })
                    .collect(),
            }
        };
        *self.discovered.lock().unwrap_or_else(|e| e.into_inner()) = Some((now, discovery));
        Ok(out)
    }

    async fn record_dismissal(
        &self,
        d: &DismissalRequest,
        now: DateTime<Utc>,
    ) -> Result<Report, PortError> {
        let target = match &d.target {
            DismissalTarget::Occurrence(id) => Target::Occurrence(id.clone()),
            // The ARM id as given (it names exactly one instance), or a bare name.
            DismissalTarget::InstanceAt { instance, at } => Target::At {
                instance: instance.clone(),
                at: *at,
            },
        };
        let choice = match d.choice {
            Choice::Skip => engine::Choice::Skip,
            Choice::Snooze { minutes } => engine::Choice::Snooze { minutes },
        };
        let rt = self.runtime().await?;
        let credential = match (&d.token, &d.requested_by) {
            (Some(t), _) => Credential::Token(t.clone()),
            (None, Some(o)) => Credential::ObjectId(o.clone()),
            (None, None) => {
                let field = match d.channel {
                    Channel::Queue => "Data.message.requestedBy.objectId",
                    Channel::Link => "Data.req.Query.token",
                };
                let reason = format!("{field}: a requester or a signed token is required");
                // Audited like every request, then completed.
                dismiss::audit_refusal(
                    rt,
                    &dismiss::EarlyRefusal {
                        occurrence_id: None,
                        instance_id: None,
                        requested_by: "nobody",
                        choice: &choice.to_string(),
                        target: &d.describe(),
                        reason: &reason,
                    },
                    now,
                )
                .await
                .map_err(|e| classify("auditing the dismissal", &e))?;
                return Err(PortError::Rejected(reason));
            }
        };
        let request = engine::DismissalRequest {
            target,
            choice,
            credential,
        };
        let outcome = dismiss::dismiss(rt, request, now)
            .await
            .map_err(|e| classify("recording the dismissal", &e))?;
        let binding = self.binding();
        let receipts: Vec<Receipt> = rt
            .deliver(
                &outcome.events,
                binding.as_ref().map(|c| c as &dyn Notifier),
                now,
            )
            .await
            .iter()
            .filter_map(|d| d.receipt())
            .collect();
        let events = binding_values(binding);
        if !outcome.accepted {
            return Err(PortError::Rejected(outcome.message));
        }
        let mut line = format!(
            "dismissal accepted for {} ({}): {}",
            outcome.instance.as_deref().unwrap_or("?"),
            outcome.occurrence_id.as_deref().unwrap_or("?"),
            outcome.message
        );
        if let Some(due) = outcome.due {
            line.push_str(&format!("; the stop is now due at {}", stamp(due)));
        }
        Ok(Report {
            summary: vec![line],
            events,
            on_success: settle(rt, receipts),
        })
    }

    /// What a link will do, from its verified token only (a page never shows the claims of a
    /// token that does not verify): checked against the keys before anything is looked up,
    /// then the ledger names the instance and time.
    async fn preview_link(
        &self,
        d: &DismissalRequest,
        now: DateTime<Utc>,
    ) -> Result<String, PortError> {
        let Some(token) = &d.token else {
            return Err(PortError::Unauthorized("the link has no token".into()));
        };
        let rt = self.runtime().await?;
        let claims = engine::verify(&rt.link_keys, token, now)
            .map_err(|e| PortError::Unauthorized(e.to_string()))?;
        let choice = match claims.choice {
            engine::Choice::Skip => Choice::Skip,
            engine::Choice::Snooze { minutes } => Choice::Snooze { minutes },
        };
        if d.target != DismissalTarget::Occurrence(claims.occurrence_id.clone())
            || d.choice != choice
        {
            return Err(PortError::Unauthorized(
                "the link's occurrence or choice is not the one its token grants".into(),
            ));
        }
        let what = match choice {
            Choice::Skip => "skip".to_owned(),
            Choice::Snooze { minutes } => format!("snooze {minutes} min"),
        };
        let entry = rt
            .store
            .get_entry(&claims.occurrence_id)
            .await
            .map_err(|e| PortError::Transient(format!("reading the ledger: {e}")))?;
        Ok(match entry {
            Some(e) => format!(
                "{what} the {} of {} at {} (occurrence {})",
                format!("{:?}", e.value.action).to_ascii_lowercase(),
                e.value
                    .instance_id
                    .rsplit('/')
                    .next()
                    .unwrap_or(&e.value.instance_id),
                stamp(e.value.at),
                claims.occurrence_id
            ),
            None => format!("{what} of occurrence {}", claims.occurrence_id),
        })
    }

    async fn record_activity(
        &self,
        a: &ActivityReport,
        now: DateTime<Utc>,
    ) -> Result<Report, PortError> {
        // No key, no intake: an unsigned report is anyone's word (docs/design.md §14).
        let Some(master) = &self.config.activity_key else {
            return Err(PortError::Unauthorized(format!(
                "activity report from '{}' refused: {NO_ACTIVITY_KEY}",
                a.instance
            )));
        };
        let Some((ts, sig)) = &a.signature else {
            return Err(PortError::Unauthorized(format!(
                "activity report for '{}' is not signed (headers or application properties {} and {})",
                a.instance,
                crate::functions::SIGNATURE_TIMESTAMP,
                crate::functions::SIGNATURE_HEADER
            )));
        };
        let Some(raw) = &a.raw else {
            return Err(PortError::Rejected(
                "a signed activity report must arrive as its exact JSON text".into(),
            ));
        };
        // Signature, binding to the compute and freshness first: nothing is looked up for a
        // report that is not authentic.
        let verified =
            idle::verify_signed_report(master.expose().as_bytes(), ts, sig, raw.as_bytes(), now)
                .map_err(|e| match e {
                    idle::IdleError::Report { .. } => {
                        PortError::Rejected(format!("Data.message: {e}"))
                    }
                    e => PortError::Unauthorized(e.to_string()),
                })?;
        let report = &verified.report;
        let rt = self.runtime().await?;
        let busy = report.is_busy();
        // Folded into the instance's idle record (docs/design.md §8), which the tick turns into idle stops.
        let stored = match activity::take(rt, &verified, now).await {
            Ok(Ok(folded)) => folded.changed,
            Ok(Err(r @ activity::ReportRefused::Replayed { .. })) => {
                return Err(PortError::Unauthorized(r.to_string()))
            }
            Ok(Err(r)) => return Err(PortError::Rejected(r.to_string())),
            Err(e) => {
                let text = format!("recording the activity report: {e}");
                let transient =
                    e.is_retryable() || matches!(&e, GovernError::Store(s) if s.is_conflict());
                return Err(if transient {
                    PortError::Transient(text)
                } else {
                    PortError::Rejected(text)
                });
            }
        };
        let state = if busy {
            format!("busy ({})", report.activity().join(", "))
        } else {
            "quiet".to_owned()
        };
        let what = if stored {
            "stored"
        } else {
            "older than the stored report: ignored"
        };
        Ok(Report {
            summary: vec![format!(
                "activity of {} at {}: {state}; {what}",
                report.instance,
                stamp(report.at)
            )],
            events: Vec::new(),
            on_success: OnSuccess::default(),
        })
    }

    /// The cost report page of `Status?view=report`, from the store's timeline (every
    /// governor's records), read each time; prices and budgets as configured. `None` while the
    /// timeline is empty.
    async fn cost_page(
        &self,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Option<String>, PortError> {
        let c = &self.config;
        let rt = self.runtime().await?;
        let text = curfew_governor::costlog::store_timeline_text(rt.store.as_ref(), None)
            .await
            .map_err(|e| PortError::Transient(format!("reading the cost timeline: {e}")))?;
        if text.is_empty() {
            return Ok(None);
        }
        let name = curfew_governor::costlog::STORE_TIMELINE;
        curfew_report::html_page(&text, name, from, to, &c.prices, &c.budgets)
            .map(Some)
            .map_err(|e| PortError::Rejected(format!("{e:#}")))
    }

    async fn fleet_status(
        &self,
        explain_name: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Map<String, Value>, PortError> {
        let rt = self.runtime().await?;
        let fleet = rt.fleet().await;
        let mut by_state: std::collections::BTreeMap<String, u64> = Default::default();
        let mut workspaces = std::collections::BTreeSet::new();
        for fi in &fleet.instances {
            *by_state
                .entry(
                    fi.instance
                        .state
                        .clone()
                        .unwrap_or_else(|| "Unknown".into()),
                )
                .or_default() += 1;
            workspaces.insert(fi.workspace.clone());
        }
        let overrides: HashMap<String, Value> = rt
            .store
            .list_overrides()
            .await
            .map_err(|e| PortError::Transient(format!("reading overrides: {e}")))?
            .into_iter()
            .map(|o| (o.instance_id.to_ascii_lowercase(), o.schedules))
            .collect();
        let mut next = Vec::new();
        for fi in &fleet.instances {
            let key = InstanceView::new(&fi.instance, Vec::new()).key();
            let defaults = rt.policy_defaults(fi, now.date_naive());
            let pd: Vec<PolicyDefault<'_>> = defaults
                .iter()
                .map(|(policy, schedules)| PolicyDefault { policy, schedules })
                .collect();
            // An override expiring within the horizon: its occurrences before, the rest after.
            let set = effective_schedules_since(&fi.instance, overrides.get(&key), &pd, now);
            for s in set.schedules.iter().filter(|s| s.schedule.enabled) {
                for o in s.occurrences_in_force(now, now + STATUS_HORIZON) {
                    next.push((o.at, fi.instance.name.clone(), s.schedule.action));
                }
            }
        }
        next.sort();
        let watermark = rt
            .store
            .get_watermark(&rt.watermark_scope(None))
            .await
            .map_err(|e| PortError::Transient(format!("reading the watermark: {e}")))?;
        let mut m = Map::new();
        m.insert("deployment".into(), rt.deployment.clone().into());
        m.insert("instances".into(), fleet.instances.len().into());
        m.insert("workspaces".into(), workspaces.len().into());
        m.insert("byState".into(), json!(by_state));
        m.insert("problems".into(), json!(fleet.problems));
        m.insert("watermark".into(), json!(watermark.map(stamp)));
        let last_tick = rt
            .last_tick()
            .await
            .map_err(|e| PortError::Transient(format!("reading the heartbeat: {e}")))?;
        // The heartbeat: the newest completed tick, and how long ago (the no-tick alert fires
        // past 10 minutes).
        m.insert("lastTick".into(), json!(last_tick.map(stamp)));
        m.insert(
            "lastTickAgeSeconds".into(),
            json!(last_tick.map(|t| (now - t).num_seconds())),
        );
        m.insert(
            "next".into(),
            Value::Array(
                next.iter()
                    .take(STATUS_NEXT)
                    .map(|(at, name, action)| {
                        json!({"at": stamp(*at), "instance": name, "action": action})
                    })
                    .collect(),
            ),
        );
        if let Some(name) = explain_name {
            let e = match explain::explain(rt, name, now).await {
                Ok(x) => serde_json::to_value(x).unwrap_or(Value::Null),
                Err(e) => json!({"error": format!("{e:#}")}),
            };
            m.insert("explain".into(), e);
        }
        Ok(m)
    }
}

/// The runtime from the checked configuration; a table reached with the managed identity is
/// opened here (the identity is the host's).
async fn build(c: &RuntimeConfig) -> Result<Runtime, GovernError> {
    let StoreConfig::TableIdentity {
        table,
        endpoint,
        client_id,
    } = &c.store
    else {
        return Runtime::from_config(c).await;
    };
    let mut options = azure_identity::ManagedIdentityCredentialOptions::default();
    if let Some(id) = client_id {
        options.user_assigned_id = Some(azure_identity::UserAssignedId::ClientId(id.clone()));
    }
    let credential =
        azure_identity::ManagedIdentityCredential::new(Some(options)).map_err(|e| {
            GovernError::Setup {
                message: format!("the managed identity for the table at {endpoint}: {e}"),
                retryable: false,
            }
        })?;
    let tables = TableConfig::with_token(endpoint, Arc::new(IdentityTokens(credential)));
    let store = Arc::new(TableStore::open(tables, table).await?);
    Runtime::with_store(c, store)
}

impl TickHandler for HostedGovernor {
    fn fleet<'a>(&'a self, tick: &'a TickContext) -> PortFuture<'a, FleetWorkspaces> {
        Box::pin(self.list_fleet(tick.now))
    }

    fn evaluate<'a>(
        &'a self,
        scope: &'a EvaluationScope,
        tick: &'a TickContext,
    ) -> PortFuture<'a, Report> {
        Box::pin(self.evaluate_scope(scope, tick))
    }
}

impl DismissalSink for HostedGovernor {
    fn dismiss<'a>(
        &'a self,
        request: &'a DismissalRequest,
        now: DateTime<Utc>,
    ) -> PortFuture<'a, Report> {
        Box::pin(self.record_dismissal(request, now))
    }

    fn preview<'a>(
        &'a self,
        request: &'a DismissalRequest,
        now: DateTime<Utc>,
    ) -> PortFuture<'a, String> {
        Box::pin(self.preview_link(request, now))
    }
}

impl OverrideEditor for HostedGovernor {
    fn edit<'a>(
        &'a self,
        instance: &'a str,
        caller: &'a str,
        request: OverrideRequest,
        now: DateTime<Utc>,
    ) -> PortFuture<'a, OverrideAnswer> {
        let editor = curfew_governor::override_edit::Editor::Principal(caller.to_owned());
        Box::pin(self.edit_as(instance, editor, request, now))
    }
}

impl HostedGovernor {
    /// Performs `request` on `instance`'s override for `editor` (a signed-in principal, or
    /// the holder of an owner's signed link from the page), through the `Schedules` logic.
    pub(crate) async fn edit_as(
        &self,
        instance: &str,
        editor: curfew_governor::override_edit::Editor,
        request: OverrideRequest,
        now: DateTime<Utc>,
    ) -> Result<OverrideAnswer, PortError> {
        use curfew_governor::override_edit::{
            adopt, edit_override, AdoptScope, EditRequest, EditStatus, Precondition,
        };
        let precondition = |m: IfMatch| match m {
            IfMatch::Any => Precondition::Any,
            IfMatch::Absent => Precondition::Absent,
            IfMatch::Version(v) => Precondition::Version(v),
        };
        let rt = self.runtime().await?;
        let code = |s: EditStatus| match s {
            EditStatus::Done => 200,
            EditStatus::Invalid => 400,
            EditStatus::Refused => 403,
            EditStatus::NotFound => 404,
            EditStatus::Conflict => 409,
            EditStatus::Stale => 412,
        };
        let encode = |v: Result<Value, serde_json::Error>| {
            v.map_err(|e| PortError::Transient(format!("encoding the answer: {e}")))
        };
        let request = match request {
            OverrideRequest::Get => EditRequest::Get,
            OverrideRequest::Put(body, if_match) => EditRequest::Set {
                body,
                expires: None,
                precondition: precondition(if_match),
            },
            OverrideRequest::Delete(if_match) => EditRequest::Clear {
                precondition: precondition(if_match),
            },
            OverrideRequest::Adopt { dry_run } => {
                let scope = AdoptScope::Instance(instance.to_owned());
                let mut done = adopt(rt, &scope, &editor, dry_run, now)
                    .await
                    .map_err(|e| classify("adopting the native schedules", &e))?;
                // One instance asked, one answer (adopt reports one per instance chosen).
                let Some(one) = done.pop() else {
                    return Err(PortError::Transient("adopt answered nothing".into()));
                };
                let status = code(one.status);
                let body = encode(serde_json::to_value(&one))?;
                return Ok(OverrideAnswer { status, body });
            }
        };
        let outcome = edit_override(rt, instance, &editor, request, now)
            .await
            .map_err(|e| classify("editing the override", &e))?;
        let status = code(outcome.status);
        let body = encode(serde_json::to_value(&outcome))?;
        Ok(OverrideAnswer { status, body })
    }
}

impl OverrideEditor for Misconfigured {
    fn edit<'a>(
        &'a self,
        _i: &'a str,
        _c: &'a str,
        _r: OverrideRequest,
        _n: DateTime<Utc>,
    ) -> PortFuture<'a, OverrideAnswer> {
        Box::pin(async move { Err(PortError::Transient(self.0.clone())) })
    }
}

impl ActivitySink for HostedGovernor {
    fn record<'a>(
        &'a self,
        report: &'a ActivityReport,
        now: DateTime<Utc>,
    ) -> PortFuture<'a, Report> {
        Box::pin(self.record_activity(report, now))
    }
}

impl StatusSource for HostedGovernor {
    fn status<'a>(
        &'a self,
        explain: Option<&'a str>,
        now: DateTime<Utc>,
    ) -> PortFuture<'a, Map<String, Value>> {
        Box::pin(self.fleet_status(explain, now))
    }

    fn report_page<'a>(
        &'a self,
        from: Option<&'a str>,
        to: Option<&'a str>,
    ) -> PortFuture<'a, Option<String>> {
        Box::pin(self.cost_page(from, to))
    }

    fn is_admin(&self, principal: &str) -> bool {
        let p = principal.trim();
        !p.is_empty()
            && self
                .config
                .governor
                .admins
                .iter()
                .any(|a| a.trim().eq_ignore_ascii_case(p))
    }

    fn page<'a>(
        &'a self,
        ask: &'a crate::functions::PageAsk,
        now: DateTime<Utc>,
    ) -> PortFuture<'a, crate::functions::PageData> {
        Box::pin(self.page_data(ask, now))
    }
}

/// The governor's OpenTelemetry metrics (feature `otel`; exported when the OTLP pipeline is
/// installed, no-ops otherwise), recorded from the tick's report: instances by state,
/// decisions by kind, actions by kind and outcome, failures, the hourly spend stopped and the
/// evaluation's duration. The ARM client records its own (latency, 429s, retries).
#[cfg(feature = "otel")]
mod metrics {
    use opentelemetry::metrics::{Counter, Gauge, Histogram};
    use opentelemetry::KeyValue;
    use std::sync::OnceLock;

    use super::TickReport;
    use curfew_engine::governor::{Outcome, Settlement};

    struct Instruments {
        duration: Histogram<f64>,
        instances: Gauge<u64>,
        decisions: Counter<u64>,
        actions: Counter<u64>,
        failures: Counter<u64>,
        savings: Counter<f64>,
    }

    /// Built on first use from the global meter provider, which `telemetry::init` installs
    /// before the first invocation.
    fn instruments() -> &'static Instruments {
        static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();
        INSTRUMENTS.get_or_init(|| {
            let meter = opentelemetry::global::meter("curfew");
            Instruments {
                duration: meter
                    .f64_histogram("curfew.evaluation.duration")
                    .with_unit("s")
                    .with_description("Time to evaluate one tick's scope")
                    .build(),
                instances: meter
                    .u64_gauge("curfew.instances")
                    .with_description("Compute instances seen by the last tick, by ARM state")
                    .build(),
                decisions: meter
                    .u64_counter("curfew.decisions")
                    .with_description("Decisions taken, by kind")
                    .build(),
                actions: meter
                    .u64_counter("curfew.actions")
                    .with_description("Start/stop actions, by action and outcome")
                    .build(),
                failures: meter
                    .u64_counter("curfew.failures")
                    .with_description("Failed evaluations, actions and fleet problems, by stage")
                    .build(),
                savings: meter
                    .f64_counter("curfew.savings.hourly")
                    .with_unit("{currency}/h")
                    .with_description(
                        "List price per hour of the instances Curfew stopped (spend per hour removed)",
                    )
                    .build(),
            }
        })
    }

    /// The `outcome` attribute of an action, and the failure `stage` it counts under, if any.
    fn outcome_label(o: &Outcome) -> (&'static str, Option<&'static str>) {
        match o {
            Outcome::DryRun => ("dry_run", None),
            Outcome::Recorded => ("recorded", None),
            Outcome::NotRecorded(_) | Outcome::NotClaimed(_) => ("store_failed", Some("store")),
            Outcome::Lost(_) => ("lost_race", None),
            Outcome::Settled {
                settlement,
                write_error,
            } => {
                let store = write_error.as_ref().map(|_| "store");
                match settlement {
                    Settlement::Accepted => ("executed", store),
                    Settlement::Deferred(_) => ("deferred", store),
                    Settlement::Refused(_) | Settlement::NoArmId => ("refused", Some("arm")),
                }
            }
        }
    }

    /// `scope` (`fleet`, or `workspace <id>` for a fanned-out `Evaluate`) labels the instance
    /// gauge, so that the evaluations of a fanned-out fleet add up instead of overwriting one
    /// another.
    pub(super) fn record_tick(
        report: Option<&TickReport>,
        elapsed: std::time::Duration,
        scope: &str,
    ) {
        let m = instruments();
        m.duration.record(elapsed.as_secs_f64(), &[]);
        let Some(r) = report else {
            m.failures.add(1, &[KeyValue::new("stage", "evaluation")]);
            return;
        };
        for (state, n) in &r.instances_by_state {
            m.instances.record(
                *n as u64,
                &[
                    KeyValue::new("state", state.clone()),
                    KeyValue::new("curfew.scope", scope.to_owned()),
                ],
            );
        }
        for d in &r.decisions {
            let kind = format!("{:?}", d.kind).to_ascii_lowercase();
            m.decisions.add(1, &[KeyValue::new("kind", kind.clone())]);
            let (outcome, failed) = outcome_label(&d.result);
            if kind == "execute" {
                m.actions.add(
                    1,
                    &[
                        KeyValue::new("action", d.action.to_string().to_ascii_lowercase()),
                        KeyValue::new("outcome", outcome),
                    ],
                );
            }
            if kind == "failed" {
                m.failures.add(1, &[KeyValue::new("stage", "deadline")]);
            }
            if let Some(stage) = failed {
                m.failures.add(1, &[KeyValue::new("stage", stage)]);
            }
        }
        if !r.problems.is_empty() {
            m.failures
                .add(r.problems.len() as u64, &[KeyValue::new("stage", "fleet")]);
        }
        if r.stopped_hourly_cost > 0.0 {
            m.savings.add(
                r.stopped_hourly_cost,
                &[KeyValue::new("currency", r.currency.clone())],
            );
        }
    }
}

/// The ports when the settings are present but unusable: every invocation says why. `Tick`
/// completes (a timer retry would not help); queue messages are kept (503: redelivered, then
/// dead-lettered) because they would succeed once the settings are fixed.
struct Misconfigured(String);

impl TickHandler for Misconfigured {
    fn fleet<'a>(&'a self, _tick: &'a TickContext) -> PortFuture<'a, FleetWorkspaces> {
        Box::pin(async move { Err(PortError::Rejected(self.0.clone())) })
    }

    fn evaluate<'a>(
        &'a self,
        _s: &'a EvaluationScope,
        _t: &'a TickContext,
    ) -> PortFuture<'a, Report> {
        Box::pin(async move { Err(PortError::Transient(self.0.clone())) })
    }
}

impl DismissalSink for Misconfigured {
    fn dismiss<'a>(
        &'a self,
        _r: &'a DismissalRequest,
        _n: DateTime<Utc>,
    ) -> PortFuture<'a, Report> {
        Box::pin(async move { Err(PortError::Transient(self.0.clone())) })
    }

    fn preview<'a>(
        &'a self,
        _r: &'a DismissalRequest,
        _n: DateTime<Utc>,
    ) -> PortFuture<'a, String> {
        Box::pin(async move { Err(PortError::Transient(self.0.clone())) })
    }
}

impl ActivitySink for Misconfigured {
    fn record<'a>(&'a self, _r: &'a ActivityReport, _n: DateTime<Utc>) -> PortFuture<'a, Report> {
        Box::pin(async move { Err(PortError::Transient(self.0.clone())) })
    }
}

impl StatusSource for Misconfigured {
    /// Unusable settings govern nothing: `Status` says what is wrong to anyone who asks.
    fn is_admin(&self, _principal: &str) -> bool {
        true
    }

    fn status<'a>(
        &'a self,
        _e: Option<&'a str>,
        _n: DateTime<Utc>,
    ) -> PortFuture<'a, Map<String, Value>> {
        Box::pin(async move { Err(PortError::Rejected(self.0.clone())) })
    }
}

/// The ports for these app settings: the governor when configured, a component that explains
/// the problem when misconfigured, none (the placeholders) when nothing is configured.
pub(crate) fn ports(strings: &dyn Strings) -> Ports {
    match host_config(strings) {
        Err(HostConfigError::Missing) => Ports::default(),
        Err(e @ HostConfigError::Invalid(_)) => {
            let m = Arc::new(Misconfigured(e.to_string()));
            Ports {
                tick: Some(m.clone()),
                dismissals: Some(m.clone()),
                activity: Some(m.clone()),
                schedules: Some(m.clone()),
                status: Some(m),
                warnings: vec![e.to_string()],
            }
        }
        Ok(config) => {
            let warnings = match config.activity_key {
                None => vec![NO_ACTIVITY_KEY.to_owned()],
                Some(_) => Vec::new(),
            };
            let g = Arc::new(HostedGovernor::new(config));
            Ports {
                tick: Some(g.clone()),
                dismissals: Some(g.clone()),
                activity: Some(g.clone()),
                schedules: Some(g.clone()),
                status: Some(g),
                warnings,
            }
        }
    }
}

#[path = "hosted_page.rs"]
mod page;

#[cfg(test)]
#[path = "hosted_page_tests.rs"]
mod page_tests;

#[cfg(test)]
#[path = "hosted_outbox_tests.rs"]
mod outbox_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use curfew_governor::config::MapStrings;

    #[test]
    fn nothing_set_means_no_governor() {
        assert!(matches!(
            host_config(&MapStrings::default()),
            Err(HostConfigError::Missing)
        ));
    }

    #[test]
    fn individual_settings_configure_the_governor_and_bad_ones_are_named_together() {
        let c = host_config(&MapStrings::from_pairs(&[
            ("CURFEW_SCOPES", "/subscriptions/a"),
            ("CURFEW_SQLITE", ":memory:"),
            ("CURFEW_NOTIFY", "binding"),
        ]))
        .unwrap();
        assert_eq!(c.events, EventsTo::Binding);
        assert!(
            c.channels.is_empty(),
            "the binding alone: no console channel"
        );
        let e = host_config(&MapStrings::from_pairs(&[
            ("CURFEW_SCOPES", "/not/a/scope"),
            ("CURFEW_EVENTS", "pigeons"),
        ]))
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.starts_with("governor configuration: invalid settings: "),
            "{e}"
        );
        assert!(
            e.contains("CURFEW_SCOPES (arm.scopes[0])") && e.contains("CURFEW_EVENTS=\"pigeons\""),
            "{e}"
        );
    }

    #[test]
    fn without_an_activity_key_startup_says_every_report_is_refused() {
        let base = [
            ("CURFEW_SCOPES", "/subscriptions/a"),
            ("CURFEW_SQLITE", ":memory:"),
        ];
        let p = ports(&MapStrings::from_pairs(&base));
        assert_eq!(p.warnings, [NO_ACTIVITY_KEY]);
        assert!(p.describe()["warnings"][0]
            .as_str()
            .unwrap()
            .contains("CURFEW_ACTIVITY_KEY is not set"));
        let mut with_key = base.to_vec();
        with_key.push((
            "CURFEW_ACTIVITY_KEY",
            "a master key of at least thirty-two bytes",
        ));
        assert!(ports(&MapStrings::from_pairs(&with_key))
            .warnings
            .is_empty());
    }

    #[test]
    fn logs_show_idle_unknown_instances_and_budget_findings() {
        let now = chrono::Utc::now();
        let r = TickReport {
            instances: 1,
            budgets: vec!["budget 'ml' (/subscriptions/s): 82 % of 100.00 USD spent".into()],
            idle: vec!["ci-1: idle state unknown (last activity report never)".into()],
            drift: vec!["ci-2: the stop due at 2036-01-01 18:00 UTC was carried out, but 15 min later the instance is Running, not Stopped".into()],
            ..TickReport::empty(now)
        };
        let lines = summarise("all", &r);
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("idle: ci-1: idle state unknown")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("budget: budget 'ml'")),
            "{lines:?}"
        );
    }

    #[test]
    fn workspaces_outside_the_scopes_are_refused() {
        let ws = curfew_arm::WorkspaceRef::parse(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w",
        )
        .unwrap();
        let scope = |t: &str| vec![curfew_arm::Scope::parse(t).unwrap()];
        assert!(in_scope(&scope("/subscriptions/S"), &ws));
        assert!(in_scope(&scope("/subscriptions/s/resourceGroups/RG"), &ws));
        assert!(!in_scope(&scope("/subscriptions/other"), &ws));
    }
}
