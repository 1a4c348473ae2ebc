//! The Azure Functions custom handler (`curfew serve`): protocol, routes, bindings, hosting.
//!
//! Layout:
//! - [`protocol`]: the `{Data, Metadata}` → `{Outputs, Logs, ReturnValue}` envelope and the
//!   host's quirks (double-encoded strings, numbers as strings, offset-less timestamps).
//! - [`messages`]: queue bodies (`Evaluate`, `Dismissals`, `Activity`), dismiss links, fan-out.
//! - [`ports`]: the traits the governor implements (`TickHandler`, `DismissalSink`,
//!   `ActivitySink`, `StatusSource`).
//! - [`app`]: the router as a value, one route per function, failure semantics.
//! - [`pages`]: the small HTML pages people read (Dismiss, Status).
//! - [`config`]: settings as a pure function of strings; the table `infra/` must declare.
//! - [`telemetry`]: stdout tracing, the per-invocation span, `traceparent`.
//! - [`server`]: bind first, serve, graceful shutdown.
//!
//! The function folders (`functions/<Name>/function.json`), `host.json` and `infra/` are
//! checked against this module by `tests/functions_consistency.rs`.

mod app;
mod config;
mod messages;
mod pages;
mod ports;
mod protocol;
mod server;
mod telemetry;

#[cfg_attr(not(test), allow(unused_imports))] // the hosted governor's tests check its table
pub(crate) use config::SETTINGS;
pub(crate) use messages::{
    ActivityReport, Channel, Choice, DismissalRequest, DismissalTarget, FleetWorkspaces,
    TickContext, WorkspaceSize, SIGNATURE_HEADER, SIGNATURE_TIMESTAMP,
};
pub(crate) use ports::{
    ActivitySink, DismissalSink, EvaluationScope, PortError, PortFuture, Ports, Report,
    StatusSource, TickHandler,
};

/// Starts the custom handler with the given implementations of the ports.
pub(crate) fn serve_with(port: Option<u16>, ports: Ports) -> anyhow::Result<()> {
    server::serve_with(port, ports)
}
