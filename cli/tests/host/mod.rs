//! The host's side of the end-to-end tests: the ARM simulator on a thread of its own, and the
//! built `curfew serve` started exactly as the Functions host starts it.
#![allow(dead_code)] // each test file uses its own part of it

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use armsim::{SimConfig, SimFleet, SimState, Simulator};
use serde_json::Value;

pub(crate) struct Sim {
    pub(crate) base_url: String,
    pub(crate) state: Arc<SimState>,
    pub(crate) stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub(crate) thread: Option<std::thread::JoinHandle<()>>,
}

impl Sim {
    pub(crate) fn start(fleet: SimFleet) -> Sim {
        Sim::start_with(
            fleet,
            SimConfig {
                require_auth: false,
                transition: Duration::ZERO,
                ..SimConfig::default()
            },
        )
    }

    /// The simulator with a configuration of the test's (faults, latency).
    pub(crate) fn start_with(fleet: SimFleet, config: SimConfig) -> Sim {
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let sim = Simulator::start(([127, 0, 0, 1], 0).into(), fleet, config)
                    .await
                    .expect("simulator");
                tx.send((sim.base_url(), sim.state().clone())).unwrap();
                let _ = stopped.await;
                drop(sim);
            });
        });
        let (base_url, state) = rx.recv().expect("simulator started");
        Sim {
            base_url,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nX-Azure-Functions-InvocationId: host-0001\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let at = text.find("\r\n\r\n").map_or(raw.len(), |i| i + 4);
    Ok((status, raw[at..].to_vec()))
}

/// `curfew serve` as the host starts it.
pub(crate) struct Handler {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
}

impl Handler {
    pub(crate) fn start(env: &[(&str, String)]) -> Handler {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_curfew"));
        cmd.arg("serve")
            .current_dir(std::env::temp_dir())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
            .env("FUNCTIONS_WORKER_RUNTIME", "custom")
            .env("CURFEW_LOG", "warn")
            // These tests drive the host's clock through simulated days: the process's own
            // clock is not the reference (a test of the check sets the tolerance back).
            .env("CURFEW_HOST_CLOCK_TOLERANCE_MINUTES", "off")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn curfew serve");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((200, _)) = request(addr, "GET", "/", b"") {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("curfew serve exited before it was ready: {status}");
            }
            assert!(Instant::now() < deadline, "not ready after 30 s");
            std::thread::yield_now();
        }
        Handler { child, addr }
    }

    pub(crate) fn post(&self, function: &str, body: &Value) -> (u16, Value) {
        let (status, bytes) = request(
            self.addr,
            "POST",
            &format!("/{function}"),
            body.to_string().as_bytes(),
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{function}: {e}: {}", String::from_utf8_lossy(&bytes)));
        (status, v)
    }
}

impl Drop for Handler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
