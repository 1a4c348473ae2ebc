//! The simulator's HTTP behaviour, driven through the router value (no socket) with paused time,
//! plus one test on a real socket for the dropped-connection fault.

use armsim::{router, FaultSpec, LroStyle, SimConfig, SimFleet, SimState};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const WS: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-000/providers/Microsoft.MachineLearningServices/workspaces/ws-000-000";

async fn call(
    state: &Arc<SimState>,
    method: &str,
    uri: &str,
    token: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "sim.test");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let resp = router(state.clone())
        .oneshot(b.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, body)
}

fn sim(config: SimConfig) -> (Arc<SimState>, String) {
    let state = SimState::new(SimFleet::synthetic(1, 2, 5), config);
    let token = state.issue_token();
    (state, token)
}

#[tokio::test(start_paused = true)]
async fn lists_page_with_absolute_next_links() {
    let (s, t) = sim(SimConfig {
        page_size: 2,
        ..SimConfig::default()
    });
    let mut uri = format!("{WS}/computes?api-version=2025-12-01");
    let mut names = Vec::new();
    let mut pages = 0;
    loop {
        let (status, _, body) = call(&s, "GET", &uri, Some(&t)).await;
        assert_eq!(status, StatusCode::OK);
        pages += 1;
        names.extend(
            body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_string()),
        );
        match body["nextLink"].as_str() {
            Some(next) => {
                assert!(next.starts_with("http://sim.test/subscriptions/"), "{next}");
                uri = next.trim_start_matches("http://sim.test").to_string();
            }
            None => break,
        }
    }
    assert_eq!((pages, names.len()), (3, 5));
    let (status, _, body) = call(
        &s,
        "GET",
        "/subscriptions/00000000-0000-0000-0000-000000000001/providers/Microsoft.MachineLearningServices/workspaces?api-version=2025-12-01",
        Some(&t),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["value"].as_array().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn stop_answers_202_and_both_lro_styles_complete() {
    let (s, t) = sim(SimConfig {
        transition: Duration::from_secs(3),
        lro: LroStyle::Both,
        ..SimConfig::default()
    });
    let (status, h, _) = call(
        &s,
        "POST",
        &format!("{WS}/computes/ci-000-000-000/stop?api-version=2025-12-01"),
        Some(&t),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(h["retry-after"], "3");
    let async_op = h["azure-asyncoperation"]
        .to_str()
        .unwrap()
        .trim_start_matches("http://sim.test")
        .to_string();
    let location = h["location"]
        .to_str()
        .unwrap()
        .trim_start_matches("http://sim.test")
        .to_string();
    let (_, _, op) = call(&s, "GET", &async_op, Some(&t)).await;
    assert_eq!(op["status"], "InProgress");
    let (status, _, _) = call(&s, "GET", &location, Some(&t)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // A second action while Stopping is a conflict, as in Azure.
    let (status, _, err) = call(
        &s,
        "POST",
        &format!("{WS}/computes/ci-000-000-000/start?api-version=2025-12-01"),
        Some(&t),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Stopping"));
    tokio::time::advance(Duration::from_secs(3)).await;
    let (_, _, op) = call(&s, "GET", &async_op, Some(&t)).await;
    assert_eq!(op["status"], "Succeeded");
    let (status, _, _) = call(&s, "GET", &location, Some(&t)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, c) = call(
        &s,
        "GET",
        &format!("{WS}/computes/ci-000-000-000?api-version=2025-12-01"),
        Some(&t),
    )
    .await;
    assert_eq!(c["properties"]["properties"]["state"], "Stopped");
    assert_eq!(
        c["properties"]["properties"]["lastOperation"]["operationTrigger"],
        "User"
    );
}

#[tokio::test(start_paused = true)]
async fn auth_rbac_api_version_and_throttling() {
    let (s, t) = sim(SimConfig {
        denied_actions: vec![
            "Microsoft.MachineLearningServices/workspaces/computes/stop/action".into(),
        ],
        ..SimConfig::default()
    });
    let get = format!("{WS}/computes/ci-000-000-000?api-version=2025-12-01");
    assert_eq!(
        call(&s, "GET", &get, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&s, "GET", &get, Some("forged")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(
            &s,
            "GET",
            &format!("{WS}/computes/ci-000-000-000"),
            Some(&t)
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    let (status, _, err) = call(
        &s,
        "POST",
        &format!("{WS}/computes/ci-000-000-000/stop?api-version=2025-12-01"),
        Some(&t),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("computes/stop/action"));
    assert_eq!(
        call(
            &s,
            "GET",
            &format!("{WS}/computes/nope?api-version=2025-12-01"),
            Some(&t)
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );

    let (s, t) = sim(SimConfig {
        faults: FaultSpec::parse("429=1,retry-after=7").unwrap(),
        ..SimConfig::default()
    });
    let (status, h, _) = call(&s, "GET", &get, Some(&t)).await;
    assert_eq!(
        (status, h["retry-after"].to_str().unwrap()),
        (StatusCode::TOO_MANY_REQUESTS, "7")
    );
    assert_eq!(
        s.requests().last().unwrap().fault,
        Some(armsim::Fault::Throttle)
    );
}

#[tokio::test(start_paused = true)]
async fn token_endpoint_speaks_the_app_service_protocol() {
    let (s, _) = sim(SimConfig::default());
    let uri = "/msi/token?api-version=2019-08-01&resource=https://management.azure.com";
    let req = |secret: &str| {
        Request::builder()
            .uri(uri)
            .header("x-identity-header", secret)
            .body(Body::empty())
            .unwrap()
    };
    let resp = router(s.clone()).oneshot(req("wrong")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = router(s.clone())
        .oneshot(req("armsim-identity-header"))
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(
        &axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["resource"], "https://management.azure.com");
    assert!(body["expires_on"].as_str().unwrap().parse::<i64>().is_ok());
    let token = body["access_token"].as_str().unwrap();
    let (status, _, _) = call(
        &s,
        "GET",
        &format!("{WS}/computes?api-version=2025-12-01"),
        Some(token),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn drop_fault_closes_the_connection_without_an_answer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sim = armsim::Simulator::start(
        "127.0.0.1:0".parse().unwrap(),
        SimFleet::synthetic(1, 1, 1),
        SimConfig {
            faults: FaultSpec::parse("drop=1").unwrap(),
            require_auth: false,
            ..SimConfig::default()
        },
    )
    .await
    .unwrap();
    let mut stream = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    let req = format!("GET {WS}/computes?api-version=2025-12-01 HTTP/1.1\r\nhost: x\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "no bytes answered: {}", String::from_utf8_lossy(&buf));
    assert_eq!(sim.state().requests()[0].status, 0);
    assert!(armsim::Simulator::start(
        "0.0.0.0:0".parse().unwrap(),
        SimFleet::default(),
        SimConfig::default()
    )
    .await
    .is_err());
}
