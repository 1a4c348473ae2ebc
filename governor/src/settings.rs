//! The configuration file of `tick`, `run`, `dismiss` and `explain`: YAML (or JSON, which is
//! YAML too). Secrets are never written in it: they are named by environment variable.

use anyhow::{bail, Context};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// Names this Curfew in event sources and watermark keys (default `default`).
    #[serde(default)]
    pub deployment: Option<String>,
    /// Where the fleet lives.
    #[serde(default)]
    pub arm: ArmSettings,
    /// Where state lives.
    #[serde(default)]
    pub store: StoreSettings,
    /// The governor's knobs (docs/design.md §6–§7 defaults when absent).
    #[serde(default)]
    pub governor: GovernorSettings,
    /// Notification channels, `[label@]kind:value` (see docs/notify.md); default `console`.
    #[serde(default)]
    pub notify: Vec<String>,
    /// Signed one-click links.
    #[serde(default)]
    pub links: LinkSettings,
    /// Default policies and where they apply.
    #[serde(default)]
    pub policies: Vec<PolicySetting>,
    /// JSON-lines cost timeline the governor appends to (states seen, actions taken), for
    /// `curfew report --timeline`.
    pub cost_timeline: Option<PathBuf>,
    /// Budgets (JSON array, docs/cost.md), checked against the month's spend.
    pub budgets: Option<PathBuf>,
    /// Price sheet overriding the shipped one (same format as engine/data/prices.json).
    pub prices: Option<PathBuf>,
    /// The folder relative paths are read from (the config file's folder).
    #[serde(skip)]
    pub base: PathBuf,
}

/// ARM endpoint, scopes and identity.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ArmSettings {
    /// Default `https://management.azure.com`; the local simulator's URL in tests and demos.
    pub endpoint: Option<String>,
    /// Default `2025-12-01`.
    pub api_version: Option<String>,
    /// `/subscriptions/S`, `/subscriptions/S/resourceGroups/R` or a workspace id.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// `auto` (default), `managed-identity`, `workload-identity`, `azure-cli`, or
    /// `token-env:VAR` (a bearer token in that variable: for the simulator).
    pub credential: Option<String>,
    /// User-assigned managed identity's client id.
    pub client_id: Option<String>,
    /// Reads per second the client allows itself per subscription (default 25, ARM's refill
    /// rate, with a burst of 250); raise it only for a local simulator.
    pub reads_per_second: Option<f64>,
}

/// SQLite file (default) or Azure Table Storage.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StoreSettings {
    /// SQLite file (default `curfew.sqlite` next to the config file).
    pub sqlite: Option<PathBuf>,
    /// Variable holding a Table Storage connection string; when set, Table Storage is used.
    pub table_connection_string_env: Option<String>,
    /// Table name (default `curfew`).
    pub table: Option<String>,
}

/// Governor knobs, in minutes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GovernorSettings {
    /// Late occurrences within this still execute (default 15).
    pub catch_up_minutes: Option<i64>,
    /// Pre-shutdown notice lead times (default 30, 5).
    pub lead_minutes: Option<Vec<i64>>,
    /// Deferral deadline (default 30).
    pub defer_minutes: Option<i64>,
    /// Total snooze per occurrence (default 240).
    pub snooze_cap_minutes: Option<i64>,
    /// Object ids allowed to dismiss any occurrence.
    #[serde(default)]
    pub admins: Vec<String>,
    /// Write policy idle-time defaults back with `updateIdleShutdownSetting` (default false:
    /// Curfew enforces them itself and reports what it would write).
    pub write_back_idle_defaults: Option<bool>,
}

/// Link signing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LinkSettings {
    /// Public URL of the Dismiss function (links are `{baseUrl}?token=…`).
    pub base_url: Option<String>,
    /// Signing keys, newest first; all verify, the first signs (rotation).
    #[serde(default)]
    pub keys: Vec<LinkKeySetting>,
}

/// One signing key, its secret in an environment variable.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LinkKeySetting {
    /// Key id, carried in tokens.
    pub id: String,
    /// Variable holding the secret.
    pub secret_env: String,
}

/// A policy definition file and the scope it is assigned at.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicySetting {
    /// Definition file (Azure Policy JSON).
    pub file: PathBuf,
    /// Assignment scope (default `/`, the tenant).
    pub scope: Option<String>,
}

impl Settings {
    /// Reads a config file; relative paths in it are taken from its folder.
    pub fn load(path: &Path) -> anyhow::Result<Settings> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config '{}'", path.display()))?;
        let mut s: Settings =
            Self::parse(&text).with_context(|| format!("config '{}'", path.display()))?;
        s.base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(s)
    }

    /// Parses config text, naming the field of any problem.
    pub fn parse(text: &str) -> anyhow::Result<Settings> {
        let de = serde_yaml_ng::Deserializer::from_str(text);
        let s: Settings = serde_path_to_error::deserialize(de)
            .map_err(|e| anyhow::anyhow!("{}: {}", e.path(), e.inner()))?;
        for (i, m) in s.governor.lead_minutes.iter().flatten().enumerate() {
            if *m <= 0 {
                bail!("governor.leadMinutes[{i}]: {m} is not a positive number of minutes");
            }
        }
        Ok(s)
    }

    /// A path from the file, made absolute against the file's folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    /// The deployment name.
    pub fn deployment(&self) -> &str {
        self.deployment.as_deref().unwrap_or("default")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_yaml_and_names_bad_fields() {
        let s = Settings::parse(
            "deployment: prod\narm:\n  endpoint: http://127.0.0.1:1\n  scopes: [/subscriptions/s]\ngovernor:\n  leadMinutes: [15]\n",
        )
        .unwrap();
        assert_eq!(s.deployment(), "prod");
        assert_eq!(s.arm.scopes, ["/subscriptions/s"]);
        assert_eq!(s.governor.lead_minutes, Some(vec![15]));
        let e = Settings::parse("arm:\n  endpont: x\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("arm") && e.contains("endpont"), "{e}");
        let e = Settings::parse("governor:\n  leadMinutes: [0]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("governor.leadMinutes[0]"), "{e}");
    }
}
