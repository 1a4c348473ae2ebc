//! Service Bus over its REST API: `POST https://{ns}.servicebus.windows.net/{entity}/messages`
//! with the CloudEvent as body (structured mode) and `BrokerProperties.MessageId` = event id, so
//! the entity's duplicate detection drops resends. Auth by SAS (from a connection string) or an
//! Entra bearer token from a caller's [`TokenSource`].
//!
//! Why not `azure_messaging_servicebus`: sending is one POST with one signed header; the SDK
//! brings AMQP and roughly doubles the build for that.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use curfew_plumbing::{Clock, RetryPolicy};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use ring::hmac;

use crate::deadletter::DeadLetters;
use crate::error::NotifyError;
use crate::event::{Event, CLOUDEVENTS_CONTENT_TYPE};
use crate::http;
use crate::notifier::{Delivery, Notifier};
use crate::retry::Deliverer;

/// OAuth scope to request Service Bus tokens for.
pub const SERVICE_BUS_SCOPE: &str = "https://servicebus.azure.net/.default";

/// Lifetime of each SAS token minted (one per request, so short is fine).
pub const DEFAULT_SAS_TTL: Duration = Duration::from_secs(3600);

/// Everything but RFC 3986 unreserved characters is escaped in `sr` and `sig`.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub use curfew_plumbing::TokenSource;

/// A parsed Service Bus connection string
/// (`Endpoint=sb://…/;SharedAccessKeyName=…;SharedAccessKey=…[;EntityPath=…]`).
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceBusConnection {
    /// Namespace host, e.g. `contoso.servicebus.windows.net`.
    pub host: String,
    /// SAS rule name.
    pub key_name: String,
    key: String,
    /// Queue or topic, when the string names one.
    pub entity: Option<String>,
}

impl std::fmt::Debug for ServiceBusConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceBusConnection")
            .field("host", &self.host)
            .field("key_name", &self.key_name)
            .field("key", &"<redacted>")
            .field("entity", &self.entity)
            .finish()
    }
}

impl ServiceBusConnection {
    /// Parses a connection string; keys are case-insensitive, unknown keys are ignored.
    /// Errors name the missing part, never the key.
    pub fn parse(s: &str) -> Result<ServiceBusConnection, NotifyError> {
        let bad = |m: &str| NotifyError::config("servicebus", m);
        let (mut endpoint, mut key_name, mut key, mut entity) = (None, None, None, None);
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| bad("connection string part without '='"))?;
            match k.trim().to_ascii_lowercase().as_str() {
                "endpoint" => endpoint = Some(v.trim().to_owned()),
                "sharedaccesskeyname" => key_name = Some(v.trim().to_owned()),
                "sharedaccesskey" => key = Some(v.trim().to_owned()),
                "entitypath" => entity = Some(v.trim().trim_matches('/').to_owned()),
                _ => {}
            }
        }
        let endpoint = endpoint.ok_or_else(|| bad("connection string has no Endpoint"))?;
        let host = endpoint
            .split_once("://")
            .map_or(endpoint.as_str(), |(_, rest)| rest)
            .trim_end_matches('/')
            .to_ascii_lowercase();
        if host.is_empty() || host.contains('/') {
            return Err(bad("Endpoint must be sb://<namespace host>/"));
        }
        let key_name = key_name
            .filter(|k| !k.is_empty())
            .ok_or_else(|| bad("connection string has no SharedAccessKeyName"))?;
        let key = key
            .filter(|k| !k.is_empty())
            .ok_or_else(|| bad("connection string has no SharedAccessKey"))?;
        Ok(ServiceBusConnection {
            host,
            key_name,
            key,
            entity: entity.filter(|e| !e.is_empty()),
        })
    }
}

/// Builds `SharedAccessSignature sr=…&sig=…&se=…&skn=…` for `resource_uri`, valid until
/// `expiry` (Unix seconds). The signature is HMAC-SHA256, keyed by the key string's bytes,
/// over `<url-encoded resource_uri>\n<expiry>`, then base64 and URL-encoded.
pub fn sas_token(resource_uri: &str, key_name: &str, key: &str, expiry: i64) -> String {
    let sr = utf8_percent_encode(resource_uri, COMPONENT).to_string();
    let to_sign = format!("{sr}\n{expiry}");
    let k = hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(hmac::sign(&k, to_sign.as_bytes()));
    let sig = utf8_percent_encode(&sig, COMPONENT);
    let skn = utf8_percent_encode(key_name, COMPONENT);
    format!("SharedAccessSignature sr={sr}&sig={sig}&se={expiry}&skn={skn}")
}

#[derive(Clone)]
enum Auth {
    Sas {
        key_name: String,
        key: String,
        ttl: Duration,
    },
    Bearer(Arc<dyn TokenSource>),
}

/// Sends events to one Service Bus queue or topic over REST.
#[derive(Clone)]
pub struct ServiceBusRest {
    deliverer: Deliverer,
    client: reqwest::Client,
    /// Where requests go: `https://{host}` unless overridden.
    base_url: String,
    /// `https://{host}/{entity}`: the resource a SAS token is for.
    resource_uri: String,
    entity: String,
    auth: Auth,
}

impl std::fmt::Debug for ServiceBusRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = match &self.auth {
            Auth::Sas { key_name, .. } => format!("Sas(key_name={key_name}, key=<redacted>)"),
            Auth::Bearer(_) => "Bearer(<token source>)".to_owned(),
        };
        f.debug_struct("ServiceBusRest")
            .field("channel", &self.deliverer.channel)
            .field("resource", &self.resource_uri)
            .field("auth", &auth)
            .field("retry", &self.deliverer.retry)
            .finish()
    }
}

fn valid_entity(e: &str) -> bool {
    !e.is_empty()
        && e.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
}

impl ServiceBusRest {
    fn build(
        label: &str,
        host: &str,
        entity: &str,
        auth: Auth,
        clock: Arc<dyn Clock>,
    ) -> Result<ServiceBusRest, NotifyError> {
        let entity = entity.trim_matches('/');
        if !valid_entity(entity) {
            return Err(NotifyError::config(
                label,
                "entity must be letters, digits, '-', '_', '.', '/'",
            ));
        }
        let host = host.trim_end_matches('/').to_ascii_lowercase();
        Ok(ServiceBusRest {
            deliverer: Deliverer::new(label, clock),
            client: http::client(label)?,
            base_url: format!("https://{host}"),
            resource_uri: format!("https://{host}/{entity}"),
            entity: entity.to_owned(),
            auth,
        })
    }

    /// SAS auth from a connection string; `entity` overrides (or supplies) its `EntityPath`.
    pub fn from_connection_string(
        label: &str,
        connection: &str,
        entity: Option<&str>,
        clock: Arc<dyn Clock>,
    ) -> Result<ServiceBusRest, NotifyError> {
        let c = ServiceBusConnection::parse(connection).map_err(|e| relabel(e, label))?;
        let entity = entity
            .map(str::to_owned)
            .or(c.entity)
            .ok_or_else(|| NotifyError::config(label, "no EntityPath and no entity given"))?;
        let auth = Auth::Sas {
            key_name: c.key_name,
            key: c.key,
            ttl: DEFAULT_SAS_TTL,
        };
        ServiceBusRest::build(label, &c.host, &entity, auth, clock)
    }

    /// Entra auth: `host` like `contoso.servicebus.windows.net`, tokens from `tokens`.
    pub fn with_token_source(
        label: &str,
        host: &str,
        entity: &str,
        tokens: Arc<dyn TokenSource>,
        clock: Arc<dyn Clock>,
    ) -> Result<ServiceBusRest, NotifyError> {
        ServiceBusRest::build(label, host, entity, Auth::Bearer(tokens), clock)
    }

    /// Sends to `base` (e.g. `http://127.0.0.1:PORT`) instead of `https://{host}`; SAS tokens
    /// still name the real namespace resource. For tests and proxies.
    pub fn with_endpoint(mut self, base: &str) -> ServiceBusRest {
        self.base_url = base.trim_end_matches('/').to_owned();
        self
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> ServiceBusRest {
        self.deliverer.retry = retry;
        self
    }

    /// Records events it gives up on in `sink`.
    pub fn with_dead_letters(mut self, sink: Arc<dyn DeadLetters>) -> ServiceBusRest {
        self.deliverer.dead_letters = Some(sink);
        self
    }

    /// Fixes the jitter seed (deterministic tests).
    pub fn with_jitter_seed(mut self, seed: u64) -> ServiceBusRest {
        self.deliverer.seed = seed;
        self
    }

    /// Changes the lifetime of SAS tokens (no effect with a token source).
    pub fn with_sas_ttl(mut self, ttl: Duration) -> ServiceBusRest {
        if let Auth::Sas { ttl: t, .. } = &mut self.auth {
            *t = ttl;
        }
        self
    }

    /// The URL messages are posted to.
    pub fn messages_url(&self) -> String {
        format!("{}/{}/messages", self.base_url, self.entity)
    }

    async fn authorization(&self) -> Result<String, NotifyError> {
        match &self.auth {
            Auth::Sas { key_name, key, ttl } => {
                let expiry = self.deliverer.clock.now().timestamp() + ttl.as_secs() as i64;
                Ok(sas_token(&self.resource_uri, key_name, key, expiry))
            }
            Auth::Bearer(src) => {
                let t = src
                    .token(SERVICE_BUS_SCOPE)
                    .await
                    .map_err(|e| NotifyError::Token {
                        channel: self.deliverer.channel.clone(),
                        message: e.to_string(),
                    })?;
                Ok(format!("Bearer {t}"))
            }
        }
    }

    async fn attempt(&self, url: &str, broker: &str, body: &[u8]) -> Result<u16, NotifyError> {
        let ch = &self.deliverer.channel;
        let auth = self.authorization().await?;
        let resp = self
            .client
            .post(url)
            .header("Authorization", auth)
            .header("Content-Type", CLOUDEVENTS_CONTENT_TYPE)
            .header("BrokerProperties", broker)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| http::transport(ch, e))?;
        http::classify(ch, resp, self.deliverer.clock.now()).await
    }
}

fn relabel(e: NotifyError, label: &str) -> NotifyError {
    match e {
        NotifyError::Config { message, .. } => NotifyError::config(label, message),
        other => other,
    }
}

/// The `BrokerProperties` header: `MessageId` for duplicate detection, `Label` = type so
/// topic subscriptions can filter with a correlation rule.
pub(crate) fn broker_properties(event: &Event) -> String {
    serde_json::json!({ "MessageId": event.id, "Label": event.kind.as_str() }).to_string()
}

#[async_trait]
impl Notifier for ServiceBusRest {
    fn channel(&self) -> &str {
        &self.deliverer.channel
    }

    async fn send(&self, event: &Event) -> Result<Delivery, NotifyError> {
        let (url, broker, body) = (
            self.messages_url(),
            broker_properties(event),
            event.to_bytes(),
        );
        self.deliverer
            .run(event, || self.attempt(&url, &broker, &body))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curfew_plumbing::TokioClock;

    const CONN: &str = "Endpoint=sb://Contoso.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=c2VjcmV0LWtleS12YWx1ZQ==;EntityPath=curfew-events";

    #[test]
    fn parses_connection_strings() {
        let c = ServiceBusConnection::parse(CONN).unwrap();
        assert_eq!(c.host, "contoso.servicebus.windows.net");
        assert_eq!(c.key_name, "send");
        assert_eq!(c.entity.as_deref(), Some("curfew-events"));
        assert!(ServiceBusConnection::parse("Endpoint=sb://x/;SharedAccessKeyName=a").is_err());
        let err = ServiceBusConnection::parse("SharedAccessKey=topsecret").unwrap_err();
        assert!(!err.to_string().contains("topsecret"));
    }

    #[test]
    fn sas_token_matches_an_independent_hmac() {
        let uri = "https://contoso.servicebus.windows.net/curfew-events";
        let key = "c2VjcmV0LWtleS12YWx1ZQ==";
        let token = sas_token(uri, "send", key, 1_772_418_600);
        let enc = "https%3A%2F%2Fcontoso.servicebus.windows.net%2Fcurfew-events";
        // Independently: HMAC-SHA256 over "<encoded uri>\n<expiry>", keyed by the key's bytes.
        let k = hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes());
        let mac = hmac::sign(&k, format!("{enc}\n1772418600").as_bytes());
        let b64 = base64::engine::general_purpose::STANDARD.encode(mac.as_ref());
        let sig: String = b64
            .chars()
            .map(|c| match c {
                '+' => "%2B".to_owned(),
                '/' => "%2F".to_owned(),
                '=' => "%3D".to_owned(),
                c => c.to_string(),
            })
            .collect();
        assert_eq!(
            token,
            format!("SharedAccessSignature sr={enc}&sig={sig}&se=1772418600&skn=send")
        );
    }

    #[test]
    fn debug_hides_the_key() {
        let c = ServiceBusConnection::parse(CONN).unwrap();
        assert!(!format!("{c:?}").contains("c2VjcmV0"));
        let clock = Arc::new(TokioClock::default());
        let sb = ServiceBusRest::from_connection_string("sb", CONN, None, clock).unwrap();
        let dbg = format!("{sb:?}");
        assert!(!dbg.contains("c2VjcmV0"), "{dbg}");
        assert!(dbg.contains("redacted"));
        assert_eq!(
            sb.messages_url(),
            "https://contoso.servicebus.windows.net/curfew-events/messages"
        );
    }

    #[test]
    fn rejects_odd_entities() {
        let clock = Arc::new(TokioClock::default());
        assert!(ServiceBusRest::from_connection_string("sb", CONN, Some("a b?"), clock).is_err());
    }
}
