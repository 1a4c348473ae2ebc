//! Golden DST tests: both 2026 transitions of every zone that has them, with cron and recurrence.
//!
//! Each row states the invariant it pins: a local time in a spring-forward gap fires at the
//! transition; a local time in a fall-back fold fires once, at its first occurrence; the days
//! around a transition keep their wall-clock time (so their UTC instant moves by the shift).
//! Expected instants were derived by hand from the zone's offsets and cross-checked against
//! Python's `zoneinfo` over IANA 2026f.

use chrono::{DateTime, Utc};
use curfew_engine::schedule::{compile, Schedule};
use curfew_engine::Shift;
use serde_json::{json, Value};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn cron(expr: &str, zone: &str) -> Value {
    json!({"action": "Stop", "status": "Enabled", "triggerType": "Cron",
           "cron": {"expression": expr, "timeZone": zone}})
}

/// A daily recurrence at `hh:mm` in `zone` (Logic Apps `Day` frequency).
fn daily(hh: u32, mm: u32, zone: &str) -> Value {
    json!({"action": "stop", "status": "Enabled", "triggerType": "Recurrence",
           "recurrence": {"frequency": "day", "interval": 1, "timeZone": zone,
                          "schedule": {"hours": [hh], "minutes": [mm]}}})
}

fn schedule(entry: &Value) -> Schedule {
    let c = compile(entry);
    assert!(
        c.problems.is_empty(),
        "unexpected problems for {entry}: {:?}",
        c.problems
    );
    c.schedule.unwrap()
}

fn fires(entry: &Value, from: &str, to: &str) -> Vec<(String, Shift)> {
    schedule(entry)
        .occurrences(utc(from), utc(to))
        .map(|o| (o.at.format("%Y-%m-%dT%H:%MZ").to_string(), o.shift))
        .collect()
}

use Shift::{Fold, Gap, None as Plain};

struct Case {
    zone: &'static str,
    what: &'static str,
    hh: u32,
    mm: u32,
    from: &'static str,
    to: &'static str,
    expect: &'static [(&'static str, Shift)],
}

const CASES: &[Case] = &[
    // Pacific: 2026-03-08 02:00 PST → 03:00 PDT (10:00Z); 2026-11-01 02:00 PDT → 01:00 PST (09:00Z).
    Case {
        zone: "Pacific Standard Time",
        what: "spring gap fires at the transition",
        hh: 2,
        mm: 30,
        from: "2026-03-07T00:00:00Z",
        to: "2026-03-10T00:00:00Z",
        expect: &[
            ("2026-03-07T10:30Z", Plain),
            ("2026-03-08T10:00Z", Gap),
            ("2026-03-09T09:30Z", Plain),
        ],
    },
    Case {
        zone: "Pacific Standard Time",
        what: "fall fold fires once, first (PDT)",
        hh: 1,
        mm: 30,
        from: "2026-10-31T00:00:00Z",
        to: "2026-11-03T00:00:00Z",
        expect: &[
            ("2026-10-31T08:30Z", Plain),
            ("2026-11-01T08:30Z", Fold),
            ("2026-11-02T09:30Z", Plain),
        ],
    },
    // Eastern: 2026-03-08 (07:00Z) and 2026-11-01 (06:00Z).
    Case {
        zone: "Eastern Standard Time",
        what: "spring gap",
        hh: 2,
        mm: 30,
        from: "2026-03-07T00:00:00Z",
        to: "2026-03-10T00:00:00Z",
        expect: &[
            ("2026-03-07T07:30Z", Plain),
            ("2026-03-08T07:00Z", Gap),
            ("2026-03-09T06:30Z", Plain),
        ],
    },
    Case {
        zone: "Eastern Standard Time",
        what: "fall fold",
        hh: 1,
        mm: 30,
        from: "2026-10-31T00:00:00Z",
        to: "2026-11-03T00:00:00Z",
        expect: &[
            ("2026-10-31T05:30Z", Plain),
            ("2026-11-01T05:30Z", Fold),
            ("2026-11-02T06:30Z", Plain),
        ],
    },
    // W. Europe (Berlin): 2026-03-29 02:00 → 03:00 (01:00Z); 2026-10-25 03:00 → 02:00 (01:00Z).
    Case {
        zone: "W. Europe Standard Time",
        what: "spring gap",
        hh: 2,
        mm: 30,
        from: "2026-03-28T00:00:00Z",
        to: "2026-03-31T00:00:00Z",
        expect: &[
            ("2026-03-28T01:30Z", Plain),
            ("2026-03-29T01:00Z", Gap),
            ("2026-03-30T00:30Z", Plain),
        ],
    },
    Case {
        zone: "W. Europe Standard Time",
        what: "fall fold",
        hh: 2,
        mm: 30,
        from: "2026-10-24T00:00:00Z",
        to: "2026-10-27T00:00:00Z",
        expect: &[
            ("2026-10-24T00:30Z", Plain),
            ("2026-10-25T00:30Z", Fold),
            ("2026-10-26T01:30Z", Plain),
        ],
    },
    // GMT (London): 2026-03-29 01:00 → 02:00 (01:00Z); 2026-10-25 02:00 → 01:00 (01:00Z).
    Case {
        zone: "GMT Standard Time",
        what: "spring gap",
        hh: 1,
        mm: 30,
        from: "2026-03-28T00:00:00Z",
        to: "2026-03-31T00:00:00Z",
        expect: &[
            ("2026-03-28T01:30Z", Plain),
            ("2026-03-29T01:00Z", Gap),
            ("2026-03-30T00:30Z", Plain),
        ],
    },
    Case {
        zone: "GMT Standard Time",
        what: "fall fold",
        hh: 1,
        mm: 30,
        from: "2026-10-24T00:00:00Z",
        to: "2026-10-27T00:00:00Z",
        expect: &[
            ("2026-10-24T00:30Z", Plain),
            ("2026-10-25T00:30Z", Fold),
            ("2026-10-26T01:30Z", Plain),
        ],
    },
    // AUS Eastern (Sydney, southern hemisphere): 2026-04-05 03:00 → 02:00 (16:00Z on 04-04);
    // 2026-10-04 02:00 → 03:00 (16:00Z on 10-03).
    Case {
        zone: "AUS Eastern Standard Time",
        what: "autumn fold",
        hh: 2,
        mm: 30,
        from: "2026-04-03T00:00:00Z",
        to: "2026-04-06T00:00:00Z",
        expect: &[
            ("2026-04-03T15:30Z", Plain),
            ("2026-04-04T15:30Z", Fold),
            ("2026-04-05T16:30Z", Plain),
        ],
    },
    Case {
        zone: "AUS Eastern Standard Time",
        what: "spring gap",
        hh: 2,
        mm: 30,
        from: "2026-10-02T00:00:00Z",
        to: "2026-10-05T00:00:00Z",
        expect: &[
            ("2026-10-02T16:30Z", Plain),
            ("2026-10-03T16:00Z", Gap),
            ("2026-10-04T15:30Z", Plain),
        ],
    },
    // Lord Howe (30-minute shift): 2026-04-05 02:00 (+11) → 01:30 (+10:30) at 15:00Z;
    // 2026-10-04 02:00 (+10:30) → 02:30 (+11) at 15:30Z.
    Case {
        zone: "Lord Howe Standard Time",
        what: "half-hour fold",
        hh: 1,
        mm: 45,
        from: "2026-04-03T00:00:00Z",
        to: "2026-04-06T00:00:00Z",
        expect: &[
            ("2026-04-03T14:45Z", Plain),
            ("2026-04-04T14:45Z", Fold),
            ("2026-04-05T15:15Z", Plain),
        ],
    },
    Case {
        zone: "Lord Howe Standard Time",
        what: "half-hour gap",
        hh: 2,
        mm: 15,
        from: "2026-10-02T00:00:00Z",
        to: "2026-10-05T00:00:00Z",
        expect: &[
            ("2026-10-02T15:45Z", Plain),
            ("2026-10-03T15:30Z", Gap),
            ("2026-10-04T15:15Z", Plain),
        ],
    },
    // Chatham (+12:45/+13:45): 2026-04-05 03:45 → 02:45 at 14:00Z on 04-04;
    // 2026-09-27 02:45 → 03:45 at 14:00Z on 09-26.
    Case {
        zone: "Chatham Islands Standard Time",
        what: "fold at 02:45–03:45",
        hh: 3,
        mm: 15,
        from: "2026-04-03T00:00:00Z",
        to: "2026-04-06T00:00:00Z",
        expect: &[
            ("2026-04-03T13:30Z", Plain),
            ("2026-04-04T13:30Z", Fold),
            ("2026-04-05T14:30Z", Plain),
        ],
    },
    Case {
        zone: "Chatham Islands Standard Time",
        what: "gap at 02:45–03:45",
        hh: 3,
        mm: 0,
        from: "2026-09-25T00:00:00Z",
        to: "2026-09-28T00:00:00Z",
        expect: &[
            ("2026-09-25T14:15Z", Plain),
            ("2026-09-26T14:00Z", Gap),
            ("2026-09-27T13:15Z", Plain),
        ],
    },
    // Pacific SA (Santiago): 2026-04-05 00:00 (-03) → 04-04 23:00 (-04) at 03:00Z;
    // 2026-09-06 00:00 (-04) → 01:00 (-03) at 04:00Z. The fold is 23:00–24:00 on 04-04.
    Case {
        zone: "Pacific SA Standard Time",
        what: "fold before midnight",
        hh: 23,
        mm: 30,
        from: "2026-04-03T12:00:00Z",
        to: "2026-04-07T00:00:00Z",
        expect: &[
            ("2026-04-04T02:30Z", Plain),
            ("2026-04-05T02:30Z", Fold),
            ("2026-04-06T03:30Z", Plain),
        ],
    },
    Case {
        zone: "Pacific SA Standard Time",
        what: "gap at midnight",
        hh: 0,
        mm: 30,
        from: "2026-09-05T00:00:00Z",
        to: "2026-09-08T00:00:00Z",
        expect: &[
            ("2026-09-05T04:30Z", Plain),
            ("2026-09-06T04:00Z", Gap),
            ("2026-09-07T03:30Z", Plain),
        ],
    },
    // Morocco (Ramadan): 2026-02-15 03:00 (+01) → 02:00 (+00) at 02:00Z;
    // 2026-03-22 02:00 (+00) → 03:00 (+01) at 02:00Z.
    Case {
        zone: "Morocco Standard Time",
        what: "Ramadan fold",
        hh: 2,
        mm: 30,
        from: "2026-02-14T00:00:00Z",
        to: "2026-02-17T00:00:00Z",
        expect: &[
            ("2026-02-14T01:30Z", Plain),
            ("2026-02-15T01:30Z", Fold),
            ("2026-02-16T02:30Z", Plain),
        ],
    },
    Case {
        zone: "Morocco Standard Time",
        what: "Ramadan gap",
        hh: 2,
        mm: 30,
        from: "2026-03-21T00:00:00Z",
        to: "2026-03-24T00:00:00Z",
        expect: &[
            ("2026-03-21T02:30Z", Plain),
            ("2026-03-22T02:00Z", Gap),
            ("2026-03-23T01:30Z", Plain),
        ],
    },
    // Morocco, IANA 2026f: permanent +00 from 2026-09-20 (03:00 → 02:00 at 01:00Z). A 2025b
    // build would still say +01 here.
    Case {
        zone: "Morocco Standard Time",
        what: "2026f: back to +00 on 2026-09-20",
        hh: 18,
        mm: 0,
        from: "2026-09-19T00:00:00Z",
        to: "2026-09-22T00:00:00Z",
        expect: &[
            ("2026-09-19T17:00Z", Plain),
            ("2026-09-20T18:00Z", Plain),
            ("2026-09-21T18:00Z", Plain),
        ],
    },
    // India: no DST, +05:30 all year.
    Case {
        zone: "India Standard Time",
        what: "no DST in March",
        hh: 9,
        mm: 0,
        from: "2026-03-28T00:00:00Z",
        to: "2026-03-31T00:00:00Z",
        expect: &[
            ("2026-03-28T03:30Z", Plain),
            ("2026-03-29T03:30Z", Plain),
            ("2026-03-30T03:30Z", Plain),
        ],
    },
    Case {
        zone: "India Standard Time",
        what: "no DST in October",
        hh: 9,
        mm: 0,
        from: "2026-10-24T00:00:00Z",
        to: "2026-10-27T00:00:00Z",
        expect: &[
            ("2026-10-24T03:30Z", Plain),
            ("2026-10-25T03:30Z", Plain),
            ("2026-10-26T03:30Z", Plain),
        ],
    },
];

#[test]
fn golden_cron_and_recurrence_in_ten_zones() {
    let mut failures = Vec::new();
    for c in CASES {
        let expect: Vec<(String, Shift)> =
            c.expect.iter().map(|(s, k)| (s.to_string(), *k)).collect();
        let expr = format!("{} {} * * *", c.mm, c.hh);
        for (label, entry) in [
            ("cron", cron(&expr, c.zone)),
            ("recurrence", daily(c.hh, c.mm, c.zone)),
        ] {
            let got = fires(&entry, c.from, c.to);
            if got != expect {
                failures.push(format!(
                    "{} / {} / {label}: expected {expect:?}, got {got:?}",
                    c.zone, c.what
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_fold_and_gap_row_has_a_shift_so_the_table_cannot_pass_by_accident() {
    let shifted = CASES
        .iter()
        .filter(|c| c.expect.iter().any(|(_, s)| *s != Plain))
        .count();
    assert_eq!(shifted, 18, "9 zones with DST × 2 transitions of 2026");
}

#[test]
fn local_times_in_one_gap_merge_into_one_firing() {
    // */15 in the 02:00 hour of the Pacific spring-forward: 02:00, 02:15, 02:30, 02:45 all map
    // to 10:00Z and fire once.
    let s = schedule(&cron("*/15 2 * * *", "Pacific Standard Time"));
    let got: Vec<_> = s
        .occurrences(utc("2026-03-08T00:00:00Z"), utc("2026-03-09T00:00:00Z"))
        .collect();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].at, utc("2026-03-08T10:00:00Z"));
    assert_eq!(got[0].shift, Gap);
    assert_eq!(got[0].merged, 3);
}

#[test]
fn hourly_cron_skips_the_repeated_hour_of_a_fold() {
    // 00:00 PDT (07Z), 01:00 first pass (08Z), 02:00 PST (10Z): nothing at 09Z, the second 01:00.
    let s = schedule(&cron("0 * * * *", "Pacific Standard Time"));
    let got: Vec<String> = s
        .occurrences(utc("2026-11-01T07:00:00Z"), utc("2026-11-01T11:00:00Z"))
        .map(|o| o.at.format("%H:%MZ").to_string())
        .collect();
    assert_eq!(got, ["07:00Z", "08:00Z", "10:00Z"]);
}

#[test]
fn a_gap_time_merges_with_the_real_time_after_the_gap() {
    // Every 30 minutes: 02:00 and 02:30 do not exist and land on 03:00 PDT, which also matches.
    let s = schedule(&cron("*/30 * * * *", "Pacific Standard Time"));
    let got: Vec<_> = s
        .occurrences(utc("2026-03-08T09:30:00Z"), utc("2026-03-08T10:31:00Z"))
        .collect();
    let at: Vec<String> = got
        .iter()
        .map(|o| o.at.format("%H:%MZ").to_string())
        .collect();
    assert_eq!(at, ["09:30Z", "10:00Z", "10:30Z"]);
    assert_eq!(got[1].merged, 2, "02:30 and 03:00 fire with 02:00");
}

#[test]
fn windows_names_denote_zones_with_dst_whatever_the_label() {
    // "Pacific Standard Time" is PDT in summer: 18:00 local is 01:00Z the next day, not 02:00Z.
    let s = schedule(&cron("0 18 * * *", "Pacific Standard Time"));
    let o = s.next_after(utc("2026-07-01T00:00:00Z")).unwrap();
    assert_eq!(o.at, utc("2026-07-01T01:00:00Z"));
}

#[test]
fn elapsed_recurrences_ignore_dst() {
    // Every 1 hour from 2026-03-08 00:00 PST: elapsed time, so 08Z, 09Z, 10Z, 11Z (local 00, 01,
    // 03, 04) — no gap handling and no merge.
    let entry = json!({"action": "Stop", "triggerType": "Recurrence", "recurrence": {
        "frequency": "Hour", "interval": 1, "startTime": "2026-03-08T00:00:00",
        "timeZone": "Pacific Standard Time"}});
    let got: Vec<(String, Shift)> = fires(&entry, "2026-03-08T00:00:00Z", "2026-03-08T12:00:00Z");
    let at: Vec<&str> = got.iter().map(|(s, _)| &s[11..]).collect();
    assert_eq!(at, ["08:00Z", "09:00Z", "10:00Z", "11:00Z"]);
    assert!(got.iter().all(|(_, s)| *s == Plain));
}
