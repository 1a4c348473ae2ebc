//! The fleet file: compute resources as ARM returns them, placed into subscriptions/workspaces.

use crate::ids::{parse_compute_id, WorkspacePath};
use serde_json::Value;
use std::path::Path;

/// The real `Compute_Get` example (api-version 2025-12-01) used as the template of synthetic computes.
const GET_FIXTURE: &str =
    include_str!("../../testdata/arm/2025-12-01_Compute_get_ComputeInstance.json");

/// Default subscription for computes whose `id` is not a full ARM id.
pub const DEFAULT_SUBSCRIPTION: &str = "00000000-0000-0000-0000-000000000001";
/// Default resource group for computes whose `id` is not a full ARM id.
pub const DEFAULT_RESOURCE_GROUP: &str = "curfew-sim";
/// Default workspace for computes whose `id` is not a full ARM id.
pub const DEFAULT_WORKSPACE: &str = "curfew-sim-ws";

/// Errors loading a fleet file.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The fleet file could not be read.
    #[error("cannot read fleet file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The fleet file is not JSON.
    #[error("fleet file {path} is not JSON: {source}")]
    Json {
        /// The file.
        path: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A compute in the fleet file has an unusable shape.
    #[error("fleet entry {index}: {reason}")]
    Entry {
        /// Index of the compute in the file (0-based).
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// One compute resource placed in a workspace.
#[derive(Debug, Clone)]
pub struct PlacedCompute {
    /// Where it lives.
    pub workspace: WorkspacePath,
    /// Its name.
    pub name: String,
    /// The ARM resource JSON (its `id` rewritten to the full ARM id).
    pub body: Value,
}

/// A set of computes the simulator serves.
#[derive(Debug, Clone, Default)]
pub struct SimFleet {
    /// Computes in file order.
    pub computes: Vec<PlacedCompute>,
}

impl SimFleet {
    /// Reads a fleet file: one compute object, a JSON array of them, or an ARM list `{"value": [...]}`.
    pub fn load(path: &Path, default_ws: &WorkspacePath) -> Result<SimFleet, FleetError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| FleetError::Read {
            path: p.clone(),
            source,
        })?;
        let json: Value =
            serde_json::from_str(&text).map_err(|source| FleetError::Json { path: p, source })?;
        SimFleet::from_json(json, default_ws)
    }

    /// Builds a fleet from already-parsed fleet JSON (see [`Fleet::load`]).
    pub fn from_json(json: Value, default_ws: &WorkspacePath) -> Result<SimFleet, FleetError> {
        let items = match json {
            Value::Array(items) => items,
            Value::Object(mut map) if map.get("value").is_some_and(Value::is_array) => {
                match map.remove("value") {
                    Some(Value::Array(items)) => items,
                    _ => Vec::new(),
                }
            }
            obj @ Value::Object(_) => vec![obj],
            _ => {
                return Err(FleetError::Entry {
                    index: 0,
                    reason: "expected a compute object, an array, or {\"value\": [...]}".into(),
                })
            }
        };
        let mut fleet = SimFleet::default();
        for (index, body) in items.into_iter().enumerate() {
            fleet.push(index, body, default_ws)?;
        }
        Ok(fleet)
    }

    fn push(
        &mut self,
        index: usize,
        mut body: Value,
        default_ws: &WorkspacePath,
    ) -> Result<(), FleetError> {
        let err = |reason: &str| FleetError::Entry {
            index,
            reason: reason.to_string(),
        };
        let obj = body
            .as_object_mut()
            .ok_or_else(|| err("not a JSON object"))?;
        let id = obj.get("id").and_then(Value::as_str).map(str::to_string);
        let (ws, name) = match id.as_deref().and_then(parse_compute_id) {
            Some(placed) => placed,
            None => {
                let name = obj
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .or_else(|| {
                        id.as_deref()
                            .and_then(|i| i.rsplit('/').next())
                            .map(str::to_string)
                    })
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| err("has neither a full ARM `id` nor a `name`"))?;
                (default_ws.clone(), name)
            }
        };
        if !obj.get("properties").is_some_and(Value::is_object) {
            return Err(err("has no `properties` object"));
        }
        obj.insert("id".into(), Value::String(ws.compute_id(&name)));
        obj.insert("name".into(), Value::String(name.clone()));
        obj.entry("type").or_insert_with(|| {
            Value::String("Microsoft.MachineLearningServices/workspaces/computes".into())
        });
        self.computes.push(PlacedCompute {
            workspace: ws,
            name,
            body,
        });
        Ok(())
    }

    /// A generated fleet for load tests: `subs` subscriptions × `ws_per_sub` workspaces × `per_ws`
    /// running compute instances, each a copy of the real `Compute_Get` example.
    pub fn synthetic(subs: usize, ws_per_sub: usize, per_ws: usize) -> SimFleet {
        let fixture: Value = serde_json::from_str(GET_FIXTURE).unwrap_or(Value::Null);
        let template = fixture["responses"]["200"]["body"].clone();
        let mut fleet = SimFleet::default();
        for s in 0..subs {
            for w in 0..ws_per_sub {
                let ws = WorkspacePath {
                    subscription: format!("00000000-0000-0000-0000-{:012}", s + 1),
                    resource_group: format!("rg-{s:03}"),
                    workspace: format!("ws-{s:03}-{w:03}"),
                };
                for i in 0..per_ws {
                    let name = format!("ci-{s:03}-{w:03}-{i:03}");
                    let mut body = template.clone();
                    body["id"] = Value::String(ws.compute_id(&name));
                    body["name"] = Value::String(name.clone());
                    fleet.computes.push(PlacedCompute {
                        workspace: ws.clone(),
                        name,
                        body,
                    });
                }
            }
        }
        fleet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_ws() -> WorkspacePath {
        WorkspacePath {
            subscription: DEFAULT_SUBSCRIPTION.into(),
            resource_group: DEFAULT_RESOURCE_GROUP.into(),
            workspace: DEFAULT_WORKSPACE.into(),
        }
    }

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../testdata/arm/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn a_single_get_response_places_by_its_arm_id() {
        let body = fixture("2025-12-01_Compute_get_ComputeInstance.json")["responses"]["200"]
            ["body"]
            .clone();
        let fleet = SimFleet::from_json(body, &default_ws()).unwrap();
        assert_eq!(fleet.computes.len(), 1);
        assert_eq!(fleet.computes[0].workspace.workspace, "workspaces123");
        assert_eq!(fleet.computes[0].name, "compute123");
    }

    #[test]
    fn a_list_response_and_bare_names_go_to_the_default_workspace() {
        let list = fixture("2025-09-01_Compute_list.json")["responses"]["200"]["body"].clone();
        let fleet = SimFleet::from_json(list, &default_ws()).unwrap();
        assert_eq!(fleet.computes.len(), 2);
        let bare =
            serde_json::json!([{"name": "mine", "properties": {"computeType": "ComputeInstance"}}]);
        let fleet = SimFleet::from_json(bare, &default_ws()).unwrap();
        assert_eq!(fleet.computes[0].workspace, default_ws());
        assert!(fleet.computes[0].body["id"]
            .as_str()
            .unwrap()
            .ends_with("/workspaces/curfew-sim-ws/computes/mine"));
        let bad = serde_json::json!([{"properties": {}}]);
        assert!(matches!(
            SimFleet::from_json(bad, &default_ws()),
            Err(FleetError::Entry { index: 0, .. })
        ));
    }

    #[test]
    fn synthetic_fleets_copy_the_fixture() {
        let fleet = SimFleet::synthetic(2, 3, 4);
        assert_eq!(fleet.computes.len(), 24);
        let c = &fleet.computes[23];
        assert_eq!(c.body["properties"]["properties"]["state"], "Running");
        assert_eq!(
            parse_compute_id(c.body["id"].as_str().unwrap()).unwrap().1,
            c.name
        );
    }
}
