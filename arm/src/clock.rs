//! Time as a dependency: the client reads monotonic time, wall time and sleeps only through
//! [`Clock`], so retry, backoff and budget logic run in tests without real sleeping.

use chrono::{DateTime, Utc};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A boxed sleep future.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Where the client gets time from; swap it to test timing logic without waiting.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Monotonic time since an arbitrary origin.
    fn now(&self) -> Duration;
    /// Wall-clock time (for HTTP-date `Retry-After` and token expiry).
    fn wall(&self) -> DateTime<Utc>;
    /// Waits `d`.
    fn sleep(&self, d: Duration) -> Sleep;
}

/// The production clock: tokio's timer and the system clock.
#[derive(Debug, Clone)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
    fn wall(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn sleep(&self, d: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(d))
    }
}

/// A clock for tests: sleeping returns at once, advances virtual time and is recorded.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    inner: Arc<Mutex<ManualInner>>,
}

#[derive(Debug, Default)]
struct ManualInner {
    now: Duration,
    sleeps: Vec<Duration>,
}

impl ManualClock {
    /// A clock at virtual time zero.
    pub fn new() -> ManualClock {
        ManualClock::default()
    }

    /// Every sleep requested so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    /// Moves virtual time forward without a sleep.
    pub fn advance(&self, d: Duration) {
        self.lock().now += d;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ManualInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        self.lock().now
    }
    fn wall(&self) -> DateTime<Utc> {
        let now = self.lock().now;
        DateTime::<Utc>::UNIX_EPOCH
            + chrono::Duration::days(20_000)
            + chrono::Duration::from_std(now).unwrap_or_default()
    }
    fn sleep(&self, d: Duration) -> Sleep {
        let mut g = self.lock();
        g.now += d;
        g.sleeps.push(d);
        Box::pin(std::future::ready(()))
    }
}
