//! Time as a dependency: clients read wall time, measure elapsed time and sleep only through
//! [`Clock`], so retries, backoff, deadlines, budgets and token expiry run in tests without
//! real waiting.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// A boxed sleep future, so [`Clock`] stays object-safe (`Arc<dyn Clock>`).
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Where a client gets time from; swap it to test timing logic without waiting.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Wall-clock time: HTTP-date `Retry-After`, token and SAS expiry, request and record stamps.
    fn now(&self) -> DateTime<Utc>;
    /// Monotonic time since an arbitrary origin (never goes backwards): deadlines and budgets,
    /// which a wall clock stepped by NTP would stall or cut short.
    fn elapsed(&self) -> Duration;
    /// Waits `d` (backoff between attempts, budget waits, polling).
    fn sleep(&self, d: Duration) -> Sleep;
}

/// The production clock: the system's wall time, tokio's monotonic time and timer (so tokio's
/// paused test time drives it too).
#[derive(Debug, Clone, Copy)]
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
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn elapsed(&self) -> Duration {
        self.origin.elapsed()
    }
    fn sleep(&self, d: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(d))
    }
}

/// Where [`ManualClock::new`] stands: 2024-10-04T00:00:00Z (Unix epoch + 20 000 days), an
/// arbitrary fixed instant so tests are repeatable.
pub const MANUAL_CLOCK_START: DateTime<Utc> = match DateTime::from_timestamp(1_728_000_000, 0) {
    Some(t) => t,
    None => panic!("a representable instant"),
};

/// A clock for tests: fixed until moved; sleeping returns at once, advances both wall and
/// monotonic time and is recorded, so tests can assert the exact waits. Clones share one clock.
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<Manual>>,
}

#[derive(Debug)]
struct Manual {
    wall: DateTime<Utc>,
    elapsed: Duration,
    sleeps: Vec<Duration>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::at(MANUAL_CLOCK_START)
    }
}

impl ManualClock {
    /// A clock standing at [`MANUAL_CLOCK_START`], monotonic time zero.
    pub fn new() -> ManualClock {
        ManualClock::default()
    }

    /// A clock standing at `now`, monotonic time zero.
    pub fn at(now: DateTime<Utc>) -> ManualClock {
        ManualClock {
            inner: Arc::new(Mutex::new(Manual {
                wall: now,
                elapsed: Duration::ZERO,
                sleeps: Vec::new(),
            })),
        }
    }

    /// Every sleep requested so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    /// Moves wall and monotonic time forward by `d` without recording a sleep.
    pub fn advance(&self, d: Duration) {
        let mut g = self.lock();
        g.wall = add(g.wall, d);
        g.elapsed = g.elapsed.saturating_add(d);
    }

    /// Sets the wall clock to `t` (either way, like a stepped system clock); monotonic time
    /// is left alone.
    pub fn set(&self, t: DateTime<Utc>) {
        self.lock().wall = t;
    }

    fn lock(&self) -> MutexGuard<'_, Manual> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `t + d`, saturating at the latest representable instant.
fn add(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.lock().wall
    }
    fn elapsed(&self) -> Duration {
        self.lock().elapsed
    }
    fn sleep(&self, d: Duration) -> Sleep {
        let mut g = self.lock();
        g.sleeps.push(d);
        g.wall = add(g.wall, d);
        g.elapsed = g.elapsed.saturating_add(d);
        Box::pin(std::future::ready(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_sleeps_return_at_once_advance_time_and_are_recorded() {
        let clock = ManualClock::new();
        assert_eq!(clock.now(), MANUAL_CLOCK_START);
        assert_eq!(MANUAL_CLOCK_START.to_rfc3339(), "2024-10-04T00:00:00+00:00");
        clock.sleep(Duration::from_secs(3)).await;
        clock.advance(Duration::from_secs(2));
        clock.sleep(Duration::from_millis(500)).await;
        assert_eq!(
            clock.sleeps(),
            [Duration::from_secs(3), Duration::from_millis(500)]
        );
        assert_eq!(clock.elapsed(), Duration::from_millis(5500));
        assert_eq!(
            clock.now(),
            MANUAL_CLOCK_START + chrono::Duration::milliseconds(5500)
        );
        // A shared clone sees the same time.
        assert_eq!(clock.clone().elapsed(), clock.elapsed());
    }

    #[tokio::test]
    async fn setting_the_wall_clock_leaves_monotonic_time_alone() {
        let clock = ManualClock::new();
        clock.advance(Duration::from_secs(10));
        let earlier = MANUAL_CLOCK_START - chrono::Duration::hours(1);
        clock.set(earlier);
        assert_eq!(clock.now(), earlier);
        assert_eq!(clock.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test]
    async fn huge_sleeps_saturate_instead_of_panicking() {
        let clock = ManualClock::new();
        clock.sleep(Duration::MAX).await;
        clock.sleep(Duration::MAX).await;
        assert_eq!(clock.now(), DateTime::<Utc>::MAX_UTC);
        assert_eq!(clock.elapsed(), Duration::MAX);
    }

    #[tokio::test(start_paused = true)]
    async fn the_tokio_clock_follows_tokio_time() {
        let clock = TokioClock::default();
        clock.sleep(Duration::from_secs(90)).await;
        assert!(clock.elapsed() >= Duration::from_secs(90));
        let drift = (clock.now() - Utc::now()).num_seconds().abs();
        assert!(drift <= 1, "wall time is the system's");
    }
}
