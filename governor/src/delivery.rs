//! Events are values. Every governor entry point (tick, dismissal, budgets) *returns* the
//! CloudEvents it made as [`Outgoing`] values; nothing in the governor sends. The caller hands
//! them to every channel from one place, [`Runtime::deliver`], and only there is a notice
//! recorded as sent: once a channel has taken it, or once no channel ever could.
//!
//! Hosted, the invocation's `events` output binding is one more channel (a
//! `curfew_notify::Collector` owned by the invocation), given as `extra`.

use super::config::BINDING_CHANNEL;
use super::Runtime;
use curfew_engine::routing::{route, RouteTarget};
use curfew_engine::Instance;
use curfew_notify::{send_to_all, Event, EventType, Notifier, NotifyError, OwnerUnreachable};

/// The store mark under which one `curfew.owner.unreachable` event (by id) is sent once.
const OWNER_UNREACHABLE_MARK_PREFIX: &str = "owner-unreachable/";
use serde::Serialize;

/// What delivering a pre-shutdown notice settles: its (occurrence, lead) mark in the store,
/// which keeps it from being sent again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NoticeMark {
    /// The Stop occurrence warned of.
    pub occurrence_id: String,
    /// What it is marked under: the occurrence id, or `{id}@{due}` for a snoozed stop's new
    /// time (`curfew_engine::governor::id::notice_key`).
    pub key: String,
    /// Minutes before the stop.
    pub lead_minutes: u32,
}

/// One event the governor made, not yet delivered.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The CloudEvent (its id is stable: a resend carries the same one).
    pub event: Event,
    /// For a notice, the mark to record once it is delivered.
    pub mark: Option<NoticeMark>,
    /// What routing rules compare with: where the instance lives (from the event's subject),
    /// and its tags and owner once [`Outgoing::about`] adds them.
    pub target: RouteTarget,
}

impl Outgoing {
    /// An event that settles nothing when delivered (instance started, dismissed, …).
    pub fn event(event: Event) -> Outgoing {
        Outgoing {
            target: RouteTarget::from_arm_id(&event.subject),
            event,
            mark: None,
        }
    }

    /// A notice, recorded as sent (under `key`) once delivered.
    pub fn notice(event: Event, occurrence_id: &str, key: &str, lead_minutes: u32) -> Outgoing {
        Outgoing {
            mark: Some(NoticeMark {
                occurrence_id: occurrence_id.to_owned(),
                key: key.to_owned(),
                lead_minutes,
            }),
            ..Outgoing::event(event)
        }
    }

    /// The same event, routed with the instance's tags and owner (assigned user, else
    /// creator) too.
    pub fn about<E>(mut self, instance: &Instance<E>) -> Outgoing {
        self.set_instance(instance);
        self
    }

    /// What [`Outgoing::about`] does, in place.
    pub fn set_instance<E>(&mut self, instance: &Instance<E>) {
        let t = route_target(instance);
        self.target.tags = t.tags;
        self.target.owner = t.owner;
    }
}

/// What routing rules compare an instance with: where it lives (its ARM id), its tags and
/// its owner (assigned user, else creator).
pub fn route_target<E>(instance: &Instance<E>) -> RouteTarget {
    RouteTarget {
        tags: instance.tags.clone(),
        owner: instance
            .assigned_user
            .clone()
            .or_else(|| instance.created_by.clone()),
        ..RouteTarget::from_arm_id(instance.id.as_deref().unwrap_or_default())
    }
}

/// One channel's answer for one event.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelResult {
    /// The channel's label (never its URL: webhook URLs are secrets).
    pub channel: String,
    /// `None` when the channel took the event, else why not.
    pub error: Option<String>,
    /// Whether a later attempt may succeed (only meaningful with an error).
    pub retryable: bool,
}

/// What came of delivering one event.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDelivery {
    /// The CloudEvent id.
    pub event_id: String,
    /// The CloudEvent type.
    pub kind: String,
    /// The notice this settles, if it is one.
    pub mark: Option<NoticeMark>,
    /// Every channel's answer, in the order the channels were given.
    pub channels: Vec<ChannelResult>,
    /// For a notice: whether it is now recorded as sent.
    pub recorded: bool,
    /// A store failure while recording it (the next tick sends it again).
    pub problem: Option<String>,
}

impl EventDelivery {
    /// Whether at least one channel took the event.
    pub fn taken(&self) -> bool {
        self.channels.iter().any(|c| c.error.is_none())
    }

    /// `sent`, or the failures in words (the `outcome` of a notice in a tick's report).
    pub fn outcome(&self) -> String {
        let failed: Vec<String> = self
            .channels
            .iter()
            .filter_map(|c| c.error.as_ref().map(|e| format!("{}: {e}", c.channel)))
            .collect();
        let mut out = if self.channels.is_empty() {
            "not sent: no channel is configured or routed".to_string()
        } else if failed.is_empty() {
            "sent".to_string()
        } else if self.taken() {
            format!(
                "sent to {} of {} channel(s); failed: {}",
                self.channels.len() - failed.len(),
                self.channels.len(),
                failed.join("; ")
            )
        } else {
            format!("not sent: {}", failed.join("; "))
        };
        if let Some(p) = &self.problem {
            out.push_str(&format!("; recording it failed: {p}"));
        }
        out
    }
}

/// Whether a notice counts as sent after this delivery: some channel took it. A notice whose
/// every channel failed stays unsent and goes out again on the next tick, until the engine
/// finds it too late and drops it (a warning is never sent late).
fn settles(channels: &[ChannelResult]) -> bool {
    channels.iter().any(|c| c.error.is_none())
}

impl Runtime {
    /// The channels an event goes to: every configured one and `extra` without routing rules;
    /// with rules, those whose labels the matching rules name (`extra` as `binding`). Email
    /// channels get `curfew.shutdown.pending` only.
    pub fn routed<'a>(
        &'a self,
        target: &RouteTarget,
        kind: &str,
        extra: Option<&'a dyn Notifier>,
    ) -> Vec<&'a dyn Notifier> {
        // Email channels carry shutdown notices only (to the instance's owner), whatever the
        // rules say.
        let email_only = kind != EventType::ShutdownPending.as_str();
        let all = self.channels.iter().map(|c| c.as_ref()).filter(move |c| {
            !email_only
                || !self
                    .channel_kinds
                    .iter()
                    .any(|(l, k)| *k == "email" && l == c.channel())
        });
        match route(&self.routes, target, kind) {
            None => all.chain(extra).collect(),
            Some(r) => {
                let named = |label: &str| r.channels.contains(&label);
                all.filter(|c| named(c.channel()))
                    .chain(extra.filter(|_| named(BINDING_CHANNEL)))
                    .collect()
            }
        }
    }

    /// Hands each event to the channels its routing rules select (without rules: every
    /// configured channel and `extra`, the invocation's output binding when hosted), then
    /// records delivered notices as sent. The one place events leave the governor.
    pub async fn deliver(
        &self,
        events: &[Outgoing],
        extra: Option<&dyn Notifier>,
    ) -> Vec<EventDelivery> {
        let mut out = Vec::with_capacity(events.len());
        let mut unreachable = Vec::new();
        for o in events {
            let (d, lost) = self.deliver_one(o, extra).await;
            out.push(d);
            unreachable.extend(lost.map(|u| (o.target.clone(), o.event.time, u)));
        }
        // An owner no channel could reach is itself news for operations: one
        // `curfew.owner.unreachable` a day per instance, owner and channel (its notice stays
        // unsent and is retried; this event is not, beyond the next day's).
        for (target, time, u) in unreachable {
            let event = Event::owner_unreachable(&self.source, time, u);
            match self
                .once(&format!("{OWNER_UNREACHABLE_MARK_PREFIX}{}", event.id))
                .await
            {
                Ok(true) => {
                    let o = Outgoing {
                        event,
                        mark: None,
                        target,
                    };
                    out.push(self.deliver_one(&o, extra).await.0);
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(
                    event = %event.id,
                    error = %e,
                    "recording an unreachable owner failed; not reported this time"
                ),
            }
        }
        out
    }

    /// Delivers one event and records its notice mark; also says whose owner no channel had an
    /// address for (email's [`NotifyError::NoAddress`]).
    async fn deliver_one(
        &self,
        o: &Outgoing,
        extra: Option<&dyn Notifier>,
    ) -> (EventDelivery, Option<OwnerUnreachable>) {
        let channels = self.routed(&o.target, o.event.kind.as_str(), extra);
        let mut unreachable = None;
        let channels: Vec<ChannelResult> = send_to_all(&channels, &o.event)
            .await
            .outcomes
            .into_iter()
            .map(|c| {
                if let (Err(NotifyError::NoAddress { owner, why, .. }), Some(instance)) =
                    (&c.result, o.event.instance())
                {
                    unreachable.get_or_insert_with(|| OwnerUnreachable {
                        instance: instance.clone(),
                        owner: owner.clone(),
                        channel: c.channel.clone(),
                        day: o.event.time.date_naive(),
                        reason: why.clone(),
                    });
                }
                ChannelResult {
                    channel: c.channel,
                    retryable: c
                        .result
                        .as_ref()
                        .err()
                        .is_some_and(NotifyError::is_retryable),
                    error: c.result.err().map(|e| e.to_string()),
                }
            })
            .collect();
        for c in channels.iter().filter(|c| c.error.is_some()) {
            tracing::warn!(
                event = %o.event.id,
                kind = o.event.kind.as_str(),
                channel = %c.channel,
                error = c.error.as_deref().unwrap_or_default(),
                "event not delivered to a channel"
            );
        }
        let mut d = EventDelivery {
            event_id: o.event.id.clone(),
            kind: o.event.kind.as_str().to_owned(),
            mark: o.mark.clone(),
            recorded: false,
            problem: None,
            channels,
        };
        if let Some(m) = &o.mark {
            if settles(&d.channels) {
                match self.store.mark_notified(&m.key, m.lead_minutes).await {
                    Ok(_) => d.recorded = true,
                    Err(e) => d.problem = Some(e.to_string()),
                }
            }
        }
        (d, unreachable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(error: Option<&str>, retryable: bool) -> ChannelResult {
        ChannelResult {
            channel: "c".into(),
            error: error.map(str::to_owned),
            retryable,
        }
    }

    #[test]
    fn a_notice_is_sent_once_one_channel_took_it_and_never_when_all_failed() {
        assert!(settles(&[ch(None, false)]));
        assert!(settles(&[ch(Some("500"), true), ch(None, false)]));
        assert!(!settles(&[ch(Some("404"), false), ch(Some("bad"), false)]));
        assert!(!settles(&[ch(Some("500"), true)]));
        assert!(!settles(&[ch(Some("500"), true), ch(Some("404"), false)]));
        assert!(!settles(&[]), "no channel at all: nobody was told");
    }

    #[test]
    fn outcomes_say_which_channels_failed() {
        let d = |channels| EventDelivery {
            event_id: "e".into(),
            kind: "k".into(),
            mark: None,
            channels,
            recorded: false,
            problem: None,
        };
        assert_eq!(d(vec![ch(None, false)]).outcome(), "sent");
        assert_eq!(
            d(vec![ch(Some("HTTP 500"), true)]).outcome(),
            "not sent: c: HTTP 500"
        );
        assert_eq!(
            d(vec![ch(None, false), ch(Some("HTTP 500"), true)]).outcome(),
            "sent to 1 of 2 channel(s); failed: c: HTTP 500"
        );
        assert_eq!(
            d(vec![]).outcome(),
            "not sent: no channel is configured or routed"
        );
    }
}
