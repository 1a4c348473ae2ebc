//! Time as a dependency: SAS expiry, `Retry-After` dates and dead-letter times read
//! [`Clock::now`], and backoff waits go through [`Clock::sleep`], so tests never really wait.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// A boxed sleep future.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Where notifiers get time from; swap it in tests to run retries without waiting.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Wall-clock time (SAS expiry, dead-letter stamps, HTTP-date `Retry-After`).
    fn now(&self) -> DateTime<Utc>;
    /// Waits `d` (backoff between attempts).
    fn sleep(&self, d: Duration) -> Sleep;
}

/// The production clock: system time and tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn sleep(&self, d: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(d))
    }
}

/// A test clock: fixed until moved; sleeping returns at once, advances the clock and is
/// recorded so tests can assert the backoff sequence.
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<(DateTime<Utc>, Vec<Duration>)>>,
}

impl ManualClock {
    /// A clock standing at `now`.
    pub fn at(now: DateTime<Utc>) -> ManualClock {
        ManualClock {
            inner: Arc::new(Mutex::new((now, Vec::new()))),
        }
    }

    /// Every sleep requested so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().1.clone()
    }

    /// Moves the clock to `t`.
    pub fn set(&self, t: DateTime<Utc>) {
        self.lock().0 = t;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (DateTime<Utc>, Vec<Duration>)> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.lock().0
    }
    fn sleep(&self, d: Duration) -> Sleep {
        let mut g = self.lock();
        g.1.push(d);
        g.0 += chrono::Duration::from_std(d).unwrap_or(chrono::Duration::zero());
        Box::pin(std::future::ready(()))
    }
}
