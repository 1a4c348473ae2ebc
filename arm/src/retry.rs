//! Retry policy: capped exponential backoff with jitter, and `Retry-After` (seconds or HTTP-date).

use chrono::{DateTime, Utc};
use std::time::Duration;

/// How often and how patiently a call is retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total, including the first.
    pub max_attempts: u32,
    /// Backoff before the second attempt.
    pub base_delay: Duration,
    /// Largest backoff between attempts.
    pub max_delay: Duration,
    /// Largest random delay added to a `Retry-After` wait.
    pub max_jitter: Duration,
    /// Largest `Retry-After` honoured; longer waits are capped here.
    pub max_retry_after: Duration,
}

/// Default attempts per call.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 6;

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_jitter: Duration::from_millis(250),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// Backoff after failed attempt number `attempt` (1-based): half fixed, half random.
    pub(crate) fn backoff(&self, attempt: u32, unit: f64) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        exp / 2 + exp.mul_f64(unit.clamp(0.0, 1.0) / 2.0)
    }

    /// Wait for a throttled call: the server's `Retry-After` (capped) plus jitter.
    pub(crate) fn throttle_wait(&self, retry_after: Duration, unit: f64) -> Duration {
        retry_after.min(self.max_retry_after) + self.max_jitter.mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// Parses a `Retry-After` value: delta-seconds or an HTTP-date, relative to `now`.
pub(crate) fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// A small seeded generator (splitmix64) for jitter.
#[derive(Debug)]
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new(seed: u64) -> Jitter {
        Jitter(seed)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = DateTime::parse_from_rfc3339("2026-01-05T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Mon, 05 Jan 2026 10:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Mon, 05 Jan 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_grows_exponentially_and_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(250));
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(500));
        assert_eq!(p.backoff(3, 1.0), Duration::from_secs(2));
        assert_eq!(p.backoff(30, 1.0), Duration::from_secs(30));
        assert_eq!(
            p.throttle_wait(Duration::from_secs(7), 0.5),
            Duration::from_millis(7125)
        );
        assert_eq!(
            p.throttle_wait(Duration::from_secs(9999), 0.0),
            Duration::from_secs(300)
        );
    }
}
