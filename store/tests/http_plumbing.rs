//! The Table Storage client's HTTP plumbing — retries of 429/503 (`Retry-After` as seconds or
//! an HTTP-date, on the injected clock) and bearer tokens — checked against a scripted
//! responder on 127.0.0.1. (Store semantics are checked on Azurite.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::TimeZone as _;
use curfew_plumbing::{ManualClock, RetryPolicy};
use curfew_store::{StoreError, TableConfig, TableStore, TokenSource, DEFAULT_RETRY};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Answers each connection with the next scripted status (then 204s), recording each
/// request's head. One request per connection (`Connection: close`).
async fn responder(script: Vec<(u16, &'static str)>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        let mut script = script.into_iter();
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the head, then as much body as Content-Length says.
            let head_end = loop {
                let n = sock.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i + 4);
                }
            };
            let Some(head_end) = head_end else { continue };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            while buf.len() < head_end + len {
                let n = sock.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            log.lock().unwrap().push(head);
            let (status, extra) = script.next().unwrap_or((204, ""));
            let resp = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n{extra}\r\n"
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    (format!("http://{addr}/acct"), seen)
}

const FAST: RetryPolicy = RetryPolicy {
    max_attempts: 4,
    base_delay: Duration::from_millis(1),
    max_delay: Duration::from_millis(5),
    max_retry_after: Duration::from_millis(5),
    ..DEFAULT_RETRY
};

#[tokio::test]
async fn throttling_and_unavailability_are_retried_then_succeed() {
    let (endpoint, seen) = responder(vec![(429, "Retry-After: 0\r\n"), (503, ""), (503, "")]).await;
    let cfg = TableConfig::development(&endpoint).unwrap();
    TableStore::open_with_retry(cfg, "curfew", FAST)
        .await
        .unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 4, "3 refusals then success");
    assert!(seen.iter().all(|h| h.starts_with("POST /acct/Tables ")));
    assert!(seen[0].contains("SharedKey devstoreaccount1:"));
}

#[tokio::test]
async fn giving_up_is_a_retryable_unavailable_error() {
    let (endpoint, seen) = responder(vec![(503, ""); 10]).await;
    let cfg = TableConfig::development(&endpoint).unwrap();
    let err = TableStore::open_with_retry(cfg, "curfew", FAST)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Unavailable {
                table: "tables",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_retryable());
    assert!(err.to_string().contains("after 4 attempts"), "{err}");
    assert_eq!(seen.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn other_client_errors_are_not_retried() {
    let (endpoint, seen) = responder(vec![(400, "")]).await;
    let cfg = TableConfig::development(&endpoint).unwrap();
    let err = TableStore::open_with_retry(cfg, "curfew", FAST)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn retry_after_dates_and_request_dates_follow_the_injected_clock() {
    let (endpoint, seen) = responder(vec![(
        503,
        "Retry-After: Mon, 05 Jan 2026 10:00:03 GMT\r\n",
    )])
    .await;
    let clock = ManualClock::at(chrono::Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap());
    let retry = RetryPolicy {
        max_retry_after: Duration::from_secs(10),
        ..FAST
    };
    let cfg = TableConfig::development(&endpoint).unwrap();
    TableStore::open_with_clock(cfg, "curfew", retry, Arc::new(clock.clone()))
        .await
        .unwrap();
    assert_eq!(clock.sleeps(), [Duration::from_secs(3)], "waited as asked");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(
        seen[0].contains("x-ms-date: Mon, 05 Jan 2026 10:00:00 GMT"),
        "{}",
        seen[0]
    );
    assert!(
        seen[1].contains("x-ms-date: Mon, 05 Jan 2026 10:00:03 GMT"),
        "{}",
        seen[1]
    );
}

struct FixedToken;

#[async_trait]
impl TokenSource for FixedToken {
    async fn token(&self, scope: &str) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        assert_eq!(scope, curfew_store::STORAGE_SCOPE);
        Ok("tok-123".to_owned())
    }
}

#[tokio::test]
async fn bearer_mode_sends_the_token_and_never_shows_it() {
    let (endpoint, seen) = responder(vec![]).await;
    let store = TableStore::open(
        TableConfig::with_token(&endpoint, Arc::new(FixedToken)),
        "curfew",
    )
    .await
    .unwrap();
    let head = seen.lock().unwrap()[0].to_ascii_lowercase();
    assert!(head.contains("authorization: bearer tok-123"), "{head}");
    assert!(head.contains("x-ms-version: 2019-02-02"), "{head}");
    assert!(!format!("{store:?}").contains("tok-123"));
}
