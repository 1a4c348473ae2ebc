//! Shared helpers of the governor proofs (`governor_e2e.rs`, `governor_crash.rs`): a seeded
//! fleet generator, the simulator and runtime set-up, and an independent model of the ARM
//! actions a fleet's schedules call for.
//!
//! - [`Rng`]: a tiny seeded generator (SplitMix64), so every run is reproducible.
//! - [`FleetSpec`] / [`GenInstance`]: N instances in Z zones over W workspaces of one
//!   subscription, with cron and recurrence schedules, as the simulator serves them.
//! - [`Model`]: what must reach ARM, tick by tick, computed from
//!   `curfew_engine::schedule::compile(..).occurrences(..)` and a small state machine (Stop wins
//!   the minute; Stop on Stopped and Start on Running are no-ops; a second action on an instance
//!   already acted on in the same tick waits one tick; catch-up, missed and repair per docs/design.md §6).
//! - [`Scratch`]: a temporary folder removed on drop.
//!
//! The simulator stamps `lastOperation.operationTime` with the real clock. Simulated time is
//! therefore put in 2036: a governor action then never looks like a user's manual change made
//! after a later occurrence (which it would if simulated time were in the past).

#![allow(dead_code)]

use armsim::{SimConfig, SimFleet, Simulator, WorkspacePath};
use chrono::{DateTime, TimeDelta, Utc};
use curfew_engine::schedule::{compile, Schedule};
use curfew_engine::Action;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The subscription every generated instance lives in.
pub(crate) const SUBSCRIPTION: &str = "00000000-0000-0000-0000-00000000c0fe";
/// The resource group of every generated workspace.
pub(crate) const RESOURCE_GROUP: &str = "rg-curfew-e2e";
/// The bearer token variable the runtime reads (the simulator accepts any token).
pub(crate) const TOKEN_VAR: &str = "CURFEW_E2E_ARM_TOKEN";
/// The link key variable.
pub(crate) const LINK_KEY_VAR: &str = "CURFEW_E2E_LINK_KEY";
/// The link signing secret (test only).
pub(crate) const LINK_SECRET: &str = "e2e-link-secret-not-a-real-key-0123456789";
/// Catch-up of the default configuration (docs/design.md §6).
pub(crate) const CATCH_UP: TimeDelta = TimeDelta::minutes(15);

/// Time zones of generated instances; `W. Europe Standard Time` (Europe/Berlin) falls back on
/// Sunday 2036-10-26 at 01:00Z, inside the simulated week.
pub(crate) const ZONES: [&str; 5] = [
    "W. Europe Standard Time",
    "Pacific Standard Time",
    "India Standard Time",
    "UTC",
    "AUS Eastern Standard Time",
];

/// The Azurite table endpoint (`CURFEW_AZURITE_TABLE_ENDPOINT`, set by `.ci/azurite.sh`), or
/// `None` after a loud SKIPPED line; with `CURFEW_REQUIRE_AZURITE=1` (CI) a missing endpoint fails.
pub(crate) fn azurite_endpoint(test: &str) -> Option<String> {
    match std::env::var("CURFEW_AZURITE_TABLE_ENDPOINT") {
        Ok(e) if !e.trim().is_empty() => Some(e),
        _ => {
            assert!(
                std::env::var("CURFEW_REQUIRE_AZURITE").as_deref() != Ok("1"),
                "{test}: CURFEW_AZURITE_TABLE_ENDPOINT is not set but CURFEW_REQUIRE_AZURITE=1: start Azurite with .ci/azurite.sh"
            );
            eprintln!(
                "\n!!!!!!!! SKIPPED: {test}: CURFEW_AZURITE_TABLE_ENDPOINT is not set, so Table Storage was NOT tested (run it under .ci/azurite.sh)\n"
            );
            None
        }
    }
}

/// Parses an RFC 3339 instant (test constants).
pub(crate) fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("an RFC 3339 instant")
        .with_timezone(&Utc)
}

/// SplitMix64: small, seeded, good enough to pick minutes and delays.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// A temporary folder, removed on drop.
#[derive(Debug)]
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    /// A fresh folder named after the test and the process.
    pub(crate) fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("curfew-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating the scratch folder");
        Scratch(dir)
    }

    /// A path inside it.
    pub(crate) fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How a fleet is generated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FleetSpec {
    /// Instances.
    pub(crate) instances: usize,
    /// Zones used, round robin (at most [`ZONES`]`.len()`).
    pub(crate) zones: usize,
    /// Workspaces, round robin.
    pub(crate) workspaces: usize,
    /// Seed of the minutes and initial states.
    pub(crate) seed: u64,
    /// Dense schedules (an action every few minutes) instead of office-hour ones.
    pub(crate) dense: bool,
}

/// One generated compute instance.
#[derive(Debug, Clone)]
pub(crate) struct GenInstance {
    /// Compute name.
    pub(crate) name: String,
    /// Where it lives.
    pub(crate) workspace: WorkspacePath,
    /// ARM id, lowercased (the governor's instance key).
    pub(crate) key: String,
    /// The assigned user's object id.
    pub(crate) owner: String,
    /// Initial state: Running or Stopped.
    pub(crate) running: bool,
    /// Raw `computeStartStop` entries.
    pub(crate) schedules: Vec<Value>,
}

fn cron(action: &str, expr: &str, zone: &str) -> Value {
    json!({
        "action": action, "status": "Enabled", "triggerType": "Cron",
        "cron": {"expression": expr, "startTime": "2036-01-01T00:00:00", "timeZone": zone}
    })
}

fn recurrence(action: &str, frequency: &str, interval: u32, zone: &str, sched: Value) -> Value {
    json!({
        "action": action, "status": "Enabled", "triggerType": "Recurrence",
        "recurrence": {
            "frequency": frequency, "interval": interval,
            "startTime": "2036-01-05T00:00:00", "timeZone": zone, "schedule": sched
        }
    })
}

/// The schedules of instance `i` (office hours in four flavours, or dense).
fn schedules_for(i: usize, zone: &str, dense: bool, rng: &mut Rng) -> Vec<Value> {
    let m = |rng: &mut Rng| rng.below(60);
    if dense {
        // Four state changes an hour: stop at a and a+25, start at a+12 (every other instance:
        // a+2, two minutes after the stop) and a+40. Few distinct minutes, so ticks are busy.
        let a = rng.below(4);
        let first_start = if i.is_multiple_of(2) { a + 2 } else { a + 12 };
        return vec![
            cron("Stop", &format!("{},{} * * * *", a, a + 25), "UTC"),
            cron(
                "Start",
                &format!("{},{} * * * *", first_start, a + 40),
                "UTC",
            ),
        ];
    }
    match i % 4 {
        // Weekday office hours by cron, plus the 02:30 stop that meets the fall-back fold.
        0 => vec![
            cron("Start", &format!("{} 8 * * 1-5", m(rng)), zone),
            cron("Stop", &format!("{} 18 * * 1-5", m(rng)), zone),
            cron("Stop", "30 2 * * *", zone),
        ],
        // Daily recurrence with two stops.
        1 => vec![
            recurrence(
                "Start",
                "Day",
                1,
                zone,
                json!({"hours": [7], "minutes": [m(rng)]}),
            ),
            recurrence(
                "Stop",
                "Day",
                1,
                zone,
                json!({"hours": [12, 19], "minutes": [m(rng)]}),
            ),
        ],
        // Weekly recurrence, with a Start and a Stop in the same minute on Wednesdays.
        2 => vec![
            recurrence(
                "Start",
                "Week",
                1,
                zone,
                json!({"weekDays": ["Monday", "Wednesday", "Friday", "Sunday"], "hours": [9, 13], "minutes": [0]}),
            ),
            cron("Stop", &format!("{} 11,17 * * *", m(rng)), zone),
            cron("Stop", "0 13 * * 3", zone),
        ],
        // Elapsed recurrence: start every 5 hours, stop by cron every 6 hours.
        _ => vec![
            recurrence("Start", "Hour", 5, zone, Value::Null),
            cron("Stop", &format!("{} */6 * * *", m(rng)), zone),
        ],
    }
}

/// Generates a fleet.
pub(crate) fn generate(spec: FleetSpec) -> Vec<GenInstance> {
    let mut rng = Rng::new(spec.seed);
    (0..spec.instances)
        .map(|i| {
            let workspace = WorkspacePath {
                subscription: SUBSCRIPTION.into(),
                resource_group: RESOURCE_GROUP.into(),
                workspace: format!("ws-{:03}", i % spec.workspaces.max(1)),
            };
            let name = format!("ci-{i:05}");
            let zone = ZONES[i % spec.zones.clamp(1, ZONES.len())];
            GenInstance {
                key: workspace.compute_id(&name).to_ascii_lowercase(),
                owner: format!("00000000-0000-4000-8000-{i:012}"),
                running: rng.below(3) != 0,
                schedules: schedules_for(i, zone, spec.dense, &mut rng),
                name,
                workspace,
            }
        })
        .collect()
}

/// `per_ws` instances in each of `workspaces` workspaces, all Running with the same schedules
/// (for the tick-cost measurement).
pub(crate) fn uniform(
    workspaces: usize,
    per_ws: usize,
    schedules: &[(&str, &str)],
) -> Vec<GenInstance> {
    let mut out = Vec::with_capacity(workspaces * per_ws);
    for w in 0..workspaces {
        let workspace = WorkspacePath {
            subscription: SUBSCRIPTION.into(),
            resource_group: RESOURCE_GROUP.into(),
            workspace: format!("ws-{w:03}"),
        };
        for k in 0..per_ws {
            let i = w * per_ws + k;
            let name = format!("ci-{i:05}");
            out.push(GenInstance {
                key: workspace.compute_id(&name).to_ascii_lowercase(),
                owner: format!("00000000-0000-4000-8000-{i:012}"),
                running: true,
                schedules: schedules
                    .iter()
                    .map(|(action, expr)| cron(action, expr, "UTC"))
                    .collect(),
                name,
                workspace: workspace.clone(),
            });
        }
    }
    out
}

/// The simulator's fleet: each instance a copy of the real `Compute_Get` example.
pub(crate) fn sim_fleet(instances: &[GenInstance]) -> SimFleet {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/arm/2025-12-01_Compute_get_ComputeInstance.json");
    let fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the Compute_Get fixture"))
            .expect("fixture JSON");
    let template = fixture["responses"]["200"]["body"].clone();
    let mut fleet = SimFleet::default();
    for g in instances {
        let mut body = template.clone();
        body["id"] = Value::String(g.workspace.compute_id(&g.name));
        body["name"] = Value::String(g.name.clone());
        let p = &mut body["properties"]["properties"];
        p["state"] = Value::from(if g.running { "Running" } else { "Stopped" });
        p["personalComputeInstanceSettings"]["assignedUser"]["objectId"] =
            Value::String(g.owner.clone());
        p["createdBy"]["userId"] = Value::String(g.owner.clone());
        p["schedules"] = json!({ "computeStartStop": g.schedules });
        fleet.computes.push(armsim::PlacedCompute {
            workspace: g.workspace.clone(),
            name: g.name.clone(),
            body,
        });
    }
    fleet
}

/// Starts the simulator on loopback: no auth, instant transitions, `page_size` computes a page.
pub(crate) async fn start_sim(instances: &[GenInstance], page_size: usize) -> Simulator {
    start_sim_fleet(sim_fleet(instances), page_size).await
}

/// [`start_sim`] with a fleet the test has edited (tags, states, missing schedules).
pub(crate) async fn start_sim_fleet(fleet: SimFleet, page_size: usize) -> Simulator {
    Simulator::start(
        "127.0.0.1:0".parse().expect("loopback"),
        fleet,
        SimConfig {
            require_auth: false,
            transition: Duration::ZERO,
            page_size,
            ..SimConfig::default()
        },
    )
    .await
    .expect("starting the simulator")
}

/// The configuration file of a runtime against the simulator.
pub(crate) fn config_yaml(endpoint: &str, sqlite: &Path, events: &Path, extra: &str) -> String {
    format!(
        "deployment: e2e\n\
         arm:\n  endpoint: {endpoint}\n  scopes: [/subscriptions/{SUBSCRIPTION}]\n  credential: token-env:{TOKEN_VAR}\n\
         store:\n  sqlite: {}\n\
         notify: [\"jsonl:{}\"]\n\
         links:\n  baseUrl: http://127.0.0.1:9/api/dismiss\n  keys: [{{id: k1, secretEnv: {LINK_KEY_VAR}}}]\n\
         {extra}",
        sqlite.display(),
        events.display()
    )
}

/// The environment the runtime sees.
pub(crate) fn env() -> curfew_governor::config::MapStrings {
    curfew_governor::config::MapStrings::from_pairs(&[
        (TOKEN_VAR, "e2e-token"),
        (LINK_KEY_VAR, LINK_SECRET),
    ])
}

/// Builds a runtime from configuration text, its ARM client's request budgets lifted (see
/// [`unbudgeted`]).
pub(crate) async fn runtime(yaml: &str) -> curfew_governor::Runtime {
    let config = curfew_governor::config::RuntimeConfig::from_yaml(yaml, &env()).expect("settings");
    let mut rt = curfew_governor::Runtime::from_config(&config)
        .await
        .expect("runtime");
    rt.arm = unbudgeted(&config.arm.endpoint);
    rt
}

/// An ARM client for the simulator without the client's self-imposed per-subscription budgets
/// (reads refill 25/s, writes 10/s, in real time). Simulated minutes pass in milliseconds here:
/// with the budgets a simulated week of minute ticks (~60 000 reads) would be paced over 40 real
/// minutes, and 10 000 stops over 16. Everything else is the production client.
pub(crate) fn unbudgeted(endpoint: &str) -> curfew_arm::ArmClient {
    let unlimited = curfew_arm::BucketConfig {
        capacity: 1e9,
        refill_per_sec: 1e9,
    };
    let config = curfew_arm::ArmConfig {
        endpoint: endpoint.trim_end_matches('/').to_string(),
        scopes: vec![
            curfew_arm::Scope::parse(&format!("/subscriptions/{SUBSCRIPTION}")).expect("a scope"),
        ],
        credential: curfew_arm::CredentialConfig::StaticToken(curfew_arm::SecretString::new(
            "e2e-token".to_string(),
        )),
        read_bucket: unlimited,
        write_bucket: unlimited,
        ..curfew_arm::ArmConfig::default()
    };
    curfew_arm::ArmClient::new(config).expect("the ARM client")
}

/// Minute ticks `from, from+1m, …, to` (inclusive), leaving out the instants in `gaps`
/// (half-open `(start, end)`: the tick at `start` and the one at `end` run).
pub(crate) fn minute_ticks(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    gaps: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut now = from;
    while now <= to {
        if !gaps.iter().any(|(a, b)| now > *a && now < *b) {
            out.push(now);
        }
        now += TimeDelta::minutes(1);
    }
    out
}

/// The minutes at which something can happen, for runs that tick only then (as `curfew run`
/// would, sleeping until the plan's next deadline): each occurrence's minute and the next one
/// (a deferred action), its 30- and 5-minute notice minutes, and `extra`; plus `from` and `to`.
/// Instants inside `gaps` are left out like in [`minute_ticks`].
pub(crate) fn due_ticks(
    instances: &[GenInstance],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    gaps: &[(DateTime<Utc>, DateTime<Utc>)],
    extra: &[DateTime<Utc>],
) -> Vec<DateTime<Utc>> {
    let mut set = std::collections::BTreeSet::from([from, to]);
    let mut add = |x: DateTime<Utc>| {
        if x >= from && x <= to {
            set.insert(x);
        }
    };
    for g in instances {
        for s in compiled(g) {
            for o in s.occurrences(from, to + TimeDelta::hours(1)) {
                for d in [0, 1, -5, -30] {
                    add(o.at + TimeDelta::minutes(d));
                }
            }
        }
    }
    for x in extra {
        add(*x);
        add(*x + TimeDelta::minutes(1));
    }
    set.into_iter()
        .filter(|now| !gaps.iter().any(|(a, b)| now > a && now < b))
        .collect()
}

/// An accepted dismissal, as the model applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dismissed {
    /// The occurrence never executes.
    Skip,
    /// It becomes due at this instant instead.
    SnoozeUntil(DateTime<Utc>),
}

/// What the model expects to become of one occurrence (the store's final ledger state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Fate {
    /// Reached ARM.
    Done,
    /// Already in that state.
    NoOp,
    /// Too late, not repaired.
    Missed,
    /// Skipped by its owner, or a Start losing to a Stop in its minute.
    Dismissed,
}

/// An action the model expects ARM to accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expected {
    /// Index of the instance.
    pub(crate) instance: usize,
    /// Start or Stop.
    pub(crate) action: Action,
    /// The occurrence's own time.
    pub(crate) at: DateTime<Utc>,
    /// The tick that sends it.
    pub(crate) tick: DateTime<Utc>,
    /// Applied as level-triggered repair of a missed occurrence.
    pub(crate) repair: bool,
}

/// Counts of the model's verdicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Occurrences seen.
    pub(crate) occurrences: usize,
    /// Actions sent (including repairs).
    pub(crate) actions: usize,
    /// Occurrences with nothing to do.
    pub(crate) no_ops: usize,
    /// Occurrences too late and not repaired.
    pub(crate) missed: usize,
    /// Missed occurrences applied as repair.
    pub(crate) repaired: usize,
    /// Starts losing to a Stop in their minute.
    pub(crate) suppressed: usize,
    /// Skipped by their owner.
    pub(crate) skipped: usize,
    /// A second action on an instance within one tick, sent one tick later.
    pub(crate) deferred: usize,
}

/// The model's verdict over a run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Model {
    /// Every action that must reach ARM, in tick order.
    pub(crate) actions: Vec<Expected>,
    /// Final ledger state per (instance key, action, occurrence time); several occurrences of
    /// one instance, action and instant (two schedules) are a multiset.
    pub(crate) fates: BTreeMap<(String, Action, DateTime<Utc>), Vec<Fate>>,
    /// Totals.
    pub(crate) counts: Counts,
    /// Counts of the decisions made at each tick (for checks of one tick's report).
    pub(crate) per_tick: BTreeMap<DateTime<Utc>, Counts>,
}

#[derive(Debug, Clone)]
struct Occ {
    action: Action,
    at: DateTime<Utc>,
    due: DateTime<Utc>,
    suppressed: bool,
    skipped: bool,
    deferred: bool,
}

/// Compiles an instance's schedules (panics on a generator mistake).
pub(crate) fn compiled(g: &GenInstance) -> Vec<Schedule> {
    g.schedules
        .iter()
        .map(|s| {
            compile(s)
                .schedule
                .unwrap_or_else(|| panic!("{}: schedule {s} does not compile", g.name))
        })
        .collect()
}

fn minute(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(60)
}

impl Model {
    /// Computes what ticks at `ticks` (sorted; the first one has no watermark) must do to
    /// `instances`, given accepted `dismissals` keyed by (instance index, Stop time).
    pub(crate) fn expect(
        instances: &[GenInstance],
        ticks: &[DateTime<Utc>],
        dismissals: &HashMap<(usize, DateTime<Utc>), Dismissed>,
    ) -> Model {
        let mut model = Model::default();
        let (Some(first), Some(last)) = (ticks.first(), ticks.last()) else {
            return model;
        };
        for (i, g) in instances.iter().enumerate() {
            let mut occs: Vec<Occ> = Vec::new();
            for s in compiled(g) {
                for o in s.occurrences(*first - CATCH_UP, *last + TimeDelta::seconds(1)) {
                    let d = match s.action {
                        Action::Stop => dismissals.get(&(i, o.at)).copied(),
                        Action::Start => None,
                    };
                    occs.push(Occ {
                        action: s.action,
                        at: o.at,
                        due: match d {
                            Some(Dismissed::SnoozeUntil(u)) => u,
                            _ => o.at,
                        },
                        suppressed: false,
                        skipped: d == Some(Dismissed::Skip),
                        deferred: false,
                    });
                }
            }
            let stops: Vec<i64> = occs
                .iter()
                .filter(|o| o.action == Action::Stop)
                .map(|o| minute(o.at))
                .collect();
            for o in &mut occs {
                o.suppressed = o.action == Action::Start && stops.contains(&minute(o.at));
            }
            model.run_instance(i, g, occs, ticks);
        }
        model.actions.sort_by_key(|a| (a.tick, a.instance));
        model
    }

    fn fate(&mut self, g: &GenInstance, o: &Occ, fate: Fate, tick: DateTime<Utc>) {
        self.fates
            .entry((g.key.clone(), o.action, o.at))
            .or_default()
            .push(fate);
        let c = self.per_tick.entry(tick).or_default();
        for c in [&mut self.counts, c] {
            c.occurrences += 1;
            match fate {
                Fate::Done => c.actions += 1,
                Fate::NoOp => c.no_ops += 1,
                Fate::Missed => c.missed += 1,
                Fate::Dismissed if o.suppressed => c.suppressed += 1,
                Fate::Dismissed => c.skipped += 1,
            }
        }
    }

    fn run_instance(&mut self, i: usize, g: &GenInstance, occs: Vec<Occ>, ticks: &[DateTime<Utc>]) {
        // Settled state: "Running"/"Stopped"; within a tick an executed action projects the
        // transitional state, on which the opposite action is deferred to the next tick.
        let mut running = g.running;
        let mut open: Vec<Occ> = Vec::new(); // deferred or snoozed, carried across ticks
        let mut rest = occs;
        rest.sort_by_key(|o| o.at);
        let mut rest = rest.into_iter().peekable();
        let mut prev: Option<DateTime<Utc>> = None;
        for &now in ticks {
            // The window: (prev, now], or [now - catch_up, now] on the first tick.
            let mut cands: Vec<Occ> = std::mem::take(&mut open);
            while let Some(o) = rest.peek() {
                let inside = match prev {
                    None => o.at <= now,
                    Some(p) => o.at > p && o.at <= now,
                };
                if !inside {
                    break;
                }
                cands.push(rest.next().expect("peeked"));
            }
            prev = Some(now);
            if cands.is_empty() {
                continue;
            }
            cands.sort_by_key(|o| (o.due, o.action != Action::Stop));
            let mut transitional = false; // an action executed in this tick
            let mut decided_ats: Vec<DateTime<Utc>> = Vec::new();
            let mut missed: Vec<Occ> = Vec::new();
            for mut o in cands {
                if o.suppressed || o.skipped {
                    decided_ats.extend((!o.suppressed).then_some(o.at));
                    self.fate(g, &o, Fate::Dismissed, now);
                    continue;
                }
                if o.due > now {
                    open.push(o); // snoozed, not yet due
                    continue;
                }
                if !o.deferred && now - o.due > CATCH_UP {
                    missed.push(o);
                    continue;
                }
                decided_ats.push(o.at);
                let there = (o.action == Action::Stop) != running;
                if there {
                    self.fate(g, &o, Fate::NoOp, now);
                } else if transitional {
                    // The opposite of what this tick already did: Stopping/Starting → defer.
                    o.deferred = true;
                    self.per_tick.entry(now).or_default().deferred += 1;
                    self.counts.deferred += 1;
                    open.push(o);
                } else {
                    running = o.action == Action::Start;
                    transitional = true;
                    self.actions.push(Expected {
                        instance: i,
                        action: o.action,
                        at: o.at,
                        tick: now,
                        repair: false,
                    });
                    self.fate(g, &o, Fate::Done, now);
                }
            }
            let newest = missed.len().checked_sub(1);
            for (k, o) in missed.iter().enumerate() {
                let repair = Some(k) == newest
                    && !decided_ats.iter().any(|a| *a > o.at)
                    && !transitional
                    && (o.action == Action::Stop) == running;
                if repair {
                    running = o.action == Action::Start;
                    transitional = true;
                    self.actions.push(Expected {
                        instance: i,
                        action: o.action,
                        at: o.at,
                        tick: now,
                        repair: true,
                    });
                    self.fate(g, o, Fate::Done, now);
                    self.counts.repaired += 1;
                    self.per_tick.entry(now).or_default().repaired += 1;
                } else {
                    self.fate(g, o, Fate::Missed, now);
                }
            }
        }
    }
}

/// One action the simulator accepted, attributed to the tick during which it arrived.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Seen {
    /// The tick.
    pub(crate) tick: DateTime<Utc>,
    /// The compute's ARM id, lowercased.
    pub(crate) key: String,
    /// Start or Stop.
    pub(crate) action: Action,
    /// Whether it changed the instance's state (false: a no-op reached ARM).
    pub(crate) changed_state: bool,
}

/// The simulator's accepted actions from index `from` on, attributed to `tick`.
pub(crate) fn seen_since(sim: &armsim::SimState, from: usize, tick: DateTime<Utc>) -> Vec<Seen> {
    sim.actions()
        .into_iter()
        .skip(from)
        .map(|a| Seen {
            tick,
            key: a.compute.to_ascii_lowercase(),
            action: match a.action {
                armsim::ActionKind::Start => Action::Start,
                armsim::ActionKind::Stop => Action::Stop,
                other => panic!("unexpected action {other:?} on {}", a.compute),
            },
            changed_state: a.changed_state,
        })
        .collect()
}

/// The model's actions in the same shape as [`Seen`], sorted.
pub(crate) fn expected_seen(model: &Model, instances: &[GenInstance]) -> Vec<Seen> {
    let mut v: Vec<Seen> = model
        .actions
        .iter()
        .map(|e| Seen {
            tick: e.tick,
            key: instances[e.instance].key.clone(),
            action: e.action,
            changed_state: true,
        })
        .collect();
    v.sort();
    v
}

/// The differences between two sorted action lists, both ways, for a readable failure.
pub(crate) fn diff(expected: &[Seen], seen: &[Seen]) -> (Vec<Seen>, Vec<Seen>) {
    let mut missing = Vec::new();
    let mut extra = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < expected.len() || j < seen.len() {
        match (expected.get(i), seen.get(j)) {
            (Some(a), Some(b)) if a == b => {
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a < b => {
                missing.push(a.clone());
                i += 1;
            }
            (Some(_), Some(b)) => {
                extra.push(b.clone());
                j += 1;
            }
            (Some(a), None) => {
                missing.push(a.clone());
                i += 1;
            }
            (None, Some(b)) => {
                extra.push(b.clone());
                j += 1;
            }
            (None, None) => break,
        }
    }
    (missing, extra)
}

/// The final ledger, in the model's shape, read from the store.
pub(crate) async fn ledger_fates(
    store: &dyn curfew_store::StateStore,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> BTreeMap<(String, Action, DateTime<Utc>), Vec<Fate>> {
    use curfew_store::{LedgerAction, LedgerState};
    let mut out: BTreeMap<_, Vec<Fate>> = BTreeMap::new();
    for e in store.entries_between(from, to).await.expect("ledger") {
        let e = e.value;
        let action = match e.action {
            LedgerAction::Start => Action::Start,
            _ => Action::Stop,
        };
        let fate = match e.state {
            LedgerState::Done => Fate::Done,
            LedgerState::NoOp => Fate::NoOp,
            LedgerState::Missed => Fate::Missed,
            LedgerState::Dismissed => Fate::Dismissed,
            other => panic!(
                "{} {action} at {}: left in state {other:?} ({})",
                e.instance_id,
                e.at,
                e.outcome.unwrap_or_default()
            ),
        };
        out.entry((e.instance_id.to_ascii_lowercase(), action, e.at))
            .or_default()
            .push(fate);
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// The model's fates, each multiset sorted, for comparison with [`ledger_fates`].
pub(crate) fn sorted_fates(model: &Model) -> BTreeMap<(String, Action, DateTime<Utc>), Vec<Fate>> {
    model
        .fates
        .iter()
        .map(|(k, v)| {
            let mut v = v.clone();
            v.sort();
            (k.clone(), v)
        })
        .collect()
}

/// Keys whose fates differ between model and ledger (at most `limit` listed).
pub(crate) fn fate_mismatches(
    model: &BTreeMap<(String, Action, DateTime<Utc>), Vec<Fate>>,
    ledger: &BTreeMap<(String, Action, DateTime<Utc>), Vec<Fate>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in model {
        let got = ledger.get(k).cloned().unwrap_or_default();
        if &got != v {
            out.push(format!(
                "{} {} {}: model {v:?}, ledger {got:?}",
                k.0, k.1, k.2
            ));
        }
    }
    for (k, v) in ledger {
        if !model.contains_key(k) {
            out.push(format!(
                "{} {} {}: not in model, ledger {v:?}",
                k.0, k.1, k.2
            ));
        }
    }
    out
}

/// Pre-shutdown notices in a JSON-lines events file: (occurrence id, instance name, stop time,
/// lead minutes, owner, links).
#[derive(Debug, Clone)]
pub(crate) struct PendingNotice {
    /// Occurrence id.
    pub(crate) occurrence_id: String,
    /// Compute name.
    pub(crate) instance: String,
    /// When the stop is due.
    pub(crate) at: DateTime<Utc>,
    /// Lead time in minutes.
    pub(crate) lead: u64,
    /// Minutes it said were left (`minutesLeft`, else the lead).
    pub(crate) minutes_left: u64,
    /// When it was made (the event's `time`: the tick's `now`).
    pub(crate) sent: DateTime<Utc>,
    /// The owner's object id.
    pub(crate) owner: Option<String>,
    /// The `data.links` object.
    pub(crate) links: Value,
}

/// Reads every `curfew.shutdown.pending` event of an events file.
pub(crate) fn pending_notices(events: &Path) -> Vec<PendingNotice> {
    let text = std::fs::read_to_string(events).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["type"] == "curfew.shutdown.pending")
        .map(|e| {
            let d = &e["data"];
            PendingNotice {
                occurrence_id: d["occurrenceId"].as_str().unwrap_or_default().into(),
                instance: d["instance"]["name"].as_str().unwrap_or_default().into(),
                at: d["atUtc"]
                    .as_str()
                    .map(t)
                    .expect("a notice has its stop time"),
                lead: d["leadMinutes"].as_u64().unwrap_or_default(),
                minutes_left: d["minutesLeft"]
                    .as_u64()
                    .or(d["leadMinutes"].as_u64())
                    .unwrap_or_default(),
                sent: e["time"].as_str().map(t).expect("an event has its time"),
                owner: d["ownerObjectId"].as_str().map(str::to_string),
                links: d["links"].clone(),
            }
        })
        .collect()
}

/// The token of a notice's snooze link for `minutes`.
pub(crate) fn snooze_token(n: &PendingNotice, minutes: u64) -> String {
    let url = n.links["snooze"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["minutes"].as_u64() == Some(minutes))
        .and_then(|l| l["url"].as_str())
        .unwrap_or_else(|| {
            panic!(
                "the notice of {} has no {minutes}-min snooze link",
                n.instance
            )
        });
    url.split_once("token=")
        .map(|(_, tok)| tok.to_string())
        .expect("a link carries its token")
}
