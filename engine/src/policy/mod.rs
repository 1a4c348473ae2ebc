//! Default policies in the Azure Policy rule language (docs/design.md §4, §8): load definitions,
//! evaluate them against compute resources (the ARM JSON), resolve scopes and exemptions.
//!
//! Pure: the caller passes the documents, the instances and `today`.
//!
//! # Layout
//! - `error`: [`PolicyError`], each problem with its JSON path.
//! - `alias`: field names and `Microsoft.MachineLearningServices/workspaces/computes/…` aliases
//!   → paths in the compute JSON.
//! - `expr`: the bracketed expression language (`[empty(field('…'))]`).
//! - `definition`: loading and [`validate`]; the compiled [`PolicyDefinition`].
//! - `eval`: operators and [`PolicyDefinition::evaluate`] → [`Evaluation`] with a trace.
//! - `scope`: [`PolicyScope`], [`Assignment`], [`Exemption`] and [`assess`] (precedence).
//!
//! # Example
//! ```
//! use curfew_engine::policy::{assess, AppendTarget, Assignment, PolicyDefinition};
//! use serde_json::{json, Map};
//!
//! let rule = json!({
//!     "if": {"field": "Microsoft.MachineLearningServices/workspaces/computes/idleTimeBeforeShutdown",
//!            "exists": false},
//!     "then": {"effect": "append", "details": [{
//!         "field": "Microsoft.MachineLearningServices/workspaces/computes/idleTimeBeforeShutdown",
//!         "value": "PT60M"}]}
//! });
//! let definition = PolicyDefinition::load(&rule, &Map::new()).unwrap();
//! let assignments = [Assignment::new("idle", "/", definition).unwrap()];
//! let instance = json!({"properties": {"computeType": "ComputeInstance", "properties": {}}});
//! let today = chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
//! let assessment = assess(&assignments, &instance, today);
//! let idle = assessment.supplied(&AppendTarget::IdleTimeBeforeShutdown).unwrap();
//! assert_eq!(idle.value, json!("PT60M"));
//! ```

mod alias;
mod definition;
mod error;
mod eval;
mod expr;
mod scope;

pub use alias::COMPUTE_ALIAS_PREFIX;
pub use definition::{
    validate, validate_str, Effect, PolicyDefinition, MAX_CONDITION_DEPTH, UNNAMED_POLICY,
};
pub use error::PolicyError;
pub use eval::{Append, AppendTarget, Decider, Evaluation, Observed, Step, OBSERVED_MAX_CHARS};
pub use expr::MAX_EXPRESSION_DEPTH;
pub use scope::{
    assess, Assessment, Assignment, AssignmentOutcome, Exemption, Finding, PolicyScope, Supplied,
    EXEMPT_TAG, EXEMPT_UNTIL_TAG,
};

/// Serialise shared strings (serde's `rc` feature is not enabled in the workspace).
pub(crate) fn serialize_arc<S: serde::Serializer>(
    value: &std::sync::Arc<str>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(value)
}

/// [`serialize_arc`] for an optional shared string.
pub(crate) fn serialize_opt_arc<S: serde::Serializer>(
    value: &Option<std::sync::Arc<str>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => serializer.serialize_some(&**value),
        None => serializer.serialize_none(),
    }
}
