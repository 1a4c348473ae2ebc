//! Telemetry proven against a real OTLP receiver: the built `curfew serve` (the default build,
//! which carries the `otel` feature as the deployable one does), started as the Functions host
//! starts it with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at `otlp/receiver.py` on loopback (an
//! HTTP server decoding OTLP protobuf with the `opentelemetry-proto` PyPI package), against the
//! ARM simulator (a seeded 429 rate) and a temporary SQLite file.
//!
//! Two `Tick`s carry the host's *unsampled* `traceparent` (flags `00`): 08:00 starts `ci-start`,
//! 18:00 stops `ci-stop`. Checked: spans arrive with the host's trace id, the invocation's
//! parent is the host's span, the tree is invocation → tick → workspace → instance →
//! occurrence, the `faas.*` attributes, and the metrics (names, attributes, plausible values).
//!
//! Without `opentelemetry-proto` the test prints SKIPPED; with `CURFEW_REQUIRE_OTLP=1` (set by
//! `.ci/run`, which pip-installs the pinned package) it fails instead.
#![cfg(feature = "otel")]

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use armsim::{FaultSpec, SimConfig, SimFleet, WorkspacePath};
use serde_json::{json, Value};

mod host;
use host::{Handler, Sim};

const REQUIRE_VAR: &str = "CURFEW_REQUIRE_OTLP";
const SUB: &str = "00000000-0000-0000-0000-0000000000e7";
const OWNER: &str = "11111111-2222-3333-4444-555555555555";
const HOST_TRACE: &str = "bb2bd5eef54cb15a1506d0326d2489e7";
const HOST_SPAN: &str = "d3f54c84c7034d76";

fn ws(name: &str) -> WorkspacePath {
    WorkspacePath {
        subscription: SUB.into(),
        resource_group: "rg-otel".into(),
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
                "vmSize": "Standard_DS3_v2",
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
        compute("ws-a", "ci-idle", "Running", "Stop", "0 20 * * *"),
        compute("ws-b", "ci-start", "Stopped", "Start", "0 8 * * *"),
    ]);
    SimFleet::from_json(items, &ws("ws-a")).expect("fleet")
}

fn timer(utc_now: &str) -> Value {
    json!({
        "Data": {"timer": {"Schedule": {"AdjustForDST": true}, "ScheduleStatus": null, "IsPastDue": "false"}},
        "Metadata": {"sys": {"MethodName": "Tick", "UtcNow": utc_now, "RandGuid": "0b0e2e00-0000-4000-8000-0000000000f1"}}
    })
}

/// `curfew serve`'s settings against `sim`, with a SQLite file in `dir`, exporting to the
/// receiver on `otlp` when given.
fn handler_env(sim: &Sim, dir: &Path, sub: &str, otlp: Option<u16>) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("CURFEW_SCOPES", format!("/subscriptions/{sub}")),
        ("CURFEW_ARM_ENDPOINT", sim.base_url.clone()),
        ("CURFEW_ARM_CREDENTIAL", "token-env:CURFEW_ARM_TOKEN".into()),
        ("CURFEW_ARM_TOKEN", "simulator".into()),
        (
            "CURFEW_LINK_KEY",
            "otel-link-signing-key-0123456789abcdef".into(),
        ),
        (
            "CURFEW_PUBLIC_BASE_URL",
            "https://curfew-func.azurewebsites.net/api".into(),
        ),
        ("CURFEW_DEPLOYMENT", "otel".into()),
        ("CURFEW_SQLITE", dir.join("state.db").display().to_string()),
        ("CURFEW_FANOUT_THRESHOLD", "100000".into()),
    ];
    if let Some(port) = otlp {
        env.push((
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        ));
        env.push(("OTEL_SERVICE_NAME", "curfew-otel-test".into()));
    }
    env
}

/// The receiver, or why there is none (then the test is skipped, or fails in CI).
struct Receiver {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Receiver {
    /// With receiver arguments (`--count-only`: answers without decoding).
    fn start(out: PathBuf, args: &[&str]) -> Result<Receiver, String> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/otlp/receiver.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(&out)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("python3 could not be started: {e}"))?;
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line);
        match line.trim().strip_prefix("listening ") {
            Some(port) => Ok(Receiver {
                port: port
                    .parse()
                    .map_err(|e| format!("receiver said {line:?}: {e}"))?,
                child,
                out,
            }),
            None => {
                let _ = child.wait();
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                Err(format!("the OTLP receiver did not start: {}", err.trim()))
            }
        }
    }

    fn lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("receiver line"))
            .collect()
    }

    /// What was received, once `done` holds of it (the flush before each answer makes that
    /// immediate; the bound only turns a missing export into a failure instead of a hang).
    fn wait_for(&self, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let lines = self.lines();
            if done(&lines) || Instant::now() > deadline {
                return lines;
            }
            std::thread::yield_now();
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// POSTs an invocation with the host's headers (`traceparent` among them).
fn invoke(addr: SocketAddr, function: &str, invocation: &str, body: &Value) -> (u16, Value) {
    let body = body.to_string();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(
        s,
        "POST /{function} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         X-Azure-Functions-InvocationId: {invocation}\r\n\
         traceparent: 00-{HOST_TRACE}-{HOST_SPAN}-00\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let at = text.find("\r\n\r\n").map_or(raw.len(), |i| i + 4);
    (
        status,
        serde_json::from_slice(&raw[at..]).unwrap_or(Value::Null),
    )
}

fn spans(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter(|l| l["signal"] == "span").collect()
}

/// The data points of metric `name` in the latest export that has it (metrics are cumulative).
fn points<'a>(lines: &'a [Value], name: &str) -> Vec<&'a Value> {
    let of = |l: &&Value| l["signal"] == "metric" && l["name"] == name;
    let latest = lines
        .iter()
        .filter(of)
        .filter_map(|l| l["export"].as_u64())
        .max();
    lines
        .iter()
        .filter(of)
        .filter(|l| l["export"].as_u64() == latest)
        .collect()
}

fn sum_of(points: &[&Value], field: &str) -> f64 {
    points.iter().filter_map(|p| p[field].as_f64()).sum()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("curfew-otlp-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The receiver; `None` (after a loud SKIPPED) when it cannot run here and CI does not ask for it.
fn receiver_or_skip(out: PathBuf, args: &[&str]) -> Option<Receiver> {
    match Receiver::start(out, args) {
        Ok(r) => Some(r),
        Err(why) if std::env::var(REQUIRE_VAR).as_deref() == Ok("1") => {
            panic!("{REQUIRE_VAR}=1 but {why} (pip install opentelemetry-proto==1.45.2)")
        }
        Err(why) => {
            // Past the test harness's capture, as tests/azurite.rs does.
            let notice = format!(
                "\n!!!!!!!! SKIPPED: {why}: telemetry was NOT tested against an OTLP receiver \
                 (cli/tests/otlp_e2e.rs).\n!!!!!!!! Run: pip install opentelemetry-proto==1.45.2 \
                 protobuf==7.36.2 ({REQUIRE_VAR}=1 turns this into a failure)\n\n"
            );
            let _ = std::io::stderr().lock().write_all(notice.as_bytes());
            None
        }
    }
}

#[test]
fn spans_and_metrics_reach_a_real_otlp_receiver() {
    let dir = tmp("tree");
    let Some(receiver) = receiver_or_skip(dir.join("otlp.jsonl"), &[]) else {
        return;
    };

    let sim = Sim::start_with(
        fleet(),
        SimConfig {
            require_auth: false,
            transition: Duration::ZERO,
            faults: FaultSpec {
                throttle: Some((0.3, 7)),
                retry_after_secs: 0,
                ..FaultSpec::default()
            },
            ..SimConfig::default()
        },
    );
    let env = handler_env(&sim, &dir, SUB, Some(receiver.port));
    let h = Handler::start(&env);

    // 08:00: ci-start is started.
    let (status, out) = invoke(h.addr, "Tick", "otel-0800", &timer("2026-03-09T08:00:00Z"));
    assert_eq!(status, 200, "{out}");
    let lines = receiver.wait_for(|l| spans(l).iter().any(|s| s["name"] == "occurrence"));
    let all = spans(&lines);
    assert!(!all.is_empty(), "no span reached the receiver");

    // Every span carries the host's trace id, although the host's context was unsampled.
    for s in &all {
        assert_eq!(s["trace_id"], HOST_TRACE, "{s}");
        assert_eq!(s["service"], "curfew-otel-test", "{s}");
    }
    let by_id: HashMap<&str, &Value> = all
        .iter()
        .map(|s| (s["span_id"].as_str().unwrap(), *s))
        .collect();
    let named = |name: &str| -> Vec<&Value> {
        all.iter()
            .filter(|s| s["name"] == name)
            .copied()
            .collect::<Vec<_>>()
    };
    let parent_name = |s: &Value| -> String {
        by_id
            .get(s["parent_span_id"].as_str().unwrap_or_default())
            .map(|p| p["name"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_else(|| format!("<{}>", s["parent_span_id"]))
    };

    // invocation (named after the function, as `otel.name` says) → the host's span.
    let invocation = named("Tick");
    assert_eq!(invocation.len(), 1, "{all:#?}");
    let inv = invocation[0];
    assert_eq!(inv["parent_span_id"], HOST_SPAN, "{inv}");
    let a = &inv["attributes"];
    assert_eq!(a["faas.trigger"], "timer", "{inv}");
    assert_eq!(a["faas.invocation_id"], "otel-0800", "{inv}");
    assert_eq!(a["faas.coldstart"], true, "{inv}");
    assert_eq!(a["faas.name"], "Tick", "{inv}");

    // → tick → workspace → instance → occurrence.
    let tick = named("tick");
    assert_eq!(tick.len(), 1, "{all:#?}");
    assert_eq!(tick[0]["parent_span_id"], inv["span_id"], "{}", tick[0]);
    let workspaces = named("workspace");
    let ws_names: HashSet<&str> = workspaces
        .iter()
        .map(|w| w["attributes"]["curfew.workspace"].as_str().unwrap())
        .collect();
    // Only what the tick acts on gets a span: ci-start's workspace, not ws-a's quiet ones.
    assert_eq!(ws_names, HashSet::from(["ws-b"]), "{workspaces:#?}");
    for w in &workspaces {
        assert_eq!(w["parent_span_id"], tick[0]["span_id"], "{w}");
    }
    let instances = named("instance");
    assert_eq!(instances.len(), 1, "{instances:#?}");
    for i in &instances {
        assert_eq!(parent_name(i), "workspace", "{i}");
    }
    let occurrences = named("occurrence");
    let start = occurrences
        .iter()
        .find(|o| o["attributes"]["curfew.action"] == "Start")
        .unwrap_or_else(|| panic!("no Start occurrence: {occurrences:#?}"));
    assert_eq!(parent_name(start), "instance", "{start}");
    let parent = by_id[start["parent_span_id"].as_str().unwrap()];
    assert_eq!(
        parent["attributes"]["curfew.instance"], "ci-start",
        "{parent}"
    );
    assert_eq!(parent_name(parent), "workspace");
    assert_eq!(start["attributes"]["curfew.decision"], "execute", "{start}");
    assert_eq!(
        start["attributes"]["curfew.outcome"], "executed: accepted by ARM",
        "{start}"
    );

    // The metrics of the first tick, flushed with its answer.
    let lines = receiver.wait_for(|l| !points(l, "curfew.actions").is_empty());
    let instances = points(&lines, "curfew.instances");
    let by_state: HashMap<&str, f64> = instances
        .iter()
        .map(|p| {
            (
                p["attributes"]["state"].as_str().unwrap_or_default(),
                p["value"].as_f64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(by_state.get("Running"), Some(&2.0), "{instances:#?}");
    assert_eq!(by_state.get("Stopped"), Some(&1.0), "{instances:#?}");
    assert!(
        instances
            .iter()
            .all(|p| p["attributes"]["curfew.scope"] == "fleet"),
        "{instances:#?}"
    );
    let actions = points(&lines, "curfew.actions");
    assert!(
        actions.iter().any(|p| p["attributes"]["action"] == "start"
            && p["attributes"]["outcome"] == "executed"
            && p["value"] == 1),
        "{actions:#?}"
    );
    assert!(
        sum_of(&points(&lines, "curfew.decisions"), "value") >= 1.0,
        "{lines:#?}"
    );
    let arm = points(&lines, "curfew.arm.request.duration");
    assert!(sum_of(&arm, "count") >= 3.0, "{arm:#?}");
    assert!(
        arm.iter()
            .any(|p| p["attributes"]["http.response.status_code"] == 200
                && p["attributes"]["curfew.arm.kind"] == "page"),
        "{arm:#?}"
    );
    let throttled = sum_of(&points(&lines, "curfew.arm.throttled"), "value");
    let answered_429: f64 = arm
        .iter()
        .filter(|p| p["attributes"]["http.response.status_code"] == 429)
        .filter_map(|p| p["count"].as_f64())
        .sum();
    assert!(throttled >= 1.0, "the simulator throttles 30 %: {lines:#?}");
    assert_eq!(throttled, answered_429, "{arm:#?}");
    assert_eq!(
        throttled as u64,
        sim.state
            .requests()
            .iter()
            .filter(|r| r.status == 429)
            .count() as u64,
        "every 429 the simulator sent is counted"
    );
    let duration = points(&lines, "curfew.evaluation.duration");
    assert!(sum_of(&duration, "count") >= 1.0, "{duration:#?}");

    // 18:00: ci-stop is stopped; a warm invocation, the same host trace.
    let (status, out) = invoke(h.addr, "Tick", "otel-1800", &timer("2026-03-09T18:00:00Z"));
    assert_eq!(status, 200, "{out}");
    let lines = receiver.wait_for(|l| !points(l, "curfew.savings.hourly").is_empty());
    let warm = spans(&lines)
        .into_iter()
        .find(|s| s["attributes"]["faas.invocation_id"] == "otel-1800")
        .expect("the second invocation's span");
    assert_eq!(warm["attributes"]["faas.coldstart"], false, "{warm}");
    assert_eq!(warm["trace_id"], HOST_TRACE);
    let later: Vec<&Value> = spans(&lines)
        .into_iter()
        .filter(|s| s["start"].as_u64() >= warm["start"].as_u64())
        .collect();
    let stop = later
        .iter()
        .find(|s| s["name"] == "occurrence" && s["attributes"]["curfew.action"] == "Stop")
        .unwrap_or_else(|| panic!("no Stop occurrence: {later:#?}"));
    let chain: Vec<(String, Value)> = std::iter::successors(Some(*stop), |s| {
        later
            .iter()
            .find(|p| p["span_id"] == s["parent_span_id"])
            .copied()
    })
    .map(|s| {
        (
            s["name"].as_str().unwrap().to_owned(),
            s["attributes"].clone(),
        )
    })
    .collect();
    let names: Vec<&str> = chain.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["occurrence", "instance", "workspace", "tick", "Tick"],
        "{chain:#?}"
    );
    assert_eq!(chain[1].1["curfew.instance"], "ci-stop");
    assert_eq!(chain[2].1["curfew.workspace"], "ws-a");
    assert_eq!(chain[4].1["faas.invocation_id"], "otel-1800");
    let savings = points(&lines, "curfew.savings.hourly");
    let saved = savings
        .iter()
        .filter_map(|p| p["value"].as_f64())
        .fold(0.0, f64::max);
    // One Standard_DS3_v2 stopped, at the shipped sheet's price per hour.
    assert!((saved - 0.293).abs() < 1e-9, "{savings:#?}");
    assert_eq!(savings[0]["attributes"]["currency"], "USD", "{savings:#?}");
    assert!(
        points(&lines, "curfew.actions").iter().any(
            |p| p["attributes"]["action"] == "stop" && p["attributes"]["outcome"] == "executed"
        ),
        "{lines:#?}"
    );
    drop(h);
    let _ = std::fs::remove_dir_all(&dir);
}

/// 1 000 running instances in 10 workspaces, each started on even minutes and stopped on odd
/// ones: every tick acts on every instance (1 000 ARM actions, their occurrences' spans).
fn busy_fleet(sub: &str) -> SimFleet {
    let home = WorkspacePath {
        subscription: sub.into(),
        resource_group: "rg-busy".into(),
        workspace: "ws-busy-0".into(),
    };
    let mut items = Vec::new();
    for w in 0..10 {
        let ws = WorkspacePath {
            workspace: format!("ws-busy-{w}"),
            ..home.clone()
        };
        for i in 0..100 {
            let name = format!("ci-{w}-{i:03}");
            let mut c = compute("ws", &name, "Running", "Stop", "1-59/2 * * * *");
            c["id"] = Value::String(ws.compute_id(&name));
            c["properties"]["properties"]["schedules"]["computeStartStop"]
                .as_array_mut()
                .unwrap()
                .push(
                    json!({"action": "Start", "status": "Enabled", "triggerType": "Cron",
                             "cron": {"expression": "0-58/2 * * * *", "timeZone": "UTC"}}),
                );
            items.push((ws.clone(), c));
        }
    }
    let mut fleet = SimFleet::default();
    for (ws, body) in items {
        fleet.computes.push(armsim::PlacedCompute {
            workspace: ws,
            name: body["name"].as_str().unwrap().to_owned(),
            body,
        });
    }
    fleet
}

/// Median tick time of `curfew serve` without and with OTLP export, side by side: two handlers,
/// each with its own simulator holding `fleet()`, minute ticks alternating between them after
/// one warm-up tick each. Returns (off ms, on ms).
fn side_by_side(
    dir: &Path,
    receiver: &Receiver,
    sub: &str,
    fleet: impl Fn() -> SimFleet,
    runs: usize,
) -> (f64, f64) {
    let sims = [Sim::start(fleet()), Sim::start(fleet())];
    let handlers: Vec<Handler> = [None, Some(receiver.port)]
        .into_iter()
        .enumerate()
        .map(|(i, otlp)| {
            let d = dir.join(format!("h{i}"));
            std::fs::create_dir_all(&d).unwrap();
            Handler::start(&handler_env(&sims[i], &d, sub, otlp))
        })
        .collect();
    let mut times = [Vec::new(), Vec::new()];
    for minute in 0..=runs {
        let now = format!("2026-03-09T12:{minute:02}:00Z");
        for (i, h) in handlers.iter().enumerate() {
            let t = Instant::now();
            let (status, out) = invoke(h.addr, "Tick", &format!("m{minute}-{i}"), &timer(&now));
            let took = t.elapsed();
            assert_eq!(status, 200, "{out}");
            if minute > 0 {
                times[i].push(took);
            }
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1000.0
    };
    (median(&mut times[0]), median(&mut times[1]))
}

/// The cost of telemetry on a tick, on 1 000 instances: a quiet minute (nothing due: the
/// synthetic fleet) and a busy one (every instance started or stopped). Prints the medians and
/// their ratio, and what was exported.
#[test]
#[ignore = "measurement: cargo test --release -p curfew --test otlp_e2e -- --ignored --nocapture"]
fn measure_telemetry_overhead_on_a_tick() {
    let runs: usize = std::env::var("CURFEW_MEASURE_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let dir = tmp("measure");
    // The receiver only counts: Curfew's side (spans, encoding, the HTTP round trip) is what
    // is measured, not Python decoding protobuf.
    let Some(receiver) = receiver_or_skip(dir.join("otlp.jsonl"), &["--count-only"]) else {
        return;
    };
    let exported = |r: &Receiver| {
        let lines = r.lines();
        let bytes: u64 = lines.iter().filter_map(|l| l["bytes"].as_u64()).sum();
        (lines.len(), bytes)
    };
    let synthetic = "00000000-0000-0000-0000-000000000001";
    let (off, on) = side_by_side(
        &dir.join("quiet"),
        &receiver,
        synthetic,
        || SimFleet::synthetic(1, 10, 100),
        runs,
    );
    let (n, bytes) = exported(&receiver);
    println!(
        "quiet tick, 1000 instances, median of {runs}: OTLP off {off:.1} ms, on {on:.1} ms, ratio on/off {:.2} ({n} exports, {bytes} bytes)",
        on / off
    );
    let busy_runs = runs.div_ceil(2);
    let (off, on) = side_by_side(
        &dir.join("busy"),
        &receiver,
        SUB,
        || busy_fleet(SUB),
        busy_runs,
    );
    let (n2, bytes2) = exported(&receiver);
    println!(
        "busy tick, 1000 instances, 1000 actions each, median of {busy_runs}: OTLP off {off:.1} ms, on {on:.1} ms, ratio on/off {:.2} ({} exports, {} bytes)",
        on / off,
        n2 - n,
        bytes2 - bytes
    );
}
