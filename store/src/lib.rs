//! Durable state of the Curfew governor: watermarks, the occurrence ledger (the exactly-once
//! record), notification dedupe, timed once-only marks (activity nonces, budget alerts), dismissals, schedule overrides, the audit
//! log, activity reports and the cost timeline, behind one object-safe [`StateStore`] trait with two backends.
//!
//! # Layout
//! - `model` — the stored records ([`LedgerEntry`], [`Dismissal`], …) and [`Version`].
//! - `store` — the [`StateStore`] trait (use it as `Arc<dyn StateStore>`).
//! - `error` — [`StoreError`], each variant classified retryable or not.
//! - `keys` — time and key encodings shared by both backends.
//! - `sqlite` — [`SqliteStore`]: one file, WAL, migrations (embedded default).
//! - `table` — [`TableStore`]: Azure Table Storage over REST (SharedKey or bearer token),
//!   ETag compare-and-set, continuation tokens, `$batch` of ≤ 100, 429/503 backoff (the
//!   `RetryPolicy`, `Clock` and `Retry-After` parser are `curfew_plumbing`'s).
//! - `conformance` (feature `conformance`) — the suite every backend must pass.
//!
//! See `docs/store.md` for the stored layout and how compare-and-set gives exactly-once.

mod error;
mod keys;
mod model;
mod sqlite;
mod store;
mod table;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::{StoreError, StoreResult};
pub use model::{
    Activity, AdoptionRecord, AuditRecord, Dismissal, DismissalChoice, LedgerAction, LedgerEntry,
    LedgerState, MarkKind, OutboxEntry, Override, TimelineRecord, TimelineState, Version,
    Versioned,
};
pub use sqlite::{SqliteStore, DEFAULT_BUSY_TIMEOUT, SCHEMA_VERSION};
pub use store::{StateStore, LEGACY_NONCE_PREFIX};
pub use table::{
    Footprint, TableConfig, TableStore, TokenSource, DEFAULT_RETRY, DEFAULT_TABLE, DEV_ACCOUNT,
    REQUEST_TIMEOUT, STORAGE_SCOPE,
};
