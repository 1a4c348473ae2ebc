//! Bracketed expressions (`"[empty(field('…'))]"`): a tokenizer, a recursive-descent parser,
//! compilation (parameters substituted, aliases checked, constants folded) and evaluation
//! against one instance.
//!
//! The language is the small part of the ARM template function language that policies use:
//! string literals in single quotes (`''` escapes a quote), numbers, function calls, and postfix
//! `.member` / `[index]`. It is a few hundred lines, so no parser crate is needed.

use std::borrow::Cow;

use serde_json::Value;

use super::alias::{member, FieldPath, Resolved};
use super::error::{JsonPath, PolicyError};

/// The functions Curfew evaluates inside `[...]` (besides `field` and `parameters`, which are
/// resolved at compile time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Empty,
    Not,
    And,
    Or,
    If,
    Equals,
    ToLower,
    ToUpper,
    Concat,
    Contains,
    Length,
    True,
    False,
    StartsWith,
    EndsWith,
    Coalesce,
    String,
}

impl Func {
    /// Name → function, with its (min, max) number of arguments.
    fn lookup(name: &str) -> Option<(Self, usize, usize)> {
        const TABLE: &[(&str, Func, usize, usize)] = &[
            ("empty", Func::Empty, 1, 1),
            ("not", Func::Not, 1, 1),
            ("and", Func::And, 2, usize::MAX),
            ("or", Func::Or, 2, usize::MAX),
            ("if", Func::If, 3, 3),
            ("equals", Func::Equals, 2, 2),
            ("toLower", Func::ToLower, 1, 1),
            ("toUpper", Func::ToUpper, 1, 1),
            ("concat", Func::Concat, 1, usize::MAX),
            ("contains", Func::Contains, 2, 2),
            ("length", Func::Length, 1, 1),
            ("true", Func::True, 0, 0),
            ("false", Func::False, 0, 0),
            ("startsWith", Func::StartsWith, 2, 2),
            ("endsWith", Func::EndsWith, 2, 2),
            ("coalesce", Func::Coalesce, 1, usize::MAX),
            ("string", Func::String, 1, 1),
        ];
        TABLE
            .iter()
            .find(|(n, ..)| n.eq_ignore_ascii_case(name))
            .map(|&(_, f, min, max)| (f, min, max))
    }
}

/// A compiled expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    /// A value known at load time (literals, parameters, folded calls).
    Const(Value),
    /// `field('alias')`: read from the instance.
    Field(FieldPath),
    /// A function over sub-expressions, at least one of which reads the instance.
    Call(Func, Vec<Expr>),
    /// `x.name`.
    Member(Box<Expr>, String),
    /// `x[i]`.
    Index(Box<Expr>, Box<Expr>),
}

/// The parameter values of one loaded definition (declared name → value), looked up
/// case-insensitively as Azure does.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Params(pub(crate) Vec<(String, Value)>);

impl Params {
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// Is this JSON string a bracketed expression (`[...]`, but not the `[[` escape)?
pub(crate) fn is_expression(text: &str) -> bool {
    text.starts_with('[') && text.ends_with(']') && !text.starts_with("[[") && text.len() >= 2
}

/// A JSON string literal with the `[[` escape undone.
pub(crate) fn literal_string(text: &str) -> &str {
    if text.starts_with("[[") {
        &text[1..]
    } else {
        text
    }
}

/// How deep an expression may nest (calls, indexes and `.member` links all count). Parsing,
/// lowering, folding and evaluation recurse once per level: without a cap, `[not(not(…))]` a
/// few thousand levels deep overflowed the stack and aborted `policy check` and `serve`.
/// Real policy expressions nest a handful of levels.
pub const MAX_EXPRESSION_DEPTH: usize = 64;

/// Compile the expression in JSON string `text` (brackets included) found at `path`.
pub(crate) fn compile(text: &str, path: &JsonPath, params: &Params) -> Result<Expr, PolicyError> {
    let chars: Vec<char> = text.chars().collect();
    let mut parser = Parser {
        chars: &chars[..chars.len() - 1],
        pos: 1,
        path,
        depth: 0,
    };
    let ast = parser.expr()?;
    parser.skip_ws();
    if parser.pos < parser.chars.len() {
        return Err(parser.error(parser.pos, "unexpected text after the expression"));
    }
    lower(ast, path, params)
}

/// Evaluate a compiled expression against one instance.
pub(crate) fn eval<'a>(expr: &'a Expr, instance: &'a Value) -> Result<Cow<'a, Value>, String> {
    match expr {
        Expr::Const(value) => Ok(Cow::Borrowed(value)),
        Expr::Field(field) => Ok(match field.resolve(instance) {
            Resolved::Missing => Cow::Owned(Value::Null),
            Resolved::One(value) => Cow::Borrowed(value),
            Resolved::Many(values) => {
                Cow::Owned(Value::Array(values.into_iter().cloned().collect()))
            }
        }),
        Expr::Call(func, args) => {
            let mut values = Vec::with_capacity(args.len());
            for arg in args {
                values.push(eval(arg, instance)?);
            }
            apply(*func, &values).map(Cow::Owned)
        }
        Expr::Member(base, name) => {
            let base = eval(base, instance)?;
            Ok(Cow::Owned(
                member(&base, name).cloned().unwrap_or(Value::Null),
            ))
        }
        Expr::Index(base, index) => {
            let base = eval(base, instance)?;
            let index = eval(index, instance)?;
            index_value(&base, &index).map(Cow::Owned)
        }
    }
}

#[derive(Debug)]
struct Ast {
    col: usize,
    kind: AstKind,
}

#[derive(Debug)]
enum AstKind {
    Str(String),
    Num(f64),
    Call(String, Vec<Ast>),
    Member(Box<Ast>, String),
    Index(Box<Ast>, Box<Ast>),
}

struct Parser<'s> {
    chars: &'s [char],
    pos: usize,
    path: &'s JsonPath,
    /// Height from the root of the node being parsed; at most [`MAX_EXPRESSION_DEPTH`].
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, pos: usize, message: impl Into<String>) -> PolicyError {
        PolicyError::Expression {
            path: self.path.to_string(),
            column: pos + 1,
            message: message.into(),
        }
    }

    fn skip_ws(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.chars.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Option<String> {
        let start = self.pos;
        while self
            .chars
            .get(self.pos)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
        {
            self.pos += 1;
        }
        (self.pos > start).then(|| self.chars[start..self.pos].iter().collect())
    }

    /// One level deeper, or the error naming the cap.
    fn descend(&mut self) -> Result<(), PolicyError> {
        self.depth += 1;
        if self.depth > MAX_EXPRESSION_DEPTH {
            return Err(self.error(
                self.pos,
                format!("expression nested deeper than {MAX_EXPRESSION_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Ast, PolicyError> {
        let entry = self.depth;
        self.descend()?;
        let ast = self.postfix();
        self.depth = entry;
        ast
    }

    /// A primary and its `.member` / `[index]` links, each link one level deeper.
    fn postfix(&mut self) -> Result<Ast, PolicyError> {
        let mut ast = self.primary()?;
        loop {
            if self.eat('.') {
                self.descend()?;
                self.skip_ws();
                let col = self.pos;
                let name = self
                    .ident()
                    .ok_or_else(|| self.error(col, "expected a property name after '.'"))?;
                ast = Ast {
                    col,
                    kind: AstKind::Member(Box::new(ast), name),
                };
            } else if self.eat('[') {
                self.descend()?;
                let col = self.pos;
                let index = self.expr()?;
                if !self.eat(']') {
                    return Err(self.error(self.pos, "expected ']'"));
                }
                ast = Ast {
                    col,
                    kind: AstKind::Index(Box::new(ast), Box::new(index)),
                };
            } else {
                return Ok(ast);
            }
        }
    }

    fn primary(&mut self) -> Result<Ast, PolicyError> {
        self.skip_ws();
        let col = self.pos;
        match self.chars.get(self.pos) {
            None => Err(self.error(col, "unexpected end of expression")),
            Some('\'') => {
                self.pos += 1;
                let mut text = String::new();
                loop {
                    match self.chars.get(self.pos) {
                        None => return Err(self.error(col, "unterminated string literal")),
                        Some('\'') if self.chars.get(self.pos + 1) == Some(&'\'') => {
                            text.push('\'');
                            self.pos += 2;
                        }
                        Some('\'') => {
                            self.pos += 1;
                            break;
                        }
                        Some(c) => {
                            text.push(*c);
                            self.pos += 1;
                        }
                    }
                }
                Ok(Ast {
                    col,
                    kind: AstKind::Str(text),
                })
            }
            Some(c) if c.is_ascii_digit() || *c == '-' => {
                self.pos += 1;
                while self
                    .chars
                    .get(self.pos)
                    .is_some_and(|c| c.is_ascii_digit() || *c == '.')
                {
                    self.pos += 1;
                }
                let text: String = self.chars[col..self.pos].iter().collect();
                let number = text
                    .parse::<f64>()
                    .map_err(|_| self.error(col, format!("'{text}' is not a number")))?;
                Ok(Ast {
                    col,
                    kind: AstKind::Num(number),
                })
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let name = self.ident().unwrap_or_default();
                if !self.eat('(') {
                    return Err(self.error(self.pos, format!("expected '(' after '{name}'")));
                }
                let mut args = Vec::new();
                if !self.eat(')') {
                    loop {
                        args.push(self.expr()?);
                        if self.eat(')') {
                            break;
                        }
                        if !self.eat(',') {
                            return Err(self.error(self.pos, "expected ',' or ')'"));
                        }
                    }
                }
                Ok(Ast {
                    col,
                    kind: AstKind::Call(name, args),
                })
            }
            Some(c) => Err(self.error(col, format!("unexpected character '{c}'"))),
        }
    }
}

fn lower(ast: Ast, path: &JsonPath, params: &Params) -> Result<Expr, PolicyError> {
    let error = |col: usize, message: String| PolicyError::Expression {
        path: path.to_string(),
        column: col + 1,
        message,
    };
    Ok(match ast.kind {
        AstKind::Str(text) => Expr::Const(Value::String(text)),
        AstKind::Num(number) => Expr::Const(number_value(number)),
        AstKind::Member(base, name) => fold(
            Expr::Member(Box::new(lower(*base, path, params)?), name),
            ast.col,
            path,
        )?,
        AstKind::Index(base, index) => fold(
            Expr::Index(
                Box::new(lower(*base, path, params)?),
                Box::new(lower(*index, path, params)?),
            ),
            ast.col,
            path,
        )?,
        AstKind::Call(name, mut args) => {
            if name.eq_ignore_ascii_case("field") || name.eq_ignore_ascii_case("parameters") {
                let literal = match (args.len(), args.pop()) {
                    (
                        1,
                        Some(Ast {
                            kind: AstKind::Str(text),
                            ..
                        }),
                    ) => text,
                    _ => return Err(error(ast.col, format!("{name}() takes one string literal"))),
                };
                if name.eq_ignore_ascii_case("field") {
                    return FieldPath::parse(&literal).map(Expr::Field).ok_or_else(|| {
                        PolicyError::UnknownAlias {
                            path: path.to_string(),
                            alias: literal,
                        }
                    });
                }
                return params
                    .get(&literal)
                    .map(|value| Expr::Const(value.clone()))
                    .ok_or_else(|| PolicyError::UnknownParameter {
                        path: path.to_string(),
                        name: literal,
                    });
            }
            let (func, min, max) = Func::lookup(&name)
                .ok_or_else(|| error(ast.col, format!("unknown function '{name}'")))?;
            if args.len() < min || args.len() > max {
                let expected = if min == max {
                    format!("{min}")
                } else if max == usize::MAX {
                    format!("at least {min}")
                } else {
                    format!("{min} to {max}")
                };
                return Err(error(
                    ast.col,
                    format!("{name}() takes {expected} argument(s), got {}", args.len()),
                ));
            }
            let args = args
                .into_iter()
                .map(|arg| lower(arg, path, params))
                .collect::<Result<Vec<_>, _>>()?;
            fold(Expr::Call(func, args), ast.col, path)?
        }
    })
}

/// Evaluate now if nothing in `expr` reads the instance.
fn fold(expr: Expr, col: usize, path: &JsonPath) -> Result<Expr, PolicyError> {
    let constant = match &expr {
        Expr::Call(_, args) => args.iter().all(|a| matches!(a, Expr::Const(_))),
        Expr::Member(base, _) => matches!(**base, Expr::Const(_)),
        Expr::Index(base, index) => matches!((&**base, &**index), (Expr::Const(_), Expr::Const(_))),
        Expr::Const(_) | Expr::Field(_) => false,
    };
    if !constant {
        return Ok(expr);
    }
    match eval(&expr, &Value::Null) {
        Ok(value) => Ok(Expr::Const(value.into_owned())),
        Err(message) => Err(PolicyError::Expression {
            path: path.to_string(),
            column: col + 1,
            message,
        }),
    }
}

fn number_value(number: f64) -> Value {
    if number.fract() == 0.0 && number.abs() < 9.0e15 {
        Value::from(number as i64)
    } else {
        serde_json::Number::from_f64(number).map_or(Value::Null, Value::Number)
    }
}

fn as_bool(func: &str, value: &Value) -> Result<bool, String> {
    value
        .as_bool()
        .ok_or_else(|| format!("{func}() expects a boolean, got {value}"))
}

fn as_str<'v>(func: &str, value: &'v Value) -> Result<&'v str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("{func}() expects a string, got {value}"))
}

/// ARM `equals`: deep equality, strings compared exactly, numbers by value.
fn arm_equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| arm_equals(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| arm_equals(v, w)))
        }
        _ => a == b,
    }
}

fn apply(func: Func, args: &[Cow<'_, Value>]) -> Result<Value, String> {
    let arg = |i: usize| -> &Value { &args[i] };
    Ok(match func {
        Func::True => Value::Bool(true),
        Func::False => Value::Bool(false),
        Func::Empty => Value::Bool(match arg(0) {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            Value::Bool(_) | Value::Number(_) => false,
        }),
        Func::Not => Value::Bool(!as_bool("not", arg(0))?),
        Func::And => {
            let mut all = true;
            for value in args {
                all &= as_bool("and", value)?;
            }
            Value::Bool(all)
        }
        Func::Or => {
            let mut any = false;
            for value in args {
                any |= as_bool("or", value)?;
            }
            Value::Bool(any)
        }
        Func::If => {
            if as_bool("if", arg(0))? {
                arg(1).clone()
            } else {
                arg(2).clone()
            }
        }
        Func::Equals => Value::Bool(arm_equals(arg(0), arg(1))),
        Func::ToLower => Value::String(as_str("toLower", arg(0))?.to_lowercase()),
        Func::ToUpper => Value::String(as_str("toUpper", arg(0))?.to_uppercase()),
        Func::Concat => {
            if args.iter().all(|a| a.is_array()) {
                Value::Array(
                    args.iter()
                        .flat_map(|a| a.as_array().into_iter().flatten().cloned())
                        .collect(),
                )
            } else {
                let mut text = String::new();
                for value in args {
                    match &**value {
                        Value::String(s) => text.push_str(s),
                        Value::Number(n) => text.push_str(&n.to_string()),
                        Value::Bool(b) => text.push_str(if *b { "True" } else { "False" }),
                        Value::Null => {}
                        other => return Err(format!("concat() cannot join {other} with strings")),
                    }
                }
                Value::String(text)
            }
        }
        Func::Contains => Value::Bool(match (arg(0), arg(1)) {
            (Value::Null, _) => false,
            (Value::String(s), Value::String(needle)) => s.contains(needle.as_str()),
            (Value::String(s), other @ (Value::Number(_) | Value::Bool(_))) => {
                s.contains(&other.to_string())
            }
            (Value::Array(items), needle) => items.iter().any(|item| arm_equals(item, needle)),
            (Value::Object(_), Value::String(key)) => member(arg(0), key).is_some(),
            (container, needle) => {
                return Err(format!(
                    "contains() cannot look for {needle} in {container}"
                ))
            }
        }),
        Func::Length => Value::from(match arg(0) {
            Value::Null => 0,
            Value::String(s) => s.chars().count(),
            Value::Array(a) => a.len(),
            Value::Object(o) => o.len(),
            other => {
                return Err(format!(
                    "length() expects a string, array or object, got {other}"
                ))
            }
        }),
        Func::StartsWith | Func::EndsWith => {
            let name = if func == Func::StartsWith {
                "startsWith"
            } else {
                "endsWith"
            };
            let text = as_str(name, arg(0))?.to_lowercase();
            let affix = as_str(name, arg(1))?.to_lowercase();
            Value::Bool(if func == Func::StartsWith {
                text.starts_with(&affix)
            } else {
                text.ends_with(&affix)
            })
        }
        Func::Coalesce => args
            .iter()
            .find(|a| !a.is_null())
            .map_or(Value::Null, |a| (**a).clone()),
        Func::String => match arg(0) {
            Value::String(s) => Value::String(s.clone()),
            other => Value::String(other.to_string()),
        },
    })
}

fn index_value(base: &Value, index: &Value) -> Result<Value, String> {
    match (base, index) {
        (Value::Array(items), Value::Number(n)) => {
            let i = n
                .as_u64()
                .ok_or_else(|| format!("index {n} is not a non-negative integer"))?;
            items
                .get(usize::try_from(i).unwrap_or(usize::MAX))
                .cloned()
                .ok_or_else(|| format!("index {i} is out of range (length {})", items.len()))
        }
        (Value::Object(_), Value::String(key)) => {
            Ok(member(base, key).cloned().unwrap_or(Value::Null))
        }
        (Value::Null, _) => Ok(Value::Null),
        (base, index) => Err(format!("cannot index {base} with {index}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params() -> Params {
        Params(vec![
            ("effect".into(), json!("Audit")),
            ("idle".into(), json!("PT45M")),
            ("sizes".into(), json!(["a", "b"])),
            ("obj".into(), json!({"k": 1})),
        ])
    }

    fn run(text: &str, instance: &Value) -> Result<Value, String> {
        let expr =
            compile(text, &JsonPath::root().key("value"), &params()).map_err(|e| e.to_string())?;
        eval(&expr, instance).map(Cow::into_owned)
    }

    #[test]
    fn functions_evaluate() {
        let instance = json!({"name": "ci1", "properties": {"computeType": "ComputeInstance",
            "properties": {"idleTimeBeforeShutdown": ""}}});
        let cases: &[(&str, Value)] = &[
            ("[true()]", json!(true)),
            ("[false()]", json!(false)),
            ("[not(false())]", json!(true)),
            ("[and(true(), false())]", json!(false)),
            ("[or(true(), false())]", json!(true)),
            ("[if(true(), 'a', 'b')]", json!("a")),
            ("[equals(1, 1)]", json!(true)),
            ("[equals('a', 'A')]", json!(false)),
            ("[toLower('AbC')]", json!("abc")),
            ("[toUpper('AbC')]", json!("ABC")),
            ("[concat('a', 'b', 1)]", json!("ab1")),
            ("[concat(parameters('sizes'), parameters('sizes'))]", json!(["a", "b", "a", "b"])),
            ("[contains('abc', 'b')]", json!(true)),
            ("[contains('abc', 'B')]", json!(false)),
            ("[contains(parameters('sizes'), 'b')]", json!(true)),
            ("[contains(parameters('obj'), 'K')]", json!(true)),
            ("[length('abc')]", json!(3)),
            ("[length(parameters('sizes'))]", json!(2)),
            ("[startsWith('ComputeInstance', 'compute')]", json!(true)),
            ("[endsWith('ComputeInstance', 'INSTANCE')]", json!(true)),
            ("[coalesce(field('tags'), 'x')]", json!("x")),
            ("[string(1)]", json!("1")),
            ("[parameters('effect')]", json!("Audit")),
            ("[PARAMETERS('Idle')]", json!("PT45M")),
            ("[parameters('obj').k]", json!(1)),
            ("[parameters('sizes')[1]]", json!("b")),
            ("['it''s']", json!("it's")),
            ("[ concat( 'a' , 'b' ) ]", json!("ab")),
            ("[-2.5]", json!(-2.5)),
            ("[field('name')]", json!("ci1")),
            ("[empty(field('Microsoft.MachineLearningServices/workspaces/computes/idleTimeBeforeShutdown'))]", json!(true)),
            ("[empty(field('tags'))]", json!(true)),
            ("[toLower(field('Microsoft.MachineLearningServices/workspaces/computes/computeType'))]", json!("computeinstance")),
            ("[length(field('name'))]", json!(3)),
        ];
        for (text, expected) in cases {
            assert_eq!(run(text, &instance).as_ref(), Ok(expected), "{text}");
        }
    }

    #[test]
    fn errors_name_the_column() {
        let cases = [
            (
                "[foo(1)]",
                "value: expression error at column 2: unknown function 'foo'",
            ),
            (
                "[concat('a']",
                "value: expression error at column 12: expected ',' or ')'",
            ),
            (
                "['abc]",
                "value: expression error at column 2: unterminated string literal",
            ),
            (
                "[not(1, 2)]",
                "value: expression error at column 2: not() takes 1 argument(s), got 2",
            ),
            (
                "[not('x')]",
                "value: expression error at column 2: not() expects a boolean, got \"x\"",
            ),
            ("[parameters('nope')]", "value: unknown parameter 'nope'"),
            (
                "[field('Microsoft.MachineLearningServices/workspaces/computes/nope')]",
                "value: unknown alias 'Microsoft.MachineLearningServices/workspaces/computes/nope'",
            ),
            (
                "[true() x]",
                "value: expression error at column 9: unexpected text after the expression",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(run(text, &Value::Null), Err(expected.to_owned()), "{text}");
        }
    }

    /// `[not(not(…))]` thousands deep overflowed the stack (an abort, not an error); so did a
    /// long `.member` chain, which the parser builds in a loop but lowering walks recursively.
    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let cap = MAX_EXPRESSION_DEPTH;
        let nested = |n: usize| format!("[{}true(){}]", "not(".repeat(n), ")".repeat(n));
        assert_eq!(
            run(&nested(cap - 1), &Value::Null),
            Ok(json!((cap - 1).is_multiple_of(2)))
        );
        for n in [cap, 5_000, 100_000] {
            let err = run(&nested(n), &Value::Null).unwrap_err();
            assert!(err.contains("nested deeper than 64 levels"), "{n}: {err}");
        }
        let chain = |n: usize| format!("[parameters('obj'){}]", ".k".repeat(n));
        assert_eq!(run(&chain(1), &Value::Null), Ok(json!(1)));
        assert!(run(&chain(100_000), &Value::Null)
            .unwrap_err()
            .contains("nested deeper"));
        let index = |n: usize| format!("[parameters('sizes'){}]", "[0]".repeat(n));
        assert!(run(&index(100_000), &Value::Null)
            .unwrap_err()
            .contains("nested deeper"));
        let inner = |n: usize| format!("[{}0{}]", "parameters('sizes')[".repeat(n), "]".repeat(n));
        assert!(run(&inner(100_000), &Value::Null)
            .unwrap_err()
            .contains("nested deeper"));
    }

    #[test]
    fn recognises_expressions_and_escapes() {
        assert!(is_expression("[x()]"));
        assert!(!is_expression("[[x()]"));
        assert!(!is_expression("plain"));
        assert_eq!(literal_string("[[x]"), "[x]");
    }
}
