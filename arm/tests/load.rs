//! Load test (ignored by plain `cargo test`; run by `.ci/arm-load.sh` in release mode):
//! 500 workspaces × 20 instances behind 50 ms of latency and 10 % injected 429s, with ARM's
//! per-subscription token buckets enforced by the simulator. Discovers and lists the whole fleet, then stops
//! 1 000 instances and waits for every operation, and checks that nothing was lost, duplicated,
//! or called per instance.

use armsim::{Fault, FaultSpec, SimConfig, SimFleet, Simulator};
use curfew_arm::{
    Action, ArmClient, ArmConfig, Completion, ComputeId, CredentialConfig, Scope, SecretString,
};
use std::collections::HashSet;
use std::time::{Duration, Instant};

const SUBSCRIPTIONS: usize = 10;
const WORKSPACES_PER_SUB: usize = 50;
const INSTANCES_PER_WS: usize = 20;
const STOPS_PER_WS: usize = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load test: run .ci/arm-load.sh"]
async fn list_ten_thousand_and_stop_a_thousand() {
    let sim = Simulator::start(
        "127.0.0.1:0".parse().unwrap(),
        SimFleet::synthetic(SUBSCRIPTIONS, WORKSPACES_PER_SUB, INSTANCES_PER_WS),
        SimConfig {
            page_size: 10,
            transition: Duration::from_millis(500),
            faults: FaultSpec::parse("429=0.1,retry-after=1,latency-ms=50,seed=2026").unwrap(),
            enforce_arm_buckets: true,
            ..SimConfig::default()
        },
    )
    .await
    .unwrap();
    let token = sim.state().issue_token();
    let client = ArmClient::new(ArmConfig {
        endpoint: sim.base_url(),
        credential: CredentialConfig::StaticToken(SecretString::new(token)),
        scopes: (1..=SUBSCRIPTIONS)
            .map(|s| Scope::Subscription(format!("00000000-0000-0000-0000-{s:012}")))
            .collect(),
        ..ArmConfig::default()
    })
    .unwrap();

    // Phase 1: discover and list the whole fleet.
    let t0 = Instant::now();
    let listing = client.list_scopes().await;
    let list_time = t0.elapsed();
    let list_stats = client.stats();
    assert!(
        listing.discovery_errors.is_empty(),
        "{:?}",
        listing.discovery_errors
    );
    let mut instances = Vec::new();
    let mut workspaces = Vec::new();
    for (ws, r) in listing.workspaces {
        let list = r.unwrap_or_else(|e| panic!("listing {ws} failed: {e}"));
        instances.extend(list.instances.into_iter().map(|c| c.id));
        workspaces.push(ws);
    }
    assert_eq!(workspaces.len(), SUBSCRIPTIONS * WORKSPACES_PER_SUB);
    assert_eq!(
        instances.len(),
        SUBSCRIPTIONS * WORKSPACES_PER_SUB * INSTANCES_PER_WS
    );
    let expected_pages = SUBSCRIPTIONS * WORKSPACES_PER_SUB.div_ceil(100)
        + workspaces.len() * INSTANCES_PER_WS.div_ceil(10);
    assert_eq!(
        list_stats.pages as usize, expected_pages,
        "one call per page, nothing per instance"
    );

    // Phase 2: stop 1 000 instances (two per workspace) and wait for each operation.
    let targets: Vec<ComputeId> = instances
        .iter()
        .filter(|c| {
            c.name.ends_with(&format!("-{:03}", 0))
                || c.name.ends_with(&format!("-{:03}", STOPS_PER_WS - 1))
        })
        .cloned()
        .collect();
    assert_eq!(targets.len(), 1000);
    let t1 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for id in targets.clone() {
        let c = client.clone();
        set.spawn(async move { c.act(&id, Action::Stop, Completion::Wait).await.map(|_| id) });
    }
    let mut done = HashSet::new();
    while let Some(r) = set.join_next().await {
        done.insert(r.unwrap().unwrap());
    }
    let stop_time = t1.elapsed();
    assert_eq!(done.len(), 1000);

    // Nothing lost or duplicated: exactly one accepted state change per target, all Stopped.
    let actions = sim.state().actions();
    let changed: Vec<&str> = actions
        .iter()
        .filter(|a| a.changed_state)
        .map(|a| a.compute.as_str())
        .collect();
    let unique: HashSet<&str> = changed.iter().copied().collect();
    assert_eq!(changed.len(), 1000, "accepted stops");
    assert_eq!(unique.len(), 1000, "no duplicates");
    assert_eq!(actions.len(), 1000, "no no-op repeats");
    for id in &targets {
        let c = sim.state().compute(&id.path()).unwrap();
        assert_eq!(c["properties"]["properties"]["state"], "Stopped", "{id}");
    }

    let s = client.stats();
    let log = sim.state().requests();
    let arm_requests = log.iter().filter(|r| r.kind != "token").count() as u64;
    let injected_429 = log
        .iter()
        .filter(|r| r.fault == Some(Fault::Throttle))
        .count() as u64;
    let bucket_429 = log
        .iter()
        .filter(|r| r.fault == Some(Fault::Bucket))
        .count() as u64;
    let useful = s.pages + s.gets + s.actions + s.polls;
    assert_eq!(s.actions, 1000);
    assert_eq!(
        s.calls, arm_requests,
        "client and simulator agree on calls made"
    );
    assert_eq!(
        s.calls,
        useful + s.throttled + s.retried_failures,
        "every extra call is a throttled retry"
    );
    assert_eq!(s.throttled, injected_429 + bucket_429);
    assert_eq!(
        bucket_429, 0,
        "the client's budgets never provoked ARM throttling"
    );

    println!("ARM load: {} workspaces x {} instances, 50 ms latency, 10 % 429 (Retry-After 1 s), ARM buckets enforced", workspaces.len(), INSTANCES_PER_WS);
    println!(
        "list:  {:>7.2} s wall, {} instances, {} pages, {} calls",
        list_time.as_secs_f64(),
        instances.len(),
        list_stats.pages,
        list_stats.calls
    );
    println!(
        "stop:  {:>7.2} s wall, {} stops accepted, {} polls",
        stop_time.as_secs_f64(),
        s.actions,
        s.polls
    );
    println!(
        "total: {} ARM calls = {} pages + {} actions + {} polls + {} gets + {} throttled retries + {} other retries",
        s.calls, s.pages, s.actions, s.polls, s.gets, s.throttled, s.retried_failures
    );
    println!(
        "throttling: {} injected 429s, {} bucket 429s, {} client budget waits",
        injected_429, bucket_429, s.budget_waits
    );
    println!(
        "actions: 1000 requested, {} state changes, {} distinct, 0 lost, 0 duplicated",
        changed.len(),
        unique.len()
    );
}
