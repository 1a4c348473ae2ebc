//! The self-service page in a real browser (issue 12): headless Chromium (Debian's), driven by
//! Playwright (`playwright-core`, pinned in `cli/tests/browser/package-lock.json`), against the
//! built `curfew serve` and the ARM simulator, through a small front door that maps the
//! browser's GET and POST to Functions HTTP-trigger invocations as the host does. The owner
//! opens their page from a signed link, clicks "Snooze 30 min", and the ledger shows the snooze;
//! a bad cron in the editor comes back as the engine's message; the instance named `<script>`
//! is text (no dialog). The screenshot goes to docs/selfservice.png when that file is missing
//! or `CURFEW_SAVE_SCREENSHOTS=1`.
//!
//! Without node, chromium or `npm ci` in cli/tests/browser the test prints a loud SKIPPED line
//! and passes, unless `CURFEW_REQUIRE_CHROMIUM=1` (CI), where it fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use armsim::{SimFleet, WorkspacePath};
use curfew_store::StateStore;
use serde_json::{json, Map, Value};

mod host;
use host::{Handler, Sim};

const SUB: &str = "00000000-0000-0000-0000-0000000000b7";
const OWNER: &str = "11111111-2222-3333-4444-555555555555";
const OTHER: &str = "22222222-2222-3333-4444-555555555555";
const KEY: &str = "browser-e2e-link-key-0123456789abcdef";
const BAD_CRON: &str = r#"[{"action":"Stop","status":"Enabled","triggerType":"Cron","cron":{"expression":"61 25 * * *","timeZone":"UTC"}}]"#;
/// Tab A's override, then tab B's (typed into a page loaded before A saved).
const FIRST_OVERRIDE: &str = r#"[{"action":"Stop","status":"Enabled","triggerType":"Cron","cron":{"expression":"0 20 * * *","timeZone":"UTC"}}]"#;
const SECOND_OVERRIDE: &str = r#"[{"action":"Stop","status":"Enabled","triggerType":"Cron","cron":{"expression":"0 21 * * *","timeZone":"UTC"}}]"#;

fn ws() -> WorkspacePath {
    WorkspacePath {
        subscription: SUB.into(),
        resource_group: "rg-browser".into(),
        workspace: "ws-browser".into(),
    }
}

fn compute(name: &str, owner: &str, tags: Value) -> Value {
    json!({
        "name": name,
        "tags": tags,
        "properties": {
            "computeType": "ComputeInstance",
            "provisioningState": "Succeeded",
            "properties": {
                "vmSize": "STANDARD_NC6S_V3",
                "state": "Running",
                "personalComputeInstanceSettings": {"assignedUser": {"objectId": owner, "tenantId": SUB}},
                "schedules": {"computeStartStop": [
                    {"action": "Stop", "status": "Enabled", "triggerType": "Cron",
                     "cron": {"expression": "0 18 * * *", "timeZone": "UTC"}},
                    {"action": "Start", "status": "Enabled", "triggerType": "Cron",
                     "cron": {"expression": "0 8 * * 1-5", "timeZone": "W. Europe Standard Time"}}
                ]}
            }
        }
    })
}

fn fleet() -> SimFleet {
    let items = json!([
        compute(
            "ci-mine",
            OWNER,
            json!({"team": "vision", "cost-center": "r&d \"gpu\""})
        ),
        compute(
            "<script>",
            OWNER,
            json!({"note": "<script>alert(2)</script>"})
        ),
        compute("ci-theirs", OTHER, json!({})),
    ]);
    SimFleet::from_json(items, &ws()).expect("fleet")
}

/// Whether `name` runs from PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|c| c.is_file())
}

/// The Functions host's HTTP front door for the browser: `/api/<Function>?query` becomes an
/// HTTP-trigger invocation of `curfew serve` (query as an object, headers as arrays, the body
/// as text, `UtcNow` the test's simulated time), and the `res` output becomes the answer. As
/// App Service Authentication does, it strips any `X-MS-CLIENT-PRINCIPAL-*` header a client
/// sends. One request per connection.
struct FrontDoor {
    addr: SocketAddr,
}

impl FrontDoor {
    fn start(handler: SocketAddr, now: Arc<Mutex<String>>) -> FrontDoor {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let now = now.lock().unwrap().clone();
                std::thread::spawn(move || {
                    let _ = serve_one(stream, handler, addr, &now);
                });
            }
        });
        FrontDoor { addr }
    }
}

fn serve_one(
    mut stream: TcpStream,
    handler: SocketAddr,
    me: SocketAddr,
    now: &str,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("GET").to_owned(),
        parts.next().unwrap_or("/").to_owned(),
    );
    let mut headers = Map::new();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim(), v.trim());
            if k.eq_ignore_ascii_case("content-length") {
                length = v.parse().unwrap_or(0);
            }
            if k.to_ascii_lowercase().starts_with("x-ms-client-principal") {
                continue;
            }
            headers.insert(k.to_owned(), json!([v]));
        }
    }
    let mut body = vec![0; length.min(8 << 20)];
    reader.read_exact(&mut body)?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let function = path
        .trim_start_matches("/api/")
        .trim_matches('/')
        .to_owned();
    let query: Map<String, Value> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    let envelope = json!({
        "Data": {"req": {
            "Url": format!("http://{me}{target}"),
            "Method": method,
            "Query": query,
            "Headers": headers,
            "Params": {},
            "Body": String::from_utf8_lossy(&body),
        }},
        "Metadata": {"sys": {"MethodName": function, "UtcNow": now}}
    });
    let (status, answer, ctype, extra) = match host::request_with(
        handler,
        "POST",
        &format!("/{function}"),
        &[("X-Azure-Functions-InvocationId", "front-door")],
        envelope.to_string().as_bytes(),
    ) {
        Ok((200, bytes)) => {
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let res = &v["Outputs"]["res"];
            let mut extra = String::new();
            let mut ctype = "text/plain".to_owned();
            if let Some(h) = res["headers"].as_object() {
                for (k, v) in h {
                    let v = v.as_str().unwrap_or_default();
                    if k.eq_ignore_ascii_case("content-type") {
                        ctype = v.to_owned();
                    } else {
                        extra.push_str(&format!("{k}: {v}\r\n"));
                    }
                }
            }
            (
                res["statusCode"].as_u64().unwrap_or(500),
                res["body"].as_str().unwrap_or_default().to_owned(),
                ctype,
                extra,
            )
        }
        other => (
            502,
            format!("the handler answered {other:?}"),
            "text/plain".into(),
            String::new(),
        ),
    };
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        answer.len()
    )?;
    stream.write_all(answer.as_bytes())
}

fn skip_or_fail(why: &str) {
    let required = std::env::var("CURFEW_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1");
    eprintln!("\n************************************************************");
    eprintln!("SKIPPED selfservice_browser: {why}");
    eprintln!("************************************************************\n");
    assert!(!required, "CURFEW_REQUIRE_CHROMIUM=1 but {why}");
}

#[test]
fn the_owner_snoozes_edits_and_sees_hostile_names_as_text_in_chromium() {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let Some(chromium) = on_path("chromium").or_else(|| on_path("chromium-browser")) else {
        return skip_or_fail("no chromium on PATH (apt-get install chromium)");
    };
    let Some(node) = on_path("node") else {
        return skip_or_fail("no node on PATH (apt-get install nodejs npm)");
    };
    if !browser_dir.join("node_modules/playwright-core").is_dir() {
        return skip_or_fail("playwright-core is not installed (cd cli/tests/browser && npm ci)");
    }
    let dir = host::tmp_dir("selfservice-browser", "owner");
    let sqlite = dir.join("state.sqlite");
    let sim = Sim::start(fleet());
    let mut env = sim.governor_env(SUB, KEY, "browser");
    env.extend([
        ("CURFEW_SQLITE", sqlite.display().to_string()),
        ("CURFEW_NOTIFY", "binding".into()),
    ]);
    let h = Handler::start(&env);
    // 17:40: the tick sends the 30-minute notices of the 18:00 stops (their ledger records).
    let (status, out) = h.post(
        "Tick",
        &host::timer_with_guid(
            "2026-03-09T17:40:00Z",
            "b7000000-0000-4000-8000-000000000001",
        ),
    );
    assert_eq!(status, 200, "{out}");
    let now = Arc::new(Mutex::new("2026-03-09T17:41:00Z".to_owned()));
    let door = FrontDoor::start(h.addr, now);
    let link = curfew_engine::governor::sign_view(
        &curfew_engine::governor::LinkKey::new("k1", KEY.as_bytes()),
        curfew_engine::governor::ViewPurpose::OwnerLink,
        OWNER,
        "2026-03-16T00:00:00Z".parse().unwrap(),
    );
    let url = format!("http://{}/api/Status?link={link}", door.addr);
    let shot = dir.join("selfservice.png");
    let run = Command::new(node)
        .arg(browser_dir.join("selfservice.mjs"))
        .current_dir(&browser_dir)
        .env("PAGE_URL", &url)
        .env("CHROMIUM", &chromium)
        .env("SCREENSHOT", &shot)
        .env("BAD_CRON", BAD_CRON)
        .env("FIRST_OVERRIDE", FIRST_OVERRIDE)
        .env("SECOND_OVERRIDE", SECOND_OVERRIDE)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let found: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no findings from the browser: {stdout}\n{stderr}"));
    assert!(run.status.success(), "{found:#}\n{stderr}");
    assert_eq!(found["status"], 200, "{found:#}");
    assert!(
        found["csp"]
            .as_str()
            .unwrap()
            .starts_with("default-src 'none'"),
        "{found:#}"
    );
    // Inert: shown as text, no dialog, no script error, nothing fetched from elsewhere.
    assert_eq!(found["evilText"], "<script>", "{found:#}");
    assert_eq!(found["evilStillText"], 1, "{found:#}");
    assert_eq!(found["dialogs"], json!([]), "{found:#}");
    assert_eq!(found["errors"], json!([]), "{found:#}");
    assert_eq!(found["requests"], json!([]), "{found:#}");
    assert!(
        found["snooze"].as_str().unwrap().contains("snooze 30 min"),
        "{found:#}"
    );
    let notice = found["notice"].as_str().unwrap();
    assert!(notice.contains("override refused"), "{found:#}");
    assert!(
        notice.contains("61 25 * * *"),
        "the engine's message: {found:#}"
    );
    assert!(
        found["stopStatus"]
            .as_str()
            .unwrap()
            .starts_with("snoozed until 18:30"),
        "{found:#}"
    );
    // The lost update in two tabs: A's save is done; B's, from a page older than it, is
    // refused with what is stored now, and B's text is still in its editor.
    let text = |k: &str| found[k].as_str().unwrap_or_default().to_owned();
    assert!(text("firstSave").contains("override set"), "{found:#}");
    assert!(
        text("staleSave").contains("changed since this page was loaded"),
        "{found:#}"
    );
    assert!(text("staleSave").contains("0 20 * * *"), "{found:#}");
    assert!(text("keptText").contains("0 21 * * *"), "{found:#}");
    assert!(text("secondSave").contains("override set"), "{found:#}");

    // The ledger shows the snooze, recorded by Dismiss from the page's signed token.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (entry, dismissals, overrides, audits) = rt.block_on(async {
        let s = curfew_store::SqliteStore::open(&sqlite).await.unwrap();
        let entry = s
            .entries_between(
                "2026-03-09T18:00:00Z".parse().unwrap(),
                "2026-03-09T18:00:01Z".parse().unwrap(),
            )
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.value.instance_id.ends_with("/ci-mine"))
            .expect("ci-mine's 18:00 stop in the ledger")
            .value;
        let d = s.dismissals(&entry.occurrence_id).await.unwrap();
        let audits = s
            .audit_between(
                "2026-03-09T00:00:00Z".parse().unwrap(),
                "2026-03-10T00:00:00Z".parse().unwrap(),
            )
            .await
            .unwrap();
        (entry, d, s.list_overrides().await.unwrap(), audits)
    });
    assert_eq!(entry.state, curfew_store::LedgerState::Snoozed, "{entry:?}");
    assert_eq!(
        entry.snoozed_until,
        Some("2026-03-09T18:30:00Z".parse().unwrap())
    );
    assert!(
        dismissals
            .iter()
            .any(|d| d.accepted && d.requested_by == "token"),
        "{dismissals:?}"
    );
    // The override story, in the audit: the bad cron refused (nothing stored: A's set
    // replaced nothing), A's set, B's stale save, B's set replacing A's on purpose.
    let story: Vec<(&str, String)> = audits
        .iter()
        .filter(|a| a.kind.starts_with("override."))
        .map(|a| {
            let cron = |v: &Value| {
                v.pointer("/computeStartStop/0/cron/expression")
                    .and_then(Value::as_str)
                    .unwrap_or("-")
                    .to_owned()
            };
            let d = &a.details;
            (
                a.kind.as_str(),
                format!("{} -> {}", cron(&d["before"]), cron(&d["after"])),
            )
        })
        .collect();
    assert_eq!(
        story,
        [
            ("override.invalid", "- -> -".to_owned()),
            ("override.set", "- -> 0 20 * * *".to_owned()),
            ("override.stale", "- -> -".to_owned()),
            ("override.set", "0 20 * * * -> 0 21 * * *".to_owned()),
        ],
        "{audits:#?}"
    );
    assert_eq!(overrides.len(), 1, "{overrides:?}");
    assert_eq!(
        overrides[0].schedules["computeStartStop"],
        serde_json::from_str::<Value>(SECOND_OVERRIDE).unwrap()
    );

    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/selfservice.png");
    if !docs.exists() || std::env::var("CURFEW_SAVE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        std::fs::copy(&shot, &docs).expect("screenshot saved to docs/");
    }
    drop(h);
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
}
