//! `TableStore`: Azure Table Storage over its REST API (JSON, OData minimal metadata).
//!
//! One table holds everything; the PartitionKey names the record kind (`ledger`,
//! `watermark`, `notified`, `dismissal`, `override`, `adoption`, `audit`, `activity`) and the RowKey is the
//! escaped record key (see `docs/store.md`). Compare-and-set uses `If-Match` with the entity's
//! ETag (412 → [`StoreError::Conflict`]); insert-if-absent is a plain insert
//! (409 → [`StoreError::AlreadyExists`]); queries follow continuation tokens; bulk inserts go
//! in `$batch` changesets of at most 100 entities of one partition.

mod batch;
mod conn;
mod http;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use curfew_plumbing::{random_seed, Clock, RetryPolicy, TokioClock};
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

pub use conn::{TableConfig, TokenSource, DEV_ACCOUNT, STORAGE_SCOPE};
pub use http::DEFAULT_RETRY;

use crate::error::{StoreError, StoreResult};
use crate::keys::{encode_key, hour_key, parse_time, time_key};
use crate::model::{
    Activity, AdoptionRecord, AuditRecord, Dismissal, DismissalChoice, LedgerAction, LedgerEntry,
    LedgerState, MarkKind, OutboxEntry, Override, TimelineRecord, TimelineState, Version,
    Versioned,
};
use crate::store::{StateStore, LEGACY_NONCE_PREFIX};
use http::{pct, send, Req, Resp};

/// Partition of each record kind.
const P_WATERMARK: &str = "watermark";
/// The ledger of one UTC day of occurrences is `ledger-YYYYMMDD` ([`ledger_partition`]).
const P_LEDGER_DAY: &str = "ledger-";
/// The first key after every day partition of the ledger.
const P_LEDGER_END: &str = "ledger.";
/// The one ledger partition of earlier builds (no longer read; the sweep deletes it).
const LEGACY_LEDGER: &str = "ledger";
/// Which day partition holds an occurrence id (written before the entry, never changed).
const P_LEDGER_ID: &str = "ledgerid";
const P_NOTIFIED: &str = "notified";
/// Occurrences whose notice marks one query reads: Table Storage allows 15 comparisons in a
/// `$filter`, the partition's and two per RowKey range.
const NOTIFIED_PER_QUERY: usize = 7;
const P_DISMISSAL: &str = "dismissal";
const P_OVERRIDE: &str = "override";
const P_ADOPTION: &str = "adoption";
const P_AUDIT: &str = "audit";
const P_ACTIVITY: &str = "activity";
const P_TIMELINE: &str = "timeline";
const P_TIMELINE_STATE: &str = "timelinestate";
const P_OUTBOX: &str = "outbox";
/// Timed marks are `mark-<kind>-YYYYMMDDHH` ([`mark_partition`]): one partition per kind and
/// UTC hour, so the sweep of old hours is a PartitionKey range, never a scan.
const P_MARK: &str = "mark-";

/// The partition of a timed mark of `kind` at `at`.
fn mark_partition(kind: MarkKind, at: DateTime<Utc>) -> String {
    format!("{P_MARK}{}-{}", kind.as_str(), hour_key(at))
}

/// Default table name.
pub const DEFAULT_TABLE: &str = "curfew";

/// Per-request timeout of the HTTP client.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an idle pooled connection is kept: under the 5 s Azurite announces
/// (`Keep-Alive: timeout=5`; a connection idle 6 s is closed without a response, checked on
/// 2026-12-04), so a write is never sent on a connection the server is closing, which could
/// not be retried (reqwest keeps 90 s by default). A tick's requests still share one.
pub(crate) const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// How many times `put_activity` re-reads after losing a compare-and-set race.
const ACTIVITY_CAS_ROUNDS: usize = 16;

const JSON: &str = "application/json";
const ACCEPT_JSON: (&str, &str) = ("Accept", "application/json;odata=minimalmetadata");

type Entity = Map<String, Value>;

/// Table Storage-backed [`StateStore`] for deployed governors: any number of processes can
/// share one table; all coordination goes through ETags.
pub struct TableStore {
    client: reqwest::Client,
    config: TableConfig,
    table: String,
    retry: RetryPolicy,
    /// Times retries and stamps `x-ms-date`.
    clock: Arc<dyn Clock>,
    /// Random per handle: jitter seed and the unique suffix of append-only row keys.
    nonce: u64,
    seq: AtomicU64,
    /// Day partition of every occurrence id this handle has read or written (a cache of the
    /// `ledgerid` pointers; the partition of an id never changes), so a claim after a tick's
    /// read costs no pointer lookup. Cleared when it grows past [`PARTITION_CACHE`].
    partitions: std::sync::Mutex<std::collections::HashMap<String, String>>,
    /// Requests sent (each page of a query, each `$batch`), for cost figures.
    requests: AtomicU64,
}

/// Most occurrence ids whose partition a handle remembers.
const PARTITION_CACHE: usize = 200_000;

/// The ledger partition of occurrences at `at`: one per UTC day, so a tick's window reads a
/// few small partitions, however long the history.
fn ledger_partition(at: DateTime<Utc>) -> String {
    format!("{P_LEDGER_DAY}{}", at.format("%Y%m%d"))
}

impl std::fmt::Debug for TableStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableStore")
            .field("endpoint", &self.config.endpoint)
            .field("table", &self.table)
            .field("credential", &self.config.credential)
            .finish()
    }
}

fn valid_table_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
        && !name.eq_ignore_ascii_case("tables")
}

/// OData string literal (single quotes doubled).
fn lit(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl TableStore {
    /// Connects to `table` (created if missing) with the given endpoint and credential.
    pub async fn open(config: TableConfig, table: &str) -> StoreResult<Self> {
        Self::open_with_retry(config, table, DEFAULT_RETRY).await
    }

    /// Like [`TableStore::open`] with an explicit retry policy.
    pub async fn open_with_retry(
        config: TableConfig,
        table: &str,
        retry: RetryPolicy,
    ) -> StoreResult<Self> {
        Self::open_with_clock(config, table, retry, Arc::new(TokioClock::default())).await
    }

    /// Like [`TableStore::open_with_retry`], with retry waits, `Retry-After` dates and
    /// `x-ms-date` on `clock` (tests pass a `ManualClock`; a real service needs real time).
    pub async fn open_with_clock(
        config: TableConfig,
        table: &str,
        retry: RetryPolicy,
        clock: Arc<dyn Clock>,
    ) -> StoreResult<Self> {
        if !valid_table_name(table) {
            return Err(StoreError::Config(format!(
                "table storage: invalid table name {table:?} (3-63 letters/digits, starting \
                 with a letter)"
            )));
        }
        // reqwest is built without a bundled crypto provider; use ring unless the process
        // already chose one (then `install_default` fails harmlessly and that one is used).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build()
            .map_err(|e| StoreError::Config(format!("table storage HTTP client: {e}")))?;
        let nonce = random_seed();
        let store = Self {
            client,
            config,
            table: table.to_owned(),
            retry,
            clock,
            nonce,
            seq: AtomicU64::new(0),
            partitions: Default::default(),
            requests: AtomicU64::new(0),
        };
        store.create_table().await?;
        Ok(store)
    }

    /// The table this handle reads and writes.
    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// Requests this handle has sent to the service (query pages, entity operations,
    /// `$batch`es; retries not counted): what the cost figures of docs/benchmarks.md count.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// What the table holds: entities and their billed size per partition kind (a day's
    /// `ledger-YYYYMMDD` counts as `ledger-*`, an hour's `mark-nonce-YYYYMMDDHH` as `mark-nonce-*`), by reading every entity; for the storage-growth
    /// figures of docs/benchmarks.md, not for ticks.
    pub async fn footprint(&self) -> StoreResult<Footprint> {
        let mut out = Footprint::default();
        for m in self.query("footprint", "PartitionKey gt ''").await? {
            let pk = m.get(PK).and_then(Value::as_str).unwrap_or_default();
            let kind = match pk.strip_prefix("ledger-") {
                Some(_) => "ledger-*".to_owned(),
                None => match pk.rsplit_once('-').filter(|_| pk.starts_with(P_MARK)) {
                    Some((kind, _)) => format!("{kind}-*"),
                    None => pk.to_owned(),
                },
            };
            let size = entity_size(&m);
            let slot = out.by_kind.entry(kind).or_default();
            slot.0 += 1;
            slot.1 += size;
            out.entities += 1;
            out.bytes += size;
        }
        Ok(out)
    }

    /// Benchmarks only: writes settled history straight into its day partitions, without the
    /// `ledgerid` pointers a tick never reads (Azurite checks each insert against its whole
    /// partition, so 600 000 pointers in one partition load in quadratic time).
    #[doc(hidden)]
    pub async fn seed_history(&self, entries: &[LedgerEntry]) -> StoreResult<()> {
        let mut by_day: std::collections::BTreeMap<String, Vec<Entity>> = Default::default();
        for e in entries {
            by_day
                .entry(ledger_partition(e.at))
                .or_default()
                .push(ledger_entity(e)?);
        }
        // Loading hundreds of thousands of rows, a `$batch` now and then loses its connection
        // on a loaded machine. Inserting again is safe: rows already there answer 409 and
        // are skipped (`insert_batched`), so each changeset is retried a few times.
        for ents in by_day.values() {
            for chunk in ents.chunks(batch::MAX_BATCH) {
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    match self.insert_batched("ledger", chunk).await {
                        Ok(_) => break,
                        Err(e) if e.is_retryable() && attempt < 5 => {
                            eprintln!("seeding: changeset sent again (attempt {attempt}): {e}");
                            self.clock
                                .sleep(std::time::Duration::from_millis(500))
                                .await;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(())
    }

    async fn call(&self, req: Req<'_>) -> StoreResult<Resp> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let seed = self.nonce ^ self.seq.fetch_add(1, Ordering::Relaxed);
        send(
            &self.client,
            &self.config.credential,
            &self.retry,
            self.clock.as_ref(),
            seed,
            req,
        )
        .await
    }

    fn unique(&self) -> String {
        format!(
            "{:016x}{:016x}",
            self.nonce,
            self.seq.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn table_url(&self) -> String {
        format!("{}/{}", self.config.endpoint, self.table)
    }

    fn entity_url(&self, pk: &str, rk: &str) -> String {
        // Keys are produced by `encode_key`/`time_key`: no quotes or URL-special characters.
        format!(
            "{}/{}(PartitionKey='{pk}',RowKey='{rk}')",
            self.config.endpoint, self.table
        )
    }

    async fn create_table(&self) -> StoreResult<()> {
        let resp = self
            .call(Req {
                method: Method::POST,
                url: format!("{}/Tables", self.config.endpoint),
                query: String::new(),
                content_type: JSON,
                body: json!({ "TableName": self.table }).to_string().into_bytes(),
                headers: vec![
                    (ACCEPT_JSON.0, ACCEPT_JSON.1.into()),
                    ("Prefer", "return-no-content".into()),
                ],
                table: "tables",
                idempotent: false,
            })
            .await?;
        match resp.status.as_u16() {
            201 | 204 | 409 => Ok(()),
            _ => Err(unexpected("tables", &self.table, &resp)),
        }
    }

    async fn get_entity(
        &self,
        table: &'static str,
        pk: &str,
        rk: &str,
    ) -> StoreResult<Option<(Entity, String)>> {
        let resp = self
            .call(Req {
                method: Method::GET,
                url: self.entity_url(pk, rk),
                query: String::new(),
                content_type: "",
                body: Vec::new(),
                headers: vec![(ACCEPT_JSON.0, ACCEPT_JSON.1.into())],
                table,
                idempotent: false,
            })
            .await?;
        match resp.status.as_u16() {
            200 => {
                let entity = parse_entity(table, rk, &resp.body)?;
                let etag = resp
                    .header("etag")
                    .map(str::to_owned)
                    .or_else(|| entity.get("odata.etag")?.as_str().map(str::to_owned))
                    .ok_or_else(|| corrupt(table, rk, "no ETag"))?;
                Ok(Some((entity, etag)))
            }
            404 => Ok(None),
            _ => Err(unexpected(table, rk, &resp)),
        }
    }

    /// Insert-if-absent; returns the new ETag.
    async fn insert_entity(
        &self,
        table: &'static str,
        key: &str,
        entity: &Entity,
    ) -> StoreResult<String> {
        let resp = self
            .call(Req {
                method: Method::POST,
                url: self.table_url(),
                query: String::new(),
                content_type: JSON,
                body: serde_json::to_vec(entity).map_err(|e| corrupt(table, key, e.to_string()))?,
                headers: vec![
                    (ACCEPT_JSON.0, ACCEPT_JSON.1.into()),
                    ("Prefer", "return-no-content".into()),
                ],
                table,
                idempotent: false,
            })
            .await?;
        match resp.status.as_u16() {
            201 | 204 => etag_of(table, key, &resp),
            409 => Err(StoreError::AlreadyExists {
                table,
                key: key.to_owned(),
            }),
            _ => Err(unexpected(table, key, &resp)),
        }
    }

    /// Replace; with `if_match` a compare-and-set (412 → Conflict, 404 → NotFound), without
    /// it an upsert. Returns the new ETag.
    async fn put_entity(
        &self,
        table: &'static str,
        key: &str,
        entity: &Entity,
        if_match: Option<&str>,
    ) -> StoreResult<String> {
        let pk = entity.get(PK).and_then(Value::as_str).unwrap_or_default();
        let rk = entity.get(RK).and_then(Value::as_str).unwrap_or_default();
        let mut headers = vec![(ACCEPT_JSON.0, ACCEPT_JSON.1.to_owned())];
        if let Some(tag) = if_match {
            headers.push(("If-Match", tag.to_owned()));
        }
        let resp = self
            .call(Req {
                method: Method::PUT,
                url: self.entity_url(pk, rk),
                query: String::new(),
                content_type: JSON,
                body: serde_json::to_vec(entity).map_err(|e| corrupt(table, key, e.to_string()))?,
                headers,
                table,
                idempotent: false,
            })
            .await?;
        match resp.status.as_u16() {
            200 | 201 | 204 => etag_of(table, key, &resp),
            412 => Err(StoreError::Conflict {
                table,
                key: key.to_owned(),
            }),
            404 => Err(StoreError::NotFound {
                table,
                key: key.to_owned(),
            }),
            _ => Err(unexpected(table, key, &resp)),
        }
    }

    async fn delete_entity(
        &self,
        table: &'static str,
        key: &str,
        pk: &str,
        rk: &str,
    ) -> StoreResult<bool> {
        self.delete_entity_at(table, key, pk, rk, "*").await
    }

    /// Delete if the entity's ETag is still `if_match` (`*`: any): `false` if it is gone, or
    /// changed (412) and so kept.
    async fn delete_entity_at(
        &self,
        table: &'static str,
        key: &str,
        pk: &str,
        rk: &str,
        if_match: &str,
    ) -> StoreResult<bool> {
        let resp = self
            .call(Req {
                method: Method::DELETE,
                url: self.entity_url(pk, rk),
                query: String::new(),
                content_type: "",
                body: Vec::new(),
                headers: vec![
                    (ACCEPT_JSON.0, ACCEPT_JSON.1.into()),
                    ("If-Match", if_match.to_owned()),
                ],
                table,
                idempotent: false,
            })
            .await?;
        match resp.status.as_u16() {
            200 | 204 => Ok(true),
            404 | 412 => Ok(false),
            _ => Err(unexpected(table, key, &resp)),
        }
    }

    /// The rows of `partition` whose row keys lie in `[lo, hi)`, in row-key order: the range
    /// read behind the prefix and time-window lookups.
    async fn query_row_range(
        &self,
        table: &'static str,
        partition: &str,
        lo: &str,
        hi: &str,
    ) -> StoreResult<Vec<Entity>> {
        let filter = format!(
            "PartitionKey eq {} and RowKey ge {} and RowKey lt {}",
            lit(partition),
            lit(lo),
            lit(hi)
        );
        let mut rows = self.query(table, &filter).await?;
        rows.sort_by(|a, b| row_key(a).cmp(row_key(b)));
        Ok(rows)
    }

    /// Runs a filter query, following continuation tokens until the last page.
    async fn query(&self, table: &'static str, filter: &str) -> StoreResult<Vec<Entity>> {
        let mut out = Vec::new();
        let mut next: Option<(String, Option<String>)> = None;
        loop {
            let mut query = format!("$filter={}", pct(filter));
            if let Some((npk, nrk)) = &next {
                query.push_str(&format!("&NextPartitionKey={}", pct(npk)));
                if let Some(nrk) = nrk {
                    query.push_str(&format!("&NextRowKey={}", pct(nrk)));
                }
            }
            let resp = self
                .call(Req {
                    method: Method::GET,
                    url: format!("{}()", self.table_url()),
                    query,
                    content_type: "",
                    body: Vec::new(),
                    headers: vec![(ACCEPT_JSON.0, ACCEPT_JSON.1.into())],
                    table,
                    idempotent: false,
                })
                .await?;
            if resp.status != StatusCode::OK {
                return Err(unexpected(table, filter, &resp));
            }
            let page: Value = serde_json::from_slice(&resp.body)
                .map_err(|e| corrupt(table, filter, format!("query response: {e}")))?;
            match page.get("value") {
                Some(Value::Array(items)) => {
                    for item in items {
                        match item {
                            Value::Object(m) => out.push(m.clone()),
                            _ => return Err(corrupt(table, filter, "entity is not an object")),
                        }
                    }
                }
                _ => return Err(corrupt(table, filter, "query response without value")),
            }
            let npk = resp.header("x-ms-continuation-NextPartitionKey");
            let nrk = resp.header("x-ms-continuation-NextRowKey");
            match npk {
                Some(npk) => next = Some((npk.to_owned(), nrk.map(str::to_owned))),
                None => return Ok(out),
            }
        }
    }

    /// One page of a filter query: at most `top` (≤ 1000) entities, no continuation (the
    /// sweep takes the rest on its next call).
    async fn query_page(
        &self,
        table: &'static str,
        filter: &str,
        top: usize,
    ) -> StoreResult<Vec<Entity>> {
        if top == 0 {
            return Ok(Vec::new());
        }
        let resp = self
            .call(Req {
                method: Method::GET,
                url: format!("{}()", self.table_url()),
                query: format!("$filter={}&$top={}", pct(filter), top.min(1000)),
                content_type: "",
                body: Vec::new(),
                headers: vec![(ACCEPT_JSON.0, ACCEPT_JSON.1.into())],
                table,
                idempotent: false,
            })
            .await?;
        if resp.status != StatusCode::OK {
            return Err(unexpected(table, filter, &resp));
        }
        let page: Value = serde_json::from_slice(&resp.body)
            .map_err(|e| corrupt(table, filter, format!("query response: {e}")))?;
        match page.get("value") {
            Some(Value::Array(items)) => Ok(items
                .iter()
                .filter_map(|v| v.as_object().cloned())
                .collect()),
            _ => Err(corrupt(table, filter, "query response without value")),
        }
    }

    /// Deletes `(PartitionKey, RowKey)`s in changesets of ≤ 100 per partition; returns how
    /// many existed. A changeset that meets an entity already gone (404, atomic: nothing
    /// applied) is redone entity by entity.
    async fn delete_batched(
        &self,
        table: &'static str,
        mut keys: Vec<(String, String)>,
    ) -> StoreResult<usize> {
        keys.sort();
        keys.dedup();
        let mut n = 0;
        for group in keys.chunk_by(|a, b| a.0 == b.0) {
            for chunk in group.chunks(batch::MAX_BATCH) {
                let urls: Vec<String> = chunk
                    .iter()
                    .map(|(pk, rk)| self.entity_url(pk, rk))
                    .collect();
                let seed = self.nonce ^ self.seq.fetch_add(1, Ordering::Relaxed);
                let (content_type, body) = batch::delete_changeset(&urls, seed);
                let resp = self
                    .call(Req {
                        method: Method::POST,
                        url: format!("{}/$batch", self.config.endpoint),
                        query: String::new(),
                        content_type: &content_type,
                        body,
                        headers: vec![(ACCEPT_JSON.0, ACCEPT_JSON.1.into())],
                        table,
                        // A delete sent again meets 404s, which are redone entity by entity below.
                        idempotent: true,
                    })
                    .await?;
                if resp.status.as_u16() != 202 {
                    return Err(unexpected(table, "$batch", &resp));
                }
                let statuses = batch::statuses(&resp.body);
                if statuses.len() == chunk.len() && statuses.iter().all(|s| (200..300).contains(s))
                {
                    n += chunk.len();
                } else if statuses.contains(&404) {
                    for (pk, rk) in chunk {
                        if self.delete_entity(table, rk, pk, rk).await? {
                            n += 1;
                        }
                    }
                } else {
                    return Err(StoreError::Unavailable {
                        table,
                        detail: format!("$batch: operation statuses {statuses:?}"),
                    });
                }
            }
        }
        Ok(n)
    }

    /// Inserts entities of one partition in changesets of ≤ 100. Per entity: `Some(true)`
    /// inserted, `Some(false)` already there. A changeset rejected with 409 is retried entity
    /// by entity (the changeset was atomic, so none of it was applied).
    async fn insert_batched(
        &self,
        table: &'static str,
        entities: &[Entity],
    ) -> StoreResult<Vec<bool>> {
        let mut out = Vec::with_capacity(entities.len());
        for chunk in entities.chunks(batch::MAX_BATCH) {
            let seed = self.nonce ^ self.seq.fetch_add(1, Ordering::Relaxed);
            let values: Vec<Value> = chunk.iter().cloned().map(Value::Object).collect();
            let (content_type, body) = batch::insert_changeset(&self.table_url(), &values, seed);
            let resp = self
                .call(Req {
                    method: Method::POST,
                    url: format!("{}/$batch", self.config.endpoint),
                    query: String::new(),
                    content_type: &content_type,
                    body,
                    headers: vec![(ACCEPT_JSON.0, ACCEPT_JSON.1.into())],
                    table,
                    idempotent: false,
                })
                .await?;
            if resp.status.as_u16() != 202 {
                return Err(unexpected(table, "$batch", &resp));
            }
            let statuses = batch::statuses(&resp.body);
            if statuses.len() == chunk.len() && statuses.iter().all(|s| (200..300).contains(s)) {
                out.extend(std::iter::repeat_n(true, chunk.len()));
            } else if statuses.contains(&409) {
                for e in chunk {
                    let key = e.get(RK).and_then(Value::as_str).unwrap_or_default();
                    match self.insert_entity(table, key, e).await {
                        Ok(_) => out.push(true),
                        Err(StoreError::AlreadyExists { .. }) => out.push(false),
                        Err(other) => return Err(other),
                    }
                }
            } else {
                return Err(match statuses.iter().find(|s| !(200..300).contains(*s)) {
                    Some(s) if *s >= 500 => StoreError::Unavailable {
                        table,
                        detail: format!("$batch: operation failed with HTTP {s}"),
                    },
                    Some(s) => StoreError::Backend {
                        table,
                        detail: format!("$batch: operation failed with HTTP {s}"),
                    },
                    None => corrupt(table, "$batch", "unreadable batch response"),
                });
            }
        }
        Ok(out)
    }
}

impl TableStore {
    /// Ledger entries matching `filter`, each remembered with its partition.
    async fn ledger_rows(&self, filter: &str) -> StoreResult<Vec<Versioned<LedgerEntry>>> {
        let rows = self.query("ledger", filter).await?;
        let mut out = Vec::with_capacity(rows.len());
        for m in &rows {
            let e = ledger_from(m, None)?;
            if let Some(pk) = m.get(PK).and_then(Value::as_str) {
                self.remember(&e.value.occurrence_id, pk.to_owned());
            }
            out.push(e);
        }
        Ok(out)
    }

    fn remember(&self, occurrence_id: &str, partition: String) {
        let mut cache = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= PARTITION_CACHE {
            cache.clear();
        }
        cache.insert(occurrence_id.to_owned(), partition);
    }

    /// The day partition of an occurrence id: remembered, else its `ledgerid` pointer.
    async fn partition_of(&self, occurrence_id: &str) -> StoreResult<Option<String>> {
        if let Some(pk) = self
            .partitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(occurrence_id)
        {
            return Ok(Some(pk.clone()));
        }
        let Some((m, _)) = self
            .get_entity("ledger", P_LEDGER_ID, &encode_key(occurrence_id))
            .await?
        else {
            return Ok(None);
        };
        let pk = Props::new("ledger", &m).str("Partition")?;
        self.remember(occurrence_id, pk.clone());
        Ok(Some(pk))
    }
}

/// The `ledgerid` pointer of an entry: which day partition holds it.
fn pointer_entity(e: &LedgerEntry) -> Entity {
    let mut m = Entity::new();
    m.insert(PK.into(), P_LEDGER_ID.into());
    m.insert(RK.into(), encode_key(&e.occurrence_id).into());
    m.insert("Partition".into(), ledger_partition(e.at).into());
    m
}

const PK: &str = "PartitionKey";
const RK: &str = "RowKey";

fn row_key(m: &Entity) -> &str {
    m.get(RK).and_then(Value::as_str).unwrap_or_default()
}

fn etag_of(table: &'static str, key: &str, resp: &Resp) -> StoreResult<String> {
    resp.header("etag")
        .map(str::to_owned)
        .ok_or_else(|| corrupt(table, key, "write response without ETag"))
}

fn parse_entity(table: &'static str, key: &str, body: &[u8]) -> StoreResult<Entity> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(corrupt(table, key, "entity is not a JSON object")),
        Err(e) => Err(corrupt(table, key, e.to_string())),
    }
}

fn unexpected(table: &'static str, key: &str, resp: &Resp) -> StoreError {
    let detail = format!("{key}: {}", resp.error_detail());
    if resp.status.is_server_error() || resp.status == StatusCode::REQUEST_TIMEOUT {
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

/// Typed reads of entity properties, with errors naming the record.
struct Props<'a> {
    table: &'static str,
    key: String,
    m: &'a Entity,
}

impl<'a> Props<'a> {
    fn new(table: &'static str, m: &'a Entity) -> Self {
        let key = m.get(RK).and_then(Value::as_str).unwrap_or("?").to_owned();
        Self { table, key, m }
    }
    fn err(&self, field: &str, what: &str) -> StoreError {
        corrupt(self.table, &self.key, format!("{field}: {what}"))
    }
    fn opt_str(&self, field: &str) -> StoreResult<Option<String>> {
        match self.m.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.err(field, "not a string")),
        }
    }
    fn str(&self, field: &str) -> StoreResult<String> {
        self.opt_str(field)?
            .ok_or_else(|| self.err(field, "missing"))
    }
    fn opt_time(&self, field: &str) -> StoreResult<Option<DateTime<Utc>>> {
        self.opt_str(field)?
            .map(|t| parse_time(&t).ok_or_else(|| self.err(field, "bad time")))
            .transpose()
    }
    fn time(&self, field: &str) -> StoreResult<DateTime<Utc>> {
        self.opt_time(field)?
            .ok_or_else(|| self.err(field, "missing"))
    }
    fn opt_u32(&self, field: &str) -> StoreResult<Option<u32>> {
        match self.m.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.err(field, "not a small non-negative integer")),
        }
    }
    fn bool(&self, field: &str) -> StoreResult<bool> {
        self.m
            .get(field)
            .and_then(Value::as_bool)
            .ok_or_else(|| self.err(field, "missing or not a boolean"))
    }
    fn json(&self, field: &str) -> StoreResult<Value> {
        serde_json::from_str(&self.str(field)?).map_err(|e| self.err(field, &e.to_string()))
    }
    fn etag(&self) -> StoreResult<Version> {
        self.opt_str("odata.etag")?
            .map(Version)
            .ok_or_else(|| self.err("odata.etag", "missing"))
    }
}

fn int32(table: &'static str, key: &str, field: &str, n: u32) -> StoreResult<Value> {
    i32::try_from(n)
        .map(Value::from)
        .map_err(|_| StoreError::Backend {
            table,
            detail: format!("{key}: {field} {n} exceeds Int32"),
        })
}

fn ledger_entity(e: &LedgerEntry) -> StoreResult<Entity> {
    let mut m = Entity::new();
    m.insert(PK.into(), ledger_partition(e.at).into());
    m.insert(RK.into(), encode_key(&e.occurrence_id).into());
    m.insert("OccurrenceId".into(), e.occurrence_id.clone().into());
    m.insert("InstanceId".into(), e.instance_id.clone().into());
    m.insert("Schedule".into(), e.schedule.clone().into());
    m.insert("Action".into(), e.action.as_str().into());
    m.insert("At".into(), time_key(e.at).into());
    m.insert("State".into(), e.state.as_str().into());
    if let Some(t) = e.snoozed_until {
        m.insert("SnoozedUntil".into(), time_key(t).into());
    }
    m.insert(
        "Attempts".into(),
        int32("ledger", &e.occurrence_id, "Attempts", e.attempts)?,
    );
    m.insert("Reason".into(), e.reason.clone().into());
    if let Some(o) = &e.outcome {
        m.insert("Outcome".into(), o.clone().into());
    }
    m.insert("UpdatedAt".into(), time_key(e.updated_at).into());
    Ok(m)
}

fn ledger_from(m: &Entity, version: Option<Version>) -> StoreResult<Versioned<LedgerEntry>> {
    let p = Props::new("ledger", m);
    let action = p.str("Action")?;
    let state = p.str("State")?;
    let value = LedgerEntry {
        occurrence_id: p.str("OccurrenceId")?,
        instance_id: p.str("InstanceId")?,
        schedule: p.str("Schedule")?,
        action: LedgerAction::parse(&action).ok_or_else(|| p.err("Action", &action))?,
        at: p.time("At")?,
        state: LedgerState::parse(&state).ok_or_else(|| p.err("State", &state))?,
        snoozed_until: p.opt_time("SnoozedUntil")?,
        attempts: p
            .opt_u32("Attempts")?
            .ok_or_else(|| p.err("Attempts", "missing"))?,
        reason: p.str("Reason")?,
        outcome: p.opt_str("Outcome")?,
        updated_at: p.time("UpdatedAt")?,
    };
    let version = match version {
        Some(v) => v,
        None => p.etag()?,
    };
    Ok(Versioned { value, version })
}

fn sort_ledger(v: &mut [Versioned<LedgerEntry>]) {
    v.sort_by(|a, b| {
        (a.value.at, &a.value.occurrence_id).cmp(&(b.value.at, &b.value.occurrence_id))
    });
}

fn activity_from(m: &Entity) -> StoreResult<(String, Activity)> {
    let p = Props::new("activity", m);
    Ok((
        p.str("InstanceId")?,
        Activity {
            at: p.time("At")?,
            busy: p.bool("Busy")?,
            details: p.json("Details")?,
        },
    ))
}

fn timeline_state_from(m: &Entity) -> StoreResult<TimelineState> {
    let p = Props::new("timeline_state", m);
    Ok(TimelineState {
        instance_id: p.str("InstanceId")?,
        at: p.time("At")?,
        state: p.str("State")?,
        meta: p.opt_str("Meta")?,
    })
}

fn outbox_entity(e: &OutboxEntry) -> StoreResult<Entity> {
    let mut m = Entity::new();
    m.insert(PK.into(), P_OUTBOX.into());
    m.insert(RK.into(), encode_key(&e.id).into());
    m.insert("Id".into(), e.id.clone().into());
    m.insert("At".into(), time_key(e.at).into());
    m.insert(
        "Attempts".into(),
        int32("outbox", &e.id, "Attempts", e.attempts)?,
    );
    m.insert("Payload".into(), e.payload.clone().into());
    Ok(m)
}

fn json_text(table: &'static str, key: &str, v: &Value) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| corrupt(table, key, e.to_string()))
}

#[async_trait]
impl StateStore for TableStore {
    async fn get_watermark(&self, scope: &str) -> StoreResult<Option<DateTime<Utc>>> {
        match self
            .get_entity("watermark", P_WATERMARK, &encode_key(scope))
            .await?
        {
            None => Ok(None),
            Some((m, _)) => Props::new("watermark", &m).time("At").map(Some),
        }
    }

    async fn set_watermark(
        &self,
        scope: &str,
        expected: Option<DateTime<Utc>>,
        new: DateTime<Utc>,
    ) -> StoreResult<()> {
        let rk = encode_key(scope);
        let mut m = Entity::new();
        m.insert(PK.into(), P_WATERMARK.into());
        m.insert(RK.into(), rk.clone().into());
        m.insert("Scope".into(), scope.into());
        m.insert("At".into(), time_key(new).into());
        let conflict = || StoreError::Conflict {
            table: "watermark",
            key: scope.to_owned(),
        };
        match expected {
            None => match self.insert_entity("watermark", scope, &m).await {
                Err(StoreError::AlreadyExists { .. }) => Err(conflict()),
                other => other.map(|_| ()),
            },
            Some(old) => {
                let Some((cur, etag)) = self.get_entity("watermark", P_WATERMARK, &rk).await?
                else {
                    return Err(conflict());
                };
                if Props::new("watermark", &cur).time("At")? != old {
                    return Err(conflict());
                }
                match self.put_entity("watermark", scope, &m, Some(&etag)).await {
                    Err(StoreError::NotFound { .. }) => Err(conflict()),
                    other => other.map(|_| ()),
                }
            }
        }
    }

    async fn get_entry(&self, occurrence_id: &str) -> StoreResult<Option<Versioned<LedgerEntry>>> {
        let Some(pk) = self.partition_of(occurrence_id).await? else {
            return Ok(None);
        };
        match self
            .get_entity("ledger", &pk, &encode_key(occurrence_id))
            .await?
        {
            None => Ok(None),
            Some((m, etag)) => ledger_from(&m, Some(Version(etag))).map(Some),
        }
    }

    async fn insert_entry(&self, entry: &LedgerEntry) -> StoreResult<Version> {
        // The pointer first: an entry is never there without one (a pointer without an entry,
        // left by a crash, reads as absent).
        match self
            .insert_entity("ledger", &entry.occurrence_id, &pointer_entity(entry))
            .await
        {
            Ok(_) | Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
        self.remember(&entry.occurrence_id, ledger_partition(entry.at));
        self.insert_entity("ledger", &entry.occurrence_id, &ledger_entity(entry)?)
            .await
            .map(Version)
    }

    async fn insert_entries(&self, entries: &[LedgerEntry]) -> StoreResult<Vec<bool>> {
        // A changeset may not touch one entity twice: later duplicates are "already there".
        let mut seen = HashSet::new();
        let mut slots = Vec::with_capacity(entries.len());
        let mut pointers = Vec::new();
        // Changesets hold one partition: group by day, keeping each entry's slot.
        let mut by_day: std::collections::BTreeMap<String, Vec<(usize, Entity)>> =
            Default::default();
        for e in entries {
            if seen.insert(e.occurrence_id.as_str()) {
                slots.push(Some(pointers.len()));
                pointers.push(pointer_entity(e));
                by_day
                    .entry(ledger_partition(e.at))
                    .or_default()
                    .push((slots.len() - 1, ledger_entity(e)?));
            } else {
                slots.push(None);
            }
        }
        self.insert_batched("ledger", &pointers).await?;
        for e in entries {
            self.remember(&e.occurrence_id, ledger_partition(e.at));
        }
        let mut inserted = vec![false; entries.len()];
        for (_, group) in by_day {
            let (idx, ents): (Vec<usize>, Vec<Entity>) = group.into_iter().unzip();
            for (i, ok) in idx
                .into_iter()
                .zip(self.insert_batched("ledger", &ents).await?)
            {
                inserted[i] = ok;
            }
        }
        Ok(slots
            .iter()
            .enumerate()
            .map(|(i, s)| s.is_some() && inserted[i])
            .collect())
    }

    async fn update_entry(&self, entry: &LedgerEntry, expected: &Version) -> StoreResult<Version> {
        self.put_entity(
            "ledger",
            &entry.occurrence_id,
            &ledger_entity(entry)?,
            Some(expected.as_str()),
        )
        .await
        .map(Version)
    }

    async fn claim(
        &self,
        occurrence_id: &str,
        expected: &Version,
        now: DateTime<Utc>,
    ) -> StoreResult<Versioned<LedgerEntry>> {
        let cur = self
            .get_entry(occurrence_id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                table: "ledger",
                key: occurrence_id.to_owned(),
            })?;
        if cur.version != *expected {
            return Err(StoreError::Conflict {
                table: "ledger",
                key: occurrence_id.to_owned(),
            });
        }
        if !cur.value.state.is_claimable() {
            return Err(StoreError::NotClaimable {
                key: occurrence_id.to_owned(),
                state: cur.value.state.as_str(),
            });
        }
        let mut next = cur.value;
        next.state = LedgerState::Executing;
        next.attempts = next.attempts.saturating_add(1);
        next.updated_at = now;
        // The If-Match makes this the single winner among racers holding `expected`.
        let version = match self.update_entry(&next, expected).await {
            Err(StoreError::NotFound { table, key }) => Err(StoreError::Conflict { table, key }),
            other => other,
        }?;
        Ok(Versioned {
            value: next,
            version,
        })
    }

    async fn entries_for_instance(
        &self,
        instance_id: &str,
    ) -> StoreResult<Vec<Versioned<LedgerEntry>>> {
        // Every day partition (an explanation's read, not a tick's).
        let filter = format!(
            "PartitionKey ge {} and PartitionKey lt {} and InstanceId eq {}",
            lit(P_LEDGER_DAY),
            lit(P_LEDGER_END),
            lit(instance_id)
        );
        let mut out = self.ledger_rows(&filter).await?;
        sort_ledger(&mut out);
        Ok(out)
    }

    async fn entries_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<Versioned<LedgerEntry>>> {
        if from >= to {
            return Ok(Vec::new());
        }
        // One query over the day partitions the range touches (a tick's window: a few days),
        // never the rest of the history.
        let filter = format!(
            "PartitionKey ge {} and PartitionKey le {} and At ge {} and At lt {}",
            lit(&ledger_partition(from)),
            lit(&ledger_partition(to)),
            lit(&time_key(from)),
            lit(&time_key(to))
        );
        let mut out = self.ledger_rows(&filter).await?;
        sort_ledger(&mut out);
        Ok(out)
    }

    async fn mark_notified(&self, occurrence_id: &str, lead_minutes: u32) -> StoreResult<bool> {
        let key = format!("{occurrence_id}/{lead_minutes}");
        let mut m = Entity::new();
        m.insert(PK.into(), P_NOTIFIED.into());
        m.insert(
            RK.into(),
            format!("{}!{lead_minutes}", encode_key(occurrence_id)).into(),
        );
        m.insert("OccurrenceId".into(), occurrence_id.into());
        m.insert(
            "LeadMinutes".into(),
            int32("notified", &key, "LeadMinutes", lead_minutes)?,
        );
        match self.insert_entity("notified", &key, &m).await {
            Ok(_) => Ok(true),
            Err(StoreError::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn mark_once(&self, kind: MarkKind, key: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        let mut m = Entity::new();
        m.insert(PK.into(), mark_partition(kind, at).into());
        m.insert(RK.into(), encode_key(key).into());
        // No copy of the key in a property: the RowKey is its injective escape, and nonce
        // marks (288 a day per reporting instance) are the store's most numerous records.
        m.insert("At".into(), time_key(at).into());
        match self.insert_entity("mark", key, &m).await {
            Ok(_) => Ok(true),
            Err(StoreError::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn sweep_marks(
        &self,
        kind: MarkKind,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<usize> {
        // Whole hours before `before`'s: one PartitionKey range, a page of `limit`.
        let from = format!("{P_MARK}{}-", kind.as_str());
        let mut filters = vec![(
            "mark",
            format!(
                "PartitionKey ge {} and PartitionKey lt {}",
                lit(&from),
                lit(&mark_partition(kind, before))
            ),
        )];
        if kind == MarkKind::Nonce {
            // The one-off rule: untimed nonce marks of older builds (`notified`, RowKey
            // `esc(activity-nonce/…)!0`), long past their window.
            let prefix = encode_key(LEGACY_NONCE_PREFIX);
            let end = format!("{}G", prefix.trim_end_matches('F'));
            filters.push((
                "notified",
                format!(
                    "PartitionKey eq {} and RowKey ge {} and RowKey lt {}",
                    lit(P_NOTIFIED),
                    lit(&prefix),
                    lit(&end)
                ),
            ));
        }
        let mut n = 0;
        for (table, filter) in filters {
            if n >= limit {
                break;
            }
            let found = self.query_page(table, &filter, limit - n).await?;
            let keys = found
                .iter()
                .map(|m| {
                    let pk = m.get(PK).and_then(Value::as_str).unwrap_or_default();
                    (pk.to_owned(), row_key(m).to_owned())
                })
                .collect::<Vec<_>>();
            n += keys.len();
            self.delete_batched(table, keys).await?;
        }
        Ok(n)
    }

    async fn notified_leads_many(
        &self,
        occurrence_ids: &[String],
    ) -> StoreResult<HashMap<String, Vec<u32>>> {
        let mut out: HashMap<String, Vec<u32>> = occurrence_ids
            .iter()
            .map(|i| (i.clone(), Vec::new()))
            .collect();
        let mut ids: Vec<&String> = out.keys().collect();
        ids.sort();
        let by_prefix: HashMap<String, &String> = ids.iter().map(|i| (encode_key(i), *i)).collect();
        let mut found: Vec<(String, u32)> = Vec::new();
        // The service allows 15 comparisons in a filter: the partition and 7 RowKey ranges.
        for chunk in ids.chunks(NOTIFIED_PER_QUERY) {
            let ranges: Vec<String> = chunk
                .iter()
                .map(|i| {
                    let prefix = encode_key(i);
                    format!(
                        "(RowKey ge {} and RowKey lt {})",
                        lit(&format!("{prefix}!")),
                        lit(&format!("{prefix}\""))
                    )
                })
                .collect();
            let filter = format!(
                "PartitionKey eq {} and ({})",
                lit(P_NOTIFIED),
                ranges.join(" or ")
            );
            for m in self.query("notified", &filter).await? {
                let p = Props::new("notified", &m);
                let lead = p
                    .opt_u32("LeadMinutes")?
                    .ok_or_else(|| p.err("LeadMinutes", "missing"))?;
                let rk = row_key(&m);
                let prefix = rk.rsplit_once('!').map_or(rk, |(a, _)| a);
                if let Some(id) = by_prefix.get(prefix) {
                    found.push(((*id).clone(), lead));
                }
            }
        }
        for (id, lead) in found {
            out.entry(id).or_default().push(lead);
        }
        for leads in out.values_mut() {
            leads.sort_unstable();
            leads.dedup();
        }
        Ok(out)
    }

    async fn notified_leads(&self, occurrence_id: &str) -> StoreResult<Vec<u32>> {
        let prefix = encode_key(occurrence_id);
        // Row keys are `{id}!{lead}`; '"' is the character right after '!'.
        let rows = self
            .query_row_range(
                "notified",
                P_NOTIFIED,
                &format!("{prefix}!"),
                &format!("{prefix}\""),
            )
            .await?;
        let mut leads = rows
            .iter()
            .map(|m| {
                let p = Props::new("notified", m);
                p.opt_u32("LeadMinutes")?
                    .ok_or_else(|| p.err("LeadMinutes", "missing"))
            })
            .collect::<StoreResult<Vec<u32>>>()?;
        leads.sort_unstable();
        Ok(leads)
    }

    async fn append_dismissal(&self, d: &Dismissal) -> StoreResult<()> {
        let rk = format!(
            "{}!{}!{}",
            encode_key(&d.occurrence_id),
            time_key(d.at),
            self.unique()
        );
        let mut m = Entity::new();
        m.insert(PK.into(), P_DISMISSAL.into());
        m.insert(RK.into(), rk.into());
        m.insert("OccurrenceId".into(), d.occurrence_id.clone().into());
        match d.choice {
            DismissalChoice::Skip => {
                m.insert("Choice".into(), "skip".into());
            }
            DismissalChoice::Snooze { minutes } => {
                m.insert("Choice".into(), "snooze".into());
                m.insert(
                    "SnoozeMinutes".into(),
                    int32("dismissal", &d.occurrence_id, "SnoozeMinutes", minutes)?,
                );
            }
        }
        m.insert("RequestedBy".into(), d.requested_by.clone().into());
        m.insert("Accepted".into(), d.accepted.into());
        m.insert("Reason".into(), d.reason.clone().into());
        m.insert("At".into(), time_key(d.at).into());
        self.insert_entity("dismissal", &d.occurrence_id, &m)
            .await
            .map(|_| ())
    }

    async fn dismissals(&self, occurrence_id: &str) -> StoreResult<Vec<Dismissal>> {
        let prefix = encode_key(occurrence_id);
        // Row keys are `{id}!{time}!{unique}`; '"' is the character right after '!'.
        let rows = self
            .query_row_range(
                "dismissal",
                P_DISMISSAL,
                &format!("{prefix}!"),
                &format!("{prefix}\""),
            )
            .await?;
        rows.iter()
            .map(|m| {
                let p = Props::new("dismissal", m);
                let choice = match (p.str("Choice")?.as_str(), p.opt_u32("SnoozeMinutes")?) {
                    ("skip", _) => DismissalChoice::Skip,
                    ("snooze", Some(minutes)) => DismissalChoice::Snooze { minutes },
                    (other, _) => return Err(p.err("Choice", other)),
                };
                Ok(Dismissal {
                    occurrence_id: p.str("OccurrenceId")?,
                    choice,
                    requested_by: p.str("RequestedBy")?,
                    accepted: p.bool("Accepted")?,
                    reason: p.str("Reason")?,
                    at: p.time("At")?,
                })
            })
            .collect()
    }

    async fn set_override(&self, instance_id: &str, schedules: &Value) -> StoreResult<()> {
        let mut m = Entity::new();
        m.insert(PK.into(), P_OVERRIDE.into());
        m.insert(RK.into(), encode_key(instance_id).into());
        m.insert("InstanceId".into(), instance_id.into());
        m.insert(
            "Schedules".into(),
            json_text("override", instance_id, schedules)?.into(),
        );
        self.put_entity("override", instance_id, &m, None)
            .await
            .map(|_| ())
    }

    async fn get_override(&self, instance_id: &str) -> StoreResult<Option<Value>> {
        match self
            .get_entity("override", P_OVERRIDE, &encode_key(instance_id))
            .await?
        {
            None => Ok(None),
            Some((m, _)) => Props::new("override", &m).json("Schedules").map(Some),
        }
    }

    async fn delete_override(&self, instance_id: &str) -> StoreResult<bool> {
        self.delete_entity(
            "override",
            instance_id,
            P_OVERRIDE,
            &encode_key(instance_id),
        )
        .await
    }

    async fn get_override_versioned(
        &self,
        instance_id: &str,
    ) -> StoreResult<Option<Versioned<Value>>> {
        match self
            .get_entity("override", P_OVERRIDE, &encode_key(instance_id))
            .await?
        {
            None => Ok(None),
            Some((m, etag)) => Ok(Some(Versioned {
                value: Props::new("override", &m).json("Schedules")?,
                version: Version(etag),
            })),
        }
    }

    async fn delete_override_if(&self, instance_id: &str, expected: &Version) -> StoreResult<bool> {
        // `*` would match any ETag: a version never read here is treated as changed.
        if expected.as_str() == "*" {
            return Ok(false);
        }
        self.delete_entity_at(
            "override",
            instance_id,
            P_OVERRIDE,
            &encode_key(instance_id),
            expected.as_str(),
        )
        .await
    }

    async fn set_override_if(
        &self,
        instance_id: &str,
        schedules: &Value,
        expected: Option<&Version>,
    ) -> StoreResult<Option<Version>> {
        let mut m = Entity::new();
        m.insert(PK.into(), P_OVERRIDE.into());
        m.insert(RK.into(), encode_key(instance_id).into());
        m.insert("InstanceId".into(), instance_id.into());
        m.insert(
            "Schedules".into(),
            json_text("override", instance_id, schedules)?.into(),
        );
        let written = match expected {
            None => self.insert_entity("override", instance_id, &m).await,
            // `*` would match any ETag: a version never read here is treated as changed.
            Some(v) if v.as_str() == "*" => return Ok(None),
            Some(v) => {
                self.put_entity("override", instance_id, &m, Some(v.as_str()))
                    .await
            }
        };
        match written {
            Ok(etag) => Ok(Some(Version(etag))),
            Err(e) if e.is_conflict() || matches!(e, StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn list_overrides(&self) -> StoreResult<Vec<Override>> {
        let rows = self
            .query("override", &format!("PartitionKey eq {}", lit(P_OVERRIDE)))
            .await?;
        let mut out = rows
            .iter()
            .map(|m| {
                let p = Props::new("override", m);
                Ok(Override {
                    instance_id: p.str("InstanceId")?,
                    schedules: p.json("Schedules")?,
                    version: p.etag()?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        out.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
        Ok(out)
    }

    async fn put_adoption(&self, r: &AdoptionRecord) -> StoreResult<()> {
        let mut m = Entity::new();
        m.insert(PK.into(), P_ADOPTION.into());
        m.insert(RK.into(), encode_key(&r.instance_id).into());
        m.insert("InstanceId".into(), r.instance_id.clone().into());
        m.insert("At".into(), time_key(r.at).into());
        m.insert("By".into(), r.by.clone().into());
        m.insert(
            "Schedules".into(),
            json_text("adoption", &r.instance_id, &r.schedules)?.into(),
        );
        self.put_entity("adoption", &r.instance_id, &m, None)
            .await
            .map(|_| ())
    }

    async fn get_adoption(&self, instance_id: &str) -> StoreResult<Option<AdoptionRecord>> {
        match self
            .get_entity("adoption", P_ADOPTION, &encode_key(instance_id))
            .await?
        {
            None => Ok(None),
            Some((m, _)) => {
                let p = Props::new("adoption", &m);
                Ok(Some(AdoptionRecord {
                    instance_id: p.str("InstanceId")?,
                    at: p.time("At")?,
                    by: p.str("By")?,
                    schedules: p.json("Schedules")?,
                }))
            }
        }
    }

    async fn append_audit(&self, records: &[AuditRecord]) -> StoreResult<()> {
        let entities = records
            .iter()
            .map(|r| {
                let mut m = Entity::new();
                m.insert(PK.into(), P_AUDIT.into());
                m.insert(
                    RK.into(),
                    format!("{}!{}", time_key(r.at), self.unique()).into(),
                );
                m.insert("At".into(), time_key(r.at).into());
                m.insert("Kind".into(), r.kind.clone().into());
                if let Some(i) = &r.instance_id {
                    m.insert("InstanceId".into(), i.clone().into());
                }
                if let Some(o) = &r.occurrence_id {
                    m.insert("OccurrenceId".into(), o.clone().into());
                }
                m.insert("Message".into(), r.message.clone().into());
                m.insert(
                    "Details".into(),
                    json_text("audit", &r.kind, &r.details)?.into(),
                );
                Ok(m)
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let inserted = self.insert_batched("audit", &entities).await?;
        if inserted.iter().all(|b| *b) {
            Ok(())
        } else {
            Err(StoreError::Backend {
                table: "audit",
                detail: "append: a unique row key already existed".into(),
            })
        }
    }

    async fn audit_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<AuditRecord>> {
        let rows = self
            .query_row_range("audit", P_AUDIT, &time_key(from), &time_key(to))
            .await?;
        rows.iter()
            .map(|m| {
                let p = Props::new("audit", m);
                Ok(AuditRecord {
                    at: p.time("At")?,
                    kind: p.str("Kind")?,
                    instance_id: p.opt_str("InstanceId")?,
                    occurrence_id: p.opt_str("OccurrenceId")?,
                    message: p.str("Message")?,
                    details: p.json("Details")?,
                })
            })
            .collect()
    }

    async fn put_activity(&self, instance_id: &str, a: &Activity) -> StoreResult<bool> {
        let rk = encode_key(instance_id);
        let mut m = Entity::new();
        m.insert(PK.into(), P_ACTIVITY.into());
        m.insert(RK.into(), rk.clone().into());
        m.insert("InstanceId".into(), instance_id.into());
        m.insert("At".into(), time_key(a.at).into());
        m.insert("Busy".into(), a.busy.into());
        m.insert(
            "Details".into(),
            json_text("activity", instance_id, &a.details)?.into(),
        );
        for _ in 0..ACTIVITY_CAS_ROUNDS {
            let result = match self.get_entity("activity", P_ACTIVITY, &rk).await? {
                Some((cur, _)) if activity_from(&cur)?.1.at > a.at => return Ok(false),
                Some((_, etag)) => {
                    self.put_entity("activity", instance_id, &m, Some(&etag))
                        .await
                }
                None => self.insert_entity("activity", instance_id, &m).await,
            };
            match result {
                Ok(_) => return Ok(true),
                Err(e) if e.is_conflict() || matches!(e, StoreError::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict {
            table: "activity",
            key: instance_id.to_owned(),
        })
    }

    async fn get_activity(&self, instance_id: &str) -> StoreResult<Option<Activity>> {
        match self
            .get_entity("activity", P_ACTIVITY, &encode_key(instance_id))
            .await?
        {
            None => Ok(None),
            Some((m, _)) => activity_from(&m).map(|(_, a)| Some(a)),
        }
    }

    async fn list_activity(&self) -> StoreResult<Vec<(String, Activity)>> {
        let rows = self
            .query("activity", &format!("PartitionKey eq {}", lit(P_ACTIVITY)))
            .await?;
        let mut out = rows
            .iter()
            .map(activity_from)
            .collect::<StoreResult<Vec<_>>>()?;
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    async fn append_timeline(&self, records: &[TimelineRecord]) -> StoreResult<()> {
        let entities = records
            .iter()
            .map(|r| {
                let mut m = Entity::new();
                m.insert(PK.into(), P_TIMELINE.into());
                m.insert(
                    RK.into(),
                    format!("{}!{}", time_key(r.at), self.unique()).into(),
                );
                m.insert("At".into(), time_key(r.at).into());
                m.insert("Instance".into(), r.instance.clone().into());
                m.insert(
                    "Record".into(),
                    json_text("timeline", &r.instance, &r.record)?.into(),
                );
                Ok(m)
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let inserted = self.insert_batched("timeline", &entities).await?;
        if inserted.iter().all(|b| *b) {
            Ok(())
        } else {
            Err(StoreError::Backend {
                table: "timeline",
                detail: "append: a unique row key already existed".into(),
            })
        }
    }

    async fn timeline_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<TimelineRecord>> {
        let rows = self
            .query_row_range("timeline", P_TIMELINE, &time_key(from), &time_key(to))
            .await?;
        rows.iter()
            .map(|m| {
                let p = Props::new("timeline", m);
                Ok(TimelineRecord {
                    at: p.time("At")?,
                    instance: p.str("Instance")?,
                    record: p.json("Record")?,
                })
            })
            .collect()
    }

    async fn put_timeline_states(&self, states: &[TimelineState]) -> StoreResult<()> {
        let entities: Vec<(String, Value)> = states
            .iter()
            .map(|s| {
                let rk = encode_key(&s.instance_id);
                let mut m = Entity::new();
                m.insert(PK.into(), P_TIMELINE_STATE.into());
                m.insert(RK.into(), rk.clone().into());
                m.insert("InstanceId".into(), s.instance_id.clone().into());
                m.insert("At".into(), time_key(s.at).into());
                m.insert("State".into(), s.state.clone().into());
                if let Some(meta) = &s.meta {
                    m.insert("Meta".into(), meta.clone().into());
                }
                (self.entity_url(P_TIMELINE_STATE, &rk), Value::Object(m))
            })
            .collect();
        // One instance twice in a changeset is refused by the service: keep its last.
        let mut last: std::collections::BTreeMap<String, (String, Value)> = Default::default();
        for (url, e) in entities {
            last.insert(url.clone(), (url, e));
        }
        let entities: Vec<(String, Value)> = last.into_values().collect();
        for chunk in entities.chunks(batch::MAX_BATCH) {
            let seed = self.nonce ^ self.seq.fetch_add(1, Ordering::Relaxed);
            let (content_type, body) = batch::upsert_changeset(chunk, seed);
            let resp = self
                .call(Req {
                    method: Method::POST,
                    url: format!("{}/$batch", self.config.endpoint),
                    query: String::new(),
                    content_type: &content_type,
                    body,
                    headers: vec![(ACCEPT_JSON.0, ACCEPT_JSON.1.into())],
                    table: "timeline_state",
                    // Replacing with the same entities again changes nothing (a state another
                    // governor wrote in between may be put back once: a repeated observation,
                    // which changes no figure; the next tick writes the newest again).
                    idempotent: true,
                })
                .await?;
            if resp.status.as_u16() != 202 {
                return Err(unexpected("timeline_state", "$batch", &resp));
            }
            let statuses = batch::statuses(&resp.body);
            if statuses.len() != chunk.len() || !statuses.iter().all(|s| (200..300).contains(s)) {
                let detail = format!("$batch: operation statuses {statuses:?}");
                return Err(if statuses.iter().any(|s| *s >= 500) {
                    StoreError::Unavailable {
                        table: "timeline_state",
                        detail,
                    }
                } else {
                    StoreError::Backend {
                        table: "timeline_state",
                        detail,
                    }
                });
            }
        }
        Ok(())
    }

    async fn timeline_states(&self) -> StoreResult<Vec<TimelineState>> {
        let rows = self
            .query(
                "timeline_state",
                &format!("PartitionKey eq {}", lit(P_TIMELINE_STATE)),
            )
            .await?;
        let mut out = rows
            .iter()
            .map(timeline_state_from)
            .collect::<StoreResult<Vec<_>>>()?;
        out.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
        Ok(out)
    }

    async fn outbox_record(&self, entries: &[OutboxEntry]) -> StoreResult<Vec<bool>> {
        // One id twice in a changeset is refused by the service: the first one counts.
        let mut seen = std::collections::HashSet::new();
        let mut unique = Vec::new();
        let mut first = Vec::with_capacity(entries.len());
        for e in entries {
            let new = seen.insert(e.id.as_str());
            first.push(new);
            if new {
                unique.push(outbox_entity(e)?);
            }
        }
        let mut inserted = self.insert_batched("outbox", &unique).await?.into_iter();
        Ok(first
            .into_iter()
            .map(|new| new && inserted.next().unwrap_or(false))
            .collect())
    }

    async fn outbox_pending(&self, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
        let rows = self
            .query("outbox", &format!("PartitionKey eq {}", lit(P_OUTBOX)))
            .await?;
        let mut out = rows
            .iter()
            .map(|m| {
                let p = Props::new("outbox", m);
                Ok(OutboxEntry {
                    id: p.str("Id")?,
                    at: p.time("At")?,
                    attempts: p.opt_u32("Attempts")?.unwrap_or(0),
                    payload: p.str("Payload")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        out.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        out.truncate(limit);
        Ok(out)
    }

    async fn outbox_update(&self, entries: &[OutboxEntry]) -> StoreResult<usize> {
        let mut n = 0;
        for e in entries {
            match self
                .put_entity("outbox", &e.id, &outbox_entity(e)?, Some("*"))
                .await
            {
                Ok(_) => n += 1,
                Err(StoreError::NotFound { .. }) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(n)
    }

    async fn outbox_remove(&self, ids: &[String]) -> StoreResult<usize> {
        let keys: Vec<(String, String)> = ids
            .iter()
            .map(|id| (P_OUTBOX.to_owned(), encode_key(id)))
            .collect();
        self.delete_batched("outbox", keys).await
    }

    async fn sweep(&self, before: DateTime<Utc>, limit: usize) -> StoreResult<usize> {
        let mut n = 0;
        // Whole days of the ledger before `before`'s day, with their pointers and marks.
        let old = self
            .query_page(
                "ledger",
                &format!(
                    "PartitionKey ge {} and PartitionKey lt {}",
                    lit(P_LEDGER_DAY),
                    lit(&ledger_partition(before))
                ),
                limit,
            )
            .await?;
        if !old.is_empty() {
            let mut keys = Vec::with_capacity(old.len() * 2);
            let mut marks = Vec::new();
            for m in &old {
                let pk = m.get(PK).and_then(Value::as_str).unwrap_or_default();
                let rk = row_key(m);
                keys.push((pk.to_owned(), rk.to_owned()));
                keys.push((P_LEDGER_ID.to_owned(), rk.to_owned()));
                marks.push(rk.to_owned());
            }
            n += old.len();
            self.delete_batched("ledger", keys).await?;
            self.partitions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
            // Notice marks and dismissals of the swept entries, by RowKey prefix: marks are
            // `esc(id)!lead` or `esc(id@time)!lead`, dismissals `esc(id)!time!unique`.
            for rk in marks {
                for (table, pk) in [("notified", P_NOTIFIED), ("dismissal", P_DISMISSAL)] {
                    let found = self
                        .query(
                            table,
                            &format!(
                                "PartitionKey eq {} and RowKey ge {} and RowKey lt {}",
                                lit(pk),
                                lit(&format!("{rk}!")),
                                lit(&format!("{rk}~~"))
                            ),
                        )
                        .await?;
                    let keys = found
                        .iter()
                        .map(|m| (pk.to_owned(), row_key(m).to_owned()))
                        .collect();
                    self.delete_batched(table, keys).await?;
                }
            }
        }
        // Time-keyed append-only records: a RowKey range from the start of the partition.
        for (table, pk, filter) in [
            (
                "audit",
                P_AUDIT,
                format!(
                    "PartitionKey eq {} and RowKey lt {}",
                    lit(P_AUDIT),
                    lit(&time_key(before))
                ),
            ),
            (
                "timeline",
                P_TIMELINE,
                format!(
                    "PartitionKey eq {} and RowKey lt {}",
                    lit(P_TIMELINE),
                    lit(&time_key(before))
                ),
            ),
            // The single `ledger` partition of builds before the day layout: unread, removed.
            (
                "ledger",
                LEGACY_LEDGER,
                format!("PartitionKey eq {}", lit(LEGACY_LEDGER)),
            ),
        ] {
            if n >= limit {
                break;
            }
            let rows = self.query_page(table, &filter, limit - n).await?;
            n += rows.len();
            let keys = rows
                .iter()
                .map(|m| (pk.to_owned(), row_key(m).to_owned()))
                .collect();
            self.delete_batched(table, keys).await?;
        }
        Ok(n)
    }
}

/// Entities and billed bytes of a table ([`TableStore::footprint`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Entities in the table.
    pub entities: u64,
    /// The sum of their sizes as Table Storage bills them (4 bytes + 2 per key character + each property: name and value).
    pub bytes: u64,
    /// (entities, bytes) per partition kind (`ledger-*` for the day partitions).
    pub by_kind: std::collections::BTreeMap<String, (u64, u64)>,
}

/// An entity's size by Table Storage's billing formula: 4 bytes + 2 per character of
/// PartitionKey and RowKey + per property 8 + 2 per character of its name + its value (a
/// string 4 + 2 per UTF-16 unit, Int32 4, Int64/Double/DateTime 8, Boolean 1). The service's
/// `Timestamp` and the response's OData annotations are not counted.
fn entity_size(m: &Entity) -> u64 {
    let utf16 = |s: &str| s.encode_utf16().count() as u64;
    let mut size = 4;
    for (name, v) in m {
        if name == PK || name == RK {
            size += 2 * v.as_str().map_or(0, utf16);
            continue;
        }
        if name == "Timestamp" || name.starts_with("odata.") || name.contains("@odata.") {
            continue;
        }
        let typed = m
            .get(&format!("{name}@odata.type"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        size += 8
            + 2 * utf16(name)
            + match v {
                Value::String(_) if typed == "Edm.Int64" || typed == "Edm.DateTime" => 8,
                Value::String(s) => 4 + 2 * utf16(s),
                Value::Bool(_) => 1,
                Value::Number(_) if typed.is_empty() => 4,
                _ => 8,
            };
    }
    size
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_follow_the_service_rules() {
        for ok in ["curfew", "curfew123", "abc"] {
            assert!(valid_table_name(ok), "{ok}");
        }
        for bad in ["ab", "1abc", "cur-few", "tables", &"a".repeat(64)] {
            assert!(!valid_table_name(bad), "{bad}");
        }
    }

    #[test]
    fn odata_literals_double_quotes() {
        assert_eq!(lit("o'brien"), "'o''brien'");
    }
}
