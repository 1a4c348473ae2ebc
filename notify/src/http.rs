//! The HTTP bits HTTP channels share: one reqwest client (rustls with `ring`, as `arm` and
//! `store` do) and status classification (with `curfew_plumbing`'s `Retry-After` parser).
//! Errors never carry URLs.

use std::time::Duration;

use chrono::{DateTime, Utc};
use curfew_plumbing::parse_retry_after;

use crate::error::NotifyError;

/// Per-request timeout: a notification that cannot be handed over in this long is retried.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Builds the client HTTP channels use.
pub(crate) fn client(channel: &str) -> Result<reqwest::Client, NotifyError> {
    // reqwest is built without a bundled crypto provider; use ring unless the process already
    // chose one (then `install_default` fails harmlessly and that one is used).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        // A redirected POST would be replayed elsewhere (or turned into a GET): treat 3xx as a
        // refusal instead.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| NotifyError::config(channel, format!("HTTP client: {}", e.without_url())))
}

/// Maps a transport error (no response) to a retryable error, dropping the URL, which for
/// webhooks is a secret.
pub(crate) fn transport(channel: &str, e: reqwest::Error) -> NotifyError {
    if e.is_timeout() {
        return NotifyError::Timeout {
            channel: channel.to_owned(),
        };
    }
    let e = e.without_url();
    let mut message = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        message.push_str(": ");
        message.push_str(&s.to_string());
        src = s.source();
    }
    NotifyError::Transport {
        channel: channel.to_owned(),
        message,
    }
}

/// Turns a response into its status (2xx) or a classified error.
pub(crate) async fn classify(
    channel: &str,
    resp: reqwest::Response,
    now: DateTime<Utc>,
) -> Result<u16, NotifyError> {
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(status);
    }
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now));
    let channel = channel.to_owned();
    Err(match status {
        401 | 403 => NotifyError::Unauthorized { channel, status },
        404 | 410 => NotifyError::NotFound { channel, status },
        408 => NotifyError::Timeout { channel },
        429 => NotifyError::Throttled {
            channel,
            retry_after,
        },
        500..=599 => NotifyError::Server {
            channel,
            status,
            retry_after,
        },
        _ => {
            let body = resp.text().await.unwrap_or_default();
            NotifyError::Rejected {
                channel,
                status,
                detail: body.chars().take(200).collect(),
            }
        }
    })
}
