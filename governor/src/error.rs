//! What can go wrong in the governor's entry points, classified so that callers decide without
//! inspecting messages: the Functions handler answers 5xx (redeliver) only for retryable errors
//! and completes a message whose input can never succeed.

use curfew_arm::ArmError;
use curfew_store::StoreError;

/// A failure of a tick, dismissal, activity intake or explanation. Refusals that are normal
/// outcomes (a stranger's dismissal, a lost claim race) are not errors: they are in the reports.
#[derive(Debug, thiserror::Error)]
pub enum GovernError {
    /// The state store failed; retryable when the store says so (throttling, timeouts, races).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// ARM failed after the client's own retries; `NotFound` means the thing named is gone.
    #[error(transparent)]
    Arm(#[from] ArmError),
    /// The input names something that is not there or is not usable (no computeId, a
    /// compute that is not an instance, a report from the future): never retryable.
    #[error("{0}")]
    Input(String),
    /// A notification channel could not be built from its (already checked) specification.
    #[error(transparent)]
    Notify(#[from] curfew_notify::NotifyError),
    /// Building the runtime failed for another reason (an identity the host lacks, a store
    /// that could not be opened); `retryable` when trying again later may help.
    #[error("{message}")]
    Setup {
        /// What failed, naming the resource.
        message: String,
        /// Whether a later attempt may succeed.
        retryable: bool,
    },
}

impl GovernError {
    /// Whether the same request may succeed later (the host should redeliver it).
    pub fn is_retryable(&self) -> bool {
        match self {
            GovernError::Store(e) => e.is_retryable(),
            GovernError::Arm(e) => e.is_retryable(),
            GovernError::Input(_) => false,
            GovernError::Notify(e) => e.is_retryable(),
            GovernError::Setup { retryable, .. } => *retryable,
        }
    }

    /// Whether it says the resource it names does not exist (input that can never succeed).
    pub fn is_not_found(&self) -> bool {
        matches!(self, GovernError::Arm(ArmError::NotFound { .. }))
            || matches!(self, GovernError::Store(StoreError::NotFound { .. }))
    }
}

impl From<curfew_engine::inventory::InventoryError> for GovernError {
    fn from(e: curfew_engine::inventory::InventoryError) -> Self {
        GovernError::Input(e.to_string())
    }
}

/// The result of a governor entry point.
pub type GovernResult<T> = Result<T, GovernError>;
