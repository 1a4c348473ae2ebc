//! What the client returns: computes as raw ARM JSON plus parsed id parts, list results with
//! counts, workspaces, and long-running operation handles.

use crate::id::{ComputeId, WorkspaceRef};
use serde_json::value::RawValue;
use serde_json::Value;
use std::time::Duration;

/// The compute type Curfew governs; others are listed but skipped.
pub const COMPUTE_INSTANCE: &str = "ComputeInstance";

/// One compute as ARM returned it. The engine parses schedules from `raw`.
///
/// The body is kept as compact JSON text rather than a `serde_json::Value` tree: a compute
/// instance body is about 2 KB of text but 7–8 times that as a tree, and a fleet listing holds
/// every compute at once.
#[derive(Debug, Clone)]
pub struct Compute {
    /// Parsed ARM id.
    pub id: ComputeId,
    /// `properties.computeType` (e.g. `ComputeInstance`, `AKS`).
    pub compute_type: String,
    /// `properties.properties.state` (e.g. `Running`, `Stopped`), if present.
    state: Option<String>,
    /// The resource JSON as ARM sent it (compact text).
    pub raw: Box<RawValue>,
}

impl Compute {
    /// Builds from one ARM resource object; `None` if its `id` is not a compute id.
    pub fn from_json(raw: Value) -> Option<Compute> {
        let id = ComputeId::parse(raw.get("id")?.as_str()?)?;
        let compute_type = raw["properties"]["computeType"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let state = raw["properties"]["properties"]["state"]
            .as_str()
            .map(str::to_string);
        let raw = serde_json::value::to_raw_value(&raw).ok()?;
        Some(Compute {
            id,
            compute_type,
            state,
            raw,
        })
    }

    /// `properties.properties.state` (e.g. `Running`, `Stopped`), if present.
    pub fn state(&self) -> Option<&str> {
        self.state.as_deref()
    }

    /// The resource JSON as a tree (parsed on demand).
    pub fn value(&self) -> Value {
        serde_json::from_str(self.raw.get()).unwrap_or(Value::Null)
    }
}

/// The compute instances of one workspace, following `nextLink` to the end.
#[derive(Debug, Clone, Default)]
pub struct ComputeList {
    /// Computes of type `ComputeInstance`.
    pub instances: Vec<Compute>,
    /// How many computes of other types (AKS, clusters, …) were skipped.
    pub other_types: usize,
    /// Pages read.
    pub pages: usize,
}

/// A workspace found during discovery.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Parsed id.
    pub id: WorkspaceRef,
    /// Its region (`location`), if given.
    pub location: Option<String>,
    /// The resource JSON as ARM sent it.
    pub raw: Value,
}

/// A compute action that ARM runs as a long-running operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `start`.
    Start,
    /// `stop`.
    Stop,
    /// `restart`.
    Restart,
}

impl Action {
    /// The URL segment.
    pub(crate) fn segment(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Restart => "restart",
        }
    }

    /// The role action the identity needs.
    pub fn role_action(self) -> &'static str {
        match self {
            Action::Start => "Microsoft.MachineLearningServices/workspaces/computes/start/action",
            Action::Stop => "Microsoft.MachineLearningServices/workspaces/computes/stop/action",
            Action::Restart => {
                "Microsoft.MachineLearningServices/workspaces/computes/restart/action"
            }
        }
    }
}

/// A handle to an accepted action, to poll now or reconcile later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// The compute acted on.
    pub compute: ComputeId,
    /// The action.
    pub action: Action,
    /// `Azure-AsyncOperation` status URL, if ARM gave one (preferred).
    pub async_operation: Option<String>,
    /// `Location` URL, if ARM gave one.
    pub location: Option<String>,
    /// ARM's advice on when to poll first.
    pub retry_after: Option<Duration>,
}

/// Where an operation stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationStatus {
    /// Still running; poll again after the advised delay.
    InProgress(Option<Duration>),
    /// Done.
    Succeeded,
}

/// Whether an action call waits for its operation to finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// Poll until the operation succeeds, fails, or its deadline passes.
    Wait,
    /// Return the handle as soon as ARM accepted the action.
    Accepted,
}
