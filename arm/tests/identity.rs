//! Token acquisition with the real `azure_identity::ManagedIdentityCredential` against the
//! simulator's App Service managed-identity endpoint. The credential reads only
//! `IDENTITY_ENDPOINT`/`IDENTITY_HEADER` from the process environment, so the parent test starts
//! the simulator and runs the child test in a subprocess with those variables set on the child's
//! `Command` (never `set_var`).

use armsim::{SimConfig, SimFleet, Simulator};
use curfew_arm::{ArmClient, ArmConfig, CredentialConfig, WorkspaceRef};
use std::process::Command;

const CHILD_FLAG: &str = "CURFEW_ARM_MI_CHILD_ENDPOINT";

#[tokio::test]
async fn managed_identity_token_flows_from_the_simulator_endpoint() {
    let sim = Simulator::start(
        "127.0.0.1:0".parse().unwrap(),
        SimFleet::synthetic(1, 1, 3),
        SimConfig::default(),
    )
    .await
    .unwrap();
    let exe = std::env::current_exe().unwrap();
    let out = tokio::task::spawn_blocking({
        let (endpoint, base) = (sim.identity_endpoint(), sim.base_url());
        move || {
            Command::new(exe)
                .args([
                    "--exact",
                    "managed_identity_child",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("IDENTITY_ENDPOINT", endpoint)
                .env("IDENTITY_HEADER", "armsim-identity-header")
                .env(CHILD_FLAG, base)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child failed:\n{text}");
    assert!(text.contains("1 passed"), "child did not run:\n{text}");
    let log = sim.state().requests();
    let tokens = log
        .iter()
        .filter(|r| r.kind == "token" && r.status == 200)
        .count();
    let lists = log
        .iter()
        .filter(|r| r.kind == "list-computes" && r.status == 200)
        .count();
    assert_eq!(
        tokens, 1,
        "one token fetched and cached across calls: {log:#?}"
    );
    assert_eq!(lists, 3);
    assert!(
        log.iter().all(|r| r.status != 401),
        "every ARM call carried the issued token"
    );
}

/// Runs only as the subprocess of the test above.
#[tokio::test]
#[ignore = "run as a subprocess by managed_identity_token_flows_from_the_simulator_endpoint"]
async fn managed_identity_child() {
    let Ok(base) = std::env::var(CHILD_FLAG) else {
        return;
    };
    let client = ArmClient::new(ArmConfig {
        endpoint: base,
        credential: CredentialConfig::ManagedIdentity { client_id: None },
        ..ArmConfig::default()
    })
    .unwrap();
    let ws = WorkspaceRef {
        subscription: "00000000-0000-0000-0000-000000000001".into(),
        resource_group: "rg-000".into(),
        workspace: "ws-000-000".into(),
    };
    for _ in 0..3 {
        let list = client.list_computes(&ws).await.unwrap();
        assert_eq!(list.instances.len(), 3);
    }
    assert_eq!(client.stats().token_fetches, 1);
}
