//! `curfew serve` under hostile input (issue 14): the built binary started as the host starts
//! it, then sent 100 MB bodies, 100 000-level nesting, invalid UTF-8, a panic-prone multibyte
//! field and trailing bytes. Each gets an answer in the host's envelope, the process stays
//! alive, and its peak RSS stays far below the bodies it was sent (docs/benchmarks.md).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const MB: usize = 1 << 20;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One request on a fresh connection: headers, then `repeat` copies of `body` (so 100 MB
/// never sits in this process either).
fn exchange(addr: SocketAddr, path: &str, body: &[u8], repeat: usize) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let len = body.len() * repeat;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    for _ in 0..repeat {
        s.write_all(body).unwrap();
    }
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out);
    let status: u16 = text
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("{path}: no HTTP answer: {text:.200}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let v = serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {body:.300}"));
    (status, v)
}

/// `VmHWM` (peak resident set) of `pid`, in MiB.
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb / 1024
}

fn start() -> (Child, SocketAddr) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_curfew"))
        .arg("serve")
        .current_dir(std::env::temp_dir())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("FUNCTIONS_WORKER_RUNTIME", "custom")
        .env("CURFEW_HOST_CLOCK_TOLERANCE_MINUTES", "off")
        .env("CURFEW_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn curfew serve");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "curfew serve not listening");
        std::thread::yield_now();
    }
    (child, addr)
}

fn logs(v: &Value) -> String {
    v["Logs"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

#[test]
fn serve_answers_every_hostile_request_in_the_envelope_with_bounded_memory() {
    let (mut child, addr) = start();
    let pid = child.id();
    let baseline = peak_rss_mib(pid);
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_message = json!({"Data": {"message": format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000))}, "Metadata": {}}).to_string();
    let multibyte =
        json!({"Data": {"timer": {"IsPastDue": format!("{}é", "a".repeat(75))}}, "Metadata": {}})
            .to_string();
    let mut invalid = br#"{"Data":{"message":"{\"choice\":\"skip\",\"occurrenceId\":\"o"#.to_vec();
    invalid.extend_from_slice(&[0xff, 0xc3, 0x28]);
    invalid.extend_from_slice(br#"\"}"},"Metadata":{}}"#);
    let spaces = vec![b' '; MB];
    let brackets = vec![b'['; MB];
    let cases: Vec<(&str, &[u8], usize, &str)> = vec![
        ("/Dismissals", &spaces, 100, "larger than"),
        ("/Activity", &brackets, 100, "larger than"),
        ("/Tick", deep.as_bytes(), 1, "rejected (not retried)"),
        (
            "/Dismissals",
            deep_message.as_bytes(),
            1,
            "rejected (not retried)",
        ),
        ("/Dismissals", &invalid, 1, "rejected (not retried)"),
        (
            "/Evaluate",
            &[0xff, 0xfe, 0xfd],
            1000,
            "rejected (not retried)",
        ),
        ("/Tick", multibyte.as_bytes(), 1, "Data.timer.IsPastDue"),
        (
            "/Tick",
            b"{\"Data\":{\"timer\":{}},\"Metadata\":{}} trailing",
            1,
            "after the JSON envelope",
        ),
    ];
    for (path, body, repeat, expect) in &cases {
        let (status, v) = exchange(addr, path, body, *repeat);
        assert_eq!(status, 200, "{path} x{repeat}: {v}");
        assert!(
            v.get("Outputs").is_some() && v.get("ReturnValue").is_some(),
            "{v}"
        );
        assert!(logs(&v).contains(expect), "{path} x{repeat}: {}", logs(&v));
        assert!(
            child.try_wait().unwrap().is_none(),
            "serve died after {path}"
        );
    }
    // An HTTP trigger hears 413 inside the envelope.
    let (status, v) = exchange(addr, "/ActivityReport", &spaces, 100);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["Outputs"]["res"]["statusCode"], 413, "{v}");
    let peak = peak_rss_mib(pid);
    eprintln!(
        "curfew serve peak RSS: {baseline} MiB at start, {peak} MiB after 300 MB of hostile bodies"
    );
    assert!(
        peak < baseline + 48,
        "peak RSS {peak} MiB (baseline {baseline} MiB): bodies are being buffered"
    );
    // Still serving.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let _ = child.kill();
    let _ = child.wait();
}
