//! `curfew plan --config F` (issue 12, "the effective plan over the live scope"), as a real
//! process against the ARM simulator and a SQLite store: each row names its source (native,
//! override, policy, calendar), an override's expiry inside the window hands the instance back
//! to its native schedules, rows a calendar, a dismissal or Stop-wins suppressed are listed as
//! such, and what the plan says fires is exactly what the ticks then carry out (the ledger's
//! Done/NoOp records), with the same occurrence ids as `explain` and the tick's ARM listing.
//! `cargo test -p curfew --test governor_liveplan`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use armsim::{SimFleet, WorkspacePath};
use serde_json::{json, Value};

mod host;
use host::Sim;

const SUB: &str = "00000000-0000-0000-0000-0000000000e4";
const OWNER: &str = "11111111-2222-3333-4444-555555555555";

fn ws() -> WorkspacePath {
    WorkspacePath {
        subscription: SUB.into(),
        resource_group: "rg-plan".into(),
        workspace: "ws-plan".into(),
    }
}

fn cron(action: &str, expr: &str) -> Value {
    json!({"action": action, "status": "Enabled", "triggerType": "Cron",
           "cron": {"expression": expr, "timeZone": "UTC"}})
}

fn compute(name: &str, schedules: Value) -> Value {
    json!({
        "id": ws().compute_id(name),
        "name": name,
        "type": "Microsoft.MachineLearningServices/workspaces/computes",
        "properties": {
            "computeType": "ComputeInstance",
            "provisioningState": "Succeeded",
            "properties": {
                "vmSize": "STANDARD_DS3_V2",
                "state": "Running",
                "personalComputeInstanceSettings": {"assignedUser": {"objectId": OWNER, "tenantId": SUB}},
                "schedules": {"computeStartStop": schedules}
            }
        }
    })
}

fn fleet() -> SimFleet {
    let items = json!([
        // Native Stop 18:00 and Start 08:00; a holiday calendar on 10 March; its 9 March stop
        // is skipped by the owner.
        compute(
            "ci-a",
            json!([cron("Stop", "0 18 * * *"), cron("Start", "0 8 * * *")])
        ),
        // Native Stop 18:00, overridden by Stop 20:00 until 11 March 00:00.
        compute("ci-b", json!([cron("Stop", "0 18 * * *")])),
        // A Start and a Stop in the same minute on 10 March: Stop wins.
        compute(
            "ci-c",
            json!([cron("Start", "30 12 * * *"), cron("Stop", "30 12 10 3 *")])
        ),
    ]);
    SimFleet::from_json(items, &ws()).expect("fleet")
}

struct Cli {
    config: PathBuf,
}

impl Cli {
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_curfew"))
            .args(args)
            .args(["--config", &self.config.display().to_string()])
            .env("CURFEW_E2E_ARM_TOKEN", "simulator")
            .env("RUST_LOG", "off")
            .stdin(Stdio::null())
            .output()
            .expect("curfew");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> (String, String) {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
        (out, err)
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--format", "json"]);
        let (out, err) = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}{err}"))
    }
}

fn setup(dir: &Path, sim: &Sim) -> Cli {
    let calendars = dir.join("calendars.json");
    std::fs::write(
        &calendars,
        json!({
            "calendars": [{"name": "closed", "dates": ["2026-03-10"]}],
            "assignments": [{"calendar": "closed", "scope": {"instance": "ci-a"}, "effect": "skip-start"}]
        })
        .to_string(),
    )
    .unwrap();
    let config = dir.join("curfew.yaml");
    std::fs::write(
        &config,
        format!(
            "deployment: plan-e2e\n\
             arm:\n  endpoint: {}\n  scopes: [/subscriptions/{SUB}]\n  credential: token-env:CURFEW_E2E_ARM_TOKEN\n\
             store:\n  sqlite: {}\n\
             calendars: {}\n",
            sim.base_url,
            dir.join("state.sqlite").display(),
            calendars.display()
        ),
    )
    .unwrap();
    Cli { config }
}

fn rows_of<'a>(plan: &'a Value, instance: &str) -> Vec<&'a Value> {
    plan.as_array()
        .unwrap()
        .iter()
        .filter(|r| r["instance"] == instance)
        .collect()
}

fn brief(r: &Value) -> String {
    format!(
        "{} {} {} {}",
        r["at"].as_str().unwrap(),
        r["action"].as_str().unwrap(),
        r["source"].as_str().unwrap(),
        r["suppressedBy"].as_str().unwrap_or("fires")
    )
}

const WINDOW: [&str; 4] = [
    "--from",
    "2026-03-09T00:00:00Z",
    "--to",
    "2026-03-12T00:00:00Z",
];

#[test]
fn the_live_plan_names_sources_and_suppressions_and_the_ticks_do_what_it_says() {
    let sim = Sim::start(fleet());
    let dir = host::tmp_dir("liveplan", "week");
    let cli = setup(&dir, &sim);
    let plan_args = |extra: &[&'static str]| {
        let mut a = vec!["plan"];
        a.extend(WINDOW);
        a.extend(extra);
        a
    };

    // The override of ci-b, until 11 March 00:00.
    let over = dir.join("over.json");
    std::fs::write(&over, json!([cron("Stop", "0 20 * * *")]).to_string()).unwrap();
    let over = over.display().to_string();
    cli.ok(&[
        "schedule",
        "set",
        "ci-b",
        "--file",
        &over,
        "--expires",
        "2026-03-11T00:00:00Z",
        "--now",
        "2026-03-08T12:00:00Z",
    ]);

    // The plan lists the fleet as a tick does: the same ARM requests as a quiet dry-run tick.
    let tick = cli.json(&["tick", "--dry-run", "--now", "2026-03-09T03:00:00Z"]);
    let arm = tick["armCalls"].as_u64().expect("armCalls");

    // Tick through 9 March up to the 17:30 notice of ci-a's stop; then the owner skips that
    // stop by the id the plan gives it (the notice's record exists now).
    let before = cli.json(&plan_args(&[]));
    let stop_9 = rows_of(&before, "ci-a")
        .into_iter()
        .find(|r| r["at"] == "2026-03-09T18:00:00Z")
        .unwrap()["occurrenceId"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut times: BTreeSet<String> = before
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["at"].as_str().unwrap().to_owned())
        .collect();
    times.insert("2026-03-09T17:30:00Z".into());
    let (early, late): (Vec<String>, Vec<String>) = times
        .into_iter()
        .partition(|t| t.as_str() <= "2026-03-09T17:30:00Z");
    for t in &early {
        cli.ok(&["tick", "--now", t]);
    }
    cli.ok(&[
        "dismiss",
        "--occurrence",
        &stop_9,
        "--skip",
        "--as",
        OWNER,
        "--now",
        "2026-03-09T17:31:00Z",
    ]);

    let plan = cli.json(&plan_args(&[]));
    let a: Vec<String> = rows_of(&plan, "ci-a").into_iter().map(brief).collect();
    assert_eq!(
        a,
        [
            "2026-03-09T08:00:00Z Start native#1 fires",
            "2026-03-09T18:00:00Z Stop native#0 dismissal",
            "2026-03-10T08:00:00Z Start native#1 calendar:closed",
            "2026-03-10T18:00:00Z Stop native#0 fires",
            "2026-03-11T08:00:00Z Start native#1 fires",
            "2026-03-11T18:00:00Z Stop native#0 fires",
        ]
    );
    let b: Vec<String> = rows_of(&plan, "ci-b").into_iter().map(brief).collect();
    assert_eq!(
        b,
        [
            "2026-03-09T20:00:00Z Stop override#0 fires",
            "2026-03-10T20:00:00Z Stop override#0 fires",
            "2026-03-11T18:00:00Z Stop native#0 fires",
        ],
        "the override governs until its expiry, the native schedule after it"
    );
    let c: Vec<String> = rows_of(&plan, "ci-c").into_iter().map(brief).collect();
    assert_eq!(
        c,
        [
            "2026-03-09T12:30:00Z Start native#0 fires",
            "2026-03-10T12:30:00Z Stop native#1 fires",
            "2026-03-10T12:30:00Z Start native#0 stop-wins",
            "2026-03-11T12:30:00Z Start native#0 fires",
        ]
    );
    // The inventory plan's fields are all there, in the instance's zone.
    let row = rows_of(&plan, "ci-a")[0];
    for field in ["local", "timeZone", "iana", "trigger", "shift", "schedule"] {
        assert!(row.get(field).is_some(), "{field} missing: {row}");
    }

    // The text form and the caveats: Azure ML still runs ci-b's native stop beside the
    // override, and ci-a's skip cannot stop a native stop.
    let (text, err) = cli.ok(&plan_args(&["--format", "text"]));
    assert!(
        text.contains("[suppressed by calendar:closed: does not fire]"),
        "{text}"
    );
    assert!(text.contains("13 occurrence(s), 3 suppressed"), "{text}");
    assert!(
        err.contains("instance 'ci-b': native schedule") && err.contains("still enabled"),
        "{err}"
    );
    assert!(
        err.contains("instance 'ci-a': the skip of the native Stop at 2026-03-09T18:00:00+00:00"),
        "{err}"
    );

    // The same ids and verdicts as `explain` (ci-a has no override; its next 7 days hold the
    // window's rest).
    let explained = cli.json(&["explain", "ci-a", "--now", "2026-03-09T17:31:00Z"]);
    let next: Vec<(String, String)> = explained["next"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["at"].as_str().unwrap() < "2026-03-12")
        .map(|n| {
            (
                n["occurrenceId"].as_str().unwrap().to_owned(),
                n["suppressedBy"].as_str().unwrap_or("fires").to_owned(),
            )
        })
        .collect();
    let planned: Vec<(String, String)> = rows_of(&plan, "ci-a")
        .into_iter()
        .filter(|r| r["at"].as_str().unwrap() > "2026-03-09T17:31")
        .map(|r| {
            (
                r["occurrenceId"].as_str().unwrap().to_owned(),
                r["suppressedBy"].as_str().unwrap_or("fires").to_owned(),
            )
        })
        .collect();
    assert_eq!(next, planned);

    assert!(
        err.contains(&format!("3 instance(s) planned with {arm} ARM request(s)")),
        "{err} (tick: {arm})"
    );

    // Tick through the rest of the window: the ledger then holds a Done or NoOp record for
    // exactly the rows the plan said fire, and none for the suppressed ones.
    for t in &late {
        cli.ok(&["tick", "--now", t]);
    }
    let mut fired = BTreeSet::new();
    for name in ["ci-a", "ci-b", "ci-c"] {
        let e = cli.json(&["explain", name, "--now", "2026-03-12T00:00:00Z"]);
        for h in e["history"].as_array().unwrap() {
            if matches!(h["state"].as_str().unwrap(), "Done" | "NoOp") {
                fired.insert(h["occurrenceId"].as_str().unwrap().to_owned());
            }
        }
    }
    let said: BTreeSet<String> = plan
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("suppressedBy").is_none())
        .map(|r| r["occurrenceId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        fired, said,
        "what fired is exactly what the plan said fires"
    );
    // And the plan, read again afterwards, reports what the ledger holds.
    let after = cli.json(&plan_args(&[]));
    let statuses: BTreeSet<&str> = after
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["status"].as_str())
        .collect();
    assert!(
        statuses.contains("Done") && statuses.contains("Skipped"),
        "{after}"
    );
    drop(sim);
}

#[test]
fn bad_arguments_are_exit_2() {
    let sim = Sim::start(fleet());
    let dir = host::tmp_dir("liveplan", "args");
    let cli = setup(&dir, &sim);
    // --config with an inventory's inputs is refused by the parser.
    let (code, _, err) = cli.run(&[
        "plan",
        "--inventory",
        "x.json",
        "--from",
        "2026-03-09T00:00:00Z",
        "--to",
        "2026-03-10T00:00:00Z",
    ]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = cli.run(&[
        "plan",
        "--from",
        "2026-03-10T00:00:00Z",
        "--to",
        "2026-03-09T00:00:00Z",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("before --from"), "{err}");
    drop(sim);
}

#[path = "support/mod.rs"]
mod support;

/// The figure of docs/benchmarks.md: the live plan of 1 000 instances (10 workspaces) over a
/// week costs the tick's listing and no more ARM requests, and its wall time side by side with a
/// dry-run tick's. `cargo test -p curfew --test governor_liveplan a_week -- --nocapture`.
#[tokio::test]
async fn a_week_of_a_thousand_instances_costs_one_listing() {
    use curfew_governor::{liveplan::live_plan, tick::tick};
    let fleet = support::uniform(
        10,
        100,
        &[("Stop", "0 19 * * 1-5"), ("Start", "0 7 * * 1-5")],
    );
    let sim = support::start_sim(&fleet, armsim::SimConfig::default().page_size).await;
    let dir = support::Scratch::new("liveplan-week");
    let yaml = support::config_yaml(
        &sim.base_url(),
        &dir.path("curfew.sqlite"),
        &dir.path("events.jsonl"),
        "",
    );
    let rt = support::runtime(&yaml).await;
    let from = support::t("2036-03-03T00:00:00Z");
    let to = from + chrono::TimeDelta::days(7);
    let (mut plan_s, mut tick_s) = (Vec::new(), Vec::new());
    let (mut plan_calls, mut tick_calls, mut rows) = (0, 0, 0);
    for round in 0..3 {
        let started = std::time::Instant::now();
        let plan = live_plan(&rt, from, to).await.unwrap();
        plan_s.push(started.elapsed().as_secs_f64());
        let started = std::time::Instant::now();
        let report = tick(&rt, from + chrono::TimeDelta::hours(3 + round), true)
            .await
            .unwrap();
        tick_s.push(started.elapsed().as_secs_f64());
        (plan_calls, tick_calls, rows) = (plan.arm_calls, report.arm_calls, plan.rows.len());
        assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    }
    assert_eq!(rows, 1_000 * 10, "five stops and five starts a week each");
    assert_eq!(
        plan_calls, tick_calls,
        "the plan lists the fleet as the tick does"
    );
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (p, t) = (median(&mut plan_s), median(&mut tick_s));
    println!(
        "liveplan: 1000 instances, 7 days, {rows} rows: {plan_calls} ARM requests (a dry-run tick: {tick_calls}); median wall plan {p:.3} s, tick {t:.3} s, ratio {:.2}",
        p / t
    );
}
