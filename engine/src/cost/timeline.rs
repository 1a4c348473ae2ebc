//! The timeline cost is computed from: instance metadata, observed states and Curfew's actions,
//! as JSON lines or one JSON array (format in `docs/cost.md`). The governor's store emits the
//! same records.

use super::CostError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Who performed an action. Only Curfew's stops count as savings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Actor {
    /// Curfew (schedule, policy default or idle shutdown).
    Curfew,
    /// A person (portal, CLI, SDK).
    User,
    /// Azure ML itself (its own schedules or idle shutdown).
    Azureml,
}

/// A start or a stop (`"start"`/`"stop"`, any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PowerAction {
    /// Started the instance.
    #[serde(rename = "start", alias = "Start", alias = "START")]
    Start,
    /// Stopped the instance.
    #[serde(rename = "stop", alias = "Stop", alias = "STOP")]
    Stop,
}

/// What is known about an instance; later records fill in or replace earlier fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceMeta {
    /// The compute instance's name (the key of every other record).
    pub instance: String,
    /// VM size, for the price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_size: Option<String>,
    /// Owner (assigned user, else creator): a name or object id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Workspace name (else read from `computeId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// Subscription id (else read from `computeId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
    /// The ARM id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_id: Option<String>,
}

impl InstanceMeta {
    /// Metadata from an inventory instance (VM size, owner, workspace and subscription from its id).
    pub fn from_instance(instance: &crate::inventory::Instance) -> Self {
        let mut meta = Self {
            instance: instance.name.clone(),
            vm_size: instance.vm_size.clone(),
            owner: instance
                .assigned_user
                .clone()
                .or_else(|| instance.created_by.clone()),
            compute_id: instance.id.clone(),
            ..Self::default()
        };
        meta.fill_from_id();
        meta
    }

    /// A short stable digest of everything the record says (SHA-256 of its JSON, 32 hex
    /// chars): the governor writes a new record when it changes (a reassigned owner, a resize).
    pub fn fingerprint(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let digest = ring::digest::digest(&ring::digest::SHA256, &json);
        digest.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Fills `workspace` and `subscription` from `compute_id` where they are missing.
    pub(crate) fn fill_from_id(&mut self) {
        let Some(id) = self.compute_id.as_deref() else {
            return;
        };
        let parts: Vec<&str> = id.split('/').collect();
        let after = |word: &str| {
            parts
                .iter()
                .position(|p| p.eq_ignore_ascii_case(word))
                .and_then(|i| parts.get(i + 1))
                .filter(|s| !s.is_empty())
                .map(|s| (*s).to_owned())
        };
        if self.subscription.is_none() {
            self.subscription = after("subscriptions");
        }
        if self.workspace.is_none() {
            self.workspace = after("workspaces");
        }
    }

    fn merge(&mut self, other: Self) {
        self.vm_size = other.vm_size.or(self.vm_size.take());
        self.owner = other.owner.or(self.owner.take());
        self.workspace = other.workspace.or(self.workspace.take());
        self.subscription = other.subscription.or(self.subscription.take());
        self.compute_id = other.compute_id.or(self.compute_id.take());
    }
}

/// The instance was seen in `state` at `at` (from ARM's list/get); it holds until the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateObservation {
    /// Instance name.
    pub instance: String,
    /// When it was observed.
    pub at: DateTime<Utc>,
    /// ARM `state` (`Running`, `Stopped`, `Starting`, …).
    pub state: String,
}

/// A start or stop someone performed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionRecord {
    /// Instance name.
    pub instance: String,
    /// When it was performed.
    pub at: DateTime<Utc>,
    /// What it did.
    pub action: PowerAction,
    /// Who did it.
    pub by: Actor,
    /// Why, in words (a schedule, a policy default, idle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For a stop: the next scheduled start known at the time, which bounds the savings when the
    /// instance has not been started since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_start: Option<DateTime<Utc>>,
    /// `false` when the action failed (a failed stop saves nothing). Default `true`.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub succeeded: bool,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// One line (or array element) of a timeline file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TimelineEvent {
    /// Instance metadata.
    Instance(InstanceMeta),
    /// A state observation.
    State(StateObservation),
    /// An action.
    Action(ActionRecord),
}

/// One record by its `kind`, with the JSON path of any problem (serde loses paths inside
/// internally tagged enums, so the tag is read first).
fn event_of(mut value: serde_json::Value) -> Result<TimelineEvent, (String, String)> {
    fn typed<T: serde::de::DeserializeOwned>(
        value: serde_json::Value,
    ) -> Result<T, (String, String)> {
        serde_path_to_error::deserialize(value)
            .map_err(|e| (e.path().to_string(), e.inner().to_string()))
    }
    let kind = match value.as_object_mut().map(|o| o.remove("kind")) {
        None => return Err((".".to_owned(), "expected a JSON object".to_owned())),
        Some(Some(serde_json::Value::String(kind))) => kind,
        Some(_) => {
            return Err((
                "kind".to_owned(),
                "missing; expected \"instance\", \"state\" or \"action\"".to_owned(),
            ))
        }
    };
    match kind.to_ascii_lowercase().as_str() {
        "instance" => typed(value).map(TimelineEvent::Instance),
        "state" => typed(value).map(TimelineEvent::State),
        "action" => typed(value).map(TimelineEvent::Action),
        _ => Err((
            "kind".to_owned(),
            format!("unknown kind '{kind}'; expected \"instance\", \"state\" or \"action\""),
        )),
    }
}

/// Everything known, grouped per instance; states and actions sorted by time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    /// Metadata per instance name.
    pub instances: BTreeMap<String, InstanceMeta>,
    /// Observed states per instance name, by time (stable for equal times).
    pub states: BTreeMap<String, Vec<StateObservation>>,
    /// Actions per instance name, by time.
    pub actions: BTreeMap<String, Vec<ActionRecord>>,
}

impl Timeline {
    /// Reads JSON lines (one record per line; blank lines and lines starting with `#` skipped)
    /// or one JSON array. Errors name the file, the line and the JSON path.
    pub fn parse(text: &str, source_name: &str) -> Result<Self, CostError> {
        let error = |location: String, message: String| CostError::Format {
            source_name: source_name.to_owned(),
            location,
            message,
        };
        let mut events = Vec::new();
        if text.trim_start().starts_with('[') {
            let items: Vec<serde_json::Value> = serde_json::from_str(text)
                .map_err(|e| error(format!("line {}", e.line()), e.to_string()))?;
            for (i, item) in items.into_iter().enumerate() {
                events.push(
                    event_of(item)
                        .map_err(|(path, message)| error(format!("[{i}].{path}"), message))?,
                );
            }
        } else {
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let location = |path: &str| format!("line {}: {path}", i + 1);
                let value: serde_json::Value = serde_json::from_str(line)
                    .map_err(|e| error(location("."), format!("not JSON: {e}")))?;
                events.push(
                    event_of(value).map_err(|(path, message)| error(location(&path), message))?,
                );
            }
        }
        Ok(Self::from_events(events))
    }

    /// Builds a timeline from records in any order.
    pub fn from_events(events: impl IntoIterator<Item = TimelineEvent>) -> Self {
        let mut timeline = Self::default();
        for event in events {
            timeline.push(event);
        }
        timeline.sort();
        timeline
    }

    /// Adds one record (call [`Timeline::sort`] after a batch).
    pub fn push(&mut self, event: TimelineEvent) {
        match event {
            TimelineEvent::Instance(meta) => self.add_meta(meta),
            TimelineEvent::State(s) => self.states.entry(s.instance.clone()).or_default().push(s),
            TimelineEvent::Action(a) => self.actions.entry(a.instance.clone()).or_default().push(a),
        }
    }

    /// Adds or completes an instance's metadata (e.g. from an inventory).
    pub fn add_meta(&mut self, mut meta: InstanceMeta) {
        meta.fill_from_id();
        match self.instances.get_mut(&meta.instance) {
            Some(existing) => existing.merge(meta),
            None => {
                self.instances.insert(meta.instance.clone(), meta);
            }
        }
    }

    /// Sorts states and actions by time (stable).
    pub fn sort(&mut self) {
        for list in self.states.values_mut() {
            list.sort_by_key(|s| s.at);
        }
        for list in self.actions.values_mut() {
            list.sort_by_key(|a| a.at);
        }
    }

    /// Every instance name that appears anywhere.
    pub fn instance_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .instances
            .keys()
            .chain(self.states.keys())
            .chain(self.actions.keys())
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Earliest and latest time of any state or action.
    pub fn span(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let times = self
            .states
            .values()
            .flat_map(|l| l.iter().map(|s| s.at))
            .chain(self.actions.values().flat_map(|l| l.iter().map(|a| a.at)));
        times.fold(None, |acc, t| match acc {
            None => Some((t, t)),
            Some((lo, hi)) => Some((lo.min(t), hi.max(t))),
        })
    }
}
