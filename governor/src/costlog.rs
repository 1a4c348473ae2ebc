//! The cost timeline the governor keeps (docs/design.md §9): one record per instance first seen, per
//! observed state change and per action Curfew took, in the format `curfew report --timeline`
//! reads. Appending only on change keeps it small: a fleet that sleeps all night writes two
//! records per instance per day.
//!
//! The timeline lives in the store ([`record_in_store`], [`load_from_store`]), so every governor
//! (every Functions instance) appends to one timeline and reports and budgets see all of it;
//! "on change" is judged against the state last written by any governor
//! (`StateStore::timeline_states`). A file ([`CostLog`], `costTimeline`) can receive a copy
//! for offline use; it only holds what this process saw.

use chrono::{DateTime, Utc};
use curfew_engine::cost::{
    ActionRecord, Actor, InstanceMeta, PowerAction, StateObservation, TimelineEvent,
};
use curfew_engine::inventory::Instance;
use curfew_engine::Action;
use curfew_store::{StateStore, StoreResult, TimelineRecord, TimelineState};
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

impl Executed {
    /// The timeline's record of this action, carried out by Curfew at `now`.
    fn to_event(&self, now: DateTime<Utc>) -> TimelineEvent {
        TimelineEvent::Action(ActionRecord {
            instance: self.instance.clone(),
            at: now,
            action: match self.action {
                Action::Start => PowerAction::Start,
                Action::Stop => PowerAction::Stop,
            },
            by: Actor::Curfew,
            reason: Some(self.reason.clone()),
            next_start: self.next_start,
            succeeded: true,
        })
    }
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
        lines.extend(executed.iter().map(|e| e.to_event(now)));
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

/// The instance key the store's last written states are kept under (its lower-cased ARM id,
/// else its name).
fn state_key(inst: &Instance) -> String {
    inst.id
        .as_deref()
        .unwrap_or(&inst.name)
        .to_ascii_lowercase()
}

/// What a tick adds to the timeline, against the state and metadata fingerprint last written
/// per instance key: its metadata when first seen or changed (a reassigned owner, a resize:
/// the owner's page and the report follow it), its state when first seen or changed, and
/// every action. Pure; also returns the states to store as the last written.
pub fn timeline_records(
    now: DateTime<Utc>,
    seen: &[&Instance],
    executed: &[Executed],
    last: &HashMap<String, (String, Option<String>)>,
) -> (Vec<TimelineEvent>, Vec<TimelineState>) {
    let mut events = Vec::new();
    let mut states = Vec::new();
    for inst in seen {
        let key = state_key(inst);
        let state = inst.state.clone().unwrap_or_default();
        let meta = InstanceMeta::from_instance(inst);
        let fingerprint = meta.fingerprint();
        let (state_changed, meta_changed) = match last.get(&key) {
            Some((prev, prev_meta)) => (
                *prev != state,
                prev_meta.as_deref() != Some(fingerprint.as_str()),
            ),
            None => (true, true),
        };
        if !state_changed && !meta_changed {
            continue;
        }
        if meta_changed {
            events.push(TimelineEvent::Instance(meta));
        }
        if state_changed {
            events.push(TimelineEvent::State(StateObservation {
                instance: inst.name.clone(),
                at: now,
                state: state.clone(),
            }));
        }
        states.push(TimelineState {
            instance_id: key,
            at: now,
            state,
            meta: Some(fingerprint),
        });
    }
    events.extend(executed.iter().map(|e| e.to_event(now)));
    (events, states)
}

/// Appends what a tick saw and did to the store's timeline (records first, then the last
/// written states: a failure in between repeats an observation, which changes no figure);
/// returns the number of records written.
pub async fn record_in_store(
    store: &dyn StateStore,
    now: DateTime<Utc>,
    seen: &[&Instance],
    executed: &[Executed],
) -> StoreResult<usize> {
    let last: HashMap<String, (String, Option<String>)> = store
        .timeline_states()
        .await?
        .into_iter()
        .map(|s| (s.instance_id, (s.state, s.meta)))
        .collect();
    let (events, states) = timeline_records(now, seen, executed, &last);
    let records: Vec<TimelineRecord> = events
        .iter()
        .map(|e| {
            let (at, instance) = match e {
                TimelineEvent::Instance(m) => (now, m.instance.clone()),
                TimelineEvent::State(s) => (s.at, s.instance.clone()),
                TimelineEvent::Action(a) => (a.at, a.instance.clone()),
            };
            TimelineRecord {
                at,
                instance,
                record: serde_json::to_value(e).unwrap_or_default(),
            }
        })
        .collect();
    if records.is_empty() {
        return Ok(0);
    }
    store.append_timeline(&records).await?;
    store.put_timeline_states(&states).await?;
    Ok(records.len())
}

/// Why the store's timeline could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    /// The store failed (retryable when it says so).
    #[error("reading the cost timeline from the store: {0}")]
    Store(#[from] curfew_store::StoreError),
    /// A stored record is not a timeline record (named by its position and JSON path).
    #[error(transparent)]
    Format(#[from] curfew_engine::cost::CostError),
}

/// How the store's timeline is named in messages (`the store's timeline: line 3: …`).
pub const STORE_TIMELINE: &str = "the store's timeline";

/// The whole timeline in the store before `to` (`None`: all of it) as JSON lines, the text
/// `curfew report --timeline` reads: every governor's records. Earlier records than a report's
/// window are needed too: the state an instance was in when the window opens.
pub async fn store_timeline_text(
    store: &dyn StateStore,
    to: Option<DateTime<Utc>>,
) -> StoreResult<String> {
    let end = to.unwrap_or_else(|| {
        DateTime::parse_from_rfc3339("9999-12-31T23:59:59Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    });
    let records = store
        .timeline_between(DateTime::<Utc>::UNIX_EPOCH, end)
        .await?;
    let mut text = String::new();
    for r in &records {
        text.push_str(&r.record.to_string());
        text.push('\n');
    }
    Ok(text)
}

/// The store's timeline before `to`, parsed.
pub async fn load_from_store(
    store: &dyn StateStore,
    to: DateTime<Utc>,
) -> Result<curfew_engine::cost::Timeline, TimelineError> {
    let text = store_timeline_text(store, Some(to)).await?;
    Ok(curfew_engine::cost::Timeline::parse(&text, STORE_TIMELINE)?)
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

    /// A reassigned owner: the store's timeline gets a new `instance` record (no state record:
    /// the state did not change), so the new owner's page finds the instance; unchanged
    /// instances write nothing; a state written before fingerprints were kept gets its
    /// metadata once.
    #[test]
    fn a_reassigned_owner_writes_a_new_instance_record_in_the_store_timeline() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut a = inst("a", "Running");
        a.assigned_user = Some("alice".into());
        let (events, states) = timeline_records(t0, &[&a], &[], &HashMap::new());
        assert_eq!(events.len(), 2, "meta + state when first seen");
        let last: HashMap<String, (String, Option<String>)> = states
            .into_iter()
            .map(|s| (s.instance_id, (s.state, s.meta)))
            .collect();
        assert!(timeline_records(t0, &[&a], &[], &last).0.is_empty());
        a.assigned_user = Some("bob".into());
        let (events, states) = timeline_records(t0, &[&a], &[], &last);
        assert_eq!(events.len(), 1, "{events:?}");
        let TimelineEvent::Instance(m) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(m.owner.as_deref(), Some("bob"));
        assert_eq!(states[0].state, "Running");
        let legacy: HashMap<String, (String, Option<String>)> =
            HashMap::from([("a".to_owned(), ("Running".to_owned(), None))]);
        let (events, _) = timeline_records(t0, &[&a], &[], &legacy);
        assert!(
            matches!(events.as_slice(), [TimelineEvent::Instance(_)]),
            "{events:?}"
        );
    }
}
