//! The settings file read against the table: its keys are exactly the table's `yaml` paths
//! (`arm.scopes` is key `scopes` under `arm`), so a typo is a problem named by its path, and
//! every other value is still read.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_yaml_ng::Value;

use super::{ConfigProblem, Problems, SETTINGS};

/// A parsed settings file, its keys checked.
pub(super) struct FileTree {
    root: Value,
    /// The folder relative paths are taken from.
    base: PathBuf,
    /// How problems name the file.
    pub(super) label: String,
}

impl FileTree {
    /// Parses `text`; a syntax error or an unknown key is recorded. `None` when nothing of the
    /// file can be used.
    pub(super) fn parse(
        text: &str,
        base: PathBuf,
        label: String,
        problems: &mut Problems,
    ) -> Option<FileTree> {
        let problem = |setting: &str, message: String| ConfigProblem {
            file: Some(label.clone()),
            setting: setting.to_owned(),
            value: None,
            message,
        };
        if let Err(e) = curfew_engine::yaml::check_yaml_nesting(text) {
            problems.push(problem("(the file)", e.to_string()));
            return None;
        }
        let root: Value = match serde_yaml_ng::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                problems.push(problem("(the file)", format!("not YAML: {e}")));
                return None;
            }
        };
        match &root {
            Value::Null => return None,
            Value::Mapping(_) => {}
            _ => {
                problems.push(problem(
                    "(the file)",
                    "expected a mapping of settings".to_owned(),
                ));
                return None;
            }
        }
        let known: BTreeSet<&str> = SETTINGS.iter().filter_map(|s| s.yaml).collect();
        let mut unknown = Vec::new();
        walk(&root, "", &known, &mut unknown);
        for (path, message) in unknown {
            problems.push(problem(&path, message));
        }
        Some(FileTree { root, base, label })
    }

    /// The value at a table path; `None` when absent or null.
    pub(super) fn get(&self, path: &str) -> Option<&Value> {
        let mut v = &self.root;
        for key in path.split('.') {
            v = v.as_mapping()?.get(key)?;
        }
        (!v.is_null()).then_some(v)
    }

    /// A path from the file, made absolute against the file's folder.
    pub(super) fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    /// The folder relative paths are taken from.
    pub(super) fn base(&self) -> &Path {
        &self.base
    }
}

/// The value at `path` as a `T`; a mismatch is named by the path inside the value
/// (`links.keys[1].secretEnv`).
pub(super) fn typed<T: DeserializeOwned>(path: &str, v: &Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize::<_, T>(v).map_err(|e| {
        let inner = e.path().to_string();
        let at = match inner.as_str() {
            "." => path.to_owned(),
            i if i.starts_with('[') => format!("{path}{i}"),
            i => format!("{path}.{i}"),
        };
        (at, e.into_inner().to_string())
    })
}

/// Records every key of `v` (under `prefix`) that is not a table path or a section of one.
fn walk(v: &Value, prefix: &str, known: &BTreeSet<&str>, out: &mut Vec<(String, String)>) {
    let Some(map) = v.as_mapping() else { return };
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        }
    };
    for (k, child) in map {
        let Some(key) = k.as_str() else {
            out.push((
                join(&format!("{k:?}")),
                "a setting name must be a string".to_owned(),
            ));
            continue;
        };
        let path = join(key);
        if known.contains(path.as_str()) {
            continue;
        }
        let section = format!("{path}.");
        if known.iter().any(|p| p.starts_with(&section)) {
            match child {
                Value::Mapping(_) => walk(child, &path, known, out),
                Value::Null => {}
                _ => out.push((
                    path.clone(),
                    format!("expected a mapping of {}", children(&path).join(", ")),
                )),
            }
        } else {
            out.push((
                path,
                format!(
                    "unknown setting; expected one of {}",
                    children(prefix).join(", ")
                ),
            ));
        }
    }
}

/// The keys directly under `prefix` (the top level when empty), in table order.
fn children(prefix: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in SETTINGS.iter().filter_map(|s| s.yaml) {
        let rest = if prefix.is_empty() {
            Some(s)
        } else {
            s.strip_prefix(prefix).and_then(|r| r.strip_prefix('.'))
        };
        if let Some(rest) = rest {
            let key = rest.split('.').next().unwrap_or(rest).to_owned();
            if !out.contains(&key) {
                out.push(key);
            }
        }
    }
    out
}
