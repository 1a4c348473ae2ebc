//! Dismissals (docs/design.md §7): who may skip or snooze an occurrence, and what the ledger then holds.
//!
//! Honoured when the requester is the instance's owner (assigned user, else creator) or an admin,
//! or when the request carries a valid signed link for that occurrence and choice. A snooze
//! postpones the action to `occurrence time + minutes` (never shortened, never past the cap), so
//! clicking the same link twice changes nothing; a skip after a snooze (or the reverse, while
//! the snoozed time is ahead) replaces it. After the occurrence has been acted on, any
//! dismissal is "too late". An empty object id is nobody's.

use super::id::{idle_occurrence_id, occurrence_id};
use super::link::{verify, LinkError, LinkKey};
use super::{Config, Dismissal, InstanceView, Status};
use crate::schedule::Action;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// How far ahead an occurrence id or `instance + at` is looked up among coming firings.
pub const DISMISS_LOOKAHEAD: TimeDelta = TimeDelta::days(8);

/// What the requester wants done with the occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Do not carry it out.
    Skip,
    /// Carry it out this many minutes after its time.
    Snooze {
        /// Minutes after the occurrence time (30, 60, 120 in links; capped by configuration).
        minutes: u32,
    },
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Choice::Skip => f.write_str("skip"),
            Choice::Snooze { minutes } => write!(f, "snooze:{minutes}"),
        }
    }
}

impl FromStr for Choice {
    type Err = String;

    /// `skip` or `snooze:MINUTES` (the form inside link tokens).
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("skip") {
            return Ok(Choice::Skip);
        }
        s.strip_prefix("snooze:")
            .and_then(|m| m.parse::<u32>().ok())
            .map(|minutes| Choice::Snooze { minutes })
            .ok_or_else(|| format!("'{s}' is not skip or snooze:MINUTES"))
    }
}

impl Serialize for Choice {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Which occurrence a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// By id (links, notices).
    Occurrence(String),
    /// By instance and occurrence time (ops workflows).
    At {
        /// The compute's ARM id (names exactly one instance), or its bare name.
        instance: String,
        /// The occurrence's time.
        at: DateTime<Utc>,
    },
}

/// How the requester proves they may dismiss.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An authenticated object id (queue message `requestedBy.objectId`).
    ObjectId(String),
    /// A signed one-click link token.
    Token(String),
}

/// A request to skip or snooze one occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DismissalRequest {
    /// The occurrence.
    pub target: Target,
    /// Skip or snooze.
    pub choice: Choice,
    /// Object id or token.
    pub credential: Credential,
}

impl DismissalRequest {
    /// The request a link token makes (target and choice from its claims, unverified until
    /// [`authorize`] checks it).
    pub fn from_token(token: &str) -> Result<Self, LinkError> {
        let claims = super::link::unverified_claims(token)?;
        Ok(DismissalRequest {
            target: Target::Occurrence(claims.occurrence_id),
            choice: claims.choice,
            credential: Credential::Token(token.to_string()),
        })
    }
}

/// On whose authority a dismissal was accepted (for the audit log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "as")]
pub enum Authority {
    /// The instance's owner.
    Owner {
        /// Their object id.
        object_id: String,
    },
    /// A configured admin.
    Admin {
        /// Their object id.
        object_id: String,
    },
    /// A valid signed link.
    Token {
        /// The key that signed it.
        key_id: String,
    },
}

/// An accepted dismissal: what the ledger record of the occurrence should now hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AcceptedDismissal {
    /// The occurrence.
    pub occurrence_id: String,
    /// Compute name.
    pub instance: String,
    /// Start or Stop.
    pub action: Action,
    /// The occurrence's time.
    pub at: DateTime<Utc>,
    /// The resulting dismissal (after merging with an earlier one).
    pub dismissal: Dismissal,
    /// Whether it differs from what the ledger held (false: a repeat, nothing to write).
    pub changed: bool,
    /// Who allowed it.
    pub authority: Authority,
    /// In words, for the audit log and the reply.
    pub reason: String,
}

/// Why a dismissal was refused; it changes nothing, is audited, and is never retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The link token is forged, malformed, signed by an unknown key, or expired.
    #[error("instance '{instance}': {source}")]
    Token {
        /// Compute name.
        instance: String,
        /// What is wrong with the token.
        source: LinkError,
    },
    /// A valid token, replayed for another occurrence.
    #[error(
        "instance '{instance}': the link is for occurrence {token_occurrence}, not {requested}"
    )]
    OtherOccurrence {
        /// Compute name.
        instance: String,
        /// The occurrence the token is for.
        token_occurrence: String,
        /// The occurrence requested.
        requested: String,
    },
    /// A valid token, used for another choice than it grants.
    #[error("instance '{instance}': the link grants {granted}, not {requested}")]
    OtherChoice {
        /// Compute name.
        instance: String,
        /// The choice in the token.
        granted: Choice,
        /// The choice requested.
        requested: Choice,
    },
    /// The requester is neither the owner nor an admin.
    /// Its message does not name the owner: whoever asked reads it.
    #[error("instance '{instance}': {requested_by} may not dismiss occurrence {occurrence_id} (not its owner, not an admin)")]
    Unauthorised {
        /// Compute name.
        instance: String,
        /// The occurrence.
        occurrence_id: String,
        /// Who asked.
        requested_by: String,
        /// The owner (or `nobody`), for the audit log only.
        owner: String,
    },
    /// The occurrence has already been acted on.
    #[error("instance '{instance}': too late, occurrence {occurrence_id} is already {status:?}")]
    TooLate {
        /// Compute name.
        instance: String,
        /// The occurrence.
        occurrence_id: String,
        /// Its ledger status.
        status: Status,
    },
    /// The snooze would postpone the occurrence beyond the cap.
    #[error("instance '{instance}': snooze of {minutes} min on occurrence {occurrence_id} exceeds the cap of {cap_minutes} min")]
    CapExceeded {
        /// Compute name.
        instance: String,
        /// The occurrence.
        occurrence_id: String,
        /// Requested minutes.
        minutes: u32,
        /// The cap in minutes.
        cap_minutes: i64,
    },
    /// A snooze of zero minutes.
    #[error("instance '{instance}': a snooze must be at least 1 minute")]
    InvalidChoice {
        /// Compute name.
        instance: String,
    },
    /// No such occurrence of this instance (past the lookahead, or its schedule changed).
    #[error("instance '{instance}': no occurrence {target}")]
    UnknownOccurrence {
        /// Compute name.
        instance: String,
        /// The id or time asked for.
        target: String,
    },
}

/// One occurrence found for a dismissal.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Found {
    id: String,
    action: Action,
    at: DateTime<Utc>,
}

/// Decides a dismissal request against one instance (its effective schedules, idle stops and
/// ledger view), the configured admins and link keys, at `now`.
pub fn authorize(
    request: &DismissalRequest,
    instance: &InstanceView,
    config: &Config,
    keys: &[LinkKey],
    now: DateTime<Utc>,
) -> Result<AcceptedDismissal, Rejection> {
    let name = &instance.name;
    if request.choice == (Choice::Snooze { minutes: 0 }) {
        return Err(Rejection::InvalidChoice {
            instance: name.clone(),
        });
    }
    let found = resolve(&request.target, instance, config, now).ok_or_else(|| {
        Rejection::UnknownOccurrence {
            instance: name.clone(),
            target: match &request.target {
                Target::Occurrence(id) => id.clone(),
                Target::At { instance, at } => format!("{instance} at {}", at.to_rfc3339()),
            },
        }
    })?;
    let authority = match &request.credential {
        Credential::Token(token) => {
            let claims = verify(keys, token, now).map_err(|source| Rejection::Token {
                instance: name.clone(),
                source,
            })?;
            if claims.occurrence_id != found.id {
                return Err(Rejection::OtherOccurrence {
                    instance: name.clone(),
                    token_occurrence: claims.occurrence_id,
                    requested: found.id,
                });
            }
            if claims.choice != request.choice {
                return Err(Rejection::OtherChoice {
                    instance: name.clone(),
                    granted: claims.choice,
                    requested: request.choice,
                });
            }
            Authority::Token {
                key_id: claims.key_id,
            }
        }
        Credential::ObjectId(oid) => {
            super::overrides::authorize_editor(name, instance.owner.as_deref(), &config.admins, oid)
                .map_err(|e| Rejection::Unauthorised {
                    instance: name.clone(),
                    occurrence_id: found.id.clone(),
                    requested_by: oid.clone(),
                    owner: e.owner,
                })?
        }
    };
    let entry = instance.entry(&found.id);
    let previous = entry.and_then(|e| e.dismissal);
    if let Some(e) = entry.filter(|e| e.status.is_final()) {
        // Skipped by a skip: repeating it is the same answer, and a snooze replaces it while
        // the snoozed time is still ahead (later, it would act at once).
        let replaceable = e.status == Status::Skipped
            && previous == Some(Dismissal::Skip)
            && match request.choice {
                Choice::Skip => true,
                Choice::Snooze { minutes } => {
                    found.at + TimeDelta::minutes(i64::from(minutes)) > now
                }
            };
        if !replaceable {
            return Err(Rejection::TooLate {
                instance: name.clone(),
                occurrence_id: found.id,
                status: e.status,
            });
        }
    }
    let wanted = match request.choice {
        Choice::Skip => Dismissal::Skip,
        Choice::Snooze { minutes } => {
            let delay = TimeDelta::minutes(i64::from(minutes));
            if delay > config.snooze_cap {
                return Err(Rejection::CapExceeded {
                    instance: name.clone(),
                    occurrence_id: found.id,
                    minutes,
                    cap_minutes: config.snooze_cap.num_minutes(),
                });
            }
            Dismissal::Snooze {
                until: found.at + delay,
            }
        }
    };
    let dismissal = match (previous, wanted) {
        // A snooze only ever extends: a shorter (or repeated) one leaves the longer in force.
        (Some(Dismissal::Snooze { until: old }), Dismissal::Snooze { until: new }) => {
            Dismissal::Snooze {
                until: old.max(new),
            }
        }
        (_, w) => w,
    };
    let changed = previous != Some(dismissal);
    let local = at_text(found.at);
    let reason = match dismissal {
        Dismissal::Skip => format!("{} of {local} skipped", verb(found.action)),
        Dismissal::Snooze { until } => format!(
            "{} of {local} snoozed until {} ({} min)",
            verb(found.action),
            at_text(until),
            (until - found.at).num_minutes()
        ),
    };
    let reason = if changed {
        reason
    } else {
        format!("{reason} (already so: nothing changed)")
    };
    Ok(AcceptedDismissal {
        occurrence_id: found.id,
        instance: name.clone(),
        action: found.action,
        at: found.at,
        dismissal,
        changed,
        authority,
        reason,
    })
}

fn verb(a: Action) -> &'static str {
    match a {
        Action::Start => "start",
        Action::Stop => "stop",
    }
}

fn at_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Finds the occurrence a target names: in the ledger view, among idle stops, then among the
/// schedules' firings from `now − (snooze cap + defer deadline)` to `now + DISMISS_LOOKAHEAD`.
fn resolve(
    target: &Target,
    inst: &InstanceView,
    config: &Config,
    now: DateTime<Utc>,
) -> Option<Found> {
    let key = inst.key();
    match target {
        Target::Occurrence(id) => {
            if let Some(e) = inst.entry(id) {
                return Some(Found {
                    id: id.clone(),
                    action: e.action,
                    at: e.at,
                });
            }
            if let Some(s) = inst
                .idle_stops
                .iter()
                .find(|s| idle_occurrence_id(&key, s.idle_since) == *id)
            {
                return Some(Found {
                    id: id.clone(),
                    action: Action::Stop,
                    at: s.due_at,
                });
            }
            let from = now - config.snooze_cap - config.defer_deadline;
            let to = now + DISMISS_LOOKAHEAD;
            inst.schedules.iter().find_map(|es| {
                es.occurrences_in_force(from, to).find_map(|o| {
                    let oid = occurrence_id(
                        &key,
                        &es.source,
                        es.index,
                        es.schedule.action,
                        o.at,
                        &es.content_hash,
                    );
                    (oid == *id).then_some(Found {
                        id: oid,
                        action: es.schedule.action,
                        at: o.at,
                    })
                })
            })
        }
        Target::At { instance, at } => {
            // An ARM id names this instance only; a bare name, the instance of that name.
            let named = if instance.contains('/') {
                inst.id.as_deref().is_some_and(|id| {
                    id.trim_end_matches('/')
                        .eq_ignore_ascii_case(instance.trim().trim_end_matches('/'))
                })
            } else {
                instance.trim().eq_ignore_ascii_case(&inst.name)
            };
            if !named {
                return None;
            }
            let mut found: Vec<Found> = inst
                .schedules
                .iter()
                .filter(|es| {
                    es.next_in_force_after(*at - TimeDelta::seconds(1))
                        .is_some_and(|o| o.at == *at)
                })
                .map(|es| Found {
                    id: occurrence_id(
                        &key,
                        &es.source,
                        es.index,
                        es.schedule.action,
                        *at,
                        &es.content_hash,
                    ),
                    action: es.schedule.action,
                    at: *at,
                })
                .collect();
            found.extend(
                inst.idle_stops
                    .iter()
                    .filter(|s| s.due_at == *at)
                    .map(|s| Found {
                        id: idle_occurrence_id(&key, s.idle_since),
                        action: Action::Stop,
                        at: *at,
                    }),
            );
            // Dismissals are about shutdowns: a Stop at that time wins over a Start.
            found.sort_by_key(|f| f.action != Action::Stop);
            found.into_iter().next()
        }
    }
}
