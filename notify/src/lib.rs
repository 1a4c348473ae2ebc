//! Curfew's notifiers (docs/design.md §7, §10): CloudEvents 1.0 events sent through a [`Notifier`] to
//! Service Bus (REST), webhooks (generic JSON, Teams Adaptive Card, Slack Block Kit), the
//! console and JSON-lines files, with retries and dead letters.
//!
//! Sending is at-least-once with stable event ids; deciding once per (occurrence, lead) is the
//! caller's job (the store's `mark_notified`). See `docs/notify.md`.
//!
//! # Layout
//! - `event`: the CloudEvent ([`Event`]), its types, payloads and stable ids.
//! - `notifier`: the [`Notifier`] trait, [`Delivery`] and [`Fanout`].
//! - `servicebus`: [`ServiceBusRest`], SAS tokens, [`TokenSource`].
//! - `webhook`: [`Webhook`] and its [`Flavor`]s; `render`: Teams card and Slack blocks.
//! - `local`: [`Console`], [`JsonLinesFile`] and [`Collector`].
//! - `email`: [`Email`] to owners over SMTP, [`Directory`] (static map, cache; Graph).
//! - `graph`: [`GraphDirectory`], owners' addresses from Microsoft Graph.
//! - `deadletter`: [`DeadLetter`] and its sinks.
//! - `retry`: [`DEFAULT_RETRY`] and the shared retry loop; `http`: status classification.
//! - `config`: [`ChannelSpec`] — channels from `[label@]kind:value` strings.
//! - `error`: [`NotifyError`], each variant retryable or not.
//!
//! Time (`Clock`, `ManualClock` for tests), the `RetryPolicy` arithmetic (backoff, jitter) and
//! `Retry-After` parsing come from `curfew_plumbing`.

mod config;
mod deadletter;
mod email;
mod error;
mod event;
mod graph;
mod http;
mod local;
mod notifier;
mod render;
mod retry;
mod servicebus;
mod webhook;

pub use config::{ChannelDeps, ChannelSpec};
pub use deadletter::{DeadLetter, DeadLetters, JsonLinesDeadLetters, MemoryDeadLetters};
pub use email::{
    check_mailbox, is_loopback_host, shutdown_email, CachedDirectory, Directory, Email, EmailBody,
    SmtpSecurity, SmtpSettings, StaticDirectory, DIRECTORY_TTL, EMAIL_RETRY, SMTP_TIMEOUT,
};
pub use error::NotifyError;
pub use event::{
    ActionFailed, BudgetExceeded, DismissLinks, DriftDetected, Event, EventData, EventSource,
    EventType, IdleUnknown, InstanceChanged, InstanceRef, OwnerUnreachable, PolicyApplied,
    ShutdownDismissed, ShutdownPending, SnoozeLink, CLOUDEVENTS_CONTENT_TYPE, DATA_CONTENT_TYPE,
    NATIVE_ONLY_NOTE, SPEC_VERSION,
};
pub use graph::{GraphDirectory, GRAPH_SCOPE};
pub use http::REQUEST_TIMEOUT;
pub use local::{Collector, Console, JsonLinesFile};
pub use notifier::{send_to_all, ChannelOutcome, Delivery, Fanout, FanoutReport, Notifier};
pub use render::{slack_message, teams_message};
pub use retry::DEFAULT_RETRY;
pub use servicebus::{
    sas_token, ServiceBusConnection, ServiceBusRest, TokenSource, DEFAULT_SAS_TTL,
    SERVICE_BUS_SCOPE,
};
pub use webhook::{Flavor, Webhook};
