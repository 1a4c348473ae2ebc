//! Dead letters: when a channel gives up on an event, a [`DeadLetter`] (the event, the channel,
//! attempts, last error, time) is written to a [`DeadLetters`] sink, so nothing is dropped
//! silently. [`JsonLinesDeadLetters`] appends them to a file; [`MemoryDeadLetters`] keeps them.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::NotifyError;
use crate::event::Event;

/// One event a channel could not deliver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// The channel's label (never its URL).
    pub channel: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last error's message (no secrets; see [`NotifyError`]).
    pub last_error: String,
    /// Whether a later resend may succeed.
    pub retryable: bool,
    /// When the channel gave up.
    pub at: DateTime<Utc>,
    /// The undelivered event, whole, for replay.
    pub event: Event,
}

/// Where undeliverable events go. Implement it to route them elsewhere (a table, a queue).
#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// Records one letter durably before returning.
    async fn record(&self, letter: &DeadLetter) -> Result<(), NotifyError>;
}

/// Appends one JSON object per line to a file (created if missing).
#[derive(Debug)]
pub struct JsonLinesDeadLetters {
    path: PathBuf,
    lock: Mutex<()>,
}

impl JsonLinesDeadLetters {
    /// A sink appending to `path`.
    pub fn new(path: impl Into<PathBuf>) -> JsonLinesDeadLetters {
        JsonLinesDeadLetters {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    /// Reads every letter back (for `curfew` tooling and tests).
    pub fn read_all(path: &Path) -> Result<Vec<DeadLetter>, NotifyError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(NotifyError::io("dead-letters", &e)),
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).map_err(|e| NotifyError::Io {
                    channel: "dead-letters".into(),
                    message: format!("{}: {e}", path.display()),
                })
            })
            .collect()
    }
}

/// Appends `line` plus a newline to `path` in one write (lines stay whole under one process).
pub(crate) fn append_line(path: &Path, line: &[u8]) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line);
    buf.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(&buf)?;
    f.flush()
}

#[async_trait]
impl DeadLetters for JsonLinesDeadLetters {
    async fn record(&self, letter: &DeadLetter) -> Result<(), NotifyError> {
        let line = serde_json::to_vec(letter).map_err(|e| NotifyError::Io {
            channel: "dead-letters".into(),
            message: e.to_string(),
        })?;
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        append_line(&self.path, &line).map_err(|e| NotifyError::io("dead-letters", &e))
    }
}

/// Keeps letters in memory (tests, and callers that forward them elsewhere).
#[derive(Debug, Default)]
pub struct MemoryDeadLetters {
    letters: Mutex<Vec<DeadLetter>>,
}

impl MemoryDeadLetters {
    /// An empty sink.
    pub fn new() -> MemoryDeadLetters {
        MemoryDeadLetters::default()
    }

    /// The letters recorded so far.
    pub fn letters(&self) -> Vec<DeadLetter> {
        self.letters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[async_trait]
impl DeadLetters for MemoryDeadLetters {
    async fn record(&self, letter: &DeadLetter) -> Result<(), NotifyError> {
        self.letters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(letter.clone());
        Ok(())
    }
}
