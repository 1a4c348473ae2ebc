//! A scripted HTTP receiver on 127.0.0.1:0: it records every request and answers from a
//! script (then 2xx). An optional check on the headers answers 401 when it fails, which is
//! how the Service Bus emulation validates SAS tokens.

#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::{DateTime, TimeZone, Utc};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status, with an optional `Retry-After` value.
    Status(u16, Option<&'static str>),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub status: u16,
}

impl Recorded {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

pub type Check = Box<dyn Fn(&HeaderMap) -> bool + Send + Sync>;

struct State {
    script: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<Recorded>>,
    success: u16,
    check: Option<Check>,
}

/// A running receiver.
pub struct Receiver {
    pub base: String,
    state: Arc<State>,
}

impl Receiver {
    /// Starts a receiver answering `success` once `script` is used up.
    pub async fn start(success: u16, script: Vec<Reply>, check: Option<Check>) -> Receiver {
        let state = Arc::new(State {
            script: Mutex::new(script.into()),
            requests: Mutex::new(Vec::new()),
            success,
            check,
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { base, state }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }
}

async fn handle(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (status, retry_after) = if state.check.as_ref().is_some_and(|c| !c(&headers)) {
        (401, None)
    } else {
        match state.script.lock().unwrap().pop_front() {
            Some(Reply::Status(s, ra)) => (s, ra),
            None => (state.success, None),
        }
    };
    state.requests.lock().unwrap().push(Recorded {
        method,
        path: uri.path().to_owned(),
        headers,
        body,
        status,
    });
    let code = StatusCode::from_u16(status).unwrap();
    match retry_after {
        Some(ra) => (code, [("retry-after", ra)]).into_response(),
        None => code.into_response(),
    }
}

/// The fixed "now" of the tests.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 1, 30, 0).unwrap()
}

/// A pending-shutdown event with signed links.
pub fn pending_event(lead: u32) -> curfew_notify::Event {
    use curfew_notify::*;
    let d = ShutdownPending {
        occurrence_id: "occ-7f3a".into(),
        instance: InstanceRef {
            name: "gpu-alice".into(),
            id: "/subscriptions/0000/resourceGroups/ml/providers/Microsoft.MachineLearningServices/workspaces/ws1/computes/gpu-alice".into(),
            workspace: "ws1".into(),
        },
        action: "stop".into(),
        at_utc: Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap(),
        at_local: "2026-03-01 18:00 PST".into(),
        lead_minutes: lead,
        minutes_left: None,
        reason: "stop: schedule 'nightly' at 18:00 PST".into(),
        owner_object_id: None,
        native_only: false,
        note: None,
        links: DismissLinks {
            skip: Some("https://curfew.example/dismiss?t=SKIPTOKEN".into()),
            snooze: [30, 60, 120]
                .into_iter()
                .map(|m| SnoozeLink {
                    minutes: m,
                    url: format!("https://curfew.example/dismiss?t=SNOOZE{m}"),
                })
                .collect(),
        },
    };
    Event::shutdown_pending(&EventSource::deployment("test"), now(), d)
}
