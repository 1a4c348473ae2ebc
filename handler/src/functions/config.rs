//! Configuration of the Functions app as a pure function of strings (conventions §3).
//!
//! Every variable is named once in [`SETTINGS`]; `tests/functions_consistency.rs` reads that
//! table to check that `infra/` declares each app setting. All variables are parsed, every bad
//! one is reported by name, and the result is one [`ConfigError`].

use std::collections::HashMap;

use tracing_subscriber::filter::LevelFilter;

/// Where configuration strings come from: the process environment, or a map in tests.
pub(crate) trait Strings {
    /// The value of `name`; an empty value counts as unset.
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment (the Functions host passes app settings as environment variables).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EnvStrings;

impl Strings for EnvStrings {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

/// A fixed map, for tests (never `std::env::set_var`).
#[derive(Debug, Clone, Default)]
#[cfg_attr(not(test), allow(dead_code))] // the e2e harness uses the environment instead
pub(crate) struct MapStrings(pub(crate) HashMap<String, String>);

#[cfg_attr(not(test), allow(dead_code))]
impl MapStrings {
    /// Builds a map from `(name, value)` pairs.
    pub(crate) fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }
}

impl Strings for MapStrings {
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|v| !v.is_empty()).cloned()
    }
}

/// Who sets a variable: the platform, or the app's own settings (declared in `infra/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Set by the Functions host or App Service; never declared by us.
    Host,
    /// An app setting that `infra/main.bicep` declares.
    App,
    /// An app setting the handler reads when present (local runs, tests, special
    /// deployments); `infra/` need not declare it.
    Optional,
}

/// One configuration variable: its name, who sets it, whether its value is secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Setting {
    /// The environment variable.
    pub(crate) name: &'static str,
    /// Who sets it.
    pub(crate) origin: Origin,
    /// Secret values are reported as set/unset only.
    pub(crate) secret: bool,
    /// What it is for, shown by `Status`.
    pub(crate) doc: &'static str,
}

/// Port the handler listens on, set by the Functions host.
pub(crate) const PORT: &str = "FUNCTIONS_CUSTOMHANDLER_PORT";
/// FleetWorkspaces size (instances) above which `Tick` fans out one `Evaluate` message per workspace.
pub(crate) const FANOUT_THRESHOLD: &str = "CURFEW_FANOUT_THRESHOLD";
/// Log level for stdout: error, warn, info, debug, trace.
pub(crate) const LOG: &str = "CURFEW_LOG";
/// OTLP endpoint; OpenTelemetry export is on only when this is set.
pub(crate) const OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// `service.name` reported to OpenTelemetry.
pub(crate) const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";

/// Default port when the host did not set one (local runs).
pub(crate) const DEFAULT_PORT: u16 = 8080;
/// Default fan-out threshold: fleets up to this many instances are evaluated inside `Tick`.
pub(crate) const DEFAULT_FANOUT_THRESHOLD: usize = 200;
/// Default stdout log level.
pub(crate) const DEFAULT_LOG: LevelFilter = LevelFilter::INFO;
/// Default OpenTelemetry service name.
pub(crate) const DEFAULT_SERVICE_NAME: &str = "curfew";

/// Every variable the Functions app reads or passes on to the governor.
pub(crate) const SETTINGS: &[Setting] = &[
    Setting {
        name: PORT,
        origin: Origin::Host,
        secret: false,
        doc: "port of the custom handler (host)",
    },
    Setting {
        name: "WEBSITE_SITE_NAME",
        origin: Origin::Host,
        secret: false,
        doc: "function app name (host)",
    },
    Setting {
        name: "WEBSITE_INSTANCE_ID",
        origin: Origin::Host,
        secret: false,
        doc: "worker instance id (host)",
    },
    Setting {
        name: FANOUT_THRESHOLD,
        origin: Origin::App,
        secret: false,
        doc: "instances above which Tick fans out per workspace",
    },
    Setting {
        name: LOG,
        origin: Origin::App,
        secret: false,
        doc: "stdout log level",
    },
    Setting {
        name: OTLP_ENDPOINT,
        origin: Origin::App,
        secret: false,
        doc: "OTLP collector; export is off when unset",
    },
    Setting {
        name: OTEL_SERVICE_NAME,
        origin: Origin::App,
        secret: false,
        doc: "OpenTelemetry service.name",
    },
    Setting {
        name: "CURFEW_SCOPES",
        origin: Origin::App,
        secret: false,
        doc: "target scopes (ARM ids of subscriptions, resource groups, workspaces)",
    },
    Setting {
        name: "CURFEW_TABLE_ENDPOINT",
        origin: Origin::App,
        secret: false,
        doc: "Table Storage endpoint of the state store",
    },
    Setting {
        name: "CURFEW_LINK_KEY",
        origin: Origin::App,
        secret: true,
        doc: "HMAC key for dismiss links (Key Vault reference)",
    },
    Setting {
        name: "CURFEW_PUBLIC_BASE_URL",
        origin: Origin::App,
        secret: false,
        doc: "base URL of the Dismiss function for links",
    },
    Setting {
        name: "AZURE_CLIENT_ID",
        origin: Origin::App,
        secret: false,
        doc: "client id of the user-assigned managed identity",
    },
    Setting {
        name: "CURFEW_ARM_CREDENTIAL",
        origin: Origin::App,
        secret: false,
        doc: "ARM credential: managed-identity, auto, token-env:VAR",
    },
    Setting {
        name: "CURFEW_DEPLOYMENT",
        origin: Origin::App,
        secret: false,
        doc: "deployment name (event source, watermark keys)",
    },
    Setting {
        name: "CURFEW_ADMINS",
        origin: Origin::App,
        secret: false,
        doc: "object ids that may dismiss any shutdown (comma separated)",
    },
    Setting {
        name: "CURFEW_EVENTS",
        origin: Origin::App,
        secret: false,
        doc: "binding (events output binding) or notifiers",
    },
    Setting {
        name: "CURFEW_CONFIG",
        origin: Origin::Optional,
        secret: false,
        doc: "governor settings file, or inline YAML",
    },
    Setting {
        name: "CURFEW_ARM_ENDPOINT",
        origin: Origin::Optional,
        secret: false,
        doc: "ARM endpoint (sovereign cloud; simulator)",
    },
    Setting {
        name: "CURFEW_TABLE_CONNECTION",
        origin: Origin::Optional,
        secret: true,
        doc: "Table Storage connection string (instead of the endpoint)",
    },
    Setting {
        name: "CURFEW_TABLE",
        origin: Origin::Optional,
        secret: false,
        doc: "state table name (default curfew)",
    },
    Setting {
        name: "CURFEW_SQLITE",
        origin: Origin::Optional,
        secret: false,
        doc: "SQLite state file when no table is configured",
    },
    Setting {
        name: "CURFEW_LINK_KEY_ID",
        origin: Origin::Optional,
        secret: false,
        doc: "id of CURFEW_LINK_KEY in tokens (default k1)",
    },
    Setting {
        name: "CURFEW_LINK_KEY_PREVIOUS",
        origin: Origin::Optional,
        secret: true,
        doc: "previous link key during a rotation (verifies only)",
    },
    Setting {
        name: "CURFEW_ACTIVITY_KEY",
        origin: Origin::Optional,
        secret: true,
        doc: "master key of activity-report signatures",
    },
    Setting {
        name: "CURFEW_COST_TIMELINE",
        origin: Origin::Optional,
        secret: false,
        doc: "cost timeline file (costTimeline); Status?view=report renders it",
    },
    Setting {
        name: "CURFEW_NOTIFY",
        origin: Origin::Optional,
        secret: false,
        doc: "extra notification channels (webhooks), space separated",
    },
];

/// One variable that did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadSetting {
    /// The variable.
    pub(crate) name: &'static str,
    /// Its value as given.
    pub(crate) value: String,
    /// What was expected.
    pub(crate) expected: &'static str,
}

/// Configuration that cannot be used; not retryable (the app settings must change).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ConfigError {
    /// One or more variables have values that do not parse; each is named.
    #[error("invalid settings: {}", list(.0))]
    Invalid(Vec<BadSetting>),
}

fn list(bad: &[BadSetting]) -> String {
    bad.iter()
        .map(|b| format!("{}={:?} (expected {})", b.name, b.value, b.expected))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The parsed configuration of the Functions app.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FunctionsConfig {
    /// Port to bind on 127.0.0.1.
    pub(crate) port: u16,
    /// Instances above which `Tick` fans out.
    pub(crate) fanout_threshold: usize,
    /// Stdout log level.
    pub(crate) log: LevelFilter,
    /// OTLP endpoint, when export is on.
    pub(crate) otlp_endpoint: Option<String>,
    /// OpenTelemetry service name.
    pub(crate) service_name: String,
    /// Which settings are set, and the values of the non-secret ones (for `Status`).
    pub(crate) seen: Vec<(Setting, Option<String>)>,
}

impl FunctionsConfig {
    /// Parses every variable; all bad ones are reported together.
    pub(crate) fn from_strings(strings: &dyn Strings) -> Result<Self, ConfigError> {
        let mut bad = Vec::new();
        let port = parse(
            strings,
            PORT,
            DEFAULT_PORT,
            "a port number 1-65535",
            &mut bad,
            |s| s.parse::<u16>().ok().filter(|p| *p != 0),
        );
        let fanout_threshold = parse(
            strings,
            FANOUT_THRESHOLD,
            DEFAULT_FANOUT_THRESHOLD,
            "a whole number of instances",
            &mut bad,
            |s| s.parse::<usize>().ok(),
        );
        let log = parse(
            strings,
            LOG,
            DEFAULT_LOG,
            "one of off, error, warn, info, debug, trace",
            &mut bad,
            |s| s.parse::<LevelFilter>().ok(),
        );
        let otlp_endpoint = strings.get(OTLP_ENDPOINT);
        if let Some(url) = &otlp_endpoint {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bad.push(BadSetting {
                    name: OTLP_ENDPOINT,
                    value: url.clone(),
                    expected: "an http:// or https:// URL",
                });
            }
        }
        let service_name = strings
            .get(OTEL_SERVICE_NAME)
            .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
        let seen = SETTINGS.iter().map(|s| (*s, strings.get(s.name))).collect();
        if bad.is_empty() {
            Ok(Self {
                port,
                fanout_threshold,
                log,
                otlp_endpoint,
                service_name,
                seen,
            })
        } else {
            Err(ConfigError::Invalid(bad))
        }
    }

    /// The settings as `Status` shows them: secrets as set/unset only.
    pub(crate) fn settings_report(&self) -> serde_json::Value {
        let items: Vec<_> = self
            .seen
            .iter()
            .map(|(s, v)| {
                let value = match (s.secret, v) {
                    (_, None) => serde_json::Value::Null,
                    (true, Some(_)) => serde_json::Value::from("(secret, set)"),
                    (false, Some(v)) => serde_json::Value::from(v.as_str()),
                };
                serde_json::json!({ "name": s.name, "set": v.is_some(), "value": value, "doc": s.doc })
            })
            .collect();
        serde_json::Value::Array(items)
    }
}

fn parse<T>(
    strings: &dyn Strings,
    name: &'static str,
    default: T,
    expected: &'static str,
    bad: &mut Vec<BadSetting>,
    f: impl Fn(&str) -> Option<T>,
) -> T {
    match strings.get(name) {
        None => default,
        Some(value) => match f(value.trim()) {
            Some(v) => v,
            None => {
                bad.push(BadSetting {
                    name,
                    value,
                    expected,
                });
                default
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let c = FunctionsConfig::from_strings(&MapStrings::default()).unwrap();
        assert_eq!(c.port, DEFAULT_PORT);
        assert_eq!(c.fanout_threshold, DEFAULT_FANOUT_THRESHOLD);
        assert_eq!(c.log, DEFAULT_LOG);
        assert_eq!(c.otlp_endpoint, None);
        assert_eq!(c.service_name, DEFAULT_SERVICE_NAME);
    }

    #[test]
    fn values_are_read_and_empty_counts_as_unset() {
        let s = MapStrings::from_pairs(&[
            (PORT, "34963"),
            (FANOUT_THRESHOLD, "5"),
            (LOG, "debug"),
            (OTLP_ENDPOINT, ""),
        ]);
        let c = FunctionsConfig::from_strings(&s).unwrap();
        assert_eq!(
            (c.port, c.fanout_threshold, c.log),
            (34963, 5, LevelFilter::DEBUG)
        );
        assert_eq!(c.otlp_endpoint, None);
    }

    #[test]
    fn every_bad_setting_is_named_in_one_error() {
        let s = MapStrings::from_pairs(&[
            (PORT, "0"),
            (FANOUT_THRESHOLD, "many"),
            (LOG, "loud"),
            (OTLP_ENDPOINT, "collector:4318"),
        ]);
        let ConfigError::Invalid(bad) = FunctionsConfig::from_strings(&s).unwrap_err();
        let names: Vec<_> = bad.iter().map(|b| b.name).collect();
        assert_eq!(names, [PORT, FANOUT_THRESHOLD, LOG, OTLP_ENDPOINT]);
        let msg = ConfigError::Invalid(bad).to_string();
        assert!(msg.contains("CURFEW_FANOUT_THRESHOLD=\"many\""), "{msg}");
    }

    #[test]
    fn secrets_are_reported_as_set_only() {
        let s = MapStrings::from_pairs(&[
            ("CURFEW_LINK_KEY", "hunter2"),
            ("CURFEW_SCOPES", "/subscriptions/x"),
        ]);
        let c = FunctionsConfig::from_strings(&s).unwrap();
        let report = c.settings_report().to_string();
        assert!(!report.contains("hunter2"), "{report}");
        assert!(report.contains("/subscriptions/x"), "{report}");
    }
}
