//! `curfew`: the command line and the Azure Functions custom handler, on one binary.
//!
//! # Layout
//! - [`cli`]: the commands people and scripts run (`plan`, `validate`, …), argument parsing,
//!   exit codes and output formats.
//! - [`functions`]: the custom handler (`curfew serve`) speaking the Functions host protocol.

mod cli;
mod functions;

fn main() -> std::process::ExitCode {
    cli::main()
}
