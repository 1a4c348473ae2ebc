//! Azure Resource Manager client for Azure ML compute instances: discovery, listing, start/stop/
//! restart with long-running-operation polling, and idle-shutdown settings, with real Azure
//! identity, ARM's request budgets, bounded concurrency, retries and deadlines.
//!
//! # Layout
//! - [`config`]: endpoint, API versions, scopes, budgets, deadlines (every default a constant).
//! - [`credential`]: `azure_identity` credentials chosen by configuration or environment; token cache.
//! - [`client`]: [`ArmClient`], the calls, retry loop and LRO polling (time, backoff, jitter
//!   and `Retry-After` from `curfew_plumbing`).
//! - [`error`]: [`ArmError`], typed, naming the resource, with `is_retryable()`.
//! - [`model`]: computes as raw JSON plus parsed ids, list results, operation handles.
//! - [`id`]: workspace and compute ARM ids.
//! - `budget`: per-subscription read/write token buckets (pure).

mod budget;
pub mod client;
pub mod config;
pub mod credential;
pub mod error;
pub mod id;
mod metrics;
pub mod model;

pub use budget::BucketConfig;
pub use client::{ArmClient, ArmStats, FleetListing};
pub use config::{
    ArmConfig, Cloud, Scope, DEFAULT_CALL_DEADLINE, DEFAULT_MAX_ATTEMPTS, DEFAULT_RETRY,
};
pub use credential::{CredentialConfig, ScopedTokens, SecretString};
pub use error::ArmError;
pub use id::{ComputeId, WorkspaceRef};
pub use model::{Action, Completion, Compute, ComputeList, Operation, OperationStatus, Workspace};
