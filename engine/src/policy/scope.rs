//! Assignments: a definition applied at a scope (tenant, subscription, resource group,
//! workspace), exemptions by tag, and the per-instance assessment that resolves several
//! assignments into what is supplied and what is reported.

use std::sync::Arc;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;

use super::alias::member;
use super::definition::{Effect, PolicyDefinition};
use super::error::PolicyError;
use super::eval::{AppendTarget, Evaluation};

/// Tag that exempts an instance from every policy (any value but `false`; a date value means
/// "until that date", like [`EXEMPT_UNTIL_TAG`]).
pub const EXEMPT_TAG: &str = "curfew:exempt";
/// Tag whose `YYYY-MM-DD` value exempts an instance until that date inclusive.
pub const EXEMPT_UNTIL_TAG: &str = "curfew:exempt-until";

/// Where an assignment applies, from least to most specific. Names are compared
/// case-insensitively, as ARM does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PolicyScope {
    /// `/`: every instance.
    Tenant,
    /// `/subscriptions/S`.
    Subscription {
        /// Subscription id.
        subscription: String,
    },
    /// `/subscriptions/S/resourceGroups/R`.
    ResourceGroup {
        /// Subscription id.
        subscription: String,
        /// Resource group name.
        resource_group: String,
    },
    /// `/subscriptions/S/resourceGroups/R/providers/Microsoft.MachineLearningServices/workspaces/W`.
    Workspace {
        /// Subscription id.
        subscription: String,
        /// Resource group name.
        resource_group: String,
        /// Workspace name.
        workspace: String,
    },
}

const WORKSPACE_PROVIDER: &str = "Microsoft.MachineLearningServices";

impl PolicyScope {
    /// Parse an ARM scope string. `source` names where it came from for the error path.
    pub fn parse(scope: &str, source: &str) -> Result<Self, PolicyError> {
        let error = |message: &str| PolicyError::Scope {
            path: source.to_owned(),
            scope: scope.to_owned(),
            message: message.to_owned(),
        };
        let trimmed = scope.trim().trim_end_matches('/');
        if trimmed.is_empty() {
            return if scope.trim() == "/" {
                Ok(Self::Tenant)
            } else {
                Err(error("empty; use '/' for the whole tenant"))
            };
        }
        let Some(rest) = trimmed.strip_prefix('/') else {
            return Err(error("must start with '/'"));
        };
        let parts: Vec<&str> = rest.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(error("has an empty segment"));
        }
        let is = |i: usize, word: &str| parts.get(i).is_some_and(|p| p.eq_ignore_ascii_case(word));
        if !is(0, "subscriptions") || parts.len() < 2 {
            return Err(error(
                "expected '/', '/subscriptions/S', '…/resourceGroups/R' or '…/workspaces/W'",
            ));
        }
        let subscription = parts[1].to_owned();
        match parts.len() {
            2 => Ok(Self::Subscription { subscription }),
            4 if is(2, "resourceGroups") => Ok(Self::ResourceGroup {
                subscription,
                resource_group: parts[3].to_owned(),
            }),
            8 if is(2, "resourceGroups")
                && is(4, "providers")
                && is(5, WORKSPACE_PROVIDER)
                && is(6, "workspaces") =>
            {
                Ok(Self::Workspace {
                    subscription,
                    resource_group: parts[3].to_owned(),
                    workspace: parts[7].to_owned(),
                })
            }
            _ => Err(error(
                "expected '/', '/subscriptions/S', '…/resourceGroups/R' or \
                 '…/providers/Microsoft.MachineLearningServices/workspaces/W'",
            )),
        }
    }

    /// How specific the scope is: tenant 0 < subscription 1 < resource group 2 < workspace 3.
    pub fn specificity(&self) -> u8 {
        match self {
            Self::Tenant => 0,
            Self::Subscription { .. } => 1,
            Self::ResourceGroup { .. } => 2,
            Self::Workspace { .. } => 3,
        }
    }

    /// Whether a compute with this ARM `id` lies within the scope. Without an id only the tenant
    /// scope applies.
    pub fn contains(&self, compute_id: Option<&str>) -> bool {
        if *self == Self::Tenant {
            return true;
        }
        let Some(id) = compute_id.and_then(ComputeId::parse) else {
            return false;
        };
        let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        match self {
            Self::Tenant => true,
            Self::Subscription { subscription } => eq(subscription, id.subscription),
            Self::ResourceGroup {
                subscription,
                resource_group,
            } => eq(subscription, id.subscription) && eq(resource_group, id.resource_group),
            Self::Workspace {
                subscription,
                resource_group,
                workspace,
            } => {
                eq(subscription, id.subscription)
                    && eq(resource_group, id.resource_group)
                    && eq(workspace, id.workspace)
            }
        }
    }
}

impl std::fmt::Display for PolicyScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tenant => f.write_str("/"),
            Self::Subscription { subscription } => write!(f, "/subscriptions/{subscription}"),
            Self::ResourceGroup {
                subscription,
                resource_group,
            } => write!(f, "/subscriptions/{subscription}/resourceGroups/{resource_group}"),
            Self::Workspace {
                subscription,
                resource_group,
                workspace,
            } => write!(
                f,
                "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{WORKSPACE_PROVIDER}/workspaces/{workspace}"
            ),
        }
    }
}

/// Serialised as its ARM scope string (`/subscriptions/S/resourceGroups/R`).
impl Serialize for PolicyScope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The parts of a compute's ARM id that scopes compare.
struct ComputeId<'a> {
    subscription: &'a str,
    resource_group: &'a str,
    workspace: &'a str,
}

impl<'a> ComputeId<'a> {
    fn parse(id: &'a str) -> Option<Self> {
        let mut parts = id.trim_matches('/').split('/');
        let mut next_after = |word: &str| -> Option<&'a str> {
            let key = parts.next()?;
            key.eq_ignore_ascii_case(word)
                .then(|| parts.next())
                .flatten()
        };
        let subscription = next_after("subscriptions")?;
        let resource_group = next_after("resourceGroups")?;
        let provider = next_after("providers")?;
        if !provider.eq_ignore_ascii_case(WORKSPACE_PROVIDER) {
            return None;
        }
        let workspace = next_after("workspaces")?;
        Some(Self {
            subscription,
            resource_group,
            workspace,
        })
    }
}

/// A definition applied at a scope, under a name that reports cite.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// The assignment's name (e.g. `default-stop-2200`).
    pub name: Arc<str>,
    /// Where it applies.
    pub scope: PolicyScope,
    /// What it applies.
    pub definition: PolicyDefinition,
}

impl Assignment {
    /// Assign `definition` at `scope` (an ARM scope string, see [`PolicyScope::parse`]).
    pub fn new(name: &str, scope: &str, definition: PolicyDefinition) -> Result<Self, PolicyError> {
        Ok(Self {
            name: name.into(),
            scope: PolicyScope::parse(scope, &format!("assignment '{name}'.scope"))?,
            definition,
        })
    }
}

/// Whether an instance's tags exempt it from policies today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum Exemption {
    /// No exemption tag: policies apply.
    None,
    /// Exempt today; every policy is skipped.
    Exempt {
        /// The tag that exempts (`curfew:exempt` or `curfew:exempt-until`).
        tag: String,
        /// Last exempt day, if the exemption expires.
        until: Option<NaiveDate>,
    },
    /// The exemption ran out: policies apply again.
    Expired {
        /// The tag that carried the date.
        tag: String,
        /// Last exempt day.
        until: NaiveDate,
    },
    /// An exemption tag whose value is not a date: ignored (policies apply), and reported.
    Invalid {
        /// The tag.
        tag: String,
        /// Its value.
        value: String,
    },
}

impl Exemption {
    /// Read the exemption tags of an instance, as of `today` (an `until` date is inclusive).
    pub fn of(instance: &Value, today: NaiveDate) -> Self {
        let Some(tags) = member(instance, "tags").filter(|t| t.is_object()) else {
            return Self::None;
        };
        let text = |value: &Value| match value {
            Value::String(s) => s.trim().to_owned(),
            other => other.to_string(),
        };
        let dated = |tag: &str, value: String| match NaiveDate::parse_from_str(&value, "%Y-%m-%d") {
            Ok(until) if today <= until => Self::Exempt {
                tag: tag.to_owned(),
                until: Some(until),
            },
            Ok(until) => Self::Expired {
                tag: tag.to_owned(),
                until,
            },
            Err(_) => Self::Invalid {
                tag: tag.to_owned(),
                value,
            },
        };
        // An explicit expiry governs, even alongside a plain `curfew:exempt`.
        if let Some(value) = member(tags, EXEMPT_UNTIL_TAG) {
            return dated(EXEMPT_UNTIL_TAG, text(value));
        }
        match member(tags, EXEMPT_TAG).map(text) {
            None => Self::None,
            Some(value) if value.eq_ignore_ascii_case("false") => Self::None,
            Some(value) if value.len() == 10 && value.as_bytes()[4] == b'-' => {
                dated(EXEMPT_TAG, value)
            }
            Some(_) => Self::Exempt {
                tag: EXEMPT_TAG.to_owned(),
                until: None,
            },
        }
    }

    /// Whether policies are skipped.
    pub fn is_exempt(&self) -> bool {
        matches!(self, Self::Exempt { .. })
    }
}

impl std::fmt::Display for Exemption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("not exempt"),
            Self::Exempt { tag, until: None } => write!(f, "exempt by tag {tag}"),
            Self::Exempt {
                tag,
                until: Some(until),
            } => write!(f, "exempt by tag {tag} until {until} (inclusive)"),
            Self::Expired { tag, until } => {
                write!(f, "exemption by tag {tag} expired after {until}")
            }
            Self::Invalid { tag, value } => {
                write!(f, "tag {tag}='{value}' is not a YYYY-MM-DD date; ignored")
            }
        }
    }
}

/// One in-scope assignment's result on an instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentOutcome {
    /// The assignment's name.
    #[serde(serialize_with = "super::serialize_arc")]
    pub assignment: Arc<str>,
    /// Its scope.
    pub scope: PolicyScope,
    /// The definition's result.
    pub evaluation: Evaluation,
    /// For a matching append whose every value a more specific (or earlier) assignment
    /// supplies: that assignment.
    #[serde(serialize_with = "super::serialize_opt_arc")]
    pub superseded_by: Option<Arc<str>>,
}

/// A value the winning `append` assignment supplies.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Supplied {
    /// What is supplied.
    pub target: AppendTarget,
    /// The value.
    pub value: Value,
    /// By which assignment.
    #[serde(serialize_with = "super::serialize_arc")]
    pub assignment: Arc<str>,
    /// Its definition's display name.
    #[serde(serialize_with = "super::serialize_arc")]
    pub policy: Arc<str>,
    /// Its scope.
    pub scope: PolicyScope,
}

/// An `audit` finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The assignment that reports it.
    #[serde(serialize_with = "super::serialize_arc")]
    pub assignment: Arc<str>,
    /// The definition's display name.
    #[serde(serialize_with = "super::serialize_arc")]
    pub policy: Arc<str>,
    /// The deciding condition, in words.
    pub reason: String,
}

/// Everything the policies say about one instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Assessment {
    /// The exemption status; when exempt, nothing else is evaluated.
    pub exemption: Exemption,
    /// One entry per in-scope assignment, in assignment order.
    pub outcomes: Vec<AssignmentOutcome>,
    /// The winning value per append target (most specific scope, then assignment order).
    pub supplied: Vec<Supplied>,
    /// Audit findings.
    pub findings: Vec<Finding>,
}

impl Assessment {
    /// The winning value supplied for `target`, if any.
    pub fn supplied(&self, target: &AppendTarget) -> Option<&Supplied> {
        self.supplied.iter().find(|s| &s.target == target)
    }
}

/// Apply `assignments` (in order) to one compute resource as of `today`: exemptions first, then
/// each in-scope assignment; where several appends supply the same target, the most specific
/// scope wins (workspace > resource group > subscription > tenant), ties by assignment order.
pub fn assess(assignments: &[Assignment], instance: &Value, today: NaiveDate) -> Assessment {
    let exemption = Exemption::of(instance, today);
    if exemption.is_exempt() {
        return Assessment {
            exemption,
            outcomes: Vec::new(),
            supplied: Vec::new(),
            findings: Vec::new(),
        };
    }
    let id = member(instance, "id").and_then(Value::as_str);
    let mut outcomes: Vec<AssignmentOutcome> = Vec::with_capacity(assignments.len());
    let mut supplied: Vec<Supplied> = Vec::new();
    let mut findings = Vec::new();
    for assignment in assignments.iter().filter(|a| a.scope.contains(id)) {
        let evaluation = assignment.definition.evaluate(instance);
        if evaluation.matched && evaluation.effect == Effect::Audit {
            findings.push(Finding {
                assignment: assignment.name.clone(),
                policy: evaluation.policy.clone(),
                reason: evaluation
                    .decided_by
                    .as_ref()
                    .map_or_else(String::new, ToString::to_string),
            });
        }
        for append in &evaluation.appends {
            let candidate = Supplied {
                target: append.target.clone(),
                value: append.value.clone(),
                assignment: assignment.name.clone(),
                policy: evaluation.policy.clone(),
                scope: assignment.scope.clone(),
            };
            match supplied.iter_mut().find(|s| s.target == append.target) {
                None => supplied.push(candidate),
                // Strictly more specific wins; equal specificity keeps the earlier assignment.
                Some(current) if assignment.scope.specificity() > current.scope.specificity() => {
                    *current = candidate
                }
                Some(_) => {}
            }
        }
        outcomes.push(AssignmentOutcome {
            assignment: assignment.name.clone(),
            scope: assignment.scope.clone(),
            evaluation,
            superseded_by: None,
        });
    }
    for outcome in &mut outcomes {
        let appends = &outcome.evaluation.appends;
        if appends.is_empty() {
            continue;
        }
        let winners: Vec<&Arc<str>> = appends
            .iter()
            .filter_map(|a| {
                supplied
                    .iter()
                    .find(|s| s.target == a.target)
                    .map(|s| &s.assignment)
            })
            .collect();
        if winners.iter().all(|w| **w != outcome.assignment) {
            outcome.superseded_by = winners.first().map(|w| (*w).clone());
        }
    }
    Assessment {
        exemption,
        outcomes,
        supplied,
        findings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "/subscriptions/S1/resourceGroups/rg1/providers/Microsoft.MachineLearningServices/workspaces/ws1/computes/ci1";

    #[test]
    fn scopes_parse_and_contain_case_insensitively() {
        let cases = [
            ("/", true),
            ("/subscriptions/s1", true),
            ("/subscriptions/S2", false),
            ("/SUBSCRIPTIONS/S1/resourcegroups/RG1/", true),
            ("/subscriptions/S1/resourceGroups/rg2", false),
            ("/subscriptions/S1/resourceGroups/rg1/providers/microsoft.machinelearningservices/workspaces/WS1", true),
            ("/subscriptions/S1/resourceGroups/rg1/providers/Microsoft.MachineLearningServices/workspaces/ws2", false),
        ];
        for (scope, inside) in cases {
            let scope = PolicyScope::parse(scope, "test").unwrap();
            assert_eq!(scope.contains(Some(ID)), inside, "{scope}");
        }
        assert!(PolicyScope::Tenant.contains(None));
        assert!(!PolicyScope::parse("/subscriptions/S1", "t")
            .unwrap()
            .contains(None));
        for bad in [
            "",
            "subscriptions/S1",
            "/subscriptions",
            "/subscriptions/S1/resourceGroups",
            "/foo/bar",
            "/subscriptions//x",
        ] {
            assert!(PolicyScope::parse(bad, "t").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn exemption_tags() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let of = |tags: Value| Exemption::of(&json!({ "tags": tags }), today);
        assert!(of(json!({"curfew:exempt": "true"})).is_exempt());
        assert!(of(json!({"Curfew:Exempt": "yes please"})).is_exempt());
        assert!(!of(json!({"curfew:exempt": "false"})).is_exempt());
        assert!(of(json!({"curfew:exempt-until": "2026-03-01"})).is_exempt());
        assert_eq!(
            of(json!({"curfew:exempt-until": "2026-02-28"})),
            Exemption::Expired {
                tag: EXEMPT_UNTIL_TAG.into(),
                until: NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()
            }
        );
        assert!(of(json!({"curfew:exempt": "2026-03-02"})).is_exempt());
        assert!(!of(json!({"curfew:exempt": "2026-02-01"})).is_exempt());
        assert!(
            !of(json!({"curfew:exempt": true, "curfew:exempt-until": "2026-02-01"})).is_exempt()
        );
        assert!(matches!(
            of(json!({"curfew:exempt-until": "soon"})),
            Exemption::Invalid { .. }
        ));
        assert_eq!(Exemption::of(&json!({}), today), Exemption::None);
    }
}
