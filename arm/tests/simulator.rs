//! The client against the local ARM simulator: paging, both LRO styles, each fault kind,
//! errors that must not be retried, `Retry-After` through the injected clock, and deadlines.

use armsim::{Fault, FaultSpec, LroStyle, SimConfig, SimFleet, Simulator};
use curfew_arm::{
    Action, ArmClient, ArmConfig, ArmError, Completion, ComputeId, CredentialConfig, Scope,
    SecretString, WorkspaceRef, DEFAULT_RETRY,
};
use curfew_plumbing::ManualClock;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

const SUB: &str = "00000000-0000-0000-0000-000000000001";

fn ws() -> WorkspaceRef {
    WorkspaceRef {
        subscription: SUB.into(),
        resource_group: "rg-000".into(),
        workspace: "ws-000-000".into(),
    }
}

fn compute(i: usize) -> ComputeId {
    ComputeId {
        workspace: ws(),
        name: format!("ci-000-000-{i:03}"),
    }
}

/// The synthetic fleet plus the two AKS computes of the real list example, moved into `ws()`.
fn fleet(per_ws: usize) -> SimFleet {
    let mut fleet = SimFleet::synthetic(1, 1, per_ws);
    let path = format!(
        "{}/../testdata/arm/2025-09-01_Compute_list.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let list: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut aks = list["responses"]["200"]["body"]["value"][0].clone();
    aks["id"] = Value::String(format!("{}/computes/aks1", ws().path()));
    let extra = SimFleet::from_json(
        aks,
        &armsim::WorkspacePath {
            subscription: SUB.into(),
            resource_group: "x".into(),
            workspace: "x".into(),
        },
    )
    .unwrap();
    fleet.computes.extend(extra.computes);
    fleet
}

async fn sim(config: SimConfig, per_ws: usize) -> (Simulator, String) {
    let sim = Simulator::start("127.0.0.1:0".parse().unwrap(), fleet(per_ws), config)
        .await
        .unwrap();
    let token = sim.state().issue_token();
    (sim, token)
}

fn client_config(sim: &Simulator, token: &str) -> ArmConfig {
    ArmConfig {
        endpoint: sim.base_url(),
        credential: CredentialConfig::StaticToken(SecretString::new(token)),
        attempt_timeout: Duration::from_secs(5),
        ..ArmConfig::default()
    }
}

fn manual(sim: &Simulator, token: &str, clock: &ManualClock) -> ArmClient {
    ArmClient::with_clock(client_config(sim, token), Arc::new(clock.clone())).unwrap()
}

fn count(sim: &Simulator, pred: impl Fn(&armsim::RequestRecord) -> bool) -> usize {
    sim.state().requests().iter().filter(|r| pred(r)).count()
}

#[tokio::test]
async fn lists_every_page_and_keeps_only_compute_instances() {
    let (sim, token) = sim(
        SimConfig {
            page_size: 3,
            ..SimConfig::default()
        },
        7,
    )
    .await;
    let mut cfg = client_config(&sim, &token);
    cfg.scopes = vec![Scope::Subscription(SUB.into()), Scope::Workspace(ws())];
    let client = ArmClient::new(cfg).unwrap();
    assert_eq!(
        client.discover().await.unwrap(),
        vec![ws()],
        "deduplicated across scopes"
    );
    let list = client.list_computes(&ws()).await.unwrap();
    assert_eq!(
        (list.instances.len(), list.other_types, list.pages),
        (7, 1, 3)
    );
    assert_eq!(list.instances[6].id, compute(6));
    assert_eq!(list.instances[0].state(), Some("Running"));
    let rg = client.list_workspaces(SUB, Some("rg-000")).await.unwrap();
    assert_eq!(rg[0].location.as_deref(), Some("eastus2"));
    let stats = client.stats();
    assert_eq!(
        stats.calls, stats.pages,
        "one call per page, nothing per instance"
    );
    let got = client.get_compute(&compute(2)).await.unwrap();
    assert_eq!(
        got.value()["properties"]["properties"]["vmSize"],
        "STANDARD_NC6"
    );
}

#[tokio::test]
async fn stop_polls_the_async_operation_status_resource() {
    let cfg = SimConfig {
        lro: LroStyle::AsyncOperation,
        transition: Duration::from_millis(300),
        ..SimConfig::default()
    };
    let (sim, token) = sim(cfg, 2).await;
    let client = ArmClient::new(client_config(&sim, &token)).unwrap();
    let op = client
        .act(&compute(0), Action::Stop, Completion::Wait)
        .await
        .unwrap();
    assert!(op.async_operation.is_some() && op.location.is_none());
    assert_eq!(
        client.get_compute(&compute(0)).await.unwrap().state(),
        Some("Stopped")
    );
    assert!(count(&sim, |r| r.path.contains("computeOperationsStatus")) >= 1);
}

#[tokio::test]
async fn start_polls_location_when_there_is_no_async_operation_header() {
    let cfg = SimConfig {
        lro: LroStyle::Location,
        transition: Duration::from_millis(300),
        ..SimConfig::default()
    };
    let (sim, token) = sim(cfg, 2).await;
    let client = ArmClient::new(client_config(&sim, &token)).unwrap();
    client
        .act(&compute(1), Action::Stop, Completion::Wait)
        .await
        .unwrap();
    let op = client
        .act(&compute(1), Action::Start, Completion::Wait)
        .await
        .unwrap();
    assert!(op.async_operation.is_none() && op.location.is_some());
    let c = client.get_compute(&compute(1)).await.unwrap();
    assert_eq!(c.state(), Some("Running"));
    assert_eq!(
        c.value()["properties"]["properties"]["lastOperation"]["operationName"],
        "Start"
    );
    assert!(count(&sim, |r| r.path.contains("computeOperationsResults")) >= 2);
}

#[tokio::test]
async fn accepted_returns_at_once_and_a_second_action_conflicts_without_retry() {
    let (sim, token) = sim(
        SimConfig {
            transition: Duration::from_secs(60),
            ..SimConfig::default()
        },
        2,
    )
    .await;
    let clock = ManualClock::new();
    let client = manual(&sim, &token, &clock);
    let op = client
        .act(&compute(0), Action::Stop, Completion::Accepted)
        .await
        .unwrap();
    assert!(
        op.async_operation.is_some() && op.location.is_some(),
        "both headers offered"
    );
    assert_eq!(op.retry_after, Some(Duration::from_secs(60)));
    assert_eq!(
        client.get_compute(&compute(0)).await.unwrap().state(),
        Some("Stopping")
    );
    let err = client
        .act(&compute(0), Action::Start, Completion::Accepted)
        .await
        .unwrap_err();
    assert!(matches!(err, ArmError::Conflict { .. }), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(count(&sim, |r| r.path.contains("/start?")), 1);
    assert_eq!(
        client.poll(&op).await.unwrap(),
        curfew_arm::OperationStatus::InProgress(Some(Duration::from_secs(60)))
    );
}

#[tokio::test]
async fn forbidden_and_not_found_are_never_retried() {
    let stop = "Microsoft.MachineLearningServices/workspaces/computes/stop/action";
    let (sim, token) = sim(
        SimConfig {
            denied_actions: vec![stop.into()],
            ..SimConfig::default()
        },
        1,
    )
    .await;
    let clock = ManualClock::new();
    let client = manual(&sim, &token, &clock);
    match client
        .act(&compute(0), Action::Stop, Completion::Wait)
        .await
    {
        Err(ArmError::Forbidden {
            action, resource, ..
        }) => {
            assert_eq!(action, stop);
            assert!(resource.ends_with("/computes/ci-000-000-000/stop"));
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }
    let missing = ComputeId {
        workspace: ws(),
        name: "nope".into(),
    };
    let err = client.get_compute(&missing).await.unwrap_err();
    assert!(
        matches!(err, ArmError::NotFound { .. }) && err.resource().ends_with("/computes/nope"),
        "{err}"
    );
    assert_eq!(
        sim.state().requests().len(),
        2,
        "one request each, no retries"
    );
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn throttling_waits_retry_after_plus_jitter_through_the_injected_clock() {
    let faults = FaultSpec::parse("429=0.5,retry-after=7,seed=3").unwrap();
    let (sim, token) = sim(
        SimConfig {
            faults,
            ..SimConfig::default()
        },
        3,
    )
    .await;
    let clock = ManualClock::new();
    let client = manual(&sim, &token, &clock);
    for _ in 0..10 {
        client.get_compute(&compute(1)).await.unwrap();
    }
    let throttled = count(&sim, |r| r.fault == Some(Fault::Throttle));
    assert!(throttled > 0);
    assert_eq!(client.stats().throttled as usize, throttled);
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), throttled, "one wait per 429");
    assert!(
        sleeps
            .iter()
            .all(|s| *s >= Duration::from_secs(7) && *s <= Duration::from_millis(7250)),
        "{sleeps:?}"
    );
}

#[tokio::test]
async fn persistent_throttling_ends_in_a_typed_retryable_error() {
    let (sim, token) = sim(
        SimConfig {
            faults: FaultSpec::parse("429=1").unwrap(),
            ..SimConfig::default()
        },
        1,
    )
    .await;
    let clock = ManualClock::new();
    let client = manual(&sim, &token, &clock);
    let err = client.get_compute(&compute(0)).await.unwrap_err();
    assert!(
        matches!(
            err,
            ArmError::Throttled {
                retry_after: Some(_),
                ..
            }
        ) && err.is_retryable(),
        "{err}"
    );
    assert_eq!(
        sim.state().requests().len(),
        DEFAULT_RETRY.max_attempts as usize
    );
}

#[tokio::test]
async fn server_errors_and_dropped_connections_are_retried_with_backoff() {
    let faults = FaultSpec::parse("500=0.15,503=0.15,drop=0.15,seed=11").unwrap();
    let (sim, token) = sim(
        SimConfig {
            faults,
            page_size: 2,
            ..SimConfig::default()
        },
        9,
    )
    .await;
    let clock = ManualClock::new();
    let client = manual(&sim, &token, &clock);
    for _ in 0..4 {
        let list = client.list_computes(&ws()).await.unwrap();
        assert_eq!(list.instances.len(), 9);
    }
    let by = |f: Fault| count(&sim, |r| r.fault == Some(f));
    let (e500, e503, dropped) = (
        by(Fault::ServerError),
        by(Fault::Unavailable),
        by(Fault::Drop),
    );
    assert!(
        e500 > 0 && e503 > 0 && dropped > 0,
        "{e500} {e503} {dropped}"
    );
    assert_eq!(
        count(&sim, |r| r.status == 0),
        dropped,
        "drops closed the connection unanswered"
    );
    let stats = client.stats();
    assert_eq!(stats.retried_failures as usize, e500 + e503 + dropped);
    assert_eq!(clock.sleeps().len(), e500 + e503 + dropped);
    assert_eq!(stats.pages, 4 * 5);
}

#[tokio::test]
async fn slow_answers_hit_the_attempt_timeout_and_then_the_call_deadline() {
    let faults = FaultSpec::parse("slow=1,slow-ms=3000").unwrap();
    let (sim, token) = sim(
        SimConfig {
            faults,
            ..SimConfig::default()
        },
        1,
    )
    .await;
    let clock = ManualClock::new();
    let mut cfg = client_config(&sim, &token);
    cfg.attempt_timeout = Duration::from_millis(100);
    cfg.call_deadline = Duration::from_secs(2);
    let client = ArmClient::with_clock(cfg, Arc::new(clock.clone())).unwrap();
    let err = client.get_compute(&compute(0)).await.unwrap_err();
    assert!(
        matches!(err, ArmError::Timeout { deadline, .. } if deadline == Duration::from_secs(2)),
        "{err}"
    );
    assert!(err.is_retryable());
    // Backoff 0.25–0.5 s, 0.5–1 s, then the next wait would cross the 2 s deadline.
    assert!(
        (2..=3).contains(&clock.sleeps().len()),
        "{:?}",
        clock.sleeps()
    );

    // Sometimes-slow answers still get through.
    let faults = FaultSpec::parse("slow=0.5,slow-ms=3000,seed=5").unwrap();
    let (sim, token) = sim_with(faults).await;
    let mut cfg = client_config(&sim, &token);
    cfg.attempt_timeout = Duration::from_millis(100);
    let client = ArmClient::with_clock(cfg, Arc::new(ManualClock::new())).unwrap();
    for _ in 0..4 {
        client.get_compute(&compute(0)).await.unwrap();
    }
}

async fn sim_with(faults: FaultSpec) -> (Simulator, String) {
    sim(
        SimConfig {
            faults,
            ..SimConfig::default()
        },
        1,
    )
    .await
}

#[tokio::test]
async fn a_rejected_token_is_refreshed_once_then_reported() {
    let (sim, _) = sim(SimConfig::default(), 1).await;
    let client = manual(&sim, "not-issued-by-the-simulator", &ManualClock::new());
    let err = client.get_compute(&compute(0)).await.unwrap_err();
    assert!(matches!(err, ArmError::Credential { .. }), "{err}");
    assert!(
        !format!("{err} {err:?}").contains("not-issued"),
        "the token never shows"
    );
    assert_eq!(count(&sim, |r| r.status == 401), 2);
}

#[tokio::test]
async fn idle_shutdown_uses_the_preview_api_version() {
    let (sim, token) = sim(SimConfig::default(), 1).await;
    let client = manual(&sim, &token, &ManualClock::new());
    client
        .update_idle_shutdown(&compute(0), "PT120M")
        .await
        .unwrap();
    let c = client.get_compute(&compute(0)).await.unwrap();
    assert_eq!(
        c.value()["properties"]["properties"]["idleTimeBeforeShutdown"],
        "PT120M"
    );
    assert_eq!(
        count(&sim, |r| r.path.ends_with(
            "updateIdleShutdownSetting?api-version=2024-10-01-preview"
        )),
        1
    );
}
