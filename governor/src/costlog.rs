//! The cost timeline the governor keeps (docs/design.md §9): one JSON line per instance first seen, per
//! observed state change and per action Curfew took, in the format `curfew report --timeline`
//! reads. Appending only on change keeps it small: a fleet that sleeps all night writes two lines
//! per instance per day.

use chrono::{DateTime, Utc};
use curfew_engine::cost::{
    ActionRecord, Actor, InstanceMeta, PowerAction, StateObservation, TimelineEvent,
};
use curfew_engine::inventory::Instance;
use curfew_engine::Action;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

/// An action Curfew carried out, as the timeline records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    /// Compute name.
    pub instance: String,
    /// Start or Stop.
    pub action: Action,
    /// Why, in words.
    pub reason: String,
    /// For a stop, the next scheduled start of the instance (savings run until then when no
    /// actual start follows).
    pub next_start: Option<DateTime<Utc>>,
}

/// An append-only timeline file and the last state written per instance.
#[derive(Debug)]
pub struct CostLog {
    path: PathBuf,
    /// Last state written per instance; `None` until the file has been read once.
    last: Mutex<Option<HashMap<String, String>>>,
}

impl CostLog {
    /// A log at `path` (created on first write).
    pub fn new(path: PathBuf) -> CostLog {
        CostLog {
            path,
            last: Mutex::new(None),
        }
    }

    /// Where it is written.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn load(&self) -> HashMap<String, String> {
        let mut last = HashMap::new();
        if let Ok(text) = std::fs::read_to_string(&self.path) {
            for line in text.lines() {
                if let Ok(TimelineEvent::State(s)) = serde_json::from_str::<TimelineEvent>(line) {
                    last.insert(s.instance, s.state);
                }
                if let Ok(TimelineEvent::Instance(m)) = serde_json::from_str::<TimelineEvent>(line)
                {
                    last.entry(m.instance).or_insert_with(String::new);
                }
            }
        }
        last
    }

    /// Records what a tick saw and did; returns the number of lines written.
    pub fn record(
        &self,
        now: DateTime<Utc>,
        seen: &[&Instance],
        executed: &[Executed],
    ) -> std::io::Result<usize> {
        let mut guard = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let last = guard.get_or_insert_with(|| self.load());
        let mut lines = Vec::new();
        for inst in seen {
            let state = inst.state.clone().unwrap_or_default();
            match last.get(&inst.name) {
                None => {
                    lines.push(TimelineEvent::Instance(InstanceMeta::from_instance(inst)));
                    lines.push(TimelineEvent::State(StateObservation {
                        instance: inst.name.clone(),
                        at: now,
                        state: state.clone(),
                    }));
                }
                Some(prev) if *prev != state => {
                    lines.push(TimelineEvent::State(StateObservation {
                        instance: inst.name.clone(),
                        at: now,
                        state: state.clone(),
                    }));
                }
                Some(_) => continue,
            }
            last.insert(inst.name.clone(), state);
        }
        for e in executed {
            lines.push(TimelineEvent::Action(ActionRecord {
                instance: e.instance.clone(),
                at: now,
                action: match e.action {
                    Action::Start => PowerAction::Start,
                    Action::Stop => PowerAction::Stop,
                },
                by: Actor::Curfew,
                reason: Some(e.reason.clone()),
                next_start: e.next_start,
                succeeded: true,
            }));
        }
        if lines.is_empty() {
            return Ok(0);
        }
        let mut text = String::new();
        for l in &lines {
            text.push_str(&serde_json::to_string(l).map_err(std::io::Error::other)?);
            text.push('\n');
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(text.as_bytes())?;
        Ok(lines.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(name: &str, state: &str) -> Instance {
        Instance {
            name: name.into(),
            state: Some(state.into()),
            vm_size: Some("Standard_NC6s_v3".into()),
            ..Instance::default()
        }
    }

    #[test]
    fn writes_only_changes_and_survives_a_restart() {
        let dir = std::env::temp_dir().join(format!("curfew-costlog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("timeline.jsonl");
        let _ = std::fs::remove_file(&path);
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let log = CostLog::new(path.clone());
        let (a, b) = (inst("a", "Running"), inst("b", "Stopped"));
        assert_eq!(
            log.record(t0, &[&a, &b], &[]).unwrap(),
            4,
            "meta + state for each"
        );
        assert_eq!(
            log.record(t0, &[&a, &b], &[]).unwrap(),
            0,
            "nothing changed"
        );
        let a2 = inst("a", "Stopped");
        let next = t0 + chrono::TimeDelta::hours(14);
        let n = log
            .record(
                t0,
                &[&a2, &b],
                &[Executed {
                    instance: "a".into(),
                    action: Action::Stop,
                    reason: "nightly".into(),
                    next_start: Some(next),
                }],
            )
            .unwrap();
        assert_eq!(n, 2, "one state change, one action");
        // A new process reads the file back and does not repeat what it says.
        let again = CostLog::new(path.clone());
        assert_eq!(again.record(t0, &[&a2, &b], &[]).unwrap(), 0);
        let text = std::fs::read_to_string(&path).unwrap();
        let tl = curfew_engine::cost::Timeline::parse(&text, "timeline.jsonl").unwrap();
        assert_eq!(tl.instances.len(), 2);
        assert_eq!(tl.actions["a"][0].next_start, Some(next));
        std::fs::remove_dir_all(&dir).ok();
    }
}
