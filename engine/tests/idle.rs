//! Idle shutdown (docs/design.md §8) under a simulated clock: reports arrive every few minutes, the
//! governor's tick runs every minute, nothing sleeps. Each test states the rule it pins.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use curfew_engine::idle::{
    self, ActivityReport, IdleError, IdleRecord, IdleVerdict, Threshold, ThresholdSource,
    MAX_IDLE_THRESHOLD, MIN_IDLE_THRESHOLD,
};
use curfew_engine::policy::{assess, AppendTarget, Assignment, PolicyDefinition};
use serde_json::{Map, Value};

fn at(day: u32, h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, h, m, 0).unwrap()
}

/// The governor's side of idle shutdown, as it will run it: take reports as they arrive,
/// evaluate every minute, persist the record.
struct Sim {
    record: IdleRecord,
    threshold: Threshold,
    running: bool,
}

impl Sim {
    fn new(threshold: Threshold) -> Self {
        Self {
            record: IdleRecord {
                instance: "ci-ana".into(),
                ..IdleRecord::default()
            },
            threshold,
            running: true,
        }
    }

    fn report(&mut self, report: &ActivityReport) {
        self.record = idle::observe(Some(&self.record), report, &self.threshold);
    }

    fn tick(&mut self, now: DateTime<Utc>) -> IdleVerdict {
        let (verdict, record) = idle::idle_state(&self.record, &self.threshold, self.running, now);
        self.record = record;
        verdict
    }

    /// Runs minute ticks over `[from, to)`, with `make_report(now)` every `every` minutes,
    /// and returns every verdict.
    fn run(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        every: i64,
        make_report: impl Fn(DateTime<Utc>) -> Option<ActivityReport>,
    ) -> Vec<(DateTime<Utc>, IdleVerdict)> {
        let mut out = Vec::new();
        let mut now = from;
        while now < to {
            if (now - from).num_minutes() % every == 0 {
                if let Some(r) = make_report(now) {
                    self.report(&r);
                }
            }
            out.push((now, self.tick(now)));
            now += TimeDelta::minutes(1);
        }
        out
    }
}

fn quiet(now: DateTime<Utc>) -> ActivityReport {
    ActivityReport::quiet("ci-ana", now)
}

fn with_kernel(now: DateTime<Utc>) -> ActivityReport {
    ActivityReport {
        kernels: 1,
        sessions: 1,
        ..quiet(now)
    }
}

fn minutes(n: i64) -> Threshold {
    Threshold::of(TimeDelta::minutes(n))
}

#[test]
fn a_kernel_open_all_night_keeps_the_instance_up() {
    // 18:00 to 08:00 next day, a notebook kernel open (and quiet) the whole time, 30-min threshold.
    let mut sim = Sim::new(minutes(30));
    let verdicts = sim.run(at(2, 18, 0), at(3, 8, 0), 5, |now| Some(with_kernel(now)));
    assert_eq!(verdicts.len(), 14 * 60);
    for (now, verdict) in &verdicts {
        assert!(!verdict.stop_due(*now), "{now}: {verdict:?}");
        assert!(
            matches!(verdict, IdleVerdict::Busy { activity } if activity.iter().any(|a| a.contains("Jupyter kernel"))),
            "{now}: {verdict:?}"
        );
    }
    // The kernel is closed at 08:00: idle from the first quiet report, stopped 30 min later.
    let verdicts = sim.run(at(3, 8, 0), at(3, 9, 0), 5, |now| Some(quiet(now)));
    let first_due = verdicts.iter().find(|(now, v)| v.stop_due(*now)).unwrap();
    assert_eq!(first_due.0, at(3, 8, 30));
    assert_eq!(
        first_due.1,
        IdleVerdict::Idle {
            since: at(3, 8, 0),
            stop_due_at: at(3, 8, 30)
        }
    );
}

#[test]
fn any_activity_resets_the_idle_clock() {
    let mut sim = Sim::new(minutes(30));
    sim.run(at(2, 9, 0), at(2, 9, 20), 5, |now| Some(quiet(now)));
    // An SSH login at 09:20 for one report; quiet again from 09:25.
    sim.report(&ActivityReport {
        ssh: 1,
        ..quiet(at(2, 9, 20))
    });
    assert!(matches!(sim.tick(at(2, 9, 20)), IdleVerdict::Busy { .. }));
    let verdicts = sim.run(at(2, 9, 25), at(2, 10, 30), 5, |now| Some(quiet(now)));
    let first_due = verdicts.iter().find(|(now, v)| v.stop_due(*now)).unwrap();
    assert_eq!(first_due.0, at(2, 9, 55));
}

#[test]
fn each_kind_of_activity_counts_as_busy() {
    let base = quiet(at(2, 9, 0));
    let cases = [
        ActivityReport {
            kernels: 1,
            ..base.clone()
        },
        ActivityReport {
            terminals: 1,
            ..base.clone()
        },
        ActivityReport {
            sessions: 1,
            ..base.clone()
        },
        ActivityReport {
            ssh: 2,
            ..base.clone()
        },
        ActivityReport {
            vscode: 1,
            ..base.clone()
        },
        ActivityReport {
            azureml_runs: 1,
            ..base.clone()
        },
        ActivityReport {
            custom_apps: vec!["rstudio".into()],
            ..base.clone()
        },
    ];
    for report in cases {
        assert!(report.is_busy(), "{report:?}");
        assert_eq!(report.activity().len(), 1, "{report:?}");
    }
    assert!(!base.is_busy());
    assert!(base.activity().is_empty());
}

#[test]
fn a_custom_app_keeps_the_instance_busy_forever() {
    // An RStudio container and nothing else, for four days (longer than the 3-day maximum).
    let mut sim = Sim::new(Threshold::of(MIN_IDLE_THRESHOLD));
    let verdicts = sim.run(at(2, 0, 0), at(6, 0, 0), 5, |now| {
        Some(ActivityReport {
            custom_apps: vec!["rstudio-workbench".into()],
            ..quiet(now)
        })
    });
    assert!(verdicts.iter().all(|(_, v)| matches!(
        v,
        IdleVerdict::Busy { activity } if activity == &["custom app 'rstudio-workbench'".to_string()]
    )));
}

#[test]
fn shortening_the_threshold_below_the_idle_time_resets_the_clock() {
    // Idle since 09:00 under a 2-hour threshold (stop due 11:00).
    let mut sim = Sim::new(minutes(120));
    let v = sim.run(at(2, 9, 0), at(2, 10, 30), 5, |now| Some(quiet(now)));
    assert_eq!(
        v.last().unwrap().1,
        IdleVerdict::Idle {
            since: at(2, 9, 0),
            stop_due_at: at(2, 11, 0)
        }
    );
    // At 10:30 the owner sets PT60M: 90 idle minutes ≥ 60, so the clock restarts at 10:30 and
    // the stop is due at 11:30 — not immediately.
    sim.threshold = minutes(60);
    assert_eq!(
        sim.tick(at(2, 10, 30)),
        IdleVerdict::Idle {
            since: at(2, 10, 30),
            stop_due_at: at(2, 11, 30)
        }
    );
    assert_eq!(sim.record.threshold_seconds, 3600);
    let v = sim.run(at(2, 10, 31), at(2, 12, 0), 5, |now| Some(quiet(now)));
    assert_eq!(
        v.iter().find(|(now, v)| v.stop_due(*now)).unwrap().0,
        at(2, 11, 30)
    );
}

#[test]
fn shortening_the_threshold_above_the_idle_time_keeps_the_clock() {
    let mut sim = Sim::new(minutes(120));
    sim.run(at(2, 9, 0), at(2, 10, 30), 5, |now| Some(quiet(now)));
    // 100 min > 90 idle minutes: the idle clock keeps running, stop due 10:40.
    sim.threshold = minutes(100);
    assert_eq!(
        sim.tick(at(2, 10, 30)),
        IdleVerdict::Idle {
            since: at(2, 9, 0),
            stop_due_at: at(2, 10, 40)
        }
    );
    // Lengthening never resets either.
    sim.threshold = minutes(180);
    assert_eq!(
        sim.tick(at(2, 10, 31)),
        IdleVerdict::Idle {
            since: at(2, 9, 0),
            stop_due_at: at(2, 12, 0)
        }
    );
}

#[test]
fn missing_reports_make_the_instance_unknown_never_stopped() {
    // Quiet reports until 09:00, then the reporter goes silent (threshold 30 min).
    let mut sim = Sim::new(minutes(30));
    let v = sim.run(at(2, 8, 40), at(2, 18, 0), 5, |now| {
        (now <= at(2, 9, 0)).then(|| quiet(now))
    });
    for (now, verdict) in &v {
        if *now <= at(2, 9, 10) {
            assert!(
                matches!(verdict, IdleVerdict::Idle { .. }),
                "{now}: {verdict:?}"
            );
        }
        if *now > at(2, 9, 30) {
            assert_eq!(
                verdict,
                &IdleVerdict::Unknown {
                    last_report: Some(at(2, 9, 0))
                },
                "{now}"
            );
        }
    }
    // Idle from 08:40 with a 30-min threshold would be due at 09:10 — and it is (reports were
    // fresh then); after 09:30 nothing is ever due again.
    assert!(v
        .iter()
        .filter(|(now, _)| *now > at(2, 9, 30))
        .all(|(now, verdict)| !verdict.stop_due(*now)));
    // Reports resume quiet at 18:00: the gap says nothing, so idle time restarts at 18:00.
    sim.report(&quiet(at(2, 18, 0)));
    assert_eq!(
        sim.tick(at(2, 18, 1)),
        IdleVerdict::Idle {
            since: at(2, 18, 0),
            stop_due_at: at(2, 18, 30)
        }
    );
}

#[test]
fn an_instance_that_never_reported_is_unknown() {
    let mut sim = Sim::new(minutes(30));
    assert_eq!(
        sim.tick(at(2, 9, 0)),
        IdleVerdict::Unknown { last_report: None }
    );
    assert_eq!(
        IdleVerdict::Unknown { last_report: None }.reason(&minutes(30)),
        "unknown: no activity report received; not stopped"
    );
}

#[test]
fn a_stopped_instance_is_not_applicable() {
    let mut sim = Sim::new(minutes(30));
    sim.report(&quiet(at(2, 9, 0)));
    sim.running = false;
    assert_eq!(sim.tick(at(2, 12, 0)), IdleVerdict::NotApplicable);
}

#[test]
fn late_reports_are_ignored() {
    let mut sim = Sim::new(minutes(30));
    sim.report(&quiet(at(2, 9, 0)));
    sim.report(&quiet(at(2, 9, 10)));
    // A busy report from 09:05 delivered late must not undo the newer quiet one, but the
    // instance was busy at 09:05: the idle period cannot have begun before it, so it starts at
    // the newest quiet report. (Updated: this used to expect `since: 09:00`, the idle clock
    // starting before a newer busy report, which let a report dated ahead get a busy instance
    // stopped; see `idle::observe`.)
    sim.report(&with_kernel(at(2, 9, 5)));
    assert_eq!(
        sim.tick(at(2, 9, 11)),
        IdleVerdict::Idle {
            since: at(2, 9, 10),
            stop_due_at: at(2, 9, 40)
        }
    );
    // A late quiet report changes nothing.
    sim.report(&quiet(at(2, 9, 7)));
    assert_eq!(
        sim.tick(at(2, 9, 12)),
        IdleVerdict::Idle {
            since: at(2, 9, 10),
            stop_due_at: at(2, 9, 40)
        }
    );
}

#[test]
fn a_dismissed_idle_stop_restarts_the_idle_clock() {
    let mut sim = Sim::new(minutes(30));
    let v = sim.run(at(2, 9, 0), at(2, 9, 31), 5, |now| Some(quiet(now)));
    assert!(v.last().unwrap().1.stop_due(at(2, 9, 30)));
    // The owner clicks "skip this shutdown" at 09:30: the governor resets the clock.
    sim.record = idle::reset(&sim.record, at(2, 9, 30));
    let v = sim.run(at(2, 9, 31), at(2, 10, 30), 5, |now| Some(quiet(now)));
    assert_eq!(
        v.iter().find(|(now, v)| v.stop_due(*now)).unwrap().0,
        at(2, 10, 0)
    );
}

#[test]
fn out_of_bounds_thresholds_are_clamped_with_a_warning() {
    let low = Threshold::resolve("ci-ana", Some("PT5M"), None)
        .unwrap()
        .unwrap();
    assert_eq!(low.duration, MIN_IDLE_THRESHOLD);
    assert!(
        low.warning
            .as_deref()
            .unwrap()
            .contains("15-minute minimum"),
        "{low:?}"
    );
    assert!(low
        .warning
        .as_deref()
        .unwrap()
        .starts_with("ci-ana: properties.properties.idleTimeBeforeShutdown: 'PT5M'"));
    let high = Threshold::resolve("ci-ana", Some("P5D"), None)
        .unwrap()
        .unwrap();
    assert_eq!(high.duration, MAX_IDLE_THRESHOLD);
    assert!(high.warning.as_deref().unwrap().contains("3-day maximum"));
    for (text, minutes) in [
        ("PT15M", 15),
        ("PT1H30M", 90),
        ("P3D", 3 * 1440),
        ("P1DT12H", 2160),
    ] {
        let t = Threshold::resolve("ci-ana", Some(text), None)
            .unwrap()
            .unwrap();
        assert_eq!(t.duration, TimeDelta::minutes(minutes), "{text}");
        assert_eq!(t.warning, None, "{text}");
    }
}

#[test]
fn unreadable_thresholds_are_errors_naming_instance_and_field() {
    let err = Threshold::resolve("ci-ana", Some("30 minutes"), None).unwrap_err();
    assert!(matches!(err, IdleError::Duration { .. }));
    let text = err.to_string();
    assert!(
        text.starts_with("ci-ana: properties.properties.idleTimeBeforeShutdown: '30 minutes'"),
        "{text}"
    );
    let err = Threshold::resolve("ci-ana", None, Some(("P1M", "idle-default"))).unwrap_err();
    assert!(err.to_string().contains("policy 'idle-default'"), "{err}");
    assert!(err.to_string().contains("years and months"), "{err}");
}

#[test]
fn the_policy_default_applies_when_the_instance_has_no_idle_time() {
    // The idle fixture policy, verbatim, assessed on the ARM get fixture (no idle time set).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    let text =
        std::fs::read_to_string(root.join("policies/idle-shutdown-default-pt60m.json")).unwrap();
    let definition = PolicyDefinition::from_json_str(&text, &Map::new())
        .unwrap()
        .with_fallback_name("idle-shutdown-default-pt60m");
    let assignments = [Assignment::new("idle-default", "/", definition).unwrap()];
    let get: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("arm/2025-12-01_Compute_get_ComputeInstance.json"))
            .unwrap(),
    )
    .unwrap();
    let compute = &get["responses"]["200"]["body"];
    let today = chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    let assessment = assess(&assignments, compute, today);
    let supplied = assessment
        .supplied(&AppendTarget::IdleTimeBeforeShutdown)
        .unwrap();
    let own = compute["properties"]["properties"]["idleTimeBeforeShutdown"].as_str();
    assert_eq!(own, None);
    let threshold = Threshold::resolve(
        "compute123",
        own,
        Some((supplied.value.as_str().unwrap(), &supplied.policy)),
    )
    .unwrap()
    .unwrap();
    assert_eq!(threshold.duration, TimeDelta::minutes(60));
    assert_eq!(
        threshold.source,
        ThresholdSource::Policy {
            policy: "idle-shutdown-default-pt60m".into()
        }
    );
    // The instance's own value wins over the policy; an empty one does not count.
    let own = Threshold::resolve("c", Some("PT30M"), Some(("PT60M", "p")))
        .unwrap()
        .unwrap();
    assert_eq!(own.source, ThresholdSource::Instance);
    let empty = Threshold::resolve("c", Some(""), Some(("PT60M", "p")))
        .unwrap()
        .unwrap();
    assert_eq!(empty.duration, TimeDelta::minutes(60));
    // No value anywhere: idle shutdown is off.
    assert_eq!(Threshold::resolve("c", None, None).unwrap(), None);
}

#[test]
fn reports_parse_from_the_documented_json() {
    let text = r#"{"schema":"curfew.activity/v1","instance":"ci-ana","at":"2026-03-02T09:00:00Z",
        "kernels":2,"terminals":0,"sessions":2,"ssh":0,"vscode":1,"azuremlRuns":0,
        "customApps":["rstudio"],"reporter":"curfew-activity-reporter/1","hostname":"x"}"#;
    let report = ActivityReport::from_json(text).unwrap();
    assert_eq!(report.kernels, 2);
    assert_eq!(report.vscode, 1);
    assert_eq!(report.custom_apps, vec!["rstudio".to_string()]);
    assert_eq!(report.at, at(2, 9, 0));
    let err = ActivityReport::from_json(r#"{"instance":"x","at":"yesterday"}"#).unwrap_err();
    assert!(err.to_string().starts_with("activity report: at:"), "{err}");
    let err =
        ActivityReport::from_json(r#"{"instance":"x","at":"2026-03-02T09:00:00Z","kernels":-1}"#)
            .unwrap_err();
    assert!(
        err.to_string().starts_with("activity report: kernels:"),
        "{err}"
    );
    let err = ActivityReport::from_json(r#"{"at":"2026-03-02T09:00:00Z"}"#).unwrap_err();
    assert!(err.to_string().contains("instance"), "{err}");
    // Round trip.
    let again = ActivityReport::from_json(&serde_json::to_string(&report).unwrap()).unwrap();
    assert_eq!(again, report);
}

#[test]
fn the_record_round_trips_as_json() {
    let mut sim = Sim::new(minutes(30));
    sim.report(&quiet(at(2, 9, 0)));
    sim.tick(at(2, 9, 1));
    let json = serde_json::to_string(&sim.record).unwrap();
    assert!(
        json.contains("\"idleSince\":\"2026-03-02T09:00:00Z\""),
        "{json}"
    );
    assert!(json.contains("\"thresholdSeconds\":1800"), "{json}");
    let back: IdleRecord = serde_json::from_str(&json).unwrap();
    assert_eq!(back, sim.record);
}

#[test]
fn signatures_verify_and_refuse_tampering_wrong_keys_and_replays() {
    let key = idle::instance_key(b"master", "ci-ana");
    assert_ne!(key, idle::instance_key(b"master", "ci-bo"));
    let body = br#"{"instance":"ci-ana","at":"2026-03-02T09:00:00Z"}"#;
    let ts = at(2, 9, 0).timestamp();
    let sig = idle::sign_report(&key, ts, body);
    assert!(sig.starts_with("sha256=") && sig.len() == 71);
    let now = at(2, 9, 1);
    assert_eq!(
        idle::verify_report(&key, "ci-ana", &ts.to_string(), &sig, body, now),
        Ok(())
    );
    let other = idle::instance_key(b"master", "ci-bo");
    assert!(idle::verify_report(&other, "ci-ana", &ts.to_string(), &sig, body, now).is_err());
    let mut tampered = body.to_vec();
    tampered[15] = b'x';
    assert!(idle::verify_report(&key, "ci-ana", &ts.to_string(), &sig, &tampered, now).is_err());
    let late = at(2, 9, 6);
    let err = idle::verify_report(&key, "ci-ana", &ts.to_string(), &sig, body, late).unwrap_err();
    assert!(err.to_string().contains("more than 5 minutes"), "{err}");
    assert!(idle::verify_report(&key, "ci-ana", "soon", &sig, body, now).is_err());
    assert!(idle::verify_report(&key, "ci-ana", &ts.to_string(), "md5=00", body, now).is_err());
}
