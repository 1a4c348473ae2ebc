//! The `StateStore` trait: every durable operation the governor needs, object-safe so it can
//! live in an `Arc<dyn StateStore>`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::StoreResult;
use crate::model::{
    Activity, AdoptionRecord, AuditRecord, Dismissal, LedgerEntry, MarkKind, OutboxEntry, Override,
    TimelineRecord, TimelineState, Version, Versioned,
};

/// The key prefix of activity-report nonce marks written by builds before [`MarkKind::Nonce`]
/// (untimed `notified` records); [`StateStore::sweep_marks`] removes them.
pub const LEGACY_NONCE_PREFIX: &str = "activity-nonce/";

/// The first key after every [`LEGACY_NONCE_PREFIX`] key (`/` + 1 is `0`).
pub(crate) const LEGACY_NONCE_END: &str = "activity-nonce0";

/// Durable state of the governor. Every time comes from the caller; time ranges are
/// half-open `[from, to)`. Implementations: [`crate::SqliteStore`], [`crate::TableStore`].
#[async_trait]
pub trait StateStore: Send + Sync {
    /// The watermark of a scope (the instant up to which occurrences were evaluated).
    async fn get_watermark(&self, scope: &str) -> StoreResult<Option<DateTime<Utc>>>;

    /// Sets a watermark if its current value equals `expected` (`None`: not set yet);
    /// otherwise [`crate::StoreError::Conflict`].
    async fn set_watermark(
        &self,
        scope: &str,
        expected: Option<DateTime<Utc>>,
        new: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// One ledger entry with its version.
    async fn get_entry(&self, occurrence_id: &str) -> StoreResult<Option<Versioned<LedgerEntry>>>;

    /// Inserts an entry if no entry has its occurrence id, else
    /// [`crate::StoreError::AlreadyExists`].
    async fn insert_entry(&self, entry: &LedgerEntry) -> StoreResult<Version>;

    /// Inserts many entries, each only if absent; returns per entry whether it was inserted.
    /// Uses batches where the backend has them; not atomic as a whole.
    async fn insert_entries(&self, entries: &[LedgerEntry]) -> StoreResult<Vec<bool>>;

    /// Replaces an entry if its version is still `expected`, else
    /// [`crate::StoreError::Conflict`] ([`crate::StoreError::NotFound`] if it is gone).
    async fn update_entry(&self, entry: &LedgerEntry, expected: &Version) -> StoreResult<Version>;

    /// The exactly-once step: moves the entry to `Executing` (attempts + 1, `updated_at = now`)
    /// only if its version is `expected` and its state is claimable. Of any number of racing
    /// callers holding the same version, exactly one gets `Ok`.
    async fn claim(
        &self,
        occurrence_id: &str,
        expected: &Version,
        now: DateTime<Utc>,
    ) -> StoreResult<Versioned<LedgerEntry>>;

    /// All entries of one instance, ordered by `at` then occurrence id.
    async fn entries_for_instance(
        &self,
        instance_id: &str,
    ) -> StoreResult<Vec<Versioned<LedgerEntry>>>;

    /// All entries with `from <= at < to`, ordered by `at` then occurrence id.
    async fn entries_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<Versioned<LedgerEntry>>>;

    /// Records that the notification of `occurrence_id` at `lead_minutes` was sent; `true`
    /// only for the first caller, so each (occurrence, lead) is sent once.
    async fn mark_notified(&self, occurrence_id: &str, lead_minutes: u32) -> StoreResult<bool>;

    /// A timed once-only mark: `true` only for the first caller of (`kind`, `key`, the UTC hour
    /// of `at`). `at` must be derived from what the mark is about (a signed report's time, a
    /// budget period's start), never from the clock, so a repeat finds the same mark; it is what
    /// [`StateStore::sweep_marks`] compares, so these marks do not grow without bound.
    async fn mark_once(&self, kind: MarkKind, key: &str, at: DateTime<Utc>) -> StoreResult<bool>;

    /// Deletes at most `limit` marks of `kind` whose hour is before `before`'s hour (whole
    /// hours, the same in both backends) and returns how many went. For [`MarkKind::Nonce`] it
    /// also deletes, within the same limit, nonce marks written before marks had a time
    /// (`mark_notified("activity-nonce/…", 0)`, [`LEGACY_NONCE_PREFIX`]): the one-off rule for
    /// them (docs/store.md).
    async fn sweep_marks(
        &self,
        kind: MarkKind,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<usize>;

    /// The lead times (minutes) already marked for an occurrence, ascending: the governor's
    /// view of which notices are done.
    async fn notified_leads(&self, occurrence_id: &str) -> StoreResult<Vec<u32>>;

    /// [`StateStore::notified_leads`] of many occurrences in as few requests as the backend
    /// allows: the tick's one read of notice marks. Every id asked is in the map (an empty
    /// list when nothing is marked).
    async fn notified_leads_many(
        &self,
        occurrence_ids: &[String],
    ) -> StoreResult<std::collections::HashMap<String, Vec<u32>>>;

    /// Appends a dismissal request (accepted or rejected).
    async fn append_dismissal(&self, dismissal: &Dismissal) -> StoreResult<()>;

    /// The dismissals of one occurrence, ordered by `at` (then arrival).
    async fn dismissals(&self, occurrence_id: &str) -> StoreResult<Vec<Dismissal>>;

    /// Sets (replaces) the schedule override of an instance.
    async fn set_override(&self, instance_id: &str, schedules: &Value) -> StoreResult<()>;

    /// The schedule override of an instance, if any.
    async fn get_override(&self, instance_id: &str) -> StoreResult<Option<Value>>;

    /// Removes an override; `true` if there was one.
    async fn delete_override(&self, instance_id: &str) -> StoreResult<bool>;

    /// The schedule override of an instance with its version, for
    /// [`StateStore::delete_override_if`].
    async fn get_override_versioned(
        &self,
        instance_id: &str,
    ) -> StoreResult<Option<Versioned<Value>>>;

    /// Removes an override only if it is still at `expected` (every set, even of the same
    /// value, makes a new version); `false` if it changed or went meanwhile, and then it is
    /// kept. The expiry prune uses it, so an override set after its read is never lost.
    async fn delete_override_if(&self, instance_id: &str, expected: &Version) -> StoreResult<bool>;

    /// Sets the override only if it is still at `expected` (`None`: only if there is none) and
    /// returns its new version; `Ok(None)` when it changed meanwhile (the caller re-reads), so
    /// an edit's audited "before" is exactly what it replaced and `If-Match` can be honoured.
    async fn set_override_if(
        &self,
        instance_id: &str,
        schedules: &Value,
        expected: Option<&Version>,
    ) -> StoreResult<Option<Version>>;

    /// Every override, ordered by instance id.
    async fn list_overrides(&self) -> StoreResult<Vec<Override>>;

    /// Records (replaces) an instance's adoption record.
    async fn put_adoption(&self, record: &AdoptionRecord) -> StoreResult<()>;

    /// The adoption record of an instance, if it was ever adopted.
    async fn get_adoption(&self, instance_id: &str) -> StoreResult<Option<AdoptionRecord>>;

    /// Appends audit records (batched where the backend allows).
    async fn append_audit(&self, records: &[AuditRecord]) -> StoreResult<()>;

    /// Audit records with `from <= at < to`, ordered by `at` (then arrival within a handle).
    async fn audit_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<AuditRecord>>;

    /// Stores an instance's activity report unless a newer one (`at` later) is stored;
    /// returns whether it was stored. Reports may arrive out of order from a queue.
    async fn put_activity(&self, instance_id: &str, activity: &Activity) -> StoreResult<bool>;

    /// The latest activity report of an instance.
    async fn get_activity(&self, instance_id: &str) -> StoreResult<Option<Activity>>;

    /// The latest activity report of every instance, ordered by instance id.
    async fn list_activity(&self) -> StoreResult<Vec<(String, Activity)>>;

    /// Appends cost-timeline records (batched where the backend allows): the one timeline
    /// every governor writes to, so reports and budgets see the whole fleet.
    async fn append_timeline(&self, records: &[TimelineRecord]) -> StoreResult<()>;

    /// Timeline records with `from <= at < to`, ordered by `at` (then arrival within a handle).
    async fn timeline_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<TimelineRecord>>;

    /// Stores the states last written to the timeline (one transaction, or changesets of 100):
    /// each replaces the instance's previous one. Of two governors writing one instance's state
    /// at once the last write wins; a stale one costs a repeated observation, or one change
    /// recorded a tick late.
    async fn put_timeline_states(&self, states: &[TimelineState]) -> StoreResult<()>;

    /// The state last written to the timeline for every instance, ordered by instance id.
    async fn timeline_states(&self) -> StoreResult<Vec<TimelineState>>;

    /// Records events as pending in the outbox, each only if its id is absent; returns per
    /// entry whether it was recorded (batched where the backend allows).
    async fn outbox_record(&self, entries: &[OutboxEntry]) -> StoreResult<Vec<bool>>;

    /// At most `limit` pending entries, oldest first (`at`, then id).
    async fn outbox_pending(&self, limit: usize) -> StoreResult<Vec<OutboxEntry>>;

    /// Rewrites entries that are still pending (their `attempts`); one another governor has
    /// removed meanwhile stays removed. Returns how many were still there.
    async fn outbox_update(&self, entries: &[OutboxEntry]) -> StoreResult<usize>;

    /// Removes entries (delivered, or given up); absent ids are ignored. Returns how many
    /// were removed (batched where the backend allows).
    async fn outbox_remove(&self, ids: &[String]) -> StoreResult<usize>;

    /// Retention: deletes at most `limit` records older than `before` — ledger entries (by
    /// `at`; on Table Storage whole UTC days before `before`'s) with their notice marks and
    /// dismissals, then audit and cost-timeline records (by time) — and returns how many went
    /// (the ledger entries and the time-keyed records; marks and dismissals go with their
    /// entry). Every tick calls it with a small limit, so history stays within the horizon at
    /// bounded cost.
    async fn sweep(&self, before: DateTime<Utc>, limit: usize) -> StoreResult<usize>;
}
