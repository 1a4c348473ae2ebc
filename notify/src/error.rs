//! `NotifyError`: what went wrong on one channel, classified retryable or not. Messages name
//! the channel label, never a URL, key, SAS token or bearer token (webhook URLs are secrets).

use std::time::Duration;

/// A failed send. [`NotifyError::is_retryable`] says whether sending the same event again later
/// can succeed (the caller then leaves the ledger's `notified` mark unset).
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A channel's configuration is unusable (bad connection string, bad URL). Not retryable.
    #[error("{channel}: configuration: {message}")]
    Config {
        /// The channel's label.
        channel: String,
        /// What is wrong (no secret values).
        message: String,
    },
    /// 401/403: the key, SAS rule or token lacks rights or is wrong. Not retryable.
    #[error("{channel}: not authorised (HTTP {status})")]
    Unauthorized {
        /// The channel's label.
        channel: String,
        /// 401 or 403.
        status: u16,
    },
    /// 404/410: the topic, queue or webhook does not exist. Not retryable.
    #[error("{channel}: destination not found (HTTP {status})")]
    NotFound {
        /// The channel's label.
        channel: String,
        /// 404 or 410.
        status: u16,
    },
    /// Any other 4xx: the receiver refused the message as sent. Not retryable.
    #[error("{channel}: rejected (HTTP {status}): {detail}")]
    Rejected {
        /// The channel's label.
        channel: String,
        /// The HTTP status.
        status: u16,
        /// The first part of the response body.
        detail: String,
    },
    /// 429: the receiver throttles; wait `retry_after` if given. Retryable.
    #[error("{channel}: throttled (HTTP 429{})", fmt_after(*retry_after))]
    Throttled {
        /// The channel's label.
        channel: String,
        /// The server's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// 5xx: the receiver failed. Retryable.
    #[error("{channel}: server error (HTTP {status})")]
    Server {
        /// The channel's label.
        channel: String,
        /// The HTTP status.
        status: u16,
        /// The server's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// The request timed out. Retryable.
    #[error("{channel}: timed out")]
    Timeout {
        /// The channel's label.
        channel: String,
    },
    /// Connection or protocol failure before a response. Retryable.
    #[error("{channel}: transport: {message}")]
    Transport {
        /// The channel's label.
        channel: String,
        /// The cause, with any URL stripped.
        message: String,
    },
    /// The caller's [`crate::TokenSource`] failed to produce a bearer token. Retryable.
    #[error("{channel}: token source: {message}")]
    Token {
        /// The channel's label.
        channel: String,
        /// The token source's error text.
        message: String,
    },
    /// Writing to a local file or writer failed. Not retryable (a disk full needs a human).
    #[error("{channel}: write failed: {message}")]
    Io {
        /// The channel's label.
        channel: String,
        /// The I/O error text.
        message: String,
    },
    /// No email address for the instance's owner (no owner known, unknown to the directory, no
    /// `mail` or usable UPN). Not retryable as such; the notice stays unsent, so the next tick
    /// asks again (a static `email.owners` entry or a directory fix then helps).
    #[error("{channel}: no email address for the owner {} of {instance}: {why}", owner.as_deref().unwrap_or("(unknown)"))]
    NoAddress {
        /// The channel's label.
        channel: String,
        /// The instance warned of.
        instance: String,
        /// The owner's object id, when known.
        owner: Option<String>,
        /// Why there is none.
        why: String,
    },
    /// The SMTP relay refused or failed: retryable unless the reply was permanent (5xx).
    #[error("{channel}: SMTP{}: {message}", code.map(|c| format!(" {c}")).unwrap_or_default())]
    Smtp {
        /// The channel's label.
        channel: String,
        /// The relay's reply code, when it answered.
        code: Option<u16>,
        /// A 5xx reply: sending the same message again will not help.
        permanent: bool,
        /// What happened (no password: lettre never shows credentials).
        message: String,
    },
    /// The channel gave up (retries used up, or a non-retryable answer); the event went to the
    /// dead-letter sink if one is configured. Retryable as `last` is.
    #[error("{channel}: gave up after {attempts} attempt(s): {last}")]
    Exhausted {
        /// The channel's label.
        channel: String,
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        last: Box<NotifyError>,
        /// Whether a dead-letter record was written.
        dead_lettered: bool,
    },
    /// A [`crate::Fanout`] where some channels failed (the others delivered). Retryable when
    /// any failure is; consumers dedupe the resend to the channels that had it by event id.
    #[error("{} of {total} channel(s) failed: {}", failed.len(), failed.join("; "))]
    Partial {
        /// Channels sent to.
        total: usize,
        /// One `channel: error` line per failure.
        failed: Vec<String>,
        /// Whether any failure is retryable.
        retryable: bool,
    },
}

fn fmt_after(d: Option<Duration>) -> String {
    d.map(|d| format!(", retry after {}s", d.as_secs()))
        .unwrap_or_default()
}

impl NotifyError {
    /// Whether the same event may succeed if sent again (now or on a later tick).
    pub fn is_retryable(&self) -> bool {
        match self {
            NotifyError::Throttled { .. }
            | NotifyError::Server { .. }
            | NotifyError::Timeout { .. }
            | NotifyError::Transport { .. }
            | NotifyError::Token { .. } => true,
            NotifyError::Exhausted { last, .. } => last.is_retryable(),
            NotifyError::Smtp { permanent, .. } => !*permanent,
            NotifyError::Partial { retryable, .. } => *retryable,
            NotifyError::Config { .. }
            | NotifyError::Unauthorized { .. }
            | NotifyError::NotFound { .. }
            | NotifyError::Rejected { .. }
            | NotifyError::Io { .. }
            | NotifyError::NoAddress { .. } => false,
        }
    }

    /// The `Retry-After` the server asked for, if any.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        match self {
            NotifyError::Throttled { retry_after, .. }
            | NotifyError::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub(crate) fn config(channel: &str, message: impl Into<String>) -> NotifyError {
        NotifyError::Config {
            channel: channel.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn io(channel: &str, e: &std::io::Error) -> NotifyError {
        NotifyError::Io {
            channel: channel.to_owned(),
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let c = || "ch".to_owned();
        assert!(NotifyError::Throttled {
            channel: c(),
            retry_after: None
        }
        .is_retryable());
        assert!(NotifyError::Timeout { channel: c() }.is_retryable());
        assert!(!NotifyError::Unauthorized {
            channel: c(),
            status: 401
        }
        .is_retryable());
        assert!(!NotifyError::NotFound {
            channel: c(),
            status: 404
        }
        .is_retryable());
        let t = NotifyError::Throttled {
            channel: c(),
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(t.to_string(), "ch: throttled (HTTP 429, retry after 7s)");
    }
}
