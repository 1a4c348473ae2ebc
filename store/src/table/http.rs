//! One HTTP exchange with the table service: headers, signing, and retries of 429/503,
//! connection failures and (for reads) exchanges cut off midway, with capped exponential backoff
//! (honouring `Retry-After`), timed by the injected clock.

use std::time::Duration;

use curfew_plumbing::{parse_retry_after, Clock, RetryPolicy};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};

use super::conn::Credential;
use crate::error::{StoreError, StoreResult};

/// Service version sent with every request (the first to accept Entra ID bearer tokens).
pub(crate) const API_VERSION: &str = "2019-02-02";

/// Default retry policy: 6 attempts, 200 ms doubling to at most 5 s, up to 25 % shorter at
/// random (≈ 11 s worst case); a `Retry-After` is honoured exactly up to the same 5 s.
pub const DEFAULT_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 6,
    base_delay: Duration::from_millis(200),
    max_delay: Duration::from_secs(5),
    jitter_percent: 25,
    max_retry_after: Duration::from_secs(5),
    retry_after_jitter: Duration::ZERO,
};

/// What a request carries besides its URL.
pub(crate) struct Req<'a> {
    pub method: Method,
    /// Full URL without query string.
    pub url: String,
    /// Already-encoded query string (without `?`), not part of the signature.
    pub query: String,
    pub content_type: &'a str,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
    /// Logical table, for error messages.
    pub table: &'static str,
    /// Sending it twice has the effect of sending it once (an upsert or delete changeset), so
    /// an exchange cut off midway is retried like a read's.
    pub idempotent: bool,
}

/// A response's parts that callers look at.
pub(crate) struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The service's error code and message (from the JSON error body), trimmed, for errors.
    pub(crate) fn error_detail(&self) -> String {
        let code = serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| {
                let e = v.get("odata.error")?;
                let code = e.get("code")?.as_str()?.to_owned();
                let msg = e
                    .pointer("/message/value")
                    .and_then(|m| m.as_str())
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(200)
                    .collect::<String>();
                Some(format!("{code}: {msg}"))
            })
            .unwrap_or_default();
        format!("HTTP {} {}", self.status.as_u16(), code)
    }
}

/// RFC 1123 date for `x-ms-date`. The service rejects requests whose date is more than
/// 15 minutes off, so against a real service `clock` must tell real time.
fn http_date(clock: &dyn Clock) -> String {
    clock.now().format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Sends one logical request, retrying throttling (429), unavailability (503) and failures to
/// connect; a read (`GET`, which changes nothing) or an idempotent write is also retried when
/// the connection fails mid-exchange or the response is cut off. Any other outcome is returned for the caller to
/// classify (a write that may have reached the service is sent twice only when it is marked
/// idempotent).
pub(crate) async fn send(
    client: &reqwest::Client,
    cred: &Credential,
    retry: &RetryPolicy,
    clock: &dyn Clock,
    seed: u64,
    req: Req<'_>,
) -> StoreResult<Resp> {
    let path = reqwest::Url::parse(&req.url)
        .map_err(|e| StoreError::Config(format!("table storage URL {}: {e}", req.url)))?
        .path()
        .to_owned();
    let full_url = if req.query.is_empty() {
        req.url.clone()
    } else {
        format!("{}?{}", req.url, req.query)
    };
    let repeatable = req.method == Method::GET || req.idempotent;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let date = http_date(clock);
        let auth = cred
            .authorization(req.method.as_str(), req.content_type, &date, &path)
            .await?;
        let mut builder = client
            .request(req.method.clone(), &full_url)
            .header("x-ms-date", &date)
            .header("x-ms-version", API_VERSION)
            .header("DataServiceVersion", "3.0")
            .header("MaxDataServiceVersion", "3.0;NetFx")
            .header(
                "Authorization",
                HeaderValue::from_str(&auth).map_err(|_| {
                    StoreError::Config("table storage: credential yields an invalid header".into())
                })?,
            );
        if !req.content_type.is_empty() {
            builder = builder.header("Content-Type", req.content_type);
        }
        for (k, v) in &req.headers {
            builder = builder.header(*k, v);
        }
        if !req.body.is_empty() || req.method == Method::POST || req.method == Method::PUT {
            builder = builder.body(req.body.clone());
        }
        let outcome = builder.send().await;
        let (retryable, retry_after, detail) = match outcome {
            Ok(resp) => {
                let status = resp.status();
                let headers = resp.headers().clone();
                let retry_after = headers
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|s| parse_retry_after(s, clock.now()));
                match resp.bytes().await {
                    Err(e) if repeatable => {
                        (true, None, format!("reading response: {}", without_url(&e)))
                    }
                    Err(e) => {
                        return Err(StoreError::Unavailable {
                            table: req.table,
                            detail: format!("reading response: {}", without_url(&e)),
                        })
                    }
                    Ok(body) => {
                        let r = Resp {
                            status,
                            headers,
                            body: body.to_vec(),
                        };
                        if status == StatusCode::TOO_MANY_REQUESTS
                            || status == StatusCode::SERVICE_UNAVAILABLE
                        {
                            (true, retry_after, r.error_detail())
                        } else {
                            return Ok(r);
                        }
                    }
                }
            }
            // Not connected: the request never reached the service, so retrying is safe; a
            // read is safe to repeat however it failed.
            Err(e) if e.is_connect() || (repeatable && !e.is_builder()) => {
                (true, None, without_url(&e))
            }
            Err(e) => (false, None, without_url(&e)),
        };
        if !retryable || attempt >= retry.max_attempts {
            return Err(StoreError::Unavailable {
                table: req.table,
                detail: format!(
                    "{} {}: {detail} (after {attempt} attempts)",
                    req.method, path
                ),
            });
        }
        clock
            .sleep(retry.delay_seeded(attempt, retry_after, seed))
            .await;
    }
}

/// A reqwest error's text without its URL (query strings may carry continuation tokens).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = format!("{e}");
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    if e.is_timeout() {
        text.push_str(" (timeout)");
    }
    text
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn pct(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_honours_retry_after() {
        let p = DEFAULT_RETRY;
        for seed in 0..50 {
            let d1 = p.delay_seeded(1, None, seed);
            let d3 = p.delay_seeded(3, None, seed);
            let d10 = p.delay_seeded(10, None, seed);
            assert!(d1 <= Duration::from_millis(200) && d1 >= Duration::from_millis(150));
            assert!(d3 <= Duration::from_millis(800) && d3 >= Duration::from_millis(600));
            assert!(d10 <= p.max_delay && d10 >= p.max_delay * 3 / 4);
        }
        assert_eq!(
            p.delay_seeded(1, Some(Duration::from_secs(2)), 0),
            Duration::from_secs(2)
        );
        assert_eq!(
            p.delay_seeded(1, Some(Duration::from_secs(60)), 0),
            p.max_delay
        );
    }

    /// A server that drops the first `drops` connections after reading the request (no
    /// answer), then answers `200 {}`; returns its address and how many it accepted.
    fn flaky_server(drops: usize) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { return };
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                if n >= drops {
                    let _ = s.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                    );
                }
            }
        });
        (addr, seen)
    }

    async fn send_to(addr: &str, method: Method, idempotent: bool) -> StoreResult<Resp> {
        let cred = Credential::SharedKey {
            account: "devstoreaccount1".into(),
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"test-key"),
        };
        let retry = RetryPolicy {
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            ..DEFAULT_RETRY
        };
        let clock = curfew_plumbing::ManualClock::new();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let req = Req {
            method,
            url: format!("{addr}/devstoreaccount1/t"),
            query: String::new(),
            content_type: "",
            body: Vec::new(),
            headers: Vec::new(),
            table: "t",
            idempotent,
        };
        send(&client, &cred, &retry, &clock, 7, req).await
    }

    /// Seen when a `$batch` or a query lost its connection under load: a read or an
    /// idempotent changeset is retried however its connection failed; a write that may have
    /// reached the service is not (CI once lost a tick's timeline-state upsert this way).
    #[tokio::test]
    async fn a_read_cut_off_mid_exchange_is_retried_and_a_write_is_not() {
        let (addr, seen) = flaky_server(2);
        let r = send_to(&addr, Method::GET, false).await.unwrap();
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 3);

        let (addr, seen) = flaky_server(2);
        let r = send_to(&addr, Method::POST, true).await.unwrap();
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 3);

        let (addr, seen) = flaky_server(1);
        let e = send_to(&addr, Method::POST, false).await.err().unwrap();
        assert!(matches!(e, StoreError::Unavailable { .. }), "{e}");
        assert_eq!(
            seen.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "sent once"
        );
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved() {
        assert_eq!(
            pct("PartitionKey eq 'a~b'"),
            "PartitionKey%20eq%20%27a~b%27"
        );
        assert_eq!(pct("é/+"), "%C3%A9%2F%2B");
    }
}
