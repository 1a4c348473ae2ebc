//! `curfew-governor`: the runtime that carries the engine's decisions out exactly once. It
//! lists the fleet from ARM, reads state from the store, asks `curfew_engine::governor` what to
//! do, claims, acts and settles, and *returns* the events it made; it never sends them itself
//! and holds no state outside the store. It knows nothing of the Functions host: the handler
//! and the CLI are its callers.
//!
//! # Layout
//! - [`config`]: every setting named once; the settings file and the environment, checked
//!   into a [`config::RuntimeConfig`] that [`Runtime::from_config`] builds on.
//! - [`ledger`]: store records ↔ the engine's ledger view.
//! - [`tick`]: one evaluation: fleet → decide → notices → claim/act/settle → watermark.
//! - [`delivery`]: events as values, and [`Runtime::deliver`], the one place they leave.
//! - [`error`]: [`error::GovernError`], classified retryable or not.
//! - [`dismiss`]: skip/snooze requests, authorised by the engine, recorded in the store.
//! - [`activity`]: activity reports folded into idle records.
//! - [`budgets`], [`costlog`]: the cost timeline and the budget alerts on it.
//! - [`explain`]: one instance's schedules, sources, next occurrences and history.

pub mod activity;
pub mod budgets;
pub mod config;
pub mod costlog;
pub mod delivery;
pub mod dismiss;
pub mod error;
pub mod explain;
pub(crate) mod ledger;
pub mod liveplan;
pub mod override_edit;
pub mod tick;

use error::{GovernError, GovernResult};

use chrono::{DateTime, Utc};
use config::{RuntimeConfig, StoreConfig};
use curfew_arm::{ArmClient, WorkspaceRef};
use curfew_engine::governor::{self, LinkKey};
use curfew_engine::inventory::{self, Instance};
use curfew_engine::policy::{AppendTarget, Assignment};
use curfew_notify::{ChannelDeps, EventSource, Notifier};
use curfew_store::{SqliteStore, StateStore, StoreError, TableStore};
use serde_json::Value;
use std::sync::Arc;

/// Whether workspace `ws` lies inside one of `scopes` (ARM ids compare case-insensitively):
/// what Curfew governs, and so the only workspaces whose messages and reports it takes.
pub fn in_scope(scopes: &[curfew_arm::Scope], ws: &WorkspaceRef) -> bool {
    let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    scopes.iter().any(|s| match s {
        curfew_arm::Scope::Subscription(sub) => eq(sub, &ws.subscription),
        curfew_arm::Scope::ResourceGroup {
            subscription,
            resource_group,
        } => eq(subscription, &ws.subscription) && eq(resource_group, &ws.resource_group),
        curfew_arm::Scope::Workspace(w) => eq(&w.path(), &ws.path()),
    })
}

/// Everything a tick needs, built once from the checked configuration.
pub struct Runtime {
    /// ARM client.
    pub arm: ArmClient,
    /// Durable state.
    pub store: Arc<dyn StateStore>,
    /// The configured channels; [`Runtime::deliver`] hands each event to those its routes
    /// select (every one without routes).
    pub channels: Vec<Arc<dyn Notifier>>,
    /// Routing rules over the channels' labels (`routes`; empty: every channel).
    pub routes: Vec<curfew_engine::routing::RouteRule>,
    /// Each configured channel's `(label, kind)`, for `explain` (never its URL).
    pub channel_kinds: Vec<(String, &'static str)>,
    /// Governor knobs.
    pub config: governor::Config,
    /// Link keys, the first signs.
    pub link_keys: Vec<LinkKey>,
    /// Public URL of the Dismiss function.
    pub link_base: Option<String>,
    /// Default policies.
    pub policies: Vec<Assignment>,
    /// Holiday and exception calendars with their assignments (docs/calendars.md).
    pub calendars: curfew_engine::holiday::CalendarSet,
    /// Deployment name.
    pub deployment: String,
    /// Write policy idle-time defaults back to ARM (`updateIdleShutdownSetting`); else Curfew
    /// enforces them itself.
    pub write_back_idle: bool,
    /// The cost timeline, when configured (`costTimeline`).
    pub cost_log: Option<costlog::CostLog>,
    /// Budgets checked against the cost timeline (`budgets`).
    pub budgets: Vec<curfew_engine::cost::Budget>,
    /// Prices for budgets (`prices`, else the shipped sheet).
    pub prices: curfew_engine::cost::PriceSheet,
    /// CloudEvents `source`.
    pub source: EventSource,
    /// Time as a port: the tick stamps claims with the tick's `now` plus the time elapsed on
    /// this clock since the tick began (a simulated clock in tests).
    pub clock: Arc<dyn curfew_plumbing::Clock>,
    /// Once-marks this process has seen set ([`Runtime::once`]): an event sent once per thing
    /// (a policy applied to an instance) costs one store write per process, not one per tick.
    pub marks_seen: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// One compute instance as read from ARM: the engine's view and the raw JSON (for policies).
#[derive(Debug, Clone)]
pub struct FleetInstance {
    /// Parsed fields and raw schedules.
    pub instance: Instance,
    /// The ARM body.
    pub raw: Value,
    /// Workspace name, for events.
    pub workspace: String,
}

/// What default policies supply to one instance.
#[derive(Debug, Default, Clone)]
pub struct PolicySupplied {
    /// `computeStartStop` entries, with the supplying policy's name.
    pub schedules: Vec<(String, Vec<Value>)>,
    /// An `idleTimeBeforeShutdown` value and the supplying policy's name.
    pub idle: Option<(String, String)>,
}

/// The fleet of one listing, with what could not be read.
#[derive(Debug, Default)]
pub struct ListedFleet {
    /// Compute instances.
    pub instances: Vec<FleetInstance>,
    /// Workspaces or scopes that could not be listed, one line each.
    pub problems: Vec<String>,
    /// Workspaces listed, with their number of compute instances (the sizes the fan-out
    /// decision learns); one whose listing failed is left out (a problem says why).
    pub workspaces: Vec<(WorkspaceRef, usize)>,
    /// Whether nothing could be listed at all (every scope failed): a transient failure.
    pub unreachable: bool,
}

impl ListedFleet {
    /// The instance named `name`, case-insensitively (ARM compute names are), as `curfew
    /// explain` and override edits look instances up.
    pub fn named(&self, name: &str) -> Option<&FleetInstance> {
        self.instances
            .iter()
            .find(|f| f.instance.name.eq_ignore_ascii_case(name))
    }
}

/// The workspaces in scope at one tick, found without listing their computes (a fan-out
/// `Tick` reads no more than this; each `Evaluate` lists its own workspace).
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// Workspaces found, deduplicated, in a stable order.
    pub workspaces: Vec<WorkspaceRef>,
    /// Scopes that could not be listed, one line each.
    pub problems: Vec<String>,
    /// Whether nothing could be discovered at all (every scope failed): a transient failure.
    pub unreachable: bool,
}

impl Runtime {
    /// Builds the runtime from checked configuration: opens (and migrates) the store, builds
    /// the ARM client and the channels. Only I/O happens here; every value was checked by
    /// [`RuntimeConfig::load`].
    pub async fn from_config(c: &RuntimeConfig) -> GovernResult<Runtime> {
        let store: Arc<dyn StateStore> = match &c.store {
            StoreConfig::Sqlite(path) => {
                Arc::new(SqliteStore::open(path).await.map_err(|e| GovernError::Setup {
                    retryable: e.is_retryable(),
                    message: format!("opening the store '{}': {e}", path.display()),
                })?)
            }
            StoreConfig::Table { table, config } => {
                Arc::new(TableStore::open(config.clone(), table).await?)
            }
            StoreConfig::TableIdentity { endpoint, .. } => {
                return Err(GovernError::Setup {
                    message: format!("the table at {endpoint} is reached with the managed identity, which `curfew serve` provides"),
                    retryable: false,
                })
            }
        };
        Self::with_store(c, store)
    }

    /// Builds the runtime around a store the caller opened (the hosted governor's table,
    /// reached with the managed identity).
    pub fn with_store(c: &RuntimeConfig, store: Arc<dyn StateStore>) -> GovernResult<Runtime> {
        let arm = ArmClient::new(c.arm.clone())?;
        let mut deps = ChannelDeps::default();
        if let Some(e) = &c.email {
            let clock = Arc::clone(&deps.clock);
            let graph: Option<Arc<dyn curfew_notify::Directory>> = match &e.graph {
                Some(endpoint) => Some(Arc::new(curfew_notify::GraphDirectory::new(
                    endpoint,
                    arm.token_source(),
                    Arc::clone(&clock),
                    curfew_notify::DEFAULT_RETRY,
                )?)),
                None => None,
            };
            let directory = curfew_notify::CachedDirectory::new(
                curfew_notify::StaticDirectory(e.owners.clone()),
                graph,
                clock,
            );
            deps.email = Some((e.smtp.clone(), Arc::new(directory)));
        }
        let channels = c
            .channels
            .iter()
            .map(|spec| spec.build(&deps))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Runtime {
            arm,
            store,
            channels,
            routes: c.routes.clone(),
            channel_kinds: c
                .channels
                .iter()
                .map(|s| (s.label().to_owned(), s.kind()))
                .collect(),
            config: c.governor.clone(),
            link_keys: c
                .link_keys
                .iter()
                .map(|(id, secret)| LinkKey::new(id, secret.expose().as_bytes()))
                .collect(),
            link_base: c.link_base.clone(),
            policies: c.policies.clone(),
            calendars: c.calendars.clone(),
            deployment: c.deployment.clone(),
            write_back_idle: c.write_back_idle,
            cost_log: c.cost_timeline.clone().map(costlog::CostLog::new),
            budgets: c.budgets.clone(),
            prices: c.prices.clone(),
            source: EventSource::deployment(&c.deployment),
            clock: Arc::new(curfew_plumbing::TokioClock::default()),
            marks_seen: Default::default(),
        })
    }

    /// Lists every compute instance in the configured scopes.
    pub async fn fleet(&self) -> ListedFleet {
        self.fleet_in(None).await
    }

    /// Discovers the workspaces of every configured scope: workspace pages only.
    pub async fn discover(&self) -> Discovery {
        let (workspaces, errors) = self.arm.discover_scopes().await;
        Discovery {
            unreachable: workspaces.is_empty() && !errors.is_empty(),
            problems: errors
                .iter()
                .map(|(scope, e)| format!("scope {scope:?}: {e}"))
                .collect(),
            workspaces,
        }
    }

    /// Lists the compute instances of the workspaces a [`Runtime::discover`] found (compute
    /// pages only: the workspaces are not discovered again).
    pub async fn fleet_of(&self, discovery: &Discovery) -> ListedFleet {
        let listing = curfew_arm::FleetListing {
            workspaces: self.arm.list_fleet(&discovery.workspaces).await,
            discovery_errors: Vec::new(),
        };
        let mut fleet = self.read_listing(listing);
        fleet
            .problems
            .splice(0..0, discovery.problems.iter().cloned());
        fleet.unreachable = discovery.unreachable;
        fleet
    }

    /// Lists the compute instances of one workspace (a fan-out `Evaluate`), or of every
    /// configured scope when `only` is `None`.
    pub async fn fleet_in(&self, only: Option<&WorkspaceRef>) -> ListedFleet {
        let listing = match only {
            Some(ws) => curfew_arm::FleetListing {
                workspaces: vec![(ws.clone(), self.arm.list_computes(ws).await)],
                discovery_errors: Vec::new(),
            },
            None => self.arm.list_scopes().await,
        };
        self.read_listing(listing)
    }

    /// The engine's view of a listing, with what could not be read.
    fn read_listing(&self, listing: curfew_arm::FleetListing) -> ListedFleet {
        let mut fleet = ListedFleet {
            unreachable: listing.workspaces.is_empty() && !listing.discovery_errors.is_empty(),
            ..ListedFleet::default()
        };
        for (scope, e) in listing.discovery_errors {
            fleet.problems.push(format!("scope {scope:?}: {e}"));
        }
        for (ws, result) in listing.workspaces {
            match result {
                Err(e) => fleet.problems.push(format!("workspace {}: {e}", ws.path())),
                Ok(list) => {
                    fleet.workspaces.push((ws.clone(), list.instances.len()));
                    for c in list.instances {
                        self.read_compute(&mut fleet, &ws, c);
                    }
                }
            }
        }
        fleet
    }

    /// Adds one compute of `ws` to `fleet` (an instance, or a problem saying why not).
    fn read_compute(&self, fleet: &mut ListedFleet, ws: &WorkspaceRef, c: curfew_arm::Compute) {
        match inventory::items(c.raw.get(), &c.id.path())
            .ok()
            .map(|items| items.read(0))
        {
            Some(inventory::Item::Instance(i)) => fleet.instances.push(FleetInstance {
                instance: *i,
                // The ARM body is only needed to assess policies; without them, drop it now
                // (it is most of a listing's memory).
                raw: if self.policies.is_empty() {
                    Value::Null
                } else {
                    c.value()
                },
                workspace: ws.workspace.clone(),
            }),
            Some(inventory::Item::Problem(d)) => fleet.problems.push(d.to_string()),
            _ => {}
        }
    }

    /// The compute instances with these ARM ids, each read fresh from ARM by one GET (no
    /// listing): what a few known instances cost is their number, not the fleet's. One that
    /// is gone (404) is left out silently; any other failure is a problem line.
    pub async fn fetch_computes(&self, ids: &[curfew_arm::ComputeId]) -> ListedFleet {
        let mut fleet = ListedFleet::default();
        for (id, result) in self.arm.get_computes(ids).await {
            match result {
                Ok(c) => self.read_compute(&mut fleet, &id.workspace, c),
                Err(curfew_arm::ArmError::NotFound { .. }) => {}
                Err(e) => fleet.problems.push(format!("compute {}: {e}", id.path())),
            }
        }
        fleet.unreachable = fleet.instances.is_empty() && !fleet.problems.is_empty();
        fleet
    }

    /// What default policies supply to an instance: schedules (with the policy's name) and an
    /// `idleTimeBeforeShutdown` (value, policy name). Assessed once per instance and tick.
    pub fn policy_supplied(&self, fi: &FleetInstance, today: chrono::NaiveDate) -> PolicySupplied {
        let mut out = PolicySupplied::default();
        if self.policies.is_empty() {
            return out;
        }
        let mut raw = fi.raw.clone();
        if raw.get("type").is_none() {
            raw["type"] = Value::from("Microsoft.MachineLearningServices/workspaces/computes");
        }
        let assessment = curfew_engine::policy::assess(&self.policies, &raw, today);
        if let Some(supplied) = assessment.supplied(&AppendTarget::Schedules) {
            let list = match &supplied.value {
                Value::Array(a) => a.clone(),
                v => v
                    .get("computeStartStop")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            };
            out.schedules.push((supplied.policy.to_string(), list));
        }
        if let Some(supplied) = assessment.supplied(&AppendTarget::IdleTimeBeforeShutdown) {
            if let Some(v) = supplied.value.as_str() {
                out.idle = Some((v.to_string(), supplied.policy.to_string()));
            }
        }
        out
    }

    /// The calendars resolved around `now` (a week and a day either side: the tick's window,
    /// its lead times and `explain`'s days), shared by every instance of one evaluation.
    pub fn calendar_windows(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Vec<Arc<curfew_engine::holiday::CalendarWindow>> {
        let margin = chrono::TimeDelta::days(8);
        self.calendars
            .calendars
            .iter()
            .map(|c| Arc::new(c.window(now - margin, now + margin)))
            .collect()
    }

    /// The schedules default policies supply (for callers that need only those).
    pub fn policy_defaults(
        &self,
        fi: &FleetInstance,
        today: chrono::NaiveDate,
    ) -> Vec<(String, Vec<Value>)> {
        self.policy_supplied(fi, today).schedules
    }

    /// The watermark key of this deployment's tick (per workspace for fan-out evaluations).
    pub fn watermark_scope(&self, only: Option<&WorkspaceRef>) -> String {
        match only {
            Some(ws) => format!("{}/tick{}", self.deployment, ws.path().to_ascii_lowercase()),
            None => format!("{}/tick", self.deployment),
        }
    }

    /// Whether `mark` is new: set in the store (`mark_notified(mark, 0)`, first caller wins
    /// across processes), remembered here so that asking again costs nothing.
    pub async fn once(&self, mark: &str) -> Result<bool, StoreError> {
        let seen = |m: &str| {
            self.marks_seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(m)
        };
        if seen(mark) {
            return Ok(false);
        }
        let first = self.store.mark_notified(mark, 0).await?;
        self.marks_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(mark.to_string());
        Ok(first)
    }

    /// Whether `mark`, about something at `at` (a drift's due time, a report's time, a day),
    /// is new: a timed store mark ([`MarkKind::Event`](curfew_store::MarkKind::Event)), swept
    /// once `at` is past the retention horizon, so these marks stay flat; remembered here too.
    pub async fn once_at(&self, mark: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let seen = |m: &str| {
            self.marks_seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(m)
        };
        if seen(mark) {
            return Ok(false);
        }
        // Written untimed by a build before these marks were timed: still the same event
        // (one read, and only when the event happens again).
        let legacy = !self.store.notified_leads(mark).await?.is_empty();
        let first = !legacy
            && self
                .store
                .mark_once(curfew_store::MarkKind::Event, mark, at)
                .await?;
        self.marks_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(mark.to_string());
        Ok(first)
    }

    /// The store key of the heartbeat: the `now` of the newest completed tick, of any scope
    /// (a fanned-out tick's workspaces each complete one).
    pub fn heartbeat_scope(&self) -> String {
        format!("{}/heartbeat", self.deployment)
    }

    /// Records that a tick at `now` completed (never moves the heartbeat back; a racing
    /// governor that recorded first is as good).
    pub async fn record_heartbeat(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let scope = self.heartbeat_scope();
        let before = self.store.get_watermark(&scope).await?;
        if before.is_some_and(|b| b >= now) {
            return Ok(());
        }
        match self.store.set_watermark(&scope, before, now).await {
            Err(e) if !e.is_conflict() => Err(e),
            _ => Ok(()),
        }
    }

    /// The `now` of the newest completed tick, as Status reports it.
    pub async fn last_tick(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.store.get_watermark(&self.heartbeat_scope()).await
    }

    /// A signed link for an occurrence and choice, when links are configured.
    pub fn link(
        &self,
        occurrence_id: &str,
        choice: governor::Choice,
        at: DateTime<Utc>,
    ) -> Option<String> {
        let key = self.link_keys.first()?;
        let base = self.link_base.as_deref()?;
        let token = governor::sign(key, occurrence_id, choice, at + self.config.snooze_cap);
        let sep = if base.contains('?') { '&' } else { '?' };
        Some(format!("{base}{sep}token={token}"))
    }
}
