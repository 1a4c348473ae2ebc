//! One instance's effective occurrences in a window, as the tick will judge them: which schedule
//! each comes from, its ledger id, and whether a calendar, a dismissal or a Stop in the same
//! minute suppresses it. `explain` and the live `plan --config` both list these, so what they
//! show is what the tick does (docs/calendars.md, "The effective plan").

use super::effective::EffectiveSchedule;
use super::{id, source_label, Dismissal, LedgerEntry, Status};
use crate::holiday::{instance_zone, off_stops, Applied};
use crate::schedule::Action;
use crate::tz::Zone;
use crate::Shift;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Why an occurrence does not fire (or did not), as rows name it in `suppressedBy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suppression {
    /// A `skip-start`, `skip-stop` or `off` calendar covers it: `calendar:<name>`.
    Calendar(String),
    /// The owner (or an admin) skipped it: `dismissal`.
    Dismissal,
    /// A Start in the same minute as a Stop of the instance: `stop-wins`.
    StopWins,
}

impl Suppression {
    /// The `suppressedBy` label: `calendar:<name>`, `dismissal` or `stop-wins`.
    pub fn label(&self) -> String {
        match self {
            Suppression::Calendar(name) => format!("calendar:{name}"),
            Suppression::Dismissal => "dismissal".into(),
            Suppression::StopWins => "stop-wins".into(),
        }
    }
}

/// One occurrence of an instance's effective plan.
#[derive(Debug, Clone, PartialEq)]
pub struct UpcomingOccurrence {
    /// Ledger key: what notices carry and `dismiss --occurrence` takes.
    pub occurrence_id: String,
    /// Start or Stop.
    pub action: Action,
    /// The occurrence's own time.
    pub at: DateTime<Utc>,
    /// When it is due: a snooze's end, else `at`.
    pub due: DateTime<Utc>,
    /// `native#0`, `override#1`, `policy:<name>#0`, or `calendar:<name>` for an `off` stop.
    pub source: String,
    /// The schedule's index within its source (none for a calendar's stop).
    pub schedule: Option<usize>,
    /// The zone its local time is shown in.
    pub zone: Zone,
    /// The zone as written (`calendar` stops: the instance's zone).
    pub time_zone: String,
    /// The trigger in words.
    pub trigger: String,
    /// How DST moved it.
    pub shift: Shift,
    /// Why it does not fire, if it does not.
    pub suppressed_by: Option<Suppression>,
    /// The ledger's status, once the governor has a record of it (notified, snoozed, acted on).
    pub status: Option<Status>,
}

impl UpcomingOccurrence {
    /// Whether the tick will carry it out (nothing suppresses it).
    pub fn fires(&self) -> bool {
        self.suppressed_by.is_none()
    }
}

/// The occurrences in `[from, to)` of `schedules` (one instance's effective set, keyed `key`),
/// with the calendars `applied` to it and its ledger records `entries` (by occurrence id), in
/// time order. The verdicts are the tick's, in its order: Stop wins (a Start in the minute of
/// any schedule Stop, decided on the plain plan), then a calendar, then a recorded skip.
pub fn upcoming(
    key: &str,
    schedules: &[EffectiveSchedule],
    applied: &[Applied<'_>],
    entries: &HashMap<String, LedgerEntry>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<UpcomingOccurrence> {
    let mut out = Vec::new();
    for s in schedules {
        for o in s.occurrences_in_force(from, to) {
            if o.at >= to {
                continue;
            }
            out.push(UpcomingOccurrence {
                occurrence_id: id::occurrence_id(
                    key,
                    &s.source,
                    s.index,
                    s.schedule.action,
                    o.at,
                    &s.content_hash,
                ),
                action: s.schedule.action,
                at: o.at,
                due: o.at,
                source: format!("{}#{}", source_label(&s.source), s.index),
                schedule: Some(s.index),
                zone: s.schedule.zone.clone(),
                time_zone: s.schedule.time_zone.clone(),
                trigger: s.schedule.trigger.clone(),
                shift: o.shift,
                suppressed_by: None,
                status: None,
            });
        }
    }
    // Stop wins is decided on the plain plan first, as the tick does: every schedule Stop's
    // minute counts, whether a calendar or a skip then removes that Stop (docs/calendars.md).
    let minute = |t: DateTime<Utc>| t.timestamp().div_euclid(60);
    let stop_minutes: Vec<i64> = out
        .iter()
        .filter(|o| o.action == Action::Stop)
        .map(|o| minute(o.at))
        .collect();
    for o in &mut out {
        o.suppressed_by = if o.action == Action::Start && stop_minutes.contains(&minute(o.at)) {
            Some(Suppression::StopWins)
        } else {
            Applied::verdict(applied, o.action, o.at, &o.zone)
                .map(|name| Suppression::Calendar(name.to_owned()))
        };
    }
    if !applied.is_empty() {
        let scheds: Vec<&crate::Schedule> = schedules.iter().map(|e| &e.schedule).collect();
        let zone = instance_zone(&scheds);
        for (at, slot) in off_stops(applied, from, to, &zone) {
            let name = &applied[slot].calendar.name;
            out.push(UpcomingOccurrence {
                occurrence_id: id::calendar_occurrence_id(key, name, at),
                action: Action::Stop,
                at,
                due: at,
                source: format!("calendar:{name}"),
                schedule: None,
                zone: zone.clone(),
                time_zone: zone.iana().to_owned(),
                trigger: format!("calendar {name} is off this day"),
                shift: Shift::None,
                suppressed_by: None,
                status: None,
            });
        }
    }
    // Then the ledger: a recorded skip (the tick's verdicts come in this order: Stop wins, a
    // calendar, a skip), and a snooze's new due time.
    for o in &mut out {
        let Some(e) = entries.get(&o.occurrence_id) else {
            continue;
        };
        o.status = Some(e.status);
        o.due = e.due();
        if o.suppressed_by.is_none() && e.dismissal == Some(Dismissal::Skip) {
            o.suppressed_by = Some(Suppression::Dismissal);
        }
    }
    out.sort_by(|a, b| {
        (a.at, a.action == Action::Start, &a.source).cmp(&(
            b.at,
            b.action == Action::Start,
            &b.source,
        ))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::holiday::{CalendarSet, Effect};
    use crate::schedule::Source;
    use chrono::TimeZone;
    use serde_json::json;

    fn t(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, d, h, m, 0).unwrap()
    }

    fn sched(index: usize, action: &str, cron: &str, zone: &str) -> EffectiveSchedule {
        EffectiveSchedule::compile(
            Source::Native,
            index,
            &json!({"action": action, "status": "Enabled", "triggerType": "Cron",
                    "cron": {"expression": cron, "timeZone": zone}}),
        )
        .unwrap()
    }

    fn plain(schedules: &[EffectiveSchedule]) -> Vec<UpcomingOccurrence> {
        upcoming("k", schedules, &[], &HashMap::new(), t(2, 0, 0), t(9, 0, 0))
    }

    #[test]
    fn lists_each_firing_with_the_tick_s_occurrence_id() {
        let s = [sched(0, "Stop", "0 19 * * 1-5", "UTC")];
        let rows = plain(&s);
        assert_eq!(rows.len(), 5, "Monday 2 to Friday 6 March");
        assert!(rows.iter().all(UpcomingOccurrence::fires));
        assert_eq!(
            rows[0].occurrence_id,
            id::occurrence_id(
                "k",
                &Source::Native,
                0,
                Action::Stop,
                t(2, 19, 0),
                &s[0].content_hash
            )
        );
        assert_eq!(rows[0].source, "native#0");
    }

    #[test]
    fn a_start_in_the_minute_of_a_firing_stop_is_marked_stop_wins() {
        let s = [
            sched(0, "Start", "0 19 * * *", "UTC"),
            sched(1, "Stop", "0 19 * * 1", "UTC"),
        ];
        let rows = plain(&s);
        let monday: Vec<_> = rows.iter().filter(|r| r.at == t(2, 19, 0)).collect();
        assert_eq!(monday.len(), 2);
        assert_eq!(monday[0].action, Action::Stop, "the Stop is listed first");
        assert_eq!(monday[1].suppressed_by, Some(Suppression::StopWins));
        let tuesday = rows.iter().find(|r| r.at == t(3, 19, 0)).unwrap();
        assert!(tuesday.fires(), "no Stop on Tuesday");
        // Once the tick has recorded that Start as skipped, it is still named Stop wins.
        let mut rec = LedgerEntry::planned(&monday[1].occurrence_id, Action::Start, t(2, 19, 0));
        rec.status = Status::Skipped;
        rec.dismissal = Some(Dismissal::Skip);
        let entries = HashMap::from([(rec.occurrence_id.clone(), rec)]);
        let got = upcoming("k", &s, &[], &entries, t(2, 0, 0), t(9, 0, 0));
        assert_eq!(got[1].suppressed_by, Some(Suppression::StopWins));
        assert_eq!(got[1].status, Some(Status::Skipped));
    }

    #[test]
    fn a_recorded_skip_suppresses_and_a_snooze_moves_the_due_time() {
        let s = [sched(0, "Stop", "0 19 * * *", "UTC")];
        let rows = plain(&s);
        let mut entries = HashMap::new();
        let mut skip = LedgerEntry::planned(&rows[0].occurrence_id, Action::Stop, rows[0].at);
        skip.status = Status::Skipped;
        skip.dismissal = Some(Dismissal::Skip);
        entries.insert(skip.occurrence_id.clone(), skip);
        let mut snooze = LedgerEntry::planned(&rows[1].occurrence_id, Action::Stop, rows[1].at);
        snooze.dismissal = Some(Dismissal::Snooze {
            until: t(3, 20, 30),
        });
        entries.insert(snooze.occurrence_id.clone(), snooze);
        let got = upcoming("k", &s, &[], &entries, t(2, 0, 0), t(9, 0, 0));
        assert_eq!(got[0].suppressed_by, Some(Suppression::Dismissal));
        assert_eq!(got[0].status, Some(Status::Skipped));
        assert!(got[1].fires());
        assert_eq!(got[1].due, t(3, 20, 30));
        assert_eq!(got[2].due, got[2].at);
    }

    /// As the tick: Stop wins on the plain plan, so skipping the Stop does not let the Start
    /// of its minute through (neither does a calendar removing that Stop).
    #[test]
    fn a_skipped_stop_still_keeps_the_start_of_its_minute_from_firing() {
        let s = [
            sched(0, "Start", "0 19 * * 1", "UTC"),
            sched(1, "Stop", "0 19 * * 1", "UTC"),
        ];
        let rows = plain(&s);
        let stop = rows.iter().find(|r| r.action == Action::Stop).unwrap();
        let mut skip = LedgerEntry::planned(&stop.occurrence_id, Action::Stop, stop.at);
        skip.dismissal = Some(Dismissal::Skip);
        let entries = HashMap::from([(skip.occurrence_id.clone(), skip)]);
        let got = upcoming("k", &s, &[], &entries, t(2, 0, 0), t(9, 0, 0));
        let start = got.iter().find(|r| r.action == Action::Start).unwrap();
        assert_eq!(
            start.suppressed_by,
            Some(Suppression::StopWins),
            "{start:?}"
        );
        let stop = got.iter().find(|r| r.action == Action::Stop).unwrap();
        assert_eq!(stop.suppressed_by, Some(Suppression::Dismissal));
    }

    #[test]
    fn a_holiday_calendar_suppresses_the_starts_of_its_local_day() {
        let set = CalendarSet::from_file_text(
            "h.json",
            r#"{"name": "h", "timeZone": "Pacific/Auckland", "dates": ["2026-03-03"]}"#,
            &|_| Err("no includes".into()),
        )
        .unwrap();
        let windows: Vec<_> = set
            .calendars
            .iter()
            .map(|c| c.window(t(1, 0, 0), t(10, 0, 0)))
            .collect();
        let applied = vec![Applied {
            calendar: &windows[0],
            slot: 0,
            effect: Effect::SkipStart,
            until: None,
        }];
        // 08:00 in Auckland (NZDT, UTC+13) on 3 March is 19:00 UTC on 2 March.
        let s = [sched(0, "Start", "0 8 * * *", "Pacific/Auckland")];
        let got = upcoming("k", &s, &applied, &HashMap::new(), t(2, 0, 0), t(9, 0, 0));
        let suppressed: Vec<_> = got.iter().filter(|r| !r.fires()).collect();
        assert_eq!(suppressed.len(), 1);
        assert_eq!(suppressed[0].at, t(2, 19, 0));
        assert_eq!(
            suppressed[0].suppressed_by,
            Some(Suppression::Calendar("h".into()))
        );
    }
}
