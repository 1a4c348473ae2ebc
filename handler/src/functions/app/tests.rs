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
            "ActivityReport"
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
