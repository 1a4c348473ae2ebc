//! ARM's request budgets: a token bucket per subscription for reads and one for writes, so the
//! client paces itself below ARM's throttling instead of provoking 429s.

use curfew_plumbing::Clock;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Size and refill rate of one token bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketConfig {
    /// Tokens when full (the burst).
    pub capacity: f64,
    /// Tokens added per second.
    pub refill_per_sec: f64,
}

/// A token bucket; pure: time is passed in.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    cfg: BucketConfig,
    tokens: f64,
    last: Duration,
}

impl TokenBucket {
    pub(crate) fn new(cfg: BucketConfig, now: Duration) -> TokenBucket {
        TokenBucket {
            cfg,
            tokens: cfg.capacity,
            last: now,
        }
    }

    /// Takes one token at `now`, or says how long until one is available.
    pub(crate) fn take(&mut self, now: Duration) -> Result<(), Duration> {
        let dt = now.saturating_sub(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.cfg.refill_per_sec).min(self.cfg.capacity);
        self.last = self.last.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let rate = self.cfg.refill_per_sec.max(1e-9);
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }
}

/// Read and write buckets per subscription.
#[derive(Debug)]
pub(crate) struct Budgets {
    read: BucketConfig,
    write: BucketConfig,
    buckets: Mutex<HashMap<(String, bool), TokenBucket>>,
}

impl Budgets {
    pub(crate) fn new(read: BucketConfig, write: BucketConfig) -> Budgets {
        Budgets {
            read,
            write,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until the subscription's read (or write) budget has a token; returns how many
    /// times it had to wait.
    pub(crate) async fn acquire(&self, clock: &dyn Clock, subscription: &str, write: bool) -> u64 {
        let mut waits = 0;
        loop {
            let wait = {
                let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
                let cfg = if write { self.write } else { self.read };
                let now = clock.elapsed();
                let b = map
                    .entry((subscription.to_ascii_lowercase(), write))
                    .or_insert_with(|| TokenBucket::new(cfg, now));
                match b.take(now) {
                    Ok(()) => return waits,
                    Err(w) => w,
                }
            };
            waits += 1;
            clock.sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curfew_plumbing::ManualClock;

    #[test]
    fn a_bucket_gives_its_burst_then_refills_at_its_rate() {
        let cfg = BucketConfig {
            capacity: 250.0,
            refill_per_sec: 25.0,
        };
        let mut b = TokenBucket::new(cfg, Duration::ZERO);
        for _ in 0..250 {
            assert!(b.take(Duration::ZERO).is_ok());
        }
        let wait = b.take(Duration::ZERO).unwrap_err();
        assert_eq!(wait, Duration::from_millis(40));
        assert!(b.take(Duration::from_millis(40)).is_ok());
        // Refill never exceeds the capacity.
        let mut b = TokenBucket::new(cfg, Duration::ZERO);
        b.take(Duration::from_secs(3600)).unwrap();
        assert!(b.tokens <= 249.0 + 1e-9);
    }

    #[tokio::test]
    async fn budgets_pace_writes_at_ten_per_second_per_subscription() {
        let clock = ManualClock::new();
        let budgets = Budgets::new(
            BucketConfig {
                capacity: 250.0,
                refill_per_sec: 25.0,
            },
            BucketConfig {
                capacity: 200.0,
                refill_per_sec: 10.0,
            },
        );
        for _ in 0..220 {
            budgets.acquire(&clock, "sub-a", true).await;
        }
        // 200 free, then 20 more at 10/s: two seconds of virtual waiting.
        let waited: Duration = clock.sleeps().iter().sum();
        assert!((waited.as_secs_f64() - 2.0).abs() < 0.01, "{waited:?}");
        // Another subscription has its own full bucket.
        assert_eq!(budgets.acquire(&clock, "sub-b", true).await, 0);
    }
}
