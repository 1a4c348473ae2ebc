//! `SqliteStore`: the embedded default. One file in WAL mode, versioned migrations, one
//! connection per handle behind a mutex, every call run on tokio's blocking pool.
//! Compare-and-set is a single `UPDATE … WHERE version = ?`; several handles (or processes)
//! on one file serialise through SQLite's write lock with a busy timeout.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row};
use serde_json::Value;

use crate::error::{StoreError, StoreResult};
use crate::keys::{hour_key, parse_time, time_key};
use crate::model::{
    Activity, AdoptionRecord, AuditRecord, Dismissal, DismissalChoice, LedgerAction, LedgerEntry,
    LedgerState, MarkKind, OutboxEntry, Override, TimelineRecord, TimelineState, Version,
    Versioned,
};
use crate::store::{StateStore, LEGACY_NONCE_END, LEGACY_NONCE_PREFIX};

/// How long a writer waits for another writer's lock before giving up as `Unavailable`.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Schema migrations, applied in order; the index + 1 is the schema version they lead to.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE watermark (scope TEXT PRIMARY KEY, at TEXT NOT NULL);
CREATE TABLE ledger (
    occurrence_id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL,
    schedule TEXT NOT NULL,
    action TEXT NOT NULL,
    at TEXT NOT NULL,
    state TEXT NOT NULL,
    snoozed_until TEXT,
    attempts INTEGER NOT NULL,
    reason TEXT NOT NULL,
    outcome TEXT,
    updated_at TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX ledger_instance ON ledger (instance_id, at);
CREATE INDEX ledger_at ON ledger (at);
CREATE TABLE notified (
    occurrence_id TEXT NOT NULL,
    lead_minutes INTEGER NOT NULL,
    PRIMARY KEY (occurrence_id, lead_minutes)
);
CREATE TABLE dismissal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    occurrence_id TEXT NOT NULL,
    choice TEXT NOT NULL,
    snooze_minutes INTEGER,
    requested_by TEXT NOT NULL,
    accepted INTEGER NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX dismissal_occurrence ON dismissal (occurrence_id, at, id);
CREATE TABLE override (instance_id TEXT PRIMARY KEY, schedules TEXT NOT NULL);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    instance_id TEXT,
    occurrence_id TEXT,
    message TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX audit_at ON audit (at, id);
CREATE TABLE activity (
    instance_id TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    busy INTEGER NOT NULL,
    details TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE timeline (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    instance TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX timeline_at ON timeline (at, id);
CREATE TABLE timeline_state (
    instance_id TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    state TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX outbox_at ON outbox (at, id);
"#,
    r#"
CREATE TABLE adoption (
    instance_id TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    adopted_by TEXT NOT NULL,
    schedules TEXT NOT NULL
);
"#,
    // Override versions come from one counter, so a version never returns (not even after a
    // delete and a new set): the prune's conditional delete cannot take a newer override.
    r#"
ALTER TABLE override ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
CREATE TABLE override_counter (id INTEGER PRIMARY KEY CHECK (id = 0), n INTEGER NOT NULL);
INSERT INTO override_counter (id, n) VALUES (0, 0);
"#,
    // Timed once-only marks (nonces, budget alerts): one per kind, key and UTC hour, swept by
    // hour. Untimed `notified` rows written before stay as they are (docs/store.md).
    r#"
CREATE TABLE mark (
    kind TEXT NOT NULL,
    hour TEXT NOT NULL,
    mark_key TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (kind, hour, mark_key)
);
"#,
    // The fingerprint of each instance's metadata as last written to the timeline, so a
    // reassigned owner or a resize writes a new `instance` record (NULL before).
    r#"
ALTER TABLE timeline_state ADD COLUMN meta TEXT;
"#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

const LEDGER_COLUMNS: &str = "occurrence_id, instance_id, schedule, action, at, state, \
     snoozed_until, attempts, reason, outcome, updated_at, version";

/// SQLite-backed [`StateStore`]. Cheap to clone (shares one connection); open a second
/// handle on the same file to get a second connection.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    label: Arc<str>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.label)
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file, switches it to WAL and migrates it.
    pub async fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        let path = path.as_ref().to_path_buf();
        let label: Arc<str> = path.display().to_string().into();
        let conn = tokio::task::spawn_blocking(move || -> StoreResult<Connection> {
            let conn = Connection::open(&path).map_err(|e| sql_err("sqlite", "open", e))?;
            prepare(conn, true)
        })
        .await
        .map_err(join_err)??;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            label,
        })
    }

    /// A private in-memory database (tests, `--dry-run`); gone when the last clone drops.
    pub async fn open_in_memory() -> StoreResult<Self> {
        let conn = tokio::task::spawn_blocking(|| -> StoreResult<Connection> {
            let conn = Connection::open_in_memory().map_err(|e| sql_err("sqlite", "open", e))?;
            prepare(conn, false)
        })
        .await
        .map_err(join_err)??;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            label: ":memory:".into(),
        })
    }

    /// The schema version of the open database.
    pub async fn schema_version(&self) -> StoreResult<u32> {
        self.run(|c| current_version(c)).await
    }

    async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic in another call cannot leave SQLite inconsistent (it rolls back), so a
            // poisoned lock is still usable.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(join_err)?
    }
}

fn prepare(mut conn: Connection, wal: bool) -> StoreResult<Connection> {
    conn.busy_timeout(DEFAULT_BUSY_TIMEOUT)
        .map_err(|e| sql_err("sqlite", "busy_timeout", e))?;
    if wal {
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(|e| sql_err("sqlite", "journal_mode", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Config(format!(
                "sqlite: journal_mode is {mode}, WAL was requested"
            )));
        }
        conn.execute_batch("PRAGMA synchronous=NORMAL")
            .map_err(|e| sql_err("sqlite", "synchronous", e))?;
    }
    migrate(&mut conn)?;
    Ok(conn)
}

fn current_version(conn: &Connection) -> StoreResult<u32> {
    conn.query_row("SELECT MAX(version) FROM schema_version", [], |r| {
        r.get::<_, Option<u32>>(0)
    })
    .map(|v| v.unwrap_or(0))
    .map_err(|e| sql_err("schema_version", "read", e))
}

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .map_err(|e| sql_err("schema_version", "create", e))?;
    // IMMEDIATE: two processes opening a fresh file at once migrate one after the other.
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| sql_err("schema_version", "begin", e))?;
    let have = current_version(&tx)?;
    if have > SCHEMA_VERSION {
        return Err(StoreError::Config(format!(
            "sqlite: schema version {have} is newer than this build's {SCHEMA_VERSION}"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(have as usize) {
        let to = i as u32 + 1;
        tx.execute_batch(sql)
            .map_err(|e| sql_err("schema_version", &format!("migration {to}"), e))?;
        tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [to])
            .map_err(|e| sql_err("schema_version", &format!("migration {to}"), e))?;
    }
    tx.commit()
        .map_err(|e| sql_err("schema_version", "commit", e))
}

fn join_err(e: tokio::task::JoinError) -> StoreError {
    StoreError::Backend {
        table: "sqlite",
        detail: format!("blocking task failed: {e}"),
    }
}

/// Maps a SQLite error: busy/locked is transient, anything else is not.
fn sql_err(table: &'static str, key: &str, e: rusqlite::Error) -> StoreError {
    let busy = matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    );
    let detail = format!("{key}: {e}");
    if busy {
        StoreError::Unavailable { table, detail }
    } else {
        StoreError::Backend { table, detail }
    }
}

fn corrupt(table: &'static str, key: &str, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        table,
        key: key.to_owned(),
        detail: detail.into(),
    }
}

fn parse_version(v: &Version) -> Option<i64> {
    v.0.parse().ok()
}

/// Raw ledger row; decoded outside rusqlite's closure so errors can name the key.
struct LedgerRow {
    occurrence_id: String,
    instance_id: String,
    schedule: String,
    action: String,
    at: String,
    state: String,
    snoozed_until: Option<String>,
    attempts: i64,
    reason: String,
    outcome: Option<String>,
    updated_at: String,
    version: i64,
}

impl LedgerRow {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            occurrence_id: r.get(0)?,
            instance_id: r.get(1)?,
            schedule: r.get(2)?,
            action: r.get(3)?,
            at: r.get(4)?,
            state: r.get(5)?,
            snoozed_until: r.get(6)?,
            attempts: r.get(7)?,
            reason: r.get(8)?,
            outcome: r.get(9)?,
            updated_at: r.get(10)?,
            version: r.get(11)?,
        })
    }

    fn decode(self) -> StoreResult<Versioned<LedgerEntry>> {
        let key = self.occurrence_id.as_str();
        let time = |t: &str, field: &str| {
            parse_time(t).ok_or_else(|| corrupt("ledger", key, format!("{field}: bad time {t:?}")))
        };
        let entry = LedgerEntry {
            instance_id: self.instance_id,
            schedule: self.schedule,
            action: LedgerAction::parse(&self.action)
                .ok_or_else(|| corrupt("ledger", key, format!("action {:?}", self.action)))?,
            at: time(&self.at, "at")?,
            state: LedgerState::parse(&self.state)
                .ok_or_else(|| corrupt("ledger", key, format!("state {:?}", self.state)))?,
            snoozed_until: self
                .snoozed_until
                .as_deref()
                .map(|t| time(t, "snoozed_until"))
                .transpose()?,
            attempts: u32::try_from(self.attempts)
                .map_err(|_| corrupt("ledger", key, "attempts out of range"))?,
            reason: self.reason,
            outcome: self.outcome,
            updated_at: time(&self.updated_at, "updated_at")?,
            occurrence_id: self.occurrence_id.clone(),
        };
        Ok(Versioned {
            value: entry,
            version: Version(self.version.to_string()),
        })
    }
}

fn insert_ledger(conn: &Connection, e: &LedgerEntry) -> rusqlite::Result<usize> {
    conn.prepare_cached(&format!(
        "INSERT INTO ledger ({LEDGER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 1) \
         ON CONFLICT (occurrence_id) DO NOTHING"
    ))?
    .execute(params![
        e.occurrence_id,
        e.instance_id,
        e.schedule,
        e.action.as_str(),
        time_key(e.at),
        e.state.as_str(),
        e.snoozed_until.map(time_key),
        e.attempts,
        e.reason,
        e.outcome,
        time_key(e.updated_at),
    ])
}

fn query_ledger(
    conn: &Connection,
    sql: &str,
    args: &[&dyn rusqlite::ToSql],
) -> StoreResult<Vec<Versioned<LedgerEntry>>> {
    let mut stmt = conn
        .prepare_cached(sql)
        .map_err(|e| sql_err("ledger", "query", e))?;
    let rows = stmt
        .query_map(args, LedgerRow::from_row)
        .map_err(|e| sql_err("ledger", "query", e))?;
    rows.map(|r| r.map_err(|e| sql_err("ledger", "query", e))?.decode())
        .collect()
}

fn get_ledger(conn: &Connection, id: &str) -> StoreResult<Option<Versioned<LedgerEntry>>> {
    Ok(query_ledger(
        conn,
        &format!("SELECT {LEDGER_COLUMNS} FROM ledger WHERE occurrence_id = ?1"),
        &[&id],
    )?
    .pop())
}

fn json_text(table: &'static str, key: &str, v: &Value) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| corrupt(table, key, e.to_string()))
}

fn parse_json(table: &'static str, key: &str, text: &str) -> StoreResult<Value> {
    serde_json::from_str(text).map_err(|e| corrupt(table, key, e.to_string()))
}

#[async_trait]
impl StateStore for SqliteStore {
    async fn get_watermark(&self, scope: &str) -> StoreResult<Option<DateTime<Utc>>> {
        let scope = scope.to_owned();
        self.run(move |c| {
            let text: Option<String> = c
                .query_row("SELECT at FROM watermark WHERE scope = ?1", [&scope], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(|e| sql_err("watermark", &scope, e))?;
            text.map(|t| parse_time(&t).ok_or_else(|| corrupt("watermark", &scope, "bad time")))
                .transpose()
        })
        .await
    }

    async fn set_watermark(
        &self,
        scope: &str,
        expected: Option<DateTime<Utc>>,
        new: DateTime<Utc>,
    ) -> StoreResult<()> {
        let scope = scope.to_owned();
        self.run(move |c| {
            let changed = match expected {
                None => c.execute(
                    "INSERT INTO watermark (scope, at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    params![scope, time_key(new)],
                ),
                Some(old) => c.execute(
                    "UPDATE watermark SET at = ?2 WHERE scope = ?1 AND at = ?3",
                    params![scope, time_key(new), time_key(old)],
                ),
            }
            .map_err(|e| sql_err("watermark", &scope, e))?;
            if changed == 1 {
                Ok(())
            } else {
                Err(StoreError::Conflict {
                    table: "watermark",
                    key: scope,
                })
            }
        })
        .await
    }

    async fn get_entry(&self, occurrence_id: &str) -> StoreResult<Option<Versioned<LedgerEntry>>> {
        let id = occurrence_id.to_owned();
        self.run(move |c| get_ledger(c, &id)).await
    }

    async fn insert_entry(&self, entry: &LedgerEntry) -> StoreResult<Version> {
        let entry = entry.clone();
        self.run(move |c| {
            let n =
                insert_ledger(c, &entry).map_err(|e| sql_err("ledger", &entry.occurrence_id, e))?;
            if n == 1 {
                Ok(Version("1".into()))
            } else {
                Err(StoreError::AlreadyExists {
                    table: "ledger",
                    key: entry.occurrence_id,
                })
            }
        })
        .await
    }

    async fn insert_entries(&self, entries: &[LedgerEntry]) -> StoreResult<Vec<bool>> {
        let entries = entries.to_vec();
        self.run(move |c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| sql_err("ledger", "batch", e))?;
            let mut out = Vec::with_capacity(entries.len());
            for e in &entries {
                let n = insert_ledger(&tx, e)
                    .map_err(|err| sql_err("ledger", &e.occurrence_id, err))?;
                out.push(n == 1);
            }
            tx.commit().map_err(|e| sql_err("ledger", "batch", e))?;
            Ok(out)
        })
        .await
    }

    async fn update_entry(&self, entry: &LedgerEntry, expected: &Version) -> StoreResult<Version> {
        let e = entry.clone();
        let expected = parse_version(expected);
        self.run(move |c| {
            let key = e.occurrence_id.clone();
            let new: Option<i64> = match expected {
                None => None,
                Some(v) => c
                    .query_row(
                        "UPDATE ledger SET instance_id = ?2, schedule = ?3, action = ?4, at = ?5, \
                         state = ?6, snoozed_until = ?7, attempts = ?8, reason = ?9, outcome = ?10, \
                         updated_at = ?11, version = version + 1 \
                         WHERE occurrence_id = ?1 AND version = ?12 RETURNING version",
                        params![
                            e.occurrence_id,
                            e.instance_id,
                            e.schedule,
                            e.action.as_str(),
                            time_key(e.at),
                            e.state.as_str(),
                            e.snoozed_until.map(time_key),
                            e.attempts,
                            e.reason,
                            e.outcome,
                            time_key(e.updated_at),
                            v,
                        ],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(|err| sql_err("ledger", &key, err))?,
            };
            match new {
                Some(v) => Ok(Version(v.to_string())),
                None if get_ledger(c, &key)?.is_none() => Err(StoreError::NotFound {
                    table: "ledger",
                    key,
                }),
                None => Err(StoreError::Conflict {
                    table: "ledger",
                    key,
                }),
            }
        })
        .await
    }

    async fn claim(
        &self,
        occurrence_id: &str,
        expected: &Version,
        now: DateTime<Utc>,
    ) -> StoreResult<Versioned<LedgerEntry>> {
        let key = occurrence_id.to_owned();
        let expected = parse_version(expected);
        self.run(move |c| {
            if let Some(v) = expected {
                let claimed = query_ledger(
                    c,
                    &format!(
                        "UPDATE ledger SET state = 'Executing', attempts = attempts + 1, \
                         updated_at = ?3, version = version + 1 \
                         WHERE occurrence_id = ?1 AND version = ?2 \
                         AND state IN ('Planned', 'Notified', 'Snoozed', 'Deferred') \
                         RETURNING {LEDGER_COLUMNS}"
                    ),
                    &[&key, &v, &time_key(now)],
                )?
                .pop();
                if let Some(entry) = claimed {
                    return Ok(entry);
                }
            }
            // Lost: say why, from a fresh read.
            match get_ledger(c, &key)? {
                None => Err(StoreError::NotFound {
                    table: "ledger",
                    key,
                }),
                Some(cur)
                    if Some(cur.version.clone()) != expected.map(|v| Version(v.to_string())) =>
                {
                    Err(StoreError::Conflict {
                        table: "ledger",
                        key,
                    })
                }
                Some(cur) => Err(StoreError::NotClaimable {
                    key,
                    state: cur.value.state.as_str(),
                }),
            }
        })
        .await
    }

    async fn entries_for_instance(
        &self,
        instance_id: &str,
    ) -> StoreResult<Vec<Versioned<LedgerEntry>>> {
        let id = instance_id.to_owned();
        self.run(move |c| {
            query_ledger(
                c,
                &format!(
                    "SELECT {LEDGER_COLUMNS} FROM ledger WHERE instance_id = ?1 \
                     ORDER BY at, occurrence_id"
                ),
                &[&id],
            )
        })
        .await
    }

    async fn entries_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<Versioned<LedgerEntry>>> {
        self.run(move |c| {
            query_ledger(
                c,
                &format!(
                    "SELECT {LEDGER_COLUMNS} FROM ledger WHERE at >= ?1 AND at < ?2 \
                     ORDER BY at, occurrence_id"
                ),
                &[&time_key(from), &time_key(to)],
            )
        })
        .await
    }

    async fn mark_notified(&self, occurrence_id: &str, lead_minutes: u32) -> StoreResult<bool> {
        let id = occurrence_id.to_owned();
        self.run(move |c| {
            c.execute(
                "INSERT INTO notified (occurrence_id, lead_minutes) VALUES (?1, ?2) \
                 ON CONFLICT DO NOTHING",
                params![id, lead_minutes],
            )
            .map(|n| n == 1)
            .map_err(|e| sql_err("notified", &format!("{id}/{lead_minutes}"), e))
        })
        .await
    }

    async fn mark_once(&self, kind: MarkKind, key: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        let key = key.to_owned();
        self.run(move |c| {
            c.execute(
                "INSERT INTO mark (kind, hour, mark_key, at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT DO NOTHING",
                params![kind.as_str(), hour_key(at), key, time_key(at)],
            )
            .map(|n| n == 1)
            .map_err(|e| sql_err("mark", &key, e))
        })
        .await
    }

    async fn sweep_marks(
        &self,
        kind: MarkKind,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<usize> {
        let hour = hour_key(before);
        self.run(move |c| {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let mut n = c
                .execute(
                    "DELETE FROM mark WHERE rowid IN (SELECT rowid FROM mark \
                     WHERE kind = ?1 AND hour < ?2 LIMIT ?3)",
                    params![kind.as_str(), hour, limit],
                )
                .map_err(|e| sql_err("mark", "sweep", e))?;
            if kind == MarkKind::Nonce && (n as i64) < limit {
                // The one-off rule: untimed nonce marks of older builds are long past their
                // window (a nonce is refused by its time 5 minutes after it was signed).
                n += c
                    .execute(
                        "DELETE FROM notified WHERE rowid IN (SELECT rowid FROM notified \
                         WHERE occurrence_id >= ?1 AND occurrence_id < ?2 LIMIT ?3)",
                        params![LEGACY_NONCE_PREFIX, LEGACY_NONCE_END, limit - n as i64],
                    )
                    .map_err(|e| sql_err("notified", "sweep", e))?;
            }
            Ok(n)
        })
        .await
    }

    async fn notified_leads_many(
        &self,
        occurrence_ids: &[String],
    ) -> StoreResult<HashMap<String, Vec<u32>>> {
        let ids = occurrence_ids.to_vec();
        self.run(move |c| {
            let mut out: HashMap<String, Vec<u32>> =
                ids.iter().map(|i| (i.clone(), Vec::new())).collect();
            // One statement per 500 ids (under SQLite's bound-parameter limit).
            for chunk in ids.chunks(500) {
                let marks = vec!["?"; chunk.len()].join(",");
                let sql = format!(
                    "SELECT occurrence_id, lead_minutes FROM notified WHERE occurrence_id IN ({marks}) \
                     ORDER BY occurrence_id, lead_minutes"
                );
                let err = |e| sql_err("notified", &chunk[0], e);
                let mut stmt = c.prepare(&sql).map_err(err)?;
                let rows = stmt
                    .query_map(rusqlite::params_from_iter(chunk.iter()), |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?))
                    })
                    .map_err(err)?;
                for row in rows {
                    let (id, lead) = row.map_err(err)?;
                    out.entry(id).or_default().push(lead);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn notified_leads(&self, occurrence_id: &str) -> StoreResult<Vec<u32>> {
        let id = occurrence_id.to_owned();
        self.run(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT lead_minutes FROM notified WHERE occurrence_id = ?1 ORDER BY lead_minutes",
                )
                .map_err(|e| sql_err("notified", &id, e))?;
            let rows = stmt
                .query_map([&id], |r| r.get::<_, u32>(0))
                .map_err(|e| sql_err("notified", &id, e))?;
            rows.collect::<Result<Vec<u32>, _>>()
                .map_err(|e| sql_err("notified", &id, e))
        })
        .await
    }

    async fn append_dismissal(&self, d: &Dismissal) -> StoreResult<()> {
        let d = d.clone();
        self.run(move |c| {
            let (choice, minutes) = match d.choice {
                DismissalChoice::Skip => ("skip", None),
                DismissalChoice::Snooze { minutes } => ("snooze", Some(minutes)),
            };
            c.execute(
                "INSERT INTO dismissal (occurrence_id, choice, snooze_minutes, requested_by, \
                 accepted, reason, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    d.occurrence_id,
                    choice,
                    minutes,
                    d.requested_by,
                    d.accepted,
                    d.reason,
                    time_key(d.at)
                ],
            )
            .map(|_| ())
            .map_err(|e| sql_err("dismissal", &d.occurrence_id, e))
        })
        .await
    }

    async fn dismissals(&self, occurrence_id: &str) -> StoreResult<Vec<Dismissal>> {
        let id = occurrence_id.to_owned();
        self.run(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT choice, snooze_minutes, requested_by, accepted, reason, at \
                     FROM dismissal WHERE occurrence_id = ?1 ORDER BY at, id",
                )
                .map_err(|e| sql_err("dismissal", &id, e))?;
            let rows = stmt
                .query_map([&id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<u32>>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, bool>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                    ))
                })
                .map_err(|e| sql_err("dismissal", &id, e))?;
            rows.map(|row| {
                let (choice, minutes, requested_by, accepted, reason, at) =
                    row.map_err(|e| sql_err("dismissal", &id, e))?;
                let choice = match (choice.as_str(), minutes) {
                    ("skip", _) => DismissalChoice::Skip,
                    ("snooze", Some(minutes)) => DismissalChoice::Snooze { minutes },
                    _ => return Err(corrupt("dismissal", &id, format!("choice {choice:?}"))),
                };
                Ok(Dismissal {
                    occurrence_id: id.clone(),
                    choice,
                    requested_by,
                    accepted,
                    reason,
                    at: parse_time(&at).ok_or_else(|| corrupt("dismissal", &id, "bad time"))?,
                })
            })
            .collect()
        })
        .await
    }

    async fn set_override(&self, instance_id: &str, schedules: &Value) -> StoreResult<()> {
        let id = instance_id.to_owned();
        let text = json_text("override", instance_id, schedules)?;
        self.run(move |c| {
            let err = |e| sql_err("override", &id, e);
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(err)?;
            write_override(&tx, &id, &text)?;
            tx.commit().map_err(err)
        })
        .await
    }

    async fn set_override_if(
        &self,
        instance_id: &str,
        schedules: &Value,
        expected: Option<&Version>,
    ) -> StoreResult<Option<Version>> {
        let id = instance_id.to_owned();
        let text = json_text("override", instance_id, schedules)?;
        // A version that is no number was never issued here: nothing matches it.
        let expected: Option<Option<i64>> = expected.map(|v| v.as_str().parse::<i64>().ok());
        self.run(move |c| {
            let err = |e| sql_err("override", &id, e);
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(err)?;
            let current: Option<i64> = tx
                .query_row(
                    "SELECT version FROM override WHERE instance_id = ?1",
                    [&id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(err)?;
            let matches = match (expected, current) {
                (None, None) => true,
                (Some(Some(want)), Some(have)) => want == have,
                _ => false,
            };
            if !matches {
                return Ok(None);
            }
            let version = write_override(&tx, &id, &text)?;
            tx.commit().map_err(err)?;
            Ok(Some(Version(version.to_string())))
        })
        .await
    }

    async fn get_override_versioned(
        &self,
        instance_id: &str,
    ) -> StoreResult<Option<Versioned<Value>>> {
        let id = instance_id.to_owned();
        self.run(move |c| {
            let row: Option<(String, i64)> = c
                .query_row(
                    "SELECT schedules, version FROM override WHERE instance_id = ?1",
                    [&id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(|e| sql_err("override", &id, e))?;
            row.map(|(t, v)| {
                Ok(Versioned {
                    value: parse_json("override", &id, &t)?,
                    version: Version(v.to_string()),
                })
            })
            .transpose()
        })
        .await
    }

    async fn delete_override_if(&self, instance_id: &str, expected: &Version) -> StoreResult<bool> {
        let id = instance_id.to_owned();
        // A version that is no number was never issued here: nothing matches it.
        let Ok(version) = expected.as_str().parse::<i64>() else {
            return Ok(false);
        };
        self.run(move |c| {
            c.execute(
                "DELETE FROM override WHERE instance_id = ?1 AND version = ?2",
                params![id, version],
            )
            .map(|n| n == 1)
            .map_err(|e| sql_err("override", &id, e))
        })
        .await
    }

    async fn get_override(&self, instance_id: &str) -> StoreResult<Option<Value>> {
        let id = instance_id.to_owned();
        self.run(move |c| {
            let text: Option<String> = c
                .query_row(
                    "SELECT schedules FROM override WHERE instance_id = ?1",
                    [&id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| sql_err("override", &id, e))?;
            text.map(|t| parse_json("override", &id, &t)).transpose()
        })
        .await
    }

    async fn delete_override(&self, instance_id: &str) -> StoreResult<bool> {
        let id = instance_id.to_owned();
        self.run(move |c| {
            c.execute("DELETE FROM override WHERE instance_id = ?1", [&id])
                .map(|n| n == 1)
                .map_err(|e| sql_err("override", &id, e))
        })
        .await
    }

    async fn list_overrides(&self) -> StoreResult<Vec<Override>> {
        self.run(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT instance_id, schedules, version FROM override ORDER BY instance_id",
                )
                .map_err(|e| sql_err("override", "list", e))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
                .map_err(|e| sql_err("override", "list", e))?;
            rows.map(|row| {
                let (instance_id, text, v) = row.map_err(|e| sql_err("override", "list", e))?;
                let schedules = parse_json("override", &instance_id, &text)?;
                Ok(Override {
                    instance_id,
                    schedules,
                    version: Version(v.to_string()),
                })
            })
            .collect()
        })
        .await
    }

    async fn put_adoption(&self, r: &AdoptionRecord) -> StoreResult<()> {
        let id = r.instance_id.clone();
        let text = json_text("adoption", &id, &r.schedules)?;
        let (at, by) = (time_key(r.at), r.by.clone());
        self.run(move |c| {
            c.execute(
                "INSERT INTO adoption (instance_id, at, adopted_by, schedules) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (instance_id) DO UPDATE SET at = excluded.at, \
                 adopted_by = excluded.adopted_by, schedules = excluded.schedules",
                params![id, at, by, text],
            )
            .map(|_| ())
            .map_err(|e| sql_err("adoption", &id, e))
        })
        .await
    }

    async fn get_adoption(&self, instance_id: &str) -> StoreResult<Option<AdoptionRecord>> {
        let id = instance_id.to_owned();
        self.run(move |c| {
            let row: Option<(String, String, String)> = c
                .query_row(
                    "SELECT at, adopted_by, schedules FROM adoption WHERE instance_id = ?1",
                    [&id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(|e| sql_err("adoption", &id, e))?;
            row.map(|(at, by, text)| {
                Ok(AdoptionRecord {
                    instance_id: id.clone(),
                    at: parse_time(&at).ok_or_else(|| corrupt("adoption", &id, "bad time"))?,
                    by,
                    schedules: parse_json("adoption", &id, &text)?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn append_audit(&self, records: &[AuditRecord]) -> StoreResult<()> {
        let records = records.to_vec();
        self.run(move |c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| sql_err("audit", "append", e))?;
            for r in &records {
                let details = json_text("audit", &r.kind, &r.details)?;
                tx.prepare_cached(
                    "INSERT INTO audit (at, kind, instance_id, occurrence_id, message, details) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        time_key(r.at),
                        r.kind,
                        r.instance_id,
                        r.occurrence_id,
                        r.message,
                        details
                    ])
                })
                .map_err(|e| sql_err("audit", &r.kind, e))?;
            }
            tx.commit().map_err(|e| sql_err("audit", "append", e))
        })
        .await
    }

    async fn audit_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<AuditRecord>> {
        self.run(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT at, kind, instance_id, occurrence_id, message, details FROM audit \
                     WHERE at >= ?1 AND at < ?2 ORDER BY at, id",
                )
                .map_err(|e| sql_err("audit", "range", e))?;
            let rows = stmt
                .query_map([time_key(from), time_key(to)], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                    ))
                })
                .map_err(|e| sql_err("audit", "range", e))?;
            rows.map(|row| {
                let (at, kind, instance_id, occurrence_id, message, details) =
                    row.map_err(|e| sql_err("audit", "range", e))?;
                Ok(AuditRecord {
                    at: parse_time(&at).ok_or_else(|| corrupt("audit", &at, "bad time"))?,
                    details: parse_json("audit", &at, &details)?,
                    kind,
                    instance_id,
                    occurrence_id,
                    message,
                })
            })
            .collect()
        })
        .await
    }

    async fn put_activity(&self, instance_id: &str, a: &Activity) -> StoreResult<bool> {
        let id = instance_id.to_owned();
        let details = json_text("activity", instance_id, &a.details)?;
        let (at, busy) = (time_key(a.at), a.busy);
        self.run(move |c| {
            c.execute(
                "INSERT INTO activity (instance_id, at, busy, details) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (instance_id) DO UPDATE SET at = excluded.at, busy = excluded.busy, \
                 details = excluded.details WHERE excluded.at >= activity.at",
                params![id, at, busy, details],
            )
            .map(|n| n == 1)
            .map_err(|e| sql_err("activity", &id, e))
        })
        .await
    }

    async fn get_activity(&self, instance_id: &str) -> StoreResult<Option<Activity>> {
        let id = instance_id.to_owned();
        self.run(move |c| {
            let row: Option<(String, bool, String)> = c
                .query_row(
                    "SELECT at, busy, details FROM activity WHERE instance_id = ?1",
                    [&id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(|e| sql_err("activity", &id, e))?;
            row.map(|(at, busy, details)| decode_activity(&id, &at, busy, &details))
                .transpose()
        })
        .await
    }

    async fn list_activity(&self) -> StoreResult<Vec<(String, Activity)>> {
        self.run(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT instance_id, at, busy, details FROM activity ORDER BY instance_id",
                )
                .map_err(|e| sql_err("activity", "list", e))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, bool>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                })
                .map_err(|e| sql_err("activity", "list", e))?;
            rows.map(|row| {
                let (id, at, busy, details) = row.map_err(|e| sql_err("activity", "list", e))?;
                let a = decode_activity(&id, &at, busy, &details)?;
                Ok((id, a))
            })
            .collect()
        })
        .await
    }

    async fn append_timeline(&self, records: &[TimelineRecord]) -> StoreResult<()> {
        self.append_timeline_rows(records).await
    }

    async fn timeline_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<TimelineRecord>> {
        self.timeline_rows(from, to).await
    }

    async fn put_timeline_states(&self, states: &[TimelineState]) -> StoreResult<()> {
        self.put_state_rows(states).await
    }

    async fn timeline_states(&self) -> StoreResult<Vec<TimelineState>> {
        self.state_rows().await
    }

    async fn outbox_record(&self, entries: &[OutboxEntry]) -> StoreResult<Vec<bool>> {
        let rows = entries.to_vec();
        self.run(move |c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| sql_err("outbox", "record", e))?;
            let mut out = Vec::with_capacity(rows.len());
            for e in &rows {
                let n = tx
                    .prepare_cached(
                        "INSERT INTO outbox (id, at, attempts, payload) VALUES (?1, ?2, ?3, ?4) \
                         ON CONFLICT (id) DO NOTHING",
                    )
                    .and_then(|mut s| {
                        s.execute(params![e.id, time_key(e.at), e.attempts, e.payload])
                    })
                    .map_err(|err| sql_err("outbox", &e.id, err))?;
                out.push(n == 1);
            }
            tx.commit().map_err(|e| sql_err("outbox", "record", e))?;
            Ok(out)
        })
        .await
    }

    async fn outbox_pending(&self, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT id, at, attempts, payload FROM outbox ORDER BY at, id LIMIT ?1",
                )
                .map_err(|e| sql_err("outbox", "pending", e))?;
            let rows = stmt
                .query_map([limit], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, u32>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                })
                .map_err(|e| sql_err("outbox", "pending", e))?;
            rows.map(|row| {
                let (id, at, attempts, payload) =
                    row.map_err(|e| sql_err("outbox", "pending", e))?;
                Ok(OutboxEntry {
                    at: parse_time(&at).ok_or_else(|| corrupt("outbox", &id, "bad time"))?,
                    id,
                    attempts,
                    payload,
                })
            })
            .collect()
        })
        .await
    }

    async fn outbox_update(&self, entries: &[OutboxEntry]) -> StoreResult<usize> {
        let rows = entries.to_vec();
        self.run(move |c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| sql_err("outbox", "update", e))?;
            let mut n = 0;
            for e in &rows {
                n += tx
                    .prepare_cached("UPDATE outbox SET attempts = ?2, payload = ?3 WHERE id = ?1")
                    .and_then(|mut s| s.execute(params![e.id, e.attempts, e.payload]))
                    .map_err(|err| sql_err("outbox", &e.id, err))?;
            }
            tx.commit().map_err(|e| sql_err("outbox", "update", e))?;
            Ok(n)
        })
        .await
    }

    async fn sweep(&self, before: DateTime<Utc>, limit: usize) -> StoreResult<usize> {
        let before = time_key(before);
        self.run(move |c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| sql_err("ledger", "sweep", e))?;
            let mut left = i64::try_from(limit).unwrap_or(i64::MAX);
            let ids: Vec<String> = {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT occurrence_id FROM ledger WHERE at < ?1 ORDER BY at LIMIT ?2",
                    )
                    .map_err(|e| sql_err("ledger", "sweep", e))?;
                let rows = stmt
                    .query_map(params![before, left], |r| r.get::<_, String>(0))
                    .map_err(|e| sql_err("ledger", "sweep", e))?;
                rows.collect::<Result<_, _>>()
                    .map_err(|e| sql_err("ledger", "sweep", e))?
            };
            for id in &ids {
                tx.prepare_cached(
                    "DELETE FROM notified WHERE occurrence_id = ?1 \
                     OR (occurrence_id >= ?1 || '@' AND occurrence_id < ?1 || 'A')",
                )
                .and_then(|mut s| s.execute([id]))
                .map_err(|e| sql_err("notified", id, e))?;
                tx.prepare_cached("DELETE FROM ledger WHERE occurrence_id = ?1")
                    .and_then(|mut s| s.execute([id]))
                    .map_err(|e| sql_err("ledger", id, e))?;
            }
            let mut n = ids.len();
            left -= n as i64;
            for (table, sql) in [
                (
                    "audit",
                    "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < ?1 ORDER BY at, id LIMIT ?2)",
                ),
                (
                    "timeline",
                    "DELETE FROM timeline WHERE id IN (SELECT id FROM timeline WHERE at < ?1 ORDER BY at, id LIMIT ?2)",
                ),
                (
                    "dismissal",
                    "DELETE FROM dismissal WHERE id IN (SELECT id FROM dismissal WHERE at < ?1 ORDER BY at, id LIMIT ?2)",
                ),
            ] {
                if left <= 0 {
                    break;
                }
                let k = tx
                    .prepare_cached(sql)
                    .and_then(|mut s| s.execute(params![before, left]))
                    .map_err(|e| sql_err(table, "sweep", e))?;
                n += k;
                left -= k as i64;
            }
            tx.commit().map_err(|e| sql_err("ledger", "sweep", e))?;
            Ok(n)
        })
        .await
    }

    async fn outbox_remove(&self, ids: &[String]) -> StoreResult<usize> {
        let ids = ids.to_vec();
        self.run(move |c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| sql_err("outbox", "remove", e))?;
            let mut n = 0;
            for id in &ids {
                n += tx
                    .prepare_cached("DELETE FROM outbox WHERE id = ?1")
                    .and_then(|mut s| s.execute([id]))
                    .map_err(|err| sql_err("outbox", id, err))?;
            }
            tx.commit().map_err(|e| sql_err("outbox", "remove", e))?;
            Ok(n)
        })
        .await
    }
}

impl SqliteStore {
    async fn append_timeline_rows(&self, records: &[TimelineRecord]) -> StoreResult<()> {
        let rows = records
            .iter()
            .map(|r| {
                Ok((
                    time_key(r.at),
                    r.instance.clone(),
                    json_text("timeline", &r.instance, &r.record)?,
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.run(move |c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| sql_err("timeline", "append", e))?;
            for (at, instance, record) in &rows {
                tx.prepare_cached(
                    "INSERT INTO timeline (at, instance, record) VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut s| s.execute(params![at, instance, record]))
                .map_err(|e| sql_err("timeline", instance, e))?;
            }
            tx.commit().map_err(|e| sql_err("timeline", "append", e))
        })
        .await
    }

    async fn timeline_rows(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<TimelineRecord>> {
        self.run(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT at, instance, record FROM timeline WHERE at >= ?1 AND at < ?2 \
                     ORDER BY at, id",
                )
                .map_err(|e| sql_err("timeline", "range", e))?;
            let rows = stmt
                .query_map([time_key(from), time_key(to)], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .map_err(|e| sql_err("timeline", "range", e))?;
            rows.map(|row| {
                let (at, instance, record) = row.map_err(|e| sql_err("timeline", "range", e))?;
                Ok(TimelineRecord {
                    at: parse_time(&at).ok_or_else(|| corrupt("timeline", &at, "bad time"))?,
                    record: parse_json("timeline", &instance, &record)?,
                    instance,
                })
            })
            .collect()
        })
        .await
    }

    async fn put_state_rows(&self, states: &[TimelineState]) -> StoreResult<()> {
        let rows: Vec<(String, String, String, Option<String>)> = states
            .iter()
            .map(|s| {
                (
                    s.instance_id.clone(),
                    time_key(s.at),
                    s.state.clone(),
                    s.meta.clone(),
                )
            })
            .collect();
        self.run(move |c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| sql_err("timeline_state", "put", e))?;
            for (id, at, state, meta) in &rows {
                tx.prepare_cached(
                    "INSERT INTO timeline_state (instance_id, at, state, meta) \
                     VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (instance_id) DO UPDATE SET at = excluded.at, \
                     state = excluded.state, meta = excluded.meta",
                )
                .and_then(|mut s| s.execute(params![id, at, state, meta]))
                .map_err(|e| sql_err("timeline_state", id, e))?;
            }
            tx.commit().map_err(|e| sql_err("timeline_state", "put", e))
        })
        .await
    }

    async fn state_rows(&self) -> StoreResult<Vec<TimelineState>> {
        self.run(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT instance_id, at, state, meta FROM timeline_state \
                     ORDER BY instance_id",
                )
                .map_err(|e| sql_err("timeline_state", "list", e))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                    ))
                })
                .map_err(|e| sql_err("timeline_state", "list", e))?;
            rows.map(|row| {
                let (instance_id, at, state, meta) =
                    row.map_err(|e| sql_err("timeline_state", "list", e))?;
                Ok(TimelineState {
                    at: parse_time(&at)
                        .ok_or_else(|| corrupt("timeline_state", &instance_id, "bad time"))?,
                    instance_id,
                    state,
                    meta,
                })
            })
            .collect()
        })
        .await
    }
}

/// Writes an override under a new version (one the counter never issued before, so a version
/// never returns after a delete) inside the caller's transaction; returns that version.
fn write_override(tx: &rusqlite::Transaction<'_>, id: &str, text: &str) -> StoreResult<i64> {
    let err = |e| sql_err("override", id, e);
    tx.execute("UPDATE override_counter SET n = n + 1 WHERE id = 0", [])
        .map_err(err)?;
    tx.execute(
        "INSERT INTO override (instance_id, schedules, version) \
         VALUES (?1, ?2, (SELECT n FROM override_counter WHERE id = 0)) \
         ON CONFLICT (instance_id) DO UPDATE SET schedules = excluded.schedules, \
         version = excluded.version",
        params![id, text],
    )
    .map_err(err)?;
    tx.query_row("SELECT n FROM override_counter WHERE id = 0", [], |r| {
        r.get(0)
    })
    .map_err(err)
}

fn decode_activity(id: &str, at: &str, busy: bool, details: &str) -> StoreResult<Activity> {
    Ok(Activity {
        at: parse_time(at).ok_or_else(|| corrupt("activity", id, "bad time"))?,
        busy,
        details: parse_json("activity", id, details)?,
    })
}
