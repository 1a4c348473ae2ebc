//! `ServiceBusRest` against a local emulation of the Service Bus REST "Send Message" call:
//! the receiver validates the SAS token (rule name, resource, HMAC signature, expiry against
//! its own fixed "now"), answers 201, 401 for a bad or expired token, and scripted 429/503.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use common::{now, pending_event, Receiver, Reply};
use curfew_notify::*;
use curfew_plumbing::{ManualClock, RetryPolicy};
use ring::hmac;

const KEY: &str = "c2VjcmV0LWtleS12YWx1ZQ==";
const ENC_RESOURCE: &str = "https%3A%2F%2Fcontoso.servicebus.windows.net%2Fcurfew-events";

fn conn(key: &str) -> String {
    format!(
        "Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=send;\
         SharedAccessKey={key};EntityPath=curfew-events"
    )
}

/// What Service Bus checks: the token is for this entity, signed by this rule's key, and
/// its expiry is in the future of the receiver's clock (`now()`).
fn sas_is_valid(headers: &axum::http::HeaderMap) -> bool {
    let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(rest) = v.strip_prefix("SharedAccessSignature ") else {
        return false;
    };
    let field = |k: &str| {
        rest.split('&')
            .find_map(|p| p.strip_prefix(&format!("{k}=")))
            .unwrap_or("")
            .to_owned()
    };
    let (sr, sig, se, skn) = (field("sr"), field("sig"), field("se"), field("skn"));
    if sr != ENC_RESOURCE || skn != "send" {
        return false;
    }
    let Ok(expiry) = se.parse::<i64>() else {
        return false;
    };
    if expiry <= now().timestamp() {
        return false;
    }
    let sig = percent_encoding::percent_decode_str(&sig).decode_utf8_lossy();
    let Ok(mac) = base64::engine::general_purpose::STANDARD.decode(sig.as_bytes()) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, KEY.as_bytes());
    hmac::verify(&key, format!("{sr}\n{se}").as_bytes(), &mac).is_ok()
}

async fn sas_receiver(script: Vec<Reply>) -> Receiver {
    Receiver::start(201, script, Some(Box::new(sas_is_valid))).await
}

fn client(rx: &Receiver, key: &str, clock: &ManualClock) -> ServiceBusRest {
    ServiceBusRest::from_connection_string(
        "events-topic",
        &conn(key),
        None,
        Arc::new(clock.clone()),
    )
    .unwrap()
    .with_endpoint(&rx.base)
    .with_jitter_seed(7)
}

#[tokio::test]
async fn sends_the_cloudevent_with_sas_and_message_id() {
    let rx = sas_receiver(vec![]).await;
    let clock = ManualClock::at(now());
    let event = pending_event(30);
    let d = client(&rx, KEY, &clock).send(&event).await.unwrap();
    assert_eq!((d.status, d.attempts), (Some(201), 1));
    assert_eq!(d.event_id, event.id);
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/curfew-events/messages");
    assert_eq!(
        r.header("content-type"),
        "application/cloudevents+json; charset=utf-8"
    );
    let broker: serde_json::Value = serde_json::from_str(r.header("brokerproperties")).unwrap();
    assert_eq!(broker["MessageId"], event.id.as_str());
    assert_eq!(broker["Label"], "curfew.shutdown.pending");
    let back: Event = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(back, event);
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn bad_signature_is_401_not_retried_and_dead_lettered() {
    let rx = sas_receiver(vec![]).await;
    let clock = ManualClock::at(now());
    let dead = Arc::new(MemoryDeadLetters::new());
    let sb = client(&rx, "d3Jvbmcta2V5", &clock).with_dead_letters(dead.clone());
    let err = sb.send(&pending_event(30)).await.unwrap_err();
    match &err {
        NotifyError::Exhausted {
            attempts,
            last,
            dead_lettered,
            ..
        } => {
            assert_eq!(*attempts, 1);
            assert!(matches!(
                **last,
                NotifyError::Unauthorized { status: 401, .. }
            ));
            assert!(dead_lettered);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!err.is_retryable());
    assert_eq!(rx.requests().len(), 1);
    let letters = dead.letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].channel, "events-topic");
    assert!(!letters[0].retryable);
    assert!(!err.to_string().contains("d3Jvbmcta2V5"));
}

#[tokio::test]
async fn expired_token_is_401() {
    let rx = sas_receiver(vec![]).await;
    // The sender's clock is two hours behind the receiver: a one-hour token is already stale.
    let clock = ManualClock::at(now() - chrono::Duration::hours(2));
    let err = client(&rx, KEY, &clock)
        .send(&pending_event(30))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("HTTP 401"), "{err}");
    // A longer TTL covers the skew.
    let ok = client(&rx, KEY, &clock)
        .with_sas_ttl(Duration::from_secs(3 * 3600))
        .send(&pending_event(30))
        .await;
    assert!(ok.is_ok());
}

#[tokio::test]
async fn throttled_then_created_waits_retry_after() {
    let rx = sas_receiver(vec![Reply::Status(429, Some("7"))]).await;
    let clock = ManualClock::at(now());
    let d = client(&rx, KEY, &clock)
        .send(&pending_event(5))
        .await
        .unwrap();
    assert_eq!((d.attempts, d.status), (2, Some(201)));
    assert_eq!(clock.sleeps(), [Duration::from_secs(7)]);
    let statuses: Vec<_> = rx.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 201]);
}

#[tokio::test]
async fn unavailable_then_created_backs_off_with_jitter() {
    let rx = sas_receiver(vec![Reply::Status(503, None)]).await;
    let clock = ManualClock::at(now());
    let d = client(&rx, KEY, &clock)
        .send(&pending_event(5))
        .await
        .unwrap();
    assert_eq!(d.attempts, 2);
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 1);
    assert!(sleeps[0] >= Duration::from_millis(500) && sleeps[0] <= Duration::from_secs(1));
}

#[tokio::test]
async fn persistent_5xx_gives_up_after_max_attempts_with_dead_letter() {
    let script = vec![Reply::Status(500, None); 10];
    let rx = sas_receiver(script).await;
    let clock = ManualClock::at(now());
    let dead = Arc::new(MemoryDeadLetters::new());
    let err = client(&rx, KEY, &clock)
        .with_dead_letters(dead.clone())
        .send(&pending_event(5))
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(rx.requests().len(), DEFAULT_RETRY.max_attempts as usize);
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 3);
    for (i, s) in sleeps.iter().enumerate() {
        let full = Duration::from_secs(1 << i);
        assert!(*s <= full && *s >= full / 2, "sleep {i}: {s:?}");
    }
    let letters = dead.letters();
    assert_eq!(letters[0].attempts, 4);
    assert_eq!(
        letters[0].last_error,
        "events-topic: server error (HTTP 500)"
    );
    assert_eq!(
        letters[0].at,
        now() + chrono::Duration::from_std(sleeps.iter().sum()).unwrap()
    );
}

#[tokio::test]
async fn resends_carry_the_same_message_id() {
    let rx = sas_receiver(vec![]).await;
    let clock = ManualClock::at(now());
    let sb = client(&rx, KEY, &clock);
    sb.send(&pending_event(30)).await.unwrap();
    sb.send(&pending_event(30)).await.unwrap();
    sb.send(&pending_event(5)).await.unwrap();
    let ids: std::collections::BTreeSet<String> = rx
        .requests()
        .iter()
        .map(|r| {
            let b: serde_json::Value = serde_json::from_str(r.header("brokerproperties")).unwrap();
            b["MessageId"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        ids.len(),
        2,
        "Service Bus duplicate detection sees two messages"
    );
}

struct FixedToken(Result<&'static str, &'static str>);

#[async_trait]
impl TokenSource for FixedToken {
    async fn token(&self, scope: &str) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        assert_eq!(scope, SERVICE_BUS_SCOPE);
        self.0.map(str::to_owned).map_err(Into::into)
    }
}

#[tokio::test]
async fn bearer_tokens_from_a_token_source() {
    let check: common::Check = Box::new(|h| {
        h.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer entra-token")
    });
    let rx = Receiver::start(201, vec![], Some(check)).await;
    let clock = ManualClock::at(now());
    let mk = |src: FixedToken| {
        ServiceBusRest::with_token_source(
            "events-topic",
            "contoso.servicebus.windows.net",
            "curfew-events",
            Arc::new(src),
            Arc::new(clock.clone()),
        )
        .unwrap()
        .with_endpoint(&rx.base)
        .with_retry(RetryPolicy {
            max_attempts: 2,
            ..DEFAULT_RETRY
        })
    };
    let d = mk(FixedToken(Ok("entra-token")))
        .send(&pending_event(30))
        .await
        .unwrap();
    assert_eq!(d.status, Some(201));
    let err = mk(FixedToken(Err("no managed identity")))
        .send(&pending_event(30))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(err
        .to_string()
        .contains("token source: no managed identity"));
    let err = mk(FixedToken(Ok("wrong")))
        .send(&pending_event(30))
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    let dbg = format!("{:?}", mk(FixedToken(Ok("entra-token"))));
    assert!(!dbg.contains("entra-token"));
}
