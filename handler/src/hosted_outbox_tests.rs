//! No lost events: the real governor (SQLite store, the ARM simulator in process, events to
//! the `events` output binding) behind the router, with an invocation that answers 503 after
//! the governor recorded and delivered its events. The host drops the outputs of a 503; the
//! next invocation resends what is pending, with the same CloudEvent ids, and once it has
//! answered 2xx nothing is sent again. A poison entry is given up (audited) without blocking
//! the others.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::http::StatusCode;
use chrono::Utc;
use curfew_store::{SqliteStore, StateStore};
use serde_json::{json, Value};

use super::page_tests::{scratch, simulator};
use crate::functions::{
    invoke_for_test, EvaluationScope, FleetWorkspaces, PortError, PortFuture, Ports, Report,
    TickContext, TickHandler,
};
use curfew_governor::config::MapStrings;

const SUB: &str = "00000000-0000-0000-0000-0000000000ob";

fn ws() -> armsim::WorkspacePath {
    armsim::WorkspacePath {
        subscription: SUB.into(),
        resource_group: "rg-ob".into(),
        workspace: "ws-ob".into(),
    }
}

fn fleet() -> armsim::SimFleet {
    let c = json!([{
        "id": ws().compute_id("ci-stop"),
        "name": "ci-stop",
        "type": "Microsoft.MachineLearningServices/workspaces/computes",
        "properties": {
            "computeType": "ComputeInstance",
            "provisioningState": "Succeeded",
            "properties": {
                "vmSize": "STANDARD_DS3_V2",
                "state": "Running",
                "personalComputeInstanceSettings": {"assignedUser": {"objectId": "11111111-2222-3333-4444-555555555555", "tenantId": SUB}},
                "schedules": {"computeStartStop": [{
                    "action": "Stop", "status": "Enabled", "triggerType": "Cron",
                    "cron": {"expression": "0 18 * * *", "timeZone": "UTC"}
                }]}
            }
        }
    }]);
    armsim::SimFleet::from_json(c, &ws()).unwrap()
}

/// The real tick port, except that the invocations it is told to fail answer 503 *after*
/// the governor has recorded and delivered (the host then drops the outputs).
struct FailAfterRecording {
    inner: Arc<dyn TickHandler>,
    fail_next: AtomicBool,
}

impl TickHandler for FailAfterRecording {
    fn fleet<'a>(&'a self, tick: &'a TickContext) -> PortFuture<'a, FleetWorkspaces> {
        self.inner.fleet(tick)
    }
    fn evaluate<'a>(
        &'a self,
        scope: &'a EvaluationScope,
        tick: &'a TickContext,
    ) -> PortFuture<'a, Report> {
        Box::pin(async move {
            let r = self.inner.evaluate(scope, tick).await?;
            if self.fail_next.swap(false, Ordering::SeqCst) {
                drop(r);
                return Err(PortError::Transient(
                    "the invocation failed after recording".into(),
                ));
            }
            Ok(r)
        })
    }
}

fn timer(utc_now: &str) -> Vec<u8> {
    json!({
        "Data": {"timer": {"Schedule": {"AdjustForDST": true}, "ScheduleStatus": null, "IsPastDue": "false"}},
        "Metadata": {"sys": {"MethodName": "Tick", "UtcNow": utc_now, "RandGuid": "0b0e2e00-0000-4000-8000-0000000000ob"}}
    })
    .to_string()
    .into_bytes()
}

async fn tick(ports: &Ports, utc_now: &str) -> (StatusCode, Vec<Value>) {
    let (status, v) = invoke_for_test(ports.clone(), "Tick", timer(utc_now)).await;
    eprintln!("{utc_now}: {status} {}", v["Logs"]);
    let events = match &v["Outputs"]["events"] {
        Value::Array(a) => a.clone(),
        _ => Vec::new(),
    };
    (status, events)
}

fn ids_of(events: &[Value], ty: &str) -> Vec<String> {
    let mut ids: Vec<String> = events
        .iter()
        .filter(|e| e["type"] == ty)
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn an_invocation_that_answers_503_after_recording_loses_no_event() {
    let sim = simulator(fleet()).await;
    let dir = scratch("outbox");
    let db = dir.join("state.sqlite");
    let settings = MapStrings::from_pairs(&[
        ("CURFEW_SCOPES", &format!("/subscriptions/{SUB}")),
        ("CURFEW_ARM_ENDPOINT", &sim.base_url()),
        ("CURFEW_ARM_CREDENTIAL", "token-env:CURFEW_ARM_TOKEN"),
        ("CURFEW_ARM_TOKEN", "simulator"),
        ("CURFEW_SQLITE", &db.display().to_string()),
        ("CURFEW_NOTIFY", "binding"),
        ("CURFEW_DEPLOYMENT", "ob"),
    ]);
    let real = crate::hosted::ports(&settings);
    assert!(
        real.warnings
            .iter()
            .all(|w| w.contains("CURFEW_ACTIVITY_KEY")),
        "{:?}",
        real.warnings
    );
    let port = Arc::new(FailAfterRecording {
        inner: real.tick.clone().unwrap(),
        fail_next: AtomicBool::new(true),
    });
    let ports = Ports {
        tick: Some(port.clone()),
        ..real
    };
    let store = SqliteStore::open(&db).await.unwrap();

    // 17:30: the 30-minute notice is recorded and given to the binding, then the invocation
    // answers 503: the host drops its outputs. The notice is still pending.
    let (status, _) = tick(&ports, "2026-03-09T17:30:00Z").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let pending: Vec<String> = store
        .outbox_pending(10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        pending.len(),
        1,
        "the notice waits in the outbox: {pending:?}"
    );
    // The retried invocation resends it, with the same id, and answers 200.
    let (status, events) = tick(&ports, "2026-03-09T17:30:00Z").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        ids_of(&events, "curfew.shutdown.pending"),
        pending,
        "same CloudEvent id"
    );
    assert!(
        store.outbox_pending(10).await.unwrap().is_empty(),
        "settled on 200"
    );
    let (_, events) = tick(&ports, "2026-03-09T17:31:00Z").await;
    assert!(
        ids_of(&events, "curfew.shutdown.pending").is_empty(),
        "sent once answered 200: {events:?}"
    );

    // 18:00: the stop is carried out and `curfew.instance.stopped` made; the invocation
    // answers 503. The engine never makes that event again (the ledger says done): only the
    // outbox can bring it back, and the next tick does.
    port.fail_next.store(true, Ordering::SeqCst);
    let (status, _) = tick(&ports, "2026-03-09T18:00:00Z").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let stopped: Vec<String> = store
        .outbox_pending(10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(stopped.len(), 1, "{stopped:?}");
    // A poison entry (unreadable), older than the stopped event, must not block it.
    let poison = curfew_store::OutboxEntry {
        id: "poison-1".into(),
        at: chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 3, 9, 12, 0, 0).unwrap(),
        attempts: 0,
        payload: "{not json".into(),
    };
    store.outbox_record(&[poison]).await.unwrap();
    let (status, events) = tick(&ports, "2026-03-09T18:01:00Z").await;
    assert_eq!(status, StatusCode::OK);
    let audit = store
        .audit_between(
            chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 3, 9, 0, 0, 0).unwrap(),
            chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 3, 10, 0, 0, 0).unwrap(),
        )
        .await
        .unwrap();
    let given_up: Vec<&str> = audit
        .iter()
        .filter(|a| a.kind == "outbox.given_up")
        .map(|a| a.message.as_str())
        .collect();
    assert_eq!(given_up.len(), 1, "{given_up:?}");
    assert!(
        given_up[0].starts_with("event poison-1 given up: unreadable"),
        "{given_up:?}"
    );
    assert_eq!(
        ids_of(&events, "curfew.instance.stopped"),
        stopped,
        "resent by the next tick, same id"
    );
    let (_, events) = tick(&ports, "2026-03-09T18:02:00Z").await;
    assert!(
        events.is_empty(),
        "nothing pending once answered 200: {events:?}"
    );
    assert_eq!(
        sim.state()
            .actions()
            .iter()
            .filter(|a| a.changed_state)
            .count(),
        1,
        "one stop"
    );
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
}

/// The output binding takes a notice while a configured channel fails: once the invocation
/// answers 200 the notice is settled for the binding but stays owed to the failing channel,
/// which gets it (same id) when it works again; the binding is not given it twice.
#[tokio::test]
async fn a_channel_that_failed_beside_the_binding_still_gets_the_event() {
    let sim = simulator(fleet()).await;
    let dir = scratch("outbox-owed");
    let db = dir.join("state.sqlite");
    let late = dir.join("late");
    let notify = format!("binding down@jsonl:{}", late.join("down.jsonl").display());
    let settings = MapStrings::from_pairs(&[
        ("CURFEW_SCOPES", &format!("/subscriptions/{SUB}")),
        ("CURFEW_ARM_ENDPOINT", &sim.base_url()),
        ("CURFEW_ARM_CREDENTIAL", "token-env:CURFEW_ARM_TOKEN"),
        ("CURFEW_ARM_TOKEN", "simulator"),
        ("CURFEW_SQLITE", &db.display().to_string()),
        ("CURFEW_NOTIFY", &notify),
        ("CURFEW_DEPLOYMENT", "ob"),
    ]);
    let ports = crate::hosted::ports(&settings);
    let store = SqliteStore::open(&db).await.unwrap();
    let down_ids = || -> Vec<String> {
        std::fs::read_to_string(late.join("down.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["type"] == "curfew.shutdown.pending")
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, events) = tick(&ports, "2026-03-09T17:30:00Z").await;
    assert_eq!(status, StatusCode::OK);
    let sent = ids_of(&events, "curfew.shutdown.pending");
    assert_eq!(sent.len(), 1, "the binding took it: {events:?}");
    assert_eq!(
        store
            .outbox_pending(10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect::<Vec<_>>(),
        sent,
        "still owed to the channel that failed"
    );
    let (_, events) = tick(&ports, "2026-03-09T17:31:00Z").await;
    assert!(
        ids_of(&events, "curfew.shutdown.pending").is_empty(),
        "not to the binding twice: {events:?}"
    );
    std::fs::create_dir_all(&late).unwrap();
    let (_, events) = tick(&ports, "2026-03-09T17:32:00Z").await;
    assert!(ids_of(&events, "curfew.shutdown.pending").is_empty());
    assert_eq!(down_ids(), sent, "the failing channel got it, same id");
    assert!(store.outbox_pending(10).await.unwrap().is_empty());
    tick(&ports, "2026-03-09T17:33:00Z").await;
    assert_eq!(down_ids(), sent, "once");
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
}
