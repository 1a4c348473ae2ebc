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

    /// Equal jitter: 100 ms doubling to 1 s; `Retry-After` up to 10 s plus up to 100 ms.
    const HALF: RetryPolicy = RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(1),
        jitter_percent: 50,
        max_retry_after: Duration::from_secs(10),
        retry_after_jitter: Duration::from_millis(100),
    };

    #[test]
    fn backoff_doubles_up_to_its_cap_with_a_random_half() {
        let p = HALF;
        let ms = Duration::from_millis;
        assert_eq!([p.backoff(1, 0.0), p.backoff(1, 1.0)], [ms(50), ms(100)]);
        assert_eq!(p.backoff(2, 0.5), ms(150));
        assert_eq!(p.backoff(4, 1.0), ms(800));
        assert_eq!([p.backoff(5, 0.0), p.backoff(5, 1.0)], [ms(500), ms(1000)]);
        assert_eq!(p.backoff(u32::MAX, 0.0), ms(500));
        assert_eq!(p.backoff(0, 1.0), ms(100), "attempt 0 counts as 1");
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
                let full = Duration::from_millis(100 << (attempt - 1)).min(p.max_delay);
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
        let ms = Duration::from_millis;
        assert_eq!(p.retry_after_wait(ms(3000), 0.5), ms(3050));
        assert_eq!(p.retry_after_wait(ms(60_000), 1.0), ms(10_100));
        assert_eq!(
            p.delay(3, Some(ms(3000)), 0.0),
            ms(3000),
            "Retry-After wins"
        );
        let exact = RetryPolicy {
            retry_after_jitter: Duration::ZERO,
            ..HALF
        };
        assert_eq!(exact.delay(1, Some(ms(7000)), 0.9), ms(7000));
        assert_eq!(exact.delay(2, None, 1.0), ms(200));
        assert_eq!(
            exact.delay_seeded(3, None, 7),
            exact.delay(3, None, SplitMix64::new(7 ^ 3).unit())
        );
    }
}
