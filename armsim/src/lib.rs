//! A local Azure Resource Manager simulator for Azure ML compute instances, so Curfew and its
//! ARM client can be tested and demonstrated on a machine with no Azure access.
//!
//! # Layout
//! - [`ids`]: ARM ids and the URL paths served (matched case-insensitively, like ARM).
//! - [`fleet`]: the fleet file (one compute, an array, or an ARM list) and synthetic fleets.
//! - `world`: the estate and its start/stop/restart state machine (pure; `now` passed in).
//! - [`faults`]: seeded fault injection (429, 500, 503, slow, dropped connection, latency),
//!   drawn from `curfew_plumbing::SplitMix64`.
//! - [`sim`]: configuration, shared state, request log and the axum router (ARM routes, the
//!   App Service managed-identity token endpoint, `/_sim/requests`, `/_sim/actions`).
//! - [`server`]: serving on a loopback socket with per-connection drop support.

pub mod faults;
pub mod fleet;
pub mod ids;
pub mod server;
pub mod sim;
mod world;

pub use faults::{Fault, FaultSpec};
pub use fleet::{PlacedCompute, SimFleet};
pub use ids::{ActionKind, WorkspacePath};
pub use server::{SimError, Simulator};
pub use sim::{router, LroStyle, RequestRecord, SimConfig, SimState};
pub use world::ActionRecord;

/// Starts a simulator whose request log is also printed to stderr as requests are answered.
pub async fn start_echoing(
    listen: std::net::SocketAddr,
    fleet: SimFleet,
    config: SimConfig,
) -> Result<Simulator, SimError> {
    Simulator::start_with(listen, SimState::new(fleet, config).with_echo(true)).await
}
