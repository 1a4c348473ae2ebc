//! The crash proof of issue 4: `curfew tick` processes are SIGKILLed at random points, 100
//! times, during a simulated day of minute ticks; afterwards no occurrence was executed twice,
//! none was lost, and every accepted dismissal held.
//!
//! The ARM simulator runs inside this test process (on its own runtime threads); the governor
//! runs as real `curfew tick --config F --now T --format json` processes against it, with state
//! in a SQLite file on disk. Kills are aimed at ticks where the model expects ARM actions, after
//! a seeded random delay between 0 and about one and a half tick durations (some processes
//! finish first). Afterwards the accepted actions are aligned, per instance, with the model's:
//! each expected action must appear once, not before its tick and at most the catch-up late
//! (a killed tick's work is redone by the next one, or by reconciliation of its `Executing`
//! record); anything else is a duplicate or unexpected.

mod support;

use chrono::{DateTime, TimeDelta, Utc};
use curfew_engine::Action;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// The simulated day.
const DAY: &str = "2036-10-27T00:00:00Z";
/// Kills to send.
const KILLS: usize = 100;
/// The seed of the kill schedule and delays.
const SEED: u64 = 0xdead_0004;

/// A private copy of the `curfew` binary: other builds in the same target folder may relink the
/// original while this test runs for minutes.
fn binary(dir: &Scratch) -> PathBuf {
    let copy = dir.path("curfew-under-test");
    std::fs::copy(env!("CARGO_BIN_EXE_curfew"), &copy).expect("copying the curfew binary");
    copy
}

/// Where the processes keep their state: the SQLite file the configuration names, or a table
/// on Azurite (`CURFEW_TABLE_ENDPOINT` and `CURFEW_TABLE` in each process's environment).
#[derive(Clone)]
enum Backend {
    Sqlite,
    Table { endpoint: String, table: String },
}

/// The configuration file and the store the `curfew` processes use.
struct Target {
    config: PathBuf,
    backend: Backend,
}

fn curfew(target: &Target, args: &[&str]) -> Command {
    let config = &target.config;
    let bin = config.with_file_name("curfew-under-test");
    let mut c = Command::new(bin);
    c.args(args);
    if let Backend::Table { endpoint, table } = &target.backend {
        c.env("CURFEW_TABLE_ENDPOINT", endpoint)
            .env("CURFEW_TABLE", table);
    }
    c.args(["--config", &config.display().to_string()])
        .env(TOKEN_VAR, "e2e-token")
        .env(LINK_KEY_VAR, LINK_SECRET)
        .env("RUST_LOG", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn spawn_tick(config: &Target, now: DateTime<Utc>) -> Child {
    let now = now.to_rfc3339();
    let mut c = curfew(config, &["tick", "--now", &now, "--format", "json"]);
    c.spawn().expect("spawning curfew tick")
}

fn dismiss_cli(config: &Target, now: DateTime<Utc>, args: &[&str]) -> Value {
    let now = now.to_rfc3339();
    let mut all = vec!["dismiss", "--now", now.as_str(), "--format", "json"];
    all.extend(args);
    let out = curfew(config, &all).output().expect("curfew dismiss");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "curfew dismiss: {e}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Per instance, aligns accepted actions with expected ones: (duplicates or unexpected, lost,
/// late by how many minutes each matched action was).
fn align(expected: &[Seen], seen: &[Seen]) -> (Vec<Seen>, Vec<Seen>, Vec<i64>) {
    let mut by_key: BTreeMap<&str, (Vec<&Seen>, Vec<&Seen>)> = BTreeMap::new();
    for e in expected {
        by_key.entry(&e.key).or_default().0.push(e);
    }
    for s in seen {
        by_key.entry(&s.key).or_default().1.push(s);
    }
    let (mut extra, mut lost, mut late) = (Vec::new(), Vec::new(), Vec::new());
    for (_, (mut e, mut s)) in by_key {
        e.sort_by_key(|x| x.tick);
        s.sort_by_key(|x| x.tick);
        let mut i = 0;
        for a in s {
            // Expected actions this one cannot be any more (too old): lost.
            while i < e.len() && a.tick - e[i].tick > CATCH_UP {
                lost.push(e[i].clone());
                i += 1;
            }
            if i < e.len() && a.action == e[i].action && a.tick >= e[i].tick {
                late.push((a.tick - e[i].tick).num_minutes());
                i += 1;
            } else {
                extra.push(a.clone());
            }
        }
        lost.extend(e[i..].iter().map(|x| (*x).clone()));
    }
    (extra, lost, late)
}

/// The warning the crash test's owners answer (minutes before the stop).
const WARNING_LEAD: i64 = 5;

#[test]
#[ignore = "spawns ~1 500 curfew processes and kills 100: run by .ci/governor-proofs.sh in --release"]
fn sigkill_during_ticks_100_times_nothing_twice_nothing_lost() {
    sigkill_during_ticks(Backend::Sqlite);
}

/// The same day of kills with the state in Table Storage (Azurite): what the deployed
/// governors use, where a claim is a conditional `PUT` and a crash can fall between the
/// ledger pointer and its entry.
#[test]
#[ignore = "spawns ~1 500 curfew processes and kills 100 on Azurite: run by .ci/governor-proofs.sh in --release"]
fn sigkill_during_ticks_100_times_on_table_storage() {
    let Some(endpoint) = azurite_endpoint("sigkill_during_ticks_100_times_on_table_storage") else {
        return;
    };
    let table = format!("curfewcrash{}", std::process::id());
    sigkill_during_ticks(Backend::Table { endpoint, table });
}

fn sigkill_during_ticks(backend: Backend) {
    let wall = Instant::now();
    let fleet = generate(FleetSpec {
        instances: 20,
        zones: 1,
        workspaces: 2,
        seed: SEED,
        dense: true,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("the simulator's runtime");
    let sim = runtime.block_on(start_sim(&fleet, 50));
    let state = sim.state().clone();
    let dir = Scratch::new("crash");
    let (db, events, config) = (
        dir.path("curfew.sqlite"),
        dir.path("events.jsonl"),
        dir.path("curfew.yaml"),
    );
    std::fs::write(&config, config_yaml(&sim.base_url(), &db, &events, "")).unwrap();
    binary(&dir);
    let store_name = match &backend {
        Backend::Sqlite => "SQLite",
        Backend::Table { .. } => "Table Storage (Azurite)",
    };
    let config = Target {
        config,
        backend: backend.clone(),
    };

    let start = t(DAY);
    // The day, then 10 clean minutes that settle what the last kills left.
    let ticks = minute_ticks(start, start + TimeDelta::minutes(24 * 60 + 10), &[]);
    let plain = Model::expect(&fleet, &ticks, &HashMap::new());
    // Two skips and two snoozes, spread over the day, each of a different instance.
    let mut targets: Vec<(usize, DateTime<Utc>, bool)> = Vec::new();
    for (k, hour) in [3, 8, 13, 18].into_iter().enumerate() {
        let lo = start + TimeDelta::hours(hour);
        let e = plain
            .actions
            .iter()
            .find(|e| {
                e.action == Action::Stop
                    && e.at >= lo
                    && e.tick == e.at
                    && targets.iter().all(|(i, _, _)| *i != e.instance)
                    // Running through the 5 minutes before it, so its 5-minute warning goes
                    // out (the dense fleet starts every instance again less than 30 minutes
                    // before each stop, and an instance Stopped at a lead time is not warned:
                    // docs/governor.md).
                    && plain.actions.iter().all(|x| {
                        x.instance != e.instance
                            || x.action != Action::Start
                            || x.at <= e.at - TimeDelta::minutes(WARNING_LEAD)
                            || x.at >= e.at
                    })
            })
            .expect("a stop to dismiss");
        targets.push((e.instance, e.at, k % 2 == 1));
    }
    let dismissals: HashMap<(usize, DateTime<Utc>), Dismissed> = targets
        .iter()
        .map(|&(i, at, snooze)| {
            let d = if snooze {
                Dismissed::SnoozeUntil(at + TimeDelta::minutes(30))
            } else {
                Dismissed::Skip
            };
            ((i, at), d)
        })
        .collect();
    let model = Model::expect(&fleet, &ticks, &dismissals);

    // Kill schedule: 100 distinct ticks of the day with expected actions, not the first 10
    // (they measure how long a tick takes) nor the clean tail.
    let mut rng = Rng::new(SEED);
    let mut busy: Vec<DateTime<Utc>> = ticks[10..ticks.len() - 10]
        .iter()
        .copied()
        .filter(|now| model.per_tick.get(now).is_some_and(|c| c.actions > 0))
        .collect();
    let mut crash: HashSet<DateTime<Utc>> = HashSet::new();
    while crash.len() < KILLS.min(busy.len()) {
        let k = rng.below(busy.len() as u64) as usize;
        crash.insert(busy.swap_remove(k));
    }

    let mut seen: Vec<Seen> = Vec::new();
    let mut durations: Vec<Duration> = Vec::new();
    let mut max_delay_ms = 0u64;
    let (mut kills, mut finished_first, mut mid_tick, mut mid_action) = (0, 0, 0, 0);
    let (mut reconciled, mut failed_runs, mut accepted_dismissals) = (0, 0, 0);
    for (n, &now) in ticks.iter().enumerate() {
        for &(i, at, snooze) in &targets {
            // The owner answers the 5-minute warning two minutes after it came.
            if now != at - TimeDelta::minutes(WARNING_LEAD - 2) {
                continue;
            }
            let g = &fleet[i];
            let notice = pending_notices(&events)
                .into_iter()
                .find(|x| x.instance == g.name && x.at == at && x.lead == WARNING_LEAD as u64)
                .unwrap_or_else(|| panic!("no {WARNING_LEAD}-min notice of {} at {at}", g.name));
            let out = if snooze {
                let token = snooze_token(&notice, 30);
                dismiss_cli(&config, now, &["--token", &token])
            } else {
                let occ = notice.occurrence_id.as_str();
                dismiss_cli(
                    &config,
                    now,
                    &["--occurrence", occ, "--skip", "--as", &g.owner],
                )
            };
            assert_eq!(out["accepted"], true, "{}: {out}", g.name);
            accepted_dismissals += 1;
        }
        if n == 10 {
            durations.sort();
            // About one and a half median tick durations: most kills land inside a tick.
            max_delay_ms = (durations[durations.len() / 2].as_millis() as u64 * 3 / 2).max(5);
        }
        let (requests, actions) = (state.requests().len(), state.actions().len());
        let began = Instant::now();
        let mut child = spawn_tick(&config, now);
        if crash.contains(&now) {
            std::thread::sleep(Duration::from_millis(rng.below(max_delay_ms + 1)));
            match child.try_wait().expect("try_wait") {
                Some(_) => {
                    // It finished before the kill: aim one more kill at a later busy tick,
                    // and sooner (ticks got faster than the first ones measured), so that
                    // the later busy ticks do not run out before all kills landed.
                    finished_first += 1;
                    max_delay_ms = (max_delay_ms * 3 / 4).max(5);
                    let later: Vec<usize> = (0..busy.len()).filter(|k| busy[*k] > now).collect();
                    if !later.is_empty() {
                        let k = later[rng.below(later.len() as u64) as usize];
                        crash.insert(busy.swap_remove(k));
                    }
                }
                None => {
                    child.kill().expect("SIGKILL");
                    kills += 1;
                    if state.requests().len() > requests {
                        mid_tick += 1;
                    }
                    if state.actions().len() > actions {
                        mid_action += 1;
                    }
                }
            }
            let _ = child.wait();
        } else {
            let out = child.wait_with_output().expect("curfew tick");
            durations.push(began.elapsed());
            match serde_json::from_slice::<Value>(&out.stdout) {
                Ok(r) => {
                    reconciled += r["reconciled"].as_array().map_or(0, Vec::len);
                    if !out.status.success() {
                        failed_runs += 1;
                    }
                }
                Err(e) => panic!(
                    "{now}: curfew tick: {e}: {}",
                    String::from_utf8_lossy(&out.stderr)
                ),
            }
        }
        seen.extend(seen_since(&state, actions, now));
    }

    let expected = expected_seen(&model, &fleet);
    let (extra, lost, late) = align(&expected, &seen);
    let late_max = late.iter().copied().max().unwrap_or(0);
    let late_count = late.iter().filter(|m| **m > 0).count();
    // The ledger: nothing left Executing; the dismissed occurrences held.
    let ledger = runtime.block_on(async {
        let store: Box<dyn curfew_store::StateStore> = match &backend {
            Backend::Sqlite => Box::new(
                curfew_store::SqliteStore::open(&db)
                    .await
                    .expect("the store"),
            ),
            Backend::Table { endpoint, table } => Box::new(
                curfew_store::TableStore::open(
                    curfew_store::TableConfig::development(endpoint).unwrap(),
                    table,
                )
                .await
                .expect("the store"),
            ),
        };
        store
            .entries_between(start - CATCH_UP, ticks[ticks.len() - 1])
            .await
            .expect("the ledger")
    });
    let executing = ledger
        .iter()
        .filter(|e| e.value.state == curfew_store::LedgerState::Executing)
        .count();
    let mut held = 0;
    for &(i, at, snooze) in &targets {
        let key = &fleet[i].key;
        let e = ledger
            .iter()
            .map(|e| &e.value)
            .find(|e| e.instance_id.eq_ignore_ascii_case(key) && e.at == at)
            .expect("the dismissed occurrence's record");
        let ok = if snooze {
            // Carried out at the end of the snooze, never at its own time.
            e.snoozed_until == Some(at + TimeDelta::minutes(30))
                && !seen
                    .iter()
                    .any(|s| &s.key == key && s.action == Action::Stop && s.tick == at)
        } else {
            e.state == curfew_store::LedgerState::Dismissed
                && !seen
                    .iter()
                    .any(|s| &s.key == key && s.action == Action::Stop && s.tick == at)
        };
        assert!(
            ok,
            "{}: dismissal at {at} did not hold: {e:?}",
            fleet[i].name
        );
        held += 1;
    }
    println!(
        "crash: {store_name}: {} instances, {} ticks ({} processes), {} expected actions; kill delay 0..{} ms; \
         {} kills sent ({} hit mid-tick after ARM was called, {} after an action was accepted), \
         {} processes finished before their kill; {} clean runs exiting non-zero; {} Executing \
         records reconciled; {} actions late (max {} min); duplicates {}, lost {}; Executing left \
         {}; dismissals accepted {} and held {}; wall {:.1} s",
        fleet.len(),
        ticks.len(),
        ticks.len() + accepted_dismissals,
        expected.len(),
        max_delay_ms,
        kills,
        mid_tick,
        mid_action,
        finished_first,
        failed_runs,
        reconciled,
        late_count,
        late_max,
        extra.len(),
        lost.len(),
        executing,
        accepted_dismissals,
        held,
        wall.elapsed().as_secs_f64()
    );
    for x in extra.iter().take(10) {
        println!("  duplicate/unexpected: {x:?}");
    }
    for x in lost.iter().take(10) {
        println!("  lost: {x:?}");
    }
    // On a failure, the ledger and the accepted actions of the instances concerned.
    for key in extra
        .iter()
        .chain(lost.iter())
        .map(|s| s.key.clone())
        .collect::<std::collections::BTreeSet<_>>()
    {
        for e in ledger
            .iter()
            .map(|e| &e.value)
            .filter(|e| e.instance_id.eq_ignore_ascii_case(&key))
        {
            println!(
                "  ledger {} {:?} at {} state {:?} updated {} attempts {} outcome {:?}",
                e.occurrence_id, e.action, e.at, e.state, e.updated_at, e.attempts, e.outcome
            );
        }
        for s in seen.iter().filter(|s| s.key == key) {
            println!("  accepted: {s:?}");
        }
    }
    assert!(
        kills >= KILLS.min(expected.len()) * 9 / 10,
        "too few kills landed: {kills}"
    );
    assert!(
        extra.is_empty(),
        "{} action(s) executed twice or unexpectedly",
        extra.len()
    );
    assert!(lost.is_empty(), "{} action(s) lost", lost.len());
    assert_eq!(executing, 0, "Executing records left");
}

/// A process killed after ARM accepted a Stop but before it recorded `Done` leaves the
/// occurrence `Executing`. If a later Start runs before that record is stale, reconciliation
/// must not take the Running state to mean "the Stop never reached ARM" and stop it again.
/// The kill is reproduced exactly by putting the record back to `Executing` after a tick.
#[tokio::test]
async fn killed_after_arm_accepted_then_a_later_start_is_not_undone() {
    let mut fleet = uniform(1, 1, &[("Stop", "0 10 * * *"), ("Start", "2 10 * * *")]);
    fleet[0].running = true;
    let sim = start_sim(&fleet, 50).await;
    let dir = Scratch::new("crash-reconcile");
    let yaml = config_yaml(
        &sim.base_url(),
        &dir.path("curfew.sqlite"),
        &dir.path("events.jsonl"),
        "",
    );
    let rt = runtime(&yaml).await;
    let at = t("2036-10-27T10:00:00Z");
    let tick = |m: i64| curfew_governor::tick::tick(&rt, at + TimeDelta::minutes(m), false);
    tick(-1).await.unwrap();
    tick(0).await.unwrap(); // the Stop reaches ARM and is recorded Done...
    let stop = rt
        .store
        .entries_between(at, at + TimeDelta::seconds(1))
        .await
        .unwrap()
        .pop()
        .expect("the stop's record");
    assert_eq!(stop.value.state, curfew_store::LedgerState::Done);
    // ...but the process "died" before recording it: the record is still Executing.
    let mut executing = stop.value.clone();
    executing.state = curfew_store::LedgerState::Executing;
    executing.outcome = None;
    rt.store
        .update_entry(&executing, &stop.version)
        .await
        .unwrap();
    // Past the claim lease, so that reconciliation has run by the end.
    let lease = curfew_engine::governor::STALE_EXECUTING.num_minutes();
    for m in 1..=lease + 3 {
        let r = tick(m).await.unwrap();
        for d in &r.decisions {
            println!(
                "10:0{m}: {:?} {:?} {} — {}",
                d.kind, d.action, d.reason, d.outcome
            );
        }
        for x in &r.reconciled {
            println!("10:0{m}: reconciled {x}");
        }
    }
    let actions: Vec<String> = sim
        .state()
        .actions()
        .iter()
        .map(|a| format!("{:?}", a.action))
        .collect();
    println!("ARM accepted: {actions:?}");
    assert_eq!(actions, ["Stop", "Start"], "the Stop reached ARM twice");
}
