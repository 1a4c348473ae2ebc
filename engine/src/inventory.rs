//! Reading a fleet from the shapes users have: a compute resource, a JSON array of them, an ARM
//! list response (`{"value": [...], "nextLink": ...}`), a bare `schedules` object, or Azure ML
//! CLI YAML (`compute_start_stop`, one or more documents).
//!
//! Only `ComputeInstance` computes carry schedules; other compute types are skipped and counted.
//! One malformed compute is reported (with its JSON path) and never hides the others.

use crate::diag::{Diagnostic, Problem};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Why a whole inventory file could not be read (a single bad compute is a [`Diagnostic`]).
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The text is neither JSON of a known shape nor YAML.
    #[error("{source_name}: not a compute resource, list, array or CLI YAML: {message}")]
    Unreadable {
        /// File name (or `-` for stdin), for the message.
        source_name: String,
        /// What the parser said.
        message: String,
    },
}

/// A compute instance as the engine needs it; everything else in the ARM body is ignored.
/// Schedule entries are `serde_json::Value`s, or [`Node`](crate::json::Node)s borrowed from the input where a
/// whole fleet is read at once (`curfew plan`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Instance<E = Value> {
    /// The compute's `name` (else its id's last segment, else derived from the file name).
    pub name: String,
    /// The ARM id, when the input has one.
    pub id: Option<String>,
    /// Azure region.
    pub location: Option<String>,
    /// VM size, for cost.
    pub vm_size: Option<String>,
    /// ARM `state` (Running, Stopped, …).
    pub state: Option<String>,
    /// Object id of the assigned user (personal instances), who may dismiss its shutdowns.
    pub assigned_user: Option<String>,
    /// Object id of the creator, the owner when no user is assigned.
    pub created_by: Option<String>,
    /// `idleTimeBeforeShutdown` as written (ISO 8601 duration).
    pub idle_time_before_shutdown: Option<String>,
    /// Resource tags, values as strings.
    pub tags: BTreeMap<String, String>,
    /// The raw `computeStartStop` entries, in order (index = schedule number).
    pub schedules: Vec<E>,
    /// The last operation ARM reports, to tell a user's manual start/stop from a schedule's.
    pub last_operation: Option<LastOperation>,
}

impl<E> Instance<E> {
    /// The same instance with each schedule entry converted by `f`.
    pub fn map_schedules<F>(self, f: impl FnMut(E) -> F) -> Instance<F> {
        Instance {
            schedules: self.schedules.into_iter().map(f).collect(),
            name: self.name,
            id: self.id,
            location: self.location,
            vm_size: self.vm_size,
            state: self.state,
            assigned_user: self.assigned_user,
            created_by: self.created_by,
            idle_time_before_shutdown: self.idle_time_before_shutdown,
            tags: self.tags,
            last_operation: self.last_operation,
        }
    }
}

/// ARM's `lastOperation` of a compute instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastOperation {
    /// `Create`, `Start`, `Stop`, `Restart`, `Reimage`, `Delete`.
    pub operation_name: Option<String>,
    /// When it happened (RFC 3339).
    pub operation_time: Option<String>,
    /// `InProgress`, `Succeeded`, `CreateFailed`, …
    pub operation_status: Option<String>,
    /// `User`, `Schedule` or `IdleShutdown`: who caused it.
    pub operation_trigger: Option<String>,
}

/// The fleet read from one input.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Compute instances, in input order.
    pub instances: Vec<Instance>,
    /// Computes skipped because they are not `ComputeInstance`, counted by compute type.
    pub skipped: BTreeMap<String, usize>,
    /// Computes that could not be read at all.
    pub problems: Vec<Diagnostic>,
}

#[derive(Deserialize)]
struct RawCompute<E> {
    id: Option<String>,
    name: Option<String>,
    location: Option<String>,
    tags: Option<BTreeMap<String, Value>>,
    properties: Option<RawProps<E>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProps<E> {
    compute_type: Option<String>,
    properties: Option<RawInstanceProps<E>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawInstanceProps<E> {
    vm_size: Option<String>,
    state: Option<String>,
    idle_time_before_shutdown: Option<String>,
    created_by: Option<RawCreatedBy>,
    personal_compute_instance_settings: Option<RawPersonal>,
    schedules: Option<RawSchedules<E>>,
    last_operation: Option<LastOperation>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCreatedBy {
    user_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPersonal {
    assigned_user: Option<RawUser>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawUser {
    object_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSchedules<E> {
    compute_start_stop: Option<Vec<E>>,
}

/// One compute of the input, read on demand: an instance, a skipped compute type, or a problem.
#[derive(Debug)]
pub enum Item<E = Value> {
    /// A compute instance.
    Instance(Box<Instance<E>>),
    /// A compute of another type (the type), skipped.
    Skipped(String),
    /// A compute that could not be read.
    Problem(Diagnostic),
}

/// How the computes sit in the input, for fallback names and JSON paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// One compute object.
    Single,
    /// A JSON array of computes.
    Array,
    /// An ARM list response: computes under `value`.
    List,
    /// YAML documents (one or more).
    Yaml,
}

/// The computes of an input, split but not yet parsed, so that callers can read them one at a
/// time (or from several threads) and drop each after use: a 100 000-instance fleet never has
/// to be held as JSON trees at once.
#[derive(Debug)]
pub struct Items<'a> {
    stem: String,
    /// Position in the input of this run's first split compute (runs of [`stream_items`]).
    first: usize,
    layout: Layout,
    borrowed: Vec<&'a str>,
    owned: Vec<String>,
    ready: Vec<Instance>,
}

/// The top-level object of an input that has no `value` list.
#[derive(Deserialize)]
struct Top<'a> {
    #[serde(rename = "computeStartStop", borrow)]
    compute_start_stop: Option<&'a RawValue>,
    #[serde(borrow)]
    properties: Option<&'a RawValue>,
}

impl<'a> Items<'a> {
    /// How many computes the input holds.
    pub fn len(&self) -> usize {
        self.ready.len() + self.borrowed.len() + self.owned.len()
    }

    /// Whether the input holds no compute.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Position in the whole input of this run's compute 0: 0 unless the run came from
    /// [`stream_items`], whose runs must be put back in this order.
    pub fn first(&self) -> usize {
        self.first
    }

    /// Reads compute `i` (0-based, in this run's order; names and paths count from the input's
    /// start).
    pub fn read(&self, i: usize) -> Item {
        self.read_as(i)
    }

    /// Reads compute `i` with its schedule entries as `E`: [`Node`](crate::json::Node)s borrow from the input, so
    /// a fleet read at once need not copy every entry into a `Value`.
    pub fn read_as<E>(&self, i: usize) -> Item<E>
    where
        E: Deserialize<'a> + From<Value>,
    {
        if i < self.ready.len() {
            let ready = self.ready[i].clone();
            return Item::Instance(Box::new(ready.map_schedules(E::from)));
        }
        let k = i - self.ready.len();
        let j = self.first + k;
        // Names and paths are formatted only when needed: most computes carry a name and parse.
        let origin = || match self.layout {
            Layout::Single => (self.stem.clone(), String::new()),
            Layout::Array => (format!("{}[{j}]", self.stem), format!("[{j}]")),
            Layout::List => (format!("{}[{j}]", self.stem), format!("value[{j}]")),
            Layout::Yaml if self.len() == 1 => (self.stem.clone(), String::new()),
            Layout::Yaml => (format!("{}[{j}]", self.stem), format!("document[{j}]")),
        };
        match self.borrowed.get(k) {
            Some(text) => read_one(text, &origin),
            // YAML converted to JSON text, owned here: entries cannot borrow from it.
            None => match read_one::<Value>(&self.owned[k - self.borrowed.len()], &origin) {
                Item::Instance(inst) => Item::Instance(Box::new(inst.map_schedules(E::from))),
                Item::Skipped(kind) => Item::Skipped(kind),
                Item::Problem(d) => Item::Problem(d),
            },
        }
    }
}

/// Splits an input into its computes without parsing them.
pub fn items<'a>(text: &'a str, source_name: &str) -> Result<Items<'a>, InventoryError> {
    // One run of unbounded size: the same split as `plan` streams, collected at once.
    let mut whole = None;
    stream_items(text, source_name, usize::MAX, &mut |run| whole = Some(run))?;
    Ok(whole.unwrap_or_else(|| Items {
        stem: stem_of(source_name),
        first: 0,
        layout: Layout::List,
        borrowed: Vec::new(),
        owned: Vec::new(),
        ready: Vec::new(),
    }))
}

/// An input that is not a list of computes: one compute, a bare `schedules` object, `null`, or
/// CLI YAML.
fn unlisted<'a>(text: &'a str, source_name: &str) -> Result<Items<'a>, InventoryError> {
    let unreadable = |message: String| InventoryError::Unreadable {
        source_name: source_name.to_string(),
        message,
    };
    let trimmed = text.trim_start();
    let mut out = Items {
        stem: stem_of(source_name),
        first: 0,
        layout: Layout::Single,
        borrowed: Vec::new(),
        owned: Vec::new(),
        ready: Vec::new(),
    };
    if trimmed.starts_with('{') {
        let top: Top<'a> = serde_json::from_str(text).map_err(|e| unreadable(e.to_string()))?;
        if let (Some(css), None) = (top.compute_start_stop, top.properties) {
            // A bare `schedules` object: one instance named after the file.
            let entries: Option<Vec<Value>> = serde_json::from_str(css.get())
                .map_err(|e| unreadable(format!("computeStartStop: {e}")))?;
            out.ready.push(Instance {
                name: out.stem.clone(),
                schedules: entries.unwrap_or_default(),
                ..Instance::default()
            });
        } else {
            out.borrowed.push(text);
        }
    } else if trimmed.trim_end() == "null" {
        // A `schedules` value of null (as the SDK writes it): no instance, nothing to plan.
    } else {
        out.layout = Layout::Yaml;
        out.owned = read_yaml(text).map_err(unreadable)?;
    }
    Ok(out)
}

/// Splits an input like [`items`], but hands its computes to `each` in runs of at most `batch`
/// while the split goes on, so that callers can parse the first computes on other threads while
/// the rest of a large list is still being split (the split is the serial part of `plan`).
///
/// Runs arrive in input order; [`Items::first`] says where each starts. When the input turns out
/// to be unreadable after some runs were handed over, the error is returned and the caller must
/// discard what it made of those runs.
pub fn stream_items<'a>(
    text: &'a str,
    source_name: &str,
    batch: usize,
    each: &mut dyn FnMut(Items<'a>),
) -> Result<(), InventoryError> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with('[') && !trimmed.starts_with('{') {
        each(unlisted(text, source_name)?);
        return Ok(());
    }
    let unreadable = |e: serde_json::Error| InventoryError::Unreadable {
        source_name: source_name.to_string(),
        message: e.to_string(),
    };
    let mut sink = Sink {
        stem: stem_of(source_name),
        layout: Layout::Array,
        batch: batch.max(1),
        each,
        sent: 0,
        buf: Vec::new(),
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let listed = if trimmed.starts_with('[') {
        serde::Deserializer::deserialize_seq(&mut de, ListSeed(&mut sink))
    } else {
        sink.layout = Layout::List;
        serde::Deserializer::deserialize_map(&mut de, TopSeed(&mut sink))
    }
    .and_then(|listed| de.end().map(|()| listed))
    .map_err(unreadable)?;
    sink.flush();
    if !listed {
        // A single compute or a bare `schedules` object: nothing to stream.
        each(unlisted(text, source_name)?);
    }
    Ok(())
}

/// Collects split computes into runs for [`stream_items`].
struct Sink<'a, 'f> {
    stem: String,
    layout: Layout,
    batch: usize,
    each: &'f mut dyn FnMut(Items<'a>),
    sent: usize,
    buf: Vec<&'a str>,
}

impl<'a> Sink<'a, '_> {
    fn push(&mut self, json: &'a str) {
        self.buf.push(json);
        if self.buf.len() >= self.batch {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let borrowed = std::mem::take(&mut self.buf);
        let n = borrowed.len();
        (self.each)(Items {
            stem: self.stem.clone(),
            first: self.sent,
            layout: self.layout,
            borrowed,
            owned: Vec::new(),
            ready: Vec::new(),
        });
        self.sent += n;
    }
}

/// The top-level object of an input: streams `value` when it is a list, ignores the rest.
/// Yields whether a `value` list was found (else the object is one compute or a bare
/// `schedules` object).
struct TopSeed<'s, 'a, 'f>(&'s mut Sink<'a, 'f>);

/// The keys of the top-level object that matter to the split.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum TopKey {
    Value,
    #[serde(other)]
    Other,
}

impl<'a> serde::de::Visitor<'a> for TopSeed<'_, 'a, '_> {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a compute resource or an ARM list response")
    }

    fn visit_map<M: serde::de::MapAccess<'a>>(self, mut map: M) -> Result<bool, M::Error> {
        let mut listed = None;
        while let Some(key) = map.next_key::<TopKey>()? {
            match key {
                TopKey::Value if listed.is_some() => {
                    return Err(serde::de::Error::duplicate_field("value"));
                }
                TopKey::Value => listed = Some(map.next_value_seed(ListSeed(&mut *self.0))?),
                TopKey::Other => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(listed.unwrap_or(false))
    }
}

/// A list of computes (or null), each handed to the sink as its JSON text.
struct ListSeed<'s, 'a, 'f>(&'s mut Sink<'a, 'f>);

impl<'a> serde::de::DeserializeSeed<'a> for ListSeed<'_, 'a, '_> {
    type Value = bool;

    fn deserialize<D: serde::Deserializer<'a>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'a> serde::de::Visitor<'a> for ListSeed<'_, 'a, '_> {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of compute resources")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_some<D: serde::Deserializer<'a>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_seq(self)
    }

    fn visit_seq<S: serde::de::SeqAccess<'a>>(self, mut seq: S) -> Result<bool, S::Error> {
        while let Some(raw) = seq.next_element::<&'a RawValue>()? {
            self.0.push(raw.get());
        }
        Ok(true)
    }
}

/// Reads an inventory from text. `source_name` names the input in messages and unnamed computes.
pub fn parse(text: &str, source_name: &str) -> Result<Inventory, InventoryError> {
    let items = items(text, source_name)?;
    let mut inv = Inventory::default();
    for i in 0..items.len() {
        inv.add(items.read(i));
    }
    Ok(inv)
}

impl Inventory {
    /// Adds one read compute to the inventory.
    pub fn add(&mut self, item: Item) {
        match item {
            Item::Instance(i) => self.instances.push(*i),
            Item::Skipped(kind) => *self.skipped.entry(kind).or_default() += 1,
            Item::Problem(d) => self.problems.push(d),
        }
    }
}

fn stem_of(source_name: &str) -> String {
    let base = source_name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(source_name);
    let base = base.split('.').next().unwrap_or(base);
    if base.is_empty() || base == "-" {
        "stdin".to_string()
    } else {
        base.to_string()
    }
}

/// The name to give a compute without one, and its JSON path in the input, made on demand.
type Origin<'o> = dyn Fn() -> (String, String) + 'o;

fn read_one<'a, E: Deserialize<'a>>(json: &'a str, origin: &Origin<'_>) -> Item<E> {
    // Fast path without path tracking; on failure, parse again to name the JSON path.
    if let Ok(raw) = serde_json::from_str::<RawCompute<E>>(json) {
        return push_compute(raw, origin);
    }
    let (fallback_name, path) = origin();
    let path = path.as_str();
    let de = &mut serde_json::Deserializer::from_str(json);
    match serde_path_to_error::deserialize::<_, RawCompute<E>>(de) {
        Ok(raw) => push_compute(raw, origin),
        Err(e) => {
            // Name the compute if its name can still be found.
            let name = serde_json::from_str::<Value>(json)
                .ok()
                .and_then(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
                .unwrap_or(fallback_name);
            let field = join_path(path, &e.path().to_string());
            Item::Problem(Diagnostic::at(
                &name,
                None,
                Problem::error(field.clone(), format!("{field}: {}", e.inner())),
            ))
        }
    }
}

fn join_path(prefix: &str, inner: &str) -> String {
    match (prefix.is_empty(), inner == ".") {
        (true, _) => inner.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{inner}"),
    }
}

fn push_compute<E>(raw: RawCompute<E>, origin: &Origin<'_>) -> Item<E> {
    let Some(props) = raw.properties else {
        let (fallback_name, path) = origin();
        let path = path.as_str();
        let name = raw.name.unwrap_or(fallback_name);
        return Item::Problem(Diagnostic::at(
            &name,
            None,
            Problem::error(
                join_path(path, "properties"),
                "no 'properties': this is not a compute resource (expected the ARM compute shape)",
            ),
        ));
    };
    if let Some(t) = &props.compute_type {
        if !t.eq_ignore_ascii_case("ComputeInstance") {
            return Item::Skipped(t.clone());
        }
    }
    let ci = props.properties;
    let name = raw
        .name
        .filter(|n| !n.is_empty())
        .or_else(|| {
            raw.id
                .as_deref()
                .and_then(|id| id.rsplit('/').next())
                .map(str::to_string)
        })
        .unwrap_or_else(|| origin().0);
    let tags = raw
        .tags
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, v)
        })
        .collect();
    let mut instance = Instance {
        name,
        id: raw.id,
        location: raw.location,
        tags,
        vm_size: None,
        state: None,
        assigned_user: None,
        created_by: None,
        idle_time_before_shutdown: None,
        schedules: Vec::new(),
        last_operation: None,
    };
    if let Some(ci) = ci {
        instance.vm_size = ci.vm_size;
        instance.state = ci.state;
        instance.idle_time_before_shutdown = ci.idle_time_before_shutdown;
        instance.created_by = ci.created_by.and_then(|c| c.user_id);
        instance.assigned_user = ci
            .personal_compute_instance_settings
            .and_then(|p| p.assigned_user)
            .and_then(|u| u.object_id);
        instance.schedules = ci
            .schedules
            .and_then(|s| s.compute_start_stop)
            .unwrap_or_default();
        instance.last_operation = ci.last_operation;
    }
    Item::Instance(Box::new(instance))
}

/// YAML documents converted to the ARM compute shape, as JSON text.
fn read_yaml(text: &str) -> Result<Vec<String>, String> {
    crate::yaml::check_yaml_nesting(text).map_err(|e| e.to_string())?;
    let mut docs = Vec::new();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let v = Value::deserialize(doc).map_err(|e| format!("YAML: {e}"))?;
        if v.is_null() {
            continue;
        }
        let Some(obj) = v.as_object() else {
            return Err(format!("YAML document {i} is not a mapping"));
        };
        docs.push(yaml_to_arm(obj).to_string());
    }
    if docs.is_empty() {
        return Err("empty document".to_string());
    }
    Ok(docs)
}

/// Converts Azure ML CLI YAML (`compute_start_stop`, `trigger: {type, ...}`) to the ARM shape.
fn yaml_to_arm(doc: &Map<String, Value>) -> Value {
    let compute_type = match doc.get("type").and_then(Value::as_str) {
        Some(t) if t.eq_ignore_ascii_case("computeinstance") => "ComputeInstance".to_string(),
        Some(t) => t.to_string(),
        None => "ComputeInstance".to_string(),
    };
    let entries: Vec<Value> = doc
        .get("schedules")
        .and_then(|s| s.get("compute_start_stop"))
        .and_then(Value::as_array)
        .map(|list| list.iter().map(yaml_schedule).collect())
        .unwrap_or_default();
    let idle = doc
        .get("idle_time_before_shutdown")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            doc.get("idle_time_before_shutdown_minutes")
                .and_then(Value::as_u64)
                .map(|m| format!("PT{m}M"))
        });
    let mut props =
        json!({ "vmSize": doc.get("size"), "schedules": { "computeStartStop": entries } });
    if let Some(idle) = idle {
        props["idleTimeBeforeShutdown"] = Value::String(idle);
    }
    json!({
        "name": doc.get("name"),
        "location": doc.get("location"),
        "tags": doc.get("tags"),
        "properties": { "computeType": compute_type, "properties": props },
    })
}

fn yaml_schedule(item: &Value) -> Value {
    let Some(obj) = item.as_object() else {
        return item.clone();
    };
    let trigger = obj.get("trigger").and_then(Value::as_object);
    let kind = trigger
        .and_then(|t| t.get("type"))
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase);
    let get = |k: &str| {
        trigger
            .and_then(|t| t.get(k))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let status = obj
        .get("state")
        .or_else(|| obj.get("status"))
        .cloned()
        .unwrap_or(Value::Null);
    let mut entry = json!({ "action": obj.get("action"), "status": status });
    match kind.as_deref() {
        Some("cron") => {
            entry["triggerType"] = json!("Cron");
            entry["cron"] = json!({
                "expression": get("expression"),
                "startTime": get("start_time"),
                "endTime": get("end_time"),
                "timeZone": get("time_zone"),
            });
        }
        Some("recurrence") => {
            let sched = get("schedule");
            let s = |k: &str| sched.get(k).cloned().unwrap_or(Value::Null);
            entry["triggerType"] = json!("Recurrence");
            entry["recurrence"] = json!({
                "frequency": get("frequency"),
                "interval": get("interval"),
                "startTime": get("start_time"),
                "endTime": get("end_time"),
                "timeZone": get("time_zone"),
                // Unsupported fields are carried over so that `validate` warns about them.
                "schedule": {
                    "hours": s("hours"),
                    "minutes": s("minutes"),
                    "weekDays": s("week_days"),
                    "monthDays": s("month_days"),
                    "monthlyOccurrences": s("monthly_occurrences"),
                },
            });
        }
        other => {
            entry["triggerType"] = other.map(Value::from).unwrap_or(Value::Null);
        }
    }
    entry
}
