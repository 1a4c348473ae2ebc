//! Events are values. Every governor entry point (tick, dismissal, budgets) *returns* the
//! CloudEvents it made as [`Outgoing`] values; nothing in the governor sends. The caller hands
//! them to every channel from one place, [`Runtime::deliver`], and only there is a notice
//! recorded as sent: once a channel has taken it, or once no channel ever could.
//!
//! Hosted, the invocation's `events` output binding is one more channel (a
//! `curfew_notify::Collector` owned by the invocation), given as `extra`.
//!
//! No event is lost: every one is first recorded as pending in the store's outbox (keyed by
//! its CloudEvent id), and removed only once every configured channel routed has taken it (one
//! that failed while another took it stays owed the event: [`Outgoing::owed`]). What only the
//! output binding took counts as taken when the invocation answers 2xx ([`Runtime::settle`]
//! with the [`Receipt`]s); until then, and after any failure, the next delivery (a retried
//! invocation, the next tick) resends it with the same id, so consumers can dedupe. The
//! outbox stays bounded: an entry no channel took after [`OUTBOX_MAX_ATTEMPTS`] deliveries,
//! older than [`OUTBOX_HORIZON`], unreadable (poison), or a notice whose stop is due, is given
//! up and audited (`outbox.given_up`), never blocking the others.

use std::collections::HashSet;

use super::config::BINDING_CHANNEL;
use super::Runtime;
use chrono::{DateTime, TimeDelta, Utc};
use curfew_engine::routing::{route, RouteTarget};
use curfew_engine::Instance;
use curfew_notify::{
    send_to_all, Event, EventData, EventType, Notifier, NotifyError, OwnerUnreachable,
};
use curfew_store::{AuditRecord, OutboxEntry};
use serde::{Deserialize, Serialize};

/// Deliveries no channel took before an outbox entry is given up (a poison event, or a
/// channel that refuses it for good).
pub const OUTBOX_MAX_ATTEMPTS: u32 = 20;

/// How long an event may wait in the outbox: older ones are given up (audited), so the
/// outbox stays bounded even when every channel is down for a day.
pub const OUTBOX_HORIZON: TimeDelta = TimeDelta::hours(24);

/// Pending entries one delivery resends at most; the rest wait for the next one.
pub const OUTBOX_RESEND_LIMIT: usize = 500;

/// The store mark under which one `curfew.owner.unreachable` event (by id) is sent once.
const OWNER_UNREACHABLE_MARK_PREFIX: &str = "owner-unreachable/";

/// What delivering a pre-shutdown notice settles: its (occurrence, lead) mark in the store,
/// which keeps it from being sent again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// One event the governor made, not yet delivered (stored as such in the outbox).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outgoing {
    /// The CloudEvent (its id is stable: a resend carries the same one).
    pub event: Event,
    /// For a notice, the mark to record once it is delivered.
    pub mark: Option<NoticeMark>,
    /// What routing rules compare with: where the instance lives (from the event's subject),
    /// and its tags and owner once [`Outgoing::about`] adds them (kept in the outbox, so a
    /// resend is routed as the first send was).
    #[serde(default)]
    pub target: RouteTarget,
    /// The configured channels (labels) still owed it, once some other channel took it: a
    /// resend goes to these alone, so a failing channel gets the event later and the others
    /// do not get it twice. Empty: not taken anywhere yet (every routed channel).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owed: Vec<String>,
}

impl Outgoing {
    /// An event that settles nothing when delivered (instance started, dismissed, …).
    pub fn event(event: Event) -> Outgoing {
        Outgoing {
            target: RouteTarget::from_arm_id(&event.subject),
            event,
            mark: None,
            owed: Vec::new(),
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
    /// Taken only by the invocation's output binding: settled once the invocation answers
    /// 2xx ([`EventDelivery::receipt`], [`Runtime::settle`]), else resent.
    pub awaiting: bool,
    /// Resent from the outbox (an earlier delivery did not settle it).
    pub resent: bool,
    /// When only the output binding took it and some configured channels failed: the outbox
    /// entry to keep, owed to those channels, once the invocation answered 2xx.
    #[serde(skip)]
    pub owed_entry: Option<OutboxEntry>,
}

/// An event only the invocation's output binding took: what [`Runtime::settle`] records
/// once the invocation has answered 2xx.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// The CloudEvent id (its outbox key).
    pub event_id: String,
    /// The notice mark to record, if it is a notice.
    pub mark: Option<NoticeMark>,
    /// The entry to keep instead of removing it: the binding took the event, but configured
    /// channels that failed are still owed it ([`Outgoing::owed`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owed: Option<OutboxEntry>,
}

impl EventDelivery {
    /// What to settle once the invocation answers 2xx, if only its binding took the event.
    pub fn receipt(&self) -> Option<Receipt> {
        self.awaiting.then(|| Receipt {
            event_id: self.event_id.clone(),
            mark: self.mark.clone(),
            owed: self.owed_entry.clone(),
        })
    }

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

/// The outbox entry of `o` rewritten as owed to the `owed` channels only (one attempt more).
fn owing_entry(
    o: &Outgoing,
    stored: Option<&OutboxEntry>,
    owed: Vec<String>,
    now: DateTime<Utc>,
) -> OutboxEntry {
    let mut owing = o.clone();
    owing.owed = owed;
    let mut e = stored.cloned().unwrap_or_else(|| OutboxEntry {
        id: o.event.id.clone(),
        at: now,
        attempts: 0,
        payload: String::new(),
    });
    e.attempts += 1;
    e.payload = serde_json::to_string(&owing).unwrap_or_default();
    e
}

/// The outbox entries recording `events` as pending at `now` (none delivered yet).
fn pending_entries(events: &[Outgoing], now: DateTime<Utc>) -> Vec<OutboxEntry> {
    events
        .iter()
        .filter_map(|o| {
            Some(OutboxEntry {
                id: o.event.id.clone(),
                at: now,
                attempts: 0,
                payload: serde_json::to_string(o).ok()?,
            })
        })
        .collect()
}

/// Why a pending outbox entry is given up instead of resent, if it is.
fn give_up_reason(
    entry: &OutboxEntry,
    parsed: &Result<Outgoing, String>,
    now: DateTime<Utc>,
) -> Option<String> {
    if entry.attempts >= OUTBOX_MAX_ATTEMPTS {
        return Some(format!(
            "no channel took it in {} deliveries",
            entry.attempts
        ));
    }
    if now - entry.at > OUTBOX_HORIZON {
        return Some(format!(
            "pending for more than {} h",
            OUTBOX_HORIZON.num_hours()
        ));
    }
    match parsed {
        Err(e) => Some(format!("unreadable: {e}")),
        Ok(o) => match &o.event.data {
            EventData::ShutdownPending(p) if p.at_utc <= now => {
                Some("too late: the stop it warns of is due (a warning is never sent late)".into())
            }
            _ => None,
        },
    }
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

    /// Hands each event to every configured channel and to `extra` (the invocation's output
    /// binding when hosted), after recording it as pending in the outbox; events an earlier
    /// delivery left pending go again, with their ids. Delivered notices are recorded as sent.
    /// What only `extra` took stays pending until [`Runtime::settle`]. The one place events
    /// leave the governor.
    pub async fn deliver(
        &self,
        events: &[Outgoing],
        extra: Option<&dyn Notifier>,
        now: DateTime<Utc>,
    ) -> Vec<EventDelivery> {
        let mut outbox_problem: Option<String> = None;
        let entries = pending_entries(events, now);
        if !entries.is_empty() {
            if let Err(e) = self.store.outbox_record(&entries).await {
                outbox_problem = Some(format!("recording in the outbox failed: {e}"));
            }
        }
        let fresh: HashSet<&str> = events.iter().map(|o| o.event.id.as_str()).collect();
        let mut given_up: Vec<(OutboxEntry, String)> = Vec::new();
        let mut resend: Vec<(Outgoing, OutboxEntry)> = Vec::new();
        match self
            .store
            .outbox_pending(OUTBOX_RESEND_LIMIT + events.len())
            .await
        {
            Ok(pending) => {
                for e in pending {
                    if fresh.contains(e.id.as_str()) {
                        continue;
                    }
                    let parsed =
                        serde_json::from_str::<Outgoing>(&e.payload).map_err(|x| x.to_string());
                    if let Some(why) = give_up_reason(&e, &parsed, now) {
                        given_up.push((e, why));
                    } else if let Ok(o) = parsed {
                        if resend.len() < OUTBOX_RESEND_LIMIT {
                            resend.push((o, e));
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "outbox: pending events not read; resent later"),
        }
        let mut work: Vec<(Outgoing, Option<OutboxEntry>)> = events
            .iter()
            .map(|o| (o.clone(), None))
            .chain(resend.into_iter().map(|(o, e)| (o, Some(e))))
            .collect();
        let mut delivered: Vec<String> = Vec::new();
        let mut retry: Vec<OutboxEntry> = Vec::new();
        let mut out = Vec::with_capacity(work.len());
        // Owners no channel had an address for (email's `NoAddress`): each is news for
        // operations, one `curfew.owner.unreachable` a day per instance, owner and channel,
        // delivered after the rest like any event (outbox included). Its notice stays unsent.
        let mut unreachable: Vec<(RouteTarget, OwnerUnreachable)> = Vec::new();
        let mut next = 0;
        let mut reported = false;
        while next < work.len() || !reported {
            if next == work.len() {
                reported = true;
                let found = self
                    .owners_unreachable(std::mem::take(&mut unreachable), now)
                    .await;
                work.extend(found.into_iter().map(|o| (o, None)));
                continue;
            }
            let (o, stored) = &work[next];
            next += 1;
            let (o, stored) = (o.clone(), stored.clone());
            let (o, stored) = (&o, stored.as_ref());
            let mut routed = self.routed(&o.target, o.event.kind.as_str(), extra);
            if !o.owed.is_empty() {
                // Taken by the others already (the binding included): only the owed ones.
                routed.retain(|c| o.owed.iter().any(|l| l == c.channel()));
            }
            // The channels it was owed to are no longer configured (or routed): settled.
            let gone = !o.owed.is_empty() && routed.is_empty();
            // `routed` puts the output binding last when it is chosen; what it alone took
            // is settled only once the invocation answers 2xx.
            let binding_chosen = extra.is_some_and(|x| {
                routed.last().is_some_and(|l| {
                    std::ptr::addr_eq(*l as *const dyn Notifier, x as *const dyn Notifier)
                })
            });
            let configured = routed.len() - usize::from(binding_chosen);
            let outcomes = send_to_all(&routed, &o.event).await.outcomes;
            // Configured channels that failed (an owner with no address aside: that is news
            // of its own, below); owed the event when another channel took it.
            let owed: Vec<String> = outcomes[..configured.min(outcomes.len())]
                .iter()
                .filter(|c| {
                    c.result.is_err() && !matches!(c.result, Err(NotifyError::NoAddress { .. }))
                })
                .map(|c| c.channel.clone())
                .collect();
            let channels: Vec<ChannelResult> = outcomes
                .into_iter()
                .map(|c| {
                    if let (Err(NotifyError::NoAddress { owner, why, .. }), Some(instance)) =
                        (&c.result, o.event.instance())
                    {
                        if !reported
                            && !unreachable
                                .iter()
                                .any(|(_, u)| u.instance.id == instance.id && u.owner == *owner)
                        {
                            unreachable.push((
                                o.target.clone(),
                                OwnerUnreachable {
                                    instance: instance.clone(),
                                    owner: owner.clone(),
                                    channel: c.channel.clone(),
                                    day: o.event.time.date_naive(),
                                    reason: why.clone(),
                                },
                            ));
                        }
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
            let durable = gone || settles(&channels[..configured.min(channels.len())]);
            let mut d = EventDelivery {
                event_id: o.event.id.clone(),
                kind: o.event.kind.as_str().to_owned(),
                mark: o.mark.clone(),
                recorded: false,
                problem: outbox_problem.clone(),
                awaiting: false,
                resent: stored.is_some(),
                channels,
                owed_entry: None,
            };
            if durable {
                if let Some(m) = &o.mark {
                    match self.store.mark_notified(&m.key, m.lead_minutes).await {
                        Ok(_) => d.recorded = true,
                        Err(e) => d.problem = Some(e.to_string()),
                    }
                }
                if !owed.is_empty() {
                    // Kept, owed to the channels that failed: the next delivery resends it
                    // to those only, with the same id.
                    retry.push(owing_entry(o, stored, owed, now));
                } else if d.problem.is_none() || o.mark.is_none() {
                    delivered.push(o.event.id.clone());
                }
            } else if settles(&d.channels) {
                // Only the binding took it: settled once the invocation answers 2xx, and
                // then still owed to the configured channels that failed.
                d.awaiting = true;
                if !owed.is_empty() {
                    d.owed_entry = Some(owing_entry(o, stored, owed, now));
                }
            } else {
                let mut e = stored.cloned().unwrap_or_else(|| OutboxEntry {
                    id: o.event.id.clone(),
                    at: now,
                    attempts: 0,
                    payload: serde_json::to_string(o).unwrap_or_default(),
                });
                e.attempts += 1;
                retry.push(e);
            }
            out.push(d);
        }
        for (e, why) in &given_up {
            tracing::warn!(event = %e.id, reason = %why, "outbox: event given up");
        }
        if !given_up.is_empty() {
            let records: Vec<AuditRecord> = given_up
                .iter()
                .map(|(e, why)| AuditRecord {
                    at: now,
                    kind: "outbox.given_up".into(),
                    instance_id: None,
                    occurrence_id: None,
                    message: format!("event {} given up: {why}", e.id),
                    details: serde_json::json!({
                        "eventId": e.id,
                        "recordedAt": e.at,
                        "attempts": e.attempts,
                        "reason": why,
                    }),
                })
                .collect();
            match self.store.append_audit(&records).await {
                Ok(()) => delivered.extend(given_up.into_iter().map(|(e, _)| e.id)),
                Err(e) => tracing::warn!(error = %e, "outbox: giving up not audited; kept"),
            }
        }
        if outbox_problem.is_none() {
            if !retry.is_empty() {
                if let Err(e) = self.store.outbox_update(&retry).await {
                    tracing::warn!(error = %e, "outbox: attempts not counted");
                }
            }
            if !delivered.is_empty() {
                if let Err(e) = self.store.outbox_remove(&delivered).await {
                    tracing::warn!(error = %e, "outbox: delivered events not removed; resent (same ids)");
                }
            }
        }
        out
    }

    /// The `curfew.owner.unreachable` events to send for `found`: those not sent yet (a
    /// store mark per event id, so once a day per instance, owner and channel), recorded as
    /// pending in the outbox like every event.
    async fn owners_unreachable(
        &self,
        found: Vec<(RouteTarget, OwnerUnreachable)>,
        now: DateTime<Utc>,
    ) -> Vec<Outgoing> {
        let mut out = Vec::new();
        for (target, u) in found {
            // Timed at the day it is about: swept once that day is past the horizon.
            let day = u.day.and_time(chrono::NaiveTime::MIN).and_utc();
            let event = Event::owner_unreachable(&self.source, now, u);
            match self
                .once_at(&format!("{OWNER_UNREACHABLE_MARK_PREFIX}{}", event.id), day)
                .await
            {
                Ok(true) => out.push(Outgoing {
                    event,
                    mark: None,
                    target,
                    owed: Vec::new(),
                }),
                Ok(false) => {}
                Err(e) => tracing::warn!(
                    event = %event.id,
                    error = %e,
                    "recording an unreachable owner failed; not reported this time"
                ),
            }
        }
        let entries = pending_entries(&out, now);
        if !entries.is_empty() {
            if let Err(e) = self.store.outbox_record(&entries).await {
                tracing::warn!(error = %e, "outbox: an unreachable-owner event not recorded");
            }
        }
        out
    }

    /// Settles what only the invocation's output binding took, once the invocation has
    /// answered 2xx: notices are recorded as sent and the events leave the outbox. Returns
    /// the problems (each such event is then resent, with its id).
    pub async fn settle(&self, receipts: &[Receipt]) -> Vec<String> {
        let mut problems = Vec::new();
        let mut done = Vec::with_capacity(receipts.len());
        let mut owed = Vec::new();
        for r in receipts {
            if let Some(m) = &r.mark {
                if let Err(e) = self.store.mark_notified(&m.key, m.lead_minutes).await {
                    problems.push(format!("recording notice {} as sent: {e}", r.event_id));
                    continue;
                }
            }
            match &r.owed {
                Some(entry) => owed.push(entry.clone()),
                None => done.push(r.event_id.clone()),
            }
        }
        if !owed.is_empty() {
            if let Err(e) = self.store.outbox_update(&owed).await {
                problems.push(format!("keeping events owed to failed channels: {e}"));
            }
        }
        if !done.is_empty() {
            if let Err(e) = self.store.outbox_remove(&done).await {
                problems.push(format!("removing delivered events from the outbox: {e}"));
            }
        }
        problems
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
    fn pending_entries_are_given_up_when_refused_too_often_too_old_or_unreadable() {
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2031, 1, 1, 12, 0, 0).unwrap();
        let entry = |attempts, age_h| OutboxEntry {
            id: "e".into(),
            at: now - TimeDelta::hours(age_h),
            attempts,
            payload: String::new(),
        };
        let unreadable: Result<Outgoing, String> = Err("expected value".into());
        assert!(give_up_reason(&entry(0, 1), &unreadable, now)
            .unwrap()
            .starts_with("unreadable"));
        assert!(
            give_up_reason(&entry(OUTBOX_MAX_ATTEMPTS, 1), &unreadable, now)
                .unwrap()
                .starts_with("no channel took it in 20")
        );
        assert!(give_up_reason(&entry(0, 25), &unreadable, now)
            .unwrap()
            .starts_with("pending for more than 24 h"));
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
            awaiting: false,
            resent: false,
            owed_entry: None,
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
