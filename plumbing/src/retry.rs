//! How long to wait between attempts: capped exponential backoff with a random share, or what
//! the server's `Retry-After` asked for (capped, optionally plus jitter). Pure: the caller
//! supplies the random number (see [`crate::SplitMix64`]) and runs its own loop, since what is
//! worth retrying differs per service.

use std::time::Duration;

use crate::SplitMix64;

/// How often and how patiently a call is retried. Each crate names its own defaults as a
/// constant (`DEFAULT_RETRY`); this type has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, including the first.
    pub max_attempts: u32,
    /// Backoff before the first retry; doubled for each further one.
    pub base_delay: Duration,
    /// Upper bound of a computed backoff.
    pub max_delay: Duration,
    /// Share of each backoff, in percent (0–100), that is random: 50 waits between half and
    /// all of it ("equal jitter"), so that clients spread out yet never retry at once.
    pub jitter_percent: u32,
    /// Longest `Retry-After` honoured; a longer one is cut to this.
    pub max_retry_after: Duration,
    /// Largest random delay added to a `Retry-After` wait, so throttled clients do not all
    /// come back in the same instant.
    pub retry_after_jitter: Duration,
}

impl RetryPolicy {
    /// Backoff after failed attempt number `attempt` (1-based): `base·2^(attempt-1)` capped at
    /// [`RetryPolicy::max_delay`], of which the random share is scaled by `unit` (in `[0, 1]`).
    pub fn backoff(&self, attempt: u32, unit: f64) -> Duration {
        let full = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(31))
            .min(self.max_delay);
        let pct = self.jitter_percent.min(100);
        let span = full
            .checked_mul(pct)
            .map_or_else(|| full / 100 * pct, |d| d / 100);
        (full - span) + scale(span, unit)
    }

    /// Wait the server asked for with `Retry-After`, cut to [`RetryPolicy::max_retry_after`],
    /// plus up to [`RetryPolicy::retry_after_jitter`] scaled by `unit` (in `[0, 1]`).
    pub fn retry_after_wait(&self, retry_after: Duration, unit: f64) -> Duration {
        retry_after
            .min(self.max_retry_after)
            .saturating_add(scale(self.retry_after_jitter, unit))
    }

    /// Wait before the next attempt after failed attempt `attempt` (1-based): the server's
    /// `Retry-After` when it gave one, else the backoff.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
        match retry_after {
            Some(ra) => self.retry_after_wait(ra, unit),
            None => self.backoff(attempt, unit),
        }
    }

    /// [`RetryPolicy::delay`] with the random unit drawn from `seed` and the attempt number,
    /// for callers that keep a seed rather than a generator; a fixed seed repeats the waits.
    pub fn delay_seeded(&self, attempt: u32, retry_after: Option<Duration>, seed: u64) -> Duration {
        let unit = SplitMix64::new(seed ^ u64::from(attempt)).unit();
        self.delay(attempt, retry_after, unit)
    }
}

/// `d·unit` with `unit` clamped to `[0, 1]` (NaN counts as 0); never more than `d`, and no
/// panic for durations too large for `f64` seconds.
fn scale(d: Duration, unit: f64) -> Duration {
    let unit = if unit.is_nan() {
        0.0
    } else {
        unit.clamp(0.0, 1.0)
    };
    Duration::try_from_secs_f64(d.as_secs_f64() * unit)
        .unwrap_or(d)
        .min(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Equal jitter, as ARM calls use it.
    const HALF: RetryPolicy = RetryPolicy {
        max_attempts: 6,
        base_delay: Duration::from_millis(500),
        max_delay: Duration::from_secs(30),
        jitter_percent: 50,
        max_retry_after: Duration::from_secs(300),
        retry_after_jitter: Duration::from_millis(250),
    };

    #[test]
    fn backoff_grows_exponentially_and_is_capped() {
        let p = HALF;
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(250));
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(500));
        assert_eq!(p.backoff(3, 1.0), Duration::from_secs(2));
        assert_eq!(p.backoff(30, 1.0), Duration::from_secs(30));
        assert_eq!(p.backoff(u32::MAX, 1.0), Duration::from_secs(30));
        assert_eq!(
            p.backoff(0, 1.0),
            p.backoff(1, 1.0),
            "attempt 0 counts as 1"
        );
    }

    #[test]
    fn the_random_share_stays_within_its_percentage() {
        for pct in [0, 25, 50, 100, 250] {
            let p = RetryPolicy {
                jitter_percent: pct,
                ..HALF
            };
            let mut rng = SplitMix64::new(u64::from(pct));
            for attempt in 1..=12 {
                let full = Duration::from_millis(500 << (attempt - 1)).min(p.max_delay);
                let floor = full - full * pct.min(100) / 100;
                for unit in [0.0, 1.0, rng.unit(), rng.unit(), -3.0, 7.0, f64::NAN] {
                    let d = p.backoff(attempt, unit);
                    assert!(d >= floor && d <= full, "{pct}% #{attempt} {unit}: {d:?}");
                }
            }
        }
    }

    #[test]
    fn huge_caps_never_overflow() {
        let p = RetryPolicy {
            base_delay: Duration::from_secs(u64::MAX / 2),
            max_delay: Duration::MAX,
            retry_after_jitter: Duration::MAX,
            max_retry_after: Duration::MAX,
            ..HALF
        };
        assert!(p.backoff(40, 1.0) <= Duration::MAX);
        assert!(p.backoff(40, 0.0) >= Duration::MAX / 2);
        assert_eq!(p.retry_after_wait(Duration::MAX, 1.0), Duration::MAX);
    }

    #[test]
    fn retry_after_is_capped_and_jittered() {
        let p = HALF;
        assert_eq!(
            p.retry_after_wait(Duration::from_secs(7), 0.5),
            Duration::from_millis(7125)
        );
        assert_eq!(
            p.retry_after_wait(Duration::from_secs(9999), 0.0),
            Duration::from_secs(300)
        );
        let exact = RetryPolicy {
            retry_after_jitter: Duration::ZERO,
            ..HALF
        };
        assert_eq!(
            exact.delay(1, Some(Duration::from_secs(7)), 0.9),
            Duration::from_secs(7)
        );
        assert_eq!(exact.delay(2, None, 1.0), Duration::from_secs(1));
        assert_eq!(
            exact.delay_seeded(3, None, 7),
            exact.delay(3, None, SplitMix64::new(7 ^ 3).unit())
        );
    }
}
