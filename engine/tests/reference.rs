//! Property tests against a brute-force reference.
//!
//! The reference walks every UTC minute of a window and asks, with jiff's zone API directly (not
//! the engine's DST code), which local wall-clock times land on that minute: the minute's own
//! wall time if this is its first occurrence, plus any local times skipped by a spring-forward
//! jump that ends at this minute. It fires when one of them matches the generated field sets,
//! which are built from the same random choices as the expression text but without the parser.
//! Invariants: the engine's occurrences equal the reference's; they strictly increase; and
//! `next_after(t)` is `> t` and is the reference's first firing after `t`.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Timelike, Utc};
use curfew_engine::schedule::compile;
use proptest::prelude::*;
use serde_json::json;

const ZONES: &[&str] = &[
    "America/Los_Angeles",
    "Europe/Berlin",
    "Europe/London",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/Santiago",
    "Africa/Casablanca",
    "Asia/Kolkata",
    "America/St_Johns",
    "America/Havana",
    "UTC",
];

/// Days near 2026's transitions in the zones above (plus ordinary days), to centre windows on.
const DAYS: &[(i32, u32, u32)] = &[
    (2026, 3, 8),
    (2026, 11, 1),
    (2026, 3, 29),
    (2026, 10, 25),
    (2026, 4, 5),
    (2026, 10, 4),
    (2026, 9, 27),
    (2026, 9, 6),
    (2026, 2, 15),
    (2026, 3, 22),
    (2026, 9, 20),
    (2026, 3, 14),
    (2026, 6, 17),
    (2026, 1, 1),
];

/// One cron field: its text and the set of values it denotes.
#[derive(Debug, Clone)]
struct FieldGen {
    text: String,
    set: u64,
}

fn field(min: u32, max: u32) -> impl Strategy<Value = FieldGen> {
    let span = max - min + 1;
    prop_oneof![
        Just(FieldGen {
            text: "*".into(),
            set: (min..=max).fold(0, |s, v| s | 1 << v)
        }),
        (min..=max).prop_map(|v| FieldGen {
            text: v.to_string(),
            set: 1 << v
        }),
        proptest::collection::btree_set(min..=max, 1..4).prop_map(|vals| FieldGen {
            text: vals
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(","),
            set: vals.iter().fold(0, |s, v| s | 1 << v),
        }),
        (min..=max, 0..span).prop_map(move |(a, len)| {
            let b = (a + len).min(max);
            FieldGen {
                text: format!("{a}-{b}"),
                set: (a..=b).fold(0, |s, v| s | 1 << v),
            }
        }),
        (1..=span.min(20)).prop_map(move |step| FieldGen {
            text: format!("*/{step}"),
            set: (min..=max)
                .step_by(step as usize)
                .fold(0, |s, v| s | 1 << v),
        }),
        (min..=max, 1..=span.min(20)).prop_map(move |(a, step)| FieldGen {
            text: format!("{a}/{step}"),
            set: (a..=max).step_by(step as usize).fold(0, |s, v| s | 1 << v),
        }),
    ]
}

#[derive(Debug, Clone)]
struct CronGen {
    minute: FieldGen,
    hour: FieldGen,
    dom: FieldGen,
    month: FieldGen,
    dow: FieldGen,
}

impl CronGen {
    fn text(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.minute.text, self.hour.text, self.dom.text, self.month.text, self.dow.text
        )
    }

    fn matches(&self, l: NaiveDateTime) -> bool {
        l.second() == 0
            && self.minute.set & (1 << l.minute()) != 0
            && self.hour.set & (1 << l.hour()) != 0
            && self.dom.set & (1 << l.day()) != 0
            && self.month.set & (1 << l.month()) != 0
            && self.dow.set & (1 << l.weekday().num_days_from_sunday()) != 0
    }
}

fn cron_gen() -> impl Strategy<Value = CronGen> {
    // Day-of-month and month are mostly `*` so that most windows contain firings.
    let dom = prop_oneof![4 => Just(FieldGen { text: "*".into(), set: (1..=31).fold(0, |s, v| s | 1 << v) }), 1 => field(1, 31)];
    let month = prop_oneof![4 => Just(FieldGen { text: "*".into(), set: (1..=12).fold(0, |s, v| s | 1 << v) }), 1 => field(1, 12)];
    (field(0, 59), field(0, 23), dom, month, field(0, 6)).prop_map(
        |(minute, hour, dom, month, dow)| CronGen {
            minute,
            hour,
            dom,
            month,
            dow,
        },
    )
}

fn jz(zone: &str) -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get(zone).unwrap()
}

fn wall(tz: &jiff::tz::TimeZone, u: i64) -> NaiveDateTime {
    let d = tz.to_datetime(jiff::Timestamp::from_second(u).unwrap());
    NaiveDate::from_ymd_opt(d.year().into(), d.month() as u32, d.day() as u32)
        .unwrap()
        .and_hms_opt(d.hour() as u32, d.minute() as u32, d.second() as u32)
        .unwrap()
}

fn earliest(tz: &jiff::tz::TimeZone, l: NaiveDateTime) -> i64 {
    let dt = jiff::civil::DateTime::new(
        l.year() as i16,
        l.month() as i8,
        l.day() as i8,
        l.hour() as i8,
        l.minute() as i8,
        0,
        0,
    )
    .unwrap();
    tz.to_ambiguous_timestamp(dt).earlier().unwrap().as_second()
}

/// The reference: every UTC minute in `[from, to)` at which some matching local time fires.
fn reference(
    tz: &jiff::tz::TimeZone,
    matches: &dyn Fn(NaiveDateTime) -> bool,
    from: i64,
    to: i64,
) -> Vec<i64> {
    let mut out = Vec::new();
    let mut u = from;
    while u < to {
        let here = wall(tz, u);
        let mut fire = matches(here) && earliest(tz, here) == u;
        let before = wall(tz, u - 60);
        // A forward jump ending at u: local times strictly between `before` and `here` do not
        // exist and fire at u.
        let mut l = before + Duration::minutes(1);
        while !fire && l < here {
            fire = matches(l);
            l += Duration::minutes(1);
        }
        if fire {
            out.push(u);
        }
        u += 60;
    }
    out
}

fn window() -> impl Strategy<Value = (usize, i64, i64)> {
    (0..ZONES.len(), 0..DAYS.len(), -36i64..12, 24i64..60).prop_map(|(z, d, start_h, len_h)| {
        let (y, m, dd) = DAYS[d];
        let base = NaiveDate::from_ymd_opt(y, m, dd)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp();
        let from = base + start_h * 3600;
        (z, from, from + len_h * 3600)
    })
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn cron_matches_brute_force_reference((z, from, to) in window(), cron in cron_gen(), probe in 0.0f64..1.0) {
        let zone = ZONES[z];
        let entry = json!({"action": "Stop", "triggerType": "Cron", "cron": {"expression": cron.text(), "timeZone": zone}});
        let c = compile(&entry);
        let Some(s) = c.schedule else {
            // Only "never fires" (e.g. 31 in April only) may be refused.
            prop_assert!(c.problems.iter().any(|p| p.message.contains("never fires")), "{}: {:?}", cron.text(), c.problems);
            return Ok(());
        };
        let got: Vec<i64> = s.occurrences(at(from), at(to)).map(|o| o.at.timestamp()).collect();
        let tz = jz(zone);
        let want = reference(&tz, &|l| cron.matches(l), from, to);
        prop_assert_eq!(&got, &want, "{} in {}", cron.text(), zone);
        prop_assert!(got.windows(2).all(|w| w[0] < w[1]), "strictly increasing");
        // next_after(t) is > t and is the reference's first firing after t (when in the window).
        let t = from + ((to - from) as f64 * probe) as i64;
        if let Some(&expect) = want.iter().find(|&&u| u > t) {
            let n = s.next_after(at(t)).unwrap();
            prop_assert!(n.at.timestamp() > t);
            prop_assert_eq!(n.at.timestamp(), expect);
        }
    }

    #[test]
    fn weekly_recurrence_matches_brute_force_reference(
        (z, from, to) in window(),
        hours in proptest::collection::btree_set(0u32..24, 1..4),
        minutes in proptest::collection::btree_set(0u32..60, 1..3),
        days in proptest::collection::btree_set(0u32..7, 1..7),
        interval in 1i64..4,
        start_back in 0i64..40,
    ) {
        const NAMES: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
        let zone = ZONES[z];
        let tz = jz(zone);
        // startTime some days before the window, at local noon (no zone shifts at noon).
        let start_local = (wall(&tz, from) - Duration::days(start_back)).date();
        let entry = json!({"action": "Start", "triggerType": "Recurrence", "recurrence": {
            "frequency": "Week", "interval": interval, "timeZone": zone,
            "startTime": format!("{start_local}T12:00:00"),
            "schedule": {"hours": hours, "minutes": minutes,
                         "weekDays": days.iter().map(|d| NAMES[*d as usize]).collect::<Vec<_>>()}}});
        let s = compile(&entry).schedule.unwrap();
        let start_monday = start_local - chrono::Days::new(u64::from(start_local.weekday().num_days_from_monday()));
        let start_instant = earliest(&tz, start_local.and_hms_opt(12, 0, 0).unwrap());
        let matches = |l: NaiveDateTime| {
            let monday = l.date() - chrono::Days::new(u64::from(l.weekday().num_days_from_monday()));
            let week = (monday - start_monday).num_days() / 7;
            l.second() == 0
                && hours.contains(&l.hour())
                && minutes.contains(&l.minute())
                && days.contains(&l.weekday().num_days_from_sunday())
                && week.rem_euclid(interval) == 0
        };
        let want: Vec<i64> = reference(&tz, &matches, from, to).into_iter().filter(|&u| u >= start_instant).collect();
        let got: Vec<i64> = s.occurrences(at(from), at(to)).map(|o| o.at.timestamp()).collect();
        prop_assert_eq!(got, want);
    }
}
