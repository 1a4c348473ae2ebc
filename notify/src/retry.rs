//! Retries for HTTP channels: capped exponential backoff with jitter, `Retry-After` honoured,
//! and a dead letter after the last failure. The loop is shared by Service Bus and webhooks.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::deadletter::{DeadLetter, DeadLetters};
use crate::error::NotifyError;
use crate::event::Event;
use crate::notifier::Delivery;

/// How often and how long an HTTP channel retries one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (at least 1).
    pub max_attempts: u32,
    /// Wait before the first retry; doubles per retry.
    pub base_delay: Duration,
    /// Upper bound of a computed backoff.
    pub max_delay: Duration,
    /// Upper bound of a server's `Retry-After` we agree to wait.
    pub max_retry_after: Duration,
}

/// Default: 4 attempts, 1 s doubling to at most 30 s, `Retry-After` up to 60 s. A 5-minute
/// warning thus gives up in well under its lead time.
pub const DEFAULT_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 4,
    base_delay: Duration::from_secs(1),
    max_delay: Duration::from_secs(30),
    max_retry_after: Duration::from_secs(60),
};

impl Default for RetryPolicy {
    fn default() -> Self {
        DEFAULT_RETRY
    }
}

impl RetryPolicy {
    /// Wait before retry number `retry` (1-based): the server's `Retry-After` (capped) when
    /// given, else `base·2^(retry-1)` capped, minus up to half of it as jitter from `seed`.
    pub(crate) fn delay(&self, retry: u32, retry_after: Option<Duration>, seed: u64) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(self.max_retry_after);
        }
        let exp = retry.saturating_sub(1).min(20);
        let full = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        let half = full / 2;
        let frac = splitmix(seed ^ u64::from(retry)) % 1001;
        // "Equal jitter": half fixed, half random, so waits never collapse to zero.
        full - half.mul_f64(frac as f64 / 1000.0)
    }
}

/// A small mixing function for jitter (no RNG dependency needed).
pub(crate) fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A fresh per-process jitter seed.
pub(crate) fn seed() -> u64 {
    use std::hash::BuildHasher as _;
    std::collections::hash_map::RandomState::new().hash_one(std::process::id())
}

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
            seed: seed(),
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
                    let wait = self.retry.delay(n, e.retry_after(), self.seed);
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
                let d = p.delay(retry, None, seed);
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
            p.delay(1, Some(Duration::from_secs(7)), 9),
            Duration::from_secs(7)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3600)), 9),
            p.max_retry_after
        );
    }
}
