//! `curfew-governor`: the runtime that carries the engine's decisions out exactly once. It
//! lists the fleet from ARM, reads state from the store, asks `curfew_engine::governor` what to
//! do, claims, acts and settles, and *returns* the events it made; it never sends them itself
//! and holds no state outside the store. It knows nothing of the Functions host: the handler
//! and the CLI are its callers.
//!
//! # Layout
//! - [`settings`]: the configuration file.
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
pub mod costlog;
pub mod delivery;
pub mod dismiss;
pub mod error;
pub mod explain;
pub(crate) mod ledger;
pub mod settings;
pub mod tick;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use curfew_arm::{ArmClient, ArmConfig, CredentialConfig, Scope, SecretString, WorkspaceRef};
use curfew_engine::governor::{self, LinkKey};
use curfew_engine::inventory::{self, Instance};
use curfew_engine::policy::{AppendTarget, Assignment, PolicyDefinition};
use curfew_notify::{ChannelDeps, ChannelSpec, EventSource, Notifier};
use curfew_store::{SqliteStore, StateStore, TableConfig, TableStore};
use serde_json::Value;
use settings::Settings;
use std::sync::Arc;

/// Reads an environment variable (the real environment in the binary, a map in tests).
pub type Env<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// Everything a tick needs, built once from the settings.
pub struct Runtime {
    /// ARM client.
    pub arm: ArmClient,
    /// Durable state.
    pub store: Arc<dyn StateStore>,
    /// The configured channels; [`Runtime::deliver`] hands every event to each of them.
    pub channels: Vec<Arc<dyn Notifier>>,
    /// Governor knobs.
    pub config: governor::Config,
    /// Link keys, the first signs.
    pub link_keys: Vec<LinkKey>,
    /// Public URL of the Dismiss function.
    pub link_base: Option<String>,
    /// Default policies.
    pub policies: Vec<Assignment>,
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
    /// Workspaces listed, with their number of compute instances (for fan-out).
    pub workspaces: Vec<(WorkspaceRef, usize)>,
    /// Whether nothing could be listed at all (every scope failed): a transient failure.
    pub unreachable: bool,
}

fn credential(s: &settings::ArmSettings, env: Env<'_>) -> anyhow::Result<CredentialConfig> {
    let kind = s.credential.as_deref().unwrap_or("auto");
    Ok(match kind {
        "auto" => CredentialConfig::Auto.resolve(env),
        "managed-identity" => CredentialConfig::ManagedIdentity {
            client_id: s.client_id.clone(),
        },
        "workload-identity" => CredentialConfig::WorkloadIdentity {
            tenant_id: env("AZURE_TENANT_ID"),
            client_id: s.client_id.clone().or_else(|| env("AZURE_CLIENT_ID")),
            token_file: env("AZURE_FEDERATED_TOKEN_FILE").map(Into::into),
        },
        "azure-cli" => CredentialConfig::AzureCli { tenant_id: None },
        other => match other.strip_prefix("token-env:") {
            Some(var) => CredentialConfig::StaticToken(SecretString::new(
                env(var).with_context(|| format!("arm.credential: variable {var} is not set"))?,
            )),
            None => bail!(
                "arm.credential: '{other}' is not one of auto, managed-identity, workload-identity, azure-cli, token-env:VAR"
            ),
        },
    })
}

impl Runtime {
    /// Builds the runtime: ARM client, store (opened and migrated), notifiers, policies, keys.
    pub async fn from_settings(s: &Settings, env: Env<'_>) -> anyhow::Result<Runtime> {
        let mut arm = ArmConfig::default();
        if let Some(e) = &s.arm.endpoint {
            arm.endpoint = e.trim_end_matches('/').to_string();
        }
        if let Some(v) = &s.arm.api_version {
            arm.api_version = v.clone();
        }
        arm.scopes = s
            .arm
            .scopes
            .iter()
            .enumerate()
            .map(|(i, t)| {
                Scope::parse(t).with_context(|| format!("arm.scopes[{i}]: '{t}' is not a subscription, resource group or workspace id"))
            })
            .collect::<anyhow::Result<_>>()?;
        if arm.scopes.is_empty() {
            bail!("arm.scopes: name at least one subscription, resource group or workspace");
        }
        arm.credential = credential(&s.arm, env)?;
        if let Some(rate) = s.arm.reads_per_second {
            if !(rate.is_finite() && rate > 0.0) {
                bail!("arm.readsPerSecond: {rate} is not a positive rate");
            }
            arm.read_bucket = curfew_arm::BucketConfig {
                capacity: (rate * 10.0).max(1.0),
                refill_per_sec: rate,
            };
            arm.write_bucket = curfew_arm::BucketConfig {
                capacity: (rate * 10.0).max(1.0),
                refill_per_sec: rate,
            };
        }
        let arm = ArmClient::new(arm).context("building the ARM client")?;
        let store: Arc<dyn StateStore> = match &s.store.table_connection_string_env {
            Some(var) => {
                let conn = env(var).with_context(|| {
                    format!("store.tableConnectionStringEnv: variable {var} is not set")
                })?;
                let cfg = TableConfig::from_connection_string(&conn)
                    .with_context(|| format!("the connection string in {var}"))?;
                Arc::new(TableStore::open(cfg, s.store.table.as_deref().unwrap_or("curfew")).await?)
            }
            None => {
                let path = s.resolve(
                    s.store
                        .sqlite
                        .as_deref()
                        .unwrap_or("curfew.sqlite".as_ref()),
                );
                Arc::new(
                    SqliteStore::open(&path)
                        .await
                        .with_context(|| format!("opening the store '{}'", path.display()))?,
                )
            }
        };
        let specs = if s.notify.is_empty() {
            "console".to_string()
        } else {
            s.notify.join(" ")
        };
        let channels = ChannelSpec::parse_list(&specs).context("notify")?;
        let deps = ChannelDeps::default();
        let channels = channels
            .iter()
            .map(|c| c.build(&deps))
            .collect::<Result<Vec<_>, _>>()
            .context("notify")?;
        let mut config = governor::Config::default();
        let g = &s.governor;
        if let Some(m) = g.catch_up_minutes {
            config.catch_up = chrono::TimeDelta::minutes(m);
        }
        if let Some(leads) = &g.lead_minutes {
            config.lead_times = leads
                .iter()
                .map(|m| chrono::TimeDelta::minutes(*m))
                .collect();
        }
        if let Some(m) = g.defer_minutes {
            config.defer_deadline = chrono::TimeDelta::minutes(m);
        }
        if let Some(m) = g.snooze_cap_minutes {
            config.snooze_cap = chrono::TimeDelta::minutes(m);
        }
        config.admins = g.admins.clone();
        let link_keys = s
            .links
            .keys
            .iter()
            .map(|k| {
                let secret = env(&k.secret_env).with_context(|| {
                    format!(
                        "links.keys '{}': variable {} is not set",
                        k.id, k.secret_env
                    )
                })?;
                Ok(LinkKey::new(&k.id, secret.as_bytes()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut policies = Vec::new();
        for (i, p) in s.policies.iter().enumerate() {
            let path = s.resolve(&p.file);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("policies[{i}]: reading '{}'", path.display()))?;
            let stem = path
                .file_stem()
                .and_then(|x| x.to_str())
                .unwrap_or("policy");
            let def = PolicyDefinition::from_json_str(&text, &serde_json::Map::new())
                .map_err(|e| anyhow::anyhow!("policies[{i}] '{}': {e}", path.display()))?
                .with_fallback_name(stem);
            policies.push(
                Assignment::new(stem, p.scope.as_deref().unwrap_or("/"), def)
                    .map_err(|e| anyhow::anyhow!("policies[{i}]: {e}"))?,
            );
        }
        let budgets = match &s.budgets {
            Some(p) => {
                let path = s.resolve(p);
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("budgets: reading '{}'", path.display()))?;
                curfew_engine::cost::parse_budgets(&text, &path.display().to_string())
                    .map_err(|e| anyhow::anyhow!("budgets: {e}"))?
            }
            None => Vec::new(),
        };
        if !budgets.is_empty() && s.cost_timeline.is_none() {
            bail!("budgets: set costTimeline too (budgets are measured on it)");
        }
        let prices = match &s.prices {
            Some(p) => {
                let path = s.resolve(p);
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("prices: reading '{}'", path.display()))?;
                curfew_engine::cost::PriceSheet::from_json(&text, &path.display().to_string())
                    .map_err(|e| anyhow::anyhow!("prices: {e}"))?
            }
            None => curfew_engine::cost::PriceSheet::defaults(),
        };
        Ok(Runtime {
            arm,
            budgets,
            prices,
            store,
            channels,
            config,
            link_keys,
            link_base: s.links.base_url.clone(),
            policies,
            deployment: s.deployment().to_string(),
            write_back_idle: s.governor.write_back_idle_defaults.unwrap_or(false),
            cost_log: s
                .cost_timeline
                .as_ref()
                .map(|p| costlog::CostLog::new(s.resolve(p))),
            source: EventSource::deployment(s.deployment()),
            clock: Arc::new(curfew_plumbing::TokioClock::default()),
        })
    }

    /// Lists every compute instance in the configured scopes.
    pub async fn fleet(&self) -> ListedFleet {
        self.fleet_in(None).await
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
        let mut fleet = ListedFleet {
            unreachable: listing.workspaces.is_empty() && !listing.discovery_errors.is_empty(),
            ..ListedFleet::default()
        };
        for (scope, e) in listing.discovery_errors {
            fleet.problems.push(format!("scope {scope:?}: {e}"));
        }
        for (ws, result) in listing.workspaces {
            fleet
                .workspaces
                .push((ws.clone(), result.as_ref().map_or(0, |l| l.instances.len())));
            match result {
                Err(e) => fleet.problems.push(format!("workspace {}: {e}", ws.path())),
                Ok(list) => {
                    for c in list.instances {
                        match inventory::items(c.raw.get(), &c.id.path())
                            .ok()
                            .map(|items| items.read(0))
                        {
                            Some(inventory::Item::Instance(i)) => {
                                fleet.instances.push(FleetInstance {
                                    instance: *i,
                                    // The ARM body is only needed to assess policies; without
                                    // them, drop it now (it is most of a listing's memory).
                                    raw: if self.policies.is_empty() {
                                        Value::Null
                                    } else {
                                        c.value()
                                    },
                                    workspace: ws.workspace.clone(),
                                })
                            }
                            Some(inventory::Item::Problem(d)) => fleet.problems.push(d.to_string()),
                            _ => {}
                        }
                    }
                }
            }
        }
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
