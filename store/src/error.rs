//! `StoreError`: what went wrong, on which table and key, and whether retrying can help.

/// Every failure of a [`crate::StateStore`] operation. Messages name the table and key.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A compare-and-set lost: the record changed since it was read (SQLite version mismatch,
    /// Table Storage 412), or a watermark's expected value differs. Not retryable as is:
    /// re-read and decide again.
    #[error("{table}/{key}: changed concurrently (compare-and-set lost)")]
    Conflict {
        /// Logical table (`ledger`, `watermark`, …).
        table: &'static str,
        /// The record's key.
        key: String,
    },
    /// An insert-if-absent found the record already there (SQLite unique key, Table 409).
    /// Not retryable.
    #[error("{table}/{key}: already exists")]
    AlreadyExists {
        /// Logical table.
        table: &'static str,
        /// The record's key.
        key: String,
    },
    /// The record does not exist. Not retryable.
    #[error("{table}/{key}: not found")]
    NotFound {
        /// Logical table.
        table: &'static str,
        /// The record's key.
        key: String,
    },
    /// A claim found the ledger entry in a state that cannot move to `Executing`.
    /// Not retryable.
    #[error("ledger/{key}: state {state} cannot be claimed")]
    NotClaimable {
        /// Occurrence id.
        key: String,
        /// The state it is in.
        state: &'static str,
    },
    /// A stored record could not be decoded (corrupt or written by an incompatible version).
    /// Not retryable.
    #[error("{table}/{key}: stored record is invalid: {detail}")]
    Corrupt {
        /// Logical table.
        table: &'static str,
        /// The record's key.
        key: String,
        /// What is wrong.
        detail: String,
    },
    /// The configuration (connection string, table name, file path) is unusable.
    /// Not retryable.
    #[error("store configuration: {0}")]
    Config(String),
    /// The backend could not be reached or is throttling/unavailable beyond the retry budget
    /// (network error, 429/503/500, SQLite busy). Retryable.
    #[error("{table}: backend unavailable: {detail}")]
    Unavailable {
        /// Logical table (or `tables`/`sqlite` for whole-store operations).
        table: &'static str,
        /// What happened, never containing secrets.
        detail: String,
    },
    /// The backend rejected the request in a way that retrying will not fix (4xx other than
    /// conflicts, authentication failure, SQLite error). Not retryable.
    #[error("{table}: backend rejected the request: {detail}")]
    Backend {
        /// Logical table.
        table: &'static str,
        /// What happened (status and service error code), never containing secrets.
        detail: String,
    },
}

impl StoreError {
    /// Whether the same call may succeed later (transient unavailability only).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    /// Whether this is a lost compare-and-set or insert race ([`StoreError::Conflict`] or
    /// [`StoreError::AlreadyExists`]): the caller should re-read.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. } | Self::AlreadyExists { .. })
    }
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;
