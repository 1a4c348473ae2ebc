//! Hosting: bind `127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT` first, then initialise, then serve
//! until SIGTERM/SIGINT, finishing in-flight invocations and flushing telemetry.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use anyhow::Context as _;
use chrono::Utc;

use super::app::{app, AppState};
use super::config::FunctionsConfig;
use super::ports::Ports;
use super::telemetry;
use curfew_governor::config::EnvStrings;

/// Runs the custom handler with the given ports until a shutdown signal.
pub(crate) fn serve_with(port: Option<u16>, ports: Ports) -> anyhow::Result<()> {
    let started = Instant::now();
    let started_at = Utc::now();
    let mut config = FunctionsConfig::from_strings(&EnvStrings)?;
    if let Some(p) = port {
        config.port = p;
    }
    // Bind before anything slow: the host polls `GET /` from the moment it spawns us.
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, config.port));
    let listener = std::net::TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let telemetry = telemetry::init(&config);
        tracing::info!(%addr, version = env!("CARGO_PKG_VERSION"), "curfew custom handler listening");
        for warning in &ports.warnings {
            tracing::warn!("{warning}");
        }
        let state = Arc::new(AppState::new(config, ports, Arc::new(curfew_plumbing::TokioClock::default()), telemetry, started, started_at));
        run(listener, state, shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// Serves `state` on `listener` until `shutdown` resolves; in-flight invocations finish and
/// telemetry is flushed before this returns.
pub(crate) async fn run(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let result = axum::serve(listener, app(state.clone()))
        .with_graceful_shutdown(shutdown)
        .await;
    state.telemetry.shutdown();
    result
}

/// Resolves on SIGTERM (the platform stopping the worker) or SIGINT (Ctrl-C locally).
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    let int = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let (mut term, mut int) = (pin!(term), pin!(int));
    std::future::poll_fn(|cx| {
        if term.as_mut().poll(cx).is_ready() || int.as_mut().poll(cx).is_ready() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    tracing::info!("shutdown signal received: finishing in-flight invocations");
}
