//! The settings file overlaid by the environment, every setting checked, into a
//! [`RuntimeConfig`]. A variable wins over its file path (except `AZURE_CLIENT_ID`, the
//! platform's, which `arm.clientId` overrides, and `CURFEW_NOTIFY`, which adds channels).
//! Relative paths from the file are taken from its folder; paths from variables as given.

use std::path::{Path, PathBuf};

use chrono::TimeDelta;
use curfew_arm::{ArmConfig, BucketConfig, CredentialConfig, Scope, SecretString};
use curfew_engine::cost::{parse_budgets, Budget, PriceSheet};
use curfew_engine::governor;
use curfew_engine::policy::{Assignment, PolicyDefinition};
use curfew_engine::routing::{check_rules, RouteRule};
use curfew_notify::{ChannelSpec, EventType, SmtpSecurity, SmtpSettings};
use curfew_store::TableConfig;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::HashMap;

use super::file::{typed, FileTree};
use super::*;

/// One signing key in the file, its secret in an environment variable.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LinkKeyEntry {
    /// Key id, carried in tokens.
    id: String,
    /// Variable holding the secret.
    secret_env: String,
}

/// A policy definition file and the scope it is assigned at.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PolicyEntry {
    /// Definition file (Azure Policy JSON).
    file: PathBuf,
    /// Assignment scope (default `/`, the tenant).
    scope: Option<String>,
}

/// Where a value came from, to name it in a problem.
#[derive(Debug, Clone, Copy)]
struct At {
    setting: Setting,
    env: bool,
}

impl At {
    fn env(setting: Setting) -> At {
        At { setting, env: true }
    }

    fn file(setting: Setting) -> At {
        At {
            setting,
            env: false,
        }
    }
}

/// Reads settings from the environment and the file, collecting problems.
struct Reader<'a> {
    strings: &'a dyn Strings,
    file: Option<FileTree>,
    program: Program,
    problems: Problems,
}

/// Splits a list variable on commas and white space.
fn split_list(v: &str) -> Vec<String> {
    v.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Splits a list variable on white space only (channel specs may hold commas).
fn split_words(v: &str) -> Vec<String> {
    v.split_whitespace().map(str::to_owned).collect()
}

/// The fewest bytes a signing key (links, activity reports) may have: 256 bits.
pub const MIN_KEY_BYTES: usize = 32;

/// Why a signing key is unusable, if it is: the text of a Key Vault reference the platform could
/// not resolve (the app is then keyed with a public string), or fewer than [`MIN_KEY_BYTES`].
/// Never quotes the key.
pub fn key_problem(secret: &str) -> Option<String> {
    if secret.to_ascii_lowercase().contains("@microsoft.keyvault(") {
        return Some(
            "is an unresolved Key Vault reference (`@Microsoft.KeyVault(...)`), not a key: the app could not read the secret; give its identity the Key Vault Secrets User role on the vault (infra/main.bicep does), check the reference, then restart the app".to_owned(),
        );
    }
    let n = secret.len();
    (n < MIN_KEY_BYTES).then(|| {
        format!("is {n} bytes long: a signing key needs at least {MIN_KEY_BYTES} bytes (e.g. `openssl rand -base64 32`)")
    })
}

/// A file a calendar set names, relative to `base` (its folder).
fn read_from(base: &Path, p: &str) -> Result<String, String> {
    let path = base.join(p);
    std::fs::read_to_string(&path).map_err(|e| format!("reading '{}': {e}", path.display()))
}

fn index(i: usize) -> String {
    format!("[{i}]")
}

fn is_http_url(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    ["http://", "https://"]
        .iter()
        .any(|p| lower.len() > p.len() && lower.starts_with(p))
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

impl Reader<'_> {
    /// The variable of `s`, unless unset, or not read by this program.
    fn var(&self, s: &Setting) -> Option<String> {
        if s.serve_only && self.program == Program::Cli {
            return None;
        }
        self.strings.get(s.env?)
    }

    fn file_value(&self, s: &Setting) -> Option<serde_yaml_ng::Value> {
        self.file.as_ref()?.get(s.yaml?).cloned()
    }

    /// Whether `s` is given at all, by its variable or in the file.
    fn given(&self, s: &Setting) -> bool {
        self.var(s).is_some() || self.file_value(s).is_some()
    }

    fn push(&mut self, from_file: bool, setting: String, value: Option<String>, message: String) {
        let file = if from_file {
            self.file.as_ref().map(|f| f.label.clone())
        } else {
            None
        };
        self.problems.push(ConfigProblem {
            file,
            setting,
            value,
            message,
        });
    }

    /// A problem with the value of `at` (`suffix`: an index into it, `[1]`, `[0].secretEnv`).
    fn bad(&mut self, at: At, suffix: &str, message: impl Into<String>) {
        let s = at.setting;
        let setting = match (at.env, s.env, s.yaml) {
            (true, Some(var), Some(path)) if !suffix.is_empty() => {
                format!("{var} ({path}{suffix})")
            }
            (true, Some(var), _) => format!("{var}{suffix}"),
            _ => format!("{}{suffix}", s.name()),
        };
        self.push(!at.env, setting, None, message.into());
    }

    /// A variable's value that does not parse, shown (unless secret) with what was expected.
    fn bad_value(&mut self, at: At, value: &str, expected: &str) {
        let value = (!at.setting.secret).then(|| value.to_owned());
        self.push(
            false,
            at.setting.var().to_owned(),
            value,
            format!("expected {expected}"),
        );
    }

    /// A required setting given nowhere.
    fn missing(&mut self, s: &Setting, message: &str) {
        let names: Vec<&str> = [s.yaml, s.env].into_iter().flatten().collect();
        self.push(false, names.join(" or "), None, message.to_owned());
    }

    /// The file's value of `s` as a `T`; a mismatch is recorded, named by its path.
    fn in_file<T: DeserializeOwned>(&mut self, s: &Setting) -> Option<(T, At)> {
        let v = self.file_value(s)?;
        match typed::<T>(s.yaml?, &v) {
            Ok(t) => Some((t, At::file(*s))),
            Err((path, message)) => {
                self.push(true, path, None, message);
                None
            }
        }
    }

    /// A scalar: the variable parsed with `parse` (a bad value recorded with `expected`), else
    /// the file's value.
    fn scalar<T: DeserializeOwned>(
        &mut self,
        s: &Setting,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<(T, At)> {
        if let Some(v) = self.var(s) {
            let at = At::env(*s);
            return match parse(v.trim()) {
                Some(t) => Some((t, at)),
                None => {
                    self.bad_value(at, &v, expected);
                    None
                }
            };
        }
        self.in_file(s)
    }

    fn string(&mut self, s: &Setting) -> Option<(String, At)> {
        self.scalar(s, "a string", |v| Some(v.to_owned()))
    }

    /// A path; from the file it is taken from the file's folder.
    fn path(&mut self, s: &Setting) -> Option<(PathBuf, At)> {
        let (p, at) = self.scalar::<PathBuf>(s, "a path", |v| Some(PathBuf::from(v)))?;
        if at.env {
            return Some((p, at));
        }
        let p = self
            .file
            .as_ref()
            .map_or_else(|| p.clone(), |f| f.resolve(&p));
        Some((p, at))
    }

    /// A list: the variable split by `split`, each item parsed; else the file's sequence.
    fn list<T: DeserializeOwned>(
        &mut self,
        s: &Setting,
        split: fn(&str) -> Vec<String>,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<(Vec<T>, At)> {
        let Some(v) = self.var(s) else {
            return self.in_file(s);
        };
        let at = At::env(*s);
        let mut out = Vec::new();
        for (i, item) in split(&v).iter().enumerate() {
            match parse(item) {
                Some(t) => out.push(t),
                None => self.bad(at, &index(i), format!("'{item}' is not {expected}")),
            }
        }
        Some((out, at))
    }

    /// A number of minutes, 0 or more.
    fn minutes(&mut self, s: &Setting) -> Option<TimeDelta> {
        let (m, at) = self.scalar::<i64>(s, "a whole number of minutes", |v| v.parse().ok())?;
        let d = TimeDelta::try_minutes(m).filter(|_| m >= 0);
        if d.is_none() {
            self.bad(
                at,
                "",
                format!("{m} is not a number of minutes (0 or more)"),
            );
        }
        d
    }

    fn base(&self) -> PathBuf {
        self.file
            .as_ref()
            .map(|f| f.base().to_path_buf())
            .unwrap_or_default()
    }

    fn resolve(&self, p: &Path) -> PathBuf {
        match &self.file {
            Some(f) => f.resolve(p),
            None => p.to_path_buf(),
        }
    }

    /// A file a setting names, read; a failure is recorded.
    fn read_named(&mut self, at: At, suffix: &str, path: &Path) -> Option<String> {
        match std::fs::read_to_string(path) {
            Ok(t) => Some(t),
            Err(e) => {
                self.bad(at, suffix, format!("reading '{}': {e}", path.display()));
                None
            }
        }
    }

    /// The file's `arm.clientId`, else `AZURE_CLIENT_ID`: the platform sets that variable for
    /// every SDK, so an explicit value in the file wins.
    fn client_id(&mut self) -> Option<String> {
        match self.in_file::<String>(&CLIENT_ID) {
            Some((id, _)) => Some(id),
            None => self.var(&CLIENT_ID),
        }
    }

    fn arm(&mut self, client_id: Option<String>) -> ArmConfig {
        let mut arm = ArmConfig::default();
        if let Some((e, at)) = self.string(&ARM_ENDPOINT) {
            if is_http_url(&e) {
                arm.endpoint = e.trim_end_matches('/').to_owned();
            } else {
                self.bad(at, "", format!("'{e}' is not an http:// or https:// URL"));
            }
        }
        if let Some((v, _)) = self.string(&ARM_API_VERSION) {
            arm.api_version = v;
        }
        let what = "name at least one subscription, resource group or workspace";
        if !self.given(&SCOPES) {
            self.missing(&SCOPES, what);
        } else if let Some((list, at)) =
            self.list::<String>(&SCOPES, split_list, "a scope", |t| Some(t.to_owned()))
        {
            if list.is_empty() {
                self.bad(at, "", what);
            }
            for (i, t) in list.iter().enumerate() {
                match Scope::parse(t) {
                    Some(s) => arm.scopes.push(s),
                    None => self.bad(
                        at,
                        &index(i),
                        format!("'{t}' is not a subscription, resource group or workspace id"),
                    ),
                }
            }
        }
        arm.credential = self.credential(client_id);
        if let Some((rate, at)) =
            self.scalar::<f64>(&READS_PER_SECOND, "a number of requests per second", |v| {
                v.parse().ok()
            })
        {
            if rate.is_finite() && rate > 0.0 {
                let bucket = BucketConfig {
                    capacity: (rate * 10.0).max(1.0),
                    refill_per_sec: rate,
                };
                arm.read_bucket = bucket;
                arm.write_bucket = bucket;
            } else {
                self.bad(at, "", format!("{rate} is not a positive rate"));
            }
        }
        arm
    }

    fn credential(&mut self, client_id: Option<String>) -> CredentialConfig {
        let strings = self.strings;
        let var = |s: &Setting| s.env.and_then(|v| strings.get(v));
        let auto = || match CredentialConfig::Auto.resolve(&|k| strings.get(k)) {
            CredentialConfig::ManagedIdentity { client_id: found } => {
                CredentialConfig::ManagedIdentity {
                    client_id: client_id.clone().or(found),
                }
            }
            other => other,
        };
        let Some((kind, at)) = self.string(&ARM_CREDENTIAL) else {
            return auto();
        };
        match kind.as_str() {
            "auto" => auto(),
            "managed-identity" => CredentialConfig::ManagedIdentity { client_id },
            "workload-identity" => CredentialConfig::WorkloadIdentity {
                tenant_id: var(&TENANT_ID),
                client_id,
                token_file: var(&FEDERATED_TOKEN_FILE).map(Into::into),
            },
            "azure-cli" => CredentialConfig::AzureCli { tenant_id: None },
            other => match other.strip_prefix("token-env:") {
                Some(name) => match strings.get(name) {
                    Some(token) => CredentialConfig::StaticToken(SecretString::new(token)),
                    None => {
                        self.bad(at, "", format!("variable {name} is not set"));
                        CredentialConfig::Auto
                    }
                },
                None => {
                    self.bad(
                        at,
                        "",
                        format!(
                            "'{other}' is not one of auto, managed-identity, workload-identity, azure-cli, token-env:VAR"
                        ),
                    );
                    CredentialConfig::Auto
                }
            },
        }
    }

    /// A table by connection string; a string that does not parse is recorded.
    fn table(&mut self, table: String, connection: &str, at: At, what: &str) -> StoreConfig {
        match TableConfig::from_connection_string(connection) {
            Ok(config) => StoreConfig::Table { table, config },
            Err(e) => {
                // The store never quotes the string (it holds the key).
                self.bad(at, "", format!("{what}: {e}"));
                StoreConfig::Sqlite(PathBuf::new())
            }
        }
    }

    /// The store: `CURFEW_TABLE_CONNECTION`, else `CURFEW_TABLE_ENDPOINT`, else
    /// `CURFEW_SQLITE`, else the file's table, else its SQLite file, else `curfew.sqlite`.
    fn store(&mut self, client_id: &Option<String>) -> StoreConfig {
        let table = self
            .string(&TABLE_NAME)
            .map_or_else(|| DEFAULT_TABLE.to_owned(), |(t, _)| t);
        let sqlite = self.path(&SQLITE);
        let connection_var = self.in_file::<String>(&TABLE_CONNECTION_ENV);
        if let Some(connection) = self.var(&TABLE_CONNECTION) {
            let at = At::env(TABLE_CONNECTION);
            return self.table(
                table,
                &connection,
                at,
                "not a Table Storage connection string",
            );
        }
        if let Some((endpoint, at)) = self.string(&TABLE_ENDPOINT) {
            let endpoint = endpoint.trim_end_matches('/').to_owned();
            if !is_http_url(&endpoint) {
                self.bad_value(at, &endpoint, "an http(s) URL");
                return StoreConfig::Sqlite(PathBuf::new());
            }
            return match endpoint.strip_suffix(&format!("/{}", curfew_store::DEV_ACCOUNT)) {
                // The storage emulator: its well-known account key.
                Some(proxy) => self.table(
                    table,
                    &format!("UseDevelopmentStorage=true;DevelopmentStorageProxyUri={proxy}"),
                    at,
                    "the emulator endpoint",
                ),
                None if self.program == Program::Cli => {
                    self.bad(
                        at,
                        "",
                        format!(
                            "a table reached with the managed identity is opened by `curfew serve` only; set {} or store.tableConnectionStringEnv instead",
                            TABLE_CONNECTION.var()
                        ),
                    );
                    StoreConfig::Sqlite(PathBuf::new())
                }
                None => StoreConfig::TableIdentity {
                    table,
                    endpoint,
                    client_id: client_id.clone(),
                },
            };
        }
        match (sqlite, connection_var) {
            (Some((path, at)), _) if at.env => StoreConfig::Sqlite(path),
            (_, Some((var, at))) => match self.strings.get(&var) {
                Some(connection) => self.table(
                    table,
                    &connection,
                    at,
                    &format!("the connection string in {var}"),
                ),
                None => {
                    self.bad(at, "", format!("variable {var} is not set"));
                    StoreConfig::Sqlite(PathBuf::new())
                }
            },
            (Some((path, _)), None) => StoreConfig::Sqlite(path),
            (None, None) => StoreConfig::Sqlite(self.base().join(DEFAULT_SQLITE)),
        }
    }

    fn knobs(&mut self) -> governor::Config {
        let mut g = governor::Config::default();
        if let Some(d) = self.minutes(&CATCH_UP_MINUTES) {
            g.catch_up = d;
        }
        if let Some((h, at)) =
            self.scalar::<i64>(&CATCH_UP_HORIZON_HOURS, "a whole number of hours", |v| {
                v.parse().ok()
            })
        {
            match TimeDelta::try_hours(h).filter(|d| *d >= g.catch_up && h > 0) {
                Some(d) => g.catch_up_horizon = d,
                None => self.bad(
                    at,
                    "",
                    format!(
                        "{h} is not a positive number of hours at least the catch-up ({} min)",
                        g.catch_up.num_minutes()
                    ),
                ),
            }
        } else if g.catch_up > g.catch_up_horizon {
            // A catch-up beyond the default horizon: nothing it would still run is summarised.
            g.catch_up_horizon = g.catch_up;
        }
        if let Some((d, at)) = self.scalar::<i64>(&RETENTION_DAYS, "a whole number of days", |v| {
            v.parse().ok()
        }) {
            match TimeDelta::try_days(d).filter(|r| *r >= governor::MIN_RETENTION) {
                Some(r) => g.retention = r,
                None => self.bad(
                    at,
                    "",
                    format!(
                        "{d} is not a number of days of at least {}",
                        governor::MIN_RETENTION.num_days()
                    ),
                ),
            }
        }
        if let Some((leads, at)) = self.list::<i64>(
            &LEAD_MINUTES,
            split_list,
            "a whole number of minutes",
            |v| v.parse().ok(),
        ) {
            let mut lead_times = Vec::new();
            for (i, m) in leads.iter().enumerate() {
                match TimeDelta::try_minutes(*m).filter(|_| *m > 0) {
                    Some(d) => lead_times.push(d),
                    None => self.bad(
                        at,
                        &index(i),
                        format!("{m} is not a positive number of minutes"),
                    ),
                }
            }
            g.lead_times = lead_times;
        }
        if let Some(d) = self.minutes(&DEFER_MINUTES) {
            g.defer_deadline = d;
        }
        if let Some(d) = self.minutes(&SNOOZE_CAP_MINUTES) {
            g.snooze_cap = d;
        }
        if let Some((admins, _)) =
            self.list::<String>(&ADMINS, split_list, "an object id", |v| Some(v.to_owned()))
        {
            g.admins = admins;
        }
        g
    }

    /// The channels, and whether events also go to the output binding.
    fn channels(&mut self) -> (Vec<ChannelSpec>, EventsTo) {
        let mut items: Vec<(String, At, usize)> = Vec::new();
        if let Some((list, at)) = self.in_file::<Vec<String>>(&NOTIFY) {
            items.extend(list.into_iter().enumerate().map(|(i, s)| (s, at, i)));
        }
        if let Some(v) = self.var(&NOTIFY) {
            let at = At::env(NOTIFY);
            items.extend(
                split_words(&v)
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| (s, at, i)),
            );
        }
        let mut events = match self.program {
            Program::Cli => EventsTo::Notifiers,
            Program::Serve => self
                .problems
                .env(self.strings, &EVENTS, "binding or notifiers", |v| {
                    match v.to_ascii_lowercase().as_str() {
                        BINDING_CHANNEL => Some(EventsTo::Binding),
                        "notifiers" => Some(EventsTo::Notifiers),
                        _ => None,
                    }
                })
                .unwrap_or(EventsTo::Binding),
        };
        let (mut channels, mut others) = (Vec::new(), false);
        for (spec, at, i) in items {
            if spec.trim().eq_ignore_ascii_case(BINDING_CHANNEL) {
                match self.program {
                    Program::Serve => events = EventsTo::Binding,
                    Program::Cli => self.bad(
                        at,
                        &index(i),
                        "'binding' (the Functions output binding) exists only under `curfew serve`",
                    ),
                }
                continue;
            }
            others = true;
            match ChannelSpec::parse(&spec) {
                Ok(c) => channels.push(c),
                Err(e) => self.bad(at, &index(i), e.to_string()),
            }
        }
        if !others && events == EventsTo::Notifiers {
            channels.push(ChannelSpec::Console {
                label: "console".to_owned(),
            });
        }
        (channels, events)
    }

    /// The routing rules, each checked against the channels' labels and the event types; every
    /// bad rule is recorded, named by its index and name.
    fn routes(&mut self, channels: &[ChannelSpec], events: EventsTo) -> Vec<RouteRule> {
        let Some((items, at)) = self.in_file::<Vec<serde_yaml_ng::Value>>(&ROUTES) else {
            return Vec::new();
        };
        // Each rule on its own, so one that does not parse hides none of the others' problems.
        let (mut rules, mut at_index) = (Vec::new(), Vec::new());
        for (i, v) in items.iter().enumerate() {
            match typed::<RouteRule>(&format!("{}[{i}]", ROUTES.name()), v) {
                Ok(r) => {
                    rules.push(r);
                    at_index.push(i);
                }
                Err((path, message)) => self.push(true, path, None, message),
            }
        }
        let mut known: Vec<&str> = channels.iter().map(ChannelSpec::label).collect();
        if events == EventsTo::Binding {
            known.push(BINDING_CHANNEL);
        }
        let kinds: Vec<&str> = EventType::ALL.iter().map(|k| k.as_str()).collect();
        for (i, message) in check_rules(&rules, &known, &kinds) {
            self.bad(at, &index(at_index[i]), message);
        }
        rules
    }

    /// The email settings when an `email` channel is configured: the relay and sender are
    /// required.
    fn email(&mut self, channels: &[ChannelSpec]) -> Option<EmailConfig> {
        let labels: Vec<&str> = channels
            .iter()
            .filter(|c| matches!(c, ChannelSpec::Email { .. }))
            .map(ChannelSpec::label)
            .collect();
        if labels.is_empty() {
            return None;
        }
        let host = self.string(&SMTP_HOST).map(|(h, _)| h);
        if host.is_none() {
            self.missing(&SMTP_HOST, "the email channel needs an SMTP relay");
        }
        let from = self.string(&EMAIL_FROM);
        match &from {
            None => self.missing(&EMAIL_FROM, "the email channel needs a sender address"),
            Some((f, at)) => {
                if curfew_notify::check_mailbox(f).is_err() {
                    self.bad(
                        *at,
                        "",
                        format!("'{f}' is not an address or `Name <address>`"),
                    );
                }
            }
        }
        let security = match self.string(&SMTP_SECURITY) {
            None => SmtpSecurity::StartTls,
            Some((v, at)) => SmtpSecurity::parse(&v).unwrap_or_else(|| {
                self.bad(at, "", format!("'{v}' is not one of starttls, tls, none"));
                SmtpSecurity::StartTls
            }),
        };
        if let (SmtpSecurity::None, Some(h)) = (security, &host) {
            if !curfew_notify::is_loopback_host(h) {
                self.bad(
                    At::env(SMTP_SECURITY),
                    "",
                    format!("`none` (no TLS) is allowed only for a relay on loopback, not {h}"),
                );
            }
        }
        let default_port = if security == SmtpSecurity::Tls {
            465
        } else {
            587
        };
        let port = self
            .scalar::<u16>(&SMTP_PORT, "a port number", |v| v.parse().ok())
            .map_or(default_port, |(p, _)| p);
        let username = self.string(&SMTP_USERNAME).map(|(u, _)| u);
        let password = self.var(&SMTP_PASSWORD);
        if username.is_some() && password.is_none() {
            self.missing(&SMTP_PASSWORD, "SMTP AUTH needs the password too");
        }
        let ca_pem = self
            .path(&SMTP_CA_FILE)
            .and_then(|(p, at)| self.read_named(at, "", &p));
        let owners = self
            .in_file::<HashMap<String, String>>(&EMAIL_OWNERS)
            .map(|(m, _)| m)
            .unwrap_or_default();
        let graph = match self.string(&EMAIL_DIRECTORY) {
            None => true,
            Some((v, at)) => match v.to_ascii_lowercase().as_str() {
                "graph" => true,
                "none" => false,
                _ => {
                    self.bad(at, "", format!("'{v}' is not graph or none"));
                    true
                }
            },
        };
        let endpoint = match self.string(&GRAPH_ENDPOINT) {
            None => DEFAULT_GRAPH_ENDPOINT.to_owned(),
            Some((e, at)) => {
                if !is_http_url(&e) {
                    self.bad(at, "", format!("'{e}' is not an http:// or https:// URL"));
                }
                e.trim_end_matches('/').to_owned()
            }
        };
        Some(EmailConfig {
            smtp: SmtpSettings {
                host: host.unwrap_or_default(),
                port,
                security,
                username,
                password,
                from: from.map(|(f, _)| f).unwrap_or_default(),
                ca_pem,
            },
            owners,
            graph: graph.then_some(endpoint),
        })
    }

    /// A signing key from the variable of `s`, checked ([`key_problem`]); a bad one is recorded
    /// (never shown) and gives `None`.
    fn key(&mut self, s: &Setting) -> Option<SecretString> {
        let secret = self.var(s)?;
        if let Some(problem) = key_problem(&secret) {
            self.bad(At::env(*s), "", problem);
            return None;
        }
        Some(SecretString::new(secret))
    }

    fn link_keys(&mut self) -> Vec<(String, SecretString)> {
        let mut keys = Vec::new();
        if self.var(&LINK_KEY).is_some() {
            let id = self
                .var(&LINK_KEY_ID)
                .map_or_else(|| DEFAULT_LINK_KEY_ID.to_owned(), |id| id.trim().to_owned());
            if let Some(secret) = self.key(&LINK_KEY) {
                keys.push((id, secret));
            }
            if let Some(previous) = self.key(&LINK_KEY_PREVIOUS) {
                keys.push((PREVIOUS_LINK_KEY_ID.to_owned(), previous));
            }
        } else if let Some((list, at)) = self.in_file::<Vec<LinkKeyEntry>>(&LINK_KEYS) {
            for (i, k) in list.into_iter().enumerate() {
                let suffix = format!("[{i}].secretEnv");
                match self.strings.get(&k.secret_env) {
                    Some(secret) => match key_problem(&secret) {
                        None => keys.push((k.id, SecretString::new(secret))),
                        Some(problem) => self.bad(
                            at,
                            &suffix,
                            format!("variable {} (key '{}') {problem}", k.secret_env, k.id),
                        ),
                    },
                    None => self.bad(
                        at,
                        &suffix,
                        format!("variable {} is not set (key '{}')", k.secret_env, k.id),
                    ),
                }
            }
        }
        keys
    }

    fn link_base(&mut self) -> Option<String> {
        if let Some((url, at)) = self.string(&PUBLIC_BASE_URL) {
            let base = url.trim_end_matches('/');
            if !is_http_url(base) {
                self.bad_value(at, &url, "an http:// or https:// URL");
                return None;
            }
            return Some(if base.ends_with("/Dismiss") {
                base.to_owned()
            } else {
                format!("{base}/Dismiss")
            });
        }
        let (url, at) = self.string(&LINK_BASE_URL)?;
        if !is_http_url(&url) {
            self.bad(at, "", format!("'{url}' is not an http:// or https:// URL"));
            return None;
        }
        Some(url)
    }

    fn policies(&mut self) -> Vec<Assignment> {
        let Some((list, at)) = self.in_file::<Vec<PolicyEntry>>(&POLICIES) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, p) in list.iter().enumerate() {
            let path = self.resolve(&p.file);
            let Some(text) = self.read_named(at, &index(i), &path) else {
                continue;
            };
            let stem = path
                .file_stem()
                .and_then(|x| x.to_str())
                .unwrap_or("policy");
            let def = match PolicyDefinition::from_json_str(&text, &serde_json::Map::new()) {
                Ok(d) => d.with_fallback_name(stem),
                Err(e) => {
                    self.bad(at, &index(i), format!("'{}': {e}", path.display()));
                    continue;
                }
            };
            match Assignment::new(stem, p.scope.as_deref().unwrap_or("/"), def) {
                Ok(a) => out.push(a),
                Err(e) => self.bad(at, &index(i), e.to_string()),
            }
        }
        out
    }

    /// `CURFEW_CALENDARS` / `calendars`: inline JSON (a variable starting with `{`, or a
    /// mapping in the file), else a path to a set, an `.ics` or a JSON calendar. Files a set
    /// names are read from its folder (the settings file's, for an inline set); every bad
    /// calendar is named.
    fn calendars(&mut self) -> curfew_engine::holiday::CalendarSet {
        use curfew_engine::holiday::{CalendarProblem, CalendarSet};
        let (result, at): (Result<CalendarSet, Vec<CalendarProblem>>, At) =
            if let Some(v) = self.var(&CALENDARS) {
                let at = At::env(CALENDARS);
                let t = v.trim();
                if t.starts_with('{') {
                    let read = |p: &str| read_from(&PathBuf::new(), p);
                    let r = serde_json::from_str::<serde_json::Value>(t)
                        .map_err(|e| {
                            vec![CalendarProblem {
                                calendar: CALENDARS.var().to_owned(),
                                field: "(json)".into(),
                                message: e.to_string(),
                            }]
                        })
                        .and_then(|value| CalendarSet::parse_value(&value, CALENDARS.var(), &read));
                    (r, at)
                } else {
                    let path = PathBuf::from(t);
                    let Some(text) = self.read_named(at, "", &path) else {
                        return CalendarSet::default();
                    };
                    (self.calendar_file(&path, &text), at)
                }
            } else {
                let Some(v) = self.file_value(&CALENDARS) else {
                    return CalendarSet::default();
                };
                let at = At::file(CALENDARS);
                match v {
                    serde_yaml_ng::Value::String(p) => {
                        let path = self.resolve(Path::new(&p));
                        let Some(text) = self.read_named(at, "", &path) else {
                            return CalendarSet::default();
                        };
                        (self.calendar_file(&path, &text), at)
                    }
                    other => {
                        let base = self.base();
                        let read = |p: &str| read_from(&base, p);
                        let r = serde_json::to_value(&other)
                            .map_err(|e| {
                                vec![CalendarProblem {
                                    calendar: "calendars".into(),
                                    field: "(yaml)".into(),
                                    message: e.to_string(),
                                }]
                            })
                            .and_then(|value| CalendarSet::parse_value(&value, "calendars", &read));
                        (r, at)
                    }
                }
            };
        match result {
            Ok(set) => set,
            Err(problems) => {
                for p in problems {
                    self.bad(at, "", p.to_string());
                }
                CalendarSet::default()
            }
        }
    }

    fn calendar_file(
        &self,
        path: &Path,
        text: &str,
    ) -> Result<curfew_engine::holiday::CalendarSet, Vec<curfew_engine::holiday::CalendarProblem>>
    {
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let read = |p: &str| read_from(&base, p);
        curfew_engine::holiday::CalendarSet::from_file_text(
            &path.display().to_string(),
            text,
            &read,
        )
    }

    fn budgets(&mut self) -> Vec<Budget> {
        let Some((path, at)) = self.path(&BUDGETS) else {
            return Vec::new();
        };
        let Some(text) = self.read_named(at, "", &path) else {
            return Vec::new();
        };
        match parse_budgets(&text, &path.display().to_string()) {
            Ok(b) => {
                // Budgets are measured on the store's timeline; a file is optional.
                b
            }
            Err(e) => {
                self.bad(at, "", e.to_string());
                Vec::new()
            }
        }
    }

    fn prices(&mut self) -> PriceSheet {
        let Some((path, at)) = self.path(&PRICES) else {
            return PriceSheet::defaults();
        };
        let Some(text) = self.read_named(at, "", &path) else {
            return PriceSheet::defaults();
        };
        PriceSheet::from_json(&text, &path.display().to_string()).unwrap_or_else(|e| {
            self.bad(at, "", e.to_string());
            PriceSheet::defaults()
        })
    }
}

/// Reads every setting; all problems (with those of reading the file) in one error.
pub(super) fn read(
    file: Option<FileTree>,
    strings: &dyn Strings,
    program: Program,
    problems: Problems,
) -> Result<RuntimeConfig, ConfigError> {
    let mut r = Reader {
        strings,
        file,
        program,
        problems,
    };
    let deployment = r
        .string(&DEPLOYMENT)
        .map_or_else(|| DEFAULT_DEPLOYMENT.to_owned(), |(d, _)| d);
    let client_id = r.client_id();
    let arm = r.arm(client_id.clone());
    let store = r.store(&client_id);
    let governor = r.knobs();
    let write_back_idle = r
        .scalar::<bool>(&WRITE_BACK_IDLE_DEFAULTS, "true or false", parse_bool)
        .is_some_and(|(b, _)| b);
    let (channels, events) = r.channels();
    let routes = r.routes(&channels, events);
    let email = r.email(&channels);
    let link_keys = r.link_keys();
    let link_base = r.link_base();
    let policies = r.policies();
    let calendars = r.calendars();
    let cost_timeline = r.path(&COST_TIMELINE).map(|(p, _)| p);
    let budgets = r.budgets();
    let prices = r.prices();
    let activity_key = r.key(&ACTIVITY_KEY);
    r.problems.finish(RuntimeConfig {
        deployment,
        arm,
        store,
        governor,
        write_back_idle,
        channels,
        events,
        routes,
        email,
        link_keys,
        link_base,
        policies,
        calendars,
        cost_timeline,
        budgets,
        prices,
        activity_key,
    })
}
