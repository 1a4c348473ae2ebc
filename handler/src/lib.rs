//! `curfew-handler`: the Azure Functions custom handler (`curfew serve`). It speaks the host's
//! protocol and owns no governor rule: every decision is the engine's, every effect the
//! governor's (`curfew_governor`).
//!
//! # Layout
//! - `functions`: the adapter. The `{Data, Metadata}` → `{Outputs, Logs, ReturnValue}`
//!   envelope, routes, bindings, pages, settings, telemetry, the server. It sees the governor
//!   only through the traits of `functions::ports`, and reads its own settings the way every
//!   setting is read (`curfew_governor::config`).
//! - `hosted`: the wiring. Implements those ports with a `curfew_governor::Runtime` built from
//!   the app settings (a checked `curfew_governor::config::RuntimeConfig`), and translates
//!   between the adapter's messages and the governor's types.
//! - [`serve`]: the composition root, what `curfew serve` calls.

mod functions;
mod hosted;

/// Starts the custom handler on `port` (else `$FUNCTIONS_CUSTOMHANDLER_PORT`, else 8080) with
/// the governor the app settings configure; without governor settings the protocol, Status and
/// Logs work and evaluations say they cannot run. Nothing slow happens before the socket is
/// bound: the governor's runtime is built on the first invocation.
pub fn serve(port: Option<u16>) -> anyhow::Result<()> {
    let ports = hosted::ports(&curfew_governor::config::EnvStrings);
    functions::serve_with(port, ports)
}

/// Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`; never in a normal build).
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    /// POSTs `body` to the `function`-th route (modulo the routes) of the router with no
    /// governor wired; panics if the route panicked or answered without an envelope.
    pub fn invoke(function: usize, body: &[u8]) -> (u16, Vec<u8>) {
        crate::functions::fuzz_invoke(function, body)
    }
}
