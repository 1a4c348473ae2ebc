//! Email to owners end to end (issue 13): the built `curfew serve` started as the Functions host
//! starts it, the ARM simulator, and a real SMTP server on loopback (`aiosmtpd`, pinned in
//! `.ci/run`; `testdata/smtp/sink.py`) that requires STARTTLS and AUTH.
//! `cargo test -p curfew --test functions_email_e2e`.
//!
//! - A simulated afternoon of minute `Tick`s: the 30- and 5-minute warnings of two 18:00 stops
//!   are emailed to their owners (addresses from `email.owners`). Each received message is
//!   parsed (headers, text and HTML parts, the links); the skip link of one is clicked against
//!   the running `Dismiss` function (GET shows the page, POST confirms), and that stop does not
//!   happen while the other does. A third instance's owner has no address: every tick says so
//!   and nothing is sent for it.
//! - With the SMTP server down, the warning is reported as not sent and sent again on the next
//!   tick, never marked sent; once the server is up, the next tick delivers it.
//! - Addresses from Microsoft Graph: a local double of `GET /v1.0/users/{id}` (404 for an
//!   unknown user, 429 with `Retry-After`), reached with the production token flow (the managed
//!   identity's App Service endpoint, also a local double): `mail`, else the UPN; one lookup
//!   per owner (cached); the unknown owner reported at every tick.
//!
//! Without `aiosmtpd` the test prints a loud SKIPPED line; with `CURFEW_REQUIRE_SMTP=1` (set by
//! `.ci/run`) it fails instead.

mod host;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use armsim::{SimFleet, WorkspacePath};
use host::{free_port, Handler, Sim};
use serde_json::{json, Value};

const SUB: &str = "00000000-0000-0000-0000-0000000000e3";
const ALICE: &str = "aaaaaaaa-0000-0000-0000-000000000001";
const BOB: &str = "bbbbbbbb-0000-0000-0000-000000000002";
const NOBODY: &str = "cccccccc-0000-0000-0000-000000000003";
const DAY: &str = "2026-03-09";
const USER: &str = "curfew-smtp";
const PASSWORD: &str = "smtp-PASSWORD-e2e";

fn at(hm: &str) -> String {
    format!("{DAY}T{hm}:00Z")
}

fn ws() -> WorkspacePath {
    WorkspacePath {
        subscription: SUB.into(),
        resource_group: "rg-mail".into(),
        workspace: "ws-mail".into(),
    }
}

fn fleet() -> SimFleet {
    let compute = |name: &str, owner: &str| {
        json!({
            "id": ws().compute_id(name),
            "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/computes",
            "properties": {
                "computeType": "ComputeInstance",
                "provisioningState": "Succeeded",
                "properties": {
                    "vmSize": "STANDARD_DS3_V2",
                    "state": "Running",
                    "personalComputeInstanceSettings": {"assignedUser": {"objectId": owner, "tenantId": SUB}},
                    "schedules": {"computeStartStop": [{
                        "action": "Stop", "status": "Enabled", "triggerType": "Cron",
                        "cron": {"expression": "0 11 * * *", "timeZone": "Pacific Standard Time"}
                    }]}
                }
            }
        })
    };
    let items = json!([
        compute("ci-alice", ALICE),
        compute("ci-bob", BOB),
        compute("ci-nobody", NOBODY)
    ]);
    SimFleet::from_json(items, &ws()).expect("fleet")
}

/// Whether `aiosmtpd` can be run here; else SKIPPED, or a failure under `CURFEW_REQUIRE_SMTP=1`.
fn smtp_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CURFEW_REQUIRE_SMTP").ok().as_deref() != Some("1"),
            "CURFEW_REQUIRE_SMTP=1 but aiosmtpd is not installed (pip install aiosmtpd==1.4.6)"
        );
        eprintln!(
            "\n*** SKIPPED functions_email_e2e: aiosmtpd is not installed (pip install aiosmtpd==1.4.6; .ci/run installs it and sets CURFEW_REQUIRE_SMTP=1) ***\n"
        );
    }
    ok
}

/// The SMTP server of `testdata/smtp/sink.py`, writing into `dir`.
struct Smtp {
    child: Child,
}

impl Smtp {
    fn start(dir: &Path, port: u16) -> Smtp {
        let _ = std::fs::remove_file(dir.join("ready"));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/smtp/sink.py");
        let child = Command::new("python3")
            .arg(script)
            .arg(dir)
            .arg(port.to_string())
            .args([USER, PASSWORD])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !dir.join("ready").exists() {
            assert!(Instant::now() < deadline, "the SMTP server did not start");
            std::thread::yield_now();
        }
        Smtp { child }
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The CloudEvents an invocation put on its `events` output binding.
fn output_events(out: &Value) -> Vec<Value> {
    match &out["Outputs"]["events"] {
        Value::Array(a) => a.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
    .into_iter()
    .map(|e| match e {
        Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
        v => v,
    })
    .collect()
}

/// The messages received so far, in order.
fn received(dir: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| {
        let n = p.file_name().unwrap().to_string_lossy();
        n.starts_with("msg-") && n.ends_with(".json")
    });
    files.sort();
    files
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("curfew-email-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn timer(utc_now: &str) -> Value {
    json!({
        "Data": {"timer": {"Schedule": {"AdjustForDST": true}, "ScheduleStatus": null, "IsPastDue": "false"}},
        "Metadata": {"sys": {"MethodName": "Tick", "UtcNow": utc_now, "RandGuid": "0b0e2e00-0000-4000-8000-000000000011"}}
    })
}

fn dismiss_http(method: &str, token: &str, utc_now: &str) -> Value {
    json!({
        "Data": {"req": {
            "Url": format!("https://curfew-func.azurewebsites.net/api/Dismiss?token={token}"),
            "Method": method,
            "Query": json!({"token": token}).to_string(),
            "Headers": {"Content-Type": ["application/x-www-form-urlencoded"]},
            "Params": {},
            "Body": ""
        }},
        "Metadata": {"sys": {"MethodName": "Dismiss", "UtcNow": utc_now, "RandGuid": "0b0e2e00-0000-4000-8000-000000000012"}}
    })
}

fn logs(out: &Value) -> String {
    out["Logs"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// `curfew serve` with email to owners: shutdown notices go to email only, the rest to the
/// output binding.
fn handler(sim: &Sim, dir: &Path, smtp_port: u16) -> Handler {
    handler_with(sim, dir, smtp_port, None)
}

/// [`handler`], with owners' addresses from the Graph double at `graph` (the managed identity's
/// App Service token endpoint there too) instead of `email.owners`.
fn handler_with(sim: &Sim, dir: &Path, smtp_port: u16, graph: Option<&str>) -> Handler {
    let config = format!(
        "notify: [email, binding]\n\
         routes:\n\
         \x20 - {{name: owners, events: [curfew.shutdown.pending], channels: [email]}}\n\
         \x20 - {{name: audit, channels: [binding]}}\n\
         {}",
        if graph.is_some() {
            String::new()
        } else {
            format!("email:\n  owners: {{{ALICE}: alice@contoso.example, {BOB}: 'Bob B <bob@contoso.example>'}}\n  directory: none\n")
        }
    );
    let env: Vec<(&str, String)> = vec![
        ("CURFEW_CONFIG", config),
        ("CURFEW_SCOPES", format!("/subscriptions/{SUB}")),
        ("CURFEW_ARM_ENDPOINT", sim.base_url.clone()),
        ("CURFEW_ARM_CREDENTIAL", "token-env:CURFEW_ARM_TOKEN".into()),
        ("CURFEW_ARM_TOKEN", "simulator".into()),
        (
            "CURFEW_LINK_KEY",
            "e2e-link-signing-key-0123456789abcdef".into(),
        ),
        (
            "CURFEW_PUBLIC_BASE_URL",
            "https://curfew-func.azurewebsites.net/api".into(),
        ),
        ("CURFEW_DEPLOYMENT", "e2e-mail".into()),
        (
            "CURFEW_SQLITE",
            dir.join("curfew.sqlite").display().to_string(),
        ),
        ("CURFEW_SMTP_HOST", "127.0.0.1".into()),
        ("CURFEW_SMTP_PORT", smtp_port.to_string()),
        ("CURFEW_SMTP_SECURITY", "starttls".into()),
        ("CURFEW_SMTP_USERNAME", USER.into()),
        ("CURFEW_SMTP_PASSWORD", PASSWORD.into()),
        (
            "CURFEW_SMTP_CA_FILE",
            dir.join("ca.pem").display().to_string(),
        ),
        (
            "CURFEW_EMAIL_FROM",
            "Curfew <curfew@contoso.example>".into(),
        ),
    ];
    let mut env = env;
    if let Some(g) = graph {
        env.retain(|(k, _)| !k.starts_with("CURFEW_ARM_"));
        env.extend([
            ("CURFEW_ARM_ENDPOINT", sim.base_url.clone()),
            ("CURFEW_ARM_CREDENTIAL", "managed-identity".to_owned()),
            ("IDENTITY_ENDPOINT", format!("{g}/msi/token")),
            ("IDENTITY_HEADER", IDENTITY_HEADER.to_owned()),
            ("CURFEW_GRAPH_ENDPOINT", g.to_owned()),
        ]);
    }
    Handler::start(&env)
}

fn minutes(from: &str, to: &str) -> Vec<String> {
    let parse = |hm: &str| {
        let (h, m) = hm.split_once(':').unwrap();
        h.parse::<u32>().unwrap() * 60 + m.parse::<u32>().unwrap()
    };
    (parse(from)..=parse(to))
        .map(|m| format!("{:02}:{:02}", m / 60, m % 60))
        .collect()
}

#[test]
fn owners_get_emails_with_working_links_and_a_failed_send_is_retried() {
    if !smtp_available() {
        return;
    }
    let sim = Sim::start(fleet());
    let dir = tmp("day");
    let smtp_port = free_port();
    let smtp = Smtp::start(&dir, smtp_port);
    let h = handler(&sim, &dir, smtp_port);

    // 17:00 … 17:31: the 30-minute warnings go out at 17:30 (18:00 UTC is 11:00 PDT: DST began on 8 March).
    let mut clicked = false;
    let mut unreachable: Vec<Value> = Vec::new();
    for m in minutes("17:00", "18:05") {
        let (status, out) = h.post("Tick", &timer(&at(&m)));
        assert_eq!(status, 200, "{out}");
        let log = logs(&out);
        unreachable.extend(
            output_events(&out)
                .into_iter()
                .filter(|e| e["type"] == "curfew.owner.unreachable"),
        );
        if m.as_str() >= "17:30" && m.as_str() < "18:00" {
            assert!(
                log.contains("notice ci-nobody")
                    && log.contains(&format!(
                        "no email address for the owner {NOBODY} of ci-nobody"
                    )),
                "{m}: the missing address is reported at every tick:\n{log}"
            );
        }
        if m == "17:30" {
            for who in ["ci-alice", "ci-bob"] {
                assert!(
                    log.lines()
                        .any(|l| l.starts_with(&format!("notice {who}")) && l.ends_with(": sent")),
                    "{who}'s warning is sent at 17:30:\n{log}"
                );
            }
        }
        if m == "17:31" && !clicked {
            // Two emails so far, one per owner with an address; parse and click ci-alice's.
            let got = received(&dir);
            assert_eq!(got.len(), 2, "{got:#?}");
            let alice = got
                .iter()
                .find(|g| g["rcptTos"][0] == "alice@contoso.example")
                .expect("alice's email");
            assert_eq!(alice["tls"], true, "STARTTLS");
            assert_eq!(alice["authenticated"], true, "AUTH");
            assert_eq!(alice["mailFrom"], "curfew@contoso.example");
            let hd = &alice["headers"];
            assert_eq!(hd["From"], "Curfew <curfew@contoso.example>");
            assert_eq!(hd["To"], "alice@contoso.example");
            assert_eq!(
                hd["Subject"],
                "ci-alice stops in 30 min (11:00 PDT on Mon 2026-03-09)"
            );
            assert!(
                hd["Message-ID"].as_str().unwrap().starts_with("<curfew-"),
                "{hd}"
            );
            assert_eq!(alice["contentType"], "multipart/alternative");
            let text = alice["parts"]["text/plain"].as_str().unwrap();
            let html = alice["parts"]["text/html"].as_str().unwrap();
            for part in [text, html] {
                assert!(part.contains("11:00 PDT on Mon 2026-03-09"), "{part}");
                assert!(part.contains("2026-03-09 18:00 UTC"), "{part}");
                assert!(part.contains("ci-alice"), "{part}");
            }
            let skip = text
                .lines()
                .find_map(|l| l.strip_prefix("Skip this shutdown: "))
                .expect("a skip link")
                .trim();
            assert!(
                skip.starts_with("https://curfew-func.azurewebsites.net/api/Dismiss?token="),
                "{skip}"
            );
            assert!(
                html.contains(&format!("href=\"{}\"", skip.replace('&', "&amp;"))),
                "the HTML part carries the same link:\n{html}"
            );
            assert!(text.contains("Snooze 30 min: https://"), "{text}");
            assert!(!format!("{got:?}").contains(PASSWORD));
            let bob = got
                .iter()
                .find(|g| g["rcptTos"][0] == "bob@contoso.example")
                .expect("bob's email");
            assert_eq!(bob["headers"]["To"], "Bob B <bob@contoso.example>");
            // Click: GET shows the confirmation page, POST (its form) skips the stop.
            let token = skip.split("token=").nth(1).unwrap();
            let (_, out) = h.post("Dismiss", &dismiss_http("GET", token, &at("17:31")));
            assert_eq!(out["Outputs"]["res"]["statusCode"], 200, "{out}");
            let page = out["Outputs"]["res"]["body"].as_str().unwrap_or_default();
            assert!(
                page.contains("<form") && page.contains("method=\"post\""),
                "{page}"
            );
            let (_, out) = h.post("Dismiss", &dismiss_http("POST", token, &at("17:31")));
            assert_eq!(out["Outputs"]["res"]["statusCode"], 200, "{out}");
            clicked = true;
        }
    }
    // The owner no address was found for is news for operations: one event for the day,
    // however many ticks failed to warn them.
    assert_eq!(unreachable.len(), 1, "{unreachable:#?}");
    assert_eq!(unreachable[0]["data"]["owner"], NOBODY);
    assert_eq!(unreachable[0]["data"]["instance"]["name"], "ci-nobody");
    assert_eq!(unreachable[0]["data"]["channel"], "email");
    // 17:55: only bob's 5-minute warning (alice's stop is skipped, ci-nobody has no address).
    let got = received(&dir);
    let to: Vec<&str> = got
        .iter()
        .map(|g| g["rcptTos"][0].as_str().unwrap())
        .collect();
    assert_eq!(
        to.iter().filter(|t| **t == "bob@contoso.example").count(),
        2,
        "{to:?}"
    );
    assert_eq!(
        to.iter().filter(|t| **t == "alice@contoso.example").count(),
        1,
        "{to:?}"
    );
    assert_eq!(got.len(), 3, "{got:#?}");
    let state = |name: &str| {
        sim.state.compute(&ws().compute_id(name)).expect("compute")["properties"]["properties"]
            ["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(
        state("ci-alice"),
        "Running",
        "the skipped stop did not happen"
    );
    assert_eq!(state("ci-bob"), "Stopped");
    drop(h);
    drop(smtp);

    // The SMTP server down: the warning is reported, not marked sent, and sent next tick.
    let dir2 = tmp("down");
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        std::fs::copy(dir.join(f), dir2.join(f)).unwrap();
    }
    let sim = Sim::start(fleet());
    let port = free_port();
    let h = handler(&sim, &dir2, port);
    for m in ["17:30", "17:31"] {
        let (_, out) = h.post("Tick", &timer(&at(m)));
        let log = logs(&out);
        let line = log
            .lines()
            .find(|l| l.starts_with("notice ci-alice"))
            .unwrap_or_else(|| panic!("{m}: alice's warning is tried again:\n{log}"));
        assert!(line.contains("not sent: email:"), "{m}: {line}");
    }
    assert!(received(&dir2).is_empty());
    let smtp = Smtp::start(&dir2, port);
    let (_, out) = h.post("Tick", &timer(&at("17:32")));
    let log = logs(&out);
    assert!(
        log.lines()
            .any(|l| l.starts_with("notice ci-alice") && l.ends_with(": sent")),
        "{log}"
    );
    let (_, out) = h.post("Tick", &timer(&at("17:33")));
    assert!(
        !logs(&out).contains("notice ci-alice"),
        "sent once, then marked: {}",
        logs(&out)
    );
    let got = received(&dir2);
    let to: Vec<&str> = got
        .iter()
        .map(|g| g["rcptTos"][0].as_str().unwrap())
        .collect();
    assert_eq!(
        to.iter().filter(|t| **t == "alice@contoso.example").count(),
        1,
        "{to:?}"
    );
    drop(smtp);
}

const IDENTITY_HEADER: &str = "e2e-identity-header";

/// What the Graph double was asked.
#[derive(Default)]
struct GraphLog {
    /// `resource` of every token request, in order.
    tokens: Vec<String>,
    /// `(object id, status answered)` of every user lookup, in order.
    users: Vec<(String, u16)>,
}

/// A local Microsoft Graph that behaves like the real one for `GET /v1.0/users/{id}` (404 with
/// Graph's error body for an unknown user, 429 with `Retry-After` once for bob, bearer tokens
/// checked), and the App Service managed-identity token endpoint the production credential
/// asks (`IDENTITY_ENDPOINT`, `X-IDENTITY-HEADER`, `resource`, `api-version=2019-08-01`).
struct GraphDouble {
    base_url: String,
    log: std::sync::Arc<std::sync::Mutex<GraphLog>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GraphDouble {
    fn start() -> GraphDouble {
        use axum::extract::{Path as UrlPath, Query, State};
        use axum::http::{HeaderMap, StatusCode};
        use axum::response::IntoResponse;
        use axum::routing::get;
        use std::collections::HashMap;
        use std::sync::{Arc, Mutex};
        type Shared = Arc<Mutex<GraphLog>>;

        fn reply(status: u16, body: Value) -> axum::response::Response {
            (
                StatusCode::from_u16(status).unwrap(),
                [("content-type", "application/json")],
                body.to_string(),
            )
                .into_response()
        }

        async fn token(
            State(log): State<Shared>,
            headers: HeaderMap,
            Query(q): Query<HashMap<String, String>>,
        ) -> axum::response::Response {
            let header_ok = headers
                .get("x-identity-header")
                .is_some_and(|v| v == IDENTITY_HEADER);
            if !header_ok || q.get("api-version").map(String::as_str) != Some("2019-08-01") {
                return (StatusCode::BAD_REQUEST, "bad identity request").into_response();
            }
            let resource = q.get("resource").cloned().unwrap_or_default();
            log.lock().unwrap().tokens.push(resource.clone());
            let expires = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + 3600;
            reply(
                200,
                json!({
                    "access_token": format!("mi-token-for-{resource}"),
                    "expires_on": expires.to_string(),
                    "resource": resource,
                    "token_type": "Bearer"
                }),
            )
        }

        async fn user(
            State(log): State<Shared>,
            headers: HeaderMap,
            UrlPath(id): UrlPath<String>,
            Query(q): Query<HashMap<String, String>>,
        ) -> axum::response::Response {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if auth != "Bearer mi-token-for-https://graph.microsoft.com" {
                return reply(
                    401,
                    json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token is empty or invalid."}}),
                );
            }
            assert_eq!(
                q.get("$select").map(String::as_str),
                Some("mail,userPrincipalName")
            );
            let mut log = log.lock().unwrap();
            let throttled_before = log.users.iter().any(|(u, s)| u == &id && *s == 429);
            let (status, body) = match id.as_str() {
                ALICE => (
                    200,
                    json!({"mail": "alice.graph@contoso.example", "userPrincipalName": "alice@contoso.onmicrosoft.com"}),
                ),
                BOB if !throttled_before => (
                    429,
                    json!({"error": {"code": "TooManyRequests", "message": "Too many requests."}}),
                ),
                BOB => (
                    200,
                    json!({"mail": null, "userPrincipalName": "bob.upn@contoso.example"}),
                ),
                _ => (
                    404,
                    json!({"error": {"code": "Request_ResourceNotFound", "message": format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present.")}}),
                ),
            };
            log.users.push((id, status));
            let mut resp = reply(status, body);
            if status == 429 {
                resp.headers_mut()
                    .insert("retry-after", "1".parse().unwrap());
            }
            resp
        }

        let log: Shared = Default::default();
        let shared = log.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let app = axum::Router::new()
                    .route("/msi/token", get(token))
                    .route("/v1.0/users/{id}", get(user))
                    .with_state(shared);
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        GraphDouble {
            base_url: format!("http://{addr}"),
            log,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for GraphDouble {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn owners_addresses_come_from_graph_with_the_managed_identity() {
    if !smtp_available() {
        return;
    }
    let graph = GraphDouble::start();
    let sim = Sim::start(fleet());
    let dir = tmp("graph");
    let port = free_port();
    let _smtp = Smtp::start(&dir, port);
    let h = handler_with(&sim, &dir, port, Some(&graph.base_url));
    for m in ["17:30", "17:31", "17:55"] {
        let (status, out) = h.post("Tick", &timer(&at(m)));
        assert_eq!(status, 200, "{out}");
        let log = logs(&out);
        assert!(
            log.contains(&format!("no email address for the owner {NOBODY} of ci-nobody: the directory has no address for the owner")),
            "{m}: an unknown user (404) is reported:\n{log}"
        );
    }
    let got = received(&dir);
    let mut to: Vec<&str> = got
        .iter()
        .map(|g| g["rcptTos"][0].as_str().unwrap())
        .collect();
    to.sort();
    assert_eq!(
        to,
        [
            "alice.graph@contoso.example",
            "alice.graph@contoso.example",
            "bob.upn@contoso.example",
            "bob.upn@contoso.example"
        ],
        "mail, else the UPN; the 30- and 5-minute warnings"
    );
    let log = graph.log.lock().unwrap();
    // One lookup per owner for the whole run (cached), bob's after one 429 and its Retry-After.
    let mut users = log.users.clone();
    users.sort();
    assert_eq!(
        users,
        [
            (ALICE.to_owned(), 200),
            (BOB.to_owned(), 200),
            (BOB.to_owned(), 429),
            (NOBODY.to_owned(), 404)
        ]
    );
    // The production token flow: the managed identity asked for Graph's resource once (and
    // ARM's, here the simulator's endpoint, for the listing).
    assert_eq!(
        log.tokens
            .iter()
            .filter(|r| *r == "https://graph.microsoft.com")
            .count(),
        1,
        "{:?}",
        log.tokens
    );
    assert!(
        log.tokens
            .iter()
            .any(|r| sim.base_url.starts_with(r.as_str())),
        "{:?}",
        log.tokens
    );
}
