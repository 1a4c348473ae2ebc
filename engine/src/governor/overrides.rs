//! Schedule overrides set through Curfew (issue 12): the body a caller sends, every problem in
//! it named, who may set one (the same people who may dismiss), and when a stored override
//! stops being in force (its expiry), so that the tick, explain and status agree.

use super::dismiss::Authority;
use crate::schedule::{compile, Action};
use crate::Severity;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// The field of a body or stored record holding the schedules (ARM's name).
pub const SCHEDULES_FIELD: &str = "computeStartStop";
/// The field of a body or stored record holding the optional expiry (RFC 3339).
pub const EXPIRES_FIELD: &str = "expires";

/// A validated override: the `computeStartStop` entries and when they stop applying.
#[derive(Debug, Clone, PartialEq)]
pub struct OverrideBody {
    /// The schedule entries, exactly as sent (they are compiled again on every tick).
    pub schedules: Vec<Value>,
    /// After this instant the native or policy schedules apply again; `None`: until cleared.
    pub expires: Option<DateTime<Utc>>,
}

impl OverrideBody {
    /// What the store keeps: `{computeStartStop, expires?}` (the store's value is opaque JSON).
    pub fn to_stored(&self) -> Value {
        let mut v = json!({ SCHEDULES_FIELD: self.schedules });
        if let Some(e) = self.expires {
            v[EXPIRES_FIELD] = json!(e.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        }
        v
    }
}

/// Reads and validates an override body for `instance`: either the `computeStartStop` array
/// itself or `{"computeStartStop": [...], "expires": "RFC 3339"}`. `expires` (e.g. from the
/// CLI's `--expires`) is used when the body has none. Every problem is returned, each naming
/// the instance, the schedule index and the field; warnings do not refuse the body. An expiry
/// at or before `now` is refused (it would never apply).
pub fn parse_override(
    instance: &str,
    body: &Value,
    expires: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<OverrideBody, Vec<String>> {
    let mut problems = Vec::new();
    let (entries, expires) = match body {
        Value::Array(a) => (Some(a), expires),
        Value::Object(m) => {
            for k in m.keys() {
                if k != SCHEDULES_FIELD && k != EXPIRES_FIELD {
                    problems.push(format!(
                        "instance '{instance}': unknown field '{k}' (expected {SCHEDULES_FIELD}, {EXPIRES_FIELD})"
                    ));
                }
            }
            let exp = match m.get(EXPIRES_FIELD) {
                None | Some(Value::Null) => expires,
                Some(Value::String(s)) => match DateTime::parse_from_rfc3339(s.trim()) {
                    Ok(t) => Some(t.with_timezone(&Utc)),
                    Err(e) => {
                        problems.push(format!(
                            "instance '{instance}': field '{EXPIRES_FIELD}': not an RFC 3339 instant: {e}"
                        ));
                        None
                    }
                },
                Some(_) => {
                    problems.push(format!(
                        "instance '{instance}': field '{EXPIRES_FIELD}': expected an RFC 3339 string"
                    ));
                    None
                }
            };
            match m.get(SCHEDULES_FIELD) {
                Some(Value::Array(a)) => (Some(a), exp),
                _ => {
                    problems.push(format!(
                        "instance '{instance}': field '{SCHEDULES_FIELD}': expected an array of schedule entries"
                    ));
                    (None, exp)
                }
            }
        }
        _ => {
            problems.push(format!(
                "instance '{instance}': expected a {SCHEDULES_FIELD} array or an object with '{SCHEDULES_FIELD}'"
            ));
            (None, expires)
        }
    };
    if let Some(e) = expires.filter(|e| *e <= now) {
        problems.push(format!(
            "instance '{instance}': field '{EXPIRES_FIELD}': {} is not in the future",
            e.to_rfc3339()
        ));
    }
    for (i, entry) in entries.into_iter().flatten().enumerate() {
        for p in compile(entry).problems {
            if p.severity == Severity::Error {
                problems.push(format!(
                    "instance '{instance}', schedule {i}, field '{}': {}",
                    p.field, p.message
                ));
            }
        }
    }
    match entries {
        Some(a) if problems.is_empty() => Ok(OverrideBody {
            schedules: a.clone(),
            expires,
        }),
        _ => Err(problems),
    }
}

/// The override schedules in force at `now` from what the store holds: a bare array (records
/// written before expiries existed) or `{computeStartStop, expires?}`. `None` once expired, or
/// for a record that is not readable, so the native or policy schedules apply again.
pub fn override_in_force(stored: &Value, now: DateTime<Utc>) -> Option<Vec<Value>> {
    match stored {
        Value::Array(a) => Some(a.clone()),
        Value::Object(m) => {
            if let Some(e) = m.get(EXPIRES_FIELD).filter(|e| !e.is_null()) {
                let t = e
                    .as_str()
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())?;
                if t.with_timezone(&Utc) <= now {
                    return None;
                }
            }
            m.get(SCHEDULES_FIELD)?.as_array().cloned()
        }
        _ => None,
    }
}

/// A store's override version as callers see it (`version`, the `ETag`, `--if-version`):
/// base64url of it, so that a Table Storage ETag (`W/"datetime'…'"`) survives HTTP headers and
/// shells unchanged. [`version_of_token`] reverses it.
pub fn version_token(store_version: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(store_version.as_bytes())
}

/// The store version a [`version_token`] stands for; `None` for anything no store issued.
pub fn version_of_token(token: &str) -> Option<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim())
        .ok()?;
    String::from_utf8(bytes).ok().filter(|v| !v.is_empty())
}

/// The expiry of a stored override, when it has a readable one (`explain` shows it; the tick
/// prunes the record once it has passed).
pub fn override_expiry(stored: &Value) -> Option<DateTime<Utc>> {
    let t = stored.get(EXPIRES_FIELD)?.as_str()?;
    DateTime::parse_from_rfc3339(t.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Which of `stored` (instance key, stored override) have expired at `now`, at most `limit`
/// of them, in the order given: what one tick prunes (a backlog goes over the next ticks).
/// Records without an expiry, or with an unreadable one, are never pruned.
pub fn expired_overrides<'a>(
    stored: impl IntoIterator<Item = (&'a str, &'a Value)>,
    now: DateTime<Utc>,
    limit: usize,
) -> Vec<(&'a str, DateTime<Utc>)> {
    stored
        .into_iter()
        .filter_map(|(k, v)| Some((k, override_expiry(v).filter(|e| *e <= now)?)))
        .take(limit)
        .collect()
}

/// Why an override change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
/// Its message names neither the owner nor whether the instance exists: strangers read it.
#[error(
    "instance '{instance}': {caller} may not change its schedules (not its owner, not an admin)"
)]
pub struct NotAllowed {
    /// Compute name.
    pub instance: String,
    /// Who asked (empty: nobody signed in).
    pub caller: String,
    /// The owner (or `nobody`).
    pub owner: String,
}

/// Who may read or change an instance's override: its owner (assigned user, else creator) or
/// a configured admin, compared like dismissals (case-insensitive, an empty id is nobody).
pub fn authorize_editor(
    instance: &str,
    owner: Option<&str>,
    admins: &[String],
    caller: &str,
) -> Result<Authority, NotAllowed> {
    let c = caller.trim();
    let same = |a: &str| !c.is_empty() && a.trim().eq_ignore_ascii_case(c);
    if owner.is_some_and(same) {
        Ok(Authority::Owner {
            object_id: caller.to_string(),
        })
    } else if admins.iter().any(|a| same(a)) {
        Ok(Authority::Admin {
            object_id: caller.to_string(),
        })
    } else {
        Err(NotAllowed {
            instance: instance.to_string(),
            caller: caller.to_string(),
            owner: owner.unwrap_or("nobody").to_string(),
        })
    }
}

/// One native schedule as `curfew adopt` tells the owner to disable it in the studio.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NativeLine {
    /// 0-based position in `computeStartStop`, disabled ones counted (as the studio lists them).
    pub index: usize,
    /// Start or Stop; `None` when the entry does not compile.
    pub action: Option<Action>,
    /// Whether Azure ML runs it now.
    pub enabled: bool,
    /// The trigger in words (`Cron 0 19 * * *`), empty when the entry does not compile.
    pub trigger: String,
    /// Its IANA or Windows time zone as written.
    pub time_zone: String,
}

impl NativeLine {
    /// How notices, `explain` and `curfew adopt` name it, as the studio lists it:
    /// `#0 Stop Cron 0 18 * * * (UTC)`.
    pub fn describe(&self) -> String {
        let action = self.action.map_or("?".to_string(), |a| format!("{a:?}"));
        let zone = if self.time_zone.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.time_zone)
        };
        format!("#{} {action} {}{zone}", self.index, self.trigger)
    }
}

/// Several native schedules named in one phrase: `#0 Stop Cron 0 18 * * * (UTC), #2 …`.
pub fn describe_natives(lines: &[NativeLine]) -> String {
    lines
        .iter()
        .map(NativeLine::describe)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The native schedules an adoption copies, in order: what the owner must disable afterwards
/// (the enabled ones) and what the tick keeps checking (docs/arm.md: no stable write API).
pub fn adoption_plan(native: &[Value]) -> Vec<NativeLine> {
    native
        .iter()
        .enumerate()
        .map(|(index, entry)| match compile(entry).schedule {
            Some(s) => NativeLine {
                index,
                action: Some(s.action),
                enabled: s.enabled,
                trigger: s.trigger.clone(),
                time_zone: s.time_zone.clone(),
            },
            None => NativeLine {
                index,
                action: None,
                enabled: false,
                trigger: String::new(),
                time_zone: String::new(),
            },
        })
        .collect()
}

/// What `explain` says of an adoption record: who adopted which native schedules and when,
/// then whether that still matters. The record outlives its override (clearing or expiry keeps
/// it), so without an override in force it says the override went (and nothing about
/// dismissals: the native or policy schedules apply again); with one in force and no native
/// stop left enabled, that dismissals fully work.
pub fn adoption_lines(
    at: DateTime<Utc>,
    by: &str,
    adopted: &[String],
    override_in_force: bool,
    native_stops_enabled: bool,
) -> Vec<String> {
    let mut first = format!("adopted at {} by {by}", at.to_rfc3339());
    if !adopted.is_empty() {
        first.push_str(&format!(" ({})", adopted.join(", ")));
    }
    if !override_in_force {
        first.push_str("; override since cleared");
        return vec![first];
    }
    let mut lines = vec![first];
    if !native_stops_enabled {
        lines.push("no native stop enabled in Azure ML any more: dismissals fully work".into());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_tokens_round_trip_table_etags_and_refuse_what_no_store_issued() {
        for v in ["42", "W/\"datetime'2026-03-09T12%3A00%3A00.1234567Z'\""] {
            let t = version_token(v);
            assert!(
                t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{t}"
            );
            assert_eq!(version_of_token(&t).as_deref(), Some(v));
        }
        for bad in ["", "*", "not base64!", "\"42\""] {
            assert_eq!(version_of_token(bad), None, "{bad}");
        }
    }

    #[test]
    fn adoption_lines_say_when_the_override_is_gone() {
        let at: DateTime<Utc> = "2026-03-09T12:00:00Z".parse().unwrap();
        let adopted = ["#0 Stop Cron 0 18 * * * (UTC)".to_string()];
        assert_eq!(
            adoption_lines(at, "cli:ops-bob", &adopted, false, false),
            ["adopted at 2026-03-09T12:00:00+00:00 by cli:ops-bob (#0 Stop Cron 0 18 * * * (UTC)); override since cleared"]
        );
        // Not in force: never "dismissals fully work", whatever the native stops are.
        assert_eq!(
            adoption_lines(at, "x", &[], false, true),
            ["adopted at 2026-03-09T12:00:00+00:00 by x; override since cleared"]
        );
        assert_eq!(
            adoption_lines(at, "cli:ops-bob", &adopted, true, false),
            [
                "adopted at 2026-03-09T12:00:00+00:00 by cli:ops-bob (#0 Stop Cron 0 18 * * * (UTC))",
                "no native stop enabled in Azure ML any more: dismissals fully work",
            ]
        );
        assert_eq!(adoption_lines(at, "x", &adopted, true, true).len(), 1);
    }

    #[test]
    fn adoption_plan_lists_every_native_schedule_by_index() {
        let native = [
            json!({"action": "Stop", "triggerType": "Cron", "cron": {"expression": "0 19 * * *", "timeZone": "Europe/Paris"}}),
            json!({"action": "Start", "status": "Disabled", "triggerType": "Cron", "cron": {"expression": "0 8 * * 1-5"}}),
            json!({"action": "Explode"}),
        ];
        let plan = adoption_plan(&native);
        assert_eq!(plan.len(), 3);
        assert_eq!(plan[0].action, Some(Action::Stop));
        assert!(plan[0].enabled && plan[0].time_zone == "Europe/Paris");
        assert!(plan[0].trigger.contains("0 19 * * *"), "{:?}", plan[0]);
        assert_eq!((plan[1].index, plan[1].enabled), (1, false));
        assert_eq!((plan[2].action, plan[2].enabled), (None, false));
        assert_eq!(
            describe_natives(&plan[..1]),
            "#0 Stop Cron 0 19 * * * (Europe/Paris)"
        );
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }
    fn stop(expr: &str) -> Value {
        json!({"action": "Stop", "triggerType": "Cron", "cron": {"expression": expr}})
    }

    #[test]
    fn every_problem_is_named() {
        let now = at("2026-03-06T12:00:00Z");
        let body = json!({
            "computeStartStop": [stop("0 18 * * *"), stop("not cron"), {"action": "Jump"}],
            "expires": "2026-03-01T00:00:00Z",
            "extra": 1
        });
        let p = parse_override("gpu-01", &body, None, now).unwrap_err();
        let all = p.join("\n");
        assert!(all.contains("unknown field 'extra'"), "{all}");
        assert!(
            all.contains("'expires'") && all.contains("not in the future"),
            "{all}"
        );
        assert!(all.contains("schedule 1, field 'cron.expression'"), "{all}");
        assert!(all.contains("schedule 2"), "{all}");
        assert!(p.iter().all(|l| l.contains("instance 'gpu-01'")), "{all}");
        assert!(parse_override("x", &json!("nope"), None, now).is_err());
        assert!(parse_override("x", &json!({"expires": "soon"}), None, now)
            .unwrap_err()
            .iter()
            .any(|l| l.contains("computeStartStop")));
    }

    #[test]
    fn a_bare_array_or_an_object_is_accepted() {
        let now = at("2026-03-06T12:00:00Z");
        let b = parse_override("x", &json!([stop("0 20 * * *")]), None, now).unwrap();
        assert_eq!(b.schedules.len(), 1);
        assert_eq!(b.expires, None);
        let exp = at("2026-03-13T18:00:00Z");
        let b = parse_override("x", &json!([stop("0 20 * * *")]), Some(exp), now).unwrap();
        assert_eq!(b.expires, Some(exp));
        let stored = b.to_stored();
        assert_eq!(stored["expires"], "2026-03-13T18:00:00Z");
        let again = parse_override("x", &stored, None, now).unwrap();
        assert_eq!(again, b);
    }

    #[test]
    fn an_expired_override_is_no_longer_in_force() {
        let o = OverrideBody {
            schedules: vec![stop("0 20 * * *")],
            expires: Some(at("2026-03-13T18:00:00Z")),
        }
        .to_stored();
        assert!(override_in_force(&o, at("2026-03-13T17:59:59Z")).is_some());
        assert_eq!(override_in_force(&o, at("2026-03-13T18:00:00Z")), None);
        // Legacy bare arrays never expire; unreadable records are not in force.
        let legacy = json!([stop("0 20 * * *")]);
        assert!(override_in_force(&legacy, at("2099-01-01T00:00:00Z")).is_some());
        assert_eq!(
            override_in_force(&json!({"expires": 5}), at("2026-01-01T00:00:00Z")),
            None
        );
        assert_eq!(
            override_in_force(&json!("x"), at("2026-01-01T00:00:00Z")),
            None
        );
    }

    #[test]
    fn expired_overrides_are_listed_up_to_a_limit() {
        let until = |t: &str| json!({"computeStartStop": [], "expires": t});
        let (a, b, c) = (
            until("2026-03-13T18:00:00Z"),
            until("2026-03-13T19:00:00Z"),
            until("2026-03-13T17:00:00Z"),
        );
        let (never, legacy, bad) = (json!({"computeStartStop": []}), json!([]), until("soon"));
        let all = [
            ("a", &a),
            ("never", &never),
            ("b", &b),
            ("legacy", &legacy),
            ("bad", &bad),
            ("c", &c),
        ];
        let now = at("2026-03-13T18:00:00Z");
        // At its expiry exactly it is no longer in force, so it is pruned.
        assert_eq!(
            expired_overrides(all, now, 10),
            vec![
                ("a", at("2026-03-13T18:00:00Z")),
                ("c", at("2026-03-13T17:00:00Z"))
            ]
        );
        assert_eq!(expired_overrides(all, now, 1).len(), 1);
        assert!(expired_overrides(all, at("2026-03-13T16:00:00Z"), 10).is_empty());
        assert_eq!(override_expiry(&a), Some(at("2026-03-13T18:00:00Z")));
        assert_eq!(override_expiry(&bad), None);
    }

    #[test]
    fn only_the_owner_or_an_admin_may_edit() {
        let admins = vec!["ADMIN-1".to_string()];
        assert!(matches!(
            authorize_editor("x", Some("Owner"), &admins, " owner "),
            Ok(Authority::Owner { .. })
        ));
        assert!(matches!(
            authorize_editor("x", Some("owner"), &admins, "admin-1"),
            Ok(Authority::Admin { .. })
        ));
        let e = authorize_editor("x", Some("owner"), &admins, "stranger").unwrap_err();
        assert!(e.to_string().contains("stranger may not"), "{e}");
        assert!(
            !e.to_string().contains("owner'"),
            "the owner is not told to strangers: {e}"
        );
        assert_eq!(e.owner, "owner");
        // Nobody signed in, and an instance with no owner: never the owner.
        assert!(authorize_editor("x", Some(""), &admins, "").is_err());
        assert!(authorize_editor("x", None, &[], "someone").is_err());
    }
}
