//! Calendar semantics: odd zones (Auckland, Lord Howe, Chatham, Santiago) with their DST
//! days, the `.ics` fixture, and the properties (a skip calendar never adds a firing; a
//! calendar without dates gives the plain plan back).

use super::*;
use crate::fleet::{self, CalendarMark, FleetCalendars, PlanStream, Planned, OFF_STOP};
use chrono::{NaiveDate, TimeZone};
use serde_json::json;

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}
fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A one-instance fleet with cron schedules `(action, expr)` in `zone`.
fn fleet_of(zone: &str, schedules: &[(&str, &str)]) -> (fleet::Fleet, Instance) {
    let entries: Vec<Value> = schedules
        .iter()
        .map(|(a, e)| json!({"action": a, "triggerType": "Cron", "cron": {"expression": e, "timeZone": zone}}))
        .collect();
    let doc = json!({"name": "gpu-01", "id": "/subscriptions/s1/resourceGroups/rg-ml/providers/Microsoft.MachineLearningServices/workspaces/ws-a/computes/gpu-01",
        "tags": {"team": "vision"},
        "properties": {"computeType": "ComputeInstance", "properties": {"schedules": {"computeStartStop": entries}}}});
    let inv = crate::inventory::parse(&doc.to_string(), "f.json").unwrap();
    let inst = inv.instances[0].clone();
    (fleet::compile(&inv), inst)
}

/// The plan with `calendars` assigned by `assignments` (all matched to the one instance).
fn plan_with(
    fleet: &fleet::Fleet,
    inst: &Instance,
    calendars: &[HolidayCalendar],
    assignments: Vec<Assignment>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> (Vec<Planned>, FleetCalendars) {
    let mut fc = FleetCalendars::new(calendars, assignments, from, to);
    fc.in_force = vec![FleetCalendars::matching(&fc.assignments, inst)];
    let ranks = fleet::plan_ranks(fleet);
    let rows = PlanStream::with_calendars(fleet, &ranks, 0..1, from, to, Some(&fc)).collect();
    (rows, fc)
}

fn assign(cal: &str, effect: Effect) -> Assignment {
    Assignment {
        calendar: cal.into(),
        scope: Scope::Tenant,
        effect,
        until: None,
    }
}

fn holiday(name: &str, zone: Option<&str>, days: &[&str]) -> HolidayCalendar {
    let mut c = HolidayCalendar::new(name, zone).unwrap();
    for d in days {
        c.add_range(day(d), day(d));
    }
    c
}

/// (action, UTC instant, fires, suppressed-by/off calendar name)
fn rows_of(rows: &[Planned], fc: &FleetCalendars) -> Vec<(Action, String, bool, Option<String>)> {
    rows.iter()
        .map(|p| {
            let name = p.calendar.map(|m| match m {
                CalendarMark::Suppressed(i) | CalendarMark::Off(i) => {
                    fc.windows[i as usize].name.clone()
                }
            });
            (
                p.action,
                p.occurrence.at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                p.fires(),
                name,
            )
        })
        .collect()
}

#[test]
fn holidays_are_local_days_in_odd_zones_and_on_dst_days() {
    // (zone, start cron, holiday, window, expected (UTC, fires) of the Starts)
    struct Case {
        zone: &'static str,
        cron: &'static str,
        holiday: &'static str,
        from: &'static str,
        to: &'static str,
        expect: &'static [(&'static str, bool)],
    }
    let cases = [
        // Auckland: 2026-09-27 springs forward 02:00 → 03:00 (a 23-hour day). A 02:30 start
        // does not exist: it fires at 03:00 NZDT on the holiday, so it is skipped; the days
        // around it are not. 02:30 NZST on the 26th = 14:30Z on the 25th.
        Case {
            zone: "Pacific/Auckland",
            cron: "30 2 * * *",
            holiday: "2026-09-27",
            from: "2026-09-25T00:00:00Z",
            to: "2026-09-28T00:00:00Z",
            expect: &[
                ("2026-09-25T14:30:00Z", true),
                ("2026-09-26T14:00:00Z", false),
                ("2026-09-27T13:30:00Z", true),
            ],
        },
        // Auckland's day, not UTC's: 25 Dec 08:00 NZDT is 24 Dec 19:00Z.
        Case {
            zone: "New Zealand Standard Time",
            cron: "0 8 * * *",
            holiday: "2026-12-25",
            from: "2026-12-23T00:00:00Z",
            to: "2026-12-26T00:00:00Z",
            expect: &[
                ("2026-12-23T19:00:00Z", true),
                ("2026-12-24T19:00:00Z", false),
                ("2026-12-25T19:00:00Z", true),
            ],
        },
        // Lord Howe: 2026-10-04 02:00 → 02:30 (+10:30 → +11, a 23.5-hour day); 02:15 fires
        // at 02:30 on the holiday. 00:00 of the next day is not the holiday.
        Case {
            zone: "Australia/Lord_Howe",
            cron: "15 2 * * *",
            holiday: "2026-10-04",
            from: "2026-10-02T00:00:00Z",
            to: "2026-10-05T00:00:00Z",
            expect: &[
                ("2026-10-02T15:45:00Z", true),
                ("2026-10-03T15:30:00Z", false),
                ("2026-10-04T15:15:00Z", true),
            ],
        },
        // Chatham +13:45 in summer: the holiday starts 00:00 = 10:15Z the day before; 23:59 of
        // the eve still fires, 00:00 of the holiday does not.
        Case {
            zone: "Pacific/Chatham",
            cron: "59 23 24 12 *",
            holiday: "2026-12-25",
            from: "2026-12-20T00:00:00Z",
            to: "2026-12-30T00:00:00Z",
            expect: &[("2026-12-24T10:14:00Z", true)],
        },
        Case {
            zone: "Pacific/Chatham",
            cron: "0 0 25 12 *",
            holiday: "2026-12-25",
            from: "2026-12-20T00:00:00Z",
            to: "2026-12-30T00:00:00Z",
            expect: &[("2026-12-24T10:15:00Z", false)],
        },
        // Chatham in winter (+12:45): 2026-07-01 09:00 = 20:15Z on 30 June.
        Case {
            zone: "Pacific/Chatham",
            cron: "0 9 * * *",
            holiday: "2026-07-01",
            from: "2026-06-30T00:00:00Z",
            to: "2026-07-02T00:00:00Z",
            expect: &[
                ("2026-06-30T20:15:00Z", false),
                ("2026-07-01T20:15:00Z", true),
            ],
        },
        // Santiago: 2026-09-06 springs forward at 00:00 → 01:00; a 00:30 start fires at 01:00
        // on the holiday (skipped). 2026-04-05 falls back 00:00 → 23:00 on the 4th: the 4th
        // is 25 hours long, and 23:30 on it occurs twice (fires once, first pass, skipped).
        Case {
            zone: "America/Santiago",
            cron: "30 0 * * *",
            holiday: "2026-09-06",
            from: "2026-09-05T00:00:00Z",
            to: "2026-09-08T00:00:00Z",
            expect: &[
                ("2026-09-05T04:30:00Z", true),
                ("2026-09-06T04:00:00Z", false),
                ("2026-09-07T03:30:00Z", true),
            ],
        },
        Case {
            zone: "America/Santiago",
            cron: "30 23 * * *",
            holiday: "2026-04-04",
            from: "2026-04-03T12:00:00Z",
            to: "2026-04-06T12:00:00Z",
            expect: &[
                ("2026-04-04T02:30:00Z", true),
                ("2026-04-05T02:30:00Z", false),
                ("2026-04-06T03:30:00Z", true),
            ],
        },
    ];
    for c in cases {
        let (fleet, inst) = fleet_of(c.zone, &[("Start", c.cron)]);
        let cal = holiday("hol", None, &[c.holiday]);
        let (rows, fc) = plan_with(
            &fleet,
            &inst,
            &[cal],
            vec![assign("hol", Effect::SkipStart)],
            utc(c.from),
            utc(c.to),
        );
        let got: Vec<(String, bool)> = rows_of(&rows, &fc)
            .into_iter()
            .map(|(_, at, fires, _)| (at, fires))
            .collect();
        let want: Vec<(String, bool)> = c.expect.iter().map(|(a, f)| (a.to_string(), *f)).collect();
        assert_eq!(got, want, "{} {} on {}", c.zone, c.cron, c.holiday);
        for (_, _, fires, by) in rows_of(&rows, &fc) {
            assert_eq!(by.is_some(), !fires);
        }
    }
}

#[test]
fn a_calendar_zone_pins_the_day_whatever_the_schedule_zone() {
    // The calendar is in Auckland; the schedule in UTC. 25 Dec in Auckland is
    // 2026-12-24T11:00Z .. 2026-12-25T11:00Z.
    let (fleet, inst) = fleet_of("UTC", &[("Start", "0 10,12 * * *")]);
    let cal = holiday("nz", Some("Pacific/Auckland"), &["2026-12-25"]);
    let (rows, fc) = plan_with(
        &fleet,
        &inst,
        &[cal],
        vec![assign("nz", Effect::SkipStart)],
        utc("2026-12-24T00:00:00Z"),
        utc("2026-12-26T00:00:00Z"),
    );
    let fires: Vec<(String, bool)> = rows_of(&rows, &fc)
        .into_iter()
        .map(|r| (r.1, r.2))
        .collect();
    assert_eq!(
        fires,
        vec![
            ("2026-12-24T10:00:00Z".into(), true),
            ("2026-12-24T12:00:00Z".into(), false),
            ("2026-12-25T10:00:00Z".into(), false),
            ("2026-12-25T12:00:00Z".into(), true),
        ]
    );
}

#[test]
fn skip_stop_keeps_running_and_skip_start_leaves_stops() {
    let (fleet, inst) = fleet_of(
        "Pacific/Auckland",
        &[("Start", "0 8 * * *"), ("Stop", "0 18 * * *")],
    );
    let from = utc("2026-11-30T00:00:00Z");
    let to = utc("2026-12-03T00:00:00Z");
    let mut deadline = HolidayCalendar::new("deadline", None).unwrap();
    deadline.add_range(day("2026-12-01"), day("2026-12-02"));
    let (rows, fc) = plan_with(
        &fleet,
        &inst,
        &[deadline],
        vec![assign("deadline", Effect::SkipStop)],
        from,
        to,
    );
    let r = rows_of(&rows, &fc);
    // Stops of 1 and 2 December (local) are suppressed, starts all fire.
    for (action, at, fires, by) in &r {
        let local = dst::wall(&tz::resolve("Pacific/Auckland").unwrap(), utc(at)).date();
        let on = local == day("2026-12-01") || local == day("2026-12-02");
        match action {
            Action::Start => assert!(fires, "{at}"),
            Action::Stop => {
                assert_eq!(*fires, !on, "{at}");
                assert_eq!(by.as_deref(), on.then_some("deadline"));
            }
        }
    }
    assert!(r.iter().any(|x| !x.2));
}

#[test]
fn off_stops_at_the_start_of_each_local_day_and_skips_its_starts() {
    // Santiago, 6 September 2026 begins at 01:00 (00:00 does not exist): the off stop is at
    // the transition, 04:00Z. 7 September begins at 00:00 -03 = 03:00Z.
    let (fleet, inst) = fleet_of(
        "America/Santiago",
        &[("Start", "0 8 * * *"), ("Stop", "0 19 * * *")],
    );
    let mut off = HolidayCalendar::new("offweek", None).unwrap();
    off.add_range(day("2026-09-06"), day("2026-09-07"));
    let (rows, fc) = plan_with(
        &fleet,
        &inst,
        &[off],
        vec![assign("offweek", Effect::Off)],
        utc("2026-09-05T12:00:00Z"),
        utc("2026-09-08T12:00:00Z"),
    );
    let offs: Vec<&Planned> = rows.iter().filter(|p| p.schedule == OFF_STOP).collect();
    assert_eq!(
        offs.iter().map(|p| p.occurrence.at).collect::<Vec<_>>(),
        vec![utc("2026-09-06T04:00:00Z"), utc("2026-09-07T03:00:00Z")]
    );
    assert!(offs.iter().all(|p| p.fires() && p.action == Action::Stop));
    let starts: Vec<(String, bool)> = rows_of(&rows, &fc)
        .into_iter()
        .filter(|r| r.0 == Action::Start)
        .map(|r| (r.1, r.2))
        .collect();
    assert_eq!(
        starts,
        vec![
            ("2026-09-05T12:00:00Z".into(), true),
            ("2026-09-06T11:00:00Z".into(), false),
            ("2026-09-07T11:00:00Z".into(), false),
            ("2026-09-08T11:00:00Z".into(), true),
        ]
    );
    // Lord Howe and Chatham day starts: 00:00 local.
    let z = tz::resolve("Pacific/Chatham").unwrap();
    let w = holiday("x", None, &["2026-12-25"])
        .window(utc("2026-12-20T00:00:00Z"), utc("2026-12-30T00:00:00Z"));
    assert_eq!(
        w.day_starts(utc("2026-12-20T00:00:00Z"), utc("2026-12-30T00:00:00Z"), &z),
        vec![utc("2026-12-24T10:15:00Z")]
    );
    let z = tz::resolve("Australia/Lord_Howe").unwrap();
    assert_eq!(
        w.day_starts(utc("2026-12-20T00:00:00Z"), utc("2026-12-30T00:00:00Z"), &z),
        vec![utc("2026-12-24T13:00:00Z")]
    );
}

#[test]
fn a_skip_stop_removes_an_off_stop_and_an_assignment_expires() {
    let (fleet, inst) = fleet_of("UTC", &[("Stop", "0 18 * * *")]);
    let off = holiday("off", None, &["2026-12-25"]);
    let keep = {
        let mut c = HolidayCalendar::new("keep", None).unwrap();
        c.add_period(utc("2026-12-24T00:00:00Z"), utc("2026-12-25T12:00:00Z"));
        c
    };
    let from = utc("2026-12-24T00:00:00Z");
    let to = utc("2026-12-26T00:00:00Z");
    let (rows, fc) = plan_with(
        &fleet,
        &inst,
        &[off.clone(), keep.clone()],
        vec![assign("off", Effect::Off), assign("keep", Effect::SkipStop)],
        from,
        to,
    );
    let r = rows_of(&rows, &fc);
    assert_eq!(
        r,
        vec![
            (
                Action::Stop,
                "2026-12-24T18:00:00Z".into(),
                false,
                Some("keep".into())
            ),
            (Action::Stop, "2026-12-25T18:00:00Z".into(), true, None),
        ]
    );
    // The same keep-running exception with an expiry before the 24th's stop: it fires.
    let mut a = assign("keep", Effect::SkipStop);
    a.until = Some(utc("2026-12-24T17:00:00Z"));
    let (rows, fc) = plan_with(&fleet, &inst, &[keep], vec![a], from, to);
    assert!(rows_of(&rows, &fc).iter().all(|r| r.2));
}

#[test]
fn yearly_dates_and_feb_29() {
    let mut c = HolidayCalendar::new("y", None).unwrap();
    c.add_yearly(12, 25).unwrap();
    c.add_yearly(2, 29).unwrap();
    assert!(c.add_yearly(2, 30).is_err());
    let w = c.window(utc("2027-01-01T00:00:00Z"), utc("2029-01-01T00:00:00Z"));
    let z = Zone::utc();
    let at = |d: &str| utc(&format!("{d}T12:00:00Z"));
    assert!(w.covers(at("2027-12-25"), &z));
    assert!(w.covers(at("2028-12-25"), &z));
    assert!(w.covers(at("2028-02-29"), &z));
    // Not a leap year: neither 28 February nor 1 March stands in.
    assert!(!w.covers(at("2027-02-28"), &z));
    assert!(!w.covers(at("2027-03-01"), &z));
}

#[test]
fn json_calendars_name_every_problem() {
    let ok = HolidayCalendar::from_json(
        r#"{"name": "ops", "timeZone": "W. Europe Standard Time",
            "dates": ["2026-12-24", "2026-12-28..2026-12-31", {"from": "2027-01-02", "to": "2027-01-03"}],
            "yearly": ["01-01", "--05-01"],
            "periods": [{"from": "2026-11-20T18:00:00Z", "to": "2026-11-21T06:00:00Z"}, {"from": "2026-11-22T12:00", "to": "2026-11-22T13:00"}]}"#,
        "file",
    )
    .unwrap();
    assert_eq!(ok.name, "ops");
    let bad = HolidayCalendar::from_json(
        r#"{"timeZone": "Mars/Olympus", "dates": ["2026-13-01", "2026-12-31..2026-12-01"], "yearly": ["02-30"],
            "periods": [{"from": "2026-11-21T00:00:00Z", "to": "2026-11-20T00:00:00Z"}]}"#,
        "broken",
    )
    .unwrap_err();
    let fields: Vec<&str> = bad.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "timeZone",
            "dates[0]",
            "dates[1]",
            "yearly[0]",
            "periods[0]"
        ]
    );
    assert!(bad.iter().all(|p| p.calendar == "broken"));
    assert!(bad[0].to_string().contains("Mars/Olympus"), "{}", bad[0]);
    // Unknown fields are refused (a typo must not silently mean "no dates").
    assert!(HolidayCalendar::from_json(r#"{"date": ["2026-12-25"]}"#, "t").is_err());
}

#[test]
fn scopes_match_arm_ids_tags_and_names() {
    let (_, inst) = fleet_of("UTC", &[]);
    for (scope, want) in [
        (Scope::Tenant, true),
        (Scope::Subscription("S1".into()), true),
        (Scope::Subscription("s2".into()), false),
        (Scope::ResourceGroup("RG-ML".into()), true),
        (Scope::Workspace("ws-a".into()), true),
        (Scope::Workspace("ws".into()), false),
        (Scope::Tag("team=vision".into()), true),
        (Scope::Tag("team=Vision".into()), false),
        (Scope::Instance("GPU-01".into()), true),
        (Scope::Instance("gpu-02".into()), false),
    ] {
        assert_eq!(scope.contains(&inst), want, "{scope:?}");
    }
    let cals = [holiday("a", None, &[])];
    let problems = check_assignments(
        &cals,
        &[
            Assignment {
                calendar: "b".into(),
                scope: Scope::Tenant,
                effect: Effect::Off,
                until: None,
            },
            Assignment {
                calendar: "a".into(),
                scope: Scope::Tag("team".into()),
                effect: Effect::Off,
                until: None,
            },
        ],
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
}

fn fixture() -> HolidayCalendar {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/calendars/nz-holidays.ics"
    ))
    .unwrap();
    ics::parse(&text, "nz", None).unwrap()
}

#[test]
fn the_ics_fixture_reads_all_day_multi_day_rrule_and_exdate() {
    let c = fixture();
    let w = c.window(utc("2026-01-01T00:00:00Z"), utc("2029-01-01T00:00:00Z"));
    let z = tz::resolve("Pacific/Auckland").unwrap();
    let noon = |d: &str| dst::to_instant(&z, day(d).and_hms_opt(12, 0, 0).unwrap()).0;
    let covered = |d: &str| w.covers(noon(d), &z);
    // All-day single day; DTEND exclusive.
    assert!(covered("2027-02-06") && !covered("2027-02-07") && !covered("2027-02-05"));
    // Multi-day: 24 Dec .. 4 Jan inclusive (DTEND 5 Jan exclusive).
    for d in ["2026-12-24", "2026-12-31", "2027-01-01", "2027-01-04"] {
        assert!(covered(d), "{d}");
    }
    assert!(!covered("2026-12-23") && !covered("2027-01-05"));
    // RRULE yearly until 2030, with 2027 excluded.
    assert!(covered("2026-04-25") && covered("2028-04-25"));
    assert!(!covered("2027-04-25"), "EXDATE");
    // RRULE BYDAY=4MO in October: 26 Oct 2026, 25 Oct 2027.
    assert!(covered("2026-10-26") && covered("2027-10-25") && !covered("2026-10-19"));
    // A timed event covers its hours only (Windows TZID): 12:00–17:00 NZST on 14 July.
    let at =
        |h: u32, m: u32| dst::to_instant(&z, day("2026-07-14").and_hms_opt(h, m, 0).unwrap()).0;
    assert!(
        !w.covers(at(11, 59), &z)
            && w.covers(at(12, 0), &z)
            && w.covers(at(16, 59), &z)
            && !w.covers(at(17, 0), &z)
    );
    // Cancelled events are left out.
    assert!(!covered("2026-07-15"));
    // UNTIL: none after 2030.
    let later = c.window(utc("2031-01-01T00:00:00Z"), utc("2032-01-01T00:00:00Z"));
    assert!(!later.covers(noon("2031-04-25"), &z));
}

#[test]
fn bad_ics_names_each_event() {
    let text = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:Bad zone\r\nDTSTART;TZID=Nowhere/City:20260101T100000\r\nDTEND;TZID=Nowhere/City:20260101T110000\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nSUMMARY:Bad rule\r\nDTSTART;VALUE=DATE:20260101\r\nRRULE:FREQ=SOMETIMES\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nSUMMARY:Backwards\r\nDTSTART;VALUE=DATE:20260105\r\nDTEND;VALUE=DATE:20260101\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let p = ics::parse(text, "feed", None).unwrap_err();
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(p[0].field.contains("Bad zone") && p[0].message.contains("Nowhere/City"));
    assert!(p[1].field.contains("Bad rule"));
    assert!(p[2].field.contains("Backwards"));
    assert!(ics::parse("not a calendar", "x", None).is_err());
}

#[test]
fn the_fixture_in_a_plan_suppresses_starts_on_auckland_days() {
    let (fleet, inst) = fleet_of(
        "Pacific/Auckland",
        &[("Start", "0 8 * * 1-5"), ("Stop", "0 18 * * 1-5")],
    );
    let (rows, fc) = plan_with(
        &fleet,
        &inst,
        &[fixture()],
        vec![assign("nz", Effect::SkipStart)],
        utc("2026-12-20T00:00:00Z"),
        utc("2027-01-10T00:00:00Z"),
    );
    let z = tz::resolve("Pacific/Auckland").unwrap();
    for (action, at, fires, by) in rows_of(&rows, &fc) {
        let d = dst::wall(&z, utc(&at)).date();
        let shut = d >= day("2026-12-24") && d <= day("2027-01-04");
        match action {
            Action::Start => {
                assert_eq!(fires, !shut, "{at}");
                assert_eq!(by.as_deref(), shut.then_some("nz"));
            }
            Action::Stop => assert!(fires),
        }
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn zone_name() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "Pacific/Auckland",
            "Australia/Lord_Howe",
            "Pacific/Chatham",
            "America/Santiago",
            "UTC",
        ])
    }

    /// (action, at, schedule) of the rows that fire.
    fn firings(rows: &[Planned]) -> Vec<(Action, DateTime<Utc>, usize)> {
        rows.iter()
            .filter(|p| p.fires())
            .map(|p| (p.action, p.occurrence.at, p.schedule))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// A skip calendar only ever removes firings from the plain plan, and a calendar
        /// with every date removed gives the plain plan back, row for row.
        #[test]
        fn a_skip_calendar_never_adds_a_firing(
            zone in zone_name(),
            cal_zone in prop::option::of(zone_name()),
            start_h in 0u32..24, stop_h in 0u32..24, same_minute in any::<bool>(),
            offsets in prop::collection::vec((0u64..40, 0u64..4), 0..6),
            skip_stop in any::<bool>(), skip_start in any::<bool>(),
        ) {
            let stop_h = if same_minute { start_h } else { stop_h };
            let start = format!("0 {start_h} * * *");
            let stop = format!("0 {stop_h} * * *");
            let (fleet, inst) = fleet_of(zone, &[("Start", &start), ("Stop", &stop)]);
            let from = utc("2026-03-20T00:00:00Z");
            let to = utc("2026-05-01T00:00:00Z");
            let base = day("2026-03-20");
            let mut cal = HolidayCalendar::new("c", cal_zone).unwrap();
            for (o, len) in &offsets {
                cal.add_range(base + Days::new(*o), base + Days::new(o + len));
            }
            let mut assignments = Vec::new();
            if skip_start { assignments.push(assign("c", Effect::SkipStart)); }
            if skip_stop { assignments.push(assign("c", Effect::SkipStop)); }
            let ranks = fleet::plan_ranks(&fleet);
            let plain: Vec<Planned> = PlanStream::part(&fleet, &ranks, 0..1, from, to).collect();
            let (with, _) = plan_with(&fleet, &inst, std::slice::from_ref(&cal), assignments.clone(), from, to);
            let plain_f = firings(&plain);
            for f in firings(&with) {
                prop_assert!(plain_f.contains(&f), "added {f:?}");
            }
            // Every plain row is still there (fired or marked), in order.
            let key = |p: &Planned| (p.action, p.occurrence.at, p.schedule, p.suppressed.clone());
            prop_assert_eq!(with.iter().map(key).collect::<Vec<_>>(), plain.iter().map(key).collect::<Vec<_>>());
            // Without its dates the calendar changes nothing.
            let empty = HolidayCalendar::new("c", cal_zone).unwrap();
            let (back, _) = plan_with(&fleet, &inst, &[empty], assignments, from, to);
            prop_assert!(back.iter().all(|p| p.calendar.is_none()));
            prop_assert_eq!(back.iter().map(key).collect::<Vec<_>>(), plain.iter().map(key).collect::<Vec<_>>());
        }
    }
}

#[test]
fn utc_anchor_is_independent_of_the_host() {
    // Expansion anchors dates at midnight UTC, not the machine's zone.
    let set = rrule::RRuleSet::new(
        rrule::Tz::UTC
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .unwrap(),
    );
    assert_eq!(
        set.get_dt_start().naive_utc(),
        day("2026-01-01").and_hms_opt(0, 0, 0).unwrap()
    );
}

#[test]
fn a_set_reads_json_and_ics_calendars_and_names_every_bad_one_together() {
    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/calendars/nz-holidays.ics"
    ))
    .unwrap();
    let read = |p: &str| {
        if p == "nz.ics" {
            Ok(fixture.clone())
        } else {
            Err(format!("cannot read {p}"))
        }
    };
    let good = json!({"calendars": [
        {"name": "nz", "ics": "nz.ics"},
        {"name": "deadline", "dates": ["2026-12-01..2026-12-05"]}
    ], "assignments": [
        {"calendar": "nz", "scope": {"workspace": "ws-a"}, "effect": "off"},
        {"calendar": "deadline", "scope": {"tag": "team=vision"}, "effect": "skip-stop", "until": "2026-12-05T18:00:00Z"}
    ]});
    let set = CalendarSet::parse_value(&good, "CURFEW_CALENDARS", &read).unwrap();
    assert_eq!(set.calendars.len(), 2);
    assert_eq!(set.assignments[1].effect, Effect::SkipStop);
    // Without assignments: tenant-wide holiday calendars.
    let plain = json!({"calendars": [{"name": "x", "yearly": ["12-25"]}]});
    let set = CalendarSet::parse_value(&plain, "f", &read).unwrap();
    assert_eq!(set.assignments, vec![assign("x", Effect::SkipStart)]);
    let bad = json!({"calendars": [
        {"name": "feed", "ics": "missing.ics"},
        {"name": "typo", "dates": ["2026-02-30"]},
        {"name": "dup", "dates": []},
        {"name": "dup", "yearly": []}
    ], "assignments": [
        {"calendar": "nobody", "scope": "tenant", "effect": "skip-start"},
        {"calendar": "typo", "scope": "tenant", "effect": "sometimes"}
    ]});
    let problems = CalendarSet::parse_value(&bad, "CURFEW_CALENDARS", &read).unwrap_err();
    let named: Vec<&str> = problems.iter().map(|p| p.calendar.as_str()).collect();
    assert_eq!(
        named,
        vec!["feed", "typo", "typo", "dup", "nobody"],
        "{problems:?}"
    );
    // A lone file: .ics by extension, or a JSON calendar.
    let lone = CalendarSet::from_file_text("dir/nz-holidays.ics", &fixture, &read).unwrap();
    assert_eq!(lone.calendars[0].name, "nz-holidays");
    assert_eq!(lone.assignments[0].effect, Effect::SkipStart);
}
