//! What Curfew's HTTP clients (`curfew-arm`, `curfew-notify`, `curfew-store`) and the ARM
//! simulator share, written once: time as a dependency, how long to wait between attempts, the
//! server's `Retry-After`, a seeded generator for jitter, and the bearer-token port. No HTTP client lives here; each
//! crate keeps its own retry loop, error classification and defaults (as named constants).
//!
//! # Layout
//! - [`clock`]: [`Clock`] (wall time, monotonic time, sleeping), [`TokioClock`] for production,
//!   [`ManualClock`] for tests (sleeps return at once, advance time and are recorded).
//! - [`retry`]: [`RetryPolicy`]: attempts, capped exponential backoff with a random share,
//!   and the wait a server's `Retry-After` asks for (capped, optionally jittered).
//! - [`retry_after`]: [`parse_retry_after`]: delta-seconds or an HTTP-date, relative to `now`.
//! - [`rng`]: [`SplitMix64`], a tiny deterministic generator, and [`random_seed`].
//! - [`html`]: [`html::escape`], for every HTML Curfew produces (pages and emails).
//! - [`token`]: [`TokenSource`], the bearer-token port of the Service Bus and Table clients.

pub mod clock;
pub mod html;
pub mod retry;
pub mod retry_after;
pub mod rng;
pub mod token;

pub use clock::{Clock, ManualClock, Sleep, TokioClock, MANUAL_CLOCK_START};
pub use retry::RetryPolicy;
pub use retry_after::parse_retry_after;
pub use rng::{random_seed, SplitMix64};
pub use token::{TokenError, TokenSource};
