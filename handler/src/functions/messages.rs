//! Queue message bodies (`Evaluate`, `Dismissals`, `Activity`), dismiss links, and the
//! `Tick` fan-out (docs/design.md §7, §13). Every body is a JSON object; bad ones name their path.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::protocol::{from_value, HttpTrigger, Lenient, ProtocolError};

/// One workspace of the fleet, with how many compute instances it held when last listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkspaceSize {
    /// ARM id of the workspace.
    pub(crate) id: String,
    /// Compute instances in it when this process last listed it; `None` when it has not yet.
    /// `Tick` discovers workspaces only: it never lists computes to decide on fan-out.
    pub(crate) instances: Option<usize>,
}

/// The workspaces in scope at one tick.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct FleetWorkspaces {
    /// Workspaces in a stable order.
    pub(crate) workspaces: Vec<WorkspaceSize>,
}

impl FleetWorkspaces {
    /// The fleet's size for the fan-out decision: the instances last listed, plus one for
    /// each workspace not listed yet (a lower bound for a workspace that holds any).
    pub(crate) fn instances(&self) -> usize {
        self.workspaces
            .iter()
            .map(|w| w.instances.unwrap_or(1))
            .sum()
    }

    /// Workspaces whose size is not known yet.
    pub(crate) fn unlisted(&self) -> usize {
        self.workspaces
            .iter()
            .filter(|w| w.instances.is_none())
            .count()
    }
}

/// The facts of one tick that the governor needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TickContext {
    /// "now": the host's clock when it sent one.
    pub(crate) now: DateTime<Utc>,
    /// The timer fired late (normal: catch-up handles it).
    pub(crate) past_due: bool,
    /// The previous firing as the host recorded it (`ScheduleStatus.Last`), when it did.
    pub(crate) last_fired: Option<DateTime<Utc>>,
    /// Host invocation id, for correlation.
    pub(crate) invocation_id: Option<String>,
}

/// CloudEvents-style `type` of an `Evaluate` message, so a misrouted body is recognisable.
pub(crate) const EVALUATE_TYPE: &str = "curfew.evaluate";

/// The body of an `Evaluate` message: one workspace to evaluate at the tick's time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EvaluateMessage {
    /// ARM id of the workspace.
    pub(crate) workspace: String,
    /// "now" of the tick that fanned out (evaluation uses it, not the delivery time).
    pub(crate) tick_at: Option<DateTime<Utc>>,
    /// Invocation id of that tick, for correlation.
    pub(crate) tick_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EvaluateWire {
    workspace: Lenient<String>,
    #[serde(default)]
    tick_at: Option<Lenient<DateTime<Utc>>>,
    #[serde(default)]
    tick_id: Option<Lenient<String>>,
}

impl EvaluateMessage {
    /// Reads a message body found at `path`.
    pub(crate) fn from_json(body: &Value, path: &str) -> Result<Self, ProtocolError> {
        let w: EvaluateWire = from_value(body, path)?;
        let workspace = w.workspace.get().trim().to_owned();
        if !workspace.to_ascii_lowercase().contains("/workspaces/") {
            return Err(ProtocolError::Malformed {
                path: format!("{path}.workspace"),
                message: format!("expected a workspace ARM id, found {workspace:?}"),
            });
        }
        Ok(Self {
            workspace,
            tick_at: w.tick_at.map(|t| *t.get()),
            tick_id: w.tick_id.map(|t| t.get().clone()),
        })
    }

    /// The message as the output binding sends it.
    pub(crate) fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("type".into(), EVALUATE_TYPE.into());
        m.insert("workspace".into(), self.workspace.clone().into());
        if let Some(t) = self.tick_at {
            m.insert(
                "tickAt".into(),
                t.to_rfc3339_opts(SecondsFormat::Millis, true).into(),
            );
        }
        if let Some(id) = &self.tick_id {
            m.insert("tickId".into(), id.clone().into());
        }
        m
    }
}

/// What `Tick` does with the fleet it found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FanoutPlan {
    /// Evaluate everything inside this invocation.
    Inline,
    /// Emit one `Evaluate` message per workspace (the host runs them in parallel).
    FanOut(Vec<EvaluateMessage>),
}

/// Fans out when the fleet has more instances than `threshold` (docs/design.md §13), as far
/// as [`FleetWorkspaces::instances`] knows without listing computes.
pub(crate) fn plan_tick(
    fleet: &FleetWorkspaces,
    threshold: usize,
    tick: &TickContext,
) -> FanoutPlan {
    if fleet.instances() <= threshold {
        return FanoutPlan::Inline;
    }
    FanoutPlan::FanOut(
        fleet
            .workspaces
            .iter()
            .map(|w| EvaluateMessage {
                workspace: w.id.clone(),
                tick_at: Some(tick.now),
                tick_id: tick.invocation_id.clone(),
            })
            .collect(),
    )
}

/// Which planned firing a dismissal is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DismissalTarget {
    /// An occurrence id from a notification.
    Occurrence(String),
    /// An instance and the firing time (ops workflows without the id).
    InstanceAt {
        /// ARM id or name of the instance.
        instance: String,
        /// The occurrence's time.
        at: DateTime<Utc>,
    },
}

/// Skip the shutdown, or postpone it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Choice {
    /// Do not execute this occurrence.
    Skip,
    /// Postpone by this many minutes (capped by policy downstream).
    Snooze {
        /// Minutes, at least 1.
        minutes: u32,
    },
}

/// Where a dismissal came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    /// The `Dismissals` queue.
    Queue,
    /// A signed link opened in a browser (`Dismiss`).
    Link,
}

/// A dismissal request, checked for shape only; authorisation is the sink's job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DismissalRequest {
    /// The occurrence.
    pub(crate) target: DismissalTarget,
    /// Skip or snooze.
    pub(crate) choice: Choice,
    /// Entra object id of the requester, when the sender says.
    pub(crate) requested_by: Option<String>,
    /// Signed token (links always; queue messages optionally).
    pub(crate) token: Option<String>,
    /// Expiry the token covers (links).
    pub(crate) expires: Option<DateTime<Utc>>,
    /// Queue or link.
    pub(crate) channel: Channel,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DismissalWire {
    #[serde(default)]
    occurrence_id: Option<Lenient<String>>,
    #[serde(default)]
    instance: Option<Lenient<String>>,
    #[serde(default)]
    at: Option<Lenient<DateTime<Utc>>>,
    choice: Lenient<String>,
    #[serde(default)]
    minutes: Option<Lenient<i64>>,
    #[serde(default)]
    requested_by: Option<RequestedBy>,
    #[serde(default)]
    token: Option<Lenient<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestedBy {
    #[serde(default)]
    object_id: Option<Lenient<String>>,
}

impl DismissalRequest {
    /// Reads a `Dismissals` queue body found at `path`:
    /// `{occurrenceId | instance+at, choice: skip|snooze, minutes?, requestedBy{objectId}, token?}`.
    pub(crate) fn from_json(body: &Value, path: &str) -> Result<Self, ProtocolError> {
        let w: DismissalWire = from_value(body, path)?;
        let target = target(
            w.occurrence_id.map(|s| s.get().clone()),
            w.instance.map(|s| s.get().clone()),
            w.at.map(|t| *t.get()),
            path,
            ("occurrenceId", "instance", "at"),
        )?;
        let choice = choice(
            w.choice.get(),
            w.minutes.map(|m| *m.get()),
            path,
            ("choice", "minutes"),
        )?;
        Ok(Self {
            target,
            choice,
            requested_by: w
                .requested_by
                .and_then(|r| r.object_id)
                .map(|o| o.get().clone()),
            token: w.token.map(|t| t.get().clone()),
            expires: None,
            channel: Channel::Queue,
        })
    }

    /// Reads a dismiss link: query `token` (required) and optionally `occurrence`, `choice`,
    /// `minutes`, `expires`. The governor's links carry only the token: its (still unverified)
    /// claims name the occurrence, the choice and the expiry; the sink verifies the signature.
    pub(crate) fn from_link(req: &HttpTrigger) -> Result<Self, ProtocolError> {
        let path = "Data.req.Query";
        let claims = req
            .query("token")
            .filter(|s| !s.is_empty())
            .and_then(|t| curfew_engine::governor::link::unverified_claims(t).ok());
        if req.query("occurrence").filter(|s| !s.is_empty()).is_none() {
            if let Some(c) = claims {
                return Ok(Self {
                    target: DismissalTarget::Occurrence(c.occurrence_id),
                    choice: match c.choice {
                        curfew_engine::governor::Choice::Skip => Choice::Skip,
                        curfew_engine::governor::Choice::Snooze { minutes } => {
                            Choice::Snooze { minutes }
                        }
                    },
                    requested_by: None,
                    token: req.query("token").map(str::to_owned),
                    expires: Some(c.expires_at),
                    channel: Channel::Link,
                });
            }
        }
        let occurrence = req.query("occurrence").filter(|s| !s.is_empty());
        let target = target(
            occurrence.map(str::to_owned),
            None,
            None,
            path,
            ("occurrence", "instance", "at"),
        )?;
        let minutes = match req.query("minutes").filter(|s| !s.is_empty()) {
            None => None,
            Some(m) => Some(
                m.trim()
                    .parse::<i64>()
                    .map_err(|_| ProtocolError::Malformed {
                        path: format!("{path}.minutes"),
                        message: format!("expected whole minutes, found {m:?}"),
                    })?,
            ),
        };
        let choice = choice(
            req.query("choice").unwrap_or_default(),
            minutes,
            path,
            ("choice", "minutes"),
        )?;
        let token = req
            .query("token")
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        if token.is_none() {
            return Err(ProtocolError::Malformed {
                path: format!("{path}.token"),
                message: "the link has no token".into(),
            });
        }
        let expires = match req.query("expires").filter(|s| !s.is_empty()) {
            None => None,
            Some(e) => Some(super::protocol::parse_host_time(e).ok_or_else(|| {
                ProtocolError::Malformed {
                    path: format!("{path}.expires"),
                    message: format!("expected a timestamp, found {e:?}"),
                }
            })?),
        };
        Ok(Self {
            target,
            choice,
            requested_by: None,
            token,
            expires,
            channel: Channel::Link,
        })
    }

    /// A short description for logs and pages.
    pub(crate) fn describe(&self) -> String {
        let what = match self.choice {
            Choice::Skip => "skip".to_owned(),
            Choice::Snooze { minutes } => format!("snooze {minutes} min"),
        };
        match &self.target {
            DismissalTarget::Occurrence(id) => format!("{what} of occurrence {id}"),
            DismissalTarget::InstanceAt { instance, at } => {
                format!(
                    "{what} of {instance} at {}",
                    at.to_rfc3339_opts(SecondsFormat::Secs, true)
                )
            }
        }
    }
}

fn target(
    occurrence: Option<String>,
    instance: Option<String>,
    at: Option<DateTime<Utc>>,
    path: &str,
    names: (&str, &str, &str),
) -> Result<DismissalTarget, ProtocolError> {
    match (
        occurrence.filter(|s| !s.trim().is_empty()),
        instance.filter(|s| !s.trim().is_empty()),
        at,
    ) {
        (Some(id), _, _) => Ok(DismissalTarget::Occurrence(id.trim().to_owned())),
        (None, Some(instance), Some(at)) => Ok(DismissalTarget::InstanceAt { instance, at }),
        (None, Some(_), None) => Err(ProtocolError::Malformed {
            path: format!("{path}.{}", names.2),
            message: format!("{} needs {}", names.1, names.2),
        }),
        (None, None, _) => Err(ProtocolError::Malformed {
            path: format!("{path}.{}", names.0),
            message: format!("expected {} or {} and {}", names.0, names.1, names.2),
        }),
    }
}

fn choice(
    word: &str,
    minutes: Option<i64>,
    path: &str,
    names: (&str, &str),
) -> Result<Choice, ProtocolError> {
    match word.trim().to_ascii_lowercase().as_str() {
        "skip" => Ok(Choice::Skip),
        "snooze" => match minutes {
            Some(m) if (1..=i64::from(u32::MAX)).contains(&m) => Ok(Choice::Snooze {
                minutes: u32::try_from(m).unwrap_or(u32::MAX),
            }),
            Some(m) => Err(ProtocolError::Malformed {
                path: format!("{path}.{}", names.1),
                message: format!("snooze minutes must be positive, found {m}"),
            }),
            None => Err(ProtocolError::Malformed {
                path: format!("{path}.{}", names.1),
                message: "snooze needs minutes".into(),
            }),
        },
        other => Err(ProtocolError::Malformed {
            path: format!("{path}.{}", names.0),
            message: format!("expected skip or snooze, found {other:?}"),
        }),
    }
}

/// An activity report from an instance (idle detection). Only `instance` is checked here;
/// the rest of the object is passed to the sink as sent (its shape belongs to the idle work).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ActivityReport {
    /// ARM id or name of the reporting instance.
    pub(crate) instance: String,
    /// The whole report.
    pub(crate) body: Map<String, Value>,
    /// The body's exact text when the host delivered it as a string (what a signature covers).
    pub(crate) raw: Option<String>,
    /// `X-Curfew-Timestamp` and `X-Curfew-Signature` from the message's application
    /// properties, when the sender signed the report.
    pub(crate) signature: Option<(String, String)>,
}

impl ActivityReport {
    /// Reads an `Activity` queue body found at `path`.
    pub(crate) fn from_json(body: &Value, path: &str) -> Result<Self, ProtocolError> {
        let Value::Object(map) = body else {
            return Err(ProtocolError::Malformed {
                path: path.to_owned(),
                message: "expected a JSON object".into(),
            });
        };
        let instance = match map.get("instance") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
            _ => {
                return Err(ProtocolError::Malformed {
                    path: format!("{path}.instance"),
                    message: "expected the reporting instance's name or ARM id".into(),
                })
            }
        };
        Ok(Self {
            instance,
            body: map.clone(),
            raw: None,
            signature: None,
        })
    }

    /// Adds the exact body text and the signature headers found in `metadata`'s
    /// `ApplicationProperties` (or `UserProperties`), matched case-insensitively.
    pub(crate) fn with_envelope(
        mut self,
        raw: Option<String>,
        metadata: &Map<String, Value>,
    ) -> Self {
        self.raw = raw;
        let find = |name: &str| {
            ["ApplicationProperties", "UserProperties"]
                .iter()
                .filter_map(|k| metadata.get(*k).and_then(Value::as_object))
                .flat_map(|m| m.iter())
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| match v {
                    Value::String(s) => super::protocol::unquote(s).into_owned(),
                    other => other.to_string(),
                })
        };
        if let (Some(ts), Some(sig)) = (find(SIGNATURE_TIMESTAMP), find(SIGNATURE_HEADER)) {
            self.signature = Some((ts, sig));
        }
        self
    }
}

/// Application property carrying the report's unix-seconds timestamp (docs/idle.md).
pub(crate) const SIGNATURE_TIMESTAMP: &str = "X-Curfew-Timestamp";
/// Application property carrying `sha256=<hex>` over `"<timestamp>.<body>"` (docs/idle.md).
pub(crate) const SIGNATURE_HEADER: &str = "X-Curfew-Signature";

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn tick() -> TickContext {
        TickContext {
            now: Utc.with_ymd_and_hms(2026, 3, 8, 10, 0, 0).unwrap(),
            past_due: false,
            last_fired: None,
            invocation_id: Some("inv-1".into()),
        }
    }

    fn sized(sizes: &[Option<usize>]) -> FleetWorkspaces {
        FleetWorkspaces {
            workspaces: sizes
                .iter()
                .enumerate()
                .map(|(i, n)| WorkspaceSize {
                    id: format!("/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws{i}"),
                    instances: *n,
                })
                .collect(),
        }
    }

    fn fleet(sizes: &[usize]) -> FleetWorkspaces {
        sized(&sizes.iter().map(|n| Some(*n)).collect::<Vec<_>>())
    }

    #[test]
    fn workspaces_not_listed_yet_count_as_one_instance_each() {
        // A fresh process knows no sizes: two workspaces exceed a threshold of one.
        assert!(matches!(
            plan_tick(&sized(&[None, None]), 1, &tick()),
            FanoutPlan::FanOut(m) if m.len() == 2
        ));
        assert_eq!(
            plan_tick(&sized(&[None, None]), 200, &tick()),
            FanoutPlan::Inline
        );
        // Known sizes count as listed.
        let f = sized(&[Some(150), None, Some(60)]);
        assert_eq!((f.instances(), f.unlisted()), (211, 1));
        assert!(matches!(plan_tick(&f, 200, &tick()), FanoutPlan::FanOut(_)));
    }

    #[test]
    fn small_fleets_are_evaluated_inline_large_ones_fan_out_per_workspace() {
        assert_eq!(
            plan_tick(&fleet(&[100, 100]), 200, &tick()),
            FanoutPlan::Inline
        );
        let FanoutPlan::FanOut(msgs) = plan_tick(&fleet(&[100, 101, 0]), 200, &tick()) else {
            panic!("expected fan-out")
        };
        assert_eq!(
            msgs.len(),
            3,
            "one message per workspace, empty ones included"
        );
        let body = Value::Object(msgs[1].to_json());
        assert_eq!(body["type"], EVALUATE_TYPE);
        assert_eq!(body["tickAt"], "2026-03-08T10:00:00.000Z");
        assert_eq!(body["tickId"], "inv-1");
        // Each message reads back as sent.
        assert_eq!(
            EvaluateMessage::from_json(&body, "Data.message").unwrap(),
            msgs[1]
        );
    }

    #[test]
    fn evaluate_message_needs_a_workspace_id() {
        let err =
            EvaluateMessage::from_json(&json!({"workspace": "ws0"}), "Data.message").unwrap_err();
        assert!(err.to_string().contains("Data.message.workspace"), "{err}");
        let err = EvaluateMessage::from_json(&json!({}), "Data.message").unwrap_err();
        assert!(err.to_string().contains("workspace"), "{err}");
    }

    #[test]
    fn dismissal_bodies_by_occurrence_or_instance_and_time() {
        let d = DismissalRequest::from_json(
            &json!({"occurrenceId": "occ-1", "choice": "Snooze", "minutes": "30", "requestedBy": {"objectId": "u1"}}),
            "Data.message",
        )
        .unwrap();
        assert_eq!(d.target, DismissalTarget::Occurrence("occ-1".into()));
        assert_eq!(d.choice, Choice::Snooze { minutes: 30 });
        assert_eq!(d.requested_by.as_deref(), Some("u1"));
        let d = DismissalRequest::from_json(
            &json!({"instance": "ci-1", "at": "2026-03-08T18:00:00", "choice": "skip"}),
            "Data.message",
        )
        .unwrap();
        assert_eq!(d.describe(), "skip of ci-1 at 2026-03-08T18:00:00Z");
    }

    #[test]
    fn bad_dismissals_name_the_field() {
        for (body, path) in [
            (json!({"choice": "skip"}), "Data.message.occurrenceId"),
            (
                json!({"instance": "ci", "choice": "skip"}),
                "Data.message.at",
            ),
            (
                json!({"occurrenceId": "o", "choice": "later"}),
                "Data.message.choice",
            ),
            (
                json!({"occurrenceId": "o", "choice": "snooze"}),
                "Data.message.minutes",
            ),
            (
                json!({"occurrenceId": "o", "choice": "snooze", "minutes": -5}),
                "Data.message.minutes",
            ),
            (json!({"occurrenceId": "o"}), "Data.message"),
        ] {
            let err = DismissalRequest::from_json(&body, "Data.message").unwrap_err();
            assert!(err.to_string().contains(path), "{body}: {err}");
        }
    }

    #[test]
    fn activity_needs_an_instance() {
        let a =
            ActivityReport::from_json(&json!({"instance": "ci-1", "kernels": 2}), "Data.message")
                .unwrap();
        assert_eq!(a.instance, "ci-1");
        let err = ActivityReport::from_json(&json!({"kernels": 2}), "Data.message").unwrap_err();
        assert!(err.to_string().contains("Data.message.instance"), "{err}");
        assert!(ActivityReport::from_json(&json!([1]), "Data.message").is_err());
    }
}
