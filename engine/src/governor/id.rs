//! Stable occurrence ids: notices, dismissals, executions and audit records hang off them, so
//! the same inputs give the same id in every run and process, and any change to a schedule's
//! content gives new ids (a dismissal of the old schedule's firing does not carry over).

use super::source_label;
use crate::schedule::{normalize, Action, Source};
use chrono::{DateTime, SecondsFormat, Utc};
use ring::digest::{digest, Context, SHA256};
use serde_json::Value;

/// Hex characters kept from the SHA-256 of an occurrence (128 bits: collisions are not a concern).
pub const OCCURRENCE_ID_LEN: usize = 32;

/// SHA-256 (hex) of the entry's [`normalize`]d form with keys sorted: spelling, key order,
/// nulls and unknown fields do not change it; any change to what the schedule means does.
pub fn content_hash(entry: &Value) -> String {
    let mut text = String::new();
    canonical(&normalize(entry), &mut text);
    hex(digest(&SHA256, text.as_bytes()).as_ref())
}

/// The id of one firing of a schedule: SHA-256 over the instance key, the schedule's source and
/// index, the action, the time (RFC 3339 UTC) and the schedule's content hash; 32 hex chars.
pub fn occurrence_id(
    instance_key: &str,
    source: &Source,
    index: usize,
    action: Action,
    at: DateTime<Utc>,
    content_hash: &str,
) -> String {
    let mut ctx = Context::new(&SHA256);
    for field in [
        "curfew.occurrence.v1",
        instance_key,
        &source_label(source),
        &index.to_string(),
        &action.to_string(),
        &at.to_rfc3339_opts(SecondsFormat::Secs, true),
        content_hash,
    ] {
        frame(&mut ctx, field);
    }
    truncated(ctx)
}

/// The id of an idle stop: keyed by the instance and the start of its idle period.
pub fn idle_occurrence_id(instance_key: &str, idle_since: DateTime<Utc>) -> String {
    let mut ctx = Context::new(&SHA256);
    for field in [
        "curfew.occurrence.v1",
        instance_key,
        "idle",
        &idle_since.to_rfc3339_opts(SecondsFormat::Secs, true),
    ] {
        frame(&mut ctx, field);
    }
    truncated(ctx)
}

/// The id of a Stop an `off` calendar adds (docs/calendars.md): keyed by the instance, the
/// calendar's name and the instant its day starts.
pub fn calendar_occurrence_id(instance_key: &str, calendar: &str, at: DateTime<Utc>) -> String {
    let mut ctx = Context::new(&SHA256);
    for field in [
        "curfew.occurrence.v1",
        instance_key,
        "calendar",
        calendar,
        &at.to_rfc3339_opts(SecondsFormat::Secs, true),
    ] {
        frame(&mut ctx, field);
    }
    truncated(ctx)
}

/// The key a pre-shutdown notice is marked sent under, with its lead (the store's
/// `mark_notified`): the occurrence id while the stop is due at its own time, and
/// `{id}@{due, Unix seconds}` once a snooze moved it, so the new time's warnings are not
/// deduplicated away by the old time's and a retry of either sends nothing twice.
pub fn notice_key(occurrence_id: &str, at: DateTime<Utc>, due: DateTime<Utc>) -> String {
    if due == at {
        occurrence_id.to_string()
    } else {
        format!("{occurrence_id}@{}", due.timestamp())
    }
}

/// The id of the record summarising an instance's missed occurrences beyond the catch-up
/// horizon: keyed by the instance and the first occurrence summarised, which a retried tick
/// (same watermark) finds again, so the summary is written once.
pub fn missed_summary_id(instance_key: &str, first: DateTime<Utc>) -> String {
    let mut ctx = Context::new(&SHA256);
    for field in [
        "curfew.occurrence.v1",
        instance_key,
        "missed-summary",
        &first.to_rfc3339_opts(SecondsFormat::Secs, true),
    ] {
        frame(&mut ctx, field);
    }
    truncated(ctx)
}

/// Length-prefixed, so that no two field lists hash the same bytes.
fn frame(ctx: &mut Context, field: &str) {
    ctx.update(&(field.len() as u64).to_le_bytes());
    ctx.update(field.as_bytes());
}

fn truncated(ctx: Context) -> String {
    let mut h = hex(ctx.finish().as_ref());
    h.truncate(OCCURRENCE_ID_LEN);
    h
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// JSON with object keys sorted at every level, whatever map type serde_json was built with.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn notice_keys_change_only_when_a_snooze_moves_the_stop() {
        let t0 = at("2026-03-02T18:00:00Z");
        let t1 = at("2026-03-02T19:00:00Z");
        assert_eq!(notice_key("abc", t0, t0), "abc");
        assert_eq!(notice_key("abc", t0, t1), format!("abc@{}", t1.timestamp()));
        assert_ne!(notice_key("abc", t0, t1), notice_key("abc", t0, t0));
    }

    #[test]
    fn content_hash_ignores_spelling_order_and_nulls() {
        let a = json!({"action": "Stop", "status": "Enabled", "triggerType": "Cron",
            "cron": {"expression": "0 18 * * *", "timeZone": "UTC"}});
        let b = json!({"cron": {"timeZone": "UTC", "expression": "0 18 * * *", "startTime": null},
            "triggerType": "cron", "action": "stop", "extra": 1});
        assert_eq!(content_hash(&a), content_hash(&b));
        assert_eq!(content_hash(&a).len(), 64);
    }

    #[test]
    fn content_hash_changes_with_meaning() {
        let a = json!({"action": "Stop", "cron": {"expression": "0 18 * * *"}});
        let b = json!({"action": "Stop", "cron": {"expression": "0 19 * * *"}});
        let c =
            json!({"action": "Stop", "status": "Disabled", "cron": {"expression": "0 18 * * *"}});
        assert_ne!(content_hash(&a), content_hash(&b));
        assert_ne!(content_hash(&a), content_hash(&c));
    }

    #[test]
    fn occurrence_id_is_stable_and_sensitive_to_every_field() {
        let t = at("2026-11-02T02:00:00Z");
        let h = "abc";
        let base = occurrence_id("ci-1", &Source::Native, 0, Action::Stop, t, h);
        assert_eq!(base.len(), OCCURRENCE_ID_LEN);
        assert_eq!(
            base,
            occurrence_id("ci-1", &Source::Native, 0, Action::Stop, t, h)
        );
        // Pinned (recomputed independently with Python hashlib): ids must not change between
        // releases, or ledgers lose their history.
        assert_eq!(base, "4cffed596d2d38f170d98fb88077ea49");
        let others = [
            occurrence_id("ci-2", &Source::Native, 0, Action::Stop, t, h),
            occurrence_id("ci-1", &Source::Override, 0, Action::Stop, t, h),
            occurrence_id("ci-1", &Source::Policy("p".into()), 0, Action::Stop, t, h),
            occurrence_id("ci-1", &Source::Native, 1, Action::Stop, t, h),
            occurrence_id("ci-1", &Source::Native, 0, Action::Start, t, h),
            occurrence_id(
                "ci-1",
                &Source::Native,
                0,
                Action::Stop,
                t + chrono::TimeDelta::minutes(1),
                h,
            ),
            occurrence_id("ci-1", &Source::Native, 0, Action::Stop, t, "abd"),
        ];
        for o in &others {
            assert_ne!(&base, o);
        }
    }

    #[test]
    fn idle_ids_follow_the_idle_period() {
        let a = idle_occurrence_id("ci", at("2026-01-01T10:00:00Z"));
        assert_eq!(a, idle_occurrence_id("ci", at("2026-01-01T10:00:00Z")));
        assert_ne!(a, idle_occurrence_id("ci", at("2026-01-01T10:05:00Z")));
        assert_ne!(a, idle_occurrence_id("other", at("2026-01-01T10:00:00Z")));
    }

    #[test]
    fn framing_keeps_fields_apart() {
        let t = at("2026-01-01T00:00:00Z");
        assert_ne!(
            occurrence_id("ab", &Source::Native, 1, Action::Stop, t, "c"),
            occurrence_id("a", &Source::Native, 1, Action::Stop, t, "bc")
        );
    }
}
