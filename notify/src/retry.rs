//! Retries for HTTP channels: capped exponential backoff with jitter, `Retry-After` honoured,
//! and a dead letter after the last failure. The loop is shared by Service Bus and webhooks;
//! the policy arithmetic is [`curfew_plumbing::RetryPolicy`]'s.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use curfew_plumbing::{random_seed, Clock, RetryPolicy};

use crate::deadletter::{DeadLetter, DeadLetters};
use crate::error::NotifyError;
use crate::event::Event;
use crate::notifier::Delivery;

/// Default: 4 attempts, 1 s doubling to at most 30 s with "equal jitter" (half fixed, half
/// random, so waits never collapse to zero), `Retry-After` honoured exactly up to 60 s. A
/// 5-minute warning thus gives up in well under its lead time.
pub const DEFAULT_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 4,
    base_delay: Duration::from_secs(1),
    max_delay: Duration::from_secs(30),
    jitter_percent: 50,
    max_retry_after: Duration::from_secs(60),
    retry_after_jitter: Duration::ZERO,
};

/// The retry loop plus dead-lettering, shared by HTTP channels.
#[derive(Clone)]
pub(crate) struct Deliverer {
    pub(crate) channel: String,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) retry: RetryPolicy,
    pub(crate) dead_letters: Option<Arc<dyn DeadLetters>>,
    pub(crate) seed: u64,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer")
            .field("channel", &self.channel)
            .field("retry", &self.retry)
            .field("dead_letters", &self.dead_letters.is_some())
            .finish()
    }
}

impl Deliverer {
    pub(crate) fn new(channel: &str, clock: Arc<dyn Clock>) -> Deliverer {
        Deliverer {
            channel: channel.to_owned(),
            clock,
            retry: DEFAULT_RETRY,
            dead_letters: None,
            seed: random_seed(),
        }
    }

    /// Runs `attempt` until it returns an HTTP status, a non-retryable error, or the attempts
    /// are used up; on failure writes a dead letter and returns [`NotifyError::Exhausted`].
    pub(crate) async fn run<F, Fut>(
        &self,
        event: &Event,
        mut attempt: F,
    ) -> Result<Delivery, NotifyError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<u16, NotifyError>>,
    {
        let max = self.retry.max_attempts.max(1);
        let mut n = 0;
        let last = loop {
            n += 1;
            match attempt().await {
                Ok(status) => {
                    return Ok(Delivery {
                        channel: self.channel.clone(),
                        event_id: event.id.clone(),
                        attempts: n,
                        status: Some(status),
                    })
                }
                Err(e) if !e.is_retryable() || n >= max => break e,
                Err(e) => {
                    let wait = self.retry.delay_seeded(n, e.retry_after(), self.seed);
                    self.clock.sleep(wait).await;
                }
            }
        };
        let mut dead_lettered = false;
        if let Some(sink) = &self.dead_letters {
            let letter = DeadLetter {
                channel: self.channel.clone(),
                attempts: n,
                last_error: last.to_string(),
                retryable: last.is_retryable(),
                at: self.clock.now(),
                event: event.clone(),
            };
            // A failing sink is reported in place of the send error: the caller must know
            // the event is neither delivered nor parked.
            sink.record(&letter).await?;
            dead_lettered = true;
        }
        Err(NotifyError::Exhausted {
            channel: self.channel.clone(),
            attempts: n,
            last: Box::new(last),
            dead_lettered,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_capped_and_jittered_within_half() {
        let p = DEFAULT_RETRY;
        for seed in [0u64, 1, 42, u64::MAX] {
            for retry in 1..=10 {
                let full = Duration::from_secs(1u64 << (retry - 1)).min(p.max_delay);
                let d = p.delay_seeded(retry, None, seed);
                assert!(
                    d <= full && d >= full / 2,
                    "retry {retry}: {d:?} vs {full:?}"
                );
            }
        }
    }

    #[test]
    fn retry_after_is_honoured_up_to_its_cap() {
        let p = DEFAULT_RETRY;
        assert_eq!(
            p.delay_seeded(1, Some(Duration::from_secs(7)), 9),
            Duration::from_secs(7)
        );
        assert_eq!(
            p.delay_seeded(1, Some(Duration::from_secs(3600)), 9),
            p.max_retry_after
        );
    }
}
