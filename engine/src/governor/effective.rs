//! Which schedules govern an instance (docs/design.md §4): an override set through Curfew replaces the
//! native `computeStartStop`; a default policy fills in an action that has no enabled schedule.
//! A schedule that does not compile is a diagnostic and never blocks the others.

use super::id::content_hash;
use super::overrides::{adoption_plan, NativeLine};
use super::ScheduleRef;
use crate::diag::Diagnostic;
use crate::inventory::Instance;
use crate::schedule::{compile, Action, Schedule, Source};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

/// The schedules a default policy supplies (already resolved, e.g. with
/// [`crate::policy::Assessment::supplied`]), in the order policies take precedence.
#[derive(Debug, Clone, Copy)]
pub struct PolicyDefault<'a> {
    /// The policy's name, for the schedule's source and reasons.
    pub policy: &'a str,
    /// The `computeStartStop` entries it supplies.
    pub schedules: &'a [Value],
}

/// One schedule in force for an instance, compiled, with where it came from.
#[derive(Debug, Clone)]
pub struct EffectiveSchedule {
    /// Override, native, or policy.
    pub source: Source,
    /// Index within its source's list (the `computeStartStop` index for native schedules).
    pub index: usize,
    /// [`content_hash`] of the entry: part of every occurrence id.
    pub content_hash: String,
    /// The compiled schedule (disabled ones are kept: listed, never firing).
    pub schedule: Schedule,
    /// First instant it governs (`None`: always has): the native or policy schedules resume
    /// at an override's expiry.
    pub from: Option<DateTime<Utc>>,
    /// Instant it stops governing (`None`: never): an override's expiry.
    pub until: Option<DateTime<Utc>>,
}

impl EffectiveSchedule {
    /// Whether it governs the instant `t` (within `from`..`until`).
    pub fn in_force_at(&self, t: DateTime<Utc>) -> bool {
        self.from.is_none_or(|f| t >= f) && self.until.is_none_or(|u| t < u)
    }

    /// Its occurrences in `[from, to)` that fall while it governs.
    pub fn occurrences_in_force(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Iterator<Item = crate::schedule::Occurrence> + '_ {
        let from = self.from.map_or(from, |f| f.max(from));
        let to = self.until.map_or(to, |u| u.min(to));
        self.schedule
            .occurrences(from, to.max(from))
            .filter(move |o| self.in_force_at(o.at))
    }

    /// Its first occurrence after `t` that falls while it governs: the schedule's own, moved
    /// past `from` and cut at `until`. What the tick and the notices step through.
    pub fn next_in_force_after(&self, t: DateTime<Utc>) -> Option<crate::schedule::Occurrence> {
        let mut t = match self.from {
            Some(f) if t < f => f - TimeDelta::seconds(1),
            _ => t,
        };
        // At most twice: `from - 1 s` may still find a minute before a sub-second `from`.
        for _ in 0..2 {
            let o = self.schedule.next_after(t)?;
            if self.until.is_some_and(|u| o.at >= u) {
                return None;
            }
            if self.in_force_at(o.at) {
                return Some(o);
            }
            t = o.at;
        }
        None
    }
    /// Compiles one entry; `Err` carries its problems when it is unusable.
    pub fn compile(
        source: Source,
        index: usize,
        entry: &Value,
    ) -> Result<Self, Vec<crate::Problem>> {
        let c = compile(entry);
        match c.schedule {
            Some(schedule) => Ok(EffectiveSchedule {
                source,
                index,
                content_hash: content_hash(entry),
                schedule,
                from: None,
                until: None,
            }),
            None => Err(c.problems),
        }
    }

    /// How decisions and notices name this schedule.
    pub fn reference(&self) -> ScheduleRef {
        ScheduleRef {
            source: self.source.clone(),
            index: self.index,
            trigger: self.schedule.trigger.clone(),
            time_zone: self.schedule.time_zone.clone(),
        }
    }
}

/// An instance's effective schedules, and every problem met on the way.
#[derive(Debug, Clone, Default)]
pub struct EffectiveSet {
    /// Usable schedules: the chosen set (override or native) first, then policy defaults.
    pub schedules: Vec<EffectiveSchedule>,
    /// Problems, each with the source it concerns.
    pub diagnostics: Vec<(Source, Diagnostic)>,
    /// The enabled native Stops of an instance whose override is in force: Azure ML runs them
    /// regardless (no stable API turns them off), so the override's stops keep the native
    /// caveat, naming these, until the owner disables them in the studio. Empty otherwise.
    pub enabled_native_stops: Vec<NativeLine>,
}

impl EffectiveSet {
    /// Whether Azure ML still runs a native Stop beside the override in force.
    pub fn native_stops_enabled(&self) -> bool {
        !self.enabled_native_stops.is_empty()
    }
}

/// The schedules in force for `instance`: `overrides` (when `Some`, even empty) replace the
/// native ones; then, for each action with no enabled schedule in that set, the first policy
/// default with an enabled schedule of that action supplies its schedules of that action.
pub fn effective_schedules(
    instance: &Instance,
    overrides: Option<&[Value]>,
    defaults: &[PolicyDefault<'_>],
) -> EffectiveSet {
    let mut set = EffectiveSet {
        enabled_native_stops: if overrides.is_some() {
            enabled_native_stops(instance)
        } else {
            Vec::new()
        },
        ..EffectiveSet::default()
    };
    let (source, entries) = match overrides {
        Some(o) => (Source::Override, o),
        None => (Source::Native, instance.schedules.as_slice()),
    };
    compile_all(&instance.name, &source, entries, &mut set, |_| true);
    for action in [Action::Start, Action::Stop] {
        let covered = set
            .schedules
            .iter()
            .any(|s| s.schedule.enabled && s.schedule.action == action);
        if covered {
            continue;
        }
        for d in defaults {
            let source = Source::Policy(d.policy.to_string());
            let mut found = EffectiveSet::default();
            compile_all(&instance.name, &source, d.schedules, &mut found, |s| {
                s.action == action
            });
            if found
                .schedules
                .iter()
                .any(|s| s.schedule.enabled && s.schedule.action == action)
            {
                set.schedules.extend(found.schedules);
                set.diagnostics.extend(found.diagnostics);
                break;
            }
        }
    }
    set
}

/// The schedules that govern `instance` at any instant from `since` on, given its stored
/// override (as stored: `{"computeStartStop": …, "expires": …}` or a bare list): an override
/// with an expiry governs until it (its schedules cut at `until`), the native or policy
/// schedules from it (`from`). A tick whose window or notice lead spans the expiry then acts
/// and warns by the schedule of each occurrence's own instant, as `curfew plan` lists it.
/// Diagnostics are those of what governs first.
pub fn effective_schedules_since(
    instance: &Instance,
    stored: Option<&Value>,
    defaults: &[PolicyDefault<'_>],
    since: DateTime<Utc>,
) -> EffectiveSet {
    let in_force = stored.and_then(|v| super::overrides::override_in_force(v, since));
    let expiry = stored.and_then(super::overrides::override_expiry);
    let mut set = effective_schedules(instance, in_force.as_deref(), defaults);
    if let (Some(_), Some(expiry)) = (&in_force, expiry) {
        for s in &mut set.schedules {
            s.until = Some(expiry);
        }
        let after = effective_schedules(instance, None, defaults);
        set.schedules
            .extend(after.schedules.into_iter().map(|mut s| {
                s.from = Some(expiry);
                s
            }));
    }
    set
}

/// The enabled native Stops of `instance`, which Azure ML would still run (what `curfew adopt`
/// asks the owner to disable in the studio); schedules that do not compile are not counted.
pub fn enabled_native_stops(instance: &Instance) -> Vec<NativeLine> {
    adoption_plan(&instance.schedules)
        .into_iter()
        .filter(|n| n.enabled && n.action == Some(Action::Stop))
        .collect()
}

fn compile_all(
    instance: &str,
    source: &Source,
    entries: &[Value],
    set: &mut EffectiveSet,
    keep: impl Fn(&Schedule) -> bool,
) {
    for (i, entry) in entries.iter().enumerate() {
        let c = compile(entry);
        match c.schedule {
            Some(schedule) if keep(&schedule) => {
                for p in c.problems {
                    set.diagnostics
                        .push((source.clone(), Diagnostic::at(instance, Some(i), p)));
                }
                set.schedules.push(EffectiveSchedule {
                    source: source.clone(),
                    index: i,
                    content_hash: content_hash(entry),
                    schedule,
                    from: None,
                    until: None,
                });
            }
            Some(_) => {}
            None => {
                for p in c.problems {
                    set.diagnostics
                        .push((source.clone(), Diagnostic::at(instance, Some(i), p)));
                }
            }
        }
    }
}

/// A default policy's schedules in effect on an instance: what `curfew.policy.applied` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyApplication {
    /// The policy's name.
    pub policy: String,
    /// What makes this application distinct: the content hashes of the entries in effect, so
    /// a changed policy (or a change in which entries apply) is a new application.
    pub key: String,
    /// The schedules in effect, in words (`Stop Cron 0 19 * * *`).
    pub detail: String,
}

/// The policy applications in an effective set at `now`, one per policy, in the order they
/// appear. Schedules that resume only at an override's expiry still to come (`from` after
/// `now`) are left out: they are audited when they govern, not while the override still does.
pub fn policy_applications(
    schedules: &[EffectiveSchedule],
    now: DateTime<Utc>,
) -> Vec<PolicyApplication> {
    let mut out: Vec<PolicyApplication> = Vec::new();
    for es in schedules
        .iter()
        .filter(|es| es.from.is_none_or(|f| f <= now))
    {
        let Source::Policy(name) = &es.source else {
            continue;
        };
        let what = format!("{} {}", es.schedule.action, es.schedule.trigger);
        match out.iter_mut().find(|a| &a.policy == name) {
            // The same entry before and after an override's expiry within the tick: once.
            Some(a) if a.key.split('+').any(|k| k == es.content_hash) => {}
            Some(a) => {
                a.key.push('+');
                a.key.push_str(&es.content_hash);
                a.detail.push_str(&format!(", {what}"));
            }
            None => out.push(PolicyApplication {
                policy: name.clone(),
                key: es.content_hash.clone(),
                detail: format!("supplies {what}"),
            }),
        }
    }
    out
}

/// Start occurrences suppressed by a Stop in the same minute that [`next_scheduled_start`]
/// skips per schedule before it gives up on that schedule (a Start that always meets a Stop
/// never fires).
const SUPPRESSED_STARTS_SKIPPED: usize = 64;

/// The first time after `after` at which one of `schedules` starts the instance: the earliest
/// enabled Start occurrence that no Stop of the same instance overrides in its minute (Stop
/// wins, docs/design.md §5). What a stop saves lasts until then when nobody starts the
/// instance earlier (docs/design.md §9); `None` when no Start is scheduled.
pub fn next_scheduled_start(
    schedules: &[EffectiveSchedule],
    after: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let minute = |t: chrono::DateTime<chrono::Utc>| t.timestamp().div_euclid(60);
    let stops_in_minute = |m: i64| {
        let minute_start = chrono::DateTime::from_timestamp(m * 60, 0)?;
        let before = minute_start - chrono::TimeDelta::seconds(1);
        Some(
            schedules
                .iter()
                .filter(|s| s.schedule.enabled && s.schedule.action == Action::Stop)
                .any(|s| {
                    s.next_in_force_after(before)
                        .is_some_and(|o| minute(o.at) == m)
                }),
        )
    };
    schedules
        .iter()
        .filter(|s| s.schedule.enabled && s.schedule.action == Action::Start)
        .filter_map(|s| {
            let mut t = after;
            for _ in 0..SUPPRESSED_STARTS_SKIPPED {
                let o = s.next_in_force_after(t)?;
                if !stops_in_minute(minute(o.at))? {
                    return Some(o.at);
                }
                t = o.at;
            }
            None
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn the_next_scheduled_start_is_the_earliest_start_no_stop_overrides() {
        let inst = Instance {
            name: "ci".into(),
            schedules: vec![
                stop("0 18 * * *"),
                start("0 8 * * 1-5"),
                start("0 18 * * *"),
                start("30 9 * * *"),
            ],
            ..Default::default()
        };
        let set = effective_schedules(&inst, None, &[]);
        // Friday 2026-03-06 18:00: the 18:00 Start meets the Stop (Stop wins); Saturday has no
        // 08:00 start, so the 09:30 one is next.
        assert_eq!(
            next_scheduled_start(&set.schedules, at("2026-03-06T18:00:00Z")),
            Some(at("2026-03-07T09:30:00Z"))
        );
        // Monday: 08:00.
        assert_eq!(
            next_scheduled_start(&set.schedules, at("2026-03-08T18:00:00Z")),
            Some(at("2026-03-09T08:00:00Z"))
        );
        // Only stops, or only a start the stop always overrides: nothing scheduled.
        let stops_only = Instance {
            schedules: vec![stop("0 18 * * *"), start("0 18 * * *")],
            ..inst.clone()
        };
        let set = effective_schedules(&stops_only, None, &[]);
        assert_eq!(
            next_scheduled_start(&set.schedules, at("2026-03-06T18:00:00Z")),
            None
        );
        // A disabled start does not count.
        let mut disabled = start("0 7 * * *");
        disabled["status"] = json!("Disabled");
        let with_disabled = Instance {
            schedules: vec![stop("0 18 * * *"), disabled],
            ..inst
        };
        let set = effective_schedules(&with_disabled, None, &[]);
        assert_eq!(
            next_scheduled_start(&set.schedules, at("2026-03-06T18:00:00Z")),
            None
        );
    }

    fn stop(expr: &str) -> Value {
        json!({"action": "Stop", "triggerType": "Cron", "cron": {"expression": expr}})
    }
    fn start(expr: &str) -> Value {
        json!({"action": "Start", "triggerType": "Cron", "cron": {"expression": expr}})
    }
    fn kinds(set: &EffectiveSet) -> Vec<(Source, usize, Action)> {
        set.schedules
            .iter()
            .map(|s| (s.source.clone(), s.index, s.schedule.action))
            .collect()
    }

    /// The bounds are half-open, `[from, until)`, like `override_in_force`: at the expiry
    /// instant the native schedule governs; a sub-second expiry moves it to the next minute.
    #[test]
    fn a_schedule_governs_from_its_start_until_its_end() {
        let mut es = EffectiveSchedule::compile(Source::Native, 0, &stop("* * * * *")).unwrap();
        es.from = Some(at("2026-03-09T18:10:00Z"));
        es.until = Some(at("2026-03-09T18:13:00Z"));
        let next = |es: &EffectiveSchedule, t: &str| es.next_in_force_after(at(t)).map(|o| o.at);
        assert_eq!(
            next(&es, "2026-03-09T17:00:00Z"),
            Some(at("2026-03-09T18:10:00Z"))
        );
        assert_eq!(
            next(&es, "2026-03-09T18:10:00Z"),
            Some(at("2026-03-09T18:11:00Z"))
        );
        assert_eq!(
            next(&es, "2026-03-09T18:12:00Z"),
            None,
            "18:13 is the end, excluded"
        );
        let all: Vec<_> = es
            .occurrences_in_force(at("2026-03-09T18:00:00Z"), at("2026-03-09T19:00:00Z"))
            .map(|o| o.at)
            .collect();
        assert_eq!(
            all,
            [
                at("2026-03-09T18:10:00Z"),
                at("2026-03-09T18:11:00Z"),
                at("2026-03-09T18:12:00Z")
            ]
        );
        es.from = Some(at("2026-03-09T18:10:00.500Z"));
        assert_eq!(
            next(&es, "2026-03-09T17:00:00Z"),
            Some(at("2026-03-09T18:11:00Z"))
        );
        assert!(!es.in_force_at(at("2026-03-09T18:10:00Z")));
    }

    #[test]
    fn native_stops_stay_enabled_under_an_override_until_disabled() {
        let mut inst = Instance {
            name: "ci".into(),
            schedules: vec![stop("0 18 * * *"), start("0 8 * * *")],
            ..Default::default()
        };
        let o = [stop("0 20 * * *")];
        let set = effective_schedules(&inst, Some(&o), &[]);
        assert!(set.native_stops_enabled());
        assert_eq!(set.enabled_native_stops.len(), 1, "the start is not listed");
        assert_eq!(set.enabled_native_stops[0].index, 0);
        // Without an override the native stop is in force itself: nothing is shadowed.
        assert!(!effective_schedules(&inst, None, &[]).native_stops_enabled());
        // The owner disabled the native stop in the studio (a native start does not count).
        inst.schedules[0]["status"] = json!("Disabled");
        assert!(!effective_schedules(&inst, Some(&o), &[]).native_stops_enabled());
        assert!(enabled_native_stops(&inst).is_empty());
    }

    #[test]
    fn override_replaces_native() {
        let inst = Instance {
            name: "ci".into(),
            schedules: vec![stop("0 18 * * *"), start("0 8 * * *")],
            ..Default::default()
        };
        let o = [stop("0 20 * * *")];
        let set = effective_schedules(&inst, Some(&o), &[]);
        assert_eq!(kinds(&set), vec![(Source::Override, 0, Action::Stop)]);
        let set = effective_schedules(&inst, None, &[]);
        assert_eq!(
            kinds(&set),
            vec![
                (Source::Native, 0, Action::Stop),
                (Source::Native, 1, Action::Start)
            ]
        );
    }

    #[test]
    fn policy_fills_only_missing_actions() {
        let inst = Instance {
            name: "ci".into(),
            schedules: vec![stop("0 18 * * *")],
            ..Default::default()
        };
        let p1 = [stop("0 19 * * *"), start("0 7 * * *")];
        let p2 = [start("0 6 * * *")];
        let defaults = [
            PolicyDefault {
                policy: "first",
                schedules: &p1,
            },
            PolicyDefault {
                policy: "second",
                schedules: &p2,
            },
        ];
        let set = effective_schedules(&inst, None, &defaults);
        assert_eq!(
            kinds(&set),
            vec![
                (Source::Native, 0, Action::Stop),
                (Source::Policy("first".into()), 1, Action::Start)
            ]
        );
        // Only what is in effect is applied: the first policy's start, not its stop.
        let applied = policy_applications(&set.schedules, at("2026-03-09T12:00:00Z"));
        assert_eq!(applied.len(), 1);
        assert_eq!(applied[0].policy, "first");
        assert_eq!(applied[0].key, set.schedules[1].content_hash);
        assert!(
            applied[0].detail.starts_with("supplies Start"),
            "{}",
            applied[0].detail
        );
        assert!(policy_applications(
            &effective_schedules(&inst, None, &[]).schedules,
            at("2026-03-09T12:00:00Z")
        )
        .is_empty());
        // An override of both actions, expiring: the first policy's start resumes at the
        // expiry, and is not applied (nor audited) while the override governs.
        let stored = json!({
            "computeStartStop": [stop("0 20 * * *"), start("0 8 * * *")],
            "expires": "2026-03-09T18:10:00Z",
        });
        let split =
            effective_schedules_since(&inst, Some(&stored), &defaults, at("2026-03-09T12:00:00Z"));
        assert_eq!(
            split.schedules.len(),
            4,
            "the override's two, then the plain set"
        );
        assert!(split.schedules[2..].iter().all(|s| s.from.is_some()));
        assert!(policy_applications(&split.schedules, at("2026-03-09T12:00:00Z")).is_empty());
        // Once the expiry has come, they are applied, under the key a set without the
        // override gives them (no new application the tick after).
        let later = policy_applications(&split.schedules, at("2026-03-09T18:10:00Z"));
        assert_eq!(later.len(), 1, "{later:?}");
        assert_eq!(later[0].key, applied[0].key);
        // An override of the Stop alone: the policy's Start governs before and after the
        // expiry, one entry, so one application with one key in the tick spanning it.
        let stop_only = json!({
            "computeStartStop": [stop("0 20 * * *")],
            "expires": "2026-03-09T18:10:00Z",
        });
        let split = effective_schedules_since(
            &inst,
            Some(&stop_only),
            &defaults,
            at("2026-03-09T18:00:00Z"),
        );
        let spanning = policy_applications(&split.schedules, at("2026-03-09T18:11:00Z"));
        assert_eq!(spanning.len(), 1, "{spanning:?}");
        assert_eq!(spanning[0].key, applied[0].key, "{spanning:?}");
    }

    #[test]
    fn a_disabled_schedule_does_not_cover_its_action() {
        let mut off = stop("0 18 * * *");
        off["status"] = json!("Disabled");
        let inst = Instance {
            name: "ci".into(),
            schedules: vec![off],
            ..Default::default()
        };
        let p = [stop("0 19 * * *")];
        let set = effective_schedules(
            &inst,
            None,
            &[PolicyDefault {
                policy: "night",
                schedules: &p,
            }],
        );
        assert_eq!(
            kinds(&set),
            vec![
                (Source::Native, 0, Action::Stop),
                (Source::Policy("night".into()), 0, Action::Stop)
            ]
        );
    }

    #[test]
    fn a_bad_schedule_is_a_diagnostic_and_blocks_nothing() {
        let inst = Instance {
            name: "ci".into(),
            schedules: vec![stop("not cron"), start("0 8 * * *"), stop("0 18 * * *")],
            ..Default::default()
        };
        let set = effective_schedules(&inst, None, &[]);
        assert_eq!(
            kinds(&set),
            vec![
                (Source::Native, 1, Action::Start),
                (Source::Native, 2, Action::Stop)
            ]
        );
        assert!(set
            .diagnostics
            .iter()
            .any(|(s, d)| *s == Source::Native && d.schedule == Some(0)));
    }
}
