//! `ArmError`: every failure names the resource it concerns and says whether a retry can help.

use std::time::Duration;

/// A failed ARM call.
#[derive(Debug, thiserror::Error)]
pub enum ArmError {
    /// ARM answered 429 on every attempt; `retry_after` is its last advice.
    #[error("throttled by ARM on {resource} (retry after {retry_after:?})")]
    Throttled {
        /// The resource called.
        resource: String,
        /// ARM's last `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// 404: the resource does not exist (or the scope is wrong). Never retried.
    #[error("not found: {resource}: {message}")]
    NotFound {
        /// The resource called.
        resource: String,
        /// ARM's message.
        message: String,
    },
    /// 403: the identity lacks a role action. Never retried.
    #[error("forbidden: {resource}: the identity lacks role action '{action}': {message}")]
    Forbidden {
        /// The resource called.
        resource: String,
        /// The missing role action.
        action: String,
        /// ARM's message.
        message: String,
    },
    /// 409: the resource is busy (e.g. Stopping) or in a state that forbids the action.
    #[error("conflict on {resource}: {message}")]
    Conflict {
        /// The resource called.
        resource: String,
        /// ARM's message.
        message: String,
    },
    /// 5xx, connection reset or per-attempt timeout, still failing after all retries.
    #[error("transient failure on {resource} after {attempts} attempts: {message}")]
    Transient {
        /// The resource called.
        resource: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        message: String,
    },
    /// The call's overall deadline (or an operation's) passed.
    #[error("deadline of {deadline:?} exceeded on {resource}")]
    Timeout {
        /// The resource called.
        resource: String,
        /// The deadline that passed.
        deadline: Duration,
    },
    /// No token could be obtained, or ARM kept rejecting it (401).
    #[error("authentication failed for {resource}: {message}")]
    Credential {
        /// The resource called (or the token scope).
        resource: String,
        /// What failed (never the token itself).
        message: String,
    },
    /// A long-running operation ended in `Failed` or `Canceled`.
    #[error("operation on {resource} ended {status}: {message}")]
    OperationFailed {
        /// The compute acted on.
        resource: String,
        /// The final status.
        status: String,
        /// ARM's error message, if any.
        message: String,
    },
    /// Anything else that a retry cannot fix: 400, unexpected shapes, bad configuration.
    #[error("ARM call on {resource} failed: {message}")]
    Fatal {
        /// The resource called.
        resource: String,
        /// What went wrong.
        message: String,
    },
}

impl ArmError {
    /// Whether trying again later may succeed (throttling, transient faults, timeouts).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ArmError::Throttled { .. } | ArmError::Transient { .. } | ArmError::Timeout { .. }
        )
    }

    /// The resource the error concerns.
    pub fn resource(&self) -> &str {
        match self {
            ArmError::Throttled { resource, .. }
            | ArmError::NotFound { resource, .. }
            | ArmError::Forbidden { resource, .. }
            | ArmError::Conflict { resource, .. }
            | ArmError::Transient { resource, .. }
            | ArmError::Timeout { resource, .. }
            | ArmError::Credential { resource, .. }
            | ArmError::OperationFailed { resource, .. }
            | ArmError::Fatal { resource, .. } => resource,
        }
    }
}

/// Pulls the role action out of ARM's `AuthorizationFailed` message
/// ("... does not have authorization to perform action 'X' over scope ...").
pub(crate) fn action_in_message(message: &str) -> Option<String> {
    let rest = message.split("perform action '").nth(1)?;
    rest.split('\'').next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_throttling_transient_and_timeouts_are_retryable() {
        let r = || "compute c".to_string();
        assert!(ArmError::Throttled {
            resource: r(),
            retry_after: None
        }
        .is_retryable());
        assert!(ArmError::Transient {
            resource: r(),
            attempts: 3,
            message: String::new()
        }
        .is_retryable());
        assert!(!ArmError::NotFound {
            resource: r(),
            message: String::new()
        }
        .is_retryable());
        let f = ArmError::Forbidden {
            resource: r(),
            action: "a/stop/action".into(),
            message: String::new(),
        };
        assert!(!f.is_retryable());
        assert!(f.to_string().contains("a/stop/action") && f.to_string().contains("compute c"));
    }

    #[test]
    fn the_missing_action_is_read_from_arms_message() {
        let m = "The client 'x' with object id 'y' does not have authorization to perform action 'Microsoft.MachineLearningServices/workspaces/computes/stop/action' over scope '/subscriptions/s' or the scope is invalid.";
        assert_eq!(
            action_in_message(m).as_deref(),
            Some("Microsoft.MachineLearningServices/workspaces/computes/stop/action")
        );
        assert_eq!(action_in_message("nope"), None);
    }
}
