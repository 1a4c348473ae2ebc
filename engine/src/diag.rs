//! Problems found in input: where (instance, schedule, field), how bad, and what.

use serde::Serialize;
use std::fmt;

/// How bad a problem is: errors stop that schedule (never the fleet); warnings are advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The schedule (or instance) cannot be evaluated.
    Error,
    /// Evaluated, but probably not what the author meant, or not portable to Azure.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem inside a schedule entry, with the JSON field it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// JSON path inside the schedule entry (`cron.expression`, `recurrence.schedule.hours[1]`).
    pub field: String,
    /// What is wrong, in one line.
    pub message: String,
}

impl Problem {
    /// An error about `field`.
    pub fn error(field: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            severity: Severity::Error,
            field: field.into(),
            message: message.into(),
        }
    }

    /// A warning about `field`.
    pub fn warning(field: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            severity: Severity::Warning,
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A problem placed in the fleet: which instance and which schedule (0-based, disabled counted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The compute's name.
    pub instance: String,
    /// Index in `computeStartStop`, or `None` for a problem with the instance itself.
    pub schedule: Option<usize>,
    /// Error or warning.
    pub severity: Severity,
    /// JSON path inside the schedule entry, or inside the compute for instance problems.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl Diagnostic {
    /// Places a schedule problem in the fleet.
    pub fn at(instance: &str, schedule: Option<usize>, p: Problem) -> Diagnostic {
        Diagnostic {
            instance: instance.to_string(),
            schedule,
            severity: p.severity,
            field: p.field,
            message: p.message,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "instance '{}'", self.instance)?;
        if let Some(i) = self.schedule {
            write!(f, " schedule {i}")?;
        }
        write!(f, ": {}", self.message)
    }
}
