//! Evaluating one loaded definition against one compute resource: the operators (with Azure
//! Policy's case-insensitive comparisons), the `if` tree with short-circuiting, the trace, and
//! the `append` values.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::alias::{member, Resolved};
use super::definition::{
    target_of, Cond, Effect, Leaf, Op, Operand, PolicyDefinition, Subject, Template,
};
use super::expr::{eval, Expr};

/// What an `append` policy supplies, classified so the governor knows how to act on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "name")]
pub enum AppendTarget {
    /// `…/schedules`: a default schedule Curfew enforces itself (docs/design.md §4).
    Schedules,
    /// `…/idleTimeBeforeShutdown`: a default idle threshold (written back or enforced, §8).
    IdleTimeBeforeShutdown,
    /// `tags['x']`: a tag value (reported only).
    Tag(String),
    /// Any other alias, by its JSON path in the compute resource (reported only).
    Other(String),
}

/// One value an `append` policy supplies to a matching instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Append {
    /// The `field` as the policy wrote it.
    pub field: String,
    /// What it is, for the governor.
    pub target: AppendTarget,
    /// Where it goes in the compute resource JSON (`properties.properties.schedules`).
    pub json_path: String,
    /// The value to supply (expressions evaluated against the instance).
    pub value: Value,
}

/// One leaf condition as evaluated on an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// Where the condition sits, relative to `if` (`allOf[2].anyOf[0]`).
    #[serde(serialize_with = "super::serialize_arc")]
    pub path: Arc<str>,
    /// The condition in words (`field '…/schedules' exists false`).
    #[serde(serialize_with = "super::serialize_arc")]
    pub condition: Arc<str>,
    /// Whether it held for this instance.
    pub holds: bool,
}

/// What the instance had where the deciding condition looked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "value")]
pub enum Observed {
    /// Nothing (absent or null; an empty `schedules` counts as absent).
    Absent,
    /// Something (shown for `exists`, where the value itself does not matter).
    Present,
    /// This value, as compact JSON (long values cut at [`OBSERVED_MAX_CHARS`]).
    Value(String),
    /// The expression could not be evaluated on this instance; the condition did not hold.
    Error(String),
}

/// Longest rendering of an observed value kept in a trace.
pub const OBSERVED_MAX_CHARS: usize = 120;

/// The condition that decided the outcome, with what the instance had there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decider {
    /// The deciding leaf.
    pub step: Step,
    /// The instance's value there.
    pub observed: Observed,
}

impl std::fmt::Display for Decider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = if self.step.holds {
            "holds"
        } else {
            "does not hold"
        };
        write!(
            f,
            "{}: {} — {verdict}: ",
            self.step.path, self.step.condition
        )?;
        match &self.observed {
            Observed::Absent => f.write_str("the instance has no value there"),
            Observed::Present => f.write_str("the instance has a value there"),
            Observed::Value(value) => write!(f, "the instance has {value}"),
            Observed::Error(message) => write!(f, "the expression failed: {message}"),
        }
    }
}

/// The result of evaluating one definition on one instance: whether it matched, what it does,
/// and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    /// The definition's display name.
    #[serde(serialize_with = "super::serialize_arc")]
    pub policy: Arc<str>,
    /// Its effect.
    pub effect: Effect,
    /// Whether `if` held (always false for a disabled policy, which is not evaluated).
    pub matched: bool,
    /// For a matching `append`: the values supplied.
    pub appends: Vec<Append>,
    /// The condition that decided (`None` for a disabled policy).
    pub decided_by: Option<Decider>,
    /// Every leaf evaluated, in order (short-circuited ones are absent).
    pub trace: Vec<Step>,
}

impl Evaluation {
    /// One line for a report: the outcome and the deciding condition.
    pub fn explanation(&self) -> String {
        match (&self.decided_by, self.matched) {
            (None, _) => format!("{}: effect is disabled; not evaluated", self.policy),
            (Some(decider), true) => format!(
                "{}: matches ({}); decided by {decider}",
                self.policy, self.effect
            ),
            (Some(decider), false) => {
                format!("{}: does not match; decided by {decider}", self.policy)
            }
        }
    }
}

impl PolicyDefinition {
    /// Evaluate this definition on one compute resource (the ARM JSON shape: `id`, `name`,
    /// `type`, `tags`, `properties.computeType`, `properties.properties.…`).
    pub fn evaluate(&self, instance: &Value) -> Evaluation {
        if self.effect == Effect::Disabled {
            return Evaluation {
                policy: self.display_name.clone(),
                effect: self.effect,
                matched: false,
                appends: Vec::new(),
                decided_by: None,
                trace: Vec::new(),
            };
        }
        let mut trace = Vec::with_capacity(4);
        let (matched, leaf) = evaluate_cond(&self.condition, instance, &mut trace);
        let holds = trace
            .iter()
            .rev()
            .find(|s| Arc::ptr_eq(&s.path, &leaf.path))
            .is_some_and(|s| s.holds);
        let decided_by = Decider {
            step: Step {
                path: leaf.path.clone(),
                condition: leaf.text.clone(),
                holds,
            },
            observed: observe(leaf, instance),
        };
        let appends = if matched && self.effect == Effect::Append {
            self.details
                .iter()
                .map(|spec| Append {
                    field: spec.field.name.clone(),
                    target: target_of(&spec.field),
                    json_path: spec.field.json_path.clone(),
                    value: instantiate(&spec.value, instance),
                })
                .collect()
        } else {
            Vec::new()
        };
        Evaluation {
            policy: self.display_name.clone(),
            effect: self.effect,
            matched,
            appends,
            decided_by: Some(decided_by),
            trace,
        }
    }

    /// Whether `if` holds for the instance, without building a trace (for bulk filtering).
    pub fn matches(&self, instance: &Value) -> bool {
        self.effect != Effect::Disabled && holds_quiet(&self.condition, instance)
    }
}

fn evaluate_cond<'p>(cond: &'p Cond, instance: &Value, trace: &mut Vec<Step>) -> (bool, &'p Leaf) {
    match cond {
        Cond::Leaf(leaf) => {
            let holds = leaf_holds(leaf, instance).unwrap_or(false);
            trace.push(Step {
                path: leaf.path.clone(),
                condition: leaf.text.clone(),
                holds,
            });
            (holds, leaf)
        }
        Cond::Not(inner) => {
            let (holds, leaf) = evaluate_cond(inner, instance, trace);
            (!holds, leaf)
        }
        Cond::AllOf(items) | Cond::AnyOf(items) => {
            let all = matches!(cond, Cond::AllOf(_));
            let mut last = None;
            for item in items {
                let (holds, leaf) = evaluate_cond(item, instance, trace);
                if holds != all {
                    return (holds, leaf);
                }
                last = Some(leaf);
            }
            (
                all,
                last.expect("allOf/anyOf are non-empty by construction"),
            )
        }
    }
}

fn holds_quiet(cond: &Cond, instance: &Value) -> bool {
    match cond {
        Cond::Leaf(leaf) => leaf_holds(leaf, instance).unwrap_or(false),
        Cond::Not(inner) => !holds_quiet(inner, instance),
        Cond::AllOf(items) => items.iter().all(|c| holds_quiet(c, instance)),
        Cond::AnyOf(items) => items.iter().any(|c| holds_quiet(c, instance)),
    }
}

fn leaf_holds(leaf: &Leaf, instance: &Value) -> Result<bool, String> {
    let operand = match &leaf.operand {
        Operand::Exists(expected) => Right::Exists(*expected),
        Operand::Value(Expr::Const(value)) => Right::Value(Cow::Borrowed(value)),
        Operand::Value(expr) => Right::Value(eval(expr, instance)?),
    };
    match &leaf.subject {
        Subject::Field(field) => match field.resolve(instance) {
            Resolved::Missing => Ok(test_missing(leaf.op, &operand)),
            Resolved::One(value) => test(leaf.op, value, &operand),
            Resolved::Many(values) => {
                for value in values {
                    if !test(leaf.op, value, &operand)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
        },
        Subject::Value(expr) => {
            let value = eval(expr, instance)?;
            if value.is_null() {
                Ok(test_missing(leaf.op, &operand))
            } else {
                test(leaf.op, &value, &operand)
            }
        }
    }
}

enum Right<'a> {
    Exists(bool),
    Value(Cow<'a, Value>),
}

/// A condition on an absent subject: only `exists false` and the negated operators hold.
fn test_missing(op: Op, operand: &Right<'_>) -> bool {
    match (op, operand) {
        (Op::Exists, Right::Exists(expected)) => !expected,
        (Op::NotEquals | Op::NotIn | Op::NotLike | Op::NotContains, _) => true,
        _ => false,
    }
}

fn test(op: Op, value: &Value, operand: &Right<'_>) -> Result<bool, String> {
    let right = match operand {
        Right::Exists(expected) => return Ok(*expected),
        Right::Value(right) => &**right,
    };
    Ok(match op {
        Op::Exists => unreachable!("exists has an Exists operand"),
        Op::Equals => loose_equals(value, right),
        Op::NotEquals => !loose_equals(value, right),
        Op::In | Op::NotIn => {
            let list = right
                .as_array()
                .ok_or_else(|| format!("{} needs an array, got {right}", op.name()))?;
            list.iter().any(|item| loose_equals(value, item)) == (op == Op::In)
        }
        Op::Like | Op::NotLike => {
            let pattern = right
                .as_str()
                .ok_or_else(|| format!("{} needs a string pattern, got {right}", op.name()))?;
            scalar_text(value).is_some_and(|text| like(&text, pattern)) == (op == Op::Like)
        }
        Op::Contains | Op::NotContains => contains(value, right) == (op == Op::Contains),
        Op::Greater => compare(value, right) == Some(Ordering::Greater),
        Op::GreaterOrEquals => matches!(
            compare(value, right),
            Some(Ordering::Greater | Ordering::Equal)
        ),
        Op::Less => compare(value, right) == Some(Ordering::Less),
        Op::LessOrEquals => matches!(
            compare(value, right),
            Some(Ordering::Less | Ordering::Equal)
        ),
    })
}

/// Case-insensitive string equality (ASCII fast path).
fn text_equals(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

/// Scalars as the text Azure Policy compares (`false` → `"false"`).
fn scalar_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Bool(true) => Some(Cow::Borrowed("true")),
        Value::Bool(false) => Some(Cow::Borrowed("false")),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

/// Azure Policy equality: strings case-insensitively, numbers by value, a boolean or number equal
/// to its text (`false` equals `"False"`), arrays and objects member by member.
pub(crate) fn loose_equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => text_equals(x, y),
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Null, Value::Null) => true,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| loose_equals(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| member(b, k).is_some_and(|w| loose_equals(v, w)))
        }
        _ => match (scalar_text(a), scalar_text(b)) {
            (Some(x), Some(y)) => text_equals(&x, &y),
            _ => false,
        },
    }
}

/// `like`: `*` matches any run of characters, everything else literally, case-insensitively.
fn like(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    let pattern: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    // Greedy glob with one backtrack point (the last `*`).
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// `contains`: a substring of a string (case-insensitive), an element of an array, a key of an
/// object.
fn contains(value: &Value, needle: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().any(|item| loose_equals(item, needle)),
        Value::Object(_) => needle
            .as_str()
            .is_some_and(|key| member(value, key).is_some()),
        _ => match (scalar_text(value), scalar_text(needle)) {
            (Some(haystack), Some(needle)) => {
                haystack.to_lowercase().contains(&needle.to_lowercase())
            }
            _ => false,
        },
    }
}

fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Ordering for `greater`/`less`: numerically when both sides are numbers (or numeric text),
/// else as case-insensitive text; anything else does not compare.
fn compare(value: &Value, right: &Value) -> Option<Ordering> {
    if value.is_number() || right.is_number() {
        if let (Some(a), Some(b)) = (as_number(value), as_number(right)) {
            return a.partial_cmp(&b);
        }
    }
    match (value, right) {
        (Value::String(a), Value::String(b)) => Some(a.to_lowercase().cmp(&b.to_lowercase())),
        _ => None,
    }
}

fn render(value: &Value) -> String {
    let mut text = match value {
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    };
    if text.chars().count() > OBSERVED_MAX_CHARS {
        text = text.chars().take(OBSERVED_MAX_CHARS).collect::<String>() + "…";
    }
    text
}

/// What the deciding leaf saw on the instance (recomputed: only done once per evaluation).
fn observe(leaf: &Leaf, instance: &Value) -> Observed {
    let exists = leaf.op == Op::Exists;
    let seen = |value: &Value| {
        if exists {
            Observed::Present
        } else {
            Observed::Value(render(value))
        }
    };
    match &leaf.subject {
        Subject::Field(field) => match field.resolve(instance) {
            Resolved::Missing => Observed::Absent,
            Resolved::One(value) => seen(value),
            Resolved::Many(values) => seen(&Value::Array(values.into_iter().cloned().collect())),
        },
        Subject::Value(expr) => match eval(expr, instance) {
            Err(message) => Observed::Error(message),
            Ok(value) if value.is_null() => Observed::Absent,
            Ok(value) => seen(&value),
        },
    }
}

fn instantiate(template: &Template, instance: &Value) -> Value {
    match template {
        Template::Const(value) => value.clone(),
        Template::Expr(expr) => eval(expr, instance).map_or(Value::Null, Cow::into_owned),
        Template::Array(items) => {
            Value::Array(items.iter().map(|t| instantiate(t, instance)).collect())
        }
        Template::Object(members) => Value::Object(
            members
                .iter()
                .map(|(k, t)| (k.clone(), instantiate(t, instance)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn like_globs_case_insensitively() {
        assert!(like("Standard_NC6", "standard_nc*"));
        assert!(like("Standard_NC6", "*nc6"));
        assert!(like("Standard_NC6", "*_*"));
        assert!(like("abc", "a*b*c"));
        assert!(like("", "*"));
        assert!(!like("Standard_D4", "standard_nc*"));
        assert!(!like("abc", "ab"));
        assert!(like("aXbXc", "a*c"));
    }

    #[test]
    fn loose_equality_matches_azure_policy() {
        assert!(loose_equals(
            &json!("ComputeInstance"),
            &json!("computeinstance")
        ));
        assert!(loose_equals(&json!(false), &json!("false")));
        assert!(loose_equals(&json!("False"), &json!(false)));
        assert!(loose_equals(&json!(1), &json!(1.0)));
        assert!(loose_equals(&json!(60), &json!("60")));
        assert!(loose_equals(&json!({"A": "x"}), &json!({"a": "X"})));
        assert!(!loose_equals(&json!(true), &json!("false")));
        assert!(!loose_equals(&json!(null), &json!("")));
    }

    #[test]
    fn compare_is_numeric_when_it_can_be() {
        assert_eq!(compare(&json!(10), &json!(9)), Some(Ordering::Greater));
        assert_eq!(compare(&json!("10"), &json!(9)), Some(Ordering::Greater));
        assert_eq!(compare(&json!("b"), &json!("A")), Some(Ordering::Greater));
        assert_eq!(compare(&json!(true), &json!(1)), None);
    }

    #[test]
    fn contains_covers_strings_arrays_objects() {
        assert!(contains(&json!("Standard_NC6"), &json!("nc")));
        assert!(contains(&json!(["a", "B"]), &json!("b")));
        assert!(contains(&json!({"Team": 1}), &json!("team")));
        assert!(!contains(&json!(5), &json!({})));
    }
}
