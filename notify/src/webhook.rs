//! Webhooks: POST each event to a URL as the CloudEvent itself (generic, HTTP structured mode),
//! a Teams Adaptive Card message, or a Slack Block Kit message. 429/5xx/timeouts are retried
//! with backoff; after the last failure a dead letter is written.
//!
//! The URL is a secret (Teams and Slack webhook URLs embed their credential): only its host
//! appears in `Debug`, and errors carry the channel label, never the URL.

use std::sync::Arc;

use async_trait::async_trait;
use curfew_plumbing::{Clock, RetryPolicy};

use crate::deadletter::DeadLetters;
use crate::error::NotifyError;
use crate::event::{Event, CLOUDEVENTS_CONTENT_TYPE};
use crate::http;
use crate::notifier::{Delivery, Notifier};
use crate::render::{slack_message, teams_message};
use crate::retry::Deliverer;

/// What a webhook's body looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// The CloudEvent JSON itself, `Content-Type: application/cloudevents+json`.
    Generic,
    /// A Teams `message` with an Adaptive Card attachment.
    Teams,
    /// A Slack message with Block Kit blocks.
    Slack,
}

impl Flavor {
    /// Parses `webhook`/`generic`, `teams`, `slack` (configuration strings).
    pub fn parse(s: &str) -> Option<Flavor> {
        match s.trim().to_ascii_lowercase().as_str() {
            "webhook" | "generic" | "json" => Some(Flavor::Generic),
            "teams" => Some(Flavor::Teams),
            "slack" => Some(Flavor::Slack),
            _ => None,
        }
    }

    /// The body and its content type for `event`.
    pub(crate) fn render(self, event: &Event) -> (Vec<u8>, &'static str) {
        match self {
            Flavor::Generic => (event.to_bytes(), CLOUDEVENTS_CONTENT_TYPE),
            Flavor::Teams => (
                teams_message(event).to_string().into_bytes(),
                "application/json",
            ),
            Flavor::Slack => (
                slack_message(event).to_string().into_bytes(),
                "application/json",
            ),
        }
    }
}

/// One webhook channel.
#[derive(Clone)]
pub struct Webhook {
    deliverer: Deliverer,
    client: reqwest::Client,
    url: reqwest::Url,
    flavor: Flavor,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("channel", &self.deliverer.channel)
            .field("flavor", &self.flavor)
            .field("host", &self.url.host_str().unwrap_or(""))
            .field("url", &"<redacted>")
            .field("retry", &self.deliverer.retry)
            .finish()
    }
}

impl Webhook {
    /// A webhook posting `flavor` bodies to `url` (http or https).
    pub fn new(
        label: &str,
        flavor: Flavor,
        url: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Webhook, NotifyError> {
        let url = reqwest::Url::parse(url.trim())
            .map_err(|_| NotifyError::config(label, "webhook URL does not parse"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(NotifyError::config(
                label,
                "webhook URL must be http(s)://host/…",
            ));
        }
        Ok(Webhook {
            deliverer: Deliverer::new(label, clock),
            client: http::client(label)?,
            url,
            flavor,
        })
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Webhook {
        self.deliverer.retry = retry;
        self
    }

    /// Records events it gives up on in `sink`.
    pub fn with_dead_letters(mut self, sink: Arc<dyn DeadLetters>) -> Webhook {
        self.deliverer.dead_letters = Some(sink);
        self
    }

    /// Fixes the jitter seed (deterministic tests).
    pub fn with_jitter_seed(mut self, seed: u64) -> Webhook {
        self.deliverer.seed = seed;
        self
    }

    /// The body flavour.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    async fn attempt(&self, body: &[u8], content_type: &str) -> Result<u16, NotifyError> {
        let ch = &self.deliverer.channel;
        let resp = self
            .client
            .post(self.url.clone())
            .header("Content-Type", content_type)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| http::transport(ch, e))?;
        http::classify(ch, resp, self.deliverer.clock.now()).await
    }
}

#[async_trait]
impl Notifier for Webhook {
    fn channel(&self) -> &str {
        &self.deliverer.channel
    }

    async fn send(&self, event: &Event) -> Result<Delivery, NotifyError> {
        let (body, content_type) = self.flavor.render(event);
        self.deliverer
            .run(event, || self.attempt(&body, content_type))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curfew_plumbing::TokioClock;

    #[test]
    fn debug_and_errors_hide_the_url() {
        let clock = Arc::new(TokioClock::default());
        let w = Webhook::new(
            "team-chat",
            Flavor::Slack,
            "https://hooks.slack.com/services/T000/B000/XXXXSECRET",
            clock.clone(),
        )
        .unwrap();
        let dbg = format!("{w:?}");
        assert!(!dbg.contains("XXXXSECRET"), "{dbg}");
        assert!(dbg.contains("hooks.slack.com"));
        let err = Webhook::new("x", Flavor::Teams, "ftp://h/SECRET", clock).unwrap_err();
        assert!(!err.to_string().contains("SECRET"));
        assert!(!err.is_retryable());
    }

    #[test]
    fn flavors_parse() {
        assert_eq!(Flavor::parse("Teams"), Some(Flavor::Teams));
        assert_eq!(Flavor::parse("webhook"), Some(Flavor::Generic));
        assert_eq!(Flavor::parse("fax"), None);
    }
}
