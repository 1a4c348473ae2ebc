//! The router as a value (conventions §4): one `POST /{FunctionName}` per function, `GET /`
//! for the host's readiness poll, and the failure semantics of docs/design.md §11.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, SecondsFormat, Utc};
use http_body_util::BodyExt as _;
use serde_json::{json, Map, Value};
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

use super::config::FunctionsConfig;
use super::messages::{
    plan_tick, ActivityReport, DismissalRequest, EvaluateMessage, FanoutPlan, TickContext,
};
use super::pages;
use super::ports::{EvaluationScope, IfMatch, OverrideRequest, PortError, Ports, Report};
use super::protocol::{
    HttpTrigger, InvocationRequest, InvocationResponse, OutputValue, ProtocolError, TimerInfo,
};
use super::selfservice;
use super::telemetry::{self, InvocationInfo, Telemetry, TraceParent, Trigger};

/// Binding name of the timer trigger in `functions/Tick/function.json`.
pub(crate) const TIMER: &str = "timer";
/// Binding name of the Service Bus trigger in the queue functions.
pub(crate) const MESSAGE: &str = "message";
/// Binding name of the HTTP trigger.
pub(crate) const REQ: &str = "req";
/// Binding name of the HTTP response output.
pub(crate) const RES: &str = "res";
/// Output binding to the `Evaluate` queue (Tick's fan-out).
pub(crate) const EVALUATE_OUT: &str = "evaluate";
/// Output binding to the events topic (CloudEvents).
pub(crate) const EVENTS_OUT: &str = "events";

/// The functions of the app; each has a folder `functions/<Name>/` and a route `/<Name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Function {
    /// Timer, every minute: evaluate or fan out.
    Tick,
    /// Service Bus: evaluate one workspace.
    Evaluate,
    /// Service Bus: dismissals from ops workflows.
    Dismissals,
    /// Service Bus: activity reports from instances.
    Activity,
    /// HTTP: signed dismiss links.
    Dismiss,
    /// HTTP: fleet and handler status.
    Status,
    /// HTTP: signed activity reports posted by the instances' reporter.
    ActivityReport,
    /// HTTP (App Service Authentication): GET, PUT, DELETE one instance's schedule override.
    Schedules,
}

impl Function {
    /// Every function, in route order.
    pub(crate) const ALL: [Function; 8] = [
        Self::Tick,
        Self::Evaluate,
        Self::Dismissals,
        Self::Activity,
        Self::Dismiss,
        Self::Status,
        Self::ActivityReport,
        Self::Schedules,
    ];

    /// The name (folder and route).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Tick => "Tick",
            Self::Evaluate => "Evaluate",
            Self::Dismissals => "Dismissals",
            Self::Activity => "Activity",
            Self::Dismiss => "Dismiss",
            Self::Status => "Status",
            Self::ActivityReport => "ActivityReport",
            Self::Schedules => "Schedules",
        }
    }

    /// Its trigger kind.
    pub(crate) fn trigger(self) -> Trigger {
        match self {
            Self::Tick => Trigger::Timer,
            Self::Evaluate | Self::Dismissals | Self::Activity => Trigger::PubSub,
            Self::Dismiss | Self::Status | Self::ActivityReport | Self::Schedules => Trigger::Http,
        }
    }
}

use curfew_plumbing::Clock;

/// Everything a route needs; shared by all invocations.
pub(crate) struct AppState {
    /// Parsed configuration.
    pub(crate) config: FunctionsConfig,
    /// The governor's implementations (absent until wired).
    pub(crate) ports: Ports,
    /// Fallback clock, when the host sends no `Metadata.sys.UtcNow` (a manual one in tests).
    pub(crate) clock: Arc<dyn Clock>,
    /// Telemetry pipeline, flushed before each answer.
    pub(crate) telemetry: Telemetry,
    started: Instant,
    started_at: DateTime<Utc>,
    cold: AtomicBool,
    invocations: AtomicU64,
}

impl AppState {
    /// State for a process that started at `started` (monotonic) / `started_at` (wall clock).
    pub(crate) fn new(
        config: FunctionsConfig,
        ports: Ports,
        clock: Arc<dyn Clock>,
        telemetry: Telemetry,
        started: Instant,
        started_at: DateTime<Utc>,
    ) -> Self {
        Self {
            config,
            ports,
            clock,
            telemetry,
            started,
            started_at,
            cold: AtomicBool::new(true),
            invocations: AtomicU64::new(0),
        }
    }
}

/// The largest request envelope read (docs/functions.md, "Limits"). Curfew's messages are a
/// few hundred bytes; the cap bounds memory under hostile senders. A bigger body is read to
/// its end and discarded (so the answer reaches the sender), then answered in the envelope.
pub(crate) const MAX_BODY_BYTES: usize = 4 << 20;

/// How much of an over-cap body is read and discarded before the answer is sent anyway (the
/// connection then closes); reading costs no memory, only time on a sender that never stops.
pub(crate) const MAX_DRAINED_BYTES: u64 = 1 << 30;

/// The router: `GET /` and one `POST /{FunctionName}` per [`Function`]. A panic in any route
/// (a bug) answers 500 with an envelope saying so, instead of a dropped connection.
pub(crate) fn app(state: Arc<AppState>) -> Router {
    let mut router = Router::new().route("/", get(ready));
    for f in Function::ALL {
        router = router.route(
            &format!("/{}", f.name()),
            post(
                move |State(s): State<Arc<AppState>>, headers: HeaderMap, body: Body| async move {
                    match read_capped(body).await {
                        Ok(bytes) => invoke(s, f, headers, bytes).await,
                        Err(refusal) => refuse_body(f, &refusal),
                    }
                },
            ),
        );
    }
    router
        .with_state(state)
        .layer(CatchPanicLayer::custom(panic_envelope))
}

/// Why a request body was not read.
#[derive(Debug)]
enum BodyRefusal {
    /// More than [`MAX_BODY_BYTES`]; `seen` bytes were read (and discarded) in all.
    TooLarge { seen: u64 },
    /// The connection failed while reading.
    Broken(String),
}

impl std::fmt::Display for BodyRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge { seen } if *seen > MAX_DRAINED_BYTES => write!(
                f,
                "request body larger than {MAX_DRAINED_BYTES} bytes; at most {MAX_BODY_BYTES} bytes are read"
            ),
            Self::TooLarge { seen } => write!(
                f,
                "request body of {seen} bytes is larger than the {MAX_BODY_BYTES} bytes read"
            ),
            Self::Broken(e) => write!(f, "request body could not be read: {e}"),
        }
    }
}

/// Reads a body of at most [`MAX_BODY_BYTES`]; beyond that, reads on without keeping anything
/// (up to [`MAX_DRAINED_BYTES`]) so the sender sees the answer, and refuses.
async fn read_capped(mut body: Body) -> Result<Bytes, BodyRefusal> {
    let mut kept: Vec<u8> = Vec::new();
    let mut seen: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyRefusal::Broken(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len() as u64;
        if seen <= MAX_BODY_BYTES as u64 {
            kept.extend_from_slice(&data);
        } else {
            kept = Vec::new();
            if seen > MAX_DRAINED_BYTES {
                break;
            }
        }
    }
    if seen > MAX_BODY_BYTES as u64 {
        return Err(BodyRefusal::TooLarge { seen });
    }
    Ok(Bytes::from(kept))
}

/// The answer to a body that was not read, in the host's envelope: a queue message completes
/// (200: a bare 413 would make the host redeliver it) with the reason logged; an HTTP caller
/// gets 413 in `res`; a timer completes.
fn refuse_body(f: Function, refusal: &BodyRefusal) -> Response {
    let reason = refusal.to_string();
    tracing::warn!(function = f.name(), %reason, "request body refused");
    let mut resp = InvocationResponse::default();
    resp.log(format!("rejected (not retried): {reason}"));
    if f.trigger() == Trigger::Http {
        resp.output(
            RES,
            json_res(413, json!({ "status": "refused", "error": reason })),
        );
    }
    json_response(StatusCode::OK, &resp)
}

/// A panic inside a route is a bug: it answers 500 (a queue message is redelivered, then
/// dead-lettered with this reason; it is never dropped) with a proper envelope.
fn panic_envelope(payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    let what = super::protocol::shorten(what, 500);
    tracing::error!(panic = %what, "internal error: the invocation panicked");
    let mut resp = InvocationResponse::default();
    resp.log(format!(
        "internal error (a bug in Curfew; the host will retry): {what}"
    ));
    json_response(StatusCode::INTERNAL_SERVER_ERROR, &resp)
}

/// Readiness: the host polls `GET /` until it answers.
async fn ready() -> &'static str {
    "curfew ready"
}

/// How an invocation ended, deciding the status code to the host.
#[derive(Debug)]
enum Failure {
    /// Can never succeed: 200, reason logged, the message completes.
    Rejected(String),
    /// May succeed later: 503, the host abandons and Service Bus redelivers.
    Transient(String),
}

impl From<ProtocolError> for Failure {
    fn from(e: ProtocolError) -> Self {
        Self::Rejected(e.to_string())
    }
}

impl From<PortError> for Failure {
    fn from(e: PortError) -> Self {
        match e {
            PortError::Rejected(r) => Self::Rejected(r),
            PortError::Transient(r) => Self::Transient(r),
            PortError::Unauthorized(r) => Self::Rejected(r),
        }
    }
}

/// Per-invocation facts handed to the function bodies.
struct Ctx {
    now: DateTime<Utc>,
    invocation_id: Option<String>,
    /// What the reports of this invocation settle once it answers 2xx.
    on_success: std::sync::Mutex<Vec<Arc<dyn super::ports::Settle>>>,
}

async fn invoke(state: Arc<AppState>, f: Function, headers: HeaderMap, body: Bytes) -> Response {
    let invocation_id = headers
        .get("x-azure-functions-invocationid")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let parent = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse);
    let coldstart = state.cold.swap(false, Ordering::Relaxed);
    state.invocations.fetch_add(1, Ordering::Relaxed);
    let span = telemetry::invocation_span(&InvocationInfo {
        function: f.name(),
        trigger: f.trigger(),
        invocation_id: invocation_id.as_deref(),
        coldstart,
        parent: parent.as_ref(),
    });
    let started = Instant::now();
    let (status, response) = async {
        let mut resp = InvocationResponse::default();
        let outcome = match InvocationRequest::read(&body) {
            Err(e) => Err(Failure::from(e)),
            Ok((req, note)) => match invocation_now(&state, f, req.host_now()) {
                Err(e) => Err(e),
                Ok(now) => {
                    if let Some(note) = note {
                        tracing::warn!(%note, "metadata ignored");
                        resp.log(note);
                    }
                    let ctx = Ctx {
                        now,
                        invocation_id: invocation_id.clone(),
                        on_success: std::sync::Mutex::new(Vec::new()),
                    };
                    let outcome = run(&state, f, &req, &ctx, &mut resp).await;
                    // The host publishes the outputs only on a 2xx answer: settle only then
                    // (a 503 leaves the events pending, resent with their ids).
                    if !matches!(outcome, Err(Failure::Transient(_))) {
                        let settles = std::mem::take(
                            &mut *ctx.on_success.lock().unwrap_or_else(|e| e.into_inner()),
                        );
                        for s in settles {
                            for p in s.settle().await.unwrap_or_else(|e| vec![e.to_string()]) {
                                tracing::warn!(problem = %p, "settling delivered events");
                                resp.log(format!("problem: {p} (resent next time, same ids)"));
                            }
                        }
                    }
                    outcome
                }
            },
        };
        let status = match outcome {
            Ok(()) => {
                tracing::info!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "completed"
                );
                StatusCode::OK
            }
            Err(Failure::Rejected(reason)) => {
                tracing::warn!(%reason, "rejected: completed without retry");
                resp.log(format!("rejected (not retried): {reason}"));
                StatusCode::OK
            }
            Err(Failure::Transient(reason)) => {
                tracing::error!(%reason, "transient failure: the host will retry");
                resp.log(format!("transient failure (will be retried): {reason}"));
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        (status, resp)
    }
    .instrument(span)
    .await;
    state.telemetry.flush();
    json_response(status, &response)
}

/// The invocation's "now": the host's `UtcNow` when it sent one, else the process clock. A
/// host clock further than the configured tolerance from the process's own is refused, so
/// that one bad clock never decides anything (nor moves the watermark): a timer completes
/// (a retry would bring the same clock, and the next tick is checked afresh); a queue message
/// or HTTP request answers 503 (redelivered, perhaps to an instance with a sane clock).
fn invocation_now(
    state: &AppState,
    f: Function,
    host: Option<DateTime<Utc>>,
) -> Result<DateTime<Utc>, Failure> {
    let own = state.clock.now();
    let Some(host) = host else { return Ok(own) };
    let Some(tolerance) = state.config.host_clock_tolerance else {
        return Ok(host);
    };
    let apart = host.signed_duration_since(own);
    if apart.abs() <= tolerance {
        return Ok(host);
    }
    let reason = format!(
        "host clock UtcNow {} is {} min {} this process's clock ({}), more than the {} min allowed: nothing evaluated",
        stamp(host),
        apart.num_minutes().abs(),
        if apart > chrono::TimeDelta::zero() { "ahead of" } else { "behind" },
        stamp(own),
        tolerance.num_minutes()
    );
    Err(match f.trigger() {
        Trigger::Timer => Failure::Rejected(reason),
        _ => Failure::Transient(reason),
    })
}

fn json_response(status: StatusCode, body: &InvocationResponse) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn run(
    state: &AppState,
    f: Function,
    req: &InvocationRequest,
    ctx: &Ctx,
    resp: &mut InvocationResponse,
) -> Result<(), Failure> {
    match f {
        Function::Tick => tick(state, req, ctx, resp).await,
        Function::Evaluate => evaluate(state, req, ctx, resp).await,
        Function::Dismissals => dismissals(state, req, ctx, resp).await,
        Function::Activity => activity(state, req, ctx, resp).await,
        Function::Dismiss => dismiss(state, req, ctx, resp).await,
        Function::Status => status(state, req, ctx, resp).await,
        Function::ActivityReport => activity_http(state, req, ctx, resp).await,
        Function::Schedules => schedules(state, req, ctx, resp).await,
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn report(ctx: &Ctx, resp: &mut InvocationResponse, r: Report) {
    for line in r.summary {
        tracing::info!("{line}");
        resp.log(line);
    }
    resp.push_messages(EVENTS_OUT, r.events);
    if let Some(s) = r.on_success.0 {
        ctx.on_success
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(s);
    }
}

fn delivery(req: &InvocationRequest) -> String {
    let m = &req.metadata;
    let id = m.message_id.as_ref().map_or("?", |i| i.get().as_str());
    let n = m.delivery_count.as_ref().map_or(1, |c| *c.get());
    format!("message {id}, delivery {n}")
}

async fn tick(
    state: &AppState,
    req: &InvocationRequest,
    ctx: &Ctx,
    resp: &mut InvocationResponse,
) -> Result<(), Failure> {
    let timer: TimerInfo = req.binding(TIMER)?;
    let tick = TickContext {
        now: ctx.now,
        past_due: timer.past_due(),
        last_fired: timer.last(),
        invocation_id: ctx.invocation_id.clone(),
    };
    let late = if tick.past_due {
        " (past due: catch-up applies)"
    } else {
        ""
    };
    resp.log(format!("tick at {}{late}", stamp(tick.now)));
    let Some(port) = &state.ports.tick else {
        tracing::warn!("no governor configured: nothing evaluated");
        resp.log("no governor configured: nothing evaluated");
        return Ok(());
    };
    let fleet = port.fleet(&tick).await?;
    let threshold = state.config.fanout_threshold;
    match plan_tick(&fleet, threshold, &tick) {
        FanoutPlan::FanOut(messages) => {
            let unlisted = match fleet.unlisted() {
                0 => String::new(),
                n => format!(", {n} of them not listed yet and counted as one"),
            };
            let line = format!(
                "fleet of {} instances (as last listed) in {} workspaces{unlisted} exceeds {threshold}: {} Evaluate messages sent",
                fleet.instances(),
                fleet.workspaces.len(),
                messages.len()
            );
            tracing::info!("{line}");
            resp.log(line);
            resp.output(
                EVALUATE_OUT,
                OutputValue::messages(messages.iter().map(EvaluateMessage::to_json).collect()),
            );
        }
        FanoutPlan::Inline => {
            let r = port.evaluate(&EvaluationScope::Fleet, &tick).await?;
            report(ctx, resp, r);
        }
    }
    Ok(())
}

async fn evaluate(
    state: &AppState,
    req: &InvocationRequest,
    ctx: &Ctx,
    resp: &mut InvocationResponse,
) -> Result<(), Failure> {
    let body = req.json_body(MESSAGE)?;
    let msg = EvaluateMessage::from_json(&body, &format!("Data.{MESSAGE}"))?;
    resp.log(format!("evaluate {} ({})", msg.workspace, delivery(req)));
    let Some(port) = &state.ports.tick else {
        return Err(Failure::Transient(
            "no governor configured to evaluate workspaces".into(),
        ));
    };
    let tick = TickContext {
        now: ctx.now,
        past_due: false,
        last_fired: None,
        invocation_id: msg.tick_id.clone().or_else(|| ctx.invocation_id.clone()),
    };
    let r = port
        .evaluate(&EvaluationScope::Workspace(msg.workspace.clone()), &tick)
        .await?;
    report(ctx, resp, r);
    Ok(())
}

async fn dismissals(
    state: &AppState,
    req: &InvocationRequest,
    ctx: &Ctx,
    resp: &mut InvocationResponse,
) -> Result<(), Failure> {
    let body = req.json_body(MESSAGE)?;
    let d = DismissalRequest::from_json(&body, &format!("Data.{MESSAGE}"))?;
    resp.log(format!("dismissal: {} ({})", d.describe(), delivery(req)));
    let Some(port) = &state.ports.dismissals else {
        return Err(Failure::Transient(
            "no governor configured to record dismissals".into(),
        ));
    };
    let r = port.dismiss(&d, ctx.now).await?;
    report(ctx, resp, r);
    Ok(())
}

async fn activity(
    state: &AppState,
    req: &InvocationRequest,
    ctx: &Ctx,
    resp: &mut InvocationResponse,
) -> Result<(), Failure> {
    let body = req.json_body(MESSAGE)?;
    let raw = match req.data.get(MESSAGE) {
        Some(Value::String(s)) => Some(super::protocol::unquote(s).into_owned()),
        _ => None,
    };
    let a = ActivityReport::from_json(&body, &format!("Data.{MESSAGE}"))?
        .with_envelope(raw, &req.metadata.rest);
    resp.log(format!(
        "activity report from {} ({})",
        a.instance,
        delivery(req)
    ));
    let Some(port) = &state.ports.activity else {
        return Err(Failure::Transient(
            "no governor configured to record activity".into(),
        ));
    };
    let r = port.record(&a, ctx.now).await?;
    report(ctx, resp, r);
    Ok(())
}

/// A JSON `res` of the `ActivityReport` function.
fn json_res(status: u16, body: Value) -> OutputValue {
    pages::http_response(status, "application/json", body.to_string())
}

/// `ActivityReport`: the reporter's HTTP POST (docs/idle.md). The body's exact text and the
/// `X-Curfew-Timestamp` / `X-Curfew-Signature` headers go to the same sink as the `Activity`
/// queue, which verifies the signature when `CURFEW_ACTIVITY_KEY` is set. Answers: 202 stored,
/// 400 malformed, 401 unsigned or forged, 405 not a POST, 503 transient (the reporter
/// retries). The envelope is always 200 so the host relays the answer.
async fn activity_http(
    state: &AppState,
    req: &InvocationRequest,
    ctx: &Ctx,
    resp: &mut InvocationResponse,
) -> Result<(), Failure> {
    let refuse = |resp: &mut InvocationResponse, status: u16, reason: String| {
        resp.log(format!("activity report refused ({status}): {reason}"));
        tracing::warn!(status, %reason, "activity report refused");
        resp.output(
            RES,
            json_res(status, json!({ "status": "refused", "error": reason })),
        );
    };
    let http: HttpTrigger = match req.binding(REQ) {
        Ok(h) => h,
        Err(e) => {
            refuse(resp, 400, e.to_string());
            return Ok(());
        }
    };
    if http.method() != "POST" {
        refuse(resp, 405, "activity reports are POSTed".into());
        return Ok(());
    }
    let path = format!("Data.{REQ}.Body");
    let (raw, body) = match &http.body {
        Some(Value::String(s)) => {
            let text = super::protocol::unquote(s).into_owned();
            match serde_json::from_str::<Value>(&text) {
                Ok(v) => (Some(text), v),
                Err(e) => {
                    refuse(resp, 400, format!("{path}: not JSON: {e}"));
                    return Ok(());
                }
            }
        }
        Some(v @ Value::Object(_)) => (None, v.clone()),
        _ => {
            refuse(
                resp,
                400,
                format!("{path}: expected a JSON activity report"),
            );
            return Ok(());
        }
    };
    let mut a = match ActivityReport::from_json(&body, &path) {
        Ok(a) => a,
        Err(e) => {
            refuse(resp, 400, e.to_string());
            return Ok(());
        }
    };
    a.raw = raw;
    let header = |name: &str| http.header(name).map(|v| v.trim().to_owned());
    if let (Some(ts), Some(sig)) = (
        header(super::messages::SIGNATURE_TIMESTAMP),
        header(super::messages::SIGNATURE_HEADER),
    ) {
        a.signature = Some((ts, sig));
    }
    resp.log(format!("activity report from {} (HTTP)", a.instance));
    let Some(port) = &state.ports.activity else {
        refuse(
            resp,
            503,
            "no governor configured to record activity".into(),
        );
        return Ok(());
    };
    match port.record(&a, ctx.now).await {
        Ok(r) => {
            let summary = r.summary.clone();
            report(ctx, resp, r);
            resp.output(
                RES,
                json_res(
                    202,
                    json!({ "status": "accepted", "instance": a.instance, "summary": summary }),
                ),
            );
        }
        Err(PortError::Unauthorized(reason)) => refuse(resp, 401, reason),
        Err(PortError::Rejected(reason)) => refuse(resp, 400, reason),
        Err(PortError::Transient(reason)) => refuse(resp, 503, reason),
    }
    Ok(())
}

/// The header App Service Authentication sets to the signed-in caller's Entra object id (it
/// strips any such header a client sends).
pub(crate) const PRINCIPAL_HEADER: &str = "x-ms-client-principal-id";

/// `Schedules?instance=NAME`: GET, PUT (body: a `computeStartStop` array or
/// `{computeStartStop, expires}`) or DELETE one instance's override, or POST
/// `&action=adopt[&dryRun=true]` to adopt its native schedules, for the caller App Service
/// Authentication names (`X-MS-CLIENT-PRINCIPAL-ID`). Answers JSON: 200 done, 400 malformed or
/// invalid (every problem named), 403 not the owner or an admin (audited), 404 unknown
/// instance, 405 other methods, 409 nothing to adopt, 503 transient. The envelope is always
/// 200 so the host relays the answer.
async fn schedules(
    state: &AppState,
    req: &InvocationRequest,
    ctx: &Ctx,
    resp: &mut InvocationResponse,
) -> Result<(), Failure> {
    let answer = |resp: &mut InvocationResponse, status: u16, body: Value| {
        resp.log(format!("schedules answered {status}"));
        // The override's version as an ETag too, for If-Match.
        let etag = body
            .get("version")
            .and_then(Value::as_str)
            .filter(|v| v.bytes().all(|b| b.is_ascii_graphic() && b != b'"'))
            .map(|v| format!("\"{v}\""));
        let mut out = json_res(status, body);
        if let Some(tag) = etag {
            out.set_header("ETag", &tag);
        }
        resp.output(RES, out);
    };
    let refuse = |resp: &mut InvocationResponse, status: u16, reason: String| {
        tracing::warn!(status, %reason, "schedules request refused");
        answer(
            resp,
            status,
            json!({ "status": "refused", "error": reason }),
        );
    };
    let http: HttpTrigger = match req.binding(REQ) {
        Ok(h) => h,
        Err(e) => {
            refuse(resp, 400, e.to_string());
            return Ok(());
        }
    };
    let Some(instance) = http
        .query("instance")
        .map(str::trim)
        .filter(|s| !s.is_empty())
    else {
        refuse(
            resp,
            400,
            "Data.req.Query.instance: the instance's name is required".into(),
        );
        return Ok(());
    };
    let instance = instance.to_owned();
    // `If-Match: "<version>"` (a GET's `ETag`) or `If-None-Match: *` make a write conditional.
    let if_match = match (http.header("if-match"), http.header("if-none-match")) {
        (Some(_), Some(_)) => {
            refuse(resp, 400, "give If-Match or If-None-Match, not both".into());
            return Ok(());
        }
        (Some(v), None) => {
            let v = v.trim();
            let v = v.strip_prefix("W/").unwrap_or(v).trim_matches('"');
            if v.is_empty() || v == "*" {
                refuse(
                    resp,
                    400,
                    "If-Match: expected the version (ETag) a GET answered".into(),
                );
                return Ok(());
            }
            IfMatch::Version(v.to_owned())
        }
        (None, Some(v)) if v.trim() == "*" => IfMatch::Absent,
        (None, Some(_)) => {
            refuse(resp, 400, "If-None-Match: only * is understood".into());
            return Ok(());
        }
        (None, None) => IfMatch::Any,
    };
    let request = match http.method().as_str() {
        "GET" => OverrideRequest::Get,
        "DELETE" => OverrideRequest::Delete(if_match),
        "PUT" => {
            let path = format!("Data.{REQ}.Body");
            let body = match &http.body {
                Some(Value::String(s)) => {
                    match serde_json::from_str::<Value>(&super::protocol::unquote(s)) {
                        Ok(v) => v,
                        Err(e) => {
                            refuse(resp, 400, format!("{path}: not JSON: {e}"));
                            return Ok(());
                        }
                    }
                }
                Some(v @ (Value::Object(_) | Value::Array(_))) => v.clone(),
                _ => {
                    refuse(
                        resp,
                        400,
                        format!("{path}: expected a computeStartStop JSON body"),
                    );
                    return Ok(());
                }
            };
            OverrideRequest::Put(body, if_match)
        }
        "POST"
            if http
                .query("action")
                .is_some_and(|a| a.trim().eq_ignore_ascii_case("adopt")) =>
        {
            let dry_run = match http.query("dryRun").map(str::trim) {
                None | Some("" | "false" | "0") => false,
                Some("true" | "1") => true,
                Some(other) => {
                    refuse(
                        resp,
                        400,
                        format!("Data.{REQ}.Query.dryRun: expected true or false, got '{other}'"),
                    );
                    return Ok(());
                }
            };
            OverrideRequest::Adopt { dry_run }
        }
        "POST" => {
            refuse(
                resp,
                405,
                "Schedules takes POST only with ?action=adopt (GET, PUT or DELETE otherwise)"
                    .into(),
            );
            return Ok(());
        }
        _ => {
            refuse(
                resp,
                405,
                "Schedules takes GET, PUT, DELETE, or POST ?action=adopt".into(),
            );
            return Ok(());
        }
    };
    let caller = http
        .header(PRINCIPAL_HEADER)
        .unwrap_or_default()
        .trim()
        .to_owned();
    let Some(port) = &state.ports.schedules else {
        refuse(resp, 503, "no governor configured to edit schedules".into());
        return Ok(());
    };
    match port.edit(&instance, &caller, request, ctx.now).await {
        Ok(a) => answer(resp, a.status, a.body),
        Err(PortError::Transient(reason)) => refuse(resp, 503, reason),
        Err(PortError::Rejected(reason)) => refuse(resp, 400, reason),
        Err(PortError::Unauthorized(reason)) => refuse(resp, 403, reason),
    }
    Ok(())
}

/// `Dismiss`: GET shows what the link will do, from its verified token, and a confirm button
/// (link scanners and chat previews follow GETs, so a GET never changes anything); POST
/// records the dismissal.
/// Every answer is a readable page; the envelope is 200 so the host relays the page.
async fn dismiss(
    state: &AppState,
    req: &InvocationRequest,
    ctx: &Ctx,
    resp: &mut InvocationResponse,
) -> Result<(), Failure> {
    let http: HttpTrigger = match req.binding(REQ) {
        Ok(h) => h,
        Err(e) => {
            resp.output(
                RES,
                pages::html(400, "Bad request", "<p>The request could not be read.</p>"),
            );
            return Err(e.into());
        }
    };
    let d = match DismissalRequest::from_link(&http) {
        Ok(d) => d,
        Err(e) => {
            resp.log(format!("bad dismiss link: {e}"));
            tracing::warn!(error = %e, "bad dismiss link");
            resp.output(
                RES,
                pages::html(400, "This link is incomplete", "<p>The link is missing a part or was changed. Open it again from the notification, or ask your Curfew administrator.</p>"),
            );
            return Ok(());
        }
    };
    if http.method() != "POST" {
        // The page says what the link does only once its token has verified: the claims of a
        // token nobody checked are anyone's words.
        let Some(port) = &state.ports.dismissals else {
            resp.log("dismiss link opened: not checked (no governor configured)");
            let body = "<p>This link asks Curfew to skip or snooze a shutdown. Curfew cannot check it right now, so it cannot say which.</p><form method=\"post\"><button type=\"submit\">Confirm</button></form>";
            resp.output(RES, pages::html(200, "Confirm", body));
            return Ok(());
        };
        match port.preview(&d, ctx.now).await {
            Ok(what) => {
                resp.log(format!("dismiss link opened: {what}"));
                let body = format!(
                    "<p>This will <strong>{}</strong>.</p><form method=\"post\"><button type=\"submit\">Confirm</button></form>",
                    pages::escape(&what)
                );
                resp.output(RES, pages::html(200, "Confirm", &body));
            }
            Err(PortError::Transient(reason)) => {
                resp.log(format!("dismiss link could not be checked: {reason}"));
                resp.output(
                    RES,
                    pages::html(503, "Try again", "<p>Curfew could not check this link just now. Please open it again in a minute.</p>"),
                );
            }
            Err(PortError::Rejected(reason) | PortError::Unauthorized(reason)) => {
                resp.log(format!("dismiss link refused: {reason}"));
                tracing::warn!(%reason, "dismiss link refused");
                resp.output(
                    RES,
                    pages::html(403, "This link is not valid", "<p>This link is not valid: it was changed, has expired, or was not made by this Curfew. Open the newest notification, or ask your Curfew administrator.</p>"),
                );
            }
        }
        return Ok(());
    }
    let what = pages::escape(&d.describe());
    let Some(port) = &state.ports.dismissals else {
        resp.log("no governor configured: dismissal not recorded");
        resp.output(
            RES,
            pages::html(503, "Not available", "<p>Curfew cannot record dismissals right now: it is not fully configured. The shutdown has <strong>not</strong> been dismissed.</p>"),
        );
        return Ok(());
    };
    match port.dismiss(&d, ctx.now).await {
        Ok(r) => {
            let lines: String = r
                .summary
                .iter()
                .map(|l| format!("<p>{}</p>", pages::escape(l)))
                .collect();
            report(ctx, resp, r);
            resp.output(
                RES,
                pages::html(200, "Done", &format!("<p>Recorded: {what}.</p>{lines}")),
            );
        }
        Err(PortError::Rejected(reason) | PortError::Unauthorized(reason)) => {
            resp.log(format!("dismissal refused: {reason}"));
            let body = format!(
                "<p>Curfew did not accept this: {}.</p>",
                pages::escape(&reason)
            );
            resp.output(RES, pages::html(403, "Not accepted", &body));
        }
        Err(PortError::Transient(reason)) => {
            resp.log(format!("dismissal failed, caller may retry: {reason}"));
            resp.output(
                RES,
                pages::html(503, "Try again", "<p>Curfew could not record this just now. Please open the link again in a minute.</p>"),
            );
        }
    }
    Ok(())
}

/// `Status`: what this handler is and how it is configured, plus the governor's fleet view
/// when one is wired; JSON by default, HTML with `?format=html` or `Accept: text/html`.
async fn status(
    state: &AppState,
    req: &InvocationRequest,
    ctx: &Ctx,
    resp: &mut InvocationResponse,
) -> Result<(), Failure> {
    let http: HttpTrigger = req.binding(REQ)?;
    let report = http
        .query("view")
        .is_some_and(|v| v.eq_ignore_ascii_case("report"));
    if !report && wants_page(&http) {
        return self_service(state, &http, ctx, resp).await;
    }
    // `Status` is anonymous to the host (owners reach their page through it): what it says
    // about the whole fleet, and the handler's configuration, is for admins only.
    if let Some(port) = &state.ports.status {
        let caller = http.header(PRINCIPAL_HEADER).unwrap_or_default().trim();
        if !port.is_admin(caller) {
            let reason = "the fleet status and the cost report are for admins: sign in as one of CURFEW_ADMINS (owners: open the page in a browser)";
            tracing::warn!(%reason, "status refused");
            resp.log(format!("status refused: {reason}"));
            resp.output(
                RES,
                json_res(403, json!({ "status": "refused", "error": reason })),
            );
            return Ok(());
        }
    }
    if report {
        return cost_report(state, &http, resp).await;
    }
    let explain = http.query("instance").filter(|s| !s.is_empty());
    let fleet = match &state.ports.status {
        None => Value::Null,
        Some(port) => match port.status(explain, ctx.now).await {
            Ok(m) => Value::Object(m),
            Err(e) => json!({ "error": e.to_string() }),
        },
    };
    let body = status_json(state, ctx.now, fleet);
    let wants_html = http
        .query("format")
        .is_some_and(|f| f.eq_ignore_ascii_case("html"))
        || http
            .header("accept")
            .is_some_and(|a| a.contains("text/html"));
    let out = if wants_html {
        pages::html(200, "Curfew status", &pages::json_table(&body))
    } else {
        pages::http_response(200, "application/json", body.to_string())
    };
    resp.log("status served");
    resp.output(RES, out);
    Ok(())
}

/// Whether a `Status` request is for the self-service page: `?format=page`, a signed `link`, a
/// form POST, or a browser's `Accept: text/html` without an explicit `format` (`format=html`
/// keeps the handler's status as an HTML table, `format=json` the JSON).
fn wants_page(http: &HttpTrigger) -> bool {
    match http
        .query("format")
        .map(str::trim)
        .filter(|f| !f.is_empty())
    {
        Some(f) => f.eq_ignore_ascii_case("page"),
        None => {
            http.query("link").is_some_and(|l| !l.is_empty())
                || http.method() == "POST"
                || http
                    .header("accept")
                    .is_some_and(|a| a.contains("text/html"))
        }
    }
}

/// The header App Service Authentication sets to the signed-in caller's display name.
const PRINCIPAL_NAME_HEADER: &str = "x-ms-client-principal-name";

/// What a page request asks, from its query, headers and (for a POST) form body.
fn page_ask(http: &HttpTrigger) -> selfservice::PageAsk {
    let q = |k: &str| {
        http.query(k)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let h = |k: &str| {
        http.header(k)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let post = (http.method() == "POST").then(|| {
        let text = match &http.body {
            Some(Value::String(s)) => super::protocol::unquote(s).into_owned(),
            _ => String::new(),
        };
        let f = selfservice::form_fields(&text);
        selfservice::EditorPost {
            form_token: f.get("form").cloned().filter(|s| !s.is_empty()),
            instance: f.get("instance").cloned().unwrap_or_default(),
            op: f.get("op").cloned().unwrap_or_else(|| "set".into()),
            schedules: f.get("schedules").cloned().unwrap_or_default(),
            version: f.get("version").cloned(),
        }
    });
    selfservice::PageAsk {
        link: q("link"),
        principal: h(PRINCIPAL_HEADER),
        principal_name: h(PRINCIPAL_NAME_HEADER),
        filters: selfservice::Filters {
            workspace: q("workspace"),
            owner: q("owner"),
            state: q("state"),
            page: q("page")
                .and_then(|p| p.parse::<usize>().ok())
                .filter(|p| *p >= 1)
                .unwrap_or(1),
        },
        post,
    }
}

/// `Status` as the self-service page (docs/functions.md, "The self-service page"): the owner's
/// view, or the fleet view for an admin; a refusal, naming nothing, for everyone else.
async fn self_service(
    state: &AppState,
    http: &HttpTrigger,
    ctx: &Ctx,
    resp: &mut InvocationResponse,
) -> Result<(), Failure> {
    let ask = page_ask(http);
    let Some(port) = &state.ports.status else {
        resp.log("self-service page: no governor configured");
        resp.output(
            RES,
            selfservice::refusal(
                503,
                "Curfew is not fully configured: this page cannot show anything yet.",
            ),
        );
        return Ok(());
    };
    let out = match port.page(&ask, ctx.now).await {
        Ok(data) => {
            resp.log(format!(
                "self-service page served ({} view, {} instance(s){})",
                if data.admin { "admin" } else { "owner" },
                data.instances.len(),
                match &data.notice {
                    Some(n) => format!(", override edit of {}: {}", n.instance, n.message),
                    None => String::new(),
                }
            ));
            selfservice::page_response(200, selfservice::render(&data, ctx.now))
        }
        Err(PortError::Unauthorized(reason)) => {
            tracing::warn!(%reason, "self-service page refused");
            resp.log(format!("self-service page refused: {reason}"));
            selfservice::refusal(403, &reason)
        }
        Err(PortError::Rejected(reason)) => {
            resp.log(format!("self-service page refused: {reason}"));
            selfservice::refusal(400, &reason)
        }
        Err(PortError::Transient(reason)) => {
            resp.log(format!("self-service page failed: {reason}"));
            selfservice::refusal(
                503,
                "Curfew could not read the fleet just now. Please reload in a minute.",
            )
        }
    };
    resp.output(RES, out);
    Ok(())
}

/// `Status?view=report[&from=..&to=..]`: the page of `curfew report --format html` built from
/// the governor's cost timeline (docs/design.md §9).
async fn cost_report(
    state: &AppState,
    http: &HttpTrigger,
    resp: &mut InvocationResponse,
) -> Result<(), Failure> {
    let bound = |k: &str| http.query(k).map(str::trim).filter(|s| !s.is_empty());
    let page = match &state.ports.status {
        None => Ok(None),
        Some(port) => port.report_page(bound("from"), bound("to")).await,
    };
    let out = match page {
        Ok(Some(html)) => {
            resp.log("cost report served");
            pages::http_response(200, "text/html; charset=utf-8", html)
        }
        Ok(None) => {
            resp.log("cost report requested: the cost timeline is empty");
            pages::html(404, "No cost report", "<p>The cost timeline is empty: the governor records it in the store as it ticks (states seen, actions taken).</p>")
        }
        Err(PortError::Transient(reason)) => {
            resp.log(format!("cost report failed: {reason}"));
            pages::html(
                503,
                "Try again",
                &format!(
                    "<p>The cost report could not be built just now: {}.</p>",
                    pages::escape(&reason)
                ),
            )
        }
        Err(PortError::Rejected(reason) | PortError::Unauthorized(reason)) => {
            resp.log(format!("cost report refused: {reason}"));
            pages::html(
                400,
                "No cost report",
                &format!("<p>{}</p>", pages::escape(&reason)),
            )
        }
    };
    resp.output(RES, out);
    Ok(())
}

fn status_json(state: &AppState, now: DateTime<Utc>, fleet: Value) -> Value {
    let mut m = Map::new();
    m.insert("service".into(), "curfew".into());
    m.insert("version".into(), env!("CARGO_PKG_VERSION").into());
    m.insert("now".into(), stamp(now).into());
    m.insert("startedAt".into(), stamp(state.started_at).into());
    m.insert(
        "uptimeSeconds".into(),
        state.started.elapsed().as_secs().into(),
    );
    m.insert(
        "invocations".into(),
        state.invocations.load(Ordering::Relaxed).into(),
    );
    m.insert(
        "functions".into(),
        Function::ALL
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .into(),
    );
    m.insert("governor".into(), state.ports.describe());
    m.insert(
        "config".into(),
        json!({
            "fanoutThreshold": state.config.fanout_threshold,
            "logLevel": state.config.log.to_string(),
            "otlpExport": state.telemetry.exporting(),
            "settings": state.config.settings_report(),
        }),
    );
    m.insert("fleet".into(), fleet);
    Value::Object(m)
}

/// One invocation of `function` through the router, as the host makes it (host-clock check
/// off): for tests of the hosted governor outside this module.
#[cfg(test)]
pub(crate) async fn invoke_for_test(
    ports: Ports,
    function: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    use tower::ServiceExt;
    let config = FunctionsConfig::from_strings(&curfew_governor::config::MapStrings::from_pairs(
        &[(curfew_governor::config::HOST_CLOCK_TOLERANCE.var(), "off")],
    ))
    .expect("settings");
    let state = Arc::new(AppState::new(
        config,
        ports,
        Arc::new(curfew_plumbing::ManualClock::at(Utc::now())),
        Telemetry::default(),
        Instant::now(),
        Utc::now(),
    ));
    let req = axum::http::Request::post(format!("/{function}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body))
        .expect("a request");
    let resp = app(state).oneshot(req).await.expect("an answer");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .expect("a body");
    (status, serde_json::from_slice(&bytes).expect("JSON"))
}
#[cfg(test)]
mod tests;

/// The router driven in-process for the fuzz targets (`fuzz/`): `body` POSTed to `function`
/// with no governor wired, on a runtime kept per thread. Panics when the route panicked (the
/// panic layer answers 500 with "internal error"), so the fuzzer sees the bug.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_invoke(function: usize, body: &[u8]) -> (u16, Vec<u8>) {
    use tower::ServiceExt as _;
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime");
        static STATE: Arc<AppState> = Arc::new(AppState::new(
            FunctionsConfig::from_strings(&curfew_governor::config::MapStrings::from_pairs(&[
                ("CURFEW_HOST_CLOCK_TOLERANCE_MINUTES", "off"),
            ]))
            .expect("fuzzing settings"),
            Ports::default(),
            Arc::new(curfew_plumbing::ManualClock::at(DateTime::<Utc>::UNIX_EPOCH)),
            Telemetry::default(),
            Instant::now(),
            DateTime::<Utc>::UNIX_EPOCH,
        ));
    }
    let f = Function::ALL[function % Function::ALL.len()];
    let request = axum::http::Request::post(format!("/{}", f.name()))
        .body(Body::from(body.to_vec()))
        .expect("a request");
    let (status, bytes) = RUNTIME.with(|rt| {
        rt.block_on(async {
            let state = STATE.with(Arc::clone);
            let response = app(state).oneshot(request).await.expect("infallible");
            let status = response.status().as_u16();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("a body");
            (status, bytes.to_vec())
        })
    });
    let envelope: Value = serde_json::from_slice(&bytes).expect("every answer is an envelope");
    assert!(
        envelope.get("Logs").is_some() && envelope.get("ReturnValue").is_some(),
        "not an envelope: {envelope}"
    );
    assert_ne!(status, 500, "the route panicked: {envelope}");
    (status, bytes)
}
