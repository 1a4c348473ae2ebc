//! The self-service page's data (`StatusSource::page`): who is asking (a signed owner link,
//! verified against the link keys before anything is looked up, else the signed-in
//! principal), what they may see (their own instances; the fleet for a configured admin), and
//! an editor submission performed through the `Schedules` logic (the same authorisation, the
//! engine's validation and the same audit). Skip and snooze go through `Dismiss` itself: the
//! page only carries the signed tokens a notice would.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Datelike, TimeDelta, TimeZone, Utc};
use curfew_arm::ComputeId;
use curfew_engine::governor::{
    self as engine, id, InstanceView, PolicyDefault, PowerState, ViewPurpose,
};
use curfew_engine::idle::{idle_state, IdleRecord, IdleVerdict, Threshold};
use curfew_engine::Action;
use curfew_governor::override_edit::Editor;
use curfew_governor::{FleetInstance, Runtime};
use curfew_store::{LedgerEntry, LedgerState, TimelineRecord};
use serde_json::Value;

use super::HostedGovernor;
use crate::functions::{
    IfMatch, InstanceRow, Notice, OverrideRequest, PageAsk, PageData, PortError, StopRow, PAGE_ROWS,
};

/// How far ahead the page lists an instance's starts and stops.
pub(crate) const PAGE_HORIZON: TimeDelta = TimeDelta::hours(24);
/// How long a signed owner link made on the admin view opens that owner's page.
pub(crate) const OWNER_LINK_LIFETIME: TimeDelta = TimeDelta::days(7);
/// How long a page's forms may be submitted after it was served.
pub(crate) const FORM_LIFETIME: TimeDelta = TimeDelta::hours(8);
/// The snoozes the page offers for a coming stop, as the notices do.
pub(crate) const SNOOZE_MINUTES: [u32; 3] = [30, 60, 120];

/// What a refused link says: never which part failed, never whose it was.
const BAD_LINK: &str = "This link is not valid: it was changed, has expired, or was not made by this Curfew. Open the newest link Curfew sent you, or sign in.";

fn same(a: &str, b: &str) -> bool {
    !a.trim().is_empty() && a.trim().eq_ignore_ascii_case(b.trim())
}

/// Who the page is for.
struct Viewer {
    id: String,
    name: Option<String>,
    admin: bool,
    link: Option<(String, DateTime<Utc>)>,
}

/// The viewer of `ask`, from the signed link (verified first: nothing is looked up for a
/// link that does not verify) or the principal App Service Authentication set.
fn viewer(rt: &Runtime, ask: &PageAsk, now: DateTime<Utc>) -> Result<Viewer, PortError> {
    if let Some(link) = &ask.link {
        let claims = engine::verify_view(&rt.link_keys, ViewPurpose::OwnerLink, link, now)
            .map_err(|e| {
                tracing::warn!(error = %e, "self-service link refused");
                PortError::Unauthorized(BAD_LINK.into())
            })?;
        return Ok(Viewer {
            id: claims.subject,
            name: None,
            admin: false,
            link: Some((link.clone(), claims.expires_at)),
        });
    }
    let Some(principal) = ask.principal.clone().filter(|p| !p.trim().is_empty()) else {
        return Err(PortError::Unauthorized(
            "Nobody is signed in, and the address has no signed link.".into(),
        ));
    };
    let admin = rt.config.admins.iter().any(|a| same(a, &principal));
    Ok(Viewer {
        id: principal,
        name: ask.principal_name.clone(),
        admin,
        link: None,
    })
}

/// A ledger state in words, and whether a skip or snooze may still change it.
fn stop_status(e: &LedgerEntry) -> (String, bool) {
    match e.state {
        LedgerState::Planned => ("will stop (notice pending)".into(), true),
        LedgerState::Notified => ("will stop (owner notified)".into(), true),
        LedgerState::Snoozed => (
            format!(
                "snoozed until {}",
                e.snoozed_until
                    .map_or_else(|| "?".into(), |t| t.format("%H:%M UTC").to_string())
            ),
            true,
        ),
        LedgerState::Dismissed => ("skipped".into(), false),
        ref other => (format!("{other:?}").to_ascii_lowercase(), false),
    }
}

/// How long the admin view reuses its fleet listing (per process; the owner view always
/// reads its few instances fresh). The page says when the listing was made.
pub(crate) const ADMIN_FLEET_TTL: TimeDelta = TimeDelta::seconds(60);

impl HostedGovernor {
    /// The fleet for the admin view at `now`, and when it was listed: the listing of the last
    /// [`ADMIN_FLEET_TTL`] when there is one, else a new one, kept only when every scope
    /// answered (a partial listing is shown with its problems, and listed again next time).
    /// Views waiting meanwhile share the one listing.
    async fn admin_fleet(
        &self,
        rt: &Runtime,
        now: DateTime<Utc>,
    ) -> (std::sync::Arc<curfew_governor::ListedFleet>, DateTime<Utc>) {
        let mut slot = self.admin_fleet.lock().await;
        if let Some((at, fleet)) = slot.as_ref() {
            if *at <= now && now < *at + ADMIN_FLEET_TTL {
                return (std::sync::Arc::clone(fleet), *at);
            }
        }
        let fleet = std::sync::Arc::new(rt.fleet().await);
        if !fleet.unreachable && fleet.problems.is_empty() {
            *slot = Some((now, std::sync::Arc::clone(&fleet)));
        }
        (fleet, now)
    }

    /// Performs the editor submission of `ask` for `viewer`, through the `Schedules` logic.
    async fn page_edit(
        &self,
        rt: &Runtime,
        viewer: &Viewer,
        ask: &PageAsk,
        now: DateTime<Utc>,
    ) -> Result<Option<Notice>, PortError> {
        let Some(post) = &ask.post else {
            return Ok(None);
        };
        // A cross-site form cannot know this token; one made for somebody else does not fit.
        let token_ok = post.form_token.as_deref().is_some_and(|t| {
            engine::verify_view(&rt.link_keys, ViewPurpose::Form, t, now)
                .is_ok_and(|c| same(&c.subject, &viewer.id))
        });
        if !token_ok {
            return Err(PortError::Unauthorized(
                "This form was not sent from your Curfew page, or it is too old: reload the page and try again. Nothing was changed.".into(),
            ));
        }
        let instance = post.instance.trim();
        // The version the page showed: a save from a page older than somebody else's change
        // is refused (412 in `Schedules`), not a silent undo of it. A form without the field
        // (a page rendered before it existed) writes unconditionally, as it always did.
        let if_match = match post.version.as_deref().map(str::trim) {
            None => IfMatch::Any,
            Some("" | "none") => IfMatch::Absent,
            Some(v) => IfMatch::Version(v.to_owned()),
        };
        let request = if post.op.eq_ignore_ascii_case("clear") {
            OverrideRequest::Delete(if_match)
        } else {
            match serde_json::from_str::<Value>(&post.schedules) {
                Ok(v) => OverrideRequest::Put(v, if_match),
                Err(e) => {
                    return Ok(Some(Notice {
                        ok: false,
                        instance: instance.to_owned(),
                        message: format!(
                            "instance '{instance}': the override is not JSON ({e}); nothing was changed"
                        ),
                        problems: Vec::new(),
                    }))
                }
            }
        };
        // Through a signed link nobody signed in: the link speaks for its owner only.
        let editor = match &viewer.link {
            Some(_) => Editor::Link(viewer.id.clone()),
            None => Editor::Principal(viewer.id.clone()),
        };
        let answer = self.edit_as(instance, editor, request, now).await?;
        let text = |k: &str| answer.body[k].as_str().unwrap_or_default().to_owned();
        if answer.status == 412 {
            // Somebody changed it since this page was loaded: say so, show what is stored now,
            // and keep the owner's text in the editor (the page below carries the current
            // version, so saving again replaces it on purpose).
            let current = &answer.body["current"];
            return Ok(Some(Notice {
                ok: false,
                instance: instance.to_owned(),
                message: format!(
                    "instance '{instance}': the override was changed since this page was loaded; nothing was changed. Your text is kept below: save it again to replace the current override."
                ),
                problems: vec![if current.is_null() {
                    "Now stored: no override (the native schedules apply).".to_owned()
                } else {
                    format!("Now stored: {current}")
                }],
            }));
        }
        Ok(Some(Notice {
            ok: answer.status == 200,
            instance: instance.to_owned(),
            message: text("message"),
            problems: answer.body["problems"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        }))
    }

    /// The page's data for `ask` at `now` (see the module's doc).
    pub(crate) async fn page_data(
        &self,
        ask: &PageAsk,
        now: DateTime<Utc>,
    ) -> Result<PageData, PortError> {
        let rt = self.runtime().await?;
        let viewer = viewer(rt, ask, now)?;
        let notice = self.page_edit(rt, &viewer, ask, now).await?;
        // The whole cost timeline (records of this very instant too; also the month's spend below) tells which instances an
        // owner has without listing the fleet: only those are read from ARM, each by one GET.
        // Ownership is then judged on the fresh ARM body alone (below), so a stale timeline
        // can hide an instance but never show one to somebody else.
        let timeline = rt
            .store
            .timeline_between(DateTime::<Utc>::UNIX_EPOCH, timeline_end())
            .await
            .map_err(|e| e.to_string());
        let (fleet, listed_at) = if viewer.admin {
            self.admin_fleet(rt, now).await
        } else {
            let records = timeline
                .as_deref()
                .map_err(|e| PortError::Transient(format!("reading the cost timeline: {e}")))?;
            let fleet = rt
                .fetch_computes(&owned_in_timeline(records, &viewer.id))
                .await;
            (std::sync::Arc::new(fleet), now)
        };
        let owner_of = |fi: &FleetInstance| InstanceView::new(&fi.instance, Vec::new()).owner;
        let state_of = |fi: &FleetInstance| {
            fi.instance
                .state
                .clone()
                .unwrap_or_else(|| "Unknown".into())
        };
        let mine: Vec<&FleetInstance> = fleet
            .instances
            .iter()
            .filter(|fi| viewer.admin || owner_of(fi).is_some_and(|o| same(&o, &viewer.id)))
            .collect();
        if !viewer.admin && mine.is_empty() && notice.is_none() {
            return Err(PortError::Unauthorized(
                "There is nothing for you here: Curfew governs no compute instance of yours (a new instance appears here after Curfew's next tick has seen it)."
                    .into(),
            ));
        }
        let f = &ask.filters;
        let matches = |want: &Option<String>, have: &str| {
            want.as_deref()
                .is_none_or(|w| w.trim().eq_ignore_ascii_case(have))
        };
        let shown: Vec<&FleetInstance> = mine
            .iter()
            .copied()
            .filter(|fi| {
                !viewer.admin
                    || (matches(&f.workspace, &fi.workspace)
                        && matches(&f.owner, owner_of(fi).as_deref().unwrap_or(""))
                        && matches(&f.state, &state_of(fi)))
            })
            .collect();
        // The admin view shows one page of what matches: rows are made for that page only.
        let matched = shown.len();
        let page = if viewer.admin {
            ask.filters
                .page
                .clamp(1, matched.div_ceil(PAGE_ROWS).max(1))
        } else {
            1
        };
        let on_page: Vec<&FleetInstance> = if viewer.admin {
            shown
                .iter()
                .skip((page - 1) * PAGE_ROWS)
                .take(PAGE_ROWS)
                .copied()
                .collect()
        } else {
            shown.clone()
        };
        let mut problems = fleet.problems.clone();
        let overrides: HashMap<String, (Value, String)> = rt
            .store
            .list_overrides()
            .await
            .map_err(|e| PortError::Transient(format!("reading overrides: {e}")))?
            .into_iter()
            .map(|o| {
                let token = engine::overrides::version_token(o.version.as_str());
                (o.instance_id.to_ascii_lowercase(), (o.schedules, token))
            })
            .collect();
        // The owner's view: the ledger records of the coming stops (a snoozed one may be due
        // after its original time), which decide the buttons.
        let ledger: HashMap<String, LedgerEntry> = if viewer.admin {
            HashMap::new()
        } else {
            rt.store
                .entries_between(now - rt.config.snooze_cap, now + PAGE_HORIZON)
                .await
                .map_err(|e| PortError::Transient(format!("reading the ledger: {e}")))?
                .into_iter()
                .map(|v| (v.value.occurrence_id.clone(), v.value))
                .collect()
        };
        // The owner's spend needs only their instances' records (the admin's chart: all).
        let only: Option<BTreeSet<String>> = (!viewer.admin).then(|| {
            shown
                .iter()
                .map(|fi| fi.instance.name.to_ascii_lowercase())
                .collect()
        });
        let (costs, chart, currency) =
            month_to_date(rt, &timeline, now, viewer.admin, &only, &mut problems);
        let signer = rt.link_keys.first();
        let mut rows = Vec::with_capacity(on_page.len());
        for fi in &on_page {
            let key = InstanceView::new(&fi.instance, Vec::new()).key();
            let stored = overrides.get(&key).map(|(v, _)| v);
            let defaults = rt.policy_defaults(fi, now.date_naive());
            let pd: Vec<PolicyDefault<'_>> = defaults
                .iter()
                .map(|(policy, schedules)| PolicyDefault { policy, schedules })
                .collect();
            // An override expiring within the day: its stops before, the native ones after.
            let set = engine::effective_schedules_since(&fi.instance, stored, &pd, now);
            let (mut next_start, mut next_stop) = (None, None);
            let mut stops: Vec<StopRow> = Vec::new();
            let mut seen = BTreeSet::new();
            for s in set.schedules.iter().filter(|s| s.schedule.enabled) {
                for o in s.occurrences_in_force(now, now + PAGE_HORIZON) {
                    let slot = match s.schedule.action {
                        Action::Start => &mut next_start,
                        Action::Stop => &mut next_stop,
                    };
                    if slot.is_none_or(|t| o.at < t) {
                        *slot = Some(o.at);
                    }
                    if viewer.admin || s.schedule.action != Action::Stop {
                        continue;
                    }
                    let occ = id::occurrence_id(
                        &key,
                        &s.source,
                        s.index,
                        Action::Stop,
                        o.at,
                        &s.content_hash,
                    );
                    let local = curfew_engine::dst::wall(&s.schedule.zone, o.at);
                    let local = format!(
                        "{} {}",
                        local.format("%H:%M"),
                        s.schedule.zone.abbreviation_at(o.at.timestamp())
                    );
                    seen.insert(occ.clone());
                    stops.push(stop_row(rt, signer, ledger.get(&occ), &occ, o.at, local));
                }
            }
            // Snoozed stops whose original time has passed are still coming.
            for e in ledger.values().filter(|e| {
                e.instance_id.eq_ignore_ascii_case(&key)
                    && !seen.contains(&e.occurrence_id)
                    && e.state == LedgerState::Snoozed
                    && e.snoozed_until.is_some_and(|u| u > now)
            }) {
                let at = e.snoozed_until.unwrap_or(e.at);
                stops.push(stop_row(
                    rt,
                    signer,
                    Some(e),
                    &e.occurrence_id,
                    at,
                    "snoozed".into(),
                ));
            }
            stops.sort_by_key(|s| s.at);
            // A refused submission comes back as it was typed, beside the engine's message.
            let resubmit = ask.post.as_ref().filter(|p| {
                notice.as_ref().is_some_and(|n| !n.ok)
                    && p.instance.trim().eq_ignore_ascii_case(&fi.instance.name)
            });
            let editor_text = (!viewer.admin).then(|| {
                if let Some(p) = resubmit {
                    return p.schedules.clone();
                }
                let v = match stored {
                    Some(v) => v.clone(),
                    None => Value::Array(fi.instance.schedules.clone()),
                };
                serde_json::to_string_pretty(&v).unwrap_or_default()
            });
            rows.push(InstanceRow {
                name: fi.instance.name.clone(),
                workspace: fi.workspace.clone(),
                owner: owner_of(fi),
                state: state_of(fi),
                tags: fi
                    .instance
                    .tags
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                next_start,
                next_stop,
                cost_mtd: costs.get(&fi.instance.name).copied(),
                stops,
                editor_text,
                has_override: stored.is_some(),
                override_version: overrides.get(&key).map(|(_, token)| token.clone()),
            });
        }
        let mut data = PageData {
            viewer: viewer.id.clone(),
            viewer_name: viewer.name.clone(),
            link: viewer.link.as_ref().map(|(l, _)| l.clone()),
            link_expires: viewer.link.as_ref().map(|(_, e)| *e),
            admin: viewer.admin,
            form_token: signer.map_or_else(String::new, |k| {
                engine::sign_view(k, ViewPurpose::Form, &viewer.id, now + FORM_LIFETIME)
            }),
            instances: rows,
            fleet_size: fleet.instances.len(),
            listed_at: Some(listed_at),
            matched,
            page,
            filters: ask.filters.clone(),
            currency,
            problems,
            notice,
            ..PageData::default()
        };
        if viewer.admin {
            let set = |f: &dyn Fn(&FleetInstance) -> String| -> Vec<String> {
                let s: BTreeSet<String> = fleet.instances.iter().map(f).collect();
                s.into_iter().filter(|x| !x.is_empty()).collect()
            };
            data.options = (
                set(&|fi| fi.workspace.clone()),
                set(&|fi| owner_of(fi).unwrap_or_default()),
                set(&|fi| state_of(fi)),
            );
            data.idle_unknown = idle_unknown(rt, &shown, now).await?;
            data.audits = audits(rt, &shown, now);
            data.chart_svg = chart;
            if let Some(k) = signer {
                data.owner_links = data
                    .options
                    .1
                    .iter()
                    .map(|o| {
                        let t = engine::sign_view(
                            k,
                            ViewPurpose::OwnerLink,
                            o,
                            now + OWNER_LINK_LIFETIME,
                        );
                        (o.clone(), t)
                    })
                    .collect();
            }
        }
        if signer.is_none() {
            data.problems.push("No link key is configured (CURFEW_LINK_KEY): skip, snooze and the override editor are off.".into());
        }
        Ok(data)
    }
}

/// The end of "the whole timeline": a time every backend's keys can order (year 9999, as
/// `costlog::store_timeline_text` reads all of it).
fn timeline_end() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The ARM ids of the instances whose newest `instance` record in the cost timeline names
/// `owner` (the tick writes one when it first sees an instance). Only a hint of where to look:
/// the page decides ownership on the fresh ARM body.
pub(crate) fn owned_in_timeline(records: &[TimelineRecord], owner: &str) -> Vec<ComputeId> {
    let mut newest: BTreeMap<String, (ComputeId, bool)> = BTreeMap::new();
    for r in records.iter().filter(|r| r.record["kind"] == "instance") {
        let Some(id) = r.record["computeId"].as_str().and_then(ComputeId::parse) else {
            continue;
        };
        let theirs = r.record["owner"].as_str().is_some_and(|o| same(o, owner));
        newest.insert(id.path().to_ascii_lowercase(), (id, theirs));
    }
    newest
        .into_values()
        .filter_map(|(id, theirs)| theirs.then_some(id))
        .collect()
}

/// One coming stop: its ledger state and, while it can still be skipped or snoozed, the
/// signed tokens of the buttons (exactly a notice's: occurrence, choice, at + snooze cap).
fn stop_row(
    rt: &Runtime,
    signer: Option<&engine::LinkKey>,
    entry: Option<&LedgerEntry>,
    occurrence_id: &str,
    at: DateTime<Utc>,
    local: String,
) -> StopRow {
    let Some(e) = entry else {
        return StopRow {
            at,
            local,
            status: "scheduled (skip and snooze open with the first notice)".into(),
            choices: Vec::new(),
        };
    };
    let (status, open) = stop_status(e);
    let choices = match (open, signer) {
        (true, Some(k)) => {
            let exp = e.at + rt.config.snooze_cap;
            let mut c = vec![(
                "Skip this stop".to_owned(),
                engine::sign(k, occurrence_id, engine::Choice::Skip, exp),
            )];
            for m in SNOOZE_MINUTES {
                c.push((
                    format!("Snooze {m} min"),
                    engine::sign(k, occurrence_id, engine::Choice::Snooze { minutes: m }, exp),
                ));
            }
            c
        }
        _ => Vec::new(),
    };
    StopRow {
        at,
        local,
        status,
        choices,
    }
}

/// Spend per instance name since the first of the month (UTC), from the store's cost timeline
/// as the cost report computes it (of the instances in `only`, when given); for an admin also the report's chart of the month. An
/// unreadable timeline is a problem on the page, not a failure of it.
fn month_to_date(
    rt: &Runtime,
    timeline: &Result<Vec<TimelineRecord>, String>,
    now: DateTime<Utc>,
    chart: bool,
    only: &Option<BTreeSet<String>>,
    problems: &mut Vec<String>,
) -> (HashMap<String, f64>, Option<String>, String) {
    let currency = rt.prices.currency.clone();
    let wanted = |r: &&TimelineRecord| {
        r.at < now
            && only
                .as_ref()
                .is_none_or(|o| o.contains(&r.instance.to_ascii_lowercase()))
    };
    let text = match timeline {
        Ok(records) if records.iter().any(|r| wanted(&r)) => {
            // The text `curfew report --timeline` reads (costlog::store_timeline_text).
            let mut text = String::new();
            for r in records.iter().filter(wanted) {
                text.push_str(&r.record.to_string());
                text.push('\n');
            }
            text
        }
        Ok(_) => return (HashMap::new(), None, currency),
        Err(e) => {
            problems.push(format!("the cost timeline could not be read: {e}"));
            return (HashMap::new(), None, currency);
        }
    };
    let month = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    let report =
        curfew_engine::cost::Timeline::parse(&text, curfew_governor::costlog::STORE_TIMELINE)
            .map_err(|e| e.to_string())
            .and_then(|tl| {
                let w =
                    curfew_engine::cost::Window::new(month, now.max(month + TimeDelta::minutes(1)))
                        .map_err(|e| e.to_string())?;
                Ok(curfew_engine::cost::compute(&tl, &rt.prices, w))
            });
    match report {
        Ok(r) => (
            r.instances
                .iter()
                .map(|i| (i.instance.clone(), i.spend))
                .collect(),
            chart.then(|| curfew_report::chart_svg(&r)),
            r.currency.clone(),
        ),
        Err(e) => {
            problems.push(format!("the cost timeline could not be read: {e}"));
            (HashMap::new(), None, currency)
        }
    }
}

/// Running instances under idle shutdown whose newest activity report is older than their
/// threshold: unknown, reported, not stopped (docs/design.md §8), as the tick decides it.
async fn idle_unknown(
    rt: &Runtime,
    shown: &[&FleetInstance],
    now: DateTime<Utc>,
) -> Result<Vec<String>, PortError> {
    let records: HashMap<String, IdleRecord> = rt
        .store
        .list_activity()
        .await
        .map_err(|e| PortError::Transient(format!("reading activity: {e}")))?
        .into_iter()
        .filter_map(|(k, a)| {
            Some((
                k.to_ascii_lowercase(),
                serde_json::from_value(a.details).ok()?,
            ))
        })
        .collect();
    let mut out = Vec::new();
    for fi in shown {
        let key = InstanceView::new(&fi.instance, Vec::new()).key();
        let Some(record) = records.get(&key) else {
            continue;
        };
        let supplied = rt.policy_supplied(fi, now.date_naive());
        let own = fi.instance.idle_time_before_shutdown.as_deref();
        let Ok(Some(threshold)) = Threshold::resolve(
            &fi.instance.name,
            own,
            supplied
                .idle
                .as_ref()
                .map(|(v, p)| (v.as_str(), p.as_str())),
        ) else {
            continue;
        };
        let running = PowerState::of(fi.instance.state.as_deref()) == PowerState::Running;
        if let (IdleVerdict::Unknown { last_report }, _) =
            idle_state(record, &threshold, running, now)
        {
            out.push(format!(
                "{} ({}): last activity report {}",
                fi.instance.name,
                fi.workspace,
                last_report.map_or("never".into(), |t| t
                    .format("%Y-%m-%d %H:%M UTC")
                    .to_string())
            ));
        }
    }
    Ok(out)
}

/// The audit findings of the default policies on the instances shown.
fn audits(rt: &Runtime, shown: &[&FleetInstance], now: DateTime<Utc>) -> Vec<String> {
    if rt.policies.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for fi in shown {
        let mut raw = fi.raw.clone();
        if raw.get("type").is_none() {
            raw["type"] = Value::from("Microsoft.MachineLearningServices/workspaces/computes");
        }
        for f in curfew_engine::policy::assess(&rt.policies, &raw, now.date_naive()).findings {
            out.push(format!(
                "{}: audit '{}' ({}){}",
                fi.instance.name,
                f.assignment,
                f.policy,
                if f.reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", f.reason)
                }
            ));
        }
    }
    out
}
