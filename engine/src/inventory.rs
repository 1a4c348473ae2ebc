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
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Instance {
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
    pub schedules: Vec<Value>,
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
struct RawCompute {
    id: Option<String>,
    name: Option<String>,
    location: Option<String>,
    tags: Option<BTreeMap<String, Value>>,
    properties: Option<RawProps>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProps {
    compute_type: Option<String>,
    properties: Option<RawInstanceProps>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawInstanceProps {
    vm_size: Option<String>,
    state: Option<String>,
    idle_time_before_shutdown: Option<String>,
    created_by: Option<RawCreatedBy>,
    personal_compute_instance_settings: Option<RawPersonal>,
    schedules: Option<RawSchedules>,
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
struct RawSchedules {
    compute_start_stop: Option<Vec<Value>>,
}

/// Reads an inventory from text. `source_name` names the input in messages and unnamed computes.
pub fn parse(text: &str, source_name: &str) -> Result<Inventory, InventoryError> {
    let stem = stem_of(source_name);
    let trimmed = text.trim_start();
    let mut inv = Inventory::default();
    let unreadable = |message: String| InventoryError::Unreadable {
        source_name: source_name.to_string(),
        message,
    };
    if trimmed.starts_with('[') {
        let items: Vec<&RawValue> =
            serde_json::from_str(text).map_err(|e| unreadable(e.to_string()))?;
        read_list(&mut inv, &items, &stem, "");
    } else if trimmed.starts_with('{') {
        let top: BTreeMap<String, &RawValue> =
            serde_json::from_str(text).map_err(|e| unreadable(e.to_string()))?;
        if let Some(value) = top.get("value") {
            let items: Vec<&RawValue> =
                serde_json::from_str(value.get()).map_err(|e| unreadable(format!("value: {e}")))?;
            read_list(&mut inv, &items, &stem, "value");
        } else if top.contains_key("computeStartStop") && !top.contains_key("properties") {
            let schedules: Value =
                serde_json::from_str(text).map_err(|e| unreadable(e.to_string()))?;
            let entries = schedules
                .get("computeStartStop")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            inv.instances.push(Instance {
                name: stem,
                schedules: entries,
                ..Instance::default()
            });
        } else {
            read_one(&mut inv, text, stem, "");
        }
    } else if trimmed.starts_with("null") && trimmed.trim_end() == "null" {
        // A `schedules` value of null (as the SDK writes it): no instance, nothing to plan.
    } else {
        read_yaml(&mut inv, text, &stem).map_err(unreadable)?;
    }
    Ok(inv)
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

fn read_list(inv: &mut Inventory, items: &[&RawValue], stem: &str, prefix: &str) {
    for (i, item) in items.iter().enumerate() {
        let path = if prefix.is_empty() {
            format!("[{i}]")
        } else {
            format!("{prefix}[{i}]")
        };
        read_one(inv, item.get(), format!("{stem}[{i}]"), &path);
    }
}

fn read_one(inv: &mut Inventory, json: &str, fallback_name: String, path: &str) {
    let de = &mut serde_json::Deserializer::from_str(json);
    let raw: RawCompute = match serde_path_to_error::deserialize(de) {
        Ok(r) => r,
        Err(e) => {
            // Name the compute if its name can still be found.
            let name = serde_json::from_str::<Value>(json)
                .ok()
                .and_then(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
                .unwrap_or(fallback_name);
            let field = join_path(path, &e.path().to_string());
            inv.problems.push(Diagnostic::at(
                &name,
                None,
                Problem::error(field.clone(), format!("{field}: {}", e.inner())),
            ));
            return;
        }
    };
    push_compute(inv, raw, fallback_name, path);
}

fn join_path(prefix: &str, inner: &str) -> String {
    match (prefix.is_empty(), inner == ".") {
        (true, _) => inner.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{inner}"),
    }
}

fn push_compute(inv: &mut Inventory, raw: RawCompute, fallback_name: String, path: &str) {
    let Some(props) = raw.properties else {
        let name = raw.name.unwrap_or(fallback_name);
        inv.problems.push(Diagnostic::at(
            &name,
            None,
            Problem::error(
                join_path(path, "properties"),
                "no 'properties': this is not a compute resource (expected the ARM compute shape)",
            ),
        ));
        return;
    };
    let props = Some(props);
    let compute_type = props.as_ref().and_then(|p| p.compute_type.clone());
    if let Some(t) = &compute_type {
        if !t.eq_ignore_ascii_case("ComputeInstance") {
            *inv.skipped.entry(t.clone()).or_default() += 1;
            return;
        }
    }
    let ci = props.and_then(|p| p.properties);
    let name = raw
        .name
        .filter(|n| !n.is_empty())
        .or_else(|| {
            raw.id
                .as_deref()
                .and_then(|id| id.rsplit('/').next())
                .map(str::to_string)
        })
        .unwrap_or(fallback_name);
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
        ..Instance::default()
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
    }
    inv.instances.push(instance);
}

fn read_yaml(inv: &mut Inventory, text: &str, stem: &str) -> Result<(), String> {
    let mut docs = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let v = Value::deserialize(doc).map_err(|e| format!("YAML: {e}"))?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    if docs.is_empty() {
        return Err("empty document".to_string());
    }
    let many = docs.len() > 1;
    for (i, doc) in docs.into_iter().enumerate() {
        let fallback = if many {
            format!("{stem}[{i}]")
        } else {
            stem.to_string()
        };
        let Some(obj) = doc.as_object() else {
            return Err(format!("document {i} is not a mapping"));
        };
        let compute = yaml_to_arm(obj);
        let json = compute.to_string();
        read_one(
            inv,
            &json,
            fallback,
            &if many {
                format!("document[{i}]")
            } else {
                String::new()
            },
        );
    }
    Ok(())
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
                "timeZone": get("time_zone"),
                "schedule": {
                    "hours": s("hours"),
                    "minutes": s("minutes"),
                    "weekDays": s("week_days"),
                    "monthDays": s("month_days"),
                },
            });
        }
        other => {
            entry["triggerType"] = other.map(Value::from).unwrap_or(Value::Null);
        }
    }
    entry
}
