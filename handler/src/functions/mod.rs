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
//! - [`selfservice`]: the self-service page (`Status` in a browser): owners' and admins' views.
//! - [`config`]: the adapter's own settings (port, log level, fan-out, telemetry), read from
//!   strings like every other; they are declared in `curfew_governor::config::SETTINGS`, the
//!   one table `infra/` is checked against.
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
mod selfservice;
mod server;
mod telemetry;

#[cfg(test)]
pub(crate) use app::invoke_for_test;
pub(crate) use messages::{
    ActivityReport, Channel, Choice, DismissalRequest, DismissalTarget, FleetWorkspaces,
    TickContext, WorkspaceSize, SIGNATURE_HEADER, SIGNATURE_TIMESTAMP,
};
pub(crate) use ports::{
    ActivitySink, DismissalSink, EvaluationScope, IfMatch, OnSuccess, OverrideAnswer,
    OverrideEditor, OverrideRequest, PortError, PortFuture, Ports, Report, Settle, StatusSource,
    TickHandler,
};
pub(crate) use selfservice::{InstanceRow, Notice, PageAsk, PageData, StopRow, PAGE_ROWS};

/// Starts the custom handler with the given implementations of the ports.
pub(crate) fn serve_with(port: Option<u16>, ports: Ports) -> anyhow::Result<()> {
    server::serve_with(port, ports)
}

/// See [`app::fuzz_invoke`].
#[cfg(feature = "fuzzing")]
pub(crate) use app::fuzz_invoke;
