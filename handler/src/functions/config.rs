//! The Functions adapter's own settings (port, log level, fan-out threshold, telemetry), read
//! the one way every setting is read: from [`Strings`], named by the table in
//! `curfew_governor::config` (where they are declared with every other setting), every bad one
//! reported in one [`ConfigError`].

use chrono::TimeDelta;
use curfew_governor::config::{
    ConfigError, Problems, Setting, SettingsFile, Strings, CONFIG, FANOUT_THRESHOLD,
    HOST_CLOCK_TOLERANCE, LOG, OTEL_SERVICE_NAME, OTLP_ENDPOINT, PORT, SETTINGS,
};
use tracing_subscriber::filter::LevelFilter;

/// Default port when the host did not set one (local runs).
pub(crate) const DEFAULT_PORT: u16 = 8080;
/// Default fan-out threshold: fleets up to this many instances are evaluated inside `Tick`.
pub(crate) const DEFAULT_FANOUT_THRESHOLD: usize = 200;
/// Default stdout log level.
pub(crate) const DEFAULT_LOG: LevelFilter = LevelFilter::INFO;
/// How far the host's `UtcNow` may be from the process's own clock by default.
pub(crate) const DEFAULT_HOST_CLOCK_TOLERANCE: TimeDelta = TimeDelta::minutes(15);
/// Default OpenTelemetry service name.
pub(crate) const DEFAULT_SERVICE_NAME: &str = "curfew";

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
    /// How far the host's `UtcNow` may be from the process's clock; `None`: not checked.
    pub(crate) host_clock_tolerance: Option<TimeDelta>,
    /// Which variables are set, and the values of the non-secret ones (for `Status`).
    pub(crate) seen: Vec<(Setting, Option<String>)>,
}

impl FunctionsConfig {
    /// Parses every variable; all bad ones are reported together.
    pub(crate) fn from_strings(strings: &dyn Strings) -> Result<Self, ConfigError> {
        let mut bad = Problems::default();
        let port = bad
            .env(strings, &PORT, "a port number 1-65535", |s| {
                s.parse::<u16>().ok().filter(|p| *p != 0)
            })
            .unwrap_or(DEFAULT_PORT);
        let fanout_threshold = bad
            .env(
                strings,
                &FANOUT_THRESHOLD,
                "a whole number of instances",
                |s| s.parse::<usize>().ok(),
            )
            .unwrap_or(DEFAULT_FANOUT_THRESHOLD);
        let log = bad
            .env(
                strings,
                &LOG,
                "one of off, error, warn, info, debug, trace",
                |s| s.parse::<LevelFilter>().ok(),
            )
            .unwrap_or(DEFAULT_LOG);
        let otlp_endpoint = bad.env(strings, &OTLP_ENDPOINT, "an http:// or https:// URL", |s| {
            (s.starts_with("http://") || s.starts_with("https://")).then(|| s.to_owned())
        });
        let service_name = bad
            .env(strings, &OTEL_SERVICE_NAME, "a name", |s| {
                Some(s.to_owned())
            })
            .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
        let host_clock_tolerance = bad
            .env(
                strings,
                &HOST_CLOCK_TOLERANCE,
                "a whole number of minutes (1 or more), or off",
                |s| {
                    if s.eq_ignore_ascii_case("off") {
                        return Some(None);
                    }
                    s.parse::<i64>()
                        .ok()
                        .filter(|m| (1..=60 * 24 * 366).contains(m))
                        .map(|m| Some(TimeDelta::minutes(m)))
                },
            )
            .unwrap_or(Some(DEFAULT_HOST_CLOCK_TOLERANCE));
        let seen = SETTINGS
            .iter()
            .filter_map(|s| Some((*s, strings.get(s.env?))))
            .collect();
        bad.finish(Self {
            port,
            fanout_threshold,
            log,
            otlp_endpoint,
            service_name,
            host_clock_tolerance,
            seen,
        })
    }

    /// The variables as `Status` shows them: secrets (keys, connection strings, webhook URLs)
    /// as set/unset only, and `CURFEW_CONFIG` only when it names a file (inline settings may
    /// hold any of those).
    pub(crate) fn settings_report(&self) -> serde_json::Value {
        let items: Vec<_> = self
            .seen
            .iter()
            .map(|(s, v)| {
                let value = match (s.secret, v) {
                    (_, None) => serde_json::Value::Null,
                    (true, Some(_)) => serde_json::Value::from("(secret, set)"),
                    (false, Some(v)) if *s == CONFIG && is_inline(v) => {
                        serde_json::Value::from("(inline settings, not shown)")
                    }
                    (false, Some(v)) => serde_json::Value::from(v.as_str()),
                };
                serde_json::json!({
                    "name": s.env,
                    "yaml": s.yaml,
                    "set": v.is_some(),
                    "value": value,
                    "doc": s.doc(),
                })
            })
            .collect();
        serde_json::Value::Array(items)
    }
}

/// Whether a `CURFEW_CONFIG` value is the settings text itself (as the reader decides).
fn is_inline(value: &str) -> bool {
    let one = curfew_governor::config::MapStrings::from_pairs(&[(CONFIG.var(), value)]);
    matches!(SettingsFile::from_strings(&one), SettingsFile::Text { .. })
}

#[cfg(test)]
mod tests {
    use super::*;
    use curfew_governor::config::MapStrings;

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let c = FunctionsConfig::from_strings(&MapStrings::default()).unwrap();
        assert_eq!(c.port, DEFAULT_PORT);
        assert_eq!(c.fanout_threshold, DEFAULT_FANOUT_THRESHOLD);
        assert_eq!(c.log, DEFAULT_LOG);
        assert_eq!(c.otlp_endpoint, None);
        assert_eq!(c.service_name, DEFAULT_SERVICE_NAME);
        assert_eq!(c.host_clock_tolerance, Some(DEFAULT_HOST_CLOCK_TOLERANCE));
    }

    #[test]
    fn values_are_read_and_empty_counts_as_unset() {
        let s = MapStrings::from_pairs(&[
            (PORT.var(), "34963"),
            (FANOUT_THRESHOLD.var(), "5"),
            (LOG.var(), "debug"),
            (OTLP_ENDPOINT.var(), ""),
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
            (PORT.var(), "0"),
            (FANOUT_THRESHOLD.var(), "many"),
            (LOG.var(), "loud"),
            (OTLP_ENDPOINT.var(), "collector:4318"),
        ]);
        let e = FunctionsConfig::from_strings(&s).unwrap_err();
        let names: Vec<_> = e.problems().iter().map(|b| b.setting.as_str()).collect();
        assert_eq!(
            names,
            [
                PORT.var(),
                FANOUT_THRESHOLD.var(),
                LOG.var(),
                OTLP_ENDPOINT.var()
            ]
        );
        let msg = e.to_string();
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
