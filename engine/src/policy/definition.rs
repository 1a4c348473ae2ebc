//! Loading a policy definition: the document's shape, its parameters, the `if` condition tree,
//! the effect and the `append` details, compiled once so evaluation is cheap. Every problem is
//! collected with its JSON path; [`validate`] returns them all, [`PolicyDefinition::load`] the
//! first.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::alias::{FieldPath, Known};
use super::error::{JsonPath, PolicyError};
use super::expr::{self, is_expression, literal_string, Expr, Params};

/// What a matching policy does. Curfew implements the effects that make sense for a governor
/// that cannot intercept ARM requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Effect {
    /// Supply values (a default schedule, an idle time) the instance lacks.
    Append,
    /// Report the instance as non-compliant.
    Audit,
    /// Do nothing; the policy is switched off.
    Disabled,
}

impl std::fmt::Display for Effect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Append => "append",
            Self::Audit => "audit",
            Self::Disabled => "disabled",
        })
    }
}

/// Comparison operators of a leaf condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Equals,
    NotEquals,
    Exists,
    In,
    NotIn,
    Like,
    NotLike,
    Contains,
    NotContains,
    Greater,
    GreaterOrEquals,
    Less,
    LessOrEquals,
}

impl Op {
    const ALL: [(&'static str, Op); 13] = [
        ("equals", Op::Equals),
        ("notEquals", Op::NotEquals),
        ("exists", Op::Exists),
        ("in", Op::In),
        ("notIn", Op::NotIn),
        ("like", Op::Like),
        ("notLike", Op::NotLike),
        ("contains", Op::Contains),
        ("notContains", Op::NotContains),
        ("greater", Op::Greater),
        ("greaterOrEquals", Op::GreaterOrEquals),
        ("less", Op::Less),
        ("lessOrEquals", Op::LessOrEquals),
    ];

    fn parse(key: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, op)| *op)
    }

    pub(crate) fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, op)| *op == self)
            .map_or("?", |(name, _)| name)
    }
}

/// What a leaf condition tests: a field of the resource or a computed value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Subject {
    Field(FieldPath),
    Value(Expr),
}

/// The right-hand side of a leaf condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    /// `exists`: whether the subject should be present.
    Exists(bool),
    /// Any other operator's value (a literal is an [`Expr::Const`]).
    Value(Expr),
}

/// One `{field|value, operator}` condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Leaf {
    /// Where it sits, relative to `if` (`allOf[2].anyOf[0]`).
    pub(crate) path: Arc<str>,
    /// The condition as a reader would say it (`field '…/schedules' exists false`).
    pub(crate) text: Arc<str>,
    pub(crate) subject: Subject,
    pub(crate) op: Op,
    pub(crate) operand: Operand,
}

/// The compiled `if` tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    AllOf(Vec<Cond>),
    AnyOf(Vec<Cond>),
    Not(Box<Cond>),
    Leaf(Box<Leaf>),
}

/// A JSON value whose strings may hold expressions (the `value` of an append detail).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Template {
    Const(Value),
    Expr(Expr),
    Array(Vec<Template>),
    Object(Vec<(String, Template)>),
}

/// One compiled `{field, value}` of an `append` effect.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AppendSpec {
    pub(crate) field: FieldPath,
    pub(crate) value: Template,
}

/// A loaded, compiled policy definition, ready to evaluate against compute resources. Load once,
/// evaluate many times: parameters are substituted and aliases resolved at load.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDefinition {
    pub(crate) display_name: Arc<str>,
    pub(crate) named: bool,
    pub(crate) condition: Cond,
    pub(crate) effect: Effect,
    pub(crate) details: Vec<AppendSpec>,
    pub(crate) parameters: Params,
}

/// Default display name of a definition that has none (and whose caller gave none).
pub const UNNAMED_POLICY: &str = "unnamed policy";

const PARAMETER_TYPES: &[&str] = &[
    "String", "Array", "Object", "Boolean", "Integer", "Float", "DateTime",
];

impl PolicyDefinition {
    /// Load a definition document: a full definition `{properties: {displayName, mode,
    /// parameters, policyRule}}`, a `{mode, parameters, policyRule}` object, or a bare
    /// `{if, then}` rule. `parameters` are the assignment's values (plain JSON values by name);
    /// undeclared ones are errors, missing ones take the declared `defaultValue`.
    pub fn load(document: &Value, parameters: &Map<String, Value>) -> Result<Self, PolicyError> {
        let mut loader = Loader::default();
        let definition = loader.definition(document, parameters);
        match loader.errors.into_iter().next() {
            Some(error) => Err(error),
            None => definition
                .ok_or_else(|| PolicyError::shape(&JsonPath::root(), "not a policy definition")),
        }
    }

    /// [`PolicyDefinition::load`] from JSON text.
    pub fn from_json_str(text: &str, parameters: &Map<String, Value>) -> Result<Self, PolicyError> {
        Self::load(&parse_text(text)?, parameters)
    }

    /// Give the definition a name when its document has no `displayName` (e.g. the file stem).
    #[must_use]
    pub fn with_fallback_name(mut self, name: &str) -> Self {
        if !self.named {
            self.display_name = name.into();
            self.named = true;
        }
        self
    }

    /// The name findings and traces use: `displayName`, else the document's `name`, else the
    /// fallback name, else [`UNNAMED_POLICY`].
    pub fn display_name(&self) -> &str {
        &self.display_name
    }

    /// The effect after parameter substitution.
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// The resolved value of a parameter (declared default or the caller's), for reports.
    pub fn parameter(&self, name: &str) -> Option<&Value> {
        self.parameters.get(name)
    }
}

/// Every problem in a definition document, each with its JSON path (empty when it loads). Use
/// for `curfew validate`, which should show all problems at once.
pub fn validate(document: &Value, parameters: &Map<String, Value>) -> Vec<PolicyError> {
    let mut loader = Loader::default();
    let _ = loader.definition(document, parameters);
    loader.errors
}

/// [`validate`] from JSON text.
pub fn validate_str(text: &str, parameters: &Map<String, Value>) -> Vec<PolicyError> {
    match parse_text(text) {
        Ok(document) => validate(&document, parameters),
        Err(error) => vec![error],
    }
}

fn parse_text(text: &str) -> Result<Value, PolicyError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let json = |inner: &serde_json::Error| PolicyError::Json {
        path: format!("line {} column {}", inner.line(), inner.column()),
        message: inner.to_string(),
    };
    let document =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| json(error.inner()))?;
    // A second document or stray text after the first is an error, not ignored.
    deserializer.end().map_err(|error| json(&error))?;
    Ok(document)
}

/// How deep `allOf` / `anyOf` / `not` may nest in a policy rule. Loading and evaluation recurse
/// once per level; JSON text is already capped at 128 levels by serde_json, but a document
/// built another way (YAML, a `Value` from code) is not.
pub const MAX_CONDITION_DEPTH: usize = 32;

#[derive(Default)]
struct Loader {
    errors: Vec<PolicyError>,
    params: Params,
    if_path: JsonPath,
    /// Conditions being loaded, outermost first (at most [`MAX_CONDITION_DEPTH`]).
    depth: usize,
}

/// Case-insensitive member lookup that also returns the key as written.
fn member_ci<'a>(object: &'a Map<String, Value>, key: &str) -> Option<(&'a str, &'a Value)> {
    object
        .get_key_value(key)
        .or_else(|| object.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)))
        .map(|(k, v)| (k.as_str(), v))
}

impl Loader {
    fn push(&mut self, error: PolicyError) {
        self.errors.push(error);
    }

    fn definition(
        &mut self,
        document: &Value,
        given: &Map<String, Value>,
    ) -> Option<PolicyDefinition> {
        let root_path = JsonPath::root();
        let Some(object) = document.as_object() else {
            self.push(PolicyError::shape(
                &root_path,
                "expected a JSON object (a policy definition)",
            ));
            return None;
        };
        // Which of the three shapes is this?
        let (holder, holder_path, rule, rule_path) = if let Some((key, properties)) =
            member_ci(object, "properties").filter(|(_, p)| {
                p.as_object()
                    .is_some_and(|p| member_ci(p, "policyRule").is_some())
            }) {
            let path = root_path.key(key);
            let properties = properties.as_object()?;
            let (rule_key, rule) = member_ci(properties, "policyRule")?;
            (properties, path.clone(), rule, path.key(rule_key))
        } else if let Some((rule_key, rule)) = member_ci(object, "policyRule") {
            (object, root_path.clone(), rule, root_path.key(rule_key))
        } else if member_ci(object, "if").is_some() || member_ci(object, "then").is_some() {
            (object, root_path.clone(), document, root_path.clone())
        } else {
            self.push(PolicyError::shape(
                &root_path,
                "expected a policy definition: properties.policyRule, policyRule, or a bare {if, then} rule",
            ));
            return None;
        };

        let mut named = false;
        let mut display_name: Arc<str> = UNNAMED_POLICY.into();
        let name_source = member_ci(holder, "displayName").or_else(|| member_ci(object, "name"));
        if let Some((key, name)) = name_source {
            match name.as_str() {
                Some(name) => {
                    display_name = name.into();
                    named = true;
                }
                None => self.push(PolicyError::shape(
                    &holder_path.key(key),
                    "expected a string",
                )),
            }
        }
        if let Some((key, mode)) = member_ci(holder, "mode") {
            match mode.as_str() {
                Some(m) if m.eq_ignore_ascii_case("All") || m.eq_ignore_ascii_case("Indexed") => {}
                _ => self.push(PolicyError::shape(
                    &holder_path.key(key),
                    format!(
                        "mode {mode} is not supported (Curfew evaluates resources: All or Indexed)"
                    ),
                )),
            }
        }
        let parameters = member_ci(holder, "parameters").map(|(k, v)| (v, holder_path.key(k)));
        self.parameters(parameters, given);

        let Some(rule_object) = rule.as_object() else {
            self.push(PolicyError::shape(
                &rule_path,
                "expected an object with 'if' and 'then'",
            ));
            return None;
        };
        let condition = match member_ci(rule_object, "if") {
            Some((key, condition)) => {
                self.if_path = rule_path.key(key);
                let path = self.if_path.clone();
                self.condition(condition, &path)
            }
            None => {
                self.push(PolicyError::shape(&rule_path.key("if"), "missing"));
                None
            }
        };
        let then = match member_ci(rule_object, "then") {
            Some((key, then)) => self.then(then, &rule_path.key(key)),
            None => {
                self.push(PolicyError::shape(&rule_path.key("then"), "missing"));
                None
            }
        };
        let (effect, details) = then?;
        Some(PolicyDefinition {
            display_name,
            named,
            condition: condition?,
            effect,
            details,
            parameters: self.params.clone(),
        })
    }

    fn parameters(&mut self, declared: Option<(&Value, JsonPath)>, given: &Map<String, Value>) {
        let empty = Map::new();
        let (declared, path) = match declared {
            Some((Value::Object(declared), path)) => (declared, path),
            Some((Value::Null, path)) => (&empty, path),
            Some((_, path)) => {
                self.push(PolicyError::shape(
                    &path,
                    "expected an object of parameter declarations",
                ));
                (&empty, path)
            }
            None => (&empty, JsonPath::root().key("parameters")),
        };
        for (name, declaration) in declared {
            let path = path.key(name);
            let Some(declaration) = declaration.as_object() else {
                self.push(PolicyError::shape(
                    &path,
                    "expected a parameter declaration object",
                ));
                continue;
            };
            let kind = match member_ci(declaration, "type") {
                None => None,
                Some((key, kind)) => match kind
                    .as_str()
                    .and_then(|k| PARAMETER_TYPES.iter().find(|t| t.eq_ignore_ascii_case(k)))
                {
                    Some(kind) => Some(*kind),
                    None => {
                        self.push(PolicyError::shape(
                            &path.key(key),
                            format!(
                                "unknown parameter type {kind} (expected one of {})",
                                PARAMETER_TYPES.join(", ")
                            ),
                        ));
                        None
                    }
                },
            };
            let value = given
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
                .or_else(|| member_ci(declaration, "defaultValue").map(|(_, v)| v));
            let Some(value) = value else {
                self.push(PolicyError::ParameterValue {
                    path: path.to_string(),
                    name: name.clone(),
                    message: "no value: it has no defaultValue and the assignment gives none"
                        .into(),
                });
                continue;
            };
            if let Some(kind) = kind {
                let fits = match kind {
                    "String" | "DateTime" => value.is_string(),
                    "Array" => value.is_array(),
                    "Object" => value.is_object(),
                    "Boolean" => value.is_boolean(),
                    "Integer" => value.is_i64() || value.is_u64(),
                    _ => value.is_number(),
                };
                if !fits {
                    self.push(PolicyError::ParameterValue {
                        path: path.to_string(),
                        name: name.clone(),
                        message: format!("value {value} is not of type {kind}"),
                    });
                }
            }
            if let Some((_, Value::Array(allowed))) = member_ci(declaration, "allowedValues") {
                if !allowed.iter().any(|a| super::eval::loose_equals(a, value)) {
                    self.push(PolicyError::ParameterValue {
                        path: path.to_string(),
                        name: name.clone(),
                        message: format!(
                            "value {value} is not one of the allowedValues {}",
                            Value::Array(allowed.clone())
                        ),
                    });
                }
            }
            self.params.0.push((name.clone(), value.clone()));
        }
        for name in given.keys() {
            if !declared.keys().any(|d| d.eq_ignore_ascii_case(name)) {
                self.push(PolicyError::ParameterValue {
                    path: format!("assignment.parameters.{name}"),
                    name: name.clone(),
                    message: "the definition does not declare it".into(),
                });
            }
        }
    }

    /// Compile a JSON value that may be an expression string.
    fn expression(&mut self, value: &Value, path: &JsonPath) -> Option<Expr> {
        match value {
            Value::String(text) if is_expression(text) => {
                match expr::compile(text, path, &self.params) {
                    Ok(expr) => Some(expr),
                    Err(error) => {
                        self.push(error);
                        None
                    }
                }
            }
            Value::String(text) => {
                Some(Expr::Const(Value::String(literal_string(text).to_owned())))
            }
            other => Some(Expr::Const(other.clone())),
        }
    }

    /// A value that must be known at load time (field names, effects).
    fn constant_string(&mut self, value: &Value, path: &JsonPath, what: &str) -> Option<String> {
        match self.expression(value, path)? {
            Expr::Const(Value::String(text)) => Some(text),
            _ => {
                self.push(PolicyError::shape(
                    path,
                    format!("expected {what} (a string, or an expression over parameters)"),
                ));
                None
            }
        }
    }

    fn field(&mut self, value: &Value, path: &JsonPath) -> Option<FieldPath> {
        let name = self.constant_string(value, path, "a field name")?;
        let field = FieldPath::parse(&name);
        if field.is_none() {
            self.push(PolicyError::UnknownAlias {
                path: path.to_string(),
                alias: name,
            });
        }
        field
    }

    fn condition(&mut self, value: &Value, path: &JsonPath) -> Option<Cond> {
        if self.depth >= MAX_CONDITION_DEPTH {
            self.push(PolicyError::shape(
                path,
                format!("conditions nested deeper than {MAX_CONDITION_DEPTH} levels"),
            ));
            return None;
        }
        self.depth += 1;
        let cond = self.condition_at_depth(value, path);
        self.depth -= 1;
        cond
    }

    fn condition_at_depth(&mut self, value: &Value, path: &JsonPath) -> Option<Cond> {
        let Some(object) = value.as_object() else {
            self.push(PolicyError::shape(path, "expected a condition object"));
            return None;
        };
        for logical in ["allOf", "anyOf", "not"] {
            let Some((key, inner)) = member_ci(object, logical) else {
                continue;
            };
            let inner_path = path.key(key);
            if let Some(other) = object.keys().find(|k| k.as_str() != key) {
                self.push(PolicyError::shape(
                    &path.key(other),
                    format!("'{key}' must be alone in its object"),
                ));
            }
            if logical == "not" {
                return self
                    .condition(inner, &inner_path)
                    .map(|c| Cond::Not(Box::new(c)));
            }
            let Some(items) = inner.as_array().filter(|items| !items.is_empty()) else {
                self.push(PolicyError::shape(
                    &inner_path,
                    "expected a non-empty array of conditions",
                ));
                return None;
            };
            let mut conditions = Vec::with_capacity(items.len());
            let mut complete = true;
            for (i, item) in items.iter().enumerate() {
                match self.condition(item, &inner_path.index(i)) {
                    Some(c) => conditions.push(c),
                    None => complete = false,
                }
            }
            if !complete {
                return None;
            }
            return Some(if logical == "allOf" {
                Cond::AllOf(conditions)
            } else {
                Cond::AnyOf(conditions)
            });
        }
        self.leaf(object, path)
            .map(|leaf| Cond::Leaf(Box::new(leaf)))
    }

    fn leaf(&mut self, object: &Map<String, Value>, path: &JsonPath) -> Option<Leaf> {
        if let Some((key, _)) = member_ci(object, "count") {
            self.push(PolicyError::shape(
                &path.key(key),
                "count expressions are not supported",
            ));
            return None;
        }
        let field = member_ci(object, "field");
        let value = member_ci(object, "value");
        let (subject, subject_text) = match (field, value) {
            (Some((key, name)), None) => {
                let field = self.field(name, &path.key(key));
                let text = format!(
                    "field '{}'",
                    field
                        .as_ref()
                        .map_or_else(|| render(name), |f| f.name.clone())
                );
                (field.map(Subject::Field), text)
            }
            (None, Some((key, value))) => (
                self.expression(value, &path.key(key)).map(Subject::Value),
                format!("value {}", render(value)),
            ),
            (Some(_), Some((key, _))) => {
                self.push(PolicyError::shape(
                    &path.key(key),
                    "a condition has 'field' or 'value', not both",
                ));
                (None, String::new())
            }
            (None, None) => {
                self.push(PolicyError::shape(
                    path,
                    "expected 'field' or 'value' with an operator, or allOf/anyOf/not",
                ));
                (None, String::new())
            }
        };
        let mut op_found: Option<(Op, &str, &Value)> = None;
        for (key, operand) in object {
            if ["field", "value"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(key))
            {
                continue;
            }
            let Some(op) = Op::parse(key) else {
                self.push(PolicyError::UnknownOperator {
                    path: path.key(key).to_string(),
                    operator: key.clone(),
                });
                continue;
            };
            if let Some((_, first, _)) = op_found {
                self.push(PolicyError::shape(
                    &path.key(key),
                    format!("one operator per condition; already has '{first}'"),
                ));
                continue;
            }
            op_found = Some((op, key, operand));
        }
        let Some((op, key, raw)) = op_found else {
            if subject.is_some() {
                self.push(PolicyError::shape(
                    path,
                    "missing an operator (equals, exists, in, like, …)",
                ));
            }
            return None;
        };
        let op_path = path.key(key);
        let operand = self.operand(op, raw, &op_path)?;
        let operand_text = match &operand {
            Operand::Exists(b) => b.to_string(),
            Operand::Value(_) => render(raw),
        };
        Some(Leaf {
            path: path.relative_to(&self.if_path).into(),
            text: format!("{subject_text} {} {operand_text}", op.name()).into(),
            subject: subject?,
            op,
            operand,
        })
    }

    fn operand(&mut self, op: Op, raw: &Value, path: &JsonPath) -> Option<Operand> {
        let expr = self.expression(raw, path)?;
        match (op, &expr) {
            (Op::Exists, Expr::Const(Value::Bool(b))) => Some(Operand::Exists(*b)),
            (Op::Exists, Expr::Const(Value::String(s))) if s.eq_ignore_ascii_case("true") => {
                Some(Operand::Exists(true))
            }
            (Op::Exists, Expr::Const(Value::String(s))) if s.eq_ignore_ascii_case("false") => {
                Some(Operand::Exists(false))
            }
            (Op::Exists, _) => {
                self.push(PolicyError::shape(
                    path,
                    format!("exists takes true or false (or \"true\"/\"false\"), got {raw}"),
                ));
                None
            }
            (Op::In | Op::NotIn, Expr::Const(value)) if !value.is_array() => {
                self.push(PolicyError::shape(
                    path,
                    format!("{} takes an array, got {value}", op.name()),
                ));
                None
            }
            (Op::Like | Op::NotLike, Expr::Const(value)) if !value.is_string() => {
                self.push(PolicyError::shape(
                    path,
                    format!("{} takes a string pattern, got {value}", op.name()),
                ));
                None
            }
            _ => Some(Operand::Value(expr)),
        }
    }

    fn then(&mut self, value: &Value, path: &JsonPath) -> Option<(Effect, Vec<AppendSpec>)> {
        let Some(object) = value.as_object() else {
            self.push(PolicyError::shape(path, "expected an object with 'effect'"));
            return None;
        };
        let effect = match member_ci(object, "effect") {
            None => {
                self.push(PolicyError::shape(&path.key("effect"), "missing"));
                None
            }
            Some((key, raw)) => {
                let effect_path = path.key(key);
                self.constant_string(raw, &effect_path, "an effect name")
                    .and_then(|name| match name.to_ascii_lowercase().as_str() {
                        "append" => Some(Effect::Append),
                        "audit" => Some(Effect::Audit),
                        "disabled" => Some(Effect::Disabled),
                        _ => {
                            self.push(PolicyError::UnknownEffect {
                                path: effect_path.to_string(),
                                effect: name,
                            });
                            None
                        }
                    })
            }
        };
        let mut details = Vec::new();
        match member_ci(object, "details") {
            None if effect == Some(Effect::Append) => {
                self.push(PolicyError::shape(
                    &path.key("details"),
                    "append needs a details array of {field, value}",
                ));
            }
            None => {}
            Some((key, raw)) => {
                let details_path = path.key(key);
                match raw.as_array() {
                    Some(items) if !items.is_empty() => {
                        for (i, item) in items.iter().enumerate() {
                            if let Some(spec) = self.append_spec(item, &details_path.index(i)) {
                                details.push(spec);
                            }
                        }
                    }
                    // Other effects (e.g. a parameterised Audit) may carry unrelated details.
                    _ if effect != Some(Effect::Append) => {}
                    _ => self.push(PolicyError::shape(
                        &details_path,
                        "expected a non-empty array of {field, value}",
                    )),
                }
            }
        }
        Some((effect?, details))
    }

    fn append_spec(&mut self, value: &Value, path: &JsonPath) -> Option<AppendSpec> {
        let Some(object) = value.as_object() else {
            self.push(PolicyError::shape(path, "expected {field, value}"));
            return None;
        };
        let field = match member_ci(object, "field") {
            Some((key, name)) => self.field(name, &path.key(key)),
            None => {
                self.push(PolicyError::shape(&path.key("field"), "missing"));
                None
            }
        };
        let value = match member_ci(object, "value") {
            Some((key, value)) => self.template(value, &path.key(key)),
            None => {
                self.push(PolicyError::shape(&path.key("value"), "missing"));
                None
            }
        };
        if let Some(field) = &field {
            if field.name.contains("[*]") {
                self.push(PolicyError::shape(
                    &path.key("field"),
                    "append to a [*] alias is not supported",
                ));
                return None;
            }
        }
        Some(AppendSpec {
            field: field?,
            value: value?,
        })
    }

    fn template(&mut self, value: &Value, path: &JsonPath) -> Option<Template> {
        let template = match value {
            Value::String(text) if is_expression(text) => match self.expression(value, path)? {
                Expr::Const(value) => Template::Const(value),
                expr => Template::Expr(expr),
            },
            Value::String(text) => Template::Const(Value::String(literal_string(text).to_owned())),
            Value::Array(items) => {
                let items = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.template(item, &path.index(i)))
                    .collect::<Option<Vec<_>>>()?;
                if items.iter().all(|t| matches!(t, Template::Const(_))) {
                    Template::Const(Value::Array(
                        items
                            .into_iter()
                            .filter_map(|t| match t {
                                Template::Const(v) => Some(v),
                                _ => None,
                            })
                            .collect(),
                    ))
                } else {
                    Template::Array(items)
                }
            }
            Value::Object(members) => {
                let members = members
                    .iter()
                    .map(|(k, v)| self.template(v, &path.key(k)).map(|t| (k.clone(), t)))
                    .collect::<Option<Vec<_>>>()?;
                if members.iter().all(|(_, t)| matches!(t, Template::Const(_))) {
                    Template::Const(Value::Object(
                        members
                            .into_iter()
                            .filter_map(|(k, t)| match t {
                                Template::Const(v) => Some((k, v)),
                                _ => None,
                            })
                            .collect(),
                    ))
                } else {
                    Template::Object(members)
                }
            }
            other => Template::Const(other.clone()),
        };
        Some(template)
    }
}

/// A JSON value as a condition text shows it: strings in single quotes, the rest as JSON.
fn render(value: &Value) -> String {
    match value {
        Value::String(text) => format!("'{text}'"),
        other => other.to_string(),
    }
}

/// Which well-known thing an append supplies, for consumers that act on it.
pub(crate) fn target_of(field: &FieldPath) -> super::AppendTarget {
    match &field.known {
        Known::Schedules => super::AppendTarget::Schedules,
        Known::IdleTimeBeforeShutdown => super::AppendTarget::IdleTimeBeforeShutdown,
        Known::Tag(name) => super::AppendTarget::Tag(name.clone()),
        Known::Other => super::AppendTarget::Other(field.json_path.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(condition: Value) -> Value {
        let mut rule = json!({"then": {"effect": "audit"}});
        rule["if"] = condition;
        rule
    }

    /// A rule built as a `Value` (YAML, code) is not capped by serde_json's text limit: deep
    /// `not` nesting must be an error, not a stack overflow in loading or evaluation.
    #[test]
    fn deeply_nested_conditions_are_an_error() {
        let leaf = json!({"field": "name", "equals": "x"});
        let nest = |n: usize| {
            let mut c = leaf.clone();
            for i in 0..n {
                // Built by hand: `json!` would serialise `c` again (recursively) at each level.
                let mut m = Map::new();
                if i % 2 == 0 {
                    m.insert("not".into(), c);
                } else {
                    m.insert("allOf".into(), Value::Array(vec![c]));
                }
                c = Value::Object(m);
            }
            c
        };
        assert!(validate(&rule(nest(MAX_CONDITION_DEPTH - 1)), &Map::new()).is_empty());
        let errors = validate(&rule(nest(MAX_CONDITION_DEPTH)), &Map::new());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0]
                .to_string()
                .contains("nested deeper than 32 levels"),
            "{}",
            errors[0]
        );
        let deep = rule(nest(100_000));
        assert_eq!(validate(&deep, &Map::new()).len(), 1);
        // Dropping a 100 000-level `Value` recurses too (serde_json's own drop): unnest it
        // level by level.
        let mut v = deep;
        loop {
            let inner = match &mut v {
                Value::Object(m) => m.values_mut().next().map(Value::take),
                Value::Array(a) => a.pop(),
                _ => None,
            };
            match inner {
                Some(inner) => v = inner,
                None => break,
            }
        }
    }

    #[test]
    fn text_after_the_document_is_an_error() {
        let text = r#"{"if": {"field": "name", "equals": "x"}, "then": {"effect": "audit"}}"#;
        assert!(validate_str(text, &Map::new()).is_empty());
        let errors = validate_str(&format!("{text} {{}}"), &Map::new());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].to_string().contains("trailing"), "{}", errors[0]);
    }
}
