//! End to end with the governor: the built `curfew serve`, started exactly as the Functions
//! host starts it (environment variables, a free port, readiness poll on `GET /`), against the
//! in-process ARM simulator and a temporary SQLite file (and Azurite's Table Storage when
//! `CURFEW_AZURITE_TABLE_ENDPOINT` is set: `.ci/azurite.sh cargo test -p curfew --test
//! functions_governor_e2e`). Host payloads in the recorded shapes are replayed with chosen
//! `UtcNow` instants; the `Outputs` and the simulator's final state are asserted.
//!
//! The day, all times UTC (schedules are in the `UTC` zone so the day reads plainly):
//! - 08:00 `Tick`: `ci-start` (Stopped, start at 08:00) is started.
//! - 17:30 `Tick`: 30-minute notices for the 18:00 stops of `ci-stop` and `ci-keep`.
//! - 17:31 `Dismissals`: the owner of `ci-keep` skips its 18:00 stop (instance + at).
//! - 18:00 `Tick`: `ci-stop` is stopped, `ci-keep` is not; notice for `ci-link`'s 18:30 stop.
//! - 18:01 `Dismiss` GET then POST with the token of that notice's skip link.
//! - 18:30 `Evaluate` of `ci-link`'s workspace: nothing is stopped.
//! - a second handler with `CURFEW_FANOUT_THRESHOLD=1`: `Tick` fans out one `Evaluate` per
//!   workspace and evaluates nothing itself.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use armsim::{SimFleet, WorkspacePath};
use serde_json::{json, Value};

const SUB: &str = "00000000-0000-0000-0000-0000000000e2";
const OWNER: &str = "11111111-2222-3333-4444-555555555555";
const DAY: &str = "2026-03-09";
/// The admin whose principal reads the fleet-wide `Status` views.
const ADMIN: &str = "aaaaaaaa-2222-3333-4444-555555555555";

fn ws(name: &str) -> WorkspacePath {
    WorkspacePath {
        subscription: SUB.into(),
        resource_group: "rg-e2e".into(),
        workspace: name.into(),
    }
}

fn compute(ws_name: &str, name: &str, state: &str, action: &str, cron: &str) -> Value {
    json!({
        "id": ws(ws_name).compute_id(name),
        "name": name,
        "type": "Microsoft.MachineLearningServices/workspaces/computes",
        "properties": {
            "computeType": "ComputeInstance",
            "provisioningState": "Succeeded",
            "properties": {
                "vmSize": "STANDARD_DS3_V2",
                "state": state,
                "personalComputeInstanceSettings": {"assignedUser": {"objectId": OWNER, "tenantId": SUB}},
                "schedules": {"computeStartStop": [{
                    "action": action, "status": "Enabled", "triggerType": "Cron",
                    "cron": {"expression": cron, "timeZone": "UTC"}
                }]}
            }
        }
    })
}

fn fleet() -> SimFleet {
    let items = json!([
        compute("ws-a", "ci-stop", "Running", "Stop", "0 18 * * *"),
        compute("ws-a", "ci-keep", "Running", "Stop", "0 18 * * *"),
        compute("ws-b", "ci-link", "Running", "Stop", "30 18 * * *"),
        compute("ws-b", "ci-start", "Stopped", "Start", "0 8 * * *"),
    ]);
    SimFleet::from_json(items, &ws("ws-a")).expect("fleet")
}

/// The simulator on a thread of its own (the test thread does blocking I/O).
mod host;
use host::{logs, Handler, Sim};

impl Sim {
    fn state_of(&self, ws_name: &str, name: &str) -> String {
        let c = self
            .state
            .compute(&ws(ws_name).compute_id(name))
            .expect("compute");
        c["properties"]["properties"]["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// `(action, compute name)` of every action that changed state, in order.
    fn actions(&self) -> Vec<(String, String)> {
        self.state
            .actions()
            .iter()
            .filter(|a| a.changed_state)
            .map(|a| {
                (
                    format!("{:?}", a.action).to_ascii_lowercase(),
                    a.compute.rsplit('/').next().unwrap().to_owned(),
                )
            })
            .collect()
    }
}
fn at(hm: &str) -> String {
    format!("{DAY}T{hm}:00Z")
}

/// A timer payload in the recorded shape (`testdata/functions/timer-trigger-request…`).
fn timer(utc_now: &str) -> Value {
    host::timer_with_guid(utc_now, "0b0e2e00-0000-4000-8000-000000000001")
}

/// A Service Bus payload in the recorded shape: body as a JSON string, metadata strings
/// encoded twice, numbers as strings.
fn queue(function: &str, body: &Value, utc_now: &str) -> Value {
    json!({
        "Data": {"message": body.to_string()},
        "Metadata": {
            "DeliveryCount": "1",
            "MessageId": "\"0b0e2e00-0000-4000-8000-000000000002\"",
            "ContentType": "\"application/json\"",
            "EnqueuedTimeUtc": utc_now.trim_end_matches('Z'),
            "SequenceNumber": "1",
            "ApplicationProperties": {},
            "sys": {"MethodName": function, "UtcNow": utc_now, "RandGuid": "0b0e2e00-0000-4000-8000-000000000003"}
        }
    })
}

fn dismiss_http(method: &str, token: &str, utc_now: &str) -> Value {
    host::dismiss_http_with_guid(
        method,
        token,
        utc_now,
        "0b0e2e00-0000-4000-8000-000000000004",
    )
}

fn events(out: &Value) -> Vec<Value> {
    host::binding_events(out)
}

/// The invocation's outputs hold one `curfew.shutdown.dismissed` event, for the instance `id`.
fn assert_dismissed_exactly(out: &Value, id: &str) {
    let ev = events(out);
    let done = of_type(&ev, "curfew.shutdown.dismissed");
    assert_eq!(done.len(), 1, "{out}");
    assert!(
        done[0]["data"]["instance"]["id"]
            .as_str()
            .unwrap_or_default()
            .eq_ignore_ascii_case(id),
        "{out}"
    );
}

fn of_type<'a>(events: &'a [Value], ty: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == ty).collect()
}

fn names(events: &[&Value]) -> Vec<String> {
    let mut n: Vec<String> = events
        .iter()
        .map(|e| {
            e["data"]["instance"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    n.sort();
    n
}

fn tmp(name: &str) -> PathBuf {
    host::tmp_dir("governor-e2e", name)
}

fn governor_env(sim: &Sim, store: &[(&str, String)]) -> Vec<(&'static str, String)> {
    let mut env = sim.governor_env(SUB, "e2e-link-signing-key-0123456789abcdef", "e2e");
    env.push(("CURFEW_ADMINS", ADMIN.into()));
    for (k, v) in store {
        let k: &'static str = match *k {
            "CURFEW_SQLITE" => "CURFEW_SQLITE",
            "CURFEW_TABLE_ENDPOINT" => "CURFEW_TABLE_ENDPOINT",
            "CURFEW_TABLE" => "CURFEW_TABLE",
            other => panic!("unexpected store setting {other}"),
        };
        env.push((k, v.clone()));
    }
    env
}

/// The day described in the module doc, against one store.
fn the_day(store: &[(&str, String)]) {
    let sim = Sim::start(fleet());
    let env = governor_env(&sim, store);
    let h = Handler::start(&env);

    // 08:00: the scheduled start.
    let (status, out) = h.post("Tick", &timer(&at("08:00")));
    assert_eq!(status, 200, "{out}");
    let ev = events(&out);
    assert_eq!(
        names(&of_type(&ev, "curfew.instance.started")),
        ["ci-start"],
        "{out}"
    );
    assert!(logs(&out).contains("evaluated fleet"), "{}", logs(&out));
    assert_eq!(sim.state_of("ws-b", "ci-start"), "Running");
    assert!(
        out["Outputs"].get("evaluate").is_none(),
        "small fleets are not fanned out: {out}"
    );

    // 17:30: 30-minute notices for the 18:00 stops, each a JSON object with signed links.
    let (status, out) = h.post("Tick", &timer(&at("17:30")));
    assert_eq!(status, 200, "{out}");
    let ev = events(&out);
    let pending = of_type(&ev, "curfew.shutdown.pending");
    assert_eq!(names(&pending), ["ci-keep", "ci-stop"], "{out}");
    for e in &pending {
        assert!(e.is_object() && e["specversion"] == "1.0", "{e}");
        let skip = e["data"]["links"]["skip"].as_str().unwrap_or_default();
        assert!(
            skip.starts_with("https://curfew-func.azurewebsites.net/api/Dismiss?token="),
            "{e}"
        );
    }

    // 17:31: the owner skips ci-keep's stop from an ops workflow (queue).
    let body = json!({"instance": "ci-keep", "at": at("18:00"), "choice": "skip",
                      "requestedBy": {"objectId": OWNER}});
    let (status, out) = h.post("Dismissals", &queue("Dismissals", &body, &at("17:31")));
    assert_eq!(status, 200, "{out}");
    let ev = events(&out);
    assert_eq!(
        names(&of_type(&ev, "curfew.shutdown.dismissed")),
        ["ci-keep"],
        "{out}"
    );
    // A stranger's request is refused, completed (200) and not retried.
    let body = json!({"instance": "ci-stop", "at": at("18:00"), "choice": "skip",
                      "requestedBy": {"objectId": "99999999-0000-0000-0000-000000000000"}});
    let (status, out) = h.post("Dismissals", &queue("Dismissals", &body, &at("17:32")));
    assert_eq!(status, 200, "{out}");
    assert!(logs(&out).contains("rejected (not retried)"), "{out}");
    assert!(
        !out.to_string().contains(OWNER),
        "the refusal names no owner: {out}"
    );
    assert!(events(&out).is_empty(), "{out}");

    // 18:00: ci-stop is stopped, ci-keep is not; ci-link gets its 30-minute notice.
    let (status, out) = h.post("Tick", &timer(&at("18:00")));
    assert_eq!(status, 200, "{out}");
    let ev = events(&out);
    assert_eq!(
        names(&of_type(&ev, "curfew.instance.stopped")),
        ["ci-stop"],
        "{out}"
    );
    let pending = of_type(&ev, "curfew.shutdown.pending");
    assert_eq!(names(&pending), ["ci-link"], "{out}");
    assert_eq!(sim.state_of("ws-a", "ci-stop"), "Stopped");
    assert_eq!(sim.state_of("ws-a", "ci-keep"), "Running");
    let link = pending[0]["data"]["links"]["skip"].as_str().unwrap();
    let token = link.split("token=").nth(1).unwrap().to_owned();

    // 18:01: the person opens the link (GET: a page, nothing recorded), then confirms (POST).
    let (status, out) = h.post("Dismiss", &dismiss_http("GET", &token, &at("18:01")));
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["Outputs"]["res"]["statusCode"], 200, "{out}");
    assert!(events(&out).is_empty(), "{out}");
    let (status, out) = h.post("Dismiss", &dismiss_http("POST", &token, &at("18:01")));
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["Outputs"]["res"]["statusCode"], 200, "{out}");
    assert_eq!(
        names(&of_type(&events(&out), "curfew.shutdown.dismissed")),
        ["ci-link"],
        "{out}"
    );
    // A forged token gets a readable refusal.
    let forged = format!("{}x", &token[..token.len() - 1]);
    let (_, out) = h.post("Dismiss", &dismiss_http("POST", &forged, &at("18:02")));
    assert_eq!(out["Outputs"]["res"]["statusCode"], 403, "{out}");

    // 18:30: an Evaluate message for ci-link's workspace: the dismissed stop is not executed.
    let msg = json!({"type": "curfew.evaluate", "workspace": ws("ws-b").arm_id(),
                     "tickAt": at("18:30"), "tickId": "e2e-tick"});
    let (status, out) = h.post("Evaluate", &queue("Evaluate", &msg, &at("18:30")));
    assert_eq!(status, 200, "{out}");
    assert!(logs(&out).contains("evaluated workspace"), "{}", logs(&out));
    assert!(
        of_type(&events(&out), "curfew.instance.stopped").is_empty(),
        "{out}"
    );
    // A workspace outside the scopes is refused without retry.
    let msg = json!({"workspace": "/subscriptions/other/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w"});
    let (status, out) = h.post("Evaluate", &queue("Evaluate", &msg, &at("18:30")));
    assert_eq!(status, 200, "{out}");
    assert!(
        logs(&out).contains("outside the configured scopes"),
        "{out}"
    );

    // Status: the fleet as the governor sees it, one instance explained.
    let status_req = json!({
        "Data": {"req": {"Url": "https://x/api/Status?instance=ci-link", "Method": "GET",
                 "Query": {"instance": "ci-link"}, "Headers": {"X-MS-CLIENT-PRINCIPAL-ID": [ADMIN]}, "Params": {}}},
        "Metadata": {"sys": {"MethodName": "Status", "UtcNow": at("18:31")}}
    });
    // Status is anonymous to the host: without an admin's principal the fleet is not shown.
    let mut anonymous = status_req.clone();
    anonymous["Data"]["req"]["Headers"] = json!({});
    let (_, out) = h.post("Status", &anonymous);
    assert_eq!(out["Outputs"]["res"]["statusCode"], 403, "{out}");
    assert!(
        !out.to_string().contains("byState") && !out.to_string().contains("lastTick"),
        "{out}"
    );
    let (_, out) = h.post("Status", &status_req);
    let body: Value =
        serde_json::from_str(out["Outputs"]["res"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["fleet"]["instances"], 4, "{body}");
    assert_eq!(body["fleet"]["byState"]["Running"], 3, "{body}");
    assert_eq!(body["fleet"]["explain"]["instance"], "ci-link", "{body}");
    // The heartbeat: the newest completed tick (the 18:30 Evaluate), a minute old.
    assert_eq!(body["fleet"]["lastTick"], at("18:30"), "{body}");
    assert_eq!(body["fleet"]["lastTickAgeSeconds"], 60, "{body}");

    // The cost report page reads the timeline the ticks wrote to the store (no file): the
    // stop Curfew made saves until ci-stop's next scheduled start.
    let report_req = json!({
        "Data": {"req": {"Url": "https://x/api/Status?view=report", "Method": "GET",
                 "Query": {"view": "report"}, "Headers": {"Accept": ["text/html"], "X-MS-CLIENT-PRINCIPAL-ID": [ADMIN]}, "Params": {}}},
        "Metadata": {"sys": {"MethodName": "Status", "UtcNow": at("18:32")}}
    });
    let (_, out) = h.post("Status", &report_req);
    let page = &out["Outputs"]["res"];
    let html = page["body"].as_str().unwrap_or_default();
    assert_eq!(page["statusCode"], 200, "{out}");
    assert!(html.contains("ci-stop") && html.contains("<svg"), "{html}");

    // The simulator saw exactly the scheduled start and the one stop nobody dismissed.
    assert_eq!(
        sim.actions(),
        [
            ("start".to_owned(), "ci-start".to_owned()),
            ("stop".to_owned(), "ci-stop".to_owned())
        ]
    );
    assert_eq!(sim.state_of("ws-a", "ci-keep"), "Running");
    assert_eq!(sim.state_of("ws-b", "ci-link"), "Running");
    drop(h);

    // A second handler on the same store, with a fan-out threshold of 1 instance: Tick sends
    // one Evaluate per workspace and evaluates nothing itself.
    let mut env = env;
    env.push(("CURFEW_FANOUT_THRESHOLD", "1".into()));
    let h = Handler::start(&env);
    let (status, out) = h.post("Tick", &timer(&at("18:45")));
    assert_eq!(status, 200, "{out}");
    let msgs = out["Outputs"]["evaluate"]
        .as_array()
        .expect("evaluate messages");
    let mut targets: Vec<&str> = msgs
        .iter()
        .map(|m| m["workspace"].as_str().unwrap())
        .collect();
    targets.sort_unstable();
    let (a, b) = (ws("ws-a").arm_id(), ws("ws-b").arm_id());
    assert_eq!(targets, [a.as_str(), b.as_str()], "{out}");
    assert!(msgs
        .iter()
        .all(|m| m["type"] == "curfew.evaluate" && m["tickAt"].is_string()));
    assert!(events(&out).is_empty(), "{out}");
    assert_eq!(sim.actions().len(), 2, "fan-out acted on nothing");
}

#[test]
fn the_functions_app_governs_a_day_with_sqlite() {
    let dir = tmp("sqlite");
    let db = dir.join("state.sqlite");
    the_day(&[("CURFEW_SQLITE", db.display().to_string())]);
    assert!(db.exists(), "state written to {}", db.display());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_functions_app_governs_a_day_with_table_storage() {
    let Ok(endpoint) = std::env::var("CURFEW_AZURITE_TABLE_ENDPOINT") else {
        eprintln!("skipped: CURFEW_AZURITE_TABLE_ENDPOINT is not set (run under .ci/azurite.sh)");
        return;
    };
    let table = format!("curfewe2e{}", std::process::id());
    the_day(&[("CURFEW_TABLE_ENDPOINT", endpoint), ("CURFEW_TABLE", table)]);
}

#[test]
fn missing_governor_settings_are_explained_not_fatal() {
    // Settings present but unusable: the handler still binds and answers; Tick completes with
    // the reason, a queue message is kept for redelivery.
    let h = Handler::start(&[("CURFEW_SCOPES", "/not/a/scope".into())]);
    let (status, out) = h.post("Tick", &timer(&at("08:00")));
    assert_eq!(status, 200, "{out}");
    assert!(
        logs(&out).contains("CURFEW_SCOPES (arm.scopes[0])"),
        "{out}"
    );
    let body = json!({"occurrenceId": "o", "choice": "skip", "requestedBy": {"objectId": OWNER}});
    let (status, out) = h.post("Dismissals", &queue("Dismissals", &body, &at("08:01")));
    assert_eq!(status, 503, "{out}");
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The numbers of `docs/functions.md` (run by `scripts/measure_coldstart.sh`, release build):
/// spawn → first `200` on `GET /` with the governor configured, and RSS after the first `Tick`
/// that evaluates a 1 000-instance fleet inline (10 workspaces × 100 instances, simulator).
#[test]
#[ignore = "measurement; run with scripts/measure_coldstart.sh"]
fn measure_cold_start_and_rss_on_1000_instances() {
    let runs: usize = std::env::var("CURFEW_MEASURE_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let sim = Sim::start(SimFleet::synthetic(1, 10, 100));
    let mut ready = Vec::new();
    let mut rss = Vec::new();
    let mut tick = Vec::new();
    for run in 0..runs {
        let dir = tmp(&format!("measure-{run}"));
        let mut env = governor_env(
            &sim,
            &[(
                "CURFEW_SQLITE",
                dir.join("state.sqlite").display().to_string(),
            )],
        );
        env[0] = (
            "CURFEW_SCOPES",
            "/subscriptions/00000000-0000-0000-0000-000000000001".into(),
        );
        env.push(("CURFEW_FANOUT_THRESHOLD", "100000".into()));
        let spawned = Instant::now();
        let h = Handler::start(&env);
        ready.push(spawned.elapsed());
        let t = Instant::now();
        let (status, out) = h.post("Tick", &timer(&at("18:00")));
        tick.push(t.elapsed());
        assert_eq!(status, 200, "{out}");
        assert!(logs(&out).contains("1000 instance(s)"), "{}", logs(&out));
        rss.push(rss_kib(h.child.id()));
        drop(h);
        let _ = std::fs::remove_dir_all(dir);
    }
    ready.sort();
    tick.sort();
    rss.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let n = runs;
    println!(
        "cold start (governor configured) over {n} runs: min {:.2} ms, median {:.2} ms, max {:.2} ms",
        ms(ready[0]),
        ms(ready[n / 2]),
        ms(ready[n - 1])
    );
    println!(
        "first Tick on 1000 instances (inline, incl. building the runtime): min {:.0} ms, median {:.0} ms, max {:.0} ms",
        ms(tick[0]),
        ms(tick[n / 2]),
        ms(tick[n - 1])
    );
    println!(
        "RSS after the first Tick on 1000 instances: min {} KiB, median {} KiB, max {} KiB",
        rss[0],
        rss[n / 2],
        rss[n - 1]
    );
}

/// A webhook receiver on loopback: records every body it is sent and answers with `status`
/// (changeable while it runs), `Connection: close`.
struct Hook {
    url: String,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    status: std::sync::Arc<std::sync::atomic::AtomicU16>,
}

impl Hook {
    fn start(status: u16) -> Hook {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::atomic::{AtomicU16, Ordering};
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(status));
        let (b, st) = (bodies.clone(), status.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut len = 0usize;
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0; len];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                if let Ok(v) = serde_json::from_slice(&body) {
                    b.lock().unwrap().push(v);
                }
                let code = st.load(Ordering::SeqCst);
                let _ = write!(
                    conn,
                    "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Hook {
            url,
            bodies,
            status,
        }
    }

    fn set_status(&self, code: u16) {
        self.status.store(code, std::sync::atomic::Ordering::SeqCst);
    }

    /// Instance names of the `curfew.shutdown.pending` events received, sorted.
    fn pending(&self) -> Vec<String> {
        let bodies = self.bodies.lock().unwrap();
        let refs: Vec<&Value> = bodies.iter().collect();
        names(&of_type_refs(&refs, "curfew.shutdown.pending"))
    }
}

fn of_type_refs<'a>(events: &[&'a Value], ty: &str) -> Vec<&'a Value> {
    events.iter().copied().filter(|e| e["type"] == ty).collect()
}

/// Issue 10's reproduction: the output binding plus a webhook and a JSON-lines file
/// configured together. Every event reaches all three: 2/2 notices in each.
#[test]
fn every_event_reaches_the_binding_the_webhook_and_the_jsonl_file() {
    let dir = tmp("channels");
    let sim = Sim::start(fleet());
    let hook = Hook::start(200);
    let jsonl = dir.join("events.jsonl");
    let mut env = governor_env(
        &sim,
        &[(
            "CURFEW_SQLITE",
            dir.join("state.sqlite").display().to_string(),
        )],
    );
    env.push((
        "CURFEW_NOTIFY",
        format!("jsonl:{} ops@webhook:{}", jsonl.display(), hook.url),
    ));
    let h = Handler::start(&env);
    let (status, out) = h.post("Tick", &timer(&at("17:30")));
    assert_eq!(status, 200, "{out}");
    let ev = events(&out);
    assert_eq!(
        names(&of_type(&ev, "curfew.shutdown.pending")),
        ["ci-keep", "ci-stop"],
        "binding: {out}"
    );
    let lines: Vec<Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let refs: Vec<&Value> = lines.iter().collect();
    assert_eq!(
        names(&of_type_refs(&refs, "curfew.shutdown.pending")),
        ["ci-keep", "ci-stop"],
        "jsonl"
    );
    assert_eq!(hook.pending(), ["ci-keep", "ci-stop"], "webhook");
    // The same events, with the same ids, on every channel.
    let ids = |v: &[&Value]| {
        let mut ids: Vec<String> = v
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let bound: Vec<&Value> = ev.iter().collect();
    assert_eq!(ids(&bound), ids(&refs));
    // Delivered once: the next tick sends no notice again.
    let (_, out) = h.post("Tick", &timer(&at("17:31")));
    assert!(
        of_type(&events(&out), "curfew.shutdown.pending").is_empty(),
        "{out}"
    );
    assert_eq!(hook.pending().len(), 2, "no resend once delivered");
    let _ = std::fs::remove_dir_all(dir);
}

/// A notice whose every channel failed is not recorded as sent: it goes out again on the next
/// tick, with the same CloudEvent id, and stops once a channel has taken it.
#[test]
fn a_notice_no_channel_took_is_sent_again_next_tick() {
    let dir = tmp("failing-channel");
    let sim = Sim::start(fleet());
    let hook = Hook::start(400);
    let mut env = governor_env(
        &sim,
        &[(
            "CURFEW_SQLITE",
            dir.join("state.sqlite").display().to_string(),
        )],
    );
    env.push(("CURFEW_EVENTS", "notifiers".into()));
    env.push(("CURFEW_NOTIFY", format!("webhook:{}", hook.url)));
    let h = Handler::start(&env);
    let (status, out) = h.post("Tick", &timer(&at("17:30")));
    assert_eq!(status, 200, "{out}");
    assert!(events(&out).is_empty(), "no binding configured: {out}");
    assert_eq!(hook.pending(), ["ci-keep", "ci-stop"], "tried once each");
    // Still failing: tried again.
    let (_, _) = h.post("Tick", &timer(&at("17:31")));
    assert_eq!(hook.pending().len(), 4, "resent: nothing took them");
    // The channel recovers: delivered, then never again.
    hook.set_status(200);
    let (_, _) = h.post("Tick", &timer(&at("17:32")));
    assert_eq!(hook.pending().len(), 6);
    let (_, _) = h.post("Tick", &timer(&at("17:33")));
    assert_eq!(hook.pending().len(), 6, "recorded as sent once delivered");
    let bodies = hook.bodies.lock().unwrap();
    let first: Vec<&str> = bodies[..2]
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    let last: Vec<&str> = bodies[4..6]
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    let (mut first, mut last) = (first, last);
    first.sort_unstable();
    last.sort_unstable();
    assert_eq!(first, last, "a resend carries the same CloudEvent id");
    drop(bodies);
    let _ = std::fs::remove_dir_all(dir);
}

/// Dismissals are resolved by ARM id, checked before anything is looked up, and every one is
/// audited: two workspaces each hold a `ci-keep` stopping at 18:00.
/// - by instance and time, the full ARM id of each names its own occurrence (the name alone
///   used to resolve `ws-b/ci-keep` to `ws-a`'s), and a bare name that fits both is refused;
/// - a forged link naming a real occurrence costs no ARM read, and its page shows none of its
///   claims;
/// - refusals that never reach the ledger (ambiguous name, unknown occurrence, no requester,
///   forged token) leave audit rows like every other request.
#[test]
fn dismissals_resolve_by_id_verify_first_and_audit_every_refusal() {
    let items = json!([
        compute("ws-a", "ci-keep", "Running", "Stop", "0 18 * * *"),
        compute("ws-b", "ci-keep", "Running", "Stop", "0 18 * * *"),
    ]);
    let sim = Sim::start(SimFleet::from_json(items, &ws("ws-a")).expect("fleet"));
    let dir = tmp("by-id");
    let sqlite = dir.join("state.sqlite");
    let h = Handler::start(&governor_env(
        &sim,
        &[("CURFEW_SQLITE", sqlite.display().to_string())],
    ));
    let id_a = ws("ws-a").compute_id("ci-keep");
    let id_b = ws("ws-b").compute_id("ci-keep");

    let (status, out) = h.post("Tick", &timer(&at("17:30")));
    assert_eq!(status, 200, "{out}");
    let ev = events(&out);
    let pending = of_type(&ev, "curfew.shutdown.pending");
    assert_eq!(names(&pending), ["ci-keep", "ci-keep"], "{out}");

    // By ARM id: each request reaches its own instance's occurrence.
    let dismiss = |instance: &str, choice: Value, when: &str| {
        let mut body = json!({"instance": instance, "at": at("18:00"),
                              "requestedBy": {"objectId": OWNER}});
        body.as_object_mut()
            .unwrap()
            .extend(choice.as_object().unwrap().clone());
        h.post("Dismissals", &queue("Dismissals", &body, &at(when)))
    };
    let (status, out) = dismiss(&id_b, json!({"choice": "skip"}), "17:31");
    assert_eq!(status, 200, "{out}");
    assert_dismissed_exactly(&out, &id_b);
    let (status, out) = dismiss(
        &id_a.to_ascii_uppercase(),
        json!({"choice": "snooze", "minutes": 30}),
        "17:32",
    );
    assert_eq!(status, 200, "{out}");
    assert_dismissed_exactly(&out, &id_a);
    // The bare name fits both instances: refused, not guessed.
    let (status, out) = dismiss("ci-keep", json!({"choice": "skip"}), "17:33");
    assert_eq!(status, 200, "{out}");
    assert!(
        logs(&out).contains("rejected (not retried)") && logs(&out).contains("ARM id"),
        "{out}"
    );
    assert!(events(&out).is_empty(), "{out}");

    // A forged token naming a real occurrence: refused before any ARM read; the confirmation
    // page shows nothing of what it claims.
    let link = pending[0]["data"]["links"]["skip"].as_str().unwrap();
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let occurrence = pending[0]["data"]["occurrenceId"]
        .as_str()
        .unwrap()
        .to_owned();
    let forged = format!("{}x", &token[..token.len() - 1]);
    let reads = || {
        sim.state
            .requests()
            .iter()
            .filter(|r| r.kind == "get-compute")
            .count()
    };
    let before = reads();
    let (_, out) = h.post("Dismiss", &dismiss_http("POST", &forged, &at("17:34")));
    assert_eq!(out["Outputs"]["res"]["statusCode"], 403, "{out}");
    let (_, out) = h.post("Dismiss", &dismiss_http("GET", &forged, &at("17:34")));
    let page = out["Outputs"]["res"]["body"].as_str().unwrap_or_default();
    assert_ne!(out["Outputs"]["res"]["statusCode"], 200, "{out}");
    assert!(!page.contains(&occurrence), "{page}");
    assert!(!page.contains("<form"), "{page}");
    assert_eq!(reads(), before, "a forged token costs no ARM read");
    // The genuine token's page shows what it grants.
    let (_, out) = h.post("Dismiss", &dismiss_http("GET", &token, &at("17:34")));
    assert_eq!(out["Outputs"]["res"]["statusCode"], 200, "{out}");
    let page = out["Outputs"]["res"]["body"].as_str().unwrap_or_default();
    assert!(page.contains("ci-keep") && page.contains("<form"), "{page}");

    // Refusals before the ledger lookup: an unknown occurrence, and no requester at all.
    let body = json!({"occurrenceId": "no-such-occurrence", "choice": "skip",
                      "requestedBy": {"objectId": OWNER}});
    let (status, _) = h.post("Dismissals", &queue("Dismissals", &body, &at("17:35")));
    assert_eq!(status, 200);
    let body = json!({"occurrenceId": occurrence, "choice": "skip"});
    let (status, _) = h.post("Dismissals", &queue("Dismissals", &body, &at("17:36")));
    assert_eq!(status, 200);

    // 18:00: neither is stopped (one skipped, one snoozed); 18:30: the snoozed one is.
    let (_, out) = h.post("Tick", &timer(&at("18:00")));
    assert!(
        of_type(&events(&out), "curfew.instance.stopped").is_empty(),
        "{out}"
    );
    let (_, out) = h.post("Tick", &timer(&at("18:30")));
    let ev = events(&out);
    let stopped = of_type(&ev, "curfew.instance.stopped");
    assert_eq!(stopped.len(), 1, "{out}");
    assert!(stopped[0]["data"]["instance"]["id"]
        .as_str()
        .unwrap_or_default()
        .eq_ignore_ascii_case(&id_a));
    drop(h);

    let audit = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use curfew_store::StateStore as _;
            let store = curfew_store::SqliteStore::open(&sqlite).await.unwrap();
            store
                .audit_between(
                    chrono::DateTime::parse_from_rfc3339(&at("00:00"))
                        .unwrap()
                        .into(),
                    chrono::DateTime::parse_from_rfc3339(&at("23:59"))
                        .unwrap()
                        .into(),
                )
                .await
                .unwrap()
        });
    let rejected: Vec<&str> = audit
        .iter()
        .filter(|a| a.kind == "dismissal.rejected")
        .map(|a| a.message.as_str())
        .collect();
    assert_eq!(rejected.len(), 4, "{rejected:#?}");
    for needle in ["ARM id", "signature", "no-such-occurrence", "requester"] {
        assert!(
            rejected.iter().any(|m| m.contains(needle)),
            "{needle}: {rejected:#?}"
        );
    }
    let accepted = audit
        .iter()
        .filter(|a| a.kind == "dismissal.accepted")
        .count();
    assert_eq!(accepted, 2);
    let _ = std::fs::remove_dir_all(dir);
}

/// The ARM requests the simulator answered, by kind (`list-workspaces`, `list-computes`,
/// `action`, `poll`, …).
fn requests_by_kind(sim: &Sim) -> std::collections::BTreeMap<&'static str, usize> {
    let mut m = std::collections::BTreeMap::new();
    for r in sim.state.requests() {
        *m.entry(r.kind).or_default() += 1;
    }
    m
}

/// Issue 11: a tick reads each workspace once. Fan-out off: `Tick` lists the workspaces and
/// their computes once and acts. Fan-out on: `Tick` discovers the workspaces only (no compute
/// listing) and each `Evaluate` lists its own workspace once. Both come to the same ARM
/// requests: workspace pages + compute pages + actions (no polls: actions are not awaited).
#[test]
fn a_tick_lists_each_workspace_once_with_fan_out_on_and_off() {
    let (workspaces, per_ws) = (["ws-a", "ws-b", "ws-c"], 3);
    let items: Vec<Value> = workspaces
        .iter()
        .flat_map(|w| {
            (0..per_ws)
                .map(move |i| compute(w, &format!("ci-{w}-{i}"), "Running", "Stop", "0 18 * * *"))
        })
        .collect();
    let expected = std::collections::BTreeMap::from([
        ("action", workspaces.len() * per_ws),
        ("list-computes", workspaces.len()),
        ("list-workspaces", 1),
    ]);
    let mut figures = Vec::new();
    for fan_out in [false, true] {
        let sim =
            Sim::start(SimFleet::from_json(Value::Array(items.clone()), &ws("ws-a")).unwrap());
        let dir = tmp(&format!("listing-{fan_out}"));
        let mut env = governor_env(
            &sim,
            &[(
                "CURFEW_SQLITE",
                dir.join("state.sqlite").display().to_string(),
            )],
        );
        env.push((
            "CURFEW_FANOUT_THRESHOLD",
            if fan_out { "1" } else { "100000" }.into(),
        ));
        let h = Handler::start(&env);
        let (status, out) = h.post("Tick", &timer(&at("18:00")));
        assert_eq!(status, 200, "{out}");
        let after_tick = requests_by_kind(&sim);
        if fan_out {
            assert_eq!(
                after_tick,
                std::collections::BTreeMap::from([("list-workspaces", 1)]),
                "a fan-out Tick discovers workspaces only"
            );
            let msgs = out["Outputs"]["evaluate"]
                .as_array()
                .expect("evaluate messages")
                .clone();
            assert_eq!(msgs.len(), workspaces.len(), "{out}");
            for m in &msgs {
                let (status, out) = h.post("Evaluate", &queue("Evaluate", m, &at("18:00")));
                assert_eq!(status, 200, "{out}");
            }
        } else {
            assert!(out["Outputs"].get("evaluate").is_none(), "{out}");
        }
        let total = requests_by_kind(&sim);
        figures.push(format!(
            "fan-out {}: Tick {:?}, in all {:?}",
            if fan_out { "on" } else { "off" },
            after_tick,
            total
        ));
        assert_eq!(total, expected, "fan-out {fan_out}");
        assert_eq!(sim.actions().len(), workspaces.len() * per_ws);
        if fan_out {
            // The next Tick knows the sizes the Evaluates listed, and still lists no computes.
            let (status, out) = h.post("Tick", &timer(&at("18:01")));
            assert_eq!(status, 200, "{out}");
            assert!(
                logs(&out)
                    .contains("fleet of 9 instances (as last listed) in 3 workspaces exceeds 1"),
                "{}",
                logs(&out)
            );
            let mut again = expected.clone();
            *again.get_mut("list-workspaces").unwrap() += 1;
            assert_eq!(requests_by_kind(&sim), again);
        }
        drop(h);
        let _ = std::fs::remove_dir_all(dir);
    }
    println!(
        "ARM requests of one tick, 3 workspaces × 3 instances, 9 stops due:\n  {}",
        figures.join("\n  ")
    );
}
