//! Webhooks (generic, Teams, Slack) against a local receiver: body shapes, retries, dead
//! letters to a JSON-lines file, a fanout with one failing channel, and no URL in errors.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{now, pending_event, Receiver, Reply};
use curfew_notify::*;
use curfew_plumbing::{ManualClock, RetryPolicy};

fn hook(rx: &Receiver, flavor: Flavor, clock: &ManualClock) -> Webhook {
    let url = format!("{}/hooks/T000/B000/SECRETPART", rx.base);
    Webhook::new("chat", flavor, &url, Arc::new(clock.clone()))
        .unwrap()
        .with_jitter_seed(3)
}

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("curfew-notify-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn generic_posts_the_cloudevent() {
    let rx = Receiver::start(200, vec![], None).await;
    let clock = ManualClock::at(now());
    let event = pending_event(30);
    hook(&rx, Flavor::Generic, &clock)
        .send(&event)
        .await
        .unwrap();
    let r = &rx.requests()[0];
    assert_eq!(r.path, "/hooks/T000/B000/SECRETPART");
    assert_eq!(r.header("content-type"), CLOUDEVENTS_CONTENT_TYPE);
    assert_eq!(serde_json::from_slice::<Event>(&r.body).unwrap(), event);
}

#[tokio::test]
async fn teams_posts_an_adaptive_card_with_the_links() {
    let rx = Receiver::start(202, vec![], None).await;
    let clock = ManualClock::at(now());
    let d = hook(&rx, Flavor::Teams, &clock)
        .send(&pending_event(30))
        .await
        .unwrap();
    assert_eq!(d.status, Some(202));
    let body = rx.requests()[0].json();
    assert_eq!(rx.requests()[0].header("content-type"), "application/json");
    let card = &body["attachments"][0]["content"];
    let urls: Vec<_> = card["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["url"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        urls,
        [
            "https://curfew.example/dismiss?t=SKIPTOKEN",
            "https://curfew.example/dismiss?t=SNOOZE30",
            "https://curfew.example/dismiss?t=SNOOZE60",
            "https://curfew.example/dismiss?t=SNOOZE120",
        ]
    );
}

#[tokio::test]
async fn slack_posts_blocks_with_url_buttons() {
    let rx = Receiver::start(200, vec![], None).await;
    let clock = ManualClock::at(now());
    hook(&rx, Flavor::Slack, &clock)
        .send(&pending_event(5))
        .await
        .unwrap();
    let body = rx.requests()[0].json();
    let actions = &body["blocks"][2];
    assert_eq!(actions["type"], "actions");
    assert_eq!(
        actions["elements"][0]["url"],
        "https://curfew.example/dismiss?t=SKIPTOKEN"
    );
}

#[tokio::test]
async fn retries_429_and_5xx_then_delivers() {
    let script = vec![Reply::Status(429, Some("2")), Reply::Status(502, None)];
    let rx = Receiver::start(200, script, None).await;
    let clock = ManualClock::at(now());
    let d = hook(&rx, Flavor::Slack, &clock)
        .send(&pending_event(30))
        .await
        .unwrap();
    assert_eq!(d.attempts, 3);
    let sleeps = clock.sleeps();
    assert_eq!(sleeps[0], Duration::from_secs(2));
    assert!(sleeps[1] >= Duration::from_secs(1) && sleeps[1] <= Duration::from_secs(2));
}

#[tokio::test]
async fn gives_up_into_a_json_lines_dead_letter_file() {
    let rx = Receiver::start(200, vec![Reply::Status(503, None); 10], None).await;
    let clock = ManualClock::at(now());
    let dir = temp("dead");
    let path = dir.join("dead-letters.jsonl");
    let sink = Arc::new(JsonLinesDeadLetters::new(&path));
    let w = hook(&rx, Flavor::Teams, &clock)
        .with_retry(RetryPolicy {
            max_attempts: 3,
            ..DEFAULT_RETRY
        })
        .with_dead_letters(sink);
    let event = pending_event(30);
    let err = w.send(&event).await.unwrap_err();
    assert!(matches!(
        err,
        NotifyError::Exhausted {
            attempts: 3,
            dead_lettered: true,
            ..
        }
    ));
    assert_eq!(rx.requests().len(), 3);
    let letters = JsonLinesDeadLetters::read_all(&path).unwrap();
    assert_eq!(letters.len(), 1);
    let l = &letters[0];
    assert_eq!((l.channel.as_str(), l.attempts), ("chat", 3));
    assert_eq!(l.last_error, "chat: server error (HTTP 503)");
    assert!(l.retryable);
    assert_eq!(l.event, event);
    let raw = std::fs::read_to_string(&path).unwrap();
    assert!(
        !raw.contains("SECRETPART"),
        "no webhook URL in dead letters"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let rx = Receiver::start(200, vec![Reply::Status(400, None)], None).await;
    let clock = ManualClock::at(now());
    let dead = Arc::new(MemoryDeadLetters::new());
    let err = hook(&rx, Flavor::Slack, &clock)
        .with_dead_letters(dead.clone())
        .send(&pending_event(30))
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert_eq!(rx.requests().len(), 1);
    assert_eq!(dead.letters().len(), 1, "nothing is dropped silently");
}

#[tokio::test]
async fn transport_errors_are_retryable_and_hide_the_url() {
    // A port that was just free: connecting is refused.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let clock = ManualClock::at(now());
    let url = format!("http://127.0.0.1:{port}/hooks/SECRETPART");
    let w = Webhook::new("chat", Flavor::Generic, &url, Arc::new(clock.clone()))
        .unwrap()
        .with_retry(RetryPolicy {
            max_attempts: 2,
            ..DEFAULT_RETRY
        });
    let err = w.send(&pending_event(30)).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(!format!("{err} {err:?}").contains("SECRETPART"), "{err:?}");
    assert_eq!(clock.sleeps().len(), 1);
}

#[tokio::test]
async fn fanout_reports_each_channel() {
    let ok = Receiver::start(200, vec![], None).await;
    let gone = Receiver::start(404, vec![], None).await;
    let clock = ManualClock::at(now());
    let dir = temp("fanout");
    let file = Arc::new(JsonLinesFile::new("file", dir.join("events.jsonl")));
    let bad = Webhook::new(
        "old-teams",
        Flavor::Teams,
        &format!("{}/gone", gone.base),
        Arc::new(clock.clone()),
    )
    .unwrap();
    let fan = Fanout::new(vec![
        Arc::new(hook(&ok, Flavor::Slack, &clock)),
        Arc::new(bad),
        file.clone(),
    ]);
    let event = pending_event(30);
    let report = fan.send_all(&event).await;
    let labels: Vec<_> = report.outcomes.iter().map(|o| o.channel.as_str()).collect();
    assert_eq!(labels, ["chat", "old-teams", "file"]);
    assert!(report.outcomes[0].result.is_ok());
    assert!(report.outcomes[2].result.is_ok());
    let failures: Vec<_> = report.failures().collect();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].0, "old-teams");
    assert!(!report.all_delivered());
    assert_eq!(file.read_all().unwrap(), std::slice::from_ref(&event));

    // As a Notifier, the fanout fails with the partial picture, not retryable (404).
    let as_dyn: Arc<dyn Notifier> = Arc::new(fan);
    let err = as_dyn.send(&event).await.unwrap_err();
    assert!(matches!(err, NotifyError::Partial { total: 3, .. }));
    assert!(!err.is_retryable());
    assert!(
        err.to_string()
            .contains("old-teams: gave up after 1 attempt(s)"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let rx = Receiver::start(200, vec![Reply::Status(307, None)], None).await;
    let clock = ManualClock::at(now());
    let err = hook(&rx, Flavor::Generic, &clock)
        .send(&pending_event(30))
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("HTTP 307"), "{err}");
    assert_eq!(rx.requests().len(), 1);
}
