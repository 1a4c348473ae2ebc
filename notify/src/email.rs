//! Email to an instance's owner: pre-shutdown notices over SMTP (STARTTLS or implicit TLS, and
//! AUTH), each with a text and an HTML part saying the owner's local time and UTC, the reason,
//! and the signed skip and snooze links the event carries. The address comes from a
//! [`Directory`] (Microsoft Graph, a static map, both behind a cache).
//!
//! Why `lettre`: the SMTP client of the Rust ecosystem (STARTTLS, AUTH PLAIN/LOGIN, MIME
//! multipart, rustls); SMTP and MIME are not protocols to write by hand.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use curfew_plumbing::html::escape;
use curfew_plumbing::Clock;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::error::NotifyError;
use crate::event::{Event, EventData, ShutdownPending};
use crate::notifier::{Delivery, Notifier};
use crate::retry::Deliverer;
use curfew_plumbing::RetryPolicy;

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587: ACS, Office 365,
    /// SendGrid).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS at all: only for a relay on loopback (tests, a local relay).
    None,
}

impl SmtpSecurity {
    /// Parses `starttls`, `tls`, `none`.
    pub fn parse(s: &str) -> Option<SmtpSecurity> {
        match s.trim().to_ascii_lowercase().as_str() {
            "starttls" => Some(SmtpSecurity::StartTls),
            "tls" => Some(SmtpSecurity::Tls),
            "none" => Some(SmtpSecurity::None),
            _ => None,
        }
    }
}

/// The SMTP relay and sender. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// Relay host, e.g. `smtp.azurecomm.net`, `smtp.office365.com`, `smtp.sendgrid.net`.
    pub host: String,
    /// Port (587 with STARTTLS, 465 with TLS).
    pub port: u16,
    /// Connection protection.
    pub security: SmtpSecurity,
    /// AUTH user name, when the relay wants one.
    pub username: Option<String>,
    /// AUTH password (secret).
    pub password: Option<String>,
    /// The sender, `Name <address>` or an address.
    pub from: String,
    /// An extra trusted root certificate (PEM), for a relay with a private CA.
    pub ca_pem: Option<String>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("ca_pem", &self.ca_pem.is_some())
            .finish()
    }
}

/// Whether `host` is a loopback name or address (where [`SmtpSecurity::None`] is allowed).
pub fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether `s` is an address or `Name <address>` (what `email.from` must be); the error says
/// why not.
pub fn check_mailbox(s: &str) -> Result<(), String> {
    s.parse::<Mailbox>().map(|_| ()).map_err(|e| e.to_string())
}

/// Where owners' email addresses come from, by Entra object id. `Ok(None)`: the directory
/// has no address for that user (unknown user, or no `mail` and no usable UPN).
#[async_trait]
pub trait Directory: Send + Sync {
    /// The address of the user `object_id`.
    async fn email_of(&self, object_id: &str) -> Result<Option<String>, NotifyError>;
}

/// Addresses from configuration (`email.owners`): overrides and tests.
#[derive(Debug, Clone, Default)]
pub struct StaticDirectory(pub HashMap<String, String>);

#[async_trait]
impl Directory for StaticDirectory {
    async fn email_of(&self, object_id: &str) -> Result<Option<String>, NotifyError> {
        Ok(self
            .0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(object_id))
            .map(|(_, v)| v.clone()))
    }
}

/// The static map first, then the directory behind it, each answer (an address or none)
/// remembered for `ttl`, so a day of notices costs one lookup per owner, not one per notice.
pub struct CachedDirectory {
    overrides: StaticDirectory,
    inner: Option<Arc<dyn Directory>>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    cache: tokio::sync::Mutex<HashMap<String, (Option<String>, std::time::Duration)>>,
}

impl std::fmt::Debug for CachedDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedDirectory")
            .field("overrides", &self.overrides.0.len())
            .field("inner", &self.inner.is_some())
            .finish()
    }
}

/// How long a directory answer is remembered.
pub const DIRECTORY_TTL: Duration = Duration::from_secs(6 * 3600);

impl CachedDirectory {
    /// `overrides` win; `inner` (Graph) answers the rest, when there is one.
    pub fn new(
        overrides: StaticDirectory,
        inner: Option<Arc<dyn Directory>>,
        clock: Arc<dyn Clock>,
    ) -> CachedDirectory {
        CachedDirectory {
            overrides,
            inner,
            clock,
            ttl: DIRECTORY_TTL,
            cache: Default::default(),
        }
    }
}

#[async_trait]
impl Directory for CachedDirectory {
    async fn email_of(&self, object_id: &str) -> Result<Option<String>, NotifyError> {
        if let Some(a) = self.overrides.email_of(object_id).await? {
            return Ok(Some(a));
        }
        let Some(inner) = &self.inner else {
            return Ok(None);
        };
        let key = object_id.to_ascii_lowercase();
        let now = self.clock.elapsed();
        if let Some((a, at)) = self.cache.lock().await.get(&key) {
            if now.saturating_sub(*at) < self.ttl {
                return Ok(a.clone());
            }
        }
        // Errors (throttling, outages) are not remembered: the next notice asks again.
        let a = inner.email_of(object_id).await?;
        self.cache.lock().await.insert(key, (a.clone(), now));
        Ok(a)
    }
}

/// A rendered email: subject, text part, HTML part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailBody {
    /// The subject line.
    pub subject: String,
    /// The text/plain part.
    pub text: String,
    /// The text/html part (every value escaped).
    pub html: String,
}

/// The email of a pending shutdown: when (the owner's local time and UTC), why, and the
/// skip and snooze links. Pure.
pub fn shutdown_email(d: &ShutdownPending) -> EmailBody {
    let minutes = d.minutes();
    let utc = d.at_utc.format("%Y-%m-%d %H:%M UTC").to_string();
    let subject = format!(
        "{} stops in {minutes} min ({})",
        d.instance.name, d.at_local
    );
    let mut text = format!(
        "Your compute instance {} (workspace {}) will be stopped in {minutes} minutes.\n\n\
         When: {} (your time), {utc}\nWhy: {}\n",
        d.instance.name, d.instance.workspace, d.at_local, d.reason
    );
    let mut html = format!(
        "<!doctype html><html><body><p>Your compute instance <b>{}</b> (workspace {}) will be stopped in {minutes} minutes.</p>\
         <p>When: <b>{}</b> (your time), {}<br>Why: {}</p>",
        escape(&d.instance.name),
        escape(&d.instance.workspace),
        escape(&d.at_local),
        escape(&utc),
        escape(&d.reason)
    );
    if let Some(note) = &d.note {
        text.push_str(&format!("\nNote: {note}\n"));
        html.push_str(&format!("<p><i>{}</i></p>", escape(note)));
    }
    let mut links: Vec<(String, &str)> = Vec::new();
    if let Some(skip) = &d.links.skip {
        links.push(("Skip this shutdown".to_owned(), skip));
    }
    for s in &d.links.snooze {
        links.push((format!("Snooze {} min", s.minutes), &s.url));
    }
    if links.is_empty() {
        text.push_str("\nNo dismissal link is available for this shutdown.\n");
    } else {
        text.push('\n');
        html.push_str("<p>");
        for (i, (label, url)) in links.iter().enumerate() {
            text.push_str(&format!("{label}: {url}\n"));
            if i > 0 {
                html.push_str(" &middot; ");
            }
            html.push_str(&format!(
                "<a href=\"{}\">{}</a>",
                escape(url),
                escape(label)
            ));
        }
        html.push_str("</p>");
    }
    text.push_str(&format!("\nOccurrence: {}\n", d.occurrence_id));
    html.push_str(&format!(
        "<p style=\"color:#666\">Occurrence {}</p></body></html>",
        escape(&d.occurrence_id)
    ));
    EmailBody {
        subject,
        text,
        html,
    }
}

/// The email channel: each `curfew.shutdown.pending` to its owner's address.
pub struct Email {
    label: String,
    from: Mailbox,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    directory: Arc<dyn Directory>,
    deliverer: Deliverer,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("label", &self.label)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// Retries within one send: one more attempt after a second. A notice that still fails stays
/// unsent and the next tick (a minute later) sends it again, so waiting longer here only
/// delays the tick.
pub const EMAIL_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 2,
    base_delay: Duration::from_secs(1),
    max_delay: Duration::from_secs(1),
    jitter_percent: 0,
    max_retry_after: Duration::from_secs(1),
    retry_after_jitter: Duration::ZERO,
};

/// How long one SMTP command may take before the attempt counts as timed out.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

impl Email {
    /// The channel `label` sending through `smtp`, addresses from `directory`.
    pub fn new(
        label: &str,
        smtp: &SmtpSettings,
        directory: Arc<dyn Directory>,
        clock: Arc<dyn Clock>,
        retry: RetryPolicy,
    ) -> Result<Email, NotifyError> {
        let bad = |m: String| NotifyError::config(label, m);
        let from: Mailbox = smtp
            .from
            .parse()
            .map_err(|e| bad(format!("the sender '{}': {e}", smtp.from)))?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tls = || -> Result<TlsParameters, NotifyError> {
            let mut b = TlsParameters::builder(smtp.host.clone());
            if let Some(pem) = &smtp.ca_pem {
                let cert = Certificate::from_pem(pem.as_bytes())
                    .map_err(|e| bad(format!("the CA certificate: {e}")))?;
                b = b.add_root_certificate(cert);
            }
            b.build_rustls().map_err(|e| bad(format!("TLS: {e}")))
        };
        let tls = match smtp.security {
            SmtpSecurity::StartTls => Tls::Required(tls()?),
            SmtpSecurity::Tls => Tls::Wrapper(tls()?),
            SmtpSecurity::None if is_loopback_host(&smtp.host) => Tls::None,
            SmtpSecurity::None => {
                return Err(bad(format!(
                    "security none is allowed only for a relay on loopback, not {}",
                    smtp.host
                )))
            }
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.clone())
            .port(smtp.port)
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT));
        if let Some(user) = &smtp.username {
            b = b.credentials(Credentials::new(
                user.clone(),
                smtp.password.clone().unwrap_or_default(),
            ));
        }
        let mut deliverer = Deliverer::new(label, clock);
        deliverer.retry = retry;
        Ok(Email {
            label: label.to_owned(),
            from,
            transport: b.build(),
            directory,
            deliverer,
        })
    }

    fn message(
        &self,
        to: Mailbox,
        event: &Event,
        d: &ShutdownPending,
    ) -> Result<Message, NotifyError> {
        let body = shutdown_email(d);
        let host = self.from.email.domain().to_owned();
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(body.subject)
            // The event id: a resend is the same message to the receiving side.
            .message_id(Some(format!("<{}@{host}>", event.id)))
            .date(std::time::SystemTime::from(event.time))
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(body.text),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(body.html),
                    ),
            )
            .map_err(|e| NotifyError::config(&self.label, format!("building the message: {e}")))
    }
}

/// An SMTP failure, classified: permanent (5xx) replies are not retried, the rest are.
fn smtp_error(channel: &str, e: lettre::transport::smtp::Error) -> NotifyError {
    if e.is_timeout() {
        return NotifyError::Timeout {
            channel: channel.to_owned(),
        };
    }
    // lettre's message already includes its causes.
    let message = e.to_string();
    NotifyError::Smtp {
        channel: channel.to_owned(),
        code: e.status().map(u16::from),
        permanent: e.is_permanent(),
        message,
    }
}

#[async_trait]
impl Notifier for Email {
    fn channel(&self) -> &str {
        &self.label
    }

    async fn send(&self, event: &Event) -> Result<Delivery, NotifyError> {
        let EventData::ShutdownPending(d) = &event.data else {
            return Err(NotifyError::config(
                &self.label,
                format!(
                    "email carries shutdown notices only, not {} (route only curfew.shutdown.pending to it)",
                    event.kind.as_str()
                ),
            ));
        };
        let no_address = |why: &str| NotifyError::NoAddress {
            channel: self.label.clone(),
            instance: d.instance.name.clone(),
            owner: d.owner_object_id.clone(),
            why: why.to_owned(),
        };
        let Some(owner) = d.owner_object_id.as_deref() else {
            return Err(no_address("the instance has no known owner"));
        };
        let Some(address) = self.directory.email_of(owner).await? else {
            return Err(no_address("the directory has no address for the owner"));
        };
        let to: Mailbox = address
            .parse()
            .map_err(|_| no_address("the directory's address is not a valid address"))?;
        let message = self.message(to, event, d)?;
        self.deliverer
            .run(event, || async {
                self.transport
                    .send(message.clone())
                    .await
                    .map(|r| u16::from(r.code()))
                    .map_err(|e| smtp_error(&self.label, e))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{DismissLinks, EventSource, InstanceRef, SnoozeLink};
    use chrono::{TimeZone, Utc};
    use curfew_plumbing::ManualClock;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn pending(name: &str) -> ShutdownPending {
        ShutdownPending {
            occurrence_id: "occ-1".into(),
            instance: InstanceRef {
                name: name.into(),
                id: "/subscriptions/s/resourceGroups/r/providers/Microsoft.MachineLearningServices/workspaces/w/computes/x".into(),
                workspace: "w".into(),
            },
            action: "stop".into(),
            at_utc: Utc.with_ymd_and_hms(2036, 3, 4, 18, 0, 0).unwrap(),
            at_local: "2036-03-04 10:00 PST".into(),
            lead_minutes: 30,
            minutes_left: Some(12),
            reason: "Stop <schedule> 0 18 * * *".into(),
            owner_object_id: Some("oid-1".into()),
            native_only: false,
            note: None,
            links: DismissLinks {
                skip: Some("https://f.example/api/Dismiss?token=a&b=\"c\"".into()),
                snooze: vec![SnoozeLink {
                    minutes: 30,
                    url: "https://f.example/api/Dismiss?token=s30".into(),
                }],
            },
        }
    }

    #[test]
    fn both_parts_say_when_why_and_how_to_dismiss_and_the_html_is_escaped() {
        let b = shutdown_email(&pending("<script>x</script>"));
        assert_eq!(
            b.subject,
            "<script>x</script> stops in 12 min (2036-03-04 10:00 PST)"
        );
        for part in [&b.text, &b.html] {
            assert!(part.contains("2036-03-04 10:00 PST"), "{part}");
            assert!(part.contains("2036-03-04 18:00 UTC"), "{part}");
            assert!(part.contains("12 minutes"), "{part}");
        }
        assert!(b
            .text
            .contains("Skip this shutdown: https://f.example/api/Dismiss?token=a&b=\"c\""));
        assert!(b
            .text
            .contains("Snooze 30 min: https://f.example/api/Dismiss?token=s30"));
        assert!(!b.html.contains("<script>"), "{}", b.html);
        assert!(b.html.contains("&lt;script&gt;"));
        assert!(b.html.contains("Stop &lt;schedule&gt;"));
        assert!(b
            .html
            .contains("<a href=\"https://f.example/api/Dismiss?token=a&amp;b=&quot;c&quot;\">Skip this shutdown</a>"));
    }

    #[test]
    fn security_none_only_on_loopback() {
        for (h, ok) in [
            ("127.0.0.1", true),
            ("localhost", true),
            ("::1", true),
            ("[::1]", true),
            ("smtp.office365.com", false),
            ("10.0.0.1", false),
        ] {
            assert_eq!(is_loopback_host(h), ok, "{h}");
        }
        let s = SmtpSettings {
            host: "smtp.sendgrid.net".into(),
            port: 25,
            security: SmtpSecurity::None,
            username: Some("apikey".into()),
            password: Some("SG.SECRET".into()),
            from: "curfew@contoso.example".into(),
            ca_pem: None,
        };
        let clock = Arc::new(ManualClock::default());
        let err = Email::new(
            "mail",
            &s,
            Arc::new(StaticDirectory::default()),
            clock,
            crate::DEFAULT_RETRY,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("only for a relay on loopback"), "{err}");
        assert!(!format!("{s:?}").contains("SECRET"));
    }

    struct Counting(AtomicU32);

    #[async_trait]
    impl Directory for Counting {
        async fn email_of(&self, object_id: &str) -> Result<Option<String>, NotifyError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok((object_id == "known").then(|| "k@contoso.example".to_owned()))
        }
    }

    #[tokio::test]
    async fn lookups_are_cached_and_the_static_map_wins() {
        let inner = Arc::new(Counting(AtomicU32::new(0)));
        let clock = Arc::new(ManualClock::default());
        let d = CachedDirectory::new(
            StaticDirectory([("OID-X".to_owned(), "x@contoso.example".to_owned())].into()),
            Some(inner.clone()),
            clock.clone(),
        );
        for _ in 0..3 {
            assert_eq!(
                d.email_of("oid-x").await.unwrap().as_deref(),
                Some("x@contoso.example")
            );
            assert_eq!(
                d.email_of("known").await.unwrap().as_deref(),
                Some("k@contoso.example")
            );
            assert_eq!(d.email_of("unknown").await.unwrap(), None);
        }
        assert_eq!(inner.0.load(Ordering::SeqCst), 2, "one lookup per owner");
        clock.advance(DIRECTORY_TTL);
        d.email_of("known").await.unwrap();
        assert_eq!(
            inner.0.load(Ordering::SeqCst),
            3,
            "asked again after the ttl"
        );
    }

    #[tokio::test]
    async fn a_missing_address_is_an_error_naming_the_instance_and_owner() {
        let clock = Arc::new(ManualClock::default());
        let s = SmtpSettings {
            host: "127.0.0.1".into(),
            port: 9,
            security: SmtpSecurity::None,
            username: None,
            password: None,
            from: "Curfew <curfew@contoso.example>".into(),
            ca_pem: None,
        };
        let email = Email::new(
            "mail",
            &s,
            Arc::new(StaticDirectory::default()),
            clock,
            crate::DEFAULT_RETRY,
        )
        .unwrap();
        let source = EventSource::deployment("t");
        let now = Utc.with_ymd_and_hms(2036, 3, 4, 17, 48, 0).unwrap();
        let e = Event::shutdown_pending(&source, now, pending("gpu-a"));
        let err = email.send(&e).await.unwrap_err();
        assert!(!err.is_retryable());
        assert_eq!(
            err.to_string(),
            "mail: no email address for the owner oid-1 of gpu-a: the directory has no address for the owner"
        );
    }
}
