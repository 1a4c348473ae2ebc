//! End to end: start the built `curfew serve` exactly as the Functions host does (environment
//! variables, a free port on 127.0.0.1, readiness poll on `GET /`), replay host payloads with
//! the captured host headers, and assert the envelopes. No governor is wired in this build, so
//! the assertions are the protocol's: routes, envelopes, failure semantics, telemetry, shutdown.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn fixture(name: &str) -> Vec<u8> {
    let shared = root().join("../testdata/functions").join(name);
    // The handler crate keeps the payloads it constructs; the binary is tested with them too.
    let ours = root().join("../handler/tests/data/functions").join(name);
    std::fs::read(if shared.exists() { shared } else { ours })
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The headers the host sent in the captured invocation, minus the per-connection ones.
fn host_headers() -> Vec<(String, String)> {
    let v: Value = serde_json::from_slice(&fixture(
        "invocation-request-headers.captured-2023-09-07.json",
    ))
    .unwrap();
    v.as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "host" | "transfer-encoding" | "content-length"))
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

struct Handler {
    child: Child,
    addr: SocketAddr,
    stdout: Arc<Mutex<Vec<String>>>,
    /// Spawn to first successful `GET /`.
    ready_after: Duration,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Spawns the binary as the host would and polls `GET /` until it answers.
fn start(extra_env: &[(&str, &str)]) -> Handler {
    let port = free_port();
    let app_dir = std::env::temp_dir();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_curfew"));
    cmd.arg("serve")
        .current_dir(&app_dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("FUNCTIONS_WORKER_RUNTIME", "custom")
        .env("CURFEW_LINK_KEY", "not-a-real-key")
        // The fixtures' `UtcNow` values span years: the process clock is not the reference.
        .env("CURFEW_HOST_CLOCK_TOLERANCE_MINUTES", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let spawned = Instant::now();
    let mut child = cmd.spawn().expect("spawn curfew serve");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = spawned + Duration::from_secs(30);
    loop {
        if let Ok((200, _)) = try_request(addr, "GET", "/", &[], b"") {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("curfew serve exited before it was ready: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "curfew serve not ready after 30 s"
        );
        std::thread::yield_now();
    }
    let ready_after = spawned.elapsed();
    let stdout = Arc::new(Mutex::new(Vec::new()));
    let out = child.stdout.take().unwrap();
    let sink = stdout.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    Handler {
        child,
        addr,
        stdout,
        ready_after,
    }
}

impl Handler {
    fn post(&self, function: &str, body: &[u8]) -> (u16, Value) {
        let (status, body) = try_request(
            self.addr,
            "POST",
            &format!("/{function}"),
            &host_headers(),
            body,
        )
        .unwrap();
        let v = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "{function}: not JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        });
        (status, v)
    }

    /// Sends SIGTERM and waits; returns whether it exited cleanly.
    fn terminate(mut self) -> (bool, Vec<String>) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM {pid}");
        let status = self.child.wait().unwrap();
        // The reader thread ends at EOF; give it the lines it has.
        let lines = loop {
            let l = self.stdout.lock().unwrap().clone();
            if l.iter().any(|x| x.contains("stopped")) || Arc::strong_count(&self.stdout) == 1 {
                break l;
            }
            std::thread::yield_now();
        };
        (status.success(), lines)
    }
}

impl Drop for Handler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 exchange with `Connection: close`; returns status and body.
fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(addr)?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(std::io::ErrorKind::InvalidData)?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(std::io::ErrorKind::InvalidData)?;
    let mut payload = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        payload = dechunk(&payload);
    }
    Ok((status, payload))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 4 + n..];
    }
    out
}

fn logs(v: &Value) -> String {
    v["Logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_envelope(function: &str, v: &Value) {
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["Logs", "Outputs", "ReturnValue"], "{function}: {v}");
    for (name, out) in v["Outputs"].as_object().unwrap() {
        let ok = out.is_object()
            || out
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_object));
        assert!(
            ok,
            "{function}: output {name} must be an object or objects: {out}"
        );
    }
}

#[test]
fn replays_host_payloads_against_the_built_binary() {
    let h = start(&[("CURFEW_LOG", "info")]);
    // (function, payload, expected status to the host, a line the Logs must contain)
    let cases: [(&str, &str, u16, &str); 10] = [
        (
            "Tick",
            "timer-trigger-request.captured-2023-09-07.json",
            200,
            "no governor configured",
        ),
        (
            "Tick",
            "timer-trigger-request.past-due.constructed.json",
            200,
            "past due",
        ),
        (
            "Tick",
            "timer-trigger-request.no-utcnow.constructed.json",
            200,
            "tick at",
        ),
        (
            "Evaluate",
            "servicebus-trigger-request.azfunc-fixture.json",
            200,
            "no binding named \"message\"",
        ),
        (
            "Evaluate",
            "servicebus-evaluate-not-json.constructed.json",
            200,
            "message body is not JSON",
        ),
        (
            "Evaluate",
            "servicebus-evaluate-request.constructed.json",
            503,
            "will be retried",
        ),
        (
            "Dismissals",
            "servicebus-dismissal-request.constructed.json",
            503,
            "snooze 60 min of occurrence occ-7f3a9c",
        ),
        (
            "Activity",
            "servicebus-activity-request.constructed.json",
            503,
            "activity report from ci-alice-gpu",
        ),
        (
            "Dismiss",
            "http-dismiss-get-request.constructed.json",
            200,
            "dismiss link opened",
        ),
        (
            "Dismiss",
            "http-dismiss-post-request.constructed.json",
            200,
            "dismissal not recorded",
        ),
    ];
    for (function, file, status, line) in cases {
        let (got, v) = h.post(function, &fixture(file));
        assert_eq!(got, status, "{function} {file}: {v}");
        assert_envelope(function, &v);
        assert!(logs(&v).contains(line), "{function} {file}: {}", logs(&v));
    }

    let (_, v) = h.post(
        "Dismiss",
        &fixture("http-dismiss-get-request.constructed.json"),
    );
    assert_eq!(v["Outputs"]["res"]["statusCode"], 200);
    assert!(v["Outputs"]["res"]["body"]
        .as_str()
        .unwrap()
        .contains("<form method=\"post\">"));
    let (_, v) = h.post(
        "Dismiss",
        &fixture("http-dismiss-post-request.constructed.json"),
    );
    assert_eq!(
        v["Outputs"]["res"]["statusCode"], 503,
        "no governor: the page says nothing was dismissed"
    );

    let (status, v) = h.post("Status", &fixture("http-status-request.constructed.json"));
    assert_eq!(status, 200);
    let s: Value = serde_json::from_str(v["Outputs"]["res"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(s["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(s["now"], "2026-03-08T12:00:00Z", "now is the host's UtcNow");
    assert_eq!(s["invocations"], 13);
    assert!(
        !s.to_string().contains("not-a-real-key"),
        "secrets are never shown"
    );

    let (clean, lines) = h.terminate();
    assert!(clean, "SIGTERM ends the handler cleanly");
    let all = lines.join("\n");
    // tracing's plain format quotes string fields.
    assert!(
        all.contains("faas.invocation_id=\"83a33220-a921-460a-bec0-b3f043dcf1ff\""),
        "{all}"
    );
    assert!(
        all.contains("trace_id=\"bb2bd5eef54cb15a1506d0326d2489e7\""),
        "{all}"
    );
    assert!(all.contains("faas.trigger=\"timer\""), "{all}");
    // One line per invocation ends it; only the first invocation is a cold start.
    let ends = |l: &&String| {
        l.contains("}: completed") || l.contains("}: rejected") || l.contains("}: transient")
    };
    let ended: Vec<&String> = lines.iter().filter(ends).collect();
    assert_eq!(ended.len(), 13, "{all}");
    assert_eq!(
        ended
            .iter()
            .filter(|l| l.contains("faas.coldstart=true"))
            .count(),
        1,
        "{all}"
    );
    assert!(!all.contains('\u{1b}'), "no ANSI colours in host logs");
}

#[test]
fn every_function_folder_is_routed_by_the_binary() {
    let h = start(&[]);
    let mut seen = 0;
    for e in std::fs::read_dir(root().join("../functions")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        let (status, v) = h.post(&name, br#"{"Data":{},"Metadata":{}}"#);
        assert_ne!(status, 404, "{name} has no route");
        assert_envelope(&name, &v);
        seen += 1;
    }
    assert_eq!(seen, 8);
    let (status, _) = try_request(h.addr, "POST", "/NoSuchFunction", &[], b"{}").unwrap();
    assert_eq!(status, 404);
}

#[test]
fn bad_settings_are_named_and_stop_the_start() {
    let out = Command::new(env!("CARGO_BIN_EXE_curfew"))
        .arg("serve")
        .env_clear()
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", free_port().to_string())
        .env("CURFEW_FANOUT_THRESHOLD", "lots")
        .env("CURFEW_LOG", "shouty")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("CURFEW_FANOUT_THRESHOLD") && err.contains("CURFEW_LOG"),
        "{err}"
    );
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap()
}

/// Harness, not a test: cold start (spawn → first `GET /` 200) and RSS after the first Tick.
/// Run with `scripts/measure_coldstart.sh` (release build); numbers go to docs/functions.md.
#[test]
#[ignore = "measurement harness; run scripts/measure_coldstart.sh"]
fn measure_cold_start_and_rss() {
    let runs: usize = std::env::var("CURFEW_MEASURE_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let mut ready = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..runs {
        let h = start(&[]);
        ready.push(h.ready_after);
        let (status, _) = h.post(
            "Tick",
            &fixture("timer-trigger-request.captured-2023-09-07.json"),
        );
        assert_eq!(status, 200);
        rss.push(rss_kib(h.child.id()));
        drop(h);
    }
    ready.sort();
    rss.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "cold start over {runs} runs: min {:.2} ms, median {:.2} ms, max {:.2} ms",
        ms(ready[0]),
        ms(ready[runs / 2]),
        ms(ready[runs - 1])
    );
    println!(
        "RSS after first Tick: min {} KiB, median {} KiB, max {} KiB",
        rss[0],
        rss[runs / 2],
        rss[runs - 1]
    );
}
