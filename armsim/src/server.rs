//! Serving the router on a loopback socket, with the per-connection hook that lets the
//! `drop` fault close a connection without answering.

use crate::fleet::SimFleet;
use crate::sim::{router, ConnKill, SimConfig, SimState, IDENTITY_PATH};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tower::Service;

/// Errors starting the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listen address is not a loopback address; the simulator never listens elsewhere.
    #[error(
        "refusing to listen on {0}: the simulator binds loopback addresses only (127.0.0.0/8, ::1)"
    )]
    NotLoopback(SocketAddr),
    /// Binding the socket failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A running simulator. Dropping it stops the server.
#[derive(Debug)]
pub struct Simulator {
    addr: SocketAddr,
    state: Arc<SimState>,
    stop: watch::Sender<bool>,
}

impl Simulator {
    /// Starts serving `fleet` on `listen` (port 0 picks a free port). Loopback only.
    pub async fn start(
        listen: SocketAddr,
        fleet: SimFleet,
        config: SimConfig,
    ) -> Result<Simulator, SimError> {
        Self::start_with(listen, SimState::new(fleet, config)).await
    }

    /// Starts serving an already-built state (e.g. one whose requests are echoed to stderr).
    pub(crate) async fn start_with(
        listen: SocketAddr,
        state: Arc<SimState>,
    ) -> Result<Simulator, SimError> {
        if !listen.ip().is_loopback() {
            return Err(SimError::NotLoopback(listen));
        }
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| SimError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: listen,
            source,
        })?;
        state.set_base_url(format!("http://{addr}"));
        let (stop, stop_rx) = watch::channel(false);
        tokio::spawn(accept_loop(listener, router(state.clone()), stop_rx));
        Ok(Simulator { addr, state, stop })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL to use as the ARM endpoint, e.g. `http://127.0.0.1:41234`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL to put in `IDENTITY_ENDPOINT` for the App Service managed-identity protocol.
    pub fn identity_endpoint(&self) -> String {
        format!("{}{IDENTITY_PATH}", self.base_url())
    }

    /// The simulator's state: request log, accepted actions, computes, tokens.
    pub fn state(&self) -> &Arc<SimState> {
        &self.state
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn accept_loop(listener: TcpListener, app: axum::Router, mut stop: watch::Receiver<bool>) {
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            _ = stop.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let kill = Arc::new(Notify::new());
        let app = app.clone();
        let mut stop = stop.clone();
        let conn_kill = kill.clone();
        tokio::spawn(async move {
            let svc =
                tower::service_fn(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnKill(conn_kill.clone()));
                    let mut app = app.clone();
                    async move { app.call(req).await }
                });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
            tokio::select! {
                _ = conn => {}
                _ = kill.notified() => {}
                _ = stop.changed() => {}
            }
        });
    }
}
