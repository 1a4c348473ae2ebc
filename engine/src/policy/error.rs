//! `PolicyError`: every problem found while loading a policy definition or an assignment,
//! each naming the JSON path where it sits.

use thiserror::Error;

/// A problem in a policy definition, its parameters or its assignment. Every variant names the
/// JSON path of the problem (relative to the document as given, e.g.
/// `properties.policyRule.if.allOf[1].field`), so `curfew validate` can point at it. None of
/// them is retryable: the document has to change.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// The text is not JSON at all (reported with serde's line and column).
    #[error("{path}: not valid JSON: {message}")]
    Json {
        /// Where the parser stopped (`line L column C`).
        path: String,
        /// serde_json's description of the problem.
        message: String,
    },
    /// A member is missing, has the wrong JSON type, or the document has no recognisable shape.
    #[error("{path}: {message}")]
    Shape {
        /// JSON path of the offending member.
        path: String,
        /// What was expected there.
        message: String,
    },
    /// A `field` (or `field('…')` in an expression) names an alias Curfew does not know.
    #[error("{path}: unknown alias '{alias}'")]
    UnknownAlias {
        /// JSON path of the `field` member or expression.
        path: String,
        /// The alias as written.
        alias: String,
    },
    /// A condition uses an operator outside the supported subset (or a misspelt one).
    #[error("{path}: unknown or unsupported operator '{operator}'")]
    UnknownOperator {
        /// JSON path of the operator member.
        path: String,
        /// The operator as written.
        operator: String,
    },
    /// A bracketed expression `[...]` does not parse, or calls an unknown function.
    #[error("{path}: expression error at column {column}: {message}")]
    Expression {
        /// JSON path of the string holding the expression.
        path: String,
        /// 1-based character column inside that string.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// `parameters('x')` names a parameter the definition does not declare.
    #[error("{path}: unknown parameter '{name}'")]
    UnknownParameter {
        /// JSON path of the expression that references it.
        path: String,
        /// The parameter name as written.
        name: String,
    },
    /// A parameter has no value (no default, none given), a value outside `allowedValues`, or a
    /// value of the wrong type; or the caller gave a value for an undeclared parameter.
    #[error("{path}: parameter '{name}': {message}")]
    ParameterValue {
        /// JSON path of the parameter declaration (or `assignment.parameters.<name>`).
        path: String,
        /// The parameter name.
        name: String,
        /// What is wrong with its value.
        message: String,
    },
    /// `then.effect` is not one of the effects Curfew implements (`append`, `audit`, `disabled`).
    #[error(
        "{path}: unknown or unsupported effect '{effect}' (supported: append, audit, disabled)"
    )]
    UnknownEffect {
        /// JSON path of the effect (`…policyRule.then.effect`).
        path: String,
        /// The effect after parameter resolution.
        effect: String,
    },
    /// An assignment scope is not `/`, `/subscriptions/S`, `…/resourceGroups/R` or
    /// `…/providers/Microsoft.MachineLearningServices/workspaces/W`.
    #[error("{path}: invalid scope '{scope}': {message}")]
    Scope {
        /// Where the scope came from (e.g. `assignment.scope`).
        path: String,
        /// The scope as written.
        scope: String,
        /// What is wrong with it.
        message: String,
    },
}

impl PolicyError {
    /// The JSON path this error points at.
    pub fn path(&self) -> &str {
        match self {
            Self::Json { path, .. }
            | Self::Shape { path, .. }
            | Self::UnknownAlias { path, .. }
            | Self::UnknownOperator { path, .. }
            | Self::Expression { path, .. }
            | Self::UnknownParameter { path, .. }
            | Self::ParameterValue { path, .. }
            | Self::UnknownEffect { path, .. }
            | Self::Scope { path, .. } => path,
        }
    }

    pub(crate) fn shape(path: &JsonPath, message: impl Into<String>) -> Self {
        Self::Shape {
            path: path.to_string(),
            message: message.into(),
        }
    }
}

/// A JSON path under construction while walking a document (`properties.policyRule.if.allOf[1]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct JsonPath(String);

impl JsonPath {
    pub(crate) fn root() -> Self {
        Self(String::new())
    }

    /// The path of member `key` under this one.
    pub(crate) fn key(&self, key: &str) -> Self {
        if self.0.is_empty() {
            Self(key.to_owned())
        } else {
            Self(format!("{}.{key}", self.0))
        }
    }

    /// The path of array element `index` under this one.
    pub(crate) fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    /// This path relative to `base` (used to name conditions relative to `if`).
    pub(crate) fn relative_to(&self, base: &JsonPath) -> String {
        let rest = self.0.strip_prefix(base.0.as_str()).unwrap_or(&self.0);
        let rest = rest.strip_prefix('.').unwrap_or(rest);
        if rest.is_empty() {
            "if".to_owned()
        } else {
            rest.to_owned()
        }
    }
}

impl std::fmt::Display for JsonPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("(document)")
        } else {
            f.write_str(&self.0)
        }
    }
}
