//! The simulated estate and its state machine. Pure: every call takes `now`; no I/O, no clock.
//!
//! `stop` on Running → Stopping → Stopped after the transition delay; `start` on Stopped →
//! Starting → Running; `restart` on Running → Restarting → Running. Stop on Stopped and start on
//! Running are accepted as no-ops; any other action on a state answers 409 like Azure.
//! Transitions settle lazily when the compute or its operation is next looked at.

use crate::fleet::SimFleet;
use crate::ids::{ActionKind, WorkspacePath};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::time::Instant;

/// What happened to one accepted action, for tests that check nothing was lost or duplicated.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ActionRecord {
    /// The compute's ARM id.
    pub compute: String,
    /// The action.
    pub action: ActionKind,
    /// When it was accepted.
    pub at: DateTime<Utc>,
    /// `true` if it changed state; `false` for a no-op (stop on Stopped, start on Running).
    pub changed_state: bool,
}

/// Why the simulator refused an action or lookup.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum WorldError {
    /// 404 with an ARM error code and message.
    NotFound(&'static str, String),
    /// 409: the compute is in a state that does not allow the action.
    Conflict(String),
    /// 400: malformed request.
    BadRequest(String),
}

/// Status of a long-running operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpStatus {
    InProgress,
    Succeeded,
}

/// One long-running operation.
#[derive(Debug, Clone)]
pub(crate) struct Operation {
    pub(crate) id: String,
    pub(crate) subscription: String,
    pub(crate) location: String,
    compute: String,
    pub(crate) started: DateTime<Utc>,
    done_at: Instant,
    pub(crate) ended: Option<DateTime<Utc>>,
    pub(crate) status: OpStatus,
}

#[derive(Debug)]
struct Pending {
    target: &'static str,
    done_at: Instant,
    op: String,
    ended: DateTime<Utc>,
}

#[derive(Debug)]
struct ComputeEntry {
    body: Value,
    pending: Option<Pending>,
}

#[derive(Debug)]
struct WorkspaceEntry {
    path: WorkspacePath,
    location: String,
    computes: Vec<String>,
}

/// The whole simulated estate.
#[derive(Debug)]
pub(crate) struct World {
    workspaces: Vec<WorkspaceEntry>,
    ws_index: HashMap<String, usize>,
    computes: HashMap<String, ComputeEntry>,
    ops: HashMap<String, Operation>,
    actions: Vec<ActionRecord>,
    next_op: u64,
    transition: Duration,
    /// Computes (keys) whose accepted stops succeed and leave them Running (drift).
    lost_stops: HashSet<String>,
}

fn state_of(body: &Value) -> &str {
    body["properties"]["properties"]["state"]
        .as_str()
        .unwrap_or("Unknown")
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl World {
    pub(crate) fn new(fleet: SimFleet, transition: Duration) -> World {
        let mut w = World {
            workspaces: Vec::new(),
            ws_index: HashMap::new(),
            computes: HashMap::new(),
            ops: HashMap::new(),
            actions: Vec::new(),
            next_op: 0,
            transition,
            lost_stops: HashSet::new(),
        };
        for c in fleet.computes {
            let key = c.workspace.key();
            let idx = *w.ws_index.entry(key).or_insert_with(|| {
                w.workspaces.push(WorkspaceEntry {
                    path: c.workspace.clone(),
                    location: c.body["location"].as_str().unwrap_or("eastus").to_string(),
                    computes: Vec::new(),
                });
                w.workspaces.len() - 1
            });
            let ckey = c.workspace.compute_id(&c.name).to_ascii_lowercase();
            if w.computes
                .insert(
                    ckey.clone(),
                    ComputeEntry {
                        body: c.body,
                        pending: None,
                    },
                )
                .is_none()
            {
                w.workspaces[idx].computes.push(ckey);
            }
        }
        w
    }

    pub(crate) fn actions(&self) -> &[ActionRecord] {
        &self.actions
    }

    fn workspace(&self, ws: &WorkspacePath) -> Result<&WorkspaceEntry, WorldError> {
        self.ws_index.get(&ws.key()).map(|i| &self.workspaces[*i]).ok_or_else(|| {
            WorldError::NotFound(
                "ResourceNotFound",
                format!(
                    "The Resource 'Microsoft.MachineLearningServices/workspaces/{}' under resource group '{}' was not found.",
                    ws.workspace, ws.resource_group
                ),
            )
        })
    }

    fn workspace_json(entry: &WorkspaceEntry) -> Value {
        json!({
            "id": entry.path.arm_id(),
            "name": entry.path.workspace,
            "type": "Microsoft.MachineLearningServices/workspaces",
            "location": entry.location,
            "kind": "Default",
            "properties": {"friendlyName": entry.path.workspace, "provisioningState": "Succeeded"}
        })
    }

    /// Workspaces of a subscription, optionally of one resource group.
    pub(crate) fn list_workspaces(
        &self,
        sub: &str,
        rg: Option<&str>,
    ) -> Result<Vec<Value>, WorldError> {
        let in_sub: Vec<&WorkspaceEntry> = self
            .workspaces
            .iter()
            .filter(|w| w.path.subscription.eq_ignore_ascii_case(sub))
            .collect();
        if in_sub.is_empty() {
            return Err(WorldError::NotFound(
                "SubscriptionNotFound",
                format!("The subscription '{sub}' could not be found."),
            ));
        }
        let picked: Vec<Value> = in_sub
            .into_iter()
            .filter(|w| rg.is_none_or(|rg| w.path.resource_group.eq_ignore_ascii_case(rg)))
            .map(Self::workspace_json)
            .collect();
        if picked.is_empty() {
            if let Some(rg) = rg {
                return Err(WorldError::NotFound(
                    "ResourceGroupNotFound",
                    format!("Resource group '{rg}' could not be found."),
                ));
            }
        }
        Ok(picked)
    }

    pub(crate) fn get_workspace(&self, ws: &WorkspacePath) -> Result<Value, WorldError> {
        self.workspace(ws).map(Self::workspace_json)
    }

    fn settle(&mut self, key: &str, now: Instant) {
        let Some(entry) = self.computes.get_mut(key) else {
            return;
        };
        let due = entry.pending.as_ref().is_some_and(|p| now >= p.done_at);
        if !due {
            return;
        }
        if let Some(p) = entry.pending.take() {
            let props = &mut entry.body["properties"]["properties"];
            props["state"] = Value::String(p.target.into());
            props["lastOperation"]["operationStatus"] = Value::String("Succeeded".into());
            if let Some(op) = self.ops.get_mut(&p.op) {
                op.status = OpStatus::Succeeded;
                op.ended = Some(p.ended);
            }
        }
    }

    /// One page of a workspace's computes, and the total count.
    pub(crate) fn list_computes(
        &mut self,
        ws: &WorkspacePath,
        skip: usize,
        take: usize,
        now: Instant,
    ) -> Result<(Vec<Value>, usize), WorldError> {
        let keys: Vec<String> = self.workspace(ws)?.computes.clone();
        let page: Vec<Value> = keys
            .iter()
            .skip(skip)
            .take(take)
            .map(|k| {
                self.settle(k, now);
                self.computes[k].body.clone()
            })
            .collect();
        Ok((page, keys.len()))
    }

    fn compute_key(&self, ws: &WorkspacePath, name: &str) -> Result<String, WorldError> {
        self.workspace(ws)?;
        let key = ws.compute_id(name).to_ascii_lowercase();
        if self.computes.contains_key(&key) {
            Ok(key)
        } else {
            Err(WorldError::NotFound(
                "ResourceNotFound",
                format!(
                    "The Resource 'Microsoft.MachineLearningServices/workspaces/{}/computes/{name}' under resource group '{}' was not found.",
                    ws.workspace, ws.resource_group
                ),
            ))
        }
    }

    pub(crate) fn get_compute(
        &mut self,
        ws: &WorkspacePath,
        name: &str,
        now: Instant,
    ) -> Result<Value, WorldError> {
        let key = self.compute_key(ws, name)?;
        self.settle(&key, now);
        Ok(self.computes[&key].body.clone())
    }

    /// A compute's JSON by its ARM id (settled), for tests.
    pub(crate) fn compute_by_id(&mut self, id: &str, now: Instant) -> Option<Value> {
        let key = id.to_ascii_lowercase();
        self.settle(&key, now);
        self.computes.get(&key).map(|c| c.body.clone())
    }

    /// Applies an action. Returns the operation id of an accepted start/stop/restart.
    pub(crate) fn act(
        &mut self,
        ws: &WorkspacePath,
        name: &str,
        action: ActionKind,
        body: Option<&Value>,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Result<Option<String>, WorldError> {
        let key = self.compute_key(ws, name)?;
        self.settle(&key, now);
        let location = self.workspace(ws)?.location.clone();
        let entry = self
            .computes
            .get_mut(&key)
            .ok_or(WorldError::Conflict(String::new()))?;
        let ctype = entry.body["properties"]["computeType"]
            .as_str()
            .unwrap_or("");
        if ctype != "ComputeInstance" {
            return Err(WorldError::BadRequest(format!(
                "Compute '{name}' is of type '{ctype}'; this operation is only supported for ComputeInstance."
            )));
        }
        if action == ActionKind::UpdateIdleShutdown {
            let idle = body
                .and_then(|b| b.get("idleTimeBeforeShutdown"))
                .and_then(Value::as_str)
                .filter(|s| s.starts_with("PT") && s.len() > 3)
                .ok_or_else(|| {
                    WorldError::BadRequest(
                        "Body must be {\"idleTimeBeforeShutdown\": \"PT<n>M\"}.".into(),
                    )
                })?;
            entry.body["properties"]["properties"]["idleTimeBeforeShutdown"] =
                Value::String(idle.into());
            self.actions.push(ActionRecord {
                compute: entry.body["id"].as_str().unwrap_or("").into(),
                action,
                at: wall,
                changed_state: true,
            });
            return Ok(None);
        }
        let state = state_of(&entry.body).to_string();
        let lost = action == ActionKind::Stop && self.lost_stops.contains(&key);
        let (transitional, target, changes) = match (action, state.as_str()) {
            // The drift fault: accepted, reported as succeeded, and the instance stays Running.
            (ActionKind::Stop, "Running" | "JobRunning") if lost => ("Running", "Running", true),
            (ActionKind::Stop, "Running" | "JobRunning") => ("Stopping", "Stopped", true),
            (ActionKind::Stop, "Stopped") => ("Stopped", "Stopped", false),
            (ActionKind::Start, "Stopped") => ("Starting", "Running", true),
            (ActionKind::Start, "Running") => ("Running", "Running", false),
            (ActionKind::Restart, "Running" | "JobRunning") => ("Restarting", "Running", true),
            _ => {
                return Err(WorldError::Conflict(format!(
                    "Cannot {} compute instance '{name}' while it is in state '{state}'. Retry when the current operation completes.",
                    action.operation_name().to_ascii_lowercase()
                )))
            }
        };
        self.next_op += 1;
        let op = format!("{:08x}-5eed-4000-8000-{:012x}", self.next_op, self.next_op);
        let done_at = if changes { now + self.transition } else { now };
        let ended = wall + chrono::Duration::from_std(self.transition).unwrap_or_default();
        self.ops.insert(
            op.clone(),
            Operation {
                id: op.clone(),
                subscription: ws.subscription.clone(),
                location,
                compute: key.clone(),
                started: wall,
                done_at,
                ended: None,
                status: OpStatus::InProgress,
            },
        );
        if changes {
            let props = &mut entry.body["properties"]["properties"];
            props["state"] = Value::String(transitional.into());
            props["lastOperation"] = json!({
                "operationName": action.operation_name(),
                "operationTime": rfc3339(wall),
                "operationStatus": "InProgress",
                "operationTrigger": "User"
            });
        }
        entry.pending = Some(Pending {
            target,
            done_at,
            op: op.clone(),
            ended,
        });
        self.actions.push(ActionRecord {
            compute: entry.body["id"].as_str().unwrap_or("").into(),
            action,
            at: wall,
            changed_state: changes,
        });
        self.settle(&key, now);
        Ok(Some(op))
    }

    /// Makes accepted stops of a compute (by ARM id) succeed without stopping it, or behave
    /// again: ARM's "succeeded" is not proof, and this is how tests show it.
    pub(crate) fn set_schedule_status(&mut self, id: &str, index: usize, status: &str) -> bool {
        let key = id.to_ascii_lowercase();
        let Some(entry) = self.computes.get_mut(&key) else {
            return false;
        };
        match entry.body["properties"]["properties"]["schedules"]["computeStartStop"].get_mut(index)
        {
            Some(s) => {
                s["status"] = Value::from(status);
                true
            }
            None => false,
        }
    }

    /// Gives a compute (by ARM id) another assigned user; false when there is no such one.
    pub(crate) fn set_assigned_user(&mut self, id: &str, object_id: &str) -> bool {
        let key = id.to_ascii_lowercase();
        let Some(entry) = self.computes.get_mut(&key) else {
            return false;
        };
        entry.body["properties"]["properties"]["personalComputeInstanceSettings"]["assignedUser"]
            ["objectId"] = Value::from(object_id);
        true
    }

    pub(crate) fn lose_stops(&mut self, id: &str, lose: bool) {
        let key = id.to_ascii_lowercase();
        if lose {
            self.lost_stops.insert(key);
        } else {
            self.lost_stops.remove(&key);
        }
    }

    /// An operation's current view (settling its compute first).
    pub(crate) fn operation(&mut self, op: &str, now: Instant) -> Option<Operation> {
        let compute = self.ops.get(op)?.compute.clone();
        self.settle(&compute, now);
        let o = self.ops.get_mut(op)?;
        if o.status == OpStatus::InProgress && now >= o.done_at {
            o.status = OpStatus::Succeeded;
            o.ended = Some(o.started);
        }
        Some(o.clone())
    }

    /// Time left until an operation completes (for `Retry-After`).
    pub(crate) fn remaining(&self, op: &str, now: Instant) -> Duration {
        self.ops
            .get(op)
            .map(|o| o.done_at.saturating_duration_since(now))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world(transition_ms: u64) -> (World, WorkspacePath) {
        let fleet = SimFleet::synthetic(1, 1, 2);
        let ws = fleet.computes[0].workspace.clone();
        (World::new(fleet, Duration::from_millis(transition_ms)), ws)
    }

    fn state(w: &mut World, ws: &WorkspacePath, name: &str, now: Instant) -> String {
        w.get_compute(ws, name, now).unwrap()["properties"]["properties"]["state"]
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_lost_stop_succeeds_and_leaves_the_instance_running() {
        let (mut w, ws) = world(10);
        let t0 = Instant::now();
        let id = ws.compute_id("ci-000-000-000");
        assert_eq!(state(&mut w, &ws, "ci-000-000-000", t0), "Running");
        w.lose_stops(&id, true);
        let wall = Utc::now();
        let op = w
            .act(&ws, "ci-000-000-000", ActionKind::Stop, None, t0, wall)
            .unwrap()
            .unwrap();
        let later = t0 + Duration::from_millis(20);
        assert_eq!(w.operation(&op, later).unwrap().status, OpStatus::Succeeded);
        assert_eq!(state(&mut w, &ws, "ci-000-000-000", later), "Running");
        assert!(
            w.actions().last().unwrap().changed_state,
            "it claims to have stopped"
        );
        w.lose_stops(&id, false);
        w.act(&ws, "ci-000-000-000", ActionKind::Stop, None, later, wall)
            .unwrap();
        let end = later + Duration::from_millis(20);
        assert_eq!(state(&mut w, &ws, "ci-000-000-000", end), "Stopped");
    }

    #[test]
    fn stop_goes_through_stopping_to_stopped_after_the_delay() {
        let (mut w, ws) = world(1000);
        let t0 = Instant::now();
        let wall = Utc::now();
        let op = w
            .act(&ws, "ci-000-000-000", ActionKind::Stop, None, t0, wall)
            .unwrap()
            .unwrap();
        assert_eq!(state(&mut w, &ws, "ci-000-000-000", t0), "Stopping");
        let last = &w.get_compute(&ws, "ci-000-000-000", t0).unwrap()["properties"]["properties"]
            ["lastOperation"];
        assert_eq!(last["operationName"], "Stop");
        assert_eq!(last["operationStatus"], "InProgress");
        assert_eq!(last["operationTrigger"], "User");
        // Transitional states refuse actions with a conflict.
        assert!(matches!(
            w.act(&ws, "ci-000-000-000", ActionKind::Start, None, t0, wall),
            Err(WorldError::Conflict(_))
        ));
        assert_eq!(w.operation(&op, t0).unwrap().status, OpStatus::InProgress);
        let t1 = t0 + Duration::from_millis(1000);
        assert_eq!(w.operation(&op, t1).unwrap().status, OpStatus::Succeeded);
        assert_eq!(state(&mut w, &ws, "ci-000-000-000", t1), "Stopped");
        let last = &w.get_compute(&ws, "ci-000-000-000", t1).unwrap()["properties"]["properties"]
            ["lastOperation"];
        assert_eq!(last["operationStatus"], "Succeeded");
        // Start brings it back; stop on Stopped would have been a no-op.
        w.act(&ws, "ci-000-000-000", ActionKind::Start, None, t1, wall)
            .unwrap();
        assert_eq!(state(&mut w, &ws, "ci-000-000-000", t1), "Starting");
        assert_eq!(
            state(&mut w, &ws, "ci-000-000-000", t1 + Duration::from_secs(1)),
            "Running"
        );
        assert_eq!(w.actions().iter().filter(|a| a.changed_state).count(), 2);
    }

    #[test]
    fn noops_restart_and_idle_setting() {
        let (mut w, ws) = world(0);
        let t = Instant::now();
        let wall = Utc::now();
        w.act(&ws, "ci-000-000-001", ActionKind::Start, None, t, wall)
            .unwrap();
        assert!(!w.actions()[0].changed_state, "start on Running is a no-op");
        w.act(&ws, "ci-000-000-001", ActionKind::Restart, None, t, wall)
            .unwrap();
        assert_eq!(state(&mut w, &ws, "ci-000-000-001", t), "Running");
        let body = json!({"idleTimeBeforeShutdown": "PT120M"});
        assert_eq!(
            w.act(
                &ws,
                "ci-000-000-001",
                ActionKind::UpdateIdleShutdown,
                Some(&body),
                t,
                wall
            ),
            Ok(None)
        );
        let c = w.get_compute(&ws, "ci-000-000-001", t).unwrap();
        assert_eq!(
            c["properties"]["properties"]["idleTimeBeforeShutdown"],
            "PT120M"
        );
        assert!(matches!(
            w.act(
                &ws,
                "ci-000-000-001",
                ActionKind::UpdateIdleShutdown,
                Some(&json!({})),
                t,
                wall
            ),
            Err(WorldError::BadRequest(_))
        ));
        assert!(matches!(
            w.get_compute(&ws, "nope", t),
            Err(WorldError::NotFound(..))
        ));
    }
}
