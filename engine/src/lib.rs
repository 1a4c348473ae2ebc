//! Curfew's pure core: the Azure ML schedule model, time zones, occurrences and plans.
//!
//! Nothing here does I/O, reads the clock or the environment: every function takes what it
//! needs, including `now` (clippy `disallowed-methods` enforces it). The contract is
//! `design.md` §5; `docs/semantics.md` explains it with examples.
//!
//! # Layout
//! - [`tz`]: Windows and IANA zone names → zone rules (CLDR 48 table compiled in).
//! - [`cron`]: NCrontab expressions → bit sets; extensions accepted only with warnings.
//! - [`recurrence`]: `Minute`/`Hour`/`Day`/`Week`/`Month` recurrences (Logic Apps semantics).
//! - [`calendar`]: the wall-clock search shared by cron and calendar recurrences.
//! - [`dst`]: where DST is handled: gaps fire at the transition, folds fire once (first pass).
//! - [`schedule`]: one `computeStartStop` entry → a compiled [`Schedule`] and its occurrences.
//! - [`inventory`]: fleets from compute JSON, ARM list responses, arrays, CLI YAML.
//! - [`yaml`]: the nesting check every YAML text passes before the YAML parser sees it.
//! - [`fleet`]: plans over a window (Stop wins conflicts) and validation.
//! - [`diag`]: problems named by instance, schedule and field.
//! - [`policy`]: default policies in the Azure Policy rule language.
//! - [`idle`]: activity reports → busy/idle/unknown, idle thresholds (15 min–3 days).
//! - [`cost`]: price sheet, spend and savings from state timelines, budgets.
//! - [`routing`]: which channels an event goes to (rules: scopes, event types, `continue`).
//! - [`holiday`]: holiday and exception calendars (dates, yearly dates, iCalendar), scopes, effects.
//! - [`governor`]: the tick's pure decisions, occurrence ids, dismissal authorisation, signed links.

pub mod calendar;
pub mod cost;
pub mod cron;
pub mod diag;
pub mod dst;
pub mod fleet;
pub mod governor;
pub mod holiday;
pub mod idle;
pub mod inventory;
pub mod json;
pub mod policy;
pub mod recurrence;
pub mod routing;
pub mod schedule;
pub mod tz;
pub mod yaml;

pub use diag::{Diagnostic, Problem, Severity};
pub use dst::Shift;
pub use inventory::{Instance, Inventory};
pub use schedule::{Action, Occurrence, Schedule};
