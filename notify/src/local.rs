//! Local channels for `curfew demo` and runs without Azure: [`Console`] writes one human line
//! per event to a writer; [`JsonLinesFile`] appends one CloudEvent per line to a file;
//! [`Collector`] keeps events in memory for whoever hands them on (the Functions output binding).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::deadletter::append_line;
use crate::error::NotifyError;
use crate::event::Event;
use crate::notifier::{Delivery, Notifier};

/// Human one-liners, e.g. `2026-03-02T01:30:00Z curfew.shutdown.pending gpu-alice will stop
/// at … [curfew-…]`. Links are not printed (they are capabilities; logs outlive terminals).
pub struct Console {
    label: String,
    out: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("channel", &self.label)
            .finish()
    }
}

impl Console {
    /// Writes to standard error, where the `console` channel goes.
    pub fn stderr() -> Console {
        Console::new("console", Box::new(std::io::stderr()))
    }

    /// A console channel on stdout (for programs whose stdout is the log).
    pub fn stdout() -> Console {
        Console::new("console", Box::new(std::io::stdout()))
    }

    /// Writes to `out` (a buffer in tests).
    pub fn new(label: &str, out: Box<dyn Write + Send>) -> Console {
        Console {
            label: label.to_owned(),
            out: Mutex::new(out),
        }
    }

    /// The line written for `event`.
    pub fn line(event: &Event) -> String {
        format!(
            "{} {} {} [{}]",
            event.time.format("%Y-%m-%dT%H:%M:%SZ"),
            event.kind.as_str(),
            event.summary(),
            event.id
        )
    }
}

#[async_trait]
impl Notifier for Console {
    fn channel(&self) -> &str {
        &self.label
    }

    async fn send(&self, event: &Event) -> Result<Delivery, NotifyError> {
        let line = Console::line(event);
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| NotifyError::io(&self.label, &e))?;
        Ok(Delivery {
            channel: self.label.clone(),
            event_id: event.id.clone(),
            attempts: 1,
            status: None,
        })
    }
}

/// Appends each event as one JSON line (the exact CloudEvent) to a file, created if missing.
#[derive(Debug)]
pub struct JsonLinesFile {
    label: String,
    path: PathBuf,
    lock: Mutex<()>,
}

impl JsonLinesFile {
    /// A channel appending to `path`.
    pub fn new(label: &str, path: impl Into<PathBuf>) -> JsonLinesFile {
        JsonLinesFile {
            label: label.to_owned(),
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    /// Reads every event back (for `curfew demo` summaries and tests).
    pub fn read_all(&self) -> Result<Vec<Event>, NotifyError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(NotifyError::io(&self.label, &e)),
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).map_err(|e| NotifyError::Io {
                    channel: self.label.clone(),
                    message: format!("{}: {e}", self.path.display()),
                })
            })
            .collect()
    }
}

#[async_trait]
impl Notifier for JsonLinesFile {
    fn channel(&self) -> &str {
        &self.label
    }

    async fn send(&self, event: &Event) -> Result<Delivery, NotifyError> {
        let line = event.to_bytes();
        {
            let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            append_line(&self.path, &line).map_err(|e| NotifyError::io(&self.label, &e))?;
        }
        Ok(Delivery {
            channel: self.label.clone(),
            event_id: event.id.clone(),
            attempts: 1,
            status: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::samples::*;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn console_writes_one_line_without_links() {
        let buf = Buf::default();
        let c = Console::new("console", Box::new(buf.clone()));
        c.send(&pending_event(30)).await.unwrap();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(text.starts_with("2026-03-02T01:30:00Z curfew.shutdown.pending gpu-alice will stop at 2026-03-01 18:00 PST (2026-03-02 02:00Z) in 30 min: stop: schedule 'nightly'"), "{text}");
        assert!(!text.contains("TOKEN"));
    }

    #[tokio::test]
    async fn json_lines_file_appends_cloudevents() {
        let dir = std::env::temp_dir().join(format!("curfew-notify-jsonl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("events.jsonl");
        let _ = std::fs::remove_file(&path);
        let f = JsonLinesFile::new("file", &path);
        let events = all_events();
        for e in &events {
            f.send(e).await.unwrap();
        }
        assert_eq!(f.read_all().unwrap(), events);
        let raw = std::fs::read_to_string(&path).unwrap();
        assert_eq!(raw.lines().count(), events.len());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Events kept in memory, in order. The Functions handler gives each invocation its own, and
/// its contents become the `events` output binding, which the host publishes once the
/// invocation answers 2xx; tests read it too. Owned by the caller, never ambient state.
#[derive(Debug)]
pub struct Collector {
    label: String,
    events: Mutex<Vec<Event>>,
}

impl Collector {
    /// An empty collector reported as `label`.
    pub fn new(label: &str) -> Collector {
        Collector {
            label: label.to_owned(),
            events: Mutex::new(Vec::new()),
        }
    }

    /// The events collected so far, in the order they were sent; leaves it empty.
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[async_trait]
impl Notifier for Collector {
    fn channel(&self) -> &str {
        &self.label
    }

    async fn send(&self, event: &Event) -> Result<Delivery, NotifyError> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
        Ok(Delivery {
            channel: self.label.clone(),
            event_id: event.id.clone(),
            attempts: 1,
            status: None,
        })
    }
}
