//! `explain`: one instance's effective schedules with their sources, its next occurrences (with
//! the ids notices and dismissals use), and its ledger history.

use super::Runtime;
use chrono::{DateTime, TimeDelta, Utc};
use curfew_engine::governor::{effective_schedules, id, InstanceView, PolicyDefault};
use curfew_engine::schedule::Source;
use curfew_engine::Action;
use serde::Serialize;

/// How far ahead `explain` lists occurrences.
pub(crate) const EXPLAIN_DAYS: i64 = 7;

/// Everything `explain` shows.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Explanation {
    /// Compute name.
    pub(crate) instance: String,
    /// ARM id.
    pub(crate) id: Option<String>,
    /// ARM state.
    pub(crate) state: Option<String>,
    /// Who is warned and may dismiss.
    pub(crate) owner: Option<String>,
    /// Schedules in force.
    pub(crate) schedules: Vec<ScheduleLine>,
    /// Problems with schedules that are not in force.
    pub(crate) problems: Vec<String>,
    /// Occurrences of the next days.
    pub(crate) next: Vec<NextLine>,
    /// Ledger records, oldest first.
    pub(crate) history: Vec<HistoryLine>,
}

/// One schedule in force.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScheduleLine {
    /// `native`, `override` or `policy:<name>`.
    pub(crate) source: String,
    /// Index within its source.
    pub(crate) index: usize,
    /// Start or Stop.
    pub(crate) action: Action,
    /// Whether it fires.
    pub(crate) enabled: bool,
    /// The trigger in words.
    pub(crate) trigger: String,
    /// The zone as written.
    pub(crate) time_zone: String,
}

/// One coming occurrence.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NextLine {
    /// Ledger key (what notices carry and `dismiss --occurrence` takes).
    pub(crate) occurrence_id: String,
    /// Start or Stop.
    pub(crate) action: Action,
    /// When.
    pub(crate) at: DateTime<Utc>,
    /// Local wall time with offset.
    pub(crate) local: String,
    /// Which schedule.
    pub(crate) source: String,
}

/// One ledger record.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HistoryLine {
    /// Ledger key.
    pub(crate) occurrence_id: String,
    /// The occurrence's time.
    pub(crate) at: DateTime<Utc>,
    /// Start, Stop or IdleStop.
    pub(crate) action: String,
    /// Where it stands.
    pub(crate) state: String,
    /// Why, and what happened.
    pub(crate) reason: String,
    /// ARM's answer, if executed.
    pub(crate) outcome: Option<String>,
}

fn source_label(s: &Source) -> String {
    match s {
        Source::Native => "native".into(),
        Source::Override => "override".into(),
        Source::Policy(p) => format!("policy:{p}"),
    }
}

/// Explains the instance named `name` (case-insensitive) at `now`.
pub(crate) async fn explain(
    rt: &Runtime,
    name: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Explanation> {
    let fleet = rt.fleet().await;
    let Some(fi) = fleet
        .instances
        .iter()
        .find(|f| f.instance.name.eq_ignore_ascii_case(name))
    else {
        let mut known: Vec<&str> = fleet
            .instances
            .iter()
            .map(|f| f.instance.name.as_str())
            .collect();
        known.sort_unstable();
        anyhow::bail!(
            "no compute instance named '{name}' in the configured scopes (known: {})",
            known.join(", ")
        );
    };
    let key = InstanceView::new(&fi.instance, Vec::new()).key();
    let overrides = rt.store.get_override(&key).await?;
    let ov = overrides.as_ref().and_then(|v| v.as_array().cloned());
    let defaults = rt.policy_defaults(fi, now.date_naive());
    let pd: Vec<PolicyDefault<'_>> = defaults
        .iter()
        .map(|(policy, schedules)| PolicyDefault { policy, schedules })
        .collect();
    let set = effective_schedules(&fi.instance, ov.as_deref(), &pd);
    let view = InstanceView::new(&fi.instance, set.schedules);
    let mut next = Vec::new();
    for s in &view.schedules {
        for o in s
            .schedule
            .occurrences(now, now + TimeDelta::days(EXPLAIN_DAYS))
        {
            let local = curfew_engine::dst::wall(&s.schedule.zone, o.at);
            next.push(NextLine {
                occurrence_id: id::occurrence_id(
                    &key,
                    &s.source,
                    s.index,
                    s.schedule.action,
                    o.at,
                    &s.content_hash,
                ),
                action: s.schedule.action,
                at: o.at,
                local: format!(
                    "{} {}",
                    local.format("%Y-%m-%d %H:%M"),
                    s.schedule.zone.abbreviation_at(o.at.timestamp())
                ),
                source: format!("{}#{}", source_label(&s.source), s.index),
            });
        }
    }
    next.sort_by_key(|n| n.at);
    let mut history: Vec<HistoryLine> = rt
        .store
        .entries_for_instance(&key)
        .await?
        .into_iter()
        .map(|e| HistoryLine {
            occurrence_id: e.value.occurrence_id,
            at: e.value.at,
            action: e.value.action.as_str().into(),
            state: e.value.state.as_str().into(),
            reason: e.value.reason,
            outcome: e.value.outcome,
        })
        .collect();
    history.sort_by_key(|h| h.at);
    Ok(Explanation {
        instance: fi.instance.name.clone(),
        id: fi.instance.id.clone(),
        state: fi.instance.state.clone(),
        owner: view.owner.clone(),
        schedules: view
            .schedules
            .iter()
            .map(|s| ScheduleLine {
                source: source_label(&s.source),
                index: s.index,
                action: s.schedule.action,
                enabled: s.schedule.enabled,
                trigger: s.schedule.trigger.clone(),
                time_zone: s.schedule.time_zone.clone(),
            })
            .collect(),
        problems: set.diagnostics.iter().map(|(_, d)| d.to_string()).collect(),
        next,
        history,
    })
}
