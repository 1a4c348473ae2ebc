//! The [`Notifier`] port and [`Fanout`], which sends one event to several channels at once and
//! reports each channel's outcome.
//!
//! Contract: sending is **at-least-once**. A notifier may deliver an event and still report an
//! error (a lost response), and callers resend on retryable errors; every resend carries the
//! same event id, which consumers (and Service Bus duplicate detection, via `MessageId`) use
//! to dedupe. Deciding *whether* to send — once per (occurrence, lead) — is the caller's job,
//! through the store's `mark_notified`.

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::NotifyError;
use crate::event::Event;

/// Proof of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The channel's label.
    pub channel: String,
    /// The event delivered.
    pub event_id: String,
    /// Attempts it took (1 = first try).
    pub attempts: u32,
    /// The receiver's HTTP status (`None` for local channels).
    pub status: Option<u16>,
}

/// One notification channel. Held as `Arc<dyn Notifier>` by the executor and `Fanout`.
#[async_trait]
pub trait Notifier: Send + Sync + std::fmt::Debug {
    /// A label for reports, logs and dead letters (never a URL: webhook URLs are secrets).
    fn channel(&self) -> &str;

    /// Sends `event`, retrying as the channel sees fit; `Err` only when it gave up.
    async fn send(&self, event: &Event) -> Result<Delivery, NotifyError>;
}

/// One channel's outcome within a [`Fanout`] send.
#[derive(Debug)]
pub struct ChannelOutcome {
    /// The channel's label.
    pub channel: String,
    /// What happened on it.
    pub result: Result<Delivery, NotifyError>,
}

/// Every channel's outcome, in the order the channels were given.
#[derive(Debug)]
pub struct FanoutReport {
    /// Per-channel outcomes.
    pub outcomes: Vec<ChannelOutcome>,
}

impl FanoutReport {
    /// True when every channel delivered.
    pub fn all_delivered(&self) -> bool {
        self.outcomes.iter().all(|o| o.result.is_ok())
    }

    /// The failures, as `(channel, error)`.
    pub fn failures(&self) -> impl Iterator<Item = (&str, &NotifyError)> {
        self.outcomes
            .iter()
            .filter_map(|o| o.result.as_ref().err().map(|e| (o.channel.as_str(), e)))
    }
}

/// Sends each event to several notifiers concurrently; one failing channel does not hold up
/// or hide the others.
#[derive(Debug, Clone)]
pub struct Fanout {
    label: String,
    channels: Vec<Arc<dyn Notifier>>,
}

impl Fanout {
    /// A fanout over `channels` (an empty one delivers nowhere, successfully).
    pub fn new(channels: Vec<Arc<dyn Notifier>>) -> Fanout {
        Fanout {
            label: "fanout".into(),
            channels,
        }
    }

    /// The channels, in order.
    pub fn channels(&self) -> &[Arc<dyn Notifier>] {
        &self.channels
    }

    /// Sends to every channel at once and reports each outcome. The sends run concurrently
    /// on the caller's task (no spawned tasks), so they keep its tracing span and can borrow
    /// what the caller owns; one slow channel does not delay the others' start.
    pub async fn send_all(&self, event: &Event) -> FanoutReport {
        let channels: Vec<&dyn Notifier> = self.channels.iter().map(|c| c.as_ref()).collect();
        send_to_all(&channels, event).await
    }
}

/// Sends `event` to every channel concurrently on the caller's task and reports each outcome
/// in order: what [`Fanout`] does, for callers whose channels are borrowed (one invocation's
/// own output binding beside the configured channels).
pub async fn send_to_all(channels: &[&dyn Notifier], event: &Event) -> FanoutReport {
    let sends = channels.iter().map(|ch| async move {
        ChannelOutcome {
            channel: ch.channel().to_owned(),
            result: ch.send(event).await,
        }
    });
    FanoutReport {
        outcomes: futures_util::future::join_all(sends).await,
    }
}

#[async_trait]
impl Notifier for Fanout {
    fn channel(&self) -> &str {
        &self.label
    }

    /// `Ok` when every channel delivered; else [`NotifyError::Partial`] naming the failures.
    async fn send(&self, event: &Event) -> Result<Delivery, NotifyError> {
        let report = self.send_all(event).await;
        let failed: Vec<String> = report.failures().map(|(_, e)| e.to_string()).collect();
        if failed.is_empty() {
            let attempts = report
                .outcomes
                .iter()
                .filter_map(|o| o.result.as_ref().ok().map(|d| d.attempts))
                .max()
                .unwrap_or(0);
            return Ok(Delivery {
                channel: self.label.clone(),
                event_id: event.id.clone(),
                attempts,
                status: None,
            });
        }
        let retryable = report.failures().any(|(_, e)| e.is_retryable());
        Err(NotifyError::Partial {
            total: report.outcomes.len(),
            retryable,
            failed,
        })
    }
}
