//! `ArmClient`: discovery, listing with `nextLink`, get, actions with LRO polling, and
//! `updateIdleShutdownSetting`, each call budgeted, bounded per subscription, retried and
//! deadlined.

use crate::budget::Budgets;
use crate::config::{ArmConfig, Scope};
use crate::credential::TokenCache;
use crate::error::{action_in_message, ArmError};
use crate::id::{ComputeId, WorkspaceRef, PROVIDER};
use crate::model::{
    Action, Completion, Compute, ComputeList, Operation, OperationStatus, Workspace,
    COMPUTE_INSTANCE,
};
use curfew_plumbing::{parse_retry_after, Clock, SplitMix64, TokioClock};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

const READ_WORKSPACES: &str = "Microsoft.MachineLearningServices/workspaces/read";
const READ_COMPUTES: &str = "Microsoft.MachineLearningServices/workspaces/computes/read";
const UPDATE_IDLE: &str =
    "Microsoft.MachineLearningServices/workspaces/computes/updateIdleShutdownSetting/action";

/// The result of [`ArmClient::list_scopes`].
#[derive(Debug, Default)]
pub struct FleetListing {
    /// Each workspace found, with its computes or the error listing them.
    pub workspaces: Vec<(WorkspaceRef, Result<ComputeList, ArmError>)>,
    /// Scopes whose workspaces could not be listed.
    pub discovery_errors: Vec<(Scope, ArmError)>,
}

/// Counters of what the client did, for telemetry and the load test.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArmStats {
    /// HTTP requests sent to ARM (every attempt).
    pub calls: u64,
    /// List pages read successfully (workspaces and computes).
    pub pages: u64,
    /// Single resources read successfully.
    pub gets: u64,
    /// Actions ARM accepted (start/stop/restart/updateIdleShutdownSetting).
    pub actions: u64,
    /// Operation polls answered.
    pub polls: u64,
    /// 429 answers received.
    pub throttled: u64,
    /// Other failed attempts that were retried (5xx, resets, timeouts, 401 refresh).
    pub retried_failures: u64,
    /// Times a call waited for the subscription's read/write budget.
    pub budget_waits: u64,
    /// Tokens fetched from the credential.
    pub token_fetches: u64,
}

#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    pages: AtomicU64,
    gets: AtomicU64,
    actions: AtomicU64,
    polls: AtomicU64,
    throttled: AtomicU64,
    retried: AtomicU64,
    budget_waits: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Page,
    Get,
    Action,
    Poll,
}

impl Kind {
    /// The `curfew.arm.kind` metric attribute.
    fn as_str(self) -> &'static str {
        match self {
            Kind::Page => "page",
            Kind::Get => "get",
            Kind::Action => "action",
            Kind::Poll => "poll",
        }
    }
}

/// One logical ARM call.
struct Call<'a> {
    method: Method,
    url: String,
    body: Option<Value>,
    subscription: &'a str,
    resource: String,
    role_action: &'a str,
    kind: Kind,
}

/// A successful answer.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

#[derive(Debug)]
struct Inner {
    config: ArmConfig,
    http: reqwest::Client,
    tokens: TokenCache,
    clock: Arc<dyn Clock>,
    budgets: Budgets,
    gates: Mutex<HashMap<String, Arc<Semaphore>>>,
    jitter: Mutex<SplitMix64>,
    counters: Counters,
}

/// The production ARM client. Cheap to clone; clones share budgets, gates and token cache.
#[derive(Debug, Clone)]
pub struct ArmClient {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ArmClient {
    /// A client on the real clock.
    pub fn new(config: ArmConfig) -> Result<ArmClient, ArmError> {
        ArmClient::with_clock(config, Arc::new(TokioClock::default()))
    }

    /// A client whose waits and deadlines run on `clock` (tests pass a
    /// [`curfew_plumbing::ManualClock`]).
    pub fn with_clock(config: ArmConfig, clock: Arc<dyn Clock>) -> Result<ArmClient, ArmError> {
        // reqwest is built without a bundled crypto provider; ring is ours (lighter than aws-lc).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("curfew/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.attempt_timeout)
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| ArmError::Fatal {
                resource: config.endpoint.clone(),
                message: format!("HTTP client: {e}"),
            })?;
        let tokens = TokenCache::new(
            &config.credential,
            &config.cloud,
            http.clone(),
            config.scope(),
            config.token_refresh_margin,
        )?;
        Ok(ArmClient {
            inner: Arc::new(Inner {
                budgets: Budgets::new(config.read_bucket, config.write_bucket),
                jitter: Mutex::new(SplitMix64::new(config.jitter_seed)),
                config,
                http,
                tokens,
                clock,
                gates: Mutex::new(HashMap::new()),
                counters: Counters::default(),
            }),
        })
    }

    /// Bearer tokens for other resources (Microsoft Graph) from the same identity and token
    /// flow as ARM's (a static test token, `token-env:`, serves every scope).
    pub fn token_source(&self) -> Arc<dyn curfew_plumbing::TokenSource> {
        let c = &self.inner.config;
        Arc::new(crate::credential::ScopedTokens::new(
            c.credential.clone(),
            c.cloud.clone(),
            self.inner.http.clone(),
            c.token_refresh_margin,
            Arc::clone(&self.inner.clock),
        ))
    }

    /// The configuration in force.
    pub fn config(&self) -> &ArmConfig {
        &self.inner.config
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> ArmStats {
        let c = &self.inner.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ArmStats {
            calls: l(&c.calls),
            pages: l(&c.pages),
            gets: l(&c.gets),
            actions: l(&c.actions),
            polls: l(&c.polls),
            throttled: l(&c.throttled),
            retried_failures: l(&c.retried),
            budget_waits: l(&c.budget_waits),
            token_fetches: self.inner.tokens.fetches(),
        }
    }

    fn url(&self, path: &str, api_version: &str) -> String {
        format!(
            "{}{path}?api-version={api_version}",
            self.inner.config.base()
        )
    }

    fn gate(&self, subscription: &str) -> Arc<Semaphore> {
        let mut gates = lock(&self.inner.gates);
        gates
            .entry(subscription.to_ascii_lowercase())
            .or_insert_with(|| {
                Arc::new(Semaphore::new(
                    self.inner.config.concurrency_per_subscription.max(1),
                ))
            })
            .clone()
    }

    fn jitter(&self) -> f64 {
        lock(&self.inner.jitter).unit()
    }

    /// Refuses to send the bearer token anywhere but the configured endpoint.
    fn same_origin(&self, url: &str) -> bool {
        let Ok(u) = reqwest::Url::parse(url) else {
            return false;
        };
        let Ok(base) = reqwest::Url::parse(self.inner.config.base()) else {
            return false;
        };
        u.scheme() == base.scheme()
            && u.host_str() == base.host_str()
            && u.port_or_known_default() == base.port_or_known_default()
    }

    /// Sends one logical call with budgets, per-subscription bound, retries and a deadline.
    async fn send(&self, call: Call<'_>) -> Result<Answer, ArmError> {
        let i = &self.inner;
        let cfg = &i.config;
        if !self.same_origin(&call.url) {
            return Err(ArmError::Fatal {
                resource: call.resource,
                message: format!(
                    "refusing to call {} outside the configured endpoint {}",
                    call.url,
                    cfg.base()
                ),
            });
        }
        let start = i.clock.elapsed();
        let deadline = if call.kind == Kind::Poll {
            cfg.call_deadline.min(cfg.operation_deadline)
        } else {
            cfg.call_deadline
        };
        let write = call.kind == Kind::Action;
        let mut refreshed = false;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let waits = i
                .budgets
                .acquire(i.clock.as_ref(), call.subscription, write)
                .await;
            i.counters.budget_waits.fetch_add(waits, Ordering::Relaxed);
            let elapsed = i.clock.elapsed().saturating_sub(start);
            if elapsed >= deadline {
                return Err(ArmError::Timeout {
                    resource: call.resource,
                    deadline,
                });
            }
            let token = i.tokens.token(i.clock.as_ref()).await?;
            let gate = self.gate(call.subscription);
            let permit = gate.acquire_owned().await.map_err(|_| ArmError::Fatal {
                resource: call.resource.clone(),
                message: "client shut down".into(),
            })?;
            let mut req = i
                .http
                .request(call.method.clone(), &call.url)
                .bearer_auth(token.expose())
                .timeout(cfg.attempt_timeout.min(deadline - elapsed));
            if let Some(body) = &call.body {
                req = req
                    .header("content-type", "application/json")
                    .body(body.to_string());
            }
            i.counters.calls.fetch_add(1, Ordering::Relaxed);
            let sent = i.clock.elapsed();
            let outcome = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    resp.bytes().await.map(|b| (status, headers, b))
                }
                Err(e) => Err(e),
            };
            drop(permit);
            crate::metrics::attempt(
                call.kind.as_str(),
                outcome.as_ref().ok().map(|(status, _, _)| status.as_u16()),
                i.clock.elapsed().saturating_sub(sent),
            );
            let failure = match outcome {
                Err(e) => {
                    let what = if e.is_timeout() {
                        "attempt timed out"
                    } else {
                        "connection failed or was reset"
                    };
                    Failure::Transient(format!("{what}: {e}"))
                }
                Ok((status, headers, bytes)) if status.is_success() => {
                    let body = if bytes.is_empty() {
                        Value::Null
                    } else {
                        serde_json::from_slice(&bytes).map_err(|e| ArmError::Fatal {
                            resource: call.resource.clone(),
                            message: format!("answer is not JSON: {e}"),
                        })?
                    };
                    let counter = match call.kind {
                        Kind::Page => &i.counters.pages,
                        Kind::Get => &i.counters.gets,
                        Kind::Action => &i.counters.actions,
                        Kind::Poll => &i.counters.polls,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    return Ok(Answer {
                        status,
                        headers,
                        body,
                    });
                }
                Ok((status, headers, bytes)) => {
                    let (code, message) = error_text(&bytes);
                    let message = if code.is_empty() {
                        message
                    } else {
                        format!("{code}: {message}")
                    };
                    match status.as_u16() {
                        401 if !refreshed => {
                            refreshed = true;
                            i.tokens.invalidate().await;
                            i.counters.retried.fetch_add(1, Ordering::Relaxed);
                            crate::metrics::retried(call.kind.as_str());
                            continue;
                        }
                        401 => {
                            return Err(ArmError::Credential {
                                resource: call.resource,
                                message,
                            })
                        }
                        403 => {
                            let action = action_in_message(&message)
                                .unwrap_or_else(|| call.role_action.to_string());
                            return Err(ArmError::Forbidden {
                                resource: call.resource,
                                action,
                                message,
                            });
                        }
                        404 => {
                            return Err(ArmError::NotFound {
                                resource: call.resource,
                                message,
                            })
                        }
                        409 => {
                            return Err(ArmError::Conflict {
                                resource: call.resource,
                                message,
                            })
                        }
                        429 => {
                            i.counters.throttled.fetch_add(1, Ordering::Relaxed);
                            let ra = headers
                                .get("retry-after")
                                .and_then(|v| v.to_str().ok())
                                .and_then(|v| parse_retry_after(v, i.clock.now()));
                            Failure::Throttled(ra)
                        }
                        408 | 500..=599 => Failure::Transient(format!("HTTP {status}: {message}")),
                        _ => {
                            return Err(ArmError::Fatal {
                                resource: call.resource,
                                message: format!("HTTP {status}: {message}"),
                            })
                        }
                    }
                }
            };
            let retry_after = match &failure {
                Failure::Throttled(ra) => *ra,
                Failure::Transient(_) => None,
            };
            let wait = cfg.retry.delay(attempt, retry_after, self.jitter());
            let give_up = attempt >= cfg.retry.max_attempts
                || i.clock.elapsed().saturating_sub(start).saturating_add(wait) >= deadline;
            if give_up {
                tracing::warn!(resource = %call.resource, attempt, "ARM call gave up");
                return Err(match failure {
                    Failure::Throttled(retry_after) => ArmError::Throttled {
                        resource: call.resource,
                        retry_after,
                    },
                    Failure::Transient(message) if attempt < cfg.retry.max_attempts => {
                        let _ = message;
                        ArmError::Timeout {
                            resource: call.resource,
                            deadline,
                        }
                    }
                    Failure::Transient(message) => ArmError::Transient {
                        resource: call.resource,
                        attempts: attempt,
                        message,
                    },
                });
            }
            if matches!(failure, Failure::Transient(_)) {
                i.counters.retried.fetch_add(1, Ordering::Relaxed);
                crate::metrics::retried(call.kind.as_str());
            }
            tracing::debug!(resource = %call.resource, attempt, ?wait, "retrying ARM call");
            i.clock.sleep(wait).await;
        }
    }

    /// Follows `nextLink` from `first` to the end, returning every item.
    async fn list_all(
        &self,
        first: String,
        subscription: &str,
        resource: &str,
        role_action: &str,
    ) -> Result<(Vec<Value>, usize), ArmError> {
        let mut url = first;
        let mut items = Vec::new();
        let mut pages = 0;
        loop {
            let ans = self
                .send(Call {
                    method: Method::GET,
                    url,
                    body: None,
                    subscription,
                    resource: resource.to_string(),
                    role_action,
                    kind: Kind::Page,
                })
                .await?;
            pages += 1;
            let (page, next) = parse_page(ans.body, resource)?;
            items.extend(page);
            match next {
                Some(n) => url = n,
                None => return Ok((items, pages)),
            }
        }
    }

    /// Workspaces of a subscription, or of one of its resource groups.
    pub async fn list_workspaces(
        &self,
        subscription: &str,
        resource_group: Option<&str>,
    ) -> Result<Vec<Workspace>, ArmError> {
        let path = match resource_group {
            Some(rg) => format!(
                "/subscriptions/{subscription}/resourceGroups/{rg}/providers/{PROVIDER}/workspaces"
            ),
            None => format!("/subscriptions/{subscription}/providers/{PROVIDER}/workspaces"),
        };
        let url = self.url(&path, &self.inner.config.api_version);
        let (items, _) = self
            .list_all(url, subscription, &path, READ_WORKSPACES)
            .await?;
        Ok(items
            .into_iter()
            .filter_map(|raw| {
                let id = WorkspaceRef::parse(raw.get("id")?.as_str()?)?;
                let location = raw
                    .get("location")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                Some(Workspace { id, location, raw })
            })
            .collect())
    }

    /// Every workspace in the configured scopes (deduplicated, sorted); scopes are listed
    /// concurrently.
    pub async fn discover(&self) -> Result<Vec<WorkspaceRef>, ArmError> {
        let mut set = tokio::task::JoinSet::new();
        let mut out = Vec::new();
        for scope in self.inner.config.scopes.clone() {
            let me = self.clone();
            match scope {
                Scope::Subscription(s) => {
                    set.spawn(async move { me.list_workspaces(&s, None).await });
                }
                Scope::ResourceGroup {
                    subscription,
                    resource_group,
                } => {
                    set.spawn(async move {
                        me.list_workspaces(&subscription, Some(&resource_group))
                            .await
                    });
                }
                Scope::Workspace(w) => out.push(w),
            }
        }
        while let Some(joined) = set.join_next().await {
            let listed = joined.map_err(|e| ArmError::Fatal {
                resource: "discovery".into(),
                message: e.to_string(),
            })??;
            out.extend(listed.into_iter().map(|w| w.id));
        }
        out.sort_by_key(|w| w.path().to_ascii_lowercase());
        out.dedup_by_key(|w| w.path().to_ascii_lowercase());
        Ok(out)
    }

    /// Every workspace in the configured scopes (deduplicated, sorted), with the scopes that
    /// could not be listed: the workspace pages of a tick, and nothing more (a fan-out `Tick`
    /// leaves the compute listing to each `Evaluate`).
    pub async fn discover_scopes(&self) -> (Vec<WorkspaceRef>, Vec<(Scope, ArmError)>) {
        let mut set = tokio::task::JoinSet::new();
        let mut found = Vec::new();
        let mut errors = Vec::new();
        for scope in self.inner.config.scopes.clone() {
            let me = self.clone();
            let (subscription, rg) = match &scope {
                Scope::Subscription(s) => (s.clone(), None),
                Scope::ResourceGroup {
                    subscription,
                    resource_group,
                } => (subscription.clone(), Some(resource_group.clone())),
                Scope::Workspace(w) => {
                    found.push(w.clone());
                    continue;
                }
            };
            set.spawn(async move {
                let r = me.list_workspaces(&subscription, rg.as_deref()).await;
                (scope, r)
            });
        }
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((_, Ok(listed))) => found.extend(listed.into_iter().map(|w| w.id)),
                Ok((scope, Err(e))) => errors.push((scope, e)),
                Err(e) => errors.push((
                    Scope::Subscription(String::new()),
                    ArmError::Fatal {
                        resource: "discovery".into(),
                        message: e.to_string(),
                    },
                )),
            }
        }
        found.sort_by_key(|w| w.path().to_ascii_lowercase());
        found.dedup_by_key(|w| w.path().to_ascii_lowercase());
        (found, errors)
    }

    /// The compute instances of a workspace (all pages); other compute types are counted.
    pub async fn list_computes(&self, ws: &WorkspaceRef) -> Result<ComputeList, ArmError> {
        let path = format!("{}/computes", ws.path());
        let url = self.url(&path, &self.inner.config.api_version);
        let (items, pages) = self
            .list_all(url, &ws.subscription, &path, READ_COMPUTES)
            .await?;
        let mut list = ComputeList {
            pages,
            ..ComputeList::default()
        };
        for raw in items {
            match Compute::from_json(raw) {
                Some(c) if c.compute_type == COMPUTE_INSTANCE => list.instances.push(c),
                _ => list.other_types += 1,
            }
        }
        Ok(list)
    }

    /// Lists many workspaces concurrently (bounded per subscription); one result per workspace.
    pub async fn list_fleet(
        &self,
        workspaces: &[WorkspaceRef],
    ) -> Vec<(WorkspaceRef, Result<ComputeList, ArmError>)> {
        let mut set = tokio::task::JoinSet::new();
        for (idx, ws) in workspaces.iter().cloned().enumerate() {
            let me = self.clone();
            set.spawn(async move {
                let r = me.list_computes(&ws).await;
                (idx, ws, r)
            });
        }
        let mut out = Vec::with_capacity(workspaces.len());
        while let Some(joined) = set.join_next().await {
            if let Ok(r) = joined {
                out.push(r);
            }
        }
        out.sort_by_key(|(idx, ..)| *idx);
        out.into_iter().map(|(_, ws, r)| (ws, r)).collect()
    }

    /// Discovers every configured scope and lists each workspace as soon as its scope is
    /// discovered (no barrier between discovery and listing). Discovery failures are returned
    /// per scope; listing results per workspace.
    pub async fn list_scopes(&self) -> FleetListing {
        let mut set = tokio::task::JoinSet::new();
        for scope in self.inner.config.scopes.clone() {
            let me = self.clone();
            set.spawn(async move {
                let found = match &scope {
                    Scope::Subscription(s) => me
                        .list_workspaces(s, None)
                        .await
                        .map(|v| v.into_iter().map(|w| w.id).collect()),
                    Scope::ResourceGroup {
                        subscription,
                        resource_group,
                    } => me
                        .list_workspaces(subscription, Some(resource_group))
                        .await
                        .map(|v| v.into_iter().map(|w| w.id).collect()),
                    Scope::Workspace(w) => Ok(vec![w.clone()]),
                };
                match found {
                    Ok(wss) => Ok(me.list_fleet(&wss).await),
                    Err(e) => Err((scope, e)),
                }
            });
        }
        let mut listing = FleetListing::default();
        let mut seen = std::collections::HashSet::new();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(Ok(lists)) => {
                    for (ws, r) in lists {
                        if seen.insert(ws.path().to_ascii_lowercase()) {
                            listing.workspaces.push((ws, r));
                        }
                    }
                }
                Ok(Err(e)) => listing.discovery_errors.push(e),
                Err(e) => listing.discovery_errors.push((
                    Scope::Subscription(String::new()),
                    ArmError::Fatal {
                        resource: "discovery".into(),
                        message: e.to_string(),
                    },
                )),
            }
        }
        listing
            .workspaces
            .sort_by_key(|(ws, _)| ws.path().to_ascii_lowercase());
        listing
    }

    /// One compute.
    pub async fn get_compute(&self, id: &ComputeId) -> Result<Compute, ArmError> {
        let path = id.path();
        let ans = self
            .send(Call {
                method: Method::GET,
                url: self.url(&path, &self.inner.config.api_version),
                body: None,
                subscription: &id.workspace.subscription,
                resource: path.clone(),
                role_action: READ_COMPUTES,
                kind: Kind::Get,
            })
            .await?;
        Compute::from_json(ans.body).ok_or_else(|| ArmError::Fatal {
            resource: path,
            message: "answer has no compute `id`".into(),
        })
    }

    /// Many computes by id, concurrently (bounded per subscription like every call): the
    /// self-service owner view reads its viewer's few instances without listing the fleet.
    /// One result per id, in the order given; 404 comes back as [`ArmError::NotFound`].
    pub async fn get_computes(
        &self,
        ids: &[ComputeId],
    ) -> Vec<(ComputeId, Result<Compute, ArmError>)> {
        let mut set = tokio::task::JoinSet::new();
        for (idx, id) in ids.iter().cloned().enumerate() {
            let me = self.clone();
            set.spawn(async move {
                let r = me.get_compute(&id).await;
                (idx, id, r)
            });
        }
        let mut out = Vec::with_capacity(ids.len());
        while let Some(joined) = set.join_next().await {
            if let Ok(r) = joined {
                out.push(r);
            }
        }
        out.sort_by_key(|(idx, ..)| *idx);
        out.into_iter().map(|(_, id, r)| (id, r)).collect()
    }

    /// Asks ARM to start/stop/restart a compute; returns the operation handle as soon as ARM
    /// accepted it (202), without polling.
    pub async fn begin(&self, id: &ComputeId, action: Action) -> Result<Operation, ArmError> {
        let path = format!("{}/{}", id.path(), action.segment());
        let ans = self
            .send(Call {
                method: Method::POST,
                url: self.url(&path, &self.inner.config.api_version),
                body: None,
                subscription: &id.workspace.subscription,
                resource: path,
                role_action: action.role_action(),
                kind: Kind::Action,
            })
            .await?;
        let h = |k: &str| {
            ans.headers
                .get(k)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let done = ans.status != StatusCode::ACCEPTED;
        Ok(Operation {
            compute: id.clone(),
            action,
            async_operation: if done {
                None
            } else {
                h("azure-asyncoperation")
            },
            location: if done { None } else { h("location") },
            retry_after: h("retry-after")
                .and_then(|v| parse_retry_after(&v, self.inner.clock.now())),
        })
    }

    /// Polls an operation once: `Azure-AsyncOperation` if present, else `Location`.
    pub async fn poll(&self, op: &Operation) -> Result<OperationStatus, ArmError> {
        let resource = format!("{}/{}", op.compute.path(), op.action.segment());
        let (url, is_async) = match (&op.async_operation, &op.location) {
            (Some(u), _) => (u.clone(), true),
            (None, Some(u)) => (u.clone(), false),
            (None, None) => return Ok(OperationStatus::Succeeded),
        };
        let ans = self
            .send(Call {
                method: Method::GET,
                url,
                body: None,
                subscription: &op.compute.workspace.subscription,
                resource: resource.clone(),
                role_action: READ_COMPUTES,
                kind: Kind::Poll,
            })
            .await?;
        let retry_after = ans
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, self.inner.clock.now()));
        if !is_async {
            return Ok(if ans.status == StatusCode::ACCEPTED {
                OperationStatus::InProgress(retry_after)
            } else {
                OperationStatus::Succeeded
            });
        }
        let status = ans.body["status"].as_str().unwrap_or("");
        match status.to_ascii_lowercase().as_str() {
            "succeeded" => Ok(OperationStatus::Succeeded),
            "failed" | "canceled" | "cancelled" => Err(ArmError::OperationFailed {
                resource,
                status: status.to_string(),
                message: ans.body["error"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            }),
            _ => Ok(OperationStatus::InProgress(retry_after)),
        }
    }

    /// Polls until the operation ends or the operation deadline passes, honouring `Retry-After`.
    pub async fn wait(&self, op: &Operation) -> Result<(), ArmError> {
        let i = &self.inner;
        let start = i.clock.elapsed();
        let mut delay = op.retry_after;
        loop {
            let d = delay.unwrap_or(i.config.poll_interval);
            if i.clock.elapsed().saturating_sub(start).saturating_add(d)
                > i.config.operation_deadline
            {
                return Err(ArmError::Timeout {
                    resource: format!("{}/{}", op.compute.path(), op.action.segment()),
                    deadline: i.config.operation_deadline,
                });
            }
            if !d.is_zero() {
                i.clock.sleep(d).await;
            }
            match self.poll(op).await? {
                OperationStatus::Succeeded => return Ok(()),
                OperationStatus::InProgress(ra) => delay = ra,
            }
        }
    }

    /// Starts/stops/restarts a compute; with [`Completion::Wait`] also polls it to the end.
    pub async fn act(
        &self,
        id: &ComputeId,
        action: Action,
        completion: Completion,
    ) -> Result<Operation, ArmError> {
        let op = self.begin(id, action).await?;
        if completion == Completion::Wait {
            self.wait(&op).await?;
        }
        Ok(op)
    }

    /// Sets a compute instance's idle shutdown (ISO 8601 duration, e.g. `PT60M`) with the
    /// preview API version that offers `updateIdleShutdownSetting`.
    pub async fn update_idle_shutdown(
        &self,
        id: &ComputeId,
        idle_time: &str,
    ) -> Result<(), ArmError> {
        let path = format!("{}/updateIdleShutdownSetting", id.path());
        self.send(Call {
            method: Method::POST,
            url: self.url(&path, &self.inner.config.idle_shutdown_api_version),
            body: Some(serde_json::json!({ "idleTimeBeforeShutdown": idle_time })),
            subscription: &id.workspace.subscription,
            resource: path,
            role_action: UPDATE_IDLE,
            kind: Kind::Action,
        })
        .await
        .map(|_| ())
    }
}

enum Failure {
    Throttled(Option<Duration>),
    Transient(String),
}

/// ARM's `{"error": {"code", "message"}}`, or the raw text.
fn error_text(bytes: &[u8]) -> (String, String) {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) if v.get("error").is_some() => (
            v["error"]["code"].as_str().unwrap_or("").to_string(),
            v["error"]["message"].as_str().unwrap_or("").to_string(),
        ),
        _ => (
            String::new(),
            String::from_utf8_lossy(bytes).chars().take(500).collect(),
        ),
    }
}

/// Splits a list page into items and the next absolute URL.
pub(crate) fn parse_page(
    body: Value,
    resource: &str,
) -> Result<(Vec<Value>, Option<String>), ArmError> {
    let mut body = body;
    let items = match body.get_mut("value").map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => {
            return Err(ArmError::Fatal {
                resource: resource.to_string(),
                message: "list answer has no `value` array".into(),
            })
        }
    };
    let next = match body.get("nextLink") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) if s.starts_with("https://") || s.starts_with("http://") => {
            Some(s.clone())
        }
        Some(other) => {
            return Err(ArmError::Fatal {
                resource: resource.to_string(),
                message: format!("list answer has a nextLink that is not an absolute URL: {other}"),
            })
        }
    };
    Ok((items, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../testdata/arm/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn the_list_fixture_is_counted_and_its_relative_next_link_refused() {
        let body = fixture("2025-09-01_Compute_list.json")["responses"]["200"]["body"].clone();
        let err = parse_page(body.clone(), "ws").unwrap_err();
        assert!(err.to_string().contains("nextLink"));
        let mut body = body;
        body.as_object_mut().unwrap().remove("nextLink");
        let (items, next) = parse_page(body, "ws").unwrap();
        assert_eq!((items.len(), next), (2, None));
        let computes: Vec<Compute> = items.into_iter().filter_map(Compute::from_json).collect();
        assert!(computes.iter().all(|c| c.compute_type == "AKS"));
    }

    #[test]
    fn get_fixtures_parse_into_computes() {
        for f in [
            "2025-12-01_Compute_get_ComputeInstance.json",
            "2025-10-01-preview_Compute_get_ComputeInstance.json",
        ] {
            let c = Compute::from_json(fixture(f)["responses"]["200"]["body"].clone()).unwrap();
            assert_eq!(
                (c.compute_type.as_str(), c.state(), c.id.name.as_str()),
                ("ComputeInstance", Some("Running"), "compute123")
            );
            assert_eq!(c.id.workspace.resource_group, "testrg123");
        }
    }
}
