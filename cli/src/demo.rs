//! `curfew demo`: the whole product on one machine, with no Azure and no network.
//!
//! The example fleet is served by the ARM simulator in-process; state lives in SQLite in a
//! temporary folder; events go to a JSON-lines file. A week of simulated time that crosses the
//! US DST change (2026-11-01) is run through the real governor runtime, tick by tick, jumping
//! from one due instant to the next. Along the way the owner snoozes a shutdown, a signed link
//! skips another, a stranger's dismissal is refused, the governor is down for three hours (and
//! catches up), and a user starts an instance by hand after its stop. It ends with a summary and
//! the cost report of the week.

use anyhow::Context;
use armsim::{SimConfig, SimFleet, Simulator, WorkspacePath};
use chrono::{DateTime, TimeDelta, Utc};
use curfew_engine::cost::{
    self, Actor, InstanceMeta, PowerAction, StateObservation, Timeline, TimelineEvent,
};
use curfew_engine::governor::dismiss::{Credential, Target};
use curfew_engine::governor::{Choice, DecisionKind, DismissalRequest, PowerState};
use curfew_engine::Action;
use curfew_governor::config::{MapStrings, RuntimeConfig};
use curfew_governor::tick::{tick, TickReport};
use curfew_governor::{dismiss, Runtime};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The bundled example fleet.
const FLEET: &str = include_str!("../../examples/fleet.json");

/// Where the simulated week starts (a Thursday; the US falls back on Sunday 2026-11-01).
pub(crate) const DEMO_START: &str = "2026-10-29T00:00:00Z";

/// The owner of every instance of the example fleet.
const OWNER: &str = "11111111-1111-1111-1111-111111111111";

/// Someone who owns nothing.
const STRANGER: &str = "99999999-9999-9999-9999-999999999999";

/// The longest a demo tick waits for the next due instant (simulated).
const MAX_STEP: TimeDelta = TimeDelta::minutes(15);

/// The instance with no schedule but `idleTimeBeforeShutdown: PT30M`, whose reporter says a
/// kernel is open until this instant and nothing is afterwards.
const IDLE_INSTANCE: (&str, &str) = ("gpu-no-schedule", "2026-10-29T22:00:00Z");

/// How often the on-instance reporter posts (simulated).
const REPORT_EVERY: TimeDelta = TimeDelta::minutes(5);

/// The three simulated hours the governor is down.
const OUTAGE: (&str, &str) = ("2026-10-31T01:00:00Z", "2026-10-31T04:00:00Z");

/// Counts the demo prints at the end (and its test checks).
#[derive(Debug, Default, Clone, serde::Serialize)]
pub(crate) struct DemoSummary {
    /// Ticks run.
    pub ticks: usize,
    /// Actions sent to ARM.
    pub executed: usize,
    /// Of which applied as repair after the outage.
    pub repaired: usize,
    /// Occurrences with nothing to do.
    pub no_ops: usize,
    /// Occurrences found too late and not repaired.
    pub missed: usize,
    /// Occurrences skipped (dismissed, or a Start losing to a Stop).
    pub skipped: usize,
    /// Pre-shutdown notices sent.
    pub notices: usize,
    /// Idle shutdowns executed.
    pub idle_stops: usize,
    /// Budget thresholds crossed (events sent).
    pub budget_events: usize,
    /// Dismissals honoured.
    pub dismissals_accepted: usize,
    /// Dismissals refused.
    pub dismissals_refused: usize,
    /// Actions executed twice for one occurrence (must be 0).
    pub duplicates: usize,
    /// Spend of the week (USD).
    pub spend: f64,
    /// Savings attributed to Curfew's stops (USD).
    pub savings: f64,
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default()
}

/// The example fleet plus one instance whose 01:30 Pacific stop meets the fold of 2026-11-01.
fn fleet_json() -> anyhow::Result<Value> {
    let mut fleet: Value = serde_json::from_str(FLEET).context("examples/fleet.json")?;
    let mut fold = fleet["value"][0].clone();
    let id = fold["id"]
        .as_str()
        .unwrap_or_default()
        .replace("gpu-seattle-01", "gpu-portland-fold");
    fold["id"] = json!(id);
    fold["name"] = json!("gpu-portland-fold");
    fold["properties"]["properties"]["schedules"] = json!({"computeStartStop": [
        {"action": "Stop", "status": "Enabled", "triggerType": "Cron",
         "cron": {"expression": "30 1 * * *", "timeZone": "Pacific Standard Time"}},
        {"action": "Start", "status": "Enabled", "triggerType": "Cron",
         "cron": {"expression": "0 7 * * *", "timeZone": "Pacific Standard Time"}}]});
    if let Some(list) = fleet["value"].as_array_mut() {
        list.push(fold);
    }
    Ok(fleet)
}

struct Demo<'a> {
    out: &'a mut dyn Write,
    rt: Runtime,
    sim: Simulator,
    events: PathBuf,
    summary: DemoSummary,
    timeline: Timeline,
    last_state: HashMap<String, String>,
    executed: BTreeMap<String, usize>,
    snoozed: bool,
    skipped_by_link: bool,
    stranger_tried: bool,
    manual_done: bool,
    last_report: Option<DateTime<Utc>>,
}

impl Demo<'_> {
    fn say(&mut self, line: impl AsRef<str>) -> anyhow::Result<()> {
        writeln!(self.out, "{}", line.as_ref())?;
        Ok(())
    }

    /// Records what ARM says each instance is doing now (for the cost report).
    async fn observe(&mut self, now: DateTime<Utc>) {
        let fleet = self.rt.fleet().await;
        for fi in &fleet.instances {
            let name = fi.instance.name.clone();
            let state = fi.instance.state.clone().unwrap_or_default();
            if !self.last_state.contains_key(&name) {
                self.timeline
                    .push(TimelineEvent::Instance(InstanceMeta::from_instance(
                        &fi.instance,
                    )));
            }
            if self.last_state.get(&name) != Some(&state) {
                self.timeline.push(TimelineEvent::State(StateObservation {
                    instance: name.clone(),
                    at: now,
                    state: state.clone(),
                }));
                self.last_state.insert(name, state);
            }
        }
    }

    fn print_tick(&mut self, r: &TickReport) -> anyhow::Result<()> {
        for b in &r.budgets {
            self.summary.budget_events += 1;
            self.say(format!("  {}  alert  {b}", r.now.format("%a %m-%d %H:%MZ")))?;
        }
        for n in &r.notices {
            self.summary.notices += 1;
            self.say(format!(
                "  {}  warn   {:<18} stop in {:>2} min (at {})",
                r.now.format("%a %m-%d %H:%MZ"),
                n.instance,
                n.minutes_left,
                n.due.format("%H:%MZ")
            ))?;
        }
        for d in &r.decisions {
            let what = match d.kind {
                DecisionKind::Execute if d.repair => {
                    self.summary.repaired += 1;
                    "REPAIR"
                }
                DecisionKind::Execute => "ACT",
                DecisionKind::NoOp => "no-op",
                DecisionKind::Defer => "defer",
                DecisionKind::Failed => "FAILED",
                DecisionKind::Missed => "missed",
                DecisionKind::Skipped | DecisionKind::Suppressed => "skip",
            };
            match d.kind {
                DecisionKind::Execute => {
                    self.summary.executed += 1;
                    let n = self.executed.entry(d.occurrence_id.clone()).or_default();
                    *n += 1;
                    if *n > 1 {
                        self.summary.duplicates += 1;
                    }
                    self.timeline
                        .push(TimelineEvent::Action(cost::ActionRecord {
                            instance: d.instance.clone(),
                            at: r.now,
                            action: match d.action {
                                Action::Start => PowerAction::Start,
                                Action::Stop => PowerAction::Stop,
                            },
                            by: Actor::Curfew,
                            reason: Some(d.reason.clone()),
                            next_start: None,
                            succeeded: d.result.is_executed(),
                        }));
                }
                DecisionKind::NoOp => self.summary.no_ops += 1,
                DecisionKind::Missed => self.summary.missed += 1,
                DecisionKind::Skipped | DecisionKind::Suppressed => self.summary.skipped += 1,
                _ => {}
            }
            if d.kind == DecisionKind::Execute && d.reason.contains("idle shutdown") {
                self.summary.idle_stops += 1;
            }
            let reason = d.reason.split("; ").next().unwrap_or(&d.reason).to_string();
            let tail = d.reason.split("; ").skip(1).collect::<Vec<_>>().join("; ");
            self.say(format!(
                "  {}  {:<6} {:<18} {:?} — {}{}",
                r.now.format("%a %m-%d %H:%MZ"),
                what,
                d.instance,
                d.action,
                reason,
                if tail.is_empty() {
                    String::new()
                } else {
                    format!(" ({tail})")
                }
            ))?;
        }
        Ok(())
    }

    /// The signed link of a notice's choice, read from the events file.
    fn link_token(&self, occurrence: &str, snooze: Option<u32>) -> Option<String> {
        let text = std::fs::read_to_string(&self.events).ok()?;
        text.lines().rev().find_map(|l| {
            let e: Value = serde_json::from_str(l).ok()?;
            if e["type"] != "curfew.shutdown.pending" || e["data"]["occurrenceId"] != occurrence {
                return None;
            }
            let url = match snooze {
                None => e["data"]["links"]["skip"].as_str()?.to_string(),
                Some(m) => e["data"]["links"]["snooze"]
                    .as_array()?
                    .iter()
                    .find(|s| s["minutes"] == m)?["url"]
                    .as_str()?
                    .to_string(),
            };
            url.split("token=").nth(1).map(str::to_string)
        })
    }

    async fn dismiss(
        &mut self,
        req: DismissalRequest,
        who: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let outcome = dismiss::dismiss(&self.rt, req, now).await?;
        self.rt.deliver(&outcome.events, None, now).await;
        if outcome.accepted {
            self.summary.dismissals_accepted += 1;
        } else {
            self.summary.dismissals_refused += 1;
        }
        self.say(format!(
            "  {}  {:<6} {who}: {}",
            now.format("%a %m-%d %H:%MZ"),
            if outcome.accepted { "OK" } else { "REFUSED" },
            outcome.message
        ))
    }

    /// The reporter on the idle instance posts every 5 minutes while the instance runs.
    async fn report_activity(&mut self, now: DateTime<Utc>) -> anyhow::Result<()> {
        let (name, quiet_from) = (IDLE_INSTANCE.0, at(IDLE_INSTANCE.1));
        if self
            .last_state
            .get(name)
            .is_some_and(|s| PowerState::parse(s) != PowerState::Running)
        {
            return Ok(());
        }
        let fleet = self.rt.fleet().await;
        let Some(id) = fleet
            .instances
            .iter()
            .find(|f| f.instance.name == name)
            .and_then(|f| f.instance.id.clone())
        else {
            return Ok(());
        };
        let mut t = self.last_report.map_or(now, |l| l + REPORT_EVERY);
        while t <= now {
            let mut report = curfew_engine::idle::ActivityReport::quiet(name, t);
            report.compute_id = Some(id.clone());
            if t < quiet_from {
                report.kernels = 1;
            }
            curfew_governor::activity::record(&self.rt, &report, t).await?;
            self.last_report = Some(t);
            t += REPORT_EVERY;
        }
        Ok(())
    }

    /// The scripted people of the week react to the notices of one tick.
    async fn react(&mut self, r: &TickReport) -> anyhow::Result<()> {
        for n in &r.notices {
            if !self.stranger_tried && n.instance == "gpu-seattle-01" {
                self.stranger_tried = true;
                let req = DismissalRequest {
                    target: Target::Occurrence(n.occurrence_id.clone()),
                    choice: Choice::Skip,
                    credential: Credential::ObjectId(STRANGER.into()),
                };
                self.dismiss(req, "a colleague tries to skip it", r.now)
                    .await?;
            }
            if !self.snoozed && n.instance == "gpu-seattle-01" && n.lead_minutes == 30 {
                self.snoozed = true;
                let req = DismissalRequest {
                    target: Target::Occurrence(n.occurrence_id.clone()),
                    choice: Choice::Snooze { minutes: 60 },
                    credential: Credential::ObjectId(OWNER.into()),
                };
                self.dismiss(req, "the owner snoozes it 60 min", r.now)
                    .await?;
            }
            if !self.skipped_by_link && n.instance == "gpu-sydney-01" && n.lead_minutes == 30 {
                if let Some(token) = self.link_token(&n.occurrence_id, None) {
                    self.skipped_by_link = true;
                    let req =
                        DismissalRequest::from_token(&token).map_err(|e| anyhow::anyhow!("{e}"))?;
                    self.dismiss(req, "the owner clicks 'skip' in the notice", r.now)
                        .await?;
                }
            }
        }
        Ok(())
    }
}

/// A temporary folder for the demo's store and events, removed at the end.
fn scratch() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "curfew-demo-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Runs the demo, writing its story to `out`; `days` of simulated time from [`DEMO_START`].
pub(crate) async fn run(out: &mut dyn Write, days: i64) -> anyhow::Result<DemoSummary> {
    let dir = scratch()?;
    let result = run_in(out, days, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run_in(out: &mut dyn Write, days: i64, dir: &Path) -> anyhow::Result<DemoSummary> {
    let default_ws = WorkspacePath {
        subscription: "00000000-0000-0000-0000-000000000000".into(),
        resource_group: "rg-ml".into(),
        workspace: "ws-demo".into(),
    };
    let fleet =
        SimFleet::from_json(fleet_json()?, &default_ws).map_err(|e| anyhow::anyhow!("{e}"))?;
    let sim = Simulator::start(
        "127.0.0.1:0".parse()?,
        fleet,
        SimConfig {
            require_auth: false,
            transition: Duration::ZERO,
            ..SimConfig::default()
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let events = dir.join("events.jsonl");
    let budgets = dir.join("budgets.json");
    std::fs::write(
        &budgets,
        r#"[{"name": "research-gpus", "scope": {"workspace": "ws-research"}, "amount": 400, "thresholds": [80, 100]}]"#,
    )?;
    let yaml = format!(
        "deployment: demo\narm:\n  endpoint: {}\n  scopes: [/subscriptions/00000000-0000-0000-0000-000000000000]\n  credential: token-env:DEMO_TOKEN\n  readsPerSecond: 100000\nstore:\n  sqlite: {}\nnotify: [\"jsonl:{}\"]\ncostTimeline: {}\nbudgets: {}\nlinks:\n  baseUrl: https://curfew.example/api/Dismiss\n  keys: [{{id: demo-1, secretEnv: DEMO_LINK_KEY}}]\n",
        sim.base_url(),
        dir.join("curfew.sqlite").display(),
        events.display(),
        dir.join("timeline.jsonl").display(),
        budgets.display()
    );
    let secrets = MapStrings::from_pairs(&[
        ("DEMO_TOKEN", "demo-token"),
        ("DEMO_LINK_KEY", "demo-signing-key-not-secret-0123456789"),
    ]);
    let rt = Runtime::from_config(&RuntimeConfig::from_yaml(&yaml, &secrets)?).await?;
    let mut demo = Demo {
        out,
        rt,
        sim,
        events,
        summary: DemoSummary::default(),
        timeline: Timeline::default(),
        last_state: HashMap::new(),
        executed: BTreeMap::new(),
        snoozed: false,
        skipped_by_link: false,
        stranger_tried: false,
        manual_done: false,
        last_report: None,
    };
    let start = at(DEMO_START);
    let end = start + TimeDelta::days(days);
    let (down_from, down_to) = (at(OUTAGE.0), at(OUTAGE.1));
    demo.say(format!(
        "Curfew demo: the example fleet (10 instances, 6 time zones) on a local ARM simulator, {days} simulated day(s) from {} (the US leaves DST on Sun 2026-11-01).",
        start.format("%a %Y-%m-%d")
    ))?;
    demo.say("Every line is a real decision of the governor; times are UTC.\n")?;
    let mut now = start;
    let mut day = None;
    while now < end {
        if day != Some(now.date_naive()) {
            day = Some(now.date_naive());
            demo.say(format!("— {} —", now.format("%A %Y-%m-%d")))?;
        }
        if now >= down_from && now < down_to && demo.summary.ticks > 0 {
            demo.say(format!(
                "  {}  (the governor is down until {}: nothing runs; it catches up when it is back)",
                now.format("%a %m-%d %H:%MZ"),
                down_to.format("%H:%MZ")
            ))?;
            now = down_to;
            continue;
        }
        demo.sim.state().set_wall_clock(Some(now));
        demo.report_activity(now).await?;
        let report = tick(&demo.rt, now, false).await?;
        demo.summary.ticks += 1;
        demo.print_tick(&report)?;
        demo.react(&report).await?;
        demo.observe(now).await;
        // Monday evening: the owner of gpu-seattle-01 starts it again by hand after its stop.
        if !demo.manual_done && now >= at("2026-11-03T03:20:00Z") {
            demo.manual_done = true;
            let fleet = demo.rt.fleet().await;
            if let Some(id) = fleet
                .instances
                .iter()
                .find(|f| f.instance.name == "gpu-seattle-01")
                .and_then(|f| f.instance.id.as_deref())
                .and_then(curfew_arm::ComputeId::parse)
            {
                demo.rt
                    .arm
                    .act(
                        &id,
                        curfew_arm::Action::Start,
                        curfew_arm::Completion::Accepted,
                    )
                    .await?;
                demo.timeline
                    .push(TimelineEvent::Action(cost::ActionRecord {
                        instance: "gpu-seattle-01".into(),
                        at: now,
                        action: PowerAction::Start,
                        by: Actor::User,
                        reason: Some("started by hand".into()),
                        next_start: None,
                        succeeded: true,
                    }));
                demo.say(format!(
                    "  {}  user   gpu-seattle-01 started by hand after its stop: Curfew leaves it running until its next stop",
                    now.format("%a %m-%d %H:%MZ")
                ))?;
                demo.observe(now).await;
            }
        }
        let next = report.next_deadline.unwrap_or(now + MAX_STEP);
        now = next.clamp(now + TimeDelta::minutes(1), now + MAX_STEP);
    }
    demo.observe(end).await;
    let prices = cost::PriceSheet::defaults();
    let window = cost::Window::new(start, end).map_err(|e| anyhow::anyhow!("{e}"))?;
    let report = cost::compute(&demo.timeline, &prices, window);
    demo.summary.spend = report.totals.spend;
    demo.summary.savings = report.totals.savings;
    let s = demo.summary.clone();
    demo.say(format!(
        "\nSummary: {} ticks; {} actions sent to ARM ({} as repair after the outage, {} idle shutdown(s)), {} duplicate(s); {} no-op(s), {} missed, {} skipped; {} notices; dismissals: {} honoured, {} refused; {} budget alert(s).",
        s.ticks, s.executed, s.repaired, s.idle_stops, s.duplicates, s.no_ops, s.missed, s.skipped, s.notices, s.dismissals_accepted, s.dismissals_refused, s.budget_events
    ))?;
    demo.say(format!(
        "ARM calls: {} (list pages, actions; nothing per idle instance).\n",
        demo.rt.arm.stats().calls
    ))?;
    let groups = cost::aggregate(&report, cost::GroupBy::Instance);
    demo.say(curfew_report::render_text_report(&report, &groups))?;
    Ok(s)
}
