//! The simulator's configuration, shared state and HTTP router (ARM routes, the managed-identity
//! token endpoint, and `/_sim/*` introspection).

use crate::faults::{Fault, FaultDice, FaultSpec};
use crate::fleet::SimFleet;
use crate::ids::{match_route, Route, PROVIDER};
use crate::world::{ActionRecord, OpStatus, World, WorldError};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, SecondsFormat, Utc};
use curfew_plumbing::{random_seed, SplitMix64};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Default number of computes per list page.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Default number of workspaces per list page.
pub const DEFAULT_WORKSPACE_PAGE_SIZE: usize = 100;
/// Default time a start/stop/restart takes to complete.
pub const DEFAULT_TRANSITION: Duration = Duration::from_secs(2);
/// Default lifetime of an issued token.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// The App Service managed-identity protocol version the token endpoint speaks.
pub const IDENTITY_API_VERSION: &str = "2019-08-01";
/// Path of the managed-identity token endpoint (set `IDENTITY_ENDPOINT` to base URL + this).
pub const IDENTITY_PATH: &str = "/msi/token";
/// ARM's read budget per subscription: bucket size and refill per second.
pub const ARM_READ_BUCKET: (f64, f64) = (250.0, 25.0);
/// ARM's write budget per subscription: bucket size and refill per second.
pub const ARM_WRITE_BUCKET: (f64, f64) = (200.0, 10.0);

/// How a 202 tells the caller where to poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LroStyle {
    /// Only `Azure-AsyncOperation` (a status resource).
    AsyncOperation,
    /// Only `Location` (202 until done, then 200).
    Location,
    /// Both headers, as Azure ML sends for most operations.
    Both,
}

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Computes per list page before a `nextLink` is given.
    pub page_size: usize,
    /// Workspaces per list page before a `nextLink` is given.
    pub workspace_page_size: usize,
    /// How long start/stop/restart take.
    pub transition: Duration,
    /// Injected faults.
    pub faults: FaultSpec,
    /// Which LRO headers a 202 carries.
    pub lro: LroStyle,
    /// Whether ARM routes demand a bearer token this simulator issued (401 otherwise).
    pub require_auth: bool,
    /// The secret the token endpoint expects in `X-IDENTITY-HEADER`.
    pub identity_header: String,
    /// Extra bearer tokens accepted without going through the token endpoint.
    pub static_tokens: Vec<String>,
    /// Role actions the caller lacks (answered 403 `AuthorizationFailed`).
    pub denied_actions: Vec<String>,
    /// Whether to enforce ARM's per-subscription token buckets (429 when empty).
    pub enforce_arm_buckets: bool,
    /// Lifetime of issued tokens.
    pub token_lifetime: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            page_size: DEFAULT_PAGE_SIZE,
            workspace_page_size: DEFAULT_WORKSPACE_PAGE_SIZE,
            transition: DEFAULT_TRANSITION,
            faults: FaultSpec::default(),
            lro: LroStyle::Both,
            require_auth: true,
            identity_header: "armsim-identity-header".into(),
            static_tokens: Vec::new(),
            denied_actions: Vec::new(),
            enforce_arm_buckets: false,
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
        }
    }
}

/// One line of the request log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RequestRecord {
    /// Order of arrival (0-based).
    pub seq: u64,
    /// When it arrived.
    pub at: DateTime<Utc>,
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Status answered; 0 when the connection was dropped.
    pub status: u16,
    /// What the route was (`list-computes`, `action`, `poll`, `token`, …).
    pub kind: &'static str,
    /// The fault injected, if any.
    pub fault: Option<Fault>,
    /// Time spent answering, in milliseconds.
    pub millis: u64,
}

impl fmt::Display for RequestRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:>6} {} {} {}ms {}",
            self.at.to_rfc3339_opts(SecondsFormat::Millis, true),
            self.method,
            self.path,
            if self.status == 0 {
                "dropped".to_string()
            } else {
                self.status.to_string()
            },
            self.millis,
            self.fault.map(|f| format!("{f:?}")).unwrap_or_default()
        )
    }
}

/// A request extension the server adds so a handler can drop its connection.
#[derive(Debug, Clone)]
pub(crate) struct ConnKill(pub(crate) Arc<Notify>);

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// Takes one token, or says how long until one is there.
    fn take(&mut self, (size, refill): (f64, f64), now: Instant) -> Result<(), Duration> {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * refill).min(size);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / refill))
        }
    }
}

/// Everything the simulator knows, shared by its handlers.
#[derive(Debug)]
pub struct SimState {
    config: SimConfig,
    world: Mutex<World>,
    dice: Mutex<FaultDice>,
    log: Mutex<Vec<RequestRecord>>,
    tokens: Mutex<HashMap<String, Instant>>,
    buckets: Mutex<HashMap<(String, bool), Bucket>>,
    token_rng: Mutex<SplitMix64>,
    base_url: OnceLock<String>,
    /// A simulated wall clock for `lastOperation` times and the action log (None: real time).
    wall: Mutex<Option<DateTime<Utc>>>,
    /// Whether every request should be printed to stderr as it is answered.
    pub(crate) echo: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SimState {
    /// Builds the simulator state from a fleet.
    pub fn new(fleet: SimFleet, config: SimConfig) -> Arc<SimState> {
        Arc::new(SimState {
            world: Mutex::new(World::new(fleet, config.transition)),
            dice: Mutex::new(FaultDice::new(&config.faults)),
            log: Mutex::new(Vec::new()),
            tokens: Mutex::new(HashMap::new()),
            buckets: Mutex::new(HashMap::new()),
            token_rng: Mutex::new(SplitMix64::new(random_seed())),
            base_url: OnceLock::new(),
            wall: Mutex::new(None),
            echo: false,
            config,
        })
    }

    pub(crate) fn with_echo(mut self: Arc<Self>, echo: bool) -> Arc<Self> {
        if let Some(s) = Arc::get_mut(&mut self) {
            s.echo = echo;
        }
        self
    }

    /// Sets the wall clock the simulator stamps actions with, so that a governor driven through
    /// simulated time sees `lastOperation` times on the same timeline (`None`: real time).
    pub fn set_wall_clock(&self, now: Option<DateTime<Utc>>) {
        *lock(&self.wall) = now;
    }

    /// The wall clock in force (simulated when set, else real).
    pub fn wall_clock(&self) -> DateTime<Utc> {
        lock(&self.wall).unwrap_or_else(Utc::now)
    }

    pub(crate) fn set_base_url(&self, url: String) {
        let _ = self.base_url.set(url);
    }

    /// The configuration in force.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The drift fault: accepted stops of this compute (ARM id) report success and leave it
    /// Running, until called again with `false`.
    pub fn lose_stops(&self, compute_id: &str, lose: bool) {
        lock(&self.world).lose_stops(compute_id, lose);
    }

    /// What the studio does and no stable API can: sets a native schedule's `status`
    /// (`Enabled`/`Disabled`) by ARM id and 0-based index; false when there is no such one.
    pub fn set_schedule_status(&self, compute_id: &str, index: usize, status: &str) -> bool {
        lock(&self.world).set_schedule_status(compute_id, index, status)
    }

    /// What deleting an instance and creating it again under the same name for another user
    /// looks like from a listing (Azure ML sets the assigned user only at creation): the same
    /// ARM id, another `assignedUser`. False when there is no such compute.
    pub fn set_assigned_user(&self, compute_id: &str, object_id: &str) -> bool {
        lock(&self.world).set_assigned_user(compute_id, object_id)
    }

    /// A copy of the request log so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.log).clone()
    }

    /// Every start/stop/restart/idle-setting the simulator accepted, in order.
    pub fn actions(&self) -> Vec<ActionRecord> {
        lock(&self.world).actions().to_vec()
    }

    /// A compute's current JSON (transitions settled), by ARM id.
    pub fn compute(&self, id: &str) -> Option<Value> {
        lock(&self.world).compute_by_id(id, Instant::now())
    }

    /// Issues a bearer token directly (what the token endpoint would answer), for tests.
    pub fn issue_token(&self) -> String {
        let (a, b) = {
            let mut rng = lock(&self.token_rng);
            (rng.next_u64(), rng.next_u64())
        };
        let token = format!("armsim.{a:016x}{b:016x}");
        lock(&self.tokens).insert(token.clone(), Instant::now() + self.config.token_lifetime);
        token
    }

    fn token_ok(&self, headers: &HeaderMap) -> Result<(), &'static str> {
        let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
            return Err("Authentication failed. The 'Authorization' header is missing.");
        };
        let Some(token) = auth.strip_prefix("Bearer ") else {
            return Err("Authentication failed. The 'Authorization' header is not a bearer token.");
        };
        if self.config.static_tokens.iter().any(|t| t == token) {
            return Ok(());
        }
        match lock(&self.tokens).get(token) {
            Some(exp) if *exp > Instant::now() => Ok(()),
            Some(_) => Err("The access token has expired."),
            None => Err("The access token is invalid."),
        }
    }

    fn record(&self, rec: RequestRecord) {
        if self.echo {
            eprintln!("{rec}");
        }
        lock(&self.log).push(rec);
    }

    fn next_seq(&self) -> u64 {
        lock(&self.log).len() as u64
    }

    fn base(&self, headers: &HeaderMap) -> String {
        if let Some(b) = self.base_url.get() {
            return b.clone();
        }
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}")
    }
}

/// The simulator's router: ARM paths (any case), the token endpoint and `/_sim/*`.
pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route(IDENTITY_PATH, get(token_endpoint))
        .route("/_sim/requests", get(sim_requests))
        .route("/_sim/actions", get(sim_actions))
        .fallback(arm)
        .with_state(state)
}

async fn sim_requests(State(s): State<Arc<SimState>>) -> Response {
    json_ok(
        StatusCode::OK,
        &serde_json::to_value(s.requests()).unwrap_or_default(),
    )
}

async fn sim_actions(State(s): State<Arc<SimState>>) -> Response {
    json_ok(
        StatusCode::OK,
        &serde_json::to_value(s.actions()).unwrap_or_default(),
    )
}

fn arm_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message}}).to_string();
    (
        status,
        [("content-type", "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

fn json_ok(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [("content-type", "application/json; charset=utf-8")],
        v.to_string(),
    )
        .into_response()
}

async fn token_endpoint(
    State(s): State<Arc<SimState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let at = Utc::now();
    let seq = s.next_seq();
    let resp = (|| {
        let secret = headers
            .get("x-identity-header")
            .and_then(|v| v.to_str().ok());
        if secret != Some(s.config.identity_header.as_str()) {
            return arm_error(
                StatusCode::UNAUTHORIZED,
                "InvalidIdentityHeader",
                "X-IDENTITY-HEADER is missing or wrong.",
            );
        }
        if q.get("api-version").map(String::as_str) != Some(IDENTITY_API_VERSION) {
            return arm_error(
                StatusCode::BAD_REQUEST,
                "InvalidApiVersion",
                "api-version must be 2019-08-01.",
            );
        }
        let Some(resource) = q.get("resource").filter(|r| !r.is_empty()) else {
            return arm_error(
                StatusCode::BAD_REQUEST,
                "MissingResource",
                "The 'resource' parameter is required.",
            );
        };
        let token = s.issue_token();
        let expires = Utc::now().timestamp() + s.config.token_lifetime.as_secs() as i64;
        let client_id = q
            .get("client_id")
            .cloned()
            .unwrap_or_else(|| "00000000-0000-0000-0000-00000000a11d".into());
        json_ok(
            StatusCode::OK,
            &json!({
                "access_token": token,
                "expires_on": expires.to_string(),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": client_id
            }),
        )
    })();
    s.record(RequestRecord {
        seq,
        at,
        method: "GET".into(),
        path: IDENTITY_PATH.into(),
        status: resp.status().as_u16(),
        kind: "token",
        fault: None,
        millis: started.elapsed().as_millis() as u64,
    });
    resp
}

async fn arm(State(s): State<Arc<SimState>>, req: Request) -> Response {
    let started = Instant::now();
    let at = Utc::now();
    let method = req.method().clone();
    let path_q = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let route = match_route(method.as_str(), req.uri().path());
    let kill = req.extensions().get::<ConnKill>().cloned();
    let (resp, fault) = answer(&s, route.as_ref(), req).await;
    let dropped = fault == Some(Fault::Drop) && kill.is_some();
    let seq = s.next_seq();
    s.record(RequestRecord {
        seq,
        at,
        method: method.to_string(),
        path: path_q,
        status: if dropped { 0 } else { resp.status().as_u16() },
        kind: route.as_ref().map(Route::kind).unwrap_or("unknown"),
        fault,
        millis: started.elapsed().as_millis() as u64,
    });
    if let (true, Some(kill)) = (dropped, kill) {
        kill.0.notify_one();
        std::future::pending::<()>().await;
    }
    resp
}

async fn answer(s: &SimState, route: Option<&Route>, req: Request) -> (Response, Option<Fault>) {
    let f = &s.config.faults;
    if !f.latency.is_zero() {
        tokio::time::sleep(f.latency).await;
    }
    let (hit, slow) = lock(&s.dice).roll();
    if slow {
        tokio::time::sleep(f.slow_delay).await;
    }
    let slow_fault = slow.then_some(Fault::Slow);
    match hit {
        Some(Fault::Drop) => {
            return (
                arm_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "ConnectionDropped",
                    "connection dropped (no connection to drop)",
                ),
                Some(Fault::Drop),
            )
        }
        Some(Fault::Throttle) => {
            let mut r = arm_error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "The request is being throttled as the limit has been reached for operation type.",
            );
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(f.retry_after_secs));
            return (r, hit);
        }
        Some(Fault::Unavailable) => {
            return (
                arm_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "The service is temporarily unavailable.",
                ),
                hit,
            )
        }
        Some(Fault::ServerError) => {
            return (
                arm_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerError",
                    "Encountered internal server error.",
                ),
                hit,
            )
        }
        _ => {}
    }
    if s.config.require_auth {
        if let Err(msg) = s.token_ok(req.headers()) {
            let mut r = arm_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", msg);
            r.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_static("Bearer authorization_uri=\"https://login.windows.net/\", error=\"invalid_token\""),
            );
            return (r, slow_fault);
        }
    }
    let Ok(Query(q)) = Query::<HashMap<String, String>>::try_from_uri(req.uri()) else {
        return (
            arm_error(
                StatusCode::BAD_REQUEST,
                "InvalidQuery",
                "The query string is malformed.",
            ),
            slow_fault,
        );
    };
    let Some(api_version) = q.get("api-version").cloned() else {
        return (
            arm_error(
                StatusCode::BAD_REQUEST,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            ),
            slow_fault,
        );
    };
    let Some(route) = route else {
        return (
            arm_error(
                StatusCode::NOT_FOUND,
                "InvalidResourceType",
                &format!("The resource type could not be found in the namespace '{PROVIDER}'."),
            ),
            slow_fault,
        );
    };
    let action = route.role_action();
    if s.config
        .denied_actions
        .iter()
        .any(|d| d.eq_ignore_ascii_case(action))
    {
        let msg = format!(
            "The client 'curfew@armsim' with object id '00000000-0000-0000-0000-00000000a11d' does not have authorization to perform action '{action}' over scope '{}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
            req.uri().path()
        );
        return (
            arm_error(StatusCode::FORBIDDEN, "AuthorizationFailed", &msg),
            slow_fault,
        );
    }
    if s.config.enforce_arm_buckets {
        let sub = req
            .uri()
            .path()
            .split('/')
            .nth(2)
            .unwrap_or("")
            .to_ascii_lowercase();
        let write = route.is_write();
        let now = Instant::now();
        let limits = if write {
            ARM_WRITE_BUCKET
        } else {
            ARM_READ_BUCKET
        };
        let mut buckets = lock(&s.buckets);
        let b = buckets.entry((sub, write)).or_insert(Bucket {
            tokens: limits.0,
            last: now,
        });
        if let Err(wait) = b.take(limits, now) {
            let mut r = arm_error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Subscription request budget exhausted.",
            );
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(wait.as_secs().max(1)));
            return (r, Some(Fault::Bucket));
        }
    }
    let base = s.base(req.headers());
    let path = req.uri().path().to_string();
    let body = if method_is(&req, Method::POST) {
        match axum::body::to_bytes(req.into_body(), 1 << 20).await {
            Ok(b) if b.is_empty() => None,
            Ok(b) => match serde_json::from_slice::<Value>(&b) {
                Ok(v) => Some(v),
                Err(_) => {
                    return (
                        arm_error(
                            StatusCode::BAD_REQUEST,
                            "InvalidRequestContent",
                            "The request content is not valid JSON.",
                        ),
                        slow_fault,
                    )
                }
            },
            Err(_) => {
                return (
                    arm_error(
                        StatusCode::BAD_REQUEST,
                        "InvalidRequestContent",
                        "The request content could not be read.",
                    ),
                    slow_fault,
                )
            }
        }
    } else {
        None
    };
    (
        dispatch(s, route, &base, &path, &api_version, &q, body.as_ref()),
        slow_fault,
    )
}

fn method_is(req: &Request, m: Method) -> bool {
    req.method() == m
}

fn world_error(e: WorldError) -> Response {
    match e {
        WorldError::NotFound(code, msg) => arm_error(StatusCode::NOT_FOUND, code, &msg),
        WorldError::Conflict(msg) => arm_error(StatusCode::CONFLICT, "Conflict", &msg),
        WorldError::BadRequest(msg) => arm_error(StatusCode::BAD_REQUEST, "BadRequest", &msg),
    }
}

fn page(items: Vec<Value>, total: usize, skip: usize, base: &str, path: &str, api: &str) -> Value {
    let next = skip + items.len();
    let mut out = json!({ "value": items });
    if next < total {
        out["nextLink"] =
            Value::String(format!("{base}{path}?api-version={api}&$skipToken={next}"));
    }
    out
}

fn retry_after_secs(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000) as u64
}

fn dispatch(
    s: &SimState,
    route: &Route,
    base: &str,
    path: &str,
    api: &str,
    q: &HashMap<String, String>,
    body: Option<&Value>,
) -> Response {
    let now = Instant::now();
    let skip: usize = q
        .get("$skipToken")
        .or_else(|| q.get("$skiptoken"))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let size = s.config.page_size.max(1);
    let mut world = lock(&s.world);
    match route {
        Route::ListWorkspaces {
            subscription,
            resource_group,
        } => match world.list_workspaces(subscription, resource_group.as_deref()) {
            Ok(all) => {
                let total = all.len();
                let items = all
                    .into_iter()
                    .skip(skip)
                    .take(s.config.workspace_page_size.max(1))
                    .collect();
                json_ok(StatusCode::OK, &page(items, total, skip, base, path, api))
            }
            Err(e) => world_error(e),
        },
        Route::GetWorkspace(ws) => match world.get_workspace(ws) {
            Ok(v) => json_ok(StatusCode::OK, &v),
            Err(e) => world_error(e),
        },
        Route::ListComputes(ws) => match world.list_computes(ws, skip, size, now) {
            Ok((items, total)) => {
                json_ok(StatusCode::OK, &page(items, total, skip, base, path, api))
            }
            Err(e) => world_error(e),
        },
        Route::GetCompute(ws, name) => match world.get_compute(ws, name, now) {
            Ok(v) => json_ok(StatusCode::OK, &v),
            Err(e) => world_error(e),
        },
        Route::Action(ws, name, action) => {
            match world.act(ws, name, *action, body, now, s.wall_clock()) {
                Ok(None) => StatusCode::OK.into_response(),
                Ok(Some(op)) => {
                    let o = world.operation(&op, now);
                    let remaining = world.remaining(&op, now);
                    let (sub, loc) = o.map(|o| (o.subscription, o.location)).unwrap_or_default();
                    let ops =
                        format!("{base}/subscriptions/{sub}/providers/{PROVIDER}/locations/{loc}");
                    let mut r = StatusCode::ACCEPTED.into_response();
                    let h = r.headers_mut();
                    if matches!(s.config.lro, LroStyle::AsyncOperation | LroStyle::Both) {
                        let url = format!(
                            "{ops}/computeOperationsStatus/{op}?api-version={api}&service=new"
                        );
                        h.insert("azure-asyncoperation", header(&url));
                    }
                    if matches!(s.config.lro, LroStyle::Location | LroStyle::Both) {
                        let url = format!("{ops}/computeOperationsResults/{op}?api-version={api}");
                        h.insert("location", header(&url));
                    }
                    h.insert(
                        "retry-after",
                        HeaderValue::from(retry_after_secs(remaining)),
                    );
                    r
                }
                Err(e) => world_error(e),
            }
        }
        Route::OperationStatus(op) => match world.operation(op, now) {
            Some(o) => {
                let status = if o.status == OpStatus::Succeeded {
                    "Succeeded"
                } else {
                    "InProgress"
                };
                let mut v = json!({
                    "id": path,
                    "name": o.id,
                    "status": status,
                    "startTime": o.started.to_rfc3339_opts(SecondsFormat::Millis, true),
                });
                if let Some(end) = o.ended {
                    v["endTime"] = Value::String(end.to_rfc3339_opts(SecondsFormat::Millis, true));
                }
                let mut r = json_ok(StatusCode::OK, &v);
                if o.status == OpStatus::InProgress {
                    let ra = retry_after_secs(world.remaining(op, now));
                    r.headers_mut().insert("retry-after", HeaderValue::from(ra));
                }
                r
            }
            None => arm_error(
                StatusCode::NOT_FOUND,
                "OperationNotFound",
                &format!("Operation '{op}' was not found."),
            ),
        },
        Route::OperationResult(op) => match world.operation(op, now) {
            Some(o) if o.status == OpStatus::Succeeded => StatusCode::OK.into_response(),
            Some(_) => {
                let mut r = StatusCode::ACCEPTED.into_response();
                let url = format!("{base}{path}?api-version={api}");
                r.headers_mut().insert("location", header(&url));
                let ra = retry_after_secs(world.remaining(op, now));
                r.headers_mut().insert("retry-after", HeaderValue::from(ra));
                r
            }
            None => arm_error(
                StatusCode::NOT_FOUND,
                "OperationNotFound",
                &format!("Operation '{op}' was not found."),
            ),
        },
    }
}

fn header(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}
