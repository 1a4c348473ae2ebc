//! Budgets per scope with thresholds; crossing one yields the data of a
//! `curfew.budget.exceeded` event (the governor wraps it in a CloudEvent and deduplicates it
//! by [`BudgetExceeded::dedup_key`] in its ledger).

use super::ledger::CostReport;
use super::CostError;
use serde::{Deserialize, Serialize};

/// The CloudEvents `type` of a crossed budget threshold (docs/design.md §7).
pub const BUDGET_EXCEEDED_EVENT: &str = "curfew.budget.exceeded";
/// Thresholds (percent of the amount) when a budget names none.
pub const DEFAULT_BUDGET_THRESHOLDS: [f64; 2] = [80.0, 100.0];

/// What a budget covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetScope {
    /// Every instance in the report.
    All,
    /// One instance, by name.
    Instance(String),
    /// One owner.
    Owner(String),
    /// One workspace.
    Workspace(String),
    /// One subscription.
    Subscription(String),
}

impl std::fmt::Display for BudgetScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::All => f.write_str("all"),
            Self::Instance(x) => write!(f, "instance:{x}"),
            Self::Owner(x) => write!(f, "owner:{x}"),
            Self::Workspace(x) => write!(f, "workspace:{x}"),
            Self::Subscription(x) => write!(f, "subscription:{x}"),
        }
    }
}

/// An amount for a scope over the report window (the governor uses month-to-date windows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Budget {
    /// Name, cited in events.
    pub name: String,
    /// `{"workspace": "vision"}`, `{"owner": "ana"}`, `"all"`, ….
    pub scope: BudgetScope,
    /// Amount in the price sheet's currency.
    pub amount: f64,
    /// Percentages of `amount` that emit an event when reached (default 80 and 100).
    #[serde(default = "default_thresholds")]
    pub thresholds: Vec<f64>,
}

fn default_thresholds() -> Vec<f64> {
    DEFAULT_BUDGET_THRESHOLDS.to_vec()
}

/// Reads a JSON array of budgets (`docs/cost.md`); errors name the JSON path.
pub fn parse_budgets(text: &str, source_name: &str) -> Result<Vec<Budget>, CostError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let budgets: Vec<Budget> =
        serde_path_to_error::deserialize(de).map_err(|e| CostError::Format {
            source_name: source_name.to_owned(),
            location: e.path().to_string(),
            message: e.inner().to_string(),
        })?;
    for (i, b) in budgets.iter().enumerate() {
        if !(b.amount.is_finite() && b.amount > 0.0) {
            return Err(CostError::Format {
                source_name: source_name.to_owned(),
                location: format!("[{i}].amount"),
                message: format!("budget '{}': amount must be a positive number", b.name),
            });
        }
        if let Some(t) = b.thresholds.iter().find(|t| !(t.is_finite() && **t > 0.0)) {
            return Err(CostError::Format {
                source_name: source_name.to_owned(),
                location: format!("[{i}].thresholds"),
                message: format!(
                    "budget '{}': threshold {t} must be a positive percentage",
                    b.name
                ),
            });
        }
    }
    Ok(budgets)
}

/// Where a budget stands over a report's window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetStatus {
    /// The budget.
    pub budget: Budget,
    /// Spend of the instances in scope.
    pub spent: f64,
    /// `spent / amount × 100`.
    pub percent: f64,
    /// One event per threshold reached, lowest first.
    pub exceeded: Vec<BudgetExceeded>,
}

/// The `data` of a `curfew.budget.exceeded` event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetExceeded {
    /// Budget name.
    pub budget: String,
    /// Its scope (`workspace:vision`).
    pub scope: String,
    /// The threshold reached, percent.
    pub threshold: f64,
    /// The budget amount.
    pub amount: f64,
    /// Spend so far in the window.
    pub spent: f64,
    /// Spend as a percentage of the amount.
    pub percent: f64,
    /// Currency.
    pub currency: String,
    /// Window start (RFC 3339).
    pub period_from: String,
    /// Window end (RFC 3339).
    pub period_to: String,
    /// `budget/<name>/<period start>/<threshold>`: one event per budget, period and threshold.
    pub dedup_key: String,
}

/// Evaluates each budget against the spend of the instances in its scope.
pub fn evaluate_budgets(budgets: &[Budget], report: &CostReport) -> Vec<BudgetStatus> {
    let from = report.window.from.to_rfc3339();
    let to = report.window.to.to_rfc3339();
    budgets
        .iter()
        .map(|b| {
            let eq = |x: &Option<String>, want: &str| {
                x.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(want))
            };
            let spent: f64 = report
                .instances
                .iter()
                .filter(|i| match &b.scope {
                    BudgetScope::All => true,
                    BudgetScope::Instance(n) => i.instance.eq_ignore_ascii_case(n),
                    BudgetScope::Owner(o) => eq(&i.owner, o),
                    BudgetScope::Workspace(w) => eq(&i.workspace, w),
                    BudgetScope::Subscription(s) => eq(&i.subscription, s),
                })
                .map(|i| i.spend)
                .sum();
            let percent = spent / b.amount * 100.0;
            let mut thresholds = b.thresholds.clone();
            thresholds.sort_by(f64::total_cmp);
            let exceeded = thresholds
                .iter()
                .filter(|t| percent >= **t)
                .map(|t| BudgetExceeded {
                    budget: b.name.clone(),
                    scope: b.scope.to_string(),
                    threshold: *t,
                    amount: b.amount,
                    spent,
                    percent,
                    currency: report.currency.clone(),
                    period_from: from.clone(),
                    period_to: to.clone(),
                    dedup_key: format!("budget/{}/{from}/{t}", b.name),
                })
                .collect();
            BudgetStatus {
                budget: b.clone(),
                spent,
                percent,
                exceeded,
            }
        })
        .collect()
}
