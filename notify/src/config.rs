//! Channels from configuration strings, `[label@]kind:value`, e.g.
//! `ops@teams:https://…`, `servicebus:Endpoint=sb://…;…`, `jsonl:/var/log/curfew.jsonl`, `email`.
//! Parsing is pure; [`ChannelSpec::build`] turns a spec into an `Arc<dyn Notifier>`.

use std::path::PathBuf;
use std::sync::Arc;

use curfew_plumbing::{Clock, RetryPolicy, TokioClock};

use crate::deadletter::DeadLetters;
use crate::email::{Directory, Email, SmtpSettings, EMAIL_RETRY};
use crate::error::NotifyError;
use crate::local::{Console, JsonLinesFile};
use crate::notifier::Notifier;
use crate::retry::DEFAULT_RETRY;
use crate::servicebus::{ServiceBusRest, TokenSource};
use crate::webhook::{Flavor, Webhook};

/// One configured channel. `Debug` hides URLs and connection strings (they hold secrets).
#[derive(Clone, PartialEq, Eq)]
pub enum ChannelSpec {
    /// `console`: one line per event on stderr (stdout stays for the command's own output,
    /// e.g. `curfew tick --format json`).
    Console {
        /// Channel label.
        label: String,
    },
    /// `jsonl:<path>`: one CloudEvent per line appended to a file.
    JsonLines {
        /// Channel label.
        label: String,
        /// File to append to.
        path: PathBuf,
    },
    /// `servicebus:<connection string>`: SAS auth; `EntityPath` names the topic or queue.
    ServiceBusSas {
        /// Channel label.
        label: String,
        /// The connection string (secret).
        connection: String,
    },
    /// `servicebus-aad:<namespace host>/<entity>`: Entra auth via the caller's token source.
    ServiceBusAad {
        /// Channel label.
        label: String,
        /// e.g. `contoso.servicebus.windows.net`.
        host: String,
        /// Topic or queue.
        entity: String,
    },
    /// `email`: each shutdown notice to its instance's owner, over the configured SMTP relay
    /// (needs [`ChannelDeps::email`]).
    Email {
        /// Channel label.
        label: String,
    },
    /// `webhook:<url>`, `teams:<url>`, `slack:<url>`.
    Webhook {
        /// Channel label.
        label: String,
        /// Body flavour.
        flavor: Flavor,
        /// The URL (secret).
        url: String,
    },
}

impl std::fmt::Debug for ChannelSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChannelSpec::Console { label } => write!(f, "Console({label})"),
            ChannelSpec::JsonLines { label, path } => {
                write!(f, "JsonLines({label}, {})", path.display())
            }
            ChannelSpec::ServiceBusSas { label, .. } => {
                write!(f, "ServiceBusSas({label}, <connection string redacted>)")
            }
            ChannelSpec::ServiceBusAad {
                label,
                host,
                entity,
            } => write!(f, "ServiceBusAad({label}, {host}/{entity})"),
            ChannelSpec::Webhook { label, flavor, .. } => {
                write!(f, "Webhook({label}, {flavor:?}, <url redacted>)")
            }
            ChannelSpec::Email { label } => write!(f, "Email({label})"),
        }
    }
}

/// What built channels share: time, retries, a dead-letter sink, and Entra tokens.
#[derive(Clone)]
pub struct ChannelDeps {
    /// Clock for SAS expiry and backoff.
    pub clock: Arc<dyn Clock>,
    /// Retry policy of HTTP channels.
    pub retry: RetryPolicy,
    /// Where HTTP channels park events they give up on.
    pub dead_letters: Option<Arc<dyn DeadLetters>>,
    /// Required by `servicebus-aad` channels.
    pub token_source: Option<Arc<dyn TokenSource>>,
    /// Required by `email` channels: the relay and where addresses come from.
    pub email: Option<(SmtpSettings, Arc<dyn Directory>)>,
}

impl Default for ChannelDeps {
    fn default() -> Self {
        ChannelDeps {
            clock: Arc::new(TokioClock::default()),
            retry: DEFAULT_RETRY,
            dead_letters: None,
            token_source: None,
            email: None,
        }
    }
}

impl ChannelSpec {
    /// Parses one `[label@]kind:value`; the label defaults to the kind.
    pub fn parse(s: &str) -> Result<ChannelSpec, NotifyError> {
        let s = s.trim();
        let (head, value) = match s.split_once(':') {
            Some((h, v)) => (h, v.trim()),
            None => (s, ""),
        };
        let (label, kind) = match head.split_once('@') {
            Some((l, k)) => (l.trim().to_owned(), k.trim().to_ascii_lowercase()),
            None => (
                head.trim().to_ascii_lowercase(),
                head.trim().to_ascii_lowercase(),
            ),
        };
        let need = |what: &str| -> Result<String, NotifyError> {
            if value.is_empty() {
                Err(NotifyError::config(&label, format!("{kind}: needs {what}")))
            } else {
                Ok(value.to_owned())
            }
        };
        Ok(match kind.as_str() {
            "console" => ChannelSpec::Console { label },
            "email" => ChannelSpec::Email { label },
            "jsonl" | "file" => ChannelSpec::JsonLines {
                path: need("a file path")?.into(),
                label,
            },
            "servicebus" => ChannelSpec::ServiceBusSas {
                connection: need("a connection string")?,
                label,
            },
            "servicebus-aad" => {
                let v = need("<namespace host>/<entity>")?;
                let (host, entity) = v.split_once('/').ok_or_else(|| {
                    NotifyError::config(&label, "servicebus-aad: use <namespace host>/<entity>")
                })?;
                ChannelSpec::ServiceBusAad {
                    host: host.to_owned(),
                    entity: entity.to_owned(),
                    label,
                }
            }
            k => match Flavor::parse(k) {
                Some(flavor) => ChannelSpec::Webhook {
                    url: need("a URL")?,
                    flavor,
                    label,
                },
                None => {
                    return Err(NotifyError::config(
                        &label,
                        format!(
                            "unknown channel kind {kind:?} (console, jsonl, servicebus, \
                             servicebus-aad, webhook, teams, slack, email)"
                        ),
                    ))
                }
            },
        })
    }

    /// Parses a whitespace- or newline-separated list (connection strings and URLs hold no
    /// spaces); every bad entry is reported, then one error.
    pub fn parse_list(s: &str) -> Result<Vec<ChannelSpec>, NotifyError> {
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        for item in s.split_whitespace() {
            match ChannelSpec::parse(item) {
                Ok(c) => ok.push(c),
                Err(e) => bad.push(e.to_string()),
            }
        }
        if bad.is_empty() {
            Ok(ok)
        } else {
            Err(NotifyError::config("channels", bad.join("; ")))
        }
    }

    /// The channel's label.
    pub fn label(&self) -> &str {
        match self {
            ChannelSpec::Console { label }
            | ChannelSpec::JsonLines { label, .. }
            | ChannelSpec::ServiceBusSas { label, .. }
            | ChannelSpec::ServiceBusAad { label, .. }
            | ChannelSpec::Webhook { label, .. }
            | ChannelSpec::Email { label } => label,
        }
    }

    /// The channel's kind as configured (`teams`, `servicebus`, …): what `explain` shows
    /// instead of a URL or connection string.
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelSpec::Console { .. } => "console",
            ChannelSpec::JsonLines { .. } => "jsonl",
            ChannelSpec::ServiceBusSas { .. } => "servicebus",
            ChannelSpec::ServiceBusAad { .. } => "servicebus-aad",
            ChannelSpec::Email { .. } => "email",
            ChannelSpec::Webhook { flavor, .. } => match flavor {
                Flavor::Generic => "webhook",
                Flavor::Teams => "teams",
                Flavor::Slack => "slack",
            },
        }
    }

    /// Builds the notifier.
    pub fn build(&self, deps: &ChannelDeps) -> Result<Arc<dyn Notifier>, NotifyError> {
        let clock = Arc::clone(&deps.clock);
        Ok(match self {
            ChannelSpec::Console { label } => {
                Arc::new(Console::new(label, Box::new(std::io::stderr())))
            }
            ChannelSpec::JsonLines { label, path } => Arc::new(JsonLinesFile::new(label, path)),
            ChannelSpec::ServiceBusSas { label, connection } => {
                let mut sb =
                    ServiceBusRest::from_connection_string(label, connection, None, clock)?
                        .with_retry(deps.retry);
                if let Some(d) = &deps.dead_letters {
                    sb = sb.with_dead_letters(Arc::clone(d));
                }
                Arc::new(sb)
            }
            ChannelSpec::ServiceBusAad {
                label,
                host,
                entity,
            } => {
                let tokens = deps.token_source.clone().ok_or_else(|| {
                    NotifyError::config(label, "servicebus-aad needs a token source")
                })?;
                let mut sb = ServiceBusRest::with_token_source(label, host, entity, tokens, clock)?
                    .with_retry(deps.retry);
                if let Some(d) = &deps.dead_letters {
                    sb = sb.with_dead_letters(Arc::clone(d));
                }
                Arc::new(sb)
            }
            ChannelSpec::Email { label } => {
                let (smtp, directory) = deps.email.as_ref().ok_or_else(|| {
                    NotifyError::config(
                        label,
                        "email needs the SMTP settings (email.smtpHost, email.from)",
                    )
                })?;
                Arc::new(Email::new(
                    label,
                    smtp,
                    Arc::clone(directory),
                    clock,
                    EMAIL_RETRY,
                )?)
            }
            ChannelSpec::Webhook { label, flavor, url } => {
                let mut w = Webhook::new(label, *flavor, url, clock)?.with_retry(deps.retry);
                if let Some(d) = &deps.dead_letters {
                    w = w.with_dead_letters(Arc::clone(d));
                }
                Arc::new(w)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind() {
        let list = ChannelSpec::parse_list(
            "console\n jsonl:/tmp/e.jsonl ops@teams:https://x.example/wf/SECRET \
             slack:https://hooks.slack.com/services/A/B/SECRET \
             servicebus:Endpoint=sb://c.servicebus.windows.net/;SharedAccessKeyName=s;SharedAccessKey=SECRET;EntityPath=t \
             bus@servicebus-aad:c.servicebus.windows.net/curfew-events",
        )
        .unwrap();
        let labels: Vec<_> = list.iter().map(ChannelSpec::label).collect();
        assert_eq!(
            labels,
            ["console", "jsonl", "ops", "slack", "servicebus", "bus"]
        );
        assert!(matches!(
            &list[2],
            ChannelSpec::Webhook {
                flavor: Flavor::Teams,
                ..
            }
        ));
        let dbg = format!("{list:?}");
        assert!(!dbg.contains("SECRET"), "{dbg}");
    }

    #[test]
    fn reports_every_bad_entry_without_secrets() {
        let err = ChannelSpec::parse_list("fax:1234 teams: jsonl:/ok servicebus-aad:nohost")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown channel kind \"fax\""), "{err}");
        assert!(err.contains("teams: needs a URL"), "{err}");
        assert!(err.contains("servicebus-aad: use"), "{err}");
    }

    #[test]
    fn builds_channels() {
        let deps = ChannelDeps::default();
        let specs = ChannelSpec::parse_list(
            "console slack:https://hooks.slack.com/services/A/B/C \
             servicebus:Endpoint=sb://c.servicebus.windows.net/;SharedAccessKeyName=s;SharedAccessKey=k;EntityPath=t",
        )
        .unwrap();
        for s in &specs {
            assert_eq!(s.build(&deps).unwrap().channel(), s.label());
        }
        let aad = ChannelSpec::parse("servicebus-aad:c.servicebus.windows.net/t").unwrap();
        assert!(aad.build(&deps).is_err(), "no token source");
    }
}
