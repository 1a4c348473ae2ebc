//! The money story (docs/design.md §9): what ran, what Curfew stopped, what that saved, per instance,
//! owner and workspace, per day; and budgets that emit `curfew.budget.exceeded`.
//!
//! Pure: the caller passes the timeline, the price sheet and the window.
//!
//! # Layout
//! - `prices`: [`PriceSheet`], per VM size per hour; defaults compiled in from
//!   `engine/data/prices.json` (approximate list prices, dated, overridable by a file).
//! - `timeline`: [`Timeline`], the observed states and Curfew's actions per instance (JSON lines
//!   or a JSON array; format in `docs/cost.md`).
//! - `ledger`: [`compute`] → [`CostReport`] (spend, savings, per day) and [`aggregate`].
//! - `budget`: [`Budget`] per scope with thresholds → [`BudgetExceeded`] event data.
//!
//! # Example
//! ```
//! use chrono::{TimeZone, Utc};
//! use curfew_engine::cost::{self, PriceSheet, Timeline, Window};
//!
//! let timeline = Timeline::parse(r#"
//! {"kind":"instance","instance":"ci1","vmSize":"Standard_DS3_v2","owner":"ana"}
//! {"kind":"state","instance":"ci1","at":"2026-03-02T08:00:00Z","state":"Running"}
//! {"kind":"action","instance":"ci1","at":"2026-03-02T18:00:00Z","action":"stop","by":"curfew"}
//! {"kind":"state","instance":"ci1","at":"2026-03-02T18:00:00Z","state":"Stopped"}
//! "#, "example").unwrap();
//! let prices = PriceSheet::from_json(r#"{"currency":"USD","prices":{"Standard_DS3_v2":0.5}}"#, "p").unwrap();
//! let window = Window::new(
//!     Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap(),
//!     Utc.with_ymd_and_hms(2026, 3, 3, 0, 0, 0).unwrap(),
//! ).unwrap();
//! let report = cost::compute(&timeline, &prices, window);
//! assert_eq!(report.totals.running_hours, 10.0); // 08:00–18:00
//! assert_eq!(report.totals.spend, 5.0);
//! assert_eq!(report.totals.saved_hours, 6.0); // 18:00 until the window's end
//! ```

mod budget;
mod ledger;
mod prices;
mod timeline;

pub use budget::{
    evaluate_budgets, parse_budgets, Budget, BudgetExceeded, BudgetScope, BudgetStatus,
    BUDGET_EXCEEDED_EVENT, DEFAULT_BUDGET_THRESHOLDS,
};
pub use ledger::{
    aggregate, compute, is_billed, CostReport, DayCost, GroupBy, GroupCost, InstanceCost, Totals,
    Window,
};
pub use prices::{PriceSheet, DEFAULT_PRICES_JSON};
pub use timeline::{
    ActionRecord, Actor, InstanceMeta, PowerAction, StateObservation, Timeline, TimelineEvent,
};

/// A problem reading a price sheet, timeline or budget file; each names where. Never retryable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    /// A file that is not the documented JSON (`docs/cost.md`): names the file, line and path.
    #[error("{source_name}: {location}: {message}")]
    Format {
        /// The file (or `-`).
        source_name: String,
        /// `line N` (JSON lines) and/or the JSON path (`[3].at`, `prices.Standard_NC6`).
        location: String,
        /// What is wrong.
        message: String,
    },
    /// A report window whose end is not after its start.
    #[error("report window: --to {to} is not after --from {from}")]
    Window {
        /// Start, RFC 3339.
        from: String,
        /// End, RFC 3339.
        to: String,
    },
}
