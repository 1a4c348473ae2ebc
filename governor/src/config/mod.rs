//! Configuration: one path from strings to a checked [`RuntimeConfig`] (conventions §3).
//!
//! - [`table`]: every setting named once, its environment variable and its settings-file path
//!   side by side ([`SETTINGS`]).
//! - [`Strings`]: where values come from: the process environment ([`EnvStrings`]), or a map
//!   in tests ([`MapStrings`]; never `std::env::set_var`).
//! - `file`: the settings file (YAML; JSON is YAML too), read against the table: an unknown key
//!   is a problem named by its path.
//! - `read`: the settings file overlaid by the environment, checked, into a [`RuntimeConfig`].
//!
//! Reading is pure apart from reading the files the settings name (policies, budgets, prices)
//! and the variables they name (secrets). Every bad setting is reported, each named by its
//! variable and/or its path, in one [`ConfigError`]; `curfew serve` and the CLI both read
//! through here. Building the [`crate::Runtime`] from the result only does I/O.

mod file;
mod read;
pub mod table;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use curfew_arm::{ArmConfig, SecretString};
use curfew_engine::cost::{Budget, PriceSheet};
use curfew_engine::governor;
use curfew_engine::policy::Assignment;
use curfew_notify::ChannelSpec;
use curfew_store::TableConfig;

pub use read::{key_problem, MIN_KEY_BYTES};
pub use table::*;

/// Deployment name when none is set.
pub const DEFAULT_DEPLOYMENT: &str = "default";
/// SQLite file when no store is set, next to the settings file.
pub const DEFAULT_SQLITE: &str = "curfew.sqlite";
/// State table name when none is set.
pub const DEFAULT_TABLE: &str = "curfew";
/// Key id of `CURFEW_LINK_KEY` when `CURFEW_LINK_KEY_ID` is unset.
pub const DEFAULT_LINK_KEY_ID: &str = "k1";
/// Key id of `CURFEW_LINK_KEY_PREVIOUS`.
pub const PREVIOUS_LINK_KEY_ID: &str = "k0";
/// The channel word that means "the invocation's output binding" in `notify` lists.
pub const BINDING_CHANNEL: &str = "binding";
/// The settings file of the CLI when neither `--config` nor `CURFEW_CONFIG` names one.
pub const DEFAULT_SETTINGS_FILE: &str = "curfew.yaml";

/// Where configuration strings come from: the process environment, or a map in tests.
pub trait Strings {
    /// The value of `name`; an empty (or blank) value counts as unset.
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment (the Functions host passes app settings as environment variables).
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvStrings;

impl Strings for EnvStrings {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

/// A fixed map, for tests and the demo (never `std::env::set_var`).
#[derive(Debug, Clone, Default)]
pub struct MapStrings(pub HashMap<String, String>);

impl MapStrings {
    /// Builds a map from `(name, value)` pairs.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
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
        self.0.get(name).filter(|v| !v.trim().is_empty()).cloned()
    }
}

/// Which program reads the configuration: some settings apply only to `curfew serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// `curfew tick`, `run`, `dismiss`, `explain`, `validate`, and the demo.
    Cli,
    /// `curfew serve`, the Functions app.
    Serve,
}

/// One setting that cannot be used (`curfew validate --format json` shows these fields).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigProblem {
    /// The settings file the value came from, when it came from one.
    pub file: Option<String>,
    /// The setting as the user wrote it: a variable (`CURFEW_LOG`), a file path with its index
    /// (`arm.scopes[1]`), a variable with the path it stands for (`CURFEW_SCOPES
    /// (arm.scopes[0])`), or both names when it is missing (`arm.scopes or CURFEW_SCOPES`).
    pub setting: String,
    /// The value as given, when showing it helps (never for secrets); `message` then says
    /// what was expected.
    pub value: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}: ")?;
        }
        match &self.value {
            Some(v) => write!(f, "{}={v:?} ({})", self.setting, self.message),
            None => write!(f, "{}: {}", self.setting, self.message),
        }
    }
}

/// Configuration that cannot be used. Neither kind is retryable: a file or a setting must
/// change first.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The settings file could not be read at all (missing, unreadable), so nothing was checked.
    #[error("reading config '{}': {error}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why (shown in the message, so not also a `source`).
        error: std::io::Error,
    },
    /// Settings that cannot be used, every one of them named.
    #[error("invalid settings: {}", list(problems))]
    Invalid {
        /// Each bad setting, in the order they were read.
        problems: Vec<ConfigProblem>,
    },
}

impl ConfigError {
    /// The problems (none when the file could not be read).
    pub fn problems(&self) -> &[ConfigProblem] {
        match self {
            ConfigError::Unreadable { .. } => &[],
            ConfigError::Invalid { problems } => problems,
        }
    }
}

fn list(problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The problems of one reading, collected so that all are reported together.
#[derive(Debug, Default)]
pub struct Problems(Vec<ConfigProblem>);

impl Problems {
    /// Records a problem.
    pub fn push(&mut self, problem: ConfigProblem) {
        self.0.push(problem);
    }

    /// Reads `setting`'s variable and parses it (trimmed); a value that does not parse is
    /// recorded with what was expected (the value shown unless secret) and gives `None`.
    pub fn env<T>(
        &mut self,
        strings: &dyn Strings,
        setting: &Setting,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        let var = setting.env?;
        let value = strings.get(var)?;
        let parsed = parse(value.trim());
        if parsed.is_none() {
            self.push(ConfigProblem {
                file: None,
                setting: var.to_owned(),
                value: (!setting.secret).then_some(value),
                message: format!("expected {expected}"),
            });
        }
        parsed
    }

    /// `value` when nothing was recorded, else every problem in one error.
    pub fn finish<T>(self, value: T) -> Result<T, ConfigError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(ConfigError::Invalid { problems: self.0 })
        }
    }
}

/// Where the settings file comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsFile {
    /// No file: the environment alone.
    Absent,
    /// A file; relative paths in it are taken from its folder.
    Path(PathBuf),
    /// The text itself (`CURFEW_CONFIG` holding YAML), named by `label` in problems; relative
    /// paths in it are taken from the working directory.
    Text {
        /// YAML or JSON.
        text: String,
        /// How problems name it.
        label: String,
    },
}

impl SettingsFile {
    /// What `CURFEW_CONFIG` names: a path, or the text itself when it spans lines or starts
    /// with `{`.
    pub fn from_strings(strings: &dyn Strings) -> SettingsFile {
        match CONFIG.env.and_then(|v| strings.get(v)) {
            None => SettingsFile::Absent,
            Some(text) if text.contains('\n') || text.trim_start().starts_with('{') => {
                SettingsFile::Text {
                    text,
                    label: format!("{} (inline)", CONFIG.var()),
                }
            }
            Some(path) => SettingsFile::Path(PathBuf::from(path.trim())),
        }
    }

    /// The CLI's file: `--config`, else `CURFEW_CONFIG`, else `curfew.yaml`.
    pub fn for_cli(flag: Option<PathBuf>, strings: &dyn Strings) -> SettingsFile {
        match flag {
            Some(p) => SettingsFile::Path(p),
            None => match SettingsFile::from_strings(strings) {
                SettingsFile::Absent => SettingsFile::Path(DEFAULT_SETTINGS_FILE.into()),
                f => f,
            },
        }
    }
}

/// Where state lives.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// Azure Table Storage by connection string (keys, SAS, or the emulator).
    Table {
        /// Table name.
        table: String,
        /// Endpoint and credential.
        config: TableConfig,
    },
    /// Azure Table Storage reached with the managed identity (`curfew serve` opens it).
    TableIdentity {
        /// Table name.
        table: String,
        /// The table endpoint, without a trailing slash.
        endpoint: String,
        /// A user-assigned identity's client id.
        client_id: Option<String>,
    },
}

/// Where events go besides the configured channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventsTo {
    /// The invocation's `events` output binding too (`curfew serve`'s default).
    Binding,
    /// Only the configured channels (the CLI; `CURFEW_EVENTS=notifiers`).
    Notifiers,
}

/// What `email` channels need: the relay, and where owners' addresses come from.
#[derive(Debug, Clone)]
pub struct EmailConfig {
    /// Relay, security, AUTH and sender (`Debug` hides the password).
    pub smtp: curfew_notify::SmtpSettings,
    /// `email.owners`: addresses by object id, which win over the directory.
    pub owners: HashMap<String, String>,
    /// The Microsoft Graph endpoint to ask for other owners (`None`: `email.directory: none`).
    pub graph: Option<String>,
}

/// Microsoft Graph when `email.graphEndpoint` is unset.
pub const DEFAULT_GRAPH_ENDPOINT: &str = "https://graph.microsoft.com";

/// The checked configuration of a governor: every value parsed, every named file read, every
/// named secret found. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Deployment name (event source, watermark keys).
    pub deployment: String,
    /// The ARM client's configuration, credential resolved.
    pub arm: ArmConfig,
    /// Where state lives.
    pub store: StoreConfig,
    /// The governor's knobs.
    pub governor: governor::Config,
    /// Write policy idle-time defaults back to ARM; else Curfew enforces them itself.
    pub write_back_idle: bool,
    /// Notification channels (empty under `curfew serve` when the binding is the only one).
    pub channels: Vec<ChannelSpec>,
    /// Where events go besides the channels.
    pub events: EventsTo,
    /// Routing rules over the channels' labels, checked (empty: every channel gets every event).
    pub routes: Vec<curfew_engine::routing::RouteRule>,
    /// The email settings, when an `email` channel is configured.
    pub email: Option<EmailConfig>,
    /// Link-signing keys `(id, secret)`, the first signs.
    pub link_keys: Vec<(String, SecretString)>,
    /// Public URL of the Dismiss function.
    pub link_base: Option<String>,
    /// Default policies, parsed.
    pub policies: Vec<Assignment>,
    /// Holiday and exception calendars with their assignments, checked (configuration, not
    /// state: empty without the setting).
    pub calendars: curfew_engine::holiday::CalendarSet,
    /// The cost timeline file.
    pub cost_timeline: Option<PathBuf>,
    /// Budgets, parsed (empty without a budgets file).
    pub budgets: Vec<Budget>,
    /// Prices (the shipped sheet unless a price sheet is set).
    pub prices: PriceSheet,
    /// Master key of activity-report signatures (`curfew serve`).
    pub activity_key: Option<SecretString>,
}

impl RuntimeConfig {
    /// Reads the settings file, overlays the environment (a variable wins over its file path),
    /// and checks everything; all problems are reported together.
    pub fn load(
        file: &SettingsFile,
        strings: &dyn Strings,
        program: Program,
    ) -> Result<RuntimeConfig, ConfigError> {
        let mut problems = Problems::default();
        let tree = match file {
            SettingsFile::Absent => None,
            SettingsFile::Path(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|error| ConfigError::Unreadable {
                        path: path.clone(),
                        error,
                    })?;
                let base = path.parent().map(PathBuf::from).unwrap_or_default();
                file::FileTree::parse(&text, base, path.display().to_string(), &mut problems)
            }
            SettingsFile::Text { text, label } => {
                file::FileTree::parse(text, PathBuf::new(), label.clone(), &mut problems)
            }
        };
        read::read(tree, strings, program, problems)
    }

    /// Settings text for the CLI (the demo, tests), with secrets and overrides from `strings`.
    pub fn from_yaml(text: &str, strings: &dyn Strings) -> Result<RuntimeConfig, ConfigError> {
        let file = SettingsFile::Text {
            text: text.to_owned(),
            label: "settings".to_owned(),
        };
        RuntimeConfig::load(&file, strings, Program::Cli)
    }
}
