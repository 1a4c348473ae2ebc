//! `curfew`: the command line and the Azure Functions custom handler, on one binary.
//!
//! # Layout
//! - [`cli`]: the commands people and scripts run (`plan`, `validate`, …), argument parsing,
//!   exit codes and output formats.
//! - [`functions`]: the custom handler (`curfew serve`) speaking the Functions host protocol.
//! - [`govern`]: the imperative shell around the governor: ARM, store, notifiers, exactly once.

mod cli;
mod functions;
mod govern;

fn main() -> std::process::ExitCode {
    cli::main()
}
