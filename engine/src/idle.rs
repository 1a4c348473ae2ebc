//! Idle shutdown (docs/design.md §8): activity reports from the on-instance reporter → busy or idle, the
//! threshold in force (the instance's `idleTimeBeforeShutdown`, else the policy default, within
//! 15 min–3 days), and the verdict the governor acts on.
//!
//! Pure: the governor passes the report, the record it persisted, the threshold and `now`, and
//! persists the [`IdleRecord`] it gets back. An idle stop is not decided here: the verdict gives
//! [`IdleVerdict::Idle::stop_due_at`], and the governor runs its usual pre-shutdown notification
//! and dismissal flow against that instant (lead times before it), recording the reason.
//!
//! # Example
//! ```
//! use chrono::{TimeZone, Utc};
//! use curfew_engine::idle::{self, ActivityReport, IdleVerdict, Threshold};
//!
//! let t = |h, m| Utc.with_ymd_and_hms(2026, 3, 2, h, m, 0).unwrap();
//! let threshold = Threshold::resolve("ci-alice", Some("PT30M"), None).unwrap().unwrap();
//! let quiet = ActivityReport::quiet("ci-alice", t(9, 0));
//! let record = idle::observe(None, &quiet, &threshold);
//! let (verdict, _record) = idle::idle_state(&record, &threshold, true, t(9, 10));
//! assert_eq!(
//!     verdict,
//!     IdleVerdict::Idle { since: t(9, 0), stop_due_at: t(9, 30) }
//! );
//! ```

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Shortest idle threshold Azure ML (and Curfew) accepts: 15 minutes.
pub const MIN_IDLE_THRESHOLD: TimeDelta = TimeDelta::minutes(15);
/// Longest idle threshold Azure ML (and Curfew) accepts: 3 days.
pub const MAX_IDLE_THRESHOLD: TimeDelta = TimeDelta::days(3);
/// The `schema` value of a version-1 activity report.
pub const ACTIVITY_SCHEMA_V1: &str = "curfew.activity/v1";
/// The field that carries an instance's own threshold, as errors name it.
pub const IDLE_FIELD: &str = "properties.properties.idleTimeBeforeShutdown";

/// A problem with an idle threshold or an activity report. Never retryable: the input must change.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdleError {
    /// An ISO 8601 duration (`PT30M`, `PT1H30M`, `P1D`) that does not parse.
    #[error("{instance}: {field}: '{value}' is not an ISO 8601 duration such as PT30M, PT1H30M or P1D: {message}")]
    Duration {
        /// The instance whose threshold it is.
        instance: String,
        /// Where the value came from (the instance field, or `policy '<name>'`).
        field: String,
        /// The value as written.
        value: String,
        /// What is wrong.
        message: String,
    },
    /// A report whose signature, binding or freshness does not verify (wrong key, tampered,
    /// replayed, no nonce, a name that is not its compute's, a time far from its timestamp).
    #[error("activity report for '{instance}': {message}")]
    Signature {
        /// The instance the report claims to be from.
        instance: String,
        /// What did not verify.
        message: String,
    },
    /// An activity report that is not the documented JSON (`docs/idle.md`).
    #[error("activity report: {path}: {message}")]
    Report {
        /// JSON path of the problem (`.` for the whole document).
        path: String,
        /// What serde said.
        message: String,
    },
}

/// One activity report, as the reporter posts it (schema in `docs/idle.md`). Counts of things
/// open on the instance at `at`; unknown fields are ignored, missing counts are zero.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ActivityReport {
    /// Schema version, [`ACTIVITY_SCHEMA_V1`].
    pub schema: String,
    /// The compute instance's name.
    pub instance: String,
    /// The compute's ARM id; a signed report must carry it, since its key is bound to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compute_id: Option<String>,
    /// When the reporter looked.
    #[serde(with = "rfc3339")]
    pub at: DateTime<Utc>,
    /// A value the reporter draws afresh for every report, so that a replay is recognised
    /// ([`NONCE_CHARS`]; required in signed reports).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Jupyter kernels running (open notebooks keep the instance busy, even when quiet).
    pub kernels: u32,
    /// Jupyter terminals open.
    pub terminals: u32,
    /// Jupyter sessions (notebook/console ↔ kernel bindings).
    pub sessions: u32,
    /// SSH sessions (logged-in users or established connections to the SSH port).
    pub ssh: u32,
    /// VS Code remote connections (server processes with an established connection).
    pub vscode: u32,
    /// Azure ML jobs running on the instance.
    pub azureml_runs: u32,
    /// Custom application containers running; any one keeps the instance busy forever.
    pub custom_apps: Vec<String>,
}

mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| serde::de::Error::custom(format!("'{text}' is not RFC 3339: {e}")))
    }
}

impl ActivityReport {
    /// A report of nothing open (for tests and simulations).
    pub fn quiet(instance: &str, at: DateTime<Utc>) -> Self {
        Self {
            schema: ACTIVITY_SCHEMA_V1.to_owned(),
            instance: instance.to_owned(),
            at,
            ..Self::default()
        }
    }

    /// Reads a report from the reporter's JSON; errors name the JSON path.
    pub fn from_json(text: &str) -> Result<Self, IdleError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let report: Self = serde_path_to_error::deserialize(de).map_err(|e| IdleError::Report {
            path: e.path().to_string(),
            message: e.inner().to_string(),
        })?;
        if report.instance.trim().is_empty() {
            return Err(IdleError::Report {
                path: "instance".to_owned(),
                message: "missing or empty".to_owned(),
            });
        }
        Ok(report)
    }

    /// What keeps the instance busy, in words; empty when it is idle.
    pub fn activity(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut count = |n: u32, what: &str| {
            if n > 0 {
                out.push(format!("{n} {what}"));
            }
        };
        count(self.kernels, "Jupyter kernel(s)");
        count(self.terminals, "terminal(s)");
        count(self.sessions, "Jupyter session(s)");
        count(self.ssh, "SSH session(s)");
        count(self.vscode, "VS Code connection(s)");
        count(self.azureml_runs, "Azure ML run(s)");
        for app in &self.custom_apps {
            out.push(format!("custom app '{app}'"));
        }
        out
    }

    /// Whether anything is open (docs/design.md §8: kernels, terminals, runs, SSH, VS Code, custom apps).
    pub fn is_busy(&self) -> bool {
        self.kernels > 0
            || self.terminals > 0
            || self.sessions > 0
            || self.ssh > 0
            || self.vscode > 0
            || self.azureml_runs > 0
            || !self.custom_apps.is_empty()
    }
}

/// How far a report's `X-Curfew-Timestamp`, and its own `at`, may be from `now` (either way)
/// before it is refused: the replay window, within which every nonce is taken once.
pub const SIGNATURE_MAX_SKEW: TimeDelta = TimeDelta::minutes(5);
/// How long after a taken report's own `at` its nonce mark is kept: a replay is accepted by
/// the signature check only while `now` is within [`SIGNATURE_MAX_SKEW`] of that `at`, so
/// anything past twice the skew is already refused by its time; one hour leaves a wide margin.
pub const NONCE_MARK_KEEP: TimeDelta = TimeDelta::hours(1);

/// The instant before which nonce marks may be swept at `now` (marks are timed by their
/// report's signed `at`, see [`NONCE_MARK_KEEP`]).
pub fn nonce_marks_sweep_before(now: DateTime<Utc>) -> DateTime<Utc> {
    now - NONCE_MARK_KEEP
}
/// The lengths a nonce may have (characters of `[A-Za-z0-9_-]`; the reporter sends 32 hex).
pub const NONCE_CHARS: std::ops::RangeInclusive<usize> = 16..=128;

/// The key one compute instance signs its reports with, as the text an operator writes into
/// its reporter's key file: the lower-case hex of HMAC-SHA256(master key, the compute's ARM
/// id in lower case); its bytes are the HMAC key. Bound to the id (and through it to the
/// name, its last segment), so a key read on one instance cannot sign another's reports.
/// `printf '%s' "$id_lowercase" | openssl dgst -sha256 -hmac "$MASTER"` gives the same hex.
pub fn instance_key(master: &[u8], compute_id: &str) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, master);
    let tag = ring::hmac::sign(&key, compute_id.trim().to_ascii_lowercase().as_bytes());
    hex(tag.as_ref()).into_bytes()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A report whose signature, binding to its compute and freshness were checked
/// ([`verify_signed_report`]); what is left to check needs the world (the fleet, the nonces
/// already taken).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReport {
    /// The report.
    pub report: ActivityReport,
    /// Its compute's ARM id, lower-cased: the key it is stored under.
    pub compute_id: String,
    /// Its nonce, to be taken once within the replay window.
    pub nonce: String,
}

/// The last segment of a compute ARM id (`…/workspaces/<ws>/computes/<name>`), or `None` when
/// `id` is not one.
pub fn compute_name(id: &str) -> Option<&str> {
    let segments: Vec<&str> = id.trim().trim_end_matches('/').split('/').collect();
    let shaped = segments.len() == 11
        && segments[0].is_empty()
        && segments[1].eq_ignore_ascii_case("subscriptions")
        && segments[3].eq_ignore_ascii_case("resourceGroups")
        && segments[5].eq_ignore_ascii_case("providers")
        && segments[6].eq_ignore_ascii_case("Microsoft.MachineLearningServices")
        && segments[7].eq_ignore_ascii_case("workspaces")
        && segments[9].eq_ignore_ascii_case("computes")
        && segments.iter().skip(1).all(|s| !s.is_empty());
    shaped.then(|| segments[10])
}

/// Checks a signed report as it arrived (the exact body bytes and its two headers) against the
/// master key at `now`, before anything is looked up: the body is a report whose `computeId`
/// is a compute ARM id ending in its `instance` name; the signature is that id's
/// [`instance_key`]'s over `"<timestamp>.<body>"` (constant-time); the timestamp and the
/// report's `at` are within [`SIGNATURE_MAX_SKEW`] of `now`; and it carries a nonce.
pub fn verify_signed_report(
    master: &[u8],
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<VerifiedReport, IdleError> {
    let text = std::str::from_utf8(body).map_err(|_| IdleError::Report {
        path: ".".to_owned(),
        message: "not UTF-8".to_owned(),
    })?;
    let report = ActivityReport::from_json(text)?;
    let fail = |message: String| IdleError::Signature {
        instance: report.instance.clone(),
        message,
    };
    let Some(id) = report.compute_id.as_deref() else {
        return Err(fail(
            "no computeId: a report's key is bound to its compute's ARM id".to_owned(),
        ));
    };
    match compute_name(id) {
        Some(name) if name.eq_ignore_ascii_case(report.instance.trim()) => {}
        Some(name) => {
            return Err(fail(format!(
            "computeId names compute '{name}', not '{}': a report speaks for its own compute only",
            report.instance
        )))
        }
        None => return Err(fail(format!("computeId '{id}' is not a compute ARM id"))),
    }
    let key = instance_key(master, id);
    verify_report(&key, &report.instance, timestamp, signature, body, now)?;
    if (report.at - now).abs() > SIGNATURE_MAX_SKEW {
        return Err(fail(format!(
            "its time {} is more than 5 minutes from now ({})",
            report.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )));
    }
    let nonce = match report.nonce.as_deref().map(str::trim) {
        Some(n)
            if NONCE_CHARS.contains(&n.len())
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            n.to_owned()
        }
        Some(_) => {
            return Err(fail(
                "nonce must be 16-128 characters of A-Z, a-z, 0-9, '-' or '_'".to_owned(),
            ))
        }
        None => {
            return Err(fail(
                "no nonce: every signed report carries a fresh one (replay protection)".to_owned(),
            ))
        }
    };
    Ok(VerifiedReport {
        compute_id: id.trim().to_ascii_lowercase(),
        nonce,
        report,
    })
}

/// The `X-Curfew-Signature` value for `body` at `timestamp` (unix seconds): `sha256=<hex>`.
pub fn sign_report(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let tag = ctx.sign();
    let mut hex = String::with_capacity(71);
    hex.push_str("sha256=");
    for b in tag.as_ref() {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

/// Checks a report's `X-Curfew-Timestamp` and `X-Curfew-Signature` headers against the exact
/// body bytes (constant-time) and `now` (at most [`SIGNATURE_MAX_SKEW`] apart).
pub fn verify_report(
    key: &[u8],
    instance: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), IdleError> {
    let fail = |message: String| IdleError::Signature {
        instance: instance.to_owned(),
        message,
    };
    let ts: i64 = timestamp.trim().parse().map_err(|_| {
        fail(format!(
            "X-Curfew-Timestamp '{timestamp}' is not unix seconds"
        ))
    })?;
    // `abs_diff`, not `(now - ts).abs()`: a hostile timestamp such as i64::MIN must not overflow.
    if now.timestamp().abs_diff(ts) > SIGNATURE_MAX_SKEW.num_seconds().unsigned_abs() {
        return Err(fail(format!(
            "X-Curfew-Timestamp {ts} is more than 5 minutes from now ({})",
            now.timestamp()
        )));
    }
    let hex = signature
        .trim()
        .strip_prefix("sha256=")
        .ok_or_else(|| fail("X-Curfew-Signature must start with 'sha256='".to_owned()))?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(fail("X-Curfew-Signature is not 64 hex digits".to_owned()));
    }
    let tag: Vec<u8> = (0..32)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let mut message = Vec::with_capacity(body.len() + 12);
    message.extend_from_slice(ts.to_string().as_bytes());
    message.push(b'.');
    message.extend_from_slice(body);
    ring::hmac::verify(&key, &message, &tag)
        .map_err(|_| fail("signature does not match".to_owned()))
}

/// Where the threshold in force came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum ThresholdSource {
    /// The instance's own `idleTimeBeforeShutdown`.
    Instance,
    /// A policy default (`Assessment::supplied(&AppendTarget::IdleTimeBeforeShutdown)`).
    Policy {
        /// The policy's display name (or assignment), for reasons and reports.
        policy: String,
    },
}

/// The idle threshold in force for one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Threshold {
    /// After how long without activity the instance is stopped (already within bounds).
    #[serde(serialize_with = "serialize_seconds")]
    pub duration: TimeDelta,
    /// The value as written (before clamping).
    pub written: String,
    /// Whose value it is.
    pub source: ThresholdSource,
    /// Set when the written value was outside 15 min–3 days and was clamped.
    pub warning: Option<String>,
}

fn serialize_seconds<S: serde::Serializer>(d: &TimeDelta, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(d.num_seconds())
}

impl Threshold {
    /// The threshold for `instance`: its own `idleTimeBeforeShutdown` if set and non-empty, else
    /// the policy default `(value, policy name)`, else `None` (idle shutdown off). Values outside
    /// 15 min–3 days are clamped with a warning; an unreadable value is an error naming the field
    /// (the instance's field or the policy), and does not fall back silently.
    pub fn resolve(
        instance: &str,
        own: Option<&str>,
        policy_default: Option<(&str, &str)>,
    ) -> Result<Option<Self>, IdleError> {
        let (written, field, source) = match own.map(str::trim).filter(|s| !s.is_empty()) {
            Some(own) => (own, IDLE_FIELD.to_owned(), ThresholdSource::Instance),
            None => match policy_default {
                Some((value, policy)) if !value.trim().is_empty() => (
                    value.trim(),
                    format!("policy '{policy}' idleTimeBeforeShutdown"),
                    ThresholdSource::Policy {
                        policy: policy.to_owned(),
                    },
                ),
                _ => return Ok(None),
            },
        };
        let parsed = parse_iso8601_duration(written).map_err(|message| IdleError::Duration {
            instance: instance.to_owned(),
            field: field.clone(),
            value: written.to_owned(),
            message,
        })?;
        let (duration, warning) = clamp(parsed);
        Ok(Some(Self {
            duration,
            written: written.to_owned(),
            source,
            warning: warning.map(|w| format!("{instance}: {field}: '{written}' {w}")),
        }))
    }

    /// A threshold of `duration` (clamped), from the instance, for tests and simulations.
    pub fn of(duration: TimeDelta) -> Self {
        let (duration, warning) = clamp(duration);
        Self {
            duration,
            written: format!("PT{}M", duration.num_minutes()),
            source: ThresholdSource::Instance,
            warning,
        }
    }
}

/// Checks an instance's own `idleTimeBeforeShutdown` the way [`Threshold::resolve`] reads it,
/// for `validate`: a value that does not parse is an error (the instance is then never
/// idle-stopped, and no policy default replaces it); one outside 15 min–3 days is a warning
/// (Azure ML refuses it, and Curfew clamps it). Absent or empty is no problem.
pub fn check_threshold(written: Option<&str>) -> Option<crate::diag::Problem> {
    let written = written.map(str::trim).filter(|s| !s.is_empty())?;
    match parse_iso8601_duration(written) {
        Err(message) => Some(crate::diag::Problem::error(
            IDLE_FIELD,
            format!(
                "'{written}' is not an ISO 8601 duration such as PT30M, PT1H30M or P1D: \
                 {message}; Curfew does not idle-stop this instance until it is fixed"
            ),
        )),
        Ok(d) => clamp(d).1.map(|w| {
            crate::diag::Problem::warning(
                IDLE_FIELD,
                format!("'{written}' {w} (Azure ML accepts 15 minutes to 3 days)"),
            )
        }),
    }
}

fn clamp(d: TimeDelta) -> (TimeDelta, Option<String>) {
    if d < MIN_IDLE_THRESHOLD {
        (
            MIN_IDLE_THRESHOLD,
            Some("is below the 15-minute minimum; using 15 minutes".to_owned()),
        )
    } else if d > MAX_IDLE_THRESHOLD {
        (
            MAX_IDLE_THRESHOLD,
            Some("is above the 3-day maximum; using 3 days".to_owned()),
        )
    } else {
        (d, None)
    }
}

/// Parses an ISO 8601 duration of days, hours, minutes and seconds: `PT30M`, `PT1H30M`, `P1D`,
/// `P1DT12H`, `P2W`, `PT90S`, `PT0.5H` (a fraction only on the last number). Years and months
/// are refused: their length is ambiguous.
pub fn parse_iso8601_duration(text: &str) -> Result<TimeDelta, String> {
    let upper = text.trim().to_ascii_uppercase();
    let Some(body) = upper.strip_prefix('P') else {
        return Err("must start with 'P'".to_owned());
    };
    if body.is_empty() || body == "T" {
        return Err("has no amount".to_owned());
    }
    let mut in_time = false;
    let mut number = String::new();
    let mut total_ms: f64 = 0.0;
    let mut seen_fraction = false;
    let mut last_rank = 0u8;
    for c in body.chars() {
        match c {
            'T' if !in_time && number.is_empty() => {
                in_time = true;
                last_rank = last_rank.max(2);
            }
            '0'..='9' => number.push(c),
            '.' | ',' => number.push('.'),
            unit => {
                if number.is_empty() {
                    return Err(format!("'{unit}' has no number before it"));
                }
                if seen_fraction {
                    return Err("only the last number may have a fraction".to_owned());
                }
                let (rank, ms) = match (in_time, unit) {
                    (false, 'W') => (1, 7.0 * 86_400_000.0),
                    (false, 'D') => (2, 86_400_000.0),
                    (true, 'H') => (3, 3_600_000.0),
                    (true, 'M') => (4, 60_000.0),
                    (true, 'S') => (5, 1_000.0),
                    (false, 'Y') | (false, 'M') => {
                        return Err("years and months have no fixed length; use days".to_owned())
                    }
                    (false, 'H') | (false, 'S') => {
                        return Err(format!("'{unit}' must come after 'T' (e.g. PT30M)"))
                    }
                    _ => return Err(format!("unexpected '{unit}'")),
                };
                if rank <= last_rank && !(rank == 2 && last_rank == 1) {
                    return Err(format!("'{unit}' is out of order or repeated"));
                }
                last_rank = rank;
                let value: f64 = number
                    .parse()
                    .map_err(|_| format!("'{number}' is not a number"))?;
                seen_fraction = number.contains('.');
                total_ms += value * ms;
                number.clear();
            }
        }
    }
    if !number.is_empty() {
        return Err(format!("'{number}' has no unit (D, H, M or S)"));
    }
    if in_time && last_rank <= 2 {
        return Err("'T' must be followed by hours, minutes or seconds".to_owned());
    }
    if !total_ms.is_finite() || total_ms > 3_650.0 * 86_400_000.0 {
        return Err("is too long".to_owned());
    }
    // Rounded to the millisecond: bounded above, so the cast cannot overflow.
    Ok(TimeDelta::milliseconds(total_ms.round() as i64))
}

/// What the governor persists per instance between ticks (camelCase JSON).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IdleRecord {
    /// The instance.
    pub instance: String,
    /// Time of the newest report taken into account (older, late reports are ignored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_report: Option<DateTime<Utc>>,
    /// Since when the instance has been idle, as of the newest report; `None` when busy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_since: Option<DateTime<Utc>>,
    /// What kept it busy at the newest report, in words.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub activity: Vec<String>,
    /// Time of the newest busy report taken, late ones included: the idle clock never starts
    /// at or before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_busy: Option<DateTime<Utc>>,
    /// The threshold in force at the last evaluation, in seconds (0 before the first).
    pub threshold_seconds: i64,
}

/// The idle verdict for one instance at `now`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "verdict")]
pub enum IdleVerdict {
    /// Something is open on the instance.
    Busy {
        /// What, in words ("2 Jupyter kernel(s)", "custom app 'rstudio'").
        activity: Vec<String>,
    },
    /// Nothing open since `since`; Curfew stops it at `stop_due_at` unless dismissed. The
    /// governor notifies at its lead times before `stop_due_at`; due when `now >= stop_due_at`.
    Idle {
        /// Start of the idle period (reset when the threshold was shortened below it).
        since: DateTime<Utc>,
        /// `since` + threshold.
        stop_due_at: DateTime<Utc>,
    },
    /// No report for longer than the threshold (or never): reported, never stopped.
    Unknown {
        /// The newest report, if any ever arrived.
        last_report: Option<DateTime<Utc>>,
    },
    /// Idle shutdown does not apply: the instance is not running, or has no threshold.
    NotApplicable,
}

impl IdleVerdict {
    /// Whether an idle stop is due now (the governor still applies dismissals and snoozes).
    pub fn stop_due(&self, now: DateTime<Utc>) -> bool {
        matches!(self, Self::Idle { stop_due_at, .. } if now >= *stop_due_at)
    }

    /// The reason a stop would carry, or the state in words for reports.
    pub fn reason(&self, threshold: &Threshold) -> String {
        let minutes = threshold.duration.num_minutes();
        let whose = match &threshold.source {
            ThresholdSource::Instance => "idleTimeBeforeShutdown".to_owned(),
            ThresholdSource::Policy { policy } => format!("default of policy '{policy}'"),
        };
        match self {
            Self::Busy { activity } => format!("busy: {}", activity.join(", ")),
            Self::Idle { since, stop_due_at } => format!(
                "idle since {} (threshold {minutes} min, {whose}); stop due at {}",
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                stop_due_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            Self::Unknown { last_report: None } => {
                "unknown: no activity report received; not stopped".to_owned()
            }
            Self::Unknown {
                last_report: Some(at),
            } => format!(
                "unknown: no activity report since {} (longer than the {minutes}-min threshold); not stopped",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            Self::NotApplicable => "idle shutdown does not apply".to_owned(),
        }
    }
}

/// Takes one report into the record. Quiet reports older than the newest one taken are ignored
/// (queues reorder). Idle time starts at the first quiet report (conservative: activity may
/// have ended any time after the previous report), and restarts after a reporting gap longer
/// than the threshold, since nothing is known about the gap. A busy report is never ignored
/// for being late: the instance was busy then, so an idle period that began before it starts
/// again at the newest report (whatever order reports arrive in, the idle clock never starts
/// before the newest busy report).
pub fn observe(
    record: Option<&IdleRecord>,
    report: &ActivityReport,
    threshold: &Threshold,
) -> IdleRecord {
    let mut next = record.cloned().unwrap_or_else(|| IdleRecord {
        instance: report.instance.clone(),
        ..IdleRecord::default()
    });
    if let Some(last) = next.last_report.filter(|last| report.at <= *last) {
        if report.is_busy() && next.last_busy.is_none_or(|b| report.at > b) {
            next.last_busy = Some(report.at);
            match next.idle_since {
                Some(_) if report.at == last => {
                    next.idle_since = None;
                    next.activity = report.activity();
                }
                Some(since) if since <= report.at => next.idle_since = Some(last),
                _ => {}
            }
        }
        return next;
    }
    let gap = next
        .last_report
        .is_none_or(|last| report.at - last > threshold.duration);
    if report.is_busy() {
        next.idle_since = None;
        next.activity = report.activity();
        next.last_busy = Some(report.at);
    } else {
        next.activity.clear();
        if gap || next.idle_since.is_none() {
            next.idle_since = Some(report.at);
        }
    }
    next.last_report = Some(report.at);
    next
}

/// The verdict at `now`, and the record to persist (the threshold in force, and the idle clock
/// reset to `now` when the threshold was shortened below the current idle time). `running` is
/// whether the instance is Running (other states: [`IdleVerdict::NotApplicable`]).
pub fn idle_state(
    record: &IdleRecord,
    threshold: &Threshold,
    running: bool,
    now: DateTime<Utc>,
) -> (IdleVerdict, IdleRecord) {
    let mut next = record.clone();
    let limit = threshold.duration;
    let previous = TimeDelta::seconds(record.threshold_seconds);
    if let Some(since) = next.idle_since {
        if record.threshold_seconds > 0 && limit < previous && now - since >= limit {
            next.idle_since = Some(now);
        }
    }
    next.threshold_seconds = limit.num_seconds();
    if !running {
        return (IdleVerdict::NotApplicable, next);
    }
    let fresh = next.last_report.filter(|at| now - *at <= limit);
    let verdict = match (fresh, next.idle_since) {
        (None, _) => IdleVerdict::Unknown {
            last_report: next.last_report,
        },
        (Some(_), None) => IdleVerdict::Busy {
            activity: next.activity.clone(),
        },
        (Some(_), Some(since)) => IdleVerdict::Idle {
            since,
            stop_due_at: since + limit,
        },
    };
    (verdict, next)
}

/// Starts the idle clock afresh (call when the instance is started or restarted, or after an
/// idle stop was dismissed: the owner said "I am here").
pub fn reset(record: &IdleRecord, at: DateTime<Utc>) -> IdleRecord {
    IdleRecord {
        idle_since: record.idle_since.map(|_| at),
        ..record.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, h, m, 0).unwrap()
    }

    /// Found by the activity_report fuzz target: timestamps at the ends of i64 are refused as
    /// out of the window, not an overflow panic.
    #[test]
    fn extreme_signature_timestamps_are_refused_without_overflow() {
        let sig = format!("sha256={}", "0".repeat(64));
        for ts in [
            "-9223372036854775808",
            "-009223372036854775808",
            "9223372036854775807",
        ] {
            let err = verify_report(b"k", "ci-a", ts, &sig, b"{}", t(9, 0)).unwrap_err();
            assert!(
                err.to_string().contains("more than 5 minutes"),
                "{ts}: {err}"
            );
        }
    }

    fn busy(at: DateTime<Utc>) -> ActivityReport {
        ActivityReport {
            kernels: 1,
            ..ActivityReport::quiet("ci-a", at)
        }
    }

    /// The issue's attack: a quiet report dated a few minutes ahead is stored first; A's real
    /// busy report, older than it, arrives next. It must still end the idle period that began
    /// before it: the idle clock never starts before the newest busy report.
    #[test]
    fn a_late_busy_report_ends_an_idle_period_that_began_before_it() {
        let th = Threshold::of(TimeDelta::minutes(30));
        let r = observe(None, &ActivityReport::quiet("ci-a", t(9, 0)), &th);
        let r = observe(Some(&r), &ActivityReport::quiet("ci-a", t(9, 25)), &th);
        assert_eq!(r.idle_since, Some(t(9, 0)));
        let r = observe(Some(&r), &busy(t(9, 22)), &th);
        let (verdict, _) = idle_state(&r, &th, true, t(9, 31));
        assert!(!verdict.stop_due(t(9, 31)), "{verdict:?}");
        let since = r.idle_since.expect("still quiet at 9:25");
        assert!(since > t(9, 22), "idle since {since}, busy at 9:22");
        // Later quiet reports keep that start; a late busy one older than the start is moot.
        let r = observe(Some(&r), &ActivityReport::quiet("ci-a", t(9, 30)), &th);
        assert_eq!(r.idle_since, Some(since));
        let r2 = observe(Some(&r), &busy(t(9, 20)), &th);
        assert_eq!(r2.idle_since, Some(since));
        // A late busy report at the newest report's own instant makes the instance busy.
        let r3 = observe(Some(&r), &busy(t(9, 30)), &th);
        assert_eq!(r3.idle_since, None);
    }

    #[test]
    fn compute_names_come_from_compute_ids_only() {
        let id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/computes/ci-a";
        assert_eq!(compute_name(id), Some("ci-a"));
        assert_eq!(compute_name(&format!("{id}/")), Some("ci-a"));
        for bad in [
            "ci-a",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/ws/computes/ci-a",
            "/subscriptions//resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/computes/ci-a",
        ] {
            assert_eq!(compute_name(bad), None, "{bad}");
        }
    }

    fn id_of(name: &str) -> String {
        format!("/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/computes/{name}")
    }

    fn body(instance: &str, id: &str, at: DateTime<Utc>, nonce: Option<&str>) -> String {
        let mut v = serde_json::json!({"schema": ACTIVITY_SCHEMA_V1, "instance": instance,
            "computeId": id, "at": at.to_rfc3339()});
        if let Some(n) = nonce {
            v["nonce"] = n.into();
        }
        v.to_string()
    }

    const NONCE: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn signed_reports_are_bound_to_their_compute_and_carry_a_fresh_nonce() {
        let master = b"the master key, at least 32 bytes long";
        let now = t(9, 1);
        let ts = now.timestamp();
        let check = |instance: &str, id: &str, key_id: &str, at, nonce| {
            let b = body(instance, id, at, nonce);
            let sig = sign_report(&instance_key(master, key_id), ts, b.as_bytes());
            verify_signed_report(master, &ts.to_string(), &sig, b.as_bytes(), now)
        };
        let a = id_of("ci-a");
        let v = check("ci-a", &a, &a, t(9, 0), Some(NONCE)).unwrap();
        assert_eq!(v.compute_id, a.to_ascii_lowercase());
        assert_eq!(v.nonce, NONCE);
        // The key is the id's, whatever its case.
        assert!(check("CI-A", &a, &a.to_ascii_uppercase(), t(9, 0), Some(NONCE)).is_ok());
        // B's key (by name or by id) does not sign for A.
        let b = id_of("ci-b");
        for key in ["ci-b", b.as_str()] {
            assert!(
                check("ci-b", &a, key, t(9, 0), Some(NONCE)).is_err(),
                "{key}"
            );
            assert!(
                check("ci-a", &a, key, t(9, 0), Some(NONCE)).is_err(),
                "{key}"
            );
        }
        // The name must be the id's last segment, even under the id's own key.
        let e = check("ci-b", &a, &a, t(9, 0), Some(NONCE)).unwrap_err();
        assert!(e.to_string().contains("not 'ci-b'"), "{e}");
        let e = check("ci-a", "ci-a", "ci-a", t(9, 0), Some(NONCE)).unwrap_err();
        assert!(e.to_string().contains("not a compute ARM id"), "{e}");
        let e = check("ci-a", "", "", t(9, 0), Some(NONCE)).unwrap_err();
        assert!(e.to_string().contains("not a compute ARM id"), "{e}");
        // No nonce, or a silly one.
        let e = check("ci-a", &a, &a, t(9, 0), None).unwrap_err();
        assert!(e.to_string().contains("no nonce"), "{e}");
        let long = "x".repeat(129);
        for n in ["short", "has spaces in it 0123456789", long.as_str()] {
            assert!(check("ci-a", &a, &a, t(9, 0), Some(n)).is_err(), "{n}");
        }
        // `at` far from now (signed, but claiming another time).
        let e = check("ci-a", &a, &a, t(9, 20), Some(NONCE)).unwrap_err();
        assert!(e.to_string().contains("more than 5 minutes"), "{e}");
        assert!(check("ci-a", &a, &a, t(8, 50), Some(NONCE)).is_err());
        // The key's text is what `openssl dgst -hmac MASTER` prints for the lower-case id.
        let k = instance_key(master, &a);
        assert_eq!(k.len(), 64);
        assert!(k
            .iter()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }

    #[test]
    fn a_report_whose_nonce_mark_may_be_swept_is_refused_by_its_time() {
        let master = b"the master key, at least 32 bytes long";
        let a = id_of("ci-a");
        let at = t(9, 0);
        let b = body("ci-a", &a, at, Some(NONCE));
        // The replay re-sends the same signed request, timestamp included.
        let sig = sign_report(&instance_key(master, &a), at.timestamp(), b.as_bytes());
        let verify = |now| {
            verify_signed_report(master, &at.timestamp().to_string(), &sig, b.as_bytes(), now)
        };
        assert!(verify(at + SIGNATURE_MAX_SKEW).is_ok(), "inside the window");
        assert!(NONCE_MARK_KEEP > SIGNATURE_MAX_SKEW * 2);
        for late in [1, 60, 3600, 86_400] {
            let now = at + SIGNATURE_MAX_SKEW + TimeDelta::seconds(late);
            assert!(verify(now).is_err(), "{late} s past the window");
        }
        // Whenever the mark may go (its `at` before the sweep's instant), the report is refused.
        for after in [NONCE_MARK_KEEP, NONCE_MARK_KEEP + TimeDelta::minutes(59)] {
            let now = at + after + TimeDelta::seconds(1);
            assert!(at < nonce_marks_sweep_before(now));
            assert!(verify(now).is_err());
        }
    }

    #[test]
    fn durations() {
        let m = |n| TimeDelta::minutes(n);
        for (text, want) in [
            ("PT30M", m(30)),
            ("PT1H30M", m(90)),
            ("P1D", m(1440)),
            ("P1DT2H", m(1560)),
            ("pt15m", m(15)),
            ("PT90S", TimeDelta::seconds(90)),
            ("PT0.5H", m(30)),
            ("P1W", m(7 * 1440)),
            ("PT60M", m(60)),
        ] {
            assert_eq!(parse_iso8601_duration(text), Ok(want), "{text}");
        }
        for bad in [
            "",
            "30M",
            "P",
            "PT",
            "P1M",
            "P1Y",
            "PT30",
            "P1H",
            "PT1M1H",
            "PT1.5H30M",
            "PTM",
            "P1DT",
        ] {
            assert!(parse_iso8601_duration(bad).is_err(), "{bad}");
        }
    }
}
