//! `curfew`: the command line and the Azure Functions custom handler, on one binary. The
//! library exposes the governor's runtime so that end-to-end tests drive ticks in-process.
//!
//! # Layout
//! - [`cli`]: the commands people and scripts run (`plan`, `validate`, `tick`, …), argument
//!   parsing, exit codes and output formats.
//! - `functions`: the custom handler (`curfew serve`) speaking the Functions host protocol.
//! - [`govern`]: the imperative shell around the governor: ARM, store, notifiers, exactly once.
//! - [`demo`]: `curfew demo`, a simulated fleet through a week of accelerated time.

pub mod cli;
pub mod demo;
mod functions;
pub mod govern;
