//! Router tests with `oneshot` (no socket), and one on a real `127.0.0.1:0` socket.

use std::path::Path;
use std::sync::Mutex;

use axum::body::Body;
use axum::http::Request;
use chrono::TimeZone;
use tower::ServiceExt;

use super::*;
use crate::functions::messages::{FleetWorkspaces, WorkspaceSize};
use crate::functions::ports::{ActivitySink, DismissalSink, PortFuture, StatusSource, TickHandler};
use curfew_governor::config::{MapStrings, HOST_CLOCK_TOLERANCE};

const WS: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ml/providers/Microsoft.MachineLearningServices/workspaces/ws-research";

fn clock_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap()
}

/// A governor stand-in that records what it was asked and answers as told.
#[derive(Default)]
struct Recorder {
    fleet: FleetWorkspaces,
    fail: Option<PortError>,
    calls: Mutex<Vec<String>>,
}

impl Recorder {
    fn answer<T>(&self, call: String, ok: T) -> PortFuture<'_, T>
    where
        T: Send + 'static,
    {
        self.calls.lock().unwrap().push(call);
        let result = match &self.fail {
            Some(e) => Err(e.clone()),
            None => Ok(ok),
        };
        Box::pin(async move { result })
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

fn event(kind: &str) -> Map<String, Value> {
    json!({"specversion": "1.0", "type": kind, "source": "/curfew", "id": "e1"})
        .as_object()
        .unwrap()
        .clone()
}

impl TickHandler for Recorder {
    fn fleet<'a>(&'a self, tick: &'a TickContext) -> PortFuture<'a, FleetWorkspaces> {
        self.answer(format!("fleet@{}", stamp(tick.now)), self.fleet.clone())
    }
    fn evaluate<'a>(
        &'a self,
        scope: &'a EvaluationScope,
        tick: &'a TickContext,
    ) -> PortFuture<'a, Report> {
        let r = Report {
            summary: vec!["stopped 1".into()],
            events: vec![event("curfew.instance.stopped")],
            ..Report::default()
        };
        self.answer(
            format!(
                "evaluate {scope:?}@{} past_due={}",
                stamp(tick.now),
                tick.past_due
            ),
            r,
        )
    }
}

impl DismissalSink for Recorder {
    fn dismiss<'a>(
        &'a self,
        request: &'a DismissalRequest,
        now: DateTime<Utc>,
    ) -> PortFuture<'a, Report> {
        let r = Report {
            summary: vec!["snoozed until 19:00".into()],
            events: vec![event("curfew.shutdown.dismissed")],
            ..Report::default()
        };
        self.answer(format!("dismiss {}@{}", request.describe(), stamp(now)), r)
    }

    fn preview<'a>(
        &'a self,
        request: &'a DismissalRequest,
        _now: DateTime<Utc>,
    ) -> PortFuture<'a, String> {
        // A stand-in that "verifies" every token: it answers with the request's own words.
        let result = match &self.fail {
            Some(e) => Err(e.clone()),
            None => Ok(request.describe()),
        };
        Box::pin(async move { result })
    }
}

impl ActivitySink for Recorder {
    fn record<'a>(
        &'a self,
        report: &'a ActivityReport,
        now: DateTime<Utc>,
    ) -> PortFuture<'a, Report> {
        self.answer(
            format!("activity {}@{}", report.instance, stamp(now)),
            Report::default(),
        )
    }
}

impl StatusSource for Recorder {
    fn is_admin(&self, _principal: &str) -> bool {
        true
    }

    fn status<'a>(
        &'a self,
        explain: Option<&'a str>,
        _now: DateTime<Utc>,
    ) -> PortFuture<'a, Map<String, Value>> {
        let m = json!({"instances": 3, "explain": explain})
            .as_object()
            .unwrap()
            .clone();
        self.answer("status".into(), m)
    }
}

/// The router with `settings`. The fixtures' `UtcNow` values span years while the process
/// clock here is one manual instant, so the host-clock check is off unless a test sets it.
fn state_with(ports: Ports, settings: &[(&str, &str)]) -> Arc<AppState> {
    let mut settings = settings.to_vec();
    if !settings
        .iter()
        .any(|(k, _)| *k == HOST_CLOCK_TOLERANCE.var())
    {
        settings.push((HOST_CLOCK_TOLERANCE.var(), "off"));
    }
    let config = FunctionsConfig::from_strings(&MapStrings::from_pairs(&settings)).unwrap();
    Arc::new(AppState::new(
        config,
        ports,
        Arc::new(curfew_plumbing::ManualClock::at(clock_time())),
        Telemetry::default(),
        Instant::now(),
        clock_time(),
    ))
}

fn governed(r: &Arc<Recorder>) -> Ports {
    Ports {
        tick: Some(r.clone()),
        dismissals: Some(r.clone()),
        activity: Some(r.clone()),
        status: Some(r.clone()),
        schedules: None,
        warnings: Vec::new(),
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../testdata/functions").join(name);
    let ours = root.join("tests/data/functions").join(name);
    std::fs::read(if shared.exists() { shared } else { ours }).unwrap()
}

/// Posts `body` to `/{function}` as the host does; returns the status and the envelope.
async fn call(state: Arc<AppState>, function: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let req = Request::post(format!("/{function}"))
        .header("content-type", "application/json; charset=utf-8")
        .header(
            "x-azure-functions-invocationid",
            "83a33220-a921-460a-bec0-b3f043dcf1ff",
        )
        .header(
            "traceparent",
            "00-bb2bd5eef54cb15a1506d0326d2489e7-d3f54c84c7034d76-00",
        )
        .body(Body::from(body))
        .unwrap();
    let resp = app(state).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn logs(v: &Value) -> String {
    v["Logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_envelope(v: &Value) {
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["Logs", "Outputs", "ReturnValue"], "{v}");
    assert_eq!(v["ReturnValue"], Value::Null);
}

#[tokio::test]
async fn readiness_answers_get_root() {
    let resp = app(state_with(Ports::default(), &[]))
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn tick_without_governor_says_so_and_completes() {
    let (status, v) = call(
        state_with(Ports::default(), &[]),
        "Tick",
        fixture("timer-trigger-request.captured-2023-09-07.json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_envelope(&v);
    assert_eq!(v["Outputs"], json!({}));
    let l = logs(&v);
    assert!(l.contains("tick at 2023-09-07T11:40:45Z"), "{l}");
    assert!(l.contains("no governor configured"), "{l}");
}

#[tokio::test]
async fn tick_evaluates_small_fleets_inline_at_host_time() {
    let r = Arc::new(Recorder {
        fleet: FleetWorkspaces {
            workspaces: vec![WorkspaceSize {
                id: WS.into(),
                instances: Some(3),
            }],
        },
        ..Recorder::default()
    });
    let (status, v) = call(
        state_with(governed(&r), &[]),
        "Tick",
        fixture("timer-trigger-request.past-due.constructed.json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        r.calls(),
        [
            "fleet@2026-03-08T10:00:00Z",
            "evaluate Fleet@2026-03-08T10:00:00Z past_due=true"
        ]
    );
    assert_eq!(v["Outputs"]["events"][0]["type"], "curfew.instance.stopped");
    assert!(v["Outputs"].get("evaluate").is_none());
    assert!(logs(&v).contains("past due"), "{}", logs(&v));
}

#[tokio::test]
async fn tick_fans_out_one_object_message_per_workspace_above_threshold() {
    let ws = |n: usize| WorkspaceSize {
        id: format!("{WS}{n}"),
        instances: Some(2),
    };
    let r = Arc::new(Recorder {
        fleet: FleetWorkspaces {
            workspaces: vec![ws(1), ws(2), ws(3)],
        },
        ..Recorder::default()
    });
    let state = state_with(governed(&r), &[("CURFEW_FANOUT_THRESHOLD", "5")]);
    let (status, v) = call(
        state,
        "Tick",
        fixture("timer-trigger-request.captured-2023-09-07.json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        r.calls().len(),
        1,
        "no inline evaluation when fanning out: {:?}",
        r.calls()
    );
    let msgs = v["Outputs"]["evaluate"].as_array().unwrap();
    assert_eq!(msgs.len(), 3);
    for (i, m) in msgs.iter().enumerate() {
        assert!(m.is_object(), "output values are objects: {m}");
        assert_eq!(m["workspace"], format!("{WS}{}", i + 1));
        assert_eq!(m["tickAt"], "2023-09-07T11:40:45.004Z");
        assert_eq!(m["tickId"], "83a33220-a921-460a-bec0-b3f043dcf1ff");
    }
}

#[tokio::test]
async fn now_falls_back_to_the_injected_clock() {
    let r = Arc::new(Recorder::default());
    let (status, _) = call(
        state_with(governed(&r), &[]),
        "Tick",
        fixture("timer-trigger-request.no-utcnow.constructed.json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(r.calls()[0], "fleet@2030-01-02T03:04:05Z");
}

#[tokio::test]
async fn evaluate_reads_one_workspace_per_message() {
    let r = Arc::new(Recorder::default());
    let (status, v) = call(
        state_with(governed(&r), &[]),
        "Evaluate",
        fixture("servicebus-evaluate-request.constructed.json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        r.calls(),
        [format!(
            "evaluate Workspace({WS:?})@2026-03-08T10:00:04Z past_due=false"
        )]
    );
    assert!(logs(&v).contains("delivery 1"), "{}", logs(&v));
    assert_eq!(v["Outputs"]["events"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn input_that_can_never_succeed_is_completed_with_a_reason() {
    let r = Arc::new(Recorder::default());
    let state = state_with(governed(&r), &[]);
    for (function, body, reason) in [
        (
            "Evaluate",
            fixture("servicebus-evaluate-not-json.constructed.json"),
            "Data.message",
        ),
        // The shared fixture's binding is called `queue`, not `message`.
        (
            "Evaluate",
            fixture("servicebus-trigger-request.azfunc-fixture.json"),
            "no binding named \"message\"",
        ),
        (
            "Dismissals",
            br#"{"Data":{"message":"{\"choice\":\"skip\"}"},"Metadata":{}}"#.to_vec(),
            "Data.message.occurrenceId",
        ),
        ("Tick", b"not json".to_vec(), "bad payload at"),
    ] {
        let (status, v) = call(state.clone(), function, body).await;
        assert_eq!(status, StatusCode::OK, "{function}: {v}");
        assert_envelope(&v);
        let l = logs(&v);
        assert!(
            l.contains("rejected (not retried)") && l.contains(reason),
            "{function}: {l}"
        );
    }
    assert!(r.calls().is_empty());
}

#[tokio::test]
async fn transient_failures_answer_5xx_so_the_host_redelivers() {
    let r = Arc::new(Recorder {
        fail: Some(PortError::Transient("ARM 503".into())),
        ..Recorder::default()
    });
    let (status, v) = call(
        state_with(governed(&r), &[]),
        "Evaluate",
        fixture("servicebus-evaluate-request.constructed.json"),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_envelope(&v);
    assert!(logs(&v).contains("ARM 503"));
    // Without a governor, queue messages are not lost: 5xx until dead-lettered.
    let (status, _) = call(
        state_with(Ports::default(), &[]),
        "Activity",
        fixture("servicebus-activity-request.constructed.json"),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn rejections_from_the_governor_complete_the_message() {
    let r = Arc::new(Recorder {
        fail: Some(PortError::Rejected("not the owner".into())),
        ..Recorder::default()
    });
    let (status, v) = call(
        state_with(governed(&r), &[]),
        "Dismissals",
        fixture("servicebus-dismissal-request.constructed.json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(logs(&v).contains("not the owner"));
}

#[tokio::test]
async fn dismissals_and_activity_reach_their_sinks() {
    let r = Arc::new(Recorder::default());
    let state = state_with(governed(&r), &[]);
    let (s1, v) = call(
        state.clone(),
        "Dismissals",
        fixture("servicebus-dismissal-request.constructed.json"),
    )
    .await;
    let (s2, _) = call(
        state,
        "Activity",
        fixture("servicebus-activity-request.constructed.json"),
    )
    .await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(
        r.calls(),
        [
            "dismiss snooze 60 min of occurrence occ-7f3a9c@2026-03-08T17:31:10Z",
            "activity ci-alice-gpu@2026-03-08T17:30:02Z"
        ]
    );
    assert_eq!(
        v["Outputs"]["events"][0]["type"],
        "curfew.shutdown.dismissed"
    );
}

fn res(v: &Value) -> (u64, String) {
    let res = &v["Outputs"]["res"];
    (
        res["statusCode"].as_u64().unwrap(),
        res["body"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn dismiss_get_confirms_and_post_records() {
    let r = Arc::new(Recorder::default());
    let state = state_with(governed(&r), &[]);
    let (status, v) = call(
        state.clone(),
        "Dismiss",
        fixture("http-dismiss-get-request.constructed.json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (code, page) = res(&v);
    assert_eq!(code, 200);
    assert!(
        page.contains("snooze 30 min of occurrence occ-7f3a9c")
            && page.contains("<form method=\"post\">"),
        "{page}"
    );
    assert!(r.calls().is_empty(), "a GET never dismisses");

    let (_, v) = call(
        state,
        "Dismiss",
        fixture("http-dismiss-post-request.constructed.json"),
    )
    .await;
    let (code, page) = res(&v);
    assert_eq!(code, 200, "{page}");
    assert!(
        page.contains("Recorded: skip of occurrence occ-7f3a9c"),
        "{page}"
    );
    assert_eq!(
        r.calls(),
        ["dismiss skip of occurrence occ-7f3a9c@2026-03-08T17:31:20Z"]
    );
}

#[tokio::test]
async fn dismiss_pages_for_bad_links_refusals_and_no_governor() {
    let bad =
        br#"{"Data":{"req":{"Method":"GET","Query":"{\"occurrence\":\"o\"}"}},"Metadata":{}}"#
            .to_vec();
    let (status, v) = call(state_with(Ports::default(), &[]), "Dismiss", bad).await;
    assert_eq!((status, res(&v).0), (StatusCode::OK, 400));
    assert!(logs(&v).contains("Data.req.Query.choice"), "{}", logs(&v));

    let (_, v) = call(
        state_with(Ports::default(), &[]),
        "Dismiss",
        fixture("http-dismiss-post-request.constructed.json"),
    )
    .await;
    let (code, page) = res(&v);
    assert_eq!(code, 503);
    assert!(
        page.contains("<strong>not</strong> been dismissed"),
        "{page}"
    );

    let r = Arc::new(Recorder {
        fail: Some(PortError::Rejected("too late <script>".into())),
        ..Recorder::default()
    });
    let (_, v) = call(
        state_with(governed(&r), &[]),
        "Dismiss",
        fixture("http-dismiss-post-request.constructed.json"),
    )
    .await;
    let (code, page) = res(&v);
    assert_eq!(code, 403);
    assert!(page.contains("too late &lt;script&gt;"), "{page}");
}

/// A link whose token does not verify gets a refusal page that repeats none of what its
/// (unverified) parts claim, and no confirm button.
#[tokio::test]
async fn dismiss_get_never_shows_the_claims_of_an_unverified_token() {
    let r = Arc::new(Recorder {
        fail: Some(PortError::Unauthorized(
            "link token for occurrence occ-7f3a9c: signature does not verify (forged)".into(),
        )),
        ..Recorder::default()
    });
    let (status, v) = call(
        state_with(governed(&r), &[]),
        "Dismiss",
        fixture("http-dismiss-get-request.constructed.json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (code, page) = res(&v);
    assert_eq!(code, 403, "{page}");
    assert!(
        !page.contains("occ-7f3a9c") && !page.contains("snooze") && !page.contains("<form"),
        "{page}"
    );
    // Without a governor nothing can be checked: the page says so and names nothing.
    let (_, v) = call(
        state_with(Ports::default(), &[]),
        "Dismiss",
        fixture("http-dismiss-get-request.constructed.json"),
    )
    .await;
    let (_, page) = res(&v);
    assert!(!page.contains("occ-7f3a9c"), "{page}");
}

/// Instance names and tags are untrusted: the Status page (whatever the governor's fleet view
/// holds) and the Dismiss pages (what a link does, the governor's answer) escape them.
#[tokio::test]
async fn every_page_escapes_instance_names_and_tags() {
    const EVIL: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    let r = Arc::new(Recorder::default());
    let state = state_with(governed(&r), &[]);
    let query = json!({"format": "html", "instance": EVIL});
    let status = json!({"Data": {"req": {"Method": "GET", "Query": query}}, "Metadata": {}});
    let (_, v) = call(state.clone(), "Status", status.to_string().into_bytes()).await;
    let (_, page) = res(&v);
    assert!(page.contains("&lt;script&gt;"), "{page}");
    let link = |method: &str| {
        json!({"Data": {"req": {"Method": method, "Query": {"occurrence": EVIL, "choice": "skip", "token": "t"}}},
               "Metadata": {}})
        .to_string()
        .into_bytes()
    };
    let (_, v) = call(state.clone(), "Dismiss", link("GET")).await;
    let (code, confirm) = res(&v);
    assert_eq!(code, 200, "{confirm}");
    let (_, v) = call(state, "Dismiss", link("POST")).await;
    let (_, done) = res(&v);
    for page in [&page, &confirm, &done] {
        assert!(
            !page.contains("<script") && !page.contains("<img"),
            "{page}"
        );
    }
    assert!(confirm.contains("&lt;img"), "{confirm}");
}

#[tokio::test]
async fn status_reports_the_handler_honestly_as_json_and_html() {
    let state = state_with(
        Ports::default(),
        &[
            ("CURFEW_LINK_KEY", "s3cret"),
            ("CURFEW_FANOUT_THRESHOLD", "50"),
        ],
    );
    let (status, v) = call(
        state.clone(),
        "Status",
        fixture("http-status-request.constructed.json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (code, body) = res(&v);
    assert_eq!(code, 200);
    assert_eq!(
        v["Outputs"]["res"]["headers"]["Content-Type"],
        "application/json"
    );
    let s: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(s["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(s["now"], "2026-03-08T12:00:00Z");
    assert_eq!(s["governor"]["tick"], "not configured");
    assert_eq!(s["fleet"], Value::Null);
    assert_eq!(s["config"]["fanoutThreshold"], 50);
    assert_eq!(
        s["functions"],
        json!([
            "Tick",
            "Evaluate",
            "Dismissals",
            "Activity",
            "Dismiss",
            "Status",
            "ActivityReport",
            "Schedules"
        ])
    );
    assert!(!body.contains("s3cret"));

    let html = br#"{"Data":{"req":{"Method":"GET","Query":{"format":"html","instance":"ci-1"}}},"Metadata":{}}"#.to_vec();
    let r = Arc::new(Recorder::default());
    let (_, v) = call(state_with(governed(&r), &[]), "Status", html).await;
    let (_, page) = res(&v);
    assert!(
        page.starts_with("<!doctype html>") && page.contains("ci-1"),
        "{page}"
    );
    assert_eq!(r.calls(), ["status"]);
}

/// Connection strings and webhook URLs are secrets on `Status`, as JSON and as HTML: the
/// channels of `CURFEW_NOTIFY` and inline `CURFEW_CONFIG` are reported as set, never shown; a
/// `CURFEW_CONFIG` naming a file still shows the path.
#[tokio::test]
async fn status_never_shows_connection_strings_webhook_urls_or_inline_settings() {
    let notify = "ops@teams:https://contoso.webhook.office.com/webhookb2/WEBHOOKPATH?sig=WEBHOOKSIG servicebus:Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=SBKEY;EntityPath=t";
    let inline = "arm:\n  scopes: [/subscriptions/a]\nnotify: ['servicebus:Endpoint=sb://ns/;SharedAccessKeyName=k;SharedAccessKey=INLINEKEY']\n";
    let html = br#"{"Data":{"req":{"Method":"GET","Query":{"format":"html"}}},"Metadata":{}}"#;
    for (settings, shown) in [
        (
            vec![("CURFEW_NOTIFY", notify), ("CURFEW_CONFIG", inline)],
            None,
        ),
        (
            vec![("CURFEW_CONFIG", "/home/site/curfew.yaml")],
            Some("/home/site/curfew.yaml"),
        ),
    ] {
        let state = state_with(Ports::default(), &settings);
        for request in [
            fixture("http-status-request.constructed.json"),
            html.to_vec(),
        ] {
            let (_, v) = call(state.clone(), "Status", request).await;
            let (code, body) = res(&v);
            assert_eq!(code, 200);
            for secret in [
                "WEBHOOKPATH",
                "WEBHOOKSIG",
                "SBKEY",
                "INLINEKEY",
                "webhook.office.com",
            ] {
                assert!(!body.contains(secret), "{secret} in {body}");
            }
            assert!(!logs(&v).contains("SBKEY"), "{}", logs(&v));
            if let Some(path) = shown {
                assert!(body.contains(path), "{body}");
            }
        }
    }
}

/// A host `UtcNow` far from the process's own clock is refused before anything is evaluated:
/// a timer invocation completes (2xx, reason logged: a retry would bring the same clock), a
/// queue message is redelivered (another instance may have a sane clock), and the next
/// invocation with a sane clock is evaluated as usual.
#[tokio::test]
async fn a_host_clock_far_from_the_process_clock_is_refused() {
    let r = Arc::new(Recorder::default());
    // The process clock is 2030-01-02T03:04:05Z; the default tolerance is 15 minutes.
    let state = state_with(governed(&r), &[(HOST_CLOCK_TOLERANCE.var(), "")]);
    let timer = |utc_now: &str| {
        json!({"Data": {"timer": {"Schedule": {"AdjustForDST": true}, "IsPastDue": false}},
               "Metadata": {"sys": {"MethodName": "Tick", "UtcNow": utc_now}}})
        .to_string()
        .into_bytes()
    };
    for far in [
        "2036-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "2030-01-02T02:40:00Z",
    ] {
        let (status, v) = call(state.clone(), "Tick", timer(far)).await;
        assert_eq!(status, StatusCode::OK, "{far}: {v}");
        let l = logs(&v);
        assert!(
            l.contains("rejected (not retried)") && l.contains("host clock"),
            "{far}: {l}"
        );
    }
    assert!(r.calls().is_empty(), "{:?}", r.calls());
    let msg = json!({"Data": {"message": {"workspace": WS}},
                     "Metadata": {"sys": {"MethodName": "Evaluate", "UtcNow": "2036-01-01T00:00:00Z"}}});
    let (status, v) = call(state.clone(), "Evaluate", msg.to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert!(r.calls().is_empty(), "{:?}", r.calls());
    // Within the tolerance: evaluated at the host's time.
    let (status, _) = call(state, "Tick", timer("2030-01-02T03:10:00Z")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(r.calls()[0], "fleet@2030-01-02T03:10:00Z");
}

#[tokio::test]
async fn unknown_functions_are_not_found() {
    let resp = app(state_with(Ports::default(), &[]))
        .oneshot(Request::post("/Nope").body(Body::from("{}")).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

/// A minimal HTTP/1.1 exchange over a real socket (blocking; run off the runtime thread).
fn http_exchange(addr: std::net::SocketAddr, request: String) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[tokio::test]
async fn serves_on_a_real_loopback_socket_and_shuts_down_gracefully() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::functions::server::run(
        listener,
        state_with(Ports::default(), &[]),
        async {
            let _ = stopped.await;
        },
    ));
    let body =
        String::from_utf8(fixture("timer-trigger-request.captured-2023-09-07.json")).unwrap();
    let reply = tokio::task::spawn_blocking(move || {
        let ready = http_exchange(addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into());
        let tick = http_exchange(
            addr,
            format!(
                "POST /Tick HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        );
        (ready, tick)
    })
    .await
    .unwrap();
    assert!(reply.0.starts_with("HTTP/1.1 200"), "{}", reply.0);
    assert!(
        reply.1.starts_with("HTTP/1.1 200") && reply.1.contains("\"ReturnValue\":null"),
        "{}",
        reply.1
    );
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

// ---- Hostile input (issue 14, "Fuzzed parsers"): each attack first, as a test. ----

/// A governor whose every port panics: stands in for a bug anywhere behind a route.
struct Panicker;

impl TickHandler for Panicker {
    fn fleet<'a>(&'a self, _tick: &'a TickContext) -> PortFuture<'a, FleetWorkspaces> {
        panic!("fleet listing went wrong: ünïcödé");
    }
    fn evaluate<'a>(
        &'a self,
        _scope: &'a EvaluationScope,
        _tick: &'a TickContext,
    ) -> PortFuture<'a, Report> {
        panic!("evaluate went wrong");
    }
}

/// A wrong-typed field whose quoted text has a multibyte character where the error message is
/// cut (byte 77 of the JSON text) used to panic, and the connection dropped unanswered.
#[tokio::test]
async fn wrong_typed_fields_with_multibyte_text_are_answered_not_dropped() {
    let r = Arc::new(Recorder::default());
    let state = state_with(governed(&r), &[]);
    for pad in 70..80 {
        let text = format!("{}é€😀", "a".repeat(pad));
        let timer = json!({"Data": {"timer": {"IsPastDue": text}}, "Metadata": {}});
        let choice = json!({"choice": [text], "occurrenceId": "o1"}).to_string();
        let dismissal = json!({"Data": {"message": choice}, "Metadata": {}});
        let sys = json!({"Data": {"timer": {}}, "Metadata": {"sys": {"UtcNow": [text]}}});
        for (function, body, path) in [
            ("Tick", timer, "Data.timer.IsPastDue"),
            ("Dismissals", dismissal, "Data.message.choice"),
            ("Tick", sys, "tick at"),
        ] {
            let (status, v) = call(state.clone(), function, body.to_string().into_bytes()).await;
            assert_eq!(status, StatusCode::OK, "{function} pad {pad}: {v}");
            assert_envelope(&v);
            let l = logs(&v);
            assert!(l.contains(path), "{function} pad {pad}: {l}");
        }
    }
}

/// Every cut of an error message lands on a character boundary.
#[test]
fn shorten_cuts_on_character_boundaries() {
    use crate::functions::protocol::shorten;
    for n in 0..40 {
        let text = format!("{}é€😀{}", "a".repeat(n % 7), "ß".repeat(n));
        for max in 0..text.len() + 2 {
            let cut = shorten(&text, max);
            assert!(cut.len() <= max.max(3), "{text:?} {max}: {cut}");
        }
    }
    assert_eq!(shorten("short", 80), "short");
}

#[tokio::test]
async fn a_panicking_route_answers_with_an_envelope() {
    let ports = Ports {
        tick: Some(Arc::new(Panicker)),
        ..Ports::default()
    };
    let state = state_with(ports, &[]);
    let (status, v) = call(
        state.clone(),
        "Tick",
        fixture("timer-trigger-request.captured-2023-09-07.json"),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
    assert_envelope(&v);
    let l = logs(&v);
    assert!(l.contains("internal error") && l.contains("ünïcödé"), "{l}");
    // The router still answers afterwards.
    let (status, v) = call(
        state,
        "Evaluate",
        fixture("servicebus-evaluate-request.constructed.json"),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
    assert!(logs(&v).contains("evaluate went wrong"), "{v}");
}

#[tokio::test]
async fn trailing_bytes_after_the_envelope_are_an_error() {
    let r = Arc::new(Recorder::default());
    let state = state_with(governed(&r), &[]);
    let mut body = fixture("servicebus-dismissal-request.constructed.json");
    body.extend_from_slice(b" {\"Data\":{}}");
    let (status, v) = call(state.clone(), "Dismissals", body).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let l = logs(&v);
    assert!(
        l.contains("rejected (not retried)") && l.contains("after the JSON envelope"),
        "{l}"
    );
    // Trailing whitespace is not "bytes after the envelope".
    let mut body = fixture("servicebus-dismissal-request.constructed.json");
    body.extend_from_slice(b" \r\n\t ");
    let (_, v) = call(state, "Dismissals", body).await;
    assert!(!logs(&v).contains("rejected"), "{v}");
    assert_eq!(r.calls().len(), 1);
}

/// A body over the cap is answered in the envelope: a queue message with 200 and the reason
/// (a bare 413 would make the host redeliver it), an HTTP caller with 413 in `res`.
#[tokio::test]
async fn oversized_bodies_are_answered_in_the_envelope() {
    let r = Arc::new(Recorder::default());
    let state = state_with(governed(&r), &[]);
    let big = vec![b' '; MAX_BODY_BYTES + 1];
    for function in ["Dismissals", "Activity", "Evaluate", "Tick"] {
        let (status, v) = call(state.clone(), function, big.clone()).await;
        assert_eq!(status, StatusCode::OK, "{function}: {v}");
        assert_envelope(&v);
        let l = logs(&v);
        assert!(
            l.contains("rejected (not retried)") && l.contains("larger than"),
            "{function}: {l}"
        );
    }
    let (status, v) = call(state.clone(), "ActivityReport", big).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(res(&v).0, 413, "{v}");
    // At the cap exactly, the body is read (and here rejected as not JSON).
    let (_, v) = call(state, "Dismissals", vec![b'x'; MAX_BODY_BYTES]).await;
    assert!(logs(&v).contains("bad payload at"), "{v}");
    assert!(r.calls().is_empty());
}

#[tokio::test]
async fn deep_nesting_and_invalid_utf8_are_rejected_with_a_reason() {
    let r = Arc::new(Recorder::default());
    let state = state_with(governed(&r), &[]);
    let deep = format!(
        "{{\"Data\":{{\"message\":{}{}}}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let inner = format!("{}{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    let deep_body = json!({"Data": {"message": inner}, "Metadata": {}}).to_string();
    let mut invalid = br#"{"Data":{"message":"{\"choice\":\"skip\",\"occurrenceId\":\"o"#.to_vec();
    invalid.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    invalid.extend_from_slice(br#"\"}"},"Metadata":{}}"#);
    for (what, body) in [
        ("nested envelope", deep.into_bytes()),
        ("nested message body", deep_body.into_bytes()),
        ("invalid UTF-8", invalid),
        ("bare invalid UTF-8", vec![0xff; 1000]),
    ] {
        let (status, v) = call(state.clone(), "Dismissals", body).await;
        assert_eq!(status, StatusCode::OK, "{what}: {v}");
        assert_envelope(&v);
        assert!(logs(&v).contains("rejected (not retried)"), "{what}: {v}");
    }
    assert!(r.calls().is_empty());
}

/// Metadata in a shape the handler does not know never costs the message: it is processed,
/// and the invocation's log says what was ignored.
#[tokio::test]
async fn odd_metadata_never_drops_a_message_silently() {
    let r = Arc::new(Recorder::default());
    let state = state_with(governed(&r), &[]);
    let good: Value =
        serde_json::from_slice(&fixture("servicebus-dismissal-request.constructed.json")).unwrap();
    for odd in [
        json!({"DeliveryCount": {"n": 1}}),
        json!({"EnqueuedTimeUtc": "the day before yesterday"}),
        json!({"sys": "not an object"}),
        json!("a string"),
        json!([1, 2]),
    ] {
        let mut body = good.clone();
        body["Metadata"] = odd.clone();
        let (status, v) = call(state.clone(), "Dismissals", body.to_string().into_bytes()).await;
        assert_eq!(status, StatusCode::OK, "{odd}: {v}");
        let l = logs(&v);
        assert!(l.contains("metadata ignored"), "{odd}: {l}");
        assert!(!l.contains("rejected"), "{odd}: {l}");
    }
    assert_eq!(r.calls().len(), 5, "{:?}", r.calls());
}

/// Remembers what reached the override editor.
#[derive(Default)]
struct Editors(Mutex<Vec<(String, String, OverrideRequest)>>);

impl crate::functions::OverrideEditor for Editors {
    fn edit<'a>(
        &'a self,
        instance: &'a str,
        caller: &'a str,
        request: OverrideRequest,
        _now: DateTime<Utc>,
    ) -> PortFuture<'a, crate::functions::OverrideAnswer> {
        self.0
            .lock()
            .unwrap()
            .push((instance.into(), caller.into(), request));
        Box::pin(async {
            Ok(crate::functions::OverrideAnswer {
                status: 200,
                body: json!({"status": "done"}),
            })
        })
    }
}

#[tokio::test]
async fn schedules_refuses_hostile_requests_before_the_governor_sees_them() {
    let editors = Arc::new(Editors::default());
    let ports = Ports {
        schedules: Some(editors.clone()),
        ..Ports::default()
    };
    let state = state_with(ports, &[]);
    let req = |method: &str, query: Value, headers: Value, body: Value| {
        json!({"Data": {"req": {"Method": method, "Query": query, "Headers": headers, "Body": body}},
               "Metadata": {}})
        .to_string()
        .into_bytes()
    };
    let who = json!({"X-MS-CLIENT-PRINCIPAL-ID": ["  owner-1 "]});
    // No instance, an empty one, another method, a body that is not JSON: refused here.
    for (method, query, body, code) in [
        ("GET", json!({}), Value::Null, 400),
        ("GET", json!({"instance": "  "}), Value::Null, 400),
        ("POST", json!({"instance": "ci"}), Value::Null, 405),
        (
            "POST",
            json!({"instance": "ci", "action": "frob"}),
            Value::Null,
            405,
        ),
        (
            "POST",
            json!({"instance": "ci", "action": "adopt", "dryRun": "maybe"}),
            Value::Null,
            400,
        ),
        ("PUT", json!({"instance": "ci"}), json!("{not json"), 400),
        ("PUT", json!({"instance": "ci"}), json!(42), 400),
    ] {
        let (status, v) = call(
            state.clone(),
            "Schedules",
            req(method, query, who.clone(), body),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(res(&v).0, code, "{method} {v}");
    }
    // Preconditions that cannot be honoured: refused here too.
    for headers in [
        json!({"If-Match": "\"1\"", "If-None-Match": "*"}),
        json!({"If-Match": "*"}),
        json!({"If-Match": "\"\""}),
        json!({"If-None-Match": "\"3\""}),
    ] {
        let (_, v) = call(
            state.clone(),
            "Schedules",
            req(
                "DELETE",
                json!({"instance": "ci"}),
                headers.clone(),
                Value::Null,
            ),
        )
        .await;
        assert_eq!(res(&v).0, 400, "{headers} {v}");
    }
    assert!(editors.0.lock().unwrap().is_empty());
    // What passes goes to the governor with the principal App Service Authentication named
    // (trimmed; absent is nobody, whom the governor refuses and audits).
    let body =
        json!([{"action": "Stop", "triggerType": "Cron", "cron": {"expression": "0 20 * * *"}}]);
    let (_, v) = call(
        state.clone(),
        "Schedules",
        req(
            "PUT",
            json!({"instance": "ci"}),
            who.clone(),
            json!(body.to_string()),
        ),
    )
    .await;
    assert_eq!(res(&v).0, 200, "{v}");
    let (_, v) = call(
        state.clone(),
        "Schedules",
        req("DELETE", json!({"instance": "ci"}), json!({}), Value::Null),
    )
    .await;
    assert_eq!(res(&v).0, 200, "{v}");
    // Conditional writes: If-Match (an ETag, weak or strong) and If-None-Match: *.
    let (_, v) = call(
        state.clone(),
        "Schedules",
        req(
            "PUT",
            json!({"instance": "ci"}),
            json!({"X-MS-CLIENT-PRINCIPAL-ID": "owner-1", "If-Match": "W/\"7\""}),
            json!(body.to_string()),
        ),
    )
    .await;
    assert_eq!(res(&v).0, 200, "{v}");
    let (_, v) = call(
        state.clone(),
        "Schedules",
        req(
            "DELETE",
            json!({"instance": "ci"}),
            json!({"If-None-Match": "*"}),
            Value::Null,
        ),
    )
    .await;
    assert_eq!(res(&v).0, 200, "{v}");
    for (query, dry_run) in [
        (
            json!({"instance": "ci", "action": "adopt", "dryRun": "true"}),
            true,
        ),
        (json!({"instance": "ci", "action": "ADOPT"}), false),
    ] {
        let (_, v) = call(
            state.clone(),
            "Schedules",
            req("POST", query, who.clone(), Value::Null),
        )
        .await;
        assert_eq!(res(&v).0, 200, "{dry_run}: {v}");
    }
    let seen = editors.0.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            (
                "ci".into(),
                "owner-1".into(),
                OverrideRequest::Put(body.clone(), IfMatch::Any)
            ),
            (
                "ci".into(),
                String::new(),
                OverrideRequest::Delete(IfMatch::Any)
            ),
            (
                "ci".into(),
                "owner-1".into(),
                OverrideRequest::Put(body, IfMatch::Version("7".into()))
            ),
            (
                "ci".into(),
                String::new(),
                OverrideRequest::Delete(IfMatch::Absent)
            ),
            (
                "ci".into(),
                "owner-1".into(),
                OverrideRequest::Adopt { dry_run: true }
            ),
            (
                "ci".into(),
                "owner-1".into(),
                OverrideRequest::Adopt { dry_run: false }
            ),
        ]
    );
    // No governor: 503, said plainly.
    let (_, v) = call(
        state_with(Ports::default(), &[]),
        "Schedules",
        req("GET", json!({"instance": "ci"}), who, Value::Null),
    )
    .await;
    assert_eq!(res(&v).0, 503, "{v}");
}
