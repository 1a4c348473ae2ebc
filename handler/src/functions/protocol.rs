//! The custom handler protocol: the `{Data, Metadata}` request envelope and the
//! `{Outputs, Logs, ReturnValue}` response, tolerant of the host's quirks (docs/design.md §11).
//!
//! Scalars the host sends in more than one shape (numbers as strings, strings JSON-encoded a
//! second time, timestamps with or without offset and fractions) are read through
//! [`Lenient`], which keeps the value exactly as received so a payload round-trips unchanged.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// A payload the handler cannot read; never retryable (the same bytes fail again).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ProtocolError {
    /// The body or one of its parts does not have the expected shape; `path` is the JSON path.
    #[error("bad payload at {path}: {message}")]
    Malformed {
        /// JSON path of the offending value, e.g. `Data.timer.IsPastDue`.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// `Data` has no entry for the binding the function declares in its `function.json`.
    #[error("bad payload at Data: no binding named {0:?}")]
    MissingBinding(String),
}

/// Deserializes `T` from JSON bytes, naming the JSON path of any error. The whole input must
/// be one JSON value: bytes after it (other than whitespace) are an error, not ignored, so a
/// second envelope or garbage appended by a sender is never silently dropped.
pub(crate) fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ProtocolError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| malformed("", &e))?;
    de.end().map_err(|e| ProtocolError::Malformed {
        path: "$".to_owned(),
        message: format!("unexpected bytes after the JSON envelope ({e})"),
    })?;
    Ok(value)
}

/// `text` cut to at most `max_bytes` bytes on a character boundary, with `...` when cut:
/// error messages quote hostile input, and a cut inside a multibyte character would panic.
pub(crate) fn shorten(text: &str, max_bytes: usize) -> Cow<'_, str> {
    if text.len() <= max_bytes {
        return Cow::Borrowed(text);
    }
    let mut end = max_bytes.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}...", &text[..end]))
}

/// Deserializes `T` from a JSON value found at `prefix`, naming the full JSON path of any error.
pub(crate) fn from_value<T: DeserializeOwned>(
    value: &Value,
    prefix: &str,
) -> Result<T, ProtocolError> {
    serde_path_to_error::deserialize(value).map_err(|e| malformed(prefix, &e))
}

fn malformed(prefix: &str, e: &serde_path_to_error::Error<serde_json::Error>) -> ProtocolError {
    let inner = e.path().to_string();
    let path = match (prefix.is_empty(), inner == ".") {
        (true, true) => "$".to_owned(),
        (true, false) => inner,
        (false, true) => prefix.to_owned(),
        (false, false) => format!("{prefix}.{inner}"),
    };
    ProtocolError::Malformed {
        path,
        message: e.inner().to_string(),
    }
}

/// A string that may have been JSON-encoded a second time (`"\"abc\""`): the inner text.
pub(crate) fn unquote(s: &str) -> Cow<'_, str> {
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        if let Ok(inner) = serde_json::from_str::<String>(s) {
            return Cow::Owned(inner);
        }
    }
    Cow::Borrowed(s)
}

/// Parses a host timestamp: RFC 3339 (`Z` or offset, any fraction), or without offset (UTC).
pub(crate) fn parse_host_time(s: &str) -> Option<DateTime<Utc>> {
    let s = unquote(s.trim());
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .map(|n| n.and_utc())
}

/// A scalar the host may send in several shapes; see [`Lenient`].
pub(crate) trait HostScalar: Sized {
    /// What a valid value looks like, for error messages.
    const EXPECTED: &'static str;
    /// Reads the value, or `None` if it has no acceptable shape.
    fn from_host(raw: &Value) -> Option<Self>;
}

impl HostScalar for i64 {
    const EXPECTED: &'static str = "an integer (or a string holding one)";
    fn from_host(raw: &Value) -> Option<Self> {
        match raw {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => unquote(s).trim().parse().ok(),
            _ => None,
        }
    }
}

impl HostScalar for bool {
    const EXPECTED: &'static str = "true or false (or a string holding one)";
    fn from_host(raw: &Value) -> Option<Self> {
        match raw {
            Value::Bool(b) => Some(*b),
            Value::String(s) => match unquote(s).trim().to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }
}

impl HostScalar for String {
    const EXPECTED: &'static str = "a string";
    fn from_host(raw: &Value) -> Option<Self> {
        match raw {
            Value::String(s) => Some(unquote(s).into_owned()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

impl HostScalar for DateTime<Utc> {
    const EXPECTED: &'static str =
        "a timestamp like 2023-10-12T20:13:49 (offset and fraction optional)";
    fn from_host(raw: &Value) -> Option<Self> {
        raw.as_str().and_then(parse_host_time)
    }
}

/// A string-to-string map the host sends as an object or as a JSON string of one
/// (`"Query": "{}"`); array values (repeated keys) keep their first element.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct StringMap(pub(crate) BTreeMap<String, String>);

impl StringMap {
    /// The value of `key`, compared case-insensitively.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

impl HostScalar for StringMap {
    const EXPECTED: &'static str = "an object of strings (or a JSON string holding one)";
    fn from_host(raw: &Value) -> Option<Self> {
        let parsed;
        let obj = match raw {
            Value::Object(o) => o,
            Value::String(s) => {
                parsed = serde_json::from_str::<Value>(&unquote(s)).ok()?;
                parsed.as_object()?
            }
            Value::Null => return Some(Self::default()),
            _ => return None,
        };
        let mut out = BTreeMap::new();
        for (k, v) in obj {
            let v = match v {
                Value::Array(items) => items
                    .first()
                    .and_then(String::from_host)
                    .unwrap_or_default(),
                Value::Null => String::new(),
                other => String::from_host(other)?,
            };
            out.insert(k.clone(), v);
        }
        Some(Self(out))
    }
}

/// A value read leniently and kept verbatim: `get()` is the parsed value, serialisation
/// writes back exactly what the host sent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Lenient<T> {
    raw: Value,
    value: T,
}

impl<T> Lenient<T> {
    /// The parsed value.
    pub(crate) fn get(&self) -> &T {
        &self.value
    }
}

impl<'de, T: HostScalar> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(d)?;
        match T::from_host(&raw) {
            Some(value) => Ok(Self { raw, value }),
            None => {
                let shown = raw.to_string();
                Err(D::Error::custom(format!(
                    "expected {}, found {}",
                    T::EXPECTED,
                    shorten(&shown, 80)
                )))
            }
        }
    }
}

impl<T> Serialize for Lenient<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

/// `Metadata.sys`: the host's clock and the function's name.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub(crate) struct SysMetadata {
    /// The function name as the host knows it.
    #[serde(
        rename = "MethodName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) method_name: Option<Lenient<String>>,
    /// The host's clock at invocation: "now" for this invocation.
    #[serde(rename = "UtcNow", default, skip_serializing_if = "Option::is_none")]
    pub(crate) utc_now: Option<Lenient<DateTime<Utc>>>,
    /// A fresh GUID per invocation.
    #[serde(rename = "RandGuid", default, skip_serializing_if = "Option::is_none")]
    pub(crate) rand_guid: Option<Lenient<String>>,
    /// Anything else, kept for round-trips.
    #[serde(flatten)]
    pub(crate) rest: Map<String, Value>,
}

/// `Metadata`: trigger metadata; the Service Bus fields are typed, the rest kept as sent.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub(crate) struct Metadata {
    /// Host clock and function name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sys: Option<SysMetadata>,
    /// Service Bus: how many times this message was delivered (1 on first delivery).
    #[serde(
        rename = "DeliveryCount",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) delivery_count: Option<Lenient<i64>>,
    /// Service Bus: message id.
    #[serde(rename = "MessageId", default, skip_serializing_if = "Option::is_none")]
    pub(crate) message_id: Option<Lenient<String>>,
    /// Service Bus: content type set by the sender.
    #[serde(
        rename = "ContentType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) content_type: Option<Lenient<String>>,
    /// Service Bus: when the message was enqueued.
    #[serde(
        rename = "EnqueuedTimeUtc",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) enqueued_time_utc: Option<Lenient<DateTime<Utc>>>,
    /// Service Bus: when the message expires.
    #[serde(
        rename = "ExpiresAtUtc",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) expires_at_utc: Option<Lenient<DateTime<Utc>>>,
    /// Service Bus: sequence number.
    #[serde(
        rename = "SequenceNumber",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) sequence_number: Option<Lenient<i64>>,
    /// Anything else, kept for round-trips.
    #[serde(flatten)]
    pub(crate) rest: Map<String, Value>,
}

/// The request the host POSTs to `/{FunctionName}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct InvocationRequest {
    /// Trigger and input binding values, keyed by binding name.
    #[serde(rename = "Data", default)]
    pub(crate) data: Map<String, Value>,
    /// Trigger metadata.
    #[serde(rename = "Metadata", default)]
    pub(crate) metadata: Metadata,
}

impl InvocationRequest {
    /// Reads an envelope. `Metadata` the handler cannot read (an odd host or sender format)
    /// never costs the message: it is kept as sent but untyped, the message is processed, and
    /// the returned note says what was ignored (logged to the invocation). Any other problem,
    /// in `Data` or the envelope's shape, is an error naming its path.
    pub(crate) fn read(bytes: &[u8]) -> Result<(Self, Option<String>), ProtocolError> {
        match from_slice::<Self>(bytes) {
            Ok(req) => Ok((req, None)),
            Err(ProtocolError::Malformed { path, message }) if path.starts_with("Metadata") => {
                #[derive(Deserialize)]
                struct Untyped {
                    #[serde(rename = "Data", default)]
                    data: Map<String, Value>,
                    #[serde(rename = "Metadata", default)]
                    metadata: Value,
                }
                let untyped: Untyped = from_slice(bytes)?;
                let rest = match untyped.metadata {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                let metadata = Metadata {
                    rest,
                    ..Metadata::default()
                };
                let note = format!(
                    "unreadable metadata at {path} ({message}): metadata ignored, the message is processed without it"
                );
                Ok((
                    Self {
                        data: untyped.data,
                        metadata,
                    },
                    Some(note),
                ))
            }
            Err(e) => Err(e),
        }
    }

    /// Reads the binding `name` as `T`; errors name the path from `Data`.
    pub(crate) fn binding<T: DeserializeOwned>(&self, name: &str) -> Result<T, ProtocolError> {
        let value = self
            .data
            .get(name)
            .ok_or_else(|| ProtocolError::MissingBinding(name.to_owned()))?;
        from_value(value, &format!("Data.{name}"))
    }

    /// The binding `name` as a JSON message body: a string holding JSON (possibly encoded
    /// twice), or already an object.
    pub(crate) fn json_body(&self, name: &str) -> Result<Value, ProtocolError> {
        let value = self
            .data
            .get(name)
            .ok_or_else(|| ProtocolError::MissingBinding(name.to_owned()))?;
        match value {
            Value::String(s) => {
                let text = unquote(s);
                serde_json::from_str(&text).map_err(|e| ProtocolError::Malformed {
                    path: format!("Data.{name}"),
                    message: format!("message body is not JSON: {e}"),
                })
            }
            Value::Object(_) => Ok(value.clone()),
            other => Err(ProtocolError::Malformed {
                path: format!("Data.{name}"),
                message: format!(
                    "expected a JSON message body, found {}",
                    shorten(&other.to_string(), 80)
                ),
            }),
        }
    }

    /// The host's clock for this invocation (`Metadata.sys.UtcNow`), when present.
    pub(crate) fn host_now(&self) -> Option<DateTime<Utc>> {
        let sys = self.metadata.sys.as_ref()?;
        sys.utc_now.as_ref().map(|t| *t.get())
    }
}

/// The timer trigger value (`Data.timer`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TimerInfo {
    /// `{AdjustForDST}`; kept as sent.
    #[serde(rename = "Schedule", default, skip_serializing_if = "Option::is_none")]
    pub(crate) schedule: Option<Value>,
    /// Last/next firing as the host recorded them; `null` on a first run or when not tracked.
    #[serde(
        rename = "ScheduleStatus",
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) schedule_status: Option<Option<ScheduleStatus>>,
    /// The host missed the scheduled time (normal, not an error: docs/design.md §6).
    #[serde(rename = "IsPastDue", default, skip_serializing_if = "Option::is_none")]
    pub(crate) is_past_due: Option<Lenient<bool>>,
    /// Anything else, kept for round-trips.
    #[serde(flatten)]
    pub(crate) rest: Map<String, Value>,
}

impl TimerInfo {
    /// Whether the host reports this firing as late.
    pub(crate) fn past_due(&self) -> bool {
        self.is_past_due.as_ref().is_some_and(|b| *b.get())
    }

    /// The host's record of the previous firing, if it has one.
    pub(crate) fn last(&self) -> Option<DateTime<Utc>> {
        let status = self.schedule_status.as_ref()?.as_ref()?;
        status.last.as_ref().map(|t| *t.get())
    }
}

/// Distinguishes a present `null` (`Some(None)`) from an absent field (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `ScheduleStatus` of a timer trigger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ScheduleStatus {
    /// Previous firing.
    #[serde(rename = "Last", default, skip_serializing_if = "Option::is_none")]
    pub(crate) last: Option<Lenient<DateTime<Utc>>>,
    /// Next firing.
    #[serde(rename = "Next", default, skip_serializing_if = "Option::is_none")]
    pub(crate) next: Option<Lenient<DateTime<Utc>>>,
    /// When the host last wrote this status.
    #[serde(
        rename = "LastUpdated",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) last_updated: Option<Lenient<DateTime<Utc>>>,
    /// Anything else, kept for round-trips.
    #[serde(flatten)]
    pub(crate) rest: Map<String, Value>,
}

/// An HTTP trigger value (`Data.req`) when the host does not forward the raw request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct HttpTrigger {
    /// Full URL as the caller used it.
    #[serde(rename = "Url", default, skip_serializing_if = "Option::is_none")]
    pub(crate) url: Option<Lenient<String>>,
    /// HTTP method.
    #[serde(rename = "Method", default, skip_serializing_if = "Option::is_none")]
    pub(crate) method: Option<Lenient<String>>,
    /// Query string parameters (an object, or `"{}"` as a string).
    #[serde(rename = "Query", default, skip_serializing_if = "Option::is_none")]
    pub(crate) query: Option<Lenient<StringMap>>,
    /// Headers (values are arrays of strings, or strings).
    #[serde(rename = "Headers", default, skip_serializing_if = "Option::is_none")]
    pub(crate) headers: Option<Lenient<StringMap>>,
    /// Route parameters.
    #[serde(rename = "Params", default, skip_serializing_if = "Option::is_none")]
    pub(crate) params: Option<Lenient<StringMap>>,
    /// The body: a string (form or JSON text) or already-parsed JSON.
    #[serde(rename = "Body", default, skip_serializing_if = "Option::is_none")]
    pub(crate) body: Option<Value>,
    /// Anything else (`Identities`, …), kept for round-trips.
    #[serde(flatten)]
    pub(crate) rest: Map<String, Value>,
}

impl HttpTrigger {
    /// The HTTP method, upper-case (`GET` when absent).
    pub(crate) fn method(&self) -> String {
        self.method
            .as_ref()
            .map_or_else(|| "GET".to_owned(), |m| m.get().to_ascii_uppercase())
    }

    /// A query parameter.
    pub(crate) fn query(&self, key: &str) -> Option<&str> {
        self.query.as_ref().and_then(|q| q.get().get(key))
    }

    /// A header, by case-insensitive name.
    pub(crate) fn header(&self, key: &str) -> Option<&str> {
        self.headers.as_ref().and_then(|h| h.get().get(key))
    }
}

/// A value for an output binding: by construction a JSON object or an array of objects, never
/// a bare string (the host base64-decodes strings that look like base64: docs/design.md §11).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutputValue(Value);

impl OutputValue {
    /// One object.
    pub(crate) fn object(map: Map<String, Value>) -> Self {
        Self(Value::Object(map))
    }

    /// Adds a header to an HTTP `res` value (one built by `pages::http_response`).
    pub(crate) fn set_header(&mut self, name: &str, value: &str) {
        if let Some(Value::Object(h)) = self.0.get_mut("headers") {
            h.insert(name.to_owned(), value.into());
        }
    }

    /// Several messages for one binding (the host sends each element).
    pub(crate) fn messages(items: Vec<Map<String, Value>>) -> Self {
        Self(Value::Array(items.into_iter().map(Value::Object).collect()))
    }
}

/// The response to the host: output binding values, log lines, and `$return`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub(crate) struct InvocationResponse {
    /// Output binding values by binding name.
    #[serde(rename = "Outputs")]
    pub(crate) outputs: Map<String, Value>,
    /// Lines the host writes to the invocation's log.
    #[serde(rename = "Logs")]
    pub(crate) logs: Vec<String>,
    /// The `$return` binding's value (unused by Curfew: always null).
    #[serde(rename = "ReturnValue")]
    pub(crate) return_value: Value,
}

impl InvocationResponse {
    /// Appends a log line.
    pub(crate) fn log(&mut self, line: impl Into<String>) {
        self.logs.push(line.into());
    }

    /// Sets the output binding `name`.
    pub(crate) fn output(&mut self, name: &str, value: OutputValue) {
        self.outputs.insert(name.to_owned(), value.0);
    }

    /// Appends messages to the output binding `name` (an array).
    pub(crate) fn push_messages(&mut self, name: &str, items: Vec<Map<String, Value>>) {
        if items.is_empty() {
            return;
        }
        let slot = self
            .outputs
            .entry(name.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(existing) = slot {
            existing.extend(items.into_iter().map(Value::Object));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::path::{Path, PathBuf};

    fn fixture_dirs() -> [PathBuf; 2] {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        [
            root.join("../testdata/functions"),
            root.join("tests/data/functions"),
        ]
    }

    /// Every request payload (shared fixtures and our own) parses and serialises back unchanged.
    #[test]
    fn every_request_fixture_round_trips() {
        let mut seen = 0;
        for dir in fixture_dirs() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if !name.ends_with(".json") || name.contains("headers") {
                    continue;
                }
                let bytes = std::fs::read(&path).unwrap();
                let original: Value = serde_json::from_slice(&bytes).unwrap();
                if original.get("Data").is_none() {
                    continue;
                }
                let req: InvocationRequest =
                    from_slice(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
                let back = serde_json::to_value(&req).unwrap();
                assert_eq!(back, original, "{name} does not round-trip");
                // Each typed trigger also round-trips on its own.
                for (binding, value) in &req.data {
                    let back = match binding.as_str() {
                        "timer" => serde_json::to_value(req.binding::<TimerInfo>(binding).unwrap()),
                        "req" => serde_json::to_value(req.binding::<HttpTrigger>(binding).unwrap()),
                        _ => continue,
                    }
                    .unwrap();
                    assert_eq!(&back, value, "{name}: Data.{binding}");
                }
                seen += 1;
            }
        }
        assert!(
            seen >= 3,
            "expected the shared fixtures and ours, saw {seen}"
        );
    }

    #[test]
    fn captured_timer_fixture_reads_host_clock_and_null_status() {
        let bytes =
            std::fs::read(fixture_dirs()[0].join("timer-trigger-request.captured-2023-09-07.json"))
                .unwrap();
        let req: InvocationRequest = from_slice(&bytes).unwrap();
        let timer: TimerInfo = req.binding("timer").unwrap();
        assert_eq!(timer.schedule_status, Some(None));
        assert!(!timer.past_due());
        assert_eq!(timer.last(), None);
        let now = req.host_now().unwrap();
        assert_eq!(now.to_rfc3339(), "2023-09-07T11:40:45.004275+00:00");
    }

    #[test]
    fn service_bus_fixture_unwraps_double_encoding_and_string_numbers() {
        let bytes =
            std::fs::read(fixture_dirs()[0].join("servicebus-trigger-request.azfunc-fixture.json"))
                .unwrap();
        let req: InvocationRequest = from_slice(&bytes).unwrap();
        let m = &req.metadata;
        assert_eq!(*m.delivery_count.as_ref().unwrap().get(), 1);
        assert_eq!(
            m.message_id.as_ref().unwrap().get(),
            "4e773554-f6b7-4ea2-b07d-4c5fd5aba741"
        );
        assert_eq!(m.content_type.as_ref().unwrap().get(), "application/json");
        assert_eq!(
            *m.enqueued_time_utc.as_ref().unwrap().get(),
            Utc.with_ymd_and_hms(2023, 10, 12, 20, 13, 49).unwrap()
        );
        let body = req.json_body("queue").unwrap();
        assert_eq!(body, serde_json::json!({"message": "hello", "number": 2}));
    }

    #[test]
    fn timestamps_with_and_without_offset_and_fraction() {
        let base = Utc.with_ymd_and_hms(2023, 10, 12, 20, 13, 49).unwrap();
        for s in [
            "2023-10-12T20:13:49",
            "2023-10-12T20:13:49Z",
            "2023-10-12T20:13:49+00:00",
            "2023-10-12T22:13:49+02:00",
            "2023-10-12 20:13:49",
            "\"2023-10-12T20:13:49Z\"",
        ] {
            assert_eq!(parse_host_time(s), Some(base), "{s}");
        }
        let frac = parse_host_time("2023-10-12T20:13:49.6400020Z").unwrap();
        assert_eq!(frac.timestamp_subsec_micros(), 640_002);
        assert_eq!(
            parse_host_time("0001-01-01T00:00:00").unwrap().timestamp(),
            -62_135_596_800
        );
        assert_eq!(parse_host_time("yesterday"), None);
    }

    #[test]
    fn query_as_json_string_or_object() {
        let a: Lenient<StringMap> = serde_json::from_value(serde_json::json!("{}")).unwrap();
        assert!(a.get().0.is_empty());
        let b: Lenient<StringMap> =
            serde_json::from_value(serde_json::json!("{\"o\":\"abc\",\"m\":30}")).unwrap();
        assert_eq!(b.get().get("m"), Some("30"));
        let c: Lenient<StringMap> =
            serde_json::from_value(serde_json::json!({"Content-Type": ["text/html"]})).unwrap();
        assert_eq!(c.get().get("content-type"), Some("text/html"));
    }

    #[test]
    fn bad_payload_errors_name_the_json_path() {
        let body = br#"{"Data":{"timer":{"IsPastDue":"perhaps"}},"Metadata":{}}"#;
        let req: InvocationRequest = from_slice(body).unwrap();
        let err = req.binding::<TimerInfo>("timer").unwrap_err();
        let ProtocolError::Malformed { path, message } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(path, "Data.timer.IsPastDue");
        assert!(message.contains("perhaps"), "{message}");

        let body = br#"{"Data":{},"Metadata":{"sys":{"UtcNow":"soon"}}}"#;
        let err = from_slice::<InvocationRequest>(body).unwrap_err();
        assert!(err.to_string().contains("Metadata.sys.UtcNow"), "{err}");

        let err = from_slice::<InvocationRequest>(b"42").unwrap_err();
        assert!(err.to_string().starts_with("bad payload at $"), "{err}");
        assert_eq!(
            req.binding::<TimerInfo>("nope").unwrap_err(),
            ProtocolError::MissingBinding("nope".into())
        );
    }

    #[test]
    fn outputs_are_objects_never_strings() {
        let mut r = InvocationResponse::default();
        r.push_messages("events", vec![Map::new()]);
        r.push_messages("events", vec![Map::new()]);
        r.push_messages("none", vec![]);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"Outputs": {"events": [{}, {}]}, "Logs": [], "ReturnValue": null})
        );
    }
}
